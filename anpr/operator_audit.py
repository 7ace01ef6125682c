"""Operator audit trail: one row per `anpr` command run in the append-only Delta table `operator_audit`.

A row says who ran the command (ANPR_SERVICE_IDENTITY, else the OS user), what (the subcommand and its
arguments with secrets masked), when (start and end, UTC), the outcome (exit code and a one-line cause)
and the facts the command reported about the tables it read and wrote (`record`). cli/main.py writes it
for every subcommand, failures, Ctrl-C and SIGTERM included. The rule: log what is done with the data
so that who did what can be traced afterwards (the privacy advice on ANPR analyses, 4.2, "door
handelingen met de data te loggen").

The table is written with delta-rs (anpr.delta_reader) so that commands that start no JVM (`anpr
onboard`, `anpr stream status`) are audited without one, and it is created with `delta.appendOnly`:
Delta itself then refuses DELETE, UPDATE and MERGE on it; no CLI command offers either, and retention
does not list it. Plates never reach it: the one command that takes a plate (`anpr privacy request
--plate`) has it masked like a secret, and values that look like keys, peppers or tokens are masked
before the row is built.
"""

from __future__ import annotations

import contextvars
import getpass
import json
import math
import os
import re
import socket
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import types as T

from anpr.delta_reader import DeltaReader, TableReader
from anpr.lake import spark_to_arrow_schema

AUDIT_TABLE = "operator_audit"
MASK = "***"
SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("day", T.StringType(), False),  # UTC date of the start: the partition
    T.StructField("started_at", T.TimestampType(), False),
    T.StructField("ended_at", T.TimestampType(), False),
    T.StructField("user", T.StringType(), False),
    T.StructField("host", T.StringType(), False),
    T.StructField("command", T.StringType(), False),  # "stats", "register load", "stream status"
    T.StructField("argv", T.StringType(), False),  # JSON list of the arguments after `anpr`, masked
    T.StructField("exit_code", T.IntegerType(), False),
    T.StructField("cause", T.StringType(), True),  # one line, for a non-zero exit code
    T.StructField("facts", T.StringType(), False),  # JSON object: what the command reported (`record`)
])
ARROW_SCHEMA = spark_to_arrow_schema(SCHEMA)

# Option and variable names whose values are secrets; a name ending in -file, -path or -dir names where
# a secret is kept, which is not itself secret (`--api-key-file keys/esri` stays readable). A plate
# (`anpr privacy request --plate`) is masked as a secret is; "template" is no plate.
SECRET_NAME = re.compile(r"key|pepper|token|secret|passw|credential|(?<![a-z])plate", re.IGNORECASE)
REFERENCE = re.compile(r"[-_](file|path|dir)$", re.IGNORECASE)
TOKEN_CHARS = re.compile(r"^[A-Za-z0-9_+=-]{24,}$")
MIN_SECRET_CHARS = 8  # a known secret value shorter than this is not looked for in arguments
MIN_TOKEN_ENTROPY = 3.5  # bits per character: random keys 3.8 (hex) to 4.9 (urlsafe); release ids 3.2


def secret_name(name: str) -> bool:
    """Whether an option or variable called `name` holds a secret value (not a reference to one)."""
    bare = name.lstrip("-")
    return bool(SECRET_NAME.search(bare)) and not REFERENCE.search(bare)


def looks_like_token(value: str) -> bool:
    """A value shaped like a generated key or token: 24+ characters of a base64/hex alphabet, letters and
    digits mixed, at least 3.5 bits of entropy per character. Paths (`/`, `.`) and words never match."""
    if not TOKEN_CHARS.match(value) or not re.search(r"\d", value) or not re.search(r"[A-Za-z]", value):
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= MIN_TOKEN_ENTROPY


def mask_argv(argv: Sequence[str], secrets: Iterable[str] = ()) -> list[str]:
    """argv with secrets replaced by `***`: values of secret-named options (`--api-key X`,
    `--pepper=X`) and `NAME=value` pairs, known secret values (`secrets`) wherever they occur, and
    anything that looks like a token. Everything else, file paths included, is kept."""
    # Shorter values ("true", "1") of variables named like secrets are flags, not secrets: masking them
    # everywhere would mangle arguments.
    known = sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        name, eq, value = arg.partition("=")
        if arg.startswith("--") and secret_name(name):
            if eq:
                out.append(f"{name}={MASK}")
            else:
                out.append(arg)
                mask_next = True
            continue
        if eq and not arg.startswith("-") and secret_name(name):
            out.append(f"{name}={MASK}")
            continue
        for secret in known:
            arg = arg.replace(secret, MASK)
        out.append(MASK if looks_like_token(arg.partition("=")[2] or arg) else arg)
    return out


def known_secrets(environ: Mapping[str, str], settings_secrets: Iterable[str] = ()) -> list[str]:
    """Secret values an argument might repeat: the settings' own (pepper, vendor and admin keys) and
    every environment variable named like a secret."""
    return [*settings_secrets, *(v for k, v in environ.items() if secret_name(k) and v)]


def identity(service_identity: str | None) -> str:
    """Who runs the command: the configured service identity, else the OS user (else `uid <n>`)."""
    if service_identity:
        return service_identity
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (containers)
        return f"uid {os.getuid()}"


@dataclass
class CommandRun:
    """One run of a command: what the audit row will hold. Commands add facts with `record`."""

    command: str
    argv: list[str]  # masked
    user: str
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    facts: dict[str, Any] = field(default_factory=dict)

    def record(self, **facts: Any) -> None:
        """Add facts: dicts are merged key by key, lists extended, other values replaced. E.g.
        record(read={"passages": 12}, written={"releases": 3}, release_id="2026-10-...")."""
        for key, value in facts.items():
            old = self.facts.get(key)
            if isinstance(old, dict) and isinstance(value, Mapping):
                old.update(value)
            elif isinstance(old, list) and isinstance(value, list):
                old.extend(value)
            else:
                self.facts[key] = dict(value) if isinstance(value, Mapping) else value

    def row(self, exit_code: int, cause: str | None, ended_at: datetime | None = None) -> dict[str, Any]:
        return {"run_id": self.run_id, "day": self.started_at.date().isoformat(), "started_at": self.started_at,
                "ended_at": ended_at or datetime.now(UTC), "user": self.user, "host": socket.gethostname(),
                "command": self.command, "argv": json.dumps(self.argv), "exit_code": exit_code,
                "cause": cause if exit_code else None, "facts": json.dumps(self.facts, sort_keys=True, default=str)}


_current: contextvars.ContextVar[CommandRun | None] = contextvars.ContextVar("operator_audit_run", default=None)


@contextmanager
def running(run: CommandRun) -> Iterator[CommandRun]:
    """Make `run` the current command's run for `record` while the command executes."""
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def record(**facts: Any) -> None:
    """Add facts to the running command's audit row (CommandRun.record); nothing outside a CLI command."""
    run = _current.get()
    if run is not None:
        run.record(**facts)


def append(lake: DeltaReader, row: dict[str, Any]) -> None:
    """Append one row (CommandRun.row), creating the append-only table on first use."""
    lake.create(AUDIT_TABLE, SCHEMA, partition_by=["day"], append_only=True)
    lake.append(AUDIT_TABLE, pa.Table.from_pylist([row], schema=ARROW_SCHEMA))


def read_audit(lake: TableReader, since: datetime | None = None, user: str | None = None,
               command: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
    """Rows newest first: started at or after `since`, of `user`, of `command` (a command or its group:
    "register" matches "register load"), at most `last`."""
    if not lake.exists(AUDIT_TABLE):
        return []
    filters: list[tuple[str, str, Any]] = []
    if since is not None:
        filters.append(("day", ">=", since.astimezone(UTC).date().isoformat()))
    if user is not None:
        filters.append(("user", "=", user))
    table = lake.read_arrow(AUDIT_TABLE, filters=filters or None)
    if since is not None:
        table = table.filter(pc.greater_equal(table["started_at"], pa.scalar(since, pa.timestamp("us", "UTC"))))
    rows = table.sort_by([("started_at", "descending")]).to_pylist()
    if command is not None:
        rows = [r for r in rows if r["command"] == command or r["command"].startswith(command + " ")]
    return rows[:last] if last is not None else rows


def render(rows: list[dict[str, Any]]) -> str:
    """One block per run, newest first: start, seconds, user, exit code, command line, cause, facts."""
    if not rows:
        return "no audited runs match"
    lines = []
    for r in rows:
        seconds = (r["ended_at"] - r["started_at"]).total_seconds()
        lines.append(f"{r['started_at']:%Y-%m-%d %H:%M:%S}Z {seconds:8.1f}s  {r['user']:<16} exit {r['exit_code']:<3} "
                     f"anpr {' '.join(json.loads(r['argv']))}")
        if r["cause"]:
            lines.append(f"    cause: {r['cause']}")
        if r["facts"] not in (None, "{}"):
            lines.append(f"    facts: {r['facts']}")
    return "\n".join(lines)

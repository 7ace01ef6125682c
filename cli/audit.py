"""The operator audit trail of the CLI (anpr/operator_audit.py): a row for every command run, and
`anpr audit show` to read it.

A failed audit write never changes the command's own exit status: the command has done (or failed
to do) its work by then, and an operator who must, say, run retention while the lake's storage is
short of space should not be stopped by its audit. The failure is one line on stderr, and the row
itself goes to data/logs/anpr.log as JSON, so the run is not lost.
"""

from __future__ import annotations

import json
import logging
import os
from argparse import Namespace
from typing import Annotated

import typer

from anpr.commands import call, group
from anpr.operator_audit import CommandRun, append, identity, known_secrets, mask_argv, read_audit, render
from anpr.progress import say
from anpr.settings import Settings

log = logging.getLogger("anpr.audit")


def command_name(args: Namespace) -> str:
    """The command as operators name it: "stats", "register load", "stream status" (a command's
    positional `action` is its second word, as a group's subcommand is)."""
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if isinstance(action, str) else str(args.command)


def _secrets(settings: Settings) -> list[str]:
    own = [s.get_secret_value() for s in (settings.pepper, settings.admin_key, *settings.vendor_keys.values())
           if s is not None]
    return known_secrets(os.environ, own)


def begin(args: Namespace, argv: list[str], settings: Settings) -> CommandRun:
    """The audit record of the command about to run, its arguments masked."""
    return CommandRun(command_name(args), mask_argv(argv, _secrets(settings)), identity(settings.service_identity))


def finish(run: CommandRun, exit_code: int, cause: str | None, settings: Settings) -> None:
    """Append the run's row; on failure one line on stderr and the row in the log file (see the module)."""
    from anpr.delta_reader import make_reader

    if cause:
        cause = " ".join(mask_argv(cause.split(" "), _secrets(settings)))
    row = run.row(exit_code, cause)
    try:
        append(make_reader(settings), row)
    except Exception as exc:  # noqa: BLE001 - any storage failure: the command's outcome stands
        # INFO: the file only; the terminal gets the one line below
        log.info("operator audit row not written (%s): %s", type(exc).__name__, json.dumps(row, default=str),
                 exc_info=True)
        first = str(exc).splitlines()[0] if str(exc) else ""
        say(f"anpr: the operator audit trail could not be written ({type(exc).__name__}: {first[:200]}); "
            f"the run is recorded in {settings.log_dir / 'anpr.log'}")


def cmd_audit_show(args: Namespace, settings: Settings) -> int:
    from anpr.delta_reader import make_reader
    from api.access_log import parse_day

    try:
        since = parse_day(args.since)
    except ValueError:
        say(f"anpr audit show: --since {args.since!r} is not an ISO date or datetime (e.g. 2026-11-01)")
        return 2
    if args.last is not None and args.last < 1:
        say("anpr audit show: --last must be at least 1")
        return 2
    print(render(read_audit(make_reader(settings), since, args.user, args.command_name, args.last)))
    return 0


def add_commands(app: typer.Typer) -> None:
    audit = group("show the operator audit trail: who ran which command, when, with what outcome")

    @audit.command("show", short_help="print matching runs, newest first",
                   help="Print matching runs, newest first. Every anpr command run is appended to the "
                                "Delta table operator_audit (append-only; no command changes or deletes it). "
                                "Secrets in arguments are masked.")
    def show(ctx: typer.Context,
             since: Annotated[str | None, typer.Option(
                 "--since", help="runs started on or after this UTC date or datetime (ISO, e.g. 2026-11-01)")] = None,
             user: Annotated[str | None, typer.Option("--user", help="runs of this user or service identity")] = None,
             command_name: Annotated[str | None, typer.Option(
                 "--command", metavar="COMMAND",
                 help='runs of this command or command group ("stats", "register", "register load")')] = None,
             last: Annotated[int | None, typer.Option("--last", help="at most this many runs")] = None) -> Namespace:
        return call(ctx, cmd_audit_show, since=since, user=user, command_name=command_name, last=last)

    app.add_typer(audit, name="audit")

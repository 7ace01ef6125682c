"""Access audit log: every API request (probes excepted) as a row of the Delta table `api_access_log`.

A Delta commit costs ~10-20 ms whatever its size (bench/api_load.py measures it), far more than a
cached page, so requests only queue their row and a background thread appends the queue every
`flush_seconds`. Auditing fails closed: when rows cannot be written and the queue is full, the API
answers 503 instead of serving unaudited data.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections import deque
from datetime import UTC, date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import types as T
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anpr.delta_reader import DeltaReader, TableReader
from anpr.lake import spark_to_arrow_schema
from api.common.errors import error_body
from api.common.middleware import HttpMiddleware

log = logging.getLogger("api.access")
ACCESS_LOG = "api_access_log"
UNAUDITED = frozenset({"/health", "/ready"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
SLOW_MS = 1000.0
OPTIMIZE_EVERY = 500  # commits between compactions of the log's small files

SCHEMA = T.StructType([
    T.StructField("ts", T.TimestampType(), False),
    T.StructField("day", T.StringType(), False),
    T.StructField("trace_id", T.StringType(), False),
    T.StructField("vendor", T.StringType(), True),
    T.StructField("client", T.StringType(), True),
    T.StructField("method", T.StringType(), False),
    T.StructField("path", T.StringType(), False),
    T.StructField("status", T.IntegerType(), False),
    T.StructField("table_name", T.StringType(), True),
    T.StructField("release_id", T.StringType(), True),
    T.StructField("municipalities", T.StringType(), True),  # comma-separated GM codes the answer covered
    T.StructField("filters", T.StringType(), True),  # JSON object: column -> values, plus sort
    T.StructField("rows", T.LongType(), True),
    T.StructField("format", T.StringType(), True),
    T.StructField("duration_ms", T.DoubleType(), False),
])
ARROW_SCHEMA = spark_to_arrow_schema(SCHEMA)


class AccessLog:
    def __init__(self, lake: DeltaReader, flush_seconds: float = 2.0, max_queue: int = 200_000) -> None:
        self.lake, self.flush_seconds, self.max_queue = lake, flush_seconds, max_queue
        self._queue: deque[dict[str, Any]] = deque()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._created = False
        self.commits = 0
        self.failing_since: float | None = None

    def record(self, entry: dict[str, Any]) -> None:
        self._queue.append(entry)
        if self._thread is None:
            self.start()

    @property
    def accepting(self) -> bool:
        return len(self._queue) < self.max_queue

    @property
    def healthy(self) -> bool:
        return self.accepting and (self.failing_since is None or time.monotonic() - self.failing_since < 60)

    def start(self) -> None:
        with self._flush_lock:
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="access-log-flusher", daemon=True)
                self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()

    def flush(self) -> int:
        """Append what is queued; returns the rows written (0 on failure: they stay queued)."""
        with self._flush_lock:
            batch = [self._queue.popleft() for _ in range(len(self._queue))]
            if not batch:
                return 0
            try:
                if not self._created:
                    self.lake.create(ACCESS_LOG, SCHEMA, partition_by=["day"])
                    self._created = True
                self.lake.append(ACCESS_LOG, pa.Table.from_pylist(batch, schema=ARROW_SCHEMA))
            except Exception as exc:  # noqa: BLE001 - any storage failure: keep the rows and retry
                self._queue.extendleft(reversed(batch))
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.error("access log append failed (%s): %d rows queued", type(exc).__name__, len(self._queue))
                return 0
            self.failing_since = None
            self.commits += 1
            if self.commits % OPTIMIZE_EVERY == 0:
                self._compact()
            return len(batch)

    def _compact(self) -> None:
        try:
            self.lake.optimize(ACCESS_LOG)
        except Exception as exc:  # noqa: BLE001 - another API worker may be appending; next time then
            log.warning("access log compaction skipped: %s", type(exc).__name__)


def read_access_log(lake: TableReader, since: datetime | None = None, until: datetime | None = None,
                    vendor: str | None = None, municipality: str | None = None,
                    limit: int | None = 1000) -> list[dict[str, Any]]:
    """Audit rows, newest first: what the platform team asks when a vendor's access is questioned."""
    if not lake.exists(ACCESS_LOG):
        return []
    filters: list[tuple[str, str, Any]] = []
    if since is not None:
        filters.append(("day", ">=", since.astimezone(UTC).date().isoformat()))
    if until is not None:
        filters.append(("day", "<=", until.astimezone(UTC).date().isoformat()))
    if vendor is not None:
        filters.append(("vendor", "=", vendor))
    table = lake.read_arrow(ACCESS_LOG, filters=filters or None)
    stamp = pa.timestamp("us", "UTC")
    if since is not None:
        table = table.filter(pc.greater_equal(table["ts"], pa.scalar(since.astimezone(UTC), stamp)))
    if until is not None:
        table = table.filter(pc.less(table["ts"], pa.scalar(until.astimezone(UTC), stamp)))
    table = table.sort_by([("ts", "descending")])
    rows = table.to_pylist()
    if municipality is not None:
        rows = [r for r in rows if municipality in (r["municipalities"] or "").split(",")]
    return rows[:limit] if limit is not None else rows


class AccessLogMiddleware(HttpMiddleware):
    """Outermost layer: trace id, one structured log line and one audit row per request."""

    def __init__(self, app: ASGIApp, access_log: AccessLog) -> None:
        super().__init__(app)
        self.access_log = access_log

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        trace_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["trace_id"] = trace_id
        audited = scope["path"] not in UNAUDITED
        if audited and not self.access_log.accepting:
            await _refuse(send, trace_id)
            return
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", trace_id.encode()))
                decision = state.get("ratelimit")
                if decision is not None:
                    headers += [(b"x-ratelimit-limit", str(decision.limit).encode()),
                                (b"x-ratelimit-remaining", str(decision.remaining).encode())]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if audited:
                self._record(scope, state, status, trace_id, (time.perf_counter() - started) * 1000)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, trace_id: str, ms: float) -> None:
        now = datetime.now(UTC)
        audit = state.get("audit", {})
        client = scope.get("client")
        entry = {"ts": now, "day": now.date().isoformat(), "trace_id": trace_id, "vendor": state.get("vendor"),
                 "client": client[0] if client else None, "method": scope["method"], "path": scope["path"],
                 "status": status, "table_name": audit.get("table"), "release_id": audit.get("release"),
                 "municipalities": audit.get("municipalities"), "filters": audit.get("filters"),
                 # a HEAD is audited as what it asked for, but it delivered no rows
                 "rows": 0 if scope["method"] == "HEAD" and audit.get("rows") is not None else audit.get("rows"),
                 "format": audit.get("format"), "duration_ms": round(ms, 3)}
        self.access_log.record(entry)
        # Every request is in the audit table; the log file gets the ones an operator looks for, since a
        # log line per request would cost a quarter of a cached page's time.
        level = logging.WARNING if status >= 500 or ms > SLOW_MS else logging.INFO if status >= 400 else logging.DEBUG
        if log.isEnabledFor(level):
            log.log(level, json.dumps({**entry, "ts": now.isoformat(timespec="milliseconds")}, default=str))


async def _refuse(send: Send, trace_id: str) -> None:
    body = json.dumps(error_body("unavailable", "the access audit log cannot be written", "retry later",
                                 trace_id)).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"retry-after", b"30"), (b"x-request-id", trace_id.encode())]})
    await send({"type": "http.response.body", "body": body})


def parse_day(text: str | None) -> datetime | None:
    """A date or datetime query value as an aware UTC datetime."""
    if not text:
        return None
    value = datetime.fromisoformat(text) if "T" in text else datetime.combine(date.fromisoformat(text),
                                                                                datetime.min.time())
    return value if value.tzinfo else value.replace(tzinfo=UTC)

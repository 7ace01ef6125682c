"""The stream's plan: its pure steps (streaming/pipeline.py, streaming/enrich.py) composed in their one order.

    Kafka records ─ checked ──► (per micro-batch) valid ─ reads ─ double_reads ─ scoped ─┬─ passages (in scope)
                          └──► rejected ─ quarantine                                       └─ dropped (counts)

`checked` is the streaming part of the query: the plate becomes its key there, before anything is cached,
shuffled or written. The rest runs on each micro-batch in the sink (streaming/sink.py), which decides
what is persisted and commits the results; nothing here reads settings files, tables or the clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from anpr.lake import conform_frame
from anpr.register_snapshot import RegisterSnapshot
from anpr.settings import DayPart, StreamSettings
from anpr.stream_tables import OUT_OF_SCOPE_SCHEMA, PASSAGES_SCHEMA, QUARANTINE_SCHEMA
from anpr.zones import Municipality
from streaming import pipeline as P
from streaming.enrich import enrich


def checked(records: DataFrame, cameras: DataFrame, pepper_file: str, stream: StreamSettings) -> DataFrame:
    """Kafka records -> one row per delivery with its key instead of its plate, its camera's zone and
    `reason` (null when valid; streaming/pipeline.py validate)."""
    parsed = P.pseudonymize(P.parse_observations(records), pepper_file)
    return P.validate(P.attach_cameras(parsed, cameras), stream.future_tolerance_minutes,
                      stream.max_lateness_days, stream.min_read_confidence)


def reads(checked: DataFrame, timezone: str, day_parts: Sequence[DayPart],
          municipalities: Sequence[Municipality]) -> DataFrame:
    """The valid rows of a checked micro-batch -> one row per observation with its local calendar columns."""
    valid = checked.where(F.col("reason").isNull())
    return P.local_time_columns(P.first_deliveries(valid), timezone, day_parts, municipalities)


def double_reads(reads: DataFrame, window_seconds: float) -> DataFrame:
    """The observation ids that are a second read of one vehicle by one camera (anpr/double_reads.py)."""
    return P.double_read_ids(reads, window_seconds)


def scoped(reads: DataFrame, doubles: DataFrame, register: RegisterSnapshot,
           municipalities: Sequence[Municipality]) -> DataFrame:
    """Reads but the double reads -> enriched with the register, their direction and `in_scope` (still
    keyed, no token yet)."""
    enriched = P.add_direction(enrich(P.without_double_reads(reads, doubles), register))
    return P.mark_scope(enriched, municipalities)


def passages(scoped: DataFrame, pepper_file: str, pepper_id: str) -> DataFrame:
    """The in-scope rows as passages: only they get tokens."""
    kept = scoped.where(F.col("in_scope"))
    return conform_frame(P.to_passages(P.add_tokens(kept, pepper_file, pepper_id)), PASSAGES_SCHEMA,
                         drop_extra=True)


def dropped(scoped: DataFrame) -> DataFrame:
    """The out-of-scope rows as anonymous counts (table out_of_scope)."""
    return conform_frame(P.out_of_scope_counts(scoped.where(~F.col("in_scope"))), OUT_OF_SCOPE_SCHEMA,
                         drop_extra=True)


def quarantine(checked: DataFrame) -> DataFrame:
    """The rejected rows of a checked micro-batch as quarantine rows (never the plate)."""
    return conform_frame(P.to_quarantine(checked.where(F.col("reason").isNotNull())), QUARANTINE_SCHEMA,
                         drop_extra=True)

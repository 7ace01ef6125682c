"""The baseline of bench/pipeline.py: the stream's work done by one plain Python process, without Spark.

kafka-python reads the topic in batches of maxOffsetsPerTrigger records. Each record is parsed and its
plate HMAC'ed with the project's pseudonym functions, then judged by the stream's rules in their order
(streaming/pipeline.py holds them as Spark expressions, so they are re-stated here per row with its
patterns); valid ones are deduplicated by observation_id, looked up in the same RegisterSnapshot,
kept or dropped by their municipality's scope (data minimization, as streaming/pipeline.py mark_scope),
and the kept ones given their month tokens and appended to a Delta table with write_deltalake; the
dropped ones are counted per zone, camera, direction, day and hour into a second table.
Left out: the quarantine and stream_metrics tables and idempotent commits (one set replaces them).
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from anpr.contract import is_country
from anpr.dimensions import PARTICULIER
from anpr.progress import say
from anpr.pseudonym import SEPARATOR, normalize_plate, period_token, vehicle_key
from bench.pipeline import TreeMemory, throughput
from bench.register_load import _settings
from streaming import pipeline as P

UUID, EVENT_TIME = re.compile(P.UUID_PATTERN), re.compile(P.EVENT_TIME_PATTERN)
NL_PLATE, OTHER_PLATE = re.compile(P.NL_PLATE_PATTERN), re.compile(P.OTHER_PLATE_PATTERN)
EPOCH, MICRO = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
STALL_SECONDS = 300
TEXT_FIELDS = ("observation_id", "camera_id", "event_time", "plate_country", "plate_text", "detection_direction")


def _number(value: Any, kind: type) -> tuple[Any, bool]:
    """(value, malformed): fields arrive as JSON, the stream casts their text and flags what does not cast."""
    if value is None:
        return None, False
    try:
        return kind(value), False
    except (TypeError, ValueError):
        return None, True


class Judge:
    """One Kafka record -> (reason it is rejected, or None with the passage's fields)."""

    def __init__(self, settings: Any) -> None:
        from anpr.zones import camera_rows, load_municipalities

        municipalities = load_municipalities()
        self.cameras = {str(r["camera_id"]): r for r in camera_rows(municipalities)}
        self.pepper, self.stream, self.local = settings.pepper_bytes, settings.stream, ZoneInfo(settings.timezone)
        self.day_parts = [(p.name, p.start_hour, p.end_hour) for p in settings.day_parts]
        self.windows = {m.code: [(w.name, set(w.weekdays), P._minutes(w.start), P._minutes(w.end))
                                 for w in m.time_windows] for m in municipalities}

    def __call__(self, record: Any) -> tuple[str | None, dict[str, Any]]:
        if len(record.value) > P.MAX_MESSAGE_BYTES:
            return P.Reason.TOO_LARGE, {}
        try:
            obs = json.loads(record.value)
        except ValueError:
            return P.Reason.NOT_JSON, {}
        if not isinstance(obs, dict):
            return P.Reason.NOT_JSON, {}
        oid, camera_id, event_time, country, plate, direction = (
            None if obs.get(k) is None else str(obs[k]) for k in TEXT_FIELDS)
        key = None if plate is None or country is None else vehicle_key(self.pepper, plate, country)
        s = self.stream
        if oid is None and camera_id is None and key is None:
            return P.Reason.NOT_JSON, {}
        if oid is None or camera_id is None or event_time is None or country is None or plate is None:
            return P.Reason.MISSING_FIELD, {}
        if not UUID.match(oid) or not UUID.match(camera_id):
            return P.Reason.BAD_UUID, {}
        try:
            ts = datetime.fromisoformat(event_time[:23]).replace(tzinfo=UTC) if EVENT_TIME.match(event_time) else None
        except ValueError:
            ts = None
        if ts is None:
            return P.Reason.BAD_EVENT_TIME, {}
        micros, ingested = (ts - EPOCH) // MICRO, record.timestamp * 1000
        if micros > ingested + s.future_tolerance_minutes * 60_000_000:
            return P.Reason.FUTURE_EVENT, {}
        if micros < ingested - s.max_lateness_days * 86_400_000_000:
            return P.Reason.TOO_LATE, {}
        (confidence, bad_confidence), (lane, bad_lane) = _number(obs.get("read_confidence"), float), _number(
            obs.get("lane"), int)
        if bad_confidence or bad_lane or (confidence is not None and not 0 <= confidence <= 1) or (
                lane is not None and lane < 1):
            return P.Reason.BAD_FIELD, {}
        if not is_country(country):
            return P.Reason.BAD_COUNTRY, {}
        characters = normalize_plate(plate, country).replace(SEPARATOR, "")
        if not (NL_PLATE if country == "NL" else OTHER_PLATE).match(characters):
            return P.Reason.MALFORMED_PLATE, {}
        if (1.0 if confidence is None else confidence) < s.min_read_confidence:
            return P.Reason.LOW_CONFIDENCE, {}
        if (direction or "obverse") not in ("obverse", "reverse"):
            return P.Reason.BAD_DIRECTION, {}
        camera = self.cameras.get(camera_id)
        if camera is None:
            return P.Reason.UNKNOWN_CAMERA, {}
        local = ts.astimezone(self.local)
        minute, weekday = local.hour * 60 + local.minute, local.isoweekday()
        return None, {
            "observation_id": oid, "camera_id": camera_id, "municipality": camera["municipality"],
            "zone_id": camera["zone_id"], "event_ts": micros, "event_date": local.date(), "jaar": local.year,
            "maand": local.month, "week_dag": weekday, "uur": local.hour,
            "tijd_vak": next((n for n, lo, hi in self.day_parts if lo <= local.hour < hi), None),
            "venster_tijd": next((n for n, days, lo, hi in self.windows.get(str(camera["municipality"]), [])
                                  if weekday in days and lo <= minute < hi), None),
            "rij_richting_zone": camera["reverse_direction" if direction == "reverse" else "obverse_direction"],
            "read_confidence": confidence, "lane": lane, "ingested_at": ingested,
            "supplier": next((v.decode() for k, v in record.headers or () if k == "supplier"), None),
            "kafka_partition": record.partition, "kafka_offset": record.offset, "plate_country": country,
            "vehicle_key": key, "period_month": f"{local.year:04d}-{local.month:02d}"}


def in_scope(types: list[str | None], owners: list[str | None], municipalities: list[str], scopes: dict[str, Any]
             ) -> list[bool]:
    """Per row, whether its municipality's scope keeps it (streaming/pipeline.py scope_column, restated)."""
    from anpr.zones import Scope

    default = Scope()
    out = []
    for kind, owner, code in zip(types, owners, municipalities, strict=True):
        scope = scopes.get(code, default)
        out.append(kind in scope.voertuig_types or kind in scope.unclassified or owner in scope.eigenaar_types)
    return out


def scoped_tables(rows: list[dict[str, Any]], snapshot: Any, pepper: bytes, scopes: dict[str, Any]
                  ) -> tuple[pa.Table, pa.Table]:
    """(passages of the rows in scope, counts of those out of scope per OUT_OF_SCOPE_KEYS)."""
    from anpr.stream_tables import OUT_OF_SCOPE_KEYS

    col = {name: [r[name] for r in rows] for name in rows[0]}
    ts = pa.array(col["event_ts"], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    added = snapshot.lookup(pa.array(col["vehicle_key"], pa.string()), pa.array(col["plate_country"], pa.string()),
                            ts, pa.array(col["event_date"], pa.date32()), pa.array(col["municipality"], pa.string()))
    kept = pa.array(in_scope(added["voertuig_type"].to_pylist(), added["eigenaar_type"].to_pylist(),
                             col["municipality"], scopes))
    dropped = pa.table({k: pa.array(col[k]) if k in col else added[k] for k in OUT_OF_SCOPE_KEYS}).filter(
        pc.invert(kept))
    counts = dropped.group_by(list(OUT_OF_SCOPE_KEYS)).aggregate([([], "count_all")]).rename_columns(
        [*OUT_OF_SCOPE_KEYS, "detections"])
    indices = [i for i, k in enumerate(kept.to_pylist()) if k]
    col = {name: [values[i] for i in indices] for name, values in col.items()}
    added = {name: values.take(indices) for name, values in added.items()}
    return _passages(col, added, pepper), counts


def _passages(col: dict[str, list[Any]], added: dict[str, Any], pepper: bytes) -> pa.Table:
    from anpr.keyring import pepper_id
    from anpr.lake import spark_to_arrow_schema
    from anpr.stream_tables import PASSAGES_SCHEMA

    col["period_token"] = [period_token(pepper, m, k) for m, k in zip(col["period_month"], col["vehicle_key"],
                                                                       strict=True)]
    # A privately owned vehicle is its own owner; a company's vehicles share the company's token.
    col["company_token"] = [t if owner == PARTICULIER else None if company is None else period_token(pepper, m, company)
                            for t, owner, company, m in zip(col["period_token"], added["eigenaar_type"].to_pylist(),
                                                            added["company_key"].to_pylist(), col["period_month"],
                                                            strict=True)]
    col["pepper_id"] = [pepper_id(pepper)] * len(col["period_month"])  # as the stream records which pepper
    schema = spark_to_arrow_schema(PASSAGES_SCHEMA)
    n = len(col["period_month"])
    # no double reads are looked for here: no read is merged into another (last_read_ts null)
    arrays = [added[f.name] if f.name in added else
              pa.nulls(n, f.type) if f.name == "last_read_ts" else
              pa.array(col[f.name], pa.int64()).cast(f.type) if f.name in ("event_ts", "ingested_at") else
              pa.array(col[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


def baseline_phase(root: Path, bootstrap: str, ends: dict[int, int]) -> dict:
    from deltalake import write_deltalake
    from kafka import KafkaConsumer, TopicPartition

    from anpr.delta_reader import DeltaReader
    from anpr.stream_tables import PASSAGES_PARTITIONS
    from anpr.zones import load_municipalities
    from streaming.enrich import read_register_snapshot

    settings = _settings(root)
    batch, topic, path = settings.kafka.max_offsets_per_trigger, settings.kafka.observations_topic, root / "baseline"
    rows_in: list[int] = []
    finished: list[float] = []
    batch_ms: list[float] = []
    seen: set[str] = set()
    passages, rejected, dropped = 0, 0, 0
    scopes = {m.code: m.scope for m in load_municipalities()}
    with TreeMemory() as memory:
        started = time.perf_counter()
        snapshot = read_register_snapshot(DeltaReader(settings.lake_root))
        judge = Judge(settings)
        ready = time.perf_counter()
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, max_poll_records=batch,
                                 fetch_max_bytes=64 << 20, max_partition_fetch_bytes=16 << 20)
        consumer.assign([TopicPartition(topic, p) for p in ends])
        consumer.seek_to_beginning()
        total, consumed = sum(ends.values()), 0
        while consumed < total:
            begun, records = time.perf_counter(), list[Any]()
            while len(records) < batch and consumed + len(records) < total:
                for polled in consumer.poll(timeout_ms=500, max_records=batch - len(records)).values():
                    records.extend(polled)
                if time.perf_counter() - begun > STALL_SECONDS:  # the broker stopped answering: fail, not hang
                    raise TimeoutError(f"no full batch within {STALL_SECONDS}s after {consumed:,} of {total:,} records")
            consumed += len(records)
            valid, duplicates = [], 0
            for record in records:
                reason, row = judge(record)
                if reason is not None:
                    rejected += 1
                elif row["observation_id"] in seen:
                    duplicates += 1
                else:
                    seen.add(row["observation_id"])
                    valid.append(row)
            kept = 0
            if valid:
                table, counts = scoped_tables(valid, snapshot, judge.pepper, scopes)
                if table.num_rows:
                    write_deltalake(str(path), table, mode="append", partition_by=PASSAGES_PARTITIONS)
                if counts.num_rows:
                    write_deltalake(str(root / "baseline_out_of_scope"), counts, mode="append")
                kept, dropped = table.num_rows, dropped + table_sum(counts)
            passages += kept
            rows_in.append(len(records) - duplicates)
            finished.append(time.perf_counter())
            batch_ms.append((finished[-1] - begun) * 1000)
            say(f"    baseline batch {len(rows_in) - 1}: {rows_in[-1]:,} in, {kept:,} passages, "
                f"{batch_ms[-1]:,.0f} ms")
        consumer.close()
    return {**throughput(rows_in, finished, batch_ms, ready, finished[-1]), "passages": passages,
            "out_of_scope": dropped, "rejected": rejected, "register_snapshot_seconds": round(ready - started, 1),
            **memory.report()}


def table_sum(counts: pa.Table) -> int:
    return int(pc.sum(counts["detections"]).as_py() or 0)

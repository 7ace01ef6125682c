"""The synthetic national register: load it, write the same rows bare, and enrich passages against it.

Three phases, each in a fresh process so that its peak memory is its own:
- load: `load_synthetic_register` (plates, HMAC keys, derived dimensions, Delta commits) at full size;
- baseline: the same number of vehicle and owner rows, generated from the same chunks but with random
  keys and raw attributes, written with a bare delta-spark append of the Arrow tables (no pseudonyms, no
  derivations, no lake layer);
- enrich: the register snapshot built from the loaded tables and broadcast, then a 20k-row and a
  2M-row batch of passages enriched (written to Spark's noop sink), against an as-of sort-merge join
  of the same batches with the register's vehicles table.

Run: python -c "from bench import register_load; print(register_load.run())" (about 10 minutes at 10M).
"""

from __future__ import annotations

import multiprocessing
import resource
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

PEPPER = "bench-register-pepper"
BATCHES = (20_000, 2_000_000)
FOREIGN_SHARE, UNKNOWN_SHARE = 0.04, 0.01


def _peaks() -> dict[str, float]:
    """Peak resident memory (MB) of this process and of its largest finished child (the load's workers)."""
    return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_child_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)}


def _in_fresh_process(fn: Callable[..., dict], *args: Any) -> dict:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def _settings(root: Path) -> Any:
    from pydantic import SecretStr

    from anpr.settings import Settings, SparkSettings

    return Settings(data_dir=root, pepper=SecretStr(PEPPER),
                    spark=SparkSettings(master="local[2]", shuffle_partitions=4, driver_memory="6g"))


def _nbytes(value: Any) -> int:
    """Bytes of the numpy and Arrow arrays a snapshot holds (what each worker keeps in memory)."""
    if hasattr(value, "nbytes"):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if hasattr(value, "__dataclass_fields__"):
        return sum(_nbytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 0


def load_phase(root: Path, size: int, seed: int) -> dict:
    from anpr.lake import Lake
    from anpr.spark import get_spark
    from jobs.register import load_synthetic_register

    settings = _settings(root)
    spark = get_spark(settings)  # started before the clock, as `anpr register synth` starts it first
    try:
        started = time.perf_counter()
        counts = load_synthetic_register(Lake(settings.lake_root, spark), settings, size, seed)
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    rows = sum(counts.values())
    return {"seconds": round(seconds, 1), "rows": counts, "vehicles_per_s": round(size / seconds),
            "rows_per_s": round(rows / seconds), **_peaks()}


def _random_keys(rng: np.random.Generator, n: int) -> pa.Array:
    digits = np.frombuffer(b"0123456789abcdef", np.uint8)[rng.integers(0, 16, (n, 64), dtype=np.uint8)]
    return pa.array(digits.view("S64").ravel()).cast(pa.string())


def baseline_phase(root: Path, size: int, seed: int) -> dict:
    from anpr.spark import get_spark
    from anpr.synth import register as S

    spark = get_spark(_settings(root))
    rng = np.random.default_rng(seed)
    started, written = time.perf_counter(), {"vehicles": 0, "owners": 0}
    buffers: dict[str, list[pa.Table]] = {"vehicles": [], "owners": []}
    for chunk in range(S.chunk_count(size)):
        d = S.chunk_data(chunk, size, seed, cache=False)
        n, changed = len(d["index"]), d["change_after"] >= 0
        admitted = pa.array((S.NEWEST.toordinal() - 719163 - d["age_days"]).astype(np.int32)).cast(pa.date32())
        buffers["vehicles"].append(pa.table({
            "vehicle_key": _random_keys(rng, n), "kind": pa.array(d["kind"], pa.string()),
            "fuel": pa.array(d["fuel"], pa.string()), "euro": pa.array(d["euro"]),
            "body": pa.array(d["body"], pa.string()), "admitted": admitted}))
        owners = n + int(changed.sum())
        buffers["owners"].append(pa.table({
            "vehicle_key": _random_keys(rng, owners), "company": pa.array(np.resize(d["kvk"], owners)),
            "postcode4": pa.array(np.resize(d["postcode"], owners).astype(np.int32))}))
        for name, parts in buffers.items():
            if sum(p.num_rows for p in parts) >= 1_000_000 or chunk == S.chunk_count(size) - 1:
                table = pa.concat_tables(parts)
                spark.createDataFrame(table).coalesce(1).write.format("delta").mode("append") \
                    .save(str(root / "bare" / name))
                written[name] += table.num_rows
                parts.clear()
    seconds = time.perf_counter() - started
    spark.stop()
    return {"seconds": round(seconds, 1), "rows": written, "vehicles_per_s": round(size / seconds),
            "rows_per_s": round(sum(written.values()) / seconds), **_peaks()}


def _passages(lake: Any, n: int, rng: np.random.Generator) -> pa.Table:
    from anpr.register_tables import VEHICLES

    keys = lake.read_arrow(VEHICLES, columns=["vehicle_key"])["vehicle_key"]
    picked = keys.take(pa.array(rng.integers(0, len(keys), n))).combine_chunks()
    foreign = rng.random(n) < FOREIGN_SHARE
    stranger = foreign | (rng.random(n) < UNKNOWN_SHARE)
    picked = pa.array(np.where(stranger, np.asarray(_random_keys(rng, n)), np.asarray(picked)), pa.string())
    start = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1_000_000)
    ts = pa.array(start + rng.integers(0, 86_400_000_000, n), pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    return pa.table({"observation_id": pa.array(np.arange(n).astype(str)), "vehicle_key": picked,
                     "plate_country": pa.array(np.where(foreign, "DE", "NL")), "event_ts": ts,
                     "event_date": pa.array(np.full(n, 20_394, np.int32)).cast(pa.date32()),
                     "municipality": pa.array(np.full(n, "GM0344"))})


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return round(time.perf_counter() - started, 2)


def enrich_phase(root: Path, batches: tuple[int, ...], seed: int) -> dict:
    from pyspark.sql import functions as F

    from anpr.lake import Lake
    from anpr.register_tables import VEHICLES
    from anpr.spark import get_spark
    from streaming.enrich import enrich, load_register_snapshot

    settings = _settings(root)
    spark = get_spark(settings)
    lake = Lake(settings.lake_root, spark)
    started = time.perf_counter()
    snapshot = load_register_snapshot(spark, lake)
    snapshot_seconds = time.perf_counter() - started
    register = lake.read(VEHICLES).select("vehicle_key", "valid_from", "valid_to", "voertuig_type")
    out: dict[str, Any] = {"snapshot_seconds": round(snapshot_seconds, 1),
                           "snapshot_mb": round(_nbytes(snapshot) / 2**20), "batches": {}}
    rng = np.random.default_rng(seed)
    for n in batches:
        df = spark.createDataFrame(_passages(lake, n, rng)).cache()
        df.count()

        def run_enrich(frame: Any = df) -> None:
            enrich(frame, snapshot).write.format("noop").mode("overwrite").save()

        def run_join(frame: Any = df) -> None:
            r = register.alias("r")
            as_of = ((F.col("p.vehicle_key") == F.col("r.vehicle_key")) & (F.col("r.valid_from") <= F.col("p.event_ts"))
                     & (F.col("r.valid_to").isNull() | (F.col("p.event_ts") < F.col("r.valid_to"))))
            frame.alias("p").join(r, as_of, "left").write.format("noop").mode("overwrite").save()

        first = _timed(run_enrich)
        warm = min(_timed(run_enrich) for _ in range(2))
        join = min(_timed(run_join) for _ in range(2))
        hits = enrich(df, snapshot).where("register_hit").count()
        out["batches"][str(n)] = {"first_seconds": first, "seconds": warm, "rows_per_s": round(n / warm),
                                  "sort_merge_join_seconds": join, "register_hit_rate": round(hits / n, 3)}
        df.unpersist()
    spark.stop()
    return {**out, **_peaks()}


def run(size: int = 10_000_000, seed: int = 1, batches: tuple[int, ...] = BATCHES) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="anpr-bench-register-") as tmp:
        root = Path(tmp)
        load = _in_fresh_process(load_phase, root, size, seed)
        baseline = _in_fresh_process(baseline_phase, root, size, seed)
        enriched = _in_fresh_process(enrich_phase, root, batches, seed)
    return {"size": size, "load": load, "baseline_bare_delta_spark_write": baseline,
            "ratio_load_to_baseline_seconds": round(load["seconds"] / baseline["seconds"], 2), "enrich": enriched}

"""Where the plate HMAC runs: the JVM functions the stream uses (infra/jvm/udf), against a pandas UDF.

Both must give anpr.pseudonym's keys, checked on a sample. Baseline: the plain Python `hmac` loop
(`anpr.pseudonym.vehicle_key`) on the same rows, in the same run. The pandas UDF is the alternative the
stream used before; it is kept here only to show why the JVM won.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pandas as pd
from pyspark.sql import functions as F
from pyspark.sql import types as T

from anpr import pseudonym

ROWS = 2_000_000
PEPPER = b"bench-pepper-" + b"x" * 19


@F.pandas_udf(T.StringType())  # type: ignore[call-overload]
def _pandas_vehicle_key(plate: pd.Series, country: pd.Series) -> pd.Series:
    return pd.Series([pseudonym.vehicle_key(PEPPER, p, c) for p, c in zip(plate, country, strict=True)])


def run() -> dict[str, object]:
    from anpr.settings import Settings
    from anpr.spark import get_spark
    from streaming.pipeline import vehicle_key_column

    plates = [(f"{i % 90 + 10:02d}XK{i % 997:03d}", "NL") for i in range(ROWS)]
    started = time.perf_counter()
    expected = [pseudonym.vehicle_key(PEPPER, p, c) for p, c in plates]
    python_s = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="anpr-bench-") as tmp:
        pepper_file = str(pseudonym.write_pepper_file(Path(tmp) / "secrets", PEPPER))
        local = {"data_dir": tmp, "spark": {"master": "local[2]", "shuffle_partitions": 2}}
        spark = get_spark(Settings.model_validate(local))
        try:
            frame = spark.createDataFrame(plates, "plate_norm string, plate_country string").repartition(2).cache()
            frame.count()
            timings = {}
            for name, column in (
                ("jvm", vehicle_key_column(F.col("plate_norm"), F.col("plate_country"), pepper_file)),
                ("pandas_udf", _pandas_vehicle_key(F.col("plate_norm"), F.col("plate_country"))),
            ):
                started = time.perf_counter()
                frame.select(column.alias("key")).agg(F.count("key")).collect()
                timings[name] = time.perf_counter() - started
                sample = frame.limit(1000).select("plate_norm", "plate_country", column.alias("key")).collect()
                wrong = [r for r in sample if r["key"] != pseudonym.vehicle_key(PEPPER, r[0], r[1])]
                assert not wrong and len(expected) == ROWS, f"{name} keys differ from anpr.pseudonym"
        finally:
            spark.stop()
    return {
        "rows": ROWS,
        "python_loop_rows_per_s": round(ROWS / python_s),
        "jvm_rows_per_s": round(ROWS / timings["jvm"]),
        "pandas_udf_rows_per_s": round(ROWS / timings["pandas_udf"]),
        "ratio_jvm_to_python_loop": round(python_s / timings["jvm"], 2),
        "ratio_pandas_udf_to_python_loop": round(python_s / timings["pandas_udf"], 2),
    }

"""The one SparkSession factory, built from settings."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TypeVar

from pyspark import SparkContext
from pyspark.sql import SparkSession
from pyspark.sql.types import StringType
from pyspark.util import inheritable_thread_target

from anpr.contract import PARSE_CLASS, PARSE_FUNCTION, parsed_type
from anpr.jvm import spark_connector_jars
from anpr.pseudonym import JVM_FUNCTIONS
from anpr.settings import Settings

T = TypeVar("T")
log = logging.getLogger(__name__)
SNAPSHOT_PARTITIONS = "spark.databricks.delta.snapshotPartitions"
# Generated classes Spark keeps per JVM (StaticSQLConf, default 100). A micro-batch of the stream uses about 190
# (each stage's whole-stage code, projections, orderings, Delta's own log queries): with 100 the LRU cache
# dropped each before its next use, so every batch compiled them all again with Janino (some 17 classes a
# second at 5,000 detections/s) and the JIT compiled the new classes again, about one of the 2 cores on its
# own. docs/benchmarks.md, stop 52.
CODEGEN_CACHE_ENTRIES = "spark.sql.codegen.cache.maxEntries"
# Whether a persisted DataFrame's in-memory columns are compressed (SQLConf, default true). Choosing an
# encoding scans every value of every column into a dictionary first: on the stream's persisted micro-batches
# that was a fifth of the JVM's samples; the stream turns it off (streaming/job.py). docs/benchmarks.md, stop 53.
CACHE_COMPRESSED = "spark.sql.inMemoryColumnarStorage.compressed"
# Whether pyspark passes each API call's Python call site to the JVM (pyspark.errors.utils, default true).
PYTHON_CALL_SITES = "spark.python.sql.dataFrameDebugging.enabled"

# Shared by every profile: the same connectors and the same Delta settings locally and on a cluster.
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    # delta-rs (the vendor API's reader) expects microsecond timestamps, not INT96.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    # Tables stay at features delta-rs reads and writes (no deletion vectors, row tracking, ...).
    "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
}


SPARK_LOG4J = """# Written by anpr.spark: the driver JVM's own log goes to a file, so a failure reads as one line
# in the terminal (the CLI prints the cause) and its details stay here.
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {path}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = %d{{ISO8601}} %p %c: %m%n%ex
"""


def write_spark_log_config(settings: Settings) -> None:
    """The driver's log4j2 configuration under the log dir (the local profile's JVM reads it at start)."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    config = SPARK_LOG4J.format(path=settings.log_dir / "spark.log")
    (settings.log_dir / "spark-log4j2.properties").write_text(config)  # the path spark_conf names


@contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Point file descriptor 2 at path while a child is started, so the child keeps writing there.

    The driver JVM (and the Python workers it forks) print to the stderr they inherit before log4j is
    configured and around it; started under this, that output lands in spark.log, not on the terminal.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as target:
        os.dup2(target.fileno(), 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# The JVMs' own time zone, beside the session's (UTC): where it is not UTC (a Dutch host's Europe/Amsterdam),
# delta-spark 4.4.0 rebuilds a table's whole state after every commit to verify its .crc
# (Snapshot.allFilesInCrcVerificationForceEnabled): four more Spark jobs in each micro-batch of the stream.
UTC_JVM = "-Duser.timezone=UTC"


def spark_conf(settings: Settings) -> dict[str, str]:
    local_dir = settings.data_dir / "spark"
    conf = {
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        # Delta rebuilds a table's state from its log in this many tasks (50 by default): on a few cores
        # that is most of the time of every small MERGE, DELETE or read.
        SNAPSHOT_PARTITIONS: str(settings.spark.shuffle_partitions),
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",  # progress is ours to print; bars garble logs
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.streaming.stateStore.providerClass":
            "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider",
        "spark.sql.warehouse.dir": str(settings.data_dir / "spark-warehouse"),
        "spark.python.worker.reuse": "true",
        CODEGEN_CACHE_ENTRIES: "1000",
        # pyspark 4 records the Python call site of every Column and DataFrame call in the JVM (about five
        # round trips each) for its error messages; the stream builds its plan anew on every micro-batch.
        PYTHON_CALL_SITES: "false",
        # Local paths: the driver serves them to executors, so a cluster needs no Maven access either.
        "spark.jars": ",".join(str(j) for j in spark_connector_jars()),
        **DELTA_CONF,
        "spark.driver.extraJavaOptions": UTC_JVM,
        "spark.executor.extraJavaOptions": UTC_JVM,
    }
    if settings.profile == "local":
        conf["spark.driver.host"] = "127.0.0.1"
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.local.dir"] = str(local_dir)
        log4j = settings.log_dir / "spark-log4j2.properties"
        conf["spark.driver.extraJavaOptions"] = (f"{UTC_JVM} -Dderby.system.home={local_dir} "
                                                 f"-Dlog4j2.configurationFile=file:{log4j}")
    conf.update(settings.spark.extra)
    for side in ("driver", "executor"):  # an operator's own JVM options keep the zone unless they name one
        key = f"spark.{side}.extraJavaOptions"
        if "-Duser.timezone=" not in conf[key]:
            conf[key] = f"{UTC_JVM} {conf[key]}"
    return conf


def get_spark(settings: Settings) -> SparkSession:
    # Python workers fail to connect back unless they run the driver's interpreter (the venv's).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    if settings.profile == "local":
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # the embedded default stays on loopback
        (settings.data_dir / "spark").mkdir(parents=True, exist_ok=True)
        write_spark_log_config(settings)
    builder = SparkSession.builder.master(settings.spark.master).appName(settings.spark.app_name)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    launching = settings.profile == "local" and SparkContext._active_spark_context is None
    with stderr_to(settings.log_dir / "spark.log") if launching else nullcontext():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.spark.log_level)
    register_functions(spark)
    return spark


def register_functions(spark: SparkSession) -> None:
    """The project's JVM functions (JVM_FUNCTIONS: the plate's text and HMACs; PARSE_FUNCTION: a message's
    fields) in this session; a session of `spark.newSession()` has its own function registry and needs them
    again."""
    for name, java_class in JVM_FUNCTIONS.items():
        spark.udf.registerJavaFunction(name, java_class, StringType())
    spark.udf.registerJavaFunction(PARSE_FUNCTION, PARSE_CLASS, parsed_type())


def side_by_side(spark: SparkSession, calls: Mapping[str, Callable[[], T]], workers: int | None = None,
                 prefix: str = "side-by-side") -> dict[str, T]:
    """Run each call in a thread of its own (at most `workers` at once; default all) and return each one's
    result by name. For driver-bound work (Delta commits, small writes) that leaves the cores idle when run
    one after the other. The threads inherit the calling thread's Spark properties (job group, a streaming
    batch's query id; pyspark's pinned threads, its default). After a call fails, the calls not yet begun
    are not begun; the first error, in the order of `calls`, is raised once the others have ended (so none
    is left running), and any later ones are logged. A lone call runs in the calling thread."""
    if len(calls) <= 1:
        return {name: call() for name, call in calls.items()}
    with ThreadPoolExecutor(workers or len(calls), thread_name_prefix=prefix) as pool:
        futures = {name: pool.submit(inheritable_thread_target(spark)(call)) for name, call in calls.items()}
        for done in as_completed(futures.values()):
            if done.exception() is not None:
                for future in futures.values():
                    future.cancel()  # only those not begun
                break
    errors = [(name, f.exception()) for name, f in futures.items() if not f.cancelled() and f.exception()]
    if errors:
        for name, error in errors[1:]:
            log.error("%s also failed: %s: %s", name, type(error).__name__, error)
        raise errors[0][1]  # type: ignore[misc]
    return {name: future.result() for name, future in futures.items()}

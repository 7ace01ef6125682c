"""The Spark JVMs run in UTC, as the session does: otherwise delta-spark verifies every commit's checksum by
rebuilding the table's whole state (anpr/spark.py UTC_JVM)."""

from __future__ import annotations

import pytest

from anpr.spark import PYTHON_CALL_SITES, UTC_JVM, spark_conf


@pytest.mark.parametrize("profile", ["local", "cluster"])
def test_driver_and_executors_run_in_utc_in_every_profile(settings, profile):
    conf = spark_conf(settings.model_copy(update={"profile": profile}))
    assert conf["spark.sql.session.timeZone"] == "UTC"
    for side in ("driver", "executor"):
        assert UTC_JVM in conf[f"spark.{side}.extraJavaOptions"].split()


def test_the_running_driver_jvm_is_in_utc_whatever_the_host_says(spark):
    """delta-spark 4.4.0 (Snapshot.allFilesInCrcVerificationForceEnabled) checks the JVM's default zone and its
    user.timezone property: a host in Europe/Amsterdam made four more Spark jobs in every micro-batch."""
    jvm = spark._jvm
    assert jvm.java.util.TimeZone.getDefault().getID() == "UTC"
    assert jvm.java.lang.System.getProperty("user.timezone") == "UTC"


def test_an_operators_own_jvm_options_keep_utc_unless_they_name_a_zone(settings):
    extra = {"spark.driver.extraJavaOptions": "-Xss4m", "spark.executor.extraJavaOptions": "-Duser.timezone=CET"}
    conf = spark_conf(settings.model_copy(update={"spark": settings.spark.model_copy(update={"extra": extra})}))
    assert conf["spark.driver.extraJavaOptions"].split() == [UTC_JVM, "-Xss4m"]
    assert conf["spark.executor.extraJavaOptions"] == "-Duser.timezone=CET"


def test_the_session_passes_no_python_call_sites_to_the_jvm_unless_an_operator_asks(settings, spark):
    """pyspark 4 sends each Column and DataFrame call's Python call site to the JVM (some five round trips a
    call): a third of the stream's plan building on every micro-batch (docs/benchmarks.md, stop 59)."""
    assert spark.conf.get(PYTHON_CALL_SITES) == "false"
    extra = {PYTHON_CALL_SITES: "true"}
    conf = spark_conf(settings.model_copy(update={"spark": settings.spark.model_copy(update={"extra": extra})}))
    assert conf[PYTHON_CALL_SITES] == "true"

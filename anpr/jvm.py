"""Where the JVM parts live: the jars `make install` resolved from infra/jvm/pom.xml, and Java itself.

`.jvm/broker/` holds Apache Kafka (run in its own JVM); `.jvm/spark/` holds the connectors Spark loads
through `spark.jars` (the built-in kafka source and delta-spark). Nothing here touches a network.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from anpr.settings import PROJECT_ROOT

_VERSION_SUFFIX = re.compile(r"-\d[^-]*(-[^-]+)?\.jar$")


class JvmError(RuntimeError):
    """Java or the pinned jars are missing; the message says how to get them."""


def jvm_dir() -> Path:
    return Path(os.environ.get("ANPR_JVM_DIR", PROJECT_ROOT / ".jvm"))


def java_binary() -> str:
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    found = str(candidate) if candidate and candidate.exists() else shutil.which("java")
    if not found:
        raise JvmError("Java 17 is not installed: apt-get install -y openjdk-17-jdk-headless")
    return found


def jars(module: str) -> list[Path]:
    """The runtime jars of one module of infra/jvm/pom.xml (`broker` or `spark`), sorted."""
    folder = jvm_dir() / module
    found = sorted(folder.glob("*.jar")) if folder.is_dir() else []
    if not found:
        raise JvmError(f"no {module} jars in {folder}: run `make install` (it resolves infra/jvm/pom.xml with Maven)")
    return found


def artifact_name(jar: Path) -> str:
    """`jackson-core-2.13.5.jar` -> `jackson-core`: the artifact a jar file holds, without its version."""
    return _VERSION_SUFFIX.sub("", jar.name)


def spark_connector_jars() -> list[Path]:
    """The connector jars Spark needs beyond its own: those of `.jvm/spark` whose artifact pyspark lacks.

    delta-spark's POM also names Hadoop, Parquet, Jackson and Scala; pyspark ships newer copies of
    those, and two versions of one library on a classpath fail at run time, so only pyspark's stay.
    """
    import pyspark

    bundled = {artifact_name(j) for j in (Path(pyspark.__file__).parent / "jars").glob("*.jar")}
    return [j for j in jars("spark") if artifact_name(j) not in bundled]

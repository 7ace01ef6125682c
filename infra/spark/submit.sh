#!/usr/bin/env bash
# Run a platform command against the Spark cluster: submit.sh stream | stats --month YYYY-MM | retention run
# The driver runs here (client mode); anpr.spark puts the pinned connector jars (.jvm/spark, from
# infra/jvm/pom.xml) on spark.jars and the driver serves them to the executors: no Maven at run time.
set -euo pipefail
export ANPR_PROFILE=cluster
export ANPR_SPARK__MASTER=${SPARK_MASTER:-spark://spark-master:7077}
export ANPR_SPARK__EXTRA=${ANPR_SPARK__EXTRA:-'{"spark.hadoop.fs.s3a.path.style.access": "true"}'}
exec anpr "$@"

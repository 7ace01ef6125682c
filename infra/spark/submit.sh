#!/usr/bin/env bash
# Run a platform command against the Spark cluster: submit.sh stream | stats --month YYYY-MM | retention run
# The driver runs here (client mode); anpr.spark puts the pinned connector jars (.jvm/spark, from
# infra/jvm/pom.xml) on spark.jars and the driver serves them to the executors: no Maven at run time.
# The stream runs for ever: without a cap it would hold every core and a batch job would wait for ever
# ("Initial job has not accepted any resources"), so the stream takes STREAM_CORES and each batch job
# JOB_CORES (spark.cores.max; the compose file's workers have 8 in all).
set -euo pipefail
export ANPR_PROFILE=cluster
export ANPR_SPARK__MASTER=${SPARK_MASTER:-spark://spark-master:7077}
if [ "${1:-}" = stream ]; then cores=${STREAM_CORES:-4}; else cores=${JOB_CORES:-4}; fi
# S3A does not read AWS_ENDPOINT_URL (delta-rs, in the APIs, does): one endpoint for both. The operator's
# own ANPR_SPARK__EXTRA (JSON) is kept and wins over these defaults.
ANPR_SPARK__EXTRA=$(python - "$cores" <<'PY'
import json, os, sys
conf = {"spark.cores.max": sys.argv[1], "spark.hadoop.fs.s3a.path.style.access": "true"}
if os.environ.get("AWS_ENDPOINT_URL"):
    conf["spark.hadoop.fs.s3a.endpoint"] = os.environ["AWS_ENDPOINT_URL"]
conf.update(json.loads(os.environ.get("ANPR_SPARK__EXTRA") or "{}"))
print(json.dumps(conf))
PY
)
export ANPR_SPARK__EXTRA
exec anpr "$@"

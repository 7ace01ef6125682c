#!/usr/bin/env bash
# Submit a platform command to the Spark cluster: submit.sh stream | stats --month YYYY-MM
set -euo pipefail
MASTER=${SPARK_MASTER:-spark://spark-master:7077}
PACKAGES=io.delta:delta-spark_2.13:4.4.1,org.apache.spark:spark-sql-kafka-0-10_2.13:4.2.0,org.apache.hadoop:hadoop-aws:3.4.1
export ANPR_PROFILE=cluster
exec spark-submit --master "$MASTER" --deploy-mode client --packages "$PACKAGES" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  --conf spark.hadoop.fs.s3a.path.style.access=true \
  "$(python -c 'import anpr.cli, os; print(anpr.cli.__file__)')" "$@"

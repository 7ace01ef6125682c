#!/usr/bin/env bash
# Create the platform's topics on an Apache Kafka cluster. Idempotent (--if-not-exists).
# Runs as the admin principal over SASL_SSL: ADMIN_CONFIG is a client properties file (security.protocol,
# sasl.mechanism, sasl.jaas.config, ssl.truststore.*) kept in the secret store (infra/README.md).
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka-0:9094}
PARTITIONS=${PARTITIONS:-12}
ADMIN_CONFIG=${ADMIN_CONFIG:-/run/secrets/kafka-admin.properties}
KT=${KAFKA_HOME:-/opt/kafka}/bin/kafka-topics.sh
# Raw plates gone within 24 hours (the ingest contract): 22 hours past a closed segment's newest record, and
# segments closed hourly ([retention] kafka_hours, anpr/broker.py SEGMENT_MS). Lateness is judged on event time.
"$KT" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --create --if-not-exists \
  --topic anpr.observations --partitions "$PARTITIONS" --replication-factor 3 \
  --config retention.ms=79200000 --config segment.ms=3600000 --config min.insync.replicas=2
"$KT" --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --create --if-not-exists \
  --topic anpr.cameras --partitions 1 --replication-factor 3 \
  --config cleanup.policy=compact --config min.insync.replicas=2

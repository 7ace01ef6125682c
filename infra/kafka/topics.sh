#!/usr/bin/env bash
# Create the platform's topics on an Apache Kafka cluster. Idempotent (--if-not-exists).
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka-0:9092}
PARTITIONS=${PARTITIONS:-12}
KT=${KAFKA_HOME:-/opt/kafka}/bin/kafka-topics.sh
# 8 days: events up to 7 days late are accepted, plus a day to recover a stopped stream.
"$KT" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic anpr.observations \
  --partitions "$PARTITIONS" --replication-factor 3 \
  --config retention.ms=691200000 --config min.insync.replicas=2
"$KT" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic anpr.cameras \
  --partitions 1 --replication-factor 3 \
  --config cleanup.policy=compact --config min.insync.replicas=2

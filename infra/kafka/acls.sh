#!/usr/bin/env bash
# The platform's Kafka users and ACLs of least privilege (docs/privacy.md, Who may do what on Kafka).
# Run once per cluster, and again after a password change, as the brokers' super user anpr-broker:
# BROKER_CONFIG is its client properties file. Passwords are read from the secret files, never typed.
# The embedded broker applies the same grants itself (anpr/broker_security.py).
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-kafka-0:9094}
BROKER_CONFIG=${BROKER_CONFIG:-/run/secrets/kafka-broker-client.properties}
SECRETS=${SECRETS:-/run/secrets}
BIN=${KAFKA_HOME:-/opt/kafka}/bin
acl() { "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$BROKER_CONFIG" --add "$@"; }

# SCRAM-SHA-512 users: anpr-ingest (producer), anpr-stream (stream), anpr-admin (admin)
# The password goes through a file only its owner reads: on the command line every user of the host would
# see it (ps, /proc/<pid>/cmdline).
umask 077
scram=$(mktemp)
trap 'rm -f "$scram"' EXIT
for pair in anpr-ingest:kafka-producer anpr-stream:kafka-stream anpr-admin:kafka-admin; do
  user=${pair%%:*} file=$SECRETS/${pair#*:}
  # A properties file: its value keeps no brackets (ConfigCommand strips them only from --add-config), and
  # a password with a comma or a backslash would be cut or unescaped: make them of letters and digits.
  printf 'SCRAM-SHA-512=iterations=8192,password=%s\n' "$(cat "$file")" > "$scram"
  "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP" --command-config "$BROKER_CONFIG" --alter \
    --entity-type users --entity-name "$user" --add-config-file "$scram" >/dev/null
done
rm -f "$scram"

# Producer: write (and describe) the two topics; transactions only under its prefix.
for topic in anpr.observations anpr.cameras; do
  acl --allow-principal User:anpr-ingest --operation Write --operation Describe --topic "$topic"
  acl --allow-principal User:anpr-stream --operation Read --operation Describe --topic "$topic"
done
acl --allow-principal User:anpr-ingest --operation Write --operation Describe \
  --transactional-id anpr-ingest- --resource-pattern-type prefixed
# Stream: Spark's kafka source names its consumer groups spark-kafka-source-… / spark-kafka-relation-….
acl --allow-principal User:anpr-stream --operation Read --group spark-kafka- --resource-pattern-type prefixed
# Admin: create the platform's topics and change their configs (retention.ms); no read, no write.
acl --allow-principal User:anpr-admin --operation Create --operation Describe --operation DescribeConfigs \
  --operation AlterConfigs --topic anpr. --resource-pattern-type prefixed
acl --allow-principal User:anpr-admin --operation Describe --cluster

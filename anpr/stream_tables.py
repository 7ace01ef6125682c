"""Names and schemas of the Delta tables the stream writes.

In the core, like the register's (anpr/register_tables.py), because other stages read them: the monthly
jobs read passages, the ingest API quarantine, and jobs and streaming never import each other."""

from __future__ import annotations

from pyspark.sql import types as T

PASSAGES = "passages"
QUARANTINE = "quarantine"
STREAM_METRICS = "stream_metrics"

PASSAGES_SCHEMA = T.StructType([
    T.StructField("observation_id", T.StringType(), False),
    T.StructField("camera_id", T.StringType(), False),
    T.StructField("municipality", T.StringType(), False),
    T.StructField("zone_id", T.StringType(), False),
    T.StructField("event_ts", T.TimestampType(), False),
    T.StructField("event_date", T.DateType(), False),
    T.StructField("jaar", T.IntegerType(), False),
    T.StructField("maand", T.IntegerType(), False),
    T.StructField("week_dag", T.IntegerType(), False),
    T.StructField("uur", T.IntegerType(), False),
    T.StructField("tijd_vak", T.StringType(), True),
    T.StructField("venster_tijd", T.StringType(), True),
    T.StructField("rij_richting_zone", T.StringType(), True),
    T.StructField("voertuig_type", T.StringType(), False),
    T.StructField("brandstof", T.StringType(), True),
    T.StructField("emissieklasse", T.StringType(), True),
    T.StructField("carrosserie", T.StringType(), True),
    T.StructField("eigenaar_type", T.StringType(), True),
    T.StructField("sbi_sectie", T.StringType(), True),
    T.StructField("sbi_groep_code", T.StringType(), True),
    T.StructField("sbi_groep_omschrijving", T.StringType(), True),
    T.StructField("bedrijfsgrootte", T.StringType(), True),
    T.StructField("herkomst_nuts3", T.StringType(), True),
    T.StructField("herkomst_provincie", T.StringType(), True),
    T.StructField("ontheffing", T.StringType(), True),
    T.StructField("ze_toegang", T.StringType(), True),
    T.StructField("ze_toegang_tot", T.StringType(), True),  # first day without access: YYYY-MM-DD, Altijd, Onbekend
    T.StructField("register_hit", T.BooleanType(), False),
    T.StructField("period_token", T.StringType(), False),
    T.StructField("company_token", T.StringType(), True),
    # which pepper made the tokens (anpr/keyring.py); null: before peppers were recorded, the configured one
    T.StructField("pepper_id", T.StringType(), True),
    T.StructField("read_confidence", T.DoubleType(), True),
    T.StructField("lane", T.IntegerType(), True),
    T.StructField("supplier", T.StringType(), True),
    T.StructField("ingested_at", T.TimestampType(), True),
    T.StructField("kafka_partition", T.IntegerType(), True),
    T.StructField("kafka_offset", T.LongType(), True),
])
PASSAGES_PARTITIONS = ["municipality", "event_date"]

QUARANTINE_SCHEMA = T.StructType([
    T.StructField("reason", T.StringType(), False),
    T.StructField("observation_id", T.StringType(), True),
    T.StructField("camera_id", T.StringType(), True),
    T.StructField("municipality", T.StringType(), True),
    T.StructField("supplier", T.StringType(), True),
    T.StructField("ingested_at", T.TimestampType(), True),
    T.StructField("topic", T.StringType(), True),
    T.StructField("kafka_partition", T.IntegerType(), True),
    T.StructField("kafka_offset", T.LongType(), True),
    T.StructField("event_time", T.StringType(), True),
    T.StructField("ingest_date", T.DateType(), True),
])

STREAM_METRICS_SCHEMA = T.StructType([
    T.StructField("query_id", T.StringType(), False),
    T.StructField("batch_id", T.LongType(), False),
    T.StructField("finished_at", T.TimestampType(), False),
    T.StructField("duration_ms", T.LongType(), False),
    T.StructField("rows_in", T.LongType(), False),
    T.StructField("valid", T.LongType(), False),
    T.StructField("passages_written", T.LongType(), False),
    T.StructField("duplicates", T.LongType(), False),
    # Added later, so nullable: batches of an older release read as null (anpr.lake.added_columns).
    T.StructField("double_reads", T.LongType(), True),  # reads merged into another's passage
    T.StructField("ambiguous_plates", T.LongType(), True),  # valid reads of an ambiguous plate
    T.StructField("quarantined", T.LongType(), False),
    T.StructField("quarantined_by_reason", T.StringType(), False),  # JSON object reason -> count
    T.StructField("register_hit_rate", T.DoubleType(), True),
    T.StructField("offsets", T.StringType(), False),  # JSON: partition -> [first, last]
])

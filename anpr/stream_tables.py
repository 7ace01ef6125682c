"""Names and schemas of the Delta tables the stream writes.

In the core, like the register's (anpr/register_tables.py), because other stages read them: the monthly
jobs read passages, the ingest API quarantine, and jobs and streaming never import each other."""

from __future__ import annotations

from pyspark.sql import types as T

PASSAGES = "passages"
QUARANTINE = "quarantine"
STREAM_METRICS = "stream_metrics"
# Detections out of their municipality's scope (anpr.zones.Scope), counted without any token or key.
OUT_OF_SCOPE = "out_of_scope"

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
    # the last double read merged into this read (anpr/double_reads.py LAST_READ): the monthly statistics
    # merge a chain of reads split over micro-batches by it; null when none was
    T.StructField("last_read_ts", T.TimestampType(), True),
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
    T.StructField("register_hit_rate", T.DoubleType(), True),  # of the enriched reads, in scope or not
    T.StructField("offsets", T.StringType(), False),  # JSON: partition -> [first, last]
    # Valid reads dropped as out of their municipality's scope (table out_of_scope). Trailing and nullable,
    # so an existing table gains it in place (anpr.lake.added_columns); older batches read null.
    T.StructField("out_of_scope", T.LongType(), True),
])

# One row per micro-batch and cell: readers sum `detections` over batches. Scenario 1 of the privacy
# design: an anonymous count, so the share of company traffic in all traffic stays answerable while
# nothing about the dropped vehicles (token, key, observation id, register attribute) is kept.
OUT_OF_SCOPE_KEYS = ["municipality", "zone_id", "camera_id", "rij_richting_zone", "event_date", "uur"]
OUT_OF_SCOPE_SCHEMA = T.StructType([
    T.StructField("municipality", T.StringType(), False),
    T.StructField("zone_id", T.StringType(), False),
    T.StructField("camera_id", T.StringType(), False),
    T.StructField("rij_richting_zone", T.StringType(), True),
    T.StructField("event_date", T.DateType(), False),  # local (Amsterdam) day
    T.StructField("uur", T.IntegerType(), False),  # local hour 0-23
    T.StructField("detections", T.LongType(), False),
])
OUT_OF_SCOPE_PARTITIONS = ["event_date"]

"""Pure DataFrame -> DataFrame steps from Kafka records to passages and quarantine rows.

Order: parse -> pseudonymize -> attach_cameras -> validate -> first_deliveries -> local_time_columns ->
without_double_reads -> enrich (streaming/enrich.py) -> add_direction -> mark_scope -> (in scope)
add_tokens -> to_passages, (out of scope) out_of_scope_counts.
The plate text exists only between `parse_observations` and `pseudonymize`, before anything is
cached, shuffled or written; later steps see `vehicle_key`, and sinks only `period_token`. A detection
out of the municipality's scope (anpr.zones.Scope) never gets a token: it is only counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from anpr.contract import (
    EVENT_TIME_PATTERN,
    MAX_MESSAGE_BYTES,
    NL_PLATE_PATTERN,
    OTHER_PLATE_PATTERN,
    PARSE_FUNCTION,
    STREAM_FIELDS,
    UUID_PATTERN,
    country_codes,
    parse_spec,
)
from anpr.double_reads import LAST_READ, double_reads, last_reads
from anpr.pseudonym import (
    DISTRICT_SEPARATED,
    PERIOD_TOKEN_FUNCTION,
    PLATE_TEXT_FUNCTION,
    SEPARATOR,
    VEHICLE_KEY_FUNCTION,
)
from anpr.settings import DayPart
from anpr.stream_tables import OUT_OF_SCOPE_KEYS, PASSAGES_SCHEMA
from anpr.zones import Municipality, Scope

# uuids name one thing in either case (RFC 4122: "case-insensitive on input"); the endpoint's ownership check,
# the CSV feed and the cameras (streaming/cameras.py) compare them in lower case, so the stream does too.
UUID_FIELDS = ("observation_id", "camera_id")


class Reason:
    TOO_LARGE = "MESSAGE_TOO_LARGE"
    NOT_JSON = "MALFORMED_JSON"
    MISSING_FIELD = "MISSING_FIELD"
    BAD_FIELD = "BAD_FIELD_VALUE"
    BAD_UUID = "BAD_UUID"
    BAD_EVENT_TIME = "BAD_EVENT_TIME"
    FUTURE_EVENT = "EVENT_IN_FUTURE"
    TOO_LATE = "EVENT_TOO_LATE"
    BAD_COUNTRY = "BAD_PLATE_COUNTRY"
    MALFORMED_PLATE = "MALFORMED_PLATE"
    LOW_CONFIDENCE = "LOW_CONFIDENCE"
    BAD_DIRECTION = "BAD_DETECTION_DIRECTION"
    UNKNOWN_CAMERA = "UNKNOWN_CAMERA"


def matches_whole(column: Column, pattern: str) -> Column:
    """Whether the whole string matches `pattern` (null for null). Spark's rlike finds, and Java's `$` also
    matches before a final line break, so "<uuid>\\n" would pass a ^...$ pattern there."""
    return F.regexp_extract(column, pattern, 0) == column


def _header(name: str) -> Column:
    match = F.filter(F.col("headers"), lambda h: h["key"] == F.lit(name))
    return F.when(F.size(match) > 0, F.element_at(match, 1)["value"].cast("string"))


def parse_observations(records: DataFrame) -> DataFrame:
    """Kafka records (the built-in source's columns) -> one row per message with typed fields.

    Each of STREAM_FIELDS (anpr/contract.py) becomes a column holding its value when it has the contract's
    JSON type (null otherwise); `_bad_type` is true when any field of OBSERVATION_TYPES has another type
    (null counts as absent), an int does not fit 32 bits, or the message is JSON only to a lenient parser
    (NaN or Infinity literals, single quotes, a repeated key), whose string fields are then kept so a
    quarantined row keeps its ids; `_not_json` when no parser reads an object. One pass of the JVM
    function PARSE_FUNCTION (nl.anpr.udf.ParseObservation) per message.
    """
    text = F.when(F.length("value") <= MAX_MESSAGE_BYTES, F.col("value").cast("string"))
    has_headers = "headers" in records.columns
    parsed = records.select(
        F.col("topic"), F.col("partition").alias("kafka_partition"), F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("ingested_at"), (F.length("value") > MAX_MESSAGE_BYTES).alias("_too_large"),
        (_header("supplier") if has_headers else F.lit(None).cast("string")).alias("supplier"),
        F.call_function(PARSE_FUNCTION, text, F.lit(parse_spec())).alias("_parsed"),
    )
    fields = {name: F.col(f"_parsed.{name}") for name in STREAM_FIELDS}
    typed = parsed.select(
        "topic", "kafka_partition", "kafka_offset", "ingested_at", "_too_large", "supplier",
        *[(F.lower(c) if name in UUID_FIELDS else c).alias(name) for name, c in fields.items()],
        F.col("_parsed.bad_type").alias("_bad_type"), F.col("_parsed.not_json").alias("_not_json"),
    )
    return typed.withColumn(
        "event_ts",
        F.when(matches_whole(F.col("event_time"), EVENT_TIME_PATTERN),
               F.try_to_timestamp(F.upper(F.substring("event_time", 1, 23)), F.lit("yyyy-MM-dd'T'HH:mm:ss.SSS"))),
    ).withColumn("plate_norm", plate_text_column(F.col("plate_text"), F.col("plate_country")))


CAMERA_COLUMNS = ["camera_id", "municipality", "zone_id", "obverse_direction", "reverse_direction"]


def attach_cameras(observations: DataFrame, cameras: DataFrame) -> DataFrame:
    """Zone, municipality and direction rule of the camera where it stood at the read's `event_ts`: the
    row of cameras (streaming/cameras.py CAMERAS_SCHEMA) whose [valid_from, valid_to) holds it, null bounds
    unbounded, so a late read of a camera moved since counts where it was read. A read without a usable
    event time (refused for it in `validate`) takes the current row. Unknown cameras, and reads from a
    time the camera had no zone, keep null columns and fail validation as UNKNOWN_CAMERA. Only what
    passages need: every column here is held in memory for each micro-batch."""
    c = cameras.select(*CAMERA_COLUMNS, F.col("valid_from").alias("_from"), F.col("valid_to").alias("_to"))
    at = observations["event_ts"]
    in_force = F.when(at.isNull(), c["_to"].isNull()).otherwise(
        (c["_from"].isNull() | (c["_from"] <= at)) & (c["_to"].isNull() | (at < c["_to"])))
    joined = observations.join(F.broadcast(c), (observations["camera_id"] == c["camera_id"]) & in_force, "left")
    own = [observations[f] for f in observations.columns if f != "camera_id"]
    return joined.select(observations["camera_id"], *own, *[c[f] for f in CAMERA_COLUMNS[1:]])


def validate(observations: DataFrame, future_minutes: int, late_days: int, min_confidence: float) -> DataFrame:
    """Add `reason`: the first rule an observation breaks, null when valid.

    Expects the columns of `attach_cameras`. Time checks compare with the Kafka ingest timestamp, not
    the wall clock, so a replay of the same records gives the same verdicts.
    """
    c = F.col
    # vehicle_key is null exactly when the plate text (or its country) was missing
    required = ["observation_id", "camera_id", "event_time", "plate_country", "vehicle_key"]
    rules: list[tuple[Column, str]] = [
        (c("_too_large"), Reason.TOO_LARGE),
        (c("_not_json"), Reason.NOT_JSON),
        (c("_bad_type"), Reason.BAD_FIELD),
        (F.greatest(*[c(f).isNull() for f in required]), Reason.MISSING_FIELD),
        (~matches_whole(c("observation_id"), UUID_PATTERN) | ~matches_whole(c("camera_id"), UUID_PATTERN),
         Reason.BAD_UUID),
        (c("event_ts").isNull(), Reason.BAD_EVENT_TIME),
        (c("event_ts") > c("ingested_at") + F.expr(f"INTERVAL {future_minutes} MINUTES"), Reason.FUTURE_EVENT),
        (c("event_ts") < c("ingested_at") - F.expr(f"INTERVAL {late_days} DAYS"), Reason.TOO_LATE),
        (~c("read_confidence").between(0, 1) | (c("lane") < 1), Reason.BAD_FIELD),
        (~c("plate_country").isin(*sorted(country_codes())), Reason.BAD_COUNTRY),
        (~c("plate_format_ok"), Reason.MALFORMED_PLATE),
        (F.coalesce(c("read_confidence"), F.lit(1.0)) < min_confidence, Reason.LOW_CONFIDENCE),
        (~F.coalesce(c("detection_direction"), F.lit("obverse")).isin("obverse", "reverse"), Reason.BAD_DIRECTION),
        (c("municipality").isNull(), Reason.UNKNOWN_CAMERA),
    ]
    reason: Column = F.lit(None).cast("string")
    for broken, code in reversed(rules):
        reason = F.when(F.coalesce(broken, F.lit(False)), F.lit(code)).otherwise(reason)
    # The rules' own inputs go: the reason says what they found, and the sink holds every column per batch.
    helpers = ["_too_large", "_not_json", "_bad_type", "plate_format_ok"]
    return observations.withColumn("reason", reason).drop(*helpers)


def plate_text_column(plate: Column, country: Column) -> Column:
    """The plate's text as it is hashed, anpr.pseudonym.normalize_plate in the JVM (nl.anpr.udf.PlateText)."""
    return F.call_function(PLATE_TEXT_FUNCTION, plate, country)


def ambiguous_plate_column(plate_norm: Column, country: Column) -> Column:
    """anpr.pseudonym.is_ambiguous_plate on normalized plates: e.g. a German plate read without the
    separator after its district code."""
    leading_letters = F.length(F.regexp_extract(plate_norm, r"^[A-Z]*", 0))
    above = F.lit(None).cast("int")
    for code, district in sorted(DISTRICT_SEPARATED.items()):
        above = F.when(country == code, F.lit(district.ambiguous_above)).otherwise(above)
    return F.coalesce(~plate_norm.contains(SEPARATOR) & (leading_letters > above), F.lit(False))


def vehicle_key_column(plate: Column, country: Column, pepper_file: str) -> Column:
    """HMAC-SHA256(pepper, "COUNTRY|PLATE") in hex, computed in the JVM (nl.anpr.udf.VehicleKey).

    The pepper is read from ``pepper_file`` on the executor: only the path is in the plan.
    """
    return F.call_function(VEHICLE_KEY_FUNCTION, plate, country, F.lit(pepper_file))


def period_token_column(month: Column, key: Column, pepper_file: str) -> Column:
    """HMAC-SHA256(HMAC-SHA256(pepper, "period|YYYY-MM"), key) in hex (nl.anpr.udf.PeriodToken)."""
    return F.call_function(PERIOD_TOKEN_FUNCTION, month, key, F.lit(pepper_file))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def day_part_column(hour: Column, day_parts: Sequence[DayPart]) -> Column:
    part: Column = F.lit(None).cast("string")
    for p in reversed(day_parts):
        part = F.when((hour >= p.start_hour) & (hour < p.end_hour), F.lit(p.name)).otherwise(part)
    return part


def time_window_column(municipality: Column, weekday: Column, minute: Column,
                       municipalities: Sequence[Municipality]) -> Column:
    """The municipal time window a local moment falls in (first declared wins), null outside all."""
    window: Column = F.lit(None).cast("string")
    for m in reversed(municipalities):
        for w in reversed(m.time_windows):
            inside = ((municipality == m.code) & weekday.isin(w.weekdays)
                      & (minute >= _minutes(w.start)) & (minute < _minutes(w.end)))
            window = F.when(inside, F.lit(w.name)).otherwise(window)
    return window


def local_time_columns(df: DataFrame, timezone: str, day_parts: Sequence[DayPart] = (),
                       municipalities: Sequence[Municipality] = ()) -> DataFrame:
    """Calendar columns of the local (Amsterdam) event time; tables and tokens are per local month."""
    # Three withColumns, not a withColumn each (every call analyses the whole plan again, on every micro-batch);
    # the calendar columns come before what reads them, so each row computes its hour and weekday once.
    local = F.col("_local")
    return (df.withColumn("_local", F.from_utc_timestamp("event_ts", timezone))
            .withColumns({"event_date": F.to_date(local), "jaar": F.year(local), "maand": F.month(local),
                          "week_dag": ((F.dayofweek(local) + 5) % 7) + 1,  # ISO: Monday 1 .. Sunday 7
                          "uur": F.hour(local), "period_month": F.date_format(local, "yyyy-MM")})
            .withColumns({"tijd_vak": day_part_column(F.col("uur"), day_parts),
                          "venster_tijd": time_window_column(F.col("municipality"), F.col("week_dag"),
                                                             F.col("uur") * 60 + F.minute(local), municipalities)})
            .drop("_local"))


def first_deliveries(valid: DataFrame) -> DataFrame:
    """One row per observation_id of a micro-batch: its first delivery (earliest Kafka timestamp, then
    topic, partition and offset), so a replay of the same records keeps the same copy.

    Expects valid rows (non-null observation_id). Only the ids and positions are shuffled to find the
    repeated ids; the rows themselves stay in place and meet the (small) set of repeated ids in a
    broadcast join. Repeats across micro-batches are the sink's: it inserts a passage only when its
    observation_id is not in the table yet (streaming/sink.py), for any age, not only a state window.
    """
    position = F.struct("ingested_at", "topic", "kafka_partition", "kafka_offset")
    repeated = (valid.select("observation_id", position.alias("_position")).groupBy("observation_id")
                .agg(F.count(F.lit(1)).alias("_deliveries"), F.min("_position").alias("_first"))
                .where(F.col("_deliveries") > 1).select("observation_id", "_first"))
    return (valid.join(F.broadcast(repeated), "observation_id", "left")
            .where(F.col("_first").isNull() | (position == F.col("_first")))
            .drop("_first"))


# A vehicle in the stream: its key within its local month, as the monthly job's period_token is.
STREAM_VEHICLE = ["vehicle_key", "period_month"]


def double_read_ids(reads: DataFrame, window_seconds: float) -> DataFrame:
    """Each double read of a micro-batch (anpr/double_reads.py `double_reads`: observation_id, merged_into,
    event_ts): a read of the same vehicle by the same camera at most window_seconds after the previous one.

    Expects one row per observation_id (`first_deliveries`) with `local_time_columns`. Only reads of one
    micro-batch meet here; a double read whose first read came in an earlier batch is no double read
    here and becomes a passage, which the monthly statistics merge by the same rule, from the kept reads'
    LAST_READ (`without_double_reads`). Which read survives depends on the reads alone, so a replayed batch
    keeps the same one.
    """
    return double_reads(reads, STREAM_VEHICLE, window_seconds)


def without_double_reads(reads: DataFrame, doubles: DataFrame) -> DataFrame:
    """The reads that are passages: all but the double reads of `double_read_ids`, each with LAST_READ, the
    time of the last double read merged into it (null when none was)."""
    kept = reads.join(doubles.select("observation_id"), "observation_id", "left_anti")
    return kept.join(F.broadcast(last_reads(doubles)), "observation_id", "left")


def pseudonymize(observations: DataFrame, pepper_file: str) -> DataFrame:
    """The first step after parsing: keep only the plate's key, whether its format was sane (on its
    letters and digits) and `plate_ambiguous` (`ambiguous_plate_column`, counted in the stream metrics)."""
    c = F.col
    characters = F.replace(c("plate_norm"), F.lit(SEPARATOR), F.lit(""))
    format_ok = F.when(c("plate_country") == "NL", characters.rlike(NL_PLATE_PATTERN)).otherwise(
        characters.rlike(OTHER_PLATE_PATTERN))
    ambiguous = ambiguous_plate_column(c("plate_norm"), c("plate_country"))
    return (observations.withColumns({
        "plate_format_ok": F.coalesce(format_ok, F.lit(False)),
        "plate_ambiguous": F.coalesce(ambiguous, F.lit(False)),
        "vehicle_key": vehicle_key_column(c("plate_norm"), c("plate_country"), pepper_file)})
            .drop("plate_text", "plate_norm"))


def add_tokens(enriched: DataFrame, pepper_file: str, pepper_id: str | None = None) -> DataFrame:
    """Month-scoped pseudonyms, then the keys go: passages link within a month and never across.

    company_token is the owner's token for dominance checks: a company's key for company vehicles;
    a privately owned vehicle is its own owner, so its token is the vehicle's. pepper_id names the
    pepper in ``pepper_file`` (anpr/keyring.py) on every row, so a rotated-out pepper is destroyed only
    once no kept passage was made with it.
    """
    out = enriched.withColumn("period_token",
                              period_token_column(F.col("period_month"), F.col("vehicle_key"), pepper_file))
    if "company_key" in enriched.columns:
        company = F.when(F.col("company_key").isNotNull(),
                         period_token_column(F.col("period_month"), F.col("company_key"), pepper_file))
        private = F.col("eigenaar_type") == "Particulier"
        company_token = F.when(private, F.col("period_token")).otherwise(company)
    else:
        company_token = F.lit(None).cast("string")
    return (out.withColumns({"company_token": company_token, "pepper_id": F.lit(pepper_id).cast("string")})
            .drop("period_month", "vehicle_key", "company_key"))


def add_direction(df: DataFrame) -> DataFrame:
    """Inbound or Outbound from the camera's rule for the detection direction; null without one (the field is
    optional in the contract, and taking a rear-plate camera's reads for front ones would turn its
    directions round), as for a camera without a rule: such a passage neither opens nor closes a trip."""
    read = F.col("detection_direction")
    return df.withColumn("rij_richting_zone", F.when(read == "obverse", F.col("obverse_direction"))
                         .when(read == "reverse", F.col("reverse_direction")))


def scope_column(scope: Scope) -> Column:
    """Whether an enriched row is in `scope`: a listed vehicle type, a listed owner type, or a register
    miss whose label (Buitenlands, Onbekend: the voertuig_type enrichment gives it) is listed. Never null."""
    types = F.col("voertuig_type").isin(*scope.voertuig_types, *scope.unclassified)
    owners = F.col("eigenaar_type").isin(*scope.eigenaar_types)
    return F.coalesce(types, F.lit(False)) | F.coalesce(owners, F.lit(False))


def mark_scope(enriched: DataFrame, municipalities: Sequence[Municipality]) -> DataFrame:
    """Add `in_scope` (boolean, never null) by each row's municipality's scope; a municipality not
    declared gets the default Scope. Expects the register columns of `enrich`."""
    kept = scope_column(Scope())
    for m in reversed(municipalities):
        kept = F.when(F.col("municipality") == m.code, scope_column(m.scope)).otherwise(kept)
    return enriched.withColumn("in_scope", kept)


def out_of_scope_counts(dropped: DataFrame) -> DataFrame:
    """Rows out of scope -> how many per municipality, zone, camera, direction (rij_richting_zone, null
    where the camera has no direction rule), local day and hour: columns OUT_OF_SCOPE_KEYS and
    `detections`. An anonymous count: no token, key or observation id survives the aggregation."""
    return dropped.groupBy(*OUT_OF_SCOPE_KEYS).agg(F.count(F.lit(1)).alias("detections"))


QUARANTINE_COLUMNS = [
    "reason", "observation_id", "camera_id", "municipality", "event_time", "supplier", "ingested_at", "topic",
    "kafka_partition", "kafka_offset",
]


def to_passages(enriched: DataFrame) -> DataFrame:
    """The passages columns. One row per observation_id already: `first_deliveries` ran upstream. LAST_READ is
    null where double reads were not looked for."""
    if LAST_READ not in enriched.columns:
        enriched = enriched.withColumn(LAST_READ, F.lit(None).cast("timestamp"))
    return enriched.select(*PASSAGES_SCHEMA.fieldNames())


# What an event_time that breaks its rule may still show: digits and the signs of a time stamp, no letter of a plate.
TIME_LIKE = r"^[0-9TZtz:.,+\- /]*$"


def to_quarantine(invalid: DataFrame) -> DataFrame:
    """Rejected rows keep what a supplier needs to find them again, never the plate. The supplier's own text
    is kept only in a shape that holds none: an observation_id or camera_id only when it is a uuid (some
    ANPR systems build ids from plate and time, e.g. "XX999X_20250602T071542"), an event_time (at most 40
    characters) only when it holds nothing but digits and time signs. Otherwise null, and the reason code
    (BAD_UUID, BAD_EVENT_TIME) says what was wrong; topic, partition and offset still find the message."""
    def uuid_or_null(name: str) -> Column:
        return F.when(matches_whole(F.col(name), UUID_PATTERN), F.col(name))

    event_time = F.substring("event_time", 1, 40)
    shown = {"observation_id": uuid_or_null("observation_id"), "camera_id": uuid_or_null("camera_id"),
             "event_time": F.when(matches_whole(event_time, TIME_LIKE), event_time)}
    return invalid.select(
        *[shown.get(c, F.col(c)).alias(c) for c in QUARANTINE_COLUMNS],
        F.to_date(F.col("ingested_at")).alias("ingest_date"),
    )

"""Passages of one month made ready for the tables: fixed vehicle attributes, owners, trips, visitor types.

Every function is DataFrame -> DataFrame and orders by (event_ts, observation_id), a unique key, so
the result never depends on how Spark partitions the passages.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from datetime import date

from pyspark.sql import Column, DataFrame, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql import types as T

from anpr.catalogue import CONFIGURED_LABELS, RECODES, SOURCES, Catalogue, Definitions
from anpr.dimensions import (
    BEDRIJF,
    BUITENLANDS,
    FUEL_GROUP_ZERO_EMISSION,
    PARTICULIER,
    Containment,
    access_containments,
    zero_emission_fuels,
)
from anpr.double_reads import drop_double_reads
from anpr.register_conf import load_register_conf

# Columns every monthly build reads, whatever the catalogue declares.
BASE_COLUMNS = ["observation_id", "camera_id", "municipality", "zone_id", "event_ts", "event_date", "jaar",
                "maand", "rij_richting_zone", "period_token", "company_token"]
PASSAGE_LEVEL = ["camera_id", "rij_richting_zone", "week_dag", "uur", "tijd_vak", "venster_tijd", "ontheffing",
                 "ze_toegang", "dag_type", "week_van_maand"]
DERIVED = {"type_bezoeker"}
# Passage-level columns derived here, when a declared dimension needs them, from the column they read.
DERIVED_PASSAGE = {"dag_type": "week_dag", "week_van_maand": "event_date"}
# Vehicle columns derived here from a fixed vehicle column (after fix_vehicle_attributes, so they are fixed too).
DERIVED_VEHICLE = {"brandstof_groep": "brandstof"}
EENMALIG, INCIDENTEEL, DAGELIJKS = "Eenmalig", "Incidenteel", "Dagelijks"
WERKDAG, WEEKEND = "Werkdag", "Weekend"
# eigenaarType: the register's owner kinds as published (seed 001 asks "particulier of rechtspersoon").
OWNER_TYPES = {BEDRIJF: "Rechtspersoon", PARTICULIER: PARTICULIER}
_MASK32 = 0xFFFFFFFF
# The passage columns the monthly build may read and their types (the stream writes them: anpr/stream_tables.py).
PASSAGE_TYPES: dict[str, T.DataType] = {
    "observation_id": T.StringType(), "camera_id": T.StringType(), "municipality": T.StringType(),
    "zone_id": T.StringType(), "event_ts": T.TimestampType(), "event_date": T.DateType(),
    "jaar": T.IntegerType(), "maand": T.IntegerType(), "week_dag": T.IntegerType(), "uur": T.IntegerType(),
    "tijd_vak": T.StringType(), "venster_tijd": T.StringType(), "rij_richting_zone": T.StringType(),
    "voertuig_type": T.StringType(), "brandstof": T.StringType(), "emissieklasse": T.StringType(),
    "carrosserie": T.StringType(), "eigenaar_type": T.StringType(), "sbi_sectie": T.StringType(),
    "sbi_groep_code": T.StringType(), "sbi_groep_omschrijving": T.StringType(), "bedrijfsgrootte": T.StringType(),
    "herkomst_nuts3": T.StringType(), "herkomst_provincie": T.StringType(), "ontheffing": T.StringType(),
    "ze_toegang": T.StringType(), "ze_toegang_tot": T.StringType(), "register_hit": T.BooleanType(),
    "period_token": T.StringType(), "company_token": T.StringType(),
}


def passages_schema(columns: Sequence[str]) -> T.StructType:
    """A schema for the given passage columns, in that order."""
    return T.StructType([T.StructField(c, PASSAGE_TYPES[c], True) for c in columns])


class MissingColumnsError(RuntimeError):
    """The passages table lacks columns the declared tables need."""


def vehicle_attributes(catalogue: Catalogue) -> list[str]:
    """Passage columns fixed per vehicle and month: the declared vehicle-level sources and their labels."""
    wanted = {d.source for d in catalogue.dimensions.values()
              if SOURCES.get(d.source) is not None and SOURCES[d.source].per == "vehicle"}
    wanted |= {d.source for d in catalogue.dimensions.values()
               if d.label_of and SOURCES.get(d.source) is not None and SOURCES[d.source].per == "label"
               and d.source not in CONFIGURED_LABELS}
    wanted |= {RECODES[s].coarse for s in wanted if s in RECODES}  # what global recoding may publish instead
    return sorted(wanted - DERIVED)


def derived_passage_columns(catalogue: Catalogue) -> list[str]:
    return sorted({d.source for d in catalogue.dimensions.values() if d.source in DERIVED_PASSAGE})


def needed_columns(catalogue: Catalogue) -> list[str]:
    derived = derived_passage_columns(catalogue)
    passage = {d.source for d in catalogue.dimensions.values() if d.source in PASSAGE_LEVEL} - set(derived)
    inputs = {DERIVED_PASSAGE[c] for c in derived}
    vehicle = {DERIVED_VEHICLE.get(c, c) for c in vehicle_attributes(catalogue)}
    return sorted({*BASE_COLUMNS, *passage, *inputs, *vehicle})


def check_columns(passages: DataFrame, needed: Sequence[str]) -> None:
    missing = [c for c in needed if c not in passages.columns]
    if missing:
        raise MissingColumnsError(f"the passages table lacks {missing}, which the declared tables need "
                                  "(conf/tables.toml); enrich the stream first")


# A month_passages row of another municipality, there only for its vehicle's first passage of the month.
CONTEXT = "_context"


def month_passages(passages: DataFrame, jaar: int, maand: int, municipality: str | None = None, *,
                   double_read_seconds: float) -> DataFrame:
    """The month's passages (of one municipality if given), one per passing of a camera.

    The stream merges double reads within a micro-batch; one that straddled two micro-batches is in
    the table twice, and is merged here by the same rule (anpr/double_reads.py, on period_token), from
    each passage's last merged read (last_read_ts), so a chain split over batches is one passing too.

    With a municipality, a vehicle whose first passage of the month was elsewhere brings that passage too,
    marked CONTEXT: characteristics are those of the first passage of the month anywhere
    (`fix_vehicle_attributes`), so a run of one municipality gives its zones the cells a run of all gives
    them (a van sold on the 10th, seen in another city on the 5th and here on the 12th, keeps its first
    owner's sector). `prepare` drops CONTEXT rows once the characteristics are fixed.
    """
    month = passages.where((F.col("jaar") == jaar) & (F.col("maand") == maand))
    if not municipality:
        return drop_double_reads(month, ["period_token"], double_read_seconds)
    # cameras stand in one municipality: its double reads are merged the same without the others' rows
    own = drop_double_reads(month.where(F.col("municipality") == municipality), ["period_token"],
                            double_read_seconds)
    # a chain's first read is kept, so the first passage is the same before or after merging double reads
    first = (month.join(own.select("period_token").distinct(), "period_token", "left_semi")
             .withColumn("_rank", F.row_number().over(_order(Window.partitionBy("period_token"))))
             .where((F.col("_rank") == 1) & (F.col("municipality") != municipality)).drop("_rank"))
    return own.withColumn(CONTEXT, F.lit(False)).unionByName(first.withColumn(CONTEXT, F.lit(True)))


def _order(window: WindowSpec) -> WindowSpec:
    return window.orderBy("event_ts", "observation_id")


def fix_vehicle_attributes(passages: DataFrame, attributes: Sequence[str]) -> DataFrame:
    """Each vehicle keeps its attributes (and owner) of its first passage of the month, everywhere.

    Unique vehicles then add up over vehicle characteristics, which is what lets vendors and the
    disclosure audit relate tables: a register change mid-month cannot put one vehicle in two cells.
    """
    first = _order(Window.partitionBy("period_token"))
    out = passages
    for column in [*attributes, "company_token"]:
        out = out.withColumn(column, F.first(column).over(first))
    # A private vehicle is its own owner; so is a vehicle whose owner is unknown (the seed's rule for
    # private owners, and the only safe reading when the register has no owner).
    return out.withColumn("owner", F.coalesce(F.col("company_token"), F.col("period_token")))


def owner_type(eigenaar_type: Column, voertuig_type: Column) -> Column:
    """eigenaarType: Rechtspersoon for the register's Bedrijf, Particulier; without an owner Buitenlands for a
    foreign plate (voertuig_type Buitenlands), else null (the fill, Onbekend). Other values pass unchanged."""
    mapped = F.coalesce(*[F.when(eigenaar_type == k, F.lit(v)) for k, v in OWNER_TYPES.items()], eigenaar_type)
    return F.when(eigenaar_type.isNull() & (voertuig_type == BUITENLANDS), F.lit(BUITENLANDS)).otherwise(mapped)


def day_type(week_dag: Column) -> Column:
    """dagType: Werkdag for ISO weekdays 1-5, Weekend for 6 and 7 (public holidays are not modelled)."""
    return F.when(week_dag.between(1, 5), F.lit(WERKDAG)).when(week_dag.between(6, 7), F.lit(WEEKEND))


def week_of_month(event_date: Column) -> Column:
    """weekVanMaand: 1 for the local days 1-7 of the month, 2 for 8-14, 3, 4, and 5 for days 29-31."""
    return (F.floor((F.dayofmonth(event_date) - 1) / 7) + 1).cast("int")


def _month_categories(jaar: int, maand: int) -> list[dict[str, object]]:
    """Each local day of the month as its weekday (ISO), week of the month (week_of_month) and day type
    (day_type): the rules of the Spark columns above, for the calendar the audit reads."""
    last = calendar.monthrange(jaar, maand)[1]
    return [{"week_dag": date(jaar, maand, d).isoweekday(), "week_van_maand": (d - 1) // 7 + 1,
             "dag_type": WERKDAG if date(jaar, maand, d).isoweekday() <= 5 else WEEKEND} for d in range(1, last + 1)]


def calendar_containments(jaar: int, maand: int) -> tuple[Containment, ...]:
    """Each category of a calendar dimension whose days do not reach every category of another: among those
    they reach. Week 5 (days 29-31; anpr/dimensions.py CONTAINMENTS has those of every month) lies among its
    weekdays and, where its days have one, its day type (June 2024's week 5 is a weekend); a weekday or day
    type that week 5 misses lies among weeks 1-4. Weekday and day type are a hierarchy the audit already has."""
    days = _month_categories(jaar, maand)
    out = []
    for inner, outer in (("week_van_maand", "week_dag"), ("week_van_maand", "dag_type"),
                         ("week_dag", "week_van_maand"), ("dag_type", "week_van_maand")):
        reach: dict[object, set[object]] = {}
        for day in days:
            reach.setdefault(day[inner], set()).add(day[outer])
        every = {day[outer] for day in days}
        out += [((inner, (category,)), (outer, tuple(sorted(held, key=repr))))
                for category, held in sorted(reach.items(), key=repr) if held != every]
    return tuple(out)


def month_days(jaar: int, maand: int) -> dict[str, dict[object, int]]:
    """The month's days per category of weekday (ISO), day type and week of the month (week_of_month)."""
    out: dict[str, dict[object, int]] = {"week_dag": {}, "dag_type": {}, "week_van_maand": {}}
    for day in _month_categories(jaar, maand):
        for dim, category in day.items():
            out[dim][category] = out[dim].get(category, 0) + 1
    return out


def month_facts(jaar: int, maand: int) -> tuple[tuple[Containment, ...], dict[str, dict[object, int]]]:
    """What the month's calendar tells anyone who reads the definitions: its containments
    (`calendar_containments` and anpr/dimensions.py access_containments over the month's first and last day;
    Registry.calendar) and its days per category (`month_days`; Registry.days)."""
    first, last = date(jaar, maand, 1), date(jaar, maand, calendar.monthrange(jaar, maand)[1])
    return calendar_containments(jaar, maand) + access_containments(first, last), month_days(jaar, maand)


def fuel_group(brandstof: Column, zero_emission: Sequence[str]) -> Column:
    """typeBrandstof -> its fuel group (anpr/catalogue.py RECODES): the zero-emission fuels (labels, as
    anpr/dimensions.py zero_emission_fuels gives them) are one group, every other fuel its own; null stays null."""
    return F.when(brandstof.isin(*zero_emission), F.lit(FUEL_GROUP_ZERO_EMISSION)).otherwise(brandstof)


def _derive(passages: DataFrame, columns: Sequence[str], sources: Mapping[str, str],
            make: Mapping[str, Callable[[Column], Column]]) -> DataFrame:
    """passages with each derived column asked for, made from the column it reads (sources)."""
    out = passages
    for column in columns:
        out = out.withColumn(column, make[column](F.col(sources[column])))
    return out


def add_vehicle_columns(passages: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The derived vehicle columns (DERIVED_VEHICLE) asked for, from the fixed columns they read."""
    return _derive(passages, columns, DERIVED_VEHICLE, {
        "brandstof_groep": lambda brandstof: fuel_group(brandstof, zero_emission_fuels(load_register_conf()))})


def add_passage_columns(passages: DataFrame, columns: Sequence[str]) -> DataFrame:
    """The derived passage-level columns (DERIVED_PASSAGE) asked for."""
    return _derive(passages, columns, DERIVED_PASSAGE, {"dag_type": day_type, "week_van_maand": week_of_month})


def mark_trips(passages: DataFrame, max_gap_minutes: int) -> DataFrame:
    """trip_start: an inbound passage that does not continue a stay already open in the zone.

    A stay opens at an inbound passage and closes at the next outbound one, or once the vehicle has not
    been seen in the zone for more than max_gap_minutes: the time from its previous passage in the zone,
    with or without a direction, is more than that. Passages without a direction neither open nor close
    a stay, but they do show the vehicle in the zone. Tokens are month-scoped, so the month cannot see
    a stay opened in the month before: its inbound passage is not counted here, but a later inbound
    passage of that stay in this month (at another camera) opens a trip of this month.

    Computed as: a visit is a run of the vehicle's passages in the zone, each at most max_gap_minutes
    after the one before; an inbound passage opens a trip unless the last passage with a direction before
    it in the same visit is an inbound one.
    """
    vehicle = _order(Window.partitionBy("period_token", "zone_id"))
    gap = F.unix_micros(F.col("event_ts")) - F.unix_micros(F.lag("event_ts").over(vehicle))
    new_visit = F.coalesce(gap > max_gap_minutes * 60_000_000, F.lit(True)).cast("int")
    visit = F.sum("_new_visit").over(vehicle.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    directed = F.when(F.col("rij_richting_zone").isNotNull(),
                      F.struct(F.col("_visit").alias("visit"), F.col("rij_richting_zone").alias("dir")))
    prev = F.last(directed, ignorenulls=True).over(vehicle.rowsBetween(Window.unboundedPreceding, -1))
    opens = (F.col("rij_richting_zone") == "Inbound") & (
        F.col("_prev").isNull() | (F.col("_prev.visit") != F.col("_visit")) | (F.col("_prev.dir") == "Outbound"))
    return (passages.withColumn("_new_visit", new_visit)
            .withColumn("_visit", visit)
            .withColumn("_prev", prev)
            .withColumn("trip_start", F.coalesce(opens, F.lit(False)))
            .drop("_new_visit", "_visit", "_prev"))


def visitor_type(days: Column, definitions: Definitions) -> Column:
    return (F.when(days >= definitions.bezoeker_dagelijks_min_dagen, F.lit(DAGELIJKS))
            .when(days >= definitions.bezoeker_incidenteel_min_dagen, F.lit(INCIDENTEEL))
            .otherwise(F.lit(EENMALIG)))


def mark_visitor_type(passages: DataFrame, definitions: Definitions) -> DataFrame:
    """typeBezoeker per vehicle, zone and month, by the distinct local days the vehicle was seen there."""
    days = F.size(F.collect_set("event_date").over(Window.partitionBy("period_token", "zone_id")))
    return passages.withColumn("type_bezoeker", visitor_type(days, definitions))


def record_keys(passages: DataFrame) -> DataFrame:
    """Stable per-record hashes: samples for union checks, and cell keys for optional perturbation.

    32-bit keys are summed as exact integers, so a cell key does not depend on summation order.
    """
    return (passages
            .withColumn("vh", F.xxhash64("period_token"))
            .withColumn("vrk", F.xxhash64(F.lit("cellkey"), "period_token").bitwiseAND(F.lit(_MASK32)))
            .withColumn("oh", F.xxhash64("owner"))
            .withColumn("prk", F.xxhash64(F.lit("cellkey"), "observation_id").bitwiseAND(F.lit(_MASK32))))


def fill_missing(passages: DataFrame, fills: dict[str, str]) -> DataFrame:
    """Every passage falls in exactly one category of every dimension, so tables add up to one total."""
    out = passages
    for column, value in sorted(fills.items()):
        if column in out.columns:
            out = out.withColumn(column, F.coalesce(F.col(column).cast("string"), F.lit(value)))
    return out


def prepare(passages: DataFrame, catalogue: Catalogue) -> DataFrame:
    """Month passages (already filtered) -> one row per passage with everything the tables group by."""
    attributes = vehicle_attributes(catalogue)
    check_columns(passages, needed_columns(catalogue))
    context = [CONTEXT] if CONTEXT in passages.columns else []
    fixed = [a for a in attributes if a not in DERIVED_VEHICLE]
    out = fix_vehicle_attributes(passages.select(*needed_columns(catalogue), *context), fixed)
    out = add_vehicle_columns(out, [a for a in attributes if a in DERIVED_VEHICLE])
    if context:
        out = out.where(~F.col(CONTEXT)).drop(CONTEXT)
    if "eigenaar_type" in attributes:
        kind = F.col("voertuig_type") if "voertuig_type" in attributes else F.lit(None).cast("string")
        out = out.withColumn("eigenaar_type", owner_type(F.col("eigenaar_type"), kind))
    out = add_passage_columns(out, derived_passage_columns(catalogue))
    out = mark_trips(out, catalogue.definitions.rit_max_gap_minuten)
    out = mark_visitor_type(out, catalogue.definitions)
    return fill_missing(record_keys(out), catalogue.fills())

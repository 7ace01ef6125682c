"""`anpr stats`: the month's tables from passages, disclosure control and audit, then a new release.

Nothing is published unless every zone passes the audit. With a municipality, only its zones are
rebuilt; the other municipalities' rows of the month's latest release are carried into the new one,
so a release always holds the whole month.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import replace

import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from anpr.catalogue import CATALOGUE, Catalogue, TableSpec
from anpr.disclosure import DisclosureConfig, load_disclosure
from anpr.lake import Lake, to_arrow
from anpr.settings import Settings
from anpr.stream_tables import OUT_OF_SCOPE, PASSAGES
from anpr.zones import Municipality, load_municipalities
from jobs.stats import recoding
from jobs.stats.protection import Progress, protect_all, recode_for_loss, speculate
from jobs.stats.release import (
    SUPPRESSIONS,
    Release,
    carried_rows,
    cells_settings,
    latest_release,
    predates_field_spec,
    publish,
    published_table,
    zone_summaries,
)
from jobs.stats.revisions import earlier_zones
from jobs.stats.rows import INTERNAL_SCHEMA, internal_rows, spec_schema, table_rows
from jobs.stats.sdc import merge_summaries
from jobs.stats.tables.anonymous import anonymous_rows, read_month
from jobs.stats.tables.build import MonthCells, build_month
from jobs.stats.tables.cameras import availability, full_cameras
from jobs.stats.tables.cells import CellPart, Sizes, count_parts
from jobs.stats.tables.enrich import month_passages

log = logging.getLogger(__name__)


def parse_month(month: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return int(match.group(1)), int(match.group(2))


def resolve_municipality(name: str, municipalities: Sequence[Municipality]) -> str:
    """A CBS code (GM0344) or a configured name (Utrecht) -> the code."""
    for m in municipalities:
        if name.upper() == m.code.upper() or name.casefold() == m.municipality.casefold():
            return m.code
    known = ", ".join(f"{m.code} ({m.municipality})" for m in municipalities)
    raise ValueError(f"unknown municipality {name!r}; configured: {known}")


def sizes_for(disclosure: DisclosureConfig, specs: Sequence[TableSpec]) -> Sizes:
    rules = [disclosure.rules_for(s.name) for s in specs] or [disclosure.rules]
    return Sizes(top=max(r.dominance_n for r in rules) + 1, vehicles=max(r.min_vehicles for r in rules),
                 owners=max(r.min_owners for r in rules))


def build_cells(rows: DataFrame, lake: Lake, month: str, catalogue: Catalogue, specs: Sequence[TableSpec],
                disclosure: DisclosureConfig, sizes: Sizes) -> tuple[MonthCells, list[TableSpec], MonthCells | None]:
    """The month's cells, the specs to publish (recoded where they are), and at the month's first release
    every built table with its recoded variants beside it (for recoding after the first protection; None
    later). The month's first release chooses (jobs/stats/recoding.py); later ones keep that."""
    previous = latest_release(lake, month)
    if previous is not None:
        kept = recoding.apply(specs, json.loads(str(previous["protection"])).get("recoded", {}))
        return build_month(rows, catalogue, kept, sizes), kept, None
    variants = recoding.candidates(specs, disclosure)
    cells = build_month(rows, catalogue, [*specs, *variants], sizes)
    chosen = recoding.apply(specs, recoding.choose(specs, cells.parts, disclosure))
    return replace(cells, parts=recoding.select(cells.parts, chosen, catalogue)), chosen, cells


def _say_recoded(specs: Sequence[TableSpec], say: Progress) -> None:
    recoded = recoding.recoded_in(specs)
    if recoded:
        say(f"    global recoding: {', '.join(f'{t} ({d})' for t, d in sorted(recoded.items()))}")


def _config(catalogue: Catalogue, disclosure: DisclosureConfig, settings: Settings,
            municipalities: Sequence[Municipality]) -> dict[str, object]:
    return {"tables": {n: vars(s) for n, s in catalogue.tables.items()},
            "dimensions": {n: d.model_dump() for n, d in catalogue.dimensions.items()},
            "definitions": catalogue.definitions.model_dump(), "disclosure": disclosure.model_dump(),
            "day_parts": [p.model_dump() for p in settings.day_parts], "timezone": settings.timezone,
            "passages": settings.passages.model_dump(),
            "municipalities": [m.model_dump() for m in municipalities]}


def _sorted(table: pa.Table, measures: Sequence[str]) -> pa.Table:
    """Rows in the order a fresh build gives them, so a carried-over release equals a full rebuild."""
    order = [c for c in table.column_names if c not in measures]
    frame = table.to_pandas().sort_values(order, kind="mergesort").reset_index(drop=True)
    return pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False)


def _carry(lake: Lake, month: str, code: str, tables: dict[str, pa.Table], measures: dict[str, list[str]],
           internal: pa.Table, zones: dict[str, dict[str, object]]) -> tuple[pa.Table, str | None]:
    """Add the other municipalities' rows of the month's latest release, if there is one."""
    previous = latest_release(lake, month)
    if previous is None:
        return internal, None
    prev_id = str(previous["release_id"])
    if predates_field_spec(lake, previous):
        raise RuntimeError(f"release {prev_id} of {month} was published before the field spec (zoneId as the NDW "
                           f"zone code): rebuild every municipality with `anpr stats --month {month}` first")
    for name, table in list(tables.items()):
        old = carried_rows(lake, published_table(name), prev_id, table.column_names, code)
        if old is not None:
            tables[name] = _sorted(pa.concat_tables([old.cast(table.schema), table]), measures[name])
    names = [f.name for f in INTERNAL_SCHEMA.fields if f.name != "release_id"]
    old_internal = carried_rows(lake, SUPPRESSIONS, prev_id, names, code)
    if old_internal is not None:
        internal = pa.concat_tables([old_internal.cast(internal.schema), internal])
    zones.update({k: v for k, v in zone_summaries(previous).items() if not k.startswith(f"{code}/")})
    return internal, prev_id


def run_monthly_stats(spark: SparkSession, settings: Settings, lake: Lake, month: str,
                      municipality: str | None = None, *, municipalities: Sequence[Municipality] | None = None,
                      catalogue: Catalogue | None = None, disclosure: DisclosureConfig | None = None,
                      progress: Progress | None = None) -> Release:
    say = progress or log.info
    jaar, maand = parse_month(month)
    catalogue = catalogue or CATALOGUE
    disclosure = (disclosure or load_disclosure()).with_min_vehicles(settings.disclosure.min_vehicles)
    munis = list(municipalities) if municipalities is not None else load_municipalities()
    code = resolve_municipality(municipality, munis) if municipality else None
    if not lake.exists(PASSAGES):
        raise RuntimeError("no passages table yet: run the stream first (`anpr stream --until-idle`)")
    version = lake.version(PASSAGES)
    specs = list(catalogue.tables.values())
    count_specs = [s for s in specs if s.protected]
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    say(f"==> building {len(count_specs)} count tables for {month}{f' ({code})' if code else ''} "
        f"from passages version {version}")
    merge = settings.passages.double_read_seconds
    rows = month_passages(lake.read(PASSAGES, version=version), jaar, maand, code, double_read_seconds=merge)
    fine_specs = count_specs
    cells, count_specs, built = build_cells(rows, lake, month, catalogue, count_specs, disclosure,
                                            sizes_for(disclosure, specs))
    seconds["build"] = time.perf_counter() - started
    _say_recoded(count_specs, say)
    if not cells.zones():
        raise RuntimeError(f"no passages in {month}{f' for {code}' if code else ''}: nothing to publish")
    say(f"    {cells.passages:,} passages in {len(cells.zones())} zone(s), {seconds['build']:.1f}s")
    # Every served release of the month counts: protect against them all (docs/statistics.md, "Revisions").
    config = _config(catalogue, disclosure, settings, munis)
    earlier = earlier_zones(lake, month, version, rows, cells, catalogue, count_specs, sizes_for(disclosure, specs),
                            code, double_read_seconds=merge, settings=cells_settings(config))
    seconds["earlier_releases"] = time.perf_counter() - started - seconds["build"]
    if earlier:
        say(f"    jointly with {max(len(e) for e in earlier.values())} earlier release(s) of {month}, "
            f"{seconds['earlier_releases']:.1f}s")
    say("==> disclosure control and audit per zone")
    sdc_started = time.perf_counter()
    # the month's first release (so no earlier ones) recodes for information loss after its first protection
    speculative = None if built is None else speculate(spark, built, (cells, count_specs), fine_specs, catalogue,
                                                        disclosure, jaar, maand)
    try:
        results = protect_all(spark, cells, catalogue, disclosure, say, earlier, jaar, maand)
        spent = list(results)
        if built is not None:
            (cells, count_specs, results), discarded = recode_for_loss(
                spark, built, (cells, count_specs, results), fine_specs, catalogue, disclosure, say, jaar, maand,
                speculative)
            spent = [*results, *discarded]
            del built
    finally:
        if speculative is not None and speculative.pending is not None:
            speculative.pending.cancel()
    recoded = recoding.recoded_in(count_specs)
    seconds["sdc_wall"] = time.perf_counter() - sdc_started
    seconds["protection"] = sum(r.seconds["protection"] for r in spent)
    seconds["audit"] = sum(r.seconds["audit"] for r in spent)
    published: dict[str, pa.Table] = {}
    internal = []
    all_parts = count_parts(count_specs, catalogue)
    for spec in count_specs:
        parts: list[CellPart] = [p for p in all_parts if p.table == spec.name]
        frame = table_rows(spec, catalogue, results, parts, disclosure, munis, jaar, maand)
        published[spec.name] = to_arrow(frame, spec_schema(spec, catalogue))
        internal.append(internal_rows(spec, results, parts, catalogue))
    scope = [m for m in munis if code is None or m.code == code]
    # The stream's anonymous counts (table 5.5): a month without any is an empty table, not an error.
    anonymous = any(spec.kind == "anonymous" for spec in specs)
    out_of_scope_version = lake.version(OUT_OF_SCOPE) if anonymous and lake.exists(OUT_OF_SCOPE) else None
    out_of_scope = read_month(lake, jaar, maand, out_of_scope_version) if anonymous else None
    for spec in specs:
        if spec.kind == "cameras":
            withheld = {(r.zone, camera) for r in results if r.summary.get("availability_withheld")
                        for camera in full_cameras(cells.camera_hours, r.zone)}
            frame = availability(cells.camera_hours, scope, withheld).assign(maand=maand, jaar=jaar)
            published[spec.name] = _sorted(to_arrow(frame.reindex(columns=spec.columns), spec_schema(spec, catalogue)),
                                           spec.measures)
        elif spec.kind == "anonymous" and out_of_scope is not None:
            frame = anonymous_rows(spec, catalogue.dimensions, out_of_scope, scope, jaar, maand)
            published[spec.name] = to_arrow(frame, spec_schema(spec, catalogue))
    internal_schema = StructType([f for f in INTERNAL_SCHEMA.fields if f.name != "release_id"])
    internal_table = to_arrow(pd.concat(internal, ignore_index=True), internal_schema)
    zones = {f"{r.gemeente}/{r.zone}": r.summary for r in results}
    sources: dict[str, object] = {PASSAGES: version}
    if out_of_scope_version is not None:
        sources[OUT_OF_SCOPE] = out_of_scope_version
    if code:
        sources["municipality"] = code  # the zones this release rebuilt; the others are carried
        measures = {name: catalogue.tables[name].measures for name in published}
        internal_table, carried_from = _carry(lake, month, code, published, measures, internal_table, zones)
        if carried_from:
            sources["carried_from"] = carried_from
    say("==> publishing a new release")
    publish_started = time.perf_counter()
    served = {s.name: s for s in [*specs, *count_specs]}  # the recoded spec where there is one
    release = publish(spark, lake, month, [(served[name], table) for name, table in published.items()],
                      sources, config, audit=merge_summaries(zones),
                      internal=internal_table, recoded=recoded)
    seconds["publish"] = time.perf_counter() - publish_started
    log.info("published release %s with %s", release.release_id, release.row_counts)
    return Release(release.release_id, release.month, release.row_counts, release.content_sha256, release.audit,
                   {k: round(v, 3) for k, v in seconds.items()}, release.source_versions)

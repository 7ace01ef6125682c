"""Published tables: declared in conf/tables.toml, checked against the seed's scenario 3, shared by jobs and API.

A declaration names dimensions by the working group's field names; each dimension comes from a source
column whose granularity this module knows (SOURCES), so a declaration cannot make a fine column look
coarse. Declarations falling in scenario 3 of seed 001 are refused with the rule they break.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from anpr.dimensions import FUEL_GROUP_ZERO_EMISSION, sbi_sectie_naam
from anpr.disclosure import load_disclosure
from anpr.settings import CONF_DIR

# Kept on every published row so the API can authorize per municipality and filter per zone: zoneId is
# the zone's NDW code (a number, the working group's field spec), zoneAanduiding the municipality's text id.
SCOPE = ["gemeenteCode", "zoneId", "zoneAanduiding"]
SCOPE_TYPES: dict[str, Literal["string", "int"]] = {"gemeenteCode": "string", "zoneId": "int",
                                                    "zoneAanduiding": "string"}
ZONE_LABEL = "zoneAanduiding"
# Label sources the published rows take from conf/municipalities, not from passages (jobs/stats/rows.py).
CONFIGURED_LABELS = ("camera_name", "zone_name", "zone_id")
# detectieRichting as the field spec publishes it, for the ingest contract's detection_direction (which
# suppliers keep sending as obverse/reverse).
DETECTION_NAMES = {"obverse": "Voorzijde", "reverse": "Achterzijde"}
# The data dictionary's English field names: snake_case (conf/tables.toml `en`).
ENGLISH = r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$"
# Count measures and the one-letter code the disclosure control uses for each.
COUNTS = {"aantalPassages": "P", "aantalRitten": "R", "aantalUniekeVoertuigen": "V"}
# Anonymous counts (kind "anonymous"): detections the stream dropped as out of scope, summed from its
# out_of_scope table (anpr/stream_tables.py), which holds no token, so they describe no vehicle or owner.
DETECTION_COUNTS = ("aantalDetectiesBuitenDoelgroep",)
# The out_of_scope table's cell columns an anonymous table may key by (week_dag from its event_date), and
# the configured labels it may carry; maand and jaar are the release's.
ANONYMOUS_SOURCES = ("camera_id", "rij_richting_zone", "week_dag", "uur", "camera_name", "zone_name")
ANONYMOUS_PROTECTION = (
    "No data about vehicles or owners: anonymous counts of detections the stream dropped as out of the "
    "municipality's scope (scenario 1 of seed 001), kept without any token, plate, observation id or register "
    "attribute, so no cell describes a vehicle; published as is. Duplicates are removed within a micro-batch "
    "only: a dropped read that a supplier re-delivers in a later micro-batch is counted again (docs/privacy.md, "
    "\"Data minimization\").")
# The kinds of table that count vehicles: built from passages, under disclosure control and the audit.
PROTECTED_KINDS = ("cells", "overview")
CONSTANTS = ("maand", "jaar")
OVERVIEW_DIMS = ("kenmerk", "waarde")
OVERVIEW_TOTAL = "totaal"
# Access layers of the vendor API, least to most privileged (seed 004: data offered in layers). A table's
# `access` names the least privileged layer that reads it; every layer above reads it too.
LAYERS = ("open", "vendor", "municipality")
Layer = Literal["open", "vendor", "municipality"]

SBI_LEVELS = ["sectie", "afdeling", "groep", "klasse", "subklasse"]
REGION_LEVELS = ["land", "landsdeel", "provincie", "nuts3", "gemeente", "wijk", "postcode4", "buurt",
                 "postcode6", "adres"]
TIME_LEVELS = ["jaar", "maand", "week", "weekdag", "dag", "dagdeel", "venstertijd", "uur", "kwartier",
               "minuut", "seconde", "moment"]
EXEMPTION_LEVELS = ["heeft", "soort", "reden"]
OPEN_FINEST_TIME = TIME_LEVELS.index("dagdeel")  # open tables: no camera, nothing finer than the day part


class DeclarationError(ValueError):
    """A table declaration the platform refuses to build."""


@dataclass(frozen=True)
class Source:
    """per: "passage" varies between one vehicle's passages; "vehicle" is fixed per vehicle and month
    (per zone for type_bezoeker), so unique vehicles add up over it; "camera"/"label" describe cells."""

    per: Literal["passage", "vehicle", "camera", "label", "identifier"]
    kind: str = ""
    level: str = ""
    in_passages: bool = True


SOURCES: dict[str, Source] = {
    "camera_id": Source("passage", "camera"),
    "rij_richting_zone": Source("passage"),
    "week_dag": Source("passage", "time", "weekdag"),
    "dag_type": Source("passage", "time", "weekdag"),
    "week_van_maand": Source("passage", "time", "week"),
    "event_date": Source("passage", "time", "dag"),
    "tijd_vak": Source("passage", "time", "dagdeel"),
    "venster_tijd": Source("passage", "time", "venstertijd"),
    "uur": Source("passage", "time", "uur"),
    "minuut": Source("passage", "time", "minuut", in_passages=False),
    "event_ts": Source("passage", "time", "moment"),
    "voertuig_type": Source("vehicle"),
    "brandstof": Source("vehicle"),
    "emissieklasse": Source("vehicle"),
    "carrosserie": Source("vehicle"),
    "eigenaar_type": Source("vehicle"),
    "bedrijfsgrootte": Source("vehicle"),
    # access and exemptions hold on the day of the passage (streaming/enrich.py), so they vary per passage
    "ze_toegang": Source("passage"),
    # the day access ends is the vehicle's (its type, Euro class, first admission): fixed per month
    "ze_toegang_tot": Source("vehicle"),
    "ontheffing": Source("passage", "exemption", "soort"),
    "ontheffing_reden": Source("vehicle", "exemption", "reden", in_passages=False),
    "sbi_sectie": Source("vehicle", "sbi", "sectie"),
    # derived in the monthly build from brandstof (jobs/stats/tables/enrich.py), for global recoding
    "brandstof_groep": Source("vehicle", "fuel", "brandstofgroep"),
    "sbi_groep_code": Source("vehicle", "sbi", "afdeling"),  # the division (conf/register.toml [sbi])
    "sbi_code": Source("vehicle", "sbi", "subklasse", in_passages=False),
    "herkomst_provincie": Source("vehicle", "region", "provincie"),
    "herkomst_nuts3": Source("vehicle", "region", "nuts3"),
    "herkomst_gemeente": Source("vehicle", "region", "gemeente", in_passages=False),
    "herkomst_postcode4": Source("vehicle", "region", "postcode4", in_passages=False),
    "type_bezoeker": Source("vehicle"),
    "sbi_groep_omschrijving": Source("label"),
    "camera_name": Source("label"),
    "zone_name": Source("label"),
    "zone_id": Source("label"),
    "latitude": Source("camera"),
    "longitude": Source("camera"),
    "azimuth_deg": Source("camera"),
    "detection_direction": Source("camera"),
    "maand": Source("label", "time", "maand"),
    "jaar": Source("label", "time", "jaar"),
    "period_token": Source("identifier"),
    "company_token": Source("identifier"),
    "observation_id": Source("identifier"),
}
# Hidden keys: a table keyed by the right-hand columns can be summed into the left-hand one by
# anyone who knows the published day parts, time windows and day types; the audit links tables through them.
DERIVABLE = {"tijd_vak": ("uur",), "venster_tijd": ("week_dag", "uur"), "dag_type": ("week_dag",),
             "sbi_sectie": ("sbi_groep_code",), "brandstof_groep": ("brandstof",)}


@dataclass(frozen=True)
class Recode:
    """One step up a public classification: codes of `fine` published as the code of `coarse` they lie in
    (a function of fine, so anyone can sum fine cells into coarse ones), in the same column."""

    coarse: str  # source column of the level above
    level: str  # its name, as release metadata states it
    name: Callable[[str], str | None]  # the label of a coarse code (None: the code is its own label)
    fine_level: str  # the level of the fine column, as the metadata names it
    definition: str  # what the column holds in a release that publishes the coarse level
    label_definition: str  # what its label holds then
    described: str  # what the protection text says the recoded column holds ({dim}: the column)
    # added to the column's definition where recoding may apply ({dim}: the column), and to its label's
    may: str = ""
    label_may: str = ""


# Global recoding (docs/statistics.md, "Global recoding"): SBI 2008 afdelingen (divisions) into sections, and
# fuels into fuel groups (the zero-emission fuels of conf/register.toml [brandstof] emissievrij together). The
# day part and day type are published as tables of their own (4.2, 5.2) and the province beside NUTS3 (4.4).
RECODES = {"sbi_groep_code": Recode(
    "sbi_sectie", "sectie", sbi_sectie_naam, "afdeling",
    "SBI 2008 sectie (section, a letter A-U) of the owning company: this release publishes the table one level "
    "up from the afdeling (global recoding before suppression); Onbekend for private, foreign or unknown owners.",
    "The statistics office's name of the SBI 2008 sectie in SBI08GroepCode (this release publishes sections).",
    "{dim} at the SBI 2008 sectie instead of the afdeling (its label the section's name)",
    "In a release that publishes the table recoded (GET /v1/releases `recoded`: {dim} sectie) it holds the SBI "
    "2008 sectie (a letter A-U) instead, for every zone of that month.",
    "The section's name where the release publishes sections."),
    "brandstof": Recode(
    "brandstof_groep", "brandstofgroep", lambda code: None, "brandstof",
    f"Fuel group of the vehicle's main fuel: {FUEL_GROUP_ZERO_EMISSION} for the zero-emission fuels "
    "(Elektriciteit, Waterstof), every other fuel as itself; this release publishes the table one level up from "
    "the fuel (global recoding before suppression); Onbekend when unknown.",
    "", f"{{dim}} in fuel groups instead of fuels ({FUEL_GROUP_ZERO_EMISSION} for Elektriciteit and Waterstof)",
    "In a release that publishes the table recoded (GET /v1/releases `recoded`: {dim} brandstofgroep) it holds "
    f"the fuel group instead ({FUEL_GROUP_ZERO_EMISSION} for Elektriciteit and Waterstof, every other fuel as "
    "itself), for every zone of that month.")}
BUILT_IN = {"maand": "maand", "jaar": "jaar", "kenmerk": "", "waarde": ""}


class Dimension(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    # English name; optional here, but every column of a declared table needs one (_check_english)
    en: str | None = Field(default=None, pattern=ENGLISH)
    label_of: str | None = None
    fill: str | None = None
    type: Literal["string", "int", "double"] = "string"
    definition: str = ""
    kind: str | None = None  # only for sources the code does not know; must agree with SOURCES otherwise
    level: str | None = None


class TableDecl(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    number: str
    title: str
    purpose: str = Field(min_length=1)
    unit: Literal["voertuig en eigenaar", "detectie", "geen"]
    kind: Literal["cells", "overview", "cameras", "anonymous"] = "cells"
    access: Layer = "vendor"
    dimensions: list[str]
    measures: list[str] = Field(min_length=1)
    characteristics: list[str] = Field(default_factory=list)


class Definitions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rit_max_gap_minuten: int = Field(gt=0)
    bezoeker_incidenteel_min_dagen: int = Field(ge=2)
    bezoeker_dagelijks_min_dagen: int = Field(ge=2)
    beschikbaarheid_min_zone_passages: int = Field(ge=1)

    @model_validator(mode="after")
    def _visitor_types_in_order(self) -> Definitions:
        # Eenmalig < Incidenteel < Dagelijks by days seen: the audit bounds each type's days by the next one's
        # threshold (jobs/stats/sdc/links.py day_rows), and a Dagelijks threshold at or below Incidenteel's
        # would leave no vehicle Incidenteel
        if self.bezoeker_dagelijks_min_dagen <= self.bezoeker_incidenteel_min_dagen:
            raise ValueError(f"bezoeker_dagelijks_min_dagen ({self.bezoeker_dagelijks_min_dagen}) must exceed "
                             f"bezoeker_incidenteel_min_dagen ({self.bezoeker_incidenteel_min_dagen})")
        return self


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str | None = Field(default=None, pattern=ENGLISH)
    definition: str = ""


class FieldName(BaseModel):
    """A field on every row (SCOPE) or built in (maand, jaar, kenmerk, waarde): its English name."""

    model_config = ConfigDict(extra="forbid")
    en: str = Field(pattern=ENGLISH)


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    definitions: Definitions
    fields: dict[str, FieldName] = Field(default_factory=dict)
    measures: dict[str, Measure] = Field(default_factory=dict)
    dimensions: dict[str, Dimension]
    tables: list[TableDecl]

    def english(self, name: str) -> str | None:
        """The English name of field `name` (dimension, measure, or [fields]), None if undeclared."""
        for declared in (self.dimensions, self.measures, self.fields):
            if name in declared:
                return declared[name].en
        return None


@dataclass(frozen=True)
class TableSpec:
    name: str
    number: str
    title: str
    dimensions: list[str]
    measures: list[str]
    definitions: dict[str, str] = field(default_factory=dict)
    protection: str = ""
    purpose: str = ""
    unit: str = ""
    kind: str = "cells"
    # source column of each key dimension (labels and maand/jaar excluded), in declaration order
    keys: dict[str, str] = field(default_factory=dict)
    characteristics: list[str] = field(default_factory=list)
    access: str = "vendor"  # the least privileged layer (LAYERS) that reads the table
    english: dict[str, str] = field(default_factory=dict)  # column -> its English name (the data dictionary's)
    recoded: dict[str, str] = field(default_factory=dict)  # dimension -> the coarser level it is published at
    labels: dict[str, str] = field(default_factory=dict)  # label column -> the dimension it names
    # the sentence of `protection` saying which dimensions global recoding may publish a level up, if any
    recoding_note: str = ""

    def names(self, convention: str) -> dict[str, str]:
        """Column -> its name in `convention`: "nl" (the working group's camelCase) or "en" (snake_case)."""
        return dict(self.english) if convention == "en" else {c: c for c in self.columns}

    @property
    def part_name(self) -> str:
        """The name of its block of cells: a recoded table's differs from the table's own."""
        return "@".join([self.name, *(f"{d}={lv}" for d, lv in sorted(self.recoded.items()))])

    def recode(self, fine_sources: Collection[str]) -> TableSpec | None:
        """This table one level up for every key whose source is in fine_sources (and RECODES); None if
        it has no such key."""
        keys = {d: s for d, s in self.keys.items() if s in fine_sources and s in RECODES}
        if not keys or self.kind != "cells" or self.recoded:
            return None
        recoded = {d: RECODES[s].level for d, s in keys.items()}
        said = "; ".join(f"{d} holds codes of level {lv}" for d, lv in sorted(recoded.items()))
        definitions = dict(self.definitions)
        for d, s in keys.items():
            definitions[d] = RECODES[s].definition
            definitions.update({label: RECODES[s].label_definition for label, of in self.labels.items() if of == d})
        base = self.protection.removesuffix(self.recoding_note).strip()
        return replace(self, keys={d: RECODES[s].coarse if d in keys else s for d, s in self.keys.items()},
                       recoded=recoded, definitions=definitions, recoding_note="",
                       protection=f"{base} Recoded before suppression: {said}.".strip())

    def with_recoding_note(self, hierarchies: Collection[str], max_primary_share: float,
                           max_passages_share: float = 1.0) -> TableSpec:
        """This table with a sentence on the global recoding conf/disclosure.toml [recoding] may apply to it
        (none if it has no key in `hierarchies`, or recoding is off)."""
        keys = {d: s for d, s in self.keys.items() if s in hierarchies and s in RECODES}
        if not keys or self.kind != "cells" or min(max_primary_share, max_passages_share) >= 1.0:
            return self
        dims = ", ".join(RECODES[s].described.format(dim=d) for d, s in sorted(keys.items()))
        when = [f"the primary rules would suppress more than {max_primary_share:.0%} of its cells over all zones"
                ] if max_primary_share < 1.0 else []
        when += [f"protecting it as is puts more than {max_passages_share:.0%} of a zone's passages in its "
                 "suppressed cells (and recoding hides fewer passages in all)"] if max_passages_share < 1.0 else []
        note = (f"Global recoding before suppression: in a month where {', or where '.join(when)}, the table is "
                f"published with {dims}, for every zone and release of that month; GET /v1/releases "
                "names such releases under `recoded`, and GET /v1/tables/{table}?release= describes the table as "
                "a given release publishes it.")
        definitions = dict(self.definitions)
        for d, s in keys.items():
            definitions[d] = f"{definitions.get(d, '')} {RECODES[s].may.format(dim=d)}".strip()
            for label in (label for label, of in self.labels.items() if of == d):
                definitions[label] = f"{definitions.get(label, '')} {RECODES[s].label_may}".strip()
        return replace(self, protection=f"{self.protection} {note}".strip(), recoding_note=note,
                       definitions=definitions)

    def served_to(self, layer: str) -> bool:
        """Whether the access layer `layer` (one of LAYERS) reads this table."""
        return LAYERS.index(self.access) <= LAYERS.index(layer)

    @property
    def columns(self) -> list[str]:
        return [*SCOPE, *self.dimensions, *self.measures]

    @property
    def protected(self) -> bool:
        """Whether it counts vehicles: built from passages, under disclosure control and the audit. Tables
        without vehicle data (cameras, anonymous detection counts) are published as is."""
        return self.kind in PROTECTED_KINDS

    @property
    def counts(self) -> list[str]:
        """The disclosure-control codes (P, R, V) of the count measures this table publishes."""
        return [COUNTS[m] for m in self.measures if m in COUNTS]


@dataclass(frozen=True)
class Catalogue:
    tables: dict[str, TableSpec]
    dimensions: dict[str, Dimension]
    definitions: Definitions

    def fills(self) -> dict[str, str]:
        """Source column -> category for its missing values; a recoding's coarse column takes its fine one's."""
        out = {d.source: d.fill for d in self.dimensions.values() if d.fill is not None}
        return {**{RECODES[s].coarse: f for s, f in out.items() if s in RECODES}, **out}


def _rank(levels: list[str], level: str, what: str) -> int:
    if level not in levels:
        raise DeclarationError(f"unknown {what} level {level!r}; levels coarse to fine: {', '.join(levels)}")
    return levels.index(level)


def _classify(name: str, dim: Dimension) -> Source:
    known = SOURCES.get(dim.source)
    if known is None:
        return Source("passage" if dim.kind == "time" else "vehicle", dim.kind or "", dim.level or "",
                      in_passages=False)
    if (dim.kind and dim.kind != known.kind) or (dim.level and dim.level != known.level):
        raise DeclarationError(f"dimension {name}: source {dim.source} is {known.kind or 'plain'}/"
                               f"{known.level or '-'}, not the declared {dim.kind}/{dim.level}")
    return known


def scenario3_violations(table: TableDecl, dims: dict[str, Dimension], sbi_max_level: str) -> list[str]:
    """The seed's scenario-3 rules this declaration breaks, each message naming its rule."""
    found = []
    sources = {}
    named = [*table.dimensions, *table.characteristics]
    for name in named:
        if name in BUILT_IN:
            continue
        if name not in dims:
            raise DeclarationError(f"table {table.name}: dimension {name!r} is not declared under [dimensions]")
        sources[name] = _classify(name, dims[name])
    max_sbi = _rank(SBI_LEVELS, sbi_max_level, "SBI")
    for name, src in sources.items():
        where = f"table {table.name}, dimension {name} ({dims[name].source})"
        if src.per == "identifier":
            found.append(f"scenario 3 [identifier]: {where} would key cells by one vehicle or owner")
        elif src.kind == "exemption" and _rank(EXEMPTION_LEVELS, src.level, "exemption") >= 2:
            found.append(f"scenario 3 [exemption-reason]: {where}: exemptions are published only as "
                         "has/has-not and temporary/long-term, never the reason")
        elif src.kind == "sbi" and _rank(SBI_LEVELS, src.level, "SBI") > max_sbi:
            found.append(f"scenario 3 [sbi-too-fine]: {where} is SBI {src.level}, finer than the configured "
                         f"{sbi_max_level}")
        elif src.kind == "region" and _rank(REGION_LEVELS, src.level, "region") > REGION_LEVELS.index("nuts3"):
            found.append(f"scenario 3 [region-too-fine]: {where} is {src.level}, finer than NUTS3")
        elif src.kind == "time" and _rank(TIME_LEVELS, src.level, "time") > TIME_LEVELS.index("uur"):
            found.append(f"scenario 3 [time-too-fine]: {where} is {src.level}, finer than the hour")
    minute = TIME_LEVELS.index("minuut")
    cameras = [n for n, s in sources.items() if s.kind == "camera" and not dims[n].label_of]
    fine = [n for n, s in sources.items() if s.kind == "time" and TIME_LEVELS.index(s.level) >= minute]
    if cameras and fine:
        found.append(f"scenario 3 [camera-minute]: table {table.name} keys cells by a single camera "
                     f"({cameras[0]}) and minute ({fine[0]})")
    unbuildable = [n for n, s in sources.items() if not s.in_passages]
    if unbuildable and not found:
        found.append(f"table {table.name}: no passage column for {unbuildable}; the platform cannot build it")
    return found


def open_violations(table: TableDecl, dims: dict[str, Dimension]) -> list[str]:
    """Why a table declared `access = "open"` is too fine for the open layer, which anyone reads without a
    key: a breakdown by camera, or by time finer than the day part."""
    found = []
    for name in table.dimensions:
        if name in BUILT_IN or dims[name].label_of:
            continue
        src = _classify(name, dims[name])
        if src.kind == "camera" or (src.kind == "time" and TIME_LEVELS.index(src.level) > OPEN_FINEST_TIME):
            found.append(f"table {table.name}: an open table is coarse, but {name} breaks it down by "
                         f"{'camera' if src.kind == 'camera' else src.level}")
    return found


def anonymous_violations(table: TableDecl, dims: dict[str, Dimension]) -> list[str]:
    """Why a table declared `kind = "anonymous"` cannot come from the stream's out_of_scope counts: a measure
    other than DETECTION_COUNTS (vehicle counts need vehicles, which that table never holds), a dimension it
    lacks, or a unit other than the detection."""
    found = []
    wrong = [m for m in table.measures if m not in DETECTION_COUNTS]
    if wrong:
        found.append(f"table {table.name}: an anonymous table counts detections without vehicle identity, so "
                     f"{', '.join(wrong)} cannot be among its measures (only {', '.join(DETECTION_COUNTS)})")
    lacking = [n for n in table.dimensions
               if n not in BUILT_IN and n in dims and dims[n].source not in ANONYMOUS_SOURCES]
    if lacking:
        found.append(f"table {table.name}: an anonymous table comes from the out_of_scope table, which has no "
                     f"{', '.join(f'{n} ({dims[n].source})' for n in lacking)}")
    if table.unit != "detectie":
        found.append(f"table {table.name}: an anonymous table counts detections (unit = \"detectie\")")
    return found


def measure_type(name: str) -> Literal["int", "double"]:
    """The type of a measure's values: counts (COUNTS, DETECTION_COUNTS) are whole numbers."""
    return "int" if name in COUNTS or name in DETECTION_COUNTS else "double"


def _check_table(table: TableDecl, dims: dict[str, Dimension], sbi_max_level: str) -> None:
    problems = scenario3_violations(table, dims, sbi_max_level)
    if table.access == "open":
        problems += open_violations(table, dims)
    if table.kind == "overview" and list(OVERVIEW_DIMS) != [d for d in table.dimensions if d in OVERVIEW_DIMS]:
        problems.append(f"table {table.name}: an overview has the dimensions kenmerk and waarde")
    if table.kind == "anonymous":
        problems += anonymous_violations(table, dims)
    counts = [m for m in table.measures if m in COUNTS]
    if table.kind in PROTECTED_KINDS and (not counts or len(counts) != len(table.measures)):
        problems.append(f"table {table.name}: measures must be among {sorted(COUNTS)}")
    if counts and table.unit != "voertuig en eigenaar":
        problems.append(f"table {table.name}: a table of counts protects vehicles and owners "
                        "(unit = \"voertuig en eigenaar\")")
    for name in table.dimensions:
        label_of = dims[name].label_of if name in dims else None
        if label_of and label_of not in [*SCOPE, *table.dimensions]:
            problems.append(f"table {table.name}: label {name} names {label_of}, which the table lacks")
    if problems:
        raise DeclarationError("; ".join(problems))


def _check_english(table: TableDecl, cat: CatalogueFile) -> None:
    """Every column of the table has an English name, and no two the same one."""
    columns = [*SCOPE, *table.dimensions, *table.measures]
    missing = [c for c in columns if cat.english(c) is None]
    if missing:
        raise DeclarationError(f"table {table.name}: no English name (en) for {', '.join(missing)}; declare it "
                               "under [dimensions], [measures] or [fields]")
    seen: dict[str, str] = {}
    for column in columns:
        en = cat.english(column) or ""
        if seen.setdefault(en, column) != column:
            raise DeclarationError(f"table {table.name}: {seen[en]} and {column} share the English name {en}")


def _spec(table: TableDecl, cat: CatalogueFile, protection: str) -> TableSpec:
    dims = cat.dimensions
    keys = {n: dims[n].source for n in table.dimensions
            if n in dims and not dims[n].label_of and n not in BUILT_IN}
    definitions = {m: cat.measures[m].definition if m in cat.measures else "" for m in table.measures}
    for name in [*table.dimensions, *table.characteristics]:
        if name in dims and dims[name].definition:
            definitions[name] = dims[name].definition
    return TableSpec(name=table.name, number=table.number, title=table.title, dimensions=list(table.dimensions),
                     measures=list(table.measures), definitions={k: v for k, v in definitions.items() if v},
                     protection=protection, purpose=table.purpose, unit=table.unit, kind=table.kind, keys=keys,
                     characteristics=list(table.characteristics), access=table.access,
                     labels={n: dims[n].label_of or "" for n in table.dimensions if n in dims and dims[n].label_of},
                     english={c: cat.english(c) or "" for c in [*SCOPE, *table.dimensions, *table.measures]})


def parse_catalogue(text: str, sbi_max_level: str = "groep",
                    protection: Callable[[str, list[str]], str] | None = None,
                    recoding: tuple[Collection[str], float] | tuple[Collection[str], float, float] | None = None
                    ) -> Catalogue:
    """A validated catalogue from tables.toml text; DeclarationError on any refused declaration.

    protection(name, counts) describes a table's disclosure control for vendors (from conf/disclosure.toml);
    recoding, (hierarchies, max_primary_share[, max_passages_share]) of its [recoding], adds what global
    recoding may do to a table.
    """
    cat = CatalogueFile.model_validate(tomllib.loads(text))
    names = [t.name for t in cat.tables]
    if len(set(names)) != len(names):
        raise DeclarationError(f"table names must be unique: {names}")
    fills: dict[str, str] = {}
    for name, dim in cat.dimensions.items():
        if dim.fill is not None and fills.setdefault(dim.source, dim.fill) != dim.fill:
            raise DeclarationError(f"dimension {name}: source {dim.source} has two fills")
    label = cat.dimensions.get(ZONE_LABEL)
    if label is None or label.label_of != "zoneId":
        raise DeclarationError(f"dimension {ZONE_LABEL} (on every row) must be declared with label_of = \"zoneId\"")
    for table in cat.tables:
        _check_table(table, cat.dimensions, sbi_max_level)
        _check_english(table, cat)
    specs = {t.name: _spec(t, cat, "") for t in cat.tables}
    if protection is not None:
        specs = {name: replace(spec, protection=protection(name, spec.counts)) for name, spec in specs.items()}
    if recoding is not None:
        specs = {name: spec.with_recoding_note(*recoding) for name, spec in specs.items()}
    # Not the disclosure control's text: these counts never held a vehicle to protect.
    specs = {name: replace(spec, protection=ANONYMOUS_PROTECTION) if spec.kind == "anonymous" else spec
             for name, spec in specs.items()}
    return Catalogue(specs, cat.dimensions, cat.definitions)


def load_catalogue(conf_dir: Path = CONF_DIR) -> Catalogue:
    path = conf_dir / "tables.toml"
    disclosure = load_disclosure(conf_dir)
    try:
        return parse_catalogue(path.read_text(), disclosure.declarations.sbi_max_level, disclosure.describe,
                               (disclosure.recoding.hierarchies, disclosure.recoding.max_primary_share,
                                disclosure.recoding.max_passages_share))
    except DeclarationError as exc:
        raise DeclarationError(f"{path}: {exc}") from None


CATALOGUE = load_catalogue()
TABLES: dict[str, TableSpec] = CATALOGUE.tables


def layer_tables(layer: str) -> list[str]:
    """The tables the access layer `layer` (one of LAYERS) reads, in catalogue order."""
    return [name for name, spec in TABLES.items() if spec.served_to(layer)]

"""Register CSV files -> pseudonymized Arrow tables, ready for jobs.register.history.

RDW open-data exports are read by their column names, as the API spells them (`datum_eerste_toelating`)
or as the CSV export shows them (`Datum eerste toelating`): headers are normalized. Separators `,` `;`
or tab, a UTF-8 byte-order mark, empty fields, yyyymmdd dates and several fuel rows per plate are all
tolerated; placeholders (`Niet geregistreerd`, `N.V.t.`) are missing values. Malformed rows, values
that do not parse (dates, masses, SBI codes, KvK numbers) and rows of a key repeated with other
values are rejected, counted per reason with their line numbers (jobs/register/checks.py); a row
whose line holds a line break inside a quoted value shifts the numbers of the rows after it.
Plates and KvK numbers live only in memory here:
each reader returns keys, never the plate, and no error message quotes a value from a file.
The formats of the non-public files are documented in docs/register.md.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from anpr import dimensions as D
from anpr.pseudonym import company_key, normalize_plate, vehicle_key
from anpr.register_conf import RegisterConf
from anpr.register_tables import UTC_US, local_midnight
from jobs.register.checks import LINE, Duplicates, duplicate_rows, mass_kg, null_placeholders, sbi_code, unparsed
from jobs.register.history import FIRST_FROM

VEHICLE_COLUMNS = ["kenteken", "voertuigsoort", "europese_voertuigcategorie", "inrichting", "datum_eerste_toelating",
                   "massa_rijklaar", "toegestane_maximum_massa_voertuig", "merk"]
FUEL_COLUMNS = ["kenteken", "brandstof_volgnummer", "brandstof_omschrijving", "emissiecode_omschrijving",
                "uitlaatemissieniveau"]
BODY_COLUMNS = ["kenteken", "carrosserie_volgnummer", "carrosserietype", "type_carrosserie_europese_omschrijving"]
OWNER_COLUMNS = ["kenteken", "land", "datum_aanvang", "datum_einde", "soort_eigenaar", "kvk_nummer", "postcode4"]
COMPANY_COLUMNS = ["kvk_nummer", "sbi_code", "werkzame_personen"]
REGION_COLUMNS = ["postcode4", "gemeente_code", "gemeente_naam", "nuts3_code", "nuts3_naam", "provincie_code",
                  "provincie_naam"]
EXEMPTION_COLUMNS = ["kenteken", "land", "gemeente_code", "soort", "geldig_vanaf", "geldig_tot_en_met"]


class RegisterFileError(ValueError):
    """A register file cannot be read; the message names the file and columns, never a value."""


@dataclass
class Read:
    """Rows read (with their LINE while being checked) and the rejected ones: count and lines per reason."""

    table: pa.Table
    rejected: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)
    duplicates: Duplicates = field(default_factory=Duplicates)

    def reject(self, keep: pa.Array, reason: str) -> None:
        keep = pc.fill_null(keep, False)
        dropped = len(keep) - int(pc.sum(pc.cast(keep, pa.int64())).as_py() or 0)
        if dropped:
            self.rejected += dropped
            self.reasons[reason] = self.reasons.get(reason, 0) + dropped
            if LINE in self.table.column_names:
                gone = self.table[LINE].filter(pc.invert(keep)).to_pylist()
                self.lines[reason] = sorted([*self.lines.get(reason, []), *gone])
            self.table = self.table.filter(keep)

    def reject_unparsed(self, raw: pa.Array | pa.ChunkedArray, parsed: pa.Array | pa.ChunkedArray,
                        column: str) -> None:
        self.reject(pc.invert(unparsed(raw, parsed)), f"bad {column}")

    def dedupe(self, keys: Sequence[str], label: str) -> Duplicates:
        """Keys on several lines: identical rows kept once, differing ones all rejected (see checks.py)."""
        keep, conflict, found = duplicate_rows(self.table, keys)
        self.duplicates = found
        if found.keys:
            self.reject(pc.invert(conflict), f"{label} on several lines with differing values")
            self.reject(keep.filter(pc.invert(conflict)), f"repeats an identical row of its {label}")
        return found

    def without_lines(self) -> pa.Table:
        return self.table.drop_columns([LINE]) if LINE in self.table.column_names else self.table


def normalize_header(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", name.replace("\ufeff", "").strip().lower()).strip("_")


def read_csv(path: Path, wanted: Sequence[str], required: Sequence[str]) -> Read:
    """The wanted columns as text (missing optional ones null); rows that do not parse are skipped."""
    with path.open(encoding="utf-8-sig", errors="replace") as f:
        header = f.readline()
    delimiter = max([",", ";", "\t"], key=header.count)
    names = [normalize_header(h.strip().strip('"')) for h in header.rstrip("\r\n").split(delimiter)]
    missing = [c for c in required if c not in names]
    if missing:
        # The header is not echoed: in a file without one, the first line holds a plate.
        raise RegisterFileError(f"{path.name}: missing column(s) {missing}; the first line must be a header "
                                "naming the columns (docs/register.md)")
    malformed: list[int] = []

    def skip(row: pacsv.InvalidRow) -> str:  # the row's text may hold a plate: count it, never show it
        malformed.append(row.number if row.number is not None else 0)
        return "skip"

    present = [c for c in wanted if c in names]
    try:
        table = pacsv.read_csv(
            path,
            # One thread: an invalid row's line number is known only then.
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=names, encoding="utf8", use_threads=False),
            # Blank lines are kept as rows, so that the rows' positions give their lines.
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=skip, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 include_columns=present, null_values=[""],
                                                 strings_can_be_null=True, quoted_strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise RegisterFileError(f"{path.name}: not a readable CSV file ({type(exc).__name__})") from None
    for c in wanted:
        if c not in present:
            table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
    table = pa.table({c: null_placeholders(table[c]) for c in wanted})
    read = Read(table.append_column(LINE, row_lines(table.num_rows, malformed)))
    if malformed:
        read.rejected, read.reasons, read.lines = len(malformed), {"malformed row": len(malformed)}, {
            "malformed row": sorted(malformed)}
    filled = [pc.is_valid(table[c]) for c in present] or [pa.repeat(pa.scalar(False), table.num_rows)]
    any_value = filled[0]
    for column in filled[1:]:
        any_value = pc.or_(any_value, column)
    read.reject(any_value, "blank line or no value in the columns read")
    return read


def row_lines(rows: int, skipped: Sequence[int]) -> pa.Array:
    """Line of each row read after the header, given the lines of the rows skipped as malformed."""
    excluded = np.array(sorted([1, *skipped]), dtype=np.int64)
    wanted = np.arange(1, rows + 1, dtype=np.int64)  # the row is the n-th line not excluded
    before = np.searchsorted(excluded - np.arange(len(excluded)), wanted, side="right")
    return pa.array(wanted + before, pa.int64())


# -- pseudonyms ---------------------------------------------------------------------------------------

def plate_keys(pepper: bytes, plates: pa.Array | pa.ChunkedArray, countries: pa.Array | None = None) -> pa.Array:
    """vehicle_key per row (country default NL); null where the plate is empty after normalization."""
    lands = countries.to_pylist() if countries is not None else [None] * len(plates)
    return pa.array([
        vehicle_key(pepper, p, c or "NL") if p and normalize_plate(p, c or "NL") else None
        for p, c in zip(plates.to_pylist(), lands, strict=True)
    ], pa.string())


def kvk_digits(text: object) -> str | None:
    digits = re.sub(r"\D", "", str(text)) if text is not None else ""
    return digits.zfill(8) if 1 <= len(digits) <= 8 else None


def company_keys(pepper: bytes, kvk: pa.Array | pa.ChunkedArray) -> pa.Array:
    return pa.array([None if d is None else company_key(pepper, d) for d in map(kvk_digits, kvk.to_pylist())],
                    pa.string())


def _norm_plate(plates: pa.ChunkedArray | pa.Array) -> pa.Array:
    return pc.replace_substring_regex(pc.utf8_upper(D.clean_text(plates)), "[^0-9A-Z]", "")


def _dates(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    return D.map_distinct(values, D.parse_date, pa.date32())


def _ints(values: pa.ChunkedArray | pa.Array, parse=D.parse_int) -> pa.Array:  # noqa: ANN001
    return D.map_distinct(values, parse, pa.int64())


# -- RDW vehicles ---------------------------------------------------------------------------------------

def fuel_summary(fuel: pa.Table) -> pa.Table:
    """plate -> fuel profile ("Benzine|Elektriciteit", by brandstof_volgnummer) and its highest Euro class."""
    rows = pa.table({
        "plate": _norm_plate(fuel["kenteken"]),
        "order": pc.fill_null(_ints(fuel["brandstof_volgnummer"]), 99),
        "fuel": D.clean_text(fuel["brandstof_omschrijving"]),
        "euro": pc.coalesce(D.map_distinct(fuel["emissiecode_omschrijving"], D.parse_euro, pa.int8()),
                            D.map_distinct(fuel["uitlaatemissieniveau"], D.parse_euro, pa.int8())),
    })
    rows = rows.filter(pc.and_(pc.fill_null(pc.not_equal(rows["plate"], ""), False), pc.is_valid(rows["fuel"])))
    rows = rows.sort_by([("plate", "ascending"), ("order", "ascending")])
    grouped = rows.group_by("plate", use_threads=False).aggregate([("fuel", "list"), ("euro", "max")])
    return pa.table({"plate": grouped["plate"],
                     "fuels": pc.binary_join(grouped["fuel_list"], D.FUEL_SEPARATOR),
                     "euro": grouped["euro_max"]})


def body_summary(body: pa.Table) -> pa.Table:
    rows = pa.table({"plate": _norm_plate(body["kenteken"]),
                     "order": pc.fill_null(_ints(body["carrosserie_volgnummer"]), 99),
                     "code": body["carrosserietype"],
                     "omschrijving": body["type_carrosserie_europese_omschrijving"]})
    rows = rows.sort_by([("plate", "ascending"), ("order", "ascending")])
    firsts = rows.group_by("plate", use_threads=False).aggregate([("code", "first"), ("omschrijving", "first")])
    return firsts.rename_columns(["plate", "code", "omschrijving"])


def derive_vehicles(v: pa.Table, conf: RegisterConf, timezone: str) -> pa.Table:
    """RDW-shaped columns (+ fuels, euro, code, omschrijving) -> the vehicles table's attributes and first_from."""
    admitted = v["datum_eerste_toelating"]
    if not pa.types.is_date32(admitted.type):
        admitted = _dates(admitted)
    max_mass = pc.cast(v["toegestane_maximum_massa_voertuig"], pa.int64()) \
        if pa.types.is_integer(v["toegestane_maximum_massa_voertuig"].type) \
        else _ints(v["toegestane_maximum_massa_voertuig"])
    ready_mass = v["massa_rijklaar"] if pa.types.is_integer(v["massa_rijklaar"].type) else _ints(v["massa_rijklaar"])
    return pa.table({
        "voertuig_type": D.voertuig_type(v["europese_voertuigcategorie"], v["voertuigsoort"], max_mass, conf),
        "europese_voertuigcategorie": pc.utf8_upper(D.clean_text(v["europese_voertuigcategorie"])),
        "brandstof": D.brandstof(v["fuels"], conf),
        "emissieklasse": D.emissieklasse(v["fuels"], v["euro"], conf),
        "carrosserie": D.carrosserie(v["code"], v["omschrijving"], v["inrichting"], conf),
        "datum_eerste_toelating": admitted,
        "massa_rijklaar": pc.cast(ready_mass, pa.int32()),
        "toegestane_maximum_massa": pc.cast(max_mass, pa.int32()),
        "merk": D.clean_text(v["merk"]),
        FIRST_FROM: local_midnight(admitted, timezone),
    })


def rdw_vehicles(vehicles: Read, fuel: Read, body: Read, pepper: bytes, conf: RegisterConf,
                 timezone: str) -> Read:
    """The three RDW exports -> one row per vehicle_key with derived dimensions."""
    out = Read(vehicles.table.append_column("plate", _norm_plate(vehicles.table["kenteken"])),
               vehicles.rejected, dict(vehicles.reasons), dict(vehicles.lines))
    out.reject(pc.not_equal(out.table["plate"], ""), "no plate")
    out.reject_unparsed(out.table["datum_eerste_toelating"], _dates(out.table["datum_eerste_toelating"]),
                        "datum_eerste_toelating")
    for column in ("massa_rijklaar", "toegestane_maximum_massa_voertuig"):
        out.reject_unparsed(out.table[column], D.map_distinct(out.table[column], _mass, pa.int64()), column)
    v = out.table
    v = v.join(fuel_summary(fuel.table), "plate", join_type="left outer")
    v = v.join(body_summary(body.table), "plate", join_type="left outer")
    keys = plate_keys(pepper, v["kenteken"])
    derived = derive_vehicles(v, conf, timezone)
    out.table = derived.add_column(0, "vehicle_key", keys).append_column(LINE, v[LINE])
    return out


def _mass(text: object) -> int | None:
    return mass_kg(D.parse_int(text))


# -- non-public files ---------------------------------------------------------------------------------

def owners(read: Read, pepper: bytes, conf: RegisterConf, timezone: str, as_of: datetime) -> Read:
    for column in ("datum_aanvang", "datum_einde"):
        read.reject_unparsed(read.table[column], _dates(read.table[column]), column)
    read.reject_unparsed(read.table["kvk_nummer"], D.map_distinct(read.table["kvk_nummer"], kvk_digits), "kvk_nummer")
    t = read.table
    kind = D.eigenaar_type(t["soort_eigenaar"], t["kvk_nummer"], conf)
    companies = pc.if_else(pc.equal(kind, D.BEDRIJF), company_keys(pepper, t["kvk_nummer"]),
                           pa.scalar(None, pa.string()))
    start = local_midnight(_dates(t["datum_aanvang"]), timezone)
    read.table = pa.table({
        "vehicle_key": plate_keys(pepper, t["kenteken"], D.clean_text(t["land"])),
        "valid_from": pc.fill_null(start, pa.scalar(as_of, UTC_US)),
        "valid_to": local_midnight(_dates(t["datum_einde"]), timezone),
        "eigenaar_type": kind,
        "company_key": companies,
        "postcode4": pc.cast(_ints(pc.utf8_slice_codeunits(D.clean_text(t["postcode4"]), 0, 4)), pa.int32()),
        LINE: t[LINE],
    })
    read.reject(pc.is_valid(read.table["vehicle_key"]), "no plate")
    return read


def companies(read: Read, pepper: bytes) -> Read:
    read.reject(pc.is_valid(D.clean_text(read.table["kvk_nummer"])), "no KvK number")
    read.reject_unparsed(read.table["kvk_nummer"], D.map_distinct(read.table["kvk_nummer"], kvk_digits), "kvk_nummer")
    read.reject_unparsed(read.table["sbi_code"], D.map_distinct(read.table["sbi_code"], sbi_code), "sbi_code")
    t = read.table
    read.table = pa.table({
        "company_key": company_keys(pepper, t["kvk_nummer"]),
        "sbi_code": D.map_distinct(t["sbi_code"], D.sbi_digits),
        "werkzame_personen": pc.cast(_ints(t["werkzame_personen"], D.parse_employees), pa.int32()),
        LINE: t[LINE],
    })
    return read


def municipality_code(text: object) -> str | None:
    digits = re.sub(r"\D", "", str(text)) if text is not None else ""
    return f"GM{int(digits):04d}" if 1 <= len(digits) <= 4 else None


def regions(read: Read) -> Read:
    t = read.table
    pc4 = pc.cast(_ints(D.clean_text(t["postcode4"])), pa.int32())
    read.table = pa.table({"postcode4": pc4, "gemeente_code": D.map_distinct(t["gemeente_code"], municipality_code),
                           **{c: D.clean_text(t[c]) for c in REGION_COLUMNS[2:]}, LINE: t[LINE]})
    read.reject(pc.and_(pc.greater_equal(pc4, 1000), pc.less_equal(pc4, 9999)), "bad postcode4")
    return read


def exemptions(read: Read, pepper: bytes, conf: RegisterConf) -> Read:
    read.reject_unparsed(read.table["geldig_tot_en_met"], _dates(read.table["geldig_tot_en_met"]), "geldig_tot_en_met")
    t = read.table
    last_day = _dates(t["geldig_tot_en_met"])
    read.table = pa.table({
        "vehicle_key": plate_keys(pepper, t["kenteken"], D.clean_text(t["land"])),
        "municipality": D.map_distinct(t["gemeente_code"], municipality_code),
        "soort": D.ontheffing_soort(t["soort"], conf),
        "valid_from": _dates(t["geldig_vanaf"]),
        "valid_to": pc.cast(pc.add(pc.cast(last_day, pa.int32()), pa.scalar(1, pa.int32())), pa.date32()),
        LINE: t[LINE],
    })
    checks = [("vehicle_key", "no plate"), ("municipality", "bad gemeente_code"), ("soort", "unknown soort"),
              ("valid_from", "bad geldig_vanaf")]
    for column, reason in checks:
        read.reject(pc.is_valid(read.table[column]), reason)
    ends = read.table["valid_to"]
    ordered = pc.or_kleene(pc.is_null(ends), pc.less(read.table["valid_from"], ends))
    read.reject(ordered, "ends before it starts")
    return read

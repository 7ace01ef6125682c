"""Register loads into Delta: RDW exports and the non-public files, or the synthetic register.

Every load pseudonymizes at read (jobs/register/csv_reader.py), merges into the tables' validity intervals
without rewriting history (jobs/register/history.py) in one commit per table, and records itself in
register/loads: which table, as of which date, how many rows came in, were rejected, inserted,
closed and updated, and which pepper made the keys. A load derives its keys with the pepper that made
the register's (anpr/keyring.py), so they always meet the stream's; only a re-key (jobs/keys.py) starts
the tables again under a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from anpr.keyring import KeyringError, Pepper, pepper_id, since_rekey
from anpr.lake import Lake, first_per_key, spark_to_arrow_schema
from anpr.register_conf import RegisterConf, load_register_conf
from anpr.register_tables import (
    COMPANIES,
    COMPANIES_SPEC,
    EXEMPTIONS,
    LOADS,
    LOADS_SCHEMA,
    OWNERS,
    OWNERS_SPEC,
    REGIONS,
    REGIONS_SPEC,
    UTC_US,
    VEHICLES,
    VEHICLES_SPEC,
    HistoryTable,
    ensure_register_tables,
    local_midnight,
)
from anpr.settings import Settings
from anpr.synth.regions import synth_regions
from anpr.synth.register import CHUNK, NEWEST
from jobs.register import csv_reader as C
from jobs.register.history import FIRST_FROM, Changes, OutOfOrderLoadError, dated_changes, differing, state_changes
from jobs.register.synthetic import chunk_tables, company_table

ProgressFn = Callable[[str, int, int], None]  # (what, done, total)
REGISTER_TABLES = [VEHICLES, OWNERS, COMPANIES, REGIONS, EXEMPTIONS]
EXEMPTION_KEYS = ["vehicle_key", "municipality", "soort", "valid_from"]
FLUSH_ROWS = 1_000_000  # rows per Delta commit of the synthetic load


class RegisterConflictError(RuntimeError):
    """The register tables hold something this load must not be mixed with."""


class DuplicateKeysError(C.RegisterFileError):
    """A complete load whose file holds a key on more than one line: nothing is loaded."""


@dataclass
class LoadReport:
    table: str
    rows_in: int
    rejected: int
    inserted: int = 0
    closed: int = 0
    updated: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    lines: dict[str, list[int]] = field(default_factory=dict)  # reason -> lines of the rejected rows
    duplicate_keys: int = 0  # keys on more than one line (their rows: kept once if identical, else rejected)


@dataclass
class RegisterFiles:
    vehicles: Path | None = None
    fuel: Path | None = None
    body: Path | None = None
    owners: Path | None = None
    companies: Path | None = None
    regions: Path | None = None
    exemptions: Path | None = None


def local_start(day: date, timezone: str) -> datetime:
    """The UTC instant at which a local date begins: anpr/register_tables.py local_midnight for one date."""
    return local_midnight(pa.array([day], pa.date32()), timezone)[0].as_py()


def current_loads(lake: Lake) -> pa.Table:
    """register/loads since the newest re-key started (all of it when there was none): the loads whose
    keys the tables hold now; none before the register's first load created the table."""
    if not lake.exists(LOADS):
        return spark_to_arrow_schema(LOADS_SCHEMA).empty_table()
    return since_rekey(lake.read_arrow(LOADS))


def _loads(lake: Lake, settings: Settings, rekey: Pepper | None) -> tuple[pa.Table, bytes]:
    """The current loads and the pepper of this load: `rekey` during a re-key, else the register's own.

    Raises RegisterConflictError when the register's pepper is not held here or the tables mix peppers.
    """
    loads = current_loads(lake)
    try:
        pepper = rekey or settings.keyring().active(loads)
    except KeyringError as exc:
        raise RegisterConflictError(str(exc)) from exc
    others = set(loads["pepper_id"].to_pylist()) - {pepper.id}
    if others:
        raise RegisterConflictError("the register tables hold keys made with another pepper; re-key them "
                                    "(anpr keys rotate) instead of mixing peppers")
    return loads, pepper.read()


def _apply(lake: Lake, name: str, changes: pa.Table, keys: list[str], empty: bool) -> None:
    if changes.num_rows == 0:
        return
    if empty:
        lake.append(name, changes)
    else:
        lake.merge(name, changes, keys=keys)


def _record(lake: Lake, reports: list[LoadReport], as_of: date | datetime, source: str, pepper: bytes) -> None:
    now = datetime.now(UTC)
    rows = [{"table_name": r.table, "as_of": as_of, "loaded_at": now, "source": source, "pepper_id": pepper_id(pepper),
             "rows_in": r.rows_in, "rejected": r.rejected, "inserted": r.inserted, "closed": r.closed,
             "updated": r.updated} for r in reports]
    if rows:
        lake.append(LOADS, pa.Table.from_pylist(rows, spark_to_arrow_schema(LOADS_SCHEMA)))


# -- files ----------------------------------------------------------------------------------------------

def _state_load(lake: Lake, spec: HistoryTable, read: C.Read, as_of: datetime, close_missing: bool,
                first_from: datetime | None = None) -> LoadReport:
    current = lake.read_arrow(spec.name)
    incoming = read.without_lines()
    if first_from is not None:
        incoming = incoming.append_column(FIRST_FROM, pa.repeat(pa.scalar(first_from, UTC_US), incoming.num_rows))
    changes = state_changes(current, incoming, spec, as_of, close_missing)
    _apply(lake, spec.name, changes.rows, [spec.key, "valid_from"], current.num_rows == 0)
    return _report(spec.name, read, changes)


def _report(name: str, read: C.Read, changes: Changes) -> LoadReport:
    return LoadReport(name, read.table.num_rows + read.rejected, read.rejected, changes.inserted, changes.closed,
                      changes.updated, read.reasons, read.lines, read.duplicates.keys)


def _check_order(loads: pa.Table, tables: list[str], as_of: date) -> None:
    for table in tables:
        mine = loads.filter(pc.equal(loads["table_name"], table))
        latest = pc.max(mine["as_of"]).as_py() if mine.num_rows else None
        if latest is not None and as_of < latest:
            raise OutOfOrderLoadError(f"{table} was loaded as of {latest}; a load as of {as_of} would rewrite history")


def load_register_files(lake: Lake, settings: Settings, files: RegisterFiles, as_of: date,
                        close_missing: bool = False, progress: ProgressFn | None = None,
                        conf: RegisterConf | None = None, rekey: Pepper | None = None) -> list[LoadReport]:
    """Load the given files as of a date; vehicles need their fuel and body exports alongside.

    close_missing: the vehicles, companies and regions files are complete, so keys they lack are closed
    (a vehicle exported or scrapped). Without it, files are deltas and absent keys stay as they were.
    rekey: the new pepper of a re-key (jobs/keys.py); a load otherwise uses the register's own.
    """
    conf = conf or load_register_conf()
    tz = settings.timezone
    at = local_start(as_of, tz)
    ensure_register_tables(lake)
    loads, pepper = _loads(lake, settings, rekey)
    state_tables = [t for t, f in ((VEHICLES, files.vehicles), (COMPANIES, files.companies),
                                   (REGIONS, files.regions)) if f is not None]
    _check_order(loads, state_tables, as_of)
    reads = _read_files(files, pepper, conf, tz, at, close_missing)
    reports: list[LoadReport] = []

    def done(report: LoadReport) -> None:
        reports.append(report)
        if progress:
            progress("register files", len(reports), len(reads))

    start = local_start(conf.history_start, tz)
    for name, read in reads.items():
        if name == VEHICLES:
            done(_state_load(lake, VEHICLES_SPEC, read, at, close_missing))
        elif name == OWNERS:
            existing = lake.read_arrow(OWNERS)
            changes = dated_changes(existing, read.without_lines(), OWNERS_SPEC)
            _apply(lake, OWNERS, changes.rows, ["vehicle_key", "valid_from"], existing.num_rows == 0)
            done(_report(OWNERS, read, changes))
        elif name == COMPANIES:
            done(_state_load(lake, COMPANIES_SPEC, read, at, close_missing, start))
        elif name == REGIONS:
            done(_state_load(lake, REGIONS_SPEC, read, at, close_missing, start))
        else:
            done(_exemption_load(lake, read))
    _record(lake, reports, as_of, "csv", pepper)
    return reports


# The key of each file's rows, and how a message names it (never a value of it).
_KEYS = {VEHICLES: (["vehicle_key"], "kenteken"), OWNERS: (["vehicle_key", "valid_from"], "kenteken and datum_aanvang"),
         COMPANIES: (["company_key"], "kvk_nummer"), REGIONS: (["postcode4"], "postcode4"),
         EXEMPTIONS: (EXEMPTION_KEYS, "kenteken, gemeente_code, soort and geldig_vanaf")}


def _read_files(files: RegisterFiles, pepper: bytes, conf: RegisterConf, tz: str, at: datetime,
                complete: bool) -> dict[str, C.Read]:
    """Every given file read, checked and pseudonymized, before anything is written: a refused file
    (DuplicateKeysError, RegisterFileError) leaves the register as it was."""
    reads: dict[str, C.Read] = {}
    paths: dict[str, Path] = {}
    if files.vehicles:
        vehicles = C.read_csv(files.vehicles, C.VEHICLE_COLUMNS, ["kenteken"])
        fuel = C.read_csv(files.fuel, C.FUEL_COLUMNS, ["kenteken", "brandstof_omschrijving"]) if files.fuel \
            else C.Read(pa.table({c: pa.array([], pa.string()) for c in C.FUEL_COLUMNS}))
        body = C.read_csv(files.body, C.BODY_COLUMNS, ["kenteken", "carrosserietype"]) if files.body \
            else C.Read(pa.table({c: pa.array([], pa.string()) for c in C.BODY_COLUMNS}))
        reads[VEHICLES], paths[VEHICLES] = C.rdw_vehicles(vehicles, fuel, body, pepper, conf, tz), files.vehicles
    if files.owners:
        reads[OWNERS] = C.owners(C.read_csv(files.owners, C.OWNER_COLUMNS, ["kenteken"]), pepper, conf, tz, at)
        paths[OWNERS] = files.owners
    if files.companies:
        reads[COMPANIES] = C.companies(C.read_csv(files.companies, C.COMPANY_COLUMNS, ["kvk_nummer", "sbi_code"]),
                                       pepper)
        paths[COMPANIES] = files.companies
    if files.regions:
        reads[REGIONS] = C.regions(C.read_csv(files.regions, C.REGION_COLUMNS,
                                              ["postcode4", "gemeente_code", "nuts3_code"]))
        paths[REGIONS] = files.regions
    if files.exemptions:
        reads[EXEMPTIONS] = C.exemptions(C.read_csv(files.exemptions, C.EXEMPTION_COLUMNS,
                                                    ["kenteken", "gemeente_code", "soort", "geldig_vanaf"]),
                                         pepper, conf)
        paths[EXEMPTIONS] = files.exemptions
    refused = []
    for name, read in reads.items():
        keys, label = _KEYS[name]
        found = read.dedupe(keys, label)
        if complete and found.keys and name in (VEHICLES, COMPANIES, REGIONS):
            refused.append(found.describe(paths[name].name, label))
    if refused:
        raise DuplicateKeysError("; ".join(refused) + ": a --complete load closes every key a file lacks, and a "
                                 "repeated line (a page downloaded twice?) may stand for a missing one; nothing "
                                 "was loaded")
    return reads


def _exemption_load(lake: Lake, read: C.Read) -> LoadReport:
    existing = lake.read_arrow(EXEMPTIONS)
    incoming = first_per_key(read.without_lines(), EXEMPTION_KEYS)
    rows = differing(incoming, existing, EXEMPTION_KEYS, ["valid_to"])
    new = rows.join(existing.select(EXEMPTION_KEYS), keys=EXEMPTION_KEYS, join_type="left anti").num_rows
    _apply(lake, EXEMPTIONS, rows, EXEMPTION_KEYS, existing.num_rows == 0)
    return LoadReport(EXEMPTIONS, read.table.num_rows + read.rejected, read.rejected, new, 0, rows.num_rows - new,
                      read.reasons, read.lines, read.duplicates.keys)


# -- synthetic ------------------------------------------------------------------------------------------

def register_counts(lake: Lake) -> dict[str, int]:
    return {name: lake.read_arrow(name, columns=["valid_from"]).num_rows for name in REGISTER_TABLES}


def load_synthetic_register(lake: Lake, settings: Settings, size: int, seed: int, progress: ProgressFn | None = None,
                            workers: int | None = None, rekey: Pepper | None = None) -> dict[str, int]:
    """Load the synthetic register of `size` vehicles (anpr/synth/register.py) into empty register tables.

    Returns the rows per table. Loading the same register again is a no-op; loading into tables that
    hold another register raises RegisterConflictError.
    """
    if size < 1:
        raise ValueError("a synthetic register needs at least one vehicle")
    tz, conf = settings.timezone, load_register_conf()
    ensure_register_tables(lake)
    (loads, pepper), source = _loads(lake, settings, rekey), f"synthetic size={size} seed={seed}"
    if set(REGISTER_TABLES) <= set(loads.filter(pc.equal(loads["source"], source))["table_name"].to_pylist()):
        return register_counts(lake)
    if any(lake.read_arrow(t, columns=["valid_from"]).num_rows for t in REGISTER_TABLES):
        raise RegisterConflictError(f"the register tables under {lake.root} already hold another register or a "
                                    "partial load; remove them (the register/ directory) to load a synthetic one")
    start = local_start(conf.history_start, tz)
    counts = dict.fromkeys(REGISTER_TABLES, 0)
    regions = synth_regions(start)
    lake.append(REGIONS, regions)
    counts[REGIONS] = regions.num_rows
    buffers: dict[str, list[pa.Table]] = {VEHICLES: [], OWNERS: [], EXEMPTIONS: [], "kvk": []}

    def flush(name: str, at_least: int) -> None:
        rows = sum(t.num_rows for t in buffers[name])
        if rows and rows >= at_least:
            lake.append(name, pa.concat_tables(buffers[name]))
            counts[name] += rows
            buffers[name].clear()

    if progress:
        progress("synthetic vehicles", 0, size)
    for done, tables in enumerate(chunk_tables(size, seed, pepper, conf, tz, workers), start=1):
        for name, key in ((VEHICLES, "vehicles"), (OWNERS, "owners"), (EXEMPTIONS, "exemptions"), ("kvk", "kvk")):
            buffers[name].append(tables[key])
        for name in (VEHICLES, OWNERS, EXEMPTIONS):
            flush(name, FLUSH_ROWS)
        if progress:
            progress("synthetic vehicles", min(done * CHUNK, size), size)
    for name in (VEHICLES, OWNERS, EXEMPTIONS):
        flush(name, 0)
    used = pa.concat_tables(buffers["kvk"])["kvk"].to_numpy() if buffers["kvk"] else None
    companies = company_table(seed, pepper, start, tz, used)
    lake.append(COMPANIES, companies)
    counts[COMPANIES] = companies.num_rows
    reports = [LoadReport(t, n, 0, n) for t, n in counts.items()]
    _record(lake, reports, NEWEST, source, pepper)
    return counts

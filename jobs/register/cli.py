"""`anpr register`: load the vehicle register and its companions into Delta, or a synthetic one.

    anpr register load --vehicles CSV --fuel CSV --body CSV [--owners CSV] [--companies CSV]
                       [--regions CSV] [--exemptions CSV] --as-of DATE [--complete]
    anpr register synth [--size N] [--seed S]

The RDW files are the open-data exports (m9d7-ebf2, 8ys7-d773, vezc-m2t6) as downloaded. The formats
of the owner, company, region and exemption files, the tables written and the derived dimensions are
described in docs/register.md. Plates and KvK numbers are pseudonymized as the files are read.
"""

from __future__ import annotations

import gc
from argparse import Namespace
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from anpr import operator_audit
from anpr.commands import call, group
from anpr.progress import Counter, say, step
from anpr.settings import Settings

FILES = ["vehicles", "fuel", "body", "owners", "companies", "regions", "exemptions"]
HELP = {
    "vehicles": "RDW registered vehicles export (m9d7-ebf2): kenteken, voertuigsoort, europese_voertuigcategorie, ...",
    "fuel": "RDW fuel export (8ys7-d773): kenteken, brandstof_volgnummer, brandstof_omschrijving, ...",
    "body": "RDW body export (vezc-m2t6): kenteken, carrosserietype, type_carrosserie_europese_omschrijving",
    "owners": "registrations: kenteken, datum_aanvang, [datum_einde, soort_eigenaar, kvk_nummer, postcode4, land]",
    "companies": "companies: kvk_nummer, sbi_code, [werkzame_personen]",
    "regions": "postcode areas: postcode4, gemeente_code, nuts3_code, [provincie_naam and other names]",
    "exemptions": "exemptions: kenteken, gemeente_code, soort, geldig_vanaf, [geldig_tot_en_met, land]; "
                  "any reason column is ignored",
}


def progress_printer() -> Any:
    counters: dict[str, Counter] = {}

    def report(what: str, done: int, total: int) -> None:
        if total < 100:  # files, not rows: a rate would mean nothing
            say(f"    {what}: {done}/{total}")
            return
        counter = counters.setdefault(what, Counter(what, total))
        counter.add(done - counter.done)

    return report


def close_session(spark: Any) -> None:
    if spark is not None:
        spark.stop()
    # Arrow reader threads left behind, collected now, cannot abort the exit (SIGABRT, "terminate called
    # without an active exception") as delta-rs scans did about one run in eight.
    gc.collect()


def open_lake(settings: Settings) -> tuple[Any, Any]:
    """The register tables are written through delta-spark, so a load runs a SparkSession.

    Returns the session to stop afterwards: None when one was running already (the caller's to stop).
    """
    from pyspark import SparkContext

    from anpr.lake import make_lake
    from anpr.spark import get_spark

    running = SparkContext._active_spark_context is not None
    spark = get_spark(settings)
    return make_lake(settings, spark), (None if running else spark)


def given_files(args: Namespace) -> tuple[list[str], list[str]]:
    """(the file options given, the paths among them that name no file)."""
    given = [name for name in FILES if getattr(args, name) is not None]
    return given, [str(getattr(args, name)) for name in given if not getattr(args, name).is_file()]


# The register files, --as-of and --complete, as `anpr register load` and `anpr keys rotate` take them.
VehiclesCsv = Annotated[Path | None, typer.Option("--vehicles", metavar="CSV", help=HELP["vehicles"])]
FuelCsv = Annotated[Path | None, typer.Option("--fuel", metavar="CSV", help=HELP["fuel"])]
BodyCsv = Annotated[Path | None, typer.Option("--body", metavar="CSV", help=HELP["body"])]
OwnersCsv = Annotated[Path | None, typer.Option("--owners", metavar="CSV", help=HELP["owners"])]
CompaniesCsv = Annotated[Path | None, typer.Option("--companies", metavar="CSV", help=HELP["companies"])]
RegionsCsv = Annotated[Path | None, typer.Option("--regions", metavar="CSV", help=HELP["regions"])]
ExemptionsCsv = Annotated[Path | None, typer.Option("--exemptions", metavar="CSV", help=HELP["exemptions"])]
_AS_OF = typer.Option("--as-of", parser=date.fromisoformat, metavar="DATE",
                      help="the date the files describe (YYYY-MM-DD); loads must come in date order")
AsOf = Annotated[date, _AS_OF]
AsOfIfFiles = Annotated[date | None, _AS_OF]
Complete = Annotated[bool, typer.Option(
    "--complete", help="the vehicles, companies and regions files are complete: close keys they lack (exported or "
                       "scrapped vehicles); refused when such a file holds a key on more than one line. Without it "
                       "they are treated as changes only")]


def cmd_register_load(args: Namespace, settings: Settings) -> int:
    from jobs.register import RegisterConflictError, RegisterFiles, load_register_files
    from jobs.register.csv_reader import RegisterFileError
    from jobs.register.history import OutOfOrderLoadError

    files = RegisterFiles(**{name: getattr(args, name) for name in FILES})
    given, absent = given_files(args)
    if not given:
        say("anpr register load: give at least one file (see --help)")
        return 2
    if files.vehicles and not (files.fuel and files.body):
        say("anpr register load: --vehicles needs --fuel and --body: fuel and body type are derived from them")
        return 2
    if absent:
        say(f"anpr register load: no such file: {', '.join(absent)}")
        return 2
    lake, spark = open_lake(settings)
    try:
        with step(f"loading {', '.join(given)} as of {args.as_of} (pseudonymized at read)"):
            reports = load_register_files(lake, settings, files, args.as_of, close_missing=args.complete,
                                          progress=progress_printer())
        operator_audit.record(written={r.table: lake.version(r.table) for r in reports},
                              rows={r.table: {"in": r.rows_in, "rejected": r.rejected, "inserted": r.inserted,
                                              "closed": r.closed, "updated": r.updated} for r in reports})
    except (RegisterFileError, OutOfOrderLoadError, RegisterConflictError) as exc:
        say(f"anpr register load: {exc}")
        return 2
    finally:
        close_session(spark)
    print(f"{'table':22} {'rows in':>10} {'rejected':>9} {'inserted':>9} {'closed':>8} {'updated':>8}")
    for r in reports:
        print(f"{r.table:22} {r.rows_in:>10,} {r.rejected:>9,} {r.inserted:>9,} {r.closed:>8,} {r.updated:>8,}")
        if r.duplicate_keys:
            print(f"{'':22}   {r.duplicate_keys:,} key(s) on more than one line (identical rows kept once)")
        for reason, n in sorted(r.reasons.items()):
            print(f"{'':22}   rejected {n:,}: {reason}{_lines(r.lines.get(reason, []))}")
    return 0


def _lines(lines: list[int], shown: int = 20) -> str:
    """ ", lines 3, 7, 9 and 120 more": the lines of rejected rows, never their values."""
    if not lines:
        return ""
    more = f" and {len(lines) - shown:,} more" if len(lines) > shown else ""
    return f", line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines[:shown]))}{more}"


def cmd_register_synth(args: Namespace, settings: Settings) -> int:
    from jobs.register import RegisterConflictError, load_synthetic_register

    if args.size < 1:
        say("anpr register synth: --size must be at least 1")
        return 2
    lake, spark = open_lake(settings)
    try:
        with step(f"loading a synthetic register of {args.size:,} vehicles (seed {args.seed})"):
            counts = load_synthetic_register(lake, settings, args.size, args.seed, progress=progress_printer(),
                                             workers=args.workers)
        operator_audit.record(written={table: lake.version(table) for table in counts})
    except RegisterConflictError as exc:
        say(f"anpr register synth: {exc}")
        return 2
    finally:
        close_session(spark)
    for table, n in counts.items():
        print(f"{table:22} {n:>12,} rows")
    return 0


def add_commands(app: typer.Typer) -> None:
    """Add the `register` command group to the CLI."""
    register = group(__doc__.replace("\n\n    anpr", "\n\n\b\n    anpr", 1),
                     short_help="load the vehicle register and its companions into Delta")

    @register.command("load", short_help="load RDW exports and owner/company/region/exemption files as of a date",
                      help="Merge register files into the register tables as of a date, keeping history: changed "
                           "keys get a new validity interval from that date. Formats: docs/register.md.")
    def load(ctx: typer.Context, as_of: AsOf, vehicles: VehiclesCsv = None, fuel: FuelCsv = None,
             body: BodyCsv = None, owners: OwnersCsv = None, companies: CompaniesCsv = None,
             regions: RegionsCsv = None, exemptions: ExemptionsCsv = None, complete: Complete = False) -> Namespace:
        return call(ctx, cmd_register_load, vehicles=vehicles, fuel=fuel, body=body, owners=owners,
                    companies=companies, regions=regions, exemptions=exemptions, as_of=as_of, complete=complete)

    @register.command("synth", short_help="load a seeded synthetic register (the vehicles the synthetic feeds use)",
                      help="Generate and load the synthetic national register of anpr/synth/register.py into empty "
                           "register tables; loading the same size and seed again does nothing.")
    def synth(ctx: typer.Context,
              size: Annotated[int, typer.Option("--size", help="vehicles")] = 10_000_000,
              seed: Annotated[int, typer.Option("--seed", help="feeds must use the same one")] = 1,
              workers: Annotated[int | None, typer.Option("--workers", help="worker processes (default: one per "
                                                                            "CPU)")] = None) -> Namespace:
        return call(ctx, cmd_register_synth, size=size, seed=seed, workers=workers)

    app.add_typer(register, name="register")

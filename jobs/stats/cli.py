"""The `anpr stats` subcommand: build, protect, audit and publish one month's tables."""

from __future__ import annotations

from argparse import Namespace
from typing import Annotated, Any

import typer

from anpr import operator_audit
from anpr.commands import call
from anpr.progress import say
from anpr.settings import Settings


def add_commands(app: typer.Typer) -> None:
    @app.command("stats", short_help="build, protect, audit and publish the monthly tables as a new release",
                 help="Builds tables 4.1-4.9 and 4.12 for one month from the passages, applies disclosure control "
                      "(conf/disclosure.toml), audits it and publishes a new immutable release. Nothing is "
                      "published if a check fails.")
    def stats(ctx: typer.Context,
              month: Annotated[str, typer.Option("--month", help="the month, YYYY-MM (local time)")],
              municipality: Annotated[str | None, typer.Option(
                  "--municipality", help="CBS code or configured name: rebuild only this municipality and carry "
                                         "the others over from the month's latest release")] = None) -> Namespace:
        return call(ctx, cmd_stats, month=month, municipality=municipality)


def _source_tables(sources: dict[str, object]) -> dict[str, object]:
    """The table versions a release was built from (its source_versions without the rebuild notes)."""
    return {k: v for k, v in sources.items() if isinstance(v, int)}


def _written(release: Any) -> list[str]:
    from jobs.stats.release import RELEASES, SUPPRESSIONS, published_table

    return [RELEASES, SUPPRESSIONS, *(published_table(name) for name in sorted(release.row_counts))]


def cmd_stats(args: Namespace, settings: Settings) -> int:
    from anpr.catalogue import DeclarationError
    from anpr.lake import make_lake
    from anpr.spark import get_spark
    from jobs.stats.job import parse_month, run_monthly_stats
    from jobs.stats.sdc import ProtectionError
    from jobs.stats.tables.enrich import MissingColumnsError

    try:
        parse_month(args.month)
    except ValueError as exc:
        say(f"anpr stats: {exc}")
        return 2
    say("==> starting Spark")
    spark = get_spark(settings)
    try:
        lake = make_lake(settings, spark)
        release = run_monthly_stats(spark, settings, lake, args.month, args.municipality, progress=say)
        operator_audit.record(release_id=release.release_id, source_versions=release.source_versions,
                              read=_source_tables(release.source_versions),
                              written={name: lake.version(name) for name in _written(release)})
    except (DeclarationError, MissingColumnsError, ValueError) as exc:
        say(f"anpr stats: refused: {exc}")
        return 2
    except (ProtectionError, RuntimeError) as exc:
        say(f"anpr stats: nothing published: {exc}")
        return 1
    finally:
        spark.stop()
    audit: dict[str, Any] = dict(release.audit)
    print(f"release        {release.release_id}")
    print(f"content sha256 {release.content_sha256}")
    print("information loss: the share of each table's cells suppressed, and of its passages and vehicle "
          "counts in suppressed cells")
    for name, rows in sorted(release.row_counts.items()):
        loss = audit.get("tables", {}).get(name)
        suffix = (f"  cells {loss['suppressed_share']:6.1%}  passages {loss['passages_suppressed_share']:6.1%}  "
                  f"vehicles {loss['vehicles_suppressed_share']:6.1%}") if loss else ""
        print(f"  {name:<34} {rows:>8,} rows{suffix}")
    print(f"audit          {audit.get('attacked', 0):,} suppressed cells attacked, "
          f"{audit.get('exact_disclosures', 0)} exact disclosures, narrowest interval {audit.get('narrowest')}")
    print("seconds        " + ", ".join(f"{k} {v:.1f}" for k, v in release.seconds.items()))
    return 0

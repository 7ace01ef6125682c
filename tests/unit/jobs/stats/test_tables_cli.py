"""The `anpr stats` subcommand as an operator meets it: its options, and a bad month refused up front."""

from __future__ import annotations

from cli.main import parse
from jobs.stats.cli import cmd_stats


def test_stats_takes_a_month_and_an_optional_municipality():
    args = parse(["stats", "--month", "2026-03", "--municipality", "Utrecht"])
    assert (args.month, args.municipality, args.func) == ("2026-03", "Utrecht", cmd_stats)
    assert parse(["stats", "--month", "2026-03"]).municipality is None


def test_a_malformed_month_is_refused_before_spark_starts(settings, capsys):
    args = parse(["stats", "--month", "2026-13"])
    assert cmd_stats(args, settings) == 2
    assert "YYYY-MM" in capsys.readouterr().err

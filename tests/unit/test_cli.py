"""Every subcommand answers --help, so an operator can find their way from `anpr --help` down."""

import argparse

import pytest

from anpr.settings import get_settings
from cli.main import main, parser


def command_paths(p: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                paths.append((*prefix, name))
                paths += command_paths(child, (*prefix, name))
    return paths


def test_the_expected_commands_exist():
    top = {path[0] for path in command_paths(parser())}
    assert {"broker", "run", "stream", "stats", "serve-api", "serve-ingest", "feed", "register",
            "onboard"} <= top


@pytest.mark.parametrize("path", command_paths(parser()), ids=" ".join)
def test_every_subcommand_has_help(path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*path, "--help"])
    assert exit_.value.code == 0
    assert "usage: anpr" in capsys.readouterr().out


def test_run_refuses_a_day_outside_the_lateness_window(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    assert main(["run", "--no-serve", "--day", "2020-01-01"]) == 2
    assert "out of range" in capsys.readouterr().err

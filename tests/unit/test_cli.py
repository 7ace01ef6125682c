"""Every subcommand answers --help, so an operator can find their way from `anpr --help` down."""

import argparse
import os
import subprocess
import sys
from pathlib import Path

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


@pytest.mark.parametrize("command, closed", [(["stream", "status"], "stdout"),
                                             (["run", "--no-serve", "--day", "2020-01-01"], "stderr")])
def test_a_reader_that_goes_away_ends_a_command_quietly(command, closed, tmp_path):
    """`anpr stream status | head -1`: the reader is gone before the command writes; no traceback."""
    anpr = Path(sys.executable).with_name("anpr")
    env = {**os.environ, "ANPR_DATA_DIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[2])}
    env.pop("ANPR_KAFKA__BOOTSTRAP_SERVERS", None)
    proc = subprocess.Popen([str(anpr), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    gone, kept = (proc.stdout, proc.stderr) if closed == "stdout" else (proc.stderr, proc.stdout)
    gone.close()  # long before the command's imports are done and it writes
    left = kept.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as `yes | head -1` ends
    assert "Traceback" not in left and "BrokenPipeError" not in left and left == ""

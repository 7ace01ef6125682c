"""The stage contracts of pyproject.toml ([tool.importlinter], docs/architecture.md) hold, and would catch a break."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
# lint-imports puts the working directory first on sys.path, so the tree linted is the one in `cwd`.
LINT = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(sys.argv[1], no_cache=True, " \
       "no_logo=True))"


def lint(cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", LINT, str(config)], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_imports_go_only_down_the_stages():
    done = lint(ROOT, ROOT / "pyproject.toml")
    assert done.returncode == 0, done.stdout + done.stderr
    kept = {c["name"] for c in CONFIG["contracts"]}
    assert all(f"{name} KEPT" in done.stdout for name in kept), done.stdout


def _toml(config: dict) -> str:
    """The [tool.importlinter] table back as TOML: its values are strings, lists of strings and booleans."""
    lines = ["[tool.importlinter]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in config.items() if key != "contracts"]
    for contract in config["contracts"]:
        lines += ["", "[[tool.importlinter.contracts]]"]
        lines += [f"{key} = {json.dumps(value)}" for key, value in contract.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("importer", "imported", "said"), [
    ("anpr", "api", "anpr is not allowed to import api"),
    ("anpr", "cli", "anpr is not allowed to import cli"),
    ("jobs", "streaming", "jobs is not allowed to import streaming"),
    ("streaming", "jobs", "streaming is not allowed to import jobs"),
    ("jobs", "api", "jobs is not allowed to import api"),
    ("api", "jobs.register", "api is not allowed to import jobs.register"),
    ("api", "jobs.feeds", "api is not allowed to import jobs.feeds"),
    # the statistics stage's data flow: the cycle tables <-> sdc cannot come back, nor sdc reach the rows
    ("jobs.stats.tables", "jobs.stats.sdc", "jobs.stats.tables is not allowed to import jobs.stats.sdc"),
    ("jobs.stats.sdc", "jobs.stats.rows", "jobs.stats.sdc is not allowed to import jobs.stats.rows"),
    ("jobs.stats.job", "jobs.stats.sdc.zone", "jobs.stats.job.wrong -> jobs.stats.sdc.zone"),
    # the stream: a step never reaches up to the plan that composes it, nor the plan to the sink
    ("streaming.pipeline", "streaming.plan", "streaming.pipeline is not allowed to import streaming.plan"),
    ("streaming.plan", "streaming.sink", "streaming.plan is not allowed to import streaming.sink"),
])
def test_the_contracts_catch_an_upward_or_sideways_import(tmp_path, importer, imported, said):
    _scratch_tree(tmp_path, imported)
    (tmp_path / importer.replace(".", "/") / "wrong.py").write_text(f"import {imported}\n")
    done = lint(tmp_path, tmp_path / "pyproject.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert said in done.stdout


def test_the_contracts_catch_a_cycle_between_two_modules_of_one_package(tmp_path):
    # Annotation-only imports count too: import-linter reads them, and so does a reader of the module.
    _scratch_tree(tmp_path)
    (tmp_path / "anpr" / "first.py").write_text("from typing import TYPE_CHECKING\n"
                                                "if TYPE_CHECKING:\n    from anpr import second\n")
    (tmp_path / "anpr" / "second.py").write_text("import anpr.first\n")
    done = lint(tmp_path, tmp_path / "pyproject.toml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "No cycles are allowed in anpr" in done.stdout


def _scratch_tree(root: Path, *more: str) -> None:
    """Empty packages for every module a contract names, with the project's contracts beside them."""
    # Every package a contract names must exist, or import-linter stops before checking any; so must every
    # layer inside a container.
    keys = ("source_modules", "forbidden_modules", "containers", "allowed_importers")
    named = {m for c in CONFIG["contracts"] for key in keys for m in c.get(key, [])}
    named |= {f"{container}.{tail.strip()}" for c in CONFIG["contracts"] for container in c.get("containers", [])
              for layer in c["layers"] for tail in layer.split("|")}
    for package in {*CONFIG["root_packages"], *named, *more}:
        (root / package.replace(".", "/")).mkdir(parents=True, exist_ok=True)
        (root / package.replace(".", "/") / "__init__.py").write_text("")
    (root / "pyproject.toml").write_text(_toml(CONFIG))

"""The operator audit trail: one masked row per command run, failures included, and `anpr audit show`."""

import json
import logging
from datetime import UTC, datetime

import pytest

from anpr.delta_reader import DeltaReader
from anpr.operator_audit import (
    AUDIT_TABLE,
    CommandRun,
    append,
    looks_like_token,
    mask_argv,
    read_audit,
    record,
    running,
)
from anpr.settings import get_settings
from cli.main import main

TOKEN = "NR8EghYthxRL1JJ8KMnFe2g4mq_uNgok27y_PNEIiTU"  # secrets.token_urlsafe(32)


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ANPR_SERVICE_IDENTITY", "svc-nightly")
    monkeypatch.delenv("ANPR_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    logging.getLogger().handlers.clear()


def rows(data_dir):
    return read_audit(DeltaReader(str(data_dir / "lake")))


@pytest.mark.parametrize(("argv", "masked"), [
    (["register", "load", "--vehicles", "data/rdw/voertuigen.csv", "--as-of", "2026-11-01"],
     ["register", "load", "--vehicles", "data/rdw/voertuigen.csv", "--as-of", "2026-11-01"]),
    (["x", "--api-key-file", "secrets/esri.key", "--api-key", "plain-words-too"],
     ["x", "--api-key-file", "secrets/esri.key", "--api-key", "***"]),
    (["x", "--pepper=hunter2", "--admin-token", "t", "--pepper-file=/run/pepper"],
     ["x", "--pepper=***", "--admin-token", "***", "--pepper-file=/run/pepper"]),
    (["x", "ANPR_PEPPER=hunter2", "month=2026-10"], ["x", "ANPR_PEPPER=***", "month=2026-10"]),
    (["x", TOKEN, f"--note={TOKEN}"], ["x", "***", "***"]),
    (["x", "--user", "the-known-secret", "in/the-known-secret/dir"], ["x", "--user", "***", "in/***/dir"]),
])
def test_secrets_are_masked_and_paths_kept(argv, masked):
    assert mask_argv(argv, ["the-known-secret", "true"]) == masked  # "true": a flag, not a secret


def test_a_flag_valued_secret_variable_masks_nothing():
    assert mask_argv(["feed", "csv", "data/true-feed.csv"], ["true", "1"]) == ["feed", "csv", "data/true-feed.csv"]


@pytest.mark.parametrize(("value", "token"), [
    (TOKEN, True), ("c3a6f9a6b340bdc32e3fb72c04da90908df11301a84340c4655ef2f916928a48", True),
    ("2026-10-20261103T020000Z-1a2b3c4d", False),  # a release id
    ("observations_topic_partitions", False), ("data/feeds/utrecht-2026-11-03.csv", False), ("GM0344", False),
])
def test_what_looks_like_a_token(value, token):
    assert looks_like_token(value) is token


def test_facts_merge_per_key():
    run = CommandRun("stream run", [], "u")
    with running(run):
        record(batches=[{"batch_id": 0}], written={"passages": 3})
        record(batches=[{"batch_id": 1}], written={"quarantine": 2}, release_id="r1")
    record(batches=[{"batch_id": 9}])  # outside a command: nowhere
    assert run.facts == {"batches": [{"batch_id": 0}, {"batch_id": 1}],
                         "written": {"passages": 3, "quarantine": 2}, "release_id": "r1"}


def test_a_command_run_writes_one_row_with_masked_arguments(data_dir, monkeypatch, capsys):
    monkeypatch.setenv("ANPR_PEPPER", "pepper-from-the-environment")
    started = datetime.now(UTC)
    assert main(["audit", "show", "--user", "pepper-from-the-environment", "--command", TOKEN]) == 0
    [row] = rows(data_dir)
    assert json.loads(row["argv"]) == ["audit", "show", "--user", "***", "--command", "***"]
    assert (row["command"], row["user"], row["exit_code"], row["cause"]) == ("audit show", "svc-nightly", 0, None)
    assert started <= row["started_at"] <= row["ended_at"] <= datetime.now(UTC)
    assert capsys.readouterr().err == ""  # a written audit row says nothing


def test_no_secret_reaches_the_table_files(data_dir, monkeypatch):
    monkeypatch.setenv("ANPR_PEPPER", "pepper-from-the-environment")
    assert main(["audit", "show", "--user", "pepper-from-the-environment"]) == 0
    stored = b"".join(p.read_bytes() for p in (data_dir / "lake" / AUDIT_TABLE).rglob("*") if p.is_file())
    assert b"pepper-from-the-environment" not in stored and b"--user" in stored


def test_a_refused_command_records_its_exit_code_and_cause(data_dir):
    assert main(["run", "--no-serve", "--day", "2020-01-01"]) == 2
    [row] = rows(data_dir)
    assert (row["command"], row["exit_code"]) == ("run", 2)
    assert row["cause"].startswith("anpr run: --day 2020-01-01 is out of range")


@pytest.mark.parametrize(("raised", "code", "cause"), [
    (RuntimeError("disk full\nmore"), 1, "RuntimeError: disk full"),
    (KeyboardInterrupt(), 130, "interrupted (Ctrl-C or SIGTERM)"),
])
def test_a_failed_or_interrupted_command_is_recorded(data_dir, monkeypatch, raised, code, cause):
    def broken(args, settings):
        raise raised

    monkeypatch.setattr("cli.main.cmd_stream", broken)
    assert main(["stream", "status"]) == code
    [row] = rows(data_dir)
    assert (row["command"], row["exit_code"], row["cause"]) == ("stream status", code, cause)


def test_audit_show_filters_by_command_user_since_and_last(data_dir, capsys):
    lake = DeltaReader(str(data_dir / "lake"))
    for i, (command, user) in enumerate([("stats", "alice"), ("register load", "bob"), ("stats", "bob"),
                                         ("retention run", "alice")]):
        run = CommandRun(command, [*command.split(), "--month", "2026-10"], user,
                         started_at=datetime(2026, 11, 1 + i, 3, tzinfo=UTC))
        run.record(release_id=f"r{i}")
        append(lake, run.row(0, None, ended_at=datetime(2026, 11, 1 + i, 4, tzinfo=UTC)))
    assert main(["audit", "show", "--command", "stats"]) == 0
    out = capsys.readouterr().out.splitlines()
    shown = [line for line in out if not line.startswith(" ")]
    assert len(shown) == 2 and all("anpr stats --month 2026-10" in line for line in shown)
    assert shown[0].startswith("2026-11-03 03:00:00Z") and "bob" in shown[0] and '"release_id": "r2"' in out[1]
    assert [r["release_id"] for r in map(lambda r: json.loads(r["facts"]), read_audit(lake, user="alice"))] == \
        ["r3", "r0"]
    assert [r["command"] for r in read_audit(lake, since=datetime(2026, 11, 2, 12, tzinfo=UTC))] == \
        ["audit show", "retention run", "stats"]  # the `audit show` above was audited too
    assert [r["command"] for r in read_audit(lake, command="register", last=1)] == ["register load"]
    assert main(["audit", "show", "--since", "not a date"]) == 2


def test_the_table_is_append_only(data_dir):
    from deltalake import DeltaTable

    append(DeltaReader(str(data_dir / "lake")), CommandRun("stats", [], "u").row(0, None))
    table = DeltaTable(str(data_dir / "lake" / AUDIT_TABLE))
    with pytest.raises(Exception, match="(?i)append"):
        table.delete()
    assert len(table.to_pyarrow_table()) == 1


def test_an_audit_write_failure_keeps_the_exit_code_and_says_so_in_one_line(data_dir, monkeypatch, capsys):
    def fail(lake, row):
        raise OSError("No space left on device\nsecond line")

    monkeypatch.setattr("cli.audit.append", fail)
    assert main(["run", "--no-serve", "--day", "2020-01-01"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("anpr: the operator audit trail could not be written (OSError: No space left on device)")
    assert len(err) == 2  # the command's own line, then this one
    logged = (data_dir / "logs" / "anpr.log").read_text()
    assert "operator audit row not written" in logged and '"command": "run"' in logged


def test_a_command_stopped_by_sigterm_is_recorded_as_interrupted(data_dir):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    script = ("import sys, time\nimport cli.main as m\n"
              "def slow(args, settings):\n    print('running', flush=True)\n    time.sleep(60)\n    return 0\n"
              "m.cmd_stream = slow\nsys.exit(m.main(['stream', 'status']))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdout.readline() == b"running\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    [row] = rows(data_dir)
    assert (row["command"], row["exit_code"], row["cause"]) == ("stream status", 130, "interrupted (Ctrl-C or SIGTERM)")


class StubLake:
    """Table versions as a lake reports them; the jobs themselves are replaced (their own tests run them)."""

    def __init__(self, versions):
        self.versions = versions

    def exists(self, name):
        return name in self.versions

    def version(self, name):
        return self.versions[name]


class StubSpark:
    def stop(self):
        pass


@pytest.fixture
def no_spark(monkeypatch):
    monkeypatch.setattr("anpr.spark.get_spark", lambda settings: StubSpark())


def test_stats_records_its_release_sources_and_written_versions(monkeypatch, no_spark, tmp_path, capsys):
    from argparse import Namespace

    from anpr.settings import Settings
    from jobs.stats.cli import cmd_stats
    from jobs.stats.release import Release

    lake = StubLake({"releases": 7, "internal/suppressions": 7, "published/v2/t4_1_uur_camera": 5})
    monkeypatch.setattr("anpr.lake.make_lake", lambda settings, spark: lake)
    release = Release("2026-10-20261103T020000Z-1a2b3c4d", "2026-10", {"t4_1_uur_camera": 12},
                      source_versions={"passages": 41, "municipality": "GM0344"})
    monkeypatch.setattr("jobs.stats.job.run_monthly_stats", lambda *a, **k: release)
    run = CommandRun("stats", ["stats", "--month", "2026-10"], "u")
    with running(run):
        assert cmd_stats(Namespace(month="2026-10", municipality=None), Settings(data_dir=tmp_path)) == 0
    assert run.facts == {"release_id": release.release_id,
                         "source_versions": {"passages": 41, "municipality": "GM0344"},
                         "read": {"passages": 41},
                         "written": {"releases": 7, "internal/suppressions": 7, "published/v2/t4_1_uur_camera": 5}}


def test_retention_records_the_rows_it_deleted(monkeypatch, no_spark, tmp_path, capsys):
    from argparse import Namespace

    from anpr.settings import Settings
    from jobs.retention import Outcome
    from jobs.retention_cli import cmd_retention

    monkeypatch.setattr("anpr.lake.make_lake", lambda settings, spark: StubLake({"quarantine": 4, "passages": 9}))
    outcomes = [Outcome("quarantine", "ingest_date < 2026-10-31", 120, 3),
                Outcome("passages", "event months 2026-08", 0)]
    monkeypatch.setattr("jobs.retention.run_retention", lambda *a, **k: outcomes)
    run = CommandRun("retention run", ["retention", "run"], "u")
    with running(run):
        assert cmd_retention(Namespace(dry_run=False), Settings(data_dir=tmp_path)) == 0
    assert run.facts == {"dry_run": False, "rows_deleted": {"quarantine": 120, "passages": 0},
                         "files_removed": {"quarantine": 3, "passages": 0},
                         "written": {"quarantine": 4, "passages": 9}}


def test_register_load_records_the_versions_of_the_tables_it_loaded(monkeypatch, tmp_path, capsys):
    from argparse import Namespace
    from datetime import date

    from anpr.settings import Settings
    from jobs.register import LoadReport
    from jobs.register.cli import FILES, cmd_register_load

    regions = tmp_path / "regions.csv"
    regions.write_text("postcode4,gemeente_code,nuts3_code\n3511,GM0344,NL310\n")
    lake = StubLake({"register/regions": 3})
    monkeypatch.setattr("jobs.register.cli.open_lake", lambda settings: (lake, None))
    monkeypatch.setattr("jobs.register.load_register_files",
                        lambda *a, **k: [LoadReport("register/regions", 1, 0, inserted=1)])
    args = Namespace(**{name: None for name in FILES}, as_of=date(2026, 11, 1), complete=False)
    args.regions = regions
    run = CommandRun("register load", ["register", "load", "--regions", str(regions)], "u")
    with running(run):
        assert cmd_register_load(args, Settings(data_dir=tmp_path)) == 0
    assert run.facts == {"written": {"register/regions": 3},
                         "rows": {"register/regions": {"in": 1, "rejected": 0, "inserted": 1, "closed": 0,
                                                       "updated": 0}}}

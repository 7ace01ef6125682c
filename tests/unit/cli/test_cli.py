"""Every subcommand answers --help, so an operator can find their way from `anpr --help` down."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from anpr.settings import get_settings
from cli.main import build, main, parse


def command_paths(command=None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    command = command or typer.main.get_command(build())
    paths = []
    for name, child in getattr(command, "commands", {}).items():  # a group's subcommands
        paths.append((*prefix, name))
        paths += command_paths(child, (*prefix, name))
    return paths


def test_the_expected_commands_exist():
    assert {"broker", "run", "stream", "stats", "serve-api", "serve-ingest", "feed", "register", "onboard",
            "retention", "audit", "privacy", "keys"} <= {path[0] for path in command_paths()}
    assert {("register", "load"), ("feed", "csv"), ("retention", "run"), ("audit", "show"),
            ("privacy", "request"), ("keys", "rotate")} <= set(command_paths())


@pytest.mark.parametrize("path", [(), *command_paths()], ids=lambda path: " ".join(path) or "anpr")
def test_every_subcommand_has_help(path, capsys):
    assert main([*path, "--help"]) == 0
    assert f"Usage: {' '.join(('anpr', *path))} " in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    ([], "anpr: Missing command. (see anpr --help)"),
    (["statz"], "anpr: No such command 'statz'. Did you mean 'stats'? (see anpr --help)"),
    (["stats"], "anpr stats: Missing option '--month'. (see anpr stats --help)"),
    (["stream", "stop"], "anpr stream: Invalid value for 'action': Value error, 'stop' is not one of 'run', "
                         "'status'. (see anpr stream --help)"),
    (["run", "--day", "2026-13-01"], "anpr run: Invalid value for '--day': Value error, month must be in 1..12 "
                                     "(see anpr run --help)"),
    (["register", "load", "--as-of", "2026-11-01", "--vehicle", "v.csv"],
     "anpr register load: No such option: --vehicle (Possible options: --vehicles) (see anpr register load --help)"),
])
def test_a_usage_error_is_status_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", message + "\n")
    assert not (tmp_path / "lake").exists()  # refused before anything ran, so not audited either


def test_options_reach_the_command_as_parsed():
    args = parse(["stream", "status", "--last", "3"])
    assert (args.command, args.action, args.last, args.until_idle) == ("stream", "status", 3, False)
    args = parse(["privacy", "request", "--plate", "x", "--country", "NL", "--from", "2026-10-01", "--to",
                  "2026-10-31", "--erase"])
    assert (args.command, str(args.start), str(args.end), args.erase, args.report) == \
        ("privacy request", "2026-10-01", "2026-10-31", True, None)
    args = parse(["onboard", "--name", "A", "--code", "GM1", "--zones", "z", "--supplier", "s",
                  "--time-window", "a,07:00,19:00,1-5", "--time-window", "b,07:00,12:00,6"])
    assert args.time_window == ["a,07:00,19:00,1-5", "b,07:00,12:00,6"] and args.dev is False


def test_run_refuses_a_day_outside_the_lateness_window(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    assert main(["run", "--no-serve", "--day", "2020-01-01"]) == 2
    assert "out of range" in capsys.readouterr().err


def test_a_stream_without_a_configured_broker_says_how_to_start_one_in_one_line(capsys, monkeypatch, tmp_path):
    """An attacker's review met it after `anpr run --no-serve` had ended and `anpr feed` had published to the
    data directory's broker for its own run only: the line names the command that serves that broker again."""
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ANPR_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    get_settings.cache_clear()
    assert main(["stream", "--until-idle"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "start the data directory's broker with `anpr broker`" in err


def test_simulated_history_is_refused_where_the_topic_would_delete_it_unread(capsys, monkeypatch, tmp_path):
    """Kafka deletes by record timestamp and the topic keeps 22 hours: history stamped days back would be gone
    before the stream reads it (a review's case), so nothing is published."""
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    assert main(["feed", "synth", "--via", "kafka", "--simulated-time", "--day", "2026-01-01"]) == 2
    assert "would be deleted unread" in capsys.readouterr().err


STREAM_FAILURE = "\n".join([
    "[STREAM_FAILED] Query [id = 5b7, runId = 9c1] terminated with exception: An exception was raised by the "
    "Python Proxy. Return Message: Traceback (most recent call last):",
    '  File "/x/py4j/clientserver.py", line 644, in _call_proxy',
    "    return_value = getattr(self.pool[obj_id], method)(*params)",
    '  File "/x/streaming/topics.py", line 91, in guard',
    "    raise identity_error(checkpoint, changed)",
    "streaming.topics.TopicIdentityError: topic anpr.observations (id a, now b) is not the topic checkpoint c read",
    "\tat org.apache.spark.sql.execution.streaming.StreamExecution.runStream(StreamExecution.scala:350)",
    *["\tat some.Frame(Frame.java:1)"] * 150,
])

JVM_FAILURE = "\n".join([
    "[STREAM_FAILED] Query [id = 5b7] terminated with exception: org.apache.spark.SparkException: Job aborted.",
    "\tat org.apache.spark.Foo(Foo.scala:1)",
    "Caused by: org.apache.kafka.common.errors.TimeoutException: Timeout of 60000ms expired before the position "
    "for partition anpr.observations-0 could be determined",
    "\tat org.apache.kafka.Bar(Bar.java:2)",
])


@pytest.mark.parametrize(("message", "expected"), [
    (STREAM_FAILURE, "TopicIdentityError: topic anpr.observations (id a, now b) is not the topic checkpoint c read"),
    (JVM_FAILURE, "TimeoutException: Timeout of 60000ms expired before the position for partition "
                  "anpr.observations-0 could be determined"),
    ("plain failure\nsecond line", "RuntimeError: plain failure"),
    ("", "RuntimeError"),
])
def test_a_failure_is_told_in_one_line_by_its_innermost_cause(message, expected):
    from cli.errors import one_line_cause

    assert one_line_cause(RuntimeError(message)) == expected


def test_the_terminal_gets_the_first_line_and_the_log_file_the_traceback(tmp_path, capsys):
    import logging

    from anpr.logs import setup_logging

    setup_logging(tmp_path)
    try:
        raise ValueError("broken\nsecond line")
    except ValueError:
        logging.getLogger("anpr.test").exception("step failed")
    terminal = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(terminal) == 1 and terminal[0].endswith("ERROR anpr.test step failed")
    assert "Traceback" in (tmp_path / "anpr.log").read_text()
    setup_logging(None)


def test_a_client_librarys_connection_errors_go_to_the_log_file_only(tmp_path, capsys):
    import logging

    from anpr.logs import setup_logging

    setup_logging(tmp_path)
    logging.getLogger("kafka.net.manager").error("Connection failed: KafkaConnectionError: 111 ECONNREFUSED")
    logging.getLogger("anpr.test").warning("our own warning")
    terminal = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(terminal) == 1 and terminal[0].endswith("WARNING anpr.test our own warning")
    assert "ECONNREFUSED" in (tmp_path / "anpr.log").read_text()
    setup_logging(None)


def test_a_busy_port_fails_in_one_line_before_anything_says_listening(capsys, monkeypatch, tmp_path):
    import socket

    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve-api", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert "listening" not in out + err
    lines = [line for line in err.splitlines() if line]
    assert lines == [f"anpr serve-api: cannot listen on 127.0.0.1:{port} (Address already in use): is another "
                     "server running there? Stop it or choose another port with --port"]
    get_settings.cache_clear()


@pytest.mark.parametrize("command, closed", [(["stream", "status"], "stdout"),
                                             (["run", "--no-serve", "--day", "2020-01-01"], "stderr")])
def test_a_reader_that_goes_away_ends_a_command_quietly(command, closed, tmp_path):
    """`anpr stream status | head -1`: the reader is gone before the command writes; no traceback."""
    anpr = Path(sys.executable).with_name("anpr")
    env = {**os.environ, "ANPR_DATA_DIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[3])}
    env.pop("ANPR_KAFKA__BOOTSTRAP_SERVERS", None)
    proc = subprocess.Popen([str(anpr), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    gone, kept = (proc.stdout, proc.stderr) if closed == "stdout" else (proc.stderr, proc.stdout)
    gone.close()  # long before the command's imports are done and it writes
    left = kept.read().decode()
    assert proc.wait(timeout=60) == 141  # 128 + SIGPIPE, as `yes | head -1` ends
    assert "Traceback" not in left and "BrokenPipeError" not in left and left == ""


PEPPER = "pepper-of-a-real-deployment-0123456789abcdef"
VENDOR_KEY = "vendor-key-of-a-real-deployment-0123456789"


@pytest.mark.parametrize("pepper, env, cause", [
    # pydantic's own text quotes the input: a short pepper was printed whole, and beside any other refusal
    # the tail of the environment table with the valid vendor keys
    ("SHORTPEPPERSECRET", {}, "cluster profile refuses the pepper"),
    (PEPPER, {"ANPR_VENDOR_KEYS": '{"esri": "shortkeyXYZ"}'}, "refuses the vendor key esri"),
    (PEPPER, {"ANPR_VENDOR_KEYS": f'{{"esri": "{VENDOR_KEY}"}}'}, "refuses Kafka over PLAINTEXT"),
    (PEPPER, {"ANPR_VENDOR_KEYS": f'{{"esri": {{"k": "{VENDOR_KEY}"}}}}'}, "vendor_keys.esri: "),
    (None, {"ANPR_PEPPER_FILE": "/nonexistent/pepper"}, "cannot read the secret file /nonexistent/pepper"),
    (None, {"ANPR_PEPPER": PEPPER}, "set ANPR_PEPPER_FILE, not ANPR_PEPPER"),
])
def test_a_refused_setting_is_named_in_one_line_that_never_holds_a_secret(capsys, monkeypatch, tmp_path, pepper,
                                                                          env, cause):
    monkeypatch.setenv("ANPR_PROFILE", "cluster")
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ANPR_KAFKA__SECURITY__PROTOCOL", "PLAINTEXT")
    monkeypatch.delenv("ANPR_PEPPER", raising=False)
    if pepper is not None:
        (tmp_path / "pepper").write_text(pepper)
        monkeypatch.setenv("ANPR_PEPPER_FILE", str(tmp_path / "pepper"))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        assert main(["keys", "list"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert err.startswith("anpr: invalid settings: ") and cause in err and err.count("\n") == 1
    for secret in ("SHORTPEPPERSECRET", "shortkeyXYZ", PEPPER, PEPPER[-12:], VENDOR_KEY[-12:]):
        assert secret not in err


def test_a_data_directory_that_cannot_be_made_is_one_line(capsys, monkeypatch, tmp_path):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("ANPR_DATA_DIR", str(tmp_path / "file" / "data"))
    get_settings.cache_clear()
    try:
        assert main(["keys", "list"]) == 2
    finally:
        get_settings.cache_clear()
    assert capsys.readouterr().err == (f"anpr: cannot use the data directory {tmp_path}/file/data: Not a directory "
                                       "(set ANPR_DATA_DIR to a writable directory)\n")


@pytest.mark.parametrize("content, lines", [(b"", 0), (b"a\n", 1), (b"a\nb", 2), (b"a\r\nb\r\n", 2),
                                            (b"x" * (1 << 20) + b"\n" + b"y", 2)])
def test_the_feeds_progress_total_counts_lines_in_chunks(tmp_path, content, lines):
    from cli.feeds import _line_count

    (tmp_path / "export.csv").write_bytes(content)
    assert _line_count(tmp_path / "export.csv") == lines

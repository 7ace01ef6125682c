"""anpr.log is rotated by size while several processes append to it, and no line is lost on the way."""

import logging
import os
import subprocess
import sys
from pathlib import Path

from anpr.logs import setup_logging
from anpr.settings import LogSettings, Settings

WRITER = """
import logging, sys
from pathlib import Path
from anpr.logs import setup_logging
from anpr.settings import LogSettings

log_dir, name, lines = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
setup_logging(log_dir, rotation=LogSettings(max_bytes=int(sys.argv[4]), backup_count=int(sys.argv[5])))
print("ready", flush=True)
sys.stdin.readline()  # both writers start together
log = logging.getLogger("anpr.test")
for i in range(lines):
    log.info("%s line %05d batch written to passages", name, i)
"""


def logged_lines(log_dir: Path) -> list[str]:
    return [line for f in sorted(log_dir.glob("anpr.log*")) for line in f.read_text().splitlines()]


def test_two_processes_writing_rotate_the_file_and_lose_nothing(tmp_path):
    max_bytes, lines = 16 * 1024, 3000  # ~90 bytes a line: each writer alone fills about 16 files
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, str(lines), str(max_bytes), "100"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, text=True)
               for name in ("stream", "ingest")]
    for w in writers:
        assert w.stdout.readline() == "ready\n"
    for w in writers:
        w.stdin.write("go\n")
        w.stdin.close()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]

    files = sorted(tmp_path.glob("anpr.log*"))
    assert len(files) > 20  # rotated: anpr.log, anpr.log.1, ...
    assert all(f.stat().st_size < max_bytes + 200 for f in files)  # rotated at max_bytes: one line more at most
    logged = logged_lines(tmp_path)
    assert any(" stream line " in f.read_text() and " ingest line " in f.read_text() for f in files)  # together
    for name in ("stream", "ingest"):
        mine = sorted(line.split(" INFO anpr.test ")[1] for line in logged if f" {name} line " in line)
        assert mine == [f"{name} line {i:05d} batch written to passages" for i in range(lines)]  # each once
    assert len(logged) == 2 * lines


def test_only_backup_count_rotated_files_are_kept(tmp_path):
    setup_logging(tmp_path, rotation=LogSettings(max_bytes=2048, backup_count=2))
    try:
        for i in range(500):
            logging.getLogger("anpr.test").info("line %05d", i)
    finally:
        setup_logging(None)
    assert sorted(f.name for f in tmp_path.glob("anpr.log*")) == ["anpr.log", "anpr.log.1", "anpr.log.2"]
    assert (tmp_path / "anpr.log").read_text().splitlines()[-1].endswith("line 00499")  # the newest lines


def test_rotation_is_configured_in_the_typed_settings(monkeypatch):
    assert Settings().logs == LogSettings(max_bytes=20 * 1024 * 1024, backup_count=10)  # conf/base.toml
    monkeypatch.setenv("ANPR_LOGS__MAX_BYTES", "1048576")
    assert Settings().logs.max_bytes == 1048576

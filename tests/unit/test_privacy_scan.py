"""The privacy scan itself must find what it looks for, or the privacy tests prove nothing."""

import pyarrow as pa
import pyarrow.parquet as pq

from tests.privacy import find_plates


def test_finds_plates_in_any_form_in_text_and_parquet(tmp_path):
    (tmp_path / "log.txt").write_text("read vx123b at camera 3")
    pq.write_table(pa.table({"x": ["noise", "GZ 456 K"]}), tmp_path / "part-0.parquet", compression="snappy")
    (tmp_path / "clean.txt").write_text("nothing here")
    hits = {f for f, _ in find_plates(tmp_path, ["VX-123-B", "GZ-456-K"])}
    assert hits == {"log.txt", "part-0.parquet"}


def test_hex_only_plates_do_not_match_lowercase_digests(tmp_path):
    (tmp_path / "tokens.txt").write_text("a9c12bdf3e")
    assert find_plates(tmp_path, ["12-BDF-3"]) == []


def test_excluded_top_level_folders_are_not_scanned(tmp_path):
    (tmp_path / "broker").mkdir()
    (tmp_path / "broker" / "00000.log").write_text("VX123B")
    (tmp_path / "lake").mkdir()
    (tmp_path / "lake" / "broker.txt").write_text("GZ456K")
    hits = {f for f, _ in find_plates(tmp_path, ["VX-123-B", "GZ-456-K"], exclude=["broker"])}
    assert hits == {"lake/broker.txt"}


def test_a_parquet_file_a_killed_writer_cut_short_is_scanned_as_raw_bytes(tmp_path):
    """A driver killed by SIGKILL mid-write leaves a data file without its footer (empty, or cut short) that no
    Delta commit names: the scan reads its bytes instead of failing on it."""
    pq.write_table(pa.table({"x": ["VX 123 B"]}), tmp_path / "whole.parquet", compression="none")
    (tmp_path / "empty.parquet").write_bytes(b"")
    (tmp_path / "cut.parquet").write_bytes((tmp_path / "whole.parquet").read_bytes()[:-8])
    hits = {f for f, _ in find_plates(tmp_path, ["VX-123-B", "GZ-456-K"])}
    assert hits == {"whole.parquet", "cut.parquet"}

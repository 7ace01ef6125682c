"""The privacy scan itself must find what it looks for, or the privacy tests prove nothing."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.privacy import find_plates, find_strings


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


def test_exact_strings_are_found_in_text_and_parquet_and_only_files_are_named(tmp_path):
    key = "3f9a" * 16
    (tmp_path / "log.txt").write_text(f"key={key} kept")
    pq.write_table(pa.table({"k": ["other", "tok-77"]}), tmp_path / "part-0.parquet")
    (tmp_path / "upper.txt").write_text(key.upper())  # keys and tokens are exact: no case folding
    assert find_strings(tmp_path, [key, "tok-77"]) == ["log.txt", "part-0.parquet"]
    assert find_strings(tmp_path, []) == []
    with pytest.raises(ValueError, match="empty"):
        find_strings(tmp_path, [""])
    with pytest.raises(ValueError, match="empty"):
        find_plates(tmp_path, ["--"])

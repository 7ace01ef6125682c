"""Scan a directory for plates in any normalization: raw files as bytes, Parquet decompressed.

A plate counts as found when its normalized form (letters and digits, no separators) appears in a
file once separators are removed, in any case. Hex digests are lowercase and a plate made only of
hex characters would match one by chance, so such plates are matched in upper case only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import ahocorasick
import pyarrow as pa
import pyarrow.parquet as pq

HEX = set("0123456789ABCDEF")
SEPARATORS = re.compile(r"[\s._\-]")


def _normalized(plate: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", plate.upper())


def _texts(path: Path) -> Iterable[str]:
    """A file's text: Parquet decompressed, column by column; anything else, and a Parquet file without its
    footer (a writer killed mid-file leaves one, empty or cut short, that no table commit names), as raw bytes."""
    if path.suffix == ".parquet":
        try:
            # One file, not a dataset: a Hive-style folder name must not add a second copy of a column.
            table = pq.ParquetFile(path).read()
        except pa.ArrowInvalid:
            pass  # no footer: read as raw bytes below
        else:
            for column in table.columns:
                yield "\n".join(str(v) for v in column.to_pylist())
            return
    yield path.read_bytes().decode("latin-1")


def _automaton(forms: Iterable[str]) -> ahocorasick.Automaton | None:
    """All forms searched at once, in one pass over a text (Aho-Corasick): an alternation regex of a day's
    fleet tried every form at each position, minutes for a demo's data dir."""
    automaton = ahocorasick.Automaton()
    for form in set(forms):
        if not form:  # a plate or key that is nothing would match nowhere here, and the check would pass
            raise ValueError("an empty plate or string to scan for")
        automaton.add_word(form, None)
    if not len(automaton):
        return None
    automaton.make_automaton()
    return automaton


def _found(automaton: ahocorasick.Automaton | None, text: str) -> bool:
    return automaton is not None and next(automaton.iter(text), None) is not None


def _scanned(root: Path, exclude: Iterable[str]) -> list[Path]:
    """The files under root, in order, but those in the top-level folders named in exclude."""
    skipped = {root / name for name in exclude}
    return sorted(p for p in root.rglob("*") if p.is_file() and not skipped & set(p.parents))


def find_plates(root: Path, plates: Iterable[str], exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """Files under root holding any of the plates, skipping the top-level folders in exclude."""
    norms = {_normalized(p) for p in plates}
    any_case = _automaton(n for n in norms if not set(n) <= HEX)
    upper_only = _automaton(n for n in norms if set(n) <= HEX)
    hits = []
    for path in _scanned(root, exclude):
        for text in _texts(path):
            squeezed = SEPARATORS.sub("", text)
            if _found(any_case, squeezed.upper()) or _found(upper_only, squeezed):
                hits.append((str(path.relative_to(root)), "<plate>"))  # never echo the plate itself
                break
    return hits


def find_strings(root: Path, needles: Iterable[str], exclude: Iterable[str] = ()) -> list[str]:
    """Files under root holding any of the exact strings (keys, tokens), raw bytes and decompressed
    Parquet alike, skipping the folders in exclude (paths relative to root). Names files, never needles."""
    automaton = _automaton(needles)
    if automaton is None:
        return []
    return [str(path.relative_to(root)) for path in _scanned(root, exclude)
            if any(_found(automaton, text) for text in _texts(path))]

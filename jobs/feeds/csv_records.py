"""The records of a supplier's CSV export, read from the open file a chunk at a time: never the whole file in memory.

Text: the file is decoded in the mapping's encoding as it is read; a file that is not such text is unusable, and
`undecodable` says where (line and byte) and what the supplier can do. A UTF-16 byte-order mark under another encoding
is named at once (`check_start`).

Lines end at `\\r\\n`, `\\r` or `\\n`, as csv counts them. A record (what csv.reader makes of one line, or of several
when a quoted field holds line breaks) may hold at most MAX_RECORD characters and MAX_RECORD_LINES lines: an
export's row is far shorter, and without a limit one file without line breaks, or quoted fields running on, would
be held whole.

A record is `broken` when it cannot be a row whatever its cells: a quote that opens and is never closed, or that runs
on into a record with another field count than the header's or takes in a line holding a row's worth of delimiters,
was a stray quote that swallowed the rows after it. Its row is a bad row on the line the quote opens on, and the lines
after that one are read again as rows of their own, so nothing it swallowed goes unreported. Only the lines of the
record being read are kept for that.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, TextIO

MAX_RECORD = 1 << 20  # characters of one record, its line breaks included
MAX_RECORD_LINES = 10_000  # lines of one record: a line held costs some 50 bytes besides its characters
_CHUNK = 1 << 14  # characters decoded at a time
_BREAK = re.compile(r"\r\n|\r|\n")


class Unusable(Exception):
    """The file is not an export as the mapping describes it; the message is the export's problem."""


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def check_start(file: BinaryIO, encoding: str) -> None:
    """Unusable for a UTF-16 file read as another encoding (Excel's "Unicode Text"); reads two bytes."""
    # UTF-32's little-endian mark starts as UTF-16's does.
    if file.read(2) in _UTF16_BOMS and not codecs.lookup(encoding).name.startswith(("utf-16", "utf-32")):
        raise Unusable(f"UTF-16 text (it starts with a UTF-16 byte-order mark, as Excel's \"Unicode Text\" "
                       f"writes), not {encoding}: save it as \"CSV UTF-8\", or set encoding = \"utf-16\" in "
                       "the mapping")


def undecodable(file: BinaryIO, encoding: str) -> str:
    """Where a file that failed to decode first stops being `encoding` text, and what the supplier can do (reads it
    from the start, a chunk at a time: the failing read does not tell the byte)."""
    file.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)()
    lines, offset, after_cr, chunk = 1, 0, False, b""
    while True:
        chunk = file.read(_CHUNK)
        pending = decoder.getstate()[0]
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            # exc.start counts in what the codec saw: the bytes held from the last chunk and this one, less any
            # byte-order mark it skipped.
            seen = pending + chunk
            start = len(seen) - len(exc.object) + exc.start
            decoder.errors = "replace"
            lines += _breaks(decoder.decode(chunk[:max(0, start - len(pending))]), after_cr)
            return _not_text(lines, encoding, offset - len(pending) + start)
        except UnicodeError as exc:  # UTF-16 read a piece at a time wants a byte-order mark
            return f"not {encoding} text ({exc}): set the mapping's encoding to the file's, such as \"utf-16-le\""
        if not chunk:
            held = decoder.getstate()[0]
            if held:  # utf-8-sig keeps a file's last bytes that could begin a byte-order mark, even when final
                return _not_text(lines, encoding, offset - len(held))
            return f"not {encoding} text: set the mapping's encoding to the file's"
        lines += _breaks(text, after_cr)
        after_cr = text.endswith("\r") if text else after_cr
        offset += len(chunk)


def _not_text(line: int, encoding: str, byte: int) -> str:
    return (f"line {line}: not {encoding} text (byte {byte} of the file); save it as UTF-8 (Excel: \"CSV UTF-8\"), "
            "or set the mapping's encoding to the file's (encoding = \"cp1252\" for a Windows export)")


def _breaks(text: str, after_cr: bool) -> int:
    """Line breaks in `text`, `\\r\\n` counted once, also when the text before it ended with its `\\r`."""
    return text.count("\n") + text.count("\r") - text.count("\r\n") - (after_cr and text.startswith("\n"))


def _physical_lines(text: TextIO) -> Iterator[str | None]:
    """The lines of `text` with their line ends; None for a line of more than MAX_RECORD characters, not kept."""
    rest, skipping = "", False
    while True:
        chunk = text.read(_CHUNK)
        data, start = rest + chunk, 0
        for found in _BREAK.finditer(data):
            if chunk and found.end() == len(data) and found.group() == "\r":
                break  # the next chunk may start with the "\n" of this "\r\n"
            end = found.end()
            yield None if skipping or end - start > MAX_RECORD else data[start:end]
            start, skipping = end, False
        rest = data[start:]
        if not chunk:
            if rest or skipping:
                yield None if skipping or len(rest) > MAX_RECORD else rest
            return
        if len(rest) > MAX_RECORD:
            # Its text is dropped, but a "\r" held back above still ends it.
            rest, skipping = ("\r" if rest.endswith("\r") else ""), True


class _TooLong(Exception):
    """The record reached MAX_RECORD characters."""


class _Lines:
    """The lines of a text for csv.reader, which takes a record's lines one by one: `start` marks where a record
    begins, `again` gives the lines after its first once more. `ended`: the reader asked for a line past the last,
    which within a record only a quote never closed does."""

    def __init__(self, text: TextIO) -> None:
        self._lines = _physical_lines(text)
        self._again: list[str | None] = []  # lines to give once more, the next one last
        self.taken: list[str | None] = []  # the record's lines so far (None: one over MAX_RECORD)
        self.at = 0  # the number of the last line given
        self.ended = False
        self._size = 0

    def start(self) -> int:
        """A record starts; the number of its first line."""
        self.taken, self._size, self.ended = [], 0, False
        return self.at + 1

    def again(self) -> None:
        self._again.extend(reversed(self.taken[1:]))
        self.at -= len(self.taken) - 1
        self.taken = self.taken[:1]

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            line = self._again.pop()
        else:
            line = next(self._lines, "")
            if line == "":
                self.ended = True
                raise StopIteration
        self.at += 1
        self.taken.append(line)
        self._size += MAX_RECORD + 1 if line is None else len(line)
        if line is None or self._size > MAX_RECORD or len(self.taken) > MAX_RECORD_LINES:
            raise _TooLong
        return line


@dataclass(frozen=True)
class Record:
    line: int  # the line it starts on (1-based), where a quote that runs on opens
    cells: list[str]
    broken: str | None = None  # why it is not a row but a stray quote, or too long (cells then empty)


@dataclass(frozen=True)
class _Raw:
    first: int
    last: int  # the line it ends on
    cells: list[str]
    error: str | None = None  # why it cannot be a row, whatever its cells
    taken: tuple[str | None, ...] = ()  # the lines after its first that a quoted field took in


class Records:
    """The records under an export's header, in file order, blank ones left out. The header is read at once:
    Unusable when a quote in it is not closed on its line or it lacks a wanted column. `at`: each wanted column's
    index; `width`: the header's field count. UnicodeDecodeError (from reading) is the caller's to name."""

    def __init__(self, text: TextIO, delimiter: str, wanted: list[str]) -> None:
        self._lines = _Lines(text)
        self._reader = csv.reader(self._lines, delimiter=delimiter)
        self._delimiter = delimiter
        self.at, self.width = _columns(self._header(), wanted, delimiter)

    def __iter__(self) -> Iterator[Record]:
        while (raw := self._next()) is not None:
            broken = _broken(raw, self.width, self._delimiter)
            if broken is not None:
                self._lines.again()  # the lines the stray quote swallowed are read again, as rows
                yield Record(raw.first, [], broken)
            elif any(cell.strip() for cell in raw.cells):
                yield Record(raw.first, raw.cells)

    def _next(self) -> _Raw | None:
        first = self._lines.start()
        try:
            cells = next(self._reader)
        except StopIteration:
            return None
        except csv.Error as exc:  # a field past csv's size limit: most likely a quote running on
            return _Raw(first, self._lines.at, [], f"{exc} (an unbalanced quote?)")
        except _TooLong:
            if self._lines.at == first:
                return _Raw(first, first, [], f"line longer than {MAX_RECORD:,} characters: not a row")
            return _Raw(first, self._lines.at, [], f"a quote opens on this line and runs on for more than "
                                                   f"{MAX_RECORD:,} characters or {MAX_RECORD_LINES:,} lines (an "
                                                   "unbalanced quote?)")
        never_closed = "a quote opens on this line and is never closed: it runs on to the end of the file"
        return _Raw(first, self._lines.at, cells, never_closed if self._lines.ended else None,
                    tuple(self._lines.taken[1:]))

    def _header(self) -> list[str] | None:
        """Line 1's cells (None: an empty file)."""
        raw = self._next()
        if raw is None:
            return None
        if raw.error is not None or raw.last > raw.first:
            if raw.last == raw.first and raw.error is not None and raw.error.startswith("line longer"):
                raise Unusable(f"line 1 is longer than {MAX_RECORD:,} characters: not an export's header")
            raise Unusable("line 1: a quote in the header is not closed on its line (an unbalanced quote?)")
        return raw.cells


def _broken(record: _Raw, width: int, delimiter: str) -> str | None:
    """Why the record is not a row but a stray quote that took in the rows after it (None: a row, on one
    line or with a quoted field holding line breaks): the quote never closes, the record does not have the
    header's field count, or a line it took in holds a row's worth of delimiters."""
    why = record.error
    if why is None and record.taken:
        if len(record.cells) != width:
            why = (f"a quote opens on this line and runs on to line {record.last}, leaving {len(record.cells)} "
                   f"fields where the header has {width}")
        elif (row := _row_line(record, width, delimiter)) is not None:
            why = f"a quote opens on this line and runs on to line {record.last}, taking in the row on line {row}"
    if why is not None and record.last > record.first:
        why += "; the lines after it are read as rows"
    return why


def _row_line(record: _Raw, width: int, delimiter: str) -> int | None:
    """The first line the record took in that holds as many delimiters as a row: a line break in a field
    leaves only the row's remaining delimiters to the next line, a swallowed row brings all of its own
    (whether or not a stray quote of its own regroups them)."""
    for n, text in enumerate(record.taken, start=record.first + 1):
        if text is not None and text.count(delimiter) >= width - 1:
            return n
    return None


def _name(cell: str) -> str:
    return cell.replace("\ufeff", "").strip().casefold()


def _columns(header: list[str] | None, wanted: list[str], delimiter: str) -> tuple[dict[str, int], int]:
    """Where each wanted column is in the header, matched trimmed and in any case, and how many cells the header
    has; Unusable names the missing columns and what line 1 holds instead."""
    names = [_name(cell) for cell in header or []]
    missing = [c for c in wanted if _name(c) not in names]
    if missing:
        raise Unusable(f"missing columns {', '.join(missing)} in the header{_found(header, delimiter)}")
    return {c: names.index(_name(c)) for c in wanted}, len(names)


_SHOWN = 12  # header cells a rejection names
_DELIMITERS = ",;\t|"


def _found(header: list[str] | None, delimiter: str) -> str:
    """What line 1 holds instead: the delimiter it seems to use when it is one column, else its cells."""
    if header is None or not any(cell.strip() for cell in header):
        return " (line 1 is empty)"
    other = next((d for d in _DELIMITERS if d != delimiter and d in header[0]), None)
    if len(header) == 1 and other is not None:
        return (f" (line 1 is one column holding {other!r}: the file looks separated by {other!r} where the "
                f"mapping says {delimiter!r}; export it with {delimiter!r}, or set delimiter = {json.dumps(other)} "
                "in the mapping)")
    more = f", ... ({len(header)} in all)" if len(header) > _SHOWN else ""
    return f" (line 1 has {', '.join(_header_cell(cell) for cell in header[:_SHOWN])}{more})"


def _header_cell(cell: str) -> str:
    """A header cell as `shown`: line 1 of an export written without its header is a row."""
    return shown(cell.strip())


# A time of day, and nothing a plate could be: no plate holds a colon.
_TIME_TEXT = re.compile(r"[0-9 :./T+Z-]*:[0-9 :./T+Z-]*")
HIDDEN = "(not shown: it could hold a plate)"


def shown(cell: str, plate: str = "", digits_masked: bool = False) -> str:
    """A supplier's cell quoted (cut to 40 characters) for a report or a rejection, only where it cannot hold a
    plate: no digit at all (every Dutch plate and almost every other holds one) or a time of day, and not the
    row's own `plate`; folded by NFKC first, as the stream folds a plate (fullwidth digits are digits). Anything
    else is HIDDEN, whatever its shape: a plate with other text in the cell, longer than 8 characters or with
    unusual separators was printed by the shape rule this replaces (stop 47 review). A cell over lines is never
    shown: it may hold the rows a stray quote swallowed. digits_masked: a cell with digits is shown with each digit
    as `#` instead of HIDDEN (a location such as 'Kruising 12' to add to the mapping: 'Kruising ##'), which leaves
    no plate whole."""
    if "\n" in cell or "\r" in cell:
        return "(runs over several lines; not shown)"
    folded = unicodedata.normalize("NFKC", cell)
    own = re.sub(r"[^0-9A-Z]", "", unicodedata.normalize("NFKC", plate).upper())
    if own and own in re.sub(r"[^0-9A-Z]", "", folded.upper()):
        return HIDDEN
    if any(c.isdigit() for c in folded) and not _TIME_TEXT.fullmatch(folded):
        return repr("".join("#" if c.isdigit() else c for c in folded)[:40]) if digits_masked else HIDDEN
    return repr(cell[:40])

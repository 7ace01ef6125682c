"""Register files as read: placeholders, rejected values and duplicate keys, each with its line; never a value."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from anpr.register_conf import load_register_conf
from jobs.register import DuplicateKeysError, RegisterFiles
from jobs.register.csv_reader import (
    BODY_COLUMNS,
    COMPANY_COLUMNS,
    FUEL_COLUMNS,
    VEHICLE_COLUMNS,
    Read,
    companies,
    rdw_vehicles,
    read_csv,
)
from jobs.register.load import _read_files

PEPPER = b"test-register-pepper"
AS_OF = datetime(2026, 3, 1, tzinfo=UTC)
HEADER = "kenteken,voertuigsoort,europese_voertuigcategorie,inrichting,datum_eerste_toelating,massa_rijklaar," \
         "toegestane_maximum_massa_voertuig,merk"
FUEL = "kenteken,brandstof_volgnummer,brandstof_omschrijving\n"
BODY = "kenteken,carrosserie_volgnummer,carrosserietype\n"
PLATES = ["VX-123-B", "VZ-456-D", "BX-12-34", "BZ-56-78", "12-DFG-3"]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def vehicles(tmp_path: Path, rows: list[str]) -> Read:
    path = write(tmp_path, "vehicles.csv", "\n".join([HEADER, *rows]) + "\n")
    empty = write(tmp_path, "fuel.csv", FUEL), write(tmp_path, "body.csv", BODY)
    return rdw_vehicles(read_csv(path, VEHICLE_COLUMNS, ["kenteken"]), read_csv(empty[0], FUEL_COLUMNS, []),
                        read_csv(empty[1], BODY_COLUMNS, []), PEPPER, load_register_conf(), "Europe/Amsterdam")


def test_placeholders_are_missing_values_not_categories(tmp_path):
    path = write(tmp_path, "v.csv", HEADER + "\nVX-123-B,Personenauto,N.V.t.,Niet geregistreerd,20120315,1200,1700,"
                                              " niet geregistreerd \n")
    read = read_csv(path, VEHICLE_COLUMNS, ["kenteken"])
    row = read.table.to_pylist()[0]
    assert (row["europese_voertuigcategorie"], row["inrichting"], row["merk"]) == (None, None, None)
    assert read.rejected == 0 and row["_line"] == 2


def test_values_that_do_not_parse_are_rejected_with_their_lines(tmp_path):
    read = vehicles(tmp_path, ["VX-123-B,Personenauto,M1,hatchback,20120315,1200,1700,TOYOTA",
                               "VZ-456-D,Personenauto,M1,hatchback,31-31-2012,1200,1700,TOYOTA",  # line 3
                               "BX-12-34,Personenauto,M1,hatchback,20120315,zwaar,1700,TOYOTA",  # line 4
                               "",  # line 5: blank
                               "BZ-56-78,Personenauto,M1,hatchback,20120315,1200,-1700,TOYOTA",  # line 6
                               "12-DFG-3,Personenauto,M1,hatchback,,,,",  # empty values are missing, not bad
                               '"broken,row'])  # line 8: an unbalanced quote runs to the end of the file
    assert read.table.num_rows == 2 and read.rejected == 5
    assert read.lines == {"bad datum_eerste_toelating": [3], "bad massa_rijklaar": [4],
                          "bad toegestane_maximum_massa_voertuig": [6], "malformed row": [8],
                          "blank line or no value in the columns read": [5]}
    assert sorted(read.table["_line"].to_pylist()) == [2, 7]


def test_companies_with_a_bad_sbi_code_or_kvk_number_are_rejected_with_their_lines(tmp_path):
    path = write(tmp_path, "c.csv", "kvk_nummer,sbi_code,werkzame_personen\n12345678,49.41,8\n99999999,1,2,3\n"
                                    "87654321,ABC,8\n1234567890,4941,8\n,4941,3\n55555555,Niet geregistreerd,2\n")
    read = companies(read_csv(path, COMPANY_COLUMNS, ["kvk_nummer", "sbi_code"]), PEPPER)
    assert read.lines == {"malformed row": [3], "bad sbi_code": [4], "bad kvk_nummer": [5], "no KvK number": [6]}
    assert read.table["sbi_code"].to_pylist() == ["4941", None]  # the placeholder is a missing sector


def test_a_repeated_kenteken_is_kept_once_when_identical_and_rejected_when_its_rows_differ(tmp_path):
    same = "VX-123-B,Personenauto,M1,hatchback,20120315,1200,1700,TOYOTA"
    read = vehicles(tmp_path, [same, "VZ-456-D,Personenauto,M1,hatchback,20150101,1200,1700,KIA", same,
                               "VZ-456-D,Personenauto,M1,hatchback,20150101,1300,1700,KIA",
                               "BX-12-34,Personenauto,M1,hatchback,20150101,1300,1700,KIA"])
    found = read.dedupe(["vehicle_key"], "kenteken")
    assert (found.keys, found.conflicting, found.lines) == (2, 1, [2, 3, 4, 5])
    assert read.lines == {"kenteken on several lines with differing values": [3, 5],
                          "repeats an identical row of its kenteken": [4]}
    assert sorted(read.table["_line"].to_pylist()) == [2, 6]


def test_a_complete_load_with_a_duplicated_kenteken_is_refused_with_the_count_and_lines(tmp_path):
    # A paged download: page 2 (lines 4-5) came twice, so the vehicle of the page it displaced is absent.
    rows = ["VX-123-B,Personenauto,M1,hatchback,20120315,1200,1700,TOYOTA",
            "VZ-456-D,Personenauto,M1,hatchback,20150101,1200,1700,KIA",
            "BX-12-34,Personenauto,M1,hatchback,20150101,1300,1700,KIA",
            "12-DFG-3,Personenauto,M1,hatchback,20210101,1200,1700,TOYOTA",
            "BX-12-34,Personenauto,M1,hatchback,20150101,1300,1700,KIA",
            "12-DFG-3,Personenauto,M1,hatchback,20210101,1200,1700,TOYOTA"]
    files = RegisterFiles(vehicles=write(tmp_path, "vehicles.csv", "\n".join([HEADER, *rows]) + "\n"),
                          fuel=write(tmp_path, "fuel.csv", FUEL), body=write(tmp_path, "body.csv", BODY))
    with pytest.raises(DuplicateKeysError) as refused:
        _read_files(files, PEPPER, load_register_conf(), "Europe/Amsterdam", AS_OF, complete=True)
    message = str(refused.value)
    assert message.startswith("vehicles.csv: 2 kenteken value(s) occur on more than one line (0 with differing "
                              "values), lines 4, 5, 6, 7")
    assert "nothing was loaded" in message and "\n" not in message
    assert not any(re.search(p.replace("-", "-?"), message, re.IGNORECASE) for p in PLATES)
    reads = _read_files(files, PEPPER, load_register_conf(), "Europe/Amsterdam", AS_OF, complete=False)
    assert reads["register/vehicles"].table.num_rows == 4 and reads["register/vehicles"].duplicates.keys == 2

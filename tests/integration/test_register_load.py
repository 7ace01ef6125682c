"""Register files in the RDW export formats -> Delta tables: dimensions, history, privacy.

The samples below mimic the real exports: display-name headers with yyyymmdd dates (registered
vehicles), API field names with `;` and several rows per plate (fuel), empty fields, a broken row,
and an exemption file with a reason column that must never be loaded. Plates are synthetic.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import SecretStr

from anpr.lake import Lake
from anpr.pseudonym import company_key, vehicle_key
from anpr.register_tables import COMPANIES, EXEMPTIONS, LOADS, OWNERS, REGIONS, VEHICLES
from anpr.settings import Settings
from jobs.register import DuplicateKeysError, RegisterFiles, load_register_files
from jobs.register.csv_reader import RegisterFileError
from jobs.register.history import OutOfOrderLoadError
from streaming.enrich import read_register_snapshot
from tests.privacy import find_plates

pytestmark = pytest.mark.integration
PEPPER = "test-register-pepper"
VEHICLES_CSV = ("\ufeffKenteken,Voertuigsoort,Merk,Inrichting,Europese voertuigcategorie,Datum eerste toelating,"
                "Massa rijklaar,Toegestane maximum massa voertuig\n") + """\
VX-123-B,Bedrijfsauto,VOLKSWAGEN,gesloten opbouw,N1,20120315,1900,3000
VZ-456-D,Bedrijfsauto,RENAULT,gesloten opbouw,N1,20230601,1800,3100
BX-12-34,Bedrijfsauto,DAF,opleggertrekker,N3,20180505,7500,40000
BZ-56-78,Bedrijfsauto,MAN,gesloten opbouw,N2,20180101,5000,11990
12-DFG-3,Personenauto,TOYOTA,hatchback,M1,20210101,1200,1700
GH-789-K,Bedrijfsauto,FORD,,,20150101,,
"broken,row
"""
FUEL_CSV = """kenteken;brandstof_volgnummer;brandstof_omschrijving;emissiecode_omschrijving;uitlaatemissieniveau
VX123B;1;Diesel;5;EURO 5
VZ456D;1;Elektriciteit;;
BX1234;1;Diesel;;EURO VI C
BZ5678;1;Diesel;6;
12DFG3;2;Elektriciteit;;
12DFG3;1;Benzine;6;EURO 6 AP
"""
BODY_CSV = """kenteken,carrosserie_volgnummer,carrosserietype,type_carrosserie_europese_omschrijving
VX123B,1,BB,Bestelwagen
VZ456D,1,BB,Bestelwagen
BX1234,1,BC,Trekker voor oplegger
BZ5678,1,BA,Vrachtwagen
12DFG3,1,AB,Hatchback
"""
# VX-123-B is sold on 14 March 2026, from a builder in Utrecht to a transport company in Amsterdam.
OWNERS_CSV = """kenteken,datum_aanvang,datum_einde,soort_eigenaar,kvk_nummer,postcode4
VX-123-B,20200101,,B,12345678,3511
VX-123-B,20260314,,B,87654321,1012
VZ-456-D,20230601,,zakelijk,87654321,1012
BX-12-34,20180505,,B,55555555,5611
BZ-56-78,20180101,,B,55555555,5611
12-DFG-3,20210101,,P,,3512 AB
"""
COMPANIES_CSV = "kvk_nummer,sbi_code,werkzame_personen\n12345678,41201,8\n87654321,49.41,120\n55555555,4941,2000+\n"
REGIONS_CSV = """postcode4,gemeente_code,gemeente_naam,nuts3_code,nuts3_naam,provincie_code,provincie_naam
3511,GM0344,Utrecht,NL310,Utrecht,PV26,Utrecht
3512,GM0344,Utrecht,NL310,Utrecht,PV26,Utrecht
1012,GM0363,Amsterdam,NL329,Groot-Amsterdam,PV27,Noord-Holland
5611,GM0772,Eindhoven,NL414,Zuidoost-Noord-Brabant,PV30,Noord-Brabant
"""
EXEMPTIONS_CSV = """kenteken,gemeente_code,soort,geldig_vanaf,geldig_tot_en_met,reden
VX-123-B,GM0344,dagontheffing,20260310,20260310,medische-indicatie
VX-123-B,GM0363,langdurig,20250101,20261231,medische-indicatie
BX-12-34,344,jaar,2026-01-01,,bijzonder-voertuig
"""
PLATES = ["VX-123-B", "VZ-456-D", "BX-12-34", "BZ-56-78", "12-DFG-3", "GH-789-K"]
KVK = ["12345678", "87654321", "55555555"]
SAMPLES = {"vehicles": VEHICLES_CSV, "fuel": FUEL_CSV, "body": BODY_CSV, "owners": OWNERS_CSV,
           "companies": COMPANIES_CSV, "regions": REGIONS_CSV, "exemptions": EXEMPTIONS_CSV}


def write_samples(folder: Path, **overrides: str) -> RegisterFiles:
    folder.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, text in {**SAMPLES, **overrides}.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
        files[name] = folder / f"{name}.csv"
    return RegisterFiles(**files)


def utc(day: date) -> datetime:
    """Local (Amsterdam) midnight of a date, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Europe/Amsterdam")).astimezone(UTC)


@pytest.fixture
def loaded(tmp_path: Path, spark):
    settings = Settings(data_dir=tmp_path / "data", pepper=SecretStr(PEPPER))
    lake = Lake(settings.lake_root, spark)
    reports = load_register_files(lake, settings, write_samples(tmp_path / "in"), date(2026, 3, 1))
    return settings, lake, reports


def key(plate: str) -> str:
    return vehicle_key(PEPPER.encode(), plate, "NL")


def rows_of(lake: Lake, table: str, column: str, value: str) -> list[dict]:
    rows = lake.read_arrow(table, filters=[(column, "=", value)])
    return sorted(rows.to_pylist(), key=lambda r: r["valid_from"])


def test_vehicle_dimensions_row_by_row(loaded):
    _, lake, reports = loaded
    assert reports[0].table == VEHICLES and reports[0].rejected == 1 and reports[0].inserted == 6
    expected = {  # type, fuel, class, body, category, first admission
        "VX-123-B": ("Bestelauto", "Diesel", "Euro 5", "Bestelwagen", "N1", date(2012, 3, 15)),
        "VZ-456-D": ("Bestelauto", "Elektriciteit", "Z", "Bestelwagen", "N1", date(2023, 6, 1)),
        "BX-12-34": ("Vrachtauto", "Diesel", "Euro 6", "Trekker", "N3", date(2018, 5, 5)),
        "BZ-56-78": ("Vrachtauto", "Diesel", "Euro 6", "Vrachtwagen", "N2", date(2018, 1, 1)),
        "12-DFG-3": ("Personenauto", "Hybride", "Euro 6", "Hatchback", "M1", date(2021, 1, 1)),
        "GH-789-K": ("Overig", None, None, None, None, date(2015, 1, 1)),  # no category, mass, fuel or body
    }
    for plate, (kind, fuel, euro, body, category, admitted) in expected.items():
        (row,) = rows_of(lake, VEHICLES, "vehicle_key", key(plate))
        assert (row["voertuig_type"], row["brandstof"], row["emissieklasse"], row["carrosserie"],
                row["europese_voertuigcategorie"], row["datum_eerste_toelating"]) == (
            kind, fuel, euro, body, category, admitted), plate
        assert row["valid_from"] == utc(admitted) and row["valid_to"] is None


def test_owner_change_within_the_month_gives_two_correct_intervals(loaded):
    _, lake, _ = loaded
    first, second = rows_of(lake, OWNERS, "vehicle_key", key("VX-123-B"))
    sold = utc(date(2026, 3, 14))
    assert (first["valid_from"], first["valid_to"], first["company_key"], first["postcode4"]) == (
        utc(date(2020, 1, 1)), sold, company_key(PEPPER.encode(), "12345678"), 3511)
    assert (second["valid_from"], second["valid_to"], second["company_key"], second["postcode4"]) == (
        sold, None, company_key(PEPPER.encode(), "87654321"), 1012)
    (private,) = rows_of(lake, OWNERS, "vehicle_key", key("12-DFG-3"))
    assert (private["eigenaar_type"], private["company_key"], private["postcode4"]) == ("Particulier", None, 3512)

    register = read_register_snapshot(lake)
    times = [datetime(2026, 3, 13, 22, 59, tzinfo=UTC), datetime(2026, 3, 13, 23, 0, tzinfo=UTC)]
    days = pa.array([date(2026, 3, 13), date(2026, 3, 14)])
    out = register.lookup(pa.array([key("VX-123-B")] * 2), pa.array(["NL"] * 2),
                          pa.array(times, pa.timestamp("us", tz="UTC")), days, pa.array(["GM0344"] * 2))
    assert out["sbi_groep_code"].to_pylist() == ["41", "49"]  # afdelingen of 41201 and 49.41
    assert out["bedrijfsgrootte"].to_pylist() == ["Klein", "Midden"]
    assert out["herkomst_provincie"].to_pylist() == ["Utrecht", "Noord-Holland"]


def test_companies_regions_and_exemptions(loaded):
    _, lake, _ = loaded
    companies = {r["company_key"]: r for r in lake.read_arrow(COMPANIES).to_pylist()}
    assert companies[company_key(PEPPER.encode(), "87654321")]["sbi_code"] == "4941"
    assert companies[company_key(PEPPER.encode(), "55555555")]["werkzame_personen"] == 2000
    assert lake.read_arrow(REGIONS).num_rows == 4
    exemptions = sorted((r["municipality"], r["soort"], r["valid_from"], r["valid_to"])
                        for r in lake.read_arrow(EXEMPTIONS).to_pylist())
    assert exemptions == [("GM0344", "Langdurig", date(2026, 1, 1), None),
                          ("GM0344", "Tijdelijk", date(2026, 3, 10), date(2026, 3, 11)),
                          ("GM0363", "Langdurig", date(2025, 1, 1), date(2027, 1, 1))]
    assert "reden" not in lake.read_arrow(EXEMPTIONS).column_names


def test_monthly_load_merges_changes_without_rewriting_history(loaded, tmp_path):
    settings, lake, _ = loaded
    fixed = VEHICLES_CSV.replace("GH-789-K,Bedrijfsauto,FORD,,,20150101,,",
                                 "GH-789-K,Bedrijfsauto,FORD,,N1,20150101,,3000")
    without_bz = "\n".join(line for line in fixed.splitlines() if not line.startswith("BZ-56-78")) + "\n"
    april = write_samples(tmp_path / "april", vehicles=without_bz,
                          companies=COMPANIES_CSV.replace("12345678,41201,8", "12345678,43221,8"))
    reports = {r.table: r for r in load_register_files(lake, settings, april, date(2026, 4, 1), close_missing=True)}
    april_start = utc(date(2026, 4, 1))
    before, after = rows_of(lake, VEHICLES, "vehicle_key", key("GH-789-K"))
    assert (before["voertuig_type"], before["valid_to"]) == ("Overig", april_start)
    assert (after["voertuig_type"], after["valid_from"], after["valid_to"]) == ("Bestelauto", april_start, None)
    (exported,) = rows_of(lake, VEHICLES, "vehicle_key", key("BZ-56-78"))
    assert exported["valid_to"] == april_start
    builder = rows_of(lake, COMPANIES, "company_key", company_key(PEPPER.encode(), "12345678"))
    assert [(r["sbi_code"], r["valid_to"]) for r in builder] == [("41201", april_start), ("43221", None)]
    assert (reports[VEHICLES].inserted, reports[VEHICLES].closed) == (1, 2)
    assert (reports[OWNERS].inserted, reports[OWNERS].updated) == (0, 0)

    versions = {t: lake.version(t) for t in (VEHICLES, OWNERS, COMPANIES, REGIONS, EXEMPTIONS)}
    again = load_register_files(lake, settings, april, date(2026, 4, 1), close_missing=True)
    assert all((r.inserted, r.closed, r.updated) == (0, 0, 0) for r in again)
    assert versions == {t: lake.version(t) for t in versions}  # nothing committed to the register tables
    assert lake.read_arrow(LOADS).num_rows == 15
    with pytest.raises(OutOfOrderLoadError):
        load_register_files(lake, settings, april, date(2026, 3, 15))
    # A paged download that repeated the page of BX-12-34 and missed the one of VZ-456-D: refused whole.
    paged = [line for line in fixed.splitlines() if not line.startswith("VZ-456-D")]
    paged.insert(-1, paged[2])  # before the broken last line, whose open quote runs to the end of the file
    may = write_samples(tmp_path / "may", vehicles="\n".join(paged) + "\n")
    with pytest.raises(DuplicateKeysError, match=r"^vehicles.csv: 1 kenteken value\(s\) occur on more than one "
                                                 r"line \(0 with differing values\), lines 3, 7:"):
        load_register_files(lake, settings, may, date(2026, 5, 1), close_missing=True)
    assert versions == {t: lake.version(t) for t in versions} and lake.read_arrow(LOADS).num_rows == 15


def _texts(path: Path) -> str:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        return "\n".join(str(v) for c in table.columns for v in c.to_pylist())
    return path.read_bytes().decode("latin-1")


def find_numbers(root: Path, numbers: list[str]) -> list[str]:
    """Files holding any of the numbers, with or without leading zeros or separators."""
    pattern = re.compile("|".join(rf"(?<!\d){n.lstrip('0')}(?!\d)" for n in numbers))
    files = [p for p in sorted(root.rglob("*")) if p.is_file()]
    return [str(p) for p in files if pattern.search(re.sub(r"[\s.]", "", _texts(p)))]


def test_no_plate_kvk_number_or_exemption_reason_is_written(loaded):
    settings, _, _ = loaded
    assert find_plates(settings.data_dir, PLATES) == []
    assert find_numbers(settings.data_dir, KVK) == []
    assert not any("medische" in _texts(p) for p in settings.data_dir.rglob("*") if p.is_file())
    assert find_numbers(Path(__file__).parent, KVK), "the KvK scan must find what it looks for"


@pytest.mark.parametrize("text", ["plate,company\nVX-123-B,12345678\n", "VX-123-B,20200101,,B,12345678,3511\n"])
def test_file_errors_name_the_file_and_columns_never_a_value(tmp_path, text, spark):
    settings = Settings(data_dir=tmp_path / "data", pepper=SecretStr(PEPPER))
    files = write_samples(tmp_path / "in", owners=text)
    with pytest.raises(RegisterFileError) as error:
        load_register_files(Lake(settings.lake_root, spark), settings, RegisterFiles(owners=files.owners),
                            date(2026, 3, 1))
    message = str(error.value)
    assert "owners.csv" in message and "kenteken" in message
    assert not re.search(r"vx.?123.?b|12345678", message, re.IGNORECASE)  # not even as a header name


def test_cli_loads_files_and_reports_counts_without_plates(tmp_path, capsys, spark):
    from cli.main import parse

    files = write_samples(tmp_path / "in")
    argv = ["register", "load", "--as-of", "2026-03-01",
            *[arg for name in SAMPLES for arg in (f"--{name}", str(getattr(files, name)))]]
    args = parse(argv)
    settings = Settings(data_dir=tmp_path / "data", pepper=SecretStr(PEPPER))
    assert args.func(args, settings) == 0
    out = capsys.readouterr()
    assert "register/vehicles" in out.out and "malformed row" in out.out
    assert not any(p in out.out + out.err for p in PLATES + KVK)
    assert args.func(parse(["register", "load", "--as-of", "2026-02-01", "--companies",
                                     str(files.companies)]), settings) == 2  # out of date order

"""The supplier registry and `anpr onboard`: hashed keys, ownership, one-step onboarding."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from anpr.settings import CONF_DIR, Settings
from anpr.suppliers import Supplier, SupplierRegistry, hash_key, load_suppliers, save_supplier
from anpr.zones import load_municipalities
from cli.main import parse


def supplier(name: str, key: str, **extra) -> Supplier:  # noqa: ANN003
    return Supplier(name=name, company=name.title(), api_key_sha256=hash_key(key), municipalities=["GM0344"], **extra)


def test_the_shipped_registry_holds_digests_and_owns_the_demo_cameras():
    registry = load_suppliers()
    demo = registry.authenticate("dev-ingest-key-demo-supplier")
    assert demo is not None and demo.name == "demo-supplier" and demo.development
    assert registry.authenticate("dev-ingest-key-demo-supplierX") is None
    assert "dev-ingest-key-demo-supplier" not in (CONF_DIR / "suppliers.toml").read_text().split("# key:")[1][40:]
    assert set(demo.cameras) == {c.camera_id for c in load_municipalities()[0].cameras}


def test_cluster_profile_refuses_development_keys():
    registry = SupplierRegistry([supplier("a-supplier", "dev-a", development=True)])
    with pytest.raises(ValueError, match="development supplier keys"):
        registry.refuse_development_keys()


def test_a_camera_has_one_supplier_and_a_key_one_owner():
    with pytest.raises(ValueError, match="listed for both"):
        SupplierRegistry([supplier("aa", "k1", cameras=["c1"]), supplier("bb", "k2", cameras=["c1"])])
    with pytest.raises(ValueError, match="share an API key"):
        SupplierRegistry([supplier("aa", "k1"), supplier("bb", "k1")])


def test_saving_a_supplier_keeps_the_others(tmp_path):
    path = tmp_path / "suppliers.toml"
    shutil.copy(CONF_DIR / "suppliers.toml", path)
    save_supplier(path, supplier("new-supplier", "k-new", cameras=["c9"]))
    save_supplier(path, supplier("new-supplier", "k-new", cameras=["c9", "c10"]))
    registry = load_suppliers(path)
    assert sorted(registry.suppliers) == ["demo-supplier", "new-supplier"]
    assert registry.suppliers["new-supplier"].cameras == ["c9", "c10"]
    assert "# key: dev-ingest-key-demo-supplier" in path.read_text()


def run_cli(argv: list[str]) -> int:
    args = parse(argv)
    return int(args.func(args, Settings()))


def test_onboarding_a_municipality_in_one_step_lists_what_is_missing(tmp_path, capsys):
    conf = tmp_path / "conf"
    (conf / "municipalities").mkdir(parents=True)
    shutil.copy(CONF_DIR / "suppliers.toml", conf / "suppliers.toml")
    zone = {"type": "Feature", "properties": {"name": "ZE-zone binnenstad Amersfoort"}, "geometry": {
        "type": "Polygon", "coordinates": [[[5.380, 52.160], [5.396, 52.160], [5.396, 52.151], [5.380, 52.151],
                                            [5.380, 52.160]]]}}
    (tmp_path / "zone.geojson").write_text(json.dumps(zone))
    (tmp_path / "cameras.csv").write_text(
        "camera_id;name;lat;lon;azimuth_deg\n"
        "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f;Kamp;52.1592;5.3870;0\n"        # north edge, looking out
        "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d;Hof;52.1555;5.3880;90\n"       # middle: no direction rule
        "2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e;Stationsplein;52.1530;5.3740;0\n")  # 600 m outside: no zone
    code = run_cli(["onboard", "--name", "Amersfoort", "--code", "GM0307", "--zones", str(tmp_path / "zone.geojson"),
                    "--ndw-code", "307001", "--supplier", "connection-systems", "--company", "Connection Systems B.V.",
                    "--cameras", str(tmp_path / "cameras.csv"), "--conf-dir", str(conf), "--dev"])
    out = capsys.readouterr().out
    assert code == 0 and "onboarded Amersfoort (GM0307): 1 zone(s), 2 camera(s) usable" in out
    key = out.split("shown once, stored only as its SHA-256):\n")[1].split()[0]
    assert key.startswith("dev-") and key not in (conf / "suppliers.toml").read_text()
    assert "camera Hof (1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d): no direction rule" in out
    assert "camera Stationsplein (2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e): no zone" in out and "[not used]" in out
    assert "no municipal time windows" in out

    [amersfoort] = load_municipalities(conf)
    assert amersfoort.zones[0].zone_id == "GM0307-ZE1" and amersfoort.cameras[0].obverse_direction == "Inbound"
    assert amersfoort.zones[0].ndw_code == 307001
    registry = load_suppliers(conf / "suppliers.toml")
    new = registry.authenticate(key)
    assert new is not None and new.municipalities == ["GM0307"] and len(new.cameras) == 2
    assert registry.suppliers["demo-supplier"].municipalities == ["GM0344"]
    assert (conf / "feeds" / "connection-systems.toml").exists()


def test_onboarding_an_existing_supplier_extends_it(tmp_path, capsys):
    conf = tmp_path / "conf"
    (conf / "municipalities").mkdir(parents=True)
    shutil.copy(CONF_DIR / "suppliers.toml", conf / "suppliers.toml")
    zone = {"type": "Feature", "properties": {"ndw_code": 355001}, "geometry": {
        "type": "Polygon", "coordinates": [[[5.38, 52.16], [5.39, 52.16], [5.39, 52.15], [5.38, 52.16]]]}}
    (tmp_path / "z.geojson").write_text(json.dumps(zone))
    run_cli(["onboard", "--name", "Zeist", "--code", "GM0355", "--zones", str(tmp_path / "z.geojson"),
             "--supplier", "demo-supplier", "--time-window", "Venstertijd,07:00,11:00,1-5", "--conf-dir", str(conf)])
    out = capsys.readouterr().out
    assert "API key" not in out and "no usable cameras" in out
    assert load_suppliers(conf / "suppliers.toml").suppliers["demo-supplier"].municipalities == ["GM0344", "GM0355"]
    assert Path(conf / "municipalities" / "zeist.toml").read_text().count("[[time_windows]]") == 1
    assert load_municipalities(conf)[0].zones[0].ndw_code == 355001


ZONE = {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [[
    [5.380, 52.160], [5.396, 52.160], [5.396, 52.151], [5.380, 52.151], [5.380, 52.160]]]}}


@pytest.mark.parametrize(("zone_text", "cameras_text", "extra", "expected"), [
    (None, None, [], "zone file {tmp}/zone.geojson: FileNotFoundError; expected a GeoJSON Feature or "
                     "FeatureCollection of (multi)polygons; nothing was written"),
    ("{not json", None, [], "zone file {tmp}/zone.geojson: not JSON (Expecting property name enclosed in double "
                            "quotes, line 1); expected a GeoJSON Feature or FeatureCollection of (multi)polygons; "
                            "nothing was written"),
    (json.dumps({"type": "Point", "coordinates": [5.38, 52.16]}), None, [],
     "zone file {tmp}/zone.geojson feature 1: expected a GeoJSON Polygon or MultiPolygon, got 'Point'; "
     "nothing was written"),
    (json.dumps(ZONE), "camera_id,name,lat\nc1,Kamp,52.15\n", [],
     "cameras file {tmp}/cameras.csv line 1: header lacks lon; nothing was written"),
    (json.dumps(ZONE), "camera_id,name,lat,lon\nc1,Kamp,52.15,5.38\nc2,Hof,52,15,5.38\n", [],
     "cameras file {tmp}/cameras.csv line 3: more fields than the header has (a decimal comma in a "
     "comma-separated file?); nothing was written"),
    (json.dumps(ZONE), "camera_id;name;lat;lon\nc1;Kamp;52,15;5.38\n", [],
     "cameras file {tmp}/cameras.csv line 2: lat '52,15' is not a number (decimal point, WGS84 degrees); "
     "nothing was written"),
    (json.dumps(ZONE), None, ["--time-window", "ochtend,7:00,11:00,1-5"],
     "--time-window 'ochtend,7:00,11:00,1-5': expected 'name,HH:MM,HH:MM,days' with days like 1-5 or 1|3|5 "
     "(ISO, Monday 1); nothing was written"),
    (json.dumps(ZONE), None, ["--ndw-code", "0"],
     "zone file {tmp}/zone.geojson zone GM0307-ZE1: no NDW zone code (published as zoneId); give --ndw-code or "
     "the feature property ndw_code; nothing was written"),
    (json.dumps(ZONE), None, ["--time-window", "ochtend,07:00,11:00,1-8"],
     "--time-window 'ochtend,07:00,11:00,1-8': expected 'name,HH:MM,HH:MM,days' with days like 1-5 or 1|3|5 "
     "(ISO, Monday 1); nothing was written"),
])
def test_ordinary_onboarding_mistakes_are_one_line_and_write_nothing(tmp_path, capsys, zone_text, cameras_text,
                                                                     extra, expected):
    conf = tmp_path / "conf"
    conf.mkdir()
    if zone_text is not None:
        (tmp_path / "zone.geojson").write_text(zone_text)
    argv = ["onboard", "--name", "Amersfoort", "--code", "GM0307", "--zones", str(tmp_path / "zone.geojson"),
            "--supplier", "connection-systems", "--conf-dir", str(conf), *extra]
    argv += [] if "--ndw-code" in extra else ["--ndw-code", "307001"]
    if cameras_text is not None:
        (tmp_path / "cameras.csv").write_text(cameras_text)
        argv += ["--cameras", str(tmp_path / "cameras.csv")]
    assert run_cli(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == ["anpr onboard: " + expected.format(tmp=tmp_path)]
    assert list(conf.iterdir()) == []

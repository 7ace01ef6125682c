"""`anpr onboard`: a municipality, its zones, its supplier and cameras in one step, and what is missing.

Writes conf/municipalities/<slug>.toml (+ <slug>.geojson with the zones), adds or extends the supplier
in conf/suppliers.toml (a new supplier gets a fresh API key, printed once and stored only as its
digest) and a CSV mapping skeleton in conf/feeds/<supplier>.toml. Cameras are resolved as the
platform will resolve them (zone by location, direction rule by geometry) and whatever cannot be
resolved is listed, not guessed.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anpr import geo
from anpr.suppliers import SUPPLIERS_FILE, Supplier, hash_key, load_suppliers, new_key, save_supplier
from anpr.zones import Municipality, load_municipality

CAMERA_FIELDS = ("camera_id", "name", "lat", "lon", "azimuth_deg", "zone_id", "camera_type", "obverse_direction")


@dataclass
class Onboarding:
    municipality: Municipality
    files: list[Path] = field(default_factory=list)
    new_key: str | None = None
    missing: list[str] = field(default_factory=list)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "municipality"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a valid TOML basic string


def municipality_toml(name: str, code: str, zones: list[dict[str, Any]], geojson: str,
                      windows: list[dict[str, Any]], cameras: list[dict[str, Any]]) -> str:
    out = [f"# {name}: written by `anpr onboard`; edit freely.", f"municipality = {_toml_value(name)}",
           f"code = {_toml_value(code)}", ""]
    for z in zones:
        out += ["[[zones]]", f"zone_id = {_toml_value(z['zone_id'])}", f"name = {_toml_value(z['name'])}",
                f"geojson = {_toml_value(geojson)}", ""]
    for w in windows:
        out += ["[[time_windows]]"] + [f"{k} = {_toml_value(v)}" for k, v in w.items()] + [""]
    for c in cameras:
        out += ["[[cameras]]"] + [f"{k} = {_toml_value(c[k])}" for k in CAMERA_FIELDS if c.get(k) not in (None, "")]
        out.append("")
    return "\n".join(out)


def read_cameras(path: Path) -> list[dict[str, Any]]:
    """Cameras from a CSV (header: camera_id,name,lat,lon[,azimuth_deg,zone_id,camera_type,obverse_direction])
    or a JSON list of such objects."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        rows = json.loads(text)
    else:
        delimiter = ";" if ";" in text.splitlines()[0] else ","
        rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))
    cameras = []
    for row in rows:
        camera = {k: row.get(k) for k in CAMERA_FIELDS if row.get(k) not in (None, "")}
        for number in ("lat", "lon", "azimuth_deg"):
            if number in camera:
                camera[number] = float(camera[number])
        cameras.append(camera)
    return cameras


def parse_window(text: str) -> dict[str, Any]:
    """"Venstertijd ochtend,07:00,11:00,1-6" -> a time window (ISO weekdays, a range or a list 1|3|5)."""
    name, start, end, days = (part.strip() for part in text.split(","))
    if "-" in days:
        first, last = (int(d) for d in days.split("-"))
        weekdays = list(range(first, last + 1))
    else:
        weekdays = [int(d) for d in days.split("|")]
    return {"name": name, "start": start, "end": end, "weekdays": weekdays}


def zones_from_geojson(path: Path, code: str, zone_id: str | None, zone_name: str | None) -> list[dict[str, Any]]:
    zones = []
    for i, feature in enumerate(geo.load_geojson_features(path)):
        geo.polygons_of(feature["geometry"])  # refuse what is not a (multi)polygon now, not at load time
        props = feature.get("properties") or {}
        ident = props.get("zone_id") or zone_id or f"{code}-ZE{i + 1}"
        feature.setdefault("properties", {})["zone_id"] = ident
        zones.append({"zone_id": ident, "name": props.get("name") or zone_name or f"ZE-zone {ident}",
                      "feature": feature})
    return zones


def onboard(conf_dir: Path, name: str, code: str, zone_file: Path, supplier: str, company: str | None = None,
            cameras: list[dict[str, Any]] | None = None, windows: list[dict[str, Any]] | None = None,
            zone_id: str | None = None, zone_name: str | None = None, development: bool = False) -> Onboarding:
    if not re.match(r"^GM\d{4}$", code):
        raise ValueError(f"municipality code {code!r} is not a CBS code like GM0344")
    cameras, windows = cameras or [], windows or []
    zones = zones_from_geojson(zone_file, code, zone_id, zone_name)
    base = slug(name)
    folder = conf_dir / "municipalities"
    folder.mkdir(parents=True, exist_ok=True)
    geojson_path, toml_path = folder / f"{base}.geojson", folder / f"{base}.toml"
    geojson_path.write_text(json.dumps({"type": "FeatureCollection", "features": [z["feature"] for z in zones]},
                                       indent=1) + "\n")
    toml_path.write_text(municipality_toml(name, code, zones, geojson_path.name, windows, cameras))
    municipality = load_municipality(toml_path)
    result = Onboarding(municipality, files=[toml_path, geojson_path])

    suppliers_path = conf_dir / SUPPLIERS_FILE
    existing = load_suppliers(suppliers_path).suppliers.get(supplier)
    usable = [c.camera_id for c in municipality.cameras]
    if existing is None:
        result.new_key = new_key(development)
        entry = Supplier(name=supplier, company=company or supplier, api_key_sha256=hash_key(result.new_key),
                         development=development, municipalities=[code], cameras=usable)
    else:
        entry = existing.model_copy(update={
            "municipalities": sorted({*existing.municipalities, code}),
            "cameras": list(dict.fromkeys([*existing.cameras, *usable])),
            "company": company or existing.company})
    save_supplier(suppliers_path, entry)
    result.files.append(suppliers_path)

    mapping = conf_dir / "feeds" / f"{supplier}.toml"
    if not mapping.exists() and municipality.cameras:
        mapping.parent.mkdir(parents=True, exist_ok=True)
        locations = "\n".join(f"{_toml_value(c.name)} = {{ camera_id = {_toml_value(c.camera_id)} }}"
                              for c in municipality.cameras)
        mapping.write_text(f"# CSV column mapping of {supplier} (see conf/feeds/demo-supplier.toml for all keys)\n"
                           f"supplier = {_toml_value(supplier)}\nmunicipality = {_toml_value(code)}\n\n"
                           f"[locations]  # the Locatie values of its exports; check them against a real file\n"
                           f"{locations}\n")
        result.files.append(mapping)
    result.missing = missing(municipality, entry, mapping)
    return result


def missing(m: Municipality, supplier: Supplier, mapping: Path) -> list[str]:
    todo = []
    if not m.cameras:
        todo.append("no usable cameras: pass --cameras FILE, or let the supplier send camera_registration messages")
    for p in m.problems:
        todo.append(f"camera {p.name} ({p.camera_id}): {p.problem}" + (" [not used]" if p.excluded else ""))
    if not m.time_windows:
        todo.append("no municipal time windows (table 4.3): add --time-window 'name,HH:MM,HH:MM,1-5'")
    if not mapping.exists():
        todo.append(f"no CSV mapping {mapping}: only needed if {supplier.name} delivers CSV exports")
    if supplier.development:
        todo.append(f"supplier {supplier.name} has a development key: the cluster profile refuses it")
    todo.append("restart the stream and the ingest service so that they load the new configuration")
    return todo

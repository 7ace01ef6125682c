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
from anpr.zones import NDW_CODE_MAX, Municipality, load_municipality

CAMERA_FIELDS = ("camera_id", "name", "lat", "lon", "azimuth_deg", "zone_id", "camera_type", "obverse_direction")
REQUIRED_CAMERA_FIELDS = ("camera_id", "lat", "lon")


class OnboardError(ValueError):
    """An input of `anpr onboard` is wrong; the message names the file, line or option and what to fix."""


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
        out += ["[[zones]]", f"zone_id = {_toml_value(z['zone_id'])}", f"ndw_code = {_toml_value(z['ndw_code'])}",
                f"name = {_toml_value(z['name'])}",
                f"geojson = {_toml_value(geojson)}", ""]
    for w in windows:
        out += ["[[time_windows]]"] + [f"{k} = {_toml_value(v)}" for k, v in w.items()] + [""]
    for c in cameras:
        out += ["[[cameras]]"] + [f"{k} = {_toml_value(c[k])}" for k in CAMERA_FIELDS if c.get(k) not in (None, "")]
        out.append("")
    return "\n".join(out)


def read_cameras(path: Path) -> list[dict[str, Any]]:
    """Cameras from a CSV (header: camera_id,name,lat,lon[,azimuth_deg,zone_id,camera_type,obverse_direction])
    or a JSON list of such objects.

    Raises OnboardError naming the file and line (CSV: the header is line 1) of the first wrong row.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (FileNotFoundError, IsADirectoryError, UnicodeDecodeError) as exc:
        raise OnboardError(f"cameras file {path}: cannot be read as UTF-8 text ({type(exc).__name__})") from None
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise OnboardError(f"cameras file {path} line {exc.lineno}: not JSON ({exc.msg})") from None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise OnboardError(f"cameras file {path}: expected a JSON list of camera objects")
        first_line = 1
    else:
        if not text.strip():
            raise OnboardError(f"cameras file {path} is empty: expected a header camera_id,name,lat,lon,...")
        delimiter = ";" if ";" in text.splitlines()[0] else ","
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        absent = [f for f in REQUIRED_CAMERA_FIELDS if f not in (reader.fieldnames or [])]
        if absent:
            raise OnboardError(f"cameras file {path} line 1: header lacks {', '.join(absent)}")
        rows, first_line = list(reader), 2
    cameras = []
    for line, row in enumerate(rows, start=first_line):
        where = f"cameras file {path} {'line' if first_line == 2 else 'item'} {line}"
        if None in row:  # csv.DictReader's key for fields beyond the header: the columns would shift
            raise OnboardError(f"{where}: more fields than the header has (a decimal comma in a "
                               "comma-separated file?)")
        camera = {k: row.get(k) for k in CAMERA_FIELDS if row.get(k) not in (None, "")}
        absent = [f for f in REQUIRED_CAMERA_FIELDS if f not in camera]
        if absent:
            raise OnboardError(f"{where}: no {', '.join(absent)}")
        for number in ("lat", "lon", "azimuth_deg"):
            if number in camera:
                try:
                    camera[number] = float(camera[number])
                except (TypeError, ValueError):
                    raise OnboardError(f"{where}: {number} {str(camera[number])[:40]!r} is not a number "
                                       "(decimal point, WGS84 degrees)") from None
        cameras.append(camera)
    return cameras


def parse_window(text: str) -> dict[str, Any]:
    """"Venstertijd ochtend,07:00,11:00,1-6" -> a time window (ISO weekdays, a range or a list 1|3|5).

    Raises OnboardError when the text is not name,HH:MM,HH:MM,days.
    """
    usage = f"--time-window {text!r}: expected 'name,HH:MM,HH:MM,days' with days like 1-5 or 1|3|5 (ISO, Monday 1)"
    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4 or not all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", t) for t in parts[1:3]):
        raise OnboardError(usage)
    name, start, end, days = parts
    try:
        if "-" in days:
            first, last = (int(d) for d in days.split("-"))
            weekdays = list(range(first, last + 1))
        else:
            weekdays = [int(d) for d in days.split("|")]
    except ValueError:
        raise OnboardError(usage) from None
    if not weekdays or not all(1 <= d <= 7 for d in weekdays):
        raise OnboardError(usage)
    return {"name": name, "start": start, "end": end, "weekdays": weekdays}


def zones_from_geojson(path: Path, code: str, zone_id: str | None, zone_name: str | None,
                       ndw_code: int | None = None) -> list[dict[str, Any]]:
    """The zones of a GeoJSON file. Raises OnboardError naming the file and feature when one is unusable,
    or when a zone has no NDW zone code (feature property ndw_code, or `ndw_code` for a single zone)."""
    try:
        features = geo.load_geojson_features(path)
    except (OSError, UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError) as exc:
        reason = type(exc).__name__
        if isinstance(exc, json.JSONDecodeError):
            reason = f"not JSON ({exc.msg}, line {exc.lineno})"
        raise OnboardError(f"zone file {path}: {reason}; "
                           "expected a GeoJSON Feature or FeatureCollection of (multi)polygons") from None
    if not features:
        raise OnboardError(f"zone file {path} holds no features: expected the zone's (multi)polygon")
    zones = []
    for i, feature in enumerate(features):
        try:  # refuse what is not a (multi)polygon now, not at load time
            geo.polygons_of(feature.get("geometry") or {})
        except (geo.GeometryError, KeyError, TypeError, ValueError) as exc:
            raise OnboardError(f"zone file {path} feature {i + 1}: {exc}") from None
        props = feature.get("properties") or {}
        ident = props.get("zone_id") or zone_id or f"{code}-ZE{i + 1}"
        feature.setdefault("properties", {})["zone_id"] = ident
        number = props.get("ndw_code") or (ndw_code if len(features) == 1 else None)
        if not isinstance(number, int) or isinstance(number, bool) or not 0 < number <= NDW_CODE_MAX:
            raise OnboardError(f"zone file {path} zone {ident}: no NDW zone code (published as zoneId); give "
                               "--ndw-code or the feature property ndw_code")
        zones.append({"zone_id": ident, "ndw_code": number,
                      "name": props.get("name") or zone_name or f"ZE-zone {ident}", "feature": feature})
    return zones


def onboard(conf_dir: Path, name: str, code: str, zone_file: Path, supplier: str, company: str | None = None,
            cameras: list[dict[str, Any]] | None = None, windows: list[dict[str, Any]] | None = None,
            zone_id: str | None = None, zone_name: str | None = None, development: bool = False,
            ndw_code: int | None = None) -> Onboarding:
    if not re.match(r"^GM\d{4}$", code):
        raise OnboardError(f"municipality code {code!r} is not a CBS code like GM0344")
    cameras, windows = cameras or [], windows or []
    zones = zones_from_geojson(zone_file, code, zone_id, zone_name, ndw_code)
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

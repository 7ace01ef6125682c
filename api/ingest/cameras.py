"""The camera registry of the ingest service: who owns which camera, and its versions in Delta.

Cameras come from conf/municipalities (owned by the supplier listing them in conf/suppliers.toml) and
from camera_registration / camera_update messages (owned by the supplier that registered them). Each
registration or update is a new version in the Delta table `cameras`, [valid_from, valid_to) with
valid_to null for the current one, and the full record on the compacted topic `anpr.cameras`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from pydantic import AliasChoices

from anpr import geo
from anpr.delta_reader import DeltaReader
from anpr.feeds.camera_table import ARROW_SCHEMA, CAMERAS, CAMERAS_SCHEMA
from anpr.suppliers import Supplier, SupplierRegistry
from anpr.zones import Camera, Municipality
from api.ingest.models import CameraRegistration, CameraState

# What a registration must give: an update may change these, never clear them.
REQUIRED = tuple(name for name, f in CameraRegistration.model_fields.items() if f.is_required() and name != "camera_id")
# field -> the older spellings it is also read under (models.py AliasChoices); records stored before the
# rename keep them, and an update of the field replaces them too
OLD_NAMES = {name: [a for a in f.validation_alias.choices if isinstance(a, str) and a != name]
             for name, f in CameraRegistration.model_fields.items() if isinstance(f.validation_alias, AliasChoices)}


class CameraError(ValueError):
    def __init__(self, status: int, message: str, hint: str) -> None:
        super().__init__(message)
        self.status, self.hint = status, hint


@dataclass
class CameraVersion:
    camera_id: str
    supplier: str
    record: dict[str, Any]
    valid_from: datetime
    municipality: str | None = None
    zone_id: str | None = None
    zone_source: str = "unresolved"
    rule: geo.DirectionRule = field(default_factory=lambda: geo.DirectionRule(None, "not resolved"))
    problems: list[str] = field(default_factory=list)

    def row(self, request_id: str | None, recorded_at: datetime, valid_to: datetime | None = None) -> dict[str, Any]:
        r = self.record
        return {"camera_id": self.camera_id, "valid_from": self.valid_from, "valid_to": valid_to,
                "supplier": self.supplier, "municipality": self.municipality, "zone_id": self.zone_id,
                "zone_source": self.zone_source, "obverse_direction": self.rule.obverse,
                "reverse_direction": self.rule.reverse,
                "direction_source": "geometry" if self.rule.obverse else "unresolved",
                "problem": "; ".join(self.problems) or None, "camera_type": r.get("camera_type"),
                "camera_status": r.get("camera_status"), "latitude": r.get("location_lat"),
                "longitude": r.get("location_lon"), "azimuth_deg": r.get("azimuth_deg"),
                "record": json.dumps(r, sort_keys=True, default=str), "request_id": request_id,
                "recorded_at": recorded_at}

    def message(self) -> dict[str, Any]:
        """The value on anpr.cameras: the record plus where the platform placed the camera."""
        return {**self.record, "supplier": self.supplier, "municipality": self.municipality,
                "zone_id": self.zone_id, "zone_source": self.zone_source,
                "obverse_direction": self.rule.obverse, "reverse_direction": self.rule.reverse,
                "problem": "; ".join(self.problems) or None, "valid_from": self.valid_from.isoformat()}


class CameraRegistry:
    def __init__(self, municipalities: list[Municipality], suppliers: SupplierRegistry,
                 lake: DeltaReader | None) -> None:
        self.municipalities = {m.code: m for m in municipalities}
        self.suppliers, self.lake = suppliers, lake
        self._lock = threading.Lock()
        self.owner: dict[str, str] = dict(suppliers.camera_owner)
        self.municipality_of: dict[str, str] = {c.camera_id: m.code for m in municipalities for c in m.cameras}
        # conf/municipalities' cameras: the stream places them from there and ignores versions sent here
        # (streaming/cameras.py registered_cameras), so messages about them are refused, not lost
        self.configured: dict[str, tuple[Municipality, Camera]] = {
            c.camera_id: (m, c) for m in municipalities for c in m.cameras}
        self.current: dict[str, CameraVersion] = {}
        if lake is not None and lake.exists(CAMERAS):
            for row in lake.read_arrow(CAMERAS).to_pylist():
                if row["valid_to"] is None:
                    # ids are compared in lower case; rows stored before that keep theirs (closed in commit)
                    self._remember(CameraVersion(
                        row["camera_id"].lower(), row["supplier"], json.loads(row["record"]), row["valid_from"],
                        row["municipality"], row["zone_id"], row["zone_source"],
                        geo.DirectionRule(row["obverse_direction"], None), [row["problem"]] if row["problem"] else []))

    def _remember(self, version: CameraVersion) -> None:
        self.current[version.camera_id] = version
        self.owner[version.camera_id] = version.supplier
        if version.municipality:
            self.municipality_of[version.camera_id] = version.municipality

    def may_deliver(self, supplier: Supplier, camera_id: str) -> bool:
        owner = self.owner.get(camera_id)
        if owner is not None:
            return owner == supplier.name
        municipality = self.municipality_of.get(camera_id)
        return municipality is None or municipality in supplier.municipalities

    def _place(self, version: CameraVersion, supplier: Supplier) -> None:
        """Municipality, zone and direction rule of a version, from zone_id or location."""
        r = version.record
        lon, lat = float(r["location_lon"]), float(r["location_lat"])
        mine = [self.municipalities[code] for code in supplier.municipalities if code in self.municipalities]
        zones = [(m.code, z) for m in mine for z in m.zones]
        if r.get("zone_id"):
            found = [(code, z) for code, z in zones if z.zone_id == r["zone_id"]]
            if not found:
                raise CameraError(422, f"camera {version.camera_id}: zone_id is not a zone of "
                                       f"{', '.join(supplier.municipalities)}",
                                  "send the zone_id of one of these municipalities' zones, or omit it to assign by "
                                  "location")
            version.municipality, zone, version.zone_source = found[0][0], found[0][1], "declared"
        else:
            match = geo.assign_zone([(z.zone_id, z.polygons) for _, z in zones], lon, lat)
            if match.zone_id is None:
                single = supplier.municipalities[0] if len(supplier.municipalities) == 1 else None
                version.municipality = self.municipality_of.get(version.camera_id, single)
                version.problems.append(f"no zone: {match.problem}")
                version.rule = geo.DirectionRule(None, "no zone")
                return
            version.municipality, zone = next((c, z) for c, z in zones if z.zone_id == match.zone_id)
            version.zone_source = "location"
        version.zone_id = zone.zone_id
        version.rule = geo.direction_rule(zone.polygons, lon, lat, r.get("azimuth_deg"))
        if version.rule.problem:
            version.problems.append(f"no direction rule: {version.rule.problem}")

    def prepare(self, supplier: Supplier, items: list[dict[str, Any]], update: bool,
                now: datetime) -> list[CameraVersion]:
        """New versions for a registration or update; raises CameraError, changes nothing."""
        seen: set[str] = set()
        versions = []
        with self._lock:
            for item in items:
                camera_id = item["camera_id"].lower()
                if camera_id in seen:
                    raise CameraError(422, f"camera {camera_id} appears twice in one message", "send it once")
                seen.add(camera_id)
                if not self.may_deliver(supplier, camera_id):
                    raise CameraError(403, f"camera {camera_id} belongs to another supplier or municipality",
                                      "only cameras of your own municipalities that no other supplier registered")
                if camera_id in self.configured:
                    raise CameraError(422, f"camera {camera_id} is configured by the platform team "
                                           f"(conf/municipalities), which places it; a "
                                           f"{'camera_update' if update else 'camera_registration'} here would "
                                           "change nothing",
                                      "ask the platform team to change or remove it (anpr onboard); "
                                      "GET /v1/cameras shows it with source configured")
                current = self.current.get(camera_id)
                if update and current is None:
                    raise CameraError(422, f"camera {camera_id} is not registered", "send a camera_registration first")
                given = {k: v for k, v in item.items() if v is not None}
                record = {**(current.record if current and update else {}), **given, "camera_id": camera_id}
                if update:  # an update's explicit null clears the field; a registration's is just absent
                    record = {k: v for k, v in record.items() if k in given or k not in item}
                    for old in (old for name, olds in OLD_NAMES.items() if name in item for old in olds):
                        record.pop(old, None)
                    kept = [k for k in REQUIRED if k not in record]
                    if kept:
                        raise CameraError(422, f"camera {camera_id}: {', '.join(kept)} cannot be cleared",
                                          "send the new value, or leave the field out to keep the registered one")
                if update:
                    _check_active_period(camera_id, record)
                moment = given.get("camera_status_updated_at" if update else "active_from") or now
                valid_from = _moment(moment)
                if current is not None and valid_from <= current.valid_from:
                    if update and "camera_status_updated_at" in given:
                        raise CameraError(422, f"camera {camera_id}: camera_status_updated_at is not after the "
                                               f"current version ({current.valid_from.isoformat()})",
                                          "send the moment the change took effect")
                    valid_from = current.valid_from + timedelta(milliseconds=1)
                version = CameraVersion(camera_id, supplier.name, _jsonable(record), valid_from.astimezone(UTC))
                self._place(version, supplier)
                versions.append(version)
        return versions

    def commit(self, versions: list[CameraVersion], request_id: str, now: datetime) -> None:
        """Record the versions (after Kafka acknowledged them): close the current rows, add the new ones,
        in one Delta commit (a merge on camera_id and valid_from)."""
        with self._lock:
            if self.lake is not None:
                self.lake.create(CAMERAS, CAMERAS_SCHEMA)
                ends = {v.camera_id: v.valid_from for v in versions if v.camera_id in self.current}
                closed = []
                if ends:
                    # A few rows per camera: read whole (delta-rs cannot filter its string_view columns).
                    stored = self.lake.read_arrow(CAMERAS).to_pylist()
                    closed = [r | {"valid_to": ends[r["camera_id"].lower()]} for r in stored
                              if r["camera_id"].lower() in ends and r["valid_to"] is None]
                rows = closed + [v.row(request_id, now) for v in versions]
                table = pa.Table.from_pylist(rows, schema=ARROW_SCHEMA)
                self.lake.merge(CAMERAS, table, keys=["camera_id", "valid_from"])
            for v in versions:
                self._remember(v)

    def states(self, supplier: Supplier) -> list[CameraState]:
        """The supplier's cameras as the stream places them: the configured ones it may deliver for (source
        configured, as conf/municipalities gives them) and the ones it registered (source registered, the
        current version), by camera id."""
        configured = [CameraState(camera_id=c.camera_id, source="configured", municipality=m.code,
                                  zone_id=c.zone_id, obverse_direction=c.obverse_direction,
                                  reverse_direction=c.reverse_direction, direction_source=c.direction_source,
                                  problem=None, valid_from=None, camera_status=None)
                      for camera_id, (m, c) in self.configured.items() if self.may_deliver(supplier, camera_id)]
        registered = [CameraState(camera_id=v.camera_id, source="registered", municipality=v.municipality,
                                  zone_id=v.zone_id, obverse_direction=v.rule.obverse,
                                  reverse_direction=v.rule.reverse,
                                  direction_source="geometry" if v.rule.obverse else "unresolved",
                                  problem="; ".join(v.problems) or None, valid_from=v.valid_from,
                                  camera_status=v.record.get("camera_status"))
                      for v in self.current.values()
                      if v.supplier == supplier.name and v.camera_id not in self.configured]
        return sorted(configured + registered, key=lambda state: state.camera_id)


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _check_active_period(camera_id: str, record: dict[str, Any]) -> None:
    """An update giving one end of the active period must keep it after (or before) the registered other
    end (models.py checks the two only when one message gives both)."""
    start, end = record.get("active_from"), record.get("active_to")
    if start is not None and end is not None and _moment(start) >= _moment(end):
        raise CameraError(422, f"camera {camera_id}: active_from must be before active_to "
                               f"(registered active_from {_moment(start).isoformat()}, "
                               f"active_to {_moment(end).isoformat()})",
                          "send both ends of the active period, or an end after the registered start")


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(record, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v)))

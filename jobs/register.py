"""Vehicle register rows keyed by pseudonym. No plate is ever written: only its HMAC key."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pyarrow as pa

from anpr.lake import Lake
from anpr.pseudonym import vehicle_key
from anpr.synth import Vehicle
from streaming.tables import REGISTER_VEHICLES, REGISTER_VEHICLES_SCHEMA


def register_rows(vehicles: Iterable[Vehicle], pepper: bytes, valid_from: datetime) -> pa.Table:
    keys, kinds = [], []
    for v in vehicles:
        if v.voertuig_type is None:
            continue
        keys.append(vehicle_key(pepper, v.plate, v.country))
        kinds.append(v.voertuig_type)
    return pa.table({
        "vehicle_key": pa.array(keys, pa.string()),
        "voertuig_type": pa.array(kinds, pa.string()),
        "valid_from": pa.array([valid_from] * len(keys), pa.timestamp("us", tz="UTC")),
        "valid_to": pa.nulls(len(keys), pa.timestamp("us", tz="UTC")),
    })


def load_register(lake: Lake, rows: pa.Table) -> int:
    """Add vehicles not yet registered; returns how many were new."""
    lake.create(REGISTER_VEHICLES, REGISTER_VEHICLES_SCHEMA)
    return lake.insert_missing(REGISTER_VEHICLES, rows, keys=["vehicle_key"])

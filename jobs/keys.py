"""Key rotation: a new pepper, the register re-keyed under it; the stream follows at a batch boundary.

Keys made with a pepper cannot be converted into another pepper's without the plates, so a re-key loads
the register again from its sources: the same synthetic register (size and seed from register/loads), or
the operator's current files. The history of validity intervals before the re-key is not carried over:
the new tables start from the files (docs/privacy.md, key rotation).

Order of the writes, so that no reader ever joins keys of two peppers: a REKEY_STARTED row in
register/loads naming the new pepper, then the keyed tables emptied and loaded under it, then the load's
own rows. In between, `anpr.keyring.active_pepper_id` raises RekeyInProgress and the stream holds its
next batch; once the load is recorded it restarts its query under the new pepper.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from anpr.keyring import REKEY_STARTED, KeyringError, Pepper, RekeyInProgress, active_pepper_id
from anpr.lake import Lake, spark_to_arrow_schema
from anpr.register_tables import HOLDING_KEYS, LOADS, LOADS_SCHEMA, ensure_register_tables
from anpr.settings import Settings
from anpr.stream_tables import PASSAGES
from jobs.register import REGISTER_TABLES, current_loads

SYNTHETIC = re.compile(r"synthetic size=(\d+) seed=(\d+)")
Reload = Callable[[Pepper], object]  # loads the register under the given pepper (jobs/register/load.py)


@dataclass(frozen=True)
class Rotation:
    old: str | None  # pepper_id of the keys replaced (None: the register was empty)
    new: str
    abandoned: str | None  # an interrupted re-key's pepper, destroyed: nothing was derived with it


def synthetic_source(lake: Lake) -> tuple[int, int] | None:
    """(size, seed) when the register in use is a synthetic one, else None."""
    for source in current_loads(lake)["source"].to_pylist():
        if m := SYNTHETIC.fullmatch(source):
            return int(m[1]), int(m[2])
    return None


def previous_pepper(loads: pa.Table) -> tuple[str | None, str | None]:
    """(the pepper in use, an interrupted re-key's pepper) from register/loads. A re-key whose started row
    is the newest was interrupted: the stream never switched to it, so the pepper of the newest completed
    load is in use, however many re-keys were interrupted since."""
    try:
        return active_pepper_id(loads), None
    except RekeyInProgress:
        interrupted = loads.sort_by([("loaded_at", "descending")])["pepper_id"][0].as_py()
        return active_pepper_id(loads.filter(pc.not_equal(loads["source"], REKEY_STARTED))), interrupted


def rotate(lake: Lake, settings: Settings, reload: Reload, synthetic: bool) -> Rotation:
    """Make a pepper, empty the register's keyed tables (all of them for a synthetic register, whose
    regions are reloaded too) and load it again under the new pepper through `reload`.

    Raises KeyringError when the keyring folder cannot be written. An exception from `reload` leaves the
    re-key started: readers keep waiting, and running the rotation again finishes it with a fresh pepper.
    """
    ensure_register_tables(lake)
    old, interrupted = previous_pepper(lake.read_arrow(LOADS))
    keyring = settings.keyring()
    unused = keyring.peppers().get(interrupted or "")
    if unused is not None and not unused.configured:
        keyring.destroy(unused.id, active=old or "", passages_kept=0)
    try:
        new = keyring.create()
    except OSError as exc:
        raise KeyringError(f"cannot write the keyring {keyring.folder}: {exc.strerror}") from exc
    now = datetime.now(UTC)
    started = {"table_name": "register", "as_of": now.date(), "loaded_at": now, "source": REKEY_STARTED,
               "pepper_id": new.id, "rows_in": 0, "rejected": 0, "inserted": 0, "closed": 0, "updated": 0}
    lake.append(LOADS, pa.Table.from_pylist([started], spark_to_arrow_schema(LOADS_SCHEMA)))
    for name in REGISTER_TABLES if synthetic else HOLDING_KEYS:
        lake.delete(name, "true")
    reload(new)
    return Rotation(old, new.id, interrupted)


def passages_by_pepper(lake: Lake) -> dict[str | None, int]:
    """Kept passages per pepper_id that made their tokens (None: made before peppers were recorded, by the
    configured pepper)."""
    if not lake.exists(PASSAGES):
        return {}
    counts = lake.read_arrow(PASSAGES, columns=["pepper_id"]).group_by("pepper_id").aggregate([([], "count_all")])
    return {r["pepper_id"]: r["count_all"] for r in counts.to_pylist()}


def destroy(lake: Lake, settings: Settings, pid: str) -> str:
    """Delete a rotated-out pepper once no kept passage was made with it. Returns the file removed.

    Raises KeyringError (one line) when the pepper is in use, still made kept passages, is the configured
    one, or is not held here.
    """
    keyring = settings.keyring()
    active = keyring.active(current_loads(lake)).id
    kept = passages_by_pepper(lake)
    configured = next((p.id for p in keyring.peppers().values() if p.configured), None)
    return str(keyring.destroy(pid, active, kept.get(pid, 0) + (kept.get(None, 0) if pid == configured else 0)))

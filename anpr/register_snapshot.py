"""The register as sorted numpy arrays, looked up "as of" an event time without a join.

Keys are the first 64 bits of the HMAC pseudonyms. They are uniform: two of 10 million register keys
collide with odds of about 1 in 370,000 (checked at build, which then refuses), and an unregistered
plate meets a register key with odds of about 1 in 2 million million per passage. Each table is
sorted by (key, valid_from); a lookup is a binary search plus a step back per earlier interval of the
same key. Attributes are small integer codes into label lists. About 70 bytes per vehicle: a
10-million-vehicle register with its owners is ~0.7 GB, built once per stream start and broadcast to
the workers (streaming/enrich.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anpr import dimensions as D
from anpr.register_conf import RegisterConf

END_OF_TIME = np.iinfo(np.int64).max
SORT_QUERIES_ABOVE = 1_000_000  # rows of a table beyond which lookups are made in key order
NO_DAY_END = np.iinfo(np.int32).max
_HEX = np.full(256, 255, dtype=np.uint8)
_HEX[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_HEX[np.frombuffer(b"abcdef", np.uint8)] = np.arange(10, 16)
_HEX[np.frombuffer(b"ABCDEF", np.uint8)] = np.arange(10, 16)
OUTPUT = ["voertuig_type", "brandstof", "emissieklasse", "carrosserie", "eigenaar_type", "company_key", "sbi_sectie",
          "sbi_groep_code", "sbi_groep_omschrijving", "bedrijfsgrootte", "herkomst_nuts3", "herkomst_provincie",
          "ontheffing", "ze_toegang", "ze_toegang_tot", "register_hit"]


def key64(keys: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """The first 16 hex digits of each key as uint64, and whether the key was well-formed."""
    text = pc.utf8_slice_codeunits(pc.cast(keys, pa.string()), 0, 16)
    text = text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text
    ok = np.asarray(pc.fill_null(pc.equal(pc.utf8_length(text), 16), False))
    filled = pc.if_else(pa.array(ok), text, pa.scalar("0" * 16))
    offsets = np.frombuffer(filled.buffers()[1], dtype=np.int32)[filled.offset:filled.offset + len(filled) + 1]
    data = np.frombuffer(filled.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]].reshape(-1, 16)
    values = np.zeros(len(filled), dtype=np.uint64)
    bad = np.zeros(len(filled), dtype=bool)
    for i in range(16):
        nibble = _HEX[data[:, i]]
        bad |= nibble == 255
        values = (values << np.uint64(4)) | nibble.astype(np.uint64)
    return values, ok & ~bad


def codes(values: pa.Array | pa.ChunkedArray, dtype: type = np.int16) -> tuple[np.ndarray, list[str]]:
    """Integer codes (-1 for null) and their labels."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    return (np.asarray(pc.fill_null(pc.cast(encoded.indices, pa.int32()), -1)).astype(dtype),
            [str(v) for v in encoded.dictionary.to_pylist()])


def micros(ts: pa.Array | pa.ChunkedArray, null: int) -> np.ndarray:
    as_us = pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(pc.fill_null(as_us, null), dtype=np.int64)


@dataclass
class Intervals:
    """Rows sorted by (key, valid_from), and the longest run of one key."""

    keys: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    max_run: int

    @classmethod
    def build(cls, keys: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[Intervals, np.ndarray]:
        order = np.lexsort((starts, keys))
        keys = keys[order]
        edges = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True]) if len(keys) else np.array([0])
        run = int(np.diff(edges).max()) if len(keys) else 0
        return cls(keys, starts[order], ends[order], run), order

    def find(self, q: np.ndarray, t: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Row of the interval holding (key q, time t) per query, -1 where none does."""
        if len(self.keys) == 0:
            return np.full(len(q), -1, dtype=np.int64)
        if len(self.keys) > SORT_QUERIES_ABOVE:
            # Searching in key order walks the table's memory once instead of jumping about: twice as fast.
            order = np.argsort(q, kind="stable")
            found = np.empty(len(q), dtype=np.int64)
            found[order] = self._find(q[order], t[order], valid[order])
            return found
        return self._find(q, t, valid)

    def _find(self, q: np.ndarray, t: np.ndarray, valid: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(self.keys, q, side="right") - 1
        hit = valid & (pos >= 0)
        pos = np.maximum(pos, 0)
        hit &= self.keys[pos] == q
        for _ in range(self.max_run - 1):
            back = hit & (self.starts[pos] > t)
            if not back.any():
                break
            hit &= ~back | (pos > 0)
            pos = np.where(back, np.maximum(pos - 1, 0), pos)
            hit &= self.keys[pos] == q
        hit &= (self.starts[pos] <= t) & (t < self.ends[pos])
        return np.where(hit, pos, -1)


def _labels(idx: np.ndarray, table_codes: np.ndarray, labels: list[str]) -> pa.Array:
    code = np.where(idx >= 0, table_codes[np.maximum(idx, 0)], -1) if len(table_codes) else np.full(len(idx), -1)
    return pa.array(labels + [None], pa.string()).take(pa.array(np.where(code >= 0, code, len(labels))))


@dataclass
class RegisterSnapshot:
    vehicles: Intervals
    vehicle_codes: dict[str, np.ndarray]  # voertuig_type, brandstof, emissieklasse, carrosserie -> codes
    toegang_tot: np.ndarray  # days since 1970 from which access ends (dimensions.ALWAYS / UNKNOWN)
    owners: Intervals
    owner_kind: np.ndarray  # code into [Bedrijf, Particulier]
    owner_company: np.ndarray  # index into company_keys, -1
    owner_postcode: np.ndarray  # postcode4, -1
    companies: Intervals  # keyed by index into company_keys
    company_codes: dict[str, np.ndarray]  # sbi_sectie, sbi_groep (the afdeling: code and omschrijving), bedrijfsgrootte
    company_keys: pa.Array
    regions: Intervals  # keyed by postcode4
    region_codes: dict[str, np.ndarray]  # herkomst_nuts3, herkomst_provincie
    exemption_keys: np.ndarray  # sorted key64
    exemption_cols: dict[str, np.ndarray]  # municipality (code), from, to (days), level (1 or 2)
    labels: dict[str, list[str]]
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.vehicles.keys)

    def lookup(self, vehicle_key: pa.Array, plate_country: pa.Array, event_ts: pa.Array, event_date: pa.Array,
               municipality: pa.Array, access_on: date | None = None) -> dict[str, pa.Array]:
        """The enrichment columns (OUTPUT) of each row, as of its event time."""
        q, ok = key64(vehicle_key)
        t = micros(event_ts, np.iinfo(np.int64).min)
        ok &= t != np.iinfo(np.int64).min
        v = self.vehicles.find(q, t, ok)
        hit = v >= 0
        o = self.owners.find(q, t, hit)
        company = np.where(o >= 0, self.owner_company[np.maximum(o, 0)], -1) if len(self.owner_company) else \
            np.full(len(q), -1)
        c = self.companies.find(company.astype(np.int64), t, company >= 0)
        pc4 = np.where(o >= 0, self.owner_postcode[np.maximum(o, 0)], -1) if len(self.owner_postcode) else \
            np.full(len(q), -1)
        r = self.regions.find(pc4.astype(np.int64), t, pc4 >= 0)
        day = np.asarray(pc.fill_null(pc.cast(pc.cast(event_date, pa.date32()), pa.int32()), 0), dtype=np.int32)
        level = self._exemption_level(q, ok, day, municipality)
        on = np.full(len(q), D.days(access_on), np.int32) if access_on else day
        until = np.where(hit, self.toegang_tot[np.maximum(v, 0)], D.UNKNOWN) if self.size else \
            np.full(len(q), D.UNKNOWN, np.int32)
        out = {name: _labels(v, self.vehicle_codes[name], self.labels[name])
               for name in ("voertuig_type", "brandstof", "emissieklasse", "carrosserie")}
        foreign = pc.fill_null(pc.not_equal(plate_country, "NL"), False)
        missing = pc.if_else(foreign, pa.scalar(D.BUITENLANDS), pa.scalar(D.ONBEKEND))
        out["voertuig_type"] = pc.if_else(pa.array(hit), out["voertuig_type"], missing)
        out["eigenaar_type"] = _labels(o, self.owner_kind, [D.BEDRIJF, D.PARTICULIER])
        out["company_key"] = self.company_keys.take(pa.array(np.where(company >= 0, company, 0), mask=company < 0)) \
            if len(self.company_keys) else pa.nulls(len(q), pa.string())
        for name, codes_of in (("sbi_sectie", "sbi_sectie"), ("sbi_groep_code", "sbi_groep"),
                               ("sbi_groep_omschrijving", "sbi_groep"), ("bedrijfsgrootte", "bedrijfsgrootte")):
            out[name] = _labels(c, self.company_codes[codes_of], self.labels[name])
        for name in ("herkomst_nuts3", "herkomst_provincie"):
            out[name] = _labels(r, self.region_codes[name], self.labels[name])
        out["ontheffing"] = pa.array(D.ONTHEFFING_LEVELS, pa.string()).take(pa.array(level))
        out["ze_toegang"] = pa.array(D.ZE_STATUSES, pa.string()).take(pa.array(D.ze_status(until, on, level)))
        out["ze_toegang_tot"] = D.ze_toegang_tot_labels(until)
        out["register_hit"] = pa.array(hit)
        return {name: out[name] for name in OUTPUT}

    def _exemption_level(self, q: np.ndarray, ok: np.ndarray, day: np.ndarray, municipality: pa.Array) -> np.ndarray:
        """0 none, 1 temporary, 2 long-term: the strongest exemption valid in the row's municipality that day."""
        level = np.zeros(len(q), dtype=np.int8)
        if len(self.exemption_keys) == 0:
            return level
        lo = np.searchsorted(self.exemption_keys, q, side="left")
        hi = np.searchsorted(self.exemption_keys, q, side="right")
        rows = np.flatnonzero(ok & (hi > lo))
        if len(rows) == 0:
            return level
        counts = (hi - lo)[rows]
        who = np.repeat(rows, counts)
        at = np.repeat(lo[rows], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        muni = pc.index_in(municipality, value_set=pa.array(self.labels["municipality"], pa.string()))
        muni = np.asarray(pc.fill_null(muni, -1))
        e = self.exemption_cols
        valid = (e["municipality"][at] == muni[who]) & (e["from"][at] <= day[who]) & (day[who] < e["to"][at])
        np.maximum.at(level, who[valid], e["level"][at][valid])
        return level


# -- building -------------------------------------------------------------------------------------------

def _intervals(table: pa.Table, keys: np.ndarray) -> tuple[Intervals, np.ndarray]:
    return Intervals.build(keys, micros(table["valid_from"], 0), micros(table["valid_to"], END_OF_TIME))


def _checked_keys(table: pa.Table, column: str, what: str) -> np.ndarray:
    keys, ok = key64(table[column])
    if not ok.all():
        raise ValueError(f"{what}: {int((~ok).sum())} keys are not HMAC pseudonyms")
    return keys


def _check_distinct(index: Intervals, order: np.ndarray, full_keys: pa.ChunkedArray | pa.Array, what: str) -> None:
    """Rows sharing a 64-bit key sit side by side once sorted: their full pseudonyms must agree."""
    twins = np.flatnonzero(index.keys[1:] == index.keys[:-1])
    if len(twins) == 0:
        return
    same = pc.equal(full_keys.take(pa.array(order[twins])), full_keys.take(pa.array(order[twins + 1])))
    if not pc.all(same).as_py():
        raise ValueError(f"{what}: two pseudonyms share their first 64 bits; the snapshot cannot tell them apart")


def _days(dates: pa.ChunkedArray | pa.Array, null: int) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(pc.cast(dates, pa.date32()), pa.int32()), null), dtype=np.int32)


def build_snapshot(vehicles: pa.Table, owners: pa.Table, companies: pa.Table, regions: pa.Table,
                   exemptions: pa.Table, conf: RegisterConf) -> RegisterSnapshot:
    """The snapshot of the register tables (anpr/register_tables.py schemas; extra columns ignored).

    Attributes are encoded in file order and then permuted into key order: cheaper than sorting tables.
    """
    labels: dict[str, list[str]] = {}
    v_index, order = _intervals(vehicles, _checked_keys(vehicles, "vehicle_key", "register/vehicles"))
    _check_distinct(v_index, order, vehicles["vehicle_key"], "register/vehicles")
    vehicle_codes = {}
    for name in ("voertuig_type", "brandstof", "emissieklasse", "carrosserie"):
        found, labels[name] = codes(vehicles[name], np.int8)
        vehicle_codes[name] = found[order]
    toegang = D.ze_toegang_tot(vehicles["voertuig_type"], vehicles["emissieklasse"],
                               vehicles["datum_eerste_toelating"], vehicles["carrosserie"], conf)[order]

    company_keys = pc.unique(pa.concat_arrays([
        pc.drop_null(owners["company_key"]).combine_chunks().cast(pa.string()),
        companies["company_key"].combine_chunks().cast(pa.string())]))
    o_index, order = _intervals(owners, _checked_keys(owners, "vehicle_key", "register/owners"))
    _check_distinct(o_index, order, owners["vehicle_key"], "register/owners")
    kinds = pa.array([D.BEDRIJF, D.PARTICULIER])
    kind = np.asarray(pc.fill_null(pc.index_in(owners["eigenaar_type"], value_set=kinds), -1)).astype(np.int8)
    owner_company = np.asarray(pc.fill_null(pc.index_in(owners["company_key"], value_set=company_keys), -1))
    owner_postcode = np.asarray(pc.fill_null(owners["postcode4"], -1), dtype=np.int32)

    company_idx = np.asarray(pc.index_in(companies["company_key"], value_set=company_keys), dtype=np.int64)
    c_index, c_order = _intervals(companies, company_idx)
    sbi = companies["sbi_code"]
    company_codes = {}
    section, labels["sbi_sectie"] = codes(D.map_distinct(sbi, lambda s: (D.sbi_sectie(s) or (None,))[0]), np.int8)
    group, pairs = codes(D.map_distinct(sbi, lambda s: "\t".join(D.sbi_afdeling(s, conf) or ()) or None))
    labels["sbi_groep_code"] = [p.split("\t")[0] for p in pairs]
    labels["sbi_groep_omschrijving"] = [p.split("\t")[1] for p in pairs]
    size, labels["bedrijfsgrootte"] = codes(D.map_distinct(
        companies["werkzame_personen"], lambda n: D.bedrijfsgrootte(n, conf)), np.int8)  # type: ignore[arg-type]
    company_codes = {"sbi_sectie": section[c_order], "sbi_groep": group[c_order], "bedrijfsgrootte": size[c_order]}

    r_index, r_order = _intervals(regions, np.asarray(regions["postcode4"], dtype=np.int64))
    nuts3, labels["herkomst_nuts3"] = codes(regions["nuts3_code"])
    province, labels["herkomst_provincie"] = codes(regions["provincie_naam"], np.int8)
    region_codes = {"herkomst_nuts3": nuts3[r_order], "herkomst_provincie": province[r_order]}

    e_keys, _ = key64(exemptions["vehicle_key"])
    e_order = np.argsort(e_keys, kind="stable")
    muni, labels["municipality"] = codes(exemptions["municipality"])
    strength = pc.fill_null(pc.index_in(exemptions["soort"], value_set=pa.array(D.ONTHEFFING_LEVELS)), 0)
    exemption_cols = {"municipality": muni[e_order], "from": _days(exemptions["valid_from"], 0)[e_order],
                      "to": _days(exemptions["valid_to"], NO_DAY_END)[e_order],
                      "level": np.asarray(strength).astype(np.int8)[e_order]}
    return RegisterSnapshot(
        vehicles=v_index, vehicle_codes=vehicle_codes, toegang_tot=toegang, owners=o_index, owner_kind=kind[order],
        owner_company=owner_company.astype(np.int32)[order], owner_postcode=owner_postcode[order],
        companies=c_index, company_codes=company_codes, company_keys=company_keys, regions=r_index,
        region_codes=region_codes, exemption_keys=e_keys[e_order], exemption_cols=exemption_cols, labels=labels)

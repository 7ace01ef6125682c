"""Disclosure control of one zone's month: primary and secondary suppression, then the audit."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from anpr.catalogue import Definitions, TableSpec
from anpr.dimensions import Containment
from anpr.disclosure import DisclosureConfig
from jobs.stats.sdc.audit import Attack
from jobs.stats.sdc.cells import PRIMARY, PUBLISHED, SECONDARY, Part, build_registry
from jobs.stats.sdc.protect import AuditReport, Protection, ProtectionError, audit, protect
from jobs.stats.sdc.revision import CARRIED, REVISION, Earlier, Revision
from jobs.stats.tables.cells import CellPart

log = logging.getLogger(__name__)


@dataclass
class ZoneResult:
    gemeente: str
    zone: str
    cells: dict[str, pd.DataFrame]  # part -> cells with status, reasons and audit columns added
    summary: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)


def _status(prot: Protection) -> list[str]:
    return [PRIMARY if r else SECONDARY if s else PUBLISHED for r, s in zip(prot.reasons, prot.suppressed, strict=True)]


def _attacks_by_node(report: AuditReport) -> dict[int, list[Attack]]:
    out: dict[int, list[Attack]] = {}
    for attack in report.attacks:
        out.setdefault(attack.node, []).append(attack)
    return out


def _narrowest(report: AuditReport, prot: Protection) -> dict[str, object] | None:
    if not report.attacks:
        return None
    worst = min(report.attacks, key=lambda a: (a.width / a.margin if a.margin else np.inf, a.width))
    return {"width": round(worst.width, 3) if np.isfinite(worst.width) else None, "margin": round(worst.margin, 3),
            "measure": worst.measure, "method": worst.method, "about": worst.about,
            "tables": prot.registry.tables_of(worst.node) if worst.node >= 0 else []}


LOSS_COUNTS = ("cells", "primary", "secondary", "passages", "passages_suppressed", "vehicles",
               "vehicles_suppressed")


def information_loss(counts: Mapping[str, float]) -> dict[str, float]:
    """A table's counts plus its information loss: the share of its cells suppressed (primary or secondary),
    and the shares of its passages and vehicle counts that lie in suppressed cells (each cell weighted by
    its own count, margins included, as tau-ARGUS weighs cells). Internal: the release records these with
    its audit, never in a served answer, since an exact share with the published cells gives the sum of
    the suppressed ones."""
    t = {k: int(counts.get(k, 0)) for k in LOSS_COUNTS}
    share = {"suppressed_share": (t["primary"] + t["secondary"], t["cells"]),
             "passages_suppressed_share": (t["passages_suppressed"], t["passages"]),
             "vehicles_suppressed_share": (t["vehicles_suppressed"], t["vehicles"])}
    return {**t, **{k: round(a / b, 4) if b else 0.0 for k, (a, b) in share.items()}}


def summarize(prot: Protection, report: AuditReport) -> dict[str, Any]:
    """Counts only: no cell, value or interval bound that could identify a suppressed cell."""
    reg, status = prot.registry, _status(prot)
    tables: dict[str, dict[str, float]] = {}
    for p, part in enumerate(reg.parts):
        t = tables.setdefault(part.table, dict.fromkeys(LOSS_COUNTS, 0))
        hidden = np.array([status[n] != PUBLISHED for n in reg.node_of[p]], dtype=bool)
        t["cells"] += len(hidden)
        t["primary"] += sum(status[n] == PRIMARY for n in reg.node_of[p])
        t["secondary"] += sum(status[n] == SECONDARY for n in reg.node_of[p])
        for measure, name in (("P", "passages"), ("V", "vehicles")):
            values = part.cells[measure].to_numpy(dtype=np.int64)
            t[name] += int(values.sum())
            t[f"{name}_suppressed"] += int(values[hidden].sum())
    return {
        "cells": reg.size, "primary": int(prot.primary.sum()),
        "secondary": int((prot.suppressed & ~prot.primary).sum()), "rounds": prot.rounds,
        "attacked": len(report.attacks), "lp_solved": report.lp_solved, "audit_fresh": report.fresh,
        "exact_disclosures": int(sum(a.exact for a in report.attacks)), "too_narrow": len(report.failures),
        "unsafe_unions": len(report.union_failures), "narrowest": _narrowest(report, prot),
        "tables": {name: information_loss(t) for name, t in tables.items()},
        "released": len(prot.released), "identities": len(reg.identities.classes),
        "joint_levels": len({j for js in prot.system.model.joints.values() for j in js}),
        "revision": _revision(prot, report),
        "dominance_unsearched": prot.system.dominance_unsearched,
    }


def _revision(prot: Protection, report: AuditReport) -> dict[str, int]:
    """What the revision policy did (jobs/stats/sdc/revision.py): cells it suppressed, and counts attacked for it."""
    why = [prot.union_reasons.get(n) if not prot.reasons[n] else REVISION if REVISION in prot.reasons[n] else None
           for n in sorted(prot.forced)]
    return {"carried": why.count(CARRIED), "revision": why.count(REVISION),
            "differences_attacked": sum(a.about.startswith("difference") for a in report.attacks),
            "earlier_attacked": sum(a.about.startswith("earlier") for a in report.attacks)}


def _label(attack: Attack) -> str:
    return f"{attack.measure} {attack.about}" if attack.about else attack.measure


def _annotate(part: Part, nodes: np.ndarray, status: list[str], prot: Protection,
              attacks: Mapping[int, list[Attack]], secondary_why: Mapping[int, str]) -> pd.DataFrame:
    cells = part.cells.copy()
    cells["status"] = [status[n] for n in nodes]
    cells["reasons"] = [",".join(prot.reasons[n]) or secondary_why.get(n, "") if status[n] != PUBLISHED else ""
                        for n in nodes]
    cells["audit"] = [json.dumps({_label(a): [round(a.lo, 3), None if not np.isfinite(a.hi) else round(a.hi, 3),
                                              round(a.margin, 3), a.method] for a in attacks.get(n, [])},
                                 sort_keys=True) if n in attacks else "" for n in nodes]
    return cells


def fates(prot: Protection, report: AuditReport) -> dict[str, pd.DataFrame]:
    """Per part: its cells with status (published | primary | secondary), reasons and audit columns: what a
    release records, and what a later release of the month is protected against (jobs/stats/sdc/revision.py)."""
    status, attacks = _status(prot), _attacks_by_node(report)
    return {part.part: _annotate(part, prot.registry.node_of[p], status, prot, attacks, prot.union_reasons)
            for p, part in enumerate(prot.registry.parts)}


def protect_zone(gemeente: str, zone: str, frames: Sequence[tuple[CellPart, pd.DataFrame]],
                 specs: Mapping[str, TableSpec], disclosure: DisclosureConfig, definitions: Definitions | None = None,
                 earlier: Sequence[Earlier] = (),
                 floors: Mapping[tuple[str, object], float] | None = None,
                 calendar: tuple[Containment, ...] = (), days: Mapping[str, dict[object, int]] | None = None,
                 ceilings: Mapping[tuple[tuple[str, ...], tuple[object, ...]], float] | None = None) -> ZoneResult:
    """definitions: the catalogue's [definitions] the cells were built with (visitor-type thresholds);
    earlier: the zone in every earlier served release of the month, protected against jointly (the
    revision policy, jobs/stats/sdc/revision.py); floors: Registry.floors (each camera's worked hours);
    calendar, days: Registry.calendar and Registry.days (the month's); ceilings: Registry.ceilings (hours no
    fully available camera shows). The summary's availability_withheld says the ceilings were dropped, so
    4.12 must not show its fully available cameras' percentages: when the zone cannot be protected under
    them, or an earlier release of the month withheld them.

    Raises ProtectionError when the zone cannot be protected (without the ceilings either) or its audit
    refuses the pattern."""
    repeated = _repeated(frames, earlier)
    if repeated is not None:
        return ZoneResult(gemeente, zone, *repeated, {"protection": 0.0, "audit": 0.0})
    parts = [Part(cp.table, cp.part, cp.keys, tuple(specs[cp.table].counts), frame.reset_index(drop=True),
                  disclosure.rules_for(cp.table), cp.hidden) for cp, frame in frames]
    started = time.perf_counter()
    # A month whose earlier release withheld 4.12's percentages here keeps them withheld (as it keeps what
    # that release suppressed): published now, they would bound the earlier release's quiet hours.
    withheld = any(e.availability_withheld for e in earlier) or _pinned_by_ceilings(parts, ceilings or {})
    try:
        prot, report, seconds = _protected(zone, parts, disclosure, definitions, earlier, floors, calendar, days,
                                           {} if withheld else ceilings)
    except ProtectionError:
        if withheld or not ceilings:
            raise
        # 4.12's 100% with 4.1's empty hours caps a quiet hour's passages (Registry.ceilings), and each of its
        # cells is at least 1: a quiet hour of many cells can leave each one too narrow however much else is
        # hidden (GM0344-ZE1 on a 488-passage day: 17 cells under a ceiling of 19, each in [1, 3] against a
        # margin of 3). Hiding those cameras' percentages (jobs/stats/tables/cameras.py full_cameras) takes the
        # ceilings from the attacker; the zone is protected again without them.
        log.info("zone %s: protected again with 4.12's fully available cameras withheld", zone)
        withheld = True
        prot, report, seconds = _protected(zone, parts, disclosure, definitions, earlier, floors, calendar, days, {})
    summary = {**summarize(prot, report), "availability_withheld": withheld}
    # a first try that failed counts as protection
    return ZoneResult(gemeente, zone, fates(prot, report), summary,
                      {"protection": time.perf_counter() - started - seconds["audit"], "audit": seconds["audit"]})


def _pinned_by_ceilings(parts: Sequence[Part], ceilings: Mapping[tuple[tuple[str, ...], tuple[object, ...]], float]
                        ) -> bool:
    """Whether a ceiling certainly leaves some primary passage count too narrow, however much else is hidden,
    so the protection under the ceilings would fail (and cost a try): a part keyed by the ceiling's dimensions
    shows k cells of that weekday and hour, disjoint and each at least 1 passage, summing to at most the
    ceiling, so each lies in [1, ceiling - k + 1], whose width ceiling - k is below the margin of a cell with
    fewer vehicles than its part's frequency rule allows (primary under that rule, and the strictest rules of
    its population only widen the margin)."""
    for (dims, values), ceiling in ceilings.items():
        for part in parts:
            if "P" not in part.measures or not set(dims) <= set(part.keys) or part.cells.empty:
                continue
            cells = part.cells
            slot = np.logical_and.reduce([(cells[d] == v).to_numpy() for d, v in zip(dims, values, strict=True)])
            room = ceiling - int(slot.sum())
            primary = slot & (cells["V"].to_numpy() < part.rules.min_vehicles)
            if primary.any() and room < max(part.rules.margin(float(p)) for p in cells["P"].to_numpy()[primary]):
                return True
    return False


FATES = ("status", "reasons", "audit")  # the columns fates adds to a part's cells


def _repeated(frames: Sequence[tuple[CellPart, pd.DataFrame]], earlier: Sequence[Earlier]
              ) -> tuple[dict[str, pd.DataFrame], dict[str, Any]] | None:
    """The latest earlier release's fates and audit summary for this zone, when its cells are these cell for
    cell and no vehicle's contribution differs since (a month published again without new passages: the
    demo's second run, a municipality run on unchanged data). That release was protected and audited
    against every release before it, and showing its pattern again shows nothing new, so it is shown as it
    was (summary: `repeated_from` names it) instead of protected again, which carried that pattern forward and
    attacked it anew (jobs/stats/sdc/revision.py Revision.repeat). None otherwise."""
    last = earlier[-1] if earlier else None
    if last is None or not last.summary or any(not f.empty for f in last.difference.values()):
        return None
    if set(last.cells) != {cp.part for cp, _ in frames}:
        return None
    cells = {}
    for cp, frame in frames:
        old = last.cells[cp.part].reset_index(drop=True)
        mine = frame.reset_index(drop=True)
        if not set(FATES) <= set(old.columns) or not old.drop(columns=list(FATES)).equals(mine):
            return None
        cells[cp.part] = old[[*mine.columns, *FATES]]
    return cells, {**last.summary, "repeated_from": last.release_id}


def _protected(zone: str, parts: Sequence[Part], disclosure: DisclosureConfig, definitions: Definitions | None,
               earlier: Sequence[Earlier], floors: Mapping[tuple[str, object], float] | None,
               calendar: tuple[Containment, ...], days: Mapping[str, dict[object, int]] | None,
               ceilings: Mapping[tuple[tuple[str, ...], tuple[object, ...]], float] | None
               ) -> tuple[Protection, AuditReport, dict[str, float]]:
    """The zone's pattern, its audit and their seconds; raises ProtectionError when no pattern is found or the
    audit refuses."""
    started = time.perf_counter()
    reg = build_registry(parts)
    reg.floors = dict(floors or {})
    reg.ceilings = dict(ceilings or {})
    reg.calendar = calendar
    reg.days = dict(days or {})
    revision = Revision(reg, earlier, definitions) if earlier else None
    prot = protect(reg, disclosure.audit, definitions=definitions, revision=revision)
    protected = time.perf_counter()
    report = audit(prot, disclosure.audit)
    if not report.ok:
        raise ProtectionError(f"zone {zone}: the audit refuses the release: {summarize(prot, report)}")
    return prot, report, {"protection": protected - started, "audit": time.perf_counter() - protected}


def merge_summaries(zones: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The release's audit summary: totals over zones, the narrowest interval, per table shares, per zone."""
    tables: dict[str, dict[str, float]] = {}
    for summary in zones.values():
        for name, t in summary["tables"].items():
            agg = tables.setdefault(name, dict.fromkeys(LOSS_COUNTS, 0))
            for k in LOSS_COUNTS:
                agg[k] += t.get(k, 0)
    tables = {name: information_loss(t) for name, t in tables.items()}
    narrow = [s["narrowest"] for s in zones.values() if s["narrowest"]]

    def ratio(n: Mapping[str, Any]) -> float:
        return float("inf") if n["width"] is None else float(n["width"]) / float(n["margin"])

    totals = {k: sum(int(s.get(k, 0)) for s in zones.values())
              for k in ("cells", "primary", "secondary", "attacked", "lp_solved", "exact_disclosures", "too_narrow",
                        "unsafe_unions", "released", "audit_fresh")}
    # zones where some fixed sums of five or more cells were not judged by the dominance rule (small_sums.py)
    totals["dominance_unsearched_zones"] = sum(bool(s.get("dominance_unsearched")) for s in zones.values())
    # zones whose fully available cameras 4.12 shows without a percentage (protect_zone)
    totals["availability_withheld_zones"] = sum(bool(s.get("availability_withheld")) for s in zones.values())
    return {"zones": len(zones), **totals, "narrowest": min(narrow, key=ratio) if narrow else None,
            "tables": dict(sorted(tables.items())), "per_zone": {k: dict(zones[k]) for k in sorted(zones)}}

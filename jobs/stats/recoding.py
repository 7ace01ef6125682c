"""Global recoding before suppression: a table too sparse to publish well goes one level up a public
classification (SBI afdeling -> SBI section), as tau-ARGUS users do, instead of losing most of its cells.

The choice is per table and month, over all zones, so one release has one level per table and the vendor
API can state it (release `protection.recoded`). It is made once, at the month's first release: before
suppression from the share of the table's cells the primary rules would suppress (choose), then after the
first protection from its information loss (by_loss: a table putting too many of a zone's passages in
suppressed cells is recoded too, and the zones are protected again, as tau-ARGUS users recode and protect
again); later releases of the month keep it, so the releases served together are never a fine and a coarse
version of the same table (docs/statistics.md, "Global recoding").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations
from typing import Any

import pandas as pd

from anpr.catalogue import RECODES, Catalogue, TableSpec
from anpr.disclosure import DisclosureConfig
from jobs.stats.sdc import cell_reasons
from jobs.stats.tables.cells import CellPart, count_parts

Recoded = dict[str, dict[str, str]]  # table -> dimension -> level it is published at


def candidates(specs: Sequence[TableSpec], disclosure: DisclosureConfig) -> list[TableSpec]:
    """The recoded variants of every table keyed by a declared hierarchy: one per non-empty set of its declared
    keys (a table keyed by sector and fuel has three), so recoding takes no more of a table up than it needs.
    ValueError for a hierarchy anpr/catalogue.py RECODES does not know."""
    unknown = sorted(set(disclosure.recoding.hierarchies) - set(RECODES))
    if unknown:
        raise ValueError(f"conf/disclosure.toml [recoding] hierarchies: no level above {unknown} is declared; "
                         f"known: {sorted(RECODES)}")
    if disclosure.recoding.max_primary_share >= 1.0 and disclosure.recoding.max_passages_share >= 1.0:
        return []
    out = []
    for spec in specs:
        declared = [s for s in dict.fromkeys(spec.keys.values()) if s in disclosure.recoding.hierarchies]
        for size in range(1, len(declared) + 1):
            out += [v for sources in combinations(declared, size) if (v := spec.recode(sources)) is not None]
    return out


def primary_cells(spec: TableSpec, frame: pd.DataFrame, disclosure: DisclosureConfig) -> list[bool]:
    """Per cell of one of the table's frames, whether the primary rules suppress it: frequency of vehicles
    and owners, and dominance on passages (or vehicles for a table without passages), as
    jobs/stats/sdc/cells.py."""
    rules = disclosure.rules_for(spec.name)
    amount, top = ("P", "top_p") if "P" in spec.counts else ("V", "top_v")
    return [bool(cell_reasons(rules, float(v), float(o), float(a), t))
            for v, o, a, t in zip(frame["V"], frame["O"], frame[amount], frame[top], strict=True)]


def primary_share(spec: TableSpec, frames: Sequence[pd.DataFrame], disclosure: DisclosureConfig) -> float:
    """Share of the table's cells (all zones) that the primary rules suppress (primary_cells)."""
    flags = [f for frame in frames for f in primary_cells(spec, frame, disclosure)]
    return sum(flags) / len(flags) if flags else 0.0


def choose(specs: Sequence[TableSpec], parts: Sequence[tuple[CellPart, pd.DataFrame]],
           disclosure: DisclosureConfig) -> Recoded:
    """Which tables to publish recoded: those whose own cells pass max_primary_share, at the variant (built
    beside them) that recodes the fewest dimensions and brings the share to the limit, or failing that the
    variant with the lowest share; never a variant that does no better than the table itself."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for part, frame in parts:
        frames.setdefault(part.part, []).append(frame)
    limit = disclosure.recoding.max_primary_share
    variants: dict[str, list[TableSpec]] = {}
    for variant in candidates(specs, disclosure):
        variants.setdefault(variant.name, []).append(variant)
    out: Recoded = {}
    for name, options in variants.items():
        fine = next(s for s in specs if s.name == name)
        share = primary_share(fine, frames.get(fine.part_name, []), disclosure)
        if share <= limit:
            continue
        shares = [(primary_share(v, frames.get(v.part_name, []), disclosure), len(v.recoded), v) for v in options]
        better = [(s, n, v) for s, n, v in shares if s < share]
        if better:
            enough = [(n, s, v.part_name, v) for s, n, v in better if s <= limit]
            _, _, _, pick = min(enough) if enough else min((s, n, v.part_name, v) for s, n, v in better)
            out[name] = dict(pick.recoded)
    return out


def _further(fine: Sequence[TableSpec], specs: Sequence[TableSpec], disclosure: DisclosureConfig
             ) -> list[tuple[TableSpec, TableSpec]]:
    """The tables the loss rule may still recode: (as published, at every declared key) for each table of
    specs not yet recoded at every declared key (fine: the same tables before any recoding)."""
    published = {s.name: s for s in specs}
    out = []
    for table in fine:
        variant = table.recode(disclosure.recoding.hierarchies)
        if variant is not None and published[table.name].recoded != variant.recoded:
            out.append((published[table.name], variant))
    return out


def by_loss(fine: Sequence[TableSpec], specs: Sequence[TableSpec], summaries: Sequence[Mapping[str, Any]],
            disclosure: DisclosureConfig) -> Recoded:
    """Which tables to recode further for their information loss: those of specs (as the first protection
    published them; fine: the same before any recoding) not yet recoded at every declared key whose share
    of passages in suppressed cells passes [recoding] max_passages_share in some zone; each at every
    declared key, since the loss does not say which key causes it. summaries: the first protection's, one
    per zone, with per table the shares jobs/stats/sdc/zone.py information_loss gives."""
    limit = disclosure.recoding.max_passages_share
    if limit >= 1.0:
        return {}
    out: Recoded = {}
    for table, variant in _further(fine, specs, disclosure):
        shares = [float(z["tables"][table.name]["passages_suppressed_share"]) for z in summaries
                  if table.name in z["tables"]]
        if shares and max(shares) > limit:
            out[table.name] = dict(variant.recoded)
    return out


def by_primary_loss(fine: Sequence[TableSpec], specs: Sequence[TableSpec],
                    parts: Sequence[tuple[CellPart, pd.DataFrame]], disclosure: DisclosureConfig) -> Recoded:
    """What by_loss will certainly choose, known before any protection: the tables whose primary cells
    alone (primary_cells) put more than max_passages_share of some zone's passages in suppressed cells.
    Secondary suppression only adds suppressed cells, so by_loss chooses at least these; it may choose more.
    parts: the cells of specs, all zones (columns municipality and zone_id)."""
    limit = disclosure.recoding.max_passages_share
    if limit >= 1.0:
        return {}
    out: Recoded = {}
    for table, variant in _further(fine, specs, disclosure):
        hidden: dict[tuple[str, str], int] = {}
        total: dict[tuple[str, str], int] = {}
        for part, frame in parts:
            if part.table != table.name:
                continue
            flags = primary_cells(table, frame, disclosure)
            for zone, p, flag in zip(zip(frame["municipality"], frame["zone_id"], strict=True), frame["P"], flags,
                                     strict=True):
                total[zone] = total.get(zone, 0) + int(p)
                hidden[zone] = hidden.get(zone, 0) + int(p) * flag
        # rounded as information_loss rounds the shares by_loss compares
        if any(round(hidden[z] / t, 4) > limit for z, t in total.items() if t):
            out[table.name] = dict(variant.recoded)
    return out


def passages_suppressed(summaries: Sequence[Mapping[str, Any]]) -> int:
    """Passages in suppressed cells over every table and zone (each cell weighted by its own count, margins
    included): the information loss by which a protection after recoding is kept or not."""
    return sum(int(t["passages_suppressed"]) for z in summaries for t in z["tables"].values())


def recoded_in(specs: Sequence[TableSpec]) -> Recoded:
    """The recoding specs publish (apply's inverse): table -> dimension -> level, for the recoded ones."""
    return {s.name: dict(s.recoded) for s in specs if s.recoded}


def apply(specs: Sequence[TableSpec], recoded: Mapping[str, Mapping[str, str]]) -> list[TableSpec]:
    """specs with the chosen tables recoded (the choice of an earlier release, or of choose())."""
    out = []
    for spec in specs:
        levels = recoded.get(spec.name)
        variant = spec.recode([s for d, s in spec.keys.items() if d in levels]) if levels else None
        if levels and (variant is None or variant.recoded != dict(levels)):
            raise ValueError(f"table {spec.name}: the month's releases publish it recoded as {dict(levels)}, "
                             "which the catalogue no longer allows; publish the month under a new catalogue "
                             "version instead")
        out.append(variant or spec)
    return out


def select(built: Sequence[tuple[CellPart, pd.DataFrame]], specs: Sequence[TableSpec], catalogue: Catalogue
           ) -> list[tuple[CellPart, pd.DataFrame]]:
    """The built blocks of cells of exactly these specs, with the hidden keys a build of only them has
    (a hidden key is a column of its own, so dropping one leaves the rest as that build makes them)."""
    by_name = {part.part: (part, frame) for part, frame in built}
    out = []
    for part in count_parts(specs, catalogue):
        made, frame = by_name[part.part]
        out.append((part, frame.drop(columns=[h for h in made.hidden if h not in part.hidden and h in frame])))
    return out

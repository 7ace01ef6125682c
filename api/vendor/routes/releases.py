"""The releases a vendor can read: the latest per month, or all of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from anpr.catalogue import TABLES
from api.vendor import models
from api.vendor.deps import Vendor, store_of, takes
from api.vendor.http import DATA_EXPIRES, json_body, respond
from api.vendor.queries import find_release
from api.vendor.security import Principal

router = APIRouter(tags=["releases"])


def information_loss(r: dict[str, Any], municipalities: frozenset[str] | set[str]) -> dict[str, dict[str, Any]]:
    """Per table, the cells of the vendor's municipalities in this release and how many are suppressed.

    Counted from the audit summary the release recorded per zone ("GM0344/GM0344-ZE1"). Only cell counts
    are served: a suppressed cell is visible as a row with null measures anyway, while an exact share of
    passages or vehicles in suppressed cells would, with the published cells, give their sum.
    """
    per_zone = r.get("protection", {}).get("audit", {}).get("per_zone", {})
    counts: dict[str, list[int]] = {}
    for zone, summary in per_zone.items():
        if zone.partition("/")[0] not in municipalities:
            continue
        for table, t in summary.get("tables", {}).items():
            c = counts.setdefault(table, [0, 0])
            c[0] += int(t.get("cells", 0))
            c[1] += int(t.get("primary", 0)) + int(t.get("secondary", 0))
    return {table: {"cells": cells, "cellsSuppressed": hidden,
                    "cellsSuppressedShare": round(hidden / cells, 4) if cells else 0.0}
            for table, (cells, hidden) in sorted(counts.items())}


def release_json(r: dict[str, Any], who: Principal) -> dict[str, Any]:
    """A release of the store as the vendor `who` sees it (camelCase, no internal row counts): the
    tables its layer reads only (catalogue tables), with the date its contract says data of it must be
    destroyed by (expiresAt)."""
    tables = [t for t in r["tables"] if t in TABLES and who.contract.serves(TABLES[t])]
    loss = information_loss(r, who.municipalities)
    return {"releaseId": r["release_id"], "month": r["month"], "createdAt": r["created_at"],
            "expiresAt": who.contract.expires_at(r["created_at"]),
            "tables": tables, "configHash": r["config_hash"], "sourceVersions": r["source_versions"],
            "informationLoss": {t: v for t, v in loss.items() if t in tables},
            "recoded": {t: v for t, v in r.get("protection", {}).get("recoded", {}).items() if t in tables}}


@router.get("/v1/releases", summary="releases: the latest per month (history=true: all)",
            responses=models.content(models.ReleaseList, bad_request=True), dependencies=[Depends(takes("history"))])
async def releases(request: Request, who: Vendor, history: bool = False) -> Response:
    store = store_of(request)
    found = store.releases() if history else store.latest_per_month()
    payload = {"releases": [release_json(r, who) for r in found]}
    return respond(request, json_body(payload, {"municipalities": ",".join(sorted(who.municipalities))}))


@router.get("/v1/releases/{release_id}", summary="one release",
            responses=models.content(models.Release, expires=True, bad_request=True), dependencies=[Depends(takes())])
async def release(release_id: str, request: Request, who: Vendor) -> Response:
    found = find_release(store_of(request), release_id, None)
    payload = release_json(found, who)
    return respond(request, json_body(payload, {"release": release_id}, {DATA_EXPIRES: payload["expiresAt"]}))

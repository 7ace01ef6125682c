"""The releases a vendor can read: the latest per month, or all of them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.vendor import models
from api.vendor.deps import Vendor, store_of
from api.vendor.http import json_body, respond
from api.vendor.queries import find_release

router = APIRouter(tags=["releases"])


def release_json(r: dict[str, Any]) -> dict[str, Any]:
    """A release of the store as vendors see it (camelCase, no internal row counts)."""
    return {"releaseId": r["release_id"], "month": r["month"], "createdAt": r["created_at"],
            "tables": r["tables"], "configHash": r["config_hash"], "sourceVersions": r["source_versions"]}


@router.get("/v1/releases", summary="releases: the latest per month (history=true: all)",
            responses=models.content(models.ReleaseList))
async def releases(request: Request, who: Vendor, history: bool = False) -> Response:
    store = store_of(request)
    found = store.releases() if history else store.latest_per_month()
    payload = {"releases": [release_json(r) for r in found]}
    return respond(request, json_body(payload, ("releases", payload), {"municipalities": ",".join(
        sorted(who.municipalities))}))


@router.get("/v1/releases/{release_id}", summary="one release", responses=models.content(models.Release))
async def release(release_id: str, request: Request, who: Vendor) -> Response:
    found = find_release(store_of(request), release_id, None)
    return respond(request, json_body(release_json(found), ("release", release_id), {"release": release_id}))

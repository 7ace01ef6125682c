"""Dependencies of the ingest routes: the services and the authenticated supplier."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from anpr.suppliers import Supplier
from api.common.errors import ApiError
from api.ingest.services import IngestServices

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                       description="The supplier's API key, issued by the platform team.")


def services_of(request: Request) -> IngestServices:
    services: IngestServices = request.app.state.services
    return services


def supplier_of(request: Request, api_key: Annotated[str | None, Depends(API_KEY)]) -> Supplier:
    """The supplier of the X-API-Key; 401 when missing or unknown, 403 when the key is disabled."""
    if not api_key:
        raise ApiError(401, "missing API key", "send your key in the X-API-Key header")
    supplier = services_of(request).suppliers.authenticate(api_key)
    if supplier is None:
        raise ApiError(401, "unknown API key", "check the X-API-Key header or ask the platform team for a key")
    if not supplier.enabled:
        raise ApiError(403, f"supplier {supplier.name} is not allowed to deliver",
                       "the platform team disabled this key; contact them")
    request.state.supplier = supplier.name
    return supplier


Services = Annotated[IngestServices, Depends(services_of)]
Authenticated = Annotated[Supplier, Depends(supplier_of)]

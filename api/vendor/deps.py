"""Dependencies of the vendor routes: the authenticated vendor (key or bearer token) and the admin."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.security import APIKeyHeader, OAuth2

from api.access_log import AccessLog
from api.common.errors import ApiError
from api.releases import ReleaseStore
from api.vendor.geo import ZoneRegistry
from api.vendor.queries import given_once
from api.vendor.rows import RowsService
from api.vendor.security import TOKEN_URL, Authenticator, Principal, unauthorized

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                       description="The vendor's API key, issued by the platform team.")
OAUTH2 = OAuth2(flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes={})),
                auto_error=False, scheme_name="OAuth2",
                description="Client credentials: client_id = vendor name, client_secret = API key.")
ADMIN_KEY = APIKeyHeader(name="X-Admin-Key", auto_error=False, scheme_name="AdminKey",
                         description="The platform team's admin key (settings.admin_key).")
# The OpenAPI security of operations that call authenticate() themselves.
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"OAuth2": []}]


async def principal(request: Request, api_key: Annotated[str | None, Depends(API_KEY)],
                    authorization: Annotated[str | None, Depends(OAUTH2)]) -> Principal:
    # The two dependencies declare the security schemes in the OpenAPI document only: they give None for an
    # empty header as for a missing one, and only a missing one means the open layer.
    return authenticate(request)


def authenticate(request: Request) -> Principal:
    """The vendor behind the request's key or token, within its rate limit; 401, 403 or 429 if not, 400 for both.
    Without either header: the open layer (ANONYMOUS) if conf/vendors.toml opens one, else 401. A header
    that is there but empty or blank is a wrong credential (401), never the open layer.

    Hot routes call this directly instead of through FastAPI's dependency solver, which costs more
    than a cached page (they declare the same security in their OpenAPI operation).
    """
    auth: Authenticator = request.app.state.auth
    api_key, authorization = request.headers.get("x-api-key"), request.headers.get("authorization")
    if (api_key or "").strip() and (authorization or "").strip():  # which identity is audited must not be a guess
        raise ApiError(400, "two credentials in one request: an X-API-Key header and an Authorization header",
                       "send one of them (RFC 6750 2: one method per request)", code="invalid_request")
    if api_key is not None:
        vendor = auth.vendor_of_key(api_key) if api_key.strip() else None
        if vendor is None:
            auth.failed(request)
            if not api_key.strip():
                raise unauthorized("empty X-API-Key header", "send your key in it, or leave the header out for the "
                                                             "open layer")
            raise unauthorized("unknown API key", "check the X-API-Key header or ask the platform team for a key")
    elif authorization is not None:
        scheme, _, token = authorization.strip().partition(" ")
        vendor = auth.vendor_of_token(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if vendor is None:
            auth.failed(request)
            if not token.strip():
                raise unauthorized("no access token in the Authorization header",
                                   f"send Authorization: Bearer <token from {TOKEN_URL}>, or leave the header out "
                                   "for the open layer", "invalid_request")
            raise unauthorized("invalid or expired access token", f"get a new token at {TOKEN_URL}",
                                "invalid_token")
    else:
        return auth.anonymous(request)
    request.state.vendor = vendor
    found = auth.principal(vendor)
    auth.throttle(request, vendor, found.contract)
    return found


Vendor = Annotated[Principal, Depends(principal)]


async def admin(request: Request, key: Annotated[str | None, Depends(ADMIN_KEY)]) -> str:
    """The string "admin" for the platform team's X-Admin-Key; 403 when none is configured, 401 when wrong."""
    expected = request.app.state.admin_key
    if expected is None:
        raise ApiError(403, "admin access is not configured", "set ANPR_ADMIN_KEY for the API process")
    if not key or not hmac.compare_digest(key.encode(), expected.encode()):
        request.app.state.auth.failed(request)
        raise ApiError(401, "missing or wrong admin key", "send the platform team's key in X-Admin-Key")
    request.state.vendor = "admin"
    return "admin"


Admin = Annotated[str, Depends(admin)]


# What create_app keeps on app.state for the routes.
def store_of(request: Request) -> ReleaseStore:
    store: ReleaseStore = request.app.state.store
    return store


def rows_of(request: Request) -> RowsService:
    rows: RowsService = request.app.state.rows
    return rows


def zones_of(request: Request) -> ZoneRegistry:
    zones: ZoneRegistry = request.app.state.zones
    return zones


def access_log_of(request: Request) -> AccessLog:
    audit: AccessLog = request.app.state.access_log
    return audit


def takes(*allowed: str, repeatable: Iterable[str] = (), admin: bool = False) -> Callable[..., None]:
    """A route dependency, after the caller's authentication (so a refused request is audited as the caller's
    and counted by its limits): 400 for a query parameter the operation does not read (FastAPI would ignore
    it), 422 for one of `allowed` given twice unless `repeatable` (FastAPI would take the last). `admin`:
    the route authenticates with the admin key instead of a vendor's."""
    single = [name for name in allowed if name not in set(repeatable)]
    reads = f"it reads {', '.join(allowed)}" if allowed else "it reads no query parameters"

    def check(request: Request) -> None:
        params = request.query_params
        unknown = sorted(set(params.keys()) - set(allowed))
        if unknown:
            raise ApiError(400, f"{request.url.path} takes no {', '.join(name[:40] for name in unknown)}", reads)
        given_once(params, single, 422)

    def as_vendor(request: Request, _: Vendor) -> None:
        check(request)

    def as_admin(request: Request, _: Admin) -> None:
        check(request)
    return as_admin if admin else as_vendor

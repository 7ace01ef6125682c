"""Who is asking: vendors by API key or OAuth2 client-credentials token; the platform team by admin key.

Tokens are stateless, `<vendor>.<expiry>.<HMAC of both under the vendor's own key>`: every API worker
can check them without shared state, and rotating a vendor's key revokes its tokens at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qs, unquote

from fastapi import Depends, Request
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, OAuth2

from api.errors import ApiError
from api.ratelimit import RateLimiter
from api.vendor_contracts import Contract

TOKEN_URL = "/v1/oauth/token"
TOKEN_TTL_SECONDS = 3600
# Wrong keys and client secrets per client address: enough for typos, too few to guess keys.
FAILED_AUTH_PER_MINUTE, FAILED_AUTH_BURST = 30, 10

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey",
                       description="The vendor's API key, issued by the platform team.")
OAUTH2 = OAuth2(flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=TOKEN_URL, scopes={})),
                auto_error=False, scheme_name="OAuth2",
                description="Client credentials: client_id = vendor name, client_secret = API key.")
ADMIN_KEY = APIKeyHeader(name="X-Admin-Key", auto_error=False, scheme_name="AdminKey",
                         description="The platform team's admin key (settings.admin_key).")


@dataclass(frozen=True)
class Principal:
    vendor: str
    contract: Contract

    @property
    def municipalities(self) -> frozenset[str]:
        return self.contract.municipalities


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    def __init__(self, keys: Mapping[str, str], contracts: Mapping[str, Contract], limiter: RateLimiter,
                 token_ttl: int = TOKEN_TTL_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self._keys = dict(keys)
        # Looked up by digest, so finding a key costs one hash whatever the number of vendors.
        self._by_digest = {hashlib.sha256(k.encode()).digest(): v for v, k in keys.items()}
        self.contracts = dict(contracts)
        self.limiter = limiter
        self.token_ttl = token_ttl
        self._clock = clock

    def vendor_of_key(self, key: str) -> str | None:
        return self._by_digest.get(hashlib.sha256(key.encode()).digest())

    def _signature(self, vendor: str, expires: int) -> str:
        mac = hmac.new(self._keys[vendor].encode(), f"anpr-token|{vendor}|{expires}".encode(), hashlib.sha256)
        return _b64(mac.digest())

    def issue_token(self, vendor: str) -> tuple[str, int]:
        expires = int(self._clock()) + self.token_ttl
        return f"{_b64(vendor.encode())}.{expires}.{self._signature(vendor, expires)}", self.token_ttl

    def vendor_of_token(self, token: str) -> str | None:
        try:
            name, expires_text, signature = token.split(".")
            vendor, expires = _unb64(name).decode(), int(expires_text)
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return None
        if vendor not in self._keys or expires < self._clock():
            return None
        return vendor if hmac.compare_digest(signature, self._signature(vendor, expires)) else None

    def principal(self, vendor: str) -> Principal:
        contract = self.contracts.get(vendor)
        if contract is None:
            raise ApiError(403, f"vendor {vendor!r} has no contract for any municipality",
                           "ask the platform team to add your contract to conf/vendors.toml")
        return Principal(vendor, contract)

    def failed(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        decision = self.limiter.take(f"failed-auth:{client}", FAILED_AUTH_PER_MINUTE, FAILED_AUTH_BURST)
        if not decision.allowed:
            raise ApiError(429, "too many failed authentication attempts", "wait before retrying",
                           headers={"Retry-After": str(decision.retry_after)})


def _unauthorized(message: str, hint: str, error: str = "") -> ApiError:
    challenge = 'Bearer realm="anpr"' + (f', error="{error}"' if error else "")
    return ApiError(401, message, hint, headers={"WWW-Authenticate": challenge})


async def principal(request: Request, api_key: Annotated[str | None, Depends(API_KEY)],
                    authorization: Annotated[str | None, Depends(OAUTH2)]) -> Principal:
    return authenticate(request, api_key, authorization)


def authenticate(request: Request, api_key: str | None = None, authorization: str | None = None) -> Principal:
    """The vendor behind the request's key or token, within its rate limit; 401, 403 or 429 if not.

    Hot routes call this directly instead of through FastAPI's dependency solver, which costs more
    than a cached page (they declare the same security in their OpenAPI operation).
    """
    auth: Authenticator = request.app.state.auth
    if api_key is None and authorization is None:
        api_key, authorization = request.headers.get("x-api-key"), request.headers.get("authorization")
    if api_key:
        vendor = auth.vendor_of_key(api_key)
        if vendor is None:
            auth.failed(request)
            raise _unauthorized("unknown API key", "check the X-API-Key header or ask the platform team for a key")
    elif authorization:
        scheme, _, token = authorization.partition(" ")
        vendor = auth.vendor_of_token(token.strip()) if scheme.lower() == "bearer" else None
        if vendor is None:
            auth.failed(request)
            raise _unauthorized("invalid or expired access token", f"get a new token at {TOKEN_URL}",
                                "invalid_token")
    else:
        raise _unauthorized("missing credentials",
                            f"send X-API-Key, or Authorization: Bearer <token> from {TOKEN_URL}")
    request.state.vendor = vendor
    found = auth.principal(vendor)
    decision = auth.limiter.take(vendor, found.contract.requests_per_minute, found.contract.burst)
    request.state.ratelimit = decision
    if not decision.allowed:
        raise ApiError(429, f"rate limit of {found.contract.requests_per_minute} requests/minute exceeded",
                       f"retry after {decision.retry_after} s", headers={"Retry-After": str(decision.retry_after)})
    return found


Vendor = Annotated[Principal, Depends(principal)]
# The OpenAPI security of operations that call authenticate() themselves.
SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"OAuth2": []}]


async def admin(request: Request, key: Annotated[str | None, Depends(ADMIN_KEY)]) -> str:
    expected = request.app.state.admin_key
    if expected is None:
        raise ApiError(403, "admin access is not configured", "set ANPR_ADMIN_KEY for the API process")
    if not key or not hmac.compare_digest(key.encode(), expected.encode()):
        request.app.state.auth.failed(request)
        raise ApiError(401, "missing or wrong admin key", "send the platform team's key in X-Admin-Key")
    request.state.vendor = "admin"
    return "admin"


Admin = Annotated[str, Depends(admin)]


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return "", ""
        return unquote(client_id), unquote(secret)  # RFC 6749 2.3.1: form-urlencoded before Basic
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


async def token_endpoint(request: Request) -> JSONResponse:
    auth: Authenticator = request.app.state.auth
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise ApiError(400, "send the token request as application/x-www-form-urlencoded", "RFC 6749 4.4.2",
                       code="invalid_request")
    form = parse_qs((await request.body()).decode(errors="replace"))
    if form.get("grant_type", [""])[0] != "client_credentials":
        raise ApiError(400, "only grant_type=client_credentials is supported", "RFC 6749 4.4",
                       code="unsupported_grant_type")
    client_id, secret = _client_credentials(request, form)
    if not client_id or not secret or auth.vendor_of_key(secret) != client_id:
        auth.failed(request)
        raise ApiError(401, "unknown client or wrong secret", "client_id is your vendor name, client_secret your key",
                       code="invalid_client", headers={"WWW-Authenticate": 'Basic realm="anpr"'})
    request.state.vendor = client_id
    token, ttl = auth.issue_token(client_id)
    return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl},
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

"""Who a vendor is: its API key, or an OAuth2 client-credentials bearer token (a JWT) issued for the key.

Tokens are stateless HS256 JWTs (`sub` = vendor, `exp`, `iat`) signed with a key derived from the
vendor's own API key: every API worker checks them without shared state, and rotating a vendor's key
revokes its tokens at once.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import jwt
from fastapi import Request

from anpr.catalogue import TableSpec, layer_tables
from api.common.errors import ApiError
from api.common.ratelimit import RateLimiter
from api.vendor.contracts import ANONYMOUS, Contract

TOKEN_URL = "/v1/oauth/token"
TOKEN_TTL_SECONDS = 3600
ALGORITHM = "HS256"
# Wrong keys and client secrets per client address: enough for typos, too few to guess keys.
FAILED_AUTH_PER_MINUTE, FAILED_AUTH_BURST = 30, 10


def unauthorized(message: str, hint: str, error: str = "") -> ApiError:
    challenge = 'Bearer realm="anpr"' + (f', error="{error}"' if error else "")
    return ApiError(401, message, hint, headers={"WWW-Authenticate": challenge})


@dataclass(frozen=True)
class Principal:
    vendor: str
    contract: Contract

    @property
    def municipalities(self) -> frozenset[str]:
        return self.contract.municipalities

    @property
    def anonymous(self) -> bool:
        """A request without a key, served as the open layer."""
        return self.vendor == ANONYMOUS

    def readable(self, spec: TableSpec) -> TableSpec:
        """`spec` when this caller's layer reads it; else 401 without a key (a key may open it, as
        before layers) and 403 with one (the contract's layer does not)."""
        if self.contract.serves(spec):
            return spec
        if self.anonymous:
            opened = ", ".join(layer_tables(self.contract.layer))
            raise unauthorized(f"table {spec.name} needs a key", f"without a key only the open tables are served: "
                                                                 f"{opened}")
        raise ApiError(403, f"table {spec.name} is not in the {self.contract.layer} layer of your contract",
                       "see /v1/tables for your tables; ask the platform team for another layer")


def _signing_key(api_key: str) -> bytes:
    # 32 bytes whatever the key's length (RFC 7518 3.2), and never the API key itself.
    return hmac.new(api_key.encode(), b"anpr-vendor-token", hashlib.sha256).digest()


class Authenticator:
    """Vendors' keys (vendor -> API key) and contracts; `limiter` also throttles failed attempts.
    `clock` gives Unix seconds (token issue and expiry)."""

    def __init__(self, keys: Mapping[str, str], contracts: Mapping[str, Contract], limiter: RateLimiter,
                 token_ttl: int = TOKEN_TTL_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self._signing_keys = {vendor: _signing_key(key) for vendor, key in keys.items()}
        # Looked up by digest, so finding a key costs one hash whatever the number of vendors.
        self._by_digest = {hashlib.sha256(k.encode()).digest(): v for v, k in keys.items()}
        self.contracts = dict(contracts)
        self.limiter = limiter
        self.token_ttl = token_ttl
        self._clock = clock

    def vendor_of_key(self, key: str) -> str | None:
        return self._by_digest.get(hashlib.sha256(key.encode()).digest())

    def issue_token(self, vendor: str) -> tuple[str, int]:
        """A bearer token for `vendor` (which must have a key) and its lifetime in seconds."""
        now = int(self._clock())
        claims = {"sub": vendor, "iat": now, "exp": now + self.token_ttl}
        return jwt.encode(claims, self._signing_keys[vendor], algorithm=ALGORITHM), self.token_ttl

    def vendor_of_token(self, token: str) -> str | None:
        """The vendor of a valid, unexpired token signed with its current key; None otherwise."""
        try:
            # The claimed vendor names the key to check the signature with; nothing else is trusted yet.
            vendor = jwt.decode(token, options={"verify_signature": False})["sub"]
            key = self._signing_keys[vendor]
            # Expiry is checked against this instance's clock (injectable), not PyJWT's wall clock.
            claims = jwt.decode(token, key, algorithms=[ALGORITHM],
                                options={"require": ["sub", "exp"], "verify_exp": False})
            expires = int(claims["exp"])
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None
        return vendor if expires >= self._clock() else None

    def anonymous(self, request: Request) -> Principal:
        """The open layer for a request without a key, within its rate limit per client address; 401
        when conf/vendors.toml opens no municipality."""
        contract = self.contracts.get(ANONYMOUS)
        if contract is None:
            raise unauthorized("missing credentials", f"send X-API-Key, or Authorization: Bearer <token> from "
                                                      f"{TOKEN_URL}")
        request.state.vendor = ANONYMOUS
        client = request.client.host if request.client else "unknown"
        self.throttle(request, f"{ANONYMOUS}:{client}", contract)
        return Principal(ANONYMOUS, contract)

    def throttle(self, request: Request, bucket: str, contract: Contract) -> None:
        """Take a request from `bucket` at the contract's rate; 429 once it is empty."""
        decision = self.limiter.take(bucket, contract.requests_per_minute, contract.burst)
        request.state.ratelimit = decision
        if not decision.allowed:
            raise ApiError(429, f"rate limit of {contract.requests_per_minute} requests/minute exceeded",
                           f"retry after {decision.retry_after} s", headers={"Retry-After": str(decision.retry_after)})

    def principal(self, vendor: str) -> Principal:
        """The vendor with its contract; 403 when it has none."""
        contract = self.contracts.get(vendor)
        if contract is None:
            raise ApiError(403, f"vendor {vendor!r} has no contract for any municipality",
                           "ask the platform team to add your contract to conf/vendors.toml")
        return Principal(vendor, contract)

    def failed(self, request: Request) -> None:
        """Count a failed attempt of the request's client address; 429 once it has made too many."""
        client = request.client.host if request.client else "unknown"
        decision = self.limiter.take(f"failed-auth:{client}", FAILED_AUTH_PER_MINUTE, FAILED_AUTH_BURST)
        if not decision.allowed:
            raise ApiError(429, "too many failed authentication attempts", "wait before retrying",
                           headers={"Retry-After": str(decision.retry_after)})

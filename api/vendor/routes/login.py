"""POST /v1/oauth/token: OAuth2 client credentials (RFC 6749 4.4), a bearer token for a vendor's key."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.common.errors import ApiError, trace_id_of
from api.vendor.deps import TOKEN_URL
from api.vendor.models import OAuthError, Token, errors
from api.vendor.security import Authenticator

router = APIRouter(tags=["authentication"])


def _client_credentials(request: Request, form: dict[str, list[str]]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or else the form; ("", "") when Basic is malformed;
    400 invalid_request for both (RFC 6749 2.3: one authentication method per request)."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        if "client_secret" in form:
            raise ApiError(400, "client credentials given both in the Authorization header and in the body",
                           "send them one way: HTTP Basic, or client_id and client_secret in the body (RFC 6749 2.3)",
                           code="invalid_request")
        try:
            client_id, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError, binascii.Error):
            return "", ""
        return unquote(client_id), unquote(secret)  # RFC 6749 2.3.1: form-urlencoded before Basic
    return form.get("client_id", [""])[0], form.get("client_secret", [""])[0]


def oauth_error(request: Request, exc: ApiError) -> JSONResponse:
    """An error of the token endpoint as RFC 6749 5.2 shapes it (`error` a string code, with
    `error_description`), which OAuth2 client libraries read; the service's hint and trace id beside them."""
    body = {"error": exc.code, "error_description": exc.message, "hint": exc.hint, "trace_id": trace_id_of(request)}
    return JSONResponse(body, status_code=exc.status,
                        headers={**exc.headers, "Cache-Control": "no-store", "Pragma": "no-cache"})


async def token_endpoint(request: Request) -> JSONResponse:
    """A token for client_id = vendor, client_secret = its API key; 400 for another grant or body
    type, 401 `invalid_client` for a wrong pair (counted as a failed attempt); errors shaped as RFC 6749
    5.2 asks."""
    try:
        return await _token(request)
    except ApiError as exc:
        if exc.status == 429:  # the service's rate limit, not an OAuth2 error: its usual body
            raise
        return oauth_error(request, exc)


async def _token(request: Request) -> JSONResponse:
    auth: Authenticator = request.app.state.auth
    if request.query_params:  # RFC 6749 3.2: the parameters go in the body, as on every /v1 route none unread
        raise ApiError(400, "the token endpoint takes no query parameters", "send them in the form body",
                       code="invalid_request")
    if request.headers.get("x-api-key") is not None:
        raise ApiError(400, "an X-API-Key header with a token request", "authenticate the client with client_id "
                       "and client_secret only (one credential per request)", code="invalid_request")
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


# The form body is read by hand (no python-multipart needed); the OpenAPI operation declares it.
router.add_api_route(
    TOKEN_URL, token_endpoint, methods=["POST"],
    summary="OAuth2 client credentials: a bearer token for client_id/client_secret",
    responses={200: {"model": Token},
               400: {"model": OAuthError, "description": "invalid_request (body type, or credentials sent two ways) "
                                                         "or unsupported_grant_type (RFC 6749 5.2)"},
               401: {"model": OAuthError, "description": "invalid_client: unknown client or wrong secret"},
               **errors(429, 503)},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/x-www-form-urlencoded": {"schema": {
            "type": "object", "required": ["grant_type"], "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "client_id": {"type": "string"}, "client_secret": {"type": "string"}}}}}}})

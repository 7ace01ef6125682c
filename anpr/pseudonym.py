"""Pseudonyms: plates never leave the first transformation in clear text.

vehicle_key  = HMAC-SHA256(pepper, "<country>|<normalized plate>"): joins the register, never stored
               in passages.
period_token = HMAC-SHA256(month key, vehicle_key), month key = HMAC-SHA256(pepper, "period|YYYY-MM"):
               links passages within one calendar month and never across months.

Spark computes the same keys in the JVM (infra/jvm/udf, registered by anpr.spark as the SQL functions
below), reading the pepper from a file on each executor so that no plan carries it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from functools import lru_cache
from pathlib import Path

_NOT_ALNUM = re.compile(r"[^0-9A-Z]")
# SQL function -> Java class; each takes the pepper file's path as its last argument.
VEHICLE_KEY_FUNCTION = "anpr_vehicle_key"
PERIOD_TOKEN_FUNCTION = "anpr_period_token"
JVM_FUNCTIONS = {VEHICLE_KEY_FUNCTION: "nl.anpr.udf.VehicleKey", PERIOD_TOKEN_FUNCTION: "nl.anpr.udf.PeriodToken"}


def write_pepper_file(folder: Path, pepper: bytes) -> Path:
    """The pepper as a file only its owner reads (for the JVM functions), rewritten when it changed.

    The cluster profile mounts its pepper file on every node (ANPR_PEPPER_FILE); this is for a pepper
    given as a value, on one machine.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pepper"
    if not path.exists() or path.read_bytes() != pepper:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pepper)
    return path


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

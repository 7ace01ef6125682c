"""Pseudonyms: plates never leave the first transformation in clear text.

vehicle_key  = HMAC-SHA256(pepper, "<country>|<normalized plate>"): joins the register, never stored
               in passages. `normalize_plate` gives the plate's text per country, `normalize_country` the
               country's one code (docs/privacy.md).
period_token = HMAC-SHA256(month key, vehicle_key), month key = HMAC-SHA256(pepper, "period|YYYY-MM"):
               links passages within one calendar month and never across months.

Spark computes the same keys in the JVM (infra/jvm/udf, registered by anpr.spark as the SQL functions
below), reading the pepper from a file on each executor so that no plan carries it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache
from pathlib import Path
from string import ascii_uppercase
from typing import NamedTuple

from anpr.atomic_files import replace_whole

# Runs of letters and digits of any script ([\p{L}\p{N}]): a letter that does not fold to A-Z (Cyrillic А, Greek
# Α, Polish Ł) stays in the text, which then fails the plate format (MALFORMED_PLATE), instead of vanishing and
# merging "АВ-123-С" with every other plate read as "123".
_RUN = re.compile(r"[^\W_]+")
_LATIN_LETTERS = re.compile(r"[A-Z]+")


class DistrictCode(NamedTuple):
    """How a country's plates start: a district code of at most ``longest`` letters, then a serial
    that starts with a letter (DE) or may start with a digit (AT's standard plates: "GU 123 AB")."""
    longest: int
    digit_serials: bool

    @property
    def ambiguous_above(self) -> int:
        """Unseparated, a plate whose leading letters are more than this many has several readings:
        BNO1234 (DE) is B-NO or BN-O; GUNI1 (AT) is G-UNI or GU-NI, while GU123AB is GU 123 AB."""
        return self.longest if self.digit_serials else 1


# Countries whose plates keep one separator, after the district code. A German plate is
# <district> <letters> <digits>: B-NO 1234 (Berlin) is another vehicle than BN-O 1234 (Bonn). An
# Austrian personalized plate is <district> <letters> <digits> behind a coat of arms: G-UNI 1 (Graz) is
# not GU-NI 1 (Graz-Umgebung). Other formats (NL, BE, FR, PL, CH, ...) read the same from their
# characters alone: no district code, or one always followed by a digit, or, in Poland, a serial that
# starts with a letter only after a three-letter district.
DISTRICT_SEPARATED: dict[str, DistrictCode] = {"DE": DistrictCode(3, digit_serials=False),
                                               "AT": DistrictCode(2, digit_serials=True)}
SEPARATOR = "-"
# SQL function -> Java class; the pseudonyms take the pepper file's path as their last argument.
PLATE_TEXT_FUNCTION = "anpr_plate_text"
VEHICLE_KEY_FUNCTION = "anpr_vehicle_key"
PERIOD_TOKEN_FUNCTION = "anpr_period_token"
JVM_FUNCTIONS = {PLATE_TEXT_FUNCTION: "nl.anpr.udf.PlateText", VEHICLE_KEY_FUNCTION: "nl.anpr.udf.VehicleKey",
                 PERIOD_TOKEN_FUNCTION: "nl.anpr.udf.PeriodToken"}


def write_pepper_file(folder: Path, pepper: bytes) -> Path:
    """The pepper as a file only its owner reads (for the JVM functions), rewritten when it changed.

    The cluster profile mounts its pepper file on every node (ANPR_PEPPER_FILE); this is for a pepper
    given as a value, on one machine.
    """
    path = folder / "pepper"
    if not path.exists() or path.read_bytes() != pepper:
        # in one step: a JVM of another process reading it meanwhile must not derive keys from half a pepper
        replace_whole(path, pepper)
    return path


def normalize_plate(text: str, country: str | None) -> str:
    """The plate's text as it is hashed: "GÖ-XY 99" (DE) -> "GO-XY99", "vx-123-b" (NL) -> "VX123B".

    Letters are folded to their base letter (Unicode NFKD, upper case, marks dropped: Ö -> O, a
    fullwidth Ａ -> A), so a camera that reads GO and one that reads GÖ agree. Runs of letters and
    digits are kept, of any script: a letter with no Latin base (Cyrillic, Greek, Ł) is kept as it is, so
    the plate fails the format check instead of silently losing it; anything else separates them.
    Separators are dropped, except in the countries of
    DISTRICT_SEPARATED: there a first run of letters no longer than the country's district codes (DE 3,
    AT 2) followed by a run that starts with a letter is the district code, kept with one SEPARATOR
    before the rest ("G UNI 1" (AT) -> "G-UNI1"). A German plate read without that
    separator ("BNO1234") cannot be told apart (B-NO, BN-O) and stays unseparated:
    `is_ambiguous_plate` says so. The JVM twin (infra/jvm/udf, nl.anpr.udf.PlateText) gives the same
    text for every input; tests/unit/streaming/test_pseudonym_jvm.py checks it.
    """
    folded = unicodedata.normalize("NFKD", text).upper()
    if not folded.isascii():  # the per-character pass only where marks can be: keys cost 2x without this
        folded = "".join(ch for ch in folded if not unicodedata.category(ch).startswith("M"))
    runs = _RUN.findall(folded)
    district = DISTRICT_SEPARATED.get(normalize_country(country))
    if (district and len(runs) > 1 and _LATIN_LETTERS.fullmatch(runs[0]) and len(runs[0]) <= district.longest
            and runs[1][0].isalpha()):
        return runs[0] + SEPARATOR + "".join(runs[1:])
    return "".join(runs)


def is_ambiguous_plate(normalized: str, country: str | None) -> bool:
    """True for a normalized plate of a DISTRICT_SEPARATED country that lost its district separator and
    has several readings (B-NO1234 or BN-O1234), so it matches neither; see DistrictCode.ambiguous_above."""
    district = DISTRICT_SEPARATED.get(normalize_country(country))
    if district is None or SEPARATOR in normalized:
        return False
    return len(normalized) - len(normalized.lstrip(ascii_uppercase)) > district.ambiguous_above


# Codes of one vehicle register: British vehicles carry GB, or UK since 2021 (anpr/contract.py accepts both), and
# suppliers' systems report either for the same sign. Folded, one vehicle keeps one key whichever code a camera
# read; keys made before the fold (2026-12) used UK as read (`keys_ever`).
COUNTRY_ALIASES = {"UK": "GB"}


def normalize_country(code: str | None) -> str:
    """The country's code as keys are derived from it: trimmed, upper case, COUNTRY_ALIASES folded."""
    folded = (code or "").strip().upper()
    return COUNTRY_ALIASES.get(folded, folded)


def _hmac_hex(key: bytes, message: str) -> str:
    return hmac.digest(key, message.encode(), "sha256").hex()  # one-shot digest: twice as fast as hmac.new


def vehicle_key(pepper: bytes, plate: str, country: str) -> str:
    return _hmac_hex(pepper, f"{normalize_country(country)}|{normalize_plate(plate, country)}")


def keys_ever(pepper: bytes, plate: str, country: str) -> tuple[str, ...]:
    """Every key the stream may have derived for this vehicle under `pepper`: vehicle_key first, then the key
    under each code COUNTRY_ALIASES folds into the vehicle's, as keys were made before the fold. Erasure and
    access requests look for all of them."""
    code = normalize_country(country)
    aliases = sorted(alias for alias, into in COUNTRY_ALIASES.items() if into == code)
    return (vehicle_key(pepper, plate, code),
            *(_hmac_hex(pepper, f"{alias}|{normalize_plate(plate, code)}") for alias in aliases))


def company_key(pepper: bytes, kvk_number: str) -> str:
    return _hmac_hex(pepper, f"kvk|{re.sub(r'[^0-9]', '', kvk_number)}")


@lru_cache(maxsize=256)
def month_key(pepper: bytes, month: str) -> bytes:
    if not re.fullmatch(r"\d{4}-\d{2}", month):
        raise ValueError(f"month must look like YYYY-MM, got {month!r}")
    return hmac.new(pepper, f"period|{month}".encode(), hashlib.sha256).digest()


def period_token(pepper: bytes, month: str, key: str) -> str:
    return _hmac_hex(month_key(pepper, month), key)

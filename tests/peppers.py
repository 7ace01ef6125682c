"""Test peppers as files, as the JVM's HMAC functions read them (one folder per pepper, made once)."""

from __future__ import annotations

import hashlib
import tempfile
from functools import cache
from pathlib import Path

from anpr.pseudonym import write_pepper_file


@cache
def pepper_file(pepper: bytes) -> str:
    folder = Path(tempfile.gettempdir()) / "anpr-test-peppers" / hashlib.sha256(pepper).hexdigest()[:16]
    return str(write_pepper_file(folder, pepper))

"""ID numbers, pseudonyms and masked names: what identifies a person, and how little we keep.

The ID number is validated, then reduced to a keyed hash (to match government
records) and its last four characters (so the holder can recognise it). It is
never stored, logged or put in a token in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import date

_ID_RE = re.compile(r"[0-9]{17}[0-9X]")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_number_problem(raw: str) -> str | None:
    """Why ``raw`` is not a valid 18-character resident ID number, or None when it is."""
    value = raw.strip().upper()
    if not _ID_RE.fullmatch(value):
        return "must be 18 characters: 17 digits and a check digit (0-9 or X)"
    try:
        date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return "contains an impossible date of birth"
    total = sum(int(d) * w for d, w in zip(value[:17], _WEIGHTS, strict=True))
    if _CHECK[total % 11] != value[17]:
        return "check digit does not match"
    return None


def normalize_id_number(raw: str) -> str:
    return raw.strip().upper()


def with_check_digit(first17: str) -> str:
    """Complete 17 digits into a valid ID number (demo data and tests)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return first17 + _CHECK[total % 11]


class IdentityKeys:
    """Keyed hashing of ID numbers; the key never leaves the service."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the pseudonym key must be at least 32 bytes")
        self._key = key

    def keyed_digest(self, text: str) -> str:
        return hmac.new(self._key, b"digest:" + text.encode(), hashlib.sha256).hexdigest()

    def id_hash(self, id_number: str) -> str:
        msg = b"id-number:" + normalize_id_number(id_number).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def phone_hash(self, phone: str) -> str:
        """What a government identity record keeps of a phone number."""
        msg = b"phone:" + normalize_phone(phone).encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def one_time_code_hash(self, enrolment_id: int, code: str) -> str:
        """Keyed, so a copy of the table does not give the codes away by trying all 10^6."""
        return self.keyed_digest(f"one-time-code:{enrolment_id}:{code}")


def normalize_phone(raw: str) -> str:
    """Digits only, without China's country code: '+86 138-0013-8000' -> '13800138000'."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits


def new_one_time_code() -> str:
    """Six random digits, read out or typed by a person."""
    return f"{secrets.randbelow(1_000_000):06d}"


def new_subject() -> str:
    """A random pseudonymous subject id (72 bits): stored per person, derived from nothing."""
    return secrets.token_urlsafe(9)


def mask_name(name: str) -> str:
    """'张三丰' -> '张*', 'Alice B. Smith' -> 'A* S*': enough to match a face, short for the QR."""
    words = name.split()
    if not words:
        return "*"
    if len(words) == 1:
        return words[0][0] + "*"
    return f"{words[0][0]}* {words[-1][0]}*"

"""Public references people can read aloud: no 0/O or 1/I/L to confuse."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from okpay.core import clock

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

#: A transaction reference as customers see and type it: TX-YYYYMMDD- and ten characters
#: (nine and a check character), or six random ones for older references.
TX_REFERENCE = re.compile(r"TX-\d{8}-[2-9A-HJ-NP-Z]{6}(?:[2-9A-HJ-NP-Z]{4})?")


# The largest multiple of the alphabet's size below 256: bytes from there up are skipped,
# so that every character is equally likely.
_UNBIASED = 256 - 256 % len(ALPHABET)


def random_code(length: int) -> str:
    """``length`` characters from an alphabet without look-alikes."""
    code = ""
    while len(code) < length:  # one call to the OS per code, rarely two
        code += "".join(
            ALPHABET[b % len(ALPHABET)] for b in secrets.token_bytes(length + 2) if b < _UNBIASED
        )
    return code[:length]


def dated_reference(prefix: str, length: int = 6) -> str:
    """``PREFIX-YYYYMMDD-XXXXXX``: for example ``TX-20261121-7QK3M9``."""
    return f"{prefix}-{clock.now():%Y%m%d}-{random_code(length)}"


# ------------------------------------------------------------------ numbered references
#
# A random suffix of six characters clashes by chance (one operation in 18,000 at 100,000 a
# day); a numbered one cannot. Each operation gets a number no other operation ever had
# (wallet.references hands them out from a database sequence) and its reference spells that
# number: ``TX-YYYYMMDD-`` then nine characters of the alphabet above, then one check
# character. Nine characters hold 31**9 (about 2.6 * 10**13) numbers: 700 years at 100
# million operations a day. The number is scrambled first by a fixed permutation of that
# range, so that consecutive operations do not get consecutive-looking references and a
# reference does not show at a glance how many came before it. A permutation is one to one,
# so different numbers still always give different references (the permutation is not a
# secret and references are not: every lookup checks who may see the operation).

NUMBER_LENGTH = 9
NUMBER_SPACE = len(ALPHABET) ** NUMBER_LENGTH
_HALF_BITS = 23  # a Feistel network on 46 bits, walked until it lands inside NUMBER_SPACE
_HALF_MASK = (1 << _HALF_BITS) - 1
_ROUND_KEYS = (0x5A17C3, 0x1F0E9D, 0x6B2D48, 0x33C7A1)
_PLACE = {ch: i for i, ch in enumerate(ALPHABET)}


def _round(half: int, key: int) -> int:
    x = ((half ^ key) * 0x2545F491) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x9E3779B1) & 0xFFFFFFFF
    return (x ^ (x >> 13)) & _HALF_MASK


def _feistel(value: int) -> int:
    left, right = value >> _HALF_BITS, value & _HALF_MASK
    for key in _ROUND_KEYS:
        left, right = right, left ^ _round(right, key)
    return (left << _HALF_BITS) | right


def scramble(number: int) -> int:
    """A fixed one-to-one mapping of ``range(NUMBER_SPACE)`` onto itself (cycle-walking
    Feistel network: applied again while the result falls outside the range)."""
    if not 0 <= number < NUMBER_SPACE:
        raise ValueError(f"reference number out of range: {number}")
    value = _feistel(number)
    while value >= NUMBER_SPACE:
        value = _feistel(value)
    return value


def check_character(day: str, code: str) -> str:
    """The check character of a reference's date digits and code characters (each digit
    counts as its value, each code character as its place in ALPHABET): weights 1, 2, 3 …
    modulo 31, a prime, so any one mistyped character and any two neighbours swapped
    change it."""
    values = [int(ch) for ch in day] + [_PLACE[ch] for ch in code]
    total = sum((i + 1) * v for i, v in enumerate(values))
    return ALPHABET[-total % len(ALPHABET)]


def numbered_reference(prefix: str, number: int, at: datetime | None = None) -> str:
    """``PREFIX-YYYYMMDD-`` and ten characters spelling ``number`` (nine, then a check
    character), for example ``TX-20261121-7QK3M9W2HC``."""
    value = scramble(number)
    code = ""
    for _ in range(NUMBER_LENGTH):
        value, digit = divmod(value, len(ALPHABET))
        code = ALPHABET[digit] + code
    day = f"{at or clock.now():%Y%m%d}"
    return f"{prefix}-{day}-{code}{check_character(day, code)}"


def reference_is_well_formed(reference: str) -> bool:
    """False for a numbered reference whose check character does not match (a typo);
    True for a good one and for references of the older random shape."""
    parts = reference.split("-")
    if len(parts) != 3 or len(parts[2]) != NUMBER_LENGTH + 1 or not parts[1].isdigit():
        return True
    code = parts[2]
    if any(ch not in _PLACE for ch in code):
        return False
    return check_character(parts[1], code[:-1]) == code[-1]

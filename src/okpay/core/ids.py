"""Public references people can read aloud: no 0/O or 1/I/L to confuse."""

from __future__ import annotations

import secrets

from okpay.core import clock

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


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

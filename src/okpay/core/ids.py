"""Public references people can read aloud: no 0/O or 1/I/L to confuse."""

from __future__ import annotations

import secrets

from okpay.core import clock

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def random_code(length: int) -> str:
    """``length`` characters from an alphabet without look-alikes."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def dated_reference(prefix: str, length: int = 6) -> str:
    """``PREFIX-YYYYMMDD-XXXXXX``: for example ``TX-20261121-7QK3M9``."""
    return f"{prefix}-{clock.now():%Y%m%d}-{random_code(length)}"

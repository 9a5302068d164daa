"""Password hashing (argon2id) and the policy: 8 to 128 characters, not a common password,
no composition rules (OWASP ASVS 5 / NIST SP 800-63B)."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_

MIN_LENGTH = 8
MAX_LENGTH = 128

# OWASP's minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)

# Passwords common among Chinese users that English-centred lists miss.
_EXTRA_COMMON = (
    "5201314",
    "woaini1314",
    "woaini520",
    "qq123456",
    "a123456",
    "aa123456",
    "abc123456",
    "123456abc",
    "1qaz2wsx",
    "zxcvbnm123",
    "iloveyou1314",
    "88888888",
    "66666666",
    "147258369",
    "123123123",
    "woaini",
    "wangyang",
    "zhang123",
    "li123456",
    "taobao123",
    "alipay123",
    "wechat123",
    "okpay123",
    "okpay123456",
    "password1",
)


@functools.cache
def _common() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    words = {w.lower() for w in FREQUENCY_LISTS["passwords"]}
    words.update(_EXTRA_COMMON)
    return frozenset(words)


def check_password_policy(password: str, *, email: str | None = None) -> None:
    """Raise ValidationFailed with a specific code if ``password`` may not be used."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            N_("Use at least %(min)s characters."),
            code="password_too_short",
            field="password",
            min=MIN_LENGTH,
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."),
            code="password_too_long",
            field="password",
            max=MAX_LENGTH,
        )
    lowered = password.lower()
    local = (email or "").split("@", 1)[0].lower()
    if lowered in _common() or (local and lowered in {local, (email or "").lower()}):
        raise ValidationFailed(
            N_("This password is too common or too easy to guess. Please choose another."),
            code="password_too_common",
            field="password",
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("okpay-timing-equaliser")


def burn_time() -> None:
    """Spend what a verification costs, so unknown accounts answer as slowly as known ones."""
    verify_password(_dummy_hash(), "not-the-password")

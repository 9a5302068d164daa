"""Single-use links and codes: hashed tokens with a short expiry, one live token per purpose."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.security import hash_token, new_token
from okpay.identity import errors
from okpay.identity.models import OneTimeToken, User
from okpay.settings import get_settings

TOKEN_TTL = {
    "verify_email": lambda s: timedelta(hours=s.verify_token_hours),
    "reset_password": lambda s: timedelta(minutes=s.reset_token_minutes),
    "unlock": lambda s: timedelta(hours=s.unlock_token_hours),
    "change_email": lambda s: timedelta(hours=s.verify_token_hours),
    "not_me": lambda s: timedelta(days=7),
    "change_phone": lambda s: timedelta(minutes=10),
    "step_up": lambda s: timedelta(minutes=5),
    "reset_password_sms": lambda s: timedelta(minutes=10),
}


def issue_token(
    session: Session,
    user: User,
    purpose: str,
    *,
    data: dict[str, Any] | None = None,
    token: str | None = None,
) -> str:
    """A fresh single-use token for ``purpose``; earlier unused ones of the same purpose die."""
    now = clock.now()
    session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user.id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.used_at.is_(None),
        )
        .values(used_at=now)
    )
    token = token or new_token(32)
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + TOKEN_TTL[purpose](get_settings()),
            data=data or {},
        )
    )
    session.flush()
    return token


def peek_token(session: Session, token: str, purpose: str) -> OneTimeToken:
    """The live token row, or errors.LinkInvalid / errors.LinkExpired / errors.LinkUsed."""
    row = session.scalar(
        select(OneTimeToken).where(OneTimeToken.token_hash == hash_token(token or ""))
    )
    if row is None or row.purpose != purpose:
        raise errors.LinkInvalid()
    if row.used_at is not None:
        raise errors.LinkUsed()
    if row.expires_at <= clock.now():
        raise errors.LinkExpired()
    return row


def consume_token(session: Session, token: str, purpose: str) -> OneTimeToken:
    """Use up a live token (once: of two racing uses only one wins); its row."""
    row = peek_token(session, token, purpose)
    if not claim(session, row):
        raise errors.LinkUsed()
    return row


def claim(session: Session, row: OneTimeToken) -> bool:
    """Mark ``row`` used if nobody has: a conditional update, so of two racing uses (two
    clicks on a link, one code typed twice) exactly one gets True."""
    result = session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id, OneTimeToken.used_at.is_(None))
        .values(used_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    won = result.rowcount == 1  # type: ignore[attr-defined]
    session.refresh(row)
    return won


# ------------------------------------------------------------------ six-digit texted codes


def issue_code(
    session: Session, user: User, purpose: str, *, data: dict[str, Any] | None = None
) -> str:
    """A fresh six-digit code (``secrets``) for ``purpose``, stored only as a keyed hash with
    a salt of its own row (a code may repeat; its hash never does); earlier unused codes of
    the same purpose die. Returns the code, to be texted."""
    code = f"{secrets.randbelow(10**6):06d}"
    salt = new_token(12)
    issue_token(
        session,
        user,
        purpose,
        data={**(data or {}), "salt": salt},
        token=f"{purpose}:{salt}:{code}",
    )
    return code


def code_matches(row: OneTimeToken, code: str) -> bool:
    """Whether ``code`` (spaces and dashes ignored) is the code of ``row``."""
    typed = (code or "").strip().replace(" ", "").replace("-", "")
    expected = hash_token(f"{row.purpose}:{row.data.get('salt', '')}:{typed}")
    return secrets.compare_digest(row.token_hash, expected)


def count_attempt(session: Session, row: OneTimeToken) -> int:
    """One more wrong guess at ``row``'s code (an atomic increment); the count."""
    session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == row.id)
        .values(attempts=OneTimeToken.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(row)
    return row.attempts


def link(path: str, token: str) -> str:
    """The absolute URL of ``path`` carrying ``token``, for e-mails."""
    return f"{get_settings().base_url}{path}?token={token}"

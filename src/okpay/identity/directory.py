"""What other domains may read about users: an account's standing, and recipients found by
the e-mail address or phone number a sender typed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.errors import ValidationFailed
from okpay.db import one_of
from okpay.identity import validation
from okpay.identity.models import User


@dataclass(frozen=True)
class AccountState:
    """What other domains may know about a user's standing, read fresh from the database."""

    user_id: int
    status: str
    status_reason: str | None
    verification_level: int
    created_at: datetime
    name: str
    email: str
    # Cooling-off after an assisted unlock: no money leaves the wallet before this time.
    outgoing_hold_until: datetime | None = None

    @property
    def label(self) -> str:
        """How this user appears in someone else's history: name and masked e-mail."""
        return validation.counterparty_label(self.name, self.email)


def account_state(session: Session, user_id: int) -> AccountState | None:
    """The user's current status (a fresh read, not the session's cached object: callers
    check it after taking their own row locks)."""
    row = session.execute(
        select(
            User.id,
            User.status,
            User.status_reason,
            User.verification_level,
            User.created_at,
            User.name,
            User.email,
            User.outgoing_hold_until,
        ).where(User.id == user_id)
    ).first()
    return AccountState(*row) if row else None


@dataclass(frozen=True)
class Recipient:
    """Who money would go to: just what a payment needs."""

    id: int
    status: str
    name: str
    email: str

    @property
    def label(self) -> str:
        return validation.counterparty_label(self.name, self.email)


def _recipient_key(reference: str) -> tuple[str, str] | None:
    """What a sender typed, as ("email", address) or ("phone", E.164); None if neither."""
    text = (reference or "").strip()
    if "@" in text:
        if "\r" in text or "\n" in text or len(text) > 320:
            return None
        return "email", text.lower()
    try:
        return "phone", validation.normalise_phone(text)
    except ValidationFailed:
        return None


class RecipientKeys:
    """What senders typed, as lookups: the e-mail addresses and phone numbers to find, and
    the way back from the users found to what each sender typed."""

    def __init__(self, references: Iterable[str]) -> None:
        self.keys = {ref: _recipient_key(ref) for ref in set(references)}

    def wanted(self, kind: str) -> list[str]:
        """The distinct values to look up by ``kind`` ("email" or "phone")."""
        return sorted({key[1] for key in self.keys.values() if key is not None and key[0] == kind})

    def answer(self, found: dict[tuple[str, str], Recipient]) -> dict[str, Recipient]:
        """Recipients by reference, from users found by (kind, value); the references that
        matched nobody are missing."""
        return {ref: found[k] for ref, k in self.keys.items() if k is not None and k in found}


def find_recipient_summaries(session: Session, references: Iterable[str]) -> dict[str, Recipient]:
    """Recipients by e-mail or phone, as typed by senders, in at most two narrow queries;
    a reference that matches nobody is missing from the answer."""
    keys = RecipientKeys(references)
    found: dict[tuple[str, str], Recipient] = {}
    dialect = session.get_bind().dialect.name
    for kind, column in (("email", User.email), ("phone", User.phone)):
        wanted = keys.wanted(kind)
        if wanted:
            rows = session.execute(
                select(User.id, User.status, User.name, User.email, column).where(
                    one_of(dialect, column, wanted)
                )
            )
            for user_id, status, name, email, value in rows:
                found[(kind, str(value))] = Recipient(user_id, status, name, email)
    return keys.answer(found)


def recipient_key(reference: str) -> tuple[str, str] | None:
    """What a sender typed as a lookup: ("email", address) or ("phone", E.164); None if it
    is neither."""
    return _recipient_key(reference)


def recipient_id_select(reference: str) -> Any:
    """The id of the user ``reference`` (an e-mail or phone as typed) names, as a scalar
    subquery another statement can embed (NULL when it names nobody); None when it is
    neither an e-mail address nor a phone number."""
    key = _recipient_key(reference)
    if key is None:
        return None
    column = User.email if key[0] == "email" else User.phone
    return select(User.id).where(column == key[1]).scalar_subquery()


def find_recipient_summary(session: Session, reference: str) -> Recipient | None:
    """A recipient by e-mail or phone, as typed by a sender (one narrow query)."""
    return find_recipient_summaries(session, [reference]).get(reference)

"""Finding the customer on the phone: enough to confirm who is calling, masked."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from okpay.identity import directory as identity_directory
from okpay.identity import validation as identity_validation


@dataclass(frozen=True)
class CustomerMatch:
    """A customer found for a phone call: enough to confirm, masked."""

    user_id: int
    name: str
    email: str
    status: str


def find_customer(session: Session, *, query: str) -> CustomerMatch | None:
    """The customer with this e-mail address or phone number (as the caller says it)."""
    found = identity_directory.find_recipient_summary(session, query)
    if found is None:
        return None
    return CustomerMatch(
        found.id, found.name, identity_validation.mask_email(found.email), found.status
    )

"""What a customer is told about a risk control decision: the reason in plain words and what to do.

Rules name one of these reasons; the customer never sees a rule, its condition, score or
feature values (those are for staff, in the case panel)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.core.i18n import N_, gettext, lazy_gettext
from okpay.wallet import errors

REASONS: dict[str, str] = {
    "unusual_amount": N_("This amount is much larger than your usual payments."),
    "new_device": N_("You signed in on a new device recently."),
    "recent_security_change": N_(
        "Your password, e-mail address or phone number was changed recently."
    ),
    "velocity": N_("Many payments were made from your account in a short time."),
    "new_recipient": N_("This is your first payment to this person."),
    "many_recipients": N_("Money went to many different people in a short time."),
    "card_testing": N_("Several card top-ups failed in a short time."),
    "structuring": N_("Several payments were just under your limit."),
    "new_account": N_("Your account is new."),
    "large_amount": N_("Large payments always need a second verification step."),
    "new_payout_account": N_("This is the first withdrawal to a bank account you added recently."),
    "security_review": N_("The payment looks unusual for your account."),
}

NEXT_STEP: dict[str, str] = {
    "step_up": N_(
        "To make sure it is you, enter the verification code. We never ask for this code "
        "by phone or chat."
    ),
    "hold": N_(
        "Your money is set aside, not gone. Our security team reviews it within 24 hours "
        "and e-mails you; you can follow the review and add information on your request page."
    ),
    "block": N_(
        "It was not made and no money moved. If this was you, contact support and we will "
        "help; if it was not, freeze your account from the security page."
    ),
}


def reason_key_text(reason: str | None) -> str:
    """The reason's source text (English, marked for translation)."""
    return REASONS.get(reason or "", REASONS["security_review"])


def reason_text(reason: str | None) -> str:
    """The reason in the reader's language."""
    return gettext(reason_key_text(reason))


def next_step_text(outcome: str) -> str:
    return gettext(NEXT_STEP[outcome]) if outcome in NEXT_STEP else ""


def blocked_error(reason: str | None) -> DomainError:
    """The refusal a blocked attempt answers with: why, in plain words, and what to do."""
    return errors.RiskBlocked(
        reason=lazy_gettext(reason_key_text(reason)),
        next_step=lazy_gettext(NEXT_STEP["block"]),
    )


@dataclass(frozen=True)
class Review:
    """A held (or reviewed) operation as its customer is told about it: the reason's key and
    where they follow the review."""

    reason: str | None
    link: str


# Casework answers (it sits above the wallet): called as (session, user id, reference).
REVIEWS: list[Callable[[Session, int, str], Review | None]] = []


def review_of(session: Session, *, user_id: int, reference: str) -> Review | None:
    """Why the customer's operation is (or was) held and where they follow it, if known."""
    for explain in REVIEWS:
        found = explain(session, user_id, reference)
        if found is not None:
            return found
    return None

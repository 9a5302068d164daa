"""What a customer may ask for, one request kind each, checked before a case opens: the
fields of each kind (no others), the level or limit asked for, the disputed transaction (the
customer's own) and, for a charge made twice, the payment that looks like its duplicate."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import money
from okpay.core.errors import NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.identity import validation as identity_validation
from okpay.identity.models import User
from okpay.support import checks as support_checks
from okpay.wallet import provider_events as wallet_provider_events
from okpay.wallet import standing as wallet_standing
from okpay.wallet.models import Operation, OperationType

STATEMENT_MAX = 4000
DISPUTE_REASONS = ("charged_twice", "not_received", "not_made_by_me", "wrong_amount")
DISPUTE_REASON_LABELS = {
    "charged_twice": N_("I was charged twice"),
    "not_received": N_("I paid but did not receive what I paid for"),
    "not_made_by_me": N_("I did not make this payment"),
    "wrong_amount": N_("The amount is wrong"),
}
LOST_LABELS = {
    "email": N_("I can no longer use my e-mail address"),
    "authenticator": N_("I lost my authenticator"),
    "both": N_("Both"),
}
PERIOD_LABELS = {
    "per_transaction": N_("Per transaction"),
    "daily": N_("Per day"),
    "monthly": N_("Per month"),
}
# A payment counts as a possible duplicate within this time of the disputed one.
DUPLICATE_WINDOW = timedelta(hours=24)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Statement = Annotated[str, Field(max_length=STATEMENT_MAX)]


class AppealIn(_Body):
    type: Literal["appeal"]
    statement: Statement


class VerificationIn(_Body):
    type: Literal["verification"]
    level: int = Field(ge=1, le=2)
    statement: Statement = ""


class LimitIncreaseIn(_Body):
    type: Literal["limit_increase"]
    operation: Literal["topup", "withdrawal", "transfer", "payment"]
    period: Literal["per_transaction", "daily", "monthly"]
    amount: str = Field(max_length=32, description='In CNY, a decimal string, e.g. "80000.00"')
    days: int = Field(default=90, ge=1, le=365, description="How long the limit is needed")
    statement: Statement = ""


class DisputeIn(_Body):
    type: Literal["dispute"]
    reference: str = Field(max_length=40)
    reason: Literal["charged_twice", "not_received", "not_made_by_me", "wrong_amount"]
    statement: Statement = ""
    duplicate_of: str | None = Field(default=None, max_length=40)


class UnlockIn(_Body):
    type: Literal["unlock"]
    account_email: str = Field(max_length=320, description="The account's e-mail address")
    lost: Literal["email", "authenticator", "both"]
    statement: Statement = ""
    recent_transactions: str = Field(
        max_length=2000,
        description="Recent transactions the agent can check: dates, amounts, who with",
    )
    name: str = Field(default="", max_length=100)
    contact_email: str = Field(
        default="", max_length=320, description="Where to reach you if not the account's address"
    )


CaseIn = Annotated[
    AppealIn | VerificationIn | LimitIncreaseIn | DisputeIn | UnlockIn,
    Field(discriminator="type"),
]


@dataclass
class Checked:
    """A request ready to open as a case."""

    type: str
    statement: str
    details: dict[str, Any] = field(default_factory=dict)
    references: list[str] = field(default_factory=list)
    urgent: bool = False
    account_user_id: int | None = None
    contact_email: str = ""
    contact_name: str = ""


def _text(raw: str, *, name: str, required: bool) -> str:
    # Control characters dropped, card numbers masked (support's rule for any ticket text).
    text = support_checks.check_body(raw or "", required=False)
    if required and len(text.strip()) < 10:
        raise ValidationFailed(
            N_("Please tell us in a few words what happened (at least 10 characters)."),
            code="statement_required",
            field=name,
        )
    return text


def check_request(session: Session, *, body: Any, user: User | None) -> Checked:
    """Check a customer's request; ``user`` is None for an unlock asked for while signed out."""
    if user is None and body.type != "unlock":
        raise ValidationFailed(N_("Please sign in to continue."), code="not_authenticated")
    if isinstance(body, AppealIn):
        assert user is not None
        s = wallet_standing.standing(session, user.id)
        if s.status not in ("restricted", "frozen"):
            raise ValidationFailed(
                N_("Your account is not restricted or frozen, so there is nothing to appeal."),
                code="nothing_to_appeal",
            )
        return Checked(
            "appeal",
            _text(body.statement, name="statement", required=True),
            {"status": s.status, "status_reason": s.status_reason, "blocked": dict(s.blocked)},
        )
    if isinstance(body, VerificationIn):
        assert user is not None
        s = wallet_standing.standing(session, user.id)
        if body.level <= s.verification_level:
            raise ValidationFailed(
                N_("Your account is already at this level or higher."),
                code="level_not_higher",
                field="level",
            )
        return Checked(
            "verification",
            _text(body.statement, name="statement", required=False),
            {"level": body.level, "from_level": s.verification_level},
        )
    if isinstance(body, LimitIncreaseIn):
        amount = money.parse_amount(body.amount, "CNY")
        return Checked(
            "limit_increase",
            _text(body.statement, name="statement", required=False),
            {"operation": body.operation, "period": body.period, "amount": amount,
             "days": body.days},
        )  # fmt: skip
    if isinstance(body, DisputeIn):
        assert user is not None
        op = own_operation(session, user=user, reference=body.reference)
        details: dict[str, Any] = {"reference": op.reference, "reason": body.reason}
        references = [op.reference]
        if body.duplicate_of:
            dup = own_operation(session, user=user, reference=body.duplicate_of)
            if dup.id == op.id:
                raise ValidationFailed(
                    N_("Choose a different transaction as the duplicate."),
                    code="duplicate_invalid",
                    field="duplicate_of",
                )
            details["duplicate_of"] = dup.reference
            references.append(dup.reference)
        return Checked(
            "dispute",
            _text(body.statement, name="statement", required=body.reason != "charged_twice"),
            details,
            references,
            urgent=body.reason == "not_made_by_me",
        )
    assert isinstance(body, UnlockIn)
    account_email = identity_validation.normalise_email(body.account_email)
    from okpay.identity import users as identity_users

    account = identity_users.get_user_by_email(session, account_email)
    if user is not None:
        account, account_email = user, user.email
    contact = (
        identity_validation.normalise_email(body.contact_email)
        if body.contact_email
        else account_email
    )
    answers = _text(body.recent_transactions, name="recent_transactions", required=True)
    return Checked(
        "unlock",
        _text(body.statement, name="statement", required=False),
        {"account_email": account_email, "lost": body.lost, "recent_transactions": answers},
        # An address with no account still opens a case (the same answer for any address);
        # agents see that nothing matched.
        account_user_id=account.id if account is not None and not account.is_staff else None,
        contact_email=contact,
        contact_name=identity_validation.check_person_name(body.name),
    )


def own_operation(session: Session, *, user: User, reference: str) -> Operation:
    """The user's own transaction with this reference; anything else is NotFound."""
    op = wallet_provider_events.find_by_reference(session, reference)
    if op is None or op.user_id != user.id:
        raise NotFound(
            N_("You have no transaction with that reference."),
            code="transaction_not_found",
            field="reference",
        )
    return op


def duplicate_candidates(session: Session, *, op: Operation) -> list[Operation]:
    """Payments that look like ``op`` made twice: same customer, merchant and amount, close
    in time, and completed."""
    if op.type != OperationType.payment.value or op.merchant_id is None:
        return []
    return list(
        session.scalars(
            select(Operation)
            .where(
                Operation.user_id == op.user_id,
                Operation.type == OperationType.payment.value,
                Operation.merchant_id == op.merchant_id,
                Operation.amount == op.amount,
                Operation.currency == op.currency,
                Operation.id != op.id,
                Operation.status.in_(("completed", "reversed")),
                Operation.created_at.between(
                    op.created_at - DUPLICATE_WINDOW, op.created_at + DUPLICATE_WINDOW
                ),
            )
            .order_by(Operation.created_at)
            .limit(5)
        )
    )

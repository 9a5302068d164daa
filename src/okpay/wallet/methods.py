"""Payment methods: cards (tokenized, never stored in clear) and bank accounts a customer
tops up from and withdraws to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity import validation as identity_validation
from okpay.wallet import errors, risk_reasons, screening
from okpay.wallet.models import PaymentMethod
from okpay.wallet.providers import CardToken


def do_add_card(
    session: Session, *, user_id: int, token: CardToken, holder_name: str = ""
) -> PaymentMethod:
    """Keep a tokenised card: token, brand, expiry and last four only."""
    _screen(session, user_id=user_id, operation="add_card")
    return _keep_method(
        session,
        user_id=user_id,
        kind="card",
        provider_token=token.token,
        brand=token.brand,
        last4=token.last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        holder_name=holder_name,
    )


def do_add_bank_account(
    session: Session,
    *,
    user_id: int,
    provider_token: str,
    account_number: str,
    bank_name: str,
    holder_name: str,
) -> PaymentMethod:
    """Keep a bank account for withdrawals: a provider token and the last four digits."""
    _screen(session, user_id=user_id, operation="add_bank_account")
    digits = "".join(ch for ch in account_number if ch.isdigit())
    if not 8 <= len(digits) <= 30 or digits != account_number.replace(" ", ""):
        raise ValidationFailed(
            N_("Please enter the account number as digits only."),
            code="bank_account_invalid",
            field="account_number",
        )
    return _keep_method(
        session,
        user_id=user_id,
        kind="bank",
        provider_token=provider_token,
        last4=digits[-4:],
        holder_name=holder_name,
        bank_name=identity_validation.check_person_name(bank_name, field="bank_name"),
    )


def _screen(session: Session, *, user_id: int, operation: str) -> None:
    """The risk controls may block adding a card or bank account (card testing)."""
    attempt = screening.Attempt(user_id=user_id, operation=operation)
    verdict = screening.screen(session, attempt)
    if verdict.outcome is screening.Outcome.block:
        screening.blocked(session, attempt, verdict)
        raise risk_reasons.blocked_error(verdict.reason)


def _keep_method(
    session: Session, *, user_id: int, kind: str, holder_name: str, last4: str, **fields: Any
) -> PaymentMethod:
    method = PaymentMethod(
        user_id=user_id,
        kind=kind,
        last4=last4,
        status="active",
        created_at=clock.now(),
        holder_name=identity_validation.check_person_name(holder_name, field="holder_name"),
        **fields,
    )
    session.add(method)
    session.flush()
    audit.record(
        session,
        "payment_method_added",
        actor_user_id=user_id,
        subject_user_id=user_id,
        object_type="payment_method",
        object_id=method.id,
        kind=kind,
        last4=last4,
    )
    return method


def list_payment_methods(session: Session, *, user_id: int) -> list[PaymentMethod]:
    return list(
        session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id, PaymentMethod.status == "active")
            .order_by(PaymentMethod.id)
        )
    )


def get_payment_method(
    session: Session, *, user_id: int, method_id: int, kind: str | None = None
) -> PaymentMethod:
    """The user's own active method; anyone else's id is PaymentMethodNotFound (404)."""
    method = session.get(PaymentMethod, method_id)
    if (
        method is None
        or method.user_id != user_id
        or method.status != "active"
        or (kind is not None and method.kind != kind)
    ):
        raise errors.PaymentMethodNotFound(field="payment_method_id")
    return method


def do_remove_payment_method(session: Session, *, user_id: int, method_id: int) -> None:
    method = get_payment_method(session, user_id=user_id, method_id=method_id)
    method.status, method.removed_at = "removed", clock.now()
    audit.record(
        session,
        "payment_method_removed",
        actor_user_id=user_id,
        subject_user_id=user_id,
        object_type="payment_method",
        object_id=method.id,
    )

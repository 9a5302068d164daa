"""Payouts asked of the provider outside any lock: a withdrawal's first payout request,
and the one a released hold asks for."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session

from okpay.wallet import held, provider_events, topups
from okpay.wallet.idempotency import in_transaction
from okpay.wallet.models import Operation, OperationStatus, PaymentMethod
from okpay.wallet.providers import ProviderUnavailable, get_provider

log = logging.getLogger(__name__)


def ask_payout(token: str, amount: int, currency: str, reference: str) -> Any:
    """The provider's payout (asked with our reference), or None if it could not be reached."""
    try:
        return get_provider().create_payout(token, amount, currency, reference)
    except ProviderUnavailable:
        return None


def record_payout(session: Session, op_id: int, payout: Any) -> None:
    if payout is None:
        topups.do_fail_operation(session, operation_id=op_id, failure_code="provider_unavailable")
    else:
        provider_events.set_external_ref(
            session, operation_id=op_id, external_ref=payout.provider_ref
        )


def release_held(*, operation_id: int, actor_user_id: int | None) -> str:
    """A reviewer released a held operation: a transfer settles now; a withdrawal becomes
    pending and asks the provider for its payout (after its own commit, never while rows are
    locked). Returns the operation's status afterwards. Casework calls this from an approved
    proposal (wallet.held.do_release_held works inside a caller's unit of work)."""
    op_id, token = in_transaction(
        lambda s: held.do_release_held(s, operation_id=operation_id, actor_user_id=actor_user_id)
    )
    if token is not None:
        request_payout(op_id)
    return in_transaction(lambda s: str(s.get(Operation, op_id).status))  # type: ignore[union-attr]


def request_payout(operation_id: int) -> None:
    """Ask the provider to pay out a pending withdrawal that has no payout yet (a released
    hold). The provider is asked with the operation's reference as its idempotency key, so
    running this twice (a retried job) never pays twice."""

    def load(session: Session) -> tuple[str, int, str, str] | None:
        op = session.get(Operation, operation_id)
        if op is None or op.status != OperationStatus.pending.value or op.external_ref:
            return None
        method = session.get(PaymentMethod, op.payment_method_id) if op.payment_method_id else None
        if method is None:
            return None
        return method.provider_token, op.amount, op.currency, op.reference

    found = in_transaction(load)
    if found is None:
        return
    token, amount, currency, reference = found
    payout = ask_payout(token, amount, currency, reference)
    in_transaction(lambda s: record_payout(s, operation_id, payout))

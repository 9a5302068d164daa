"""Provider events matched against the ledger, and the exceptions operators resolve.

Every verified provider event is applied only when it agrees with what the ledger says
about its operation. One that does not (paid after the customer cancelled, another amount
or currency, a reference we never issued, failed after it was paid...) moves no money: it
becomes a reconciliation exception, logged at ERROR, audited and announced by e-mail to the
payments alert address, and stays on the operators' list until someone resolves it with a
note. Whether money then moves is their decision (through a reviewed proposal), never the
webhook's."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import Conflict, NotFound, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.core.money import to_decimal_string
from okpay.db import on_commit, table_of
from okpay.settings import get_settings
from okpay.wallet import operations, provider_events, topups, withdrawals
from okpay.wallet.models import (
    Operation,
    OperationStatus,
    OperationType,
    ReconciliationException,
    SystemAccount,
)
from okpay.wallet.schemas import (
    BankTransferEventData,
    PayoutEventData,
    ProviderEvent,
    ReconciliationExceptionOut,
)

log = logging.getLogger(__name__)

NOTE_MAX = 2000


class ExceptionKind(enum.StrEnum):
    unknown_reference = "unknown_reference"
    paid_after_cancel = "paid_after_cancel"
    paid_after_failure = "paid_after_failure"
    failed_after_paid = "failed_after_paid"
    cancelled_after_paid = "cancelled_after_paid"
    in_flight_after_close = "in_flight_after_close"
    amount_mismatch = "amount_mismatch"
    currency_mismatch = "currency_mismatch"
    repeated_transfer = "repeated_transfer"


KIND_LABELS = {
    ExceptionKind.unknown_reference: N_("Reference we never issued"),
    ExceptionKind.paid_after_cancel: N_("Paid after the withdrawal was cancelled"),
    ExceptionKind.paid_after_failure: N_("Paid after the withdrawal failed"),
    ExceptionKind.failed_after_paid: N_("Failed after the withdrawal was paid"),
    ExceptionKind.cancelled_after_paid: N_("Cancelled after the withdrawal was paid"),
    ExceptionKind.in_flight_after_close: N_("Sent to the bank after the withdrawal was closed"),
    ExceptionKind.amount_mismatch: N_("Amount differs from the ledger"),
    ExceptionKind.currency_mismatch: N_("Currency differs from the ledger"),
    ExceptionKind.repeated_transfer: N_("Another bank transfer for a closed top-up"),
}

STATUS_LABELS = {"open": N_("Needs a decision"), "resolved": N_("Resolved")}
STATUSES = ("open", "resolved", "all")


def kind_label(kind: str) -> str:
    return gettext(KIND_LABELS[ExceptionKind(kind)]) if kind in KIND_LABELS else kind


def status_label(status: str) -> str:
    return gettext(STATUS_LABELS[status]) if status in STATUS_LABELS else status


class ExceptionNotFound(NotFound):
    code = "reconciliation_exception_not_found"
    message = N_("We could not find that reconciliation exception.")


class AlreadyResolved(Conflict):
    code = "reconciliation_already_resolved"
    message = N_("Someone has already resolved this exception.")


class StatusInvalid(ValidationFailed):
    code = "reconciliation_status_invalid"
    message = N_("Choose open, resolved or all.")


@dataclass(frozen=True)
class Outcome:
    """What a provider event did: applied, duplicate, already_applied, ignored, or
    reconciliation_exception (with the exception's id)."""

    outcome: str
    exception_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"received": True, "outcome": self.outcome}
        if self.exception_id is not None:
            body["exception_id"] = self.exception_id
        return body


APPLIED = Outcome("applied")
ALREADY_APPLIED = Outcome("already_applied")
_CLOSED = (OperationStatus.failed.value, OperationStatus.cancelled.value)


# ------------------------------------------------------------------- applying provider events


def apply_event(session: Session, event: ProviderEvent, *, provider: str) -> Outcome:
    """Apply a verified, schema-checked provider event once, or record why it cannot be."""
    if not provider_events.record_provider_event(
        session, provider=provider, event_id=event.id, kind=event.type
    ):
        return Outcome("duplicate")
    if event.payout is not None:
        return _payout_event(session, event, event.payout, provider)
    if event.bank_transfer is not None:
        return _bank_transfer(session, event, event.bank_transfer, provider)
    log.info("provider event %s of type %s ignored", event.id, event.type)
    return Outcome("ignored")


def _payout_event(
    session: Session, event: ProviderEvent, data: PayoutEventData, provider: str
) -> Outcome:
    found = provider_events.find_by_external_ref(session, data.payout)
    if found is None or found.type != OperationType.withdrawal.value:
        return _exception(
            session, ExceptionKind.unknown_reference, event, provider, None, data.payout, data
        )
    op = operations.lock_operation(session, found.id)

    def mismatch(kind: ExceptionKind) -> Outcome:
        return _exception(session, kind, event, provider, op, data.payout, data)

    status, kind = op.status, event.type
    pending = status == OperationStatus.pending.value
    completed = status == OperationStatus.completed.value
    if kind in ("payout.paid", "payout.processing"):
        if data.currency is not None and data.currency != op.currency:
            return mismatch(ExceptionKind.currency_mismatch)
        if data.amount is not None and data.amount != op.amount:
            return mismatch(ExceptionKind.amount_mismatch)
    if kind == "payout.paid":
        if pending:
            withdrawals.do_settle_withdrawal(session, operation_id=op.id)
            return APPLIED
        if completed:
            return ALREADY_APPLIED
        if status == OperationStatus.cancelled.value:
            return mismatch(ExceptionKind.paid_after_cancel)
        return mismatch(ExceptionKind.paid_after_failure)
    if kind == "payout.processing":
        if pending:
            withdrawals.do_mark_payout_in_flight(session, operation_id=op.id)
            return APPLIED
        if completed:
            return ALREADY_APPLIED
        return mismatch(ExceptionKind.in_flight_after_close)
    if kind == "payout.failed":
        if pending:
            topups.do_fail_operation(
                session, operation_id=op.id, failure_code=data.reason or "payout_failed"
            )
            return APPLIED
        if completed:
            return mismatch(ExceptionKind.failed_after_paid)
        return ALREADY_APPLIED
    # payout.cancelled: the provider stopped it (a cancel whose answer we never stored)
    if pending:
        withdrawals.do_cancel_locked_withdrawal(session, op=op, actor_user_id=None, by="provider")
        return APPLIED
    if completed:
        return mismatch(ExceptionKind.cancelled_after_paid)
    return ALREADY_APPLIED


def _bank_transfer(
    session: Session, event: ProviderEvent, data: BankTransferEventData, provider: str
) -> Outcome:
    found = provider_events.find_by_reference(session, data.reference)
    if (
        found is None
        or found.type != OperationType.topup.value
        or found.method != "bank"
        or found.user_id is None
    ):
        return _exception(
            session, ExceptionKind.unknown_reference, event, provider, None, data.transfer, data
        )
    op = operations.lock_operation(session, found.id)

    def mismatch(kind: ExceptionKind) -> Outcome:
        return _exception(session, kind, event, provider, op, data.transfer, data)

    if data.currency != op.currency:
        return mismatch(ExceptionKind.currency_mismatch)
    if op.status == OperationStatus.pending.value:
        # What arrived is credited, even if the customer sent another amount than announced.
        announced, user_id, reference = op.amount, op.user_id, op.reference
        topups.do_complete_topup(
            session,
            operation_id=op.id,
            external_ref=data.transfer,
            clearing=SystemAccount.bank_clearing,
            amount=data.amount,
        )
        assert user_id is not None
        topups.notify_bank_topup_arrived(
            session,
            user_id=user_id,
            reference=reference,
            amount=data.amount,
            announced=announced,
            currency=op.currency,
        )
        return APPLIED
    if op.status == OperationStatus.completed.value and op.external_ref == data.transfer:
        return ALREADY_APPLIED  # the same transfer announced again under a new event id
    return mismatch(ExceptionKind.repeated_transfer)


def record_cancel_after_paid(session: Session, *, op: Operation, provider: str) -> Outcome:
    """The provider confirmed a customer's cancel of a payout it had already reported paid."""
    return _exception(
        session,
        ExceptionKind.cancelled_after_paid,
        ProviderEvent(id="", type="cancel_payout"),
        provider,
        op,
        op.external_ref,
        None,
    )


# ------------------------------------------------------------------------------ exceptions


def _exception(
    session: Session,
    kind: ExceptionKind,
    event: ProviderEvent,
    provider: str,
    op: Operation | None,
    external_ref: str | None,
    data: PayoutEventData | BankTransferEventData | None,
) -> Outcome:
    """Record, audit, log and announce an event that does not match the ledger."""
    row = ReconciliationException(
        kind=kind.value,
        provider=provider[:20],
        event_id=event.id or None,
        event_type=event.type[:40],
        operation_id=op.id if op is not None else None,
        external_ref=(external_ref or "")[:64] or None,
        operation_status=op.status if op is not None else None,
        expected_amount=op.amount if op is not None else None,
        expected_currency=op.currency if op is not None else None,
        event_amount=getattr(data, "amount", None),
        event_currency=getattr(data, "currency", None),
        data=data.model_dump(exclude_none=True) if data is not None else {},
        status="open",
        created_at=clock.now(),
        resolution_note="",
    )
    session.add(row)
    session.flush()
    reference = op.reference if op is not None else None
    audit.record(
        session,
        "reconciliation_exception_opened",
        subject_user_id=op.user_id if op is not None else None,
        object_type="reconciliation_exception",
        object_id=row.id,
        kind=kind.value,
        event_type=row.event_type,
        event_id=row.event_id,
        operation=reference,
    )
    _alert(session, row, reference)
    message = (
        "reconciliation exception %s: %s (event %s %s, operation %s, payout/transfer %s); "
        "nothing was moved, an operator must decide"
    )
    args = (row.id, kind.value, row.event_type, row.event_id, reference, row.external_ref)
    on_commit(session, lambda: log.error(message, *args))
    return Outcome("reconciliation_exception", row.id)


def alert_address() -> str:
    settings = get_settings()
    return settings.payments_alert_address or settings.security_alert_address


def _alert(session: Session, row: ReconciliationException, reference: str | None) -> None:
    """E-mail the payments alert address (sent once the unit of work commits)."""
    from okpay.core.i18n import use_locale
    from okpay.mail.service import send_email

    locale = "zh_CN"
    with use_locale(locale):
        context = {
            "number": row.id,
            "kind": kind_label(row.kind),
            "event_type": row.event_type,
            "reference": reference or "—",
            "external_ref": row.external_ref or "—",
            "expected": _money(row.expected_amount, row.expected_currency),
            "received": _money(row.event_amount, row.event_currency),
            "link": f"{get_settings().base_url}/agent/reconciliation/{row.id}",
        }
    send_email(
        session,
        to=alert_address(),
        template="wallet_reconciliation_alert",
        locale=locale,
        context=context,
    )


def _money(amount: int | None, currency: str | None) -> str:
    if amount is None:
        return "—"
    if currency is None:
        return str(amount)
    try:
        return f"{to_decimal_string(amount, currency)} {currency}"
    except (KeyError, ValueError):  # a currency we do not hold
        return f"{amount} {currency} (minor units)"


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise StatusInvalid(field="status")
    return status


def list_exceptions(
    session: Session, *, status: str = "open", before: int | None = None, limit: int = 50
) -> tuple[list[ReconciliationException], int | None]:
    """Newest first; (rows, the ``before`` of the next page or None)."""
    stmt = select(ReconciliationException).order_by(ReconciliationException.id.desc())
    if check_status(status) != "all":
        stmt = stmt.where(ReconciliationException.status == status)
    if before is not None:
        stmt = stmt.where(ReconciliationException.id < before)
    rows = list(session.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more and rows else None)


def open_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(ReconciliationException)
            .where(ReconciliationException.status == "open")
        )
        or 0
    )


def get_exception(session: Session, exception_id: int) -> ReconciliationException:
    row = session.get(ReconciliationException, exception_id)
    if row is None:
        raise ExceptionNotFound()
    return row


def operation_references(session: Session, rows: list[ReconciliationException]) -> dict[int, str]:
    ids = {r.operation_id for r in rows if r.operation_id is not None}
    if not ids:
        return {}
    found = session.execute(select(Operation.id, Operation.reference).where(Operation.id.in_(ids)))
    return {int(i): str(ref) for i, ref in found}


def do_resolve(
    session: Session, *, exception_id: int, note: str, actor_user_id: int | None
) -> ReconciliationException:
    """Close an exception with the operator's note (what was decided and done), once."""
    note = (note or "").strip()
    if not note:
        raise ValidationFailed(
            N_("Write down what you decided and did."), code="note_required", field="note"
        )
    if len(note) > NOTE_MAX:
        raise ValidationFailed(N_("This text is too long."), code="note_too_long", field="note")
    now = clock.now()
    table = table_of(ReconciliationException)
    changed = session.execute(
        update(table)
        .where(table.c.id == exception_id, table.c.status == "open")
        .values(status="resolved", resolved_at=now, resolved_by=actor_user_id, resolution_note=note)
    )
    row = session.get(ReconciliationException, exception_id, populate_existing=True)
    if row is None:
        raise ExceptionNotFound()
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise AlreadyResolved()
    audit.record(
        session,
        "reconciliation_exception_resolved",
        actor_user_id=actor_user_id,
        object_type="reconciliation_exception",
        object_id=row.id,
        kind=row.kind,
        note=note,
    )
    return row


def exception_out(
    row: ReconciliationException, reference: str | None
) -> ReconciliationExceptionOut:
    def amount(value: int | None, currency: str | None) -> str | None:
        if value is None:
            return None
        try:
            return to_decimal_string(value, currency) if currency else str(value)
        except (KeyError, ValueError):
            return str(value)

    return ReconciliationExceptionOut(
        id=row.id,
        kind=row.kind,
        kind_label=kind_label(row.kind),
        status=row.status,
        provider=row.provider,
        event_id=row.event_id,
        event_type=row.event_type,
        operation_reference=reference,
        operation_status=row.operation_status,
        external_ref=row.external_ref,
        expected_amount=amount(row.expected_amount, row.expected_currency),
        expected_currency=row.expected_currency,
        event_amount=amount(row.event_amount, row.event_currency or row.expected_currency),
        event_currency=row.event_currency,
        data=dict(row.data or {}),
        created_at=row.created_at,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        resolution_note=row.resolution_note,
    )

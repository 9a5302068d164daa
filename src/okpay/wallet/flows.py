"""Money requests end to end: idempotency, retries, and the steps around provider calls.

- Each step is its own unit of work; the payment provider is called between steps, never
  while balance rows are locked.
- The Idempotency-Key record is claimed first, and completed in the same transaction as the
  final money movement, so a crash can never leave money moved and the key unanswered.
- PostgreSQL deadlocks, lock timeouts and serialisation failures (and a rare clash of
  random references) are retried internally; the caller never sees them."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import Conflict, DomainError, RateLimited, ValidationFailed
from okpay.core.i18n import N_
from okpay.db import get_database
from okpay.wallet import service
from okpay.wallet.models import IdempotencyRecord, SystemAccount
from okpay.wallet.providers import ProviderUnavailable, get_provider

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_SQLSTATES = {"40P01", "55P03", "40001"}  # deadlock, lock not available, serialization


def _retryable(exc: Exception) -> bool:
    orig = getattr(exc, "orig", None)
    if isinstance(exc, OperationalError):
        if getattr(orig, "sqlstate", None) in RETRY_SQLSTATES:
            return True
        return "database is locked" in str(orig)
    if isinstance(exc, IntegrityError):
        return "reference" in str(orig) and "wallet_operation" in str(orig)
    return False


def in_transaction(fn: Callable[[Session], T], *, attempts: int = 6) -> T:
    """Run ``fn`` in its own unit of work, retrying transient database conflicts."""
    db = get_database()
    for attempt in range(1, attempts + 1):
        try:
            with db.unit_of_work() as session:
                return fn(session)
        except (OperationalError, IntegrityError) as exc:
            if attempt == attempts or not _retryable(exc):
                raise
            log.info("retrying after transient conflict (attempt %s): %s", attempt, exc.orig)
            time_module.sleep(random.uniform(0.001, 0.01) * attempt)  # noqa: S311 - jitter
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------- idempotency


class IdempotencyKeyMissing(ValidationFailed):
    code = "idempotency_key_required"
    message = N_("Send an Idempotency-Key header with every request that moves money.")


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    message = N_("This Idempotency-Key was already used for a different request.")


class IdempotencyKeyInFlight(Conflict):
    code = "idempotency_key_in_flight"
    message = N_("A request with this Idempotency-Key is still being processed. Try again shortly.")


@dataclass
class Idempotency:
    user_id: int
    key: str
    scope: str
    request_hash: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


def idempotency(user_id: int, key: str | None, scope: str, body: dict[str, Any]) -> Idempotency:
    if not key or len(key) > 200 or any(ord(ch) < 33 or ord(ch) > 126 for ch in key):
        raise IdempotencyKeyMissing(field="Idempotency-Key")
    digest = hashlib.sha256(
        json.dumps([scope, body], sort_keys=True, default=str).encode()
    ).hexdigest()
    return Idempotency(user_id, key, scope, digest)


def _claim(idem: Idempotency) -> Answer | None:
    """Claim the key (None: go ahead) or return the first answer given for it."""
    try:
        with get_database().unit_of_work() as session:
            session.add(
                IdempotencyRecord(
                    user_id=idem.user_id,
                    key=idem.key,
                    scope=idem.scope,
                    request_hash=idem.request_hash,
                    status="in_flight",
                    created_at=clock.now(),
                )
            )
        return None
    except IntegrityError:
        pass
    with get_database().unit_of_work(write=False) as session:
        record = session.scalar(
            select(IdempotencyRecord).where(
                IdempotencyRecord.user_id == idem.user_id, IdempotencyRecord.key == idem.key
            )
        )
    if record is None:  # removed between the two reads: the first attempt crashed
        return _claim(idem)
    if record.request_hash != idem.request_hash:
        raise IdempotencyKeyReused()
    if record.status != "completed" or record.response_body is None:
        raise IdempotencyKeyInFlight()
    return Answer(int(record.response_status or 200), dict(record.response_body))


def _complete(
    session: Session, idem: Idempotency, answer: Answer, reference: str | None = None
) -> None:
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == idem.user_id, IdempotencyRecord.key == idem.key
        )
    )
    assert record is not None
    record.status = "completed"
    record.response_status = answer.status
    record.response_body = answer.body
    record.completed_at = clock.now()
    if reference:
        record.operation_reference = reference


def _release(idem: Idempotency) -> None:
    with get_database().unit_of_work() as session:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.user_id == idem.user_id,
                IdempotencyRecord.key == idem.key,
                IdempotencyRecord.status == "in_flight",
            )
        )


def run_idempotent(
    idem: Idempotency, work: Callable[[Callable[[Session, Answer, str | None], None]], Answer]
) -> Answer:
    """Answer once per key. ``work`` gets a ``finish(session, answer, reference)`` to call in
    the transaction that makes its outcome final. A refusal (a domain error) is the answer
    too: retrying the same key gets the same refusal. Anything unexpected frees the key."""
    first = _claim(idem)
    if first is not None:
        return first

    def finish(session: Session, answer: Answer, reference: str | None = None) -> None:
        _complete(session, idem, answer, reference)

    try:
        return work(finish)
    except RateLimited:  # "try later": the same key must work later, so it is not kept
        _release(idem)
        raise
    except DomainError as err:
        answer = Answer(err.status, err.as_json())
        in_transaction(lambda s: _complete(s, idem, answer))
        raise
    except BaseException:
        _release(idem)
        raise


# ----------------------------------------------------------------------------- the flows


def operation_body(session: Session, operation_id: int, *, user_id: int) -> dict[str, Any]:
    from okpay.wallet.schemas import operation_out

    op = session.get(service.Operation, operation_id)
    assert op is not None
    session.refresh(op)
    return operation_out(op, viewer_id=user_id).model_dump(mode="json")


def single_step(
    idem: Idempotency, *, viewer_id: int | None, step: Callable[[Session], tuple[int, str]]
) -> Answer:
    """An operation that settles in one unit of work: ``step`` returns (id, reference). The
    answer shows it as ``viewer_id`` sees it (None: as the operation's customer does)."""

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        def run(session: Session) -> Answer:
            op_id, reference = step(session)
            viewer = viewer_id
            if viewer is None:
                op = session.get(service.Operation, op_id)
                viewer = op.user_id if op is not None and op.user_id is not None else 0
            answer = Answer(201, operation_body(session, op_id, user_id=viewer))
            finish(session, answer, reference)
            return answer

        return in_transaction(run)

    return run_idempotent(idem, work)


def transfer(
    idem: Idempotency, *, sender_id: int, recipient: str, amount: int, currency: str, note: str
) -> Answer:
    def step(session: Session) -> tuple[int, str]:
        result = service.do_transfer(
            session,
            sender_id=sender_id,
            recipient=recipient,
            amount=amount,
            currency=currency,
            note=note,
        )
        return result.operation_id, result.reference

    return single_step(idem, viewer_id=sender_id, step=step)


def transfer_batch(idem: Idempotency, *, sender_id: int, items: list[service.BatchItem]) -> Answer:
    """Up to 1000 transfers in one unit of work, each settled or refused on its own; one
    Idempotency-Key answers for the whole batch."""
    from okpay.wallet.schemas import batch_out

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        def run(session: Session) -> Answer:
            outcomes = service.do_transfer_batch(session, sender_id=sender_id, items=items)
            body = batch_out([i.client_ref for i in items], outcomes)
            answer = Answer(200, body.model_dump(mode="json"))
            finish(session, answer, None)
            return answer

        return in_transaction(run)

    return run_idempotent(idem, work)


def fx_transfer(
    idem: Idempotency, *, sender_id: int, recipient: str, quote_id: int, note: str
) -> Answer:
    def step(session: Session) -> tuple[int, str]:
        result = service.do_transfer_fx(
            session, sender_id=sender_id, recipient=recipient, quote_id=quote_id, note=note
        )
        return result.operation_id, result.reference

    return single_step(idem, viewer_id=sender_id, step=step)


def payment(
    idem: Idempotency, *, payer_id: int, merchant: str, order_id: str, amount: int, currency: str
) -> Answer:
    def step(session: Session) -> tuple[int, str]:
        result = service.do_pay_merchant(
            session,
            payer_id=payer_id,
            merchant_code=merchant,
            order_id=order_id,
            amount=amount,
            currency=currency,
        )
        return result.operation_id, result.reference

    return single_step(idem, viewer_id=payer_id, step=step)


def refund(
    idem: Idempotency, *, actor_id: int, payment_reference: str, amount: int | None, reason: str
) -> Answer:
    """Refund as the merchant: the answer shows the refund as its customer sees it."""

    def step(session: Session) -> tuple[int, str]:
        result = service.do_refund(
            session,
            payment_reference=payment_reference,
            amount=amount,
            actor_user_id=actor_id,
            reason=reason,
        )
        return result.operation_id, result.reference

    return single_step(idem, viewer_id=None, step=step)


def card_topup(
    idem: Idempotency, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> Answer:
    """Pending top-up → provider charge → completed or failed, with the reason."""

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        op_id, reference, token = in_transaction(
            lambda s: service.do_begin_card_topup(
                s,
                user_id=user_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
            )
        )
        failure: str | None
        external: str | None
        try:
            result = get_provider().charge(token, amount, currency, reference)
        except ProviderUnavailable as exc:
            log.warning("top-up %s: provider unavailable: %s", reference, exc)
            failure, external = "provider_unavailable", None
        else:
            failure = None if result.ok else (result.failure_code or "declined")
            external = result.provider_ref

        def settle(session: Session) -> Answer:
            if failure is None:
                assert external is not None
                service.do_complete_topup(session, operation_id=op_id, external_ref=external)
            else:
                service.do_fail_operation(
                    session, operation_id=op_id, failure_code=failure, external_ref=external
                )
            answer = Answer(201, operation_body(session, op_id, user_id=user_id))
            finish(session, answer, reference)
            return answer

        return in_transaction(settle)

    return run_idempotent(idem, work)


def bank_topup(idem: Idempotency, *, user_id: int, amount: int, currency: str) -> Answer:
    def step(session: Session) -> tuple[int, str]:
        op = service.do_begin_bank_topup(session, user_id=user_id, amount=amount, currency=currency)
        return op.id, op.reference

    return single_step(idem, viewer_id=user_id, step=step)


def withdrawal(
    idem: Idempotency, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> Answer:
    """Hold the money, ask the provider to pay out; a webhook settles or fails it later."""

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        op_id, reference, token = in_transaction(
            lambda s: service.do_begin_withdrawal(
                s,
                user_id=user_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
            )
        )
        try:
            payout = get_provider().create_payout(token, amount, currency, reference)
        except ProviderUnavailable:
            payout = None

        def record(session: Session) -> Answer:
            if payout is None:
                service.do_fail_operation(
                    session, operation_id=op_id, failure_code="provider_unavailable"
                )
            else:
                service.set_external_ref(
                    session, operation_id=op_id, external_ref=payout.provider_ref
                )
            answer = Answer(201, operation_body(session, op_id, user_id=user_id))
            finish(session, answer, reference)
            return answer

        return in_transaction(record)

    return run_idempotent(idem, work)


# -------------------------------------------------------------------------------- webhooks


def handle_provider_event(event: dict[str, Any]) -> str:
    """Apply a verified provider event once: payout.paid, payout.failed,
    bank_transfer.received. Returns what happened (for the webhook's answer and logs)."""
    kind = str(event.get("type"))
    data = event.get("data") or {}

    def apply(session: Session) -> str:
        if not service.record_provider_event(
            session, provider=get_provider().name, event_id=str(event["id"]), kind=kind
        ):
            return "duplicate"
        if kind in ("payout.paid", "payout.failed"):
            op = service.find_by_external_ref(session, str(data.get("payout", "")))
            if op is None:
                return "unknown_payout"
            if kind == "payout.paid":
                service.do_settle_withdrawal(session, operation_id=op.id)
            else:
                service.do_fail_operation(
                    session,
                    operation_id=op.id,
                    failure_code=str(data.get("reason") or "payout_failed"),
                )
            return "applied"
        if kind == "bank_transfer.received":
            op = service.find_by_reference(session, str(data.get("reference", "")))
            if op is None or op.type != "topup" or op.method != "bank":
                return "unknown_reference"
            amount = int(data.get("amount", 0))
            if amount <= 0 or str(data.get("currency")) != op.currency:
                return "rejected"
            service.do_complete_topup(
                session,
                operation_id=op.id,
                external_ref=str(data.get("transfer", "")),
                clearing=SystemAccount.bank_clearing,
                amount=amount,
            )
            return "applied"
        return "ignored"

    return in_transaction(apply)

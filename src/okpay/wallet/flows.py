# Kept whole because each flow's steps and the provider calls between them are one crash protocol.
"""Money requests end to end: each through its Idempotency-Key (wallet.idempotency), the
risk controls (wallet.screened), and the steps around provider calls.

- Each step is its own unit of work; the payment provider is called between steps, never
  while balance rows are locked.
- The first step records on the key which operation it began, so a retry after a crash
  resumes that operation (asking the provider again with the same reference) instead of
  starting a second one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.wallet import batch as wallet_batch
from okpay.wallet import (
    errors,
    fx_transfers,
    held,
    intents,
    merchants,
    payouts,
    provider_events,
    reconciliation,
    risk_checks,
    screening,
    topups,
    transfers,
    withdrawals,
)
from okpay.wallet import screened as screened_flow
from okpay.wallet.idempotency import (
    Answer,
    Finish,
    Idempotency,
    IdempotencyClaimLost,
    IdempotencyKeyInFlight,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    idempotency,
    in_transaction,
    key_lifetime,
    prune_keys,
    record_begun,
    run_idempotent,
)
from okpay.wallet.models import Operation, OperationStatus, OperationType, PaymentMethod
from okpay.wallet.operations import TransferResult
from okpay.wallet.providers import ProviderUnavailable, get_provider
from okpay.wallet.schemas import ProviderEvent

log = logging.getLogger(__name__)

__all__ = [  # the key machinery, for callers that know it as wallet.flows
    "Answer",
    "Idempotency",
    "IdempotencyClaimLost",
    "IdempotencyKeyInFlight",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "idempotency",
    "in_transaction",
    "key_lifetime",
    "prune_keys",
    "run_idempotent",
]

# ----------------------------------------------------------------------------- the flows


def operation_body(session: Session, operation_id: int, *, user_id: int) -> dict[str, Any]:
    from okpay.wallet.schemas import operation_out

    # Read afresh (the operation may have been written by plain SQL): one SELECT.
    op = session.get(Operation, operation_id, populate_existing=True)
    assert op is not None
    return operation_out(op, viewer_id=user_id).model_dump(mode="json")


def sent_body(session: Session, result: TransferResult, *, sender_id: int) -> dict[str, Any]:
    """The sender's answer for a transfer this unit of work settled: built from what the
    write returned (every column the answer shows is known), without reading it back;
    read, as :func:`operation_body` does, when the write did not say when it settled."""
    from okpay.wallet.schemas import operation_out

    if result.settled_at is None:
        return operation_body(session, result.operation_id, user_id=sender_id)
    op = Operation(
        reference=result.reference,
        type=OperationType.transfer.value,
        status=OperationStatus.completed.value,
        user_id=sender_id,
        currency=result.currency,
        amount=result.amount,
        fee=result.fee,
        note=result.note,
        failure_code=None,
        created_at=result.settled_at,
        completed_at=result.settled_at,
    )
    return operation_out(op, viewer_id=sender_id).model_dump(mode="json")


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
                op = session.get(Operation, op_id)
                viewer = op.user_id if op is not None and op.user_id is not None else 0
            answer = Answer(201, operation_body(session, op_id, user_id=viewer))
            finish(session, answer, reference)
            return answer

        return in_transaction(run)

    return run_idempotent(idem, work)


def transfer(
    idem: Idempotency,
    *,
    sender_id: int,
    recipient: str,
    amount: int,
    currency: str,
    note: str,
    otp: str | None = None,
) -> Answer:
    """Send money to another customer; the risk controls may ask for a second factor first,
    hold it for review (202, status on_hold) or refuse it."""

    def attempt_of(session: Session) -> screening.Attempt:
        return risk_checks.transfer_attempt(
            session, sender_id=sender_id, recipient=recipient, amount=amount, currency=currency
        )

    # Held for review or sent now, the transfer is the same request.
    request: dict[str, Any] = {
        "sender_id": sender_id,
        "recipient": recipient,
        "amount": amount,
        "currency": currency,
        "note": note,
    }

    def money(session: Session, screened: screened_flow.Screened | None, finish: Finish) -> Answer:
        if screened is not None and screened_flow.on_hold(screened):
            op_id, reference = held.do_hold_transfer(session, **request)
            screened_flow.record_held(session, screened, operation_id=op_id, reference=reference)
            answer = Answer(202, operation_body(session, op_id, user_id=sender_id))
        else:
            result = transfers.do_transfer(session, **request)
            screened_flow.count(session, screened, result)
            reference = result.reference
            answer = Answer(201, sent_body(session, result, sender_id=sender_id))
        finish(session, answer, reference)
        return answer

    def work(finish: Finish) -> Answer:
        return screened_flow.run_screened(
            idem, attempt_of, otp=otp, money=lambda s, screened: money(s, screened, finish)
        )

    def at_once(finish: Finish) -> Answer:  # the common case: one unit of work in all
        return screened_flow.at_once(attempt_of, lambda s, screened: money(s, screened, finish))

    return run_idempotent(idem, work, at_once=at_once)


def transfer_batch(
    idem: Idempotency,
    *,
    sender_id: int,
    items: list[wallet_batch.BatchItem],
    otp: str | None = None,
) -> Answer:
    """Up to 1000 transfers in one unit of work, each settled or refused on its own; one
    Idempotency-Key answers for the whole batch. The risk controls screen every line: a
    blocked line is refused, a line that would be held is refused with the advice to send
    it on its own, and a second factor asked by any line is asked once for the batch."""
    from okpay.wallet.schemas import batch_out

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        def run(session: Session, checked: list[risk_checks.Checked] | None) -> Answer:
            if checked is None:  # screened here, unless a line asks for a second factor
                checked = risk_checks.screen_batch(session, sender_id=sender_id, items=items)
                screened_flow.careful_unless(any(v is not None and v.step_up for _a, v in checked))
            refused: dict[int, DomainError] = {}
            for index, (_attempt, verdict) in enumerate(checked):
                if verdict is None:
                    continue
                if verdict.outcome is screening.Outcome.block:
                    refused[index] = risk_checks.refusal(verdict)
                elif verdict.outcome is screening.Outcome.hold:
                    refused[index] = risk_checks.review_in_batch(verdict)
            sent = [i for i in range(len(items)) if i not in refused]
            results = wallet_batch.do_transfer_batch(
                session, sender_id=sender_id, items=[items[i] for i in sent]
            )
            outcomes: list[Any] = [None] * len(items)
            for index, error in refused.items():
                outcomes[index] = error
            moved = []
            for index, result in zip(sent, results, strict=True):
                outcomes[index] = result
                attempt, verdict = checked[index]
                if (
                    attempt is not None
                    and verdict is not None
                    and not isinstance(result, DomainError)
                ):
                    moved.append(risk_checks.moved(attempt, verdict, result=result))
            screening.moved(session, moved)
            body = batch_out([i.client_ref for i in items], outcomes)
            answer = Answer(200, body.model_dump(mode="json"))
            finish(session, answer, None)
            return answer

        def careful() -> Answer:
            checked = in_transaction(
                lambda s: risk_checks.screen_batch(s, sender_id=sender_id, items=items)
            )
            screened_flow.step_up(idem, user_id=sender_id, otp=otp)
            return in_transaction(lambda s: run(s, checked))

        return screened_flow.slow_path(lambda: in_transaction(lambda s: run(s, None)), careful)

    return run_idempotent(idem, work)


def _screened_step(
    idem: Idempotency,
    *,
    viewer_id: int,
    attempt_of: Callable[[Session], screening.Attempt | None],
    otp: str | None,
    step: Callable[[Session], TransferResult],
) -> Answer:
    """:func:`single_step` under the risk controls (which cannot hold these: a hold rule
    only applies to transfers and withdrawals)."""

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        def money(session: Session, screened: screened_flow.Screened | None) -> Answer:
            result = step(session)
            screened_flow.count(session, screened, result)
            answer = Answer(201, operation_body(session, result.operation_id, user_id=viewer_id))
            finish(session, answer, result.reference)
            return answer

        return screened_flow.run_screened(idem, attempt_of, otp=otp, money=money)

    return run_idempotent(idem, work)


def fx_transfer(
    idem: Idempotency,
    *,
    sender_id: int,
    recipient: str,
    quote_id: int,
    note: str,
    otp: str | None = None,
) -> Answer:
    def attempt_of(session: Session) -> screening.Attempt | None:
        quote = fx_transfers.find_quote(session, user_id=sender_id, quote_id=quote_id)
        if quote is None:
            return None
        return risk_checks.transfer_attempt(
            session,
            sender_id=sender_id,
            recipient=recipient,
            amount=quote.source_amount,
            currency=quote.source_currency,
        )

    def step(session: Session) -> TransferResult:
        return fx_transfers.do_transfer_fx(
            session, sender_id=sender_id, recipient=recipient, quote_id=quote_id, note=note
        )

    return _screened_step(idem, viewer_id=sender_id, attempt_of=attempt_of, otp=otp, step=step)


def payment(idem: Idempotency, *, payer_id: int, intent: str, otp: str | None = None) -> Answer:
    """Pay a merchant's payment intent: exactly its amount, once."""

    def step(session: Session) -> TransferResult:
        return intents.do_pay_intent(session, payer_id=payer_id, token=intent)

    return _screened_step(
        idem,
        viewer_id=payer_id,
        attempt_of=lambda s: risk_checks.payment_attempt(s, payer_id=payer_id, intent=intent),
        otp=otp,
        step=step,
    )


def refund(
    idem: Idempotency, *, actor_id: int, payment_reference: str, amount: int | None, reason: str
) -> Answer:
    """Refund as the merchant: the answer shows the refund as its customer sees it."""

    def step(session: Session) -> tuple[int, str]:
        result = merchants.do_refund(
            session,
            payment_reference=payment_reference,
            amount=amount,
            actor_user_id=actor_id,
            reason=reason,
        )
        return result.operation_id, result.reference

    return single_step(idem, viewer_id=None, step=step)


def _resume(session: Session, idem: Idempotency) -> tuple[int, str, str | None] | None:
    """The operation an interrupted attempt under this key began: (id, reference, the
    provider token to ask again with) while it still waits for the provider call, token
    None once it is past that. None: no attempt got that far, begin afresh.

    The provider is asked again with the same reference, which a provider adapter must pass
    as the provider's own idempotency key, so a charge or payout the dead attempt already
    made is not made twice."""
    if not idem.resume_reference:
        return None
    op = provider_events.find_by_reference(session, idem.resume_reference)
    if op is None:
        return None
    method = session.get(PaymentMethod, op.payment_method_id) if op.payment_method_id else None
    waiting = op.status == OperationStatus.pending.value and op.external_ref is None
    if not waiting or method is None:
        return op.id, op.reference, None
    return op.id, op.reference, method.provider_token


def _as_it_stands(
    finish: Callable[[Session, Answer, str | None], None],
    op_id: int,
    reference: str,
    user_id: int,
) -> Answer:
    """Answer with an operation an earlier attempt began and something else has moved on
    (a webhook settled it, the payout was already requested)."""

    def run(session: Session) -> Answer:
        body = operation_body(session, op_id, user_id=user_id)
        answer = Answer(202 if body.get("status") == OperationStatus.on_hold.value else 201, body)
        finish(session, answer, reference)
        return answer

    return in_transaction(run)


def _begin_or_resume(
    idem: Idempotency, begin: Callable[[Session], tuple[int, str, str | None]]
) -> tuple[int, str, str | None]:
    """The first step of a provider flow, in its own transaction: resume the operation an
    interrupted attempt under this key began, or ``begin`` one and record its reference on
    the key. Returns (id, reference, provider token; None once past the provider call)."""

    def run(session: Session) -> tuple[int, str, str | None]:
        resumed = _resume(session, idem)
        if resumed is not None:
            return resumed
        op_id, reference, token = begin(session)
        record_begun(session, idem, reference)
        return op_id, reference, token

    return in_transaction(run)


def _begin_screened(
    idem: Idempotency,
    attempt_of: Callable[[Session], screening.Attempt | None],
    otp: str | None,
    begin: Callable[[Session, screened_flow.Screened | None], tuple[int, str, str | None]],
) -> tuple[int, str, str | None]:
    """:func:`_begin_or_resume` under the risk controls: screened in the first step's unit
    of work (or in its own first, when the verdict refuses or asks for a second factor);
    an operation resumed after a crash was screened when it began."""
    if idem.resume_reference:
        return _begin_or_resume(idem, lambda s: begin(s, None))

    def fast() -> tuple[int, str, str | None]:
        return _begin_or_resume(idem, lambda s: begin(s, screened_flow.screen_here(s, attempt_of)))

    def careful() -> tuple[int, str, str | None]:
        screened = screened_flow.screen(idem, attempt_of, otp=otp)
        return _begin_or_resume(idem, lambda s: begin(s, screened))

    return screened_flow.slow_path(fast, careful)


def card_topup(
    idem: Idempotency,
    *,
    user_id: int,
    payment_method_id: int,
    amount: int,
    currency: str,
    otp: str | None = None,
) -> Answer:
    """Pending top-up → provider charge → completed or failed, with the reason. A failed
    charge counts toward the card-testing rule."""

    def attempt_of(_session: Session) -> screening.Attempt:
        return risk_checks.topup_attempt(
            user_id=user_id, payment_method_id=payment_method_id, amount=amount, currency=currency
        )

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        screened: screened_flow.Screened | None = None

        def begin(
            session: Session, given: screened_flow.Screened | None
        ) -> tuple[int, str, str | None]:
            nonlocal screened
            screened = given
            return topups.do_begin_card_topup(
                session,
                user_id=user_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
            )

        op_id, reference, token = _begin_screened(idem, attempt_of, otp, begin)
        if token is None:
            return _as_it_stands(finish, op_id, reference, user_id)
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
                topups.do_complete_topup(session, operation_id=op_id, external_ref=external)
            else:
                topups.do_fail_operation(
                    session, operation_id=op_id, failure_code=failure, external_ref=external
                )
            if screened is not None and failure != "provider_unavailable":
                screening.moved(
                    session,
                    [
                        risk_checks.moved(
                            screened.attempt, screened.verdict, failed=failure is not None
                        )
                    ],
                )
                screening.link(
                    session,
                    decision_id=screened.verdict.decision_id,
                    operation_id=op_id,
                    reference=reference,
                )
            answer = Answer(201, operation_body(session, op_id, user_id=user_id))
            finish(session, answer, reference)
            return answer

        return in_transaction(settle)

    return run_idempotent(idem, work)


def bank_topup(idem: Idempotency, *, user_id: int, amount: int, currency: str) -> Answer:
    def step(session: Session) -> tuple[int, str]:
        op = topups.do_begin_bank_topup(session, user_id=user_id, amount=amount, currency=currency)
        return op.id, op.reference

    return single_step(idem, viewer_id=user_id, step=step)


def withdrawal(
    idem: Idempotency,
    *,
    user_id: int,
    payment_method_id: int,
    amount: int,
    currency: str,
    otp: str | None = None,
) -> Answer:
    """Hold the money, ask the provider to pay out; a webhook settles or fails it later. The
    risk controls may ask for a second factor first, refuse it, or hold it for review: then
    it waits (202, status on_hold) with its money held and no payout asked for, until a
    reviewer releases it (:func:`request_payout`) or rejects it."""

    def work(finish: Callable[[Session, Answer, str | None], None]) -> Answer:
        def begin(
            session: Session, screened: screened_flow.Screened | None
        ) -> tuple[int, str, str | None]:
            on_hold = screened_flow.on_hold(screened)
            op_id, reference, bank = withdrawals.do_begin_withdrawal(
                session,
                user_id=user_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
                on_hold=on_hold,
            )
            if screened is not None and on_hold:
                screened_flow.record_held(
                    session, screened, operation_id=op_id, reference=reference
                )
                return op_id, reference, None
            screened_flow.count(session, screened, None, operation_id=op_id, reference=reference)
            return op_id, reference, bank

        def attempt_of(session: Session) -> screening.Attempt:
            return risk_checks.withdrawal_attempt(
                session,
                user_id=user_id,
                payment_method_id=payment_method_id,
                amount=amount,
                currency=currency,
            )

        op_id, reference, token = _begin_screened(idem, attempt_of, otp, begin)
        if token is None:
            return _as_it_stands(finish, op_id, reference, user_id)
        payout = payouts.ask_payout(token, amount, currency, reference)

        def record(session: Session) -> Answer:
            payouts.record_payout(session, op_id, payout)
            answer = Answer(201, operation_body(session, op_id, user_id=user_id))
            finish(session, answer, reference)
            return answer

        return in_transaction(record)

    return run_idempotent(idem, work)


def cancel_withdrawal(*, user_id: int, reference: str) -> dict[str, Any]:
    """Cancel a pending withdrawal through the provider first: the hold is released only
    once the provider confirms the payout is stopped. A payout already with the bank (the
    provider refuses, or told us so) is refused with payout_in_flight and keeps its hold;
    an unreachable provider changes nothing (cancel_unavailable). Returns the operation as
    its customer sees it."""
    op_id, payout_ref = in_transaction(
        lambda s: withdrawals.check_cancel_withdrawal(s, user_id=user_id, reference=reference)
    )
    provider = get_provider()
    try:
        stopped = provider.cancel_payout(payout_ref)
    except ProviderUnavailable as exc:
        log.warning("cancel of withdrawal %s: provider unavailable: %s", reference, exc)
        raise errors.CancelUnavailable() from None
    if not stopped:
        in_transaction(lambda s: withdrawals.do_mark_payout_in_flight(s, operation_id=op_id))
        raise errors.PayoutInFlight()

    def release(session: Session) -> tuple[str, dict[str, Any]]:
        op = withdrawals.do_cancel_withdrawal(session, user_id=user_id, reference=reference)
        if op.status == OperationStatus.completed.value:
            # The provider reported it paid, then confirmed the cancel: an operator decides.
            reconciliation.record_cancel_after_paid(session, op=op, provider=provider.name)
        return op.status, operation_body(session, op.id, user_id=user_id)

    status, body = in_transaction(release)
    if status != OperationStatus.cancelled.value:
        raise errors.OperationNotCancellable()
    return body


# -------------------------------------------------------------------------------- webhooks


def handle_provider_event(event: ProviderEvent) -> reconciliation.Outcome:
    """Apply a verified, schema-checked provider event once (payout.processing, .paid,
    .failed, .cancelled, bank_transfer.received); an event that does not match the ledger
    becomes a reconciliation exception instead (wallet.reconciliation)."""
    provider = get_provider().name
    try:
        return in_transaction(lambda s: reconciliation.apply_event(s, event, provider=provider))
    except IntegrityError as exc:
        if "provider_event" in str(exc.orig):  # the same event delivered twice at once
            return reconciliation.Outcome("duplicate")
        raise

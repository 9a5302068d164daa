"""Money requests under the risk controls: screened before any money moves, a second
factor asked for or checked, and, in the unit of work that moves the money, the counters
told and the decision linked to the operation.

The common case costs one statement: the request is screened inside the unit of work that
moves its money (:func:`run_screened`). Only when the verdict refuses or asks the customer
something does the request leave that unit of work (rolled back, nothing moved) and is
screened again in its own (:func:`screen`), so that the decision, the code sent or the
code's use are kept whatever the answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.identity import stepup
from okpay.wallet import risk_checks, screening
from okpay.wallet.idempotency import Idempotency, NotAtOnce, in_transaction
from okpay.wallet.operations import TransferResult

T = TypeVar("T")


@dataclass(frozen=True)
class Screened:
    attempt: screening.Attempt
    verdict: screening.Verdict


class _Careful(NotAtOnce):
    """The verdict refuses or asks for a second factor: leave the money's unit of work
    (and, for a request tried at once, the key's: see :func:`at_once`)."""


def needs_care(verdict: screening.Verdict) -> bool:
    return verdict.outcome is screening.Outcome.block or verdict.step_up


def screen_here(
    session: Session, attempt_of: Callable[[Session], screening.Attempt | None]
) -> Screened | None:
    """Screen inside the caller's unit of work; raises (to be caught by
    :func:`run_screened`) when the verdict needs its own."""
    attempt = attempt_of(session)
    if attempt is None:
        return None
    verdict = screening.screen(session, attempt)
    if needs_care(verdict):
        raise _Careful()
    return Screened(attempt, verdict)


def run_screened(
    idem: Idempotency,
    attempt_of: Callable[[Session], screening.Attempt | None],
    *,
    otp: str | None,
    money: Callable[[Session, Screened | None], T],
) -> T:
    """Screen the request and move its money (``money``, given the screening) in one unit
    of work; when the verdict blocks or asks for a second factor, screen it in its own unit
    of work (refusing, or asking for or checking the code) and then move the money."""

    def fast(session: Session) -> T:
        return money(session, screen_here(session, attempt_of))

    try:
        return in_transaction(fast)
    except _Careful:
        pass
    screened = screen(idem, attempt_of, otp=otp)
    return in_transaction(lambda session: money(session, screened))


def at_once(
    attempt_of: Callable[[Session], screening.Attempt | None],
    money: Callable[[Session, Screened | None], T],
) -> T:
    """The common case alone, for wallet.idempotency's ``at_once``: screened and moved in
    one unit of work. A verdict that needs its own unit of work raises (a NotAtOnce),
    leaving nothing behind, and the full protocol runs."""
    return in_transaction(lambda session: money(session, screen_here(session, attempt_of)))


def careful_unless(verdicts_need_care: bool) -> None:
    """For callers that screen several attempts at once (a batch)."""
    if verdicts_need_care:
        raise _Careful()


def slow_path(fn: Callable[[], T], careful: Callable[[], T]) -> T:
    """``fn``; if it left its unit of work for care, ``careful`` instead."""
    try:
        return fn()
    except _Careful:
        return careful()


def screen(
    idem: Idempotency,
    attempt_of: Callable[[Session], screening.Attempt | None],
    *,
    otp: str | None,
) -> Screened | None:
    """Ask the risk controls about the request before any money moves, in its own unit of
    work (the decision is kept whatever happens next). A block is refused here, with the
    reason; a step-up asks for the second factor (or checks the one given) before going on.
    None: the request describes no valid operation, which the operation itself refuses."""

    def run(session: Session) -> Screened | None:
        attempt = attempt_of(session)
        if attempt is None:
            return None
        verdict = screening.screen(session, attempt)
        if verdict.outcome is screening.Outcome.block:
            screening.blocked(session, attempt, verdict)
        return Screened(attempt, verdict)

    found = in_transaction(run)
    if found is None:
        return None
    if found.verdict.outcome is screening.Outcome.block:
        raise risk_checks.refusal(found.verdict)
    if found.verdict.step_up:
        step_up(idem, user_id=found.attempt.user_id, otp=otp)
    return found


def step_up(idem: Idempotency, *, user_id: int, otp: str | None) -> None:
    """Require a second factor for this very request (bound to its scope and body, so a code
    works for this operation only). The code's use, or the SMS sent, commits even when the
    answer is a refusal; the refusal leaves the Idempotency-Key free for the retry with it."""

    def run(session: Session) -> DomainError | None:
        try:
            stepup.demand(
                session,
                user_id=user_id,
                binding=f"{idem.scope}:{idem.request_hash}",
                code=otp,
                action="withdrawal" if idem.scope == "withdrawal" else "payment",
            )
        except DomainError as err:
            if err.persist:
                return err
            raise
        return None

    try:
        refused = in_transaction(run)
    except DomainError as err:
        err.same_key_again = True  # type: ignore[attr-defined]
        raise
    if refused is not None:
        refused.same_key_again = True  # type: ignore[attr-defined]
        raise refused


def count(
    session: Session,
    screened: Screened | None,
    result: TransferResult | None,
    *,
    operation_id: int | None = None,
    reference: str | None = None,
) -> None:
    """In the unit of work that moved the money: the risk counters learn of it (with the
    customer paid, when there is one), and the decision (if one was stored) is linked to
    the operation (``result``'s, or ``operation_id`` and ``reference``)."""
    if screened is None:
        return
    screening.moved(session, [risk_checks.moved(screened.attempt, screened.verdict, result=result)])
    op_id = result.operation_id if result is not None else operation_id
    ref = result.reference if result is not None else reference
    if op_id is not None and ref is not None:
        screening.link(
            session, decision_id=screened.verdict.decision_id, operation_id=op_id, reference=ref
        )


def record_held(session: Session, screened: Screened, *, operation_id: int, reference: str) -> None:
    screening.link(
        session,
        decision_id=screened.verdict.decision_id,
        operation_id=operation_id,
        reference=reference,
    )
    screening.held(session, screened.attempt, screened.verdict, operation_id)


def on_hold(screened: Screened | None) -> bool:
    return screened is not None and screened.verdict.outcome is screening.Outcome.hold

"""Money requests under the risk controls: screened before any money moves (own unit of
work, so the decision is kept), a second factor asked for or checked, and, in the unit of
work that moves the money, the counters told and the decision linked to the operation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from okpay.core.errors import DomainError
from okpay.identity import stepup
from okpay.wallet import risk_checks, screening
from okpay.wallet.idempotency import Idempotency, in_transaction


@dataclass(frozen=True)
class Screened:
    attempt: screening.Attempt
    verdict: screening.Verdict


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
                session, user_id=user_id, binding=f"{idem.scope}:{idem.request_hash}", code=otp
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
    session: Session, screened: Screened | None, *, operation_id: int, reference: str
) -> None:
    """In the unit of work that moved the money: the risk counters learn of it, and the
    decision (if one was stored) is linked to the operation."""
    if screened is None:
        return
    screening.moved(session, [risk_checks.moved(screened.attempt, screened.verdict)])
    screening.link(
        session,
        decision_id=screened.verdict.decision_id,
        operation_id=operation_id,
        reference=reference,
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

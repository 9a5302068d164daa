"""Evaluate the rules for one attempt, before money moves, and store the decision.

The strongest live outcome wins (block over hold over step-up); a step-up rule that fires
beside a hold rule asks for the second factor first, then holds. Shadow rules are
evaluated and stored with the decision but never act. A decision is stored whenever any
rule fired, with each rule's code, version, score and outcome and every feature value, so
staff see why and a backtest can compare."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.risk import conditions, features, rules
from okpay.risk.models import RiskDecision
from okpay.wallet import screening

_RANK = {"allow": 0, "step_up": 1, "hold": 2, "block": 3}


def decide(
    fired: list[rules.LiveRule],
) -> tuple[screening.Outcome, bool, str | None, int]:
    """(outcome, step-up asked, the customer-facing reason, score) of the live rules that
    fired; the reason is the one of the strongest rule (the highest score among equals)."""
    live = [r for r in fired if not r.shadow]
    if not live:
        return screening.Outcome.allow, False, None, 0
    top = max(live, key=lambda r: (_RANK[r.outcome], r.score))
    step_up = any(r.outcome == "step_up" for r in live) and top.outcome != "block"
    outcome = (
        screening.Outcome.allow if top.outcome == "step_up" else screening.Outcome(top.outcome)
    )
    return outcome, step_up, top.reason, min(100, sum(r.score for r in live))


def fire(
    rules_: tuple[rules.LiveRule, ...] | list[rules.LiveRule], values: dict[str, Any]
) -> list[rules.LiveRule]:
    return [r for r in rules_ if conditions.evaluate(r.test, values)]


def evaluate(
    session: Session, attempt: screening.Attempt, *, now: datetime | None = None
) -> screening.Verdict:
    """The verdict on ``attempt``; stores a decision when any rule fired."""
    return evaluate_many(session, [attempt], now=now)[0]


def evaluate_many(
    session: Session, attempts: list[screening.Attempt], *, now: datetime | None = None
) -> list[screening.Verdict]:
    """Verdicts on one customer's attempts (a batch), features read once."""
    ops = {a.operation for a in attempts}
    active = {op: rules.active_rules(session, op) for op in ops}
    if not any(active.values()):
        return [screening.ALLOW] * len(attempts)
    now = now or clock.now()
    verdicts = []
    for attempt, values in zip(
        attempts, features.compute_many(session, attempts, now=now), strict=True
    ):
        verdicts.append(_verdict(session, attempt, active[attempt.operation], values, now))
    return verdicts


def _verdict(
    session: Session,
    attempt: screening.Attempt,
    active: tuple[rules.LiveRule, ...],
    values: dict[str, Any],
    now: datetime,
) -> screening.Verdict:
    ratio = values["limit_ratio"]
    near_limit = bool(features.NEAR_LIMIT <= ratio < 1)
    counterparty = values.get(features.COUNTERPARTY)
    fired = fire(active, values)
    if not fired:
        return screening.Verdict(near_limit=near_limit, counterparty_user_id=counterparty)
    outcome, step_up, reason, score = decide(fired)
    decision = RiskDecision(
        user_id=attempt.user_id,
        operation=attempt.operation,
        amount=attempt.amount or None,
        currency=attempt.currency or None,
        outcome=outcome.value,
        step_up=step_up,
        score=score,
        reason=reason,
        fired=[
            {
                "rule": r.code,
                "rule_id": r.id,
                "version": r.version,
                "score": r.score,
                "outcome": r.outcome,
                "shadow": r.shadow,
            }
            for r in fired
        ],
        features=features.as_stored(values),
        created_at=now,
    )
    session.add(decision)
    session.flush()
    return screening.Verdict(
        outcome=outcome,
        step_up=step_up,
        decision_id=decision.id,
        reason=reason,
        near_limit=near_limit,
        counterparty_user_id=counterparty,
    )


def link(session: Session, decision_id: int, operation_id: int, reference: str) -> None:
    session.execute(
        update(RiskDecision)
        .where(RiskDecision.id == decision_id)
        .values(operation_id=operation_id, reference=reference)
        .execution_options(synchronize_session=False)
    )


def decision_for(session: Session, operation_id: int) -> RiskDecision | None:
    """The latest decision about an operation (why it was held, or asked for a code)."""
    from sqlalchemy import select

    return session.scalar(
        select(RiskDecision)
        .where(RiskDecision.operation_id == operation_id)
        .order_by(RiskDecision.id.desc())
        .limit(1)
    )


def get_decision(session: Session, decision_id: int) -> RiskDecision | None:
    return session.get(RiskDecision, decision_id)


# The wallet asks through wallet.screening; okpay.models imports this module, so every
# process that can move money has the risk controls registered.
if evaluate_many not in screening.SCREENERS:
    screening.SCREENERS.append(evaluate_many)
if link not in screening.LINKERS:
    screening.LINKERS.append(link)

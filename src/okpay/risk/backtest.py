"""Backtests: how often would a rule have fired over the last N days?

The wallet's operations of the window are replayed in time order (streamed in chunks, never
loaded whole), rebuilding in memory the counters risk.counters keeps as money moves
(ten-minute and daily windows, the amount histogram, failed card top-ups, amounts near the
limit, who paid whom) and the account signals (new device, new country, password reset,
change of e-mail or phone) from the login history and the audit log. Each operation the
rule covers is evaluated on the features as they stood just before it.

What is approximated (docs/risk.md says the same): the verification level and the exchange
rates are today's; the amount histogram (median) and the daily windows see the 90 days
before the window and the window itself; a new country is a sign-in from another country
than the previous sign-in seen since a day before the window; attempts that were blocked
left no operation and are not replayed; adding a card or bank account, sign-ins, password
resets and contact changes are not operations and are not replayed; a batch line is a
transfer carrying a client reference."""

from __future__ import annotations

import ast
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, literal, select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.models import User
from okpay.identity.validation import mask_email
from okpay.risk import conditions, rules
from okpay.risk import replay as replay_mod
from okpay.risk.models import RiskDecision, RiskRule
from okpay.risk.replay import CHUNK
from okpay.wallet.models import Operation

DEFAULT_DAYS = 30
MAX_DAYS = 90
TOP = 20
WARM_UP = timedelta(days=90)
REPLAYED = ("transfer", "withdrawal", "payment", "topup")


class BacktestDaysInvalid(ValidationFailed):
    code = "backtest_days_invalid"
    message = N_("Choose a number of days from 1 to 90.")
    field = "days"


@dataclass(frozen=True)
class CustomerHits:
    user_id: int
    name: str
    email: str  # masked
    hits: int


@dataclass(frozen=True)
class Agreement:
    """The rule's stored decisions in the window against the replay (a saved rule only)."""

    stored: int  # decisions naming the rule, attached to an operation
    agree: int  # of those, the replay fired on the same operation
    stored_only: int  # stored, but the replay did not fire
    backtest_only: int  # the replay fired where nothing was stored (e.g. a draft or paused then)
    unlinked: int  # decisions with no operation (blocked attempts): not replayable


@dataclass
class Result:
    rule: str
    days: int
    since: datetime
    until: datetime
    operations: int = 0  # operations replayed in the window
    evaluated: int = 0  # of those, of the rule's kinds
    hits: int = 0
    customers: int = 0
    top: list[CustomerHits] = field(default_factory=list)
    by_day: list[tuple[date, int]] = field(default_factory=list)
    agreement: Agreement | None = None
    seconds: float = 0.0


def check_days(days: Any) -> int:
    try:
        value = int(days)
    except (TypeError, ValueError):
        raise BacktestDaysInvalid() from None
    if not 1 <= value <= MAX_DAYS:
        raise BacktestDaysInvalid()
    return value


# ---------------------------------------------------------------------------- running it


def fired_like(code: str) -> Any:
    """A filter on RiskDecision.fired naming the rule ``code`` (the JSON is stored as text
    the same way on both databases: ``{"rule": "code", ...}``)."""
    from sqlalchemy import String, cast

    escaped = code.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(RiskDecision.fired, String).like(f'%"rule": "{escaped}"%', escape="\\")


def run(
    session: Session,
    *,
    rule: RiskRule | rules.RuleSpec,
    days: int = DEFAULT_DAYS,
    now: datetime | None = None,
) -> Result:
    """Replay the last ``days`` days against ``rule`` (a saved rule, or an unsaved spec:
    checked first, so an invalid condition raises ConditionInvalid)."""
    started = time.perf_counter()
    days = check_days(days)
    if isinstance(rule, rules.RuleSpec):
        rule = rules.check_spec(rule)
    compiled = rules.compile_rule(rule)
    reads = {
        n.id for n in ast.walk(ast.parse(rule.condition, mode="eval")) if isinstance(n, ast.Name)
    }
    until = now or clock.now()
    since = until - timedelta(days=days)
    result = Result(rule=rule.code, days=days, since=since, until=until)
    saved_id = rule.id if isinstance(rule, RiskRule) else None
    stored = _stored(session, rule.code, since, until) if saved_id else None
    replay = replay_mod.Replay(session, replay_mod.load_signals(session, since, until))
    per_user: Counter[int] = Counter()
    per_day: Counter[date] = Counter()
    agree = 0
    stmt = (
        select(
            Operation.id,
            Operation.type,
            Operation.status,
            Operation.user_id,
            Operation.counterparty_user_id,
            Operation.currency,
            Operation.amount,
            Operation.method,
            Operation.payment_method_id,
            Operation.failure_code,
            Operation.created_at,
            # Only a condition reading in_batch needs the JSON (decoding it costs).
            Operation.data if "in_batch" in reads else literal(None).label("data"),
        )
        .where(
            Operation.type.in_(REPLAYED),
            Operation.user_id.is_not(None),
            Operation.created_at >= since - WARM_UP,
            Operation.created_at < until,
        )
        .order_by(Operation.created_at, Operation.id)
        .execution_options(yield_per=CHUNK)
    )
    for chunk in session.execute(stmt).partitions():
        replay.prepare(chunk)
        for row in chunk:
            operation = replay_mod.operation_kind(row.type, row.method)
            if operation is None:
                continue
            at = row.created_at
            if at >= since:
                result.operations += 1
                if operation in compiled.operations:
                    result.evaluated += 1
                    if conditions.evaluate(
                        compiled.test, replay_mod.Values(replay, row, operation, at)
                    ):
                        result.hits += 1
                        per_user[row.user_id] += 1
                        per_day[at.date()] += 1
                        if stored is not None and row.id in stored[0]:
                            agree += 1
            replay.apply(row, operation, at)
    result.customers = len(per_user)
    result.top = _top(session, per_user)
    result.by_day = sorted(per_day.items())
    if stored is not None:
        linked, unlinked = stored
        result.agreement = Agreement(
            stored=len(linked),
            agree=agree,
            stored_only=len(linked) - agree,
            backtest_only=result.hits - agree,
            unlinked=unlinked,
        )
    result.seconds = round(time.perf_counter() - started, 3)
    return result


def _stored(session: Session, code: str, since: datetime, until: datetime) -> tuple[set[int], int]:
    """Operation ids of the rule's stored decisions in the window, and how many decisions
    had no operation."""
    linked: set[int] = set()
    unlinked = 0
    rows = session.execute(
        select(RiskDecision.operation_id)
        .where(
            RiskDecision.created_at >= since,
            RiskDecision.created_at < until,
            fired_like(code),
        )
        .execution_options(yield_per=CHUNK)
    )
    for (operation_id,) in rows:
        if operation_id is None:
            unlinked += 1
        else:
            linked.add(operation_id)
    return linked, unlinked


def _top(session: Session, per_user: Counter[int]) -> list[CustomerHits]:
    top = per_user.most_common(TOP)
    if not top:
        return []
    found = {u.id: u for u in session.scalars(select(User).where(User.id.in_([u for u, _ in top])))}
    out = []
    for uid, hits in top:
        user = found.get(uid)
        out.append(
            CustomerHits(
                uid,
                user.display_name if user else f"#{uid}",
                mask_email(user.email) if user else "—",
                hits,
            )
        )
    return out


# -------------------------------------------------------------- hits of saved rules


def recent_hits(
    session: Session, codes: list[str], *, now: datetime | None = None
) -> dict[str, tuple[int, int]]:
    """Per rule code, (decisions naming it in the last 24 h, in the last 7 days): one
    statement over the last week's decisions (the created_at index)."""
    if not codes:
        return {}
    now = now or clock.now()
    day_ago, week_ago = now - timedelta(hours=24), now - timedelta(days=7)
    columns = []
    for code in codes:
        match = fired_like(code)
        columns.append(func.sum(_when(and_(match, RiskDecision.created_at >= day_ago))))
        columns.append(func.sum(_when(match)))
    row = session.execute(select(*columns).where(RiskDecision.created_at >= week_ago)).one()
    return {code: (int(row[2 * i] or 0), int(row[2 * i + 1] or 0)) for i, code in enumerate(codes)}


def _when(condition: Any) -> Any:
    from sqlalchemy import case

    return case((condition, literal(1)), else_=literal(0))

"""Where the wallet asks "may this money move?" before it moves, and reports what moved.

The wallet sits below the risk controls (okpay.risk imports the wallet, never the other way),
so the wallet names the question here and the risk package answers it: okpay.risk registers
its screener and counter on import (okpay.models imports it, so every process has them).
With nothing registered (a tool that imports only the wallet) every attempt is allowed."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session


class Outcome(enum.StrEnum):
    allow = "allow"
    hold = "hold"  # created on hold, its funds held, until a reviewer releases or rejects it
    block = "block"


@dataclass(frozen=True)
class Attempt:
    """An operation about to be made: who, what kind, how much, to whom."""

    user_id: int
    operation: str  # transfer | withdrawal | payment | card_topup | add_card | add_bank_account
    amount: int = 0
    currency: str = ""
    counterparty_user_id: int | None = None
    payment_method_id: int | None = None
    merchant_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The recipient as the sender typed it (e-mail or phone), when not resolved to an id
    # yet: the risk controls look it up with the features, in the same statement.
    recipient: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What the risk controls decided: the outcome, whether a second factor must be given
    first, and the stored decision (None when no rule fired and nothing was stored)."""

    outcome: Outcome = Outcome.allow
    step_up: bool = False
    decision_id: int | None = None
    reason: str | None = None  # the customer-facing reason's key (risk.reasons)
    near_limit: bool = False  # within 10 % under the per-transaction limit (structuring)
    counterparty_user_id: int | None = None  # the recipient the screening found


ALLOW = Verdict()


@dataclass(frozen=True)
class Moved:
    """Money that moved (or a card top-up that failed): what the risk counters learn from."""

    user_id: int
    operation: str
    amount: int
    currency: str
    counterparty_user_id: int | None = None
    failed: bool = False
    near_limit: bool = False


Screener = Callable[[Session, list[Attempt]], list[Verdict]]
Counter = Callable[[Session, list[Moved]], None]
Linker = Callable[[Session, int, int, str], None]
Listener = Callable[[Session, Attempt, Verdict, int | None], None]

SCREENERS: list[Screener] = []
COUNTERS: list[Counter] = []
# Called with (session, decision id, operation id, reference) once the operation exists.
LINKERS: list[Linker] = []
# Called when an attempt was blocked (operation id None) or an operation created on hold
# (its id): casework opens the security case a reviewer decides.
REFUSED: list[Listener] = []
HELD: list[Listener] = []


def screen(session: Session, attempt: Attempt) -> Verdict:
    """The risk controls' verdict on ``attempt`` (allow when none are registered)."""
    return screen_many(session, [attempt])[0]


def screen_many(session: Session, attempts: list[Attempt]) -> list[Verdict]:
    """Verdicts on one customer's attempts at once (a batch)."""
    verdicts = [ALLOW] * len(attempts)
    for screener in SCREENERS:
        verdicts = screener(session, attempts)
    return verdicts


def moved(session: Session, events: list[Moved]) -> None:
    """Tell the risk counters about money that moved, in the same unit of work."""
    if events:
        for counter in COUNTERS:
            counter(session, events)


def blocked(session: Session, attempt: Attempt, verdict: Verdict) -> None:
    """An attempt was blocked: tell who opens a case for it."""
    for listener in REFUSED:
        listener(session, attempt, verdict, None)


def held(session: Session, attempt: Attempt, verdict: Verdict, operation_id: int) -> None:
    """An operation was created on hold: tell who opens the case that releases or rejects it."""
    for listener in HELD:
        listener(session, attempt, verdict, operation_id)


def link(session: Session, *, decision_id: int | None, operation_id: int, reference: str) -> None:
    """Attach a stored decision to the operation it decided (a held one, or one that
    went ahead after a step-up)."""
    if decision_id is not None:
        for linker in LINKERS:
            linker(session, decision_id, operation_id, reference)

""" "Why was this held?" on a risk review case, for staff only: the decision (outcome,
score), each rule that fired with its version and whether it was live, and the feature
values it read, each with its description, in the reader's language; with the held
operation's amount, fee, recipient or bank account and time. Customers never see any of it
(they read risk_reasons' plain words)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel import numbers as babel_numbers
from sqlalchemy.orm import Session

from okpay.casework import actions, changes, risk_review
from okpay.casework.models import Case
from okpay.core.i18n import N_, format_money, get_locale, gettext
from okpay.risk import engine as risk_engine
from okpay.risk import features as risk_features
from okpay.risk.models import OUTCOME_LABELS, RiskDecision
from okpay.wallet import risk_reasons
from okpay.wallet.models import Operation, OperationStatus, operation_status_label, type_label

_FEATURES = {f.name: f for f in risk_features.CATALOG}
OPERATION_LABELS = {
    "transfer": N_("Transfer"),
    "withdrawal": N_("Withdrawal"),
    "payment": N_("Payment"),
    "card_topup": N_("Card top-up"),
    "add_card": N_("Adding a card"),
    "add_bank_account": N_("Adding a bank account"),
}


@dataclass(frozen=True)
class FiredRow:
    code: str
    version: int
    outcome_label: str
    live: bool
    score: int


@dataclass(frozen=True)
class FeatureRow:
    name: str
    label: str
    value: str


@dataclass
class Why:
    """One stored decision, as a reviewer reads it."""

    outcome_label: str
    score: int
    reason_text: str
    fired: list[FiredRow] = field(default_factory=list)
    features: list[FeatureRow] = field(default_factory=list)


@dataclass
class HeldRow:
    """A held operation of the case and why it was held."""

    reference: str
    type_label: str
    status: str
    status_label: str
    on_hold: bool
    amount: str
    fee: str
    counterparty_label: str
    counterparty: str
    created_at: datetime
    why: Why | None


@dataclass
class BlockedRow:
    operation: str
    amount: str
    at: datetime | None
    why: Why | None


@dataclass
class RiskView:
    held: list[HeldRow]
    blocked: list[BlockedRow]


def value_text(name: str, value: Any) -> str:
    """A feature value for people: numbers in the locale's digits, yes/no as words."""
    kind = _FEATURES[name].kind if name in _FEATURES else ""
    if value is None:
        return "—"
    if name == "operation" and str(value) in OPERATION_LABELS:
        return f"{gettext(OPERATION_LABELS[str(value)])} ({value})"
    if isinstance(value, bool) or kind == "yes/no":
        return gettext(N_("Yes")) if value else gettext(N_("No"))
    if kind == "number" or isinstance(value, int | float):
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            return str(value)
        return str(babel_numbers.format_decimal(number, locale=get_locale()))
    return str(value)


def why(decision: RiskDecision | None) -> Why | None:
    if decision is None:
        return None
    fired = [
        FiredRow(
            code=str(r.get("rule", "")),
            version=int(r.get("version", 0)),
            outcome_label=gettext(OUTCOME_LABELS.get(str(r.get("outcome")), str(r.get("outcome")))),
            live=not r.get("shadow", False),
            score=int(r.get("score", 0)),
        )
        for r in decision.fired or []
    ]
    values = decision.features or {}
    order = [f.name for f in risk_features.CATALOG if f.name in values]
    order += sorted(k for k in values if k not in _FEATURES)
    rows = [
        FeatureRow(
            name=k,
            label=gettext(_FEATURES[k].description) if k in _FEATURES else k,
            value=value_text(k, values[k]),
        )
        for k in order
    ]
    outcome = "step_up" if decision.step_up and decision.outcome == "allow" else decision.outcome
    return Why(
        outcome_label=gettext(OUTCOME_LABELS.get(outcome, outcome)),
        score=decision.score,
        reason_text=risk_reasons.reason_text(decision.reason),
        fired=fired,
        features=rows,
    )


def _decision(
    session: Session, case: Case, entry: dict[str, Any], op: Operation | None
) -> Why | None:
    found = None
    if entry.get("decision_id"):
        found = risk_engine.get_decision(session, int(entry["decision_id"]))
    if found is None and op is not None:
        found = risk_engine.decision_for(session, op.id)
    if found is None or found.user_id != case.user_id:
        return None
    return why(found)


def _when(raw: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(raw)) if raw else None
    except ValueError:
        return None


def risk_view(session: Session, case: Case) -> RiskView | None:
    """The case's held operations and blocked attempts with why (None: not a risk review)."""
    if case.type != risk_review.TYPE or case.user_id is None:
        return None
    ops = {op.id: op for op in risk_review.held_operations(session, case)}
    held = []
    for entry in (case.details or {}).get("held", []):
        op = ops.get(int(entry["operation_id"]))
        if op is None:
            continue
        where = actions.counterparty_text(session, op)
        key = next(iter(where))
        held.append(
            HeldRow(
                reference=op.reference,
                type_label=type_label(op.type),
                status=op.status,
                status_label=operation_status_label(op.status),
                on_hold=op.status == OperationStatus.on_hold.value,
                amount=format_money(op.amount, op.currency),
                fee=format_money(op.fee, op.currency),
                counterparty_label=gettext(changes.FIELD_LABELS[key]),
                counterparty=where[key],
                created_at=op.created_at,
                why=_decision(session, case, entry, op),
            )
        )
    blocked = []
    for entry in reversed((case.details or {}).get("blocked", [])):
        blocked.append(
            BlockedRow(
                operation=gettext(OPERATION_LABELS.get(str(entry.get("operation")), ""))
                or str(entry.get("operation", "")),
                amount=format_money(int(entry["amount"]), str(entry["currency"]))
                if entry.get("amount") and entry.get("currency")
                else "—",
                at=_when(entry.get("at")),
                why=_decision(session, case, entry, None),
            )
        )
    return RiskView(held=held, blocked=blocked)

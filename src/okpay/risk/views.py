"""What the staff pages, the admin API and the CLI show about rules: list rows with recent
hits, each version against the one before it, the audit trail, and the form's values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.audit import AuditEvent
from okpay.core.i18n import N_, gettext
from okpay.identity.models import User
from okpay.risk import backtest, features, rules
from okpay.risk.models import OUTCOME_LABELS, STATUS_LABELS, RiskRule, RiskRuleVersion
from okpay.wallet import risk_reasons

FIELD_LABELS = {
    "code": N_("Rule code"),
    "description": N_("Rule description"),
    "operations": N_("Operations"),
    "condition": N_("Condition"),
    "score": N_("Score"),
    "outcome": N_("Outcome"),
    "reason": N_("Customer reason"),
    "status": N_("Status"),
}
AUDIT_LABELS = {
    "risk_rule_created": N_("Rule created"),
    "risk_rule_changed": N_("Rule changed"),
    "risk_rule_status": N_("Status changed"),
}
# Where a rule may go from each status (the buttons on its page).
NEXT_STATUSES = {
    "draft": ("shadow",),
    "shadow": ("live", "paused", "draft"),
    "live": ("shadow", "paused"),
    "paused": ("shadow", "draft"),
}
STATUS_ACTIONS = {
    "shadow": N_("Run in shadow"),
    "live": N_("Go live"),
    "paused": N_("Pause"),
    "draft": N_("Back to draft"),
}


def label(table: dict[str, str], key: str | None) -> str:
    return gettext(table[key]) if key in table else (key or "—")


def description_text(text: str) -> str:
    """A rule's description in the reader's language (shipped ones are translated)."""
    return gettext(text) if text else ""


def operations_text(ops: list[str]) -> str:
    return ", ".join(label(rules.OPERATION_LABELS, o) for o in ops)


SYSTEM_NOTES = {"created": N_("Rule created"), "shipped default": N_("Shipped default")}


def note_text(note: str) -> str:
    """A version's note; the ones OKPay writes itself in the reader's language."""
    return gettext(SYSTEM_NOTES[note]) if note in SYSTEM_NOTES else note


def reason_text(reason: str | None) -> str:
    return gettext(risk_reasons.REASONS[reason]) if reason in risk_reasons.REASONS else "—"


def names(session: Session, user_ids: list[int | None]) -> dict[int, str]:
    ids = sorted({u for u in user_ids if u})
    if not ids:
        return {}
    return {u.id: u.display_name for u in session.scalars(select(User).where(User.id.in_(ids)))}


@dataclass(frozen=True)
class RuleRow:
    rule: RiskRule
    description: str
    op_labels: list[str]
    outcome: str
    status: str
    changed_by: str
    hits_24h: int
    hits_7d: int


def rule_rows(session: Session) -> list[RuleRow]:
    found = rules.list_rules(session)
    hits = backtest.recent_hits(session, [r.code for r in found])
    who = names(session, [r.updated_by_user_id for r in found])
    return [
        RuleRow(
            r,
            description_text(r.description),
            [label(rules.OPERATION_LABELS, o) for o in r.operations],
            label(OUTCOME_LABELS, r.outcome),
            label(STATUS_LABELS, r.status),
            who.get(r.updated_by_user_id or 0, gettext("OKPay")),
            *hits.get(r.code, (0, 0)),
        )
        for r in found
    ]


@dataclass(frozen=True)
class Change:
    field: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class VersionView:
    version: RiskRuleVersion
    by: str
    changes: list[Change]


def _shown(key: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if key == "operations":
        return operations_text(list(value))
    if key == "outcome":
        return label(OUTCOME_LABELS, value)
    if key == "status":
        return label(STATUS_LABELS, value)
    if key == "reason":
        return reason_text(value)
    if key == "description":
        return description_text(str(value))
    return str(value)


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Change]:
    """What one version changed against the one before it (everything, for the first)."""
    out = []
    for key in FIELD_LABELS:
        old = None if before is None else before.get(key)
        new = after.get(key)
        if before is None or old != new:
            out.append(
                Change(
                    key,
                    gettext(FIELD_LABELS[key]),
                    "" if before is None else _shown(key, old),
                    _shown(key, new),
                )
            )
    return out


def version_views(session: Session, rule_id: int) -> list[VersionView]:
    found = rules.versions(session, rule_id)  # newest first
    who = names(session, [v.changed_by_user_id for v in found])
    out = []
    for i, v in enumerate(found):
        previous = found[i + 1].snapshot if i + 1 < len(found) else None
        out.append(
            VersionView(
                v, who.get(v.changed_by_user_id or 0, gettext("OKPay")), diff(previous, v.snapshot)
            )
        )
    return out


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    action: str
    by: str
    details: str


def audit_trail(session: Session, rule_id: int, *, limit: int = 100) -> list[AuditLine]:
    """The audit rows about this rule, under any code it has had, newest first."""
    codes = sorted({str(v.snapshot.get("code")) for v in rules.versions(session, rule_id)})
    rows = list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "risk_rule", AuditEvent.object_id.in_(codes))
            .order_by(AuditEvent.id.desc())
            .limit(limit)
        )
    )
    who = names(session, [r.actor_user_id for r in rows])
    out = []
    for r in rows:
        data = r.data or {}
        parts = []
        if "version" in data:
            parts.append(gettext("version %(n)s", n=data["version"]))
        if "before" in data and "after" in data:
            parts.append(
                f"{label(STATUS_LABELS, data['before'])} → {label(STATUS_LABELS, data['after'])}"
            )
        if data.get("changed"):
            parts.append(", ".join(label(FIELD_LABELS, k) for k in str(data["changed"]).split(",")))
        if "status" in data and "before" not in data:
            parts.append(label(STATUS_LABELS, data["status"]))
        out.append(
            AuditLine(
                r.at,
                label(AUDIT_LABELS, r.action),
                who.get(r.actor_user_id or 0, gettext("OKPay")),
                " · ".join(parts),
            )
        )
    return out


# ------------------------------------------------------------------------- the form


def form_values(rule: RiskRule | None = None) -> dict[str, Any]:
    if rule is None:
        return {
            "code": "",
            "description": "",
            "operations": ["transfer"],
            "condition": "",
            "score": "50",
            "outcome": "step_up",
            "reason": "security_review",
            "note": "",
        }
    return {
        "code": rule.code,
        "description": rule.description,
        "operations": list(rule.operations),
        "condition": rule.condition,
        "score": str(rule.score),
        "outcome": rule.outcome,
        "reason": rule.reason,
        "note": "",
    }


def spec_from(values: dict[str, Any]) -> rules.RuleSpec:
    """A spec from what was typed; a score that is not a number is refused on its field."""
    try:
        score = int(str(values.get("score", "")).strip())
    except ValueError:
        raise rules.RuleInvalid(N_("The score is a number from 0 to 100."), field="score") from None
    return rules.RuleSpec(
        code=str(values.get("code", "")),
        description=str(values.get("description", "")),
        operations=list(values.get("operations") or []),
        condition=str(values.get("condition", "")),
        score=score,
        outcome=str(values.get("outcome", "")),
        reason=str(values.get("reason", "")),
    )


def choices() -> dict[str, Any]:
    """The form's choice lists and the feature catalogue, in the reader's language."""
    return {
        "operation_choices": [(o, gettext(rules.OPERATION_LABELS[o])) for o in rules.OPERATIONS],
        "outcome_choices": [(o, gettext(OUTCOME_LABELS[o])) for o in ("step_up", "hold", "block")],
        "reason_choices": [(k, gettext(v)) for k, v in risk_reasons.REASONS.items()],
        "catalog": [(f.name, kind_text(f.kind), gettext(f.description)) for f in features.CATALOG],
    }


KIND_LABELS = {"number": N_("number"), "yes/no": N_("yes/no"), "text": N_("text")}


def kind_text(kind: str) -> str:
    return label(KIND_LABELS, kind)

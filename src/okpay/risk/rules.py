"""Rules as data: create, change (each change a new version, audited), move between draft,
shadow, live and paused, and the compiled set the engine evaluates.

The compiled set is cached per process and reloaded when any rule's ``updated_at`` is newer
than the cache (checked at most every few seconds), so a change made on one server takes
effect on the others within that time."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import Conflict, NotFound, ValidationFailed
from okpay.core.i18n import N_
from okpay.risk import conditions, features
from okpay.risk.models import RiskRule, RiskRuleVersion, RuleOutcome, RuleStatus
from okpay.wallet import risk_reasons as reasons

OPERATIONS = (
    "transfer",
    "withdrawal",
    "payment",
    "card_topup",
    "add_card",
    "add_bank_account",
    "sign_in",
    "password_reset",
    "contact_change",
)
HOLDABLE = frozenset({"transfer", "withdrawal"})
# A second factor can be asked before money moves; elsewhere a rule can only block.
STEP_UP = frozenset({"transfer", "withdrawal", "payment", "card_topup"})
OPERATION_LABELS = {
    "transfer": N_("Transfers"),
    "withdrawal": N_("Withdrawals"),
    "payment": N_("Merchant payments"),
    "card_topup": N_("Card top-ups"),
    "add_card": N_("Adding a card"),
    "add_bank_account": N_("Adding a bank account"),
    "sign_in": N_("Sign-in"),
    "password_reset": N_("Password reset"),
    "contact_change": N_("E-mail or phone change"),
}
CODE_RE = re.compile(r"^[a-z][a-z0-9_]{2,47}$")
CACHE_SECONDS = 3.0


class RuleNotFound(NotFound):
    code = "rule_not_found"
    message = N_("There is no such rule.")


class RuleCodeTaken(Conflict):
    code = "rule_code_taken"
    message = N_("Another rule already has this code.")
    field = "code"


class RuleInvalid(ValidationFailed):
    code = "rule_invalid"


class RuleChanged(Conflict):
    code = "rule_changed"
    message = N_("Someone changed this rule while you were editing it. Reload it and try again.")


@dataclass(frozen=True)
class RuleSpec:
    """What an administrator writes: everything but status and version."""

    code: str
    description: str
    operations: list[str]
    condition: str
    score: int
    outcome: str
    reason: str


@dataclass(frozen=True)
class LiveRule:
    """A rule as the engine evaluates it (compiled once)."""

    id: int
    code: str
    version: int
    operations: frozenset[str]
    test: conditions.Compiled
    score: int
    outcome: str
    reason: str
    shadow: bool


def check_spec(spec: RuleSpec) -> RuleSpec:
    """Refuse a rule that cannot work, naming the field; returns it cleaned."""
    code = (spec.code or "").strip().lower()
    if not CODE_RE.match(code):
        raise RuleInvalid(
            N_("Use 3 to 48 lower-case letters, digits or underscores, starting with a letter."),
            field="code",
        )
    ops = sorted(set(spec.operations or []))
    if not ops:
        raise RuleInvalid(N_("Choose at least one operation."), field="operations")
    unknown = [o for o in ops if o not in OPERATIONS]
    if unknown:
        raise RuleInvalid(N_("Unknown operation: %(op)s."), field="operations", op=unknown[0])
    if spec.outcome not in {o.value for o in RuleOutcome}:
        raise RuleInvalid(N_("Choose step-up, hold or block."), field="outcome")
    if spec.outcome == RuleOutcome.hold.value and not set(ops) <= HOLDABLE:
        raise RuleInvalid(
            N_("Only transfers and withdrawals can be held for review; block the others."),
            field="outcome",
        )
    if spec.outcome == RuleOutcome.step_up.value and not set(ops) <= STEP_UP:
        raise RuleInvalid(
            N_(
                "A second factor can only be asked before money moves (transfers, withdrawals, "
                "payments, card top-ups); block the others."
            ),
            field="outcome",
        )
    if spec.reason not in reasons.REASONS:
        raise RuleInvalid(N_("Choose the reason the customer is shown."), field="reason")
    if not 0 <= int(spec.score) <= 100:
        raise RuleInvalid(N_("The score is a number from 0 to 100."), field="score")
    conditions.compile_condition(spec.condition, features.NAMES)
    description = (spec.description or "").strip()[:500]
    return RuleSpec(
        code, description, ops, spec.condition.strip(), int(spec.score), spec.outcome, spec.reason
    )


def snapshot(rule: RiskRule) -> dict[str, Any]:
    return {
        "code": rule.code,
        "description": rule.description,
        "operations": list(rule.operations),
        "condition": rule.condition,
        "score": rule.score,
        "outcome": rule.outcome,
        "reason": rule.reason,
        "status": rule.status,
    }


def _version(session: Session, rule: RiskRule, actor_id: int | None, note: str) -> None:
    session.add(
        RiskRuleVersion(
            rule_id=rule.id,
            version=rule.version,
            snapshot=snapshot(rule),
            note=note[:500],
            changed_by_user_id=actor_id,
            changed_at=rule.updated_at,
        )
    )


def _new_version(
    session: Session, rule: RiskRule, actor_id: int | None, note: str, action: str, **data: Any
) -> RiskRule:
    """A changed rule's next version: stamped, snapshotted, audited, and every process's
    compiled set refreshed."""
    rule.version += 1
    rule.updated_at, rule.updated_by_user_id = clock.now(), actor_id
    session.flush()
    _version(session, rule, actor_id, note)
    audit.record(
        session,
        action,
        actor_user_id=actor_id,
        object_type="risk_rule",
        object_id=rule.code,
        version=rule.version,
        **data,
    )
    forget_cache()
    return rule


def do_create_rule(
    session: Session,
    *,
    spec: RuleSpec,
    actor_id: int | None,
    status: RuleStatus = RuleStatus.draft,
    note: str = "",
) -> RiskRule:
    """A new rule (a draft unless ``status``), version 1, audited."""
    spec = check_spec(spec)
    if session.scalar(select(RiskRule.id).where(RiskRule.code == spec.code)) is not None:
        raise RuleCodeTaken()
    now = clock.now()
    rule = RiskRule(
        code=spec.code,
        description=spec.description,
        operations=spec.operations,
        condition=spec.condition,
        score=spec.score,
        outcome=spec.outcome,
        reason=spec.reason,
        status=status.value,
        version=1,
        created_at=now,
        updated_at=now,
        updated_by_user_id=actor_id,
    )
    session.add(rule)
    session.flush()
    _version(session, rule, actor_id, note or "created")
    audit.record(
        session,
        "risk_rule_created",
        actor_user_id=actor_id,
        object_type="risk_rule",
        object_id=rule.code,
        status=rule.status,
    )
    forget_cache()
    return rule


def get_rule(session: Session, rule_id: int) -> RiskRule:
    rule = session.get(RiskRule, rule_id)
    if rule is None:
        raise RuleNotFound()
    return rule


def find_rule(session: Session, code: str) -> RiskRule | None:
    return session.scalar(select(RiskRule).where(RiskRule.code == code))


def _locked(session: Session, rule_id: int, expected_version: int | None) -> RiskRule:
    rule = session.scalar(select(RiskRule).where(RiskRule.id == rule_id).with_for_update())
    if rule is None:
        raise RuleNotFound()
    if expected_version is not None and rule.version != expected_version:
        raise RuleChanged()
    return rule


def do_update_rule(
    session: Session,
    *,
    rule_id: int,
    spec: RuleSpec,
    actor_id: int | None,
    note: str = "",
    expected_version: int | None = None,
) -> RiskRule:
    """Change a rule's definition: a new version, audited with what changed. A live rule
    whose definition changes goes back to shadow, so a new condition is watched before it
    acts."""
    spec = check_spec(spec)
    rule = _locked(session, rule_id, expected_version)
    if spec.code != rule.code and find_rule(session, spec.code) is not None:
        raise RuleCodeTaken()
    before = snapshot(rule)
    rule.code, rule.description, rule.operations = spec.code, spec.description, spec.operations
    rule.condition, rule.score, rule.outcome, rule.reason = (
        spec.condition,
        spec.score,
        spec.outcome,
        spec.reason,
    )
    changed = [k for k, v in snapshot(rule).items() if before[k] != v]
    if not changed:
        return rule
    if rule.status == RuleStatus.live.value and set(changed) & {
        "condition",
        "operations",
        "outcome",
    }:
        rule.status = RuleStatus.shadow.value
        changed.append("status")
    return _new_version(
        session, rule, actor_id, note, "risk_rule_changed", changed=",".join(changed)
    )


def do_set_status(
    session: Session,
    *,
    rule_id: int,
    status: RuleStatus,
    actor_id: int | None,
    note: str = "",
    expected_version: int | None = None,
) -> RiskRule:
    """Move a rule to draft, shadow, live or paused: a new version, audited."""
    rule = _locked(session, rule_id, expected_version)
    if rule.status == status.value:
        return rule
    before = rule.status
    rule.status = status.value
    return _new_version(
        session, rule, actor_id, note, "risk_rule_status", before=before, after=status.value
    )


def list_rules(session: Session) -> list[RiskRule]:
    return list(session.scalars(select(RiskRule).order_by(RiskRule.code)))


def versions(session: Session, rule_id: int) -> list[RiskRuleVersion]:
    return list(
        session.scalars(
            select(RiskRuleVersion)
            .where(RiskRuleVersion.rule_id == rule_id)
            .order_by(RiskRuleVersion.version.desc())
        )
    )


def compile_rule(
    rule: RiskRule | RuleSpec, *, rule_id: int = 0, version: int = 0, shadow: bool = False
) -> LiveRule:
    return LiveRule(
        id=getattr(rule, "id", rule_id) or rule_id,
        code=rule.code,
        version=getattr(rule, "version", version) or version,
        operations=frozenset(rule.operations),
        test=conditions.compile_condition(rule.condition, features.NAMES),
        score=rule.score,
        outcome=rule.outcome,
        reason=rule.reason,
        shadow=shadow,
    )


# ------------------------------------------------------------------------ the compiled set


class _Cache:
    """Per database (tests and tools may use several in one process)."""

    lock = threading.Lock()
    stamp: dict[int, tuple[int, datetime | None]] = {}
    checked_at: dict[int, float] = {}
    by_operation: dict[int, dict[str, tuple[LiveRule, ...]]] = {}


def forget_cache() -> None:
    with _Cache.lock:
        _Cache.stamp.clear()
        _Cache.checked_at.clear()


def active_rules(session: Session, operation: str) -> tuple[LiveRule, ...]:
    """The live and shadow rules for ``operation``, compiled."""
    key = id(session.get_bind())
    now = time.monotonic()
    if key not in _Cache.stamp or now - _Cache.checked_at.get(key, 0.0) > CACHE_SECONDS:
        stamp_row = session.execute(select(func.count(), func.max(RiskRule.updated_at))).one()
        stamp = (int(stamp_row[0]), stamp_row[1])
        if stamp != _Cache.stamp.get(key):
            _load(session, key, stamp)
        _Cache.checked_at[key] = now
    return _Cache.by_operation.get(key, {}).get(operation, ())


def _load(session: Session, key: int, stamp: tuple[int, datetime | None]) -> None:
    rows = session.scalars(
        select(RiskRule)
        .where(RiskRule.status.in_([RuleStatus.live.value, RuleStatus.shadow.value]))
        .order_by(RiskRule.id)
    )
    by_op: dict[str, list[LiveRule]] = {}
    for rule in rows:
        try:
            compiled = compile_rule(rule, shadow=rule.status == RuleStatus.shadow.value)
        except conditions.ConditionInvalid:  # saved before a feature was renamed: skip it
            continue
        for op in rule.operations:
            by_op.setdefault(op, []).append(compiled)
    with _Cache.lock:
        _Cache.by_operation[key] = {k: tuple(v) for k, v in by_op.items()}
        _Cache.stamp[key] = stamp

"""Risk rules over JSON under /api/v1/admin/risk: list, read with versions, create, change,
move between statuses, backtest (a saved rule or a draft), and recent decisions. Staff
read; supervisors and admins backtest; admins change."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.core.i18n import N_
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.risk import backtest, rules, views
from okpay.risk import schemas as s
from okpay.risk.models import RiskDecision, RiskRule, RuleStatus
from okpay.web.deps import DbSession

admin = APIRouter(prefix="/api/v1/admin/risk", tags=["admin risk"])

Staff = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]
Tester = Annotated[User, Depends(require_role(Role.supervisor, Role.admin))]
Admin = Annotated[User, Depends(require_role(Role.admin))]
Code = Annotated[str, Path(max_length=48, description="The rule's code")]


def _rule(db: Session, code: str) -> RiskRule:
    rule = rules.find_rule(db, code.strip().lower())
    if rule is None:
        raise rules.RuleNotFound()
    return rule


def rule_out(db: Session, rule: RiskRule, hits: tuple[int, int] | None = None) -> s.RuleOut:
    by = views.names(db, [rule.updated_by_user_id]).get(rule.updated_by_user_id or 0, "OKPay")
    return s.RuleOut(
        id=rule.id, code=rule.code, description=rule.description,
        description_text=views.description_text(rule.description),
        operations=list(rule.operations), condition=rule.condition, score=rule.score,
        outcome=rule.outcome, reason=rule.reason, status=rule.status, version=rule.version,
        updated_at=rule.updated_at, updated_by=by,
        hits_24h=hits[0] if hits else None, hits_7d=hits[1] if hits else None,
    )  # fmt: skip


def detail_out(db: Session, rule: RiskRule) -> s.RuleDetailOut:
    hits = backtest.recent_hits(db, [rule.code]).get(rule.code)
    base = rule_out(db, rule, hits).model_dump()
    versions = [
        s.VersionOut(
            version=v.version.version,
            snapshot=v.version.snapshot,
            changes=[s.ChangeOut(field=c.field, before=c.before, after=c.after) for c in v.changes],
            note=v.version.note,
            changed_by=v.by,
            changed_at=v.version.changed_at,
        )
        for v in views.version_views(db, rule.id)
    ]
    return s.RuleDetailOut(**base, versions=versions)


def backtest_out(result: backtest.Result) -> s.BacktestOut:
    return s.BacktestOut(
        rule=result.rule, days=result.days, since=result.since, until=result.until,
        operations=result.operations, evaluated=result.evaluated, hits=result.hits,
        customers=result.customers,
        top_customers=[s.CustomerHitsOut(**asdict(c)) for c in result.top],
        by_day=[s.DayHitsOut(day=d, hits=n) for d, n in result.by_day],
        agreement=s.AgreementOut(**asdict(result.agreement)) if result.agreement else None,
        seconds=result.seconds,
    )  # fmt: skip


def _spec(body: s.RuleIn) -> rules.RuleSpec:
    return rules.RuleSpec(
        body.code, body.description, body.operations, body.condition, body.score, body.outcome,
        body.reason,
    )  # fmt: skip


def _status(value: str) -> RuleStatus:
    if value not in {x.value for x in RuleStatus}:
        raise rules.RuleInvalid(N_("Choose draft, shadow, live or paused."), field="status")
    return RuleStatus(value)


@admin.get("/rules", response_model=list[s.RuleOut])
def list_rules(staff: Staff, db: DbSession) -> list[s.RuleOut]:
    """Every rule, with the decisions naming it in the last 24 hours and 7 days."""
    found = rules.list_rules(db)
    hits = backtest.recent_hits(db, [r.code for r in found])
    return [rule_out(db, r, hits.get(r.code)) for r in found]


@admin.get("/rules/{code}", response_model=s.RuleDetailOut)
def show_rule(code: Code, staff: Staff, db: DbSession) -> s.RuleDetailOut:
    """A rule with every version (what each changed, by whom, when, why)."""
    return detail_out(db, _rule(db, code))


@admin.post("/rules", response_model=s.RuleDetailOut, status_code=201)
def create_rule(body: s.RuleIn, user: Admin, db: DbSession) -> s.RuleDetailOut:
    """A new rule, as a draft. An invalid condition answers 422 ``rule_condition_invalid``."""
    rule = rules.do_create_rule(db, spec=_spec(body), actor_id=user.id, note=body.note)
    return detail_out(db, rule)


@admin.put("/rules/{code}", response_model=s.RuleDetailOut)
def update_rule(code: Code, body: s.RuleUpdateIn, user: Admin, db: DbSession) -> s.RuleDetailOut:
    """Change a rule (a new version); a live rule whose condition, operations or outcome
    change goes back to shadow. A stale ``expected_version`` answers 409 ``rule_changed``."""
    rule = rules.do_update_rule(
        db, rule_id=_rule(db, code).id, spec=_spec(body), actor_id=user.id, note=body.note,
        expected_version=body.expected_version,
    )  # fmt: skip
    return detail_out(db, rule)


@admin.post("/rules/{code}/status", response_model=s.RuleDetailOut)
def set_status(code: Code, body: s.StatusIn, user: Admin, db: DbSession) -> s.RuleDetailOut:
    """Move a rule to draft, shadow, live or paused (a new version, audited)."""
    rule = rules.do_set_status(
        db, rule_id=_rule(db, code).id, status=_status(body.status), actor_id=user.id,
        note=body.note, expected_version=body.expected_version,
    )  # fmt: skip
    return detail_out(db, rule)


@admin.post("/rules/{code}/backtest", response_model=s.BacktestOut)
def backtest_rule(code: Code, body: s.BacktestIn, user: Tester, db: DbSession) -> s.BacktestOut:
    """Replay the last ``days`` days of operations against the saved rule, compared with
    its stored decisions."""
    return backtest_out(backtest.run(db, rule=_rule(db, code), days=body.days))


@admin.post("/backtest", response_model=s.BacktestOut)
def backtest_draft(body: s.DraftBacktestIn, user: Tester, db: DbSession) -> s.BacktestOut:
    """Replay the last ``days`` days against an unsaved rule (nothing is stored)."""
    return backtest_out(backtest.run(db, rule=_spec(body.rule), days=body.days))


@admin.get("/decisions", response_model=s.DecisionListOut)
def list_decisions(
    staff: Staff,
    db: DbSession,
    rule: Annotated[
        str | None, Query(max_length=48, description="Decisions naming this rule")
    ] = None,
    outcome: Annotated[str | None, Query(max_length=8, description="allow, hold or block")] = None,
    operation: Annotated[str | None, Query(max_length=24)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=2**53)] = None,
    since: Annotated[datetime | None, Query(description="Made at or after (ISO 8601)")] = None,
    before: Annotated[int | None, Query(ge=1, le=2**53, description="Page: ids below")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> s.DecisionListOut:
    """Recent decisions, newest first, with the rules that fired and the feature values."""
    stmt = select(RiskDecision).order_by(RiskDecision.id.desc()).limit(limit + 1)
    if rule:
        stmt = stmt.where(backtest.fired_like(rule.strip().lower()))
    if outcome:
        stmt = stmt.where(RiskDecision.outcome == outcome)
    if operation:
        stmt = stmt.where(RiskDecision.operation == operation)
    if user_id:
        stmt = stmt.where(RiskDecision.user_id == user_id)
    if since:
        if since.tzinfo is None:  # a time without a zone is read as UTC
            since = since.replace(tzinfo=UTC)
        stmt = stmt.where(RiskDecision.created_at >= since)
    if before:
        stmt = stmt.where(RiskDecision.id < before)
    rows = list(db.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return s.DecisionListOut(
        items=[
            s.DecisionOut(
                id=d.id,
                user_id=d.user_id,
                operation=d.operation,
                operation_id=d.operation_id,
                reference=d.reference,
                amount=d.amount,
                currency=d.currency,
                outcome=d.outcome,
                step_up=d.step_up,
                score=d.score,
                reason=d.reason,
                fired=list(d.fired or []),
                features=dict(d.features or {}),
                created_at=d.created_at,
            )
            for d in rows
        ],
        next_before=rows[-1].id if more and rows else None,
    )

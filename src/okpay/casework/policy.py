"""The four-eyes policy: which actions need a second person, who may approve them, and up to
which amount one agent may act alone. Operators change it (page, API, CLI); every change is
audited. Actions without a stored row use DEFAULTS."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from okpay.casework.models import Action, ApprovalPolicy
from okpay.core import audit, clock
from okpay.core.errors import PermissionDenied, ValidationFailed
from okpay.core.i18n import N_
from okpay.identity.models import Role, User

APPROVER_ROLES = ("agent", "supervisor", "admin")


@dataclass(frozen=True)
class Rule:
    action: str
    approval_required: bool
    single_limit_cny: int | None  # one agent alone up to this amount (CNY minor units)
    approver_roles: tuple[str, ...]


_SUPERVISORS = ("supervisor", "admin")
DEFAULTS: dict[str, Rule] = {
    # Freezing protects the customer: it runs at once, reviewed afterwards by unfreezing.
    "freeze": Rule("freeze", False, None, _SUPERVISORS),
    # Small refunds (up to ¥200) by one agent; larger ones need a supervisor.
    "refund": Rule("refund", True, 20_000, _SUPERVISORS),
    "lift_restriction": Rule("lift_restriction", True, None, _SUPERVISORS),
    "unfreeze": Rule("unfreeze", True, None, _SUPERVISORS),
    "unlock": Rule("unlock", True, None, _SUPERVISORS),
    "set_verification_level": Rule("set_verification_level", True, None, _SUPERVISORS),
    "grant_limit_override": Rule("grant_limit_override", True, None, _SUPERVISORS),
    # Releasing a held payment lets money leave: a supervisor approves it. Rejecting it
    # returns the money to the customer's balance: another agent may approve.
    "release_held": Rule("release_held", True, None, _SUPERVISORS),
    "reject_held": Rule("reject_held", True, None, APPROVER_ROLES),
}


def rule_for(session: Session, action: str) -> Rule:
    """The rule in force for ``action``: the stored row, else the default."""
    row = session.get(ApprovalPolicy, action)
    if row is None:
        return DEFAULTS[action]
    return Rule(row.action, row.approval_required, row.single_limit_cny, tuple(row.approver_roles))


def all_rules(session: Session) -> list[Rule]:
    """Every action's rule, in the order of the Action enum."""
    stored = {r.action: r for r in session.scalars(select(ApprovalPolicy))}
    out = []
    for action in Action:
        row = stored.get(action.value)
        out.append(
            DEFAULTS[action.value]
            if row is None
            else Rule(
                row.action, row.approval_required, row.single_limit_cny, tuple(row.approver_roles)
            )
        )
    return out


def needs_approval(rule: Rule, amount_cny: int | None) -> bool:
    """Whether a proposal under ``rule`` waits for a second person."""
    if not rule.approval_required:
        return False
    if rule.single_limit_cny is not None and amount_cny is not None:
        return amount_cny > rule.single_limit_cny
    return True


def may_approve(rule: Rule, user: User) -> bool:
    return user.role in rule.approver_roles


def do_set_rule(
    session: Session,
    *,
    admin: User,
    action: str,
    approval_required: bool,
    single_limit_cny: int | None,
    approver_roles: list[str],
) -> Rule:
    """Change one action's rule (admins only); audited with the rule before and after."""
    if admin.role != Role.admin.value:
        raise PermissionDenied()
    if action not in DEFAULTS:
        raise ValidationFailed(N_("Unknown action."), code="action_invalid", field="action")
    roles = sorted(set(approver_roles))
    if not roles or any(r not in APPROVER_ROLES for r in roles):
        raise ValidationFailed(
            N_("Choose who may approve: agents, supervisors or admins."),
            code="approver_roles_invalid",
            field="approver_roles",
        )
    if single_limit_cny is not None and not 0 <= single_limit_cny <= 10**12:
        raise ValidationFailed(
            N_("The amount one person may approve alone must be zero or more."),
            code="single_limit_invalid",
            field="single_limit_cny",
        )
    before = rule_for(session, action)
    row = session.get(ApprovalPolicy, action)
    if row is None:
        row = ApprovalPolicy(action=action)
        session.add(row)
    row.approval_required = approval_required
    row.single_limit_cny = single_limit_cny
    row.approver_roles = roles
    row.updated_by = admin.id
    row.updated_at = clock.now()
    session.flush()
    after = rule_for(session, action)
    audit.record(
        session,
        "case_policy_changed",
        actor_user_id=admin.id,
        object_type="case_policy",
        object_id=action,
        before=_as_dict(before),
        after=_as_dict(after),
    )
    return after


def _as_dict(rule: Rule) -> dict[str, object]:
    return {
        "approval_required": rule.approval_required,
        "single_limit_cny": rule.single_limit_cny,
        "approver_roles": list(rule.approver_roles),
    }

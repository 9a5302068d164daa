"""Casework's console pages beside the ticket queues: the supervisors' approval queue
(/agent/approvals), open cases by due time (/agent/cases) and the four-eyes policy
(/agent/case-policy, edited by admins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Form, Query, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from okpay.casework import cases, changes, panel_view, policy, proposals, views
from okpay.casework.models import (
    ACTION_LABELS,
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    Case,
    Proposal,
    label,
)
from okpay.core import clock, money
from okpay.core.errors import DomainError
from okpay.core.i18n import gettext
from okpay.identity import users as identity_users
from okpay.identity import validation as identity_validation
from okpay.support import agent_pages as console
from okpay.support.console import staff
from okpay.web import forms
from okpay.web.deps import DbSession
from okpay.web.flash import flash
from okpay.web.templating import render

router = console.agent_router()
STATUS_FILTERS = ("open", *CASE_STATUS_LABELS, "all")


@dataclass
class PendingRow:
    proposal: Proposal
    case: Case
    ticket_number: str
    customer: str
    type_label: str
    action_label: str
    changes: list[changes.ChangeLine]
    proposer: str
    approver_roles: str
    can_decide: bool
    is_proposer: bool
    due_at: datetime | None


def _customer(session: Session, user_id: int | None) -> str:
    user = identity_users.get_user(session, user_id) if user_id else None
    if user is None:
        return "—"
    return f"{user.display_name} · {identity_validation.mask_email(user.email)}"


def pending_rows(session: Session, viewer: console.User) -> list[PendingRow]:
    """The approval queue as the page shows it, the case closest to its deadline first."""
    queue = proposals.pending_queue(session)
    names = staff.agent_names(session, [p.proposed_by for p, _c, _t in queue])
    out = []
    for p, c, t in queue:
        rule = policy.rule_for(session, p.action)
        out.append(
            PendingRow(
                p, c, t.number, _customer(session, c.user_id),
                label(CASE_TYPE_LABELS, c.type), label(ACTION_LABELS, p.action),
                [line for line in changes.change_lines(p) if line.changed],
                names.get(p.proposed_by, f"#{p.proposed_by}"),
                panel_view.roles_text(rule.approver_roles),
                p.proposed_by != viewer.id and policy.may_approve(rule, viewer),
                p.proposed_by == viewer.id, c.due_at,
            )
        )  # fmt: skip
    return out


@router.get("/approvals")
def approvals(request: Request, agent: console.Agent, db: DbSession) -> Response:
    return render(
        request,
        "casework/agent_approvals.html",
        section="approvals",
        rows=pending_rows(db, agent),
        now=clock.now(),
        **console.labels(),
    )


@router.get("/cases")
def case_list(
    request: Request,
    agent: console.Agent,
    db: DbSession,
    status: Annotated[str, Query(max_length=20)] = "open",
    type: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """Cases by status and type, the closest review deadline first."""
    status = status if status in STATUS_FILTERS else "open"
    type_ = type if type in CASE_TYPE_LABELS else ""
    found = cases.list_cases(db, status=status, type=type_ or None, limit=200)
    rows = [(views.summary(db, c, t), _customer(db, c.user_id), c) for c, t in found]
    return render(
        request,
        "casework/agent_cases.html",
        section="cases",
        rows=rows,
        status=status,
        type=type_,
        status_choices=[(s, label(CASE_STATUS_LABELS, s)) for s in CASE_STATUS_LABELS],
        type_choices=[(t, label(CASE_TYPE_LABELS, t)) for t in CASE_TYPE_LABELS],
        now=clock.now(),
        **console.labels(),
    )


def _policy_page(
    request: Request, db: Session, *, status_code: int = 200, error: str = "",
    error_action: str = "",
) -> Response:  # fmt: skip
    rules = [
        (r, label(ACTION_LABELS, r.action), panel_view.roles_text(r.approver_roles))
        for r in policy.all_rules(db)
    ]
    return render(
        request,
        "casework/agent_policy.html",
        status_code=status_code,
        section="case_policy",
        rules=rules,
        roles=[(r, gettext(panel_view.ROLE_LABELS[r])) for r in policy.APPROVER_ROLES],
        error=error,
        error_action=error_action,
        yuan=lambda minor: money.to_decimal_string(minor, "CNY"),
        **console.labels(),
    )


@router.get("/case-policy")
def policy_page(request: Request, agent: console.Agent, db: DbSession) -> Response:
    """Which actions need a second person, who approves, and what one agent may do alone."""
    return _policy_page(request, db)


@router.post("/case-policy/{action}")
def policy_save(
    request: Request,
    action: str,
    agent: console.Agent,
    db: DbSession,
    approval_required: console.OptForm = "",
    single_limit: console.OptForm = "",
    approver_roles: Annotated[list[str], Form()] = [],  # noqa: B006 - read only
) -> Response:
    """Change one action's rule (admins; audited before → after)."""
    try:
        limit = (
            money.parse_amount(single_limit.strip(), "CNY", field="single_limit")
            if single_limit.strip()
            else None
        )
        policy.do_set_rule(
            db, admin=agent, action=action, approval_required=bool(approval_required),
            single_limit_cny=limit, approver_roles=approver_roles,
        )  # fmt: skip
    except DomainError as err:
        forms.undo_refused(db, err)
        return _policy_page(
            request, db, status_code=err.status, error=err.translated(), error_action=action
        )
    flash(
        request,
        gettext("Policy saved: %(action)s.", action=label(ACTION_LABELS, action)),
        "success",
    )
    return console.redirect("/agent/case-policy")

"""Staff casework API under /api/v1/agent: the customer panel beside a ticket, cases,
proposals under four-eyes review, the approval queue, evidence (watermarked and audited) and
the approval policy."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from okpay.casework import access, cases, evidence, policy, proposals, views
from okpay.casework import schemas as s
from okpay.casework import service as customer_panel
from okpay.casework.models import ACTION_LABELS, label
from okpay.core.dbid import BigDbId
from okpay.identity.access import require_role
from okpay.identity.models import Role, User
from okpay.support import access as support_access
from okpay.web.deps import DbSession

Staff = Annotated[User, Depends(require_role(Role.agent, Role.supervisor, Role.admin))]
Admin = Annotated[User, Depends(require_role(Role.admin))]

router = APIRouter(prefix="/api/v1/agent", tags=["agent casework"])

StatusFilter = Literal[
    "open", "submitted", "in_review", "info_requested", "approved", "rejected", "done", "all"
]


@router.get("/cases", response_model=s.CaseList)
def list_cases(
    agent: Staff,
    db: DbSession,
    status: StatusFilter = "open",
    type: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> s.CaseList:
    """Cases by status (``open``: not yet decided), the closest review deadline first."""
    rows = cases.list_cases(db, status=status, type=type, limit=limit)
    return s.CaseList(items=[views.summary(db, c, t) for c, t in rows])


@router.get("/cases/{case_id}", response_model=s.StaffCaseRead)
def show_case(case_id: BigDbId, agent: Staff, db: DbSession) -> s.StaffCaseRead:
    return views.staff_case_read(db, access.staff_case(db, agent=agent, case_id=case_id))


@router.post("/cases/{case_id}/review", response_model=s.StaffCaseRead)
def start_review(case_id: BigDbId, agent: Staff, db: DbSession) -> s.StaffCaseRead:
    """Take the case up (the customer is told it is in review)."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    cases.do_start_review(db, case=case, agent=agent)
    return views.staff_case_read(db, case)


@router.post("/cases/{case_id}/request-info", response_model=s.StaffCaseRead)
def request_info(
    case_id: BigDbId, body: s.InfoRequestIn, agent: Staff, db: DbSession
) -> s.StaffCaseRead:
    """Ask the customer for more; the case's clock stops until they answer."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    cases.do_request_info(db, case=case, agent=agent, message=body.message)
    return views.staff_case_read(db, case)


@router.post("/cases/{case_id}/decline", response_model=s.StaffCaseRead)
def decline(case_id: BigDbId, body: s.ReasonIn, agent: Staff, db: DbSession) -> s.StaffCaseRead:
    """Turn the request down with a reason the customer reads (nothing changes)."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    cases.do_decline(db, case=case, agent=agent, reason=body.reason)
    return views.staff_case_read(db, case)


@router.post("/cases/{case_id}/proposals", response_model=s.ProposalRead, status_code=201)
def propose(case_id: BigDbId, body: s.ProposalIn, agent: Staff, db: DbSession) -> s.ProposalRead:
    """Propose an action; it runs when a second person approves (or at once where the
    policy allows one person, e.g. a freeze): ``status`` is ``pending`` or ``executed``."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    proposal = proposals.do_propose(
        db, case=case, agent=agent, action=body.action, params=body.params, reason=body.reason
    )
    return views.proposal_read(proposal)


@router.get("/proposals", response_model=list[s.PendingApproval])
def approval_queue(agent: Staff, db: DbSession) -> list[s.PendingApproval]:
    """Proposals waiting for approval, the case closest to its deadline first."""
    return [
        s.PendingApproval(proposal=views.proposal_read(p), case=views.summary(db, c, t))
        for p, c, t in proposals.pending_queue(db)
    ]


@router.post("/proposals/{proposal_id}/approve", response_model=s.ProposalRead)
def approve(
    proposal_id: BigDbId,
    agent: Staff,
    db: DbSession,
    body: s.ApproveIn | None = None,
) -> s.ProposalRead:
    """Approve and carry out (403 ``self_approval`` / ``approval_not_allowed``, 409
    ``proposal_stale`` / ``proposal_expired`` / ``proposal_not_pending``)."""
    proposal = proposals.get_proposal(db, agent=agent, proposal_id=proposal_id)
    proposals.do_approve(db, proposal=proposal, approver=agent, note=body.note if body else "")
    return views.proposal_read(proposal)


@router.post("/proposals/{proposal_id}/reject", response_model=s.ProposalRead)
def reject(proposal_id: BigDbId, body: s.ReasonIn, agent: Staff, db: DbSession) -> s.ProposalRead:
    proposal = proposals.get_proposal(db, agent=agent, proposal_id=proposal_id)
    proposals.do_reject(db, proposal=proposal, approver=agent, reason=body.reason)
    return views.proposal_read(proposal)


@router.get("/cases/{case_id}/evidence/{evidence_id}")
def open_evidence(case_id: BigDbId, evidence_id: BigDbId, agent: Staff, db: DbSession) -> Response:
    """A document of the case, for its reviewers only: images watermarked with the viewer
    and the time; every view audited."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    return evidence.view(db, case=case, agent=agent, evidence_id=evidence_id, inline=False)


@router.get("/case-policy", response_model=list[s.PolicyRule])
def show_policy(agent: Staff, db: DbSession) -> list[s.PolicyRule]:
    """Which actions need a second person, who may approve, and the one-person amount."""
    return [_rule(r) for r in policy.all_rules(db)]


@router.put("/case-policy/{action}", response_model=s.PolicyRule)
def set_policy(action: str, body: s.PolicyIn, admin: Admin, db: DbSession) -> s.PolicyRule:
    """Change one action's rule (admins); audited before → after."""
    rule = policy.do_set_rule(
        db, admin=admin, action=action, approval_required=body.approval_required,
        single_limit_cny=body.single_limit_cny, approver_roles=body.approver_roles,
    )  # fmt: skip
    return _rule(rule)


def _rule(rule: policy.Rule) -> s.PolicyRule:
    return s.PolicyRule(
        action=rule.action,
        action_label=label(ACTION_LABELS, rule.action),
        approval_required=rule.approval_required,
        single_limit_cny=rule.single_limit_cny,
        approver_roles=list(rule.approver_roles),
    )


class RevealIn(BaseModel):
    field: Literal["email", "phone"]
    reason: str = Field(max_length=300)


class RevealOut(BaseModel):
    field: str
    value: str


@router.get("/tickets/{number}/customer")
def ticket_customer(number: str, agent: Staff, db: DbSession) -> dict[str, Any]:
    """The customer panel of a ticket, masked (amounts in minor units)."""
    ticket = support_access.access_ticket(db, user=agent, number=number)
    panel = customer_panel.customer_panel(db, ticket=ticket)
    data = asdict(panel)
    data["earlier"] = [
        {"number": t.number, "subject": t.subject, "status": t.status, "created_at": t.created_at}
        for t in panel.earlier
    ]
    return data


@router.post("/tickets/{number}/reveal", response_model=RevealOut)
def reveal(number: str, body: RevealIn, agent: Staff, db: DbSession) -> RevealOut:
    """The full e-mail or phone, in this answer only; the reason is audited."""
    ticket = support_access.access_ticket(db, user=agent, number=number)
    value = customer_panel.do_reveal(
        db, ticket=ticket, agent=agent, field=body.field, reason=body.reason
    )
    return RevealOut(field=body.field, value=value)

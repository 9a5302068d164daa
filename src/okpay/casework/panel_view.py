"""What the agent's ticket page shows of a case, in words: the request, its evidence, the
wallet context, the checklist and the proposals with who may approve them. Read only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from okpay.casework import (
    access,
    actions,
    cases,
    changes,
    intake,
    policy,
    proposals,
    risk_view,
    views,
)
from okpay.casework.models import (
    ACTION_LABELS,
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    EVIDENCE_KINDS,
    OPEN_CASE_STATUSES,
    PROPOSAL_STATUS_LABELS,
    Action,
    Case,
    Proposal,
    label,
)
from okpay.core import clock
from okpay.core.i18n import N_, format_money, gettext
from okpay.identity.models import User, status_label, status_reason_label
from okpay.support.console import staff
from okpay.support.models import TEAM_LABELS
from okpay.support.models import label as support_label

ROLE_LABELS = {
    "agent": N_("Agents"),
    "supervisor": N_("Supervisors"),
    "admin": N_("Admins"),
}
HELD_ACTIONS = ("release_held", "reject_held")  # offered while a payment of the case is held
INLINE_IMAGES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def roles_text(roles: tuple[str, ...] | list[str]) -> str:
    """ "Supervisors, Admins" in the reader's language."""
    return ", ".join(gettext(ROLE_LABELS.get(r, r)) for r in roles)


def blocked_text(blocked: list[str] | dict[str, Any]) -> str:
    return ", ".join(gettext(changes.BLOCKED_LABELS.get(b, b)) for b in blocked)


@dataclass
class ProposalRow:
    proposal: Proposal
    action_label: str
    status_label: str
    changes: list[changes.ChangeLine]
    proposer: str
    decider: str
    approver_roles: str
    is_proposer: bool
    can_decide: bool


@dataclass
class EvidenceRow:
    id: int
    kind_label: str
    filename: str
    content_type: str
    url: str
    is_image: bool
    is_pdf: bool


@dataclass
class CaseView:
    case: Case
    type_label: str
    status_label: str
    is_open: bool
    breached: bool
    team_label: str
    details: list[tuple[str, str]]
    can_view_evidence: bool
    evidence: list[EvidenceRow]
    context: views.Context
    restrictions: list[dict[str, Any]]
    checklist: list[views.CheckItem]
    proposals: list[ProposalRow]
    actions: list[tuple[str, str]]
    refund_choices: list[tuple[str, str]] = field(default_factory=list)
    refund_default: str = ""
    operations: list[tuple[str, str]] = field(default_factory=list)
    levels: tuple[int, ...] = ()
    risk: risk_view.RiskView | None = None  # why a risk review's payment was held
    held_choices: list[tuple[str, str]] = field(default_factory=list)


def _details(case: Case) -> list[tuple[str, str]]:
    d = case.details or {}
    out: list[tuple[str, str]] = []
    if case.type == "appeal":
        if d.get("status"):
            out.append((gettext(N_("Account status")), status_label(str(d["status"]))))
        if d.get("status_reason"):
            out.append((gettext(N_("Reason")), status_reason_label(str(d["status_reason"]))))
        if d.get("blocked"):
            out.append((gettext(N_("Blocked operations")), blocked_text(d["blocked"])))
    elif case.type == "verification":
        out.append((gettext(N_("Level asked for")), str(d.get("level", "—"))))
        out.append((gettext(N_("Level now")), str(d.get("from_level", "—"))))
    elif case.type == "limit_increase":
        op = str(d.get("operation", ""))
        out.append((gettext(N_("Operation")), gettext(changes.OPERATION_LABELS.get(op, op))))
        period = str(d.get("period", ""))
        out.append((gettext(N_("Limit")), gettext(intake.PERIOD_LABELS.get(period, period))))
        if d.get("amount") is not None:
            out.append((gettext(N_("Amount asked for")), format_money(int(d["amount"]), "CNY")))
        days = d.get("days")
        out.append(
            (
                gettext(N_("For how long")),
                gettext(N_("%(days)s days"), days=days) if days else gettext(N_("Permanently")),
            )
        )
    elif case.type == "dispute":
        reason = str(d.get("reason", ""))
        out.append(
            (
                gettext(N_("Dispute reason")),
                gettext(intake.DISPUTE_REASON_LABELS.get(reason, reason)),
            )
        )
        out.append((gettext(N_("Transaction reference")), str(d.get("reference", "—"))))
        if d.get("duplicate_of"):
            out.append((gettext(N_("Charged again as")), str(d["duplicate_of"])))
    elif case.type == "risk_review":
        held = len(d.get("held", []))
        blocked = len(d.get("blocked", []))
        out.append((gettext(N_("Payments held")), str(held)))
        out.append((gettext(N_("Attempts blocked")), str(blocked)))
    elif case.type == "unlock":
        out.append((gettext(N_("Account e-mail")), str(d.get("account_email", "—"))))
        lost = str(d.get("lost", ""))
        out.append((gettext(N_("What was lost")), gettext(intake.LOST_LABELS.get(lost, lost))))
        out.append(
            (gettext(N_("Recent transactions given")), str(d.get("recent_transactions", "")))
        )
    return out


def _proposal_rows(session: Session, case: Case, viewer: User) -> list[ProposalRow]:
    rows = proposals.proposals_of(session, case)
    names = staff.agent_names(session, [p.proposed_by for p in rows] + [p.decided_by for p in rows])
    out = []
    for p in reversed(rows):
        rule = policy.rule_for(session, p.action)
        mine = p.proposed_by == viewer.id
        out.append(
            ProposalRow(
                proposal=p,
                action_label=label(ACTION_LABELS, p.action),
                status_label=label(PROPOSAL_STATUS_LABELS, p.status),
                changes=changes.change_lines(p),
                proposer=names.get(p.proposed_by, f"#{p.proposed_by}"),
                decider=names.get(p.decided_by or 0, ""),
                approver_roles=roles_text(rule.approver_roles),
                is_proposer=mine,
                can_decide=p.status == "pending" and not mine and policy.may_approve(rule, viewer),
            )
        )
    return out


def case_view(session: Session, *, case: Case, viewer: User) -> CaseView:
    """Everything the case panel shows to ``viewer`` (staff)."""
    ticket = cases.ticket_of(session, case)
    can_see = access.can_view_evidence(session, agent=viewer, case=case)
    evidence = []
    if can_see:
        for e, a in cases.evidence_of(session, case):
            evidence.append(
                EvidenceRow(
                    e.id, label(EVIDENCE_KINDS, e.kind), a.filename, a.content_type,
                    f"/agent/cases/{case.id}/evidence/{e.id}",
                    a.content_type in INLINE_IMAGES, a.content_type == "application/pdf",
                )
            )  # fmt: skip
    ctx = views.context(session, case)
    restrictions = [
        {**r, "blocked_text": blocked_text(r["blocked"] or [])} for r in ctx.restrictions
    ]
    refund_choices: list[tuple[str, str]] = []
    for op in [ctx.duplicate, ctx.disputed, *ctx.candidates]:
        if op is not None and op.reference not in {r for r, _ in refund_choices}:
            refund_choices.append(
                (op.reference, f"{op.reference} · {format_money(op.amount, op.currency)}")
            )
    risk = risk_view.risk_view(session, case)
    held_choices = [
        (h.reference, f"{h.reference} · {h.type_label} · {h.amount}")
        for h in (risk.held if risk else [])
        if h.on_hold
    ]
    now = clock.now()
    breached = case.breached_at is not None or (
        case.due_at is not None and case.paused_at is None and case.due_at < now
        and case.status in ("submitted", "in_review")
    )  # fmt: skip
    return CaseView(
        case=case,
        type_label=label(CASE_TYPE_LABELS, case.type),
        status_label=label(CASE_STATUS_LABELS, case.status),
        is_open=case.status in OPEN_CASE_STATUSES,
        breached=breached,
        team_label=support_label(TEAM_LABELS, cases.TEAMS.get(case.type, ticket.team)),
        details=_details(case),
        can_view_evidence=can_see,
        evidence=evidence,
        context=ctx,
        restrictions=restrictions,
        checklist=views.checklist(session, case),
        proposals=_proposal_rows(session, case, viewer),
        actions=[
            (a.value, label(ACTION_LABELS, a.value))
            for a in Action
            if a.value not in HELD_ACTIONS or held_choices
        ],
        refund_choices=refund_choices,
        refund_default=refund_choices[0][0] if refund_choices else "",
        operations=[(k, gettext(v)) for k, v in changes.OPERATION_LABELS.items()],
        levels=actions.LEVELS,
        risk=risk,
        held_choices=held_choices,
    )

"""Cases as the API and the pages show them: the customer's view, the staff view with the
checklist and the wallet context that matters for the case's type."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from okpay.casework import cases, changes, intake, proposals
from okpay.casework import schemas as s
from okpay.casework.models import (
    ACTION_LABELS,
    CASE_STATUS_LABELS,
    CASE_TYPE_LABELS,
    EVIDENCE_KINDS,
    PROPOSAL_STATUS_LABELS,
    Case,
    Proposal,
    label,
)
from okpay.core import clock
from okpay.core.i18n import N_, gettext
from okpay.identity import users as identity_users
from okpay.support.models import Ticket
from okpay.wallet import provider_events as wallet_provider_events
from okpay.wallet import standing as wallet_standing
from okpay.wallet.models import Operation


def evidence_reads(session: Session, case: Case) -> list[s.EvidenceRead]:
    return [
        s.EvidenceRead(
            id=e.id,
            kind=e.kind,
            kind_label=label(EVIDENCE_KINDS, e.kind),
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            created_at=e.created_at,
        )
        for e, a in cases.evidence_of(session, case)
    ]


def case_read(session: Session, case: Case) -> s.CaseRead:
    ticket = cases.ticket_of(session, case)
    return s.CaseRead(**_common(session, case, ticket.number))


def _common(session: Session, case: Case, number: str) -> dict[str, Any]:
    return {
        "id": case.id,
        "type": case.type,
        "type_label": label(CASE_TYPE_LABELS, case.type),
        "status": case.status,
        "status_label": label(CASE_STATUS_LABELS, case.status),
        "ticket_number": number,
        "details": case.details,
        "statement": case.statement,
        "info_request": case.info_request,
        "decision_reason": case.decision_reason,
        "decided_at": case.decided_at,
        "due_at": case.due_at,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "evidence": evidence_reads(session, case),
    }


def proposal_read(p: Proposal) -> s.ProposalRead:
    return s.ProposalRead(
        id=p.id,
        case_id=p.case_id,
        action=p.action,
        action_label=label(ACTION_LABELS, p.action),
        params=p.params,
        reason=p.reason,
        changes=[s.ChangeRead(**c.__dict__) for c in changes.change_lines(p)],
        status=p.status,
        status_label=label(PROPOSAL_STATUS_LABELS, p.status),
        needs_approval=p.needs_approval,
        proposed_by=p.proposed_by,
        proposed_at=p.proposed_at,
        expires_at=p.expires_at,
        decided_by=p.decided_by,
        decided_at=p.decided_at,
        decision_note=p.decision_note,
        result=p.result,
    )


def staff_case_read(session: Session, case: Case) -> s.StaffCaseRead:
    ticket = cases.ticket_of(session, case)
    return s.StaffCaseRead(
        **_common(session, case, ticket.number),
        user_id=case.user_id,
        team=ticket.team,
        priority=ticket.priority,
        proposals=[proposal_read(p) for p in proposals.proposals_of(session, case)],
        checklist=[c.__dict__ for c in checklist(session, case)],
        breached=case.breached_at is not None
        or (case.due_at is not None and case.paused_at is None and case.due_at < clock.now()
            and case.status in ("submitted", "in_review")),
    )  # fmt: skip


def summary(session: Session, case: Case, ticket: Ticket | None = None) -> s.CaseSummary:
    """A case in a list (pass its ``ticket`` when the list query loaded it)."""
    ticket = ticket or cases.ticket_of(session, case)
    return s.CaseSummary(
        id=case.id,
        type=case.type,
        type_label=label(CASE_TYPE_LABELS, case.type),
        status=case.status,
        status_label=label(CASE_STATUS_LABELS, case.status),
        ticket_number=ticket.number,
        user_id=case.user_id,
        team=ticket.team,
        due_at=case.due_at,
        created_at=case.created_at,
    )


@dataclass(frozen=True)
class CheckItem:
    key: str
    label: str
    done: bool


_CHECKS: dict[str, list[tuple[str, str]]] = {
    "appeal": [
        ("statement", N_("The customer's statement is read")),
        ("restriction", N_("Who restricted the account, and why, is checked")),
        ("evidence", N_("The evidence supports lifting it")),
    ],
    "verification": [
        ("id", N_("ID document: front and back, or passport")),
        ("address", N_("Proof of address")),
        ("income", N_("Proof of income or funds (level 2)")),
        ("name", N_("The name on the documents matches the account")),
    ],
    "limit_increase": [
        ("usage", N_("Recent usage of the limit is reviewed")),
        ("funds", N_("Source of funds is plausible for the amount")),
    ],
    "dispute": [
        ("transaction", N_("The disputed transaction is found")),
        ("duplicate", N_("A duplicate is compared (same merchant, amount, time)")),
        ("refundable", N_("What is left to refund is checked")),
    ],
    "unlock": [
        ("id", N_("ID document: front and back, or passport")),
        ("name", N_("The name on the documents matches the account")),
        ("answers", N_("The recent transactions given match the account")),
    ],
    "freeze": [
        ("contact", N_("The customer is reached and confirms what happened")),
        ("activity", N_("Recent sign-ins and payments are reviewed")),
    ],
    "risk_review": [
        ("why", N_("Why it was held is read: the rules that fired and the values they read")),
        ("contact", N_("The customer is reached and confirms the payment, or not")),
        ("activity", N_("Recent sign-ins and payments are reviewed")),
    ],
}


def checklist(session: Session, case: Case) -> list[CheckItem]:
    """What a reviewer checks for this kind of case; items the system can tell are ticked."""
    kinds = {e.kind for e, _a in cases.evidence_of(session, case)}
    auto = {
        "statement": bool(case.statement.strip()),
        "id": {"id_front", "id_back"} <= kinds or "passport" in kinds,
        "address": "address" in kinds,
        "income": "income" in kinds or case.details.get("level") != 2,
        "evidence": bool(kinds),
        "transaction": bool(case.details.get("reference")),
        "duplicate": bool(case.details.get("duplicate_of"))
        or case.details.get("reason") != "charged_twice",
    }
    return [CheckItem(key, gettext(text), auto.get(key, False)) for key, text in _CHECKS[case.type]]


@dataclass
class Context:
    """The wallet context a reviewer needs beside the case."""

    account_name: str = ""
    account_email: str = ""
    status: str = ""
    status_reason: str = ""
    level: int = 0
    restrictions: list[dict[str, Any]] = field(default_factory=list)
    disputed: Operation | None = None
    duplicate: Operation | None = None
    candidates: list[Operation] = field(default_factory=list)
    refunded: int = 0


def context(session: Session, case: Case) -> Context:
    out = Context()
    if case.user_id is None:
        return out
    user = identity_users.get_user(session, case.user_id)
    if user is None:
        return out
    st = wallet_standing.standing(session, user.id)
    out.account_name, out.account_email = user.display_name, user.email
    out.status, out.status_reason, out.level = (
        st.status,
        st.status_reason or "",
        st.verification_level,
    )
    for r in wallet_standing.active_restrictions(session, user.id):
        by = identity_users.get_user(session, r.created_by) if r.created_by else None
        out.restrictions.append(
            {"blocked": r.blocked, "reason": r.reason, "by": by.display_name if by else "OKPay",
             "at": r.created_at}
        )  # fmt: skip
    ref = case.details.get("reference")
    if ref:
        op = wallet_provider_events.find_by_reference(session, ref)
        if op is not None and op.user_id == user.id:
            out.disputed = op
            out.candidates = intake.duplicate_candidates(session, op=op)
            from okpay.wallet import merchants as wallet_merchants

            out.refunded = wallet_merchants.refunded_total(session, op.id)
    dup = case.details.get("duplicate_of")
    if dup:
        op = wallet_provider_events.find_by_reference(session, dup)
        if op is not None and op.user_id == user.id:
            out.duplicate = op
    return out

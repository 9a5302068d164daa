"""A case's life: opened with its ticket, reviewed, waiting for the customer, decided, done.

Each change is one unit of work with the ticket's status and history, the audit row and the
customer's e-mail (sent after commit). The review clock runs in business hours and stops while
the case waits for the customer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.casework import emails
from okpay.casework.intake import Checked
from okpay.casework.models import (
    CASE_TYPE_LABELS,
    OPEN_CASE_STATUSES,
    Case,
    CaseEvidence,
    CaseStatus,
    Proposal,
    ProposalStatus,
)
from okpay.core import audit, clock
from okpay.core.errors import Conflict, ValidationFailed
from okpay.core.i18n import N_, gettext, use_locale
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support import checks as support_checks
from okpay.support import events as ticket_events
from okpay.support import files as support_files
from okpay.support import messages as ticket_messages
from okpay.support import sla
from okpay.support import status as ticket_status
from okpay.support import tickets as support_tickets
from okpay.support.models import MessageKind, Status, Ticket, TicketAttachment, TicketMessage

REVIEW_HOURS = 48  # business hours
# Case types reviewed within calendar hours instead (money the customer is waiting for).
CALENDAR_REVIEW_HOURS = {"risk_review": 24}
TEAMS = {
    "appeal": "compliance",
    "verification": "compliance",
    "limit_increase": "compliance",
    "dispute": "frontline",
    "unlock": "security",
    "freeze": "security",
    "risk_review": "security",
}
CATEGORIES = {
    "appeal": "account_restricted",
    "verification": "limit_increase",
    "limit_increase": "limit_increase",
    "dispute": "duplicate_charge",
    "unlock": "account_locked",
    "freeze": "suspicious_activity",
    "risk_review": "suspicious_activity",
}
MAX_EVIDENCE = 12


class CaseAlreadyOpen(Conflict):
    code = "case_already_open"
    message = N_("You already have an open request of this kind: %(number)s.")


class CaseNotOpen(Conflict):
    code = "case_not_open"
    message = N_("This request has already been decided.")


@dataclass(frozen=True)
class EvidenceFile:
    kind: str
    file: support_files.CheckedFile


def ticket_of(session: Session, case: Case) -> Ticket:
    ticket = session.get(Ticket, case.ticket_id)
    assert ticket is not None
    return ticket


def case_for_ticket(session: Session, ticket: Ticket) -> Case | None:
    return session.scalar(select(Case).where(Case.ticket_id == ticket.id))


def cases_of(session: Session, *, user: User, limit: int = 100) -> list[Case]:
    """The customer's cases, newest first (those on tickets they asked for)."""
    return list(
        session.scalars(
            select(Case)
            .join(Ticket, Ticket.id == Case.ticket_id)
            .where(Ticket.requester_user_id == user.id)
            .order_by(Case.id.desc())
            .limit(limit)
        )
    )


def list_cases(
    session: Session, *, status: str = "open", type: str | None = None, limit: int = 100
) -> list[tuple[Case, Ticket]]:
    """Cases with their tickets, by status (``open``: not yet decided; ``all``) and type, the
    closest review deadline first (what the console, the API and the CLI list)."""
    stmt = select(Case, Ticket).join(Ticket, Ticket.id == Case.ticket_id)
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_CASE_STATUSES))
    elif status != "all":
        stmt = stmt.where(Case.status == status)
    if type:
        stmt = stmt.where(Case.type == type)
    stmt = stmt.order_by(Case.due_at.is_(None), Case.due_at, Case.id).limit(limit)
    return [(case, ticket) for case, ticket in session.execute(stmt)]


def open_case_of_type(session: Session, *, user_id: int, type: str) -> Case | None:
    return session.scalar(
        select(Case)
        .where(Case.user_id == user_id, Case.type == type, Case.status.in_(OPEN_CASE_STATUSES))
        .order_by(Case.id.desc())
        .limit(1)
    )


def _subject(checked: Checked) -> str:
    title = gettext(CASE_TYPE_LABELS[checked.type])
    ref = checked.details.get("reference")
    return f"{title} · {ref}" if ref else title


def do_open_case(
    session: Session,
    *,
    checked: Checked,
    user: User | None,
    files: Sequence[EvidenceFile] = (),
    channel: str = "web",
    mail: bool = True,
) -> Case:
    """Open a case and the ticket it is discussed on; the customer is e-mailed its number
    (unless ``mail`` is False: the caller writes its own e-mail)."""
    subject_user_id = user.id if user is not None else checked.account_user_id
    if user is not None and subject_user_id is not None:
        existing = open_case_of_type(session, user_id=subject_user_id, type=checked.type)
        same = existing is not None and (
            checked.type != "dispute"
            or existing.details.get("reference") == checked.details.get("reference")
        )
        if existing is not None and same:
            raise CaseAlreadyOpen(number=ticket_of(session, existing).number)
    if len(files) > MAX_EVIDENCE:
        raise ValidationFailed(
            N_("Send at most %(max)s files with one request."),
            code="too_many_files", field="files", max=MAX_EVIDENCE,
        )  # fmt: skip
    body = checked.statement or gettext(CASE_TYPE_LABELS[checked.type])
    ticket = support_tickets.do_open_ticket(
        session,
        support_tickets.NewTicket(
            channel=channel,
            subject=_subject(checked),
            body=body,
            name=checked.contact_name,
            email=checked.contact_email,
            user=user,
            category=CATEGORIES[checked.type],
            references=checked.references,
            files=[f.file for f in files],
            tags=["case", checked.type],
            acknowledge=False,
        ),
    )
    # A payment the customer did not make is fraud: security reviews it, as urgent.
    fraud = checked.type == "dispute" and checked.details.get("reason") == "not_made_by_me"
    ticket.team = "security" if fraud else TEAMS[checked.type]
    ticket.priority = "urgent" if checked.urgent or checked.type == "freeze" else "high"
    now = clock.now()
    sla.set_due_times(session, ticket, start=now)
    case = Case(
        ticket_id=ticket.id,
        user_id=subject_user_id,
        type=checked.type,
        status=CaseStatus.submitted.value,
        details=checked.details,
        statement=checked.statement,
        due_at=review_due(session, checked.type, now),
        created_at=now,
        updated_at=now,
    )
    session.add(case)
    session.flush()
    stored = ticket_messages.list_attachments(session, ticket)
    for item, row in zip(files, stored, strict=False):
        session.add(CaseEvidence(case_id=case.id, attachment_id=row.id, kind=item.kind,
                                 created_at=now))  # fmt: skip
    ticket_events.record_event(
        session, ticket, "case_opened", actor=user, case_id=case.id, case_type=case.type
    )
    audit.record(
        session, "case_opened", actor_user_id=user.id if user else None,
        subject_user_id=subject_user_id, object_type="case", object_id=case.id,
        type=case.type, ticket=ticket.number,
    )  # fmt: skip
    session.flush()
    if mail:
        emails.mail_case(session, case=case, ticket=ticket)
    return case


def review_due(session: Session, type: str, start: datetime) -> datetime:
    """When a case opened at ``start`` must be decided: 48 business hours, or the calendar
    hours its type promises."""
    if type in CALENDAR_REVIEW_HOURS:
        return start + timedelta(hours=CALENDAR_REVIEW_HOURS[type])
    return sla.calendar(session).add(start, REVIEW_HOURS * 3600)


def evidence_of(session: Session, case: Case) -> list[tuple[CaseEvidence, TicketAttachment]]:
    """The case's files with what each is, oldest first."""
    rows = session.execute(
        select(CaseEvidence, TicketAttachment)
        .join(TicketAttachment, TicketAttachment.id == CaseEvidence.attachment_id)
        .where(CaseEvidence.case_id == case.id)
        .order_by(CaseEvidence.id)
    )
    return [(e, a) for e, a in rows]


def do_add_evidence(
    session: Session,
    *,
    case: Case,
    user: User | None,
    files: Sequence[EvidenceFile],
    body: str = "",
) -> TicketMessage:
    """The customer adds files (and a note) to their case; a case waiting for them goes back
    to review."""
    if case.status not in OPEN_CASE_STATUSES:
        raise CaseNotOpen()
    if not files and not body.strip():
        raise ValidationFailed(
            N_("Choose at least one file."), code="files_required", field="files"
        )
    count = len(evidence_of(session, case))
    if count + len(files) > MAX_EVIDENCE * 2:
        raise ValidationFailed(
            N_("Send at most %(max)s files with one request."),
            code="too_many_files", field="files", max=MAX_EVIDENCE * 2,
        )  # fmt: skip
    ticket = ticket_of(session, case)
    text = body.strip() or gettext(N_("Files added to the request."))
    message = ticket_messages.do_customer_message(
        session, ticket=ticket, body=text, channel="web", author=user,
        files=[f.file for f in files],
    )  # fmt: skip
    stored = [
        a for a in ticket_messages.list_attachments(session, ticket) if a.message_id == message.id
    ]
    now = clock.now()
    for item, row in zip(files, stored, strict=False):
        existing = session.scalar(select(CaseEvidence).where(CaseEvidence.attachment_id == row.id))
        if existing is None:
            session.add(CaseEvidence(case_id=case.id, attachment_id=row.id, kind=item.kind,
                                     created_at=now))  # fmt: skip
        else:
            existing.kind = item.kind
    session.flush()
    return message


def customer_replied(session: Session, ticket: Ticket, message: TicketMessage) -> None:
    """Support's hook after a requester writes: a case waiting for them resumes review, and
    files they sent count as evidence."""
    case = case_for_ticket(session, ticket)
    if case is None:
        return
    now = clock.now()
    for row in ticket_messages.list_attachments(session, ticket):
        if row.message_id == message.id:
            known = session.scalar(
                select(CaseEvidence.id).where(CaseEvidence.attachment_id == row.id)
            )
            if known is None:
                session.add(CaseEvidence(case_id=case.id, attachment_id=row.id, kind="other",
                                         created_at=now))  # fmt: skip
    if case.status == CaseStatus.info_requested.value:
        _resume_clock(session, case, now)
        _move(session, case, CaseStatus.in_review, actor=None)
        case.info_request = None
        emails.mail_case(session, case=case, ticket=ticket)
    session.flush()


def _resume_clock(session: Session, case: Case, now: datetime) -> None:
    if case.paused_at is not None and case.due_at is not None:
        if case.type in CALENDAR_REVIEW_HOURS:
            case.due_at = case.due_at + (now - case.paused_at)
        else:
            cal = sla.calendar(session)
            case.due_at = cal.add(case.due_at, cal.between(case.paused_at, now))
    case.paused_at = None


def _move(session: Session, case: Case, status: CaseStatus, *, actor: User | None) -> None:
    old = case.status
    case.status = status.value
    case.updated_at = clock.now()
    ticket_events.record_event(
        session, ticket_of(session, case), "case_status", actor=actor, case_id=case.id,
        old=old, new=status.value,
    )  # fmt: skip
    audit.record(
        session, "case_status_changed", actor_user_id=actor.id if actor else None,
        subject_user_id=case.user_id, object_type="case", object_id=case.id,
        old=old, new=status.value,
    )  # fmt: skip


def _require_open(case: Case) -> None:
    if case.status not in OPEN_CASE_STATUSES:
        raise CaseNotOpen()


def do_start_review(session: Session, *, case: Case, agent: User) -> Case:
    """An agent takes the case up: the customer is told it is being reviewed."""
    support_access.require_staff(agent)
    _require_open(case)
    if case.status == CaseStatus.in_review.value:
        return case
    if case.status == CaseStatus.info_requested.value:
        _resume_clock(session, case, clock.now())
    _move(session, case, CaseStatus.in_review, actor=agent)
    ticket = ticket_of(session, case)
    if ticket.assignee_id is None:
        ticket.assignee_id = agent.id
    if ticket.status != Status.open.value:
        ticket_status.change_status(session, ticket, Status.open.value, actor=agent)
    session.flush()
    emails.mail_case(session, case=case, ticket=ticket)
    return case


def do_request_info(session: Session, *, case: Case, agent: User, message: str) -> Case:
    """Ask the customer for more (a clearer document, a statement): the case waits for them
    and its clock stops."""
    support_access.require_staff(agent)
    _require_open(case)
    text = support_checks.check_body(message)
    ticket = ticket_of(session, case)
    now = clock.now()
    ticket_messages.add_message_row(
        session, ticket, kind=MessageKind.public.value, channel="web", side="agent",
        author=agent, author_name=agent.display_name, body=text, at=now,
    )  # fmt: skip
    ticket.last_agent_at = now
    if ticket.first_replied_at is None:
        ticket.first_replied_at = now
    ticket_status.change_status(session, ticket, Status.pending_customer.value, actor=agent)
    case.info_request = text
    if case.paused_at is None:
        case.paused_at = now
    _move(session, case, CaseStatus.info_requested, actor=agent)
    session.flush()
    emails.mail_case(session, case=case, ticket=ticket)
    return case


def decide(
    session: Session,
    *,
    case: Case,
    approved: bool,
    reason: str,
    actor: User,
    summary: str = "",
) -> None:
    """Record the decision: the case is approved or rejected, the ticket gets a message the
    customer sees and is resolved (inviting a rating), pending proposals are withdrawn, and
    the customer is e-mailed."""
    now = clock.now()
    if case.paused_at is not None:
        _resume_clock(session, case, now)
    case.decision_reason = reason
    case.decided_by = actor.id
    case.decided_at = now
    case.info_request = None
    _move(session, case, CaseStatus.approved if approved else CaseStatus.rejected, actor=actor)
    withdrawn = session.execute(
        update(Proposal)
        .where(Proposal.case_id == case.id, Proposal.status == ProposalStatus.pending.value)
        .values(status=ProposalStatus.withdrawn.value, decided_at=now)
        .returning(Proposal.id, Proposal.action)
        .execution_options(synchronize_session=False)
    ).all()
    for proposal_id, action in withdrawn:
        audit.record(
            session, "case_proposal_withdrawn", actor_user_id=actor.id,
            subject_user_id=case.user_id, object_type="case_proposal", object_id=proposal_id,
            case_id=case.id, proposed_action=action, reason="case_decided",
        )  # fmt: skip
    ticket = ticket_of(session, case)
    with use_locale(ticket.locale):
        verdict = gettext(N_("Approved")) if approved else gettext(N_("Not approved"))
        lines = [
            gettext(N_("Decision on your request: %(verdict)s."), verdict=verdict),
            summary,
            gettext(N_("Reason: %(reason)s"), reason=reason),
        ]
    ticket_messages.add_message_row(
        session, ticket, kind=MessageKind.system.value, channel="web", side="system",
        author=None, author_name="OKPay", body="\n".join(x for x in lines if x), at=now,
    )  # fmt: skip
    ticket.last_agent_at = now
    ticket_status.change_status(session, ticket, Status.resolved.value, actor=actor, notify=False)
    audit.record(
        session, "case_decided", actor_user_id=actor.id, subject_user_id=case.user_id,
        object_type="case", object_id=case.id, approved=approved, reason=reason,
    )  # fmt: skip
    session.flush()
    emails.mail_case(session, case=case, ticket=ticket, summary=summary)


def do_decline(session: Session, *, case: Case, agent: User, reason: str) -> Case:
    """Turn the request down with a reason the customer reads (nothing in the wallet or the
    account changes, so one person may do it)."""
    support_access.require_staff(agent)
    _require_open(case)
    text = support_checks.check_body(reason)
    if len(text) < 5:
        raise ValidationFailed(
            N_("Please give the customer a reason."), code="reason_required", field="reason"
        )
    decide(session, case=case, approved=False, reason=text, actor=agent)
    return case


def close_done_cases(session: Session, *, now: datetime | None = None) -> int:
    """Decided cases whose ticket is closed are done (the retention period starts)."""
    now = now or clock.now()
    rows = session.execute(
        select(Case, Ticket)
        .join(Ticket, Ticket.id == Case.ticket_id)
        .where(Case.status.in_(("approved", "rejected")), Ticket.status == Status.closed.value)
        .limit(500)
    ).all()
    count = 0
    for case, _ticket in rows:
        case.status = CaseStatus.done.value
        case.closed_at = now
        case.updated_at = now
        count += 1
    session.flush()
    return count


def mark_breaches(session: Session, *, now: datetime | None = None) -> list[Case]:
    """Open cases past their review time (clock running), marked once."""
    now = now or clock.now()
    cases = list(
        session.scalars(
            select(Case).where(
                Case.status.in_(("submitted", "in_review")),
                Case.due_at < now,
                Case.breached_at.is_(None),
                Case.paused_at.is_(None),
            )
        )
    )
    for case in cases:
        case.breached_at = now
        ticket_events.record_event(session, ticket_of(session, case), "case_breached",
                                   case_id=case.id)  # fmt: skip
    session.flush()
    return cases


# A requester's reply on a case's ticket resumes the case (support calls this; see
# support.messages.CUSTOMER_MESSAGE_HOOKS). okpay.models imports this module, so every process
# that handles tickets (app, worker, mail listener) has it registered.
if customer_replied not in ticket_messages.CUSTOMER_MESSAGE_HOOKS:
    ticket_messages.CUSTOMER_MESSAGE_HOOKS.append(customer_replied)

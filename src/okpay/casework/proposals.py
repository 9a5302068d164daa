"""Four eyes: staff propose an action from a case; a second staff member with the right role
approves it, and only then does it run, in the same unit of work as the case decision, the
audit rows, the ticket's message and the customer's e-mail.

A proposal is claimed with a conditional update, so two approvers at the same moment give
exactly one execution; approval re-reads the account under the action's locks and refuses a
proposal whose state has changed since (stale), and proposals expire after 72 hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.casework import actions, cases, changes, emails, policy, risk_review
from okpay.casework.models import (
    ACTION_LABELS,
    OPEN_CASE_STATUSES,
    Case,
    CaseStatus,
    Proposal,
    ProposalStatus,
    label,
)
from okpay.core import audit, clock
from okpay.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from okpay.core.i18n import N_, gettext, use_locale
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support import checks as support_checks
from okpay.support import messages as ticket_messages
from okpay.support.models import Ticket

EXPIRY = timedelta(hours=72)
REASON_MIN = 5
# The actions that answer each kind of request: carrying one out decides the case.
ANSWERS = {
    "appeal": {"lift_restriction", "unfreeze"},
    "verification": {"set_verification_level"},
    "limit_increase": {"grant_limit_override", "set_verification_level"},
    "dispute": {"refund"},
    "unlock": {"unlock"},
    "freeze": {"unfreeze"},
    "risk_review": {"release_held", "reject_held"},
}
# Actions that decide their case against the customer (the case is rejected, with the reason).
REFUSING = {"reject_held"}


class SelfApproval(PermissionDenied):
    code = "self_approval"
    message = N_("You made this proposal, so someone else must approve it.")


class ApprovalNotAllowed(PermissionDenied):
    code = "approval_not_allowed"
    message = N_("Your role may not approve this action.")


class ProposalStale(Conflict):
    code = "proposal_stale"
    message = N_(
        "The account has changed since this proposal was made. Look at it again and make a "
        "new proposal."
    )
    persist = True  # the proposal is marked stale even though the approval is refused


class ProposalExpired(Conflict):
    code = "proposal_expired"
    message = N_("This proposal has expired. Make a new one if it is still needed.")
    persist = True


class ProposalNotPending(Conflict):
    code = "proposal_not_pending"
    message = N_("This proposal has already been decided.")


def _reason(raw: str, *, field: str = "reason") -> str:
    text = support_checks.check_body(raw or "", required=False)
    if len(text) < REASON_MIN:
        raise ValidationFailed(
            N_("Please give a reason (at least %(min)s characters)."),
            code="reason_required", field=field, min=REASON_MIN,
        )  # fmt: skip
    if len(text) > 2000:
        raise ValidationFailed(
            N_("Use at most %(max)s characters."), code="too_long", field=field, max=2000
        )
    return text


def get_proposal(session: Session, *, agent: User, proposal_id: int) -> Proposal:
    support_access.require_staff(agent)
    row = session.get(Proposal, proposal_id)
    if row is None:
        raise NotFound()
    return row


def proposals_of(session: Session, case: Case) -> list[Proposal]:
    return list(
        session.scalars(select(Proposal).where(Proposal.case_id == case.id).order_by(Proposal.id))
    )


def pending_queue(session: Session, *, limit: int = 200) -> list[tuple[Proposal, Case, Ticket]]:
    """Proposals waiting for approval with their case and ticket, the case closest to its
    review deadline first."""
    now = clock.now()
    rows = session.execute(
        select(Proposal, Case, Ticket)
        .join(Case, Case.id == Proposal.case_id)
        .join(Ticket, Ticket.id == Case.ticket_id)
        .where(Proposal.status == ProposalStatus.pending.value, Proposal.expires_at > now)
        .order_by(Case.due_at.is_(None), Case.due_at, Proposal.id)
        .limit(limit)
    )
    return [(p, c, t) for p, c, t in rows]


def do_propose(
    session: Session,
    *,
    case: Case,
    agent: User,
    action: str,
    params: dict[str, Any] | None,
    reason: str,
) -> Proposal:
    """Propose ``action`` on the case's account. Where the policy lets one person act (a
    freeze, a small refund), it runs at once; otherwise it waits for a second person."""
    support_access.require_staff(agent)
    if case.status not in OPEN_CASE_STATUSES and action != "freeze":
        raise cases.CaseNotOpen()
    checked = actions.check_params(action, params)
    text = _reason(reason)
    plan = actions.plan(session, user_id=case.user_id, action=action, params=checked)
    assert case.user_id is not None
    rule = policy.rule_for(session, action)
    now = clock.now()
    proposal = Proposal(
        case_id=case.id,
        user_id=case.user_id,
        action=action,
        params=plan.params,
        reason=text,
        before=plan.before,
        after=plan.after,
        fingerprint=plan.fingerprint,
        amount_cny=plan.amount_cny,
        needs_approval=policy.needs_approval(rule, plan.amount_cny),
        status=ProposalStatus.pending.value,
        proposed_by=agent.id,
        proposed_at=now,
        expires_at=now + EXPIRY,
        result={},
    )
    session.add(proposal)
    session.flush()
    audit.record(
        session, "case_proposal_made", actor_user_id=agent.id, subject_user_id=case.user_id,
        object_type="case_proposal", object_id=proposal.id, case_id=case.id, proposed_action=action,
        params=plan.params, before=plan.before, after=plan.after, reason=text,
        needs_approval=proposal.needs_approval,
    )  # fmt: skip
    if case.status == CaseStatus.submitted.value:
        cases.do_start_review(session, case=case, agent=agent)
    if not proposal.needs_approval:
        _claim(session, proposal, agent, now)
        _run(session, proposal, case, agent, approver=None)
    else:
        _note(session, case, N_("Proposed: %(action)s. Waiting for approval."), proposal)
    session.flush()
    return proposal


def _note(session: Session, case: Case, text: str, proposal: Proposal) -> None:
    """An internal note on the case's ticket (agents see it; the customer does not)."""
    ticket = cases.ticket_of(session, case)
    with use_locale(ticket.locale):
        body = gettext(text, action=label(ACTION_LABELS, proposal.action))
    ticket_messages.do_system_note(
        session, ticket=ticket, body=f"{body}\n{proposal.reason}", channel="web",
        event="case_proposal", proposal_id=proposal.id, action=proposal.action,
        status=proposal.status,
    )  # fmt: skip


def _claim(session: Session, proposal: Proposal, approver: User, now: datetime) -> None:
    """Take the proposal for execution: exactly one of any number of simultaneous approvers
    gets it (the conditional update waits for the other's row lock, then sees it decided)."""
    claimed = session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id, Proposal.status == ProposalStatus.pending.value)
        .values(
            status=ProposalStatus.executed.value,
            decided_by=approver.id,
            decided_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:
        raise ProposalNotPending()
    session.refresh(proposal)


def _run(
    session: Session, proposal: Proposal, case: Case, proposer: User, *, approver: User | None
) -> None:
    actor = approver or proposer
    current = actions.lock_and_fingerprint(session, proposal)
    if current != proposal.fingerprint:
        proposal.status = ProposalStatus.stale.value
        audit.record(
            session, "case_proposal_stale", actor_user_id=actor.id,
            subject_user_id=proposal.user_id, object_type="case_proposal",
            object_id=proposal.id, case_id=case.id, proposed_action=proposal.action,
            params=proposal.params, before=proposal.before, after=proposal.after,
            reason=proposal.reason, proposed_by=proposal.proposed_by,
        )  # fmt: skip
        raise ProposalStale()
    result = actions.execute(session, proposal=proposal, actor_user_id=actor.id)
    proposal.result = result
    audit.record(
        session, "case_proposal_executed", actor_user_id=actor.id,
        subject_user_id=proposal.user_id, object_type="case_proposal", object_id=proposal.id,
        case_id=case.id, proposed_action=proposal.action, params=proposal.params,
        before=proposal.before, after=proposal.after, reason=proposal.reason,
        proposed_by=proposal.proposed_by, approved_by=approver.id if approver else None,
        note=proposal.decision_note, result=result,
    )  # fmt: skip
    answers = proposal.action in ANSWERS.get(case.type, set())
    if answers and case.type == risk_review.TYPE:
        # A review holding several payments is decided with the last of them.
        answers = not risk_review.still_held(session, case)
    if answers and case.status in OPEN_CASE_STATUSES:
        ticket = cases.ticket_of(session, case)
        with use_locale(ticket.locale):
            summary = summary_of(proposal)
        cases.decide(
            session, case=case, approved=proposal.action not in REFUSING,
            reason=proposal.reason, actor=actor, summary=summary,
        )  # fmt: skip
    else:
        _note(session, case, N_("Carried out: %(action)s."), proposal)
        if case.type == risk_review.TYPE and proposal.action in ANSWERS[case.type]:
            # One of several held payments decided: the customer hears about this one now.
            ticket = cases.ticket_of(session, case)
            with use_locale(ticket.locale):
                summary = summary_of(proposal)
            emails.mail_case(session, case=case, ticket=ticket, summary=summary)


def summary_of(proposal: Proposal) -> str:
    """What the action did, in a sentence for the customer (current locale)."""
    lines = [
        f"{c.label}: {c.before} → {c.after}" for c in changes.change_lines(proposal) if c.changed
    ]
    head = label(ACTION_LABELS, proposal.action)
    if proposal.params.get("reference"):
        head += f" · {proposal.params['reference']}"
    return "\n".join([head, *lines])


def do_approve(session: Session, *, proposal: Proposal, approver: User, note: str = "") -> Proposal:
    """A second staff member approves: the action runs now, or the approval is refused
    (self-approval, a role the policy does not allow, expired, stale, already decided)."""
    support_access.require_staff(approver)
    if proposal.proposed_by == approver.id:
        raise SelfApproval()
    rule = policy.rule_for(session, proposal.action)
    if not policy.may_approve(rule, approver):
        raise ApprovalNotAllowed()
    if proposal.status != ProposalStatus.pending.value:
        raise ProposalNotPending()
    now = clock.now()
    if proposal.expires_at <= now:
        _expire(session, proposal, now)
        raise ProposalExpired()
    case = session.get(Case, proposal.case_id)
    assert case is not None
    _claim(session, proposal, approver, now)
    proposal.decision_note = support_checks.check_body(note or "", required=False)[:2000] or None
    proposer = session.get(User, proposal.proposed_by)
    assert proposer is not None
    _run(session, proposal, case, proposer, approver=approver)
    session.flush()
    return proposal


def do_reject(session: Session, *, proposal: Proposal, approver: User, reason: str) -> Proposal:
    """The approver says no (with a reason the proposer reads); the case stays open."""
    support_access.require_staff(approver)
    if proposal.proposed_by == approver.id:
        raise SelfApproval()
    rule = policy.rule_for(session, proposal.action)
    if not policy.may_approve(rule, approver):
        raise ApprovalNotAllowed()
    text = _reason(reason)
    now = clock.now()
    done = session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id, Proposal.status == ProposalStatus.pending.value)
        .values(status=ProposalStatus.rejected.value, decided_by=approver.id, decided_at=now,
                decision_note=text)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]  # fmt: skip
    if done != 1:
        raise ProposalNotPending()
    session.refresh(proposal)
    audit.record(
        session, "case_proposal_rejected", actor_user_id=approver.id,
        subject_user_id=proposal.user_id, object_type="case_proposal", object_id=proposal.id,
        case_id=proposal.case_id, proposed_action=proposal.action, params=proposal.params,
        before=proposal.before, after=proposal.after, proposal_reason=proposal.reason,
        proposed_by=proposal.proposed_by, reason=text,
    )  # fmt: skip
    case = session.get(Case, proposal.case_id)
    assert case is not None
    _note(session, case, N_("Not approved: %(action)s."), proposal)
    return proposal


def _expire(session: Session, proposal: Proposal, now: datetime) -> None:
    session.execute(
        update(Proposal)
        .where(Proposal.id == proposal.id, Proposal.status == ProposalStatus.pending.value)
        .values(status=ProposalStatus.expired.value, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session, "case_proposal_expired", subject_user_id=proposal.user_id,
        object_type="case_proposal", object_id=proposal.id, case_id=proposal.case_id,
        proposed_action=proposal.action, params=proposal.params, before=proposal.before,
        after=proposal.after, proposed_by=proposal.proposed_by,
    )  # fmt: skip


def expire_due(session: Session, *, now: datetime | None = None) -> int:
    """Mark proposals past their 72 hours expired (the worker runs this)."""
    now = now or clock.now()
    due = list(
        session.scalars(
            select(Proposal).where(
                Proposal.status == ProposalStatus.pending.value, Proposal.expires_at <= now
            )
        )
    )
    for proposal in due:
        _expire(session, proposal, now)
    session.flush()
    return len(due)

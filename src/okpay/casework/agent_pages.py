"""Casework on the agent's ticket page (/agent/...): the customer panel and the case panel
(added to support's ticket page through its panel hook), the action forms (preview the
change, then propose), approving or rejecting a proposal, the case's evidence (watermarked,
audited, reviewers only) and revealing a customer's contact details. Routes are thin: the
casework services do the work."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from okpay.casework import access, actions, cases, changes, evidence, panel_view, policy, proposals
from okpay.casework import event_text as _case_events  # noqa: F401 - adds casework's event sentences
from okpay.casework import service as customer_panel
from okpay.casework.models import ACTION_LABELS, CaseEvidence, Proposal, label
from okpay.core import audit, money
from okpay.core.dbid import BigDbId
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_, gettext
from okpay.identity.models import User
from okpay.support import access as support_access
from okpay.support import agent_pages as console
from okpay.support import customer as support_customer
from okpay.support import messages as ticket_messages
from okpay.support.models import Ticket
from okpay.web import forms
from okpay.web.deps import DbSession
from okpay.web.flash import flash
from okpay.web.redirects import safe_next
from okpay.web.templating import render

router = console.agent_router()
Agent = console.Agent
OptForm = console.OptForm


def ticket_panels(session: Session, ticket: Ticket, agent: User) -> list[console.TicketPanel]:
    """The customer panel beside every ticket, and the case panel above a case's conversation."""
    out = [
        console.TicketPanel(
            "side",
            "casework/panel.html",
            {
                "panel": customer_panel.customer_panel(session, ticket=ticket),
                "op_label": customer_panel.operation_label,
                "op_status_label": customer_panel.operation_status_label,
                "blocked_text": panel_view.blocked_text,
            },
        )
    ]
    case = cases.case_for_ticket(session, ticket)
    if case is not None:
        view = panel_view.case_view(session, case=case, viewer=agent)
        out.insert(0, console.TicketPanel("main", "casework/case_panel.html", {"cv": view}))
    return out


console.add_ticket_panels(ticket_panels)


def _int(raw: str, name: str) -> int | None:
    if not raw.strip():
        return None
    try:
        return int(raw.strip())
    except ValueError:
        raise ValidationFailed(
            N_("The details of this action are not valid: %(field_name)s."),
            code="params_invalid", field=name, field_name=name,
        ) from None  # fmt: skip


def _yuan(raw: str, name: str) -> int | None:
    return money.parse_amount(raw.strip(), "CNY", field=name) if raw.strip() else None


def form_params(action: str, form: dict[str, str]) -> dict[str, Any]:
    """An action's parameters as typed into its form (amounts in yuan), checked."""
    params: dict[str, Any] = {}
    if action == "set_verification_level":
        params["level"] = _int(form.get("level", ""), "level")
    elif action == "grant_limit_override":
        params["operation"] = form.get("operation", "")
        for key in ("per_transaction", "daily", "monthly"):
            params[key] = _yuan(form.get(key, ""), key)
        params["days"] = _int(form.get("days", ""), "days")
    elif action in ("refund", "release_held", "reject_held"):
        params["reference"] = form.get("reference", "").strip()
        if action == "refund" and form.get("refund_kind") == "partial":
            params["amount"] = _yuan(form.get("amount", ""), "amount")
    return actions.check_params(action, {k: v for k, v in params.items() if v is not None})


def _action_form(
    action: str, reason: str, level: str, operation: str, per_transaction: str, daily: str,
    monthly: str, days: str, reference: str, refund_kind: str, amount: str,
) -> dict[str, str]:  # fmt: skip
    return {
        "action": action, "reason": reason, "level": level, "operation": operation,
        "per_transaction": per_transaction, "daily": daily, "monthly": monthly, "days": days,
        "reference": reference, "refund_kind": refund_kind, "amount": amount,
    }  # fmt: skip


def _preview_template(fragment: bool) -> str:
    return "casework/agent_preview_body.html" if fragment else "casework/agent_preview.html"


@router.post("/cases/{case_id}/preview")
def preview(
    request: Request,
    case_id: BigDbId,
    agent: Agent,
    db: DbSession,
    action: OptForm = "",
    reason: OptForm = "",
    level: OptForm = "",
    operation: OptForm = "",
    per_transaction: OptForm = "",
    daily: OptForm = "",
    monthly: OptForm = "",
    days: OptForm = "",
    reference: OptForm = "",
    refund_kind: OptForm = "full",
    amount: OptForm = "",
) -> Response:
    """The exact change an action would make, before → after, with the button that proposes
    it (htmx swaps it under the form; without JavaScript it is a page of its own)."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    ticket = cases.ticket_of(db, case)
    form = _action_form(
        action, reason, level, operation, per_transaction, daily, monthly, days, reference,
        refund_kind, amount,
    )  # fmt: skip
    fragment = bool(request.headers.get("hx-request"))
    ctx: dict[str, Any] = {"case": case, "ticket": ticket, "form": form}
    try:
        params = form_params(action, form)
        plan = actions.plan(db, user_id=case.user_id, action=action, params=params)
    except DomainError as err:
        forms.undo_refused(db, err)
        return render(
            request, _preview_template(fragment),
            status_code=200 if fragment else err.status,
            error=err.translated(), error_code=err.code, **ctx,
        )  # fmt: skip
    rule = policy.rule_for(db, action)
    shown = Proposal(action=action, params=plan.params, before=plan.before, after=plan.after)
    return render(
        request,
        _preview_template(fragment),
        changes=changes.change_lines(shown),
        action_label=label(ACTION_LABELS, action),
        needs_approval=policy.needs_approval(rule, plan.amount_cny),
        approver_roles=panel_view.roles_text(rule.approver_roles),
        **ctx,
    )


@router.post("/cases/{case_id}/propose")
def propose(
    request: Request,
    case_id: BigDbId,
    agent: Agent,
    db: DbSession,
    action: OptForm = "",
    reason: OptForm = "",
    level: OptForm = "",
    operation: OptForm = "",
    per_transaction: OptForm = "",
    daily: OptForm = "",
    monthly: OptForm = "",
    days: OptForm = "",
    reference: OptForm = "",
    refund_kind: OptForm = "full",
    amount: OptForm = "",
) -> Response:
    """Propose the previewed action: it waits for a second person, or runs at once where
    the policy lets one person act."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    ticket = cases.ticket_of(db, case)
    form = _action_form(
        action, reason, level, operation, per_transaction, daily, monthly, days, reference,
        refund_kind, amount,
    )  # fmt: skip
    try:
        params = form_params(action, form)
        made = proposals.do_propose(
            db, case=case, agent=agent, action=action, params=params, reason=reason
        )
    except DomainError as err:
        return console.render_ticket(
            request,
            db,
            ticket.number,
            agent,
            err=err,
            form={"case_" + k: v for k, v in form.items()},
        )
    if made.status == "executed":
        flash(request, gettext("Done: %(action)s.", action=label(ACTION_LABELS, action)), "success")
    else:
        flash(
            request,
            gettext("Proposed. It takes effect when a second person approves it."),
            "success",
        )
    return console.redirect(f"/agent/tickets/{ticket.number}")


def _case_step(
    request: Request, db: Session, agent: User, case_id: int, run: Any, form: dict[str, str],
    done: str,
) -> Response:  # fmt: skip
    """Run one step on a case from its ticket page: back to the ticket with ``done``, or the
    ticket again with the error and what was typed."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    number = cases.ticket_of(db, case).number
    try:
        run(case)
    except DomainError as err:
        return console.render_ticket(request, db, number, agent, err=err, form=form)
    flash(request, done, "success")
    return console.redirect(f"/agent/tickets/{number}")


@router.post("/cases/{case_id}/request-info")
def request_info(
    request: Request, case_id: BigDbId, agent: Agent, db: DbSession, message: OptForm = ""
) -> Response:
    """Ask the customer for more; the case's clock stops until they answer."""
    return _case_step(
        request, db, agent, case_id,
        lambda case: cases.do_request_info(db, case=case, agent=agent, message=message),
        {"case_message": message}, gettext("The customer was asked for more information."),
    )  # fmt: skip


@router.post("/cases/{case_id}/decline")
def decline(
    request: Request, case_id: BigDbId, agent: Agent, db: DbSession, reason: OptForm = ""
) -> Response:
    """Turn the request down with a reason the customer reads; nothing changes."""
    return _case_step(
        request, db, agent, case_id,
        lambda case: cases.do_decline(db, case=case, agent=agent, reason=reason),
        {"case_decline": reason}, gettext("The request was declined; the customer was told why."),
    )  # fmt: skip


def _decided(
    request: Request, db: Session, proposal: Proposal, agent: User, run: Any, done: str,
    next_: str,
) -> Response:  # fmt: skip
    case = access.staff_case(db, agent=agent, case_id=proposal.case_id)
    number = cases.ticket_of(db, case).number
    back = safe_next(next_, f"/agent/tickets/{number}")
    try:
        run()
    except DomainError as err:
        forms.undo_refused(db, err)
        flash(request, err.translated(), "error")
        return console.redirect(back)
    flash(request, done, "success")
    return console.redirect(back)


@router.post("/proposals/{proposal_id}/approve")
def approve(
    request: Request,
    proposal_id: BigDbId,
    agent: Agent,
    db: DbSession,
    note: OptForm = "",
    next: OptForm = "",
) -> Response:
    """Approve and carry out (refused to the proposer and to roles the policy leaves out)."""
    proposal = proposals.get_proposal(db, agent=agent, proposal_id=proposal_id)
    return _decided(
        request, db, proposal, agent,
        lambda: proposals.do_approve(db, proposal=proposal, approver=agent, note=note),
        gettext("Approved and carried out."), next,
    )  # fmt: skip


@router.post("/proposals/{proposal_id}/reject")
def reject(
    request: Request,
    proposal_id: BigDbId,
    agent: Agent,
    db: DbSession,
    reason: OptForm = "",
    next: OptForm = "",
) -> Response:
    proposal = proposals.get_proposal(db, agent=agent, proposal_id=proposal_id)
    return _decided(
        request, db, proposal, agent,
        lambda: proposals.do_reject(db, proposal=proposal, approver=agent, reason=reason),
        gettext("Proposal rejected; nothing was changed."), next,
    )  # fmt: skip


@router.get("/cases/{case_id}/evidence/{evidence_id}")
def open_evidence(
    case_id: BigDbId, evidence_id: BigDbId, agent: Agent, db: DbSession, inline: int = 1
) -> Response:
    """A document of the case in the page (images) or a new tab (PDFs): reviewers only,
    watermarked, every view audited."""
    case = access.staff_case(db, agent=agent, case_id=case_id)
    return evidence.view(db, case=case, agent=agent, evidence_id=evidence_id, inline=bool(inline))


@router.get("/tickets/{number}/case-files/{attachment_id}")
def case_file(number: str, attachment_id: BigDbId, agent: Agent, db: DbSession) -> Response:
    """A file on a case's ticket (support sends its downloads here): evidence through the
    evidence rules; any other file of the case to its reviewers only, audited."""
    ticket = support_access.access_ticket(db, user=agent, number=number)
    case = cases.case_for_ticket(db, ticket)
    row = ticket_messages.get_attachment(db, ticket, attachment_id)
    if case is None:
        return support_customer.download(row)
    found = db.query(CaseEvidence).filter_by(case_id=case.id, attachment_id=row.id).one_or_none()
    if found is not None:
        return evidence.view(db, case=case, agent=agent, evidence_id=found.id, inline=False)
    access.require_evidence_viewer(db, agent=agent, case=case)
    audit.record(
        db, "case_file_downloaded", actor_user_id=agent.id, subject_user_id=case.user_id,
        object_type="ticket_attachment", object_id=row.id, case_id=case.id,
    )  # fmt: skip
    return support_customer.download(row)


@router.post("/tickets/{number}/reveal")
def reveal(
    request: Request,
    number: str,
    agent: Agent,
    db: DbSession,
    field: console.FormStr,
    reason: OptForm = "",
) -> Response:
    """The full value, in this answer only (audited with the reason)."""
    ticket = support_access.access_ticket(db, user=agent, number=number)
    try:
        value = customer_panel.do_reveal(db, ticket=ticket, agent=agent, field=field, reason=reason)
    except DomainError as err:
        forms.undo_refused(db, err)
        return render(
            request,
            "casework/revealed.html",
            # htmx swaps only successful answers: it gets the message with a 200.
            status_code=200 if request.headers.get("hx-request") else err.status,
            error=err.translated(),
            ticket=ticket,
            field=field,
        )
    return render(request, "casework/revealed.html", ticket=ticket, field=field, value=value)

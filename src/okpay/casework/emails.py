"""The customer's e-mail at every change of their case, in the ticket's language and thread.
Evidence is never attached: the e-mail links to the request page."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.casework.models import CASE_STATUS_LABELS, CASE_TYPE_LABELS, Case, label
from okpay.core.i18n import format_datetime, use_locale
from okpay.support import emails as support_emails
from okpay.support.models import Ticket


def mail_case(session: Session, *, case: Case, ticket: Ticket, summary: str = "") -> None:
    """E-mail the requester the case's new state and what, if anything, is asked of them."""
    with use_locale(ticket.locale):
        extra = {
            "case_type": label(CASE_TYPE_LABELS, case.type),
            "case_code": case.type,
            "case_status": case.status,
            "case_status_label": label(CASE_STATUS_LABELS, case.status),
            "info_request": case.info_request or "",
            "decision_reason": case.decision_reason or "",
            "summary": summary,
            "review_due": format_datetime(case.due_at, "minutes") if case.due_at else "",
        }
    support_emails.mail_requester(session, ticket, "case_update", **extra)


def alert_team(session: Session, ticket: Ticket) -> None:
    """Urgent cases (an emergency freeze, a payment the customer did not make) alert the team."""
    support_emails.alert_team(session, ticket)

"""E-mails about a ticket: to the requester (in the ticket's language and thread) and to
its team. They leave after commit (mail.send_email queues them that way)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from okpay.core.i18n import format_datetime, use_locale
from okpay.helpcenter.taxonomy import category_label
from okpay.mail.service import send_email
from okpay.settings import get_settings
from okpay.support import access, agents, events, sla
from okpay.support.models import (
    TEAM_LABELS,
    Channel,
    Ticket,
    TicketAttachment,
    TicketMessage,
    label,
)


def send_requester_link(session: Session, ticket: Ticket) -> None:
    """E-mail the requester the link to their ticket (a guest asked for it by number)."""
    mail_requester(session, ticket, "support_requests_link")


def mail_requester(session: Session, ticket: Ticket, template: str, **extra: Any) -> None:
    """E-mail the requester about their ticket, in the ticket's language, in its thread.
    A WeChat follower who has not linked an account has no e-mail address (the ticket holds
    a placeholder): they hear from us in WeChat only."""
    if ticket.channel == Channel.wechat and ticket.requester_user_id is None:
        return
    with use_locale(ticket.locale):
        context = _mail_context(ticket, **extra)
    send_email(
        session,
        to=ticket.requester_email,
        template=template,
        locale=ticket.locale,
        user_id=ticket.requester_user_id,
        context=context,
        headers=_thread_headers(ticket),
    )


def _mail_context(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    due = sla.promised_reply_at(ticket)
    return {
        "ticket": ticket,
        "name": ticket.requester_name,
        "number": ticket.number,
        "subject": ticket.subject,
        "link": access.requester_link(ticket),
        "rate_link": access.requester_link(ticket, "/rate"),
        "hotline_link": f"{get_settings().base_url}/help/contact#hotlines",
        "due": format_datetime(due, "minutes") if due else "",
        "team": label(TEAM_LABELS, ticket.team),
        "category": category_label(ticket.category),
        **extra,
    }


def _thread_headers(ticket: Ticket) -> dict[str, str]:
    s = get_settings()
    return {
        "In-Reply-To": ticket.thread_message_id,
        "References": ticket.thread_message_id,
        "Reply-To": s.support_address,
        "X-OKPay-Ticket": ticket.number,
        # Tell well-behaved autoresponders not to answer us (RFC 3834).
        "Auto-Submitted": "auto-replied",
    }


def mail_reply(
    session: Session,
    ticket: Ticket,
    message: TicketMessage,
    attachments: Sequence[TicketAttachment],
) -> str:
    """Send an agent's public reply; returns its Message-ID (customers' replies refer to it).

    Files never travel by e-mail, not even their names (any file may be an identity
    document): the e-mail says how many there are and links to the request, where the
    customer signs in to see them."""
    headers = _thread_headers(ticket)
    headers.pop("Auto-Submitted")
    with use_locale(ticket.locale):
        context = _mail_context(
            ticket, reply=message.body, agent=message.author_name,
            files=len(attachments),
        )  # fmt: skip
    email = send_email(
        session,
        to=ticket.requester_email,
        template="support_agent_reply",
        locale=ticket.locale,
        user_id=ticket.requester_user_id,
        context=context,
        headers=headers,
    )
    return email.message_id


def alert_team(session: Session, ticket: Ticket, template: str = "support_team_alert") -> None:
    """E-mail the ticket's team (or the security alert address when nobody is in it)."""
    recipients = agents.team_addresses(session, ticket.team)
    if not recipients:
        recipients = [(get_settings().security_alert_address, "zh_CN")]
    for address, locale in recipients:
        with use_locale(locale):
            context = {
                "number": ticket.number,
                "subject": ticket.subject,
                "priority": ticket.priority,
                "team": label(TEAM_LABELS, ticket.team),
                "category": category_label(ticket.category),
                "link": f"{get_settings().base_url}/agent/tickets/{ticket.number}",
            }
        send_email(session, to=address, template=template, locale=locale, context=context)
    events.record_event(
        session, ticket, "team_alerted", team=ticket.team, recipients=len(recipients)
    )

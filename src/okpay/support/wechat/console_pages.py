"""The WeChat block on the agent's ticket page (the follower, the bound account, the reply
window and how the last replies fared) and the SMS a closed window leaves as an option."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from okpay.core import clock
from okpay.core.errors import DomainError, ValidationFailed
from okpay.core.i18n import N_, format_datetime, gettext
from okpay.identity import users as identity_users
from okpay.identity.models import User
from okpay.mail import sms
from okpay.support import access, agent_pages
from okpay.support import messages as ticket_messages
from okpay.support.models import Channel, Ticket
from okpay.support.wechat import followers, outbound, window
from okpay.web.deps import DbSession
from okpay.web.flash import flash

router = agent_pages.agent_router()
SMS_MAX = 300
SmsText = Annotated[str, Form(max_length=2000)]


def _hours_minutes(state: window.WindowState) -> tuple[int, int]:
    minutes = int(state.remaining.total_seconds() // 60)
    return minutes // 60, minutes % 60


def wechat_panel(session: Session, ticket: Ticket, agent: User) -> list[agent_pages.TicketPanel]:
    """The WeChat block, on tickets that hold a follower's conversation."""
    follower = followers.follower_of_ticket(session, ticket)
    if follower is None:
        return []
    state = window.state(follower.last_message_at, clock.now())
    hours, minutes = _hours_minutes(state)
    bound = identity_users.get_user(session, follower.user_id) if follower.user_id else None
    data = {
        "openid": followers.mask_openid(follower.openid),
        "bound": bound,
        "window_open": state.is_open,
        "hours": hours,
        "minutes": minutes,
        "closes_at": format_datetime(state.closes_at),
        "can_sms": bound is not None and bool(bound.phone) and bound.phone_verified_at is not None,
        "sms_max": SMS_MAX,
        "pending": _pending(session, ticket),
    }
    return [agent_pages.TicketPanel("main", "support/wechat_panel.html", data)]


def _pending(session: Session, ticket: Ticket) -> int:
    """Replies on this ticket not yet accepted by the platform (the queue retries them)."""
    count = 0
    for message in ticket_messages.list_messages(session, ticket, include_internal=False):
        if message.author_side == "agent" and message.channel == Channel.wechat.value:
            row = outbound.delivery_of(session, message.id)
            count += row is not None and row.sent_at is None
    return count


agent_pages.add_ticket_panels(wechat_panel)


@router.post("/tickets/{number}/wechat/sms")
def send_sms(
    request: Request, number: str, agent: agent_pages.Agent, db: DbSession,
    body: SmsText = "",
) -> Response:  # fmt: skip
    """Answer a follower whose window closed by SMS to their bound account's verified phone;
    the text is kept on the ticket as a public reply."""

    def change(ticket: Ticket) -> None:
        follower = followers.follower_of_ticket(db, ticket)
        bound_id = follower.user_id if follower is not None else None
        user = identity_users.get_user(db, bound_id) if bound_id else None
        if user is None or not user.phone or user.phone_verified_at is None:
            raise ValidationFailed(
                N_("This follower has no bound account with a verified phone number."),
                code="wechat_no_phone", field="sms_body",
            )  # fmt: skip
        text = body.strip()
        if not text or len(text) > SMS_MAX:
            raise ValidationFailed(
                N_("Write a text of 1 to %(max)s characters."), code="sms_length",
                field="sms_body", max=SMS_MAX,
            )  # fmt: skip
        message = ticket_messages.do_agent_reply(
            db, ticket=ticket, agent=agent, body=text, channel=Channel.phone.value, notify=False
        )
        sms.send_sms(db, to=user.phone, body=f"OKPay: {message.body}", user_id=user.id)

    ticket = access.access_ticket(db, user=agent, number=number)
    try:
        change(ticket)
    except DomainError as err:
        return agent_pages.render_ticket(
            request, db, ticket.number, agent, err=err, form={"sms_body": body}
        )
    flash(request, gettext("Your text message was sent."), "success")
    return agent_pages.redirect(f"/agent/tickets/{ticket.number}")

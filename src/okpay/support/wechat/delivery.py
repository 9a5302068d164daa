"""Agents' public replies on a WeChat ticket go back to the follower through the platform
while its 48-hour window is open; after that, by e-mail to a bound account, or not at all
(the console says so). Registered with the support reply path on import."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.i18n import gettext, use_locale
from okpay.support import messages as ticket_messages
from okpay.support.models import Channel, Ticket, TicketAttachment, TicketMessage
from okpay.support.wechat import followers, outbound, window


def send_reply(
    session: Session,
    ticket: Ticket,
    message: TicketMessage,
    attachments: Sequence[TicketAttachment],
) -> bool:
    """Queue ``message`` for the ticket's follower (True); False to send it by e-mail when
    the window has closed and an account is bound; WindowClosed when neither can reach them."""
    follower = followers.follower_of_ticket(session, ticket)
    if follower is None:
        return False
    if not window.state(follower.last_message_at, clock.now()).is_open:
        if ticket.requester_user_id is None:
            raise window.WindowClosed()
        message.channel = Channel.email.value
        return False
    content = message.body
    if attachments:
        with use_locale(ticket.locale):
            note = gettext(
                "(%(count)s files: see your request in the OKPay app)", count=len(attachments)
            )
        content = f"{content}\n\n{note}"
    outbound.queue_text(session, openid=follower.openid, content=content, message_id=message.id)
    return True


ticket_messages.REPLY_SENDERS[Channel.wechat.value] = send_reply

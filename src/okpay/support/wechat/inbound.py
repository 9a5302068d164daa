"""Followers' messages: stored once per MsgId when the platform pushes them (the webhook
answers at once), then filed by a job into the follower's open ticket, or a new one on
channel ``wechat``. A message that is a binding code binds the follower instead."""

from __future__ import annotations

import unicodedata

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.i18n import gettext, use_locale
from okpay.db import for_update, get_database
from okpay.identity import users as identity_users
from okpay.jobs import enqueue_on_commit, job
from okpay.settings import get_settings
from okpay.support import messages as ticket_messages
from okpay.support import tickets
from okpay.support.models import Channel, Status, Ticket
from okpay.support.wechat import binding, followers, outbound
from okpay.support.wechat.messages import Incoming
from okpay.support.wechat.models import WechatFollower, WechatInbound

#: Message types kept; the rest (events, voice, location…) are answered and dropped.
KEPT_TYPES = ("text", "image")
FOLLOWER_LOCALE = "zh_CN"
SUBJECT_CHARS = 60


def record_incoming(session: Session, incoming: Incoming) -> WechatInbound | None:
    """Store a pushed message and queue its filing after commit; None when it is a type we
    do not keep or a MsgId already stored (the platform retries pushes: answered once)."""
    if incoming.msg_type not in KEPT_TYPES:
        return None
    row = WechatInbound(
        msg_id=incoming.msg_id, openid=incoming.openid, msg_type=incoming.msg_type,
        content=incoming.content, pic_url=incoming.pic_url, media_id=incoming.media_id,
        sent_at=incoming.sent_at, received_at=clock.now(),
    )  # fmt: skip
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # this MsgId was stored already, perhaps a moment ago by another worker
    enqueue_on_commit(session, file_incoming, row.id)
    return row


@job(retries=3, retry_delay=30)
def file_incoming(inbound_id: int) -> None:
    """Background job: file one stored message (see :func:`file_message`)."""
    with get_database().unit_of_work() as session:
        file_message(session, inbound_id)


def _placeholder_email(openid: str) -> str:
    domain = get_settings().support_address.rsplit("@", 1)[-1]
    return f"wechat-{openid}@wechat.{domain}"


def _body(row: WechatInbound) -> str:
    if row.msg_type == "image":
        with use_locale(FOLLOWER_LOCALE):
            label = gettext("Image sent on WeChat (not downloaded)")
        return f"[{label}]\nPicUrl: {row.pic_url or '-'}\nMediaId: {row.media_id}"
    return row.content


def _subject(body: str) -> str:
    """The message's start on one line, without the invisible characters a subject refuses
    (a refused subject would leave the message unfiled)."""
    flat = " ".join(body.split())
    kept = "".join(ch for ch in flat if unicodedata.category(ch)[0] != "C")
    return " ".join(kept.split())[:SUBJECT_CHARS] or "WeChat"


def _notify(session: Session, follower: WechatFollower, text: str) -> None:
    outbound.queue_text(session, openid=follower.openid, content=text)


def file_message(session: Session, inbound_id: int) -> Ticket | None:
    """File a stored message once: onto the follower's open ticket, else a new ticket. A
    binding code is claimed instead (never stored on a ticket) and the follower told how it
    went. Returns the ticket written to, if any."""
    lock = for_update(session.get_bind().dialect.name)
    stmt = select(WechatInbound).where(WechatInbound.id == inbound_id).with_for_update(**lock)
    row = session.scalar(stmt)
    if row is None or row.processed_at is not None:
        return None
    now = clock.now()
    row.processed_at = now
    follower = followers.lock_follower(session, row.openid, now)
    follower.last_message_at = max(follower.last_message_at, now)
    code = binding.normalise_code(row.content) if row.msg_type == "text" else None
    if code is not None:
        outcome = binding.do_claim(session, follower=follower, code=code)
        with use_locale(FOLLOWER_LOCALE):
            text = {
                "bound": gettext("Your WeChat is now linked to your OKPay account."),
                "invalid": gettext(
                    "That code is wrong, expired or already used. Get a new code in the "
                    "OKPay app under Account › Link WeChat."
                ),
                "throttled": gettext("Too many codes tried. Please try again in an hour."),
            }[outcome.result]
        _notify(session, follower, text)
        return None
    return _file_on_ticket(session, follower, _body(row))


def _file_on_ticket(session: Session, follower: WechatFollower, body: str) -> Ticket:
    user = identity_users.get_user(session, follower.user_id) if follower.user_id else None
    ticket = session.get(Ticket, follower.ticket_id) if follower.ticket_id else None
    if ticket is not None and ticket.status != Status.closed.value:
        author = user if user is not None and ticket.requester_user_id == user.id else None
        ticket_messages.do_customer_message(
            session, ticket=ticket, body=body, channel=Channel.wechat.value, author=author
        )
        return ticket
    ticket = tickets.do_open_ticket(
        session,
        tickets.NewTicket(
            channel=Channel.wechat.value,
            subject=_subject(body),
            body=body,
            name=f"微信用户 {follower.openid[-4:]}",
            email=_placeholder_email(follower.openid),
            user=user,
            locale=(user.preferred_locale if user else None) or FOLLOWER_LOCALE,
            acknowledge=False,
        ),
    )
    follower.ticket_id = ticket.id
    session.flush()
    return ticket

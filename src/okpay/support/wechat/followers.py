"""Followers of the Official Account: found or added by openid, and their masked form."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.db import for_update
from okpay.support.models import Ticket
from okpay.support.wechat.models import WechatFollower


def get_follower(session: Session, openid: str) -> WechatFollower | None:
    return session.scalar(select(WechatFollower).where(WechatFollower.openid == openid))


def follower_of_ticket(session: Session, ticket: Ticket) -> WechatFollower | None:
    """The follower whose conversation ``ticket`` holds (None for other channels)."""
    stmt = select(WechatFollower).where(WechatFollower.ticket_id == ticket.id)
    return session.scalar(stmt.order_by(WechatFollower.id).limit(1))


def lock_follower(session: Session, openid: str, at: datetime) -> WechatFollower:
    """The follower ``openid``, added if new, locked for this unit of work (two messages of a
    new follower filed at once make one follower and one ticket)."""
    lock = for_update(session.get_bind().dialect.name)
    stmt = select(WechatFollower).where(WechatFollower.openid == openid).with_for_update(**lock)
    found = session.scalar(stmt.execution_options(populate_existing=True))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            session.add(WechatFollower(openid=openid, created_at=at, last_message_at=at))
    except IntegrityError:
        pass  # added at the same moment by another job: take theirs
    follower = session.scalar(stmt.execution_options(populate_existing=True))
    assert follower is not None
    return follower


def mask_openid(openid: str) -> str:
    """Enough of an openid to tell followers apart on a page, not to use it."""
    if len(openid) <= 8:
        return openid[:2] + "…"
    return f"{openid[:4]}…{openid[-4:]}"

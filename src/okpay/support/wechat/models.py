"""WeChat tables: followers, the messages received (once each), binding codes, outbound
replies, the cached access token, and the dev sandbox's chat."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from okpay.db import Base, BigId, UTCDateTime


class WechatFollower(Base):
    """One follower (an openid of our Official Account): their conversation's current
    ticket, when they last wrote (the platform's 48-hour reply window), and the OKPay
    account they bound, if any."""

    __tablename__ = "wechat_follower"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("ticket.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_message_at: Mapped[datetime] = mapped_column(UTCDateTime)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WechatInbound(Base):
    """A message the platform pushed, stored once per MsgId (the unique key answers a
    retried push once, even when two arrive at the same moment)."""

    __tablename__ = "wechat_inbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(64), unique=True)
    openid: Mapped[str] = mapped_column(String(64))
    msg_type: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    pic_url: Mapped[str] = mapped_column(String(1024), default="")
    media_id: Mapped[str] = mapped_column(String(128), default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WechatBindCode(Base):
    """A one-time code a signed-in customer shows in the app and sends as a WeChat message
    to bind that follower to their account. Only its keyed hash is stored."""

    __tablename__ = "wechat_bind_code"
    __table_args__ = (Index("ix_wechat_bind_code_user", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    used_by_openid: Mapped[str | None] = mapped_column(String(64))


class WechatOutbound(Base):
    """An agent's reply on its way to a follower through the customer-service message API."""

    __tablename__ = "wechat_outbound"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("ticket_message.id"), unique=True)
    openid: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WechatAccessToken(Base):
    """The platform's access token for an app id, kept until shortly before it expires."""

    __tablename__ = "wechat_access_token"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[str] = mapped_column(String(64), unique=True)
    token: Mapped[str] = mapped_column(String(600))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WechatSandboxLine(Base):
    """The dev sandbox's record of a follower's chat: what they sent and what the Official
    Account answered through the (sandbox) customer-service API."""

    __tablename__ = "wechat_sandbox_line"
    __table_args__ = (Index("ix_wechat_sandbox_line_openid", "openid", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    openid: Mapped[str] = mapped_column(String(64))
    side: Mapped[str] = mapped_column(String(10))  # "follower" or "account"
    msg_type: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

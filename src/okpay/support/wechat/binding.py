"""Binding a follower to an OKPay account: the signed-in customer gets a short one-time code
in the app (10 minutes, single use) and sends it to the Official Account as a message. Only
the code travels through WeChat, never a password. The claim is a conditional update, so two
followers sending the same code at once give exactly one winner."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from okpay.core import audit, clock, ratelimit
from okpay.core.errors import RateLimited
from okpay.core.i18n import N_, gettext
from okpay.identity import users as identity_users
from okpay.identity.models import User
from okpay.settings import get_settings
from okpay.support import event_text, events
from okpay.support.models import Status, Ticket
from okpay.support.wechat.models import WechatBindCode, WechatFollower

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 8
CODE_MINUTES = 10
#: Codes a customer may ask for per hour, and codes a follower may try per hour.
ISSUE_PER_HOUR = 5
CLAIM_PER_HOUR = 10


BOUND_EVENT = "wechat_bound"
BOUND_TEXT = N_("%(actor)s linked their WeChat to their OKPay account")
event_text.add_renderer(BOUND_EVENT, lambda f, d: gettext(BOUND_TEXT, actor=f.actor))


@dataclass(frozen=True)
class IssuedCode:
    """A code as shown to the customer once (``display``: grouped for reading)."""

    code: str
    expires_at: datetime

    @property
    def display(self) -> str:
        return f"{self.code[:4]}-{self.code[4:]}"


def _hash(code: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"wechat-bind:{code}".encode(), hashlib.sha256).hexdigest()


def _new_code() -> str:
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        # Two digits at least: a plain word typed to the account is never taken for a code.
        if sum(ch.isdigit() for ch in code) >= 2 and any(ch.isalpha() for ch in code):
            return code


def normalise_code(text: str) -> str | None:
    """The code in a follower's message (any case, one space or dash in the middle), or
    None when the message is not a code."""
    value = text.strip().upper().replace("-", "").replace(" ", "")
    if len(value) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in value):
        return None
    if sum(ch.isdigit() for ch in value) < 2:
        return None
    return value


def do_issue_code(session: Session, *, user: User) -> IssuedCode:
    """A new code for ``user`` (their earlier unused codes stop working). RateLimited after
    a few codes an hour. Audited as ``wechat_bind_code_issued``."""
    ratelimit.shared("wechat-bind-issue", ISSUE_PER_HOUR, 3600).check(f"user:{user.id}")
    now = clock.now()
    session.execute(
        update(WechatBindCode)
        .where(WechatBindCode.user_id == user.id, WechatBindCode.used_at.is_(None))
        .where(WechatBindCode.expires_at > now)
        .values(expires_at=now)
    )
    code = _new_code()
    expires_at = now + timedelta(minutes=CODE_MINUTES)
    session.add(
        WechatBindCode(
            code_hash=_hash(code), user_id=user.id, created_at=now, expires_at=expires_at
        )
    )
    audit.record(session, "wechat_bind_code_issued", actor_user_id=user.id, subject_user_id=user.id)
    session.flush()
    return IssuedCode(code=code, expires_at=expires_at)


@dataclass(frozen=True)
class ClaimOutcome:
    """``result``: "bound", "invalid" (wrong, expired or used) or "throttled"."""

    result: str
    user: User | None = None


def do_claim(session: Session, *, follower: WechatFollower, code: str) -> ClaimOutcome:
    """Bind ``follower`` to the account whose unused, unexpired code this is; the code is
    used up by the same statement that checks it. The follower's open ticket gets that
    account as its requester (the console then shows their wallet). Audited."""
    try:
        ratelimit.shared("wechat-bind-claim", CLAIM_PER_HOUR, 3600).check(
            f"openid:{follower.openid}"
        )
    except RateLimited:
        return ClaimOutcome("throttled")
    now = clock.now()
    code_hash = _hash(code)
    claimed = session.execute(
        update(WechatBindCode)
        .where(WechatBindCode.code_hash == code_hash, WechatBindCode.used_at.is_(None))
        .where(WechatBindCode.expires_at > now)
        .values(used_at=now, used_by_openid=follower.openid)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return ClaimOutcome("invalid")
    row = session.scalar(select(WechatBindCode).where(WechatBindCode.code_hash == code_hash))
    assert row is not None
    user = identity_users.get_user(session, row.user_id)
    if user is None:
        return ClaimOutcome("invalid")
    follower.user_id, follower.bound_at = user.id, now
    ticket = session.get(Ticket, follower.ticket_id) if follower.ticket_id else None
    if ticket is not None and ticket.status != Status.closed.value:
        ticket.requester_user_id = user.id
        ticket.requester_email = user.email
        ticket.requester_name = user.name or ticket.requester_name
        events.record_event(session, ticket, BOUND_EVENT, actor=user)
    audit.record(
        session, "wechat_bound", actor_user_id=user.id, subject_user_id=user.id,
        object_type="wechat_follower", object_id=follower.id,
    )  # fmt: skip
    session.flush()
    return ClaimOutcome("bound", user)


def bound_follower(session: Session, user: User) -> WechatFollower | None:
    """The follower bound to ``user`` most recently, if any."""
    stmt = select(WechatFollower).where(WechatFollower.user_id == user.id)
    return session.scalar(stmt.order_by(WechatFollower.bound_at.desc()).limit(1))

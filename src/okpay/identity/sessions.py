"""Sessions: opening one (known devices, new-device and new-country notices), resolving and
touching it, ending one or all, and the login history."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.core.errors import NotFound
from okpay.core.security import hash_token, new_token
from okpay.db import Database, Loaded, get_database
from okpay.identity import errors, signals, tokens, users
from okpay.identity.devices import device_label
from okpay.identity.models import AccountStatus, KnownDevice, LoginEvent, User, UserSession
from okpay.settings import get_settings


def record_login(
    session: Session, user: User, result: str, user_agent: str | None, *, new_device: bool = False
) -> None:
    """A row in the user's login history (sign-ins, refusals, failed second factors)."""
    session.add(
        LoginEvent(
            user_id=user.id,
            at=clock.now(),
            result=result,
            ip=context.current().ip,
            user_agent=(user_agent or "")[:300] or None,
            device_label=device_label(user_agent),
            new_device=new_device,
            country=context.current().country,
        )
    )


@dataclass
class NewSession:
    record: UserSession
    token: str
    new_device: bool


def start_session(
    session: Session,
    *,
    user: User,
    kind: str,
    device_token: str | None,
    second_factor: str | None = None,
) -> NewSession:
    """Open a session (new random id), record the login and warn about a new device."""
    settings = get_settings()
    ctx = context.current()
    now = clock.now()
    token = new_token(32)
    label = device_label(ctx.user_agent)
    record = UserSession(
        user_id=user.id,
        token_hash=hash_token(token),
        kind=kind,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(days=settings.session_days),
        ip=ctx.ip,
        user_agent=(ctx.user_agent or "")[:300] or None,
        device_label=label,
    )
    session.add(record)
    new_device = False
    if device_token:
        device_hash = hash_token(device_token)
        device = session.scalar(
            select(KnownDevice).where(
                KnownDevice.user_id == user.id, KnownDevice.device_hash == device_hash
            )
        )
        if device is None:
            had_devices = users.row_exists(session, KnownDevice, KnownDevice.user_id == user.id)
            try:
                with session.begin_nested():
                    session.add(
                        KnownDevice(
                            user_id=user.id,
                            device_hash=device_hash,
                            label=label,
                            first_seen_at=now,
                            last_seen_at=now,
                        )
                    )
                new_device = had_devices
            except IntegrityError:
                pass  # a simultaneous sign-in from this device recorded it first
        else:
            device.last_seen_at = now
    new_country = ctx.country is not None and _is_new_country(session, user.id, ctx.country)
    if (
        signals.account_event(
            session,
            user_id=user.id,
            event=signals.SIGN_IN,
            new_device=new_device,
            new_country=new_country,
            country=ctx.country,
        )
        == "block"
    ):
        record.ended_at, record.end_reason = now, "risk_blocked"
        record_login(session, user, "risk_blocked", ctx.user_agent, new_device=new_device)
        audit.record(session, "login_blocked_by_risk", subject_user_id=user.id, kind=kind)
        raise errors.SignInBlocked()
    record_login(session, user, "success", ctx.user_agent, new_device=new_device)
    audit.record(
        session,
        "login_succeeded",
        actor_user_id=user.id,
        subject_user_id=user.id,
        kind=kind,
        second_factor=second_factor,
        new_device=new_device,
        country=ctx.country,
        new_country=new_country,
    )
    session.flush()
    if new_device or new_country:
        not_me = tokens.issue_token(session, user, "not_me")
        users.notify_user(
            session,
            user,
            "new_device",
            {
                "user": user,
                "device": label,
                "ip": ctx.ip or "",
                "country": ctx.country or "",
                "new_country": new_country,
                "when": now,
                "link": tokens.link("/not-me", not_me),
            },
        )
    return NewSession(record=record, token=token, new_device=new_device or new_country)


def _is_new_country(session: Session, user_id: int, country: str) -> bool:
    """True when the user has signed in before, from known countries only, none this one."""
    seen = set(
        session.scalars(
            select(LoginEvent.country)
            .where(
                LoginEvent.user_id == user_id,
                LoginEvent.result == "success",
                LoginEvent.country.is_not(None),
            )
            .distinct()
        )
    )
    return bool(seen) and country not in seen


def resolve_session(
    session: Session, token: str, *, kind: str | None = None
) -> tuple[User, UserSession] | None:
    """The user and session behind a cookie or bearer token, if it is still live."""
    if not token:
        return None
    # One statement: the session row and its user together (a round trip per request saved).
    found = session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == hash_token(token))
    ).first()
    if found is None:
        return None
    row, user = found
    return _live(user, row, kind)


def _live(user: User, row: UserSession, kind: str | None) -> tuple[User, UserSession] | None:
    """The pair while the session is live: not ended, of the kind asked for, neither past
    its end nor idle too long, and the account not closed."""
    if row.ended_at is not None or (kind and row.kind != kind):
        return None
    now = clock.now()
    idle = timedelta(hours=get_settings().session_idle_hours)
    if row.expires_at <= now or row.last_seen_at + idle <= now:
        return None
    if user.status == AccountStatus.closed.value:
        return None
    return user, row


def session_needs_touch(row: UserSession) -> bool:
    """Last-seen is kept to the minute: one write a minute per session, not one per request."""
    return (clock.now() - row.last_seen_at).total_seconds() > 60


def touch_session(session: Session, *, session_id: int) -> None:
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id)
        .values(last_seen_at=clock.now(), ip=context.current().ip)
        .execution_options(synchronize_session=False)
    )


def end_session(session: Session, *, user: User, session_id: int, reason: str = "logout") -> None:
    """End one of ``user``'s sessions; someone else's id is NotFound."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != user.id:
        raise NotFound()
    if row.ended_at is None:
        row.ended_at = clock.now()
        row.end_reason = reason
        audit.record(
            session,
            "session_ended",
            actor_user_id=user.id,
            subject_user_id=user.id,
            object_type="session",
            object_id=row.id,
            reason=reason,
        )


def end_all_sessions(
    session: Session,
    *,
    user_id: int,
    reason: str,
    except_id: int | None = None,
    actor_user_id: int | None = None,
) -> int:
    """End every live session of the user (but ``except_id``); returns how many ended."""
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now(), end_reason=reason)
    )
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    count = session.execute(stmt.execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    audit.record(
        session,
        "sessions_ended",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        reason=reason,
        count=count,
    )
    return int(count or 0)


def list_sessions(session: Session, *, user: User) -> list[UserSession]:
    now = clock.now()
    return list(
        session.scalars(
            select(UserSession)
            .where(
                UserSession.user_id == user.id,
                UserSession.ended_at.is_(None),
                UserSession.expires_at > now,
            )
            .order_by(UserSession.last_seen_at.desc())
        )
    )


def list_logins(session: Session, *, user: User, limit: int = 30) -> list[LoginEvent]:
    return list(
        session.scalars(
            select(LoginEvent)
            .where(LoginEvent.user_id == user.id)
            .order_by(LoginEvent.id.desc())
            .limit(limit)
        )
    )


def resolve_for_request(token: str, kind: str) -> tuple[User, UserSession] | None:
    """The signed-in user and session row for a request's token (``kind`` "web" or "api"),
    detached from the database, read in one statement of its own (one round trip); touches
    the session's last use when due. None for an unknown, expired or ended session (web
    middleware)."""
    db = get_database()
    if db.dialect == "postgresql":
        found = _resolve_through_driver(db, token, kind)
    else:
        with db.one_statement(write=False) as session:
            found = resolve_session(session, token, kind=kind)
            if found is not None:
                session.expunge_all()
    if found is None:
        return None
    user, row = found
    if session_needs_touch(row):
        with db.one_statement() as session:
            touch_session(session, session_id=row.id)
    return user, row


@functools.cache
def _lookup(dialect: Any) -> tuple[Loaded, str]:
    """The session-and-user lookup's loader and SQL (the same for every PostgreSQL)."""
    loaded = Loaded(dialect, (UserSession, "s"), (User, "u"))
    return loaded, (
        f"SELECT {loaded.columns} FROM user_session s"  # noqa: S608 - column names only
        " JOIN user_account u ON u.id = s.user_id WHERE s.token_hash = %(token_hash)s"
    )


def _resolve_through_driver(db: Database, token: str, kind: str) -> tuple[User, UserSession] | None:
    """resolve_session's statement, on PostgreSQL straight through the driver: it runs on
    every signed-in request, and SQLAlchemy's ORM spent four times longer loading the two
    rows than the round trip took."""
    if not token:
        return None
    loaded, sql = _lookup(db.engine.dialect)
    rows = db.autocommit_rows(sql, {"token_hash": hash_token(token)})
    if not rows:
        return None
    row, user = loaded(rows[0])
    return _live(user, row, kind)

"""Changing the password while signed in (re-authenticated; other sessions end), and the new
password an assisted unlock requires."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.core import audit, clock, context
from okpay.identity import errors, passwords, sessions, signals, twofactor, users
from okpay.identity.models import User
from okpay.settings import get_settings


def check_required_change(user: User, new_password: str) -> None:
    """When a new password is required (after an assisted unlock), the old one will not do:
    whoever knew it may be why the account needed recovering."""
    if user.password_change_required and passwords.verify_password(
        user.password_hash, new_password
    ):
        raise errors.PasswordReused(field="new_password")


def set_password(session: Session, user: User, new_password: str) -> None:
    """Store a new password hash for ``user`` (policy and :func:`check_required_change`
    already checked by the caller); a required password change is then done (audited)."""
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    user.updated_at = clock.now()
    signals.account_event(session, user_id=user.id, event=signals.PASSWORD_RESET)
    if user.password_change_required:
        user.password_change_required = False
        audit.record(
            session,
            "required_password_change_completed",
            actor_user_id=user.id,
            subject_user_id=user.id,
        )


def do_change_password(
    session: Session,
    *,
    user: User,
    current_password: str,
    new_password: str,
    code: str | None = None,
    keep_session_id: int | None = None,
) -> None:
    """Change the password while signed in; other sessions end, a notice goes out."""
    user = users.lock_user(session, user.id)
    twofactor.reauthenticate(session, user, current_password, code)
    passwords.check_password_policy(new_password, email=user.email)
    check_required_change(user, new_password)
    set_password(session, user, new_password)
    sessions.end_all_sessions(
        session,
        user_id=user.id,
        reason="password_changed",
        except_id=keep_session_id,
        actor_user_id=user.id,
    )
    audit.record(session, "password_changed", actor_user_id=user.id, subject_user_id=user.id)
    users.notify_user(
        session,
        user,
        "password_changed",
        {
            "user": user,
            "when": clock.now(),
            "ip": context.current().ip or "",
            "reset_url": f"{get_settings().base_url}/password/forgot",
        },
    )

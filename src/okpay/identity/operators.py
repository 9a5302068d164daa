"""Accounts changed by operators and staff: creating users (CLI, demo data), roles, and
status changes (freeze, restrict, release) that end sessions when they must."""

from __future__ import annotations

from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, normalise
from okpay.identity import passwords, sessions, users, validation
from okpay.identity.models import AccountStatus, Role, User


def do_create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: Role,
    name: str = "",
    verified: bool = True,
    locale: str | None = None,
    actor_user_id: int | None = None,
) -> User:
    """Create a user as an operator (CLI, demo data): no enumeration concerns here."""
    email = validation.normalise_email(email)
    passwords.check_password_policy(password, email=email)
    if users.get_user_by_email(session, email) is not None:
        raise ValidationFailed(
            N_("That e-mail address is already used by another account."),
            code="email_taken",
            field="email",
        )
    now = clock.now()
    user = User(
        email=email,
        name=validation.check_person_name(name),
        preferred_locale=normalise(locale),
        password_hash=passwords.hash_password(password),
        password_changed_at=now,
        role=role.value,
        status=AccountStatus.active.value,
        verification_level=0,
        address="",
        email_verified_at=now if verified else None,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    session.flush()
    audit.record(
        session,
        "user_created",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        role=role.value,
    )
    return user


def do_set_role(
    session: Session, *, user_id: int, role: Role, actor_user_id: int | None = None
) -> User:
    user = users.lock_user(session, user_id)
    previous = user.role
    user.role = role.value
    user.updated_at = clock.now()
    audit.record(
        session,
        "role_changed",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        previous=previous,
        role=role.value,
    )
    return user


# Statuses staff set that sign the user out everywhere (restricted only blocks operations).
SESSION_ENDING_STATUSES = frozenset(
    {AccountStatus.frozen, AccountStatus.locked, AccountStatus.closed}
)


def do_set_status(
    session: Session,
    *,
    user_id: int,
    status: AccountStatus,
    reason: str | None,
    actor_user_id: int | None,
) -> User:
    """Change a user's status as staff (freeze, restrict, release); audited. Freezing,
    locking or closing ends every session and API token of the user in the same unit of
    work: whoever holds them (perhaps the fraudster) must sign in again and meet the new
    status."""
    user = users.lock_user(session, user_id)
    action = "account_status_changed"
    users.set_status(session, user, status, reason, action=action, actor_user_id=actor_user_id)
    if status in SESSION_ENDING_STATUSES:
        sessions.end_all_sessions(
            session, user_id=user.id, reason=status.value, actor_user_id=actor_user_id
        )
    return user


# Verification levels: 0 unverified, 1 identity verified, 2 enhanced (the limits for each are
# wallet.limits'; identity only knows which levels exist).
VERIFICATION_LEVELS = (0, 1, 2)


def do_set_verification_level(
    session: Session,
    *,
    user_id: int,
    level: int,
    actor_user_id: int | None,
    reason: str,
) -> User:
    """Set the user's verification level (after a reviewed case); audited with the previous
    level, the new one and the reason. A level outside 0-2 is ``level_invalid``."""
    if isinstance(level, bool) or not isinstance(level, int) or level not in VERIFICATION_LEVELS:
        raise ValidationFailed(
            N_("Choose a verification level of 0, 1 or 2."), code="level_invalid", field="level"
        )
    user = users.lock_user(session, user_id)
    previous = user.verification_level
    user.verification_level = level
    user.updated_at = clock.now()
    audit.record(
        session,
        "verification_level_changed",
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        previous=previous,
        new=level,
        reason=reason[:500],
    )
    return user

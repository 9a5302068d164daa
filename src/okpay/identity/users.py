"""The user row: lookups, the row lock, status changes and notices to the account's own
address. Functions take the session first and only flush; the unit of work commits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import NotFound
from okpay.core.i18n import get_locale
from okpay.db import Base
from okpay.identity.models import AccountStatus, User
from okpay.mail.service import send_email


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email.strip().lower()))


def lock_user(session: Session, user_id: int) -> User:
    """The user row, locked for update (status and counters change under it)."""
    from okpay.db import for_update

    dialect = session.get_bind().dialect.name
    user = session.scalar(
        select(User).where(User.id == user_id).with_for_update(**for_update(dialect))
    )
    if user is None:
        raise NotFound()
    return user


def count_rows(session: Session, model: type[Base], *conditions: Any) -> int:
    """How many ``model`` rows match ``conditions``."""
    return int(session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def row_exists(session: Session, model: type[Base], *conditions: Any) -> bool:
    """Whether a ``model`` row matches ``conditions``."""
    return bool(session.scalar(select(exists().where(*conditions).select_from(model))))


def set_status(
    session: Session,
    user: User,
    status: AccountStatus,
    reason: str | None,
    *,
    action: str,
    actor_user_id: int | None = None,
    **data: Any,
) -> None:
    """Change ``user``'s status and reason; audited as ``action`` with ``data``."""
    previous = user.status
    user.status = status.value
    user.status_reason = reason
    user.status_changed_at = clock.now()
    user.updated_at = clock.now()
    audit.record(
        session,
        action,
        actor_user_id=actor_user_id,
        subject_user_id=user.id,
        previous=previous,
        status=status.value,
        reason=reason,
        **data,
    )


def notify_user(session: Session, user: User, template: str, context: dict[str, Any]) -> None:
    """E-mail the account's own address, in the user's language, after commit."""
    send_email(
        session,
        to=user.email,
        template=template,
        user_id=user.id,
        locale=user.preferred_locale or get_locale(),
        context=context,
    )

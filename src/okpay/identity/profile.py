"""The profile: name, language and postal address (nothing security-relevant)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from okpay.core import audit, clock
from okpay.core.errors import ValidationFailed
from okpay.core.i18n import N_, normalise
from okpay.identity import users, validation
from okpay.identity.models import User


def do_update_profile(
    session: Session,
    *,
    user: User,
    name: str | None = None,
    preferred_locale: str | None = None,
    address: str | None = None,
) -> User:
    """Change name, language or postal address (nothing security-relevant)."""
    user = users.lock_user(session, user.id)
    changed: dict[str, Any] = {}
    if name is not None:
        value = validation.check_person_name(name)
        if value != user.name:
            user.name = value
            changed["name"] = True
    if preferred_locale is not None:
        locale = normalise(preferred_locale)
        if locale is None:
            raise ValidationFailed(
                N_("Please choose a language from the list."),
                code="locale_invalid",
                field="preferred_locale",
            )
        if locale != user.preferred_locale:
            user.preferred_locale = locale
            changed["preferred_locale"] = locale
    if address is not None:
        value = address.strip()
        if len(value) > 500:
            raise ValidationFailed(
                N_("Use at most %(max)s characters."), code="too_long", field="address", max=500
            )
        if any(ord(ch) < 32 and ch not in "\r\n\t" for ch in value):
            raise ValidationFailed(
                N_("This text contains characters that are not allowed."),
                code="control_characters",
                field="address",
            )
        if value != user.address:
            user.address = value
            changed["address"] = True
    if changed:
        user.updated_at = clock.now()
        audit.record(
            session, "profile_updated", actor_user_id=user.id, subject_user_id=user.id, **changed
        )
    return user

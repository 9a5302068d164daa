"""Identity tables. Secrets are stored hashed (tokens, recovery codes) or encrypted (TOTP key)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from okpay.core.i18n import N_, gettext
from okpay.db import Base, UTCDateTime


class Role(enum.StrEnum):
    customer = "customer"
    agent = "agent"
    supervisor = "supervisor"
    admin = "admin"


class AccountStatus(enum.StrEnum):
    active = "active"
    locked = "locked"  # security: too many failed sign-ins, or "this wasn't me"
    restricted = "restricted"  # compliance: some operations blocked
    frozen = "frozen"  # fraud: nothing goes out
    closed = "closed"


STAFF_ROLES = frozenset({Role.agent, Role.supervisor, Role.admin})


class User(Base):
    """A person who signs in: customer or staff."""

    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    email_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    name: Mapped[str] = mapped_column(String(100), default="")
    preferred_locale: Mapped[str | None] = mapped_column(String(8))
    address: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str] = mapped_column(String(16), default=Role.customer.value)
    status: Mapped[str] = mapped_column(String(16), default=AccountStatus.active.value)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verification_level: Mapped[int] = mapped_column(default=0)
    password_hash: Mapped[str] = mapped_column(String(200))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    totp_secret: Mapped[str | None] = mapped_column(String(300))  # encrypted
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column()
    # Set by an assisted unlock (identity.recovery): until cleared, a signed-in session can
    # only choose a new password, then enrol two-factor (identity.required_steps).
    password_change_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    totp_enrolment_required: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Cooling-off after an assisted unlock: no money leaves the wallet before this time.
    outgoing_hold_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def display_name(self) -> str:
        return self.name or self.email.split("@", 1)[0]


class UserSession(Base):
    """A signed-in browser (cookie) or API client (bearer token). Only the token's hash is kept."""

    __tablename__ = "user_session"
    __table_args__ = (Index("ix_user_session_user_id_ended_at", "user_id", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # web | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    device_label: Mapped[str] = mapped_column(String(100), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))


class LoginEvent(Base):
    """A sign-in attempt against a known account: the owner's login history."""

    __tablename__ = "login_event"
    __table_args__ = (Index("ix_login_event_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    result: Mapped[str] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    device_label: Mapped[str] = mapped_column(String(100), default="")
    new_device: Mapped[bool] = mapped_column(default=False)
    country: Mapped[str | None] = mapped_column(String(2))


class KnownDevice(Base):
    """A browser that has signed in to this account before (by its device cookie's hash).

    Known devices get a separate failure budget, so an attacker hammering the account from
    elsewhere cannot lock its owner out (OWASP's device-cookie approach)."""

    __tablename__ = "known_device"
    __table_args__ = (UniqueConstraint("user_id", "device_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    device_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(100), default="")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LoginThrottle(Base):
    """Consecutive failures for one key (an e-mail's hash, an address, an account+device)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OneTimeToken(Base):
    """An e-mailed link's token (verify, reset, unlock, change e-mail, "not me") or an SMS code."""

    __tablename__ = "one_time_token"
    __table_args__ = (Index("ix_one_time_token_user_id_purpose", "user_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    purpose: Mapped[str] = mapped_column(String(24))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class RecoveryCode(Base):
    """A single-use two-factor recovery code, stored hashed."""

    __tablename__ = "recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


STATUS_LABELS = {
    AccountStatus.active.value: N_("Active"),
    AccountStatus.locked.value: N_("Locked"),
    AccountStatus.restricted.value: N_("Restricted"),
    AccountStatus.frozen.value: N_("Frozen"),
    AccountStatus.closed.value: N_("Closed"),
}

STATUS_REASONS = {
    "too_many_failed_logins": N_("Too many failed sign-in attempts."),
    "reported_not_me": N_("You reported a sign-in that was not you."),
    "emergency_freeze": N_("You froze your account in an emergency."),
    "support_freeze": N_("Our security team froze your account to protect it."),
}


def status_label(status: str) -> str:
    """The account status in the reader's language."""
    return gettext(STATUS_LABELS.get(status, status))


def status_reason_label(reason: str | None) -> str:
    return gettext(STATUS_REASONS[reason]) if reason in STATUS_REASONS else (reason or "")

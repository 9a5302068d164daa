"""Request and response bodies of the identity API. Requests forbid unknown fields, so a body
can never set role, status, verification level or limits (mass assignment)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(_Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    name: str = Field("", max_length=200)
    phone: str | None = Field(None, max_length=40)
    locale: str | None = Field(None, max_length=16)


class AcceptedOut(BaseModel):
    """The same answer whatever the address: no enumeration."""

    status: str = "accepted"
    message: str


class TokenIn(_Strict):
    token: str = Field(max_length=200)


class UnlockIn(_Strict):
    token: str = Field(max_length=200)
    otp: str | None = Field(None, max_length=20)


class EmailIn(_Strict):
    email: str = Field(max_length=320)


class LoginIn(_Strict):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    otp: str | None = Field(None, max_length=20, description="TOTP or recovery code, if 2FA is on")
    device_id: str | None = Field(
        None, max_length=64, description="A stable random id the client keeps per installation"
    )


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    email_verified: bool
    phone: str | None
    name: str
    preferred_locale: str | None
    address: str
    role: str
    status: str
    status_reason: str | None
    verification_level: int
    two_factor_enabled: bool
    created_at: datetime
    # After an assisted unlock: what must be done first (each refuses other calls with 403
    # and its own code until done), and when money may leave the wallet again.
    password_change_required: bool = False
    totp_enrolment_required: bool = False
    outgoing_hold_until: datetime | None = None


class LoginOut(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    user: UserOut


class ResetIn(_Strict):
    token: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class PhoneIn(_Strict):
    phone: str = Field(max_length=40, description="The account's verified phone number")


class SmsResetIn(_Strict):
    phone: str = Field(max_length=40)
    code: str = Field(max_length=20, description="The six-digit code texted to the phone")
    password: str = Field(max_length=1024)


class ProfileIn(_Strict):
    name: str | None = Field(None, max_length=200)
    preferred_locale: str | None = Field(None, max_length=16)
    address: str | None = Field(None, max_length=1000)


class PasswordChangeIn(_Strict):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)
    otp: str | None = Field(None, max_length=20)


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    device_label: str
    ip: str | None
    created_at: datetime
    last_seen_at: datetime
    current: bool = False


class LoginEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    result: str
    ip: str | None
    device_label: str
    new_device: bool


class TotpSetupOut(BaseModel):
    secret: str
    otpauth_uri: str
    qr_svg_data_uri: str


class TotpConfirmIn(_Strict):
    password: str = Field(max_length=1024)
    code: str = Field(max_length=20)


class RecoveryCodesOut(BaseModel):
    recovery_codes: list[str]


class ReauthIn(_Strict):
    password: str = Field(max_length=1024)
    otp: str | None = Field(None, max_length=20)


class EmailChangeIn(_Strict):
    new_email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    otp: str | None = Field(None, max_length=20)


class PhoneChangeIn(_Strict):
    new_phone: str = Field(max_length=40)
    password: str = Field(max_length=1024)
    otp: str | None = Field(None, max_length=20)


class CodeIn(_Strict):
    code: str = Field(max_length=20)


def user_out(user: object) -> UserOut:
    from okpay.identity.models import User

    assert isinstance(user, User)
    return UserOut(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        phone=user.phone,
        name=user.name,
        preferred_locale=user.preferred_locale,
        address=user.address,
        role=user.role,
        status=user.status,
        status_reason=user.status_reason,
        verification_level=user.verification_level,
        two_factor_enabled=user.totp_enabled,
        created_at=user.created_at,
        password_change_required=user.password_change_required,
        totp_enrolment_required=user.totp_enrolment_required,
        outgoing_hold_until=user.outgoing_hold_until,
    )

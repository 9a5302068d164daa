"""Two-factor authentication (enrol, replay, recovery codes, disable) and sensitive changes
(e-mail, phone, password) that need re-authentication, confirmation and a notice."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.identity.models import RecoveryCode, User
from tests.helpers import PASSWORD, api_login, api_token, api_verified_user

EMAIL = "jun@example.com"


def enable_2fa(client, headers, clock) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    setup = client.post("/api/v1/me/2fa/setup", headers=headers)
    assert setup.status_code == 200
    secret = setup.json()["secret"]
    assert setup.json()["qr_svg_data_uri"].startswith("data:image/svg+xml")
    assert "otpauth://totp/OKPay" in setup.json()["otpauth_uri"]
    code = pyotp.TOTP(secret).at(clock.now)
    confirm = client.post(
        "/api/v1/me/2fa/confirm", json={"password": PASSWORD, "code": code}, headers=headers
    )
    assert confirm.status_code == 200, confirm.text
    codes = confirm.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    return secret, codes


def test_login_with_2fa_needs_a_code_and_refuses_replay(client, mailbox, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    secret, _codes = enable_2fa(client, headers, clock)
    missing = api_login(client, EMAIL)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "two_factor_required"

    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now)
    assert api_login(client, EMAIL, otp=code).status_code == 200
    replay = api_login(client, EMAIL, otp=code)
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "invalid_code"
    wrong = api_login(client, EMAIL, otp="000000")
    assert wrong.json()["error"]["code"] == "invalid_code"
    clock.advance(seconds=30)
    assert api_login(client, EMAIL, otp=pyotp.TOTP(secret).at(clock.now)).status_code == 200


def test_confirming_with_the_enrolment_code_again_is_a_replay(client, mailbox, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    secret, _ = enable_2fa(client, headers, clock)
    same_step = pyotp.TOTP(secret).at(clock.now)
    assert api_login(client, EMAIL, otp=same_step).json()["error"]["code"] == "invalid_code"


def test_recovery_codes_work_once_and_are_stored_hashed(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    _secret, codes = enable_2fa(client, headers, clock)
    with db.unit_of_work(write=False) as s:
        stored = list(s.scalars(select(RecoveryCode.code_hash)))
    assert all(c.replace("-", "") not in stored and c not in stored for c in codes)
    assert api_login(client, EMAIL, otp=codes[0]).status_code == 200
    reused = api_login(client, EMAIL, otp=codes[0])
    assert reused.json()["error"]["code"] == "invalid_code"
    assert api_login(client, EMAIL, otp=codes[1].upper()).status_code == 200


def test_disable_2fa_needs_password_and_code(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    secret, _ = enable_2fa(client, headers, clock)
    clock.advance(seconds=30)
    code = pyotp.TOTP(secret).at(clock.now)
    bad = client.post(
        "/api/v1/me/2fa/disable", json={"password": "wrong!!!!", "code": code}, headers=headers
    )
    assert bad.json()["error"]["code"] == "wrong_password"
    ok = client.post(
        "/api/v1/me/2fa/disable", json={"password": PASSWORD, "code": code}, headers=headers
    )
    assert ok.status_code == 204
    assert api_login(client, EMAIL).status_code == 200
    assert "turned off" in str(mailbox.last(EMAIL)["Subject"]).lower()


def test_reset_does_not_bypass_2fa(client, mailbox, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    secret, _ = enable_2fa(client, api_token(client, EMAIL), clock)
    client.post("/api/v1/auth/password/forgot", json={"email": EMAIL})
    token = mailbox.token(EMAIL, "/password/reset")
    client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "fresh passphrase"}
    )
    assert (
        api_login(client, EMAIL, "fresh passphrase").json()["error"]["code"]
        == "two_factor_required"
    )
    clock.advance(seconds=30)
    ok = api_login(client, EMAIL, "fresh passphrase", otp=pyotp.TOTP(secret).at(clock.now))
    assert ok.status_code == 200


def test_email_change_needs_password_confirmation_and_notifies_old_address(
    client, mailbox, db
) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    wrong = client.post(
        "/api/v1/me/email",
        json={"new_email": "new@example.com", "password": "nope nope"},
        headers=headers,
    )
    assert wrong.json()["error"]["code"] == "wrong_password"
    assert not mailbox.to("new@example.com")
    ok = client.post(
        "/api/v1/me/email",
        json={"new_email": "new@example.com", "password": PASSWORD},
        headers=headers,
    )
    assert ok.status_code == 202
    assert "n***@example.com" in mailbox.text(mailbox.last(EMAIL))
    token = mailbox.token("new@example.com", "/account/email/confirm")
    # Nothing changes until the new address confirms.
    assert client.get("/api/v1/me", headers=headers).json()["email"] == EMAIL
    done = client.post("/api/v1/me/email/confirm", json={"token": token})
    assert done.status_code == 200 and done.json()["email"] == "new@example.com"
    assert "changed" in str(mailbox.last(EMAIL)["Subject"]).lower()
    assert api_login(client, "new@example.com").status_code == 200
    with db.unit_of_work(write=False) as s:
        assert "email_changed" in set(s.scalars(select(AuditEvent.action)))


def test_phone_change_by_texted_code(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    response = client.post(
        "/api/v1/me/phone",
        json={"new_phone": "138 0013 8000", "password": PASSWORD},
        headers=headers,
    )
    assert response.status_code == 202
    from okpay.mail.models import OutboundSms

    with db.unit_of_work(write=False) as s:
        sms = s.scalars(select(OutboundSms)).one()
    assert sms.to_number == "+8613800138000" and sms.status == "sent"
    code = re.search(r"\d{6}", sms.body).group(0)  # type: ignore[union-attr]
    assert (
        client.post(
            "/api/v1/me/phone/confirm",
            json={"code": "000000" if code != "000000" else "111111"},
            headers=headers,
        ).json()["error"]["code"]
        == "invalid_code"
    )
    done = client.post("/api/v1/me/phone/confirm", json={"code": code}, headers=headers)
    assert done.status_code == 200 and done.json()["phone"] == "+8613800138000"
    assert "mobile number" in str(mailbox.last(EMAIL)["Subject"]).lower()


def test_password_change_ends_other_sessions(client, mailbox) -> None:
    api_verified_user(client, mailbox, EMAIL)
    here = api_token(client, EMAIL)
    elsewhere = api_token(client, EMAIL)
    response = client.post(
        "/api/v1/me/password",
        headers=here,
        json={"current_password": PASSWORD, "new_password": "another fine secret"},
    )
    assert response.status_code == 204
    assert client.get("/api/v1/me", headers=here).status_code == 200
    assert client.get("/api/v1/me", headers=elsewhere).status_code == 401


def test_profile_update_keeps_script_as_text(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    name = '<script>alert("x")</script>'
    response = client.patch(
        "/api/v1/me", json={"name": name, "preferred_locale": "en"}, headers=headers
    )
    assert response.status_code == 200 and response.json()["name"] == name
    with db.unit_of_work(write=False) as s:
        assert s.scalar(select(User.preferred_locale).where(User.email == EMAIL)) == "en"
    bad = client.patch("/api/v1/me", json={"preferred_locale": "klingon"}, headers=headers)
    assert bad.json()["error"]["code"] == "locale_invalid"

"""Registration, verification, sign-in, lockout and reset through the JSON API, against the
rules in QUALITY.md: no enumeration, single-use expiring tokens, throttling, session ends."""

from __future__ import annotations

from sqlalchemy import func, select

from okpay.core.audit import AuditEvent
from okpay.identity.models import OneTimeToken, User, UserSession
from tests.helpers import PASSWORD, api_login, api_register, api_token, api_verified_user

EMAIL = "mei@example.com"


def count(db, model) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def user_row(db, email: str = EMAIL) -> User:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        user = s.scalar(select(User).where(User.email == email))
        assert user is not None
        return user


def test_register_verify_login(client, mailbox, db) -> None:
    response = api_register(client, EMAIL, name="李美")
    assert response.status_code == 202
    assert user_row(db).email_verified_at is None
    # Not verified yet: the right password is refused with a clear code.
    refused = api_login(client, EMAIL)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "email_not_verified"

    token = mailbox.token(EMAIL, "/verify-email")
    verified = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert verified.status_code == 200 and verified.json()["email_verified"] is True

    login = api_login(client, EMAIL)
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.json()['token']}"}
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["email"] == EMAIL and me["name"] == "李美" and me["role"] == "customer"


def test_verification_link_is_single_use(client, mailbox) -> None:
    api_register(client, EMAIL)
    token = mailbox.token(EMAIL, "/verify-email")
    assert client.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200
    again = client.post("/api/v1/auth/verify-email", json={"token": token})
    assert again.status_code == 400 and again.json()["error"]["code"] == "link_used"


def test_registration_does_not_reveal_existing_accounts(client, mailbox, db) -> None:
    first = api_register(client, EMAIL)
    second = api_register(client, EMAIL, password="another long password")
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert count(db, User) == 1
    # The owner hears about the attempt instead.
    assert "already has an account" in mailbox.text(mailbox.last(EMAIL))


def test_weak_passwords_are_refused_with_specific_codes(client, db) -> None:
    cases = {
        "short": "password_too_short",
        "password123": "password_too_common",
        "x" * 129: "password_too_long",
        "5201314a": None,
    }
    for password, code in cases.items():
        response = api_register(client, f"u{len(password)}@example.com", password)
        if code is None:
            assert response.status_code == 202
        else:
            assert response.status_code == 422
            assert response.json()["error"]["code"] == code
    assert count(db, User) == 1


def test_registration_bad_input(client, db) -> None:
    bad_email = api_register(client, "not-an-address")
    assert bad_email.json()["error"]["code"] == "email_invalid"
    crlf = api_register(client, "a@example.com", name="Mei\r\nBcc: victim@example.com")
    assert crlf.status_code == 422 and crlf.json()["error"]["code"] == "line_break_not_allowed"
    phone = api_register(client, "b@example.com", phone="12345")
    assert phone.json()["error"]["code"] == "phone_invalid"
    assert count(db, User) == 0


def test_mass_assignment_is_rejected(client, mailbox, db) -> None:
    sneaky = api_register(client, EMAIL, role="admin", verification_level="2")
    assert sneaky.status_code == 422
    assert {f["field"] for f in sneaky.json()["error"]["fields"]} == {"role", "verification_level"}
    assert count(db, User) == 0
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    for field, value in (
        ("role", "admin"),
        ("status", "active"),
        ("verification_level", 2),
        ("limits", {"daily": 10**9}),
    ):
        response = client.patch("/api/v1/me", json={field: value}, headers=headers)
        assert response.status_code == 422, field
    assert user_row(db).role == "customer" and user_row(db).verification_level == 0


def test_login_does_not_reveal_which_part_was_wrong(client, mailbox) -> None:
    api_verified_user(client, mailbox, EMAIL)
    wrong_password = api_login(client, EMAIL, "not the password")
    unknown = api_login(client, "nobody@example.com", "not the password")
    assert wrong_password.status_code == unknown.status_code == 401
    assert wrong_password.json() == unknown.json()


def test_failed_logins_slow_down_then_lock_and_email_the_owner(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    mailbox.clear()
    codes = []
    for _ in range(10):
        response = api_login(client, EMAIL, "wrong password!")
        codes.append(response.json()["error"]["code"])
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            clock.advance(seconds=int(response.headers["Retry-After"]))
            response = api_login(client, EMAIL, "wrong password!")
            codes.append(response.json()["error"]["code"])
    assert "rate_limited" in codes
    user = user_row(db)
    assert user.status == "locked" and user.status_reason == "too_many_failed_logins"
    assert "locked" in str(mailbox.last(EMAIL)["Subject"]).lower()
    # Even the right password is refused now, with the same answer as for an unknown address.
    clock.advance(minutes=20)
    locked = api_login(client, EMAIL, PASSWORD)
    assert locked.status_code == 403 and locked.json()["error"]["code"] == "account_locked"
    with db.unit_of_work(write=False) as s:
        actions = set(s.scalars(select(AuditEvent.action)))
    assert {"login_failed", "account_locked"} <= actions


def test_unlock_link_restores_access_once(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    _lock(client, clock)
    token = mailbox.token(EMAIL, "/unlock")
    unlocked = client.post("/api/v1/auth/unlock", json={"token": token})
    assert unlocked.status_code == 200 and unlocked.json()["status"] == "active"
    assert api_login(client, EMAIL).status_code == 200
    reused = client.post("/api/v1/auth/unlock", json={"token": token})
    assert reused.json()["error"]["code"] == "link_used"


def _lock(client, clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(30):
        response = api_login(client, EMAIL, "wrong password!")
        if response.status_code == 429:
            clock.advance(seconds=int(response.headers["Retry-After"]))
            continue
        if response.json()["error"]["code"] == "account_locked":
            return
    raise AssertionError("account never locked")


def test_owner_on_a_known_device_is_not_locked_out(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    assert api_login(client, EMAIL, device_id="owner-phone-1").status_code == 200
    _lock(client, clock)  # an attacker elsewhere locks the account
    assert user_row(db).status == "locked"
    owner = api_login(client, EMAIL, device_id="owner-phone-1")
    assert owner.status_code == 200
    assert user_row(db).status == "active"
    # A stranger without the device still cannot get an answer about the password.
    assert api_login(client, EMAIL, "guess", device_id="attacker").status_code in (401, 403, 429)


def test_password_reset_flow(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    old_token = api_token(client, EMAIL)
    known = client.post("/api/v1/auth/password/forgot", json={"email": EMAIL})
    unknown = client.post("/api/v1/auth/password/forgot", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202 and known.json() == unknown.json()
    assert not mailbox.to("ghost@example.com")

    link = mailbox.link(EMAIL, "/password/reset")
    assert link.startswith("http://testserver/password/reset?token=")
    token = link.split("token=")[1]
    assert len(token) >= 43  # 256 bits, URL-safe
    done = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "a brand new secret"}
    )
    assert done.status_code == 200
    # Every session ended; old password refused; new one works.
    assert client.get("/api/v1/me", headers=old_token).status_code == 401
    assert api_login(client, EMAIL).status_code == 401
    assert api_login(client, EMAIL, "a brand new secret").status_code == 200
    assert "changed" in str(mailbox.last(EMAIL)["Subject"]).lower()
    again = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "third secret!!"}
    )
    assert again.json()["error"]["code"] == "link_used"


def test_reset_token_expires_after_30_minutes(client, mailbox, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    client.post("/api/v1/auth/password/forgot", json={"email": EMAIL})
    token = mailbox.token(EMAIL, "/password/reset")
    clock.advance(minutes=31)
    expired = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "a brand new secret"}
    )
    assert expired.status_code == 400 and expired.json()["error"]["code"] == "link_expired"
    assert api_login(client, EMAIL).status_code == 200


def test_reset_tokens_are_stored_hashed(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    client.post("/api/v1/auth/password/forgot", json={"email": EMAIL})
    token = mailbox.token(EMAIL, "/password/reset")
    with db.unit_of_work(write=False) as s:
        stored = list(s.scalars(select(OneTimeToken.token_hash)))
    assert token not in stored and all(len(h) == 64 for h in stored)


def test_reset_link_is_built_from_base_url_not_host_header(client, mailbox) -> None:
    api_verified_user(client, mailbox, EMAIL)
    client.post(
        "/api/v1/auth/password/forgot", json={"email": EMAIL}, headers={"Host": "evil.example"}
    )
    assert mailbox.link(EMAIL, "/password/reset").startswith("http://testserver/")


def test_logout_ends_the_session(client, mailbox) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_each_login_gets_a_new_session(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    first = api_token(client, EMAIL)
    second = api_token(client, EMAIL)
    assert first != second
    assert count(db, UserSession) == 2


def test_another_users_session_cannot_be_seen_or_ended(client, mailbox) -> None:
    api_verified_user(client, mailbox, EMAIL)
    api_verified_user(client, mailbox, "other@example.com")
    mine = api_token(client, EMAIL)
    theirs = api_token(client, "other@example.com")
    their_ids = [s["id"] for s in client.get("/api/v1/me/sessions", headers=theirs).json()]
    my_ids = [s["id"] for s in client.get("/api/v1/me/sessions", headers=mine).json()]
    assert not set(their_ids) & set(my_ids)
    response = client.delete(f"/api/v1/me/sessions/{their_ids[0]}", headers=mine)
    assert response.status_code == 404
    assert client.get("/api/v1/me", headers=theirs).status_code == 200


def test_new_device_sends_notice_with_not_me_link(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    api_token(client, EMAIL, device_id="laptop")
    mailbox.clear()
    session = api_token(client, EMAIL, device_id="unknown-tablet")
    notice = mailbox.last(EMAIL)
    assert "new sign-in" in str(notice["Subject"]).lower()
    token = mailbox.token(EMAIL, "/not-me")
    # "This wasn't me": locked, every session ended.
    from okpay.identity import recovery

    with db.unit_of_work() as s:
        recovery.do_report_not_me(s, token=token)
    assert client.get("/api/v1/me", headers=session).status_code == 401
    assert user_row(db).status == "locked"
    assert api_login(client, EMAIL, device_id="laptop").json()["error"]["code"] == "account_locked"


def test_a_stale_password_precheck_is_not_trusted(client, mailbox, db) -> None:
    """The sign-in precheck runs before the write transaction; if the password changed in
    between, the write side verifies again instead of trusting it."""
    from okpay.identity import errors, password_change, sign_in

    api_verified_user(client, mailbox, EMAIL)
    with db.unit_of_work(write=False) as s:
        precheck = sign_in.precheck_password(s, email=EMAIL, password=PASSWORD)
    assert precheck is not None and precheck.ok
    with db.unit_of_work() as s:
        user = s.scalar(select(User).where(User.email == EMAIL))
        password_change.set_password(s, user, "changed in between!")
    import pytest

    with pytest.raises(errors.InvalidCredentials), db.unit_of_work() as s:
        sign_in.check_password_login(
            s, email=EMAIL, password=PASSWORD, device_token=None, precheck=precheck
        )


def test_resend_answers_alike_even_right_after_a_send(client, mailbox) -> None:
    api_register(client, EMAIL)
    first = client.post("/api/v1/auth/verify-email/resend", json={"email": EMAIL})
    unknown = client.post("/api/v1/auth/verify-email/resend", json={"email": "nobody@example.com"})
    assert first.status_code == unknown.status_code == 202 and first.json() == unknown.json()
    assert len(mailbox.to(EMAIL)) == 1  # the registration mail; no second one within a minute


def test_failures_on_an_unregistered_address_expire(client, mailbox, clock, db) -> None:
    for _ in range(15):
        response = api_login(client, EMAIL, "guessing!!")
        if response.status_code == 429:
            clock.advance(seconds=int(response.headers["Retry-After"]))
    clock.advance(hours=25)
    api_verified_user(client, mailbox, EMAIL)
    assert api_login(client, EMAIL).status_code == 200


def test_sign_in_from_a_new_country_sends_a_notice(db, mailbox, settings) -> None:
    from starlette.testclient import TestClient

    from okpay.app import create_app
    from okpay.settings import configure

    app = create_app(settings.model_copy(update={"country_header": "CF-IPCountry"}))
    try:
        with TestClient(app, headers={"Accept-Language": "en"}) as client:
            api_verified_user(client, mailbox, EMAIL)

            def login_from(country: str) -> int:
                return client.post(
                    "/api/v1/auth/login",
                    headers={"CF-IPCountry": country},
                    json={"email": EMAIL, "password": PASSWORD, "device_id": "phone"},
                ).status_code

            assert login_from("CN") == 200 and login_from("CN") == 200
            mailbox.clear()
            assert login_from("JP") == 200
            notice = mailbox.text(mailbox.last(EMAIL))
            assert "country it has not been used from before" in notice and "Japan" in notice
            assert "/not-me?token=" in notice
    finally:
        configure(settings)

"""Assisted unlock (support unlocks a customer who lost their e-mail or authenticator) and
verification levels: what an attacker holding the old session, the old authenticator or an
old link can still do (nothing), and the steps the customer must take at the next sign-in."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.core.errors import NotFound, ValidationFailed
from okpay.identity import errors, operators, recovery
from okpay.identity.models import AccountStatus, KnownDevice, LoginThrottle, RecoveryCode, User
from tests.helpers import (
    NEW_PASSWORD,
    PASSWORD,
    api_login,
    api_token,
    api_verified_user,
    csrf_from,
    finish_assisted_unlock,
    totp_now,
)

EMAIL = "lan@example.com"


def enable_2fa(client, headers, clock) -> str:  # type: ignore[no-untyped-def]
    secret = client.post("/api/v1/me/2fa/setup", headers=headers).json()["secret"]
    confirm = client.post(
        "/api/v1/me/2fa/confirm",
        json={"password": PASSWORD, "code": totp_now(secret, clock.now)},
        headers=headers,
    )
    assert confirm.status_code == 200, confirm.text
    return secret


def user_id(db, email: str = EMAIL) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return int(s.scalar(select(User.id).where(User.email == email)))


def load(db, uid: int) -> User:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        user = s.get(User, uid)
        assert user is not None
        s.expunge(user)
        return user


def unlock(db, uid: int) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        recovery.do_assisted_unlock(
            s, user_id=uid, actor_user_id=None, reason="Case 7: ID checked, lost phone"
        )


def actions(db, uid: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(
            s.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_user_id == uid)
                .order_by(AuditEvent.id)
            )
        )


def code(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["error"]["code"])


@pytest.fixture
def locked_with_2fa(client, mailbox, db, clock):  # type: ignore[no-untyped-def]
    """A customer with two-factor on, an API session open, locked after "this wasn't me"."""
    api_verified_user(client, mailbox, EMAIL)
    old_headers = api_token(client, EMAIL)
    secret = enable_2fa(client, old_headers, clock)
    uid = user_id(db)
    with db.unit_of_work() as s:
        operators.do_set_status(
            s,
            user_id=uid,
            status=AccountStatus.locked,
            reason="reported_not_me",
            actor_user_id=None,
        )
    return uid, old_headers, secret


# ------------------------------------------------------------------ attacker and crash angles


def test_sessions_from_before_the_unlock_are_dead(client, db, clock, locked_with_2fa) -> None:
    uid, _old, secret = locked_with_2fa
    clock.advance(seconds=30)
    # A session opened just before the unlock (the account was active then).
    with db.unit_of_work() as s:
        operators.do_set_status(
            s, user_id=uid, status=AccountStatus.active, reason=None, actor_user_id=None
        )
    before = api_token(client, EMAIL, otp=totp_now(secret, clock.now))
    client.cookies.clear()
    unlock(db, uid)
    for headers in (before, _old):
        assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_the_old_authenticator_and_recovery_codes_no_longer_work(
    client, db, clock, locked_with_2fa
) -> None:
    uid, _old, secret = locked_with_2fa
    unlock(db, uid)
    user = load(db, uid)
    assert user.totp_secret is None and user.totp_enabled_at is None
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(RecoveryCode).where(RecoveryCode.user_id == uid)).all() == []
    clock.advance(seconds=30)
    headers = api_token(client, EMAIL)  # the password alone signs in now: no second factor
    assert (
        client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        ).status_code
        == 204
    )
    # A code from the old authenticator cannot confirm the new enrolment.
    new_secret = client.post("/api/v1/me/2fa/setup", headers=headers).json()["secret"]
    assert new_secret != secret
    old_code = client.post(
        "/api/v1/me/2fa/confirm",
        json={"password": NEW_PASSWORD, "code": totp_now(secret, clock.now)},
        headers=headers,
    )
    assert code(old_code) == "invalid_code"
    assert load(db, uid).totp_enrolment_required is True


def test_links_sent_before_the_unlock_are_dead(client, mailbox, db, clock, locked_with_2fa) -> None:
    uid, _old, _secret = locked_with_2fa
    client.post("/api/v1/auth/password/forgot", json={"email": EMAIL})
    token = mailbox.token(EMAIL, "/password/reset")
    unlock(db, uid)
    reset = client.post(
        "/api/v1/auth/password/reset", json={"token": token, "password": "taken over by me"}
    )
    assert code(reset) == "link_used"
    assert api_login(client, EMAIL, "taken over by me").status_code == 401


def test_nothing_but_the_required_steps_works_until_they_are_done(
    client, db, clock, locked_with_2fa
) -> None:
    uid, _old, _secret = locked_with_2fa
    unlock(db, uid)
    login = api_login(client, EMAIL)
    assert login.status_code == 200, login.text
    assert login.json()["user"]["password_change_required"] is True
    assert login.json()["user"]["status"] == "active"
    headers = {"Authorization": f"Bearer {login.json()['token']}"}

    refused = [
        client.get("/api/v1/wallet/balances", headers=headers),
        client.patch("/api/v1/me", json={"name": "Lan"}, headers=headers),
        client.get("/api/v1/me/sessions", headers=headers),
        client.post("/api/v1/me/2fa/setup", headers=headers),  # password first
        client.post(
            "/api/v1/me/email",
            json={"new_email": "x@example.com", "password": PASSWORD},
            headers=headers,
        ),
        client.get("/api/v1/support/tickets", headers=headers),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert code(response) == "password_change_required"
        assert "support" in response.json()["error"]["message"]
    # Nothing in a body can clear the flag.
    extra = client.patch("/api/v1/me", json={"password_change_required": False}, headers=headers)
    assert extra.status_code == 403
    # What the client may still do: read who it is, sign out.
    me = client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200 and me.json()["totp_enrolment_required"] is True

    # The old password does not count as a new one.
    same = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": PASSWORD},
        headers=headers,
    )
    assert same.status_code == 422 and code(same) == "password_reused"
    weak = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "short"},
        headers=headers,
    )
    assert weak.status_code == 422
    assert load(db, uid).password_change_required is True

    assert (
        client.post(
            "/api/v1/me/password",
            json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        ).status_code
        == 204
    )
    after_password = client.get("/api/v1/wallet/balances", headers=headers)
    assert after_password.status_code == 403 and code(after_password) == "totp_enrolment_required"
    assert code(client.patch("/api/v1/me", json={"name": "L"}, headers=headers)) == (
        "totp_enrolment_required"
    )

    secret = client.post("/api/v1/me/2fa/setup", headers=headers).json()["secret"]
    assert (
        client.post(
            "/api/v1/me/2fa/confirm",
            json={"password": NEW_PASSWORD, "code": totp_now(secret, clock.now)},
            headers=headers,
        ).status_code
        == 200
    )
    assert client.get("/api/v1/wallet/balances", headers=headers).status_code == 200
    user = load(db, uid)
    assert not user.password_change_required and not user.totp_enrolment_required
    assert user.totp_enabled
    done = actions(db, uid)
    assert "required_password_change_completed" in done
    assert "required_totp_enrolment_completed" in done
    # From now on the new password and the new authenticator are both needed.
    clock.advance(seconds=30)
    assert code(api_login(client, EMAIL, NEW_PASSWORD)) == "two_factor_required"
    assert (
        api_login(client, EMAIL, NEW_PASSWORD, otp=pyotp.TOTP(secret).at(clock.now)).status_code
        == 200
    )


def test_a_reset_link_counts_as_the_new_password_but_not_the_old_one(
    client, mailbox, db, clock, locked_with_2fa
) -> None:
    uid, _old, _secret = locked_with_2fa
    unlock(db, uid)
    client.post("/api/v1/auth/password/forgot", json={"email": EMAIL})
    token = mailbox.token(EMAIL, "/password/reset")
    same = client.post("/api/v1/auth/password/reset", json={"token": token, "password": PASSWORD})
    assert code(same) == "password_reused"
    assert load(db, uid).password_change_required is True
    ok = client.post("/api/v1/auth/password/reset", json={"token": token, "password": NEW_PASSWORD})
    assert ok.status_code == 200, ok.text
    user = load(db, uid)
    assert not user.password_change_required and user.totp_enrolment_required
    headers = api_token(client, EMAIL, NEW_PASSWORD)
    assert code(client.get("/api/v1/wallet/balances", headers=headers)) == "totp_enrolment_required"


def test_unlock_forgets_devices_and_throttles_and_audits(
    client, db, clock, locked_with_2fa
) -> None:
    uid, _old, _secret = locked_with_2fa
    with db.unit_of_work() as s:
        s.add(
            KnownDevice(
                user_id=uid,
                device_hash="d" * 64,
                label="Phone",
                first_seen_at=clock.now,
                last_seen_at=clock.now,
            )
        )
        for key in (f"dev:{uid}:abc", f"2fa:{uid}", f"reauth:{uid}", "dev:99:abc"):
            s.add(
                LoginThrottle(
                    key=key, failures=5, window_started_at=clock.now, last_failure_at=clock.now
                )
            )
    unlock(db, uid)
    with db.unit_of_work(write=False) as s:
        assert s.scalars(select(KnownDevice).where(KnownDevice.user_id == uid)).all() == []
        keys = set(s.scalars(select(LoginThrottle.key)))
        assert not keys & {f"dev:{uid}:abc", f"2fa:{uid}", f"reauth:{uid}"}
        assert "dev:99:abc" in keys  # another user's device counter stays
        event = s.scalar(
            select(AuditEvent).where(
                AuditEvent.action == "account_assisted_unlock", AuditEvent.subject_user_id == uid
            )
        )
        assert event is not None
        assert event.data["previous_status"] == "locked"
        assert event.data["reason"] == "Case 7: ID checked, lost phone"
        assert event.data["had_two_factor"] is True
    user = load(db, uid)
    assert user.status == "active" and user.status_reason is None
    assert user.outgoing_hold_until == clock.now + timedelta(hours=24)


def test_a_closed_account_is_not_unlocked(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    uid = user_id(db)
    with db.unit_of_work() as s:
        operators.do_set_status(
            s, user_id=uid, status=AccountStatus.closed, reason="closed", actor_user_id=None
        )
    with pytest.raises(errors.AccountClosed), db.unit_of_work() as s:
        recovery.do_assisted_unlock(s, user_id=uid, actor_user_id=None, reason="x")
    user = load(db, uid)
    assert user.status == "closed" and not user.password_change_required
    with pytest.raises(NotFound), db.unit_of_work() as s:
        recovery.do_assisted_unlock(s, user_id=uid + 99, actor_user_id=None, reason="x")


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            "en",
            ["Sign in with your password", "choose a new password", "two-factor", "cannot leave"],
        ),
        ("zh-CN", ["密码登录", "新密码", "双重认证", "无法转出"]),
    ],
)
def test_the_customer_is_told_what_happens_next(
    client, mailbox, db, clock, settings, locale, words
) -> None:
    api_verified_user(client, mailbox, EMAIL)
    uid = user_id(db)
    with db.unit_of_work() as s:
        s.get(User, uid).preferred_locale = locale.replace("-", "_")  # type: ignore[union-attr]
    settings.recovery_cooling_off_hours = 48
    unlock(db, uid)
    text = mailbox.text(mailbox.last(EMAIL))
    for word in words:
        assert word in text, text
    assert "http://testserver/login" in text
    # 2026-11-21 09:00 UTC + 48 h is 2026-11-23 17:00 in Shanghai.
    assert "17:00" in text and "23" in text
    assert "2026-11-23T" not in text


# --------------------------------------------------------------------------------- pages


def test_pages_walk_the_customer_through_both_steps(client, db, clock, locked_with_2fa) -> None:
    uid, _old, _secret = locked_with_2fa
    unlock(db, uid)
    login_page = client.get("/login")
    signed_in = client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_from(login_page.text)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    for path in ("/", "/wallet", "/account/security", "/support/requests", "/account/2fa/setup"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/account/recovered/password", path
    page = client.get("/account/recovered/password")
    assert page.status_code == 200
    assert "recovered with help from support" in page.text
    assert 'href="/wallet"' not in page.text  # nowhere else to go from here
    token = csrf_from(page.text)
    # A state change elsewhere is not done: the browser is sent to the step.
    profile = client.post(
        "/account/profile",
        data={"name": "Attacker", "preferred_locale": "en", "csrf_token": token},
        follow_redirects=False,
    )
    assert profile.headers["location"] == "/account/recovered/password"
    assert load(db, uid).name != "Attacker"

    mismatch = client.post(
        "/account/recovered/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD + "x",
            "csrf_token": token,
        },
    )
    assert mismatch.status_code == 400 and "do not match" in mismatch.text
    reused = client.post(
        "/account/recovered/password",
        data={
            "current_password": PASSWORD,
            "new_password": PASSWORD,
            "new_password_again": PASSWORD,
            "csrf_token": token,
        },
    )
    assert reused.status_code == 422 and "not used on this account before" in reused.text
    saved = client.post(
        "/account/recovered/password",
        data={
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert saved.headers["location"] == "/account/recovered/two-factor"
    assert client.get("/wallet", follow_redirects=False).headers["location"] == (
        "/account/recovered/two-factor"
    )
    step_two = client.get("/account/recovered/two-factor")
    assert "old authenticator codes and recovery codes no longer work" in step_two.text
    form = step_two.text[step_two.text.index('action="/account/2fa/setup"') :]
    begun = client.post(
        "/account/2fa/setup", data={"csrf_token": csrf_from(form)}, follow_redirects=True
    )
    assert "Step 2 of 2" in begun.text
    import re

    secret = re.search(r'data-secret="([A-Z2-7]+)"', begun.text).group(1)  # type: ignore[union-attr]
    codes = client.post(
        "/account/2fa/confirm",
        data={
            "password": NEW_PASSWORD,
            "code": totp_now(secret, clock.now),
            "csrf_token": csrf_from(begun.text),
        },
    )
    assert codes.status_code == 200 and 'href="/wallet"' in codes.text
    wallet = client.get("/wallet", follow_redirects=False)
    assert wallet.status_code == 200
    # Done: the step pages send the customer on.
    assert (
        client.get("/account/recovered/password", follow_redirects=False).headers["location"]
        == "/wallet"
    )


def test_step_pages_in_chinese(client, db, clock, locked_with_2fa) -> None:
    uid, _old, _secret = locked_with_2fa
    with db.unit_of_work() as s:
        s.get(User, uid).preferred_locale = "zh_CN"  # type: ignore[union-attr]
    unlock(db, uid)
    headers = {"Accept-Language": "zh-CN"}
    login_page = client.get("/login", headers=headers)
    client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_from(login_page.text)},
        headers=headers,
    )
    page = client.get("/wallet", headers=headers)
    assert page.url.path == "/account/recovered/password"
    assert "客服" in page.text and "新密码" in page.text
    api = client.get(
        "/api/v1/wallet/balances",
        headers={**headers, **api_token(client, EMAIL)},
    )
    assert "客服" in api.json()["error"]["message"]


def test_a_customer_without_the_flags_never_sees_the_steps(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    headers = api_token(client, EMAIL)
    assert client.get("/api/v1/wallet/balances", headers=headers).status_code == 200
    me = client.get("/api/v1/me", headers=headers).json()
    assert me["password_change_required"] is False and me["outgoing_hold_until"] is None


def test_finishing_the_steps_helper(client, mailbox, db, clock) -> None:
    api_verified_user(client, mailbox, EMAIL)
    unlock(db, user_id(db))
    headers = finish_assisted_unlock(client, EMAIL, clock)
    assert client.get("/api/v1/wallet/balances", headers=headers).status_code == 200


# ------------------------------------------------------------------------ verification level


def test_verification_level_is_set_and_audited(client, mailbox, db) -> None:
    api_verified_user(client, mailbox, EMAIL)
    uid = user_id(db)
    with db.unit_of_work() as s:
        operators.do_set_verification_level(
            s, user_id=uid, level=2, actor_user_id=None, reason="Case 3: passport and payslip"
        )
    assert load(db, uid).verification_level == 2
    with db.unit_of_work(write=False) as s:
        event = s.scalar(
            select(AuditEvent).where(AuditEvent.action == "verification_level_changed")
        )
        assert event is not None and event.subject_user_id == uid
        assert event.data == {"previous": 0, "new": 2, "reason": "Case 3: passport and payslip"}


@pytest.mark.parametrize("level", [-1, 3, 99, True, "1", 1.0])
def test_a_level_outside_0_to_2_is_refused(client, mailbox, db, level) -> None:
    api_verified_user(client, mailbox, EMAIL)
    uid = user_id(db)
    with pytest.raises(ValidationFailed) as caught, db.unit_of_work() as s:
        operators.do_set_verification_level(
            s, user_id=uid, level=level, actor_user_id=None, reason="x"
        )
    assert caught.value.code == "level_invalid"
    assert load(db, uid).verification_level == 0


def test_websockets_are_closed_until_the_steps_are_done(client, db, clock, locked_with_2fa) -> None:
    from starlette.websockets import WebSocketDisconnect

    uid, _old, _secret = locked_with_2fa
    from okpay.identity.models import Role

    with db.unit_of_work() as s:  # an agent: the agents' socket would otherwise accept
        operators.do_set_role(s, user_id=uid, role=Role.agent)
    unlock(db, uid)
    login_page = client.get("/login")
    client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_from(login_page.text)},
        follow_redirects=False,
    )
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("/agent/chats/ws", headers={"Origin": "http://testserver"}),
    ):
        pass
    assert closed.value.code == 1008
    # Signing in again over the API is allowed, and gets the same steps.
    again = client.post(
        "/api/v1/auth/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers=api_token(client, EMAIL),
    )
    assert again.status_code == 200 and again.json()["user"]["password_change_required"]

"""Password reset by a texted code (issue 14, seed 003): the same answer for any number, a
six-digit code that works once for ten minutes, guesses throttled, the e-mail reset's rules
and consequences (sessions end, two-factor stays required)."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.core.security import encrypt_secret
from okpay.identity.models import OneTimeToken, User
from okpay.mail.models import OutboundSms
from tests.helpers import PASSWORD, api_login, api_token, post_form
from tests.identity.test_no_enumeration import observe, run_jobs  # noqa: F401  (fixture)
from tests.wallet.helpers import make_user

EMAIL = "lihua@example.com"
PHONE = "+8613912345678"
NEW = "a brand new passphrase"
FORGOT = "/api/v1/auth/password/forgot/sms"
RESET = "/api/v1/auth/password/reset/sms"


def customer(db, clock, *, locale: str = "zh-CN", verified: bool = True) -> int:  # type: ignore[no-untyped-def]
    uid = make_user(db, EMAIL, phone=PHONE)
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        user.preferred_locale = locale
        user.phone_verified_at = clock.now if verified else None
    return int(uid)


def texts(db) -> list[OutboundSms]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def texted_code(db) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r"\b(\d{6})\b", texts(db)[-1].body)
    assert match
    return match.group(1)


def reset(client, code: str, password: str = NEW, phone: str = "139 1234 5678"):  # type: ignore[no-untyped-def]
    return client.post(RESET, json={"phone": phone, "code": code, "password": password})


def error_code(response) -> str:  # type: ignore[no-untyped-def]
    return str(response.json()["error"]["code"])


def test_reset_by_texted_code_then_sign_in(client, db, clock, mailbox) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    old_session = api_token(client, EMAIL)
    asked = client.post(FORGOT, json={"phone": "139 1234 5678"})
    assert asked.status_code == 202
    [sent] = texts(db)
    assert sent.to_number == PHONE and sent.user_id == uid
    assert "重置密码" in sent.body and "10 分钟" in sent.body  # the user's language
    code = texted_code(db)
    with db.unit_of_work(write=False) as s:  # stored hashed only
        row = s.scalars(
            select(OneTimeToken).where(OneTimeToken.purpose == "reset_password_sms")
        ).one()
        assert code not in row.token_hash and code not in str(row.data)

    done = reset(client, code)
    assert done.status_code == 200, done.text
    assert client.get("/api/v1/me", headers=old_session).status_code == 401  # sessions ended
    assert api_login(client, EMAIL).status_code == 401
    assert api_login(client, EMAIL, NEW).status_code == 200
    assert "changed" in str(mailbox.last(EMAIL)["Subject"]).lower() or mailbox.last(EMAIL)
    with db.unit_of_work(write=False) as s:
        audit = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "password_reset", AuditEvent.subject_user_id == uid
            )
        ).one()
        assert audit.data["method"] == "sms_code"

    again = reset(client, code, "yet another passphrase")  # reused
    assert again.status_code == 400 and error_code(again) == "invalid_code"
    assert api_login(client, EMAIL, NEW).status_code == 200


def test_known_and_unknown_numbers_get_the_same_answer_and_work(  # type: ignore[no-untyped-def]
    client,
    db,
    clock,
    observe,  # noqa: F811
    monkeypatch,
) -> None:
    customer(db, clock)
    for phone in ("+86 139 1234 5678", "13800000000"):  # warm-up: both numbers' rate rows exist
        client.post(FORGOT, json={"phone": phone})
    answers, works = [], []
    for phone in ["13912345678", "13800000000"] * 2:  # known, unknown, interleaved
        with observe() as work:
            answers.append(client.post(FORGOT, json={"phone": phone}))
        works.append(work)
    assert len({(a.status_code, a.text) for a in answers}) == 1
    assert answers[0].status_code == 202
    assert works[0].shape() == works[1].shape() == works[2].shape() == works[3].shape()
    assert len(works[0].jobs) == 1
    assert not any("outbound_sms" in q or "one_time_token" in q for q in works[0].sql)
    run_jobs(monkeypatch, *works)
    # Only the account's verified phone receives anything (and not again within a minute).
    assert {t.to_number for t in texts(db)} == {PHONE}

    # Entering a code: a wrong code for the known number and any code for an unknown one
    # give the same answer.
    wrong = reset(client, "000000" if texted_code(db) != "000000" else "111111")
    unknown = reset(client, "123456", phone="13800000000")
    assert wrong.status_code == unknown.status_code == 400
    assert wrong.json() == unknown.json() and error_code(wrong) == "invalid_code"


def test_unverified_phone_gets_no_code(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock, verified=False)
    assert client.post(FORGOT, json={"phone": PHONE}).status_code == 202
    assert texts(db) == []


def test_code_expires_after_ten_minutes(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock)
    client.post(FORGOT, json={"phone": PHONE})
    clock.advance(minutes=10, seconds=1)
    expired = reset(client, texted_code(db))
    assert expired.status_code == 400 and error_code(expired) == "reset_code_expired"
    assert api_login(client, EMAIL).status_code == 200  # nothing changed


def test_wrong_codes_are_throttled_per_number(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock)
    client.post(FORGOT, json={"phone": PHONE})
    code = texted_code(db)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        assert error_code(reset(client, wrong)) == "invalid_code"
    assert reset(client, wrong).status_code == 429  # growing delays
    for _ in range(2):
        clock.advance(seconds=20)
        assert error_code(reset(client, wrong)) == "invalid_code"
    clock.advance(seconds=60)
    blocked = reset(client, code)  # five wrong guesses: even the right code waits
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 60
    # The same budget applies to a number nobody uses (no difference to observe).
    for _ in range(3):
        assert error_code(reset(client, wrong, phone="13800000000")) == "invalid_code"
    assert reset(client, wrong, phone="13800000000").status_code == 429
    clock.advance(minutes=15)
    client.post(FORGOT, json={"phone": PHONE})
    assert reset(client, texted_code(db)).status_code == 200


def test_requests_are_capped_per_number_known_or_not(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock)
    for phone in (PHONE, "13800000000"):
        for _ in range(5):
            assert client.post(FORGOT, json={"phone": phone}).status_code == 202
            clock.advance(seconds=61)
        capped = client.post(FORGOT, json={"phone": phone})
        assert capped.status_code == 429 and error_code(capped) == "rate_limited"
    assert len(texts(db)) == 5


def test_resend_within_a_minute_texts_once(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock)
    client.post(FORGOT, json={"phone": PHONE})
    client.post(FORGOT, json={"phone": PHONE})
    assert len(texts(db)) == 1


def test_bad_input(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock)
    bad = client.post(FORGOT, json={"phone": "12345"})
    assert bad.status_code == 422 and error_code(bad) == "phone_invalid"
    assert client.post(FORGOT, json={"phone": PHONE, "role": "admin"}).status_code == 422
    client.post(FORGOT, json={"phone": PHONE})
    code = texted_code(db)
    weak = reset(client, code, "short")
    assert weak.status_code == 422 and error_code(weak) == "password_too_short"
    assert reset(client, code).status_code == 200  # the refused attempt did not use the code


def test_reset_keeps_two_factor_required(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    secret = pyotp.random_base32()
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        user.totp_secret = encrypt_secret(secret)
        user.totp_enabled_at = clock.now
    client.post(FORGOT, json={"phone": PHONE})
    assert reset(client, texted_code(db)).status_code == 200
    no_code = api_login(client, EMAIL, NEW)
    assert no_code.status_code == 401 and error_code(no_code) == "two_factor_required"
    assert api_login(client, EMAIL, NEW, otp=pyotp.TOTP(secret).at(clock.now)).status_code == 200
    assert PASSWORD != NEW


# --------------------------------------------------------------------------------- pages


def test_forgot_page_takes_a_phone_number_then_the_code_page_resets(client, db, clock) -> None:  # type: ignore[no-untyped-def]
    customer(db, clock)
    form = client.get("/password/forgot")
    assert 'name="account"' in form.text
    asked = post_form(client, "/password/forgot", {"account": "139 1234 5678"})
    assert asked.status_code == 303 and asked.headers["location"] == "/password/reset/sms"
    assert "13912345678" not in asked.headers["location"]
    page = client.get("/password/reset/sms")
    assert "+86 139****5678" in page.text and "10" in page.text
    code = texted_code(db)

    mismatch = post_form(
        client,
        "/password/reset/sms",
        {"code": code, "password": NEW, "password_again": NEW + "!"},
    )
    assert 'data-error-code=""' not in mismatch.text and "do not match" in mismatch.text
    wrong = post_form(
        client,
        "/password/reset/sms",
        {
            "code": "999999" if code != "999999" else "111111",
            "password": NEW,
            "password_again": NEW,
        },
    )
    assert wrong.status_code == 400 and "not correct" in wrong.text
    done = post_form(
        client, "/password/reset/sms", {"code": code, "password": NEW, "password_again": NEW}
    )
    assert done.status_code == 303 and done.headers["location"] == "/login"
    assert api_login(client, EMAIL, NEW).status_code == 200
    # The number is forgotten once the password is set: the code page sends back.
    assert client.get("/password/reset/sms", follow_redirects=False).status_code == 303


def test_forgot_page_answers_alike_for_unknown_numbers_and_keeps_the_email_path(  # type: ignore[no-untyped-def]
    client, db, clock, mailbox
) -> None:
    customer(db, clock)
    unknown = post_form(client, "/password/forgot", {"account": "13800000000"})
    assert unknown.status_code == 303 and unknown.headers["location"] == "/password/reset/sms"
    assert "+86 138****0000" in client.get("/password/reset/sms").text
    assert texts(db) == []
    bad = post_form(client, "/password/forgot", {"account": "not a number"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text
    by_mail = post_form(client, "/password/forgot", {"account": EMAIL})
    assert by_mail.status_code == 200 and 'data-testid="reset-sent"' in by_mail.text
    assert mailbox.link(EMAIL, "/password/reset")
    # Without the signed number (or with a forged one) the code page sends back to the start.
    client.cookies.set("okpay_reset_phone", "forged", path="/password")
    assert client.get("/password/reset/sms", follow_redirects=False).status_code == 303


def test_the_api_is_documented(client) -> None:  # type: ignore[no-untyped-def]
    paths = client.get("/openapi.json").json()["paths"]
    assert (
        "/api/v1/auth/password/forgot/sms" in paths and "/api/v1/auth/password/reset/sms" in paths
    )

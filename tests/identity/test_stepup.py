"""Step-up verification (issue 14): a second factor right before money leaves — TOTP when
enrolled, else a code texted to the verified phone; a code works once, for one operation,
for five minutes; guesses and sends are throttled."""

from __future__ import annotations

import re
import threading

import pyotp
import pytest
from sqlalchemy import select

from okpay.core.audit import AuditEvent
from okpay.core.errors import RateLimited
from okpay.core.i18n import use_locale
from okpay.core.security import encrypt_secret
from okpay.identity import errors, stepup
from okpay.identity.models import OneTimeToken, User
from okpay.mail.models import OutboundSms
from tests.wallet.helpers import make_user

PHONE = "+8613812345678"
SECRET = pyotp.random_base32()


def customer(db, clock, *, phone: bool = True, totp: bool = False, locale: str = "en") -> int:  # type: ignore[no-untyped-def]
    uid = make_user(db, "payer@example.com", phone=PHONE if phone else None)
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        user.preferred_locale = locale
        if phone:
            user.phone_verified_at = clock.now
        if totp:
            user.totp_secret = encrypt_secret(SECRET)
            user.totp_enabled_at = clock.now
    return int(uid)


def demand(db, uid: int, binding: str = "withdrawal-1", code: str | None = None, **kw) -> str:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return stepup.demand(s, user_id=uid, binding=binding, code=code, **kw)


def texts(db) -> list[OutboundSms]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(OutboundSms).order_by(OutboundSms.id)))


def last_code(db) -> str:  # type: ignore[no-untyped-def]
    match = re.search(r"\b(\d{6})\b", texts(db)[-1].body)
    assert match
    return match.group(1)


def ask(db, uid: int, binding: str = "withdrawal-1", **kw) -> stepup.StepUpRequired:  # type: ignore[no-untyped-def]
    with pytest.raises(stepup.StepUpRequired) as info:
        demand(db, uid, binding, None, **kw)
    return info.value


def audit_actions(db, uid: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        rows = s.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject_user_id == uid, AuditEvent.action.like("step_up%"))
            .order_by(AuditEvent.id)
        )
        return list(rows)


def test_totp_user_is_asked_for_the_authenticator_code_once(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock, totp=True)
    required = ask(db, uid)
    assert required.channel == "totp" and required.sent_to is None
    assert required.as_json()["error"]["step_up"] == {"channel": "totp", "sent_to": None}
    assert texts(db) == []  # nothing is texted when the authenticator is enrolled
    code = pyotp.TOTP(SECRET).at(clock.now)
    assert demand(db, uid, code=code) == "totp"
    with pytest.raises(errors.InvalidCode):  # the same time step never works twice
        demand(db, uid, "withdrawal-2", code=code)
    assert audit_actions(db, uid) == ["step_up_passed", "step_up_failed"]


def test_recovery_codes_do_not_pass_a_step_up(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock, totp=True)
    from okpay.identity.models import RecoveryCode

    with db.unit_of_work() as s:
        from okpay.core.security import hash_token

        s.add(RecoveryCode(user_id=uid, code_hash=hash_token("rc:abcde12345")))
    with pytest.raises(errors.InvalidCode):
        demand(db, uid, code="abcde-12345")


def test_sms_code_in_the_users_language_passes_once(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock, locale="zh-CN")
    required = ask(db, uid, action="withdrawal")
    assert required.channel == "sms" and required.sent_to == "+86 138****5678"
    [sent] = texts(db)
    assert sent.to_number == PHONE and sent.user_id == uid
    assert "提现" in sent.body and "5 分钟" in sent.body  # what it is for, how long it works
    code = last_code(db)
    with db.unit_of_work(write=False) as s:  # stored hashed, never the code itself
        row = s.scalars(select(OneTimeToken).where(OneTimeToken.purpose == "step_up")).one()
        assert code not in row.token_hash and code not in str(row.data)
    assert demand(db, uid, code=code) == "sms"
    with pytest.raises(errors.InvalidCode):  # reused
        demand(db, uid, code=code)
    assert audit_actions(db, uid) == ["step_up_code_sent", "step_up_passed", "step_up_failed"]


def test_sms_code_works_only_for_its_own_operation(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    ask(db, uid, "transfer-A")
    code = last_code(db)
    with pytest.raises(errors.InvalidCode):
        demand(db, uid, "transfer-B", code=code)
    assert demand(db, uid, "transfer-A", code=code) == "sms"


def test_sms_code_expires_after_five_minutes(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    ask(db, uid)
    code = last_code(db)
    clock.advance(minutes=5, seconds=1)
    with pytest.raises(stepup.StepUpCodeExpired) as info:
        demand(db, uid, code=code)
    assert info.value.code == "step_up_code_expired"
    assert audit_actions(db, uid)[-1] == "step_up_failed"  # persisted despite the refusal
    ask(db, uid)  # asking again sends a fresh code, which works
    assert len(texts(db)) == 2
    assert demand(db, uid, code=last_code(db)) == "sms"


def test_wrong_codes_are_throttled_and_kill_the_challenge(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    ask(db, uid)
    code = last_code(db)
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(3):
        with pytest.raises(errors.InvalidCode) as info:
            demand(db, uid, code=wrong)
        assert info.value.code == "invalid_code"
    with pytest.raises(RateLimited):  # the fourth guess must wait (the throttle's delay)
        demand(db, uid, code=wrong)
    for _ in range(2):
        clock.advance(seconds=30)
        with pytest.raises(errors.InvalidCode) as info:
            demand(db, uid, code=wrong)
    assert info.value.code == "step_up_code_locked"  # five wrong guesses: the challenge is dead
    clock.advance(seconds=30)
    with pytest.raises(stepup.StepUpCodeLocked):  # even the right code now
        demand(db, uid, code=code)
    with db.unit_of_work(write=False) as s:
        row = s.scalars(select(OneTimeToken).where(OneTimeToken.purpose == "step_up")).one()
        assert row.attempts == 5 and row.used_at is None
    ask(db, uid)  # a new challenge is sent at once (the dead one does not hold it back)
    assert len(texts(db)) == 2
    clock.advance(seconds=60)
    assert demand(db, uid, code=last_code(db)) == "sms"


def test_resend_within_a_minute_sends_nothing_new(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    ask(db, uid)
    clock.advance(seconds=59)
    again = ask(db, uid)
    assert again.channel == "sms" and again.sent_to == "+86 138****5678"
    assert len(texts(db)) == 1
    first = last_code(db)
    clock.advance(seconds=2)
    ask(db, uid)
    assert len(texts(db)) == 2
    if first != last_code(db):  # (one chance in a million that they are equal)
        with pytest.raises(errors.InvalidCode):  # the resend retired the first code
            demand(db, uid, code=first)
    assert demand(db, uid, code=last_code(db)) == "sms"


def test_at_most_five_texts_an_hour(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock)
    for i in range(5):
        ask(db, uid, f"op-{i}")
        clock.advance(minutes=2)
    with pytest.raises(stepup.StepUpSendLimited) as info:
        demand(db, uid, "op-5")
    assert info.value.status == 429 and info.value.code == "step_up_sms_limited"
    assert info.value.retry_after == 50 * 60  # when the first of the five leaves the hour
    with use_locale("en"):
        assert "50 minutes" in info.value.translated()
    assert "50分钟" in info.value.translated()  # the default language is Chinese
    assert len(texts(db)) == 5
    clock.advance(minutes=50, seconds=1)
    ask(db, uid, "op-5")
    assert len(texts(db)) == 6


def test_no_phone_and_no_authenticator_means_unavailable(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = customer(db, clock, phone=False)
    with pytest.raises(stepup.StepUpUnavailable) as info:
        demand(db, uid)
    assert info.value.code == "step_up_unavailable" and info.value.status == 403
    # An unverified phone is not a second factor either.
    with db.unit_of_work() as s:
        user = s.get(User, uid)
        assert user is not None
        user.phone = PHONE
    with pytest.raises(stepup.StepUpUnavailable):
        demand(db, uid)
    assert texts(db) == []


@pytest.mark.postgres_only
def test_two_simultaneous_uses_of_one_code_give_one_winner(db, clock) -> None:  # type: ignore[no-untyped-def]
    assert db.dialect == "postgresql"
    uid = customer(db, clock)
    ask(db, uid)
    code = last_code(db)
    start = threading.Barrier(4)
    results: list[str] = []

    def use() -> None:
        start.wait()
        try:
            results.append(demand(db, uid, code=code))
        except errors.InvalidCode:
            results.append("refused")
        except Exception as exc:  # e.g. a duplicate key in the throttle: a 500 in production
            results.append(repr(exc))

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["refused", "refused", "refused", "sms"]

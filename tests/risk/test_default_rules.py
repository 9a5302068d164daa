"""Each shipped rule, hit and not hit, through the engine (features from real counters)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from okpay.core import clock as clock_module
from okpay.risk import counters, defaults, engine
from okpay.risk.models import RiskDecision
from okpay.wallet import screening
from okpay.wallet.screening import Attempt, Moved, Outcome
from tests.wallet.helpers import make_user


@pytest.fixture
def rules(db, clock):  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        defaults.install(s)
    return db


def _verdict(db, attempt: Attempt) -> screening.Verdict:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        return engine.evaluate(s, attempt)


def _fired(db, verdict: screening.Verdict) -> list[str]:  # type: ignore[no-untyped-def]
    if verdict.decision_id is None:
        return []
    with db.unit_of_work(write=False) as s:
        d = s.get(RiskDecision, verdict.decision_id)
        assert d is not None
        return [f["rule"] for f in d.fired]


def _moved(db, user: int, *events: Moved) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        counters.record(s, list(events))


def _signal(db, user: int, **values) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        counters.note_signal(s, user_id=user, **values)


def _transfer(user: int, yuan: int, *, to: int | None = None, **extra) -> Attempt:  # type: ignore[no-untyped-def]
    return Attempt(user, "transfer", yuan * 100, "CNY", counterparty_user_id=to, extra=extra)


def _withdrawal(user: int, yuan: int, **extra) -> Attempt:  # type: ignore[no-untyped-def]
    return Attempt(user, "withdrawal", yuan * 100, "CNY", payment_method_id=1, extra=extra)


def test_nothing_fires_for_an_ordinary_payment(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    v = _verdict(rules, _transfer(alice, 100))
    assert v == screening.Verdict()


def test_large_amount_asks_for_a_second_factor(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    assert _verdict(rules, _transfer(alice, 49_999)).step_up is False
    v = _verdict(rules, _transfer(alice, 50_000))
    assert (v.outcome, v.step_up, v.reason) == (Outcome.allow, True, "large_amount")
    assert "large_amount" in _fired(rules, v)


def test_a_new_payout_account_asks_for_a_second_factor(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com")
    assert _verdict(rules, _withdrawal(alice, 10, new_payout_account=False)).step_up is False
    v = _verdict(rules, _withdrawal(alice, 10, new_payout_account=True))
    assert v.step_up and v.reason == "new_payout_account"


def test_a_new_device_asks_for_a_code_from_2000_yuan_and_holds_a_large_withdrawal(
    rules, clock
) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    assert not _verdict(rules, _transfer(alice, 3000)).step_up  # no new device
    _signal(rules, alice, new_device_at=clock_module.now())
    assert not _verdict(rules, _transfer(alice, 1999)).step_up
    v = _verdict(rules, _transfer(alice, 2000))
    assert (v.outcome, v.step_up, v.reason) == (Outcome.allow, True, "new_device")
    v = _verdict(rules, _withdrawal(alice, 10_000))
    assert (v.outcome, v.step_up) == (Outcome.hold, True)  # the code first, then held
    assert set(_fired(rules, v)) >= {"new_device_large", "new_device_large_withdrawal"}
    clock.advance(hours=25)
    later = _verdict(rules, _withdrawal(alice, 10_000))
    assert (later.outcome, later.step_up) == (Outcome.allow, False)


def test_an_unusual_amount_needs_history_and_a_jump(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    for _ in range(4):
        _moved(rules, alice, Moved(alice, "transfer", 100_00, "CNY"))
    assert not _verdict(
        rules, _transfer(alice, 2000)
    ).step_up  # four operations: too little history
    _moved(rules, alice, Moved(alice, "payment", 120_00, "CNY"))
    v = _verdict(rules, _transfer(alice, 2000))
    assert v.step_up and v.reason == "unusual_amount"
    assert not _verdict(rules, _transfer(alice, 400)).step_up  # under five times the median
    assert not _verdict(rules, _transfer(alice, 900)).step_up  # under 1,000 yuan


def test_a_recent_password_reset_or_contact_change_holds_5000_yuan(rules, clock) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    _signal(rules, alice, password_reset_at=clock_module.now())
    assert _verdict(rules, _transfer(alice, 4999)).outcome is Outcome.allow
    v = _verdict(rules, _transfer(alice, 5000))
    assert (v.outcome, v.reason) == (Outcome.hold, "recent_security_change")
    clock.advance(hours=73)
    assert _verdict(rules, _transfer(alice, 5000)).outcome is Outcome.allow
    _signal(rules, alice, contact_change_at=clock_module.now())
    assert _verdict(rules, _withdrawal(alice, 5000)).outcome is Outcome.hold


def test_card_testing_blocks_after_five_failed_top_ups_in_an_hour(rules, clock) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com")
    topup = Attempt(alice, "card_topup", 10_00, "CNY", payment_method_id=1)
    for _ in range(4):
        _moved(rules, alice, Moved(alice, "card_topup", 10_00, "CNY", failed=True))
    assert _verdict(rules, topup).outcome is Outcome.allow
    _moved(rules, alice, Moved(alice, "card_topup", 10_00, "CNY", failed=True))
    v = _verdict(rules, topup)
    assert (v.outcome, v.reason) == (Outcome.block, "card_testing")
    assert _verdict(rules, Attempt(alice, "add_card")).outcome is Outcome.block
    clock.advance(minutes=70)
    assert _verdict(rules, topup).outcome is Outcome.allow


def test_a_mule_pattern_holds_a_first_payment_after_ten_recipients_in_an_hour(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    people = [make_user(rules, f"p{i}@example.com") for i in range(11)]
    for p in people[:9]:
        _moved(rules, alice, Moved(alice, "transfer", 10_00, "CNY", counterparty_user_id=p))
    assert _verdict(rules, _transfer(alice, 10, to=people[10])).outcome is Outcome.allow
    _moved(rules, alice, Moved(alice, "transfer", 10_00, "CNY", counterparty_user_id=people[9]))
    v = _verdict(rules, _transfer(alice, 10, to=people[10]))
    assert (v.outcome, v.reason) == (Outcome.hold, "many_recipients")
    # Someone paid before, or a line of a batch (payroll), is not held.
    assert _verdict(rules, _transfer(alice, 10, to=people[0])).outcome is Outcome.allow
    assert (
        _verdict(rules, _transfer(alice, 10, to=people[10], in_batch=True)).outcome is Outcome.allow
    )


def test_structuring_holds_the_third_amount_just_under_the_limit(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=0)  # per transaction: 2,000 yuan
    near = _verdict(rules, _transfer(alice, 1900))
    assert near.near_limit and near.outcome is Outcome.allow
    _moved(rules, alice, Moved(alice, "transfer", 1900_00, "CNY", near_limit=True))
    assert _verdict(rules, _transfer(alice, 1850)).outcome is Outcome.allow
    _moved(rules, alice, Moved(alice, "transfer", 1850_00, "CNY", near_limit=True))
    v = _verdict(rules, _transfer(alice, 1950))
    assert (v.outcome, v.reason) == (Outcome.hold, "structuring")
    assert _verdict(rules, _transfer(alice, 1000)).outcome is Outcome.allow


def test_shadow_rules_are_recorded_and_never_act(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)  # a new account: new_account_large
    v = _verdict(rules, _transfer(alice, 6000))
    assert (v.outcome, v.step_up) == (Outcome.allow, False)
    assert v.decision_id is not None
    with rules.unit_of_work(write=False) as s:
        d = s.get(RiskDecision, v.decision_id)
        assert d is not None
        assert d.fired == [
            {
                "rule": "new_account_large",
                "rule_id": d.fired[0]["rule_id"],
                "version": 1,
                "score": 30,
                "outcome": "step_up",
                "shadow": True,
            }
        ]
        assert d.features["amount_cny"] == "6000.00" and d.features["account_age_days"] == "0"
    for _ in range(20):
        _moved(rules, alice, Moved(alice, "transfer", 1_00, "CNY"))
    v = _verdict(rules, _transfer(alice, 1))
    assert v.outcome is Outcome.allow and not v.step_up
    assert _fired(rules, v) == ["velocity"]


def test_decisions_are_kept_only_when_a_rule_fired(rules) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(rules, "alice@example.com", level=2)
    _verdict(rules, _transfer(alice, 10))
    with rules.unit_of_work(write=False) as s:
        assert s.scalars(select(RiskDecision)).all() == []

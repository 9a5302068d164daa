"""Backtests replay a crafted history (SQLite and PostgreSQL): card testing hits once per
attempt after the fifth failure in an hour, a rule nothing matches hits nothing, stored
decisions are compared, bad input is refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from okpay.risk import backtest, conditions, engine, rules
from okpay.risk.models import RiskDecision
from tests.risk.helpers import failed_topups, install_defaults, op
from tests.wallet.helpers import make_user


def test_card_testing_hits_after_the_fifth_failed_top_up(db, clock) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    mallory = make_user(db, "mallory@example.com")
    calm = make_user(db, "calm@example.com")
    start = clock.now - timedelta(days=2)
    with db.unit_of_work() as s:
        failed_topups(s, mallory, 6, start=start, every=timedelta(minutes=5))
        # Spread over a day: never five in an hour.
        failed_topups(s, calm, 6, start=start, every=timedelta(hours=2))
        op(s, calm, "transfer", 50_00, at=start, counterparty=mallory)
    with db.unit_of_work(write=False) as s:
        found = rules.find_rule(s, "card_testing")
        assert found is not None
        result = backtest.run(s, rule=found, days=30)
    assert result.operations == 13
    assert result.evaluated == 12
    assert result.hits == 1
    assert result.customers == 1
    assert [(c.user_id, c.hits) for c in result.top] == [(mallory, 1)]
    assert result.top[0].email != "mallory@example.com"  # masked
    assert sum(n for _d, n in result.by_day) == 1
    assert result.agreement is not None and result.agreement.backtest_only == 1


def test_ten_failures_hit_each_attempt_after_the_fifth(db, clock) -> None:  # type: ignore[no-untyped-def]
    uid = make_user(db, "mallory@example.com")
    spec = rules.RuleSpec(
        "card_test_draft", "", ["card_topup"], "failed_topups_1h >= 5", 90, "block", "card_testing"
    )
    with db.unit_of_work() as s:
        failed_topups(s, uid, 10, start=clock.now - timedelta(hours=3), every=timedelta(minutes=3))
    with db.unit_of_work(write=False) as s:
        result = backtest.run(s, rule=spec, days=1)
    assert result.hits == 5
    assert result.agreement is None  # an unsaved draft has no decisions


def test_a_rule_nothing_matches_hits_nothing(db, clock) -> None:  # type: ignore[no-untyped-def]
    a = make_user(db, "a@example.com")
    b = make_user(db, "b@example.com")
    with db.unit_of_work() as s:
        for i in range(5):
            op(s, a, "transfer", 10_00, at=clock.now - timedelta(days=i + 1), counterparty=b)
    spec = rules.RuleSpec("huge", "", ["transfer"], "amount_cny >= 1000000", 10, "step_up",
                          "large_amount")  # fmt: skip
    with db.unit_of_work(write=False) as s:
        result = backtest.run(s, rule=spec, days=30)
    assert (result.operations, result.evaluated, result.hits, result.customers) == (5, 5, 0, 0)
    assert result.top == [] and result.by_day == []


def test_window_features_and_first_recipient(db, clock) -> None:  # type: ignore[no-untyped-def]
    a = make_user(db, "a@example.com")
    friends = [make_user(db, f"f{i}@example.com") for i in range(3)]
    start = clock.now - timedelta(days=1)
    with db.unit_of_work() as s:
        for i, f in enumerate([*friends, friends[0]]):
            op(s, a, "transfer", 10_00, at=start + timedelta(minutes=i), counterparty=f)
        # Before the window: not evaluated, but counted.
        op(s, a, "transfer", 10_00, at=clock.now - timedelta(days=5), counterparty=friends[1])
    third = rules.RuleSpec("third", "", ["transfer"], "count_1h >= 2 and new_recipient", 1,
                           "step_up", "velocity")  # fmt: skip
    with db.unit_of_work(write=False) as s:
        result = backtest.run(s, rule=third, days=2)
    # friends[2] is the only first payment made with two already in the hour.
    assert (result.operations, result.hits) == (4, 1)


def test_stored_decisions_are_compared(db, clock) -> None:  # type: ignore[no-untyped-def]
    install_defaults(db)
    uid = make_user(db, "mallory@example.com")
    with db.unit_of_work() as s:
        ids = failed_topups(
            s, uid, 7, start=clock.now - timedelta(hours=5), every=timedelta(minutes=1)
        )
        found = rules.find_rule(s, "card_testing")
        assert found is not None
        fired = [{"rule": "card_testing", "rule_id": found.id, "version": 1, "score": 90,
                  "outcome": "block", "shadow": False}]  # fmt: skip
        for operation_id in (ids[5], None):
            s.add(RiskDecision(user_id=uid, operation="card_topup", operation_id=operation_id,
                               outcome="block", fired=fired, features={},
                               created_at=clock.now - timedelta(hours=4)))  # fmt: skip
        s.flush()
    with db.unit_of_work(write=False) as s:
        found = rules.find_rule(s, "card_testing")
        result = backtest.run(s, rule=found, days=1)  # type: ignore[arg-type]
        hits = backtest.recent_hits(s, ["card_testing", "velocity"])
    assert result.hits == 2
    assert result.agreement == backtest.Agreement(
        stored=1, agree=1, stored_only=0, backtest_only=1, unlinked=1
    )
    assert hits == {"card_testing": (2, 2), "velocity": (0, 0)}


def test_bad_input_is_refused(db) -> None:  # type: ignore[no-untyped-def]
    spec = rules.RuleSpec("bad_one", "", ["transfer"], "amount >", 1, "step_up", "velocity")
    with db.unit_of_work(write=False) as s:
        with pytest.raises(conditions.ConditionInvalid):
            backtest.run(s, rule=spec, days=3)
        for days in (0, 91, "x"):
            with pytest.raises(backtest.BacktestDaysInvalid):
                backtest.run(s, rule=spec, days=days)  # type: ignore[arg-type]
    assert engine  # the screener is registered

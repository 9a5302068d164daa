"""The condition language: what it accepts, what it refuses (with the reason), how it reads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from okpay.core.i18n import use_locale
from okpay.risk import conditions, features


def _run(text: str, **values: object) -> bool:
    base = {name: Decimal(0) for name in features.NAMES}
    base.update(values)
    return conditions.evaluate(conditions.compile_condition(text, features.NAMES), base)


def test_conditions_read_as_written() -> None:
    assert _run(
        "amount_cny >= 5000 and new_device_24h", amount_cny=Decimal(5000), new_device_24h=True
    )
    assert not _run(
        "amount_cny >= 5000 and new_device_24h", amount_cny=Decimal("4999.99"), new_device_24h=True
    )
    assert _run("amount > 3 * median_amount", amount=Decimal(301), median_amount=Decimal(100))
    assert _run('operation in ("transfer", "payment")', operation="payment")
    assert _run(
        "not in_batch and 0.9 <= limit_ratio < 1", in_batch=False, limit_ratio=Decimal("0.95")
    )
    assert not _run("0.9 <= limit_ratio < 1", limit_ratio=Decimal(1))
    # Division by zero (no history) does not hold rather than erroring.
    assert not _run("amount / median_amount > 5", amount=Decimal(10), median_amount=Decimal(0))
    # Comparing text with a number does not hold.
    assert not _run("currency > 5", currency="CNY")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "write a condition"),
        ("amount >", "syntax error at character 8"),  # the end, not "character 0"
        ("balance > 5", "unknown feature “balance”"),
        ("__import__('os').system('x')", "is not allowed"),
        ("amount.real > 1", "is not allowed"),
        ("[x for x in ()]", "is not allowed"),
        ("lambda: 1", "is not allowed"),
        ("amount > 1 " + "and amount > 1 " * 25, "too long"),
        ("x" * 600, "under 500"),
    ],
)
def test_invalid_conditions_are_refused_with_the_reason(text: str, problem: str) -> None:
    with use_locale("en"), pytest.raises(conditions.ConditionInvalid) as err:
        conditions.compile_condition(text, features.NAMES)
    assert err.value.code == "rule_condition_invalid"
    with use_locale("en"):
        assert problem in err.value.translated()

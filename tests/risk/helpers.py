"""Shortcuts for risk tests: a crafted operation history written straight to the tables."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from okpay.core import clock
from okpay.risk import defaults, rules
from okpay.wallet.models import Operation


def op(  # type: ignore[no-untyped-def]
    s, user_id: int, type_: str, amount: int, *, at: datetime, status: str = "completed",
    method: str | None = None, counterparty: int | None = None, failure: str | None = None,
    currency: str = "CNY", data: dict[str, Any] | None = None,
) -> int:  # fmt: skip
    row = Operation(
        reference=uuid.uuid4().hex[:20].upper(), type=type_, status=status, user_id=user_id,
        counterparty_user_id=counterparty, currency=currency, amount=amount, fee=0,
        method=method, failure_code=failure, created_at=at, updated_at=at, data=data or {},
    )  # fmt: skip
    s.add(row)
    s.flush()
    return int(row.id)


def failed_topups(s, user_id: int, count: int, *, start: datetime, every: timedelta) -> list[int]:  # type: ignore[no-untyped-def]
    return [
        op(
            s,
            user_id,
            "topup",
            100_00,
            at=start + i * every,
            status="failed",
            method="card",
            failure="declined",
        )
        for i in range(count)
    ]


def install_defaults(db) -> None:  # type: ignore[no-untyped-def]
    with db.unit_of_work() as s:
        defaults.install(s)


def rule_id(db, code: str) -> int:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        found = rules.find_rule(s, code)
        assert found is not None
        return int(found.id)


def now() -> datetime:
    return clock.now()

"""A pending operation that settles in a later month than it began still moves its history
rows: they are looked for from the operation's own time on (on PostgreSQL, only the month
partitions from there), never from the settling time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select

from okpay.wallet import topups
from okpay.wallet.models import Activity, SystemAccount
from tests.wallet.helpers import balance, make_user


def _history(db, operation_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with db.unit_of_work(write=False) as s:
        return list(s.scalars(select(Activity.status).where(Activity.operation_id == operation_id)))


def test_a_top_up_begun_at_month_end_settles_the_next_month(db, clock) -> None:  # type: ignore[no-untyped-def]
    alice = make_user(db, "alice@example.com")
    clock.now = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    with db.unit_of_work() as s:
        credited = topups.do_begin_bank_topup(s, user_id=alice, amount=50_00, currency="CNY").id
        failed = topups.do_begin_bank_topup(s, user_id=alice, amount=7_00, currency="CNY").id
    assert _history(db, credited) == ["pending"]
    clock.now = datetime(2027, 1, 2, 0, 0, 1, tzinfo=UTC)  # a month boundary or two later
    with db.unit_of_work() as s:
        topups.do_complete_topup(
            s,
            operation_id=credited,
            external_ref=f"tr_{uuid.uuid4().hex[:10]}",
            clearing=SystemAccount.bank_clearing,
            amount=49_00,  # the bank credited a different amount: the row's amount follows
        )
        topups.do_fail_operation(s, operation_id=failed, failure_code="expired")
    assert _history(db, credited) == ["completed"]
    assert _history(db, failed) == ["failed"]
    with db.unit_of_work(write=False) as s:
        amount = s.scalar(select(Activity.amount).where(Activity.operation_id == credited))
    assert amount == 49_00
    assert balance(db, alice) == (49_00, 0)

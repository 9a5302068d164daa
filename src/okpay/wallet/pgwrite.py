"""PostgreSQL: write a whole settled movement in one statement.

After the balances are locked and the plan checked, a transfer writes six things: the
operation, its journal entry, the postings, the new balances, a history row per party and
the sender's usage. Sent one by one they are six round trips; chained as data-modifying CTEs
they are one, which is most of the difference between the service and hand-written SQL.
Other databases use the step-by-step path in wallet.service, with the same plan."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from okpay.wallet.ledger import Plan


@dataclass(frozen=True)
class ActivityRow:
    user_id: int
    direction: str
    amount: int
    fee: int
    counterparty: str


@dataclass(frozen=True)
class UsageRow:
    user_id: int
    day: date
    amount_cny: int


@functools.cache
def _statement(postings: int, balances: int, activities: int) -> Any:
    def values(prefix: str, n: int, casts: tuple[str, ...]) -> str:
        return ", ".join(
            "("
            + ", ".join(f"CAST(:{prefix}{i}_{k} AS {cast})" for k, cast in enumerate(casts))
            + ")"
            for i in range(n)
        )

    # Only the number of VALUES rows varies; every value is a bound parameter.
    sql = f"""
WITH op AS (
  INSERT INTO wallet_operation (reference, type, status, user_id, account_id,
    counterparty_user_id, counterparty_account_id, currency, amount, fee, method, note,
    created_at, updated_at, completed_at, data)
  VALUES (:reference, :type, :status, :user_id, :account_id, :cp_user_id, :cp_account_id,
    :currency, :amount, :fee, :method, :note, :now, :now, :completed_at, CAST(:data AS JSON))
  RETURNING id
), entry AS (
  INSERT INTO journal_entry (operation_id, kind, created_at)
  SELECT id, :kind, :now FROM op RETURNING id
), postings AS (
  INSERT INTO posting (entry_id, account_id, currency, amount, balance_after)
  SELECT entry.id, v.account_id, v.currency, v.amount, v.after
  FROM entry, (VALUES {values("p", postings, ("BIGINT", "VARCHAR", "BIGINT", "BIGINT"))})
    AS v(account_id, currency, amount, after)
), balances AS (
  UPDATE wallet_account AS w SET balance = v.balance
  FROM (VALUES {values("b", balances, ("BIGINT", "BIGINT"))}) AS v(id, balance)
  WHERE w.id = v.id
), activity AS (
  INSERT INTO wallet_activity (user_id, operation_id, reference, type, direction, status,
    currency, amount, fee, counterparty, note, created_at, updated_at)
  SELECT v.user_id, op.id, :reference, :type, v.direction, :status, :currency, v.amount,
    v.fee, v.counterparty, :note, :now, :now
  FROM op, (VALUES {values("a", activities, ("INTEGER", "VARCHAR", "BIGINT", "BIGINT", "VARCHAR"))})
    AS v(user_id, direction, amount, fee, counterparty)
), usage AS (
  INSERT INTO wallet_usage (user_id, op_type, day, amount_cny, count)
  VALUES (:usage_user_id, :type, :usage_day, :usage_cny, 1)
  ON CONFLICT (user_id, op_type, day) DO UPDATE
    SET amount_cny = wallet_usage.amount_cny + excluded.amount_cny,
        count = wallet_usage.count + excluded.count
)
SELECT id FROM op
"""  # noqa: S608
    return text(sql)


def write_settled(
    session: Session,
    *,
    operation: dict[str, Any],
    kind: str,
    checked: Plan,
    activity: list[ActivityRow],
    usage: UsageRow,
    now: datetime,
) -> int:
    """Insert a completed operation with its entry, postings, balances, history and usage;
    returns the operation id."""
    params: dict[str, Any] = {
        "method": None,
        "note": "",
        "cp_user_id": None,
        "cp_account_id": None,
        **operation,
        "data": json.dumps(operation.get("data") or {}),
        "kind": kind,
        "now": now,
        "completed_at": now,
        "usage_user_id": usage.user_id,
        "usage_day": usage.day,
        "usage_cny": usage.amount_cny,
    }
    for i, (account_id, currency, amount, after) in enumerate(checked.postings):
        params.update(
            {f"p{i}_0": account_id, f"p{i}_1": currency, f"p{i}_2": amount, f"p{i}_3": after}
        )
    for i, (account_id, balance) in enumerate(checked.balances.items()):
        params.update({f"b{i}_0": account_id, f"b{i}_1": balance})
    for i, row in enumerate(activity):
        params.update(
            {
                f"a{i}_0": row.user_id,
                f"a{i}_1": row.direction,
                f"a{i}_2": row.amount,
                f"a{i}_3": row.fee,
                f"a{i}_4": row.counterparty,
            }
        )
    stmt = _statement(len(checked.postings), len(checked.balances), len(activity))
    return int(session.execute(stmt, params).scalar_one())

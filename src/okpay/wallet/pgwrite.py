"""PostgreSQL: write settled movements, one or a thousand, in one statement.

After the balances are locked and the plans checked, each transfer writes six things: the
operation, its journal entry, the postings, the new balances, a history row per party and
the sender's usage. Sent one by one they are six round trips per transfer; chained as
data-modifying CTEs over arrays (``unnest``) they are one round trip for the whole batch,
with a statement whose text does not depend on how many rows it writes. That is most of the
difference between the service and hand-written SQL. Other databases use the step-by-step
path in wallet.service, with the same plans."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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
    count: int = 1


@dataclass(frozen=True)
class Settled:
    """One completed operation to write, with its checked entry and history rows."""

    reference: str
    account_id: int
    currency: str
    amount: int
    plan: Plan
    activity: list[ActivityRow]
    fee: int = 0
    note: str = ""
    cp_user_id: int | None = None
    cp_account_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


# The rows come in as three JSON arrays (operations, postings, history lines) and two
# arrays of new balances: json.dumps and PostgreSQL's JSON parser are far quicker than
# binding thousands of values one by one. Each row carries its place (n): ordered by it,
# ids (and so the postings' balance_after) follow the plans.
_STATEMENT = text(
    """
WITH v AS (
  SELECT * FROM json_to_recordset(CAST(:operations AS JSON))
    AS v(reference VARCHAR, account_id BIGINT, cp_user_id INTEGER, cp_account_id BIGINT,
         currency VARCHAR, amount BIGINT, fee BIGINT, note VARCHAR, data JSON, n BIGINT)
), op AS (
  INSERT INTO wallet_operation (reference, type, status, user_id, account_id,
    counterparty_user_id, counterparty_account_id, currency, amount, fee, method, note,
    created_at, updated_at, completed_at, data)
  SELECT v.reference, :type, :status, :user_id, v.account_id, v.cp_user_id, v.cp_account_id,
    v.currency, v.amount, v.fee, :method, v.note, :now, :now, :now, v.data
  FROM v ORDER BY v.n
  RETURNING id, reference
), entry AS (
  INSERT INTO journal_entry (operation_id, kind, created_at)
  SELECT op.id, :kind, :now FROM op ORDER BY op.id
  RETURNING id, operation_id
), postings AS (
  INSERT INTO posting (entry_id, account_id, currency, amount, balance_after)
  SELECT entry.id, p.account_id, p.currency, p.amount, p.after
  FROM json_to_recordset(CAST(:postings AS JSON))
    AS p(reference VARCHAR, account_id BIGINT, currency VARCHAR, amount BIGINT, after BIGINT,
         n BIGINT)
  JOIN op ON op.reference = p.reference
  JOIN entry ON entry.operation_id = op.id
  ORDER BY p.n
), balances AS (
  UPDATE wallet_account AS w SET balance = b.balance
  FROM unnest(CAST(:b_id AS BIGINT[]), CAST(:b_balance AS BIGINT[])) AS b(id, balance)
  WHERE w.id = b.id
), activity AS (
  INSERT INTO wallet_activity (user_id, operation_id, reference, type, direction, status,
    currency, amount, fee, counterparty, note, created_at, updated_at)
  SELECT a.user_id, op.id, a.reference, :type, a.direction, :status, v.currency, a.amount,
    a.fee, a.counterparty, v.note, :now, :now
  FROM json_to_recordset(CAST(:activity AS JSON))
    AS a(reference VARCHAR, user_id INTEGER, direction VARCHAR, amount BIGINT, fee BIGINT,
         counterparty VARCHAR, n BIGINT)
  JOIN op ON op.reference = a.reference
  JOIN v ON v.reference = a.reference
  ORDER BY a.n
), usage AS (
  INSERT INTO wallet_usage (user_id, op_type, day, amount_cny, count)
  VALUES (:usage_user_id, :type, :usage_day, :usage_cny, :usage_count)
  ON CONFLICT (user_id, op_type, day) DO UPDATE
    SET amount_cny = wallet_usage.amount_cny + excluded.amount_cny,
        count = wallet_usage.count + excluded.count
)
SELECT id, reference FROM op
"""
)


def write_settled(
    session: Session,
    *,
    user_id: int,
    type: str,
    method: str,
    kind: str,
    operations: list[Settled],
    usage: UsageRow,
    now: datetime,
) -> list[int]:
    """Insert completed operations of one user, with their entries, postings, balances,
    history and usage; returns the operation ids, in order."""
    balances: dict[int, int] = {}
    for op in operations:
        balances.update(op.plan.balances)  # each plan follows on from the one before
    params: dict[str, Any] = {
        "user_id": user_id,
        "type": type,
        "status": "completed",
        "method": method,
        "kind": kind,
        "now": now,
        "operations": json.dumps(
            [
                {
                    "n": n,
                    "reference": op.reference,
                    "account_id": op.account_id,
                    "cp_user_id": op.cp_user_id,
                    "cp_account_id": op.cp_account_id,
                    "currency": op.currency,
                    "amount": op.amount,
                    "fee": op.fee,
                    "note": op.note,
                    "data": op.data,
                }
                for n, op in enumerate(operations)
            ]
        ),
        "postings": json.dumps(
            [
                {
                    "n": n,
                    "reference": reference,
                    "account_id": account_id,
                    "currency": currency,
                    "amount": amount,
                    "after": after,
                }
                for n, (reference, (account_id, currency, amount, after)) in enumerate(
                    (op.reference, p) for op in operations for p in op.plan.postings
                )
            ]
        ),
        "activity": json.dumps(
            [
                {
                    "n": n,
                    "reference": reference,
                    "user_id": row.user_id,
                    "direction": row.direction,
                    "amount": row.amount,
                    "fee": row.fee,
                    "counterparty": row.counterparty,
                }
                for n, (reference, row) in enumerate(
                    (op.reference, row) for op in operations for row in op.activity
                )
            ]
        ),
        "b_id": list(balances),
        "b_balance": list(balances.values()),
        "usage_user_id": usage.user_id,
        "usage_day": usage.day,
        "usage_cny": usage.amount_cny,
        "usage_count": usage.count,
    }
    ids = {reference: op_id for op_id, reference in session.execute(_STATEMENT, params)}
    return [int(ids[op.reference]) for op in operations]

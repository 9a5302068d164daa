# Kept whole because its hand-tuned statements are one unit, measured by bench/ledger.py.
"""PostgreSQL's fast path for settled movements (transfers, one or a thousand) and for
settling pending ones.

A transfer needs: the recipients, the balance rows locked in id order, the sender's status,
restrictions, recent usage and limit override as of after the locks, then six writes (the
operation, its journal entry, the postings, the new balances, a history row per party and
the sender's usage). Through the ORM that is a dozen statements, each costing more Python
than the database spends on it. Here it is two statements sent straight to the driver
(psycopg prepares them after a few uses):

1. :func:`find_and_lock`: recipients by e-mail or phone (and whether the sender paid each
   before, see wallet.recipients), every balance row involved locked
   (``FOR NO KEY UPDATE``, id order), and the sender's state, in one statement. When the
   locks may have waited for a change to the sender (a movement or a freeze committed after
   the statement began), the state is read again by :func:`sender_state` in a second
   statement, whose new snapshot sees it (READ COMMITTED);
2. :func:`write_operations`: every write, chained as data-modifying CTEs over JSON arrays,
   one round trip for the whole batch, with a text that does not depend on its size.

The checks between 1 and 2 are wallet.batch's own, shared with every database. Other
databases take the step-by-step path in wallet.batch, with the same plans. A top-up that
completes takes two as well: :func:`lock_pending` and :func:`settle`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from okpay.db import driver_rows as _run
from okpay.identity.directory import AccountState, Recipient, RecipientKeys
from okpay.wallet.ledger import ENTRY_CTES, LockedAccount, Plan, entry_params


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
class NewOperation:
    """One operation to write with its history rows and, when it settles now, its checked
    entry (``plan``; None for a pending one)."""

    reference: str
    account_id: int
    currency: str
    amount: int
    plan: Plan | None
    activity: list[ActivityRow]
    fee: int = 0
    note: str = ""
    cp_user_id: int | None = None
    cp_account_id: int | None = None
    payment_method_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


# The rows come in as three JSON arrays (operations, postings, history lines) and two
# arrays of new balances: json.dumps and PostgreSQL's JSON parser are far quicker than
# binding thousands of values one by one. (The balances stay arrays: the planner expects
# few rows from unnest and updates them through the primary key, where from JSON it expects
# a hundred and would scan the table.) Each row carries its place (n): ordered by it,
# ids (and so the postings' balance_after) follow the plans.
_WRITE = """
WITH v AS (
  SELECT * FROM json_to_recordset(CAST(%(operations)s AS JSON))
    AS v(reference VARCHAR, account_id BIGINT, cp_user_id INTEGER, cp_account_id BIGINT,
         currency VARCHAR, amount BIGINT, fee BIGINT, note VARCHAR, data JSON,
         payment_method_id BIGINT, settles BOOLEAN, n BIGINT)
), op AS (
  INSERT INTO wallet_operation (reference, type, status, user_id, account_id,
    counterparty_user_id, counterparty_account_id, currency, amount, fee, method, note,
    payment_method_id, created_at, updated_at, completed_at, data)
  SELECT v.reference, %(type)s, %(status)s, %(user_id)s, v.account_id, v.cp_user_id,
    v.cp_account_id, v.currency, v.amount, v.fee, %(method)s, v.note, v.payment_method_id,
    %(now)s, %(now)s, CAST(%(completed_at)s AS TIMESTAMPTZ), v.data
  FROM v ORDER BY v.n
  RETURNING id, reference
), entry AS (
  INSERT INTO journal_entry (operation_id, kind, created_at)
  SELECT op.id, %(kind)s, %(now)s FROM op JOIN v ON v.reference = op.reference
  WHERE v.settles ORDER BY op.id
  RETURNING id, operation_id
), postings AS (
  INSERT INTO posting (entry_id, account_id, currency, amount, balance_after, created_at)
  SELECT entry.id, p.account_id, p.currency, p.amount, p.after, %(now)s
  FROM json_to_recordset(CAST(%(postings)s AS JSON))
    AS p(reference VARCHAR, account_id BIGINT, currency VARCHAR, amount BIGINT, after BIGINT,
         n BIGINT)
  JOIN op ON op.reference = p.reference
  JOIN entry ON entry.operation_id = op.id
  ORDER BY p.n
), balances AS (
  UPDATE wallet_account AS w SET balance = b.balance
  FROM unnest(CAST(%(b_id)s AS BIGINT[]), CAST(%(b_balance)s AS BIGINT[])) AS b(id, balance)
  WHERE w.id = b.id
), activity AS (
  INSERT INTO wallet_activity (user_id, operation_id, reference, type, direction, status,
    currency, amount, fee, counterparty, note, created_at, updated_at)
  SELECT a.user_id, op.id, a.reference, %(type)s, a.direction, %(status)s, v.currency, a.amount,
    a.fee, a.counterparty, v.note, %(now)s, %(now)s
  FROM json_to_recordset(CAST(%(activity)s AS JSON))
    AS a(reference VARCHAR, user_id INTEGER, direction VARCHAR, amount BIGINT, fee BIGINT,
         counterparty VARCHAR, n BIGINT)
  JOIN op ON op.reference = a.reference
  JOIN v ON v.reference = a.reference
  ORDER BY a.n
), usage_update AS (
  UPDATE wallet_usage
  SET amount_cny = amount_cny + %(usage_cny)s, count = count + %(usage_count)s
  WHERE user_id = %(usage_user_id)s AND op_type = %(type)s AND day = %(usage_day)s
  RETURNING 1
), usage AS (
  INSERT INTO wallet_usage (user_id, op_type, day, amount_cny, count)
  SELECT %(usage_user_id)s, %(type)s, %(usage_day)s, %(usage_cny)s, %(usage_count)s
  WHERE NOT EXISTS (SELECT FROM usage_update)
  ON CONFLICT (user_id, op_type, day) DO UPDATE
    SET amount_cny = wallet_usage.amount_cny + excluded.amount_cny,
        count = wallet_usage.count + excluded.count
)
SELECT id, reference FROM op
"""


def write_operations(
    session: Session,
    *,
    user_id: int,
    type: str,
    status: str,
    method: str,
    kind: str,
    operations: list[NewOperation],
    usage: UsageRow,
    now: datetime,
) -> list[int]:
    """Insert operations of one user in ``status`` (completed ones with their entries,
    postings and balances), their history rows and the usage they add; returns the
    operation ids, in order."""
    balances: dict[int, int] = {}
    for op in operations:
        if op.plan is not None:
            balances.update(op.plan.balances)  # each plan follows on from the one before
    params: dict[str, Any] = {
        "user_id": user_id,
        "type": type,
        "status": status,
        "completed_at": now if status == "completed" else None,
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
                    "payment_method_id": op.payment_method_id,
                    "settles": op.plan is not None,
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
                    (op.reference, p)
                    for op in operations
                    if op.plan is not None
                    for p in op.plan.postings
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
    ids = {reference: op_id for op_id, reference in _run(session, _WRITE, params)}
    return [int(ids[op.reference]) for op in operations]


# The sender's state: status, active restrictions, usage since ``since`` and the newest live
# limit override for ``op_type``: the columns, then the statement that reads them alone.
_STATE_COLUMNS = """u.id, u.status, u.status_reason, u.verification_level, u.created_at, u.name,
  u.email, u.outgoing_hold_until,
  (SELECT json_agg(json_build_array(r.blocked, r.reason) ORDER BY r.id)
   FROM account_restriction r WHERE r.user_id = u.id AND r.released_at IS NULL),
  (SELECT json_agg(json_build_array(g.op_type, g.day, g.amount_cny))
   FROM wallet_usage g WHERE g.user_id = u.id AND g.day >= %(since)s),
  (SELECT json_build_array(o.per_transaction, o.daily, o.monthly)
   FROM limit_override o
   WHERE o.user_id = u.id AND o.op_type = %(op_type)s AND o.revoked_at IS NULL
     AND (o.expires_at IS NULL OR o.expires_at > %(now)s)
   ORDER BY o.id DESC LIMIT 1)"""
_SENDER_STATE = f"SELECT {_STATE_COLUMNS}\nFROM user_account u WHERE u.id = %(user_id)s"


# Recipients, locks and the sender's state in one statement. The recipients are found first
# (a CTE), then every account of the sender and of the recipients in the currencies used is
# locked in id order; a locking CTE runs once, whole, whatever reads it. All come back as one
# result, told apart by the first column.
#
# The sender's state is read with the statement's snapshot, taken before the locks. It is
# used only if that cannot have missed anything the locks were there to wait for: whatever
# changes the sender's status, restrictions or usage for an operation also writes the
# sender's balance row in its currency (movements update it; a freeze, restriction or
# release rewrites every balance row of the customer, see wallet.standing), so the state is
# current when each locked row of the sender is the version the snapshot sees (same xmin).
# Otherwise (a transaction that touched the sender committed after the snapshot, or one we
# waited for), :func:`find_and_lock` reads the state again in a second statement, which
# takes a new snapshot.
#
# Two texts: arrays for a batch, single values for one transfer. PostgreSQL plans a prepared
# statement afresh each time while a plan for any parameters (generic) looks dearer than
# one made for the values at hand; with arrays of unknown length the generic one does, and
# planning costs a single transfer more than running the statement. With single values the
# generic plan is the same as the custom one and is kept.
_FIND_AND_LOCK = """
WITH r AS MATERIALIZED (
  SELECT f.*, EXISTS (
    SELECT FROM wallet_operation o
    WHERE o.user_id = %(sender)s AND o.counterparty_user_id = f.id AND o.type = 'transfer'
  ) AS paid
  FROM (
    SELECT id, status, name, email, 'email' AS by, email AS value
    FROM user_account WHERE email {email}
    UNION ALL
    SELECT id, status, name, email, 'phone', phone
    FROM user_account WHERE phone {phone}
  ) AS f
), a AS (
  SELECT id, kind, user_id, merchant_id, currency, balance, held, xmin AS version
  FROM wallet_account
  WHERE user_id = ANY(ARRAY(SELECT id FROM r) || CAST(%(sender)s AS INTEGER))
    AND currency {currency}
  ORDER BY id FOR NO KEY UPDATE
), s AS (
  SELECT json_build_array({state}) AS state,
    EXISTS (SELECT FROM a WHERE a.user_id = u.id)
      AND NOT EXISTS (
        SELECT FROM a WHERE a.user_id = u.id
          AND a.version <> (SELECT w.xmin FROM wallet_account w WHERE w.id = a.id)
      ) AS fresh
  FROM user_account u WHERE u.id = %(sender)s
)
SELECT 'r', id, status, name, email, by, value, NULL::BIGINT, NULL::BIGINT, NULL::INTEGER,
  NULL::JSON, paid
FROM r
UNION ALL
SELECT 'a', id, kind, NULL, currency, NULL, NULL, balance, held, user_id, NULL, NULL FROM a
UNION ALL
SELECT 's', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, state, fresh FROM s
"""
_FIND_AND_LOCK_MANY = _FIND_AND_LOCK.format(
    email="= ANY(%(email)s)",
    phone="= ANY(%(phone)s)",
    currency="= ANY(%(currency)s)",
    state=_STATE_COLUMNS,
)
_FIND_AND_LOCK_ONE = _FIND_AND_LOCK.format(
    email="= %(email)s", phone="= %(phone)s", currency="= %(currency)s", state=_STATE_COLUMNS
)


def find_and_lock(
    session: Session,
    *,
    sender_id: int,
    references: list[str],
    currencies: set[str],
    op_type: str,
    since: date,
    now: datetime,
) -> tuple[
    dict[str, Recipient], set[int], dict[tuple[int, str], LockedAccount], SenderState | None
]:
    """Recipients as typed by the sender (those found), the ids of those the sender has
    sent a transfer to before, the locked accounts of the sender and of the recipients in
    ``currencies`` by (user id, currency), and the sender's state as of after the locks:
    one statement, or two when the first one's reading of the state may be out of date
    (see above)."""
    keys = RecipientKeys(references)
    emails, phones = keys.wanted("email"), keys.wanted("phone")
    params: dict[str, Any]
    if len(emails) + len(phones) <= 1 and len(currencies) == 1:
        sql, params = (
            _FIND_AND_LOCK_ONE,
            {
                "email": emails[0] if emails else None,
                "phone": phones[0] if phones else None,
                "currency": next(iter(currencies)),
            },
        )
    else:
        sql, params = (
            _FIND_AND_LOCK_MANY,
            {
                "email": emails,
                "phone": phones,
                "currency": sorted(currencies),
            },
        )
    rows = _run(
        session,
        sql,
        {**params, "sender": sender_id, "op_type": op_type, "since": since, "now": now},
    )
    found: dict[tuple[str, str], Recipient] = {}
    paid: set[int] = set()
    locked: dict[tuple[int, str], LockedAccount] = {}
    state: SenderState | None = None
    fresh = False
    for row in rows:
        if row[0] == "r":
            _tag, user_id, status, name, email, by, value, *_rest, paid_before = row
            found[(by, value)] = Recipient(user_id, status, name, email)
            if paid_before:
                paid.add(user_id)
        elif row[0] == "a":
            _tag, account_id, kind, _name, currency, _by, _value, balance, held, owner, *_ = row
            locked[(owner, currency)] = LockedAccount(
                account_id, kind, owner, None, currency, balance, held
            )
        else:
            *_rest, columns, fresh = row
            columns[4] = datetime.fromisoformat(columns[4])  # created_at, from JSON
            if columns[7] is not None:  # outgoing_hold_until, from JSON
                columns[7] = datetime.fromisoformat(columns[7])
            state = _sender_state([tuple(columns)])
    if state is not None and not fresh:
        state = sender_state(session, user_id=sender_id, op_type=op_type, since=since, now=now)
    return keys.answer(found), paid, locked, state


@dataclass(frozen=True)
class SenderState:
    account: AccountState
    restrictions: list[tuple[list[str], str]]  # (blocked actions, reason), oldest first
    usage: dict[tuple[str, date], int]  # (op_type, day) -> CNY minor units
    override: tuple[int | None, int | None, int | None] | None


def sender_state(
    session: Session, *, user_id: int, op_type: str, since: date, now: datetime
) -> SenderState | None:
    """The sender's state in one read (None: no such user)."""
    return _sender_state(
        _run(
            session,
            _SENDER_STATE,
            {"user_id": user_id, "op_type": op_type, "since": since, "now": now},
        )
    )


def _sender_state(rows: list[tuple[Any, ...]]) -> SenderState | None:
    if not rows:
        return None
    *account, restrictions, usage, override = rows[0]
    return SenderState(
        account=AccountState(*account),
        restrictions=[(list(b), str(r)) for b, r in restrictions or []],
        usage={(t, date.fromisoformat(d)): int(v) for t, d, v in usage or []},
        override=tuple(override) if override else None,
    )


# A pending operation settling: its journal entry (ledger.ENTRY_CTES), then the operation
# and its history rows moved to the new status, in one statement instead of two. The rows
# are looked for only from %(rows_since)s on: history is partitioned by month, and this
# keeps the planner to the months that can hold them (operations.rows_since).
_SETTLE = """
WITH {entry}, o AS (
  UPDATE wallet_operation SET {sets} WHERE id = %(operation_id)s
), a AS (
  UPDATE wallet_activity SET status = %(set_status)s, updated_at = %(now)s
  WHERE operation_id = %(operation_id)s AND created_at >= %(rows_since)s
)
SELECT id FROM e
"""
# What a settling operation may change besides its status (names placed in the text).
_SETTLE_COLUMNS = frozenset({"status", "updated_at", "completed_at", "external_ref", "amount"})


def settle(
    session: Session,
    *,
    operation_id: int,
    kind: str,
    plan: Plan,
    values: dict[str, Any],
    now: datetime,
    rows_since: datetime,
) -> int:
    """Write ``plan`` as the operation's journal entry of ``kind`` and update the operation
    with ``values`` (status included) and its history rows (none older than ``rows_since``)
    to match; returns the entry id."""
    unknown = set(values) - _SETTLE_COLUMNS
    if unknown:
        raise ValueError(f"not a settling column: {sorted(unknown)}")
    sets = ", ".join(f"{name} = %(set_{name})s" for name in sorted(values))
    params = entry_params(operation_id, kind, plan, now)
    params.update({f"set_{name}": value for name, value in values.items()})
    params["rows_since"] = rows_since
    ((entry_id,),) = _run(session, _SETTLE.format(entry=ENTRY_CTES, sets=sets), params)
    return int(entry_id)


# A pending operation settling against a system account: the operation locked first, then,
# if it is still pending, its customer's account and the system account's shard in the
# operation's currency, in id order (the order the wallet's other paths take too).
_LOCK_PENDING = """
WITH o AS MATERIALIZED (
  SELECT id, status, amount, currency, account_id, created_at FROM wallet_operation
  WHERE id = %(operation_id)s
  FOR NO KEY UPDATE
), a AS (
  SELECT w.id, w.kind, w.user_id, w.merchant_id, w.currency, w.balance, w.held
  FROM o JOIN wallet_account AS w
    ON w.id IN (o.account_id, CAST(CAST(%(system_ids)s AS JSON) ->> o.currency AS BIGINT))
  WHERE o.status = 'pending'
  ORDER BY w.id
  FOR NO KEY UPDATE OF w
)
SELECT 'o', id, status, amount, currency, account_id, NULL::INTEGER, NULL::INTEGER, created_at
FROM o
UNION ALL
SELECT 'a', id, kind, balance, currency, held, user_id, merchant_id, NULL::TIMESTAMPTZ FROM a
"""


@dataclass(frozen=True)
class PendingOperation:
    id: int
    status: str
    amount: int
    currency: str
    account_id: int | None
    created_at: datetime


def lock_pending(
    session: Session, *, operation_id: int, system_ids: dict[str, int]
) -> tuple[PendingOperation, dict[int, LockedAccount]] | None:
    """Lock an operation and, while it is pending, its account and the system account
    (``system_ids``: the shard to use per currency), in one statement. None: no such
    operation; no accounts: it is no longer pending."""
    rows = _run(
        session,
        _LOCK_PENDING,
        {"operation_id": operation_id, "system_ids": json.dumps(system_ids)},
    )
    operation: PendingOperation | None = None
    locked: dict[int, LockedAccount] = {}
    for tag, row_id, text, number, currency, other, user_id, merchant_id, created_at in rows:
        if tag == "o":
            operation = PendingOperation(row_id, text, number, currency, other, created_at)
        else:
            locked[row_id] = LockedAccount(
                row_id, text, user_id, merchant_id, currency, number, other
            )
    return None if operation is None else (operation, locked)

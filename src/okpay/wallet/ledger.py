"""The double-entry ledger: lock balances in id order, check, then write one balanced entry.

Everything here runs inside the caller's unit of work and uses Core statements: it is the
hot path of every money movement, and a transfer is a handful of round trips (lock, update
balances, insert entry and postings), close to what hand-written SQL would do.

System accounts (clearing, fees, payouts, FX) are sharded: each movement picks one shard at
random, so half the traffic touching "fee revenue" does not queue on a single row. A system
account's balance is the sum of its shards."""

from __future__ import annotations

import json
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.errors import DomainError
from okpay.core.i18n import N_
from okpay.core.money import SUPPORTED_CURRENCIES
from okpay.db import driver_rows, for_update, one_of, table_of
from okpay.wallet import errors as wallet_errors
from okpay.wallet.models import AccountKind, JournalEntry, Posting, SystemAccount, WalletAccount

SYSTEM_SHARDS = 8


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status = 422
    message = N_("Your available balance is not enough for this.")


def insufficient_funds(
    *, available: int, amount: int, fee: int, currency: str
) -> InsufficientFunds:
    """The refusal naming the figures: what is available, what this needs and the fee in it
    ("可用余额 ¥120.00，本次需要 ¥150.00 (含手续费 ¥0.00)")."""
    return InsufficientFunds(
        N_(
            "Your available balance is not enough: you have %(available)s available, and this "
            "needs %(needed)s (including a fee of %(fee)s)."
        ),
        available=wallet_errors.LazyMoney(max(0, available), currency),
        needed=wallet_errors.LazyMoney(amount + fee, currency),
        fee=wallet_errors.LazyMoney(fee, currency),
    )


class LedgerImbalance(Exception):
    """A programming error: postings that do not sum to zero per currency."""


@dataclass(frozen=True)
class Line:
    account_id: int
    amount: int


@dataclass
class LockedAccount:
    id: int
    kind: str
    user_id: int | None
    merchant_id: int | None
    currency: str
    balance: int
    held: int

    @property
    def available(self) -> int:
        return self.balance - self.held


# ------------------------------------------------------------------------------- accounts


def _insert_ignore(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(WalletAccount)


def customer_account_id(
    session: Session, *, user_id: int, currency: str, create: bool = True
) -> int | None:
    """The user's account in ``currency``, created on first use (race-safe)."""
    return _owned_account_id(
        session,
        kind=AccountKind.customer,
        owner="user_id",
        owner_id=user_id,
        currency=currency,
        create=create,
    )


def merchant_account_id(session: Session, *, merchant_id: int, currency: str) -> int:
    """The merchant's account in ``currency``, created on first use."""
    found = _owned_account_id(
        session,
        kind=AccountKind.merchant,
        owner="merchant_id",
        owner_id=merchant_id,
        currency=currency,
        create=True,
    )
    assert found is not None
    return found


def _owned_account_id(
    session: Session, *, kind: AccountKind, owner: str, owner_id: int, currency: str, create: bool
) -> int | None:
    column = getattr(WalletAccount, owner)
    stmt = select(WalletAccount.id).where(column == owner_id, WalletAccount.currency == currency)
    found = session.scalar(stmt)
    if found is not None or not create:
        return found
    # Two first payments at once both try to open the account: one insert wins, both read it.
    session.execute(
        _insert_ignore(session)
        .values(
            kind=kind.value,
            currency=currency,
            shard=0,
            balance=0,
            held=0,
            created_at=clock.now(),
            **{owner: owner_id},
        )
        .on_conflict_do_nothing()
    )
    return session.scalar(stmt)


_system_ids: dict[tuple[str, str, str], list[int]] = {}
_system_lock = threading.Lock()


def system_account_id(session: Session, code: SystemAccount, currency: str) -> int:
    """One shard of a system account, chosen at random."""
    return random.choice(system_shard_ids(session, code, currency))  # noqa: S311 - load spreading


def system_shard_ids(session: Session, code: SystemAccount, currency: str) -> list[int]:
    url = str(session.get_bind().engine.url)
    key = (url, code.value, currency)
    ids = _system_ids.get(key)
    if ids is None:
        with _system_lock:
            ensure_system_accounts(session)
            rows = session.execute(
                select(WalletAccount.system_code, WalletAccount.currency, WalletAccount.id)
                .where(WalletAccount.kind == AccountKind.system.value)
                .order_by(WalletAccount.shard)
            ).all()
            grouped: dict[tuple[str, str, str], list[int]] = defaultdict(list)
            for system_code, cur, account_id in rows:
                grouped[(url, str(system_code), cur)].append(account_id)
            _system_ids.update(grouped)
            ids = _system_ids[key]
    return ids


def forget_system_accounts() -> None:
    """Drop cached system-account ids (tests empty the tables between cases)."""
    _system_ids.clear()


def ensure_system_accounts(session: Session) -> None:
    """Create every system account shard for every currency (idempotent)."""
    now = clock.now()
    values = [
        {
            "kind": AccountKind.system.value,
            "system_code": code.value,
            "currency": currency,
            "shard": shard,
            "balance": 0,
            "held": 0,
            "created_at": now,
        }
        for code in SystemAccount
        for currency in SUPPORTED_CURRENCIES
        for shard in range(SYSTEM_SHARDS)
    ]
    session.execute(_insert_ignore(session).on_conflict_do_nothing(), values)


def system_balance(session: Session, code: SystemAccount, currency: str) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(WalletAccount.balance), 0)).where(
                WalletAccount.system_code == code.value, WalletAccount.currency == currency
            )
        )
        or 0
    )


# --------------------------------------------------------------------------------- locking


def _lock_where(session: Session, condition: Any) -> list[LockedAccount]:
    """Lock the balance rows matching ``condition`` in id order, in one statement."""
    dialect = session.get_bind().dialect.name
    rows = session.execute(
        select(
            WalletAccount.id,
            WalletAccount.kind,
            WalletAccount.user_id,
            WalletAccount.merchant_id,
            WalletAccount.currency,
            WalletAccount.balance,
            WalletAccount.held,
        )
        .where(condition)
        .order_by(WalletAccount.id)
        .with_for_update(**for_update(dialect))
    ).all()
    return [
        LockedAccount(r.id, r.kind, r.user_id, r.merchant_id, r.currency, r.balance, r.held)
        for r in rows
    ]


def lock_accounts(session: Session, account_ids: Iterable[int]) -> dict[int, LockedAccount]:
    """Lock the balance rows in id order (so two movements never wait on each other in a
    circle) and return their current state."""
    ids = sorted(set(account_ids))
    locked = {a.id: a for a in _lock_where(session, WalletAccount.id.in_(ids))}
    if len(locked) != len(ids):
        raise LookupError(f"accounts missing: {set(ids) - set(locked)}")
    return locked


def lock_customer_accounts(
    session: Session, *, user_ids: Sequence[int], currency: str
) -> dict[int, LockedAccount]:
    """Find and lock the users' accounts in ``currency`` in one statement (id order);
    returns them by user id (a user with no account in that currency is missing)."""
    found = lock_customer_accounts_in(session, user_ids=user_ids, currencies=[currency])
    return {user_id: account for (user_id, _currency), account in found.items()}


def lock_customer_accounts_in(
    session: Session, *, user_ids: Iterable[int], currencies: Iterable[str]
) -> dict[tuple[int, str], LockedAccount]:
    """Find and lock the users' accounts in any of ``currencies`` in one statement (id
    order), by (user id, currency). Users times currencies rather than exact pairs: the
    unique (user_id, currency) index serves it, and a batch is nearly always one currency."""
    dialect = session.get_bind().dialect.name
    rows = _lock_where(
        session,
        and_(
            one_of(dialect, WalletAccount.user_id, sorted(set(user_ids))),
            WalletAccount.currency.in_(sorted(set(currencies))),
        ),
    )
    return {(a.user_id, a.currency): a for a in rows if a.user_id is not None}


# --------------------------------------------------------------------------------- posting


_accounts = table_of(WalletAccount)
_update_balance = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(balance=bindparam("new_balance"))
)
_update_held = (
    update(_accounts)
    .where(_accounts.c.id == bindparam("account_id"))
    .values(held=bindparam("new_held"))
)
_insert_entries = insert(table_of(JournalEntry)).returning(
    table_of(JournalEntry).c.id, sort_by_parameter_order=True
)
_insert_postings = insert(table_of(Posting))


@dataclass(frozen=True)
class Plan:
    """A checked entry, ready to write: each posting with the balance it leaves, and the
    final balance of every account it touches."""

    postings: list[tuple[int, str, int, int]]  # account id, currency, amount, balance after
    balances: dict[int, int]


def plan(
    locked: dict[int, LockedAccount], lines: Sequence[Line], *, allow_held: bool = False
) -> Plan:
    """Check an entry over locked accounts: it balances per currency, and no customer or
    merchant account goes below what it holds for pending withdrawals (below zero with
    ``allow_held``, when the entry itself settles a hold). InsufficientFunds otherwise."""
    totals: dict[str, int] = defaultdict(int)
    for line in lines:
        if line.amount == 0:
            raise LedgerImbalance("zero posting")
        totals[locked[line.account_id].currency] += line.amount
    if any(totals.values()):
        raise LedgerImbalance(f"postings do not balance: {dict(totals)}")
    running: dict[int, int] = {}
    postings = []
    for line in lines:
        account = locked[line.account_id]
        balance = running.get(account.id, account.balance) + line.amount
        floor = 0 if allow_held else account.held
        if account.kind != AccountKind.system.value and line.amount < 0 and balance < floor:
            raise InsufficientFunds()
        running[account.id] = balance
        postings.append((account.id, account.currency, line.amount, balance))
    return Plan(postings, running)


def applied(locked: dict[int, LockedAccount], checked: Plan) -> None:
    """Reflect a written plan in the locked accounts (later entries in the same unit of
    work start from these balances)."""
    for account_id, balance in checked.balances.items():
        locked[account_id].balance = balance


def post(
    session: Session,
    locked: dict[int, LockedAccount],
    *,
    operation_id: int,
    kind: str,
    lines: Sequence[Line],
    allow_held: bool = False,
) -> int:
    """Write one balanced journal entry over already-locked accounts; returns its id.
    Nothing is written if the plan is refused (see :func:`plan`)."""
    checked = plan(locked, lines, allow_held=allow_held)
    (entry_id,) = write_entries(session, [(operation_id, kind, checked)])
    applied(locked, checked)
    return entry_id


def write_entries(session: Session, entries: Sequence[tuple[int, str, Plan]]) -> list[int]:
    """Write checked plans, in order, as journal entries (operation id, kind, plan) with
    their postings, and leave every account at its last plan's balance; returns the entry
    ids. Plans over the same account must have been made one after the other, each applied
    before the next (see :func:`applied`), so that their balances follow on."""
    now = clock.now()
    if len(entries) == 1 and session.get_bind().dialect.name == "postgresql":
        operation_id, kind, checked = entries[0]
        return [_write_entry_pg(session, operation_id, kind, checked, now)]
    entry_ids = [
        int(row[0])
        for row in session.execute(
            _insert_entries,
            [{"operation_id": op, "kind": kind, "created_at": now} for op, kind, _ in entries],
        )
    ]
    session.execute(
        _insert_postings,
        [
            {
                "entry_id": entry_id,
                "account_id": a,
                "currency": c,
                "amount": m,
                "balance_after": b,
                "created_at": now,
            }
            for entry_id, (_op, _kind, checked) in zip(entry_ids, entries, strict=True)
            for a, c, m, b in checked.postings
        ],
    )
    final: dict[int, int] = {}
    for _op, _kind, checked in entries:
        final.update(checked.balances)
    session.execute(
        _update_balance, [{"account_id": i, "new_balance": b} for i, b in final.items()]
    )
    return entry_ids


# One entry on PostgreSQL: the entry, its postings (in plan order) and the new balances as
# data-modifying CTEs (named e, p and b) of one statement instead of three; wallet.pg adds
# the operation's own update to them (see entry_params for the parameters).
#
# The balance arrays are read through sub-selects so that the planner does not see how
# long they are: it then costs a plan for these values the same as a plan for any values
# and keeps the latter, instead of planning the statement again at every execution (which
# costs more than running it).
ENTRY_CTES = """
e AS (
  INSERT INTO journal_entry (operation_id, kind, created_at)
  VALUES (%(operation_id)s, %(kind)s, %(now)s)
  RETURNING id
), p AS (
  INSERT INTO posting (entry_id, account_id, currency, amount, balance_after, created_at)
  SELECT e.id, x.account_id, x.currency, x.amount, x.after, %(now)s
  FROM e, json_to_recordset(CAST(%(postings)s AS JSON))
    AS x(account_id BIGINT, currency VARCHAR, amount BIGINT, after BIGINT, n BIGINT)
  ORDER BY x.n
), b AS (
  UPDATE wallet_account AS w SET balance = v.balance
  FROM unnest((SELECT CAST(%(b_id)s AS BIGINT[])), (SELECT CAST(%(b_balance)s AS BIGINT[])))
    AS v(id, balance)
  WHERE w.id = v.id
)"""
_WRITE_ENTRY = f"WITH {ENTRY_CTES}\nSELECT id FROM e"


def entry_params(operation_id: int, kind: str, checked: Plan, now: Any) -> dict[str, Any]:
    """The parameters of :data:`ENTRY_CTES` for one checked plan (the postings as JSON,
    quicker to send than psycopg's arrays; the balances as arrays, see wallet.pg)."""
    return {
        "operation_id": operation_id,
        "kind": kind,
        "now": now,
        "postings": json.dumps(
            [
                {"account_id": a, "currency": c, "amount": m, "after": b, "n": n}
                for n, (a, c, m, b) in enumerate(checked.postings)
            ]
        ),
        "b_id": list(checked.balances),
        "b_balance": list(checked.balances.values()),
    }


def _write_entry_pg(session: Session, operation_id: int, kind: str, checked: Plan, now: Any) -> int:
    ((entry_id,),) = driver_rows(
        session, _WRITE_ENTRY, entry_params(operation_id, kind, checked, now)
    )
    return int(entry_id)


def set_held(session: Session, account: LockedAccount, held: int) -> None:
    """Change what a locked account holds; never more than its balance, never negative."""
    if held < 0:
        raise ValueError("held below zero")
    if held > account.balance and account.kind != AccountKind.system.value:
        raise InsufficientFunds()
    session.execute(_update_held, [{"account_id": account.id, "new_held": held}])
    account.held = held


def balances(session: Session, *, user_id: int) -> list[WalletAccount]:
    """The user's accounts, CNY first, then by currency code."""
    rows = list(session.scalars(select(WalletAccount).where(WalletAccount.user_id == user_id)))
    return sorted(rows, key=lambda a: (a.currency != "CNY", a.currency))

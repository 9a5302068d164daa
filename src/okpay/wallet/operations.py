"""Operation rows: creating operations and their activity lines, moving them between
statuses (undoing counted usage when they fail) and locking them.

Like every wallet module that moves money (transfers, batch, topups, withdrawals, merchants,
fx_transfers), every function runs inside the caller's unit of work and only flushes.
Money-moving functions lock the balance rows first (in id order), then read the owner's
status fresh and check limits, so a freeze that commits first is always seen, and write one
balanced entry. Calls to the payment provider happen between units of work (see
wallet.flows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from okpay.core import clock
from okpay.core.errors import NotFound
from okpay.db import table_of
from okpay.wallet import ledger, pg, references, usage
from okpay.wallet.models import Activity, Operation, OperationStatus

_insert_operation = insert(table_of(Operation)).returning(
    table_of(Operation).c.id, sort_by_parameter_order=True
)


_insert_activity = insert(table_of(Activity))


def new_operation(session: Session, **fields: Any) -> tuple[int, str]:
    """Insert one operation with a new reference; its (id, reference)."""
    (created,) = new_operations(
        session, [operation_row(reference=references.new_reference(session), **fields)]
    )
    return created


def new_operations(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert operations (see :func:`operation_row`); their (id, reference), in order."""
    result = session.execute(_insert_operation, rows)
    return [(int(r[0]), str(row["reference"])) for r, row in zip(result, rows, strict=True)]


def operation_row(**fields: Any) -> dict[str, Any]:
    """Every column of a new operation: now and ``fields`` (the reference among them)."""
    now = clock.now()
    return {
        "created_at": now,
        "updated_at": now,
        "fee": 0,
        "note": "",
        "data": {},
        "user_id": None,
        "account_id": None,
        "counterparty_user_id": None,
        "counterparty_account_id": None,
        "merchant_id": None,
        "order_id": None,
        "target_currency": None,
        "target_amount": None,
        "fx_rate": None,
        "method": None,
        "payment_method_id": None,
        "external_ref": None,
        "original_operation_id": None,
        "failure_code": None,
        "completed_at": None,
        **fields,
    }


def add_activity(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert history (activity) rows, defaults filled in."""
    now = clock.now()
    session.execute(
        _insert_activity,
        [
            {"created_at": now, "updated_at": now, "fee": 0, "counterparty": "", "note": "", **r}
            for r in rows
        ],
    )


# A history row is written with or after its operation, never before (a day's margin for a
# clock set back): looking only from there on lets PostgreSQL skip the older months.
_ROWS_MARGIN = timedelta(days=1)


def rows_since(created_at: datetime) -> datetime:
    """The earliest an operation created at ``created_at`` can have history rows."""
    return created_at - _ROWS_MARGIN


def activity_of(operation_id: int, since: datetime | None) -> list[Any]:
    """The WHERE clauses that find an operation's history rows (``since``: see
    :func:`rows_since`; None looks in every month)."""
    activity = table_of(Activity)
    found: list[Any] = [activity.c.operation_id == operation_id]
    if since is not None:
        found.append(activity.c.created_at >= since)
    return found


def set_status(
    session: Session,
    operation_id: int,
    status: OperationStatus,
    *,
    failure_code: str | None = None,
    loaded: Operation | None = None,
    entry: tuple[str, ledger.Plan] | None = None,
    created_at: datetime | None = None,
    **extra: Any,
) -> None:
    """Move an operation and its history rows to ``status`` (with ``extra`` columns);
    ``loaded``, the operation as the session holds it, is updated to match without a
    reload. ``entry`` (kind, checked plan) is the journal entry it settles with, written
    with it: on PostgreSQL in the same statement. ``created_at``, the operation's (taken
    from ``loaded`` when not given), narrows the search for its history rows."""
    now = clock.now()
    if created_at is None and loaded is not None:
        created_at = loaded.created_at
    since = rows_since(created_at) if created_at is not None else None
    values: dict[str, Any] = {"status": status.value, "updated_at": now, **extra}
    if failure_code:
        values["failure_code"] = failure_code
    if status == OperationStatus.completed:
        values["completed_at"] = now
    postgres = session.get_bind().dialect.name == "postgresql"
    if entry is not None and postgres:  # the entry and both updates in one statement
        kind, checked = entry
        pg.settle(
            session,
            operation_id=operation_id,
            kind=kind,
            plan=checked,
            values=values,
            now=now,
            rows_since=since or datetime.min.replace(tzinfo=now.tzinfo),
        )
    else:
        if entry is not None:
            ledger.write_entries(session, [(operation_id, *entry)])
        operations, activity = table_of(Operation), table_of(Activity)
        set_operation = update(operations).where(operations.c.id == operation_id).values(**values)
        set_activity = (
            update(activity)
            .where(*activity_of(operation_id, since))
            .values(status=status.value, updated_at=now)
        )
        if postgres:  # both in one statement
            session.execute(set_activity.add_cte(set_operation.cte("set_operation")))
        else:
            session.execute(set_operation)
            session.execute(set_activity)
    if loaded is not None:
        for key, value in values.items():
            set_committed_value(loaded, key, value)
    if status in (OperationStatus.failed, OperationStatus.cancelled):
        _uncount(session, operation_id)


def _uncount(session: Session, operation_id: int) -> None:
    """A failed or cancelled operation no longer uses the customer's limits."""
    row = session.execute(
        select(
            Operation.user_id,
            Operation.type,
            Operation.amount,
            Operation.currency,
            Operation.created_at,
        ).where(Operation.id == operation_id)
    ).one()
    if row.user_id is not None:
        usage.record_usage(
            session,
            user_id=row.user_id,
            op_type=row.type,
            amount=row.amount,
            currency=row.currency,
            day=row.created_at.astimezone(usage.BEIJING).date(),
            undo=True,
        )


@dataclass(frozen=True)
class TransferResult:
    operation_id: int
    reference: str
    amount: int
    fee: int
    currency: str
    counterparty_user_id: int | None = None  # the customer paid (a transfer)
    # A transfer that settled at once: when (created and completed together) and its note,
    # so that the sender's answer needs no second read of the operation (wallet.flows).
    settled_at: datetime | None = None
    note: str = ""


def lock_operation(session: Session, operation_id: int) -> Operation:
    """The operation, row-locked for the rest of the unit of work and read fresh."""
    return _lock_operation(session, operation_id)


def _lock_operation(session: Session, operation_id: int) -> Operation:
    from okpay.db import for_update

    dialect = session.get_bind().dialect.name
    op = session.scalar(
        select(Operation)
        .where(Operation.id == operation_id)
        .with_for_update(**for_update(dialect))
        .execution_options(populate_existing=True)
    )
    if op is None:
        raise NotFound()
    return op

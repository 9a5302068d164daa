"""Wallet operations: top-up, withdrawal, transfer, account states, limits and history.

Every function runs inside the caller's unit of work and only flushes. Money-moving
functions lock the balance rows first (in id order), then read the owner's status fresh and
check limits, so a freeze that commits first is always seen, and write one balanced entry.
Calls to the payment provider happen between units of work (see wallet.flows)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from okpay.core import audit, clock
from okpay.core.errors import DomainError, NotFound, ValidationFailed
from okpay.core.i18n import N_, format_money
from okpay.core.money import SUPPORTED_CURRENCIES, check_currency, parse_amount
from okpay.db import table_of
from okpay.identity import directory as identity_directory
from okpay.identity import operators as identity_operators
from okpay.identity import validation as identity_validation
from okpay.identity.models import AccountStatus
from okpay.wallet import fees, fx, ledger, pg, recipients, references
from okpay.wallet.limits import LimitSet, limits_for
from okpay.wallet.models import (
    AccountRestriction,
    Activity,
    FxQuote,
    Hold,
    LimitOverride,
    Merchant,
    Operation,
    OperationStatus,
    OperationType,
    PaymentMethod,
    SystemAccount,
    Usage,
    WalletAccount,
)
from okpay.wallet.providers import CardToken

BEIJING = ZoneInfo("Asia/Shanghai")
ACTIONS = ("topup", "withdraw", "transfer", "pay")

# ----------------------------------------------------------------------------------- errors


class AccountFrozen(DomainError):
    code = "account_frozen"
    status = 403
    message = N_("Your account is frozen, so money cannot leave it. Please contact support.")


class AccountNotActive(DomainError):
    code = "account_not_active"
    status = 403
    message = N_(
        "Your account cannot do this right now (status: %(account_status)s). "
        "Please contact support."
    )


class OperationBlocked(DomainError):
    code = "account_restricted"
    status = 403
    message = N_("This is not available on your account at the moment: %(reason)s")


class LimitExceeded(DomainError):
    code = "limit_exceeded"
    status = 422
    message = N_(
        "This is over your %(period)s limit of %(limit)s. You can still use %(remaining)s; "
        "the limit resets %(resets)s."
    )


class RecipientNotFound(DomainError):
    code = "recipient_not_found"
    status = 404
    message = N_("We could not find an OKPay user with that e-mail address or phone number.")


class TransferToSelf(DomainError):
    code = "transfer_to_self"
    status = 422
    message = N_("You cannot send money to yourself.")


class RecipientCannotReceive(DomainError):
    code = "recipient_cannot_receive"
    status = 422
    message = N_("That account cannot receive money at the moment.")


class PaymentMethodNotFound(NotFound):
    code = "payment_method_not_found"
    message = N_("We could not find that card or bank account.")


class CardExpired(DomainError):
    code = "card_expired"
    status = 422
    message = N_("This card has expired. Please add a current card.")


class OperationNotCancellable(DomainError):
    code = "not_cancellable"
    status = 409
    message = N_("This can no longer be cancelled.")


class PayoutInFlight(DomainError):
    code = "payout_in_flight"
    status = 409
    message = N_(
        "The money is already on its way to your bank, so this withdrawal can no longer be "
        "cancelled. It stays set aside until the bank confirms the payment."
    )


class PayoutNotReady(DomainError):
    code = "payout_not_ready"
    status = 409
    message = N_(
        "We are still handing this withdrawal to the bank. Please try cancelling again in a minute."
    )


class CancelUnavailable(DomainError):
    code = "cancel_unavailable"
    status = 503
    message = N_(
        "We could not reach the bank to stop this withdrawal, so it has not been cancelled "
        "and the money stays set aside. Please try again in a few minutes."
    )


PERIOD_LABELS = {
    "transaction": N_("per-transaction"),
    "daily": N_("daily"),
    "monthly": N_("monthly"),
}


# -------------------------------------------------------------------------- account states


@dataclass(frozen=True)
class Standing:
    status: str
    status_reason: str | None
    verification_level: int
    created_at: datetime
    blocked: dict[str, str]  # action -> reason
    label: str = ""


def standing(session: Session, user_id: int) -> Standing:
    """The user's status and active restrictions, read fresh (call after locking balances)."""
    state = identity_directory.account_state(session, user_id)
    if state is None:
        raise NotFound()
    restrictions: list[tuple[list[str], str]] = []
    if state.status == AccountStatus.restricted.value:
        restrictions = [
            (list(actions), reason)
            for actions, reason in session.execute(
                select(AccountRestriction.blocked, AccountRestriction.reason)
                .where(
                    AccountRestriction.user_id == user_id, AccountRestriction.released_at.is_(None)
                )
                .order_by(AccountRestriction.id)
            )
        ]
    return _standing(state, restrictions)


def _standing(
    state: identity_directory.AccountState, restrictions: list[tuple[list[str], str]]
) -> Standing:
    blocked: dict[str, str] = {}
    if state.status == AccountStatus.restricted.value:
        for actions, reason in restrictions:
            for action in actions:
                blocked.setdefault(action, reason)
    return Standing(
        state.status,
        state.status_reason,
        state.verification_level,
        state.created_at,
        blocked,
        state.label,
    )


def check_can(session: Session, user_id: int, action: str, *, outgoing: bool = True) -> Standing:
    """Refuse ``action`` for a locked, frozen, closed or restricted account."""
    return check_standing(standing(session, user_id), action, outgoing=outgoing)


def check_standing(s: Standing, action: str, *, outgoing: bool = True) -> Standing:
    """Refuse ``action`` for an account in standing ``s`` that may not do it."""
    if s.status == AccountStatus.frozen.value and outgoing:
        raise AccountFrozen()
    if s.status in (AccountStatus.locked.value, AccountStatus.closed.value):
        from okpay.identity.models import status_label

        raise AccountNotActive(account_status=status_label(s.status))
    if action in s.blocked:
        raise OperationBlocked(reason=s.blocked[action])
    return s


def do_restrict(
    session: Session, *, user_id: int, blocked: list[str], reason: str, actor_user_id: int | None
) -> AccountRestriction:
    """Compliance: block some operations, with a reason the customer sees."""
    chosen = sorted(set(blocked))
    if not chosen or any(a not in ACTIONS for a in chosen):
        raise ValidationFailed(
            N_("Choose what to block: top-up, withdraw, transfer or pay."),
            code="restriction_invalid",
            field="blocked",
        )
    reason = identity_validation.check_name(reason, field="reason", max_length=500)
    if not reason:
        raise ValidationFailed(
            N_("Please give a reason the customer will see."),
            code="reason_required",
            field="reason",
        )
    _lock_all_accounts(session, user_id)
    row = AccountRestriction(
        user_id=user_id,
        blocked=chosen,
        reason=reason,
        created_by=actor_user_id,
        created_at=clock.now(),
    )
    session.add(row)
    identity_operators.do_set_status(
        session,
        user_id=user_id,
        status=AccountStatus.restricted,
        reason=reason,
        actor_user_id=actor_user_id,
    )
    session.flush()
    audit.record(
        session,
        "account_restricted",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        object_type="restriction",
        object_id=row.id,
        blocked=chosen,
        reason=reason,
    )
    return row


def do_freeze(session: Session, *, user_id: int, reason: str, actor_user_id: int | None) -> None:
    """Fraud: nothing leaves the account until it is released."""
    reason = identity_validation.check_name(reason, field="reason", max_length=500)
    if not reason:
        raise ValidationFailed(
            N_("Please give a reason the customer will see."),
            code="reason_required",
            field="reason",
        )
    _lock_all_accounts(session, user_id)
    identity_operators.do_set_status(
        session,
        user_id=user_id,
        status=AccountStatus.frozen,
        reason=reason,
        actor_user_id=actor_user_id,
    )


def do_release(
    session: Session, *, user_id: int, actor_user_id: int | None, note: str = ""
) -> None:
    """Lift a freeze and every active restriction."""
    _lock_all_accounts(session, user_id)
    now = clock.now()
    session.execute(
        update(AccountRestriction)
        .where(AccountRestriction.user_id == user_id, AccountRestriction.released_at.is_(None))
        .values(released_at=now, released_by=actor_user_id)
        .execution_options(synchronize_session=False)
    )
    identity_operators.do_set_status(
        session,
        user_id=user_id,
        status=AccountStatus.active,
        reason=None,
        actor_user_id=actor_user_id,
    )
    audit.record(
        session,
        "account_released",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        note=note[:500],
    )


def _lock_all_accounts(session: Session, user_id: int) -> None:
    # Taking the balance locks makes the status change wait for movements in flight, and
    # movements that start later see the new status. The rows are rewritten as well (same
    # values, new row versions): a movement that waited for these locks then knows that
    # what it read of the customer before the wait is out of date (see wallet.pg).
    ids = [a.id for a in ledger.balances(session, user_id=user_id)]
    if ids:
        ledger.lock_accounts(session, ids)
        accounts = table_of(WalletAccount)
        session.execute(
            update(accounts)
            .where(accounts.c.id.in_(ids))
            .values(held=accounts.c.held)
            .execution_options(synchronize_session=False)
        )


# --------------------------------------------------------------------------------- limits


def _day_start(now: datetime) -> datetime:
    local = now.astimezone(BEIJING)
    return datetime.combine(local.date(), time(0), BEIJING)


def _month_start(now: datetime) -> datetime:
    local = now.astimezone(BEIJING)
    return datetime.combine(date(local.year, local.month, 1), time(0), BEIJING)


def _next_month(start: datetime) -> datetime:
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime.combine(date(year, month, 1), time(0), BEIJING)


VOLUME_TYPES = ("transfer", "payment", "withdrawal")


class UsageSnapshot:
    """A user's recent usage rows (this month and the last 30 days): limits and the volume
    discount are computed from one small read."""

    def __init__(self, rows: dict[tuple[str, date], int], today: date) -> None:
        self.rows = rows
        self.today = today

    def day(self, op_type: str) -> int:
        return self.rows.get((op_type, self.today), 0)

    def month(self, op_type: str) -> int:
        first = self.today.replace(day=1)
        return sum(v for (t, d), v in self.rows.items() if t == op_type and d >= first)

    def volume_30d(self) -> int:
        since = self.today - timedelta(days=30)
        return sum(v for (t, d), v in self.rows.items() if t in VOLUME_TYPES and d > since)

    def add(self, op_type: str, amount_cny: int) -> None:
        """Count an operation made today (a batch checks its next item against the rest)."""
        key = (op_type, self.today)
        self.rows[key] = self.rows.get(key, 0) + amount_cny


def _today() -> date:
    return clock.now().astimezone(BEIJING).date()


def _usage_since(today: date) -> date:
    """The first day a snapshot needs: the month's first, or 30 days back if earlier."""
    return min(today.replace(day=1), today - timedelta(days=30))


def usage_snapshot(session: Session, *, user_id: int) -> UsageSnapshot:
    today = _today()
    since = _usage_since(today)
    rows = session.execute(
        select(Usage.op_type, Usage.day, Usage.amount_cny).where(
            Usage.user_id == user_id, Usage.day >= since
        )
    ).all()
    return UsageSnapshot({(t, d): int(v) for t, d, v in rows}, today)


def owner_state(
    session: Session, *, user_id: int, op_type: str
) -> tuple[Standing, UsageSnapshot, LimitSet]:
    """What a movement checks: the owner's standing, recent usage and effective limits for
    ``op_type`` (one statement on PostgreSQL, see wallet.pg; three elsewhere). Money going
    out reads it after locking its balances, so a freeze that committed first is seen."""
    if session.get_bind().dialect.name != "postgresql":
        me = standing(session, user_id)
        snapshot = usage_snapshot(session, user_id=user_id)
        level = me.verification_level
        return (
            me,
            snapshot,
            effective_limits(session, user_id=user_id, op_type=op_type, level=level),
        )
    today = _today()
    state = pg.sender_state(
        session, user_id=user_id, op_type=op_type, since=_usage_since(today), now=clock.now()
    )
    return _from_state(state, op_type, today)


def _from_state(
    state: pg.SenderState | None, op_type: str, today: date
) -> tuple[Standing, UsageSnapshot, LimitSet]:
    if state is None:
        raise NotFound()
    base = limits_for(op_type, state.account.verification_level)
    limits = _overridden(base, state.override) if state.override else base
    return _standing(state.account, state.restrictions), UsageSnapshot(state.usage, today), limits


_usage_upserts: dict[str, Any] = {}


def _usage_upsert(session: Session) -> Any:
    """INSERT … ON CONFLICT DO UPDATE for a usage row, built once per dialect."""
    dialect = session.get_bind().dialect.name
    stmt = _usage_upserts.get(dialect)
    if stmt is None:
        from sqlalchemy.dialects import postgresql, sqlite

        insert_stmt = (postgresql if dialect == "postgresql" else sqlite).insert(Usage)
        stmt = _usage_upserts[dialect] = insert_stmt.on_conflict_do_update(
            index_elements=["user_id", "op_type", "day"],
            set_={
                "amount_cny": Usage.amount_cny + insert_stmt.excluded.amount_cny,
                "count": Usage.count + insert_stmt.excluded.count,
            },
        )
    return stmt


def record_usage(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    amount: int,
    currency: str,
    day: date | None = None,
    undo: bool = False,
) -> None:
    """Count (or, with ``undo``, uncount) an operation against its day's usage."""
    cny = fx.to_cny(amount, currency)
    add_usage(
        session,
        user_id=user_id,
        op_type=op_type,
        day=day or _today(),
        amount_cny=-cny if undo else cny,
        count=-1 if undo else 1,
    )


def add_usage(
    session: Session, *, user_id: int, op_type: str, day: date, amount_cny: int, count: int
) -> None:
    """Add ``count`` operations worth ``amount_cny`` to a user's usage of one day."""
    session.execute(
        _usage_upsert(session),
        {
            "user_id": user_id,
            "op_type": op_type,
            "day": day,
            "amount_cny": amount_cny,
            "count": count,
        },
    )


@dataclass(frozen=True)
class LimitUsage:
    operation: str
    per_transaction: int
    daily: int
    daily_used: int
    daily_resets_at: datetime
    monthly: int
    monthly_used: int
    monthly_resets_at: datetime


def limit_usage(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    level: int,
    snapshot: UsageSnapshot | None = None,
    limits: LimitSet | None = None,
) -> LimitUsage:
    """A user's limits for an operation, what is used and when it resets (``limits``: the
    user's effective limits, when the caller has them already)."""
    if limits is None:
        limits = effective_limits(session, user_id=user_id, op_type=op_type, level=level)
    snap = snapshot or usage_snapshot(session, user_id=user_id)
    now = clock.now()
    day, month = _day_start(now), _month_start(now)
    return LimitUsage(
        operation=op_type,
        per_transaction=limits.per_transaction,
        daily=limits.daily,
        daily_used=snap.day(op_type),
        daily_resets_at=day + timedelta(days=1),
        monthly=limits.monthly,
        monthly_used=snap.month(op_type),
        monthly_resets_at=_next_month(month),
    )


def check_limits(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    amount: int,
    currency: str,
    level: int,
    snapshot: UsageSnapshot | None = None,
    limits: LimitSet | None = None,
) -> None:
    """Refuse an amount over the per-transaction, daily or monthly limit, naming which."""
    from okpay.core.i18n import format_datetime

    amount_cny = fx.to_cny(amount, currency)
    usage = limit_usage(
        session,
        user_id=user_id,
        op_type=op_type,
        level=level,
        snapshot=snapshot,
        limits=limits,
    )
    checks = (
        ("transaction", usage.per_transaction, 0, None),
        ("daily", usage.daily, usage.daily_used, usage.daily_resets_at),
        ("monthly", usage.monthly, usage.monthly_used, usage.monthly_resets_at),
    )
    for period, limit, used, resets in checks:
        if used + amount_cny > limit:
            remaining = max(0, limit - used) if period != "transaction" else limit
            raise LimitExceeded(
                period=_Lazy(PERIOD_LABELS[period]),
                limit=_LazyMoney(limit, "CNY"),
                remaining=_LazyMoney(remaining, "CNY"),
                resets=_LazyText(lambda r=resets: format_datetime(r, "short") if r else "—"),
            )


class _Lazy:
    def __init__(self, msg: str) -> None:
        self.msg = msg

    def __str__(self) -> str:
        from okpay.core.i18n import gettext

        return gettext(self.msg)


class _LazyMoney:
    def __init__(self, minor: int, currency: str) -> None:
        self.minor, self.currency = minor, currency

    def __str__(self) -> str:
        return format_money(self.minor, self.currency)


class _LazyText:
    def __init__(self, fn: Any) -> None:
        self.fn = fn

    def __str__(self) -> str:
        return str(self.fn())


# ------------------------------------------------------------------------------ operations

_insert_operation = insert(table_of(Operation)).returning(
    table_of(Operation).c.id, sort_by_parameter_order=True
)
_insert_activity = insert(table_of(Activity))


def _new_operation(session: Session, **fields: Any) -> tuple[int, str]:
    (created,) = _new_operations(
        session, [_operation_row(reference=references.new_reference(session), **fields)]
    )
    return created


def _new_operations(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, str]]:
    """Insert operations (see :func:`_operation_row`); their (id, reference), in order."""
    result = session.execute(_insert_operation, rows)
    return [(int(r[0]), str(row["reference"])) for r, row in zip(result, rows, strict=True)]


def _operation_row(**fields: Any) -> dict[str, Any]:
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


def _activity(session: Session, rows: list[dict[str, Any]]) -> None:
    now = clock.now()
    session.execute(
        _insert_activity,
        [
            {"created_at": now, "updated_at": now, "fee": 0, "counterparty": "", "note": "", **r}
            for r in rows
        ],
    )


def _set_status(
    session: Session,
    operation_id: int,
    status: OperationStatus,
    *,
    failure_code: str | None = None,
    loaded: Operation | None = None,
    entry: tuple[str, ledger.Plan] | None = None,
    **extra: Any,
) -> None:
    """Move an operation and its history rows to ``status`` (with ``extra`` columns);
    ``loaded``, the operation as the session holds it, is updated to match without a
    reload. ``entry`` (kind, checked plan) is the journal entry it settles with, written
    with it: on PostgreSQL in the same statement."""
    now = clock.now()
    values: dict[str, Any] = {"status": status.value, "updated_at": now, **extra}
    if failure_code:
        values["failure_code"] = failure_code
    if status == OperationStatus.completed:
        values["completed_at"] = now
    postgres = session.get_bind().dialect.name == "postgresql"
    if entry is not None and postgres:  # the entry and both updates in one statement
        kind, checked = entry
        pg.settle(
            session, operation_id=operation_id, kind=kind, plan=checked, values=values, now=now
        )
    else:
        if entry is not None:
            ledger.write_entries(session, [(operation_id, *entry)])
        operations, activity = table_of(Operation), table_of(Activity)
        set_operation = update(operations).where(operations.c.id == operation_id).values(**values)
        set_activity = (
            update(activity)
            .where(activity.c.operation_id == operation_id)
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
        record_usage(
            session,
            user_id=row.user_id,
            op_type=row.type,
            amount=row.amount,
            currency=row.currency,
            day=row.created_at.astimezone(BEIJING).date(),
            undo=True,
        )


def _fee_discount(snapshot: UsageSnapshot, created_at: datetime) -> fees.Discount | None:
    return fees.best_discount(
        volume_cny_30d=snapshot.volume_30d(), account_created=created_at, today=snapshot.today
    )


def quote_fee(
    session: Session,
    *,
    user_id: int,
    operation: str,
    method: str,
    amount: int,
    currency: str,
    cross_border: bool = False,
    snapshot: UsageSnapshot | None = None,
    created_at: datetime | None = None,
) -> fees.FeeQuote:
    """The fee a user would pay now, with the best discount they qualify for."""
    if created_at is None:
        state = identity_directory.account_state(session, user_id)
        created_at = state.created_at if state else clock.now()
    snap = snapshot or usage_snapshot(session, user_id=user_id)
    return fees.quote(
        operation,
        method,
        "cross_border" if cross_border else "domestic",
        amount,
        currency,
        discount=_fee_discount(snap, created_at),
        used_this_month_cny=snap.month(operation),
    )


def resolve_recipient(
    session: Session, *, sender_id: int, recipient: str
) -> identity_directory.Recipient:
    """The user money would go to: someone else, who exists and can receive. The lookup
    counts against the sender's budget unless they have paid that person before (see
    wallet.recipients); callers check what does not depend on the recipient first."""
    return review_recipient(session, sender_id=sender_id, recipient=recipient)[0]


def review_recipient(
    session: Session, *, sender_id: int, recipient: str
) -> tuple[identity_directory.Recipient, str, bool]:
    """:func:`resolve_recipient`, how the review shows them (the full name if the sender
    has paid them before, else masked: "*伟", "J*** S.") and whether the sender has."""
    target = identity_directory.find_recipient_summary(session, recipient)
    known = target is not None and (
        target.id == sender_id
        or target.id in recipients.paid_before(session, sender_id=sender_id, user_ids=[target.id])
    )
    recipients.charge_lookups(sender_id, [recipient], free=[recipient] if known else [])
    target = check_recipient(target, sender_id=sender_id)
    return target, recipients.review_label(target, known=known), known


@dataclass(frozen=True)
class TransferPreview:
    fee: int
    discount: fees.Discount | None


def preview_transfer(
    session: Session,
    *,
    sender_id: int,
    amount: int,
    currency: str,
    cross_border: bool = False,
    fee: int | None = None,
) -> TransferPreview:
    """What a transfer would cost (``fee``: a quoted one), refused as it would be for the
    sender's standing, limits or balance (read without locks: the transfer checks again
    under them). Runs before the recipient is looked up, so that these answers never
    depend on who the recipient is."""
    me = check_can(session, sender_id, "transfer")
    snapshot = usage_snapshot(session, user_id=sender_id)
    check_limits(
        session,
        user_id=sender_id,
        op_type="transfer",
        amount=amount,
        currency=currency,
        level=me.verification_level,
        snapshot=snapshot,
    )
    if fee is not None:
        preview = TransferPreview(fee, None)
    else:
        q = quote_fee(
            session,
            user_id=sender_id,
            operation="transfer",
            method="wallet",
            amount=amount,
            currency=currency,
            cross_border=cross_border,
            snapshot=snapshot,
            created_at=me.created_at,
        )
        preview = TransferPreview(q.fee, q.discount)
    account = next(
        (a for a in ledger.balances(session, user_id=sender_id) if a.currency == currency), None
    )
    if account is None or account.balance - account.held < amount + preview.fee:
        raise ledger.InsufficientFunds()
    return preview


def check_recipient(
    target: identity_directory.Recipient | None, *, sender_id: int
) -> identity_directory.Recipient:
    """Refuse a recipient who was not found, is the sender, or cannot receive."""
    if target is None:
        raise RecipientNotFound(field="recipient")
    if target.id == sender_id:
        raise TransferToSelf(field="recipient")
    if target.status == AccountStatus.closed.value:
        raise RecipientCannotReceive(field="recipient")
    return target


@dataclass(frozen=True)
class TransferResult:
    operation_id: int
    reference: str
    amount: int
    fee: int
    currency: str


def do_transfer(
    session: Session, *, sender_id: int, recipient: str, amount: int, currency: str, note: str = ""
) -> TransferResult:
    """Send money to another OKPay user in the same currency; settles at once.

    The hot path of the wallet: a batch of one (see :func:`do_transfer_batch`), so a few
    statements: find the recipient, lock both balances (resolving their ids in the same
    query), read the sender's standing, limits and recent usage, then write the operation,
    its entry, postings, history rows and usage (one statement on PostgreSQL)."""
    (outcome,) = do_transfer_batch(
        session,
        sender_id=sender_id,
        items=[BatchItem(recipient=recipient, amount=amount, currency=currency, note=note)],
    )
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _check_transfer(
    session: Session,
    *,
    me: Standing,
    sender_id: int,
    source: ledger.LockedAccount,
    amount: int,
    snapshot: UsageSnapshot,
    limits: LimitSet | None = None,
) -> int:
    """Limits, fee and funds for a transfer out of a locked account; returns the fee."""
    check_limits(
        session,
        user_id=sender_id,
        op_type="transfer",
        amount=amount,
        currency=source.currency,
        level=me.verification_level,
        snapshot=snapshot,
        limits=limits,
    )
    fee = quote_fee(
        session,
        user_id=sender_id,
        operation="transfer",
        method="wallet",
        amount=amount,
        currency=source.currency,
        snapshot=snapshot,
        created_at=me.created_at,
    ).fee
    if source.available < amount + fee:
        raise ledger.InsufficientFunds()
    return fee


def _transfer_lines(
    session: Session,
    by_id: dict[int, ledger.LockedAccount],
    *,
    source: ledger.LockedAccount,
    dest: ledger.LockedAccount,
    amount: int,
    fee: int,
) -> list[ledger.Line]:
    """The postings of a transfer: sender to recipient, and the fee (if any) to a fee
    revenue shard, locked here unless ``by_id`` holds one already."""
    lines = [ledger.Line(source.id, -amount), ledger.Line(dest.id, amount)]
    if fee:
        shards = ledger.system_shard_ids(session, SystemAccount.fee_revenue, source.currency)
        fee_id = next((i for i in shards if i in by_id), None)
        if fee_id is None:
            fee_id = ledger.system_account_id(session, SystemAccount.fee_revenue, source.currency)
            by_id.update(ledger.lock_accounts(session, [fee_id]))
        lines += [ledger.Line(source.id, -fee), ledger.Line(fee_id, fee)]
    return lines


# ------------------------------------------------------------------------ batch transfers

MAX_BATCH = 1000


@dataclass(frozen=True)
class BatchItem:
    """One transfer of a batch, as sent: the amount is a decimal string in major units (or
    an integer of minor units), checked with the item."""

    recipient: str
    amount: str | int
    currency: str
    note: str = ""
    client_ref: str | None = None


def do_transfer_batch(
    session: Session, *, sender_id: int, items: Sequence[BatchItem]
) -> list[TransferResult | DomainError]:
    """Send up to :data:`MAX_BATCH` transfers at once, each settling or refused on its own:
    the answer has, per item and in order, its result or the error that refused it.

    The same rules as :func:`do_transfer`, applied item after item as if they were sent one
    by one (the balance, the limits' usage and the fee discount follow on), with the
    database work done once: recipients found in two queries, every balance locked in one
    statement in id order, the sender's standing, limits and usage read once, and the
    operations, entries, postings, history rows and usage written in a few multi-row
    statements."""
    if len(items) > MAX_BATCH:
        raise ValidationFailed(
            N_("Send at most %(max)s transfers at once."),
            code="batch_too_large",
            field="transfers",
            max=MAX_BATCH,
        )
    outcome: list[TransferResult | DomainError | None] = [None] * len(items)
    parsed: list[tuple[int, BatchItem, str, int, str]] = []
    for index, item in enumerate(items):
        try:
            currency = check_currency(item.currency)
            amount = parse_amount(item.amount, currency)
            note = identity_validation.check_name(item.note, field="note", max_length=140)
        except DomainError as err:
            outcome[index] = err
            continue
        parsed.append((index, item, currency, amount, note))
    references = [item.recipient for _i, item, *_rest in parsed]
    locked: dict[tuple[int, str], ledger.LockedAccount] | None = None
    sender: tuple[Standing, UsageSnapshot, LimitSet] | None = None
    if session.get_bind().dialect.name == "postgresql" and parsed:
        # One statement finds the recipients (and whether the sender paid each before),
        # locks every balance involved and reads the sender's standing, usage and limits
        # (again in a second one if it may be stale).
        today = _today()
        targets, paid, locked, state = pg.find_and_lock(
            session,
            sender_id=sender_id,
            references=references,
            currencies={currency for _i, _item, currency, *_rest in parsed},
            op_type="transfer",
            since=_usage_since(today),
            now=clock.now(),
        )
        sender = _from_state(state, "transfer", today)
    else:
        targets = identity_directory.find_recipient_summaries(session, references)
        paid = recipients.paid_before(
            session, sender_id=sender_id, user_ids=[t.id for t in targets.values()]
        )
    # Before any item is answered: the lookups of people not paid before use the sender's
    # budget, the same whether they exist or not (a refusal here moves nothing).
    recipients.charge_lookups(
        sender_id,
        references,
        free=[ref for ref, t in targets.items() if t.id == sender_id or t.id in paid],
    )
    wanted = [
        _Wanted(
            index,
            targets.get(item.recipient),
            amount,
            currency,
            note,
            item.client_ref,
        )
        for index, item, currency, amount, note in parsed
    ]
    planned, sender_label = _plan_batch(
        session, sender_id=sender_id, wanted=wanted, locked=locked, sender=sender
    )
    for w, refusal in planned.refused:
        outcome[w.index] = refusal
    if planned.ok:
        created = _write_batch(
            session, sender_id=sender_id, sender_label=sender_label, planned=planned.ok
        )
        for p, (op_id, reference) in zip(planned.ok, created, strict=True):
            outcome[p.item.index] = TransferResult(
                op_id, reference, p.item.amount, p.fee, p.item.currency
            )
    return [o if o is not None else DomainError() for o in outcome]


@dataclass(frozen=True)
class _Wanted:
    """A batch item that passed validation, with its recipient if one was found (checked
    only after the sender's standing, limits and balance, see :func:`_plan_batch`)."""

    index: int
    target: identity_directory.Recipient | None
    amount: int
    currency: str
    note: str
    client_ref: str | None


@dataclass(frozen=True)
class _Checked:
    """A batch item that passed every check, with its planned entry."""

    item: _Wanted
    target: identity_directory.Recipient
    source: ledger.LockedAccount
    dest: ledger.LockedAccount
    fee: int
    plan: ledger.Plan


@dataclass
class _BatchPlan:
    ok: list[_Checked] = field(default_factory=list)
    refused: list[tuple[_Wanted, DomainError]] = field(default_factory=list)


def _plan_batch(
    session: Session,
    *,
    sender_id: int,
    wanted: list[_Wanted],
    locked: dict[tuple[int, str], ledger.LockedAccount] | None = None,
    sender: tuple[Standing, UsageSnapshot, LimitSet] | None = None,
) -> tuple[_BatchPlan, str]:
    """Lock and read the sender's state (unless ``locked`` and ``sender`` hold them
    already), check and plan the validated items in order; a refused item changes nothing
    for the ones after it. Returns the plan and the sender's label for history rows."""
    result = _BatchPlan()
    if not wanted:
        return result, ""
    if locked is None:
        locked = ledger.lock_customer_accounts_in(
            session,
            user_ids={sender_id, *(w.target.id for w in wanted if w.target is not None)},
            currencies={w.currency for w in wanted},
        )
    by_id = {a.id: a for a in locked.values()}
    me, snapshot, limits = sender or owner_state(session, user_id=sender_id, op_type="transfer")
    try:
        check_standing(me, "transfer")
    except DomainError as err:  # frozen, locked, closed or restricted: every item is refused
        result.refused = [(w, err) for w in wanted]
        return result, ""
    for w in wanted:
        try:
            source = locked.get((sender_id, w.currency))
            if source is None:
                raise ledger.InsufficientFunds()
            fee = _check_transfer(
                session,
                me=me,
                sender_id=sender_id,
                source=source,
                amount=w.amount,
                snapshot=snapshot,
                limits=limits,
            )
            # Only now the recipient: an item refused for the sender's limits or balance
            # answers the same whether or not the address belongs to anyone.
            target = check_recipient(w.target, sender_id=sender_id)
            dest = locked.get((target.id, w.currency))
            if dest is None:  # first money in this currency: open the account and lock it
                dest_id = ledger.customer_account_id(
                    session, user_id=target.id, currency=w.currency
                )
                assert dest_id is not None
                by_id.update(ledger.lock_accounts(session, [dest_id]))
                dest = locked[(target.id, w.currency)] = by_id[dest_id]
            lines = _transfer_lines(
                session, by_id, source=source, dest=dest, amount=w.amount, fee=fee
            )
            checked = ledger.plan(by_id, lines)
        except DomainError as err:
            result.refused.append((w, err))
            continue
        ledger.applied(by_id, checked)
        snapshot.add("transfer", fx.to_cny(w.amount, w.currency))
        result.ok.append(_Checked(w, target, source, dest, fee, checked))
    return result, me.label


def _write_batch(
    session: Session, *, sender_id: int, sender_label: str, planned: list[_Checked]
) -> list[tuple[int, str]]:
    """Write the checked items: operations, entries with postings and balances, history
    rows and the day's usage, each kind in one multi-row statement (all of them in one on
    PostgreSQL); (id, reference) of each, in order."""
    now = clock.now()
    pairs = list(zip(planned, references.new_references(session, len(planned)), strict=True))
    usage_cny = sum(fx.to_cny(p.item.amount, p.item.currency) for p in planned)
    if session.get_bind().dialect.name == "postgresql":
        ids = pg.write_operations(
            session,
            user_id=sender_id,
            type="transfer",
            status="completed",
            method="wallet",
            kind="transfer",
            operations=[
                pg.NewOperation(
                    reference=reference,
                    account_id=p.source.id,
                    currency=p.item.currency,
                    amount=p.item.amount,
                    plan=p.plan,
                    activity=[
                        pg.ActivityRow(**row)
                        for row in _transfer_activity(sender_id, p.target, sender_label, p)
                    ],
                    fee=p.fee,
                    note=p.item.note,
                    cp_user_id=p.target.id,
                    cp_account_id=p.dest.id,
                    data=_batch_data(p),
                )
                for p, reference in pairs
            ],
            usage=pg.UsageRow(sender_id, now.astimezone(BEIJING).date(), usage_cny, len(planned)),
            now=now,
        )
        return list(zip(ids, [reference for _p, reference in pairs], strict=True))

    created = _new_operations(
        session,
        [
            _operation_row(
                reference=reference,
                type=OperationType.transfer.value,
                status=OperationStatus.completed.value,
                user_id=sender_id,
                account_id=p.source.id,
                counterparty_user_id=p.target.id,
                counterparty_account_id=p.dest.id,
                currency=p.item.currency,
                amount=p.item.amount,
                fee=p.fee,
                method="wallet",
                note=p.item.note,
                completed_at=now,
                data=_batch_data(p),
            )
            for p, reference in pairs
        ],
    )
    steps = list(zip(planned, created, strict=True))
    ledger.write_entries(session, [(op_id, "transfer", p.plan) for p, (op_id, _) in steps])
    _activity(
        session,
        [
            {
                **row,
                "operation_id": op_id,
                "reference": reference,
                "type": "transfer",
                "status": "completed",
                "currency": p.item.currency,
                "note": p.item.note,
            }
            for p, (op_id, reference) in steps
            for row in _transfer_activity(sender_id, p.target, sender_label, p)
        ],
    )
    add_usage(
        session,
        user_id=sender_id,
        op_type="transfer",
        day=now.astimezone(BEIJING).date(),
        amount_cny=usage_cny,
        count=len(planned),
    )
    return created


def _batch_data(p: _Checked) -> dict[str, Any]:
    return {"client_ref": p.item.client_ref} if p.item.client_ref else {}


def _transfer_activity(
    sender_id: int, target: identity_directory.Recipient, sender_label: str, p: _Checked
) -> list[dict[str, Any]]:
    """The two history lines of a transfer, the sender's and the recipient's: who, which
    way, how much (the sender's with the fee) and the other party's label."""
    amount, fee = p.item.amount, p.fee
    return [
        {
            "user_id": sender_id,
            "direction": "out",
            "amount": -(amount + fee),
            "fee": fee,
            "counterparty": target.label,
        },
        {
            "user_id": target.id,
            "direction": "in",
            "amount": amount,
            "fee": 0,
            "counterparty": sender_label,
        },
    ]


# ---------------------------------------------------------------------------- top-up


def do_begin_card_topup(
    session: Session, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> tuple[int, str, str]:
    """Record a pending card top-up before asking the provider: returns (id, reference, token)."""
    currency = check_currency(currency)
    method = get_payment_method(session, user_id=user_id, method_id=payment_method_id, kind="card")
    today = clock.now().astimezone(BEIJING).date()
    if (
        method.exp_year is not None
        and method.exp_month is not None
        and ((method.exp_year, method.exp_month) < (today.year, today.month))
    ):
        raise CardExpired(field="payment_method_id")
    op_id, reference = _begin_topup(
        session,
        user_id=user_id,
        amount=amount,
        currency=currency,
        method="card",
        payment_method_id=method.id,
        counterparty=f"{method.brand} •••• {method.last4}",
    )
    return op_id, reference, method.provider_token


def do_complete_topup(
    session: Session,
    *,
    operation_id: int,
    external_ref: str,
    clearing: SystemAccount = SystemAccount.card_clearing,
    amount: int | None = None,
) -> None:
    """Credit a pending top-up (card charged, or bank transfer received). One already
    settled is left as it is: webhooks and retries may repeat."""
    op: Operation | pg.PendingOperation
    if session.get_bind().dialect.name == "postgresql":  # operation and accounts together
        shards = {c: ledger.system_account_id(session, clearing, c) for c in SUPPORTED_CURRENCIES}
        found = pg.lock_pending(session, operation_id=operation_id, system_ids=shards)
        if found is None:
            raise NotFound()
        op, locked = found
        if op.status != OperationStatus.pending.value:
            return
        clearing_id = shards[op.currency]
        loaded = session.identity_map.get(session.identity_key(Operation, operation_id))
    else:
        op = loaded = _lock_operation(session, operation_id)
        if op.status != OperationStatus.pending.value:
            return
        assert op.account_id is not None
        clearing_id = ledger.system_account_id(session, clearing, op.currency)
        locked = ledger.lock_accounts(session, [op.account_id, clearing_id])
    assert op.account_id is not None
    credited = amount if amount is not None else op.amount
    checked = ledger.plan(
        locked, [ledger.Line(clearing_id, -credited), ledger.Line(op.account_id, credited)]
    )
    if credited != op.amount:
        session.execute(
            update(table_of(Activity))
            .where(table_of(Activity).c.operation_id == op.id)
            .values(amount=credited)
        )
    _set_status(
        session,
        op.id,
        OperationStatus.completed,
        loaded=cast(Operation | None, loaded),
        entry=("topup", checked),
        external_ref=external_ref,
        amount=credited,
    )


def do_fail_operation(
    session: Session, *, operation_id: int, failure_code: str, external_ref: str | None = None
) -> Operation:
    """Mark a pending operation failed, releasing any hold."""
    op = _lock_operation(session, operation_id)
    if op.status != OperationStatus.pending.value:
        return op
    _release_hold(session, op)
    extra: dict[str, Any] = {"external_ref": external_ref} if external_ref else {}
    _set_status(
        session, op.id, OperationStatus.failed, failure_code=failure_code, loaded=op, **extra
    )
    return op


def _begin_topup(
    session: Session,
    *,
    user_id: int,
    amount: int,
    currency: str,
    method: str,
    payment_method_id: int | None = None,
    counterparty: str = "",
) -> tuple[int, str]:
    """Check and record a pending top-up (any method): operation, history row, usage."""
    me, snapshot, limits = owner_state(session, user_id=user_id, op_type="topup")
    check_standing(me, "topup", outgoing=False)
    check_limits(
        session,
        user_id=user_id,
        op_type="topup",
        amount=amount,
        currency=currency,
        level=me.verification_level,
        snapshot=snapshot,
        limits=limits,
    )
    account_id = ledger.customer_account_id(session, user_id=user_id, currency=currency)
    assert account_id is not None
    if session.get_bind().dialect.name == "postgresql":  # the three writes in one statement
        now = clock.now()
        reference = references.new_reference(session)
        (created,) = pg.write_operations(
            session,
            user_id=user_id,
            type="topup",
            status="pending",
            method=method,
            kind="topup",
            operations=[
                pg.NewOperation(
                    reference=reference,
                    account_id=account_id,
                    currency=currency,
                    amount=amount,
                    plan=None,
                    activity=[pg.ActivityRow(user_id, "in", amount, 0, counterparty)],
                    payment_method_id=payment_method_id,
                )
            ],
            usage=pg.UsageRow(user_id, now.astimezone(BEIJING).date(), fx.to_cny(amount, currency)),
            now=now,
        )
        return created, reference
    op_id, reference = _new_operation(
        session,
        type=OperationType.topup.value,
        status=OperationStatus.pending.value,
        user_id=user_id,
        account_id=account_id,
        currency=currency,
        amount=amount,
        method=method,
        payment_method_id=payment_method_id,
    )
    _activity(
        session,
        [
            {
                "user_id": user_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "topup",
                "direction": "in",
                "status": "pending",
                "currency": currency,
                "amount": amount,
                "counterparty": counterparty,
            }
        ],
    )
    record_usage(session, user_id=user_id, op_type="topup", amount=amount, currency=currency)
    return op_id, reference


def do_begin_bank_topup(session: Session, *, user_id: int, amount: int, currency: str) -> Operation:
    """A pending top-up by bank transfer: the user sends money quoting the reference; the
    provider's webhook completes it."""
    currency = check_currency(currency)
    op_id, _reference = _begin_topup(
        session, user_id=user_id, amount=amount, currency=currency, method="bank"
    )
    op = session.get(Operation, op_id)
    assert op is not None
    return op


# -------------------------------------------------------------------------- withdrawal


def do_begin_withdrawal(
    session: Session, *, user_id: int, payment_method_id: int, amount: int, currency: str
) -> tuple[int, str, str]:
    """Hold amount + fee and record a pending withdrawal; returns (id, reference, bank token)."""
    currency = check_currency(currency)
    method = get_payment_method(session, user_id=user_id, method_id=payment_method_id, kind="bank")
    account_id = ledger.customer_account_id(
        session, user_id=user_id, currency=currency, create=False
    )
    if account_id is None:
        raise ledger.InsufficientFunds()
    locked = ledger.lock_accounts(session, [account_id])
    me = check_can(session, user_id, "withdraw")
    snapshot = usage_snapshot(session, user_id=user_id)
    check_limits(
        session,
        user_id=user_id,
        op_type="withdrawal",
        amount=amount,
        currency=currency,
        level=me.verification_level,
        snapshot=snapshot,
    )
    fee = quote_fee(
        session,
        user_id=user_id,
        operation="withdrawal",
        method="bank",
        amount=amount,
        currency=currency,
        snapshot=snapshot,
        created_at=me.created_at,
    ).fee
    account = locked[account_id]
    if account.available < amount + fee:
        raise ledger.InsufficientFunds()
    op_id, reference = _new_operation(
        session,
        type=OperationType.withdrawal.value,
        status=OperationStatus.pending.value,
        user_id=user_id,
        account_id=account_id,
        currency=currency,
        amount=amount,
        fee=fee,
        method="bank",
        payment_method_id=method.id,
    )
    ledger.set_held(session, account, account.held + amount + fee)
    session.add(
        Hold(
            account_id=account_id,
            operation_id=op_id,
            amount=amount + fee,
            status="active",
            created_at=clock.now(),
        )
    )
    _activity(
        session,
        [
            {
                "user_id": user_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "withdrawal",
                "direction": "out",
                "status": "pending",
                "currency": currency,
                "amount": -(amount + fee),
                "fee": fee,
                "counterparty": f"{method.bank_name} •••• {method.last4}",
            }
        ],
    )
    session.flush()
    record_usage(session, user_id=user_id, op_type="withdrawal", amount=amount, currency=currency)
    return op_id, reference, method.provider_token


def do_settle_withdrawal(
    session: Session, *, operation_id: int, external_ref: str | None = None
) -> Operation:
    """The provider paid out: capture the hold into postings (customer → payouts, fees)."""
    op = _lock_operation(session, operation_id)
    if op.status != OperationStatus.pending.value:
        return op
    assert op.account_id is not None
    payouts_id = ledger.system_account_id(session, SystemAccount.payouts, op.currency)
    fee_id = (
        ledger.system_account_id(session, SystemAccount.fee_revenue, op.currency)
        if op.fee
        else None
    )
    locked = ledger.lock_accounts(
        session, [op.account_id, payouts_id, *([fee_id] if fee_id else [])]
    )
    hold = _active_hold(session, op.id)
    account = locked[op.account_id]
    ledger.set_held(session, account, account.held - hold.amount)
    ledger.post(
        session,
        locked,
        operation_id=op.id,
        kind="withdrawal",
        lines=[ledger.Line(op.account_id, -op.amount), ledger.Line(payouts_id, op.amount)],
    )
    if op.fee and fee_id:
        ledger.post(
            session,
            locked,
            operation_id=op.id,
            kind="fee",
            lines=[ledger.Line(op.account_id, -op.fee), ledger.Line(fee_id, op.fee)],
        )
    hold.status, hold.closed_at = "captured", clock.now()
    extra: dict[str, Any] = {"external_ref": external_ref} if external_ref else {}
    _set_status(session, op.id, OperationStatus.completed, loaded=op, **extra)
    return op


def payout_in_flight(op: Operation) -> bool:
    """The provider told us the payout is with the bank: it can no longer be cancelled."""
    return (op.data or {}).get("payout") == "in_flight"


def check_cancel_withdrawal(session: Session, *, user_id: int, reference: str) -> tuple[int, str]:
    """(id, payout reference) of a withdrawal its customer may ask the provider to cancel;
    the refusal otherwise. Nothing changes here: the hold is released only once the
    provider confirms (see :func:`do_cancel_withdrawal`, wallet.flows.cancel_withdrawal)."""
    op = get_operation_for_user(session, user_id=user_id, reference=reference)
    if op.type != OperationType.withdrawal.value or op.user_id != user_id:
        raise OperationNotCancellable()
    if op.status != OperationStatus.pending.value:
        raise OperationNotCancellable()
    if payout_in_flight(op):
        raise PayoutInFlight()
    if not op.external_ref:  # the provider call that creates the payout has not returned
        raise PayoutNotReady()
    return op.id, op.external_ref


def do_mark_payout_in_flight(session: Session, *, operation_id: int) -> Operation:
    """The provider says the payout is with the bank (payout.processing, or a refused
    cancel): a pending withdrawal keeps its hold and can no longer be cancelled."""
    op = _lock_operation(session, operation_id)
    if op.status == OperationStatus.pending.value and not payout_in_flight(op):
        op.data = {**(op.data or {}), "payout": "in_flight"}
        op.updated_at = clock.now()
        session.flush()
    return op


def do_cancel_withdrawal(session: Session, *, user_id: int, reference: str) -> Operation:
    """Release the hold of a pending withdrawal whose payout the provider has confirmed
    cancelled. Call it only after the provider said so (wallet.flows.cancel_withdrawal):
    the operation is returned as it is, whatever its status, and the caller checks it
    (already cancelled: another request won; completed: the provider paid it)."""
    op = get_operation_for_user(session, user_id=user_id, reference=reference)
    if op.type != OperationType.withdrawal.value or op.user_id != user_id:
        raise OperationNotCancellable()
    op = _lock_operation(session, op.id)
    if op.status == OperationStatus.pending.value:
        do_cancel_locked_withdrawal(session, op=op, actor_user_id=user_id)
    return op


def do_cancel_locked_withdrawal(
    session: Session, *, op: Operation, actor_user_id: int | None, by: str = "customer"
) -> None:
    """Release the hold and mark the (locked, pending) withdrawal cancelled, audited."""
    _release_hold(session, op)
    _set_status(session, op.id, OperationStatus.cancelled, loaded=op)
    audit.record(
        session,
        "withdrawal_cancelled",
        actor_user_id=actor_user_id,
        subject_user_id=op.user_id,
        object_type="operation",
        object_id=op.reference,
        by=by,
    )


def _release_hold(session: Session, op: Operation) -> None:
    hold = session.scalar(select(Hold).where(Hold.operation_id == op.id, Hold.status == "active"))
    if hold is None:
        return
    locked = ledger.lock_accounts(session, [hold.account_id])
    account = locked[hold.account_id]
    ledger.set_held(session, account, account.held - hold.amount)
    hold.status, hold.closed_at = "released", clock.now()


def _active_hold(session: Session, operation_id: int) -> Hold:
    hold = session.scalar(
        select(Hold).where(Hold.operation_id == operation_id, Hold.status == "active")
    )
    if hold is None:
        raise LookupError(f"operation {operation_id} has no active hold")
    return hold


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


# ------------------------------------------------------------------------- payment methods


def do_add_card(
    session: Session, *, user_id: int, token: CardToken, holder_name: str = ""
) -> PaymentMethod:
    """Keep a tokenised card: token, brand, expiry and last four only."""
    return _keep_method(
        session,
        user_id=user_id,
        kind="card",
        provider_token=token.token,
        brand=token.brand,
        last4=token.last4,
        exp_month=token.exp_month,
        exp_year=token.exp_year,
        holder_name=holder_name,
    )


def do_add_bank_account(
    session: Session,
    *,
    user_id: int,
    provider_token: str,
    account_number: str,
    bank_name: str,
    holder_name: str,
) -> PaymentMethod:
    """Keep a bank account for withdrawals: a provider token and the last four digits."""
    digits = "".join(ch for ch in account_number if ch.isdigit())
    if not 8 <= len(digits) <= 30 or digits != account_number.replace(" ", ""):
        raise ValidationFailed(
            N_("Please enter the account number as digits only."),
            code="bank_account_invalid",
            field="account_number",
        )
    return _keep_method(
        session,
        user_id=user_id,
        kind="bank",
        provider_token=provider_token,
        last4=digits[-4:],
        holder_name=holder_name,
        bank_name=identity_validation.check_person_name(bank_name, field="bank_name"),
    )


def _keep_method(
    session: Session, *, user_id: int, kind: str, holder_name: str, last4: str, **fields: Any
) -> PaymentMethod:
    method = PaymentMethod(
        user_id=user_id,
        kind=kind,
        last4=last4,
        status="active",
        created_at=clock.now(),
        holder_name=identity_validation.check_person_name(holder_name, field="holder_name"),
        **fields,
    )
    session.add(method)
    session.flush()
    audit.record(
        session,
        "payment_method_added",
        actor_user_id=user_id,
        subject_user_id=user_id,
        object_type="payment_method",
        object_id=method.id,
        kind=kind,
        last4=last4,
    )
    return method


def list_payment_methods(session: Session, *, user_id: int) -> list[PaymentMethod]:
    return list(
        session.scalars(
            select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id, PaymentMethod.status == "active")
            .order_by(PaymentMethod.id)
        )
    )


def get_payment_method(
    session: Session, *, user_id: int, method_id: int, kind: str | None = None
) -> PaymentMethod:
    """The user's own active method; anyone else's id is PaymentMethodNotFound (404)."""
    method = session.get(PaymentMethod, method_id)
    if (
        method is None
        or method.user_id != user_id
        or method.status != "active"
        or (kind is not None and method.kind != kind)
    ):
        raise PaymentMethodNotFound(field="payment_method_id")
    return method


def do_remove_payment_method(session: Session, *, user_id: int, method_id: int) -> None:
    method = get_payment_method(session, user_id=user_id, method_id=method_id)
    method.status, method.removed_at = "removed", clock.now()
    audit.record(
        session,
        "payment_method_removed",
        actor_user_id=user_id,
        subject_user_id=user_id,
        object_type="payment_method",
        object_id=method.id,
    )


# ----------------------------------------------------------------------------- history


@dataclass(frozen=True)
class HistoryFilter:
    start: date | None = None
    end: date | None = None
    type: str | None = None
    status: str | None = None
    currency: str | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    text: str | None = None


def history(
    session: Session,
    *,
    user_id: int,
    filters: HistoryFilter,
    limit: int = 50,
    before: tuple[datetime, int] | None = None,
) -> list[Activity]:
    """A page of the user's history, newest first; ``before`` is the last row's
    (created_at, id) from the previous page (keyset pagination)."""
    stmt = select(Activity).where(Activity.user_id == user_id)
    if filters.start:
        stmt = stmt.where(Activity.created_at >= datetime.combine(filters.start, time(0), BEIJING))
    if filters.end:
        stmt = stmt.where(
            Activity.created_at
            < datetime.combine(filters.end + timedelta(days=1), time(0), BEIJING)
        )
    if filters.type:
        stmt = stmt.where(Activity.type == filters.type)
    if filters.status:
        stmt = stmt.where(Activity.status == filters.status)
    if filters.currency:
        stmt = stmt.where(Activity.currency == filters.currency)
    if filters.min_amount is not None:
        stmt = stmt.where(func.abs(Activity.amount) >= filters.min_amount)
    if filters.max_amount is not None:
        stmt = stmt.where(func.abs(Activity.amount) <= filters.max_amount)
    if filters.text:
        like = (
            "%" + filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        stmt = stmt.where(
            or_(
                Activity.reference.ilike(like, escape="\\"),
                Activity.counterparty.ilike(like, escape="\\"),
                Activity.note.ilike(like, escape="\\"),
            )
        )
    if before is not None:
        at, last_id = before
        stmt = stmt.where(
            or_(Activity.created_at < at, and_(Activity.created_at == at, Activity.id < last_id))
        )
    stmt = stmt.order_by(Activity.created_at.desc(), Activity.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def get_operation_for_user(session: Session, *, user_id: int, reference: str) -> Operation:
    """An operation the user is a party to; anyone else's reference is NotFound."""
    op = session.scalar(select(Operation).where(Operation.reference == reference))
    if op is None or user_id not in (op.user_id, op.counterparty_user_id):
        raise NotFound()
    return op


def activity_for(session: Session, *, user_id: int, operation_id: int) -> Activity | None:
    return session.scalar(
        select(Activity).where(Activity.user_id == user_id, Activity.operation_id == operation_id)
    )


# ------------------------------------------------------------------------ provider plumbing


def set_external_ref(session: Session, *, operation_id: int, external_ref: str) -> None:
    session.execute(
        update(table_of(Operation))
        .where(table_of(Operation).c.id == operation_id)
        .values(external_ref=external_ref, updated_at=clock.now())
    )


def record_provider_event(session: Session, *, provider: str, event_id: str, kind: str) -> bool:
    """Remember an event; False if it was seen before (then it must not be applied again)."""
    from okpay.wallet.models import ProviderEvent

    if session.scalar(
        select(ProviderEvent.id).where(
            ProviderEvent.provider == provider, ProviderEvent.event_id == event_id
        )
    ):
        return False
    session.add(
        ProviderEvent(
            provider=provider, event_id=event_id[:80], kind=kind[:40], received_at=clock.now()
        )
    )
    session.flush()
    return True


def find_by_external_ref(session: Session, external_ref: str) -> Operation | None:
    if not external_ref:
        return None
    return session.scalar(select(Operation).where(Operation.external_ref == external_ref))


def find_by_reference(session: Session, reference: str) -> Operation | None:
    if not reference:
        return None
    return session.scalar(select(Operation).where(Operation.reference == reference.strip().upper()))


def pending_provider_operations(session: Session, *, limit: int = 50) -> list[Operation]:
    """Withdrawals and bank top-ups waiting for the provider (the dev sandbox page)."""
    return list(
        session.scalars(
            select(Operation)
            .where(Operation.status == OperationStatus.pending.value, Operation.method == "bank")
            .order_by(Operation.id.desc())
            .limit(limit)
        )
    )


# ------------------------------------------------------------------------ export, statement

CSV_COLUMNS = (
    "date",
    "reference",
    "type",
    "status",
    "direction",
    "amount",
    "currency",
    "fee",
    "counterparty",
    "note",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(
    session: Session, *, user_id: int, filters: HistoryFilter, limit: int = 100_000
) -> str:
    """The filtered history as CSV (UTF-8 with BOM, so spreadsheet apps read Chinese right)."""
    import csv
    import io

    from okpay.core.money import to_decimal_string

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    before: tuple[datetime, int] | None = None
    written = 0
    while written < limit:
        page = history(session, user_id=user_id, filters=filters, limit=1000, before=before)
        if not page:
            break
        for a in page:
            writer.writerow(
                [
                    a.created_at.astimezone(BEIJING).isoformat(timespec="seconds"),
                    a.reference,
                    a.type,
                    a.status,
                    a.direction,
                    to_decimal_string(a.amount, a.currency),
                    a.currency,
                    to_decimal_string(a.fee, a.currency),
                    csv_safe(a.counterparty),
                    csv_safe(a.note),
                ]
            )
        written += len(page)
        before = (page[-1].created_at, page[-1].id)
    return out.getvalue()


@dataclass(frozen=True)
class StatementLine:
    currency: str
    opening: int
    money_in: int
    money_out: int
    closing: int


def statement(session: Session, *, user_id: int, start: date, end: date) -> list[StatementLine]:
    """Per currency: the balance at the start of ``start`` and the end of ``end`` (Beijing
    time), from the ledger's postings, with what came in and went out between."""
    from okpay.wallet.models import JournalEntry, Posting, WalletAccount

    since = datetime.combine(start, time(0), BEIJING)
    until = datetime.combine(end + timedelta(days=1), time(0), BEIJING)
    rows = session.execute(
        select(
            WalletAccount.currency,
            func.coalesce(func.sum(Posting.amount).filter(JournalEntry.created_at < since), 0),
            func.coalesce(
                func.sum(Posting.amount).filter(
                    JournalEntry.created_at >= since,
                    JournalEntry.created_at < until,
                    Posting.amount > 0,
                ),
                0,
            ),
            func.coalesce(
                func.sum(Posting.amount).filter(
                    JournalEntry.created_at >= since,
                    JournalEntry.created_at < until,
                    Posting.amount < 0,
                ),
                0,
            ),
        )
        .select_from(WalletAccount)
        .join(Posting, Posting.account_id == WalletAccount.id)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(WalletAccount.user_id == user_id, JournalEntry.created_at < until)
        .group_by(WalletAccount.currency)
    ).all()
    lines = [
        StatementLine(c, int(o), int(i), -int(out), int(o) + int(i) + int(out))
        for c, o, i, out in rows
    ]
    return sorted(lines, key=lambda line: (line.currency != "CNY", line.currency))


@dataclass(frozen=True)
class BalancePoint:
    day: date
    balance: int


def balance_history(
    session: Session, *, user_id: int, currency: str, start: date, end: date
) -> list[BalancePoint]:
    """The user's balance in ``currency`` at the end of each day from ``start`` to ``end``
    (Beijing time), read from the ledger: the last posting's balance_after of each day,
    carried over days without one. Empty when the user never had money in that currency."""
    from okpay.wallet.models import JournalEntry, Posting

    account_id = ledger.customer_account_id(
        session, user_id=user_id, currency=currency, create=False
    )
    if account_id is None:
        return []
    since = datetime.combine(start, time(0), BEIJING)
    until = datetime.combine(end + timedelta(days=1), time(0), BEIJING)
    stmt = (
        select(JournalEntry.created_at, Posting.balance_after)
        .join(JournalEntry, JournalEntry.id == Posting.entry_id)
        .where(Posting.account_id == account_id)
    )
    opening = session.execute(
        stmt.where(JournalEntry.created_at < since).order_by(Posting.id.desc()).limit(1)
    ).first()
    closing_by_day: dict[date, int] = {}
    rows = session.execute(
        stmt.where(JournalEntry.created_at >= since, JournalEntry.created_at < until).order_by(
            Posting.id
        )
    )
    for created_at, balance_after in rows:  # in ledger order: the day's last one stays
        closing_by_day[created_at.astimezone(BEIJING).date()] = int(balance_after)
    if opening is None and not closing_by_day:
        return []
    balance = int(opening[1]) if opening is not None else 0
    points = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        balance = closing_by_day.get(day, balance)
        points.append(BalancePoint(day, balance))
    return points


# ------------------------------------------------------------------- merchants and refunds


class MerchantNotFound(NotFound):
    code = "merchant_not_found"
    message = N_("We could not find that merchant.")


class OrderAlreadyPaid(DomainError):
    code = "order_already_paid"
    status = 409
    message = N_("This order has already been paid.")


class RefundTooLarge(DomainError):
    code = "refund_too_large"
    status = 422
    message = N_("A refund cannot be more than what is left of the payment: %(left)s.")


class NotRefundable(DomainError):
    code = "not_refundable"
    status = 409
    message = N_("Only completed payments can be refunded.")


def do_create_merchant(
    session: Session,
    *,
    code: str,
    name: str,
    owner_user_id: int | None,
    actor_user_id: int | None = None,
) -> Merchant:
    """A merchant customers can pay (operators create them)."""
    code = (code or "").strip().lower()
    if not code or not all(ch.isalnum() or ch == "-" for ch in code) or len(code) > 40:
        raise ValidationFailed(
            N_("Use letters, digits and hyphens for the merchant code."),
            code="merchant_code_invalid",
            field="code",
        )
    if session.scalar(select(Merchant.id).where(Merchant.code == code)):
        raise ValidationFailed(
            N_("That merchant code is taken."), code="merchant_code_taken", field="code"
        )
    merchant = Merchant(
        code=code,
        name=identity_validation.check_person_name(name, max_length=120),
        owner_user_id=owner_user_id,
        created_at=clock.now(),
    )
    session.add(merchant)
    session.flush()
    audit.record(
        session,
        "merchant_created",
        actor_user_id=actor_user_id,
        object_type="merchant",
        object_id=merchant.id,
        code=code,
    )
    return merchant


def find_merchant(session: Session, code: str) -> Merchant | None:
    return session.scalar(select(Merchant).where(Merchant.code == (code or "").strip().lower()))


def get_merchant(session: Session, code: str) -> Merchant:
    merchant = session.scalar(select(Merchant).where(Merchant.code == (code or "").strip().lower()))
    if merchant is None:
        raise MerchantNotFound(field="merchant")
    return merchant


def check_order_id(order_id: str) -> str:
    """A merchant's order number: printable text, at most 64 characters, not empty."""
    order_id = identity_validation.check_name(order_id, field="order_id", max_length=64)
    if not order_id:
        raise ValidationFailed(
            N_("An order number is needed."), code="order_id_required", field="order_id"
        )
    return order_id


def order_is_paid(session: Session, *, merchant_id: int, order_id: str) -> bool:
    return bool(
        session.scalar(
            select(Operation.id).where(
                Operation.merchant_id == merchant_id, Operation.order_id == order_id
            )
        )
    )


def pay_merchant_order(
    session: Session,
    *,
    payer_id: int,
    merchant: Merchant,
    order_id: str,
    amount: int,
    currency: str,
) -> TransferResult:
    """Move ``amount`` from the payer to the merchant for an order: once per order, settles
    at once. The amount must come from the merchant (a payment intent, see
    wallet.intents), never from the payer."""
    currency = check_currency(currency)
    order_id = check_order_id(order_id)
    if order_is_paid(session, merchant_id=merchant.id, order_id=order_id):
        raise OrderAlreadyPaid(field="order_id")
    source_id = ledger.customer_account_id(
        session, user_id=payer_id, currency=currency, create=False
    )
    if source_id is None:
        raise ledger.InsufficientFunds()
    target_id = ledger.merchant_account_id(session, merchant_id=merchant.id, currency=currency)
    locked = ledger.lock_accounts(session, [source_id, target_id])
    me = check_can(session, payer_id, "pay")
    check_limits(
        session,
        user_id=payer_id,
        op_type="payment",
        amount=amount,
        currency=currency,
        level=me.verification_level,
    )
    op_id, reference = _new_operation(
        session,
        type=OperationType.payment.value,
        status=OperationStatus.completed.value,
        user_id=payer_id,
        account_id=source_id,
        counterparty_account_id=target_id,
        merchant_id=merchant.id,
        order_id=order_id,
        currency=currency,
        amount=amount,
        method="wallet",
        note=order_id,
        completed_at=clock.now(),
    )
    ledger.post(
        session,
        locked,
        operation_id=op_id,
        kind="payment",
        lines=[ledger.Line(source_id, -amount), ledger.Line(target_id, amount)],
    )
    _activity(
        session,
        [
            {
                "user_id": payer_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "payment",
                "direction": "out",
                "status": "completed",
                "currency": currency,
                "amount": -amount,
                "counterparty": merchant.name,
                "note": order_id,
            }
        ],
    )
    record_usage(session, user_id=payer_id, op_type="payment", amount=amount, currency=currency)
    return TransferResult(op_id, reference, amount, 0, currency)


def refunded_total(session: Session, payment_id: int) -> int:
    return int(
        session.scalar(
            select(func.coalesce(func.sum(Operation.amount), 0)).where(
                Operation.original_operation_id == payment_id,
                Operation.type == OperationType.refund.value,
                Operation.status == OperationStatus.completed.value,
            )
        )
        or 0
    )


def do_refund(
    session: Session,
    *,
    payment_reference: str,
    amount: int | None,
    actor_user_id: int | None,
    reason: str = "",
) -> TransferResult:
    """Refund a payment in full or in part: a new operation whose entry reverses the money
    from the merchant to the customer, linked to the original; never more than was paid."""
    payment = find_by_reference(session, payment_reference)
    if payment is None or payment.type != OperationType.payment.value:
        raise NotFound()
    payment = _lock_operation(session, payment.id)  # one refund at a time per payment
    if payment.status not in (OperationStatus.completed.value, OperationStatus.reversed.value):
        raise NotRefundable()
    left = payment.amount - refunded_total(session, payment.id)
    amount = left if amount is None else amount
    if amount <= 0 or amount > left:
        raise RefundTooLarge(left=_LazyMoney(left, payment.currency), field="amount")
    assert payment.account_id is not None and payment.counterparty_account_id is not None
    locked = ledger.lock_accounts(session, [payment.account_id, payment.counterparty_account_id])
    merchant = session.get(Merchant, payment.merchant_id)
    op_id, reference = _new_operation(
        session,
        type=OperationType.refund.value,
        status=OperationStatus.completed.value,
        user_id=payment.user_id,
        account_id=payment.account_id,
        counterparty_account_id=payment.counterparty_account_id,
        merchant_id=payment.merchant_id,
        currency=payment.currency,
        amount=amount,
        method="wallet",
        original_operation_id=payment.id,
        note=identity_validation.check_name(reason, field="reason", max_length=140),
        completed_at=clock.now(),
    )
    ledger.post(
        session,
        locked,
        operation_id=op_id,
        kind="refund",
        lines=[
            ledger.Line(payment.counterparty_account_id, -amount),
            ledger.Line(payment.account_id, amount),
        ],
    )
    assert payment.user_id is not None
    _activity(
        session,
        [
            {
                "user_id": payment.user_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "refund",
                "direction": "in",
                "status": "completed",
                "currency": payment.currency,
                "amount": amount,
                "counterparty": merchant.name if merchant else "",
                "note": f"{payment.reference} {reason}".strip()[:140],
            }
        ],
    )
    if amount == left:
        _set_status(session, payment.id, OperationStatus.reversed)
    audit.record(
        session,
        "payment_refunded",
        actor_user_id=actor_user_id,
        subject_user_id=payment.user_id,
        object_type="operation",
        object_id=payment.reference,
        refund=reference,
        amount=amount,
    )
    return TransferResult(op_id, reference, amount, 0, payment.currency)


def merchant_for_owner(session: Session, *, user_id: int, payment_reference: str) -> Operation:
    """A payment to a merchant the user owns; anything else is NotFound."""
    op = find_by_reference(session, payment_reference)
    if op is None or op.merchant_id is None:
        raise NotFound()
    merchant = session.get(Merchant, op.merchant_id)
    if merchant is None or merchant.owner_user_id != user_id:
        raise NotFound()
    return op


# ------------------------------------------------------------------ cross-currency transfers


class QuoteInvalid(DomainError):
    code = "quote_invalid"
    status = 422
    message = N_("This exchange-rate quote cannot be used. Please ask for a new one.")


class QuoteExpired(DomainError):
    code = "quote_expired"
    status = 422
    message = N_("The quoted rate has expired. Please check the new rate and confirm again.")


class SameCurrency(DomainError):
    code = "same_currency"
    status = 422
    message = N_("Choose two different currencies to exchange.")


def do_quote_fx(
    session: Session, *, user_id: int, source_currency: str, target_currency: str, amount: int
) -> FxQuote:
    """Quote sending ``amount`` of ``source_currency`` as ``target_currency``: the rate with the
    spread, what arrives (rounded down), the cross-border fee; valid for a few minutes."""
    source_currency, target_currency = (
        check_currency(source_currency),
        check_currency(target_currency),
    )
    if source_currency == target_currency:
        raise SameCurrency(field="target_currency")
    at = fx.customer_rate(source_currency, target_currency)
    arrives = fx.convert_down(amount, source_currency, target_currency, at)
    if arrives <= 0:
        raise ValidationFailed(
            N_("That amount is too small to exchange."), code="amount_too_small", field="amount"
        )
    fee = quote_fee(
        session,
        user_id=user_id,
        operation="transfer",
        method="wallet",
        amount=amount,
        currency=source_currency,
        cross_border=True,
    ).fee
    now = clock.now()
    quote = FxQuote(
        user_id=user_id,
        source_currency=source_currency,
        target_currency=target_currency,
        rate=str(at),
        source_amount=amount,
        target_amount=arrives,
        fee=fee,
        created_at=now,
        expires_at=now + timedelta(minutes=fx.QUOTE_MINUTES),
    )
    session.add(quote)
    session.flush()
    return quote


def _claim_quote(session: Session, *, sender_id: int, quote_id: int) -> FxQuote:
    """The sender's unused, unexpired quote, marked used in this transaction.

    A conditional update claims it (``used_at IS NULL`` in its WHERE): on PostgreSQL a
    second transaction claiming the same quote waits for the first one's row lock and then
    finds it used (or, if the first rolled back, claims it itself), so exactly one use
    wins. The transfer's refusals after this roll the claim back with everything else."""
    now = clock.now()
    quotes = table_of(FxQuote)
    claimed = session.execute(
        update(quotes)
        .where(
            quotes.c.id == quote_id,
            quotes.c.user_id == sender_id,
            quotes.c.used_at.is_(None),
            quotes.c.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    quote = session.get(FxQuote, quote_id, populate_existing=True)
    if quote is None or quote.user_id != sender_id:
        raise QuoteInvalid(field="quote_id")
    if cast(Any, claimed).rowcount != 1:
        if quote.used_at is None and quote.expires_at <= now:
            raise QuoteExpired(field="quote_id")
        raise QuoteInvalid(field="quote_id")
    return quote


def do_transfer_fx(
    session: Session, *, sender_id: int, recipient: str, quote_id: int, note: str = ""
) -> TransferResult:
    """Send money that arrives in another currency at a quoted rate: two balanced entries
    through OKPay's FX position (one per currency), plus the cross-border fee."""
    note = identity_validation.check_name(note, field="note", max_length=140)
    quote = _claim_quote(session, sender_id=sender_id, quote_id=quote_id)
    preview_transfer(  # before the recipient, as for any transfer (see wallet.recipients)
        session,
        sender_id=sender_id,
        amount=quote.source_amount,
        currency=quote.source_currency,
        fee=quote.fee,
    )
    target = resolve_recipient(session, sender_id=sender_id, recipient=recipient)
    src, tgt = quote.source_currency, quote.target_currency
    source_id = ledger.customer_account_id(session, user_id=sender_id, currency=src, create=False)
    if source_id is None:
        raise ledger.InsufficientFunds()
    dest_id = ledger.customer_account_id(session, user_id=target.id, currency=tgt)
    assert dest_id is not None
    fx_src = ledger.system_account_id(session, SystemAccount.fx_position, src)
    fx_tgt = ledger.system_account_id(session, SystemAccount.fx_position, tgt)
    ids = [source_id, dest_id, fx_src, fx_tgt]
    fee_id = (
        ledger.system_account_id(session, SystemAccount.fee_revenue, src) if quote.fee else None
    )
    locked = ledger.lock_accounts(session, ids + ([fee_id] if fee_id else []))
    me = check_can(session, sender_id, "transfer")
    check_limits(
        session,
        user_id=sender_id,
        op_type="transfer",
        amount=quote.source_amount,
        currency=src,
        level=me.verification_level,
    )
    if locked[source_id].available < quote.source_amount + quote.fee:
        raise ledger.InsufficientFunds()
    op_id, reference = _new_operation(
        session,
        type=OperationType.transfer.value,
        status=OperationStatus.completed.value,
        user_id=sender_id,
        account_id=source_id,
        counterparty_user_id=target.id,
        counterparty_account_id=dest_id,
        currency=src,
        amount=quote.source_amount,
        fee=quote.fee,
        target_currency=tgt,
        target_amount=quote.target_amount,
        fx_rate=quote.rate,
        method="wallet",
        note=note,
        completed_at=clock.now(),
        data={"quote_id": quote.id},
    )
    out_lines = [
        ledger.Line(source_id, -quote.source_amount),
        ledger.Line(fx_src, quote.source_amount),
    ]
    if quote.fee and fee_id:
        out_lines += [ledger.Line(source_id, -quote.fee), ledger.Line(fee_id, quote.fee)]
    ledger.post(session, locked, operation_id=op_id, kind="fx_out", lines=out_lines)
    ledger.post(
        session,
        locked,
        operation_id=op_id,
        kind="fx_in",
        lines=[
            ledger.Line(fx_tgt, -quote.target_amount),
            ledger.Line(dest_id, quote.target_amount),
        ],
    )
    _activity(
        session,
        [
            {
                "user_id": sender_id,
                "operation_id": op_id,
                "reference": reference,
                "type": "transfer",
                "direction": "out",
                "status": "completed",
                "currency": src,
                "amount": -(quote.source_amount + quote.fee),
                "fee": quote.fee,
                "counterparty": target.label,
                "note": note,
            },
            {
                "user_id": target.id,
                "operation_id": op_id,
                "reference": reference,
                "type": "transfer",
                "direction": "in",
                "status": "completed",
                "currency": tgt,
                "amount": quote.target_amount,
                "counterparty": me.label,
                "note": note,
            },
        ],
    )
    record_usage(
        session, user_id=sender_id, op_type="transfer", amount=quote.source_amount, currency=src
    )
    return TransferResult(op_id, reference, quote.source_amount, quote.fee, src)


# ------------------------------------------------------------------------- limit overrides


def effective_limits(session: Session, *, user_id: int, op_type: str, level: int) -> LimitSet:
    """The verification level's limits, with any live override granted after a review."""
    base = limits_for(op_type, level)
    now = clock.now()
    override = session.scalar(
        select(LimitOverride)
        .where(
            LimitOverride.user_id == user_id,
            LimitOverride.op_type == op_type,
            LimitOverride.revoked_at.is_(None),
            or_(LimitOverride.expires_at.is_(None), LimitOverride.expires_at > now),
        )
        .order_by(LimitOverride.id.desc())
        .limit(1)
    )
    if override is None:
        return base
    return _overridden(base, (override.per_transaction, override.daily, override.monthly))


def _overridden(base: LimitSet, override: tuple[int | None, int | None, int | None]) -> LimitSet:
    """``base`` with the override's limits where it sets them."""
    per_transaction, daily, monthly = override
    return LimitSet(
        per_transaction=base.per_transaction if per_transaction is None else per_transaction,
        daily=base.daily if daily is None else daily,
        monthly=base.monthly if monthly is None else monthly,
    )


def do_grant_limit_override(
    session: Session,
    *,
    user_id: int,
    op_type: str,
    reason: str,
    actor_user_id: int | None,
    per_transaction: int | None = None,
    daily: int | None = None,
    monthly: int | None = None,
    days: int | None = None,
) -> LimitOverride:
    """Set one customer's limits for an operation after a review (replaces the previous
    override); audited, and the customer is told."""
    if op_type not in ("topup", "withdrawal", "transfer", "payment"):
        raise ValidationFailed(N_("Unknown operation."), code="operation_invalid", field="op_type")
    if per_transaction is None and daily is None and monthly is None:
        raise ValidationFailed(N_("Give at least one new limit."), code="limit_required")
    reason = identity_validation.check_name(reason, field="reason", max_length=500)
    if not reason:
        raise ValidationFailed(
            N_("Please give a reason the customer will see."),
            code="reason_required",
            field="reason",
        )
    now = clock.now()
    session.execute(
        update(LimitOverride)
        .where(
            LimitOverride.user_id == user_id,
            LimitOverride.op_type == op_type,
            LimitOverride.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    override = LimitOverride(
        user_id=user_id,
        op_type=op_type,
        per_transaction=per_transaction,
        daily=daily,
        monthly=monthly,
        reason=reason,
        granted_by=actor_user_id,
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    session.add(override)
    session.flush()
    audit.record(
        session,
        "limit_override_granted",
        actor_user_id=actor_user_id,
        subject_user_id=user_id,
        object_type="limit_override",
        object_id=override.id,
        op_type=op_type,
        per_transaction=per_transaction,
        daily=daily,
        monthly=monthly,
        days=days,
        reason=reason,
    )
    return override

"""Exports: CSV of the history (formula-safe), monthly statements and balance history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.wallet import history, ledger, usage

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
    # Whether money moved: yes, no (failed or cancelled: the amount and fee columns are
    # 0.00 and requested_amount says what it was for), or pending (not yet).
    "money_moved",
    "requested_amount",
    "status_text",
)

# Statuses in which an operation moved no money, and those in which it has not yet.
NOT_COMPLETED = frozenset({"failed", "cancelled"})
NOT_YET = frozenset({"pending", "on_hold"})


def status_text(status: str) -> str:
    """A history line's status in the reader's language, saying whether money moved."""
    from okpay.core.i18n import gettext
    from okpay.wallet.models import operation_status_label

    label = operation_status_label(status)
    if status in NOT_COMPLETED:
        return gettext("%(status)s: did not complete, no money moved", status=label)
    if status in NOT_YET:
        return gettext("%(status)s: not completed yet", status=label)
    return label


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(
    session: Session, *, user_id: int, filters: history.HistoryFilter, limit: int = 100_000
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
        page = history.history(session, user_id=user_id, filters=filters, limit=1000, before=before)
        if not page:
            break
        for a in page:
            moved = a.status not in NOT_COMPLETED
            writer.writerow(
                [
                    a.created_at.astimezone(usage.BEIJING).isoformat(timespec="seconds"),
                    a.reference,
                    a.type,
                    a.status,
                    a.direction,
                    to_decimal_string(a.amount if moved else 0, a.currency),
                    a.currency,
                    to_decimal_string(a.fee if moved else 0, a.currency),
                    csv_safe(a.counterparty),
                    csv_safe(a.note),
                    "pending" if a.status in NOT_YET else ("yes" if moved else "no"),
                    to_decimal_string(abs(a.amount), a.currency),
                    csv_safe(status_text(a.status)),
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
    from okpay.wallet.models import Posting, WalletAccount

    since = datetime.combine(start, time(0), usage.BEIJING)
    until = datetime.combine(end + timedelta(days=1), time(0), usage.BEIJING)
    # A posting carries its entry's time: no join, and on PostgreSQL the month partitions
    # outside the range are skipped.
    rows = session.execute(
        select(
            WalletAccount.currency,
            func.coalesce(func.sum(Posting.amount).filter(Posting.created_at < since), 0),
            func.coalesce(
                func.sum(Posting.amount).filter(
                    Posting.created_at >= since,
                    Posting.created_at < until,
                    Posting.amount > 0,
                ),
                0,
            ),
            func.coalesce(
                func.sum(Posting.amount).filter(
                    Posting.created_at >= since,
                    Posting.created_at < until,
                    Posting.amount < 0,
                ),
                0,
            ),
        )
        .select_from(WalletAccount)
        .join(Posting, Posting.account_id == WalletAccount.id)
        .where(WalletAccount.user_id == user_id, Posting.created_at < until)
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
    from okpay.wallet.models import Posting

    account_id = ledger.customer_account_id(
        session, user_id=user_id, currency=currency, create=False
    )
    if account_id is None:
        return []
    since = datetime.combine(start, time(0), usage.BEIJING)
    until = datetime.combine(end + timedelta(days=1), time(0), usage.BEIJING)
    stmt = select(Posting.created_at, Posting.balance_after).where(Posting.account_id == account_id)
    opening = session.execute(
        stmt.where(Posting.created_at < since).order_by(Posting.id.desc()).limit(1)
    ).first()
    closing_by_day: dict[date, int] = {}
    rows = session.execute(
        stmt.where(Posting.created_at >= since, Posting.created_at < until).order_by(Posting.id)
    )
    for created_at, balance_after in rows:  # in ledger order: the day's last one stays
        closing_by_day[created_at.astimezone(usage.BEIJING).date()] = int(balance_after)
    if opening is None and not closing_by_day:
        return []
    balance = int(opening[1]) if opening is not None else 0
    points = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        balance = closing_by_day.get(day, balance)
        points.append(BalancePoint(day, balance))
    return points

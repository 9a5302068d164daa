"""Features: what a rule's condition can read about the customer and the operation.

Every value comes from counters kept as money moves (risk.counters) and account signals
kept as they happen, read in two statements: the attempt's counter buckets, and one row
joining the customer, their signals and the recipient pair. Amounts are Decimals in the
currency's major units (¥50.00 is 50), so conditions read as people write them."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from psycopg.rows import namedtuple_row
from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.orm import Session

from okpay.core import clock
from okpay.core.i18n import N_, currency_exponent
from okpay.db import driver_rows
from okpay.identity import directory as identity_directory
from okpay.identity.models import User
from okpay.risk.models import RiskCounter, RiskPair, RiskSignal
from okpay.wallet import fx, limits, screening

TEN_MINUTES = 600
DAY = 86_400


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # number | yes/no | text
    description: str


def _f(name: str, kind: str, description: str) -> Feature:
    return Feature(name, kind, description)


CATALOG: tuple[Feature, ...] = (
    _f(
        "operation",
        "text",
        N_("The operation, as one of these codes:"),
    ),
    _f(
        "amount",
        "number",
        N_("The amount, in the operation's currency (major units: 50 is ¥50.00)."),
    ),
    _f("currency", "text", N_('The operation\'s currency code, e.g. "CNY".')),
    _f("amount_cny", "number", N_("The amount converted to yuan at the reference rate.")),
    _f(
        "max_amount_90d",
        "number",
        N_(
            "The customer's largest outgoing amount in this currency over the last 90 days (0 if "
            "none)."
        ),
    ),
    _f(
        "median_amount",
        "number",
        N_("The customer's typical (median) outgoing amount in this currency (0 if no history)."),
    ),
    _f(
        "ops_90d",
        "number",
        N_("How many outgoing operations the customer made in this currency in the last 90 days."),
    ),
    _f("count_1h", "number", N_("Outgoing operations in this currency in the last hour.")),
    _f("sum_1h", "number", N_("Their total in the last hour (this currency).")),
    _f("count_24h", "number", N_("Outgoing operations in this currency in the last 24 hours.")),
    _f("sum_24h", "number", N_("Their total in the last 24 hours (this currency).")),
    _f("new_recipient", "yes/no", N_("The customer has never sent money to this recipient.")),
    _f(
        "recipients_1h",
        "number",
        N_("Distinct people the customer sent money to in the last hour."),
    ),
    _f("new_recipients_24h", "number", N_("People paid for the first time in the last 24 hours.")),
    _f(
        "new_device_24h",
        "yes/no",
        N_("A sign-in from a device not seen before, in the last 24 hours."),
    ),
    _f(
        "new_country_24h",
        "yes/no",
        N_("A sign-in from another country than the last one, in the last 24 hours."),
    ),
    _f(
        "password_reset_72h",
        "yes/no",
        N_("The password was reset or changed in the last 72 hours."),
    ),
    _f(
        "contact_change_72h",
        "yes/no",
        N_("The e-mail address or phone number changed in the last 72 hours."),
    ),
    _f("failed_topups_1h", "number", N_("Failed card top-ups in the last hour (card testing).")),
    _f(
        "limit_ratio",
        "number",
        N_("The amount as a share of the per-transaction limit (0.95 is 95 %)."),
    ),
    _f(
        "near_limit_24h",
        "number",
        N_(
            "Operations within 10 % under the per-transaction limit in the last 24 hours "
            "(structuring)."
        ),
    ),
    _f("account_age_days", "number", N_("Days since the account was opened.")),
    _f(
        "new_payout_account",
        "yes/no",
        N_(
            "A withdrawal to a bank account added in the last 72 hours and never paid out to "
            "before."
        ),
    ),
    _f("in_batch", "yes/no", N_("The transfer is one line of a batch (payroll and the like).")),
    _f("verification_level", "number", N_("The customer's verification level (0, 1 or 2).")),
)
NAMES = frozenset(f.name for f in CATALOG)
MONEY_OUT = ("transfer", "withdrawal", "payment")
LIMITED = ("transfer", "withdrawal", "payment", "card_topup")
NEAR_LIMIT = Decimal("0.9")


def ten_minute_bucket(at: datetime) -> int:
    return int(at.timestamp()) // TEN_MINUTES


def day_bucket(at: datetime) -> int:
    return int(at.timestamp()) // DAY


def hist_bucket(amount: int) -> int:
    """Log-scale class of an amount in minor units (powers of two)."""
    return max(0, int(amount).bit_length() - 1)


def major(amount: int, currency: str) -> Decimal:
    if not currency:
        return Decimal(amount)
    return Decimal(amount).scaleb(-currency_exponent(currency))


def counter_kinds(currency: str) -> dict[str, str]:
    return {"out": f"o:{currency}", "day": f"d:{currency}", "hist": f"h:{currency}"}


def limit_ratio(operation: str, amount: int, currency: str, level: int) -> Decimal:
    if operation not in LIMITED or not currency or amount <= 0:
        return Decimal(0)
    op = "topup" if operation == "card_topup" else operation
    per_tx = limits.limits_for(op, level).per_transaction
    return (Decimal(fx.to_cny(amount, currency)) / Decimal(per_tx)).quantize(Decimal("0.0001"))


def compute(
    session: Session, attempt: screening.Attempt, *, now: datetime | None = None
) -> dict[str, Any]:
    """Every feature's value for ``attempt``, now."""
    return compute_many(session, [attempt], now=now)[0]


def compute_many(
    session: Session, attempts: list[screening.Attempt], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Feature values for attempts of one customer (a batch too), from one statement: the
    customer's row and signals, their counter buckets, their recipient counts, and whether
    they paid each recipient before (a recipient typed as e-mail or phone is looked up in
    the same statement; the verdict carries the id back)."""
    if not attempts:
        return []
    now = now or clock.now()
    user_id = attempts[0].user_id
    currencies = sorted({a.currency for a in attempts if a.currency})
    typed = next((a.recipient for a in attempts if a.recipient), None)
    counterparties = sorted({a.counterparty_user_id for a in attempts if a.counterparty_user_id})
    row = _read(session, user_id, currencies, counterparties, typed, now)
    windows = _windows(_rows_of(row.buckets), currencies, now)
    paid = {int(i) for i in _rows_of(row.paid)}
    person = _person(row, now)
    level = int(person["verification_level"])
    out = []
    for attempt in attempts:
        cur, amount = attempt.currency, attempt.amount
        counterparty = attempt.counterparty_user_id
        if counterparty is None and attempt.recipient and attempt.recipient == typed:
            counterparty = row.recipient_id if row.recipient_id != user_id else None
        values = dict(windows.get(cur) or windows[""])
        values.update(person)
        values.update(
            {
                "operation": attempt.operation,
                "amount": major(amount, cur),
                "currency": cur,
                "amount_cny": major(fx.to_cny(amount, cur), "CNY") if cur else Decimal(0),
                "limit_ratio": limit_ratio(attempt.operation, amount, cur, level),
                "new_payout_account": bool(attempt.extra.get("new_payout_account", False)),
                "in_batch": bool(attempt.extra.get("in_batch", False)),
                "new_recipient": counterparty is not None
                and not (
                    counterparty in paid
                    or (counterparty == row.recipient_id and row.recipient_paid)
                ),
                COUNTERPARTY: counterparty,
            }
        )
        out.append(values)
    return out


# Not a feature: the recipient the statement found, handed back to the verdict.
COUNTERPARTY = "_counterparty_user_id"


def _rows_of(value: Any) -> list[Any]:
    """A JSON aggregate as the driver returns it (PostgreSQL: parsed; SQLite: text)."""
    if value is None:
        return []
    if isinstance(value, str):
        return list(json.loads(value))
    return list(value)


# On PostgreSQL, the hot path: one statement, its SQL written once and run through the driver
# (building and running it with SQLAlchemy on every payment cost more than the database
# spends on it). The lists travel as JSON: as typed arrays, psycopg's dumping and the
# server's parsing of them cost more (see okpay.risk.counters).
_READ_PG = """
SELECT u.created_at, u.verification_level,
       s.new_device_at, s.new_country_at, s.password_reset_at, s.contact_change_at,
       (SELECT count(*) FROM risk_pair p WHERE p.user_id = %(uid)s AND p.last_at > %(hour_ago)s)
         AS recipients_1h,
       (SELECT count(*) FROM risk_pair p WHERE p.user_id = %(uid)s AND p.first_at > %(day_ago)s)
         AS new_recipients_24h,
       (SELECT json_agg(json_build_array(c.kind, c.bucket, c.count, c.total, c.max_amount))
          FROM risk_counter c
         WHERE c.user_id = %(uid)s
           AND ((c.kind IN (SELECT json_array_elements_text(%(short)s::json))
                 AND c.bucket > %(short_from)s)
                OR (c.kind IN (SELECT json_array_elements_text(%(days)s::json))
                    AND c.bucket > %(day_from)s)
                OR c.kind IN (SELECT json_array_elements_text(%(hists)s::json)))) AS buckets,
       (SELECT json_agg(p.counterparty_id) FROM risk_pair p
         WHERE p.user_id = %(uid)s
           AND p.counterparty_id IN (SELECT json_array_elements_text(%(cps)s::json)::integer))
         AS paid,
       r.id AS recipient_id,
       (r.id IS NOT NULL AND EXISTS (SELECT 1 FROM risk_pair p
                                     WHERE p.user_id = %(uid)s AND p.counterparty_id = r.id))
         AS recipient_paid
  FROM user_account u
  LEFT JOIN risk_signal s ON s.user_id = u.id
  LEFT JOIN LATERAL (SELECT x.id FROM user_account x
                      WHERE (x.email = %(r_email)s OR x.phone = %(r_phone)s) LIMIT 1) r ON true
 WHERE u.id = %(uid)s
"""


def _read(
    session: Session,
    user_id: int,
    currencies: list[str],
    counterparties: list[int],
    typed: str | None,
    now: datetime,
) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        key = identity_directory.recipient_key(typed) if typed else None
        tb, db = ten_minute_bucket(now), day_bucket(now)
        return driver_rows(
            session,
            _READ_PG,
            {
                "uid": user_id,
                "hour_ago": now - timedelta(hours=1),
                "day_ago": now - timedelta(hours=24),
                "short": json.dumps(["tf", "nl", *(counter_kinds(c)["out"] for c in currencies)]),
                "short_from": tb - 144,
                "days": json.dumps([counter_kinds(c)["day"] for c in currencies]),
                "day_from": db - 90,
                "hists": json.dumps([counter_kinds(c)["hist"] for c in currencies]),
                "cps": json.dumps(counterparties),
                "r_email": key[1] if key and key[0] == "email" else None,
                "r_phone": key[1] if key and key[0] == "phone" else None,
            },
            row_factory=namedtuple_row,
        )[0]
    # SQLite: the same statement built with SQLAlchemy.
    agg, row_of = func.json_group_array, func.json_array
    tb, db = ten_minute_bucket(now), day_bucket(now)
    short = ["tf", "nl", *(counter_kinds(c)["out"] for c in currencies)]
    bucket_filter = [and_(RiskCounter.kind.in_(short), RiskCounter.bucket > tb - 144)]
    if currencies:
        bucket_filter += [
            and_(
                RiskCounter.kind.in_([counter_kinds(c)["day"] for c in currencies]),
                RiskCounter.bucket > db - 90,
            ),
            RiskCounter.kind.in_([counter_kinds(c)["hist"] for c in currencies]),
        ]
    buckets = (
        select(
            agg(
                row_of(
                    RiskCounter.kind,
                    RiskCounter.bucket,
                    RiskCounter.count,
                    RiskCounter.total,
                    RiskCounter.max_amount,
                )
            )
        )
        .where(RiskCounter.user_id == user_id, or_(*bucket_filter))
        .scalar_subquery()
    )
    hour_ago, day_ago = now - timedelta(hours=1), now - timedelta(hours=24)
    columns: list[Any] = [
        User.created_at,
        User.verification_level,
        RiskSignal.new_device_at,
        RiskSignal.new_country_at,
        RiskSignal.password_reset_at,
        RiskSignal.contact_change_at,
        select(func.count())
        .where(RiskPair.user_id == user_id, RiskPair.last_at > hour_ago)
        .scalar_subquery()
        .label("recipients_1h"),
        select(func.count())
        .where(RiskPair.user_id == user_id, RiskPair.first_at > day_ago)
        .scalar_subquery()
        .label("new_recipients_24h"),
        buckets.label("buckets"),
    ]
    if counterparties:
        columns.append(
            select(agg(RiskPair.counterparty_id))
            .where(RiskPair.user_id == user_id, RiskPair.counterparty_id.in_(counterparties))
            .scalar_subquery()
            .label("paid")
        )
    else:
        columns.append(literal(None).label("paid"))
    recipient = identity_directory.recipient_id_select(typed) if typed else None
    if recipient is not None:
        columns.append(recipient.label("recipient_id"))
        columns.append(
            exists()
            .where(RiskPair.user_id == user_id, RiskPair.counterparty_id == recipient)
            .label("recipient_paid")
        )
    else:
        columns += [literal(None).label("recipient_id"), literal(False).label("recipient_paid")]
    return session.execute(
        select(*columns)
        .select_from(User)
        .outerjoin(RiskSignal, RiskSignal.user_id == User.id)
        .where(User.id == user_id)
    ).one()


def _windows(rows: list[Any], currencies: list[str], now: datetime) -> dict[str, dict[str, Any]]:
    """Window features per currency ("" for none) from the customer's counter buckets."""
    tb = ten_minute_bucket(now)
    hour_from, day_from = tb - 6, tb - 144
    failed_1h = near_24h = 0
    keys = ("c1", "s1", "c24", "s24", "ops", "max")
    acc: dict[str, dict[str, int]] = {c: dict.fromkeys(keys, 0) for c in currencies}
    hists: dict[str, dict[int, int]] = {c: {} for c in currencies}
    for kind, bucket, count, total, max_amount in rows:
        bucket, count, total, max_amount = int(bucket), int(count), int(total), int(max_amount)
        if kind == "tf":
            if bucket > hour_from:
                failed_1h += count
            continue
        if kind == "nl":
            if bucket > day_from:
                near_24h += count
            continue
        prefix, _, cur = str(kind).partition(":")
        a = acc.get(cur)
        if a is None:
            continue
        if prefix == "o":
            if bucket > hour_from:
                a["c1"] += count
                a["s1"] += total
            if bucket > day_from:
                a["c24"] += count
                a["s24"] += total
        elif prefix == "d":
            a["ops"] += count
            a["max"] = max(a["max"], max_amount)
        elif prefix == "h":
            hists[cur][bucket] = hists[cur].get(bucket, 0) + count
    result: dict[str, dict[str, Any]] = {}
    for cur in [*currencies, ""]:
        a = acc.get(cur) or dict.fromkeys(keys, 0)
        result[cur] = {
            "max_amount_90d": major(a["max"], cur),
            "median_amount": major(_median(hists.get(cur, {})), cur),
            "ops_90d": Decimal(a["ops"]),
            "count_1h": Decimal(a["c1"]),
            "sum_1h": major(a["s1"], cur),
            "count_24h": Decimal(a["c24"]),
            "sum_24h": major(a["s24"], cur),
            "failed_topups_1h": Decimal(failed_1h),
            "near_limit_24h": Decimal(near_24h),
        }
    return result


def _median(hist: dict[int, int]) -> int:
    return median_of_histogram(hist)


def median_of_histogram(hist: dict[int, int]) -> int:
    """The median amount from a log-scale histogram (``hist_bucket`` → count): the middle
    class's geometric middle, in minor units (the backtest rebuilds it the same way)."""
    total = sum(hist.values())
    if not total:
        return 0
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen * 2 >= total:
            return int(2**bucket * math.sqrt(2))
    return 0  # pragma: no cover - the loop always returns


def _person(row: Any, now: datetime) -> dict[str, Any]:
    """The customer's age, level, signals and recipient counts from the statement's row."""
    day_ago, three_days = now - timedelta(hours=24), now - timedelta(hours=72)

    def since(at: datetime | None, start: datetime) -> bool:
        if at is None:
            return False
        if at.tzinfo is None:  # SQLite's scalar columns come back without a zone
            at = at.replace(tzinfo=UTC)
        return at > start

    created = row.created_at
    if created is not None and created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return {
        "verification_level": Decimal(int(row.verification_level or 0)),
        "account_age_days": Decimal(max(0, (now - created).days) if created else 0),
        "new_device_24h": since(row.new_device_at, day_ago),
        "new_country_24h": since(row.new_country_at, day_ago),
        "password_reset_72h": since(row.password_reset_at, three_days),
        "contact_change_72h": since(row.contact_change_at, three_days),
        "recipients_1h": Decimal(row.recipients_1h or 0),
        "new_recipients_24h": Decimal(row.new_recipients_24h or 0),
    }


def as_stored(values: dict[str, Any]) -> dict[str, Any]:
    """Feature values as JSON (Decimals as strings, exact)."""
    return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items() if k in NAMES}

"""The replay behind backtests: the counters risk.counters keeps as money moves, and the
account signals, rebuilt in memory operation by operation, and the feature values a
condition reads, computed as features.compute would have at that moment (risk.backtest
says what is approximated)."""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from okpay.core.audit import AuditEvent
from okpay.core.i18n import currency_exponent
from okpay.identity.models import LoginEvent, User
from okpay.risk import features
from okpay.wallet import fx, limits
from okpay.wallet.models import PaymentMethod

CHUNK = 5_000
MOVED = frozenset({"completed", "pending", "reversed"})  # counted when they were made
NOT_COUNTED_FAILURE = "provider_unavailable"  # the wallet counts no failed top-up for it
RESETS = ("password_reset", "password_changed")  # as identity.signals reports them
CONTACT_CHANGES = ("email_changed", "phone_changed")


# ------------------------------------------------------------------ the replayed counters


class _Customer:
    """One customer's counters as risk.counters would have kept them."""

    __slots__ = ("day", "hist", "nl", "out", "paid_methods", "pairs", "tf")

    def __init__(self) -> None:
        self.out: dict[str, dict[int, list[int]]] = {}  # currency → ten-minute → [count, sum]
        self.day: dict[str, dict[int, list[int]]] = {}  # currency → day → [count, max]
        self.hist: dict[str, dict[int, int]] = {}  # currency → log class → count
        self.tf: dict[int, int] = {}  # ten-minute → failed card top-ups
        self.nl: dict[int, int] = {}  # ten-minute → amounts near the limit
        self.pairs: dict[int, list[datetime]] = {}  # recipient → [first, last]
        self.paid_methods: set[int] = set()  # bank accounts a withdrawal was paid to


def _recent(buckets: dict[int, int], since_bucket: int) -> int:
    return sum(n for b, n in buckets.items() if b > since_bucket)


def _prune(buckets: dict[int, Any], keep_after: int, size: int) -> None:
    if len(buckets) > size:
        for b in [b for b in buckets if b <= keep_after]:
            del buckets[b]


@dataclass
class _Person:
    created_at: datetime | None
    level: int


class Signals:
    """Per customer, the sorted times of each account event in the window (and before it)."""

    def __init__(self) -> None:
        self.times: dict[str, dict[int, list[datetime]]] = {
            "device": {},
            "country": {},
            "reset": {},
            "contact": {},
        }

    def add(self, kind: str, user_id: int, at: datetime) -> None:
        self.times[kind].setdefault(user_id, []).append(at)

    def within(self, kind: str, user_id: int, now: datetime, span: timedelta) -> bool:
        times = self.times[kind].get(user_id)
        if not times:
            return False
        i = bisect_right(times, now) - 1
        return i >= 0 and times[i] > now - span


def load_signals(session: Session, since: datetime, until: datetime) -> Signals:
    signals = Signals()
    start = since - timedelta(hours=72)
    rows = session.execute(
        select(LoginEvent.user_id, LoginEvent.at, LoginEvent.new_device, LoginEvent.country)
        .where(LoginEvent.result == "success", LoginEvent.at >= start, LoginEvent.at < until)
        .order_by(LoginEvent.user_id, LoginEvent.at)
        .execution_options(yield_per=CHUNK)
    )
    last_country: dict[int, str] = {}
    for user_id, at, new_device, country in rows:
        if new_device:
            signals.add("device", user_id, at)
        if country:
            before = last_country.get(user_id)
            if before is not None and before != country:
                signals.add("country", user_id, at)
            last_country[user_id] = country
    who = func.coalesce(AuditEvent.subject_user_id, AuditEvent.actor_user_id)
    audit_rows = session.execute(
        select(who, AuditEvent.at, AuditEvent.action)
        .where(
            AuditEvent.action.in_([*RESETS, *CONTACT_CHANGES]),
            AuditEvent.at >= start,
            AuditEvent.at < until,
        )
        .order_by(AuditEvent.at)
    )
    for user_id, at, action in audit_rows:
        if user_id is not None:
            signals.add("reset" if action in RESETS else "contact", user_id, at)
    return signals


# ------------------------------------------------------------------------- the features


class Values(dict[str, Any]):
    """Feature values computed when the condition first reads them (a rule reads few; the
    window features are computed together, in one pass over the buckets)."""

    def __init__(self, replay: Replay, row: Any, operation: str, now: datetime) -> None:
        super().__init__()
        self.replay, self.row, self.operation, self.now = replay, row, operation, now

    def __missing__(self, name: str) -> Any:
        if name in _WINDOW:
            self.update(self.replay.windows(self.row, self.now))
            return self[name]
        value = self.replay.feature(name, self.row, self.operation, self.now)
        self[name] = value
        return value


_WINDOW = frozenset(
    {"max_amount_90d", "median_amount", "ops_90d", "count_1h", "sum_1h", "count_24h", "sum_24h"}
)


class Replay:
    def __init__(self, session: Session, signals: Signals) -> None:
        self.session = session
        self.signals = signals
        self.customers: dict[int, _Customer] = {}
        self.people: dict[int, _Person] = {}
        self.methods: dict[int, datetime | None] = {}

    # -- loading what rows refer to, a chunk at a time
    def prepare(self, chunk: Sequence[Any]) -> None:
        users = {r.user_id for r in chunk if r.user_id not in self.people}
        for ids in _slices(sorted(users)):
            for uid, created, level in self.session.execute(
                select(User.id, User.created_at, User.verification_level).where(User.id.in_(ids))
            ):
                self.people[uid] = _Person(created, int(level or 0))
        methods = {
            r.payment_method_id
            for r in chunk
            if r.type == "withdrawal"
            and r.payment_method_id
            and r.payment_method_id not in self.methods
        }
        for ids in _slices(sorted(methods)):
            found = dict(
                self.session.execute(
                    select(PaymentMethod.id, PaymentMethod.created_at).where(
                        PaymentMethod.id.in_(ids)
                    )
                ).all()
            )
            for mid in ids:
                self.methods[mid] = found.get(mid)

    def customer(self, user_id: int) -> _Customer:
        c = self.customers.get(user_id)
        if c is None:
            c = self.customers[user_id] = _Customer()
        return c

    def level(self, user_id: int) -> int:
        person = self.people.get(user_id)
        return person.level if person else 0

    # -- one feature of one operation, as features.compute would have read it
    def feature(self, name: str, row: Any, operation: str, now: datetime) -> Any:
        cur, amount, uid = row.currency or "", int(row.amount or 0), row.user_id
        c = self.customer(uid)
        tb = features.ten_minute_bucket(now)
        if name == "operation":
            return operation
        if name == "amount":
            return _major(amount, cur)
        if name == "currency":
            return cur
        if name == "amount_cny":
            return _major(fx.to_cny(amount, cur), "CNY") if cur else Decimal(0)
        if name == "limit_ratio":
            return features.limit_ratio(operation, amount, cur, self.level(uid))
        if name == "failed_topups_1h":
            return Decimal(_recent(c.tf, tb - 6))
        if name == "near_limit_24h":
            return Decimal(_recent(c.nl, tb - 144))
        if name == "new_recipient":
            cp = row.counterparty_user_id
            return cp is not None and cp != uid and cp not in c.pairs
        if name == "recipients_1h":
            hour_ago = now - timedelta(hours=1)
            return Decimal(sum(1 for _f, last in c.pairs.values() if last > hour_ago))
        if name == "new_recipients_24h":
            day_ago = now - timedelta(hours=24)
            return Decimal(sum(1 for first, _l in c.pairs.values() if first > day_ago))
        if name == "verification_level":
            return Decimal(self.level(uid))
        if name == "account_age_days":
            person = self.people.get(uid)
            created = person.created_at if person else None
            return Decimal(max(0, (now - created).days) if created else 0)
        if name == "new_payout_account":
            return self._new_payout_account(row, c, now)
        if name == "in_batch":
            return bool((row.data or {}).get("client_ref")) if operation == "transfer" else False
        spans = {
            "new_device_24h": ("device", timedelta(hours=24)),
            "new_country_24h": ("country", timedelta(hours=24)),
            "password_reset_72h": ("reset", timedelta(hours=72)),
            "contact_change_72h": ("contact", timedelta(hours=72)),
        }
        kind, span = spans[name]
        return self.signals.within(kind, uid, now, span)

    def windows(self, row: Any, now: datetime) -> dict[str, Decimal]:
        """The window features of ``row``'s currency, as features._windows reads them."""
        cur = row.currency or ""
        c = self.customer(row.user_id)
        tb, db = features.ten_minute_bucket(now), features.day_bucket(now)
        c1 = s1 = c24 = s24 = 0
        for b, (n, total) in c.out.get(cur, {}).items():
            if b > tb - 144:
                c24 += n
                s24 += total
                if b > tb - 6:
                    c1 += n
                    s1 += total
        ops = top = 0
        for b, (n, biggest) in c.day.get(cur, {}).items():
            if b > db - 90:
                ops += n
                top = max(top, biggest)
        return {
            "max_amount_90d": _major(top, cur),
            "median_amount": _major(features.median_of_histogram(c.hist.get(cur, {})), cur),
            "ops_90d": Decimal(ops),
            "count_1h": Decimal(c1),
            "sum_1h": _major(s1, cur),
            "count_24h": Decimal(c24),
            "sum_24h": _major(s24, cur),
        }

    def _new_payout_account(self, row: Any, c: _Customer, now: datetime) -> bool:
        mid = row.payment_method_id
        if row.type != "withdrawal" or not mid:
            return False
        added = self.methods.get(mid)
        if added is None or added <= now - timedelta(hours=72):
            return False
        return mid not in c.paid_methods

    # -- what the counters learn once the operation was made
    def apply(self, row: Any, operation: str, now: datetime) -> None:
        c = self.customer(row.user_id)
        tb = features.ten_minute_bucket(now)
        if operation == "card_topup" and row.status == "failed":
            if row.failure_code != NOT_COUNTED_FAILURE:
                c.tf[tb] = c.tf.get(tb, 0) + 1
                _prune(c.tf, tb - 144, 24)
            return
        if row.status not in MOVED:
            return
        cur, amount = row.currency, int(row.amount)
        if operation in features.MONEY_OUT:
            out = c.out.setdefault(cur, {})
            slot = out.setdefault(tb, [0, 0])
            slot[0] += 1
            slot[1] += amount
            _prune(out, tb - 144, 24)
            day = c.day.setdefault(cur, {})
            db = features.day_bucket(now)
            dslot = day.setdefault(db, [0, 0])
            dslot[0] += 1
            dslot[1] = max(dslot[1], amount)
            _prune(day, db - 90, 100)
            hist = c.hist.setdefault(cur, {})
            hb = features.hist_bucket(amount)
            hist[hb] = hist.get(hb, 0) + 1
        cp = row.counterparty_user_id
        if operation == "transfer" and cp and cp != row.user_id:
            pair = c.pairs.get(cp)
            if pair is None:
                c.pairs[cp] = [now, now]
            else:
                pair[1] = now
        if operation == "withdrawal" and row.status == "completed" and row.payment_method_id:
            c.paid_methods.add(row.payment_method_id)
        if _near_limit(operation, amount, cur, self.level(row.user_id)):
            c.nl[tb] = c.nl.get(tb, 0) + 1
            _prune(c.nl, tb - 144, 24)


@functools.cache
def _exponent(currency: str) -> int:
    return currency_exponent(currency) if currency else 0


def _major(amount: int, currency: str) -> Decimal:
    """features.major, with the currency's exponent looked up once."""
    return Decimal(amount).scaleb(-_exponent(currency))


@functools.cache
def _per_transaction(operation: str, level: int) -> int:
    op = "topup" if operation == "card_topup" else operation
    return int(limits.limits_for(op, level).per_transaction)


def _near_limit(operation: str, amount: int, currency: str, level: int) -> bool:
    """features.NEAR_LIMIT <= limit_ratio < 1, in integers (the wallet counts these)."""
    if operation not in features.LIMITED or not currency or amount <= 0:
        return False
    cny = amount if currency == "CNY" else fx.to_cny(amount, currency)
    per_tx = _per_transaction(operation, level)
    return bool(cny < per_tx and Decimal(cny) / Decimal(per_tx) >= features.NEAR_LIMIT)


def _slices(ids: list[int], size: int = 2_000) -> Iterable[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def operation_kind(type_: str, method: str | None) -> str | None:
    """The risk operation a wallet operation row was screened as (None: not screened)."""
    if type_ == "topup":
        return "card_topup" if method == "card" else None
    return type_ if type_ in ("transfer", "withdrawal", "payment") else None

"""Monthly partitions of the large append-only tables on PostgreSQL.

History rows, journal entries, postings and ticket events are range-partitioned by month
of their timestamp (UTC). Each table also has a DEFAULT partition, so a row is never refused
for want of a partition: a money write in a month nobody prepared still commits. The
periodic job :func:`ensure_ahead` (and ``okpay db partitions ensure``) keeps the current
month and the next :data:`AHEAD_MONTHS` ready, so in practice the default stays empty.

A month whose rows already sit in the default partition cannot get its own partition until
they are moved (PostgreSQL refuses a partition that would take rows from the default);
:func:`ensure` leaves such a month alone and reports it as blocked, losing nothing, and
:func:`adopt` (``okpay db partitions adopt YYYY-MM``) moves them when an operator says so.

SQLite (the embedded default) has no partitions: every function here is a no-op there.
Creating partitions takes a transaction-scoped advisory lock, so two workers (or a worker
and an operator) running it at once create each partition once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import Connection, text

from okpay import jobs
from okpay.core import clock
from okpay.db import get_database

log = logging.getLogger(__name__)

# Partitioned table -> its partition key. Referenced tables before referencing ones
# (posting's (entry_id, created_at) refers to journal_entry's (id, created_at)).
TABLES: dict[str, str] = {
    "journal_entry": "created_at",
    "posting": "created_at",
    "wallet_activity": "created_at",
    "ticket_event": "at",
}
AHEAD_MONTHS = 3
# pg_advisory_xact_lock key: "okpay partitions" (any constant unique to this job).
LOCK_KEY = 0x6F6B_7061_7274


def month_of(value: date | datetime) -> date:
    """The first day of ``value``'s month (in UTC for a datetime)."""
    if isinstance(value, datetime):
        value = value.astimezone(UTC).date()
    return value.replace(day=1)


def add_months(month: date, count: int) -> date:
    """``month`` (a first day) moved by ``count`` months."""
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def months(first: date, last: date) -> list[date]:
    """Every month from ``first``'s to ``last``'s, both included."""
    out, month = [], month_of(first)
    while month <= month_of(last):
        out.append(month)
        month = add_months(month, 1)
    return out


def partition_name(table: str, month: date) -> str:
    return f"{table}_p{month:%Y%m}"


def default_name(table: str) -> str:
    return f"{table}_default"


def _bound(month: date) -> str:
    return f"{month:%Y-%m-%d} 00:00:00+00"


def _values(month: date) -> str:
    """The bound clause of ``month``'s partition."""
    return f"FOR VALUES FROM ('{_bound(month)}') TO ('{_bound(add_months(month, 1))}')"


@dataclass
class Partition:
    """One partition as the catalogue describes it (``bound`` is PostgreSQL's text)."""

    table: str
    name: str
    bound: str
    rows: int


@dataclass
class EnsureResult:
    created: list[str] = field(default_factory=list)
    # Months that have rows in the default partition: (table, month, rows there).
    blocked: list[tuple[str, date, int]] = field(default_factory=list)


def is_partitioned(conn: Connection, table: str) -> bool:
    """Whether ``table`` (in the connection's schema) is a partitioned table."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.relname = :t "
                "AND c.relnamespace = CAST(current_schema() AS regnamespace))"
            ),
            {"t": table},
        ).scalar_one()
    )


def list_partitions(conn: Connection) -> list[Partition]:
    """Every partition of the partitioned tables, with its bounds and estimated rows."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(
        text(
            "SELECT parent.relname, child.relname, pg_get_expr(child.relpartbound, child.oid), "
            "GREATEST(child.reltuples, 0) "
            "FROM pg_inherits i JOIN pg_class parent ON parent.oid = i.inhparent "
            "JOIN pg_class child ON child.oid = i.inhrelid "
            "WHERE parent.relname = ANY(:tables) "
            "AND parent.relnamespace = CAST(current_schema() AS regnamespace) "
            "ORDER BY parent.relname, child.relname"
        ),
        {"tables": list(TABLES)},
    ).all()
    return [Partition(r[0], r[1], r[2], int(r[3])) for r in rows]


def wanted(now: datetime, ahead: int = AHEAD_MONTHS) -> list[date]:
    """The months that must have partitions at ``now``: this one and ``ahead`` more."""
    first = month_of(now)
    return [add_months(first, n) for n in range(ahead + 1)]


def missing(conn: Connection, months_wanted: list[date]) -> list[str]:
    """Names of the wanted month partitions that do not exist yet (one catalogue query)."""
    names = [
        partition_name(table, month)
        for table in TABLES
        if is_partitioned(conn, table)
        for month in months_wanted
    ]
    if not names:
        return []
    present = set(
        conn.execute(
            text(
                "SELECT relname FROM pg_class WHERE relname = ANY(:names) "
                "AND relnamespace = CAST(current_schema() AS regnamespace)"
            ),
            {"names": names},
        ).scalars()
    )
    return [n for n in names if n not in present]


def ensure(conn: Connection, months_wanted: list[date]) -> EnsureResult:
    """Create the month partitions of ``months_wanted`` that do not exist, and each table's
    DEFAULT partition; safe to run again and from several processes at once. Call inside a
    transaction: the advisory lock and a short lock timeout last until it ends."""
    result = EnsureResult()
    if conn.dialect.name != "postgresql":
        return result
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    # Attaching a partition locks its parent: wait briefly, never queue the hot path behind
    # a long transaction for long; the job tries again a minute later.
    conn.execute(text("SET LOCAL lock_timeout = '5s'"))
    for table, key in TABLES.items():
        if not is_partitioned(conn, table):
            continue
        conn.execute(
            text(f"CREATE TABLE IF NOT EXISTS {default_name(table)} PARTITION OF {table} DEFAULT")
        )
        existing = {p.name for p in list_partitions(conn) if p.table == table}
        for month in months_wanted:
            name = partition_name(table, month)
            if name in existing:
                continue
            low, high = _bound(month), _bound(add_months(month, 1))
            # Table and column names come from TABLES above, never from input.
            strays = conn.execute(
                text(
                    f"SELECT COUNT(*) FROM {default_name(table)} "  # noqa: S608
                    f"WHERE {key} >= CAST(:low AS timestamptz) "
                    f"AND {key} < CAST(:high AS timestamptz)"
                ),
                {"low": low, "high": high},
            ).scalar_one()
            if strays:
                result.blocked.append((table, month, int(strays)))
                continue
            conn.execute(text(f"CREATE TABLE {name} PARTITION OF {table} {_values(month)}"))
            result.created.append(name)
    return result


def adopt(conn: Connection, month: date) -> list[str]:
    """Give ``month`` its partitions when rows of it sit in the DEFAULT partitions (see
    :func:`ensure`): move them into new tables and attach those; returns the partitions
    made. One transaction (call inside one); the tables' writers wait while it runs.

    Postings move before their entries and are attached after them: while neither new table
    is attached, the entries leave the default partition without a posting referring to
    them, and attaching the postings checks their foreign key against the attached entries.
    The ledger's append-only triggers are lifted on the default partitions for the move."""
    if conn.dialect.name != "postgresql":
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    low, high = _bound(month), _bound(add_months(month, 1))
    present = {p.name for p in list_partitions(conn)}
    order = ["posting", "journal_entry", "wallet_activity", "ticket_event"]
    moved: list[tuple[str, str]] = []
    for table in order:
        name, default = partition_name(table, month), default_name(table)
        if not is_partitioned(conn, table) or name in present:
            continue
        key = TABLES[table]
        triggers = list(
            conn.execute(
                text(
                    "SELECT tgname FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
                    "AND NOT tgisinternal"
                ),
                {"t": default},
            ).scalars()
        )
        conn.execute(
            text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        )
        for trigger in triggers:
            conn.execute(text(f"ALTER TABLE {default} DISABLE TRIGGER {trigger}"))
        conn.execute(
            text(
                f"WITH gone AS (DELETE FROM {default} "  # noqa: S608 - names from TABLES
                f"WHERE {key} >= CAST(:low AS timestamptz) AND {key} < CAST(:high AS timestamptz) "
                f"RETURNING *) INSERT INTO {name} SELECT * FROM gone"
            ),
            {"low": low, "high": high},
        )
        for trigger in triggers:
            conn.execute(text(f"ALTER TABLE {default} ENABLE TRIGGER {trigger}"))
        moved.append((table, name))
    for table, name in sorted(moved, key=lambda m: list(TABLES).index(m[0])):
        conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {name} {_values(month)}"))
    return [name for _table, name in moved]


def ensure_range(conn: Connection, first: date | datetime, last: date | datetime) -> EnsureResult:
    """:func:`ensure` for every month from ``first``'s to ``last``'s (loads, migrations)."""
    return ensure(conn, months(month_of(first), month_of(last)))


@jobs.periodic
def ensure_ahead() -> None:
    """Every minute: if a partition of this month or the next ``AHEAD_MONTHS`` is missing,
    create it (a catalogue query when nothing is; nothing at all on SQLite)."""
    database = get_database()
    if database.engine.dialect.name != "postgresql":
        return
    needed = wanted(clock.now())
    with database.engine.begin() as conn:
        if not missing(conn, needed):
            return
        result = ensure(conn, needed)
    if result.created:
        log.info("created partitions %s", ", ".join(result.created))
    for table, month, rows in result.blocked:
        log.error(
            "%s: %d rows of %s are in the default partition; no partition created for it "
            "(okpay db partitions adopt moves them)",
            table,
            rows,
            f"{month:%Y-%m}",
        )

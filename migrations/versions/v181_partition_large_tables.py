"""partition large tables by month on PostgreSQL; posting.created_at

Postings get the created_at of their journal entry, so that both tables partition by the
same month and a posting's foreign key can name its entry's partition key. On PostgreSQL
journal_entry, posting, wallet_activity and ticket_event become range-partitioned by month
(okpay.partitions): each table is renamed aside, recreated partitioned with a partition for
each month that has rows plus the next few, a DEFAULT partition, its rows copied, the old
table dropped, and its keys and indexes rebuilt under their old names. The primary keys
become (id, month key), as PostgreSQL requires; ids still come from the same sequences.
SQLite only gains the column.

Copying takes the tables' locks for the whole migration: on a large database run it in a
maintenance window (roughly a million rows a few seconds per table on modest hardware).

Revision ID: v181
Revises: u163
Create Date: 2026-12-07 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Connection, text

from okpay import partitions
from okpay.core import clock

revision: str = "v181"
down_revision: str | None = "u163"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSTING_ENTRY_FK = "fk_posting_entry_id_journal_entry"
# As of this revision (okpay.TABLES may grow later; this migration must not).
TABLES = {
    "journal_entry": "created_at",
    "posting": "created_at",
    "wallet_activity": "created_at",
    "ticket_event": "at",
}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        _sqlite_triggers(create=False)  # the table is rebuilt, and the backfill updates it
        with op.batch_alter_table("posting") as batch_op:
            batch_op.add_column(sa.Column("created_at", sa.DateTime(timezone=True)))
        op.execute(
            "UPDATE posting SET created_at = "
            "(SELECT created_at FROM journal_entry WHERE journal_entry.id = posting.entry_id)"
        )
        with op.batch_alter_table("posting") as batch_op:
            batch_op.alter_column("created_at", nullable=False)
        _sqlite_triggers(create=True)
        return
    _refuse_outside_references(conn)
    saved = {table: _definitions(conn, table) for table in TABLES}
    conn.execute(text(f"ALTER TABLE posting DROP CONSTRAINT {POSTING_ENTRY_FK}"))
    # The column first (no rewrite while it is null), so that the copy below has it.
    conn.execute(text("ALTER TABLE posting ADD COLUMN created_at TIMESTAMPTZ"))
    for table, key in TABLES.items():
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned"))
        conn.execute(
            text(
                f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS "
                f"INCLUDING CONSTRAINTS) PARTITION BY RANGE ({key})"
            )
        )
    conn.execute(text("ALTER TABLE posting ALTER COLUMN created_at SET NOT NULL"))
    # A partition for each month that has rows (in any of the tables: a posting's is its
    # entry's), then this month and the next few; rows of any other month go to DEFAULT.
    wanted = set(partitions.wanted(clock.now()))
    for table, key in TABLES.items():
        wanted.update(
            conn.execute(
                text(
                    f"SELECT DISTINCT CAST(date_trunc('month', {key} AT TIME ZONE 'UTC') AS date) "
                    f"FROM {table}_unpartitioned WHERE {key} IS NOT NULL"  # posting's: not yet
                )
            ).scalars()
        )
    partitions.ensure(conn, sorted(wanted))
    for table in TABLES:
        columns = _columns(conn, table)
        source = f"{table}_unpartitioned AS o"
        if table == "posting":  # each posting takes its entry's time
            source += " JOIN journal_entry_unpartitioned AS e ON e.id = o.entry_id"
        picked = ", ".join(
            "e.created_at" if source.endswith("entry_id") and c == "created_at" else f"o.{c}"
            for c in columns
        )
        conn.execute(
            text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {picked} FROM {source}")
        )
    for table, key in TABLES.items():
        _finish(conn, table, saved[table], primary_key=f"id, {key}", old=f"{table}_unpartitioned")
    conn.execute(
        text(
            f"ALTER TABLE posting ADD CONSTRAINT {POSTING_ENTRY_FK} FOREIGN KEY "
            "(entry_id, created_at) REFERENCES journal_entry (id, created_at)"
        )
    )
    for table in TABLES:
        conn.execute(text(f"ANALYZE {table}"))


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql" or not partitions.is_partitioned(conn, "posting"):
        _sqlite_triggers(create=False)
        with op.batch_alter_table("posting") as batch_op:
            batch_op.drop_column("created_at")
        _sqlite_triggers(create=True)
        return
    saved = {table: _definitions(conn, table) for table in TABLES}
    conn.execute(text(f"ALTER TABLE posting DROP CONSTRAINT {POSTING_ENTRY_FK}"))
    for table in TABLES:
        conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_partitioned"))
        conn.execute(
            text(
                f"CREATE TABLE {table} (LIKE {table}_partitioned INCLUDING DEFAULTS "
                "INCLUDING CONSTRAINTS)"
            )
        )
    conn.execute(text("ALTER TABLE posting DROP COLUMN created_at"))
    for table in TABLES:
        columns = ", ".join(_columns(conn, table))
        conn.execute(
            text(
                f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table}_partitioned "
                "ORDER BY id"
            )
        )
    for table in TABLES:
        _finish(conn, table, saved[table], primary_key="id", old=f"{table}_partitioned")
    conn.execute(
        text(
            f"ALTER TABLE posting ADD CONSTRAINT {POSTING_ENTRY_FK} FOREIGN KEY (entry_id) "
            "REFERENCES journal_entry (id)"
        )
    )


def _sqlite_triggers(*, create: bool) -> None:
    """posting's append-only triggers on SQLite (as revision 0002 made them)."""
    for action in ("update", "delete"):
        if create:
            op.execute(
                f"CREATE TRIGGER posting_no_{action} BEFORE {action.upper()} ON posting "
                "BEGIN SELECT RAISE(ABORT, 'ledger rows are immutable'); END"
            )
        else:
            op.execute(f"DROP TRIGGER IF EXISTS posting_no_{action}")


def _refuse_outside_references(conn: Connection) -> None:
    """Only posting may refer to these tables: anything else would need its own plan."""
    found = conn.execute(
        text(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' "
            "AND confrelid = ANY(CAST(:tables AS regclass[])) "
            "AND NOT (conrelid = CAST('posting' AS regclass) AND conname = :fk)"
        ),
        {"tables": list(TABLES), "fk": POSTING_ENTRY_FK},
    ).all()
    if found:
        raise RuntimeError(f"foreign keys refer to a table being partitioned: {found}")


def _definitions(conn: Connection, table: str) -> dict[str, list[str]]:
    """The statements that rebuild ``table``'s indexes (not its primary key) and foreign
    keys (not posting's to its entry, which changes shape), as they are now."""
    indexes = conn.execute(
        text(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = :t AND indexname <> :pk ORDER BY indexname"
        ),
        {"t": table, "pk": f"pk_{table}"},
    ).scalars()
    foreign = conn.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' AND conparentid = 0 "
            "AND conname <> :skip "
            "ORDER BY conname"
        ),
        {"t": table, "skip": POSTING_ENTRY_FK},
    ).all()
    triggers = conn.execute(
        text(
            "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) "
            "AND NOT tgisinternal AND tgparentid = 0 ORDER BY tgname"
        ),
        {"t": table},
    ).scalars()
    return {
        "triggers": list(triggers),  # the ledger's append-only guard
        # A partitioned table's indexes read "ON ONLY t"; the rebuilt table takes them whole.
        "indexes": [d.replace(" ON ONLY ", " ON ", 1) for d in indexes],
        "foreign_keys": [f"ALTER TABLE {table} ADD CONSTRAINT {n} {d}" for n, d in foreign],
    }


def _columns(conn: Connection, table: str) -> list[str]:
    return list(
        conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = :t "
                "ORDER BY ordinal_position"
            ),
            {"t": table},
        ).scalars()
    )


def _finish(
    conn: Connection, table: str, saved: dict[str, list[str]], *, primary_key: str, old: str
) -> None:
    """Check the copy, hand the id sequence over, drop the old table, rebuild keys and
    indexes under their old names."""
    copied, kept = conn.execute(
        text(f"SELECT (SELECT COUNT(*) FROM {table}), (SELECT COUNT(*) FROM {old})")
    ).one()
    if copied != kept:
        raise RuntimeError(f"{table}: copied {copied} rows of {kept}")
    sequence = conn.execute(text(f"SELECT pg_get_serial_sequence('{old}', 'id')")).scalar()
    if sequence:
        conn.execute(text(f"ALTER SEQUENCE {sequence} OWNED BY {table}.id"))
    conn.execute(text(f"DROP TABLE {old}"))
    conn.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({primary_key})"))
    for statement in saved["indexes"] + saved["foreign_keys"] + saved["triggers"]:
        conn.execute(text(statement))

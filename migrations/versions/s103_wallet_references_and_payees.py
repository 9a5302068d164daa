"""wallet: numbered operation references (a sequence on PostgreSQL, a counter row on
SQLite) and an index to tell whether a sender has paid someone before

Revision ID: s103
Revises: a001
Create Date: 2026-12-06 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "s103"
down_revision: str | None = "s101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# wallet.references.BLOCK: a process takes this many reference numbers at a time.
BLOCK = 1000


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE SEQUENCE wallet_reference_seq START WITH 1 INCREMENT BY {BLOCK}")
    op.create_table(
        "wallet_reference_counter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_reference_counter")),
    )
    with op.batch_alter_table("wallet_operation", schema=None) as batch_op:
        batch_op.create_index(
            "ix_wallet_operation_user_id_counterparty_user_id",
            ["user_id", "counterparty_user_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("wallet_operation", schema=None) as batch_op:
        batch_op.drop_index("ix_wallet_operation_user_id_counterparty_user_id")
    op.drop_table("wallet_reference_counter")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE wallet_reference_seq")

"""forum: a moved thread keeps its request number as people see it (OK-2026-000123)

Revision ID: u165
Revises: u161
Create Date: 2026-12-07 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "u165"
down_revision: str | None = "u161"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Request numbers are text ("OK-2026-000123"); no thread has been moved yet.
    with op.batch_alter_table("forum_thread", schema=None) as batch_op:
        batch_op.alter_column(
            "moved_to_ticket_number",
            existing_type=sa.Integer(),
            type_=sa.String(length=20),
            existing_nullable=True,
            postgresql_using="moved_to_ticket_number::varchar(20)",
        )


def downgrade() -> None:
    with op.batch_alter_table("forum_thread", schema=None) as batch_op:
        batch_op.alter_column(
            "moved_to_ticket_number",
            existing_type=sa.String(length=20),
            type_=sa.Integer(),
            existing_nullable=True,
            postgresql_using="NULL",
        )

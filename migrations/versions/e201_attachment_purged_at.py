"""ticket attachments: purged_at, set when a file is deleted under the retention policy

Revision ID: e201
Revises: k201
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e201"
down_revision: str | None = "k201"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_attachment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ticket_attachment", schema=None) as batch_op:
        batch_op.drop_column("purged_at")

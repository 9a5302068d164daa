"""agent console: ix_ticket_assignee ends in id, so "mine" pages by (due, id) from the
index; ix_ticket_resolved for the reports' resolutions per day

Revision ID: a001
Revises: c001
Create Date: 2026-11-22 01:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "a001"
down_revision: str | None = "c001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_assignee")
        batch_op.create_index(
            "ix_ticket_assignee", ["assignee_id", "status", "next_due_at", "id"], unique=False
        )
        batch_op.create_index("ix_ticket_resolved", ["resolved_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_resolved")
        batch_op.drop_index("ix_ticket_assignee")
        batch_op.create_index(
            "ix_ticket_assignee", ["assignee_id", "status", "next_due_at"], unique=False
        )

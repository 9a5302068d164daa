"""casework: cases on tickets, their evidence, proposals under four-eyes review, and the
approval policy

Revision ID: c201
Revises: s103
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "c201"
down_revision: str | None = "s103"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # A staff reason for a freeze or restriction can be longer than 64 characters.
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column(
            "status_reason", existing_type=sa.String(length=64), type_=sa.String(length=500)
        )
    op.create_table(
        "support_case",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("info_request", sa.Text(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("evidence_purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["ticket.id"], name=op.f("fk_support_case_ticket_id_ticket")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_support_case_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_support_case_decided_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_case")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_support_case_ticket_id")),
    )
    op.create_index("ix_support_case_status_due", "support_case", ["status", "due_at", "id"])
    op.create_index("ix_support_case_user", "support_case", ["user_id", "id"])
    op.create_table(
        "case_evidence",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("attachment_id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["support_case.id"], name=op.f("fk_case_evidence_case_id_support_case")
        ),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["ticket_attachment.id"],
            name=op.f("fk_case_evidence_attachment_id_ticket_attachment"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_evidence")),
        sa.UniqueConstraint("attachment_id", name=op.f("uq_case_evidence_attachment_id")),
    )
    op.create_index("ix_case_evidence_case", "case_evidence", ["case_id", "id"])
    op.create_table(
        "case_proposal",
        sa.Column("id", BigId, nullable=False),
        sa.Column("case_id", BigId, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("amount_cny", sa.BigInteger(), nullable=True),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["support_case.id"], name=op.f("fk_case_proposal_case_id_support_case")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_case_proposal_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"],
            ["user_account.id"],
            name=op.f("fk_case_proposal_proposed_by_user_account"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["user_account.id"],
            name=op.f("fk_case_proposal_decided_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_proposal")),
    )
    op.create_index("ix_case_proposal_case", "case_proposal", ["case_id", "id"])
    op.create_index("ix_case_proposal_status", "case_proposal", ["status", "expires_at", "id"])
    op.create_table(
        "case_approval_policy",
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.Column("single_limit_cny", sa.BigInteger(), nullable=True),
        sa.Column("approver_roles", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["user_account.id"],
            name=op.f("fk_case_approval_policy_updated_by_user_account"),
        ),
        sa.PrimaryKeyConstraint("action", name=op.f("pk_case_approval_policy")),
    )


def downgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.alter_column(
            "status_reason", existing_type=sa.String(length=500), type_=sa.String(length=64)
        )
    op.drop_table("case_approval_policy")
    op.drop_index("ix_case_proposal_status", table_name="case_proposal")
    op.drop_index("ix_case_proposal_case", table_name="case_proposal")
    op.drop_table("case_proposal")
    op.drop_index("ix_case_evidence_case", table_name="case_evidence")
    op.drop_table("case_evidence")
    op.drop_index("ix_support_case_user", table_name="support_case")
    op.drop_index("ix_support_case_status_due", table_name="support_case")
    op.drop_table("support_case")

"""indexes for the T4 sweeps (cost grows with due tickets, not with open ones) and for
the P7 open-ticket load per agent

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_tickets_sla_warn", "tickets", ["state", "sla_warned", "sla_warn_at"])
    op.create_index("ix_tickets_sla_breach", "tickets", ["state", "sla_breached", "sla_due_at"])
    op.create_index("ix_tickets_assignee_state", "tickets", ["assignee_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_tickets_assignee_state", table_name="tickets")
    op.drop_index("ix_tickets_sla_breach", table_name="tickets")
    op.drop_index("ix_tickets_sla_warn", table_name="tickets")

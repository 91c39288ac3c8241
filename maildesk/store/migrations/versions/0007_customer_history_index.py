"""the customer's history at first attention: tickets by (customer, state, closed_at)

New-ticket and assignment mails list the customer's other tickets not yet closed and the
last five closed (issue 8 item 3), one statement per new ticket on the ingest path. With
only `ix_tickets_customer_id`, the last five closed meant reading and sorting every ticket
the customer ever had; (customer_id, state, closed_at) hands them over in order, and its
prefix serves every lookup by customer, so it replaces that index rather than adding one.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_tickets_customer_state_closed", "tickets", ["customer_id", "state", "closed_at"]
    )
    op.drop_index("ix_tickets_customer_id", table_name="tickets")


def downgrade() -> None:
    op.create_index("ix_tickets_customer_id", "tickets", ["customer_id"])
    op.drop_index("ix_tickets_customer_state_closed", table_name="tickets")

"""participants: a ticket's colleagues in Cc and the addresses recorded beside them

SPEC §10: registered contacts of the ticket's customer found in To/Cc of a customer mail (or
added with `#cc add`) get the ticket's public mail in Cc; other addresses are recorded and
shown to agents, never mailed. One row per (ticket, address): the unique key serves the
per-ticket reads (its leading column) and keeps two mails naming the same colleague at
once from adding them twice.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "participants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("standing", sa.String(length=20), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name="fk_participants_contact_id_contacts"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_number"], ["tickets.number"], name="fk_participants_ticket_number_tickets"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_participants"),
        sa.UniqueConstraint("ticket_number", "email", name="uq_participants_ticket_number"),
    )


def downgrade() -> None:
    op.drop_table("participants")

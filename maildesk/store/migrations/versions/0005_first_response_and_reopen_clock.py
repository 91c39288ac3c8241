"""first response, the reopening's SLA clock, the ledger of resolutions, the outbox's author

SPEC §10 (issue 8 item 7): `tickets.first_response_at` (the first public agent answer,
backfilled from the messages), `tickets.reopened_at` (where the current SLA clock starts;
NULL: from created_at), and `resolutions`, one row per SLA clock that ended, so a ticket
resolved on time stays met in compliance after a reopening (backfilled from the tickets
resolved so far). Issue 8 item 6: `outbox.author`, the agent told when a mail fails for good.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    at = sa.DateTime(timezone=True)
    op.add_column("tickets", sa.Column("first_response_at", at, nullable=True))
    op.add_column("tickets", sa.Column("reopened_at", at, nullable=True))
    op.add_column("outbox", sa.Column("author", sa.String(length=320), nullable=True))
    resolutions = op.create_table(
        "resolutions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_number", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sla_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_number"],
            ["tickets.number"],
            name=op.f("fk_resolutions_ticket_number_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resolutions")),
    )
    op.create_index(
        op.f("ix_resolutions_ticket_number"), "resolutions", ["ticket_number"], unique=False
    )
    op.create_index(
        op.f("ix_resolutions_resolved_at"), "resolutions", ["resolved_at"], unique=False
    )
    _backfill(resolutions)


def _backfill(resolutions: sa.Table) -> None:
    tickets = sa.table(
        "tickets",
        sa.column("number"),
        sa.column("resolved_at"),
        sa.column("created_at"),
        sa.column("sla_due_at"),
        sa.column("type"),
        sa.column("priority"),
        sa.column("first_response_at"),
    )
    messages = sa.table(
        "messages",
        sa.column("ticket_number"),
        sa.column("at"),
        sa.column("direction"),
        sa.column("kind"),
        sa.column("public", sa.Boolean()),
    )
    answers = (
        messages.c.direction == "out",
        messages.c.kind == "agent",
        messages.c.public.is_(True),
    )
    first = (
        sa.select(sa.func.min(messages.c.at))
        .where(messages.c.ticket_number == tickets.c.number, *answers)
        .scalar_subquery()
    )
    answered = sa.select(messages.c.ticket_number).where(*answers)
    # Only the tickets that were answered: rewriting every row of a big table for a NULL
    # would make the upgrade cost grow with the whole history.
    op.execute(
        tickets.update().where(tickets.c.number.in_(answered)).values(first_response_at=first)
    )
    resolved = sa.select(
        tickets.c.number,
        tickets.c.resolved_at,
        tickets.c.created_at,
        tickets.c.sla_due_at,
        tickets.c.type,
        tickets.c.priority,
    ).where(tickets.c.resolved_at.is_not(None))
    op.execute(
        resolutions.insert().from_select(
            [
                "ticket_number",
                "resolved_at",
                "clock_started_at",
                "sla_due_at",
                "type",
                "priority",
            ],
            resolved,
        )
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_resolutions_resolved_at"), table_name="resolutions")
    op.drop_index(op.f("ix_resolutions_ticket_number"), table_name="resolutions")
    op.drop_table("resolutions")
    op.drop_column("outbox", "author")
    op.drop_column("tickets", "reopened_at")
    op.drop_column("tickets", "first_response_at")

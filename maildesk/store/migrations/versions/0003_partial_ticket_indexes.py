"""ticket indexes of the timers and P7 become partial: open (or resolved) tickets only

Closing a ticket used to insert it into seven indexes that lead with `state`, each at a
random place among the closed history (most of the table): ~7 random pages written per
closed ticket, two thirds of a 10 000-ticket sweep's time on SQLite (SPEC §9). Partial
indexes hold only the tickets the timers can act on, so closing deletes entries instead;
T3's holds only open feature requests, so resolving any other ticket leaves it alone.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD = {
    "ix_tickets_state_resolved": ["state", "resolved_at"],
    "ix_tickets_state_sla": ["state", "sla_due_at"],
    "ix_tickets_sla_warn": ["state", "sla_warned", "sla_warn_at"],
    "ix_tickets_sla_breach": ["state", "sla_breached", "sla_due_at"],
    "ix_tickets_assignee_state": ["assignee_id", "state"],
    "ix_tickets_state_agent_public": ["state", "last_agent_public_at"],
    "ix_tickets_state_type_set": ["state", "type", "type_set_at"],
}
OPEN = "state = 'open'"
NEW = {
    "ix_tickets_resolved": ("state = 'resolved'", ["resolved_at"]),
    "ix_tickets_open_sla": (OPEN, ["sla_due_at"]),
    "ix_tickets_open_sla_warn": (OPEN, ["sla_warned", "sla_warn_at"]),
    "ix_tickets_open_sla_breach": (OPEN, ["sla_breached", "sla_due_at"]),
    "ix_tickets_open_assignee": (OPEN, ["assignee_id"]),
    "ix_tickets_open_agent_public": (OPEN, ["last_agent_public_at"]),
    "ix_tickets_open_feature_type_set": (
        f"{OPEN} AND type = 'nuevo_requerimiento'",
        ["type_set_at"],
    ),
}


def upgrade() -> None:
    for name in OLD:
        op.drop_index(name, table_name="tickets")
    for name, (where, columns) in NEW.items():
        clause = sa.text(where)
        op.create_index(name, "tickets", columns, sqlite_where=clause, postgresql_where=clause)


def downgrade() -> None:
    for name in NEW:
        op.drop_index(name, table_name="tickets")
    for name, columns in OLD.items():
        op.create_index(name, "tickets", columns)

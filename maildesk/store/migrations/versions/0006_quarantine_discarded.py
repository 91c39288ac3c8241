"""quarantine entries can be discarded (kept, never replayed again)

`maildesk quarantine discard ID`: an operator decides a quarantined message needs no replay
(spam that broke the parser, a test mail). Its bytes stay (mail is never deleted); the
entry only leaves the list of messages waiting for a replay.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("discarded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("discarded_at")

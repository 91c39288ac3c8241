"""outbox.claimed_by: which process claimed a row, so a dead sender's rows are taken back

A sender killed after claiming rows left them `sending` until their 5-minute lease ran out
(three acknowledgements 300 s late per kill, issue 10 finding 7). With the claimer written
on the row (host, pid, the pid's start time), a sender on the same host sees that process
is gone and takes the rows back at once. PostgreSQL senders hold row locks instead and do
not write it; nullable, no default: old rows and PostgreSQL rows have none.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("claimed_by", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "claimed_by")

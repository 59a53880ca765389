"""notifications: the unread ones of a user, and the ones of an API key, by index

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Every web page shows the signed-in user's unread count, and `GET /notifications` gives it
too: without an index on the unread rows that count read every notification the user ever
had. A channel's API key lists its own notifications (the buyer's side): the only index began
with the org and the user, so that list scanned the whole org's. Both indexes are partial: a
read notification leaves the first; a seller's (user) notification never enters the second.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    unread = sa.text("read_at IS NULL")
    keyed = sa.text("api_key_id IS NOT NULL")
    # Every order writes notifications: on PostgreSQL the indexes are built CONCURRENTLY
    # (outside a transaction), so placing orders does not wait for the build on a big table.
    with op.get_context().autocommit_block():
        op.create_index("ix_notifications_unread", "notifications", ["org_id", "user_id"],
                        postgresql_where=unread, sqlite_where=unread,
                        postgresql_concurrently=True)  # fmt: skip
        op.create_index("ix_notifications_api_key", "notifications",
                        ["org_id", "api_key_id", "id"], postgresql_where=keyed,
                        sqlite_where=keyed, postgresql_concurrently=True)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_notifications_api_key", table_name="notifications")
    op.drop_index("ix_notifications_unread", table_name="notifications")

"""inventory day sums: the dashboard chart's daily Inventory changes, kept by the scheduler

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

The dashboard's 90-day stock value chart needs the journal's Inventory changes by day. Summed
on a request, that read ~250,000 journal rows (261 ms at 1,000,000 moves) on the first render
of every server process, and again every 10 minutes (issue #6: every page < 200 ms). The
scheduler now sums them into one row per org; a render reads that row and adds only the
journal rows written since its `top_id`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hoop.adapters.db.types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hoop.adapters.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inventory_day_sums",
        sa.Column("org_id", Id, nullable=False),
        sa.Column("start", When, nullable=False),
        sa.Column("top_id", Id, nullable=False),
        sa.Column("by_day", sa.JSON(), nullable=False),
        sa.Column("built_at", When, nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_inventory_day_sums_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("org_id", name=op.f("pk_inventory_day_sums")),
    )


def downgrade() -> None:
    op.drop_table("inventory_day_sums")

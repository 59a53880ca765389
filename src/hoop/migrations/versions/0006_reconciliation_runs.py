"""reconciliation runs: a reconciliation is a recorded background job

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

A reconciliation reads every cost entry and journal row of the org (~2,000,000 rows and
~256 ms at 10,000 SKUs and 1,000,000 moves), too slow for a page (issue #6: < 200 ms). The web
page records a run, a background task (or the scheduler, for runs left queued) computes it,
and the page shows the stored result.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import hoop.adapters.db.types

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
When = hoop.adapters.db.types.UtcDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("org_id", Id, nullable=False),
        sa.Column("requested_by", Id, nullable=True),
        sa.Column("requested_at", When, nullable=False),
        sa.Column("started_at", When, nullable=True),
        sa.Column("finished_at", When, nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("deep", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name=op.f("fk_reconciliation_runs_org_id_orgs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
    )
    op.create_index(
        "ix_reconciliation_runs_org", "reconciliation_runs", ["org_id", sa.text("id DESC")]
    )
    # the scheduler's look for runs left queued (or running after their process stopped)
    op.create_index(
        "ix_reconciliation_runs_pending",
        "reconciliation_runs",
        ["requested_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
        sqlite_where=sa.text("status IN ('queued', 'running')"),
    )


def downgrade() -> None:
    op.drop_index("ix_reconciliation_runs_pending", table_name="reconciliation_runs")
    op.drop_index("ix_reconciliation_runs_org", table_name="reconciliation_runs")
    op.drop_table("reconciliation_runs")

"""audit events without a foreign key to orgs: an audit row no longer locks its org's row

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26

Every mutation writes an audit event, and the foreign key made PostgreSQL check it with
`SELECT ... FOR KEY SHARE` on the org's row. Concurrent writers of one org all share-lock that
one row, and PostgreSQL records several lockers of a row as a MultiXact: in a burst of 200
orders (benchmarks/bench_orders.py, race) the backends spent ~7% more CPU with the key than
without it (177 against 164 ms a round, two interleaved pairs of runs). Orgs are never
deleted, and an audit event's org is the caller's, read in the same request; the hot tables
of orders (orders, lines, reservations, events, notifications, outbox) have no such key
either.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

FK = "fk_audit_events_org_id_orgs"


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:  # SQLite rebuilds the table
        batch.drop_constraint(FK, type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.create_foreign_key(FK, "orgs", ["org_id"], ["id"])

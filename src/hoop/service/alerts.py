"""Low-stock alerts: one open alert per variant and location while its position (available +
incoming) is at or under the policy's reorder point; resolved by itself when it rises above.

Re-evaluated in the transaction of whatever changed a position: a posting, a reservation, a
purchase order, a policy."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection


def positions_changed(conn: Connection, org_id: int, variant_ids: Iterable[int]) -> int:
    """Re-evaluate the low-stock alerts of these variants' policies. Returns how many alerts
    were raised or resolved. (Stub until the replenishment work lands.)"""
    return 0

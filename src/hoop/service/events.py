"""Domain events: stored notifications for the people concerned, an outbox row, and one pending
webhook delivery per active endpoint of the org subscribed to the event. All are written in the
transaction of the change that caused them, so an event (and what is owed to each endpoint)
exists exactly when its change committed; the scheduler then only sends what is due."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from hoop.adapters.db.tables import (
    notifications,
    outbox,
    users,
    webhook_deliveries,
    webhook_endpoints,
)
from hoop.domain.webhooks import subscribed

# Who on the seller's side is told about orders.
SELLER_ROLES = frozenset({"owner", "manager", "clerk"})


def _sellers(conn: Connection, org_id: int) -> list[int]:
    rows = conn.execute(
        select(users.c.id, users.c.roles).where(users.c.org_id == org_id, users.c.active)
    ).all()
    return [r.id for r in rows if SELLER_ROLES & set(r.roles or ())]


def emit(
    conn: Connection,
    org_id: int,
    event: str,
    payload: dict[str, Any],
    *,
    title: str,
    body: str,
    to_sellers: bool = False,
    buyer: dict[str, int | None] | None = None,
    order_id: int | None = None,
) -> str:
    """Record `event`: a notification per seller-side user (`to_sellers`) and one for the buyer
    (`buyer`: {"user_id"} or {"api_key_id"} of whoever placed the order), and one outbox row for
    webhooks. `payload` must be JSON-ready. Returns the event id receivers deduplicate on."""
    now = datetime.now(UTC)
    event_id = str(uuid.uuid4())
    rows = []
    if to_sellers:
        rows += [
            {"user_id": uid, "api_key_id": None, "audience": "seller"}
            for uid in _sellers(conn, org_id)
        ]
    if buyer and (buyer.get("user_id") or buyer.get("api_key_id")):
        rows.append(
            {"user_id": buyer.get("user_id"), "api_key_id": buyer.get("api_key_id"),
             "audience": "buyer"}
        )  # fmt: skip
    data = {"event_id": event_id, **payload}
    if rows:
        conn.execute(
            insert(notifications),
            [
                {**r, "org_id": org_id, "event": event, "order_id": order_id, "title": title,
                 "body": body, "data": data, "created_at": now}
                for r in rows
            ],
        )  # fmt: skip
    outbox_id = conn.execute(
        insert(outbox).values(
            org_id=org_id, event_id=event_id, event=event,
            payload={"id": event_id, "event": event, "created_at": now.isoformat(),
                     "org_id": org_id, "data": payload},
            created_at=now,
        ).returning(outbox.c.id)
    ).scalar_one()  # fmt: skip
    endpoints = [
        e.id
        for e in conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.events).where(
                webhook_endpoints.c.org_id == org_id, webhook_endpoints.c.active
            )
        )
        if subscribed(e.events, event)
    ]
    if endpoints:
        conn.execute(
            insert(webhook_deliveries),
            [{"org_id": org_id, "outbox_id": outbox_id, "endpoint_id": e, "status": "pending",
              "attempts": 0, "next_attempt_at": now} for e in endpoints],
        )  # fmt: skip
    return event_id

"""Domain events: stored notifications for the people concerned, an outbox row, and one pending
webhook delivery per active endpoint of the org subscribed to the event. All are written in the
transaction of the change that caused them, so an event (and what is owed to each endpoint)
exists exactly when its change committed; the scheduler then only sends what is due.

`emit` writes one event; `emit_many` writes a batch (the expiry job's) in a fixed number of
statements: the seller users and webhook endpoints of every org involved are read once, then
all notifications, outbox rows and deliveries are inserted in bulk. `Recipients` holds what one
org's events go to, so a caller that already read it (placing an order reads it with the rest of
what it needs) does not read it again."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Recipients:
    """What one org's events go to: its active seller-side users and active webhook endpoints
    (id, subscribed event names)."""

    sellers: tuple[int, ...]
    endpoints: tuple[tuple[int, tuple[str, ...]], ...]

    def hooks(self, event: str) -> list[int]:
        return [e for e, names in self.endpoints if subscribed(names, event)]


def seller_ids(rows: Iterable[tuple[int, Any]]) -> tuple[int, ...]:
    """The ids among (user id, roles) rows whose roles include a seller role."""
    return tuple(uid for uid, roles in rows if SELLER_ROLES & set(roles or ()))


def recipients(conn: Connection, org_ids: Iterable[int]) -> dict[int, Recipients]:
    """Recipients of each org, in two statements whatever the number of orgs."""
    ids = sorted(set(org_ids))
    people: dict[int, list[tuple[int, Any]]] = {o: [] for o in ids}
    hooks: dict[int, list[tuple[int, tuple[str, ...]]]] = {o: [] for o in ids}
    if ids:
        for r in conn.execute(
            select(users.c.org_id, users.c.id, users.c.roles)
            .where(users.c.org_id.in_(ids), users.c.active)
            .order_by(users.c.id)
        ):
            people[r.org_id].append((r.id, r.roles))
        for r in conn.execute(
            select(webhook_endpoints.c.org_id, webhook_endpoints.c.id, webhook_endpoints.c.events)
            .where(webhook_endpoints.c.org_id.in_(ids), webhook_endpoints.c.active)
            .order_by(webhook_endpoints.c.id)
        ):
            hooks[r.org_id].append((r.id, tuple(r.events or ())))
    return {o: Recipients(seller_ids(people[o]), tuple(hooks[o])) for o in ids}


@dataclass
class Event:
    """One event to record. `buyer` is {"user_id"} or {"api_key_id"} of whoever placed the
    order; `to_sellers` also tells the org's seller-side users. `payload` must be JSON-ready."""

    org_id: int
    event: str
    payload: dict[str, Any]
    title: str
    body: str
    to_sellers: bool = False
    buyer: dict[str, int | None] | None = None
    order_id: int | None = None
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Rows:
    """The rows an event writes: notifications, its outbox row and the endpoints it is owed
    to (their deliveries reference the outbox row's id)."""

    notifications: list[dict[str, Any]]
    outbox: dict[str, Any]
    endpoints: list[int]


def rows_of(ev: Event, to: Recipients, now: datetime) -> Rows:
    """The rows `ev` writes, as plain data (no I/O)."""
    people: list[dict[str, Any]] = []
    if ev.to_sellers:
        people += [{"user_id": uid, "api_key_id": None, "audience": "seller"} for uid in to.sellers]
    b = ev.buyer
    if b and (b.get("user_id") or b.get("api_key_id")):
        people.append(
            {"user_id": b.get("user_id"), "api_key_id": b.get("api_key_id"), "audience": "buyer"}
        )
    data = {"event_id": ev.event_id, **ev.payload}
    notes = [
        {**p, "org_id": ev.org_id, "event": ev.event, "order_id": ev.order_id, "title": ev.title,
         "body": ev.body, "data": data, "created_at": now}
        for p in people
    ]  # fmt: skip
    box = {
        "org_id": ev.org_id, "event_id": ev.event_id, "event": ev.event,
        "payload": {"id": ev.event_id, "event": ev.event, "created_at": now.isoformat(),
                    "org_id": ev.org_id, "data": ev.payload},
        "created_at": now,
    }  # fmt: skip
    return Rows(notes, box, to.hooks(ev.event))


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
    to: Recipients | None = None,
) -> str:
    """Record `event`: a notification per seller-side user (`to_sellers`) and one for the buyer
    (`buyer`: {"user_id"} or {"api_key_id"} of whoever placed the order), and one outbox row for
    webhooks. `payload` must be JSON-ready. Returns the event id receivers deduplicate on."""
    ev = Event(org_id, event, payload, title, body, to_sellers, buyer, order_id)
    return emit_many(conn, [ev], {org_id: to} if to is not None else None)[0]


def emit_many(
    conn: Connection, evs: Sequence[Event], known: dict[int, Recipients] | None = None
) -> list[str]:
    """Record a batch of events in at most five statements (recipients of the orgs not in
    `known`, notifications, outbox rows, deliveries). Returns their event ids, in order."""
    if not evs:
        return []
    to = dict(known or {})
    missing = {e.org_id for e in evs} - set(to)
    if missing:
        to.update(recipients(conn, missing))
    now = datetime.now(UTC)
    planned = [rows_of(e, to[e.org_id], now) for e in evs]
    notes = [n for p in planned for n in p.notifications]
    if notes:
        conn.execute(insert(notifications), notes)
    boxes = [p.outbox for p in planned]
    if len(boxes) == 1:
        ids = [conn.execute(insert(outbox).values(**boxes[0]).returning(outbox.c.id)).scalar_one()]
    else:
        ids = list(
            conn.execute(
                insert(outbox).returning(outbox.c.id, sort_by_parameter_order=True), boxes
            ).scalars()
        )
    owed = [
        {"org_id": e.org_id, "outbox_id": box_id, "endpoint_id": hook, "status": "pending",
         "attempts": 0, "next_attempt_at": now}
        for e, p, box_id in zip(evs, planned, ids, strict=True)
        for hook in p.endpoints
    ]  # fmt: skip
    if owed:
        conn.execute(insert(webhook_deliveries), owed)
    return [e.event_id for e in evs]

"""The caller's own notifications (written by `hoop.service.events.emit`): list, mark read.

A user sees the rows addressed to them (`user_id`), an API key the rows addressed to it
(`api_key_id`, the buyer side of orders it placed). Anyone else's row is a 404.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, false, func, select, update

from hoop.adapters.db.tables import notifications
from hoop.domain.errors import NotFound
from hoop.service import audit
from hoop.service.context import Actor

n = notifications
FIELDS = (n.c.id, n.c.event, n.c.title, n.c.body, n.c.data, n.c.order_id, n.c.audience,
          n.c.created_at, n.c.read_at)  # fmt: skip


def _mine(actor: Actor) -> ColumnElement[bool]:
    if actor.kind == "api_key" and actor.api_key_id is not None:
        return (n.c.org_id == actor.org_id) & (n.c.api_key_id == actor.api_key_id)
    if actor.kind == "user" and actor.user_id is not None:
        return (n.c.org_id == actor.org_id) & (n.c.user_id == actor.user_id)
    return false()


def list_notifications(
    conn: Connection, actor: Actor, limit: int, before: int | None, unread: bool | None = None
) -> list[dict[str, Any]]:
    """Newest first; `unread` True: only unread ones, False: only read ones."""
    actor.require("notifications.read")
    stmt = select(*FIELDS).where(_mine(actor))
    if unread is not None:
        stmt = stmt.where(n.c.read_at.is_(None) if unread else n.c.read_at.is_not(None))
    if before is not None:
        stmt = stmt.where(n.c.id < before)
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(n.c.id.desc()).limit(limit))]


def unread_count(conn: Connection, actor: Actor) -> int:
    actor.require("notifications.read")
    return int(
        conn.execute(
            select(func.count()).select_from(n).where(_mine(actor), n.c.read_at.is_(None))
        ).scalar_one()
    )


def mark_read(conn: Connection, actor: Actor, notification_id: int) -> dict[str, Any]:
    """Mark one read (a repeat keeps the first read time) and return it."""
    actor.require("notifications.read")
    row = conn.execute(select(*FIELDS).where(n.c.id == notification_id, _mine(actor))).first()
    if row is None:
        raise NotFound("no such notification", {"id": notification_id})
    out = dict(row._mapping)
    if out["read_at"] is None:
        now = datetime.now(UTC)
        conn.execute(
            update(n).where(n.c.id == notification_id, n.c.read_at.is_(None)).values(read_at=now)
        )
        out["read_at"] = now
        audit.record(
            conn, actor, "notification.read", "notification", notification_id, None,
            {"read_at": now},
        )  # fmt: skip
    return out


def mark_all_read(conn: Connection, actor: Actor) -> dict[str, int]:
    actor.require("notifications.read")
    now = datetime.now(UTC)
    count = conn.execute(
        update(n).where(_mine(actor), n.c.read_at.is_(None)).values(read_at=now)
    ).rowcount
    if count:
        audit.record(
            conn, actor, "notification.read_all", "notification", None, None, {"updated": count}
        )
    return {"updated": count}

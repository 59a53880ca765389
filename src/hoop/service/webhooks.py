"""Webhook endpoints: register, list, change, delete, and each one's delivery log.

An endpoint gets the events emitted after it was created, for the names it subscribes to
(delivery itself is `hoop.adapters.outbox`). Its secret, the HMAC key of `Hoop-Signature`, is
made here and returned by the create call only; it is kept in clear because signing needs it.
Disabling an endpoint (`active: false`) or deleting it cancels what it has not yet received.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from hoop.adapters.db.tables import outbox, webhook_deliveries, webhook_endpoints
from hoop.domain import webhooks as rules
from hoop.domain.errors import Conflict, NotFound, ValidationFailed
from hoop.service import audit
from hoop.service.context import Actor

we, wd = webhook_endpoints, webhook_deliveries
SECRET_PREFIX = "whsec_"
PUBLIC = (we.c.id, we.c.url, we.c.events, we.c.active, we.c.created_at)
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def _get(conn: Connection, actor: Actor, endpoint_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(*PUBLIC).where(we.c.id == endpoint_id, we.c.org_id == actor.org_id)
    ).first()
    if row is None:
        raise NotFound("no such webhook endpoint", {"id": endpoint_id})
    return dict(row._mapping)


def create_endpoint(conn: Connection, actor: Actor, values: dict[str, Any]) -> dict[str, Any]:
    actor.require("webhooks.manage")
    url = rules.check_url(values.get("url") or "")
    events = rules.check_events(values.get("events") or [])
    active = values.get("active")
    active = True if active is None else bool(active)
    count = conn.execute(
        select(func.count()).select_from(we).where(we.c.org_id == actor.org_id)
    ).scalar_one()
    if count >= rules.MAX_ENDPOINTS_PER_ORG:
        raise Conflict(
            f"an org may have at most {rules.MAX_ENDPOINTS_PER_ORG} webhook endpoints",
            {"limit": rules.MAX_ENDPOINTS_PER_ORG},
            code="too_many_webhooks",
        )
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    endpoint_id = conn.execute(
        insert(we)
        .values(org_id=actor.org_id, url=url, events=events, secret=secret, active=active,
                created_at=now)
        .returning(we.c.id)
    ).scalar_one()  # fmt: skip
    out = {"id": endpoint_id, "url": url, "events": events, "active": active, "created_at": now}
    audit.record(conn, actor, "webhook.create", "webhook", endpoint_id, None, out)
    return {**out, "secret": secret}


def list_endpoints(
    conn: Connection, actor: Actor, limit: int, after: int | None
) -> list[dict[str, Any]]:
    actor.require("webhooks.manage")
    stmt = select(*PUBLIC).where(we.c.org_id == actor.org_id)
    if after is not None:
        stmt = stmt.where(we.c.id > after)
    return [dict(r._mapping) for r in conn.execute(stmt.order_by(we.c.id).limit(limit))]


def get_endpoint(conn: Connection, actor: Actor, endpoint_id: int) -> dict[str, Any]:
    actor.require("webhooks.manage")
    return _get(conn, actor, endpoint_id)


def _cancel_pending(conn: Connection, actor: Actor, endpoint_id: int, why: str) -> None:
    conn.execute(
        update(wd)
        .where(wd.c.endpoint_id == endpoint_id, wd.c.org_id == actor.org_id,
               wd.c.status == "pending")
        .values(status="failed", last_error=why)
    )  # fmt: skip


def update_endpoint(
    conn: Connection, actor: Actor, endpoint_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    actor.require("webhooks.manage")
    if set(changes) - {"url", "events", "active"}:
        raise ValidationFailed("only url, events and active can be changed")
    before = _get(conn, actor, endpoint_id)
    values: dict[str, Any] = {}
    if changes.get("url") is not None:
        values["url"] = rules.check_url(changes["url"])
    if changes.get("events") is not None:
        values["events"] = rules.check_events(changes["events"])
    if changes.get("active") is not None:
        values["active"] = bool(changes["active"])
    values = {k: v for k, v in values.items() if v != before[k]}
    if not values:
        return before
    conn.execute(update(we).where(we.c.id == endpoint_id).values(**values))
    if values.get("active") is False:
        _cancel_pending(conn, actor, endpoint_id, "endpoint disabled before delivery")
    audit.record(
        conn, actor, "webhook.update", "webhook", endpoint_id,
        {k: before[k] for k in values}, values,
    )  # fmt: skip
    return {**before, **values}


def delete_endpoint(conn: Connection, actor: Actor, endpoint_id: int) -> None:
    """Delete the endpoint and its delivery log; nothing more is sent to it."""
    actor.require("webhooks.manage")
    before = _get(conn, actor, endpoint_id)
    conn.execute(delete(wd).where(wd.c.endpoint_id == endpoint_id, wd.c.org_id == actor.org_id))
    conn.execute(delete(we).where(we.c.id == endpoint_id))
    audit.record(conn, actor, "webhook.delete", "webhook", endpoint_id, before, None)


def list_deliveries(
    conn: Connection,
    actor: Actor,
    endpoint_id: int,
    limit: int,
    before: int | None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The endpoint's deliveries, newest first."""
    actor.require("webhooks.manage")
    _get(conn, actor, endpoint_id)
    stmt = (
        select(wd.c.id, outbox.c.event, outbox.c.event_id, wd.c.status, wd.c.attempts,
               wd.c.next_attempt_at, wd.c.last_error, wd.c.delivered_at,
               outbox.c.created_at.label("created_at"))
        .join(outbox, outbox.c.id == wd.c.outbox_id)
        .where(wd.c.endpoint_id == endpoint_id, wd.c.org_id == actor.org_id)
    )  # fmt: skip
    if status is not None:
        if status not in DELIVERY_STATUSES:
            raise ValidationFailed("status must be pending, delivered or failed")
        stmt = stmt.where(wd.c.status == status)
    if before is not None:
        stmt = stmt.where(wd.c.id < before)
    rows = conn.execute(stmt.order_by(wd.c.id.desc()).limit(limit)).all()
    return [
        {**r._mapping, "next_attempt_at": r.next_attempt_at if r.status == "pending" else None}
        for r in rows
    ]

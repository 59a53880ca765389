"""Notifications: what happened to the signed-in user's orders (a new order request with its
deadline, a confirmed order, ...) and stock (low-stock alerts), newest first, the unread ones
marked. Opening one marks it read and goes to what it is about; the rest can be marked read
one by one or all at once, staying on the list as it was."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.entrypoints.web.common import PathId, Web, WebDep, page_cursor, redirect, web_router
from hoop.service import notifications as notifications_svc
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
PAGE = 20
# the deadline a notification asks its reader to meet: the field in its data, and the order
# status in which that deadline still runs
DEADLINES = {
    "order.requested": ("respond_by", "pending_seller"),
    "order.payment_requested": ("pay_by", "awaiting_payment"),
}


def _deadline(item: dict[str, Any], order_status: str | None) -> tuple[datetime | None, bool]:
    """The deadline the notification asked its reader to meet (None when it named none or an
    unreadable one; one without an offset is UTC), and whether it still runs: the order still
    waits for that answer."""
    spec, data = DEADLINES.get(item["event"]), item["data"]
    raw = data.get(spec[0]) if spec and isinstance(data, dict) else None
    if not spec or not isinstance(raw, str):
        return None, False
    try:
        due = datetime.fromisoformat(raw)
    except ValueError:
        return None, False
    return due if due.tzinfo is not None else due.replace(tzinfo=UTC), order_status == spec[1]


def _target(item: dict[str, Any]) -> tuple[str, str] | None:
    """Where opening a notification goes, and the button's words."""
    if item["order_id"]:
        return f"/orders/{item['order_id']}", f"Open order #{item['order_id']}"
    if item["event"] == "stock.low":
        return "/replenishment", "Open replenishment"
    return None


@router.get("/notifications")
def notification_list(web: WebDep, request: Request) -> Response:
    p = request.query_params
    unread_only = p.get("show") == "unread"
    after = page_cursor(p.get("cursor"))

    def load(conn: Connection, actor: Actor) -> tuple[list[dict[str, Any]], dict[int, str]]:
        items = notifications_svc.list_notifications(
            conn, actor, PAGE, after, True if unread_only else None
        )
        ids = sorted({n["order_id"] for n in items if n["order_id"]})
        return items, wq.order_statuses(conn, actor, ids)

    items, statuses = web.read(load, "notifications.read")
    for item in items:
        item["order_status"] = statuses.get(item["order_id"])
        item["due"], item["due_open"] = _deadline(item, item["order_status"])
        item["target"] = _target(item)
    nxt = str(items[-1]["id"]) if len(items) == PAGE else None
    params = {"show": "unread" if unread_only else None,
              "cursor": str(after) if after else None}  # fmt: skip
    return web.page("notifications.html", items=items, unread_only=unread_only, params=params,
                    next_cursor=nxt)  # fmt: skip


def _list_url(web: Web) -> str:
    """The list as the form was sent from (its filter and page), built here: the form names
    them, never a URL."""
    show = "unread" if web.field("show") == "unread" else None
    cursor = page_cursor(web.field("cursor"))
    q = urlencode({k: v for k, v in (("show", show), ("cursor", cursor)) if v is not None})
    return "/notifications" + (f"?{q}" if q else "")


@router.post("/notifications/read-all")
def read_all(web: WebDep) -> Response:
    done = web.write(lambda conn, actor: notifications_svc.mark_all_read(conn, actor))
    n = done["updated"]
    message = "Nothing was unread." if not n else (
        f"{n} notification{'s' if n != 1 else ''} marked read.")  # fmt: skip
    return redirect(_list_url(web), message, web.request)


@router.post("/notifications/{notification_id}/read")
def read_one(notification_id: PathId, web: WebDep) -> Response:
    """Mark it read; with `open`, go to what it is about, else back to the list."""
    item = web.write(lambda conn, actor: notifications_svc.mark_read(conn, actor, notification_id))
    target = _target(item) if web.field("open") else None
    return redirect(target[0] if target else _list_url(web), None, web.request)

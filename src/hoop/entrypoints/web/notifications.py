"""Notifications: what happened to the signed-in user's orders (a new order request with its
deadline, a confirmed order, ...), newest first, the unread ones marked. Opening one marks it
read and goes to its order; the rest can be marked read one by one or all at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request, Response

from hoop.entrypoints.web.common import PathId, Web, WebDep, page_cursor, redirect, web_router
from hoop.service import notifications as notifications_svc

router = web_router()
PAGE = 20
# the deadline a notification asks the reader to meet, by its event
DEADLINES = {"order.requested": "respond_by", "order.payment_requested": "pay_by"}


def _deadline(item: dict[str, Any]) -> datetime | None:
    field = DEADLINES.get(item["event"])
    raw = (item["data"] or {}).get(field) if field and isinstance(item["data"], dict) else None
    try:
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


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
    items = web.read(
        lambda conn, actor: notifications_svc.list_notifications(
            conn, actor, PAGE, after, True if unread_only else None
        ),
        "notifications.read",
    )
    for item in items:
        item["deadline"], item["target"] = _deadline(item), _target(item)
    nxt = str(items[-1]["id"]) if len(items) == PAGE else None
    params = {"show": "unread" if unread_only else None,
              "cursor": p.get("cursor") if after else None}  # fmt: skip
    return web.page("notifications.html", items=items, unread_only=unread_only, params=params,
                    next_cursor=nxt)  # fmt: skip


def _next(web: Web) -> str:
    """Where to go after marking: back to the list as it was, or to what it was about."""
    back = web.field("back")
    ok = back.startswith(("/notifications", "/orders/", "/replenishment")) and not (
        back.startswith("//"))  # fmt: skip
    return back if ok else "/notifications"


@router.post("/notifications/read-all")
def read_all(web: WebDep) -> Response:
    done = web.write(lambda conn, actor: notifications_svc.mark_all_read(conn, actor))
    n = done["updated"]
    message = "Nothing was unread." if not n else (
        f"{n} notification{'s' if n != 1 else ''} marked read.")  # fmt: skip
    return redirect(_next(web), message, web.request)


@router.post("/notifications/{notification_id}/read")
def read_one(notification_id: PathId, web: WebDep) -> Response:
    web.write(lambda conn, actor: notifications_svc.mark_read(conn, actor, notification_id))
    return redirect(_next(web), None, web.request)

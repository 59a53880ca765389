"""The caller's notifications (a user's own, or an API key's own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, Page, PathId, ReadAs, UoW, mutate, respond
from hoop.service import notifications

router = APIRouter(tags=["webhooks and notifications"])


@router.get("/notifications", response_model=s.NotificationsOut)
def list_notifications(
    read: ReadAs,
    page: Page,
    unread: Annotated[
        bool | None, Query(description="true: only unread ones; false: only read ones")
    ] = None,
) -> JSONResponse:
    """Newest first."""
    items, count = read(
        "notifications.read",
        lambda conn, actor: (
            notifications.list_notifications(conn, actor, page.limit, page.after, unread),
            notifications.unread_count(conn, actor),
        ),
    )
    return respond({**page.page(items), "unread_count": count})


@router.post("/notifications/read-all", response_model=s.ReadAllOut)
def read_all(actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
    return mutate(
        request, uow, actor.org_id, None, lambda conn: notifications.mark_all_read(conn, actor)
    )


@router.post("/notifications/{notification_id}/read", response_model=s.NotificationOut)
def read_one(
    notification_id: PathId, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        None,
        lambda conn: notifications.mark_read(conn, actor, notification_id),
    )

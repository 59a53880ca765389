"""Webhook endpoints: where the org's events are POSTed, signed (see hoop.adapters.outbox)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, Page, PathId, ReadAs, UoW, dump, mutate, respond
from hoop.service import webhooks

router = APIRouter(tags=["webhooks and notifications"])


@router.post("/webhooks", status_code=201, response_model=s.WebhookCreatedOut)
def create_webhook(
    body: s.WebhookIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """Register an endpoint. The response carries its `secret` (the HMAC key of
    `Hoop-Signature`); no later call shows it again. It gets the events emitted from now on."""
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: webhooks.create_endpoint(conn, actor, dump(body)),
        201,
    )


@router.get("/webhooks", response_model=s.Page[s.WebhookOut])
def list_webhooks(read: ReadAs, page: Page) -> JSONResponse:
    items = read(
        "webhooks.manage",
        lambda conn, actor: webhooks.list_endpoints(conn, actor, page.limit, page.after),
    )
    return respond(page.page(items))


@router.get("/webhooks/{webhook_id}", response_model=s.WebhookOut)
def get_webhook(webhook_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(
        read("webhooks.manage", lambda conn, actor: webhooks.get_endpoint(conn, actor, webhook_id))
    )


@router.patch("/webhooks/{webhook_id}", response_model=s.WebhookOut)
def patch_webhook(
    webhook_id: PathId, body: s.WebhookPatch, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: webhooks.update_endpoint(conn, actor, webhook_id, dump(body)),
    )


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: PathId, actor: CurrentActor, uow: UoW) -> Response:
    """Delete the endpoint and its delivery log; nothing more is sent to it."""
    uow.write(lambda conn: webhooks.delete_endpoint(conn, actor, webhook_id))
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=s.Page[s.WebhookDeliveryOut])
def list_deliveries(
    webhook_id: PathId,
    read: ReadAs,
    page: Page,
    status: Literal["pending", "delivered", "failed"] | None = None,
) -> JSONResponse:
    """The endpoint's deliveries, newest first."""
    items = read(
        "webhooks.manage",
        lambda conn, actor: webhooks.list_deliveries(
            conn, actor, webhook_id, page.limit, page.after, status
        ),
    )
    return respond(page.page(items))

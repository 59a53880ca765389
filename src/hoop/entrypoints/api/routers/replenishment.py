"""Replenishment planning (policies, suggestions, suggestions → purchase orders, projection)
and low-stock alerts."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api import schemas_replenishment as sr
from hoop.entrypoints.api.deps import CurrentActor, Page, PathId, ReadAs, UoW, dump, mutate, respond
from hoop.service import alerts, replenishment

router = APIRouter(tags=["replenishment"])

Sku = Annotated[str | None, Query(min_length=1, max_length=64)]
LocationId = Annotated[int | None, Query(ge=1, le=2**62)]


@router.put("/replenishment/policies", response_model=sr.PolicyOut)
def put_policy(body: sr.PolicyIn, actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
    """Create or replace the policy of one variant at one location. `minmax` is in every plan;
    `eoq` (and safety stock computed from demand) needs Pro. The reorder point is computed at
    once and the low-stock alert re-evaluated."""
    return mutate(request, uow, actor.org_id, body,
                  lambda conn: replenishment.put_policy(conn, actor, dump(body)))  # fmt: skip


@router.get("/replenishment/policies", response_model=s.Page[sr.PolicyOut])
def list_policies(
    read: ReadAs, page: Page, sku: Sku = None, location_id: LocationId = None
) -> JSONResponse:
    items = read("replenishment.read", lambda conn, actor: replenishment.list_policies(
        conn, actor, sku, location_id, page.limit, page.after))  # fmt: skip
    return respond(page.page(items))


@router.delete("/replenishment/policies/{policy_id}")
def delete_policy(
    policy_id: PathId, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(request, uow, actor.org_id, None,
                  lambda conn: replenishment.delete_policy(conn, actor, policy_id))  # fmt: skip


@router.get("/replenishment/suggestions", response_model=s.Page[sr.SuggestionOut])
def suggestions(
    read: ReadAs, page: Page, sku: Sku = None, location_id: LocationId = None,
    supplier_id: LocationId = None,
) -> JSONResponse:  # fmt: skip
    """Every variant-location at or under its reorder point, with the quantity to order and a
    sentence saying why. Paged in policy order (`cursor` is the last `policy_id`)."""
    items = read("replenishment.read", lambda conn, actor: replenishment.suggestions(
        conn, actor, sku=sku, location_id=location_id, supplier_id=supplier_id,
        limit=page.limit, after=page.after))  # fmt: skip
    return respond(page.page(items, key="policy_id"))


@router.post(
    "/replenishment/suggestions/purchase-orders", status_code=201,
    response_model=sr.SuggestedPosOut,
)  # fmt: skip
def suggestions_to_purchase_orders(
    actor: CurrentActor, request: Request, uow: UoW, body: sr.SuggestionsToPosIn | None = None
) -> JSONResponse:
    """Draft purchase orders from the current suggestions (optionally only these skus, or
    exactly these suggestions by `policy_ids`: one variant at one location each), one per
    supplier; what cannot be ordered is listed in `skipped` with the reason. A policy id of
    no policy is a 404, one that is not suggested now a 422; either way nothing is made."""
    data = dump(body) if body else {}
    return mutate(request, uow, actor.org_id, body,
                  lambda conn: replenishment.suggestions_to_purchase_orders(conn, actor, data),
                  201)  # fmt: skip


@router.get("/replenishment/projection", response_model=sr.ProjectionOut)
def projection(
    read: ReadAs, sku: Sku = None, variant_id: LocationId = None, location_id: LocationId = None,
    days: Annotated[int | None, Query(ge=1, le=365)] = None,
) -> JSONResponse:  # fmt: skip
    """Available stock day by day over the coming lead times: demand taken off, open purchase
    orders added on their expected dates."""
    return respond(read("replenishment.read", lambda conn, actor: replenishment.projection(
        conn, actor, sku, variant_id, location_id, days)))  # fmt: skip


@router.get("/alerts", response_model=s.Page[sr.AlertOut])
def list_alerts(
    read: ReadAs, page: Page,
    type: Annotated[Literal["low_stock"] | None, Query()] = None,  # noqa: A002
    status: Annotated[Literal["open", "resolved", "all"] | None, Query()] = None,
) -> JSONResponse:  # fmt: skip
    """Open alerts (or `status=resolved|all`), newest first."""
    items = read("alerts.read", lambda conn, actor: alerts.list_alerts(
        conn, actor, type, status, page.limit, page.after))  # fmt: skip
    return respond(page.page(items))

"""Catalog and locations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, Page, PathId, ReadAs, UoW, dump, mutate, respond
from hoop.service import catalog

router = APIRouter(tags=["catalog and locations"])


@router.post("/products", status_code=201, response_model=s.ProductOut)
def create_product(
    body: s.ProductIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: catalog.create_product(conn, actor, dump(body)),
        201,
    )


@router.get("/products", response_model=s.Page[s.ProductOut])
def list_products(
    read: ReadAs,
    page: Page,
    q: Annotated[str | None, Query(max_length=100)] = None,
    status: Literal["draft", "active", "archived"] | None = None,
) -> JSONResponse:
    items = read(
        "catalog.read",
        lambda conn, actor: catalog.list_products(conn, actor, page.limit, page.after, q, status),
    )
    return respond(page.page(items))


@router.get("/products/{product_id}", response_model=s.ProductOut)
def get_product(product_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(
        read("catalog.read", lambda conn, actor: catalog.get_product(conn, actor, product_id))
    )


@router.patch("/products/{product_id}", response_model=s.ProductOut)
def patch_product(
    product_id: PathId, body: s.ProductPatch, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: catalog.update_product(conn, actor, product_id, dump(body)),
    )


@router.get("/variants", response_model=s.Page[s.VariantOut])
def list_variants(
    read: ReadAs,
    page: Page,
    sku: Annotated[str | None, Query(max_length=64)] = None,
    gtin: Annotated[str | None, Query(max_length=14)] = None,
) -> JSONResponse:
    items = read(
        "catalog.read",
        lambda conn, actor: catalog.find_variants(conn, actor, sku, gtin, page.limit, page.after),
    )
    return respond(page.page(items))


@router.post("/locations", status_code=201, response_model=s.LocationOut)
def create_location(
    body: s.LocationIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: catalog.create_location(conn, actor, dump(body)),
        201,
    )


@router.get("/locations", response_model=s.Page[s.LocationOut])
def list_locations(
    read: ReadAs,
    page: Page,
    type: Annotated[str | None, Query(max_length=20)] = None,
) -> JSONResponse:
    items = read(
        "catalog.read",
        lambda conn, actor: catalog.list_locations(conn, actor, page.limit, page.after, type),
    )
    return respond(page.page(items))


@router.get("/locations/{location_id}", response_model=s.LocationOut)
def get_location(location_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(
        read("catalog.read", lambda conn, actor: catalog.get_location(conn, actor, location_id))
    )


@router.patch("/locations/{location_id}", response_model=s.LocationOut)
def patch_location(
    location_id: PathId, body: s.LocationPatch, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: catalog.update_location(conn, actor, location_id, dump(body)),
    )

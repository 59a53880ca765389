"""Stock documents, availability and the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from hoop.domain.errors import ValidationFailed
from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, Page, PathId, ReadAs, UoW, dump, mutate, respond
from hoop.service import queries, stock

router = APIRouter(tags=["stock"])
QId = Annotated[int | None, Query(ge=1, le=2**62)]
Sku = Annotated[str | None, Query(max_length=64)]


@router.post("/stock-documents", status_code=201, response_model=s.DocumentOut)
def create_document(
    body: s.DocumentIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: stock.create_document(conn, actor, dump(body)),
        201,
    )


@router.post("/stock-documents/batch", status_code=201, response_model=s.DocumentBatchOut)
def create_documents(
    body: s.DocumentBatchIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """Create many documents in one transaction: all of them or none (at most 1,000
    documents and 50,000 lines)."""
    docs = dump(body)["documents"]
    if sum(len(d["lines"]) for d in docs) > 50_000:
        raise ValidationFailed("a batch holds at most 50,000 lines", {"field": "documents"})
    return mutate(
        request, uow, actor.org_id, body,
        lambda conn: {"documents": stock.create_documents(conn, actor, docs)}, 201,
    )  # fmt: skip


@router.get("/stock-documents", response_model=s.Page[s.DocumentOut])
def list_documents(
    read: ReadAs,
    page: Page,
    state: Annotated[str | None, Query(max_length=20)] = None,
    type: Annotated[str | None, Query(max_length=20)] = None,
) -> JSONResponse:
    items = read(
        "stock.read",
        lambda conn, actor: stock.list_documents(conn, actor, page.limit, page.after, state, type),
    )
    return respond(page.page(items))


@router.get("/stock-documents/{doc_id}", response_model=s.DocumentOut)
def get_document(doc_id: PathId, read: ReadAs) -> JSONResponse:
    return respond(read("stock.read", lambda conn, actor: stock.get_document(conn, actor, doc_id)))


def _command(name: Literal["submit", "approve", "cancel", "receive"]):  # type: ignore[no-untyped-def]
    def handler(doc_id: PathId, actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
        fn = getattr(stock, name)
        return mutate(request, uow, actor.org_id, None, lambda conn: fn(conn, actor, doc_id))

    handler.__name__ = f"{name}_document"
    return handler


for _name in ("submit", "approve", "cancel", "receive"):
    router.add_api_route(
        f"/stock-documents/{{doc_id}}/{_name}",
        _command(_name),  # type: ignore[arg-type]
        methods=["POST"],
        response_model=s.DocumentOut,
        name=f"{_name}_document",
    )


@router.post("/stock-documents/{doc_id}/reject", response_model=s.DocumentOut)
def reject_document(
    doc_id: PathId, body: s.RejectIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: stock.reject(conn, actor, doc_id, dump(body)["reason"]),
    )


@router.get("/stock/availability", response_model=s.AvailabilityOut)
def availability(
    read: ReadAs, sku: Sku = None, variant_id: QId = None, location_id: QId = None
) -> JSONResponse:
    return respond(
        read(
            "stock.read",
            lambda conn, actor: queries.availability(conn, actor, sku, variant_id, location_id),
        )
    )


@router.get("/stock/moves", response_model=s.Page[s.MoveOut])
def moves(
    read: ReadAs,
    page: Page,
    sku: Sku = None,
    variant_id: QId = None,
    location_id: QId = None,
    document_id: QId = None,
    from_: Annotated[datetime | None, Query(alias="from")] = None,
    to: datetime | None = None,
) -> JSONResponse:
    for t in (from_, to):
        if t is not None and t.tzinfo is None:
            raise ValidationFailed("from and to need a time zone", {"field": "from"})
    items = read(
        "stock.read",
        lambda conn, actor: queries.list_moves(
            conn,
            actor,
            sku=sku,
            variant_id=variant_id,
            location_id=location_id,
            from_=from_,
            to=to,
            document_id=document_id,
            limit=page.limit,
            after=page.after,
        ),
    )
    return respond(page.page(items))

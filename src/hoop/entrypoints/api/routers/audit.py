"""The audit trail and its verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, Page, ReadAs, UoW, respond
from hoop.service import audit, queries

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=s.Page[s.AuditOut])
def list_audit(
    read: ReadAs,
    page: Page,
    object_type: Annotated[str | None, Query(max_length=40)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> JSONResponse:
    items = read(
        "audit.read",
        lambda conn, actor: queries.list_audit(
            conn,
            actor,
            limit=page.limit,
            before=page.after,
            object_type=object_type,
            object_id=object_id,
            action=action,
        ),
    )
    return respond(page.page(items))


@router.post("/audit/verify", response_model=s.VerifyOut)
def verify(actor: CurrentActor, uow: UoW) -> JSONResponse:
    """Seal pending events into the chain, then recompute the whole chain."""
    actor.require("audit.read")
    sealed, problems = uow.write(
        lambda conn: (audit.seal(conn, actor.org_id), audit.verify_chain(conn, actor.org_id))
    )
    return respond({"ok": not problems, "sealed": sealed, "problems": problems})

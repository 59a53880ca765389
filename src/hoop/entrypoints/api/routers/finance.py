"""Valuation, COGS, journal and reconciliation reports; accounting periods; re-costing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Connection

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, ReadAs, UoW, dump, mutate, respond
from hoop.service import costing, exports, reports
from hoop.service.context import Actor

router = APIRouter(tags=["finance"])
When = Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD or a time with zone")]
Format = Annotated[s.ReportFormat, Query(description="json, csv or xlsx")]
QId = Annotated[int | None, Query(ge=1, le=2**62)]

FILES = {
    200: {
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            exports.MEDIA["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "the report (JSON, or a CSV / XLSX download with ?format=)",
    }
}


def _report(
    read: ReadAs,
    kind: str,
    fmt: str,
    fn: Callable[[Connection, Actor], dict[str, Any]],
) -> Response:
    def run(conn: Connection, actor: Actor) -> dict[str, Any]:
        if fmt != "json" and kind in ("journal", "reconciliation"):
            actor.require("reports.read", feature="reports.advanced")  # journal export
        return fn(conn, actor)

    data = read("reports.read", run)
    if fmt == "json":
        return respond(data)
    body, media = exports.render(kind, data, fmt)
    name = exports.filename(kind, data, fmt)
    return Response(body, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


@router.get("/reports/valuation", response_model=s.ValuationOut, responses=FILES)
def valuation(
    read: ReadAs,
    as_of: When = None,
    location_id: QId = None,
    by_location: bool = False,
    format: Format = "json",
) -> Response:
    """Stock value per SKU as of a date (its end) or time; default now. With `location_id`
    (its subtree) or `by_location`, per location at the SKU's unit cost."""
    return _report(read, "valuation", format, lambda conn, actor: reports.valuation(
        conn, actor, as_of=as_of, location_id=location_id, by_location=by_location))  # fmt: skip


@router.get("/reports/cogs", response_model=s.CogsOut, responses=FILES)
def cogs(
    read: ReadAs,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: When = None,
    period: Annotated[str, Query(pattern="^(day|month)$")] = "month",
    format: Format = "json",
) -> Response:
    """Cost of goods sold per SKU and per period; dates inclusive, default this month."""
    return _report(read, "cogs", format, lambda conn, actor: reports.cogs(
        conn, actor, date_from=from_, date_to=to, period=period))  # fmt: skip


@router.get("/reports/journal", response_model=s.JournalOut, responses=FILES)
def journal(
    read: ReadAs,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: When = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    cursor: Annotated[str | None, Query(max_length=80)] = None,
    format: Format = "json",
) -> Response:
    """Accounting entries, two lines each (debit, credit). CSV/XLSX export (all entries in the
    range) needs the enterprise plan."""
    return _report(read, "journal", format, lambda conn, actor: reports.journal(
        conn, actor, date_from=from_, date_to=to,
        limit=limit if format == "json" else None, cursor=cursor))  # fmt: skip


@router.get("/reports/reconciliation", response_model=s.ReconciliationOut, responses=FILES)
def reconciliation(read: ReadAs, deep: bool = False, format: Format = "json") -> Response:
    """Ledger value = cost layers = journal Inventory balance, to the cent, per SKU; `deep`
    also recosts every history from the moves. Enterprise plan."""
    return _report(read, "reconciliation", format,
                   lambda conn, actor: reports.reconciliation(conn, actor, deep=deep))  # fmt: skip


@router.post("/periods/close", response_model=s.PeriodCloseOut)
def close_period(
    body: s.PeriodCloseIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    """Close the books through `until`: nothing may be posted or backdated before it."""
    return mutate(request, uow, actor.org_id, body,
                  lambda conn: costing.close_period(conn, actor, dump(body)))  # fmt: skip


@router.get("/periods", response_model=s.PeriodsOut)
def periods(read: ReadAs) -> JSONResponse:
    return respond(read("reports.read", lambda conn, actor: costing.list_closes(conn, actor)))


@router.post("/costing/recompute", response_model=s.RecomputeOut)
def recompute(body: s.RecomputeIn, actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
    """Cost the org's whole history again from the moves. `check_only` (default) lists stored
    values that differ; otherwise rewrites them, with correcting journal entries."""
    actor.require("periods.close")
    check = dump(body).get("check_only", True)
    return mutate(request, uow, actor.org_id, body,
                  lambda conn: costing.recompute(conn, actor.org_id, check_only=check,
                                                   actor=actor))  # fmt: skip

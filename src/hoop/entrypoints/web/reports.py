"""Reports: valuation as of a date, COGS by period, reconciliation; CSV and XLSX downloads made
by the same `service.exports` the API and the CLI use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.domain.errors import HoopError, NotFound
from hoop.entrypoints.web.common import WebDep, int_or_none, redirect, web_router
from hoop.service import exports, reports
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
SHOWN = 200  # report lines shown per page; downloads hold them all


Run = Callable[[Connection, Actor], dict[str, Any]]


def _valuation(p: Any, page: tuple[int, int] | None = None) -> Run:
    """The report `p` asks for: in full (a download), or only the lines of `page` (offset,
    limit) with the whole report's totals (`line_count` says how many lines it has)."""
    as_of = (p.get("as_of") or "").strip()[:40] or None
    loc = int_or_none(p.get("location"))
    if page is None:
        return lambda conn, actor: reports.valuation(conn, actor, as_of=as_of, location_id=loc)
    return lambda conn, actor: reports.valuation_page(
        conn, actor, as_of=as_of, location_id=loc, offset=page[0], limit=page[1]
    )


def _cogs(p: Any, page: tuple[int, int] | None = None) -> Run:
    period = p.get("period") if p.get("period") in ("day", "month") else "month"
    dates = {"date_from": (p.get("from") or "").strip()[:40] or None,
             "date_to": (p.get("to") or "").strip()[:40] or None, "period": period}  # fmt: skip
    if page is None:
        return lambda conn, actor: reports.cogs(conn, actor, **dates)
    return lambda conn, actor: reports.cogs_page(
        conn, actor, **dates, offset=page[0], limit=page[1]
    )


def _reconciliation(p: Any, page: tuple[int, int] | None = None) -> Run:
    return lambda conn, actor: reports.reconciliation(conn, actor)


KINDS = {"valuation": _valuation, "cogs": _cogs, "reconciliation": _reconciliation}


@router.get("/reports")
def reports_home() -> Response:
    return redirect("/reports/valuation")


def _offset(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 9 else 0


@router.get("/reports/{kind}")
def report_page(kind: str, web: WebDep, request: Request) -> Response:
    if kind.endswith((".csv", ".xlsx")):
        return _download(kind, web, request)
    if kind not in KINDS:
        raise NotFound("no such report")
    p = request.query_params
    values = {k: (p.get(k) or "")[:40] for k in ("as_of", "location", "from", "to", "period")}
    errors: dict[str, str] = {}
    data = None
    locations: list[dict[str, Any]] = []

    # reconciliation reads every cost entry and journal row: it runs when asked, not on arrival
    run = kind != "reconciliation" or p.get("run") == "1"

    start = _offset(p.get("offset"))

    def load(conn: Connection, actor: Actor) -> Any:
        nonlocal locations
        if kind == "reconciliation":
            actor.require("reports.read", feature="reports.advanced")
        locations = wq.internal_locations(conn, actor)
        return KINDS[kind](p, (start, SHOWN))(conn, actor) if run else None

    try:
        data = web.read(load, "reports.read")
    except HoopError as exc:
        if exc.status != 422:
            raise
        d = exc.details if isinstance(exc.details, dict) else {}
        field = {"to": "to", "from": "from", "as_of": "as_of"}.get(str(d.get("field")), "_")
        errors[field] = exc.message
        web.read(lambda conn, actor: None, "reports.read")
    lines = (data or {}).get("lines", [])  # valuation and COGS: only this page's
    return web.page(f"report_{kind}.html", kind=kind, data=data, values=values, errors=errors,
                    locations=locations, lines=lines, offset=start, shown=SHOWN,
                    total_lines=(data or {}).get("line_count", len(lines)),
                    qs=_without_offset(request.url.query))  # fmt: skip


def _without_offset(query: str) -> str:
    """The page's query string for its links: the pager adds its own offset (and a download
    holds every line)."""
    return "&".join(kv for kv in query.split("&") if kv and not kv.startswith("offset="))


def _download(name: str, web: WebDep, request: Request) -> Response:
    kind, _, fmt = name.rpartition(".")
    if kind not in KINDS:
        raise NotFound("no such report")

    def run(conn: Connection, actor: Actor) -> dict[str, Any]:
        if kind == "reconciliation":  # an export of the advanced report, as in the API
            actor.require("reports.read", feature="reports.advanced")
        return KINDS[kind](request.query_params)(conn, actor)

    data = web.read(run, "reports.read")
    body, media = exports.render(kind, data, fmt)
    filename = exports.filename(kind, data, fmt)
    disposition = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(body, media_type=media, headers=disposition)

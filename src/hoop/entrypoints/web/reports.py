"""Reports: valuation as of a date, COGS by period, reconciliation; CSV and XLSX downloads made
by the same `service.exports` the API and the CLI use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import BackgroundTasks, Request, Response
from sqlalchemy import Connection

from hoop.domain.errors import HoopError, NotFound
from hoop.entrypoints.web.common import PathId, WebDep, int_or_none, redirect, web_router
from hoop.service import exports, reports
from hoop.service import reconciliation_runs as runs
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


# -- reconciliation: it reads every cost entry and journal row (~256 ms at 1,000,000 moves), so
# a run is recorded and computed in the background; the pages show stored runs.
RECENT = 10  # runs listed under the one shown


@router.get("/reports/reconciliation")
def reconciliation_page(web: WebDep) -> Response:
    # an old `?run=1` link lands here too: a GET changes nothing, the button starts a run
    recent = web.read(lambda conn, actor: runs.latest_runs(conn, actor, RECENT), "reports.read")
    return _run_page(web, recent[0] if recent else None, recent, pinned=False)


@router.post("/reports/reconciliation/runs")
def start_run(web: WebDep, background: BackgroundTasks) -> Response:
    return _start_run(web, background)


@router.get("/reports/reconciliation/runs/{run_id}")
def run_page(run_id: PathId, web: WebDep) -> Response:
    run, recent = web.read(lambda conn, actor: (runs.get_run(conn, actor, run_id),
                                                runs.latest_runs(conn, actor, RECENT)))  # fmt: skip
    return _run_page(web, run, recent, pinned=True)


@router.get("/reports/reconciliation/runs/{run_id}/status")
def run_fragment(run_id: PathId, web: WebDep) -> Response:
    """The run's part of the page, which htmx polls every second while it is queued or
    running (the done or failed fragment stops the polling)."""
    run = web.read(lambda conn, actor: runs.get_run(conn, actor, run_id))
    return web.page("_reconciliation_run.html", **_run_context(run))


def _start_run(web: WebDep, background: BackgroundTasks) -> Response:
    """Record a run and start it once the response is sent (the scheduler runs it if this
    process stops first); the run's page polls until it is done."""
    run = web.write(lambda conn, actor: runs.request_run(conn, actor))
    background.add_task(runs.execute_run, web.uow, run["id"])
    return redirect(f"/reports/reconciliation/runs/{run['id']}")


def _run_context(run: dict[str, Any] | None) -> dict[str, Any]:
    as_of = None
    if run and run["status"] == "done" and isinstance(run["result"], dict):
        try:
            as_of = datetime.fromisoformat(str(run["result"].get("as_of")))
        except ValueError:
            as_of = None
    return {"run": run, "as_of": as_of, "kind": "reconciliation", "qs": ""}


def _run_page(web: WebDep, run: dict[str, Any] | None, recent: list[dict[str, Any]],
              pinned: bool) -> Response:  # fmt: skip
    return web.page("report_reconciliation.html", runs=recent, pinned=pinned, errors={},
                    **_run_context(run))  # fmt: skip


def _offset(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and len(raw) < 9 else 0


@router.get("/reports/{kind}")
def report_page(kind: str, web: WebDep, request: Request) -> Response:
    if kind.endswith((".csv", ".xlsx")):
        return _download(kind, web, request)
    if kind not in KINDS or kind == "reconciliation":  # reconciliation: its own routes above
        raise NotFound("no such report")
    p = request.query_params
    values = {k: (p.get(k) or "")[:40] for k in ("as_of", "location", "from", "to", "period")}
    errors: dict[str, str] = {}
    data = None
    locations: list[dict[str, Any]] = []

    start = _offset(p.get("offset"))

    def load(conn: Connection, actor: Actor) -> Any:
        nonlocal locations
        locations = wq.internal_locations(conn, actor)
        return KINDS[kind](p, (start, SHOWN))(conn, actor)

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

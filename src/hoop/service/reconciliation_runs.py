"""Reconciliation as a recorded background job.

`reports.reconciliation` reads every cost entry and journal row of the org (~256 ms at 10,000
SKUs and 1,000,000 moves), too slow to compute while a page renders. A user records a run
(`request_run`); a background task started by the web request, or the scheduler for a run left
queued (`execute_queued`), computes it with `execute_run`; pages show the stored result.

A run is queued -> running -> done (its `result`: the report, JSON-safe) or failed (its
`error`). Nothing leaves a run running: a computation that raises is stored as failed, and the
scheduler fails a run still running long after it started (its process stopped mid-run)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hoop.adapters.db.tables import orgs, reconciliation_runs, users
from hoop.domain.audit import jsonable
from hoop.domain.errors import HoopError, NotFound
from hoop.service import audit, reports
from hoop.service.context import Actor, system_actor
from hoop.service.unit_of_work import UnitOfWork

log = logging.getLogger("hoop.reconciliation")
r = reconciliation_runs
QUEUED_GRACE = timedelta(seconds=10)  # a background task normally starts a run well before
RUNNING_LIMIT = timedelta(minutes=30)  # a run still running after this lost its process
MAX_ERROR = 2000


def _now() -> datetime:
    return datetime.now(UTC)


def _require(actor: Actor) -> None:
    actor.require("reports.read", feature="reports.advanced")  # as reports.reconciliation


def _select() -> Any:
    return select(r, users.c.email.label("requested_by_email")).outerjoin(
        users, users.c.id == r.c.requested_by
    )


def _out(row: Any) -> dict[str, Any]:
    return dict(row._mapping)


# ------------------------------------------------------------------ asking and reading


def request_run(conn: Connection, actor: Actor, deep: bool = False) -> dict[str, Any]:
    """Record a queued run; the caller starts it (`execute_run`) after committing."""
    _require(actor)
    row = {"org_id": actor.org_id, "requested_by": actor.user_id if actor.kind == "user" else None,
           "requested_at": _now(), "status": "queued", "deep": bool(deep)}  # fmt: skip
    run_id = conn.execute(insert(r).values(**row).returning(r.c.id)).scalar_one()
    audit.record(conn, actor, "reconciliation.request", "reconciliation_run", run_id,
                 None, {"deep": row["deep"]})  # fmt: skip
    return get_run(conn, actor, run_id)


def get_run(conn: Connection, actor: Actor, run_id: int) -> dict[str, Any]:
    _require(actor)
    row = conn.execute(_select().where(r.c.id == run_id, r.c.org_id == actor.org_id)).first()
    if row is None:
        raise NotFound("no such reconciliation run")
    return _out(row)


def latest_runs(conn: Connection, actor: Actor, limit: int = 10) -> list[dict[str, Any]]:
    """The org's most recent runs, newest first."""
    _require(actor)
    q = _select().where(r.c.org_id == actor.org_id).order_by(r.c.id.desc()).limit(limit)
    return [_out(row) for row in conn.execute(q)]


# ------------------------------------------------------------------ running


def _start(conn: Connection, run_id: int) -> bool:
    """queued -> running; False when the run is not queued (another process took it)."""
    n = conn.execute(
        update(r).where(r.c.id == run_id, r.c.status == "queued")
        .values(status="running", started_at=_now())
    ).rowcount  # fmt: skip
    return n == 1


def _finish(conn: Connection, run_id: int, result: Any = None, error: str | None = None) -> None:
    conn.execute(
        update(r).where(r.c.id == run_id).values(
            status="failed" if error is not None else "done", finished_at=_now(),
            result=result, error=error,
        )
    )  # fmt: skip


def _message(exc: Exception) -> str:
    text = exc.message if isinstance(exc, HoopError) else f"{type(exc).__name__}: {exc}"
    return text[:MAX_ERROR]


def _compute(uow: UnitOfWork, run_id: int) -> None:
    """Compute a run already marked running, and store its result or its error."""

    def report(conn: Connection) -> dict[str, Any]:
        run = conn.execute(
            select(r.c.org_id, r.c.deep, orgs.c.plan).join(orgs, orgs.c.id == r.c.org_id)
            .where(r.c.id == run_id)
        ).one()  # fmt: skip
        # as the org itself, on its plan today: a downgraded org's run fails with the 402 text
        actor = system_actor(run.org_id, plan=run.plan)
        return jsonable(reports.reconciliation(conn, actor, deep=run.deep))

    try:
        result = uow.read(report)
    except Exception as exc:  # stored for the page to show; never left running
        if not isinstance(exc, HoopError):
            log.exception("reconciliation run %s failed", run_id)
        error = _message(exc)
        uow.write(lambda conn: _finish(conn, run_id, error=error))
        return
    try:
        uow.write(lambda conn: _finish(conn, run_id, result=result))
    except Exception as exc:
        log.exception("storing reconciliation run %s failed", run_id)
        error = _message(exc)
        uow.write(lambda conn: _finish(conn, run_id, error=error))


def execute_run(uow: UnitOfWork, run_id: int) -> bool:
    """Run a queued run; False (and nothing done) when it is not queued any more."""
    if not uow.write(lambda conn: _start(conn, run_id)):
        return False
    _compute(uow, run_id)
    return True


def _claim_queued(conn: Connection, before: datetime) -> int | None:
    """Take the oldest run queued before `before` (marked running); SKIP LOCKED lets several
    workers share the queue on PostgreSQL (SQLite has one writer at a time anyway)."""
    q = (
        select(r.c.id).where(r.c.status == "queued", r.c.requested_at < before)
        .order_by(r.c.requested_at).limit(1)
    )  # fmt: skip
    if conn.dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True)
    run_id = conn.execute(q).scalar()
    if run_id is None or not _start(conn, run_id):
        return None
    return int(run_id)


def fail_abandoned(conn: Connection, now: datetime | None = None) -> int:
    """Runs still running RUNNING_LIMIT after they started lost their process: failed."""
    now = now or _now()
    return conn.execute(
        update(r).where(r.c.status == "running", r.c.started_at < now - RUNNING_LIMIT)
        .values(status="failed", finished_at=now,
                error="the run was interrupted (its process stopped); run it again")
    ).rowcount  # fmt: skip


def execute_queued(uow: UnitOfWork, now: datetime | None = None, limit: int = 10) -> int:
    """The scheduler's job: runs left queued for QUEUED_GRACE (their process restarted before
    the background task began) are run here, up to `limit` a pass. Returns how many ran."""
    now = now or _now()
    uow.write(lambda conn: fail_abandoned(conn, now))
    done = 0
    while done < limit:
        run_id = uow.write(lambda conn: _claim_queued(conn, now - QUEUED_GRACE))
        if run_id is None:
            break
        _compute(uow, run_id)
        done += 1
    return done

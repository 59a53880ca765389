"""Background work on a timer: in-process under `hoop serve`, or alone under `hoop worker`.

Jobs are idempotent and safe to run from several processes at once (each takes row locks or
SKIP LOCKED), so any number of workers can share a PostgreSQL database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from hoop.adapters import outbox
from hoop.config import get_settings
from hoop.service import audit, orders, reconciliation_runs, replenishment, web_queries
from hoop.service.unit_of_work import UnitOfWork

log = logging.getLogger("hoop.scheduler")


def seal_audit(uow: UnitOfWork) -> int:
    total = 0
    for org_id in uow.read(audit.orgs_with_unsealed):
        total += uow.write(lambda conn, o=org_id: audit.seal(conn, o))
    return total


def lapse_deadlines(uow: UnitOfWork) -> int:
    """Order requests past respond_by expire; unpaid orders past pay_by are cancelled. Batches
    of 500 per transaction until none is due."""
    total = 0
    while True:
        n = uow.write(lambda conn: orders.lapse_due(conn))
        total += n
        if n < 500:
            return total


def deliver_webhooks(uow: UnitOfWork, now: datetime | None = None) -> int:
    """Fan new outbox events out to the subscribed endpoints, then POST the due deliveries
    (`hoop.adapters.outbox`). `now` fixes the clock, for tests. Returns how many were delivered."""
    return outbox.deliver(uow, now)


def refresh_reorder_points(uow: UnitOfWork) -> int:
    """Recompute reorder points older than HOOP_REORDER_REFRESH_SECONDS from current demand,
    and re-evaluate their low-stock alerts; batches of 1,000 until none is stale."""
    age = get_settings().reorder_refresh_seconds
    total = 0
    while True:
        n = uow.write(lambda conn: replenishment.refresh_due(conn, age))
        total += n
        if n < 1000:
            return total


def run_reconciliations(uow: UnitOfWork) -> int:
    """Reconciliation runs left queued (the process that recorded them stopped before its
    background task began) are run here; runs that lost their process mid-run are failed."""
    return reconciliation_runs.execute_queued(uow)


def sum_inventory_days(uow: UnitOfWork) -> int:
    """The dashboard chart's daily Inventory changes, summed again for orgs whose stored sums
    are missing or older than web_queries.REBUILD_SECONDS (up to 50 orgs a pass)."""
    due = uow.read(
        lambda conn: web_queries.orgs_due_for_day_sums(conn, web_queries.REBUILD_SECONDS)
    )
    for org_id in due:
        uow.write(lambda conn, o=org_id: web_queries.store_inventory_days(conn, o))
    return len(due)


JOBS: list[Callable[[UnitOfWork], int]] = [
    seal_audit,
    lapse_deadlines,
    deliver_webhooks,
    refresh_reorder_points,
    run_reconciliations,
    sum_inventory_days,
]


def run_once(uow: UnitOfWork) -> dict[str, int]:
    out = {}
    for job in JOBS:
        try:
            out[job.__name__] = job(uow)
        except Exception:  # one failing job must not stop the others or the loop
            log.exception("scheduler job %s failed", job.__name__)
    return out


def loop(uow: UnitOfWork, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        run_once(uow)
        stop.wait(interval)


def start_in_thread(uow: UnitOfWork, interval: float) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    t = threading.Thread(
        target=loop, args=(uow, interval, stop), name="hoop-scheduler", daemon=True
    )
    t.start()
    return t, stop

"""Reconciliation runs: recorded, computed in the background (or by the scheduler when left
queued), and shown from the stored result; the page itself never computes one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, text, update

from hoop.adapters.db.tables import audit_events, reconciliation_runs
from hoop.domain.audit import jsonable
from hoop.domain.errors import NotFound
from hoop.service import reconciliation_runs as runs
from hoop.service import reports
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork
from tests.helpers import OrgClient, unique
from tests.web_helpers import logged_in


def _actor(org: OrgClient, plan: str = "enterprise") -> Actor:
    return Actor(org_id=org.org_id, plan=plan, roles=("owner",), user_id=org.user_id)


def _unbalanced(org: OrgClient, engine: Engine) -> str:
    """Two SKUs received; the first one's layers then gain 0.50 behind costing's back."""
    loc = org.location()
    skus = sorted(unique("RR") for _ in range(2))
    prod = org.product(skus)
    org.receive(loc, [{"sku": s, "qty": "4", "unit_cost": "2.50"} for s in skus])
    with engine.begin() as conn:
        conn.execute(text("UPDATE cost_books SET value = value + 5000 "
                          "WHERE org_id = :org AND variant_id = :v"),
                     {"org": org.org_id, "v": prod["variants"][0]["id"]})  # fmt: skip
    return skus[0]


def _without_as_of(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "as_of"}


def test_a_run_stores_what_the_report_returns(client: Any, engine: Engine, uow: UnitOfWork) -> None:
    org = OrgClient.signup(client)
    _unbalanced(org, engine)
    actor = _actor(org)
    run = uow.write(lambda c: runs.request_run(c, actor))
    assert run["status"] == "queued" and run["requested_by"] == org.user_id
    assert run["requested_by_email"] == org.email and run["result"] is None
    assert runs.execute_run(uow, run["id"]) is True
    assert runs.execute_run(uow, run["id"]) is False  # runs once
    done = uow.read(lambda c: runs.get_run(c, actor, run["id"]))
    direct = uow.read(lambda c: jsonable(reports.reconciliation(c, actor)))
    assert done["status"] == "done" and done["error"] is None
    assert done["started_at"] <= done["finished_at"]
    assert _without_as_of(done["result"]) == _without_as_of(direct)
    assert done["result"]["balanced"] is False and len(done["result"]["differences"]) == 1
    assert [r["id"] for r in uow.read(lambda c: runs.latest_runs(c, actor, 5))] == [run["id"]]
    # the request is audited as the user's
    ev = uow.read(lambda c: c.execute(select(audit_events).where(
        audit_events.c.org_id == org.org_id, audit_events.c.action == "reconciliation.request"
    )).one())  # fmt: skip
    assert (ev.actor_id, ev.object_id) == (org.user_id, str(run["id"]))


def test_a_run_that_raises_is_stored_as_failed(
    client: Any, uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = OrgClient.signup(client)
    actor = _actor(org)
    run = uow.write(lambda c: runs.request_run(c, actor))

    def boom(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(reports, "reconciliation", boom)
    assert runs.execute_run(uow, run["id"]) is True
    failed = uow.read(lambda c: runs.get_run(c, actor, run["id"]))
    assert failed["status"] == "failed" and failed["finished_at"] is not None
    assert failed["error"] == "RuntimeError: the disk is on fire" and failed["result"] is None


def test_runs_are_the_orgs_own_and_need_the_plan(client: Any, uow: UnitOfWork) -> None:
    org, other = OrgClient.signup(client), OrgClient.signup(client)
    run = uow.write(lambda c: runs.request_run(c, _actor(org)))
    with pytest.raises(NotFound):
        uow.read(lambda c: runs.get_run(c, _actor(other), run["id"]))
    assert uow.read(lambda c: runs.latest_runs(c, _actor(other), 5)) == []
    from hoop.domain.errors import PlanRequired

    with pytest.raises(PlanRequired):
        uow.write(lambda c: runs.request_run(c, _actor(org, plan="core")))


def test_the_scheduler_runs_what_was_left_queued(client: Any, uow: UnitOfWork) -> None:
    from hoop import scheduler

    org = OrgClient.signup(client)
    actor = _actor(org)
    left = uow.write(lambda c: runs.request_run(c, actor))
    fresh = uow.write(lambda c: runs.request_run(c, actor))
    stuck = uow.write(lambda c: runs.request_run(c, actor))
    past = datetime.now(UTC) - timedelta(minutes=1)
    uow.write(lambda c: c.execute(update(reconciliation_runs).where(
        reconciliation_runs.c.id == left["id"]).values(requested_at=past)))  # fmt: skip
    # one that lost its process mid-run, an hour ago
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    uow.write(lambda c: c.execute(update(reconciliation_runs).where(
        reconciliation_runs.c.id == stuck["id"]
    ).values(status="running", started_at=hour_ago)))  # fmt: skip
    assert scheduler.run_once(uow)["run_reconciliations"] >= 1
    status = {r["id"]: r for r in uow.read(lambda c: runs.latest_runs(c, actor, 5))}
    assert status[left["id"]]["status"] == "done"
    assert status[fresh["id"]]["status"] == "queued"  # its background task has it
    assert status[stuck["id"]]["status"] == "failed"
    assert "interrupted" in status[stuck["id"]]["error"]


# ------------------------------------------------------------------ web


def test_the_page_shows_the_latest_run_and_computes_nothing(
    app: Any, client: Any, engine: Engine, uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = OrgClient.signup(client)
    sku = _unbalanced(org, engine)
    web = logged_in(app, org.email, org.password)
    computed: list[int] = []
    real = reports.reconciliation

    def counted(conn: Any, actor: Actor, **kw: Any) -> Any:
        computed.append(actor.org_id)
        return real(conn, actor, **kw)

    monkeypatch.setattr(reports, "reconciliation", counted)
    page = web.get("/reports/reconciliation")
    assert page.status_code == 200 and "No reconciliation has run yet" in page.text
    assert 'action="/reports/reconciliation/runs"' in page.text and "csrf_token" in page.text
    assert computed == []
    assert web.post("/reports/reconciliation/runs", csrf=False).status_code == 403
    assert computed == []

    # the button: recorded, started after the response (the test client runs it before
    # returning), and the run's page shows the result
    r = web.post("/reports/reconciliation/runs")
    assert r.status_code == 303 and computed == [org.org_id]
    run_id = int(re.fullmatch(r"/reports/reconciliation/runs/(\d+)", r.headers["location"])[1])
    shown = web.get(r.headers["location"])
    assert shown.status_code == 200 and "1 differences" in shown.text and sku in shown.text
    assert f"Reconciliation #{run_id}" in shown.text and org.email in shown.text
    assert "every 1s" not in shown.text  # done: no polling
    latest = web.get("/reports/reconciliation")
    assert f"Reconciliation #{run_id}" in latest.text and "1 differences" in latest.text
    assert computed == [org.org_id]  # showing it computed nothing more
    fragment = web.get(f"/reports/reconciliation/runs/{run_id}/status")
    assert fragment.status_code == 200 and "<nav" not in fragment.text and sku in fragment.text

    # a queued run: the page and its fragment say so and poll
    queued = uow.write(lambda c: runs.request_run(c, _actor(org)))
    frag = web.get(f"/reports/reconciliation/runs/{queued['id']}/status",
                   headers={"HX-Request": "true"})  # fmt: skip
    assert frag.status_code == 200 and "Queued" in frag.text
    assert f'hx-get="/reports/reconciliation/runs/{queued["id"]}/status"' in frag.text
    assert 'hx-trigger="every 1s"' in frag.text
    uow.write(lambda c: c.execute(update(reconciliation_runs).where(
        reconciliation_runs.c.id == queued["id"]
    ).values(status="running", started_at=datetime.now(UTC))))  # fmt: skip
    page = web.get("/reports/reconciliation")
    assert "Running, started" in page.text and 'hx-trigger="every 1s"' in page.text
    assert computed == [org.org_id]


def test_old_run_links_show_the_page_and_start_nothing(
    app: Any, client: Any, uow: UnitOfWork
) -> None:
    """A GET has no side effect (a link on another site must not start a run, which reads
    every journal row): an old `?run=1` link shows the page with its button."""
    org = OrgClient.signup(client)
    web = logged_in(app, org.email, org.password)
    r = web.get("/reports/reconciliation?run=1")
    assert r.status_code == 200 and "Run reconciliation" in r.text
    assert uow.read(lambda c: runs.latest_runs(c, _actor(org), 10)) == []


def test_failed_and_unknown_runs_are_pages_not_errors(
    app: Any, client: Any, uow: UnitOfWork, monkeypatch: pytest.MonkeyPatch
) -> None:
    org, other = OrgClient.signup(client), OrgClient.signup(client)
    web = logged_in(app, org.email, org.password)

    def boom(*a: Any, **kw: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(reports, "reconciliation", boom)
    r = web.post("/reports/reconciliation/runs")
    page = web.get(r.headers["location"])
    assert page.status_code == 200 and "the disk is on fire" in page.text and "failed" in page.text
    theirs = uow.write(lambda c: runs.request_run(c, _actor(other)))
    for path in (f"/reports/reconciliation/runs/{theirs['id']}",
                 f"/reports/reconciliation/runs/{theirs['id']}/status",
                 "/reports/reconciliation/runs/999999999", "/reports/reconciliation/runs/x",
                 "/reports/reconciliation/runs/0"):  # fmt: skip
        assert web.get(path).status_code == 404, path

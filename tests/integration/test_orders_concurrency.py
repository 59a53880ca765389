"""Orders raced by real threads on both engines (issue #4): n simultaneous one-unit orders for
k units confirm exactly k; pay against the expiry job and cancel against pickup each end in
exactly one state."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from hoop.adapters.db.tables import order_events, order_reservations, stock_documents
from hoop.domain.errors import Conflict
from hoop.service import orders
from tests.helpers import OrgClient, unique
from tests.integration.test_concurrency import (
    actor_for,
    http_race,
    live,  # noqa: F401 (fixture)
    problems,
    race,
)

N, K, THREADS = 40, 10, 16


def stocked(org: OrgClient, qty: str) -> tuple[str, int]:
    sku = unique("SKU")
    org.product([sku])
    loc = org.location()
    org.receive(loc, [{"sku": sku, "qty": qty, "unit_cost": "1.00"}])
    return sku, loc


def one_unit(sku: str) -> dict[str, Any]:
    return {"customer": {"name": "Buyer"}, "lines": [{"sku": sku, "qty": "1"}]}


def test_n_orders_for_k_units_confirm_exactly_k(org, uow):
    sku, _ = stocked(org, str(K))
    actor = actor_for(uow, org)
    barrier = threading.Barrier(THREADS)
    queue = list(range(N))
    lock = threading.Lock()

    def worker(_: int) -> list[Any]:
        barrier.wait(timeout=60)
        out = []
        while True:
            with lock:
                if not queue:
                    return out
                queue.pop()
            try:
                out.append(uow.write(lambda c: orders.place_order(c, actor, one_unit(sku))))
            except Exception as exc:  # collected: there must be none
                out.append(exc)

    with ThreadPoolExecutor(THREADS) as pool:
        results = [r for f in [pool.submit(worker, i) for i in range(THREADS)] for r in f.result()]
    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == [], [repr(e) for e in errors]
    statuses = Counter(r["status"] for r in results)
    assert statuses == {"confirmed": K, "pending_seller": N - K}, statuses
    a = org.availability(sku)
    assert (a["on_hand"], a["reserved"], a["available"], a["stock_mode"]) == (
        str(K), str(K), "0", "inactive"
    )  # fmt: skip
    assert problems(uow, org.org_id) == []


def test_n_orders_for_k_units_over_http(org, live, uow):  # noqa: F811
    sku, _ = stocked(org, str(K))
    results = http_race(live, org, N, lambda c, i: c.post("/orders", json=one_unit(sku)))
    assert all(kind == "ok" for kind, _ in results), results
    assert Counter(r.status_code for _, r in results) == {201: N}
    statuses = Counter(r.json()["status"] for _, r in results)
    assert statuses == {"confirmed": K, "pending_seller": N - K}, statuses
    assert org.availability(sku)["available"] == "0"
    assert problems(uow, org.org_id) == []


def _accepted(org: OrgClient, sku: str, n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        o = org.post("/orders", one_unit(sku), expect=201).json()
        assert o["status"] == "pending_seller"
        out.append(org.post(f"/orders/{o['id']}/accept", expect=200).json())
    return out


def test_pay_against_the_expiry_job(org, uow):
    org.patch("/org", {"payment_window_seconds": 600}, expect=200)
    sku = unique("SKU")
    org.product([sku])  # no stock: every order is a request
    accepted = _accepted(org, sku, 8)
    actor = actor_for(uow, org)
    later = max(datetime.fromisoformat(o["pay_by"]) for o in accepted) + timedelta(seconds=1)

    def run(i: int) -> Any:
        if i == len(accepted):  # the scheduler, as if its tick came after every pay_by
            return uow.write(lambda c: orders.lapse_due(c, now=later))
        return uow.write(lambda c, o=accepted[i]: orders.pay(c, actor, o["id"]))

    results = race(len(accepted) + 1, run)
    for i, o in enumerate(accepted):
        final = org.get(f"/orders/{o['id']}")
        kind, r = results[i]
        if final["status"] == "confirmed":
            assert kind == "ok" and r["status"] == "confirmed"
            assert final["timeline"][-1]["action"] == "pay"
        else:
            assert final["status"] == "cancelled" and final["timeline"][-1]["action"] == "lapse"
            assert kind == "error" and isinstance(r, Conflict) and r.code == "invalid_state"
        # exactly one transition after accept, whichever won
        assert [t["action"] for t in final["timeline"]][:2] == ["place", "accept"]
        assert len(final["timeline"]) == 3
    assert problems(uow, org.org_id) == []


def test_cancel_against_pickup(org, uow):
    sku, loc = stocked(org, "10")
    confirmed = [org.post("/orders", one_unit(sku), expect=201).json() for _ in range(8)]
    assert all(o["status"] == "confirmed" for o in confirmed)
    actor = actor_for(uow, org)

    def run(i: int) -> Any:
        o = confirmed[i // 2]
        if i % 2:
            return uow.write(lambda c: orders.cancel(c, actor, o["id"]))
        return uow.write(lambda c: orders.pickup(c, actor, o["id"], "picked_up"))

    results = race(2 * len(confirmed), run)
    picked = 0
    for j, o in enumerate(confirmed):
        final = org.get(f"/orders/{o['id']}")
        outcomes = [results[2 * j], results[2 * j + 1]]
        assert sorted(k for k, _ in outcomes) == ["error", "ok"], outcomes
        err = next(r for k, r in outcomes if k == "error")
        assert isinstance(err, Conflict) and err.code == "invalid_state"
        assert final["status"] in ("cancelled", "picked_up")
        assert final["reservations"] == []
        picked += final["status"] == "picked_up"
        assert (final["pickup"] or {}).get("shipment_document_id") is not None or (
            final["status"] == "cancelled"
        )
    a = org.availability(sku)
    # 10 received; each picked-up order shipped 1; cancelled ones gave their unit back
    assert Decimal(a["on_hand"]) == 10 - picked and Decimal(a["reserved"]) == 0
    shipments = uow.read(
        lambda c: c.execute(
            select(func.count())
            .select_from(stock_documents)
            .where(stock_documents.c.org_id == org.org_id, stock_documents.c.type == "shipment")
        ).scalar_one()
    )
    assert shipments == picked
    left = uow.read(
        lambda c: c.execute(
            select(func.count())
            .select_from(order_reservations)
            .where(order_reservations.c.org_id == org.org_id)
        ).scalar_one()
    )
    assert left == 0
    events = uow.read(
        lambda c: c.execute(
            select(func.count())
            .select_from(order_events)
            .where(order_events.c.org_id == org.org_id)
        ).scalar_one()
    )
    assert events == 2 * len(confirmed)  # place + exactly one of cancel / picked_up
    assert problems(uow, org.org_id) == []

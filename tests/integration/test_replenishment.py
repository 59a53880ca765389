"""Replenishment planning and low-stock alerts through the API, on both engines (issue 5).
Every figure is worked by hand from the issue's definitions; the working is in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any

from sqlalchemy import select

from hoop.adapters.db.tables import alerts as alerts_t
from hoop.adapters.db.tables import notifications, outbox, replenishment_policies
from tests.helpers import OrgClient, unique


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat()


def doc(org: OrgClient, body: dict[str, Any], expect: int = 201) -> dict[str, Any]:
    return dict(org.post("/stock-documents", body, expect=expect).json())


def ship(org: OrgClient, loc: int, sku: str, qty: str, days_ago: float | None = None) -> dict:
    body: dict[str, Any] = {"type": "shipment", "from_location_id": loc,
                            "lines": [{"sku": sku, "qty": qty}]}  # fmt: skip
    if days_ago is not None:
        body["effective_at"] = ago(days_ago)
    return doc(org, body)


def site(org: OrgClient) -> tuple[int, int, int]:
    """A warehouse with a bin under it, and another warehouse."""
    wh = org.location()
    return wh, org.location("bin", parent_id=wh), org.location()


def open_alerts(org: OrgClient, sku: str | None = None) -> list[dict[str, Any]]:
    items = org.get("/alerts?type=low_stock")["items"]
    return [a for a in items if sku is None or a["sku"] == sku]


def history(org: OrgClient) -> tuple[str, int, int, int]:
    """30 received into the bin 20 days ago; shipped from the bin 4 (12 h ago, day 0), 6
    (2.5 days ago, day 2) and 10 (5.5 days ago, day 5); 7 shipped 3.5 days ago and cancelled
    (its reversal is dated with it, so it nets to 0); 50 shipped from the other warehouse
    (not under the policy's location) a day ago. Available in the warehouse: 30 - 20 = 10."""
    sku = unique("R")
    org.product([sku])
    wh, bin_, other = site(org)
    for loc, qty in ((bin_, "30"), (other, "60")):
        doc(org, {"type": "receipt", "to_location_id": loc, "effective_at": ago(20),
                  "lines": [{"sku": sku, "qty": qty, "unit_cost": "1"}]})  # fmt: skip
    ship(org, bin_, sku, "4", 0.5)
    ship(org, bin_, sku, "6", 2.5)
    ship(org, bin_, sku, "10", 5.5)
    cancelled = ship(org, bin_, sku, "7", 3.5)
    org.post(f"/stock-documents/{cancelled['id']}/cancel", expect=200)
    ship(org, other, sku, "50", 1)
    return sku, wh, bin_, other


def test_eoq_policy_demand_safety_stock_and_suggestion(org: OrgClient) -> None:
    sku, wh, _, _ = history(org)
    # 10-day window: daily totals 4, 0, 6, 0, 0, 10, 0, 0, 0, 0 -> d = 20 / 10 = 2
    # sigma^2 = (16 + 36 + 100) / 10 - 2^2 = 11.2 -> sigma = 3.3466
    # policy lead time 9, service level 0.95 -> z = 1.6449
    # SS = 1.6449 * 3.3466 * sqrt(9) = 16.5145; ROP = 2 * 9 + 16.5145 = 34.5145
    p = org.put("/replenishment/policies", {
        "sku": sku, "location_id": wh, "method": "eoq", "service_level": "0.95",
        "lead_time_days": 9, "order_cost": "50", "holding_rate": "0.2",
        "demand_window_days": 10,
    }, expect=200).json()  # fmt: skip
    assert (p["daily_demand"], p["safety_stock_effective"], p["reorder_point"]) == (
        "2", "16.5145", "34.5145")  # fmt: skip
    assert (p["available"], p["incoming"], p["position"]) == ("10", "0", "10")
    items = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    assert len(items) == 1
    s = items[0]
    # position 10 <= 34.5145. No supplier, so no price and no EOQ: order the gap
    # 34.5145 - 10 = 24.5145, rounded up to a whole unit: 25
    assert s["location_id"] == wh and s["supplier_id"] is None
    assert (s["available"], s["incoming"], s["reorder_point"], s["safety_stock"]) == (
        "10", "0", "34.5145", "16.5145")  # fmt: skip
    assert (s["daily_demand"], s["suggested_qty"]) == ("2", "25")
    assert "reorder point 34.5145" in s["reason"] and "no supplier" in s["reason"]
    # the bin alone (no policy there) is not suggested; the other warehouse has no policy
    assert org.get(f"/replenishment/suggestions?location_id={wh}")["items"] == items


def test_minmax_alert_raised_kept_once_and_resolved(org: OrgClient, engine: Any) -> None:
    org.patch("/org", {"plan": "core"}, expect=200)  # min/max alerts are in every plan
    sku = unique("A")
    org.product([sku])
    wh, bin_, _ = site(org)
    org.receive(bin_, [{"sku": sku, "qty": "10", "unit_cost": "1"}])
    put = {"sku": sku, "location_id": wh, "method": "minmax", "min": "5", "max": "20"}
    p = org.put("/replenishment/policies", put, expect=200).json()
    assert p["reorder_point"] == "5" and open_alerts(org, sku) == []  # position 10 > 5
    ship(org, bin_, sku, "6")  # position 4 <= 5: raised in the shipment's transaction
    [a] = open_alerts(org, sku)
    assert (a["location_id"], a["position"], a["reorder_point"]) == (wh, "4", "5")
    ship(org, bin_, sku, "1")  # still low: still one open alert
    assert [x["id"] for x in open_alerts(org, sku)] == [a["id"]]
    org.receive(bin_, [{"sku": sku, "qty": "3", "unit_cost": "1"}])  # position 6 > 5
    assert open_alerts(org, sku) == []
    resolved = org.get("/alerts?status=resolved")["items"]
    assert [x["id"] for x in resolved] == [a["id"]] and resolved[0]["resolved_at"]
    # a policy change alone raises it: min 6 puts position 6 at the reorder point
    org.put("/replenishment/policies", {**put, "min": "6"}, expect=200)
    [b] = open_alerts(org, sku)
    assert b["id"] != a["id"]
    # deleting the policy resolves its alert
    org.req("DELETE", f"/replenishment/policies/{p['id']}", expect=200)
    assert open_alerts(org, sku) == []
    with engine.connect() as conn:
        events = conn.execute(
            select(outbox.c.event, outbox.c.payload)
            .where(outbox.c.org_id == org.org_id)
            .order_by(outbox.c.id)
        ).all()
        notes = conn.execute(
            select(notifications.c.title).where(
                notifications.c.org_id == org.org_id, notifications.c.event == "stock.low"
            )
        ).all()
    low = [e for e in events if e.event == "stock.low"]
    assert len(low) == 2  # raised twice, each once
    assert low[0].payload["data"]["sku"] == sku and low[0].payload["data"]["position"] == "4"
    assert len(notes) == 2 and sku in notes[0].title


def test_orders_reserving_stock_move_the_alert(org: OrgClient) -> None:
    sku = unique("O")
    org.product([sku])
    wh = org.location()
    org.receive(wh, [{"sku": sku, "qty": "10", "unit_cost": "1"}])
    org.put("/replenishment/policies", {"sku": sku, "location_id": wh, "method": "minmax",
                                        "min": "3", "max": "10"}, expect=200)  # fmt: skip
    o = org.post("/orders", {"customer": {"name": "B"}, "lines": [{"sku": sku, "qty": "8"}]},
                 expect=201).json()  # fmt: skip
    assert o["status"] == "confirmed"
    # available 10 - 8 reserved = 2 <= 3: low, as soon as the order is placed
    [a] = open_alerts(org, sku)
    assert a["position"] == "2"
    org.post(f"/orders/{o['id']}/cancel", {"reason": "changed mind"}, expect=200)
    assert open_alerts(org, sku) == []  # released: 10 > 3


def test_an_order_stands_when_its_alert_check_fails(org: OrgClient, monkeypatch: Any) -> None:
    """On PostgreSQL an order without an Idempotency-Key commits before its low-stock alerts
    are re-evaluated: should that fail, the caller still gets the placed order (a 500 would
    make it place the order again), and the policy refresh catches the alert up."""
    from hoop.service import alerts

    if org.client.app.state.uow.engine.dialect.name != "postgresql":
        return  # SQLite places every order in one transaction, its alerts included
    sku = unique("F")
    org.product([sku])
    wh = org.location()
    org.receive(wh, [{"sku": sku, "qty": "10", "unit_cost": "1"}])
    org.put("/replenishment/policies", {"sku": sku, "location_id": wh, "method": "minmax",
                                        "min": "3", "max": "10"}, expect=200)  # fmt: skip

    def broken(*args: Any, **kw: Any) -> int:
        raise RuntimeError("alerts unavailable")

    monkeypatch.setattr(alerts, "positions_changed", broken)
    body = {"customer": {"name": "B"}, "lines": [{"sku": sku, "qty": "8"}]}
    r = org.post("/orders", body)
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["status"] == "confirmed" and org.get(f"/orders/{o['id']}")["status"] == "confirmed"
    assert org.availability(sku)["reserved"] == "8"


def test_policy_validation_writes_nothing(org: OrgClient, engine: Any) -> None:
    sku = unique("V")
    org.product([sku])
    wh = org.location()
    base = {"sku": sku, "location_id": wh}
    cases = [
        ({**base, "method": "minmax", "min": "5", "max": "4"}, 422, "max"),
        ({**base, "method": "minmax", "min": "5"}, 422, "max"),
        ({**base, "method": "eoq", "holding_rate": "0.2"}, 422, "order_cost"),
        ({**base, "method": "eoq", "order_cost": "1", "holding_rate": "2"}, 422, "holding_rate"),
        (
            {
                **base,
                "method": "eoq",
                "order_cost": "1",
                "holding_rate": "0.2",
                "service_level": "0.2",
            },
            422,
            "service_level",
        ),  # fmt: skip
        (
            {
                **base,
                "location_id": org.virtual("customer"),
                "method": "minmax",
                "min": "1",
                "max": "2",
            },
            422,
            "location_id",
        ),  # fmt: skip
        ({**base, "sku": "NOPE", "method": "minmax", "min": "1", "max": "2"}, 404, None),
        (
            {**base, "location_id": 987654321, "method": "minmax", "min": "1", "max": "2"},
            404,
            None,
        ),  # fmt: skip
        (
            {**base, "method": "minmax", "min": "1", "max": "2", "supplier_id": 987654321},
            404,
            None,
        ),  # fmt: skip
        ({**base, "method": "bulk"}, 422, None),
        ({**base, "method": "minmax", "min": "x", "max": "2"}, 422, None),
    ]
    for body, status, field in cases:
        r = org.put("/replenishment/policies", body, expect=status).json()
        assert r["error"]["code"], r
        if field:
            assert r["error"]["details"]["field"] == field, (body, r)
    other = OrgClient.signup(org.client)
    r = other.put("/replenishment/policies", {**base, "method": "minmax", "min": "1",
                                              "max": "2"}, expect=404)  # fmt: skip
    with engine.connect() as conn:
        n = conn.execute(
            select(replenishment_policies.c.id).where(
                replenishment_policies.c.org_id.in_([org.org_id, other.org_id])
            )
        ).all()
    assert n == []
    assert org.get("/replenishment/policies")["items"] == []


def test_plans_and_roles(org: OrgClient) -> None:
    sku = unique("P")
    org.product([sku])
    wh = org.location()
    org.patch("/org", {"plan": "core"}, expect=200)
    eoq = {"sku": sku, "location_id": wh, "method": "eoq", "order_cost": "1",
           "holding_rate": "0.2"}  # fmt: skip
    r = org.put("/replenishment/policies", eoq, expect=402).json()
    assert r["error"]["details"]["plan_needed"] == "pro"
    assert org.get("/replenishment/suggestions", expect=402).json()["error"]["code"]
    assert org.get(f"/replenishment/projection?sku={sku}", expect=402)
    org.post("/replenishment/suggestions/purchase-orders", {}, expect=402)
    org.put("/replenishment/policies", {**eoq, "method": "minmax", "min": "1", "max": "2"},
            expect=200)  # fmt: skip
    # no stock at all: position 0 <= min 1, so the Core plan gets its low-stock alert
    assert [a["sku"] for a in org.get("/alerts")["items"]] == [sku]
    org.patch("/org", {"plan": "pro"}, expect=200)
    clerk = org.user(["clerk"])
    clerk.put("/replenishment/policies", eoq, expect=403)
    assert clerk.get("/replenishment/suggestions")["items"] is not None
    finance = org.user(["finance"])
    finance.get("/replenishment/suggestions", expect=403)


def test_projection_takes_demand_off_and_adds_nothing_without_orders(org: OrgClient) -> None:
    sku, wh, _, _ = history(org)
    org.put("/replenishment/policies", {
        "sku": sku, "location_id": wh, "method": "eoq", "lead_time_days": 3,
        "safety_stock": "1", "order_cost": "50", "holding_rate": "0.2",
        "demand_window_days": 10,
    }, expect=200)  # fmt: skip
    p = org.get(f"/replenishment/projection?sku={sku}&location_id={wh}&days=6")
    # available 10, d = 2 a day: 10, 8, 6, 4, 2, 0, -2 over days 0..6; out of stock on day 5
    assert [x["projected_available"] for x in p["points"]] == ["10", "8", "6", "4", "2", "0",
                                                              "-2"]  # fmt: skip
    assert p["reorder_point"] == "7"  # 2 * 3 + 1
    start = datetime.fromisoformat(p["points"][0]["date"])
    assert datetime.fromisoformat(p["stockout_date"]) - start == timedelta(days=5)
    # without a location: the whole org, whose demand also has the other warehouse's 50
    whole = org.get(f"/replenishment/projection?sku={sku}&days=2")
    # 90-day window: (20 + 50) / 90 = 0.7778; available 10 + (60 - 50) = 20
    assert whole["daily_demand"] == "0.7778" and whole["available"] == "20"
    org.get(f"/replenishment/projection?sku={sku}&days=0", expect=422)
    org.get("/replenishment/projection?sku=NOPE", expect=404)


def test_scheduler_refreshes_reorder_points_as_demand_moves(org: OrgClient, uow: Any) -> None:
    from hoop.service import replenishment

    sku = unique("S")
    org.product([sku])
    wh = org.location()
    org.receive(wh, [{"sku": sku, "qty": "100", "unit_cost": "1"}])
    org.put("/replenishment/policies", {
        "sku": sku, "location_id": wh, "method": "eoq", "lead_time_days": 10,
        "safety_stock": "0", "order_cost": "5", "holding_rate": "0.5",
        "demand_window_days": 10,
    }, expect=200)  # fmt: skip
    assert open_alerts(org, sku) == []  # no demand: ROP 0, position 100
    # 60 shipped today: position 40; the stored ROP (0) still says fine
    ship(org, wh, sku, "60")
    assert open_alerts(org, sku) == []
    # the refresh recomputes: d = 60 / 10 = 6, ROP = 6 * 10 + 0 = 60 >= 40 -> low
    while uow.write(lambda conn: replenishment.refresh_due(conn, max_age_seconds=0)) >= 1000:
        pass
    [a] = open_alerts(org, sku)
    assert (a["reorder_point"], a["position"]) == ("60", "40")
    with uow.engine.connect() as conn:
        stored = conn.execute(
            select(alerts_t.c.reorder_point).where(alerts_t.c.id == a["id"])
        ).scalar_one()
    assert stored == D(60)


def supplier(org: OrgClient, **extra: Any) -> int:
    return int(org.post("/suppliers", {"name": unique("Sup"), **extra}, expect=201).json()["id"])


def item(org: OrgClient, supplier_id: int, sku: str, price: str, lead: str, **extra: Any) -> None:
    org.post("/supplier-items", {"supplier_id": supplier_id, "sku": sku, "price": price,
                                 "lead_time_days": lead, **extra}, expect=201)  # fmt: skip


def test_suppliers_choose_lead_time_price_moq_and_pack(org: OrgClient) -> None:
    sku, wh, _, _ = history(org)
    cheap, preferred = supplier(org), supplier(org)
    item(org, cheap, sku, "8", "30")
    item(org, preferred, sku, "10", "9", moq="100", pack_size="25", preferred=True)
    org.put("/replenishment/policies", {
        "sku": sku, "location_id": wh, "method": "eoq", "service_level": "0.95",
        "order_cost": "50", "holding_rate": "0.2", "demand_window_days": 10,
    }, expect=200)  # fmt: skip
    [s] = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    # the preferred item wins over the cheaper one: L = 9 days, price 10 (as in the unit test)
    # d = 2, sigma = 3.3466, SS = 1.6449 * 3.3466 * 3 = 16.5145, ROP = 18 + 16.5145 = 34.5145
    # EOQ = sqrt(2 * 730 * 50 / (0.2 * 10)) = 191.0497; position 10; gap 24.5145
    # max(191.0497, 24.5145) -> 192 whole -> MOQ 100 ok -> 8 packs of 25 = 200
    assert (s["supplier_id"], s["lead_time_days"], s["reorder_point"]) == (preferred, "9",
                                                                           "34.5145")  # fmt: skip
    assert (s["eoq"], s["suggested_qty"]) == ("191.0497", "200")
    # naming a supplier in the policy overrides: the cheap one, L = 30 days, price 8
    # SS = 1.6449 * 3.3466 * sqrt(30) = 5.50482234 * 5.47722558 = 30.1513 (to 2 places below)
    # ROP = 2 * 30 + SS; EOQ = sqrt(2 * 730 * 50 / (0.2 * 8)) = sqrt(45625) = 213.6001 -> 214
    org.put("/replenishment/policies", {
        "sku": sku, "location_id": wh, "method": "eoq", "service_level": "0.95",
        "order_cost": "50", "holding_rate": "0.2", "demand_window_days": 10,
        "supplier_id": cheap,
    }, expect=200)  # fmt: skip
    [s] = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    assert s["supplier_id"] == cheap and s["lead_time_days"] == "30"
    assert abs(D(s["safety_stock"]) - D("30.15")) < D("0.01")
    assert (s["eoq"], s["suggested_qty"]) == ("213.6001", "214")


def test_suggestions_become_draft_purchase_orders_and_stop_being_suggested(
    org: OrgClient,
) -> None:
    wh = org.location()
    sup_a, sup_b = supplier(org), supplier(org)
    skus = [unique("PO") for _ in range(3)]
    org.product(skus)
    for s in skus:
        org.receive(wh, [{"sku": s, "qty": "2", "unit_cost": "1"}])
    item(org, sup_a, skus[0], "4.5", "7", pack_size="6")
    item(org, sup_a, skus[1], "3", "2")
    item(org, sup_b, skus[2], "9", "14")
    for s in skus:
        org.put("/replenishment/policies", {"sku": s, "location_id": wh, "method": "minmax",
                                            "min": "5", "max": "20"}, expect=200)  # fmt: skip
    assert len(open_alerts(org)) == 3  # position 2 <= 5 for each
    made = org.post("/replenishment/suggestions/purchase-orders", {}, expect=201).json()
    pos = sorted(made["purchase_orders"], key=lambda p: p["supplier_id"])
    assert [p["supplier_id"] for p in pos] == [sup_a, sup_b] and made["skipped"] == []
    # 20 - 2 = 18 each; sku 0 in packs of 6: 18 (3 packs); priced from the supplier items
    lines_a = {ln["sku"]: ln for ln in pos[0]["lines"]}
    assert (lines_a[skus[0]]["qty"], lines_a[skus[0]]["unit_price"]) == ("18", "4.5000")
    assert (lines_a[skus[1]]["qty"], lines_a[skus[1]]["unit_price"]) == ("18", "3.0000")
    assert [ln["qty"] for ln in pos[1]["lines"]] == ["18"]
    assert all(p["status"] == "draft" and p["source"] == "suggestion" for p in pos)
    # expected after the line's lead time: 14 days for supplier b
    due = datetime.fromisoformat(pos[1]["lines"][0]["expected_at"])
    assert timedelta(days=13, hours=23) < due - datetime.now(UTC) <= timedelta(days=14)
    # incoming 18 lifts each position to 20 > 5: not suggested again, alerts resolved
    assert org.get("/replenishment/suggestions")["items"] == []
    assert open_alerts(org) == []
    assert org.availability(skus[0])["incoming"] == "18"
    # cancelling a draft takes the incoming away: suggested (and alerted) again
    org.post(f"/purchase-orders/{pos[1]['id']}/cancel", expect=200)
    assert [s["sku"] for s in org.get("/replenishment/suggestions")["items"]] == [skus[2]]
    assert [a["sku"] for a in open_alerts(org)] == [skus[2]]
    # a sku with a policy but no supplier is skipped with the reason; an unknown sku is a 422
    lone = unique("L")
    org.product([lone])
    org.put("/replenishment/policies", {"sku": lone, "location_id": wh, "method": "minmax",
                                        "min": "1", "max": "3"}, expect=200)  # fmt: skip
    r = org.post("/replenishment/suggestions/purchase-orders", {"skus": [lone]},
                 expect=201).json()  # fmt: skip
    assert r["purchase_orders"] == [] and r["skipped"][0]["reason"] == "no supplier sells it"
    org.post("/replenishment/suggestions/purchase-orders", {"skus": ["NOPE"]}, expect=422)


def two_sites(org: OrgClient) -> tuple[str, int, int, int, dict[int, int]]:
    """One sku, one supplier (2.5 a unit, 7 days), two warehouses: 2 on hand in the first, 3
    in the second, a min/max 5/20 policy at each, so it is suggested at both. Returns (sku,
    supplier, first, second, {location: policy id})."""
    sku, sup = unique("TW"), supplier(org)
    org.product([sku])
    wh1, wh2 = org.location(), org.location()
    item(org, sup, sku, "2.5", "7")
    pids = {}
    for wh, on_hand in ((wh1, "2"), (wh2, "3")):
        org.receive(wh, [{"sku": sku, "qty": on_hand, "unit_cost": "1"}])
        body = {"sku": sku, "location_id": wh, "method": "minmax", "min": "5", "max": "20"}
        pids[wh] = org.put("/replenishment/policies", body, expect=200).json()["id"]
    return sku, sup, wh1, wh2, pids


def test_one_suggestion_of_a_sku_suggested_at_two_locations(org: OrgClient) -> None:
    sku, sup, wh1, wh2, pids = two_sites(org)
    # each row names its policy: position 2 <= 5 -> order 20 - 2 = 18 at the first;
    # position 3 <= 5 -> order 20 - 3 = 17 at the second
    rows = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    assert sorted((r["location_id"], r["policy_id"], r["suggested_qty"]) for r in rows) == sorted(
        [(wh1, pids[wh1], "18"), (wh2, pids[wh2], "17")]
    )
    # the second location's suggestion alone: one purchase order with one line, 17 to wh2
    made = org.post("/replenishment/suggestions/purchase-orders", {"policy_ids": [pids[wh2]]},
                    expect=201).json()  # fmt: skip
    [po] = made["purchase_orders"]
    assert made["skipped"] == [] and po["supplier_id"] == sup
    assert [(ln["sku"], ln["location_id"], ln["qty"], ln["unit_price"]) for ln in po["lines"]] == [
        (sku, wh2, "17", "2.5000")
    ]
    # incoming 17 lifts wh2 to 20 > 5; the first location is still suggested, still 18
    rows = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    assert [(r["policy_id"], r["suggested_qty"]) for r in rows] == [(pids[wh1], "18")]
    assert org.availability(sku, wh1)["incoming"] == "0"
    assert org.availability(sku, wh2)["incoming"] == "17"
    # a policy id outside the other filters is not a suggestion there: 422, nothing made
    r = org.post("/replenishment/suggestions/purchase-orders",
                 {"policy_ids": [pids[wh1]], "location_id": wh2}, expect=422).json()  # fmt: skip
    assert r["error"]["details"] == {"policy_ids": [pids[wh1]]}
    assert len(org.get("/purchase-orders")["items"]) == 1
    # the sku filter keeps its meaning (every location it is suggested at): wh1's 18 now
    made = org.post("/replenishment/suggestions/purchase-orders", {"skus": [sku]},
                    expect=201).json()  # fmt: skip
    assert [(ln["location_id"], ln["qty"]) for ln in made["purchase_orders"][0]["lines"]] == [
        (wh1, "18")
    ]


def test_policy_ids_that_are_not_suggestions_make_nothing(client: Any, org: OrgClient) -> None:
    sku, _, wh1, wh2, pids = two_sites(org)
    url = "/replenishment/suggestions/purchase-orders"
    unknown = max(pids.values()) + 10**9
    # an id of no policy, even next to a good one: 404 naming it, nothing made
    r = org.post(url, {"policy_ids": [pids[wh1], unknown]}, expect=404).json()
    assert r["error"]["code"] == "not_found" and r["error"]["details"] == {"policy_ids": [unknown]}
    # another org's policy is no policy of this one
    other = OrgClient.signup(client)
    _, _, _, _, theirs = two_sites(other)
    foreign = min(theirs.values())
    r = org.post(url, {"policy_ids": [foreign]}, expect=404).json()
    assert r["error"]["details"] == {"policy_ids": [foreign]}
    # malformed selections are refused before anything is read
    for bad in ([], [0], [-1], ["x"], [1.5], None):
        body = {"policy_ids": bad} if bad is not None else {"policy_ids": [1] * 10001}
        org.post(url, body, expect=422)
    assert org.get("/purchase-orders")["items"] == []
    assert len(org.get(f"/replenishment/suggestions?sku={sku}")["items"]) == 2
    # once ordered, a policy is no longer suggested: asking again is a 422 naming the row
    org.post(url, {"policy_ids": [pids[wh1], pids[wh1]]}, expect=201)  # a repeat counts once
    r = org.post(url, {"policy_ids": [pids[wh1], pids[wh2]]}, expect=422).json()
    assert r["error"]["details"] == {"policy_ids": [pids[wh1]]}
    assert sku in r["error"]["message"] and "no suggestion for" in r["error"]["message"]
    [po] = org.get("/purchase-orders")["items"]
    assert [ln["qty"] for ln in org.get(f"/purchase-orders/{po['id']}")["lines"]] == ["18"]


def test_lead_times_past_ten_years_are_refused_not_a_500(org: OrgClient) -> None:
    # a lead time of 10^8 days would put expected dates outside the calendar
    sku = unique("T")
    org.product([sku])
    wh = org.location()
    sup = supplier(org)
    r = org.post("/supplier-items", {"supplier_id": sup, "sku": sku, "price": "1",
                                     "lead_time_days": "100000000"}, expect=422).json()  # fmt: skip
    assert r["error"]["details"]["field"] == "lead_time_days"
    body = {"sku": sku, "location_id": wh, "method": "minmax", "min": "1", "max": "2",
            "lead_time_days": "100000000"}  # fmt: skip
    r = org.put("/replenishment/policies", body, expect=422).json()
    assert r["error"]["details"]["field"] == "lead_time_days"
    assert org.get("/replenishment/policies")["items"] == []

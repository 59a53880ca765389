"""Orders under flexible stock management, through the API on both engines (issue #4)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from hoop.adapters.db.tables import auth_tokens, notifications, outbox
from hoop.adapters.db.tables import orders as orders_t
from hoop.service import orders
from tests.helpers import OrgClient, unique


def stocked(org: OrgClient, qty: str = "5", **where: int) -> tuple[str, int]:
    sku = unique("SKU")
    org.product([sku])
    loc = where.get("loc") or org.location()
    org.receive(loc, [{"sku": sku, "qty": qty, "unit_cost": "2.00"}])
    return sku, loc


def place(org: OrgClient, sku: str, qty: str, expect: int = 201, **extra) -> dict:
    body = {"customer": {"name": "Asha", "phone": "+977-1"}, "lines": [{"sku": sku, "qty": qty}]}
    return org.post("/orders", {**body, **extra}, expect=expect).json()


def avail(org: OrgClient, sku: str) -> tuple[Decimal, Decimal, Decimal, str]:
    a = org.availability(sku)
    return Decimal(a["on_hand"]), Decimal(a["reserved"]), Decimal(a["available"]), a["stock_mode"]


def test_in_stock_order_is_confirmed_at_once_and_reserved(org: OrgClient) -> None:
    sku, _ = stocked(org, "5")
    o = place(org, sku, "3")
    assert o["status"] == "confirmed" and o["respond_by"] is None
    assert o["pickup"] == {"status": "requested", "shipment_document_id": None}
    # on hand stays 5; 3 reserved; available 5 - 3 = 2; still active
    assert avail(org, sku) == (Decimal(5), Decimal(3), Decimal(2), "active")
    assert [(t["action"], t["to_status"]) for t in o["timeline"]] == [("place", "confirmed")]
    # exactly the rest: confirmed too, and the product turns inactive
    place(org, sku, "2")
    assert avail(org, sku) == (Decimal(5), Decimal(5), Decimal(0), "inactive")


def test_short_or_empty_stock_makes_an_order_request(org: OrgClient) -> None:
    org.patch("/org", {"seller_response_seconds": 120}, expect=200)
    sku, _ = stocked(org, "2")
    o = place(org, sku, "3")  # more than available: the whole order waits for the seller
    assert o["status"] == "pending_seller"
    respond_by = datetime.fromisoformat(o["respond_by"])
    created = datetime.fromisoformat(o["created_at"])
    assert timedelta(seconds=119) <= respond_by - created <= timedelta(seconds=121)
    assert o["reservations"] == [] and avail(org, sku)[1] == 0  # nothing reserved
    # an empty product: an order request as well
    empty = unique("E")
    org.product([empty])
    assert place(org, empty, "1")["status"] == "pending_seller"


def test_a_draft_product_takes_no_order(org: OrgClient) -> None:
    draft = unique("D")
    org.product([draft], status="draft")
    sku, _ = stocked(org, "5")
    before = org.get("/orders")["items"]
    lines = [{"sku": sku, "qty": "1"}, {"sku": draft, "qty": "1"}]
    body = {"customer": {"name": "X"}, "lines": lines}
    r = org.post("/orders", body, expect=409).json()
    assert r["error"]["code"] == "product_not_available" and r["error"]["details"]["skus"] == [
        draft
    ]
    assert org.get("/orders")["items"] == before
    assert avail(org, sku)[1] == 0


def test_accept_pay_pickup_deliver(org: OrgClient) -> None:
    org.patch("/org", {"payment_window_seconds": 3600}, expect=200)
    sku, loc = stocked(org, "2")
    o = place(org, sku, "5")
    assert o["status"] == "pending_seller"
    a = org.post(f"/orders/{o['id']}/accept", expect=200).json()
    assert a["status"] == "awaiting_payment"
    pay_by = datetime.fromisoformat(a["pay_by"])
    assert (
        timedelta(seconds=3590)
        < pay_by - datetime.fromisoformat(a["updated_at"])
        <= timedelta(seconds=3600)
    )
    # wrong state: 409 invalid_state, nothing changes
    r = org.post(f"/orders/{o['id']}/accept", expect=409).json()
    assert r["error"]["code"] == "invalid_state"
    p = org.post(f"/orders/{o['id']}/pay", expect=200).json()
    # paid: confirmed, with the 2 tracked units reserved (the other 3 will ship untracked)
    assert p["status"] == "confirmed" and p["lines"][0]["reserved"] == "2"
    assert avail(org, sku) == (Decimal(2), Decimal(2), Decimal(0), "inactive")
    picked = org.post(f"/orders/{o['id']}/pickup", {"status": "picked_up"}, expect=200).json()
    assert picked["status"] == "picked_up" and picked["reservations"] == []
    doc = picked["pickup"]["shipment_document_id"]
    moves = org.get(f"/stock/moves?document_id={doc}")["items"]
    untracked, customer = org.virtual("untracked"), org.virtual("customer")
    assert sorted((m["from_location_id"], m["to_location_id"], m["qty"]) for m in moves) == sorted(
        [(loc, customer, "2"), (untracked, customer, "3")]
    )
    assert avail(org, sku) == (Decimal(0), Decimal(0), Decimal(0), "inactive")
    d = org.post(f"/orders/{o['id']}/pickup", {"status": "delivered"}, expect=200).json()
    assert d["status"] == "delivered" and d["pickup"]["status"] == "delivered"
    assert [t["to_status"] for t in d["timeline"]] == [
        "pending_seller", "awaiting_payment", "confirmed", "picked_up", "delivered",
    ]  # fmt: skip
    assert all(t["actor_type"] == "user" for t in d["timeline"])
    # the ledger and balances still agree, and costing reconciles
    assert org.post("/audit/verify", expect=200).json()["ok"]


def test_decline_and_cancel(org: OrgClient) -> None:
    sku, _ = stocked(org, "4")
    req = place(org, sku, "9")
    d = org.post(f"/orders/{req['id']}/decline", {"reason": "no stock this week"}, expect=200)
    assert d.json()["status"] == "declined" and d.json()["decline_reason"] == "no stock this week"
    org.post(f"/orders/{req['id']}/pay", expect=409)
    conf = place(org, sku, "3")
    assert avail(org, sku)[1] == 3
    c = org.post(f"/orders/{conf['id']}/cancel", expect=200).json()
    assert c["status"] == "cancelled" and c["reservations"] == []
    assert avail(org, sku) == (Decimal(4), Decimal(0), Decimal(4), "active")
    r = org.post(f"/orders/{conf['id']}/pickup", {"status": "picked_up"}, expect=409).json()
    assert r["error"]["code"] == "invalid_state"


def test_reservation_takes_the_default_location_first_then_the_fullest(org: OrgClient) -> None:
    sku = unique("R")
    org.product([sku])
    a, b, home = org.location(), org.location(), org.location()
    for loc, qty in ((a, "3"), (b, "6"), (home, "2")):
        org.receive(loc, [{"sku": sku, "qty": qty, "unit_cost": "1"}])
    org.patch("/org", {"default_shipping_location_id": home}, expect=200)
    o = place(org, sku, "10")
    # home first (2), then b (the most available: 6), then a (2 of its 3)
    got = sorted((r["location_id"], r["qty"]) for r in o["reservations"])
    assert got == sorted([(home, "2"), (b, "6"), (a, "2")])


def test_deadlines_expire_requests_and_cancel_unpaid_orders(org: OrgClient, uow) -> None:
    sku, _ = stocked(org, "1")
    req = place(org, sku, "5")
    unpaid = place(org, sku, "5")
    org.post(f"/orders/{unpaid['id']}/accept", expect=200)
    later = datetime.fromisoformat(req["respond_by"]) + timedelta(days=2)
    assert uow.write(lambda c: orders.lapse_due(c, now=later)) >= 2
    assert org.get(f"/orders/{req['id']}")["status"] == "expired"
    gone = org.get(f"/orders/{unpaid['id']}")
    assert gone["status"] == "cancelled"
    assert gone["timeline"][-1]["actor_type"] == "system"
    # a late answer is refused, and changes nothing
    assert org.post(f"/orders/{req['id']}/accept", expect=409).json()["error"]["code"] == (
        "invalid_state"
    )
    # the buyer was told (expiry and cancellation) and webhooks have the events
    rows = uow.read(
        lambda c: c.execute(
            select(notifications.c.event, notifications.c.audience).where(
                notifications.c.order_id.in_([req["id"], unpaid["id"]])
            )
        ).all()
    )
    assert ("order.expired", "buyer") in rows and ("order.cancelled", "buyer") in rows
    assert ("order.requested", "seller") in rows and ("order.payment_requested", "buyer") in rows
    events = uow.read(
        lambda c: (
            c.execute(select(outbox.c.event).where(outbox.c.org_id == org.org_id)).scalars().all()
        )
    )
    assert {"order.requested", "order.expired", "order.cancelled"} <= set(events)


def test_bad_orders_are_refused_and_write_nothing(org: OrgClient) -> None:
    sku, _ = stocked(org, "5")
    before = org.get("/orders")["items"]
    for body in (
        {},
        {"customer": {"name": "A"}, "lines": []},
        {"customer": {}, "lines": [{"sku": sku, "qty": "1"}]},
        {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "0"}]},
        {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "-2"}]},
        {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "1.00001"}]},
        {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "1", "unit_price": "-1"}]},
    ):
        r = org.post("/orders", body)
        assert r.status_code == 422, (body, r.text)
        assert "error" in r.json()
    r = org.post("/orders", {"customer": {"name": "A"}, "lines": [{"sku": "NOPE", "qty": "1"}]})
    assert r.status_code == 404
    assert org.get("/orders")["items"] == before and avail(org, sku)[1] == 0
    assert org.post("/orders/999999/accept", expect=404)
    assert org.get("/orders?status=bogus", expect=422)


def test_roles_and_tenancy(org: OrgClient, client) -> None:
    sku, _ = stocked(org, "5")
    o = place(org, sku, "1")
    approver = org.user(["approver"])
    approver.post("/orders", {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "1"}]},
                  expect=403)  # fmt: skip
    assert approver.get(f"/orders/{o['id']}")["id"] == o["id"]  # anyone in the org reads
    other = OrgClient.signup(client)
    other.get(f"/orders/{o['id']}", expect=404)
    other.post(f"/orders/{o['id']}/cancel", expect=404)


def test_idempotent_order_placement(org: OrgClient) -> None:
    sku, _ = stocked(org, "5")
    body = {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "2"}]}
    key = {"Idempotency-Key": unique("k")}
    first = org.post("/orders", body, expect=201, headers=key).json()
    again = org.post("/orders", body, expect=201, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json()["id"] == first["id"]
    assert avail(org, sku)[1] == 2  # reserved once


def test_order_commands_authenticate_before_anything_else(org: OrgClient) -> None:
    """The order routes authenticate inside their transaction: a bad or missing token is
    still a 401 even when the body or the path is invalid too, and a refused order (invalid
    body, known caller) is still audited with its actor."""
    sku, _ = stocked(org, "5")
    good = {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "1"}]}
    bad = {"customer": {}, "lines": []}
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": ""}):
        for path, body in (("/orders", good), ("/orders", bad), ("/orders/0/accept", None)):
            r = org.client.post(f"/api/v1{path}", json=body, headers=headers)
            assert r.status_code == 401, (path, body, r.text)
            assert set(r.json()["error"]) == {"code", "message", "details"}
    r = org.client.post(
        "/api/v1/orders", json=good, headers={"Authorization": "Bearer x", "Idempotency-Key": ""}
    )
    assert r.status_code == 401
    org.post("/orders", bad, expect=422)
    refused = [i for i in org.get("/audit?limit=5")["items"] if i["outcome"] == "refused"]
    assert refused and refused[0]["error_code"] == "validation_error"
    assert refused[0]["actor_id"] == org.user_id


PLACINGS = {
    # as with an Idempotency-Key: the whole placing in one transaction
    "in a transaction": lambda uow, org, actor, body: uow.write(
        lambda c: orders.place_order(c, actor, body)
    ),
    # as without one: each statement its own transaction; several rows, or three losses, go
    # to the transaction
    "statementwise": lambda uow, org, actor, body: orders.place_order_statementwise(
        uow, org.token, body
    ),
}


@pytest.mark.parametrize("how", sorted(PLACINGS))
def test_a_lost_reservation_writes_nothing_and_is_decided_again(org, uow, engine, monkeypatch, how):
    """PostgreSQL reads availability without a lock and reserves in the statement that writes
    the order, only where the stock is still there. Here another transaction ships stock
    between the read and the write (a real, committed shipment on another connection), so the
    reservation loses: nothing of the attempt may remain, and the order is decided again from
    a fresh read. Each order ends with one order row, one timeline entry and one event."""
    if engine.dialect.name != "postgresql":
        return  # SQLite decides under BEGIN IMMEDIATE: no reservation can lose
    from tests.integration.test_concurrency import actor_for, post

    actor = actor_for(uow, org)
    real = orders._allocation
    competitor: list[dict] = []

    def after_the_read(lines, slots, default_location):
        if competitor:  # the first decision only: then another transaction ships first
            post(uow, actor, competitor.pop())
        return real(lines, slots, default_location)

    monkeypatch.setattr(orders, "_allocation", after_the_read)

    def placed(sku: str, qty: str, ship: dict) -> dict:
        competitor.append(ship)
        body = {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": qty}]}
        out = PLACINGS[how](uow, org, actor, body)
        assert not competitor  # the shipment did run in between
        return out

    # 1. one row: 5 on hand, an order for 2; 4 are shipped in between, so 1 is left < 2 and
    #    the conditional reservation takes nothing. Decided again: 1 available < 2, a request.
    sku1, loc1 = stocked(org, "5")
    ship1 = {"type": "shipment", "from_location_id": loc1, "lines": [{"sku": sku1, "qty": "4"}]}
    first = placed(sku1, "2", ship1)
    assert first["status"] == "pending_seller" and first["reservations"] == []
    assert avail(org, sku1) == (Decimal(1), Decimal(0), Decimal(1), "active")

    # 2. several rows: home 3 (the default location), b 4, c 2; an order for 5 allocates
    #    home 3 + b 2 (home first, then the fullest). 3 are shipped from b in between, leaving
    #    1 < 2 there: the statement reserved home's row but not b's, so the savepoint is rolled
    #    back. Decided again from home 3, b 1, c 2 = 6 >= 5: home 3, then the fullest, c 2.
    sku2 = unique("L")
    org.product([sku2])
    home, b, c = org.location(), org.location(), org.location()
    for loc, qty in ((home, "3"), (b, "4"), (c, "2")):
        org.receive(loc, [{"sku": sku2, "qty": qty, "unit_cost": "1"}])
    org.patch("/org", {"default_shipping_location_id": home}, expect=200)
    ship2 = {"type": "shipment", "from_location_id": b, "lines": [{"sku": sku2, "qty": "3"}]}
    second = placed(sku2, "5", ship2)
    assert second["status"] == "confirmed"
    assert sorted((r["location_id"], r["qty"]) for r in second["reservations"]) == sorted(
        [(home, Decimal(3)), (c, Decimal(2))]
    )
    # on hand 3 + 1 + 2 = 6, reserved 5, available 1; nothing left reserved at b
    assert avail(org, sku2) == (Decimal(6), Decimal(5), Decimal(1), "active")
    at_b = org.availability(sku2, b)
    assert (Decimal(at_b["reserved"]), Decimal(at_b["available"])) == (Decimal(0), Decimal(1))

    for o, event in ((first, "order.requested"), (second, "order.confirmed")):
        got = org.get(f"/orders/{o['id']}")
        assert got["status"] == o["status"]
        assert [t["action"] for t in got["timeline"]] == ["place"]
        with engine.connect() as conn:
            boxed = (
                conn.execute(
                    select(outbox.c.event).where(
                        outbox.c.payload["data"]["order_id"].as_integer() == o["id"]
                    )  # fmt: skip
                )
                .scalars()
                .all()
            )
        assert boxed == [event]


def test_three_lost_reservations_are_decided_under_the_lock(org, uow, engine, monkeypatch):
    """Placed statementwise, an order whose reservation loses three times in a row (stock
    shipped after each read, received again before the next) is placed by the transaction,
    which reads under `FOR UPDATE`, where nothing can take the stock between its read and its
    write. 5 on hand, an order for 2: after the third loss the locked read sees 5 and the
    order is confirmed, once."""
    if engine.dialect.name != "postgresql":
        return  # SQLite places every order in a transaction under BEGIN IMMEDIATE
    from tests.integration.test_concurrency import actor_for, post

    actor = actor_for(uow, org)
    sku, loc = stocked(org, "5")
    ship = {"type": "shipment", "from_location_id": loc, "lines": [{"sku": sku, "qty": "5"}]}
    back = {"type": "receipt", "to_location_id": loc,
            "lines": [{"sku": sku, "qty": "5", "unit_cost": "2.00"}]}  # fmt: skip
    real_allocation, real_slots = orders._allocation, orders._sellable_slots
    seen = {"decisions": 0, "locked_reads": 0}

    def after_the_read(lines, slots, default_location):
        seen["decisions"] += 1
        if seen["decisions"] <= 3:  # each of the first three decisions loses its stock
            post(uow, actor, ship)
        return real_allocation(lines, slots, default_location)

    def read_again(conn, org_id, variant_ids, lock=True):
        post(uow, actor, back)  # the stock is back before every later read
        seen["locked_reads"] += lock
        return real_slots(conn, org_id, variant_ids, lock)

    monkeypatch.setattr(orders, "_allocation", after_the_read)
    monkeypatch.setattr(orders, "_sellable_slots", read_again)
    body = {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "2"}]}
    out = orders.place_order_statementwise(uow, org.token, body)
    # decisions: three lost, then one under the lock; on hand 5 - 5 + 5 - 5 + 5 - 5 + 5 = 5
    assert (seen["decisions"], seen["locked_reads"]) == (4, 1)
    assert out["status"] == "confirmed" and [r["qty"] for r in out["reservations"]] == [2]
    assert avail(org, sku) == (Decimal(5), Decimal(2), Decimal(3), "active")
    got = org.get(f"/orders/{out['id']}")
    assert got["status"] == "confirmed" and [t["action"] for t in got["timeline"]] == ["place"]
    assert [o["id"] for o in org.get("/orders")["items"]].count(out["id"]) == 1


def test_order_bodies_are_checked_as_declared(org: OrgClient) -> None:
    """POST /orders parses its body itself (no dependency injection): an empty, broken or
    mistyped body is the same 422 envelope, naming the field, and is audited as refused."""
    sku, _ = stocked(org, "5")
    headers = {"Authorization": f"Bearer {org.token}", "Content-Type": "application/json"}
    cases = {
        b"": "Field required",
        b"{not json": "JSON",
        b"[]": "an object",
        b'{"customer": {"name": "A"}, "lines": [{"sku": "X", "qty": "1"}], "extra": 1}': "extra",
        b'{"customer": {"name": "A"}, "lines": [{"sku": "X", "qty": []}]}': "lines.0.qty",
    }
    for raw, where in cases.items():
        r = org.client.post("/api/v1/orders", content=raw, headers=headers)
        assert r.status_code == 422, (raw, r.text)
        err = r.json()["error"]
        assert err["code"] == "validation_error" and where in err["message"], (raw, err)
        assert err["details"][0]["loc"][0] == "body", err
    good = b'{"customer": {"name": "A"}, "lines": [{"sku": "%s", "qty": "1"}]}' % sku.encode()
    for kind in ("text/plain", None):  # only a JSON body is read as JSON, as FastAPI does
        sent = {k: v for k, v in headers.items() if k != "Content-Type"}
        if kind:
            sent["Content-Type"] = kind
        r = org.client.post("/api/v1/orders", content=good, headers=sent)
        assert r.status_code == 422 and "Content-Type" in r.json()["error"]["message"], r.text
    assert avail(org, sku)[1] == 0
    ok = {**headers, "Content-Type": "application/json; charset=utf-8"}
    assert org.client.post("/api/v1/orders", content=good, headers=ok).status_code == 201


def test_placing_an_order_is_documented_as_declared(client) -> None:
    """/openapi.json shows POST /orders with its body schema and its bearer token, though the
    route reads both by hand."""
    doc = client.get("/openapi.json").json()
    op = doc["paths"]["/api/v1/orders"]["post"]
    assert op["security"] == [{"HTTPBearer": []}]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/OrderIn"} and op["requestBody"]["required"]
    schemas = doc["components"]["schemas"]
    assert {"OrderIn", "CustomerIn", "OrderLineIn"} <= set(schemas)
    assert schemas["OrderIn"]["required"] == ["customer", "lines"]
    assert list(op) == ["tags", "summary", "description", "operationId", "security",
                        "requestBody", "responses", "parameters"]  # fmt: skip


def test_callers_of_every_kind_place_orders(org: OrgClient, client, engine) -> None:
    """The caller is found in the same statement as the order's first read (PostgreSQL): an
    API key and a user token each place an order as themselves; a revoked key, an expired
    token and a role without `orders.place` are refused and write nothing, and the refusal
    of a known caller is audited with its actor."""
    sku, _ = stocked(org, "5")
    body = {"customer": {"name": "A"}, "lines": [{"sku": sku, "qty": "1"}]}
    key = org.post("/api-keys", {"name": unique("pos"), "roles": ["clerk"]}, expect=201).json()
    machine = OrgClient(client, key["key"], org.org_id, 0, "", "")
    by_key = machine.post("/orders", body, expect=201).json()
    by_user = org.post("/orders", body, expect=201).json()
    assert by_key["status"] == by_user["status"] == "confirmed"
    with engine.connect() as conn:
        rows = conn.execute(
            select(orders_t.c.id, orders_t.c.placed_by_api_key, orders_t.c.placed_by_user)
            .where(orders_t.c.id.in_([by_key["id"], by_user["id"]]))
        ).all()  # fmt: skip
    assert {(r[1], r[2]) for r in rows} == {(key["id"], None), (None, org.user_id)}
    before = (avail(org, sku), len(org.get("/orders?limit=500")["items"]))
    org.req("DELETE", f"/api-keys/{key['id']}", expect=204)
    machine.post("/orders", body, expect=401)
    late = org.user(["clerk"])
    with engine.begin() as conn:  # the token expired a minute ago
        conn.execute(
            update(auth_tokens)
            .where(auth_tokens.c.token_hash == hashlib.sha256(late.token.encode()).hexdigest())
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )  # fmt: skip
    late.post("/orders", body, expect=401)
    approver = org.user(["approver"])
    approver.post("/orders", body, expect=403)
    assert (avail(org, sku), len(org.get("/orders?limit=500")["items"])) == before
    refused = [i for i in org.get("/audit?limit=5")["items"] if i["outcome"] == "refused"]
    assert refused and refused[0]["error_code"] == "forbidden"
    assert refused[0]["actor_id"] not in (None, org.user_id)  # the approver

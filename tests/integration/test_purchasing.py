"""Purchasing through the API on both engines (issue #5): suppliers and their items, purchase
orders and their life, receipts against PO lines (partial, full, over, pending approval,
cancelled), closing short, ASNs, incoming stock in availability, roles and tenancy."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import event, func, select

from hoop.adapters.db.tables import (
    asns,
    audit_events,
    balances,
    outbox,
    purchase_order_lines,
    purchase_orders,
    stock_documents,
    supplier_items,
)
from hoop.service import access, alerts, purchasing
from hoop.service.verify import check_org
from tests.helpers import OrgClient, unique

# ------------------------------------------------------------------ helpers


def supplier(org: OrgClient, **extra: Any) -> dict[str, Any]:
    return org.post("/suppliers", {"name": unique("Supplier"), **extra}, expect=201).json()


def sku_with_item(org: OrgClient, sup: dict[str, Any], price: str = "2.50", **extra: Any) -> str:
    sku = unique("SKU")
    org.product([sku])
    body = {"supplier_id": sup["id"], "sku": sku, "price": price, "lead_time_days": 5, **extra}
    org.post("/supplier-items", body, expect=201)
    return sku


def make_po(
    org: OrgClient,
    sup: dict[str, Any],
    lines: list[dict[str, Any]],
    expect: int = 201,
    **extra: Any,
) -> Any:
    r = org.post("/purchase-orders", {"supplier_id": sup["id"], "lines": lines, **extra})
    assert r.status_code == expect, r.text
    return r.json()


def sent_po(org: OrgClient, qty: str = "10", **extra: Any) -> tuple[dict[str, Any], str, int]:
    """A sent PO for one SKU into a new warehouse: (po, sku, warehouse)."""
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    wh = org.location()
    po = make_po(org, sup, [{"sku": sku, "qty": qty}], location_id=wh, **extra)
    po = org.post(f"/purchase-orders/{po['id']}/send", expect=200).json()
    return po, sku, wh


def receive(
    org: OrgClient, po: dict[str, Any], qty: str, expect: int = 201, line: int = 0, **extra: Any
) -> Any:
    body = {"lines": [{"purchase_order_line_id": po["lines"][line]["id"], "qty": qty}], **extra}
    r = org.post(f"/purchase-orders/{po['id']}/receive", body)
    assert r.status_code == expect, r.text
    return r.json()


def count(uow: Any, table: Any, org_id: int, *where: Any) -> int:
    return int(
        uow.read(
            lambda c: c.execute(
                select(func.count()).select_from(table).where(table.c.org_id == org_id, *where)
            ).scalar_one()
        )
    )


def line_of(org: OrgClient, po_id: int, i: int = 0) -> dict[str, Any]:
    return dict(org.get(f"/purchase-orders/{po_id}")["lines"][i])


# ------------------------------------------------------------------ suppliers and items


def test_suppliers_defaults_pages_and_patch(org: OrgClient) -> None:
    a = supplier(org, email="buy@a.example")
    assert a["currency"] == "USD" and a["active"] is True and a["email"] == "buy@a.example"
    b = supplier(org, currency="eur")
    assert b["currency"] == "EUR"
    page = org.get("/suppliers?limit=1")
    assert [s["id"] for s in page["items"]] == [a["id"]] and page["next_cursor"] == str(a["id"])
    rest = org.get(f"/suppliers?limit=1&cursor={page['next_cursor']}")
    assert [s["id"] for s in rest["items"]] == [b["id"]]
    r = org.post("/suppliers", {"name": a["name"]}, expect=409).json()
    assert r["error"]["code"] == "duplicate_supplier"
    p = org.patch(f"/suppliers/{b['id']}", {"phone": "+1-555", "active": False}, expect=200)
    assert p.json()["phone"] == "+1-555" and p.json()["active"] is False
    assert org.get(f"/suppliers/{b['id']}")["active"] is False
    org.patch(f"/suppliers/{b['id']}", {"name": a["name"]}, expect=409)
    org.post("/suppliers", {"name": "x", "currency": "EURO"}, expect=422)


def test_supplier_items_defaults_validation_and_preferred(org: OrgClient, uow: Any) -> None:
    s1, s2 = supplier(org), supplier(org)
    sku = unique("SKU")
    variant_id = org.product([sku])["variants"][0]["id"]
    base = {"sku": sku, "price": "3.10", "lead_time_days": "7"}
    i1 = org.post(
        "/supplier-items", {"supplier_id": s1["id"], **base, "preferred": True}, expect=201
    ).json()
    assert (i1["moq"], i1["pack_size"], i1["preferred"], i1["currency"]) == ("0", "1", True, "USD")
    assert i1["variant_id"] == variant_id and i1["price"] == "3.1000"
    before = count(uow, supplier_items, org.org_id)
    for bad in (
        {"price": "-1"},
        {"lead_time_days": "-1"},
        {"moq": "-1"},
        {"pack_size": "0"},
        {"price": "1.00001"},
        {"sku": None, "variant_id": None},
    ):
        r = org.post("/supplier-items", {"supplier_id": s2["id"], **base, **bad})
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["code"] in ("validation_error",)
    org.post("/supplier-items", {"supplier_id": s2["id"], **base, "sku": "NOPE"}, expect=404)
    dup = org.post("/supplier-items", {"supplier_id": s1["id"], **base}, expect=409).json()
    assert dup["error"]["code"] == "duplicate_supplier_item"
    assert count(uow, supplier_items, org.org_id) == before
    # a second supplier's item, preferred: the first one is no longer preferred
    i2 = org.post(
        "/supplier-items",
        {
            "supplier_id": s2["id"],
            "variant_id": variant_id,
            "price": 2,
            "lead_time_days": 3,
            "moq": 12,
            "pack_size": 6,
            "preferred": True,
        },
        expect=201,
    ).json()
    assert (i2["moq"], i2["pack_size"]) == ("12", "6")
    items = org.get(f"/supplier-items?sku={sku}")["items"]
    assert {i["id"]: i["preferred"] for i in items} == {i1["id"]: False, i2["id"]: True}
    assert [i["id"] for i in org.get(f"/supplier-items?supplier_id={s1['id']}")["items"]] == [
        i1["id"]
    ]
    # and back again by PATCH
    assert org.patch(f"/supplier-items/{i1['id']}", {"preferred": True}, expect=200).json()[
        "preferred"
    ]
    assert org.get(f"/supplier-items/{i2['id']}")["preferred"] is False
    org.patch(f"/supplier-items/{i1['id']}", {"pack_size": "0"}, expect=422)
    assert (
        org.patch(f"/supplier-items/{i1['id']}", {"price": "4"}, expect=200).json()["price"]
        == "4.0000"
    )
    org.req("DELETE", f"/supplier-items/{i2['id']}", expect=204)
    org.get(f"/supplier-items/{i2['id']}", expect=404)


# ------------------------------------------------------------------ purchase orders


def test_po_defaults_price_and_location(org: OrgClient) -> None:
    first_wh, second_wh = org.location(), org.location()
    sup = supplier(org)
    sku = sku_with_item(org, sup, price="2.5")
    po = make_po(org, sup, [{"sku": sku, "qty": "4"}, {"sku": sku, "qty": "1", "unit_price": 3}])
    assert po["status"] == "draft" and po["source"] == "manual" and po["currency"] == "USD"
    assert po["location_id"] == first_wh  # the first warehouse, without a default
    assert [(ln["unit_price"], ln["location_id"], ln["open_qty"]) for ln in po["lines"]] == [
        ("2.5000", first_wh, "4"),
        ("3.0000", first_wh, "1"),
    ]
    assert po["total"] == "13.0000" and po["asns"] == [] and po["receipts"] == []
    assert org.get(f"/purchase-orders/{po['id']}") == po  # the answer is what is stored
    org.patch("/org", {"default_shipping_location_id": second_wh}, expect=200)
    po2 = make_po(org, sup, [{"sku": sku, "qty": "1", "location_id": first_wh}])
    assert po2["location_id"] == second_wh and po2["lines"][0]["location_id"] == first_wh


def test_bad_purchase_orders_are_refused_and_write_nothing(
    org: OrgClient, client: Any, uow: Any
) -> None:
    wh = org.location()
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    bare = unique("SKU")
    org.product([bare])
    archived = unique("SKU")
    org.product([archived], status="archived")
    before = count(uow, purchase_orders, org.org_id), count(uow, purchase_order_lines, org.org_id)
    other = OrgClient.signup(client)
    theirs = supplier(other)
    cases = [
        ({"lines": [{"sku": bare, "qty": "1"}]}, 422, "unit_price_required"),
        ({"lines": [{"sku": sku, "qty": "0"}]}, 422, "validation_error"),
        ({"lines": [{"sku": sku, "qty": "1", "unit_price": "-1"}]}, 422, "validation_error"),
        ({"lines": []}, 422, "validation_error"),
        ({"lines": [{"qty": "1"}]}, 422, "validation_error"),
        ({"lines": [{"sku": "NOPE", "qty": "1"}]}, 404, "not_found"),
        (
            {"lines": [{"sku": sku, "qty": "1"}], "location_id": org.virtual("supplier")},
            422,
            "validation_error",
        ),
        ({"lines": [{"sku": sku, "qty": "1"}], "location_id": 10**12}, 404, "not_found"),
        ({"lines": [{"sku": sku, "qty": "1"}], "supplier_id": theirs["id"]}, 404, "not_found"),
        ({"lines": [{"sku": archived, "qty": "1", "unit_price": 1}]}, 409, "product_archived"),
        (
            {"lines": [{"sku": sku, "qty": "1"}], "expected_at": "2026-01-01T00:00:00"},
            422,
            "validation_error",
        ),
    ]
    for body, status, code in cases:
        r = org.post("/purchase-orders", {"supplier_id": sup["id"], **body})
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (body, r.text)
    org.patch(f"/suppliers/{sup['id']}", {"active": False}, expect=200)
    r = org.post("/purchase-orders", {"supplier_id": sup["id"], "lines": [{"sku": sku, "qty": 1}]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "supplier_inactive"
    assert (
        count(uow, purchase_orders, org.org_id),
        count(uow, purchase_order_lines, org.org_id),
    ) == before
    # no warehouse at all: the location must be given
    empty = OrgClient.signup(client)
    s = supplier(empty)
    x = unique("X")
    empty.product([x])
    r = empty.post(
        "/purchase-orders",
        {"supplier_id": s["id"], "lines": [{"sku": x, "qty": 1, "unit_price": 1}]},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "location_required"
    assert wh  # the first org had one


def test_state_machine_send_cancel_close(org: OrgClient, uow: Any) -> None:
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    org.location()
    draft = make_po(org, sup, [{"sku": sku, "qty": "5"}])
    for action in ("close",):
        r = org.post(f"/purchase-orders/{draft['id']}/{action}", expect=409).json()
        assert r["error"]["code"] == "invalid_state"
    sent = org.post(f"/purchase-orders/{draft['id']}/send", expect=200).json()
    assert sent["status"] == "sent" and sent["sent_at"] is not None
    assert (
        org.post(f"/purchase-orders/{draft['id']}/send", expect=409).json()["error"]["code"]
        == "invalid_state"
    )
    org.post(f"/purchase-orders/{draft['id']}/close", expect=409)
    cancelled = org.post(f"/purchase-orders/{draft['id']}/cancel", expect=200).json()
    assert cancelled["status"] == "cancelled" and cancelled["lines"][0]["open_qty"] == "0"
    for action in ("send", "cancel", "close"):
        org.post(f"/purchase-orders/{draft['id']}/{action}", expect=409)
    # a draft can be cancelled too
    d2 = make_po(org, sup, [{"sku": sku, "qty": "5"}])
    assert org.post(f"/purchase-orders/{d2['id']}/cancel", expect=200).json()["status"] == (
        "cancelled"
    )
    # receipts only against sent or partly received orders
    d3 = make_po(org, sup, [{"sku": sku, "qty": "5"}])
    r = receive(org, d3, "1", expect=409)
    assert r["error"]["code"] == "invalid_state"
    receive(org, cancelled, "1", expect=409)
    # every refusal is audited and the order unchanged
    refused = uow.read(
        lambda c: c.execute(
            select(func.count())
            .select_from(audit_events)
            .where(
                audit_events.c.org_id == org.org_id,
                audit_events.c.outcome == "refused",
                audit_events.c.error_code == "invalid_state",
            )
        ).scalar_one()
    )
    assert refused >= 8
    assert org.get(f"/purchase-orders/{d3['id']}")["status"] == "draft"
    assert [p["status"] for p in org.get("/purchase-orders?status=cancelled")["items"]] == [
        "cancelled",
        "cancelled",
    ]
    assert org.get("/purchase-orders?status=bogus", expect=422)


# ------------------------------------------------------------------ receipts


def test_partial_then_full_receipt_and_incoming(org: OrgClient, uow: Any) -> None:
    po, sku, wh = sent_po(org, "10")
    a = org.availability(sku)
    assert (a["on_hand"], a["incoming"]) == ("0", "10")
    assert a["locations"] == [
        {
            "location_id": wh,
            "on_hand": "0",
            "reserved": "0",
            "available": "0",
            "incoming": "10",
            "sellable": True,
        }
    ]
    out = receive(org, po, "4")
    doc = out["documents"][0]
    assert doc["state"] == "done" and doc["purchase_order_id"] == po["id"]
    assert doc["to_location_id"] == wh and doc["lines"][0]["unit_cost"] == "2.5000"
    p = out["purchase_order"]
    assert p["status"] == "partially_received"
    assert (p["lines"][0]["received_qty"], p["lines"][0]["open_qty"]) == ("4", "6")
    assert [r["id"] for r in p["receipts"]] == [doc["id"]]
    a = org.availability(sku)
    assert (a["on_hand"], a["incoming"], a["available"]) == ("4", "6", "4")
    # more than is open: 409 over_receipt naming the line, nothing written
    docs_before = count(uow, stock_documents, org.org_id)
    r = receive(org, po, "7", expect=409)
    assert r["error"]["code"] == "over_receipt"
    assert r["error"]["details"]["lines"] == [
        {"purchase_order_line_id": po["lines"][0]["id"], "qty": "7", "open_qty": "6"}
    ]
    assert count(uow, stock_documents, org.org_id) == docs_before
    assert org.availability(sku)["on_hand"] == "4"
    done = receive(org, po, "6")["purchase_order"]
    assert done["status"] == "received" and done["received_at"] is not None
    assert done["closed_short"] is False and done["lines"][0]["open_qty"] == "0"
    a = org.availability(sku)
    assert (a["on_hand"], a["incoming"]) == ("10", "0")
    receive(org, po, "1", expect=409)  # received: no more receipts
    assert uow.read(lambda c: check_org(c, org.org_id)) == []


def test_receipt_through_stock_documents_names_every_over_line(org: OrgClient, uow: Any) -> None:
    sup = supplier(org)
    s1, s2 = sku_with_item(org, sup), sku_with_item(org, sup, price="1")
    wh = org.location()
    po = make_po(org, sup, [{"sku": s1, "qty": "5"}, {"sku": s2, "qty": "2"}], location_id=wh)
    org.post(f"/purchase-orders/{po['id']}/send", expect=200)
    l1, l2 = (ln["id"] for ln in po["lines"])
    body = {
        "type": "receipt",
        "purchase_order_id": po["id"],
        "lines": [
            {"purchase_order_line_id": l1, "qty": "6"},
            {"purchase_order_line_id": l2, "qty": "3"},
        ],
    }
    r = org.post("/stock-documents", body, expect=409).json()
    assert r["error"]["code"] == "over_receipt"
    assert [x["purchase_order_line_id"] for x in r["error"]["details"]["lines"]] == [l1, l2]
    # one line twice in one receipt counts as their sum
    body["lines"] = [
        {"purchase_order_line_id": l1, "qty": "3"},
        {"purchase_order_line_id": l1, "qty": "3"},
    ]
    assert org.post("/stock-documents", body, expect=409).json()["error"]["code"] == "over_receipt"
    assert count(uow, stock_documents, org.org_id) == 0
    # a line of another order, a line without a PO line, a non-receipt
    other = make_po(org, sup, [{"sku": s1, "qty": "1"}], location_id=wh)
    body["lines"] = [{"purchase_order_line_id": other["lines"][0]["id"], "qty": "1"}]
    org.post("/stock-documents", body, expect=404)
    body["lines"] = [{"sku": s1, "qty": "1"}]
    org.post("/stock-documents", body, expect=422)
    org.post("/stock-documents", {**body, "type": "shipment", "from_location_id": wh}, expect=422)
    # good: variant, destination and cost from the PO line
    body["lines"] = [
        {"purchase_order_line_id": l1, "qty": "5"},
        {"purchase_order_line_id": l2, "qty": "1", "unit_cost": "0.9"},
    ]
    doc = org.post("/stock-documents", body, expect=201).json()
    assert doc["to_location_id"] == wh and doc["purchase_order_id"] == po["id"]
    assert [(ln["sku"], ln["qty"], ln["unit_cost"]) for ln in doc["lines"]] == [
        (s1, "5", "2.5000"),
        (s2, "1", "0.9000"),
    ]
    p = org.get(f"/purchase-orders/{po['id']}")
    assert p["status"] == "partially_received"
    assert [ln["open_qty"] for ln in p["lines"]] == ["0", "1"]


def test_destinations_split_and_sub_locations(org: OrgClient) -> None:
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    wh1, wh2 = org.location(), org.location()
    zone = org.location("zone", parent_id=wh1)
    po = make_po(
        org,
        sup,
        [
            {"sku": sku, "qty": "3", "location_id": wh1},
            {"sku": sku, "qty": "2", "location_id": wh2},
        ],
    )
    org.post(f"/purchase-orders/{po['id']}/send", expect=200)
    l1, l2 = (ln["id"] for ln in po["lines"])
    a = org.availability(sku)
    assert a["incoming"] == "5"
    assert {x["location_id"]: x["incoming"] for x in a["locations"]} == {wh1: "3", wh2: "2"}
    assert org.availability(sku, wh1)["incoming"] == "3"  # the subtree only
    assert org.availability(sku, zone)["incoming"] == "0"
    both = [{"purchase_order_line_id": l1, "qty": "1"}, {"purchase_order_line_id": l2, "qty": "1"}]
    r = org.post(
        "/stock-documents",
        {"type": "receipt", "purchase_order_id": po["id"], "lines": both},
        expect=422,
    ).json()
    assert r["error"]["code"] == "mixed_locations"
    # into a zone under the line's warehouse: fine; into the other warehouse: refused
    org.post(
        "/stock-documents",
        {
            "type": "receipt",
            "purchase_order_id": po["id"],
            "to_location_id": zone,
            "lines": both[:1],
        },
        expect=201,
    )
    r = org.post(
        "/stock-documents",
        {
            "type": "receipt",
            "purchase_order_id": po["id"],
            "to_location_id": wh2,
            "lines": both[:1],
        },
        expect=422,
    )
    assert r.json()["error"]["code"] == "location_mismatch"
    # /receive splits by destination: one document each
    out = org.post(f"/purchase-orders/{po['id']}/receive", {"lines": both}, expect=201).json()
    assert sorted(d["to_location_id"] for d in out["documents"]) == sorted([wh1, wh2])
    assert [ln["received_qty"] for ln in out["purchase_order"]["lines"]] == ["2", "1"]
    assert org.availability(sku, wh1)["on_hand"] == "2"


def test_close_short_and_cancel_rules(org: OrgClient) -> None:
    po, sku, _ = sent_po(org, "10")
    receive(org, po, "3")
    r = org.post(f"/purchase-orders/{po['id']}/cancel", expect=409).json()
    assert r["error"]["code"] == "invalid_state" and "close it short" in r["error"]["message"]
    closed = org.post(f"/purchase-orders/{po['id']}/close", expect=200).json()
    assert closed["status"] == "received" and closed["closed_short"] is True
    assert closed["lines"][0]["open"] is False and closed["lines"][0]["open_qty"] == "0"
    assert org.availability(sku)["incoming"] == "0"
    receive(org, po, "1", expect=409)
    org.post(f"/purchase-orders/{po['id']}/close", expect=409)
    # a sent order with nothing received cancels
    po2, sku2, _ = sent_po(org, "4")
    assert org.availability(sku2)["incoming"] == "4"
    org.post(f"/purchase-orders/{po2['id']}/cancel", expect=200)
    assert org.availability(sku2)["incoming"] == "0"


def test_cancelled_receipt_gives_its_quantity_back(org: OrgClient, uow: Any) -> None:
    po, sku, _ = sent_po(org, "10")
    d1 = receive(org, po, "3")["documents"][0]
    d2 = receive(org, po, "7")["documents"][0]
    assert org.get(f"/purchase-orders/{po['id']}")["status"] == "received"
    org.post(f"/stock-documents/{d2['id']}/cancel", expect=200)
    p = org.get(f"/purchase-orders/{po['id']}")
    assert p["status"] == "partially_received" and p["lines"][0]["open_qty"] == "7"
    assert p["received_at"] is not None  # it was received once
    a = org.availability(sku)
    assert (a["on_hand"], a["incoming"]) == ("3", "7")
    org.post(f"/stock-documents/{d1['id']}/cancel", expect=200)
    p = org.get(f"/purchase-orders/{po['id']}")
    assert p["status"] == "sent" and p["lines"][0]["received_qty"] == "0"
    assert [r["reversed"] for r in p["receipts"]] == [True, True]
    # and it can be cancelled now that nothing is received
    org.post(f"/purchase-orders/{po['id']}/cancel", expect=200)
    assert uow.read(lambda c: check_org(c, org.org_id)) == []


def test_receipt_pending_approval_counts_once_approved(org: OrgClient) -> None:
    org.patch(
        "/org", {"approval_rules": [{"document_type": "receipt", "min_qty": "5"}]}, expect=200
    )
    po, sku, _ = sent_po(org, "10")
    small = receive(org, po, "2")["purchase_order"]
    assert small["lines"][0]["received_qty"] == "2"
    out = receive(org, po, "8")
    doc = out["documents"][0]
    assert doc["state"] == "pending_approval"
    assert out["purchase_order"]["lines"][0]["received_qty"] == "2"
    assert out["purchase_order"]["status"] == "partially_received"
    assert org.availability(sku)["incoming"] == "8"
    approver = org.user(["approver"])
    assert approver.post(f"/stock-documents/{doc['id']}/approve", expect=200).json()["state"] == (
        "done"
    )
    p = org.get(f"/purchase-orders/{po['id']}")
    assert p["status"] == "received" and p["lines"][0]["received_qty"] == "10"
    assert org.availability(sku)["incoming"] == "0"
    # a pending receipt that would over-receive by the time it is approved is refused then
    po2, _, _ = sent_po(org, "10")
    pending = receive(org, po2, "6")["documents"][0]
    receive(org, po2, "4")
    receive(org, po2, "4")  # 2 left open: the pending 6 no longer fits
    r = approver.post(f"/stock-documents/{pending['id']}/approve", expect=409).json()
    assert r["error"]["code"] == "over_receipt"
    assert org.get(f"/stock-documents/{pending['id']}")["state"] == "pending_approval"
    # a draft receipt (submit: false) counts when it is submitted
    po3, _, _ = sent_po(org, "3")
    body = {
        "type": "receipt",
        "purchase_order_id": po3["id"],
        "submit": False,
        "lines": [{"purchase_order_line_id": po3["lines"][0]["id"], "qty": "3"}],
    }
    draft = org.post("/stock-documents", body, expect=201).json()
    assert line_of(org, po3["id"])["received_qty"] == "0"
    org.post(f"/stock-documents/{draft['id']}/submit", expect=200)
    assert line_of(org, po3["id"])["received_qty"] == "3"


def test_unit_cost_in_another_currency_is_required(org: OrgClient) -> None:
    sup = supplier(org, currency="EUR")
    sku = unique("SKU")
    org.product([sku])
    org.post(
        "/supplier-items",
        {"supplier_id": sup["id"], "sku": sku, "price": "2", "lead_time_days": 1},
        expect=201,
    )
    org.location()
    po = make_po(org, sup, [{"sku": sku, "qty": "5"}])
    assert po["currency"] == "EUR" and po["lines"][0]["unit_price"] == "2.0000"
    org.post(f"/purchase-orders/{po['id']}/send", expect=200)
    r = receive(org, po, "1", expect=422)
    assert r["error"]["code"] == "unit_cost_required"
    line = {"purchase_order_line_id": po["lines"][0]["id"], "qty": "1", "unit_cost": "2.2"}
    out = org.post(f"/purchase-orders/{po['id']}/receive", {"lines": [line]}, expect=201).json()
    assert out["documents"][0]["lines"][0]["unit_cost"] == "2.2000"
    # a supplier item in another currency than the supplier's gives no default price
    usd = supplier(org)
    sku2 = unique("SKU")
    org.product([sku2])
    org.post(
        "/supplier-items",
        {
            "supplier_id": usd["id"],
            "sku": sku2,
            "price": "2",
            "lead_time_days": 1,
            "currency": "GBP",
        },
        expect=201,
    )
    r = make_po(org, usd, [{"sku": sku2, "qty": "1"}], expect=422)
    assert r["error"]["code"] == "unit_price_required"


# ------------------------------------------------------------------ ASNs


def test_asn_announce_prefill_and_receive(org: OrgClient, uow: Any) -> None:
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    lot_sku = unique("LOT")
    org.product([lot_sku], tracking="lot")
    org.location()
    po = make_po(
        org, sup, [{"sku": sku, "qty": "10"}, {"sku": lot_sku, "qty": "4", "unit_price": "1"}]
    )
    l1, l2 = (ln["id"] for ln in po["lines"])
    good = {
        "reference": "SHIP-1",
        "ship_date": "2026-11-20",
        "arrive_from": "2026-11-28T08:00:00Z",
        "arrive_to": "2026-11-28T12:00:00Z",
        "lines": [
            {"purchase_order_line_id": l1, "qty": "6"},
            {"purchase_order_line_id": l2, "qty": "4", "lot": "L-1", "expiry": "2027-01-01"},
        ],
    }
    r = org.post(f"/purchase-orders/{po['id']}/asns", good, expect=409).json()  # a draft
    assert r["error"]["code"] == "invalid_state"
    org.post(f"/purchase-orders/{po['id']}/send", expect=200)
    before = count(uow, asns, org.org_id)
    over = {**good, "lines": [{"purchase_order_line_id": l1, "qty": "11"}]}
    assert (
        org.post(f"/purchase-orders/{po['id']}/asns", over, expect=409).json()["error"]["code"]
        == "over_receipt"
    )
    window = {**good, "arrive_from": "2026-11-29T00:00:00Z"}
    org.post(f"/purchase-orders/{po['id']}/asns", window, expect=422)
    org.post(
        f"/purchase-orders/{po['id']}/asns",
        {**good, "lines": [{"purchase_order_line_id": 10**12, "qty": "1"}]},
        expect=404,
    )
    assert count(uow, asns, org.org_id) == before
    asn = org.post(f"/purchase-orders/{po['id']}/asns", good, expect=201).json()
    assert asn["status"] == "open" and asn["reference"] == "SHIP-1"
    assert [(ln["sku"], ln["qty"], ln["lot"]) for ln in asn["lines"]] == [
        (sku, "6", None),
        (lot_sku, "4", "L-1"),
    ]
    early = org.post(
        f"/purchase-orders/{po['id']}/asns",
        {
            "arrive_from": "2026-11-27T00:00:00Z",
            "lines": [{"purchase_order_line_id": l1, "qty": "1"}],
        },
        expect=201,
    ).json()
    unknown = org.post(
        f"/purchase-orders/{po['id']}/asns",
        {"lines": [{"purchase_order_line_id": l1, "qty": "1"}]},
        expect=201,
    ).json()
    listed = org.get("/asns?status=open")["items"]
    assert [a["id"] for a in listed] == [early["id"], asn["id"], unknown["id"]]
    page = org.get("/asns?status=open&limit=2")
    assert page["next_cursor"] == "2"
    assert [a["id"] for a in org.get("/asns?status=open&limit=2&cursor=2")["items"]] == [
        unknown["id"]
    ]
    assert [a["id"] for a in org.get(f"/purchase-orders/{po['id']}")["asns"]] == [
        asn["id"],
        early["id"],
        unknown["id"],
    ]
    prefill = org.get(f"/asns/{asn['id']}/receipt")
    assert [
        (ln["purchase_order_line_id"], ln["qty"], ln["lot"], ln["expiry"])
        for ln in prefill["lines"]
    ] == [(l1, "6", None, None), (l2, "4", "L-1", "2027-01-01")]
    out = org.post(f"/purchase-orders/{po['id']}/receive", {"asn_id": asn["id"]}, expect=201).json()
    doc = out["documents"][0]
    assert [(ln["sku"], ln["qty"], ln["lot"]) for ln in doc["lines"]] == [
        (sku, "6", None),
        (lot_sku, "4", "L-1"),
    ]
    got = org.get(f"/asns/{asn['id']}")
    assert got["status"] == "received" and got["receipt_document_id"] == doc["id"]
    assert [ln["open_qty"] for ln in out["purchase_order"]["lines"]] == ["4", "0"]
    r = org.post(f"/purchase-orders/{po['id']}/receive", {"asn_id": asn["id"]}, expect=409)
    assert r.json()["error"]["code"] == "invalid_state"
    assert org.get("/asns?status=received")["items"][0]["id"] == asn["id"]
    # cancelling that receipt expects the ASN again
    org.post(f"/stock-documents/{doc['id']}/cancel", expect=200)
    assert org.get(f"/asns/{asn['id']}")["status"] == "open"
    # closing the order short drops its open ASNs
    receive(org, org.get(f"/purchase-orders/{po['id']}"), "1")
    org.post(f"/purchase-orders/{po['id']}/close", expect=200)
    assert {a["status"] for a in org.get(f"/purchase-orders/{po['id']}")["asns"]} == {"cancelled"}
    assert org.get("/asns?status=open")["items"] == []


# ------------------------------------------------------------------ roles, tenancy, audit


def test_roles(org: OrgClient) -> None:
    po, sku, _ = sent_po(org, "10")
    sup_id = po["supplier_id"]
    clerk, finance, approver = org.user(["clerk"]), org.user(["finance"]), org.user(["approver"])
    line = {"sku": sku, "qty": "1"}
    for who in (clerk, finance, approver):
        who.post("/purchase-orders", {"supplier_id": sup_id, "lines": [line]}, expect=403)
        who.post("/suppliers", {"name": unique("S")}, expect=403)
        who.post(f"/purchase-orders/{po['id']}/close", expect=403)
    for who in (clerk, finance):
        assert who.get(f"/purchase-orders/{po['id']}")["id"] == po["id"]
        assert who.get("/suppliers")["items"]
    approver.get(f"/purchase-orders/{po['id']}", expect=403)
    approver.get("/asns", expect=403)
    finance.post(
        f"/purchase-orders/{po['id']}/receive",
        {"lines": [{"purchase_order_line_id": po["lines"][0]["id"], "qty": 1}]},
        expect=403,
    )
    out = clerk.post(
        f"/purchase-orders/{po['id']}/receive",
        {"lines": [{"purchase_order_line_id": po["lines"][0]["id"], "qty": 1}]},
        expect=201,
    ).json()
    assert out["purchase_order"]["lines"][0]["received_qty"] == "1"


def test_tenancy(org: OrgClient, client: Any) -> None:
    po, sku, wh = sent_po(org, "10")
    asn = org.post(
        f"/purchase-orders/{po['id']}/asns",
        {"lines": [{"purchase_order_line_id": po["lines"][0]["id"], "qty": 1}]},
        expect=201,
    ).json()
    item = org.get(f"/supplier-items?sku={sku}")["items"][0]
    other = OrgClient.signup(client)
    other.location()
    for path in (
        f"/purchase-orders/{po['id']}",
        f"/suppliers/{po['supplier_id']}",
        f"/supplier-items/{item['id']}",
        f"/asns/{asn['id']}",
        f"/asns/{asn['id']}/receipt",
    ):
        other.get(path, expect=404)
    for action in ("send", "cancel", "close"):
        other.post(f"/purchase-orders/{po['id']}/{action}", expect=404)
    line = {"purchase_order_line_id": po["lines"][0]["id"], "qty": 1}
    other.post(f"/purchase-orders/{po['id']}/receive", {"lines": [line]}, expect=404)
    other.post(f"/purchase-orders/{po['id']}/asns", {"lines": [line]}, expect=404)
    other.post(
        "/stock-documents",
        {"type": "receipt", "purchase_order_id": po["id"], "lines": [line]},
        expect=404,
    )
    other.patch(f"/suppliers/{po['supplier_id']}", {"name": "mine"}, expect=404)
    other.patch(f"/supplier-items/{item['id']}", {"price": 1}, expect=404)
    other.req("DELETE", f"/supplier-items/{item['id']}", expect=404)
    other.post(
        "/supplier-items",
        {"supplier_id": po["supplier_id"], "sku": sku, "price": 1, "lead_time_days": 1},
        expect=404,
    )
    assert other.get("/purchase-orders")["items"] == [] and other.get("/asns")["items"] == []
    assert org.get(f"/purchase-orders/{po['id']}")["lines"][0]["received_qty"] == "0"


def test_audit_events_and_idempotency(org: OrgClient, uow: Any) -> None:
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    org.location()
    body = {"supplier_id": sup["id"], "lines": [{"sku": sku, "qty": "2"}]}
    key = {"Idempotency-Key": unique("k")}
    first = org.post("/purchase-orders", body, expect=201, headers=key).json()
    again = org.post("/purchase-orders", body, expect=201, headers=key)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first
    assert count(uow, purchase_orders, org.org_id) == 1
    org.post(f"/purchase-orders/{first['id']}/send", expect=200)
    rkey = {"Idempotency-Key": unique("r")}
    line = {"purchase_order_line_id": first["lines"][0]["id"], "qty": "1"}
    org.post(f"/purchase-orders/{first['id']}/receive", {"lines": [line]}, headers=rkey, expect=201)
    org.post(f"/purchase-orders/{first['id']}/receive", {"lines": [line]}, headers=rkey, expect=201)
    assert line_of(org, first["id"])["received_qty"] == "1"  # received once
    asn = org.post(f"/purchase-orders/{first['id']}/asns", {"lines": [line]}, expect=201).json()
    receive(org, first, "1")
    actions = [i["action"] for i in org.get("/audit?limit=100")["items"]]
    for a in (
        "supplier.create",
        "supplier_item.create",
        "purchase_order.create",
        "purchase_order.send",
        "purchase_order.receive",
        "asn.create",
    ):
        assert a in actions, a
    events = uow.read(
        lambda c: c.execute(
            select(outbox.c.event, outbox.c.payload)
            .where(outbox.c.org_id == org.org_id)
            .order_by(outbox.c.id)
        ).all()
    )
    names = [e for e, _ in events]
    assert names.count("purchase_order.sent") == 1 and names.count("asn.created") == 1
    assert names.count("purchase_order.received") == 1
    received = next(p for e, p in events if e == "purchase_order.received")
    assert received["data"]["purchase_order_id"] == first["id"]
    assert next(p for e, p in events if e == "asn.created")["data"]["asn_id"] == asn["id"]
    # webhooks may subscribe to them
    org.post(
        "/webhooks",
        {"url": "https://hooks.example/x", "events": ["purchase_order.sent", "asn.created"]},
        expect=201,
    )


# ------------------------------------------------------------------ service, set-based


def test_create_purchase_orders_is_set_based(org: OrgClient, uow: Any, engine: Any) -> None:
    actor = uow.read(lambda c: access.authenticate(c, org.token))
    wh = org.location()
    sups = [supplier(org) for _ in range(3)]
    skus = [unique("S") for _ in range(40)]
    variants = org.product(skus)["variants"]

    def drafts(n_po: int, n_lines: int) -> list[dict[str, Any]]:
        return [
            {
                "supplier_id": sups[i]["id"],
                "location_id": wh,
                "expected_at": None,
                "lines": [
                    {
                        "variant_id": v["id"],
                        "qty": Decimal(3),
                        "unit_price": Decimal("1.5"),
                        "location_id": wh,
                        "expected_at": None,
                    }
                    for v in variants[:n_lines]
                ],
            }
            for i in range(n_po)
        ]

    def statements(n_po: int, n_lines: int) -> tuple[int, list[dict[str, Any]]]:
        seen: list[str] = []

        def listener(*args: Any) -> None:
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", listener)
        try:
            out = uow.write(
                lambda c: purchasing.create_purchase_orders(c, actor, drafts(n_po, n_lines))
            )
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(seen), out

    small, _ = statements(1, 1)
    big, out = statements(3, 40)
    assert big == small, (small, big)
    assert len(out) == 3 and all(p["source"] == "suggestion" for p in out)
    assert [len(p["lines"]) for p in out] == [40, 40, 40]
    assert out[2]["lines"][39]["qty"] == Decimal(3) and out[0]["status"] == "draft"
    stored = org.get(f"/purchase-orders/{out[1]['id']}")
    assert stored["source"] == "suggestion" and stored["total"] == "180.0000"
    assert org.availability(skus[0])["incoming"] == "12"  # 3 + 3 x 3


def test_positions_are_re_evaluated_after_every_change(org: OrgClient, monkeypatch: Any) -> None:
    """alerts.positions_changed runs in the transaction of each change, after it: for a
    receipt, once both the stock and the received quantity are in."""
    calls: list[tuple[list[int], int, int]] = []

    def spy(conn: Any, org_id: int, variant_ids: Any) -> int:
        ids = sorted(variant_ids)
        on_hand = conn.execute(
            select(func.coalesce(func.sum(balances.c.on_hand), 0)).where(
                balances.c.org_id == org_id,
                balances.c.variant_id.in_(ids),
                balances.c.location_id == wh,
            )
        ).scalar_one()
        received = conn.execute(
            select(func.coalesce(func.sum(purchase_order_lines.c.received_qty), 0)).where(
                purchase_order_lines.c.org_id == org_id,
                purchase_order_lines.c.variant_id.in_(ids),
            )
        ).scalar_one()
        calls.append((ids, int(on_hand), int(received)))
        return 0

    monkeypatch.setattr(alerts, "positions_changed", spy)
    sup = supplier(org)
    sku = sku_with_item(org, sup)
    wh = org.location()
    variant = org.get(f"/variants?sku={sku}")["items"][0]["id"]

    def step(fn: Any) -> tuple[Any, tuple[list[int], int, int]]:
        n = len(calls)
        out = fn()
        assert len(calls) > n, "positions_changed was not called"
        assert all(c[0] == [variant] for c in calls[n:])
        return out, calls[-1]

    po, last = step(lambda: make_po(org, sup, [{"sku": sku, "qty": "10"}], location_id=wh))
    step(lambda: org.post(f"/purchase-orders/{po['id']}/send", expect=200))
    out, last = step(lambda: receive(org, po, "4"))
    assert last[1] == last[2] == 4  # stock and received both in
    doc = out["documents"][0]["id"]
    _, last = step(lambda: org.post(f"/stock-documents/{doc}/cancel", expect=200))
    assert last[1] == last[2] == 0
    _, last = step(lambda: receive(org, po, "3"))
    assert last[1] == last[2] == 3
    step(lambda: org.post(f"/purchase-orders/{po['id']}/close", expect=200))
    other = make_po(org, sup, [{"sku": sku, "qty": "1"}], location_id=wh)
    step(lambda: org.post(f"/purchase-orders/{other['id']}/cancel", expect=200))

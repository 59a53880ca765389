"""Receipts against one purchase order raced by real threads, on both engines (issue #5).

Every receipt and status change locks the purchase-order row first, so of n receipts for more
than is open exactly those that fit succeed (never an over-receipt), and a cancel racing a
receipt ends in exactly one of the two."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from hoop.adapters.db.tables import document_lines, stock_documents
from hoop.domain.errors import Conflict
from hoop.service import deliveries, purchasing, stock
from tests.helpers import OrgClient, unique
from tests.integration.test_concurrency import actor_for, problems, race


def sent_po(org: OrgClient, qty: str) -> tuple[dict[str, Any], str]:
    sup = org.post("/suppliers", {"name": unique("S")}, expect=201).json()
    sku = unique("SKU")
    org.product([sku])
    wh = org.location()
    body = {"supplier_id": sup["id"], "location_id": wh,
            "lines": [{"sku": sku, "qty": qty, "unit_price": "1.25"}]}  # fmt: skip
    po = org.post("/purchase-orders", body, expect=201).json()
    org.post(f"/purchase-orders/{po['id']}/send", expect=200)
    return po, sku


def test_eight_receipts_of_three_for_ten_units(org, uow):
    po, sku = sent_po(org, "10")
    actor = actor_for(uow, org)
    line = {"purchase_order_line_id": po["lines"][0]["id"], "qty": "3"}

    def run(i: int) -> Any:
        if i % 2:  # half through /receive, half as a plain receipt document
            return uow.write(lambda c: deliveries.receive(c, actor, po["id"], {"lines": [line]}))
        doc = {"type": "receipt", "purchase_order_id": po["id"], "lines": [line]}
        return uow.write(lambda c: stock.create_document(c, actor, doc))

    results = race(8, run)
    kinds = Counter(k for k, _ in results)
    assert kinds == {"ok": 3, "error": 5}, results
    for kind, r in results:
        if kind == "error":
            assert isinstance(r, Conflict) and r.code == "over_receipt", repr(r)
    p = org.get(f"/purchase-orders/{po['id']}")
    assert p["status"] == "partially_received"
    assert (p["lines"][0]["received_qty"], p["lines"][0]["open_qty"]) == ("9", "1")
    assert len(p["receipts"]) == 3
    a = org.availability(sku)
    assert (a["on_hand"], a["incoming"]) == ("9", "1")
    # what the line says it received is what its posted receipt lines hold
    posted = uow.read(
        lambda c: c.execute(
            select(func.sum(document_lines.c.qty))
            .join(stock_documents, stock_documents.c.id == document_lines.c.document_id)
            .where(
                document_lines.c.purchase_order_line_id == po["lines"][0]["id"],
                stock_documents.c.state == "done",
            )
        ).scalar_one()
    )
    assert posted == Decimal(9)
    assert problems(uow, org.org_id) == []


def test_receipts_filling_the_line_exactly_end_received(org, uow):
    po, sku = sent_po(org, "12")
    actor = actor_for(uow, org)
    line = {"purchase_order_line_id": po["lines"][0]["id"], "qty": "2"}
    results = race(
        8, lambda i: uow.write(lambda c: deliveries.receive(c, actor, po["id"], {"lines": [line]}))
    )
    assert Counter(k for k, _ in results) == {"ok": 6, "error": 2}, results
    p = org.get(f"/purchase-orders/{po['id']}")
    assert p["status"] == "received" and p["lines"][0]["received_qty"] == "12"
    assert Decimal(org.availability(sku)["on_hand"]) == 12
    assert problems(uow, org.org_id) == []


def test_cancel_against_receipt(org, uow):
    pos = [sent_po(org, "5")[0] for _ in range(4)]
    actor = actor_for(uow, org)

    def run(i: int) -> Any:
        po = pos[i // 2]
        if i % 2:
            return uow.write(lambda c: purchasing.cancel(c, actor, po["id"]))
        line = {"purchase_order_line_id": po["lines"][0]["id"], "qty": "1"}
        return uow.write(lambda c: deliveries.receive(c, actor, po["id"], {"lines": [line]}))

    results = race(2 * len(pos), run)
    for j, po in enumerate(pos):
        outcomes = results[2 * j : 2 * j + 2]
        assert sorted(k for k, _ in outcomes) == ["error", "ok"], outcomes
        err = next(r for k, r in outcomes if k == "error")
        assert isinstance(err, Conflict) and err.code == "invalid_state", repr(err)
        final = org.get(f"/purchase-orders/{po['id']}")
        if final["status"] == "cancelled":
            assert final["receipts"] == [] and final["lines"][0]["received_qty"] == "0"
        else:
            assert final["status"] == "partially_received"
            assert final["lines"][0]["received_qty"] == "1" and len(final["receipts"]) == 1
    assert problems(uow, org.org_id) == []

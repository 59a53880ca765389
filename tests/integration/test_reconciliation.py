"""Reconciliation finds what differs: rows changed behind costing's back show up per SKU, in
SKU order, with the totals of every SKU (the report's other tests only see balanced books)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

from tests.helpers import OrgClient, unique


def test_reconciliation_lists_each_difference(client: Any, engine: Engine) -> None:
    org = OrgClient.signup(client)
    loc = org.location()
    skus = sorted(unique("REC") for _ in range(5))
    prod = org.product(skus)
    ids = {v["sku"]: v["id"] for v in prod["variants"]}
    # 4 units at 2.50 each: every SKU's ledger, layers and journal hold 10.00
    org.receive(loc, [{"sku": s, "qty": "4", "unit_cost": "2.50"} for s in skus])
    a, b, c, d, e = (ids[s] for s in skus)
    assert org.get("/reports/reconciliation")["balanced"] is True
    with engine.begin() as conn:
        p = {"org": org.org_id}
        # a: its layers gain 0.50 -> layer value 10.50
        conn.execute(text("UPDATE cost_books SET value = value + 5000 "
                          "WHERE org_id = :org AND variant_id = :v"), {**p, "v": a})  # fmt: skip
        # b: one more unit on hand than its layers hold
        conn.execute(text("UPDATE balances SET on_hand = on_hand + 10000 "
                          "WHERE org_id = :org AND variant_id = :v"), {**p, "v": b})  # fmt: skip
        # c: its journal entry grows by 0.01
        conn.execute(text("UPDATE journal_entries SET amount = amount + 100 "
                          "WHERE org_id = :org AND variant_id = :v"), {**p, "v": c})  # fmt: skip
        # d: no book at all: layer value and quantity 0
        conn.execute(text("DELETE FROM cost_books WHERE org_id = :org AND variant_id = :v"),
                     {**p, "v": d})  # fmt: skip
        # e stays as it was
    rec = org.get("/reports/reconciliation")
    assert rec["balanced"] is False
    # totals over all five: ledger 5 x 10; layers 10.50 + 10 + 10 + 0 + 10; journal 50.01
    assert (rec["ledger_value"], rec["layer_value"], rec["journal_inventory_balance"]) == (
        "50.00", "40.50", "50.01"
    )  # fmt: skip
    assert rec["exact"] == {"ledger_value": "50", "layer_value": "40.5",
                            "journal_inventory_balance": "50.01"}  # fmt: skip
    assert rec["differences"] == [
        {"kind": "value", "sku": skus[0], "variant_id": a, "ledger_value": "10",
         "layer_value": "10.5", "journal_inventory_balance": "10"},
        {"kind": "quantity", "sku": skus[1], "variant_id": b, "layer_qty": "4", "on_hand": "5"},
        {"kind": "value", "sku": skus[2], "variant_id": c, "ledger_value": "10",
         "layer_value": "10", "journal_inventory_balance": "10.01"},
        {"kind": "value", "sku": skus[3], "variant_id": d, "ledger_value": "10",
         "layer_value": "0", "journal_inventory_balance": "10"},
        {"kind": "quantity", "sku": skus[3], "variant_id": d, "layer_qty": "0", "on_hand": "4"},
    ]  # fmt: skip
    csv = org.get("/reports/reconciliation?format=csv", expect=None).text.splitlines()
    assert len(csv) == 1 + 1 + 5 and csv[1].startswith("total,,50.00,40.50,50.01")

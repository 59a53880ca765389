"""Costing through the HTTP API, on SQLite and PostgreSQL: FIFO, LIFO and moving average,
backdating, reversals, adjustments, transfers, method changes, reports and their exports.

Every figure below is worked by hand from the definitions (the working is in the comments),
never copied from the code's output. Notation: a FIFO/LIFO layer "q@c" is q units at unit cost
c, listed oldest first; an average pool is "qty, value". Days are in March 2025, UTC, at noon
unless said otherwise; "as of D3" is the end of 3 March.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from openpyxl import load_workbook

from tests.helpers import OrgClient, unique

GRNI = "Goods Received Not Invoiced"
COGS = "Cost of Goods Sold"
INV = "Inventory"
ADJ = "Inventory Adjustment"
SCRAP = "Scrap Expense"
REVAL = "Inventory Revaluation"


# ------------------------------------------------------------------ helpers


def at(day: int, hour: int = 12) -> str:
    """An effective time in March 2025 (day 0 is 28 February)."""
    if day == 0:
        return f"2025-02-28T{hour:02d}:00:00+00:00"
    return f"2025-03-{day:02d}T{hour:02d}:00:00+00:00"


def new_org(client: Any, method: str = "fifo", plan: str = "enterprise") -> OrgClient:
    return OrgClient.signup(client, plan=plan, costing_method=method)


def new_sku(org: OrgClient, prefix: str = "C", **extra: Any) -> str:
    sku = unique(prefix)
    org.product([sku], **extra)
    return sku


def doc(org: OrgClient, body: dict[str, Any], day: int | None, hour: int, expect: int) -> Any:
    if day is not None:
        body = {**body, "effective_at": at(day, hour)}
    r = org.post("/stock-documents", body, expect=expect)
    return r.json()


def receive(
    org: OrgClient, wh: int, sku: str, qty: Any, cost: Any, day: int | None, hour: int = 12,
    expect: int = 201,
) -> Any:  # fmt: skip
    body = {"type": "receipt", "to_location_id": wh,
            "lines": [{"sku": sku, "qty": str(qty), "unit_cost": str(cost)}]}  # fmt: skip
    return doc(org, body, day, hour, expect)


def ship(
    org: OrgClient, wh: int, sku: str, qty: Any, day: int | None, hour: int = 12,
    expect: int = 201,
) -> Any:  # fmt: skip
    body = {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": str(qty)}]}
    return doc(org, body, day, hour, expect)


def adjust(
    org: OrgClient, wh: int, sku: str, qty: Any, reason: str, day: int | None, hour: int = 12,
    expect: int = 201,
) -> Any:  # fmt: skip
    body = {"type": "adjustment", "location_id": wh, "reason": reason,
            "lines": [{"sku": sku, "qty": str(qty)}]}  # fmt: skip
    return doc(org, body, day, hour, expect)


def scrap(
    org: OrgClient, wh: int, sku: str, qty: Any, day: int | None, hour: int = 12,
    expect: int = 201,
) -> Any:  # fmt: skip
    body = {"type": "scrap", "from_location_id": wh, "reason": "damaged",
            "lines": [{"sku": sku, "qty": str(qty)}]}  # fmt: skip
    return doc(org, body, day, hour, expect)


def transfer(
    org: OrgClient, src: int, dst: int, sku: str, qty: Any, day: int | None, hour: int = 12,
    expect: int = 201,
) -> Any:  # fmt: skip
    body = {"type": "transfer", "from_location_id": src, "to_location_id": dst,
            "lines": [{"sku": sku, "qty": str(qty)}]}  # fmt: skip
    return doc(org, body, day, hour, expect)


def move_of(org: OrgClient, doc_id: int, reversal: bool = False) -> int:
    """The id of the document's (only) move, or of its reversing move."""
    items = org.get(f"/stock/moves?document_id={doc_id}")["items"]
    ids = [m["id"] for m in items if m["reversal"] is reversal]
    assert len(ids) == 1, items
    return int(ids[0])


def valuation(org: OrgClient, query: str = "") -> dict[str, Any]:
    return dict(org.get(f"/reports/valuation{query}"))


def val_line(report: dict[str, Any], sku: str) -> tuple[str, str, str]:
    """(qty, unit_cost, value) of the SKU's only line."""
    lines = [ln for ln in report["lines"] if ln["sku"] == sku]
    assert len(lines) == 1, report
    return lines[0]["qty"], lines[0]["unit_cost"], lines[0]["value"]


def cogs(org: OrgClient, query: str = "from=2025-01-01") -> dict[str, Any]:
    return dict(org.get(f"/reports/cogs?{query}"))


def cogs_of(report: dict[str, Any], sku: str) -> tuple[str, str]:
    lines = [ln for ln in report["lines"] if ln["sku"] == sku]
    assert len(lines) == 1, report
    return lines[0]["qty"], lines[0]["cogs"]


def journal_items(org: OrgClient, frm: str = "2025-01-01", to: str | None = None) -> list[dict]:
    """Every journal line in [frm, to] (to defaults to now), following the cursor."""
    out: list[dict[str, Any]] = []
    q = f"/reports/journal?from={frm}&limit=7" + (f"&to={to}" if to else "")
    cursor = None
    while True:
        page = org.get(q + (f"&cursor={quote(cursor)}" if cursor else ""))
        out += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return out


def entries(items: list[dict[str, Any]], sku: str | None = None) -> list[tuple]:
    """Journal lines folded back into double entries, in journal order:
    (kind, date, move_id, debit account, credit account, amount). Each entry is reported as
    two lines, the debit line first."""
    by_id: dict[int, list[dict[str, Any]]] = {}
    for it in items:
        if sku is None or it["sku"] == sku:
            by_id.setdefault(it["entry_id"], []).append(it)
    out = []
    for dr, cr in by_id.values():
        assert dr["debit"] == cr["credit"] and dr["credit"] == cr["debit"] == "0.00", (dr, cr)
        assert (dr["kind"], dr["date"], dr["move_id"]) == (cr["kind"], cr["date"], cr["move_id"])
        out.append((dr["kind"], dr["date"], dr["move_id"], dr["account"], cr["account"],
                    dr["debit"]))  # fmt: skip
    return out


def assert_reconciled(org: OrgClient, value: str) -> None:
    """Ledger value = open layers = journal Inventory balance = `value`, to the cent and
    exactly; a deep recompute from the moves finds no difference."""
    rec = org.get("/reports/reconciliation?deep=true")
    assert rec["differences"] == [] and rec["balanced"] is True, rec
    assert rec["ledger_value"] == rec["layer_value"] == rec["journal_inventory_balance"] == value
    exact = rec["exact"]
    assert (
        Decimal(exact["ledger_value"])
        == Decimal(exact["layer_value"])
        == Decimal(exact["journal_inventory_balance"])
    )
    check = org.post("/costing/recompute", {"check_only": True}, expect=200).json()
    assert check["differences"] == []


def assert_error(r: Any, status: int | tuple[int, ...], code: str | None = None) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, r.text
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details"} and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return dict(err)


# ------------------------------------------------------------------ one test per method


def test_fifo_interleaved_receipts_and_shipments(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # layers [10@2]
    ship(org, wh, sku, 4, 2)  # takes 4@2 = 8.00; layers [6@2]
    receive(org, wh, sku, 10, "3.00", 3)  # [6@2, 10@3]
    ship(org, wh, sku, 8, 4)  # 6@2 + 2@3 = 12 + 6 = 18.00; [8@3]
    receive(org, wh, sku, 5, "4.00", 5)  # [8@3, 5@4]
    ship(org, wh, sku, 10, 6)  # 8@3 + 2@4 = 24 + 8 = 32.00; [3@4]

    # COGS 8 + 18 + 32 = 58.00 for 4 + 8 + 10 = 22 units
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert cogs_of(c, sku) == ("22", "58.00") and c["total_cogs"] == "58.00"
    assert [(p["period"], p["cogs"]) for p in c["periods"]] == [
        ("2025-03-02", "8.00"),
        ("2025-03-04", "18.00"),
        ("2025-03-06", "32.00"),
    ]
    # only the first shipment falls in 1-3 March
    assert cogs_of(cogs(org, "from=2025-03-01&to=2025-03-03"), sku) == ("4", "8.00")

    # now: 3@4 = 12.00 (check: in 20 + 30 + 20 = 70, out 58, 70 - 58 = 12)
    v = valuation(org)
    assert val_line(v, sku) == ("3", "4.0000", "12.00") and v["total_value"] == "12.00"
    # as of D3: [6@2, 10@3] = 12 + 30 = 42.00 over 16 units, unit 42 / 16 = 2.625
    v = valuation(org, "?as_of=2025-03-03")
    assert val_line(v, sku) == ("16", "2.6250", "42.00") and v["total_value"] == "42.00"
    assert v["total_qty"] == "16"
    # as of D1: [10@2]
    assert val_line(valuation(org, "?as_of=2025-03-01"), sku) == ("10", "2.0000", "20.00")
    assert_reconciled(org, "12.00")


def test_lifo_interleaved_receipts_and_shipments(client):
    org = new_org(client, "lifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # [10@2]
    receive(org, wh, sku, 10, "3.00", 2)  # [10@2, 10@3]
    ship(org, wh, sku, 4, 3)  # newest first: 4@3 = 12.00; [10@2, 6@3]
    receive(org, wh, sku, 5, "4.00", 4)  # [10@2, 6@3, 5@4]
    ship(org, wh, sku, 8, 5)  # 5@4 + 3@3 = 20 + 9 = 29.00; [10@2, 3@3]
    ship(org, wh, sku, 5, 6)  # 3@3 + 2@2 = 9 + 4 = 13.00; [8@2]

    # COGS 12 + 29 + 13 = 54.00 for 4 + 8 + 5 = 17 units
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert cogs_of(c, sku) == ("17", "54.00") and c["total_cogs"] == "54.00"
    assert [p["cogs"] for p in c["periods"]] == ["12.00", "29.00", "13.00"]
    # now: 8@2 = 16.00 (check: in 20 + 30 + 20 = 70, 70 - 54 = 16)
    v = valuation(org)
    assert val_line(v, sku) == ("8", "2.0000", "16.00") and v["total_value"] == "16.00"
    # as of D4: [10@2, 6@3, 5@4] = 20 + 18 + 20 = 58.00 over 21; 58 / 21 = 2.76190.. -> 2.7619
    assert val_line(valuation(org, "?as_of=2025-03-04"), sku) == ("21", "2.7619", "58.00")
    assert_reconciled(org, "16.00")


def test_average_interleaved_receipts_and_shipments(client):
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # pool 10, 20.00 (avg 2)
    ship(org, wh, sku, 4, 2)  # 4 x 2 = 8.00; pool 6, 12.00
    receive(org, wh, sku, 10, "3.50", 3)  # 16, 12 + 35 = 47.00 (avg 47/16 = 2.9375)
    ship(org, wh, sku, 6, 4)  # 6 x 2.9375 = 17.625; pool 10, 29.375
    receive(org, wh, sku, 5, "4.00", 5)  # 15, 49.375 (avg 3.291666..)
    ship(org, wh, sku, 3, 6)  # 3 x 49.375 / 15 = 9.875; pool 12, 39.50

    # COGS 8 + 17.625 + 9.875 = 35.50 for 13 units (check: in 20 + 35 + 20 = 75, 75 - 35.5
    # = 39.5 left)
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert cogs_of(c, sku) == ("13", "35.50") and c["total_cogs"] == "35.50"
    # per day 8.00, 17.625, 9.875: each shown within a cent of its exact value, summing to
    # the total
    days = [Decimal(p["cogs"]) for p in c["periods"]]
    exact = [Decimal("8"), Decimal("17.625"), Decimal("9.875")]
    assert sum(days) == Decimal("35.50")
    assert all(abs(d - e) < Decimal("0.01") for d, e in zip(days, exact, strict=True))
    # now: 12 units, 39.50; unit 39.5 / 12 = 3.291666.. -> 3.2917
    v = valuation(org)
    assert val_line(v, sku) == ("12", "3.2917", "39.50") and v["total_value"] == "39.50"
    # as of D4: pool 10, 29.375 -> 29.38 (half-even: ..75 goes to the even 8), unit 2.9375
    v = valuation(org, "?as_of=2025-03-04")
    assert val_line(v, sku) == ("10", "2.9375", "29.38") and v["total_value"] == "29.38"
    assert_reconciled(org, "39.50")


# ------------------------------------------------------------------ backdating


def test_fifo_backdated_receipt_recosts_later_shipments_with_corrections(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # [10@2]
    s1 = ship(org, wh, sku, 6, 5)  # 6@2 = 12.00; [4@2]
    receive(org, wh, sku, 10, "5.00", 6)  # [4@2, 10@5]
    s2 = ship(org, wh, sku, 6, 8)  # 4@2 + 2@5 = 8 + 10 = 18.00; [8@5]
    m1, m2 = move_of(org, s1["id"]), move_of(org, s2["id"])
    assert cogs_of(cogs(org), sku) == ("12", "30.00")  # 12 + 18
    assert val_line(valuation(org), sku) == ("8", "5.0000", "40.00")  # 8@5
    postings_before = [e for e in entries(journal_items(org), sku) if e[0] == "posting"]
    assert [e[2:] for e in postings_before if e[2] in (m1, m2)] == [
        (m1, COGS, INV, "12.00"),
        (m2, COGS, INV, "18.00"),
    ]

    # A receipt of 10@1 backdated to 28 February, before everything:
    # layers [10@1, 10@2, 10@5]; s1 takes 6@1 = 6.00 (was 12.00);
    # s2 takes 4@1 + 2@2 = 4 + 4 = 8.00 (was 18.00); left [8@2, 10@5] = 16 + 50 = 66.00
    # (check: in 10 + 20 + 50 = 80, out 6 + 8 = 14, 80 - 14 = 66)
    r0 = receive(org, wh, sku, 10, "1.00", 0)
    m0 = move_of(org, r0["id"])
    assert cogs_of(cogs(org), sku) == ("12", "14.00")
    v = valuation(org)
    # 66 / 18 = 3.6666.. -> 3.6667
    assert val_line(v, sku) == ("18", "3.6667", "66.00") and v["total_value"] == "66.00"
    # as of D5 (after s1): [4@1, 10@2] = 4 + 20 = 24.00 over 14
    assert val_line(valuation(org, "?as_of=2025-03-05"), sku) == ("14", "1.7143", "24.00")

    after = entries(journal_items(org), sku)
    # the original postings are still there, unchanged
    assert [e for e in after if e[0] == "posting" and e[2] != m0] == postings_before
    # the backdated receipt's own entry, dated at its effective day
    assert ("posting", "2025-02-28", m0, INV, GRNI, "10.00") in after
    # corrections dated at the re-costed shipments, for the difference: inventory change was
    # -12 now -6 (+6: Dr Inventory, Cr COGS), was -18 now -8 (+10)
    assert [e for e in after if e[0] == "correction"] == [
        ("correction", "2025-03-05", m1, INV, COGS, "6.00"),
        ("correction", "2025-03-08", m2, INV, COGS, "10.00"),
    ]
    assert_reconciled(org, "66.00")


def test_average_backdated_shipment(client):
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # 10, 20.00
    receive(org, wh, sku, 10, "4.00", 5)  # 20, 60.00 (avg 3)
    s8 = ship(org, wh, sku, 5, 8)  # 5 x 3 = 15.00; 15, 45.00
    m8 = move_of(org, s8["id"])
    assert cogs_of(cogs(org), sku) == ("5", "15.00")

    # Backdated shipment of 5 on D3: pool then 10, 20.00 (avg 2) -> 5 x 2 = 10.00; 5, 10.00.
    # D5 receipt: 15, 50.00 (avg 3.3333..). D8 shipment: 5 x 50 / 15 = 16.66666.. -> 16.6667
    # (was 15.00: inventory change -1.6667, Dr COGS 1.67 / Cr Inventory); left 10, 33.3333.
    # Check: in 20 + 40 = 60, out 10 + 16.6667 = 26.6667, 60 - 26.6667 = 33.3333.
    s3 = ship(org, wh, sku, 5, 3)
    m3 = move_of(org, s3["id"])
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert cogs_of(c, sku) == ("10", "26.67") and c["total_cogs"] == "26.67"
    assert [(p["period"], p["cogs"]) for p in c["periods"]] == [
        ("2025-03-03", "10.00"),
        ("2025-03-08", "16.67"),
    ]
    v = valuation(org)
    assert val_line(v, sku) == ("10", "3.3333", "33.33") and v["total_value"] == "33.33"
    # as of D3 (after the backdated shipment): 5, 10.00
    assert val_line(valuation(org, "?as_of=2025-03-03"), sku) == ("5", "2.0000", "10.00")
    je = entries(journal_items(org), sku)
    assert ("posting", "2025-03-03", m3, COGS, INV, "10.00") in je
    assert ("posting", "2025-03-08", m8, COGS, INV, "15.00") in je
    assert [e for e in je if e[0] == "correction"] == [
        ("correction", "2025-03-08", m8, COGS, INV, "1.67")
    ]
    assert_reconciled(org, "33.33")


def test_fifo_backdated_shipment(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # [10@2]
    receive(org, wh, sku, 10, "4.00", 5)  # [10@2, 10@4]
    s8 = ship(org, wh, sku, 5, 8)  # 5@2 = 10.00; [5@2, 10@4]
    m8 = move_of(org, s8["id"])

    # Backdated shipment of 8 on D3 takes 8@2 = 16.00; [2@2]. D5: [2@2, 10@4].
    # D8 now takes 2@2 + 3@4 = 4 + 12 = 16.00 (was 10.00: Dr COGS 6.00 / Cr Inventory);
    # left [7@4] = 28.00. Check: in 60, out 16 + 16 = 32, 60 - 32 = 28.
    s3 = ship(org, wh, sku, 8, 3)
    m3 = move_of(org, s3["id"])
    assert cogs_of(cogs(org), sku) == ("13", "32.00")
    assert val_line(valuation(org), sku) == ("7", "4.0000", "28.00")
    # as of D4: [2@2]
    assert val_line(valuation(org, "?as_of=2025-03-04"), sku) == ("2", "2.0000", "4.00")
    je = entries(journal_items(org), sku)
    assert ("posting", "2025-03-03", m3, COGS, INV, "16.00") in je
    assert [e for e in je if e[0] == "correction"] == [
        ("correction", "2025-03-08", m8, COGS, INV, "6.00")
    ]
    assert_reconciled(org, "28.00")


def test_lifo_receipt_between_two_shipments(client):
    """Perpetual LIFO: each shipment takes the newest layer existing at its own time. `a` is
    posted in time order; `b` gets the same moves with the middle receipt backdated last:
    both end the same (a backdated move equals a full recompute)."""
    org = new_org(client, "lifo")
    wh = org.location()
    a, b = new_sku(org, "A"), new_sku(org, "B")
    # D1 10@1 -> [10@1]; D2 ship 3: 3@1 = 3.00 -> [7@1]; D3 10@2 -> [7@1, 10@2];
    # D4 ship 3: newest at D4 is the D3 layer: 3@2 = 6.00 -> [7@1, 7@2] = 7 + 14 = 21.00.
    # (Periodic LIFO would charge both shipments from the D3 layer, 12.00; perpetual is 9.00.)
    receive(org, wh, a, 10, "1.00", 1)
    ship(org, wh, a, 3, 2)
    receive(org, wh, a, 10, "2.00", 3)
    ship(org, wh, a, 3, 4)
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert cogs_of(c, a) == ("6", "9.00")
    assert [p["cogs"] for p in c["periods"]] == ["3.00", "6.00"]
    assert val_line(valuation(org), a) == ("14", "1.5000", "21.00")  # 21 / 14 = 1.5

    # b: without the D3 receipt, both shipments take 3@1 = 3.00
    receive(org, wh, b, 10, "1.00", 1)
    ship(org, wh, b, 3, 2)
    s4 = ship(org, wh, b, 3, 4)
    assert cogs_of(cogs(org), b) == ("6", "6.00")
    # then the D3 receipt, backdated: the D4 shipment now takes 3@2 = 6.00 (was 3.00:
    # correction Dr COGS 3.00 / Cr Inventory, dated D4); the D2 one is untouched
    receive(org, wh, b, 10, "2.00", 3)
    assert cogs_of(cogs(org), b) == ("6", "9.00")
    assert val_line(valuation(org), b) == ("14", "1.5000", "21.00")
    m4 = move_of(org, s4["id"])
    corrections = [e for e in entries(journal_items(org), b) if e[0] == "correction"]
    assert corrections == [("correction", "2025-03-04", m4, COGS, INV, "3.00")]
    assert valuation(org)["total_value"] == "42.00"
    assert_reconciled(org, "42.00")


def test_average_restarts_from_zero_stock(client):
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 1, "1.00", 1)  # 1, 1.00
    receive(org, wh, sku, 2, "2.00", 2)  # 3, 5.00 (avg 1.6666..)
    ship(org, wh, sku, 2, 3)  # 2 x 5 / 3 = 3.33333.. -> 3.3333; left 1, 1.6667
    ship(org, wh, sku, 1, 4)  # the last unit takes what is left: 1.6667; 0, 0.00
    # Stock is zero: the restart is priced by the new receipt alone (no residue of the old
    # average survives): 4, 32.00 (avg 8)
    receive(org, wh, sku, 4, "8.00", 5)
    ship(org, wh, sku, 1, 6)  # 1 x 8 = 8.00; 3, 24.00

    # COGS 3.3333 + 1.6667 + 8 = 13.00 for 4 units
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert cogs_of(c, sku) == ("4", "13.00")
    assert [(p["period"], p["cogs"]) for p in c["periods"]] == [
        ("2025-03-03", "3.33"),
        ("2025-03-04", "1.67"),
        ("2025-03-06", "8.00"),
    ]
    assert val_line(valuation(org), sku) == ("3", "8.0000", "24.00")
    # as of D4 the SKU holds nothing at all: no line, total zero
    v = valuation(org, "?as_of=2025-03-04")
    assert [ln for ln in v["lines"] if ln["sku"] == sku] == [] and v["total_value"] == "0.00"
    assert_reconciled(org, "24.00")


# ------------------------------------------------------------------ adjustments, scrap


def test_adjustments_and_scrap(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "3.00", 1)  # [10@3]
    receive(org, wh, sku, 10, "5.00", 2)  # [10@3, 10@5]: 20 units, 80.00, average 4
    # found +5 without a unit cost: at the current average, 5 x 4 = 20.00; [10@3, 10@5, 5@4]
    found = adjust(org, wh, sku, 5, "found", 3)
    # lost -3: FIFO takes the oldest, 3@3 = 9.00; [7@3, 10@5, 5@4]
    lost = adjust(org, wh, sku, -3, "lost", 4)
    # scrap 2: 2@3 = 6.00; [5@3, 10@5, 5@4] = 15 + 50 + 20 = 85.00
    scr = scrap(org, wh, sku, 2, 5)
    # check: in 30 + 50 + 20 = 100, out 9 + 6 = 15, 100 - 15 = 85; unit 85 / 20 = 4.25
    assert val_line(valuation(org), sku) == ("20", "4.2500", "85.00")
    je = entries(journal_items(org), sku)
    assert je == [
        ("posting", "2025-03-01", je[0][2], INV, GRNI, "30.00"),
        ("posting", "2025-03-02", je[1][2], INV, GRNI, "50.00"),
        ("posting", "2025-03-03", move_of(org, found["id"]), INV, ADJ, "20.00"),
        ("posting", "2025-03-04", move_of(org, lost["id"]), ADJ, INV, "9.00"),
        ("posting", "2025-03-05", move_of(org, scr["id"]), SCRAP, INV, "6.00"),
    ]
    # adjustments and scrap are not cost of goods sold
    c = cogs(org)
    assert c["lines"] == [] and c["total_cogs"] == "0.00"
    assert_reconciled(org, "85.00")


def test_average_positive_adjustment_takes_the_current_average(client):
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 3, "1.00", 1)  # 3, 3.00
    receive(org, wh, sku, 1, "2.00", 2)  # 4, 5.00 (avg 1.25)
    adjust(org, wh, sku, 4, "found", 3)  # 4 x 1.25 = 5.00: 8, 10.00, average stays 1.25
    ship(org, wh, sku, 2, 4)  # 2 x 1.25 = 2.50; 6, 7.50
    assert cogs_of(cogs(org), sku) == ("2", "2.50")
    assert val_line(valuation(org), sku) == ("6", "1.2500", "7.50")
    assert_reconciled(org, "7.50")


# ------------------------------------------------------------------ cancellations


def test_cancelled_receipt_and_shipment_take_back_exactly_what_they_moved(client):
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # 10, 20.00
    b = receive(org, wh, sku, 10, "4.00", 2)  # 20, 60.00 (avg 3)
    s1 = ship(org, wh, sku, 5, 3)  # 5 x 3 = 15.00; 15, 45.00
    s2 = ship(org, wh, sku, 2, 4)  # 2 x 3 = 6.00; 13, 39.00
    assert cogs_of(cogs(org), sku) == ("7", "21.00")

    # Cancelling s2 (reversal dated at s2): it brings back exactly the 6.00 s2 took -> 15, 45
    org.post(f"/stock-documents/{s2['id']}/cancel", expect=200)
    assert val_line(valuation(org), sku) == ("15", "3.0000", "45.00")
    assert cogs_of(cogs(org), sku) == ("5", "15.00")  # 15 + 6 - 6

    # Cancelling receipt b (reversal dated D2, right after b) takes back exactly what b
    # brought, 10 units and 40.00 -- not 10 at the average 3 -- leaving 10, 20.00 (avg 2).
    # So later moves are re-costed: s1 = 5 x 2 = 10.00 (was 15), s2 = 2 x 2 = 4.00 (was 6),
    # s2's reversal brings back 4.00 (was 6). Left: 5, 10.00.
    # Check: in 20 + 40 - 40 = 20, out 10 + 4 - 4 = 10, 20 - 10 = 10.
    org.post(f"/stock-documents/{b['id']}/cancel", expect=200)
    assert org.availability(sku)["on_hand"] == "5"
    assert val_line(valuation(org), sku) == ("5", "2.0000", "10.00")
    assert cogs_of(cogs(org), sku) == ("5", "10.00")
    # as of D2 (b and its reversal both effective that day): 10, 20.00
    assert val_line(valuation(org, "?as_of=2025-03-02"), sku) == ("10", "2.0000", "20.00")

    mb, mb_rev = move_of(org, b["id"]), move_of(org, b["id"], reversal=True)
    m1 = move_of(org, s1["id"])
    m2, m2_rev = move_of(org, s2["id"]), move_of(org, s2["id"], reversal=True)
    je = entries(journal_items(org), sku)
    # the reversals' own entries: b's takes back 40.00 from Inventory to GRNI; s2's brings
    # 6.00 back from COGS (as first posted)
    assert ("posting", "2025-03-02", mb, INV, GRNI, "40.00") in je
    assert ("posting", "2025-03-02", mb_rev, GRNI, INV, "40.00") in je
    assert ("posting", "2025-03-04", m2_rev, INV, COGS, "6.00") in je
    # corrections for the re-costed moves: s1 -15 -> -10 (+5), s2 -6 -> -4 (+2),
    # s2's reversal +6 -> +4 (-2)
    assert sorted(e for e in je if e[0] == "correction") == sorted(
        [
            ("correction", "2025-03-03", m1, INV, COGS, "5.00"),
            ("correction", "2025-03-04", m2, INV, COGS, "2.00"),
            ("correction", "2025-03-04", m2_rev, COGS, INV, "2.00"),
        ]
    )
    assert_reconciled(org, "10.00")


def test_cancelled_fifo_receipt_takes_back_its_own_layer(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # [10@2]
    b = receive(org, wh, sku, 10, "3.00", 2)  # [10@2, 10@3]
    s = ship(org, wh, sku, 4, 3)  # 4@2 = 8.00; [6@2, 10@3]
    # Cancelling b takes b's own layer, 10@3 = 30.00 (plain FIFO would have taken the 2s):
    # [6@2] = 12.00; s is not affected (it took from the first layer)
    org.post(f"/stock-documents/{b['id']}/cancel", expect=200)
    assert val_line(valuation(org), sku) == ("6", "2.0000", "12.00")
    # Cancelling s brings back what s took, 4@2 = 8.00: 10 units, 20.00
    org.post(f"/stock-documents/{s['id']}/cancel", expect=200)
    assert val_line(valuation(org), sku) == ("10", "2.0000", "20.00")
    c = cogs(org)
    assert c["total_cogs"] == "0.00"  # 8.00 shipped, 8.00 returned
    assert all(ln["cogs"] == "0.00" for ln in c["lines"])
    je = entries(journal_items(org), sku)
    assert ("posting", "2025-03-02", move_of(org, b["id"], True), GRNI, INV, "30.00") in je
    assert ("posting", "2025-03-03", move_of(org, s["id"], True), INV, COGS, "8.00") in je
    assert [e for e in je if e[0] == "correction"] == []
    assert_reconciled(org, "20.00")


# ------------------------------------------------------------------ transfers


def test_transfers_move_quantity_not_value(client):
    org = new_org(client, "fifo")
    w1, w2 = org.location(), org.location()
    sku = new_sku(org)
    receive(org, w1, sku, 10, "3.00", 1)  # [10@3]; W1 10
    receive(org, w2, sku, 5, "5.00", 2)  # [10@3, 5@5] = 55.00 over 15; W2 5
    t = transfer(org, w1, w2, sku, 5, 3)  # W1 5, W2 10; layers untouched: 55.00
    assert valuation(org)["total_value"] == "55.00"
    # no journal entry for the transfer
    assert [e for e in entries(journal_items(org), sku) if e[1] == "2025-03-03"] == []
    assert move_of(org, t["id"]) > 0

    # by location, at the SKU's unit cost 55 / 15 = 3.6666..:
    # W1 5 x 55 / 15 = 18.3333.., W2 10 x 55 / 15 = 36.6666.. -> 18.33 + 36.67 = 55.00
    def by_loc(query: str) -> dict[int, tuple[str, str, str]]:
        v = valuation(org, query)
        out = {ln["location_id"]: (ln["qty"], ln["unit_cost"], ln["value"]) for ln in v["lines"]}
        assert sum(Decimal(ln["value"]) for ln in v["lines"]) == Decimal(v["total_value"])
        return out

    assert by_loc("?by_location=true&as_of=2025-03-03") == {
        w1: ("5", "3.6667", "18.33"),
        w2: ("10", "3.6667", "36.67"),
    }
    # as of D2, before the transfer: W1 10 x 55 / 15 = 36.67, W2 5 -> 18.33
    assert by_loc("?by_location=true&as_of=2025-03-02") == {
        w1: ("10", "3.6667", "36.67"),
        w2: ("5", "3.6667", "18.33"),
    }

    # A shipment from W2 still takes the SKU's oldest layer (layers are per SKU, not per
    # location): 3@3 = 9.00; [7@3, 5@5] = 21 + 25 = 46.00 over 12, unit 3.8333..
    # W1 5 x 46 / 12 = 19.1666.. -> 19.17; W2 7 x 46 / 12 = 26.8333.. -> 26.83; sum 46.00
    ship(org, w2, sku, 3, 4)
    assert cogs_of(cogs(org), sku) == ("3", "9.00")
    assert by_loc("?by_location=true") == {
        w1: ("5", "3.8333", "19.17"),
        w2: ("7", "3.8333", "26.83"),
    }
    v = valuation(org, f"?location_id={w1}")
    assert v["total_value"] == "19.17" and v["total_qty"] == "5"
    assert valuation(org)["total_value"] == "46.00"
    assert_reconciled(org, "46.00")


# ------------------------------------------------------------------ method changes


def _fifo_history(org: OrgClient, wh: int, sku: str) -> Any:
    # FIFO: [10@2] -> [10@2, 10@4] -> ship 5: 5@2 = 10.00 -> [5@2, 10@4] = 10 + 40 = 50.00
    # average would hold: 10, 20 -> 20, 60 (avg 3) -> ship 5 x 3 = 15 -> 15, 45.00
    receive(org, wh, sku, 10, "2.00", 1)
    receive(org, wh, sku, 10, "4.00", 2)
    return ship(org, wh, sku, 5, 3)


def test_method_change_revalues_org_and_product_override(client):
    org = new_org(client, "fifo")
    wh = org.location()
    a = new_sku(org, "A")
    b = unique("B")
    pb = org.product([b])["id"]
    _fifo_history(org, wh, a)
    _fifo_history(org, wh, b)
    assert val_line(valuation(org), a) == ("15", "3.3333", "50.00")  # 50 / 15
    assert val_line(valuation(org), b) == ("15", "3.3333", "50.00")

    # Override b to average: b re-valued to what average would hold, 45.00;
    # revaluation = 45 - 50 = -5.00 (Dr Inventory Revaluation / Cr Inventory). a untouched.
    org.patch(f"/products/{pb}", {"costing_method": "average"}, expect=200)
    assert val_line(valuation(org), b) == ("15", "3.0000", "45.00")
    assert val_line(valuation(org), a) == ("15", "3.3333", "50.00")
    # Now the org default: a is re-valued the same way; b already is average (no entry)
    org.patch("/org", {"costing_method": "average"}, expect=200)
    assert val_line(valuation(org), a) == ("15", "3.0000", "45.00")
    assert val_line(valuation(org), b) == ("15", "3.0000", "45.00")

    items = journal_items(org)
    for sku in (a, b):
        reval = [e for e in entries(items, sku) if e[0] == "revaluation"]
        assert [(e[2], e[3], e[4], e[5]) for e in reval] == [(None, REVAL, INV, "5.00")]
    # the past is not rewritten: as of D3 the FIFO value stands; the D3 COGS stays 5@2
    assert val_line(valuation(org, "?as_of=2025-03-03"), a) == ("15", "3.3333", "50.00")
    assert cogs_of(cogs(org, "from=2025-03-01&to=2025-03-31"), a) == ("5", "10.00")

    # From here on a ships at the average: 3 x 3 = 9.00 -> 12, 36.00
    ship(org, wh, a, 3, None)
    assert val_line(valuation(org), a) == ("12", "3.0000", "36.00")
    assert_reconciled(org, "81.00")  # 36 + 45


def test_backdated_receipt_before_a_method_change_corrects_the_revaluation(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    s3 = move_of(org, _fifo_history(org, wh, sku)["id"])  # FIFO 50.00; D3 COGS 10.00
    org.patch("/org", {"costing_method": "average"}, expect=200)  # revaluation 45 - 50 = -5
    assert val_line(valuation(org), sku) == ("15", "3.0000", "45.00")
    reval = [e for e in entries(journal_items(org), sku) if e[0] == "revaluation"]
    assert [e[2:] for e in reval] == [(None, REVAL, INV, "5.00")]

    # Receipt 10@1 backdated to 28 Feb, under FIFO (in force then):
    #   FIFO history: [10@1, 10@2, 10@4]; D3 ship 5 takes 5@1 = 5.00 (was 10.00: correction
    #   +5, Dr Inventory / Cr COGS, dated D3) -> [5@1, 10@2, 10@4] = 5 + 20 + 40 = 65.00
    #   average history: 10, 10 -> 20, 30 -> 30, 70 -> ship 5 x 70 / 30 = 11.66666..
    #   -> 11.6667 -> 25, 58.3333
    #   revaluation at the change: 58.3333 - 65 = -6.6667 (was -5: correction -1.6667,
    #   Dr Inventory Revaluation 1.67 / Cr Inventory)
    # Check: in 10 + 20 + 40 = 70, COGS 5, revaluation -6.6667: 70 - 5 - 6.6667 = 58.3333;
    # unit 58.3333 / 25 = 2.333332 -> 2.3333
    receive(org, wh, sku, 10, "1.00", 0)
    assert val_line(valuation(org), sku) == ("25", "2.3333", "58.33")
    assert cogs_of(cogs(org), sku) == ("5", "5.00")
    je = entries(journal_items(org), sku)
    assert [e for e in je if e[0] == "correction"] == [
        ("correction", "2025-03-03", s3, INV, COGS, "5.00"),
        ("correction", reval[0][1], None, REVAL, INV, "1.67"),
    ]
    # the revaluation's own entry is unchanged
    assert [e for e in je if e[0] == "revaluation"] == reval
    assert_reconciled(org, "58.33")


def test_product_created_with_an_override_costs_its_backdated_history_by_it(client):
    """An average product in a FIFO org: its moves, all backdated before the product was
    created, are costed at the average -- the override is the product's method from its
    start, as the org's first method is the org's."""
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org, costing_method="average")
    _fifo_history(org, wh, sku)
    # average: 10, 20 -> 20, 60 (avg 3) -> ship 5 x 3 = 15.00 -> 15, 45.00; no revaluation
    assert cogs_of(cogs(org), sku) == ("5", "15.00")
    assert val_line(valuation(org), sku) == ("15", "3.0000", "45.00")
    assert [e for e in entries(journal_items(org), sku) if e[0] != "posting"] == []
    assert_reconciled(org, "45.00")


def test_core_plan_gets_402_for_fifo_lifo_and_overrides(client):
    core = new_org(client, "average", plan="core")
    for r in (
        core.patch("/org", {"costing_method": "fifo"}),
        core.patch("/org", {"costing_method": "lifo"}),
        core.post(
            "/products", {"name": "X", "costing_method": "fifo", "variants": [{"sku": unique("S")}]}
        ),  # fmt: skip
    ):
        err = assert_error(r, 402, "plan_required")
        assert err["details"]["plan_needed"] == "pro"
    p = core.product()
    err = assert_error(core.patch(f"/products/{p['id']}", {"costing_method": "lifo"}), 402)
    assert err["details"]["plan_needed"] == "pro"
    r = core.client.post(
        "/api/v1/signup",
        json={"org_name": unique("O"), "email": f"{unique('x')}@example.com",
              "password": "correct horse battery", "plan": "core", "costing_method": "fifo"},
    )  # fmt: skip
    assert assert_error(r, 402)["details"]["plan_needed"] == "pro"
    assert core.get("/org")["costing_method"] == "average"
    # reconciliation is enterprise
    err = assert_error(core.req("GET", "/reports/reconciliation"), 402, "plan_required")
    assert err["details"]["plan_needed"] == "enterprise"


# ------------------------------------------------------------------ reports


def test_valuation_csv_and_xlsx(client):
    org = new_org(client, "fifo")
    wh = org.location()
    a, b = new_sku(org, "A"), new_sku(org, "B")
    receive(org, wh, a, 10, "2.50", 1)  # a: [10@2.5] = 25.00
    ship(org, wh, a, 4, 2)  # a: 4 x 2.5 = 10.00 -> [6@2.5] = 15.00
    receive(org, wh, b, 3, "1.1111", 3)  # b: 3 x 1.1111 = 3.3333 -> 3.33
    # total 15 + 3.3333 = 18.3333 -> 18.33 = 15.00 + 3.33; 9 units
    v = valuation(org)
    assert [val_line(v, s) for s in (a, b)] == [("6", "2.5000", "15.00"), ("3", "1.1111", "3.33")]
    assert (v["total_qty"], v["total_value"]) == ("9", "18.33")

    r = org.req("GET", "/reports/valuation?format=csv", expect=200)
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["sku", "qty", "unit_cost (USD)", "value (USD)"]
    got = [[x if i == 0 or x == "" else Decimal(x) for i, x in enumerate(row)] for row in rows[1:]]
    assert got == [
        [a, Decimal(6), Decimal("2.5"), Decimal("15.00")],
        [b, Decimal(3), Decimal("1.1111"), Decimal("3.33")],
        ["total", Decimal(9), "", Decimal("18.33")],
    ]
    assert rows[1][3] == "15.00" and rows[3][3] == "18.33"  # money at 2 places

    r = org.req("GET", "/reports/valuation?format=xlsx", expect=200)
    assert "spreadsheetml" in r.headers["content-type"]
    ws = load_workbook(io.BytesIO(r.content)).active
    cells = [list(row) for row in ws.iter_rows(values_only=True)]
    assert str(cells[0][0]).startswith("Valuation as of")
    assert cells[1] == ["sku", "qty", "unit_cost (USD)", "value (USD)"]

    def dec(x: Any) -> Any:
        return x if isinstance(x, str) or x is None else Decimal(str(x))

    assert [[dec(x) for x in row] for row in cells[2:]] == [
        [a, Decimal(6), Decimal("2.5"), Decimal("15")],
        [b, Decimal(3), Decimal("1.1111"), Decimal("3.33")],
        ["total", Decimal(9), None, Decimal("18.33")],
    ]
    assert ws.cell(row=3, column=4).number_format == "#,##0.00"

    # as of D1, a alone: 10 x 2.5 = 25.00
    r = org.req("GET", "/reports/valuation?format=csv&as_of=2025-03-01", expect=200)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[1:] == [[a, "10", rows[1][2], "25.00"], ["total", "10", "", "25.00"]]
    assert Decimal(rows[1][2]) == Decimal("2.5")
    # by location: one more column
    r = org.req("GET", "/reports/valuation?format=csv&by_location=true", expect=200)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["sku", "location", "qty", "unit_cost (USD)", "value (USD)"]
    assert [row[-1] for row in rows[1:]] == ["15.00", "3.33", "18.33"]
    assert_reconciled(org, "18.33")


def test_rounding_residue_goes_to_the_last_shipment(client):
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org, "R")
    # 3 units received for 10.00 in all: 1 @ 4.00 + 2 @ 3.00 (average 3.3333..)
    org.post(
        "/stock-documents",
        {"type": "receipt", "to_location_id": wh, "effective_at": at(1),
         "lines": [{"sku": sku, "qty": "1", "unit_cost": "4.00"},
                   {"sku": sku, "qty": "2", "unit_cost": "3.00"}]},
        expect=201,
    )  # fmt: skip
    # shipped one at a time: 10 / 3 = 3.3333 (4 places), 3.3333, and the last takes what is
    # left, 10 - 6.6666 = 3.3334. In cents per day: 3.33 + 3.33 + 3.34 = 10.00.
    for day in (2, 3, 4):
        ship(org, wh, sku, 1, day)
    c = cogs(org, "from=2025-03-01&to=2025-03-31&period=day")
    assert [(p["period"], p["cogs"]) for p in c["periods"]] == [
        ("2025-03-02", "3.33"),
        ("2025-03-03", "3.33"),
        ("2025-03-04", "3.34"),
    ]
    assert cogs_of(c, sku) == ("3", "10.00") and c["total_cogs"] == "10.00"
    v = valuation(org)
    assert [ln for ln in v["lines"] if ln["sku"] == sku] == [] and v["total_value"] == "0.00"

    # Two more SKUs, 3 units for 10.00 each, one unit shipped: 3.3333 each. COGS lines
    # 10.0000 + 3.3333 + 3.3333 = 16.6666 -> total 16.67; lines in cents 10.00 + 3.33 + 3.33
    # = 16.66, so one of the two 3.3333 lines shows 3.34: the lines add up to the total and
    # none is off by a cent or more.
    others = []
    for _ in range(2):
        s = new_sku(org, "S")
        org.post(
            "/stock-documents",
            {"type": "receipt", "to_location_id": wh, "effective_at": at(5),
             "lines": [{"sku": s, "qty": "1", "unit_cost": "4.00"},
                       {"sku": s, "qty": "2", "unit_cost": "3.00"}]},
            expect=201,
        )  # fmt: skip
        ship(org, wh, s, 1, 6)  # 3.3333; left 2 units, 6.6667
        others.append(s)
    c = cogs(org, "from=2025-03-01&to=2025-03-31")
    assert c["total_cogs"] == "16.67"
    assert sum(Decimal(ln["cogs"]) for ln in c["lines"]) == Decimal("16.67")
    exact = {sku: Decimal("10"), others[0]: Decimal("3.3333"), others[1]: Decimal("3.3333")}
    assert {ln["sku"] for ln in c["lines"]} == set(exact)
    for ln in c["lines"]:
        assert abs(Decimal(ln["cogs"]) - exact[ln["sku"]]) < Decimal("0.01")
    # valuation: 6.6667 + 6.6667 = 13.3334 -> 13.33; lines 6.67 and 6.66, summing to it
    v = valuation(org)
    assert v["total_value"] == "13.33"
    assert sorted(val_line(v, s)[2] for s in others) == ["6.66", "6.67"]
    assert {val_line(v, s)[:2] for s in others} == {("2", "3.3334")}  # 6.6667 / 2 = 3.33335
    assert_reconciled(org, "13.33")


def test_journal_in_cents_adds_up_to_the_reports(client):
    """The journal as reported (cents) must agree with COGS, valuation and reconciliation:
    3 units for 10.00 shipped one at a time are 10.00 of COGS, and the Inventory account's
    debits less credits are the stock's value, 0.00."""
    org = new_org(client, "average")
    wh = org.location()
    sku = new_sku(org, "J")
    org.post(
        "/stock-documents",
        {"type": "receipt", "to_location_id": wh, "effective_at": at(1),
         "lines": [{"sku": sku, "qty": "1", "unit_cost": "4.00"},
                   {"sku": sku, "qty": "2", "unit_cost": "3.00"}]},
        expect=201,
    )  # fmt: skip
    for day in (2, 3, 4):
        ship(org, wh, sku, 1, day)  # 3.3333, 3.3333, 3.3334
    items = journal_items(org)
    cogs_debits = sum(Decimal(i["debit"]) for i in items if i["account"] == COGS)
    assert cogs_debits == Decimal(cogs(org)["total_cogs"]) == Decimal("10.00")
    inventory = sum(
        Decimal(i["debit"]) - Decimal(i["credit"]) for i in items if i["account"] == INV
    )
    rec = org.get("/reports/reconciliation")
    assert inventory == Decimal(rec["journal_inventory_balance"]) == Decimal("0.00")


# ------------------------------------------------------------------ refusals


def _snapshot(org: OrgClient, sku: str) -> Any:
    v = valuation(org)
    v.pop("as_of")
    c = cogs(org)
    c.pop("to")
    return (
        org.availability(sku),
        org.get(f"/stock/moves?sku={sku}")["items"],
        org.get("/stock-documents?limit=100")["items"],
        v,
        c,
        journal_items(org),
    )


def test_backdated_outbound_before_the_stock_arrived_is_refused(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 5)  # nothing before D5
    before = _snapshot(org, sku)
    for r in (
        ship(org, wh, sku, 1, 3, expect=409),
        scrap(org, wh, sku, 1, 4, expect=409),
        adjust(org, wh, sku, -1, "lost", 4, expect=409),
        # a minute before the receipt, the same day
        doc(
            org,
            {
                "type": "shipment",
                "from_location_id": wh,
                "effective_at": "2025-03-05T11:59:00+00:00",
                "lines": [{"sku": sku, "qty": "1"}],
            },
            None,
            12,
            409,
        ),  # fmt: skip
    ):
        assert r["error"]["code"] == "insufficient_stock_at_effective_time", r
        # the location's running balance is checked first: one detail per short balance
        assert [d["sku"] for d in r["error"]["details"]] == [sku]
        assert _snapshot(org, sku) == before

    # partly short: 2 units on D1, 5 backdated out on D3 -> short by 3
    receive(org, wh, sku, 2, "1.00", 1)
    r = ship(org, wh, sku, 5, 3, expect=409)
    assert r["error"]["code"] == "insufficient_stock_at_effective_time"
    assert Decimal(str(r["error"]["details"][0]["short_by"])) == Decimal(3)
    # 2 on D3 is fine: [2@1] -> 2.00
    ship(org, wh, sku, 2, 3)
    assert cogs_of(cogs(org), sku) == ("2", "2.00")
    assert_reconciled(org, "20.00")


def test_backdated_transfer_before_the_stock_arrived_is_refused(client):
    """A transfer moves no value, but it still takes stock out of its source location: one
    backdated before the stock arrived there would leave the location below zero in the past
    (valuation by location as of that day would show a negative quantity)."""
    org = new_org(client, "fifo")
    w1, w2 = org.location(), org.location()
    sku = new_sku(org)
    receive(org, w1, sku, 10, "2.00", 5)
    r = transfer(org, w1, w2, sku, 4, 3, expect=409)
    assert r["error"]["code"] in ("insufficient_stock_at_effective_time", "insufficient_stock")
    v = valuation(org, "?by_location=true&as_of=2025-03-04")
    assert all(Decimal(ln["qty"]) >= 0 for ln in v["lines"]), v


def test_backdated_shipment_from_a_location_empty_at_that_time_is_refused(client):
    """The SKU has valued stock on D3 (in W2), but W1, the shipment's source, holds nothing
    until D5: the shipment would leave W1 at -4 between D3 and D5."""
    org = new_org(client, "fifo")
    w1, w2 = org.location(), org.location()
    sku = new_sku(org)
    receive(org, w2, sku, 10, "2.00", 1)
    receive(org, w1, sku, 10, "3.00", 5)
    r = ship(org, w1, sku, 4, 3, expect=409)
    assert r["error"]["code"] in ("insufficient_stock_at_effective_time", "insufficient_stock")
    v = valuation(org, "?by_location=true&as_of=2025-03-04")
    assert all(Decimal(ln["qty"]) >= 0 for ln in v["lines"]), v


def test_bad_report_inputs_get_the_error_envelope(client):
    org = new_org(client, "fifo")
    for path in (
        "/reports/valuation?as_of=garbage",
        "/reports/valuation?as_of=2025-13-45",
        "/reports/valuation?as_of=2025-03-01T00:00:00",  # no zone
        "/reports/valuation?as_of=" + "9" * 41,
        "/reports/valuation?format=pdf",
        "/reports/cogs?from=2025-03-10&to=2025-03-01",
        "/reports/cogs?from=nonsense",
        "/reports/cogs?period=week",
        "/reports/journal?from=2025-03-10&to=2025-03-01",
        "/reports/journal?cursor=not-a-cursor",
        "/reports/journal?limit=0",
    ):
        assert_error(org.req("GET", path), (400, 422))
    err = assert_error(org.req("GET", "/reports/cogs?from=2025-03-10&to=2025-03-01"), 422)
    assert err["details"]["field"] == "from"
    assert_error(org.req("GET", "/reports/valuation?location_id=999999999"), 404)
    # a date is its whole day: from = to is one day, not an empty range
    org.get("/reports/cogs?from=2025-03-01&to=2025-03-01")


def test_report_roles_and_plans(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 2, "5.00", 1)
    for role in ("manager", "finance"):
        assert valuation(org.user([role]))["total_value"] == "10.00"
    clerk = org.user(["clerk"])
    for path in ("/reports/valuation", "/reports/cogs", "/reports/journal", "/periods"):
        assert_error(clerk.req("GET", path), 403)

    pro = new_org(client, "fifo", plan="pro")
    assert pro.get("/reports/journal")["items"] == []
    assert pro.req("GET", "/reports/valuation?format=csv").status_code == 200
    for path in ("/reports/reconciliation", "/reports/journal?format=csv",
                 "/reports/journal?format=xlsx"):  # fmt: skip
        err = assert_error(pro.req("GET", path), 402, "plan_required")
        assert err["details"]["plan_needed"] == "enterprise"
    # enterprise: the journal export is there, debits and credits totalled
    r = org.req("GET", "/reports/journal?format=csv&from=2025-03-01", expect=200)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[-1][0] == "total" and rows[-1][-2:] == ["10.00", "10.00"]


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_everything_at_once_reconciles_in_every_method(client, method):
    """A mixed history in one org (receipts, backdated moves, adjustments, scrap, transfers,
    cancellations) leaves ledger, layers and journal equal, and a deep recompute agrees."""
    org = new_org(client, method)
    w1, w2 = org.location(), org.location()
    s = new_sku(org)
    receive(org, w1, s, 10, "2.00", 1)
    receive(org, w2, s, 10, "3.00", 2)
    ship(org, w1, s, 3, 4)
    transfer(org, w2, w1, s, 5, 5)
    adjust(org, w1, s, 2, "found", 6)
    scrap(org, w2, s, 1, 7)
    x = ship(org, w1, s, 4, 8)
    receive(org, w1, s, 4, "1.00", 3)  # backdated
    ship(org, w2, s, 1, 3)  # backdated
    org.post(f"/stock-documents/{x['id']}/cancel", expect=200)
    # quantity: 10 + 10 - 3 + 2 - 1 - 4 + 4 + 4 - 1 = 21 on hand
    assert org.availability(s)["on_hand"] == "21"
    v = valuation(org)
    assert val_line(v, s)[0] == "21"
    assert_reconciled(org, v["total_value"])
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for it in journal_items(org):
        totals["debit"] += Decimal(it["debit"])
        totals["credit"] += Decimal(it["credit"])
    assert totals["debit"] == totals["credit"]

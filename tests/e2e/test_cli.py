"""The real `hoop` command, run as a subprocess against a fresh SQLite file."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "hoop"
HOOP = [str(BIN)] if BIN.exists() else [sys.executable, "-m", "hoop.entrypoints.cli"]


def hoop(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOP_DATABASE_URL": f"sqlite:///{db}", "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(
        [*HOOP, *args], env=env, capture_output=True, text=True, timeout=300, cwd=db.parent
    )


def ok(r: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Traceback" not in r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the schema and the demo org, loaded once for the module."""
    db = tmp_path_factory.mktemp("cli") / "hoop.db"
    assert "up to date" in ok(hoop(db, "db", "upgrade")).stderr
    out = ok(hoop(db, "demo")).stdout
    assert "demo data loaded" in out
    assert "demo@hoop.example" in out and "hoop-demo-123" in out
    return db


@pytest.fixture
def db(demo_db: Path, tmp_path: Path) -> Path:
    """This test's own copy of the demo database, free to tamper with."""
    copy = tmp_path / "hoop.db"
    shutil.copy(demo_db, copy)
    return copy


def sql(db: Path, statement: str, *params: object) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        with con:
            rows = con.execute(statement, params).fetchall()
        return rows
    finally:
        con.close()


def test_demo_is_loaded_once(db: Path) -> None:
    again = ok(hoop(db, "demo")).stdout
    assert "already present" in again and "demo@hoop.example" in again
    assert sql(db, "SELECT count(*) FROM orgs") == [(1,)]
    assert sql(db, "SELECT name, plan, currency FROM orgs") == [
        ("Himalayan Green Traders", "enterprise", "USD")
    ]


def test_demo_content(db: Path) -> None:
    n_products, n_variants = sql(
        db, "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM variants)"
    )[0]
    assert 40 <= n_products <= 60 and n_variants > n_products
    statuses = dict(sql(db, "SELECT status, count(*) FROM products GROUP BY status"))
    assert statuses.get("draft", 0) >= 2 and statuses.get("archived") == 1
    docs = dict(sql(db, "SELECT type, count(*) FROM stock_documents GROUP BY type"))
    assert {"receipt", "transfer", "shipment", "adjustment", "scrap"} <= set(docs)
    assert sql(db, "SELECT count(*) FROM moves")[0][0] >= 200
    pending = sql(
        db, "SELECT type, created_by FROM stock_documents WHERE state = 'pending_approval'"
    )
    manager = sql(db, "SELECT id FROM users WHERE email = 'manager@hoop.example'")[0][0]
    assert pending == [("adjustment", manager)]
    roles = {r[0] for r in sql(db, "SELECT roles FROM users")}
    assert {'["owner"]', '["manager"]', '["approver"]'} <= roles
    reasons = {r[0] for r in sql(db, "SELECT reason FROM stock_documents WHERE reason IS NOT NULL")}
    assert {"damaged", "found", "count"} <= reasons
    non_sellable = {
        r[0]
        for r in sql(
            db, "SELECT name FROM locations WHERE internal = 1 AND sellable = 0 AND type = 'zone'"
        )
    }
    assert {"Quarantine", "Returns"} <= non_sellable
    # the history is in the past and in order, but for one delivery note entered late
    late = "note LIKE 'delivery note found%'"
    eff = [
        r[0]
        for r in sql(
            db,
            f"SELECT effective_at FROM stock_documents WHERE state = 'done' AND NOT {late} "
            "ORDER BY id",
        )
    ]
    assert eff == sorted(eff)
    (backdated,) = sql(db, f"SELECT effective_at FROM stock_documents WHERE {late}")
    assert backdated[0] < eff[-1]
    # ... so FIFO re-costed the shipments after it, adding corrections to the journal
    assert sql(db, "SELECT count(*) FROM journal_entries WHERE kind = 'correction'")[0][0] >= 1


def test_verify_passes_after_demo(db: Path) -> None:
    out = ok(hoop(db, "verify")).stdout
    assert out.startswith("ok: 1 org(s)")


def test_import_bad_csv_fails_with_row_errors(db: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "product_name,sku,price\nGood,NEW-1,5\nBad Price,NEW-2,cheap\n"
        ",NEW-3,1\nDup,TEA-ILB-100G,1\n"
    )
    before = sql(db, "SELECT count(*) FROM products")
    r = hoop(db, "import", "products", str(bad))
    assert r.returncode != 0
    assert "Traceback" not in r.stdout + r.stderr
    assert "row 3" in r.stderr and "price is not a decimal number" in r.stderr
    assert "row 4" in r.stderr and "product_name is required" in r.stderr
    assert "row 5" in r.stderr and "TEA-ILB-100G already exists" in r.stderr
    assert "row 2" not in r.stderr
    assert "nothing was written" in r.stderr
    assert sql(db, "SELECT count(*) FROM products") == before
    missing = hoop(db, "import", "stock", str(tmp_path / "nope.xlsx"))
    assert missing.returncode != 0 and "file not found" in missing.stderr
    assert "Traceback" not in missing.stdout + missing.stderr


def test_import_good_csv(db: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("sku,location_code,qty,unit_cost\nTEA-NET-50G,KTM-A-01,24,3.10\n")
    out = ok(hoop(db, "import", "stock", str(good), "--email", "manager@hoop.example")).stdout
    assert "imported opening stock: 1 rows, 24 units into 1 locations" in out
    on_hand = sql(
        db,
        "SELECT b.on_hand FROM balances b JOIN variants v ON v.id = b.variant_id "
        "WHERE v.sku = 'TEA-NET-50G'",
    )
    assert on_hand == [(24 * 10_000,)]  # stored as 10^-4 units
    ok(hoop(db, "verify"))


def test_verify_detects_a_tampered_balance(db: Path) -> None:
    variant, location = sql(
        db,
        "SELECT variant_id, location_id FROM balances "
        "WHERE on_hand > 0 ORDER BY variant_id, location_id LIMIT 1",
    )[0]
    sql(
        db,
        "UPDATE balances SET on_hand = on_hand + 10000 WHERE variant_id = ? AND location_id = ?",
        variant,
        location,
    )
    r = hoop(db, "verify")
    assert r.returncode != 0
    assert "Traceback" not in r.stdout + r.stderr
    assert f"variant {variant} at location {location}" in r.stderr
    assert "but the ledger sums to" in r.stderr
    # costing sees it too: the cost layers no longer match the stock on hand
    assert "costing quantity differs" in r.stderr
    assert "2 problem(s)" in r.stderr
    sql(
        db,
        "UPDATE balances SET on_hand = on_hand - 10000 WHERE variant_id = ? AND location_id = ?",
        variant,
        location,
    )
    ok(hoop(db, "verify"))


def test_verify_detects_a_tampered_audit_event(db: Path) -> None:
    ok(hoop(db, "verify"))  # seals every event
    assert sql(db, "SELECT count(*) FROM audit_events WHERE seq IS NULL") == [(0,)]
    event = sql(
        db,
        "SELECT id FROM audit_events WHERE action = 'document.create' "
        "ORDER BY seq LIMIT 1 OFFSET 5",
    )[0][0]
    sql(db, 'UPDATE audit_events SET "after" = ? WHERE id = ?', '{"lines": 999}', event)
    r = hoop(db, "verify")
    assert r.returncode != 0
    assert "Traceback" not in r.stdout + r.stderr
    assert f"audit event {event} was altered" in r.stderr


def test_reports_from_the_command_line(db: Path, tmp_path: Path) -> None:
    # the demo's books reconcile, deep (every history recosted from its moves) included
    rec = ok(hoop(db, "report", "reconciliation", "--deep")).stdout
    assert "total" in rec
    table = ok(hoop(db, "report", "valuation")).stdout
    assert "Valuation as of" in table and "TEA-CHA-250G" in table
    # the same report as JSON agrees with the CSV and the XLSX, to the cent
    import csv
    import io
    import json

    from openpyxl import load_workbook

    data = json.loads(ok(hoop(db, "report", "valuation", "--format", "json")).stdout)
    rows = list(
        csv.reader(io.StringIO(ok(hoop(db, "report", "valuation", "--format", "csv")).stdout))
    )
    assert rows[0][0] == "sku" and rows[-1][0] == "total"
    assert rows[-1][-1] == data["total_value"]
    assert sum(Decimal(r[-1]) for r in rows[1:-1]) == Decimal(data["total_value"])
    xlsx = tmp_path / "valuation.xlsx"
    ok(hoop(db, "report", "valuation", "--format", "xlsx", "-o", str(xlsx)))
    sheet = load_workbook(xlsx).active
    values = [r for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert values[-1][0] == "total"
    assert round(Decimal(str(values[-1][-1])), 2) == Decimal(data["total_value"])
    journal = ok(hoop(db, "report", "journal", "--format", "csv")).stdout
    assert journal.startswith("date,entry,kind,sku,move_id,account")
    ok(hoop(db, "report", "cogs", "--from", "2020-01-01", "--period", "month"))
    # recompute finds nothing to change; garbage input is a plain error, no traceback
    assert "no differences" in ok(hoop(db, "costing", "recompute")).stdout
    bad = hoop(db, "report", "valuation", "--as-of", "yesterday-ish")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr and "as_of" in bad.stderr


def test_periods_close_refuses_going_back(db: Path) -> None:
    # the demo closed its books through the end of the month before last
    r = hoop(db, "periods", "close", "2020-01-31")
    assert r.returncode == 1 and "period_already_closed" in r.stderr
    assert "Traceback" not in r.stderr
    ok(hoop(db, "periods", "close", (date.today() - timedelta(days=1)).isoformat()))
    r = hoop(db, "periods", "close", (date.today() + timedelta(days=2)).isoformat())
    assert r.returncode == 1 and "future" in r.stderr


def test_orders_from_the_command_line(db: Path) -> None:
    # the demo has orders in several states, one request still waiting for the seller
    out = ok(hoop(db, "orders", "list")).stdout
    for status in ("pending_seller", "awaiting_payment", "confirmed", "declined", "delivered"):
        assert status in out
    assert "min left" in out
    waiting = ok(hoop(db, "orders", "list", "--status", "pending_seller")).stdout
    assert "confirmed" not in waiting
    # nothing is past its deadline yet; then one is, and `lapse` expires it
    assert ok(hoop(db, "orders", "lapse")).stdout.startswith("0 order(s)")
    sql(db, "UPDATE orders SET respond_by = '2020-01-01 00:00:00.000000' "
            "WHERE status = 'pending_seller'")  # fmt: skip
    assert ok(hoop(db, "orders", "lapse")).stdout.startswith("1 order(s)")
    assert "expired" in ok(hoop(db, "orders", "list")).stdout
    bad = hoop(db, "orders", "list", "--status", "nonsense")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_handle_orders_from_the_command_line(db: Path) -> None:
    [(waiting,)] = sql(db, "SELECT id FROM orders WHERE status = 'pending_seller'")
    [(confirmed,)] = sql(db, "SELECT id FROM orders WHERE status = 'confirmed' LIMIT 1")
    shown = ok(hoop(db, "orders", "show", str(waiting))).stdout
    assert f"order {waiting}: pending_seller" in shown and "deadline" in shown
    assert "place: - -> pending_seller" in shown  # the timeline
    # several at once, each on its own: the bad ones are reported, the good one goes through
    r = hoop(db, "orders", "accept", "999999", str(confirmed), str(waiting))
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert "order 999999: no such order" in r.stderr
    assert f"order {confirmed}: cannot accept an order that is confirmed" in r.stderr
    assert f"order {waiting}: awaiting_payment" in r.stdout
    assert ok(hoop(db, "orders", "pay", str(waiting))).stdout.strip() == (
        f"order {waiting}: confirmed")  # fmt: skip
    bad = hoop(db, "orders", "pickup", str(waiting), "--status", "lost")  # a usage error, once
    assert bad.returncode == 2 and "'lost' is not one of 'picked_up', 'delivered'" in bad.stderr
    ok(hoop(db, "orders", "pickup", str(waiting), "--status", "picked_up"))
    ok(hoop(db, "orders", "pickup", str(waiting), "--status", "delivered"))
    done = ok(hoop(db, "orders", "show", str(waiting))).stdout
    assert f"order {waiting}: delivered" in done
    for step in ("accept", "pay", "picked_up", "delivered"):
        assert f"{step}:" in done
    held = "SELECT count(*) FROM order_reservations WHERE order_id = ?"
    assert sql(db, held, confirmed) != [(0,)]
    r = hoop(db, "orders", "cancel", str(confirmed), "--reason", "out of season")
    assert ok(r).stdout.strip() == f"order {confirmed}: cancelled"
    assert "(out of season)" in ok(hoop(db, "orders", "show", str(confirmed))).stdout
    assert sql(db, held, confirmed) == [(0,)]  # released
    assert hoop(db, "orders", "accept").returncode == 2  # no id: usage error
    for args in (("accept", "0"), ("accept", "9" * 30), ("show", "9" * 30)):
        r = hoop(db, "orders", *args)
        assert r.returncode == 2 and "Traceback" not in r.stdout + r.stderr, args
    nobody = hoop(db, "orders", "accept", str(confirmed), "1", "--email", "nobody@example.com")
    assert nobody.returncode == 1 and "Traceback" not in nobody.stdout + nobody.stderr
    assert nobody.stderr.count("no user with email nobody@example.com") == 1  # once, not per id

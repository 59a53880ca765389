"""`hoop suppliers` and `hoop po` as subprocesses against a copy of the demo database."""

from __future__ import annotations

from pathlib import Path

from hoop.adapters.db.engine import make_engine
from hoop.service import deliveries, purchasing, suppliers
from hoop.service.importer import resolve_actor
from hoop.service.unit_of_work import UnitOfWork
from tests.e2e.test_cli import db, demo_db, hoop, ok, sql  # noqa: F401 (fixtures)


def _purchase_order(path: Path) -> tuple[int, list[int]]:
    """A draft PO from a new supplier for two demo SKUs (made through the service)."""
    engine = make_engine(f"sqlite:///{path}")
    uow = UnitOfWork(engine)
    skus = [r[0] for r in sql(path, "SELECT sku FROM variants ORDER BY id LIMIT 2")]

    def run(conn):  # type: ignore[no-untyped-def]
        actor = resolve_actor(conn, None, None)
        sup = suppliers.create_supplier(conn, actor, {"name": "Kathmandu Tea Estates"})
        lines = [{"sku": s, "qty": "5", "unit_price": "1.20"} for s in skus]
        return purchasing.create_purchase_order(
            conn, actor, {"supplier_id": sup["id"], "lines": lines}
        )

    try:
        po = uow.write(run)
    finally:
        engine.dispose()
    return po["id"], [ln["id"] for ln in po["lines"]]


def test_purchase_orders_from_the_command_line(db: Path) -> None:  # noqa: F811
    po_id, line_ids = _purchase_order(db)
    assert "Kathmandu Tea Estates" in ok(hoop(db, "suppliers", "list")).stdout
    listed = ok(hoop(db, "po", "list", "--status", "draft")).stdout
    assert str(po_id) in listed and "draft" in listed and "0 / 10" in listed
    # receiving a draft is refused plainly
    refused = hoop(db, "po", "receive", str(po_id))
    assert refused.returncode == 1 and "invalid_state" in refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    assert (
        ok(hoop(db, "po", "send", str(po_id))).stdout.strip() == f"purchase order {po_id} is sent"
    )
    again = hoop(db, "po", "send", str(po_id))
    assert again.returncode == 1 and "invalid_state" in again.stderr
    # an ASN for 2 of the first line, received by --asn
    engine = make_engine(f"sqlite:///{db}")
    try:
        asn = UnitOfWork(engine).write(
            lambda c: deliveries.create_asn(
                c, resolve_actor(c, None, None), po_id,
                {"reference": "TRUCK-7",
                 "lines": [{"purchase_order_line_id": line_ids[0], "qty": "2"}]},
            )
        )  # fmt: skip
    finally:
        engine.dispose()
    out = ok(hoop(db, "po", "receive", str(po_id), "--asn", str(asn["id"]))).stdout
    assert "partially_received" in out and "receipt document(s)" in out
    assert sql(db, "SELECT status FROM asns WHERE id = ?", asn["id"]) == [("received",)]
    # the rest: everything still open
    out = ok(hoop(db, "po", "receive", str(po_id))).stdout
    assert f"purchase order {po_id}" in out and "received" in out
    shown = ok(hoop(db, "po", "show", str(po_id))).stdout
    assert "received" in shown and "TRUCK-7" in shown and shown.count("receipt ") == 2
    assert sql(db, "SELECT sum(received_qty) FROM purchase_order_lines WHERE purchase_order_id "
                   "= ?", po_id) == [(100000,)]  # 10 units, scaled by 10^4  # fmt: skip
    assert "ok:" in ok(hoop(db, "verify")).stdout
    missing = hoop(db, "po", "show", "999999")
    assert missing.returncode == 1 and "not_found" in missing.stderr

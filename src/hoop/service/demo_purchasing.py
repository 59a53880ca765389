"""The demo's purchasing and replenishment: the org's suppliers with what they sell, a policy
per SKU at the Kathmandu DC, purchase orders made from the suggestions (one sent with an ASN on
its way, one partly received) and the low-stock alerts and suggestions that remain. Everything
goes through the same services as the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Connection

from hoop.service import deliveries, purchasing, queries, replenishment, suppliers
from hoop.service.context import Actor

# category -> (lead time in days, MOQ, pack size)
TERMS = {
    "tea": ("12", "24", "12"),
    "spices": ("9", "0", "6"),
    "pantry": ("5", "0", "1"),
    "handicrafts": ("21", "10", "1"),
    "apparel": ("18", "0", "3"),
}
EOQ_CATEGORIES = {"tea", "spices"}  # planned by demand; the rest by min/max levels


def load(
    conn: Connection,
    owner: Actor,
    items: dict[str, tuple[str, Decimal, Decimal]],
    names: dict[str, str],
    warehouse: int,
    today: datetime,
) -> None:
    """`items`: sku -> (category, price, unit cost); `names`: category -> supplier name."""
    sup = {
        cat: suppliers.create_supplier(
            conn, owner, {"name": name, "email": f"orders@{cat}.example"}
        )["id"]
        for cat, name in names.items()
    }
    for i, (sku, (cat, _, cost)) in enumerate(sorted(items.items())):
        lead, moq, pack = TERMS[cat]
        suppliers.create_item(conn, owner, {
            "supplier_id": sup[cat], "sku": sku, "price": cost, "lead_time_days": lead,
            "moq": moq, "pack_size": pack, "preferred": True,
        })  # fmt: skip
        available = queries.availability(conn, owner, sku=sku, location_id=warehouse)["available"]
        if cat in EOQ_CATEGORIES:
            policy = {"method": "eoq", "service_level": "0.95", "order_cost": "30",
                      "holding_rate": "0.25"}  # fmt: skip
        else:
            # one SKU in three is set just above what is on hand, so it shows as low
            floor = available + 1 if i % 3 == 0 else max(Decimal(1), available // 3)
            policy = {"method": "minmax", "min": floor, "max": floor * 3}
        replenishment.put_policy(conn, owner, {"sku": sku, "location_id": warehouse, **policy})
    # The first supplier with suggestions got an order, which is on its way
    wanted = [s["supplier_id"] for s in replenishment.suggestions(conn, owner) if s["supplier_id"]]
    made = (
        replenishment.suggestions_to_purchase_orders(conn, owner, {"supplier_id": wanted[0]})
        if wanted
        else {"purchase_orders": []}
    )
    for po in made["purchase_orders"]:
        purchasing.send(conn, owner, po["id"])
        deliveries.create_asn(conn, owner, po["id"], {
            "reference": f"ASN-{po['id']:04d}", "ship_date": today.date().isoformat(),
            "arrive_from": (today + timedelta(days=2)).isoformat(),
            "arrive_to": (today + timedelta(days=4)).isoformat(),
            "lines": [{"purchase_order_line_id": ln["id"], "qty": ln["qty"]}
                      for ln in po["lines"]],
        })  # fmt: skip
    # An earlier order from the artisans: sent, half of its first line came in
    crafts = sorted(s for s, (c, _, _) in items.items() if c == "handicrafts")[:2]
    if crafts:
        po = purchasing.create_purchase_order(conn, owner, {
            "supplier_id": sup["handicrafts"], "location_id": warehouse,
            "expected_at": (today - timedelta(days=3)).isoformat(),
            "note": "spring restock",
            "lines": [{"sku": s, "qty": "20"} for s in crafts],
        })  # fmt: skip
        purchasing.send(conn, owner, po["id"])
        first = po["lines"][0]
        deliveries.receive(conn, owner, po["id"], {
            "lines": [{"purchase_order_line_id": first["id"], "qty": "10"}],
        })  # fmt: skip

"""`hoop replenish` and `hoop alerts`: what to order and why, and the low-stock alerts."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

Org = Annotated[int | None, typer.Option(help="org id (default: the only org)")]
Email = Annotated[str | None, typer.Option(help="act as this user (default: an owner)")]


def _n(value: Any) -> str:
    from hoop.domain.quantities import fmt

    if value is None:
        return ""
    return str(value) if isinstance(value, int) else str(fmt(value))


def replenish(
    location: Annotated[int | None, typer.Option(help="only policies at or under it")] = None,
    sku: Annotated[str | None, typer.Option(help="only this sku")] = None,
    supplier: Annotated[int | None, typer.Option(help="only this supplier's")] = None,
    create_pos: Annotated[
        bool, typer.Option("--create-pos", help="turn them into draft purchase orders")
    ] = False,
    output: Annotated[str, typer.Option("--format", help="table | json")] = "table",
    org: Org = None,
    email: Email = None,
) -> None:
    """Suggested purchases: every variant-location at or under its reorder point, with the
    quantity to order and why. `--create-pos` makes the draft purchase orders, one per
    supplier."""
    from hoop.entrypoints.api.encoding import encode
    from hoop.entrypoints.cli import _as, _fail
    from hoop.service import replenishment

    if output not in ("table", "json"):
        _fail("--format must be table or json")
    console = Console(stderr=True)
    with console.status("Computing demand, reorder points and positions…"):
        items = _as(org, email, lambda c, a: replenishment.suggestions(
            c, a, sku=sku, location_id=location, supplier_id=supplier))  # fmt: skip
    if output == "json" and not create_pos:
        print(json.dumps(encode(items), indent=2))
        return
    t = Table(title=f"Replenishment suggestions ({len(items)})")
    for h in ("#", "sku", "location", "supplier", "available", "incoming", "reorder pt",
              "safety", "demand/day", "order qty"):  # fmt: skip
        t.add_column(h, justify="left" if h in ("sku", "location") else "right", no_wrap=h == "sku")
    for i, s in enumerate(items, 1):
        t.add_row(str(i), s["sku"], s["location_name"], _n(s["supplier_id"]),
                  _n(s["available"]), _n(s["incoming"]), _n(s["reorder_point"]),
                  _n(s["safety_stock"]), _n(s["daily_demand"]), _n(s["suggested_qty"]))  # fmt: skip
    if output == "table":
        out = Console()
        out.print(t)
        for i, s in enumerate(items, 1):
            out.print(f"[bold]{i}.[/bold] {s['sku']} at {s['location_name']}: {s['reason']}")
    if not create_pos:
        return
    data: dict[str, Any] = {}
    if location is not None:
        data["location_id"] = location
    if supplier is not None:
        data["supplier_id"] = supplier
    if sku is not None:
        data["skus"] = [sku]
    with console.status("Creating draft purchase orders…"):
        made = _as(org, email, lambda c, a: replenishment.suggestions_to_purchase_orders(
            c, a, data))  # fmt: skip
    if output == "json":
        print(json.dumps(encode(made), indent=2))
        return
    pos = Table(title=f"Draft purchase orders ({len(made['purchase_orders'])})")
    for h in ("id", "supplier", "lines", "expected"):
        pos.add_column(h)
    for po in made["purchase_orders"]:
        due = po.get("expected_at")
        pos.add_row(str(po["id"]), str(po["supplier_id"]), str(len(po.get("lines", []))),
                    f"{due:%Y-%m-%d}" if due else "")  # fmt: skip
    Console().print(pos)
    for s in made["skipped"]:
        console.print(f"skipped {s['sku']} at location {s['location_id']}: {s['reason']}")


def alerts(
    status: Annotated[str, typer.Option(help="open | resolved | all")] = "open",
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    org: Org = None,
    email: Email = None,
) -> None:
    """Low-stock alerts, newest first."""
    from hoop.entrypoints.cli import _as
    from hoop.service import alerts as service

    rows = _as(org, email, lambda c, a: service.list_alerts(c, a, None, status, limit, None))
    t = Table(title=f"Low-stock alerts ({status})")
    for h in ("id", "status", "sku", "location", "position", "reorder pt", "raised"):
        t.add_column(h)
    for r in rows:
        t.add_row(str(r["id"]), r["status"], r["sku"], r["location_name"], _n(r["position"]),
                  _n(r["reorder_point"]), f"{r['raised_at']:%Y-%m-%d %H:%M}")  # fmt: skip
    Console().print(t)


def register(app: typer.Typer) -> None:
    app.command("replenish")(replenish)
    app.command("alerts")(alerts)

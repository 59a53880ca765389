"""The `hoop` command line."""

from __future__ import annotations

import enum
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hoop.config import SettingsError, get_settings

app = typer.Typer(help="Hoop Inventory: stock ledger, documents, costing.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _fail(message: str, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


@app.callback()
def _settings_first() -> None:
    """Refuse a bad HOOP_* variable in one line before any command runs."""
    try:
        get_settings()
    except SettingsError as e:
        _fail(f"bad setting: {e}", 2)


def _uow():  # type: ignore[no-untyped-def]
    """The unit of work over HOOP_DATABASE_URL, refusing plainly (no traceback) a database that
    is unreachable or not migrated to what this code needs."""
    from sqlalchemy.exc import SQLAlchemyError

    from hoop.bootstrap import engine_for, pending_migration
    from hoop.service.unit_of_work import UnitOfWork

    engine = engine_for()
    try:
        behind = pending_migration(engine)
    except SQLAlchemyError as exc:
        _fail(f"cannot open the database {engine.url.render_as_string()}: {exc.orig or exc}")
    if behind is not None:
        _fail(f"the database is at migration {behind[0] or '(none)'}, this code needs "
              f"{behind[1]}: run `hoop db upgrade` (or `hoop demo`) first")  # fmt: skip
    return UnitOfWork(engine)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations to HOOP_DATABASE_URL."""
    from hoop.bootstrap import upgrade

    upgrade(get_settings().database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to bind")] = 8000,
    workers: Annotated[int, typer.Option(help="worker processes")] = 1,
    scheduler: Annotated[bool, typer.Option(help="run the scheduler in-process")] = True,
) -> None:
    """Apply migrations, start the scheduler, and serve the API."""
    import uvicorn

    from hoop.bootstrap import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    if workers > 1:
        if scheduler:
            _start_scheduler(settings.scheduler_interval)
        uvicorn.run(
            "hoop.entrypoints.asgi:app", host=host, port=port, workers=workers, log_level="warning"
        )
        return
    from hoop.bootstrap import build_app

    web = build_app(settings)
    if scheduler:
        _start_scheduler(settings.scheduler_interval, web.state.uow)
    console.print(f"Hoop serving on http://{host}:{port}", soft_wrap=True)
    console.print(f"  web app: http://{host}:{port}/login   API docs: /docs", soft_wrap=True)
    uvicorn.run(web, host=host, port=port, log_level="warning")


def _start_scheduler(interval: float, uow=None) -> None:  # type: ignore[no-untyped-def]
    from hoop import scheduler

    scheduler.start_in_thread(uow or _uow(), interval)


@app.command()
def worker(
    once: Annotated[bool, typer.Option(help="run each job once and exit")] = False,
) -> None:
    """Run the scheduler alone (deadlines, outbox, audit sealing). Many may run at once."""
    from hoop import scheduler

    logging.basicConfig(level=logging.INFO)
    uow = _uow()
    if once:
        console.print(scheduler.run_once(uow))
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    interval = get_settings().scheduler_interval
    console.print(f"worker running every {interval}s; Ctrl-C to stop")
    scheduler.loop(uow, interval, stop)


@app.command()
def verify(
    org: Annotated[int | None, typer.Option(help="only this org id")] = None,
) -> None:
    """Prove every balance equals the sum of the ledger and the audit chain is intact."""
    from hoop.service.verify import verify_all

    uow = _uow()
    result = verify_all(uow, org)
    for p in result["problems"]:
        console.print(f"[red]✗[/red] {p}")
    if result["problems"]:
        _fail(f"{len(result['problems'])} problem(s) in {result['orgs']} org(s)")
    print(
        f"ok: {result['orgs']} org(s); balances equal the ledger; costing reconciles; audit "
        "chain intact "
        f"({result['sealed']} event(s) sealed now)"
    )


@app.command()
def demo() -> None:
    """Apply migrations and load the demo org (idempotent: skips if already loaded)."""
    from hoop.bootstrap import upgrade
    from hoop.service.demo import (
        APPROVER_EMAIL,
        DEMO_EMAIL,
        DEMO_PASSWORD,
        MANAGER_EMAIL,
        load_demo,
    )

    upgrade(get_settings().database_url)
    created = load_demo(_uow(), console=console)
    state = "loaded" if created else "already present"
    print(f"demo data {state}. Log in as {DEMO_EMAIL} / {DEMO_PASSWORD}")
    print(
        f"  web app: http://127.0.0.1:8000/login  (email {DEMO_EMAIL}, password "
        f"{DEMO_PASSWORD}; also {MANAGER_EMAIL} and {APPROVER_EMAIL}, same password)"
    )


@app.command("import")
def import_(
    kind: Annotated[str, typer.Argument(help="products | locations | stock")],
    path: Annotated[Path, typer.Argument(help="a .csv or .xlsx file", exists=False)],
    org: Annotated[int | None, typer.Option(help="org id (default: the only org)")] = None,
    email: Annotated[str | None, typer.Option(help="act as this user")] = None,
) -> None:
    """Import products, locations or opening stock. Every row is checked first; if any row is
    bad nothing is written and each bad row is reported."""
    from hoop.service.importer import ImportFailed, run_import

    try:
        report = run_import(_uow(), kind, path, org_id=org, email=email, console=console)
    except ImportFailed as exc:
        for err in exc.errors[:200]:
            console.print(f"[red]row {err['row']}[/red]: {err['message']}")
        if len(exc.errors) > 200:
            console.print(f"... and {len(exc.errors) - 200} more")
        _fail(f"{exc.message}; nothing was written")
    print(report)


# ------------------------------------------------------------------ finance

report_app = typer.Typer(help="Finance reports: valuation, cogs, journal, reconciliation.",
                         no_args_is_help=True)  # fmt: skip
costing_app = typer.Typer(help="Costing: recompute and check.", no_args_is_help=True)
periods_app = typer.Typer(help="Accounting periods.", no_args_is_help=True)
app.add_typer(report_app, name="report")
app.add_typer(costing_app, name="costing")
app.add_typer(periods_app, name="periods")

Org = Annotated[int | None, typer.Option(help="org id (default: the only org)")]
Email = Annotated[str | None, typer.Option(help="act as this user (default: an owner)")]
Fmt = Annotated[str, typer.Option("--format", help="table | json | csv | xlsx")]
Out = Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")]


def _as(org: int | None, email: str | None, fn):  # type: ignore[no-untyped-def]
    """Run fn(conn, actor) as the given user of the org, reporting refusals plainly."""
    from hoop.domain.errors import HoopError
    from hoop.service.importer import ImportFailed, resolve_actor

    def run(conn):  # type: ignore[no-untyped-def]
        return fn(conn, resolve_actor(conn, org, email))

    try:
        return _uow().write(run)
    except HoopError as exc:
        _fail(f"{exc.message} ({exc.code})")
    except ImportFailed as exc:  # --org / --email name nobody
        _fail(exc.message)


def _show(kind: str, data: dict, fmt: str, output: Path | None) -> None:  # type: ignore[type-arg]
    import json

    from rich.table import Table

    from hoop.entrypoints.api.encoding import encode
    from hoop.service import exports

    if fmt == "json":
        text = json.dumps(encode(data), indent=2)
        output.write_text(text) if output else print(text)
        return
    if fmt in ("csv", "xlsx"):
        body, _ = exports.render(kind, data, fmt)
        if output is None and fmt == "xlsx":
            _fail("xlsx needs --output FILE")
        if output is None:
            sys.stdout.write(body.decode())
        else:
            output.write_bytes(body)
            console.print(f"wrote {output}")
        return
    if fmt != "table":
        _fail("--format must be table, json, csv or xlsx")
    title, head, rows = exports.table(kind, data)
    t = Table(title=title)
    for h in head:
        t.add_column(h, justify="right" if "(" in h or h == "qty" else "left")
    for r in rows:
        t.add_row(*("" if v is None else str(exports._cell(v)) for v in r))
    Console().print(t)


@report_app.command("valuation")
def report_valuation(
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD (its end) or ISO time")] = None,
    location: Annotated[int | None, typer.Option(help="only this location's subtree")] = None,
    by_location: Annotated[bool, typer.Option(help="one line per SKU and location")] = False,
    fmt: Fmt = "table",
    output: Out = None,
    org: Org = None,
    email: Email = None,
) -> None:
    """Stock value per SKU as of a date or time (default now)."""
    from hoop.service import reports

    data = _as(org, email, lambda c, a: reports.valuation(
        c, a, as_of=as_of, location_id=location, by_location=by_location))  # fmt: skip
    _show("valuation", data, fmt, output)


@report_app.command("cogs")
def report_cogs(
    from_: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option(help="YYYY-MM-DD (inclusive)")] = None,
    period: Annotated[str, typer.Option(help="month | day")] = "month",
    fmt: Fmt = "table",
    output: Out = None,
    org: Org = None,
    email: Email = None,
) -> None:
    """Cost of goods sold per SKU (default: this month)."""
    from hoop.service import reports

    data = _as(org, email, lambda c, a: reports.cogs(
        c, a, date_from=from_, date_to=to, period=period))  # fmt: skip
    _show("cogs", data, fmt, output)


@report_app.command("journal")
def report_journal(
    from_: Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD")] = None,
    to: Annotated[str | None, typer.Option(help="YYYY-MM-DD (inclusive)")] = None,
    fmt: Fmt = "table",
    output: Out = None,
    org: Org = None,
    email: Email = None,
) -> None:
    """The accounting journal (every entry in the range)."""
    from hoop.service import reports

    def run(c, a):  # type: ignore[no-untyped-def]
        if fmt != "table":
            a.require("reports.read", feature="reports.advanced")  # journal export
        return reports.journal(c, a, date_from=from_, date_to=to, limit=None)

    _show("journal", _as(org, email, run), fmt, output)


@report_app.command("reconciliation")
def report_reconciliation(
    deep: Annotated[bool, typer.Option(help="also recost every history and compare")] = False,
    fmt: Fmt = "table",
    output: Out = None,
    org: Org = None,
    email: Email = None,
) -> None:
    """Ledger value = cost layers = journal Inventory balance, to the cent. Exits 1 if not."""
    from hoop.service import reports

    data = _as(org, email, lambda c, a: reports.reconciliation(c, a, deep=deep))
    _show("reconciliation", data, fmt, output)
    if not data["balanced"]:
        _fail(f"{len(data['differences'])} difference(s)")


@costing_app.command("recompute")
def costing_recompute(
    write: Annotated[bool, typer.Option("--write/--check", help="rewrite, or only compare")] = (
        False
    ),
    org: Org = None,
    email: Email = None,
) -> None:
    """Cost every history again from the moves. --check (default) lists stored values that
    differ and exits 1 if any; --write replaces them, with correcting journal entries."""
    import time

    from hoop.service import costing

    started = time.perf_counter()
    with console.status("recosting every variant from its moves..."):

        def run(c, a):  # type: ignore[no-untyped-def]
            a.require("periods.close")
            return costing.recompute(c, a.org_id, check_only=not write, actor=a)

        result = _as(org, email, run)
    for d in result["differences"][:200]:
        console.print(
            f"[red]✗[/red] variant {d['variant_id']} move {d['move_id']} at "
            f"{d['effective_at']:%Y-%m-%d %H:%M:%S}: stored {d['stored']}, "
            f"recomputed {d['recomputed']}"
        )
    took = time.perf_counter() - started
    n = len(result["differences"])
    if n and not write:
        _fail(f"{n} difference(s) in {result['variants']} variant(s)")
    print(f"ok: {result['variants']} variant(s) recosted in {took:.1f}s; "
          f"{'rewritten' if write else 'no differences'}")  # fmt: skip


@periods_app.command("close")
def periods_close(
    until: Annotated[str, typer.Argument(help="close through this date, YYYY-MM-DD")],
    org: Org = None,
    email: Email = None,
) -> None:
    """Close the books through a date: nothing may be posted or backdated before its end."""
    from hoop.service import costing

    result = _as(org, email, lambda c, a: costing.close_period(c, a, {"until": until}))
    print(f"closed until {result['closed_until']:%Y-%m-%d %H:%M} UTC")


# ------------------------------------------------------------------ orders

orders_app = typer.Typer(help="Marketplace orders.", no_args_is_help=True)
app.add_typer(orders_app, name="orders")


@orders_app.command("list")
def orders_list(
    status: Annotated[
        str | None, typer.Option(help="only this status, e.g. pending_seller")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    org: Org = None,
    email: Email = None,
) -> None:
    """Orders, newest first, with their deadlines."""
    from datetime import UTC, datetime

    from rich.table import Table

    from hoop.service import orders

    rows = _as(org, email, lambda c, a: orders.list_orders(c, a, status, limit, None))
    now = datetime.now(UTC)
    t = Table(title=f"Orders{f' ({status})' if status else ''}")
    for h in ("id", "status", "customer", "deadline", "created"):
        t.add_column(h)
    for r in rows:
        due = r["respond_by"] if r["status"] == "pending_seller" else r["pay_by"]
        left = ""
        if due is not None and r["status"] in ("pending_seller", "awaiting_payment"):
            mins = int((due - now).total_seconds() // 60)
            left = f"{due:%Y-%m-%d %H:%M} ({mins} min left)" if mins >= 0 else "passed"
        t.add_row(str(r["id"]), r["status"], r["customer"].get("name", ""), left,
                  f"{r['created_at']:%Y-%m-%d %H:%M}")  # fmt: skip
    Console().print(t)


def _print_order(o: dict) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    from hoop.domain.quantities import decimal_text as dt

    who = o["customer"].get("name", "") if isinstance(o["customer"], dict) else ""
    due = o["respond_by"] if o["status"] == "pending_seller" else o["pay_by"]
    print(f"order {o['id']}: {o['status']}, {who}".rstrip(", ")
          + (f", deadline {due:%Y-%m-%d %H:%M} UTC" if due is not None
             and o["status"] in ("pending_seller", "awaiting_payment") else "")
          + (f", pickup {o['pickup']['status']}" if o["pickup"] else ""))  # fmt: skip
    if o["decline_reason"]:
        print(f"declined: {o['decline_reason']}")
    t = Table(title="Lines")
    for h in ("line", "sku", "qty", "reserved", "unit price"):
        t.add_column(h)
    for ln in o["lines"]:
        t.add_row(str(ln["line_no"]), ln["sku"], dt(ln["qty"]), dt(ln["reserved"]),
                  dt(ln["unit_price"]) if ln["unit_price"] is not None else "")  # fmt: skip
    Console().print(t)
    for e in o["timeline"]:
        note = f" ({e['note']})" if e["note"] else ""
        print(
            f"{e['at']:%Y-%m-%d %H:%M:%S} {e['action']}: {e['from_status'] or '-'} -> "
            f"{e['to_status']} by {e['actor_type']} {e['actor_id'] or ''}".rstrip()
            + note
        )


@orders_app.command("show")
def orders_show(
    order_id: Annotated[int, typer.Argument(min=1, max=2**62)],
    org: Org = None,
    email: Email = None,
) -> None:
    """An order with its lines, what they hold reserved, and its timeline."""
    from hoop.service import orders

    _print_order(_as(org, email, lambda c, a: orders.get_order(c, a, order_id)))


def _each_order(ids: list[int], org: int | None, email: str | None, fn) -> None:  # type: ignore[no-untyped-def]
    """fn(conn, actor, order_id) for each order, each in its own transaction: one that is
    refused (wrong state, deadline passed, not found) is reported and the rest go on. Exits
    1 if any was refused. The caller (--org, --email) is found once, first."""
    from hoop.domain.errors import HoopError

    actor = _as(org, email, lambda c, a: a)
    uow, refused = _uow(), 0
    for order_id in ids:
        try:
            o = uow.write(lambda c, i=order_id: fn(c, actor, i))
        except HoopError as exc:
            refused += 1
            print(f"error: order {order_id}: {exc.message} ({exc.code})", file=sys.stderr)
            continue
        print(f"order {o['id']}: {o['status']}")
    if refused:
        raise typer.Exit(1)


OrderIds = Annotated[
    list[int], typer.Argument(help="order ids", min=1, max=2**62, metavar="ORDER_ID...")
]
Reason = Annotated[str | None, typer.Option(help="told to the buyer")]


class PickupStatus(enum.StrEnum):
    picked_up = "picked_up"
    delivered = "delivered"


@orders_app.command("accept")
def orders_accept(order_ids: OrderIds, org: Org = None, email: Email = None) -> None:
    """Accept order requests: each buyer is asked to pay within the org's payment window."""
    from hoop.service import orders

    _each_order(order_ids, org, email, orders.accept)


@orders_app.command("decline")
def orders_decline(
    order_ids: OrderIds, reason: Reason = None, org: Org = None, email: Email = None
) -> None:
    """Decline order requests."""
    from hoop.service import orders

    _each_order(order_ids, org, email, lambda c, a, i: orders.decline(c, a, i, reason))


@orders_app.command("pay")
def orders_pay(order_ids: OrderIds, org: Org = None, email: Email = None) -> None:
    """Record payment for accepted orders: each is confirmed, its stock reserved."""
    from hoop.service import orders

    _each_order(order_ids, org, email, orders.pay)


@orders_app.command("cancel")
def orders_cancel(
    order_ids: OrderIds, reason: Reason = None, org: Org = None, email: Email = None
) -> None:
    """Cancel orders not yet picked up; what they held reserved is released."""
    from hoop.service import orders

    _each_order(order_ids, org, email, lambda c, a, i: orders.cancel(c, a, i, reason))


@orders_app.command("pickup")
def orders_pickup(
    order_ids: OrderIds,
    status: Annotated[PickupStatus, typer.Option(help="picked_up posts the shipment")],
    org: Org = None,
    email: Email = None,
) -> None:
    """Report the logistics pickup: `picked_up` ships the units, `delivered` closes it."""
    from hoop.service import orders

    _each_order(order_ids, org, email, lambda c, a, i: orders.pickup(c, a, i, status.value))


@orders_app.command("lapse")
def orders_lapse() -> None:
    """Expire unanswered order requests and cancel unpaid orders now (the scheduler does this
    every interval)."""
    from hoop.scheduler import lapse_deadlines

    print(f"{lapse_deadlines(_uow())} order(s) past their deadline")


# ------------------------------------------------------------------ purchasing

suppliers_app = typer.Typer(help="Suppliers.", no_args_is_help=True)
app.add_typer(suppliers_app, name="suppliers")
po_app = typer.Typer(help="Purchase orders.", no_args_is_help=True)
app.add_typer(po_app, name="po")


@suppliers_app.command("list")
def suppliers_list(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    org: Org = None,
    email: Email = None,
) -> None:
    """Suppliers with their currency and contact."""
    from rich.table import Table

    from hoop.service import suppliers

    rows = _as(org, email, lambda c, a: suppliers.list_suppliers(c, a, limit, None))
    t = Table(title="Suppliers")
    for h in ("id", "name", "currency", "email", "phone", "active"):
        t.add_column(h)
    for r in rows:
        t.add_row(str(r["id"]), r["name"], r["currency"], r["email"] or "", r["phone"] or "",
                  "yes" if r["active"] else "no")  # fmt: skip
    Console().print(t)


@po_app.command("list")
def po_list(
    status: Annotated[str | None, typer.Option(help="only this status, e.g. sent")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 50,
    org: Org = None,
    email: Email = None,
) -> None:
    """Purchase orders, newest first."""
    from rich.table import Table

    from hoop.domain.quantities import decimal_text as dt
    from hoop.service import purchasing

    rows = _as(
        org, email, lambda c, a: purchasing.list_purchase_orders(c, a, status, None, limit, None)
    )
    t = Table(title=f"Purchase orders{f' ({status})' if status else ''}")
    for h in ("id", "supplier", "status", "lines", "received / ordered", "total", "expected"):
        t.add_column(h)
    for r in rows:
        exp = f"{r['expected_at']:%Y-%m-%d}" if r["expected_at"] else ""
        t.add_row(str(r["id"]), r["supplier_name"], _po_status(r), str(r["line_count"]),
                  f"{dt(r['received_qty'])} / {dt(r['qty'])}",
                  f"{dt(r['total'])} {r['currency']}", exp)  # fmt: skip
    Console().print(t)


def _po_status(po: dict) -> str:  # type: ignore[type-arg]
    return po["status"] + (" (closed short)" if po["closed_short"] else "")


def _print_po(po: dict) -> None:  # type: ignore[type-arg]
    from rich.table import Table

    from hoop.domain.quantities import decimal_text as dt

    print(f"purchase order {po['id']}: {po['supplier_name']}, {_po_status(po)}, "
          f"total {dt(po['total'])} {po['currency']}")  # fmt: skip
    t = Table(title="Lines")
    for h in ("line", "id", "sku", "location", "qty", "received", "open", "unit price"):
        t.add_column(h)
    for ln in po["lines"]:
        t.add_row(str(ln["line_no"]), str(ln["id"]), ln["sku"] or "", str(ln["location_id"]),
                  dt(ln["qty"]), dt(ln["received_qty"]), dt(ln["open_qty"]),
                  dt(ln["unit_price"]))  # fmt: skip
    Console().print(t)
    for a in po["asns"]:
        window = " - ".join(f"{x:%Y-%m-%d %H:%M}" for x in (a["arrive_from"], a["arrive_to"]) if x)
        print(f"ASN {a['id']} {a['status']} {a['reference'] or ''} {window}".rstrip())
    for r in po["receipts"]:
        print(f"receipt {r['id']} {r['state']}" + (" (reversed)" if r["reversed"] else ""))


@po_app.command("show")
def po_show(po_id: int, org: Org = None, email: Email = None) -> None:
    """A purchase order with its lines, ASNs and receipts."""
    from hoop.service import purchasing

    _print_po(_as(org, email, lambda c, a: purchasing.get_purchase_order(c, a, po_id)))


@po_app.command("send")
def po_send(po_id: int, org: Org = None, email: Email = None) -> None:
    """Send a draft purchase order to its supplier."""
    from hoop.service import purchasing

    po = _as(org, email, lambda c, a: purchasing.send(c, a, po_id))
    print(f"purchase order {po['id']} is {po['status']}")


@po_app.command("receive")
def po_receive(
    po_id: int,
    asn: Annotated[int | None, typer.Option("--asn", help="receive this ASN's lines")] = None,
    org: Org = None,
    email: Email = None,
) -> None:
    """Receive everything still open on the order (or the lines of an ASN)."""
    from hoop.service import deliveries, purchasing

    def run(conn, actor):  # type: ignore[no-untyped-def]
        if asn is not None:
            return deliveries.receive(conn, actor, po_id, {"asn_id": asn})
        po = purchasing.get_purchase_order(conn, actor, po_id)
        lines = [{"purchase_order_line_id": ln["id"], "qty": ln["open_qty"]}
                 for ln in po["lines"] if ln["open_qty"] > 0]  # fmt: skip
        return deliveries.receive(conn, actor, po_id, {"lines": lines})

    out = _as(org, email, run)
    docs = ", ".join(f"{d['id']} ({d['state']})" for d in out["documents"])
    print(f"receipt document(s) {docs}")
    _print_po(out["purchase_order"])


from hoop.entrypoints.cli_replenishment import register as _replenishment  # noqa: E402

_replenishment(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()

"""Replenishment at scale (issue #5), on PostgreSQL (the data is loaded with its SQL).

Set-up, loaded with INSERT ... SELECT: --variants variants (25,000) at --locations warehouses
(4), so 100,000 variant-locations, each with a policy (half min/max, half EOQ with safety stock
from demand), one year of history per variant-location (an opening receipt of 200, then
--shipments shipments (9) spread over the year, 5..20 units each), balances to match, 20
suppliers with one or two supplier items per variant, and open purchase-order lines for one
variant-location in ten. About 1,000,000 moves. Plus --bare variants (1,000) with no policy.

Measured:
  (a) suggestions over every policy (service.replenishment.suggestions, all pages in one call):
      time, statements, suggestions found, peak RSS; and the first API page (limit 500);
  (b) what the low-stock re-evaluation adds to a posting: one-line shipments of a variant with
      policies at its location (alerts.positions_changed timed inside the real posting), and
      the same shipments of variants with no policy, p50/p99 of each posting;
  (c) the scheduler's refresh of every reorder point (all stale), as a worst case.

Usage: python benchmarks/bench_replenishment.py [--quick] [--keep] [--variants N]
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from common import (
    StatementCounter,
    analyze,
    base_parser,
    fmt_pct,
    fresh_database,
    header,
    line,
    peak_rss_mb,
    percentiles,
    setup_org,
    summarize,
)
from sqlalchemy import text

from hoop.service import alerts, catalog, replenishment, stock

SCALE = 10_000  # quantities are stored x 10^4


_MOVES = f"""
INSERT INTO moves (org_id, document_id, line_no, variant_id, from_location_id, to_location_id,
                   qty, lot, serial, unit_cost, value, reversal, reverses_move_id, effective_at,
                   recorded_at, user_id)
SELECT :org, NULL, 1, variant_id,
       CASE WHEN k = 0 THEN :supplier ELSE location_id END,
       CASE WHEN k = 0 THEN location_id ELSE :customer END,
       CASE WHEN k = 0 THEN 200 * {SCALE} ELSE (5 + (vi * 7 + k * 3 + li) % 16) * {SCALE} END,
       '', NULL, NULL, NULL, false, NULL, at, at, NULL
FROM (SELECT vl.*, k, CAST(:start AS timestamptz)
             + (k * 36.5 + (vi % 97) * 0.01) * interval '1 day' AS at
      FROM vl, generate_series(0, :n) AS k) x
"""

_BALANCES = """
INSERT INTO balances (variant_id, location_id, lot, org_id, on_hand, reserved)
SELECT vl.variant_id, vl.location_id, '', :org,
       sum(CASE WHEN m.to_location_id = vl.location_id THEN m.qty ELSE -m.qty END), 0
FROM moves m JOIN vl ON vl.variant_id = m.variant_id
 AND (m.to_location_id = vl.location_id OR m.from_location_id = vl.location_id)
WHERE m.org_id = :org
GROUP BY vl.variant_id, vl.location_id
"""

_ITEMS = f"""
INSERT INTO supplier_items (org_id, supplier_id, variant_id, price, currency, lead_time_days,
                            moq, pack_size, preferred, created_at, updated_at)
SELECT :org, (SELECT id FROM suppliers WHERE org_id = :org ORDER BY id
              OFFSET (vi + j * 7) % 20 LIMIT 1),
       variant_id, 20000 + (vi % 13) * 5000 + j * 2500, 'USD', (5 + (vi + j) % 10) * {SCALE},
       CASE WHEN vi % 3 = 0 THEN 50 * {SCALE} ELSE 0 END,
       (CASE vi % 3 WHEN 0 THEN 1 WHEN 1 THEN 6 ELSE 12 END) * {SCALE},
       j = 1 AND vi % 4 = 1, :now, :now
FROM (SELECT DISTINCT variant_id, vi FROM vl) v, generate_series(0, 1) AS j
WHERE j <= vi % 2
"""

_POLICIES = f"""
INSERT INTO replenishment_policies (org_id, variant_id, location_id, method, min_qty, max_qty,
    safety_stock, service_level, lead_time_days, order_cost, holding_rate, demand_window_days,
    supplier_id, reorder_point, computed_at, created_at, updated_at)
SELECT :org, variant_id, location_id, CASE WHEN (vi + li) % 2 = 0 THEN 'eoq' ELSE 'minmax' END,
       (40 + (vi % 5) * 20) * {SCALE}, (190 + (vi % 5) * 20) * {SCALE}, NULL, 9500, NULL,
       25 * {SCALE}, 2500, 90, NULL, NULL, NULL, :now, :now
FROM vl
"""

_PO = """
INSERT INTO purchase_orders (org_id, supplier_id, status, currency, location_id, expected_at,
                             source, created_at, closed_short, updated_at)
VALUES (:org, :s, 'sent', 'USD', :loc, :now, 'manual', :now, false, :now) RETURNING id
"""

_PO_LINES = f"""
INSERT INTO purchase_order_lines (org_id, purchase_order_id, line_no, variant_id, location_id,
                                  qty, received_qty, unit_price, expected_at, open)
SELECT :org, :po, row_number() OVER (ORDER BY vi, li), variant_id, location_id, 50 * {SCALE}, 0,
       30000, :now, true
FROM vl WHERE vi % 10 = 0 AND vi % 200 / 10 = :s
"""


def load(org: Any, n_variants: int, n_shipments: int, now: datetime) -> dict[str, int]:
    """Warehouses, history, balances, suppliers, items, policies and open POs, in SQL."""
    actor = org.actor
    whs = [org.locations[0]]
    for i in range(1, ARGS.locations):
        body = {"name": f"Warehouse {i}", "code": f"WH{i}", "type": "warehouse"}
        whs.append(org.uow.write(lambda c, b=body: catalog.create_location(c, actor, b))["id"])
    planned = [v for v, _ in org.variants[:n_variants]]
    bare = [v for v, _ in org.variants[n_variants:]]
    rows = [
        {"v": vid, "loc": wh, "vi": vi, "li": li}
        for vi, vid in enumerate(planned)
        for li, wh in enumerate(whs)
    ]
    p = {"org": org.org_id, "now": now, "start": now - timedelta(days=365), "n": n_shipments,
         "supplier": org.virtual["supplier"], "customer": org.virtual["customer"]}  # fmt: skip
    out = {"policies": len(rows), "warehouses": len(whs)}
    with org.engine.begin() as c:
        c.execute(text("CREATE TEMP TABLE vl (variant_id bigint, location_id bigint, vi int, "
                       "li int)"))  # fmt: skip
        c.execute(text("INSERT INTO vl VALUES (:v, :loc, :vi, :li)"), rows)
        out["moves"] = c.execute(text(_MOVES), p).rowcount
        c.execute(text(_BALANCES), p)
        c.execute(
            text("INSERT INTO suppliers (org_id, name, currency, active, created_at) "
                 "SELECT :org, 'Supplier ' || s, 'USD', true, :now FROM generate_series(0, 19) s"),
            p,
        )  # fmt: skip
        out["supplier_items"] = c.execute(text(_ITEMS), p).rowcount
        c.execute(text(_POLICIES), p)
        sup = c.execute(
            text("SELECT id FROM suppliers WHERE org_id = :org ORDER BY id"), p
        ).scalars()
        out["po_lines"] = 0
        for s_i, sid in enumerate(sup.all()):
            po = c.execute(text(_PO), {**p, "s": sid, "loc": whs[0]}).scalar_one()
            out["po_lines"] += c.execute(text(_PO_LINES), {**p, "po": po, "s": s_i}).rowcount
        c.execute(text("DROP TABLE vl"))
    for i in range(0, len(bare), 500):  # stock for the variants without a policy
        lines = [{"variant_id": v, "qty": "1000", "unit_cost": "1"} for v in bare[i : i + 500]]
        doc = {"type": "receipt", "to_location_id": whs[0], "lines": lines}
        org.uow.write(lambda c, doc=doc: stock.create_document(c, actor, doc))
    analyze(org.engine)
    return out


def bench_suggestions(org: Any) -> None:
    print("(a) suggestions over every policy")
    for run in range(ARGS.repeats):
        with StatementCounter(org.engine) as sc, sc.counting() as events:
            t0 = time.perf_counter()
            items = org.uow.read(lambda c: replenishment.suggestions(c, org.actor))
            dt = time.perf_counter() - t0
        line(f"run {run + 1}: all policies, one call", f"{dt:.2f} s, {len(items):,} suggestions, "
             f"{summarize(events)}")  # fmt: skip
    t0 = time.perf_counter()
    page = org.uow.read(lambda c: replenishment.suggestions(c, org.actor, limit=500))
    line("first page (limit 500)", f"{(time.perf_counter() - t0) * 1000:.0f} ms, {len(page)} items")
    if items:
        line("example reason", items[0]["reason"][:200])
    line("peak RSS", f"{peak_rss_mb():.0f} MiB")


def bench_posting(org: Any, planned: list[tuple[int, str]], bare: list[tuple[int, str]]) -> None:
    print("(b) what the low-stock re-evaluation adds to a posting (one-line shipments)")
    inner: list[float] = []
    original = alerts.positions_changed

    def timed(*a: Any, **k: Any) -> int:
        t0 = time.perf_counter()
        try:
            return original(*a, **k)
        finally:
            inner.append(time.perf_counter() - t0)

    alerts.positions_changed = timed  # type: ignore[assignment]
    wh = org.locations[0]
    try:
        rounds = (("with policies, 1st (may raise)", planned),
                  ("with policies, 2nd (no change)", planned), ("no policy", bare))  # fmt: skip
        for label, pool in rounds:
            inner.clear()
            total = []
            for vid, _ in pool[: ARGS.postings]:
                doc = {"type": "shipment", "from_location_id": wh,
                       "lines": [{"variant_id": vid, "qty": "1"}]}  # fmt: skip
                t0 = time.perf_counter()
                org.uow.write(lambda c, doc=doc: stock.create_document(c, org.actor, doc))
                total.append(time.perf_counter() - t0)
            line(f"posting, {label}", fmt_pct(percentiles(total)))
            line("  of which alert re-evaluation", fmt_pct(percentiles(inner)))
    finally:
        alerts.positions_changed = original  # type: ignore[assignment]
    with StatementCounter(org.engine) as sc, sc.counting() as events:
        vid = planned[ARGS.postings + 1][0]
        org.uow.write(lambda c: alerts.positions_changed(c, org.org_id, {vid}))
    line("statements of one re-evaluation", summarize(events))


def bench_refresh(org: Any) -> None:
    print("(c) scheduler refresh of every reorder point (all stale)")
    t0 = time.perf_counter()
    n = 0
    while True:
        k = org.uow.write(lambda c: replenishment.refresh_due(c, max_age_seconds=0, batch=5000))
        n += k
        if k < 5000:
            break
    dt = time.perf_counter() - t0
    line("refreshed", f"{n:,} policies in {dt:.2f} s ({n / dt:,.0f}/s)")


def main() -> None:
    global ARGS
    p = base_parser(__doc__ or "")
    p.add_argument("--variants", type=int, default=25_000)
    p.add_argument("--locations", type=int, default=4)
    p.add_argument("--shipments", type=int, default=9)
    p.add_argument("--bare", type=int, default=1_000)
    p.add_argument("--postings", type=int, default=200)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--keep", action="store_true")
    p.add_argument(
        "--skip-refresh",
        action="store_true",
        help="store reorder point = min by SQL instead of timing the refresh (c)",
    )
    ARGS = p.parse_args()
    if ARGS.quick:
        ARGS.variants, ARGS.bare, ARGS.postings, ARGS.repeats = 1000, 100, 50, 1
    ARGS.db = "postgres"
    header("Replenishment: suggestions, alert re-evaluation, refresh", ARGS.db,
           variants=ARGS.variants, locations=ARGS.locations, shipments=ARGS.shipments)  # fmt: skip
    with fresh_database(ARGS.db, "hoop_bench_repl", keep=ARGS.keep) as db:
        t0 = time.perf_counter()
        org = setup_org(db, n_locations=1, n_variants=ARGS.variants + ARGS.bare)
        org.uow.write(lambda c: c.execute(text("UPDATE orgs SET plan = 'pro' WHERE id = :o"),
                                          {"o": org.org_id}))  # fmt: skip
        now = datetime.now(UTC)
        info = load(org, ARGS.variants, ARGS.shipments, now)
        line("loaded", ", ".join(f"{k} {v:,}" for k, v in info.items())
             + f" in {time.perf_counter() - t0:.0f} s")  # fmt: skip
        bench_suggestions(org)
        if ARGS.skip_refresh:  # (b) only needs a stored reorder point on every policy
            with org.engine.begin() as c:
                sql = (
                    "UPDATE replenishment_policies SET reorder_point = min_qty, computed_at = now()"
                )
                c.execute(text(sql + " WHERE org_id = :o"), {"o": org.org_id})
        else:
            bench_refresh(org)  # also gives every policy its stored reorder point for (b)
        bench_posting(org, org.variants[: ARGS.variants], org.variants[ARGS.variants :])


ARGS: Any = None

if __name__ == "__main__":
    main()

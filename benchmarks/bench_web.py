"""Issue #6: server-side render time of every web page, with the demo data scaled to 10,000
products and 1,000,000 moves (PostgreSQL).

Set-up: the demo org (`service.demo.load_demo`), then 10,000 more products (one variant each,
bulk INSERT ... SELECT) and 100 moves per new variant over the last year (bench_costing's
generator: 1,000,000 moves and their balances), then `costing.recompute` so the cost entries,
books and journal match the moves, then a min/max policy per new variant (min 1,000,000: every
one is suggested, so /replenishment has 10,000 suggestions to page through), then ANALYZE.

Measure: uvicorn (1 worker, `timed_asgi:app`, which adds `Server-Timing: app;dur=`: the time
from the request's arrival in the ASGI app to the start of its response: session lookup,
queries, template rendering) and one sequential httpx client with a session cookie. Each page
is requested --warmup times, then --samples times; p50 / p99 / max of the server time, and
p50 of the round trip.

Reconciliation is a background job: before serving, --runs (5) runs are recorded and computed
through the service (`reconciliation_runs.request_run` + `execute_run`, as the background task
does; each one's time is printed), so the reconciliation pages show a finished run; then the
button's POST is measured (server time to the redirect; the run follows the response), each
sample waiting for its run to finish (polling the run's fragment) so that runs do not overlap.

    .venv/bin/python benchmarks/bench_web.py [--products 10000 --moves-per 100 --samples 30]

The set-up takes about a minute on an idle machine; `--keep` keeps the loaded schema and prints
its name, and `--reuse <schema>` measures it again (migrated to the current head first, so a
new migration's indexes are there) without loading; `--only reports` measures just the pages
whose path contains "reports". The server has autovacuum off and the set-up only ANALYZEs, so
no page is all-visible and index-only scans read the heap anyway; `--vacuum` VACUUMs the schema
first, as autovacuum would after a bulk load in production (on a kept schema, for good).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from bench_costing import load_history
from common import (
    Org,
    analyze,
    base_parser,
    fresh_database,
    header,
    kept_database,
    line,
    percentiles,
    uvicorn_server,
    vacuum_schema,
)
from sqlalchemy import select, text

from hoop import scheduler
from hoop.adapters.db.engine import make_engine
from hoop.adapters.db.tables import (
    locations,
    orders,
    products,
    purchase_orders,
    replenishment_policies,
    stock_documents,
    users,
)
from hoop.service import catalog, reconciliation_runs
from hoop.service import costing as costing_service
from hoop.service.context import Actor
from hoop.service.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo
from hoop.service.unit_of_work import UnitOfWork

_PRODUCTS = """
INSERT INTO products (org_id, name, description, status, tracking, tracks_expiry,
                      costing_method, created_at, updated_at)
SELECT :org, 'Scaled product ' || lpad(i::text, 5, '0'), NULL, 'active', 'none', false, NULL,
       now(), now()
FROM generate_series(1, :n) AS i
"""
_POLICIES = """
INSERT INTO replenishment_policies (org_id, variant_id, location_id, method, min_qty, max_qty,
                                    demand_window_days, created_at, updated_at)
SELECT :org, v.id, :loc, 'minmax', 10000000000, 20000000000, 90, now(), now()
FROM variants v WHERE v.org_id = :org AND v.sku LIKE 'SCALE-%'
"""
_VARIANTS = """
INSERT INTO variants (org_id, product_id, sku, gtin, attributes, price, created_at)
SELECT :org, p.id, 'SCALE-' || lpad(substr(p.name, 16), 5, '0'), NULL, '{}', 99000, now()
FROM products p WHERE p.org_id = :org AND p.name LIKE 'Scaled product %'
RETURNING id
"""


def scale(engine: Any, uow: UnitOfWork, n_products: int, per: int) -> tuple[int, int]:
    org_id, user_id = uow.read(
        lambda c: c.execute(
            select(users.c.org_id, users.c.id).where(users.c.email == DEMO_EMAIL)
        ).one()
    )
    actor = Actor(org_id=org_id, plan="enterprise", roles=("owner",), user_id=user_id)
    with engine.begin() as c:
        c.execute(text(_PRODUCTS), {"org": org_id, "n": n_products})
        ids = [r[0] for r in c.execute(text(_VARIANTS), {"org": org_id})]
    wh = uow.read(lambda c: c.execute(
        select(locations.c.id).where(locations.c.org_id == org_id, locations.c.code == "KTM-B-01")
    ).scalar_one())  # fmt: skip
    virtual = uow.read(lambda c: catalog.virtual_location_ids(c, org_id))
    org = Org(uow, engine, actor, "", org_id, [wh], [], virtual)
    t0 = time.perf_counter()
    n = load_history(org, ids, per, datetime.now(UTC) - timedelta(days=365))
    line("moves loaded", f"{n:,} in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    uow.write(lambda c: costing_service.recompute(c, org_id, check_only=False))
    line("costing recomputed (entries, books, journal)", f"{time.perf_counter() - t0:.1f} s")
    with engine.begin() as c:
        n = c.execute(text(_POLICIES), {"org": org_id, "loc": wh}).rowcount
    line("replenishment policies (all suggested)", f"{n:,}")
    analyze(engine)
    return org_id, ids[0]


def login(base: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text)
    assert nonce is not None
    form = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD, "csrf_token": nonce.group(1)}
    r = client.post("/login", data=form)
    assert r.status_code == 303, r.text
    return client


def pages(uow: UnitOfWork, org_id: int, scaled_product: int, run: int) -> list[str]:
    def ids(c: Any) -> tuple[int, int, int, int, int]:
        doc = c.execute(select(stock_documents.c.id).where(stock_documents.c.org_id == org_id)
                        .order_by(stock_documents.c.id.desc()).limit(1)).scalar_one()  # fmt: skip
        order = c.execute(select(orders.c.id).where(orders.c.org_id == org_id)
                          .order_by(orders.c.id).limit(1)).scalar_one()  # fmt: skip
        demo_product = c.execute(select(products.c.id).where(products.c.org_id == org_id)
                                 .order_by(products.c.id).limit(1)).scalar_one()  # fmt: skip
        po = c.execute(select(purchase_orders.c.id).where(purchase_orders.c.org_id == org_id)
                       .order_by(purchase_orders.c.id).limit(1)).scalar_one()  # fmt: skip
        mid_policy = c.execute(
            select(replenishment_policies.c.id).where(replenishment_policies.c.org_id == org_id)
            .order_by(replenishment_policies.c.id).offset(5000).limit(1)
        ).scalar()  # fmt: skip
        return doc, order, demo_product, po, mid_policy or 0

    doc, order, demo_product, po, mid_policy = uow.read(ids)
    mid = (datetime.now(UTC) - timedelta(days=180)).date().isoformat()
    return [
        "/", "/products", "/products?q=SCALE-0999", "/products?cursor=5000",
        f"/products/{demo_product}", f"/products/{scaled_product}",
        "/documents", "/documents/new", "/documents/approvals", f"/documents/{doc}",
        "/orders", "/orders?status=pending_seller", f"/orders/{order}", "/notifications",
        "/notifications?show=unread", "/replenishment",
        f"/replenishment?cursor={mid_policy}", "/purchase-orders", f"/purchase-orders/{po}",
        "/reports/valuation", f"/reports/valuation?as_of={mid}", "/reports/cogs",
        "/reports/reconciliation", f"/reports/reconciliation/runs/{run}",
        f"/reports/reconciliation/runs/{run}/status", "/settings",
        "/settings/approvals", "/settings/users", "/settings/api-keys", "/settings/webhooks",
    ]  # fmt: skip


def background_runs(uow: UnitOfWork, n: int) -> tuple[int, list[float]]:
    """Record and compute `n` reconciliation runs as the demo user, one after another, as the
    button's background task does. Returns the last run's id and the seconds each took."""
    org_id, user_id = uow.read(
        lambda c: c.execute(
            select(users.c.org_id, users.c.id).where(users.c.email == DEMO_EMAIL)
        ).one()
    )
    actor = Actor(org_id=org_id, plan="enterprise", roles=("owner",), user_id=user_id)
    took, run_id = [], 0
    for _ in range(n):
        run_id = uow.write(lambda c: reconciliation_runs.request_run(c, actor))["id"]
        t = time.perf_counter()
        reconciliation_runs.execute_run(uow, run_id)
        took.append(time.perf_counter() - t)
        run = uow.read(lambda c, i=run_id: reconciliation_runs.get_run(c, actor, i))
        assert run["status"] == "done", run["error"]
    return run_id, took


def press_the_button(client: httpx.Client, samples: int, warmup: int) -> None:
    """POST /reports/reconciliation/runs as the page's form does; each sample waits for its
    run to finish (polling its fragment, as the page does) before the next POST."""
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text)
    assert csrf is not None
    server, wall, done = [], [], []
    for i in range(warmup + samples):
        t = time.perf_counter()
        r = client.post("/reports/reconciliation/runs", data={"csrf_token": csrf.group(1)})
        took = time.perf_counter() - t
        assert r.status_code == 303, (r.status_code, r.text[:300])
        while "every 1s" in client.get(r.headers["location"] + "/status").text:
            time.sleep(0.02)
        if i >= warmup:
            dur = re.search(r"dur=([\d.]+)", r.headers["server-timing"])
            server.append(float(dur.group(1)) / 1000)  # type: ignore[union-attr]
            wall.append(took)
            done.append(time.perf_counter() - t)
    p, w, d = percentiles(server), percentiles(wall), percentiles(done)
    path = "POST /reports/reconciliation/runs"
    print(f"  {path:<44} {p['p50']:>8.1f}ms {p['p99']:>6.1f}ms {p['max']:>6.1f}ms "
          f"{w['p50']:>13.1f}ms{'' if p['p99'] < 200 else '  over 200 ms'}")  # fmt: skip
    line("  button to result shown (polled, p50 / max)", f"{d['p50']:.1f} / {d['max']:.1f} ms")


def _database(a: Any) -> Any:
    if a.reuse:
        return kept_database(a.reuse)
    return fresh_database(a.db, "hoop_bench_web", keep=a.keep)


def _loaded(uow: UnitOfWork) -> tuple[int, int]:
    """The demo org and its first scaled variant in a schema loaded earlier."""
    sql = text(
        "SELECT u.org_id, (SELECT min(v.id) FROM variants v WHERE v.org_id = u.org_id "
        "AND v.sku LIKE 'SCALE-%') FROM users u WHERE u.email = :e"
    )
    org_id, first = uow.read(lambda c: c.execute(sql, {"e": DEMO_EMAIL}).one())
    return org_id, first


def main() -> None:
    ap = base_parser(__doc__ or "")
    ap.set_defaults(db="postgres")
    ap.add_argument("--products", type=int, default=10_000)
    ap.add_argument("--moves-per", type=int, default=100, help="moves per scaled variant")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the loaded schema (prints it)")
    ap.add_argument("--reuse", metavar="SCHEMA", help="measure a schema kept by --keep")
    ap.add_argument("--only", metavar="TEXT", help="only the pages whose path contains TEXT")
    ap.add_argument("--runs", type=int, default=5, help="reconciliation runs timed (service)")
    ap.add_argument(
        "--vacuum",
        action="store_true",
        help="VACUUM ANALYZE the schema first (as autovacuum would, in production)",
    )
    a = ap.parse_args()
    if a.quick:
        a.products, a.moves_per, a.samples = 1000, 10, 5
    with _database(a) as db:
        header("web pages, server-side render time", a.db, products=a.products,
               moves=a.products * a.moves_per, samples=a.samples,
               reused=a.reuse or "no", vacuum=a.vacuum)  # fmt: skip
        engine = make_engine(db.url, pool_size=5)
        uow = UnitOfWork(engine)
        if a.reuse:
            org_id, first_variant = _loaded(uow)
        else:
            t0 = time.perf_counter()
            load_demo(uow)
            line("demo org loaded", f"{time.perf_counter() - t0:.1f} s")
            org_id, first_variant = scale(engine, uow, a.products, a.moves_per)
        scaled_product = uow.read(
            lambda c: c.execute(
                text("SELECT product_id FROM variants WHERE id = :v"), {"v": first_variant}
            ).scalar_one()
        )
        sql = text(
            "SELECT (SELECT count(*) FROM products WHERE org_id = :o), "
            "(SELECT count(*) FROM moves WHERE org_id = :o), "
            "(SELECT count(*) FROM journal_entries WHERE org_id = :o)"
        )
        counts = uow.read(lambda c: c.execute(sql, {"o": org_id}).one())
        line("org: products / moves / journal entries", " / ".join(f"{n:,}" for n in counts))
        if a.vacuum:
            t0 = time.perf_counter()
            vacuum_schema(engine)
            line("VACUUM ANALYZE of the schema", f"{time.perf_counter() - t0:.1f} s")
        run_id, took = background_runs(uow, max(1, a.runs))
        t = percentiles(took)
        line("reconciliation run (background, service)",
             f"p50 {t['p50']:.1f} ms, max {t['max']:.1f} ms (n={t['n']}): "
             + ", ".join(f"{x * 1000:.0f}" for x in took) + " ms")  # fmt: skip
        # what `hoop serve`'s scheduler does within one interval of starting: the dashboard
        # chart's day sums (the job's own time is printed)
        t = time.perf_counter()
        uow.write(lambda c: c.execute(text("DELETE FROM inventory_day_sums")))
        while scheduler.sum_inventory_days(uow):
            pass
        line("scheduler: the chart's day sums, every org", f"{time.perf_counter() - t:.2f} s")
        with uvicorn_server(db, workers=1, pool_size=5, app="timed_asgi:app") as srv:
            client = login(srv.base)
            t = time.perf_counter()
            first = client.get("/")
            dur = re.search(r"dur=([\d.]+)", first.headers["server-timing"])
            line(
                "dashboard, first render in a fresh process",
                f"{float(dur.group(1)):.1f} ms server, {(time.perf_counter() - t) * 1000:.1f} ms "
                "round trip (reads the scheduler's day sums, adds the rows since)",
            )  # type: ignore[union-attr]
            print(f"  {'page':<44} {'server p50':>10} {'p99':>8} {'max':>8} {'round trip p50':>15}")
            worst = 0.0
            for path in pages(uow, org_id, scaled_product, run_id):
                if a.only and a.only not in path:
                    continue
                server, wall = [], []
                for i in range(a.warmup + a.samples):
                    t = time.perf_counter()
                    r = client.get(path)
                    took = time.perf_counter() - t
                    assert r.status_code == 200, (path, r.status_code, r.text[:300])
                    if i >= a.warmup:
                        dur = re.search(r"dur=([\d.]+)", r.headers["server-timing"])
                        server.append(float(dur.group(1)) / 1000)  # type: ignore[union-attr]
                        wall.append(took)
                p, w = percentiles(server), percentiles(wall)
                worst = max(worst, p["p99"])
                flag = "" if p["p99"] < 200 else "  over 200 ms"
                print(f"  {path:<44} {p['p50']:>8.1f}ms {p['p99']:>6.1f}ms {p['max']:>6.1f}ms "
                      f"{w['p50']:>13.1f}ms{flag}")  # fmt: skip
            if not a.only or a.only in "/reports/reconciliation/runs":
                press_the_button(client, min(a.samples, 10), 1)
            line("slowest page p99", f"{worst:.1f} ms (target < 200 ms)")


if __name__ == "__main__":
    main()

"""Availability reads with a big ledger: --moves moves (default 1,000,000) over --variants
variants (10,000) and --locations internal locations (20), loaded straight into `moves` with the
matching `balances` rows (COPY on PostgreSQL, executemany on SQLite), then timed:

  1. the service function (queries.availability in a read transaction), --calls random SKUs;
  2. a real HTTP round trip: GET /api/v1/stock/availability?sku=... against uvicorn on
     127.0.0.1, one client, sequential (token auth included);
  3. the same over HTTP for a location subtree (location_id=<warehouse>).

Prints load time, p50/p95/p99 per kind, and peak RSS.

Usage: python benchmarks/bench_availability.py --db postgres [--quick] [--moves 1000000]
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from common import (
    Org,
    base_parser,
    fmt_pct,
    fresh_database,
    header,
    line,
    peak_rss_mb,
    percentiles,
    setup_org,
    uvicorn_server,
)
from sqlalchemy import text

from hoop.adapters.db.tables import balances, moves
from hoop.service import queries

SCALE = 10_000  # Scaled columns hold 10^-4 units


MOVE_COLS = (
    "org_id", "document_id", "line_no", "variant_id", "from_location_id", "to_location_id",
    "qty", "lot", "serial", "unit_cost", "value", "reversal", "effective_at", "recorded_at",
    "user_id",
)  # fmt: skip
BALANCE_COLS = ("variant_id", "location_id", "lot", "org_id", "on_hand", "reserved")


def _check_columns(table: Any, cols: tuple[str, ...]) -> None:
    missing = [
        c.name
        for c in table.columns
        if c.name not in cols and not c.nullable and not c.primary_key and c.server_default is None
    ]
    if missing:
        raise SystemExit(f"{table.name} has NOT NULL columns this loader does not fill: {missing}")


def generate(org: Org, n_moves: int, on_hand: dict[tuple[int, int], int]) -> Iterator[tuple]:
    """Receipts from the supplier into each location: move i is variant i % V at location
    (i // V) % L, qty 1..7, one second apart. Streams rows in MOVE_COLS order and adds each
    move's qty to on_hand[(variant, location)]."""
    ids = [v for v, _ in org.variants]
    locs = org.locations
    supplier = org.virtual["supplier"]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    nv, nl = len(ids), len(locs)
    for i in range(n_moves):
        v, loc = ids[i % nv], locs[(i // nv) % nl]
        qty = (1 + i % 7) * SCALE
        at = base + timedelta(seconds=i)
        on_hand[(v, loc)] = on_hand.get((v, loc), 0) + qty
        yield (
            org.org_id, None, 1, v, supplier, loc, qty, "", None, 25_000,
            qty * 25_000 // SCALE, False, at, at, None,
        )  # fmt: skip


def load(org: Org, kind: str, n_moves: int) -> None:
    _check_columns(moves, MOVE_COLS)
    _check_columns(balances, BALANCE_COLS)
    on_hand: dict[tuple[int, int], int] = {}
    rows = generate(org, n_moves, on_hand)

    def balance_rows() -> list[tuple]:
        return [(v, loc, "", org.org_id, q, 0) for (v, loc), q in sorted(on_hand.items())]

    raw = org.engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        if kind == "postgres":
            with dbapi.cursor() as cur:
                with cur.copy(f"COPY moves ({', '.join(MOVE_COLS)}) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
                bal = balance_rows()
                with cur.copy(f"COPY balances ({', '.join(BALANCE_COLS)}) FROM STDIN") as cp:
                    for b in bal:
                        cp.write_row(b)
            dbapi.commit()
            with dbapi.cursor() as cur:
                cur.execute("ANALYZE moves")
                cur.execute("ANALYZE balances")
            dbapi.commit()
        else:

            def sqlite_row(r: tuple) -> tuple:  # SQLAlchemy's SQLite DATETIME text, naive UTC
                return (*r[:11], int(r[11]), r[12].strftime("%Y-%m-%d %H:%M:%S.%f"),
                        r[13].strftime("%Y-%m-%d %H:%M:%S.%f"), r[14])  # fmt: skip

            cur = dbapi.cursor()
            cur.execute("BEGIN IMMEDIATE")
            sql = f"INSERT INTO moves ({', '.join(MOVE_COLS)}) VALUES ({', '.join('?' * 15)})"
            cur.executemany(sql, (sqlite_row(r) for r in rows))
            bal = balance_rows()
            sql = f"INSERT INTO balances ({', '.join(BALANCE_COLS)}) VALUES (?, ?, ?, ?, ?, ?)"
            cur.executemany(sql, bal)
            cur.execute("COMMIT")
            cur.execute("ANALYZE")
            cur.close()
    finally:
        raw.close()
    line("balance rows", f"{len(bal):,}")


def _server_ms(header_value: str) -> float:
    for part in header_value.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if name == "app" and dur:
            return float(dur)
    return float("nan")


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--moves", type=int, default=1_000_000)
    p.add_argument("--variants", type=int, default=10_000)
    p.add_argument("--locations", type=int, default=20)
    p.add_argument("--calls", type=int, default=2000, help="timed calls per kind")
    p.add_argument("--workers", type=int, default=1, help="uvicorn workers (client is serial)")
    a = p.parse_args()
    if a.quick:
        a.moves, a.variants, a.calls = 20_000, 1000, 200
    header(
        "bench_availability: availability with a big ledger",
        a.db,
        **{k: v for k, v in vars(a).items() if k != "db"},
    )
    with fresh_database(a.db) as db:
        t = time.perf_counter()
        org = setup_org(db, n_locations=a.locations, n_variants=a.variants)
        line("setup (org, locations, variants)", f"{time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        load(org, a.db, a.moves)
        dt = time.perf_counter() - t
        line(f"bulk load of {a.moves:,} moves + balances", f"{dt:.1f} s ({a.moves / dt:,.0f}/s)")
        with org.engine.connect() as c:
            n = c.execute(text("SELECT count(*) FROM moves")).scalar_one()
        line("moves in the ledger", f"{n:,}")
        rnd = random.Random(7)
        skus = [rnd.choice(org.variants)[1] for _ in range(a.calls)]
        for sku in skus[:50]:  # warm-up
            org.uow.read(lambda c, sku=sku: queries.availability(c, org.actor, sku=sku))
        lat = []
        for sku in skus:
            t = time.perf_counter()
            out = org.uow.read(lambda c, sku=sku: queries.availability(c, org.actor, sku=sku))
            lat.append(time.perf_counter() - t)
        line("service: queries.availability(sku)", fmt_pct(percentiles(lat)))
        line("  (last answer: locations, on_hand)", f"{len(out['locations'])}, {out['on_hand']}")
        org.engine.dispose()

        import httpx

        with uvicorn_server(db, workers=a.workers, pool_size=5, app="timed_asgi:app") as srv:
            hdrs = {"Authorization": f"Bearer {org.token}"}
            with httpx.Client(base_url=srv.base, headers=hdrs, timeout=30.0) as client:
                wh = org.locations[0]
                for label, extra in (("", {}), (" + location_id subtree", {"location_id": wh})):
                    for sku in skus[:50]:
                        client.get("/api/v1/stock/availability", params={"sku": sku, **extra})
                    lat, in_app, bad = [], [], 0
                    cpu0 = srv.cpu()
                    for sku in skus:
                        t = time.perf_counter()
                        r = client.get("/api/v1/stock/availability", params={"sku": sku, **extra})
                        lat.append(time.perf_counter() - t)
                        in_app.append(_server_ms(r.headers.get("server-timing", "")) / 1000)
                        bad += r.status_code != 200
                    cpu = (srv.cpu() - cpu0) / len(skus)
                    line(f"HTTP GET availability?sku{label}", fmt_pct(percentiles(lat)))
                    line("  of which inside the ASGI app (server)", fmt_pct(percentiles(in_app)))
                    line("  server CPU per request (uvicorn)", f"{cpu * 1000:.2f} ms")
                    if bad:
                        line("  non-200 responses", f"{bad} e.g. {r.status_code} {r.text[:200]}")
        line("peak RSS (this process)", f"{peak_rss_mb():.0f} MiB")


if __name__ == "__main__":
    main()

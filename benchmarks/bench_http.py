"""HTTP posting: a real uvicorn server (`uvicorn hoop.entrypoints.asgi:app --workers N`) on
127.0.0.1, and --clients concurrent client processes posting one-line receipts and shipments
(alternating, random variant and location, qty 1) for --seconds after a --warmup.

Prints documents/s (2xx responses inside the measured window), latency p50/p95/p99, response
codes, and the CPU seconds spent by the server processes and by the clients (both share this
machine's cores, so the client's share is capacity the server did not get).

Only loopback traffic; the run is bounded by --warmup + --seconds (+ a 30 s request timeout).

Usage: python benchmarks/bench_http.py --db postgres [--quick] [--seconds 20] [--workers 2]
"""

from __future__ import annotations

import multiprocessing as mp
import random
import time
from collections import Counter
from typing import Any

from common import (
    PgBackendCpu,
    autoanalyze,
    base_parser,
    fmt_pct,
    fresh_database,
    header,
    line,
    load_average,
    percentiles,
    setup_org,
    uvicorn_server,
)

from hoop.service import stock


def _body(rnd: random.Random, i: int, variants: list[int], locations: list[int]) -> dict:
    v, loc = rnd.choice(variants), rnd.choice(locations)
    if i % 2 == 0:
        return {
            "type": "receipt",
            "to_location_id": loc,
            "lines": [{"variant_id": v, "qty": "1", "unit_cost": "2.5"}],
        }
    return {"type": "shipment", "from_location_id": loc, "lines": [{"variant_id": v, "qty": "1"}]}


def client_loop(
    base: str,
    token: str,
    variants: list[int],
    locations: list[int],
    start_at: float,
    warmup: float,
    seconds: float,
    seed: int,
    client_kind: str,
    out: Any,
) -> None:
    rnd = random.Random(seed)
    lat: list[float] = []
    codes: Counter[int] = Counter()
    sample_error = ""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    measure_from, stop_at = start_at + warmup, start_at + warmup + seconds
    while time.time() < start_at:
        time.sleep(0.001)
    if client_kind in ("httpx", "healthz"):  # healthz: the stack ceiling, see --client
        import httpx

        with httpx.Client(base_url=base, headers=headers, timeout=30.0) as c:
            i = 0
            while (now := time.time()) < stop_at:
                t = time.perf_counter()
                if client_kind == "healthz":
                    r = c.get("/healthz")
                else:
                    r = c.post("/api/v1/stock-documents", json=_body(rnd, i, variants, locations))
                dt = time.perf_counter() - t
                if now >= measure_from:
                    lat.append(dt)
                    codes[r.status_code] += 1
                    if r.status_code >= 300 and not sample_error:
                        sample_error = r.text[:300]
                i += 1
    else:  # http.client: a lighter client, for comparison
        import http.client
        import json
        from urllib.parse import urlsplit

        u = urlsplit(base)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        i = 0
        while (now := time.time()) < stop_at:
            payload = json.dumps(_body(rnd, i, variants, locations))
            t = time.perf_counter()
            conn.request("POST", "/api/v1/stock-documents", body=payload, headers=headers)
            resp = conn.getresponse()
            text = resp.read()
            dt = time.perf_counter() - t
            if now >= measure_from:
                lat.append(dt)
                codes[resp.status] += 1
                if resp.status >= 300 and not sample_error:
                    sample_error = text[:300].decode(errors="replace")
            i += 1
        conn.close()
    out.put((lat, dict(codes), time.process_time(), sample_error))


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="measured window")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--pool-size", type=int, default=10, help="HOOP_POOL_SIZE per worker")
    p.add_argument("--variants", type=int, default=1000)
    p.add_argument("--locations", type=int, default=4)
    p.add_argument(
        "--client",
        choices=("httpx", "http.client", "healthz"),
        default="httpx",
        help="healthz: GET /healthz with httpx instead, the HTTP stack's ceiling on this machine",
    )
    a = p.parse_args()
    if a.quick:
        a.seconds, a.warmup, a.variants = 3.0, 1.0, 200
    header(
        "bench_http: one-line documents over HTTP",
        a.db,
        **{k: v for k, v in vars(a).items() if k != "db"},
    )
    with fresh_database(a.db) as db, autoanalyze(db) as stats_note:
        line("planner statistics", stats_note)
        org = setup_org(db, n_locations=a.locations, n_variants=a.variants)
        ids = [v for v, _ in org.variants]
        for loc in org.locations:  # stock so shipments never run short
            org.uow.write(
                lambda c, loc=loc: stock.create_document(
                    c,
                    org.actor,
                    {
                        "type": "receipt",
                        "to_location_id": loc,
                        "lines": [{"variant_id": v, "qty": "1000000"} for v in ids],
                    },
                )
            )
        org.engine.dispose()  # the server has its own engines; fork the clients clean
        with uvicorn_server(db, workers=a.workers, pool_size=a.pool_size) as srv:
            ctx = mp.get_context("fork")
            q = ctx.Queue()
            start_at = time.time() + 0.5
            procs = [
                ctx.Process(
                    target=client_loop,
                    args=(
                        srv.base,
                        org.token,
                        ids,
                        org.locations,
                        start_at,
                        a.warmup,
                        a.seconds,
                        1000 + n,
                        a.client,
                        q,
                    ),
                )
                for n in range(a.clients)
            ]
            for pr in procs:
                pr.start()
            pg = PgBackendCpu(db)
            time.sleep(max(0.0, start_at + a.warmup - time.time()))
            cpu0, pg0, load0 = srv.cpu(), pg.read(), time.time()
            time.sleep(max(0.0, start_at + a.warmup + a.seconds - time.time()))
            server_cpu, pg1 = srv.cpu() - cpu0, pg.read()
            window = time.time() - load0
            results = [q.get(timeout=a.warmup + a.seconds + 120) for _ in procs]
            pg.close()
            for pr in procs:
                pr.join(timeout=10)
        lat: list[float] = []
        codes: Counter[int] = Counter()
        client_cpu = 0.0
        errors = [e for *_x, e in results if e]
        for lt, cd, cpu, _e in results:
            lat.extend(lt)
            codes.update(cd)
            client_cpu += cpu
        ok = sum(n for c, n in codes.items() if 200 <= c < 300)
        print("Results (measured window only):")
        line(
            f"{'requests' if a.client == 'healthz' else 'documents'}/s "
            f"({a.clients} clients, {a.workers} workers)",
            f"{ok / a.seconds:,.0f} docs/s  ({ok} ok in {a.seconds:.0f} s)",
        )
        line("latency per request", fmt_pct(percentiles(lat)))
        line("response codes", ", ".join(f"{c}: {n}" for c, n in sorted(codes.items())))
        if errors:
            line("sample error body", errors[0])
        line(
            "server CPU (all uvicorn processes)",
            f"{server_cpu:.1f} s over {window:.1f} s = {server_cpu / window:.2f} cores; "
            f"{server_cpu / max(ok, 1) * 1000:.2f} ms CPU per document",
        )
        if pg0 is not None and pg1 is not None:
            line(
                "PostgreSQL backend CPU",
                f"{pg1 - pg0:.1f} s = {(pg1 - pg0) / window:.2f} cores; "
                f"{(pg1 - pg0) / max(ok, 1) * 1000:.2f} ms CPU per document",
            )
        line(
            "client CPU (all client processes, incl. warm-up)",
            f"{client_cpu:.1f} s = {client_cpu / (a.seconds + a.warmup):.2f} cores",
        )
        line("loadavg at end", load_average())


if __name__ == "__main__":
    main()

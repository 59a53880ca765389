"""Posting through the service layer (stock.create_document → _submit → _post), no HTTP.

Prints:
  1. throughput of documents of --lines lines (receipts, then shipments of the same stock):
     move lines/s, documents/s, per-document latency p50/p95/p99;
  2. latency of one --big-lines receipt (and shipment), repeated --big-repeats times, plus the
     peak Python allocation of one such post (tracemalloc, a separate untimed run);
  3. SQL statements per document post for each size in --count-sizes, counted with a
     `before_cursor_execute` listener (one event per DBAPI execute/executemany), with the number
     of parameter sets an executemany carried (the server still runs one INSERT per set);
  4. peak RSS of the process.

Usage: python benchmarks/bench_posting.py --db postgres [--quick] [--docs N] [--profile]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import threading
import time
import tracemalloc
from typing import Any

from common import (
    Org,
    PgBackendCpu,
    StatementCounter,
    autoanalyze,
    base_parser,
    fmt_pct,
    fresh_database,
    header,
    line,
    load_average,
    peak_rss_mb,
    percentiles,
    setup_org,
    summarize,
)

from hoop.service import stock


def doc(kind: str, loc: int, variants: list[int], qty: str, cost: str | None = "2.5") -> dict:
    lines: list[dict[str, Any]] = []
    for v in variants:
        ln: dict[str, Any] = {"variant_id": v, "qty": qty}
        if cost is not None and kind == "receipt":
            ln["unit_cost"] = cost
        lines.append(ln)
    if kind == "receipt":
        return {"type": "receipt", "to_location_id": loc, "lines": lines}
    return {"type": "shipment", "from_location_id": loc, "lines": lines}


def post(org: Org, data: dict) -> dict:
    return org.uow.write(lambda c: stock.create_document(c, org.actor, data))


def plan_docs(org: Org, n_docs: int, n_lines: int) -> list[tuple[int, list[int]]]:
    """Deterministic (location, variants) per document: consecutive blocks of the catalog,
    round-robin over the locations, so receipts and shipments touch the same balances."""
    ids = [v for v, _ in org.variants]
    out = []
    for i in range(n_docs):
        start = (i * n_lines) % len(ids)
        block = (ids + ids)[start : start + n_lines]
        out.append((org.locations[i % len(org.locations)], block))
    return out


def post_batch(org: Org, batch: list[dict]) -> list[dict]:
    """Several documents in one transaction (stock.create_documents), when the service has it."""
    return org.uow.write(lambda c: stock.create_documents(c, org.actor, batch))


def throughput(
    org: Org,
    kind: str,
    plan: list[tuple[int, list[int]]],
    threads: int,
    batch: int = 1,
    pg: PgBackendCpu | None = None,
) -> None:
    """Post the planned documents, one per transaction (batch=1, stock.create_document) or
    `batch` per transaction (stock.create_documents), from `threads` threads."""
    qty = "100" if kind == "receipt" else "1"
    payloads = [doc(kind, loc, vs, qty) for loc, vs in plan]
    units = [payloads[i : i + batch] for i in range(0, len(payloads), batch)]
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    it = iter(units)

    def worker() -> None:
        mine: list[float] = []
        while True:
            with lock:
                unit = next(it, None)
            if unit is None:
                break
            t = time.perf_counter()
            try:
                outs = [post(org, unit[0])] if batch == 1 else post_batch(org, unit)
                errors.extend(o["state"] for o in outs if o["state"] != "done")
            except Exception as exc:  # report, don't stop
                errors.append(repr(exc)[:200])
            mine.append(time.perf_counter() - t)
        with lock:
            lat.extend(mine)

    s0 = pg.read() if pg else None
    t0, c0 = time.perf_counter(), time.process_time()
    if threads == 1:
        worker()  # in this thread, so --profile sees it
    else:
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    s1 = pg.read() if pg else None
    n_lines = sum(len(p["lines"]) for p in payloads)
    how = "1 doc/txn" if batch == 1 else f"{batch} docs/txn"
    line(
        f"{kind}s: {len(payloads)} docs x {len(payloads[0]['lines'])} lines, {how}",
        f"{n_lines / wall:,.0f} move lines/s   {len(payloads) / wall:,.1f} docs/s   "
        f"({wall:.2f} s, {threads} thread{'s' if threads > 1 else ''})",
    )
    line("  latency per transaction", fmt_pct(percentiles(lat)))
    line(
        "  client CPU (this Python process)",
        f"{cpu:.2f} s = {cpu / wall:.0%} of wall; {cpu / n_lines * 1e6:.0f} us CPU per line"
        f"  (loadavg {load_average()})",
    )
    if s0 is not None and s1 is not None:
        srv = s1 - s0
        line(
            "  PostgreSQL backend CPU",
            f"{srv:.2f} s = {srv / wall:.0%} of wall; {srv / n_lines * 1e6:.0f} us CPU per line",
        )
    if errors:
        line("  ERRORS", f"{len(errors)} e.g. {errors[0]}")


def big_document(org: Org, n_lines: int, repeats: int) -> None:
    ids = [v for v, _ in org.variants][:n_lines]
    loc = org.locations[0]
    rec = doc("receipt", loc, ids, "10")
    shp = doc("shipment", loc, ids, "1")
    post(org, doc("receipt", loc, ids, "1"))  # warm-up (statement caches, balance rows exist)
    for kind, data in (("receipt", rec), ("shipment", shp)):
        samples = []
        for _ in range(repeats):
            t = time.perf_counter()
            post(org, data)
            samples.append(time.perf_counter() - t)
        p = percentiles(samples)
        line(
            f"one {n_lines:,}-line {kind}",
            f"p50={p['p50']:.0f} ms  max={p['max']:.0f} ms  min={min(samples) * 1000:.0f} ms  "
            f"(n={repeats}; {n_lines / (p['p50'] / 1000):,.0f} lines/s)",
        )
    tracemalloc.start()
    post(org, rec)
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    line(f"  peak Python allocation, one {n_lines:,}-line receipt", f"{peak / 2**20:.1f} MiB")


def cost_model(org: Org, sizes: list[int], budget_lines: int) -> None:
    """Wall and CPU time per receipt of each size; a least-squares fit splits them into a fixed
    cost per document and a cost per line. CPU is this process only (on PostgreSQL the server's
    work shows in wall time, not here)."""
    ids = [v for v, _ in org.variants]
    pts = []
    for n in sizes:
        reps = max(3, min(200, budget_lines // n))
        loc = org.locations[0]
        data = doc("receipt", loc, ids[:n], "1")
        post(org, data)
        walls, cpus = [], []
        for _ in range(reps):
            t, c = time.perf_counter(), time.process_time()
            post(org, data)
            walls.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        w, cp = statistics.median(walls), statistics.median(cpus)
        pts.append((n, w, cp))
        line(
            f"receipt of {n:>5,} lines (median of {reps})",
            f"wall {w * 1000:8.2f} ms  cpu {cp * 1000:8.2f} ms  "
            f"= {w / n * 1e6:7.1f} / {cp / n * 1e6:7.1f} us per line",
        )
    xs = [n for n, _, _ in pts]
    for label, k in (("wall", 1), ("cpu", 2)):
        ys = [pt[k] for pt in pts]
        slope, icept = statistics.linear_regression(xs, ys)
        line(
            f"fit ({label})",
            f"{icept * 1000:.2f} ms per document + {slope * 1e6:.1f} us per line "
            f"(=> 100-line docs: {100 / (icept + 100 * slope):,.0f} lines/s on one thread)",
        )


def statement_counts(org: Org, sizes: list[int]) -> None:
    ids = [v for v, _ in org.variants]
    loc = org.locations[-1]
    with StatementCounter(org.engine) as sc:
        for n in sizes:
            vs = ids[:n]
            post(org, doc("receipt", loc, vs, "5"))  # warm the compiled cache for this shape
            for kind, qty in (("receipt", "5"), ("shipment", "1")):
                with sc.counting() as ev:
                    t = time.perf_counter()
                    post(org, doc(kind, loc, vs, qty))
                    total = time.perf_counter() - t
                execs = sum(e[2] for e in ev)
                in_sql = sum(e[3] for e in ev)
                line(
                    f"{kind:<8} {n:>6,} lines",
                    f"{len(ev):>3} statements   {execs:>6,} executions incl. executemany rows"
                    f"   {in_sql * 1000:7.1f} of {total * 1000:7.1f} ms in execute",
                )
                print(f"      {summarize(ev)}")
                if n >= 100:
                    print(f"      time per statement: {summarize(ev, timed=True)}")


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--docs", type=int, default=1000, help="documents per kind (throughput)")
    p.add_argument("--lines", type=int, default=100, help="lines per document (throughput)")
    p.add_argument("--threads", type=int, default=1, help="concurrent posting threads")
    p.add_argument(
        "--batch",
        type=int,
        default=20,
        help="also post N documents per transaction via stock.create_documents (0: skip)",
    )
    p.add_argument("--variants", type=int, default=10_000)
    p.add_argument("--locations", type=int, default=4)
    p.add_argument("--big-lines", type=int, default=5000)
    p.add_argument("--big-repeats", type=int, default=10)
    p.add_argument("--count-sizes", default="1,100,5000,10000")
    p.add_argument("--profile", action="store_true", help="cProfile the receipt throughput run")
    a = p.parse_args()
    if a.quick:
        a.docs, a.variants, a.big_lines, a.big_repeats = 20, 2000, 1000, 2
        a.count_sizes = "1,100,1000"
    sizes = [int(s) for s in a.count_sizes.split(",")]
    a.variants = max(a.variants, a.lines, a.big_lines, *sizes)
    header(
        "bench_posting: service-layer posting",
        a.db,
        **{k: v for k, v in vars(a).items() if k != "db"},
    )
    with fresh_database(a.db) as db, autoanalyze(db) as stats_note:
        line("planner statistics", stats_note)
        t = time.perf_counter()
        org = setup_org(db, n_locations=a.locations, n_variants=a.variants)
        line("setup (org, locations, variants)", f"{time.perf_counter() - t:.1f} s")
        plan = plan_docs(org, a.docs, a.lines)
        post(org, doc("receipt", org.locations[0], plan[0][1], "1"))  # warm-up
        print("Throughput (service layer, sequential unless --threads):")
        if a.profile:
            prof = cProfile.Profile()
            prof.enable()
        pg = PgBackendCpu(db)
        throughput(org, "receipt", plan, a.threads, pg=pg)
        if a.profile:
            prof.disable()
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(30)
            print(s.getvalue())
        throughput(org, "shipment", plan, a.threads, pg=pg)
        if a.batch > 1 and hasattr(stock, "create_documents"):
            throughput(org, "receipt", plan, a.threads, a.batch, pg=pg)
            throughput(org, "shipment", plan, a.threads, a.batch, pg=pg)
        elif a.batch > 1:
            line("batched posting", "skipped: the service has no stock.create_documents")
        pg.close()
        print("Large document latency:")
        big_document(org, a.big_lines, a.big_repeats)
        print("Cost model (fixed per document + per line):")
        cost_model(org, [1, 10, 100, 1000], 2000 if a.quick else 20_000)
        print("SQL statements per document post (constant in the line count?):")
        statement_counts(org, sizes)
        line("peak RSS (this process)", f"{peak_rss_mb():.0f} MiB")
        org.engine.dispose()


if __name__ == "__main__":
    main()

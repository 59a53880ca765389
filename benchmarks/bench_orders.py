"""Orders (issue #4): placing orders over HTTP, a race for a few units, and the expiry job.

Prints:
  0. one order in this process without HTTP, as POST /orders places it: statementwise (no
     Idempotency-Key) and in a transaction (with one), for a spread SKU (confirmed), the hot
     SKU (confirmed) and an SKU without stock (pending_seller): wall and CPU per order; one
     `lapse_due` batch of 500 with its SQL statements and their time;
  1. orders/s over HTTP: a real uvicorn (--workers 2, HOOP_POOL_SIZE=--pool-size) serving
     `bench_orders:phased_app`, which is `hoop.bootstrap.build_app()` plus a Server-Timing
     header with per-request phases (see phased_app), and --clients client processes (httpx,
     keep-alive) for --seconds after --warmup: (a) spread, each order one random SKU of --skus
     with plenty of stock; (b) hot, every order the same SKU with plenty of stock;
     p50/p95/p99/max, statuses, CPU of uvicorn, of the PostgreSQL backends and of the clients;
  2. the race: --race-clients (200) connections (--race-procs processes of threads, one httpx
     keep-alive connection each, opened before the start) each place one one-unit order for one
     SKU that has --race-units (10) units, all at the same instant; a cold round (fresh pools),
     then --race-rounds measured rounds on fresh SKUs; p50/p99/max latency, a check that
     exactly 10 are confirmed and 190 pending_seller, and the CPU the round took in the server
     and in PostgreSQL (no ANALYZE runs during the race); then --control-rounds of the same burst
     with every client on a different well-stocked SKU (no shared row: the CPU alone), and
     --healthz-rounds of the same burst as `GET /healthz` (the floor: HTTP and clients alone);
  3. the scheduler: --expiring (10,000) pending_seller orders bulk-inserted (orders,
     order_lines and their `place` event) with respond_by in the past, then
     `hoop.scheduler.lapse_deadlines(uow)` timed alone, and again on a fresh set with
     --sched-workers (2) threads in parallel (each its own engine, as separate workers would
     be), with a check that every order got exactly one `expire` event, one notification, one
     outbox row and one webhook delivery per endpoint (--webhooks registers N endpoints for all
     events; they are never called).

Usage: python benchmarks/bench_orders.py --db postgres [--quick] [--parts sql,http,race,scheduler]
       [--seconds 15 --clients 8 --skus 10000 --race-clients 200 --expiring 10000 --webhooks 1
        --profile]
"""

from __future__ import annotations

import contextlib
import contextvars
import cProfile
import io
import multiprocessing as mp
import os
import pstats
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import common
from common import (
    Database,
    Org,
    PgBackendCpu,
    StatementCounter,
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
    uvicorn_server,
)
from sqlalchemy import event, func, insert, select, text

from hoop import scheduler
from hoop.adapters.db.engine import make_engine
from hoop.adapters.db.tables import (
    notifications,
    order_events,
    order_lines,
    orders,
    outbox,
    webhook_deliveries,
    webhook_endpoints,
)
from hoop.service import access, stock
from hoop.service import orders as order_service
from hoop.service.unit_of_work import UnitOfWork

PLENTY = "10000000"


def order_body(sku: str, n: int = 0) -> dict[str, Any]:
    return {"customer": {"name": f"Buyer {n}"}, "lines": [{"sku": sku, "qty": "1"}]}


# ------------------------------------------------------------------ planner statistics


def analyze_schema(engine: Any) -> None:
    """ANALYZE the tables of the bench's own schema only. A bare `ANALYZE` (common.analyze)
    covers every table of the shared database and waits behind any other session's lock on
    any of them: one run here sat 591 s in set-up behind a test's open transaction that held
    `LOCK TABLE outbox IN SHARE ROW EXCLUSIVE MODE` in its own schema."""
    with engine.connect() as c:
        if c.dialect.name != "postgresql":
            c.execute(text("ANALYZE"))
        else:
            names = c.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
            ).scalars()
            c.execute(text("ANALYZE " + ", ".join(f'"{n}"' for n in names)))
        c.commit()


# Set while the race runs: an ANALYZE of the bench schema takes ~0.1 s of CPU, and one that
# fell inside a 200-order burst (every 5 s against rounds 4 s apart) added that to the
# round's tail. The race analyzes once before its first round instead (200 rows a round do
# not move the statistics).
ANALYZE_PAUSED = threading.Event()


@contextlib.contextmanager
def schema_autoanalyze(db: Database, every: float = 5.0) -> Iterator[str]:
    """common.autoanalyze, with the ANALYZE kept to the bench schema (see analyze_schema)."""
    if db.kind != "postgres":
        yield "n/a (SQLite)"
        return
    eng = make_engine(db.url, pool_size=1)
    with eng.connect() as c:
        on = c.execute(text("SHOW autovacuum")).scalar() == "on"
    if on:
        eng.dispose()
        yield "server autovacuum is on"
        return
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            if ANALYZE_PAUSED.is_set():
                continue
            with contextlib.suppress(Exception):
                analyze_schema(eng)

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"server autovacuum is off: ANALYZE of the bench schema's tables every {every:g} s"
    finally:
        stop.set()
        t.join()
        eng.dispose()


# ------------------------------------------------------------------ the server, with phases

_phases: contextvars.ContextVar[dict[str, float] | None] = contextvars.ContextVar(
    "bench_order_phases", default=None
)
_inner: Any = None
PHASES = ("app", "before", "lockwait", "hold", "after", "sql", "stmts")


def is_lock(statement: str) -> bool:
    """The statement that takes the lock every order for the SKU queues on: PostgreSQL's
    conditional reservation (`INSERT INTO balances ... ON CONFLICT ... WHERE` available; since
    the order is written by the same statement, `WITH r AS (UPDATE balances ...` or `(INSERT
    INTO balances ...`), or
    `SELECT balances ... FOR UPDATE` (the code before it, and its fallback); on SQLite the
    writer's `BEGIN IMMEDIATE` (the database)."""
    head = statement.lstrip()[:40]
    return statement.startswith("BEGIN IMMEDIATE") or (
        "balances" in statement
        and (
            "FOR UPDATE" in statement
            or head.startswith("INSERT INTO balances")
            or (head.startswith("WITH r AS") and "balances" in statement[:80])
        )
    )


def _build_phased() -> Any:
    """The Hoop app, with listeners on its engine that note, per request, the SQL time and
    when the `SELECT balances ... FOR UPDATE` started and returned and when the connection
    went back to the pool after it (after COMMIT: the lock is released). The request's context
    (a contextvar holding a dict) reaches the threadpool threads that run its sync code."""
    from hoop.bootstrap import build_app

    app = build_app()
    engine = app.state.uow.engine

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        h = _phases.get()
        if h is not None:
            h["_t"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        h = _phases.get()
        if h is None or "_t" not in h:
            return
        now = time.perf_counter()
        h["sql"] += now - h["_t"]
        h["stmts"] += 1
        if "locked_at" not in h and is_lock(statement):
            h["lock_start"], h["locked_at"] = h["_t"], now

    def checkin(*args: Any) -> None:
        h = _phases.get()
        if h is not None and "locked_at" in h and "released_at" not in h:
            h["released_at"] = time.perf_counter()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine.pool, "checkin", checkin)
    return app


async def phased_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Serve with `uvicorn bench_orders:phased_app`. Adds `Server-Timing` with, in ms: app
    (arrival to response start), before (arrival to the balance lock request: routing, auth,
    threadpool and pool waits, validation), lockwait (the FOR UPDATE statement: waiting for
    the row), hold (lock granted to COMMIT done: everyone else for that SKU waits this long),
    after (commit to response start), sql (time in execute) and stmts (statement count)."""
    global _inner
    if _inner is None:
        _inner = _build_phased()
    if scope["type"] != "http":
        await _inner(scope, receive, send)
        return
    h: dict[str, float] = {"sql": 0.0, "stmts": 0}
    token = _phases.set(h)
    t0 = time.perf_counter()

    async def timed_send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            now = time.perf_counter()
            ms = {"app": now - t0, "sql": h["sql"]}
            if "released_at" in h:
                ms["before"] = h["lock_start"] - t0
                ms["lockwait"] = h["locked_at"] - h["lock_start"]
                ms["hold"] = h["released_at"] - h["locked_at"]
                ms["after"] = now - h["released_at"]
            val = ", ".join(f"{k};dur={v * 1000:.3f}" for k, v in ms.items())
            val += f", stmts;dur={h['stmts']}, pid;dur={os.getpid()}"
            message = {**message, "headers": [*message.get("headers", []),
                                              (b"server-timing", val.encode())]}  # fmt: skip
        await send(message)

    try:
        await _inner(scope, receive, timed_send)
    finally:
        _phases.reset(token)


def parse_timing(header_value: str) -> dict[str, float]:
    out = {}
    for part in header_value.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def phase_report(samples: list[dict[str, float]]) -> None:
    """p50 / p99 of each phase (ms) over the requests that reported it."""
    cells = []
    for k in PHASES:
        vals = [x[k] / 1000 for x in samples if k in x]
        if vals:
            pc = percentiles(vals)
            unit = "" if k == "stmts" else " ms"
            cells.append(f"{k} {pc['p50']:.1f}/{pc['p99']:.1f}{unit}")
    line("server phases p50/p99", "  ".join(cells))


# ------------------------------------------------------------------ set-up


class Catalog:
    """The org and its SKUs: `spread` (plenty each), `hot` (plenty), `race` (--race-units each,
    one per race round), `empty` (no stock: orders become requests)."""

    def __init__(self, org: Org, n_spread: int, n_race: int, race_units: int) -> None:
        skus = [s for _, s in org.variants]
        self.org = org
        self.spread = skus[:n_spread]
        self.hot = skus[n_spread]
        self.race = skus[n_spread + 1 : n_spread + 1 + n_race]
        self.empty = skus[n_spread + 1 + n_race :]
        loc = org.locations[0]
        ids = {s: v for v, s in org.variants}
        lines = [{"variant_id": ids[s], "qty": PLENTY, "unit_cost": "2.5"} for s in self.spread]
        lines.append({"variant_id": ids[self.hot], "qty": PLENTY, "unit_cost": "2.5"})
        lines += [
            {"variant_id": ids[s], "qty": str(race_units), "unit_cost": "2.5"} for s in self.race
        ]
        for k in range(0, len(lines), 5000):  # a document takes at most 10,000 lines
            chunk = lines[k : k + 5000]
            org.uow.write(
                lambda c, chunk=chunk: stock.create_document(
                    c, org.actor, {"type": "receipt", "to_location_id": loc, "lines": chunk}
                )
            )
        analyze_schema(org.engine)


# ------------------------------------------------------------------ 0. in-process cost


def place_in_process(cat: Catalog, n: int, profile: bool) -> None:
    """An order placed in this process, no HTTP, as POST /orders places it: statementwise
    (no Idempotency-Key: on PostgreSQL 2 round trips, the caller with the first read, then
    the order's one statement) and in a transaction (with a key). Wall time and CPU here
    (the PostgreSQL side is in the HTTP part). The hot statements run on the driver
    connection (adapters/db/hot.py), which SQLAlchemy's statement events do not see, so no
    statement counts or lock times here: in the statementwise path a balance row is locked
    only inside the order's one statement."""
    org = cat.org
    rnd = random.Random(7)
    kinds = {
        "spread (confirmed)": lambda i: rnd.choice(cat.spread),
        "hot (confirmed)": lambda i: cat.hot,
        "no stock (pending_seller)": lambda i: cat.empty[i % len(cat.empty)],
    }
    paths: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "statementwise": lambda b: order_service.place_order_statementwise(org.uow, org.token, b),
        "in a transaction": lambda b: org.uow.write(
            lambda c: order_service.place_order(c, access.authenticate(c, org.token), b)
        ),
    }
    for path, place in paths.items():
        for label, pick in kinds.items():
            for i in range(5):  # warm the prepared statements for this shape
                place(order_body(pick(i)))
            walls, cpus = [], []
            statuses: Counter[str] = Counter()
            prof = cProfile.Profile() if profile and label.startswith("spread") else None
            for i in range(n):
                body = order_body(pick(i), i)
                t, c0 = time.perf_counter(), time.process_time()
                if prof:
                    prof.enable()
                out = place(body)
                if prof:
                    prof.disable()
                walls.append(time.perf_counter() - t)
                cpus.append(time.process_time() - c0)
                statuses[out["status"]] += 1
            wall = percentiles(walls)
            line(
                f"{path}: {label}, {n} orders",
                f"p50 {wall['p50']:.2f} ms  p99 {wall['p99']:.2f} ms  "
                f"CPU {sum(cpus) / n * 1000:.2f} ms/order  {dict(statuses)}",
            )
            if prof:
                s = io.StringIO()
                pstats.Stats(prof, stream=s).sort_stats("cumulative").print_stats(25)
                print(s.getvalue())


def lapse_in_process(cat: Catalog, n: int, hooks: int) -> None:
    """One lapse_due batch of n due orders: statements and time."""
    org = cat.org
    ids = make_expiring(org, n)
    before = outbox_count(org)
    with StatementCounter(org.engine) as sc, sc.counting() as ev:
        t = time.perf_counter()
        done = org.uow.write(lambda c: order_service.lapse_due(c, limit=n))
        wall = time.perf_counter() - t
    in_sql = sum(e[3] for e in ev)
    line(
        f"lapse_due, one batch of {n} due orders",
        f"{done} expired in {wall * 1000:.0f} ms ({wall / max(done, 1) * 1e6:.0f} us/order); "
        f"{len(ev)} statements, {in_sql * 1000:.0f} ms in execute",
    )
    print(f"      {summarize(ev, timed=True)}")
    check_expired(org, ids, before, hooks)


# ------------------------------------------------------------------ HTTP clients


class Tally:
    """What one client process saw in the measured window: latencies, response codes, order
    statuses, server phases and the first error body."""

    def __init__(self) -> None:
        self.lat: list[float] = []
        self.codes: Counter[int] = Counter()
        self.statuses: Counter[str] = Counter()
        self.phases: list[dict[str, float]] = []
        self.error = ""

    def add(self, dt: float, code: int, timing: str, body: Any) -> None:
        """`body` is a callable giving the JSON body (only read for a 201) or the text."""
        self.lat.append(dt)
        self.codes[code] += 1
        if timing:
            self.phases.append(parse_timing(timing))
        if code == 201:
            self.statuses[body()["status"]] += 1
        elif not self.error:
            self.error = str(body(text=True))[:300]

    def result(self) -> tuple[Any, ...]:
        return (self.lat, dict(self.codes), dict(self.statuses), self.phases,
                time.process_time(), self.error)  # fmt: skip


def client_loop(
    base: str,
    token: str,
    skus: list[str],
    start_at: float,
    warmup: float,
    seconds: float,
    seed: int,
    out: Any,
) -> None:
    import httpx

    rnd = random.Random(seed)
    tally = Tally()
    headers = {"Authorization": f"Bearer {token}"}
    measure_from, stop_at = start_at + warmup, start_at + warmup + seconds
    with httpx.Client(base_url=base, headers=headers, timeout=60.0) as c:
        c.get("/healthz")  # connect before the start
        while time.time() < start_at:
            time.sleep(0.001)
        i = 0
        while (now := time.time()) < stop_at:
            t = time.perf_counter()
            r = c.post("/api/v1/orders", json=order_body(rnd.choice(skus), i))
            dt = time.perf_counter() - t
            if now >= measure_from:
                tally.add(dt, r.status_code, r.headers.get("server-timing", ""),
                          lambda text=False, r=r: r.text if text else r.json())  # fmt: skip
            i += 1
    out.put(tally.result())


def raw_client_proc(
    base: str,
    token: str,
    skus: list[str],
    start_at: float,
    warmup: float,
    seconds: float,
    seed: int,
    conns: int,
    out: Any,
) -> None:
    """`conns` closed-loop clients on one asyncio loop (rawhttp: tens of microseconds of CPU
    per request), each on its own keep-alive connection; otherwise as client_loop."""
    import asyncio

    import rawhttp

    tally = Tally()
    measure_from, stop_at = start_at + warmup, start_at + warmup + seconds

    async def one(k: int) -> None:
        rnd = random.Random(seed * 1000 + k)
        c = await rawhttp.Connection(base).open()
        await c.request(rawhttp.encode("GET", "/healthz", c.hostport))
        await rawhttp.sleep_until(start_at)
        i = 0
        while (now := time.time()) < stop_at:
            req = rawhttp.encode("POST", "/api/v1/orders", c.hostport, token,
                                 order_body(rnd.choice(skus), i))  # fmt: skip
            r, dt = await c.request(req)
            if now >= measure_from:
                tally.add(dt, r.status, r.headers.get("server-timing", ""),
                          lambda text=False, r=r: r.body.decode(errors="replace") if text
                          else r.json())  # fmt: skip
            i += 1
        c.close()

    async def main() -> None:
        await asyncio.gather(*(one(k) for k in range(conns)))

    asyncio.run(main())
    out.put(tally.result())


def throughput(
    db: Database, srv: Any, cat: Catalog, label: str, skus: list[str], a: Any
) -> dict[str, float]:
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    start_at = time.time() + 1.0
    if a.client == "raw":
        per = [a.clients // a.client_procs + (i < a.clients % a.client_procs)
               for i in range(a.client_procs)]  # fmt: skip
        procs = [
            ctx.Process(
                target=raw_client_proc,
                args=(srv.base, cat.org.token, skus, start_at, a.warmup, a.seconds, 100 + n, m, q),
            )  # fmt: skip
            for n, m in enumerate(per)
            if m
        ]
    else:
        procs = [
            ctx.Process(
                target=client_loop,
                args=(srv.base, cat.org.token, skus, start_at, a.warmup, a.seconds, 100 + n, q),
            )
            for n in range(a.clients)
        ]
    for pr in procs:
        pr.start()
    pg = PgBackendCpu(db)
    time.sleep(max(0.0, start_at + a.warmup - time.time()))
    cpu0, pg0, t0 = srv.cpu(), pg.read(), time.time()
    time.sleep(max(0.0, start_at + a.warmup + a.seconds - time.time()))
    server_cpu, pg1 = srv.cpu() - cpu0, pg.read()
    window = time.time() - t0
    results = [q.get(timeout=a.warmup + a.seconds + 120) for _ in procs]
    pg.close()
    for pr in procs:
        pr.join(timeout=10)
    lat: list[float] = []
    codes: Counter[int] = Counter()
    statuses: Counter[str] = Counter()
    phases: list[dict[str, float]] = []
    client_cpu = 0.0
    errors = [r[5] for r in results if r[5]]
    for lt, cd, st, ph, cpu, _e in results:
        lat.extend(lt)
        codes.update(cd)
        statuses.update(st)
        phases.extend(ph)
        client_cpu += cpu
    ok = codes.get(201, 0)
    pct = percentiles(lat)
    print(f"{label}:")
    line(
        f"orders/s ({a.clients} clients ({a.client}), {a.workers} workers)",
        f"{ok / a.seconds:,.0f} orders/s  ({ok} placed in {a.seconds:.0f} s)",
    )
    line("latency per request", fmt_pct(pct))
    phase_report(phases)
    line("response codes / order status", f"{dict(codes)} / {dict(statuses)}")
    if errors:
        line("sample error body", errors[0])
    line(
        "server CPU (all uvicorn processes)",
        f"{server_cpu / window:.2f} cores; {server_cpu / max(ok, 1) * 1000:.2f} ms per order",
    )
    if pg0 is not None and pg1 is not None:
        line(
            "PostgreSQL backend CPU",
            f"{(pg1 - pg0) / window:.2f} cores; {(pg1 - pg0) / max(ok, 1) * 1000:.2f} ms per order",
        )
    line(
        "client CPU (incl. warm-up)",
        f"{client_cpu / (a.seconds + a.warmup):.2f} cores",
    )
    line("loadavg", load_average())
    return {"rate": ok / a.seconds, **pct}


# ------------------------------------------------------------------ 2. the race


def race_proc(
    base: str, token: str, plan: list[list[str | None]], starts: list[float], first: int, out: Any
) -> None:
    """One thread per column of plan, one keep-alive connection each (opened before the first
    start); in round r thread k posts one one-unit order for plan[r][k] at starts[r].
    Reports (round, client, sent after go, latency, code, order status, server phases)."""
    import httpx

    results: list[tuple[int, int, float, float, int, str, dict[str, float]]] = []
    lock = threading.Lock()
    n_threads = len(plan[0])
    ready = threading.Barrier(n_threads + 1)

    def worker(k: int) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=base, headers=headers, timeout=120.0) as c:
            c.get("/healthz")
            ready.wait()
            for r, go in enumerate(starts):
                while (now := time.time()) < go:
                    time.sleep(min(0.0005, go - now))
                sent = time.time() - go
                t = time.perf_counter()
                if plan[r][k] is None:  # the floor: the same burst of GET /healthz
                    resp = c.get("/healthz")
                else:
                    resp = c.post("/api/v1/orders", json=order_body(plan[r][k], first + k))
                dt = time.perf_counter() - t
                if plan[r][k] is None:
                    status = "ok" if resp.status_code == 200 else resp.text
                else:
                    status = resp.json().get("status", "") if resp.status_code == 201 else resp.text
                ph = parse_timing(resp.headers.get("server-timing", ""))
                with lock:
                    results.append((r, first + k, sent, dt, resp.status_code, status[:200], ph))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    ready.wait()
    for t in threads:
        t.join()
    out.put(results)


def raw_race_proc(
    base: str, token: str, plan: list[list[str | None]], starts: list[float], first: int, out: Any
) -> None:
    """race_proc on one asyncio loop with rawhttp: every connection opened before the first
    start; at each start all of this process's requests are written (the writes take
    microseconds each), then the responses are read as they come. Same results as race_proc."""
    import asyncio

    import rawhttp

    results: list[tuple[int, int, float, float, int, str, dict[str, float]]] = []

    async def take(r: int, k: int, sent: float, sent_wall: float) -> None:
        resp = await conns[k].receive()
        dt = time.perf_counter() - sent
        if resp.status == 201:
            status = resp.json().get("status", "")
        elif plan[r][k] is None and resp.status == 200:
            status = "ok"
        else:
            status = resp.body.decode(errors="replace")
        ph = parse_timing(resp.headers.get("server-timing", ""))
        results.append((r, first + k, sent_wall, dt, resp.status, status[:200], ph))

    conns: list[Any] = []

    async def main() -> None:
        conns.extend([await rawhttp.Connection(base).open() for _ in plan[0]])
        for c in conns:
            await c.request(rawhttp.encode("GET", "/healthz", c.hostport))
        for r, go in enumerate(starts):
            reqs = [
                rawhttp.encode("GET", "/healthz", c.hostport)
                if plan[r][k] is None
                else rawhttp.encode(
                    "POST", "/api/v1/orders", c.hostport, token, order_body(plan[r][k], first + k)
                )  # fmt: skip
                for k, c in enumerate(conns)
            ]
            await rawhttp.sleep_until(go)
            sent: list[float] = []
            for c, req in zip(conns, reqs, strict=True):
                sent.append(time.perf_counter())
                c.send(req)
            sent_wall = time.time() - go

            await asyncio.gather(*(take(r, k, sent[k], sent_wall) for k in range(len(conns))))
        for c in conns:
            c.close()

    asyncio.run(main())
    out.put(results)


def round_cpu(
    db: Database, srv: Any, starts: list[float], span: float
) -> dict[int, tuple[float, float | None]]:
    """CPU seconds of the server processes and of the PostgreSQL backends in each round:
    read just before its start and `span` seconds after (the round is over by then; the
    next starts later), in a thread, filled in as the rounds pass. The same burst takes
    different CPU from round to round on a shared machine: this shows how much."""
    out: dict[int, tuple[float, float | None]] = {}

    def watch() -> None:
        pg = PgBackendCpu(db)
        try:
            for r, go in enumerate(starts):
                time.sleep(max(0.0, go - 0.05 - time.time()))
                s0, p0 = srv.cpu(), pg.read()
                time.sleep(max(0.0, go + span - time.time()))
                s1, p1 = srv.cpu(), pg.read()
                out[r] = (s1 - s0, None if p0 is None or p1 is None else p1 - p0)
        finally:
            pg.close()

    threading.Thread(target=watch, daemon=True).start()
    return out


def race(db: Database, srv: Any, cat: Catalog, a: Any) -> None:
    """The race rounds (all clients, one SKU with --race-units units; the first round is
    cold), then --control-rounds in which every client orders a different, well-stocked SKU:
    the same burst of 200 orders without a shared row, i.e. what this machine's CPU alone
    allows."""
    n = a.race_clients
    rnd = random.Random(11)
    plan: list[list[str | None]] = [[sku] * n for sku in cat.race]
    plan += [list(rnd.sample(cat.spread, n)) for _ in range(a.control_rounds)]
    plan += [[None] * n for _ in range(a.healthz_rounds)]
    kinds = (["race"] * len(cat.race) + ["control"] * a.control_rounds
             + ["healthz"] * a.healthz_rounds)  # fmt: skip
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    per = [n // a.race_procs + (i < n % a.race_procs) for i in range(a.race_procs)]
    first = time.time() + 2.0 + n * 0.01  # time to open the connections
    starts = [first + r * a.race_gap for r in range(len(plan))]
    procs, k0 = [], 0
    for m in per:
        cols = [row[k0 : k0 + m] for row in plan]
        target = raw_race_proc if a.client == "raw" else race_proc
        procs.append(
            ctx.Process(target=target, args=(srv.base, cat.org.token, cols, starts, k0, q))
        )
        k0 += m
    for pr in procs:
        pr.start()
    span = min(a.race_gap - 0.5, 2.0)
    cpu = round_cpu(db, srv, starts, span)
    results = [r for _ in procs for r in q.get(timeout=len(plan) * a.race_gap + 300)]
    for pr in procs:
        pr.join(timeout=10)
    time.sleep(max(0.0, starts[-1] + span + 0.3 - time.time()))  # the last round's CPU
    for r, kind in enumerate(kinds):
        rows = [x for x in results if x[0] == r]
        done = [x[2] + x[3] for x in rows]  # from the common start to the response
        codes = Counter(x[4] for x in rows)
        statuses = Counter(x[5] for x in rows if x[4] in (200, 201))
        pct = percentiles([x[3] for x in rows])
        if kind == "race":
            want = {"confirmed": a.race_units, "pending_seller": len(rows) - a.race_units}
            label = f"{'cold round' if r == 0 else f'round {r}'}: {n} orders, {a.race_units} units"
        elif kind == "control":
            want = {"confirmed": len(rows)}
            label = f"control {r - len(cat.race) + 1}: {n} orders, {n} SKUs"
        else:
            want = {"ok": len(rows)}
            label = f"floor {r - len(cat.race) - a.control_rounds + 1}: {n} x GET /healthz"
        line(
            label,
            f"p50 {pct['p50']:.0f} ms  p99 {pct['p99']:.0f} ms  max {pct['max']:.0f} ms  "
            f"(last response {max(done) * 1000:.0f} ms after go; last request sent "
            f"{max(x[2] for x in rows) * 1000:.0f} ms after go)",
        )
        line(
            "  statuses",
            f"{dict(statuses)} codes {dict(codes)}  {'OK' if statuses == want else 'MISMATCH'}",
        )
        phase_report([x[6] for x in rows])
        if r in cpu:
            server, pg = cpu[r]
            line(
                "  CPU of the round",
                f"server {server * 1000:.0f} ms ({server / len(rows) * 1000:.2f} ms a request), "
                + ("" if pg is None else
                   f"PostgreSQL {pg * 1000:.0f} ms ({pg / len(rows) * 1000:.2f} ms a request)"),
            )  # fmt: skip
        by_pid: dict[float, list[float]] = {}
        for x in rows:
            by_pid.setdefault(x[6].get("pid", 0.0), []).append(x[3])
        line(
            "  per uvicorn worker (connections are pinned)",
            "  ".join(
                f"{len(v)} requests p50 {percentiles(v)['p50']:.0f} ms p99 "
                f"{percentiles(v)['p99']:.0f} ms"
                for v in by_pid.values()
            ),
        )
        bad = [x[5] for x in rows if x[4] not in (200, 201)]
        if bad:
            line("  sample error", bad[0])
    n_race, n_ctl = len(cat.race), a.control_rounds
    for kind, rounds in (("race", range(1, n_race)),
                         ("control", range(n_race, n_race + n_ctl)),
                         ("healthz", range(n_race + n_ctl, len(plan)))):  # fmt: skip
        lat = [x[3] for x in results if x[0] in rounds]
        if lat:
            line(f"{kind}: measured rounds pooled", fmt_pct(percentiles(lat)))


# ------------------------------------------------------------------ 3. the scheduler


def make_expiring(org: Org, n: int, chunk: int = 5000) -> list[int]:
    """n pending_seller orders (one line each, with their `place` event) whose respond_by has
    passed, inserted straight into the tables."""
    now = datetime.now(UTC)
    uid = org.actor.user_id
    variant = org.variants[-1][0]
    ids: list[int] = []
    tag = uuid.uuid4().hex[:6]
    for s in range(0, n, chunk):
        k = min(chunk, n - s)

        def load(c: Any, s: int = s, k: int = k) -> list[int]:
            rows = [
                {"org_id": org.org_id, "status": "pending_seller", "channel_id": None,
                 "customer": {"name": f"Buyer {tag}-{s + i}"}, "placed_by_user": uid,
                 "placed_by_api_key": None,
                 "respond_by": now - timedelta(hours=1) + timedelta(microseconds=s + i),
                 "created_at": now - timedelta(hours=2), "updated_at": now - timedelta(hours=2)}
                for i in range(k)
            ]  # fmt: skip
            got = list(
                c.execute(
                    insert(orders).returning(orders.c.id, sort_by_parameter_order=True), rows
                ).scalars()
            )
            c.execute(
                insert(order_lines),
                [{"org_id": org.org_id, "order_id": o, "line_no": 1, "variant_id": variant,
                  "qty": 1, "unit_price": None} for o in got],
            )  # fmt: skip
            c.execute(
                insert(order_events),
                [{"org_id": org.org_id, "order_id": o, "at": now - timedelta(hours=2),
                  "actor_type": "user", "actor_id": uid, "action": "place", "from_status": None,
                  "to_status": "pending_seller", "note": None} for o in got],
            )  # fmt: skip
            return got

        ids.extend(org.uow.write(load))
    analyze_schema(org.engine)
    return ids


def outbox_count(org: Org, event_name: str = "order.expired") -> tuple[int, int]:
    """(outbox rows of this event, webhook deliveries of the org), to compare before/after."""

    def q(c: Any) -> tuple[int, int]:
        boxed = c.execute(
            select(func.count()).select_from(outbox).where(outbox.c.event == event_name)
        ).scalar_one()
        owed = c.execute(
            select(func.count())
            .select_from(webhook_deliveries)
            .where(webhook_deliveries.c.org_id == org.org_id)
        ).scalar_one()
        return boxed, owed

    return org.uow.read(q)


def add_webhooks(org: Org, n: int) -> None:
    """n active endpoints subscribed to every event (never called: no scheduler runs here), so
    every event also writes n pending deliveries, as for an org that uses webhooks."""
    if n:
        org.uow.write(
            lambda c: c.execute(
                insert(webhook_endpoints),
                [{"org_id": org.org_id, "url": f"http://127.0.0.1:9/hook/{i}", "events": ["*"],
                  "secret": uuid.uuid4().hex, "active": True, "created_at": datetime.now(UTC)}
                 for i in range(n)],
            )
        )  # fmt: skip


def check_expired(org: Org, ids: list[int], before: tuple[int, int], hooks: int) -> bool:
    """Every order expired, with exactly one `expire` event and one buyer notification, one
    outbox row per order and `hooks` webhook deliveries per order (the growth since
    `before`, from outbox_count)."""
    lo, hi = min(ids), max(ids)

    def q(c: Any) -> tuple[Any, ...]:
        per_order = (
            select(order_events.c.order_id, func.count().label("n"))
            .where(order_events.c.order_id.between(lo, hi), order_events.c.action == "expire")
            .group_by(order_events.c.order_id)
            .subquery()
        )
        dist = dict(c.execute(select(per_order.c.n, func.count()).group_by(per_order.c.n)).all())
        left = c.execute(
            select(func.count())
            .select_from(orders)
            .where(orders.c.id.between(lo, hi), orders.c.status != "expired")
        ).scalar_one()
        notes = c.execute(
            select(func.count())
            .select_from(notifications)
            .where(
                notifications.c.order_id.between(lo, hi),
                notifications.c.event == "order.expired",
            )
        ).scalar_one()
        return dist, left, notes

    dist, left, notes = org.uow.read(q)
    after = outbox_count(org)
    boxed, owed = after[0] - before[0], after[1] - before[1]
    ok = (dist == {1: len(ids)} and left == 0 and notes == len(ids) and boxed == len(ids)
          and owed == hooks * len(ids))  # fmt: skip
    line(
        "  check",
        f"orders by number of expire events {dict(sorted(dist.items()))}, not expired {left}, "
        f"notifications {notes}, outbox rows {boxed}, webhook deliveries {owed}: "
        f"{'OK' if ok else 'MISMATCH'}",
    )
    return ok


def run_job(uow: UnitOfWork, db: Database, profile: bool = False) -> tuple[int, float, float]:
    prof = cProfile.Profile() if profile else None
    c0, t = time.process_time(), time.perf_counter()
    if prof:
        prof.enable()
    n = scheduler.lapse_deadlines(uow)
    if prof:
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(20)
        print(s.getvalue())
    return n, time.perf_counter() - t, time.process_time() - c0


def scheduler_bench(db: Database, cat: Catalog, a: Any) -> dict[str, float]:
    org = cat.org
    out: dict[str, float] = {}
    t = time.perf_counter()
    ids = make_expiring(org, a.expiring)
    line(f"bulk insert of {a.expiring:,} expiring orders", f"{time.perf_counter() - t:.1f} s")
    before = outbox_count(org)
    engine = make_engine(db.url, pool_size=2)
    uow = UnitOfWork(engine)
    pg = PgBackendCpu(db)
    with StatementCounter(engine) as sc, sc.counting() as ev:
        pg0 = pg.read()
        n, wall, cpu = run_job(uow, db, a.profile)
        pg1 = pg.read()
    in_sql = sum(e[3] for e in ev)
    line(
        "lapse_deadlines, one worker",
        f"{n:,} expired in {wall:.2f} s = {n / wall:,.0f}/s; CPU here {cpu:.2f} s"
        + (f", PostgreSQL {pg1 - pg0:.2f} s" if pg0 is not None and pg1 is not None else ""),
    )
    line(
        "  statements",
        f"{len(ev):,} round trips, {in_sql:.2f} s in execute; {summarize(ev, timed=True)}",
    )
    check_expired(org, ids, before, a.webhooks)
    engine.dispose()
    out["one"] = wall

    ids = make_expiring(org, a.expiring)
    before = outbox_count(org)
    engines = [make_engine(db.url, pool_size=2) for _ in range(a.sched_workers)]
    uows = [UnitOfWork(e) for e in engines]
    barrier = threading.Barrier(a.sched_workers)
    res: list[tuple[int, float, float]] = [(0, 0.0, 0.0)] * a.sched_workers
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        uows[k].read(lambda c: c.execute(text("SELECT 1")))  # open the connection first
        barrier.wait()
        try:
            res[k] = run_job(uows[k], db)
        except BaseException as exc:  # report, don't hang
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(a.sched_workers)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t
    for e in engines:
        e.dispose()
    line(
        f"lapse_deadlines, {a.sched_workers} workers in parallel threads",
        f"{sum(r[0] for r in res):,} expired in {wall:.2f} s = "
        f"{sum(r[0] for r in res) / wall:,.0f}/s; per worker "
        + ", ".join(f"{r[0]:,} in {r[1]:.2f} s" for r in res),
    )
    if errors:
        line("  errors", repr(errors[0]))
    check_expired(org, ids, before, a.webhooks)
    out["parallel"] = wall
    return out


# ------------------------------------------------------------------ main


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.add_argument("--parts", default="sql,http,race,scheduler")
    p.add_argument("--skus", type=int, default=10_000, help="SKUs of the spread run")
    p.add_argument("--in-process", type=int, default=300, help="orders per kind in part 0")
    p.add_argument("--seconds", type=float, default=15.0, help="measured window per HTTP run")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (part 1)")
    p.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: benchmarks/rawhttp.py on asyncio (tens of us of CPU per request); httpx: "
        "one httpx client per process (part 1) or thread (part 2), ~1.3 ms CPU per request",
    )
    p.add_argument("--client-procs", type=int, default=2, help="processes of raw clients")
    p.add_argument(
        "--phases",
        action="store_true",
        help="serve bench_orders:phased_app (per-request phases in Server-Timing; adds a "
        "listener on every statement) instead of the plain app. It sees statements that go "
        "through SQLAlchemy only: an order placed without an Idempotency-Key runs on the "
        "driver connection (adapters/db/hot.py) and shows as app time alone",
    )
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    p.add_argument("--pool-size", type=int, default=10, help="HOOP_POOL_SIZE per worker")
    p.add_argument("--race-clients", type=int, default=200)
    p.add_argument("--race-procs", type=int, default=2, help="client processes for the race")
    p.add_argument("--race-units", type=int, default=10)
    p.add_argument("--race-rounds", type=int, default=5, help="measured rounds (after a cold one)")
    p.add_argument("--race-gap", type=float, default=4.0, help="seconds between race rounds")
    p.add_argument(
        "--control-rounds",
        type=int,
        default=2,
        help="rounds of the same burst with a different SKU per client (no shared row)",
    )
    p.add_argument(
        "--healthz-rounds",
        type=int,
        default=2,
        help="rounds of the same burst as GET /healthz: the floor of HTTP alone on this machine",
    )
    p.add_argument("--expiring", type=int, default=10_000)
    p.add_argument("--sched-workers", type=int, default=2)
    p.add_argument(
        "--webhooks",
        type=int,
        default=0,
        help="register N webhook endpoints for all events: every event then writes N deliveries",
    )
    p.add_argument("--profile", action="store_true", help="cProfile placing and the expiry job")
    a = p.parse_args()
    if a.quick:
        a.skus, a.in_process, a.seconds, a.warmup = 500, 50, 3.0, 1.0
        a.race_clients, a.race_rounds, a.race_gap, a.race_procs = 40, 1, 2.0, 2
        a.control_rounds = a.healthz_rounds = 1
        a.expiring = 1000
    parts = set(a.parts.split(","))
    header("bench_orders: placing, racing and expiring orders (issue #4)", a.db,
           **{k: v for k, v in vars(a).items() if k != "db"})  # fmt: skip
    common.analyze = analyze_schema  # what setup_org calls; see analyze_schema
    with fresh_database(a.db) as db, schema_autoanalyze(db) as stats_note:
        line("planner statistics", stats_note)
        t = time.perf_counter()
        n_race = a.race_rounds + 1 if "race" in parts else 0
        org = setup_org(db, n_locations=1, n_variants=a.skus + 1 + n_race + 50)
        cat = Catalog(org, a.skus, n_race, a.race_units)
        org.uow.write(  # the seller answers within a day; not due during the run
            lambda c: c.execute(
                text("UPDATE orgs SET seller_response_seconds = 86400 WHERE id = :o"),
                {"o": org.org_id},
            )
        )
        add_webhooks(org, a.webhooks)
        line("setup (org, SKUs, stock)", f"{time.perf_counter() - t:.1f} s")
        if "sql" in parts:
            print("0. One order in this process (no HTTP), sequential:")
            place_in_process(cat, a.in_process, a.profile)
            lapse_in_process(cat, 500, a.webhooks)
        org.engine.dispose()  # the server has its own engines; fork the clients clean
        if parts & {"http", "race"}:
            with uvicorn_server(
                db,
                workers=a.workers,
                pool_size=a.pool_size,
                app="bench_orders:phased_app" if a.phases else "hoop.entrypoints.asgi:app",
            ) as srv:
                if "http" in parts:
                    print("1. Orders over HTTP:")
                    throughput(db, srv, cat, "(a) spread: a random SKU per order", cat.spread, a)
                    throughput(db, srv, cat, "(b) hot: every order the same SKU", [cat.hot], a)
                if "race" in parts:
                    print(
                        f"2. Race: {a.race_clients} concurrent clients, one one-unit order each, "
                        f"for {a.race_units} units (HOOP_POOL_SIZE={a.pool_size}, "
                        f"{a.workers} workers, {a.race_procs} client processes):"
                    )
                    analyze_schema(cat.org.engine)
                    ANALYZE_PAUSED.set()
                    try:
                        race(db, srv, cat, a)
                    finally:
                        ANALYZE_PAUSED.clear()
        if "scheduler" in parts:
            print(f"3. Scheduler: {a.expiring:,} expiring order requests:")
            scheduler_bench(db, cat, a)
        line("peak RSS (this process)", f"{peak_rss_mb():.0f} MiB")
        org.engine.dispose()


if __name__ == "__main__":
    main()

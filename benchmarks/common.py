"""Shared set-up for the benchmarks: a fresh database, an org, locations and products in bulk,
timing and memory helpers, a SQL statement counter, and a real uvicorn server in a subprocess.

Every benchmark PRINTS figures and never asserts. Nothing here is imported by `src/` or tests.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "src") not in sys.path:  # run from a checkout without `pip install -e`
    sys.path.insert(0, str(ROOT / "src"))

from sqlalchemy import Engine, event, text  # noqa: E402

from hoop.adapters.db.engine import make_engine, normalize_url  # noqa: E402
from hoop.bootstrap import upgrade  # noqa: E402
from hoop.service import access, catalog  # noqa: E402
from hoop.service.context import Actor  # noqa: E402
from hoop.service.unit_of_work import UnitOfWork  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PASSWORD = "bench-password-123"


# ------------------------------------------------------------------ arguments


def base_parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    return p


def pg_base_url() -> str:
    return os.environ.get("HOOP_BENCH_POSTGRES_URL", DEFAULT_PG)


# ------------------------------------------------------------------ database


@dataclass
class Database:
    kind: str  # sqlite | postgres
    url: str  # what HOOP_DATABASE_URL / make_engine take (PG: private search_path)
    schema: str | None = None
    path: Path | None = None


def _pg_schema_url(base: str, schema: str) -> str:
    """The private schema via search_path; application_name tags our backends so their CPU time
    can be read (see pg_backend_cpu_seconds)."""
    url = normalize_url(base)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}&application_name={schema}"


@contextlib.contextmanager
def fresh_database(kind: str, prefix: str = "hoop_bench", keep: bool = False) -> Iterator[Database]:
    """A migrated, empty database: a temp SQLite file, or a private PG schema dropped after
    (unless `keep`: then its URL is printed)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="hoop-bench-") as tmp:
            path = Path(tmp) / "bench.db"
            db = Database("sqlite", f"sqlite:///{path}", path=path)
            upgrade(db.url)
            yield db
        return
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_base_url(), pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = Database("postgres", _pg_schema_url(pg_base_url(), schema), schema=schema)
        upgrade(db.url)
        yield db
    finally:
        if keep:
            print(f"kept schema {schema}: {db.url}")
        else:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@contextlib.contextmanager
def kept_database(schema: str) -> Iterator[Database]:
    """A PG schema a benchmark kept (`--keep`), migrated to the current head; not dropped."""
    db = Database("postgres", _pg_schema_url(pg_base_url(), schema), schema=schema)
    upgrade(db.url)
    yield db


def _proc_cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PgBackendCpu:
    """CPU seconds of the PostgreSQL backends serving this benchmark's schema (matched by
    application_name; needs the server on this machine). Backends that exit between two
    readings drop out, so read around a phase in which the pool keeps its connections."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.engine = make_engine(pg_base_url(), pool_size=1) if db.kind == "postgres" else None

    def read(self) -> float | None:
        if self.engine is None:
            return None
        with self.engine.connect() as c:
            pids = c.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :a"),
                {"a": self.db.schema},
            ).scalars()
            return sum(_proc_cpu_seconds(p) for p in pids)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()


# ------------------------------------------------------------------ org, locations, catalog


@dataclass
class Org:
    uow: UnitOfWork
    engine: Engine
    actor: Actor
    token: str
    org_id: int
    locations: list[int]  # internal location ids
    variants: list[tuple[int, str]]  # (variant id, sku)
    virtual: dict[str, int] = field(default_factory=dict)


def setup_org(
    db: Database,
    n_locations: int = 4,
    n_variants: int = 1000,
    pool_size: int = 20,
    variants_per_product: int = 1000,
) -> Org:
    """Sign up an org (plan enterprise), create internal locations and products in bulk (up to
    1000 variants per product, one service call each). Returns an Org with its Actor."""
    engine = make_engine(db.url, pool_size=pool_size)
    uow = UnitOfWork(engine)
    tag = uuid.uuid4().hex[:8]
    res = uow.write(
        lambda c: access.signup(
            c, f"Bench {tag}", f"bench-{tag}@example.com", PASSWORD, plan="enterprise"
        )
    )
    token = res["token"]
    actor = uow.read(lambda c: access.authenticate(c, token))

    def make_locations(c: Any) -> list[int]:
        wh = catalog.create_location(c, actor, {"name": "Main", "code": "WH", "type": "warehouse"})
        ids = [wh["id"]]
        for i in range(1, n_locations):
            loc = catalog.create_location(
                c,
                actor,
                {"name": f"Bin {i}", "code": f"BIN-{i}", "type": "bin", "parent_id": wh["id"]},
            )
            ids.append(loc["id"])
        return ids

    locs = uow.write(make_locations)
    variants: list[tuple[int, str]] = []
    made = 0
    while made < n_variants:
        n = min(variants_per_product, n_variants - made)
        start = made
        prod = uow.write(
            lambda c, start=start, n=n: catalog.create_product(
                c,
                actor,
                {
                    "name": f"Product {start}",
                    "variants": [{"sku": f"SKU-{start + i:07d}"} for i in range(n)],
                },
            )
        )
        variants.extend((v["id"], v["sku"]) for v in prod["variants"])
        made += n
    virtual = uow.read(lambda c: catalog.virtual_location_ids(c, actor.org_id))
    analyze(engine)
    return Org(uow, engine, actor, token, actor.org_id, locs, variants, virtual)


def analyze(engine: Engine) -> None:
    """Refresh planner statistics, as autovacuum would within a minute or so of a bulk load.
    Without it PostgreSQL plans `variants.id IN (...)` as a scan of the whole org (stale row
    estimates), which costs ~18 ms per 100-line document once the statement is prepared."""
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        c.commit()


def vacuum_schema(engine: Engine) -> None:
    """VACUUM ANALYZE this schema's tables (only these: the server is shared), as autovacuum
    would some time after a bulk load; it also marks pages all-visible, so index-only scans
    skip the heap. The shared test server runs with autovacuum off, so without it they never
    do."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        names = c.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
        for name in list(names):
            c.execute(text(f'VACUUM ANALYZE "{name}"'))


@contextlib.contextmanager
def autoanalyze(db: Database, every: float = 5.0) -> Iterator[str]:
    """Stand in for autovacuum's ANALYZE when the server has autovacuum off (as the shared test
    server does): without fresh statistics PostgreSQL keeps plans made while the tables were
    empty, e.g. the foreign-key check of document_lines -> stock_documents stays a sequential
    scan per line, and posting slows down linearly with the number of documents. Yields a note
    for the header."""
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
            with contextlib.suppress(Exception), eng.connect() as c:
                c.execute(text("ANALYZE"))
                c.commit()

    t = threading.Thread(target=loop, daemon=True)
    t.start()
    try:
        yield f"server autovacuum is off: ANALYZE of the bench schema every {every:g} s instead"
    finally:
        stop.set()
        t.join()
        eng.dispose()


# ------------------------------------------------------------------ measuring


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/max (nearest-rank) of samples in seconds, returned in milliseconds."""
    if not samples:
        return {"n": 0, "p50": float("nan"), "p95": float("nan"), "p99": float("nan")}
    s = sorted(samples)

    def rank(p: float) -> float:
        k = max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))
        return s[k] * 1000

    return {
        "n": len(s),
        "mean": statistics.fmean(s) * 1000,
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": s[-1] * 1000,
    }


def fmt_pct(p: dict[str, float]) -> str:
    if not p.get("n"):
        return "n=0"
    return (
        f"n={p['n']}  p50={p['p50']:.2f} ms  p95={p['p95']:.2f} ms  p99={p['p99']:.2f} ms  "
        f"max={p['max']:.2f} ms  mean={p['mean']:.2f} ms"
    )


def peak_rss_mb() -> float:
    """Peak resident set size of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def header(title: str, db_kind: str, **params: Any) -> None:
    print("=" * 78)
    print(f"{title}  [db={db_kind}]")
    print(
        f"python {platform.python_version()}  cpus={os.cpu_count()}  "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')}  loadavg={load_average()}  src={src_version()}"
    )
    if params:
        print("params: " + "  ".join(f"{k}={v}" for k, v in params.items()))
    print("-" * 78)


def src_version() -> str:
    """Which code was measured: the commit plus a digest of uncommitted changes under src/."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        diff = subprocess.run(
            ["git", "diff", "HEAD", "--", "src"], cwd=ROOT, capture_output=True
        ).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "--others", "--exclude-standard", "src"],
            cwd=ROOT,
            capture_output=True,
        ).stdout
        for name in untracked.decode().split():
            with contextlib.suppress(OSError):
                diff += (ROOT / name).read_bytes()
    except OSError:
        return "?"
    if not diff:
        return head
    import hashlib

    return f"{head}+dirty:{hashlib.sha1(diff).hexdigest()[:8]}"


def load_average() -> str:
    """1-minute load average: other work on this (2-core) machine skews the figures."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "?"


def line(label: str, value: str) -> None:
    print(f"  {label:<44} {value}")


# ------------------------------------------------------------------ statement counting


class StatementCounter:
    """Counts DBAPI round trips via `before_cursor_execute` on an engine, and times each one up to
    `after_cursor_execute` (the server's work plus the driver; fetching rows comes later). An
    executemany is one event (with many parameter sets); SQLAlchemy's insertmanyvalues batches
    are one event each."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.active = False
        # (statement head, executemany, n parameter sets, seconds)
        self.events: list[tuple[str, bool, int, float]] = []
        self._t0 = 0.0

    def _before(
        self, conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool
    ) -> None:
        self._t0 = time.perf_counter()

    def _after(
        self, conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool
    ) -> None:
        if not self.active:
            return
        n = len(params) if many and params is not None else 1
        self.events.append((_head(statement), many, n, time.perf_counter() - self._t0))

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @contextlib.contextmanager
    def counting(self) -> Iterator[list[tuple[str, bool, int, float]]]:
        self.events = []
        self.active = True
        try:
            yield self.events
        finally:
            self.active = False


def _head(sql: str) -> str:
    """'INSERT moves', 'SELECT locations', 'UPDATE stock_documents', 'BEGIN', ..."""
    words = " ".join(sql.split()).split(" ")
    verb = words[0].upper() if words else "?"
    target = ""
    up = [w.upper() for w in words]
    if verb == "INSERT" and "INTO" in up:
        target = words[up.index("INTO") + 1]
    elif verb == "UPDATE" and len(words) > 1:
        target = words[1]
    elif verb in ("SELECT", "DELETE") and "FROM" in up:
        target = words[up.index("FROM") + 1]
    target = target.strip('"').split("(")[0]
    return f"{verb} {target}".strip()


def summarize(events: Sequence[tuple[str, bool, int, float]], timed: bool = False) -> str:
    c: Counter[str] = Counter()
    t: Counter[str] = Counter()
    for head, many, _n, secs in events:
        k = head + (" (executemany)" if many else "")
        c[k] += 1
        t[k] += secs
    if timed:
        return ", ".join(
            f"{k}{f' x{c[k]}' if c[k] > 1 else ''} {t[k] * 1000:.1f} ms"
            for k in sorted(c, key=lambda k: -t[k])
        )
    return ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(c.items()))


# ------------------------------------------------------------------ a real HTTP server


@dataclass
class Server:
    base: str
    pgid: int

    def cpu(self) -> float:
        return group_cpu_seconds(self.pgid)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def uvicorn_server(
    db: Database,
    workers: int = 2,
    pool_size: int = 10,
    timeout: float = 60.0,
    app: str = "hoop.entrypoints.asgi:app",
) -> Iterator[Server]:
    """`uvicorn hoop.entrypoints.asgi:app` on 127.0.0.1 in a subprocess (like `hoop serve
    --workers N` without the scheduler). Yields its base URL and process group, which is stopped
    afterwards. HOOP_BENCH_PYSPY=<path> runs it under `py-spy record` (HOOP_BENCH_PYSPY_ARGS adds
    options, e.g. --gil)."""
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "HOOP_DATABASE_URL": db.url,
        "HOOP_POOL_SIZE": str(pool_size),
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "src"), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    prof = os.environ.get("HOOP_BENCH_PYSPY")  # profile the server: a path for py-spy raw output
    if prof:
        spy = str(Path(sys.executable).with_name("py-spy"))
        extra = os.environ.get("HOOP_BENCH_PYSPY_ARGS", "").split()  # e.g. --gil
        spy_cmd = [spy, "record", "-r", "200", "--subprocesses", "--format", "raw", *extra]
        cmd = [*spy_cmd, "-o", prof, "--", *cmd]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {proc.returncode}")
            try:
                if httpx.get(base + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not become healthy in time")
            time.sleep(0.2)
        # every worker should be up: hit it a few more times
        for _ in range(4 * workers):
            httpx.get(base + "/healthz", timeout=5.0)
        yield Server(base, proc.pid)
    finally:
        with contextlib.suppress(ProcessLookupError):
            # under py-spy, stop the server (not py-spy) so it can write its profile
            os.killpg(proc.pid, 2 if prof else 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()


def group_cpu_seconds(pgid: int) -> float:
    """User+system CPU seconds of the live processes in a process group (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / tick


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out

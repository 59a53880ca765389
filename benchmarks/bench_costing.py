"""Costing with a big ledger (issue #3), on PostgreSQL: --moves moves (1,000,000) over --variants
variants (10,000), one year of history, loaded straight into `moves` and `balances` with
INSERT ... SELECT from generate_series (in time order, so a variant's moves are spread over the
table as real postings would leave them). Then, through the service layer:

  (c) a full recompute (service.costing.recompute, check_only=False): first from empty cost
      tables (it builds cost_entries, cost_books and the journal), then again over the stored
      rows (the `hoop costing recompute --write` case), then check_only=True. Time, rows/s,
      client and PostgreSQL backend CPU, peak RSS;
  (a) the valuation report (service.reports.valuation) as of now and as of mid-year;
  (b) a receipt backdated into the first week of the history, posted with
      stock.create_document(effective_at=...) for --samples variants of ~100 moves each (the
      whole posting, commit included), next to an ordinary receipt at now for comparison;
  (d) one hot variant per size in --hot (1k, 10k, 100k moves, added to the same org) and a
      receipt backdated before all its moves, under FIFO and again under average (a second
      org); plus receipts backdated by one day and at now on the same variant. The series
      shows how the work grows with the length of a variant's history.
  Last, a reconciliation (ledger = layers = journal) as a consistency check.

The shared server runs with autovacuum off, so the script runs VACUUM ANALYZE after each bulk
change, as autovacuum would.

Each variant's history: an opening receipt of 100 units, then cycles of one receipt of 40 and
four shipments of 10 (stock 100..140, never negative), unit costs 2.00..3.50 varying by move.

Usage: python benchmarks/bench_costing.py [--quick] [--moves N --variants N --hot 1000,10000]
       [--samples 10] [--repeats 3] [--keep] [--profile]
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from common import (
    Database,
    Org,
    PgBackendCpu,
    StatementCounter,
    base_parser,
    fresh_database,
    header,
    line,
    peak_rss_mb,
    summarize,
)
from sqlalchemy import Engine, text

from hoop.adapters.db import costing as costing_db
from hoop.adapters.db.engine import make_engine
from hoop.service import access, catalog, reports, stock
from hoop.service import costing as costing_service
from hoop.service.unit_of_work import UnitOfWork

PASSWORD = "bench-password-123"
YEAR = timedelta(days=365)
YEAR_US = int(YEAR.total_seconds() * 1_000_000)

# One variant's k-th move (k from 0): k = 0 opens with 100 units, then every fifth move from
# k = 1 is a receipt of 40 and the others shipments of 10. Scaled (x 10^4) integers.
_LOAD_MOVES = """
WITH m AS (
    SELECT v.id AS variant_id, k,
           CAST(:start AS timestamptz)
             + (k * CAST(:nv AS bigint) + v.i - 1) * :step_us * interval '1 microsecond' AS eff,
           (k = 0 OR (k - 1) % 5 = 0) AS inbound,
           CASE WHEN k = 0 THEN 1000000 WHEN (k - 1) % 5 = 0 THEN 400000 ELSE 100000 END AS qty,
           20000 + ((7 * k + v.i) % 13) * 1250 AS cost
    FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS v(id, i),
         generate_series(0, :n - 1) AS k
)
INSERT INTO moves (org_id, document_id, line_no, variant_id, from_location_id, to_location_id,
                   qty, lot, serial, unit_cost, value, reversal, reverses_move_id, effective_at,
                   recorded_at, user_id)
SELECT :org, NULL, 1, variant_id,
       CASE WHEN inbound THEN :supplier ELSE :wh END,
       CASE WHEN inbound THEN :wh ELSE :customer END,
       qty, '', NULL,
       CASE WHEN inbound THEN cost END,
       CASE WHEN inbound THEN qty * cost / 10000 END,
       false, NULL, eff, eff, NULL
FROM m
ORDER BY eff, variant_id
"""

_LOAD_BALANCES = """
INSERT INTO balances (variant_id, location_id, lot, org_id, on_hand, reserved)
SELECT variant_id, :wh, '', :org,
       sum(CASE WHEN to_location_id = :wh THEN qty ELSE -qty END), 0
FROM moves
WHERE org_id = :org AND variant_id = ANY(CAST(:ids AS bigint[]))
GROUP BY variant_id
"""


# ------------------------------------------------------------------ set-up


def make_org(
    engine: Engine, method: str, groups: list[tuple[str, int]]
) -> tuple[Org, dict[str, list[int]]]:
    """Sign up an org (enterprise plan, `method` costing), one warehouse, and for each
    (name, count) in `groups` that many variants (up to 1,000 per product, one service call
    each). Returns the Org (locations = [warehouse]) and the variant ids per group."""
    uow = UnitOfWork(engine)
    tag = uuid.uuid4().hex[:8]
    res = uow.write(
        lambda c: access.signup(
            c,
            f"Costing {tag}",
            f"costing-{tag}@example.com",
            PASSWORD,
            plan="enterprise",
            costing_method=method,
        )  # fmt: skip
    )
    actor = uow.read(lambda c: access.authenticate(c, res["token"]))
    wh = uow.write(
        lambda c: catalog.create_location(
            c, actor, {"name": "Main", "code": "WH", "type": "warehouse"}
        )
    )["id"]
    ids: dict[str, list[int]] = {}
    every: list[tuple[int, str]] = []
    for name, count in groups:
        ids[name] = []
        for start in range(0, count, 1000):
            n = min(1000, count - start)
            prod = uow.write(
                lambda c, start=start, n=n, name=name: catalog.create_product(
                    c,
                    actor,
                    {
                        "name": f"{name} {start}",
                        "variants": [{"sku": f"{name.upper()}-{start + i:07d}"} for i in range(n)],
                    },
                )  # fmt: skip
            )
            ids[name].extend(v["id"] for v in prod["variants"])
            every.extend((v["id"], v["sku"]) for v in prod["variants"])
    virtual = uow.read(lambda c: catalog.virtual_location_ids(c, actor.org_id))
    org = Org(uow, engine, actor, res["token"], actor.org_id, [wh], every, virtual)
    return org, ids


def load_history(org: Org, ids: list[int], per_variant: int, start: datetime) -> int:
    """`per_variant` moves for each variant over one year from `start`, interleaved in time,
    and the matching balance rows. Returns the number of moves."""
    step_us = YEAR_US // (per_variant * len(ids))
    params = {
        "org": org.org_id, "wh": org.locations[0], "supplier": org.virtual["supplier"],
        "customer": org.virtual["customer"], "start": start, "nv": len(ids),
        "step_us": step_us, "n": per_variant, "ids": ids,
    }  # fmt: skip
    with org.engine.begin() as c:
        n = c.execute(text(_LOAD_MOVES), params).rowcount
        c.execute(text(_LOAD_BALANCES), params)
    analyze(org.engine)
    return n


def analyze(engine: Engine) -> None:
    """The shared server runs with autovacuum off: VACUUM ANALYZE after every bulk change, as
    autovacuum would. Without the VACUUM the rows a recompute or a re-cost replaces stay in the
    indexes as dead entries, and e.g. valuation as of a past date doubles (0.85 s, not 0.4 s)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def count(engine: Engine, sql: str, **params: Any) -> int:
    with engine.connect() as c:
        return int(c.execute(text(sql), params).scalar_one())


# ------------------------------------------------------------------ measuring helpers


def rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) / 1024
    return float("nan")


def samples_text(xs: list[float]) -> str:
    xs_ms = sorted(x * 1000 for x in xs)
    if len(xs_ms) == 1:
        return f"{xs_ms[0]:,.0f} ms"
    return (
        f"p50={statistics.median(xs_ms):,.0f} ms  min={xs_ms[0]:,.0f}  max={xs_ms[-1]:,.0f}"
        f"  (n={len(xs_ms)})"
    )


def receipt(org: Org, variant_id: int, at: datetime | None, qty: str = "5") -> dict[str, Any]:
    data: dict[str, Any] = {
        "type": "receipt",
        "to_location_id": org.locations[0],
        "lines": [{"variant_id": variant_id, "qty": qty, "unit_cost": "9.99"}],
    }
    if at is not None:
        data["effective_at"] = at.isoformat()
    return data


def post(org: Org, data: dict[str, Any]) -> float:
    t = time.perf_counter()
    out = org.uow.write(lambda c: stock.create_document(c, org.actor, data))
    dt = time.perf_counter() - t
    if out["state"] != "done":
        raise SystemExit(f"posting did not complete: {out['state']}")
    return dt


def corrections(org: Org, variant_id: int) -> int:
    return count(
        org.engine,
        "SELECT count(*) FROM journal_entries WHERE org_id = :o AND variant_id = :v "
        "AND kind = 'correction'",
        o=org.org_id, v=variant_id,
    )  # fmt: skip


def profiled(fn: Callable[[], Any], top: int = 25) -> Any:
    prof = cProfile.Profile()
    prof.enable()
    try:
        return fn()
    finally:
        prof.disable()
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(top)
        print("\n".join("      " + ln for ln in s.getvalue().splitlines() if ln.strip()))


# ------------------------------------------------------------------ the parts


def recompute_runs(org: Org, db: Database, n_moves: int) -> None:
    """(c): recompute from empty cost tables, again over stored rows, then check_only."""
    pg = PgBackendCpu(db)
    runs = (
        ("recompute, cost tables empty (first build)", False),
        ("recompute, over stored rows (rewrite)", False),
        ("recompute check_only=True (compare only)", True),
    )
    for label, check in runs:
        rss0 = rss_now_mb()
        s0, t0, c0 = pg.read(), time.perf_counter(), time.process_time()
        out = org.uow.write(
            lambda c, check=check: costing_service.recompute(c, org.org_id, check_only=check)
        )
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        s1 = pg.read()
        srv = f"{s1 - s0:.1f} s" if s0 is not None and s1 is not None else "?"
        line(
            label,
            f"{wall:.1f} s  ({n_moves / wall:,.0f} moves/s, {out['variants']:,} variants, "
            f"{len(out['differences']):,} differences)",
        )
        line(
            "  CPU: this process / PostgreSQL backends",
            f"{cpu:.1f} s / {srv};  RSS {rss0:.0f} -> {rss_now_mb():.0f} MiB, "
            f"peak so far {peak_rss_mb():.0f} MiB",
        )
        if not check:
            analyze(org.engine)
    pg.close()
    line(
        "  rows: cost_entries / journal_entries / cost_books",
        " / ".join(
            f"{count(org.engine, f'SELECT count(*) FROM {t}'):,}"
            for t in ("cost_entries", "journal_entries", "cost_books")
        ),
    )


def valuation_runs(org: Org, start: datetime, repeats: int) -> None:
    """(a): valuation now and as of mid-year, plus the by-location variants."""
    mid = (start + YEAR / 2).date().isoformat()
    on_hand = count(
        org.engine, "SELECT coalesce(sum(on_hand), 0) FROM balances WHERE org_id = :o",
        o=org.org_id,
    ) / 10_000  # fmt: skip
    cases = (
        ("valuation as of now", {}),
        (f"valuation as of {mid} (mid-year)", {"as_of": mid}),
        ("valuation now, by_location", {"by_location": True}),
        (f"valuation as of {mid}, by_location", {"as_of": mid, "by_location": True}),
    )
    for label, kw in cases:
        times = []
        for _ in range(repeats + 1):  # the first is a warm-up
            t = time.perf_counter()
            out = org.uow.read(lambda c, kw=kw: reports.valuation(c, org.actor, **kw))
            times.append(time.perf_counter() - t)
        line(
            label,
            f"{samples_text(times[1:])}  first {times[0] * 1000:,.0f} ms;  "
            f"{len(out['lines']):,} lines, qty {out['total_qty']:,}, value {out['total_value']:,}",
        )
    line("  (balances: on hand now)", f"{on_hand:,.0f}")


def backdated_runs(
    org: Org, main: list[int], start: datetime, samples: int, sc: StatementCounter
) -> None:
    """(b): a receipt backdated into week 1, for variants of ~100 moves each."""
    step = max(1, len(main) // (2 * samples + 2))
    picks = main[::step][: 2 * samples + 2]
    warm, backdated, current = picks[0], picks[1 : samples + 1], picks[samples + 1 :]
    week1 = start + timedelta(days=5)
    post(org, receipt(org, warm, week1))  # warm-up: statement caches, code paths
    post(org, receipt(org, warm, None))
    times = [post(org, receipt(org, v, week1)) for v in backdated[:-1]]
    with sc.counting() as ev:
        t_last = post(org, receipt(org, backdated[-1], week1))
    times.append(t_last)
    n_moves = count(
        org.engine, "SELECT count(*) FROM moves WHERE org_id = :o AND variant_id = :v",
        o=org.org_id, v=backdated[-1],
    )  # fmt: skip
    line(f"receipt backdated to {week1:%Y-%m-%d} (week 1)", samples_text(times))
    in_sql = sum(e[3] for e in ev)
    line(
        f"  last one: variant of {n_moves} moves",
        f"{len(ev)} statements, {in_sql * 1000:.0f} of {t_last * 1000:.0f} ms in execute, "
        f"{corrections(org, backdated[-1])} journal corrections",
    )
    print(f"      {summarize(ev, timed=True)}")
    times = [post(org, receipt(org, v, None)) for v in current]
    line("receipt at now (append path), same kind of variant", samples_text(times))


def hot_runs(
    org: Org,
    method: str,
    hot: dict[int, int],
    start: datetime,
    end: datetime,
    repeats: int,
    sc: StatementCounter,
    profile: bool,
) -> list[tuple[str, int, float, float, float, float]]:
    """(d): per hot variant (moves -> id): load its history, cost it (a replay of that variant
    alone, the code recompute runs per variant), then post receipts backdated before all of
    its moves, receipts backdated by one day, and receipts at now."""
    series = []
    for size, vid in sorted(hot.items()):
        n = load_history(org, [vid], size, start)
        t = time.perf_counter()
        org.uow.write(
            lambda c, vid=vid: costing_db.replay_variants(
                c, org.org_id, {vid: None}, datetime.now(UTC)
            )
        )
        build = time.perf_counter() - t
        analyze(org.engine)
        times = []
        for r in range(repeats):
            data = receipt(org, vid, start - timedelta(days=1, hours=r))
            if r == repeats - 1:
                with sc.counting() as ev:
                    times.append(post(org, data))
            else:
                times.append(post(org, data))
        back = statistics.median(times)
        line(
            f"{method}: hot variant of {n:,} moves",
            f"backdated before all: {samples_text(times)}",
        )
        in_sql = sum(e[3] for e in ev)
        line(
            "  last one",
            f"{len(ev)} statements, {in_sql * 1000:,.0f} of {times[-1] * 1000:,.0f} ms in "
            f"execute;  {corrections(org, vid):,} journal corrections so far",
        )
        print(f"      {summarize(ev, timed=True)}")
        if profile and size == max(hot):
            print(f"    cProfile of one more such receipt (untimed), {method}, {n:,} moves:")
            profiled(lambda vid=vid: post(org, receipt(org, vid, start - timedelta(days=2))))
        recent = [post(org, receipt(org, vid, end - timedelta(days=1))) for _ in range(repeats)]
        now_times = [post(org, receipt(org, vid, None)) for _ in range(repeats)]
        line("  receipt backdated one day (near the end)", samples_text(recent))
        line(
            "  receipt at now / full replay of the variant",
            f"{samples_text(now_times)} / {build * 1000:,.0f} ms",
        )
        series.append(
            (method, n, back, statistics.median(recent), build, statistics.median(now_times))
        )
    return series


# ------------------------------------------------------------------ main


def main() -> None:
    p = base_parser(__doc__.splitlines()[0])
    p.set_defaults(db="postgres")
    p.add_argument("--moves", type=int, default=1_000_000)
    p.add_argument("--variants", type=int, default=10_000)
    p.add_argument("--hot", default="1000,10000,100000", help="hot variant sizes (moves)")
    p.add_argument("--samples", type=int, default=10, help="backdated receipts for (b)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per case")
    p.add_argument("--methods", default="fifo,average", help="costing methods for (d)")
    p.add_argument("--keep", action="store_true", help="keep the schema (prints its URL)")
    p.add_argument("--profile", action="store_true", help="cProfile the largest (d) posting")
    a = p.parse_args()
    if a.quick:
        a.moves, a.variants, a.hot, a.samples, a.repeats = 100_000, 1000, "1000,10000", 5, 2
    hot_sizes = [int(s) for s in a.hot.split(",") if s]
    methods = [m for m in a.methods.split(",") if m]
    header(
        "bench_costing: costing with a big ledger (issue #3)",
        a.db,
        **{k: v for k, v in vars(a).items() if k != "db"},
    )
    if a.db != "postgres":
        print("skipped: this benchmark loads its ledger with PostgreSQL SQL (generate_series)")
        return
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - YEAR
    per_variant = max(1, a.moves // a.variants)
    with fresh_database("postgres", "bench_costing", keep=a.keep) as db:
        engine = make_engine(db.url, pool_size=4)
        t = time.perf_counter()
        hot_groups = [(f"hot{s}", 1) for s in hot_sizes]
        org, ids = make_org(engine, methods[0], [("main", a.variants), *hot_groups])
        line(
            f"setup: org ({methods[0]}), warehouse, {a.variants + len(hot_sizes):,} variants",
            f"{time.perf_counter() - t:.1f} s",
        )
        t = time.perf_counter()
        n = load_history(org, ids["main"], per_variant, start)
        dt = time.perf_counter() - t
        line(
            f"bulk load: {n:,} moves ({per_variant}/variant) + balances",
            f"{dt:.1f} s ({n / dt:,.0f} moves/s); history {start:%Y-%m-%d} .. {end:%Y-%m-%d}",
        )
        sc = StatementCounter(engine)
        sc.__enter__()
        print("(c) full recompute (target < 60 s):")
        recompute_runs(org, db, n)
        print("(a) valuation report (target < 1 s each):")
        valuation_runs(org, start, a.repeats)
        print("(b) backdated receipt, week 1, variants of ~100 moves (target < 1 s):")
        backdated_runs(org, ids["main"], start, a.samples, sc)
        print("(d) hot variant, receipt backdated before all its moves (target < 2 s at 100k):")
        series = hot_runs(
            org, methods[0], {s: ids[f"hot{s}"][0] for s in hot_sizes}, start, end, a.repeats,
            sc, a.profile,
        )  # fmt: skip
        for method in methods[1:]:
            other, oids = make_org(engine, method, hot_groups)
            series += hot_runs(
                other, method, {s: oids[f"hot{s}"][0] for s in hot_sizes}, start, end,
                a.repeats, sc, a.profile,
            )  # fmt: skip
        sc.__exit__(None)
        print("Growth with the length of one variant's history (medians):")
        print(
            f"  {'method':<8} {'moves':>8} {'backdated, all':>15} {'per 1k moves':>13} "
            f"{'backdated 1 day':>16} {'full replay':>12} {'post at now':>12}"
        )
        for method, n_moves, back, recent, build, now_t in series:
            print(
                f"  {method:<8} {n_moves:>8,} {back * 1000:>12,.0f} ms "
                f"{back / n_moves * 1e6:>10,.1f} ms {recent * 1000:>13,.0f} ms "
                f"{build * 1000:>9,.0f} ms {now_t * 1000:>9,.1f} ms"
            )
        t = time.perf_counter()
        rec = org.uow.read(lambda c: reports.reconciliation(c, org.actor))
        line(
            "consistency: reconciliation (ledger = layers = journal)",
            f"balanced={rec['balanced']}  inventory {rec['ledger_value']:,}  "
            f"({(time.perf_counter() - t) * 1000:,.0f} ms)",
        )
        line("peak RSS (this process)", f"{peak_rss_mb():.0f} MiB")
        engine.dispose()


if __name__ == "__main__":
    main()

"""Run every benchmark on SQLite and PostgreSQL, one after another (they would skew each other if
run together on a 2-core machine). Full size by default; --quick for a smoke run.

PostgreSQL comes from HOOP_BENCH_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test);
when it is unreachable the PostgreSQL runs are skipped with a note.

Usage: python benchmarks/run_all.py [--quick] [--db sqlite|postgres|both] [--only posting,orders]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "posting": "bench_posting.py",
    "http": "bench_http.py",
    "availability": "bench_availability.py",
    "costing": "bench_costing.py",
    "orders": "bench_orders.py",
}
PG_ONLY = {"costing"}  # loads its ledger with PostgreSQL SQL


def pg_reachable() -> str | None:
    sys.path.insert(0, str(HERE))
    from common import pg_base_url
    from sqlalchemy import text

    from hoop.adapters.db.engine import make_engine

    eng = make_engine(pg_base_url(), pool_size=1)
    try:
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # report, don't fail
        return str(exc).splitlines()[0]
    finally:
        eng.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--only", default=",".join(BENCHES), help="comma list of " + ", ".join(BENCHES))
    a = p.parse_args()
    dbs = ["postgres", "sqlite"] if a.db == "both" else [a.db]
    if "postgres" in dbs and (why := pg_reachable()):
        print(f"PostgreSQL unreachable, skipping its runs: {why}")
        dbs.remove("postgres")
    started = time.perf_counter()
    failed = []
    for name in a.only.split(","):
        for db in dbs:
            if name in PG_ONLY and db != "postgres":
                print(f"{name}: PostgreSQL only, skipped on {db}")
                continue
            cmd = [sys.executable, str(HERE / BENCHES[name]), "--db", db]
            if a.quick:
                cmd.append("--quick")
            rc = subprocess.call(cmd, cwd=HERE.parent)
            if rc:
                failed.append(f"{name}/{db} (exit {rc})")
    print("=" * 78)
    print(f"run_all finished in {time.perf_counter() - started:.0f} s")
    if failed:
        print("FAILED: " + ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()

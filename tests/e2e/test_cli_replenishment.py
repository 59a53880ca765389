"""`hoop replenish` and `hoop alerts` on a copy of the demo database, and the plain refusal of
a database that is not migrated."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.e2e.test_cli import demo_db, hoop, ok  # noqa: F401 (fixture)


def test_replenish_lists_creates_orders_and_stops_suggesting(demo_db: Path, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "hoop.db"
    shutil.copy(demo_db, db)
    items = json.loads(ok(hoop(db, "replenish", "--format", "json")).stdout)
    assert items, "the demo leaves suggestions to act on"
    table = ok(hoop(db, "replenish")).stdout
    for s in items:
        assert s["sku"] in table and s["reason"][:40] in table.replace("\n", " ")
    made = ok(hoop(db, "replenish", "--create-pos", "--format", "json")).stdout
    pos = json.loads(made)["purchase_orders"]
    assert pos and all(p["status"] == "draft" for p in pos)
    # ordered: incoming now covers them
    assert json.loads(ok(hoop(db, "replenish", "--format", "json")).stdout) == []
    assert "Low-stock alerts" in ok(hoop(db, "alerts", "--status", "all")).stdout


def test_an_unmigrated_database_is_refused_plainly(tmp_path: Path) -> None:
    r = hoop(tmp_path / "empty.db", "alerts")
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr
    assert "hoop db upgrade" in r.stderr


def test_a_bad_setting_is_refused_plainly(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("HOOP_THREADS", "0")
    monkeypatch.setenv("HOOP_SCHEDULER_INTERVAL", "soon")
    r = hoop(tmp_path / "none.db", "alerts")
    out = r.stdout + r.stderr
    assert r.returncode == 2 and "Traceback" not in out
    assert "HOOP_THREADS" in out and "HOOP_SCHEDULER_INTERVAL" in out

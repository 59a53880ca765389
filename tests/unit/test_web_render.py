"""The web layer's pure helpers: money and quantity text, countdowns, the SVG chart, CSRF."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hoop.entrypoints.web import session
from hoop.entrypoints.web.charts import line_chart
from hoop.entrypoints.web.render import left, money, qty


def test_money_and_quantities() -> None:
    assert money(Decimal("1234.5")) == "$1,234.50"
    assert money(Decimal("-3.005"), "EUR") == "-€3.00"  # half-even, like the reports
    assert money(Decimal("7"), "CHF") == "7.00 CHF"
    assert money(None) == "—"
    assert qty(Decimal("12.5000")) == "12.5" and qty(Decimal("1000")) == "1,000"


def test_countdown() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert left(now + timedelta(hours=3, minutes=12), now) == "3h 12m left"
    assert left(now + timedelta(days=2, hours=1), now) == "2d 1h left"
    assert left(now + timedelta(seconds=45), now) == "45s left"
    assert left(now - timedelta(seconds=1), now) == "overdue"


def test_chart_draws_history_and_a_dashed_projection() -> None:
    days = [(date(2026, 1, 1) + timedelta(days=i), Decimal(i * 10)) for i in range(10)]
    svg = str(line_chart(days, projection=[(date(2026, 1, 12), Decimal(50))], title="t"))
    assert svg.startswith("<svg") and svg.count("<polyline") == 2 and "projection" in svg
    assert "No data" in str(line_chart([]))
    assert "<script" not in str(line_chart(days, title="<script>"))


def test_csrf_token_is_bound_to_the_session() -> None:
    a, b = session.csrf_for("ht_one"), session.csrf_for("ht_two")
    assert a != b and len(a) == 64
    assert session.csrf_ok(a, a) and not session.csrf_ok(a, b) and not session.csrf_ok(a, None)
    assert session.safe_next("//evil.example") == "/" and session.safe_next("/orders?x=1") == (
        "/orders?x=1"
    )

"""Jinja2 environment and the filters every template uses (money, quantities, times)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hoop.domain.quantities import decimal_text

HERE = Path(__file__).parent
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "NPR": "Rs ", "INR": "₹", "JPY": "¥"}


def money(value: Any, currency: str = "USD") -> str:
    if value is None:
        return "—"
    d = Decimal(value).quantize(Decimal("0.01"))
    sign = "-" if d < 0 else ""
    sym = SYMBOLS.get(currency)
    body = f"{abs(d):,.2f}"
    return f"{sign}{sym}{body}" if sym else f"{sign}{body} {currency}"


def qty(value: Any) -> str:
    if value is None:
        return "—"
    d = Decimal(value)
    if d == d.to_integral_value():
        return f"{int(d):,}"
    return decimal_text(d.normalize())


def when(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(fmt)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def left(deadline: datetime | None, now: datetime | None = None) -> str:
    """A countdown: '3h 12m left', '45s left', or 'overdue'."""
    if deadline is None:
        return ""
    secs = int((deadline - (now or datetime.now(UTC))).total_seconds())
    if secs <= 0:
        return "overdue"
    d, rem = divmod(secs, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    if d:
        return f"{d}d {h}h left"
    if h:
        return f"{h}h {m}m left"
    if m:
        return f"{m}m {s}s left"
    return f"{s}s left"


def query(base: dict[str, Any], **changes: Any) -> str:
    """A query string from the current filters with some changed (None drops a key)."""
    merged = {**base, **changes}
    return "?" + urlencode({k: v for k, v in merged.items() if v not in (None, "")})


def make_env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, qty=qty, when=when, left=left)
    env.globals.update(query=query)
    return env


ENV = make_env()

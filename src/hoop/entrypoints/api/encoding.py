"""JSON encoding: decimals as strings, times as ISO 8601 with zone."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from hoop.domain.quantities import Cents, Money4, decimal_text, q4

# Money keeps its 4 stored places in the API ("3.1400"); quantities are shown as entered ("12.5").
MONEY_KEYS = frozenset(
    {"unit_cost", "value", "price", "total_value", "min_value", "cost", "amount"}
)


def _money(value: Decimal) -> str:
    return decimal_text(value) if isinstance(value, Cents | Money4) else f"{q4(value):f}"


def encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: _money(v) if k in MONEY_KEYS and isinstance(v, Decimal) else encode(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value

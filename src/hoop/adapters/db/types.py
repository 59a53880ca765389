"""Column types: exact decimals as scaled 64-bit integers on every engine, UTC timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Dialect, type_coerce
from sqlalchemy.types import TypeDecorator

from hoop.domain.quantities import from_scaled, to_scaled


class Scaled(TypeDecorator[Decimal]):
    """A Decimal with 4 places stored as an integer count of 10^-4 units.

    Integer arithmetic keeps SQL-side sums and conditional updates exact on SQLite and PostgreSQL.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return to_scaled(value if isinstance(value, Decimal) else Decimal(str(value)))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else from_scaled(int(value))


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def raw_scaled(col: Any) -> Any:
    """A Scaled column (or sum of them) as its stored integer: no per-row result processor,
    for reads of many rows that do their own arithmetic."""
    return type_coerce(col, BigInteger)

"""Dates and times as people give them to reports and period closes. Pure: no I/O."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hoop.domain.errors import ValidationFailed


def parse_instant(value: object, field: str, *, end_of_day: bool) -> datetime | None:
    """`YYYY-MM-DD` (its end, or its start) or an ISO time with zone, as a UTC instant; None
    and "" stay None. Bounds are exclusive, so an end given as an instant includes it."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            start = datetime.combine(date.fromisoformat(text), time(), UTC)
            return start + timedelta(days=1) if end_of_day else start
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError("no zone")
        return at.astimezone(UTC) + (timedelta(microseconds=1) if end_of_day else timedelta())
    except (ValueError, OverflowError):
        raise ValidationFailed(
            f"{field} must be a date (YYYY-MM-DD) or a time with zone, within years 1-9999",
            {"field": field},
        ) from None

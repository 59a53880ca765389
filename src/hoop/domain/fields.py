"""Checks of single input fields that several services share (pure)."""

from __future__ import annotations

from typing import Any

from hoop.domain.errors import ValidationFailed


def text(value: Any, field: str, limit: int, required: bool = True) -> str | None:
    """A non-empty string of at most `limit` characters, stripped; None when not required
    and absent."""
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ValidationFailed(
            f"{field} must be a non-empty string of at most {limit} characters", {"field": field}
        )
    return value.strip()

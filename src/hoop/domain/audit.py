"""The audit chain: each event's hash covers its content and the previous event's hash."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any

GENESIS = "0" * 64


def jsonable(value: Any) -> Any:
    """Make a value JSON-safe and stable: Decimals and datetimes become strings."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def event_hash(prev_hash: str, seq: int, event: dict[str, Any]) -> str:
    body = json.dumps(
        {"prev": prev_hash, "seq": seq, "event": jsonable(event)},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()


HASHED_FIELDS = (
    "id",
    "org_id",
    "at",
    "actor_type",
    "actor_id",
    "action",
    "object_type",
    "object_id",
    "outcome",
    "error_code",
    "before",
    "after",
)


def hashed_content(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in HASHED_FIELDS}

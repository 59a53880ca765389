"""Bulk statements on the hot path, written once per engine with constant SQL text.

SQLAlchemy compiles a multi-row VALUES statement anew for every row count, and its executemany
with RETURNING falls back to a statement per row; both cost more than the database work. Here
each bulk write is one statement whose rows travel as one JSON parameter, unpacked by
`json_array_elements` on PostgreSQL and `json_each` on SQLite (plain executemany on SQLite where
nothing is returned). JSON, because the C encoder is far cheaper than psycopg's Python-level
array quoting. Quantities and money are the same scaled integers the `Scaled` column type stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from hoop.adapters.db.tables import moves
from hoop.domain.quantities import FACTOR, from_scaled

BalanceRow = tuple[int, int, str, Decimal, Decimal]


def scaled(value: Decimal | None) -> int | None:
    """Decimal (validated to 4 places) -> the stored integer; exact."""
    return None if value is None else int(value * FACTOR)


_PG_UPSERT = """
INSERT INTO balances (variant_id, location_id, lot, org_id, on_hand, reserved)
SELECT (e->>0)::bigint, (e->>1)::bigint, e->>2, %(org)s, (e->>3)::bigint, (e->>4)::bigint
FROM json_array_elements(%(rows)s::json) WITH ORDINALITY AS x(e, n)
ORDER BY n
ON CONFLICT (variant_id, location_id, lot) DO UPDATE
   SET on_hand = balances.on_hand + excluded.on_hand,
       reserved = balances.reserved + excluded.reserved
RETURNING variant_id, location_id, lot, on_hand, reserved
"""

_SQLITE_UPSERT = """
INSERT INTO balances (variant_id, location_id, lot, org_id, on_hand, reserved)
SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),
       ?, json_extract(value, '$[3]'), json_extract(value, '$[4]')
FROM json_each(?) WHERE true
ON CONFLICT (variant_id, location_id, lot) DO UPDATE
   SET on_hand = balances.on_hand + excluded.on_hand,
       reserved = balances.reserved + excluded.reserved
RETURNING variant_id, location_id, lot, on_hand, reserved
"""


def upsert_balances(
    conn: Connection, org_id: int, rows: Sequence[tuple[int, int, str, Decimal, Decimal]]
) -> list[BalanceRow]:
    """Add (variant, location, lot, on_hand delta, reserved delta) to the balance rows, creating
    missing ones, in the given order (the caller's lock order). Returns the rows as they now are."""
    if not rows:
        return []
    payload = json.dumps([[r[0], r[1], r[2], scaled(r[3]), scaled(r[4])] for r in rows])
    if conn.dialect.name == "postgresql":
        result = conn.exec_driver_sql(_PG_UPSERT, {"org": org_id, "rows": payload}).all()
    else:
        result = conn.exec_driver_sql(_SQLITE_UPSERT, (org_id, payload)).all()
    return [(r[0], r[1], r[2], from_scaled(r[3]), from_scaled(r[4])) for r in result]


_MOVE_COLS = (
    "org_id, document_id, line_no, variant_id, from_location_id, to_location_id, qty, lot, "
    "serial, unit_cost, value, reversal, effective_at, recorded_at, user_id, reverses_move_id"
)

_PG_MOVES = f"""
INSERT INTO moves ({_MOVE_COLS})
SELECT %(org)s, (e->>0)::bigint, (e->>2)::int, (e->>3)::bigint, (e->>4)::bigint,
       (e->>5)::bigint, (e->>6)::bigint, e->>7, e->>8, (e->>9)::bigint, (e->>10)::bigint,
       %(rev)s, (e->>1)::timestamptz, %(rec)s, %(usr)s, (e->>11)::bigint
FROM json_array_elements(%(rows)s::json) WITH ORDINALITY AS x(e, n)
ORDER BY n
RETURNING id
"""

_SQLITE_MOVES = f"INSERT INTO moves ({_MOVE_COLS}) VALUES ({', '.join('?' * 16)})"

# (document, effective at, line_no, variant, from, to, qty, lot, serial, unit_cost, value,
#  reverses move id)
MoveRow = tuple[
    int | None, datetime, int, int, int, int, Decimal, str, str | None, Decimal | None,
    Decimal | None, int | None,
]  # fmt: skip


def time_to_db(conn: Connection, column: Any) -> Any:
    """The column's full bind conversion for this engine (on SQLite: the same text format every
    SQLAlchemy-bound value has, so comparisons in SQL line up to the microsecond)."""
    proc = column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return proc or (lambda v: v)


def insert_moves(
    conn: Connection,
    org_id: int,
    rows: Sequence[MoveRow],
    *,
    reversal: bool,
    recorded_at: datetime,
    user_id: int | None,
) -> list[int]:
    """Insert the moves; return their ids, in the order of `rows`."""
    if not rows:
        return []
    to_db = time_to_db(conn, moves.c.effective_at)
    rec = to_db(recorded_at)
    if conn.dialect.name == "postgresql":
        isos: dict[datetime, str] = {}
        payload = json.dumps(
            [
                (
                    r[0],
                    isos[r[1]] if r[1] in isos else isos.setdefault(r[1], r[1].isoformat()),
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    scaled(r[6]),
                    r[7],
                    r[8],
                    scaled(r[9]),
                    scaled(r[10]),
                    r[11],
                )
                for r in rows
            ]  # fmt: skip
        )
        ids = conn.exec_driver_sql(
            _PG_MOVES,
            {"org": org_id, "rev": reversal, "rec": rec, "usr": user_id, "rows": payload},
        ).scalars()
        # ids come from the sequence in insertion order, which is the rows' order (ORDER BY n)
        return sorted(ids)
    effs: dict[datetime, Any] = {}
    conn.exec_driver_sql(
        _SQLITE_MOVES,
        [
            (
                org_id,
                r[0],
                r[2],
                r[3],
                r[4],
                r[5],
                scaled(r[6]),
                r[7],
                r[8],
                scaled(r[9]),
                scaled(r[10]),
                int(reversal),
                effs[r[1]] if r[1] in effs else effs.setdefault(r[1], to_db(r[1])),
                rec,
                user_id,
                r[11],
            )  # fmt: skip
            for r in rows
        ],
    )
    # SQLite writers hold the database lock (BEGIN IMMEDIATE), and rowids are max + 1: the rows
    # just inserted are the last len(rows) ids.
    last = conn.exec_driver_sql("SELECT max(id) FROM moves").scalar_one()
    return list(range(last - len(rows) + 1, last + 1))


_LINE_COLS = "org_id, document_id, line_no, variant_id, qty, unit_cost, lot, expiry, serials"

_PG_LINES = f"""
INSERT INTO document_lines ({_LINE_COLS})
SELECT %(org)s, (e->>0)::bigint, (e->>1)::int, (e->>2)::bigint, (e->>3)::bigint,
       (e->>4)::bigint, e->>5, e->>6, e->7
FROM json_array_elements(%(rows)s::json) AS x(e)
"""

_SQLITE_LINES = f"INSERT INTO document_lines ({_LINE_COLS}) VALUES ({', '.join('?' * 9)})"

# (document, line_no, variant, qty, unit_cost, lot, expiry, serials)
LineRow = tuple[int, int, int, Decimal, Decimal | None, str, str | None, Sequence[str]]


def insert_lines(conn: Connection, org_id: int, rows: Sequence[LineRow]) -> None:
    if conn.dialect.name == "postgresql":
        payload = json.dumps(
            [
                (r[0], r[1], r[2], scaled(r[3]), scaled(r[4]), r[5], r[6], list(r[7]) or None)
                for r in rows
            ]  # fmt: skip
        )
        conn.exec_driver_sql(_PG_LINES, {"org": org_id, "rows": payload})
        return
    conn.exec_driver_sql(
        _SQLITE_LINES,
        [
            (
                org_id,
                r[0],
                r[1],
                r[2],
                scaled(r[3]),
                scaled(r[4]),
                r[5],
                r[6],
                json.dumps(list(r[7])) if r[7] else None,
            )  # fmt: skip
            for r in rows
        ],
    )

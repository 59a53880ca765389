"""Bulk statements on the hot path, written once per engine with constant SQL text.

SQLAlchemy compiles a multi-row VALUES statement anew for every row count, and its executemany
with RETURNING falls back to a statement per row; both cost more than the database work. Here
each bulk write is one statement whose rows travel as parameters: arrays through `unnest` on
PostgreSQL, a JSON array through `json_each` on SQLite (plain executemany where nothing is
returned). Quantities and money are the same scaled integers the `Scaled` column type stores.
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
SELECT v, l, t, %(org)s, h, r
FROM unnest(%(v)s::bigint[], %(l)s::bigint[], %(t)s::text[], %(h)s::bigint[], %(r)s::bigint[])
     WITH ORDINALITY AS x(v, l, t, h, r, n)
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
    if conn.dialect.name == "postgresql":
        params = {
            "org": org_id,
            "v": [r[0] for r in rows],
            "l": [r[1] for r in rows],
            "t": [r[2] for r in rows],
            "h": [scaled(r[3]) for r in rows],
            "r": [scaled(r[4]) for r in rows],
        }
        result = conn.exec_driver_sql(_PG_UPSERT, params).all()
    else:
        payload = json.dumps([[r[0], r[1], r[2], scaled(r[3]), scaled(r[4])] for r in rows])
        result = conn.exec_driver_sql(_SQLITE_UPSERT, (org_id, payload)).all()
    return [(r[0], r[1], r[2], from_scaled(r[3]), from_scaled(r[4])) for r in result]


_MOVE_COLS = (
    "org_id, document_id, line_no, variant_id, from_location_id, to_location_id, qty, lot, "
    "serial, unit_cost, value, reversal, effective_at, recorded_at, user_id"
)

_PG_MOVES = f"""
INSERT INTO moves ({_MOVE_COLS})
SELECT %(org)s, %(doc)s, n, v, f, t, q, lot, s, c, val, %(rev)s, %(eff)s, %(rec)s, %(usr)s
FROM unnest(%(n)s::int[], %(v)s::bigint[], %(f)s::bigint[], %(t)s::bigint[], %(q)s::bigint[],
            %(lot)s::text[], %(s)s::text[], %(c)s::bigint[], %(val)s::bigint[])
     AS x(n, v, f, t, q, lot, s, c, val)
"""

_SQLITE_MOVES = f"INSERT INTO moves ({_MOVE_COLS}) VALUES ({', '.join('?' * 15)})"

# (line_no, variant, from, to, qty, lot, serial, unit_cost, value)
MoveRow = tuple[int, int, int, int, Decimal, str, str | None, Decimal | None, Decimal | None]


def _time(conn: Connection, column: Any, value: datetime) -> Any:
    proc = column.type.bind_processor(conn.dialect)
    return proc(value) if proc else value


def insert_moves(
    conn: Connection,
    org_id: int,
    document_id: int | None,
    rows: Sequence[MoveRow],
    *,
    reversal: bool,
    effective_at: datetime,
    recorded_at: datetime,
    user_id: int | None,
) -> None:
    if not rows:
        return
    eff = _time(conn, moves.c.effective_at, effective_at)
    rec = _time(conn, moves.c.recorded_at, recorded_at)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            _PG_MOVES,
            {
                "org": org_id,
                "doc": document_id,
                "rev": reversal,
                "eff": eff,
                "rec": rec,
                "usr": user_id,
                "n": [r[0] for r in rows],
                "v": [r[1] for r in rows],
                "f": [r[2] for r in rows],
                "t": [r[3] for r in rows],
                "q": [scaled(r[4]) for r in rows],
                "lot": [r[5] for r in rows],
                "s": [r[6] for r in rows],
                "c": [scaled(r[7]) for r in rows],
                "val": [scaled(r[8]) for r in rows],
            },  # fmt: skip
        )
    else:
        conn.exec_driver_sql(
            _SQLITE_MOVES,
            [
                (
                    org_id,
                    document_id,
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    scaled(r[4]),
                    r[5],
                    r[6],
                    scaled(r[7]),
                    scaled(r[8]),
                    int(reversal),
                    eff,
                    rec,
                    user_id,
                )  # fmt: skip
                for r in rows
            ],
        )


_LINE_COLS = "org_id, document_id, line_no, variant_id, qty, unit_cost, lot, expiry, serials"

_PG_LINES = f"""
INSERT INTO document_lines ({_LINE_COLS})
SELECT %(org)s, %(doc)s, n, v, q, c, lot, e, s::json
FROM unnest(%(n)s::int[], %(v)s::bigint[], %(q)s::bigint[], %(c)s::bigint[], %(lot)s::text[],
            %(e)s::text[], %(s)s::text[]) AS x(n, v, q, c, lot, e, s)
"""

_SQLITE_LINES = f"INSERT INTO document_lines ({_LINE_COLS}) VALUES ({', '.join('?' * 9)})"

# (line_no, variant, qty, unit_cost, lot, expiry, serials)
LineRow = tuple[int, int, Decimal, Decimal | None, str, str | None, Sequence[str]]


def insert_lines(conn: Connection, org_id: int, document_id: int, rows: Sequence[LineRow]) -> None:
    serials = [json.dumps(list(r[6])) if r[6] else None for r in rows]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            _PG_LINES,
            {
                "org": org_id,
                "doc": document_id,
                "n": [r[0] for r in rows],
                "v": [r[1] for r in rows],
                "q": [scaled(r[2]) for r in rows],
                "c": [scaled(r[3]) for r in rows],
                "lot": [r[4] for r in rows],
                "e": [r[5] for r in rows],
                "s": serials,
            },  # fmt: skip
        )
    else:
        conn.exec_driver_sql(
            _SQLITE_LINES,
            [
                (org_id, document_id, r[0], r[1], scaled(r[2]), scaled(r[3]), r[4], r[5], s)
                for r, s in zip(rows, serials, strict=True)
            ],
        )

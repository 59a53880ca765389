"""Set-based posting: a document's moves land in a bounded number of statements.

  1. one upsert of the touched balance rows (sorted: one lock order for every writer),
     returning the new on_hand/reserved so the invariants are checked without another read;
  2. for serial-tracked lines, one read and one upsert of the serial rows;
  3. one insert of lot rows (lots with expiry);
  4. one bulk insert of the moves.
The two statements every posting runs (1 and 4) live in `bulk`, one constant SQL text each.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Connection, or_, select, tuple_, type_coerce
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hoop.adapters.db import bulk
from hoop.adapters.db import costing as costing_db
from hoop.adapters.db.tables import locations, lots, moves, serials
from hoop.domain.errors import Conflict, InsufficientStock
from hoop.domain.ledger import (
    BalanceKey,
    Move,
    Shortage,
    balance_deltas,
    stepwise_shortages,
)
from hoop.domain.quantities import FACTOR, fmt, from_scaled, q4

CHUNK = 2000


def _chunks(seq: Sequence[Any], n: int = CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


def upsert_insert(conn: Connection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def apply_balance_deltas(
    conn: Connection,
    org_id: int,
    on_hand: dict[BalanceKey, Decimal],
    reserved: dict[BalanceKey, Decimal] | None = None,
) -> list[tuple[int, int, str, Decimal, Decimal]]:
    """Add the deltas to the balance rows (creating them), in key order; return the new rows."""
    reserved = reserved or {}
    keys = sorted(set(on_hand) | set(reserved))
    zero = Decimal(0)
    return bulk.upsert_balances(
        conn, org_id, [(*k, on_hand.get(k, zero), reserved.get(k, zero)) for k in keys]
    )


def check_stock(short: list[Shortage], names: dict[int, str]) -> None:
    if short:
        details = [
            {
                "sku": names.get(s.variant_id, str(s.variant_id)),
                "variant_id": s.variant_id,
                "location_id": s.location_id,
                "lot": s.lot or None,
                "short_by": fmt(s.missing),
            }
            for s in short
        ]
        listing = "; ".join(
            f"{d['sku']} at location {d['location_id']} short by {d['short_by']}" for d in details
        )
        raise InsufficientStock(f"not enough stock: {listing}", details)


def _apply_serials(
    conn: Connection, org_id: int, ms: list[Move], internal: set[int], now: datetime
) -> None:
    serial_moves = [m for m in ms if m.serial is not None]
    if not serial_moves:
        return
    keys = sorted({(m.variant_id, m.serial) for m in serial_moves})
    where: dict[tuple[int, str], tuple[int, bool]] = {}  # serial -> (location, is internal)
    for chunk in _chunks(keys):
        for r in conn.execute(
            select(
                serials.c.variant_id, serials.c.serial, serials.c.location_id, locations.c.internal
            )
            .join(locations, locations.c.id == serials.c.location_id)
            .where(
                serials.c.org_id == org_id,
                tuple_(serials.c.variant_id, serials.c.serial).in_(chunk),
            )
            # lock the serial rows (in key order) so a concurrent document moving the same
            # serial waits for us and then reads where we put it
            .order_by(serials.c.variant_id, serials.c.serial)
            .with_for_update(of=serials)
        ):
            where[(r.variant_id, r.serial)] = (r.location_id, r.internal)
    problems = []
    final: dict[tuple[int, str], tuple[int, str]] = {}
    for m in serial_moves:
        key = (m.variant_id, m.serial)
        if key in final:
            at = (final[key][0], final[key][0] in internal)
        else:
            at = where.get(key, (None, False))
        if m.from_location_id in internal:
            if at[0] != m.from_location_id:
                problems.append(
                    {"serial": m.serial, "expected_at": m.from_location_id, "at": at[0]}
                )
        elif at[1]:
            problems.append({"serial": m.serial, "already_at": at[0]})
        final[key] = (m.to_location_id, m.lot)
    if problems:
        raise Conflict(
            "serial numbers are not where this document says: each serial is in exactly one place",
            problems,
            code="serial_conflict",
        )
    ins = upsert_insert(conn)
    rows = [
        {
            "org_id": org_id,
            "variant_id": k[0],
            "serial": k[1],
            "location_id": v[0],
            "lot": v[1],
            "updated_at": now,
        }
        for k, v in sorted(final.items())
    ]
    # A serial with no row yet cannot be locked: two documents may both bring it in at once.
    # Insert those rows without overwriting: the loser waits for the winner's commit, inserts
    # nothing, and is refused (its transaction rolls back).
    new = [r for r in rows if (r["variant_id"], r["serial"]) not in where]
    inserted: set[tuple[int, str]] = set()
    for chunk in _chunks(new):
        inserted.update(
            (r[0], r[1])
            for r in conn.execute(
                ins(serials)
                .values(list(chunk))
                .on_conflict_do_nothing()
                .returning(serials.c.variant_id, serials.c.serial)
            )
        )
    raced = [r["serial"] for r in new if (r["variant_id"], r["serial"]) not in inserted]
    if raced:
        raise Conflict(
            "serial numbers are not where this document says: a concurrent document posted "
            "the same serials first",
            [{"serial": s, "already_at": "posted concurrently"} for s in raced],
            code="serial_conflict",
        )
    known = [r for r in rows if (r["variant_id"], r["serial"]) in where]
    if not known:
        return
    stmt = ins(serials)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[serials.c.org_id, serials.c.variant_id, serials.c.serial],
            set_={
                "location_id": stmt.excluded.location_id,
                "lot": stmt.excluded.lot,
                "updated_at": stmt.excluded.updated_at,
            },
        ),
        known,
    )


def record_lots(
    conn: Connection, org_id: int, entries: dict[tuple[int, str], str | None], now: datetime
) -> None:
    if not entries:
        return
    ins = upsert_insert(conn)
    rows = [
        {"org_id": org_id, "variant_id": v, "lot": lot, "expiry": exp, "created_at": now}
        for (v, lot), exp in sorted(entries.items())
    ]
    conn.execute(ins(lots).on_conflict_do_nothing(), rows)


MoveGroup = tuple[int | None, datetime, list[Move]]  # (document id, effective at, moves)


def check_history(
    conn: Connection,
    org_id: int,
    groups: list[MoveGroup],
    internal: set[int],
    recorded_at: datetime,
    final: dict[BalanceKey, Decimal],
) -> dict[BalanceKey, tuple[int, datetime]]:
    """A backdated move out of a location must not take stock the location only received
    later. Working back from each touched balance as it now is (`final`), through the moves
    effective from the backdated time on, finds any point where it was below zero; returns
    them (lowest scaled balance, when). Only moves from that time on are read, so the work
    grows with what came after, not with the history before. Postings effective now skip
    this (the balance check covers them); backdated inbound moves cannot lower a balance."""
    since: dict[BalanceKey, datetime] = {}
    for _, eff, ms in groups:
        if eff >= recorded_at:
            continue
        for m in ms:
            if m.from_location_id in internal:
                key = (m.variant_id, m.from_location_id, m.lot)
                since[key] = min(since.get(key, eff), eff)
    if not since:
        return {}
    locs = sorted({k[1] for k in since})
    rows = conn.execute(
        select(moves.c.variant_id, moves.c.from_location_id, moves.c.to_location_id,
               moves.c.lot, moves.c.effective_at, type_coerce(moves.c.qty, BigInteger))
        .where(
            moves.c.org_id == org_id,
            moves.c.variant_id.in_(sorted({k[0] for k in since})),
            or_(moves.c.from_location_id.in_(locs), moves.c.to_location_id.in_(locs)),
            moves.c.effective_at >= min(since.values()),
        )
        .order_by(moves.c.effective_at.desc(), moves.c.id.desc())
    )  # fmt: skip
    running = {k: int(final.get(k, Decimal(0)) * FACTOR) for k in since}
    worst: dict[BalanceKey, tuple[int, datetime]] = {}
    for variant, src, dst, lot, eff, qty in rows:
        for key, change in (((variant, dst, lot), qty), ((variant, src, lot), -qty)):
            start = since.get(key)
            if start is None or eff < start:
                continue
            # `running` is the balance just after this move; undo it for the one before
            if running[key] < worst.get(key, (0, eff))[0]:
                worst[key] = (running[key], eff)
            running[key] -= change
    return worst


def refuse_short_history(
    worst: dict[BalanceKey, tuple[int, datetime]], names: dict[int, str]
) -> None:
    if worst:
        details = [
            {"sku": names.get(k[0], str(k[0])), "variant_id": k[0], "location_id": k[1],
             "lot": k[2] or None, "at": at.isoformat(), "short_by": fmt(from_scaled(-low))}
            for k, (low, at) in sorted(worst.items())
        ]  # fmt: skip
        listing = "; ".join(
            f"{d['sku']} at location {d['location_id']} would be short by {d['short_by']} on "
            f"{d['at']}"
            for d in details
        )
        raise Conflict(
            f"backdated: this takes stock the location only received later: {listing}",
            details,
            code="insufficient_stock_at_effective_time",
        )


def post_moves(
    conn: Connection,
    org_id: int,
    groups: list[MoveGroup],
    internal: set[int],
    *,
    recorded_at: datetime,
    user_id: int | None,
    sku_names: dict[int, str],
    reversal: bool = False,
    reserved: dict[BalanceKey, Decimal] | None = None,
    virtual_types: dict[int, str] | None = None,
) -> int:
    """Post the moves of one or more documents atomically (the caller's transaction). Raises
    and writes nothing on a shortage or serial conflict (the caller rolls back). Returns the
    number of moves."""
    every = [m for _, _, ms in groups for m in ms]
    steps = [balance_deltas(ms, internal) for _, _, ms in groups] if len(groups) > 1 else []
    if steps:
        # keep keys whose changes net to zero over the batch: a step may still go short there
        totals: dict[BalanceKey, Decimal] = {}
        for step in steps:
            for k, d in step.items():
                totals[k] = totals.get(k, Decimal(0)) + d
        deltas = dict(sorted(totals.items()))
    else:
        deltas = balance_deltas(every, internal)
    rows = apply_balance_deltas(conn, org_id, deltas, reserved)
    check_stock(stepwise_shortages(rows, steps), sku_names)
    _apply_serials(conn, org_id, every, internal, recorded_at)
    move_rows = [
        (doc_id, eff, m.line_no, m.variant_id, m.from_location_id, m.to_location_id, m.qty,
         m.lot, m.serial, m.unit_cost, None if m.unit_cost is None else q4(m.qty * m.unit_cost),
         m.reverses)
        for doc_id, eff, ms in groups
        for m in ms
    ]  # fmt: skip
    ids = bulk.insert_moves(
        conn, org_id, move_rows, reversal=reversal, recorded_at=recorded_at, user_id=user_id
    )
    final = {(r[0], r[1], r[2]): r[3] for r in rows}
    refuse_short_history(
        check_history(conn, org_id, groups, internal, recorded_at, final), sku_names
    )
    if virtual_types is not None:
        valued = costing_db.classify(
            (
                (i, r[3], r[1], r[4], r[5], bulk.scaled(r[6]), bulk.scaled(r[9]), r[11])
                for i, r in zip(ids, move_rows, strict=True)
            ),
            virtual_types,
        )
        costing_db.cost_moves(conn, org_id, valued, recorded_at)
    return len(move_rows)

"""Set-based reads for replenishment: policies, shipped quantity per day, available stock and
supplier offers, each one statement for any number of variant-locations, and the roll-up of a
location's figures into the policies of the locations above it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Connection,
    DateTime,
    Integer,
    Select,
    bindparam,
    cast,
    func,
    select,
    text,
    union_all,
)

from hoop.adapters.db.incoming import OPEN_STATUSES
from hoop.adapters.db.tables import (
    balances,
    locations,
    moves,
    replenishment_policies,
    supplier_items,
    variants,
)
from hoop.adapters.db.types import Scaled, raw_scaled
from hoop.domain.quantities import ZERO, from_scaled
from hoop.domain.replenishment import Offer

Key = tuple[int, int]  # (variant_id, location_id)
LEAN_SKIP = frozenset({"created_at", "updated_at", "computed_at", "reorder_point"})
rp = replenishment_policies


def policies(
    conn: Connection,
    org_id: int,
    *,
    variant_ids: Iterable[int] | None = None,
    sku: str | None = None,
    location_path: str | None = None,
    ids: Iterable[int] | None = None,
    computed: bool = False,
    lock: bool = False,
    lean: bool = False,
) -> list[Any]:
    """Policies with their variant's sku and their location's path, in key order. `lean`
    leaves out the time stamps and gives quantities as scaled integers (what planning many
    policies reads; `service.replenishment.policy_of` converts them)."""
    cols = [
        c if not lean or not isinstance(c.type, Scaled) else raw_scaled(c).label(c.name)
        for c in rp.c
        if not lean or c.name not in LEAN_SKIP
    ]
    stmt: Select[Any] = (
        select(*cols, variants.c.sku, locations.c.path, locations.c.name.label("location_name"))
        .join(variants, variants.c.id == rp.c.variant_id)
        .join(locations, locations.c.id == rp.c.location_id)
        .where(rp.c.org_id == org_id)
    )
    if variant_ids is not None:
        stmt = stmt.where(rp.c.variant_id.in_(sorted(set(variant_ids))))
    if ids is not None:
        stmt = stmt.where(rp.c.id.in_(sorted(set(ids))))
    if sku is not None:
        stmt = stmt.where(variants.c.sku == sku)
    if location_path is not None:
        stmt = stmt.where(locations.c.path.startswith(location_path, autoescape=True))
    if computed:
        stmt = stmt.where(rp.c.reorder_point.is_not(None))
    if lock:  # one policy is evaluated by one transaction at a time (PostgreSQL)
        stmt = stmt.order_by(rp.c.id).with_for_update(of=rp)
    else:
        stmt = stmt.order_by(variants.c.sku, rp.c.location_id)
    return list(conn.execute(stmt).all())


def policy_ids(
    conn: Connection, org_id: int, *, sku: str | None = None, location_path: str | None = None,
    after: int | None = None,
) -> list[int]:  # fmt: skip
    """The ids of the policies `policies` would return for these filters, in id order, after
    `after`: a list page reads these (cheap) and loads only the rows it evaluates."""
    stmt = select(rp.c.id).where(rp.c.org_id == org_id)
    if sku is not None:
        stmt = stmt.join(variants, variants.c.id == rp.c.variant_id).where(variants.c.sku == sku)
    if location_path is not None:
        stmt = stmt.join(locations, locations.c.id == rp.c.location_id).where(
            locations.c.path.startswith(location_path, autoescape=True)
        )
    if after is not None:
        stmt = stmt.where(rp.c.id > after)
    return list(conn.execute(stmt.order_by(rp.c.id)).scalars())


def positions(conn: Connection, org_id: int, variant_ids: Iterable[int]) -> list[Any]:
    """The computed policies of these variants with their position now: available at sellable
    locations under the policy's location, incoming there, and the id of the open low-stock
    alert if there is one.

    Two statements: the policy rows are locked first (in id order), and only then are the
    positions read, in a statement of its own. On PostgreSQL a statement that waited for a lock
    still reads with the snapshot it began with, so reading in the locking statement would
    miss the stock of the transaction it waited for. When none of the variants has a policy,
    the lock finds nothing and is the only statement a posting pays for alerts."""
    vids = sorted(set(variant_ids))
    pg = conn.dialect.name == "postgresql"
    locked = conn.execute(_LOCK_PG if pg else _LOCK, {"org": org_id, "vids": vids}).scalars().all()
    if not locked:
        return []
    rows = conn.execute(_POSITIONS, {"org": org_id, "ids": list(locked)}).all()
    return [
        Position(r[0], r[1], r[2], from_scaled(r[3]), r[4], r[5], from_scaled(int(r[6])),
                 from_scaled(int(r[7])), r[8])
        for r in rows
    ]  # fmt: skip


class Position(NamedTuple):
    id: int
    variant_id: int
    location_id: int
    reorder_point: Decimal
    sku: str
    location_name: str
    available: Decimal
    incoming: Decimal
    open_alert_id: int | None


# Constant SQL (a posting runs these): no statement to build and cache-key per call.
_LOCK_SQL = (
    "SELECT id FROM replenishment_policies WHERE org_id = :org AND variant_id IN :vids "
    "AND reorder_point IS NOT NULL ORDER BY id"
)
_LOCK = text(_LOCK_SQL).bindparams(bindparam("vids", expanding=True))
_LOCK_PG = text(_LOCK_SQL + " FOR UPDATE").bindparams(bindparam("vids", expanding=True))
_POSITIONS = text(f"""
SELECT p.id, p.variant_id, p.location_id, p.reorder_point, v.sku, l.name,
       (SELECT coalesce(sum(b.on_hand - b.reserved), 0)
          FROM balances b JOIN locations sl ON sl.id = b.location_id
         WHERE b.org_id = :org AND b.variant_id = p.variant_id AND sl.internal AND sl.sellable
           AND sl.path LIKE l.path || '%'),
       (SELECT coalesce(sum(pol.qty - pol.received_qty), 0)
          FROM purchase_order_lines pol
          JOIN purchase_orders po ON po.id = pol.purchase_order_id
          JOIN locations il ON il.id = pol.location_id
         WHERE pol.org_id = :org AND pol.variant_id = p.variant_id AND pol.open
           AND po.status IN ({", ".join(f"'{s}'" for s in OPEN_STATUSES)})
           AND il.path LIKE l.path || '%'),
       (SELECT a.id FROM alerts a
         WHERE a.org_id = :org AND a.type = 'low_stock' AND a.status = 'open'
           AND a.variant_id = p.variant_id AND a.location_id = p.location_id)
  FROM replenishment_policies p
  JOIN variants v ON v.id = p.variant_id
  JOIN locations l ON l.id = p.location_id
 WHERE p.id IN :ids
 ORDER BY p.id
""").bindparams(bindparam("ids", expanding=True))


def ancestors(conn: Connection, org_id: int) -> dict[int, list[int]]:
    """Each internal location with itself and every location above it (from the path)."""
    rows = conn.execute(
        select(locations.c.id, locations.c.path).where(
            locations.c.org_id == org_id, locations.c.internal.is_(True)
        )
    ).all()
    return {r.id: [int(p) for p in r.path.strip("/").split("/") if p] or [r.id] for r in rows}


def _day_index(conn: Connection, now: datetime) -> Any:
    """Whole days between a move and `now`: 0 for the last 24 hours."""
    if conn.dialect.name == "postgresql":
        at = bindparam("now_at", now, type_=DateTime(timezone=True))
        return cast(func.floor(func.extract("epoch", at - moves.c.effective_at) / 86400), Integer)
    naive = now.astimezone(UTC).replace(tzinfo=None)  # SQLite keeps naive UTC text
    stamp = bindparam("now_s", naive.isoformat(sep=" "))
    return cast(func.julianday(stamp) - func.julianday(moves.c.effective_at), Integer)


def shipped_by_day(
    conn: Connection,
    org_id: int,
    customer_location_id: int,
    now: datetime,
    window_days: int,
    variant_ids: Iterable[int] | None = None,
) -> dict[Key, dict[int, Decimal]]:
    """{(variant, internal location): {day index: units shipped to customers}} over the
    `window_days` before `now`; a reversed shipment counts back on its own day."""
    day = _day_index(conn, now).label("day")
    start = now - timedelta(days=window_days)
    vids = None if variant_ids is None else sorted(set(variant_ids))

    def leg(out: bool) -> Select[Any]:
        here = moves.c.from_location_id if out else moves.c.to_location_id
        there = moves.c.to_location_id if out else moves.c.from_location_id
        qty = func.sum(moves.c.qty) if out else -func.sum(moves.c.qty)
        stmt = (
            select(moves.c.variant_id, here.label("loc"), day, cast(qty, BigInteger))
            .where(
                moves.c.org_id == org_id,
                there == customer_location_id,
                moves.c.effective_at > start,
                moves.c.effective_at <= now,
            )
            .group_by(moves.c.variant_id, here, day)
        )
        return stmt if vids is None else stmt.where(moves.c.variant_id.in_(vids))

    out: dict[Key, dict[int, Decimal]] = defaultdict(dict)
    for variant_id, loc, d, scaled in conn.execute(union_all(leg(True), leg(False))).all():
        if scaled is None:
            continue
        per = out[(variant_id, loc)]
        per[d] = per.get(d, ZERO) + from_scaled(scaled)
    return out


_PG_DEMAND = """
SELECT pid, CAST(sum(q) AS bigint), sum(CAST(q AS numeric) * q)
FROM (
    SELECT p.id AS pid,
           CAST(floor(extract(epoch FROM (%(now)s - m.effective_at)) / 86400) AS int) AS day,
           sum(CASE WHEN m.to_location_id = %(cust)s THEN m.qty ELSE -m.qty END) AS q
    FROM replenishment_policies p
    JOIN locations pl ON pl.id = p.location_id
    JOIN moves m ON m.org_id = p.org_id AND m.variant_id = p.variant_id
         AND m.effective_at > %(now)s - p.demand_window_days * interval '1 day'
         AND m.effective_at <= %(now)s
         AND (m.to_location_id = %(cust)s OR m.from_location_id = %(cust)s)
    JOIN locations ml ON ml.id = CASE WHEN m.to_location_id = %(cust)s
                                      THEN m.from_location_id ELSE m.to_location_id END
    WHERE p.org_id = %(org)s AND ml.path LIKE pl.path || '%%' {only}
    GROUP BY p.id, day
) daily
GROUP BY pid
"""


def demand_sums(
    conn: Connection, org_id: int, customer_location_id: int, now: datetime,
    policy_ids: Iterable[int] | None = None,
) -> dict[int, tuple[Decimal, Decimal]]:  # fmt: skip
    """PostgreSQL: {policy id: (units shipped over its window, sum of the squares of the daily
    totals)} from the policy's location and those under it; a reversed shipment counts back on
    its own day. The database adds it all up: only one row per policy comes back."""
    params: dict[str, Any] = {"org": org_id, "cust": customer_location_id, "now": now}
    only = ""
    if policy_ids is not None:
        params["ids"] = sorted(set(policy_ids))
        only = "AND p.id = ANY(%(ids)s)"
    conn.exec_driver_sql("SET LOCAL work_mem = '64MB'")  # the day groups sort in memory
    rows = conn.exec_driver_sql(_PG_DEMAND.format(only=only), params).all()
    return {pid: (from_scaled(t), Decimal(sq).scaleb(-8)) for pid, t, sq in rows}


def available_by_location(
    conn: Connection, org_id: int, variant_ids: Iterable[int] | None = None
) -> dict[Key, Decimal]:
    """{(variant, location): on hand - reserved} at the org's sellable locations."""
    sellable = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.internal.is_(True), locations.c.sellable
    )
    stmt = (
        select(
            balances.c.variant_id,
            balances.c.location_id,
            cast(func.sum(balances.c.on_hand - balances.c.reserved), BigInteger),
        )
        .where(balances.c.org_id == org_id, balances.c.location_id.in_(sellable))
        .group_by(balances.c.variant_id, balances.c.location_id)
    )
    if variant_ids is not None:
        stmt = stmt.where(balances.c.variant_id.in_(sorted(set(variant_ids))))
    return {(v, loc): from_scaled(q) for v, loc, q in conn.execute(stmt).all() if q}


def offers(
    conn: Connection, org_id: int, variant_ids: Iterable[int] | None = None
) -> dict[int, list[Offer]]:
    si = supplier_items
    stmt = select(
        si.c.variant_id, si.c.supplier_id, raw_scaled(si.c.price), raw_scaled(si.c.lead_time_days),
        raw_scaled(si.c.moq), raw_scaled(si.c.pack_size), si.c.preferred,
    ).where(si.c.org_id == org_id)  # fmt: skip
    if variant_ids is not None:
        stmt = stmt.where(si.c.variant_id.in_(sorted(set(variant_ids))))
    out: dict[int, list[Offer]] = defaultdict(list)
    f = from_scaled
    for v, sup, price, lead, moq, pack, pref in conn.execute(stmt).all():
        out[v].append(Offer(sup, f(price), f(lead), f(moq), f(pack), pref))
    return out


def roll_up(
    values: Mapping[Key, Any], keys: set[Key], up: Mapping[int, list[int]], add: Any
) -> dict[Key, Any]:
    """Credit each (variant, location) figure to the policies (in `keys`) of that location and
    of every location above it. `add(acc, value)` returns the new accumulator (None at first)."""
    out: dict[Key, Any] = {}
    for (variant_id, loc), value in values.items():
        for a in up.get(loc, (loc,)):
            k = (variant_id, a)
            if k in keys:
                out[k] = add(out.get(k), value)
    return out

"""Replenishment planning: policies per variant and location, what each means today (demand,
safety stock, reorder point), suggestions with their reasons, suggestions turned into draft
purchase orders, and a projection of stock over the coming lead times.

The math is `hoop.domain.replenishment`; the set-based reads are
`hoop.adapters.db.replenishment`. Min/max policies (for low-stock alerts) are in every plan;
EOQ, computed safety stock, suggestions and projections need Pro (`replenishment.planning`).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from hoop.adapters.db import replenishment as db
from hoop.adapters.db.incoming import incoming_by_location
from hoop.adapters.db.tables import (
    locations,
    purchase_order_lines,
    purchase_orders,
    replenishment_policies,
    suppliers,
)
from hoop.domain import replenishment as rules
from hoop.domain.errors import NotFound, ValidationFailed
from hoop.domain.quantities import from_scaled, parse_decimal, to_scaled
from hoop.service import alerts, audit
from hoop.service.catalog import virtual_location_ids
from hoop.service.context import Actor
from hoop.service.queries import variant_by_ref

FEATURE = "replenishment.planning"
ZERO = Decimal(0)
CHUNK = 5000  # policies evaluated per round of set-based reads when a page is asked for
WHOLE_ORG = 10_000  # from this many policies on (never a page's chunk), reads take the whole org
MAX_SELECTED = 10_000  # policy ids one request may turn into purchase-order lines
rp = replenishment_policies

POLICY_FIELDS = {
    "sku", "variant_id", "location_id", "method", "min", "max", "safety_stock", "service_level",
    "lead_time_days", "order_cost", "holding_rate", "demand_window_days", "supplier_id",
}  # fmt: skip
DECIMALS = {
    "min": "min_qty", "max": "max_qty", "safety_stock": "safety_stock",
    "service_level": "service_level", "lead_time_days": "lead_time_days",
    "order_cost": "order_cost", "holding_rate": "holding_rate",
}  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


def _dec(v: Any) -> Decimal | None:
    """A quantity read either as a Decimal or (lean reads) as its scaled integer."""
    return from_scaled(v) if isinstance(v, int) else v


def policy_of(row: Any) -> rules.Policy:
    return rules.Policy(
        row.method, _dec(row.min_qty), _dec(row.max_qty), _dec(row.safety_stock),
        _dec(row.service_level), _dec(row.lead_time_days), _dec(row.order_cost),
        _dec(row.holding_rate), row.demand_window_days, row.supplier_id,
    )  # fmt: skip


def _needs_planning(p: rules.Policy) -> bool:
    return p.method == "eoq"


# ------------------------------------------------------------------ evaluation


class Evaluated(NamedTuple):
    row: Any
    policy: rules.Policy
    plan: rules.Plan
    available: Decimal
    incoming: Decimal

    @property
    def position(self) -> Decimal:
        return self.available + self.incoming


def _merge_days(acc: dict[int, Decimal] | None, days: dict[int, Decimal]) -> dict[int, Decimal]:
    acc = dict(acc or {})
    for d, q in days.items():
        acc[d] = acc.get(d, ZERO) + q
    return acc


def _add(acc: Decimal | None, q: Decimal) -> Decimal:
    return (acc or ZERO) + q


def evaluate(conn: Connection, org_id: int, rows: list[Any], now: datetime) -> list[Evaluated]:
    """What each policy means today, with a bounded number of statements for the lot."""
    if not rows:
        return []
    keys = {(r.variant_id, r.location_id) for r in rows}
    vids = None if len(keys) >= WHOLE_ORG else {k[0] for k in keys}
    up = db.ancestors(conn, org_id)
    customer = virtual_location_ids(conn, org_id)["customer"]
    pg = conn.dialect.name == "postgresql"
    if pg:  # the database sums each policy's days
        ids = None if vids is None else [r.id for r in rows]
        sums = db.demand_sums(conn, org_id, customer, now, ids)
        shipped: dict[tuple[int, int], dict[int, Decimal]] = {}
    else:
        window = max(r.demand_window_days for r in rows)
        shipped = db.roll_up(
            db.shipped_by_day(conn, org_id, customer, now, window, vids), keys, up, _merge_days
        )
        sums = {}
    available = db.roll_up(db.available_by_location(conn, org_id, vids), keys, up, _add)
    incoming = db.roll_up(incoming_by_location(conn, org_id, vids), keys, up, _add)
    offers = db.offers(conn, org_id, vids)
    out = []
    chosen: dict[tuple[int, int | None], rules.Offer | None] = {}  # a variant's, per supplier
    for r in rows:
        k = (r.variant_id, r.location_id)
        policy = policy_of(r)
        if pg:
            total, squares = sums.get(r.id, (ZERO, ZERO))
            demand = rules.demand_from_sums(total, squares, r.demand_window_days)
        else:
            demand = rules.demand_from_days(shipped.get(k, {}), r.demand_window_days)
        ck = (r.variant_id, policy.supplier_id)
        if ck not in chosen:
            chosen[ck] = rules.choose_offer(offers.get(r.variant_id, ()), policy.supplier_id)
        p = rules.plan(policy, demand, (), chosen[ck])
        out.append(Evaluated(r, policy, p, available.get(k, ZERO), incoming.get(k, ZERO)))
    return out


def store_plans(conn: Connection, evaluated: list[Evaluated], now: datetime) -> None:
    """Keep each policy's reorder point, so postings can check positions against it."""
    if not evaluated:
        return
    if conn.dialect.name == "postgresql":  # one statement, the rows as one JSON parameter
        conn.exec_driver_sql(
            "UPDATE replenishment_policies p SET reorder_point = x.rop, computed_at = %(now)s "
            "FROM json_to_recordset(%(rows)s::json) AS x(id bigint, rop bigint) "
            "WHERE p.id = x.id",
            {"rows": _records(evaluated), "now": now},
        )  # fmt: skip
        return
    conn.execute(
        update(rp).where(rp.c.id == bindparam("pid")).values(
            reorder_point=bindparam("rop"), computed_at=now
        ),
        [{"pid": e.row.id, "rop": e.plan.reorder_point} for e in evaluated],
    )  # fmt: skip


def _records(evaluated: list[Evaluated]) -> str:
    return json.dumps([{"id": e.row.id, "rop": to_scaled(e.plan.reorder_point)} for e in evaluated])


# ------------------------------------------------------------------ policies


def _location(conn: Connection, org_id: int, location_id: Any) -> Any:
    if not isinstance(location_id, int) or isinstance(location_id, bool):
        raise ValidationFailed("location_id must be a location id", {"field": "location_id"})
    row = conn.execute(
        select(locations.c.id, locations.c.internal, locations.c.path, locations.c.name).where(
            locations.c.id == location_id, locations.c.org_id == org_id
        )
    ).first()
    if row is None:
        raise NotFound("no such location", {"location_id": location_id})
    if not row.internal:
        raise ValidationFailed(
            "policies are for the org's own locations, not virtual ones", {"field": "location_id"}
        )
    return row


def _supplier(conn: Connection, org_id: int, supplier_id: Any) -> int | None:
    if supplier_id is None:
        return None
    if not isinstance(supplier_id, int) or isinstance(supplier_id, bool):
        raise ValidationFailed("supplier_id must be a supplier id", {"field": "supplier_id"})
    found = conn.execute(
        select(suppliers.c.id).where(suppliers.c.id == supplier_id, suppliers.c.org_id == org_id)
    ).scalar()
    if found is None:
        raise NotFound("no such supplier", {"supplier_id": supplier_id})
    return supplier_id


def put_policy(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Create or replace the policy of one variant at one location; its reorder point is
    computed at once and its low-stock alert re-evaluated in the same transaction."""
    actor.require("replenishment.plan")
    unknown = set(data) - POLICY_FIELDS
    if unknown:
        raise ValidationFailed(f"unknown fields {sorted(unknown)}", {"fields": sorted(unknown)})
    sku, vid = data.get("sku"), data.get("variant_id")
    if sku is not None and not isinstance(sku, str):
        raise ValidationFailed("sku must be text", {"field": "sku"})
    if vid is not None and (not isinstance(vid, int) or isinstance(vid, bool)):
        raise ValidationFailed("variant_id must be an id", {"field": "variant_id"})
    values: dict[str, Any] = {f: None for f in DECIMALS.values()}
    for field, column in DECIMALS.items():
        if data.get(field) is not None:
            values[column] = parse_decimal(data[field], field)
    window = data.get("demand_window_days", rules.DEFAULT_WINDOW_DAYS)
    if not isinstance(window, int) or isinstance(window, bool):
        raise ValidationFailed(
            "demand_window_days must be whole days", {"field": "demand_window_days"}
        )
    policy = rules.validate_policy(
        rules.Policy(
            method=data.get("method") or "",
            demand_window_days=window,
            **{k: v for k, v in values.items()},
        )  # fmt: skip
    )
    if _needs_planning(policy):
        actor.require("replenishment.plan", FEATURE)
    variant = variant_by_ref(conn, actor, sku, vid)
    loc = _location(conn, actor.org_id, data.get("location_id"))
    supplier_id = _supplier(conn, actor.org_id, data.get("supplier_id"))
    now = _now()
    values.update(method=policy.method, demand_window_days=window, supplier_id=supplier_id,
                  updated_at=now)  # fmt: skip
    key = (
        (rp.c.org_id == actor.org_id)
        & (rp.c.variant_id == variant.id)
        & (rp.c.location_id == loc.id)
    )
    before = conn.execute(select(rp).where(key).with_for_update()).first()
    if before is None:
        pid = conn.execute(
            insert(rp).values(org_id=actor.org_id, variant_id=variant.id, location_id=loc.id,
                              created_at=now, **values).returning(rp.c.id)
        ).scalar_one()  # fmt: skip
    else:
        pid = before.id
        conn.execute(update(rp).where(rp.c.id == pid).values(**values))
    rows = db.policies(conn, actor.org_id, ids=[pid], lock=True)
    evaluated = evaluate(conn, actor.org_id, rows, now)
    store_plans(conn, evaluated, now)
    alerts.sync(conn, actor.org_id, [(e.row, e.position, e.plan.reorder_point) for e in evaluated])
    out = _shape_policy(evaluated[0])
    prior = None if before is None else _policy_fields(before)
    audit.record(conn, actor, "replenishment.policy.put", "replenishment_policy", pid, prior,
                 _policy_fields(out))  # fmt: skip
    return out


def _policy_fields(r: Any) -> dict[str, Any]:
    get = r.get if isinstance(r, dict) else lambda k: getattr(r, k, None)
    return {k: get(k) for k in ("method", "min_qty", "max_qty", "safety_stock", "service_level",
                                "lead_time_days", "order_cost", "holding_rate", "supplier_id",
                                "demand_window_days")}  # fmt: skip


def _shape_policy(e: Evaluated) -> dict[str, Any]:
    r = e.row
    return {
        "id": r.id, "sku": r.sku, "variant_id": r.variant_id, "location_id": r.location_id,
        "method": r.method, "min": r.min_qty, "max": r.max_qty, "min_qty": r.min_qty,
        "max_qty": r.max_qty, "safety_stock": r.safety_stock, "service_level": r.service_level,
        "lead_time_days": r.lead_time_days, "order_cost": r.order_cost,
        "holding_rate": r.holding_rate, "demand_window_days": r.demand_window_days,
        "supplier_id": r.supplier_id, "reorder_point": e.plan.reorder_point,
        "safety_stock_effective": e.plan.safety_stock, "daily_demand": e.plan.demand.daily,
        "lead_time_effective": e.plan.lead_time_days, "available": e.available,
        "incoming": e.incoming, "position": e.position, "updated_at": r.updated_at,
    }  # fmt: skip


def list_policies(
    conn: Connection, actor: Actor, sku: str | None, location_id: int | None, limit: int,
    after: int | None,
) -> list[dict[str, Any]]:  # fmt: skip
    actor.require("replenishment.read")
    path = _location(conn, actor.org_id, location_id).path if location_id is not None else None
    stmt_rows = [
        r for r in db.policies(conn, actor.org_id, sku=sku, location_path=path)
        if after is None or r.id > after
    ]  # fmt: skip
    rows = sorted(stmt_rows, key=lambda r: r.id)[:limit]
    return [_shape_policy(e) for e in evaluate(conn, actor.org_id, rows, _now())]


def delete_policy(conn: Connection, actor: Actor, policy_id: int) -> dict[str, Any]:
    actor.require("replenishment.plan")
    row = conn.execute(
        select(rp).where(rp.c.id == policy_id, rp.c.org_id == actor.org_id).with_for_update()
    ).first()
    if row is None:
        raise NotFound("no such policy", {"policy_id": policy_id})
    conn.execute(delete(rp).where(rp.c.id == policy_id))
    resolved = alerts.resolve_for(conn, actor.org_id, [(row.variant_id, row.location_id)])
    audit.record(conn, actor, "replenishment.policy.delete", "replenishment_policy", policy_id,
                 _policy_fields(row), None)  # fmt: skip
    return {"id": policy_id, "deleted": True, "alerts_resolved": resolved}


# ------------------------------------------------------------------ suggestions


def _suggestion(e: Evaluated) -> dict[str, Any] | None:
    s = rules.suggest(e.policy, e.plan, e.available, e.incoming)
    if s is None:
        return None
    o = e.plan.offer
    return {
        "policy_id": e.row.id, "sku": e.row.sku, "variant_id": e.row.variant_id,
        "location_id": e.row.location_id, "location_name": e.row.location_name,
        "method": e.policy.method, "supplier_id": e.plan.supplier_id,
        "unit_price": o.price if o else None, "available": e.available,
        "incoming": e.incoming, "position": e.position, "reorder_point": e.plan.reorder_point,
        "safety_stock": e.plan.safety_stock, "daily_demand": e.plan.demand.daily,
        "demand_sigma": e.plan.demand.sigma, "lead_time_days": e.plan.lead_time_days,
        "eoq": s.eoq, "suggested_qty": s.qty, "reason": s.reason,
    }  # fmt: skip


def suggestions(
    conn: Connection,
    actor: Actor,
    *,
    sku: str | None = None,
    location_id: int | None = None,
    supplier_id: int | None = None,
    limit: int | None = None,
    after: int | None = None,
    policy_ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """Every policy at or under its reorder point, in policy id order, from `after` on;
    `policy_ids` evaluates only those policies (ids of other orgs are never read)."""
    actor.require("replenishment.read", FEATURE)
    path = _location(conn, actor.org_id, location_id).path if location_id is not None else None
    now = _now()
    out: list[dict[str, Any]] = []
    if policy_ids is not None:
        rows = db.policies(conn, actor.org_id, ids=policy_ids, sku=sku, location_path=path,
                           lean=True)  # fmt: skip
        chunks: Iterator[list[Any]] = iter(
            [sorted((r for r in rows if after is None or r.id > after), key=lambda r: r.id)]
        )
    else:
        chunks = _chunks(conn, actor.org_id, sku, path, after, limit)
    for chunk in chunks:
        for e in evaluate(conn, actor.org_id, chunk, now):
            s = _suggestion(e)
            if s is not None and (supplier_id is None or s["supplier_id"] == supplier_id):
                out.append(s)
                if limit is not None and len(out) == limit:
                    return out
    return out


def _chunks(
    conn: Connection, org_id: int, sku: str | None, path: str | None, after: int | None,
    limit: int | None,
) -> Iterator[list[Any]]:  # fmt: skip
    """Policies in id order, in rounds of set-based reads. Everything: one round over the
    whole org (its reads need no id lists). A page: only the ids are read, then rows chunk by
    chunk, starting small (a page of 25 where most policies are low costs one round of 100,
    not 5,000) and growing fourfold while the page is not full."""
    if limit is None:
        rows = db.policies(conn, org_id, sku=sku, location_path=path, lean=True)
        yield sorted((r for r in rows if after is None or r.id > after), key=lambda r: r.id)
        return
    ids = db.policy_ids(conn, org_id, sku=sku, location_path=path, after=after)
    size, i = min(CHUNK, max(4 * limit, 100)), 0
    while i < len(ids):
        chunk_ids, i = ids[i : i + size], i + size
        size = min(CHUNK, size * 4)
        yield sorted(db.policies(conn, org_id, ids=chunk_ids, lean=True), key=lambda r: r.id)


def suggestions_to_purchase_orders(
    conn: Connection, actor: Actor, data: dict[str, Any]
) -> dict[str, Any]:
    """Draft purchase orders from the current suggestions, one per supplier, lines priced from
    the supplier items and expected after each line's lead time."""
    actor.require("replenishment.plan", FEATURE)
    actor.require("purchasing.write")
    from hoop.service import purchasing  # imported here: purchasing reaches alerts, not this

    unknown = set(data) - {"skus", "policy_ids", "location_id", "supplier_id"}
    if unknown:
        raise ValidationFailed(f"unknown fields {sorted(unknown)}", {"fields": sorted(unknown)})
    skus = data.get("skus")
    if skus is not None and (
        not isinstance(skus, list) or not all(isinstance(s, str) for s in skus) or not skus
    ):
        raise ValidationFailed("skus must be a non-empty list of skus", {"field": "skus"})
    ids = _policy_ids(data.get("policy_ids"))
    items = suggestions(conn, actor, location_id=data.get("location_id"),
                        supplier_id=data.get("supplier_id"), policy_ids=ids)  # fmt: skip
    if skus is not None:
        unknown_skus = sorted(set(skus) - {s["sku"] for s in items})
        if unknown_skus:
            raise ValidationFailed(
                f"no suggestion for: {', '.join(unknown_skus)}", {"skus": unknown_skus}
            )
        items = [s for s in items if s["sku"] in set(skus)]
    if ids is not None:
        _require_suggested(conn, actor.org_id, ids, items)
    now = _now()
    by_supplier: dict[int, list[dict[str, Any]]] = defaultdict(list)
    skipped = []
    for s in items:
        why = None
        if s["suggested_qty"] <= 0:
            why = "nothing to order"
        elif s["supplier_id"] is None:
            why = "no supplier sells it"
        elif s["unit_price"] is None:
            why = "the policy's supplier has no price for it"
        if why:
            skipped.append({"sku": s["sku"], "location_id": s["location_id"], "reason": why})
            continue
        due = now + timedelta(days=float(s["lead_time_days"]))
        by_supplier[s["supplier_id"]].append(
            {"variant_id": s["variant_id"], "qty": s["suggested_qty"],
             "unit_price": s["unit_price"], "location_id": s["location_id"], "expected_at": due}
        )  # fmt: skip
    drafts = [
        {"supplier_id": sid, "location_id": lines[0]["location_id"],
         "expected_at": max(ln["expected_at"] for ln in lines), "lines": lines}
        for sid, lines in sorted(by_supplier.items())
    ]  # fmt: skip
    pos = purchasing.create_purchase_orders(conn, actor, drafts) if drafts else []
    return {"purchase_orders": pos, "skipped": skipped}


def _policy_ids(raw: Any) -> list[int] | None:
    """The exact suggestions asked for, by policy id (one per variant and location)."""
    if raw is None:
        return None
    if (
        not isinstance(raw, list) or not raw or len(raw) > MAX_SELECTED
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in raw)
    ):  # fmt: skip
        raise ValidationFailed(
            f"policy_ids must be a non-empty list of at most {MAX_SELECTED} policy ids",
            {"field": "policy_ids"},
        )
    return sorted(set(raw))


def _require_suggested(
    conn: Connection, org_id: int, ids: list[int], items: list[dict[str, Any]]
) -> None:
    """Every id asked for is a current suggestion (under the other filters); otherwise nothing
    is made: a 404 for ids that are no policy of the org, else a 422 naming the ones that are
    no longer (or, under the filters, not) suggested."""
    missing = sorted(set(ids) - {s["policy_id"] for s in items})
    if not missing:
        return
    known = sorted(db.policies(conn, org_id, ids=missing, lean=True), key=lambda r: r.id)
    absent = sorted(set(missing) - {r.id for r in known})
    if absent:
        raise NotFound(f"no such policy: {', '.join(map(str, absent))}", {"policy_ids": absent})
    names = ", ".join(f"{r.sku} at {r.location_name}" for r in known)
    raise ValidationFailed(f"no suggestion for: {names}", {"policy_ids": missing})


# ------------------------------------------------------------------ projection


def projection(
    conn: Connection, actor: Actor, sku: str | None, variant_id: int | None = None,
    location_id: int | None = None, days: int | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Available stock over the coming days: today's available, less daily demand, plus the
    open purchase-order lines on their expected dates (overdue ones count today)."""
    actor.require("replenishment.read", FEATURE)
    variant = variant_by_ref(conn, actor, sku, variant_id)
    if days is not None and not 1 <= days <= 365:
        raise ValidationFailed("days must be 1 to 365", {"field": "days"})
    org_id = actor.org_id
    now = _now()
    scope_path = _location(conn, org_id, location_id).path if location_id is not None else None
    up = db.ancestors(conn, org_id)
    paths = {loc: "/" + "/".join(map(str, chain)) + "/" for loc, chain in up.items()}

    def in_scope(loc: int) -> bool:
        return scope_path is None or paths.get(loc, "").startswith(scope_path)

    row = None
    if location_id is not None:
        rows = db.policies(conn, org_id, variant_ids=[variant.id])
        row = next((r for r in rows if r.location_id == location_id), None)
    if row is not None:
        e = evaluate(conn, org_id, [row], now)[0]
        plan, available = e.plan, e.available
    else:
        window = rules.DEFAULT_WINDOW_DAYS
        customer = virtual_location_ids(conn, org_id)["customer"]
        shipped: dict[int, Decimal] = {}
        for (_, loc), per in db.shipped_by_day(
            conn, org_id, customer, now, window, [variant.id]
        ).items():
            if in_scope(loc):
                shipped = _merge_days(shipped, per)
        available = sum(
            (q for (_, loc), q in db.available_by_location(conn, org_id, [variant.id]).items()
             if in_scope(loc)), ZERO,
        )  # fmt: skip
        offers = db.offers(conn, org_id, [variant.id]).get(variant.id, [])
        plan = rules.plan(
            rules.Policy(method="eoq", safety_stock=ZERO, order_cost=ZERO, holding_rate=Decimal(1)),
            rules.demand_from_days(shipped, window), offers,
        )  # fmt: skip
    lead = plan.lead_time_days
    horizon = days or min(365, max(14, math.ceil(2 * lead)))
    receipts = _expected_receipts(conn, org_id, variant.id, in_scope, now, lead)
    today = now.date()
    points = []
    level, arrived, d = available, ZERO, plan.demand.daily
    stockout = None
    for t in range(horizon + 1):
        day = today + timedelta(days=t)
        came = sum((r["qty"] for r in receipts if r["date"] == day), ZERO)
        arrived += came
        level = available + arrived - d * t
        if stockout is None and level <= 0 and d > 0:
            stockout = day
        points.append({"date": day, "projected_available": rules.q4(level), "receipts": came,
                       "demand": rules.q4(d * t)})  # fmt: skip
    return {
        "sku": variant.sku, "variant_id": variant.id, "location_id": location_id,
        "policy_id": row.id if row is not None else None, "as_of": now,
        "available": available, "daily_demand": d, "demand_sigma": plan.demand.sigma,
        "lead_time_days": lead, "reorder_point": plan.reorder_point if row else None,
        "safety_stock": plan.safety_stock if row else None, "horizon_days": horizon,
        "receipts": receipts, "points": points, "stockout_date": stockout,
    }  # fmt: skip


def _expected_receipts(
    conn: Connection, org_id: int, variant_id: int, in_scope: Any, now: datetime, lead: Decimal
) -> list[dict[str, Any]]:
    pol, po = purchase_order_lines, purchase_orders
    rows = conn.execute(
        select(po.c.id, pol.c.location_id, pol.c.qty, pol.c.received_qty, pol.c.expected_at,
               po.c.expected_at.label("po_expected_at"))
        .join(po, po.c.id == pol.c.purchase_order_id)
        .where(pol.c.org_id == org_id, pol.c.variant_id == variant_id, pol.c.open.is_(True),
               po.c.status.in_(("draft", "sent", "partially_received")))
    ).all()  # fmt: skip
    today = now.date()
    out = []
    for r in rows:
        if not in_scope(r.location_id) or r.qty <= r.received_qty:
            continue
        due = r.expected_at or r.po_expected_at or now + timedelta(days=float(lead))
        out.append({"purchase_order_id": r.id, "location_id": r.location_id,
                    "qty": r.qty - r.received_qty, "date": max(due.date(), today)})  # fmt: skip
    return sorted(out, key=lambda x: (x["date"], x["purchase_order_id"]))


# ------------------------------------------------------------------ scheduler


def refresh_due(conn: Connection, max_age_seconds: float, batch: int = 1000) -> int:
    """Recompute the reorder points not computed within `max_age_seconds` (demand moves with
    time) and re-evaluate their alerts. Several workers share the work (SKIP LOCKED)."""
    now = _now()
    stale = now - timedelta(seconds=max_age_seconds)
    picked = conn.execute(
        select(rp.c.id, rp.c.org_id)
        .where((rp.c.computed_at.is_(None)) | (rp.c.computed_at < stale))
        .order_by(rp.c.computed_at.nulls_first(), rp.c.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    by_org: dict[int, list[int]] = defaultdict(list)
    for r in picked:
        by_org[r.org_id].append(r.id)
    for org_id, ids in by_org.items():
        evaluated = evaluate(conn, org_id, db.policies(conn, org_id, ids=ids), now)
        store_plans(conn, evaluated, now)
        alerts.sync(conn, org_id, [(e.row, e.position, e.plan.reorder_point) for e in evaluated])
    return len(picked)

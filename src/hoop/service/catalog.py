"""Products, variants and locations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from hoop.adapters.db.tables import locations, orgs, products, variants
from hoop.domain.catalog import (
    ProductStatus,
    Tracking,
    check_status_transition,
    normalize_gtin,
    validate_sku,
)
from hoop.domain.errors import Conflict, NotFound, ValidationFailed
from hoop.domain.locations import ROOT_TYPES, LocationType, child_allowed, is_internal
from hoop.domain.quantities import parse_decimal
from hoop.service import audit, costing
from hoop.service.context import Actor

COSTING = ("fifo", "lifo", "average")


def _now() -> datetime:
    return datetime.now(UTC)


def _text(value: Any, field: str, max_len: int, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise ValidationFailed(f"{field} is required", {"field": field})
        return None
    value = str(value).strip()
    if required and not value:
        raise ValidationFailed(f"{field} must not be empty", {"field": field})
    if len(value) > max_len:
        raise ValidationFailed(f"{field} is longer than {max_len} characters", {"field": field})
    return value


def _enum(value: Any, enum: Any, field: str) -> str:
    if value not in enum.__members__:
        raise ValidationFailed(
            f"{field} must be one of " + ", ".join(enum.__members__), {"field": field}
        )
    return str(value)


def _check_costing(actor: Actor, method: str | None) -> None:
    if method is None:
        return
    if method not in COSTING:
        raise ValidationFailed(
            "costing_method must be fifo, lifo or average", {"field": "costing_method"}
        )
    actor.require("catalog.write", feature="costing.per_product")
    if method in ("fifo", "lifo"):
        actor.require("catalog.write", feature="costing.fifo_lifo")


def _variant_values(actor: Actor, raw: dict[str, Any], idx: int) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationFailed("each variant is an object", {"index": idx})
    sku = validate_sku(str(raw.get("sku") or ""))
    gtin = raw.get("gtin")
    attrs = raw.get("attributes") or {}
    if not isinstance(attrs, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool) for k, v in attrs.items()
    ):
        raise ValidationFailed(
            "attributes must be an object of simple values", {"index": idx, "field": "attributes"}
        )
    price = raw.get("price")
    price_d = parse_decimal(price, "price") if price is not None else None
    if price_d is not None and price_d < 0:
        raise ValidationFailed("price must not be negative", {"index": idx, "field": "price"})
    return {
        "org_id": actor.org_id,
        "sku": sku,
        "gtin": normalize_gtin(str(gtin)) if gtin not in (None, "") else None,
        "attributes": attrs,
        "price": price_d,
    }


def _check_unique(conn: Connection, org_id: int, vals: list[dict[str, Any]]) -> None:
    skus = [v["sku"] for v in vals]
    gtins = [v["gtin"] for v in vals if v["gtin"]]
    if len(set(skus)) != len(skus):
        raise Conflict("the same sku appears twice", {"field": "sku"}, code="duplicate_sku")
    if len(set(gtins)) != len(gtins):
        raise Conflict("the same gtin appears twice", {"field": "gtin"}, code="duplicate_gtin")
    taken = (
        conn.execute(
            select(variants.c.sku).where(variants.c.org_id == org_id, variants.c.sku.in_(skus))
        )
        .scalars()
        .all()
    )
    if taken:
        raise Conflict(
            f"sku already exists: {', '.join(sorted(taken))}",
            {"skus": sorted(taken)},
            code="duplicate_sku",
        )
    if gtins:
        taken = (
            conn.execute(
                select(variants.c.gtin).where(
                    variants.c.org_id == org_id, variants.c.gtin.in_(gtins)
                )
            )
            .scalars()
            .all()
        )
        if taken:
            raise Conflict(
                f"gtin already exists: {', '.join(sorted(taken))}",
                {"gtins": sorted(taken)},
                code="duplicate_gtin",
            )


def create_product(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    actor.require("catalog.write")
    name = _text(data.get("name"), "name", 300)
    status = _enum(data.get("status") or "active", ProductStatus, "status")
    tracking = _enum(data.get("tracking") or "none", Tracking, "tracking")
    tracks_expiry = bool(data.get("tracks_expiry") or False)
    if tracks_expiry and tracking == "none":
        raise ValidationFailed(
            "tracks_expiry needs lot or serial tracking", {"field": "tracks_expiry"}
        )
    if tracking != "none":
        actor.require("catalog.write", feature="traceability")
    method = data.get("costing_method")
    _check_costing(actor, method)
    raw_variants = data.get("variants") or []
    if not isinstance(raw_variants, list) or not raw_variants:
        raise ValidationFailed("a product needs at least one variant", {"field": "variants"})
    if len(raw_variants) > 1000:
        raise ValidationFailed("at most 1000 variants per product", {"field": "variants"})
    vals = [_variant_values(actor, v, i) for i, v in enumerate(raw_variants)]
    _check_unique(conn, actor.org_id, vals)
    now = _now()
    pid = conn.execute(
        insert(products)
        .values(
            org_id=actor.org_id,
            name=name,
            description=_text(data.get("description"), "description", 10_000, required=False),
            status=status,
            tracking=tracking,
            tracks_expiry=tracks_expiry,
            costing_method=method,
            created_at=now,
            updated_at=now,
        )
        .returning(products.c.id)
    ).scalar_one()
    conn.execute(insert(variants), [{**v, "product_id": pid, "created_at": now} for v in vals])
    # the method it is created with (None: the org's), which holds for all of its history
    costing.record_method(conn, actor.org_id, method, now, product_id=pid, user_id=actor.user_id)
    out = get_product(conn, actor, pid)
    audit.record(conn, actor, "product.create", "product", pid, None, out)
    return out


def _variant_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "product_id": r.product_id,
        "sku": r.sku,
        "gtin": r.gtin,
        "attributes": r.attributes,
        "price": r.price,
    }


def get_product(conn: Connection, actor: Actor, product_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(products).where(products.c.id == product_id, products.c.org_id == actor.org_id)
    ).first()
    if row is None:
        raise NotFound("no such product", {"id": product_id})
    return _with_variants(conn, [row])[0]


def _with_variants(conn: Connection, rows: list[Any]) -> list[dict[str, Any]]:
    """Product rows with their variants, in one query for the whole list."""
    by_product: dict[int, list[dict[str, Any]]] = {r.id: [] for r in rows}
    if by_product:
        for v in conn.execute(
            select(variants)
            .where(variants.c.product_id.in_(list(by_product)))
            .order_by(variants.c.id)
        ):
            by_product[v.product_id].append(_variant_out(v))
    out = []
    for r in rows:
        d = dict(r._mapping)
        d.pop("org_id")
        d["variants"] = by_product[r.id]
        out.append(d)
    return out


def list_products(
    conn: Connection,
    actor: Actor,
    limit: int,
    after: int | None,
    q: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    stmt = select(products).where(products.c.org_id == actor.org_id)
    if after is not None:
        stmt = stmt.where(products.c.id > after)
    if status:
        stmt = stmt.where(products.c.status == _enum(status, ProductStatus, "status"))
    if q:
        # contains(..., autoescape): a typed % or _ is searched for, not a wildcard
        needle = q.lower()
        stmt = stmt.where(
            func.lower(products.c.name).contains(needle, autoescape=True)
            | products.c.id.in_(
                select(variants.c.product_id).where(
                    variants.c.org_id == actor.org_id,
                    func.lower(variants.c.sku).contains(needle, autoescape=True),
                )
            )
        )
    rows = conn.execute(stmt.order_by(products.c.id).limit(limit)).all()
    return _with_variants(conn, list(rows))


def update_product(
    conn: Connection, actor: Actor, product_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    actor.require("catalog.write")
    before = get_product(conn, actor, product_id)
    allowed = {"name", "description", "status", "costing_method", "tracks_expiry", "variants"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"cannot change {sorted(unknown)}", {"fields": sorted(unknown)})
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = _text(changes["name"], "name", 300)
    if "description" in changes:
        values["description"] = _text(changes["description"], "description", 10_000, False)
    if "status" in changes:
        new = ProductStatus(_enum(changes["status"], ProductStatus, "status"))
        check_status_transition(ProductStatus(before["status"]), new)
        values["status"] = new.value
    if "costing_method" in changes:
        _check_costing(actor, changes["costing_method"])
        values["costing_method"] = changes["costing_method"]
    if "tracks_expiry" in changes:
        te = bool(changes["tracks_expiry"])
        if te and before["tracking"] == "none":
            raise ValidationFailed(
                "tracks_expiry needs lot or serial tracking", {"field": "tracks_expiry"}
            )
        values["tracks_expiry"] = te
    new_variants = changes.get("variants")
    if new_variants is not None:
        if not isinstance(new_variants, list):
            raise ValidationFailed("variants must be a list of new variants", {"field": "variants"})
        vals = [_variant_values(actor, v, i) for i, v in enumerate(new_variants)]
        if vals:
            _check_unique(conn, actor.org_id, vals)
            now = _now()
            conn.execute(
                insert(variants), [{**v, "product_id": product_id, "created_at": now} for v in vals]
            )
    if values:
        values["updated_at"] = _now()
        conn.execute(update(products).where(products.c.id == product_id).values(**values))
    if "costing_method" in values and values["costing_method"] != before["costing_method"]:
        org_default = conn.execute(
            select(orgs.c.costing_method).where(orgs.c.id == actor.org_id)
        ).scalar_one()
        costing.method_changed(
            conn, actor, product_id=product_id, method=values["costing_method"],
            org_default=org_default,
        )  # fmt: skip
    after = get_product(conn, actor, product_id)
    audit.record(
        conn,
        actor,
        "product.update",
        "product",
        product_id,
        {k: before.get(k) for k in changes},
        {k: after.get(k) for k in changes},
    )
    return after


def find_variants(
    conn: Connection,
    actor: Actor,
    sku: str | None = None,
    gtin: str | None = None,
    limit: int = 100,
    after: int | None = None,
) -> list[dict[str, Any]]:
    stmt = (
        select(variants, products.c.name.label("product_name"), products.c.status)
        .join(products, products.c.id == variants.c.product_id)
        .where(variants.c.org_id == actor.org_id)
    )
    if sku is not None:
        stmt = stmt.where(variants.c.sku == sku)
    if gtin:
        stmt = stmt.where(variants.c.gtin == gtin.strip().zfill(14))
    if after is not None:
        stmt = stmt.where(variants.c.id > after)
    rows = conn.execute(stmt.order_by(variants.c.id).limit(limit)).all()
    return [{**_variant_out(r), "product_name": r.product_name, "status": r.status} for r in rows]


# ---------------------------------------------------------------- locations


def _location_out(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "code": r.code,
        "type": r.type,
        "parent_id": r.parent_id,
        "sellable": r.sellable,
        "internal": r.internal,
        "path": r.path,
    }


def create_location(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    actor.require("locations.write")
    name = _text(data.get("name"), "name", 200)
    code = _text(data.get("code"), "code", 64)
    kind = data.get("type")
    if kind not in [t.value for t in LocationType] or not is_internal(kind):
        raise ValidationFailed(
            "type must be warehouse, store, zone or bin (virtual locations "
            "are created with the org)",
            {"field": "type"},
        )
    parent_id = data.get("parent_id")
    parent = None
    if parent_id is not None:
        parent = conn.execute(
            select(locations).where(locations.c.id == parent_id, locations.c.org_id == actor.org_id)
        ).first()
        if parent is None:
            raise NotFound("no such parent location", {"field": "parent_id"})
        if not parent.internal or not child_allowed(parent.type, kind):
            raise ValidationFailed(
                f"a {kind} cannot sit under a {parent.type}", {"field": "parent_id"}
            )
    elif LocationType(kind) not in ROOT_TYPES:
        raise ValidationFailed(
            f"a {kind} needs a parent_id (a warehouse, store or zone)", {"field": "parent_id"}
        )
    sellable = data.get("sellable")
    if sellable is None:
        sellable = parent.sellable if parent is not None else True
    if conn.execute(
        select(locations.c.id).where(locations.c.org_id == actor.org_id, locations.c.code == code)
    ).first():
        raise Conflict(
            f"location code {code!r} already exists", {"field": "code"}, code="duplicate_code"
        )
    loc_id = conn.execute(
        insert(locations)
        .values(
            org_id=actor.org_id,
            parent_id=parent_id,
            path="",
            name=name,
            code=code,
            type=kind,
            sellable=bool(sellable),
            internal=True,
            created_at=_now(),
        )
        .returning(locations.c.id)
    ).scalar_one()
    path = (parent.path if parent is not None else "/") + f"{loc_id}/"
    conn.execute(update(locations).where(locations.c.id == loc_id).values(path=path))
    out = get_location(conn, actor, loc_id)
    audit.record(conn, actor, "location.create", "location", loc_id, None, out)
    return out


def get_location(conn: Connection, actor: Actor, location_id: int) -> dict[str, Any]:
    row = conn.execute(
        select(locations).where(locations.c.id == location_id, locations.c.org_id == actor.org_id)
    ).first()
    if row is None:
        raise NotFound("no such location", {"id": location_id})
    return _location_out(row)


def update_location(
    conn: Connection, actor: Actor, location_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    actor.require("locations.write")
    before = get_location(conn, actor, location_id)
    unknown = set(changes) - {"name", "sellable"}
    if unknown:
        raise ValidationFailed(f"cannot change {sorted(unknown)}", {"fields": sorted(unknown)})
    if not before["internal"]:
        raise ValidationFailed("virtual locations cannot be changed", {"id": location_id})
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = _text(changes["name"], "name", 200)
    if "sellable" in changes:
        if not isinstance(changes["sellable"], bool):
            raise ValidationFailed("sellable must be true or false", {"field": "sellable"})
        values["sellable"] = changes["sellable"]
    if values:
        conn.execute(update(locations).where(locations.c.id == location_id).values(**values))
    after = get_location(conn, actor, location_id)
    audit.record(conn, actor, "location.update", "location", location_id, before, after)
    return after


def list_locations(
    conn: Connection, actor: Actor, limit: int, after: int | None, type_: str | None = None
) -> list[dict[str, Any]]:
    stmt = select(locations).where(locations.c.org_id == actor.org_id)
    if after is not None:
        stmt = stmt.where(locations.c.id > after)
    if type_:
        stmt = stmt.where(locations.c.type == type_)
    rows = conn.execute(stmt.order_by(locations.c.id).limit(limit)).all()
    return [_location_out(r) for r in rows]


def virtual_location_ids(conn: Connection, org_id: int) -> dict[str, int]:
    rows = conn.execute(
        select(locations.c.type, locations.c.id).where(
            locations.c.org_id == org_id, locations.c.internal.is_(False)
        )
    ).all()
    return {r.type: r.id for r in rows}


def resolve_variants(
    conn: Connection, org_id: int, skus: set[str], ids: set[int]
) -> dict[str | int, Any]:
    """Map each given sku and variant id to its variant row (with product status and tracking).
    One query."""
    if not skus and not ids:
        return {}
    cond = []
    if skus:
        cond.append(variants.c.sku.in_(sorted(skus)))
    if ids:
        cond.append(variants.c.id.in_(sorted(ids)))
    from sqlalchemy import or_

    rows = conn.execute(
        select(
            variants.c.id,
            variants.c.sku,
            products.c.status,
            products.c.tracking,
            products.c.tracks_expiry,
            products.c.id.label("product_id"),
        )
        .join(products, products.c.id == variants.c.product_id)
        .where(variants.c.org_id == org_id, or_(*cond))
    ).all()
    out: dict[str | int, Any] = {}
    for r in rows:
        out[r.sku] = r
        out[r.id] = r
    return out

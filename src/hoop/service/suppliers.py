"""Suppliers and what they sell us (supplier items: price, lead time, MOQ, pack size)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from hoop.adapters.db.tables import orgs, supplier_items, suppliers, variants
from hoop.domain.errors import Conflict, NotFound, ValidationFailed
from hoop.domain.fields import text
from hoop.domain.quantities import ZERO, parse_decimal
from hoop.domain.replenishment import MAX_LEAD_TIME_DAYS
from hoop.service import audit
from hoop.service.catalog import resolve_variants
from hoop.service.context import Actor

CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
SUPPLIER_FIELDS = ("name", "email", "phone", "currency", "active")
ITEM_FIELDS = (
    "price", "lead_time_days", "moq", "pack_size", "preferred", "supplier_sku", "currency",
)  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ input


def currency(value: Any, field: str = "currency") -> str:
    if not isinstance(value, str) or not CURRENCY_RE.match(value):
        raise ValidationFailed(f"{field} must be a 3-letter currency code", {"field": field})
    return value.upper()


def number(value: Any, field: str, *, minimum: Any = ZERO, strict: bool = False) -> Any:
    d = parse_decimal(value, field)
    if d < minimum or (strict and d == minimum):
        word = "greater than" if strict else "at least"
        raise ValidationFailed(f"{field} must be {word} {minimum}", {"field": field})
    return d


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationFailed(f"{field} must be true or false", {"field": field})
    return value


def _unknown(data: Any, allowed: set[str]) -> None:
    if not isinstance(data, dict):
        raise ValidationFailed("the body must be an object")
    extra = set(data) - allowed
    if extra:
        raise ValidationFailed(f"unknown fields {sorted(extra)}", {"fields": sorted(extra)})


def org_currency(conn: Connection, org_id: int) -> str:
    return str(conn.execute(select(orgs.c.currency).where(orgs.c.id == org_id)).scalar_one())


# ------------------------------------------------------------------ suppliers


def _supplier_out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    return {k: d[k] for k in ("id", *SUPPLIER_FIELDS, "created_at")}


def load_supplier(conn: Connection, org_id: int, supplier_id: Any) -> dict[str, Any]:
    if isinstance(supplier_id, bool) or not isinstance(supplier_id, int):
        raise ValidationFailed("supplier_id must be an integer id", {"field": "supplier_id"})
    row = conn.execute(
        select(suppliers).where(suppliers.c.id == supplier_id, suppliers.c.org_id == org_id)
    ).first()
    if row is None:
        raise NotFound("no such supplier", {"supplier_id": supplier_id})
    return _supplier_out(row)


def _name_taken(conn: Connection, org_id: int, name: str, other_than: int | None = None) -> None:
    stmt = select(suppliers.c.id).where(suppliers.c.org_id == org_id, suppliers.c.name == name)
    if other_than is not None:
        stmt = stmt.where(suppliers.c.id != other_than)
    if conn.execute(stmt).first() is not None:
        raise Conflict(
            "a supplier with this name exists", {"name": name}, code="duplicate_supplier"
        )


def create_supplier(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    actor.require("purchasing.write")
    _unknown(data, {"name", "email", "phone", "currency"})
    name = text(data.get("name"), "name", 200)
    assert name is not None
    row = {
        "org_id": actor.org_id, "name": name,
        "email": text(data.get("email"), "email", 320, required=False),
        "phone": text(data.get("phone"), "phone", 40, required=False),
        "currency": currency(data["currency"]) if data.get("currency") is not None
        else org_currency(conn, actor.org_id),
        "active": True, "created_at": _now(),
    }  # fmt: skip
    _name_taken(conn, actor.org_id, name)
    row["id"] = conn.execute(insert(suppliers).values(**row).returning(suppliers.c.id)).scalar_one()
    out = {k: row[k] for k in ("id", *SUPPLIER_FIELDS, "created_at")}
    audit.record(conn, actor, "supplier.create", "supplier", row["id"], None, out)
    return out


def update_supplier(
    conn: Connection, actor: Actor, supplier_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    actor.require("purchasing.write")
    _unknown(changes, set(SUPPLIER_FIELDS))
    before = load_supplier(conn, actor.org_id, supplier_id)
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = text(changes["name"], "name", 200)
        _name_taken(conn, actor.org_id, values["name"], supplier_id)
    for field, limit in (("email", 320), ("phone", 40)):
        if field in changes:
            values[field] = text(changes[field], field, limit, required=False)
    if "currency" in changes:
        values["currency"] = currency(changes["currency"])
    if "active" in changes:
        values["active"] = _flag(changes["active"], "active")
    values = {k: v for k, v in values.items() if v != before[k]}
    if not values:
        return before
    conn.execute(update(suppliers).where(suppliers.c.id == supplier_id).values(**values))
    audit.record(conn, actor, "supplier.update", "supplier", supplier_id,
                 {k: before[k] for k in values}, values)  # fmt: skip
    return {**before, **values}


def get_supplier(conn: Connection, actor: Actor, supplier_id: int) -> dict[str, Any]:
    actor.require("purchasing.read")
    return load_supplier(conn, actor.org_id, supplier_id)


def list_suppliers(
    conn: Connection, actor: Actor, limit: int, after: int | None, active: bool | None = None
) -> list[dict[str, Any]]:
    actor.require("purchasing.read")
    stmt = select(suppliers).where(suppliers.c.org_id == actor.org_id)
    if active is not None:
        stmt = stmt.where(suppliers.c.active.is_(active))
    if after is not None:
        stmt = stmt.where(suppliers.c.id > after)
    return [_supplier_out(r) for r in conn.execute(stmt.order_by(suppliers.c.id).limit(limit))]


# ------------------------------------------------------------------ supplier items


def _item_stmt(org_id: int) -> Any:
    si = supplier_items
    return (
        select(si, variants.c.sku, suppliers.c.name.label("supplier_name"))
        .join(variants, variants.c.id == si.c.variant_id)
        .join(suppliers, suppliers.c.id == si.c.supplier_id)
        .where(si.c.org_id == org_id)
    )


def _item_out(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    return {
        "id": d["id"], "supplier_id": d["supplier_id"], "supplier_name": d["supplier_name"],
        "variant_id": d["variant_id"], "sku": d["sku"], "supplier_sku": d["supplier_sku"],
        "price": d["price"], "currency": d["currency"], "lead_time_days": d["lead_time_days"],
        "moq": d["moq"], "pack_size": d["pack_size"], "preferred": d["preferred"],
        "created_at": d["created_at"], "updated_at": d["updated_at"],
    }  # fmt: skip


def _load_item(conn: Connection, org_id: int, item_id: int) -> dict[str, Any]:
    row = conn.execute(_item_stmt(org_id).where(supplier_items.c.id == item_id)).first()
    if row is None:
        raise NotFound("no such supplier item", {"id": item_id})
    return _item_out(row)


def _item_values(data: dict[str, Any]) -> dict[str, Any]:
    """The validated item fields present in `data`."""
    out: dict[str, Any] = {}
    if "price" in data:
        out["price"] = number(data["price"], "price")
    if "lead_time_days" in data:
        out["lead_time_days"] = number(data["lead_time_days"], "lead_time_days")
        if out["lead_time_days"] > MAX_LEAD_TIME_DAYS:
            raise ValidationFailed(
                f"lead_time_days must be at most {MAX_LEAD_TIME_DAYS}", {"field": "lead_time_days"}
            )
    if "moq" in data:
        out["moq"] = number(data["moq"], "moq")
    if "pack_size" in data:
        out["pack_size"] = number(data["pack_size"], "pack_size", strict=True)
    if "preferred" in data:
        out["preferred"] = _flag(data["preferred"], "preferred")
    if "supplier_sku" in data:
        out["supplier_sku"] = text(data["supplier_sku"], "supplier_sku", 100, required=False)
    if "currency" in data:
        out["currency"] = currency(data["currency"])
    return out


def _only_preferred(conn: Connection, org_id: int, variant_id: int, item_id: int) -> None:
    """A variant has at most one preferred supplier item: this one."""
    conn.execute(
        update(supplier_items)
        .where(
            supplier_items.c.org_id == org_id,
            supplier_items.c.variant_id == variant_id,
            supplier_items.c.id != item_id,
            supplier_items.c.preferred.is_(True),
        )
        .values(preferred=False)
    )


def create_item(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    actor.require("purchasing.write")
    _unknown(data, {"supplier_id", "sku", "variant_id", *ITEM_FIELDS})
    for field in ("price", "lead_time_days"):
        if data.get(field) is None:
            raise ValidationFailed(f"{field} is required", {"field": field})
    values = _item_values({k: v for k, v in data.items() if v is not None})
    supplier = load_supplier(conn, actor.org_id, data.get("supplier_id"))
    variant = variant_ref(conn, actor.org_id, data)
    now = _now()
    row = {
        "org_id": actor.org_id, "supplier_id": supplier["id"], "variant_id": variant.id,
        "supplier_sku": None, "currency": supplier["currency"], "moq": ZERO,
        "pack_size": 1, "preferred": False, "created_at": now, "updated_at": now, **values,
    }  # fmt: skip
    dup = conn.execute(
        select(supplier_items.c.id).where(
            supplier_items.c.org_id == actor.org_id,
            supplier_items.c.supplier_id == supplier["id"],
            supplier_items.c.variant_id == variant.id,
        )
    ).first()
    if dup is not None:
        raise Conflict(
            f"supplier {supplier['id']} already has an item for {variant.sku}",
            {"supplier_id": supplier["id"], "sku": variant.sku, "id": dup.id},
            code="duplicate_supplier_item",
        )
    item_id = conn.execute(
        insert(supplier_items).values(**row).returning(supplier_items.c.id)
    ).scalar_one()
    if row["preferred"]:
        _only_preferred(conn, actor.org_id, variant.id, item_id)
    out = _load_item(conn, actor.org_id, item_id)
    audit.record(conn, actor, "supplier_item.create", "supplier_item", item_id, None, out)
    return out


def update_item(
    conn: Connection, actor: Actor, item_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    actor.require("purchasing.write")
    _unknown(changes, set(ITEM_FIELDS))
    for field in ("price", "lead_time_days", "moq", "pack_size", "preferred", "currency"):
        if field in changes and changes[field] is None:
            raise ValidationFailed(f"{field} cannot be null", {"field": field})
    values = _item_values(changes)
    before = _load_item(conn, actor.org_id, item_id)
    values = {k: v for k, v in values.items() if v != before[k]}
    if not values:
        return before
    conn.execute(
        update(supplier_items)
        .where(supplier_items.c.id == item_id)
        .values(**values, updated_at=_now())
    )
    if values.get("preferred"):
        _only_preferred(conn, actor.org_id, before["variant_id"], item_id)
    audit.record(conn, actor, "supplier_item.update", "supplier_item", item_id,
                 {k: before[k] for k in values}, values)  # fmt: skip
    return _load_item(conn, actor.org_id, item_id)


def delete_item(conn: Connection, actor: Actor, item_id: int) -> None:
    actor.require("purchasing.write")
    before = _load_item(conn, actor.org_id, item_id)
    conn.execute(delete(supplier_items).where(supplier_items.c.id == item_id))
    audit.record(conn, actor, "supplier_item.delete", "supplier_item", item_id, before, None)


def get_item(conn: Connection, actor: Actor, item_id: int) -> dict[str, Any]:
    actor.require("purchasing.read")
    return _load_item(conn, actor.org_id, item_id)


def list_items(
    conn: Connection, actor: Actor, limit: int, after: int | None,
    sku: str | None = None, supplier_id: int | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    actor.require("purchasing.read")
    stmt = _item_stmt(actor.org_id)
    if sku is not None:
        stmt = stmt.where(variants.c.sku == sku)
    if supplier_id is not None:
        stmt = stmt.where(supplier_items.c.supplier_id == supplier_id)
    if after is not None:
        stmt = stmt.where(supplier_items.c.id > after)
    rows = conn.execute(stmt.order_by(supplier_items.c.id).limit(limit))
    return [_item_out(r) for r in rows]


def variant_ref(conn: Connection, org_id: int, data: dict[str, Any], where: Any = None) -> Any:
    """The variant a body names by `variant_id` or `sku` (404 when unknown)."""
    vid, sku = data.get("variant_id"), data.get("sku")
    details = {"field": "sku"} if where is None else {"line": where}
    if vid is not None:
        if isinstance(vid, bool) or not isinstance(vid, int):
            raise ValidationFailed("variant_id must be an integer", details)
        found = resolve_variants(conn, org_id, set(), {vid})
        key: Any = vid
    elif isinstance(sku, str) and sku:
        found = resolve_variants(conn, org_id, {sku}, set())
        key = sku
    else:
        raise ValidationFailed("give sku or variant_id", details)
    if key not in found:
        raise NotFound(f"unknown sku or variant: {key}", {"missing": [str(key)]})
    return found[key]

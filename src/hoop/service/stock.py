"""Stock documents: create, submit, approve, reject, receive (two-step), cancel and reverse."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from hoop.adapters.db import ledger as ledger_db
from hoop.adapters.db.tables import (
    document_lines,
    locations,
    moves,
    orgs,
    stock_documents,
    variants,
)
from hoop.domain import documents as docs
from hoop.domain.documents import DocState, DocType
from hoop.domain.errors import Conflict, NotFound, ValidationFailed
from hoop.domain.ledger import (
    Line,
    Move,
    Route,
    check_effective_at,
    moves_for,
    reverse,
    validate_line,
)
from hoop.domain.quantities import parse_decimal, q4
from hoop.service import audit
from hoop.service.catalog import resolve_variants, virtual_location_ids
from hoop.service.context import Actor

MAX_LINES = 10_000
LOT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ parsing


def _parse_effective_at(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValidationFailed(
                "effective_at must be an ISO 8601 time with zone", {"field": "effective_at"}
            ) from None
    # a little clock skew between a client and us is not "the future"
    check_effective_at(dt, _now() + timedelta(seconds=60))
    return dt.astimezone(UTC)


def _parse_lines(
    conn: Connection, actor: Actor, doc_type: str, raw_lines: Any
) -> tuple[list[Line], dict[int, Any]]:
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValidationFailed("a document needs at least one line", {"field": "lines"})
    if len(raw_lines) > MAX_LINES:
        raise ValidationFailed(f"at most {MAX_LINES} lines per document", {"field": "lines"})
    skus, ids = set(), set()
    for i, ln in enumerate(raw_lines):
        if not isinstance(ln, dict):
            raise ValidationFailed("each line is an object", {"line": i})
        if ln.get("variant_id") is not None:
            vid = ln["variant_id"]
            if isinstance(vid, bool) or not isinstance(vid, int):
                raise ValidationFailed("variant_id must be an integer", {"line": i})
            ids.add(vid)
        elif isinstance(ln.get("sku"), str) and ln["sku"]:
            skus.add(ln["sku"])
        else:
            raise ValidationFailed("each line needs a sku or a variant_id", {"line": i})
    found = resolve_variants(conn, actor.org_id, skus, ids)
    missing = sorted(str(k) for k in (skus | ids) if k not in found)
    if missing:
        raise NotFound(f"unknown sku or variant: {', '.join(missing[:20])}", {"missing": missing})
    lines: list[Line] = []
    by_variant: dict[int, Any] = {}
    for i, ln in enumerate(raw_lines):
        v = found[ln["variant_id"] if ln.get("variant_id") is not None else ln["sku"]]
        by_variant[v.id] = v
        qty = parse_decimal(ln.get("qty"), f"lines[{i}].qty")
        cost = ln.get("unit_cost")
        unit_cost = parse_decimal(cost, f"lines[{i}].unit_cost") if cost is not None else None
        lot = ln.get("lot") or ""
        if lot and (not isinstance(lot, str) or not LOT_RE.match(lot)):
            raise ValidationFailed("lot must be 1-64 letters, digits or . _ / -", {"line": i})
        if lot and v.tracking == "none":
            raise ValidationFailed(
                "lots are only for lot- or serial-tracked products", {"line": i, "sku": v.sku}
            )
        expiry = ln.get("expiry")
        if expiry is not None:
            try:
                expiry = date.fromisoformat(str(expiry)).isoformat()
            except ValueError:
                raise ValidationFailed("expiry must be a date YYYY-MM-DD", {"line": i}) from None
        raw_serials = ln.get("serials") or []
        if not isinstance(raw_serials, list) or not all(
            isinstance(s, str) and LOT_RE.match(s) for s in raw_serials
        ):
            raise ValidationFailed("serials must be a list of 1-64 character codes", {"line": i})
        line = Line(v.id, qty, unit_cost, lot, expiry, tuple(raw_serials), i + 1)
        validate_line(line, doc_type, v.tracking, i)
        if v.tracks_expiry and v.tracking == "lot" and _inbound(doc_type, qty) and not expiry:
            raise ValidationFailed(
                "this product tracks expiry: give the lot's expiry",
                {"line": i, "sku": v.sku},
                code="expiry_required",
            )
        lines.append(line)
    return lines, by_variant


def _inbound(doc_type: str, qty: Decimal) -> bool:
    return doc_type == DocType.receipt or (doc_type == DocType.adjustment and qty > 0)


def _internal_location(conn: Connection, org_id: int, loc_id: Any, field: str) -> int:
    if loc_id is None:
        raise ValidationFailed(f"{field} is required for this document type", {"field": field})
    if isinstance(loc_id, bool) or not isinstance(loc_id, int):
        raise ValidationFailed(f"{field} must be an integer id", {"field": field})
    row = conn.execute(
        select(locations.c.internal).where(locations.c.id == loc_id, locations.c.org_id == org_id)
    ).first()
    if row is None:
        raise NotFound(f"no such location ({field})", {"field": field, "id": loc_id})
    if not row.internal:
        raise ValidationFailed(
            f"{field} must be an internal location, not a virtual one", {"field": field}
        )
    return loc_id


def _check_reason(conn: Connection, org_id: int, reason: Any) -> str:
    if not reason:
        raise ValidationFailed("an adjustment needs a reason", {"field": "reason"})
    codes = conn.execute(select(orgs.c.reason_codes).where(orgs.c.id == org_id)).scalar_one()
    allowed = set(docs.STANDARD_REASONS) | set(codes or [])
    if reason not in allowed:
        raise ValidationFailed(
            "reason must be one of " + ", ".join(sorted(allowed)),
            {"field": "reason"},
            code="invalid_reason",
        )
    return str(reason)


# ------------------------------------------------------------------ create


def create_document(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    actor.require("documents.write")
    doc_type = data.get("type")
    if doc_type not in DocType.__members__:
        raise ValidationFailed("type must be one of " + ", ".join(DocType), {"field": "type"})
    org = actor.org_id
    frm, to, loc, reason = None, None, None, None
    if doc_type == DocType.receipt:
        to = _internal_location(
            conn, org, data.get("to_location_id") or data.get("location_id"), "to_location_id"
        )
    elif doc_type == DocType.transfer:
        frm = _internal_location(conn, org, data.get("from_location_id"), "from_location_id")
        to = _internal_location(conn, org, data.get("to_location_id"), "to_location_id")
        if frm == to:
            raise ValidationFailed(
                "a transfer needs two different locations", {"field": "to_location_id"}
            )
    elif doc_type == DocType.adjustment:
        loc = _internal_location(conn, org, data.get("location_id"), "location_id")
        reason = _check_reason(conn, org, data.get("reason"))
    else:
        frm = _internal_location(
            conn, org, data.get("from_location_id") or data.get("location_id"), "from_location_id"
        )
        if doc_type == DocType.scrap and data.get("reason"):
            reason = _check_reason(conn, org, data.get("reason"))
    two_step = bool(data.get("two_step") or False)
    if two_step and doc_type != DocType.transfer:
        raise ValidationFailed("two_step is only for transfers", {"field": "two_step"})
    effective_at = _parse_effective_at(data.get("effective_at"))
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise ValidationFailed("note must be text of at most 2000 characters", {"field": "note"})
    lines, by_variant = _parse_lines(conn, actor, doc_type, data.get("lines"))
    if _inbound(doc_type, Decimal(1)):
        archived = sorted(
            {
                by_variant[ln.variant_id].sku
                for ln in lines
                if by_variant[ln.variant_id].status == "archived" and ln.qty > 0
            }
        )
        if archived:
            raise Conflict(
                f"archived products take no stock in: {', '.join(archived)}",
                {"skus": archived},
                code="product_archived",
            )
    now = _now()
    doc_id = conn.execute(
        insert(stock_documents)
        .values(
            org_id=org,
            type=doc_type,
            state=DocState.draft,
            from_location_id=frm,
            to_location_id=to,
            location_id=loc,
            two_step=two_step,
            reason=reason,
            note=note,
            effective_at=effective_at,
            created_by=actor.user_id,
            created_at=now,
        )
        .returning(stock_documents.c.id)
    ).scalar_one()
    conn.execute(
        insert(document_lines),
        [
            {
                "org_id": org,
                "document_id": doc_id,
                "line_no": ln.line_no,
                "variant_id": ln.variant_id,
                "qty": ln.qty,
                "unit_cost": ln.unit_cost,
                "lot": ln.lot,
                "expiry": ln.expiry,
                "serials": list(ln.serials) or None,
            }
            for ln in lines
        ],
    )
    audit.record(
        conn,
        actor,
        "document.create",
        "stock_document",
        doc_id,
        None,
        {
            "type": doc_type,
            "lines": len(lines),
            "from_location_id": frm,
            "to_location_id": to,
            "location_id": loc,
            "reason": reason,
        },
    )
    if data.get("submit", True):
        return _submit(conn, actor, _load(conn, org, doc_id, lock=False), lines, by_variant)
    return get_document(conn, actor, doc_id)


# ------------------------------------------------------------------ life cycle


def _load(conn: Connection, org_id: int, doc_id: int, lock: bool = True) -> Any:
    stmt = select(stock_documents).where(
        stock_documents.c.id == doc_id, stock_documents.c.org_id == org_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("no such document", {"id": doc_id})
    return row


def _load_lines(conn: Connection, doc: Any) -> tuple[list[Line], dict[int, Any]]:
    rows = conn.execute(
        select(document_lines)
        .where(document_lines.c.document_id == doc.id)
        .order_by(document_lines.c.line_no)
    ).all()
    lines = [
        Line(r.variant_id, r.qty, r.unit_cost, r.lot, r.expiry, tuple(r.serials or ()), r.line_no)
        for r in rows
    ]
    found = resolve_variants(conn, doc.org_id, set(), {ln.variant_id for ln in lines})
    return lines, {k: v for k, v in found.items() if isinstance(k, int)}


def _avg_costs(conn: Connection, org_id: int, variant_ids: set[int]) -> dict[int, Decimal]:
    """Average inbound unit cost per variant, from the ledger (costing refines this later)."""
    internal = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.internal.is_(True)
    )
    rows = conn.execute(
        select(moves.c.variant_id, func.sum(moves.c.value), func.sum(moves.c.qty))
        .where(
            moves.c.org_id == org_id,
            moves.c.variant_id.in_(sorted(variant_ids)),
            moves.c.value.is_not(None),
            moves.c.to_location_id.in_(internal),
            moves.c.reversal.is_(False),
        )
        .group_by(moves.c.variant_id)
    ).all()
    return {r[0]: q4(Decimal(r[1]) / Decimal(r[2])) for r in rows if r[2]}


def _line_values(conn: Connection, org_id: int, lines: list[Line]) -> list[Decimal]:
    need = {ln.variant_id for ln in lines if ln.unit_cost is None}
    avg = _avg_costs(conn, org_id, need) if need else {}
    return [
        abs(ln.qty)
        * (ln.unit_cost if ln.unit_cost is not None else avg.get(ln.variant_id, Decimal(0)))
        for ln in lines
    ]


def _submit(
    conn: Connection, actor: Actor, doc: Any, lines: list[Line], by_variant: dict[int, Any]
) -> dict[str, Any]:
    docs.check_command("submit", doc.state)
    raw_rules = conn.execute(select(orgs.c.approval_rules).where(orgs.c.id == doc.org_id)).scalar()
    rules = [r for r in docs.parse_approval_rules(raw_rules or []) if r.document_type == doc.type]
    now = _now()
    values = (
        _line_values(conn, doc.org_id, lines) if any(r.min_value is not None for r in rules) else []
    )
    total_value = q4(sum(values, Decimal(0))) if values else None
    needs = docs.needs_approval(rules, doc.type, [ln.qty for ln in lines], values)
    conn.execute(
        update(stock_documents)
        .where(stock_documents.c.id == doc.id)
        .values(
            submitted_by=actor.user_id,
            submitted_at=now,
            total_value=total_value,
            state=DocState.pending_approval if needs else DocState.submitted,
        )
    )
    audit.record(
        conn,
        actor,
        "document.submit",
        "stock_document",
        doc.id,
        {"state": doc.state},
        {"state": "pending_approval" if needs else "submitted"},
    )
    if not needs:
        _post(conn, actor, doc, lines, by_variant, now)
    return get_document(conn, actor, doc.id)


def _route(conn: Connection, doc: Any, leg: str) -> Route:
    v = virtual_location_ids(conn, doc.org_id)
    t = doc.type
    if t == DocType.receipt:
        return Route(v["supplier"], doc.to_location_id)
    if t == DocType.shipment:
        return Route(doc.from_location_id, v["customer"])
    if t == DocType.scrap:
        return Route(doc.from_location_id, v["scrap"])
    if t == DocType.adjustment:
        return Route(0, 0, doc.location_id, v["adjustment"])
    if doc.two_step:
        return {
            "out": Route(doc.from_location_id, v["transit"]),
            "in": Route(v["transit"], doc.to_location_id),
            "back": Route(v["transit"], doc.from_location_id),
        }[leg]
    return Route(doc.from_location_id, doc.to_location_id)


def _internal_ids(conn: Connection, org_id: int, ms: list[Move]) -> set[int]:
    ids = {m.from_location_id for m in ms} | {m.to_location_id for m in ms}
    return set(
        conn.execute(
            select(locations.c.id).where(
                locations.c.org_id == org_id,
                locations.c.id.in_(sorted(ids)),
                locations.c.internal.is_(True),
            )
        ).scalars()
    )


def _apply(
    conn: Connection,
    actor: Actor,
    doc: Any,
    ms: list[Move],
    by_variant: dict[int, Any],
    now: datetime,
    reversal: bool = False,
) -> None:
    ledger_db.post_moves(
        conn,
        doc.org_id,
        ms,
        _internal_ids(conn, doc.org_id, ms),
        document_id=doc.id,
        effective_at=doc.effective_at or now,
        recorded_at=now,
        user_id=actor.user_id,
        sku_names={k: v.sku for k, v in by_variant.items()},
        reversal=reversal,
    )


def _post(
    conn: Connection,
    actor: Actor,
    doc: Any,
    lines: list[Line],
    by_variant: dict[int, Any],
    now: datetime,
) -> None:
    leg = "out"
    ms = moves_for(lines, _route(conn, doc, leg))
    _apply(conn, actor, doc, ms, by_variant, now)
    lot_entries = {(ln.variant_id, ln.lot): ln.expiry for ln in lines if ln.lot}
    ledger_db.record_lots(conn, doc.org_id, lot_entries, now)
    state = DocState.in_transit if doc.two_step else DocState.done
    conn.execute(
        update(stock_documents)
        .where(stock_documents.c.id == doc.id)
        .values(state=state, posted_at=now, effective_at=doc.effective_at or now)
    )
    audit.record(
        conn,
        actor,
        "document.post",
        "stock_document",
        doc.id,
        None,
        {"state": state, "moves": len(ms)},
    )


def submit(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    actor.require("documents.write")
    doc = _load(conn, actor.org_id, doc_id)
    docs.check_command("submit", doc.state)
    lines, by_variant = _load_lines(conn, doc)
    return _submit(conn, actor, doc, lines, by_variant)


def approve(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    actor.require("documents.approve")
    doc = _load(conn, actor.org_id, doc_id)
    docs.check_command("approve", doc.state)
    docs.check_not_self_approval(doc.created_by, actor.user_id if actor.kind == "user" else None)
    now = _now()
    conn.execute(
        update(stock_documents)
        .where(stock_documents.c.id == doc.id)
        .values(state=DocState.approved, approved_by=actor.user_id, approved_at=now)
    )
    audit.record(
        conn,
        actor,
        "document.approve",
        "stock_document",
        doc.id,
        {"state": doc.state},
        {"state": "approved", "approved_by": actor.user_id},
    )
    lines, by_variant = _load_lines(conn, doc)
    _post(conn, actor, doc, lines, by_variant, now)
    return get_document(conn, actor, doc.id)


def reject(conn: Connection, actor: Actor, doc_id: int, reason: Any) -> dict[str, Any]:
    actor.require("documents.approve")
    doc = _load(conn, actor.org_id, doc_id)
    docs.check_command("reject", doc.state)
    docs.check_not_self_approval(doc.created_by, actor.user_id if actor.kind == "user" else None)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise ValidationFailed(
            "a rejection needs a reason (1-2000 characters)", {"field": "reason"}
        )
    now = _now()
    conn.execute(
        update(stock_documents)
        .where(stock_documents.c.id == doc.id)
        .values(
            state=DocState.rejected,
            rejected_by=actor.user_id,
            rejected_at=now,
            rejection_reason=reason.strip(),
        )
    )
    audit.record(
        conn,
        actor,
        "document.reject",
        "stock_document",
        doc.id,
        {"state": doc.state},
        {"state": "rejected", "reason": reason.strip()},
    )
    return get_document(conn, actor, doc.id)


def receive(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    """Second leg of a two-step transfer: transit → destination."""
    actor.require("documents.write")
    doc = _load(conn, actor.org_id, doc_id)
    docs.check_command("receive", doc.state)
    lines, by_variant = _load_lines(conn, doc)
    now = _now()
    _apply(conn, actor, doc, moves_for(lines, _route(conn, doc, "in")), by_variant, now)
    conn.execute(
        update(stock_documents)
        .where(stock_documents.c.id == doc.id)
        .values(state=DocState.done, received_at=now)
    )
    audit.record(
        conn,
        actor,
        "document.receive",
        "stock_document",
        doc.id,
        {"state": doc.state},
        {"state": "done"},
    )
    return get_document(conn, actor, doc.id)


def cancel(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    """Cancel a document. A posted one is reversed by new moves (the ledger is never edited)."""
    actor.require("documents.write")
    doc = _load(conn, actor.org_id, doc_id)
    docs.check_command("cancel", doc.state)
    now = _now()
    reversed_ = False
    if doc.state in (DocState.done, DocState.in_transit):
        lines, by_variant = _load_lines(conn, doc)
        if doc.state == DocState.in_transit:
            ms = moves_for(lines, _route(conn, doc, "back"))
        else:
            posted = conn.execute(
                select(moves)
                .where(moves.c.document_id == doc.id, moves.c.reversal.is_(False))
                .order_by(moves.c.id)
            ).all()
            ms = reverse(
                Move(
                    m.variant_id,
                    m.from_location_id,
                    m.to_location_id,
                    m.qty,
                    m.lot,
                    m.serial,
                    m.unit_cost,
                    m.line_no,
                )
                for m in posted
            )
        _apply(conn, actor, doc, ms, by_variant, now, reversal=True)
        reversed_ = True
    conn.execute(
        update(stock_documents)
        .where(stock_documents.c.id == doc.id)
        .values(
            state=DocState.cancelled,
            cancelled_by=actor.user_id,
            cancelled_at=now,
            reversed=reversed_,
        )
    )
    audit.record(
        conn,
        actor,
        "document.cancel",
        "stock_document",
        doc.id,
        {"state": doc.state},
        {"state": "cancelled", "reversed": reversed_},
    )
    return get_document(conn, actor, doc.id)


# ------------------------------------------------------------------ read


DOC_FIELDS = (
    "id",
    "type",
    "state",
    "from_location_id",
    "to_location_id",
    "location_id",
    "two_step",
    "reason",
    "note",
    "effective_at",
    "total_value",
    "created_by",
    "created_at",
    "submitted_by",
    "submitted_at",
    "approved_by",
    "approved_at",
    "rejected_by",
    "rejected_at",
    "rejection_reason",
    "posted_at",
    "received_at",
    "cancelled_by",
    "cancelled_at",
    "reversed",
)


def get_document(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    doc = _load(conn, actor.org_id, doc_id, lock=False)
    out = {k: getattr(doc, k) for k in DOC_FIELDS}
    rows = conn.execute(
        select(document_lines, variants.c.sku)
        .join(variants, variants.c.id == document_lines.c.variant_id)
        .where(document_lines.c.document_id == doc_id)
        .order_by(document_lines.c.line_no)
    ).all()
    out["lines"] = [
        {
            "line_no": r.line_no,
            "variant_id": r.variant_id,
            "sku": r.sku,
            "qty": r.qty,
            "unit_cost": r.unit_cost,
            "lot": r.lot or None,
            "expiry": r.expiry,
            "serials": r.serials or [],
        }
        for r in rows
    ]
    return out


def list_documents(
    conn: Connection,
    actor: Actor,
    limit: int,
    after: int | None,
    state: str | None = None,
    type_: str | None = None,
) -> list[dict[str, Any]]:
    stmt = select(stock_documents.c.id).where(stock_documents.c.org_id == actor.org_id)
    if after is not None:
        stmt = stmt.where(stock_documents.c.id < after)
    if state:
        stmt = stmt.where(stock_documents.c.state == state)
    if type_:
        stmt = stmt.where(stock_documents.c.type == type_)
    ids = conn.execute(stmt.order_by(stock_documents.c.id.desc()).limit(limit)).scalars().all()
    return [get_document(conn, actor, i) for i in ids]

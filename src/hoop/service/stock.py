"""Stock documents: create, submit, approve, reject, receive (two-step), cancel and reverse."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hoop.adapters.db import ledger as ledger_db
from hoop.adapters.db.tables import (
    cost_books,
    document_lines,
    locations,
    moves,
    orgs,
    stock_documents,
)
from hoop.domain import documents as docs
from hoop.domain.documents import DocState, DocType
from hoop.domain.errors import Conflict, HoopError, NotFound, ValidationFailed
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
from hoop.service import alerts, audit, costing, receiving
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


def _line_refs(raw_lines: Any) -> tuple[set[str], set[int]]:
    """The skus and variant ids a document's lines name (shape checked here)."""
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
    return skus, ids


def _parse_lines(
    doc_type: str, raw_lines: list[dict[str, Any]], found: dict[Any, Any]
) -> tuple[list[Line], dict[int, Any]]:
    """Lines already shape-checked by _line_refs, against the variants found for them."""
    refs = {ln["variant_id"] if ln.get("variant_id") is not None else ln["sku"] for ln in raw_lines}
    missing = sorted(str(k) for k in refs if k not in found)
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


def _org_settings(conn: Connection, org_id: int) -> Any:
    return conn.execute(
        select(orgs.c.approval_rules, orgs.c.reason_codes).where(orgs.c.id == org_id)
    ).one()


def _location_kinds(conn: Connection, org_id: int, ids: set[int]) -> dict[int, bool]:
    """Location id -> internal?, for the ids that exist in this org. One query."""
    if not ids:
        return {}
    return dict(
        conn.execute(
            select(locations.c.id, locations.c.internal).where(
                locations.c.org_id == org_id, locations.c.id.in_(sorted(ids))
            )
        ).all()
    )


def _check_locations(kinds: dict[int, bool], wanted: dict[str, Any]) -> None:
    """Every named location exists in this org and is internal."""
    for field, loc_id in wanted.items():
        if loc_id is None:
            raise ValidationFailed(f"{field} is required for this document type", {"field": field})
        if isinstance(loc_id, bool) or not isinstance(loc_id, int):
            raise ValidationFailed(f"{field} must be an integer id", {"field": field})
        if loc_id not in kinds:
            raise NotFound(f"no such location ({field})", {"field": field, "id": loc_id})
        if not kinds[loc_id]:
            raise ValidationFailed(
                f"{field} must be an internal location, not a virtual one", {"field": field}
            )


def _check_reason(reason: Any, org_codes: list[str] | None) -> str:
    if not reason:
        raise ValidationFailed("an adjustment needs a reason", {"field": "reason"})
    allowed = set(docs.STANDARD_REASONS) | set(org_codes or [])
    if reason not in allowed:
        raise ValidationFailed(
            "reason must be one of " + ", ".join(sorted(allowed)),
            {"field": "reason"},
            code="invalid_reason",
        )
    return str(reason)


# ------------------------------------------------------------------ create


LOCATION_FIELDS = ("from_location_id", "to_location_id", "location_id")


def create_document(conn: Connection, actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Create a document; unless `submit` is false, submit it in the same transaction, which
    posts it at once or leaves it pending approval."""
    return create_documents(conn, actor, [data])[0]


def create_documents(
    conn: Connection, actor: Actor, batch: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Create (and by default submit and post) many documents in one transaction with a
    bounded number of statements for the whole batch: all of them or none."""
    actor.require("documents.write")
    if not isinstance(batch, list) or not batch:
        raise ValidationFailed("give at least one document", {"field": "documents"})
    org_id = actor.org_id
    # receipts against a purchase order take their lines' variants, places and costs from it
    batch, po_links = receiving.expand(conn, actor, batch)
    settings = _org_settings(conn, org_id)
    loc_ids: set[int] = set()
    skus: set[str] = set()
    ids: set[int] = set()
    for i, data in enumerate(batch):
        with _document_context(i, len(batch)):
            if not isinstance(data, dict):
                raise ValidationFailed("each document is an object")
            loc_ids.update(
                v for f in LOCATION_FIELDS
                if isinstance(v := data.get(f), int) and not isinstance(v, bool)
            )  # fmt: skip
            s_, i_ = _line_refs(data.get("lines"))
            skus |= s_
            ids |= i_
    kinds = _location_kinds(conn, org_id, loc_ids)
    found = resolve_variants(conn, org_id, skus, ids)
    now = _now()
    prepared = []
    for i, data in enumerate(batch):
        with _document_context(i, len(batch)):
            doc, lines, by_variant = _prepare(actor, data, settings, kinds, found, now)
            if data.get("submit", True) is not False:
                doc.update(_submission(conn, actor, doc, lines, settings.approval_rules, now))
            prepared.append((doc, lines, by_variant))
    for doc, _, _ in prepared:
        doc["id"] = conn.execute(
            insert(stock_documents).values(**doc).returning(stock_documents.c.id)
        ).scalar_one()
    ledger_db.bulk.insert_lines(
        conn, org_id,
        [(doc["id"], ln.line_no, ln.variant_id, ln.qty, ln.unit_cost, ln.lot, ln.expiry,
          ln.serials) for doc, lines, _ in prepared for ln in lines],
    )  # fmt: skip
    receiving.link(conn, [(prepared[i][0]["id"], ids) for i, ids in po_links.items()])
    to_post = [p for p in prepared if p[0]["state"] in (DocState.done, DocState.in_transit)]
    _post(conn, actor, to_post, "out", now)
    audit.record_many(conn, actor, [
        ("document.create", "stock_document", doc["id"], None,
         {"type": doc["type"], "state": doc["state"], "lines": len(lines),
          **{f: doc[f] for f in LOCATION_FIELDS}, "reason": doc["reason"]})
        for doc, lines, _ in prepared
    ])  # fmt: skip
    return [_shape(doc, lines, by_variant) for doc, lines, by_variant in prepared]


@contextmanager
def _document_context(index: int, count: int) -> Iterator[None]:
    """In a batch, say which document an error is about."""
    try:
        yield
    except HoopError as exc:
        if count > 1:
            exc.message = f"document {index}: {exc.message}"
            exc.details = {"document": index, "details": exc.details}
        raise


def _prepare(
    actor: Actor,
    data: dict[str, Any],
    settings: Any,
    kinds: dict[int, bool],
    found: dict[Any, Any],
    now: datetime,
) -> tuple[dict[str, Any], list[Line], dict[int, Any]]:
    """Validate one document against preloaded lookups; no I/O."""
    doc_type = data.get("type")
    if doc_type not in DocType.__members__:
        raise ValidationFailed("type must be one of " + ", ".join(DocType), {"field": "type"})
    frm = to = loc = reason = None
    if doc_type == DocType.receipt:
        to = data.get("to_location_id") or data.get("location_id")
        _check_locations(kinds, {"to_location_id": to})
    elif doc_type == DocType.transfer:
        frm, to = data.get("from_location_id"), data.get("to_location_id")
        _check_locations(kinds, {"from_location_id": frm, "to_location_id": to})
        if frm == to:
            raise ValidationFailed(
                "a transfer needs two different locations", {"field": "to_location_id"}
            )
    elif doc_type == DocType.adjustment:
        loc = data.get("location_id")
        _check_locations(kinds, {"location_id": loc})
        reason = _check_reason(data.get("reason"), settings.reason_codes)
    else:
        frm = data.get("from_location_id") or data.get("location_id")
        _check_locations(kinds, {"from_location_id": frm})
        if doc_type == DocType.scrap and data.get("reason"):
            reason = _check_reason(data.get("reason"), settings.reason_codes)
    two_step = bool(data.get("two_step") or False)
    if two_step and doc_type != DocType.transfer:
        raise ValidationFailed("two_step is only for transfers", {"field": "two_step"})
    effective_at = _parse_effective_at(data.get("effective_at"))
    note = data.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 2000):
        raise ValidationFailed("note must be text of at most 2000 characters", {"field": "note"})
    lines, by_variant = _parse_lines(doc_type, data["lines"], found)
    archived = sorted(
        {
            by_variant[ln.variant_id].sku
            for ln in lines
            if by_variant[ln.variant_id].status == "archived" and _inbound(doc_type, ln.qty)
        }
    )
    if archived:
        raise Conflict(
            f"archived products take no stock in: {', '.join(archived)}",
            {"skus": archived},
            code="product_archived",
        )
    doc: dict[str, Any] = {
        "org_id": actor.org_id, "type": doc_type, "state": DocState.draft.value,
        "from_location_id": frm, "to_location_id": to, "location_id": loc,
        "two_step": two_step, "reason": reason, "note": note, "effective_at": effective_at,
        "total_value": None, "created_by": actor.user_id, "created_at": now,
        "purchase_order_id": data.get("purchase_order_id"),
    }  # fmt: skip
    return doc, lines, by_variant


def _submission(
    conn: Connection,
    actor: Actor,
    doc: dict[str, Any],
    lines: list[Line],
    raw_rules: list[dict[str, Any]] | None,
    now: datetime,
) -> dict[str, Any]:
    """The fields a submit sets: pending approval when a rule matches, else posted."""
    rules = [
        r for r in docs.parse_approval_rules(raw_rules or []) if r.document_type == doc["type"]
    ]
    values = (
        _line_values(conn, doc["org_id"], lines)
        if any(r.min_value is not None for r in rules)
        else []
    )
    out: dict[str, Any] = {
        "submitted_by": actor.user_id,
        "submitted_at": now,
        "total_value": q4(sum(values, Decimal(0))) if values else None,
    }
    if docs.needs_approval(rules, doc["type"], [ln.qty for ln in lines], values):
        out["state"] = DocState.pending_approval.value
    else:
        out.update(_posted_fields(doc, now))
    return out


def _posted_fields(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    state = DocState.in_transit if doc["two_step"] else DocState.done
    return {"state": state.value, "posted_at": now, "effective_at": doc["effective_at"] or now}


# ------------------------------------------------------------------ posting


_VIRTUAL_CACHE: dict[tuple[str, int], dict[str, int]] = {}


def _virtual(conn: Connection, org_id: int) -> dict[str, int]:
    """An org's virtual location ids; they never change, so they are cached per database."""
    key = (str(conn.engine.url), org_id)
    ids = _VIRTUAL_CACHE.get(key)
    if ids is None:
        ids = _VIRTUAL_CACHE[key] = virtual_location_ids(conn, org_id)
    return ids


def _route(conn: Connection, doc: dict[str, Any], leg: str) -> Route:
    v = _virtual(conn, doc["org_id"])
    t = doc["type"]
    if t == DocType.receipt:
        return Route(v["supplier"], doc["to_location_id"])
    if t == DocType.shipment:
        return Route(doc["from_location_id"], v["customer"])
    if t == DocType.scrap:
        return Route(doc["from_location_id"], v["scrap"])
    if t == DocType.adjustment:
        return Route(0, 0, doc["location_id"], v["adjustment"])
    if doc["two_step"]:
        return {
            "out": Route(doc["from_location_id"], v["transit"]),
            "in": Route(v["transit"], doc["to_location_id"]),
            "back": Route(v["transit"], doc["from_location_id"]),
        }[leg]
    return Route(doc["from_location_id"], doc["to_location_id"])


Prepared = tuple[dict[str, Any], list[Line], dict[int, Any]]


def _post(
    conn: Connection,
    actor: Actor,
    items: list[Prepared],
    leg: str,
    now: datetime,
    reversal: bool = False,
    moves_of: Any = None,
) -> None:
    """Post the moves of one leg of several documents in one set of statements."""
    if not items:
        return
    # receipts against purchase orders: their order rows locked (before any balance row) and
    # their received quantities counted; their positions re-evaluated once the moves are in
    receiving.on_posting(conn, actor, items, reversal)
    groups = []
    internal: set[int] = set()
    names: dict[int, str] = {}
    for doc, lines, by_variant in items:
        ms = moves_of(doc) if moves_of else moves_for(lines, _route(conn, doc, leg))
        groups.append((doc["id"], doc["effective_at"] or now, ms))
        # A document's own locations were checked internal when it was created; virtual ones
        # never are. So the internal set needs no query.
        internal |= {doc[k] for k in LOCATION_FIELDS} - {None}
        names.update((k, v.sku) for k, v in by_variant.items())
    costing.check_open(conn, actor.org_id, [eff for _, eff, _ in groups])
    types = {i: kind for kind, i in _virtual(conn, actor.org_id).items()}
    ledger_db.post_moves(
        conn, actor.org_id, groups, internal, recorded_at=now, user_id=actor.user_id,
        sku_names=names, reversal=reversal, virtual_types=types,
    )  # fmt: skip
    # after the moves (and a receipt's received quantity) are in: incoming and stock agree
    alerts.positions_changed(conn, actor.org_id, {m.variant_id for _, _, ms in groups for m in ms})
    if leg == "out" and not reversal:
        entries = {
            (ln.variant_id, ln.lot): ln.expiry for _, lines, _ in items for ln in lines if ln.lot
        }
        ledger_db.record_lots(conn, actor.org_id, entries, now)


# ------------------------------------------------------------------ life cycle


def _load(conn: Connection, org_id: int, doc_id: int, lock: bool = True) -> dict[str, Any]:
    stmt = select(stock_documents).where(
        stock_documents.c.id == doc_id, stock_documents.c.org_id == org_id
    )
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise NotFound("no such document", {"id": doc_id})
    return dict(row._mapping)


def _load_lines(conn: Connection, doc: dict[str, Any]) -> tuple[list[Line], dict[int, Any]]:
    lines, by_variant = _lines_of(conn, doc["org_id"], [doc["id"]])
    return lines.get(doc["id"], []), by_variant


def _lines_of(
    conn: Connection, org_id: int, doc_ids: list[int]
) -> tuple[dict[int, list[Line]], dict[int, Any]]:
    """The lines of several documents and their variants: two queries however many."""
    lines: dict[int, list[Line]] = {}
    if not doc_ids:
        return lines, {}
    for r in conn.execute(
        select(document_lines)
        .where(document_lines.c.document_id.in_(doc_ids))
        .order_by(document_lines.c.document_id, document_lines.c.line_no)
    ):
        lines.setdefault(r.document_id, []).append(
            Line(
                r.variant_id, r.qty, r.unit_cost, r.lot, r.expiry, tuple(r.serials or ()), r.line_no
            )  # fmt: skip
        )
    ids = {ln.variant_id for ls in lines.values() for ln in ls}
    found = resolve_variants(conn, org_id, set(), ids)
    return lines, {k: v for k, v in found.items() if isinstance(k, int)}


def _avg_costs(conn: Connection, org_id: int, variant_ids: set[int]) -> dict[int, Decimal]:
    """The current unit cost of each variant's valued stock (its cost book: value / qty)."""
    rows = conn.execute(
        select(cost_books.c.variant_id, cost_books.c.value, cost_books.c.qty).where(
            cost_books.c.org_id == org_id,
            cost_books.c.variant_id.in_(sorted(variant_ids)),
            cost_books.c.book.is_not(None),
        )
    ).all()
    return {r[0]: q4(r[1] / r[2]) for r in rows if r[2]}


def _line_values(conn: Connection, org_id: int, lines: list[Line]) -> list[Decimal]:
    need = {ln.variant_id for ln in lines if ln.unit_cost is None}
    avg = _avg_costs(conn, org_id, need) if need else {}
    return [
        abs(ln.qty)
        * (ln.unit_cost if ln.unit_cost is not None else avg.get(ln.variant_id, Decimal(0)))
        for ln in lines
    ]


def _reversing_moves(conn: Connection, doc: dict[str, Any]) -> list[Move]:
    rows = conn.execute(
        select(moves)
        .where(moves.c.document_id == doc["id"], moves.c.reversal.is_(False))
        .order_by(moves.c.id)
    ).all()
    return reverse(
        (m.id, Move(m.variant_id, m.from_location_id, m.to_location_id, m.qty, m.lot, m.serial,
                    m.unit_cost, m.line_no))
        for m in rows
    )  # fmt: skip


def _set(conn: Connection, doc: dict[str, Any], **values: Any) -> None:
    conn.execute(update(stock_documents).where(stock_documents.c.id == doc["id"]).values(**values))
    doc.update(values)


def _audit_transition(
    conn: Connection, actor: Actor, action: str, doc: dict[str, Any], before: str, **extra: Any
) -> None:
    audit.record(
        conn, actor, action, "stock_document", doc["id"], {"state": before},
        {"state": doc["state"], **extra},
    )  # fmt: skip


def submit(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    actor.require("documents.write")
    doc = _load(conn, actor.org_id, doc_id)
    before = doc["state"]
    docs.check_command("submit", before)
    lines, by_variant = _load_lines(conn, doc)
    now = _now()
    rules = _org_settings(conn, actor.org_id).approval_rules
    _set(conn, doc, **_submission(conn, actor, doc, lines, rules, now))
    if doc["state"] != DocState.pending_approval:
        _post(conn, actor, [(doc, lines, by_variant)], "out", now)
    _audit_transition(conn, actor, "document.submit", doc, before)
    return _shape(doc, lines, by_variant)


def approve(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    actor.require("documents.approve")
    doc = _load(conn, actor.org_id, doc_id)
    before = doc["state"]
    docs.check_command("approve", before)
    docs.check_not_self_approval(doc["created_by"], actor.user_id)
    now = _now()
    lines, by_variant = _load_lines(conn, doc)
    _set(conn, doc, approved_by=actor.user_id, approved_at=now, **_posted_fields(doc, now))
    _post(conn, actor, [(doc, lines, by_variant)], "out", now)
    _audit_transition(conn, actor, "document.approve", doc, before, approved_by=actor.user_id)
    return _shape(doc, lines, by_variant)


def reject(conn: Connection, actor: Actor, doc_id: int, reason: Any) -> dict[str, Any]:
    actor.require("documents.approve")
    doc = _load(conn, actor.org_id, doc_id)
    before = doc["state"]
    docs.check_command("reject", before)
    docs.check_not_self_approval(doc["created_by"], actor.user_id)
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 2000:
        raise ValidationFailed(
            "a rejection needs a reason (1-2000 characters)", {"field": "reason"}
        )
    now = _now()
    _set(conn, doc, state=DocState.rejected.value, rejected_by=actor.user_id, rejected_at=now,
         rejection_reason=reason.strip())  # fmt: skip
    _audit_transition(conn, actor, "document.reject", doc, before, reason=reason.strip())
    return get_document(conn, actor, doc_id)


def receive(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    """Second leg of a two-step transfer: transit → destination."""
    actor.require("documents.write")
    doc = _load(conn, actor.org_id, doc_id)
    before = doc["state"]
    docs.check_command("receive", before)
    lines, by_variant = _load_lines(conn, doc)
    now = _now()
    _post(conn, actor, [(doc, lines, by_variant)], "in", now)
    _set(conn, doc, state=DocState.done.value, received_at=now)
    _audit_transition(conn, actor, "document.receive", doc, before)
    return _shape(doc, lines, by_variant)


def cancel(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    """Cancel a document. A posted one is reversed by new moves (the ledger is never edited)."""
    actor.require("documents.write")
    doc = _load(conn, actor.org_id, doc_id)
    before = doc["state"]
    docs.check_command("cancel", before)
    now = _now()
    lines, by_variant = _load_lines(conn, doc)
    posted = before in (DocState.done, DocState.in_transit)
    if before == DocState.in_transit:
        _post(conn, actor, [(doc, lines, by_variant)], "back", now, reversal=True)
    elif posted:
        _post(conn, actor, [(doc, lines, by_variant)], "", now, reversal=True,
              moves_of=lambda d: _reversing_moves(conn, d))  # fmt: skip
    _set(conn, doc, state=DocState.cancelled.value, cancelled_by=actor.user_id,
         cancelled_at=now, reversed=posted)  # fmt: skip
    _audit_transition(conn, actor, "document.cancel", doc, before, reversed=posted)
    return _shape(doc, lines, by_variant)


# ------------------------------------------------------------------ read


DOC_FIELDS = (
    "id", "type", "state", "from_location_id", "to_location_id", "location_id", "two_step",
    "reason", "note", "effective_at", "total_value", "created_by", "created_at",
    "submitted_by", "submitted_at", "approved_by", "approved_at", "rejected_by", "rejected_at",
    "rejection_reason", "posted_at", "received_at", "cancelled_by", "cancelled_at", "reversed",
    "purchase_order_id",
)  # fmt: skip


def _shape(doc: dict[str, Any], lines: list[Line], by_variant: dict[int, Any]) -> dict[str, Any]:
    out = {k: doc.get(k) for k in DOC_FIELDS}
    out["reversed"] = bool(out["reversed"])
    out["lines"] = [
        {
            "line_no": ln.line_no,
            "variant_id": ln.variant_id,
            "sku": by_variant[ln.variant_id].sku,
            "qty": ln.qty,
            "unit_cost": ln.unit_cost,
            "lot": ln.lot or None,
            "expiry": ln.expiry,
            "serials": list(ln.serials),
        }  # fmt: skip
        for ln in lines
    ]
    return out


def get_document(conn: Connection, actor: Actor, doc_id: int) -> dict[str, Any]:
    doc = _load(conn, actor.org_id, doc_id, lock=False)
    lines, by_variant = _load_lines(conn, doc)
    return _shape(doc, lines, by_variant)


def list_documents(
    conn: Connection,
    actor: Actor,
    limit: int,
    after: int | None,
    state: str | None = None,
    type_: str | None = None,
) -> list[dict[str, Any]]:
    stmt = select(stock_documents).where(stock_documents.c.org_id == actor.org_id)
    if after is not None:
        stmt = stmt.where(stock_documents.c.id < after)
    if state:
        stmt = stmt.where(stock_documents.c.state == state)
    if type_:
        stmt = stmt.where(stock_documents.c.type == type_)
    docs = [
        dict(r._mapping)
        for r in conn.execute(stmt.order_by(stock_documents.c.id.desc()).limit(limit))
    ]
    lines, by_variant = _lines_of(conn, actor.org_id, [d["id"] for d in docs])
    return [_shape(d, lines.get(d["id"], []), by_variant) for d in docs]

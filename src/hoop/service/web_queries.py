"""Read side for the web pages: figures shaped for one screen each, in a few set-based queries.

Every function takes the caller's Actor, filters on its org and checks the same actions the API
checks (`actor.require`)."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Date,
    and_,
    case,
    cast,
    func,
    or_,
    select,
    type_coerce,
)
from sqlalchemy.dialects import postgresql, sqlite

from hoop.adapters.db.tables import (
    balances,
    cost_books,
    inventory_day_sums,
    journal_entries,
    locations,
    moves,
    order_lines,
    orders,
    orgs,
    products,
    stock_documents,
    users,
    variants,
)
from hoop.domain.catalog import normalize_gtin
from hoop.domain.errors import HoopError, NotFound
from hoop.domain.journal import INVENTORY
from hoop.domain.quantities import ZERO, from_scaled
from hoop.service.context import Actor


def _raw(col: Any) -> Any:
    return type_coerce(col, BigInteger)


def _day(conn: Connection, col: Any) -> Any:
    """The UTC calendar day of a timestamp column, as a value that groups and sorts."""
    if conn.dialect.name == "postgresql":
        return cast(func.timezone("UTC", col), Date)
    return func.substr(col, 1, 10)  # SQLite keeps naive UTC text: 'YYYY-MM-DD HH:MM:SS'


def _as_date(v: Any) -> date:
    return v if isinstance(v, date) else date.fromisoformat(str(v)[:10])


def _today() -> date:
    return datetime.now(UTC).date()


# ------------------------------------------------------------------ locations


def internal_locations(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """Every internal location in tree order, with its depth (for indented pickers)."""
    rows = conn.execute(
        select(locations.c.id, locations.c.name, locations.c.code, locations.c.type,
               locations.c.path, locations.c.sellable, locations.c.parent_id)
        .where(locations.c.org_id == actor.org_id, locations.c.internal.is_(True))
    ).all()  # fmt: skip
    by_id = {r.id: r for r in rows}

    def key(r: Any) -> list[str]:
        return [by_id[int(p)].code if int(p) in by_id else p for p in r.path.strip("/").split("/")]

    return [
        {"id": r.id, "name": r.name, "code": r.code, "type": r.type, "sellable": r.sellable,
         "depth": r.path.count("/") - 2, "site_id": int(r.path.strip("/").split("/")[0])}
        for r in sorted(rows, key=key)
    ]  # fmt: skip


def location_names(conn: Connection, actor: Actor) -> dict[int, str]:
    """Location id -> its code (internal) or its name (virtual: Supplier, Customer, ...)."""
    rows = conn.execute(
        select(locations.c.id, locations.c.code, locations.c.name, locations.c.internal).where(
            locations.c.org_id == actor.org_id
        )
    ).all()
    return {r.id: r.code if r.internal else r.name for r in rows}


# ------------------------------------------------------------------ dashboard


def stock_totals(conn: Connection, actor: Actor) -> dict[str, Decimal]:
    """Value and units of the valued stock now (the cost books: one row per variant)."""
    row = conn.execute(
        select(func.coalesce(func.sum(_raw(cost_books.c.value)), 0),
               func.coalesce(func.sum(_raw(cost_books.c.qty)), 0))
        .where(cost_books.c.org_id == actor.org_id, cost_books.c.book.is_not(None))
    ).one()  # fmt: skip
    return {"value": from_scaled(int(row[0])), "units": from_scaled(int(row[1]))}


@dataclass
class _Changes:
    """An org's daily Inventory changes from the journal rows with id <= `top` dated on or
    after `start`, summed (scaled), and when they were read."""

    start: datetime
    top: int
    by_day: dict[date, int]
    built: float


_CHANGES: dict[tuple[str, int], _Changes] = {}
REBUILD_SECONDS = 600.0
SERIES_DAYS = 90  # the dashboard's chart: the window the scheduler sums


def _window_start(days: int) -> datetime:
    return datetime.combine(_today() - timedelta(days=days - 1), datetime.min.time(), UTC)


def _inventory_changes(
    conn: Connection, org_id: int, start: datetime, after_id: int | None = None
) -> tuple[dict[date, int], int]:
    """Daily change of the journal's Inventory balance since `start` (rows after `after_id`
    only, when given), and the largest journal id seen."""
    j = journal_entries.c
    signed = case((j.debit == INVENTORY, _raw(j.amount)), else_=-_raw(j.amount))
    day = _day(conn, j.effective_at)
    stmt = (
        select(day, func.sum(signed), func.max(j.id))
        .where(j.org_id == org_id, j.effective_at >= start,
               or_(j.debit == INVENTORY, j.credit == INVENTORY))
        .group_by(day)
    )  # fmt: skip
    if after_id is not None:
        stmt = stmt.where(j.id > after_id)
    out: dict[date, int] = {}
    top = after_id or 0
    for d, v, m in conn.execute(stmt):
        out[_as_date(d)] = int(v)
        top = max(top, int(m))
    return out, top


def stock_value_series(
    conn: Connection, actor: Actor, days: int = 90, current: Decimal | None = None
) -> list[tuple[date, Decimal]]:
    """Stock value at the end of each of the last `days` days: the value now, less the journal's
    Inventory changes dated after each day.

    The journal is append-only, so the changes by day are summed up to a journal id and each
    call adds only the rows written since (an index range on the id): a dashboard costs a few
    ms however long the journal. The scheduler sums the window from scratch into
    `inventory_day_sums` every REBUILD_SECONDS (`store_inventory_days`), which also picks up a
    row whose transaction committed after a later-numbered one was read (PostgreSQL numbers
    rows before they commit); each process keeps the sums it read for as long, then reads the
    stored ones again. Only an org the scheduler has not reached yet is summed here."""
    actor.require("reports.read")
    if current is None:
        current = stock_totals(conn, actor)["value"]
    today = _today()
    start = _window_start(days)
    key = (str(conn.engine.url), actor.org_id)
    cached = _CHANGES.get(key)
    now = time.monotonic()
    if cached is None or cached.start > start or now - cached.built > REBUILD_SECONDS:
        stored = _stored_days(conn, actor.org_id)
        if stored is not None and stored.start <= start:
            cached = stored
        else:  # not summed by the scheduler yet: sum the window here, once per process
            by_day, top = _inventory_changes(conn, actor.org_id, start)
            cached = _Changes(start, top, by_day, now)
        _CHANGES[key] = cached
    change = dict(cached.by_day)
    fresh, top = _inventory_changes(conn, actor.org_id, start, cached.top)
    for d, v in fresh.items():
        change[d] = change.get(d, 0) + v
    if fresh:  # fold the new rows in (a new object: readers in other threads see one or other)
        _CHANGES[key] = _Changes(cached.start, top, change, cached.built)
    out: list[tuple[date, Decimal]] = []
    value = current
    for i in range(days):
        d = today - timedelta(days=i)
        out.append((d, value))
        value -= from_scaled(change.get(d, 0))
    return out[::-1]


def _stored_days(conn: Connection, org_id: int) -> _Changes | None:
    row = conn.execute(
        select(inventory_day_sums).where(inventory_day_sums.c.org_id == org_id)
    ).first()
    if row is None:
        return None
    by_day = {date.fromisoformat(d): int(v) for d, v in row.by_day.items()}
    return _Changes(row.start, int(row.top_id), by_day, time.monotonic())


def store_inventory_days(conn: Connection, org_id: int, days: int = SERIES_DAYS) -> None:
    """Sum the org's daily Inventory changes over the last `days` days from scratch and store
    them (the scheduler's job; see stock_value_series)."""
    start = _window_start(days)
    by_day, top = _inventory_changes(conn, org_id, start)
    row = {"org_id": org_id, "start": start, "top_id": top, "built_at": datetime.now(UTC),
           "by_day": {d.isoformat(): v for d, v in sorted(by_day.items())}}  # fmt: skip
    ins = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = ins(inventory_day_sums).values(**row)
    conn.execute(stmt.on_conflict_do_update(
        index_elements=[inventory_day_sums.c.org_id],
        set_={k: stmt.excluded[k] for k in ("start", "top_id", "by_day", "built_at")},
    ))  # fmt: skip


def orgs_due_for_day_sums(conn: Connection, max_age_seconds: float, limit: int = 50) -> list[int]:
    """Orgs whose stored day sums are missing or older than `max_age_seconds`, oldest first."""
    s = inventory_day_sums.c
    cutoff = datetime.now(UTC) - timedelta(seconds=max_age_seconds)
    rows = conn.execute(
        select(orgs.c.id).outerjoin(inventory_day_sums, s.org_id == orgs.c.id)
        .where(or_(s.org_id.is_(None), s.built_at < cutoff))
        .order_by(s.built_at.is_not(None), s.built_at, orgs.c.id).limit(limit)
    ).scalars()  # fmt: skip
    return list(rows)


def open_order_requests(conn: Connection, actor: Actor, limit: int = 8) -> dict[str, Any]:
    """Order requests waiting for the seller, soonest deadline first, with their lines."""
    actor.require("orders.read")
    where = and_(orders.c.org_id == actor.org_id, orders.c.status == "pending_seller")
    count = conn.execute(select(func.count()).select_from(orders).where(where)).scalar_one()
    rows = conn.execute(
        select(orders.c.id, orders.c.customer, orders.c.respond_by, orders.c.created_at)
        .where(where).order_by(orders.c.respond_by, orders.c.id).limit(limit)
    ).all()  # fmt: skip
    items = [dict(r._mapping) for r in rows]
    lines = order_line_summaries(conn, actor, [r["id"] for r in items])
    for it in items:
        it["lines"] = lines.get(it["id"], [])
    return {"count": count, "items": items}


def order_line_summaries(
    conn: Connection, actor: Actor, order_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if not order_ids:
        return out
    for r in conn.execute(
        select(order_lines.c.order_id, order_lines.c.qty, variants.c.sku,
               products.c.name.label("product_name"))
        .join(variants, variants.c.id == order_lines.c.variant_id)
        .join(products, products.c.id == variants.c.product_id)
        .where(order_lines.c.org_id == actor.org_id, order_lines.c.order_id.in_(order_ids))
        .order_by(order_lines.c.order_id, order_lines.c.line_no)
    ):  # fmt: skip
        out[r.order_id].append({"sku": r.sku, "qty": r.qty, "product_name": r.product_name})
    return out


def order_statuses(conn: Connection, actor: Actor, order_ids: list[int]) -> dict[int, str]:
    """The current status of each of the org's orders among `order_ids`."""
    if not order_ids:
        return {}
    rows = conn.execute(
        select(orders.c.id, orders.c.status).where(
            orders.c.org_id == actor.org_id, orders.c.id.in_(order_ids)
        )
    )
    return {r.id: r.status for r in rows}


def awaiting_my_approval(conn: Connection, actor: Actor, limit: int = 8) -> dict[str, Any]:
    """Documents pending approval that this caller may approve (never their own)."""
    actor.require("documents.approve")
    d = stock_documents.c
    where = and_(d.org_id == actor.org_id, d.state == "pending_approval",
                 or_(d.created_by.is_(None), d.created_by != (actor.user_id or 0)))  # fmt: skip
    count = conn.execute(select(func.count()).select_from(stock_documents).where(where))
    rows = conn.execute(
        select(d.id, d.type, d.reason, d.note, d.created_at, d.total_value, users.c.email)
        .outerjoin(users, users.c.id == d.created_by)
        .where(where).order_by(d.id).limit(limit)
    ).all()  # fmt: skip
    return {"count": count.scalar_one(), "items": [dict(r._mapping) for r in rows]}


def recent_moves(conn: Connection, actor: Actor, limit: int = 10) -> list[dict[str, Any]]:
    actor.require("stock.read")
    rows = conn.execute(
        select(moves.c.id, moves.c.qty, moves.c.from_location_id, moves.c.to_location_id,
               moves.c.effective_at, moves.c.document_id, moves.c.reversal, variants.c.sku,
               variants.c.product_id)
        .join(variants, variants.c.id == moves.c.variant_id)
        .where(moves.c.org_id == actor.org_id)
        .order_by(moves.c.id.desc()).limit(limit)
    ).all()  # fmt: skip
    return [dict(r._mapping) for r in rows]


# ------------------------------------------------------------------ products


def stock_by_site(
    conn: Connection, actor: Actor, variant_ids: list[int]
) -> dict[int, dict[int, dict[str, Decimal]]]:
    """variant -> site (a root warehouse or store) -> {on_hand, available}. One query."""
    out: dict[int, dict[int, dict[str, Decimal]]] = defaultdict(dict)
    if not variant_ids:
        return out
    rows = conn.execute(
        select(balances.c.variant_id, locations.c.path, locations.c.sellable,
               balances.c.on_hand, balances.c.reserved)
        .join(locations, locations.c.id == balances.c.location_id)
        .where(balances.c.org_id == actor.org_id, balances.c.variant_id.in_(variant_ids))
    ).all()  # fmt: skip
    for r in rows:
        site = int(r.path.strip("/").split("/")[0])
        acc = out[r.variant_id].setdefault(site, {"on_hand": ZERO, "available": ZERO})
        acc["on_hand"] += r.on_hand
        if r.sellable:
            acc["available"] += r.on_hand - r.reserved
    return out


def resolve_code(conn: Connection, actor: Actor, code: str) -> dict[str, Any] | None:
    """What a scanned or typed code names: a SKU, or a GTIN (8 to 14 digits, check digit
    verified). None when it names nothing in this org."""
    code = code.strip()
    if not code or len(code) > 64:
        return None
    cond = [variants.c.sku == code]
    if code.isdigit() and 8 <= len(code) <= 14:
        with contextlib.suppress(HoopError):
            cond.append(variants.c.gtin == normalize_gtin(code))
    row = conn.execute(
        select(variants.c.id, variants.c.sku, variants.c.gtin, variants.c.product_id,
               products.c.name.label("product_name"), products.c.status)
        .join(products, products.c.id == variants.c.product_id)
        .where(variants.c.org_id == actor.org_id, or_(*cond))
        .order_by(case((variants.c.sku == code, 0), else_=1)).limit(1)
    ).first()  # fmt: skip
    return dict(row._mapping) if row else None


def _internal_ids(conn: Connection, actor: Actor, location_id: int | None) -> list[int]:
    stmt = select(locations.c.id).where(
        locations.c.org_id == actor.org_id, locations.c.internal.is_(True)
    )
    if location_id is not None:
        path = conn.execute(
            select(locations.c.path).where(
                locations.c.id == location_id, locations.c.org_id == actor.org_id
            )
        ).scalar()
        if path is None:
            raise NotFound("no such location", {"location_id": location_id})
        stmt = stmt.where(locations.c.path.startswith(path))
    return list(conn.execute(stmt).scalars())


def _on_hand(conn: Connection, actor: Actor, variant_id: int, ids: list[int]) -> Decimal:
    total = conn.execute(
        select(func.coalesce(func.sum(_raw(balances.c.on_hand)), 0)).where(
            balances.c.org_id == actor.org_id,
            balances.c.variant_id == variant_id,
            balances.c.location_id.in_(ids),
        )
    ).scalar_one()
    return from_scaled(int(total))


def _card_cursor(raw: str | None) -> tuple[datetime, int] | None:
    if not raw:
        return None
    micros, _, ident = raw.partition(".")
    if not (micros.isdigit() and ident.isdigit() and len(micros) <= 18 and len(ident) <= 18):
        return None
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros)), int(ident)
    except OverflowError:
        return None


def _make_card_cursor(at: datetime, ident: int) -> str:
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}.{ident}"


def stock_card(
    conn: Connection,
    actor: Actor,
    variant_id: int,
    location_id: int | None = None,
    limit: int = 25,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The variant's ledger at internal locations (under `location_id` if given), newest first,
    each move with the balance after it. The balance comes from the balances now, less the
    moves after the page (one indexed aggregate), so any page costs the same few queries."""
    actor.require("stock.read")
    ids = _internal_ids(conn, actor, location_id)
    inside = set(ids)
    after = _card_cursor(cursor)
    m = moves.c
    touches = or_(m.from_location_id.in_(ids), m.to_location_id.in_(ids)) if ids else False
    base = and_(m.org_id == actor.org_id, m.variant_id == variant_id, touches)
    later = Decimal(0)
    page = select(moves).where(base)
    if after is not None:
        newer = or_(m.effective_at > after[0], and_(m.effective_at == after[0], m.id >= after[1]))
        signed = case((m.to_location_id.in_(ids), _raw(m.qty)), else_=0) - case(
            (m.from_location_id.in_(ids), _raw(m.qty)), else_=0
        )
        later = from_scaled(
            int(conn.execute(select(func.coalesce(func.sum(signed), 0)).where(base, newer))
                .scalar_one())
        )  # fmt: skip
        page = page.where(~newer)
    rows = conn.execute(page.order_by(m.effective_at.desc(), m.id.desc()).limit(limit)).all()
    balance = _on_hand(conn, actor, variant_id, ids) - later
    out = []
    for r in rows:
        delta = (r.qty if r.to_location_id in inside else ZERO) - (
            r.qty if r.from_location_id in inside else ZERO
        )
        out.append({**dict(r._mapping), "delta": delta, "balance": balance})
        balance -= delta
    nxt = _make_card_cursor(rows[-1].effective_at, rows[-1].id) if len(rows) == limit else None
    return {"items": out, "next_cursor": nxt}


def on_hand_series(
    conn: Connection, actor: Actor, variant_id: int, days: int = 90
) -> list[tuple[date, Decimal]]:
    """On hand at internal locations at the end of each of the last `days` days."""
    actor.require("stock.read")
    ids = _internal_ids(conn, actor, None)
    current = _on_hand(conn, actor, variant_id, ids)
    today = _today()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), UTC)
    m = moves.c
    signed = case((m.to_location_id.in_(ids), _raw(m.qty)), else_=0) - case(
        (m.from_location_id.in_(ids), _raw(m.qty)), else_=0
    )
    day = _day(conn, m.effective_at)
    rows = conn.execute(
        select(day, func.sum(signed))
        .where(m.org_id == actor.org_id, m.variant_id == variant_id, m.effective_at >= start)
        .group_by(day)
    ).all()  # fmt: skip
    change = {_as_date(d): int(v) for d, v in rows}
    out: list[tuple[date, Decimal]] = []
    value = current
    for i in range(days):
        d = today - timedelta(days=i)
        out.append((d, value))
        value -= from_scaled(change.get(d, 0))
    return out[::-1]


def product_of_variant(conn: Connection, actor: Actor, variant_id: int) -> int:
    pid = conn.execute(
        select(variants.c.product_id).where(
            variants.c.id == variant_id, variants.c.org_id == actor.org_id
        )
    ).scalar()
    if pid is None:
        raise NotFound("no such variant", {"variant_id": variant_id})
    return int(pid)


def product_ids(conn: Connection, actor: Actor, variant_ids: list[int]) -> dict[int, int]:
    """Variant id -> its product's id, for links from rows that name a variant."""
    if not variant_ids:
        return {}
    rows = conn.execute(
        select(variants.c.id, variants.c.product_id).where(
            variants.c.org_id == actor.org_id, variants.c.id.in_(sorted(set(variant_ids)))
        )
    ).all()
    return {r.id: r.product_id for r in rows}

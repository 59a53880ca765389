"""Finance reports: valuation as of any time, COGS by period, the journal, reconciliation.

Every figure comes from the costing tables kept beside the ledger (cost entries, books,
journal). Money is exact to 4 places inside; reports show cents, with lines rounded so that
they add up to the rounded total (`cents_summing_to_total`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    String,
    and_,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    true,
    union_all,
)

from hoop.adapters.db import costing as costing_db
from hoop.adapters.db.tables import (
    balances,
    cost_books,
    cost_entries,
    journal_entries,
    locations,
    moves,
    orgs,
    variants,
)
from hoop.adapters.db.types import raw_scaled as _raw
from hoop.domain.costing import share
from hoop.domain.dates import parse_instant
from hoop.domain.errors import NotFound, ValidationFailed
from hoop.domain.journal import INVENTORY
from hoop.domain.quantities import (
    CENT_UNITS,
    FACTOR,
    ZERO,
    Money4,
    cent_ranks,
    cent_rest,
    cents,
    cents_of_ranked,
    cents_summing_to_total,
    from_scaled,
)
from hoop.service.context import Actor


def _now() -> datetime:
    return datetime.now(UTC)


def _currency(conn: Connection, org_id: int) -> str:
    return conn.execute(select(orgs.c.currency).where(orgs.c.id == org_id)).scalar_one()


def _unit(qty: int, value: int) -> Money4:
    return Money4(from_scaled(share(FACTOR, value, qty)) if qty else from_scaled(0))


def _subtree(conn: Connection, org_id: int, location_id: int) -> Any:
    path = conn.execute(
        select(locations.c.path).where(locations.c.id == location_id, locations.c.org_id == org_id)
    ).scalar()
    if path is None:
        raise NotFound("no such location", {"location_id": location_id})
    return select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.path.startswith(path)
    )


# ------------------------------------------------------------------ lines of a report, paged


def _by_sku(conn: Connection, sku: Any) -> Any:
    """Order by SKU as Python compares strings (code points): PostgreSQL's "C" collation;
    SQLite's default (BINARY) already does."""
    return sku.collate("C") if conn.dialect.name == "postgresql" else sku


def _sum(col: Any) -> Any:
    """SUM of scaled integers as a 64-bit integer, like the columns it adds up (PostgreSQL's is
    numeric, slower to add up, sort and compare). A sum past 64 bits raises rather than wraps,
    on PostgreSQL as SQLite's SUM always has."""
    return cast(func.sum(_raw(col)), BigInteger)


def _settings(conn: Connection) -> None:
    """PostgreSQL, for the rest of this transaction: no JIT (these statements are estimated
    costly enough for it, and compiling takes longer than they run) and room to sort a
    catalog's lines in memory."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL jit = off")
        conn.exec_driver_sql("SET LOCAL work_mem = '32MB'")


def _cte(conn: Connection, stmt: Any, name: str) -> Any:
    """A CTE that PostgreSQL computes once however often the statement reads it."""
    cte = stmt.cte(name)
    return cte.prefix_with("MATERIALIZED") if conn.dialect.name == "postgresql" else cte


def _ranked_lines(
    conn: Connection,
    lines: Any,
    offset: int,
    limit: int | None,
    extra: Any = None,
) -> tuple[list[dict[str, Any]], int, int, int, int, list[Any]]:
    """One statement over `lines` (a CTE of variant_id, sku, qty, value, scaled integers):
    the lines at `offset` (up to `limit`; None: all) in SKU order, each with its rank for the
    cents (`cents_of_ranked`), and the totals of every line (count, qty, value, cent rests).
    `extra` (a select of a text key and a scaled value) comes back as its rows, e.g. COGS by
    period, so that a costly CTE under both is computed once.

    Returns (lines, count, total qty, total value, total rests, extra rows)."""
    _settings(conn)
    sku = _by_sku(conn, func.coalesce(lines.c.sku, ""))
    rest = ((lines.c.value % CENT_UNITS) + CENT_UNITS) % CENT_UNITS  # floor mod on both engines
    ranked = select(
        lines.c.variant_id, lines.c.sku, lines.c.qty, lines.c.value,
        func.row_number().over(order_by=(sku, lines.c.variant_id)).label("pos"),
        func.row_number().over(order_by=(rest.desc(), sku, lines.c.variant_id)).label("rk"),
    ).subquery("r")  # fmt: skip
    pos = ranked.c.pos
    page = select(
        literal(0).label("part"), pos, ranked.c.variant_id, ranked.c.sku, ranked.c.qty,
        ranked.c.value, ranked.c.rk, cast(null(), String).label("k"),
    ).where(pos > offset)  # fmt: skip
    if limit is not None:
        page = page.where(pos <= offset + limit)
    totals = select(
        literal(1), func.count(), cast(null(), BigInteger), cast(null(), String),
        func.coalesce(func.sum(lines.c.qty), 0), func.coalesce(func.sum(lines.c.value), 0),
        func.coalesce(func.sum(rest), 0), cast(null(), String),
    )  # fmt: skip
    parts = [page, totals]
    if extra is not None:
        x = extra.subquery("x")
        k, v = x.c
        parts.append(select(
            literal(2), cast(null(), BigInteger), cast(null(), BigInteger), cast(null(), String),
            cast(null(), BigInteger), v, cast(null(), BigInteger), k,
        ))  # fmt: skip
    rows = conn.execute(union_all(*parts)).all()
    out: list[dict[str, Any]] = []
    n = tq = tv = tr = 0
    extras: list[Any] = []
    for part, p, v, sku_, qty, value, rk, k in rows:
        if part == 0:
            out.append({"pos": int(p), "variant_id": v, "sku": sku_, "qty": int(qty),
                        "value": int(value), "rank": int(rk)})  # fmt: skip
        elif part == 1:
            n, tq, tv, tr = int(p), int(qty), int(value), int(rk)
        else:
            extras.append((k, int(value)))
    out.sort(key=lambda ln: ln["pos"])
    return out, n, tq, tv, tr, extras


# ------------------------------------------------------------------ valuation


def _latest_entry(org_id: int, at: datetime) -> Any:
    """The cost_books' variant's last cost entry before `at` (one index probe on the entries'
    key per variant): a LATERAL subquery of (qty_after, value_after)."""
    x = cost_entries.alias("x")
    return (
        select(_raw(x.c.qty_after).label("qty"), _raw(x.c.value_after).label("value"))
        .where(
            x.c.org_id == org_id,
            x.c.variant_id == cost_books.c.variant_id,
            x.c.effective_at < at,
        )
        .order_by(x.c.effective_at.desc(), x.c.ord.desc())
        .limit(1)
    )


def _stock_lines(conn: Connection, org_id: int, at: datetime | None) -> Any:
    """variant_id, sku, qty, value (scaled) of the valued stock at `at` (None: now): the
    variants with a quantity or a value, as a statement (the lines of the valuation)."""
    if at is None:
        inner = select(
            cost_books.c.variant_id, _raw(cost_books.c.qty).label("qty"),
            _raw(cost_books.c.value).label("value"),
        ).where(cost_books.c.org_id == org_id, cost_books.c.book.is_not(None))  # fmt: skip
    elif conn.dialect.name == "postgresql":  # one probe per variant, both columns at once
        e = _latest_entry(org_id, at).lateral("e")
        inner = (
            select(cost_books.c.variant_id, e.c.qty, e.c.value)
            .select_from(cost_books.join(e, true()))
            .where(cost_books.c.org_id == org_id)
        )
    else:  # SQLite has no LATERAL: a probe per column
        latest = _latest_entry(org_id, at)
        inner = select(
            cost_books.c.variant_id,
            latest.with_only_columns(latest.selected_columns.qty).scalar_subquery().label("qty"),
            latest.with_only_columns(latest.selected_columns.value).scalar_subquery()
            .label("value"),
        ).where(cost_books.c.org_id == org_id)  # fmt: skip
    s = inner.subquery("s")
    return (
        select(s.c.variant_id, variants.c.sku, s.c.qty, s.c.value)
        .select_from(s.outerjoin(variants, and_(variants.c.id == s.c.variant_id,
                                                variants.c.org_id == org_id)))
        .where(s.c.qty.is_not(None), or_(s.c.qty != 0, s.c.value != 0))
    )  # fmt: skip


def _stock_as_of(conn: Connection, org_id: int, at: datetime | None) -> dict[int, tuple[int, int]]:
    """variant -> (qty, value) scaled, of the valued stock at `at` (None: now)."""
    s = _stock_lines(conn, org_id, at).subquery()
    return {v: (int(q), int(x)) for v, q, x in conn.execute(select(s.c.variant_id, s.c.qty,
                                                                   s.c.value))}  # fmt: skip


def _qty_by_location(
    conn: Connection, org_id: int, at: datetime | None, within: Any
) -> dict[tuple[int, int], int]:
    """(variant, location) -> scaled on-hand at `at` in the locations `within` (a subquery;
    None: all valued ones, transit included)."""
    out: dict[tuple[int, int], int] = defaultdict(int)
    if at is None:
        q = (
            select(balances.c.variant_id, balances.c.location_id,
                   func.sum(_raw(balances.c.on_hand)))
            .where(balances.c.org_id == org_id)
            .group_by(balances.c.variant_id, balances.c.location_id)
        )  # fmt: skip
        if within is not None:
            q = q.where(balances.c.location_id.in_(within))
        for v, loc, qty in conn.execute(q):
            out[(v, loc)] += int(qty)
    # moves give the past, and transit (which keeps no balance rows) at any time
    transit = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.type == "transit"
    )
    none_there = (
        at is None
        and within is not None
        and conn.execute(transit.where(locations.c.id.in_(within)).limit(1)).first() is None
    )
    if none_there:  # now, and no transit location there: no moves to read
        return {k: q for k, q in out.items() if q}
    for col, sign in ((moves.c.to_location_id, 1), (moves.c.from_location_id, -1)):
        q = (
            select(moves.c.variant_id, col, func.sum(_raw(moves.c.qty)))
            .where(moves.c.org_id == org_id)
            .group_by(moves.c.variant_id, col)
        )
        if at is not None:
            q = q.where(moves.c.effective_at < at)
            valued = or_(col.in_(transit), col.in_(
                select(locations.c.id).where(locations.c.org_id == org_id,
                                             locations.c.internal.is_(True))
            ))  # fmt: skip
            q = q.where(valued)
        else:
            q = q.where(col.in_(transit))
        if within is not None:
            q = q.where(col.in_(within))
        for v, loc, qty in conn.execute(q):
            out[(v, loc)] += sign * int(qty)
    return {k: q for k, q in out.items() if q}


def valuation(
    conn: Connection,
    actor: Actor,
    *,
    as_of: str | None = None,
    location_id: int | None = None,
    by_location: bool = False,
) -> dict[str, Any]:
    """Stock value per variant at `as_of` (a date: its end; default now). With a location (its
    subtree) or `by_location`, quantities are per location, valued at the variant's unit cost."""
    report = valuation_page(conn, actor, as_of=as_of, location_id=location_id,
                            by_location=by_location, limit=None)  # fmt: skip
    del report["line_count"]
    return report


def valuation_page(
    conn: Connection,
    actor: Actor,
    *,
    as_of: str | None = None,
    location_id: int | None = None,
    by_location: bool = False,
    offset: int = 0,
    limit: int | None = 100,
) -> dict[str, Any]:
    """`valuation` with only the lines at `offset` (up to `limit`; None: all) and how many
    there are (`line_count`); totals and each line's cents are those of the whole report. The
    whole catalog is paged in SQL; per location, every line's value is worked out (integers,
    from its variant's stock) and only the page's lines are built."""
    actor.require("reports.read")
    at = parse_instant(as_of, "as_of", end_of_day=True)
    now = _now()
    if at is not None and at >= now:
        at = None
    if location_id is None and not by_location:
        lines = _cte(conn, _stock_lines(conn, actor.org_id, at), "lines")
        page, n, tq, tv, tr, _ = _ranked_lines(conn, lines, offset, limit)
        rounded, total = cents_of_ranked([ln["value"] for ln in page],
                                         [ln["rank"] for ln in page], n, tv, tr)  # fmt: skip
        return {
            "as_of": at or now,
            "currency": _currency(conn, actor.org_id),
            "location_id": location_id,
            "total_qty": from_scaled(tq) if n else ZERO,
            "total_value": total,
            "lines": [
                {
                    "sku": ln["sku"],
                    "variant_id": ln["variant_id"],
                    "qty": from_scaled(ln["qty"]),
                    "unit_cost": _unit(ln["qty"], ln["value"]),
                    "value": value,
                }
                for ln, value in zip(page, rounded, strict=True)
            ],  # fmt: skip
            "line_count": n,
        }
    # per location: each line's exact value needs the variant's stock, so every line is made
    # (as integers); only the page's become Decimals
    stock = _stock_as_of(conn, actor.org_id, at)
    within = None if location_id is None else _subtree(conn, actor.org_id, location_id)
    per_loc = _qty_by_location(conn, actor.org_id, at, within)
    codes = dict(
        conn.execute(
            select(locations.c.id, locations.c.code).where(locations.c.org_id == actor.org_id)
        ).all()
    )
    skus = _skus(conn, actor.org_id, {v for v, _ in per_loc})

    def order(item: tuple[tuple[int, int], int]) -> tuple[str, str]:
        return skus.get(item[0][0], ""), codes.get(item[0][1], "")

    items = sorted(per_loc.items(), key=order)
    values: list[int] = []
    for (v, _), qty in items:
        vq, vv = stock.get(v, (0, 0))
        # the variant's unit cost at that time; all of the variant's stock here takes its
        # whole value (so no residue is lost), otherwise qty x value / variant qty
        values.append(vv if qty == vq else (share(qty, vv, vq) if vq else 0))
    n = len(items)
    shown = range(min(offset, n), n if limit is None else min(n, offset + limit))
    ranks = cent_ranks(values)
    rounded, total = cents_of_ranked([values[i] for i in shown], [ranks[i] for i in shown], n,
                                     sum(values), sum(cent_rest(x) for x in values))  # fmt: skip
    lines = []
    for i, value in zip(shown, rounded, strict=True):
        (v, loc), qty = items[i]
        vq, vv = stock.get(v, (0, 0))
        lines.append({"sku": skus[v], "variant_id": v, "location_id": loc,
                      "location_code": codes.get(loc), "qty": from_scaled(qty),
                      "unit_cost": _unit(vq, vv), "value": value})  # fmt: skip
    return {
        "as_of": at or now,
        "currency": _currency(conn, actor.org_id),
        "location_id": location_id,
        "total_qty": from_scaled(sum(q for _, q in items)) if n else ZERO,
        "total_value": total,
        "lines": lines,
        "line_count": n,
    }


def _skus(conn: Connection, org_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    stmt = select(variants.c.id, variants.c.sku).where(variants.c.org_id == org_id)
    if len(ids) <= 500:
        return dict(conn.execute(stmt.where(variants.c.id.in_(sorted(ids)))).all())
    # many ids (a report over the whole catalog): read the org's SKUs once instead of binding
    # thousands of parameters, which costs more than the rows
    return {v: sku for v, sku in conn.execute(stmt).all() if v in ids}


# ------------------------------------------------------------------ COGS


def _range(date_from: str | None, date_to: str | None) -> tuple[datetime, datetime]:
    end = parse_instant(date_to, "to", end_of_day=True) or _now()
    start = parse_instant(date_from, "from", end_of_day=False) or datetime.combine(
        end.date().replace(day=1), time(), UTC
    )
    if start > end:
        raise ValidationFailed("from must not be after to", {"field": "from"})
    return start, end


def cogs(
    conn: Connection,
    actor: Actor,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    period: str = "month",
) -> dict[str, Any]:
    """Cost of goods sold (shipments less returned shipments) per SKU and per period, over
    [from, to] (dates inclusive; default: this month to now)."""
    report = cogs_page(conn, actor, date_from=date_from, date_to=date_to, period=period,
                       limit=None)  # fmt: skip
    del report["line_count"]
    return report


def cogs_page(
    conn: Connection,
    actor: Actor,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    period: str = "month",
    offset: int = 0,
    limit: int | None = 100,
) -> dict[str, Any]:
    """`cogs` with only the SKU lines at `offset` (up to `limit`; None: all) and how many there
    are (`line_count`); the total, the periods and each line's cents are the whole report's."""
    actor.require("reports.read")
    if period not in ("day", "month"):
        raise ValidationFailed("period must be day or month", {"field": "period"})
    start, end = _range(date_from, date_to)
    eff = cost_entries.c.effective_at
    if conn.dialect.name == "postgresql":
        utc = func.timezone("UTC", eff)
        key = func.to_char(utc, "YYYY-MM-DD" if period == "day" else "YYYY-MM")
    else:  # SQLite keeps naive UTC text
        key = func.substr(eff, 1, 10 if period == "day" else 7)
    # summed in the database per (variant, period) once: a month of a big catalog is ~10^5
    # entries; the lines (per variant) and the periods are both sums of these groups
    groups = _cte(conn, select(
        cost_entries.c.variant_id, key.label("k"),
        _sum(cost_entries.c.qty).label("qty"), _sum(cost_entries.c.value).label("value"),
    ).where(
        cost_entries.c.org_id == actor.org_id,
        cost_entries.c.counter == "customer",
        eff >= start,
        eff < end,
    ).group_by(cost_entries.c.variant_id, key), "groups")  # fmt: skip
    per_sku = (
        select(groups.c.variant_id, (-_sum(groups.c.qty)).label("qty"),
               (-_sum(groups.c.value)).label("value"))
        .group_by(groups.c.variant_id)
        .subquery("per_sku")
    )  # fmt: skip
    lines = _cte(conn, select(per_sku.c.variant_id, variants.c.sku, per_sku.c.qty,
                              per_sku.c.value).select_from(per_sku.outerjoin(
        variants, and_(variants.c.id == per_sku.c.variant_id, variants.c.org_id == actor.org_id)
    )), "lines")  # fmt: skip
    periods = select(groups.c.k, (-_sum(groups.c.value)).label("value")).group_by(groups.c.k)
    page, n, _, tv, tr, by_period = _ranked_lines(conn, lines, offset, limit, extra=periods)
    rounded, total = cents_of_ranked([ln["value"] for ln in page],
                                     [ln["rank"] for ln in page], n, tv, tr)  # fmt: skip
    by_period.sort(key=lambda kv: str(kv[0]))
    p_rounded, _ = cents_summing_to_total([from_scaled(v) for _, v in by_period])
    return {
        "from": start,
        "to": end,
        "currency": _currency(conn, actor.org_id),
        "total_cogs": total,
        "lines": [
            {
                "sku": ln["sku"],
                "variant_id": ln["variant_id"],
                "qty": from_scaled(ln["qty"]),
                "cogs": c,
            }
            for ln, c in zip(page, rounded, strict=True)
        ],  # fmt: skip
        "periods": [
            {"period": str(k), "cogs": c} for (k, _), c in zip(by_period, p_rounded, strict=True)
        ],  # fmt: skip
        "line_count": n,
    }


# ------------------------------------------------------------------ journal


def _journal_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """Cursors are "<effective time in epoch microseconds>.<entry id>": URL-safe as given."""
    if not cursor:
        return None
    try:
        micros, _, ident = cursor.partition(".")
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(micros))
        return at, int(ident)
    except (ValueError, OverflowError):
        raise ValidationFailed("cursor is not one this API gave out", {"field": "cursor"}) from None


def _make_cursor(at: datetime, ident: int) -> str:
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{micros}.{ident}"


def _other(debit: str, credit: str, amount: int) -> tuple[str, int]:
    """The entry's account other than Inventory, and the change of Inventory (signed)."""
    return (credit, amount) if debit == INVENTORY else (debit, -amount)


def journal(
    conn: Connection,
    actor: Actor,
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    limit: int | None = 100,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Journal lines (two per double entry) dated in [from, to], oldest first.

    Amounts are kept to 4 places (`amount`); the cents shown carry the rounding residue
    forward: each entry shows the change of its account's running total rounded to cents, so
    every account's total over any run of entries is its exact total rounded, to the cent (and
    each entry still balances). Every entry pairs Inventory with one other account, so the
    running totals are kept per other account, from the first entry ever."""
    actor.require("reports.read")
    org = actor.org_id
    start, end = _range(date_from, date_to)
    j = journal_entries.c
    after = _journal_cursor(cursor)
    position = j.effective_at >= start  # the entries shown and those after them
    q = (
        select(journal_entries, variants.c.sku)
        .join(variants, variants.c.id == j.variant_id)
        .where(j.org_id == org, j.effective_at >= start, j.effective_at < end)
        .order_by(j.effective_at, j.id)
    )
    if after is not None:
        position = or_(j.effective_at > after[0], and_(j.effective_at == after[0], j.id > after[1]))
        q = q.where(position)
    if limit is not None:
        q = q.limit(limit)
    rows = conn.execute(q).all()
    # running totals of every entry before the first one shown
    running: dict[str, int] = defaultdict(int)
    for debit, credit, amount in conn.execute(
        select(j.debit, j.credit, func.sum(_raw(j.amount)))
        .where(j.org_id == org, ~position)
        .group_by(j.debit, j.credit)
    ):
        acct, change = _other(debit, credit, int(amount))
        running[acct] += change
    items: list[dict[str, Any]] = []
    for r in rows:
        acct, change = _other(r.debit, r.credit, int(r.amount * FACTOR))
        before = running[acct]
        running[acct] = before + change
        shown = abs(cents(from_scaled(running[acct])) - cents(from_scaled(before)))
        amount = cents(shown)
        common = {"entry_id": r.id, "date": r.effective_at.date(),
                  "effective_at": r.effective_at, "move_id": r.move_id, "sku": r.sku,
                  "kind": r.kind, "amount": r.amount}  # fmt: skip
        items.append({**common, "account": r.debit, "debit": amount, "credit": cents(ZERO)})
        items.append({**common, "account": r.credit, "debit": cents(ZERO), "credit": amount})
    nxt = None
    if limit is not None and len(rows) == limit:
        nxt = _make_cursor(rows[-1].effective_at, rows[-1].id)
    return {
        "from": start,
        "to": end,
        "currency": _currency(conn, org),
        "items": items,
        "next_cursor": nxt,
    }


# ------------------------------------------------------------------ reconciliation


_BOOK_COLS = ("ledger", "layer", "layer_qty", "journal", "on_hand", "has_entries", "has_book",
              "has_journal")  # fmt: skip


def _per_variant_books(conn: Connection, org: int) -> Any:
    """One row per variant with anything to reconcile: ledger value (the sum of its cost
    entries), layer value and quantity (its book), the journal's Inventory balance, the stock
    on hand (balances plus transit), and whether it has entries, a book, Inventory journal
    rows (scaled integers; a CTE). Each source is summed per variant in the database."""
    ce, cb, je, b, m = cost_entries.c, cost_books.c, journal_entries.c, balances.c, moves.c
    transit = select(locations.c.id).where(locations.c.org_id == org, locations.c.type == "transit")

    def row(variant_id: Any, **sums: Any) -> Any:
        """A select of the columns below in order; those not given are 0 (a new literal each:
        a select keeps only one copy of a column repeated)."""
        return select(variant_id, *(sums.get(k, literal(0, BigInteger)) for k in _BOOK_COLS))

    def signed(when_plus: Any, when_minus: Any, amount: Any) -> Any:
        return _sum(case((when_plus, amount), else_=0)) - _sum(case((when_minus, amount), else_=0))

    into, out_of = m.to_location_id.in_(transit), m.from_location_id.in_(transit)
    parts = [
        row(ce.variant_id, ledger=_sum(ce.value), has_entries=literal(1))
        .where(ce.org_id == org).group_by(ce.variant_id),
        row(cb.variant_id, layer=_raw(cb.value), layer_qty=_raw(cb.qty), has_book=literal(1))
        .where(cb.org_id == org, cb.book.is_not(None)),
        row(je.variant_id, has_journal=literal(1),
            journal=signed(je.debit == INVENTORY, je.credit == INVENTORY, _raw(je.amount)))
        .where(je.org_id == org, or_(je.debit == INVENTORY, je.credit == INVENTORY))
        .group_by(je.variant_id),
        row(b.variant_id, on_hand=_sum(b.on_hand)).where(b.org_id == org).group_by(b.variant_id),
        # transit keeps no balance rows: its stock is what moved in less what moved out
        row(m.variant_id, on_hand=signed(into, out_of, _raw(m.qty)))
        .where(m.org_id == org, or_(into, out_of)).group_by(m.variant_id),
    ]  # fmt: skip
    u = union_all(*parts).subquery("u")
    v, *cols = u.c
    return _cte(conn, select(v.label("variant_id"), *(
        (func.max(col) if name.startswith("has_") else _sum(col)).label(name)
        for name, col in zip(_BOOK_COLS, cols, strict=True)
    )).group_by(v), "per_variant")  # fmt: skip


def reconcile(conn: Connection, org: int, *, deep: bool = False) -> dict[str, Any]:
    """Per variant: ledger value (the sum of its cost entries) = layer value (its open layers)
    = the journal's Inventory balance, and the book's quantity = the stock on hand (balances,
    plus transit). Returns the totals (scaled) and every variant where anything differs.
    `deep` also recosts every history from the moves and lists stored values that differ.

    One statement: the sums per variant and source are made and compared in the database,
    and only the variants that differ come back, in SKU order, after a row of totals."""
    _settings(conn)
    per = _per_variant_books(conn, org)
    differs = or_(per.c.ledger != per.c.layer, per.c.layer != per.c.journal,
                  per.c.layer_qty != per.c.on_hand)  # fmt: skip
    sku = (
        select(variants.c.sku)
        .where(variants.c.id == per.c.variant_id, variants.c.org_id == org)
        .scalar_subquery()
    )
    rows_q = select(literal(1).label("part"), per.c.variant_id, sku.label("sku"), per.c.ledger,
                    per.c.layer, per.c.layer_qty, per.c.journal, per.c.on_hand)  # fmt: skip
    if not deep:
        rows_q = rows_q.where(differs)
    none = [
        cast(null(), t).label(f"none{i}")
        for i, t in enumerate((BigInteger, String) + (BigInteger,) * 2)
    ]
    totals_q = select(
        literal(0), none[0], none[1], func.coalesce(func.sum(per.c.ledger), 0),
        func.coalesce(func.sum(per.c.layer), 0), none[2],
        func.coalesce(func.sum(per.c.journal), 0), none[3],
    )  # fmt: skip
    r = union_all(rows_q, totals_q).subquery("r")  # named by the first
    rows = conn.execute(
        select(r).order_by(r.c.part, _by_sku(conn, func.coalesce(r.c.sku, "")), r.c.variant_id)
    ).all()
    totals = (int(rows[0].ledger), int(rows[0].layer), int(rows[0].journal))
    differences: list[dict[str, Any]] = []
    skus: dict[int, str | None] = {}
    for _, v, sku_, ledger, layer, layer_qty, journal, on_hand in rows[1:]:
        a, b, bq, c, q = int(ledger), int(layer), int(layer_qty), int(journal), int(on_hand)
        skus[v] = sku_
        if not a == b == c:
            differences.append({
                "kind": "value", "sku": sku_, "variant_id": v,
                "ledger_value": from_scaled(a), "layer_value": from_scaled(b),
                "journal_inventory_balance": from_scaled(c),
            })  # fmt: skip
        if bq != q:
            differences.append({
                "kind": "quantity", "sku": sku_, "variant_id": v,
                "layer_qty": from_scaled(bq), "on_hand": from_scaled(q),
            })  # fmt: skip
    if deep:
        # the variants with entries, a book or Inventory journal rows, and those with stock
        # at some location: each recosted from its moves
        every = set(conn.execute(select(per.c.variant_id).where(
            or_(per.c.has_entries == 1, per.c.has_book == 1, per.c.has_journal == 1)
        )).scalars())  # fmt: skip
        every |= {v for v, _ in _qty_by_location(conn, org, None, None)}
        for d in costing_db.replay_variants(conn, org, dict.fromkeys(sorted(every)), _now(),
                                            check_only=True):  # fmt: skip
            differences.append({"kind": "recompute", "sku": skus.get(d["variant_id"]), **d})
    return {"totals": totals, "differences": differences}


def reconciliation(conn: Connection, actor: Actor, *, deep: bool = False) -> dict[str, Any]:
    """Ledger value = cost layers = journal Inventory balance, to the cent (enterprise)."""
    actor.require("reports.read", feature="reports.advanced")
    result = reconcile(conn, actor.org_id, deep=deep)
    led, lay, jou = (from_scaled(t) for t in result["totals"])
    return {
        "as_of": _now(),
        "currency": _currency(conn, actor.org_id),
        "ledger_value": cents(led),
        "layer_value": cents(lay),
        "journal_inventory_balance": cents(jou),
        "exact": {"ledger_value": led, "layer_value": lay, "journal_inventory_balance": jou},
        "balanced": not result["differences"],
        "differences": result["differences"],
    }

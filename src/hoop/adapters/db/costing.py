"""Costing in the database: books, cost entries and journal entries kept beside the ledger.

After a posting, `cost_moves` costs the moves that cross the valuation boundary (valued
locations: the internal tree and `transit`). Per variant, one of two paths:

* append (the common case): the new moves come after everything the variant's book has seen,
  so they are applied to the stored book (its open layers) and appended; a few statements
  whatever the history length.
* replay: a backdated move, a variant seen for the first time, or a change of method the book
  cannot take from where it is. The variant's history is costed again from its first move (a
  pure fold, `domain.costing.recompute`); rows from the earliest changed event on are replaced,
  and every event whose value changed gets a correcting journal entry dated at that event.
  Other variants are untouched. Work grows with the variant's own history, not the org's.

Reads here bypass the `Scaled` type: quantities and money travel as the scaled integers the
core works in.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, delete, or_, select

from hoop.adapters.db import bulk
from hoop.adapters.db.tables import (
    cost_books,
    cost_checkpoints,
    cost_entries,
    costing_methods,
    moves,
    variants,
)
from hoop.adapters.db.types import raw_scaled as _raw
from hoop.domain.costing import (
    Book,
    CostedMove,
    CostEvent,
    CostLayersExhausted,
    Key,
    Method,
    MethodNotTracked,
    run,
)
from hoop.domain.errors import Conflict
from hoop.domain.journal import entry_for
from hoop.domain.quantities import from_scaled

CHUNK = 500  # variants per replay batch


def _chunks(seq: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


class Valued(NamedTuple):
    """A move across the valuation boundary."""

    move_id: int
    variant_id: int
    effective_at: datetime
    qty: int  # scaled, > 0
    inbound: bool
    unit_cost: int | None  # scaled; inbound only
    reverses: int | None
    counter: str  # the virtual location type across the boundary

    @property
    def key(self) -> Key:
        return (self.effective_at, self.move_id)

    def event(self) -> CostEvent:
        cost = self.unit_cost if self.inbound else None
        return CostEvent(self.key, self.qty, self.inbound, cost, self.reverses)


def classify(
    rows: Iterable[tuple[int, int, datetime, int, int, int, int | None, int | None]],
    virtual_types: dict[int, str],
) -> list[Valued]:
    """(id, variant, effective_at, from, to, qty, unit_cost, reverses) -> the valued ones."""
    out = []
    for move_id, variant_id, eff, src, dst, qty, unit_cost, reverses in rows:
        src_kind, dst_kind = virtual_types.get(src), virtual_types.get(dst)
        src_valued = src_kind is None or src_kind == "transit"
        dst_valued = dst_kind is None or dst_kind == "transit"
        if src_valued == dst_valued:
            continue  # a transfer moves quantity, not value; virtual to virtual is outside
        counter = src_kind if dst_valued else dst_kind
        assert counter is not None
        out.append(
            Valued(move_id, variant_id, eff, qty, dst_valued, unit_cost, reverses, counter)
        )  # fmt: skip
    return out


# ------------------------------------------------------------------ method timeline


class Timeline:
    """Which costing method was in force for each product, over time."""

    def __init__(self, conn: Connection, org_id: int) -> None:
        from hoop.adapters.db.tables import orgs

        self.default = conn.execute(
            select(orgs.c.costing_method).where(orgs.c.id == org_id)
        ).scalar_one()
        self.org: list[tuple[datetime, int, str]] = []
        self.products: dict[int, list[tuple[datetime, int, str | None]]] = defaultdict(list)
        for r in conn.execute(
            select(
                costing_methods.c.effective_at,
                costing_methods.c.id,
                costing_methods.c.product_id,
                costing_methods.c.method,
            )
            .where(costing_methods.c.org_id == org_id)
            .order_by(costing_methods.c.effective_at, costing_methods.c.id)
        ):
            if r.product_id is None:
                self.org.append((r.effective_at, r.id, r.method))
            else:
                self.products[r.product_id].append((r.effective_at, r.id, r.method))

    def method_at(self, product_id: int, at: datetime) -> Method:
        # A product's first row is the method it was created with: it holds for the whole
        # history before it too (stock backdated before the product existed), as the org's
        # first row does for the org.
        rows = self.products.get(product_id, ())
        override = rows[0][2] if rows else None
        for eff, _, m in rows:
            if eff > at:
                break
            override = m
        if override:
            return Method(override)
        org = self.org[0][2] if self.org else self.default
        for eff, _, m in self.org:
            if eff > at:
                break
            org = m
        return Method(org)

    def constant(self, product_id: int) -> bool:
        """Whether one method has been in force for the product all along (then a replay may
        resume from a checkpoint: no change of method re-values anything)."""
        times = [e for e, _, _ in self.org] + [e for e, _, _ in self.products.get(product_id, ())]
        if not times:
            return True
        methods = {self.method_at(product_id, t) for t in times}
        methods.add(self.method_at(product_id, min(times)))
        return len(methods) == 1

    def events(self, product_id: int, first: datetime) -> tuple[Method, list[CostEvent]]:
        """The method in force at `first` (the variant's first cost event) and the changes
        after it, as cost events at (time, 0)."""
        current = self.method_at(product_id, first)
        times = sorted(
            {e for e, _, _ in self.org} | {e for e, _, _ in self.products.get(product_id, ())}
        )
        changes = []
        for t in times:
            if t <= first:
                continue
            m = self.method_at(product_id, t)
            if m != current:
                changes.append(CostEvent.change((t, 0), m))
                current = m
        return self.method_at(product_id, first), changes


# ------------------------------------------------------------------ writes


def _json_rows(rows: Sequence[Sequence[Any]]) -> str:
    return json.dumps(rows, default=lambda v: v.isoformat())


_PG_ENTRIES = """
INSERT INTO cost_entries (org_id, variant_id, effective_at, ord, move_id, counter, method, qty,
                          value, qty_after, value_after)
SELECT %(org)s, (e->>0)::bigint, (e->>1)::timestamptz, (e->>2)::bigint, (e->>3)::bigint, e->>4,
       e->>5, (e->>6)::bigint, (e->>7)::bigint, (e->>8)::bigint, (e->>9)::bigint
FROM json_array_elements(%(rows)s::json) AS x(e)
"""
_PG_JOURNAL = """
INSERT INTO journal_entries (org_id, effective_at, variant_id, move_id, kind, debit, credit,
                             amount, recorded_at)
SELECT %(org)s, (e->>0)::timestamptz, (e->>1)::bigint, (e->>2)::bigint, e->>3, e->>4, e->>5,
       (e->>6)::bigint, %(now)s
FROM json_array_elements(%(rows)s::json) AS x(e)
"""
_PG_BOOKS = """
INSERT INTO cost_books (org_id, variant_id, method, qty, value, book, updated_at)
SELECT %(org)s, (e->>0)::bigint, e->>1, (e->>2)::bigint, (e->>3)::bigint, e->4, %(now)s
FROM json_array_elements(%(rows)s::json) AS x(e)
ON CONFLICT (org_id, variant_id) DO UPDATE
   SET method = excluded.method, qty = excluded.qty, value = excluded.value,
       book = excluded.book, updated_at = excluded.updated_at
"""
# Lock the books of the variants a posting touches, in variant order, creating empty ones: a
# no-op update returns the row as it is and holds its lock to the end of the transaction.
_PG_LOCK_BOOKS = """
INSERT INTO cost_books (org_id, variant_id, method, qty, value, book, updated_at)
SELECT %(org)s, (e#>>'{}')::bigint, '', 0, 0, NULL, %(now)s
FROM json_array_elements(%(rows)s::json) WITH ORDINALITY AS x(e, n)
ORDER BY n
ON CONFLICT (org_id, variant_id) DO UPDATE SET org_id = cost_books.org_id
RETURNING variant_id, book
"""
_SQLITE_LOCK_BOOKS = """
INSERT INTO cost_books (org_id, variant_id, method, qty, value, book, updated_at)
SELECT ?, value, '', 0, 0, NULL, ? FROM json_each(?) WHERE true
ON CONFLICT (org_id, variant_id) DO UPDATE SET org_id = cost_books.org_id
RETURNING variant_id, book
"""


def _times(conn: Connection) -> Any:
    """A converter of datetimes to this engine's bound form, memoized (a document's moves
    share their effective time)."""
    convert = bulk.time_to_db(conn, cost_entries.c.effective_at)
    seen: dict[datetime, Any] = {}

    def to_db(when: datetime) -> Any:
        got = seen.get(when)
        if got is None:
            got = seen[when] = convert(when)
        return got

    return to_db


COPY_FROM = 2000  # rows: from here on PostgreSQL gets them by COPY
_ENTRY_COLS = ("org_id", "variant_id", "effective_at", "ord", "move_id", "counter", "method",
               "qty", "value", "qty_after", "value_after")  # fmt: skip
_JOURNAL_COLS = ("org_id", "effective_at", "variant_id", "move_id", "kind", "debit", "credit",
                 "amount", "recorded_at")  # fmt: skip
_ENTRY_TYPES = ("int8", "int8", "timestamptz", "int8", "int8", "text", "text", "int8", "int8",
                "int8", "int8")  # fmt: skip
_JOURNAL_TYPES = ("int8", "timestamptz", "int8", "int8", "text", "text", "text", "int8",
                  "timestamptz")  # fmt: skip


def _copy(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    types: Sequence[str] | None = None,
) -> None:
    """Bulk rows into a PostgreSQL table with COPY, in the connection's transaction (binary
    when the column types are given: three times faster than text for these rows)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    binary = " (FORMAT BINARY)" if types else ""
    with (
        dbapi.cursor() as cur,
        cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as cp,
    ):
        if types:
            cp.set_types(list(types))
        for r in rows:
            cp.write_row(r)


class Writer:
    """Collects the rows a costing step writes and sends each kind in one statement."""

    def __init__(self, conn: Connection, org_id: int, now: datetime) -> None:
        self.conn, self.org_id, self.now = conn, org_id, now
        self.entries: list[tuple[Any, ...]] = []
        self.journal: list[tuple[Any, ...]] = []
        self.books: list[tuple[Any, ...]] = []
        self.checkpoints: list[tuple[Any, ...]] = []

    def checkpoint(self, variant_id: int, key: Key, dump: dict[str, Any]) -> None:
        self.checkpoints.append((variant_id, key[0], key[1], dump))

    def entry(self, variant_id: int, cm: CostedMove, counter: str) -> None:
        eff, ord_ = cm.key
        self.entries.append(
            (self.org_id, variant_id, eff, ord_, ord_ or None, counter, cm.method.value, cm.qty,
             cm.value, cm.qty_after, cm.value_after)
        )  # fmt: skip

    def post(self, variant_id: int, cm: CostedMove, counter: str, kind: str, change: int) -> None:
        e = entry_for(counter, change)
        if e is not None:
            self.journal.append(
                (self.org_id, cm.key[0], variant_id, cm.key[1] or None, kind, e.debit, e.credit,
                 e.amount, self.now)
            )  # fmt: skip

    def book(self, variant_id: int, book: Book) -> None:
        self.books.append((variant_id, book.method.value, book.qty, book.value, book.dump()))

    def flush(self) -> None:
        conn, org, now = self.conn, self.org_id, self.now
        pg = conn.dialect.name == "postgresql"
        to_db = _times(conn)
        if pg and len(self.entries) >= COPY_FROM:
            _copy(conn, "cost_entries", _ENTRY_COLS, self.entries, _ENTRY_TYPES)
            self.entries = []
        if pg and len(self.journal) >= COPY_FROM:
            _copy(conn, "journal_entries", _JOURNAL_COLS, self.journal, _JOURNAL_TYPES)
            self.journal = []
        if self.checkpoints:
            cols = ("org_id", "variant_id", "effective_at", "ord", "book")
            if pg:
                rows = [(org, v, e, o, json.dumps(b)) for v, e, o, b in self.checkpoints]
                _copy(conn, "cost_checkpoints", cols, rows)
            else:
                conn.exec_driver_sql(
                    "INSERT INTO cost_checkpoints (org_id, variant_id, effective_at, ord, book) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(org, v, to_db(e), o, json.dumps(b)) for v, e, o, b in self.checkpoints],
                )
            self.checkpoints = []
        if self.entries:
            if pg:
                rows = [r[1:] for r in self.entries]  # the org goes as a parameter
                conn.exec_driver_sql(_PG_ENTRIES, {"org": org, "rows": _json_rows(rows)})
            else:
                conn.exec_driver_sql(
                    "INSERT INTO cost_entries (org_id, variant_id, effective_at, ord, move_id, "
                    "counter, method, qty, value, qty_after, value_after) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(*r[:2], to_db(r[2]), *r[3:]) for r in self.entries],
                )
        if self.journal:
            if pg:
                rows = [r[1:-1] for r in self.journal]  # org and now go as parameters
                conn.exec_driver_sql(
                    _PG_JOURNAL, {"org": org, "now": now, "rows": _json_rows(rows)}
                )
            else:
                conn.exec_driver_sql(
                    "INSERT INTO journal_entries (org_id, effective_at, variant_id, move_id, "
                    "kind, debit, credit, amount, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(r[0], to_db(r[1]), *r[2:-1], to_db(r[-1])) for r in self.journal],
                )
        if self.books:
            if pg:
                conn.exec_driver_sql(
                    _PG_BOOKS, {"org": org, "now": now, "rows": _json_rows(self.books)}
                )
            else:
                conn.exec_driver_sql(
                    "INSERT INTO cost_books (org_id, variant_id, method, qty, value, book, "
                    "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, variant_id) "
                    "DO UPDATE SET method = excluded.method, qty = excluded.qty, "
                    "value = excluded.value, book = excluded.book, "
                    "updated_at = excluded.updated_at",
                    [
                        (org, r[0], r[1], r[2], r[3], json.dumps(r[4]), to_db(now))
                        for r in self.books
                    ],
                )
        self.entries, self.journal, self.books = [], [], []


def _lock_books(conn: Connection, org_id: int, variant_ids: list[int], now: datetime) -> dict:
    payload = json.dumps(variant_ids)
    if conn.dialect.name == "postgresql":
        rows = conn.exec_driver_sql(_PG_LOCK_BOOKS, {"org": org_id, "now": now, "rows": payload})
    else:
        rows = conn.exec_driver_sql(_SQLITE_LOCK_BOOKS, (org_id, _times(conn)(now), payload))
    out = {}
    for variant_id, raw in rows:
        data = json.loads(raw) if isinstance(raw, str) else raw
        out[variant_id] = None if data is None else Book.load(data)
    return out


# ------------------------------------------------------------------ costing a posting


def _short(conn: Connection, org_id: int, variant_id: int, exc: CostLayersExhausted) -> Conflict:
    sku = conn.execute(select(variants.c.sku).where(variants.c.id == variant_id)).scalar()
    return CostLayersExhausted(
        f"{sku}: at an effective time of this posting the valued stock is short by "
        f"{exc.details.get('short_by')}: a backdated outbound cannot take stock that arrived "
        "later",
        {"sku": sku, "variant_id": variant_id, **(exc.details or {})},
    )


def _costed(conn: Connection, org_id: int, move_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """(qty, value) as costed, of moves that later moves reverse (found by the moves' keys)."""
    ce = cost_entries.c
    rows = conn.execute(
        select(moves.c.id, _raw(ce.qty), _raw(ce.value))
        .join(cost_entries, and_(ce.org_id == moves.c.org_id, ce.variant_id == moves.c.variant_id,
                                 ce.effective_at == moves.c.effective_at, ce.ord == moves.c.id))
        .where(moves.c.org_id == org_id, moves.c.id.in_(sorted(move_ids)))
    )  # fmt: skip
    return {r[0]: (abs(r[1]), abs(r[2])) for r in rows}


def cost_moves(conn: Connection, org_id: int, valued: list[Valued], now: datetime) -> None:
    """Cost the valued moves just posted (the caller's transaction)."""
    if not valued:
        return
    by_variant: dict[int, list[Valued]] = defaultdict(list)
    for v in valued:
        by_variant[v.variant_id].append(v)
    books = _lock_books(conn, org_id, sorted(by_variant), now)
    append: dict[int, tuple[Book, list[Valued]]] = {}
    replay: dict[int, Key | None] = {}
    for variant_id, vs in by_variant.items():
        vs.sort(key=lambda x: x.key)
        book = books.get(variant_id)
        if book is None:
            replay[variant_id] = None  # first costed: its whole (short) history
        elif (book.last_key is not None and vs[0].key <= book.last_key) or (
            len(book.pools) > 1 and any(x.reverses for x in vs)
        ):
            replay[variant_id] = vs[0].key
        else:
            append[variant_id] = (book, vs)
    out = Writer(conn, org_id, now)
    if append:
        mirrors = sorted({x.reverses for _, vs in append.values() for x in vs if x.reverses})
        priors = {}
        if mirrors:
            priors = _costed(conn, org_id, mirrors)
        for variant_id, (book, vs) in append.items():
            try:
                costed = run([x.event() for x in vs], book, priors)
            except CostLayersExhausted as exc:
                raise _short(conn, org_id, variant_id, exc) from None
            for x, cm in zip(vs, costed, strict=True):
                out.entry(variant_id, cm, x.counter)
                out.post(variant_id, cm, x.counter, "posting", cm.value)
            out.book(variant_id, book)
    if replay:
        replay_variants(conn, org_id, replay, now, out)
    out.flush()


def apply_method_change(
    conn: Connection, org_id: int, variant_methods: dict[int, Method], at: datetime
) -> int:
    """A change of method at `at`, for the variants whose method in force it changes and that
    have a book. Returns how many books it re-valued."""
    if not variant_methods:
        return 0
    books = {
        r.variant_id: r.book
        for r in conn.execute(
            select(cost_books.c.variant_id, cost_books.c.book)
            .where(
                cost_books.c.org_id == org_id,
                cost_books.c.variant_id.in_(sorted(variant_methods)),
                cost_books.c.book.is_not(None),
            )
            .order_by(cost_books.c.variant_id)
            .with_for_update()
        )
    }
    out = Writer(conn, org_id, at)
    replay: dict[int, Key] = {}
    for variant_id, raw in books.items():
        book = Book.load(json.loads(raw) if isinstance(raw, str) else raw)
        new = variant_methods[variant_id]
        if book.method == new:
            continue
        ev = CostEvent.change((at, 0), new)
        if book.last_key is not None and ev.key <= book.last_key:
            replay[variant_id] = ev.key
            continue
        try:
            cm = book.apply(ev)
        except MethodNotTracked:
            replay[variant_id] = ev.key
            continue
        out.entry(variant_id, cm, "revaluation")
        out.post(variant_id, cm, "revaluation", "revaluation", cm.value)
        out.book(variant_id, book)
    if replay:
        replay_variants(conn, org_id, replay, at, out)
    out.flush()
    return len(books)


# ------------------------------------------------------------------ replay


_MOVE_COLS = (
    moves.c.id, moves.c.variant_id, moves.c.effective_at, moves.c.from_location_id,
    moves.c.to_location_id, _raw(moves.c.qty), _raw(moves.c.unit_cost), moves.c.reverses_move_id,
)  # fmt: skip


def virtual_types(conn: Connection, org_id: int) -> dict[int, str]:
    from hoop.adapters.db.tables import locations

    return {
        r.id: r.type
        for r in conn.execute(
            select(locations.c.id, locations.c.type).where(
                locations.c.org_id == org_id, locations.c.internal.is_(False)
            )
        )
    }


CHECKPOINT_EVERY = 2000  # events between two stored checkpoints of a replayed variant


def _fetch(conn: Connection, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """All rows of a query as plain tuples, straight from the driver (PostgreSQL)."""
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    with dbapi.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _moves_after(
    conn: Connection, org_id: int, variant_ids: Sequence[int], after: Key | None
) -> Iterable[tuple[Any, ...]]:
    """(id, variant, effective_at, from, to, qty, unit_cost, reverses) in key order."""
    if conn.dialect.name == "postgresql":  # raw rows: no per-row type processing
        sql = (
            "SELECT id, variant_id, effective_at, from_location_id, to_location_id, qty, "
            "unit_cost, reverses_move_id FROM moves "
            "WHERE org_id = %(org)s AND variant_id = ANY(%(vs)s)"
        )
        params: dict[str, Any] = {"org": org_id, "vs": list(variant_ids)}
        if after is not None:
            sql += " AND (effective_at, id) > (%(eff)s, %(id)s)"
            params.update(eff=after[0], id=after[1])
        return _fetch(conn, sql + " ORDER BY variant_id, effective_at, id", params)
    q = select(*_MOVE_COLS).where(moves.c.org_id == org_id, moves.c.variant_id.in_(variant_ids))
    if after is not None:
        q = q.where(
            or_(
                moves.c.effective_at > after[0],
                and_(moves.c.effective_at == after[0], moves.c.id > after[1]),
            )
        )
    return conn.execute(q.order_by(moves.c.variant_id, moves.c.effective_at, moves.c.id))


def _entries_from(
    conn: Connection, org_id: int, variant_ids: Sequence[int], start: Key | None
) -> Iterable[tuple[Any, ...]]:
    """(variant, effective_at, ord, value) of the stored entries from `start` on."""
    if conn.dialect.name == "postgresql":
        sql = (
            "SELECT variant_id, effective_at, ord, value FROM cost_entries "
            "WHERE org_id = %(org)s AND variant_id = ANY(%(vs)s)"
        )
        params: dict[str, Any] = {"org": org_id, "vs": list(variant_ids)}
        if start is not None:
            sql += " AND (effective_at, ord) >= (%(eff)s, %(ord)s)"
            params.update(eff=start[0], ord=start[1])
        return _fetch(conn, sql, params)
    e = cost_entries.c
    q = select(e.variant_id, e.effective_at, e.ord, _raw(e.value)).where(
        e.org_id == org_id, e.variant_id.in_(variant_ids)
    )
    if start is not None:
        q = q.where(_key_at_or_after(cost_entries, start))
    return conn.execute(q)


def _key_at_or_after(table: Any, start: Key) -> Any:
    eff, ord_ = start
    return or_(table.c.effective_at > eff, and_(table.c.effective_at == eff, table.c.ord >= ord_))


def _checkpoint_before(
    conn: Connection, org_id: int, variant_id: int, start: Key
) -> tuple[Key, Book] | None:
    eff, ord_ = start
    row = conn.execute(
        select(cost_checkpoints.c.effective_at, cost_checkpoints.c.ord, cost_checkpoints.c.book)
        .where(
            cost_checkpoints.c.org_id == org_id,
            cost_checkpoints.c.variant_id == variant_id,
            or_(
                cost_checkpoints.c.effective_at < eff,
                and_(cost_checkpoints.c.effective_at == eff, cost_checkpoints.c.ord < ord_),
            ),
        )
        .order_by(cost_checkpoints.c.effective_at.desc(), cost_checkpoints.c.ord.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    data = json.loads(row.book) if isinstance(row.book, str) else row.book
    return (row.effective_at, row.ord), Book.load(data)


def replay_variants(
    conn: Connection,
    org_id: int,
    starts: dict[int, Key | None],
    now: datetime,
    out: Writer | None = None,
    *,
    check_only: bool = False,
) -> list[dict[str, Any]]:
    """Cost the variants' histories again and write what changed from `starts[variant]` on
    (None: from the beginning). A variant with one method all along resumes from its last
    checkpoint before the start; otherwise it is costed from its first move. Events without a
    stored entry (just posted) get their journal entry; those whose value changed get a
    correction for the difference. With `check_only`, write nothing and return the
    differences found."""
    mine = out is None
    out = out or Writer(conn, org_id, now)
    vtypes = virtual_types(conn, org_id)
    timeline = Timeline(conn, org_id)
    differences: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(starts), CHUNK):
        product_of = dict(
            conn.execute(
                select(variants.c.id, variants.c.product_id).where(variants.c.id.in_(chunk))
            ).all()
        )
        resume: dict[int, tuple[Key, Book]] = {}
        for v in chunk:
            start = starts[v]
            if start is not None and timeline.constant(product_of[v]):
                found = _checkpoint_before(conn, org_id, v, start)
                if found is not None:
                    resume[v] = found
        history: dict[int, list[Valued]] = defaultdict(list)
        whole = [v for v in chunk if v not in resume]
        parts: list[tuple[list[int], Key | None]] = [(whole, None)] if whole else []
        parts += [([v], resume[v][0]) for v in resume]
        for ids, after in parts:
            for x in classify(_moves_after(conn, org_id, ids, after), vtypes):
                history[x.variant_id].append(x)
        old: dict[int, dict[Key, int]] = defaultdict(dict)
        froms = [v for v in chunk if starts[v] is None]
        parts = [(froms, None)] if froms else []
        parts += [([v], starts[v]) for v in chunk if starts[v] is not None]
        for ids, start in parts:
            for variant_id, eff, ord_, value in _entries_from(conn, org_id, ids, start):
                old[variant_id][(eff, ord_)] = int(value)
        # values of earlier moves that replayed events reverse (resumed variants only)
        seen = {x.move_id for v in resume for x in history[v]}
        wanted = sorted({x.reverses for v in resume for x in history[v] if x.reverses} - seen)
        priors: dict[int, tuple[int, int]] = {}
        if wanted:
            priors = _costed(conn, org_id, wanted)
        for variant_id in chunk:
            vs = history.get(variant_id, [])
            start = starts[variant_id]
            if variant_id in resume:
                book = resume[variant_id][1]
                events = [x.event() for x in vs]
            elif vs:
                initial, changes = timeline.events(product_of[variant_id], vs[0].effective_at)
                book = Book(initial, {initial, *(c.method for c in changes if c.method)})
                events = sorted([*(x.event() for x in vs), *changes], key=lambda e: e.key)
            else:
                continue
            counters = {x.key: x.counter for x in vs}
            targets = {e.mirror for e in events if e.mirror is not None}
            costed: list[CostedMove] = []
            try:
                for i, ev in enumerate(events, 1):
                    costed.append(book.apply(ev, ev.key[1] in targets, priors))
                    if i % CHECKPOINT_EVERY == 0 and (start is None or ev.key >= start):
                        out.checkpoint(variant_id, ev.key, book.dump())
            except CostLayersExhausted as exc:
                raise _short(conn, org_id, variant_id, exc) from None
            before = old.get(variant_id, {})
            for cm in costed:
                if start is not None and cm.key < start:
                    continue
                counter = counters.get(cm.key, "revaluation")
                was = before.get(cm.key)
                if check_only:
                    if was is None or was != cm.value:
                        differences.append(
                            {"variant_id": variant_id, "effective_at": cm.key[0],
                             "move_id": cm.key[1] or None,
                             "stored": None if was is None else from_scaled(was),
                             "recomputed": from_scaled(cm.value)}
                        )  # fmt: skip
                    continue
                out.entry(variant_id, cm, counter)
                if was is None:  # new (or never costed before): its own entry
                    kind = "revaluation" if cm.key[1] == 0 else "posting"
                    out.post(variant_id, cm, counter, kind, cm.value)
                elif was != cm.value:
                    out.post(variant_id, cm, counter, "correction", cm.value - was)
            if check_only:
                out.checkpoints = []
                continue
            if start is not None:
                if before:
                    _delete_from(conn, org_id, variant_id, start)
                _delete_checkpoints_from(conn, org_id, variant_id, start)
            out.book(variant_id, book)
        if not check_only and froms:  # those costed from the start: all their rows go
            for table in (cost_entries, cost_checkpoints):
                if table is cost_entries and not any(old.get(v) for v in froms):
                    continue
                conn.execute(
                    delete(table).where(table.c.org_id == org_id, table.c.variant_id.in_(froms))
                )
        if not check_only:
            # keep memory flat on a full recompute: write each chunk as it is done
            out.flush()
    if mine and not check_only:
        out.flush()
    return differences


def _delete_checkpoints_from(
    conn: Connection, org_id: int, variant_id: int, start: Key | None
) -> None:
    cond = [cost_checkpoints.c.org_id == org_id, cost_checkpoints.c.variant_id == variant_id]
    if start is not None:
        cond.append(_key_at_or_after(cost_checkpoints, start))
    conn.execute(delete(cost_checkpoints).where(*cond))


def _delete_from(conn: Connection, org_id: int, variant_id: int, start: Key | None) -> None:
    cond = [cost_entries.c.org_id == org_id, cost_entries.c.variant_id == variant_id]
    if start is not None:
        cond.append(_key_at_or_after(cost_entries, start))
    conn.execute(delete(cost_entries).where(*cond))

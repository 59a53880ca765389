"""Costing: cost layers per (org, variant), consumed by FIFO, LIFO or moving average.

Pure: no I/O. The caller turns a variant's ledger into `CostEvent`s: inbound (receipt, positive
adjustment, restocked return, opening stock), outbound (shipment, negative adjustment, scrap) and
changes of costing method. Transfers between valued locations never reach this module: they move
quantity, not value, so layers are per (org, variant), not per location.

Arithmetic is on scaled integers (value x 10^4, as stored), rounding half-even. Residue of
rounding is never lost: when the last of a layer (or of the pooled stock under average) leaves,
it takes exactly the value that remains, so total in == total out + remaining, exactly.

Events are costed in `Key` order (effective_at, then move id). Costing is a fold: a `Book` (the
open layers of every method the variant uses, and the method in force) after each event is a
checkpoint, and re-costing a backdated event from the last checkpoint before it gives the same
result as recomputing the whole history.

A method change at time T re-values the stock to what the new method would hold had it always
been in force; the difference is a revaluation (qty 0, value = new - old). To make that a pure
function of the history, a `Book` keeps one pool per method the variant ever uses: quantities are
the same under every method, only values differ, so each pool is "the history costed by that
method" and the method in force picks which one the ledger reports.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

from hoop.domain.errors import Conflict, ValidationFailed
from hoop.domain.quantities import FACTOR, from_scaled, q4, to_scaled

Key = tuple[datetime, int]  # (effective_at, move id; 0 for a method change)


class Method(StrEnum):
    fifo = "fifo"
    lifo = "lifo"  # perpetual: the newest layer existing at the move's effective time
    average = "average"  # moving average, recomputed at each inbound


class CostLayersExhausted(Conflict):
    """An outbound move asks for more than the valued stock held at its effective time."""

    code = "insufficient_stock_at_effective_time"


class CostingOutOfOrder(Exception):
    """A programming error: events applied out of key order (never a user's input)."""


class MethodNotTracked(Exception):
    """A method change to a method the book has no pool for: replay from the start with it."""


def share(take: int, value: int, qty: int) -> int:
    """take * value / qty rounded half-even (all scaled integers, qty > 0, value >= 0)."""
    quot, rem = divmod(take * value, qty)
    if 2 * rem > qty or (2 * rem == qty and quot % 2):
        quot += 1
    return quot


class CostEvent(NamedTuple):  # a tuple: a replay builds one per move, cheaply
    key: Key
    qty: int  # scaled, > 0 (0 for a method change)
    inbound: bool
    unit_cost: int | None = None  # scaled, inbound only; None: take the current average
    mirror: int | None = None  # the move this one reverses: it takes that move's value
    method: Method | None = None  # a change of the costing method in force, at `key`

    @classmethod
    def of(
        cls,
        key: Key,
        qty: Decimal,
        inbound: bool,
        unit_cost: Decimal | None = None,
        mirror: int | None = None,
    ) -> CostEvent:
        """Build from decimals, validating (tests and callers holding Decimals)."""
        where = {"key": str(key)}
        if qty <= 0 or qty != q4(qty):
            raise ValidationFailed("cost event qty must be > 0 with at most 4 places", where)
        if unit_cost is not None and (not inbound or unit_cost < 0 or unit_cost != q4(unit_cost)):
            raise ValidationFailed("unit_cost: inbound only, >= 0, at most 4 places", where)
        cost = None if unit_cost is None else to_scaled(unit_cost)
        return cls(key, to_scaled(qty), inbound, cost, mirror)

    @classmethod
    def change(cls, key: Key, method: Method | str) -> CostEvent:
        return cls(key, 0, False, method=Method(method))


class CostedMove(NamedTuple):
    key: Key
    qty: int  # signed: + inbound, - outbound, 0 revaluation
    value: int  # signed, exact: the move's value (COGS for a shipment) or the revaluation
    qty_after: int  # the variant's valued stock after this event
    value_after: int
    method: Method  # in force for this event

    @property
    def inbound(self) -> bool:
        return self.qty > 0

    @property
    def unit_cost(self) -> Decimal:
        """|value| / |qty| to 4 places, for display (0 for a revaluation)."""
        return (
            from_scaled(share(FACTOR, abs(self.value), abs(self.qty))) if self.qty else Decimal(0)
        )

    @property
    def amount(self) -> Decimal:
        return from_scaled(abs(self.value))


class Pool:
    """The open layers of one method, oldest first: [key, basis qty, basis value, qty, value].

    Under average there is at most one layer; its basis is the pool at the last inbound, so the
    unit cost stays put between inbounds."""

    __slots__ = ("layers", "qty", "value")

    def __init__(self, layers: Iterable[list[Any]] = ()) -> None:
        self.layers: deque[list[Any]] = deque(layers)
        self.qty = sum(la[3] for la in self.layers)
        self.value = sum(la[4] for la in self.layers)

    def copy(self) -> Pool:
        return Pool([list(la) for la in self.layers])

    def average_cost_of(self, qty: int) -> int:
        return share(qty, self.value, self.qty) if self.qty else 0

    def add(self, key: Key, qty: int, value: int, method: Method) -> None:
        self.qty += qty
        self.value += value
        if method == Method.average:
            self.layers = deque([[key, self.qty, self.value, self.qty, self.value]])
        else:
            self.layers.append([key, qty, value, qty, value])

    def _take(self, i: int, qty: int) -> int:
        layer = self.layers[i]
        if qty == layer[3]:
            del self.layers[i]
            return layer[4]  # the last unit takes the residue
        value = min(share(qty, layer[2], layer[1]), layer[4])
        layer[3] -= qty
        layer[4] -= value
        return value

    def remove(
        self, qty: int, method: Method, mirror_id: int | None, mirror_value: int | None
    ) -> int:
        """Take `qty` out; return its value. Reversing an inbound (`mirror_id`) takes back what
        that inbound brought, as far as the pool still holds it, then goes by the method."""
        if qty > self.qty:
            raise CostLayersExhausted(
                "outbound exceeds the valued stock", {"short_by": from_scaled(qty - self.qty)}
            )
        total, value = qty, 0
        if mirror_id is not None and method == Method.average and mirror_value is not None:
            layer = self.layers[0]
            if qty == layer[3]:
                value = layer[4]
                self.layers.clear()
            else:
                value = min(mirror_value, layer[4])
                layer[3] -= qty
                layer[4] -= value
                layer[1], layer[2] = layer[3], layer[4]  # the average moves
            qty = 0
        elif mirror_id is not None and method != Method.average:
            for i, layer in enumerate(self.layers):
                if layer[0][1] == mirror_id:
                    take = min(qty, layer[3])
                    value += self._take(i, take)
                    qty -= take
                    break
        lifo = method == Method.lifo
        while qty:
            i = len(self.layers) - 1 if lifo else 0
            take = min(qty, self.layers[i][3])
            value += self._take(i, take)
            qty -= take
        self.qty -= total
        self.value -= value
        return value

    def dump(self) -> list[list[Any]]:
        return [[la[0][0].isoformat(), la[0][1], *la[1:]] for la in self.layers]

    @classmethod
    def load(cls, rows: list[list[Any]]) -> Pool:
        return cls([[(datetime.fromisoformat(r[0]), r[1]), *r[2:]] for r in rows])


class Book:
    """Costing state of one variant: a pool per method it uses, and the method in force."""

    __slots__ = ("method", "pools", "last_key", "remembered")

    def __init__(
        self,
        method: Method | str,
        tracked: Iterable[Method | str] = (),
        pools: dict[Method, Pool] | None = None,
        last_key: Key | None = None,
    ) -> None:
        self.method = Method(method)
        self.pools = pools if pools is not None else {}
        for m in {self.method, *map(Method, tracked)}:
            self.pools.setdefault(m, Pool())
        self.last_key = last_key
        # values of moves later events reverse, per method: move id -> {method: (qty, value)}
        self.remembered: dict[int, dict[Method, tuple[int, int]]] = {}

    @property
    def qty(self) -> int:
        return self.pools[self.method].qty

    @property
    def value(self) -> int:
        return self.pools[self.method].value

    def copy(self) -> Book:
        book = Book(self.method, (), {m: p.copy() for m, p in self.pools.items()}, self.last_key)
        book.remembered = {k: dict(v) for k, v in self.remembered.items()}
        return book

    def dump(self) -> dict[str, Any]:
        return {
            "method": self.method.value,
            "last": None
            if self.last_key is None
            else [self.last_key[0].isoformat(), self.last_key[1]],
            "pools": {m.value: p.dump() for m, p in self.pools.items()},
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Book:
        last = data.get("last")
        return cls(
            data["method"],
            (),
            {Method(m): Pool.load(rows) for m, rows in data["pools"].items()},
            None if last is None else (datetime.fromisoformat(last[0]), last[1]),
        )

    def apply(
        self,
        ev: CostEvent,
        remember: bool = False,
        priors: Mapping[int, tuple[int, int]] | None = None,
    ) -> CostedMove:
        """Cost one event (after every event applied before it). `remember`: a later event
        reverses this one. `priors`: (qty, value) under the method in force, of moves reversed
        by events here that were costed before this book was loaded."""
        if self.last_key is not None and ev.key <= self.last_key:
            raise CostingOutOfOrder(f"{ev.key} applied after {self.last_key}")
        self.last_key = ev.key
        if ev.method is not None:
            if ev.method not in self.pools:
                raise MethodNotTracked(ev.method)
            old = self.value
            self.method = ev.method
            return CostedMove(ev.key, 0, self.value - old, self.qty, self.value, self.method)
        mine = 0
        memo: dict[Method, tuple[int, int]] = {}
        for m, pool in self.pools.items():
            orig = None if ev.mirror is None else self._original(ev.mirror, m, priors)
            if ev.inbound:
                if orig is not None:
                    value = share(ev.qty, orig[1], orig[0]) if ev.qty != orig[0] else orig[1]
                elif ev.unit_cost is not None:
                    value = share(ev.qty, ev.unit_cost, FACTOR)
                else:
                    value = pool.average_cost_of(ev.qty)
                pool.add(ev.key, ev.qty, value, m)
            else:
                cut = None if orig is None else share(ev.qty, orig[1], orig[0])
                value = pool.remove(ev.qty, m, ev.mirror, cut)
            if remember:
                memo[m] = (ev.qty, value)
            if m == self.method:
                mine = value
        if remember:
            self.remembered[ev.key[1]] = memo
        pool = self.pools[self.method]
        signed = ev.qty if ev.inbound else -ev.qty
        return CostedMove(
            ev.key, signed, mine if ev.inbound else -mine, pool.qty, pool.value, self.method
        )

    def _original(
        self, move_id: int | None, m: Method, priors: Mapping[int, tuple[int, int]] | None
    ) -> tuple[int, int] | None:
        if move_id is None:
            return None
        got = self.remembered.get(move_id, {}).get(m)
        if got is None and priors is not None and m == self.method:
            got = priors.get(move_id)
        return got


def run(
    events: Iterable[CostEvent], book: Book, priors: Mapping[int, tuple[int, int]] | None = None
) -> list[CostedMove]:
    """Cost events (in the order given, which must be key order) into `book`."""
    evs = list(events)
    targets = {e.mirror for e in evs if e.mirror is not None}
    return [book.apply(e, e.key[1] in targets, priors) for e in evs]


def recompute(events: Iterable[CostEvent], initial: Method | str) -> tuple[list[CostedMove], Book]:
    """Cost a whole history from nothing: the reference every incremental re-cost must equal."""
    evs = sorted(events, key=lambda e: e.key)
    tracked = {Method(initial), *(e.method for e in evs if e.method is not None)}
    book = Book(initial, tracked)
    return run(evs, book), book

"""Costing: cost layers per (org, variant), consumed by FIFO, LIFO or moving average.

Pure: no I/O. The caller turns a variant's ledger moves into `CostEvent`s (inbound: receipt,
positive adjustment, restocked return, opening stock; outbound: shipment, negative adjustment,
scrap). Transfers between internal locations never reach this module: they move quantity, not
value, so layers are per (org, variant), not per location.

Money is 4 places, half-even. Residue of rounding is never lost: when the last of a layer (or of
the pooled stock under average) leaves, it takes exactly the value that remains, so
total in == total out + remaining, exactly.

Events are costed in `Key` order (effective_at, then move id). After each event the `State` (open
layers) is a checkpoint: re-costing a backdated event from the last checkpoint before it gives the
same result as recomputing the whole history, because `cost` is a pure fold over the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from hoop.domain.errors import Conflict, HoopError, ValidationFailed
from hoop.domain.quantities import ZERO, from_scaled, q4, to_scaled

Key = tuple[datetime, int]  # (effective_at, move id): the order events are costed in
ONE = Decimal(1)


class Method(StrEnum):
    fifo = "fifo"
    lifo = "lifo"  # perpetual: the newest layer existing at the move's effective time
    average = "average"  # moving average, recomputed at each inbound


class CostLayersExhausted(Conflict):
    """An outbound move asks for more than the open layers hold (the ledger should prevent it)."""

    code = "cost_layers_exhausted"


class CostingOutOfOrder(HoopError):
    """Events must have distinct keys, later than the state they are applied to."""

    code = "costing_out_of_order"
    status = 500


def _share(take: Decimal, value: Decimal, qty: Decimal) -> Decimal:
    """take * value / qty rounded half-even to 4 places, exactly (integer arithmetic)."""
    num, den = to_scaled(take) * to_scaled(value), to_scaled(qty)
    quot, rem = divmod(num, den)
    if 2 * rem > den or (2 * rem == den and quot % 2):
        quot += 1
    return from_scaled(quot)


@dataclass(frozen=True)
class CostEvent:
    key: Key
    qty: Decimal  # > 0, at most 4 places
    inbound: bool
    unit_cost: Decimal | None = None  # inbound only; None: take the current average

    def __post_init__(self) -> None:
        where = {"key": str(self.key)}
        if self.qty <= 0 or self.qty != q4(self.qty):
            raise ValidationFailed("cost event qty must be > 0 with at most 4 places", where)
        if self.unit_cost is not None and (
            not self.inbound or self.unit_cost < 0 or self.unit_cost != q4(self.unit_cost)
        ):
            raise ValidationFailed("unit_cost: inbound only, >= 0, at most 4 places", where)


@dataclass(frozen=True)
class CostedMove:
    key: Key
    qty: Decimal
    inbound: bool
    unit_cost: Decimal  # value / qty rounded to 4 places: for display only
    value: Decimal  # exact total value of the move (COGS for an outbound move)


@dataclass(frozen=True)
class Layer:
    key: Key  # the inbound that opened it (under average: the latest inbound into the pool)
    qty: Decimal  # basis: the unit cost of a partial take is value / qty
    value: Decimal
    qty_remaining: Decimal
    value_remaining: Decimal

    def take(self, qty: Decimal) -> tuple[Decimal, Layer | None]:
        """Value of taking `qty` (<= qty_remaining) and the layer left, None when emptied."""
        if qty == self.qty_remaining:
            return self.value_remaining, None  # the last unit takes the residue
        value = min(_share(qty, self.value, self.qty), self.value_remaining)
        rest = replace(
            self,
            qty_remaining=self.qty_remaining - qty,
            value_remaining=self.value_remaining - value,
        )
        return value, rest


@dataclass(frozen=True)
class State:
    """Open layers after the event `last_key`, oldest first. Under average: at most one layer."""

    layers: tuple[Layer, ...] = ()
    last_key: Key | None = None

    @property
    def qty(self) -> Decimal:
        return sum((la.qty_remaining for la in self.layers), ZERO)

    @property
    def value(self) -> Decimal:
        return sum((la.value_remaining for la in self.layers), ZERO)


def apply(state: State, ev: CostEvent, method: Method) -> tuple[CostedMove, State]:
    """Cost one event against the state just before it."""
    if state.last_key is not None and ev.key <= state.last_key:
        raise CostingOutOfOrder(
            "cost events must be applied in key order, each key once",
            {"key": str(ev.key), "after": str(state.last_key)},
        )
    layers = list(state.layers)
    on_hand = state.qty
    if ev.inbound:
        if ev.unit_cost is not None:
            value = q4(ev.qty * ev.unit_cost)
        else:  # the current average of the stock on hand, 0 if there is none
            value = _share(ev.qty, state.value, on_hand) if on_hand else ZERO
        if method == Method.average:
            qty, total = on_hand + ev.qty, state.value + value
            layers = [Layer(ev.key, qty, total, qty, total)]
        else:
            layers.append(Layer(ev.key, ev.qty, value, ev.qty, value))
    else:
        if ev.qty > on_hand:
            raise CostLayersExhausted(
                "outbound move exceeds the open cost layers",
                {"key": str(ev.key), "qty": str(ev.qty), "available": str(on_hand)},
            )
        value, need = ZERO, ev.qty
        i = 0 if method == Method.fifo else -1  # lifo: newest; average: the only layer
        while need:
            layer = layers[i]
            take = min(need, layer.qty_remaining)
            v, rest = layer.take(take)
            value, need = value + v, need - take
            if rest is None:
                del layers[i]
            else:
                layers[i] = rest
    move = CostedMove(ev.key, ev.qty, ev.inbound, _share(ONE, value, ev.qty), value)
    return move, State(tuple(layers), ev.key)


def cost_steps(
    events: Iterable[CostEvent], method: Method, start: State | None = None
) -> tuple[list[CostedMove], list[State]]:
    """Cost events (sorted here by key) from `start`; also return the state after each one."""
    method, state = Method(method), start or State()
    moves: list[CostedMove] = []
    states: list[State] = []
    for ev in sorted(events, key=lambda e: e.key):
        move, state = apply(state, ev, method)
        moves.append(move)
        states.append(state)
    return moves, states


def cost(
    events: Iterable[CostEvent], method: Method, start: State | None = None
) -> tuple[list[CostedMove], State]:
    """Cost events from `start` (empty by default): the costed moves and the final state."""
    moves, states = cost_steps(events, method, start)
    return moves, states[-1] if states else start or State()


def recost_from(
    history: Iterable[CostEvent],
    checkpoints: Iterable[State],
    inserted: CostEvent,
    method: Method,
) -> tuple[list[CostedMove], State]:
    """Re-cost after a backdated `inserted` event, touching only what it affects.

    `checkpoints` are states from costing `history` (any subset of `cost_steps`' states). Starts
    from the latest one strictly before `inserted` and replays only the later history events with
    it. Returns the moves replayed (the earlier ones are unchanged) and the new final state."""
    start = max(
        (c for c in checkpoints if c.last_key is not None and c.last_key < inserted.key),
        key=lambda c: c.last_key or (),
        default=None,
    )
    after = [e for e in history if start is None or (start.last_key or ()) < e.key]
    return cost([*after, inserted], method, start)

"""Replenishment math: demand, safety stock, reorder point, EOQ, rounding to MOQ and pack size,
and the sentence that tells a planner why. Pure: numbers in, numbers out.

Definitions (issue 5):
- daily demand d = units shipped to customers over the window / window days; sigma = the
  (population) standard deviation of the window's daily totals, days without shipments as 0;
- lead time L = the policy's, else the chosen supplier item's (0 when neither is known);
- safety stock SS = the policy's, else z(service level) * sigma * sqrt(L);
- eoq: ROP = d * L + SS; reorder when position <= ROP; qty = max(EOQ, ROP - position),
  EOQ = sqrt(2 * D * S / H), D = 365 * d, S = order cost, H = holding rate * price;
- minmax: ROP = min; reorder when position <= min; qty = max - position;
- rounding: up to a whole unit, then up to the MOQ, then up to a multiple of the pack size.
Reorder point, safety stock and demand are kept to 4 decimal places (half-even), like every
stored quantity, and the comparisons use those rounded figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from statistics import NormalDist
from typing import NamedTuple

from hoop.domain.errors import ValidationFailed

ZERO = Decimal(0)
ONE = Decimal(1)
PLACES = Decimal("0.0001")
DEFAULT_SERVICE_LEVEL = Decimal("0.95")
DEFAULT_WINDOW_DAYS = 90
METHODS = ("minmax", "eoq")
MAX_LEAD_TIME_DAYS = Decimal(3650)  # ten years: dates computed from it stay in the calendar


def q4(x: Decimal) -> Decimal:
    return x.quantize(PLACES, rounding=ROUND_HALF_EVEN)


class Policy(NamedTuple):
    method: str
    min_qty: Decimal | None = None
    max_qty: Decimal | None = None
    safety_stock: Decimal | None = None
    service_level: Decimal | None = None
    lead_time_days: Decimal | None = None
    order_cost: Decimal | None = None
    holding_rate: Decimal | None = None
    demand_window_days: int = DEFAULT_WINDOW_DAYS
    supplier_id: int | None = None


class Offer(NamedTuple):
    """A supplier item: what one supplier sells this variant for, and how."""

    supplier_id: int
    price: Decimal
    lead_time_days: Decimal
    moq: Decimal = ZERO
    pack_size: Decimal = ONE
    preferred: bool = False


class Demand(NamedTuple):
    daily: Decimal  # d, 4 places
    sigma: Decimal  # 4 places
    total: Decimal
    window_days: int


class Plan(NamedTuple):
    """What a policy means today: its reorder point and how it was reached."""

    reorder_point: Decimal
    safety_stock: Decimal
    lead_time_days: Decimal
    demand: Demand
    supplier_id: int | None
    offer: Offer | None
    lead_time_source: str  # policy | supplier | none
    z: Decimal | None = None  # when safety stock was computed


class Suggestion(NamedTuple):
    qty: Decimal  # rounded, what to order
    raw_qty: Decimal  # before rounding
    eoq: Decimal | None
    reason: str


# ------------------------------------------------------------------ policies


def validate_policy(p: Policy) -> Policy:
    """Raise ValidationFailed naming the field, or return the policy."""

    def bad(field: str, message: str) -> ValidationFailed:
        return ValidationFailed(message, {"field": field})

    if p.method not in METHODS:
        raise bad("method", "method must be minmax or eoq")
    for name in ("min_qty", "max_qty", "safety_stock", "lead_time_days", "order_cost"):
        v = getattr(p, name)
        field = name.removesuffix("_qty")
        if v is not None and v < 0:
            raise bad(field, f"{field} must not be negative")
    if p.lead_time_days is not None and p.lead_time_days > MAX_LEAD_TIME_DAYS:
        raise bad("lead_time_days", f"lead_time_days must be at most {MAX_LEAD_TIME_DAYS}")
    if p.method == "minmax":
        if p.min_qty is None or p.max_qty is None:
            raise bad("min" if p.min_qty is None else "max", "minmax needs min and max")
        if p.max_qty < p.min_qty:
            raise bad("max", "max must be at least min")
    else:
        if p.order_cost is None:
            raise bad("order_cost", "eoq needs order_cost (the cost of placing one order)")
        if p.holding_rate is None:
            raise bad("holding_rate", "eoq needs holding_rate (yearly share of the price)")
    if p.holding_rate is not None and not ZERO < p.holding_rate <= ONE:
        raise bad("holding_rate", "holding_rate is a yearly fraction of the price: 0 < rate <= 1")
    if p.service_level is not None and not Decimal("0.5") <= p.service_level <= Decimal("0.9999"):
        raise bad("service_level", "service_level must be between 0.5 and 0.9999")
    if not 1 <= p.demand_window_days <= 730:
        raise bad("demand_window_days", "demand_window_days must be 1 to 730")
    return p


def choose_offer(offers: Iterable[Offer], supplier_id: int | None = None) -> Offer | None:
    """The policy's supplier if it names one; else the preferred item; else the lowest price
    (ties to the lowest supplier id)."""
    items = list(offers)
    if supplier_id is not None:
        return next((o for o in items if o.supplier_id == supplier_id), None)
    preferred = [o for o in items if o.preferred]
    pool = preferred or items
    return min(pool, key=lambda o: (o.price, o.supplier_id), default=None)


# ------------------------------------------------------------------ demand


def demand_from_days(by_day: Mapping[int, Decimal], window_days: int) -> Demand:
    """Daily demand and its standard deviation from the shipped total per day (day 0 = the
    last 24 hours, up to window_days - 1); days missing from `by_day` count as 0.

    sigma^2 = (sum of x^2) / W - d^2 over all W days, zeros included."""
    total = sumsq = ZERO
    for i, x in by_day.items():
        if 0 <= i < window_days:
            total += x
            sumsq += x * x
    if not total and not sumsq:
        return Demand(daily=ZERO, sigma=ZERO, total=ZERO, window_days=window_days)
    w = Decimal(window_days)
    d = total / w
    var = sumsq / w - d * d  # 28 significant digits are plenty for 14 + 4 digit quantities
    sigma = var.sqrt() if var > 0 else ZERO
    return Demand(daily=q4(d), sigma=q4(sigma), total=total, window_days=window_days)


def demand_from_sums(total: Decimal, sum_of_squares: Decimal, window_days: int) -> Demand:
    """The same figures as `demand_from_days`, from the window's total and the sum of the
    squares of its daily totals (what a database can add up without sending every day)."""
    if not total and not sum_of_squares:
        return Demand(daily=ZERO, sigma=ZERO, total=ZERO, window_days=window_days)
    w = Decimal(window_days)
    d = total / w
    var = sum_of_squares / w - d * d
    sigma = var.sqrt() if var > 0 else ZERO
    return Demand(daily=q4(d), sigma=q4(sigma), total=total, window_days=window_days)


@lru_cache(maxsize=1024)
def _sqrt(x: Decimal) -> Decimal:
    return x.sqrt()


@lru_cache(maxsize=1024)
def z_score(service_level: Decimal) -> Decimal:
    """The standard normal quantile of the service level, to 4 places (0.95 -> 1.6449)."""
    return q4(Decimal(repr(NormalDist().inv_cdf(float(service_level)))))


_CHOOSE = object()


def plan(policy: Policy, demand: Demand, offers: Iterable[Offer], chosen: object = _CHOOSE) -> Plan:
    """The reorder point (and safety stock and lead time behind it) of a policy today.
    `chosen`: the offer `choose_offer(offers, policy.supplier_id)` gives, when the caller
    already has it (planning many policies of one variant)."""
    offer = choose_offer(offers, policy.supplier_id) if chosen is _CHOOSE else chosen
    assert offer is None or isinstance(offer, Offer)
    if policy.lead_time_days is not None:
        lead, source = policy.lead_time_days, "policy"
    elif offer is not None:
        lead, source = offer.lead_time_days, "supplier"
    else:
        lead, source = ZERO, "none"
    supplier_id = (
        policy.supplier_id
        if policy.supplier_id is not None
        else (offer.supplier_id if offer else None)
    )
    z = None
    if policy.safety_stock is not None or policy.method == "minmax":
        ss = policy.safety_stock or ZERO  # min/max plans by its levels; SS is informative
    else:
        z = z_score(policy.service_level or DEFAULT_SERVICE_LEVEL)
        ss = q4(z * demand.sigma * _sqrt(lead)) if demand.sigma else ZERO
    if policy.method == "minmax":
        assert policy.min_qty is not None
        rop = policy.min_qty
    else:
        rop = q4(demand.daily * lead + ss)
    return Plan(q4(rop), q4(ss), lead, demand, supplier_id, offer, source, z)


# ------------------------------------------------------------------ quantities


def round_qty(qty: Decimal, moq: Decimal = ZERO, pack_size: Decimal = ONE) -> Decimal:
    """Up to a whole unit, then up to the MOQ, then up to a multiple of the pack size. Nothing
    to order stays nothing."""
    if qty <= 0:
        return ZERO
    q = qty.to_integral_value(rounding=ROUND_CEILING)
    q = max(q, moq)
    if pack_size > 0:
        packs = (q / pack_size).to_integral_value(rounding=ROUND_CEILING)
        q = packs * pack_size
    return q.normalize() if q == q.to_integral_value() else q


def eoq(daily: Decimal, order_cost: Decimal, holding_rate: Decimal, price: Decimal) -> Decimal:
    """sqrt(2 * D * S / H), D = 365 * d, H = holding rate * price; 0 when nothing is sold or
    holding costs nothing (no price), since the formula has no answer there."""
    h = holding_rate * price
    if daily <= 0 or h <= 0 or order_cost <= 0:
        return ZERO
    return q4((2 * 365 * daily * order_cost / h).sqrt())


def _n(x: Decimal) -> str:
    """A number as a planner reads it: no trailing zeros."""
    s = format(q4(x).normalize(), "f")
    return "0" if s in ("-0", "") else s


def suggest(policy: Policy, p: Plan, available: Decimal, incoming: Decimal) -> Suggestion | None:
    """What to order for a policy whose plan is `p`, or None when the position (available +
    incoming) is above the reorder point."""
    position = available + incoming
    if position > p.reorder_point:
        return None
    o = p.offer
    pos = f"position {_n(position)} (available {_n(available)} + incoming {_n(incoming)})"
    if policy.method == "minmax":
        assert policy.max_qty is not None
        raw = policy.max_qty - position
        why = (
            f"The {pos} is at or under the minimum {_n(p.reorder_point)}: order up to the "
            f"maximum {_n(policy.max_qty)}, {_n(policy.max_qty)} − {_n(position)} = {_n(raw)}"
        )
        eoq_qty = None
    else:
        lead = f"{_n(p.lead_time_days)} d"
        if p.lead_time_source == "none":
            lead += " (no lead time known)"
        ss = f"safety stock {_n(p.safety_stock)}"
        if p.z is not None:
            ss += f" (z {_n(p.z)} × σ {_n(p.demand.sigma)} × √{_n(p.lead_time_days)})"
        why = (
            f"The {pos} is at or under the reorder point {_n(p.reorder_point)} = daily demand "
            f"{_n(p.demand.daily)} × lead time {lead} + {ss}"
        )
        gap = p.reorder_point - position
        assert policy.order_cost is not None and policy.holding_rate is not None
        if o is None:
            eoq_qty = ZERO
            why += f"; no supplier price, so no EOQ: order the gap {_n(gap)}"
        else:
            eoq_qty = eoq(p.demand.daily, policy.order_cost, policy.holding_rate, o.price)
            why += (
                f"; order max(EOQ {_n(eoq_qty)}, gap {_n(p.reorder_point)} − {_n(position)}"
                f" = {_n(gap)})"
            )
        raw = max(eoq_qty, gap)
    moq = o.moq if o else ZERO
    pack = o.pack_size if o else ONE
    qty = round_qty(raw, moq, pack)
    if raw <= 0:
        why += "; nothing to order"
    elif qty != raw:
        rules = ["a whole unit"]
        if moq > 0:
            rules.append(f"MOQ {_n(moq)}")
        if pack != ONE:
            rules.append(f"pack of {_n(pack)}")
        why += f", rounded up to {_n(qty)} ({', '.join(rules)})"
    if o is None and p.supplier_id is None:
        why += "; no supplier sells it yet"
    return Suggestion(qty=qty, raw_qty=raw, eoq=eoq_qty, reason=why + ".")

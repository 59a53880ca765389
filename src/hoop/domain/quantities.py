"""Exact decimal quantities and money: 4 places stored, half-even rounding, never floats."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from hoop.domain.errors import ValidationFailed

SCALE = 4
QUANTUM = Decimal(1).scaleb(-SCALE)  # 0.0001
FACTOR = 10**SCALE
LIMIT = Decimal(10) ** 14  # magnitude bound so scaled integers fit in 64 bits
ZERO = Decimal(0)


def parse_decimal(value: object, field: str = "value") -> Decimal:
    """Parse a JSON string or number into a Decimal with at most 4 places, or raise."""
    if isinstance(value, bool) or value is None:
        raise ValidationFailed(f"{field} must be a decimal number", {"field": field})
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationFailed(f"{field} is not a decimal number", {"field": field}) from None
    if not d.is_finite():
        raise ValidationFailed(f"{field} must be finite", {"field": field})
    if abs(d) >= LIMIT:
        raise ValidationFailed(f"{field} is too large", {"field": field})
    if d != d.quantize(QUANTUM, rounding=ROUND_HALF_EVEN):
        raise ValidationFailed(f"{field} has more than {SCALE} decimal places", {"field": field})
    return d


def q4(value: Decimal) -> Decimal:
    """Round to the stored 4 places, half-even."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)


def to_scaled(value: Decimal) -> int:
    return int(q4(value) * FACTOR)


def from_scaled(value: int) -> Decimal:
    """The Decimal with 4 places (exponent -4) that `value` counts in 10^-4 units; exact."""
    return Decimal(value).scaleb(-SCALE)


def fmt(value: Decimal | None) -> str | None:
    """Render for JSON: a plain string without exponent, trailing zeros kept to 4 places trimmed."""
    if value is None:
        return None
    s = format(value.normalize(), "f")
    return s if s != "-0" else "0"


CENT = Decimal("0.01")


class Cents(Decimal):
    """Money as reports show it: 2 places (the ledger keeps 4)."""

    __slots__ = ()


class Money4(Decimal):
    """Money kept to its 4 places in reports too (a unit cost)."""

    __slots__ = ()


def cents(value: Decimal) -> Cents:
    return Cents(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


def cents_summing_to_total(values: list[Decimal]) -> tuple[list[Cents], Cents]:
    """Round each value to cents so that the rounded lines add up to the rounded total.

    Each line is first rounded down; the cents still missing go to the lines that lost the most
    (largest remainder), ties to the earlier line. So a report's lines and its total agree to
    the cent, and no line is off by more than one cent."""
    total = cents(sum(values, ZERO))
    if not values:
        return [], total
    units = [int((v / CENT).to_integral_value(rounding="ROUND_FLOOR")) for v in values]
    rests = [v / CENT - u for v, u in zip(values, units, strict=True)]
    missing = int(total / CENT) - sum(units)
    order = sorted(range(len(values)), key=lambda i: -rests[i])
    if missing >= 0:
        for i in order[:missing]:
            units[i] += 1
    else:  # cannot happen with floors; kept for safety
        for i in order[missing:]:
            units[i] -= 1
    return [Cents(Decimal(u) * CENT) for u in units], total


CENT_UNITS = FACTOR // 100  # a cent in scaled units


def cent_rest(value: int) -> int:
    """What a scaled amount has below the cent it rounds down to: 0..CENT_UNITS - 1."""
    return value % CENT_UNITS


def cent_ranks(values: list[int]) -> list[int]:
    """Each scaled value's rank (from 1) in the order `cents_summing_to_total` hands out the
    missing cents: largest `cent_rest` first, ties to the earlier value."""
    order = sorted(range(len(values)), key=lambda i: (-cent_rest(values[i]), i))
    ranks = [0] * len(values)
    for rank, i in enumerate(order, start=1):
        ranks[i] = rank
    return ranks


def cents_of_ranked(
    values: list[int], ranks: list[int], n: int, total: int, rests: int
) -> tuple[list[Cents], Cents]:
    """The cents `cents_summing_to_total` gives some lines of a report of `n` lines (scaled
    `values`), knowing only the report's totals: `total` (of every line's value), `rests` (of
    every line's `cent_rest`) and each line's rank (from 1) in the order in which that function
    hands out the missing cents: largest rest first, ties to the earlier line. So a page of a
    report shows the same cents as the whole report, without the other lines."""
    whole = cents(from_scaled(total))
    missing = int(whole / CENT) - (total - rests) // CENT_UNITS
    out: list[Cents] = []
    for value, rank in zip(values, ranks, strict=True):
        units = value // CENT_UNITS
        if missing >= 0:
            units += rank <= missing
        else:  # as in cents_summing_to_total: cannot happen with floors
            units -= rank > n + missing
        out.append(Cents(Decimal(units) * CENT))
    return out, whole


def decimal_text(value: Decimal) -> str:
    """A decimal as text for people and files: cents to 2 places, unit costs (Money4) to 4,
    other quantities as entered."""
    if isinstance(value, Cents):
        return f"{value:.2f}"
    if isinstance(value, Money4):
        return f"{value:.4f}"
    return fmt(value) or "0"

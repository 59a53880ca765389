"""Report cents: a page of lines rounded from the report's totals and each line's rank shows
the same cents as rounding the whole report (`cents_summing_to_total`)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from hoop.domain.quantities import (
    cent_ranks,
    cent_rest,
    cents_of_ranked,
    cents_summing_to_total,
    from_scaled,
)


def ranks_of(values: list[int]) -> list[int]:
    """Rank from 1: largest rest first, ties to the earlier line (what SQL's row_number over
    (rest desc, position) gives)."""
    order = sorted(range(len(values)), key=lambda i: (-cent_rest(values[i]), i))
    rank = [0] * len(values)
    for r, i in enumerate(order, start=1):
        rank[i] = r
    return rank


def test_three_thirds_hand_worked() -> None:
    # 33.3333 three times: each floors to 33.33 (rest 0.0033); the total 99.9999 rounds to
    # 100.00, so one cent is missing and goes to the first line (ties to the earlier line)
    values = [333333, 333333, 333333]
    lines, total = cents_of_ranked(values, ranks_of(values), 3, sum(values), 99)
    assert total == D("100.00")
    assert lines == [D("33.34"), D("33.33"), D("33.33")]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-(10**9), 10**9), max_size=40),
    st.integers(0, 45),
    st.integers(1, 12),
)
def test_a_page_shows_the_cents_of_the_whole_report(
    values: list[int], offset: int, size: int
) -> None:
    whole, whole_total = cents_summing_to_total([from_scaled(v) for v in values])
    ranks = ranks_of(values)
    assert cent_ranks(values) == ranks
    page = slice(offset, offset + size)
    lines, total = cents_of_ranked(
        values[page], ranks[page], len(values), sum(values), sum(cent_rest(v) for v in values)
    )
    assert total == whole_total and str(total) == str(whole_total)
    assert [str(c) for c in lines] == [str(c) for c in whole[page]]

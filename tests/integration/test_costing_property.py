"""Property, through the service and the real database: whatever sequence of receipts,
shipments, adjustments, scrap, cancellations, method changes and backdated postings an org
makes, the costing kept incrementally (append or replay per variant) equals a recompute of
every history from the moves, and ledger value = cost layers = journal Inventory balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hoop.adapters.db import costing as costing_db
from hoop.domain.errors import HoopError
from hoop.service import access, catalog, costing, reports, stock
from tests.helpers import unique

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=60)

qty = st.integers(1, 12).map(Decimal)
cost = st.decimals(min_value=Decimal("0"), max_value=Decimal("40"), places=2)
day = st.integers(0, 59)  # effective day: most postings land before later ones (backdating)
sku = st.sampled_from([0, 1])
op = st.one_of(
    st.tuples(st.just("receipt"), sku, qty, cost, day),
    st.tuples(st.just("shipment"), sku, qty, st.none(), day),
    st.tuples(st.just("found"), sku, qty, st.none(), day),
    st.tuples(st.just("lost"), sku, qty, st.none(), day),
    st.tuples(st.just("scrap"), sku, qty, st.none(), day),
    st.tuples(st.just("cancel"), st.integers(0, 30), st.none(), st.none(), st.none()),
    st.tuples(st.just("method"), st.sampled_from(["fifo", "lifo", "average", None]),
              st.none(), st.none(), st.none()),
    st.tuples(st.just("recompute"), st.none(), st.none(), st.none(), st.none()),
)  # fmt: skip


@pytest.fixture
def small_batches():
    """A checkpoint after every replayed event and COPY from 3 rows, so short histories take
    those paths."""
    saved = costing_db.CHECKPOINT_EVERY, costing_db.COPY_FROM
    costing_db.CHECKPOINT_EVERY, costing_db.COPY_FROM = 1, 3
    yield
    costing_db.CHECKPOINT_EVERY, costing_db.COPY_FROM = saved


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    initial=st.sampled_from(["fifo", "lifo", "average"]),
    ops=st.lists(op, min_size=1, max_size=14),
)
def test_incremental_costing_equals_recompute(uow, small_batches, initial, ops):
    s = uow.write(
        lambda c: access.signup(
            c, "P", f"{unique('p')}@x.io", "password1", "enterprise", costing_method=initial
        )
    )
    actor = uow.read(lambda c: access.authenticate(c, s["token"]))
    wh = uow.write(
        lambda c: catalog.create_location(
            c, actor, {"name": "W", "code": unique("W"), "type": "warehouse"}
        )
    )["id"]
    skus = [unique("A"), unique("B")]
    product = uow.write(
        lambda c: catalog.create_product(
            c, actor, {"name": "P", "variants": [{"sku": x} for x in skus]}
        )
    )["id"]
    posted: list[int] = []
    for kind, a, q, unit, d in ops:
        if kind == "cancel":
            if not posted:
                continue
            target = posted[a % len(posted)]
            fn = lambda c, t=target: stock.cancel(c, actor, t)  # noqa: E731
        elif kind == "recompute":  # rewrites every history, laying down fresh checkpoints
            fn = lambda c: costing.recompute(c, actor.org_id)  # noqa: E731
        elif kind == "method":
            fn = lambda c, m=a: catalog.update_product(  # noqa: E731
                c, actor, product, {"costing_method": m}
            )
        else:
            line = {"sku": skus[a], "qty": q if kind != "lost" else -q}
            if unit is not None:
                line["unit_cost"] = unit
            data = {
                "receipt": {"type": "receipt", "to_location_id": wh},
                "shipment": {"type": "shipment", "from_location_id": wh},
                "found": {"type": "adjustment", "location_id": wh, "reason": "found"},
                "lost": {"type": "adjustment", "location_id": wh, "reason": "lost"},
                "scrap": {"type": "scrap", "from_location_id": wh},
            }[kind]
            eff = T0 + timedelta(days=d, minutes=len(posted))
            fn = lambda c, data=data, line=line, eff=eff: stock.create_document(  # noqa: E731
                c, actor, {**data, "effective_at": eff.isoformat(), "lines": [line]}
            )
        try:
            out = uow.write(fn)
        except HoopError as exc:
            # refusals are fine (not enough stock now, or at the backdated time; a document
            # already cancelled): they must change nothing, which the check below covers
            assert exc.status in (402, 409, 422), exc
            continue
        if kind not in ("cancel", "method", "recompute"):
            posted.append(out["id"])

    result = uow.read(lambda c: reports.reconcile(c, actor.org_id, deep=True))
    assert result["differences"] == []
    ledger, layers, journal = result["totals"]
    assert ledger == layers == journal


@pytest.mark.parametrize("method", ["fifo", "lifo", "average"])
def test_backdating_resumes_from_a_checkpoint_and_matches_a_recompute(
    uow, small_batches, monkeypatch, method
):
    """A long history with checkpoints laid down by a recompute; a receipt backdated into its
    middle resumes from the checkpoint before it (replaying only what follows), including a
    cancel whose reversing move undoes a shipment costed before that checkpoint."""
    resumed = []
    found = costing_db._checkpoint_before
    monkeypatch.setattr(
        costing_db,
        "_checkpoint_before",
        lambda *a: resumed.append(found(*a)) or resumed[-1],
    )
    s = uow.write(
        lambda c: access.signup(
            c, "P", f"{unique('p')}@x.io", "password1", "enterprise", costing_method=method
        )
    )
    actor = uow.read(lambda c: access.authenticate(c, s["token"]))
    wh = uow.write(
        lambda c: catalog.create_location(
            c, actor, {"name": "W", "code": unique("W"), "type": "warehouse"}
        )
    )["id"]
    sku = unique("A")
    uow.write(lambda c: catalog.create_product(c, actor, {"name": "P", "variants": [{"sku": sku}]}))

    def post(kind: str, day: int, qty: int, cost: str | None = None) -> dict:
        where = {"receipt": "to_location_id", "shipment": "from_location_id"}[kind]
        line = {"sku": sku, "qty": qty, **({"unit_cost": cost} if cost else {})}
        eff = (T0 + timedelta(days=day)).isoformat()
        return uow.write(
            lambda c: stock.create_document(
                c, actor, {"type": kind, where: wh, "effective_at": eff, "lines": [line]}
            )
        )

    early_ship = None
    for d in range(0, 40, 2):  # receipts of 5 at rising costs, shipments of 3 between them
        post("receipt", d, 5, f"{d + 1}.25")
        ship = post("shipment", d + 1, 3)
        early_ship = early_ship or ship
    uow.write(lambda c: costing.recompute(c, actor.org_id))  # checkpoints after every event
    resumed.clear()
    post("receipt", 30, 7, "0.50")  # backdated into the middle
    uow.write(lambda c: stock.cancel(c, actor, early_ship["id"]))  # undoes a day-1 shipment
    assert any(r is not None for r in resumed), "the backdated receipt resumed from a checkpoint"
    result = uow.read(lambda c: reports.reconcile(c, actor.org_id, deep=True))
    assert result["differences"] == []
    ledger, layers, journal = result["totals"]
    assert ledger == layers == journal

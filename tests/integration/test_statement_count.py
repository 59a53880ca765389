"""A posting costs a fixed number of SQL statements, whatever its line count (no N+1)."""

from decimal import Decimal

from sqlalchemy import event

from hoop.service import access, catalog, stock
from tests.helpers import unique


def _count_statements(engine, fn):
    seen = []

    def listener(conn, cursor, statement, params, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def test_statements_per_document_do_not_grow_with_lines(engine, uow):
    s = uow.write(lambda c: access.signup(c, "S", f"{unique('s')}@x.io", "password1", "pro"))
    actor = uow.read(lambda c: access.authenticate(c, s["token"]))
    wh = uow.write(
        lambda c: catalog.create_location(
            c, actor, {"name": "W", "code": unique("W"), "type": "warehouse"}
        )
    )["id"]
    skus = [unique("S") for _ in range(300)]
    uow.write(
        lambda c: catalog.create_product(
            c, actor, {"name": "P", "variants": [{"sku": x} for x in skus]}
        )
    )

    def post(doc_type, n, **extra):
        lines = [{"sku": x, "qty": Decimal(2), "unit_cost": Decimal(1)} for x in skus[:n]]
        return _count_statements(
            engine,
            lambda: uow.write(
                lambda c: stock.create_document(
                    c, actor, {"type": doc_type, "lines": lines, **extra}
                )
            ),
        )

    # A variant's first cost event replays its (short) history: a fixed number of statements
    # per chunk of variants, whatever the line count.
    post("receipt", 1, to_location_id=wh)  # warms the per-org cache of virtual locations
    first = {n: post("receipt", n, to_location_id=wh) for n in (2, 300)}  # (1 old, rest new)
    assert first[2] == first[300] <= 24, first
    # From then on each posting appends to the variants' books. 16 statements: begin, the
    # document and its lines, the org's period, balances, moves (+ their ids on SQLite), cost
    # books locked, cost entries, journal, books written, audit, idempotency-free commit.
    counts = {n: post("receipt", n, to_location_id=wh) for n in (1, 10, 300)}
    assert counts[1] == counts[10] == counts[300], counts
    assert counts[300] <= 16
    ships = {n: post("shipment", n, from_location_id=wh) for n in (1, 300)}
    assert ships[1] == ships[300] <= 16, ships

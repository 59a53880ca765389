"""Prove the books: every balance equals the sum of the ledger, invariants hold, and the audit
chain is intact."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, literal, select, union_all

from hoop.adapters.db.tables import balances, locations, moves, orgs
from hoop.adapters.db.types import Scaled
from hoop.service import audit
from hoop.service.unit_of_work import UnitOfWork


def ledger_sums(conn: Connection, org_id: int) -> dict[tuple[int, int, str], Decimal]:
    internal = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.internal.is_(True)
    )
    inbound = select(
        moves.c.variant_id,
        moves.c.to_location_id.label("loc"),
        moves.c.lot,
        moves.c.qty.label("q"),
        literal(1).label("sign"),
    ).where(moves.c.org_id == org_id, moves.c.to_location_id.in_(internal))
    outbound = select(
        moves.c.variant_id,
        moves.c.from_location_id.label("loc"),
        moves.c.lot,
        moves.c.qty.label("q"),
        literal(-1).label("sign"),
    ).where(moves.c.org_id == org_id, moves.c.from_location_id.in_(internal))
    u = union_all(inbound, outbound).subquery()
    stmt = select(
        u.c.variant_id, u.c.loc, u.c.lot, u.c.sign, func.sum(u.c.q, type_=Scaled())
    ).group_by(u.c.variant_id, u.c.loc, u.c.lot, u.c.sign)
    acc: dict[tuple[int, int, str], Decimal] = defaultdict(Decimal)
    for v, loc, lot, sign, total in conn.execute(stmt):
        acc[(v, loc, lot)] += Decimal(sign) * total
    return acc


def check_org(conn: Connection, org_id: int) -> list[str]:
    problems: list[str] = []
    expected = ledger_sums(conn, org_id)
    actual: dict[tuple[int, int, str], tuple[Decimal, Decimal]] = {
        (r.variant_id, r.location_id, r.lot): (r.on_hand, r.reserved)
        for r in conn.execute(select(balances).where(balances.c.org_id == org_id))
    }
    for key in sorted(set(expected) | set(actual)):
        want = expected.get(key, Decimal(0))
        on_hand, reserved = actual.get(key, (Decimal(0), Decimal(0)))
        label = f"org {org_id}: variant {key[0]} at location {key[1]}" + (
            f" lot {key[2]}" if key[2] else ""
        )
        if on_hand != want:
            problems.append(f"{label}: balance on_hand {on_hand} but the ledger sums to {want}")
        if on_hand < 0:
            problems.append(f"{label}: on_hand is negative ({on_hand})")
        if reserved < 0 or reserved > on_hand:
            problems.append(f"{label}: reserved {reserved} is outside 0..on_hand ({on_hand})")
    return problems


def check_costing(conn: Connection, org_id: int) -> list[str]:
    """Ledger value = cost layers = journal Inventory balance; layer quantity = stock."""
    from hoop.service.reports import reconcile

    out = []
    for d in reconcile(conn, org_id)["differences"]:
        facts = ", ".join(f"{k} {v}" for k, v in d.items() if k not in ("kind", "variant_id"))
        out.append(f"org {org_id}: costing {d['kind']} differs for {facts}")
    return out


def _org_ids(conn: Connection, org_id: int | None) -> list[int]:
    if org_id is not None:
        return [org_id]
    return list(conn.execute(select(orgs.c.id).order_by(orgs.c.id)).scalars())


def verify_all(uow: UnitOfWork, org_id: int | None = None) -> dict[str, Any]:
    """Seal pending audit events, then check balances and chains in one snapshot (so writers
    running meanwhile cannot make a balance and its ledger sum disagree on paper)."""
    sealed = uow.write(lambda conn: sum(audit.seal(conn, o) for o in _org_ids(conn, org_id)))

    def check(conn: Connection) -> dict[str, Any]:
        ids = _org_ids(conn, org_id)
        problems: list[str] = []
        for oid in ids:
            problems += check_org(conn, oid)
            problems += check_costing(conn, oid)
            problems += audit.verify_chain(conn, oid)
        return {"orgs": len(ids), "sealed": sealed, "problems": problems}

    return uow.snapshot(check)

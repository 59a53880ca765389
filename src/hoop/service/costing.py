"""Costing commands: the method in force (org default, product override), re-valuation when it
changes, accounting periods, and the full recompute that proves the stored costing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hoop.adapters.db import costing as costing_db
from hoop.adapters.db.tables import (
    cost_books,
    costing_methods,
    moves,
    orgs,
    period_closes,
    products,
    variants,
)
from hoop.domain.costing import Method
from hoop.domain.dates import parse_instant
from hoop.domain.errors import Conflict, ValidationFailed
from hoop.service import audit
from hoop.service.context import Actor


def _now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ method in force


def record_method(
    conn: Connection,
    org_id: int,
    method: str | None,
    at: datetime,
    *,
    product_id: int | None = None,
    user_id: int | None = None,
) -> None:
    """Note the method in force from `at` (org default, or a product's override; None removes
    the override). Costing reads these to know which method held when."""
    conn.execute(
        insert(costing_methods).values(
            org_id=org_id,
            product_id=product_id,
            method=method,
            effective_at=at,
            changed_by=user_id,
        )  # fmt: skip
    )


def method_changed(
    conn: Connection,
    actor: Actor,
    *,
    product_id: int | None = None,
    method: str | None,
    org_default: str,
) -> int:
    """Record a change of method (org default when product_id is None) and re-value the stock
    of every variant whose method in force it changes, from now. Returns the books re-valued."""
    now = _now()
    record_method(conn, actor.org_id, method, now, product_id=product_id, user_id=actor.user_id)
    q = (
        select(variants.c.id, products.c.costing_method)
        .join(products, products.c.id == variants.c.product_id)
        .join(
            cost_books,
            (cost_books.c.variant_id == variants.c.id) & (cost_books.c.org_id == actor.org_id),
        )
        .where(variants.c.org_id == actor.org_id)
    )
    if product_id is not None:
        q = q.where(products.c.id == product_id)
    else:
        q = q.where(products.c.costing_method.is_(None))
    targets = {}
    for variant_id, override in conn.execute(q):
        targets[variant_id] = Method(
            (method or org_default) if product_id is not None else (override or org_default)
        )
    return costing_db.apply_method_change(conn, actor.org_id, targets, now)


# ------------------------------------------------------------------ periods


def closed_until(conn: Connection, org_id: int, *, lock: bool = False) -> datetime | None:
    stmt = select(orgs.c.closed_until).where(orgs.c.id == org_id)
    if lock and conn.dialect.name == "postgresql":
        # a posting holds KEY SHARE on its org (as any insert with an org foreign key does), so
        # a close (FOR UPDATE) waits for postings in flight, and they for it
        stmt = stmt.with_for_update(read=True, key_share=True)
    return conn.execute(stmt).scalar()


def check_open(conn: Connection, org_id: int, effective: list[datetime]) -> None:
    """Refuse a posting with any move effective in a closed period."""
    if not effective:
        return
    until = closed_until(conn, org_id, lock=True)
    if until is None:
        return
    early = min(effective)
    if early < until:
        raise Conflict(
            f"the accounting period is closed until {until.isoformat()}: nothing may be "
            f"posted effective {early.isoformat()}",
            {"closed_until": until.isoformat(), "effective_at": early.isoformat()},
            code="period_closed",
        )


def close_period(conn: Connection, actor: Actor, data: Any) -> dict[str, Any]:
    actor.require("periods.close")
    if not isinstance(data, dict) or "until" not in data:
        raise ValidationFailed("give until: a date (YYYY-MM-DD)", {"field": "until"})
    until = parse_instant(data["until"], "until", end_of_day=True)
    if until is None:
        raise ValidationFailed("give until: a date (YYYY-MM-DD)", {"field": "until"})
    now = _now()
    if until > now:
        raise ValidationFailed(
            "a period can only be closed up to now, not into the future", {"field": "until"}
        )
    current = conn.execute(
        select(orgs.c.closed_until).where(orgs.c.id == actor.org_id).with_for_update()
    ).scalar()
    if current is not None and until < current:
        raise Conflict(
            f"periods are already closed until {current.isoformat()}; closing is never undone",
            {"closed_until": current.isoformat()},
            code="period_already_closed",
        )
    if current != until:
        conn.execute(update(orgs).where(orgs.c.id == actor.org_id).values(closed_until=until))
        conn.execute(
            insert(period_closes).values(
                org_id=actor.org_id, closed_until=until, closed_by=actor.user_id, closed_at=now
            )
        )
    audit.record(
        conn, actor, "period.close", "org", actor.org_id,
        {"closed_until": current.isoformat() if current else None},
        {"closed_until": until.isoformat()},
    )  # fmt: skip
    return {"closed_until": until, "previous": current}


def list_closes(conn: Connection, actor: Actor) -> dict[str, Any]:
    actor.require("reports.read")
    rows = conn.execute(
        select(period_closes)
        .where(period_closes.c.org_id == actor.org_id)
        .order_by(period_closes.c.id.desc())
    ).all()
    return {
        "closed_until": closed_until(conn, actor.org_id),
        "items": [
            {"closed_until": r.closed_until, "closed_by": r.closed_by, "closed_at": r.closed_at}
            for r in rows
        ],
    }


# ------------------------------------------------------------------ recompute


def recompute(
    conn: Connection, org_id: int, *, check_only: bool = False, actor: Actor | None = None
) -> dict[str, Any]:
    """Cost the org's whole history again from the moves alone. With `check_only`, write
    nothing and list every stored value that differs from the recomputed one."""
    if actor is not None and not check_only:
        audit.record(conn, actor, "costing.recompute", "org", org_id)
    ids = sorted(
        conn.execute(select(moves.c.variant_id).where(moves.c.org_id == org_id).distinct())
        .scalars()
        .all()
    )
    diffs = costing_db.replay_variants(
        conn, org_id, dict.fromkeys(ids), _now(), check_only=check_only
    )
    return {"variants": len(ids), "differences": diffs}

"""Record, seal and verify the per-org, hash-chained audit trail.

Writers only append unsealed events inside their own transaction (no shared lock on the hot
path). Sealing walks an org's unsealed events in commit-visible order and links them into the
chain under a lock on the org's chain head; the scheduler seals every interval and `hoop verify`
seals before it checks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from hoop.adapters.db.tables import audit_events, audit_heads
from hoop.domain.audit import GENESIS, event_hash, hashed_content, jsonable
from hoop.service.context import Actor


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: Any = None,
    before: Any = None,
    after: Any = None,
    outcome: str = "ok",
    error_code: str | None = None,
) -> None:
    conn.execute(
        insert(audit_events).values(
            org_id=actor.org_id,
            at=datetime.now(UTC),
            actor_type=actor.kind,
            actor_id=actor.actor_id,
            action=action,
            object_type=object_type,
            object_id=None if object_id is None else str(object_id),
            outcome=outcome,
            error_code=error_code,
            before=jsonable(before),
            after=jsonable(after),
        )
    )


AuditEntry = tuple[str, str, Any, Any, Any]  # (action, object type, object id, before, after)


def record_many(conn: Connection, actor: Actor, entries: list[AuditEntry]) -> None:
    """Several events by one actor at one moment, in one statement."""
    if len(entries) == 1:
        record(conn, actor, *entries[0])
        return
    at = datetime.now(UTC)
    conn.execute(
        insert(audit_events),
        [
            {"org_id": actor.org_id, "at": at, "actor_type": actor.kind,
             "actor_id": actor.actor_id, "action": action, "object_type": otype,
             "object_id": None if oid is None else str(oid), "outcome": "ok",
             "error_code": None, "before": jsonable(before), "after": jsonable(after)}
            for action, otype, oid, before, after in entries
        ],
    )  # fmt: skip


def _row_dict(row: Any) -> dict[str, Any]:
    d = dict(row._mapping)
    d["at"] = d["at"].isoformat()
    return d


def _lock_head(conn: Connection, org_id: int) -> tuple[int, str]:
    q = select(audit_heads.c.seq, audit_heads.c.hash).where(audit_heads.c.org_id == org_id)
    head = conn.execute(q.with_for_update()).first()
    if head is None:
        conn.execute(insert(audit_heads).values(org_id=org_id, seq=0, hash=GENESIS))
        head = conn.execute(q.with_for_update()).first()
    assert head is not None
    return int(head.seq), str(head.hash)


def seal(conn: Connection, org_id: int, limit: int = 50_000) -> int:
    """Link this org's unsealed events into the chain. Returns how many were sealed."""
    seq, prev = _lock_head(conn, org_id)
    rows = conn.execute(
        select(audit_events)
        .where(audit_events.c.org_id == org_id, audit_events.c.seq.is_(None))
        .order_by(audit_events.c.id)
        .limit(limit)
    ).all()
    if not rows:
        return 0
    updates = []
    for row in rows:
        seq += 1
        h = event_hash(prev, seq, hashed_content(_row_dict(row)))
        updates.append({"b_id": row.id, "b_seq": seq, "b_prev": prev, "b_hash": h})
        prev = h
    from sqlalchemy import bindparam

    conn.execute(
        update(audit_events)
        .where(audit_events.c.id == bindparam("b_id"))
        .values(seq=bindparam("b_seq"), prev_hash=bindparam("b_prev"), hash=bindparam("b_hash")),
        updates,
    )
    conn.execute(
        update(audit_heads).where(audit_heads.c.org_id == org_id).values(seq=seq, hash=prev)
    )
    return len(rows)


def orgs_with_unsealed(conn: Connection) -> list[int]:
    return list(
        conn.execute(
            select(audit_events.c.org_id).where(audit_events.c.seq.is_(None)).distinct()
        ).scalars()
    )


def verify_chain(conn: Connection, org_id: int) -> list[str]:
    """Recompute the org's chain; return a description of every break (empty when intact)."""
    problems: list[str] = []
    prev, expected_seq = GENESIS, 0
    result = conn.execution_options(yield_per=5000).execute(
        select(audit_events)
        .where(audit_events.c.org_id == org_id, audit_events.c.seq.is_not(None))
        .order_by(audit_events.c.seq)
    )
    for row in result:
        expected_seq += 1
        if row.seq != expected_seq:
            problems.append(
                f"org {org_id}: audit seq {row.seq} found where {expected_seq} expected"
            )
            expected_seq = row.seq
        if row.prev_hash != prev:
            problems.append(f"org {org_id}: audit event {row.id} does not link to its predecessor")
        h = event_hash(row.prev_hash or "", row.seq, hashed_content(_row_dict(row)))
        if h != row.hash:
            problems.append(f"org {org_id}: audit event {row.id} was altered (hash mismatch)")
        prev = row.hash
    head = conn.execute(select(audit_heads).where(audit_heads.c.org_id == org_id)).first()
    if head is not None and (head.seq != expected_seq or head.hash != prev):
        problems.append(
            f"org {org_id}: chain head says seq {head.seq} but the chain ends at {expected_seq}"
            " (events removed from the end?)"
        )
    return problems

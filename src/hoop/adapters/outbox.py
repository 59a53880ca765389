"""The transactional outbox, delivered to webhook endpoints: signed, retried, never two at once.

`events.emit` writes one `outbox` row in the transaction of the change that caused it, so an
event exists exactly when its change committed. The scheduler job `deliver_webhooks` (any
number of workers, see `deliver`) then moves it on in short transactions:

1. **What is owed**: `events.emit` also writes one `pending` delivery per active endpoint of the
   org subscribed to the event, in the same transaction: nothing is fanned out later, so no
   cursor can skip an event whose transaction committed out of id order, and an endpoint
   receives exactly the events emitted while it was active.
2. **Delivery**: claim up to BATCH due `pending` rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
   so concurrent workers take disjoint rows) and, in the same short transaction, count the
   attempt and push `next_attempt_at` a LEASE ahead; commit. POST each with no transaction open
   (one thread per endpoint, in order). Record the results in a second short transaction,
   fenced on (id, attempts): a result that comes back after its lease ran out and the row was
   claimed again changes nothing. Sending stops after SEND_BUDGET (well inside the lease);
   unsent claims are handed back uncounted. A worker that dies mid-batch leaves its claims to be
   retried when the lease ends: at-least-once, so receivers dedupe on `Hoop-Event-Id`.

Request: `POST <url>` with the outbox payload `{id, event, created_at, org_id, data}` as compact
JSON, and headers `Content-Type: application/json`, `Hoop-Event`, `Hoop-Event-Id` (the same on
every retry), `Hoop-Delivery` (the delivery id), `Hoop-Attempt`, and `Hoop-Signature: sha256=<hex
HMAC-SHA256 of the raw body, keyed by the endpoint's secret>`. Any 2xx is delivered; anything
else (3xx included: redirects are not followed), a timeout or a connection error is retried per
`hoop.domain.webhooks.retry_delay`, then `failed`, keeping `last_error`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Connection, bindparam, select, update

from hoop.adapters.db.tables import outbox, webhook_deliveries, webhook_endpoints
from hoop.domain import webhooks as rules
from hoop.service.unit_of_work import UnitOfWork

log = logging.getLogger("hoop.webhooks")

wd, we = webhook_deliveries, webhook_endpoints
BATCH = 100
LEASE = timedelta(minutes=2)
SEND_BUDGET = 20.0  # seconds of sending per run; a request may add TIMEOUT x 3 at worst
TIMEOUT = httpx.Timeout(5.0)
PARALLEL_ENDPOINTS = 8
USER_AGENT = "Hoop-Webhooks/1.0"


# ------------------------------------------------------------------ delivery


@dataclass(frozen=True)
class Claim:
    id: int
    attempts: int  # counting this one
    endpoint_id: int
    url: str
    secret: str
    event: str
    event_id: str
    body: bytes


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    ok: bool | None  # None: not attempted, handed back
    error: str | None = None
    transport: bool = False  # no HTTP answer (timeout, refused): stop sending to this endpoint


def body_of(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def claim(
    conn: Connection, now: datetime, limit: int = BATCH, skip: frozenset[int] = frozenset()
) -> list[Claim]:
    """Take up to `limit` due deliveries for this worker (none for the endpoints in `skip`):
    count the attempt and lease them."""
    due = (
        select(wd.c.id)
        .where(wd.c.status == "pending", wd.c.next_attempt_at <= now)
        .order_by(wd.c.next_attempt_at, wd.c.id)
        .limit(limit)
    )
    if skip:
        due = due.where(wd.c.endpoint_id.not_in(skip))
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    ids = list(conn.execute(due).scalars())
    if not ids:
        return []
    rows = conn.execute(
        select(wd.c.id, wd.c.attempts, wd.c.endpoint_id, we.c.url, we.c.secret, we.c.active,
               outbox.c.event, outbox.c.event_id, outbox.c.payload)
        .select_from(
            wd.join(outbox, outbox.c.id == wd.c.outbox_id).outerjoin(
                we, (we.c.id == wd.c.endpoint_id) & (we.c.org_id == wd.c.org_id)
            )
        )
        .where(wd.c.id.in_(ids))
        .order_by(wd.c.id)
    ).all()  # fmt: skip
    live = [r for r in rows if r.active]
    dead = [r.id for r in rows if not r.active]
    if dead:  # the endpoint was disabled or deleted after the fan-out
        conn.execute(
            update(wd)
            .where(wd.c.id.in_(dead), wd.c.status == "pending")
            .values(status="failed", last_error="endpoint disabled before delivery")
        )
    if live:
        conn.execute(
            update(wd)
            .where(wd.c.id.in_([r.id for r in live]))
            .values(attempts=wd.c.attempts + 1, next_attempt_at=now + LEASE)
        )
    return [
        Claim(r.id, r.attempts + 1, r.endpoint_id, r.url, r.secret, r.event, r.event_id,
              body_of(r.payload))
        for r in live
    ]  # fmt: skip


def send(client: httpx.Client, c: Claim) -> Outcome:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Hoop-Event": c.event,
        "Hoop-Event-Id": c.event_id,
        "Hoop-Delivery": str(c.id),
        "Hoop-Attempt": str(c.attempts),
        "Hoop-Signature": rules.sign(c.secret, c.body),
    }
    try:
        # stream: only the status line and headers are read, never a (possibly huge) body
        with client.stream("POST", c.url, content=c.body, headers=headers) as r:
            if 200 <= r.status_code < 300:
                return Outcome(c, True)
            return Outcome(c, False, f"HTTP {r.status_code}")
    except httpx.TimeoutException as exc:
        return Outcome(c, False, f"timeout ({type(exc).__name__})", transport=True)
    except Exception as exc:  # refused, DNS, TLS, bad URL: all count as a failed attempt
        return Outcome(c, False, f"{type(exc).__name__}: {exc}"[:500], transport=True)


def send_all(claims: list[Claim], deadline: float) -> list[Outcome]:
    """One thread per endpoint sends its deliveries in order; after a transport failure or
    past the deadline the rest of that endpoint's claims are handed back unsent."""
    groups: dict[int, list[Claim]] = {}
    for c in claims:
        groups.setdefault(c.endpoint_id, []).append(c)

    def run(group: list[Claim]) -> list[Outcome]:
        out: list[Outcome] = []
        stop = False
        with httpx.Client(timeout=TIMEOUT, follow_redirects=False) as client:
            for c in group:
                stop = stop or time.monotonic() > deadline
                out.append(Outcome(c, None) if stop else send(client, c))
                stop = stop or out[-1].transport
        return out

    with ThreadPoolExecutor(max_workers=min(PARALLEL_ENDPOINTS, len(groups))) as pool:
        return [o for outs in pool.map(run, groups.values()) for o in outs]


def record(conn: Connection, outcomes: list[Outcome], now: datetime) -> int:
    """Store the results, fenced on (id, attempts). Returns how many were delivered."""
    done, handed_back = [], []
    for o in outcomes:
        c = o.claim
        if o.ok is None:
            handed_back.append({"b_id": c.id, "b_att": c.attempts, "b_prev": c.attempts - 1})
            continue
        delay = None if o.ok else rules.retry_delay(c.attempts)
        done.append(
            {"b_id": c.id, "b_att": c.attempts,
             "b_status": "delivered" if o.ok else "pending" if delay else "failed",
             "b_next": now + delay if delay else now, "b_err": o.error,
             "b_at": now if o.ok else None}
        )  # fmt: skip
    fence = (wd.c.id == bindparam("b_id"), wd.c.attempts == bindparam("b_att"),
             wd.c.status == "pending")  # fmt: skip
    stale = 0
    if done:
        n = conn.execute(
            update(wd)
            .where(*fence)
            .values(status=bindparam("b_status"), next_attempt_at=bindparam("b_next"),
                    last_error=bindparam("b_err"), delivered_at=bindparam("b_at")),
            done,
        ).rowcount  # fmt: skip
        if conn.dialect.supports_sane_multi_rowcount:
            stale = len(done) - n
    if handed_back:
        conn.execute(
            update(wd).where(*fence).values(attempts=bindparam("b_prev"), next_attempt_at=now),
            handed_back,
        )
    if stale > 0:
        log.warning("%d webhook result(s) came back after their lease and were dropped", stale)
    return sum(1 for o in outcomes if o.ok)


def deliver(
    uow: UnitOfWork,
    now: datetime | None = None,
    *,
    batch: int = BATCH,
    budget: float = SEND_BUDGET,
) -> int:
    """Send due deliveries until none are left or the budget is spent. `now` fixes the clock
    (tests drive retries with it). Returns how many were delivered."""
    clock: Callable[[], datetime] = (lambda: now) if now else (lambda: datetime.now(UTC))
    deadline = time.monotonic() + budget
    delivered = 0
    unreachable: frozenset[int] = frozenset()  # tried once this run: wait for the next one
    while time.monotonic() < deadline:
        at = clock()
        claims = uow.write(lambda conn, at=at, s=unreachable: claim(conn, at, batch, s))
        if not claims:
            break
        outcomes = send_all(claims, deadline)
        delivered += uow.write(lambda conn, o=outcomes: record(conn, o, clock()))
        unreachable |= {o.claim.endpoint_id for o in outcomes if o.transport}
        if len(claims) < batch:
            break
    return delivered

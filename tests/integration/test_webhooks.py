"""Webhooks, end to end on both engines: endpoints over the API, events from `events.emit`,
delivery by the scheduler job to a real HTTP server on 127.0.0.1.

Time is driven by passing `now` to the job, never by sleeping. Every run of the job serves
the whole database (other tests' endpoints included), so a receiver only counts the requests
for its own org.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select

from hoop.adapters import outbox
from hoop.adapters.db.tables import webhook_deliveries, webhook_endpoints
from hoop.domain.webhooks import MAX_ATTEMPTS
from hoop.scheduler import deliver_webhooks
from hoop.service import events
from hoop.service.unit_of_work import UnitOfWork
from tests.helpers import OrgClient, unique

# ------------------------------------------------------------------ a real receiver


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


class Receiver:
    """http.server on 127.0.0.1:<free port>, in a thread. Answers `default` unless a status
    list was scripted for the path (consumed in order)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.scripts: dict[str, list[int]] = {}
        self.default = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                    )
                    script = outer.scripts.get(self.path)
                    status = script.pop(0) if script else outer.default
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def for_org(self, org_id: int, path: str | None = None) -> list[Received]:
        with self.lock:
            got = list(self.received)
        return [r for r in got if r.json["org_id"] == org_id and path in (None, r.path)]

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


class Hooks:
    """Registers endpoints for one org; disables them all at teardown so later runs of the
    job in other tests do not keep retrying to a closed port."""

    def __init__(self, org: OrgClient) -> None:
        self.org, self.ids = org, []

    def register(self, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
        r = self.org.post("/webhooks", {"url": url, "events": events, **extra}, expect=201)
        self.ids.append(r.json()["id"])
        return dict(r.json())

    def deliveries(self, endpoint_id: int) -> list[dict[str, Any]]:
        return list(self.org.get(f"/webhooks/{endpoint_id}/deliveries?limit=500")["items"])


@pytest.fixture
def hooks(org: OrgClient) -> Iterator[Hooks]:
    h = Hooks(org)
    yield h
    for i in h.ids:
        org.patch(f"/webhooks/{i}", {"active": False})


def emit(uow: UnitOfWork, org_id: int, event: str, **data: Any) -> str:
    return uow.write(
        lambda conn: events.emit(conn, org_id, event, {"n": 1, **data}, title=event, body=event)
    )


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (the README shows the same lines)."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


# ------------------------------------------------------------------ endpoints over the API


def test_register_shows_the_secret_once_and_lists_without_it(org, hooks):
    created = hooks.register("https://example.com/hoop", ["order.confirmed", "order.requested"])
    assert created["secret"].startswith("whsec_") and len(created["secret"]) > 40
    assert created["events"] == ["order.confirmed", "order.requested"]
    assert created["active"] is True
    listed = org.get("/webhooks")
    assert [w["id"] for w in listed["items"]] == [created["id"]]
    assert "secret" not in listed["items"][0]
    one = org.get(f"/webhooks/{created['id']}")
    assert "secret" not in one and one["url"] == "https://example.com/hoop"
    audit = org.get(f"/audit?object_type=webhook&object_id={created['id']}")["items"]
    assert audit[0]["action"] == "webhook.create"
    assert created["secret"] not in json.dumps(audit)
    # "*" swallows any other name
    assert hooks.register("http://example.com", ["order.declined", "*"])["events"] == ["*"]


def test_bad_inputs_are_refused_and_write_nothing(org, engine):
    bad = [
        {"url": "ftp://example.com/x", "events": ["*"]},
        {"url": "example.com/hook", "events": ["*"]},
        {"url": "http://", "events": ["*"]},
        {"url": "http://user:pw@example.com/", "events": ["*"]},
        {"url": "http://exa mple.com/", "events": ["*"]},
        {"url": "http://example.com:99999/", "events": ["*"]},
        {"url": "http://ex_ample.com/", "events": ["*"]},
        {"url": "https://example.com/" + "a" * 2000, "events": ["*"]},
        {"url": "https://example.com/", "events": ["order.shipped"]},
        {"url": "https://example.com/", "events": []},
        {"url": "https://example.com/", "events": ["*"], "secret": "mine"},
        {"url": "https://example.com/"},
    ]
    for body in bad:
        r = org.post("/webhooks", body, expect=422)
        assert r.json()["error"]["code"] == "validation_error", body
    created = org.post("/webhooks", {"url": "https://example.com/", "events": ["*"]}, expect=201)
    wid = created.json()["id"]
    org.patch(f"/webhooks/{wid}", {"url": "gopher://x"}, expect=422)
    org.patch(f"/webhooks/{wid}", {"events": ["nope"]}, expect=422)
    org.patch(f"/webhooks/{wid}", {"secret": "x"}, expect=422)
    with engine.connect() as conn:
        rows = conn.execute(
            select(webhook_endpoints.c.url, webhook_endpoints.c.events).where(
                webhook_endpoints.c.org_id == org.org_id
            )
        ).all()
    assert [tuple(r) for r in rows] == [("https://example.com/", ["*"])]
    org.patch(f"/webhooks/{wid}", {"active": False}, expect=200)


def test_only_owners_and_managers_manage_webhooks(org):
    clerk = org.user(["clerk"])
    body = {"url": "https://example.com/", "events": ["*"]}
    assert clerk.post("/webhooks", body, expect=403).json()["error"]["code"] == "forbidden"
    clerk.get("/webhooks", expect=403)
    key = org.post("/api-keys", {"name": "pos", "roles": ["clerk", "finance"]}, expect=201)
    as_key = OrgClient(org.client, key.json()["key"], org.org_id, 0, "", "")
    as_key.post("/webhooks", body, expect=403)
    created = org.user(["manager"]).post("/webhooks", body, expect=201).json()
    clerk.req("DELETE", f"/webhooks/{created['id']}", expect=403)
    clerk.patch(f"/webhooks/{created['id']}", {"active": False}, expect=403)
    org.req("DELETE", f"/webhooks/{created['id']}", expect=204)


def test_another_orgs_endpoint_is_not_found(client, org, hooks):
    mine = hooks.register("https://example.com/", ["*"])
    other = OrgClient.signup(client)
    other.get(f"/webhooks/{mine['id']}", expect=404)
    other.patch(f"/webhooks/{mine['id']}", {"active": False}, expect=404)
    other.req("DELETE", f"/webhooks/{mine['id']}", expect=404)
    other.get(f"/webhooks/{mine['id']}/deliveries", expect=404)
    assert org.get(f"/webhooks/{mine['id']}")["active"] is True


def test_create_replays_with_an_idempotency_key(org, hooks):
    key = {"Idempotency-Key": unique("k")}
    body = {"url": "https://example.com/", "events": ["*"]}
    first = org.post("/webhooks", body, expect=201, headers=key).json()
    again = org.post("/webhooks", body, expect=201, headers=key)
    hooks.ids.append(first["id"])
    assert again.json() == first and again.headers["Idempotent-Replayed"] == "true"
    assert len(org.get("/webhooks")["items"]) == 1


# ------------------------------------------------------------------ delivery


def test_delivery_is_signed_and_carries_the_event(uow, org, hooks, receiver):
    hook = hooks.register(receiver.url(), ["order.confirmed"])
    event_id = emit(uow, org.org_id, "order.confirmed", order_id=7)
    deliver_webhooks(uow)
    [got] = receiver.for_org(org.org_id)
    h = got.headers
    assert h["content-type"] == "application/json"
    assert h["hoop-event"] == "order.confirmed" and h["hoop-event-id"] == event_id
    assert h["hoop-attempt"] == "1"
    assert verify(hook["secret"], got.body, h["hoop-signature"])
    assert not verify(hook["secret"], got.body + b" ", h["hoop-signature"])
    assert got.json["id"] == event_id and got.json["event"] == "order.confirmed"
    assert got.json["data"] == {"n": 1, "order_id": 7}
    [d] = hooks.deliveries(hook["id"])
    assert d["status"] == "delivered" and d["attempts"] == 1 and d["event_id"] == event_id
    assert d["delivered_at"] and d["next_attempt_at"] is None
    deliver_webhooks(uow, later(3600))  # delivered is final
    assert len(receiver.for_org(org.org_id)) == 1


def test_a_failed_delivery_is_retried_with_backoff_and_the_same_event_id(uow, org, hooks, receiver):
    hook = hooks.register(receiver.url(), ["*"])
    receiver.scripts["/hook"] = [500, 503]
    event_id = emit(uow, org.org_id, "order.requested")
    t0 = datetime.now(UTC)
    deliver_webhooks(uow, t0)
    [d] = hooks.deliveries(hook["id"])
    assert (d["status"], d["attempts"], d["last_error"]) == ("pending", 1, "HTTP 500")
    first_retry = datetime.fromisoformat(d["next_attempt_at"])
    assert first_retry == t0 + timedelta(seconds=10)  # 5 s x 2**1
    deliver_webhooks(uow, t0 + timedelta(seconds=9))  # not due yet
    assert len(receiver.for_org(org.org_id)) == 1
    deliver_webhooks(uow, first_retry)
    [d] = hooks.deliveries(hook["id"])
    assert (d["attempts"], d["last_error"]) == (2, "HTTP 503")
    assert datetime.fromisoformat(d["next_attempt_at"]) == first_retry + timedelta(seconds=20)
    deliver_webhooks(uow, first_retry + timedelta(seconds=20))
    [d] = hooks.deliveries(hook["id"])
    assert d["status"] == "delivered" and d["attempts"] == 3
    got = receiver.for_org(org.org_id)
    assert [r.headers["hoop-attempt"] for r in got] == ["1", "2", "3"]
    # a redelivery is the same event: same id, same bytes, same signature
    assert {r.headers["hoop-event-id"] for r in got} == {event_id}
    assert len({r.body for r in got}) == 1 and len({r.headers["hoop-signature"] for r in got}) == 1


def test_a_delivery_fails_for_good_after_max_attempts(uow, org, hooks, receiver):
    hook = hooks.register(receiver.url(), ["stock.low"])
    receiver.default = 500
    emit(uow, org.org_id, "stock.low", sku="A")
    for i in range(MAX_ATTEMPTS + 2):
        deliver_webhooks(uow, later(7200 * i))
    assert len(receiver.for_org(org.org_id)) == MAX_ATTEMPTS
    [d] = hooks.deliveries(hook["id"])
    assert (d["status"], d["attempts"], d["last_error"]) == ("failed", MAX_ATTEMPTS, "HTTP 500")
    assert d["next_attempt_at"] is None
    assert [x["id"] for x in org.get(f"/webhooks/{hook['id']}/deliveries?status=failed")["items"]]


def test_an_unreachable_endpoint_is_retried_too(uow, org, hooks, receiver):
    port = receiver.server.server_address[1]
    receiver.close()  # nothing listens there any more
    hook = hooks.register(f"http://127.0.0.1:{port}/gone", ["*"])
    for _ in range(3):
        emit(uow, org.org_id, "order.cancelled")
    deliver_webhooks(uow)
    ds = hooks.deliveries(hook["id"])
    # one attempt per run for an endpoint that does not answer; the rest wait, uncounted
    assert sorted(d["attempts"] for d in ds) == [0, 0, 1]
    tried = next(d for d in ds if d["attempts"] == 1)
    assert tried["status"] == "pending" and "Connect" in tried["last_error"]


def test_subscriptions_filter_by_event_name(uow, org, hooks, receiver):
    a = hooks.register(receiver.url("/a"), ["order.confirmed"])
    b = hooks.register(receiver.url("/b"), ["*"])
    c = hooks.register(receiver.url("/c"), ["order.cancelled", "order.declined"])
    ids = {e: emit(uow, org.org_id, e) for e in ("order.confirmed", "order.cancelled", "stock.low")}
    deliver_webhooks(uow)

    def got(path: str) -> list[str]:
        return sorted(r.headers["hoop-event"] for r in receiver.for_org(org.org_id, path))

    assert got("/a") == ["order.confirmed"]
    assert got("/b") == ["order.cancelled", "order.confirmed", "stock.low"]
    assert got("/c") == ["order.cancelled"]
    assert {d["event_id"] for d in hooks.deliveries(b["id"])} == set(ids.values())
    assert len(hooks.deliveries(a["id"])) == len(hooks.deliveries(c["id"])) == 1


def test_an_endpoint_gets_only_events_emitted_after_it_was_created(uow, org, hooks, receiver):
    emit(uow, org.org_id, "order.confirmed", before=True)
    hooks.register(receiver.url(), ["*"])
    emit(uow, org.org_id, "order.confirmed", before=False)
    deliver_webhooks(uow)
    assert [r.json["data"]["before"] for r in receiver.for_org(org.org_id)] == [False]


def test_nothing_goes_to_a_deleted_or_disabled_endpoint(uow, org, hooks, receiver):
    gone = hooks.register(receiver.url("/gone"), ["*"])
    off = hooks.register(receiver.url("/off"), ["*"])
    hooks.register(receiver.url("/on"), ["*"])
    paused = hooks.register(receiver.url("/paused"), ["*"], active=False)
    receiver.default = 500
    emit(uow, org.org_id, "order.confirmed", step=1)
    deliver_webhooks(uow)  # one failed attempt each, retries pending
    assert sorted(r.path for r in receiver.for_org(org.org_id)) == ["/gone", "/off", "/on"]
    org.req("DELETE", f"/webhooks/{gone['id']}", expect=204)
    org.patch(f"/webhooks/{off['id']}", {"active": False}, expect=200)
    receiver.default = 200
    emit(uow, org.org_id, "order.confirmed", step=2)
    deliver_webhooks(uow, later(3600))
    after = [(r.path, r.json["data"]["step"]) for r in receiver.for_org(org.org_id)][3:]
    assert sorted(after) == [("/on", 1), ("/on", 2)]
    [d] = hooks.deliveries(off["id"])
    assert d["status"] == "failed" and d["last_error"] == "endpoint disabled before delivery"
    org.get(f"/webhooks/{gone['id']}", expect=404)
    assert hooks.deliveries(paused["id"]) == []
    # enabled again, it gets what is emitted from then on
    org.patch(f"/webhooks/{off['id']}", {"active": True}, expect=200)
    emit(uow, org.org_id, "order.confirmed", step=3)
    deliver_webhooks(uow)
    assert [r.json["data"]["step"] for r in receiver.for_org(org.org_id, "/off")] == [1, 3]


def test_a_result_after_the_lease_ran_out_changes_nothing(uow, org, hooks, receiver):
    """Worker A claims, stalls past its lease; B claims the same delivery and delivers it; A's
    late failure must not turn B's success back into a retry."""
    hook = hooks.register(receiver.url(), ["*"])
    emit(uow, org.org_id, "order.delivered")
    mine = [hook["id"]]

    def take(at: datetime) -> list[outbox.Claim]:
        others = frozenset(  # claim only this test's delivery
            uow.read(
                lambda conn: conn.execute(
                    select(webhook_deliveries.c.endpoint_id).where(
                        webhook_deliveries.c.endpoint_id.not_in(mine)
                    )
                ).scalars()
            )
        )
        return uow.write(lambda conn: outbox.claim(conn, at, 100, others))

    t0 = datetime.now(UTC)
    [a] = take(t0)
    assert take(t0 + timedelta(seconds=30)) == []  # leased
    [b] = take(t0 + outbox.LEASE + timedelta(seconds=1))
    assert (a.id, a.attempts, b.attempts) == (b.id, 1, 2)
    uow.write(lambda conn: outbox.record(conn, [outbox.Outcome(b, True)], t0))
    uow.write(lambda conn: outbox.record(conn, [outbox.Outcome(a, False, "HTTP 500")], t0))
    [d] = hooks.deliveries(hook["id"])
    assert (d["status"], d["attempts"], d["last_error"]) == ("delivered", 2, None)


# ------------------------------------------------------------------ many workers


def _race(n: int, fn: Any) -> list[Any]:
    barrier = threading.Barrier(n)

    def one(i: int) -> Any:
        barrier.wait(timeout=30)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result(timeout=120) for f in [pool.submit(one, i) for i in range(n)]]


def test_concurrent_workers_never_deliver_the_same_delivery_twice(uow, org, hooks, receiver):
    """Four workers run the job at once, repeatedly, over 60 deliveries to two endpoints that
    answer slowly: each delivery reaches its receiver exactly once (PostgreSQL: SKIP LOCKED
    claims and leases; SQLite: one writer at a time)."""
    hooks.register(receiver.url("/x"), ["*"])
    hooks.register(receiver.url("/y"), ["order.confirmed"])
    receiver.delay = 0.01
    ids = [emit(uow, org.org_id, "order.confirmed", i=i) for i in range(30)]

    def work(_: int) -> int:  # small batches, so the workers' claims interleave
        return sum(outbox.deliver(uow, batch=4) for _round in range(4))

    delivered = sum(_race(4, work))
    got = receiver.for_org(org.org_id)
    per = Counter((r.path, r.headers["hoop-event-id"]) for r in got)
    assert max(per.values()) == 1, [k for k, v in per.items() if v > 1]
    assert set(per) == {(p, i) for p in ("/x", "/y") for i in ids}
    assert delivered >= 60


def test_an_event_is_owed_to_endpoints_exactly_when_its_change_commits(
    uow, engine, org, hooks, receiver
):
    """Deliveries are written with the event, in its transaction: one rolled back leaves
    nothing to send; one that commits after a later one (ids out of commit order) is still
    sent; an endpoint registered afterwards gets neither."""
    hook = hooks.register(receiver.url(), ["*"])
    with engine.connect() as conn:
        tx = conn.begin()
        events.emit(conn, org.org_id, "order.confirmed", {"k": "gone"}, title="t", body="b")
        tx.rollback()
    if engine.dialect.name == "postgresql":  # SQLite has one writer: commits in id order
        with engine.connect() as slow:
            tx = slow.begin()
            first = events.emit(slow, org.org_id, "order.confirmed", {"k": "slow"}, title="t",
                                body="b")  # fmt: skip
            second = emit(uow, org.org_id, "order.confirmed", k="fast")  # later id, first in
            deliver_webhooks(uow)
            tx.commit()
    else:
        first = emit(uow, org.org_id, "order.confirmed", k="slow")
        second = emit(uow, org.org_id, "order.confirmed", k="fast")
    late = hooks.register(receiver.url("/late"), ["*"])
    deliver_webhooks(uow)
    got = [r.headers["hoop-event-id"] for r in receiver.for_org(org.org_id)]
    assert sorted(got) == sorted({first, second}) and len(got) == 2
    assert len(hooks.deliveries(hook["id"])) == 2 and hooks.deliveries(late["id"]) == []


# ------------------------------------------------------------------ with real orders


def test_an_order_request_reaches_the_webhook_and_the_sellers(org, hooks, receiver, uow):
    hook = hooks.register(receiver.url(), ["order.requested"])
    sku = unique("SKU")
    org.product([sku])  # no stock: an order request
    order = org.post(
        "/orders", {"customer": {"name": "Ann"}, "lines": [{"sku": sku, "qty": 1}]}, expect=201
    ).json()
    assert order["status"] == "pending_seller"
    deliver_webhooks(uow)
    [got] = receiver.for_org(org.org_id)
    assert got.headers["hoop-event"] == "order.requested"
    assert verify(hook["secret"], got.body, got.headers["hoop-signature"])
    mine = org.get("/notifications")["items"]
    assert [n["event"] for n in mine] == ["order.requested"]
    assert mine[0]["data"]["event_id"] == got.headers["hoop-event-id"]


# ------------------------------------------------------------------ the web page of an endpoint


def test_the_endpoint_page_shows_each_delivery_and_its_last_error(app, client, uow, org, hooks,
                                                                   receiver):  # fmt: skip
    from tests.web_helpers import logged_in

    hook = hooks.register(receiver.url(), ["*"])
    receiver.scripts["/hook"] = [200, 500]  # one arrives, the other is refused once
    emit(uow, org.org_id, "order.confirmed")
    emit(uow, org.org_id, "order.cancelled")
    deliver_webhooks(uow)
    by_status = {d["status"]: d["event_id"] for d in hooks.deliveries(hook["id"])}
    delivered, refused = by_status["delivered"], by_status["pending"]
    web = logged_in(app, org.email, org.password)
    listing = web.get("/settings/webhooks")
    assert f'href="/settings/webhooks/{hook["id"]}"' in listing.text

    page = web.get(f"/settings/webhooks/{hook['id']}")
    assert page.status_code == 200 and receiver.url() in page.text
    rows = re.findall(r'<tr data-delivery="\d+">(.*?)</tr>', page.text, re.S)
    assert len(rows) == 2
    by_event = {e: r for r in rows for e in (delivered, refused) if e in r}
    assert "s-delivered" in by_event[delivered] and "HTTP 500" not in by_event[delivered]
    assert "s-pending" in by_event[refused] and "HTTP 500" in by_event[refused]
    assert "next " in by_event[refused]  # when it is tried again

    pending = web.get(f"/settings/webhooks/{hook['id']}?status=pending")
    assert refused in pending.text and delivered not in pending.text
    assert "No failed deliveries." in web.get(f"/settings/webhooks/{hook['id']}?status=failed").text

    stranger = OrgClient.signup(client)
    theirs = logged_in(app, stranger.email, stranger.password)
    assert theirs.get(f"/settings/webhooks/{hook['id']}").status_code == 404
    for odd in ("x", "-1", "'", "9" * 40, "%00"):
        r = web.get(f"/settings/webhooks/{hook['id']}?status={odd}&cursor={odd}")
        assert r.status_code == 200  # ignored: every delivery, first page
    assert web.get("/settings/webhooks/99999999999").status_code == 404
    clerk = org.user(["clerk"])
    assert logged_in(app, clerk.email, clerk.password).get(
        f"/settings/webhooks/{hook['id']}").status_code == 403  # fmt: skip

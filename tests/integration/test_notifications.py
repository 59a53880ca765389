"""Notifications over the API, on both engines: each caller sees and marks only its own.

Notifications are produced the way orders produce them, with `hoop.service.events.emit`
(to the seller-side users of the org, and to the buyer: a user or an API key)."""

from __future__ import annotations

from typing import Any

from hoop.service import events
from hoop.service.unit_of_work import UnitOfWork
from tests.helpers import OrgClient, unique


def notify(
    uow: UnitOfWork, org_id: int, n: int = 1, *, to_sellers: bool = True, **buyer: int
) -> list[str]:
    return [
        uow.write(
            lambda conn, i=i: events.emit(
                conn, org_id, "order.confirmed", {"i": i}, title=f"Order {i}",
                body=f"Order {i} is confirmed.", to_sellers=to_sellers, buyer=buyer or None,
                order_id=1000 + i,
            )
        )
        for i in range(n)
    ]  # fmt: skip


def user_id(org: OrgClient, email: str) -> int:
    return next(u["id"] for u in org.get("/users") if u["email"] == email)


def api_key(org: OrgClient, roles: list[str]) -> tuple[OrgClient, int]:
    r = org.post("/api-keys", {"name": unique("key"), "roles": roles}, expect=201).json()
    return OrgClient(org.client, r["key"], org.org_id, 0, "", ""), int(r["id"])


def items(c: OrgClient, query: str = "") -> list[dict[str, Any]]:
    return list(c.get(f"/notifications{query}")["items"])


def test_list_newest_first_and_mark_read(uow, org):
    notify(uow, org.org_id, 3)
    page = org.get("/notifications")
    assert [n["title"] for n in page["items"]] == ["Order 2", "Order 1", "Order 0"]
    assert page["unread_count"] == 3 and page["next_cursor"] is None
    first = page["items"][0]
    assert first["event"] == "order.confirmed" and first["audience"] == "seller"
    assert first["order_id"] == 1002 and first["data"]["i"] == 2 and first["data"]["event_id"]
    assert first["read_at"] is None and first["body"] == "Order 2 is confirmed."

    read = org.post(f"/notifications/{first['id']}/read", expect=200).json()
    assert read["id"] == first["id"] and read["read_at"]
    again = org.post(f"/notifications/{first['id']}/read", expect=200).json()
    assert again["read_at"] == read["read_at"]  # the first read time stays
    assert [n["title"] for n in items(org, "?unread=true")] == ["Order 1", "Order 0"]
    assert [n["title"] for n in items(org, "?unread=false")] == ["Order 2"]
    assert org.get("/notifications")["unread_count"] == 2

    assert org.post("/notifications/read-all", expect=200).json() == {"updated": 2}
    assert org.post("/notifications/read-all", expect=200).json() == {"updated": 0}
    assert items(org, "?unread=true") == []
    assert org.get("/notifications")["unread_count"] == 0
    actions = [a["action"] for a in org.get("/audit?object_type=notification")["items"]]
    assert actions == ["notification.read_all", "notification.read"]


def test_each_caller_sees_only_its_own(client, uow, org):
    clerk = org.user(["clerk"])  # seller side: gets the seller notifications
    finance = org.user(["finance"])  # not seller side: gets none
    buyer, buyer_id = api_key(org, ["clerk"])
    other_buyer, _ = api_key(org, ["clerk"])
    notify(uow, org.org_id, 1)  # owner + clerk
    notify(uow, org.org_id, 1, to_sellers=False, api_key_id=buyer_id)  # the buyer key only
    clerk_id = user_id(org, clerk.email)
    notify(uow, org.org_id, 1, to_sellers=False, user_id=clerk_id)  # the clerk as a buyer

    assert [n["audience"] for n in items(org)] == ["seller"]
    assert [n["audience"] for n in items(clerk)] == ["buyer", "seller"]
    assert items(finance) == []
    assert [n["audience"] for n in items(buyer)] == ["buyer"]
    assert items(other_buyer) == []

    owners = items(org)[0]
    keys = items(buyer)[0]
    for outsider in (clerk, finance, other_buyer, buyer):
        outsider.post(f"/notifications/{owners['id']}/read", expect=404)
    org.post(f"/notifications/{keys['id']}/read", expect=404)
    stranger = OrgClient.signup(client)
    stranger.post(f"/notifications/{owners['id']}/read", expect=404)
    assert stranger.get("/notifications") == {"items": [], "next_cursor": None, "unread_count": 0}

    # read-all touches only the caller's rows
    assert clerk.post("/notifications/read-all", expect=200).json() == {"updated": 2}
    assert org.get("/notifications")["unread_count"] == 1
    assert buyer.get("/notifications")["unread_count"] == 1
    buyer.post(f"/notifications/{keys['id']}/read", expect=200)
    assert buyer.get("/notifications")["unread_count"] == 0


def test_pages_with_a_cursor(uow, org):
    notify(uow, org.org_id, 7)
    seen, cursor, pages = [], None, 0
    while True:
        page = org.get("/notifications?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += [n["data"]["i"] for n in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [6, 5, 4, 3, 2, 1, 0] and pages == 3
    unread = org.get("/notifications?unread=true&limit=2")
    assert len(unread["items"]) == 2 and unread["unread_count"] == 7
    org.get("/notifications?cursor=abc", expect=422)
    org.get("/notifications?limit=0", expect=422)
    org.get("/notifications?limit=501", expect=422)


def test_read_all_replays_with_an_idempotency_key(uow, org):
    notify(uow, org.org_id, 2)
    key = {"Idempotency-Key": unique("k")}
    first = org.post("/notifications/read-all", expect=200, headers=key)
    notify(uow, org.org_id, 1)
    again = org.post("/notifications/read-all", expect=200, headers=key)
    assert first.json() == again.json() == {"updated": 2}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert org.get("/notifications")["unread_count"] == 1  # the replay changed nothing


def test_every_role_reads_its_notifications_and_no_token_is_401(client, org):
    for role in ("owner", "manager", "clerk", "approver", "finance"):
        org.user([role]).get("/notifications", expect=200)
    assert client.get("/api/v1/notifications").status_code == 401
    assert client.post("/api/v1/notifications/read-all").status_code == 401

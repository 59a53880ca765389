"""The notifications page over both engines: the unread count in the top bar of every page,
the list (newest first, unread marked, paged), opening one (marks it read, goes to its
order), marking one or all read, and nobody else's notification."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import OrgClient, unique
from tests.integration.test_notifications import notify
from tests.web_helpers import WebClient, logged_in

BADGE = re.compile(r'data-testid="unread-count">([^<]*)<')


@pytest.fixture
def web(app: Any, org: OrgClient) -> WebClient:
    return logged_in(app, org.email, org.password)


def badge(html: str) -> str | None:
    m = BADGE.search(html)
    return m.group(1) if m else None


def cards(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-notification="(\d+)"', html)]


def test_an_order_request_shows_in_the_top_bar_and_opens_its_order(
    web: WebClient, org: OrgClient
) -> None:
    assert badge(web.get("/").text) is None  # nothing yet: no badge at all
    sku = unique("SKU")
    org.product([sku])  # no stock: the order becomes a request for the seller to answer
    req = org.post(
        "/orders", {"customer": {"name": "Ana"}, "lines": [{"sku": sku, "qty": "2"}]}, expect=201
    ).json()
    assert req["status"] == "pending_seller"
    assert org.get("/notifications")["unread_count"] == 1  # the seller's (the owner's) one
    assert badge(web.get("/products").text) == "1"  # every page's top bar

    page = web.get("/notifications")
    assert page.status_code == 200
    [nid] = cards(page.text)
    assert "New order request" in page.text and "Answer by" in page.text
    assert "left" in page.text  # the countdown to respond_by (a day by default)
    assert f"Open order #{req['id']}" in page.text

    r = web.post(f"/notifications/{nid}/read", {"open": "1"})  # "Open order #…"
    assert r.status_code == 303 and r.headers["location"] == f"/orders/{req['id']}"
    assert badge(web.get(r.headers["location"]).text) is None
    [n] = org.get("/notifications")["items"]
    assert n["id"] == nid and n["read_at"] is not None


def test_mark_one_then_all_read(web: WebClient, org: OrgClient, uow: Any) -> None:
    notify(uow, org.org_id, 3)
    page = web.get("/notifications")
    ids = cards(page.text)
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)  # newest first
    assert page.text.count(">new</span>") == 3 and badge(page.text) == "3"
    assert "Order 2 is confirmed." in page.text  # no deadline: the body is shown

    back = "/notifications?show=unread"
    r = web.post(f"/notifications/{ids[0]}/read", {"show": "unread", "cursor": ""})
    assert r.status_code == 303 and r.headers["location"] == back
    unread = web.get(back)
    assert cards(unread.text) == ids[1:] and badge(unread.text) == "2"
    assert "Unread (2)" in unread.text

    r = web.post("/notifications/read-all", {"show": "unread"})
    assert r.status_code == 303 and r.headers["location"] == back
    after = web.get(back)
    assert "2 notifications marked read." in after.text  # the flash
    assert cards(after.text) == [] and "Nothing unread." in after.text
    assert badge(after.text) is None and "Mark all read" not in after.text
    assert cards(web.get("/notifications").text) == ids  # all still listed, none new
    assert org.get("/notifications")["unread_count"] == 0
    again = web.post("/notifications/read-all", {})
    assert again.headers["location"] == "/notifications"
    assert "Nothing was unread." in web.get("/notifications").text


def test_the_list_pages_by_cursor(web: WebClient, org: OrgClient, uow: Any) -> None:
    notify(uow, org.org_id, 45)
    seen: list[int] = []
    url: str | None = "/notifications"
    while url:
        page = web.get(url)
        seen += cards(page.text)
        nxt = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = "/notifications" + nxt.group(1).replace("&amp;", "&") if nxt else None
    assert len(seen) == 45 and len(set(seen)) == 45 and seen == sorted(seen, reverse=True)
    assert badge(web.get("/").text) == "45"


def test_a_large_unread_count_is_capped_in_the_badge(
    web: WebClient, org: OrgClient, uow: Any
) -> None:
    notify(uow, org.org_id, 100)
    assert badge(web.get("/").text) == "99+"
    assert "Unread (100)" in web.get("/notifications").text


def test_another_users_notification_cannot_be_read(
    web: WebClient, org: OrgClient, uow: Any
) -> None:
    clerk = org.user(["clerk"])  # a seller-side user: gets its own copy of each
    notify(uow, org.org_id, 1)
    [theirs] = clerk.get("/notifications")["items"]
    r = web.post(f"/notifications/{theirs['id']}/read", {})
    assert r.status_code == 404 and "Not found" in r.text
    assert clerk.get("/notifications")["unread_count"] == 1  # untouched
    assert org.get("/notifications")["unread_count"] == 1  # and the owner's own too


@pytest.mark.parametrize(
    "form",
    [
        {"show": "unread", "cursor": "17"},
        {"show": "//evil.example/x", "cursor": "https://evil.example/"},
        {"show": "unread\r\nLocation: https://evil.example", "cursor": "-1"},
        {"back": "https://evil.example/", "next": "//evil.example"},
        {"show": "☃", "cursor": "9" * 40},
    ],
)
def test_marking_read_goes_back_to_the_list_and_nowhere_else(
    web: WebClient, org: OrgClient, uow: Any, form: dict[str, str]
) -> None:
    notify(uow, org.org_id, 1)
    [n] = org.get("/notifications")["items"]
    r = web.post(f"/notifications/{n['id']}/read", form)
    want = "/notifications"
    if form.get("show") == "unread":
        want += "?show=unread" + ("&cursor=17" if form.get("cursor") == "17" else "")
    assert r.status_code == 303 and r.headers["location"] == want
    h = web.post(f"/notifications/{n['id']}/read", form, headers={"HX-Request": "true"})
    assert h.status_code == 204 and h.headers["hx-redirect"] == want  # htmx: the same place
    # "Open": where it is about, whatever else the form says
    assert web.post(f"/notifications/{n['id']}/read", {"open": "1"}).headers["location"] == (
        f"/orders/{n['order_id']}")  # fmt: skip


def test_a_countdown_runs_only_while_the_order_waits(web: WebClient, org: OrgClient) -> None:
    sku = unique("SKU")
    org.product([sku])
    req = org.post(
        "/orders", {"customer": {"name": "Bo"}, "lines": [{"sku": sku, "qty": "1"}]}, expect=201
    ).json()
    assert 'class="countdown"' in web.get("/notifications").text
    org.post(f"/orders/{req['id']}/accept", {}, expect=200)
    page = web.get("/notifications")
    assert "Answer by" in page.text and 'class="countdown"' not in page.text.split(
        "New order request")[1].split("</article>")[0]  # fmt: skip
    assert "s-awaiting_payment" in page.text  # the order's state now


@pytest.mark.parametrize(
    "data",
    [
        {"respond_by": "2099-01-01T00:00:00"},  # no offset: read as UTC
        {"respond_by": "2099-01-01T00:00:00Z"},
        {"respond_by": "not a time"},
        {"respond_by": 12},
        {"respond_by": None},
        {},
    ],
)
def test_odd_deadline_data_still_renders(
    web: WebClient, org: OrgClient, uow: Any, data: dict[str, Any]
) -> None:
    from hoop.service import events

    uow.write(
        lambda conn: events.emit(
            conn, org.org_id, "order.requested", data, title="New order request",
            body="Accept or decline.", to_sellers=True, order_id=10**9,
        )
    )  # fmt: skip
    page = web.get("/notifications")
    assert page.status_code == 200 and "New order request" in page.text
    shown = "Answer by 2099-01-01 00:00" in page.text
    assert shown == (data.get("respond_by") in ("2099-01-01T00:00:00", "2099-01-01T00:00:00Z"))


def test_a_low_stock_alert_opens_replenishment(web: WebClient, org: OrgClient, uow: Any) -> None:
    from hoop.service import events

    uow.write(
        lambda conn: events.emit(
            conn, org.org_id, "stock.low", {"sku": "TEA"}, title="Low stock: TEA at Shop",
            body="TEA at Shop: available + incoming is 2, at or under the reorder point 3.",
            to_sellers=True,
        )
    )  # fmt: skip
    page = web.get("/notifications")
    assert "Low stock: TEA at Shop" in page.text and "reorder point 3" in page.text
    [nid] = cards(page.text)
    assert "Open replenishment" in page.text and "Open order" not in page.text
    r = web.post(f"/notifications/{nid}/read", {"open": "1"})
    assert r.status_code == 303 and r.headers["location"] == "/replenishment"
    assert org.get("/notifications")["unread_count"] == 0

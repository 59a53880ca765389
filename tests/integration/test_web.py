"""The web pages over both engines: login, CSRF, friendly 402/403 pages, forms that keep what
was typed, pagination, the flows of the browser tests without a browser, and odd input that
must never produce a server error."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.helpers import OrgClient, unique
from tests.web_helpers import WebClient, logged_in


@pytest.fixture
def web(app: Any, org: OrgClient) -> WebClient:
    return logged_in(app, org.email, org.password)


def _stocked(org: OrgClient, qty: str = "10") -> tuple[int, str, int]:
    loc = org.location()
    sku = unique("SKU")
    prod = org.product([sku])
    org.receive(loc, [{"sku": sku, "qty": qty, "unit_cost": "2.50"}])
    return loc, sku, prod["id"]


def test_pages_need_a_session(app: Any) -> None:
    w = WebClient(app)
    r = w.get("/products?q=tea")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fproducts%3Fq%3Dtea"
    assert w.get("/login").status_code == 200
    # htmx requests are sent to the login page with HX-Redirect instead of a 303
    r = w.get("/orders", headers={"HX-Request": "true"})
    assert r.headers.get("hx-redirect", "").startswith("/login")


def test_login_sets_a_session_cookie_and_logout_ends_it(app: Any, org: OrgClient) -> None:
    w = WebClient(app)
    bad = w.login(org.email, "wrong password")
    assert bad.status_code == 401
    assert "Wrong email or password" in bad.text
    assert f'value="{org.email}"' in bad.text  # what was typed is kept
    ok = w.login(org.email, org.password)
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"]
    assert "hoop_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert w.get("/").status_code == 200
    assert w.post("/logout").status_code == 303
    assert w.get("/").status_code == 303  # the token was deleted, not only the cookie
    token = ok.cookies.get("hoop_session") or re.search(r"hoop_session=([^;]+)", cookie).group(1)
    again = WebClient(app)
    again.http.cookies.set("hoop_session", token)
    assert again.get("/").status_code == 303


def test_login_form_needs_its_own_nonce(app: Any, org: OrgClient) -> None:
    w = WebClient(app)
    r = w.http.post("/login", data={"email": org.email, "password": org.password})
    assert r.status_code == 403
    assert "hoop_session" not in r.headers.get("set-cookie", "")


def test_login_redirects_only_to_this_site(app: Any, org: OrgClient) -> None:
    w = WebClient(app)
    nonce = re.search(r'name="csrf_token" value="([^"]+)"', w.get("/login").text).group(1)
    r = w.http.post(
        "/login",
        data={
            "email": org.email,
            "password": org.password,
            "csrf_token": nonce,
            "next": "//evil.example/x",
        },
    )
    assert r.headers["location"] == "/"


def test_every_post_needs_the_session_csrf_token(web: WebClient, org: OrgClient) -> None:
    loc, sku, _ = _stocked(org)
    form = {"type": "receipt", "to_location_id": str(loc), "line_code": sku, "line_qty": "5",
            "action": "submit"}  # fmt: skip
    before = org.availability(sku)["on_hand"]
    refused = web.post("/documents/new", form, csrf=False)
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = web.http.post("/documents/new", data=form, headers={"X-CSRF-Token": "x" * 64})
    assert wrong.status_code == 403
    assert org.availability(sku)["on_hand"] == before
    # the header htmx sends (hx-headers) is accepted like the form field
    ok = web.http.post("/documents/new", data=form, headers={"X-CSRF-Token": web.csrf})
    assert ok.status_code == 303
    assert org.availability(sku)["on_hand"] == str(int(before) + 5)


def test_receipt_by_sku_and_gtin_changes_availability(web: WebClient, org: OrgClient) -> None:
    loc = org.location()
    sku = unique("SKU")
    pid = org.product([sku])["id"]
    gtin_sku = unique("G")
    org.post(
        "/products",
        {"name": "With GTIN", "variants": [{"sku": gtin_sku, "gtin": "4006381333931"}]},
        expect=201,
    )
    r = web.post(
        "/documents/new",
        [
            ("type", "receipt"),
            ("to_location_id", str(loc)),
            ("line_code", sku),
            ("line_qty", "7"),
            ("line_cost", "1.25"),
            ("line_code", "4006381333931"),
            ("line_qty", "3"),
            ("line_cost", ""),
            ("line_code", ""),
            ("line_qty", ""),
            ("line_cost", ""),
            ("action", "submit"),
        ],
    )
    assert r.status_code == 303, r.text
    doc = web.get(r.headers["location"])
    assert "posted" in doc.text and "Done" in doc.text.replace("done", "Done")
    assert org.availability(sku)["available"] == "7"
    assert org.availability(gtin_sku)["available"] == "3"
    page = web.get(f"/products/{pid}")
    assert page.status_code == 200 and sku in page.text
    # the htmx line lookup resolves a scanned GTIN to its SKU
    row = web.get("/documents/line?code=4006381333931&type=receipt")
    assert gtin_sku in row.text


def test_form_errors_show_next_to_the_field_and_keep_the_input(
    web: WebClient, org: OrgClient
) -> None:
    loc, sku, _ = _stocked(org)
    r = web.post(
        "/documents/new",
        [
            ("type", "receipt"),
            ("to_location_id", str(loc)),
            ("note", "typed note"),
            ("line_code", sku),
            ("line_qty", "abc"),
            ("line_cost", "1"),
            ("action", "submit"),
        ],
    )
    assert r.status_code == 422
    assert "not a decimal number" in r.text
    assert 'value="abc"' in r.text and 'value="typed note"' in r.text and f'value="{sku}"' in r.text
    r = web.post(
        "/documents/new",
        [
            ("type", "receipt"),
            ("to_location_id", str(loc)),
            ("line_code", "NO-SUCH-CODE"),
            ("line_qty", "1"),
            ("action", "submit"),
        ],
    )
    assert r.status_code == 422 and "NO-SUCH-CODE" in r.text
    r = web.post(
        "/documents/new",
        [
            ("type", "transfer"),
            ("from_location_id", str(loc)),
            ("to_location_id", ""),
            ("line_code", sku),
            ("line_qty", "1"),
            ("action", "submit"),
        ],
    )
    assert r.status_code == 422 and "to_location_id is required" in r.text
    # a shortage names the line and writes nothing
    r = web.post(
        "/documents/new",
        [
            ("type", "shipment"),
            ("from_location_id", str(loc)),
            ("line_code", sku),
            ("line_qty", "999"),
            ("action", "submit"),
        ],
    )
    assert r.status_code == 422 and 'value="999"' in r.text
    assert org.availability(sku)["on_hand"] == "10"


def test_settings_form_errors_keep_the_input(web: WebClient) -> None:
    r = web.post(
        "/settings",
        {
            "name": "Org",
            "plan": "enterprise",
            "currency": "dollars",
            "costing_method": "average",
            "seller_response_minutes": "60",
            "payment_window_minutes": "soon",
            "default_shipping_location_id": "",
        },
    )
    assert r.status_code == 422
    assert "currency must be a 3-letter" in r.text and 'value="dollars"' in r.text
    r = web.post(
        "/settings",
        {
            "name": "Org",
            "plan": "enterprise",
            "currency": "EUR",
            "costing_method": "average",
            "seller_response_minutes": "60",
            "payment_window_minutes": "soon",
            "default_shipping_location_id": "",
        },
    )
    assert r.status_code == 422 and 'value="soon"' in r.text and "whole number" in r.text
    ok = web.post(
        "/settings",
        {
            "name": "Org",
            "plan": "enterprise",
            "currency": "EUR",
            "costing_method": "average",
            "seller_response_minutes": "90",
            "payment_window_minutes": "30",
            "default_shipping_location_id": "",
        },
    )
    assert ok.status_code == 303
    assert 'value="90"' in web.get("/settings").text


def test_role_and_plan_refusals_are_friendly_pages(app: Any, client: Any) -> None:
    core = OrgClient.signup(client, plan="core")
    w = logged_in(app, core.email, core.password)
    r = w.get("/reports/reconciliation")
    assert r.status_code == 402
    assert "Your plan does not include this" in r.text and "enterprise" in r.text
    assert w.get("/reports/reconciliation.csv").status_code == 402
    clerk = core.user(["clerk"])
    cw = logged_in(app, clerk.email, clerk.password)
    r = cw.get("/settings/users")
    assert r.status_code == 403 and "owner" in r.text and "<nav" in r.text
    r = cw.post(
        "/settings/users", {"email": "x@example.com", "password": "password-123", "roles": "owner"}
    )
    assert r.status_code == 403
    assert cw.get("/reports/valuation").status_code == 403
    assert "Settings" in cw.get("/").text  # clerks read the org settings
    assert 'href="/reports"' not in cw.get("/").text  # and see no Reports they cannot open


def test_lists_paginate_with_cursors(web: WebClient, org: OrgClient) -> None:
    tag = unique("PG")
    for i in range(27):
        org.post(
            "/products",
            {"name": f"{tag} {i:02d}", "variants": [{"sku": f"{tag}-{i:02d}"}]},
            expect=201,
        )
    first = web.get(f"/products?q={tag}")
    assert first.text.count(f"{tag}-") >= 25 and f"{tag}-26" not in first.text
    nxt = re.search(
        r'href="(\?[^"]*cursor=\d+[^"]*)" *rel="next"|rel="next" href="([^"]+)"', first.text
    )
    assert nxt, "a Next page link"
    url = (nxt.group(1) or nxt.group(2)).replace("&amp;", "&")
    second = web.get("/products" + url)
    assert f"{tag}-26" in second.text and f"{tag}-00" not in second.text
    assert 'rel="next"' not in second.text


def test_approve_an_adjustment_from_the_inbox(app: Any, org: OrgClient) -> None:
    loc, sku, _ = _stocked(org)
    org.patch(
        "/org", {"approval_rules": [{"document_type": "adjustment", "min_qty": "5"}]}, expect=200
    )
    manager = org.user(["manager"])
    mw = logged_in(app, manager.email, manager.password)
    r = mw.post(
        "/documents/new",
        [
            ("type", "adjustment"),
            ("location_id", str(loc)),
            ("reason", "count"),
            ("line_code", sku),
            ("line_qty", "6"),
            ("action", "submit"),
        ],
    )
    assert r.status_code == 303
    doc_id = int(r.headers["location"].rsplit("/", 1)[1])
    assert "waiting for approval" in mw.get(r.headers["location"]).text
    assert "someone else must approve" in mw.get(f"/documents/{doc_id}").text
    ow = logged_in(app, org.email, org.password)
    inbox = ow.get("/documents/approvals")
    assert f"Approve #{doc_id}" in inbox.text
    assert org.availability(sku)["on_hand"] == "10"
    r = ow.post(f"/documents/{doc_id}/approve", {"back": "approvals"})
    assert r.status_code == 303 and r.headers["location"] == "/documents/approvals"
    assert org.availability(sku)["on_hand"] == "16"
    # the creator cannot approve their own (the service's rule, shown as a page)
    r2 = mw.post(
        "/documents/new",
        [
            ("type", "adjustment"),
            ("location_id", str(loc)),
            ("reason", "count"),
            ("line_code", sku),
            ("line_qty", "-5"),
            ("action", "submit"),
        ],
    )
    own = int(r2.headers["location"].rsplit("/", 1)[1])
    assert mw.post(f"/documents/{own}/approve").status_code == 403
    rej = ow.post(f"/documents/{own}/reject", {"reason": ""})
    assert rej.status_code == 422
    assert ow.post(f"/documents/{own}/reject", {"reason": "recount"}).status_code == 303


def test_accept_and_decline_order_requests(web: WebClient, org: OrgClient) -> None:
    loc, sku, _ = _stocked(org, "1")
    req = org.post(
        "/orders", {"customer": {"name": "Ana"}, "lines": [{"sku": sku, "qty": "3"}]}, expect=201
    ).json()
    req2 = org.post(
        "/orders", {"customer": {"name": "Bo"}, "lines": [{"sku": sku, "qty": "2"}]}, expect=201
    ).json()
    page = web.get("/orders?status=pending_seller")
    assert "Ana" in page.text and "left" in page.text
    r = web.post(f"/orders/{req['id']}/accept", {"back": "/orders?status=pending_seller"})
    assert r.status_code == 303 and r.headers["location"] == "/orders?status=pending_seller"
    assert org.get(f"/orders/{req['id']}")["status"] == "awaiting_payment"
    assert web.post(f"/orders/{req2['id']}/decline", {}).status_code == 303
    assert org.get(f"/orders/{req2['id']}")["status"] == "declined"
    again = web.post(f"/orders/{req['id']}/accept", {})
    assert again.status_code == 409 and "Order" not in again.headers.get("location", "")
    timeline = web.get(f"/orders/{req['id']}")
    assert "Accept" in timeline.text and "awaiting payment" in timeline.text


def test_reports_render_and_download(web: WebClient, org: OrgClient) -> None:
    _stocked(org)
    page = web.get("/reports/valuation")
    assert page.status_code == 200 and "25.00" in page.text
    x = web.get("/reports/valuation.xlsx?as_of=")
    assert x.status_code == 200 and x.content[:2] == b"PK"
    assert "spreadsheetml" in x.headers["content-type"]
    c = web.get("/reports/cogs.csv")
    assert c.status_code == 200 and c.text.startswith("sku,")
    bad = web.get("/reports/valuation?as_of=2024-02-30")
    assert bad.status_code == 200 and "2024-02-30" in bad.text and 'class="error"' in bad.text
    assert web.get("/reports/reconciliation").status_code == 200
    run = web.post("/reports/reconciliation/runs")  # recorded, computed in the background
    assert run.status_code == 303 and "balanced" in web.get(run.headers["location"]).text


def _report_rows(html: str) -> list[list[str]]:
    """The cells of each body row of a report page's first table."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in body.split("</tr>")[:-1]]


def test_report_pages_show_the_whole_reports_totals_and_cents(
    web: WebClient, org: OrgClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoop.entrypoints.web import reports as web_reports

    # three SKUs of 2 units at 0.3333, one unit of each shipped: 0.3333 of COGS and 0.3333 of
    # stock each, 0.9999 in all -> 1.00; in cents the lines are 0.33 each and the missing cent
    # goes to the first line (ties to the earlier line): 0.34, 0.33, 0.33. Two lines a page:
    # the second page still shows the total over all three, and its line its own cents.
    monkeypatch.setattr(web_reports, "SHOWN", 2)
    loc = org.location()
    skus = sorted(unique("PG") for _ in range(3))
    org.product(skus)
    org.receive(loc, [{"sku": s, "qty": "2", "unit_cost": "0.3333"} for s in skus])
    org.post("/stock-documents", {"type": "shipment", "from_location_id": loc,
                                  "lines": [{"sku": s, "qty": "1"} for s in skus]},
             expect=201)  # fmt: skip
    api = org.get("/reports/valuation")
    assert [(ln["sku"], ln["value"]) for ln in api["lines"]] == [
        (skus[0], "0.34"), (skus[1], "0.33"), (skus[2], "0.33")
    ]  # fmt: skip
    assert api["total_value"] == "1.00" and api["total_qty"] == "3"
    first = web.get("/reports/valuation")
    assert [(r[0], r[-1]) for r in _report_rows(first.text)] == [
        (skus[0], "$0.34"), (skus[1], "$0.33")
    ]  # fmt: skip
    assert 'data-testid="valuation-total">$1.00<' in first.text and "Lines 1–2 of 3" in first.text
    assert "offset=2" in first.text
    second = web.get("/reports/valuation?as_of=&offset=2")
    assert [(r[0], r[-1]) for r in _report_rows(second.text)] == [(skus[2], "$0.33")]
    assert 'data-testid="valuation-total">$1.00<' in second.text and ">3</td>" in second.text
    assert "Lines 3–3 of 3" in second.text and "offset=0" in second.text
    assert "offset=2&amp;offset" not in second.text  # the pager replaces the offset
    cogs = org.get("/reports/cogs")
    assert [(ln["sku"], ln["cogs"]) for ln in cogs["lines"]] == [
        (skus[0], "0.34"), (skus[1], "0.33"), (skus[2], "0.33")
    ]  # fmt: skip
    page = web.get("/reports/cogs?offset=2")
    assert [(r[0], r[-1]) for r in _report_rows(page.text)] == [(skus[2], "$0.33")]
    assert page.text.count("$1.00") >= 2  # the heading and the footer: all three lines
    # a download holds every line whatever page it was asked from
    csv = web.get("/reports/valuation.csv?offset=2").text.splitlines()
    assert [row.split(",")[0] for row in csv[1:]] == [*skus, "total"]


def test_dashboard_and_every_page_render(web: WebClient, org: OrgClient) -> None:
    _stocked(org)
    for path in (
        "/",
        "/products",
        "/documents",
        "/documents/new",
        "/documents/approvals",
        "/orders",
        "/notifications",
        "/replenishment",
        "/purchase-orders",
        "/reports/cogs",
        "/settings",
        "/settings/approvals",
        "/settings/users",
        "/settings/api-keys",
        "/settings/webhooks",
    ):
        r = web.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert 'id="low-stock"' in r.text or path != "/"
    assert "Nothing needs ordering" in web.get("/replenishment").text


def test_secrets_are_shown_once(web: WebClient) -> None:
    r = web.post("/settings/api-keys", [("name", "POS"), ("roles", "clerk")])
    assert r.status_code == 201 and "hk_" in r.text
    key = re.search(r"(hk_[A-Za-z0-9_\-]+)", r.text).group(1)
    assert key not in web.get("/settings/api-keys").text
    r = web.post("/settings/webhooks", [("url", "ftp://nope"), ("events", "*")])
    assert r.status_code == 422 and 'value="ftp://nope"' in r.text


def test_web_pages_are_not_in_the_api_schema(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert all(p.startswith("/api/") for p in paths)


ODD = [
    "",
    " ",
    "0",
    "-1",
    "1e309",
    "NaN",
    "9" * 40,
    "'; DROP TABLE moves; --",
    "<script>x</script>",
    "\x00",
    "%00",
    "é" * 300,
    "1.23456",
    "../../etc/passwd",
    "{{7*7}}",
    "-0",
    "Infinity",
]


@pytest.mark.parametrize("odd", ODD)
def test_nothing_typed_produces_a_server_error(web: WebClient, org: OrgClient, odd: str) -> None:
    loc = org.virtual("supplier")
    q = quote(odd, safe="")
    for path in (
        f"/products?q={q}&cursor={q}&status={q}",
        f"/documents?state={q}&cursor={q}",
        f"/orders?status={q}&cursor={q}",
        f"/notifications?show={q}&cursor={q}",
        f"/reports/valuation?as_of={q}&location={q}",
        f"/reports/cogs?from={q}&to={q}&period={q}",
        f"/products/1?variant={q}&card={q}",
        f"/documents/line?code={q}",
        f"/reports/{q}",
    ):
        assert web.get(path).status_code < 500, path
    for t in ("receipt", "transfer", "adjustment", "shipment", "scrap", odd):
        r = web.post(
            "/documents/new",
            [
                ("type", t),
                ("to_location_id", odd),
                ("from_location_id", str(loc)),
                ("location_id", odd),
                ("reason", odd),
                ("note", odd),
                ("line_code", odd),
                ("line_qty", odd),
                ("line_cost", odd),
                ("action", odd),
            ],
        )
        assert r.status_code < 500, (t, r.text[:300])
    for path, form in (
        (
            "/settings",
            {
                "name": odd,
                "plan": odd,
                "currency": odd,
                "costing_method": odd,
                "seller_response_minutes": odd,
                "payment_window_minutes": odd,
                "default_shipping_location_id": odd,
            },
        ),
        (
            "/settings/approvals",
            {"rule_type": "adjustment", "rule_min_qty": odd, "rule_min_value": odd},
        ),
        ("/settings/users", {"email": odd, "password": odd, "roles": odd}),
        ("/settings/api-keys", {"name": odd, "roles": odd}),
        ("/settings/webhooks", {"url": odd, "events": odd}),
        ("/orders/1/pickup", {"status": odd}),
        ("/notifications/read-all", {"show": odd, "cursor": odd}),
        ("/documents/1/reject", {"reason": odd}),
    ):
        assert web.post(path, form).status_code < 500, (path, odd)
    assert web.http.post("/login", data={"email": odd, "password": odd}).status_code < 500


def test_stock_value_series_adds_what_was_posted_since(uow: Any, org: OrgClient) -> None:
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from hoop.service import access
    from hoop.service import web_queries as wq

    actor = uow.read(lambda c: access.authenticate(c, org.token))
    loc, sku, _ = _stocked(org)  # 10 x 2.50

    def series() -> list[Any]:
        return list(uow.read(lambda c: wq.stock_value_series(c, actor, 5)))

    first = series()
    assert first[-1][1] == Decimal("25")
    org.receive(loc, [{"sku": sku, "qty": "4", "unit_cost": "3"}])
    back = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    org.receive(loc, [{"sku": sku, "qty": "1", "unit_cost": "1"}], effective_at=back)
    cached = series()
    wq._CHANGES.clear()
    assert cached == series()  # the incremental sum equals one from scratch
    assert cached[-1][1] == Decimal("38") and cached[-3][1] == Decimal("1")


def test_the_scheduler_stores_the_day_sums_a_render_adds_to(uow: Any, org: OrgClient) -> None:
    """The dashboard chart's daily sums come from the row the scheduler stores; a render adds
    only what was posted since, and a render in a process that has none (its cache cleared)
    reads the stored row instead of summing the journal again."""
    from datetime import UTC, datetime, timedelta
    from decimal import Decimal

    from sqlalchemy import select

    from hoop import scheduler
    from hoop.adapters.db.tables import inventory_day_sums
    from hoop.service import access
    from hoop.service import web_queries as wq

    actor = uow.read(lambda c: access.authenticate(c, org.token))
    loc, sku, _ = _stocked(org)  # 10 x 2.50 = 25 today

    def series() -> list[Any]:
        return list(uow.read(lambda c: wq.stock_value_series(c, actor, 5)))

    def stored() -> Any:
        return uow.read(
            lambda c: c.execute(
                select(inventory_day_sums).where(inventory_day_sums.c.org_id == org.org_id)
            ).first()
        )

    assert stored() is None
    while scheduler.sum_inventory_days(uow):  # every org due, 50 a pass
        pass
    row = stored()
    today = datetime.now(UTC).date().isoformat()
    assert row is not None and row.by_day == {today: 25 * 10**4}  # scaled by 10^4
    top = row.top_id
    # posted after the sums: 4 x 3 = 12 today, 1 x 1 two days ago
    org.receive(loc, [{"sku": sku, "qty": "4", "unit_cost": "3"}])
    back = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    org.receive(loc, [{"sku": sku, "qty": "1", "unit_cost": "1"}], effective_at=back)
    wq._CHANGES.clear()  # a fresh process: it reads the stored row, then the rows after top
    got = series()
    # value now 25 + 12 + 1 = 38; end of two days ago: 38 - 25 - 12 = 1; before that 0
    assert [v for _, v in got] == [Decimal(0), Decimal(0), Decimal(1), Decimal(1), Decimal(38)]
    assert stored().top_id == top  # the render wrote nothing
    # not due again until REBUILD_SECONDS have passed; then the sums include both receipts
    assert org.org_id not in uow.read(lambda c: wq.orgs_due_for_day_sums(c, 600.0))
    uow.write(lambda c: wq.store_inventory_days(c, org.org_id))
    assert stored().top_id > top and sum(stored().by_day.values()) == 38 * 10**4
    wq._CHANGES.clear()
    assert series() == got
    # and it is the stored row that is read, not the journal: emptied, the chart goes flat
    from sqlalchemy import update

    uow.write(
        lambda c: c.execute(
            update(inventory_day_sums)
            .where(inventory_day_sums.c.org_id == org.org_id)
            .values(by_day={})
        )
    )
    wq._CHANGES.clear()
    assert [v for _, v in series()] == [Decimal(38)] * 5

"""The web app in a real browser: Playwright for Python driving Debian's Chromium
(/usr/bin/chromium, never a downloaded build) against uvicorn serving the app on SQLite.

Skipped with a reason when Chromium is not installed; HOOP_REQUIRE_BROWSER=1 (set by .ci/run)
turns that into a failure."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from hoop.bootstrap import build_app, upgrade
from hoop.config import Settings
from tests.helpers import OrgClient, unique

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUIRE = os.environ.get("HOOP_REQUIRE_BROWSER") == "1"
GTIN = "4006381333931"

pytestmark = pytest.mark.browser


def _need_browser() -> Any:
    why = None
    if not os.path.exists(CHROMIUM):
        why = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        why = why or "Playwright for Python is not installed (make install)"
    if why:
        if REQUIRE:
            pytest.fail(f"HOOP_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(f"browser tests skipped: {why}")
    return sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import uvicorn

    url = f"sqlite:///{tmp_path_factory.mktemp('browser') / 'hoop.db'}"
    upgrade(url)
    app = build_app(Settings(database_url=url))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


class Shop:
    """An org seeded over the API: a location, a product with a GTIN, stock, a pending
    adjustment by a manager (approval rule), and order requests."""

    def __init__(self, base: str) -> None:
        self.api = OrgClient.signup(httpx.Client(base_url=base, timeout=30))
        api = self.api
        self.loc = api.location()
        self.sku = unique("TEA")
        self.product = api.post("/products", {"name": "Ilam Black Tea", "variants": [
            {"sku": self.sku, "gtin": GTIN}]}, expect=201).json()  # fmt: skip
        api.receive(self.loc, [{"sku": self.sku, "qty": "10", "unit_cost": "2.00"}])
        api.patch("/org", {"approval_rules": [{"document_type": "adjustment", "min_qty": "5"}]},
                  expect=200)  # fmt: skip
        manager = api.user(["manager"])
        self.adjustment = manager.post("/stock-documents", {
            "type": "adjustment", "location_id": self.loc, "reason": "count",
            "lines": [{"sku": self.sku, "qty": "6"}]}, expect=201).json()  # fmt: skip
        self.requests = [
            api.post(
                "/orders",
                {"customer": {"name": who}, "lines": [{"sku": self.sku, "qty": "50"}]},
                expect=201,
            ).json()  # fmt: skip
            for who in ("Sita Rai", "Pema Sherpa")
        ]

    def available(self) -> Decimal:
        return Decimal(self.api.availability(self.sku)["available"])


@pytest.fixture(scope="module")
def shop(server: str) -> Shop:
    return Shop(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _need_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def login(browser: Any, server: str, shop: Shop, **context: Any) -> Any:
    page = browser.new_context(**context).new_page()
    page.goto(server + "/")
    assert "/login" in page.url
    page.fill("input[name=email]", shop.api.email)
    page.fill("input[name=password]", shop.api.password)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/")
    return page


def test_log_in(browser: Any, server: str, shop: Shop) -> None:
    page = browser.new_context().new_page()
    page.goto(server + "/orders")
    page.fill("input[name=email]", shop.api.email)
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "Wrong email or password."
    page.fill("input[name=password]", shop.api.password)
    page.click("button[type=submit]")
    page.wait_for_url(server + "/orders")  # back where the user was going
    page.goto(server + "/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("[data-testid=units-on-hand]").inner_text() == "10"


def test_receive_stock_and_see_availability_change(browser: Any, server: str, shop: Shop) -> None:
    page = login(browser, server, shop)
    product_url = f"{server}/products/{shop.product['id']}"
    page.goto(product_url)
    before = shop.available()
    assert f"Available {before:f}".rstrip("0").rstrip(".") in page.inner_text("body")
    page.goto(server + "/documents/new?type=receipt")
    page.select_option("select[name=to_location_id]", str(shop.loc))
    scan = page.locator("input[data-scan]")
    scan.fill(GTIN)  # a scanner types the code and Enter
    scan.press("Enter")
    row = page.locator("#lines tbody tr").last
    row.locator("input[name=line_code]").wait_for()
    assert row.locator("input[name=line_code]").input_value() == shop.sku
    row.locator("input[name=line_qty]").fill("5")
    row.locator("input[name=line_cost]").fill("2.20")
    page.click("button[value=submit]")
    page.wait_for_url(f"{server}/documents/*")
    assert "posted" in page.locator(".flash").inner_text()
    assert shop.available() == before + 5
    page.goto(product_url)
    assert f"Available {before + 5:f}" in page.inner_text("body")


def test_accept_an_order_request(browser: Any, server: str, shop: Shop) -> None:
    page = login(browser, server, shop)
    page.goto(server + "/orders?status=pending_seller")
    order = shop.requests[0]["id"]
    card = page.locator(f"[data-order='{order}']")
    assert "left" in card.locator(".countdown").inner_text()
    card.get_by_role("button", name=f"Accept order #{order}").click()
    page.wait_for_load_state()
    assert "accepted" in page.locator(".flash").inner_text()
    assert shop.api.get(f"/orders/{order}")["status"] == "awaiting_payment"


def test_open_an_order_request_from_its_notification(browser: Any, server: str, shop: Shop) -> None:
    page = login(browser, server, shop)
    unread = shop.api.get("/notifications")["unread_count"]
    assert unread >= 2  # at least the two order requests
    bell = page.locator("a.bell")
    assert bell.locator("[data-testid=unread-count]").inner_text() == str(unread)
    bell.click()
    page.wait_for_url(server + "/notifications")
    order = shop.requests[1]["id"]
    page.get_by_role("button", name=f"Open order #{order}").click()
    page.wait_for_url(f"{server}/orders/{order}")
    assert f"Order #{order}" in page.locator("h1").inner_text()
    assert shop.api.get("/notifications")["unread_count"] == unread - 1
    badge = page.locator("a.bell [data-testid=unread-count]")
    assert (badge.inner_text() if badge.count() else "0") == str(unread - 1)


def test_approve_an_adjustment(browser: Any, server: str, shop: Shop) -> None:
    page = login(browser, server, shop)
    before = shop.available()
    page.goto(server + "/")
    page.click("a[href='/documents/approvals'] >> nth=0")
    doc = shop.adjustment["id"]
    page.get_by_role("button", name=f"Approve #{doc}").click()
    page.wait_for_load_state()
    assert "approved" in page.locator(".flash").inner_text()
    assert shop.available() == before + 6
    assert shop.api.get(f"/stock-documents/{doc}")["state"] == "done"


def test_download_a_valuation_xlsx(browser: Any, server: str, shop: Shop, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    page = login(browser, server, shop, accept_downloads=True)
    page.goto(server + "/reports/valuation")
    shown = page.locator("[data-testid=valuation-total]").inner_text()
    with page.expect_download() as info:
        page.click("[data-testid=download-xlsx]")
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name.startswith("hoop-valuation-") and path.suffix == ".xlsx"
    rows = list(load_workbook(BytesIO(path.read_bytes())).active.iter_rows(values_only=True))
    total = rows[-1]
    assert total[0] == "total"
    assert f"${total[-1]:,.2f}" == shown


def test_a_reconciliation_runs_in_the_background_and_the_page_polls(
    browser: Any, server: str, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hoop.service import reports

    real = reports.reconciliation

    def slow(*a: Any, **kw: Any) -> Any:  # long enough for the page to poll a few times
        time.sleep(1.5)
        return real(*a, **kw)

    monkeypatch.setattr(reports, "reconciliation", slow)  # the server runs in this process
    page = login(browser, server, shop)
    page.goto(server + "/reports/reconciliation")
    page.get_by_role("button", name="Run reconciliation").click()
    page.wait_for_url("**/reports/reconciliation/runs/*")
    url = page.url
    assert "Queued" in page.content() or "Running, started" in page.content()
    page.locator("#reconciliation-run .badge", has_text="balanced").wait_for(timeout=15_000)
    assert page.url == url  # swapped in by the polling, not a reload
    assert "Ledger value" in page.locator("#reconciliation-run").inner_text()


def test_order_requests_on_a_phone(browser: Any, server: str, shop: Shop) -> None:
    page = login(browser, server, shop, viewport={"width": 375, "height": 812},
                 is_mobile=True, has_touch=True, device_scale_factor=2)  # fmt: skip
    page.goto(server + "/orders?status=pending_seller")
    order = shop.requests[1]["id"]
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"the page scrolls sideways ({width}px)"
    accept = page.get_by_role("button", name=f"Accept order #{order}")
    decline = page.get_by_role("button", name=f"Decline order #{order}")
    for button in (accept, decline):
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44 and box["x"] + box["width"] <= 375
    assert "left" in page.locator(f"[data-order='{order}'] .countdown").inner_text()
    accept.tap()
    page.wait_for_load_state()
    assert "accepted" in page.locator(".flash").inner_text()
    assert shop.api.get(f"/orders/{order}")["status"] == "awaiting_payment"


def test_order_a_suggestion_send_and_receive_it(browser: Any, server: str, shop: Shop) -> None:
    api = shop.api
    wh = api.location()
    sup = api.post("/suppliers", {"name": unique("Himal Traders")}, expect=201).json()["id"]
    skus = [unique("RICE"), unique("DAL")]
    prod = api.post("/products", {"name": "Jeera Masino Rice", "variants": [
        {"sku": s} for s in skus]}, expect=201).json()  # fmt: skip
    for s in skus:
        api.receive(wh, [{"sku": s, "qty": "3", "unit_cost": "1.50"}])
        api.post("/supplier-items", {"supplier_id": sup, "sku": s, "price": "1.60",
                                     "lead_time_days": "5"}, expect=201)  # fmt: skip
        api.put("/replenishment/policies", {"sku": s, "location_id": wh, "method": "minmax",
                                            "min": "5", "max": "25"}, expect=200)  # fmt: skip
    page = login(browser, server, shop)
    page.click("nav.nav >> text=Replenishment")
    page.wait_for_url(server + "/replenishment")
    reason = api.get(f"/replenishment/suggestions?sku={skus[0]}")["items"][0]["reason"]
    assert reason in page.inner_text("#suggestions")
    page.uncheck("input[data-select-all]")  # clears every row ...
    assert not page.is_checked(f"tr[data-sku='{skus[1]}'] input[name=policy]")
    page.check(f"tr[data-sku='{skus[0]}'] input[name=policy]")  # ... and picks one
    page.get_by_role("button", name="Create purchase orders").click()
    page.wait_for_url(server + "/replenishment/purchase-orders")
    card = page.locator("[data-po]")
    assert card.count() == 1 and skus[0] in card.inner_text() and skus[1] not in card.inner_text()
    card.get_by_role("link", name="Open to review and send").click()
    page.wait_for_url(f"{server}/purchase-orders/*")
    po_id = int(page.url.rsplit("/", 1)[1])
    page.get_by_role("button", name="Send to supplier").click()
    page.wait_for_load_state()
    assert "sent to the supplier" in page.locator(".flash").inner_text()
    qty = page.get_by_label(f"Receive {skus[0]}")
    assert qty.input_value() == "22"  # 25 - 3, prefilled with what is open
    qty.fill("22")
    page.get_by_role("button", name="Receive", exact=True).click()
    page.wait_for_load_state()
    assert "Received: receipt #" in page.locator(".flash").inner_text()
    assert api.get(f"/purchase-orders/{po_id}")["status"] == "received"
    page.goto(f"{server}/products/{prod['id']}?variant={prod['variants'][0]['id']}")
    assert "Available 25" in page.inner_text("body")
    assert api.availability(skus[1])["available"] == "3"

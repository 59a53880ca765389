"""The replenishment and purchasing pages over both engines: suggestions with their reasons
become draft purchase orders for the selected rows only, the 402 page on the core plan, the
receive form (a partial receipt moves status and availability; an over-receipt shows next to
its line, keeps what was typed and writes nothing), the dashboard's open alerts, the product
page's policy form, and odd input that never produces a server error."""

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


def supplier(org: OrgClient) -> int:
    return int(org.post("/suppliers", {"name": unique("Sup")}, expect=201).json()["id"])


def low(org: OrgClient, n: int = 2, on_hand: str = "2") -> tuple[int, int, list[str], int]:
    """A warehouse, a supplier and `n` SKUs each with `on_hand` in stock and a min/max policy
    of 5/20 (so each is suggested: 18 to order); returns (warehouse, supplier, skus, product)."""
    wh, sup = org.location(), supplier(org)
    skus = [unique("RP") for _ in range(n)]
    prod = org.product(skus)
    for s in skus:
        org.receive(wh, [{"sku": s, "qty": on_hand, "unit_cost": "1"}])
        org.post("/supplier-items", {"supplier_id": sup, "sku": s, "price": "2.5",
                                     "lead_time_days": "7"}, expect=201)  # fmt: skip
        org.put("/replenishment/policies", {"sku": s, "location_id": wh, "method": "minmax",
                                            "min": "5", "max": "20"}, expect=200)  # fmt: skip
    return wh, sup, skus, int(prod["id"])


def policy_of(org: OrgClient, sku: str, location_id: int | None = None) -> str:
    """The policy id (what a suggestion row's checkbox posts) of `sku`'s suggestion, at
    `location_id` when the sku is suggested at several."""
    items = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    [s] = [x for x in items if location_id is None or x["location_id"] == location_id]
    return str(s["policy_id"])


def sent_po(org: OrgClient, sup: int, wh: int, sku: str, qty: str = "10") -> dict[str, Any]:
    po = org.post("/purchase-orders", {"supplier_id": sup, "location_id": wh,
                                       "lines": [{"sku": sku, "qty": qty, "unit_price": "3"}]},
                  expect=201).json()  # fmt: skip
    org.post(f"/purchase-orders/{po['id']}/send", expect=200)
    return dict(org.get(f"/purchase-orders/{po['id']}"))


def test_suggestions_list_the_reason_and_link_the_product(web: WebClient, org: OrgClient) -> None:
    _, _, skus, prod = low(org)
    page = web.get("/replenishment")
    assert page.status_code == 200
    [s] = [x for x in org.get("/replenishment/suggestions")["items"] if x["sku"] == skus[0]]
    assert s["reason"] in page.text.replace("&#39;", "'").replace("&amp;", "&")
    assert f'href="/products/{prod}?variant=' in page.text
    assert page.text.count('name="policy"') == 2 and "Create purchase orders" in page.text
    assert f'name="policy" value="{s["policy_id"]}"' in page.text
    assert 'href="/replenishment"' in page.text and 'aria-current="page"' in page.text


def test_selected_suggestions_become_draft_purchase_orders(web: WebClient, org: OrgClient) -> None:
    wh, sup, skus, _ = low(org, 3)
    picked = [policy_of(org, skus[0]), policy_of(org, skus[2])]
    r = web.post("/replenishment/purchase-orders", [("policy", p) for p in picked])
    assert r.status_code == 200, r.text[:500]
    po_ids = [int(x) for x in re.findall(r'data-po="(\d+)"', r.text)]
    assert len(po_ids) == 1 and "Draft purchase orders created" in r.text
    po = org.get(f"/purchase-orders/{po_ids[0]}")
    assert po["status"] == "draft" and po["supplier_id"] == sup
    assert sorted(ln["sku"] for ln in po["lines"]) == sorted([skus[0], skus[2]])
    assert all(ln["qty"] == "18" for ln in po["lines"])
    # the rows ordered are no longer suggested; the one left out still is
    left = [s["sku"] for s in org.get("/replenishment/suggestions")["items"]]
    assert left == [skus[1]]
    # nothing selected: the page again with the message, nothing written
    none = web.post("/replenishment/purchase-orders", [])
    assert none.status_code == 422 and "Select at least one" in none.text
    stale = web.post("/replenishment/purchase-orders", [("policy", picked[0])])
    assert stale.status_code == 422 and "no suggestion for" in stale.text
    assert "the suggestions changed" in stale.text
    assert len(org.get("/purchase-orders")["items"]) == 1


def test_one_ticked_row_orders_that_location_only(web: WebClient, org: OrgClient) -> None:
    # one sku, two warehouses, min/max 5/20 at each: 2 on hand -> 18 to order at the first,
    # 3 on hand -> 17 at the second; both rows are on the page, each with its own checkbox
    sku, sup = unique("TW"), supplier(org)
    org.product([sku])
    wh1, wh2 = org.location(), org.location()
    org.post("/supplier-items", {"supplier_id": sup, "sku": sku, "price": "2.5",
                                 "lead_time_days": "7"}, expect=201)  # fmt: skip
    for wh, on_hand in ((wh1, "2"), (wh2, "3")):
        org.receive(wh, [{"sku": sku, "qty": on_hand, "unit_cost": "1"}])
        org.put("/replenishment/policies", {"sku": sku, "location_id": wh, "method": "minmax",
                                            "min": "5", "max": "20"}, expect=200)  # fmt: skip
    first, second = policy_of(org, sku, wh1), policy_of(org, sku, wh2)
    page = web.get("/replenishment")
    assert f'name="policy" value="{first}"' in page.text
    assert f'name="policy" value="{second}"' in page.text
    # the second row ticked: one draft purchase order with one line, 17 to the second
    r = web.post("/replenishment/purchase-orders", [("policy", second)])
    assert r.status_code == 200, r.text[:500]
    [po_id] = [int(x) for x in re.findall(r'data-po="(\d+)"', r.text)]
    po = org.get(f"/purchase-orders/{po_id}")
    assert [(ln["sku"], ln["location_id"], ln["qty"]) for ln in po["lines"]] == [(sku, wh2, "17")]
    left = org.get(f"/replenishment/suggestions?sku={sku}")["items"]
    assert [(s["location_id"], s["suggested_qty"]) for s in left] == [(wh1, "18")]
    # posting it again: the page with the message, the row left unticked, nothing written
    again = web.post("/replenishment/purchase-orders", [("policy", second)])
    assert again.status_code == 422 and "the suggestions changed" in again.text
    assert f'name="policy" value="{first}" aria-label="Order {sku} at' in again.text
    row = again.text[again.text.index(f'value="{first}"') :]
    assert " checked" not in row[: row.index(">")]
    assert len(org.get("/purchase-orders")["items"]) == 1


def test_skipped_suggestions_say_why(web: WebClient, org: OrgClient) -> None:
    wh = org.location()
    lone = unique("L")
    org.product([lone])
    pol = org.put("/replenishment/policies", {"sku": lone, "location_id": wh,
                                              "method": "minmax", "min": "1", "max": "3"},
                  expect=200).json()  # fmt: skip
    r = web.post("/replenishment/purchase-orders", [("policy", str(pol["id"]))])
    assert r.status_code == 200 and "No purchase order created" in r.text
    assert 'id="skipped"' in r.text and "no supplier sells it" in r.text


def test_core_plan_gets_the_402_page(app: Any, client: Any) -> None:
    core = OrgClient.signup(client, plan="core")
    w = logged_in(app, core.email, core.password)
    r = w.get("/replenishment")
    assert r.status_code == 402 and "Your plan does not include this" in r.text
    assert "pro" in r.text and "<nav" in r.text
    assert w.post("/replenishment/purchase-orders", [("policy", "1")]).status_code == 402
    # purchasing is in every plan; the product page hides the projection without an error
    assert w.get("/purchase-orders").status_code == 200
    prod = core.product([unique("C")])
    assert w.get(f"/products/{prod['id']}").status_code == 200


def test_a_role_without_replenishment_does_not_see_it(app: Any, org: OrgClient) -> None:
    fin = org.user(["finance"])
    w = logged_in(app, fin.email, fin.password)
    assert 'href="/replenishment"' not in w.get("/").text
    assert w.get("/replenishment").status_code == 403


def test_receive_form_partial_then_over_receipt(web: WebClient, org: OrgClient) -> None:
    wh, sup, skus, prod = low(org, 1, on_hand="2")
    po = sent_po(org, sup, wh, skus[0], "10")
    line = po["lines"][0]["id"]
    page = web.get(f"/purchase-orders/{po['id']}")
    assert page.status_code == 200
    assert f'name="qty-{line}" value="10"' in page.text  # prefilled with the open qty
    r = web.post(f"/purchase-orders/{po['id']}/receive", {f"qty-{line}": "4", f"lot-{line}": ""})
    assert r.status_code == 303, re.findall(r"class=\"(?:flash )?error[^>]*>([^<]*)", r.text)
    after = org.get(f"/purchase-orders/{po['id']}")
    assert after["status"] == "partially_received" and after["lines"][0]["received_qty"] == "4"
    assert org.availability(skus[0])["available"] == "6"
    shown = web.get(r.headers["location"])
    assert "Received: receipt #" in shown.text and f'name="qty-{line}" value="6"' in shown.text
    # more than is open: the error next to the line, the typed qty kept, nothing written
    bad = web.post(f"/purchase-orders/{po['id']}/receive", {f"qty-{line}": "7", "note": "van 2"})
    assert bad.status_code == 422
    row = bad.text[bad.text.index(f'data-line="{line}"') :]
    row = row[: row.index("</tr>")]
    assert 'value="7"' in row and "more than is open" in row and 'aria-invalid="true"' in row
    assert 'value="van 2"' in bad.text
    assert org.get(f"/purchase-orders/{po['id']}")["lines"][0]["received_qty"] == "4"
    assert org.availability(skus[0])["available"] == "6"
    # a quantity that is not a number is refused next to its line too
    nan = web.post(f"/purchase-orders/{po['id']}/receive", {f"qty-{line}": "abc"})
    assert nan.status_code == 422 and 'value="abc"' in nan.text
    # close short, then the page shows it
    assert web.post(f"/purchase-orders/{po['id']}/close").status_code == 303
    assert org.get(f"/purchase-orders/{po['id']}")["status"] == "received"
    assert "closed short" in web.get(f"/purchase-orders/{po['id']}").text


def test_send_cancel_and_the_list_by_status(web: WebClient, org: OrgClient) -> None:
    wh, sup, skus, _ = low(org, 1)
    draft = org.post("/purchase-orders", {"supplier_id": sup, "location_id": wh,
                                          "lines": [{"sku": skus[0], "qty": "5"}]},
                     expect=201).json()  # fmt: skip
    page = web.get(f"/purchase-orders/{draft['id']}")
    assert "Send to supplier" in page.text and 'name="qty-' not in page.text
    assert web.post(f"/purchase-orders/{draft['id']}/send").status_code == 303
    assert org.get(f"/purchase-orders/{draft['id']}")["status"] == "sent"
    listed = web.get("/purchase-orders?status=sent")
    assert f'data-po="{draft["id"]}"' in listed.text
    assert f'data-po="{draft["id"]}"' not in web.get("/purchase-orders?status=draft").text
    assert web.post(f"/purchase-orders/{draft['id']}/cancel").status_code == 303
    assert org.get(f"/purchase-orders/{draft['id']}")["status"] == "cancelled"
    # a refused transition is a friendly 409 page
    again = web.post(f"/purchase-orders/{draft['id']}/send")
    assert again.status_code == 409 and "<nav" in again.text


def test_receive_an_asn_prefills_its_lines(web: WebClient, org: OrgClient) -> None:
    wh, sup, sku = org.location(), supplier(org), unique("LOT")
    org.product([sku], tracking="lot")
    po = sent_po(org, sup, wh, sku, "10")
    line = po["lines"][0]["id"]
    asn = org.post(f"/purchase-orders/{po['id']}/asns", {
        "reference": "TRUCK-7", "lines": [{"purchase_order_line_id": line, "qty": "3",
                                           "lot": "L-1"}],
    }, expect=201).json()  # fmt: skip
    page = web.get(f"/purchase-orders/{po['id']}?asn={asn['id']}")
    assert "TRUCK-7" in page.text and f'name="qty-{line}" value="3"' in page.text
    assert 'value="L-1"' in page.text and f'name="asn_id" value="{asn["id"]}"' in page.text
    r = web.post(f"/purchase-orders/{po['id']}/receive",
                 {f"qty-{line}": "3", f"lot-{line}": "L-1", "asn_id": str(asn["id"])})  # fmt: skip
    assert r.status_code == 303, re.findall(r"class=\"(?:flash )?error[^>]*>([^<]*)", r.text)
    assert org.get(f"/asns/{asn['id']}")["status"] == "received"
    assert org.availability(sku)["on_hand"] == "3"
    assert org.get(f"/purchase-orders/{po['id']}")["lines"][0]["received_qty"] == "3"


def test_dashboard_shows_an_open_low_stock_alert(web: WebClient, org: OrgClient) -> None:
    _, _, skus, prod = low(org, 1)
    page = web.get("/")
    panel = page.text[page.text.index('id="low-stock"') :]
    panel = panel[: panel.index("</section>")]
    assert skus[0] in panel and f'href="/products/{prod}?variant=' in panel
    assert "reorder point 5" in panel and "position 2" in panel
    assert 'href="/replenishment"' in panel


def test_product_page_policy_form(web: WebClient, org: OrgClient, engine: Any) -> None:
    wh = org.location()
    sku = unique("P")
    prod = org.product([sku])
    url = f"/products/{prod['id']}"
    page = web.get(url)
    assert 'id="policies"' in page.text and "No policy" in page.text
    base = {"sku": sku, "location_id": str(wh), "method": "minmax"}
    # bad input: the field's error, what was typed kept, nothing written
    bad = web.post(f"{url}/policies", {**base, "min": "9", "max": "3"})
    assert bad.status_code == 422 and "max must be at least min" in bad.text
    assert 'name="min" value="9"' in bad.text and 'name="max" value="3"' in bad.text
    bad = web.post(f"{url}/policies", {**base, "min": "x", "max": "3"})
    assert bad.status_code == 422 and 'value="x"' in bad.text
    assert web.post(f"{url}/policies", {**base, "location_id": ""}).status_code == 422
    assert org.get(f"/replenishment/policies?sku={sku}")["items"] == []
    ok = web.post(f"{url}/policies", {**base, "min": "4", "max": "12"})
    assert ok.status_code == 303 and "reorder point 4" in web.get(ok.headers["location"]).text
    [pol] = org.get(f"/replenishment/policies?sku={sku}")["items"]
    assert (pol["min"], pol["max"]) == ("4", "12")
    page = web.get(url)
    assert f'data-policy="{pol["id"]}"' in page.text
    gone = web.post(f"{url}/policies/{pol['id']}/delete")
    assert gone.status_code == 303
    assert org.get(f"/replenishment/policies?sku={sku}")["items"] == []


def test_product_chart_draws_the_projection(web: WebClient, org: OrgClient) -> None:
    wh, sup, skus, prod = low(org, 1)
    sent_po(org, sup, wh, skus[0], "10")
    page = web.get(f"/products/{prod}")
    assert "projection" in page.text and "projected (replenishment)" in page.text


def test_suggestions_paginate(web: WebClient, org: OrgClient) -> None:
    wh = org.location()
    skus = [f"{unique('PG')}-{i:02d}" for i in range(27)]
    org.product(skus)
    for s in skus:
        org.put("/replenishment/policies", {"sku": s, "location_id": wh, "method": "minmax",
                                            "min": "1", "max": "2"}, expect=200)  # fmt: skip
    first = web.get(f"/replenishment?location={wh}")
    assert first.text.count('name="policy"') == 25
    nxt = re.search(r'href="([^"]+)" *rel="next"|rel="next" href="([^"]+)"', first.text)
    assert nxt
    second = web.get("/replenishment" + (nxt.group(1) or nxt.group(2)).replace("&amp;", "&"))
    assert second.text.count('name="policy"') == 2 and 'rel="next"' not in second.text


ODD = ["", "0", "-1", "1e309", "NaN", "9" * 40, "<script>x</script>", "\x00", "é" * 300,
       "1.23456", "{{7*7}}", "Infinity"]  # fmt: skip


@pytest.mark.parametrize("odd", ODD)
def test_nothing_typed_produces_a_server_error(web: WebClient, org: OrgClient, odd: str) -> None:
    wh, sup, skus, prod = low(org, 1)
    po = sent_po(org, sup, wh, skus[0], "5")
    line = po["lines"][0]["id"]
    q = quote(odd, safe="")
    for path in (
        f"/replenishment?location={q}&supplier={q}&cursor={q}",
        f"/purchase-orders?status={q}&cursor={q}",
        f"/purchase-orders/{po['id']}?asn={q}",
        f"/purchase-orders/{q}",
        f"/products/{prod}?variant={q}",
    ):
        assert web.get(path).status_code < 500, path
    for path, form in (
        ("/replenishment/purchase-orders", {"policy": odd, "location": odd, "supplier": odd}),
        (f"/purchase-orders/{po['id']}/receive",
         {f"qty-{line}": odd, f"lot-{line}": odd, f"expiry-{line}": odd, "asn_id": odd,
          "note": odd}),
        (f"/products/{prod}/policies",
         {"sku": odd, "location_id": odd, "method": odd, "min": odd, "max": odd,
          "safety_stock": odd, "lead_time_days": odd, "service_level": odd, "order_cost": odd,
          "holding_rate": odd, "variant": odd}),
        (f"/products/{prod}/policies",
         {"sku": skus[0], "location_id": str(wh), "method": "eoq", "min": odd, "max": odd,
          "safety_stock": odd, "lead_time_days": odd, "service_level": odd, "order_cost": odd,
          "holding_rate": odd}),
        (f"/products/{prod}/policies/{q or 0}/delete", {}),
        ("/purchase-orders/new",
         {"supplier_id": odd, "location_id": odd, "note": odd, "line_sku": odd,
          "line_qty": odd, "line_price": odd}),
        ("/purchase-orders/new",
         {"supplier_id": str(sup), "line_sku": skus[0], "line_qty": odd, "line_price": odd}),
    ):  # fmt: skip
        r = web.post(path, form)
        assert r.status_code < 500, (path, r.text[:300])


def test_new_purchase_order_form(web: WebClient, org: OrgClient) -> None:
    wh, sup, skus, _ = low(org, 2)
    assert web.get("/purchase-orders/new").status_code == 200
    form = [("supplier_id", str(sup)), ("location_id", str(wh)), ("note", "by hand"),
            ("line_sku", skus[0]), ("line_qty", "4"), ("line_price", ""),
            ("line_sku", ""), ("line_qty", ""), ("line_price", ""),
            ("line_sku", "NOPE-SKU"), ("line_qty", "2"), ("line_price", "1")]  # fmt: skip
    bad = web.post("/purchase-orders/new", form)
    assert bad.status_code == 422 and "NOPE-SKU" in bad.text and 'value="by hand"' in bad.text
    assert 'aria-invalid="true"' in bad.text and org.get("/purchase-orders")["items"] == []
    form[9:12] = [("line_sku", skus[1]), ("line_qty", "2"), ("line_price", "1")]
    ok = web.post("/purchase-orders/new", form)
    assert ok.status_code == 303, ok.text[:500]
    po = org.get(ok.headers["location"].replace("/purchase-orders", "/purchase-orders", 1))
    assert po["status"] == "draft" and po["source"] == "manual"
    assert [(ln["sku"], ln["qty"], ln["unit_price"]) for ln in po["lines"]] == [
        (skus[0], "4", "2.5000"), (skus[1], "2", "1.0000")]  # fmt: skip
    assert web.post("/purchase-orders/new", [("supplier_id", "x")]).status_code == 422

"""Stock documents: every type, the life cycle, all-or-nothing posting, lots and serials."""

from sqlalchemy import func, select

from hoop.adapters.db.tables import moves, stock_documents
from tests.helpers import unique


def _count(engine, table, org_id):
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(table).where(table.c.org_id == org_id)
        ).scalar()


def _stocked(org, qty="10"):
    wh = org.location()
    sku = unique("SKU")
    org.product([sku])
    org.receive(wh, [{"sku": sku, "qty": qty, "unit_cost": "2.00"}])
    return wh, sku


def test_availability_of_unstocked_variant_is_zero(org):
    sku = unique("S")
    org.product([sku])
    a = org.availability(sku)
    assert a == {
        "sku": sku,
        "variant_id": a["variant_id"],
        "on_hand": "0",
        "reserved": "0",
        "available": "0",
        "incoming": "0",
        "stock_mode": "inactive",
        "locations": [],
    }
    org.get("/stock/availability?sku=NOPE-NOT-HERE", expect=404)


def test_receipt_shipment_scrap_and_moves(org):
    wh, sku = _stocked(org)
    org.post(
        "/stock-documents",
        {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": "3.5"}]},
        expect=201,
    )
    org.post(
        "/stock-documents",
        {
            "type": "scrap",
            "from_location_id": wh,
            "reason": "damaged",
            "lines": [{"sku": sku, "qty": "0.5"}],
        },
        expect=201,
    )
    a = org.availability(sku)
    assert (a["on_hand"], a["available"], a["stock_mode"]) == ("6", "6", "active")
    ms = org.get(f"/stock/moves?sku={sku}")["items"]
    assert [m["qty"] for m in ms] == ["10", "3.5", "0.5"]
    assert ms[0]["from_location_id"] == org.virtual("supplier")
    assert ms[1]["to_location_id"] == org.virtual("customer")
    assert ms[2]["to_location_id"] == org.virtual("scrap")
    assert ms[0]["unit_cost"] == "2.0000" and ms[0]["value"] == "20.0000"
    assert org.get(f"/stock/moves?location_id={wh}&limit=2")["next_cursor"]


def test_shortage_names_every_line_and_writes_nothing(org, engine):
    wh, sku = _stocked(org, "2")
    sku2 = unique("SKU")
    org.product([sku2])
    docs_before = _count(engine, stock_documents, org.org_id)
    moves_before = _count(engine, moves, org.org_id)
    r = org.post(
        "/stock-documents",
        {
            "type": "shipment",
            "from_location_id": wh,
            "lines": [{"sku": sku, "qty": 1}, {"sku": sku, "qty": 5}, {"sku": sku2, "qty": 1}],
        },
        expect=409,
    )
    err = r.json()["error"]
    assert err["code"] == "insufficient_stock"
    short = {d["sku"]: d["short_by"] for d in err["details"]}
    assert short == {sku: "4", sku2: "1"}  # 1 + 5 - 2 = 4 short; nothing of sku2
    assert _count(engine, stock_documents, org.org_id) == docs_before
    assert _count(engine, moves, org.org_id) == moves_before
    assert org.availability(sku)["on_hand"] == "2"


def test_direct_and_two_step_transfer(org):
    wh, sku = _stocked(org)
    store = org.location("store")
    org.post(
        "/stock-documents",
        {
            "type": "transfer",
            "from_location_id": wh,
            "to_location_id": store,
            "lines": [{"sku": sku, "qty": 2}],
        },
        expect=201,
    )
    d = org.post(
        "/stock-documents",
        {
            "type": "transfer",
            "from_location_id": wh,
            "to_location_id": store,
            "two_step": True,
            "lines": [{"sku": sku, "qty": 3}],
        },
        expect=201,
    ).json()
    assert d["state"] == "in_transit"
    per = {x["location_id"]: x["on_hand"] for x in org.availability(sku)["locations"]}
    assert per == {wh: "5", store: "2"}  # 3 are in transit, counted nowhere internal
    assert org.availability(sku)["on_hand"] == "7"
    d = org.post(f"/stock-documents/{d['id']}/receive", expect=200).json()
    assert d["state"] == "done"
    per = {x["location_id"]: x["on_hand"] for x in org.availability(sku)["locations"]}
    assert per == {wh: "5", store: "5"}
    org.post(f"/stock-documents/{d['id']}/receive", expect=409)
    org.post(
        "/stock-documents",
        {
            "type": "transfer",
            "from_location_id": wh,
            "to_location_id": wh,
            "lines": [{"sku": sku, "qty": 1}],
        },
        expect=422,
    )


def test_cancel_in_transit_returns_stock(org):
    wh, sku = _stocked(org)
    store = org.location("store")
    d = org.post(
        "/stock-documents",
        {
            "type": "transfer",
            "from_location_id": wh,
            "to_location_id": store,
            "two_step": True,
            "lines": [{"sku": sku, "qty": 4}],
        },
        expect=201,
    ).json()
    org.post(f"/stock-documents/{d['id']}/cancel", expect=200)
    assert org.availability(sku)["locations"] == [
        {
            "location_id": wh,
            "on_hand": "10",
            "reserved": "0",
            "available": "10",
            "incoming": "0",
            "sellable": True,
        }
    ]


def test_adjustments_need_a_known_reason(org):
    wh, sku = _stocked(org)
    base = {"type": "adjustment", "location_id": wh, "lines": [{"sku": sku, "qty": -3}]}
    org.post("/stock-documents", base, expect=422)
    r = org.post("/stock-documents", {**base, "reason": "gremlins"}, expect=422)
    assert r.json()["error"]["code"] == "invalid_reason"
    org.post("/stock-documents", {**base, "reason": "damaged"}, expect=201)
    org.patch("/org", {"reason_codes": ["gremlins"]}, expect=200)
    org.post(
        "/stock-documents",
        {**base, "reason": "gremlins", "lines": [{"sku": sku, "qty": "1.25"}]},
        expect=201,
    )
    assert org.availability(sku)["on_hand"] == "8.25"  # 10 - 3 + 1.25
    org.post(
        "/stock-documents",
        {**base, "reason": "lost", "lines": [{"sku": sku, "qty": -9}]},
        expect=409,
    )
    org.post(
        "/stock-documents",
        {**base, "reason": "count", "lines": [{"sku": sku, "qty": 0}]},
        expect=422,
    )


def test_draft_then_submit_then_cancel_reverses(org):
    wh, sku = _stocked(org)
    d = org.post(
        "/stock-documents",
        {
            "type": "receipt",
            "to_location_id": wh,
            "submit": False,
            "lines": [{"sku": sku, "qty": 5, "unit_cost": 1}],
        },
        expect=201,
    ).json()
    assert d["state"] == "draft" and org.availability(sku)["on_hand"] == "10"
    d = org.post(f"/stock-documents/{d['id']}/submit", expect=200).json()
    assert d["state"] == "done" and org.availability(sku)["on_hand"] == "15"
    org.post(f"/stock-documents/{d['id']}/submit", expect=409)
    d = org.post(f"/stock-documents/{d['id']}/cancel", expect=200).json()
    assert d["state"] == "cancelled" and d["reversed"] is True
    assert org.availability(sku)["on_hand"] == "10"
    ms = org.get(f"/stock/moves?document_id={d['id']}")["items"]
    assert [(m["qty"], m["reversal"]) for m in ms] == [("5", False), ("5", True)]
    assert ms[1]["from_location_id"] == wh
    org.post(f"/stock-documents/{d['id']}/cancel", expect=409)


def test_reversal_refused_when_stock_was_shipped(org):
    wh = org.location()
    sku = unique("SKU")
    org.product([sku])
    d = org.receive(wh, [{"sku": sku, "qty": 4, "unit_cost": 1}])
    org.post(
        "/stock-documents",
        {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": 3}]},
        expect=201,
    )
    r = org.post(f"/stock-documents/{d['id']}/cancel", expect=409)
    assert r.json()["error"]["code"] == "insufficient_stock"
    assert org.get(f"/stock-documents/{d['id']}")["state"] == "done"


def test_non_sellable_stock_is_on_hand_but_not_available(org):
    wh = org.location()
    q = org.location("zone", wh, sellable=False)
    sku = unique("S")
    org.product([sku])
    org.receive(wh, [{"sku": sku, "qty": 3, "unit_cost": 1}])
    org.receive(q, [{"sku": sku, "qty": 2, "unit_cost": 1}])
    a = org.availability(sku)
    assert (a["on_hand"], a["available"]) == ("5", "3")
    a = org.availability(sku, location_id=q)
    assert (a["on_hand"], a["available"], a["stock_mode"]) == ("2", "0", "inactive")
    assert org.availability(sku, location_id=wh)["on_hand"] == "5"  # the subtree


def test_lots_are_kept_apart(org):
    wh = org.location()
    sku = unique("L")
    org.product([sku], tracking="lot", tracks_expiry=True)
    org.receive(wh, [{"sku": sku, "qty": 5, "unit_cost": 1}], expect=422)  # lot required
    org.receive(wh, [{"sku": sku, "qty": 5, "unit_cost": 1, "lot": "A1"}], expect=422)  # expiry
    org.receive(
        wh,
        [
            {"sku": sku, "qty": 5, "unit_cost": 1, "lot": "A1", "expiry": "2027-01-31"},
            {"sku": sku, "qty": 2, "unit_cost": 1, "lot": "B2", "expiry": "2027-03-31"},
        ],
    )
    org.post(
        "/stock-documents",
        {
            "type": "shipment",
            "from_location_id": wh,
            "lines": [{"sku": sku, "qty": 3, "lot": "B2"}],
        },
        expect=409,
    )
    org.post(
        "/stock-documents",
        {
            "type": "shipment",
            "from_location_id": wh,
            "lines": [{"sku": sku, "qty": 3, "lot": "A1"}],
        },
        expect=201,
    )
    assert org.availability(sku)["on_hand"] == "4"
    lots = {m["lot"] for m in org.get(f"/stock/moves?sku={sku}")["items"]}
    assert lots == {"A1", "B2"}


def test_a_serial_is_in_exactly_one_place(org):
    wh, store = org.location(), org.location("store")
    sku = unique("SER")
    org.product([sku], tracking="serial")
    org.receive(wh, [{"sku": sku, "qty": 2, "unit_cost": 100, "serials": ["SN1", "SN2"]}])
    r = org.receive(
        store, [{"sku": sku, "qty": 1, "unit_cost": 100, "serials": ["SN1"]}], expect=409
    )
    assert r["error"]["code"] == "serial_conflict"
    org.receive(wh, [{"sku": sku, "qty": 2, "unit_cost": 1, "serials": ["SN3"]}], expect=422)
    org.post(
        "/stock-documents",
        {
            "type": "shipment",
            "from_location_id": store,
            "lines": [{"sku": sku, "qty": 1, "serials": ["SN1"]}],
        },
        expect=409,
    )
    org.post(
        "/stock-documents",
        {
            "type": "transfer",
            "from_location_id": wh,
            "to_location_id": store,
            "lines": [{"sku": sku, "qty": 1, "serials": ["SN1"]}],
        },
        expect=201,
    )
    org.post(
        "/stock-documents",
        {
            "type": "shipment",
            "from_location_id": store,
            "lines": [{"sku": sku, "qty": 1, "serials": ["SN1"]}],
        },
        expect=201,
    )
    # shipped out: it may come back (a return) into any location
    org.receive(wh, [{"sku": sku, "qty": 1, "unit_cost": 100, "serials": ["SN1"]}])
    assert org.availability(sku)["on_hand"] == "2"


def test_archived_products_take_no_stock(org):
    p = org.product()
    wh = org.location()
    org.patch(f"/products/{p['id']}", {"status": "archived"}, expect=200)
    r = org.receive(wh, [{"sku": p["variants"][0]["sku"], "qty": 1}], expect=409)
    assert r["error"]["code"] == "product_archived"


def test_future_and_naive_effective_at_refused(org):
    wh = org.location()
    sku = unique("S")
    org.product([sku])
    line = [{"sku": sku, "qty": 1, "unit_cost": 1}]
    org.receive(wh, line, expect=422, effective_at="2999-01-01T00:00:00+00:00")
    org.receive(wh, line, expect=422, effective_at="2024-01-01T00:00:00")
    d = org.receive(wh, line, effective_at="2024-01-01T10:00:00+02:00")
    assert d["effective_at"].startswith("2024-01-01T08:00:00")


def test_documents_use_variant_id_or_sku_and_unknowns_are_404(org):
    wh = org.location()
    p = org.product()
    vid = p["variants"][0]["id"]
    org.receive(wh, [{"variant_id": vid, "qty": 1, "unit_cost": 1}])
    org.receive(wh, [{"sku": "NOT-A-SKU", "qty": 1}], expect=404)
    org.receive(wh, [{"variant_id": 10**12, "qty": 1}], expect=404)
    org.receive(wh, [{"qty": 1}], expect=422)
    org.receive(wh, [{"sku": p["variants"][0]["sku"], "qty": "1.00001"}], expect=422)
    org.receive(wh, [{"sku": p["variants"][0]["sku"], "qty": "abc"}], expect=422)
    org.receive(10**12, [{"sku": p["variants"][0]["sku"], "qty": 1}], expect=404)
    org.receive(org.virtual("customer"), [{"sku": p["variants"][0]["sku"], "qty": 1}], expect=422)


def test_batch_posts_all_or_nothing(org):
    wh = org.location()
    a, b = unique("A"), unique("B")
    org.product([a, b])
    receipt = {
        "type": "receipt",
        "to_location_id": wh,
        "lines": [{"sku": a, "qty": 5, "unit_cost": 1}, {"sku": b, "qty": 2, "unit_cost": 1}],
    }
    ship = {"type": "shipment", "from_location_id": wh, "lines": [{"sku": a, "qty": 3}]}
    r = org.post("/stock-documents/batch", {"documents": [receipt, ship]}, expect=201).json()
    assert [d["state"] for d in r["documents"]] == ["done", "done"]
    assert org.availability(a)["on_hand"] == "2" and org.availability(b)["on_hand"] == "2"
    # one bad document (an unknown location) refuses the whole batch and names it
    bad = {**ship, "from_location_id": 10**12}
    r = org.post("/stock-documents/batch", {"documents": [receipt, bad]}, expect=404).json()
    assert r["error"]["details"]["document"] == 1
    # a shortage anywhere in the batch refuses all of it
    big = {**ship, "lines": [{"sku": b, "qty": 50}]}
    org.post("/stock-documents/batch", {"documents": [receipt, big]}, expect=409)
    assert org.availability(a)["on_hand"] == "2" and org.availability(b)["on_hand"] == "2"


def test_document_list_pages_newest_first_with_lines(org):
    wh = org.location()
    sku = unique("S")
    org.product([sku])
    ids = [org.receive(wh, [{"sku": sku, "qty": n, "unit_cost": 1}])["id"] for n in (1, 2, 3)]
    page = org.get("/stock-documents?limit=2")
    assert [d["id"] for d in page["items"]] == [ids[2], ids[1]]
    assert page["items"][0]["lines"][0]["sku"] == sku
    assert page["items"][0]["lines"][0]["qty"] == "3"
    rest = org.get(f"/stock-documents?limit=2&cursor={page['next_cursor']}")["items"]
    assert [d["id"] for d in rest] == [ids[0]]

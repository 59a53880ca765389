"""Approval rules: thresholds, no self-approval, rejection with a reason, who and when."""

from tests.helpers import unique


def _setup(org, rules):
    org.patch("/org", {"approval_rules": rules}, expect=200)
    wh = org.location()
    sku = unique("S")
    org.product([sku])
    org.receive(wh, [{"sku": sku, "qty": 100, "unit_cost": "3.00"}])
    return wh, sku


def test_large_adjustment_waits_for_another_approver(org):
    wh, sku = _setup(org, [{"document_type": "adjustment", "min_qty": 50}])
    clerk = org.user(["clerk"])
    approver = org.user(["approver"])
    small = clerk.post(
        "/stock-documents",
        {
            "type": "adjustment",
            "location_id": wh,
            "reason": "count",
            "lines": [{"sku": sku, "qty": -49}],
        },
        expect=201,
    ).json()
    assert small["state"] == "done"
    big = clerk.post(
        "/stock-documents",
        {
            "type": "adjustment",
            "location_id": wh,
            "reason": "theft",
            "lines": [{"sku": sku, "qty": -50}],
        },
        expect=201,
    ).json()
    assert big["state"] == "pending_approval"
    assert org.availability(sku)["on_hand"] == "51"  # 100 - 49; the big one waits
    r = clerk.post(f"/stock-documents/{big['id']}/approve", expect=403)
    assert r.json()["error"]["code"] == "forbidden"  # clerks do not approve
    done = approver.post(f"/stock-documents/{big['id']}/approve", expect=200).json()
    assert done["state"] == "done" and done["approved_by"] is not None
    assert done["approved_at"] is not None
    assert org.availability(sku)["on_hand"] == "1"
    approver.post(f"/stock-documents/{big['id']}/approve", expect=409)


def test_nobody_approves_their_own_document(org):
    wh, sku = _setup(org, [{"document_type": "adjustment", "min_qty": 1}])
    d = org.post(
        "/stock-documents",
        {
            "type": "adjustment",
            "location_id": wh,
            "reason": "found",
            "lines": [{"sku": sku, "qty": 5}],
        },
        expect=201,
    ).json()
    r = org.post(f"/stock-documents/{d['id']}/approve", expect=403)
    assert r.json()["error"]["code"] == "self_approval"
    r = org.post(f"/stock-documents/{d['id']}/reject", {"reason": "mine"}, expect=403)
    assert org.get(f"/stock-documents/{d['id']}")["state"] == "pending_approval"
    manager = org.user(["manager"])
    manager.post(f"/stock-documents/{d['id']}/approve", expect=200)
    assert org.availability(sku)["on_hand"] == "105"


def test_rejection_needs_a_reason_and_is_final(org):
    wh, sku = _setup(org, [{"document_type": "scrap"}])
    clerk, approver = org.user(["clerk"]), org.user(["approver"])
    d = clerk.post(
        "/stock-documents",
        {"type": "scrap", "from_location_id": wh, "lines": [{"sku": sku, "qty": 1}]},
        expect=201,
    ).json()
    assert d["state"] == "pending_approval"
    approver.post(f"/stock-documents/{d['id']}/reject", {}, expect=422)
    approver.post(f"/stock-documents/{d['id']}/reject", {"reason": ""}, expect=422)
    r = approver.post(
        f"/stock-documents/{d['id']}/reject", {"reason": "not damaged"}, expect=200
    ).json()
    assert r["state"] == "rejected" and r["rejection_reason"] == "not damaged"
    assert r["rejected_by"] is not None
    approver.post(f"/stock-documents/{d['id']}/approve", expect=409)
    assert org.availability(sku)["on_hand"] == "100"
    clerk.post(f"/stock-documents/{d['id']}/cancel", expect=200)


def test_value_threshold_uses_line_value(org):
    wh, sku = _setup(org, [{"document_type": "receipt", "min_value": "1000"}])
    # 300 x 3.00 = 900.00 < 1000: posts at once
    d = org.receive(wh, [{"sku": sku, "qty": 300, "unit_cost": "3.00"}])
    assert d["state"] == "done" and d["total_value"] == "900.0000"
    # 200 x 3.00 + 100 x 4.00 = 600 + 400 = 1000.00 >= 1000: waits
    d = org.receive(
        wh,
        [
            {"sku": sku, "qty": 200, "unit_cost": "3.00"},
            {"sku": sku, "qty": 100, "unit_cost": "4.00"},
        ],
    )
    assert d["state"] == "pending_approval" and d["total_value"] == "1000.0000"


def test_shipment_value_uses_average_cost_when_lines_have_none(org):
    wh, sku = _setup(org, [{"document_type": "shipment", "min_value": "150"}])
    # received 100 @ 3.00 -> average 3.00; 50 x 3.00 = 150.00 >= 150
    d = org.post(
        "/stock-documents",
        {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": 50}]},
        expect=201,
    ).json()
    assert d["state"] == "pending_approval" and d["total_value"] == "150.0000"


def test_approval_that_would_oversell_is_refused_and_stays_pending(org):
    wh, sku = _setup(org, [{"document_type": "shipment", "min_qty": 60}])
    clerk, approver = org.user(["clerk"]), org.user(["approver"])
    d = clerk.post(
        "/stock-documents",
        {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": 60}]},
        expect=201,
    ).json()
    clerk.post(
        "/stock-documents",
        {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": 50}]},
        expect=201,
    )
    r = approver.post(f"/stock-documents/{d['id']}/approve", expect=409)
    assert r.json()["error"]["code"] == "insufficient_stock"
    assert org.get(f"/stock-documents/{d['id']}")["state"] == "pending_approval"

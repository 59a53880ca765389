"""The audit trail (with refusals, hash chain, tamper detection) and Idempotency-Key."""

from sqlalchemy import func, select, update

from hoop.adapters.db.tables import audit_events, stock_documents
from tests.helpers import unique


def test_mutations_are_audited_with_before_and_after(org):
    p = org.product()
    org.patch(f"/products/{p['id']}", {"status": "draft"}, expect=200)
    items = org.get(f"/audit?object_type=product&object_id={p['id']}")["items"]
    update_ev = next(i for i in items if i["action"] == "product.update")
    assert update_ev["before"] == {"status": "active"} and update_ev["after"] == {"status": "draft"}
    assert update_ev["actor_type"] == "user" and update_ev["actor_id"] == org.user_id
    assert any(i["action"] == "product.create" for i in items)


def test_refused_attempts_are_audited_and_change_nothing_else(org, engine):
    wh = org.location()
    sku = unique("S")
    org.product([sku])
    with engine.connect() as conn:
        before = conn.execute(
            select(func.count())
            .select_from(stock_documents)
            .where(stock_documents.c.org_id == org.org_id)
        ).scalar()
    org.post(
        "/stock-documents",
        {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": 1}]},
        expect=409,
    )
    org.post("/stock-documents", {"type": "shipment", "lines": []}, expect=422)
    refused = [i for i in org.get("/audit?limit=10")["items"] if i["outcome"] == "refused"]
    assert [i["error_code"] for i in refused[:2]] == ["validation_error", "insufficient_stock"]
    with engine.connect() as conn:
        after = conn.execute(
            select(func.count())
            .select_from(stock_documents)
            .where(stock_documents.c.org_id == org.org_id)
        ).scalar()
    assert after == before


def test_chain_verifies_and_detects_tampering(org, engine):
    org.product()
    r = org.post("/audit/verify", expect=200).json()
    assert r["ok"] is True and r["sealed"] >= 2 and r["problems"] == []
    sealed = org.get("/audit?limit=1")["items"][0]
    assert sealed["hash"] and sealed["seq"]
    with engine.begin() as conn:
        conn.execute(
            update(audit_events)
            .where(audit_events.c.id == sealed["id"])
            .values(after={"forged": True})
        )
    r = org.post("/audit/verify", expect=200).json()
    assert r["ok"] is False and any("altered" in p for p in r["problems"])


def test_idempotency_key_replays_first_response(org, engine):
    wh = org.location()
    sku = unique("S")
    org.product([sku])
    body = {
        "type": "receipt",
        "to_location_id": wh,
        "lines": [{"sku": sku, "qty": 3, "unit_cost": 1}],
    }
    key = {"Idempotency-Key": unique("k")}
    r1 = org.post("/stock-documents", body, expect=201, headers=key)
    r2 = org.post("/stock-documents", body, expect=201, headers=key)
    assert r1.json() == r2.json() and r2.headers.get("Idempotent-Replayed") == "true"
    assert org.availability(sku)["on_hand"] == "3"
    r3 = org.post(
        "/stock-documents", {**body, "lines": [{"sku": sku, "qty": 4}]}, expect=422, headers=key
    )
    assert r3.json()["error"]["code"] == "idempotency_key_reused"
    assert org.availability(sku)["on_hand"] == "3"


def test_failed_request_does_not_burn_its_key(org):
    wh = org.location()
    sku = unique("S")
    org.product([sku])
    key = {"Idempotency-Key": unique("k")}
    ship = {"type": "shipment", "from_location_id": wh, "lines": [{"sku": sku, "qty": 1}]}
    org.post("/stock-documents", ship, expect=409, headers=key)
    org.receive(wh, [{"sku": sku, "qty": 1, "unit_cost": 1}])
    org.post("/stock-documents", ship, expect=201, headers=key)
    assert org.availability(sku)["on_hand"] == "0"


def test_keys_are_per_org(client, org):
    from tests.helpers import OrgClient

    other = OrgClient.signup(client)
    key = {"Idempotency-Key": "same-key"}
    a = org.post(
        "/locations", {"name": "A", "code": "A", "type": "warehouse"}, expect=201, headers=key
    ).json()
    b = other.post(
        "/locations", {"name": "A", "code": "A", "type": "warehouse"}, expect=201, headers=key
    ).json()
    assert a["id"] != b["id"]


def test_errors_have_one_shape(client, org):
    for r in (
        client.post(
            "/api/v1/signup", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        org.req("GET", "/no-such-thing"),
        org.req("GET", "/products/99999999999999999999"),
        org.req("DELETE", "/org"),
        org.req("POST", "/products", json=[1, 2]),
        org.req("GET", "/stock/moves?from=yesterday"),
        org.req("GET", "/stock/moves?from=2024-01-01T00:00:00"),
    ):
        assert 400 <= r.status_code < 500, r.text
        err = r.json()["error"]
        assert set(err) == {"code", "message", "details"} and err["code"] and err["message"]


def test_secrets_are_never_stored_for_replay(org, engine):
    from hoop.adapters.db.tables import idempotency_keys

    key = {"Idempotency-Key": unique("k")}
    first = org.post("/api-keys", {"name": "pos", "roles": ["clerk"]}, expect=201, headers=key)
    again = org.post("/api-keys", {"name": "pos", "roles": ["clerk"]}, expect=201, headers=key)
    assert first.json()["key"].startswith("hk_")
    assert again.json()["key"] is None and again.json()["id"] == first.json()["id"]
    with engine.connect() as conn:
        stored = (
            conn.execute(
                select(idempotency_keys.c.response).where(idempotency_keys.c.org_id == org.org_id)
            )
            .scalars()
            .all()
        )
    assert first.json()["key"] not in str(stored)

"""Tenancy, roles, plans, tokens, API keys."""

from sqlalchemy import select, text

from hoop.adapters.db.tables import api_keys, users
from tests.helpers import OrgClient, unique


def test_signup_login_and_org_settings(client, org):
    r = client.post("/api/v1/auth/token", json={"email": org.email, "password": org.password})
    assert r.status_code == 200 and r.json()["token_type"] == "bearer"
    o = org.get("/org")
    assert o["plan"] == "enterprise" and o["currency"] == "USD" and o["costing_method"] == "average"
    assert o["seller_response_seconds"] == 86400 and o["approval_rules"] == []


def test_wrong_password_and_missing_token_are_401(client, org):
    r = client.post("/api/v1/auth/token", json={"email": org.email, "password": "nope-nope"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_credentials"
    r = client.get("/api/v1/org")
    assert r.status_code == 401 and r.json()["error"]["code"] == "missing_credentials"
    r = client.get("/api/v1/org", headers={"Authorization": "Bearer ht_forged"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_token"


def test_duplicate_signup_email_is_409(client, org):
    r = client.post(
        "/api/v1/signup", json={"org_name": "X", "email": org.email, "password": "another-pass"}
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "duplicate_email"


def test_bad_signup_input_is_422(client):
    for body in (
        {"org_name": "X", "email": "not-an-email", "password": "longenough"},
        {"org_name": "X", "email": "a@b.co", "password": "short"},
        {"org_name": "X", "email": "a@b.co", "password": "longenough", "plan": "gold"},
        {"org_name": "", "email": "a@b.co", "password": "longenough"},
    ):
        r = client.post("/api/v1/signup", json=body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == "validation_error"


def test_passwords_are_argon2_hashed(engine, org):
    with engine.connect() as conn:
        h = conn.execute(select(users.c.password_hash).where(users.c.email == org.email)).scalar()
    assert h.startswith("$argon2") and org.password not in h


def test_another_orgs_objects_are_404(client, org):
    other = OrgClient.signup(client)
    wh = org.location()
    p = org.product()
    doc = org.receive(wh, [{"sku": p["variants"][0]["sku"], "qty": 1, "unit_cost": 1}])
    for path in (f"/products/{p['id']}", f"/locations/{wh}", f"/stock-documents/{doc['id']}"):
        r = other.get(path, expect=404)
        assert r.json()["error"]["code"] == "not_found"
    sku = p["variants"][0]["sku"]
    assert other.get(f"/stock/availability?sku={sku}", expect=404).status_code == 404
    # cannot post into another org's location, even with its own product of the same sku
    other.product([sku])
    r = other.post(
        "/stock-documents",
        {"type": "receipt", "to_location_id": wh, "lines": [{"sku": sku, "qty": 1}]},
        expect=404,
    )
    assert org.availability(sku)["on_hand"] == "1"
    assert other.get(f"/variants?sku={sku}")["items"][0]["id"] != p["variants"][0]["id"]


def test_roles_gate_actions_with_403(org):
    clerk = org.user(["clerk"])
    r = clerk.post("/products", {"name": "X", "variants": [{"sku": unique("S")}]}, expect=403)
    assert r.json()["error"]["code"] == "forbidden"
    clerk.patch("/org", {"currency": "EUR"}, expect=403)
    finance = org.user(["finance"])
    wh = org.location()
    p = org.product()
    finance.post(
        "/stock-documents",
        {
            "type": "receipt",
            "to_location_id": wh,
            "lines": [{"sku": p["variants"][0]["sku"], "qty": 1}],
        },
        expect=403,
    )
    assert finance.get("/audit")["items"]
    assert clerk.get("/audit", expect=403).status_code == 403
    # the clerk can move stock
    clerk.receive(wh, [{"sku": p["variants"][0]["sku"], "qty": 2, "unit_cost": 1}])


def test_plans_gate_features_with_402_naming_the_plan(client):
    core = OrgClient.signup(client, plan="core")
    r = core.post(
        "/products",
        {"name": "X", "costing_method": "fifo", "variants": [{"sku": unique("S")}]},
        expect=402,
    )
    err = r.json()["error"]
    assert err["code"] == "plan_required" and err["details"]["plan_needed"] == "pro"
    r = core.patch("/org", {"costing_method": "lifo"}, expect=402)
    assert r.json()["error"]["details"]["plan_needed"] == "pro"
    r = core.post(
        "/products",
        {"name": "L", "tracking": "lot", "variants": [{"sku": unique("S")}]},
        expect=402,
    )
    assert r.json()["error"]["details"]["plan_needed"] == "enterprise"
    core.patch("/org", {"plan": "pro", "costing_method": "fifo"}, expect=200)
    assert core.get("/org")["costing_method"] == "fifo"


def test_api_keys_are_hashed_shown_once_and_revocable(client, engine, org):
    r = org.post("/api-keys", {"name": "pos", "roles": ["clerk"]}, expect=201).json()
    key = r["key"]
    assert key.startswith("hk_")
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == r["id"])).first()
        assert row.key_hash != key and key not in str(tuple(row))
    machine = OrgClient(client, key, org.org_id, 0, "", "")
    assert machine.get("/org")["id"] == org.org_id
    machine.post("/products", {"name": "X", "variants": [{"sku": unique("S")}]}, expect=403)
    org.req("DELETE", f"/api-keys/{r['id']}", expect=204)
    assert machine.get("/org", expect=401).status_code == 401


def test_org_settings_validate(org):
    org.patch("/org", {"seller_response_seconds": 0}, expect=422)
    org.patch("/org", {"seller_response_seconds": 1.5}, expect=422)
    org.patch("/org", {"approval_rules": [{"document_type": "teleport"}]}, expect=422)
    org.patch("/org", {"currency": "euro"}, expect=422)
    o = org.patch(
        "/org",
        {
            "seller_response_seconds": 3600,
            "currency": "eur",
            "approval_rules": [{"document_type": "adjustment", "min_qty": 5}],
        },
        expect=200,
    ).json()
    assert o["currency"] == "EUR" and o["seller_response_seconds"] == 3600
    assert o["approval_rules"] == [{"document_type": "adjustment", "min_qty": "5"}]


def test_users_need_valid_roles(org):
    org.post(
        "/users",
        {"email": f"{unique('u')}@x.io", "password": "password1", "roles": ["wizard"]},
        expect=422,
    )
    org.post(
        "/users",
        {"email": f"{unique('u')}@x.io", "password": "password1", "roles": ["vendor"]},
        expect=422,
    )


def test_tenant_rows_all_carry_org(engine):
    # Every tenant table filters by org_id: no row may lack one.
    with engine.connect() as conn:
        for table in (
            "products",
            "variants",
            "locations",
            "stock_documents",
            "moves",
            "balances",
            "audit_events",
        ):
            assert (
                conn.execute(text(f"SELECT count(*) FROM {table} WHERE org_id IS NULL")).scalar()
                == 0
            )

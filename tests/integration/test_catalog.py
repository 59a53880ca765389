"""Products, variants and the location tree."""

from tests.helpers import unique


def test_product_with_variants(org):
    a, b = unique("TEE-S"), unique("TEE-M")
    p = org.post(
        "/products",
        {
            "name": "Tee",
            "variants": [
                {"sku": a, "gtin": "4006381333931", "attributes": {"size": "S"}, "price": "9.99"},
                {"sku": b, "attributes": {"size": "M"}},
            ],
        },
        expect=201,
    ).json()
    assert p["status"] == "active" and p["tracking"] == "none"
    assert [v["sku"] for v in p["variants"]] == [a, b]
    assert p["variants"][0]["gtin"] == "04006381333931"
    assert p["variants"][0]["price"] == "9.9900"
    assert org.get(f"/variants?sku={a}")["items"][0]["id"] == p["variants"][0]["id"]
    assert org.get(f"/products/{p['id']}")["variants"][1]["attributes"] == {"size": "M"}


def test_sku_unique_per_org_and_gtin_checked(org):
    sku = unique("S")
    org.product([sku])
    r = org.post("/products", {"name": "Dup", "variants": [{"sku": sku}]}, expect=409)
    assert r.json()["error"]["code"] == "duplicate_sku"
    r = org.post(
        "/products", {"name": "Twice", "variants": [{"sku": "X1"}, {"sku": "X1"}]}, expect=409
    )
    r = org.post(
        "/products",
        {"name": "Bad", "variants": [{"sku": unique("S"), "gtin": "4006381333932"}]},
        expect=422,
    )
    assert r.json()["error"]["code"] == "invalid_gtin"
    org.post("/products", {"name": "NoVariants", "variants": []}, expect=422)


def test_status_changes(org):
    p = org.product(status="draft")
    assert p["status"] == "draft"
    assert (
        org.patch(f"/products/{p['id']}", {"status": "active"}, expect=200).json()["status"]
        == "active"
    )
    org.patch(f"/products/{p['id']}", {"status": "archived"}, expect=200)
    org.patch(f"/products/{p['id']}", {"status": "active"}, expect=422)
    org.patch(f"/products/{p['id']}", {"status": "bogus"}, expect=422)


def test_products_list_paginates_and_searches(org):
    tag = unique("find")
    for _ in range(3):
        org.post(
            "/products", {"name": f"{tag} item", "variants": [{"sku": unique("S")}]}, expect=201
        )
    page1 = org.get(f"/products?q={tag}&limit=2")
    assert len(page1["items"]) == 2 and page1["next_cursor"]
    page2 = org.get(f"/products?q={tag}&limit=2&cursor={page1['next_cursor']}")
    assert len(page2["items"]) == 1 and page2["next_cursor"] is None
    org.get("/products?cursor=abc", expect=422)


def test_location_tree_and_virtuals(org):
    wh = org.location("warehouse")
    zone = org.location("zone", wh)
    q = org.location("zone", wh, sellable=False)
    bin_ = org.location("bin", q)
    got = org.get(f"/locations/{bin_}")
    assert got["sellable"] is False  # inherits the quarantine zone's flag
    assert got["path"] == f"/{wh}/{q}/{bin_}/"
    assert org.get(f"/locations/{zone}")["sellable"] is True
    types = {loc["type"] for loc in org.get("/locations?limit=500")["items"]}
    assert {"supplier", "customer", "adjustment", "scrap", "transit", "untracked"} <= types
    org.post("/locations", {"name": "b", "code": unique("B"), "type": "bin"}, expect=422)
    org.post(
        "/locations",
        {"name": "w", "code": unique("W"), "type": "warehouse", "parent_id": wh},
        expect=422,
    )
    org.post("/locations", {"name": "v", "code": unique("V"), "type": "customer"}, expect=422)
    code = unique("C")
    org.post("/locations", {"name": "a", "code": code, "type": "store"}, expect=201)
    r = org.post("/locations", {"name": "b", "code": code, "type": "store"}, expect=409)
    assert r.json()["error"]["code"] == "duplicate_code"


def test_search_treats_wildcards_literally(org):
    tag = unique("pct")
    org.post(
        "/products", {"name": f"{tag} 100% cotton", "variants": [{"sku": unique("S")}]}, expect=201
    )
    org.post(
        "/products", {"name": f"{tag} 100 cotton", "variants": [{"sku": unique("S")}]}, expect=201
    )
    found = org.get(f"/products?q={tag}%20100%25")["items"]
    assert [p["name"] for p in found] == [f"{tag} 100% cotton"]

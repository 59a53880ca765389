"""Test helpers: an API client bound to one org's credentials."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

_seq = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class OrgClient:
    def __init__(
        self, client: Any, token: str, org_id: int, user_id: int, email: str, password: str
    ) -> None:
        self.client = client
        self.token = token
        self.org_id = org_id
        self.user_id = user_id
        self.email = email
        self.password = password

    @classmethod
    def signup(cls, client: Any, plan: str = "enterprise", **extra: Any) -> OrgClient:
        email = f"{unique('owner')}@example.com"
        password = "correct horse battery"
        r = client.post(
            "/api/v1/signup",
            json={
                "org_name": unique("Org"),
                "email": email,
                "password": password,
                "plan": plan,
                **extra,
            },
        )
        assert r.status_code == 201, r.text
        b = r.json()
        return cls(client, b["token"], b["org_id"], b["user_id"], email, password)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def req(self, method: str, path: str, expect: int | None = None, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        r = self.client.request(method, f"/api/v1{path}", headers=headers, **kw)
        if expect is not None:
            assert r.status_code == expect, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def get(self, path: str, expect: int | None = 200, **kw: Any) -> Any:
        r = self.req("GET", path, expect, **kw)
        return r.json() if expect == 200 else r

    def post(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return self.req("POST", path, expect, json=json, **kw)

    def patch(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return self.req("PATCH", path, expect, json=json, **kw)

    def put(self, path: str, json: Any = None, expect: int | None = None, **kw: Any) -> Any:
        return self.req("PUT", path, expect, json=json, **kw)

    # -- builders
    def user(self, roles: list[str], **extra: Any) -> OrgClient:
        email = f"{unique('user')}@example.com"
        self.post(
            "/users",
            {"email": email, "password": "password-123", "roles": roles, **extra},
            expect=201,
        )
        r = self.client.post(
            "/api/v1/auth/token", json={"email": email, "password": "password-123"}
        )
        assert r.status_code == 200, r.text
        return OrgClient(
            self.client, r.json()["access_token"], self.org_id, 0, email, "password-123"
        )

    def location(
        self, type_: str = "warehouse", parent_id: int | None = None, sellable: bool | None = None
    ) -> int:
        body: dict[str, Any] = {
            "name": unique(type_),
            "code": unique(type_[:3].upper()),
            "type": type_,
        }
        if parent_id is not None:
            body["parent_id"] = parent_id
        if sellable is not None:
            body["sellable"] = sellable
        return int(self.post("/locations", body, expect=201).json()["id"])

    def product(self, skus: list[str] | None = None, **extra: Any) -> dict[str, Any]:
        skus = skus or [unique("SKU")]
        body = {"name": unique("Product"), "variants": [{"sku": s} for s in skus], **extra}
        return dict(self.post("/products", body, expect=201).json())

    def receive(
        self, location_id: int, lines: list[dict[str, Any]], expect: int = 201, **extra: Any
    ) -> Any:
        return self.post(
            "/stock-documents",
            {"type": "receipt", "to_location_id": location_id, "lines": lines, **extra},
            expect=expect,
        ).json()

    def availability(self, sku: str, location_id: int | None = None) -> dict[str, Any]:
        q = f"?sku={sku}" + (f"&location_id={location_id}" if location_id else "")
        return dict(self.get(f"/stock/availability{q}"))

    def virtual(self, kind: str) -> int:
        items = self.get(f"/locations?type={kind}")["items"]
        return int(items[0]["id"])

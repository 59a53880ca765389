"""The app hands API requests to the API's own application (entrypoints/api/app._App) with
the scope the mount would give them, also behind a proxy that sets a root path."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_the_api_is_reached_directly_and_under_a_root_path(app, org) -> None:
    headers = {"Authorization": f"Bearer {org.token}"}
    for root in ("", "/hoop"):  # as uvicorn --root-path: the path includes the root path
        with TestClient(app, root_path=root) as client:
            r = client.get(f"{root}/api/v1/org", headers=headers)
            assert r.status_code == 200, (root, r.text)
            assert r.json()["id"] == org.org_id
            # errors are the API's envelope; paths outside the API are the outer app's
            r = client.get(f"{root}/api/v1/no-such-thing", headers=headers)
            assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
            assert client.get(f"{root}/healthz").json() == {"status": "ok"}
            assert "/api/v1/orders" in client.get(f"{root}/openapi.json").json()["paths"]
            # a refused write gets the API's own 422 envelope
            r = client.post(f"{root}/api/v1/orders", json={"lines": []}, headers=headers)
            assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"

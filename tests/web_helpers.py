"""A browser-like client for the web pages: a cookie jar, the login form, and the CSRF token
read from each page as a browser would."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class WebClient:
    def __init__(self, app: Any) -> None:
        self.http = TestClient(app, follow_redirects=False)
        self.csrf = ""

    def login(self, email: str, password: str) -> Any:
        page = self.http.get("/login")
        nonce = CSRF_RE.search(page.text).group(1)  # type: ignore[union-attr]
        r = self.http.post("/login", data={"email": email, "password": password,
                                           "csrf_token": nonce, "next": "/"})  # fmt: skip
        if r.status_code == 303:
            self.csrf = CSRF_RE.search(self.get("/").text).group(1)  # type: ignore[union-attr]
        return r

    def get(self, path: str, **kw: Any) -> Any:
        return self.http.get(path, **kw)

    def post(self, path: str, data: Any = None, csrf: bool = True, **kw: Any) -> Any:
        """POST a form (a dict, or a list of pairs for repeated fields) as a browser does."""
        pairs = list(data.items()) if isinstance(data, dict) else list(data or [])
        if csrf:
            pairs.append(("csrf_token", self.csrf))
        headers = {"Content-Type": "application/x-www-form-urlencoded", **kw.pop("headers", {})}
        return self.http.post(path, content=urlencode(pairs), headers=headers, **kw)


def logged_in(app: Any, email: str, password: str) -> WebClient:
    w = WebClient(app)
    r = w.login(email, password)
    assert r.status_code == 303, r.text
    return w

"""Browser sessions over the API's own user tokens.

Logging in issues an ordinary user token (`access.login`) and keeps it in an HttpOnly,
SameSite=Lax cookie; every page authenticates it with `access.authenticate`, exactly as the API
authenticates a bearer token, so roles, plans and expiry are one mechanism. Logging out deletes
the token row.

CSRF: every POST must carry the session's CSRF token (form field `csrf_token`, or the
`X-CSRF-Token` header that htmx sends from `hx-headers`). The token is an HMAC of a fixed label
keyed by the session token: it needs no storage or server secret, it changes with every session,
and a page on another site can neither read the cookie nor compute it. The login form (before
there is a session) uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

COOKIE = "hoop_session"
LOGIN_COOKIE = "hoop_login"
FLASH_COOKIE = "hoop_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def csrf_for(session_token: str) -> str:
    return hmac.new(session_token.encode(), b"hoop-web-csrf", hashlib.sha256).hexdigest()


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected, str(given))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=_secure(request),
        path="/",
    )  # fmt: skip


def clear_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def login_nonce(request: Request) -> str:
    """The login form's double-submit value: the cookie's if there is one, else a new one."""
    have = request.cookies.get(LOGIN_COOKIE)
    if have and 20 <= len(have) <= 100:
        return have
    return secrets.token_urlsafe(24)


def set_login_nonce(response: Response, request: Request, nonce: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE, nonce, max_age=3600, httponly=True, samesite="lax",
        secure=_secure(request), path="/",
    )  # fmt: skip


def set_flash(response: Response, message: str) -> None:
    response.set_cookie(FLASH_COOKIE, message[:300], max_age=60, httponly=True, samesite="lax")


def safe_next(value: str | None) -> str:
    """Only a path on this site (never //host or a scheme) may be a post-login target."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value[:500]

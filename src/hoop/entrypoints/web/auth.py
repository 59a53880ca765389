"""Sign in and out: a session cookie over an ordinary user token (see session.py)."""

from __future__ import annotations

from fastapi import Request, Response

from hoop.domain.errors import HoopError
from hoop.entrypoints.web import session
from hoop.entrypoints.web.common import FormDep, WebDep, redirect, render, web_router
from hoop.service import access

router = web_router()


def _login_page(
    request: Request, nonce: str, status: int = 200, target: str | None = None, **ctx: object
) -> Response:
    target = session.safe_next(target or request.query_params.get("next"))
    resp = render(request, "login.html", status, nonce=nonce, next=target, **ctx)
    session.set_login_nonce(resp, request, nonce)
    return resp


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request, session.login_nonce(request))


@router.post("/login")
def login(request: Request, form: FormDep) -> Response:
    def first(name: str) -> str:
        return (form.get(name) or [""])[0]

    email, password, target = first("email").strip(), first("password"), first("next")
    nonce = request.cookies.get(session.LOGIN_COOKIE) or ""
    if not nonce or not session.csrf_ok(nonce, first(session.CSRF_FIELD)):
        return _login_page(request, session.login_nonce(request), 403, target, email=email,
                           error="This sign-in form expired. Please try again.")  # fmt: skip
    if not email or not password or len(email) > 320 or len(password) > 256:
        return _login_page(request, nonce, 422, target, email=email,
                           error="Enter your email and password.")  # fmt: skip
    ttl = request.app.state.settings.token_ttl_seconds
    try:
        token = request.app.state.uow.write(lambda conn: access.login(conn, email, password, ttl))
    except HoopError:
        return _login_page(
            request, nonce, 401, target, email=email, error="Wrong email or password."
        )
    resp = redirect(session.safe_next(target))
    session.set_session(resp, request, token, ttl)
    resp.delete_cookie(session.LOGIN_COOKIE, path="/")
    return resp


@router.post("/logout")
def logout(web: WebDep) -> Response:
    web.uow.write(lambda conn: access.logout(conn, web.token))
    resp = redirect("/login")
    session.clear_session(resp)
    return resp

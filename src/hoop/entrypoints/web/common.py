"""What every page shares: the session's caller, rendering, forms, and errors as pages.

Routes under `WebRoute` never leak a stack trace or a JSON error to a browser: a domain error
becomes a friendly page with its status (402 names the plan needed, 403 the roles), a missing or
expired session a redirect to the login page, and anything unexpected a logged 500 page."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from sqlalchemy import Connection, select
from sqlalchemy.exc import DataError, IntegrityError

from hoop.adapters.db.tables import orgs
from hoop.domain.errors import HoopError, Unauthorized
from hoop.domain.plans import authorize
from hoop.entrypoints.api.errors import _audit_refusal
from hoop.entrypoints.web import session
from hoop.entrypoints.web.render import ENV
from hoop.service import access, notifications
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork

log = logging.getLogger("hoop.web")
T = TypeVar("T")
MAX_FORM_BYTES = 1_000_000


class LoginRequired(Exception):
    pass


class CsrfRefused(Exception):
    pass


Form = dict[str, list[str]]


async def read_form(request: Request) -> Form:
    """An urlencoded form body as name -> values (no multipart: nothing here uploads files)."""
    if request.method != "POST":
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise HoopError("the form is too large", code="too_large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("latin-1")
    return parse_qs(text, keep_blank_values=True, max_num_fields=20_000)


def can(actor: Actor, action: str, feature: str | None = None) -> bool:
    """Whether `authorize` (the one rule the API enforces) would let the actor do it."""
    try:
        authorize(actor.roles, actor.plan, action, feature)
    except HoopError:
        return False
    return True


class Web:
    """One browser request: the session's caller, and the unit of work to run on."""

    def __init__(self, request: Request, uow: UnitOfWork, token: str, form: Form) -> None:
        self.request, self.uow, self.token, self.form = request, uow, token, form
        self.actor: Actor | None = None
        self.org: dict[str, Any] = {}
        self.unread: int | None = None  # the caller's unread notifications (the top bar)
        request.state.web = self

    # -- running service functions as the caller
    def _who(self, conn: Connection) -> Actor:
        actor = access.authenticate(conn, self.token)
        if actor.kind != "user":
            raise Unauthorized("sign in with a user account", code="invalid_token")
        row = conn.execute(
            select(orgs.c.name, orgs.c.currency).where(orgs.c.id == actor.org_id)
        ).one()
        self.actor, self.org = actor, {"name": row.name, "currency": row.currency}
        self.request.state.actor = actor
        return actor

    def read(self, fn: Callable[[Connection, Actor], T], action: str | None = None) -> T:
        def run(conn: Connection) -> T:
            actor = self._who(conn)
            if action:
                actor.require(action)
            out = fn(conn, actor)
            if self._wants_badge(actor):
                self.unread = notifications.unread_count(conn, actor)
            return out

        return self.uow.read(run)

    def _wants_badge(self, actor: Actor) -> bool:
        """Whether the page will show the unread count: a whole page (an htmx request gets a
        fragment without the top bar), for a caller who may read notifications."""
        return not self.request.headers.get("hx-request") and can(actor, "notifications.read")

    def write(self, fn: Callable[[Connection, Actor], T]) -> T:
        return self.uow.write(lambda conn: fn(conn, self._who(conn)))

    # -- forms
    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0].strip() if values else default

    def fields(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.get(name, [])]

    # -- responses
    @property
    def csrf(self) -> str:
        return session.csrf_for(self.token)

    def page(self, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        flash = self.request.cookies.get(session.FLASH_COOKIE)
        actor = self.actor
        # a whole page shown after a write (a fragment's name starts with "_")
        wanted = actor is not None and not template.startswith("_") and self._wants_badge(actor)
        if self.unread is None and wanted:
            try:
                self.unread = self.uow.read(lambda c: notifications.unread_count(c, actor))
            except Exception:  # the page (an error page, say) matters more than its badge
                log.exception("unread count for the top bar")
        resp = render(self.request, template, status_code, web=self, actor=actor, org=self.org,
                      csrf=self.csrf, flash=flash, can=can, unread_count=self.unread,
                      **ctx)  # fmt: skip
        if flash:
            resp.delete_cookie(session.FLASH_COOKIE)
        return resp


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    html = ENV.get_template(template).render(
        request=request, path=request.url.path, now=datetime.now(UTC), **ctx
    )
    return HTMLResponse(html, status_code=status_code)


def redirect(url: str, flash: str | None = None, request: Request | None = None) -> Response:
    if request is not None and request.headers.get("hx-request"):
        resp: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        resp = RedirectResponse(url, status_code=303)
    if flash:
        session.set_flash(resp, flash)
    return resp


async def get_web(request: Request) -> Web:
    token = request.cookies.get(session.COOKIE)
    if not token or len(token) > 200:
        raise LoginRequired()
    form = await read_form(request)
    if request.method == "POST":
        given = (
            request.headers.get(session.CSRF_HEADER) or (form.get(session.CSRF_FIELD) or [""])[0]
        )
        if not session.csrf_ok(session.csrf_for(token), given):
            raise CsrfRefused()
    return Web(request, request.app.state.uow, token, form)


WebDep = Annotated[Web, Depends(get_web)]

TITLES = {
    401: "Please sign in again",
    402: "Your plan does not include this",
    403: "You do not have access to this",
    404: "Not found",
    409: "That conflicts with the current state",
    413: "Too large",
    422: "That input is not valid",
    500: "Something went wrong",
}


def error_page(request: Request, status: int, message: str, details: Any = None) -> Response:
    if request.headers.get("hx-request"):
        html = ENV.get_template("_flash.html").render(kind="error", message=message)
        swap = {"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"}
        return HTMLResponse(html, status_code=200, headers=swap)
    details = details if isinstance(details, dict) else {}
    ctx = {"status": status, "title": TITLES.get(status, "Error"), "message": message,
           "details": details}  # fmt: skip
    web = getattr(request.state, "web", None)
    if web is not None and web.actor is not None:
        return web.page("error.html", status, **ctx)
    return render(request, "error.html", status, actor=None, **ctx)


def _login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = "/login?next=" + quote(target, safe="")
    resp = redirect(url, request=request)
    session.clear_session(resp)
    return resp


class WebRoute(APIRoute):
    """A page route: errors become pages, never JSON or a stack trace."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await inner(request)
            except LoginRequired:
                return _login_redirect(request)
            except CsrfRefused:
                return error_page(
                    request,
                    403,
                    "This form has expired or did not come from "
                    "Hoop (CSRF check failed). Reload the page and try again.",
                )
            except HoopError as exc:
                if exc.status == 401:
                    return _login_redirect(request)
                if request.method == "POST":
                    _audit_refusal(request, exc.code)
                return error_page(request, exc.status, exc.message, exc.details)
            except RequestValidationError:
                return error_page(request, 404, "That address is not one Hoop knows.")
            except IntegrityError:
                return error_page(
                    request,
                    409,
                    "That conflicts with existing data (someone "
                    "may have just made the same change).",
                )
            except DataError:
                return error_page(request, 422, "A value is out of range for its field.")
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return error_page(
                    request,
                    500,
                    "An unexpected error occurred; it has been logged. Nothing was changed.",
                )

        return handler


def field_errors(exc: HoopError) -> dict[str, str]:
    """A domain error as {form field: message}; '_' holds what belongs to no one field."""
    d = exc.details if isinstance(exc.details, dict) else {}
    if "field" in d and isinstance(d["field"], str):
        m = re.fullmatch(r"lines\[(\d+)\]\.\w+", d["field"])
        if m:
            return {f"line-{m.group(1)}": exc.message, "_": exc.message}
        return {d["field"]: exc.message}
    if "line" in d and isinstance(d["line"], int):
        return {f"line-{d['line']}": exc.message, "_": exc.message}
    return {"_": exc.message}


def page_cursor(raw: str | None) -> int | None:
    """A list cursor as given out (an id), or None for anything else (the first page)."""
    if raw and raw.isdigit() and len(raw) <= 18:
        return int(raw)
    return None


def int_or_none(raw: str | None) -> int | None:
    return int(raw) if raw and raw.isdigit() and len(raw) <= 18 else None


def web_router() -> Any:
    """A router for pages: errors as pages, and nothing in /openapi.json."""
    from fastapi import APIRouter

    return APIRouter(route_class=WebRoute, include_in_schema=False)


FormDep = Annotated[Form, Depends(read_form)]
PathId = Annotated[int, Path(ge=1, le=2**62)]

"""Dependencies as Annotated aliases, so routes read like prose."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError
from sqlalchemy import Connection

from hoop.domain.errors import Unauthorized, ValidationFailed
from hoop.entrypoints.api.encoding import encode
from hoop.service import access, idempotency
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
_bearer = HTTPBearer(auto_error=False, description="a user token or an API key")


async def get_uow(request: Request) -> UnitOfWork:  # async: no threadpool hop for a lookup
    return request.app.state.uow  # type: ignore[no-any-return]


UoW = Annotated[UnitOfWork, Depends(get_uow)]


def _token(cred: HTTPAuthorizationCredentials | None) -> str:
    if cred is None or not cred.credentials:
        raise Unauthorized(
            "send Authorization: Bearer <token or API key>", code="missing_credentials"
        )
    if len(cred.credentials) > 200:
        raise Unauthorized("invalid token", code="invalid_token")
    return cred.credentials


class Reader:
    """A read-only request: the caller is authenticated on the same connection and in the same
    worker thread as the query (one pool checkout, no extra threadpool hop)."""

    def __init__(self, request: Request, uow: UnitOfWork, token: str) -> None:
        self.request, self.uow, self.token = request, uow, token

    def __call__(self, action: str, fn: Callable[[Connection, Actor], T]) -> T:
        def run(conn: Connection) -> T:
            actor = access.authenticate(conn, self.token)
            self.request.state.actor = actor
            actor.require(action)
            return fn(conn, actor)

        return self.uow.read(run)


async def get_reader(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Reader:
    return Reader(request, request.app.state.uow, _token(cred))


ReadAs = Annotated[Reader, Depends(get_reader)]


def get_actor(
    request: Request,
    uow: UoW,
    cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    token = _token(cred)
    actor = uow.read(lambda conn: access.authenticate(conn, token))
    request.state.actor = actor
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]


class Writer:
    """A mutation whose caller is authenticated inside its write transaction, on the same
    connection (one pool checkout instead of two). The token's presence is checked at once
    (401 before the body); a request whose body fails validation is authenticated by the
    error handler before it answers (so a bad token is still a 401, and a refusal is still
    audited)."""

    def __init__(self, request: Request, uow: UnitOfWork, token: str) -> None:
        self.request, self.uow, self.token = request, uow, token

    @property
    def idempotency_key(self) -> str | None:
        return self.request.headers.get("idempotency-key")

    def authenticate(self, conn: Connection) -> Actor:
        actor = access.authenticate(conn, self.token)
        self.seen(actor)
        return actor

    def seen(self, actor: Actor) -> None:
        """Note the caller, once known: a refusal after this point is audited with it."""
        self.request.state.actor = actor

    def __call__(
        self,
        payload: BaseModel | None,
        fn: Callable[[Connection, Actor], Any],
        status: int = 200,
    ) -> JSONResponse:
        """Run fn(conn, actor) in one transaction, honouring Idempotency-Key."""
        request = self.request
        key = self.idempotency_key
        fp = ""
        if key is not None:
            body = payload.model_dump_json(exclude_unset=True) if payload is not None else ""
            fp = idempotency.fingerprint(request.method, request.url.path, body)
        (code, content), replayed = idempotency.run_as(
            self.uow, self.authenticate, key, fp,
            lambda conn, actor: (status, encode(fn(conn, actor))),
        )  # fmt: skip
        headers = {"Idempotent-Replayed": "true"} if replayed else None
        return JSONResponse(content, status_code=code, headers=headers)


async def get_writer(
    request: Request, cred: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Writer:
    token = _token(cred)
    request.state.bearer = token
    return Writer(request, request.app.state.uow, token)


WriteAs = Annotated[Writer, Depends(get_writer)]


# ---- routes on the hottest path: no dependency injection, the body parsed in one step
# FastAPI's dependency solving and body handling cost ~0.6 ms of CPU per request (measured
# over HTTP: benchmarks/bench_orders.py). A route that takes only the Request does the same
# work by hand with these, and is documented with `documented_body` as if it declared them.

BODY_MODELS: list[type[BaseModel]] = []  # models documented by documented_body


def documented_body(model: type[BaseModel]) -> dict[str, Any]:
    """openapi_extra for a route that parses `model` itself (body_of) and takes a bearer
    token (writer_of): /openapi.json shows it as for `body: model, write: WriteAs`."""
    BODY_MODELS.append(model)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {
        "security": [{_bearer.scheme_name: []}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
    }


async def in_thread(request: Request, fn: Callable[[], T]) -> T:
    """fn on one of the API's own HOOP_THREADS request threads, through the event loop's
    executor. AnyIO's thread hop (what FastAPI uses for a sync route) adds a capacity limiter,
    a cancel scope and run-variable lookups to each call: ~9% of the server's CPU in a burst
    of 200 orders (py-spy, benchmarks/bench_orders.py)."""
    ctx = contextvars.copy_context()  # as AnyIO does: the request's context goes along
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(request.app.state.executor, ctx.run, fn)


async def writer_of(request: Request) -> Writer:
    """get_writer without dependency injection (the same 401s, in the same order)."""
    return await get_writer(request, await _bearer(request))


async def body_of(request: Request, model: type[M]) -> M:
    """The JSON body validated as `model`; errors are the 422 a declared body gives."""
    raw = await request.body()
    if not raw:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not (
        kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))
    ):
        # as FastAPI's strict content type: only a JSON body is read as JSON
        msg = "send the body as JSON (Content-Type: application/json)"
        wrong = {"type": "content_type", "loc": ("body",), "msg": msg, "input": None}
        raise RequestValidationError([wrong])
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


PathId = Annotated[int, Path(ge=1, le=2**62)]


class Pagination:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(max_length=40)] = None,
    ) -> None:
        self.limit = limit
        self.after: int | None = None
        if cursor:
            if not cursor.isdigit() or len(cursor) > 18:
                raise ValidationFailed("cursor is not one this API gave out", {"field": "cursor"})
            self.after = int(cursor)

    def page(self, items: list[dict[str, Any]], key: str = "id") -> dict[str, Any]:
        nxt = str(items[-1][key]) if len(items) == self.limit else None
        return {"items": encode(items), "next_cursor": nxt}


Page = Annotated[Pagination, Depends()]


def respond(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(encode(body), status_code=status)


def mutate(
    request: Request,
    uow: UnitOfWork,
    org_id: int,
    payload: BaseModel | None,
    fn: Callable[[Connection], Any],
    status: int = 200,
    secrets: tuple[str, ...] = (),
) -> JSONResponse:
    """Run a mutation in one transaction, honouring Idempotency-Key (`secrets` are response
    fields shown once and never stored for a replay)."""
    key = request.headers.get("idempotency-key")
    fp = ""
    if key is not None:
        body = payload.model_dump_json(exclude_unset=True) if payload is not None else ""
        fp = idempotency.fingerprint(request.method, request.url.path, body)
    (code, content), replayed = idempotency.run(
        uow, org_id, key, fp, lambda conn: (status, encode(fn(conn))), secrets
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(content, status_code=code, headers=headers)


def dump(model: BaseModel) -> dict[str, Any]:
    """The fields a client actually sent, as plain data for the service layer."""
    return model.model_dump(exclude_unset=True, mode="python")

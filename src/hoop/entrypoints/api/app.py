"""The FastAPI application factory."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.openapi.models import OpenAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from hoop.config import Settings
from hoop.entrypoints import web
from hoop.entrypoints.api import errors
from hoop.entrypoints.api.deps import BODY_MODELS
from hoop.entrypoints.api.routers import (
    access,
    audit,
    catalog,
    finance,
    notifications,
    orders,
    purchasing,
    replenishment,
    stock,
    webhooks,
)
from hoop.entrypoints.api.schemas import ErrorEnvelope
from hoop.service.unit_of_work import UnitOfWork

ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorEnvelope, "description": desc}
    for code, desc in {
        400: "bad request",
        401: "no or bad credentials",
        402: "the plan lacks the feature",
        403: "the role lacks the right",
        404: "not found (or another tenant's)",
        409: "conflict with current state",
        422: "invalid input",
    }.items()
}


IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "a repeat with the same key and body returns the first response and "
    "changes nothing more",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}


def _document_idempotency_key(app: FastAPI) -> None:
    """Every mutating POST/PATCH honours Idempotency-Key: say so in /openapi.json."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for path, ops in schema.get("paths", {}).items():
                for method, op in ops.items():
                    if method in ("post", "patch") and path != "/api/v1/auth/token":
                        op.setdefault("parameters", []).append(IDEMPOTENCY_HEADER)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


API_PREFIX = "/api/v1"
_AREAS = (access, catalog, stock, audit, finance, orders, webhooks, notifications, purchasing,
          replenishment)  # fmt: skip
# Routing tries each route in turn (~40 before the orders' in the order above: ~0.1 ms a
# request), so the busiest areas go first. No path of one area matches a route of another,
# so the order changes nothing else; /openapi.json keeps _AREAS' order.
_BY_TRAFFIC = (orders, stock, catalog, access, notifications, replenishment, purchasing,
               webhooks, finance, audit)  # fmt: skip


def _api(uow: UnitOfWork, settings: Settings) -> FastAPI:
    """The API as an application of its own, mounted at /api/v1: a request for it is routed by
    its prefix once, then among the API's routes only. (FastAPI matches the routes of included
    routers one by one: with the web pages and the API in one app, every request was tried
    against up to 150 routes, a third of the CPU of `GET /healthz`.)"""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    api.state.uow = uow
    api.state.settings = settings
    # the hottest routes' own threads (deps.in_thread); sync routes run on AnyIO's
    api.state.executor = ThreadPoolExecutor(settings.threads, thread_name_prefix="hoop-api")
    errors.install(api)
    for area in _BY_TRAFFIC:
        api.include_router(area.router, responses=ERROR_RESPONSES)
    for area in reversed(_BY_TRAFFIC):  # an area's plain routes for its busiest endpoints
        api.router.routes[:0] = getattr(area, "fast_routes", [])
    return api


def _documented(app: FastAPI) -> None:
    """/openapi.json of the main app describes the mounted API under its prefix (FastAPI
    leaves a mounted application out of its parent's schema)."""
    docs = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    for area in _AREAS:
        docs.include_router(area.router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description,
                routes=docs.routes,
            )  # fmt: skip
            app.openapi_schema = _with_models(schema, BODY_MODELS)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_models(schema: dict[str, Any], models: list[type[BaseModel]]) -> dict[str, Any]:
    """Add the schemas of bodies that routes parse themselves (deps.documented_body), as
    FastAPI adds those of declared bodies: under components, sorted by name."""
    found = dict(schema.get("components", {}).get("schemas", {}))
    for model in models:
        js = model.model_json_schema(ref_template="#/components/schemas/{model}")
        found.update(js.pop("$defs", {}))
        found[model.__name__] = js
    schema.setdefault("components", {})["schemas"] = dict(sorted(found.items()))
    for ops in schema.get("paths", {}).values():
        for op in ops.values():
            keys = list(op)
            if "requestBody" in keys and keys.index("requestBody") > keys.index("responses"):
                op["responses"] = op.pop("responses")  # where FastAPI puts it: after the body
    # through the OpenAPI model as get_openapi returns it (which drops `"default": null`)
    return jsonable_encoder(OpenAPI(**schema), by_alias=True, exclude_none=True)  # type: ignore[no-any-return]


def _lifespan(settings: Settings) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.threads
        # what start-up made (modules, routes, schemas) lives as long as the process: out of
        # the collector's way, so its full collections stop walking it (orders/s over HTTP
        # +10-20% and the 200-order burst's p99 a little lower in interleaved runs)
        gc.collect()
        gc.freeze()
        yield

    return lifespan


class _App(FastAPI):
    """The application: the browser pages, /healthz, /openapi.json, and the API mounted at
    /api/v1. A request for the API is handed to the API's application directly, with the
    scope the mount would give it: the API has its own error handlers, middleware and
    telemetry (OpenTelemetry, when a provider is set), and passing through this
    application's as well would describe each request twice. In a burst of 200 orders
    (py-spy --gil, benchmarks/bench_orders.py) request handling outside the route went from
    12.8% to 7.9% of the server's samples."""

    api: ASGIApp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            root = scope.get("root_path", "")
            path: str = scope["path"]
            if path.startswith(root + API_PREFIX + "/"):
                child = {**scope, "app_root_path": scope.get("app_root_path", root),
                         "root_path": root + API_PREFIX}  # fmt: skip
                await self.api(child, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(uow: UnitOfWork, settings: Settings) -> FastAPI:
    app = _App(
        lifespan=_lifespan(settings),
        title="Hoop Inventory API",
        version="1.0",
        description="Inventory as the single source of truth. Quantities and money are decimal "
        "strings; errors are {error: {code, message, details}}.",
    )
    app.state.uow = uow
    app.state.settings = settings
    errors.install(app)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    app.api = _api(uow, settings)
    app.mount(API_PREFIX, app.api)  # for url_for, and as what _App mimics
    web.mount(app)  # the browser pages at / (kept out of /openapi.json)
    _documented(app)
    _document_idempotency_key(app)
    return app

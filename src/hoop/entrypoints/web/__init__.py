"""The web app: Jinja2 pages and htmx fragments over the service layer, at `/`.

One router module per area; `mount` adds them and the bundled static files to the API's app."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from hoop.entrypoints.web import (
    auth,
    dashboard,
    documents,
    notifications,
    orders,
    products,
    purchase_orders,
    replenishment,
    reports,
    settings,
)
from hoop.entrypoints.web.render import HERE


def mount(app: FastAPI) -> None:
    for module in (auth, dashboard, products, documents, orders, notifications, replenishment,
                   purchase_orders, reports, settings):  # fmt: skip
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

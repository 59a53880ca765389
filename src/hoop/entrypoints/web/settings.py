"""Settings: the org (plan, currency, costing, deadlines), approval rules, users and roles,
API keys and webhooks. Each form goes through the service function the API calls."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import Connection

from hoop.domain.documents import DocType
from hoop.domain.errors import HoopError
from hoop.domain.plans import Plan, Role
from hoop.domain.webhooks import EVENTS
from hoop.entrypoints.web.common import (
    PathId,
    Web,
    WebDep,
    field_errors,
    page_cursor,
    redirect,
    web_router,
)
from hoop.service import access, webhooks
from hoop.service import web_queries as wq
from hoop.service.context import Actor

router = web_router()
ROLES = [r.value for r in Role]
PLANS = [p.value for p in Plan]
DOC_TYPES = [t.value for t in DocType]
DELIVERIES_PAGE = 25


def _user_errors(exc: HoopError) -> dict[str, str]:
    if exc.status in (401, 402, 403):
        raise exc
    return field_errors(exc)


def _settings_page(web: Web, tab: str, status: int = 200, **ctx: Any) -> Response:
    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        out: dict[str, Any] = {"settings": access.get_org(conn, actor)}
        if tab == "org":
            out["locations"] = wq.internal_locations(conn, actor)
        elif tab == "users":
            out["users"] = access.list_users(conn, actor)
        elif tab == "api-keys":
            out["keys"] = access.list_api_keys(conn, actor)
        elif tab == "webhooks":
            out["endpoints"] = webhooks.list_endpoints(conn, actor, 100, None)
        return out

    data = web.read(load, "org.read")
    return web.page(f"settings_{tab.replace('-', '_')}.html", status, tab=tab, roles=ROLES,
                    plans=PLANS, doc_types=DOC_TYPES, events=EVENTS,
                    **{"errors": {}, "values": {}, **data, **ctx})  # fmt: skip


@router.get("/settings")
def org_settings(web: WebDep) -> Response:
    return _settings_page(web, "org")


def _minutes(raw: str, field: str) -> int | str:
    """Minutes typed in the form as seconds for the service (which checks the range)."""
    if raw.isdigit() and len(raw) <= 9:
        return int(raw) * 60
    return raw  # the service says what is wrong with it


@router.post("/settings")
def save_org(web: WebDep) -> Response:
    values = {k: web.field(k) for k in ("name", "plan", "currency", "costing_method",
                                         "seller_response_minutes", "payment_window_minutes",
                                         "default_shipping_location_id")}  # fmt: skip
    changes: dict[str, Any] = {
        "name": values["name"], "plan": values["plan"], "currency": values["currency"],
        "costing_method": values["costing_method"],
        "seller_response_seconds": _minutes(values["seller_response_minutes"],
                                            "seller_response_seconds"),
        "payment_window_seconds": _minutes(values["payment_window_minutes"],
                                           "payment_window_seconds"),
    }  # fmt: skip
    loc = values["default_shipping_location_id"]
    changes["default_shipping_location_id"] = int(loc) if loc.isdigit() and len(loc) < 18 else None
    try:
        web.write(lambda conn, actor: access.update_org(conn, actor, changes))
    except HoopError as exc:
        errors = _user_errors(exc)
        errors = {k.replace("_seconds", "_minutes"): v for k, v in errors.items()}
        errors = {("name" if k == "org_name" else k): v for k, v in errors.items()}
        return _settings_page(web, "org", 422, errors=errors, values=values)
    return redirect("/settings", "Settings saved.")


@router.get("/settings/approvals")
def approval_rules(web: WebDep) -> Response:
    return _settings_page(web, "approvals")


@router.post("/settings/approvals")
def save_approval_rules(web: WebDep) -> Response:
    types, qtys, vals = (
        web.fields("rule_type"),
        web.fields("rule_min_qty"),
        web.fields("rule_min_value"),
    )
    rows = [{"document_type": t, "min_qty": q, "min_value": v}
            for t, q, v in zip(types, qtys, vals, strict=False)][:50]  # fmt: skip
    rules = [{k: v for k, v in r.items() if v} for r in rows if r["document_type"]]
    try:
        web.write(lambda conn, actor: access.update_org(conn, actor, {"approval_rules": rules}))
    except HoopError as exc:
        errors = _user_errors(exc)
        d = exc.details if isinstance(exc.details, dict) else {}
        if isinstance(d.get("index"), int):
            errors["rule-" + str(d["index"])] = exc.message
        return _settings_page(web, "approvals", 422, errors=errors, rows=rows)
    return redirect("/settings/approvals", "Approval rules saved.")


@router.get("/settings/users")
def users_page(web: WebDep) -> Response:
    return _settings_page(web, "users")


@router.post("/settings/users")
def create_user(web: WebDep) -> Response:
    values = {"email": web.field("email")[:320], "roles": web.fields("roles")}
    password = web.field("password")[:300]
    try:
        web.write(lambda conn, actor: access.create_user(
            conn, actor, values["email"], password, values["roles"]))  # fmt: skip
    except HoopError as exc:
        return _settings_page(web, "users", 422, errors=_user_errors(exc), values=values)
    return redirect("/settings/users", f"User {values['email']} added.")


@router.get("/settings/api-keys")
def api_keys_page(web: WebDep) -> Response:
    return _settings_page(web, "api-keys")


@router.post("/settings/api-keys")
def create_api_key(web: WebDep) -> Response:
    values = {"name": web.field("name")[:200], "roles": web.fields("roles")}
    try:
        key = web.write(lambda conn, actor: access.create_api_key(
            conn, actor, values["name"], values["roles"]))  # fmt: skip
    except HoopError as exc:
        return _settings_page(web, "api-keys", 422, errors=_user_errors(exc), values=values)
    # the key is shown once, in this response, and never stored in clear
    return _settings_page(web, "api-keys", 201, secret=key["key"], secret_name=key["name"])


@router.post("/settings/api-keys/{key_id}/revoke")
def revoke_api_key(key_id: PathId, web: WebDep) -> Response:
    web.write(lambda conn, actor: access.revoke_api_key(conn, actor, key_id))
    return redirect("/settings/api-keys", f"API key #{key_id} revoked.")


@router.get("/settings/webhooks")
def webhooks_page(web: WebDep) -> Response:
    return _settings_page(web, "webhooks")


@router.post("/settings/webhooks")
def create_webhook(web: WebDep) -> Response:
    values = {"url": web.field("url")[:2000], "events": web.fields("events") or ["*"]}
    try:
        hook = web.write(lambda conn, actor: webhooks.create_endpoint(conn, actor, values))
    except HoopError as exc:
        return _settings_page(web, "webhooks", 422, errors=_user_errors(exc), values=values)
    return _settings_page(web, "webhooks", 201, secret=hook["secret"], secret_name=hook["url"])


@router.get("/settings/webhooks/{endpoint_id}")
def webhook_page(endpoint_id: PathId, web: WebDep, request: Request) -> Response:
    """One endpoint and its deliveries, newest first: what was sent, whether it arrived, how
    many attempts it took, the next one, and the last error the endpoint gave."""
    p = request.query_params
    status = p.get("status") if p.get("status") in webhooks.DELIVERY_STATUSES else None
    after = page_cursor(p.get("cursor"))

    def load(conn: Connection, actor: Actor) -> dict[str, Any]:
        return {
            "settings": access.get_org(conn, actor),
            "endpoint": webhooks.get_endpoint(conn, actor, endpoint_id),
            "deliveries": webhooks.list_deliveries(
                conn, actor, endpoint_id, DELIVERIES_PAGE, after, status
            ),
        }

    data = web.read(load, "webhooks.manage")
    rows = data["deliveries"]
    nxt = str(rows[-1]["id"]) if len(rows) == DELIVERIES_PAGE else None
    params = {"status": status, "cursor": str(after) if after else None}
    return web.page("settings_webhook.html", tab="webhooks", statuses=webhooks.DELIVERY_STATUSES,
                    status=status, params=params, next_cursor=nxt, errors={}, **data)  # fmt: skip


@router.post("/settings/webhooks/{endpoint_id}/toggle")
def toggle_webhook(endpoint_id: PathId, web: WebDep) -> Response:
    active = web.field("active") == "true"
    web.write(lambda conn, actor: webhooks.update_endpoint(conn, actor, endpoint_id,
                                                           {"active": active}))  # fmt: skip
    back = f"/settings/webhooks/{endpoint_id}" if web.field("from") == "endpoint" else (
        "/settings/webhooks")  # fmt: skip
    return redirect(back, "Webhook " + ("enabled." if active else "disabled."))


@router.post("/settings/webhooks/{endpoint_id}/delete")
def delete_webhook(endpoint_id: PathId, web: WebDep) -> Response:
    web.write(lambda conn, actor: webhooks.delete_endpoint(conn, actor, endpoint_id))
    return redirect("/settings/webhooks", "Webhook deleted.")

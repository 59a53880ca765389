"""Org and access: signup, tokens, org settings, users, API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from hoop.entrypoints.api import schemas as s
from hoop.entrypoints.api.deps import CurrentActor, PathId, ReadAs, UoW, dump, mutate, respond
from hoop.service import access

router = APIRouter(tags=["org and access"])


@router.post("/signup", status_code=201, response_model=s.SignupOut)
def signup(body: s.SignupIn, request: Request, uow: UoW) -> JSONResponse:
    d = dump(body)
    return mutate(
        request,
        uow,
        0,
        body,
        lambda conn: access.signup(
            conn,
            d["org_name"],
            d["email"],
            d["password"],
            d.get("plan") or "core",
            d.get("currency") or "USD",
            d.get("costing_method") or "average",
        ),
        201,
        secrets=("token",),
    )


@router.post("/auth/token", response_model=s.TokenOut)
def token(body: s.TokenIn, request: Request, uow: UoW) -> JSONResponse:
    ttl = request.app.state.settings.token_ttl_seconds
    tok = uow.write(lambda conn: access.login(conn, body.email, body.password, ttl))
    return respond({"access_token": tok, "token_type": "bearer", "expires_in": ttl})


@router.get("/org", response_model=s.OrgOut)
def get_org(read: ReadAs) -> JSONResponse:
    return respond(read("org.read", lambda conn, actor: access.get_org(conn, actor)))


@router.patch("/org", response_model=s.OrgOut)
def patch_org(body: s.OrgPatch, actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
    return mutate(
        request, uow, actor.org_id, body, lambda conn: access.update_org(conn, actor, dump(body))
    )


@router.post("/users", status_code=201, response_model=s.UserOut)
def create_user(body: s.UserIn, actor: CurrentActor, request: Request, uow: UoW) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: access.create_user(
            conn, actor, body.email, body.password, list(body.roles), body.supplier_id
        ),
        201,
    )


@router.get("/users", response_model=list[s.UserOut])
def list_users(read: ReadAs) -> JSONResponse:
    return respond(read("users.manage", lambda conn, actor: access.list_users(conn, actor)))


@router.post("/api-keys", status_code=201, response_model=s.ApiKeyOut)
def create_api_key(
    body: s.ApiKeyIn, actor: CurrentActor, request: Request, uow: UoW
) -> JSONResponse:
    return mutate(
        request,
        uow,
        actor.org_id,
        body,
        lambda conn: access.create_api_key(
            conn, actor, body.name, list(body.roles), body.channel_id
        ),
        201,
        secrets=("key",),
    )


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response)
def revoke_api_key(key_id: PathId, actor: CurrentActor, uow: UoW) -> Response:
    uow.write(lambda conn: access.revoke_api_key(conn, actor, key_id))
    # 204 carries no body at all (JSONResponse(None) would send "null", breaking HTTP)
    return Response(status_code=204)

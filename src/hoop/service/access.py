"""Signup, login, tokens, users, API keys and org settings."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from hoop.adapters.db import hot
from hoop.adapters.db.tables import api_keys, auth_tokens, locations, orgs, users
from hoop.domain.documents import STANDARD_REASONS, parse_approval_rules
from hoop.domain.errors import Conflict, NotFound, Unauthorized, ValidationFailed
from hoop.domain.locations import VIRTUAL_TYPES
from hoop.domain.plans import Plan, validate_roles
from hoop.service import audit, costing
from hoop.service.context import Actor

_hasher = PasswordHasher()
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
COSTING_METHODS = ("fifo", "lifo", "average")
API_KEY_PREFIX = "hk_"
# A fixed hash so a login for an unknown email costs the same as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-password")


def _now() -> datetime:
    return datetime.now(UTC)


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _email(value: str) -> str:
    value = value.strip().lower()
    if not EMAIL_RE.match(value):
        raise ValidationFailed("email is not a valid address", {"field": "email"})
    return value


def _password(value: str) -> str:
    if not 8 <= len(value) <= 256:
        raise ValidationFailed("password must be 8 to 256 characters", {"field": "password"})
    return value


def _check_org_settings(values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "plan" in out and out["plan"] not in Plan.__members__:
        raise ValidationFailed("plan must be core, pro or enterprise", {"field": "plan"})
    if "currency" in out:
        cur = str(out["currency"]).upper()
        if not CURRENCY_RE.match(cur):
            raise ValidationFailed(
                "currency must be a 3-letter ISO 4217 code", {"field": "currency"}
            )
        out["currency"] = cur
    if "costing_method" in out and out["costing_method"] not in COSTING_METHODS:
        raise ValidationFailed(
            "costing_method must be fifo, lifo or average", {"field": "costing_method"}
        )
    for f in ("seller_response_seconds", "payment_window_seconds"):
        if f in out:
            v = out[f]
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10**9:
                raise ValidationFailed(f"{f} must be a whole number of seconds >= 1", {"field": f})
    if "approval_rules" in out:
        if not isinstance(out["approval_rules"], list):
            raise ValidationFailed("approval_rules must be a list", {"field": "approval_rules"})
        out["approval_rules"] = [r.as_dict() for r in parse_approval_rules(out["approval_rules"])]
    if "reason_codes" in out:
        codes = out["reason_codes"]
        if not isinstance(codes, list) or not all(
            isinstance(c, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,63}", c) for c in codes
        ):
            raise ValidationFailed(
                "reason_codes must be a list of snake_case codes", {"field": "reason_codes"}
            )
        out["reason_codes"] = sorted(set(codes) - set(STANDARD_REASONS))
    if "name" in out:
        name = str(out["name"]).strip()
        if not 1 <= len(name) <= 200:
            raise ValidationFailed("org name must be 1 to 200 characters", {"field": "org_name"})
        out["name"] = name
    return out


def signup(
    conn: Connection,
    org_name: str,
    email: str,
    password: str,
    plan: str = "core",
    currency: str = "USD",
    costing_method: str = "average",
) -> dict[str, Any]:
    email = _email(email)
    settings = _check_org_settings(
        {"name": org_name, "plan": plan, "currency": currency, "costing_method": costing_method}
    )
    if settings["costing_method"] in ("fifo", "lifo") and settings["plan"] == "core":
        from hoop.domain.errors import PlanRequired

        raise PlanRequired(
            "FIFO and LIFO costing need the pro plan or higher",
            {"feature": "costing.fifo_lifo", "plan_needed": "pro"},
        )
    now = _now()
    if conn.execute(select(users.c.id).where(users.c.email == email)).first():
        raise Conflict(
            "a user with this email already exists", {"field": "email"}, code="duplicate_email"
        )
    org_id = conn.execute(
        insert(orgs)
        .values(
            name=settings["name"],
            plan=settings["plan"],
            currency=settings["currency"],
            costing_method=settings["costing_method"],
            seller_response_seconds=86_400,
            payment_window_seconds=86_400,
            approval_rules=[],
            reason_codes=[],
            created_at=now,
        )
        .returning(orgs.c.id)
    ).scalar_one()
    _create_virtual_locations(conn, org_id, now)
    costing.record_method(conn, org_id, settings["costing_method"], now)
    try:
        user_id = conn.execute(
            insert(users)
            .values(
                org_id=org_id,
                email=email,
                password_hash=_hasher.hash(_password(password)),
                roles=["owner"],
                active=True,
                created_at=now,
            )
            .returning(users.c.id)
        ).scalar_one()
    except IntegrityError:
        raise Conflict(
            "a user with this email already exists", {"field": "email"}, code="duplicate_email"
        ) from None
    actor = Actor(org_id=org_id, plan=settings["plan"], roles=("owner",), user_id=user_id)
    token = _issue_token(conn, org_id, user_id, 7 * 24 * 3600)
    audit.record(
        conn,
        actor,
        "org.signup",
        "org",
        org_id,
        None,
        {"name": settings["name"], "plan": settings["plan"], "owner": email},
    )
    return {"org_id": org_id, "user_id": user_id, "token": token}


def _create_virtual_locations(conn: Connection, org_id: int, now: datetime) -> None:
    for kind in VIRTUAL_TYPES:
        loc_id = conn.execute(
            insert(locations)
            .values(
                org_id=org_id,
                parent_id=None,
                path="/",
                name=kind.value.title(),
                code=f"VIRTUAL-{kind.value.upper()}",
                type=kind.value,
                sellable=False,
                internal=False,
                created_at=now,
            )
            .returning(locations.c.id)
        ).scalar_one()
        conn.execute(update(locations).where(locations.c.id == loc_id).values(path=f"/{loc_id}/"))


def _issue_token(conn: Connection, org_id: int, user_id: int, ttl: int) -> str:
    token = "ht_" + secrets.token_urlsafe(32)
    now = _now()
    conn.execute(
        insert(auth_tokens).values(
            org_id=org_id,
            user_id=user_id,
            token_hash=_sha(token),
            expires_at=now + timedelta(seconds=ttl),
            created_at=now,
        )
    )
    return token


def login(conn: Connection, email: str, password: str, ttl: int) -> str:
    row = conn.execute(
        select(users.c.id, users.c.org_id, users.c.password_hash, users.c.active).where(
            users.c.email == email.strip().lower()
        )
    ).first()
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        row = None
    if row is None or not row.active:
        raise Unauthorized("wrong email or password", code="invalid_credentials")
    return _issue_token(conn, row.org_id, row.id, ttl)


def logout(conn: Connection, token: str) -> None:
    """End a session: its token stops working at once."""
    conn.execute(delete(auth_tokens).where(auth_tokens.c.token_hash == _sha(token)))


# Every request runs one of these: on PostgreSQL as constant SQL straight to the driver (no
# statement built, cache-keyed and compiled per call).
_PG_USER_TOKEN = """
SELECT u.id, u.org_id, u.roles, u.supplier_id, u.email, u.active, o.plan, t.expires_at
  FROM auth_tokens t JOIN users u ON u.id = t.user_id JOIN orgs o ON o.id = u.org_id
 WHERE t.token_hash = %(h)s
"""
_PG_API_KEY = """
SELECT k.id, k.org_id, k.roles, k.channel_id, o.plan
  FROM api_keys k JOIN orgs o ON o.id = k.org_id
 WHERE k.key_hash = %(h)s AND k.revoked_at IS NULL
"""


def authenticate(conn: Connection, bearer: str) -> Actor:
    """Resolve a bearer token (user token or API key) to an Actor, or raise 401."""
    if conn.dialect.name == "postgresql":
        return _authenticate_pg(conn, bearer)
    h = _sha(bearer)
    if bearer.startswith(API_KEY_PREFIX):
        row = conn.execute(
            select(api_keys, orgs.c.plan)
            .join(orgs, orgs.c.id == api_keys.c.org_id)
            .where(api_keys.c.key_hash == h, api_keys.c.revoked_at.is_(None))
        ).first()
        if row is None:
            raise Unauthorized("invalid or revoked API key", code="invalid_token")
        return Actor(
            org_id=row.org_id,
            plan=row.plan,
            roles=tuple(row.roles),
            kind="api_key",
            api_key_id=row.id,
            channel_id=row.channel_id,
        )
    row = conn.execute(
        select(
            users.c.id,
            users.c.org_id,
            users.c.roles,
            users.c.supplier_id,
            users.c.email,
            users.c.active,
            orgs.c.plan,
            auth_tokens.c.expires_at,
        )
        .join(users, users.c.id == auth_tokens.c.user_id)
        .join(orgs, orgs.c.id == users.c.org_id)
        .where(auth_tokens.c.token_hash == h)
    ).first()
    if row is None or not row.active or row.expires_at < _now():
        raise Unauthorized("invalid or expired token", code="invalid_token")
    return Actor(
        org_id=row.org_id,
        plan=row.plan,
        roles=tuple(row.roles),
        user_id=row.id,
        supplier_id=row.supplier_id,
        email=row.email,
    )


class CallerQuery(NamedTuple):
    """The statement that finds the caller of a bearer token (PostgreSQL; one row or none):
    for authenticate, or as the first part of a statement that reads what the request needs
    in the same round trip (orders.place_order_statementwise)."""

    sql: str
    params: dict[str, Any]
    width: int  # its row's columns, which caller_of reads


def caller_query(bearer: str) -> CallerQuery:
    if bearer.startswith(API_KEY_PREFIX):
        return CallerQuery(_PG_API_KEY, {"h": _sha(bearer)}, 5)
    return CallerQuery(_PG_USER_TOKEN, {"h": _sha(bearer)}, 8)


def caller_of(bearer: str, row: Sequence[Any] | None) -> Actor:
    """The Actor of caller_query's row (its columns first, in order), or 401."""
    if bearer.startswith(API_KEY_PREFIX):
        if row is None:
            raise Unauthorized("invalid or revoked API key", code="invalid_token")
        key_id, org_id, roles, channel_id, plan = row[:5]
        return Actor(org_id=org_id, plan=plan, roles=tuple(roles), kind="api_key",
                     api_key_id=key_id, channel_id=channel_id)  # fmt: skip
    if row is None:
        raise Unauthorized("invalid or expired token", code="invalid_token")
    user_id, org_id, roles, supplier_id, email, active, plan, expires_at = row[:8]
    if not active or expires_at < _now():
        raise Unauthorized("invalid or expired token", code="invalid_token")
    return Actor(org_id=org_id, plan=plan, roles=tuple(roles), user_id=user_id,
                 supplier_id=supplier_id, email=email)  # fmt: skip


def _authenticate_pg(conn: Connection, bearer: str) -> Actor:
    q = caller_query(bearer)
    return caller_of(bearer, hot.fetch_one(conn, q.sql, q.params))


def create_user(
    conn: Connection,
    actor: Actor,
    email: str,
    password: str,
    roles: list[str],
    supplier_id: int | None = None,
) -> dict[str, Any]:
    actor.require("users.manage")
    email, roles = _email(email), validate_roles(roles)
    if "vendor" in roles:
        actor.require("users.manage", feature="vendor_portal")
        if supplier_id is None:
            raise ValidationFailed(
                "a vendor user must be bound to a supplier_id", {"field": "supplier_id"}
            )
    elif supplier_id is not None:
        raise ValidationFailed("supplier_id is only for vendor users", {"field": "supplier_id"})
    if conn.execute(select(users.c.id).where(users.c.email == email)).first():
        raise Conflict(
            "a user with this email already exists", {"field": "email"}, code="duplicate_email"
        )
    user = {
        "org_id": actor.org_id,
        "email": email,
        "roles": roles,
        "supplier_id": supplier_id,
        "active": True,
        "created_at": _now(),
    }
    user_id = conn.execute(
        insert(users)
        .values(password_hash=_hasher.hash(_password(password)), **user)
        .returning(users.c.id)
    ).scalar_one()
    out = {"id": user_id, "email": email, "roles": roles, "supplier_id": supplier_id}
    audit.record(conn, actor, "user.create", "user", user_id, None, out)
    return out


def list_users(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    actor.require("users.manage")
    rows = conn.execute(
        select(users.c.id, users.c.email, users.c.roles, users.c.supplier_id, users.c.active)
        .where(users.c.org_id == actor.org_id)
        .order_by(users.c.id)
    ).all()
    return [dict(r._mapping) for r in rows]


def create_api_key(
    conn: Connection, actor: Actor, name: str, roles: list[str], channel_id: int | None = None
) -> dict[str, Any]:
    actor.require("api_keys.manage")
    roles = validate_roles(roles)
    if "owner" in roles and "owner" not in actor.roles:
        from hoop.domain.errors import Forbidden

        raise Forbidden("only an owner can create an owner key", {"field": "roles"})
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationFailed("name must be 1 to 200 characters", {"field": "name"})
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = conn.execute(
        insert(api_keys)
        .values(
            org_id=actor.org_id,
            name=name,
            prefix=key[:10],
            key_hash=_sha(key),
            roles=roles,
            channel_id=channel_id,
            created_by=actor.user_id,
            created_at=_now(),
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    out = {"id": key_id, "name": name, "roles": roles, "channel_id": channel_id, "prefix": key[:10]}
    audit.record(conn, actor, "api_key.create", "api_key", key_id, None, out)
    return {**out, "key": key}


def list_api_keys(conn: Connection, actor: Actor) -> list[dict[str, Any]]:
    """The org's API keys (never the key itself: only its prefix), newest first."""
    actor.require("api_keys.manage")
    rows = conn.execute(
        select(api_keys.c.id, api_keys.c.name, api_keys.c.prefix, api_keys.c.roles,
               api_keys.c.channel_id, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.org_id == actor.org_id)
        .order_by(api_keys.c.id.desc())
    ).all()  # fmt: skip
    return [dict(r._mapping) for r in rows]


def revoke_api_key(conn: Connection, actor: Actor, key_id: int) -> None:
    actor.require("api_keys.manage")
    n = conn.execute(
        update(api_keys)
        .where(
            api_keys.c.id == key_id,
            api_keys.c.org_id == actor.org_id,
            api_keys.c.revoked_at.is_(None),
        )
        .values(revoked_at=_now())
    ).rowcount
    if not n:
        raise NotFound("no such API key", {"id": key_id})
    audit.record(conn, actor, "api_key.revoke", "api_key", key_id)


ORG_FIELDS = (
    "name",
    "plan",
    "currency",
    "costing_method",
    "seller_response_seconds",
    "payment_window_seconds",
    "approval_rules",
    "reason_codes",
    "default_shipping_location_id",
)


def get_org(conn: Connection, actor: Actor) -> dict[str, Any]:
    row = conn.execute(select(orgs).where(orgs.c.id == actor.org_id)).first()
    if row is None:
        raise NotFound("org not found")
    d = dict(row._mapping)
    return {"id": d["id"], **{k: d[k] for k in ORG_FIELDS}, "created_at": d["created_at"]}


def update_org(conn: Connection, actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    actor.require("org.update")
    unknown = set(changes) - set(ORG_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown org settings: {sorted(unknown)}")
    values = _check_org_settings(changes)
    before = get_org(conn, actor)
    plan = values.get("plan", before["plan"])
    method = values.get("costing_method", before["costing_method"])
    if method in ("fifo", "lifo"):
        Actor(org_id=actor.org_id, plan=plan, roles=actor.roles).require(
            "org.update", feature="costing.fifo_lifo"
        )
    loc = values.get("default_shipping_location_id")
    if loc is not None:
        row = conn.execute(
            select(locations.c.internal).where(
                locations.c.id == loc, locations.c.org_id == actor.org_id
            )
        ).first()
        if row is None or not row.internal:
            raise ValidationFailed(
                "default_shipping_location_id must be an internal location",
                {"field": "default_shipping_location_id"},
            )
    if values:
        conn.execute(update(orgs).where(orgs.c.id == actor.org_id).values(**values))
    if method != before["costing_method"]:
        costing.method_changed(conn, actor, method=method, org_default=method)
    after = get_org(conn, actor)
    audit.record(
        conn,
        actor,
        "org.update",
        "org",
        actor.org_id,
        {k: before[k] for k in values},
        {k: after[k] for k in values},
    )
    return after

"""Idempotency-Key: the first response to a (org, key) is stored in the same transaction as
the change it made; a repeat with the same request gets that response and changes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.exc import IntegrityError

from hoop.adapters.db.tables import idempotency_keys
from hoop.domain.errors import ValidationFailed
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork

Result = tuple[int, Any]  # (status code, JSON-ready body)


def fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def _stored(conn: Connection, org_id: int, key: str, request_hash: str) -> Result | None:
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.org_id == org_id, idempotency_keys.c.key == key
        )
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise ValidationFailed(
            "this Idempotency-Key was already used with a different request",
            {"header": "Idempotency-Key"},
            code="idempotency_key_reused",
        )
    return row.status_code, row.response


def _once(
    conn: Connection,
    org_id: int,
    key: str,
    request_hash: str,
    fn: Callable[[Connection], Result],
    secrets: tuple[str, ...],
) -> tuple[Result, bool]:
    prior = _stored(conn, org_id, key, request_hash)
    if prior is not None:
        return prior, True
    status, body = fn(conn)
    stored = {**body, **dict.fromkeys(secrets)} if secrets and isinstance(body, dict) else body
    conn.execute(
        insert(idempotency_keys).values(
            org_id=org_id,
            key=key,
            request_hash=request_hash,
            status_code=status,
            response=stored,
            created_at=datetime.now(UTC),
        )
    )
    return (status, body), False


def run(
    uow: UnitOfWork,
    org_id: int,
    key: str | None,
    request_hash: str,
    fn: Callable[[Connection], Result],
    secrets: tuple[str, ...] = (),
) -> tuple[Result, bool]:
    """Run fn once per key. Returns (result, replayed). Fields named in `secrets` (a token, an
    API key) are returned the first time but never stored: a replay returns them as null."""
    if key is None:
        return uow.write(fn), False
    if not 1 <= len(key) <= 200:
        raise ValidationFailed(
            "Idempotency-Key must be 1 to 200 characters", {"header": "Idempotency-Key"}
        )

    def once(conn: Connection) -> tuple[Result, bool]:
        return _once(conn, org_id, key, request_hash, fn, secrets)

    try:
        return uow.write(once)
    except IntegrityError:
        # A concurrent request with the same key committed first: replay its response.
        return uow.write(once)


def run_as(
    uow: UnitOfWork,
    authenticate: Callable[[Connection], Actor],
    key: str | None,
    request_hash: str,
    fn: Callable[[Connection, Actor], Result],
    secrets: tuple[str, ...] = (),
) -> tuple[Result, bool]:
    """`run`, with the caller authenticated by `authenticate` on the transaction's own
    connection (no separate pool checkout for the token lookup); the key is the actor's org's.
    An unknown caller is refused (401) before anything else is looked at, as before."""

    def once(conn: Connection) -> tuple[Result, bool]:
        actor = authenticate(conn)
        if key is None:
            return fn(conn, actor), False
        if not 1 <= len(key) <= 200:
            raise ValidationFailed(
                "Idempotency-Key must be 1 to 200 characters", {"header": "Idempotency-Key"}
            )
        return _once(conn, actor.org_id, key, request_hash, lambda c: fn(c, actor), secrets)

    if key is None:
        return uow.write(once)
    try:
        return uow.write(once)
    except IntegrityError:
        # A concurrent request with the same key committed first: replay its response.
        return uow.write(once)

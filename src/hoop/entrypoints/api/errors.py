"""Every error leaves as {"error": {code, message, details}}; refused mutations are audited."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hoop.domain.errors import HoopError
from hoop.service import access, audit

log = logging.getLogger("hoop.api")
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}


def envelope(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}},
        status_code=status,
        headers=headers,
    )


def _audit_refusal(request: Request, code: str) -> None:
    actor = getattr(request.state, "actor", None)
    if actor is None or request.method not in MUTATING:
        return
    try:
        request.app.state.uow.write(
            lambda conn: audit.record(
                conn,
                actor,
                f"refused {request.method} {request.url.path}"[:64],
                "request",
                None,
                None,
                {"path": request.url.path},
                outcome="refused",
                error_code=code,
            )
        )
    except Exception:  # the refusal stands even if its audit cannot be written
        log.exception("could not audit a refused request")


def _authenticate_late(request: Request) -> JSONResponse | None:
    """A route that authenticates inside its transaction (deps.Writer) never got that far when
    its body is invalid: authenticate here, so a bad token is a 401 (as where the caller is
    authenticated first) and a refusal has its actor for the audit."""
    token = getattr(request.state, "bearer", None)
    if token is None or getattr(request.state, "actor", None) is not None:
        return None
    try:
        request.state.actor = request.app.state.uow.read(
            lambda conn: access.authenticate(conn, token)
        )
    except HoopError as exc:
        return envelope(exc.status, exc.code, exc.message, exc.details,
                        {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None)  # fmt: skip
    return None


def _clean_validation(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in errors[:50]:
        out.append(
            {
                "loc": [str(p) for p in e.get("loc", ())],
                "msg": str(e.get("msg", "")),
                "type": str(e.get("type", "")),
            }
        )
    return out


def install(app: FastAPI) -> None:
    # Handlers that audit a refusal write to the database: they are plain functions so
    # Starlette runs them in the threadpool instead of blocking the event loop.
    @app.exception_handler(HoopError)
    def hoop_error(request: Request, exc: HoopError) -> JSONResponse:
        if exc.status != 401:
            _audit_refusal(request, exc.code)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return envelope(exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        unknown = _authenticate_late(request)
        if unknown is not None:
            return unknown
        errors = _clean_validation(list(exc.errors()))
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(p for p in first["loc"] if p != "body")
        _audit_refusal(request, "validation_error")
        return envelope(
            422, "validation_error", f"{where}: {first['msg']}" if where else first["msg"], errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden"}
        code = codes.get(exc.status_code, "http_error")
        return envelope(exc.status_code, code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    def integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        _audit_refusal(request, "conflict")
        return envelope(
            409,
            "conflict",
            "the change conflicts with existing data "
            "(a concurrent request may have created it first)",
        )

    @app.exception_handler(DataError)
    def data_error(request: Request, exc: DataError) -> JSONResponse:
        _audit_refusal(request, "validation_error")
        return envelope(422, "validation_error", "a value is out of range for its field")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return envelope(500, "internal_error", "an unexpected error occurred; it has been logged")

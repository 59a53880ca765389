"""Domain errors. Each carries a stable snake_case `code` and the HTTP status it maps to."""

from __future__ import annotations

from typing import Any


class HoopError(Exception):
    code = "error"
    status = 400

    def __init__(self, message: str, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class ValidationFailed(HoopError):
    code = "validation_error"
    status = 422


class Unauthorized(HoopError):
    code = "unauthorized"
    status = 401


class PlanRequired(HoopError):
    code = "plan_required"
    status = 402


class Forbidden(HoopError):
    code = "forbidden"
    status = 403


class NotFound(HoopError):
    code = "not_found"
    status = 404


class Conflict(HoopError):
    code = "conflict"
    status = 409


class InsufficientStock(Conflict):
    code = "insufficient_stock"


class InvalidState(Conflict):
    code = "invalid_state"


class Duplicate(Conflict):
    code = "duplicate"

"""Products, variants and GS1 GTIN check digits."""

from __future__ import annotations

import re
from enum import StrEnum

from hoop.domain.errors import ValidationFailed


class ProductStatus(StrEnum):
    draft = "draft"
    active = "active"
    archived = "archived"


class Tracking(StrEnum):
    none = "none"
    lot = "lot"
    serial = "serial"


SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]{0,63}$")
GTIN_LENGTHS = (8, 12, 13, 14)


def gtin_check_digit(body: str) -> int:
    """GS1 mod-10: weights 3,1,3,... from the rightmost digit of the body (check digit excluded)."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        total += int(ch) * (3 if i % 2 == 0 else 1)
    return (10 - total % 10) % 10


def is_valid_gtin(code: str) -> bool:
    if not code.isdigit() or len(code) not in GTIN_LENGTHS:
        return False
    return gtin_check_digit(code[:-1]) == int(code[-1])


def normalize_gtin(code: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it zero-padded to 14 digits (GTIN-14 form)."""
    code = code.strip()
    if not is_valid_gtin(code):
        raise ValidationFailed(
            f"gtin {code!r} is not a valid GTIN-8/12/13/14 (length or check digit)",
            {"field": "gtin"},
            code="invalid_gtin",
        )
    return code.zfill(14)


def validate_sku(sku: str) -> str:
    sku = sku.strip()
    if not SKU_RE.match(sku):
        raise ValidationFailed(
            "sku must be 1-64 characters: letters, digits, '.', '_', '/', '-', "
            "starting with a letter or digit",
            {"field": "sku", "value": sku[:80]},
            code="invalid_sku",
        )
    return sku


def check_status_transition(current: ProductStatus, new: ProductStatus) -> None:
    """Any status may move to any other except that archived products return only via draft."""
    if current == ProductStatus.archived and new == ProductStatus.active:
        raise ValidationFailed(
            "an archived product must go back to draft before it is active again",
            {"field": "status"},
            code="invalid_state",
        )

"""Location kinds: the internal tree and the virtual locations every org has."""

from __future__ import annotations

from enum import StrEnum


class LocationType(StrEnum):
    warehouse = "warehouse"
    store = "store"
    zone = "zone"
    bin = "bin"
    supplier = "supplier"
    customer = "customer"
    adjustment = "adjustment"
    scrap = "scrap"
    transit = "transit"
    untracked = "untracked"


INTERNAL_TYPES = frozenset(
    {LocationType.warehouse, LocationType.store, LocationType.zone, LocationType.bin}
)
VIRTUAL_TYPES = tuple(t for t in LocationType if t not in INTERNAL_TYPES)
ROOT_TYPES = frozenset({LocationType.warehouse, LocationType.store})

# Which child kinds a parent kind may hold.
ALLOWED_CHILDREN = {
    LocationType.warehouse: {LocationType.zone, LocationType.bin},
    LocationType.store: {LocationType.zone, LocationType.bin},
    LocationType.zone: {LocationType.zone, LocationType.bin},
    LocationType.bin: set(),
}


def is_internal(kind: str) -> bool:
    return kind in INTERNAL_TYPES


def child_allowed(parent_kind: str, child_kind: str) -> bool:
    return LocationType(child_kind) in ALLOWED_CHILDREN.get(LocationType(parent_kind), set())

"""Plans unlock features; roles grant actions. One mechanism, `authorize`, checks both."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from hoop.domain.errors import Forbidden, PlanRequired


class Plan(StrEnum):
    core = "core"
    pro = "pro"
    enterprise = "enterprise"


PLAN_RANK = {Plan.core: 0, Plan.pro: 1, Plan.enterprise: 2}


class Role(StrEnum):
    owner = "owner"
    manager = "manager"
    clerk = "clerk"
    approver = "approver"
    finance = "finance"
    vendor = "vendor"


# Feature -> the lowest plan that includes it. Anything not named is in every plan.
FEATURE_PLAN: dict[str, Plan] = {
    "costing.fifo_lifo": Plan.pro,
    "costing.per_product": Plan.pro,
    "replenishment.planning": Plan.pro,
    "cycle_counting": Plan.pro,
    "traceability": Plan.enterprise,
    "reports.advanced": Plan.enterprise,
    "vendor_portal": Plan.enterprise,
    "wms": Plan.enterprise,
}

_ALL = frozenset(Role) - {Role.vendor}
_STOCK = frozenset({Role.owner, Role.manager, Role.clerk})
_ADMIN = frozenset({Role.owner, Role.manager})

# Action -> roles allowed to do it.
ACTION_ROLES: dict[str, frozenset[Role]] = {
    "org.read": _ALL,
    "org.update": frozenset({Role.owner}),
    "users.manage": frozenset({Role.owner}),
    "api_keys.manage": _ADMIN,
    "catalog.read": _ALL,
    "catalog.write": _ADMIN,
    "locations.write": _ADMIN,
    "stock.read": _ALL,
    "documents.write": _STOCK,
    "documents.approve": frozenset({Role.owner, Role.manager, Role.approver}),
    "audit.read": frozenset({Role.owner, Role.manager, Role.finance}),
    "reports.read": frozenset({Role.owner, Role.manager, Role.finance}),
    "periods.close": frozenset({Role.owner, Role.finance}),
    # orders: the stock team places and manages them; a channel's API key (with such a role)
    # places, pays and cancels on the buyer's behalf
    "orders.place": _STOCK,
    "orders.read": _ALL,
    "orders.manage": _STOCK,
    "webhooks.manage": _ADMIN,
    "notifications.read": frozenset(Role),  # everyone reads their own
    # purchasing is in every plan; planning (suggestions, EOQ, safety stock) needs Pro
    "purchasing.read": frozenset({Role.owner, Role.manager, Role.clerk, Role.finance}),
    "purchasing.write": _ADMIN,
    "purchasing.receive": _STOCK,
    "replenishment.read": frozenset({Role.owner, Role.manager, Role.clerk}),
    "replenishment.plan": _ADMIN,
    "alerts.read": frozenset({Role.owner, Role.manager, Role.clerk}),
}


def plan_allows(plan: str, feature: str) -> bool:
    needed = FEATURE_PLAN.get(feature)
    return needed is None or PLAN_RANK[Plan(plan)] >= PLAN_RANK[needed]


def authorize(roles: Iterable[str], plan: str, action: str, feature: str | None = None) -> None:
    """Raise PlanRequired (402) or Forbidden (403), or return when allowed."""
    if feature is not None and not plan_allows(plan, feature):
        needed = FEATURE_PLAN[feature]
        raise PlanRequired(
            f"{feature} needs the {needed.value} plan or higher",
            {"feature": feature, "plan_needed": needed.value, "plan": plan},
        )
    allowed = ACTION_ROLES[action]
    if not any(r in allowed for r in roles):
        raise Forbidden(
            f"your roles do not allow {action}",
            {"action": action, "roles_allowed": sorted(r.value for r in allowed)},
        )


def validate_roles(roles: Iterable[str]) -> list[str]:
    from hoop.domain.errors import ValidationFailed

    out = []
    for r in roles:
        if r not in Role.__members__:
            raise ValidationFailed(f"unknown role {r!r}", {"field": "roles", "allowed": list(Role)})
        out.append(r)
    if not out:
        raise ValidationFailed("at least one role is needed", {"field": "roles"})
    return sorted(set(out))

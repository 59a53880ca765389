"""Who is acting: the authenticated caller, scoped to one org."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoop.domain.plans import authorize


@dataclass(frozen=True)
class Actor:
    org_id: int
    plan: str
    roles: tuple[str, ...]
    user_id: int | None = None
    api_key_id: int | None = None
    channel_id: int | None = None
    supplier_id: int | None = None
    kind: str = "user"  # user | api_key | system
    email: str | None = field(default=None, compare=False)

    def require(self, action: str, feature: str | None = None) -> None:
        authorize(self.roles, self.plan, action, feature)

    @property
    def actor_id(self) -> int | None:
        return self.user_id if self.kind == "user" else self.api_key_id


def system_actor(org_id: int, plan: str = "enterprise") -> Actor:
    return Actor(org_id=org_id, plan=plan, roles=("owner",), kind="system")

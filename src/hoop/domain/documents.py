"""Stock document types, their life cycle, and approval rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from hoop.domain.errors import InvalidState, ValidationFailed
from hoop.domain.quantities import parse_decimal


class DocType(StrEnum):
    receipt = "receipt"
    transfer = "transfer"
    adjustment = "adjustment"
    shipment = "shipment"
    scrap = "scrap"


class DocState(StrEnum):
    draft = "draft"
    submitted = "submitted"
    pending_approval = "pending_approval"
    approved = "approved"
    rejected = "rejected"
    in_transit = "in_transit"
    done = "done"
    cancelled = "cancelled"


STANDARD_REASONS = ("count", "damaged", "lost", "found", "expired", "theft", "correction", "other")

# Which commands each state accepts, and where they lead.
TRANSITIONS: dict[str, dict[DocState, tuple[DocState, ...]]] = {
    "submit": {DocState.draft: (DocState.pending_approval, DocState.done, DocState.in_transit)},
    "approve": {DocState.pending_approval: (DocState.done, DocState.in_transit)},
    "reject": {DocState.pending_approval: (DocState.rejected,)},
    "receive": {DocState.in_transit: (DocState.done,)},
    "cancel": {
        DocState.draft: (DocState.cancelled,),
        DocState.pending_approval: (DocState.cancelled,),
        DocState.rejected: (DocState.cancelled,),
        DocState.in_transit: (DocState.cancelled,),
        DocState.done: (DocState.cancelled,),
    },
}


def check_command(command: str, state: str) -> None:
    if DocState(state) not in TRANSITIONS[command]:
        allowed = ", ".join(s.value for s in TRANSITIONS[command])
        raise InvalidState(
            f"cannot {command} a document in state {state} (allowed from: {allowed})",
            {"state": state, "command": command},
        )


@dataclass(frozen=True)
class ApprovalRule:
    document_type: DocType
    min_qty: Decimal | None = None
    min_value: Decimal | None = None

    def matches(self, doc_type: str, max_abs_qty: Decimal, total_abs_value: Decimal) -> bool:
        if doc_type != self.document_type:
            return False
        if self.min_qty is None and self.min_value is None:
            return True
        return (self.min_qty is not None and max_abs_qty >= self.min_qty) or (
            self.min_value is not None and total_abs_value >= self.min_value
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"document_type": self.document_type.value}
        if self.min_qty is not None:
            out["min_qty"] = str(self.min_qty)
        if self.min_value is not None:
            out["min_value"] = str(self.min_value)
        return out


def parse_approval_rules(raw: Iterable[Mapping[str, Any]]) -> list[ApprovalRule]:
    rules = []
    for i, r in enumerate(raw):
        if not isinstance(r, Mapping):
            raise ValidationFailed("each approval rule is an object", {"index": i})
        unknown = set(r) - {"document_type", "min_qty", "min_value"}
        if unknown:
            raise ValidationFailed(
                f"unknown fields in approval rule: {sorted(unknown)}", {"index": i}
            )
        dt = r.get("document_type")
        if dt not in DocType.__members__:
            raise ValidationFailed(
                "approval rule document_type must be one of " + ", ".join(DocType),
                {"index": i, "field": "document_type"},
            )
        mq = r.get("min_qty")
        mv = r.get("min_value")
        mq_d = parse_decimal(mq, "min_qty") if mq is not None else None
        mv_d = parse_decimal(mv, "min_value") if mv is not None else None
        for name, v in (("min_qty", mq_d), ("min_value", mv_d)):
            if v is not None and v < 0:
                raise ValidationFailed(f"{name} must be >= 0", {"index": i, "field": name})
        rules.append(ApprovalRule(DocType(dt), mq_d, mv_d))
    return rules


def needs_approval(
    rules: Iterable[ApprovalRule], doc_type: str, qtys: Iterable[Decimal], values: Iterable[Decimal]
) -> bool:
    max_abs = max((abs(q) for q in qtys), default=Decimal(0))
    total = sum((abs(v) for v in values), Decimal(0))
    return any(rule.matches(doc_type, max_abs, total) for rule in rules)


def check_not_self_approval(created_by: int | None, approver_id: int | None) -> None:
    from hoop.domain.errors import Forbidden

    if created_by is not None and created_by == approver_id:
        raise Forbidden(
            "you cannot approve or reject a document you created",
            {"reason": "self_approval"},
            code="self_approval",
        )

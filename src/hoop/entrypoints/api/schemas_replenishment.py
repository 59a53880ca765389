"""Request and response shapes of replenishment planning and low-stock alerts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field

from hoop.entrypoints.api.schemas import Code64, DecimalIn, DecStr, Id, In, Out

Method = Literal["minmax", "eoq"]


class PolicyIn(In):
    sku: Code64 | None = None
    variant_id: Id | None = None
    location_id: Id
    method: Method
    min: DecimalIn | None = Field(default=None, ge=0)
    max: DecimalIn | None = Field(default=None, ge=0)
    safety_stock: DecimalIn | None = Field(default=None, ge=0)
    service_level: DecimalIn | None = Field(default=None, description="0.5 to 0.9999")
    lead_time_days: DecimalIn | None = Field(default=None, ge=0)
    order_cost: DecimalIn | None = Field(default=None, ge=0)
    holding_rate: DecimalIn | None = Field(default=None, description="yearly, 0 < rate <= 1")
    demand_window_days: Annotated[int, Field(ge=1, le=730)] | None = None
    supplier_id: Id | None = None


class PolicyOut(Out):
    id: int
    sku: str
    variant_id: int
    location_id: int
    method: Method
    min: DecStr | None
    max: DecStr | None
    safety_stock: DecStr | None
    reorder_point: DecStr
    safety_stock_effective: DecStr
    daily_demand: DecStr
    available: DecStr
    incoming: DecStr
    position: DecStr


class SuggestionOut(Out):
    policy_id: int
    sku: str
    variant_id: int
    location_id: int
    supplier_id: int | None
    available: DecStr
    incoming: DecStr
    reorder_point: DecStr
    safety_stock: DecStr
    daily_demand: DecStr
    suggested_qty: DecStr
    reason: str


class SuggestionsToPosIn(In):
    skus: Annotated[list[Code64], Field(min_length=1, max_length=10000)] | None = None
    policy_ids: Annotated[
        list[Id],
        Field(min_length=1, max_length=10000,
              description="exact suggestions by their `policy_id` (one variant at one location)"),
    ] | None = None  # fmt: skip
    location_id: Id | None = None
    supplier_id: Id | None = None


class SkippedOut(Out):
    sku: str
    location_id: int
    reason: str


class SuggestedPosOut(Out):
    purchase_orders: list[dict[str, object]]
    skipped: list[SkippedOut]


class ProjectionPoint(Out):
    date: date
    projected_available: DecStr
    receipts: DecStr
    demand: DecStr


class ProjectionOut(Out):
    sku: str
    variant_id: int
    location_id: int | None
    available: DecStr
    daily_demand: DecStr
    lead_time_days: DecStr
    reorder_point: DecStr | None
    horizon_days: int
    receipts: list[dict[str, object]]
    points: list[ProjectionPoint]
    stockout_date: date | None


class AlertOut(Out):
    id: int
    type: Literal["low_stock"]
    status: Literal["open", "resolved"]
    sku: str
    variant_id: int
    location_id: int
    position: DecStr
    reorder_point: DecStr
    raised_at: datetime
    resolved_at: datetime | None

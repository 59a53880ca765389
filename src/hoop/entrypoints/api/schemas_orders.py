"""Request and response shapes of the orders API (flexible stock management)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from hoop.entrypoints.api.schemas import Code64, DecimalIn, DecStr, Id, In, Out

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Status = Literal[
    "pending_seller", "awaiting_payment", "confirmed", "declined", "expired", "cancelled",
    "picked_up", "delivered",
]  # fmt: skip


class CustomerIn(In):
    name: Text200
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)] | None = None
    phone: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None


class OrderLineIn(In):
    sku: Code64
    qty: DecimalIn
    unit_price: DecimalIn | None = Field(default=None, ge=0)


class OrderIn(In):
    channel_id: Id | None = None
    customer: CustomerIn
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=500)]


class ReasonIn(In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None


class PickupIn(In):
    status: Literal["picked_up", "delivered"]


class OrderLineOut(Out):
    line_no: int
    sku: str
    variant_id: int
    qty: DecStr
    unit_price: DecStr | None
    reserved: DecStr


class ReservationOut(Out):
    sku: str
    location_id: int
    lot: str | None
    qty: DecStr


class TimelineOut(Out):
    at: datetime
    action: str
    from_status: str | None
    to_status: str
    actor_type: str
    actor_id: int | None
    note: str | None


class PickupOut(Out):
    status: Literal["requested", "picked_up", "delivered"]
    shipment_document_id: int | None


class OrderOut(Out):
    id: int
    status: Status
    channel_id: int | None
    customer: dict[str, Any]
    respond_by: datetime | None
    pay_by: datetime | None
    decline_reason: str | None
    pickup: PickupOut | None
    lines: list[OrderLineOut]
    reservations: list[ReservationOut]
    timeline: list[TimelineOut]
    created_at: datetime
    updated_at: datetime


class OrderSummary(Out):
    id: int
    status: Status
    channel_id: int | None
    customer: dict[str, Any]
    respond_by: datetime | None
    pay_by: datetime | None
    created_at: datetime
    updated_at: datetime

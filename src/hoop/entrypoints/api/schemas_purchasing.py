"""Request and response shapes of the purchasing API: suppliers, supplier items, purchase
orders, receipts against them and ASNs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from hoop.entrypoints.api.schemas import Code64, DecimalIn, DecStr, DocumentOut, Id, In, Out

Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Email = Annotated[str, StringConstraints(min_length=1, max_length=320)]
Phone = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")]
Note = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
POStatus = Literal["draft", "sent", "partially_received", "received", "cancelled"]
AsnStatus = Literal["open", "received", "cancelled"]


# ------------------------------------------------------------------ suppliers


class SupplierIn(In):
    name: Text200
    email: Email | None = None
    phone: Phone | None = None
    currency: Currency | None = Field(default=None, description="default: the org's currency")


class SupplierPatch(In):
    name: Text200 | None = None
    email: Email | None = None
    phone: Phone | None = None
    currency: Currency | None = None
    active: bool | None = Field(default=None, description="an inactive supplier takes no new POs")


class SupplierOut(Out):
    id: int
    name: str
    email: str | None
    phone: str | None
    currency: str
    active: bool
    created_at: datetime


class SupplierItemIn(In):
    supplier_id: Id
    sku: Code64 | None = None
    variant_id: Id | None = None
    price: DecimalIn = Field(ge=0)
    lead_time_days: DecimalIn = Field(ge=0)
    moq: DecimalIn | None = Field(default=None, ge=0, description="0 (default): no minimum")
    pack_size: DecimalIn | None = Field(default=None, gt=0, description="default 1")
    preferred: bool | None = Field(
        default=None, description="true unsets the variant's other preferred item"
    )
    supplier_sku: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    currency: Currency | None = Field(default=None, description="default: the supplier's")


class SupplierItemPatch(In):
    price: DecimalIn | None = Field(default=None, ge=0)
    lead_time_days: DecimalIn | None = Field(default=None, ge=0)
    moq: DecimalIn | None = Field(default=None, ge=0)
    pack_size: DecimalIn | None = Field(default=None, gt=0)
    preferred: bool | None = None
    supplier_sku: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    currency: Currency | None = None


class SupplierItemOut(Out):
    id: int
    supplier_id: int
    supplier_name: str
    variant_id: int
    sku: str
    supplier_sku: str | None
    price: DecStr
    currency: str
    lead_time_days: DecStr
    moq: DecStr
    pack_size: DecStr
    preferred: bool
    created_at: datetime
    updated_at: datetime


# ------------------------------------------------------------------ purchase orders


class POLineIn(In):
    sku: Code64 | None = None
    variant_id: Id | None = None
    qty: DecimalIn = Field(gt=0)
    unit_price: DecimalIn | None = Field(
        default=None, ge=0, description="default: the supplier item's price"
    )
    expected_at: datetime | None = None
    location_id: Id | None = Field(default=None, description="default: the order's location")


class PurchaseOrderIn(In):
    supplier_id: Id
    location_id: Id | None = Field(
        default=None,
        description="where the goods are received; default: the org's default shipping "
        "location, else its first warehouse",
    )
    expected_at: datetime | None = None
    note: Note | None = None
    lines: Annotated[list[POLineIn], Field(min_length=1, max_length=2000)]


class POLineOut(Out):
    id: int
    line_no: int
    sku: str | None
    variant_id: int
    location_id: int
    qty: DecStr
    received_qty: DecStr
    open_qty: DecStr
    unit_price: DecStr
    expected_at: datetime | None
    open: bool


class AsnSummary(Out):
    id: int
    status: AsnStatus
    reference: str | None
    ship_date: str | None
    arrive_from: datetime | None
    arrive_to: datetime | None
    receipt_document_id: int | None


class ReceiptSummary(Out):
    id: int
    state: str
    to_location_id: int | None
    effective_at: datetime | None
    posted_at: datetime | None
    created_at: datetime
    reversed: bool


class PurchaseOrderOut(Out):
    id: int
    supplier_id: int
    supplier_name: str
    status: POStatus
    currency: str
    location_id: int
    expected_at: datetime | None
    note: str | None
    source: Literal["manual", "suggestion"]
    created_by: int | None
    created_at: datetime
    sent_at: datetime | None
    cancelled_at: datetime | None
    received_at: datetime | None
    closed_short: bool
    updated_at: datetime
    total: DecStr
    lines: list[POLineOut]
    asns: list[AsnSummary]
    receipts: list[ReceiptSummary]


class PurchaseOrderSummary(Out):
    id: int
    supplier_id: int
    supplier_name: str
    status: POStatus
    currency: str
    location_id: int
    expected_at: datetime | None
    source: str
    closed_short: bool
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime
    line_count: int
    qty: DecStr
    received_qty: DecStr
    total: DecStr


class ReceiveLineIn(In):
    purchase_order_line_id: Id
    qty: DecimalIn = Field(gt=0)
    unit_cost: DecimalIn | None = Field(
        default=None,
        ge=0,
        description="default: the line's unit_price when the order is in the org's currency",
    )
    lot: Code64 | None = None
    expiry: date | None = None
    serials: Annotated[list[Code64], Field(max_length=10_000)] | None = None


class ReceiveIn(In):
    lines: Annotated[list[ReceiveLineIn], Field(max_length=2000)] | None = None
    asn_id: Id | None = Field(default=None, description="without lines: receive the ASN's lines")
    effective_at: datetime | None = None
    note: Note | None = None


class ReceiveOut(Out):
    purchase_order: PurchaseOrderOut
    documents: list[DocumentOut]


# ------------------------------------------------------------------ ASNs


class AsnLineIn(In):
    purchase_order_line_id: Id
    qty: DecimalIn = Field(gt=0)
    lot: Code64 | None = None
    expiry: date | None = None


class AsnIn(In):
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    ship_date: date | None = None
    arrive_from: datetime | None = None
    arrive_to: datetime | None = None
    lines: Annotated[list[AsnLineIn], Field(min_length=1, max_length=2000)]


class AsnLineOut(Out):
    id: int
    purchase_order_line_id: int
    sku: str
    variant_id: int
    qty: DecStr
    lot: str | None
    expiry: str | None


class AsnOut(Out):
    id: int
    purchase_order_id: int
    status: AsnStatus
    reference: str | None
    ship_date: str | None
    arrive_from: datetime | None
    arrive_to: datetime | None
    receipt_document_id: int | None
    created_at: datetime
    lines: list[AsnLineOut]


class PrefillLine(Out):
    purchase_order_line_id: int
    sku: str
    variant_id: int
    qty: DecStr
    lot: str | None
    expiry: str | None
    location_id: int
    unit_price: DecStr


class AsnReceiptOut(Out):
    asn_id: int
    purchase_order_id: int
    status: AsnStatus
    lines: list[PrefillLine]

"""Request and response shapes. Requests are validated here first (types, sizes); the service
applies the business rules. Quantities and money travel as decimal strings."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from hoop.domain import webhooks as webhook_rules

T = TypeVar("T")

DecimalIn = Annotated[
    Decimal,
    Field(allow_inf_nan=False, max_digits=18, decimal_places=4),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": -1e14, "exclusiveMaximum": 1e14},
                {"type": "string", "pattern": r"^[+-]?\d{1,14}(\.\d{1,4})?$"},
            ],
            "description": "a decimal with at most 4 places, as a string or a number",
        }
    ),
]
Str200 = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Id = Annotated[int, Field(ge=1, le=2**62)]
DecStr = Annotated[str, Field(description="decimal number as a string", examples=["12.5"])]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class Page(Out, Generic[T]):
    items: list[T]
    next_cursor: str | None


# ------------------------------------------------------------------ access

Plan = Literal["core", "pro", "enterprise"]
Costing = Literal["fifo", "lifo", "average"]
RoleName = Literal["owner", "manager", "clerk", "approver", "finance", "vendor"]


class SignupIn(In):
    org_name: Str200
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    plan: Plan | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    costing_method: Costing | None = None


class SignupOut(Out):
    org_id: int
    user_id: int
    token: str | None = Field(description="shown once; null when an Idempotency-Key replays")


class TokenIn(In):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]


class TokenOut(Out):
    access_token: str
    token_type: Literal["bearer"]


class ApprovalRuleIn(In):
    document_type: Literal["receipt", "transfer", "adjustment", "shipment", "scrap"]
    min_qty: DecimalIn | None = Field(default=None, ge=0)
    min_value: DecimalIn | None = Field(default=None, ge=0)


class ApprovalRuleOut(Out):
    document_type: str
    min_qty: DecStr | None = None
    min_value: DecStr | None = None


class OrgPatch(In):
    name: Str200 | None = None
    plan: Plan | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{3}$")] | None = None
    costing_method: Costing | None = None
    seller_response_seconds: Annotated[int, Field(ge=1, le=10**9)] | None = None
    payment_window_seconds: Annotated[int, Field(ge=1, le=10**9)] | None = None
    approval_rules: Annotated[list[ApprovalRuleIn], Field(max_length=100)] | None = None
    reason_codes: (
        Annotated[
            list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]],
            Field(max_length=100),
        ]
        | None
    ) = None
    default_shipping_location_id: Id | None = None


class OrgOut(Out):
    id: int
    name: str
    plan: str
    currency: str
    costing_method: str
    seller_response_seconds: int
    payment_window_seconds: int
    approval_rules: list[ApprovalRuleOut]
    reason_codes: list[str]
    default_shipping_location_id: int | None
    created_at: datetime


class UserIn(In):
    email: Annotated[str, StringConstraints(min_length=3, max_length=320)]
    password: Annotated[str, StringConstraints(min_length=8, max_length=256)]
    roles: Annotated[list[RoleName], Field(min_length=1, max_length=6)]
    supplier_id: Id | None = None


class UserOut(Out):
    id: int
    email: str
    roles: list[str]
    supplier_id: int | None = None


class ApiKeyIn(In):
    name: Str200
    roles: Annotated[list[RoleName], Field(min_length=1, max_length=6)]
    channel_id: Id | None = None


class ApiKeyOut(Out):
    id: int
    name: str
    roles: list[str]
    channel_id: int | None = None
    prefix: str
    key: str | None = Field(
        default=None, description="shown once; null when an Idempotency-Key replays"
    )


# ------------------------------------------------------------------ catalog

Attr = str | int | float | bool


class VariantIn(In):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    gtin: Annotated[str, StringConstraints(max_length=14)] | None = None
    attributes: (
        Annotated[
            dict[Annotated[str, StringConstraints(max_length=100)], Attr], Field(max_length=50)
        ]
        | None
    ) = None
    price: DecimalIn | None = Field(default=None, ge=0)


class ProductIn(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    status: Literal["draft", "active", "archived"] | None = None
    tracking: Literal["none", "lot", "serial"] | None = None
    tracks_expiry: bool | None = None
    costing_method: Costing | None = None
    variants: Annotated[list[VariantIn], Field(min_length=1, max_length=1000)]


class ProductPatch(In):
    name: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    status: Literal["draft", "active", "archived"] | None = None
    tracks_expiry: bool | None = None
    costing_method: Costing | None = None
    variants: Annotated[list[VariantIn], Field(max_length=1000)] | None = None


class VariantOut(Out):
    id: int
    product_id: int
    sku: str
    gtin: str | None
    attributes: dict[str, Any]
    price: DecStr | None


class ProductOut(Out):
    id: int
    name: str
    description: str | None
    status: str
    tracking: str
    tracks_expiry: bool
    costing_method: str | None
    created_at: datetime
    updated_at: datetime
    variants: list[VariantOut]


class LocationIn(In):
    name: Str200
    code: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: Literal["warehouse", "store", "zone", "bin"]
    parent_id: Id | None = None
    sellable: bool | None = None


class LocationPatch(In):
    name: Str200 | None = None
    sellable: bool | None = None


class LocationOut(Out):
    id: int
    name: str
    code: str
    type: str
    parent_id: int | None
    sellable: bool
    internal: bool
    path: str


# ------------------------------------------------------------------ stock

Code64 = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class LineIn(In):
    sku: Code64 | None = None
    variant_id: Id | None = None
    qty: DecimalIn
    unit_cost: DecimalIn | None = Field(default=None, ge=0)
    lot: Code64 | None = None
    expiry: date | None = None
    serials: Annotated[list[Code64], Field(max_length=10_000)] | None = None
    purchase_order_line_id: Id | None = Field(
        default=None, description="a receipt against a purchase order: the line it receives"
    )


class DocumentIn(In):
    type: Literal["receipt", "transfer", "adjustment", "shipment", "scrap"]
    from_location_id: Id | None = None
    to_location_id: Id | None = None
    location_id: Id | None = None
    two_step: bool | None = None
    reason: Code64 | None = None
    note: Annotated[str, StringConstraints(max_length=2000)] | None = None
    effective_at: datetime | None = None
    submit: bool | None = None
    purchase_order_id: Id | None = Field(
        default=None,
        description="a receipt against this purchase order: each line names its "
        "purchase_order_line_id; variant, destination and unit_cost default from the order",
    )
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=10_000)]


class DocumentBatchIn(In):
    documents: Annotated[list[DocumentIn], Field(min_length=1, max_length=1000)]


class RejectIn(In):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class LineOut(Out):
    line_no: int
    variant_id: int
    sku: str
    qty: DecStr
    unit_cost: DecStr | None
    lot: str | None
    expiry: str | None
    serials: list[str]


class DocumentOut(Out):
    id: int
    type: str
    state: str
    from_location_id: int | None
    to_location_id: int | None
    location_id: int | None
    reason: str | None
    effective_at: datetime | None
    total_value: DecStr | None
    created_by: int | None
    approved_by: int | None
    approved_at: datetime | None
    rejected_by: int | None
    rejection_reason: str | None
    purchase_order_id: int | None = None
    lines: list[LineOut]


class DocumentBatchOut(Out):
    documents: list[DocumentOut]


class LocationStock(Out):
    location_id: int
    on_hand: DecStr
    reserved: DecStr
    available: DecStr
    incoming: DecStr


class AvailabilityOut(Out):
    sku: str
    variant_id: int
    on_hand: DecStr
    reserved: DecStr
    available: DecStr
    incoming: DecStr
    stock_mode: Literal["active", "inactive"]
    locations: list[LocationStock]


class MoveOut(Out):
    id: int
    sku: str
    qty: DecStr
    from_location_id: int
    to_location_id: int
    lot: str | None
    unit_cost: DecStr | None
    value: DecStr | None
    effective_at: datetime
    document_id: int | None


class AuditOut(Out):
    id: int
    at: datetime
    actor_type: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: str | None
    outcome: str
    error_code: str | None
    before: Any = None
    after: Any = None
    seq: int | None
    prev_hash: str | None
    hash: str | None


class VerifyOut(Out):
    ok: bool
    sealed: int
    problems: list[str]


# ------------------------------------------------------------------ finance

Money2 = Annotated[str, Field(description="money to 2 places, as a string", examples=["12.50"])]
ReportFormat = Literal["json", "csv", "xlsx"]


class ValuationLine(Out):
    sku: str
    variant_id: int
    location_id: int | None = None
    location_code: str | None = None
    qty: DecStr
    unit_cost: DecStr
    value: Money2


class ValuationOut(Out):
    as_of: datetime
    currency: str
    location_id: int | None
    total_qty: DecStr
    total_value: Money2
    lines: list[ValuationLine]


class CogsLine(Out):
    sku: str | None
    variant_id: int
    qty: DecStr
    cogs: Money2


class CogsPeriod(Out):
    period: str
    cogs: Money2


class CogsOut(Out):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    from_: datetime = Field(alias="from")
    to: datetime
    currency: str
    total_cogs: Money2
    lines: list[CogsLine]
    periods: list[CogsPeriod]


class JournalLine(Out):
    entry_id: int
    date: date
    effective_at: datetime
    account: str
    debit: Money2
    credit: Money2
    move_id: int | None
    sku: str
    kind: Literal["posting", "correction", "revaluation"]


class JournalOut(Out):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    from_: datetime = Field(alias="from")
    to: datetime
    currency: str
    items: list[JournalLine]
    next_cursor: str | None


class ReconciliationOut(Out):
    as_of: datetime
    currency: str
    ledger_value: Money2
    layer_value: Money2
    journal_inventory_balance: Money2
    exact: dict[str, DecStr]
    balanced: bool
    differences: list[dict[str, Any]]


class PeriodCloseIn(In):
    until: Annotated[
        str,
        StringConstraints(min_length=10, max_length=40),
        Field(description="close through this date (YYYY-MM-DD), or up to a time with zone"),
    ]


class PeriodCloseOut(Out):
    closed_until: datetime
    previous: datetime | None


class PeriodItem(Out):
    closed_until: datetime
    closed_by: int | None
    closed_at: datetime


class PeriodsOut(Out):
    closed_until: datetime | None
    items: list[PeriodItem]


class RecomputeIn(In):
    check_only: bool = Field(
        default=True, description="only compare with the stored costing (write nothing)"
    )


class RecomputeOut(Out):
    variants: int
    differences: list[dict[str, Any]]


# ------------------------------------------------------------------ webhooks and notifications

WebhookEvent = Literal[(webhook_rules.ALL, *webhook_rules.EVENTS)]  # type: ignore[valid-type]
WebhookUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=webhook_rules.MAX_URL),
    Field(description="http:// or https:// URL that receives the POSTs"),
]
WebhookEvents = Annotated[
    list[WebhookEvent],
    Field(min_length=1, max_length=50, description='event names, or ["*"] for every event'),
]


class WebhookIn(In):
    url: WebhookUrl
    events: WebhookEvents
    active: bool | None = None


class WebhookPatch(In):
    url: WebhookUrl | None = None
    events: WebhookEvents | None = None
    active: bool | None = Field(
        default=None, description="false stops deliveries and cancels the pending ones"
    )


class WebhookOut(Out):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(
        description="HMAC-SHA256 key of the Hoop-Signature header; only in this response "
        "(and its Idempotency-Key replays)"
    )


class WebhookDeliveryOut(Out):
    id: int
    event: str
    event_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class NotificationOut(Out):
    id: int
    event: str
    title: str
    body: str
    data: dict[str, Any]
    order_id: int | None
    audience: Literal["seller", "buyer"]
    created_at: datetime
    read_at: datetime | None


class NotificationsOut(Page[NotificationOut]):
    unread_count: int = Field(description="all of the caller's unread notifications")


class ReadAllOut(Out):
    updated: int

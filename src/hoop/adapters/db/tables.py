"""SQLAlchemy Core tables. Every tenant row carries org_id; every query filters by it."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from hoop.adapters.db.types import Scaled, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite rowid alias needs INTEGER


def pk() -> Column:
    return Column("id", Id, primary_key=True, autoincrement=True)


def org_fk() -> Column:
    return Column("org_id", Id, ForeignKey("orgs.id"), nullable=False)


orgs = Table(
    "orgs",
    metadata,
    pk(),
    Column("name", String(200), nullable=False),
    Column("plan", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("costing_method", String(10), nullable=False),
    Column("seller_response_seconds", Integer, nullable=False),
    Column("payment_window_seconds", Integer, nullable=False),
    Column("approval_rules", JSON, nullable=False),
    Column("reason_codes", JSON, nullable=False),
    Column("default_shipping_location_id", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # moves effective before this instant are in a closed accounting period
    Column("closed_until", UtcDateTime, nullable=True),
)

users = Table(
    "users",
    metadata,
    pk(),
    org_fk(),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("supplier_id", Id, nullable=True),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UtcDateTime, nullable=False),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    pk(),
    org_fk(),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    pk(),
    org_fk(),
    Column("name", String(200), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("roles", JSON, nullable=False),
    Column("channel_id", Id, nullable=True),
    Column("created_by", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
)

products = Table(
    "products",
    metadata,
    pk(),
    org_fk(),
    Column("name", String(300), nullable=False),
    Column("description", Text, nullable=True),
    Column("status", String(10), nullable=False),
    Column("tracking", String(10), nullable=False),
    Column("tracks_expiry", Boolean, nullable=False),
    Column("costing_method", String(10), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

variants = Table(
    "variants",
    metadata,
    pk(),
    org_fk(),
    Column("product_id", Id, ForeignKey("products.id"), nullable=False, index=True),
    Column("sku", String(64), nullable=False),
    Column("gtin", String(14), nullable=True),
    Column("attributes", JSON, nullable=False),
    Column("price", Scaled, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "sku", name="uq_variants_org_sku"),
    UniqueConstraint("org_id", "gtin", name="uq_variants_org_gtin"),
)

locations = Table(
    "locations",
    metadata,
    pk(),
    org_fk(),
    Column("parent_id", Id, ForeignKey("locations.id"), nullable=True),
    Column("path", String(400), nullable=False),  # "/1/5/9/": subtree queries by prefix
    Column("name", String(200), nullable=False),
    Column("code", String(64), nullable=False),
    Column("type", String(20), nullable=False),
    Column("sellable", Boolean, nullable=False),
    Column("internal", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "code", name="uq_locations_org_code"),
    Index("ix_locations_org_path", "org_id", "path"),
)

stock_documents = Table(
    "stock_documents",
    metadata,
    pk(),
    org_fk(),
    Column("type", String(20), nullable=False),
    Column("state", String(20), nullable=False),
    Column("from_location_id", Id, nullable=True),
    Column("to_location_id", Id, nullable=True),
    Column("location_id", Id, nullable=True),
    Column("two_step", Boolean, nullable=False, default=False),
    Column("reason", String(64), nullable=True),
    Column("note", Text, nullable=True),
    Column("effective_at", UtcDateTime, nullable=True),
    Column("total_value", Scaled, nullable=True),
    Column("created_by", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("submitted_by", Id, nullable=True),
    Column("submitted_at", UtcDateTime, nullable=True),
    Column("approved_by", Id, nullable=True),
    Column("approved_at", UtcDateTime, nullable=True),
    Column("rejected_by", Id, nullable=True),
    Column("rejected_at", UtcDateTime, nullable=True),
    Column("rejection_reason", Text, nullable=True),
    Column("posted_at", UtcDateTime, nullable=True),
    Column("received_at", UtcDateTime, nullable=True),
    Column("cancelled_by", Id, nullable=True),
    Column("cancelled_at", UtcDateTime, nullable=True),
    Column("reversed", Boolean, nullable=False, default=False),
    # a receipt against a purchase order; its lines name the order's lines
    Column("purchase_order_id", Id, nullable=True),
    Index("ix_stock_documents_org_state", "org_id", "state"),
)

# Lines (like moves) are written only by the posting code, in the transaction that writes their
# document: no foreign keys, whose per-row checks cost as much as the insert on big documents.
document_lines = Table(
    "document_lines",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("document_id", Id, nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("qty", Scaled, nullable=False),
    Column("unit_cost", Scaled, nullable=True),
    Column("lot", String(64), nullable=False, default=""),
    Column("expiry", String(10), nullable=True),
    Column("serials", JSON, nullable=True),
    Column("purchase_order_line_id", Id, nullable=True),
)

moves = Table(
    "moves",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("document_id", Id, nullable=True),
    Column("line_no", Integer, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("from_location_id", Id, nullable=False),
    Column("to_location_id", Id, nullable=False),
    Column("qty", Scaled, nullable=False),
    Column("lot", String(64), nullable=False),
    Column("serial", String(64), nullable=True),
    Column("unit_cost", Scaled, nullable=True),
    Column("value", Scaled, nullable=True),
    Column("reversal", Boolean, nullable=False),
    Column("reverses_move_id", Id, nullable=True),  # the move a reversing move undoes
    Column("effective_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("user_id", Id, nullable=True),
    Index("ix_moves_org_variant_eff", "org_id", "variant_id", "effective_at"),
    Index("ix_moves_document", "document_id"),
)

balances = Table(
    "balances",
    metadata,
    Column("variant_id", Id, primary_key=True),
    Column("location_id", Id, primary_key=True),
    Column("lot", String(64), primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("on_hand", Scaled, nullable=False),
    Column("reserved", Scaled, nullable=False),
    Index("ix_balances_org_location", "org_id", "location_id"),
)

lots = Table(
    "lots",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("variant_id", Id, primary_key=True),
    Column("lot", String(64), primary_key=True),
    Column("expiry", String(10), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

serials = Table(
    "serials",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("variant_id", Id, primary_key=True),
    Column("serial", String(64), primary_key=True),
    Column("location_id", Id, nullable=False),  # where it is now (internal or virtual)
    Column("lot", String(64), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),  # no foreign key: see migration 0008
    Column("at", UtcDateTime, nullable=False),
    Column("actor_type", String(10), nullable=False),  # user | api_key | system
    Column("actor_id", Id, nullable=True),
    Column("action", String(64), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(64), nullable=True),
    Column("outcome", String(10), nullable=False),  # ok | refused
    Column("error_code", String(64), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    Column("seq", BigInteger, nullable=True),  # position in the org's chain once sealed
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    Index("ix_audit_org_seq", "org_id", "seq"),
)
# The sealer looks for unsealed events every scheduler tick: keep that lookup off the big index.
Index(
    "ix_audit_unsealed",
    audit_events.c.org_id,
    audit_events.c.id,
    postgresql_where=audit_events.c.seq.is_(None),
    sqlite_where=audit_events.c.seq.is_(None),
)

audit_heads = Table(
    "audit_heads",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)


# ---------------------------------------------------------------- costing and finance
# Derived from the ledger: re-costing (a backdated move, a method change) may replace these rows;
# `hoop costing recompute` rebuilds them from the moves alone.

# The costing method in force over time: org default (product_id null) and product overrides
# (method null: the override is removed). Costing reads it to know which method held when.
costing_methods = Table(
    "costing_methods",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("product_id", Id, nullable=True),
    Column("method", String(10), nullable=True),
    Column("effective_at", UtcDateTime, nullable=False),
    Column("changed_by", Id, nullable=True),
    Index("ix_costing_methods_org", "org_id", "product_id", "effective_at"),
)

# One row per cost event of a variant (a valued move, or a change of method): its value and the
# variant's valued stock after it. Valuation as of T reads the last row at or before T.
cost_entries = Table(
    "cost_entries",
    metadata,
    # keyed by the event: (effective_at, ord) orders a variant's events; ord is the move id
    Column("org_id", Id, primary_key=True),
    Column("variant_id", Id, primary_key=True),
    Column("effective_at", UtcDateTime, primary_key=True),
    Column("ord", BigInteger, primary_key=True),  # move id; 0 for a method change
    Column("move_id", Id, nullable=True),
    Column("counter", String(12), nullable=False),  # supplier|customer|adjustment|scrap|...
    Column("method", String(10), nullable=False),
    Column("qty", Scaled, nullable=False),  # signed: + in, - out, 0 revaluation
    Column("value", Scaled, nullable=False),  # signed
    Column("qty_after", Scaled, nullable=False),
    Column("value_after", Scaled, nullable=False),
)
# COGS by period reads shipments only; a partial index keeps the others' writes cheap. It holds
# what COGS sums, so the read can be index-only (migration 0005).
Index(
    "ix_cost_entries_cogs",
    cost_entries.c.org_id,
    cost_entries.c.effective_at,
    cost_entries.c.variant_id,
    cost_entries.c.qty,
    cost_entries.c.value,
    cost_entries.c.counter,
    postgresql_where=cost_entries.c.counter == "customer",
    sqlite_where=cost_entries.c.counter == "customer",
)

# The open cost layers of each variant now (a `Book`, as JSON), and its totals.
cost_books = Table(
    "cost_books",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("variant_id", Id, primary_key=True),
    Column("method", String(10), nullable=False),
    Column("qty", Scaled, nullable=False),
    Column("value", Scaled, nullable=False),
    Column("book", JSON, nullable=True),
    Column("updated_at", UtcDateTime, nullable=False),
)

# A variant's book as it stood after the event (effective_at, ord), every few thousand events of
# a replay: a backdated move re-costs from the last checkpoint before it, not from the start.
cost_checkpoints = Table(
    "cost_checkpoints",
    metadata,
    Column("org_id", Id, primary_key=True),
    Column("variant_id", Id, primary_key=True),
    Column("effective_at", UtcDateTime, primary_key=True),
    Column("ord", BigInteger, primary_key=True),
    Column("book", JSON, nullable=False),
)

# The accounting journal: append-only double entries. Re-costing adds corrections dated at the
# move that caused them; nothing here is ever rewritten.
journal_entries = Table(
    "journal_entries",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("effective_at", UtcDateTime, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("move_id", Id, nullable=True),
    Column("kind", String(12), nullable=False),  # posting | correction | revaluation
    Column("debit", String(40), nullable=False),
    Column("credit", String(40), nullable=False),
    Column("amount", Scaled, nullable=False),  # > 0
    Column("recorded_at", UtcDateTime, nullable=False),
    Index("ix_journal_org_eff", "org_id", "effective_at"),
)

period_closes = Table(
    "period_closes",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False, index=True),
    Column("closed_until", UtcDateTime, nullable=False),
    Column("closed_by", Id, nullable=True),
    Column("closed_at", UtcDateTime, nullable=False),
)


# ---------------------------------------------------------------- orders (flexible stock)

orders = Table(
    "orders",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("status", String(20), nullable=False),
    Column("channel_id", Id, nullable=True),
    Column("customer", JSON, nullable=False),  # {name, email?, phone?}
    Column("placed_by_user", Id, nullable=True),
    Column("placed_by_api_key", Id, nullable=True),
    Column("respond_by", UtcDateTime, nullable=True),
    Column("pay_by", UtcDateTime, nullable=True),
    Column("decline_reason", Text, nullable=True),
    Column("pickup_status", String(20), nullable=True),  # requested | picked_up | delivered
    Column("shipment_document_id", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_orders_org_status", "org_id", "status", "id"),
)
# The scheduler's lookups of due deadlines stay on small partial indexes.
Index(
    "ix_orders_respond_due",
    orders.c.respond_by,
    postgresql_where=orders.c.status == "pending_seller",
    sqlite_where=orders.c.status == "pending_seller",
)
Index(
    "ix_orders_pay_due",
    orders.c.pay_by,
    postgresql_where=orders.c.status == "awaiting_payment",
    sqlite_where=orders.c.status == "awaiting_payment",
)

order_lines = Table(
    "order_lines",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("order_id", Id, nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("qty", Scaled, nullable=False),
    Column("unit_price", Scaled, nullable=True),
)

# What an order holds reserved, where (released on cancel, consumed by the pickup's shipment).
order_reservations = Table(
    "order_reservations",
    metadata,
    Column("order_id", Id, primary_key=True),
    Column("variant_id", Id, primary_key=True),
    Column("location_id", Id, primary_key=True),
    Column("lot", String(64), primary_key=True),
    Column("org_id", Id, nullable=False),
    Column("qty", Scaled, nullable=False),
)

# The order's timeline: every transition, by whom and when.
order_events = Table(
    "order_events",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("order_id", Id, nullable=False, index=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_type", String(10), nullable=False),  # user | api_key | system
    Column("actor_id", Id, nullable=True),
    Column("action", String(20), nullable=False),
    Column("from_status", String(20), nullable=True),
    Column("to_status", String(20), nullable=False),
    Column("note", Text, nullable=True),
)

# ---------------------------------------------------------------- notifications and webhooks

notifications = Table(
    "notifications",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    # a user of the org (the seller's side), or the buyer of an order (reached through the
    # channel API key that placed it, and through webhooks)
    Column("user_id", Id, nullable=True),
    Column("api_key_id", Id, nullable=True),
    Column("audience", String(10), nullable=False),  # seller | buyer
    Column("event", String(40), nullable=False),
    Column("order_id", Id, nullable=True),
    Column("title", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("data", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime, nullable=True),
    Index("ix_notifications_user", "org_id", "user_id", "id"),
)
# A user's unread count (on every web page), and an API key's own list (the buyer's side).
Index(
    "ix_notifications_unread",
    notifications.c.org_id,
    notifications.c.user_id,
    postgresql_where=notifications.c.read_at.is_(None),
    sqlite_where=notifications.c.read_at.is_(None),
)
Index(
    "ix_notifications_api_key",
    notifications.c.org_id,
    notifications.c.api_key_id,
    notifications.c.id,
    postgresql_where=notifications.c.api_key_id.is_not(None),
    sqlite_where=notifications.c.api_key_id.is_not(None),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("events", JSON, nullable=False),  # event names, or ["*"]
    Column("secret", String(100), nullable=False),  # HMAC-SHA256 key, shown once at creation
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# The transactional outbox: an event is written in the transaction that caused it; the
# scheduler delivers it to each subscribed endpoint, with retries and exponential backoff.
outbox = Table(
    "outbox",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),  # receivers dedupe on it
    Column("event", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("outbox_id", Id, nullable=False),
    Column("endpoint_id", Id, nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    UniqueConstraint("outbox_id", "endpoint_id", name="uq_webhook_deliveries_pair"),
)
Index(
    "ix_webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_at,
    postgresql_where=webhook_deliveries.c.status == "pending",
    sqlite_where=webhook_deliveries.c.status == "pending",
)

# ---------------------------------------------------------------- purchasing

suppliers = Table(
    "suppliers",
    metadata,
    pk(),
    org_fk(),
    Column("name", String(200), nullable=False),
    Column("email", String(320), nullable=True),
    Column("phone", String(40), nullable=True),
    Column("currency", String(3), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "name", name="uq_suppliers_org_name"),
)

# What a supplier sells us: its price (in the item's currency), lead time, minimum order
# quantity and pack size; `preferred` picks it over cheaper ones.
supplier_items = Table(
    "supplier_items",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("supplier_id", Id, ForeignKey("suppliers.id"), nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("supplier_sku", String(100), nullable=True),
    Column("price", Scaled, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("lead_time_days", Scaled, nullable=False),
    Column("moq", Scaled, nullable=False),
    Column("pack_size", Scaled, nullable=False),
    Column("preferred", Boolean, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "supplier_id", "variant_id", name="uq_supplier_items_item"),
    Index("ix_supplier_items_org_variant", "org_id", "variant_id"),
)

purchase_orders = Table(
    "purchase_orders",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("supplier_id", Id, nullable=False),
    # draft | sent | partially_received | received | cancelled
    Column("status", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("location_id", Id, nullable=False),  # where the goods are received
    Column("expected_at", UtcDateTime, nullable=True),
    Column("note", Text, nullable=True),
    Column("source", String(20), nullable=False),  # manual | suggestion
    Column("created_by", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("cancelled_at", UtcDateTime, nullable=True),
    Column("received_at", UtcDateTime, nullable=True),
    Column("closed_short", Boolean, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_purchase_orders_org_status", "org_id", "status", "id"),
)

purchase_order_lines = Table(
    "purchase_order_lines",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("purchase_order_id", Id, nullable=False, index=True),
    Column("line_no", Integer, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("location_id", Id, nullable=False),
    Column("qty", Scaled, nullable=False),
    Column("received_qty", Scaled, nullable=False),
    Column("unit_price", Scaled, nullable=False),
    Column("expected_at", UtcDateTime, nullable=True),
    # an open line counts as incoming stock while its order is draft, sent or partly received;
    # closing a line short (or the order) sets this false
    Column("open", Boolean, nullable=False),
    Index("ix_purchase_order_lines_org_variant", "org_id", "variant_id"),
)

# Advance shipping notices: the supplier says what is on its way and when it should arrive.
asns = Table(
    "asns",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("purchase_order_id", Id, nullable=False, index=True),
    Column("status", String(20), nullable=False),  # open | received | cancelled
    Column("reference", String(100), nullable=True),
    Column("ship_date", String(10), nullable=True),
    Column("arrive_from", UtcDateTime, nullable=True),
    Column("arrive_to", UtcDateTime, nullable=True),
    Column("receipt_document_id", Id, nullable=True),
    Column("created_by", Id, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

asn_lines = Table(
    "asn_lines",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("asn_id", Id, nullable=False, index=True),
    Column("purchase_order_line_id", Id, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("qty", Scaled, nullable=False),
    Column("lot", String(64), nullable=False),
    Column("expiry", String(10), nullable=True),
)

# ---------------------------------------------------------------- replenishment

# One policy per variant and location. `reorder_point` and `safety_stock_effective` are the
# last computed values (on every change of the policy and by the scheduler as demand moves),
# so a posting compares a position against a stored number instead of reading 90 days of
# demand.
replenishment_policies = Table(
    "replenishment_policies",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("variant_id", Id, nullable=False),
    Column("location_id", Id, nullable=False),
    Column("method", String(10), nullable=False),  # minmax | eoq
    Column("min_qty", Scaled, nullable=True),
    Column("max_qty", Scaled, nullable=True),
    Column("safety_stock", Scaled, nullable=True),
    Column("service_level", Scaled, nullable=True),
    Column("lead_time_days", Scaled, nullable=True),
    Column("order_cost", Scaled, nullable=True),
    Column("holding_rate", Scaled, nullable=True),
    Column("demand_window_days", Integer, nullable=False),
    Column("supplier_id", Id, nullable=True),
    Column("reorder_point", Scaled, nullable=True),
    Column("computed_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("org_id", "variant_id", "location_id", name="uq_policies_variant_location"),
)

alerts = Table(
    "alerts",
    metadata,
    pk(),
    Column("org_id", Id, nullable=False),
    Column("type", String(20), nullable=False),  # low_stock
    Column("variant_id", Id, nullable=False),
    Column("location_id", Id, nullable=False),
    Column("status", String(10), nullable=False),  # open | resolved
    Column("position", Scaled, nullable=False),
    Column("reorder_point", Scaled, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("resolved_at", UtcDateTime, nullable=True),
    Index("ix_alerts_org_status", "org_id", "status", "type", "id"),
)
# One open alert per type, variant and location, whoever races to raise it.
Index(
    "uq_alerts_open",
    alerts.c.org_id,
    alerts.c.type,
    alerts.c.variant_id,
    alerts.c.location_id,
    unique=True,
    postgresql_where=alerts.c.status == "open",
    sqlite_where=alerts.c.status == "open",
)

# ---------------------------------------------------------------- reconciliation runs

# A reconciliation reads the org's whole costing history, so the web page records a run and a
# background task (or the scheduler, for one left queued) computes it; the page shows `result`
# (the report as `reports.reconciliation` returns it, made JSON-safe) or `error`.
reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    pk(),
    org_fk(),
    Column("requested_by", Id, nullable=True),  # the user who asked; None for the API/system
    Column("requested_at", UtcDateTime, nullable=False),
    Column("started_at", UtcDateTime, nullable=True),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("status", String(10), nullable=False),  # queued | running | done | failed
    Column("deep", Boolean, nullable=False),
    Column("result", JSON, nullable=True),
    Column("error", Text, nullable=True),
)
Index("ix_reconciliation_runs_org", reconciliation_runs.c.org_id, reconciliation_runs.c.id.desc())
Index(
    "ix_reconciliation_runs_pending",
    reconciliation_runs.c.requested_at,
    postgresql_where=reconciliation_runs.c.status.in_(("queued", "running")),
    sqlite_where=reconciliation_runs.c.status.in_(("queued", "running")),
)

# The dashboard chart's daily Inventory changes (scaled integers by ISO day) from the journal
# rows with id <= top_id dated on or after `start`, summed by the scheduler
# (`web_queries.sum_inventory_days`); a render adds the rows written since.
inventory_day_sums = Table(
    "inventory_day_sums",
    metadata,
    Column("org_id", Id, ForeignKey("orgs.id"), primary_key=True),
    Column("start", UtcDateTime, nullable=False),
    Column("top_id", Id, nullable=False),
    Column("by_day", JSON, nullable=False),
    Column("built_at", UtcDateTime, nullable=False),
)

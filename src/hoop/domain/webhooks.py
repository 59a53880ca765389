"""Webhooks, the pure part: which events exist, what an endpoint may subscribe to and where it
may point, how a body is signed, and when a failed delivery is tried again. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable
from datetime import timedelta
from urllib.parse import urlsplit

from hoop.domain.errors import ValidationFailed

# Event names an endpoint may subscribe to (or "*" for every event, present and future).
EVENTS = (
    "order.requested",
    "order.confirmed",
    "order.payment_requested",
    "order.declined",
    "order.expired",
    "order.cancelled",
    "order.picked_up",
    "order.delivered",
    "purchase_order.sent",
    "purchase_order.received",
    "asn.created",
    "stock.low",
)
ALL = "*"

MAX_URL = 2000
MAX_ENDPOINTS_PER_ORG = 20
SIGNATURE_PREFIX = "sha256="

# Retry policy: after the n-th failed attempt the next one waits min(BASE * 2**n, CAP); the
# MAX_ATTEMPTS-th failure is final. 10 s, 20 s, ... 42 min, then hourly: about 3.4 hours in all.
BACKOFF_BASE_SECONDS = 5
BACKOFF_CAP_SECONDS = 3600
MAX_ATTEMPTS = 12

_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?$")


def check_url(url: str) -> str:
    """An absolute http(s) URL with a host, no credentials and no whitespace, else 422."""

    def bad(why: str) -> ValidationFailed:
        return ValidationFailed(f"url {why}", {"field": "url"})

    url = url.strip()
    if not 1 <= len(url) <= MAX_URL:
        raise bad(f"must be 1 to {MAX_URL} characters")
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in url):
        raise bad("must be ASCII without spaces (percent-encode the rest, punycode the host)")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise bad("must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise bad("must not carry credentials (the signature authenticates Hoop)")
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise bad("has an invalid port") from None
    if not host or not (_HOST.match(host) or _is_ip(host)):
        raise bad("must name a valid host")
    return url


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_events(events: Iterable[str]) -> list[str]:
    """Known event names, sorted and deduplicated; ["*"] when "*" is among them."""
    names = list(events)
    if not names:
        raise ValidationFailed(
            "events must name at least one event, or '*' for all", {"field": "events"}
        )
    unknown = sorted({e for e in names if e != ALL and e not in EVENTS})
    if unknown:
        raise ValidationFailed(
            f"unknown events: {', '.join(map(repr, unknown))}",
            {"field": "events", "unknown": unknown, "allowed": [ALL, *EVENTS]},
        )
    return [ALL] if ALL in names else sorted(set(names))


def subscribed(events: Iterable[str], event: str) -> bool:
    subs = set(events)
    return ALL in subs or event in subs


def sign(secret: str, body: bytes) -> str:
    """The Hoop-Signature header value: HMAC-SHA256 of the raw body, keyed by the secret."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def retry_delay(attempts: int) -> timedelta | None:
    """How long to wait after `attempts` failed attempts, or None when the delivery has failed
    for good."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2**attempts, BACKOFF_CAP_SECONDS))

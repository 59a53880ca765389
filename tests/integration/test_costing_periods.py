"""Accounting periods over the HTTP API, on SQLite and PostgreSQL: closing through a date,
what a closed period refuses (and that a refusal changes nothing), and who may close what.

Figures are worked by hand in the comments. Days are in March 2025, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.integration.test_costing_api import (
    assert_error,
    assert_reconciled,
    at,
    cogs,
    cogs_of,
    journal_items,
    new_org,
    new_sku,
    receive,
    ship,
    val_line,
    valuation,
)


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _state(org: Any, sku: str) -> Any:
    """Everything a refused posting must leave as it was."""
    v = valuation(org)
    v.pop("as_of")
    c = cogs(org)
    c.pop("to")
    return (
        org.availability(sku),
        org.get(f"/stock/moves?sku={sku}")["items"],
        org.get("/stock-documents?limit=100")["items"],
        v,
        valuation(org, "?as_of=2025-03-10"),
        c,
        journal_items(org),
    )


def test_closed_period_refuses_postings_and_changes_nothing(client):
    org = new_org(client, "fifo")
    wh = org.location()
    sku = new_sku(org)
    receive(org, wh, sku, 10, "2.00", 1)  # [10@2]
    s5 = ship(org, wh, sku, 2, 5)  # 2@2 = 4.00; [8@2]
    receive(org, wh, sku, 5, "3.00", 12)  # [8@2, 5@3] = 16 + 15 = 31.00

    finance = org.user(["finance"])
    out = finance.post("/periods/close", {"until": "2025-03-10"}, expect=200).json()
    # closed through the end of 10 March: until the start of the 11th
    assert _when(out["closed_until"]) == datetime(2025, 3, 11, tzinfo=UTC)
    assert out["previous"] is None
    periods = org.get("/periods")
    assert _when(periods["closed_until"]) == datetime(2025, 3, 11, tzinfo=UTC)
    assert len(periods["items"]) == 1

    before = _state(org, sku)
    refusals = [
        # a receipt on the last closed day
        lambda: receive(org, wh, sku, 1, "9.00", 10, hour=23, expect=409),
        # the same instant written in another zone: 01:00+02:00 on the 11th is 23:00Z the 10th
        lambda: org.post(
            "/stock-documents",
            {
                "type": "receipt",
                "to_location_id": wh,
                "effective_at": "2025-03-11T01:00:00+02:00",
                "lines": [{"sku": sku, "qty": "1", "unit_cost": "9.00"}],
            },
            expect=409,
        ).json(),  # fmt: skip
        # a shipment backdated into the closed period
        lambda: ship(org, wh, sku, 1, 9, expect=409),
        # cancelling a document effective in the closed period (its reversal would be dated
        # there)
        lambda: org.post(f"/stock-documents/{s5['id']}/cancel", expect=409).json(),
    ]
    for attempt in refusals:
        err = attempt()["error"]
        assert err["code"] == "period_closed", err
        assert _when(err["details"]["closed_until"]) == datetime(2025, 3, 11, tzinfo=UTC)
        assert _state(org, sku) == before
    assert org.get(f"/stock-documents/{s5['id']}")["state"] == "done"

    # the open period is open: from the first instant of the 11th on
    # 1@4 at 11 Mar 00:00 goes in before the 12 Mar layer: [8@2, 1@4, 5@3]
    # = 16 + 4 + 15 = 35.00 over 14 units, unit 2.5
    receive(org, wh, sku, 1, "4.00", 11, hour=0)
    assert val_line(valuation(org), sku) == ("14", "2.5000", "35.00")
    # a backdated shipment into the open period, before the 12th: takes 3@2 = 6.00
    ship(org, wh, sku, 3, 11, hour=6)
    assert cogs_of(cogs(org), sku) == ("5", "10.00")  # 4 + 6
    # the closed past reads as it did
    assert valuation(org, "?as_of=2025-03-10") == before[4]
    assert_reconciled(org, "29.00")  # 35 - 6


def test_period_close_rules(client):
    org = new_org(client, "average")
    clerk, manager, finance = (org.user([r]) for r in ("clerk", "manager", "finance"))
    for who in (clerk, manager):
        assert_error(who.post("/periods/close", {"until": "2025-03-10"}), 403)
    assert_error(clerk.req("GET", "/periods"), 403)
    assert org.get("/periods") == {"closed_until": None, "items": []}

    org.post("/periods/close", {"until": "2025-03-10"}, expect=200)
    # never backwards
    err = assert_error(finance.post("/periods/close", {"until": "2025-03-05"}), 409)
    assert err["code"] == "period_already_closed"
    # the future cannot be closed, nor today (it has not ended yet)
    today = datetime.now(UTC).date()
    for until in ((today + timedelta(days=1)).isoformat(), "2999-01-01", today.isoformat()):
        assert_error(org.post("/periods/close", {"until": until}), 422)
    for bad in ("garbage-at", "2025-02-30", "2025-03-10T00:00:00", {"until": None}):
        body = bad if isinstance(bad, dict) else {"until": bad}
        assert_error(org.post("/periods/close", body), (400, 422))
    assert_error(org.post("/periods/close", {}), (400, 422))

    # further forward is fine, by finance too; the list keeps both closes, newest first
    out = finance.post("/periods/close", {"until": "2025-03-20"}, expect=200).json()
    assert _when(out["previous"]) == datetime(2025, 3, 11, tzinfo=UTC)
    periods = org.get("/periods")
    assert [_when(p["closed_until"]) for p in periods["items"]] == [
        datetime(2025, 3, 21, tzinfo=UTC),
        datetime(2025, 3, 11, tzinfo=UTC),
    ]
    # now a posting on the 20th is refused, and one on the 21st accepted
    wh = org.location()
    sku = new_sku(org)
    r = org.post(
        "/stock-documents",
        {"type": "receipt", "to_location_id": wh, "effective_at": at(20, 23),
         "lines": [{"sku": sku, "qty": "1", "unit_cost": "1"}]},
        expect=409,
    )  # fmt: skip
    assert r.json()["error"]["code"] == "period_closed"
    receive(org, wh, sku, 1, "1.00", 21)
    assert org.availability(sku)["on_hand"] == "1"

"""The accounting journal's rules: which accounts a valued event debits and credits.

Pure: no I/O. A cost event changes the value of inventory by a signed amount; the other side of
the entry is the account of where the goods came from or went to (the virtual location across
the valuation boundary), or Inventory Revaluation for a change of costing method.
"""

from __future__ import annotations

from typing import NamedTuple

INVENTORY = "Inventory"

# counter (the virtual location type across the boundary, or "revaluation") -> account
COUNTER_ACCOUNTS = {
    "supplier": "Goods Received Not Invoiced",
    "customer": "Cost of Goods Sold",
    "adjustment": "Inventory Adjustment",
    "untracked": "Inventory Adjustment",
    "scrap": "Scrap Expense",
    "revaluation": "Inventory Revaluation",
}
ACCOUNTS = [INVENTORY, *dict.fromkeys(COUNTER_ACCOUNTS.values())]


class Entry(NamedTuple):
    debit: str
    credit: str
    amount: int  # scaled, > 0


def entry_for(counter: str, inventory_change: int) -> Entry | None:
    """The double entry for a change of inventory value (scaled, signed); None for no change.

    Inventory up (receipt, found stock, a return, a revaluation upward): Dr Inventory / Cr the
    counter account. Inventory down (shipment, shrinkage, scrap): Dr the counter / Cr Inventory."""
    if inventory_change == 0:
        return None
    other = COUNTER_ACCOUNTS.get(counter, COUNTER_ACCOUNTS["adjustment"])
    if inventory_change > 0:
        return Entry(INVENTORY, other, inventory_change)
    return Entry(other, INVENTORY, -inventory_change)

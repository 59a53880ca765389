"""The demo org: a believable Nepali tea, spice, craft and apparel trader with 90 days of history.

`load_demo` is idempotent (it does nothing when the demo user exists) and deterministic (a fixed
random seed; only the dates move with today). Everything is written in one transaction through
the same service functions the API uses, so the demo data obeys every rule real data does.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, select

from hoop.adapters.db.tables import moves, users
from hoop.domain.catalog import gtin_check_digit
from hoop.domain.errors import Conflict
from hoop.service import access, catalog, costing, demo_purchasing, stock
from hoop.service import orders as orders_svc
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork

DEMO_EMAIL = "demo@hoop.example"
DEMO_PASSWORD = "hoop-demo-123"
MANAGER_EMAIL = "manager@hoop.example"
APPROVER_EMAIL = "approver@hoop.example"
ORG_NAME = "Himalayan Green Traders"
SEED = 20_240_601
DAYS = 90
PLAN = "enterprise"  # the demo shows every feature, reconciliation included
GS1_PREFIX = "4290512"  # 429 = GS1 Nepal; the rest is a made-up company number

# (code, name, type, parent code, sellable)
LOCATIONS: list[tuple[str, str, str, str | None, bool | None]] = [
    ("KTM", "Kathmandu DC", "warehouse", None, None),
    ("KTM-A", "Ambient Storage", "zone", "KTM", None),
    ("KTM-B", "Bulk Pallets", "zone", "KTM", None),
    ("KTM-Q", "Quarantine", "zone", "KTM", False),
    *[(f"KTM-A-{i:02d}", f"Bin A-{i:02d}", "bin", "KTM-A", None) for i in range(1, 5)],
    *[(f"KTM-B-{i:02d}", f"Bin B-{i:02d}", "bin", "KTM-B", None) for i in range(1, 4)],
    ("KTM-Q-01", "Quarantine Cage", "bin", "KTM-Q", None),
    ("PKR", "Pokhara DC", "warehouse", None, None),
    ("PKR-A", "Pick Face", "zone", "PKR", None),
    ("PKR-R", "Returns", "zone", "PKR", False),
    *[(f"PKR-A-{i:02d}", f"Bin A-{i:02d}", "bin", "PKR-A", None) for i in range(1, 4)],
    ("PKR-R-01", "Returns Inspection", "bin", "PKR-R", None),
    ("THM", "Thamel Store", "store", None, None),
    ("THM-FLOOR", "Shop Floor", "zone", "THM", None),
    ("THM-BACK", "Back Room", "zone", "THM", None),
]

# (sku stem, name, category, status, [(sku suffix, attributes, price)])
Variant = tuple[str, dict[str, str], str]


def _sizes(weights_prices: list[tuple[str, str]]) -> list[Variant]:
    return [(w.replace(" ", "").upper(), {"weight": w}, p) for w, p in weights_prices]


def _one(attrs: dict[str, str], price: str) -> list[Variant]:
    return [("", attrs, price)]


def _grid(price: str, sizes: list[str], colours: list[str] | None = None) -> list[Variant]:
    if not colours:
        return [(s, {"size": s}, price) for s in sizes]
    return [
        (c[:3].upper() + ("" if s == "one size" else f"-{s}"), {"size": s, "colour": c}, price)
        for c in colours
        for s in sizes
    ]


PRODUCTS: list[tuple[str, str, str, str, list[Variant]]] = [
    # tea
    ("TEA-ILB", "Ilam Black Tea", "tea", "active", _sizes([("100 g", "6.50"), ("250 g", "14.00")])),
    ("TEA-ILG", "Ilam Green Tea", "tea", "active", _sizes([("100 g", "7.50")])),
    ("TEA-KFF", "Kanchenjunga First Flush", "tea", "active", _sizes([("100 g", "18.00")])),
    ("TEA-JCS", "Jun Chiyabari Second Flush", "tea", "active", _sizes([("100 g", "16.00")])),
    ("TEA-GTP", "Golden Tips Black Tea", "tea", "active", _sizes([("50 g", "22.00")])),
    ("TEA-SNW", "Silver Needle White Tea", "tea", "active", _sizes([("50 g", "28.00")])),
    ("TEA-OOL", "Himalayan Oolong", "tea", "active", _sizes([("100 g", "19.50")])),
    ("TEA-CHA", "Masala Chai Blend", "tea", "active", _sizes([("250 g", "9.00")])),
    ("TEA-TUL", "Tulsi Herbal Tea", "tea", "active", _sizes([("50 g", "6.00")])),
    ("TEA-LMG", "Lemongrass Ginger Tea", "tea", "active", _sizes([("50 g", "6.50")])),
    ("TEA-RHO", "Rhododendron Flower Tea", "tea", "active", _sizes([("50 g", "8.50")])),
    ("TEA-NET", "Nettle Leaf Tea", "tea", "draft", _sizes([("50 g", "7.00")])),
    # spices and pantry
    ("SPC-TMR", "Timur Pepper", "spices", "active", _sizes([("50 g", "5.50")])),
    ("SPC-JMB", "Jimbu Herb", "spices", "active", _sizes([("25 g", "4.50")])),
    (
        "SPC-SLT",
        "Himalayan Pink Salt",
        "spices",
        "active",
        _sizes([("500 g", "3.50"), ("1 kg", "6.00")]),
    ),
    ("SPC-CRD", "Black Cardamom", "spices", "active", _sizes([("100 g", "9.50")])),
    ("SPC-TRM", "Turmeric Powder", "spices", "active", _sizes([("200 g", "4.00")])),
    ("SPC-CUM", "Cumin Seeds", "spices", "active", _sizes([("200 g", "3.80")])),
    ("SPC-AKB", "Akabare Chili Flakes", "spices", "active", _sizes([("50 g", "5.00")])),
    ("SPC-GRM", "Garam Masala", "spices", "active", _sizes([("100 g", "4.50")])),
    ("SPC-MOM", "Momo Masala", "spices", "active", _sizes([("100 g", "4.20")])),
    ("SPC-FNG", "Fenugreek Seeds", "spices", "active", _sizes([("200 g", "3.20")])),
    ("SPC-MOL", "Cold-Pressed Mustard Oil", "spices", "active", _sizes([("1 l", "7.50")])),
    ("SPC-TCH", "Timur Chutney", "spices", "active", _sizes([("200 g", "6.80")])),
    ("PAN-HNY", "Himalayan Wild Honey", "pantry", "active", _sizes([("250 g", "12.00")])),
    ("PAN-BKW", "Buckwheat Flour", "pantry", "active", _sizes([("1 kg", "5.50")])),
    ("PAN-CHR", "Chhurpi Yak Cheese Chews", "pantry", "active", _sizes([("100 g", "7.00")])),
    ("PAN-SBJ", "Sea Buckthorn Juice", "pantry", "active", _sizes([("500 ml", "8.50")])),
    # handicrafts
    (
        "CRF-BWL",
        "Hand-Hammered Singing Bowl",
        "handicrafts",
        "active",
        [
            ("S", {"size": "small"}, "35.00"),
            ("M", {"size": "medium"}, "65.00"),
            ("L", {"size": "large"}, "120.00"),
        ],
    ),
    (
        "CRF-LNB",
        "Lokta Paper Notebook",
        "handicrafts",
        "active",
        [("A5", {"size": "A5"}, "8.00"), ("A6", {"size": "A6"}, "6.00")],
    ),
    ("CRF-PFL", "Prayer Flags, Set of 25", "handicrafts", "active", _one({}, "9.00")),
    ("CRF-THK", "Thangka Print, Medicine Buddha", "handicrafts", "active", _one({}, "45.00")),
    (
        "CRF-FBG",
        "Felt Ball Garland",
        "handicrafts",
        "active",
        [("RNB", {"colour": "rainbow"}, "12.00"), ("PST", {"colour": "pastel"}, "12.00")],
    ),
    ("CRF-MSK", "Carved Wooden Mask", "handicrafts", "active", _one({}, "38.00")),
    ("CRF-BUD", "Brass Buddha Statue 15 cm", "handicrafts", "active", _one({}, "85.00")),
    (
        "CRF-DHK",
        "Dhaka Weave Cushion Cover",
        "handicrafts",
        "active",
        [("RED", {"colour": "red"}, "18.00"), ("BLU", {"colour": "blue"}, "18.00")],
    ),
    ("CRF-INC", "Handmade Incense, Box of 50", "handicrafts", "active", _one({}, "4.50")),
    ("CRF-KHK", "Khukuri Letter Opener", "handicrafts", "active", _one({}, "14.00")),
    ("CRF-MLA", "Yak Bone Mala", "handicrafts", "active", _one({}, "16.00")),
    ("CRF-LMP", "Lokta Paper Lamp Shade", "handicrafts", "active", _one({}, "24.00")),
    # apparel
    (
        "APP-BNE",
        "Yak Wool Beanie",
        "apparel",
        "active",
        _grid("18.00", ["one size"], ["charcoal", "maroon", "mustard"]),
    ),
    (
        "APP-PSH",
        "Pashmina Shawl",
        "apparel",
        "active",
        _grid("95.00", ["one size"], ["ivory", "rose", "teal", "black"]),
    ),
    (
        "APP-HHD",
        "Hemp Hoodie",
        "apparel",
        "active",
        _grid("55.00", ["S", "M", "L", "XL"], ["natural", "olive"]),
    ),
    (
        "APP-HTS",
        "Hemp T-Shirt",
        "apparel",
        "active",
        _grid("24.00", ["S", "M", "L"], ["natural", "indigo"]),
    ),
    ("APP-TOP", "Dhaka Topi", "apparel", "active", _grid("12.00", ["S", "M", "L"])),
    (
        "APP-SLP",
        "Felted Wool Slippers",
        "apparel",
        "active",
        _grid("29.00", ["38", "40", "42", "44"]),
    ),
    ("APP-SCK", "Merino Trekking Socks", "apparel", "active", _grid("14.00", ["S", "M", "L"])),
    ("APP-GLV", "Yak Wool Gloves", "apparel", "active", _grid("22.00", ["M", "L"])),
    ("APP-KUR", "Cotton Kurta", "apparel", "active", _grid("32.00", ["S", "M", "L"])),
    ("APP-BPK", "Hemp Backpack", "apparel", "draft", _one({"colour": "natural"}, "48.00")),
]
ARCHIVE_AT_END = "CRF-LMP"  # discontinued after the period: stock history, then archived

HOME_ZONE = {
    "tea": "KTM-A",
    "spices": "KTM-A",
    "pantry": "KTM-B",
    "handicrafts": "KTM-B",
    "apparel": "KTM-B",
}
SUPPLIERS = {
    "tea": "Ilam Tea Estates",
    "spices": "Karnali Spice Co-op",
    "pantry": "Mustang Farm Foods",
    "handicrafts": "Patan Artisans Guild",
    "apparel": "Kathmandu Hemp & Wool",
}


def _sku(stem: str, suffix: str) -> str:
    return f"{stem}-{suffix.replace(' ', '').upper()}" if suffix else stem


def _gtin(n: int) -> str:
    body = f"{GS1_PREFIX}{n:05d}"
    return body + str(gtin_check_digit(body))


class _Sim:
    """Posts documents and mirrors the balances, so nothing ever ships that is not on hand."""

    def __init__(self, conn: Connection, rng: random.Random, start: datetime) -> None:
        self.conn = conn
        self.rng = rng
        self.clock = start
        self.bal: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
        self.docs = 0

    def at(self, day_start: datetime) -> datetime:
        """The next effective time on this day: after the last one, within the day."""
        self.clock = max(self.clock, day_start + timedelta(hours=8))
        step = timedelta(minutes=self.rng.randint(4, 35))
        if self.clock + step >= day_start + timedelta(hours=23):
            step = timedelta(seconds=1)
        self.clock += step
        return self.clock

    def post(self, actor: Actor, day: datetime, data: dict[str, Any]) -> dict[str, Any]:
        doc = stock.create_document(self.conn, actor, {**data, "effective_at": self.at(day)})
        self.docs += 1
        if doc["state"] != "done":
            return doc
        for ln in data["lines"]:
            sku, qty = ln["sku"], ln["qty"]
            kind = data["type"]
            if kind == "receipt":
                self.bal[(sku, data["to_location_id"])] += qty
            elif kind == "transfer":
                self.bal[(sku, data["from_location_id"])] -= qty
                self.bal[(sku, data["to_location_id"])] += qty
            elif kind == "adjustment":
                self.bal[(sku, data["location_id"])] += qty
            else:
                self.bal[(sku, data["from_location_id"])] -= qty
        return doc

    def stocked(self, loc: int, at_least: Decimal = Decimal(1)) -> list[str]:
        return sorted(s for (s, at), q in self.bal.items() if at == loc and q >= at_least)


def load_demo(uow: UnitOfWork, console: Any = None) -> bool:
    """Load the demo org. False (and nothing written) if the demo user already exists."""
    if _demo_exists(uow):
        return False
    try:
        if console is None:
            return uow.write(lambda conn: _load(conn, lambda: None))
        from rich.progress import BarColumn, Progress, TextColumn

        with Progress(
            TextColumn("loading demo data"), BarColumn(), console=console, transient=True
        ) as bar:
            task = bar.add_task("demo", total=DAYS + 2)

            def work(conn: Connection) -> bool:
                bar.reset(task)  # a retried transaction starts over
                return _load(conn, lambda: bar.advance(task))

            return uow.write(work)
    except Conflict:
        if _demo_exists(uow):  # another process loaded it at the same moment
            return False
        raise


def _demo_exists(uow: UnitOfWork) -> bool:
    return uow.read(
        lambda c: (
            c.execute(select(users.c.id).where(users.c.email == DEMO_EMAIL)).first() is not None
        )
    )


def _load(conn: Connection, tick: Callable[[], None]) -> bool:
    if conn.execute(select(users.c.id).where(users.c.email == DEMO_EMAIL)).first():
        return False
    rng = random.Random(SEED)
    signed = access.signup(
        conn, ORG_NAME, DEMO_EMAIL, DEMO_PASSWORD, plan=PLAN, currency="USD", costing_method="fifo"
    )
    owner = Actor(
        org_id=signed["org_id"],
        plan=PLAN,
        roles=("owner",),
        user_id=signed["user_id"],
        email=DEMO_EMAIL,
    )
    mgr = access.create_user(conn, owner, MANAGER_EMAIL, DEMO_PASSWORD, ["manager"])
    access.create_user(conn, owner, APPROVER_EMAIL, DEMO_PASSWORD, ["approver"])
    manager = Actor(
        org_id=owner.org_id, plan=PLAN, roles=("manager",), user_id=mgr["id"], email=MANAGER_EMAIL
    )

    loc: dict[str, int] = {}
    for code, name, kind, parent, sellable in LOCATIONS:
        data: dict[str, Any] = {
            "name": name,
            "code": code,
            "type": kind,
            "parent_id": loc[parent] if parent else None,
        }
        if sellable is not None:
            data["sellable"] = sellable
        loc[code] = catalog.create_location(conn, owner, data)["id"]
    access.update_org(conn, owner, {"default_shipping_location_id": loc["KTM"]})

    items = _create_products(conn, owner, rng)
    tick()
    home = {
        sku: loc[rng.choice([c for c in loc if c.startswith(HOME_ZONE[cat] + "-")])]
        for sku, (cat, _, _) in items.items()
    }
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=DAYS)
    sim = _Sim(conn, rng, start)
    _history(sim, owner, manager, items, home, loc, start, tick)

    archived = catalog.find_variants(conn, owner, sku=ARCHIVE_AT_END)[0]["product_id"]
    catalog.update_product(conn, owner, archived, {"status": "archived"})
    access.update_org(
        conn, owner, {"approval_rules": [{"document_type": "adjustment", "min_qty": Decimal("50")}]}
    )
    # A count found a mislabelled carton: big enough to wait for the owner or the approver.
    tea = "TEA-CHA-250G"
    stock.create_document(
        conn,
        manager,
        {
            "type": "adjustment",
            "location_id": home[tea],
            "reason": "count",
            "note": "cycle count: a mislabelled carton of chai found behind the pallets",
            "lines": [{"sku": tea, "qty": Decimal("60")}],
        },
    )
    _finance(conn, owner, home, today)
    _orders(conn, owner, manager, items)
    stocked = {k: v for k, v in items.items() if not k.startswith(ARCHIVE_AT_END)}
    demo_purchasing.load(conn, owner, stocked, SUPPLIERS, loc["KTM"], today)
    tick()
    return True


def _orders(
    conn: Connection, owner: Actor, manager: Actor, items: dict[str, tuple[str, Decimal, Decimal]]
) -> None:
    """Marketplace orders in every state: confirmed at once (in stock), order requests waiting
    for the seller (out of stock), one awaiting payment, one declined, one picked up and
    delivered."""
    skus = sorted(items)
    in_stock = [s for s in skus if orders_svc.available_of(conn, owner.org_id, s) > 2][:7]
    buyers = ["Sita Rai", "Bikash Thapa", "Anita Gurung", "Ramesh KC", "Pema Sherpa",
              "Nisha Shrestha", "Dawa Lama"]  # fmt: skip

    def place(sku: str, qty: int, who: str) -> dict[str, Any]:
        return orders_svc.place_order(
            conn, owner, {"customer": {"name": who}, "lines": [{"sku": sku, "qty": Decimal(qty)}]}
        )

    shipped = place(in_stock[0], 1, buyers[0])
    orders_svc.pickup(conn, manager, shipped["id"], "picked_up")
    orders_svc.pickup(conn, manager, shipped["id"], "delivered")
    for i, sku in enumerate(in_stock[1:4]):
        place(sku, 1 + i % 2, buyers[1 + i])  # confirmed, pickup requested
    # more than there is: order requests the seller must answer
    requests = [
        place(sku, int(orders_svc.available_of(conn, owner.org_id, sku)) + 3, buyers[4 + i])
        for i, sku in enumerate(in_stock[4:7])
    ]
    if len(requests) > 1:
        orders_svc.accept(conn, manager, requests[0]["id"])  # now awaiting payment
        orders_svc.decline(conn, manager, requests[1]["id"], "out of stock until next harvest")


def _finance(conn: Connection, owner: Actor, home: dict[str, int], today: datetime) -> None:
    """A delivery note found late (a backdated receipt: FIFO re-costs the shipments after it,
    with correcting journal entries), and the books closed through the month before last."""
    sku = "TEA-CHA-250G"
    variant = catalog.find_variants(conn, owner, sku=sku)[0]["id"]
    first = conn.execute(
        select(func.min(moves.c.effective_at)).where(moves.c.variant_id == variant)
    ).scalar_one()
    stock.create_document(
        conn,
        owner,
        {
            "type": "receipt",
            "to_location_id": home[sku],
            "effective_at": first - timedelta(hours=1),
            "note": "delivery note found in the van: a promotional lot received before the "
            "opening stock, entered today",
            "lines": [{"sku": sku, "qty": Decimal("40"), "unit_cost": Decimal("2.4000")}],
        },
    )
    first_of_month = today.replace(day=1)
    close_through = (first_of_month - timedelta(days=1)).replace(day=1) - timedelta(days=1)
    costing.close_period(conn, owner, {"until": close_through.date().isoformat()})


def _create_products(
    conn: Connection, owner: Actor, rng: random.Random
) -> dict[str, tuple[str, Decimal, Decimal]]:
    """Create the catalog; return sku -> (category, price, unit cost) for stocked variants."""
    items: dict[str, tuple[str, Decimal, Decimal]] = {}
    gtin_no = 0
    for stem, name, category, status, variants in PRODUCTS:
        vs = []
        for suffix, attrs, price in variants:
            v: dict[str, Any] = {
                "sku": _sku(stem, suffix),
                "attributes": {"category": category, **attrs},
                "price": Decimal(price),
            }
            if category != "apparel" and rng.random() < 0.7:  # most packaged goods carry EANs
                gtin_no += 1
                v["gtin"] = _gtin(gtin_no)
            vs.append(v)
            if status == "active":
                ratio = Decimal(rng.randint(35, 55)) / 100
                items[v["sku"]] = (
                    category,
                    Decimal(price),
                    (Decimal(price) * ratio).quantize(Decimal("0.01")),
                )
        catalog.create_product(
            conn,
            owner,
            {"name": name, "status": status, "variants": vs, "description": f"{name} ({category})"},
        )
    return items


def _lines(skus: list[str], qty: Callable[[str], int]) -> list[dict[str, Any]]:
    return [{"sku": s, "qty": Decimal(q)} for s in skus if (q := qty(s)) > 0]


def _history(
    sim: _Sim,
    owner: Actor,
    manager: Actor,
    items: dict[str, tuple[str, Decimal, Decimal]],
    home: dict[str, int],
    loc: dict[str, int],
    start: datetime,
    tick: Callable[[], None],
) -> None:
    rng = sim.rng
    by_supplier: dict[str, list[str]] = defaultdict(list)
    for sku, (cat, _, _) in items.items():
        by_supplier[SUPPLIERS[cat]].append(sku)

    def opening_qty(sku: str) -> int:
        cat, price, _ = items[sku]
        if cat == "apparel" or price >= 30:
            return rng.randint(8, 30)
        return rng.randint(60, 180)

    def receive(
        day: datetime,
        supplier: str,
        skus_by_bin: dict[int, list[str]],
        qty: Callable[[str], int],
        drift: Decimal = Decimal(1),
    ) -> None:
        for bin_id, skus in skus_by_bin.items():
            lines = [
                {**ln, "unit_cost": (items[ln["sku"]][2] * drift).quantize(Decimal("0.01"))}
                for ln in _lines(skus, qty)
            ]
            if lines:
                sim.post(
                    owner,
                    day,
                    {
                        "type": "receipt",
                        "to_location_id": bin_id,
                        "lines": lines,
                        "note": f"delivery from {supplier}",
                    },
                )

    def group(skus: list[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = defaultdict(list)
        for s in skus:
            out[home[s]].append(s)
        return dict(sorted(out.items()))

    pkr_bins = [loc[c] for c in ("PKR-A-01", "PKR-A-02", "PKR-A-03")]
    pkr_home = {s: rng.choice(pkr_bins) for s in items if rng.random() < 0.6}
    store = loc["THM-FLOOR"]
    ktm_q = loc["KTM-Q-01"]
    day0 = start
    for supplier, skus in sorted(by_supplier.items()):
        receive(day0, supplier, group(skus), opening_qty)
    tick()
    for day_no in range(1, DAYS):
        day = start + timedelta(days=day_no)
        drift = Decimal(100 + day_no // 15) / 100  # costs creep up ~1% a fortnight
        if day_no % 7 == 0:  # weekly replenishment of what ran low at Kathmandu
            for supplier, skus in sorted(by_supplier.items()):
                low = [s for s in skus if sim.bal[(s, home[s])] < 25]
                receive(
                    day,
                    supplier,
                    group(low),
                    lambda s: opening_qty(s) - int(sim.bal[(s, home[s])]) // 2,
                    drift,
                )
        if day_no % 7 == 3:  # Kathmandu → Pokhara
            cand = [s for s in pkr_home if sim.bal[(s, home[s])] >= 10]
            for bin_id in pkr_bins:
                pick = sorted(rng.sample(cand, min(len(cand), 4)))
                pick = [s for s in pick if pkr_home[s] == bin_id]
                for src in sorted({home[s] for s in pick}):
                    lines = _lines(
                        [s for s in pick if home[s] == src],
                        lambda s: min(int(sim.bal[(s, home[s])]) // 3, 20),
                    )
                    if lines:
                        sim.post(
                            manager,
                            day,
                            {
                                "type": "transfer",
                                "from_location_id": src,
                                "to_location_id": bin_id,
                                "lines": lines,
                                "note": "weekly top-up for Pokhara",
                            },
                        )
        if day_no % 3 == 1:  # Kathmandu → Thamel store (straight to the shop floor)
            want = [s for s in items if sim.bal[(s, store)] < 4 and sim.bal[(s, home[s])] >= 6]
            pick = sorted(rng.sample(want, min(len(want), 8)))
            for src in sorted({home[s] for s in pick}):
                lines = _lines(
                    [s for s in pick if home[s] == src],
                    lambda s: min(int(sim.bal[(s, home[s])]) // 2, 12),
                )
                if lines:
                    sim.post(
                        manager,
                        day,
                        {
                            "type": "transfer",
                            "from_location_id": src,
                            "to_location_id": store,
                            "lines": lines,
                            "note": "store restock",
                        },
                    )
        _sales(sim, manager, day, store, list(set(home.values())), pkr_bins, day_no)
        if day_no % 9 == 4:
            _adjust(sim, owner, day, home, day_no)
        if day_no in (30, 61):  # a pallet got wet: into quarantine, then written off
            bin_id = home["TEA-ILB-250G"]
            damaged = [s for s in sim.stocked(bin_id, Decimal(10))][:3]
            lines = _lines(damaged, lambda s: 3)
            if lines:
                sim.post(
                    manager,
                    day,
                    {
                        "type": "transfer",
                        "from_location_id": bin_id,
                        "to_location_id": ktm_q,
                        "lines": lines,
                        "note": "water damage, held for inspection",
                    },
                )
        if day_no in (33, 64):
            lines = _lines(sim.stocked(ktm_q), lambda s: int(sim.bal[(s, ktm_q)]))
            if lines:
                sim.post(
                    owner,
                    day,
                    {
                        "type": "scrap",
                        "from_location_id": ktm_q,
                        "reason": "damaged",
                        "lines": lines,
                        "note": "inspected: not saleable",
                    },
                )
        if day_no == 75:  # failed quality check at Pokhara, waiting for the supplier
            src = pkr_bins[0]
            lines = _lines(sim.stocked(src, Decimal(5))[:2], lambda s: 2)
            if lines:
                sim.post(
                    manager,
                    day,
                    {
                        "type": "transfer",
                        "from_location_id": src,
                        "to_location_id": loc["PKR-R-01"],
                        "lines": lines,
                        "note": "seal broken, back to supplier",
                    },
                )
        tick()


def _sales(
    sim: _Sim,
    actor: Actor,
    day: datetime,
    store: int,
    ktm_bins: list[int],
    pkr_bins: list[int],
    day_no: int,
) -> None:
    rng = sim.rng
    weekend = day.weekday() >= 5
    plans = [(store, 1 + weekend, 3)]  # walk-in sales, busier at the weekend
    if rng.random() < 0.6:  # online orders picked in Kathmandu or Pokhara
        plans.append((rng.choice(sorted(ktm_bins)), 1, 4))
    if day_no % 3 == 0:
        plans.append((rng.choice(pkr_bins), 1, 3))
    for src, n_orders, max_qty in plans:
        for _ in range(n_orders):
            stocked = sim.stocked(src)
            if not stocked:
                break
            pick = sorted(rng.sample(stocked, min(len(stocked), rng.randint(1, 3))))
            lines = _lines(
                pick,
                lambda s, src=src, top=max_qty: min(int(sim.bal[(s, src)]), rng.randint(1, top)),
            )
            if lines:
                who = "walk-in sale" if src == store else "online order"
                sim.post(
                    actor,
                    day,
                    {"type": "shipment", "from_location_id": src, "lines": lines, "note": who},
                )


def _adjust(sim: _Sim, owner: Actor, day: datetime, home: dict[str, int], day_no: int) -> None:
    rng = sim.rng
    bins = sorted(set(home.values()))
    bin_id = bins[day_no % len(bins)]
    stocked = sim.stocked(bin_id, Decimal(5))
    if not stocked:
        return
    reason = ("damaged", "count", "found")[(day_no // 9) % 3]
    skus = sorted(rng.sample(stocked, min(len(stocked), 2)))
    if reason == "damaged":
        lines = [{"sku": s, "qty": -Decimal(rng.randint(1, 3))} for s in skus]
        note = "crushed in handling"
    elif reason == "found":
        lines = [{"sku": s, "qty": Decimal(rng.randint(1, 4))} for s in skus]
        note = "found on the wrong shelf"
    else:
        lines = [{"sku": s, "qty": Decimal(rng.choice([-3, -2, -1, 1, 2]))} for s in skus]
        note = "cycle count variance"
    sim.post(
        owner,
        day,
        {
            "type": "adjustment",
            "location_id": bin_id,
            "reason": reason,
            "lines": lines,
            "note": note,
        },
    )

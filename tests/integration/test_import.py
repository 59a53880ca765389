"""`hoop import`: products, locations and opening stock from CSV and XLSX, on both engines."""

from __future__ import annotations

import io
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rich.console import Console
from sqlalchemy import func, select

from hoop.adapters.db.tables import locations, moves, products, stock_documents, variants
from hoop.service import access, catalog, queries
from hoop.service.context import Actor
from hoop.service.importer import ImportFailed, run_import
from hoop.service.unit_of_work import UnitOfWork
from tests.helpers import unique

PASSWORD = "password-123"


def signup(uow: UnitOfWork, plan: str = "pro") -> tuple[int, str]:
    email = f"{unique('importer')}@example.com"
    out = uow.write(lambda c: access.signup(c, unique("Org"), email, PASSWORD, plan))
    return int(out["org_id"]), email


def owner(uow: UnitOfWork, org_id: int) -> Actor:
    from hoop.service.importer import resolve_actor

    return uow.read(lambda c: resolve_actor(c, org_id, None))


def write_csv(path: Path, text: str, bom: bool = False) -> Path:
    path.write_text(("\ufeff" if bom else "") + text.strip() + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def counts(uow: UnitOfWork, org_id: int) -> dict[str, int]:
    def q(conn: Any) -> dict[str, int]:
        return {
            t.name: conn.execute(
                select(func.count()).select_from(t).where(t.c.org_id == org_id)
            ).scalar_one()
            for t in (products, variants, locations, moves, stock_documents)
        }

    return uow.read(q)


def variant(uow: UnitOfWork, org_id: int, sku: str) -> dict[str, Any]:
    actor = owner(uow, org_id)
    found = uow.read(lambda c: catalog.find_variants(c, actor, sku=sku))
    assert len(found) == 1, sku
    return found[0]


def product_of(uow: UnitOfWork, org_id: int, sku: str) -> dict[str, Any]:
    actor = owner(uow, org_id)
    pid = variant(uow, org_id, sku)["product_id"]
    return uow.read(lambda c: catalog.get_product(c, actor, pid))


def availability(uow: UnitOfWork, org_id: int, sku: str, **kw: Any) -> dict[str, Any]:
    actor = owner(uow, org_id)
    return uow.read(lambda c: queries.availability(c, actor, sku=sku, **kw))


def location_ids(uow: UnitOfWork, org_id: int) -> dict[str, Any]:
    rows = uow.read(
        lambda c: c.execute(select(locations).where(locations.c.org_id == org_id)).all()
    )
    return {r.code: r for r in rows}


def failure(uow: UnitOfWork, kind: str, path: Path, org_id: int) -> ImportFailed:
    with pytest.raises(ImportFailed) as info:
        run_import(uow, kind, path, org_id=org_id)
    return info.value


def by_row(exc: ImportFailed) -> dict[int, str]:
    out: dict[int, str] = {}
    for e in exc.errors:
        out[e["row"]] = (out.get(e["row"], "") + " | " + e["message"]).strip(" |")
    return out


def setup_catalog(uow: UnitOfWork, org_id: int, tmp_path: Path, skus: list[str]) -> None:
    rows = "\n".join(f"Product {s},{s},{i + 1}" for i, s in enumerate(skus))
    run_import(
        uow,
        "products",
        write_csv(tmp_path / "p.csv", "product_name,sku,price\n" + rows),
        org_id=org_id,
    )
    run_import(
        uow,
        "locations",
        write_csv(
            tmp_path / "l.csv",
            """
name,code,type,parent_code,sellable
Main,WH1,warehouse,,
Shelf,Z1,zone,WH1,
Quarantine,Q1,zone,WH1,false
Store,ST1,store,,
""",
        ),
        org_id=org_id,
    )


# ------------------------------------------------------------------ products


def test_products_csv_groups_variants(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    a, b, c = unique("TEE"), unique("TEE"), unique("MUG")
    path = write_csv(
        tmp_path / "products.csv",
        f"""
Product_Name,SKU,GTIN,Status,Tracking,Price,Attributes
Hemp Tee,{a},4006381333931,draft,,24.50,size=S; colour=olive
Hemp Tee,{b},,,none,24.5,size=M;colour=olive;
Clay Mug,{c},96385074,,,8,
""",
        bom=True,
    )
    summary = run_import(uow, "products", path, org_id=org_id)
    assert summary == "imported 2 products (3 variants)"
    tee = product_of(uow, org_id, a)
    assert tee["name"] == "Hemp Tee" and tee["status"] == "draft" and tee["tracking"] == "none"
    got = {v["sku"]: v for v in tee["variants"]}
    assert set(got) == {a, b}
    assert got[a]["attributes"] == {"size": "S", "colour": "olive"}
    assert got[b]["attributes"] == {"size": "M", "colour": "olive"}
    assert got[a]["gtin"] == "04006381333931" and got[b]["gtin"] is None
    assert got[a]["price"] == Decimal("24.50")
    mug = product_of(uow, org_id, c)
    assert mug["status"] == "active" and mug["variants"][0]["gtin"] == "00000096385074"
    assert mug["variants"][0]["price"] == Decimal(8)


def test_products_xlsx(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    s1, s2, s3 = unique("BOWL"), unique("BOWL"), unique("FLAG")
    path = write_xlsx(
        tmp_path / "products.xlsx",
        [
            ["product_name", "SKU", "gtin", "price", "attributes", None],
            ["Singing Bowl", s1, "5901234123457", 35, "size=small", None],
            ["Singing Bowl", s2, None, 64.99, "size=large", None],
            [None, None, None, None, None, None],  # a blank row in the middle is ignored
            # a UPC typed as a number loses its leading zero; the importer puts it back
            ["Prayer Flags", s3, 36000291452, 9.5, None, None],
        ],
    )
    assert run_import(uow, "products", path, org_id=org_id) == "imported 2 products (3 variants)"
    bowl = {v["sku"]: v for v in product_of(uow, org_id, s1)["variants"]}
    assert bowl[s1]["price"] == Decimal(35) and bowl[s2]["price"] == Decimal("64.99")
    assert bowl[s1]["gtin"] == "05901234123457"
    assert bowl[s2]["attributes"] == {"size": "large"}
    flags = variant(uow, org_id, s3)
    assert flags["gtin"] == "00036000291452" and flags["price"] == Decimal("9.5")


def test_bad_product_rows_are_all_reported_and_nothing_written(
    uow: UnitOfWork, tmp_path: Path
) -> None:
    org_id, _ = signup(uow)
    ok = unique("OK")
    path = write_csv(
        tmp_path / "bad.csv",
        f"""
product_name,sku,gtin,price,status,attributes
Good One,{ok},,5,active,
,{unique("X")},,5,,
Bad Gtin,{unique("X")},4006381333932,5,,
Bad Price,{unique("X")},,12.34567,,
Bad Status,{unique("X")},,1,sold,
Bad Attrs,{unique("X")},,1,,size
Bad Sku,has space,,1,,
Good One,{unique("OK")},,5,archived,
""",
    )
    before = counts(uow, org_id)
    exc = failure(uow, "products", path, org_id)
    rows = by_row(exc)
    assert set(rows) == {3, 4, 5, 6, 7, 8, 9}, exc.errors
    assert "product_name is required" in rows[3]
    assert "gtin" in rows[4] and "check digit" in rows[4]
    assert "price" in rows[5] and "decimal places" in rows[5]
    assert "status" in rows[6] and "sold" in rows[6]
    assert "key=value" in rows[7]
    assert "sku" in rows[8]
    assert "status 'archived' differs" in rows[9] and "row 2" in rows[9]
    assert "bad row" in exc.message
    assert counts(uow, org_id) == before


def test_duplicate_sku_in_file_and_in_database(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    taken, dup, fresh = unique("TAKEN"), unique("DUP"), unique("FRESH")
    run_import(
        uow,
        "products",
        write_csv(tmp_path / "first.csv", f"product_name,sku,gtin\nFirst,{taken},4006381333931"),
        org_id=org_id,
    )
    before = counts(uow, org_id)
    path = write_csv(
        tmp_path / "second.csv",
        f"""
product_name,sku,gtin
Shirt,{dup},
Shirt,{fresh},
Other,{dup},
Again,{taken},
Gtin Twin,{unique("G")},4006381333931
""",
    )
    exc = failure(uow, "products", path, org_id)
    rows = by_row(exc)
    assert set(rows) == {4, 5, 6}, exc.errors
    assert f"sku {dup} already appears in row 2" in rows[4]
    assert f"sku {taken} already exists" in rows[5]
    assert "gtin" in rows[6] and "already exists" in rows[6]
    assert counts(uow, org_id) == before
    # the same sku in another org is no conflict: skus are unique per org
    other, _ = signup(uow)
    assert (
        run_import(
            uow,
            "products",
            write_csv(tmp_path / "other.csv", f"product_name,sku\nFirst,{taken}"),
            org_id=other,
        )
        == "imported 1 products (1 variants)"
    )


@pytest.mark.parametrize(
    "header, message",
    [
        ("product_name,sku,colour", "unknown column(s): colour"),
        ("product_name,price", "missing required column(s): sku"),
        ("product_name,sku,sku", "named twice: sku"),
    ],
)
def test_header_problems(uow: UnitOfWork, tmp_path: Path, header: str, message: str) -> None:
    org_id, _ = signup(uow)
    path = write_csv(tmp_path / "h.csv", f"{header}\nThing,{unique('S')},x")
    before = counts(uow, org_id)
    exc = failure(uow, "products", path, org_id)
    assert exc.errors and all(e["row"] == 1 for e in exc.errors)
    assert any(message in e["message"] for e in exc.errors), exc.errors
    assert counts(uow, org_id) == before


def test_file_problems_are_clear_failures(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "bom-only.csv").write_bytes(b"\xef\xbb\xbf\n\n")
    (tmp_path / "header-only.csv").write_text("product_name,sku\n")
    (tmp_path / "latin1.csv").write_bytes("product_name,sku\nCaf\xe9,X1\n".encode("latin-1"))
    (tmp_path / "data.json").write_text("{}")
    (tmp_path / "broken.xlsx").write_text("not a zip")
    cases = {
        "missing.csv": "file not found",
        "empty.csv": "is empty",
        "bom-only.csv": "is empty",
        "header-only.csv": "no data rows",
        "latin1.csv": "not UTF-8",
        "data.json": "unsupported file type",
        "broken.xlsx": "cannot read broken.xlsx",
    }
    for name, message in cases.items():
        exc = failure(uow, "products", tmp_path / name, org_id)
        assert message in exc.message, (name, exc.message)
    with pytest.raises(ImportFailed, match="unknown import kind"):
        run_import(uow, "widgets", tmp_path / "empty.csv", org_id=org_id)


# ------------------------------------------------------------------ locations


def test_locations_with_parent_codes(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    path = write_csv(
        tmp_path / "locations.csv",
        """
NAME,Code,Type,Parent_Code,Sellable
Kathmandu DC,KTM,warehouse,,
Ambient,KTM-A,zone,KTM,
Bin 1,KTM-A-01,bin,KTM-A,
Quarantine,KTM-Q,zone,KTM,no
Cage,KTM-Q-01,bin,KTM-Q,
Thamel Store,THM,store,,yes
""",
    )
    assert run_import(uow, "locations", path, org_id=org_id) == "imported 6 locations"
    locs = location_ids(uow, org_id)
    ktm, zone, bin1 = locs["KTM"], locs["KTM-A"], locs["KTM-A-01"]
    assert ktm.type == "warehouse" and ktm.parent_id is None and ktm.internal
    assert zone.parent_id == ktm.id and bin1.parent_id == zone.id
    assert bin1.path == f"/{ktm.id}/{zone.id}/{bin1.id}/"
    assert locs["KTM-Q"].sellable is False
    assert locs["KTM-Q-01"].sellable is False  # inherits its parent's
    assert bin1.sellable is True and locs["THM"].sellable is True
    # a later file may hang children under locations already in the database
    more = write_csv(tmp_path / "more.csv", "name,code,type,parent_code\nBin 2,KTM-A-02,bin,KTM-A")
    assert run_import(uow, "locations", more, org_id=org_id) == "imported 1 locations"
    assert location_ids(uow, org_id)["KTM-A-02"].parent_id == zone.id


def test_bad_location_rows(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    run_import(
        uow,
        "locations",
        write_csv(tmp_path / "a.csv", "name,code,type\nOld,OLD,warehouse"),
        org_id=org_id,
    )
    before = counts(uow, org_id)
    path = write_csv(
        tmp_path / "b.csv",
        """
name,code,type,parent_code,sellable
Child First,C1,bin,P1,
Parent,P1,zone,W1,
Warehouse,W1,warehouse,,
Orphan Zone,Z9,zone,,
Bin Under Bin,B2,bin,OLD-NOPE,
Dup,OLD,warehouse,,
Dup Here,W1,store,,
Weird,X1,shelf,W1,
Odd,X2,zone,W1,maybe
Virtual Parent,X3,zone,VIRTUAL-SUPPLIER,
Warehouse In Zone,X4,warehouse,W1,
""",
    )
    rows = by_row(failure(uow, "locations", path, org_id))
    assert set(rows) == {2, 3, 5, 6, 7, 8, 9, 10, 11, 12}, rows
    assert "defined later" in rows[2] and "row 3" in rows[2]
    assert "defined later" in rows[3] and "row 4" in rows[3]
    assert "needs a parent_code" in rows[5]
    assert "not a known location code" in rows[6]
    assert "OLD already exists" in rows[7]
    assert "already appears in row 4" in rows[8]
    assert "type must be" in rows[9]
    assert "sellable" in rows[10]
    assert "virtual" in rows[11]
    assert "cannot sit under" in rows[12]
    assert counts(uow, org_id) == before


# ------------------------------------------------------------------ opening stock


def test_opening_stock_changes_balances(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    tea, salt, bowl = unique("TEA"), unique("SALT"), unique("BOWL")
    setup_catalog(uow, org_id, tmp_path, [tea, salt, bowl])
    locs = location_ids(uow, org_id)
    path = write_csv(
        tmp_path / "stock.csv",
        f"""
sku,location_code,qty,unit_cost
{tea},Z1,100,2.40
{tea},Z1,20,2.55
{salt},Z1,12.5,1
{tea},ST1,30,2.40
{bowl},Q1,3,
""",
    )
    before = counts(uow, org_id)
    summary = run_import(uow, "stock", path, org_id=org_id)
    assert summary.startswith("imported opening stock: 5 rows, 165.5 units into 3 locations")
    assert "(3 receipt documents)" in summary
    a = availability(uow, org_id, tea)
    assert a["on_hand"] == Decimal(150) and a["available"] == Decimal(150)
    per_loc = {x["location_id"]: x["on_hand"] for x in a["locations"]}
    assert per_loc == {locs["Z1"].id: Decimal(120), locs["ST1"].id: Decimal(30)}
    assert availability(uow, org_id, salt)["on_hand"] == Decimal("12.5")
    b = availability(uow, org_id, bowl)
    assert b["on_hand"] == Decimal(3) and b["available"] == Decimal(0)  # quarantine
    after = counts(uow, org_id)
    assert after["stock_documents"] - before["stock_documents"] == 3
    assert after["moves"] - before["moves"] == 5
    docs = uow.read(
        lambda c: c.execute(select(stock_documents).where(stock_documents.c.org_id == org_id)).all()
    )
    assert {(d.type, d.state, d.note) for d in docs} == {("receipt", "done", "opening stock")}
    costs = uow.read(
        lambda c: c.execute(
            select(moves.c.qty, moves.c.unit_cost, moves.c.value)
            .where(moves.c.org_id == org_id)
            .order_by(moves.c.id)
        ).all()
    )
    assert (Decimal(20), Decimal("2.55"), Decimal("51")) in [tuple(r) for r in costs]


def test_bad_stock_rows_report_each_row_and_write_nothing(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow)
    tea, old = unique("TEA"), unique("OLD")
    setup_catalog(uow, org_id, tmp_path, [tea, old])
    actor = owner(uow, org_id)
    pid = variant(uow, org_id, old)["product_id"]
    uow.write(lambda c: catalog.update_product(c, actor, pid, {"status": "archived"}))
    path = write_csv(
        tmp_path / "stock.csv",
        f"""
sku,location_code,qty,unit_cost,lot
{tea},Z1,10,2
NO-SUCH-SKU,Z1,1,1
{tea},NOWHERE,1,1
{tea},Z1,0,1
{tea},Z1,abc,1
{tea},Z1,5,-1
{tea},VIRTUAL-SUPPLIER,1,1
{old},Z1,1,1
{tea},ST1,1,1,LOT-1
{tea},Z1,10,2
{tea},ST1,4,1
""",
    )
    before = counts(uow, org_id)
    exc = failure(uow, "stock", path, org_id)
    rows = by_row(exc)
    assert set(rows) == {3, 4, 5, 6, 7, 8, 9, 10, 11}, exc.errors
    assert "NO-SUCH-SKU does not exist" in rows[3]
    assert "NOWHERE does not exist" in rows[4]
    assert "greater than zero" in rows[5]
    assert "not a decimal" in rows[6]
    assert "unit_cost must not be negative" in rows[7]
    assert "virtual" in rows[8]
    assert "archived" in rows[9]
    assert "not lot-tracked" in rows[10]
    assert "repeats row 2" in rows[11]
    assert exc.message.startswith("9 bad row(s)")
    assert counts(uow, org_id) == before
    assert availability(uow, org_id, tea)["on_hand"] == 0


def test_lot_tracked_opening_stock(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, _ = signup(uow, plan="enterprise")
    lot_sku, serial_sku = unique("MILK"), unique("PHONE")
    run_import(
        uow,
        "products",
        write_csv(
            tmp_path / "p.csv",
            f"""
product_name,sku,tracking,tracks_expiry
Yak Milk Powder,{lot_sku},lot,true
Phone,{serial_sku},serial,
""",
        ),
        org_id=org_id,
    )
    run_import(
        uow,
        "locations",
        write_csv(tmp_path / "l.csv", "name,code,type\nW,W1,warehouse"),
        org_id=org_id,
    )
    bad = write_xlsx(
        tmp_path / "bad.xlsx",
        [
            ["sku", "location_code", "qty", "lot", "expiry", "serial"],
            [lot_sku, "W1", 5, None, None, None],
            [lot_sku, "W1", 5, "L1", "31/12/2027", None],
            [serial_sku, "W1", 2, None, None, "SN-1"],
            [serial_sku, "W1", 1, None, None, None],
        ],
    )
    rows = by_row(failure(uow, "stock", bad, org_id))
    assert set(rows) == {2, 3, 4, 5}
    assert "give a lot" in rows[2] and "expiry" in rows[2]
    assert "YYYY-MM-DD" in rows[3]
    assert "exactly 1 unit" in rows[4]
    assert "give one serial per row" in rows[5]
    good = write_xlsx(
        tmp_path / "good.xlsx",
        [
            ["sku", "location_code", "qty", "lot", "expiry", "serial"],
            [lot_sku, "W1", 5, "L1", datetime(2027, 12, 31), None],  # a real date cell
            [lot_sku, "W1", 7, "L2", "2028-01-31", None],
            [serial_sku, "W1", 1, None, None, "SN-1"],
            [serial_sku, "W1", 1, None, None, "SN-2"],
        ],
    )
    run_import(uow, "stock", good, org_id=org_id)
    assert availability(uow, org_id, lot_sku)["on_hand"] == Decimal(12)
    assert availability(uow, org_id, serial_sku)["on_hand"] == Decimal(2)
    again = write_csv(
        tmp_path / "again.csv", f"sku,location_code,qty,serial\n{serial_sku},W1,1,SN-2"
    )
    assert "SN-2 is already in stock" in by_row(failure(uow, "stock", again, org_id))[2]


def test_large_stock_file_is_fast_and_exact(uow: UnitOfWork, tmp_path: Path) -> None:
    """20,000 rows: one receipt per location, not per row; a progress bar when a console is
    given."""
    org_id, _ = signup(uow)
    skus = [unique("S") for _ in range(40)]
    setup_catalog(uow, org_id, tmp_path, skus)
    codes = ["Z1", "Q1", "ST1", "WH1"]
    lines = ["sku,location_code,qty,unit_cost"]
    expected: dict[str, Decimal] = {s: Decimal(0) for s in skus}
    for i in range(20_000):
        sku = skus[i % 40]
        qty = Decimal(i % 7 + 1)
        # same sku and location at different costs: separate cost layers, not repeats
        lines.append(f"{sku},{codes[i // 5000]},{qty},{i // 40}.25")
        expected[sku] += qty
    path = write_csv(tmp_path / "big.csv", "\n".join(lines))
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    t0 = time.perf_counter()
    summary = run_import(uow, "stock", path, org_id=org_id, console=console)
    elapsed = time.perf_counter() - t0
    assert "20,000 rows" in summary and "(4 receipt documents)" in summary
    assert "checking opening stock" in out.getvalue()
    assert counts(uow, org_id)["moves"] == 20_000
    for sku in skus[:5]:
        assert availability(uow, org_id, sku)["on_hand"] == expected[sku]
    assert elapsed < 60, f"20,000 stock rows took {elapsed:.1f}s"


# ------------------------------------------------------------------ who acts


def test_acting_org_and_user(uow: UnitOfWork, tmp_path: Path) -> None:
    org_id, owner_email = signup(uow)
    signup(uow)  # at least two orgs exist now
    path = write_csv(tmp_path / "l.csv", "name,code,type\nW,W1,warehouse")
    with pytest.raises(ImportFailed, match="--org"):
        run_import(uow, "locations", path)
    with pytest.raises(ImportFailed, match="no organization with id"):
        run_import(uow, "locations", path, org_id=10**9)
    actor = owner(uow, org_id)
    assert actor.email == owner_email and actor.plan == "pro" and actor.roles == ("owner",)
    clerk = f"{unique('clerk')}@example.com"
    uow.write(lambda c: access.create_user(c, actor, clerk, PASSWORD, ["clerk"]))
    with pytest.raises(ImportFailed, match="may not import"):
        run_import(uow, "locations", path, org_id=org_id, email=clerk)
    with pytest.raises(ImportFailed, match="does not belong"):
        run_import(uow, "locations", path, org_id=org_id + 1, email=clerk)
    with pytest.raises(ImportFailed, match="no user"):
        run_import(uow, "locations", path, email="nobody-" + clerk)
    # the email alone picks the org
    assert run_import(uow, "locations", path, email=owner_email) == "imported 1 locations"
    assert "W1" in location_ids(uow, org_id)

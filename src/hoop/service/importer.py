"""Bulk import of products, locations and opening stock from a .csv or .xlsx file.

Every row is checked first, against the file and the database. If any row is bad, ImportFailed
lists each bad row (numbered as a spreadsheet shows it: the header is row 1) and nothing is
written. Otherwise everything is written in one transaction, all or nothing, through the same
service functions the API uses.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from hoop.adapters.db.tables import locations, orgs, serials, users, variants
from hoop.domain.catalog import ProductStatus, Tracking, normalize_gtin, validate_sku
from hoop.domain.errors import HoopError
from hoop.domain.locations import ROOT_TYPES, child_allowed, is_internal
from hoop.domain.plans import plan_allows
from hoop.domain.quantities import parse_decimal
from hoop.service import catalog, stock
from hoop.service.context import Actor
from hoop.service.unit_of_work import UnitOfWork

PROGRESS_MIN_ROWS = 1000
IN_CHUNK = 1000

# kind -> (required columns, optional columns)
COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "products": (
        ("product_name", "sku"),
        ("gtin", "status", "tracking", "price", "attributes", "description", "tracks_expiry"),
    ),
    "locations": (("name", "code", "type"), ("parent_code", "sellable")),
    "stock": (("sku", "location_code", "qty"), ("unit_cost", "lot", "expiry", "serial")),
}
KIND_ALIASES = {
    "product": "products",
    "location": "locations",
    "opening_stock": "stock",
    "opening-stock": "stock",
}
TRUE = {"true", "yes", "y", "1", "t"}
FALSE = {"false", "no", "n", "0", "f"}

Row = tuple[int, dict[str, str]]


class ImportFailed(Exception):
    """The import wrote nothing. `errors` holds `{"row": n, "message": ...}` per bad row."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or []


class _Errors:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, row: int, message: str) -> None:
        self.items.append({"row": row, "message": message})

    def raise_if_any(self, what: str) -> None:
        if self.items:
            self.items.sort(key=lambda e: e["row"])
            rows = len({e["row"] for e in self.items})
            raise ImportFailed(f"{rows:,} bad row(s) in the {what} file", self.items)


# ------------------------------------------------------------------ entry point


def run_import(
    uow: UnitOfWork,
    kind: str,
    path: str | Path,
    *,
    org_id: int | None = None,
    email: str | None = None,
    console: Any = None,
) -> str:
    """Import a file of `kind` (products | locations | stock); return a one-line summary."""
    key = kind.strip().lower()
    key = KIND_ALIASES.get(key, key)
    if key not in COLUMNS:
        raise ImportFailed(f"unknown import kind {kind!r}: use products, locations or stock")
    rows = read_rows(Path(path), key)
    handler = {
        "products": _import_products,
        "locations": _import_locations,
        "stock": _import_stock,
    }[key]

    def work(conn: Connection) -> str:
        actor = resolve_actor(conn, org_id, email)
        return handler(conn, actor, rows, console)

    try:
        return uow.write(work)
    except DBAPIError as exc:
        raise ImportFailed(f"the database refused the import: {_db_message(exc)}") from None


def _db_message(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


# ------------------------------------------------------------------ who acts


def resolve_actor(conn: Connection, org_id: int | None, email: str | None) -> Actor:
    """The given email's user, or the org's first owner, in the given (or the only) org."""
    user = None
    if email:
        user = conn.execute(select(users).where(users.c.email == email.strip().lower())).first()
        if user is None:
            raise ImportFailed(f"no user with email {email}")
        if org_id is not None and user.org_id != org_id:
            raise ImportFailed(f"user {email} does not belong to org {org_id}")
        if not user.active:
            raise ImportFailed(f"user {email} is deactivated")
        org_id = user.org_id
    elif org_id is None:
        ids = conn.execute(select(orgs.c.id).order_by(orgs.c.id).limit(2)).scalars().all()
        if not ids:
            raise ImportFailed("there is no organization yet: sign up (or run `hoop demo`) first")
        if len(ids) > 1:
            raise ImportFailed("there are several organizations: choose one with --org ID")
        org_id = ids[0]
    plan = conn.execute(select(orgs.c.plan).where(orgs.c.id == org_id)).scalar()
    if plan is None:
        raise ImportFailed(f"no organization with id {org_id}")
    if user is None:
        candidates = conn.execute(
            select(users).where(users.c.org_id == org_id, users.c.active).order_by(users.c.id)
        ).all()
        user = next((u for u in candidates if "owner" in (u.roles or [])), None)
        if user is None:
            raise ImportFailed(f"org {org_id} has no active owner: choose a user with --email")
    return Actor(
        org_id=org_id, plan=plan, roles=tuple(user.roles or ()), user_id=user.id, email=user.email
    )


def _require(actor: Actor, action: str, feature: str | None = None) -> None:
    try:
        actor.require(action, feature)
    except HoopError as exc:
        who = actor.email or f"user {actor.user_id}"
        raise ImportFailed(f"{who} may not import this: {exc.message}") from None


# ------------------------------------------------------------------ reading files


def read_rows(path: Path, kind: str) -> list[Row]:
    """The file's data rows as (spreadsheet row number, {column: text}); header checked."""
    if not path.exists():
        raise ImportFailed(f"file not found: {path}")
    if not path.is_file():
        raise ImportFailed(f"not a file: {path}")
    ext = path.suffix.lower()
    if ext == ".csv":
        records: list[Sequence[Any]] = _csv_records(path)
    elif ext == ".xlsx":
        records = _xlsx_records(path)
    else:
        raise ImportFailed(
            f"unsupported file type {ext or '(no extension)'!r}: use a .csv (UTF-8) or .xlsx file"
        )
    return _table(records, kind, path.name)


def _csv_records(path: Path) -> list[Sequence[Any]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            first = f.readline()
            f.seek(0)
            # Spreadsheets in some locales save CSV with ';' between fields.
            delimiter = ";" if ";" in first and "," not in first else ","
            return list(csv.reader(f, delimiter=delimiter))
    except UnicodeDecodeError:
        raise ImportFailed(f"{path.name} is not UTF-8 text: save it as 'CSV UTF-8'") from None
    except (csv.Error, OSError) as exc:
        raise ImportFailed(f"cannot read {path.name}: {exc}") from None


def _xlsx_records(path: Path) -> list[Sequence[Any]]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise ImportFailed(f"cannot read {path.name} as an .xlsx workbook: {exc}") from None
    try:
        if not wb.worksheets:
            return []
        return [tuple(r) for r in wb.worksheets[0].iter_rows(values_only=True)]
    except Exception as exc:
        raise ImportFailed(f"cannot read {path.name} as an .xlsx workbook: {exc}") from None
    finally:
        wb.close()


def _cell(value: Any, column: str = "") -> str:
    """A cell as text. Spreadsheet numbers, dates and booleans become what a person typed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # Excel keeps 15 significant digits; more are binary noise (0.1 + 0.2).
        text = str(int(value)) if value.is_integer() else format(value, ".15g")
    else:
        return str(value).strip()
    if column == "gtin" and text.isdigit() and len(text) < 14:
        text = text.zfill(14)  # a GTIN typed as a number lost its leading zeros
    return text


def _header_name(value: Any) -> str:
    return re.sub(r"[\s\-]+", "_", _cell(value).strip().lower())


def _table(records: list[Sequence[Any]], kind: str, name: str) -> list[Row]:
    if not records or all(not _cell(v) for rec in records for v in rec):
        raise ImportFailed(f"{name} is empty: the first row must name the columns")
    required, optional = COLUMNS[kind]
    header = [_header_name(v) for v in records[0]]
    while header and not header[-1]:
        header.pop()
    problems: list[str] = []
    if not header:
        problems.append("row 1 must be the header row naming the columns")
    blanks = [i + 1 for i, h in enumerate(header) if not h]
    if blanks:
        problems.append("column(s) " + ", ".join(map(str, blanks)) + " have no name")
    dupes = sorted({h for h in header if h and header.count(h) > 1})
    if dupes:
        problems.append("column(s) named twice: " + ", ".join(dupes))
    unknown = [h for h in header if h and h not in required + optional]
    if unknown:
        problems.append(
            "unknown column(s): "
            + ", ".join(unknown)
            + "; a "
            + kind
            + " file takes "
            + ", ".join(required + optional)
        )
    missing = [c for c in required if c not in header]
    if missing:
        problems.append("missing required column(s): " + ", ".join(missing))
    if problems:
        raise ImportFailed(
            f"the header row of {name} is not right", [{"row": 1, "message": p} for p in problems]
        )
    rows: list[Row] = []
    errs = _Errors()
    width = len(header)
    for n, rec in enumerate(records[1:], start=2):
        values = [_cell(v, header[i] if i < width else "") for i, v in enumerate(rec)]
        if not any(values):
            continue  # blank lines are ignored
        if any(values[width:]):
            errs.add(n, f"a value sits in column {width + 1} or later, which has no header")
            continue
        values += [""] * (width - len(values))
        rows.append((n, dict(zip(header, values, strict=False))))
    errs.raise_if_any(kind)
    if not rows:
        raise ImportFailed(f"{name} has a header row but no data rows")
    return rows


# ------------------------------------------------------------------ helpers


class _Ticker:
    def __init__(self, advance: Callable[[int], None] | None) -> None:
        self._advance = advance
        self._pending = 0

    def __call__(self, n: int = 1) -> None:
        if self._advance is None:
            return
        self._pending += n
        if self._pending >= 100:
            self._advance(self._pending)
            self._pending = 0

    def flush(self) -> None:
        if self._advance is not None and self._pending:
            self._advance(self._pending)
            self._pending = 0


@contextmanager
def _progress(console: Any, total: int, label: str) -> Iterator[_Ticker]:
    """A Rich progress bar over rows when there is a console and the file is large."""
    if console is None or total <= PROGRESS_MIN_ROWS:
        yield _Ticker(None)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        ticker = _Ticker(lambda n: bar.advance(task, n))
        yield ticker
        ticker.flush()


def _chunks(items: Sequence[Any], n: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _decimal(value: str, name: str, errs: _Errors, row: int) -> Decimal | None:
    try:
        return parse_decimal(value, name)
    except HoopError as exc:
        errs.add(row, f"{exc.message} (got {value!r})")
        return None


def _bool(value: str) -> bool | None:
    v = value.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise ValueError(value)


def _text(row: dict[str, str], name: str, max_len: int, errs: _Errors, n: int) -> str:
    value = row.get(name, "")
    if not value:
        errs.add(n, f"{name} is required")
    elif len(value) > max_len:
        errs.add(n, f"{name} is longer than {max_len} characters")
    return value


def _parse_attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise ValueError(f"attributes must look like key=value;key=value (got {part!r})")
        if not value:
            raise ValueError(f"attribute {key!r} has no value")
        if key in out:
            raise ValueError(f"attribute {key!r} is given twice")
        out[key] = value
    return out


def _existing(
    conn: Connection, column: Any, org_column: Any, org_id: int, values: Iterable[str]
) -> set[str]:
    found: set[str] = set()
    items = sorted(set(values))
    for chunk in _chunks(items):
        found.update(
            conn.execute(
                select(column).where(org_column == org_id, column.in_(list(chunk)))
            ).scalars()
        )
    return found


def _write_error(exc: Exception, row: int, what: str) -> ImportFailed:
    msg = exc.message if isinstance(exc, HoopError) else _db_message(exc)  # type: ignore[arg-type]
    return ImportFailed(
        f"the database refused {what} from row {row}: {msg}", [{"row": row, "message": msg}]
    )


# ------------------------------------------------------------------ products


@dataclass
class _Product:
    name: str
    first_row: int
    fields: dict[str, Any] = field(default_factory=dict)  # status, tracking, ... as given
    given_in: dict[str, int] = field(default_factory=dict)
    variants: list[dict[str, Any]] = field(default_factory=list)


PRODUCT_FIELDS = ("status", "tracking", "description", "tracks_expiry")


def _product_fields(row: dict[str, str], actor: Actor, errs: _Errors, n: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    status = row.get("status", "").lower()
    if status:
        if status in ProductStatus.__members__:
            out["status"] = status
        else:
            errs.add(n, f"status must be draft, active or archived (got {status!r})")
    tracking = row.get("tracking", "").lower()
    if tracking:
        if tracking not in Tracking.__members__:
            errs.add(n, f"tracking must be none, lot or serial (got {tracking!r})")
        elif tracking != "none" and not plan_allows(actor.plan, "traceability"):
            errs.add(
                n, f"{tracking} tracking needs the enterprise plan (this org is on {actor.plan})"
            )
        else:
            out["tracking"] = tracking
    if row.get("description"):
        if len(row["description"]) > 10_000:
            errs.add(n, "description is longer than 10000 characters")
        else:
            out["description"] = row["description"]
    if row.get("tracks_expiry"):
        try:
            out["tracks_expiry"] = _bool(row["tracks_expiry"])
        except ValueError:
            errs.add(n, f"tracks_expiry must be true or false (got {row['tracks_expiry']!r})")
    return out


def _validate_products(
    conn: Connection, actor: Actor, rows: list[Row], tick: _Ticker
) -> list[_Product]:
    errs = _Errors()
    groups: dict[str, _Product] = {}
    sku_rows: dict[str, int] = {}
    gtin_rows: dict[str, int] = {}
    for n, row in rows:
        tick()
        name = _text(row, "product_name", 300, errs, n)
        variant: dict[str, Any] = {"row": n}
        raw_sku = row.get("sku", "")
        if not raw_sku:
            errs.add(n, "sku is required")
        else:
            try:
                sku = validate_sku(raw_sku)
                if sku in sku_rows:
                    errs.add(n, f"sku {sku} already appears in row {sku_rows[sku]}")
                else:
                    sku_rows[sku] = n
                variant["sku"] = sku
            except HoopError as exc:
                errs.add(n, f"{exc.message} (got {raw_sku!r})")
        if row.get("gtin"):
            try:
                gtin = normalize_gtin(row["gtin"])
                if gtin in gtin_rows:
                    errs.add(n, f"gtin {row['gtin']} already appears in row {gtin_rows[gtin]}")
                else:
                    gtin_rows[gtin] = n
                variant["gtin"] = gtin
            except HoopError as exc:
                errs.add(n, exc.message)
        if row.get("price"):
            price = _decimal(row["price"], "price", errs, n)
            if price is not None and price < 0:
                errs.add(n, f"price must not be negative (got {row['price']})")
            variant["price"] = price
        try:
            variant["attributes"] = _parse_attributes(row.get("attributes", ""))
        except ValueError as exc:
            errs.add(n, str(exc))
        fields = _product_fields(row, actor, errs, n)
        if not name:
            continue
        group = groups.get(name)
        if group is None:
            group = groups[name] = _Product(name, n)
        for k, v in fields.items():
            if k in group.fields and group.fields[k] != v:
                errs.add(
                    n,
                    f"{k} {v!r} differs from {group.fields[k]!r} in row "
                    f"{group.given_in[k]} for the same product {name!r}",
                )
            elif k not in group.fields:
                group.fields[k], group.given_in[k] = v, n
        group.variants.append(variant)
    for g in groups.values():
        if g.fields.get("tracks_expiry") and g.fields.get("tracking", "none") == "none":
            errs.add(
                g.given_in["tracks_expiry"],
                f"tracks_expiry needs lot or serial tracking (product {g.name!r})",
            )
        if len(g.variants) > 1000:
            errs.add(g.variants[1000]["row"], f"product {g.name!r} has more than 1000 variants")
    for sku in sorted(_existing(conn, variants.c.sku, variants.c.org_id, actor.org_id, sku_rows)):
        errs.add(sku_rows[sku], f"sku {sku} already exists")
    for gtin in _existing(conn, variants.c.gtin, variants.c.org_id, actor.org_id, gtin_rows):
        errs.add(gtin_rows[gtin], f"gtin {gtin.lstrip('0')} already exists on another variant")
    errs.raise_if_any("products")
    return list(groups.values())


def _import_products(conn: Connection, actor: Actor, rows: list[Row], console: Any) -> str:
    _require(actor, "catalog.write")
    with _progress(console, len(rows), "checking products") as tick:
        groups = _validate_products(conn, actor, rows, tick)
    n_variants = 0
    with _progress(console, len(rows), "writing products") as tick:
        for g in groups:
            data = {
                "name": g.name,
                **g.fields,
                "variants": [{k: v for k, v in var.items() if k != "row"} for var in g.variants],
            }
            try:
                catalog.create_product(conn, actor, data)
            except (HoopError, IntegrityError) as exc:
                raise _write_error(exc, g.first_row, f"product {g.name!r}") from None
            n_variants += len(g.variants)
            tick(len(g.variants))
    return f"imported {len(groups):,} products ({n_variants:,} variants)"


# ------------------------------------------------------------------ locations


def _org_locations(conn: Connection, org_id: int) -> dict[str, Any]:
    rows = conn.execute(
        select(locations.c.id, locations.c.code, locations.c.type, locations.c.internal).where(
            locations.c.org_id == org_id
        )
    ).all()
    return {r.code: r for r in rows}


def _import_locations(conn: Connection, actor: Actor, rows: list[Row], console: Any) -> str:
    _require(actor, "locations.write")
    errs = _Errors()
    in_db = _org_locations(conn, actor.org_id)
    defined: dict[str, tuple[int, str]] = {}  # code -> (row, type) for codes in this file
    later = {row["code"]: n for n, row in reversed(rows) if row.get("code")}
    plan: list[tuple[int, dict[str, Any], str]] = []  # (row, data without parent, parent_code)
    with _progress(console, len(rows), "checking locations") as tick:
        for n, row in rows:
            tick()
            name = _text(row, "name", 200, errs, n)
            code = _text(row, "code", 64, errs, n)
            kind = row.get("type", "").lower()
            if not kind:
                errs.add(n, "type is required")
            elif kind not in ("warehouse", "store", "zone", "bin") or not is_internal(kind):
                errs.add(n, f"type must be warehouse, store, zone or bin (got {kind!r})")
                kind = ""
            if code:
                if code in defined:
                    errs.add(n, f"code {code} already appears in row {defined[code][0]}")
                elif code in in_db:
                    errs.add(n, f"location code {code} already exists")
            sellable = None
            if row.get("sellable"):
                try:
                    sellable = _bool(row["sellable"])
                except ValueError:
                    errs.add(n, f"sellable must be true or false (got {row['sellable']!r})")
            parent = row.get("parent_code", "")
            parent_type = None
            if not parent:
                if kind and kind not in {t.value for t in ROOT_TYPES}:
                    errs.add(n, f"a {kind} needs a parent_code (a warehouse, store or zone)")
            elif parent == code:
                errs.add(n, "a location cannot be its own parent")
            elif parent in defined:
                parent_type = defined[parent][1]
            elif parent in in_db:
                if not in_db[parent].internal:
                    errs.add(n, f"parent_code {parent} is a virtual location")
                else:
                    parent_type = in_db[parent].type
            elif parent in later:
                errs.add(
                    n,
                    f"parent_code {parent} is defined later, in row {later[parent]}: "
                    "list parents before their children",
                )
            else:
                errs.add(n, f"parent_code {parent} is not a known location code")
            if parent_type and kind and not child_allowed(parent_type, kind):
                errs.add(n, f"a {kind} cannot sit under a {parent_type} ({parent})")
            if code and code not in defined and code not in in_db:
                defined[code] = (n, kind)
            plan.append(
                (n, {"name": name, "code": code, "type": kind, "sellable": sellable}, parent)
            )
    errs.raise_if_any("locations")
    ids = {code: r.id for code, r in in_db.items()}
    with _progress(console, len(plan), "writing locations") as tick:
        for n, data, parent in plan:
            data["parent_id"] = ids[parent] if parent else None
            try:
                ids[data["code"]] = catalog.create_location(conn, actor, data)["id"]
            except (HoopError, IntegrityError) as exc:
                raise _write_error(exc, n, f"location {data['code']!r}") from None
            tick()
    return f"imported {len(plan):,} locations"


# ------------------------------------------------------------------ opening stock


@dataclass
class _StockLine:
    row: int
    location_id: int
    line: dict[str, Any]


def _stock_variants(conn: Connection, org_id: int, skus: set[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for chunk in _chunks(sorted(skus)):
        for k, v in catalog.resolve_variants(conn, org_id, set(chunk), set()).items():
            if isinstance(k, str):
                found[k] = v
    return found


def _taken_serials(
    conn: Connection, org_id: int, wanted: dict[tuple[int, str], int]
) -> set[tuple[int, str]]:
    """(variant_id, serial) pairs that are already in stock at an internal location."""
    internal = select(locations.c.id).where(
        locations.c.org_id == org_id, locations.c.internal.is_(True)
    )
    taken: set[tuple[int, str]] = set()
    by_variant: dict[int, list[str]] = {}
    for vid, s in wanted:
        by_variant.setdefault(vid, []).append(s)
    for vid, ss in by_variant.items():
        for chunk in _chunks(sorted(ss)):
            taken.update(
                (vid, s)
                for s in conn.execute(
                    select(serials.c.serial).where(
                        serials.c.org_id == org_id,
                        serials.c.variant_id == vid,
                        serials.c.serial.in_(list(chunk)),
                        serials.c.location_id.in_(internal),
                    )
                ).scalars()
            )
    return taken


def _check_stock_row(n: int, row: dict[str, str], v: Any, errs: _Errors) -> dict[str, Any]:
    """Validate one row's quantities, lot, expiry and serial against its variant."""
    line: dict[str, Any] = {"sku": row["sku"]}
    qty = _decimal(row.get("qty", ""), "qty", errs, n) if row.get("qty") else None
    if not row.get("qty"):
        errs.add(n, "qty is required")
    elif qty is not None and qty <= 0:
        errs.add(n, f"qty must be greater than zero (got {row['qty']})")
    line["qty"] = qty
    if row.get("unit_cost"):
        cost = _decimal(row["unit_cost"], "unit_cost", errs, n)
        if cost is not None and cost < 0:
            errs.add(n, f"unit_cost must not be negative (got {row['unit_cost']})")
        line["unit_cost"] = cost
    tracking = v.tracking if v is not None else None
    lot, serial, expiry = row.get("lot", ""), row.get("serial", ""), row.get("expiry", "")
    if lot:
        if not stock.LOT_RE.match(lot):
            errs.add(n, f"lot must be 1-64 letters, digits or . _ / - (got {lot!r})")
        elif tracking == "none":
            errs.add(n, f"sku {row['sku']} is not lot-tracked: leave lot empty")
        line["lot"] = lot
    elif tracking == "lot":
        errs.add(n, f"sku {row['sku']} is lot-tracked: give a lot")
    if expiry:
        try:
            day = expiry.split("T")[0]  # a date-and-time cell keeps its date
            line["expiry"] = date.fromisoformat(day).isoformat()
        except ValueError:
            errs.add(n, f"expiry must be a date YYYY-MM-DD (got {expiry!r})")
        if not lot:
            errs.add(n, "expiry belongs to a lot: give the lot too")
    elif v is not None and v.tracks_expiry and tracking == "lot":
        errs.add(n, f"sku {row['sku']} tracks expiry: give the lot's expiry")
    if serial:
        if not stock.LOT_RE.match(serial):
            errs.add(n, f"serial must be 1-64 letters, digits or . _ / - (got {serial!r})")
        elif tracking is not None and tracking != "serial":
            errs.add(n, f"sku {row['sku']} is not serial-tracked: leave serial empty")
        elif qty is not None and qty != 1:
            errs.add(n, f"a row with a serial holds exactly 1 unit (got qty {row['qty']})")
        line["serials"] = [serial]
    elif tracking == "serial":
        errs.add(n, f"sku {row['sku']} is serial-tracked: give one serial per row, qty 1")
    return line


def _import_stock(conn: Connection, actor: Actor, rows: list[Row], console: Any) -> str:
    _require(actor, "documents.write")
    errs = _Errors()
    found = _stock_variants(conn, actor.org_id, {r["sku"] for _, r in rows if r.get("sku")})
    locs = _org_locations(conn, actor.org_id)
    seen: dict[tuple[Any, ...], int] = {}
    serial_rows: dict[tuple[int, str], int] = {}
    lines: list[_StockLine] = []
    with _progress(console, len(rows), "checking opening stock") as tick:
        for n, row in rows:
            tick()
            sku, code = row.get("sku", ""), row.get("location_code", "")
            v = found.get(sku)
            if not sku:
                errs.add(n, "sku is required")
            elif v is None:
                errs.add(n, f"sku {sku} does not exist")
            elif v.status == "archived":
                errs.add(n, f"sku {sku} belongs to an archived product, which takes no stock")
            loc = locs.get(code)
            if not code:
                errs.add(n, "location_code is required")
            elif loc is None:
                errs.add(n, f"location_code {code} does not exist")
            elif not loc.internal:
                errs.add(
                    n,
                    f"location_code {code} is a virtual location: use a warehouse, "
                    "store, zone or bin",
                )
            line = _check_stock_row(n, row, v, errs)
            # The same sku and place twice at different unit costs are two cost layers; at the
            # same cost it is most likely a row pasted twice.
            key = (sku, code, row.get("lot", ""), row.get("serial", ""), line.get("unit_cost"))
            if key in seen:
                errs.add(
                    n,
                    f"repeats row {seen[key]} (same sku, location, lot, serial and "
                    "unit_cost): merge the two rows into one",
                )
            else:
                seen[key] = n
            if v is not None and row.get("serial"):
                skey = (v.id, row["serial"])
                if skey not in serial_rows:
                    serial_rows[skey] = n
                elif seen[key] == n:  # a repeated row is reported once, above
                    errs.add(
                        n,
                        f"serial {row['serial']} of sku {sku} already appears in row "
                        f"{serial_rows[skey]}",
                    )
            if loc is not None:
                lines.append(_StockLine(n, loc.id, line))
    for vid, s in sorted(_taken_serials(conn, actor.org_id, serial_rows)):
        errs.add(serial_rows[(vid, s)], f"serial {s} is already in stock")
    errs.raise_if_any("opening stock")
    return _post_opening_stock(conn, actor, lines, console)


def _post_opening_stock(
    conn: Connection, actor: Actor, lines: list[_StockLine], console: Any
) -> str:
    by_location: dict[int, list[_StockLine]] = {}
    for ln in lines:
        by_location.setdefault(ln.location_id, []).append(ln)
    docs = pending = 0
    total = Decimal(0)
    with _progress(console, len(lines), "writing opening stock") as tick:
        for loc_id, group in by_location.items():
            for chunk in _chunks(group, stock.MAX_LINES):
                try:
                    doc = stock.create_document(
                        conn,
                        actor,
                        {
                            "type": "receipt",
                            "to_location_id": loc_id,
                            "note": "opening stock",
                            "lines": [ln.line for ln in chunk],
                        },
                    )
                except (HoopError, IntegrityError) as exc:
                    raise _write_error(exc, chunk[0].row, "the opening stock") from None
                docs += 1
                pending += doc["state"] == "pending_approval"
                total += sum((ln.line["qty"] for ln in chunk), Decimal(0))
                tick(len(chunk))
    units = format(total.normalize(), ",f") if total else "0"
    out = (
        f"imported opening stock: {len(lines):,} rows, {units} units into "
        f"{len(by_location):,} locations ({docs:,} receipt documents)"
    )
    if pending:
        out += f"; {pending:,} await approval under the org's approval rules"
    return out

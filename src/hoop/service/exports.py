"""Reports as tables: CSV and XLSX downloads of the finance reports (API and CLI alike)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from hoop.domain.errors import ValidationFailed
from hoop.domain.quantities import Cents, decimal_text

FORMATS = ("json", "csv", "xlsx")
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

Table = tuple[str, list[str], list[list[Any]]]  # title, header, rows


def _total(n: int, label: str, *values: Any) -> list[Any]:
    return [label, *([None] * (n - 1 - len(values))), *values]


def table(kind: str, report: dict[str, Any]) -> Table:
    """The report's lines as rows under a header, totals last."""
    cur = report.get("currency", "")
    if kind == "valuation":
        by_loc = any("location_id" in ln for ln in report["lines"])
        head = ["sku", *(["location"] if by_loc else []), "qty", f"unit_cost ({cur})",
                f"value ({cur})"]  # fmt: skip
        rows = [
            [ln["sku"], *([ln["location_code"]] if by_loc else []), ln["qty"], ln["unit_cost"],
             ln["value"]]
            for ln in report["lines"]
        ]  # fmt: skip
        rows.append(_total(len(head), "total", report["total_qty"], None, report["total_value"]))
        return f"Valuation as of {report['as_of']:%Y-%m-%d %H:%M} UTC", head, rows
    if kind == "cogs":
        head = ["sku", "qty", f"cogs ({cur})"]
        rows = [[ln["sku"], ln["qty"], ln["cogs"]] for ln in report["lines"]]
        rows.append(_total(len(head), "total", report["total_cogs"]))
        title = f"COGS {report['from']:%Y-%m-%d} to {report['to']:%Y-%m-%d}"
        return title, head, rows
    if kind == "journal":
        head = ["date", "entry", "kind", "sku", "move_id", "account", f"debit ({cur})",
                f"credit ({cur})"]  # fmt: skip
        rows = [
            [it["date"], it["entry_id"], it["kind"], it["sku"], it["move_id"], it["account"],
             it["debit"], it["credit"]]
            for it in report["items"]
        ]  # fmt: skip
        debit = sum((it["debit"] for it in report["items"]), Cents(0))
        credit = sum((it["credit"] for it in report["items"]), Cents(0))
        rows.append(_total(len(head), "total", Cents(debit), Cents(credit)))
        return f"Journal {report['from']:%Y-%m-%d} to {report['to']:%Y-%m-%d}", head, rows
    if kind == "reconciliation":
        head = ["kind", "sku", f"ledger_value ({cur})", f"layer_value ({cur})",
                f"journal_inventory_balance ({cur})"]  # fmt: skip
        rows = [["total", None, report["ledger_value"], report["layer_value"],
                 report["journal_inventory_balance"]]]  # fmt: skip
        for d in report["differences"]:
            rows.append([d["kind"], d.get("sku"), d.get("ledger_value", d.get("stored")),
                         d.get("layer_value", d.get("recomputed")),
                         d.get("journal_inventory_balance")])  # fmt: skip
        return "Reconciliation", head, rows
    raise ValidationFailed(f"unknown report {kind!r}", {"field": "report"})


def _cell(v: Any) -> Any:
    if isinstance(v, Decimal):
        return decimal_text(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def to_csv(t: Table) -> str:
    _, head, rows = t
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(head)
    w.writerows([[_cell(v) for v in r] for r in rows])
    return buf.getvalue()


def to_xlsx(t: Table) -> bytes:
    title, head, rows = t
    wb = Workbook()
    ws = wb.active
    ws.title = title[:31].replace(":", " ")
    ws.append([title])
    ws["A1"].font = Font(bold=True)
    ws.append(head)
    for c in ws[2]:
        c.font = Font(bold=True)
    for r in rows:
        ws.append([float(v) if isinstance(v, Decimal) else v for v in r])
        for cell, v in zip(ws[ws.max_row], r, strict=True):
            if isinstance(v, Cents):
                cell.number_format = "#,##0.00"
            elif isinstance(v, Decimal):  # a unit cost (Money4) or a quantity
                cell.number_format = "#,##0.0000"
    for col, name in zip("ABCDEFGHIJ", head, strict=False):
        ws.column_dimensions[col].width = max(12, len(name) + 2)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def render(kind: str, report: dict[str, Any], fmt_: str) -> tuple[bytes, str]:
    """(body, media type) for csv or xlsx."""
    t = table(kind, report)
    if fmt_ == "csv":
        return to_csv(t).encode(), MEDIA["csv"]
    if fmt_ == "xlsx":
        return to_xlsx(t), MEDIA["xlsx"]
    raise ValidationFailed("format must be json, csv or xlsx", {"field": "format"})


def filename(kind: str, report: dict[str, Any], fmt_: str) -> str:
    stamp = report.get("as_of") or report.get("to")
    # an end bound is exclusive: "as of 2025-03-01" runs to 2025-03-02 00:00
    day = (stamp - timedelta(microseconds=1)).strftime("%Y-%m-%d") if stamp else "report"
    return f"hoop-{kind}-{day}.{fmt_}"

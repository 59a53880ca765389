"""Line charts as inline SVG, drawn on the server: no JavaScript library, nothing to download,
and the chart is in the page's first paint (and in a screenshot)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

Series = Sequence[tuple[date, Decimal]]


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    mag = 10 ** (len(str(int(v))) - 1)
    for step in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if v <= step * mag:
            return float(step * mag)
    return float(10 * mag)


def line_chart(
    series: Series,
    *,
    label: Callable[[Decimal], str] = lambda v: f"{v:,.0f}",
    projection: Series = (),
    width: int = 960,
    height: int = 240,
    title: str = "",
) -> Markup:
    """An area chart of (day, value) points; `projection` (e.g. replenishment's projected on
    hand) is drawn dashed after it. Scales to its container (viewBox)."""
    pts = list(series) + list(projection)
    if not pts:
        return Markup('<p class="muted">No data yet.</p>')
    left, right, top, bottom = 64, 12, 12, 28
    w, h = width - left - right, height - top - bottom
    lo = min(0.0, *(float(v) for _, v in pts))
    hi = _nice_max(max(float(v) for _, v in pts))
    d0, d1 = pts[0][0], pts[-1][0]
    span = max((d1 - d0).days, 1)

    def xy(d: date, v: Decimal) -> tuple[float, float]:
        x = left + w * (d - d0).days / span
        y = top + h * (1 - (float(v) - lo) / ((hi - lo) or 1))
        return round(x, 1), round(y, 1)

    main = [xy(d, v) for d, v in series]
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}">']  # fmt: skip
    for i in range(5):  # grid and y labels
        v = lo + (hi - lo) * i / 4
        y = round(top + h * (1 - i / 4), 1)
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y}" y2="{y}"/>')
        out.append(f'<text class="ylab" x="{left - 6}" y="{y + 4}" text-anchor="end">'
                   f"{escape(label(Decimal(str(v))))}</text>")  # fmt: skip
    for frac in (0, 0.5, 1):  # x labels: first, middle, last day
        d = d0.fromordinal(d0.toordinal() + round(span * frac))
        x = left + w * frac
        anchor = "start" if frac == 0 else "end" if frac == 1 else "middle"
        out.append(f'<text class="xlab" x="{x:.1f}" y="{height - 8}" text-anchor="{anchor}">'
                   f"{d:%b %d}</text>")  # fmt: skip
    if main:
        line = " ".join(f"{x},{y}" for x, y in main)
        base = top + h * (1 - (0 - lo) / ((hi - lo) or 1))
        area = f"{main[0][0]},{base:.1f} {line} {main[-1][0]},{base:.1f}"
        out.append(f'<polygon class="area" points="{area}"/>')
        out.append(f'<polyline class="line" points="{line}"/>')
        lx, ly = main[-1]
        out.append(f'<circle class="dot" cx="{lx}" cy="{ly}" r="3.5"/>')
    if projection:
        proj = ([main[-1]] if main else []) + [xy(d, v) for d, v in projection]
        out.append('<polyline class="line projection" points="'
                   + " ".join(f"{x},{y}" for x, y in proj) + '"/>')  # fmt: skip
    out.append("</svg>")
    return Markup("".join(out))

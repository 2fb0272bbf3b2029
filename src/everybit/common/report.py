"""Report building blocks: tables (HTML, Markdown, CSV), charts (PNG and interactive SVG), HTML pages.

Charts are drawn twice from the same data: a PNG by matplotlib for papers and READMEs, and an inline
SVG for the HTML report, whose points and bars name their values on hover and whose legend entries
toggle their series on click. The SVG needs no JavaScript library and no network.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from everybit.common.atomic import atomic_write_bytes

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


def fmt(value: Any) -> str:
    """Numbers as people read them in a table: ints with separators, floats to 3-4 significant digits."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else ("yes" if value else "no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return str(value)
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    title: str = ""
    note: str = ""

    def to_markdown(self) -> str:
        head = "| " + " | ".join(self.columns) + " |"
        rule = "|" + "|".join("---" for _ in self.columns) + "|"
        body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in self.rows]
        return "\n".join([head, rule, *body])

    def to_csv(self) -> str:
        """Tidy CSV: raw values (no thousands separators), one header row."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(["" if v is None else v for v in row] for row in self.rows)
        return buf.getvalue()

    def to_html(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{esc(fmt(v))}</td>" for v in row) + "</tr>" for row in self.rows
        )
        caption = f"<caption>{esc(self.title)}</caption>" if self.title else ""
        note = f'<p class="note">{esc(self.note)}</p>' if self.note else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


@dataclass
class Series:
    name: str
    x: Sequence[Any]  # numbers, or category labels for bar charts
    y: Sequence[float]


@dataclass
class Chart:
    title: str
    series: list[Series]
    kind: Literal["bar", "line", "scatter"] = "bar"
    xlabel: str = ""
    ylabel: str = ""
    logx: bool = False
    logy: bool = False

    def save_png(self, path: str | Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
        try:
            self._draw_matplotlib(ax)
            fig.tight_layout()
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
        finally:
            plt.close(fig)
        atomic_write_bytes(path, buf.getvalue())
        return Path(path)

    def _draw_matplotlib(self, ax: Any) -> None:
        if self.kind == "bar":
            cats = _categories(self.series)
            width = 0.8 / len(self.series)
            for i, s in enumerate(self.series):
                pos = [cats.index(x) + (i - (len(self.series) - 1) / 2) * width for x in s.x]
                ax.bar(pos, s.y, width, label=s.name, color=PALETTE[i % len(PALETTE)])
            ax.set_xticks(range(len(cats)), [str(c) for c in cats], rotation=30 if len(cats) > 5 else 0)
        else:
            for i, s in enumerate(self.series):
                style = "o-" if self.kind == "line" else "o"
                ax.plot(s.x, s.y, style, label=s.name, color=PALETTE[i % len(PALETTE)])
        ax.set(title=self.title, xlabel=self.xlabel, ylabel=self.ylabel)
        if self.logx:
            ax.set_xscale("log")
        if self.logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        if len(self.series) > 1 or self.kind != "bar":
            ax.legend(fontsize="small")

    def to_svg(self) -> str:
        return _SvgChart(self).render()


def _categories(series: Sequence[Series]) -> list[Any]:
    cats: list[Any] = []
    for s in series:
        cats.extend(x for x in s.x if x not in cats)
    return cats


class _Axis:
    """Maps data values to pixels on a linear or log scale and chooses round tick values."""

    def __init__(self, values: Sequence[float], lo_px: float, hi_px: float, log: bool, zero: bool) -> None:
        vals = [v for v in values if math.isfinite(v) and (v > 0 or not log)] or [1.0]
        lo, hi = min(vals), max(vals)
        if zero and not log:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if log:
            lo, hi = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
        if hi == lo:
            lo, hi = lo - 1, hi + 1
        self.lo, self.hi, self.log = lo, hi, log
        self.lo_px, self.hi_px = lo_px, hi_px

    def __call__(self, v: float) -> float:
        t = math.log10(v) if self.log else v
        return self.lo_px + (t - self.lo) / (self.hi - self.lo) * (self.hi_px - self.lo_px)

    def ticks(self) -> list[float]:
        if self.log:
            return [10.0**e for e in range(int(self.lo), int(self.hi) + 1)]
        raw = (self.hi - self.lo) / 5
        step = 10 ** math.floor(math.log10(raw))
        step *= next(m for m in (1, 2, 5, 10) if step * m >= raw)
        first = math.ceil(self.lo / step) * step
        return [first + i * step for i in range(int((self.hi - first) / step + 1e-9) + 1)]


class _SvgChart:
    W, H, LEFT, RIGHT, TOP, BOTTOM = 640, 360, 64, 150, 30, 56

    def __init__(self, chart: Chart) -> None:
        self.c = chart
        self.parts: list[str] = []

    def render(self) -> str:
        c = self.c
        x0, x1, y0, y1 = self.LEFT, self.W - self.RIGHT, self.H - self.BOTTOM, self.TOP
        ys = [float(v) for s in c.series for v in s.y]
        yaxis = _Axis(ys, y0, y1, c.logy, zero=c.kind == "bar")
        self._frame(x0, x1, y0, y1, yaxis)
        if c.kind == "bar":
            self._bars(x0, x1, y0, yaxis)
        else:
            xaxis = _Axis([float(v) for s in c.series for v in s.x], x0, x1, c.logx, zero=False)
            for t in xaxis.ticks():
                self._text(xaxis(t), y0 + 16, fmt(t), "middle")
            self._points(xaxis, yaxis)
        self._legend(x1 + 12)
        esc = html.escape
        self.parts.insert(0, f'<text x="{self.W / 2}" y="18" class="title">{esc(c.title)}</text>')
        self._text((x0 + x1) / 2, self.H - 10, c.xlabel, "middle")
        self.parts.append(
            f'<text transform="translate(14,{(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">'
            f"{esc(c.ylabel)}</text>"
        )
        return (
            f'<svg class="chart" viewBox="0 0 {self.W} {self.H}" xmlns="http://www.w3.org/2000/svg">'
            + "".join(self.parts)
            + "</svg>"
        )

    def _text(self, x: float, y: float, s: str, anchor: str = "start") -> None:
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{html.escape(s)}</text>')

    def _frame(self, x0: float, x1: float, y0: float, y1: float, yaxis: _Axis) -> None:
        self.parts.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" class="frame"/>')
        for t in yaxis.ticks():
            py = yaxis(t)
            self.parts.append(f'<line x1="{x0}" x2="{x1}" y1="{py:.1f}" y2="{py:.1f}" class="grid"/>')
            self._text(x0 - 6, py + 4, fmt(t), "end")

    def _bars(self, x0: float, x1: float, y0: float, yaxis: _Axis) -> None:
        cats = _categories(self.c.series)
        slot = (x1 - x0) / len(cats)
        width = slot * 0.8 / len(self.c.series)
        for i, s in enumerate(self.c.series):
            color = PALETTE[i % len(PALETTE)]
            for x, y in zip(s.x, s.y, strict=True):
                left = x0 + cats.index(x) * slot + slot * 0.1 + i * width
                top = yaxis(float(y))
                base = yaxis(10.0**yaxis.lo) if yaxis.log else yaxis(0.0)
                tip = html.escape(f"{s.name} · {x}: {fmt(y)}")
                self.parts.append(
                    f'<rect data-series="{i}" x="{left:.1f}" y="{min(top, base):.1f}" width="{width:.1f}" '
                    f'height="{abs(base - top):.1f}" fill="{color}"><title>{tip}</title></rect>'
                )
        for j, cat in enumerate(cats):
            self._text(x0 + (j + 0.5) * slot, y0 + 16, str(cat), "middle")

    def _points(self, xaxis: _Axis, yaxis: _Axis) -> None:
        for i, s in enumerate(self.c.series):
            color = PALETTE[i % len(PALETTE)]
            pts = [(xaxis(float(x)), yaxis(float(y)), x, y) for x, y in zip(s.x, s.y, strict=True)]
            if self.c.kind == "line" and len(pts) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in pts)
                self.parts.append(
                    f'<polyline data-series="{i}" points="{path}" fill="none" '
                    f'stroke="{color}" stroke-width="2"/>'
                )
            for px, py, x, y in pts:
                tip = html.escape(f"{s.name}: x={fmt(x)}, y={fmt(y)}")
                self.parts.append(
                    f'<circle data-series="{i}" cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{color}">'
                    f"<title>{tip}</title></circle>"
                )

    def _legend(self, x: float) -> None:
        for i, s in enumerate(self.c.series):
            y = self.TOP + 10 + i * 20
            self.parts.append(
                f'<g class="legend" data-toggle="{i}"><rect x="{x}" y="{y - 9}" width="12" height="12" '
                f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{x + 18}" y="{y + 2}">'
                f"{html.escape(s.name)}</text></g>"
            )


@dataclass
class Section:
    """One tool's part of a report: a status, a few headline figures, tables and charts."""

    title: str
    status: Literal["ok", "not built yet", "skipped", "failed"] = "ok"
    text: str = ""
    headline: list[tuple[str, str]] = field(default_factory=list)  # (label, value) for the terminal summary
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}caption{font-weight:600;text-align:left}
.note{color:#666;font-size:90%}.status{font-weight:600}.failed{color:#b00}.pending{color:#888}
svg.chart{max-width:100%;font:11px sans-serif}svg .title{font-size:14px;font-weight:600;text-anchor:middle}
svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}svg .legend{cursor:pointer}svg .off{opacity:.15}
figure{margin:1em 0}figcaption a{font-size:90%}
"""

# Clicking a legend entry fades that series in and out.
_JS = """
document.querySelectorAll('svg.chart').forEach(svg => svg.querySelectorAll('[data-toggle]').forEach(g =>
  g.addEventListener('click', () => { const i = g.dataset.toggle; g.classList.toggle('off');
    svg.querySelectorAll(`[data-series="${i}"]`).forEach(e => e.classList.toggle('off')); })));
"""


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text.lower()).strip("-") or "x"


def _section_html(sec: Section, out_dir: Path, index: int) -> str:
    esc = html.escape
    cls = {"ok": "", "not built yet": "pending", "skipped": "pending", "failed": "failed"}[sec.status]
    status = f'<span class="status {cls}">{esc(sec.status)}</span>'
    parts = [f'<h2 id="{_slug(sec.title)}">{esc(sec.title)} {status}</h2>']
    if sec.text:
        parts.append(f"<p>{esc(sec.text)}</p>")
    for k, table in enumerate(sec.tables):
        name = f"{_slug(sec.title)}-table{k}.csv"
        atomic_write_bytes(out_dir / name, table.to_csv().encode())
        parts.append(table.to_html() + f'<p class="note"><a href="{name}">CSV</a></p>')
    for k, chart in enumerate(sec.charts):
        png = f"{_slug(sec.title)}-{index}-{k}.png"
        chart.save_png(out_dir / png)
        parts.append(f'<figure>{chart.to_svg()}<figcaption><a href="{png}">PNG</a></figcaption></figure>')
    return "\n".join(parts)


def write_report(out_dir: str | Path, title: str, sections: Sequence[Section], meta: dict[str, str]) -> Path:
    """Write ``out_dir/index.html`` (plus one PNG per chart and one CSV per table); return its path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    esc = html.escape
    summary = Table(
        ["tool", "status", "headline"],
        [[s.title, s.status, "; ".join(f"{k}: {v}" for k, v in s.headline)] for s in sections],
        title="Summary",
    )
    meta_rows = "".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in meta.items())
    body = "\n".join(_section_html(s, out, i) for i, s in enumerate(sections))
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1><ul>{meta_rows}</ul>"
        f"{summary.to_html()}\n{body}<script>{_JS}</script></body></html>\n"
    )
    index = out / "index.html"
    atomic_write_bytes(index, page.encode())
    return index

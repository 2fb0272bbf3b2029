"""A study's outputs: tidy CSV tables, PNG heatmaps, one interactive HTML page and a text summary.

The studies produce a ``StudyResult`` (plain lists and arrays, no torch); ``write`` turns it into an output
folder atomically: a reader sees the previous folder or the complete new one. The HTML page inlines
plotly's JavaScript so it opens offline (it is ~4 MB; a CDN link would need the network).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from everybit.common.atomic import atomic_dir
from everybit.common.errors import MissingDependencyError

HTML_TABLE_ROWS = 40  # the page shows the head of each table; the CSV has all of it


@dataclass
class Heatmap:
    """One grid: ``values[r][c]`` for row label ``rows[r]`` and column label ``cols[c]``."""

    name: str  # file stem of the PNG
    title: str
    values: Any  # 2-D array-like of floats (NaN: not computed)
    rows: Sequence[str]
    cols: Sequence[str]
    ylabel: str = ""
    xlabel: str = ""
    label: str = ""  # colour bar
    diverging: bool = True  # a two-sided colour scale centred on `center` (signed effects)
    center: float = 0.0  # the value meaning "no effect" (1 for necessity patching)
    marks: Any = None  # 2-D bools: an 'x' on each True cell (top-1 flips)
    note: str = ""


@dataclass
class StudyResult:
    study: str
    title: str
    tables: dict[str, list[dict[str, Any]]]  # name -> long-format rows (one per component and measure)
    heatmaps: list[Heatmap] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)  # lines of summary.txt
    meta: dict[str, Any] = field(default_factory=dict)  # model, timings, forward counts -> meta.json
    config_text: str = ""  # the YAML the study ran from, saved next to the results


def table_csv(rows: Sequence[dict[str, Any]]) -> str:
    """Tidy CSV: a header from the first row's keys (every row has the same keys), raw values."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return f"{v:.6g}"
    return v


def _grid(values: Any) -> list[list[float]]:
    return [[float(v) for v in row] for row in values]


def _limits(z: list[list[float]], hm: Heatmap) -> tuple[float | None, float | None]:
    finite = [v for row in z for v in row if math.isfinite(v)]
    if not finite:
        return None, None
    if hm.diverging:
        m = max(abs(v - hm.center) for v in finite) or 1.0
        return hm.center - m, hm.center + m
    return min(finite), max(finite)


def save_heatmap_png(hm: Heatmap, path: Path) -> None:
    """A small PNG: one cell per value, labels thinned to what fits, an 'x' on marked cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    z = np.array(_grid(hm.values), dtype=float)
    n_rows, n_cols = z.shape
    width = min(11.0, max(4.5, 1.6 + 0.32 * n_cols))
    height = min(8.0, max(2.6, 1.2 + 0.2 * n_rows))
    fig, ax = plt.subplots(figsize=(width, height), dpi=90)
    try:
        lo, hi = _limits(_grid(hm.values), hm)
        cmap = "RdBu_r" if hm.diverging else "viridis"
        image = ax.imshow(z, aspect="auto", cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
        fig.colorbar(image, ax=ax, label=hm.label, fraction=0.04, pad=0.02)
        _ticks(ax.set_xticks, hm.cols, n_cols, 28 if width < 10 else 40, rotate=n_cols > 8)
        _ticks(ax.set_yticks, hm.rows, n_rows, 32, rotate=False)
        if hm.marks is not None:
            marks = np.array(hm.marks, dtype=bool)
            ys, xs = np.nonzero(marks)
            if len(xs):
                size = 30 if n_cols <= 64 else 12
                ax.scatter(xs, ys, marker="x", c="black", s=size, linewidths=1)
        # long titles wrap to the figure's width (~10 characters per inch at this size) instead of clipping
        ax.set(title=textwrap.fill(hm.title, int(width * 10)), xlabel=hm.xlabel, ylabel=hm.ylabel)
        ax.title.set_fontsize(10)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    path.write_bytes(buf.getvalue())


def _ticks(setter: Any, labels: Sequence[str], n: int, fit: int, rotate: bool) -> None:
    step = max(1, math.ceil(n / fit))
    idx = list(range(0, n, step))
    kw = {"rotation": 90, "fontsize": 7} if rotate else {"fontsize": 7}
    setter(idx, [str(labels[i]) for i in idx], **kw)


def _plotly_heatmap(hm: Heatmap, include_js: bool) -> str:
    try:
        import plotly.graph_objects as go
    except ImportError:
        raise MissingDependencyError("probe reports need plotly: pip install 'everybit[ml]'") from None
    z = [[None if not math.isfinite(v) else v for v in row] for row in _grid(hm.values)]
    lo, hi = _limits(_grid(hm.values), hm)
    # Category axes with duplicate labels (two identical tokens) would merge cells: index them instead.
    xs, ys = list(range(len(hm.cols))), list(range(len(hm.rows)))
    hover = [[f"{hm.rows[r]} · {hm.cols[c]}" for c in xs] for r in ys]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=xs,
            y=ys,
            text=hover,
            hovertemplate="%{text}<br>%{z:.4g}<extra></extra>",
            colorscale="RdBu_r" if hm.diverging else "Viridis",
            zmin=lo,
            zmax=hi,
            colorbar={"title": {"text": hm.label}},
        )
    )
    if hm.marks is not None:
        pts = [(c, r) for r, row in enumerate(hm.marks) for c, m in enumerate(row) if m]
        if pts:
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in pts],
                    y=[p[1] for p in pts],
                    mode="markers",
                    marker={"symbol": "x", "color": "black", "size": 7},
                    name="top-1 flip",
                    hoverinfo="skip",
                )
            )
    step_x = max(1, math.ceil(len(xs) / 40))
    step_y = max(1, math.ceil(len(ys) / 40))
    fig.update_layout(
        title=hm.title,
        height=min(900, max(320, 120 + 18 * len(ys))),
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
        xaxis={
            "title": hm.xlabel,
            "tickvals": xs[::step_x],
            "ticktext": [str(hm.cols[i]) for i in xs[::step_x]],
        },
        yaxis={
            "title": hm.ylabel,
            "tickvals": ys[::step_y],
            "ticktext": [str(hm.rows[i]) for i in ys[::step_y]],
            "autorange": "reversed",
        },
        showlegend=False,
    )
    return fig.to_html(full_html=False, include_plotlyjs=include_js)


def _html_table(name: str, rows: list[dict[str, Any]]) -> str:
    esc = html.escape
    if not rows:
        return f"<h3>{esc(name)}</h3><p class='note'>empty</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{esc(c)}</th>" for c in cols)
    shown = rows[:HTML_TABLE_ROWS]
    body = "".join(
        "<tr>" + "".join(f"<td>{esc(str(_csv_value(r[c])))}</td>" for c in cols) + "</tr>" for r in shown
    )
    more = f"{len(rows) - len(shown):,} more rows in " if len(rows) > len(shown) else ""
    return (
        f"<h3>{esc(name)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        f"<p class='note'>{more}<a href='{esc(name)}.csv'>{esc(name)}.csv</a></p>"
    )


_CSS = (
    "body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{border:1px solid #ccc;padding:2px 6px}"
    "th{background:#f3f3f3}pre{background:#f7f7f7;padding:1em;overflow-x:auto}.note{color:#666;font-size:90%}"
)


def render_html(result: StudyResult) -> str:
    """The interactive page: summary, one plotly heatmap per grid (with a PNG link), table heads."""
    esc = html.escape
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{esc(result.title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{esc(result.title)}</h1>",
        f"<pre>{esc(chr(10).join(result.summary))}</pre>",
    ]
    for i, hm in enumerate(result.heatmaps):
        note = f"<p class='note'>{esc(hm.note)}</p>" if hm.note else ""
        parts.append(
            f"<h2>{esc(hm.title)}</h2>{note}{_plotly_heatmap(hm, include_js=i == 0)}"
            f"<p class='note'><a href='{esc(hm.name)}.png'>PNG</a></p>"
        )
    parts.append("<h2>Tables</h2>")
    parts.extend(_html_table(name, rows) for name, rows in result.tables.items())
    if result.config_text:
        parts.append(f"<h2>Config</h2><pre>{esc(result.config_text)}</pre>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_study(result: StudyResult, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write the study's folder: ``*.csv``, ``*.png``, ``report.html``, ``summary.txt``, ``meta.json``,
    ``config.yaml``. Refuses a non-empty existing folder unless ``overwrite``."""
    out = Path(out_dir)
    page = render_html(result)  # before the folder exists: a missing plotly leaves nothing behind
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for name, rows in result.tables.items():
            (tmp / f"{name}.csv").write_text(table_csv(rows), encoding="utf-8")
        for hm in result.heatmaps:
            save_heatmap_png(hm, tmp / f"{hm.name}.png")
        (tmp / "report.html").write_text(page, encoding="utf-8")
        (tmp / "summary.txt").write_text("\n".join(result.summary) + "\n", encoding="utf-8")
        meta = {"study": result.study, "title": result.title, **result.meta}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
        if result.config_text:
            (tmp / "config.yaml").write_text(result.config_text, encoding="utf-8")
    return out

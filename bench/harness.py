"""Timing, machine facts, provenance and result files shared by every benchmark.

A benchmark module builds a `Report`; `python -m bench` writes it to `bench/results/TOOL.{md,json}` and
refreshes the results table in README.md between the `bench-results` markers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
README = REPO / "README.md"
START_MARK = "<!-- bench-results:start -->"
END_MARK = "<!-- bench-results:end -->"

# Distributions whose versions change benchmark numbers; only those installed are reported.
_PACKAGES = (
    "everybit",
    "numpy",
    "zstandard",
    "lz4",
    "cramjam",
    "brotli",
    "isal",
    "python-lzo",
    "pillow",
    "imagecodecs",
    "scikit-image",
    "torch",
    "transformers",
    "tokenizers",
    "sentence-transformers",
    "faiss-cpu",
    "transformer-lens",
    "nnsight",
)


@dataclass
class Timing:
    """Wall-clock seconds of the measured runs (warm-up excluded); `result` is the last call's return."""

    median: float
    min: float
    runs: list[float]
    result: Any = field(default=None, repr=False, compare=False)


def time_call(fn: Callable[[], Any], *, repeat: int = 3, warmup: int = 1) -> Timing:
    """Call `fn` `warmup` times untimed (caches, allocator, lazy imports), then `repeat` times timed with
    `time.perf_counter`."""
    if repeat < 1 or warmup < 0:
        raise ValueError(f"need repeat >= 1 and warmup >= 0, got {repeat=}, {warmup=}")
    for _ in range(warmup):
        fn()
    runs: list[float] = []
    result = None
    for _ in range(repeat):
        start = perf_counter()
        result = fn()
        runs.append(perf_counter() - start)
    return Timing(statistics.median(runs), min(runs), runs, result)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _mem_total_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, Any]:
    """Facts needed to compare figures across machines (numbers are only comparable on the same one)."""
    import zlib

    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_bytes": _mem_total_bytes(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "packages": _package_versions(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks so corpora of any size fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def file_provenance(path: Path | str) -> dict[str, Any]:
    """Name, size and SHA-256 of a data file: what identifies the input behind a figure."""
    path = Path(path)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": sha256_file(path)}


def fmt(value: Any) -> str:
    """Human form: 3 significant figures for floats, thousands separators for ints."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _fmt_float(value)
    return str(value)


def _fmt_float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    rounded = float(f"{value:.3g}")
    # Large values read better as grouped integers than as 1.23e+04.
    if abs(rounded) >= 1000:
        return f"{round(rounded):,}"
    return f"{rounded:.3g}" if abs(rounded) >= 1e-4 or rounded == 0 else f"{value:.2e}"


def _with_unit(value: Any, unit: str) -> str:
    text = fmt(value)
    return f"{text} {unit}" if unit and text and not isinstance(value, str) else text


def markdown_table(columns: list[str], rows: list[list[Any]]) -> str:
    """A GitHub Markdown table; cells go through `fmt` and pipes are escaped."""

    def cell(value: Any) -> str:
        return fmt(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


HEADLINE_COLUMNS = ["metric", "ours", "anchor", "anchor value", "ratio", "target", "met"]


def headline_row(h: dict[str, Any]) -> list[str]:
    """One headline as table cells (units attached to the two values)."""
    unit = h.get("unit", "")
    return [
        h["metric"],
        _with_unit(h["ours"], unit),
        h["anchor"],
        _with_unit(h["anchor_value"], unit),
        fmt(h.get("ratio")),
        fmt(h.get("target")),
        fmt(h.get("met")),
    ]


class Report:
    """What one benchmark found: inputs (with provenance), tables and headline comparisons."""

    def __init__(self, tool: str, title: str) -> None:
        self.tool = tool
        self.title = title
        self.created = datetime.now(UTC).isoformat(timespec="seconds")
        self.data: list[dict[str, Any]] = []
        self.tables: list[dict[str, Any]] = []
        self.headline: list[dict[str, Any]] = []

    def add_data(self, name: str, path: Path | str, source: str, versions: dict | None = None) -> None:
        """Record an input: its size and SHA-256 are computed now, from the file actually used."""
        entry = {"label": name, **file_provenance(path), "source": source}
        entry["versions"] = dict(versions or {})
        self.data.append(entry)

    def add_table(self, title: str, columns: list[str], rows: list[list], note: str | None = None) -> None:
        """Add a result table; every row must have one cell per column."""
        for row in rows:
            if len(row) != len(columns):
                message = f"table {title!r}: row {row!r} has {len(row)} cells"
                raise ValueError(f"{message}, expected {len(columns)}")
        self.tables.append(
            {"title": title, "columns": list(columns), "rows": [list(r) for r in rows], "note": note}
        )

    def add_headline(
        self,
        metric: str,
        ours: float | str,
        anchor: str,
        anchor_value: float | str,
        *,
        ratio: float | None = None,
        target: str | None = None,
        met: bool | None = None,
        unit: str = "",
    ) -> None:
        """A one-line comparison of ours against the best anchor, as shown in README.md."""
        self.headline.append(
            {
                "metric": metric,
                "ours": ours,
                "anchor": anchor,
                "anchor_value": anchor_value,
                "ratio": ratio,
                "target": target,
                "met": met,
                "unit": unit,
            }
        )

    def add_limit(self, metric: str, value: float, limit: float, unit: str) -> None:
        """A headline for a resource target: `value` must stay under `limit` (seconds, GiB, ...)."""
        self.add_headline(
            metric, value, "target", limit, target=f"< {limit:g} {unit}", met=value < limit, unit=unit
        )

    def to_json(self, machine: dict[str, Any]) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "title": self.title,
            "created": self.created,
            "machine": machine,
            "data": self.data,
            "tables": self.tables,
            "headline": self.headline,
        }

    def to_markdown(self, machine: dict[str, Any]) -> str:
        parts = [
            f"# {self.title}",
            "",
            f"Tool `{self.tool}`, created {self.created}. Generated by "
            f"`python -m bench {self.tool}`; do not edit by hand.",
            "",
        ]
        if self.headline:
            rows = [headline_row(h) for h in self.headline]
            parts += ["## Headline", "", markdown_table(HEADLINE_COLUMNS, rows), ""]
        for table in self.tables:
            parts += [f"## {table['title']}", "", markdown_table(table["columns"], table["rows"]), ""]
            if table["note"]:
                parts += [table["note"], ""]
        parts += self._data_markdown() + _machine_markdown(machine)
        return "\n".join(parts)

    def _data_markdown(self) -> list[str]:
        if not self.data:
            return []
        rows = [
            [
                d["label"],
                d["name"],
                d["bytes"],
                d["sha256"],
                d["source"],
                ", ".join(f"{k} {v}" for k, v in sorted(d["versions"].items())),
            ]
            for d in self.data
        ]
        columns = ["input", "file", "bytes", "sha256", "source", "versions"]
        return ["## Data", "", markdown_table(columns, rows), ""]

    def write(self, results_dir: Path | None = None, readme: Path | None = None) -> tuple[Path, Path]:
        """Write TOOL.md and TOOL.json (default folder: bench/results), then refresh README.md's table."""
        results_dir = results_dir or RESULTS_DIR
        results_dir.mkdir(parents=True, exist_ok=True)
        machine = machine_info()
        md_path = results_dir / f"{self.tool}.md"
        json_path = results_dir / f"{self.tool}.json"
        md_path.write_text(self.to_markdown(machine))
        json_path.write_text(json.dumps(self.to_json(machine), indent=2, default=str) + "\n")
        update_readme(readme, results_dir)
        return md_path, json_path


def _machine_markdown(machine: dict[str, Any]) -> list[str]:
    packages = ", ".join(f"{k} {v}" for k, v in sorted(machine.get("packages", {}).items()))
    rows = [[key, value] for key, value in machine.items() if key != "packages"]
    rows.append(["packages", packages])
    return ["## Machine", "", markdown_table(["fact", "value"], rows), ""]


def machine_summary(machine: dict[str, Any]) -> str:
    """One line naming the machine a results file came from."""
    memory = machine.get("memory_bytes")
    mem = f", {memory / 2**30:.0f} GiB" if memory else ""
    return (
        f"{machine.get('cpu', '?')}, {machine.get('logical_cores', '?')} cores{mem}, "
        f"Python {machine.get('python', '?')}, {machine.get('date', '?')}"
    )


def _load_results(results_dir: Path) -> list[dict[str, Any]]:
    results = []
    for path in sorted(results_dir.glob("*.json")):
        try:
            results.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            print(f"bench: warning: skipping unreadable {path}: {exc}", file=sys.stderr)
    return results


def readme_section(results_dir: Path) -> str:
    """The generated block that goes between the README markers."""
    results = _load_results(results_dir)
    rows = [[r["tool"], *headline_row(h)] for r in results for h in r.get("headline", [])]
    lines = ["<!-- generated by `python -m bench`; edits here are overwritten -->", ""]
    if rows:
        lines += [markdown_table(["tool", *HEADLINE_COLUMNS], rows), ""]
    else:
        lines += ["No benchmark results yet: run `python -m bench`.", ""]
    for r in results:
        link = f"[details](bench/results/{r['tool']}.md)"
        lines.append(f"- `{r['tool']}` ({link}): {machine_summary(r.get('machine', {}))}")
    return "\n".join(lines)


def update_readme(readme: Path | None = None, results_dir: Path | None = None) -> None:
    """Replace the text between the bench-results markers (from every results_dir/*.json headline);
    everything outside them is kept byte for byte. Defaults: the repo's README.md and bench/results."""
    readme, results_dir = readme or README, results_dir or RESULTS_DIR
    try:
        text = readme.read_text()
    except FileNotFoundError:
        print(f"bench: warning: {readme} not found; README results not updated", file=sys.stderr)
        return
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start < 0 or end < start:
        print(
            f"bench: warning: {readme} lacks the lines {START_MARK} ... {END_MARK}; not updated",
            file=sys.stderr,
        )
        return
    head = text[: start + len(START_MARK)]
    readme.write_text(f"{head}\n{readme_section(results_dir)}\n{text[end:]}")


# ---------------------------------------------------------------- one measured process

TIME = "/usr/bin/time"  # GNU time (Debian package `time`): a child's own peak RSS


class CommandFailed(RuntimeError):
    """A measured command exited with a non-zero status."""


@dataclass(frozen=True)
class Sample:
    """One run: wall seconds, CPU seconds (user + system) and peak RSS in bytes (None: not measured)."""

    seconds: float
    cpu_seconds: float
    peak_rss: int | None


def run_measured(argv: Sequence[str], stdout: Path, *, peak_rss: bool = True) -> Sample:
    """Run `argv` (stdin empty, stdout into the file `stdout`) and measure it; CommandFailed (naming the
    command and its last stderr line) if it exits non-zero.

    Peak RSS is the child's own `ru_maxrss` as GNU time reports it (`%M`), with time's user and system
    CPU. Not this process's `wait4`/`RUSAGE_CHILDREN`: Linux copies the parent's RSS high-water mark into
    a forked child's `ru_maxrss` when it execs, so a benchmark holding a 120 MB corpus would see every
    child as at least that big (`RUSAGE_CHILDREN` is also a maximum over all children, not a sum, so
    deltas of it cannot isolate one run). GNU time itself is ~1 MB, well under any codec measured. Wall
    time includes time's own fork (well under a millisecond)."""
    report = stdout.with_name(stdout.name + ".rusage")
    cmd = [TIME, "-f", "%M %U %S", "-o", str(report), *argv] if peak_rss else list(argv)
    with open(stdout, "wb") as out, tempfile.TemporaryFile() as err:
        start = perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            lines = err.read().decode(errors="replace").strip().splitlines()
            report.unlink(missing_ok=True)
            last = lines[-1] if lines else "no message"
            raise CommandFailed(f"`{shlex.join(argv)}` exited with status {proc.returncode}: {last}")
    if not peak_rss:
        return Sample(seconds, usage.ru_utime + usage.ru_stime, None)
    rss_kb, user, system = report.read_text().split()[-3:]
    report.unlink()
    return Sample(seconds, float(user) + float(system), int(rss_kb) * 1024)


# ---------------------------------------------------------------- chart pages

_PAGE_STYLE = (
    "body{font:14px system-ui,sans-serif;max-width:1100px;margin:2em auto}"
    "svg.chart{max-width:100%;font:11px sans-serif}svg .title{font-size:14px;font-weight:600;"
    "text-anchor:middle}svg .frame{fill:none;stroke:#999}svg .grid{stroke:#eee}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;"
    "text-align:right}td:first-child{text-align:left}"
)


def chart_page(
    path: Path,
    title: str,
    chart: Any,
    *,
    note: str = "",
    tables: Sequence[tuple[Sequence[str], Sequence[Sequence[Any]]]] = (),
) -> Path:
    """Write ``chart`` (an ``everybit.common.report.Chart``) as a standalone HTML page at ``path``.

    ``note`` is HTML under the chart; each of ``tables`` is (columns, rows), values passed through ``fmt``
    and escaped. Every benchmark's interactive page comes from here, so they look and behave alike.
    """
    import html

    def cell(tag: str, value: Any) -> str:
        return f"<{tag}>{html.escape(value if isinstance(value, str) else fmt(value))}</{tag}>"

    blocks = []
    for columns, rows in tables:
        head = "<tr>" + "".join(cell("th", c) for c in columns) + "</tr>"
        body = "".join("<tr>" + "".join(cell("td", v) for v in row) + "</tr>" for row in rows)
        blocks.append(f"<table>{head}{body}</table>")
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{chart.to_svg()}"
        f"{f'<p>{note}</p>' if note else ''}{''.join(blocks)}</body></html>\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path

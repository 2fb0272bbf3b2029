"""``everybit demo``: run every built tool on small built-in inputs and write one HTML report.

Each tool contributes ``everybit.<tool>.demo.demo(ctx) -> Section``: offline, on inputs it carries
or generates, a few seconds each (the full-size runs belong in ``bench/``). Tools not built yet are
listed as such; a tool whose demo fails is reported as failed and makes the command exit 1, but the
other sections are still written.
"""

from __future__ import annotations

import argparse
import importlib
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from everybit import __version__
from everybit.common.errors import DataUnavailableError, EverybitError, MissingDependencyError, UsageError
from everybit.common.progress import track
from everybit.common.report import Section, Table, write_report
from everybit.registry import TOOLS, Tool


@dataclass(frozen=True)
class DemoContext:
    """What a tool's demo gets: a scratch folder (deleted afterwards) and the report folder."""

    scratch: Path
    out_dir: Path
    quiet: bool = False


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", type=Path, default=Path("everybit-demo"), help="report folder")
    parser.add_argument("--only", nargs="+", metavar="TOOL", help="run only these tools")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def run_section(tool: Tool, ctx: DemoContext) -> Section:
    """One tool's section; failures become a 'failed' section instead of ending the demo."""
    if not tool.is_built():
        return Section(tool.name, "not built yet", text=tool.summary)
    from everybit.common.cli import ML_PACKAGES, describe

    try:
        module = importlib.import_module(f"{tool.package}.demo")
        section = module.demo(ctx)
    except Exception as exc:
        # A missing optional extra (`ml` packages, an offline model) skips the section; the rest is a fault.
        optional = isinstance(exc, (MissingDependencyError, DataUnavailableError)) or (
            isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in ML_PACKAGES
        )
        return Section(tool.name, "skipped" if optional else "failed", text=describe(exc)[0])
    section.title = tool.name
    return section


def collect(tools: list[Tool], out_dir: Path, quiet: bool = False) -> list[tuple[Section, float]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="everybit-demo-") as scratch:
        for tool in track(tools, "demo", unit="tool", quiet=quiet):
            ctx = DemoContext(Path(scratch) / tool.name, out_dir, quiet)
            ctx.scratch.mkdir()
            start = time.perf_counter()
            section = run_section(tool, ctx)
            results.append((section, time.perf_counter() - start))
    return results


def _meta() -> dict[str, str]:
    return {
        "everybit": __version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}",
    }


def run(args: argparse.Namespace) -> int:
    names = args.only or [t.name for t in TOOLS]
    unknown = sorted(set(names) - {t.name for t in TOOLS})
    if unknown:
        raise UsageError(f"unknown tool(s): {', '.join(unknown)}")
    tools = [t for t in TOOLS if t.name in names]
    results = collect(tools, args.out, args.quiet)
    index = write_report(args.out, "everybit demo", [s for s, _ in results], _meta())
    summary = Table(
        ["tool", "status", "seconds", "headline"],
        [[s.title, s.status, round(t, 1), "; ".join(f"{k}: {v}" for k, v in s.headline)] for s, t in results],
    )
    print(summary.to_markdown())
    print(f"\nreport: {index}")
    failed = [s.title for s, _ in results if s.status == "failed"]
    if failed:
        for s, _ in results:
            if s.status == "failed":
                print(f"everybit demo: {s.title} failed: {s.text}", file=sys.stderr)
        raise EverybitError(f"demo sections failed: {', '.join(failed)}")
    return 0

"""`python -m bench [TOOL ...] [--quick] [--list]`: run benchmarks, write bench/results, refresh README.

A benchmark is any module `bench/NAME.py` (other than the harness's own) exposing
`run(quick=False) -> Report`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from bench.data import DataUnavailable
from bench.harness import HEADLINE_COLUMNS, headline_row, markdown_table

_NOT_BENCHMARKS = {"__init__", "__main__", "harness", "data"}


def discover(folder: Path = Path(__file__).parent) -> list[str]:
    """Names of the benchmark modules, sorted."""
    return sorted(p.stem for p in folder.glob("*.py") if p.stem not in _NOT_BENCHMARKS)


def _fail(message: str, code: int) -> int:
    print(f"bench: error: {message}", file=sys.stderr)
    return code


def run_tool(name: str, quick: bool) -> None:
    """Run one benchmark, write its results and print where they went plus its headline."""
    report = importlib.import_module(f"bench.{name}").run(quick=quick)
    md_path, _ = report.write()
    print(f"{name}: wrote {md_path}")
    if report.headline:
        print(markdown_table(HEADLINE_COLUMNS, [headline_row(h) for h in report.headline]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("tools", nargs="*", metavar="TOOL", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="small inputs, for a fast check")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    available = discover()
    if args.list:
        print("\n".join(available))
        return 0
    unknown = [t for t in args.tools if t not in available]
    if unknown:
        return _fail(f"unknown tool {', '.join(unknown)} (available: {', '.join(available)})", 2)
    for name in args.tools or available:
        try:
            run_tool(name, args.quick)
        except DataUnavailable as exc:
            return _fail(str(exc), 1)
        except ModuleNotFoundError as exc:
            # An anchor's binding (zstandard, lz4, ...) is missing: name it instead of a traceback.
            return _fail(f"{name}: Python package {exc.name!r} is missing; run `pip install -e '.[dev]'`", 1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

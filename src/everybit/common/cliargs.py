"""Argument helpers shared by tool CLIs."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from everybit.common.errors import UsageError


def split_leading(items: Sequence[str], is_lead: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """`--tokenizer A B f1 f2`: argparse hands all four to the option; the option's own values are the leading
    items that look like what it takes (at least one), the rest belongs to the positional arguments."""
    n = 1
    while n < len(items) and is_lead(items[n]):
        n += 1
    return list(items[:n]), list(items[n:])


def verb_parsers(parser: argparse.ArgumentParser) -> Callable[[str, str], argparse.ArgumentParser]:
    """Subcommands (`TOOL VERB ...`), each with -q/--quiet: returns `verb(name, summary) -> its parser`."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notes")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, summary: str) -> argparse.ArgumentParser:
        return verbs.add_parser(
            name, parents=[common], help=summary, description=summary, prog=f"{parser.prog} {name}"
        )

    return verb


def add_table_outputs(parser: argparse.ArgumentParser, what: str) -> None:
    """--csv, --chart and -f for a verb that prints a results table."""
    parser.add_argument("--csv", type=Path, metavar="OUT", help="also write the table as CSV")
    parser.add_argument("--chart", type=Path, metavar="OUT.png", help=f"also draw {what} as a bar chart")
    parser.add_argument("-f", "--force", action="store_true", help="overwrite --csv/--chart outputs")


def write_table_outputs(args: argparse.Namespace, table: Any, chart: Any) -> None:
    """Prints the table (Markdown) and writes the --csv / --chart outputs atomically."""
    from everybit.common.atomic import atomic_write_bytes

    print(table.to_markdown())
    if args.csv:
        atomic_write_bytes(args.csv, table.to_csv().encode(), overwrite=args.force)
    if args.chart:
        if args.chart.exists() and not args.force:
            raise UsageError(f"{args.chart}: already exists (use --force to overwrite)")
        chart.save_png(args.chart)

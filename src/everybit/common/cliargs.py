"""Argument helpers shared by tool CLIs: one spelling per concept, as docs/cli.md (the charter) lists.

Every tool builds its options from these, so ``-T 0`` means every core, ``64k`` means 65,536 bytes and an
existing output is refused the same way in all eight tools.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from everybit.common.errors import OutputError

# Size suffixes are binary powers, whatever their spelling (64k = 64K = 64KiB = 64kB = 65,536), as in zstd
# and lz4. One rule for every tool; docs/cli.md gives the reason.
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'65536', '64k', '1.5M', '256KiB', '2GB' -> bytes (suffixes are powers of 1024); else ValueError."""
    found = _SIZE.fullmatch(text.strip())
    if not found:
        raise ValueError(f"not a size: {text!r} (a number with an optional k, M, G or T suffix)")
    return int(float(found[1]) * _SIZE_UNITS[found[2].lower()])


def size_type(lo: int = 0, hi: int | None = None, *, power_of_two: bool = False) -> Callable[[str], int]:
    """An argparse ``type=`` for a size in [lo, hi] (binary suffixes), optionally a power of two."""
    span = f"in {_human(lo)}..{_human(hi)}" if hi is not None else f"of at least {_human(lo)}"

    def parse(text: str) -> int:
        try:
            size = parse_size(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if size < lo or (hi is not None and size > hi) or (power_of_two and size & (size - 1)):
            kind = "a power of two" if power_of_two else "a size"
            raise argparse.ArgumentTypeError(f"must be {kind} {span}, not {text!r}")
        return size

    return parse


def _human(size: int) -> str:
    for unit in "TGMk":
        if size >= _SIZE_UNITS[unit.lower()] and size % _SIZE_UNITS[unit.lower()] == 0:
            return f"{size // _SIZE_UNITS[unit.lower()]}{unit}"
    return str(size)


def threads_type(text: str) -> int:
    """An argparse ``type=`` for ``-T/--threads``: a count >= 0, where 0 means every core."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"threads must be a number >= 0 (0 = all cores), not {text!r}")
    return int(text)


def add_threads(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``-T/--threads N`` (default 0: every core); ``what`` says what the threads do."""
    detail = f" for {what}" if what else ""
    parser.add_argument(
        "-T",
        "--threads",
        type=threads_type,
        default=0,
        metavar="N",
        help=f"threads{detail} (default 0: all cores)",
    )


def add_force(parser: argparse.ArgumentParser, what: str = "existing outputs") -> None:
    parser.add_argument("-f", "--force", action="store_true", help=f"overwrite {what}")


def add_output_file(parser: argparse.ArgumentParser, **kw: Any) -> None:
    """``-o/--output FILE``: where the one output file goes."""
    kw.setdefault("metavar", "FILE")
    parser.add_argument("-o", "--output", type=Path, **kw)


def add_output_dir(parser: argparse.ArgumentParser, **kw: Any) -> None:
    """``-o/--out DIR``: the folder that receives the outputs."""
    kw.setdefault("metavar", "DIR")
    parser.add_argument("-o", "--out", type=Path, **kw)


def add_json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """``--json`` prints ``what`` as JSON on stdout; ``--json-out FILE`` writes it to a file."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")
    parser.add_argument("--json-out", type=Path, metavar="FILE", help=f"also write {what} as JSON to FILE")


def refuse_existing(path: Path, force: bool) -> None:
    """The charter's rule for an output that exists: exit 1 with one line, unless ``-f/--force``.

    An empty folder is not in the way: a verb that fills a folder may fill it."""
    empty_dir = path.is_dir() and not any(path.iterdir())
    if path.exists() and not empty_dir and not force:
        raise OutputError(f"{path}: already exists (use --force to overwrite)")


class _Deprecated(argparse.Action):
    """A hidden old spelling: acts as the new option and warns once on stderr."""

    def __init__(self, option_strings: list[str], dest: str, new: str = "", **kw: Any) -> None:
        self.new, self.plain = new, kw.pop("plain", "store")
        super().__init__(option_strings, dest, **kw)

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, values: Any, opt: str | None = None
    ) -> None:
        print(
            f"{parser.prog}: warning: {opt} is deprecated, use {self.new} "
            "(the old spelling goes in the next release)",
            file=sys.stderr,
        )
        setattr(ns, self.dest, self.const if self.plain == "store_const" else values)


def deprecated_alias(parser: argparse.ArgumentParser, *old: str, dest: str, new: str, **kw: Any) -> None:
    """Keep ``old`` spellings of ``new`` for one release: hidden from --help, warning when used.

    ``kw`` is what the new option takes (``type``, ``nargs``; ``const=`` for a flag such as store_true).
    """
    if "const" in kw:
        kw.update(nargs=0, plain="store_const")
    parser.add_argument(*old, dest=dest, action=_Deprecated, new=new, help=argparse.SUPPRESS, **kw)


def split_leading(items: Sequence[str], is_lead: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """`--tokenizer A B f1 f2`: argparse hands all four to the option; the option's own values are the leading
    items that look like what it takes (at least one), the rest belongs to the positional arguments."""
    n = 1
    while n < len(items) and is_lead(items[n]):
        n += 1
    return list(items[:n]), list(items[n:])


def verb_parsers(
    parser: argparse.ArgumentParser, parser_class: type[argparse.ArgumentParser] | None = None
) -> Callable[[str, str], argparse.ArgumentParser]:
    """Subcommands (`TOOL VERB ...`), each with -q/--quiet and -v/--verbose.

    Returns `verb(name, summary) -> its parser`; ``parser_class`` (default: the tool parser's class) builds
    the verbs' parsers."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-q", "--quiet", action="store_true", help="no progress bars or notes")
    common.add_argument("-v", "--verbose", action="store_true", help="more detail on what is done")
    verbs = parser.add_subparsers(
        dest="verb", metavar="VERB", required=True, parser_class=parser_class or type(parser)
    )

    def verb(name: str, summary: str) -> argparse.ArgumentParser:
        return verbs.add_parser(
            name, parents=[common], help=summary, description=summary, prog=f"{parser.prog} {name}"
        )

    return verb


def add_table_outputs(parser: argparse.ArgumentParser, what: str) -> None:
    """--csv, --chart and -f for a verb that prints a results table."""
    parser.add_argument("--csv", type=Path, metavar="OUT", help="also write the table as CSV")
    parser.add_argument("--chart", type=Path, metavar="OUT.png", help=f"also draw {what} as a bar chart")
    add_force(parser, "--csv/--chart outputs")


def check_table_outputs(args: argparse.Namespace) -> None:
    """Refuse existing --csv/--chart outputs before the work, not after minutes of it."""
    for path in (args.csv, args.chart):
        if path:
            refuse_existing(path, args.force)


def write_table_outputs(args: argparse.Namespace, table: Any, chart: Any) -> None:
    """Prints the table (Markdown) and writes the --csv / --chart outputs atomically."""
    from everybit.common.atomic import atomic_write_bytes

    print(table.to_markdown())
    if args.csv:
        atomic_write_bytes(args.csv, table.to_csv().encode(), overwrite=args.force)
    if args.chart:
        refuse_existing(args.chart, args.force)
        chart.save_png(args.chart)

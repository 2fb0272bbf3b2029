"""The umbrella command ``everybit COMMAND ...``: lists the tools and hands the rest to one of them.

A command's module is imported only when that command runs, so ``everybit --help`` stays fast and
never imports torch. Parsing, error reporting and signals are ``everybit.common.cli``'s, shared with
every tool's own console script.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from everybit import __version__
from everybit.common.cli import ArgumentParser, command_parser, dispatch, guarded, pop_debug
from everybit.common.errors import UsageError
from everybit.common.progress import set_quiet
from everybit.registry import TOOLS, find

DEMO_SUMMARY = "run every built tool on small built-in inputs and write an HTML report"


def _command_parser(prog: str, name: str) -> ArgumentParser:
    """The parser of one command, filled by that command's module."""
    if name == "demo":
        return command_parser(prog, "everybit.demo", DEMO_SUMMARY)
    tool = find(name)
    if tool is None:
        known = ", ".join(["demo", *(t.name for t in TOOLS if t.is_built())])
        raise UsageError(f"unknown command '{name}' (choose from: {known})")
    if not tool.is_built():
        raise UsageError(f"'{name}' is not built yet in everybit {__version__}")
    return command_parser(prog, tool.module, tool.summary)


def _top_parser() -> ArgumentParser:
    built = [t for t in TOOLS if t.is_built()]
    width = max(len(t.name) for t in TOOLS) + 2
    lines = [f"  {'demo':<{width}}{DEMO_SUMMARY}"] + [f"  {t.name:<{width}}{t.summary}" for t in built]
    pending = [t.name for t in TOOLS if not t.is_built()]
    epilog = "commands:\n" + "\n".join(lines)
    if pending:
        epilog += "\n\nnot built yet: " + ", ".join(pending)
    epilog += "\n\nRun 'everybit COMMAND --help' for the options of a command."
    parser = ArgumentParser(
        prog="everybit",
        description="Data compression and language-modelling tools, real and fast.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage="everybit [--version] [--debug] [-q] COMMAND [ARGS...]",
    )
    parser.add_argument("--version", action="version", version=f"everybit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("command", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``everybit`` command."""
    debug, argv = pop_debug(sys.argv[1:] if argv is None else argv)

    def work() -> int | None:
        top = _top_parser()
        ns = top.parse_args(argv)
        if ns.command is None:
            top.print_help(sys.stderr)
            return 2
        set_quiet(ns.quiet)
        prog = f"everybit {ns.command}"
        return dispatch(_command_parser(prog, ns.command), ns.args)

    sys.exit(guarded("everybit", debug, work))

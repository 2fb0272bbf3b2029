"""The umbrella command ``everybit COMMAND ...`` and the error handling every tool's CLI shares.

A command's module is imported only when that command runs, so ``everybit --help`` stays fast and
never imports torch. Each command module provides ``configure(parser)``, which adds its arguments and
sets ``func`` (called with the parsed namespace; it returns an exit code or None for 0).

Failures print one line, ``<prog>: error: <what and where>``, and exit 1 (2 for usage errors);
``--debug`` adds the traceback. Ctrl-C exits 130 and SIGTERM 143, after ``finally`` blocks (so atomic
outputs are cleaned up); a closed stdout pipe exits 141 quietly.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from everybit import __version__
from everybit.common.errors import EverybitError, MissingDependencyError, UsageError
from everybit.common.progress import set_quiet
from everybit.registry import TOOLS, find

DEMO_SUMMARY = "run every built tool on small built-in inputs and write an HTML report"
ML_PACKAGES = {
    "torch",
    "transformers",
    "tokenizers",
    "safetensors",
    "gguf",
    "sentence_transformers",
    "faiss",
    "accelerate",
    "imagecodecs",
}


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line message and exit code for an exception that reached the top."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in ML_PACKAGES:
        exc = MissingDependencyError(f"this needs the '{exc.name}' package: pip install 'everybit[ml]'")
    if isinstance(exc, EverybitError):
        msg, code = str(exc), exc.exit_code
    elif isinstance(exc, OSError) and exc.strerror:
        where = " -> ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
        msg, code = (f"{where}: {exc.strerror}" if where else exc.strerror), 1
    elif isinstance(exc, MemoryError):
        msg, code = "out of memory", 1
    else:
        msg, code = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", 1
    return " ".join(msg.split()), code


def _on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through finally blocks, unlike the default action


def guarded(prog: str, debug: bool, work: Callable[[], int | None]) -> int:
    """Run ``work`` and turn whatever escapes it into an exit code and at most one line on stderr."""
    with contextlib.suppress(ValueError):  # ValueError: not the main thread, leave signals alone
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return work() or 0
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): not an error, but stop writing to the dead pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if debug:
            import traceback

            traceback.print_exc()
        msg, code = describe(exc)
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return code


def _command_parser(prog: str, name: str) -> ArgumentParser:
    """The parser of one command, filled by that command's module."""
    if name == "demo":
        module = importlib.import_module("everybit.demo")
        summary = DEMO_SUMMARY
    else:
        tool = find(name)
        if tool is None:
            known = ", ".join(["demo", *(t.name for t in TOOLS if t.is_built())])
            raise UsageError(f"unknown command '{name}' (choose from: {known})")
        if not tool.is_built():
            raise UsageError(f"'{name}' is not built yet in everybit {__version__}")
        module = importlib.import_module(tool.module)
        summary = tool.summary
    parser = ArgumentParser(prog=prog, description=summary)
    module.configure(parser)
    return parser


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


def _dispatch(prog: str, command: str, argv: Sequence[str]) -> int | None:
    args = _command_parser(prog, command).parse_args(list(argv))
    if getattr(args, "quiet", False):
        set_quiet(True)
    return args.func(args)


def _pop_debug(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """``--debug`` is accepted anywhere before ``--``, for the umbrella and every command alike."""
    argv = list(argv)
    end = argv.index("--") if "--" in argv else len(argv)
    rest = [a for a in argv[:end] if a != "--debug"]
    return len(rest) < end, rest + argv[end:]


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of the ``everybit`` command."""
    debug, argv = _pop_debug(sys.argv[1:] if argv is None else argv)

    def work() -> int | None:
        top = _top_parser()
        ns = top.parse_args(argv)
        if ns.command is None:
            top.print_help(sys.stderr)
            return 2
        set_quiet(ns.quiet)
        return _dispatch(f"everybit {ns.command}", ns.command, ns.args)

    sys.exit(guarded("everybit", debug, work))


def run_tool(name: str, argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of a tool's own command (``ulz ...`` behaves as ``everybit ulz ...``)."""
    debug, argv = _pop_debug(sys.argv[1:] if argv is None else argv)
    sys.exit(guarded(name, debug, lambda: _dispatch(name, name, argv)))

"""Running a command: the argument parser, error reporting and signal handling every CLI shares.

The umbrella ``everybit`` and each tool's own console script (``ulz``, ``imli``, ...) both go through
``command_parser`` and ``guarded``, so a tool behaves the same under either name and no tool imports the
umbrella. A command's module provides ``configure(parser)``, which adds its arguments and sets ``func``
(called with the parsed namespace; it returns an exit code or None for 0).

Failures print one line, ``<prog>: error: <what and where>``, and exit 1 (2 for usage errors);
``--debug`` adds the traceback. Ctrl-C exits 130 and SIGTERM 143, after ``finally`` blocks (so atomic
outputs are cleaned up); a closed stdout pipe exits 141 quietly. docs/cli.md is the full charter.
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
from everybit.registry import find

# Top-level packages of the `ml` extra: a ModuleNotFoundError for one of them names the extra to install.
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


def command_parser(prog: str, module: str, summary: str) -> ArgumentParser:
    """The parser of one command, filled by ``module.configure``; every command answers ``--version``."""
    parser = ArgumentParser(prog=prog, description=summary)
    parser.add_argument("--version", action="version", version=f"{prog} (everybit {__version__})")
    importlib.import_module(module).configure(parser)
    return parser


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int | None:
    args = parser.parse_args(list(argv))
    if getattr(args, "quiet", False):
        set_quiet(True)
    return args.func(args)


def pop_debug(argv: Sequence[str]) -> tuple[bool, list[str]]:
    """``--debug`` is accepted anywhere before ``--``, for the umbrella and every command alike."""
    argv = list(argv)
    end = argv.index("--") if "--" in argv else len(argv)
    rest = [a for a in argv[:end] if a != "--debug"]
    return len(rest) < end, rest + argv[end:]


def run_tool(name: str, argv: Sequence[str] | None = None) -> NoReturn:
    """Entry point of a tool's own console script (``ulz ...`` behaves as ``everybit ulz ...``)."""
    debug, argv = pop_debug(sys.argv[1:] if argv is None else argv)
    tool = find(name)
    if tool is None:  # pragma: no cover - every console script names a registered tool
        raise LookupError(f"no tool named {name!r}")
    sys.exit(guarded(name, debug, lambda: dispatch(command_parser(name, tool.module, tool.summary), argv)))

"""``ulz [-d | -t | -l] [options] [FILE ...]``: the gzip-like command for .ulz files.

Every option and rule is the shared codec driver's (``everybit.common.codeccli``, docs/cli.md): level 1 by
default (``-1``..``-9``), 1 MiB blocks (``-B 64k``..``-B 64M``), every core (``-T N``).
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from everybit.common import codeccli
from everybit.common.cli import run_tool
from everybit.ulz.frame import ULZ


def configure(parser: argparse.ArgumentParser) -> None:
    codeccli.configure(parser, ULZ)


def main() -> NoReturn:
    """Entry point of the ``ulz`` console script."""
    run_tool("ulz")

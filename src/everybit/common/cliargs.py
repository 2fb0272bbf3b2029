"""Argument helpers shared by tool CLIs."""

from __future__ import annotations

from collections.abc import Callable, Sequence


def split_leading(items: Sequence[str], is_lead: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """`--tokenizer A B f1 f2`: argparse hands all four to the option; the option's own values are the leading
    items that look like what it takes (at least one), the rest belongs to the positional arguments."""
    n = 1
    while n < len(items) and is_lead(items[n]):
        n += 1
    return list(items[:n]), list(items[n:])

"""Progress bars for long work: shown on a terminal only, only once the work has run ~2 seconds.

Off when stderr is not a TTY, after ``set_quiet(True)`` (the CLI's ``--quiet``), with ``quiet=True``,
or when ``EVERYBIT_NO_PROGRESS`` is set. A disabled bar costs almost nothing, so library code can
always report progress.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
DELAY_S = 2.0  # short work finishes before a bar would appear, so it never flickers
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) every progress bar of this process."""
    global _quiet
    _quiet = quiet


def enabled(quiet: bool | None = None) -> bool:
    if quiet if quiet is not None else _quiet:
        return False
    if os.environ.get("EVERYBIT_NO_PROGRESS"):
        return False
    return sys.stderr is not None and sys.stderr.isatty()


class _NoBar:
    """What a disabled bar is: nothing to import (tqdm costs ~7 ms at start-up) and nothing to draw.
    Like tqdm's, ``n`` counts what was reported."""

    n: float = 0

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix(self, *args: Any, **kw: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(
    total: float | None = None, desc: str = "", *, unit: str = "B", quiet: bool | None = None, **kw: Any
) -> Any:
    """A bar to ``update(n)``; use as a context manager. ``unit="B"`` scales to KiB/MiB."""
    if not enabled(quiet):
        return _NoBar()
    from tqdm import tqdm

    is_bytes = unit == "B"
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=is_bytes,
        unit_divisor=1024 if is_bytes else 1000,
        delay=DELAY_S,
        file=sys.stderr,
        leave=False,
        dynamic_ncols=True,
        **kw,
    )


def track(
    items: Iterable[T],
    desc: str = "",
    *,
    total: int | None = None,
    unit: str = "it",
    quiet: bool | None = None,
) -> Iterator[T]:
    """Iterate over ``items`` with a bar (counted in ``unit``)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, desc, unit=unit, quiet=quiet) as bar:
        for item in items:
            yield item
            bar.update(1)

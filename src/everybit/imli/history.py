"""What changed between two versions of an archive, and which versions borg-style pruning keeps.

Pure functions over ``journal.Journal`` (no file access): ``diff`` for ``imli diff``, ``select`` for
``imli prune``, and ``changes`` that both use (prune writes each kept version as the changes from the
kept version before it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from everybit.imli.journal import Entry, Journal

ADDED, REMOVED, CHANGED = "+", "-", "~"


@dataclass(frozen=True)
class Change:
    """One path that differs between two states: added (+), removed (-) or changed (~, with what)."""

    path: str
    mark: str
    what: tuple[str, ...] = ()  # for "~": some of "content", "date", "mode"


def _what(old: Entry, new: Entry) -> tuple[str, ...]:
    """How a path's record differs. Within one archive equal content means equal fragment ids
    (fragments are deduplicated by SHA-1), so comparing ids compares content without decoding."""
    what = []
    if old.fragments != new.fragments:
        what.append("content")
    if old.date != new.date:
        what.append("date")
    if old.attr != new.attr:
        what.append("mode")
    return tuple(what)


def changes(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> list[Change]:
    """The paths that differ between two states (``Journal.state`` mappings), sorted by path."""
    out = [Change(p, REMOVED) for p in old if p not in new]
    for path, entry in new.items():
        if path not in old:
            out.append(Change(path, ADDED))
        elif what := _what(old[path], entry):
            out.append(Change(path, CHANGED, what))
    return sorted(out, key=lambda c: c.path)


def states(journal: Journal, numbers: Iterable[int]) -> Iterator[tuple[int, dict[str, Entry]]]:
    """(n, ``journal.state(n)``) for each version count n of ``numbers``, in increasing order, in one
    pass over the versions (calling ``state`` for each would be quadratic in the versions)."""
    files: dict[str, Entry] = {}
    done = 0
    for n in sorted(numbers):
        for version in journal.versions[done:n]:
            files.update((e.path, e) for e in version.entries)
        done = max(done, n)
        yield n, {p: e for p, e in files.items() if not e.deleted}


def diff(journal: Journal, v1: int, v2: int) -> list[Change]:
    """What changed from version ``v1`` to version ``v2`` (version counts: 0 is the empty archive)."""
    return changes(journal.state(v1), journal.state(v2))


# ---------------------------------------------------------------------------------------------- pruning


def _week(number: int, date: int) -> tuple[int, int]:
    year, week, _ = datetime.strptime(f"{date:014d}", "%Y%m%d%H%M%S").isocalendar()
    return year, week  # ISO weeks run Monday to Sunday, as borg's


# The rules in borg's order (each rule skips the versions earlier rules kept): rule -> the period of a
# version (number, date). "last" keeps the N newest versions (borg: --keep-last = --keep-secondly; a
# zpaq archive never has two versions in one second, so counting versions is the same).
PERIODS: dict[str, Callable[[int, int], object]] = {
    "last": lambda number, date: number,
    "daily": lambda number, date: date // 1_000_000,
    "weekly": _week,
    "monthly": lambda number, date: date // 100_000_000,
    "yearly": lambda number, date: date // 10_000_000_000,
}


def _apply(rule: str, n: int, newest_first: Sequence[tuple[int, int]], kept: dict[int, str]) -> None:
    """Keep the newest version of each of the ``n`` most recent periods (all of them when n < 0); a
    period whose newest version an earlier rule kept does not count. Short of ``n``, keep the oldest
    version too (borg >= 1.2), so that the first backup ages until a newer one takes its place."""
    period = PERIODS[rule]
    last, count = object(), 0
    for number, date in newest_first:
        p = period(number, date)
        if p == last:
            continue
        last = p
        if number in kept:
            continue
        count += 1
        kept[number] = f"{rule} #{count}"
        if count == n:
            return
    oldest = newest_first[-1][0] if newest_first else None
    if n > 0 and oldest is not None and oldest not in kept:
        kept[oldest] = f"{rule}[oldest] #{count + 1}"


def select(versions: Sequence[tuple[int, int]], rules: Mapping[str, int]) -> dict[int, str]:
    """The versions that ``rules`` (rule name -> N, 0 for unused) keep, from (number, date) pairs:
    version number -> why, as borg's ``prune --list`` says it ("daily #2")."""
    unknown = set(rules) - set(PERIODS)
    if unknown:
        raise ValueError(f"unknown prune rules: {', '.join(sorted(unknown))}")
    newest_first = sorted(versions, key=lambda v: (v[1], v[0]), reverse=True)
    kept: dict[int, str] = {}
    for rule in PERIODS:
        if rules.get(rule, 0):
            _apply(rule, rules[rule], newest_first, kept)
    return kept

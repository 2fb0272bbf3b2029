"""Helpers shared by two or more tools: errors, atomic output, progress bars, reports.

Nothing here imports a tool.
"""

from everybit.common.atomic import atomic_dir, atomic_write, atomic_write_bytes
from everybit.common.errors import (
    CorruptDataError,
    DataUnavailableError,
    EverybitError,
    InputError,
    MissingDependencyError,
    OutputError,
    UsageError,
)
from everybit.common.progress import progress_bar, set_quiet, track

__all__ = [
    "CorruptDataError",
    "DataUnavailableError",
    "EverybitError",
    "InputError",
    "MissingDependencyError",
    "OutputError",
    "UsageError",
    "atomic_dir",
    "atomic_write",
    "atomic_write_bytes",
    "progress_bar",
    "set_quiet",
    "track",
]

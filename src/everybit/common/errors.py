"""The error types every tool raises; the CLI maps them to one-line messages and exit codes.

Exit codes: 1 for any failure of the work itself, 2 for a command used wrongly (as argparse does).
Library users catch ``EverybitError`` (or the narrower type); ``CorruptDataError`` is also a
``ValueError`` so code written against zlib-style APIs keeps working.
"""

from __future__ import annotations


class EverybitError(Exception):
    """Base of every error everybit raises on purpose. The message is one line a user can act on."""

    exit_code = 1


class UsageError(EverybitError):
    """The command was called wrongly: bad flag combination, bad option value."""

    exit_code = 2


class InputError(EverybitError):
    """An input is missing, unreadable, or not what it claims to be."""


class CorruptDataError(InputError, ValueError):
    """Compressed or archived data failed a check (bad magic, checksum, truncation, trailing garbage)."""


class OutputError(EverybitError):
    """An output could not be written (exists without --force, disk full, permission)."""


class MissingDependencyError(EverybitError):
    """An optional dependency is not installed; the message names the extra that brings it."""


class DataUnavailableError(EverybitError):
    """Data or a model the command needs is not on this machine; the message says how to get it."""

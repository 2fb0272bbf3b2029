"""imli: an archiver that reads and writes the ZPAQ journaling format, interoperable with zpaq 7.15.

Every ``add`` appends a version (a transaction) holding only what changed; files are split into
content-defined fragments and each fragment is stored once across all versions::

    from everybit.imli import Archive

    archive = Archive("backup.zpaq", key=None)      # key: zpaq -key compatible password
    # Archive(path, max_memory=2 << 30, block_timeout=20.0): budgets (defaults 1 GiB, 8 s)
    result = archive.add(["docs"], method=1)        # AddResult: version, added, deleted, bytes...
    archive.list()                                  # latest version; until=N or YYYYMMDD[HHMMSS]
    archive.extract(to="restore", until=1)          # ExtractResult: written, failed (path, reason)
    archive.test()                                  # every fragment decoded and checked (SHA-1)

Every block with a model or a ZPAQL program is decoded in a worker process under a memory budget read
from its header and a watchdog (``everybit.imli.sandbox``): a hostile block is refused or stopped and
reported like a damaged one. Failures raise the types of ``everybit.common.errors`` (``InputError``
for a missing archive or a wrong key, ``CorruptDataError`` for damaged data). Damaged fragments do not
stop ``extract`` or ``test``: the files they affect are listed in ``ExtractResult.failed`` and the
others are restored.
The names below are imported on first use, so ``everybit --help`` does not load the codec.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from everybit.common.errors import CorruptDataError, EverybitError, InputError, OutputError, UsageError
    from everybit.imli.archive import AddResult, Archive, ExtractResult
    from everybit.imli.blocks import BlockError

_WHERE = {
    "Archive": "everybit.imli.archive",
    "AddResult": "everybit.imli.archive",
    "ExtractResult": "everybit.imli.archive",
    "BlockError": "everybit.imli.blocks",
    "EverybitError": "everybit.common.errors",
    "InputError": "everybit.common.errors",
    "CorruptDataError": "everybit.common.errors",
    "OutputError": "everybit.common.errors",
    "UsageError": "everybit.common.errors",
}

__all__ = [
    "AddResult",
    "Archive",
    "BlockError",
    "CorruptDataError",
    "EverybitError",
    "ExtractResult",
    "InputError",
    "OutputError",
    "UsageError",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

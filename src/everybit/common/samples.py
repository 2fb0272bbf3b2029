"""Built-in inputs for demos: real text every machine with Python has, read the same way everywhere."""

from __future__ import annotations

import sysconfig
from pathlib import Path

from everybit.common.errors import DataUnavailableError

HELD_SHARE = 0.2  # the last fifth of each demo text is held out: never trained on, only scored
CODE_BYTES = 600_000


def stdlib_files(limit: int) -> list[tuple[str, bytes]]:
    """(name, bytes) of the stdlib's top-level ``*.py`` files in name order, until ``limit`` bytes are had."""
    found, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        data = path.read_bytes()
        found.append((path.name, data))
        size += len(data)
        if size >= limit:
            return found
    raise DataUnavailableError(f"the Python standard library sources hold under {limit:,} bytes here")


def stdlib_sample(limit: int) -> bytes:
    """Exactly ``limit`` bytes of those files, concatenated."""
    return b"".join(data for _, data in stdlib_files(limit))[:limit]


def _split(text: str) -> tuple[str, str]:
    """(training part, held-out part), cut at a line end near 1 - HELD_SHARE of the text."""
    cut = text.rfind("\n", 0, int(len(text) * (1 - HELD_SHARE))) + 1
    return text[:cut], text[cut:]


def text_corpora(scratch: Path) -> tuple[list[Path], dict[str, str]]:
    """The demos' tokenizer text: training files written to ``scratch`` (``en.txt``, ``code.txt``), and the
    held-out texts by domain. English is the interactive help topics (``pydoc_data``), code the stdlib."""
    import pydoc_data.topics  # ~1 MB of text: only for the demos that use it

    en_train, en_held = _split("".join(pydoc_data.topics.topics.values()))
    code = stdlib_sample(CODE_BYTES).decode("utf-8", "replace")
    code_train, code_held = _split(code[: code.rfind("\n") + 1])
    files = []
    for name, text in (("en.txt", en_train), ("code.txt", code_train)):
        (scratch / name).write_text(text)
        files.append(scratch / name)
    return files, {"English (help topics)": en_held, "Python (stdlib)": code_held}

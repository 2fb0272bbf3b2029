"""Shared helpers of the fuzz harnesses (plain Python: no atheris needed to import this).

Exact-size buffers matter: ``bytes`` and ``bytearray`` allocate one byte more than their length (the
trailing NUL) and small ones come from Python's arena allocator, so an overrun of the C decoder into
them can go unseen by AddressSanitizer. ``array('B', [0]) * n`` is one ``malloc(n)`` exactly (run.sh
sets ``PYTHONMALLOC=malloc``), so every byte past the end is a red zone.
"""

from __future__ import annotations

import array
import itertools
from collections import Counter

# Output sizes the harnesses let a fuzz input ask for: big enough for every code path (GIL release at
# 8 KiB, 17-bit distances), small enough that an execution stays fast and memory stays bounded.
MAX_OUT = 1 << 20


def exact(data: bytes | int) -> array.array:
    """A buffer of exactly len(data) (or data) bytes in its own heap block, holding data (or zeros)."""
    n = data if isinstance(data, int) else len(data)
    buf = array.array("B", [0]) * n
    if not isinstance(data, int) and n:
        memoryview(buf)[:] = data
    return buf


def varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def read_varint(data: bytes) -> tuple[int, int] | None:
    """(value, header length) of the size header of compress() output, or None if it is not valid."""
    value = 0
    for i in range(min(len(data), 9)):
        value |= (data[i] & 0x7F) << (7 * i)
        if not data[i] & 0x80:
            return value, i + 1
    return None


def outcome(fn, *args):
    """fn(*args), or the ULZError it raised; any other exception propagates (and is a finding)."""
    from everybit.ulz import ULZError

    try:
        return fn(*args)
    except ULZError as exc:
        return exc


def load_extension(name: str):
    """The C extension ``name`` (e.g. ``everybit.imgkan._ikcoder``) from the first ``everybit`` on sys.path,
    without importing its package: some packages import torch or tokenizers (slow, and nothing to run
    under the sanitizers). run.sh checks that this finds the sanitized build."""
    import importlib.machinery
    import importlib.util
    import os
    import sys

    if name not in sys.modules:
        import everybit

        folder = os.path.join(everybit.__path__[0], *name.split(".")[1:-1])
        loaders = [(importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES)]
        spec = importlib.machinery.FileFinder(folder, *loaders).find_spec(name)
        if spec is None:
            raise ImportError(f"no built {name} in {folder}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def misaligned(data: bytes) -> memoryview:
    """data as a read-only view that starts one byte into its heap block: a C extension that reads wider
    values through a cast pointer instead of memcpy trips UBSan's alignment check on it."""
    buf = exact(b"\0" + data)
    return memoryview(buf).toreadonly()[1:]


def fuzz(test_one_input) -> None:
    """Hands test_one_input to libFuzzer (run as a script only). libFuzzer re-executes argv[0] for
    -minimize_crash, -fork and -merge: run.sh's wrappers export FUZZ_ARGV0 so it re-runs the wrapper,
    with the sanitizer environment, not the bare .py file."""
    import os
    import sys

    import atheris

    atheris.Setup([os.environ.get("FUZZ_ARGV0", sys.argv[0]), *sys.argv[1:]], test_one_input)
    atheris.Fuzz()


def reference_bpe(words, counts, shapes, k, max_words=0, min_frequency=2):
    """Textbook BPE: count every pair, merge the most frequent (ties: smallest pair) left to right.

    ``shapes`` are (words, head, tail) per symbol, as ``_merges.MergeTrainer`` takes them; the C trainer
    must give the same (a, b, count) list (tests/supertok/test_merges.py, fuzz_merges.py)."""
    words = [list(w) for w in words]
    shapes = [tuple(s) for s in shapes]
    merges = []

    def ok(a, b):
        if not max_words:
            return True
        (wa, _, ta), (wb, hb, _) = shapes[a], shapes[b]
        return wa + wb - (ta and hb) <= max_words

    for _ in range(k):
        pairs = Counter()
        for w, c in zip(words, counts, strict=True):
            for a, b in itertools.pairwise(w):
                if ok(a, b):
                    pairs[a, b] += c
        live = [(c, p) for p, c in pairs.items() if c >= min_frequency]
        if not live:
            break
        count, (a, b) = min(live, key=lambda cp: (-cp[0], cp[1]))
        x = len(shapes)
        (wa, ha, ta), (wb, hb, tb) = shapes[a], shapes[b]
        shapes.append((wa + wb - (ta and hb), ha, tb))
        merges.append((a, b, count))
        for i, w in enumerate(words):
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(x)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
    return merges

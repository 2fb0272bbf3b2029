"""Files written before the shared frame engine (tests/codecs/data, made by the code of that time) must
decode to the same bytes forever: the formats are frozen, whatever the code that reads them.

manifest.json gives, for each file, how it was made (with tests/codecs/samples.py's ``make``), and the
length and SHA-256 of what it holds. Never regenerate these files: write new ones next to them.
"""

import hashlib
import io
import json
from pathlib import Path

import pytest

from everybit import bpez, ulz
from tests.codecs.samples import BS, make

DATA = Path(__file__).parent / "data"
MANIFEST = json.loads((DATA / "manifest.json").read_text())


def decoders(name: str):
    """Every way the file's API reads it: one-shot (1 and 3 threads), streamed 1000 bytes at a time."""
    if name.endswith(".ulzblock"):
        return [ulz.block.decompress]
    codec = ulz if name.endswith(".ulz") else bpez
    return [
        lambda blob: codec.decompress(blob, threads=1),
        lambda blob: codec.decompress(blob, threads=3),
        lambda blob: codec.open(io.BytesIO(blob)).read(),
        lambda blob: b"".join(iter(codec.open(io.BytesIO(blob), threads=2).read1, b"")),
    ]


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_frozen_files_decode_to_the_same_bytes(name):
    blob, meta = (DATA / name).read_bytes(), MANIFEST[name]
    for decode in decoders(name):
        plain = decode(blob)
        assert (len(plain), hashlib.sha256(plain).hexdigest()) == (meta["size"], meta["sha256"]), meta["how"]


# Files whose bytes depend on the frame layer only (stored blocks, no blocks): today's writer must give
# them again. (Compressed blocks may change with the encoders; only their decoding is frozen.)
REWRITTEN = {
    "empty.ulz": lambda: ulz.compress(b""),
    "hello.ulz": lambda: ulz.compress(b"hello", block_size=BS),
    "empty.bpez": lambda: bpez.compress(b""),
    "hello.bpez": lambda: bpez.compress(b"hello", block_size=BS),
    "random.bpez": lambda: bpez.compress(make("random", 1000, 2)),
}


@pytest.mark.parametrize("name", sorted(REWRITTEN))
def test_the_writer_still_writes_them(name):
    assert REWRITTEN[name]() == (DATA / name).read_bytes()

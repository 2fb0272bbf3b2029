"""Runs every fuzz target's TestOneInput on its seeds and ~2,000 mutated and random inputs, without
atheris and on the normal build: the harness code stays exercised (and correct) in the normal suite.
The real fuzzing, on a sanitized build, is ``make fuzz`` (tests/fuzz/README.md)."""

import importlib
import random

import pytest

from tests.fuzz import make_seeds

ROUNDS = 2000
TARGETS = {  # every fuzz_*.py of this folder (test_every_harness_is_listed)
    "decompress": "tests.fuzz.fuzz_decompress",
    "decompress_block": "tests.fuzz.fuzz_decompress_block",
    "roundtrip": "tests.fuzz.fuzz_roundtrip",
    "frame": "tests.fuzz.fuzz_frame",
    "ikcoder": "tests.fuzz.fuzz_ikcoder",
    "imli_reader": "tests.fuzz.fuzz_imli_reader",
    "bpez_pairs": "tests.fuzz.fuzz_bpez_pairs",
    "bpez_frame": "tests.fuzz.fuzz_bpez_frame",
    "jbigctx": "tests.fuzz.fuzz_jbigctx",
    "fontpack_file": "tests.fuzz.fuzz_fontpack_file",
    "chunker": "tests.fuzz.fuzz_chunker",
    "merges": "tests.fuzz.fuzz_merges",
}


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """A few libFuzzer-like edits: flip/set bytes, insert/erase/duplicate runs, truncate, splice."""
    b = bytearray(data)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(7)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[min(pos, len(b) - 1)] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:
            b[pos:pos] = rng.randbytes(rng.randrange(1, 9))
        elif op == 3:
            del b[pos : pos + rng.randrange(1, 17)]
        elif op == 4 and b:
            start = rng.randrange(len(b))
            b[pos:pos] = b[start : start + rng.randrange(1, 33)]
        elif op == 5:
            del b[pos:]
        else:
            other = rng.choice(pool)
            b = b[:pos] + other[rng.randrange(len(other) + 1) :]
    return bytes(b)


@pytest.mark.parametrize("target", TARGETS)
def test_harness_accepts_seeds_and_mutants(target):
    harness = importlib.import_module(TARGETS[target])
    seeds = make_seeds.seeds(target)
    assert seeds
    for seed in seeds:
        harness.TestOneInput(seed)
    rng = random.Random(f"fuzz-smoke-{target}")
    small = [s for s in seeds if len(s) <= 4096] or [b""]
    for i in range(ROUNDS):
        data = rng.randbytes(rng.randrange(64)) if i % 4 == 0 else mutate(rng, rng.choice(small), small)
        harness.TestOneInput(data)


def test_every_harness_is_listed():
    from pathlib import Path

    here = Path(__file__).parent
    assert sorted(TARGETS) == sorted(p.stem.removeprefix("fuzz_") for p in here.glob("fuzz_*.py"))
    assert sorted(TARGETS) == sorted(make_seeds.TARGETS)

"""Deterministic sample data for the codec tests: the same bytes on every run and every machine."""

from __future__ import annotations

import random

BS = 1 << 16  # the smallest block size of both formats: multi-block cases stay fast

_VOCABULARY = (
    b"the of and to in is was that for it with as his on be at by had are but from or have an they which "
    b"one you were her all she there would their we him been has when who will more no if out so said what "
    b"up its about into than them can only other new some could time these two may then do first any my now "
    b"such like our over man me even most made after also did many before must through back years where "
    b"much your way well down should because each just those people how too little state good very make "
    b"world still own see men work long get here between both life being under never day same another know"
).split()
KINDS = ("text", "random", "zeros", "allbytes", "mixed")


def make(kind: str, size: int, seed: int = 0) -> bytes:
    """``size`` bytes of one kind: English-like text, noise, zeros, every byte value in every block
    (BPE finds no free byte), or text and noise alternating every half block (stored and coded blocks)."""
    rng = random.Random(seed)
    if kind == "random":
        return rng.randbytes(size)
    if kind == "zeros":
        return bytes(size)
    if kind == "allbytes":
        base = bytes(range(256)) + b"".join(b"the %d quick brown foxes " % i for i in range(400))
        return (base * (size // len(base) + 1))[:size]
    words = (rng.choice(_VOCABULARY) + (b".\n" if rng.random() < 0.08 else b"") for _ in range(size // 4 + 1))
    text = b" ".join(words)[:size]
    if kind == "mixed":
        noise = rng.randbytes(size)
        half = BS // 2
        return b"".join((text if (i // BS) % 2 else noise)[i : i + half] for i in range(0, size, half))
    if kind != "text":
        raise ValueError(f"unknown kind {kind!r}")
    return text

"""Fuzz target: supertok's merge trainer, the C module ``everybit.supertok._merges`` (``MergeTrainer``).

Input layout: 1 control byte ``c`` (bit 0 hostile inputs, bit 1 misaligned buffers, bits 2-4 max_words,
bits 5-6 min_frequency - 1, bit 7 a second ``__init__``), 1 byte for the symbol count (1-12) and 3 shape
bytes per symbol, 1 byte for the merges asked (1-10), then words: 1 length byte (0-7), a count byte and that
many symbol bytes each, until the input ends.

- Valid inputs (symbols below the symbol count, 0/1 shape flags with a word wherever an end is
  non-space, small counts): ``merge`` returns, over
  several calls, exactly the merges of a textbook BPE computed here (most frequent pair, ties to the
  smallest, left to right, with the word cap); ``symbols`` counts them; a second ``__init__`` raises
  ``RuntimeError``.
- Hostile inputs (raw symbol bytes, raw shape bytes, counts scaled up to overflow int64 or made negative,
  word ends out of order, a shape buffer of a bad length, max_words past 200, min_frequency 0) raise
  ``ValueError`` exactly when the harness's copy of the rules says so; a trainer whose ``__init__``
  failed can be initialised again with valid inputs, which then train as above.

The arrays are passed as exact-size buffers, misaligned with bit 1, so a cast-pointer read trips UBSan.
"""

import itertools
import struct

try:
    from . import _common as c
except ImportError:  # run as a script: tests/fuzz is sys.path[0]
    import _common as c

mg = c.load_extension("everybit.supertok._merges")

INT64_MAX = (1 << 63) - 1


def sane_shapes(raw: bytes) -> bytes:
    """Shape triples from any bytes: words 0-2, 0/1 flags, and a word wherever an end is non-space."""
    out = bytearray()
    for i in range(0, len(raw) // 3 * 3, 3):
        head, tail = raw[i + 1] & 1, raw[i + 2] & 1
        out += bytes([max(raw[i] % 3, head | tail), head, tail])
    return bytes(out)


class Case:
    def __init__(self, data: bytes) -> None:
        ctl = data[0] if data else 0
        self.hostile, self.misalign, self.second_init = bool(ctl & 1), bool(ctl & 2), bool(ctl & 0x80)
        self.max_words = ctl >> 2 & 7
        self.min_frequency = 1 + (ctl >> 5 & 3)
        nsym = 1 + (data[1] if len(data) > 1 else 0) % 12
        raw_shapes = data[2 : 2 + 3 * nsym].ljust(3 * nsym, b"\0")
        pos = 2 + 3 * nsym
        self.k = 1 + (data[pos] if len(data) > pos else 0) % 10
        pos += 1
        self.words, self.counts = [], []
        while pos + 2 <= len(data) and len(self.words) < 16:
            n, count = data[pos] % 8, data[pos + 1]
            self.words.append(list(data[pos + 2 : pos + 2 + n]))
            self.counts.append(count)
            pos += 2 + n
        self.shapes = sane_shapes(raw_shapes)
        self.valid_words = [[s % nsym for s in w] for w in self.words]
        self.valid_counts = [v % 5 for v in self.counts]
        if self.hostile:
            self.shapes = raw_shapes[: -1 if ctl & 0x40 and ctl & 0x10 else None]
            self.counts = [
                max(-INT64_MAX, min(INT64_MAX, (v - 8) << (8 * (v % 8)))) if v & 1 else v for v in self.counts
            ]
            self.max_words = 190 + (ctl >> 2 & 31)
            self.min_frequency = ctl >> 5 & 3
        else:
            self.words, self.counts = self.valid_words, self.valid_counts
        self.ends = list(itertools.accumulate(len(w) for w in self.words))
        if self.hostile and ctl & 0x20 and len(self.ends) > 1:
            self.ends[0], self.ends[1] = self.ends[1], self.ends[0]

    def arrays(self, words, ends, counts, shapes) -> tuple:
        syms = struct.pack(f"<{sum(map(len, words))}I", *(s for w in words for s in w))
        packed = (
            syms,
            struct.pack(f"<{len(ends)}q", *ends),
            struct.pack(f"<{len(counts)}q", *counts),
            shapes,
        )
        wrap = c.misaligned if self.misalign else c.exact
        return tuple(wrap(b) for b in packed)

    def valid(self) -> bool:
        """The trainer's rules (Trainer_init and load in _merges.c)."""
        nsym, prev = len(self.shapes) // 3, 0
        if len(self.shapes) % 3 or not 0 <= self.max_words <= 200 or self.min_frequency < 1:
            return False
        triples = [self.shapes[i : i + 3] for i in range(0, len(self.shapes), 3)]
        if any(w == 0 and (head or tail) for w, head, tail in triples):
            return False
        total = 0
        for end, count in zip(self.ends, self.counts, strict=True):
            if end < prev or count < 0:
                return False
            total += count * max(end - prev - 1, 0)
            prev = end
        flat = [s for w in self.words for s in w]
        return (
            total <= INT64_MAX
            and all(s < nsym for s in flat)
            and (not self.ends or self.ends[-1] == len(flat))
        )


def train(trainer, case: Case, words, counts, max_words, min_frequency) -> None:
    nsym = len(case.shapes) // 3
    shapes = [tuple(case.shapes[i : i + 3]) for i in range(0, len(case.shapes), 3)]
    want = c.reference_bpe(words, counts, shapes, case.k, max_words, min_frequency)
    got = []
    while len(got) < case.k:
        assert trainer.symbols == nsym + len(got)
        batch = trainer.merge(min(3, case.k - len(got)))
        if not batch:
            break
        got += batch
    assert got == want, f"merges differ from textbook BPE: {got} != {want}"


def TestOneInput(data: bytes) -> None:
    case = Case(data)
    trainer = mg.MergeTrainer.__new__(mg.MergeTrainer)
    args = case.arrays(case.words, case.ends, case.counts, case.shapes)
    try:
        trainer.__init__(*args, case.max_words, case.min_frequency)
    except ValueError:
        assert not case.valid(), "MergeTrainer refused valid inputs"
    else:
        assert case.valid(), "MergeTrainer accepted invalid inputs"
        if not case.hostile:
            train(trainer, case, case.words, case.counts, case.max_words, case.min_frequency)
        if case.second_init:
            try:
                trainer.__init__(*args, case.max_words, case.min_frequency)
            except RuntimeError:
                pass
            else:
                raise AssertionError("a trained MergeTrainer accepted a second __init__")
        return
    # a failed __init__ leaves a trainer that a valid one resets
    case.shapes = sane_shapes(case.shapes.ljust(3, b"\0"))
    nsym = len(case.shapes) // 3
    words = [[s % nsym for s in w] for w in case.words]
    counts = case.valid_counts
    ends = list(itertools.accumulate(len(w) for w in words))
    trainer.__init__(*case.arrays(words, ends, counts, case.shapes), 2, 2)
    train(trainer, case, words, counts, 2, 2)


if __name__ == "__main__":
    c.fuzz(TestOneInput)

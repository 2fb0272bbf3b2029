"""The supertok pre-pass: chunks cover the text exactly, never cross a pre-token, and are reproducible."""

from hypothesis import given, settings
from hypothesis import strategies as st

from everybit.supertok.chunking import chunk_text, drop_runs
from everybit.supertok.dist import parse_dist
from everybit.supertok.pretok import split_lines

DIST = parse_dist("1-3:0.5,4-9:0.5")


def chunks(blocks, seed=0, dist=DIST, max_chars=20):
    return [c for block in chunk_text(blocks, dist, seed, max_chars) for c in block]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(st.characters(codec="utf-8"), max_size=300), max_size=4), st.integers(0, 3))
def test_chunks_partition_text_within_pretokens(blocks, seed):
    out = chunks(blocks, seed)
    assert "".join(out) == "".join(blocks)
    assert all(out)
    # each chunk lies inside one pre-token of the line scheme
    for block, block_chunks in zip(
        [b for b in blocks if b], chunk_text([b for b in blocks if b], DIST, seed, 20), strict=True
    ):
        ends = set()
        pos = 0
        for p in split_lines(block, 20):
            pos += len(p)
            ends.add(pos)
        pos = 0
        for c in block_chunks:
            starts_inside = pos
            pos += len(c)
            assert not any(starts_inside < e < pos for e in ends)


def test_deterministic_for_a_seed_and_different_across_seeds():
    text = ["the quick brown fox jumps over the lazy dog " * 20]
    assert chunks(text, 7) == chunks(text, 7)
    assert chunks(text, 7) != chunks(text, 8)


def test_chunks_straddle_spaces_and_follow_lengths():
    text = ["a bb ccc dddd eeeee " * 200]
    out = chunks(text, 3, parse_dist("6-6:1"), max_chars=10_000)
    assert sum(" " in c.strip() for c in out) > len(out) / 2
    assert all(len(c) == 6 for c in out[:-1])


def test_drop_runs():
    assert drop_runs("ab=======cd\n\n\n", 7) == "abcd\n\n\n"
    assert drop_runs("ab=======cd", 0) == "ab=======cd"
    assert drop_runs("x\n\n\n\n\n\n\ny", 7) == "xy"

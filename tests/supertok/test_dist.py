"""Chunk-length distributions: parsing, validation and sampling."""

import numpy as np
import pytest

from everybit.common.errors import UsageError
from everybit.supertok.dist import DEFAULT_DIST, PAPER_DIST, SEED_CODE_DIST, parse_dist


def test_parse_and_describe():
    d = parse_dist("4-5:0.25, 6-7:0.75")
    assert d.ranges == ((4, 5), (6, 7)) and d.weights == (0.25, 0.75)
    assert str(d) == "4-5:0.25,6-7:0.75"
    assert d.mean == pytest.approx(0.25 * 4.5 + 0.75 * 6.5)
    assert parse_dist("9:1").ranges == ((9, 9),)


def test_defaults_are_valid():
    assert abs(sum(parse_dist(DEFAULT_DIST).weights) - 1) < 1e-9
    assert parse_dist(SEED_CODE_DIST).ranges[-1] == (18, 28)


def test_paper_dist_needs_normalize():
    with pytest.raises(UsageError, match=r"sum to 1\.1.*--normalize"):
        parse_dist(PAPER_DIST)
    assert sum(parse_dist(PAPER_DIST, normalize=True).weights) == pytest.approx(1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "at least one range"),
        ("4-5", "LO-HI:WEIGHT"),
        ("a-b:1", "LO-HI:WEIGHT"),
        ("5-4:1", "1 <= LO <= HI"),
        ("0-4:1", "1 <= LO <= HI"),
        ("1-4:-1", ">= 0"),
        ("1-4:nan", ">= 0"),
        ("1-4:0", "positive weight"),
    ],
)
def test_bad_dists(text, message):
    with pytest.raises(UsageError, match=message):
        parse_dist(text)


def test_sampling_stays_in_ranges_and_follows_weights():
    d = parse_dist("2-3:0.2,10-20:0.8")
    lengths = d.sample(np.random.default_rng(1), 20_000)
    assert set(np.unique(lengths)) <= set(range(2, 4)) | set(range(10, 21))
    assert np.mean(lengths <= 3) == pytest.approx(0.2, abs=0.02)

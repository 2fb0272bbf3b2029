"""The codecs every test of this folder runs on: both frame formats, through their public modules."""

from dataclasses import dataclass
from types import ModuleType

import pytest

from everybit import bpez, ulz
from everybit.common.frame import FrameSpec


@dataclass(frozen=True)
class Codec:
    name: str
    module: ModuleType  # everybit.ulz or everybit.bpez: the API under test
    spec: FrameSpec
    levels: tuple[int, ...]  # fastest, a middle one, smallest
    harmless_flips: bool  # some bits carry no information (deflate's), so a flip there decodes the same

    @property
    def error(self) -> type[Exception]:
        return self.spec.error

    def __str__(self) -> str:
        return self.name


CODECS = [Codec("ulz", ulz, ulz.ULZ, (1, 5, 9), False), Codec("bpez", bpez, bpez.BPEZ, (1, 6, 9), True)]
each_codec = pytest.mark.parametrize("codec", CODECS, ids=str)

"""Hostile ZPAQ archives for imli's safety tests (issue 15), built from code: see ``build.py``."""

from tests.imli.hostile.build import CASES, KEY, Case, build_all

__all__ = ["CASES", "KEY", "Case", "build_all"]

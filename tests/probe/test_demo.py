"""The probe demo section: the three seed studies' headline plots on SmolLM2 (skipped without it)."""

from types import SimpleNamespace

import pytest

from tests.probe.study_model import one_thread  # noqa: F401


def test_demo_section(tmp_path):
    from everybit.common.errors import DataUnavailableError
    from everybit.probe import demo
    from everybit.probe.studies import default_model

    try:
        default_model()
    except DataUnavailableError as exc:
        pytest.skip(str(exc))
    section = demo.demo(SimpleNamespace(out_dir=tmp_path / "report", scratch=tmp_path, quiet=True))
    transplant, patch, ablate = section.charts
    assert transplant.kind == "bar" and len(transplant.series[0].x) == demo.TOP
    assert patch.kind == "line" and len(patch.series) >= 2  # the a.m. token and the last position at least
    assert all(len(s.x) == 30 for s in patch.series)  # SmolLM2's 30 layers
    assert ablate.kind == "bar" and all(x.startswith("L29N") for x in ablate.series[0].x)
    rows = section.tables[0].rows
    assert [r[0] for r in rows] == ["transplant", "transplant", "patch", "ablate"]
    assert "Spearman" in rows[1][1] and "clean +4.67, corrupt +1.22" in rows[2][1]
    assert section.headline[0][0] == "am->pm info reaches the last position"

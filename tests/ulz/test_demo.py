"""The ulz demo section: every codec measured and verified, one table, one chart, a headline."""

from everybit.ulz import demo


def test_demo_section_on_a_small_sample(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "SAMPLE_BYTES", 64 * 1024)
    monkeypatch.setattr(demo, "MIN_RUN_S", 0.001)
    section = demo.demo(None)
    [table] = section.tables
    rows = {(r[0], r[1]): r for r in table.rows}
    assert {("ulz", "-1"), ("ulz", "-5"), ("ulz", "-9"), ("zlib", "-6")} <= rows.keys()
    assert all(r[-1] is True and r[3] > 1 and r[4] > 0 and r[5] > 0 for r in table.rows)
    assert rows["ulz", "-9"][2] <= rows["ulz", "-1"][2]
    assert [label for label, _ in section.headline] == ["level 1", "level 9", "decompress"]
    [chart] = section.charts
    assert chart.kind == "scatter" and chart.logx
    assert chart.save_png(tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"

"""The bpez demo section: ours and the anchors measured and verified, a table, two bar charts, a headline."""

from everybit.bpez import demo


def test_demo_section_on_a_small_sample(monkeypatch, tmp_path):
    monkeypatch.setattr(demo, "SAMPLE_BYTES", 200_000)
    monkeypatch.setattr(demo, "RUNS", 1)
    section = demo.demo(None)
    [table] = section.tables
    rows = {r[0]: r for r in table.rows}
    assert {"bpez -9, 1 thread", "gzip -9 (zlib)", "libdeflate -10, no BPE"} <= rows.keys()
    assert all(r[-1] is True and r[1] > 0 and r[4] > 0 and r[5] > 0 for r in table.rows)
    assert rows["gzip -9 (zlib)"][2] == 0
    assert rows["bpez -9, 1 thread"][1] < rows["gzip -9 (zlib)"][1]  # the point of bpez, on source code
    assert [label for label, _ in section.headline] == ["vs gzip -9", "compress", "decompress"]
    assert [c.kind for c in section.charts] == ["bar", "bar"]
    for i, chart in enumerate(section.charts):
        assert chart.save_png(tmp_path / f"{i}.png").read_bytes()[:4] == b"\x89PNG"
        assert "<svg" in chart.to_svg()

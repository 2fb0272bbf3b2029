"""Report helpers: tables in three formats, charts as PNG and interactive SVG, the HTML page."""

import math

import pytest

from everybit.common.report import Chart, Section, Series, Table, _Axis, fmt, write_report


def test_fmt():
    assert fmt(1234567) == "1,234,567"
    assert fmt(0.123456) == "0.1235"
    assert fmt(2.0) == "2"
    assert fmt(None) == ""
    assert fmt(True) == "yes"
    assert fmt("x") == "x"
    assert fmt(float("nan")) == "nan"


def test_table_formats():
    t = Table(["codec", "bytes", "ratio"], [["gzip <-9>", 1234, 2.5], ["zstd", 99, None]], title="T")
    assert t.to_markdown().splitlines()[2] == "| gzip <-9> | 1,234 | 2.5 |"
    assert t.to_csv() == "codec,bytes,ratio\ngzip <-9>,1234,2.5\nzstd,99,\n"
    h = t.to_html()
    assert "gzip &lt;-9&gt;" in h and "<caption>T</caption>" in h


@pytest.mark.parametrize("kind", ["bar", "line", "scatter"])
def test_chart_png_and_svg(tmp_path, kind):
    x = ["a", "b", "c"] if kind == "bar" else [1.0, 10.0, 100.0]
    chart = Chart(
        "t<1>", [Series("s1", x, [1, 2, 3]), Series("s2", x, [3, 2, 1])], kind=kind, logx=kind != "bar"
    )
    png = chart.save_png(tmp_path / "c.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    svg = chart.to_svg()
    assert svg.startswith("<svg") and "t&lt;1&gt;" in svg
    assert svg.count('data-toggle="') == 2  # one clickable legend entry per series
    assert "<title>s2" in svg  # hover tooltips name the series and value


def test_axis_ticks_are_round_and_cover_the_data():
    ax = _Axis([0.3, 7.9], 0, 100, log=False, zero=True)
    ticks = ax.ticks()
    assert ticks[0] == 0 and ticks[-1] <= 7.9 and all(t == round(t, 6) for t in ticks)
    assert ax(0) == 0
    log = _Axis([3, 4000], 0, 100, log=True, zero=False)
    assert log.ticks() == [1, 10, 100, 1000, 10000]
    assert math.isclose(log(100), 50)


def test_write_report(tmp_path):
    sections = [
        Section(
            "ulz",
            headline=[("ratio", "2.1x")],
            tables=[Table(["a"], [[1]])],
            charts=[Chart("c", [Series("s", ["x"], [1.0])])],
        ),
        Section("imgkan", "not built yet", text="image codec"),
    ]
    index = write_report(tmp_path / "r", "Demo", sections, {"date": "today"})
    page = index.read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "ratio: 2.1x" in page and "not built yet" in page and "<li>date: today</li>" in page
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "index.html",
        "ulz-0-0.png",
        "ulz-table0.csv",
    ]

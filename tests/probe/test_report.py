"""Study outputs from a hand-made result: tidy CSV, PNG heatmaps, offline HTML, summary, atomic folder."""

import json
import math
import re

import pytest

from everybit.common.errors import OutputError
from everybit.probe.report import Heatmap, StudyResult, render_html, table_csv, write_study

pytest.importorskip("plotly")

PNG = b"\x89PNG\r\n\x1a\n"


def fake_result():
    rows = [
        {
            "source": "q",
            "component": "head",
            "layer": 0,
            "index": 1,
            "measure": "delta_logprob",
            "value": 0.25,
        },
        {
            "source": "q",
            "component": "mlp_out",
            "layer": 1,
            "index": None,
            "measure": "delta_logprob",
            "value": -1.5,
        },
        {
            "source": "q",
            "component": "attn_out",
            "layer": 1,
            "index": None,
            "measure": "attribution",
            "value": math.nan,
        },
    ]
    grid = Heatmap(
        "heads_0",
        "Δlog P(' yes') per head",
        [[0.25, -0.5], [math.nan, 1.0]],
        rows=["0", "1"],
        cols=["0", "1"],
        ylabel="layer",
        xlabel="head",
    )
    flips = Heatmap(
        "ablate_L3",
        "ΔP, x: flip",
        [[0.1, -0.2, 0.0]],
        rows=["0"],
        cols=["+0", "+1", "+2"],
        marks=[[False, True, False]],
        center=1.0,
    )
    return StudyResult(
        study="transplant",
        title="a fake study",
        tables={"transplant": rows, "empty": []},
        heatmaps=[grid, flips],
        summary=["transplant: fake", "toward ' yes': L0H1 +0.250"],
        meta={"model": "tiny", "forward_passes": 3},
        config_text="study: transplant\n",
    )


def test_tidy_csv():
    text = table_csv(fake_result().tables["transplant"])
    assert text.splitlines() == [
        "source,component,layer,index,measure,value",
        "q,head,0,1,delta_logprob,0.25",
        "q,mlp_out,1,,delta_logprob,-1.5",
        "q,attn_out,1,,attribution,",
    ]
    assert table_csv([]) == ""


def test_write_folder(tmp_path):
    out = write_study(fake_result(), tmp_path / "study")
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "ablate_L3.png",
        "config.yaml",
        "empty.csv",
        "heads_0.png",
        "meta.json",
        "report.html",
        "summary.txt",
        "transplant.csv",
    ]
    assert (out / "heads_0.png").read_bytes()[:8] == PNG and (out / "ablate_L3.png").read_bytes()[:8] == PNG
    assert (out / "summary.txt").read_text() == "transplant: fake\ntoward ' yes': L0H1 +0.250\n"
    assert json.loads((out / "meta.json").read_text()) == {
        "study": "transplant",
        "title": "a fake study",
        "model": "tiny",
        "forward_passes": 3,
    }
    assert (out / "config.yaml").read_text() == "study: transplant\n"


def test_html_is_self_contained():
    page = render_html(fake_result())
    assert page.count("<div") >= 2 and "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]*\bsrc=", page) and len(page) > 1_000_000  # plotly.js inlined: offline
    assert "toward &#x27; yes&#x27;: L0H1 +0.250" in page
    assert "heads_0.png" in page and "transplant.csv" in page and "top-1 flip" in page


def test_existing_folder_needs_overwrite(tmp_path):
    out = tmp_path / "study"
    out.mkdir()
    (out / "old.txt").write_text("keep me")
    with pytest.raises(OutputError, match="already exists and is not empty"):
        write_study(fake_result(), out)
    assert (out / "old.txt").read_text() == "keep me"
    write_study(fake_result(), out, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "report.html").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left

"""The tokenadapt demo section: SmolLM2 with a small supertok tokenizer, bits per byte before and after."""

from types import SimpleNamespace

from everybit.tokenadapt import demo


def test_demo_section(tmp_path, smol_gguf):
    section = demo.demo(SimpleNamespace(out_dir=tmp_path / "report", scratch=tmp_path, quiet=True))
    bpb, lines = section.tables
    assert len(bpb.rows) == 2 and all(0.3 < before < after < 20 for _, before, after in bpb.rows)
    assert lines.rows[0][1].startswith(demo.PROMPT) and lines.rows[1][1].startswith(demo.PROMPT)
    assert "shared with SmolLM2" in section.text

"""The supertok demo section: bpe and supertok trained on built-in text, a sentence, held-out bytes/token."""

from types import SimpleNamespace

from everybit.supertok import demo


def test_demo_section(tmp_path):
    section = demo.demo(SimpleNamespace(out_dir=tmp_path / "report", scratch=tmp_path, quiet=True))
    cut, scores = section.tables
    assert [r[0] for r in cut.rows] == ["bpe", "supertok"]
    for _, n_tokens, pieces in cut.rows:
        assert (
            pieces.replace("|", "") == demo.SENTENCE.replace("\n", "\\n")
            and pieces.count("|") == n_tokens - 1
        )
    assert cut.rows[1][1] < cut.rows[0][1]  # supertok needs fewer tokens for the sentence
    assert all(r[-1] is True for r in scores.rows)
    by = {(r[0], r[1].split()[0]): r[2] for r in scores.rows}
    assert by["supertok", "English"] > by["bpe", "English"]
    assert "supertok vs bpe" in section.headline[0][0]

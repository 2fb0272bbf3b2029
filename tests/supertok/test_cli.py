"""``everybit supertok``: train / eval / show through the real entry point, outputs and one-line errors."""

import json
import shutil

import pytest

from everybit.cli import main


def st(capsys, *args):
    """``everybit supertok ARGS`` in this process: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(["supertok", *map(str, args)])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_train_eval_show(capsys, corpus, tmp_path):
    out = tmp_path / "tok"
    code, _, err = st(
        capsys,
        "train",
        *corpus,
        "--vocab",
        "0.5k",
        "--out",
        out,
        "--seed",
        "2",
        "--special",
        "unk=<unk>",
        "--special",
        "pad=",
    )
    assert code == 0 and "500 tokens" in err
    assert {p.name for p in out.iterdir()} == {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "supertok.json",
    }
    config = json.loads((out / "tokenizer_config.json").read_text())
    assert config["unk_token"] == "<unk>" and "pad_token" not in config
    record = json.loads((out / "supertok.json").read_text())
    assert record["seed"] == 2 and record["method"] == "supertok"

    csv, png = tmp_path / "scores.csv", tmp_path / "bpt.png"
    code, table, _ = st(capsys, "eval", "-t", out, "--csv", csv, "--chart", png, corpus[0])
    assert code == 0 and "| tok | en |" in table
    assert csv.read_text().startswith("tokenizer,domain,bytes,tokens,bytes_per_token")
    assert png.read_bytes()[:4] == b"\x89PNG"

    shutil.copytree(out, tmp_path / "tok2")  # the syntax: --tokenizer DIR [DIR...] FILES...
    code, table, _ = st(capsys, "eval", "--tokenizer", out, tmp_path / "tok2", *corpus)
    assert code == 0 and "| tok2 | code |" in table and table.count("\n") == 2 + 4

    code, shown, _ = st(capsys, "show", "-t", out, "the", "quick", "fox")
    assert code == 0 and shown.startswith("tok (") and "|" in shown


def test_refuses_to_overwrite(capsys, corpus, tmp_path):
    out = tmp_path / "tok"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = st(capsys, "train", corpus[0], "--vocab", "300", "--out", out, "--method", "bpe")
    assert code == 2 and "already exists" in err and (out / "keep.txt").exists()
    code, _, _ = st(capsys, "train", corpus[0], "--vocab", "300", "--out", out, "--method", "bpe", "-f")
    assert code == 0 and not (out / "keep.txt").exists()


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--vocab", "100"], 2, "smaller than the byte alphabet"),
        (["--vocab", "lots"], 2, "--vocab must be a number"),
        (["--vocab", "500", "--dist", "1-4:0.3"], 2, "sum to 0.3"),
        (["--vocab", "500", "--special", "cls=[CLS]"], 2, "unknown role"),
        (["--vocab", "500", "--method", "superbpe", "--transition", "900"], 2, "--transition"),
    ],
)
def test_bad_train_options(capsys, corpus, tmp_path, args, status, message):
    code, _, err = st(capsys, "train", corpus[0], "--out", tmp_path / "o", *args)
    assert code == status and message in err
    assert err.count("\n") <= 3 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_bad_inputs_are_one_line_errors(capsys, tmp_path):
    empty, latin = tmp_path / "empty.txt", tmp_path / "latin.txt"
    empty.write_text("")
    latin.write_bytes(b"na\xefve\n")
    cases = [
        (["train", empty, "--vocab", "500", "--out", tmp_path / "a"], "no training text"),
        (["train", tmp_path / "missing", "--vocab", "500", "--out", tmp_path / "b"], "no such file"),
        (["train", latin, "--vocab", "500", "--out", tmp_path / "c"], "not UTF-8 text (byte 2)"),
        (["eval", "-t", tmp_path, latin], "no tokenizer.json"),
        (["show", "-t", tmp_path / "nope", "hi"], "no such file"),
    ]
    for args, message in cases:
        code, _, err = st(capsys, *args)
        assert code == 1 and err.startswith("everybit: error: ") and message in err, (args, err)
        assert err.count("\n") == 1
    assert not any(p.name.startswith(("a", "b", "c")) for p in tmp_path.iterdir())

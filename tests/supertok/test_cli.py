"""``everybit supertok``: train / eval / show through the real entry point, outputs and one-line errors."""

import json
import os
import shutil
import sys

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
        "-o",
        out,
        "--seed",
        "2",
        "--special",
        "unk=<unk>",
        "--special",
        "pad=",
    )
    assert code == 0 and "512 tokens" in err  # 0.5k: suffixes are powers of 1024
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
    code, table, _ = st(capsys, "eval", "--tokenizer", out, "--csv", csv, "--chart", png, corpus[0])
    assert code == 0 and "| tok | en |" in table
    assert csv.read_text().startswith("tokenizer,domain,bytes,tokens,bytes_per_token")
    assert png.read_bytes()[:4] == b"\x89PNG"

    shutil.copytree(out, tmp_path / "tok2")  # the syntax: --tokenizer DIR [DIR...] FILES...
    code, table, _ = st(capsys, "eval", "--tokenizer", out, tmp_path / "tok2", *corpus)
    assert code == 0 and "| tok2 | code |" in table and table.count("\n") == 2 + 4

    code, shown, _ = st(capsys, "show", "--tokenizer", out, "the", "quick", "fox")
    assert code == 0 and shown.startswith("tok (") and "|" in shown


def test_refuses_to_overwrite(capsys, corpus, tmp_path):
    out = tmp_path / "tok"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    code, _, err = st(capsys, "train", corpus[0], "--vocab", "300", "--out", out, "--method", "bpe")
    assert code == 1 and f"{out}: already exists" in err and (out / "keep.txt").exists()
    code, _, _ = st(capsys, "train", corpus[0], "--vocab", "300", "--out", out, "--method", "bpe", "-f")
    assert code == 0 and not (out / "keep.txt").exists()


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--vocab", "100"], 2, "smaller than the byte alphabet"),
        (["--vocab", "lots"], 2, "argument --vocab: not a size: 'lots'"),
        (["--vocab", "500", "--sample-bytes", "0"], 2, "argument --sample-bytes: must be a size"),
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
        (["eval", "--tokenizer", tmp_path, latin], "no tokenizer.json"),
        (["show", "--tokenizer", tmp_path / "nope", "hi"], "no such file"),
        (["show", "--tokenizer", tmp_path / "nope.json", "--file", latin], "latin.txt: not UTF-8"),
    ]
    for args, message in cases:
        code, _, err = st(capsys, *args)
        assert code == 1 and err.startswith("everybit: error: ") and message in err, (args, err)
        assert err.count("\n") == 1
    assert not any(p.name.startswith(("a", "b", "c")) for p in tmp_path.iterdir())


def test_existing_table_outputs_are_refused_before_the_work(capsys, trained, corpus, tmp_path):
    for option in ("--csv", "--chart"):
        taken = tmp_path / f"taken{option}"
        taken.write_text("keep")
        code, table, err = st(capsys, "eval", "--tokenizer", trained["bpe"], corpus[0], option, taken)
        assert code == 1 and table == "" and f"{taken}: already exists (use --force" in err
        assert taken.read_text() == "keep"


def test_old_short_tokenizer_option_still_works_with_a_warning(capsys, trained, corpus):
    code, table, err = st(capsys, "eval", "-t", trained["bpe"], corpus[0])
    assert code == 0 and "| bpe | en |" in table
    assert "warning: -t is deprecated, use --tokenizer (the old spelling goes in the next release)" in err
    code, _, err = st(capsys, "show", "hello")
    assert code == 2 and "required: --tokenizer" in err


def test_sizes_take_binary_suffixes():
    from everybit.common.cli import command_parser

    parser = command_parser("supertok", "everybit.supertok.cli", "")
    args = parser.parse_args(["train", "a.txt", "--vocab", "32k", "-o", "out", "--sample-bytes", "512M"])
    assert (args.vocab, args.sample_bytes) == (32_768, 536_870_912)
    assert parser.parse_args(["train", "a.txt", "--vocab", "1", "-o", "o"]).sample_bytes == 512 << 20
    assert (
        parser.parse_args(["train", "a.txt", "--vocab", "1", "-o", "o", "--max-chars", "1k"]).max_chars
        == 1024
    )


def test_threads_size_the_tokenizers_pool(capsys, monkeypatch, trained, corpus):
    monkeypatch.setenv("RAYON_NUM_THREADS", "")  # records the variable's state, restored after the test
    monkeypatch.delenv("RAYON_NUM_THREADS")
    code, _, _ = st(capsys, "eval", "--tokenizer", trained["bpe"], corpus[0], "-T", "0")
    assert code == 0 and "RAYON_NUM_THREADS" not in os.environ  # 0: Rayon's default, every core
    code, _, _ = st(capsys, "eval", "--tokenizer", trained["bpe"], corpus[0], "-T", "3")
    assert code == 0 and os.environ["RAYON_NUM_THREADS"] == "3"
    code, _, err = st(capsys, "eval", "--tokenizer", trained["bpe"], corpus[0], "--threads", "-1")
    assert code == 2 and "threads must be a number >= 0" in err


def test_console_script(capsys, monkeypatch):
    from everybit.supertok.cli import main as supertok

    monkeypatch.setattr(sys, "argv", ["supertok", "--version"])
    with pytest.raises(SystemExit) as exc:
        supertok()
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("supertok (everybit ")
    monkeypatch.setattr(sys, "argv", ["supertok", "show", "--tokenizer", "missing.json", "hi"])
    with pytest.raises(SystemExit) as exc:
        supertok()
    assert exc.value.code == 1 and capsys.readouterr().err == "supertok: error: missing.json: no such file\n"

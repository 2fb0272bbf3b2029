"""``everybit tokenadapt``: transplant and eval through the real entry point; one-line errors."""

import json

import pytest

from everybit.cli import main
from tests.tokenadapt.conftest import tiny_llama


def ta(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["tokenadapt", *map(str, args)])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture(scope="module")
def tiny_folder(smol_tok, tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny") / "llama"
    tiny_llama(smol_tok).save_pretrained(folder)
    smol_tok.save_pretrained(folder)
    return folder


def transplant(capsys, model, tokenizer, out, *options):
    return ta(capsys, "transplant", "--model", model, "--tokenizer", tokenizer, "--out", out, *options)


def test_transplant_then_eval(capsys, tiny_folder, target_tok, corpus, tmp_path):
    out = tmp_path / "adapted"
    code, _, err = transplant(
        capsys, tiny_folder, target_tok, out, "--method", "subtoken-mean", "--pad-to", "64", "-q"
    )
    assert code == 0 and err == ""
    record = json.loads((out / "tokenadapt.json").read_text())
    assert record["method"] == "subtoken-mean" and record["padded_vocab"] % 64 == 0
    code, _, err = transplant(capsys, tiny_folder, target_tok, out)
    assert code == 2 and "already exists" in err
    text = tmp_path / "held.txt"
    text.write_text(corpus[0].read_text()[:3000])
    csv = tmp_path / "lm.csv"
    code, table, _ = ta(capsys, "eval", "--model", tiny_folder, out, text, "--csv", csv)
    assert code == 0 and "| llama | held |" in table and "| adapted | held |" in table
    assert csv.read_text().startswith("model,domain,bytes,tokens,samples,bits_per_byte")


def test_healing_records_a_recovery_curve(capsys, tiny_folder, target_tok, corpus, tmp_path):
    out = tmp_path / "healed"
    code, _, err = transplant(
        capsys,
        tiny_folder,
        target_tok,
        out,
        "--method",
        "mean",
        "--heal-steps",
        "3",
        "--heal-text",
        corpus[0],
        "-q",
    )
    assert code == 0, err
    curve = json.loads((out / "tokenadapt.json").read_text())["heal_curve"]
    assert [p["step"] for p in curve] == [0, 1, 2, 3]
    assert curve[-1]["val_bits_per_byte"] < curve[0]["val_bits_per_byte"]


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--model", "MISSING.gguf"], 1, "no such file"),
        (["--model", "./nowhere"], 1, "not a model folder"),
        (["--tokenizer", "MISSING"], 1, "no such file or folder"),
        (["--heal-steps", "5"], 2, "--heal-steps needs --heal-text"),
        (["--method", "magic"], 2, "invalid choice"),
        (["--top-k", "0"], 2, "--top-k must be at least 1"),
    ],
)
def test_errors(capsys, tiny_folder, target_tok, tmp_path, args, status, message):
    options = {"--model": tiny_folder, "--tokenizer": target_tok, "--out": tmp_path / "o", "--method": "mean"}
    options.update(zip(args[::2], args[1::2], strict=True))
    code, _, err = ta(capsys, "transplant", *[x for kv in options.items() for x in kv])
    assert code == status and message in err and err.count("\n") <= 3, err
    assert not (tmp_path / "o").exists()

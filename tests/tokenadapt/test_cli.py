"""``everybit tokenadapt``: transplant and eval through the real entry point; one-line errors."""

import json
import sys

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
    assert code == 1 and f"{out}: already exists (use --force" in err
    text = tmp_path / "held.txt"
    text.write_text(corpus[0].read_text()[:3000])
    csv = tmp_path / "lm.csv"
    code, table, _ = ta(capsys, "eval", "-m", tiny_folder, out, text, "--csv", csv, "-T", "1")
    assert code == 0 and "| llama | held |" in table and "| adapted | held |" in table
    assert csv.read_text().startswith("model,domain,bytes,tokens,samples,bits_per_byte")
    code, table, err = ta(capsys, "eval", "--model", out, text, "--csv", csv)  # refused before any work
    assert code == 1 and table == "" and f"{csv}: already exists (use --force" in err
    code, table, _ = ta(capsys, "eval", "--model", out, text, "--ci")
    header, _, row = table.splitlines()[-3:]
    assert code == 0 and header.endswith("| bpb_ci_low | bpb_ci_high |")
    cells = row.split("|")
    bpb, low, high = float(cells[6]), float(cells[-3]), float(cells[-2])
    assert low <= bpb <= high


def test_short_options_and_threads(capsys, monkeypatch, tiny_folder, target_tok, tmp_path):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch, "set_num_threads", lambda n: calls.append(n))
    calls: list[int] = []
    argv = ["-m", tiny_folder, "--tokenizer", target_tok, "--method", "mean", "-q"]
    code, _, err = ta(capsys, "transplant", *argv, "-o", tmp_path / "a", "-T", "0")
    assert code == 0 and err == "" and calls == []  # 0: torch's own pool, every core
    code, _, err = ta(capsys, "transplant", *argv, "-o", tmp_path / "a", "--threads", "2", "-f")
    assert code == 0 and err == "" and calls == [2] and (tmp_path / "a" / "tokenadapt.json").exists()


def test_console_script(capsys, monkeypatch, tmp_path):
    from everybit.tokenadapt.cli import main as tokenadapt

    monkeypatch.setattr(sys, "argv", ["tokenadapt", "--version"])
    with pytest.raises(SystemExit) as exc:
        tokenadapt()
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("tokenadapt (everybit ")
    missing = tmp_path / "missing.txt"
    monkeypatch.setattr(sys, "argv", ["tokenadapt", "eval", "-m", "model.gguf", str(missing)])
    with pytest.raises(SystemExit) as exc:
        tokenadapt()
    assert exc.value.code == 1 and capsys.readouterr().err.startswith(f"tokenadapt: error: {missing}: ")


def test_transplant_from_a_donor_without_a_tokenizer(capsys, tiny_folder, target_tok, tmp_path):
    donor = tmp_path / "donor"
    from everybit.tokenadapt.transplant import load_new_tokenizer

    tok = load_new_tokenizer(target_tok)
    tiny_llama(tok, seed=3).save_pretrained(donor)
    tok.save_pretrained(donor)
    out = tmp_path / "adapted"
    code, _, err = ta(
        capsys,
        "transplant",
        "--model",
        tiny_folder,
        "--donor",
        donor,
        "--out",
        out,
        "--method",
        "omp",
        "--k",
        "8",
    )
    assert code == 0, err
    record = json.loads((out / "tokenadapt.json").read_text())
    assert record["donor_space"] == "donor" and record["omp_atoms"] > 0
    given, donors = load_new_tokenizer(out).get_vocab(), load_new_tokenizer(donor).get_vocab()
    assert donors.items() <= given.items()  # the donor's tokenizer, plus the old specials carried


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


def test_too_little_healing_text_names_its_file(capsys, tiny_folder, target_tok, tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("a few words\n")
    out = tmp_path / "o"
    code, _, err = transplant(capsys, tiny_folder, target_tok, out, "--heal-steps", "2", "--heal-text", tiny)
    assert (
        code == 1 and err.startswith(f"everybit: error: {tiny}: healing text too short") and not out.exists()
    )


@pytest.mark.parametrize(
    "args, status, message",
    [
        (["--model", "MISSING.gguf"], 1, "no such file"),
        (["--model", "./nowhere"], 1, "not a model folder"),
        (["--tokenizer", "MISSING"], 1, "no such file or folder"),
        (["--heal-steps", "5"], 2, "--heal-steps/--heal-minutes need --heal-text"),
        (["--method", "magic"], 2, "invalid choice"),
        (["--top-k", "0"], 2, "--top-k must be at least 1"),
        (["--tokenizer", None], 2, "--tokenizer NEW or --donor SRC"),
        (["--method", "omp", "--k", "0"], 2, "--method omp needs --k of at least 1"),
    ],
)
def test_errors(capsys, tiny_folder, target_tok, tmp_path, args, status, message):
    options = {"--model": tiny_folder, "--tokenizer": target_tok, "--out": tmp_path / "o", "--method": "mean"}
    options.update(zip(args[::2], args[1::2], strict=True))
    argv = [x for kv in options.items() if kv[1] is not None for x in kv]
    code, _, err = ta(capsys, "transplant", *argv)
    assert code == status and message in err and err.count("\n") <= 3, err
    assert not (tmp_path / "o").exists()

"""``everybit probe``: each verb through the real entry point on a tiny model folder; one-line errors."""

import sys

import pytest

from everybit.cli import main
from tests.probe.study_model import one_thread, save_tiny  # noqa: F401

CONFIGS = {
    "transplant": 'sources: ["is the sky blue answer"]\nbaseline: "please write"\ntargets: [" yes", " no"]\n',
    "patch": 'pairs: [{clean: "it is 7 am", corrupt: "it is 7 pm"}]\ntarget: " morning"\nfoil: " evening"\n',
    "neurons": 'prompts: ["it is 7 am", "good evening"]\nthreshold: 0.0\ntop_k: 3\n',
    "ablate": 'prompt: "she sells sea shells by the"\nlayers: [1]\n',
}


def probe(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(["probe", *map(str, args)])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny") / "llama")


def write_config(tmp_path, study, text=None, with_study=True):
    path = tmp_path / f"{study}.yaml"
    path.write_text((f"study: {study}\n" if with_study else "") + (text or CONFIGS[study]))
    return path


@pytest.mark.parametrize("study", sorted(CONFIGS))
def test_each_verb_writes_its_folder(capsys, tiny_folder, tmp_path, study):
    out = tmp_path / "out"
    cfg = write_config(tmp_path, study)
    code, stdout, err = probe(capsys, study, "--config", cfg, "--model", tiny_folder, "-o", out, "-T", "1")
    assert code == 0, err
    assert stdout.startswith(f"{study}: ") and f"-> {out}" in err
    files = {p.name for p in out.iterdir()}
    assert {"report.html", "summary.txt", "meta.json", "config.yaml"} <= files
    assert any(f.endswith(".csv") for f in files) and any(f.endswith(".png") for f in files)
    assert (out / "summary.txt").read_text() == stdout
    # again: refused without -f (exit 1, before any model is loaded), replaced with -f -q
    code, _, err = probe(capsys, study, "--config", cfg, "--model", tiny_folder, "-o", out)
    assert code == 1 and f"{out}: already exists (use --force" in err
    code, _, err = probe(
        capsys, study, "--config", cfg, "-m", tiny_folder, "--out", out, "-f", "-q", "-T", "1"
    )
    assert code == 0 and err == ""


def test_model_from_the_config_relative_to_it(capsys, tiny_folder, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "llama").symlink_to(tiny_folder)
    cfg = write_config(tmp_path, "ablate", CONFIGS["ablate"] + "model: models/llama\n", with_study=False)
    code, stdout, err = probe(capsys, "ablate", "--config", cfg, "-o", tmp_path / "out", "-q")
    assert code == 0, err
    assert "model llama;" in stdout


def test_attribution_method(capsys, tiny_folder, tmp_path):
    cfg = write_config(tmp_path, "patch", CONFIGS["patch"] + "components: [head]\ntop_k: 2\n")
    code, stdout, err = probe(
        capsys, "patch", "--config", cfg, "-m", tiny_folder, "-o", tmp_path / "o", "--method", "attribution"
    )
    assert code == 0, err
    assert "attribution screen + exact top-k" in stdout and "heads (top 2)" in stdout


@pytest.mark.parametrize(
    "study, text, args, status, message",
    [
        (
            "patch",
            CONFIGS["patch"] + "tagret: x\n",
            [],
            1,
            "patch.yaml:5: unknown key 'tagret' in a patch config",
        ),
        (
            "patch",
            CONFIGS["patch"].replace("7 pm", "7 pm good"),
            [],
            1,
            "patching needs prompts of equal length",
        ),
        (
            "transplant",
            CONFIGS["transplant"].replace('" no"', '"yes no"'),
            [],
            1,
            "transplant.yaml: 'yes no' is 2 tokens",
        ),
        (
            "ablate",
            CONFIGS["ablate"].replace("[1]", "[5]"),
            [],
            1,
            "layer 5 out of range: the model has 2 layers",
        ),
        ("ablate", CONFIGS["ablate"], ["--method", "exact"], 2, "unrecognized arguments: --method"),
        ("ablate", CONFIGS["ablate"], ["--bogus"], 2, "unrecognized arguments: --bogus"),
        ("ablate", CONFIGS["ablate"], ["--threads", "-1"], 2, "threads must be a number >= 0"),
        ("ablate", CONFIGS["ablate"], ["--device", "nope"], 1, "--device 'nope' is not a torch device name"),
        ("neurons", CONFIGS["neurons"], ["--model", "./nowhere"], 1, "nowhere"),
    ],
)
def test_errors(capsys, tiny_folder, tmp_path, study, text, args, status, message):
    cfg = write_config(tmp_path, study, text)
    argv = [study, "--config", cfg, "-o", tmp_path / "out"]
    argv += args if "--model" in args else ["--model", tiny_folder, *args]
    code, _, err = probe(capsys, *argv)
    assert code == status
    assert err.count("\n") == 1 and err.startswith("everybit: error: ") and message in err
    assert not (tmp_path / "out").exists()  # a failed study leaves no output folder


def test_wrong_study_and_missing_config(capsys, tmp_path):
    cfg = write_config(tmp_path, "patch")
    code, _, err = probe(capsys, "ablate", "--config", cfg)
    assert code == 1 and "this is a patch config, not a ablate config (run 'everybit probe patch')" in err
    code, _, err = probe(capsys, "ablate", "--config", tmp_path / "none.yaml")
    assert code == 1 and "none.yaml: no such file (shipped configs: ablate_seashells" in err
    code, _, err = probe(capsys, "ablate")
    assert code == 2 and "the following arguments are required: --config" in err


def test_bfloat16_model_fp32_metrics(capsys, tiny_folder, tmp_path):
    import json

    cfg = write_config(tmp_path, "patch")
    out = tmp_path / "bf16"
    code, stdout, err = probe(
        capsys, "patch", "--config", cfg, "-m", tiny_folder, "-o", out, "--dtype", "bfloat16", "-q"
    )
    assert code == 0, err
    assert json.loads((out / "meta.json").read_text())["dtype"] == "bfloat16"
    assert "logit diff ' morning' - ' evening': clean" in stdout


def test_short_names_of_the_offline_models_resolve(monkeypatch, tmp_path):
    from everybit.common import hfmodels
    from everybit.probe.cli import model_source

    folder = tmp_path / "g3"
    monkeypatch.setitem(hfmodels.OFFLINE_MODELS, "gemma3", (lambda: folder, lambda: tmp_path / "g3.gguf"))
    assert model_source(None, "gemma3", tmp_path / "c.yaml") == str(folder)  # the config's model: gemma3
    assert model_source("gemma3", "other", tmp_path / "c.yaml") == str(folder)  # --model gemma3
    assert model_source("x/y", "gemma3", tmp_path / "c.yaml") == "x/y"  # --model PATH overrides
    monkeypatch.setitem(hfmodels.OFFLINE_MODELS, "gemma3", (lambda: None, lambda: tmp_path / "g3.gguf"))
    assert model_source(None, "gemma3", tmp_path / "c.yaml") == str(tmp_path / "g3.gguf")


def test_old_short_config_option_and_all_threads(capsys, monkeypatch, tiny_folder, tmp_path):
    import torch

    calls: list[int] = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    cfg = write_config(tmp_path, "ablate")
    code, stdout, err = probe(capsys, "ablate", "-c", cfg, "-m", tiny_folder, "-o", tmp_path / "o", "-T", "0")
    assert code == 0 and stdout.startswith("ablate: ") and calls == []  # 0: torch's own pool, every core
    assert "warning: -c is deprecated, use --config (the old spelling goes in the next release)" in err


def test_console_script(capsys, monkeypatch, tmp_path):
    from everybit.probe.cli import main as probe_main

    monkeypatch.setattr(sys, "argv", ["probe", "--version"])
    with pytest.raises(SystemExit) as exc:
        probe_main()
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("probe (everybit ")
    missing = str(tmp_path / "none.yaml")
    monkeypatch.setattr(sys, "argv", ["probe", "patch", "--config", missing])
    with pytest.raises(SystemExit) as exc:
        probe_main()
    assert exc.value.code == 1 and capsys.readouterr().err.startswith(
        f"probe: error: {missing}: no such file"
    )

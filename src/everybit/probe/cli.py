"""``probe``: causal-intervention studies on an HF causal LM, from a YAML config.

    probe transplant --config FILE [-m PATH_OR_ID] [-o DIR] [--method exact|attribution]
    probe patch      --config FILE [...same...]
    probe neurons    --config FILE [-m PATH_OR_ID] [-o DIR]
    probe ablate     --config FILE [-m PATH_OR_ID] [-o DIR]
    common: [--dtype float32|bfloat16|float16] [--device cpu] [--device-map auto] [-T N] [-f] [-q]

(``everybit probe ...`` is the same command.) FILE is a study config, or the name of a shipped one
(transplant_yesno, patch_ampm, neurons_time, ablate_seashells). The model is --model, else the config's
``model:``, else SmolLM2-135M-Instruct when it is installed. DIR (default ``probe-<config name>``) gets CSV
tables, PNG heatmaps, report.html and summary.txt, written atomically; an existing non-empty DIR is refused
(exit 1) without ``-f``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from everybit.common.cliargs import (
    add_force,
    add_output_dir,
    add_threads,
    deprecated_alias,
    refuse_existing,
    verb_parsers,
)
from everybit.common.errors import InputError, UsageError

VERBS = {
    "transplant": "write a source prompt's activations into a neutral baseline, one component at a time",
    "patch": "clean/corrupt activation patching per layer x position and per head, both directions",
    "neurons": "MLP neurons consistently active across a prompt set, and the prompts that drive them",
    "ablate": "zero- or mean-ablate every neuron of some layers: top-1 flips and |ΔP(target)|",
}
WITH_METHOD = ("transplant", "patch")  # the studies with a head sweep attribution can screen


def configure(parser: argparse.ArgumentParser) -> None:
    verb = verb_parsers(parser)
    for name, summary in VERBS.items():
        v = verb(name, summary)
        # Not required=True: argparse would then refuse the deprecated -c; run() checks instead.
        v.add_argument(
            "--config",
            metavar="FILE",
            help=f"study YAML, or a shipped config's name (e.g. {_example(name)}; required)",
        )
        deprecated_alias(v, "-c", dest="config", new="--config")
        v.add_argument("-m", "--model", metavar="PATH_OR_ID", help="HF folder, .gguf file or hub id")
        add_output_dir(v, help="output folder (default probe-NAME)")
        if name in WITH_METHOD:
            v.add_argument(
                "--method",
                choices=["exact", "attribution"],
                help="head sweep: exact patching of every head, or an attribution screen with exact "
                "re-check of the config's top_k (default: the config's method, else exact)",
            )
        v.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
        v.add_argument("--device", default="cpu", metavar="DEV", help="torch device (default cpu)")
        v.add_argument(
            "--device-map",
            metavar="MAP",
            help="accelerate device map for models larger than one device (e.g. auto): overrides --device",
        )
        add_threads(v, "torch on the CPU")
        add_force(v, "a non-empty output folder")
        v.set_defaults(func=run)


def _example(study: str) -> str:
    return {
        "transplant": "transplant_yesno",
        "patch": "patch_ampm",
        "neurons": "neurons_time",
        "ablate": "ablate_seashells",
    }[study]


def main() -> None:
    from everybit.common.cli import run_tool

    run_tool("probe")


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"probe: {text}", file=sys.stderr)


def model_source(cli: str | None, configured: str | None, config_path: Path) -> str:
    """--model, else the config's model (a relative path counts from the config's folder when it exists
    there), else the default SmolLM2. The short names of the offline models (smollm2, gemma3) resolve to
    their cached folder or GGUF."""
    from everybit.common.hfmodels import OFFLINE_MODELS, offline_model
    from everybit.probe.studies import default_model

    if (cli or configured) in OFFLINE_MODELS:
        return str(offline_model(cli or configured))
    if cli:
        return cli
    if configured:
        beside = config_path.parent / configured
        return str(beside) if not Path(configured).is_absolute() and beside.exists() else configured
    return default_model()


def run(args: argparse.Namespace) -> None:
    from everybit.probe import config as configs

    if args.config is None:
        raise UsageError("the following arguments are required: --config")
    path = configs.find_config(args.config)
    text = path.read_text(encoding="utf-8")
    cfg = configs.loads(text, str(path), args.verb)
    out = args.out or Path(f"probe-{path.stem}")
    refuse_existing(out, args.force)
    method = getattr(args, "method", None) or cfg.method
    result = _run(args, cfg, path, method)
    result.config_text = text
    from everybit.probe.report import write_study

    write_study(result, out, overwrite=args.force)
    print("\n".join(result.summary))
    _note(args, f"{args.verb}: tables, heatmaps, report.html and summary.txt -> {out}")


def _run(args: argparse.Namespace, cfg: Any, path: Path, method: str) -> Any:
    import torch

    from everybit.common.hfmodels import check_device
    from everybit.probe.interventions import Engine
    from everybit.probe.models import load_model
    from everybit.probe.studies import Context, run_study

    if args.threads:  # 0 leaves torch's own pool, one thread per core
        torch.set_num_threads(args.threads)
    if args.device_map is None:
        check_device(args.device)
    source = model_source(args.model, cfg.model, path)
    lm = load_model(source, dtype=args.dtype, device=args.device, device_map=args.device_map)
    engine = Engine(lm, memory_budget_mb=cfg.memory_budget_mb, batch_size=cfg.batch_size)
    ctx = Context(lm, engine, method=method, quiet=args.quiet)
    try:
        return run_study(cfg, ctx)
    except InputError as exc:  # a prompt or target the model cannot take: the config is what to fix
        if str(exc).startswith(str(path)):
            raise
        raise InputError(f"{path}: {exc}") from exc

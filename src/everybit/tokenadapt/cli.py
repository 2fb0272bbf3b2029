"""``tokenadapt``: put a new tokenizer into a causal LM, and measure LMs on text.

    tokenadapt transplant -m SRC (--tokenizer NEW | --donor SRC) -o DIR [--method hybrid]
                          [--global-weight 0.3] [--temperature 0.6] [--top-k 3] [--threshold 0.0]
                          [--k 64] [--embedder PATH|minilm] [--dtype float32] [--pad-to N]
                          [--heal-steps N | --heal-minutes M] [--heal-train rows+norms] [--heal-text FILES]
                          [-T N] [-f]
    tokenadapt eval -m DIR [DIR...] FILES... [--ci] [--csv OUT] [--chart OUT.png] [-T N] [-f]

(``everybit tokenadapt ...`` is the same command.) SRC is a local HF folder, a .gguf file or a hub id; NEW a
tokenizer folder or tokenizer.json; a donor is a model that already uses the new tokenizer (its tokenizer is
the new one unless --tokenizer says otherwise). Outputs are written atomically; an existing one is refused
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
    add_table_outputs,
    add_threads,
    check_table_outputs,
    refuse_existing,
    split_leading,
    verb_parsers,
    write_table_outputs,
)
from everybit.common.errors import InputError, UsageError
from everybit.common.textfiles import read_text


def _positive(kind: type, what: str, lo: float = 0) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, not {text!r}") from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{what} must be at least {lo}, not {value}")
        return value

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    from everybit.tokenadapt.heal import DEFAULT_MODE, TRAIN_MODES
    from everybit.tokenadapt.methods import METHODS

    verb = verb_parsers(parser)

    t = verb("transplant", "give a causal LM a new tokenizer, initialising the new embedding rows")
    t.add_argument(
        "-m", "--model", required=True, metavar="SRC", help="HF model folder, .gguf file or hub id"
    )
    t.add_argument("--tokenizer", type=Path, metavar="NEW", help="tokenizer folder or .json")
    t.add_argument(
        "--donor",
        metavar="SRC",
        help="a model that already uses the new tokenizer (folder, .gguf or hub id): the space omp and "
        "calibrated fit in (default: the external embedder's); its tokenizer is the new one",
    )
    add_output_dir(t, required=True, help="the model folder to write")
    t.add_argument(
        "--method",
        default="hybrid",
        choices=METHODS,
        help="how new rows are estimated (default hybrid, the paper's; fitted is ours)",
    )
    t.add_argument(
        "--global-weight",
        type=_positive(float, "--global-weight"),
        default=0.3,
        metavar="W",
        help="hybrid: share of the global estimate (default 0.3)",
    )
    t.add_argument("--temperature", type=_positive(float, "--temperature", 1e-3), default=0.6, metavar="T")
    t.add_argument(
        "--top-k",
        type=_positive(int, "--top-k", 1),
        default=3,
        metavar="K",
        help="global: neighbours used (default 3)",
    )
    t.add_argument(
        "--threshold",
        type=float,
        default=0.0,
        metavar="S",
        help="global: ignore neighbours with cosine similarity below S (default 0)",
    )
    t.add_argument(
        "--k",
        type=_positive(int, "--k"),
        default=64,
        metavar="K",
        help="omp and calibrated: shared tokens combined per new token (default 64, as mergekit; "
        "0 leaves OMP out of calibrated)",
    )
    t.add_argument(
        "--device",
        default="cpu",
        metavar="DEV",
        help="omp: where the matching pursuit runs (cpu, cuda, cuda:1; default cpu)",
    )
    t.add_argument(
        "--embedder",
        default="minilm",
        metavar="PATH|minilm",
        help="external embedding model: minilm (all-MiniLM-L6-v2, offline) or a model folder",
    )
    t.add_argument(
        "--hnsw",
        action="store_true",
        help="approximate neighbour search: pays for its graph only with 100k+ new tokens (default exact)",
    )
    t.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    t.add_argument(
        "--pad-to",
        type=_positive(int, "--pad-to", 1),
        metavar="N",
        help="pad the vocabulary to a multiple of N (e.g. 64 or 128)",
    )
    t.add_argument(
        "--heal-steps",
        type=_positive(int, "--heal-steps"),
        default=0,
        metavar="N",
        help="heal for at most N steps of 8 x 256 tokens on --heal-text (default 0: no healing)",
    )
    t.add_argument(
        "--heal-minutes",
        type=_positive(float, "--heal-minutes"),
        metavar="M",
        help="heal for at most M CPU-minutes of training (process time, all cores)",
    )
    t.add_argument(
        "--heal-train",
        default=DEFAULT_MODE,
        choices=TRAIN_MODES,
        help="what healing trains (default rows+norms: the new rows and every norm layer)",
    )
    t.add_argument("--heal-text", type=Path, nargs="+", metavar="FILES", help="UTF-8 text for healing")
    t.add_argument(
        "--calibration-text",
        type=Path,
        nargs="+",
        metavar="FILES",
        help="calibrated: UTF-8 text the candidates are scored on (a few KB; not your test text)",
    )
    t.add_argument("--seed", type=int, default=0, metavar="N")
    add_threads(t, "torch")
    add_force(t, "a non-empty DIR")
    t.set_defaults(func=run_transplant)

    e = verb("eval", "bits per byte (and perplexities) of models on text files, one file per domain")
    e.add_argument(
        "-m",
        "--model",
        nargs="+",
        required=True,
        metavar="DIR",
        help="model folders or .gguf files; the text files may follow them directly",
    )
    e.add_argument("files", metavar="FILES", nargs="*", type=Path)
    e.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    e.add_argument(
        "--ci",
        action="store_true",
        help="add bootstrap 95%% intervals of bits per byte (resampling the ~2,000-character samples)",
    )
    add_table_outputs(e, "bits per byte")
    add_threads(e, "torch")
    e.set_defaults(func=run_eval)


def main() -> None:
    from everybit.common.cli import run_tool

    run_tool("tokenadapt")


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"tokenadapt: {text}", file=sys.stderr)


def _read_texts(files: list[Path]) -> str:
    return "".join(read_text(f) for f in files)


def _use_threads(threads: int) -> None:
    """0 leaves torch's own pool, one thread per core."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def run_transplant(args: argparse.Namespace) -> None:
    from everybit.tokenadapt.methods import DONOR_SPACE, SEMANTIC, Options
    from everybit.tokenadapt.models import load
    from everybit.tokenadapt.transplant import donor_copy, load_new_tokenizer, save, transplant

    if not (args.tokenizer or args.donor):
        raise UsageError("give the new tokenizer: --tokenizer NEW or --donor SRC")
    healing = bool(args.heal_steps or args.heal_minutes)
    if healing and not args.heal_text:
        raise UsageError("--heal-steps/--heal-minutes need --heal-text FILES")
    if args.method == "calibrated" and not args.calibration_text:
        raise UsageError("--method calibrated needs --calibration-text FILES")
    out = args.out
    refuse_existing(out, args.force)
    _use_threads(args.threads)
    heal_text = _read_texts(args.heal_text) if healing else ""
    donor = None
    if args.donor:
        donor_model, donor_tok = load(args.donor)
        donor = (donor_model, donor_tok, Path(args.donor).name)
    new_tok = load_new_tokenizer(args.tokenizer) if args.tokenizer else donor_copy(donor[1])  # type: ignore[index]
    embedder = None
    if args.method in SEMANTIC or (args.method in DONOR_SPACE and donor is None):
        from everybit.tokenadapt.embedder import Embedder

        embedder = Embedder(args.embedder)
    model, old_tok = load(args.model, args.dtype)
    opts = Options(
        args.global_weight,
        args.temperature,
        args.top_k,
        args.threshold,
        args.hnsw,
        args.seed,
        k=args.k,
        device=args.device,
    )
    calibration = _read_texts(args.calibration_text) if args.calibration_text else None
    report = transplant(model, old_tok, new_tok, args.method, opts, embedder, args.pad_to, calibration, donor)
    del donor
    if healing:
        _heal(args, model, new_tok, report, heal_text)
    save(model, new_tok, out, report, overwrite=args.force)
    _note(
        args,
        f"{args.method}: {report.shared:,} tokens shared, {report.estimated:,} estimated, "
        f"{report.unused_specials:,} unused old special tokens left behind -> {out}",
    )


def _heal(args: argparse.Namespace, model: Any, tok: Any, report: Any, text: str) -> None:
    from dataclasses import asdict

    from everybit.tokenadapt.heal import heal

    try:
        curve = heal(
            model,
            tok,
            report.estimated_ids,
            text,
            args.heal_steps or None,
            cpu_minutes=args.heal_minutes,
            train=args.heal_train,
        )
    except InputError as exc:  # too little text for one batch: name the files it came from
        raise InputError(f"{', '.join(map(str, args.heal_text))}: {exc}") from exc
    report.heal_curve = [asdict(p) for p in curve]


def run_eval(args: argparse.Namespace) -> None:
    from everybit.tokenadapt.evaluate import chart, score, table
    from everybit.tokenadapt.models import load

    args.model, rest = split_leading(args.model, lambda a: Path(a).is_dir() or a.endswith(".gguf"))
    files = [*map(Path, rest), *args.files]
    if not files:
        raise UsageError("no text files to evaluate on (FILES...)")
    check_table_outputs(args)
    _use_threads(args.threads)
    texts = [(f.stem, read_text(f)) for f in files]
    rows = []
    for name in args.model:
        model, tok = load(name, args.dtype)
        rows += [score(model, tok, text, Path(name).name, domain) for domain, text in texts]
    write_table_outputs(args, table(rows, intervals=args.ci), chart(rows))

"""``supertok``: train superword tokenizers, evaluate them, show how they cut text.

    supertok train FILES... --vocab N -o DIR [--method supertok|bpe|superbpe|nopretok]
                   [--dist "LO-HI:W,..."] [--normalize] [--seed S] [--transition T] [--special ROLE=TOKEN]
                   [--sample-bytes SIZE] [-T N] [-f]
    supertok eval --tokenizer DIR [DIR...] FILES... [--csv OUT] [--chart OUT.png] [-T N] [-f]
    supertok show --tokenizer DIR [DIR...] (TEXT... | --file FILE)

(``everybit supertok ...`` is the same command.) Outputs are written atomically; an existing one is refused
(exit 1) without ``-f``. Counts and sizes take binary suffixes: 32k = 32,768, 512M = 512 x 2^20 (docs/cli.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from everybit.common.cliargs import (
    add_force,
    add_output_dir,
    add_table_outputs,
    add_threads,
    check_table_outputs,
    deprecated_alias,
    refuse_existing,
    size_type,
    split_leading,
    verb_parsers,
    write_table_outputs,
)
from everybit.common.errors import UsageError


def _special(text: str) -> tuple[str, str]:
    role, sep, token = text.partition("=")
    if not sep or not role:
        raise argparse.ArgumentTypeError(f"--special wants ROLE=TOKEN (e.g. eos=</s>), not {text!r}")
    return role.strip().lower(), token


def configure(parser: argparse.ArgumentParser) -> None:
    from everybit.supertok.dist import DEFAULT_DIST
    from everybit.supertok.pretok import DEFAULT_MAX_CHARS
    from everybit.supertok.training import DEFAULT_SAMPLE_BYTES

    verb = verb_parsers(parser)

    t = verb("train", "train a tokenizer on UTF-8 text files into an HF tokenizer folder")
    t.add_argument("files", metavar="FILES", nargs="+", type=Path)
    t.add_argument(
        "--vocab", type=size_type(1), required=True, metavar="N", help="vocabulary size (32k = 32,768)"
    )
    add_output_dir(t, required=True, help="the tokenizer folder to write")
    t.add_argument(
        "--method",
        default="supertok",
        choices=["supertok", "bpe", "superbpe", "nopretok"],
        help="supertok (default): BPE over random-length chunks; bpe: GPT-4 regex baseline; "
        "superbpe: bpe up to --transition, then across spaces; nopretok: BPE over whole lines",
    )
    t.add_argument(
        "--dist",
        default=DEFAULT_DIST,
        metavar="LO-HI:W,...",
        help=f"supertok chunk lengths in characters (default {DEFAULT_DIST})",
    )
    t.add_argument("--normalize", action="store_true", help="rescale --dist weights that do not sum to 1")
    t.add_argument("--seed", type=int, default=0, metavar="N", help="supertok chunking seed (default 0)")
    t.add_argument(
        "--transition",
        type=size_type(1),
        metavar="T",
        help="superbpe: vocabulary size where stage 2 starts (default 50%% of --vocab)",
    )
    t.add_argument(
        "--max-words",
        type=int,
        default=4,
        metavar="N",
        help="superbpe: words one token may span (default 4, 0 = no limit)",
    )
    t.add_argument(
        "--max-chars",
        type=size_type(1),
        default=DEFAULT_MAX_CHARS,
        metavar="N",
        help=f"superword methods: pre-token length cap in characters (default {DEFAULT_MAX_CHARS})",
    )
    t.add_argument(
        "--max-token-chars",
        type=size_type(1),
        metavar="N",
        help="supertok/nopretok: longest token in characters (default: no limit)",
    )
    t.add_argument("--min-frequency", type=size_type(1), default=2, metavar="N")
    t.add_argument(
        "--drop-runs",
        type=int,
        default=0,
        metavar="N",
        help="supertok: delete runs of N+ identical characters first (the seed used 7; default off)",
    )
    t.add_argument(
        "--sample-bytes",
        type=size_type(1),
        default=DEFAULT_SAMPLE_BYTES,
        metavar="SIZE",
        help="train on an evenly spaced sample of at most SIZE bytes (default 512M = 512 MiB; bounds memory)",
    )
    t.add_argument(
        "--special",
        type=_special,
        action="append",
        default=[],
        metavar="ROLE=TOKEN",
        help="special token for bos, eos, pad or unk (repeatable; ROLE= drops it); default "
        "bos=eos=<|endoftext|>, pad=<|pad|>",
    )
    add_threads(t, "training")
    add_force(t, "a non-empty DIR")
    t.set_defaults(func=run_train)

    e = verb("eval", "bytes/token and friends of tokenizers on text files (one file = one domain)")
    _tokenizers_option(e, "the text files")
    e.add_argument("files", metavar="FILES", nargs="*", type=Path)
    add_table_outputs(e, "bytes/token")
    add_threads(e, "encoding")
    e.set_defaults(func=run_eval)

    s = verb("show", "print how tokenizers cut a text (token boundaries marked with |)")
    _tokenizers_option(s, "the text")
    s.add_argument("text", nargs="*", metavar="TEXT")
    s.add_argument("--file", type=Path, metavar="FILE", help="read the text from FILE instead")
    s.set_defaults(func=run_show)


def _tokenizers_option(parser: argparse.ArgumentParser, following: str) -> None:
    # Not required=True: argparse would then refuse the deprecated -t; _split_tokenizers checks instead.
    parser.add_argument(
        "--tokenizer",
        nargs="+",
        metavar="DIR",
        help=f"tokenizer folders (or tokenizer.json files; required); {following} may follow them directly",
    )
    deprecated_alias(parser, "-t", dest="tokenizer", new="--tokenizer", nargs="+")


def main() -> None:
    from everybit.common.cli import run_tool

    run_tool("supertok")


def _split_tokenizers(args: argparse.Namespace, rest: str) -> None:
    """`--tokenizer A B f1 f2`: the tokenizers are the leading folders and .json files."""
    if args.tokenizer is None:
        raise UsageError("the following arguments are required: --tokenizer")
    args.tokenizer, tail = split_leading(args.tokenizer, lambda a: Path(a).is_dir() or a.endswith(".json"))
    setattr(args, rest, [*(map(Path, tail) if rest == "files" else tail), *getattr(args, rest)])


def _use_threads(threads: int) -> None:
    """HF tokenizers sizes its (Rayon) pool from this variable when it first works in parallel; 0 leaves
    Rayon's default, one thread per core."""
    if threads:
        os.environ["RAYON_NUM_THREADS"] = str(threads)


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"supertok: {text}", file=sys.stderr)


def run_train(args: argparse.Namespace) -> None:
    from everybit.supertok.folder import save
    from everybit.supertok.training import DEFAULT_SPECIALS, TrainConfig, timed_train

    specials = dict(DEFAULT_SPECIALS)
    for role, token in args.special:
        if token:
            specials[role] = token
        else:
            specials.pop(role, None)
    cfg = TrainConfig(
        method=args.method,
        vocab_size=args.vocab,
        dist=args.dist,
        normalize=args.normalize,
        seed=args.seed,
        transition=args.transition,
        max_words=args.max_words,
        max_chars=args.max_chars,
        max_token_chars=args.max_token_chars,
        min_frequency=args.min_frequency,
        drop_runs=args.drop_runs,
        sample_bytes=args.sample_bytes,
        specials=specials,
    )
    cfg.check()
    out = args.out
    refuse_existing(out, args.force)
    _use_threads(args.threads)
    tok, record = timed_train(args.files, cfg)
    save(tok, out, specials, record, overwrite=args.force)
    _note(args, f"{cfg.method}: {tok.get_vocab_size()} tokens in {record['seconds']:.1f} s -> {out}")


def run_eval(args: argparse.Namespace) -> None:
    from everybit.supertok.evaluate import chart, evaluate, table

    _split_tokenizers(args, "files")
    if not args.files:
        raise UsageError("no text files to evaluate on (FILES...)")
    check_table_outputs(args)
    _use_threads(args.threads)
    rows = evaluate(args.tokenizer, args.files)
    write_table_outputs(args, table(rows), chart(rows))
    bad = [f"{r.tokenizer} on {r.domain}" for r in rows if not r.round_trip]
    if bad:
        _note(args, "round trip FAILED for " + ", ".join(bad))
        sys.exit(1)


def run_show(args: argparse.Namespace) -> None:
    from everybit.common.textfiles import read_text
    from everybit.supertok.evaluate import load_tokenizer

    _split_tokenizers(args, "text")
    if args.file and args.text:
        raise UsageError("give TEXT or --file, not both")
    text = read_text(args.file) if args.file else " ".join(args.text)
    if not text:
        raise UsageError("no text to show (give TEXT or --file)")
    for name in args.tokenizer:
        tok = load_tokenizer(name)
        ids = tok.encode(text, add_special_tokens=False).ids
        pieces = [tok.decode([i], skip_special_tokens=False) for i in ids]
        print(f"{Path(name).name} ({len(ids)} tokens): " + "|".join(p.replace("\n", "\\n") for p in pieces))

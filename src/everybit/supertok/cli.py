"""``everybit supertok``: train superword tokenizers, evaluate them, show how they cut text.

    everybit supertok train FILES... --vocab N --out DIR [--method supertok|bpe|superbpe|nopretok]
                      [--dist "LO-HI:W,..."] [--normalize] [--seed S] [--transition T] [--special ROLE=TOKEN]
    everybit supertok eval --tokenizer DIR [DIR...] FILES... [--csv OUT] [--chart OUT.png]
    everybit supertok show --tokenizer DIR [DIR...] (TEXT... | --file FILE)

Outputs are written atomically and never overwritten without ``-f``. Numbers like 32k and 512M are accepted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from everybit.common.errors import UsageError

_SUFFIX = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def _count(what: str, lo: int) -> Any:
    def parse(text: str) -> int:
        t = text.strip().lower()
        scale = _SUFFIX.get(t[-1:], 1)
        try:
            value = int(float(t[:-1] if scale > 1 else t) * scale)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{what} must be a number like 32000 or 32k, not {text!r}"
            ) from None
        if value < lo:
            raise argparse.ArgumentTypeError(f"{what} must be at least {lo}, not {value}")
        return value

    return parse


def _special(text: str) -> tuple[str, str]:
    role, sep, token = text.partition("=")
    if not sep or not role:
        raise argparse.ArgumentTypeError(f"--special wants ROLE=TOKEN (e.g. eos=</s>), not {text!r}")
    return role.strip().lower(), token


def configure(parser: argparse.ArgumentParser) -> None:
    from everybit.common.cliargs import add_table_outputs, verb_parsers
    from everybit.supertok.dist import DEFAULT_DIST
    from everybit.supertok.pretok import DEFAULT_MAX_CHARS

    verb = verb_parsers(parser)

    t = verb("train", "train a tokenizer on UTF-8 text files into an HF tokenizer folder")
    t.add_argument("files", metavar="FILES", nargs="+", type=Path)
    t.add_argument("--vocab", type=_count("--vocab", 1), required=True, metavar="N", help="vocabulary size")
    t.add_argument("--out", "-o", required=True, type=Path, metavar="DIR", help="output folder")
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
    t.add_argument("--seed", type=int, default=0, help="supertok chunking seed (default 0)")
    t.add_argument(
        "--transition",
        type=_count("--transition", 1),
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
        type=_count("--max-chars", 1),
        default=DEFAULT_MAX_CHARS,
        metavar="N",
        help=f"superword methods: pre-token length cap in characters (default {DEFAULT_MAX_CHARS})",
    )
    t.add_argument(
        "--max-token-chars",
        type=_count("--max-token-chars", 1),
        metavar="N",
        help="supertok/nopretok: longest token in characters (default: no limit)",
    )
    t.add_argument("--min-frequency", type=_count("--min-frequency", 1), default=2, metavar="N")
    t.add_argument(
        "--drop-runs",
        type=int,
        default=0,
        metavar="N",
        help="supertok: delete runs of N+ identical characters first (the seed used 7; default off)",
    )
    t.add_argument(
        "--sample-bytes",
        type=_count("--sample-bytes", 1),
        default=512_000_000,
        metavar="N",
        help="train on an evenly spaced sample of at most N bytes (default 512M; bounds memory)",
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
    t.add_argument("-f", "--force", action="store_true", help="replace DIR if it is not empty")
    t.set_defaults(func=run_train)

    e = verb("eval", "bytes/token and friends of tokenizers on text files (one file = one domain)")
    _tokenizers_option(e, "the text files")
    e.add_argument("files", metavar="FILES", nargs="*", type=Path)
    add_table_outputs(e, "bytes/token")
    e.set_defaults(func=run_eval)

    s = verb("show", "print how tokenizers cut a text (token boundaries marked with |)")
    _tokenizers_option(s, "the text")
    s.add_argument("text", nargs="*", metavar="TEXT")
    s.add_argument("--file", type=Path, metavar="FILE", help="read the text from FILE instead")
    s.set_defaults(func=run_show)


def _tokenizers_option(parser: argparse.ArgumentParser, following: str) -> None:
    parser.add_argument(
        "--tokenizer",
        "-t",
        nargs="+",
        required=True,
        metavar="DIR",
        help=f"tokenizer folders (or tokenizer.json files); {following} may follow them directly",
    )


def main() -> None:
    from everybit.common.cli import run_tool

    run_tool("supertok")


def _split_tokenizers(args: argparse.Namespace, rest: str) -> None:
    """`--tokenizer A B f1 f2`: the tokenizers are the leading folders and .json files."""
    from everybit.common.cliargs import split_leading

    args.tokenizer, tail = split_leading(args.tokenizer, lambda a: Path(a).is_dir() or a.endswith(".json"))
    setattr(args, rest, [*(map(Path, tail) if rest == "files" else tail), *getattr(args, rest)])


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
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.force:
        raise UsageError(f"{out}: already exists and is not empty (use --force to replace it)")
    tok, record = timed_train(args.files, cfg)
    save(tok, out, specials, record, overwrite=args.force)
    _note(args, f"{cfg.method}: {tok.get_vocab_size()} tokens in {record['seconds']:.1f} s -> {out}")


def run_eval(args: argparse.Namespace) -> None:
    from everybit.common.cliargs import write_table_outputs
    from everybit.supertok.evaluate import chart, evaluate, table

    _split_tokenizers(args, "files")
    if not args.files:
        raise UsageError("no text files to evaluate on (FILES...)")
    rows = evaluate(args.tokenizer, args.files)
    write_table_outputs(args, table(rows), chart(rows))
    bad = [f"{r.tokenizer} on {r.domain}" for r in rows if not r.round_trip]
    if bad:
        _note(args, "round trip FAILED for " + ", ".join(bad))
        sys.exit(1)


def run_show(args: argparse.Namespace) -> None:
    from everybit.supertok.evaluate import load_tokenizer, read_text

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

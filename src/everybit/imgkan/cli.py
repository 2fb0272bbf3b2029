"""The ``imgkan`` command (also ``everybit imgkan``): encode, decode, eval, info.

    imgkan encode IN [-o OUT.ikan] [--bpp B | --size SIZE] [--roi x1,y1,x2,y2[:w]]... [--roi-mask MASK[:w]]
                     [--roi-detector module:function] [--kind ka|siren] [--iters N] [--bits 4..12]
                     [--per-channel] [--l1 W] [--ssim W] [--perceptual W --vgg PATH] [--adversarial W]
                     [--seed N] [-T N]
    imgkan decode IN.ikan [-o OUT.png]
    imgkan eval IN [--bpp B | --size SIZE] [fit options as for encode] [--json] [--json-out F] [--csv F]
                   [--chart F]
    imgkan info IN.ikan...

Encoding fits a small network to the image (seconds to minutes; a progress bar shows on a terminal);
the default budget is 0.3 bits per pixel, or ``--size`` bytes (``2k`` = 2,048: suffixes are powers of
1024). ``eval`` fits the image the same way, then compares the file with JPEG (the smallest file at
least as large), WebP and JPEG XL (the largest files at most as large); it prints a table, or with
``--json`` the results as JSON and nothing else. Options follow docs/cli.md; the old ``eval --json
FILE.json`` still writes FILE.json for one release, with a warning (``--json-out`` is the new spelling).
Outputs are written atomically and an existing one is refused (exit 1) without ``-f``. Notes go to
stderr (``-q`` silences them and the progress bar).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from everybit.common import atomic_write_bytes
from everybit.common.errors import CorruptDataError, InputError, OutputError, UsageError

DEFAULT_BPP = 0.3
MAX_ITERS = 1_000_000


# ---------------------------------------------------------------- argument types


def _number(kind: type, what: str, lo: float, hi: float = math.inf, lo_open: bool = False) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{what} must be {noun}, not {text!r}") from None
        if not math.isfinite(value) or value < lo or (lo_open and value == lo) or value > hi:
            if hi < math.inf:
                raise argparse.ArgumentTypeError(f"{what} must be between {lo:g} and {hi:g}, not {text}")
            bound = "greater than" if lo_open else "at least"
            raise argparse.ArgumentTypeError(f"{what} must be {bound} {lo:g}, not {text}")
        return value

    return parse


def _roi(text: str) -> Any:
    from everybit.imgkan.roi import parse_box

    return parse_box(text)  # its UsageError already names --roi; argparse lets it through (exit 2)


def _roi_mask(text: str) -> tuple[str, float | None]:
    """``MASK.png[:weight]``; a path that itself ends in ``:<number>`` can be given as ``PATH:4``."""
    path, sep, weight = text.rpartition(":")
    if sep and path:
        try:
            w = float(weight)
        except ValueError:
            return text, None
        if not (math.isfinite(w) and w > 0):
            raise argparse.ArgumentTypeError(f"bad --roi-mask {text!r}: the weight must be positive")
        return path, w
    return text, None


def _detector(text: str) -> str:
    module, _, name = text.partition(":")
    if not module or not name:
        raise argparse.ArgumentTypeError(f"bad --roi-detector {text!r}: expected module:function")
    return text


# ---------------------------------------------------------------- parser


def old_json_spelling(prog: str, words: list[str]) -> list[str]:
    """``words`` with eval's old ``--json FILE`` (``--json-out FILE`` now, kept one release) rewritten, with
    a deprecation warning. ``--json`` is now a flag that may come before IN, so the word after it is the
    old spelling's FILE only when it ends in .json (``--json=FILE``: always)."""
    out: list[str] = []
    for i, word in enumerate(words):
        if word == "--":
            return out + words[i:]
        if word.startswith("--json="):
            out.append("--json-out=" + word.removeprefix("--json="))
        elif out[-1:] == ["--json"] and word.lower().endswith(".json"):
            out[-1] = "--json-out=" + word
        else:
            out.append(word)
            continue
        print(
            f"{prog}: warning: --json FILE is deprecated, use --json-out FILE "
            "(the old spelling goes in the next release)",
            file=sys.stderr,
        )
    return out


def _verb_parser(base: type[argparse.ArgumentParser]) -> type[argparse.ArgumentParser]:
    """The verbs' parser class: ``base`` that reads the old ``--json FILE`` first (``old_json_spelling``)."""

    class VerbParser(base):  # type: ignore[valid-type, misc]
        def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
            if args is not None:
                args = old_json_spelling(self.prog, list(args))
            return super().parse_known_args(args, namespace)

    return VerbParser


def _add_fit_arguments(parser: argparse.ArgumentParser) -> None:
    """The rate, ROI and training options shared by encode and eval."""
    from everybit.common.cliargs import add_threads, size_type
    from everybit.imgkan.arch import KINDS
    from everybit.imgkan.bitstream import MAX_BITS, MIN_BITS
    from everybit.imgkan.options import FitOptions

    defaults = FitOptions()
    g = parser.add_argument_group("rate")
    rate = g.add_mutually_exclusive_group()
    rate.add_argument(
        "--bpp",
        type=_number(float, "--bpp", 0, lo_open=True),
        metavar="B",
        help=f"at most B bits per pixel (default {DEFAULT_BPP})",
    )
    rate.add_argument(
        "--size", type=size_type(1), metavar="SIZE", help="at most SIZE bytes instead (e.g. 2500, 4k)"
    )
    g = parser.add_argument_group("region of interest (where to spend the bits)")
    g.add_argument(
        "--roi",
        type=_roi,
        action="append",
        default=[],
        metavar="x1,y1,x2,y2[:w]",
        help="a box in pixels (x2, y2 exclusive) weighted w (default 4); repeatable",
    )
    g.add_argument(
        "--roi-mask",
        type=_roi_mask,
        metavar="MASK[:w]",
        help="an image of the same size: white pixels weigh w (default 4), black 1",
    )
    g.add_argument(
        "--roi-detector",
        type=_detector,
        metavar="module:function",
        help="a function image -> [(x1, y1, x2, y2[, w]), ...] adding boxes (a plugin; none ships)",
    )
    g = parser.add_argument_group("fit")
    g.add_argument(
        "--kind",
        choices=KINDS,
        default="ka",
        help="ka (default): Kolmogorov-Arnold network with latent grids; siren: the COIN baseline",
    )
    g.add_argument(
        "--iters",
        type=_number(int, "--iters", 1, MAX_ITERS),
        default=defaults.iters,
        metavar="N",
        help=f"training steps (default {defaults.iters}; fewer is faster and worse)",
    )
    g.add_argument(
        "--bits",
        type=_number(int, "--bits", MIN_BITS, MAX_BITS),
        default=defaults.bits,
        metavar="N",
        help=f"weight quantization, {MIN_BITS}..{MAX_BITS} bits (default {defaults.bits})",
    )
    g.add_argument("--per-channel", action="store_true", help="one quantization step per output channel")
    g.add_argument("--l1", type=_number(float, "--l1", 0), default=0.0, metavar="W", help="L1 loss weight")
    g.add_argument(
        "--ssim", type=_number(float, "--ssim", 0), default=0.0, metavar="W", help="(1 - SSIM) loss weight"
    )
    g.add_argument(
        "--perceptual",
        type=_number(float, "--perceptual", 0),
        default=0.0,
        metavar="W",
        help="VGG16 perceptual loss weight (needs --vgg)",
    )
    g.add_argument(
        "--vgg",
        type=Path,
        metavar="PATH",
        help="local VGG16 weights for --perceptual (nothing is downloaded)",
    )
    g.add_argument(
        "--adversarial",
        type=_number(float, "--adversarial", 0),
        default=0.0,
        metavar="W",
        help="patch-discriminator loss weight",
    )
    g.add_argument(
        "--seed", type=_number(int, "--seed", 0), default=defaults.seed, metavar="N", help="training seed"
    )
    add_threads(g, "training (torch's intra-op threads)")


def configure(parser: argparse.ArgumentParser) -> None:
    from everybit.common.cliargs import add_force, add_json, add_output_file, add_table_outputs, verb_parsers

    parser.set_defaults(prog=parser.prog)
    verb = verb_parsers(parser, _verb_parser(type(parser)))  # its class keeps eval's old --json FILE

    e = verb("encode", "fit an image and write it as a .ikan file")
    e.add_argument("input", metavar="IN", help="image (PNG, JPEG, ...); gray stays gray, alpha is dropped")
    add_output_file(e, help="output file (default: IN with suffix .ikan)")
    add_force(e, "FILE")
    _add_fit_arguments(e)
    e.set_defaults(func=run_encode)

    d = verb("decode", "a .ikan file to an image")
    d.add_argument("input", metavar="IN.ikan")
    add_output_file(d, help="output image, format by suffix (default: IN with suffix .png)")
    add_force(d, "FILE")
    d.set_defaults(func=run_decode)

    v = verb("eval", "fit an image, then compare with JPEG, WebP and JPEG XL at the same size")
    v.add_argument("input", metavar="IN", help="image (PNG, ...)")
    add_json(v, "the results (and not the table)")
    add_table_outputs(v, "PSNR by codec")
    _add_fit_arguments(v)
    v.set_defaults(func=run_eval)

    i = verb("info", "the header of .ikan files: image size, network, weight bits, bits per pixel")
    i.add_argument("inputs", metavar="IN.ikan", nargs="+")
    i.set_defaults(func=run_info)


def main() -> NoReturn:
    from everybit.common.cli import run_tool

    run_tool("imgkan")


# ---------------------------------------------------------------- helpers


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"{args.prog.split()[0]}: {text}", file=sys.stderr)


def _base(path: str) -> Path:
    p = Path(path)
    name = p.name.removesuffix(".ikan")
    return p.with_name(Path(name).stem or name)


def _check_output(src: str, out: str | Path | None, force: bool) -> None:
    """Refuse an output before the work rather than after it: same file as the input, already there
    (without --force), a folder, or in a folder that does not exist."""
    if out is None:
        return
    s, d = Path(src), Path(out)
    if d.exists() and s.exists() and s.resolve() == d.resolve():
        raise InputError(f"{src}: input and output are the same file")
    if d.is_dir():
        raise OutputError(f"{out}: is a directory")
    if not force and d.exists():
        raise OutputError(f"{out}: already exists (use --force to overwrite)")
    parent = d.parent if str(d.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{out}: cannot create a file there (no such directory: {parent})")


def _read_ikan(path: str) -> bytes:
    p = Path(path)
    if p.is_dir():
        raise InputError(f"{path}: is a directory")
    if not p.exists():
        raise InputError(f"{path}: no such file")
    return p.read_bytes()


def _corrupt(path: str, exc: Exception) -> CorruptDataError:
    return CorruptDataError(f"{path}: {exc}")


def _fit_options(args: argparse.Namespace) -> Any:
    from everybit.imgkan.options import FitOptions

    if args.perceptual > 0 and args.vgg is None:
        raise UsageError("--perceptual needs local VGG16 weights: --vgg PATH (nothing is downloaded)")
    if args.vgg is not None and not args.perceptual > 0:
        raise UsageError("--vgg is only used with --perceptual W (W > 0)")
    if args.vgg is not None and not args.vgg.exists():
        raise InputError(f"{args.vgg}: no such file (--vgg)")
    return FitOptions(
        iters=args.iters,
        bits=args.bits,
        per_channel=args.per_channel,
        l1=args.l1,
        ssim=args.ssim,
        perceptual=args.perceptual,
        vgg=str(args.vgg) if args.vgg is not None else None,
        adversarial=args.adversarial,
        seed=args.seed,
        quiet=True if args.quiet else None,
    )


def _roi_map(args: argparse.Namespace, pixels: Any) -> Any:
    """The ROI weight map of --roi, --roi-mask and --roi-detector, or None when none is given."""
    from everybit.imgkan.imageio import read_image
    from everybit.imgkan.roi import DEFAULT_WEIGHT, detect, weight_map

    boxes = list(args.roi)
    if args.roi_detector:
        try:
            boxes += detect(args.roi_detector, pixels)
        except (TypeError, ValueError) as exc:  # what a malformed list of boxes raises
            raise InputError(f"--roi-detector {args.roi_detector}: bad boxes ({exc})") from None
    mask, mask_weight = None, DEFAULT_WEIGHT
    if args.roi_mask is not None:
        path, weight = args.roi_mask
        mask = read_image(path)
        mask_weight = weight if weight is not None else DEFAULT_WEIGHT
    if not boxes and mask is None:
        return None
    height, width = pixels.shape[:2]
    return weight_map(height, width, boxes, mask, mask_weight)


def _fit(args: argparse.Namespace) -> tuple[Any, Any, float]:
    """Read the input and fit it: (pixels, FitResult, seconds)."""
    from dataclasses import replace

    from everybit.imgkan import fit_image
    from everybit.imgkan.imageio import read_image

    opts = _fit_options(args)
    pixels = read_image(args.input)
    roi = _roi_map(args, pixels)
    if roi is not None:
        opts = replace(opts, roi=roi)
    bpp = args.bpp if args.bpp is not None or args.size is not None else DEFAULT_BPP
    if args.threads:  # 0: torch's own choice, every core
        import torch

        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    result = fit_image(pixels, bpp=bpp, size=args.size, kind=args.kind, options=opts)
    return pixels, result, time.perf_counter() - start


def _describe(pixels: Any) -> str:
    h, w = pixels.shape[:2]
    return f"{w}x{h} {'gray' if pixels.ndim == 2 else 'RGB'}"


def _bpp(nbytes: int, pixels: Any) -> float:
    return 8 * nbytes / (pixels.shape[0] * pixels.shape[1])


def _image_format(out: str) -> str:
    """The Pillow format OUT's suffix names (PNG when it has none)."""
    from PIL import Image

    suffix = Path(out).suffix.lower()
    known = Image.registered_extensions()  # also loads the plugins that fill Image.SAVE
    fmt = "PNG" if suffix in ("", ".png") else known.get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise UsageError(f"{out}: cannot tell an image format Pillow writes from the suffix '{suffix}'")
    return fmt


def _image_bytes(image: Any, out: str, fmt: str) -> bytes:
    buf = io.BytesIO()
    try:
        image.save(buf, format=fmt)
    except (OSError, ValueError, KeyError) as exc:
        raise OutputError(f"{out}: cannot write a {image.mode} image as {fmt} ({exc})") from None
    return buf.getvalue()


# ---------------------------------------------------------------- verbs


def run_encode(args: argparse.Namespace) -> None:
    from everybit.imgkan import decode_array
    from everybit.imgkan.metrics import psnr

    out = args.output or str(_base(args.input).with_suffix(".ikan"))
    _check_output(args.input, out, args.force)
    pixels, result, seconds = _fit(args)
    back = decode_array(result.data)  # the figure reported is the decoded file's, not the training pass's
    atomic_write_bytes(out, result.data, overwrite=args.force)
    n = len(result.data)
    _note(
        args,
        f"{args.input}: {_describe(pixels)} -> {out}: {n:,} bytes, {_bpp(n, pixels):.3f} bpp, "
        f"PSNR {psnr(pixels, back):.2f} dB, {seconds:.1f} s",
    )


def run_decode(args: argparse.Namespace) -> None:
    from everybit.imgkan import decode_array
    from everybit.imgkan.imageio import to_pil

    out = args.output or str(_base(args.input).with_suffix(".png"))
    _check_output(args.input, out, args.force)
    fmt = _image_format(out)
    data = _read_ikan(args.input)
    try:
        pixels = decode_array(data)
    except CorruptDataError as exc:
        raise _corrupt(args.input, exc) from None
    blob = _image_bytes(to_pil(pixels), out, fmt)
    atomic_write_bytes(out, blob, overwrite=args.force)
    _note(args, f"{args.input}: {len(data):,} bytes -> {out}: {_describe(pixels)}")


def run_info(args: argparse.Namespace) -> None:
    from everybit.imgkan import info

    for k, path in enumerate(args.inputs):
        data = _read_ikan(path)
        try:
            fields = info(data)
        except CorruptDataError as exc:
            raise _corrupt(path, exc) from None
        if k:
            print()
        rows: list[tuple[str, Any]] = [("file", path)]
        for key, value in fields.items():
            if key == "bpp":
                value = f"{value:.4f}"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            elif isinstance(value, int):
                value = f"{value:,}" if key == "bytes" else str(value)
            rows.append((key, value))
        width = max(len(key) for key, _ in rows)
        for key, value in rows:
            print(f"{key + ':':<{width + 1}} {value}")


def _finite(x: float) -> float | None:
    return round(x, 4) if math.isfinite(x) else None


def _eval_doc(
    args: argparse.Namespace, pixels: Any, result: Any, seconds: float, head: dict, rows: list[list[Any]]
) -> dict[str, Any]:
    return {
        "image": str(args.input),
        "width": int(pixels.shape[1]),
        "height": int(pixels.shape[0]),
        "channels": 1 if pixels.ndim == 2 else 3,
        "fit": {"steps": result.steps, "seconds": round(seconds, 3), "header": head},
        "rows": [
            {
                "codec": r[0],
                "bytes": r[1],
                "bpp": r[2],
                "psnr": _finite(r[3]) if r[3] is not None else None,
                "ssim": r[4],
                "setting": r[5],
            }
            for r in rows
        ],
    }


def _write_table_files(args: argparse.Namespace, table: Any, chart: Any) -> None:
    """--csv and --chart, without printing the table (stdout holds the JSON)."""
    if args.csv:
        atomic_write_bytes(args.csv, table.to_csv().encode(), overwrite=args.force)
    if args.chart:
        chart.save_png(args.chart)  # refused before the fit if it existed (_check_output)


def run_eval(args: argparse.Namespace) -> None:
    from everybit.common.cliargs import write_table_outputs
    from everybit.common.report import Chart, Series, Table
    from everybit.imgkan import decode_array, info
    from everybit.imgkan.anchors import _imagecodecs, compare_at
    from everybit.imgkan.metrics import psnr, ssim

    for extra in (args.csv, args.chart, args.json_out):
        _check_output(args.input, extra, args.force)
    _imagecodecs("webp")  # a missing anchor fails now, not after minutes of fitting
    _imagecodecs("jpegxl")
    pixels, result, seconds = _fit(args)
    data = result.data
    ours = decode_array(data)
    head = info(data)
    setting = f"{head['kind']}, hidden {head['hidden']}, {head['weight_bits']}-bit weights"
    rows: list[list[Any]] = [
        ["imgkan", len(data), _bpp(len(data), pixels), psnr(pixels, ours), ssim(pixels, ours), setting]
    ]
    names = ["JPEG", "WebP", "JPEG XL"]
    for name, enc in zip(names, compare_at(pixels, len(data)), strict=True):
        if enc is None:
            rows.append([name, None, None, None, None, f"no file of at most {len(data):,} bytes"])
            continue
        rows.append(
            [
                name,
                enc.size,
                _bpp(enc.size, pixels),
                psnr(pixels, enc.decoded),
                ssim(pixels, enc.decoded),
                enc.setting,
            ]
        )
    for row in rows:
        for j in (2, 3, 4):
            if isinstance(row[j], float):
                row[j] = round(row[j], 4)
    table = Table(
        ["codec", "bytes", "bpp", "PSNR dB", "SSIM", "setting"],
        rows,
        title=f"{args.input}: {_describe(pixels)}",
    )
    shown = [r for r in rows if r[3] is not None and math.isfinite(r[3])]
    chart = Chart(
        f"PSNR at {len(data):,} bytes ({_bpp(len(data), pixels):.3f} bpp)",
        [Series("PSNR", [r[0] for r in shown], [r[3] for r in shown])],
        kind="bar",
        ylabel="PSNR dB (higher is better)",
    )
    text = json.dumps(_eval_doc(args, pixels, result, seconds, head, rows), indent=2) + "\n"
    if args.json_out:
        atomic_write_bytes(args.json_out, text.encode(), overwrite=args.force)
    if args.json:
        print(text, end="")  # and nothing else on stdout: the table goes only to --csv
        _write_table_files(args, table, chart)
    else:
        write_table_outputs(args, table, chart)
    _note(args, f"{args.input}: fitted in {seconds:.1f} s ({result.steps:,} steps)")

"""The ``fontpack`` command (also ``everybit fontpack``): compress, decompress, info, glyphs, export.

    fontpack compress IN [-o OUT.fpk] [--mode best|rle|cells|sheet] [--grid WxH[+X+Y]] [--cols N]
                         [--threshold N]
    fontpack decompress IN.fpk [-o OUT.png]
    fontpack info IN...                      (an image or font: what is detected; a .fpk: its header)
    fontpack glyphs IN.fpk [-o DIR]          (one PNG per glyph: 0041-U+0041.png)
    fontpack export IN.fpk [-o OUT.bdf]      (a BDF font; codepoints and metrics kept when IN was a font)

Options follow docs/cli.md: ``-o/--output FILE`` (``-o/--out DIR`` for glyphs), ``-f/--force``, ``-q``,
``-v``. Outputs are written atomically and an existing one is refused (exit 1) without ``-f``. Notes go
to stderr (``-q`` silences them, ``-v`` adds one line per glyph image written); ``info`` prints to stdout.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any, NoReturn

from everybit.common import atomic_write_bytes
from everybit.common.cliargs import (
    add_force,
    add_output_dir,
    add_output_file,
    deprecated_alias,
    refuse_existing,
    verb_parsers,
)
from everybit.common.errors import InputError, OutputError, UsageError


def _int_range(lo: int, hi: int, what: str) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be an integer, not {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"{what} must be between {lo} and {hi}, not {value}")
        return value

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    verb = verb_parsers(parser)
    parser.set_defaults(prog=parser.prog)

    c = verb("compress", "an image or bitmap font to a .fpk file")
    c.add_argument(
        "input", metavar="IN", help="glyph sheet (PNG, BMP, GIF, ...) or font (PSF, BDF, PCF, .hex)"
    )
    add_output_file(c, help="output file (default: IN with suffix .fpk)")
    c.add_argument(
        "--mode",
        choices=["best", "rle", "cells", "sheet"],
        default="best",
        help="best (default): the smallest of cells/sheet/rle; rle: the original pack + run-length",
    )
    c.add_argument(
        "--grid", metavar="WxH[+X+Y]", help="cell size (and first cell's offset) instead of detecting"
    )
    c.add_argument(
        "--cols",
        type=_int_range(1, 1 << 20, "--cols"),
        metavar="N",
        help="cells per row (images) or glyphs per sheet row (fonts, default 16)",
    )
    c.add_argument(
        "--threshold",
        type=_int_range(0, 255, "--threshold"),
        metavar="N",
        help="gray >= N is white (default: Otsu's threshold)",
    )
    add_force(c, "FILE")
    c.set_defaults(func=run_compress)

    d = verb("decompress", "a .fpk file to a 1-bit PNG of the sheet")
    d.add_argument("input", metavar="IN.fpk")
    add_output_file(d, help="output image (default: IN with suffix .png)")
    add_force(d, "FILE")
    d.set_defaults(func=run_decompress)

    i = verb("info", "grid, cells and sizes of images or fonts, or what a .fpk file's header says")
    i.add_argument("inputs", metavar="IN", nargs="+")
    i.add_argument("--grid", metavar="WxH[+X+Y]", help="use this grid instead of detecting (images)")
    i.add_argument("--cols", type=_int_range(1, 1 << 20, "--cols"), metavar="N", help="as for compress")
    i.add_argument("--threshold", type=_int_range(0, 255, "--threshold"), metavar="N", help="as for compress")
    i.set_defaults(func=run_info)

    g = verb("glyphs", "one PNG per glyph of a .fpk file")
    g.add_argument("input", metavar="IN.fpk")
    add_output_dir(g, help="output folder (default: IN without suffix + -glyphs)")
    deprecated_alias(g, "--output", dest="out", new="-o/--out", type=Path)
    g.add_argument("--all", action="store_true", help="blank cells too")
    add_force(g, "files in DIR")
    g.set_defaults(func=run_glyphs)

    e = verb("export", "a .fpk file to a BDF font")
    e.add_argument("input", metavar="IN.fpk")
    add_output_file(e, help="output font (default: IN with suffix .bdf)")
    add_force(e, "FILE")
    e.set_defaults(func=run_export)


def main() -> NoReturn:
    from everybit.common.cli import run_tool

    run_tool("fontpack")


# ---------------------------------------------------------------- helpers


def _note(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(f"{args.prog.split()[0]}: {text}", file=sys.stderr)


def _base(path: str) -> Path:
    p = Path(path)
    name = p.name
    for suffix in (".gz", ".fpk"):
        name = name.removesuffix(suffix)
    return p.with_name(Path(name).stem or name)


def _read_fpk(path: str) -> Any:
    from everybit.fontpack.format import decode

    if Path(path).is_dir():
        raise InputError(f"{path}: is a directory")
    data = Path(path).read_bytes()
    return decode(data, path), len(data)


def _png(image: Any) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def _same_file(src: str, dst: str | Path) -> None:
    s, d = Path(src), Path(dst)
    if d.exists() and s.exists() and s.resolve() == d.resolve():
        raise InputError(f"{src}: input and output are the same file")


def _grid_note(sheet: Any, det: Any) -> str:
    return f"{det.grid.describe()}{' (' + det.method + ')' if det.method != 'detected' else ''}"


# ---------------------------------------------------------------- verbs


def run_compress(args: argparse.Namespace) -> None:
    from everybit.fontpack.format import encode_sheet, resolve_grid
    from everybit.fontpack.sheet import load_sheet

    out = args.output or _base(args.input).with_suffix(".fpk")
    _same_file(args.input, out)
    refuse_existing(out, args.force)
    sheet = load_sheet(args.input, args.threshold, args.cols)
    if sheet.grid is not None and args.threshold is not None:
        raise UsageError(f"{args.input}: --threshold applies to images; a font is already black and white")
    det = resolve_grid(sheet, args.grid, args.cols if sheet.grid is None else None)
    if sheet.gray_rounded:
        _note(
            args,
            f"warning: {args.input}: {sheet.gray_rounded:,} gray pixels rounded to black or white "
            f"(threshold {sheet.threshold})",
        )
    blob = encode_sheet(sheet, det.grid, args.mode)
    atomic_write_bytes(out, blob, overwrite=args.force)
    from everybit.fontpack.format import read_header

    header, _ = read_header(blob, str(out))
    raw = (sheet.width * sheet.height + 7) // 8
    _note(
        args,
        f"{args.input}: {sheet.width}x{sheet.height}, {_grid_note(sheet, det)}, {header.blank} blank and "
        f"{header.duplicates} duplicate cells -> {out}: {len(blob):,} bytes, mode {header.mode} "
        f"({raw / len(blob):.2f}x smaller than packed bits)",
    )


def run_decompress(args: argparse.Namespace) -> None:
    out = args.output or _base(args.input).with_suffix(".png")
    _same_file(args.input, out)
    refuse_existing(out, args.force)
    decoded, size = _read_fpk(args.input)
    png = _png(decoded.image())
    atomic_write_bytes(out, png, overwrite=args.force)
    _note(args, f"{args.input}: {size:,} bytes -> {out}: {decoded.header.width}x{decoded.header.height}")


def run_info(args: argparse.Namespace) -> None:
    from everybit.fontpack.format import MAGIC

    for k, path in enumerate(args.inputs):
        if k:
            print()
        p = Path(path)
        if p.is_dir():
            raise InputError(f"{path}: is a directory")
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head == MAGIC:
            if args.grid or args.cols or args.threshold is not None:
                raise UsageError(
                    f"{path}: --grid, --cols and --threshold apply to images and fonts, not .fpk files"
                )
            _info_fpk(path)
        else:
            _info_sheet(path, args)


def _print(rows: list[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key + ':':<{width + 1}} {value}")


def _info_sheet(path: str, args: argparse.Namespace) -> None:
    from everybit.fontpack.format import analyse_cells, resolve_grid
    from everybit.fontpack.sheet import load_sheet

    sheet = load_sheet(path, args.threshold, args.cols)
    det = resolve_grid(sheet, args.grid, args.cols if sheet.grid is None else None)
    g = det.grid
    an = analyse_cells(g.split(sheet.ink))
    rows: list[tuple[str, Any]] = [("file", path)]
    if sheet.meta is not None:
        m = sheet.meta
        rows += [
            ("font", f"{m.name} ({m.format}, {m.glyph_count} glyphs{', ' + m.charset if m.charset else ''})")
        ]
    rows += [
        (
            "sheet",
            f"{sheet.width}x{sheet.height}, ink {'dark' if sheet.ink_dark else 'light'}, "
            f"{int(sheet.ink.sum()):,} ink pixels",
        ),
    ]
    if sheet.meta is None:
        rows += [
            (
                "threshold",
                f"{sheet.threshold} ({'given' if args.threshold is not None else 'Otsu'}), "
                f"{sheet.gray_rounded:,} gray pixels rounded",
            )
        ]
    rows += [
        ("grid", f"{det.method}: {g.cols} cols x {g.rows} rows of {g.cell_w}x{g.cell_h} cells"),
        (
            "margins",
            f"left {g.x0}, top {g.y0}, right {sheet.width - g.right}, bottom {sheet.height - g.bottom}",
        ),
        ("gutters", f"{g.gap_x} x {g.gap_y}"),
    ]
    if det.method == "detected":
        rows += [
            (
                "pitch",
                f"{det.x.pitch} x {det.y.pitch} (fit {det.x.score:.2f} / {det.y.score:.2f}), blank "
                f"band between glyphs {det.x.separator} x {det.y.separator}",
            )
        ]
    rows += [
        (
            "cells",
            f"{g.cells:,}: {int(an.blank.sum()):,} blank, {an.duplicates:,} duplicate, "
            f"{an.distinct:,} distinct glyphs",
        )
    ]
    _print(rows)


def _info_fpk(path: str) -> None:
    """What the header says; the payload is neither read nor checked, so any file takes milliseconds."""
    from everybit.fontpack.format import read_file_header

    h, size = read_file_header(path, path)
    g = h.grid
    rows: list[tuple[str, Any]] = [
        ("file", f"{path}: {size:,} bytes, fontpack version {h.version}, mode {h.mode} (not decoded)"),
        (
            "sheet",
            f"{h.width}x{h.height}, ink {'dark' if h.ink_dark else 'light'}, threshold {h.threshold}, "
            f"{(h.width * h.height + 7) // 8 / size:.2f}x smaller than packed bits",
        ),
        (
            "grid",
            f"{g.cols} cols x {g.rows} rows of {g.cell_w}x{g.cell_h} cells, offset +{g.x0}+{g.y0}, "
            f"gutters {g.gap_x} x {g.gap_y}",
        ),
        (
            "cells",
            f"{g.cells:,}: {h.blank:,} blank, {h.duplicates:,} duplicate, {h.distinct:,} distinct glyphs",
        ),
    ]
    if h.meta is not None:
        m = h.meta
        known = sum(cp is not None for cp in m.codepoints)
        rows.append(
            (
                "font",
                f"{m.name} ({m.format}, {m.glyph_count} glyphs, {known} with codepoints"
                f"{', ' + m.charset if m.charset else ''})",
            )
        )
    rows.append(("sections", ", ".join(f"{k} {v:,} bytes" for k, v in h.sizes.items())))
    _print(rows)


def glyph_name(index: int, cells: int, codepoint: int | None, unicode: bool) -> str:
    """``0041-U+0041.png``: the cell index in hex (at least 4 digits), then the codepoint when known."""
    digits = max(4, len(f"{max(cells - 1, 0):X}"))
    name = f"{index:0{digits}X}"
    if codepoint is not None:
        name += f"-U+{codepoint:04X}" if unicode else f"-0x{codepoint:04X}"
    return name + ".png"


def run_glyphs(args: argparse.Namespace) -> None:
    from everybit.fontpack.sheet import to_image

    decoded, _ = _read_fpk(args.input)
    out = args.out or Path(str(_base(args.input)) + "-glyphs")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: exists and is not a directory")
    cells = decoded.cells()
    meta = decoded.meta
    codepoints = meta.codepoints if meta is not None else []
    unicode = meta.is_unicode if meta is not None else True
    jobs = []
    for i in range(len(cells)):
        cp = codepoints[i] if i < len(codepoints) else None
        if not (args.all or cells[i].any() or cp is not None):
            continue
        jobs.append((out / glyph_name(i, len(cells), cp, unicode), i))
    for path, _ in jobs:
        refuse_existing(path, args.force)
    out.mkdir(parents=True, exist_ok=True)
    for path, i in jobs:
        atomic_write_bytes(
            path, _png(to_image(cells[i], decoded.header.ink_dark)), overwrite=True, fsync=False
        )
        if args.verbose:
            _note(args, f"> {path}")
    _note(args, f"{args.input}: {len(jobs):,} glyph images in {out}")


def run_export(args: argparse.Namespace) -> None:
    from everybit.fontpack.fonts import font_from_cells, write_bdf

    out = args.output or _base(args.input).with_suffix(".bdf")
    _same_file(args.input, out)
    refuse_existing(out, args.force)
    decoded, _ = _read_fpk(args.input)
    cells = list(decoded.cells())
    font = font_from_cells(cells, decoded.meta, _base(args.input).name)
    bdf = write_bdf(font)
    atomic_write_bytes(out, bdf, overwrite=args.force)
    what = (
        "font"
        if decoded.meta is not None and decoded.meta.codepoints
        else "sheet (cells as glyphs 0, 1, ...)"
    )
    _note(args, f"{args.input}: {len(font.glyphs):,} glyphs of the {what} -> {out}")

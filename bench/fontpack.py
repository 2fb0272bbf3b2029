"""fontpack against the bi-level image codecs, on glyph sheets rendered from real fonts.

Sheets: Debian console PSF fonts at several sizes (console-setup-linux, fonts-spleen), X11 PCF fonts
(xfonts-base), 4,096 CJK glyphs of GNU Unifont (U+4E00..U+5DFF, 64 per row: a 1024x1024 sheet) and Pillow's
bundled TrueType font (`ImageFont.load_default(size=...)`) rendered at 16, 32 and 64 px (printable Latin-1,
16 per row, binarized at the fixed threshold 128). Each sheet is saved once as PBM (and as the same pixels in
a 1-bit PNG); every codec gets that same 1-bit sheet.

Codecs, in the same run: fontpack `best` and `rle` (from the PBM, grid detected as for any image), JBIG1
(`pbmtojbg`, the smallest of several option sets per sheet), CCITT G4 TIFF and packbits TIFF (Pillow/libtiff),
PNG (`optipng -o7`), JPEG XL lossless (`cjxl -d 0 -e 9`), and xz preset 9 of the packed rows. Every output is
decoded (`fontpack.decompress`, `jbgtopbm`, Pillow, `djxl`, lzma) and compared pixel for pixel with the sheet;
a mismatch raises `VerifyError`. Also writes `fontpack-totals.png` and `fontpack-totals.html`.
"""

from __future__ import annotations

import io
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench import data, harness
from bench.harness import Report, time_call

REPEAT = 3  # timed runs of our encode and decode, after one warm-up; the median is reported
TTF_SIZES = (16, 32, 64)  # px sizes of Pillow's bundled TrueType font
TTF_THRESHOLD = 128  # fixed binarization threshold of the rendered TrueType sheets
TTF_COLS = 16
LATIN1 = "".join(chr(c) for c in (*range(0x20, 0x7F), *range(0xA0, 0x100)))  # printable Latin-1, 191
CJK_RANGE = (0x4E00, 0x5DFF)  # 4,096 CJK unified ideographs of Unifont
CJK_COLS = 64
MEGAPIXEL_TARGET_S = 1.0

# Font files of bench.data.bitmap_fonts(), in table order; quick runs keep QUICK_FONTS.
PSF_FONTS = (
    "psf/Lat15-VGA8.psf",
    "psf/Lat15-Fixed16.psf",
    "psf/Uni2-Terminus12x6.psf",
    "psf/Uni3-Terminus20x10.psf",
    "psf/Uni2-VGA28x16.psf",
    "psf/Lat15-TerminusBold32x16.psf",
    "psf/spleen-5x8.psfu",
    "psf/spleen-12x24.psfu",
    "psf/spleen-32x64.psfu",
)
PCF_FONTS = ("pcf/4x6.pcf", "pcf/6x13.pcf", "pcf/9x15.pcf", "pcf/k14.pcf")
QUICK_FONTS = ("psf/Lat15-Fixed16.psf", "pcf/6x13.pcf")
QUICK_TTF_SIZES = (32,)

# Commands the anchors run, and the Debian package of each.
DEBIAN_PACKAGES = {
    "pbmtojbg": "jbigkit-bin",
    "jbgtopbm": "jbigkit-bin",
    "cjxl": "libjxl-tools",
    "djxl": "libjxl-tools",
    "optipng": "optipng",
}

# pbmtojbg option sets tried on every sheet; the smallest output is kept. In sequential mode (-q) only TPBON
# (-p 8, the default's layer-0 part) and LRLTWO (-p 64) of -p matter; -m 127 lets the adaptive template pixel
# move up to 127 pixels (a glyph cell to the left); -s 1000000 codes the sheet as one stripe.
JBIG_OPTIONS = (
    "",
    *(
        " ".join(x for x in ("-q", p, m, s) if x)
        for p in ("", "-p 0", "-p 64", "-p 72")
        for m in ("", "-m 127")
        for s in ("", "-s 1000000")
    ),
)

FONTPACK_BEST, FONTPACK_RLE = "fontpack best", "fontpack --mode rle"
JBIG1, G4, PNG, JXL, PACKBITS, XZ = (
    "JBIG1 (pbmtojbg)",
    "CCITT G4 TIFF",
    "PNG (optipng -o7)",
    "JPEG XL lossless (cjxl -d 0 -e 9)",
    "packbits TIFF",
    "xz -9 of packed bits",
)

SHORT_NAMES = {  # chart labels
    FONTPACK_BEST: "fontpack best",
    FONTPACK_RLE: "fontpack rle",
    JBIG1: "JBIG1",
    G4: "G4 TIFF",
    PNG: "PNG optipng",
    JXL: "JPEG XL",
    PACKBITS: "packbits TIFF",
    XZ: "xz -9",
}


class VerifyError(RuntimeError):
    """A codec's output did not decode back to the sheet it was given."""


class MissingTool(data.DataUnavailable):
    """A command or a Pillow feature the benchmark needs is absent; the message names the package."""


def require_tools(commands: Sequence[str] = tuple(DEBIAN_PACKAGES)) -> None:
    """Raise MissingTool (one line naming the Debian packages to install) if a command is absent, or if
    Pillow lacks libtiff (TIFF G4/packbits) or FreeType (its bundled TrueType font)."""
    missing = [c for c in commands if shutil.which(c) is None]
    if missing:
        packages = " ".join(dict.fromkeys(DEBIAN_PACKAGES.get(c, c) for c in missing))
        names = ", ".join(f"`{c}`" for c in missing)
        raise MissingTool(f"fontpack benchmark: {names} not found; run `apt-get install -y {packages}`")
    from PIL import features

    for feature, why in (("libtiff", "CCITT G4 and packbits TIFF"), ("freetype2", "its TrueType font")):
        if not features.check(feature):
            raise MissingTool(
                f"fontpack benchmark: Pillow was built without {feature} (needed for {why}); "
                "run `pip install --force-reinstall pillow` (the PyPI wheels include it)"
            )


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode}: {message[-1] if message else ''}")


# ---------------------------------------------------------------- sheets


@dataclass
class FontSheet:
    """One benchmark input: the 1-bit sheet (`ink`: True = black) and where it came from."""

    label: str
    ink: np.ndarray  # (height, width) bool
    grid: tuple[int, int, int, int]  # cell_w, cell_h, cols, rows it was rendered on
    glyphs: int
    source: str
    versions: dict[str, str] = field(default_factory=dict)
    pbm: Path | None = None
    png: Path | None = None

    @property
    def width(self) -> int:
        return int(self.ink.shape[1])

    @property
    def height(self) -> int:
        return int(self.ink.shape[0])

    @property
    def pixels(self) -> int:
        return int(self.ink.size)


def pbm_bytes(ink: np.ndarray) -> bytes:
    """The sheet as binary PBM (P4): 1 = black, rows padded to whole bytes."""
    h, w = ink.shape
    return f"P4\n{w} {h}\n".encode() + np.packbits(ink.astype(bool), axis=1).tobytes()


def to_image(ink: np.ndarray) -> Any:
    """A PIL mode "1" image (black where `ink`)."""
    from PIL import Image

    h, w = ink.shape
    return Image.frombytes("1", (w, h), np.packbits(~ink.astype(bool), axis=1).tobytes())


def black_of(img: Any) -> np.ndarray:
    """The black pixels (bool) of a decoded image of any mode: "1" as is, others gray < 128."""
    if img.mode == "1":
        return ~np.asarray(img, dtype=bool)
    return np.asarray(img.convert("L"), dtype=np.uint8) < 128


def save_sheet(sheet: FontSheet, folder: Path) -> FontSheet:
    """Write the sheet once as PBM and as a 1-bit PNG (same pixels) under `folder`."""
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in sheet.label)
    sheet.pbm = folder / f"{stem}.pbm"
    sheet.pbm.write_bytes(pbm_bytes(sheet.ink))
    sheet.png = folder / f"{stem}.png"
    to_image(sheet.ink).save(sheet.png, optimize=False)
    return sheet


def render_ttf_sheet(
    font: Any, chars: str = LATIN1, cols: int = TTF_COLS, threshold: int = TTF_THRESHOLD
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`chars` of a Pillow font drawn in a grid, `cols` per row, every glyph on a common baseline in equal
    cells (the union of all glyph boxes and advances, so nothing is clipped); antialiased gray >= `threshold`
    is ink. Returns (ink, (cell_w, cell_h, cols, rows))."""
    from PIL import Image, ImageDraw

    boxes = [font.getbbox(ch, anchor="ls") for ch in chars]
    left = min(0, *(b[0] for b in boxes))
    right = max(*(b[2] for b in boxes), *(int(np.ceil(font.getlength(ch))) for ch in chars))
    top, bottom = min(b[1] for b in boxes), max(b[3] for b in boxes)
    cw, ch_ = right - left, bottom - top
    rows = -(-len(chars) // cols)
    canvas = Image.new("L", (cols * cw, rows * ch_), 0)
    draw = ImageDraw.Draw(canvas)
    for i, char in enumerate(chars):
        r, c = divmod(i, cols)
        draw.text((c * cw - left, r * ch_ - top), char, fill=255, font=font, anchor="ls")
    ink = np.asarray(canvas, dtype=np.uint8) >= threshold
    return ink, (cw, ch_, cols, rows)


def ttf_sheet(size: int) -> FontSheet:
    import importlib.metadata

    from PIL import ImageFont

    font = ImageFont.load_default(size=size)
    ink, grid = render_ttf_sheet(font)
    name = " ".join(font.getname())
    return FontSheet(
        f"Pillow {name} {size}px",
        ink,
        grid,
        len(LATIN1),
        f"Pillow's bundled TrueType font ({name}, ImageFont.load_default(size={size})), printable Latin-1 "
        f"({len(LATIN1)} chars) drawn {TTF_COLS} per row, binarized at gray >= {TTF_THRESHOLD}",
        {"pillow": importlib.metadata.version("pillow")},
    )


def _package_of(rel: str) -> str:
    if "spleen" in rel:
        return "fonts-spleen"
    return {"psf": "console-setup-linux", "pcf": "xfonts-base", "hex": "unifont"}[rel.split("/")[0]]


def font_file_sheet(rel: str, path: Path, versions: dict[str, str]) -> FontSheet:
    from everybit import fontpack

    sheet = fontpack.load_sheet(path)
    g = sheet.grid
    package = _package_of(rel)
    return FontSheet(
        Path(rel).name,
        sheet.ink,
        (g.cell_w, g.cell_h, g.cols, g.rows),
        sheet.meta.glyph_count if sheet.meta else g.cells,
        f"{rel} of Debian {package}, rendered by everybit.fontpack.load_sheet ({g.cols} glyphs per row)",
        {package: versions.get(package, "?")},
    )


def unifont_cjk_sheet(hex_path: Path, versions: dict[str, str]) -> FontSheet:
    """Unifont's glyphs U+4E00..U+5DFF (all 4,096 present, 16x16 each), 64 per row: 1024x1024 pixels."""
    from everybit.fontpack.fonts import read_hex
    from everybit.fontpack.sheet import sheet_from_font

    lo, hi = CJK_RANGE
    lines = [
        line
        for line in hex_path.read_bytes().splitlines()
        if b":" in line and lo <= int(line.split(b":", 1)[0], 16) <= hi
    ]
    if len(lines) != hi - lo + 1:
        raise data.DataUnavailable(
            f"fontpack benchmark: {hex_path} has {len(lines)} glyphs in U+{lo:04X}..U+{hi:04X}, expected "
            f"{hi - lo + 1}; delete {hex_path.parent} and its .json to rebuild it"
        )
    sheet = sheet_from_font(read_hex(b"\n".join(lines), hex_path.name, "unifont"), CJK_COLS)
    g = sheet.grid
    return FontSheet(
        f"unifont CJK U+{lo:04X}-{hi:04X}",
        sheet.ink,
        (g.cell_w, g.cell_h, g.cols, g.rows),
        len(lines),
        f"GNU Unifont (Debian unifont) glyphs U+{lo:04X}..U+{hi:04X}, {CJK_COLS} per row, rendered by "
        "everybit.fontpack",
        {"unifont": versions.get("unifont", "?")},
    )


def build_sheets(quick: bool, folder: Path) -> list[FontSheet]:
    """Every benchmark sheet, saved as PBM and PNG under `folder`."""
    fonts = data.bitmap_fonts()
    versions = data.provenance("bitmap-fonts")["versions"]
    names = QUICK_FONTS if quick else (*PSF_FONTS, *PCF_FONTS)
    missing = [n for n in names if n not in fonts] + [n for n in ("hex/unifont.hex",) if n not in fonts]
    if missing:
        raise data.DataUnavailable(
            f"fontpack benchmark: {', '.join(missing)} missing from the bitmap-fonts cache; delete it and "
            "its .json to rebuild"
        )
    sheets = [font_file_sheet(n, fonts[n], versions) for n in names]
    sheets.append(unifont_cjk_sheet(fonts["hex/unifont.hex"], versions))
    sheets += [ttf_sheet(size) for size in (QUICK_TTF_SIZES if quick else TTF_SIZES)]
    return [save_sheet(s, folder) for s in sheets]


# ---------------------------------------------------------------- codecs


@dataclass(frozen=True)
class Codec:
    """`encode(sheet, workdir) -> (bytes, detail)`; `decode(blob, sheet, workdir) -> black pixels`."""

    name: str
    encode: Callable[[FontSheet, Path], tuple[bytes, str]]
    decode: Callable[[bytes, FontSheet, Path], np.ndarray]


def verify(codec: str, sheet: FontSheet, decoded: Any) -> None:
    """Raise VerifyError unless `decoded` (bool array) is exactly the sheet's pixels."""
    decoded = np.asarray(decoded)
    if decoded.shape != sheet.ink.shape:
        raise VerifyError(
            f"fontpack benchmark: {codec} on {sheet.label}: decoded an image of shape {decoded.shape}, "
            f"the sheet is {sheet.height}x{sheet.width} (rows x columns)"
        )
    wrong = int(np.count_nonzero(decoded.astype(bool) != sheet.ink))
    if wrong:
        raise VerifyError(
            f"fontpack benchmark: {codec} on {sheet.label}: {wrong:,} of {sheet.pixels:,} pixels differ "
            "after decoding"
        )


def _fontpack_encode(mode: str) -> Callable[[FontSheet, Path], tuple[bytes, str]]:
    def encode(sheet: FontSheet, work: Path) -> tuple[bytes, str]:
        from everybit import fontpack

        blob = fontpack.compress(sheet.pbm, mode=mode)
        return blob, fontpack.decode(blob).header.mode

    return encode


def _fontpack_decode(blob: bytes, sheet: FontSheet, work: Path) -> np.ndarray:
    from everybit import fontpack

    return black_of(fontpack.decompress(blob))


def jbig_sizes(sheet: FontSheet, work: Path, options: Sequence[str] = JBIG_OPTIONS) -> dict[str, bytes]:
    """pbmtojbg's output for each option set (command-line options as one string)."""
    out = {}
    target = work / "out.jbg"
    for opts in options:
        _run(["pbmtojbg", *opts.split(), str(sheet.pbm), str(target)])
        out[opts] = target.read_bytes()
    return out


def jbig_encoder(
    options: Sequence[str] = JBIG_OPTIONS, log: dict[str, dict[str, int]] | None = None
) -> Callable[[FontSheet, Path], tuple[bytes, str]]:
    """An encoder keeping the smallest pbmtojbg output over `options` (ties: the earlier set); detail: the
    winning options. `log`, if given, gets sheet label -> options -> bytes of every set tried."""

    def encode(sheet: FontSheet, work: Path) -> tuple[bytes, str]:
        sizes = jbig_sizes(sheet, work, options)
        if log is not None:
            log[sheet.label] = {o: len(b) for o, b in sizes.items()}
        best = min(options, key=lambda o: len(sizes[o]))
        return sizes[best], best or "(defaults)"

    return encode


def _jbig_decode(blob: bytes, sheet: FontSheet, work: Path) -> np.ndarray:
    from PIL import Image

    (work / "in.jbg").write_bytes(blob)
    _run(["jbgtopbm", str(work / "in.jbg"), str(work / "dec.pbm")])
    with Image.open(work / "dec.pbm") as img:
        return black_of(img)


def _tiff_encode(compression: str) -> Callable[[FontSheet, Path], tuple[bytes, str]]:
    def encode(sheet: FontSheet, work: Path) -> tuple[bytes, str]:
        from PIL import Image

        buf = io.BytesIO()
        to_image(sheet.ink).save(buf, "TIFF", compression=compression)
        blob = buf.getvalue()
        with Image.open(io.BytesIO(blob)) as img:
            strips = sum(img.tag_v2.get(279, ()))  # StripByteCounts: the coded data without the TIFF frame
        return blob, f"{strips:,} B of strip data"

    return encode


def _pillow_decode(blob: bytes, sheet: FontSheet, work: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(blob)) as img:
        img.load()
        return black_of(img)


def _png_encode(sheet: FontSheet, work: Path) -> tuple[bytes, str]:
    out = work / "opt.png"
    out.unlink(missing_ok=True)
    _run(["optipng", "-o7", "-strip", "all", "-quiet", "-clobber", "-out", str(out), str(sheet.png)])
    return out.read_bytes(), f"from {sheet.png.stat().st_size:,} B (Pillow, 1-bit)"


def _jxl_encode(sheet: FontSheet, work: Path) -> tuple[bytes, str]:
    out = work / "out.jxl"
    _run(["cjxl", "-d", "0", "-e", "9", str(sheet.png), str(out)])
    return out.read_bytes(), ""


def _jxl_decode(blob: bytes, sheet: FontSheet, work: Path) -> np.ndarray:
    from PIL import Image

    (work / "in.jxl").write_bytes(blob)
    # djxl 0.7 writes a 1-bit image as 8-bit PNG samples 0/1 unless told the output depth
    _run(["djxl", str(work / "in.jxl"), str(work / "dec.png"), "--bits_per_sample=8"])
    with Image.open(work / "dec.png") as img:
        return black_of(img)


def _xz_encode(sheet: FontSheet, work: Path) -> tuple[bytes, str]:
    return lzma.compress(np.packbits(sheet.ink, axis=1).tobytes(), preset=9), "rows packed MSB first"


def _xz_decode(blob: bytes, sheet: FontSheet, work: Path) -> np.ndarray:
    rows = np.frombuffer(lzma.decompress(blob), np.uint8).reshape(sheet.height, -1)
    return np.unpackbits(rows, axis=1)[:, : sheet.width].astype(bool)


def codecs(jbig_log: dict[str, dict[str, int]] | None = None) -> list[Codec]:
    """Ours first, then the anchors, in table order; `jbig_log` collects every JBIG1 option set's size."""
    return [
        Codec(FONTPACK_BEST, _fontpack_encode("best"), _fontpack_decode),
        Codec(FONTPACK_RLE, _fontpack_encode("rle"), _fontpack_decode),
        Codec(JBIG1, jbig_encoder(log=jbig_log), _jbig_decode),
        Codec(G4, _tiff_encode("group4"), _pillow_decode),
        Codec(PNG, _png_encode, _pillow_decode),
        Codec(JXL, _jxl_encode, _jxl_decode),
        Codec(PACKBITS, _tiff_encode("packbits"), _pillow_decode),
        Codec(XZ, _xz_encode, _xz_decode),
    ]


@dataclass
class Result:
    codec: str
    bytes: int
    detail: str


def run_codec(codec: Codec, sheet: FontSheet, work: Path) -> Result:
    """Encode, decode and verify (VerifyError on any difference)."""
    blob, detail = codec.encode(sheet, work)
    verify(codec.name, sheet, codec.decode(blob, sheet, work))
    return Result(codec.name, len(blob), detail)


@contextmanager
def one_core() -> Iterator[int | None]:
    """Pin this process to one CPU (the first it may use) for the duration; yields it (None: not pinnable)."""
    try:
        allowed = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        yield None
        return
    cpu = min(allowed)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, allowed)


def time_ours(sheet: FontSheet, repeat: int = REPEAT) -> dict[str, float]:
    """Median ms of `fontpack.compress(pbm path)` and `fontpack.decompress(blob)` (-> PIL image), one
    warm-up each; call under `one_core`."""
    from everybit import fontpack

    enc = time_call(lambda: fontpack.compress(sheet.pbm), repeat=repeat)
    dec = time_call(lambda: fontpack.decompress(enc.result), repeat=repeat)
    verify(FONTPACK_BEST, sheet, black_of(dec.result))
    return {"encode_ms": enc.median * 1e3, "decode_ms": dec.median * 1e3}


def grid_check(sheet: FontSheet) -> dict[str, Any]:
    """The grid fontpack detects on the PBM, whether it is the one the sheet was rendered on, and the
    best-mode size when fontpack is told that grid instead."""
    from everybit import fontpack

    grid = fontpack.detect_grid(sheet.pbm).grid
    cw, ch, cols, rows = sheet.grid
    exact = (grid.cell_w, grid.cell_h, grid.cols, grid.rows, grid.x0, grid.y0) == (cw, ch, cols, rows, 0, 0)
    told = fontpack.Grid(cw, ch, 0, 0, 0, 0, cols, rows)
    return {
        "detected": grid.describe(),
        "exact": exact and grid.gap_x == grid.gap_y == 0,
        "told_bytes": len(fontpack.compress(sheet.pbm, grid=told)),
    }


# ---------------------------------------------------------------- headline logic


def headlines(sizes: dict[str, dict[str, int]], megapixel: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The issue's targets as `Report.add_headline` keyword sets. `sizes`: sheet -> codec -> bytes;
    `megapixel`: {"label", "pixels", "encode_ms", "decode_ms"} of the ~1 Mpx sheet."""
    rows: list[dict[str, Any]] = []
    ratios = {label: by[FONTPACK_BEST] / by[JBIG1] for label, by in sizes.items()}
    wins = sum(1 for r in ratios.values() if r < 1)
    worst = max(ratios, key=lambda k: ratios[k])
    n = len(sizes)
    rows.append(
        {
            "metric": f"fontpack best smaller than JBIG1, sheets (worst: {worst})",
            "ours": f"{wins} of {n}",
            "anchor": "JBIG1 (pbmtojbg, best options per sheet)",
            "anchor_value": f"{n} sheets",
            "ratio": ratios[worst],
            "target": "every sheet < JBIG1",
            "met": wins == n,
        }
    )
    total = {codec: sum(by[codec] for by in sizes.values()) for codec in next(iter(sizes.values()))}
    for anchor, factor, target in ((JBIG1, 0.9, "<= 0.9x JBIG1"), (JXL, None, "< JPEG XL lossless")):
        ratio = total[FONTPACK_BEST] / total[anchor]
        rows.append(
            {
                "metric": f"fontpack best total bytes, {n} sheets",
                "ours": total[FONTPACK_BEST],
                "anchor": anchor,
                "anchor_value": total[anchor],
                "ratio": ratio,
                "target": target,
                "met": ratio <= factor if factor is not None else ratio < 1,
                "unit": "B",
            }
        )
    if megapixel is not None:
        ms = megapixel["encode_ms"] + megapixel["decode_ms"]
        limit = MEGAPIXEL_TARGET_S * 1e3
        rows.append(
            {
                "metric": (
                    f"encode + decode, {megapixel['label']} ({megapixel['pixels'] / 1e6:.2f} Mpx), one core"
                ),
                "ours": ms,
                "anchor": "time limit",
                "anchor_value": limit,
                "ratio": ms / limit,
                "target": f"< {MEGAPIXEL_TARGET_S:g} s",
                "met": ms < limit,
                "unit": "ms",
            }
        )
    return rows


# ---------------------------------------------------------------- plot


def totals_chart(totals: dict[str, int]) -> Any:
    from everybit.common.report import Chart, Series

    names = list(totals)
    short = [SHORT_NAMES.get(n, n) for n in names]
    return Chart(
        "Total bytes over all sheets, per codec (smaller is better)",
        [Series("total bytes", short, [totals[n] / 1e3 for n in names])],
        kind="bar",
        ylabel="kB (10^3 bytes)",
    )


def save_plot(totals: dict[str, int], jbig: int, sheets: int, folder: Path) -> tuple[Path, Path]:
    """Write fontpack-totals.png and fontpack-totals.html (the SVG chart plus the numbers)."""
    folder.mkdir(parents=True, exist_ok=True)
    chart = totals_chart(totals)
    png = chart.save_png(folder / "fontpack-totals.png")
    note = (
        "Generated by <code>python -m bench fontpack</code>; every output verified to decode to the "
        'same 1-bit sheet. Per-sheet numbers: <a href="fontpack.md">fontpack.md</a>.'
    )
    rows = [(name, total, round(total / jbig, 3)) for name, total in totals.items()]
    page_path = harness.chart_page(
        folder / "fontpack-totals.html",
        f"fontpack: total bytes per codec over {sheets} glyph sheets",
        chart,
        note=note,
        tables=[(["codec", "total bytes", "/ JBIG1"], rows)],
    )
    return png, page_path


# ---------------------------------------------------------------- run


def _tool_versions() -> str:
    import importlib.metadata

    def first_line(cmd: list[str]) -> str:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        return lines[0].strip() if lines else "?"

    def deb(package: str) -> str:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, check=False
        )
        return proc.stdout.strip() or "?"

    from PIL import features

    return (
        f"jbigkit-bin {deb('jbigkit-bin')}, libjxl-tools {deb('libjxl-tools')} "
        f"({first_line(['cjxl', '-V'])}), "
        f"{first_line(['optipng', '-v'])}, Pillow {importlib.metadata.version('pillow')} with libtiff "
        f"{features.version('libtiff')}, liblzma of Python {sys.version.split()[0]}"
    )


def run(quick: bool = False) -> Report:
    """Full: 17 sheets (9 PSF, 4 PCF, Unifont CJK, Pillow TrueType at 3 sizes). `quick`: 4 sheets (one PSF,
    one PCF, Unifont CJK, Pillow at 32 px)."""
    require_tools()
    report = Report("fontpack", "fontpack against JBIG1, CCITT G4, PNG, JPEG XL and friends on font sheets")
    jbig_all: dict[str, dict[str, int]] = {}
    all_codecs = codecs(jbig_all)
    with tempfile.TemporaryDirectory(prefix="everybit-fontpack-bench-") as tmp:
        folder, work = Path(tmp, "sheets"), Path(tmp, "work")
        folder.mkdir()
        work.mkdir()
        print("fontpack: rendering sheets", file=sys.stderr, flush=True)
        sheets = build_sheets(quick, folder)
        results: dict[str, dict[str, Result]] = {}
        ours: dict[str, dict[str, Any]] = {}
        for sheet in sheets:
            report.add_data(sheet.label, sheet.pbm, sheet.source, sheet.versions)
            print(f"fontpack: {sheet.label} ({sheet.width}x{sheet.height})", file=sys.stderr, flush=True)
            results[sheet.label] = {c.name: run_codec(c, sheet, work) for c in all_codecs}
            ours[sheet.label] = grid_check(sheet)
        with one_core() as cpu:
            for sheet in sheets:
                ours[sheet.label].update(time_ours(sheet))
    sizes = {label: {name: r.bytes for name, r in by.items()} for label, by in results.items()}
    by_label = {s.label: s for s in sheets}
    names = [c.name for c in all_codecs]
    totals = {name: sum(by[name] for by in sizes.values()) for name in names}

    rows = [
        [label, f"{by_label[label].width}x{by_label[label].height}", by_label[label].glyphs]
        + [by[name] for name in names]
        for label, by in sizes.items()
    ]
    rows.append(["total", f"{sum(s.pixels for s in sheets) / 1e6:.2f} Mpx", sum(s.glyphs for s in sheets)])
    rows[-1] += [totals[name] for name in names]
    rows.append(["total / JBIG1", None, None] + [totals[name] / totals[JBIG1] for name in names])
    report.add_table(
        f"Bytes per sheet ({len(sheets)} sheets)",
        ["sheet", "pixels", "glyphs", *names],
        rows,
        "Every codec gets the same 1-bit sheet (PBM; the PNG and JPEG XL encoders read the same pixels as a "
        "1-bit PNG) and every output is decoded back (fontpack.decompress, jbgtopbm, Pillow, djxl, lzma) and "
        "compared pixel for pixel. fontpack reads the PBM like any image: its grid is detected, no font "
        "metadata is stored. JBIG1: the smallest of "
        f"{len(JBIG_OPTIONS)} pbmtojbg option sets per sheet (below). TIFF sizes are whole files (header "
        "and IFD included; the G4 strip data alone is in the anchor details). xz: lzma preset 9 of "
        "numpy.packbits of the rows, no header (the decoder is given the size). "
        f"Versions: {_tool_versions()}.",
    )

    our_rows = []
    for label, by in sizes.items():
        o = ours[label]
        our_rows.append(
            [
                label,
                by[FONTPACK_BEST],
                results[label][FONTPACK_BEST].detail,
                by[FONTPACK_BEST] / by[JBIG1],
                by[FONTPACK_BEST] / by[JXL],
                by[FONTPACK_BEST] / by[PNG],
                by[FONTPACK_RLE] / by[JBIG1],
                o["encode_ms"],
                o["decode_ms"],
                o["detected"],
                o["exact"],
                o["told_bytes"],
            ]
        )
    pin = f"pinned to CPU {cpu}" if cpu is not None else "not pinned (no sched_setaffinity)"
    report.add_table(
        "fontpack per sheet",
        [
            "sheet",
            "best bytes",
            "mode chosen",
            "/ JBIG1",
            "/ JPEG XL",
            "/ PNG",
            "rle / JBIG1",
            "encode ms",
            "decode ms",
            "grid detected",
            "= rendered grid",
            "bytes, grid given",
        ],
        our_rows,
        f"encode = fontpack.compress(PBM path) (read, binarize, detect the grid, code all modes, keep the "
        "smallest); decode = fontpack.decompress(blob) to a PIL image; "
        f"median of {REPEAT} after one warm-up, "
        f"one process {pin}. 'bytes, grid given': best mode when told the grid the sheet was rendered on "
        "(informative; the headline uses the detected grid).",
    )

    detail_rows = [
        [
            label,
            results[label][JBIG1].detail,
            results[label][G4].detail,
            results[label][PNG].detail,
        ]
        for label in sizes
    ]
    report.add_table(
        "Anchor details",
        ["sheet", "JBIG1 options kept", "CCITT G4", "PNG"],
        detail_rows,
    )
    option_rows = []
    for opts in JBIG_OPTIONS:
        total = sum(j[opts] for j in jbig_all.values())
        kept = sum(1 for label in sizes if results[label][JBIG1].detail == (opts or "(defaults)"))
        option_rows.append([f"pbmtojbg {opts}".strip(), total, total / totals[JBIG1], kept])
    report.add_table(
        "JBIG1 option sets tried",
        ["command", "total bytes", "/ best per sheet", "sheets where smallest"],
        option_rows,
        "pbmtojbg's default is progressive (resolution layers down to 640x480) with -p 28 -m 8 and about 35 "
        "stripes; -q is one layer; -p 0 drops typical prediction, -p 64 and -p 72 use the two-line template "
        "(without and with it); -m 127 lets the adaptive template pixel move up to 127 pixels; -s 1000000 "
        "makes one stripe.",
    )
    totals_rows = [[name, totals[name], totals[name] / totals[JBIG1]] for name in names]
    report.add_table(
        "Totals per codec",
        ["codec", "total bytes", "/ JBIG1"],
        totals_rows,
        "![total bytes per codec](fontpack-totals.png) (interactive SVG: "
        "[fontpack-totals.html](fontpack-totals.html)).",
    )

    cjk = next(s for s in sheets if s.label.startswith("unifont CJK"))
    megapixel = {"label": cjk.label, "pixels": cjk.pixels, **ours[cjk.label]}
    for h in headlines(sizes, megapixel):
        report.add_headline(**h)
    save_plot(totals, totals[JBIG1], len(sheets), harness.RESULTS_DIR)
    return report

"""imgkan against JPEG (Pillow), WebP and JPEG XL (imagecodecs) and a SIREN/COIN baseline, same run.

Test images: scikit-image's astronaut, camera (grey), coffee, chelsea and rocket, centre-cropped to a
square and resized (Lanczos) to 256x256 and 512x512. Every imgkan file is decoded from its bytes and
scored against the original; the anchors are scored the same way at the same byte budget: JPEG at the
smallest quality whose file is at least as large as ours, WebP and JPEG XL at the largest file no
larger than ours. Fits run two at a time with one torch thread each (the machine has two cores); the
encode-time target is measured separately, alone, with two threads.
"""

from __future__ import annotations

import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from bench import data, harness
from bench.harness import Report

IMAGES = ("astronaut", "camera", "coffee", "chelsea", "rocket")
CURVE_BPP = (0.1, 0.2, 0.3, 0.5, 1.0)  # anchors' rate-distortion curves
OURS_BPP = {256: (0.15, 0.3, 0.6), 512: (0.3,)}  # where imgkan is fitted (CPU time is the limit)
SIREN_BPP = {256: (0.3,), 512: ()}
STEPS = {256: 4000, 512: 2000}  # fitting steps (512: halved to fit the CPU budget; see the note)
HEAD_BPP = 0.3
ENCODE_TARGET_S, DECODE_TARGET_MS = 120.0, 200.0
QUICK = {"images": ("astronaut", "camera"), "sizes": (128,), "ours": {128: (0.3,)}, "siren": {128: (0.3,)}}


def load_square(path: Any, size: int) -> np.ndarray:
    from PIL import Image

    img = Image.open(path)
    img = img.convert("L" if img.mode in ("L", "I;16", "1") else "RGB")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return np.asarray(img.resize((size, size), Image.LANCZOS))


def _fit_job(job: dict) -> dict:
    """One fit in a worker: encode, decode from the bytes, score."""
    import torch

    from everybit import imgkan
    from everybit.imgkan.metrics import psnr, ssim

    torch.set_num_threads(job["threads"])
    pixels = job["pixels"]
    opts = imgkan.FitOptions(iters=job["steps"], quiet=True)
    start = time.perf_counter()
    result = imgkan.fit_image(pixels, bpp=job["bpp"], kind=job["kind"], options=opts)
    encode_s = time.perf_counter() - start
    decode_ms = []
    for _ in range(3):
        start = time.perf_counter()
        back = imgkan.decode_array(result.data)
        decode_ms.append((time.perf_counter() - start) * 1e3)
    info = imgkan.info(result.data)
    return {
        **{k: job[k] for k in ("image", "size", "kind", "bpp")},
        "bytes": len(result.data),
        "psnr": psnr(pixels, back),
        "ssim": ssim(pixels, back),
        "encode_s": encode_s,
        "decode_ms": statistics.median(decode_ms),
        "steps": result.steps,
        "hidden": info["hidden"],
        "threads": job["threads"],
    }


def _anchor_rows(name: str, size: int, pixels: np.ndarray, budgets: dict[str, int]) -> list[dict]:
    from everybit.imgkan import anchors
    from everybit.imgkan.metrics import psnr, ssim

    rows = []
    for label, nbytes in budgets.items():
        for kind, encode in (
            ("JPEG (>= size)", anchors.jpeg_at_least),
            ("JPEG", anchors.jpeg_at_most),
            ("WebP", anchors.webp_at_most),
            ("JPEG XL", anchors.jxl_at_most),
        ):
            enc = encode(pixels, nbytes)
            if enc is None:
                continue
            rows.append(
                {
                    "image": name,
                    "size": size,
                    "budget": label,
                    "budget_bytes": nbytes,
                    "kind": kind,
                    "bytes": enc.size,
                    "psnr": psnr(pixels, enc.decoded),
                    "ssim": ssim(pixels, enc.decoded),
                    "setting": enc.setting,
                }
            )
    return rows


def run(quick: bool = False) -> Report:
    os.environ["EVERYBIT_NO_PROGRESS"] = "1"
    paths = data.skimage_photos()
    images = QUICK["images"] if quick else IMAGES
    sizes = QUICK["sizes"] if quick else (256, 512)
    ours_bpp = QUICK["ours"] if quick else OURS_BPP
    siren_bpp = QUICK["siren"] if quick else SIREN_BPP
    steps = dict.fromkeys(sizes, 300) if quick else STEPS
    report = Report("imgkan", "imgkan: image codec vs JPEG, WebP, JPEG XL and SIREN (PSNR at equal size)")
    meta = data.provenance(paths[images[0]].parent)
    for name in images:
        report.add_data(name, paths[name], meta["source"], meta.get("versions"))
    pixels = {(n, s): load_square(paths[n], s) for n in images for s in sizes}

    jobs = [
        {"image": n, "size": s, "kind": k, "bpp": b, "steps": steps[s], "threads": 1, "pixels": pixels[n, s]}
        for s in sizes
        for k, table in (("ka", ours_bpp), ("siren", siren_bpp))
        for b in table.get(s, ())
        for n in images
    ]
    timing_job = {**jobs[0], "threads": 2, "bpp": HEAD_BPP}
    timed = _fit_job(timing_job)  # alone, two threads: the encode-time target
    with ProcessPoolExecutor(2) as pool:
        fits = list(pool.map(_fit_job, jobs))

    anchor_rows = []
    for (name, size), px in pixels.items():
        budgets = {f"{b:g} bpp": int(b * size * size / 8) for b in CURVE_BPP}
        budgets |= {
            f"ours {f['bpp']:g}": f["bytes"]
            for f in fits
            if (f["image"], f["size"]) == (name, size) and f["kind"] == "ka"
        }
        anchor_rows += _anchor_rows(name, size, px, budgets)
    _tables(report, fits, anchor_rows, timed)
    _headlines(report, fits, anchor_rows, timed, sizes)
    return report


def _ours(fits: list[dict], name: str, size: int, bpp: float, kind: str = "ka") -> dict | None:
    return next(
        (f for f in fits if (f["image"], f["size"], f["bpp"], f["kind"]) == (name, size, bpp, kind)), None
    )


def _anchor(rows: list[dict], name: str, size: int, budget: str, kind: str) -> dict | None:
    return next(
        (r for r in rows if (r["image"], r["size"], r["budget"], r["kind"]) == (name, size, budget, kind)),
        None,
    )


def _tables(report: Report, fits: list[dict], anchors: list[dict], timed: dict) -> None:
    rows = []
    for f in fits:
        label = f"ours {f['bpp']:g}"
        codec = "imgkan" if f["kind"] == "ka" else "SIREN (COIN)"
        row = [f["image"], f["size"], codec, f["bpp"], f["bytes"], _bpp(f), f["psnr"], f["ssim"]]
        if f["kind"] == "ka":
            for kind in ("JPEG (>= size)", "WebP", "JPEG XL"):
                a = _anchor(anchors, f["image"], f["size"], label, kind)
                row += [a["bytes"], a["psnr"]] if a else [None, None]
        else:
            row += [None] * 6
        row += [f["encode_s"], f["decode_ms"], f["steps"], f["hidden"]]
        rows.append(row)
    report.add_table(
        "imgkan and SIREN fits, with the anchors at the same size",
        [
            "image",
            "px",
            "codec",
            "target bpp",
            "bytes",
            "bpp",
            "PSNR dB",
            "SSIM",
            "JPEG bytes",
            "JPEG dB",
            "WebP bytes",
            "WebP dB",
            "JXL bytes",
            "JXL dB",
            "encode s (1 thread, 2 jobs)",
            "decode ms",
            "steps",
            "hidden",
        ],
        rows,
        note="JPEG: smallest quality whose file is >= ours; WebP / JPEG XL: largest file <= ours. 512x512 "
        f"fits use {STEPS.get(512)} steps (256x256: {STEPS.get(256)}), to fit the benchmark's CPU time.",
    )
    curve = [
        [
            r["image"],
            r["size"],
            r["budget"],
            r["kind"],
            r["bytes"],
            _bpp(r),
            r["psnr"],
            r["ssim"],
            r["setting"],
        ]
        for r in anchors
        if not r["budget"].startswith("ours")
    ]
    report.add_table(
        "Anchor rate-distortion curves (largest file <= the budget; JPEG also >= it)",
        ["image", "px", "budget", "codec", "bytes", "bpp", "PSNR dB", "SSIM", "setting"],
        curve,
    )
    report.add_table(
        "Encode time alone (two torch threads) and decode time",
        ["image", "px", "bpp", "bytes", "PSNR dB", "encode s", "decode ms", "steps"],
        [
            [
                timed["image"],
                timed["size"],
                timed["bpp"],
                timed["bytes"],
                timed["psnr"],
                timed["encode_s"],
                timed["decode_ms"],
                timed["steps"],
            ]
        ],
    )
    charts = _charts(fits, anchors)
    report.tables[-1]["note"] = "Charts: " + " ".join(
        f"![{c}]({c}.png) ([interactive]({c}.html))" for c in charts
    )


def _bpp(row: dict) -> float:
    return 8 * row["bytes"] / row["size"] ** 2


def _curve(rows: list[dict], name: str, size: int, kind: str) -> tuple[list[float], list[float]]:
    pts = sorted(
        (_bpp(r), r["psnr"])
        for r in rows
        if (r["image"], r["size"], r["kind"]) == (name, size, kind)
        and not str(r.get("budget")).startswith("ours")
    )
    return [p[0] for p in pts], [p[1] for p in pts]


def _charts(fits: list[dict], anchors: list[dict]) -> list[str]:
    from everybit.common.report import Chart, Series

    names = []
    labels = {"JPEG": "JPEG", "WebP": "WebP", "JPEG XL": "JPEG XL", "ka": "imgkan", "siren": "SIREN (COIN)"}
    for size in sorted({f["size"] for f in fits}):
        for name in dict.fromkeys(f["image"] for f in fits):
            series = []
            for kind, label in labels.items():
                xs, ys = _curve(fits if kind in ("ka", "siren") else anchors, name, size, kind)
                if xs:
                    series.append(Series(label, xs, ys))
            title = f"{name} {size}x{size}: PSNR vs bits per pixel"
            chart = Chart(title, series, kind="line", xlabel="bits per pixel", ylabel="PSNR dB")
            slug = f"imgkan-{name}-{size}"
            chart.save_png(harness.RESULTS_DIR / f"{slug}.png")
            harness.chart_page(harness.RESULTS_DIR / f"{slug}.html", title, chart)
            names.append(slug)
    return names


def _headlines(report: Report, fits: list[dict], anchors: list[dict], timed: dict, sizes: tuple) -> None:
    for size in sizes:
        head = [f for f in fits if f["size"] == size and f["bpp"] == HEAD_BPP and f["kind"] == "ka"]
        if not head:
            continue
        label = f"ours {HEAD_BPP:g}"
        jpeg = [(f, _anchor(anchors, f["image"], size, label, "JPEG (>= size)")) for f in head]
        worst = min((f["psnr"] - a["psnr"], f["image"]) for f, a in jpeg if a)
        report.add_headline(
            f"{size}x{size} at {HEAD_BPP} bpp: PSNR over JPEG (>= same size), worst image ({worst[1]})",
            round(worst[0], 2),
            "JPEG",
            0.0,
            target="> 0 dB on every image",
            met=worst[0] > 0,
            unit="dB",
        )
        webp = [
            (f["image"], f["psnr"] - a["psnr"])
            for f in head
            if (a := _anchor(anchors, f["image"], size, label, "WebP"))
        ]
        if webp:
            gap = statistics.mean(d for _, d in webp)
            report.add_headline(
                f"{size}x{size} at {HEAD_BPP} bpp: mean PSNR gap to WebP (<= same size), per image "
                + ", ".join(f"{n} {d:+.2f}" for n, d in webp),
                round(gap, 2),
                "WebP",
                0.0,
                target=">= -1 dB on average",
                met=gap >= -1.0,
                unit="dB",
            )
        siren = [(f, _ours(fits, f["image"], size, HEAD_BPP, "siren")) for f in head]
        pairs = [(f["psnr"], s["psnr"]) for f, s in siren if s]
        if pairs:
            ours, base = statistics.mean(p[0] for p in pairs), statistics.mean(p[1] for p in pairs)
            report.add_headline(
                f"{size}x{size} at {HEAD_BPP} bpp: mean PSNR, imgkan vs SIREN/COIN (same bitstream)",
                round(ours, 2),
                "SIREN",
                round(base, 2),
                target="higher",
                met=ours > base,
                unit="dB",
            )
    side = timed["size"]
    report.add_limit(
        f"encode {side}x{side} RGB, 2 threads", round(timed["encode_s"], 1), ENCODE_TARGET_S, "s"
    )
    worst_decode = max(f["decode_ms"] for f in fits if f["size"] == sizes[0])
    report.add_limit(
        f"decode {sizes[0]}x{sizes[0]} (slowest)", round(worst_decode, 1), DECODE_TARGET_MS, "ms"
    )

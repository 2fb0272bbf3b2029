"""Glyph grids: the layout of equal cells on a sheet, found from the ink or given by hand.

A ``Grid`` puts cell (row r, column c) at x = x0 + c * (cell_w + gap_x), y = y0 + r * (cell_h + gap_y); the
pixels outside every cell (margins, gutters) are the sheet's *residual*.

Detection (``detect_grid``) works on each axis alone, on the ink profile (ink pixels per column, per row):

1. pitch: for every candidate pitch p (3 .. n/2) the profile is folded modulo p; the pitch is the one whose
   folded means explain the most variance (R² adjusted for the p means fitted, after removing the trend
   with a moving average over p), replaced by its smallest divisor d for which folding by p instead of d
   explains no more than noise (F test): a multiple of the true pitch fits as well. A pitch whose fold
   has no low-ink phase (cells need edges) or explains little is no grid: that axis is one cell;
2. phase and gutter: the separator is the longest cyclic run of blank phases (columns or rows blank in every
   cell) when there are any, else the run of low-ink phases around the emptiest one (within ``LOW_BAND`` of
   the range of the phase means: glyphs with accents on top and descenders below leave both ends of their
   cells nearly empty, and the very emptiest phase need not be the first of a cell). The gutter is a part of
   a blank separator (none otherwise) and cells start after the gutter, anywhere in the separator; of all
   such layouts the one wins that leaves the least ink outside the cells (a sheet rendered from a font often
   has ink in its first and last rows: then only the true phase covers it all), then has the most even
   margins (sheets are drawn centred), then has the narrowest gutter (a column blank in every glyph may be
   part of the glyphs' cells as well as a gutter), then fits the most cells;
3. glyphs that fill their cells (small fonts, block graphics, many unused slots drawn as noise) may leave an
   axis without a period or without a low-ink phase. That axis is fitted again (``fit_cuts``) on where
   strokes join neighbouring rows (columns): within each cell across (single columns when the other axis
   has no cells either) a glyph's rows are joined by its strokes while a cell border is crossed only where
   two glyphs touch. The same pitch search runs on that profile (a weaker signal: ``MIN_CUT_SCORE``) and
   cells start after the least-joined phases, the same way (least ink outside, then fewest joins cut, then
   even margins). When both axes need it, both are fitted twice, each within the cells the other found.

Images without any periodic structure come out as one cell, which compresses fine.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from everybit.common.errors import UsageError

MIN_PITCH = 3
MIN_SIGMA = 6.0  # the fold must beat noise by this many standard deviations
MIN_SCORE = 0.2  # adjusted R² below this: no periodic structure on that axis
EDGE_RATIO = 0.8  # the emptiest phase must hold at most this share of the fullest one's ink
# A divisor d of the best pitch p is the period when folding by p explains no more than noise (F < F_NOISE),
# or little more (F < F_CRIT) while the fold by d keeps nearly as blank an edge (>= EDGE_KEEP of p's).
# A phase of d blank in every period (blank separators) is evidence enough up to F < F_BLANK.
F_NOISE, F_CRIT, EDGE_KEEP, F_BLANK = 3.0, 15.0, 0.8, 60.0
DIVISOR_SCORE = 0.6  # ... and a divisor must also explain this share of the variance p explains
LOW_BAND = 0.3  # no blank phase: cells start in the phases this close to the emptiest (share of the range)
MIN_CUT_SCORE = 0.1  # the same for the joins of rows (fit_cuts): a weaker signal, tried only as a fallback
NEAR_SCORE = 0.9  # a shorter pitch (not a divisor) with this share of the best score is preferred


@dataclass(frozen=True)
class Grid:
    cell_w: int
    cell_h: int
    x0: int = 0
    y0: int = 0
    gap_x: int = 0
    gap_y: int = 0
    cols: int = 1
    rows: int = 1

    @property
    def cells(self) -> int:
        return self.cols * self.rows

    @property
    def right(self) -> int:
        """One past the last column any cell covers."""
        return self.x0 + self.cols * self.cell_w + (self.cols - 1) * self.gap_x

    @property
    def bottom(self) -> int:
        return self.y0 + self.rows * self.cell_h + (self.rows - 1) * self.gap_y

    def fits(self, width: int, height: int) -> bool:
        return (
            self.cell_w > 0
            and self.cell_h > 0
            and self.cols > 0
            and self.rows > 0
            and min(self.x0, self.y0, self.gap_x, self.gap_y) >= 0
            and self.right <= width
            and self.bottom <= height
        )

    def origin(self, index: int) -> tuple[int, int]:
        """(x, y) of cell ``index`` (row-major)."""
        r, c = divmod(index, self.cols)
        return self.x0 + c * (self.cell_w + self.gap_x), self.y0 + r * (self.cell_h + self.gap_y)

    def describe(self) -> str:
        text = f"{self.cols}x{self.rows} cells of {self.cell_w}x{self.cell_h}"
        if self.x0 or self.y0:
            text += f" at +{self.x0}+{self.y0}"
        if self.gap_x or self.gap_y:
            text += f", gutters {self.gap_x}x{self.gap_y}"
        return text

    def _indices(self) -> tuple[np.ndarray, np.ndarray]:
        ys = (
            self.y0 + np.arange(self.rows)[:, None] * (self.cell_h + self.gap_y) + np.arange(self.cell_h)
        ).ravel()
        xs = (
            self.x0 + np.arange(self.cols)[:, None] * (self.cell_w + self.gap_x) + np.arange(self.cell_w)
        ).ravel()
        return ys, xs

    def split(self, sheet: np.ndarray) -> np.ndarray:
        """The cells of ``sheet`` as an array (cells, cell_h, cell_w), row-major."""
        ys, xs = self._indices()
        block = (
            sheet[np.ix_(ys, xs)]
            if (self.gap_x or self.gap_y)
            else sheet[self.y0 : self.bottom, self.x0 : self.right]
        )
        return (
            block.reshape(self.rows, self.cell_h, self.cols, self.cell_w)
            .transpose(0, 2, 1, 3)
            .reshape(self.cells, self.cell_h, self.cell_w)
        )

    def cell_view(self, sheet: np.ndarray) -> np.ndarray:
        """The cells of ``sheet`` as a writable view (rows, cell_h, cols, cell_w): cell (r, c) is
        ``view[r, :, c, :]``. Writing to it draws on the sheet, with no array of cells in between."""
        sy, sx = sheet.strides
        return np.lib.stride_tricks.as_strided(
            sheet[self.y0 :, self.x0 :],
            shape=(self.rows, self.cell_h, self.cols, self.cell_w),
            strides=((self.cell_h + self.gap_y) * sy, sy, (self.cell_w + self.gap_x) * sx, sx),
        )

    def covered(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, columns) some cell covers: pixel (y, x) is in a cell if both rows[y] and cols[x]."""
        ys, xs = self._indices()
        rows = np.zeros(height, bool)
        cols = np.zeros(width, bool)
        rows[ys] = True
        cols[xs] = True
        return rows, cols

    def cell_mask(self, height: int, width: int) -> np.ndarray:
        """True on every pixel some cell covers."""
        rows, cols = self.covered(height, width)
        return rows[:, None] & cols[None, :]

    def assemble(
        self, cells: np.ndarray, height: int, width: int, residual: np.ndarray | None = None
    ) -> np.ndarray:
        """The sheet from its cells (inverse of ``split``), on top of ``residual`` if given."""
        sheet = np.zeros((height, width), dtype=bool) if residual is None else residual.copy()
        block = (
            cells.reshape(self.rows, self.cols, self.cell_h, self.cell_w)
            .transpose(0, 2, 1, 3)
            .reshape(self.rows * self.cell_h, self.cols * self.cell_w)
        )
        if self.gap_x or self.gap_y:
            ys, xs = self._indices()
            sheet[np.ix_(ys, xs)] = block
        else:
            sheet[self.y0 : self.bottom, self.x0 : self.right] = block
        return sheet


@dataclass(frozen=True)
class AxisFit:
    pitch: int  # the period found (the whole length when there is none)
    start: int  # first cell's offset
    size: int  # cell size
    gap: int  # gutter between cells
    count: int  # cells on this axis
    separator: int  # phases blank (or least inked) in every period: the blank band between glyphs
    score: float  # adjusted R² of the fold (0 when no period)


@dataclass(frozen=True)
class Detection:
    grid: Grid
    x: AxisFit
    y: AxisFit
    method: str  # "detected", "manual", "font", "none"

    def describe(self) -> str:
        return f"{self.grid.describe()} ({self.method})"


def _fold_scores(profile: np.ndarray, pitches: np.ndarray) -> np.ndarray:
    """Adjusted R² of folding the detrended profile modulo each pitch.

    For pitch p the profile minus its moving average over p samples is folded: the average over a whole
    period removes a periodic component of period p exactly, so what is left is that component plus noise,
    without the slow changes of ink density across a sheet (blocks of denser or lighter glyphs)."""
    n = len(profile)
    cs = np.concatenate([[0.0], np.cumsum(profile)])
    scores = np.full(len(pitches), -1.0)
    for k, p in enumerate(pitches.tolist()):
        m = n - p + 1
        if m <= 2 * p:
            continue
        idx = np.arange(m) + p // 2
        h = profile[idx] - (cs[p:] - cs[:-p]) / p
        total = float(((h - h.mean()) ** 2).sum())
        if total <= 1e-12:
            continue
        phase = idx % p
        sums = np.bincount(phase, h, p)
        counts = np.bincount(phase, minlength=p)
        between = float((sums * sums / counts).sum()) - h.sum() ** 2 / m
        within = max(total - between, 1e-12)
        f0 = (between / (p - 1)) / (within / (m - p))  # against "no period": about 1 for noise
        if (f0 - 1) / np.sqrt(2 / (p - 1) + 2 / (m - p)) < MIN_SIGMA:
            continue
        scores[k] = 1 - (1 - between / total) * (m - 1) / (m - p)
    return scores


def _cyclic_runs(flags: np.ndarray) -> tuple[int, int]:
    """(start, length) of the longest cyclic run of True in ``flags``; (0, len) if all are True."""
    p = len(flags)
    if flags.all():
        return 0, p
    first_false = int(np.argmin(flags))
    best_start, best_len, run_start, run_len = 0, 0, 0, 0
    for k in range(1, p + 1):
        i = (first_false + k) % p
        if flags[i]:
            if run_len == 0:
                run_start = i
            run_len += 1
            if run_len > best_len:
                best_start, best_len = run_start, run_len
        else:
            run_len = 0
    return best_start, best_len


def _valley(flags: np.ndarray, at: int) -> tuple[int, int]:
    """(start, length) of the cyclic run of True in ``flags`` that holds index ``at``."""
    p = len(flags)
    if flags.all():
        return 0, p
    start, length = at, 1
    while flags[(start - 1) % p]:
        start, length = (start - 1) % p, length + 1
    while flags[(at + 1) % p]:
        at, length = at + 1, length + 1
    return start, length


def _f_ratio(profile: np.ndarray, d: int, p: int) -> float:
    """F statistic of folding by the multiple ``p`` instead of ``d``: about 1 when the extra phases only fit
    noise (so ``d`` is the period), large when ``d`` misses real structure."""
    n = len(profile)
    cs = np.concatenate([[0.0], np.cumsum(profile)])
    m = n - p + 1
    idx = np.arange(m) + p // 2
    h = profile[idx] - (cs[p:] - cs[:-p]) / p

    def rss(q: int) -> float:
        phase = idx % q
        sums = np.bincount(phase, h, q)
        return float((h * h).sum() - (sums * sums / np.bincount(phase, minlength=q)).sum())

    r_d, r_p = rss(d), rss(p)
    if r_p <= 1e-12:
        return 0.0 if r_d <= 1e-12 else float("inf")
    return ((r_d - r_p) / (p - d)) / (r_p / max(m - p, 1))


def _edge(profile: np.ndarray, p: int) -> float:
    """How blank the emptiest phase of the fold by ``p`` is: 1 - its mean ink / the mean ink of all phases."""
    x = np.arange(len(profile))
    means = np.bincount(x % p, profile, p) / np.bincount(x % p, minlength=p)
    return 1.0 - float(means.min()) / max(float(means.mean()), 1e-12)


def _pitches(profile: np.ndarray, min_score: float) -> Iterator[tuple[int, float]]:
    """Candidate periods of ``profile``, best first, each with its score (see the module docstring)."""
    n = len(profile)
    pitches = np.arange(MIN_PITCH, n // 2 + 1)
    scores = _fold_scores(profile, pitches)
    order = np.argsort(-scores, kind="stable")
    for k in order[:8].tolist():  # the best few pitches; the first that also has cell edges wins
        if scores[k] < min_score:
            break
        p = int(pitches[k])
        # a shorter pitch (not a divisor: those are tested below) that fits nearly as well is the period
        # on small sheets, where a longer one can fit the few periods there are by chance
        near = np.nonzero(scores[: p - MIN_PITCH] >= NEAR_SCORE * scores[k])[0] + MIN_PITCH
        near = [int(q) for q in near if p % q]
        if near:
            p = near[0]
        edge_p = _edge(profile, p)
        for d in range(MIN_PITCH, p):  # a multiple of the period fits as well: take the period
            if p % d or scores[d - MIN_PITCH] < max(min_score, DIVISOR_SCORE * scores[p - MIN_PITCH]):
                continue
            f = _f_ratio(profile, d, p)
            edge_d = _edge(profile, d)
            if f < F_NOISE or (f < F_CRIT and edge_d >= EDGE_KEEP * edge_p) or (f < F_BLANK and edge_d == 1):
                p = d
                break
        yield p, float(scores[p - MIN_PITCH])


def fit_axis(profile: np.ndarray) -> AxisFit:
    """The cell layout along one axis from its ink profile (see the module docstring)."""
    n = len(profile)
    none = AxisFit(n, 0, n, 0, 1, 0, 0.0)
    if n < 2 * MIN_PITCH or not profile.any():
        return none
    profile = profile.astype(np.float64)
    for p, score in _pitches(profile, MIN_SCORE):
        fit = _phase(profile, p, score)
        if fit is not None:
            return fit
    return none


def _cut_profile(ink: np.ndarray, across: AxisFit) -> np.ndarray:
    """For each pair of neighbouring rows of ``ink``: in how many strips both rows hold ink, the strips being
    the cells across (``across``, the other axis's fit) or single columns when that axis has no cells. A
    glyph's strokes join its rows; a cell border is crossed only where the glyphs above and below touch."""
    h, w = ink.shape
    pitch, start = (across.pitch, across.start) if across.count > 1 else (1, 0)
    k = (w - start) // pitch
    strips = ink[:, start : start + k * pitch].reshape(h, k, pitch).any(axis=2)
    return (strips[:-1] & strips[1:]).sum(axis=1)


def fit_cuts(ink: np.ndarray, across: AxisFit) -> AxisFit:
    """The rows of cells of ``ink`` from where its strokes join rows (``_cut_profile``): for glyphs that fill
    their cells, whose ink profile shows no period or no cell edge (see the module docstring)."""
    profile = ink.sum(axis=1).astype(np.float64)
    n = len(profile)
    none = AxisFit(n, 0, n, 0, 1, 0, 0.0)
    cuts = _cut_profile(ink, across).astype(np.float64)
    if n < 2 * MIN_PITCH + 1 or not cuts.any():
        return none
    for p, score in _pitches(cuts, MIN_CUT_SCORE):
        fit = _cut_phase(profile, cuts, p, score)
        if fit is not None:
            return fit
    return none


def _cut_phase(profile: np.ndarray, cuts: np.ndarray, p: int, score: float) -> AxisFit | None:
    """Where cells of pitch ``p`` start by the joins ``cuts`` (``cuts[y]``: rows y and y + 1): after the
    rows least joined to the next, at the one of those that leaves the least ink outside the cells, then the
    fewest joins cut, then the most even margins, then the most cells."""
    n = len(profile)
    y = np.arange(len(cuts))
    means = np.bincount(y % p, cuts, p) / np.bincount(y % p, minlength=p)
    low = means <= means.min() + LOW_BAND * float(means.max() - means.min())
    run_start, run_len = _valley(low, int(np.argmin(means)))
    cs = np.concatenate([[0.0], np.cumsum(profile)])
    best: tuple | None = None
    for a in range(run_len):
        phase = (run_start + a) % p
        x0 = (phase + 1) % p
        count = (n - x0) // p
        if count < 2:
            continue
        inside = cs[x0 + count * p] - cs[x0]
        right = n - (x0 + count * p)
        key = (cs[-1] - inside, means[phase], abs(x0 - right), -count, x0)
        if best is None or key < best:
            best = key
    if best is None:
        return None
    return AxisFit(p, best[4], p, 0, -best[3], 0, score)


def _phase(profile: np.ndarray, p: int, score: float) -> AxisFit | None:
    """Where the cells of pitch ``p`` start and how wide the gutter is (see the module docstring)."""
    n = len(profile)
    x = np.arange(n)
    means = np.bincount(x % p, profile, p) / np.bincount(x % p, minlength=p)
    if means.min() > EDGE_RATIO * means.max():
        return None
    blank = means.min() == 0
    # blank phases, else the band of least-inked ones: with no blank separator the cut can be anywhere in it
    band = 1e-9 if blank else LOW_BAND * float(means.max() - means.min())
    low = means <= means.min() + band
    run_start, run_len = _cyclic_runs(low) if blank else _valley(low, int(np.argmin(means)))
    cs = np.concatenate([[0.0], np.cumsum(profile)])
    total = cs[-1]
    best: tuple | None = None
    max_gap = min(run_len, p - 1) if blank else 0
    for g in range(max_gap + 1):
        offsets = range(run_len - g + 1) if run_len <= 64 else sorted({0, (run_len - g) // 2, run_len - g})
        for a in offsets:
            x0 = (run_start + a + g) % p
            cell = p - g
            count = (n - x0 + g) // p
            if count < 1:
                continue
            starts = x0 + np.arange(count) * p
            outside = total - float((cs[starts + cell] - cs[starts]).sum())
            right = n - (x0 + count * cell + (count - 1) * g)
            key = (outside, abs(x0 - right), g, -count, x0)
            if best is None or key < best:
                best = key
    if best is None or -best[3] < 2:
        return None
    _, _, g, neg_count, x0 = best
    return AxisFit(p, x0, p - g, g, -neg_count, run_len if blank else 0, score)


def detect_grid_array(ink: np.ndarray) -> Detection:
    """The grid of an ink bitmap (bool, True = ink); one cell covering the sheet if there is none."""
    h, w = ink.shape
    fx = fit_axis(ink.sum(axis=0))
    fy = fit_axis(ink.sum(axis=1))
    # glyphs that fill their cells (small fonts, block graphics) may show no cell edge in the ink profile:
    # then where strokes join rows (columns) tells, within the cells found across if there are any
    redo_x, redo_y = fx.count == 1, fy.count == 1
    for _ in range(2 if redo_x and redo_y else 1):  # both: again, each within the other's cells found
        if redo_y:
            fy = fit_cuts(ink, fx)
        if redo_x:
            fx = fit_cuts(ink.T, fy)
    if fx.count == 1:
        fx = AxisFit(w, 0, w, 0, 1, fx.separator, fx.score)
    if fy.count == 1:
        fy = AxisFit(h, 0, h, 0, 1, fy.separator, fy.score)
    grid = Grid(fx.size, fy.size, fx.start, fy.start, fx.gap, fy.gap, fx.count, fy.count)
    method = "detected" if grid.cells > 1 else "none"
    return Detection(grid, fx, fy, method)


_GRID_RE = re.compile(r"^(\d+)x(\d+)(?:\+(\d+)\+(\d+))?$")


def parse_grid(spec: str) -> tuple[int, int, int, int]:
    """``WxH`` or ``WxH+X+Y`` -> (cell_w, cell_h, x0, y0)."""
    m = _GRID_RE.match(spec.strip().lower())
    if not m:
        raise UsageError(
            f"--grid {spec!r}: expected WxH or WxH+X+Y (cell size in pixels, first cell's offset)"
        )
    w, h, x, y = (int(g) if g else 0 for g in m.groups())
    if w <= 0 or h <= 0:
        raise UsageError(f"--grid {spec!r}: the cell size must be positive")
    return w, h, x, y


def manual_grid(
    width: int,
    height: int,
    cell: tuple[int, int, int, int] | None = None,
    cols: int | None = None,
    detected: Detection | None = None,
) -> Grid:
    """A grid from ``--grid`` (cell size and offset) and/or ``--cols``; what is not given comes from
    ``detected`` (rows) or from the sheet size."""
    if cell is not None:
        cw, ch, x0, y0 = cell
        fit_cols = (width - x0) // cw if width > x0 else 0
        rows = (height - y0) // ch if height > y0 else 0
        if cols is not None:
            if cols > fit_cols:
                raise UsageError(f"--cols {cols}: only {fit_cols} cells of width {cw} fit in {width} pixels")
            fit_cols = cols
        grid = Grid(cw, ch, x0, y0, 0, 0, fit_cols, rows)
    else:
        assert cols is not None
        if cols <= 0 or cols > width:
            raise UsageError(f"--cols {cols}: must be between 1 and the sheet width ({width})")
        base = detected.grid if detected is not None else Grid(width, height)
        grid = Grid(width // cols, base.cell_h, 0, base.y0, 0, base.gap_y, cols, base.rows)
    if not grid.fits(width, height):
        raise UsageError(f"--grid: {grid.describe()} does not fit a {width}x{height} sheet")
    return grid

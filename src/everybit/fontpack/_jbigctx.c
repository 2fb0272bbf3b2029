/* fontpack context coder: 1-bit bitmaps with mixed context models and a binary range coder.
 *
 * Stream (pinned in docs/fontpack-coder.md, "Context coder"):
 *   byte 0     0x10 | kind   kind 0: a list of bitmaps (encode_list), 1: one bitmap (encode_single)
 *   kind 1     varint P      the reference offset: pixel (x, y) is predicted from (x - P, y); 0 = none
 *   payload    range-coded pixels, row by row, bitmap after bitmap, one adaptive state for the
 *              whole stream; absent when there are no pixels
 * The caller keeps the shapes; the decoder is given them.
 *
 * Pixel model: five context models, each a table of adaptive probabilities, mixed in the logistic
 * domain by two online-trained weight sets (selected by 6 neighbour pixels and by how often the two
 * largest contexts were seen), averaged. Pixels outside a bitmap read as 0.
 *   A  16 pixels, rows y-2..y (JBIG2 generic template 0 with its default AT pixels), direct table
 *   B  28 pixels, rows y-4..y, hashed into 2^12..2^22 slots (by the pixel count)
 *   C  16 pixels, a tall template (column x up to 6 rows up), direct table
 *   D  13 pixels: 4 causal ones + a 3x3 window of the reference around (x, y). The reference is the
 *      previous bitmap of a list (same top-left corner) or, for one bitmap, itself shifted by P
 *      (rows below y read as 0 there)
 *   E  13 pixels: 10 causal ones + "x+1 >= w", "x+2 >= w", "y == h-1" (edges of a cropped glyph)
 * A probability is 16 bits; its update rate is 1/(n+1.5) after n visits, n capped at 20.
 *
 * Range coder: carry-less 32-bit (x1, x2) interval, 16-bit probabilities, one byte out per
 * normalisation step, one byte of flush. The decoder reads zeros past the end of its input and checks
 * at the end that it read exactly len+3 bytes (most truncated, padded or random streams fail there).
 * Coding is integer arithmetic on fixed tables, so a stream decodes the same on every platform; only the
 * encoder's automatic choice of P (choose_period) uses floating point.
 *
 * Work over GIL_THRESHOLD pixels runs with the GIL released.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_glue.h"
#include "_rangecoder.h"
#include "_varint.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT_TAG 0x10
#define KIND_LIST 0
#define KIND_SINGLE 1
#define MAX_PIXELS ((uint64_t)1 << 31) /* total pixels of one call */
#define MAX_WIDTH ((int64_t)1 << 24)
#define MAX_PERIOD 1024
#define PMIN 4 /* smallest offset tried: below it the pixel is part of the same stroke, not the next cell */
#define GIL_THRESHOLD 65536 /* pixels */

#define LIMIT 20     /* visit count cap of a probability: the slowest rate is 1/21.5 */
#define NIN 5        /* model inputs to the mixer (+ a bias) */
#define MIX_LR 32    /* mixer learning rate, x/65536 */
#define SEL1 64      /* weight sets of mixer 1 (6 neighbour pixels) */
#define SEL2 16      /* weight sets of mixer 2 (visit buckets of A and B) */
#define ROWS 8       /* rows of the current bitmap kept: y-7..y */
#define LPAD 8       /* zero columns left of a row (plus P for the single-bitmap reference) */
#define RPAD 8


/* ---------------------------------------------------------------- fixed tables */

/* 65536 / (1 + exp(-d / 256)) at d = -2048 + 32 i, i = 0..128 (rounded; pinned: the format depends on it) */
static const uint16_t SQUASH_PTS[129] = {
    22, 25, 28, 32, 36, 41, 47, 53, 60, 68, 77, 87, 98, 111, 126, 143, 162, 184, 208, 236, 267, 302, 342, 387,
    439, 497, 562, 636, 720, 815, 922, 1042, 1179, 1333, 1506, 1701, 1921, 2168, 2446, 2758, 3108, 3500, 3938,
    4427, 4971, 5577, 6249, 6992, 7812, 8714, 9702, 10782, 11955, 13226, 14595, 16062, 17625, 19282, 21025,
    22849, 24743, 26695, 28693, 30723, 32768, 34813, 36843, 38841, 40793, 42687, 44511, 46254, 47911, 49474,
    50941, 52310, 53581, 54754, 55834, 56822, 57724, 58544, 59287, 59959, 60565, 61109, 61598, 62036, 62428,
    62778, 63090, 63368, 63615, 63835, 64030, 64203, 64357, 64494, 64614, 64721, 64816, 64900, 64974, 65039,
    65097, 65149, 65194, 65234, 65269, 65300, 65328, 65352, 65374, 65393, 65410, 65425, 65438, 65449, 65459,
    65468, 65476, 65483, 65489, 65495, 65500, 65504, 65508, 65511, 65514};

static uint16_t squash_tab[4096]; /* d + 2048 -> 16-bit probability, d in [-2048, 2047] */
static int16_t stretch_tab[4096]; /* p >> 4 -> d, the inverse of squash */
static uint16_t rate_tab[LIMIT + 1];

static void init_tables(void) {
    for (int i = 0; i < 4096; i++) {
        int k = i >> 5, f = i & 31;
        squash_tab[i] = (uint16_t)((SQUASH_PTS[k] * (32 - f) + SQUASH_PTS[k + 1] * f + 16) >> 5);
    }
    /* stretch(p) = the smallest d whose squash reaches p's bucket centre */
    int d = 0;
    for (int i = 0; i < 4096; i++) {
        unsigned centre = (unsigned)i * 16 + 8;
        while (d < 4095 && squash_tab[d] < centre) d++;
        stretch_tab[i] = (int16_t)(d - 2048);
    }
    for (int n = 0; n <= LIMIT; n++) rate_tab[n] = (uint16_t)(131072 / (2 * n + 3));
}

/* floor(x / 2^k): what an arithmetic right shift gives, without shifting a negative value (whose result
 * C leaves to the implementation). The coder's arithmetic must be the same on every platform, and
 * compilers turn this into that one shift where it is one. */
static inline int64_t floor_shift(int64_t x, unsigned k) { return x < 0 ? ~(~x >> k) : x >> k; }

/* a + b modulo 2^32, as an int32: a mixer weight wraps instead of overflowing (undefined behaviour). It
 * takes ~2^31 pixels of one colour to get there; wrapping keeps such a stream decodable and identical
 * everywhere. */
static inline int32_t add_wrap32(int32_t a, int32_t b) {
    uint32_t u = (uint32_t)a + (uint32_t)b;
    return u <= (uint32_t)INT32_MAX ? (int32_t)u : -(int32_t)(UINT32_MAX - u) - 1;
}

static inline int squash16(int d) {
    if (d > 2047) d = 2047;
    if (d < -2048) d = -2048;
    return squash_tab[d + 2048];
}

/* ---------------------------------------------------------------- range coder (_rangecoder.h) */

/* One byte that, followed by zeros, lies in [x1, x2]: x1 and x2 differ in their top byte. */
static void enc_flush(Enc *e) {
    enc_put(e, (uint8_t)((e->x1 & 0xffffffu) ? (e->x1 >> 24) + 1 : e->x1 >> 24));
}

/* ---------------------------------------------------------------- model */

typedef struct {
    uint16_t p, n; /* P(1) in 16 bits, visits (capped at LIMIT) */
} Ctr;

#define SIZE_A (1u << 16)
#define SIZE_C (1u << 16)
#define SIZE_D (1u << 13)
#define SIZE_E (1u << 13)

typedef struct {
    Ctr *a, *b, *c, *d, *e;
    unsigned bbits;
    int32_t w1[SEL1][NIN + 1], w2[SEL2][NIN + 1];
    Ctr *block;
} Model;

static unsigned hash_bits_for(uint64_t pixels) {
    unsigned b = 12;
    while (b < 22 && ((uint64_t)1 << b) < pixels * 2) b++;
    return b;
}

static int model_init(Model *m, uint64_t pixels) {
    m->bbits = hash_bits_for(pixels);
    size_t total = (size_t)SIZE_A + ((size_t)1 << m->bbits) + SIZE_C + SIZE_D + SIZE_E;
    m->block = malloc(total * sizeof(Ctr));
    if (!m->block) return -1;
    /* every counter starts at p = 1/2, n = 0: the first one is set, then copied in doubling runs (a few
     * memcpy calls, where a sanitized build would check each of the ~150k stores of a loop) */
    m->block[0].p = 32768;
    m->block[0].n = 0;
    for (size_t done = 1; done < total; done *= 2)
        memcpy(m->block + done, m->block, (done < total - done ? done : total - done) * sizeof(Ctr));
    m->a = m->block;
    m->b = m->a + SIZE_A;
    m->c = m->b + ((size_t)1 << m->bbits);
    m->d = m->c + SIZE_C;
    m->e = m->d + SIZE_D;
    for (int s = 0; s < SEL1; s++) {
        for (int i = 0; i < NIN; i++) m->w1[s][i] = 65536 * 3 / 10;
        m->w1[s][NIN] = 0;
    }
    for (int s = 0; s < SEL2; s++) {
        for (int i = 0; i < NIN; i++) m->w2[s][i] = 65536 * 3 / 10;
        m->w2[s][NIN] = 0;
    }
    return 0;
}

static void model_free(Model *m) { free(m->block); }

/* Where the pixel model looks: rows of the current bitmap (r[k] = row y-k, index x) and reference
 * rows (f[0] = row y-1, f[1] = row y, f[2] = row y+1, index x, readable from -1 to w). */
typedef struct {
    const uint8_t *r[7];
    const uint8_t *f[3];
    int w;
    int64_t h, y;
} View;

typedef struct {
    Ctr *c[NIN];
    int st[NIN];
    int32_t *w1, *w2;
    int p1, p2; /* each mixer's own output, 12 bits */
    unsigned p;  /* final P(1), 16 bits, 1..65535 */
} Pred;

static inline unsigned bucket(unsigned n) { return n < 2 ? 0 : n < 6 ? 1 : n < 15 ? 2 : 3; }

static inline void predict(Model *m, const View *v, int x, Pred *pr) {
    const uint8_t *r0 = v->r[0] + x, *r1 = v->r[1] + x, *r2 = v->r[2] + x, *r3 = v->r[3] + x,
                  *r4 = v->r[4] + x, *r5 = v->r[5] + x, *r6 = v->r[6] + x;
    const uint8_t *f0 = v->f[0] + x, *f1 = v->f[1] + x, *f2 = v->f[2] + x;
    /* causal neighbourhood shared by several contexts */
    unsigned l1 = r0[-1], l2 = r0[-2], l3 = r0[-3], l4 = r0[-4];
    unsigned um2 = r1[-2], um1 = r1[-1], u0 = r1[0], up1 = r1[1], up2 = r1[2];
    unsigned vm1 = r2[-1], v0 = r2[0], vp1 = r2[1];

    /* A: JBIG2 generic template 0 */
    unsigned ca = vm1 | v0 << 1 | vp1 << 2 | r2[2] << 3 | r2[-2] << 4 | um2 << 5 | um1 << 6 | u0 << 7 | up1 << 8 |
                  up2 << 9 | r1[3] << 10 | r1[-3] << 11 | l1 << 12 | l2 << 13 | l3 << 14 | l4 << 15;
    /* B: A + 12 more pixels, hashed */
    uint64_t cb = (uint64_t)ca | (uint64_t)r3[0] << 16 | (uint64_t)r3[-1] << 17 | (uint64_t)r3[1] << 18 |
                  (uint64_t)r2[3] << 19 | (uint64_t)r2[-3] << 20 | (uint64_t)r1[4] << 21 | (uint64_t)r1[-4] << 22 |
                  (uint64_t)r0[-5] << 23 | (uint64_t)r0[-6] << 24 | (uint64_t)r4[0] << 25 |
                  (uint64_t)r1[5] << 26 | (uint64_t)r1[-5] << 27;
    size_t hb = (size_t)(((cb + 1) * 0x9E3779B97F4A7C15ULL) >> (64 - m->bbits));
    /* C: tall */
    unsigned cc = u0 | v0 << 1 | r3[0] << 2 | r4[0] << 3 | r5[0] << 4 | l1 << 5 | l2 << 6 | um1 << 7 | up1 << 8 |
                  r6[0] << 9 | vm1 << 10 | vp1 << 11 | l3 << 12 | l4 << 13 | up2 << 14 | um2 << 15;
    /* D: reference window */
    unsigned cd = l1 | um1 << 1 | u0 << 2 | up1 << 3 | f0[-1] << 4 | f0[0] << 5 | f0[1] << 6 | f1[-1] << 7 |
                  f1[0] << 8 | f1[1] << 9 | f2[-1] << 10 | f2[0] << 11 | f2[1] << 12;
    /* E: edges */
    unsigned ce = (unsigned)(x + 1 >= v->w) | (unsigned)(x + 2 >= v->w) << 1 | (unsigned)(v->y == v->h - 1) << 2 |
                  l1 << 3 | l2 << 4 | um1 << 5 | u0 << 6 | up1 << 7 | up2 << 8 | v0 << 9 | um2 << 10 | vp1 << 11 |
                  vm1 << 12;

    pr->c[0] = &m->a[ca];
    pr->c[1] = &m->b[hb];
    pr->c[2] = &m->c[cc];
    pr->c[3] = &m->d[cd];
    pr->c[4] = &m->e[ce];
    for (int i = 0; i < NIN; i++) pr->st[i] = stretch_tab[pr->c[i]->p >> 4];

    unsigned s1 = l1 | u0 << 1 | up1 << 2 | um1 << 3 | l2 << 4 | v0 << 5;
    unsigned s2 = bucket(pr->c[0]->n) << 2 | bucket(pr->c[1]->n);
    int32_t *w1 = pr->w1 = m->w1[s1], *w2 = pr->w2 = m->w2[s2];
    int64_t d1 = (int64_t)w1[NIN] * 256, d2 = (int64_t)w2[NIN] * 256;
    for (int i = 0; i < NIN; i++) {
        d1 += (int64_t)w1[i] * pr->st[i];
        d2 += (int64_t)w2[i] * pr->st[i];
    }
    int e1 = (int)floor_shift(d1, 16), e2 = (int)floor_shift(d2, 16);
    if (e1 > 2047) e1 = 2047;
    if (e1 < -2047) e1 = -2047;
    if (e2 > 2047) e2 = 2047;
    if (e2 < -2047) e2 = -2047;
    pr->p1 = squash16(e1) >> 4;
    pr->p2 = squash16(e2) >> 4;
    unsigned p = (unsigned)squash16((int)floor_shift(e1 + e2, 1));
    pr->p = p < 1 ? 1 : p > 65535 ? 65535 : p;
}

static inline void update(Pred *pr, int bit) {
    int64_t err1 = ((bit << 12) - pr->p1) * MIX_LR, err2 = ((bit << 12) - pr->p2) * MIX_LR;
    for (int i = 0; i < NIN; i++) {
        pr->w1[i] = add_wrap32(pr->w1[i], (int32_t)floor_shift(pr->st[i] * err1, 16));
        pr->w2[i] = add_wrap32(pr->w2[i], (int32_t)floor_shift(pr->st[i] * err2, 16));
    }
    pr->w1[NIN] = add_wrap32(pr->w1[NIN], (int32_t)floor_shift(256 * err1, 16));
    pr->w2[NIN] = add_wrap32(pr->w2[NIN], (int32_t)floor_shift(256 * err2, 16));
    int64_t target = bit ? 65535 : 0;
    for (int i = 0; i < NIN; i++) {
        Ctr *c = pr->c[i];
        /* |step| < |target - p| (the rate is below 1), so p stays in 0..65535 */
        c->p = (uint16_t)(c->p + floor_shift((target - c->p) * rate_tab[c->n], 16));
        if (c->n < LIMIT) c->n++;
    }
}

/* ---------------------------------------------------------------- bitmap walker */

/* Row storage for one bitmap of width w: ROWS rotating current rows, a zero row, 3 reference rows.
 * Each row has lpad zero columns before index 0 and RPAD after index w-1. */
typedef struct {
    uint8_t *mem;
    size_t stride, lpad;
    uint8_t *rows[ROWS];
    uint8_t *zero;
    uint8_t *ref[3];
} Rows;

static int rows_alloc(Rows *rw, int64_t wmax, int period) {
    rw->lpad = LPAD + (size_t)period;
    rw->stride = rw->lpad + (size_t)wmax + RPAD;
    rw->mem = calloc((ROWS + 4) * rw->stride, 1);
    if (!rw->mem) return -1;
    for (int i = 0; i < ROWS; i++) rw->rows[i] = rw->mem + i * rw->stride + rw->lpad;
    rw->zero = rw->mem + ROWS * rw->stride + rw->lpad;
    for (int i = 0; i < 3; i++) rw->ref[i] = rw->mem + (ROWS + 1 + i) * rw->stride + rw->lpad;
    return 0;
}

/* Fills ref row `dst` (indices -1..w) from row y of the previous bitmap (prev: ph x pw, 0/1 bytes or any
 * nonzero for the encoder's input); zeros outside it. */
static void fill_ref(uint8_t *dst, int w, const uint8_t *prev, int64_t ph, int64_t pw, int64_t y) {
    memset(dst - 1, 0, (size_t)w + 2);
    if (!prev || y < 0 || y >= ph) return;
    int64_t n = pw < (int64_t)w + 1 ? pw : (int64_t)w + 1;
    const uint8_t *src = prev + y * pw;
    for (int64_t i = 0; i < n; i++) dst[i] = src[i] != 0;
}

typedef struct {
    Model m;
    Rows rw;
    Enc enc;
    Dec dec;
    int encoding;
    int period;
} Coder;

/* Codes one h x w bitmap at pix (input when encoding, output when decoding), row-major 0/nonzero bytes.
 * prev/ph/pw: the previous bitmap of a list (NULL for none); single: the reference is the bitmap itself
 * shifted by the period instead. */
static void code_bitmap(Coder *cd, uint8_t *pix, int64_t h, int64_t w, const uint8_t *prev, int64_t ph,
                        int64_t pw, int single) {
    Rows *rw = &cd->rw;
    if (h == 0 || w == 0) return;
    for (int i = 0; i < ROWS; i++) memset(rw->rows[i] - rw->lpad, 0, rw->lpad + (size_t)w + RPAD);
    memset(rw->zero - rw->lpad, 0, rw->lpad + (size_t)w + RPAD);
    View v;
    v.w = (int)w;
    v.h = h;
    Pred pr;
    for (int64_t y = 0; y < h; y++) {
        uint8_t *row = rw->rows[y % ROWS];
        memset(row, 0, (size_t)w);
        for (int k = 0; k < 7; k++) v.r[k] = y - k >= 0 ? rw->rows[(y - k) % ROWS] : rw->zero;
        if (single) {
            v.f[0] = cd->period ? v.r[1] - cd->period : rw->zero;
            v.f[1] = cd->period ? v.r[0] - cd->period : rw->zero;
            v.f[2] = rw->zero;
        } else {
            for (int k = 0; k < 3; k++) {
                fill_ref(rw->ref[k], (int)w, prev, ph, pw, y - 1 + k);
                v.f[k] = rw->ref[k];
            }
        }
        v.y = y;
        uint8_t *line = pix + y * w;
        if (cd->encoding) {
            for (int64_t x = 0; x < w; x++) {
                int bit = line[x] != 0;
                predict(&cd->m, &v, (int)x, &pr);
                enc_bit(&cd->enc, bit, pr.p);
                update(&pr, bit);
                row[x] = (uint8_t)bit;
            }
        } else {
            /* a stream that ran out long ago decodes only zeros: leave the rest of the output at 0 */
            if (UNLIKELY(cd->dec.pos > cd->dec.len + 64)) return;
            for (int64_t x = 0; x < w; x++) {
                predict(&cd->m, &v, (int)x, &pr);
                int bit = dec_bit(&cd->dec, pr.p);
                update(&pr, bit);
                row[x] = (uint8_t)bit;
                line[x] = (uint8_t)bit;
            }
        }
    }
}

/* ---------------------------------------------------------------- reference period (encoder) */

static inline double cost_bits(double k, double n) {
    /* n * H(k/n) in bits */
    if (k <= 0 || k >= n) return 0;
    return -(k * __builtin_log2(k / n) + (n - k) * __builtin_log2((n - k) / n));
}

/* bits[x] = pix[x - shift] != 0 for x in [0, w) (0 outside), packed LSB-first into nw words */
static void pack_row(uint64_t *bits, size_t nw, const uint8_t *pix, int64_t w, int64_t shift) {
    memset(bits, 0, nw * sizeof(uint64_t));
    for (int64_t x = 0; x < w; x++) {
        int64_t s = x - shift;
        if (s >= 0 && s < w && pix[s]) bits[x >> 6] |= (uint64_t)1 << (x & 63);
    }
}

/* Picks P for encode_single: the horizontal offset whose pixel tells most about the current one
 * beyond its 4 nearest causal neighbours (the model sees those anyway), estimated on a sample of rows
 * with bit-parallel counts. 0 when no offset helps enough. Only the encoder runs this; the decoder
 * reads P from the stream. */
static int choose_period(const uint8_t *pix, int64_t h, int64_t w) {
    int64_t pmax = w / 2 < MAX_PERIOD ? w / 2 : MAX_PERIOD;
    if (h < 2 || pmax < PMIN || pmax + 1 >= w) return 0;
    size_t nw = (size_t)((w + 63) >> 6);
    int64_t ncand = pmax - PMIN + 3; /* offsets PMIN-1 .. pmax+1 (gain[i] is offset PMIN-1+i); PMIN..pmax are candidates */
    /* sample rows so that rows x words x candidates stays under ~2^20 */
    int64_t per_row = (int64_t)nw * ncand;
    int64_t want = ((int64_t)1 << 20) / (per_row ? per_row : 1);
    if (want < 8) want = 8;
    int64_t step = (h - 1) / want + 1;
    uint64_t *mem = malloc(nw * 6 * sizeof(uint64_t));
    double *n1 = calloc((size_t)ncand * 32, sizeof(double));
    double *base = calloc(32, sizeof(double));
    if (!mem || !n1 || !base) { free(mem); free(n1); free(base); return 0; }
    uint64_t *X = mem, *L = X + nw, *LL = L + nw, *U = LL + nw, *UR = U + nw, *R = UR + nw;
    uint64_t tail = (w & 63) ? ((uint64_t)1 << (w & 63)) - 1 : ~(uint64_t)0;
    for (int64_t y = 1; y < h; y += step) {
        const uint8_t *row = pix + y * w, *up = row - w;
        pack_row(X, nw, row, w, 0);
        pack_row(L, nw, row, w, 1);
        pack_row(LL, nw, row, w, 2);
        pack_row(U, nw, up, w, 0);
        pack_row(UR, nw, up, w, -1);
        for (size_t k = 0; k < nw; k++) {
            uint64_t valid = k + 1 == nw ? tail : ~(uint64_t)0;
            for (unsigned c = 0; c < 16; c++) {
                uint64_t m = valid & (c & 1 ? L[k] : ~L[k]) & (c & 2 ? LL[k] : ~LL[k]) & (c & 4 ? U[k] : ~U[k]) &
                             (c & 8 ? UR[k] : ~UR[k]);
                base[2 * c] += __builtin_popcountll(m);
                base[2 * c + 1] += __builtin_popcountll(m & X[k]);
            }
        }
        for (int64_t p = PMIN - 1; p <= pmax + 1; p++) {
            /* R = X shifted by p */
            size_t q = (size_t)(p >> 6);
            unsigned r = (unsigned)(p & 63);
            for (size_t k = 0; k < nw; k++) {
                uint64_t lo = k >= q ? X[k - q] : 0, lo2 = k >= q + 1 ? X[k - q - 1] : 0;
                R[k] = r ? (lo << r) | (lo2 >> (64 - r)) : lo;
            }
            double *acc = n1 + (size_t)(p - PMIN + 1) * 32;
            for (size_t k = 0; k < nw; k++) {
                uint64_t valid = k + 1 == nw ? tail : ~(uint64_t)0, rk = R[k] & valid;
                if (!rk) continue;
                for (unsigned c = 0; c < 16; c++) {
                    uint64_t m = rk & (c & 1 ? L[k] : ~L[k]) & (c & 2 ? LL[k] : ~LL[k]) & (c & 4 ? U[k] : ~U[k]) &
                                 (c & 8 ? UR[k] : ~UR[k]);
                    acc[2 * c] += __builtin_popcountll(m);
                    acc[2 * c + 1] += __builtin_popcountll(m & X[k]);
                }
            }
        }
    }
    double hbase = 0;
    for (int c = 0; c < 16; c++) hbase += cost_bits(base[2 * c + 1], base[2 * c]);
    double *gain = calloc((size_t)ncand, sizeof(double));
    if (!gain) { free(mem); free(n1); free(base); return 0; }
    for (int64_t i = 0; i < ncand; i++) {
        double *acc = n1 + (size_t)i * 32, hp = 0;
        for (int c = 0; c < 16; c++) {
            hp += cost_bits(acc[2 * c + 1], acc[2 * c]);
            hp += cost_bits(base[2 * c + 1] - acc[2 * c + 1], base[2 * c] - acc[2 * c]);
        }
        gain[i] = hbase - hp;
    }
    /* A cell period shows as a sharp peak (the cells sit on an exact pixel grid); wide strokes make the
     * gain large but smooth for small offsets. Rank by the height over the higher neighbour. */
    int best = 0;
    double best_score = 0, best_gain = 0;
    for (int64_t i = 1; i + 1 < ncand; i++) {
        double nb = gain[i - 1] > gain[i + 1] ? gain[i - 1] : gain[i + 1];
        double score = gain[i] - nb;
        if (score > best_score) { best_score = score; best = (int)(i + PMIN - 1); best_gain = gain[i]; }
    }
    free(gain);
    free(mem);
    free(n1);
    free(base);
    return best_gain > 0.02 * hbase && best_gain > 64 ? best : 0;
}

/* ---------------------------------------------------------------- whole streams */

typedef enum { E_OK, E_NOMEM, E_TRUNCATED, E_TRAILING } CErr;

/* Encodes n bitmaps (shapes[2i], shapes[2i+1]) whose pixels lie back to back in pix. Returns the
 * payload in *out (malloc'd, caller frees) or an error. */
static CErr encode_all(const uint8_t *pix, const int64_t *shapes, size_t n, uint64_t total, int64_t wmax,
                       int single, int period, uint8_t **out, size_t *outlen) {
    Coder cd;
    memset(&cd, 0, sizeof cd);
    cd.encoding = 1;
    cd.period = period;
    *out = NULL;
    *outlen = 0;
    if (total == 0) return E_OK;
    if (model_init(&cd.m, total)) return E_NOMEM;
    if (rows_alloc(&cd.rw, wmax, period)) { model_free(&cd.m); return E_NOMEM; }
    cd.enc.x1 = 0;
    cd.enc.x2 = 0xffffffffu;
    const uint8_t *prev = NULL;
    int64_t ph = 0, pw = 0;
    uint64_t off = 0;
    for (size_t i = 0; i < n && !cd.enc.oom; i++) {
        int64_t h = shapes[2 * i], w = shapes[2 * i + 1];
        code_bitmap(&cd, (uint8_t *)pix + off, h, w, prev, ph, pw, single);
        if (h && w) { prev = pix + off; ph = h; pw = w; }
        off += (uint64_t)h * (uint64_t)w;
    }
    if (!cd.enc.oom) enc_flush(&cd.enc);
    model_free(&cd.m);
    free(cd.rw.mem);
    if (cd.enc.oom) { free(cd.enc.buf); return E_NOMEM; }
    *out = cd.enc.buf;
    *outlen = cd.enc.len;
    return E_OK;
}

static CErr decode_all(const uint8_t *in, size_t len, uint8_t *pix, const int64_t *shapes, size_t n, uint64_t total,
                       int64_t wmax, int single, int period) {
    Coder cd;
    memset(&cd, 0, sizeof cd);
    cd.period = period;
    if (total == 0) return len ? E_TRAILING : E_OK;
    if (model_init(&cd.m, total)) return E_NOMEM;
    if (rows_alloc(&cd.rw, wmax, period)) { model_free(&cd.m); return E_NOMEM; }
    dec_init(&cd.dec, in, len);
    const uint8_t *prev = NULL;
    int64_t ph = 0, pw = 0;
    uint64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t h = shapes[2 * i], w = shapes[2 * i + 1];
        code_bitmap(&cd, pix + off, h, w, prev, ph, pw, single);
        if (h && w) { prev = pix + off; ph = h; pw = w; }
        off += (uint64_t)h * (uint64_t)w;
        if (cd.dec.pos > len + 64) break; /* ran out long ago (see code_bitmap) */
    }
    model_free(&cd.m);
    free(cd.rw.mem);
    if (cd.dec.pos > len + 3) return E_TRUNCATED;
    if (cd.dec.pos < len + 3) return E_TRAILING;
    return E_OK;
}

/* ---------------------------------------------------------------- Python glue */

static PyObject *FontpackError;

/* Validated shapes: (height, width) pairs, in an aligned copy the struct owns (the caller's buffer may
 * start at any address, where reading int64 through a pointer would be undefined). */
typedef struct {
    int64_t *v; /* PyMem; 2 per bitmap */
    size_t n;
    uint64_t total;
    int64_t wmax;
} Shapes;

static void shapes_free(Shapes *s) {
    PyMem_Free(s->v);
    s->v = NULL;
}

/* Checks the s->n pairs of s->v and sets total and wmax; frees s->v on failure. */
static int shapes_check(Shapes *s) {
    s->total = 0;
    s->wmax = 0;
    for (size_t i = 0; i < s->n; i++) {
        int64_t h = s->v[2 * i], w = s->v[2 * i + 1];
        if (h < 0 || w < 0) {
            PyErr_Format(PyExc_ValueError, "bitmap %zu has a negative size (%lld x %lld)", i, (long long)h, (long long)w);
            goto fail;
        }
        if (w > MAX_WIDTH || (w && (uint64_t)h > MAX_PIXELS / (uint64_t)w) || (uint64_t)h > MAX_PIXELS) {
            PyErr_Format(PyExc_ValueError, "bitmap %zu is too large (%lld x %lld; at most %lld wide and 2^31 pixels)", i,
                         (long long)h, (long long)w, (long long)MAX_WIDTH);
            goto fail;
        }
        s->total += (uint64_t)h * (uint64_t)w;
        if (s->total > MAX_PIXELS) {
            PyErr_SetString(PyExc_ValueError, "too many pixels in one call (at most 2^31)");
            goto fail;
        }
        if (h && w > s->wmax) s->wmax = w;
    }
    return 0;
fail:
    shapes_free(s);
    return -1;
}

/* Shapes from a C-contiguous buffer of native int64 (height, width) pairs. */
static int get_shapes(PyObject *obj, Shapes *s) {
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view.len % 16) {
        PyErr_SetString(PyExc_ValueError, "shapes must be int64 (height, width) pairs");
        PyBuffer_Release(&view);
        return -1;
    }
    s->n = (size_t)view.len / 16;
    s->v = PyMem_Malloc((size_t)view.len); /* PyMem_Malloc(0) is a valid block */
    if (s->v && view.len) memcpy(s->v, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (!s->v) {
        PyErr_NoMemory();
        return -1;
    }
    return shapes_check(s);
}

static PyObject *raise_cerr(CErr e) {
    switch (e) {
    case E_NOMEM: return PyErr_NoMemory();
    case E_TRUNCATED: PyErr_SetString(FontpackError, "corrupt data: the coded pixels run past the end (truncated?)"); return NULL;
    case E_TRAILING: PyErr_SetString(FontpackError, "corrupt data: bytes left after the last pixel"); return NULL;
    default: PyErr_SetString(PyExc_SystemError, "fontpack coder: unexpected state"); return NULL;
    }
}

/* Encodes and wraps the payload after a header. */
static PyObject *encode_common(const uint8_t *pix, const Shapes *s, int single, int period) {
    uint8_t hdr[1 + VARINT_MAX_BYTES];
    size_t hlen = 0;
    hdr[hlen++] = (uint8_t)(FORMAT_TAG | (single ? KIND_SINGLE : KIND_LIST));
    if (single) hlen = (size_t)(varint_put(hdr + hlen, (uint64_t)period) - hdr);
    uint8_t *payload;
    size_t plen;
    CErr e;
    if (s->total >= GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        e = encode_all(pix, s->v, s->n, s->total, s->wmax, single, period, &payload, &plen);
        Py_END_ALLOW_THREADS
    } else {
        e = encode_all(pix, s->v, s->n, s->total, s->wmax, single, period, &payload, &plen);
    }
    if (e != E_OK) return raise_cerr(e);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(hlen + plen));
    if (out) {
        memcpy(PyBytes_AS_STRING(out), hdr, hlen);
        if (plen) memcpy(PyBytes_AS_STRING(out) + hlen, payload, plen);
    }
    free(payload);
    return out;
}

static PyObject *decode_common(const Py_buffer *in, const Shapes *s, int single) {
    const uint8_t *p = in->buf;
    size_t len = (size_t)in->len, pos = 0;
    if (len < 1) return PyErr_Format(FontpackError, "corrupt data: empty stream");
    if (p[0] != (FORMAT_TAG | (single ? KIND_SINGLE : KIND_LIST))) {
        if ((p[0] & 0xf0) == FORMAT_TAG && (p[0] & 0x0f) <= KIND_SINGLE)
            return PyErr_Format(FontpackError, "corrupt data: a %s stream given to decode_%s",
                                single ? "bitmap-list" : "single-bitmap", single ? "single" : "list");
        return PyErr_Format(FontpackError, "corrupt data: unknown stream tag 0x%02x", p[0]);
    }
    pos = 1;
    uint64_t period = 0;
    if (single) {
        const uint8_t *q = p + pos;
        if (varint_get(&q, p + len, &period)) return PyErr_Format(FontpackError, "corrupt data: truncated header");
        pos = (size_t)(q - p);
        if (period == 1 || period > MAX_PERIOD)
            return PyErr_Format(FontpackError, "corrupt data: bad reference offset %llu", (unsigned long long)period);
    }
    PyObject *out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)s->total);
    if (!out) return NULL;
    uint8_t *dst = (uint8_t *)PyByteArray_AS_STRING(out);
    memset(dst, 0, (size_t)s->total);
    CErr e;
    if (s->total >= GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        e = decode_all(p + pos, len - pos, dst, s->v, s->n, s->total, s->wmax, single, (int)period);
        Py_END_ALLOW_THREADS
    } else {
        e = decode_all(p + pos, len - pos, dst, s->v, s->n, s->total, s->wmax, single, (int)period);
    }
    if (e != E_OK) {
        Py_DECREF(out);
        return raise_cerr(e);
    }
    return out;
}

static PyObject *py_encode_list(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"pixels", "shapes"};
    PyObject *slots[2], *res = NULL;
    Shapes s;
    Py_buffer pix;
    if (parse_args("encode_list", args, nargs, kwnames, names, 2, 2, slots)) return NULL;
    if (get_shapes(slots[1], &s)) return NULL;
    if (PyObject_GetBuffer(slots[0], &pix, PyBUF_C_CONTIGUOUS) < 0) { shapes_free(&s); return NULL; }
    if ((uint64_t)pix.len != s.total)
        PyErr_Format(PyExc_ValueError, "pixels has %zd bytes, the shapes need %llu", pix.len, (unsigned long long)s.total);
    else
        res = encode_common(pix.buf, &s, 0, 0);
    PyBuffer_Release(&pix);
    shapes_free(&s);
    return res;
}

static PyObject *py_decode_list(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "shapes"};
    PyObject *slots[2], *res;
    Shapes s;
    Py_buffer in;
    if (parse_args("decode_list", args, nargs, kwnames, names, 2, 2, slots)) return NULL;
    if (get_shapes(slots[1], &s)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) { shapes_free(&s); return NULL; }
    res = decode_common(&in, &s, 0);
    PyBuffer_Release(&in);
    shapes_free(&s);
    return res;
}

/* One (height, width) pair as a Shapes. */
static int single_shape(PyObject *hobj, PyObject *wobj, Shapes *s) {
    long long h = PyLong_AsLongLong(hobj);
    if (h == -1 && PyErr_Occurred()) return -1;
    long long w = PyLong_AsLongLong(wobj);
    if (w == -1 && PyErr_Occurred()) return -1;
    s->v = PyMem_Malloc(2 * sizeof(int64_t));
    if (!s->v) {
        PyErr_NoMemory();
        return -1;
    }
    s->v[0] = h;
    s->v[1] = w;
    s->n = 1;
    return shapes_check(s);
}

static PyObject *py_encode_single(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"pixels", "height", "width", "period"};
    PyObject *slots[4], *res = NULL;
    Shapes s;
    Py_buffer pix;
    long period = -1;
    if (parse_args("encode_single", args, nargs, kwnames, names, 4, 3, slots)) return NULL;
    if (slots[3] && slots[3] != Py_None) {
        period = PyLong_AsLong(slots[3]);
        if (period == -1 && PyErr_Occurred()) return NULL;
        if (period < 0 || period == 1 || period > MAX_PERIOD) {
            PyErr_Format(PyExc_ValueError, "period must be 0 or 2..%d, not %ld", MAX_PERIOD, period);
            return NULL;
        }
    }
    if (single_shape(slots[1], slots[2], &s)) return NULL;
    const int64_t h = s.v[0], w = s.v[1];
    if (PyObject_GetBuffer(slots[0], &pix, PyBUF_C_CONTIGUOUS) < 0) { shapes_free(&s); return NULL; }
    if ((uint64_t)pix.len != s.total) {
        PyErr_Format(PyExc_ValueError, "pixels has %zd bytes, %lld x %lld needs %llu", pix.len, (long long)h,
                     (long long)w, (unsigned long long)s.total);
    } else {
        if (period < 0) {
            if (s.total >= GIL_THRESHOLD) {
                Py_BEGIN_ALLOW_THREADS
                period = choose_period(pix.buf, h, w);
                Py_END_ALLOW_THREADS
            } else {
                period = choose_period(pix.buf, h, w);
            }
        }
        if (period >= w && period) period = 0; /* an offset past the width sees only zeros */
        res = encode_common(pix.buf, &s, 1, (int)period);
    }
    PyBuffer_Release(&pix);
    shapes_free(&s);
    return res;
}

static PyObject *py_decode_single(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "height", "width"};
    PyObject *slots[3], *res;
    Shapes s;
    Py_buffer in;
    if (parse_args("decode_single", args, nargs, kwnames, names, 3, 3, slots)) return NULL;
    if (single_shape(slots[1], slots[2], &s)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) { shapes_free(&s); return NULL; }
    res = decode_common(&in, &s, 1);
    PyBuffer_Release(&in);
    shapes_free(&s);
    return res;
}

#define FAST (METH_FASTCALL | METH_KEYWORDS)
static PyMethodDef methods[] = {
    {"encode_list", (PyCFunction)(void (*)(void))py_encode_list, FAST,
     "encode_list(pixels, shapes) -> bytes\n\nCodes bitmaps as one stream with shared adaptive state. pixels: their\n"
     "row-major bytes back to back (nonzero = black); shapes: native int64 (height, width) pairs."},
    {"decode_list", (PyCFunction)(void (*)(void))py_decode_list, FAST,
     "decode_list(data, shapes) -> bytearray\n\nInverse of encode_list: the pixels (0/1 bytes) back to back."},
    {"encode_single", (PyCFunction)(void (*)(void))py_encode_single, FAST,
     "encode_single(pixels, height, width, period=None) -> bytes\n\nCodes one bitmap; period: the horizontal offset of\n"
     "the reference pixel (0 = none, 2..1024; None = chosen from the image)."},
    {"decode_single", (PyCFunction)(void (*)(void))py_decode_single, FAST,
     "decode_single(data, height, width) -> bytearray\n\nInverse of encode_single."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "everybit.fontpack._jbigctx",
                                    "fontpack context coder core.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__jbigctx(void) {
    init_tables();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    FontpackError = new_corrupt_error("everybit.fontpack.FontpackError", "Raised for any fontpack decoding failure.");
    if (!FontpackError || PyModule_AddObjectRef(m, "FontpackError", FontpackError) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PERIOD", MAX_PERIOD) < 0 ||
        PyModule_AddIntConstant(m, "MAX_WIDTH", (long)MAX_WIDTH) < 0 ||
        PyModule_AddObject(m, "MAX_PIXELS", PyLong_FromUnsignedLongLong(MAX_PIXELS)) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

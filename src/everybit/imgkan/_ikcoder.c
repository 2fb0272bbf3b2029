/* imgkan entropy coder: planes of small signed integers (quantized latents, quantized weights) in one
 * context-adaptive binary arithmetic-coded stream.
 *
 * Stream: the coded bins of every cell, plane after plane, row by row, and nothing else (the caller
 * keeps the shapes). Empty when there are no cells at all.
 *
 * Binarization of a cell v, with m = 2|left| + 2|top| + |top-left| + |top-right| over neighbours in the
 * same plane (0 outside it), clamped to MCAP:
 *   zero     v != 0                               ctx: zclass[m] (13 classes)
 *   sign     v < 0                                ctx: sign of sign(left) + sign(top) (3)
 *   unary    |v| > 1, |v| > 2, ..., |v| > NGT      ctx: bin index x gclass[m] (5)
 *   escape   x = |v| - NGT - 1 as Exp-Golomb 0: the exponent e = floor(log2(x + 1)) in unary, one
 *            adaptive context per index, then the e low bits of x + 1, equiprobable, high bit first
 * Every plane starts from fresh contexts (a weight plane says nothing about the next latent plane).
 *
 * Probabilities: a context holds two estimates of P(1) in 24 bits and a visit count n; each moves
 * towards the bit by 1/(n + 1.5), floored at 1/FAST and 1/SLOW: quick to learn from few samples, then
 * one tracks drift and one averages noise. The coder uses their mean in 16 bits, clamped to
 * [PMIN, 65536 - PMIN] so one surprise costs at most 11 bits. Integer only, so a stream decodes the same
 * on every platform.
 *
 * Range coder (as fontpack's): carry-less 32-bit (x1, x2) interval, one byte out per normalisation step.
 * The flush is all 4 bytes of x1, so the decoder, which reads 4 bytes ahead and then one per step, reads
 * exactly the whole stream and never a byte past it. That makes corruption checks exact: a truncated
 * stream decodes like the whole one up to the first missing byte, which it must then read (truncated,
 * always caught); bytes appended are never read (trailing, always caught); the last 4 bytes must equal
 * the decoder's own x1. So a changed byte either raises or decodes to other values: each byte passes
 * through the top of the decoder's window before it leaves, where it decides bins. A 1-byte flush with
 * virtual zero bytes would save 3 bytes but let many truncations decode to other values unnoticed. Past
 * the end the decoder reads zeros and gives up at the end of that row, so arbitrary bytes never decode
 * on and on. Values beyond MAX_ABS (reachable through the escape) are corrupt data too.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_glue.h"
#include "_rangecoder.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ABS 32767                  /* |v| limit: -32768 is refused so that |v| is symmetric */
#define MAX_DIM ((int64_t)1 << 16)      /* rows or cols of one plane */
#define MAX_CELLS ((int64_t)1 << 26)    /* cells of one call (256 MiB of int32 out) */
#define MAX_PLANES ((Py_ssize_t)1 << 16) /* each non-empty plane resets the contexts */

#define NGT 8    /* unary bins "|v| > k", k = 1..NGT, before the escape */
#define NEXP 15  /* escape exponents 0..14: x + 1 <= MAX_ABS - NGT < 2^15 */
#define NZC 13   /* classes of m: zero flag */
#define NGC 5    /* classes of m: unary bins */
#define MCAP 63  /* m is clamped here before the class tables (past the last bound) */

#define FAST 32  /* rate floors of the two estimates, 1/FAST and 1/SLOW */
#define SLOW 256
#define NMAX 255 /* visit count cap (the slow rate is at its floor long before) */
#define PMIN 32  /* of 65536 */


/* ---------------------------------------------------------------- fixed tables */

static uint16_t rate_fast[NMAX + 1], rate_slow[NMAX + 1]; /* of 65536 */
static uint8_t zclass[MCAP + 1], gclass[MCAP + 1];

/* The class of m is the number of bounds it reaches (bounds ascending). */
static void fill_classes(uint8_t *tab, const int *bounds, int nb) {
    for (int m = 0; m <= MCAP; m++) {
        int k = 0;
        while (k < nb && m >= bounds[k]) k++;
        tab[m] = (uint8_t)k;
    }
}

static void init_tables(void) {
    for (int n = 0; n <= NMAX; n++) {
        uint32_t r = 131072u / (uint32_t)(2 * n + 3); /* 65536 / (n + 1.5) */
        rate_fast[n] = (uint16_t)(r > 65536u / FAST ? r : 65536u / FAST);
        rate_slow[n] = (uint16_t)(r > 65536u / SLOW ? r : 65536u / SLOW);
    }
    /* bounds on m (left and top weigh 2), picked on synthetic data: sparse latents clustered at edges,
     * smooth latents, Laplacians, heavy-tailed weights at 6 to 12 bits */
    static const int zb[NZC - 1] = {1, 2, 3, 4, 5, 6, 8, 10, 13, 17, 22, 30};
    static const int gb[NGC - 1] = {4, 8, 16, 32};
    fill_classes(zclass, zb, NZC - 1);
    fill_classes(gclass, gb, NGC - 1);
}

/* ---------------------------------------------------------------- range coder (_rangecoder.h) */

/* All of x1: the decoder then never needs a byte past the end (see the top of the file). */
static void enc_flush(Enc *e) {
    for (int i = 24; i >= 0; i -= 8) enc_put(e, (uint8_t)(e->x1 >> i));
}

/* ---------------------------------------------------------------- model */

typedef struct {
    uint32_t pf, ps; /* P(1) of 2^24, fast and slow */
    uint32_t n;      /* visits, capped at NMAX */
} Ctx;

typedef struct {
    Ctx zero[NZC];
    Ctx sign[3];
    Ctx gt[NGC][NGT];
    Ctx ex[NEXP];
} Model;

static void model_reset(Model *m) {
    Ctx *c = (Ctx *)m;
    for (size_t i = 0; i < sizeof(Model) / sizeof(Ctx); i++) {
        c[i].pf = c[i].ps = 1u << 23;
        c[i].n = 0;
    }
}

/* Encoder and decoder share every step below, so they cannot drift apart. */
typedef struct {
    int encoding;
    Enc enc;
    Dec dec;
    Model m;
} Coder;

static inline uint32_t ctx_p(const Ctx *c) {
    uint32_t p = (c->pf + c->ps) >> 9; /* mean, 16 bits */
    return p < PMIN ? PMIN : p > 65536 - PMIN ? 65536 - PMIN : p;
}

/* Each side of the update is a non-negative product, so no signed shift is involved. */
static inline void ctx_update(Ctx *c, int bit) {
    uint32_t rf = rate_fast[c->n], rs = rate_slow[c->n];
    if (bit) {
        c->pf += (uint32_t)(((uint64_t)((1u << 24) - 1 - c->pf) * rf) >> 16);
        c->ps += (uint32_t)(((uint64_t)((1u << 24) - 1 - c->ps) * rs) >> 16);
    } else {
        c->pf -= (uint32_t)(((uint64_t)c->pf * rf) >> 16);
        c->ps -= (uint32_t)(((uint64_t)c->ps * rs) >> 16);
    }
    if (c->n < NMAX) c->n++;
}

/* Codes bit (encoder) or decodes one (decoder; bit ignored) with context c; returns the bit. */
static inline int code_bit(Coder *cd, Ctx *c, int bit) {
    uint32_t p = ctx_p(c);
    if (cd->encoding) enc_bit(&cd->enc, bit, p);
    else bit = dec_bit(&cd->dec, p);
    ctx_update(c, bit);
    return bit;
}

static inline int code_bypass(Coder *cd, int bit) {
    if (cd->encoding) enc_bit(&cd->enc, bit, 32768);
    else bit = dec_bit(&cd->dec, 32768);
    return bit;
}

static inline int32_t iabs32(int32_t v) { return v < 0 ? -v : v; }
static inline int sgn3(int32_t v) { return (v > 0) - (v < 0); }

typedef enum { E_OK, E_TRUNCATED, E_TRAILING, E_BADEND, E_RANGE } CErr;

/* Codes one rows x cols plane in place: the encoder reads vals (already range-checked), the decoder
 * writes them. Returns E_OK, or (decoder) E_TRUNCATED / E_RANGE at the first sign of corruption. */
static CErr code_plane(Coder *cd, int32_t *vals, int64_t rows, int64_t cols) {
    Model *md = &cd->m;
    model_reset(md);
    for (int64_t r = 0; r < rows; r++) {
        int32_t *row = vals + r * cols;
        const int32_t *up = r ? row - cols : NULL;
        if (!cd->encoding && UNLIKELY(cd->dec.pos > cd->dec.len)) return E_TRUNCATED;
        for (int64_t c = 0; c < cols; c++) {
            int32_t left = c ? row[c - 1] : 0, top = 0, tl = 0, tr = 0;
            if (up) {
                top = up[c];
                if (c) tl = up[c - 1];
                if (c + 1 < cols) tr = up[c + 1];
            }
            int32_t m = 2 * iabs32(left) + 2 * iabs32(top) + iabs32(tl) + iabs32(tr);
            if (m > MCAP) m = MCAP;
            int32_t v = cd->encoding ? row[c] : 0, mag = iabs32(v);
            if (!code_bit(cd, &md->zero[zclass[m]], mag != 0)) {
                row[c] = 0;
                continue;
            }
            int neg = code_bit(cd, &md->sign[sgn3(sgn3(left) + sgn3(top)) + 1], v < 0);
            Ctx *gt = md->gt[gclass[m]];
            int32_t k = 1;
            while (k <= NGT && code_bit(cd, &gt[k - 1], mag > k)) k++;
            if (k > NGT) {
                /* escape: x = mag - NGT - 1 >= 0, coded as Exp-Golomb 0 of x + 1 */
                Ctx *ex = md->ex;
                uint32_t xp1 = (uint32_t)(mag - NGT); /* x + 1, encoder only */
                int e = 0;
                while (code_bit(cd, &ex[e], (xp1 >> (e + 1)) != 0)) {
                    if (++e == NEXP) return E_RANGE; /* encoder never gets here */
                }
                uint32_t y = 1;
                for (int b = e - 1; b >= 0; b--) y = (y << 1) | (uint32_t)code_bypass(cd, (int)((xp1 >> b) & 1));
                if (y > (uint32_t)(MAX_ABS - NGT)) return E_RANGE;
                k = (int32_t)y + NGT;
            }
            row[c] = neg ? -k : k;
        }
    }
    if (!cd->encoding && cd->dec.pos > cd->dec.len) return E_TRUNCATED;
    return E_OK;
}

/* ---------------------------------------------------------------- Python glue */

static PyObject *IkcoderError;

/* The planes given to encode, as held buffers. */
typedef struct {
    Py_buffer *views;
    Py_ssize_t n, held;
    int64_t total, maxcells;
} Planes;

static void planes_release(Planes *p) {
    for (Py_ssize_t i = 0; i < p->held; i++) PyBuffer_Release(&p->views[i]);
    PyMem_Free(p->views);
    p->views = NULL;
    p->held = 0;
}

/* A native-order 4-byte signed integer format: "i", "l" (where long is 4 bytes), optionally with a
 * byte-order prefix that means native. */
static int int32_format(const Py_buffer *v) {
    const char *f = v->format ? v->format : "B";
    if (v->itemsize != 4) return 0;
#if PY_BIG_ENDIAN
    if (*f == '@' || *f == '=' || *f == '>' || *f == '!') f++;
#else
    if (*f == '@' || *f == '=' || *f == '<') f++;
#endif
    return (f[0] == 'i' || f[0] == 'l') && f[1] == 0;
}

static int check_dims(Py_ssize_t i, int64_t rows, int64_t cols, int64_t *total) {
    if (rows < 0 || cols < 0) {
        PyErr_Format(PyExc_ValueError, "plane %zd has a negative size (%lld x %lld)", i, (long long)rows,
                     (long long)cols);
        return -1;
    }
    if (rows > MAX_DIM || cols > MAX_DIM) {
        PyErr_Format(PyExc_ValueError, "plane %zd is %lld x %lld; at most %lld rows and columns", i, (long long)rows,
                     (long long)cols, (long long)MAX_DIM);
        return -1;
    }
    *total += rows * cols;
    if (*total > MAX_CELLS) {
        PyErr_Format(PyExc_ValueError, "more than %lld cells in one call", (long long)MAX_CELLS);
        return -1;
    }
    return 0;
}

static int get_planes(PyObject *obj, Planes *p) {
    memset(p, 0, sizeof *p);
    PyObject *seq = PySequence_Fast(obj, "planes must be a sequence of 2-D int32 buffers");
    if (!seq) return -1;
    p->n = PySequence_Fast_GET_SIZE(seq);
    if (p->n > MAX_PLANES) {
        PyErr_Format(PyExc_ValueError, "%zd planes; at most %zd", p->n, MAX_PLANES);
        goto fail;
    }
    p->views = PyMem_Calloc((size_t)(p->n ? p->n : 1), sizeof(Py_buffer));
    if (!p->views) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t i = 0; i < p->n; i++) {
        Py_buffer *v = &p->views[i];
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, i), v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) goto fail;
        p->held++;
        if (v->ndim != 2 || !int32_format(v)) {
            PyErr_Format(PyExc_ValueError, "plane %zd must be a 2-D int32 buffer (got %d-D, format '%s', itemsize %zd)",
                         i, v->ndim, v->format ? v->format : "B", v->itemsize);
            goto fail;
        }
        if (check_dims(i, v->shape[0], v->shape[1], &p->total)) goto fail;
        if (v->len != v->shape[0] * v->shape[1] * 4) { /* an exporter whose shape and size disagree */
            PyErr_Format(PyExc_ValueError, "plane %zd: %zd bytes for %zd x %zd int32", i, v->len, v->shape[0],
                         v->shape[1]);
            goto fail;
        }
        if (v->shape[0] * v->shape[1] > p->maxcells) p->maxcells = v->shape[0] * v->shape[1];
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    planes_release(p);
    return -1;
}

static PyObject *py_encode(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    (void)mod;
    static const char *const names[] = {"planes"};
    PyObject *slots[1], *res = NULL;
    Planes pl;
    if (parse_args("encode", args, nargs, kwnames, names, 1, 1, slots)) return NULL;
    if (get_planes(slots[0], &pl)) return NULL;
    Coder cd;
    memset(&cd, 0, sizeof cd);
    cd.encoding = 1;
    cd.enc.x1 = 0;
    cd.enc.x2 = 0xffffffffu;
    /* an aligned native copy of each plane (a buffer may sit at any address), range-checked on the way */
    int32_t *scratch = PyMem_Malloc((size_t)(pl.maxcells ? pl.maxcells : 1) * sizeof(int32_t));
    if (!scratch) { PyErr_NoMemory(); goto done; }
    for (Py_ssize_t i = 0; i < pl.n; i++) {
        const Py_buffer *v = &pl.views[i];
        int64_t rows = v->shape[0], cols = v->shape[1], cells = rows * cols;
        if (!cells) continue;
        memcpy(scratch, v->buf, (size_t)cells * sizeof(int32_t));
        for (int64_t j = 0; j < cells; j++) {
            if (UNLIKELY(scratch[j] < -MAX_ABS || scratch[j] > MAX_ABS)) {
                PyErr_Format(PyExc_ValueError, "plane %zd: value %ld at (%lld, %lld) is outside [-%d, %d]", i,
                             (long)scratch[j], (long long)(j / cols), (long long)(j % cols), MAX_ABS, MAX_ABS);
                goto done;
            }
        }
        code_plane(&cd, scratch, rows, cols);
        if (cd.enc.oom) { PyErr_NoMemory(); goto done; }
    }
    if (pl.total) enc_flush(&cd.enc);
    if (cd.enc.oom) { PyErr_NoMemory(); goto done; }
    res = PyBytes_FromStringAndSize((const char *)cd.enc.buf, (Py_ssize_t)cd.enc.len);
done:
    free(cd.enc.buf);
    PyMem_Free(scratch);
    planes_release(&pl);
    return res;
}

/* (rows, cols) pairs of decode's shapes argument; *out is PyMem-allocated, 2 per plane. */
static int get_shapes(PyObject *obj, int64_t **out, Py_ssize_t *n) {
    PyObject *seq = PySequence_Fast(obj, "shapes must be a sequence of (rows, cols) pairs");
    if (!seq) return -1;
    *n = PySequence_Fast_GET_SIZE(seq);
    *out = NULL;
    int64_t total = 0;
    if (*n > MAX_PLANES) {
        PyErr_Format(PyExc_ValueError, "%zd planes; at most %zd", *n, MAX_PLANES);
        goto fail;
    }
    *out = PyMem_Malloc((size_t)(*n ? *n : 1) * 2 * sizeof(int64_t));
    if (!*out) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t i = 0; i < *n; i++) {
        PyObject *pair = PySequence_Fast(PySequence_Fast_GET_ITEM(seq, i), "each shape must be a (rows, cols) pair");
        if (!pair) goto fail;
        if (PySequence_Fast_GET_SIZE(pair) != 2) {
            Py_DECREF(pair);
            PyErr_Format(PyExc_ValueError, "shape %zd is not a (rows, cols) pair", i);
            goto fail;
        }
        long long rc[2];
        for (int k = 0; k < 2; k++) {
            rc[k] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(pair, k));
            if (rc[k] == -1 && PyErr_Occurred()) { Py_DECREF(pair); goto fail; }
        }
        Py_DECREF(pair);
        if (check_dims(i, rc[0], rc[1], &total)) goto fail;
        (*out)[2 * i] = rc[0];
        (*out)[2 * i + 1] = rc[1];
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    PyMem_Free(*out);
    *out = NULL;
    return -1;
}

/* Decodes into the planes' bytearrays (list items); the error of the whole stream. */
static CErr decode_into(const Py_buffer *in, const int64_t *shapes, Py_ssize_t n, PyObject *list) {
    int64_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) total += shapes[2 * i] * shapes[2 * i + 1];
    if (!total) return in->len ? E_TRAILING : E_OK;
    Coder cd;
    memset(&cd, 0, sizeof cd);
    dec_init(&cd.dec, in->buf, (size_t)in->len);
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t rows = shapes[2 * i], cols = shapes[2 * i + 1];
        if (!rows || !cols) continue;
        /* bytearray storage comes from the allocator, so it is aligned for int32 */
        int32_t *vals = (int32_t *)(void *)PyByteArray_AS_STRING(PyList_GET_ITEM(list, i));
        CErr e = code_plane(&cd, vals, rows, cols);
        if (e != E_OK) return cd.dec.pos > cd.dec.len ? E_TRUNCATED : e; /* the real cause: ran out */
#if PY_BIG_ENDIAN
        for (int64_t j = 0; j < rows * cols; j++) vals[j] = (int32_t)__builtin_bswap32((uint32_t)vals[j]);
#endif
    }
    if (cd.dec.pos != (size_t)in->len) return E_TRAILING; /* code_plane caught pos > len */
    return cd.dec.x == cd.dec.x1 ? E_OK : E_BADEND;     /* the last 4 bytes are the flush, x1 exactly */
}

static PyObject *py_decode(PyObject *mod, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    (void)mod;
    static const char *const names[] = {"data", "shapes"};
    PyObject *slots[2], *list = NULL;
    int64_t *shapes;
    Py_ssize_t n;
    Py_buffer in;
    if (parse_args("decode", args, nargs, kwnames, names, 2, 2, slots)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (get_shapes(slots[1], &shapes, &n)) {
        PyBuffer_Release(&in);
        return NULL;
    }
    list = PyList_New(n);
    for (Py_ssize_t i = 0; list && i < n; i++) {
        PyObject *b = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)(shapes[2 * i] * shapes[2 * i + 1] * 4));
        if (b) PyList_SET_ITEM(list, i, b);
        else Py_CLEAR(list);
    }
    CErr e = list ? decode_into(&in, shapes, n, list) : E_OK;
    if (e != E_OK) {
        Py_CLEAR(list);
        PyErr_SetString(IkcoderError, e == E_TRUNCATED  ? "imgkan: entropy-coded data is truncated"
                                      : e == E_TRAILING ? "imgkan: entropy-coded data has trailing bytes"
                                      : e == E_BADEND   ? "imgkan: entropy-coded data is corrupt (bad final bytes)"
                                                        : "imgkan: entropy-coded data decodes to a value out of range");
    }
    PyMem_Free(shapes);
    PyBuffer_Release(&in);
    return list;
}

#define FAST_CALL (METH_FASTCALL | METH_KEYWORDS)
static PyMethodDef methods[] = {
    {"encode", (PyCFunction)(void (*)(void))py_encode, FAST_CALL,
     "encode(planes) -> bytes\n\nCodes C-contiguous 2-D int32 buffers (values in [-32767, 32767]) as one stream."},
    {"decode", (PyCFunction)(void (*)(void))py_decode, FAST_CALL,
     "decode(data, shapes) -> list[bytearray]\n\nInverse of encode, given the (rows, cols) of every plane: each\n"
     "plane's int32 values, little-endian, row-major. Raises IkcoderError on corrupt data."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "everybit.imgkan._ikcoder",
                                    "imgkan entropy coder core.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__ikcoder(void) {
    init_tables();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    IkcoderError = new_corrupt_error("everybit.imgkan.coder.IkcoderError",
                                     "Raised when imgkan's entropy-coded data is corrupt.");
    if (!IkcoderError || PyModule_AddObjectRef(m, "IkcoderError", IkcoderError) < 0 ||
        PyModule_AddIntConstant(m, "MAX_ABS", MAX_ABS) < 0 || PyModule_AddIntConstant(m, "MAX_DIM", (long)MAX_DIM) < 0 ||
        PyModule_AddIntConstant(m, "MAX_CELLS", (long)MAX_CELLS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_PLANES", (long)MAX_PLANES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

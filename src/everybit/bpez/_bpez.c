/* Byte-pair substitution: the BPE pre-pass of bpez and its inverse, as a CPython extension.
 *
 * pair_encode repeatedly replaces the most frequent adjacent byte pair by a byte value absent from
 * the block (lowest first). Pair counts are kept up to date around each replaced occurrence, never
 * recounted. Each pass replaces a batch of frequent pairs that share no byte value: their occurrences
 * cannot overlap, so one scan does the work of several greedy cycles with the same result order.
 * It stops when no free byte is left, no pair occurs min_count times, or the order-0 entropy estimate
 * of the block (symbol bits + 24 bits per table entry) stops falling.
 *
 * pair_decode rebuilds each final byte value's expansion from the table (a byte value may be reused
 * once it has vanished from the block, so meanings are tracked through time) and expands the block
 * in one pass, checking every write against the declared size.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_glue.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CYCLES 255
#define BATCH 32      /* pairs replaced per pass at most */
#define CANDIDATES 128 /* best pairs considered per pass */
#define FLAT 32       /* expansions up to this long are copied from a table */
#define GIL_THRESHOLD 8192

typedef struct {
    uint32_t pair[65536];
    uint64_t byte[256];
    uint16_t lut[65536]; /* replacement + 1 for the pairs of the current pass, else 0 */
    uint8_t first[256];  /* a byte value that starts a pair of the current pass */
} State;

static void count_all(State *st, const uint8_t *buf, size_t n) {
    memset(st->pair, 0, sizeof st->pair);
    memset(st->byte, 0, sizeof st->byte);
    for (size_t i = 0; i < n; i++) st->byte[buf[i]]++;
    for (size_t i = 0; i + 1 < n; i++) st->pair[(unsigned)buf[i] << 8 | buf[i + 1]]++;
}

/* Bits to code the block with an order-0 model, plus 24 per table entry: what the stop rule
 * minimises. `delta` (optional) applies a planned pass: pair counts stand in for replacements. */
static double entropy_bits(const State *st, unsigned cycles, const uint16_t *pairs, const uint8_t *reps, int npairs) {
    int64_t cnt[256];
    int64_t n = 0;
    for (int s = 0; s < 256; s++) cnt[s] = (int64_t)st->byte[s];
    for (int k = 0; k < npairs; k++) {
        int64_t c = st->pair[pairs[k]];
        if (pairs[k] >> 8 == (pairs[k] & 255)) c /= 2; /* a run of n equal bytes holds n-1 pairs, n/2 replaceable */
        cnt[pairs[k] >> 8] -= c;
        cnt[pairs[k] & 255] -= c;
        cnt[reps[k]] += c;
    }
    for (int s = 0; s < 256; s++) n += cnt[s] > 0 ? cnt[s] : 0;
    double bits = 0;
    for (int s = 0; s < 256; s++)
        if (cnt[s] > 0) bits += (double)cnt[s] * log2((double)n / (double)cnt[s]);
    return bits + 24.0 * (cycles + (unsigned)npairs);
}

typedef struct {
    uint32_t count;
    uint16_t pair;
} Cand;

/* Up to `want` pairs with count >= min_count and pairwise disjoint byte values, best first. */
static int choose_pairs(const State *st, uint32_t min_count, int want, uint16_t *out) {
    Cand top[CANDIDATES];
    int ntop = 0;
    for (uint32_t p = 0; p < 65536; p++) {
        uint32_t c = st->pair[p];
        if (c < min_count || (ntop == CANDIDATES && c <= top[ntop - 1].count)) continue;
        int k = ntop < CANDIDATES ? ntop++ : CANDIDATES - 1;
        while (k > 0 && top[k - 1].count < c) { top[k] = top[k - 1]; k--; }
        top[k].count = c;
        top[k].pair = (uint16_t)p;
    }
    uint8_t taken[256] = {0};
    int got = 0;
    for (int k = 0; k < ntop && got < want; k++) {
        unsigned a = top[k].pair >> 8, b = top[k].pair & 255;
        if (taken[a] || taken[b]) continue;
        taken[a] = taken[b] = 1;
        out[got++] = top[k].pair;
    }
    return got;
}

/* One pass: replaces every chosen pair (lut) left to right in place; returns the new length. */
static size_t replace_pass(State *st, uint8_t *buf, size_t n) {
    size_t i = 0, j = 0;
    while (i + 1 < n) {
        uint8_t a = buf[i];
        unsigned r;
        if (!st->first[a] || !(r = st->lut[(unsigned)a << 8 | buf[i + 1]])) {
            buf[j++] = a;
            i++;
            continue;
        }
        uint8_t b = buf[i + 1], rep = (uint8_t)(r - 1);
        /* pairs around the occurrence: (prev, a) (a, b) (b, next) become (prev, rep) (rep, next) */
        if (j > 0) {
            unsigned prev = buf[j - 1];
            st->pair[prev << 8 | a]--;
            st->pair[prev << 8 | rep]++;
        }
        st->pair[(unsigned)a << 8 | b]--;
        if (i + 2 < n) {
            unsigned next = buf[i + 2];
            st->pair[(unsigned)b << 8 | next]--;
            st->pair[(unsigned)rep << 8 | next]++;
        }
        st->byte[a]--;
        st->byte[b]--;
        st->byte[rep]++;
        buf[j++] = rep;
        i += 2;
    }
    if (i < n) buf[j++] = buf[i];
    return j;
}

/* Runs the cycles on buf (modified in place); fills table (3 bytes a cycle); returns the cycle count
 * and sets *len to the new length. */
static unsigned encode(State *st, uint8_t *buf, size_t *len, unsigned max_cycles, uint32_t min_count,
                       uint8_t *table) {
    size_t n = *len;
    unsigned cycles = 0;
    count_all(st, buf, n);
    memset(st->lut, 0, sizeof st->lut);
    memset(st->first, 0, sizeof st->first);
    double best = entropy_bits(st, 0, NULL, NULL, 0);
    while (cycles < max_cycles) {
        uint8_t free_bytes[256];
        int nfree = 0;
        for (int s = 0; s < 256; s++)
            if (!st->byte[s]) free_bytes[nfree++] = (uint8_t)s;
        int want = (int)(max_cycles - cycles);
        if (want > nfree) want = nfree;
        if (want > BATCH) want = BATCH;
        uint16_t chosen[BATCH];
        int got = want ? choose_pairs(st, min_count, want, chosen) : 0;
        if (!got) break;
        /* stop before a pass that would not lower the estimate (its pair counts predict its effect) */
        double bits = entropy_bits(st, cycles, chosen, free_bytes, got);
        if (bits >= best) break;
        best = bits;
        for (int k = 0; k < got; k++) {
            unsigned p = chosen[k];
            st->lut[p] = (uint16_t)(free_bytes[k] + 1);
            st->first[p >> 8] = 1;
            uint8_t *t = table + 3 * (cycles + (unsigned)k);
            t[0] = (uint8_t)(p >> 8);
            t[1] = (uint8_t)p;
            t[2] = free_bytes[k];
        }
        n = replace_pass(st, buf, n);
        for (int k = 0; k < got; k++) {
            st->lut[chosen[k]] = 0;
            st->first[chosen[k] >> 8] = 0;
        }
        cycles += (unsigned)got;
    }
    *len = n;
    return cycles;
}

/* ---------------------------------------------------------------- decoder */

typedef struct {
    uint16_t left[256 + MAX_CYCLES], right[256 + MAX_CYCLES];
    uint64_t len[256 + MAX_CYCLES];
    uint16_t cur[256];         /* node each byte value stands for at the end */
    uint8_t flat[256][FLAT];   /* expansions of the final byte values, when short */
} Tree;

/* Expands node into op (room checked by the caller: len[node] <= oend - op). */
static uint8_t *expand(const Tree *t, unsigned node, uint8_t *op) {
    uint16_t stack[256 + MAX_CYCLES];
    int sp = 0;
    stack[sp++] = (uint16_t)node;
    while (sp) {
        unsigned x = stack[--sp];
        while (x >= 256) {             /* walk left, leaving right children for later */
            stack[sp++] = t->right[x];
            x = t->left[x];
        }
        *op++ = (uint8_t)x;
    }
    return op;
}

/* Returns 0, or -1 if the output would not be exactly size bytes. */
static int decode(Tree *t, const uint8_t *table, unsigned cycles, const uint8_t *src, size_t n, uint8_t *dst,
                  size_t size, size_t *fail_at) {
    /* Lengths saturate at `cap` (doubling 255 times would overflow): a saturated length is above both the
     * room for output and FLAT, so it fails the room check below and is never copied from flat[]. */
    const uint64_t cap = (size > FLAT ? (uint64_t)size : FLAT) + 1;
    for (unsigned s = 0; s < 256; s++) { t->cur[s] = (uint16_t)s; t->len[s] = 1; }
    for (unsigned k = 0; k < cycles; k++) {
        const uint8_t *e = table + 3 * k;
        unsigned node = 256 + k;
        t->left[node] = t->cur[e[0]];
        t->right[node] = t->cur[e[1]];
        uint64_t l = t->len[t->left[node]] + t->len[t->right[node]];
        t->len[node] = l > cap ? cap : l;
        t->cur[e[2]] = (uint16_t)node;
    }
    for (unsigned s = 0; s < 256; s++)
        if (t->len[t->cur[s]] <= FLAT) expand(t, t->cur[s], t->flat[s]);
    uint8_t *op = dst, *oend = dst + size;
    for (size_t i = 0; i < n; i++) {
        unsigned node = t->cur[src[i]];
        uint64_t l = t->len[node];
        if (l > (uint64_t)(oend - op)) { *fail_at = i; return -1; }
        if (l <= FLAT) {
            if (oend - op >= FLAT) memcpy(op, t->flat[src[i]], FLAT); /* wild: room checked */
            else memcpy(op, t->flat[src[i]], (size_t)l);
            op += l;
        } else {
            op = expand(t, node, op);
        }
    }
    if (op != oend) { *fail_at = n; return -1; }
    return 0;
}

/* ---------------------------------------------------------------- Python glue */

static PyObject *BPEZError;

static PyObject *py_pair_encode(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *names[] = {"data", "max_cycles", "min_count", NULL};
    Py_buffer in;
    unsigned max_cycles = MAX_CYCLES, min_count = 3;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|II", names, &in, &max_cycles, &min_count)) return NULL;
    if (max_cycles > MAX_CYCLES) max_cycles = MAX_CYCLES;
    if (min_count < 2) min_count = 2; /* a pair seen once cannot pay for its table entry */
    /* The block is rewritten in a private copy (the caller's buffer may change once released), then the
     * shorter result is copied into a bytes object of its exact size. */
    size_t n = (size_t)in.len;
    uint8_t *p = malloc(n ? n : 1);
    State *st = p ? malloc(sizeof(State)) : NULL;
    if (p) memcpy(p, in.buf, n);
    PyBuffer_Release(&in);
    if (!st) {
        free(p);
        return PyErr_NoMemory();
    }
    uint8_t table[3 * MAX_CYCLES];
    unsigned cycles;
    if (n >= GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        cycles = encode(st, p, &n, max_cycles, min_count, table);
        Py_END_ALLOW_THREADS
    } else {
        cycles = encode(st, p, &n, max_cycles, min_count, table);
    }
    free(st);
    PyObject *res = Py_BuildValue("(y#y#)", (const char *)p, (Py_ssize_t)n, (const char *)table,
                                  3 * (Py_ssize_t)cycles);
    free(p);
    return res;
}

static PyObject *py_pair_decode(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kw) {
    static char *names[] = {"data", "table", "size", NULL};
    Py_buffer in, tab;
    Py_ssize_t size;
    PyObject *out = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*y*n", names, &in, &tab, &size)) return NULL;
    if (tab.len % 3 || tab.len / 3 > MAX_CYCLES) {
        PyErr_Format(BPEZError, "bad cycle table: %zd bytes (3 per cycle, at most %d cycles)", tab.len, MAX_CYCLES);
    } else if (size < 0) {
        PyErr_SetString(PyExc_ValueError, "size must be >= 0");
    } else if ((out = PyBytes_FromStringAndSize(NULL, size)) != NULL) {
        Tree *t = malloc(sizeof(Tree));
        size_t fail_at = 0;
        int rc = -2;
        if (t) {
            Py_BEGIN_ALLOW_THREADS
            rc = decode(t, tab.buf, (unsigned)(tab.len / 3), in.buf, (size_t)in.len, (uint8_t *)PyBytes_AS_STRING(out),
                        (size_t)size, &fail_at);
            Py_END_ALLOW_THREADS
            free(t);
        }
        if (rc) {
            Py_CLEAR(out);
            if (rc == -2) PyErr_NoMemory();
            else if (fail_at < (size_t)in.len)
                PyErr_Format(BPEZError, "pair expansion overruns the block size %zd at symbol %zu", size, fail_at);
            else
                PyErr_Format(BPEZError, "pair expansion gives fewer bytes than the block size %zd", size);
        }
    }
    PyBuffer_Release(&tab);
    PyBuffer_Release(&in);
    return out;
}

static PyMethodDef methods[] = {
    {"pair_encode", (PyCFunction)(void (*)(void))py_pair_encode, METH_VARARGS | METH_KEYWORDS,
     "pair_encode(data, max_cycles=255, min_count=3) -> (encoded, table)\n\n"
     "Replaces frequent byte pairs by unused byte values; table holds 3 bytes per cycle\n"
     "(pair high, pair low, replacement) in the order applied."},
    {"pair_decode", (PyCFunction)(void (*)(void))py_pair_decode, METH_VARARGS | METH_KEYWORDS,
     "pair_decode(data, table, size) -> bytes\n\nUndoes pair_encode; the result must be exactly size bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "everybit.bpez._bpez", "BPE pair substitution core.", -1,
                                    methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__bpez(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    BPEZError = new_corrupt_error("everybit.bpez.BPEZError", "Raised for any bpez decoding failure.");
    if (!BPEZError || PyModule_AddObjectRef(m, "BPEZError", BPEZError) < 0 ||
        PyModule_AddIntConstant(m, "MAX_CYCLES", MAX_CYCLES) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

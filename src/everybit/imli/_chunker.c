/* Content-defined fragmenter that cuts files exactly where zpaq 7.15 does (see docs/imli-notes.md).
 *
 * Per fragment the state is: a 32-bit hash h, the previous byte c1, an order-1 table o1[256]
 * (o1[prev] = the byte that last followed prev), the number of bytes o1 predicted correctly, and
 * the fragment length. For each byte c:
 *     h = (h + c + 1) * (c == o1[c1] ? 314159265 : 271828182)   (mod 2^32)
 *     o1[c1] = c; c1 = c
 * and the fragment ends after c when  len >= max  or  (len >= min and h < limit).
 * Everything is reset to zero when a fragment ends, and at the start of every file. The end of a
 * file always ends a fragment, which is empty when the file is empty or its last byte closed one.
 *
 * The same pass collects zpaq's per-fragment statistics (redundancy estimate, text and x86 flags and
 * the final o1 table) that decide how a block of fragments gets compressed.
 *
 * A Chunker object carries the state between calls, so a file can be fed in pieces of any size and
 * the cuts are the same as for the whole file at once. Calls on more than GIL_THRESHOLD bytes run
 * with the GIL released; a Chunker refuses to be used by two threads at the same time (busy_enter).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_glue.h"
#include <stdint.h>
#include <string.h>

#define GIL_THRESHOLD 65536
#define MUL_HIT 314159265u
#define MUL_MISS 271828182u
#define O1_HISTORY 4 /* zpaq keeps the o1 tables of the last 4 full-size fragments of a block */
/* The largest max_size: zpaq's largest block (2^31 - 4096 bytes, -method x11) holds its largest
 * fragment, and up to 2^31 every statistic of analyze() fits its type: counts in uint32, and the
 * square of test 2 (up to max_size^2) in int64, which overflows from about 3.04e9. */
#define MAX_FRAGMENT ((uint64_t)1 << 31)

/* zpaq's weight table: 32768 / ((i + 1) * 204), which is 0 from i = 160 on. */
static unsigned char weight[256];

typedef struct {
    uint32_t h;
    uint32_t hits;
    uint64_t len;
    uint8_t c1;
    uint8_t o1[256];
} FragState;

typedef struct {
    PyObject_HEAD
    FragState st;
    uint64_t min_size, max_size;
    uint32_t limit; /* cut when h < limit; 0 = only size cuts */
    int busy;
} ChunkerObject;

/* One finished fragment: where it ends in the current piece and its statistics. */
typedef struct {
    Py_ssize_t end;
    uint64_t len;
    uint32_t hits;
    uint8_t o1[256];
} Cut;

static inline void reset(FragState *s) {
    s->h = 0;
    s->hits = 0;
    s->len = 0;
    s->c1 = 0;
    memset(s->o1, 0, sizeof s->o1);
}

/* Scan p[0..n). Store every fragment end in cuts (growing it as needed, without the GIL). Returns the
 * number of cuts or -1 when out of memory. */
static Py_ssize_t scan(ChunkerObject *self, const uint8_t *p, Py_ssize_t n, Cut **cuts,
                       Py_ssize_t *cap, int want_stats) {
    FragState *s = &self->st;
    const uint64_t min_size = self->min_size, max_size = self->max_size;
    const uint32_t limit = self->limit;
    uint32_t h = s->h, hits = s->hits;
    uint64_t len = s->len;
    uint8_t c1 = s->c1;
    Py_ssize_t ncut = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t c = p[i];
        if (c == s->o1[c1]) {
            h = (h + c + 1u) * MUL_HIT;
            hits++;
        } else {
            h = (h + c + 1u) * MUL_MISS;
        }
        s->o1[c1] = c;
        c1 = c;
        len++;
        if (len >= max_size || (h < limit && len >= min_size)) {
            if (ncut == *cap) {
                Py_ssize_t ncap = *cap ? *cap * 2 : 64;
                Cut *nc = (Cut *)realloc(*cuts, (size_t)ncap * sizeof(Cut));
                if (!nc) return -1;
                *cuts = nc;
                *cap = ncap;
            }
            Cut *k = &(*cuts)[ncut++];
            k->end = i + 1;
            k->len = len;
            k->hits = hits;
            if (want_stats) memcpy(k->o1, s->o1, 256);
            h = hits = 0;
            len = 0;
            c1 = 0;
            memset(s->o1, 0, sizeof s->o1);
        }
    }
    s->h = h;
    s->hits = hits;
    s->len = len;
    s->c1 = c1;
    return ncut;
}

/* zpaq's fragment analysis, tests 1-3 and the text/x86 flags (see add() in zpaq.cpp). Test 4 needs
 * the o1 tables of earlier fragments in the block and is done by o1_match(). */
static void analyze(const uint8_t *o1, uint64_t len, uint32_t hits, uint32_t *hits_out, int *text_out,
                    int *exe_out) {
    const int64_t sz = (int64_t)len;
    int64_t h1 = sz;
    unsigned char count[256] = {0};
    int text = 0, exe = 0;
    for (int i = 0; i < 256; i++) {
        const int v = o1[i];
        if (count[v] < 255) h1 -= (sz * weight[count[v]++]) >> 15;
        if (v == ' ' && ((i >= '0' && i <= '9') || (i >= 'A' && i <= 'Z') || (i >= 'a' && i <= 'z') ||
                         i == '.' || i == ','))
            text++;
        if (v && (i < 9 || i == 11 || i == 12 || (i >= 14 && i <= 31) || i >= 240)) text--;
        if (i >= 192 && i < 240 && v && (v < 128 || v >= 192)) text--;
        if (v == 139) exe++;
    }
    if (sz > 0) h1 = h1 * h1 / sz; /* test 2: spread of the o1 predictions (|h1| <= sz <= MAX_FRAGMENT) */
    uint32_t best = hits;             /* test 1: correct o1 predictions */
    if ((uint32_t)h1 > best) best = (uint32_t)h1;
    const uint32_t t3 = (uint32_t)(count[0] * sz / 256); /* test 3: contexts never seen / predicting 0 */
    if (t3 > best) best = t3;
    *hits_out = best;
    *text_out = text >= 3;
    *exe_out = exe >= 5;
}

static PyObject *cut_tuple(const Cut *k, Py_ssize_t end) {
    uint32_t hits;
    int text, exe;
    analyze(k->o1, k->len, k->hits, &hits, &text, &exe);
    return Py_BuildValue("(nKIiiy#)", end, (unsigned long long)k->len, hits, text, exe,
                         (const char *)k->o1, (Py_ssize_t)256);
}

/* ------------------------------------------------------------------ Chunker type */

static int Chunker_init(ChunkerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"min_size", "max_size", "limit", NULL};
    unsigned long long min_size = 4096, max_size = 520192, limit = 65536;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|KKK:Chunker", kwlist, &min_size, &max_size, &limit))
        return -1;
    if (max_size < 1 || max_size > MAX_FRAGMENT || min_size > max_size || limit > 0xffffffffull) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= max_size <= 2**31, min_size <= max_size, limit < 2**32");
        return -1;
    }
    if (busy_enter(&self->busy, "Chunker")) return -1; /* __init__ again, while another thread cuts */
    self->min_size = min_size;
    self->max_size = max_size;
    self->limit = (uint32_t)limit;
    reset(&self->st);
    busy_leave(&self->busy);
    return 0;
}

static PyObject *Chunker_cut(ChunkerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"data", "stats", NULL};
    Py_buffer buf;
    int want_stats = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|p:cut", kwlist, &buf, &want_stats)) return NULL;
    if (busy_enter(&self->busy, "Chunker")) {
        PyBuffer_Release(&buf);
        return NULL;
    }
    Cut *cuts = NULL;
    Py_ssize_t cap = 0, n;
    if (buf.len > GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        n = scan(self, (const uint8_t *)buf.buf, buf.len, &cuts, &cap, want_stats);
        Py_END_ALLOW_THREADS
    } else {
        n = scan(self, (const uint8_t *)buf.buf, buf.len, &cuts, &cap, want_stats);
    }
    busy_leave(&self->busy);
    PyBuffer_Release(&buf);
    if (n < 0) {
        free(cuts);
        return PyErr_NoMemory();
    }
    PyObject *list = PyList_New(n);
    if (!list) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = want_stats ? cut_tuple(&cuts[i], cuts[i].end) : PyLong_FromSsize_t(cuts[i].end);
        if (!item) {
            Py_DECREF(list);
            goto fail;
        }
        PyList_SET_ITEM(list, i, item);
    }
    free(cuts);
    return list;
fail:
    free(cuts);
    return NULL;
}

static PyObject *Chunker_finish(ChunkerObject *self, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"stats", NULL};
    int want_stats = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:finish", kwlist, &want_stats)) return NULL;
    if (busy_enter(&self->busy, "Chunker")) return NULL;
    PyObject *res;
    if (want_stats) {
        Cut k;
        k.end = 0;
        k.len = self->st.len;
        k.hits = self->st.hits;
        memcpy(k.o1, self->st.o1, 256);
        res = cut_tuple(&k, (Py_ssize_t)self->st.len);
    } else {
        res = PyLong_FromUnsignedLongLong(self->st.len);
    }
    reset(&self->st);
    busy_leave(&self->busy);
    return res;
}

static PyObject *Chunker_pending(ChunkerObject *self, void *closure) {
    (void)closure;
    if (busy_enter(&self->busy, "Chunker")) return NULL; /* cut() may be changing it without the GIL */
    uint64_t len = self->st.len;
    busy_leave(&self->busy);
    return PyLong_FromUnsignedLongLong(len);
}

static PyObject *Chunker_get_min(ChunkerObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->min_size);
}

static PyObject *Chunker_get_max(ChunkerObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLongLong(self->max_size);
}

static PyObject *Chunker_get_limit(ChunkerObject *self, void *closure) {
    (void)closure;
    return PyLong_FromUnsignedLong(self->limit);
}

static PyMethodDef Chunker_methods[] = {
    {"cut", (PyCFunction)(void (*)(void))Chunker_cut, METH_VARARGS | METH_KEYWORDS,
     "cut(data, stats=False) -> list\n\n"
     "Feed the next piece of the current file. Returns the end offsets (relative to this piece) of\n"
     "the fragments that end inside it; with stats=True, tuples\n"
     "(end, size, hits, text, exe, o1) instead (see docs/imli-notes.md)."},
    {"finish", (PyCFunction)(void (*)(void))Chunker_finish, METH_VARARGS | METH_KEYWORDS,
     "finish(stats=False) -> int | tuple\n\n"
     "End of file: the last fragment ends here (it may be empty). Returns its size, or with\n"
     "stats=True the tuple (size, size, hits, text, exe, o1). Resets the state for the next file."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Chunker_getset[] = {
    {"pending", (getter)Chunker_pending, NULL, "bytes of the current, unfinished fragment", NULL},
    {"min_size", (getter)Chunker_get_min, NULL, "minimum fragment size for a hash cut", NULL},
    {"max_size", (getter)Chunker_get_max, NULL, "maximum fragment size", NULL},
    {"limit", (getter)Chunker_get_limit, NULL, "a fragment may end where the hash is below this", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ChunkerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "everybit.imli._chunker.Chunker",
    .tp_basicsize = sizeof(ChunkerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Chunker(min_size=4096, max_size=520192, limit=65536)\n\n"
              "Streaming zpaq 7.15 fragmenter for one file at a time (max_size at most 2**31).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Chunker_init,
    .tp_methods = Chunker_methods,
    .tp_getset = Chunker_getset,
};

/* ------------------------------------------------------------------ module functions */

/* o1_match(history, o1) -> (equal, equal_nonzero): history is the concatenated o1 tables of up to
 * four earlier fragments (1024 bytes, zero-filled), compared position by position with o1 repeated. */
static PyObject *o1_match(PyObject *mod, PyObject *args) {
    (void)mod;
    Py_buffer hist, o1;
    if (!PyArg_ParseTuple(args, "y*y*:o1_match", &hist, &o1)) return NULL;
    PyObject *res = NULL;
    if (hist.len != 256 * O1_HISTORY || o1.len != 256) {
        PyErr_SetString(PyExc_ValueError, "o1_match needs 1024 and 256 bytes");
    } else {
        const uint8_t *a = (const uint8_t *)hist.buf, *b = (const uint8_t *)o1.buf;
        long eq = 0, eqnz = 0;
        for (int i = 0; i < 256 * O1_HISTORY; i++) {
            if (a[i] == b[i & 255]) {
                eq++;
                if (a[i]) eqnz++;
            }
        }
        res = Py_BuildValue("(ll)", eq, eqnz);
    }
    PyBuffer_Release(&hist);
    PyBuffer_Release(&o1);
    return res;
}

static PyMethodDef module_methods[] = {
    {"o1_match", o1_match, METH_VARARGS,
     "o1_match(history: 1024 bytes, o1: 256 bytes) -> (equal, equal_nonzero)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_chunker", "zpaq 7.15 content-defined fragmenter.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__chunker(void) {
    for (int i = 0; i < 256; i++) weight[i] = (unsigned char)(32768 / ((i + 1) * 204));
    if (PyType_Ready(&ChunkerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&ChunkerType);
    if (PyModule_AddObject(m, "Chunker", (PyObject *)&ChunkerType) < 0) {
        Py_DECREF(&ChunkerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* Byte-pair merge training that continues from an existing segmentation.
 *
 * HF `tokenizers` cannot resume a trainer, and SuperBPE's second stage must continue from the first
 * stage's merges on differently pre-tokenized text. Input: every distinct pre-token ("word") already
 * segmented into symbol ids, with its count. Output: further merges, most frequent pair first, exactly
 * like a BPE trainer (ties go to the smaller (left, right) pair), with an optional cap on how many
 * whitespace-separated words a merged symbol may span.
 *
 * Bookkeeping is the usual incremental one: a count per pair, the positions where each pair starts, a
 * lazy max-heap of (count, pair). Counts of existing pairs only ever fall (a merge creates pairs with a
 * brand-new symbol), so a stale heap entry is recognised by its count and pushed again with the true one.
 *
 * merge() runs with the GIL released; a trainer refuses to be used by two threads at the same time
 * (busy_enter).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_glue.h"
#include "_portable.h"

#define NONE UINT32_MAX
#define DEAD UINT32_MAX
#define EMPTY UINT64_MAX

typedef struct {
    uint64_t key; /* left << 32 | right */
    int64_t count;
    uint32_t *at; /* positions where the pair may start (checked when used) */
    uint32_t n, cap;
} Pair;

typedef struct {
    int64_t count;
    uint64_t key;
} Entry;

/* What the word cap needs to know about a symbol: words spanned, and whether its first and last
 * characters are non-whitespace (two such symbols joined continue one word). */
typedef struct {
    uint8_t words, head_solid, tail_solid;
} Shape;

typedef struct {
    PyObject_HEAD
    uint32_t *sym, *prev, *next, *word_of;
    int64_t *wcount;
    uint32_t npos;
    Shape *shape;
    uint32_t nsym, shape_cap;
    Pair *pairs;
    uint32_t npairs, pairs_cap;
    uint32_t *table; /* open addressing: index into pairs, NONE when free */
    uint64_t table_mask;
    Entry *heap;
    size_t nheap, heap_cap;
    uint32_t *touched; /* pairs created by the current merge */
    size_t ntouched, touched_cap;
    int max_words;
    int64_t min_frequency;
    int ready;
    int busy; /* busy_enter */
} Trainer;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

static int grow(void **buf, size_t *cap, size_t need, size_t item) {
    if (need <= *cap) return 0;
    size_t cap2 = *cap ? *cap : 16;
    while (cap2 < need) cap2 *= 2;
    void *p = realloc(*buf, cap2 * item);
    if (!p) return -1;
    *buf = p;
    *cap = cap2;
    return 0;
}

static int rehash(Trainer *t) {
    uint64_t size = (t->table_mask + 1) * 2;
    uint32_t *table = malloc(size * sizeof *table);
    if (!table) return -1;
    memset(table, 0xff, size * sizeof *table);
    for (uint32_t i = 0; i < t->npairs; i++) {
        uint64_t h = mix(t->pairs[i].key) & (size - 1);
        while (table[h] != NONE) h = (h + 1) & (size - 1);
        table[h] = i;
    }
    free(t->table);
    t->table = table;
    t->table_mask = size - 1;
    return 0;
}

/* The pair's index, created with count 0 when absent; NONE on allocation failure. */
static uint32_t pair_of(Trainer *t, uint32_t left, uint32_t right) {
    uint64_t key = (uint64_t)left << 32 | right;
    uint64_t h = mix(key) & t->table_mask;
    for (;; h = (h + 1) & t->table_mask) {
        uint32_t i = t->table[h];
        if (i == NONE) break;
        if (t->pairs[i].key == key) return i;
    }
    if ((uint64_t)(t->npairs + 1) * 2 > t->table_mask) {
        if (rehash(t) < 0) return NONE;
        return pair_of(t, left, right);
    }
    size_t cap = t->pairs_cap;
    if (grow((void **)&t->pairs, &cap, (size_t)t->npairs + 1, sizeof(Pair)) < 0) return NONE;
    t->pairs_cap = (uint32_t)cap;
    Pair *p = &t->pairs[t->npairs];
    p->key = key;
    p->count = 0;
    p->at = NULL;
    p->n = p->cap = 0;
    t->table[h] = t->npairs;
    return t->npairs++;
}

static int allowed(const Trainer *t, uint32_t left, uint32_t right) {
    if (t->max_words <= 0) return 1;
    const Shape *a = &t->shape[left], *b = &t->shape[right];
    int words = a->words + b->words - (a->tail_solid && b->head_solid);
    return words <= t->max_words;
}

/* Counts one more (or, with a negative weight, one fewer) occurrence of (left, right) at pos. */
static int add_pair(Trainer *t, uint32_t left, uint32_t right, uint32_t pos, int64_t weight) {
    if (!allowed(t, left, right)) return 0;
    uint32_t i = pair_of(t, left, right);
    if (i == NONE) return -1;
    Pair *p = &t->pairs[i];
    p->count += weight;
    if (weight > 0) {
        size_t cap = p->cap;
        if (grow((void **)&p->at, &cap, (size_t)p->n + 1, sizeof(uint32_t)) < 0) return -1;
        p->cap = (uint32_t)cap;
        p->at[p->n++] = pos;
    }
    return 0;
}

static int better(const Entry *a, const Entry *b) {
    return a->count > b->count || (a->count == b->count && a->key < b->key);
}

static int heap_push(Trainer *t, int64_t count, uint64_t key) {
    if (grow((void **)&t->heap, &t->heap_cap, t->nheap + 1, sizeof(Entry)) < 0) return -1;
    size_t i = t->nheap++;
    Entry e = {count, key};
    while (i > 0 && better(&e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = e;
    return 0;
}

static Entry heap_pop(Trainer *t) {
    Entry top = t->heap[0], last = t->heap[--t->nheap];
    size_t i = 0, n = t->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && better(&t->heap[c + 1], &t->heap[c])) c++;
        if (!better(&t->heap[c], &last)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n) t->heap[i] = last;
    return top;
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static int touch(Trainer *t, uint32_t left, uint32_t right) {
    if (!allowed(t, left, right)) return 0;
    uint32_t i = pair_of(t, left, right);
    if (i == NONE) return -1;
    if (grow((void **)&t->touched, &t->touched_cap, t->ntouched + 1, sizeof(uint32_t)) < 0) return -1;
    t->touched[t->ntouched++] = i;
    return 0;
}

/* Replaces every live occurrence of pair `pi` by the new symbol `x`; returns -1 when out of memory. */
static int apply_merge(Trainer *t, uint32_t pi, uint32_t x) {
    uint32_t a = (uint32_t)(t->pairs[pi].key >> 32), b = (uint32_t)t->pairs[pi].key;
    uint32_t *at = t->pairs[pi].at, n = t->pairs[pi].n;
    t->pairs[pi].at = NULL; /* occurrences of a merged pair are never needed again */
    t->pairs[pi].n = t->pairs[pi].cap = 0;
    qsort(at, n, sizeof *at, cmp_u32); /* left to right, as an encoder merges overlapping runs */
    t->ntouched = 0;
    int rc = 0;
    for (uint32_t k = 0; k < n && rc == 0; k++) {
        uint32_t p = at[k];
        if (t->sym[p] != a) continue;
        uint32_t q = t->next[p];
        if (q == NONE || t->sym[q] != b) continue;
        int64_t w = t->wcount[t->word_of[p]];
        uint32_t left = t->prev[p], right = t->next[q];
        t->pairs[pi].count -= w;
        if (left != NONE) {
            rc |= add_pair(t, t->sym[left], a, left, -w);
            rc |= add_pair(t, t->sym[left], x, left, w);
            rc |= touch(t, t->sym[left], x);
        }
        if (right != NONE) {
            rc |= add_pair(t, b, t->sym[right], q, -w);
            rc |= add_pair(t, x, t->sym[right], p, w);
            rc |= touch(t, x, t->sym[right]);
        }
        t->sym[p] = x;
        t->next[p] = right;
        if (right != NONE) t->prev[right] = p;
        t->sym[q] = DEAD;
    }
    free(at);
    for (size_t k = 0; k < t->ntouched && rc == 0; k++) {
        Pair *p = &t->pairs[t->touched[k]];
        if (p->count >= t->min_frequency) rc = heap_push(t, p->count, p->key);
    }
    return rc;
}

static int add_symbol(Trainer *t, uint32_t a, uint32_t b) {
    size_t cap = t->shape_cap;
    if (grow((void **)&t->shape, &cap, (size_t)t->nsym + 1, sizeof(Shape)) < 0) return -1;
    t->shape_cap = (uint32_t)cap;
    Shape sa = t->shape[a], sb = t->shape[b];
    Shape s = {(uint8_t)(sa.words + sb.words - (sa.tail_solid && sb.head_solid)), sa.head_solid,
               sb.tail_solid};
    t->shape[t->nsym++] = s;
    return 0;
}

/* ------------------------------------------------------------------ Python type */

/* Frees every table and zeroes the state (the Python header and the busy flag stay). */
static void trainer_clear(Trainer *t) {
    free(t->sym);
    free(t->prev);
    free(t->next);
    free(t->word_of);
    free(t->wcount);
    free(t->shape);
    for (uint32_t i = 0; i < t->npairs; i++) free(t->pairs[i].at);
    free(t->pairs);
    free(t->table);
    free(t->heap);
    free(t->touched);
    int busy = t->busy;
    memset((char *)t + sizeof(PyObject), 0, sizeof(Trainer) - sizeof(PyObject));
    t->busy = busy;
}

static void Trainer_dealloc(Trainer *t) {
    trainer_clear(t);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t item, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) return -1;
    if (view->len % item) {
        PyBuffer_Release(view);
        PyErr_Format(PyExc_ValueError, "%s: length %zd is not a multiple of %zd", what, view->len, item);
        return -1;
    }
    return 0;
}

/* Fills positions, links and the initial pair counts; -1 with an exception set on failure. The arrays are
 * the caller's buffers, which may start at any address: read with load_*, never through a cast pointer. */
static int load(Trainer *t, const uint8_t *syms, const uint8_t *ends, const uint8_t *counts, size_t nwords) {
    size_t n = t->npos;
    t->sym = malloc(n * sizeof(uint32_t) + 1);
    t->prev = malloc(n * sizeof(uint32_t) + 1);
    t->next = malloc(n * sizeof(uint32_t) + 1);
    t->word_of = malloc(n * sizeof(uint32_t) + 1);
    t->wcount = malloc(nwords * sizeof(int64_t) + 1);
    t->table = malloc(1024 * sizeof(uint32_t));
    if (!t->sym || !t->prev || !t->next || !t->word_of || !t->wcount || !t->table) goto nomem;
    memset(t->table, 0xff, 1024 * sizeof(uint32_t));
    t->table_mask = 1023;
    int64_t start = 0, total = 0; /* total: every pair occurrence weighted by its word count */
    for (size_t w = 0; w < nwords; w++) {
        int64_t end = load_i64(ends + 8 * w), count = load_i64(counts + 8 * w);
        if (end < start || end > (int64_t)n || count < 0) {
            PyErr_SetString(PyExc_ValueError, "word ends must be non-decreasing and counts >= 0");
            return -1;
        }
        /* no pair count can exceed the total, so it must fit int64 */
        int64_t npairs = end - start - 1;
        if (npairs > 0 && count > (INT64_MAX - total) / npairs) {
            PyErr_SetString(PyExc_ValueError, "counts too large: pair counts would overflow int64");
            return -1;
        }
        if (npairs > 0) total += count * npairs;
        t->wcount[w] = count;
        uint32_t left = 0;
        for (int64_t p = start; p < end; p++) {
            uint32_t sym = load_u32(syms + 4 * p);
            if (sym >= t->nsym) {
                PyErr_Format(PyExc_ValueError, "symbol %u at %lld is not below %u", sym, (long long)p, t->nsym);
                return -1;
            }
            t->sym[p] = sym;
            t->word_of[p] = (uint32_t)w;
            t->prev[p] = p > start ? (uint32_t)p - 1 : NONE;
            t->next[p] = p + 1 < end ? (uint32_t)p + 1 : NONE;
            if (p > start && add_pair(t, left, sym, (uint32_t)p - 1, count) < 0) goto nomem;
            left = sym;
        }
        start = end;
    }
    if (start != (int64_t)n) {
        PyErr_SetString(PyExc_ValueError, "the last word end must equal the number of symbols");
        return -1;
    }
    for (uint32_t i = 0; i < t->npairs; i++)
        if (t->pairs[i].count >= t->min_frequency && heap_push(t, t->pairs[i].count, t->pairs[i].key) < 0)
            goto nomem;
    return 0;
nomem:
    PyErr_NoMemory();
    return -1;
}

/* A symbol whose first or last character is not a space spans at least one word. Shapes that break this
 * (as token_shape never writes) would make a merged symbol span a negative number of words. */
static int check_shapes(const Trainer *t) {
    for (uint32_t i = 0; i < t->nsym; i++) {
        const Shape *s = &t->shape[i];
        if (!s->words && (s->head_solid || s->tail_solid)) {
            PyErr_Format(PyExc_ValueError, "shape of symbol %u: a non-space first or last character needs a word",
                         i);
            return -1;
        }
    }
    return 0;
}

static int Trainer_init(Trainer *t, PyObject *args, PyObject *kw) {
    static char *kwlist[] = {"symbols", "word_ends", "counts", "shapes", "max_words", "min_frequency", NULL};
    PyObject *o_syms, *o_ends, *o_counts, *o_shapes;
    int max_words = 0;
    long long min_frequency = 2;
    if (t->ready) {
        PyErr_SetString(PyExc_RuntimeError, "MergeTrainer cannot be re-initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOO|iL:MergeTrainer", kwlist, &o_syms, &o_ends, &o_counts,
                                     &o_shapes, &max_words, &min_frequency))
        return -1;
    if (max_words < 0 || max_words > 200 || min_frequency < 1) {
        PyErr_SetString(PyExc_ValueError, "max_words must be in 0..200 and min_frequency >= 1");
        return -1;
    }
    if (busy_enter(&t->busy, "MergeTrainer")) return -1;
    trainer_clear(t); /* what an earlier, failed __init__ left */
    Py_buffer syms, ends, counts, shapes;
    int rc = -1;
    if (get_buffer(o_syms, &syms, 4, "symbols") < 0) goto fail0;
    if (get_buffer(o_ends, &ends, 8, "word_ends") < 0) goto fail1;
    if (get_buffer(o_counts, &counts, 8, "counts") < 0) goto fail2;
    if (get_buffer(o_shapes, &shapes, 3, "shapes") < 0) goto fail3;
    size_t nwords = (size_t)ends.len / 8;
    if ((size_t)counts.len / 8 != nwords) {
        PyErr_SetString(PyExc_ValueError, "word_ends and counts differ in length");
    } else if ((size_t)syms.len / 4 >= NONE || (size_t)shapes.len / 3 >= NONE / 2) {
        PyErr_SetString(PyExc_ValueError, "too many symbols for 32-bit positions");
    } else {
        t->npos = (uint32_t)(syms.len / 4);
        t->nsym = (uint32_t)(shapes.len / 3);
        t->max_words = max_words;
        t->min_frequency = min_frequency;
        size_t cap = 0;
        if (grow((void **)&t->shape, &cap, t->nsym + 1, sizeof(Shape)) < 0) {
            PyErr_NoMemory();
        } else {
            t->shape_cap = (uint32_t)cap;
            if (shapes.len) memcpy(t->shape, shapes.buf, (size_t)shapes.len);
            rc = check_shapes(t);
            if (rc == 0) rc = load(t, syms.buf, ends.buf, counts.buf, nwords);
            t->ready = rc == 0;
        }
    }
    PyBuffer_Release(&shapes);
fail3:
    PyBuffer_Release(&counts);
fail2:
    PyBuffer_Release(&ends);
fail1:
    PyBuffer_Release(&syms);
fail0:
    busy_leave(&t->busy);
    return rc;
}

/* merge(k) -> list of (left, right, count): up to k more merges; fewer when no pair reaches
 * min_frequency. Merge i creates symbol id (symbols so far + i). */
static PyObject *Trainer_merge(Trainer *t, PyObject *arg) {
    long k = PyLong_AsLong(arg);
    if (k == -1 && PyErr_Occurred()) return NULL;
    if (!t->ready) {
        PyErr_SetString(PyExc_RuntimeError, "MergeTrainer is not initialised");
        return NULL;
    }
    if (busy_enter(&t->busy, "MergeTrainer")) return NULL;
    PyObject *out = PyList_New(0);
    if (!out) goto done;
    while (k > 0 && t->nheap > 0) {
        Entry e = heap_pop(t);
        uint32_t pi = pair_of(t, (uint32_t)(e.key >> 32), (uint32_t)e.key);
        if (pi == NONE) goto nomem;
        int64_t now = t->pairs[pi].count;
        if (now != e.count) {
            if (now >= t->min_frequency && heap_push(t, now, e.key) < 0) goto nomem;
            continue;
        }
        if (t->nsym == NONE - 1) break;
        uint32_t a = (uint32_t)(e.key >> 32), b = (uint32_t)e.key, x = t->nsym;
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = add_symbol(t, a, b) || apply_merge(t, pi, x);
        Py_END_ALLOW_THREADS
        if (rc) goto nomem;
        PyObject *item = Py_BuildValue("(IIL)", a, b, (long long)e.count);
        if (!item || PyList_Append(out, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(item);
        k--;
    }
    goto done;
nomem:
    Py_CLEAR(out);
    t->ready = 0; /* state may be half updated */
    PyErr_NoMemory();
done:
    busy_leave(&t->busy);
    return out;
}

static PyObject *Trainer_symbols(Trainer *t, void *closure) {
    (void)closure;
    if (busy_enter(&t->busy, "MergeTrainer")) return NULL; /* merge() may be changing it without the GIL */
    uint32_t nsym = t->nsym;
    busy_leave(&t->busy);
    return PyLong_FromUnsignedLong(nsym);
}

static PyMethodDef Trainer_methods[] = {
    {"merge", (PyCFunction)(void (*)(void))Trainer_merge, METH_O,
     "merge(k) -> list[(left, right, count)]\n\n"
     "Up to k more merges, best first; fewer when no pair reaches min_frequency. The i-th merge\n"
     "returned creates symbol id `symbols` (read before the call) + i."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Trainer_getset[] = {
    {"symbols", (getter)Trainer_symbols, NULL, "number of symbols so far (the next merge's id)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject TrainerType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "everybit.supertok._merges.MergeTrainer",
    .tp_basicsize = sizeof(Trainer),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "MergeTrainer(symbols, word_ends, counts, shapes, max_words=0, min_frequency=2)\n\n"
              "symbols: uint32 ids of every word's segmentation, concatenated; word_ends: int64 end offset\n"
              "of each word in symbols; counts: int64 count of each word; shapes: 3 bytes per existing\n"
              "symbol (words spanned, first char non-space, last char non-space); max_words: cap on the\n"
              "words a merged symbol may span (0: none).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Trainer_init,
    .tp_dealloc = (destructor)Trainer_dealloc,
    .tp_methods = Trainer_methods,
    .tp_getset = Trainer_getset,
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_merges", "Byte-pair merge training continued from a segmentation.", -1, NULL,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__merges(void) {
    if (PyType_Ready(&TrainerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (!m) return NULL;
    Py_INCREF(&TrainerType);
    if (PyModule_AddObject(m, "MergeTrainer", (PyObject *)&TrainerType) < 0) {
        Py_DECREF(&TrainerType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

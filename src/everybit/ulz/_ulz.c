/* ULZ codec: byte-aligned LZ77 with 17-bit distances, as a CPython extension.
 *
 * Sequence format (pinned in docs/ulz-format.md):
 *   token = LLL D MMMM   LLL: literal count (7 = 7 + varint), D: bit 16 of the distance,
 *                        MMMM: match length - 4 (15 = 19 + varint)
 *   [varint] literals [varint] distance-low-16 (LE)
 * A block is a run of whole sequences (none for empty input); the last one may stop after its
 * literals, so a block never ends with an empty sequence. Varints: 7 bits per byte, little-endian
 * groups, high bit = more follows, no bias, at most 9 bytes (63 bits).
 *
 * The encoder bounds-checks its output; the decoder checks every read and write against the buffer
 * ends and never trusts a length or distance. Work that touches more than GIL_THRESHOLD bytes runs with
 * the GIL released; small calls avoid heap allocation entirely (stack hash tables).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_glue.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define MIN_MATCH 4
#define MAX_DIST 131071u /* 17 bits */
#define WINDOW_POW2 (1u << 17)
#define GIL_THRESHOLD 8192
#define STACK_WORDS 8192 /* 32 KiB of hash/chain tables live on the stack */
#define MAX_LEVEL 9
#define VARINT_MAX 9

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

static inline uint32_t load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline void copy8(uint8_t *d, const uint8_t *s) { memcpy(d, s, 8); }
static inline void copy16(uint8_t *d, const uint8_t *s) { memcpy(d, s, 16); }

static inline unsigned ceil_log2(size_t n) {
    unsigned b = 0;
    while (b < 63 && ((size_t)1 << b) < n) b++;
    return b;
}

/* ---------------------------------------------------------------- varints */

/* Bytes a varint of v takes. */
static inline size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

static inline uint8_t *put_varint(uint8_t *op, uint64_t v) {
    while (v >= 0x80) { *op++ = (uint8_t)(v | 0x80); v >>= 7; }
    *op++ = (uint8_t)v;
    return op;
}

/* Reads a varint at *ip (not past end); 0 on success, -1 if truncated or over 63 bits. */
static inline int get_varint(const uint8_t **ip, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *ip;
    uint64_t v = 0;
    for (int i = 0; i < VARINT_MAX; i++) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *ip = p; *out = v; return 0; }
    }
    return -1;
}

/* ---------------------------------------------------------------- encoder */

typedef struct {
    uint8_t *op, *oend;
} Sink;

/* Emits one sequence; returns -1 if the output buffer is too small. */
static inline int emit(Sink *s, const uint8_t *lit, size_t nlit, size_t mlen, uint32_t dist) {
    size_t need = 1 + (nlit >= 7 ? VARINT_MAX : 0) + nlit + (mlen ? VARINT_MAX + 2 : 0);
    if (UNLIKELY((size_t)(s->oend - s->op) < need)) {
        /* exact check before giving up: the varints are usually short */
        need = 1 + (nlit >= 7 ? varint_len(nlit - 7) : 0) + nlit;
        if (mlen) need += (mlen - MIN_MATCH >= 15 ? varint_len(mlen - MIN_MATCH - 15) : 0) + 2;
        if ((size_t)(s->oend - s->op) < need) return -1;
    }
    uint8_t *op = s->op;
    uint8_t *token = op++;
    uint8_t t = (uint8_t)((nlit >= 7 ? 7 : nlit) << 5);
    if (nlit >= 7) op = put_varint(op, nlit - 7);
    memcpy(op, lit, nlit);
    op += nlit;
    if (mlen) {
        size_t m = mlen - MIN_MATCH;
        t |= (uint8_t)((dist >> 12) & 16);
        if (m >= 15) { t |= 15; op = put_varint(op, m - 15); }
        else t |= (uint8_t)m;
        op[0] = (uint8_t)dist;
        op[1] = (uint8_t)(dist >> 8);
        op += 2;
    }
    *token = t;
    s->op = op;
    return 0;
}

/* Length of the common prefix of a and b, not reading b past end (a < b). */
static inline size_t match_len(const uint8_t *a, const uint8_t *b, const uint8_t *end) {
    const uint8_t *start = b;
    while (b + 8 <= end) {
        uint64_t x = load64(a) ^ load64(b);
        if (x) return (size_t)(b - start) + ((size_t)__builtin_ctzll(x) >> 3);
        a += 8; b += 8;
    }
    while (b < end && *a == *b) { a++; b++; }
    return (size_t)(b - start);
}

static inline uint32_t hash4(const uint8_t *p, unsigned bits) {
    return (load32(p) * 2654435761u) >> (32 - bits);
}

/* Hash of 5 bytes (read as 8): level 1 keeps one candidate per slot, and a 5-byte key makes that
 * candidate a longer match more often. */
static inline uint32_t hash5(const uint8_t *p, unsigned bits) {
    return (uint32_t)(((load64(p) << 24) * 889523592379ULL) >> (64 - bits));
}

/* Hash bits for n input bytes: the table grows with the input (small calls clear a small table). */
static unsigned hash_bits_for(size_t n, unsigned cap) {
    unsigned b = ceil_log2(n < 16 ? 16 : n);
    if (b > cap) b = cap;
    return b < 8 ? 8 : b;
}

/* Level 1: greedy, one candidate per hash, skipping faster through data that does not match. */
static int64_t encode_fast(const uint8_t *src, size_t n, Sink *s, uint32_t *table, unsigned hb) {
    const uint8_t *ip = src, *anchor = src, *end = src + n;
    memset(table, 0, sizeof(uint32_t) << hb);
    if (n >= 9) {
        const uint8_t *limit = end - 8;
        unsigned misses = 0;
        ip++;
        while (ip < limit) {
            uint32_t h = hash5(ip, hb);
            const uint8_t *ref = src + table[h];
            table[h] = (uint32_t)(ip - src);
            size_t dist = (size_t)(ip - ref);
            if (dist - 1 < MAX_DIST && load32(ref) == load32(ip)) {
                while (ip > anchor && ref > src && ip[-1] == ref[-1]) { ip--; ref--; }
                size_t len = MIN_MATCH + match_len(ref + MIN_MATCH, ip + MIN_MATCH, end);
                if (emit(s, anchor, (size_t)(ip - anchor), len, (uint32_t)dist)) return -1;
                ip += len;
                anchor = ip;
                misses = 0;
                if (ip < limit) table[hash5(ip - 2, hb)] = (uint32_t)(ip - 2 - src);
            } else {
                ip += 1 + (misses++ >> 5);
            }
        }
    }
    return anchor < end ? emit(s, anchor, (size_t)(end - anchor), 0, 0) : 0;
}

typedef struct {
    uint32_t *head, *prev;
    unsigned hb;
    uint32_t prev_mask;
    const uint8_t *src;
    size_t next; /* first position not yet inserted */
} Chains;

static inline void chains_insert_upto(Chains *c, size_t pos, size_t n) {
    size_t stop = pos < n - MIN_MATCH + 1 ? pos : n - MIN_MATCH + 1;
    for (size_t i = c->next; i < stop; i++) {
        uint32_t h = hash4(c->src + i, c->hb);
        c->prev[i & c->prev_mask] = c->head[h];
        c->head[h] = (uint32_t)i + 1; /* 0 = empty */
    }
    if (stop > c->next) c->next = stop;
}

/* Longest match for position p among up to max_chain earlier candidates; returns its length. */
static size_t best_match(Chains *c, size_t p, size_t n, unsigned max_chain, size_t min_len, uint32_t *dist_out) {
    const uint8_t *ip = c->src + p, *end = c->src + n;
    size_t best = min_len;
    chains_insert_upto(c, p, n);
    uint32_t cand = c->head[hash4(ip, c->hb)];
    uint32_t window = c->prev_mask + 1 < MAX_DIST ? c->prev_mask + 1 : MAX_DIST;
    while (cand && max_chain--) {
        size_t q = cand - 1;
        size_t dist = p - q;
        if (dist > window || dist == 0) break;
        const uint8_t *ref = c->src + q;
        if (p + best < n && ref[best] == ip[best] && load32(ref) == load32(ip)) {
            size_t len = MIN_MATCH + match_len(ref + MIN_MATCH, ip + MIN_MATCH, end);
            if (len > best) {
                best = len;
                *dist_out = (uint32_t)dist;
                if (p + len >= n) break;
            }
        }
        uint32_t nxt = c->prev[q & c->prev_mask];
        if (nxt >= cand) break; /* the ring slot was reused: older candidates are gone */
        cand = nxt;
    }
    return best;
}

/* Levels 2-9: hash chains of 2^level candidates; lazy evaluation from level 6 (1 step; 2 at level 9). */
static int64_t encode_chain(const uint8_t *src, size_t n, Sink *s, uint32_t *work, unsigned hb,
                            uint32_t prev_size, int level) {
    Chains c = {work, work + ((size_t)1 << hb), hb, prev_size - 1, src, 0};
    memset(c.head, 0, sizeof(uint32_t) << hb);
    unsigned max_chain = 1u << level;
    int lazy = level >= 9 ? 2 : level >= 6 ? 1 : 0;
    size_t p = 0, anchor = 0;
    while (n >= MIN_MATCH && p + MIN_MATCH <= n) {
        uint32_t dist = 0;
        size_t len = best_match(&c, p, n, max_chain, MIN_MATCH - 1, &dist);
        if (len < MIN_MATCH) { p++; continue; }
        for (int step = 1; step <= lazy && p + step + MIN_MATCH <= n; step++) {
            uint32_t d2 = 0;
            /* a later match must win by more than the literals it costs */
            size_t l2 = best_match(&c, p + step, n, max_chain, len + step - 1, &d2);
            if (l2 >= len + step) { p += step; len = l2; dist = d2; step = 0; }
        }
        if (emit(s, src + anchor, p - anchor, len, dist)) return -1;
        p += len;
        anchor = p;
    }
    return anchor < n ? emit(s, src + anchor, n - anchor, 0, 0) : 0;
}

/* Tables too big for the stack live in one buffer per thread, kept between calls: a fresh 128 KiB+
 * malloc is an mmap, and its page faults on every call cost more than compressing a megabyte. The
 * buffer is freed when its thread exits. */
static pthread_key_t workspace_key;

typedef struct {
    size_t words;
    uint32_t data[];
} Workspace;

static uint32_t *thread_workspace(size_t words) {
    Workspace *ws = pthread_getspecific(workspace_key);
    if (ws && ws->words >= words) return ws->data;
    Workspace *bigger = malloc(sizeof(Workspace) + words * sizeof(uint32_t));
    if (!bigger) return NULL;
    bigger->words = words;
    if (pthread_setspecific(workspace_key, bigger)) { free(bigger); return NULL; }
    free(ws);
    return bigger->data;
}

/* Compresses src into dst; returns the byte count, -1 if dst is too small, -2 if out of memory. */
static int64_t ulz_encode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, int level) {
    uint32_t stack[STACK_WORDS];
    Sink s = {dst, dst + cap};
    unsigned hb;
    size_t words;
    uint32_t prev_size = 0;
    if (level <= 1) {
        hb = hash_bits_for(n, 14);
        words = (size_t)1 << hb;
    } else {
        hb = hash_bits_for(n, 16);
        prev_size = (uint32_t)1 << (ceil_log2(n) < 17 ? (ceil_log2(n) < 4 ? 4 : ceil_log2(n)) : 17);
        words = ((size_t)1 << hb) + prev_size;
    }
    uint32_t *work = words <= STACK_WORDS ? stack : thread_workspace(words);
    if (!work) return -2;
    int64_t rc = level <= 1 ? encode_fast(src, n, &s, work, hb) : encode_chain(src, n, &s, work, hb, prev_size, level);
    return rc < 0 ? rc : (int64_t)(s.op - dst);
}

static size_t ulz_bound(size_t n) { return n + n / 128 + 32; }

/* ---------------------------------------------------------------- decoder */

typedef enum { D_OK, D_TRUNC_LITLEN, D_TRUNC_LIT, D_TRUNC_MLEN, D_TRUNC_DIST, D_BAD_DIST, D_OVERFLOW } DErr;

typedef struct {
    DErr code;
    size_t in_pos, out_pos;
} DState;

static const char *derr_text[] = {
    "ok", "truncated literal length", "truncated literals", "truncated match length",
    "truncated match distance", "match distance before the start of the output", "output larger than expected",
};

/* Copies a match of len bytes at distance dist (1 <= dist <= op - dst, len <= room checked by the
 * caller). Wild 16/8-byte steps may write up to 15 bytes past the match when `slack` says there is room. */
static inline void copy_match(uint8_t *op, size_t dist, size_t len, size_t slack) {
    const uint8_t *ref = op - dist;
    uint8_t *mend = op + len;
    if (LIKELY(dist >= 16 && slack >= 16)) {
        /* each 16-byte step reads only bytes written before it because dist >= 16 */
        do { copy16(op, ref); op += 16; ref += 16; } while (op < mend);
    } else if (dist >= 8 && slack >= 8) {
        do { copy8(op, ref); op += 8; ref += 8; } while (op < mend);
    } else if (dist == 1) {
        memset(op, *ref, len);
    } else if (slack >= 16 && len >= 16) {
        /* short period: write one period-multiple of >= 8 bytes by hand, then 8-byte steps from
         * that distance, which repeats the same pattern */
        size_t d2 = dist * ((8 + dist - 1) / dist);
        for (size_t i = 0; i < d2; i++) op[i] = ref[i];
        ref = op;
        op += d2;
        do { copy8(op, ref); op += 8; ref += 8; } while (op < mend);
    } else {
        while (op < mend) *op++ = *ref++;
    }
}

/* Decodes src into dst[0..cap); returns the byte count, or -1 with st filled in. Every length and
 * distance is checked against both buffer ends before use; wild copies only run where the remaining
 * room (checked) covers their overrun. */
static int64_t ulz_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, DState *st) {
    const uint8_t *ip = src, *iend = src + n;
    uint8_t *op = dst, *oend = dst + cap;
    const uint8_t *seq = src;
    DErr err;
    while (ip < iend) {
        seq = ip;
        /* Fast path for the common short sequence (< 7 literals, match < 19) far from both ends: the
         * 32/64 bytes of room make every wild copy safe, so only the distance needs checking. */
        if (LIKELY(iend - ip >= 32 && oend - op >= 64) && (ip[0] >> 5) < 7 && (ip[0] & 15) < 15) {
            unsigned t = ip[0];
            size_t nlit = t >> 5, mlen = (t & 15) + MIN_MATCH;
            copy16(op, ip + 1);
            op += nlit;
            ip += 1 + nlit;
            size_t dist = (size_t)ip[0] | ((size_t)ip[1] << 8) | ((size_t)(t & 16) << 12);
            ip += 2;
            if (UNLIKELY(dist == 0 || dist > (size_t)(op - dst))) { err = D_BAD_DIST; goto fail; }
            if (LIKELY(dist >= 16)) {
                copy16(op, op - dist);
                copy16(op + 16, op - dist + 16);
            } else {
                copy_match(op, dist, mlen, 32);
            }
            op += mlen;
            continue;
        }
        unsigned token = *ip++;
        uint64_t lit = token >> 5;
        if (UNLIKELY(lit == 7)) {
            uint64_t extra;
            if (get_varint(&ip, iend, &extra) || extra > (uint64_t)(iend - ip)) { err = D_TRUNC_LITLEN; goto fail; }
            lit += extra;
        }
        size_t in_left = (size_t)(iend - ip), out_left = (size_t)(oend - op);
        if (UNLIKELY(lit > in_left)) { err = D_TRUNC_LIT; goto fail; }
        if (UNLIKELY(lit > out_left)) { err = D_OVERFLOW; goto fail; }
        if (LIKELY(in_left >= 32 && out_left >= 32 && lit <= in_left - 16 && lit <= out_left - 16)) {
            const uint8_t *s = ip;
            uint8_t *d = op;
            do { copy16(d, s); d += 16; s += 16; } while (d < op + lit);
        } else {
            memcpy(op, ip, (size_t)lit);
        }
        op += lit;
        ip += lit;
        if (ip == iend) break; /* the last sequence has literals only */
        uint64_t mlen = (token & 15) + MIN_MATCH;
        if (UNLIKELY((token & 15) == 15)) {
            uint64_t extra;
            if (get_varint(&ip, iend, &extra)) { err = D_TRUNC_MLEN; goto fail; }
            if (extra > (uint64_t)(oend - op)) { err = D_OVERFLOW; goto fail; }
            mlen += extra;
        }
        if (UNLIKELY(iend - ip < 2)) { err = D_TRUNC_DIST; goto fail; }
        size_t dist = (size_t)ip[0] | ((size_t)ip[1] << 8) | ((size_t)(token & 16) << 12);
        ip += 2;
        if (UNLIKELY(dist == 0 || dist > (size_t)(op - dst))) { err = D_BAD_DIST; goto fail; }
        if (UNLIKELY(mlen > (uint64_t)(oend - op))) { err = D_OVERFLOW; goto fail; }
        copy_match(op, dist, (size_t)mlen, (size_t)(oend - op) - (size_t)mlen);
        op += mlen;
    }
    return (int64_t)(op - dst);
fail:
    st->code = err;
    st->in_pos = (size_t)(seq - src);
    st->out_pos = (size_t)(op - dst);
    return -1;
}

/* ---------------------------------------------------------------- xxh64 */

static const uint64_t P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL,
                      P3 = 1609587929392839161ULL, P4 = 9650029242287828579ULL,
                      P5 = 2870177450012600261ULL;

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t xxh_round(uint64_t acc, uint64_t in) { return rotl64(acc + in * P2, 31) * P1; }
static inline uint64_t xxh_merge(uint64_t h, uint64_t v) { return (h ^ xxh_round(0, v)) * P1 + P4; }

static uint64_t xxh64(const uint8_t *p, size_t len, uint64_t seed) {
    const uint8_t *end = p + len;
    uint64_t h;
    if (len >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        do {
            v1 = xxh_round(v1, load64(p));
            v2 = xxh_round(v2, load64(p + 8));
            v3 = xxh_round(v3, load64(p + 16));
            v4 = xxh_round(v4, load64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)len;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xxh_round(0, load64(p)), 27) * P1 + P4;
    if (end - p >= 4) { h = rotl64(h ^ ((uint64_t)load32(p) * P1), 23) * P2 + P3; p += 4; }
    for (; p < end; p++) h = rotl64(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

/* ---------------------------------------------------------------- Python glue */

static PyObject *ULZError;

static int get_level(PyObject *obj, int *level) {
    if (!obj) { *level = 1; return 0; }
    long v = PyLong_AsLong(obj);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 1 || v > MAX_LEVEL) {
        PyErr_Format(PyExc_ValueError, "level must be 1..%d, not %ld", MAX_LEVEL, v);
        return -1;
    }
    *level = (int)v;
    return 0;
}

static int get_size(PyObject *obj, const char *what, uint64_t *out) {
    if (!obj || obj == Py_None) { *out = UINT64_MAX; return 0; }
    long long v = PyLong_AsLongLong(obj);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (v < 0) { PyErr_Format(PyExc_ValueError, "%s must be >= 0", what); return -1; }
    *out = (uint64_t)v;
    return 0;
}

static int get_out_buffer(PyObject *obj, Py_buffer *view) {
    return PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS);
}

static PyObject *raise_decode(const DState *st, size_t base) {
    PyErr_Format(ULZError, "corrupt data: %s at input offset %zu (output offset %zu)", derr_text[st->code],
                 st->in_pos + base, st->out_pos);
    return NULL;
}

/* Runs the encoder with the GIL released for large inputs. */
static int64_t encode_gil(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, int level) {
    int64_t r;
    if (n >= GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        r = ulz_encode(src, n, dst, cap, level);
        Py_END_ALLOW_THREADS
    } else {
        r = ulz_encode(src, n, dst, cap, level);
    }
    if (r == -2) PyErr_NoMemory();
    return r;
}

static int64_t decode_gil(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, DState *st) {
    int64_t r;
    if (cap >= GIL_THRESHOLD || n >= GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        r = ulz_decode(src, n, dst, cap, st);
        Py_END_ALLOW_THREADS
    } else {
        r = ulz_decode(src, n, dst, cap, st);
    }
    return r;
}

/* compress / compress_block: allocate the bound, encode, shrink. */
static PyObject *do_compress(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int header,
                             const char *fname) {
    static const char *const names[] = {"data", "level"};
    PyObject *slots[2];
    int level;
    Py_buffer in;
    if (parse_args(fname, args, nargs, kwnames, names, 2, 1, slots) || get_level(slots[1], &level)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    size_t n = (size_t)in.len;
    size_t hdr = header ? varint_len(n) : 0;
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)(hdr + ulz_bound(n)));
    if (!out) goto done;
    uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);
    if (header) put_varint(dst, n);
    int64_t r = encode_gil(in.buf, n, dst + hdr, ulz_bound(n), level);
    if (r < 0) { Py_CLEAR(out); if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "ulz bound exceeded"); goto done; }
    if (_PyBytes_Resize(&out, (Py_ssize_t)(hdr + (size_t)r)) < 0) out = NULL;
done:
    PyBuffer_Release(&in);
    return out;
}

static PyObject *py_compress(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress(a, n, kw, 1, "compress");
}
static PyObject *py_compress_block(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress(a, n, kw, 0, "compress_block");
}

/* Reads the size header of compress() output. */
static int read_header(const Py_buffer *in, uint64_t *size, size_t *hdr) {
    const uint8_t *p = in->buf, *q = p;
    if (get_varint(&q, p + in->len, size)) {
        PyErr_SetString(ULZError, in->len ? "corrupt data: bad size header" : "corrupt data: empty input");
        return -1;
    }
    *hdr = (size_t)(q - p);
    return 0;
}

/* Decodes exactly `size` bytes from in[skip:] into a new bytes object. */
static PyObject *decode_new(const Py_buffer *in, size_t skip, uint64_t size) {
    if (size > (uint64_t)PY_SSIZE_T_MAX) return PyErr_Format(ULZError, "corrupt data: declared size %llu is too large", (unsigned long long)size);
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!out) {
        if (PyErr_ExceptionMatches(PyExc_MemoryError) || PyErr_ExceptionMatches(PyExc_OverflowError)) {
            PyErr_Clear();
            PyErr_Format(ULZError, "declared size %llu cannot be allocated (pass max_size to bound it)", (unsigned long long)size);
        }
        return NULL;
    }
    DState st;
    int64_t r = decode_gil((const uint8_t *)in->buf + skip, (size_t)in->len - skip, (uint8_t *)PyBytes_AS_STRING(out), (size_t)size, &st);
    if (r < 0) { Py_DECREF(out); return raise_decode(&st, skip); }
    if ((uint64_t)r != size) {
        Py_DECREF(out);
        return PyErr_Format(ULZError, "corrupt data: decoded %lld bytes, expected %llu (truncated input?)", (long long)r, (unsigned long long)size);
    }
    return out;
}

static PyObject *py_decompress(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "max_size"};
    PyObject *slots[2], *out = NULL;
    uint64_t max_size, size;
    size_t hdr;
    Py_buffer in;
    if (parse_args("decompress", args, nargs, kwnames, names, 2, 1, slots) || get_size(slots[1], "max_size", &max_size)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (read_header(&in, &size, &hdr) == 0) {
        if (size > max_size)
            PyErr_Format(ULZError, "declared size %llu exceeds max_size %llu", (unsigned long long)size, (unsigned long long)max_size);
        else
            out = decode_new(&in, hdr, size);
    }
    PyBuffer_Release(&in);
    return out;
}

static PyObject *py_decompress_block(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "size"};
    PyObject *slots[2], *out;
    uint64_t size;
    Py_buffer in;
    if (parse_args("decompress_block", args, nargs, kwnames, names, 2, 2, slots) || get_size(slots[1], "size", &size)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    out = decode_new(&in, 0, size);
    PyBuffer_Release(&in);
    return out;
}

/* compress_into / compress_block_into: encode into the caller's writable buffer. */
static PyObject *do_compress_into(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int header,
                                  const char *fname) {
    static const char *const names[] = {"data", "out", "level"};
    PyObject *slots[3], *res = NULL;
    int level;
    Py_buffer in, out;
    if (parse_args(fname, args, nargs, kwnames, names, 3, 2, slots) || get_level(slots[2], &level)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (get_out_buffer(slots[1], &out) < 0) { PyBuffer_Release(&in); return NULL; }
    size_t n = (size_t)in.len, cap = (size_t)out.len;
    size_t hdr = header ? varint_len(n) : 0;
    if (cap < hdr) {
        PyErr_Format(PyExc_ValueError, "output buffer too small (%zu bytes; compress_bound gives a safe size)", cap);
    } else {
        if (header) put_varint(out.buf, n);
        int64_t r = encode_gil(in.buf, n, (uint8_t *)out.buf + hdr, cap - hdr, level);
        if (r >= 0) res = PyLong_FromLongLong(r + (int64_t)hdr);
        else if (r == -1)
            PyErr_Format(PyExc_ValueError, "output buffer too small (%zu bytes; compress_bound gives a safe size)", cap);
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&in);
    return res;
}

static PyObject *py_compress_into(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress_into(a, n, kw, 1, "compress_into");
}
static PyObject *py_compress_block_into(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress_into(a, n, kw, 0, "compress_block_into");
}

/* decompress_into (header: exact size must fit) / decompress_block_into (until the input ends). */
static PyObject *do_decompress_into(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int header,
                                    const char *fname) {
    static const char *const names[] = {"data", "out"};
    PyObject *slots[2], *res = NULL;
    Py_buffer in, out;
    uint64_t size = UINT64_MAX;
    size_t hdr = 0;
    if (parse_args(fname, args, nargs, kwnames, names, 2, 2, slots)) return NULL;
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (get_out_buffer(slots[1], &out) < 0) { PyBuffer_Release(&in); return NULL; }
    if (header && read_header(&in, &size, &hdr)) goto done;
    if (header && size > (uint64_t)out.len) {
        PyErr_Format(ULZError, "declared size %llu does not fit the %zd-byte output buffer", (unsigned long long)size, out.len);
        goto done;
    }
    DState st;
    size_t cap = header ? (size_t)size : (size_t)out.len;
    int64_t r = decode_gil((const uint8_t *)in.buf + hdr, (size_t)in.len - hdr, out.buf, cap, &st);
    if (r < 0) raise_decode(&st, hdr);
    else if (header && (uint64_t)r != size)
        PyErr_Format(ULZError, "corrupt data: decoded %lld bytes, expected %llu (truncated input?)", (long long)r, (unsigned long long)size);
    else res = PyLong_FromLongLong(r);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&in);
    return res;
}

static PyObject *py_decompress_into(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_decompress_into(a, n, kw, 1, "decompress_into");
}
static PyObject *py_decompress_block_into(PyObject *m, PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_decompress_into(a, n, kw, 0, "decompress_block_into");
}

static PyObject *py_compress_bound(PyObject *m, PyObject *arg) {
    long long n = PyLong_AsLongLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "size must be >= 0"); return NULL; }
    return PyLong_FromSize_t(ulz_bound((size_t)n));
}

static PyObject *py_xxh64(PyObject *m, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "seed"};
    PyObject *slots[2];
    Py_buffer in;
    uint64_t seed = 0, h;
    if (parse_args("xxh64", args, nargs, kwnames, names, 2, 1, slots)) return NULL;
    if (slots[1]) {
        seed = PyLong_AsUnsignedLongLongMask(slots[1]);
        if (PyErr_Occurred()) return NULL;
    }
    if (PyObject_GetBuffer(slots[0], &in, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    if (in.len >= GIL_THRESHOLD) {
        Py_BEGIN_ALLOW_THREADS
        h = xxh64(in.buf, (size_t)in.len, seed);
        Py_END_ALLOW_THREADS
    } else {
        h = xxh64(in.buf, (size_t)in.len, seed);
    }
    PyBuffer_Release(&in);
    return PyLong_FromUnsignedLongLong(h);
}

#define FAST (METH_FASTCALL | METH_KEYWORDS)
static PyMethodDef methods[] = {
    {"compress", (PyCFunction)(void (*)(void))py_compress, FAST,
     "compress(data, level=1) -> bytes\n\nVarint of the input size, then ULZ sequences."},
    {"decompress", (PyCFunction)(void (*)(void))py_decompress, FAST,
     "decompress(data, max_size=None) -> bytes\n\nInverse of compress(); refuses a declared size over max_size."},
    {"compress_block", (PyCFunction)(void (*)(void))py_compress_block, FAST,
     "compress_block(data, level=1) -> bytes\n\nRaw ULZ sequences, no size header."},
    {"decompress_block", (PyCFunction)(void (*)(void))py_decompress_block, FAST,
     "decompress_block(data, size) -> bytes\n\nDecodes raw sequences that must yield exactly size bytes."},
    {"compress_into", (PyCFunction)(void (*)(void))py_compress_into, FAST,
     "compress_into(data, out, level=1) -> int\n\ncompress() into a writable buffer; returns bytes written."},
    {"decompress_into", (PyCFunction)(void (*)(void))py_decompress_into, FAST,
     "decompress_into(data, out) -> int\n\ndecompress() into a writable buffer; returns bytes written."},
    {"compress_block_into", (PyCFunction)(void (*)(void))py_compress_block_into, FAST,
     "compress_block_into(data, out, level=1) -> int\n\ncompress_block() into a writable buffer."},
    {"decompress_block_into", (PyCFunction)(void (*)(void))py_decompress_block_into, FAST,
     "decompress_block_into(data, out) -> int\n\nDecodes raw sequences until the input ends into out and returns the\n"
     "count. Bytes of out after that count may be overwritten (wild copies use them as scratch):\n"
     "pass an exact-size view to protect them."},
    {"compress_bound", py_compress_bound, METH_O,
     "compress_bound(n) -> int\n\nLargest compress_block() output for n input bytes."},
    {"xxh64", (PyCFunction)(void (*)(void))py_xxh64, FAST, "xxh64(data, seed=0) -> int\n\nXXH64 hash."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "everybit.ulz._ulz", "ULZ codec core.", -1, methods};

PyMODINIT_FUNC PyInit__ulz(void) {
    if (pthread_key_create(&workspace_key, free)) return PyErr_NoMemory();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    ULZError = new_corrupt_error("everybit.ulz.ULZError", "Raised for any ULZ decoding failure.");
    if (!ULZError || PyModule_AddObjectRef(m, "ULZError", ULZError) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LEVEL", MAX_LEVEL) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DISTANCE", MAX_DIST) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

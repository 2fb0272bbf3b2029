/* ULZ codec: byte-aligned LZ77 with 17-bit distances, as a CPython extension.
 *
 * Sequence format (pinned in docs/ulz-format.md):
 *   token = LLL D MMMM   LLL: literal count (7 = 7 + varint), D: bit 16 of the distance,
 *                        MMMM: match length - 4 (15 = 19 + varint)
 *   [varint] literals [varint] distance-low-16 (LE)
 * A block is a run of whole sequences (none for empty input); the last one may stop after its
 * literals, so a block never ends with an empty sequence. Varints: _varint.h (at most 9 bytes).
 *
 * The encoder bounds-checks its output; the decoder checks every read and write against the buffer
 * ends and never trusts a length or distance. Work that touches more than GIL_THRESHOLD bytes runs with
 * the GIL released; small calls avoid heap allocation entirely (stack hash tables and output).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "_glue.h"
#include "_portable.h"
#include "_varint.h"
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------- format rules
 * What every block obeys, whoever wrote it; the decoder relies on nothing else. */

#define MINMATCH 4            /* shortest match: the token's match field holds length - MINMATCH */
#define MAX_DISTANCE 131071u  /* 17 bits: 16 in the distance field, the 17th in the token's D bit */
#define LIT_SHIFT 5           /* the literal count sits in the token's top 3 bits... */
#define LIT_MASK 7            /* ...where 7 means 7 + a varint */
#define ML_MASK 15            /* the match field is the low 4 bits; 15 means MINMATCH + 15 + a varint */
#define TOKEN_D 0x10          /* the token bit (D) that holds bit 16 of the distance */
#define DIST_BYTES 2          /* the low 16 bits of the distance, little-endian, after the match varint */
/* A sequence is at most its literals plus this: token, two varints, distance. */
#define SEQ_OVERHEAD_MAX (1 + VARINT_MAX_BYTES + VARINT_MAX_BYTES + DIST_BYTES)

/* The largest block n input bytes code to (what compress_bound returns, so callers size buffers with it;
 * it never shrinks). A sequence with a match codes to no more than it covers while its literal count
 * varint is one byte (token + distance = 3 < MINMATCH); each further varint byte comes with at least 128
 * more literals in the same run, which n/128 pays for; 32 covers the final sequence, literals only
 * (token + varint). */
#define ULZ_BOUND(n) ((n) + (n) / 128 + 32)

/* ---------------------------------------------------------------- encoder parameters */

#define MAX_LEVEL 9
#define GIL_THRESHOLD 8192    /* bytes: smaller calls keep the GIL (releasing it costs more than they take) */
#define STACK_WORDS 8192      /* 32 KiB of hash/chain tables live on the stack; larger ones in the workspace */
#define WINDOW_LOG 17         /* the chain table covers the 128 KiB window that MAX_DISTANCE reaches */
#define HASH_LOG_MIN 8        /* a table never has fewer than 256 slots: a short input still hashes apart */
#define CHAIN_LOG_MIN 4       /* a chain table never has fewer than 16 entries */
#define FAST_TAIL 8           /* level 1 hashes 5 bytes with one 8-byte load, so no match search starts in
                               * the last FAST_TAIL bytes: they end the block as literals */
#define SKIP_TRIGGER 5        /* level 1: after 2^SKIP_TRIGGER misses in a row, step 2 bytes, then 3, ...:
                               * incompressible data is crossed fast, and the first match resets it */

typedef enum { GREEDY_HASH, HASH_CHAINS } Strategy;

/* One row per level, as libdeflate's per-level parameters: every difference between two levels is here. */
typedef struct {
    Strategy strategy;  /* GREEDY_HASH: one candidate per hash of the next 5 bytes, taken when it matches 4;
                         * HASH_CHAINS: every earlier position with the same 4-byte hash, newest first */
    unsigned hash_log;  /* log2 of the largest head table (slots of 4 bytes); a smaller input gets
                         * 2^ceil(log2 n) slots, so a 100-byte call clears 1 KiB, not the whole table */
    unsigned max_chain; /* HASH_CHAINS: candidates compared per position, the main speed/ratio knob */
    unsigned lazy;      /* positions after a match that are searched for a longer one before it is taken
                         * (a later match must win by more than the literals it adds) */
} LevelParams;

static const LevelParams LEVELS[MAX_LEVEL + 1] = {
    /* [0] unused: levels are 1..MAX_LEVEL.
     * Level 1's 2^14-slot table (64 KiB) stays in L2 cache: 2^16 gave 2-3% smaller output at 0.65x the
     * speed. The chains' 2^16 head slots and 2^17 chain links (768 KiB) span the whole window. */
    /*        strategy     hash_log  max_chain  lazy */
    [1] = {GREEDY_HASH,   14,         1,       0},
    [2] = {HASH_CHAINS,   16,         4,       0},
    [3] = {HASH_CHAINS,   16,         8,       0},
    [4] = {HASH_CHAINS,   16,        16,       0},
    [5] = {HASH_CHAINS,   16,        32,       0},
    [6] = {HASH_CHAINS,   16,        64,       1},
    [7] = {HASH_CHAINS,   16,       128,       1},
    [8] = {HASH_CHAINS,   16,       256,       1},
    [9] = {HASH_CHAINS,   16,       512,       2},
};

static inline void copy8(uint8_t *d, const uint8_t *s) { memcpy(d, s, 8); }
static inline void copy16(uint8_t *d, const uint8_t *s) { memcpy(d, s, 16); }

static inline unsigned ceil_log2(size_t n) {
    unsigned b = 0;
    while (b < 63 && ((size_t)1 << b) < n) b++;
    return b;
}

/* ---------------------------------------------------------------- encoder */

typedef struct {
    uint8_t *op, *oend;
} Sink;

/* Emits one sequence; returns -1 if the output buffer is too small. */
static inline int emit(Sink *s, const uint8_t *lit, size_t nlit, size_t mlen, uint32_t dist) {
    size_t need = SEQ_OVERHEAD_MAX + nlit;
    if (UNLIKELY((size_t)(s->oend - s->op) < need)) {
        /* exact check before giving up: the varints are usually short */
        need = 1 + (nlit >= LIT_MASK ? varint_len(nlit - LIT_MASK) : 0) + nlit;
        if (mlen) need += (mlen - MINMATCH >= ML_MASK ? varint_len(mlen - MINMATCH - ML_MASK) : 0) + DIST_BYTES;
        if ((size_t)(s->oend - s->op) < need) return -1;
    }
    uint8_t *op = s->op;
    uint8_t *token = op++;
    uint8_t t = (uint8_t)((nlit >= LIT_MASK ? LIT_MASK : nlit) << LIT_SHIFT);
    if (nlit >= LIT_MASK) op = varint_put(op, nlit - LIT_MASK);
    memcpy(op, lit, nlit);
    op += nlit;
    if (mlen) {
        size_t m = mlen - MINMATCH;
        t |= (uint8_t)((dist >> 12) & TOKEN_D);
        if (m >= ML_MASK) { t |= ML_MASK; op = varint_put(op, m - ML_MASK); }
        else t |= (uint8_t)m;
        op[0] = (uint8_t)dist;
        op[1] = (uint8_t)(dist >> 8);
        op += DIST_BYTES;
    }
    *token = t;
    s->op = op;
    return 0;
}

/* Length of the common prefix of a and b, not reading b past end (a < b). */
static inline size_t match_len(const uint8_t *a, const uint8_t *b, const uint8_t *end) {
    const uint8_t *start = b;
    while (b + 8 <= end) {
        uint64_t x = load_u64(a) ^ load_u64(b);
        if (x) return (size_t)(b - start) + ((size_t)__builtin_ctzll(x) >> 3);
        a += 8; b += 8;
    }
    while (b < end && *a == *b) { a++; b++; }
    return (size_t)(b - start);
}

/* Multiplicative hashes: the top bits of the product by an odd constant with well-mixed bits. 2654435761
 * is Knuth's golden-ratio prime (2^32 / phi); 889523592379 is lz4's prime for 5-byte keys. */
static inline uint32_t hash4(const uint8_t *p, unsigned bits) {
    return (load_u32(p) * 2654435761u) >> (32 - bits);
}

/* Hash of 5 bytes (read as 8, the first 5 kept by the shift): level 1 keeps one candidate per slot,
 * and a 5-byte key makes that candidate a longer match more often (5-7% smaller output). */
static inline uint32_t hash5(const uint8_t *p, unsigned bits) {
    return (uint32_t)(((load_u64(p) << 24) * 889523592379ULL) >> (64 - bits));
}

/* Hash bits for n input bytes: the table grows with the input (small calls clear a small table). */
static unsigned hash_bits_for(size_t n, unsigned cap) {
    unsigned b = ceil_log2(n < 16 ? 16 : n);
    if (b > cap) b = cap;
    return b < HASH_LOG_MIN ? HASH_LOG_MIN : b;
}

/* GREEDY_HASH: one candidate per hash, skipping faster through data that does not match. */
static int64_t encode_fast(const uint8_t *src, size_t n, Sink *s, uint32_t *table, unsigned hb) {
    const uint8_t *ip = src, *anchor = src, *end = src + n;
    memset(table, 0, sizeof(uint32_t) << hb);
    if (n > FAST_TAIL) {
        const uint8_t *limit = end - FAST_TAIL;
        unsigned misses = 0;
        ip++; /* position 0 has no earlier candidate */
        while (ip < limit) {
            uint32_t h = hash5(ip, hb);
            const uint8_t *ref = src + table[h];
            table[h] = (uint32_t)(ip - src);
            size_t dist = (size_t)(ip - ref);
            if (dist - 1 < MAX_DISTANCE && load_u32(ref) == load_u32(ip)) {
                while (ip > anchor && ref > src && ip[-1] == ref[-1]) { ip--; ref--; }
                size_t len = MINMATCH + match_len(ref + MINMATCH, ip + MINMATCH, end);
                if (emit(s, anchor, (size_t)(ip - anchor), len, (uint32_t)dist)) return -1;
                ip += len;
                anchor = ip;
                misses = 0;
                /* a position inside the match, so the next repeat of this text finds it */
                if (ip < limit) table[hash5(ip - 2, hb)] = (uint32_t)(ip - 2 - src);
            } else {
                ip += 1 + (misses++ >> SKIP_TRIGGER);
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
    size_t stop = pos < n - MINMATCH + 1 ? pos : n - MINMATCH + 1;
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
    uint32_t window = c->prev_mask + 1 < MAX_DISTANCE ? c->prev_mask + 1 : MAX_DISTANCE;
    while (cand && max_chain--) {
        size_t q = cand - 1;
        size_t dist = p - q;
        if (dist > window || dist == 0) break;
        const uint8_t *ref = c->src + q;
        if (p + best < n && ref[best] == ip[best] && load_u32(ref) == load_u32(ip)) {
            size_t len = MINMATCH + match_len(ref + MINMATCH, ip + MINMATCH, end);
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

/* HASH_CHAINS: the longest of max_chain candidates at each position, with lp->lazy positions of
 * lookahead. */
static int64_t encode_chain(const uint8_t *src, size_t n, Sink *s, uint32_t *work, unsigned hb,
                            uint32_t prev_size, const LevelParams *lp) {
    Chains c = {work, work + ((size_t)1 << hb), hb, prev_size - 1, src, 0};
    memset(c.head, 0, sizeof(uint32_t) << hb);
    const unsigned max_chain = lp->max_chain, lazy = lp->lazy;
    size_t p = 0, anchor = 0;
    while (n >= MINMATCH && p + MINMATCH <= n) {
        uint32_t dist = 0;
        size_t len = best_match(&c, p, n, max_chain, MINMATCH - 1, &dist);
        if (len < MINMATCH) { p++; continue; }
        for (unsigned step = 1; step <= lazy && p + step + MINMATCH <= n; step++) {
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
    const LevelParams *lp = &LEVELS[level];
    uint32_t stack[STACK_WORDS];
    Sink s = {dst, dst + cap};
    unsigned hb = hash_bits_for(n, lp->hash_log);
    size_t words = (size_t)1 << hb;
    uint32_t prev_size = 0;
    if (lp->strategy == HASH_CHAINS) {
        unsigned chain_log = ceil_log2(n);
        if (chain_log < CHAIN_LOG_MIN) chain_log = CHAIN_LOG_MIN;
        if (chain_log > WINDOW_LOG) chain_log = WINDOW_LOG;
        prev_size = (uint32_t)1 << chain_log;
        words += prev_size;
    }
    uint32_t *work = words <= STACK_WORDS ? stack : thread_workspace(words);
    if (!work) return -2;
    int64_t rc = lp->strategy == GREEDY_HASH ? encode_fast(src, n, &s, work, hb)
                                             : encode_chain(src, n, &s, work, hb, prev_size, lp);
    return rc < 0 ? rc : (int64_t)(s.op - dst);
}

static size_t ulz_bound(size_t n) { return ULZ_BOUND(n); }

/* ---------------------------------------------------------------- decoder */

/* Safety margins of the decoder's fast copies (how far a copy may run past what it needs), checked
 * against the room left before each use; near the buffer ends exact copies take over. */
#define WILDCOPY 16        /* a wild copy moves 16 bytes a step, so it writes (and reads) up to 15 bytes
                            * past the end of what it copies */
#define FAST_IN_MARGIN 32  /* the fast path for short sequences reads the token, a WILDCOPY of literals
                            * and the distance: at most 1 + WILDCOPY bytes, which 32 covers */
#define FAST_OUT_MARGIN 64 /* ... and writes up to 6 literals (a WILDCOPY) then a match of at most
                            * MINMATCH + 14 bytes (two WILDCOPY steps, or copy_match with the 32 bytes of slack
                            * it is promised there): at most 6 + 32 + 15 bytes, which 64 covers */

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
    if (LIKELY(dist >= WILDCOPY && slack >= WILDCOPY)) {
        /* each 16-byte step reads only bytes written before it because dist >= 16 */
        do { copy16(op, ref); op += 16; ref += 16; } while (op < mend);
    } else if (dist >= 8 && slack >= 8) {
        do { copy8(op, ref); op += 8; ref += 8; } while (op < mend);
    } else if (dist == 1) {
        memset(op, *ref, len);
    } else if (slack >= WILDCOPY && len >= WILDCOPY) {
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
         * margins make every wild copy safe, so only the distance needs checking. */
        if (LIKELY(iend - ip >= FAST_IN_MARGIN && oend - op >= FAST_OUT_MARGIN) &&
            (ip[0] >> LIT_SHIFT) < LIT_MASK && (ip[0] & ML_MASK) < ML_MASK) {
            unsigned t = ip[0];
            size_t nlit = t >> LIT_SHIFT, mlen = (t & ML_MASK) + MINMATCH;
            copy16(op, ip + 1);
            op += nlit;
            ip += 1 + nlit;
            size_t dist = (size_t)ip[0] | ((size_t)ip[1] << 8) | ((size_t)(t & TOKEN_D) << 12);
            ip += DIST_BYTES;
            if (UNLIKELY(dist == 0 || dist > (size_t)(op - dst))) { err = D_BAD_DIST; goto fail; }
            if (LIKELY(dist >= WILDCOPY)) {
                copy16(op, op - dist);
                copy16(op + 16, op - dist + 16);
            } else {
                copy_match(op, dist, mlen, FAST_OUT_MARGIN / 2);
            }
            op += mlen;
            continue;
        }
        unsigned token = *ip++;
        uint64_t lit = token >> LIT_SHIFT;
        if (UNLIKELY(lit == LIT_MASK)) {
            uint64_t extra;
            if (varint_get(&ip, iend, &extra) || extra > (uint64_t)(iend - ip)) { err = D_TRUNC_LITLEN; goto fail; }
            lit += extra;
        }
        size_t in_left = (size_t)(iend - ip), out_left = (size_t)(oend - op);
        if (UNLIKELY(lit > in_left)) { err = D_TRUNC_LIT; goto fail; }
        if (UNLIKELY(lit > out_left)) { err = D_OVERFLOW; goto fail; }
        if (LIKELY(in_left >= 2 * WILDCOPY && out_left >= 2 * WILDCOPY && lit <= in_left - WILDCOPY &&
                   lit <= out_left - WILDCOPY)) {
            const uint8_t *s = ip;
            uint8_t *d = op;
            do { copy16(d, s); d += 16; s += 16; } while (d < op + lit);
        } else {
            memcpy(op, ip, (size_t)lit);
        }
        op += lit;
        ip += lit;
        if (ip == iend) break; /* the last sequence has literals only */
        uint64_t mlen = (token & ML_MASK) + MINMATCH;
        if (UNLIKELY((token & ML_MASK) == ML_MASK)) {
            uint64_t extra;
            if (varint_get(&ip, iend, &extra)) { err = D_TRUNC_MLEN; goto fail; }
            if (extra > (uint64_t)(oend - op)) { err = D_OVERFLOW; goto fail; }
            mlen += extra;
        }
        if (UNLIKELY(iend - ip < DIST_BYTES)) { err = D_TRUNC_DIST; goto fail; }
        size_t dist = (size_t)ip[0] | ((size_t)ip[1] << 8) | ((size_t)(token & TOKEN_D) << 12);
        ip += DIST_BYTES;
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
            v1 = xxh_round(v1, load_u64(p));
            v2 = xxh_round(v2, load_u64(p + 8));
            v3 = xxh_round(v3, load_u64(p + 16));
            v4 = xxh_round(v4, load_u64(p + 24));
            p += 32;
        } while (end - p >= 32);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(xxh_merge(xxh_merge(xxh_merge(h, v1), v2), v3), v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)len;
    for (; end - p >= 8; p += 8) h = rotl64(h ^ xxh_round(0, load_u64(p)), 27) * P1 + P4;
    if (end - p >= 4) { h = rotl64(h ^ ((uint64_t)load_u32(p) * P1), 23) * P2 + P3; p += 4; }
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

/* A size argument; None (and, for a limit, any value past what the platform can hold) means no bound. */
static int get_size(PyObject *obj, const char *what, uint64_t *out) {
    if (!obj || obj == Py_None) { *out = UINT64_MAX; return 0; }
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow > 0) { *out = UINT64_MAX; return 0; }
    if (overflow < 0) v = -1;
    if (v < 0) { PyErr_Format(PyExc_ValueError, "%s must be >= 0", what); return -1; }
    *out = (uint64_t)v;
    return 0;
}

static int get_out_buffer(PyObject *obj, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) == 0) return 0;
    if (PyObject_CheckBuffer(obj)) { /* read-only or strided: a misuse, reported as for a non-buffer */
        PyErr_Clear();
        PyErr_SetString(PyExc_TypeError, "out must be a writable, contiguous buffer (a bytearray, for instance)");
    }
    return -1;
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

/* Output of a call under GIL_THRESHOLD input bytes: its size header and its bound. */
#define SMALL_OUT (VARINT_MAX_BYTES + ULZ_BOUND(GIL_THRESHOLD))

/* compress / compress_block: encode into scratch room of the bound (the stack for small inputs), then copy
 * the result into a bytes object of its exact size. (A bytes object cannot be shrunk through the public
 * C API, and the copy costs far less than the encoding.) */
static PyObject *do_compress(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int header,
                             const char *fname) {
    static const char *const names[] = {"data", "level"};
    PyObject *slots[2], *out = NULL;
    int level;
    Py_buffer in;
    if (max_positional(fname, nargs, 1) || parse_args(fname, args, nargs, kwnames, names, 2, 1, slots) ||
        get_level(slots[1], &level))
        return NULL;
    if (get_input(slots[0], &in) < 0) return NULL;
    size_t n = (size_t)in.len;
    size_t hdr = header ? varint_len(n) : 0;
    uint8_t small[SMALL_OUT], *dst = small;
    if (n >= GIL_THRESHOLD) {
        /* so that hdr + ulz_bound(n) fits a bytes object (and size_t) */
        if (n > ((size_t)PY_SSIZE_T_MAX - VARINT_MAX_BYTES - 32) / 129 * 128) {
            PyErr_NoMemory();
            goto done;
        }
        dst = PyMem_RawMalloc(hdr + ulz_bound(n)); /* used without the GIL: the raw allocator */
        if (!dst) { PyErr_NoMemory(); goto done; }
    }
    if (header) varint_put(dst, n);
    int64_t r = encode_gil(in.buf, n, dst + hdr, ulz_bound(n), level);
    if (r >= 0) out = PyBytes_FromStringAndSize((const char *)dst, (Py_ssize_t)(hdr + (size_t)r));
    else if (!PyErr_Occurred()) PyErr_SetString(PyExc_SystemError, "ulz bound exceeded");
    if (dst != small) PyMem_RawFree(dst);
done:
    PyBuffer_Release(&in);
    return out;
}

static PyObject *py_compress(PyObject *Py_UNUSED(m), PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress(a, n, kw, 1, "compress");
}
static PyObject *py_compress_block(PyObject *Py_UNUSED(m), PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress(a, n, kw, 0, "compress_block");
}

/* Reads the size header of compress() output. */
static int read_header(const Py_buffer *in, uint64_t *size, size_t *hdr) {
    const uint8_t *p = in->buf, *q = p;
    if (varint_get(&q, p + in->len, size)) {
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

static PyObject *py_decompress(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "max_size"};
    PyObject *slots[2], *out = NULL;
    uint64_t max_size, size;
    size_t hdr;
    Py_buffer in;
    if (parse_args("decompress", args, nargs, kwnames, names, 2, 1, slots) || get_size(slots[1], "max_size", &max_size)) return NULL;
    if (get_input(slots[0], &in) < 0) return NULL;
    if (read_header(&in, &size, &hdr) == 0) {
        if (size > max_size)
            PyErr_Format(ULZError, "declared size %llu exceeds max_size %llu", (unsigned long long)size, (unsigned long long)max_size);
        else
            out = decode_new(&in, hdr, size);
    }
    PyBuffer_Release(&in);
    return out;
}

static PyObject *py_decompress_block(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "size"};
    PyObject *slots[2], *out;
    uint64_t size;
    Py_buffer in;
    if (parse_args("decompress_block", args, nargs, kwnames, names, 2, 2, slots) || get_size(slots[1], "size", &size)) return NULL;
    if (get_input(slots[0], &in) < 0) return NULL;
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
    if (max_positional(fname, nargs, 2) || parse_args(fname, args, nargs, kwnames, names, 3, 2, slots) ||
        get_level(slots[2], &level))
        return NULL;
    if (get_input(slots[0], &in) < 0) return NULL;
    if (get_out_buffer(slots[1], &out) < 0) { PyBuffer_Release(&in); return NULL; }
    size_t n = (size_t)in.len, cap = (size_t)out.len;
    size_t hdr = header ? varint_len(n) : 0;
    if (cap < hdr) {
        PyErr_Format(PyExc_ValueError, "output buffer too small (%zu bytes; compress_bound gives a safe size)", cap);
    } else {
        if (header) varint_put(out.buf, n);
        int64_t r = encode_gil(in.buf, n, (uint8_t *)out.buf + hdr, cap - hdr, level);
        if (r >= 0) res = PyLong_FromLongLong(r + (int64_t)hdr);
        else if (r == -1)
            PyErr_Format(PyExc_ValueError, "output buffer too small (%zu bytes; compress_bound gives a safe size)", cap);
    }
    PyBuffer_Release(&out);
    PyBuffer_Release(&in);
    return res;
}

static PyObject *py_compress_into(PyObject *Py_UNUSED(m), PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_compress_into(a, n, kw, 1, "compress_into");
}
static PyObject *py_compress_block_into(PyObject *Py_UNUSED(m), PyObject *const *a, Py_ssize_t n, PyObject *kw) {
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
    if (get_input(slots[0], &in) < 0) return NULL;
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

static PyObject *py_decompress_into(PyObject *Py_UNUSED(m), PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_decompress_into(a, n, kw, 1, "decompress_into");
}
static PyObject *py_decompress_block_into(PyObject *Py_UNUSED(m), PyObject *const *a, Py_ssize_t n, PyObject *kw) {
    return do_decompress_into(a, n, kw, 0, "decompress_block_into");
}

static PyObject *py_compress_bound(PyObject *Py_UNUSED(m), PyObject *arg) {
    long long n = PyLong_AsLongLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 0) { PyErr_SetString(PyExc_ValueError, "size must be >= 0"); return NULL; }
    /* in 64 bits whatever size_t is: n < 2^63, so the bound stays under 2^64 */
    return PyLong_FromUnsignedLongLong(ULZ_BOUND((unsigned long long)n));
}

static PyObject *py_xxh64(PyObject *Py_UNUSED(m), PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
    static const char *const names[] = {"data", "seed"};
    PyObject *slots[2];
    Py_buffer in;
    uint64_t seed = 0, h;
    if (parse_args("xxh64", args, nargs, kwnames, names, 2, 1, slots)) return NULL;
    if (slots[1]) {
        seed = PyLong_AsUnsignedLongLongMask(slots[1]);
        if (PyErr_Occurred()) return NULL;
    }
    if (get_input(slots[0], &in) < 0) return NULL;
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
     "compress($module, data, /, *, level=1)\n--\n\nVarint of the input size, then ULZ sequences."},
    {"decompress", (PyCFunction)(void (*)(void))py_decompress, FAST,
     "decompress($module, data, /, max_size=None)\n--\n\nInverse of compress(); refuses a declared size over max_size (None, or more than\n"
     "the platform can hold: no bound)."},
    {"compress_block", (PyCFunction)(void (*)(void))py_compress_block, FAST,
     "compress_block($module, data, /, *, level=1)\n--\n\nBare ULZ sequences, no size in front."},
    {"decompress_block", (PyCFunction)(void (*)(void))py_decompress_block, FAST,
     "decompress_block($module, data, /, size)\n--\n\nDecodes bare sequences that must yield exactly size bytes."},
    {"compress_into", (PyCFunction)(void (*)(void))py_compress_into, FAST,
     "compress_into($module, data, out, /, *, level=1)\n--\n\ncompress() into a writable buffer; returns bytes written."},
    {"decompress_into", (PyCFunction)(void (*)(void))py_decompress_into, FAST,
     "decompress_into($module, data, out, /)\n--\n\ndecompress() into a writable buffer; returns bytes written."},
    {"compress_block_into", (PyCFunction)(void (*)(void))py_compress_block_into, FAST,
     "compress_block_into($module, data, out, /, *, level=1)\n--\n\ncompress_block() into a writable buffer."},
    {"decompress_block_into", (PyCFunction)(void (*)(void))py_decompress_block_into, FAST,
     "decompress_block_into($module, data, out, /)\n--\n\nDecodes bare sequences until the input ends into out and returns the\n"
     "count. Bytes of out after that count may be overwritten (wild copies use them as scratch):\n"
     "pass an exact-size view to protect them."},
    {"compress_bound", py_compress_bound, METH_O,
     "compress_bound($module, n, /)\n--\n\nLargest compress_block() output for n input bytes."},
    {"xxh64", (PyCFunction)(void (*)(void))py_xxh64, FAST, "xxh64($module, data, /, seed=0)\n--\n\nXXH64 hash."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "everybit.ulz._ulz", "ULZ codec core.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ulz(void) {
    if (pthread_key_create(&workspace_key, free)) return PyErr_NoMemory();
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    ULZError = new_corrupt_error("everybit.ulz.ULZError", "Raised for any ULZ decoding failure.");
    if (!ULZError || PyModule_AddObjectRef(m, "ULZError", ULZError) < 0 ||
        PyModule_AddIntConstant(m, "MAX_LEVEL", MAX_LEVEL) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DISTANCE", MAX_DISTANCE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

/* The binary range coder shared by everybit's context coders (fontpack, imgkan): 32-bit bounds, 16-bit
 * probabilities, bytes out as soon as the top byte settles. Included, not linked: each extension stays one
 * file. How a stream ends (enc_flush) is each format's own choice, so it is not here. */
#ifndef EVERYBIT_RANGECODER_H
#define EVERYBIT_RANGECODER_H

#include <stdint.h>
#include <stdlib.h>

#include "_portable.h" /* UNLIKELY */

typedef struct {
    uint32_t x1, x2;
    uint8_t *buf;
    size_t len, cap;
    int oom;
} Enc;

static inline void enc_put(Enc *e, uint8_t b) {
    if (UNLIKELY(e->len == e->cap)) {
        size_t ncap = e->cap ? e->cap * 2 : 4096;
        uint8_t *nb = realloc(e->buf, ncap);
        if (!nb) { e->oom = 1; return; }
        e->buf = nb;
        e->cap = ncap;
    }
    e->buf[e->len++] = b;
}

/* p1: probability that bit is 1, of 65536, strictly between 0 and 65536 */
static inline void enc_bit(Enc *e, int bit, uint32_t p1) {
    uint32_t xmid = e->x1 + (uint32_t)(((uint64_t)(e->x2 - e->x1) * p1) >> 16);
    if (bit) e->x2 = xmid; else e->x1 = xmid + 1;
    while (((e->x1 ^ e->x2) & 0xff000000u) == 0) {
        enc_put(e, (uint8_t)(e->x2 >> 24));
        e->x1 <<= 8;
        e->x2 = (e->x2 << 8) | 255;
    }
}

typedef struct {
    uint32_t x1, x2, x;
    const uint8_t *in;
    size_t len, pos; /* pos counts every byte read, including the zeros past the end */
} Dec;

static inline uint8_t dec_byte(Dec *d) {
    size_t p = d->pos++;
    return p < d->len ? d->in[p] : 0;
}

static inline void dec_init(Dec *d, const uint8_t *in, size_t len) {
    d->in = in;
    d->len = len;
    d->pos = 0;
    d->x1 = 0;
    d->x2 = 0xffffffffu;
    d->x = 0;
    for (int i = 0; i < 4; i++) d->x = (d->x << 8) | dec_byte(d);
}

static inline int dec_bit(Dec *d, uint32_t p1) {
    uint32_t xmid = d->x1 + (uint32_t)(((uint64_t)(d->x2 - d->x1) * p1) >> 16);
    int bit = d->x <= xmid;
    if (bit) d->x2 = xmid; else d->x1 = xmid + 1;
    while (((d->x1 ^ d->x2) & 0xff000000u) == 0) {
        d->x1 <<= 8;
        d->x2 = (d->x2 << 8) | 255;
        d->x = (d->x << 8) | dec_byte(d);
    }
    return bit;
}

#endif

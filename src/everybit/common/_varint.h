/* The one varint of everybit's C formats (ulz sizes and lengths, fontpack's reference offset): 7 bits per
 * byte, least significant group first, high bit set when more bytes follow, no bias. At most
 * VARINT_MAX_BYTES bytes, so at most 63 bits; a longer or truncated varint is corrupt data. The Python
 * side reads and writes the same bytes. Included, not linked: each extension stays one file. */
#ifndef EVERYBIT_VARINT_H
#define EVERYBIT_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define VARINT_MAX_BYTES 9 /* 9 x 7 = 63 bits: any size a 64-bit signed count can hold */

/* Bytes the varint of v takes (1..10; at most VARINT_MAX_BYTES for v < 2^63). */
static inline size_t varint_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) { v >>= 7; n++; }
    return n;
}

/* Writes the varint of v at op (room for varint_len(v) bytes checked by the caller); returns its end. */
static inline uint8_t *varint_put(uint8_t *op, uint64_t v) {
    while (v >= 0x80) { *op++ = (uint8_t)(v | 0x80); v >>= 7; }
    *op++ = (uint8_t)v;
    return op;
}

/* Reads the varint at *ip, not past end: 0 with *out set and *ip moved past it, or -1 (truncated, or
 * longer than VARINT_MAX_BYTES) with *ip unchanged. */
static inline int varint_get(const uint8_t **ip, const uint8_t *end, uint64_t *out) {
    const uint8_t *p = *ip;
    uint64_t v = 0;
    for (int i = 0; i < VARINT_MAX_BYTES; i++) {
        if (p >= end) return -1;
        uint8_t b = *p++;
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) { *ip = p; *out = v; return 0; }
    }
    return -1;
}

#endif

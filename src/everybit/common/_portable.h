/* Portable C building blocks shared by everybit's C extensions (included, not linked: each extension
 * stays one file): branch hints and loads from any address.
 *
 * A buffer handed in from Python may start at any address (a memoryview slice of bytes, a struct
 * field), so a multi-byte value is read with memcpy, never through a cast pointer: the cast is undefined
 * behaviour at a misaligned address (it traps on some CPUs and lets the optimizer assume alignment), while
 * memcpy of a constant size compiles to the same single load where the CPU allows it. */
#ifndef EVERYBIT_PORTABLE_H
#define EVERYBIT_PORTABLE_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x) (x)
#define UNLIKELY(x) (x)
#endif

/* Native-endian loads from any address. */
static inline uint32_t load_u32(const void *p) { uint32_t v; memcpy(&v, p, sizeof v); return v; }
static inline uint64_t load_u64(const void *p) { uint64_t v; memcpy(&v, p, sizeof v); return v; }
static inline int64_t load_i64(const void *p) { int64_t v; memcpy(&v, p, sizeof v); return v; }

#endif

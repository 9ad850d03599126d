/*
 * buf.h - a binary-safe, growable byte string and read-only slices.
 *
 * A tj_buf always keeps a NUL after its data (so text can be passed to C
 * APIs) and refuses to grow past ->max (0 = no limit) or to overflow size_t.
 * Pointers into ->data are invalidated by any call that may grow the buffer.
 */
#ifndef TJ_BUF_H
#define TJ_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

typedef struct tj_buf {
	uint8_t *data; /* NUL-terminated; NULL until first growth */
	size_t len;
	size_t cap;
	size_t max;    /* hard limit for len, 0 = unlimited */
} tj_buf;

typedef struct tj_slice {
	const uint8_t *ptr;
	size_t len;
} tj_slice;

#define TJ_BUF_INIT {NULL, 0, 0, 0}

/* tj_buf_reserve - make room for extra bytes.  0, -ENOMEM or TJ_ETOOBIG. */
int tj_buf_reserve(tj_buf *b, size_t extra);
/* tj_buf_append - append len bytes.  0, -ENOMEM or TJ_ETOOBIG. */
int tj_buf_append(tj_buf *b, const void *p, size_t len);
int tj_buf_putc(tj_buf *b, uint8_t c);
int tj_buf_puts(tj_buf *b, const char *s);
/* tj_buf_printf - formatted append.  0, -ENOMEM or TJ_ETOOBIG. */
int tj_buf_printf(tj_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tj_buf_vprintf(tj_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* tj_buf_truncate - shrink to len (no-op when len >= b->len). */
/* tj_grow - make a growable array hold at least `need` elements of `elem`
 * bytes: *(void **)pp is realloc'd to max(need, 2 x *cap, 16) elements and
 * *cap updated.  0, or -ENOMEM (array and *cap unchanged; also on size
 * overflow).  Typical use:
 *     if (l->n == l->cap && tj_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
 *             return -ENOMEM; */
int tj_grow(void *pp, size_t *cap, size_t need, size_t elem);
/* tj_buf_put_utf8 - append code point c (at most U+10FFFF; the caller
 * passes valid ones) as UTF-8.  0, -ENOMEM or TJ_ETOOBIG. */
int tj_buf_put_utf8(tj_buf *b, uint32_t c);
/* tj_buf_json_str - append p[0..n) as a JSON string, quotes included
 * (", \ and control bytes escaped; other bytes as they are). */
int tj_buf_json_str(tj_buf *b, const void *p, size_t n);
void tj_buf_truncate(tj_buf *b, size_t len);
void tj_buf_reset(tj_buf *b);
/* tj_buf_free - release memory; b is left empty and reusable. */
void tj_buf_free(tj_buf *b);
/* tj_buf_steal - hand the data (malloc'd, NUL-terminated) to the caller. */
uint8_t *tj_buf_steal(tj_buf *b, size_t *len_r);

/* little-endian fixed-width helpers for binary encodings */
static inline void tj_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void tj_put32(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline void tj_put64(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i)); }
static inline uint16_t tj_get16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tj_get32(const uint8_t *p) { uint32_t v = 0; for (int i = 3; i >= 0; i--) v = (v << 8) | p[i]; return v; }
static inline uint64_t tj_get64(const uint8_t *p) { uint64_t v = 0; for (int i = 7; i >= 0; i--) v = (v << 8) | p[i]; return v; }
/* big-endian, for LMDB keys that must sort numerically */
static inline void tj_put32be(uint8_t *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i)); }
static inline void tj_put64be(uint8_t *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (56 - 8 * i)); }
static inline uint32_t tj_get32be(const uint8_t *p) { uint32_t v = 0; for (int i = 0; i < 4; i++) v = (v << 8) | p[i]; return v; }
static inline uint64_t tj_get64be(const uint8_t *p) { uint64_t v = 0; for (int i = 0; i < 8; i++) v = (v << 8) | p[i]; return v; }

#endif

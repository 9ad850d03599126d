/*
 * buf.c - growable byte strings (see buf.h).
 */
#include "common/buf.h"
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tj_buf_reserve(tj_buf *b, size_t extra)
{
	if (extra > SIZE_MAX - b->len - 1)
		return TJ_ETOOBIG;
	size_t need = b->len + extra + 1;
	if (b->max && b->len + extra > b->max)
		return TJ_ETOOBIG;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int tj_buf_append(tj_buf *b, const void *p, size_t len)
{
	int rc = tj_buf_reserve(b, len);
	if (rc < 0)
		return rc;
	if (len)
		memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = 0;
	return 0;
}

int tj_buf_putc(tj_buf *b, uint8_t c)
{
	return tj_buf_append(b, &c, 1);
}

int tj_buf_puts(tj_buf *b, const char *s)
{
	return tj_buf_append(b, s, strlen(s));
}

int tj_buf_vprintf(tj_buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return TJ_EINVAL;
	int rc = tj_buf_reserve(b, (size_t)n);
	if (rc < 0)
		return rc;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int tj_buf_printf(tj_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = tj_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void tj_buf_truncate(tj_buf *b, size_t len)
{
	if (len < b->len) {
		b->len = len;
		b->data[len] = 0;
	}
}

void tj_buf_reset(tj_buf *b)
{
	tj_buf_truncate(b, 0);
}

void tj_buf_free(tj_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

uint8_t *tj_buf_steal(tj_buf *b, size_t *len_r)
{
	if (!b->data && tj_buf_reserve(b, 0) < 0)
		return NULL;
	uint8_t *p = b->data;
	if (len_r)
		*len_r = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return p;
}

int tj_buf_json_str(tj_buf *b, const void *p, size_t n)
{
	const uint8_t *s = p;
	int rc = tj_buf_putc(b, '"');
	for (size_t i = 0; !rc && i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			rc = tj_buf_printf(b, "\\%c", s[i]);
		else if (s[i] < 0x20)
			rc = tj_buf_printf(b, "\\u%04x", s[i]);
		else
			rc = tj_buf_putc(b, s[i]);
	}
	return rc ? rc : tj_buf_putc(b, '"');
}

int tj_grow(void *pp, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2;
	if (ncap < need)
		ncap = need;
	if (ncap < 16)
		ncap = 16;
	if (!elem || ncap > SIZE_MAX / elem)
		return -ENOMEM;
	void **p = pp;
	void *nv = realloc(*p, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*p = nv;
	*cap = ncap;
	return 0;
}

int tj_buf_put_utf8(tj_buf *out, uint32_t c)
{
	uint8_t b[4];
	size_t n;
	if (c < 0x80) {
		b[0] = (uint8_t)c, n = 1;
	} else if (c < 0x800) {
		b[0] = (uint8_t)(0xC0 | (c >> 6)), b[1] = (uint8_t)(0x80 | (c & 0x3F)), n = 2;
	} else if (c < 0x10000) {
		b[0] = (uint8_t)(0xE0 | (c >> 12)), b[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
		b[2] = (uint8_t)(0x80 | (c & 0x3F)), n = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | (c >> 18)), b[1] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
		b[2] = (uint8_t)(0x80 | ((c >> 6) & 0x3F)), b[3] = (uint8_t)(0x80 | (c & 0x3F)), n = 4;
	}
	return tj_buf_append(out, b, n);
}

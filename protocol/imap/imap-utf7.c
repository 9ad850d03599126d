/*
 * imap-utf7.c - modified UTF-7 encode/decode (see imap-utf7.h).
 *
 * Decoding is strict so that each mailbox name has one spelling: an
 * encoded section must not carry printable ASCII, must use all its bits,
 * and its padding bits must be zero.
 */
#include "common/base64.h"
#include "protocol/imap/imap-utf7.h"
#include "common/err.h"

#include <stdint.h>

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(uint8_t c)
{
	return tj_b64_value(c, ',');
}

static int put_utf8(tj_buf *out, uint32_t cp)
{
	uint8_t b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | (cp >> 6));
		b[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | (cp >> 12));
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | (cp >> 18));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return tj_buf_append(out, b, n);
}

/* decode one base64 section s[0..n) (between '&' and '-') */
static int decode_section(const uint8_t *s, size_t n, tj_buf *out)
{
	uint32_t bits = 0;
	int nbits = 0;
	uint32_t hi_sur = 0;
	size_t units = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(s[i]);
		if (v < 0)
			return TJ_EINVAL;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		uint32_t u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		units++;
		if (hi_sur) {
			if (u < 0xdc00 || u > 0xdfff)
				return TJ_EINVAL;
			uint32_t cp = 0x10000 + ((hi_sur - 0xd800) << 10) + (u - 0xdc00);
			hi_sur = 0;
			int rc = put_utf8(out, cp);
			if (rc < 0)
				return rc;
			continue;
		}
		if (u >= 0xd800 && u <= 0xdbff) {
			hi_sur = u;
			continue;
		}
		if (u >= 0xdc00 && u <= 0xdfff)
			return TJ_EINVAL;
		if (u == 0 || (u >= 0x20 && u <= 0x7e))
			return TJ_EINVAL; /* must have been written directly */
		int rc = put_utf8(out, u);
		if (rc < 0)
			return rc;
	}
	/* leftovers: fewer than 6 bits, all zero */
	if (hi_sur || units == 0 || nbits >= 6 || bits != 0)
		return TJ_EINVAL;
	return 0;
}

int imap_utf7_to_utf8(const char *in, size_t len, tj_buf *out)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t start = out->len;
	size_t last_section_end = SIZE_MAX; /* index after the last encoded section */
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0;) {
		uint8_t c = s[i];
		if (c < 0x20 || c > 0x7e) {
			rc = TJ_EINVAL;
			break;
		}
		if (c != '&') {
			rc = tj_buf_putc(out, c);
			i++;
			continue;
		}
		size_t j = i + 1;
		while (j < len && s[j] != '-')
			j++;
		if (j == len) {
			rc = TJ_EINVAL;
			break;
		}
		if (j == i + 1) {
			rc = tj_buf_putc(out, '&');
		} else if (i > 0 && s[i - 1] == '-' && last_section_end == i) {
			rc = TJ_EINVAL; /* "&AOk-&AOk-": must be one section */
		} else {
			rc = decode_section(s + i + 1, j - i - 1, out);
			last_section_end = j + 1;
		}
		i = j + 1;
	}
	if (rc < 0)
		tj_buf_truncate(out, start);
	return rc;
}

/* next code point of UTF-8 s[*i..len); -1 if invalid */
static int64_t next_cp(const uint8_t *s, size_t len, size_t *i)
{
	uint8_t c = s[*i];
	uint32_t cp;
	size_t n;
	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		cp = c & 0x1f;
		n = 1;
	} else if (c >= 0xe0 && c <= 0xef) {
		cp = c & 0x0f;
		n = 2;
	} else if (c >= 0xf0 && c <= 0xf4) {
		cp = c & 0x07;
		n = 3;
	} else {
		return -1;
	}
	if (len - *i <= n)
		return -1;
	for (size_t k = 1; k <= n; k++) {
		uint8_t cc = s[*i + k];
		if ((cc & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (cc & 0x3f);
	}
	if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*i += n + 1;
	return cp;
}

static int flush_bits(tj_buf *out, uint32_t *bits, int *nbits)
{
	while (*nbits >= 6) {
		*nbits -= 6;
		int rc = tj_buf_putc(out, (uint8_t)b64chars[(*bits >> *nbits) & 0x3f]);
		if (rc < 0)
			return rc;
	}
	*bits &= (1u << *nbits) - 1;
	return 0;
}

int imap_utf8_to_utf7(const char *in, size_t len, tj_buf *out)
{
	const uint8_t *s = (const uint8_t *)in;
	size_t start = out->len;
	bool shifted = false;
	uint32_t bits = 0;
	int nbits = 0;
	int rc = 0;
	size_t i = 0;
	while (i < len && rc == 0) {
		int64_t cp = next_cp(s, len, &i);
		if (cp <= 0) {
			rc = TJ_EINVAL;
			break;
		}
		if (cp >= 0x20 && cp <= 0x7e) {
			if (shifted) {
				if (nbits > 0) {
					bits <<= 6 - nbits;
					nbits = 6;
					rc = flush_bits(out, &bits, &nbits);
				}
				if (rc == 0)
					rc = tj_buf_putc(out, '-');
				shifted = false;
				bits = 0;
				nbits = 0;
			}
			if (rc == 0)
				rc = cp == '&' ? tj_buf_puts(out, "&-") : tj_buf_putc(out, (uint8_t)cp);
			continue;
		}
		if (!shifted) {
			rc = tj_buf_putc(out, '&');
			shifted = true;
		}
		uint32_t units[2];
		int nu = 1;
		if (cp >= 0x10000) {
			uint32_t v = (uint32_t)cp - 0x10000;
			units[0] = 0xd800 | (v >> 10);
			units[1] = 0xdc00 | (v & 0x3ff);
			nu = 2;
		} else {
			units[0] = (uint32_t)cp;
		}
		for (int k = 0; k < nu && rc == 0; k++) {
			bits = (bits << 16) | units[k];
			nbits += 16;
			rc = flush_bits(out, &bits, &nbits);
		}
	}
	if (rc == 0 && shifted) {
		if (nbits > 0) {
			bits <<= 6 - nbits;
			nbits = 6;
			rc = flush_bits(out, &bits, &nbits);
		}
		if (rc == 0)
			rc = tj_buf_putc(out, '-');
	}
	if (rc < 0)
		tj_buf_truncate(out, start);
	return rc;
}

bool imap_utf7_is_valid(const char *in, size_t len)
{
	tj_buf tmp = TJ_BUF_INIT;
	int rc = imap_utf7_to_utf8(in, len, &tmp);
	tj_buf_free(&tmp);
	return rc == 0;
}

/*
 * mime-decode.c - decoding for SEARCH: RFC 2047 encoded words, RFC 2231
 * parameter values, base64 and quoted-printable bodies, charset conversion
 * to UTF-8 (glibc iconv), the searchable text of a message, and a
 * case-insensitive substring search with simple Unicode case folding.
 * Everything here is lenient: bad input degrades to U+FFFD, never an error.
 */
#include "common/base64.h"
#include "protocol/mime/mime-private.h"
#include "common/err.h"

#include <errno.h>
#include <iconv.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define REPL "\xEF\xBF\xBD"
#define CHARSET_NAME_MAX 64

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int b64val(uint8_t c)
{
	return tj_b64_value(c, '/');
}

int tj_mime_decode_base64(const uint8_t *in, size_t len, tj_buf *out)
{
	uint32_t acc = 0;
	int bits = 0, rc;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '=')
			break;
		int v = b64val(in[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if ((rc = tj_buf_putc(out, (uint8_t)(acc >> bits))) < 0)
				return rc;
		}
	}
	return 0;
}

/* underscore_space: the RFC 2047 "Q" variant */
static int decode_qp(const uint8_t *in, size_t len, bool underscore_space, tj_buf *out)
{
	int rc;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];
		if (c == '=' && !underscore_space) {
			/* soft line break: "=" + optional whitespace + [CR]LF */
			size_t j = i + 1;
			while (j < len && (in[j] == ' ' || in[j] == '\t'))
				j++;
			if (j < len && in[j] == '\r')
				j++;
			if (j < len && in[j] == '\n') {
				i = j;
				continue;
			}
			if (j >= len && j > i + 1) {
				i = j - 1;
				continue;
			}
		}
		if (c == '=' && i + 2 < len && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
			c = (uint8_t)(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
			i += 2;
		} else if (c == '_' && underscore_space) {
			c = ' ';
		}
		if ((rc = tj_buf_putc(out, c)) < 0)
			return rc;
	}
	return 0;
}

int tj_mime_decode_qp(const uint8_t *in, size_t len, tj_buf *out)
{
	return decode_qp(in, len, false, out);
}

/* append valid UTF-8 only; invalid sequences -> U+FFFD */
static int utf8_sanitize(const uint8_t *in, size_t len, tj_buf *out)
{
	int rc;
	size_t i = 0, start = 0;
	while (i < len) {
		uint8_t c = in[i];
		size_t n = 0;
		uint32_t cp = 0, min = 0;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			n = 1, cp = c & 0x1F, min = 0x80;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2, cp = c & 0x0F, min = 0x800;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3, cp = c & 0x07, min = 0x10000;
		}
		bool ok = n > 0;
		for (size_t k = 1; ok && k <= n; k++) {
			if (i + k >= len || (in[i + k] & 0xC0) != 0x80)
				ok = false;
			else
				cp = (cp << 6) | (in[i + k] & 0x3F);
		}
		if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
			ok = false;
		if (ok) {
			i += n + 1;
			continue;
		}
		if ((rc = tj_buf_append(out, in + start, i - start)) < 0 ||
		    (rc = tj_buf_append(out, REPL, 3)) < 0)
			return rc;
		i++;
		start = i;
	}
	return tj_buf_append(out, in + start, len - start);
}

static bool is_ascii_charset(const char *cs)
{
	return !cs || !*cs || strcasecmp(cs, "us-ascii") == 0 || strcasecmp(cs, "ascii") == 0 ||
	       strcasecmp(cs, "utf-8") == 0 || strcasecmp(cs, "utf8") == 0;
}

/* One converter per thread, kept for the next text in the same charset:
 * iconv_open loads (and iconv_close unloads) glibc's converter module, which
 * cost more than the conversion itself when it ran per encoded word. */
struct conv_cache {
	char cs[CHARSET_NAME_MAX + 16];
	iconv_t cd;
};

static pthread_key_t conv_key;
static pthread_once_t conv_once = PTHREAD_ONCE_INIT;

static void conv_free(void *p)
{
	struct conv_cache *c = p;
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	free(c);
}

static void conv_key_init(void)
{
	pthread_key_create(&conv_key, conv_free);
}

/* conv_get - a converter from cs to UTF-8, in its initial state; or -1 */
static iconv_t conv_get(const char *cs)
{
	pthread_once(&conv_once, conv_key_init);
	struct conv_cache *c = pthread_getspecific(conv_key);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return iconv_open("UTF-8", cs); /* the caller then closes it */
		c->cd = (iconv_t)-1;
		pthread_setspecific(conv_key, c);
	}
	if (c->cd != (iconv_t)-1 && strcasecmp(c->cs, cs) == 0) {
		iconv(c->cd, NULL, NULL, NULL, NULL); /* back to the initial shift state */
		return c->cd;
	}
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	c->cd = iconv_open("UTF-8", cs);
	snprintf(c->cs, sizeof(c->cs), "%s", cs);
	return c->cd;
}

int tj_mime_to_utf8(const char *charset, const uint8_t *in, size_t len, tj_buf *out)
{
	char cs[CHARSET_NAME_MAX + 16];
	int rc;

	if (is_ascii_charset(charset) || strlen(charset) > CHARSET_NAME_MAX)
		return utf8_sanitize(in, len, out);
	/* invalid bytes are replaced rather than failing the whole text */
	snprintf(cs, sizeof(cs), "%s", charset);
	iconv_t cd = conv_get(cs);
	if (cd == (iconv_t)-1)
		return utf8_sanitize(in, len, out);
	struct conv_cache *cache = pthread_getspecific(conv_key);
	int owned = !cache || cache->cd != cd; /* not cached (out of memory): close it */
	char *ip = (char *)(uintptr_t)in;
	size_t il = len;
	char tmp[4096];
	rc = 0;
	while (il > 0 && rc == 0) {
		char *op = tmp;
		size_t ol = sizeof(tmp);
		size_t r = iconv(cd, &ip, &il, &op, &ol);
		if (op > tmp)
			rc = tj_buf_append(out, tmp, (size_t)(op - tmp));
		if (r == (size_t)-1 && rc == 0) {
			if (errno == E2BIG)
				continue;
			/* EILSEQ or EINVAL (truncated): skip one byte */
			rc = tj_buf_append(out, REPL, 3);
			ip++;
			il--;
		}
	}
	if (owned)
		iconv_close(cd);
	return rc;
}

/* one "=?cs?e?text?=" at p; returns its length or 0 */
static size_t encoded_word(const uint8_t *p, size_t len, tj_buf *out, int *rc)
{
	if (len < 8 || p[0] != '=' || p[1] != '?')
		return 0;
	size_t i = 2;
	while (i < len && p[i] != '?' && p[i] > ' ')
		i++;
	if (i >= len || p[i] != '?' || i == 2 || i - 2 > CHARSET_NAME_MAX)
		return 0;
	size_t cs_end = i;
	if (i + 2 >= len || p[i + 2] != '?')
		return 0;
	uint8_t enc = p[i + 1];
	if (enc != 'b' && enc != 'B' && enc != 'q' && enc != 'Q')
		return 0;
	size_t ts = i + 3, te = ts;
	while (te + 1 < len && !(p[te] == '?' && p[te + 1] == '=')) {
		if (p[te] == ' ' || p[te] == '\t' || p[te] == '\n' || p[te] == '\r')
			return 0;
		te++;
	}
	if (te + 1 >= len)
		return 0;
	char cs[CHARSET_NAME_MAX + 1];
	memcpy(cs, p + 2, cs_end - 2);
	cs[cs_end - 2] = '\0';
	char *star = strchr(cs, '*'); /* RFC 2231 language suffix */
	if (star)
		*star = '\0';
	tj_buf raw = TJ_BUF_INIT;
	*rc = (enc == 'b' || enc == 'B') ? tj_mime_decode_base64(p + ts, te - ts, &raw)
					 : decode_qp(p + ts, te - ts, true, &raw);
	if (*rc == 0)
		*rc = tj_mime_to_utf8(cs, raw.data ? raw.data : (const uint8_t *)"", raw.len, out);
	tj_buf_free(&raw);
	return te + 2;
}

int tj_mime_decode_header(const uint8_t *v, size_t len, tj_buf *out)
{
	tj_buf plain = TJ_BUF_INIT;
	int rc = 0;
	size_t i = 0;
	bool last_was_word = false;

	while (i < len && rc == 0) {
		if (v[i] == '=' && i + 1 < len && v[i + 1] == '?') {
			size_t start = out->len;
			size_t n = encoded_word(v + i, len - i, out, &rc);
			if (n > 0) {
				/* whitespace between two encoded words is dropped */
				if (!last_was_word && plain.len > 0) {
					tj_buf tmp = TJ_BUF_INIT;
					rc = tj_buf_append(&tmp, out->data + start, out->len - start);
					tj_buf_truncate(out, start);
					if (rc == 0)
						rc = utf8_sanitize(plain.data, plain.len, out);
					if (rc == 0)
						rc = tj_buf_append(out, tmp.data, tmp.len);
					tj_buf_free(&tmp);
				}
				tj_buf_truncate(&plain, 0);
				i += n;
				last_was_word = true;
				continue;
			}
		}
		uint8_t c = v[i];
		if (c == '\r' || c == '\n') { /* unfold */
			i++;
			continue;
		}
		if (c == ' ' || c == '\t') {
			rc = tj_buf_putc(&plain, c);
			i++;
			continue;
		}
		/* ordinary text: flush pending whitespace and this byte */
		rc = tj_buf_putc(&plain, c);
		i++;
		if (rc == 0) {
			rc = utf8_sanitize(plain.data, plain.len, out);
			tj_buf_truncate(&plain, 0);
		}
		last_was_word = false;
	}
	if (rc == 0 && plain.len > 0)
		rc = utf8_sanitize(plain.data, plain.len, out);
	tj_buf_free(&plain);
	return rc;
}

int tj_mime_decode_2231(const char *value, tj_buf *out)
{
	const char *q1 = strchr(value, '\'');
	const char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
	if (!q2 || (size_t)(q1 - value) > CHARSET_NAME_MAX)
		return utf8_sanitize((const uint8_t *)value, strlen(value), out);
	char cs[CHARSET_NAME_MAX + 1];
	memcpy(cs, value, (size_t)(q1 - value));
	cs[q1 - value] = '\0';
	tj_buf raw = TJ_BUF_INIT;
	int rc = 0;
	for (const char *p = q2 + 1; *p && rc == 0; p++) {
		if (*p == '%' && hexval((uint8_t)p[1]) >= 0 && hexval((uint8_t)p[2]) >= 0) {
			rc = tj_buf_putc(&raw, (uint8_t)(hexval((uint8_t)p[1]) * 16 + hexval((uint8_t)p[2])));
			p += 2;
		} else {
			rc = tj_buf_putc(&raw, (uint8_t)*p);
		}
	}
	if (rc == 0)
		rc = tj_mime_to_utf8(cs, raw.data ? raw.data : (const uint8_t *)"", raw.len, out);
	tj_buf_free(&raw);
	return rc;
}

/* ------------------------------------------------------ searchable text */

static int header_text(const uint8_t *raw, const struct tj_mime_part *p, tj_buf *out)
{
	size_t q = p->hdr_off, end = p->hdr_off + p->hdr_len;
	int rc = 0;
	while (q < end && rc == 0) {
		if (raw[q] == '\n' || (raw[q] == '\r' && q + 1 < end && raw[q + 1] == '\n'))
			break;
		size_t fs = q;
		do {
			const uint8_t *lf = memchr(raw + q, '\n', end - q);
			q = lf ? (size_t)(lf - raw) + 1 : end;
		} while (q < end && TJM_IS_LWSP(raw[q]));
		const uint8_t *colon = memchr(raw + fs, ':', q - fs);
		if (!colon)
			continue;
		size_t vs = (size_t)(colon - raw) + 1;
		if ((rc = utf8_sanitize(raw + fs, vs - fs, out)) < 0 || (rc = tj_buf_putc(out, ' ')) < 0)
			break;
		while (vs < q && TJM_IS_LWSP(raw[vs]))
			vs++;
		if ((rc = tj_mime_decode_header(raw + vs, q - vs, out)) == 0)
			rc = tj_buf_putc(out, '\n');
	}
	return rc;
}

static int body_text(const struct tj_mime_msg *m, uint32_t idx, const uint8_t *raw, tj_buf *out)
{
	struct tj_mime_content ct;
	const struct tj_mime_part *p = &m->parts[idx];
	int rc;
	if (tj_mime_part_content(m, idx, &ct) < 0 || !(p->flags & TJ_MIME_PART_TEXT))
		return 0;
	const uint8_t *b = raw + p->body_off;
	size_t n = p->body_len;
	tj_buf dec = TJ_BUF_INIT;
	if (ct.cte && strcasecmp(ct.cte, "base64") == 0)
		rc = tj_mime_decode_base64(b, n, &dec);
	else if (ct.cte && strcasecmp(ct.cte, "quoted-printable") == 0)
		rc = tj_mime_decode_qp(b, n, &dec);
	else
		rc = tj_buf_append(&dec, b, n);
	if (rc == 0)
		rc = tj_mime_to_utf8(ct.charset, dec.data ? dec.data : (const uint8_t *)"", dec.len, out);
	if (rc == 0)
		rc = tj_buf_putc(out, '\n');
	tj_buf_free(&dec);
	return rc;
}

int tj_mime_search_text(const uint8_t *raw, size_t len, enum tj_mime_search_what what, tj_buf *out)
{
	struct tj_mime_msg *m;
	int rc = tj_mime_parse(raw, len, &m);
	if (rc < 0)
		return rc;
	if (what != TJ_MIME_SEARCH_BODY)
		rc = header_text(raw, &m->parts[0], out);
	if (what != TJ_MIME_SEARCH_HEADERS) {
		for (uint32_t i = 1; i < m->nparts && rc == 0; i++) {
			/* embedded messages' headers are part of the body text */
			uint32_t par = m->parts[i].parent;
			if (m->parts[par].flags & TJ_MIME_PART_RFC822)
				rc = header_text(raw, &m->parts[i], out);
		}
		for (uint32_t i = 0; i < m->nparts && rc == 0; i++)
			if (m->parts[i].first_child == TJ_MIME_NONE)
				rc = body_text(m, i, raw, out);
	}
	tj_mime_free(&m);
	return rc;
}

/* ---------------------------------------------------------- case folding */

static uint32_t fold_cp(uint32_t c)
{
	if (c < 0x80)
		return (c >= 'A' && c <= 'Z') ? c + 32 : c;
	if ((c >= 0xC0 && c <= 0xDE && c != 0xD7))
		return c + 32;
	if (c >= 0x100 && c <= 0x137)
		return c | 1;
	if (c >= 0x139 && c <= 0x148)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x14A && c <= 0x177)
		return c | 1;
	if (c == 0x178)
		return 0xFF;
	if (c >= 0x179 && c <= 0x17E)
		return (c & 1) ? c + 1 : c;
	if (c >= 0x391 && c <= 0x3AB && c != 0x3A2)
		return c + 32;
	if (c == 0x3C2)
		return 0x3C3; /* final sigma */
	if (c >= 0x410 && c <= 0x42F)
		return c + 32;
	if (c >= 0x400 && c <= 0x40F)
		return c + 80;
	return c;
}

int tj_mime_fold(const uint8_t *in, size_t len, tj_buf *out)
{
	tj_buf clean = TJ_BUF_INIT;
	int rc = utf8_sanitize(in, len, &clean);
	const uint8_t *s = clean.data;
	size_t n = clean.len;
	for (size_t i = 0; i < n && rc == 0;) {
		uint32_t c = s[i];
		size_t k = 1;
		if (c >= 0xF0)
			c &= 0x07, k = 4;
		else if (c >= 0xE0)
			c &= 0x0F, k = 3;
		else if (c >= 0xC0)
			c &= 0x1F, k = 2;
		for (size_t j = 1; j < k; j++)
			c = (c << 6) | (s[i + j] & 0x3F);
		i += k;
		rc = tj_buf_put_utf8(out, fold_cp(c));
	}
	tj_buf_free(&clean);
	return rc;
}

int tj_mime_search(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t needle_len)
{
	tj_buf h = TJ_BUF_INIT, n = TJ_BUF_INIT;
	int rc;
	if (needle_len == 0)
		return 1;
	if ((rc = tj_mime_fold(hay, hay_len, &h)) == 0 && (rc = tj_mime_fold(needle, needle_len, &n)) == 0)
		rc = (h.len >= n.len && memmem(h.data, h.len, n.data, n.len)) ? 1 : 0;
	tj_buf_free(&h);
	tj_buf_free(&n);
	return rc;
}

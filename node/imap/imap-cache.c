/*
 * imap-cache.c - the per-message cache blob (see imap-cache.h): built once
 * when a message is stored, read by FETCH (MIME structure) and SEARCH
 * (decoded header fields, sent date).
 */
#include "node/imap/imap-cache.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "protocol/imap/imap-date.h"
#include "protocol/mime/mime.h"

#define MAGIC "TJC"

static const struct {
	const char *name;
	size_t len;
} field_names[IMAP_CF_COUNT] = {
	[IMAP_CF_FROM] = {"From", 4},	   [IMAP_CF_TO] = {"To", 2},
	[IMAP_CF_CC] = {"Cc", 2},	   [IMAP_CF_BCC] = {"Bcc", 3},
	[IMAP_CF_SUBJECT] = {"Subject", 7}, [IMAP_CF_MESSAGE_ID] = {"Message-ID", 10},
};

int imap_cache_field_id(const char *name, size_t len)
{
	for (int i = 0; i < IMAP_CF_COUNT; i++)
		if (field_names[i].len == len && strncasecmp(field_names[i].name, name, len) == 0)
			return i;
	return -1;
}

/* ---- the header block ---- */

size_t imap_header_len(const uint8_t *raw, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (raw[i] != '\n')
			continue;
		if (raw[i + 1] == '\n' || (i + 2 < len && raw[i + 1] == '\r' && raw[i + 2] == '\n'))
			return i + 1;
	}
	return len;
}

bool imap_header_next(const uint8_t **pp, const uint8_t *end, const uint8_t **field_r)
{
	const uint8_t *p = *pp;
	if (p >= end)
		return false;
	const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
	const uint8_t *next = eol ? eol + 1 : end;
	/* the field's continuation lines start with a space or a tab */
	while (next < end && (*next == ' ' || *next == '\t')) {
		eol = memchr(next, '\n', (size_t)(end - next));
		next = eol ? eol + 1 : end;
	}
	*field_r = p;
	*pp = next;
	return true;
}

bool imap_header_is(const uint8_t *f, const uint8_t *next, const char *name, size_t nlen)
{
	return (size_t)(next - f) > nlen && f[nlen] == ':' && strncasecmp((const char *)f, name, nlen) == 0;
}

int imap_header_value(const uint8_t *f, const uint8_t *next, size_t nlen, tj_buf *out)
{
	tj_buf dec = TJ_BUF_INIT;
	const uint8_t *v = f + nlen + 1;
	int rc = tj_mime_decode_header(v, (size_t)(next - v), &dec);
	if (rc == 0) {
		const uint8_t *t = dec.data ? dec.data : (const uint8_t *)"";
		size_t tl = dec.len;
		while (tl && (*t == ' ' || *t == '\t')) {
			t++;
			tl--;
		}
		rc = tj_buf_append(out, t, tl);
	}
	tj_buf_free(&dec);
	return rc;
}

int64_t imap_sent_day(const char *p, size_t len)
{
	static const char months[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	const char *end = p + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if (eol - p > 5 && strncasecmp(p, "Date:", 5) == 0) {
			const char *q = p + 5;
			while (q < eol && !isdigit((unsigned char)*q))
				q++;
			int day = 0, year = 0, mon = 0, nd = 0;
			while (q < eol && isdigit((unsigned char)*q) && nd++ < 2)
				day = day * 10 + (*q++ - '0');
			while (q < eol && (*q == ' ' || *q == '-'))
				q++;
			if (eol - q < 3)
				return IMAP_CACHE_NO_DATE;
			for (int i = 0; i < 12; i++)
				if (strncasecmp(q, months + 3 * i, 3) == 0)
					mon = i + 1;
			q += 3;
			while (q < eol && (*q == ' ' || *q == '-'))
				q++;
			nd = 0;
			while (q < eol && isdigit((unsigned char)*q) && nd < 4) {
				year = year * 10 + (*q++ - '0');
				nd++;
			}
			if (nd == 2)
				year += year < 50 ? 2000 : 1900;
			if (!mon || day < 1 || day > 31 || nd < 2)
				return IMAP_CACHE_NO_DATE;
			struct imap_date d = {year, mon, day};
			return imap_date_days(&d);
		}
		p = eol + 1;
	}
	return IMAP_CACHE_NO_DATE;
}

/* ---- building ---- */

static int put_fields(const uint8_t *raw, size_t len, tj_buf *out)
{
	size_t hl = imap_header_len(raw, len);
	const uint8_t *p = raw, *end = raw + hl, *f;
	tj_buf val = TJ_BUF_INIT, folded = TJ_BUF_INIT, text = TJ_BUF_INIT;
	uint8_t b[8];
	/* the sent date, read as SEARCH SENT* reads it */
	int rc = tj_mime_search_text(raw, hl, TJ_MIME_SEARCH_HEADERS, &text);
	if (rc == 0) {
		tj_put64(b, (uint64_t)imap_sent_day((const char *)text.data, text.len));
		rc = tj_buf_append(out, b, 8);
	}
	while (rc == 0 && imap_header_next(&p, end, &f)) {
		for (int id = 0; id < IMAP_CF_COUNT && rc == 0; id++) {
			if (!imap_header_is(f, p, field_names[id].name, field_names[id].len))
				continue;
			tj_buf_reset(&val);
			tj_buf_reset(&folded);
			if ((rc = imap_header_value(f, p, field_names[id].len, &val)) ||
			    (rc = tj_mime_fold(val.data ? val.data : (const uint8_t *)"", val.len, &folded)))
				break;
			if (folded.len > UINT32_MAX) {
				rc = TJ_ETOOBIG;
				break;
			}
			b[0] = (uint8_t)id;
			tj_put32(b + 1, (uint32_t)folded.len);
			if (!(rc = tj_buf_append(out, b, 5)))
				rc = tj_buf_append(out, folded.data, folded.len);
		}
	}
	tj_buf_free(&val);
	tj_buf_free(&folded);
	tj_buf_free(&text);
	return rc;
}

/* put_head - the magic, the version and the search fields */
static int put_head(const uint8_t *raw, size_t len, tj_buf *out)
{
	size_t start = out->len;
	uint8_t head[8] = {'T', 'J', 'C', IMAP_CACHE_VERSION};
	int rc = tj_buf_append(out, head, 8);
	if (!rc)
		rc = put_fields(raw, len, out);
	if (!rc) {
		size_t n = out->len - start - 8;
		if (n > UINT32_MAX)
			rc = TJ_ETOOBIG;
		else
			tj_put32(out->data + start + 4, (uint32_t)n);
	}
	return rc;
}

int imap_cache_upgrade(const uint8_t *hdr, size_t hlen, tj_slice mime, tj_buf *out)
{
	int rc = put_head(hdr, hlen, out);
	return rc ? rc : tj_buf_append(out, mime.ptr, mime.len);
}

int imap_cache_build(const uint8_t *raw, size_t len, tj_buf *out, struct tj_mime_msg **msg_r)
{
	struct tj_mime_msg *msg = NULL;
	int rc = put_head(raw, len, out);
	if (!rc)
		rc = tj_mime_parse(raw, len, &msg);
	if (!rc)
		rc = tj_mime_serialize(msg, out);
	if (rc || !msg_r)
		tj_mime_free(&msg);
	else
		*msg_r = msg;
	return rc;
}

/* ---- reading ---- */

int imap_cache_open(const uint8_t *blob, size_t len, struct imap_cache_view *v)
{
	memset(v, 0, sizeof(*v));
	if (len >= 4 && memcmp(blob, "TJM", 3) == 0) {
		v->mime = (tj_slice){blob, len};
		return 0;
	}
	if (len < 8 || memcmp(blob, MAGIC, 3) != 0)
		return TJ_ECORRUPT;
	if (blob[3] != IMAP_CACHE_VERSION)
		return TJ_EVERSION;
	uint32_t n = tj_get32(blob + 4);
	if (n < 8 || n > len - 8)
		return TJ_ECORRUPT;
	v->has_fields = true;
	v->sent_day = (int64_t)tj_get64(blob + 8);
	v->fields = (tj_slice){blob + 16, n - 8};
	v->mime = (tj_slice){blob + 8 + n, len - 8 - n};
	return 0; /* the entries are checked as they are read */
}

int imap_cache_match(const struct imap_cache_view *v, enum imap_cache_field field, const uint8_t *needle,
		     size_t len)
{
	const uint8_t *p = v->fields.ptr, *end = p + v->fields.len;
	while (p < end) {
		if (end - p < 5 || tj_get32(p + 1) > (size_t)(end - p - 5))
			return TJ_ECORRUPT;
		uint32_t n = tj_get32(p + 1);
		const uint8_t *t = p + 5;
		if (p[0] == field && (len == 0 || (n >= len && memmem(t, n, needle, len))))
			return 1;
		p = t + n;
	}
	return 0;
}

/*
 * smtp-data.c - the DATA stream decoder (RFC 5321 4.1.1.4, 4.5.2).
 *
 * A byte-at-a-time state machine (with a fast path for runs of ordinary
 * bytes) that removes dot-stuffing, finds the end-of-data line, rewrites
 * every line ending to CRLF (see the bare LF policy in smtp.h), counts the
 * decoded size against the limit and counts Received: fields in the header
 * section.  Past the size or hop limit it stops producing output but keeps
 * looking for the end of data, so the session never loses sync.
 */
#include "protocol/smtp/smtp.h"
#include "common/err.h"

#include <string.h>

static const char received_kw[] = "received:";
#define RECEIVED_LEN (sizeof(received_kw) - 1)

void tj_smtp_data_init(struct tj_smtp_data *d, enum tj_smtp_lf_policy lf, uint64_t max_size,
		       unsigned max_hops, bool prev_crlf)
{
	memset(d, 0, sizeof(*d));
	d->st = TJ_SMTP_DS_LINE_START;
	d->lf = lf;
	d->prev_crlf = prev_crlf || lf == TJ_SMTP_LF_LENIENT;
	d->in_headers = true;
	d->max_size = max_size;
	d->max_hops = max_hops;
}

/* output is suppressed once the message is certain to be refused */
static bool refused(const struct tj_smtp_data *d)
{
	return d->overflow || d->too_many_hops || (d->lf == TJ_SMTP_LF_STRICT && d->bare_lf);
}

static int account(struct tj_smtp_data *d, tj_buf *out, const uint8_t *p, size_t n)
{
	if (refused(d)) {
		d->size += n;
		if (d->max_size && d->size > d->max_size)
			d->overflow = true;
		return 0;
	}
	uint64_t room = d->max_size ? d->max_size - d->size : UINT64_MAX;
	d->size += n;
	if (n > room) {
		/* output stops exactly at the limit, however the input was split */
		d->overflow = true;
		n = (size_t)room;
	}
	return tj_buf_append(out, p, n);
}

/* put - decoded line content (no CR LF pairs that end lines) */
static int put(struct tj_smtp_data *d, tj_buf *out, const uint8_t *p, size_t n)
{
	size_t done = 0;
	if (d->in_headers) {
		for (size_t i = 0; i < n; i++) {
			if (d->hdr_match < RECEIVED_LEN && d->out_line_len == d->hdr_match) {
				uint8_t c = p[i];
				if (c >= 'A' && c <= 'Z')
					c = (uint8_t)(c + 32);
				if (c == (uint8_t)received_kw[d->hdr_match] && ++d->hdr_match == RECEIVED_LEN &&
				    ++d->hops > d->max_hops && d->max_hops && !d->too_many_hops) {
					/* output stops here, however the input was split */
					int rc = account(d, out, p + done, i - done);
					if (rc < 0)
						return rc;
					done = i;
					d->too_many_hops = true;
				}
			}
			d->out_line_len++;
		}
	}
	return account(d, out, p + done, n - done);
}

static int line_end(struct tj_smtp_data *d, tj_buf *out, bool crlf)
{
	if (!crlf)
		d->bare_lf = true;
	if (d->in_headers && d->out_line_len == 0)
		d->in_headers = false; /* the empty line between header and body */
	d->out_line_len = 0;
	d->hdr_match = 0;
	d->prev_crlf = crlf || d->lf == TJ_SMTP_LF_LENIENT;
	d->st = TJ_SMTP_DS_LINE_START;
	return account(d, out, (const uint8_t *)"\r\n", 2);
}

int tj_smtp_data_decode(struct tj_smtp_data *d, const void *in, size_t len, size_t *used_r, tj_buf *out)
{
	const uint8_t *start = in, *p = start, *end = start + len;
	int rc = 0;
	*used_r = 0;
	if (d->st == TJ_SMTP_DS_DONE)
		return 0;
	while (p < end && rc == 0) {
		switch (d->st) {
		case TJ_SMTP_DS_LINE_START:
			if (*p == '.') {
				d->st = TJ_SMTP_DS_DOT;
				p++;
			} else {
				d->st = TJ_SMTP_DS_MID;
			}
			break;
		case TJ_SMTP_DS_MID: {
			const uint8_t *q = p;
			while (q < end && *q != '\r' && *q != '\n')
				q++;
			if (q > p) {
				rc = put(d, out, p, (size_t)(q - p));
				p = q;
			} else if (*p == '\r') {
				d->st = TJ_SMTP_DS_CR;
				p++;
			} else {
				p++;
				rc = line_end(d, out, false);
			}
			break;
		}
		case TJ_SMTP_DS_CR:
			if (*p == '\n') {
				p++;
				rc = line_end(d, out, true);
			} else {
				/* a bare CR is content; the byte after it is looked at afresh */
				rc = put(d, out, (const uint8_t *)"\r", 1);
				d->st = TJ_SMTP_DS_MID;
			}
			break;
		case TJ_SMTP_DS_DOT:
			if (*p == '\r') {
				d->st = TJ_SMTP_DS_DOT_CR;
				p++;
			} else if (*p == '\n') {
				p++;
				if (d->lf == TJ_SMTP_LF_LENIENT) {
					d->bare_lf = true;
					d->st = TJ_SMTP_DS_DONE;
					*used_r = (size_t)(p - start);
					return 0;
				}
				/* "." ended by a bare LF is never the end of data: content */
				rc = put(d, out, (const uint8_t *)".", 1);
				if (rc == 0)
					rc = line_end(d, out, false);
			} else {
				d->st = TJ_SMTP_DS_MID; /* unstuff: drop the leading dot */
			}
			break;
		case TJ_SMTP_DS_DOT_CR:
			if (*p == '\n') {
				p++;
				if (d->prev_crlf) {
					d->st = TJ_SMTP_DS_DONE;
					*used_r = (size_t)(p - start);
					return 0;
				}
				/* "<LF>.<CR><LF>": not CRLF.CRLF, so content (anti-smuggling) */
				rc = put(d, out, (const uint8_t *)".", 1);
				if (rc == 0)
					rc = line_end(d, out, true);
			} else {
				/* ".<CR>x": other characters follow, so the dot was stuffing */
				rc = put(d, out, (const uint8_t *)"\r", 1);
				d->st = TJ_SMTP_DS_MID;
			}
			break;
		case TJ_SMTP_DS_DONE:
			*used_r = (size_t)(p - start);
			return 0;
		}
	}
	*used_r = (size_t)(p - start);
	return rc < 0 ? rc : TJ_NEED_MORE;
}

/*
 * mime-parse.c - the MIME structure parser: header/body split, header
 * unfolding, multipart boundaries, message/rfc822 nesting, Content-* data and
 * envelopes, CRLF sizes and line counts; and the part table's lifetime.
 * It works on the complete message in memory and follows Dovecot 2.3's
 * message-parser rules (boundary prefix matching, the newline before a
 * boundary belonging to the boundary, Mime-Version handling, limits) so
 * that BODYSTRUCTURE sizes and shapes agree with Dovecot's.
 */
#include "protocol/mime/mime-private.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BOUNDARY_FIND_MAX (TJ_MIME_BOUNDARY_MAX + 4) /* "--" + boundary + "--" */

struct boundary {
	const char *s;
	size_t len;
	uint32_t owner;
};

struct pctx {
	const uint8_t *raw;
	size_t len;
	struct tj_mime_msg *msg;
	struct boundary bstack[TJ_MIME_MAX_NESTING + 1];
	unsigned int nb;
	bool oom;
	tj_buf value; /* unfolded header value */
	tj_buf tmp;
};

/* ------------------------------------------------------------ parts */

static uint32_t part_new(struct pctx *c, uint32_t parent)
{
	struct tj_mime_msg *m = c->msg;
	if (m->nparts == m->parts_cap) {
		uint32_t cap = m->parts_cap ? m->parts_cap * 2 : 8;
		struct tj_mime_part *np = realloc(m->parts, cap * sizeof(*np));
		struct tjm_pdata *nd = realloc(m->data, cap * sizeof(*nd));
		if (np)
			m->parts = np;
		if (nd)
			m->data = nd;
		if (!np || !nd) {
			c->oom = true;
			return TJ_MIME_NONE;
		}
		m->parts_cap = cap;
	}
	uint32_t idx = m->nparts++;
	struct tj_mime_part *p = &m->parts[idx];
	memset(p, 0, sizeof(*p));
	memset(&m->data[idx], 0, sizeof(m->data[idx]));
	p->parent = parent;
	p->first_child = p->next = TJ_MIME_NONE;
	if (parent != TJ_MIME_NONE) {
		struct tj_mime_part *par = &m->parts[parent];
		if (par->first_child == TJ_MIME_NONE)
			par->first_child = idx;
		else
			m->parts[m->data[parent].last_child].next = idx;
		m->data[parent].last_child = idx;
	}
	return idx;
}

/* ------------------------------------------------------- boundaries */

/* Is the line at q a boundary line of the stack?  Index or -1. */
static int boundary_at(struct pctx *c, size_t q, uint32_t curpart, bool *epilogue_r)
{
	if (c->nb == 0 || q + 2 > c->len || c->raw[q] != '-' || c->raw[q + 1] != '-')
		return -1;
	if (c->msg->nparts >= TJ_MIME_MAX_PARTS) {
		c->msg->parts[curpart].flags |= TJ_MIME_PART_OVERFLOW;
		return -1;
	}
	const uint8_t *d = c->raw + q + 2;
	size_t size = c->len - q - 2, fs;
	bool dashes = false;
	const uint8_t *lf = memchr(d, '\n', size);
	if (lf) {
		fs = (size_t)(lf - d);
		if (fs > 0 && d[fs - 1] == '\r')
			fs--;
		if (fs > 2 && d[fs - 1] == '-' && d[fs - 2] == '-')
			dashes = true;
	} else {
		fs = size > BOUNDARY_FIND_MAX ? BOUNDARY_FIND_MAX : size;
	}
	int best = -1;
	for (int i = (int)c->nb - 1; i >= 0; i--) {
		const struct boundary *b = &c->bstack[i];
		if (b->len <= fs && memcmp(b->s, d, b->len) == 0 &&
		    (best < 0 || c->bstack[best].len < b->len)) {
			best = i;
			if (b->len == fs || (dashes && b->len + 2 == fs))
				break;
		}
	}
	if (best >= 0) {
		size_t bl = c->bstack[best].len;
		*epilogue_r = size >= bl + 2 && d[bl] == '-' && d[bl + 1] == '-';
	}
	return best;
}

/* Scan a body from its first line for a boundary line.  Returns the stack
 * index (and *body_end_r: where the body ends, before [CR]LF; *line_r: the
 * "--" line start) or -1 at EOF (*body_end_r = len). */
static int scan_body(struct pctx *c, size_t start, uint32_t curpart, size_t *body_end_r,
		     size_t *line_r, bool *epi_r)
{
	int b;
	*body_end_r = c->len;
	if (c->nb == 0 || start >= c->len)
		return -1;
	if ((b = boundary_at(c, start, curpart, epi_r)) >= 0) {
		*body_end_r = *line_r = start;
		return b;
	}
	size_t q = start;
	for (;;) {
		const uint8_t *lf = memchr(c->raw + q, '\n', c->len - q);
		if (!lf)
			return -1;
		size_t lfpos = (size_t)(lf - c->raw);
		q = lfpos + 1;
		if ((b = boundary_at(c, q, curpart, epi_r)) >= 0) {
			size_t e = lfpos;
			if (e > start && c->raw[e - 1] == '\r')
				e--;
			*body_end_r = e;
			*line_r = q;
			return b;
		}
	}
}

/* --------------------------------------------------- header contents */

static const char *hdr_strdup(struct pctx *c, const uint8_t *v, size_t n)
{
	if (!memchr(v, '\0', n))
		return tjm_strndup(&c->msg->pool, v, n);
	tj_buf_truncate(&c->tmp, 0);
	for (size_t i = 0; i < n; i++) {
		int rc = v[i] ? tj_buf_putc(&c->tmp, v[i]) : tj_buf_append(&c->tmp, "\xEF\xBF\xBD", 3);
		if (rc < 0)
			c->oom = true;
	}
	return tjm_strndup(&c->msg->pool, c->tmp.data ? c->tmp.data : (uint8_t *)"", c->tmp.len);
}

static void parse_content_type_data(struct pctx *c, struct tjm_pdata *d, const uint8_t *v, size_t n)
{
	struct tjm_lex lx;
	tj_buf s = TJ_BUF_INIT;
	tjm_lex_init(&lx, v, n, NULL, &c->oom);
	tjm_lex_skip_lwsp(&lx);
	int ret = tjm_lex_content_type(&lx, &s);
	const char *str = s.data ? (const char *)s.data : "";
	const char *slash = memchr(str, '/', s.len);
	struct tjm_pool *pool = &c->msg->pool;
	if (slash) {
		d->type = tjm_strndup(pool, str, (size_t)(slash - str));
		d->subtype = tjm_strndup(pool, slash + 1, s.len - (size_t)(slash - str) - 1);
	} else {
		d->type = tjm_strndup(pool, str, s.len);
		d->subtype = "";
	}
	tj_buf_free(&s);
	if (ret < 0)
		return;
	tjm_parse_params(&lx, pool, &d->params, &d->nparams);
}

static void parse_content_header(struct pctx *c, struct tjm_pdata *d, const char *name,
				 const uint8_t *v, size_t n)
{
	struct tjm_pool *pool = &c->msg->pool;
	struct tjm_lex lx;

	if (strcasecmp(name, "ID") == 0) {
		if (!d->id)
			d->id = hdr_strdup(c, v, n);
	} else if (strcasecmp(name, "MD5") == 0) {
		if (!d->md5)
			d->md5 = hdr_strdup(c, v, n);
	} else if (strcasecmp(name, "Type") == 0) {
		if (!d->type)
			parse_content_type_data(c, d, v, n);
	} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
		if (d->cte)
			return;
		tj_buf s = TJ_BUF_INIT;
		tjm_lex_init(&lx, v, n, NULL, &c->oom);
		tjm_lex_skip_lwsp(&lx);
		if (tjm_lex_mime_token(&lx, &s) >= 0 && tjm_lex_skip_lwsp(&lx) == 0 && s.len > 0)
			d->cte = tjm_strndup(pool, s.data, s.len);
		tj_buf_free(&s);
	} else if (strcasecmp(name, "Language") == 0) {
		if (d->lang)
			return;
		tj_buf s = TJ_BUF_INIT, arr = TJ_BUF_INIT;
		tjm_lex_init(&lx, v, n, NULL, &c->oom);
		tjm_lex_skip_lwsp(&lx);
		while (tjm_lex_atom(&lx, &s) >= 0) {
			const char *l = tjm_strndup(pool, s.data, s.len);
			if (l)
				tjm_put(&lx, &arr, &l, sizeof(l));
			tj_buf_truncate(&s, 0);
			if (lx.p >= lx.end || *lx.p != ',')
				break;
			lx.p++;
			tjm_lex_skip_lwsp(&lx);
		}
		size_t cnt = arr.len / sizeof(char *);
		if (cnt > 0) {
			const char **list = tjm_alloc(pool, (cnt + 1) * sizeof(char *));
			if (list) {
				memcpy(list, arr.data, arr.len);
				d->lang = list;
			}
		}
		tj_buf_free(&s);
		tj_buf_free(&arr);
	} else if (strcasecmp(name, "Location") == 0) {
		if (!d->location)
			d->location = hdr_strdup(c, v, n);
	} else if (strcasecmp(name, "Description") == 0) {
		if (!d->description)
			d->description = hdr_strdup(c, v, n);
	} else if (strcasecmp(name, "Disposition") == 0) {
		if (d->dparams) /* Dovecot re-parses while no parameters were seen */
			return;
		tj_buf s = TJ_BUF_INIT;
		tjm_lex_init(&lx, v, n, NULL, &c->oom);
		tjm_lex_skip_lwsp(&lx);
		if (tjm_lex_mime_token(&lx, &s) >= 0) {
			d->disposition = tjm_strndup(pool, s.data ? s.data : (uint8_t *)"", s.len);
			tjm_parse_params(&lx, pool, &d->dparams, &d->ndparams);
		}
		tj_buf_free(&s);
	}
}

static void parse_envelope_header(struct pctx *c, struct tjm_pdata *d, const char *name,
				  const uint8_t *v, size_t n)
{
	struct tjm_pool *pool = &c->msg->pool;
	struct tjm_envelope *e = d->env;
	const char **sp = NULL;
	struct tjm_addr **ap = NULL;

	if (!e) {
		e = d->env = tjm_alloc(pool, sizeof(*e));
		if (!e)
			return;
	}
	if (strcasecmp(name, "Date") == 0)
		sp = &e->date;
	else if (strcasecmp(name, "Subject") == 0)
		sp = &e->subject;
	else if (strcasecmp(name, "Message-ID") == 0)
		sp = &e->message_id;
	else if (strcasecmp(name, "In-Reply-To") == 0)
		sp = &e->in_reply_to;
	else if (strcasecmp(name, "From") == 0)
		ap = &e->from;
	else if (strcasecmp(name, "Sender") == 0)
		ap = &e->sender;
	else if (strcasecmp(name, "Reply-To") == 0)
		ap = &e->reply_to;
	else if (strcasecmp(name, "To") == 0)
		ap = &e->to;
	else if (strcasecmp(name, "Cc") == 0)
		ap = &e->cc;
	else if (strcasecmp(name, "Bcc") == 0)
		ap = &e->bcc;
	if (sp) {
		*sp = hdr_strdup(c, v, n); /* the last one wins, as in Dovecot */
	} else if (ap) {
		/* repeated headers are merged as one comma-separated list */
		while (*ap)
			ap = &(*ap)->next;
		*ap = tjm_parse_addresses(pool, v, n, UINT32_MAX);
	}
}

struct hdr_state {
	bool seen_ct;
	const char *boundary; /* from the first Content-Type, if multipart */
};

static void parser_content_type(struct pctx *c, uint32_t idx, struct hdr_state *hs,
				const uint8_t *v, size_t n)
{
	struct tj_mime_part *p = &c->msg->parts[idx];
	struct tjm_lex lx;
	tj_buf s = TJ_BUF_INIT;

	if (hs->seen_ct)
		return;
	hs->seen_ct = true;
	tjm_lex_init(&lx, v, n, NULL, &c->oom);
	tjm_lex_skip_lwsp(&lx);
	int ret = tjm_lex_content_type(&lx, &s);
	const char *t = s.data ? (const char *)s.data : "";
	if (strcasecmp(t, "message/rfc822") == 0) {
		p->flags |= TJ_MIME_PART_RFC822;
	} else if (strncasecmp(t, "text", 4) == 0 && (s.len == 4 || t[4] == '/')) {
		p->flags |= TJ_MIME_PART_TEXT;
	} else if (strncasecmp(t, "multipart/", 10) == 0) {
		p->flags |= TJ_MIME_PART_MULTIPART;
		if (strcasecmp(t + 10, "digest") == 0)
			p->flags |= TJ_MIME_PART_DIGEST;
	}
	tj_buf_free(&s);
	if (ret < 0 || !(p->flags & TJ_MIME_PART_MULTIPART))
		return;
	struct tjm_param *params;
	unsigned int np;
	struct tjm_pool tmp = {NULL, false};
	tjm_parse_params(&lx, &tmp, &params, &np);
	for (unsigned int i = 0; i < np; i++) {
		if (strcasecmp(params[i].name, "boundary") == 0) {
			size_t bl = strlen(params[i].value);
			if (bl > TJ_MIME_BOUNDARY_MAX)
				bl = TJ_MIME_BOUNDARY_MAX;
			hs->boundary = tjm_strndup(&c->msg->pool, params[i].value, bl);
			break;
		}
	}
	if (tmp.oom)
		c->oom = true;
	tjm_pool_clear(&tmp);
}

static void one_header(struct pctx *c, uint32_t idx, struct hdr_state *hs,
		       const uint8_t *name, size_t name_len, const uint8_t *v, size_t n)
{
	struct tj_mime_part *p = &c->msg->parts[idx];
	struct tjm_pdata *d = &c->msg->data[idx];
	char nm[TJ_MIME_HDR_NAME_MAX + 1];
	size_t nl = name_len;
	const uint8_t *z = memchr(name, '\0', name_len);
	if (z) /* names are compared as C strings */
		nl = (size_t)(z - name);
	memcpy(nm, name, nl);
	nm[nl] = '\0';

	if (strcasecmp(nm, "Mime-Version") == 0) {
		p->flags |= TJ_MIME_PART_IS_MIME;
	} else if (strcasecmp(nm, "Content-Type") == 0) {
		p->flags |= TJ_MIME_PART_IS_MIME;
		parser_content_type(c, idx, hs, v, n);
	}
	if (strncasecmp(nm, "Content-", 8) == 0)
		parse_content_header(c, d, nm + 8, v, n);
	bool want_env = p->parent == TJ_MIME_NONE ||
			(c->msg->parts[p->parent].flags & TJ_MIME_PART_RFC822);
	if (want_env)
		parse_envelope_header(c, d, nm, v, n);
}

/* Parse the header at pos.  Returns -1 when it ended normally (*end_r after
 * the empty line, or at EOF), or the boundary index when a boundary line
 * interrupted it (*end_r before the previous line's newline, *line_r at the
 * boundary line). */
static int parse_header(struct pctx *c, uint32_t idx, size_t pos, struct hdr_state *hs,
			size_t *end_r, size_t *line_r, bool *epi_r)
{
	const uint8_t *raw = c->raw;
	size_t q = pos, prev_nl = 0;

	for (;;) {
		if (q >= c->len) {
			*end_r = c->len;
			return -1;
		}
		int b = boundary_at(c, q, idx, epi_r);
		if (b >= 0 && c->bstack[b].owner != idx) {
			*end_r = q - prev_nl;
			*line_r = q;
			return b;
		}
		if (raw[q] == '\n' || (raw[q] == '\r' && q + 1 < c->len && raw[q + 1] == '\n')) {
			*end_r = q + (raw[q] == '\n' ? 1 : 2);
			c->msg->parts[idx].flags |= TJ_MIME_PART_HAS_EOH;
			return -1;
		}
		/* one logical field: a line plus its continuation lines */
		size_t ls = q, le, next;
		const uint8_t *lf = memchr(raw + q, '\n', c->len - q);
		if (lf) {
			next = (size_t)(lf - raw) + 1;
			le = next - 1;
			if (le > ls && raw[le - 1] == '\r')
				le--;
			prev_nl = next - le;
		} else {
			next = le = c->len;
			prev_nl = 0;
		}
		const uint8_t *colon = memchr(raw + ls, ':', le - ls);
		const uint8_t *name = NULL, *v;
		size_t name_len = 0, vlen;
		if (colon) {
			size_t cp = (size_t)(colon - raw);
			size_t ne = cp;
			while (ne > ls && TJM_IS_LWSP(raw[ne - 1]))
				ne--;
			if (ne - ls > TJ_MIME_HDR_NAME_MAX) {
				colon = NULL;
			} else {
				name = raw + ls;
				name_len = ne - ls;
				v = raw + cp + 1;
				vlen = le - cp - 1;
				size_t k = 0;
				while (k < vlen && TJM_IS_LWSP(v[k]))
					k++;
				if (k == vlen && vlen > 0)
					k = 1; /* all LWSP: skip just one */
				v += k;
				vlen -= k;
			}
		}
		if (!colon) {
			v = raw + ls;
			vlen = le - ls;
		}
		tj_buf_truncate(&c->value, 0);
		if (tj_buf_append(&c->value, v, vlen) < 0)
			c->oom = true;
		q = next;
		while (q < c->len && TJM_IS_LWSP(raw[q])) {
			lf = memchr(raw + q, '\n', c->len - q);
			if (lf) {
				next = (size_t)(lf - raw) + 1;
				le = next - 1;
				if (le > q && raw[le - 1] == '\r')
					le--;
				prev_nl = next - le;
			} else {
				next = le = c->len;
				prev_nl = 0;
			}
			if (tj_buf_putc(&c->value, '\n') < 0 || tj_buf_append(&c->value, raw + q, le - q) < 0)
				c->oom = true;
			q = next;
		}
		if (name && name_len > 0)
			one_header(c, idx, hs, name, name_len,
				   c->value.data ? c->value.data : (const uint8_t *)"", c->value.len);
	}
}

static int parse_part(struct pctx *c, uint32_t idx, size_t pos, unsigned int depth,
		      size_t *end_r, size_t *line_r, bool *epi_r);

/* Parse the part idx (header at pos).  Returns the boundary index that ended
 * it, or -1 at EOF; *end_r is where the part ends. */
static int parse_part_inner(struct pctx *c, uint32_t idx, size_t pos, unsigned int depth,
		      size_t *end_r, size_t *line_r, bool *epi_r)
{
	struct hdr_state hs = {false, NULL};
	size_t hdr_end;
	int hit;

	c->msg->parts[idx].hdr_off = pos;
	hit = parse_header(c, idx, pos, &hs, &hdr_end, line_r, epi_r);

	struct tj_mime_part *p = &c->msg->parts[idx];
	struct tjm_pdata *d = &c->msg->data[idx];
	p->hdr_len = hdr_end - pos;
	p->body_off = hdr_end;
	bool multipart_init = false;
	if (hit < 0 && (p->flags & TJ_MIME_PART_HAS_EOH) && hs.boundary &&
	    (p->flags & TJ_MIME_PART_IS_MIME)) {
		if (depth + 1 < TJ_MIME_MAX_NESTING) {
			multipart_init = true;
		} else {
			p->flags |= TJ_MIME_PART_OVERFLOW;
			p->flags &= ~(uint32_t)TJ_MIME_PART_MULTIPART;
		}
	}
	if (!(p->flags & TJ_MIME_PART_IS_MIME)) {
		/* not MIME: forget everything Content-* said */
		p->flags &= TJ_MIME_PART_HAS_EOH;
		struct tjm_envelope *env = d->env;
		memset(d, 0, sizeof(*d));
		d->env = env;
	}
	if (!hs.seen_ct || !(p->flags & TJ_MIME_PART_IS_MIME)) {
		if (p->parent != TJ_MIME_NONE && (c->msg->parts[p->parent].flags & TJ_MIME_PART_DIGEST))
			p->flags |= TJ_MIME_PART_RFC822;
		else
			p->flags |= TJ_MIME_PART_TEXT;
	}
	if ((p->flags & TJ_MIME_PART_RFC822) &&
	    !(depth + 1 < TJ_MIME_MAX_NESTING && c->msg->nparts < TJ_MIME_MAX_PARTS)) {
		p->flags |= TJ_MIME_PART_OVERFLOW;
		p->flags &= ~(uint32_t)TJ_MIME_PART_RFC822;
	}

	if (hit >= 0) {
		/* a boundary cut the header: the body is empty */
		if (p->flags & TJ_MIME_PART_RFC822) {
			uint32_t ch = part_new(c, idx);
			if (ch != TJ_MIME_NONE) {
				c->msg->parts[ch].hdr_off = c->msg->parts[ch].body_off = hdr_end;
				c->msg->parts[ch].flags = TJ_MIME_PART_TEXT;
			}
		}
		*end_r = hdr_end;
		return hit;
	}
	if (multipart_init) {
		unsigned int my = c->nb;
		c->bstack[c->nb++] = (struct boundary){hs.boundary, strlen(hs.boundary), idx};
		size_t bend, line;
		bool epi;
		int b = scan_body(c, hdr_end, idx, &bend, &line, &epi);
		for (;;) {
			if (b < 0) {
				c->nb = my;
				*end_r = c->len;
				return -1;
			}
			if ((unsigned int)b != my) {
				c->nb = my;
				*end_r = bend;
				*line_r = line;
				*epi_r = epi;
				return b;
			}
			/* our own boundary: skip its line */
			const uint8_t *lf = memchr(c->raw + line, '\n', c->len - line);
			if (epi)
				c->nb = my;
			if (!lf) {
				c->nb = my;
				*end_r = c->len;
				return -1;
			}
			size_t next = (size_t)(lf - c->raw) + 1;
			if (epi) {
				b = scan_body(c, next, idx, &bend, &line, &epi);
				if (b < 0) {
					*end_r = c->len;
					return -1;
				}
				*end_r = bend;
				*line_r = line;
				*epi_r = epi;
				return b;
			}
			uint32_t ch = part_new(c, idx);
			if (ch == TJ_MIME_NONE) {
				c->nb = my;
				*end_r = c->len;
				return -1;
			}
			c->msg->parts[ch].flags |= TJ_MIME_PART_IS_MIME;
			b = parse_part(c, ch, next, depth + 1, &bend, &line, &epi);
		}
	}
	if (p->flags & TJ_MIME_PART_RFC822) {
		uint32_t ch = part_new(c, idx);
		if (ch == TJ_MIME_NONE) {
			*end_r = c->len;
			return -1;
		}
		return parse_part(c, ch, hdr_end, depth + 1, end_r, line_r, epi_r);
	}
	return scan_body(c, hdr_end, idx, end_r, line_r, epi_r);
}

static int parse_part(struct pctx *c, uint32_t idx, size_t pos, unsigned int depth,
		      size_t *end_r, size_t *line_r, bool *epi_r)
{
	int r = parse_part_inner(c, idx, pos, depth, end_r, line_r, epi_r);
	struct tj_mime_part *p = &c->msg->parts[idx];
	p->body_len = *end_r > p->body_off ? *end_r - p->body_off : 0;
	return r;
}

/* LF count and CRLF size of raw[a, b) */
static void count_range(const uint8_t *raw, size_t a, size_t b, uint64_t *lines, uint64_t *vsize)
{
	uint64_t l = 0, bare = 0;
	size_t q = a;
	while (q < b) {
		const uint8_t *lf = memchr(raw + q, '\n', b - q);
		if (!lf)
			break;
		size_t pos = (size_t)(lf - raw);
		l++;
		if (pos == 0 || raw[pos - 1] != '\r')
			bare++;
		q = pos + 1;
	}
	*lines += l;
	*vsize += (b - a) + bare;
}

static void compute_sizes(struct pctx *c)
{
	struct tj_mime_msg *m = c->msg;
	for (uint32_t i = m->nparts; i-- > 0;) {
		struct tj_mime_part *p = &m->parts[i];
		uint64_t hl = 0, hv = 0, bl = 0, bv = 0;
		count_range(c->raw, p->hdr_off, p->hdr_off + p->hdr_len, &hl, &hv);
		size_t q = p->body_off, end = p->body_off + p->body_len;
		for (uint32_t ch = p->first_child; ch != TJ_MIME_NONE; ch = m->parts[ch].next) {
			struct tj_mime_part *cp = &m->parts[ch];
			if (cp->hdr_off > q)
				count_range(c->raw, q, cp->hdr_off, &bl, &bv);
			bl += cp->hdr_lines + cp->body_lines;
			bv += cp->hdr_vsize + cp->body_vsize;
			q = cp->body_off + cp->body_len;
		}
		if (end > q)
			count_range(c->raw, q, end, &bl, &bv);
		p->hdr_lines = hl > UINT32_MAX ? UINT32_MAX : (uint32_t)hl;
		p->body_lines = bl > UINT32_MAX ? UINT32_MAX : (uint32_t)bl;
		p->hdr_vsize = hv;
		p->body_vsize = bv;
	}
}

static int parse_all(struct pctx *c)
{
	size_t end, line;
	bool epi;
	uint32_t root = part_new(c, TJ_MIME_NONE);
	if (root == TJ_MIME_NONE)
		return -ENOMEM;
	(void)parse_part(c, root, 0, 0, &end, &line, &epi);
	return c->oom ? -ENOMEM : 0;
}

int tj_mime_parse(const uint8_t *raw, size_t len, struct tj_mime_msg **msg_r)
{
	struct pctx c;
	int rc;

	*msg_r = NULL;
	if ((uint64_t)len >= ((uint64_t)1 << 63))
		return TJ_ETOOBIG;
	memset(&c, 0, sizeof(c));
	c.raw = raw ? raw : (const uint8_t *)"";
	c.len = raw ? len : 0;
	c.msg = calloc(1, sizeof(*c.msg));
	if (!c.msg)
		return -ENOMEM;
	rc = parse_all(&c);
	tj_buf_free(&c.value);
	tj_buf_free(&c.tmp);
	if (rc == 0) {
		compute_sizes(&c);
		rc = tjm_write_envelope(c.msg->data[0].env, &c.msg->envelope);
	}
	if (rc == 0)
		rc = tjm_write_bodystructure(c.msg, 0, false, &c.msg->body);
	if (rc == 0)
		rc = tjm_write_bodystructure(c.msg, 0, true, &c.msg->bodystructure);
	if (rc == 0 && (c.oom || c.msg->pool.oom))
		rc = -ENOMEM;
	if (rc < 0) {
		tj_mime_free(&c.msg);
		return rc;
	}
	*msg_r = c.msg;
	return 0;
}

void tj_mime_free(struct tj_mime_msg **msg)
{
	struct tj_mime_msg *m = *msg;
	if (!m)
		return;
	free(m->parts);
	free(m->data);
	tj_buf_free(&m->envelope);
	tj_buf_free(&m->body);
	tj_buf_free(&m->bodystructure);
	tjm_pool_clear(&m->pool);
	free(m);
	*msg = NULL;
}

uint32_t tj_mime_part_count(const struct tj_mime_msg *msg)
{
	return msg->nparts;
}

const struct tj_mime_part *tj_mime_part_get(const struct tj_mime_msg *msg, uint32_t idx)
{
	return idx < msg->nparts ? &msg->parts[idx] : NULL;
}

uint64_t tj_mime_size(const struct tj_mime_msg *msg)
{
	return msg->nparts ? msg->parts[0].hdr_vsize + msg->parts[0].body_vsize : 0;
}

static tj_slice buf_slice(const tj_buf *b)
{
	tj_slice s = {b->data ? b->data : (const uint8_t *)"", b->len};
	return s;
}

tj_slice tj_mime_envelope(const struct tj_mime_msg *msg) { return buf_slice(&msg->envelope); }
tj_slice tj_mime_body(const struct tj_mime_msg *msg) { return buf_slice(&msg->body); }
tj_slice tj_mime_bodystructure(const struct tj_mime_msg *msg) { return buf_slice(&msg->bodystructure); }

static const char *param_get(const struct tjm_param *p, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (strcasecmp(p[i].name, name) == 0)
			return p[i].value;
	return NULL;
}

int tj_mime_part_content(const struct tj_mime_msg *msg, uint32_t idx,
			 struct tj_mime_content *content_r)
{
	if (!msg->data || idx >= msg->nparts)
		return TJ_ENOTFOUND;
	const struct tjm_pdata *d = &msg->data[idx];
	const struct tj_mime_part *p = &msg->parts[idx];
	memset(content_r, 0, sizeof(*content_r));
	if (p->flags & TJ_MIME_PART_RFC822) {
		content_r->type = "message";
		content_r->subtype = "rfc822";
	} else if (d->type) {
		content_r->type = d->type;
		content_r->subtype = d->subtype ? d->subtype : "";
	} else {
		content_r->type = "text";
		content_r->subtype = "plain";
	}
	content_r->charset = param_get(d->params, d->nparams, "charset");
	content_r->cte = d->cte;
	content_r->disposition = d->disposition;
	content_r->filename = param_get(d->dparams, d->ndparams, "filename");
	return 0;
}

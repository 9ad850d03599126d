/*
 * mime-imap.c - IMAP output of a parsed message: ENVELOPE, BODY and
 * BODYSTRUCTURE strings written as Dovecot 2.3 writes them (quoting rules,
 * literals for 8-bit text, NIL vs "", default charset), the section
 * resolver for BODY[section], HEADER.FIELDS filtering, the LF -> CRLF
 * conversion, and the compact serialised form cached by the store.
 */
#include "protocol/mime/mime-private.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUOTED_MAX_ESCAPES 4 /* more quoted-specials than this: use a literal */

static void put(tj_buf *out, const void *p, size_t n, bool *oom)
{
	if (tj_buf_append(out, p, n) < 0)
		*oom = true;
}
static void puts_(tj_buf *out, const char *s, bool *oom) { put(out, s, strlen(s), oom); }
static void putc_(tj_buf *out, char ch, bool *oom) { put(out, &ch, 1, oom); }

static void literal(tj_buf *out, const char *s, size_t n, bool *oom)
{
	if (tj_buf_printf(out, "{%zu}\r\n", n) < 0)
		*oom = true;
	put(out, s, n, oom);
}

void tjm_imap_nstring(tj_buf *out, const char *s, bool *oom)
{
	unsigned int esc = 0;
	if (!s) {
		puts_(out, "NIL", oom);
		return;
	}
	for (const char *p = s; *p; p++) {
		uint8_t ch = (uint8_t)*p;
		if (ch == '"' || ch == '\\') {
			if (esc++ < QUOTED_MAX_ESCAPES)
				continue;
			literal(out, s, strlen(s), oom);
			return;
		}
		if (ch == '\r' || ch == '\n' || ch >= 0x80) {
			literal(out, s, strlen(s), oom);
			return;
		}
	}
	putc_(out, '"', oom);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			putc_(out, '\\', oom);
		putc_(out, *p, oom);
	}
	putc_(out, '"', oom);
}

/* CR/LF removed; a space added where a line break had no whitespace after it */
static void nstring_nolf(tj_buf *out, const char *s, bool *oom)
{
	if (!s || !strpbrk(s, "\r\n")) {
		tjm_imap_nstring(out, s, oom);
		return;
	}
	tj_buf t = TJ_BUF_INIT;
	for (size_t i = 0; s[i]; i++) {
		if (s[i] != '\r' && s[i] != '\n') {
			if (tj_buf_putc(&t, (uint8_t)s[i]) < 0)
				*oom = true;
		} else if (s[i + 1] != ' ' && s[i + 1] != '\t' && s[i + 1] != '\r' &&
			   s[i + 1] != '\n' && s[i + 1] != '\0') {
			if (tj_buf_putc(&t, ' ') < 0)
				*oom = true;
		}
	}
	tjm_imap_nstring(out, t.data ? (const char *)t.data : "", oom);
	tj_buf_free(&t);
}

/* text for people (subject, display names): whitespace runs collapsed and
 * trimmed, NUL -> 0x80; written as a literal whenever anything changes */
static void string_for_humans(tj_buf *out, const char *src, bool *oom)
{
	size_t size = strlen(src), remove = 0, i;
	bool ws_prefix = true, last_lwsp = true, modify = false;

	for (i = 0; i < size; i++) {
		uint8_t ch = (uint8_t)src[i];
		switch (ch) {
		case '\r':
		case '\n':
		case '\t':
			modify = true;
			/* fall through */
		case ' ':
			if (last_lwsp) {
				modify = true;
				remove++;
			}
			last_lwsp = true;
			break;
		case '"':
		case '\\':
			modify = true;
			last_lwsp = false;
			break;
		default:
			if (ch & 0x80)
				modify = true;
			last_lwsp = false;
			break;
		}
		if (!last_lwsp)
			ws_prefix = false;
	}
	if (last_lwsp && i > 0 && !ws_prefix) {
		modify = true;
		remove++;
	}
	if (!modify) {
		putc_(out, '"', oom);
		put(out, src, size, oom);
		putc_(out, '"', oom);
		return;
	}
	if (size == remove) {
		puts_(out, "\"\"", oom);
		return;
	}
	if (tj_buf_printf(out, "{%zu}\r\n", size - remove) < 0)
		*oom = true;
	last_lwsp = true;
	ws_prefix = true;
	for (i = 0; i < size; i++) {
		uint8_t ch = (uint8_t)src[i];
		if (ch == '\r' || ch == '\n' || ch == '\t' || ch == ' ') {
			if (!last_lwsp)
				putc_(out, ' ', oom);
			last_lwsp = true;
		} else {
			last_lwsp = false;
			putc_(out, (char)ch, oom);
		}
		if (!last_lwsp)
			ws_prefix = false;
	}
	if (last_lwsp && i > 0 && !ws_prefix && !*oom)
		tj_buf_truncate(out, out->len - 1);
}

static void write_addresses(tj_buf *out, const struct tjm_addr *a, bool *oom)
{
	if (!a) {
		puts_(out, "NIL", oom);
		return;
	}
	putc_(out, '(', oom);
	for (; a; a = a->next) {
		putc_(out, '(', oom);
		if (a->name)
			string_for_humans(out, a->name, oom);
		else
			puts_(out, "NIL", oom);
		putc_(out, ' ', oom);
		tjm_imap_nstring(out, a->route, oom);
		putc_(out, ' ', oom);
		tjm_imap_nstring(out, a->mailbox, oom);
		putc_(out, ' ', oom);
		tjm_imap_nstring(out, a->domain, oom);
		putc_(out, ')', oom);
	}
	putc_(out, ')', oom);
}

int tjm_write_envelope(const struct tjm_envelope *e, tj_buf *out)
{
	bool oom = false;
	if (!e) {
		puts_(out, "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL", &oom);
		return oom ? -ENOMEM : 0;
	}
	nstring_nolf(out, e->date, &oom);
	putc_(out, ' ', &oom);
	if (e->subject)
		string_for_humans(out, e->subject, &oom);
	else
		puts_(out, "NIL", &oom);
	putc_(out, ' ', &oom);
	write_addresses(out, e->from, &oom);
	putc_(out, ' ', &oom);
	write_addresses(out, e->sender ? e->sender : e->from, &oom);
	putc_(out, ' ', &oom);
	write_addresses(out, e->reply_to ? e->reply_to : e->from, &oom);
	putc_(out, ' ', &oom);
	write_addresses(out, e->to, &oom);
	putc_(out, ' ', &oom);
	write_addresses(out, e->cc, &oom);
	putc_(out, ' ', &oom);
	write_addresses(out, e->bcc, &oom);
	putc_(out, ' ', &oom);
	nstring_nolf(out, e->in_reply_to, &oom);
	putc_(out, ' ', &oom);
	nstring_nolf(out, e->message_id, &oom);
	return oom ? -ENOMEM : 0;
}

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"

static void write_params(tj_buf *out, const struct tjm_param *p, unsigned int n,
			 bool default_charset, bool *oom)
{
	bool seen = false;
	if (!default_charset && n == 0) {
		puts_(out, "NIL", oom);
		return;
	}
	putc_(out, '(', oom);
	for (unsigned int i = 0; i < n; i++) {
		if (i > 0)
			putc_(out, ' ', oom);
		if (default_charset && strcasecmp(p[i].name, "charset") == 0)
			seen = true;
		tjm_imap_nstring(out, p[i].name, oom);
		putc_(out, ' ', oom);
		tjm_imap_nstring(out, p[i].value, oom);
	}
	if (default_charset && !seen) {
		if (n > 0)
			putc_(out, ' ', oom);
		puts_(out, "\"charset\" \"us-ascii\"", oom);
	}
	putc_(out, ')', oom);
}

static void write_common_ext(tj_buf *out, const struct tjm_pdata *d, bool *oom)
{
	putc_(out, ' ', oom);
	if (!d->disposition) {
		puts_(out, "NIL", oom);
	} else {
		putc_(out, '(', oom);
		tjm_imap_nstring(out, d->disposition, oom);
		putc_(out, ' ', oom);
		write_params(out, d->dparams, d->ndparams, false, oom);
		putc_(out, ')', oom);
	}
	putc_(out, ' ', oom);
	if (!d->lang) {
		puts_(out, "NIL", oom);
	} else {
		putc_(out, '(', oom);
		for (const char **l = d->lang; *l; l++) {
			if (l != d->lang)
				putc_(out, ' ', oom);
			tjm_imap_nstring(out, *l, oom);
		}
		putc_(out, ')', oom);
	}
	putc_(out, ' ', oom);
	nstring_nolf(out, d->location, oom);
}

static void write_part(const struct tj_mime_msg *m, uint32_t idx, bool ext, tj_buf *out, bool *oom);

static void write_children(const struct tj_mime_msg *m, uint32_t first, bool ext, tj_buf *out, bool *oom)
{
	for (uint32_t c = first; c != TJ_MIME_NONE; c = m->parts[c].next) {
		putc_(out, '(', oom);
		write_part(m, c, ext, out, oom);
		putc_(out, ')', oom);
	}
}

static bool part_truncated(const struct tj_mime_msg *m, uint32_t idx)
{
	const struct tjm_pdata *d = &m->data[idx];
	const struct tj_mime_part *p = &m->parts[idx];
	if (d->type) {
		if (strcasecmp(d->type, "message") == 0 && d->subtype && strcasecmp(d->subtype, "rfc822") == 0)
			return true;
		if (strcasecmp(d->type, "multipart") == 0)
			return true;
		return false;
	}
	return p->parent != TJ_MIME_NONE && (m->parts[p->parent].flags & TJ_MIME_PART_DIGEST);
}

static void write_part(const struct tj_mime_msg *m, uint32_t idx, bool ext, tj_buf *out, bool *oom)
{
	const struct tj_mime_part *p = &m->parts[idx];
	const struct tjm_pdata *d = &m->data[idx];
	bool text;

	if (p->flags & TJ_MIME_PART_MULTIPART) {
		if (p->first_child != TJ_MIME_NONE)
			write_children(m, p->first_child, ext, out, oom);
		else
			puts_(out, ext ? EMPTY_BODYSTRUCTURE : EMPTY_BODY, oom);
		putc_(out, ' ', oom);
		tjm_imap_nstring(out, d->subtype ? d->subtype : "", oom);
		if (!ext)
			return;
		putc_(out, ' ', oom);
		write_params(out, d->params, d->nparams, false, oom);
		write_common_ext(out, d, oom);
		return;
	}
	if ((p->flags & TJ_MIME_PART_RFC822) && p->first_child != TJ_MIME_NONE) {
		puts_(out, "\"message\" \"rfc822\"", oom);
		text = false;
	} else if (part_truncated(m, idx)) {
		/* a limit was hit: Dovecot shows such parts as octet streams */
		puts_(out, "\"application\" \"octet-stream\"", oom);
		text = false;
	} else if (!d->type) {
		text = true;
		puts_(out, "\"text\" \"plain\"", oom);
	} else {
		text = strcasecmp(d->type, "text") == 0;
		tjm_imap_nstring(out, d->type, oom);
		putc_(out, ' ', oom);
		tjm_imap_nstring(out, d->subtype ? d->subtype : "", oom);
	}
	putc_(out, ' ', oom);
	write_params(out, d->params, d->nparams, text, oom);
	putc_(out, ' ', oom);
	nstring_nolf(out, d->id, oom);
	putc_(out, ' ', oom);
	nstring_nolf(out, d->description, oom);
	putc_(out, ' ', oom);
	if (d->cte)
		tjm_imap_nstring(out, d->cte, oom);
	else
		puts_(out, "\"7bit\"", oom);
	if (tj_buf_printf(out, " %llu", (unsigned long long)p->body_vsize) < 0)
		*oom = true;
	if (text) {
		if (tj_buf_printf(out, " %u", p->body_lines) < 0)
			*oom = true;
	} else if ((p->flags & TJ_MIME_PART_RFC822) && p->first_child != TJ_MIME_NONE) {
		puts_(out, " (", oom);
		tj_buf env = TJ_BUF_INIT;
		if (tjm_write_envelope(m->data[p->first_child].env, &env) < 0)
			*oom = true;
		put(out, env.data ? env.data : (const uint8_t *)"", env.len, oom);
		tj_buf_free(&env);
		puts_(out, ") ", oom);
		write_children(m, p->first_child, ext, out, oom);
		if (tj_buf_printf(out, " %u", p->body_lines) < 0)
			*oom = true;
	}
	if (!ext)
		return;
	putc_(out, ' ', oom);
	nstring_nolf(out, d->md5, oom);
	write_common_ext(out, d, oom);
}

/* Dovecot caches a plain 7-bit text/plain message as a flag and writes its
 * structure from that, normalising e.g. charset=US-ASCII to "us-ascii". */
static bool plain_7bit(const struct tj_mime_msg *m)
{
	const struct tj_mime_part *p = &m->parts[0];
	const struct tjm_pdata *d = &m->data[0];
	if (!(p->flags & TJ_MIME_PART_TEXT) || p->first_child != TJ_MIME_NONE)
		return false;
	if (d->subtype && strcasecmp(d->subtype, "plain") != 0)
		return false;
	if (d->nparams > 1 || (d->nparams == 1 && (strcasecmp(d->params[0].name, "charset") != 0 ||
						   strcasecmp(d->params[0].value, "us-ascii") != 0)))
		return false;
	if (d->id || d->description || (d->cte && strcasecmp(d->cte, "7bit") != 0))
		return false;
	return !d->md5 && !d->disposition && !d->lang && !d->location;
}

int tjm_write_bodystructure(const struct tj_mime_msg *m, uint32_t idx, bool extended, tj_buf *out)
{
	bool oom = false;
	if (idx == 0 && plain_7bit(m)) {
		const struct tj_mime_part *p = &m->parts[0];
		int rc = tj_buf_printf(out, "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" %llu %u%s",
				       (unsigned long long)p->body_vsize, p->body_lines,
				       extended ? " NIL NIL NIL NIL" : "");
		return rc < 0 ? -ENOMEM : 0;
	}
	write_part(m, idx, extended, out, &oom);
	return oom ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ CRLF */

uint64_t tj_mime_crlf_size(const uint8_t *in, size_t len, uint8_t prev)
{
	uint64_t n = len;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i > 0 ? in[i - 1] : prev) != '\r')
			n++;
	}
	return n;
}

int tj_mime_crlf(const uint8_t *in, size_t len, uint8_t prev, tj_buf *out)
{
	size_t start = 0;
	int rc;
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '\n' && (i > 0 ? in[i - 1] : prev) != '\r') {
			if ((rc = tj_buf_append(out, in + start, i - start)) < 0 ||
			    (rc = tj_buf_putc(out, '\r')) < 0)
				return rc;
			start = i;
		}
	}
	return tj_buf_append(out, in + start, len - start);
}

/* ---------------------------------------------------------- sections */

enum sect_kind { S_ALL, S_BODY, S_MIME, S_HEADER, S_TEXT, S_FIELDS, S_FIELDS_NOT };

/* Split "1.2.HEADER.FIELDS (A B)" into a part and a kind; *part_r is the
 * part whose header/body is meant (for HEADER/TEXT/FIELDS the embedded
 * message).  *fields_r points at the "(" for FIELDS. */
static int resolve(const struct tj_mime_msg *m, const char *sec, uint32_t *part_r,
		   enum sect_kind *kind_r, const char **fields_r)
{
	uint32_t part = 0;
	const char *s = sec;
	bool numbered = false;

	*fields_r = NULL;
	if (m->nparts == 0)
		return TJ_ECORRUPT;
	while (*s >= '0' && *s <= '9') {
		unsigned long num = 0;
		while (*s >= '0' && *s <= '9') {
			num = num * 10 + (unsigned long)(*s - '0');
			if (num > TJ_MIME_MAX_PARTS + 1)
				return TJ_ENOTFOUND;
			s++;
		}
		if (num == 0)
			return TJ_EINVAL;
		if (*s == '.')
			s++;
		else if (*s != '\0')
			return TJ_EINVAL;
		numbered = true;
		if (part == TJ_MIME_NONE)
			return TJ_ENOTFOUND;
		const struct tj_mime_part *p = &m->parts[part];
		if (p->flags & TJ_MIME_PART_MULTIPART) {
			part = p->first_child;
			for (; num > 1 && part != TJ_MIME_NONE; num--)
				part = m->parts[part].next;
		} else if (num != 1) {
			part = TJ_MIME_NONE;
		} else if (*s >= '0' && *s <= '9' && !(p->flags & TJ_MIME_PART_RFC822)) {
			part = TJ_MIME_NONE;
		}
		if (part != TJ_MIME_NONE && (m->parts[part].flags & TJ_MIME_PART_RFC822) &&
		    *s >= '0' && *s <= '9')
			part = m->parts[part].first_child;
		if (part == TJ_MIME_NONE)
			return TJ_ENOTFOUND;
	}
	if (!numbered) {
		if (*s == '\0')
			*kind_r = S_ALL;
		else if (strcasecmp(s, "HEADER") == 0)
			*kind_r = S_HEADER;
		else if (strcasecmp(s, "TEXT") == 0)
			*kind_r = S_TEXT;
		else if (strncasecmp(s, "HEADER.FIELDS.NOT ", 18) == 0)
			*kind_r = S_FIELDS_NOT, *fields_r = s + 18;
		else if (strncasecmp(s, "HEADER.FIELDS ", 14) == 0)
			*kind_r = S_FIELDS, *fields_r = s + 14;
		else
			return TJ_EINVAL;
		*part_r = 0;
		return 0;
	}
	if (*s == '\0') {
		*kind_r = S_BODY;
	} else if (strcasecmp(s, "MIME") == 0) {
		*kind_r = S_MIME;
	} else {
		if (strcasecmp(s, "HEADER") == 0)
			*kind_r = S_HEADER;
		else if (strcasecmp(s, "TEXT") == 0)
			*kind_r = S_TEXT;
		else if (strncasecmp(s, "HEADER.FIELDS.NOT ", 18) == 0)
			*kind_r = S_FIELDS_NOT, *fields_r = s + 18;
		else if (strncasecmp(s, "HEADER.FIELDS ", 14) == 0)
			*kind_r = S_FIELDS, *fields_r = s + 14;
		else
			return TJ_EINVAL;
		/* these address the message inside a message/rfc822 part */
		if (!(m->parts[part].flags & TJ_MIME_PART_RFC822) ||
		    m->parts[part].first_child == TJ_MIME_NONE)
			return TJ_ENOTFOUND;
		part = m->parts[part].first_child;
	}
	*part_r = part;
	return 0;
}

int tj_mime_section_locate(const struct tj_mime_msg *msg, const char *section,
			   uint64_t *off_r, uint64_t *len_r, uint64_t *vsize_r)
{
	uint32_t part;
	enum sect_kind kind;
	const char *fields;
	int rc = resolve(msg, section, &part, &kind, &fields);
	if (rc < 0)
		return rc;
	const struct tj_mime_part *p = &msg->parts[part];
	switch (kind) {
	case S_ALL:
		*off_r = 0;
		*len_r = p->hdr_len + p->body_len;
		*vsize_r = p->hdr_vsize + p->body_vsize;
		return 0;
	case S_MIME:
	case S_HEADER:
		*off_r = p->hdr_off;
		*len_r = p->hdr_len;
		*vsize_r = p->hdr_vsize;
		return 0;
	case S_BODY:
	case S_TEXT:
		*off_r = p->body_off;
		*len_r = p->body_len;
		*vsize_r = p->body_vsize;
		return 0;
	default:
		return TJ_EINVAL;
	}
}

/* parse "(A B "c")" into a list of names in buf, NUL-separated */
static int parse_field_list(const char *s, tj_buf *names, size_t *count_r)
{
	*count_r = 0;
	while (*s == ' ')
		s++;
	if (*s++ != '(')
		return TJ_EINVAL;
	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == ')')
			break;
		if (*s == '\0')
			return TJ_EINVAL;
		int rc;
		if (*s == '"') {
			s++;
			while (*s && *s != '"') {
				if (*s == '\\' && s[1])
					s++;
				if ((rc = tj_buf_putc(names, (uint8_t)*s++)) < 0)
					return rc;
			}
			if (*s != '"')
				return TJ_EINVAL;
			s++;
		} else {
			while (*s && *s != ' ' && *s != ')')
				if ((rc = tj_buf_putc(names, (uint8_t)*s++)) < 0)
					return rc;
		}
		if ((rc = tj_buf_putc(names, 0)) < 0)
			return rc;
		(*count_r)++;
	}
	return 0;
}

static bool name_in_list(const tj_buf *names, size_t count, const uint8_t *name, size_t len)
{
	const char *p = names->data ? (const char *)names->data : "";
	for (size_t i = 0; i < count; i++) {
		size_t l = strlen(p);
		if (l == len && strncasecmp(p, (const char *)name, len) == 0)
			return true;
		p += l + 1;
	}
	return false;
}

static int fetch_fields(const uint8_t *raw, const struct tj_mime_part *p, const char *list,
			bool exclude, tj_buf *out)
{
	tj_buf names = TJ_BUF_INIT;
	size_t count;
	int rc = parse_field_list(list, &names, &count);
	size_t q = p->hdr_off, end = p->hdr_off + p->hdr_len;
	while (rc == 0 && q < end) {
		if (raw[q] == '\n' || (raw[q] == '\r' && q + 1 < end && raw[q + 1] == '\n'))
			break; /* the empty line */
		size_t fs = q;
		do { /* the field and its continuation lines */
			const uint8_t *lf = memchr(raw + q, '\n', end - q);
			q = lf ? (size_t)(lf - raw) + 1 : end;
		} while (q < end && TJM_IS_LWSP(raw[q]));
		const uint8_t *colon = memchr(raw + fs, ':', q - fs);
		size_t nl = 0;
		if (colon) {
			nl = (size_t)(colon - raw) - fs;
			while (nl > 0 && TJM_IS_LWSP(raw[fs + nl - 1]))
				nl--;
		}
		bool match = colon && name_in_list(&names, count, raw + fs, nl);
		if (match != exclude && colon) {
			rc = tj_mime_crlf(raw + fs, q - fs, fs ? raw[fs - 1] : 0, out);
			if (rc == 0 && (q == fs || raw[q - 1] != '\n'))
				rc = tj_buf_append(out, "\r\n", 2);
		}
	}
	if (rc == 0)
		rc = tj_buf_append(out, "\r\n", 2);
	tj_buf_free(&names);
	return rc;
}

int tj_mime_section_fetch(const struct tj_mime_msg *msg, const uint8_t *raw, size_t len,
			  const char *section, tj_buf *out)
{
	uint32_t part;
	enum sect_kind kind;
	const char *fields;
	int rc = resolve(msg, section, &part, &kind, &fields);
	if (rc < 0)
		return rc;
	const struct tj_mime_part *root = &msg->parts[0];
	if (root->hdr_len + root->body_len != len)
		return TJ_ECORRUPT;
	if (kind == S_FIELDS || kind == S_FIELDS_NOT)
		return fetch_fields(raw, &msg->parts[part], fields, kind == S_FIELDS_NOT, out);
	uint64_t off, n, vsize;
	if ((rc = tj_mime_section_locate(msg, section, &off, &n, &vsize)) < 0)
		return rc;
	if (off > len || n > len - off)
		return TJ_ECORRUPT;
	return tj_mime_crlf(raw + off, (size_t)n, off ? raw[off - 1] : 0, out);
}

/* ------------------------------------------------------ serialisation */

/* "TJM" 1, u32 nparts, nparts x 60-byte records, then three
 * (u32 length, bytes) strings: envelope, body, bodystructure. */
#define SER_MAGIC "TJM\x01"
#define SER_REC 64

int tj_mime_serialize(const struct tj_mime_msg *m, tj_buf *out)
{
	int rc;
	uint8_t rec[SER_REC];
	if ((rc = tj_buf_append(out, SER_MAGIC, 4)) < 0)
		return rc;
	tj_put32(rec, m->nparts);
	if ((rc = tj_buf_append(out, rec, 4)) < 0)
		return rc;
	for (uint32_t i = 0; i < m->nparts; i++) {
		const struct tj_mime_part *p = &m->parts[i];
		tj_put32(rec + 0, p->parent);
		tj_put32(rec + 4, p->first_child);
		tj_put32(rec + 8, p->next);
		tj_put32(rec + 12, p->flags);
		tj_put64(rec + 16, p->hdr_off);
		tj_put64(rec + 24, p->hdr_len);
		tj_put64(rec + 32, p->body_len);
		tj_put64(rec + 40, p->hdr_vsize);
		tj_put64(rec + 48, p->body_vsize);
		tj_put32(rec + 56, p->hdr_lines);
		tj_put32(rec + 60, p->body_lines);
		if ((rc = tj_buf_append(out, rec, SER_REC)) < 0)
			return rc;
	}
	const tj_buf *strs[3] = {&m->envelope, &m->body, &m->bodystructure};
	for (int i = 0; i < 3; i++) {
		if (strs[i]->len > UINT32_MAX)
			return TJ_ETOOBIG;
		tj_put32(rec, (uint32_t)strs[i]->len);
		if ((rc = tj_buf_append(out, rec, 4)) < 0 ||
		    (rc = tj_buf_append(out, strs[i]->data, strs[i]->len)) < 0)
			return rc;
	}
	return 0;
}

static bool link_ok(uint32_t v, uint32_t n)
{
	return v == TJ_MIME_NONE || v < n;
}

int tj_mime_deserialize(const uint8_t *data, size_t len, struct tj_mime_msg **msg_r)
{
	*msg_r = NULL;
	if (len < 8)
		return TJ_ECORRUPT;
	if (memcmp(data, "TJM", 3) != 0)
		return TJ_ECORRUPT;
	if (data[3] != 1)
		return TJ_EVERSION;
	uint32_t n = tj_get32(data + 4);
	if (n == 0 || n > TJ_MIME_MAX_PARTS || (len - 8) / SER_REC < n)
		return TJ_ECORRUPT;
	struct tj_mime_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->parts = calloc(n, sizeof(*m->parts));
	if (!m->parts) {
		free(m);
		return -ENOMEM;
	}
	m->nparts = m->parts_cap = n;
	const uint8_t *p = data + 8;
	int rc = 0;
	for (uint32_t i = 0; i < n && rc == 0; i++, p += SER_REC) {
		struct tj_mime_part *mp = &m->parts[i];
		mp->parent = tj_get32(p);
		mp->first_child = tj_get32(p + 4);
		mp->next = tj_get32(p + 8);
		mp->flags = tj_get32(p + 12);
		mp->hdr_off = tj_get64(p + 16);
		mp->hdr_len = tj_get64(p + 24);
		mp->body_off = mp->hdr_off + mp->hdr_len;
		mp->body_len = tj_get64(p + 32);
		mp->hdr_vsize = tj_get64(p + 40);
		mp->body_vsize = tj_get64(p + 48);
		mp->hdr_lines = tj_get32(p + 56);
		mp->body_lines = tj_get32(p + 60);
		/* tree links point forward (pre-order), parents backward */
		if (!link_ok(mp->parent, n) || !link_ok(mp->first_child, n) || !link_ok(mp->next, n) ||
		    (i == 0) != (mp->parent == TJ_MIME_NONE) ||
		    (mp->parent != TJ_MIME_NONE && mp->parent >= i) ||
		    (mp->first_child != TJ_MIME_NONE && mp->first_child <= i) ||
		    (mp->next != TJ_MIME_NONE && mp->next <= i) ||
		    mp->hdr_off >= ((uint64_t)1 << 62) || mp->hdr_len >= ((uint64_t)1 << 62) ||
		    mp->body_len >= ((uint64_t)1 << 62))
			rc = TJ_ECORRUPT;
	}
	/* every part must lie inside the message */
	uint64_t total = rc == 0 ? m->parts[0].hdr_len + m->parts[0].body_len : 0;
	for (uint32_t i = 0; i < n && rc == 0; i++)
		if (m->parts[i].body_off + m->parts[i].body_len > total)
			rc = TJ_ECORRUPT;
	tj_buf *strs[3] = {&m->envelope, &m->body, &m->bodystructure};
	size_t left = len - 8 - (size_t)n * SER_REC;
	for (int i = 0; i < 3 && rc == 0; i++) {
		if (left < 4) {
			rc = TJ_ECORRUPT;
			break;
		}
		uint32_t sl = tj_get32(p);
		p += 4;
		left -= 4;
		if (sl > left) {
			rc = TJ_ECORRUPT;
			break;
		}
		rc = tj_buf_append(strs[i], p, sl);
		p += sl;
		left -= sl;
	}
	if (rc == 0 && left != 0)
		rc = TJ_ECORRUPT;
	if (rc < 0) {
		tj_mime_free(&m);
		return rc;
	}
	*msg_r = m;
	return 0;
}

/*
 * smtp-parse.c - SMTP/LMTP command line parser: verb, HELO domain, MAIL/RCPT
 * paths (RFC 5321 4.1.2 grammar: source routes dropped, quoted local parts,
 * address literals, RFC 6531 UTF-8), and ESMTP parameters (SIZE, BODY,
 * SMTPUTF8; DSN's RET/ENVID/NOTIFY/ORCPT and AUTH= tolerated).
 *
 * Input is one line without its line ending; the parser never allocates and
 * never reads outside [line, line+len).  Errors are reported as a
 * tj_smtp_perr that the session turns into a reply.
 */
#include "protocol/smtp/smtp.h"
#include "common/err.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

struct verb_def {
	const char *name;
	enum tj_smtp_verb verb;
};

static const struct verb_def verbs[] = {
	{"HELO", TJ_SMTP_HELO},     {"EHLO", TJ_SMTP_EHLO},   {"LHLO", TJ_SMTP_LHLO},
	{"MAIL", TJ_SMTP_MAIL},     {"RCPT", TJ_SMTP_RCPT},   {"DATA", TJ_SMTP_DATA},
	{"RSET", TJ_SMTP_RSET},     {"NOOP", TJ_SMTP_NOOP},   {"QUIT", TJ_SMTP_QUIT},
	{"VRFY", TJ_SMTP_VRFY},     {"EXPN", TJ_SMTP_EXPN},   {"HELP", TJ_SMTP_HELP},
	{"STARTTLS", TJ_SMTP_STARTTLS},
	{"AUTH", TJ_SMTP_NOTIMPL},  {"BDAT", TJ_SMTP_NOTIMPL}, {"ETRN", TJ_SMTP_NOTIMPL},
	{"TURN", TJ_SMTP_NOTIMPL},  {"ATRN", TJ_SMTP_NOTIMPL}, {"BURL", TJ_SMTP_NOTIMPL},
	{"XCLIENT", TJ_SMTP_NOTIMPL},
};

static const char *const verb_names[TJ_SMTP_VERB_COUNT] = {
	[TJ_SMTP_UNKNOWN] = "UNKNOWN", [TJ_SMTP_HELO] = "HELO", [TJ_SMTP_EHLO] = "EHLO",
	[TJ_SMTP_LHLO] = "LHLO",       [TJ_SMTP_MAIL] = "MAIL", [TJ_SMTP_RCPT] = "RCPT",
	[TJ_SMTP_DATA] = "DATA",       [TJ_SMTP_RSET] = "RSET", [TJ_SMTP_NOOP] = "NOOP",
	[TJ_SMTP_QUIT] = "QUIT",       [TJ_SMTP_VRFY] = "VRFY", [TJ_SMTP_EXPN] = "EXPN",
	[TJ_SMTP_HELP] = "HELP",       [TJ_SMTP_STARTTLS] = "STARTTLS", [TJ_SMTP_NOTIMPL] = "NOTIMPL",
};

const char *tj_smtp_verb_name(enum tj_smtp_verb v)
{
	if ((unsigned)v >= TJ_SMTP_VERB_COUNT)
		return "UNKNOWN";
	return verb_names[v];
}

/* ------------------------------------------------------------ characters */

static bool is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_letdig(unsigned char c) { return is_alpha(c) || is_digit(c); }

/* RFC 5322 atext */
static bool is_atext(unsigned char c)
{
	if (is_letdig(c))
		return true;
	return c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* tj_smtp_utf8_len - see smtp.h */
size_t tj_smtp_utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n;
	unsigned lo = 0x80, hi = 0xbf;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* ---------------------------------------------------------------- domains */

static bool check_literal(const char *s, size_t len)
{
	/* s includes the brackets */
	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return false;
	const char *in = s + 1;
	size_t n = len - 2;
	char tmp[64];
	unsigned char addr[16];
	if (n >= 5 && strncasecmp(in, "IPv6:", 5) == 0) {
		if (n - 5 >= sizeof(tmp))
			return false;
		memcpy(tmp, in + 5, n - 5);
		tmp[n - 5] = 0;
		return inet_pton(AF_INET6, tmp, addr) == 1;
	}
	bool dotted = true;
	for (size_t i = 0; i < n; i++)
		if (!is_digit((unsigned char)in[i]) && in[i] != '.')
			dotted = false;
	if (dotted) {
		if (n >= sizeof(tmp))
			return false;
		memcpy(tmp, in, n);
		tmp[n] = 0;
		return inet_pton(AF_INET, tmp, addr) == 1;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	const char *colon = memchr(in, ':', n);
	if (!colon || colon == in || colon == in + n - 1)
		return false;
	for (const char *p = in; p < colon; p++)
		if (!is_letdig((unsigned char)*p) && *p != '-')
			return false;
	if (!is_letdig((unsigned char)colon[-1]))
		return false;
	for (const char *p = colon + 1; p < in + n; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return false;
	}
	return true;
}

bool tj_smtp_check_domain(const char *s, size_t len, unsigned flags)
{
	if (len == 0 || len > TJ_SMTP_DOMAIN_MAX)
		return false;
	if (s[0] == '[')
		return !(flags & TJ_SMTP_DOM_NO_LITERAL) && check_literal(s, len);
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	while (p < end) {
		const unsigned char *label = p;
		unsigned char last = 0;
		while (p < end && *p != '.') {
			unsigned char c = *p;
			if (c >= 0x80) {
				size_t n = (flags & TJ_SMTP_DOM_UTF8) ? tj_smtp_utf8_len(p, end) : 0;
				if (!n)
					return false;
				p += n;
				last = 'a';
				continue;
			}
			if (!is_letdig(c) && c != '-' && !(c == '_' && (flags & TJ_SMTP_DOM_UNDERSCORE)))
				return false;
			if (p == label && c == '-')
				return false;
			last = c;
			p++;
		}
		size_t ll = (size_t)(p - label);
		if (ll == 0 || ll > TJ_SMTP_LABEL_MAX || last == '-')
			return false;
		if (p < end) {
			p++; /* '.' */
			if (p == end)
				return false; /* trailing dot */
		}
	}
	return true;
}

/* ------------------------------------------------------------------ paths */

/* scan a Domain or address-literal starting at p, ending before any of stops */
static const char *scan_domain(const char *p, const char *end, const char *stops)
{
	if (p < end && *p == '[') {
		while (p < end && *p != ']')
			p++;
		return p < end ? p + 1 : NULL;
	}
	while (p < end && !strchr(stops, *p) && *p != 0)
		p++;
	return p;
}

int tj_smtp_parse_path(const char **pp, const char *end, bool allow_null, bool allow_postmaster,
		       struct tj_smtp_path *path_r)
{
	const char *p = *pp, *start = p;
	memset(path_r, 0, sizeof(*path_r));
	if (p >= end || *p != '<')
		return TJ_EPROTO;
	p++;
	if (p < end && *p == '>') {
		if (!allow_null)
			return TJ_EPROTO;
		path_r->null = true;
		*pp = p + 1;
		return 0;
	}
	/* A-d-l ":" : obsolete source route, parsed and dropped (RFC 5321 4.1.2, C) */
	if (p < end && *p == '@') {
		for (;;) {
			p++; /* '@' */
			const char *d = p, *de = scan_domain(p, end, ",:>");
			if (!de || !tj_smtp_check_domain(d, (size_t)(de - d), 0))
				return TJ_EPROTO;
			p = de;
			if (p < end && *p == ',' && p + 1 < end && p[1] == '@') {
				p++;
				continue;
			}
			if (p < end && *p == ':') {
				p++;
				break;
			}
			return TJ_EPROTO;
		}
	}
	const char *mbox = p;
	/* Local-part */
	size_t ll = 0;
	bool too_long = false;
	if (p < end && *p == '"') {
		path_r->quoted = true;
		p++;
		for (;;) {
			if (p >= end)
				return TJ_EPROTO;
			unsigned char c = (unsigned char)*p;
			if (c == '"')
				break;
			size_t n = 1;
			if (c == '\\') {
				if (p + 1 >= end || (unsigned char)p[1] < 32 || (unsigned char)p[1] > 126)
					return TJ_EPROTO;
				p++;
				c = (unsigned char)*p;
			} else if (c >= 0x80) {
				n = tj_smtp_utf8_len((const unsigned char *)p, (const unsigned char *)end);
				if (!n)
					return TJ_EPROTO;
				path_r->utf8 = true;
			} else if (c < 32 || c > 126) {
				return TJ_EPROTO;
			}
			if (ll + n <= TJ_SMTP_LOCAL_MAX)
				memcpy(path_r->local + ll, p, n);
			else
				too_long = true;
			ll += n;
			p += n;
		}
		p++; /* closing quote */
	} else {
		bool need_atom = true;
		while (p < end) {
			unsigned char c = (unsigned char)*p;
			size_t n = 1;
			if (c == '.') {
				if (need_atom)
					return TJ_EPROTO;
				need_atom = true;
			} else if (c >= 0x80) {
				n = tj_smtp_utf8_len((const unsigned char *)p, (const unsigned char *)end);
				if (!n)
					return TJ_EPROTO;
				path_r->utf8 = true;
				need_atom = false;
			} else if (is_atext(c)) {
				need_atom = false;
			} else {
				break;
			}
			if (ll + n <= TJ_SMTP_LOCAL_MAX)
				memcpy(path_r->local + ll, p, n);
			else
				too_long = true;
			ll += n;
			p += n;
		}
		if (need_atom)
			return TJ_EPROTO; /* empty, or ends with '.' */
	}
	size_t local_sent = (size_t)(p - mbox);
	if (too_long || local_sent > TJ_SMTP_LOCAL_MAX)
		return TJ_ETOOBIG;
	path_r->local[ll] = 0;
	if (!path_r->quoted && strcasecmp(path_r->local, "postmaster") == 0)
		path_r->postmaster = true;
	if (p < end && *p == '>') {
		if (!(allow_postmaster && path_r->postmaster))
			return TJ_EPROTO;
		memcpy(path_r->addr, mbox, local_sent);
		path_r->addr[local_sent] = 0;
		*pp = p + 1;
		return 0;
	}
	if (p >= end || *p != '@')
		return TJ_EPROTO;
	p++;
	const char *dom = p, *de = scan_domain(p, end, ">");
	if (!de)
		return TJ_EPROTO;
	size_t dl = (size_t)(de - dom);
	if (dl > TJ_SMTP_DOMAIN_MAX)
		return TJ_ETOOBIG;
	if (!tj_smtp_check_domain(dom, dl, TJ_SMTP_DOM_UTF8))
		return TJ_EPROTO;
	p = de;
	if (p >= end || *p != '>')
		return TJ_EPROTO;
	if ((size_t)(p + 1 - start) > TJ_SMTP_PATH_MAX)
		return TJ_ETOOBIG;
	for (size_t i = 0; i < dl; i++)
		if ((unsigned char)dom[i] >= 0x80)
			path_r->utf8 = true;
	memcpy(path_r->domain, dom, dl);
	path_r->domain[dl] = 0;
	path_r->literal = dom[0] == '[';
	size_t al = (size_t)(p - mbox);
	memcpy(path_r->addr, mbox, al); /* al <= 254: checked against PATH_MAX */
	path_r->addr[al] = 0;
	*pp = p + 1;
	return 0;
}

/* ------------------------------------------------------------ parameters */

/* esmtp-value: 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531) */
static bool check_value(const char *v, size_t n)
{
	if (n == 0)
		return false;
	const unsigned char *p = (const unsigned char *)v, *end = p + n;
	while (p < end) {
		if (*p >= 0x80) {
			size_t l = tj_smtp_utf8_len(p, end);
			if (!l)
				return false;
			p += l;
			continue;
		}
		if (*p < 33 || *p == '=' || *p > 126)
			return false;
		p++;
	}
	return true;
}

static bool kw_is(const char *kw, size_t kl, const char *name)
{
	return strlen(name) == kl && strncasecmp(kw, name, kl) == 0;
}

static bool val_is(const char *v, size_t vl, const char *name)
{
	return v && kw_is(v, vl, name);
}

static bool copy_value(char *dst, size_t dstsz, const char *v, size_t vl)
{
	if (vl >= dstsz)
		return false;
	memcpy(dst, v, vl);
	dst[vl] = 0;
	return true;
}

enum { SEEN_SIZE = 1, SEEN_BODY = 2, SEEN_UTF8 = 4, SEEN_RET = 8, SEEN_ENVID = 16, SEEN_AUTH = 32,
       SEEN_NOTIFY = 64, SEEN_ORCPT = 128 };

static enum tj_smtp_perr mail_param(struct tj_smtp_cmd *c, const char *kw, size_t kl, const char *v, size_t vl,
				    unsigned *seen)
{
	unsigned bit;
	if (kw_is(kw, kl, "SIZE")) {
		bit = SEEN_SIZE;
		if (!v || vl > 20)
			return TJ_SMTP_PERR_PARAM_SYNTAX;
		uint64_t n = 0;
		for (size_t i = 0; i < vl; i++) {
			if (!is_digit((unsigned char)v[i]))
				return TJ_SMTP_PERR_PARAM_SYNTAX;
			unsigned d = (unsigned)(v[i] - '0');
			n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
		}
		c->has_size = true;
		c->size = n;
	} else if (kw_is(kw, kl, "BODY")) {
		bit = SEEN_BODY;
		if (val_is(v, vl, "7BIT"))
			c->body = TJ_SMTP_BODY_7BIT;
		else if (val_is(v, vl, "8BITMIME"))
			c->body = TJ_SMTP_BODY_8BITMIME;
		else if (val_is(v, vl, "BINARYMIME"))
			return TJ_SMTP_PERR_PARAM;
		else
			return TJ_SMTP_PERR_PARAM_SYNTAX;
	} else if (kw_is(kw, kl, "SMTPUTF8")) {
		bit = SEEN_UTF8;
		if (v)
			return TJ_SMTP_PERR_PARAM_SYNTAX;
		c->smtputf8 = true;
	} else if (kw_is(kw, kl, "RET")) {
		bit = SEEN_RET;
		if (!val_is(v, vl, "FULL") && !val_is(v, vl, "HDRS"))
			return TJ_SMTP_PERR_PARAM_SYNTAX;
		copy_value(c->ret, sizeof(c->ret), v, vl);
	} else if (kw_is(kw, kl, "ENVID")) {
		bit = SEEN_ENVID;
		if (!v || !copy_value(c->envid, sizeof(c->envid), v, vl))
			return TJ_SMTP_PERR_PARAM_SYNTAX;
	} else if (kw_is(kw, kl, "AUTH")) {
		bit = SEEN_AUTH; /* RFC 4954 AUTH=<>: tolerated, ignored */
		if (!v)
			return TJ_SMTP_PERR_PARAM_SYNTAX;
	} else {
		return TJ_SMTP_PERR_PARAM;
	}
	if (*seen & bit)
		return TJ_SMTP_PERR_PARAM_SYNTAX;
	*seen |= bit;
	return TJ_SMTP_PERR_OK;
}

static enum tj_smtp_perr rcpt_param(struct tj_smtp_cmd *c, const char *kw, size_t kl, const char *v, size_t vl,
				    unsigned *seen)
{
	unsigned bit;
	if (kw_is(kw, kl, "NOTIFY")) {
		bit = SEEN_NOTIFY;
		if (!v)
			return TJ_SMTP_PERR_PARAM_SYNTAX;
		size_t i = 0;
		for (;;) {
			const char *p = v + i;
			const char *q = memchr(p, ',', vl - i);
			size_t n = q ? (size_t)(q - p) : vl - i;
			unsigned f;
			if (kw_is(p, n, "NEVER"))
				f = TJ_SMTP_NOTIFY_NEVER;
			else if (kw_is(p, n, "SUCCESS"))
				f = TJ_SMTP_NOTIFY_SUCCESS;
			else if (kw_is(p, n, "FAILURE"))
				f = TJ_SMTP_NOTIFY_FAILURE;
			else if (kw_is(p, n, "DELAY"))
				f = TJ_SMTP_NOTIFY_DELAY;
			else
				return TJ_SMTP_PERR_PARAM_SYNTAX;
			c->notify |= f;
			if (!q)
				break;
			i += n + 1;
		}
		if ((c->notify & TJ_SMTP_NOTIFY_NEVER) && c->notify != TJ_SMTP_NOTIFY_NEVER)
			return TJ_SMTP_PERR_PARAM_SYNTAX;
	} else if (kw_is(kw, kl, "ORCPT")) {
		bit = SEEN_ORCPT;
		if (!v || !memchr(v, ';', vl) || !copy_value(c->orcpt, sizeof(c->orcpt), v, vl))
			return TJ_SMTP_PERR_PARAM_SYNTAX;
	} else {
		return TJ_SMTP_PERR_PARAM;
	}
	if (*seen & bit)
		return TJ_SMTP_PERR_PARAM_SYNTAX;
	*seen |= bit;
	return TJ_SMTP_PERR_OK;
}

/* parse " KEY[=VALUE]" ... up to end */
static enum tj_smtp_perr parse_params(struct tj_smtp_cmd *c, const char *p, const char *end, bool mail)
{
	unsigned seen = 0, index = 0;
	while (p < end) {
		if (*p != ' ')
			return TJ_SMTP_PERR_SYNTAX;
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		const char *kw = p;
		if (!is_letdig((unsigned char)*p))
			return TJ_SMTP_PERR_PARAM_SYNTAX;
		while (p < end && (is_letdig((unsigned char)*p) || *p == '-'))
			p++;
		size_t kl = (size_t)(p - kw);
		const char *v = NULL;
		size_t vl = 0;
		if (p < end && *p == '=') {
			v = ++p;
			while (p < end && *p != ' ')
				p++;
			vl = (size_t)(p - v);
			if (!check_value(v, vl))
				return TJ_SMTP_PERR_PARAM_SYNTAX;
		} else if (p < end && *p != ' ') {
			return TJ_SMTP_PERR_PARAM_SYNTAX;
		}
		enum tj_smtp_perr e = mail ? mail_param(c, kw, kl, v, vl, &seen) : rcpt_param(c, kw, kl, v, vl, &seen);
		if (e != TJ_SMTP_PERR_OK) {
			c->unknown_param_index = index;
			return e;
		}
		index++;
	}
	return TJ_SMTP_PERR_OK;
}

/* ---------------------------------------------------------------- commands */

static int fail(struct tj_smtp_cmd *c, enum tj_smtp_perr e)
{
	c->perr = e;
	return TJ_EPROTO;
}

static void copy_arg(struct tj_smtp_cmd *c, const char *p, const char *end)
{
	size_t n = (size_t)(end - p);
	if (n >= sizeof(c->arg))
		n = sizeof(c->arg) - 1;
	memcpy(c->arg, p, n);
	c->arg[n] = 0;
}

/* MAIL FROM: / RCPT TO: keyword, then optional blanks (tolerated) */
static bool expect_kw(const char **pp, const char *end, const char *kw)
{
	size_t n = strlen(kw);
	const char *p = *pp;
	if (p >= end || *p != ' ')
		return false;
	p++;
	if ((size_t)(end - p) < n || strncasecmp(p, kw, n) != 0)
		return false;
	p += n;
	while (p < end && *p == ' ')
		p++;
	*pp = p;
	return true;
}

int tj_smtp_parse_command(const char *line, size_t len, bool lmtp, struct tj_smtp_cmd *cmd_r)
{
	struct tj_smtp_cmd *c = cmd_r;
	memset(c, 0, sizeof(*c));
	if (memchr(line, 0, len))
		return fail(c, TJ_SMTP_PERR_NUL);
	const char *end = line + len;
	while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	const char *p = line;
	while (p < end && *p != ' ')
		p++;
	size_t vl = (size_t)(p - line);
	size_t keep = vl < sizeof(c->verb_text) ? vl : sizeof(c->verb_text) - 1;
	memcpy(c->verb_text, line, keep);
	c->verb_text[keep] = 0;
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (kw_is(line, vl, verbs[i].name)) {
			c->verb = verbs[i].verb;
			break;
		}
	}
	if (c->verb == TJ_SMTP_LHLO && !lmtp)
		c->verb = TJ_SMTP_UNKNOWN;
	if (c->verb == TJ_SMTP_UNKNOWN)
		return fail(c, TJ_SMTP_PERR_UNKNOWN);

	switch (c->verb) {
	case TJ_SMTP_HELO:
	case TJ_SMTP_EHLO:
	case TJ_SMTP_LHLO: {
		if (p == end)
			return fail(c, TJ_SMTP_PERR_SYNTAX);
		while (p < end && *p == ' ')
			p++;
		const char *d = p;
		while (p < end && *p != ' ')
			p++;
		if (p != end)
			return fail(c, TJ_SMTP_PERR_SYNTAX); /* one argument only */
		size_t dl = (size_t)(p - d);
		if (!tj_smtp_check_domain(d, dl, TJ_SMTP_DOM_UNDERSCORE))
			return fail(c, TJ_SMTP_PERR_DOMAIN);
		memcpy(c->domain, d, dl);
		c->domain[dl] = 0;
		return 0;
	}
	case TJ_SMTP_MAIL:
	case TJ_SMTP_RCPT: {
		bool mail = c->verb == TJ_SMTP_MAIL;
		if (!expect_kw(&p, end, mail ? "FROM:" : "TO:"))
			return fail(c, TJ_SMTP_PERR_SYNTAX);
		if (p == end || *p != '<')
			return fail(c, TJ_SMTP_PERR_SYNTAX);
		int rc = tj_smtp_parse_path(&p, end, mail, !mail, &c->path);
		if (rc == TJ_ETOOBIG)
			return fail(c, TJ_SMTP_PERR_PATH_LONG);
		if (rc < 0)
			return fail(c, mail ? TJ_SMTP_PERR_SENDER : TJ_SMTP_PERR_RCPT);
		enum tj_smtp_perr e = parse_params(c, p, end, mail);
		if (e != TJ_SMTP_PERR_OK)
			return fail(c, e);
		return 0;
	}
	case TJ_SMTP_DATA:
	case TJ_SMTP_RSET:
	case TJ_SMTP_QUIT:
	case TJ_SMTP_STARTTLS:
		if (p != end)
			return fail(c, TJ_SMTP_PERR_SYNTAX);
		return 0;
	case TJ_SMTP_VRFY:
	case TJ_SMTP_EXPN:
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			return fail(c, TJ_SMTP_PERR_SYNTAX);
		copy_arg(c, p, end);
		return 0;
	case TJ_SMTP_NOOP:
	case TJ_SMTP_HELP:
	case TJ_SMTP_NOTIMPL:
		while (p < end && *p == ' ')
			p++;
		copy_arg(c, p, end);
		return 0;
	default:
		return fail(c, TJ_SMTP_PERR_UNKNOWN);
	}
}

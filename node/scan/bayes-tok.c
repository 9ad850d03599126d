/*
 * bayes-tok.c - the Bayesian classifier's tokenizer (see bayes-tok.h).
 *
 * One pass over the top-level header (each header by its own rule), then
 * over the MIME parts (content tokens; text parts decoded, converted to
 * UTF-8, case folded, HTML reduced to text; embedded messages' headers as
 * words).  Every token goes through emit(): prefix + text, cut to
 * TJ_BAYES_TOKEN_TEXT_MAX, hashed with XXH3-64, kept once.
 */
#include "node/scan/bayes-tok.h"

#include "common/err.h"
#include "protocol/mime/mime.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <xxhash.h>

#define MAX_HEADERS 300          /* header fields looked at per block */
#define MAX_RECEIVED 10          /* Received fields looked at */
#define MAX_URL_LEN 2048         /* URL bytes looked at */
#define MAX_URL_PIECES 12        /* path pieces per URL */
#define MAX_DOMAIN_SUFFIXES 5
#define MAX_TAG_SCAN 4096        /* a '<' with no '>' within this is text */
#define MAX_TAG_ATTRS 20
#define SHAPE_MAX 16

enum { C_SEP, C_WORD, C_INNER };

struct tk {
	tj_bayes_toks *t;
	int rc;               /* first error; once set, nothing more is done */
	size_t text_left;     /* body text budget */
	unsigned to_count;    /* addresses in To and Cc */
	tj_buf a, b, c;       /* scratch */
};

/* ------------------------------------------------------------ the set */

uint64_t tj_bayes_token_hash(const char *text, size_t len)
{
	uint64_t h = XXH3_64bits(text, len);
	return h ? h : 1; /* 0 marks an empty slot */
}

void tj_bayes_toks_init(tj_bayes_toks *t, int keep_text)
{
	memset(t, 0, sizeof(*t));
	t->keep_text = keep_text;
}

void tj_bayes_toks_free(tj_bayes_toks *t)
{
	int keep = t->keep_text;
	free(t->hash);
	free(t->off);
	free(t->set);
	tj_buf_free(&t->text);
	tj_bayes_toks_init(t, keep);
}

void tj_bayes_toks_reset(tj_bayes_toks *t)
{
	if (t->set && t->n)
		memset(t->set, 0, (t->set_mask + 1) * sizeof(*t->set));
	t->n = 0;
	t->dropped = 0;
	tj_buf_reset(&t->text);
}

static size_t slot_of(const tj_bayes_toks *t, uint64_t h)
{
	size_t i = (size_t)(h ^ (h >> 29)) & t->set_mask;
	while (t->set[i] && t->set[i] != h)
		i = (i + 1) & t->set_mask;
	return i;
}

static int set_grow(tj_bayes_toks *t)
{
	size_t ncap = t->set ? (t->set_mask + 1) * 2 : 1024;
	uint64_t *ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	free(t->set);
	t->set = ns;
	t->set_mask = ncap - 1;
	for (size_t i = 0; i < t->n; i++)
		t->set[slot_of(t, t->hash[i])] = t->hash[i];
	return 0;
}

static void add(struct tk *k, uint64_t h, const char *text, size_t len)
{
	tj_bayes_toks *t = k->t;
	if (!t->set && (k->rc = set_grow(t)))
		return;
	size_t i = slot_of(t, h);
	if (t->set[i])
		return; /* already there */
	if (t->n >= TJ_BAYES_MAX_TOKENS) {
		t->dropped++;
		return;
	}
	if ((t->n + 1) * 2 > t->set_mask + 1) {
		if ((k->rc = set_grow(t)))
			return;
		i = slot_of(t, h);
	}
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 256;
		uint64_t *nh = realloc(t->hash, ncap * sizeof(*nh));
		if (!nh) {
			k->rc = -ENOMEM;
			return;
		}
		t->hash = nh;
		if (t->keep_text) {
			size_t *no = realloc(t->off, ncap * sizeof(*no));
			if (!no) {
				k->rc = -ENOMEM;
				return;
			}
			t->off = no;
		}
		t->cap = ncap;
	}
	if (t->keep_text) {
		t->off[t->n] = t->text.len;
		if ((k->rc = tj_buf_append(&t->text, text, len)) || (k->rc = tj_buf_putc(&t->text, 0)))
			return;
	}
	t->set[i] = h;
	t->hash[t->n++] = h;
}

int tj_bayes_toks_has(const tj_bayes_toks *t, const char *text)
{
	if (!t->set)
		return 0;
	return t->set[slot_of(t, tj_bayes_token_hash(text, strlen(text)))] != 0;
}

const char *tj_bayes_toks_text(const tj_bayes_toks *t, size_t i)
{
	if (!t->keep_text || i >= t->n)
		return NULL;
	return (const char *)t->text.data + t->off[i];
}

/* emit - the token p1 p2 w[0..n), cut to TJ_BAYES_TOKEN_TEXT_MAX bytes */
static void emit(struct tk *k, const char *p1, const char *p2, const void *w, size_t n)
{
	char buf[TJ_BAYES_TOKEN_TEXT_MAX];
	size_t l = 0;
	const char *parts[2] = {p1, p2};
	if (k->rc)
		return;
	for (int i = 0; i < 2; i++) {
		size_t pl = strlen(parts[i]);
		if (pl > sizeof(buf) - l)
			pl = sizeof(buf) - l;
		memcpy(buf + l, parts[i], pl);
		l += pl;
	}
	if (n > sizeof(buf) - l)
		n = sizeof(buf) - l;
	const uint8_t *wp = w;
	for (size_t i = 0; i < n; i++) /* control characters (NUL included) become '?' */
		buf[l + i] = wp[i] < 0x20 || wp[i] == 0x7F ? '?' : (char)wp[i];
	l += n;
	add(k, tj_bayes_token_hash(buf, l), buf, l);
}

static void emits(struct tk *k, const char *p1, const char *p2, const char *s)
{
	emit(k, p1, p2, s, strlen(s));
}

/* ----------------------------------------------------- characters */

static bool is_alpha(uint8_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
static bool is_alnum(uint8_t c) { return is_alpha(c) || is_digit(c); }
static uint8_t lower(uint8_t c) { return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c; }

/* u8dec - one code point of UTF-8 at p (invalid bytes: U+FFFD, one byte) */
static uint32_t u8dec(const uint8_t *p, size_t n, size_t *k_r)
{
	uint8_t c = p[0];
	size_t k;
	uint32_t cp;
	if (c < 0x80) {
		*k_r = 1;
		return c;
	}
	if (c >= 0xF0 && c < 0xF5)
		k = 4, cp = c & 0x07;
	else if (c >= 0xE0 && c < 0xF0)
		k = 3, cp = c & 0x0F;
	else if (c >= 0xC2 && c < 0xE0)
		k = 2, cp = c & 0x1F;
	else
		goto bad;
	if (k > n)
		goto bad;
	for (size_t j = 1; j < k; j++) {
		if ((p[j] & 0xC0) != 0x80)
			goto bad;
		cp = (cp << 6) | (p[j] & 0x3F);
	}
	*k_r = k;
	return cp;
bad:
	*k_r = 1;
	return 0xFFFD;
}

/* what an ASCII character is to the word splitter (C_SEP = 0 elsewhere) */
static const uint8_t ascii_cls[128] = {
	['0' ... '9'] = C_WORD, ['a' ... 'z'] = C_WORD, ['A' ... 'Z'] = C_WORD,
	['-'] = C_INNER, ['\''] = C_INNER, ['.'] = C_INNER, [','] = C_INNER, ['@'] = C_INNER, ['_'] = C_INNER,
	['$'] = C_INNER, ['%'] = C_INNER,
};

/* cls - what a code point is to the word splitter */
static int cls(uint32_t cp)
{
	if (cp < 0x80)
		return ascii_cls[cp];
	if (cp < 0xC0) /* C1 controls, NBSP, Latin-1 punctuation; currency signs are words */
		return (cp >= 0xA2 && cp <= 0xA5) ? C_WORD : C_SEP;
	if (cp == 0xD7 || cp == 0xF7)
		return C_SEP;
	if ((cp >= 0x2000 && cp <= 0x206F) || (cp >= 0x2190 && cp <= 0x2BFF) || (cp >= 0x3000 && cp <= 0x303F) ||
	    (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF0F) || (cp >= 0xFF1A && cp <= 0xFF20) ||
	    (cp >= 0xFF3B && cp <= 0xFF40) || (cp >= 0xFF5B && cp <= 0xFF65) || cp == 0xFEFF || cp == 0xFFFD ||
	    (cp >= 0xE000 && cp <= 0xF8FF))
		return C_SEP;
	return C_WORD;
}

/* shape - letters a, digits 9, other non-ASCII u, others kept; runs of one
 * class collapse ("suz0123893616943" -> "a9"); at most SHAPE_MAX bytes */
static size_t shape(const uint8_t *s, size_t n, char *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < SHAPE_MAX; i++) {
		char c = is_alpha(s[i]) ? 'a' : is_digit(s[i]) ? '9' : s[i] >= 0x80 ? 'u' : (char)s[i];
		if (s[i] < 0x20 || s[i] == 0x7F)
			c = '?';
		if (o && out[o - 1] == c)
			continue;
		out[o++] = c;
	}
	return o;
}

/* ------------------------------------------------------- domains, URLs */

/* domain_tokens - p1 p2 + the host and its suffixes at label boundaries
 * ("www.example.com", "example.com", "com"); min_labels 1 includes the TLD */
static void domain_tokens(struct tk *k, const char *p1, const char *p2, const uint8_t *d, size_t n, int min_labels)
{
	while (n && d[n - 1] == '.')
		n--;
	while (n && d[0] == '.')
		d++, n--;
	if (!n)
		return;
	int labels = 1;
	for (size_t i = 0; i < n; i++)
		labels += d[i] == '.';
	emit(k, p1, p2, d, n);
	int done = 1;
	for (size_t i = 0; i < n && done <= MAX_DOMAIN_SUFFIXES && labels > min_labels; i++) {
		if (d[i] != '.')
			continue;
		labels--;
		emit(k, p1, p2, d + i + 1, n - i - 1);
		done++;
	}
}

static bool is_ipv4(const uint8_t *s, size_t n)
{
	int dots = 0, digits = 0;
	for (size_t i = 0; i < n; i++) {
		if (is_digit(s[i])) {
			if (++digits > 3)
				return false;
		} else if (s[i] == '.' && digits) {
			dots++;
			digits = 0;
		} else {
			return false;
		}
	}
	return dots == 3 && digits;
}

/* ip_tokens - p1 "a.b.c.d", "a.b.c", "a.b" */
static void ip_tokens(struct tk *k, const char *p1, const uint8_t *s, size_t n)
{
	emit(k, p1, "", s, n);
	for (int drop = 1; drop <= 2; drop++) {
		size_t e = n;
		for (int d = 0; d < drop && e; d++) {
			while (e && s[e - 1] != '.')
				e--;
			if (e)
				e--;
		}
		if (e)
			emit(k, p1, "", s, e);
	}
}

static void word(struct tk *k, const char *pfx, const uint8_t *w, size_t n, int depth);

/* url - tokens of one URL (ASCII, case folded): scheme, host and its
 * suffixes or IP, port, userinfo, path pieces */
static void url(struct tk *k, const uint8_t *u, size_t n)
{
	if (n > MAX_URL_LEN)
		n = MAX_URL_LEN;
	const uint8_t *sep = n >= 3 ? memmem(u, n, "://", 3) : NULL;
	const uint8_t *rest = u;
	if (sep && sep - u <= 10) {
		emit(k, "url:", "proto:", u, (size_t)(sep - u));
		rest = sep + 3;
	}
	size_t rn = n - (size_t)(rest - u), an = 0;
	while (an < rn && rest[an] != '/' && rest[an] != '?' && rest[an] != '#' && rest[an] != '\\')
		an++;
	const uint8_t *host = rest;
	size_t hn = an;
	const uint8_t *at = NULL;
	for (size_t i = 0; i < hn; i++)
		if (host[i] == '@')
			at = host + i;
	if (at) {
		emits(k, "url:", "", "=userinfo");
		hn -= (size_t)(at + 1 - host);
		host = at + 1;
	}
	for (size_t i = 0; i < hn; i++)
		if (host[i] == ':') {
			emit(k, "url:", "port:", host + i + 1, hn - i - 1 > 6 ? 6 : hn - i - 1);
			hn = i;
			break;
		}
	while (hn && host[hn - 1] == '.')
		hn--;
	if (hn) {
		bool digits_only = true, escaped = false;
		for (size_t i = 0; i < hn; i++) {
			if (!is_digit(host[i]) && host[i] != '.')
				digits_only = false;
			if (host[i] == '%')
				escaped = true;
		}
		if (escaped)
			emits(k, "url:", "", "=escaped-host");
		if (is_ipv4(host, hn)) {
			emits(k, "url:", "", "=ip");
			ip_tokens(k, "url:ip:", host, hn);
		} else if (digits_only) {
			emits(k, "url:", "", "=numeric-host");
		} else if (hn <= 80) {
			domain_tokens(k, "url:", "", host, hn, 1);
		} else {
			emits(k, "url:", "", "=long-host");
		}
	}
	/* the path, query and fragment in pieces */
	const uint8_t *p = rest + an;
	size_t pn = rn - an, i = 0;
	unsigned pieces = 0;
	bool pct = false;
	while (i < pn && pieces < MAX_URL_PIECES) {
		while (i < pn && !is_alnum(p[i]) && p[i] < 0x80) {
			pct |= p[i] == '%';
			i++;
		}
		size_t s = i;
		while (i < pn && (is_alnum(p[i]) || p[i] >= 0x80))
			i++;
		if (i > s) {
			pieces++;
			word(k, "url:", p + s, i - s, 1);
		}
	}
	if (pct)
		emits(k, "url:", "", "=escaped-path");
}

/* url_at - length of a URL starting at s (0 if none): http://, https://,
 * ftp://, www.  Stops at spaces, quotes, brackets, non-ASCII; trailing
 * punctuation is not part of it. */
static size_t url_at(const uint8_t *s, size_t n)
{
	size_t start;
	if (n >= 8 && !memcmp(s, "https://", 8))
		start = 8;
	else if (n >= 7 && !memcmp(s, "http://", 7))
		start = 7;
	else if (n >= 6 && !memcmp(s, "ftp://", 6))
		start = 6;
	else if (n >= 5 && !memcmp(s, "www.", 4) && is_alnum(s[4]))
		start = 4;
	else
		return 0;
	size_t e = start;
	while (e < n && s[e] > 0x20 && s[e] < 0x7F && !strchr("\"'<>()[]{}\\^`|", s[e]))
		e++;
	while (e > start && strchr(".,;:!?", s[e - 1]))
		e--;
	return e > start ? e : 0;
}

/* ------------------------------------------------------------- words */

/* addr - an e-mail address: P "addr:" the address, P "dom:" the domain
 * and its suffixes, P "shape:" the local part's shape.  false if w is not
 * an address. */
static bool addr(struct tk *k, const char *pfx, const uint8_t *w, size_t n)
{
	const uint8_t *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (w[i] == '@')
			at = w + i;
	if (!at || at == w || at == w + n - 1)
		return false;
	const uint8_t *d = at + 1;
	size_t dn = n - (size_t)(d - w);
	bool dot = false;
	for (size_t i = 0; i < dn; i++) {
		if (!is_alnum(d[i]) && d[i] != '.' && d[i] != '-' && d[i] != '_')
			return false;
		dot |= d[i] == '.';
	}
	if (!dot)
		return false;
	const char *p = pfx[0] ? pfx : "email:";
	emit(k, p, "addr:", w, n);
	domain_tokens(k, p, "dom:", d, dn, 2);
	char sh[SHAPE_MAX];
	size_t sl = shape(w, (size_t)(at - w), sh);
	emit(k, p, "shape:", sh, sl);
	return true;
}

/* word - one run of word characters: trimmed, dropped if short, a "skip:"
 * token if long; words with inner punctuation also give their pieces */
static void word(struct tk *k, const char *pfx, const uint8_t *w, size_t n, int depth)
{
	while (n && strchr("-'.,@_%", w[0]))
		w++, n--;
	while (n && strchr("-'.,@_$", w[n - 1]))
		n--;
	if (!n || k->rc)
		return;
	size_t ncp = 0, first_len = 0;
	bool ascii = true, has_at = false, has_split = false;
	for (size_t i = 0; i < n;) {
		size_t kk;
		uint32_t cp = u8dec(w + i, n - i, &kk);
		if (!ncp)
			first_len = kk;
		ncp++;
		ascii &= cp < 0x80;
		has_at |= cp == '@';
		has_split |= cp == '.' || cp == '-' || cp == '_' || cp == ',' || cp == '\'';
		i += kk;
	}
	if (has_at && depth == 0 && addr(k, pfx, w, n))
		return;
	if (ncp > TJ_BAYES_TOK_MAX) {
		char sk[16];
		memcpy(sk, w, first_len);
		int l = snprintf(sk + first_len, sizeof(sk) - first_len, ":%zu", ncp >= 100 ? 100 : ncp / 10 * 10);
		emit(k, pfx, "skip:", sk, first_len + (size_t)l);
	} else if (ncp >= TJ_BAYES_TOK_MIN || (!ascii && ncp >= 2)) {
		emit(k, pfx, "", w, n);
	}
	if (!has_split || depth)
		return;
	size_t s = 0;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || strchr(".-_,'@", w[i])) {
			if (i > s && i - s < n)
				word(k, pfx, w + s, i - s, 1);
			s = i + 1;
		}
	}
}

/* text_words - the words and URLs of folded UTF-8 text */
static void text_words(struct tk *k, const char *pfx, const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n && !k->rc) {
		if ((s[i] == 'h' || s[i] == 'f' || s[i] == 'w') && (i == 0 || !is_alnum(s[i - 1]))) {
			size_t ul = url_at(s + i, n - i);
			if (ul) {
				url(k, s + i, ul);
				i += ul;
				continue;
			}
		}
		size_t kk = 1;
		if (s[i] < 0x80 ? ascii_cls[s[i]] == C_SEP : cls(u8dec(s + i, n - i, &kk)) == C_SEP) {
			i += kk;
			continue;
		}
		size_t st = i;
		while (i < n) {
			if (s[i] < 0x80) {
				if (ascii_cls[s[i]] == C_SEP)
					break;
				i++;
			} else {
				if (cls(u8dec(s + i, n - i, &kk)) == C_SEP)
					break;
				i += kk;
			}
		}
		word(k, pfx, s + st, i - st, 0);
	}
}

/* ------------------------------------------------------------- HTML */

static bool name_is(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(name, *list))
			return true;
	return false;
}

static const char *const block_tags[] = {
	"br", "p", "div", "td", "th", "tr", "li", "table", "tbody", "thead", "tfoot", "h1", "h2", "h3", "h4", "h5",
	"h6", "title", "hr", "ul", "ol", "dl", "dd", "dt", "blockquote", "center", "pre", "form", "option", "select",
	"body", "html", "head", "img", "input", "textarea", "button", "caption", "address", "frame", "iframe", NULL};
static const char *const url_attrs[] = {"href", "src", "action", "background", "lowsrc", "dynsrc", "codebase",
					"cite", NULL};
static const char *const color_attrs[] = {"color", "bgcolor", "text", "link", "vlink", "alink", NULL};

/* attr_value - one attribute of a tag */
static void attr_value(struct tk *k, const char *tag, const char *an, const uint8_t *v, size_t vn)
{
	char tn[40];
	snprintf(tn, sizeof(tn), "%s:%s", tag, an);
	emits(k, "html:", "", tn);
	while (vn && (v[0] == ' ' || v[0] == '\t' || v[0] == '\n' || v[0] == '\r'))
		v++, vn--;
	if (!vn)
		return;
	if (name_is(an, url_attrs)) {
		size_t ul = url_at(v, vn);
		if (ul)
			url(k, v, ul);
		else if (vn > 7 && !memcmp(v, "mailto:", 7))
			text_words(k, "", v + 7, vn - 7);
		else if (vn > 11 && !memcmp(v, "javascript:", 11))
			emits(k, "html:", "", "=javascript-url");
		else if (vn > 3 && memmem(v, vn, "://", 3))
			url(k, v, vn);
	} else if (name_is(an, color_attrs)) {
		emit(k, "html:color:", "", v, vn > 12 ? 12 : vn);
	} else if (!strcmp(an, "size") && !strcmp(tag, "font")) {
		emit(k, "html:fontsize:", "", v, vn > 4 ? 4 : vn);
	} else if (!strcmp(an, "face")) {
		emit(k, "html:face:", "", v, vn > 24 ? 24 : vn);
	} else if (!strcmp(an, "style")) {
		if (memmem(v, vn, "display:none", 12) || memmem(v, vn, "display: none", 13) ||
		    memmem(v, vn, "visibility:hidden", 17) || memmem(v, vn, "font-size:0", 11) ||
		    memmem(v, vn, "font-size:1px", 13))
			emits(k, "html:", "", "=hidden-style");
	} else if (!strcmp(an, "alt") || !strcmp(an, "title")) {
		text_words(k, "", v, vn);
	}
}

/* tag_attrs - the attributes of one tag, s[0..n) after its name */
static void tag_attrs(struct tk *k, const char *tag, const uint8_t *s, size_t n)
{
	size_t i = 0;
	for (int count = 0; i < n && count < MAX_TAG_ATTRS && !k->rc; count++) {
		while (i < n && (s[i] <= ' ' || s[i] == '/'))
			i++;
		size_t ns = i;
		while (i < n && s[i] > ' ' && s[i] != '=' && s[i] != '/' && s[i] != '"' && s[i] != '\'')
			i++;
		if (i == ns) {
			i++;
			continue;
		}
		char an[16];
		size_t al = i - ns < sizeof(an) - 1 ? i - ns : sizeof(an) - 1;
		for (size_t j = 0; j < al; j++)
			an[j] = (char)lower(s[ns + j]);
		an[al] = 0;
		while (i < n && s[i] <= ' ')
			i++;
		const uint8_t *v = NULL;
		size_t vn = 0;
		if (i < n && s[i] == '=') {
			i++;
			while (i < n && s[i] <= ' ')
				i++;
			if (i < n && (s[i] == '"' || s[i] == '\'')) {
				uint8_t q = s[i++];
				v = s + i;
				while (i < n && s[i] != q)
					i++;
				vn = (size_t)(s + i - v);
				i++;
			} else {
				v = s + i;
				while (i < n && s[i] > ' ')
					i++;
				vn = (size_t)(s + i - v);
			}
		}
		attr_value(k, tag, an, v ? v : (const uint8_t *)"", vn);
	}
}

/* tag_end - index of the '>' closing the tag that starts at s[i] (quotes
 * respected), or SIZE_MAX if none within MAX_TAG_SCAN bytes */
static size_t tag_end(const uint8_t *s, size_t i, size_t n)
{
	uint8_t q = 0;
	size_t lim = n - i > MAX_TAG_SCAN ? i + MAX_TAG_SCAN : n;
	for (; i < lim; i++) {
		if (q) {
			if (s[i] == q)
				q = 0;
		} else if (s[i] == '"' || s[i] == '\'') {
			q = s[i];
		} else if (s[i] == '>') {
			return i;
		}
	}
	return SIZE_MAX;
}

static const struct {
	const char *name;
	uint32_t cp;
} entities[] = {
	{"nbsp", ' '}, {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''},
	{"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"euro", 0x20AC}, {"pound", 0xA3},
};

/* entity - decode "&...;" at s (s[0] == '&'); returns bytes used, 0 if not one */
static size_t entity(struct tk *k, const uint8_t *s, size_t n, tj_buf *out)
{
	size_t e = 1;
	while (e < n && e < 12 && s[e] != ';' && (is_alnum(s[e]) || s[e] == '#'))
		e++;
	if (e >= n || s[e] != ';' || e == 1)
		return 0;
	uint32_t cp = 0;
	if (s[1] == '#') {
		bool hex = e > 2 && (s[2] == 'x' || s[2] == 'X');
		size_t d = hex ? 3 : 2;
		if (d == e)
			return 0;
		for (; d < e; d++) {
			int v = is_digit(s[d]) ? s[d] - '0' : hex && lower(s[d]) >= 'a' && lower(s[d]) <= 'f' ? lower(s[d]) - 'a' + 10 : -1;
			if (v < 0 || cp > 0x10FFFF)
				return 0;
			cp = cp * (hex ? 16 : 10) + (uint32_t)v;
		}
		if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			cp = 0xFFFD;
		if (cp < 0x80 && is_alnum((uint8_t)cp))
			emits(k, "html:", "", "=alnum-entity");
		cp = cp < 0x80 ? lower((uint8_t)cp) : cp;
	} else {
		size_t i;
		for (i = 0; i < sizeof(entities) / sizeof(entities[0]); i++)
			if (strlen(entities[i].name) == e - 1 && !memcmp(entities[i].name, s + 1, e - 1))
				break;
		if (i == sizeof(entities) / sizeof(entities[0]))
			return 0;
		cp = entities[i].cp;
	}
	if ((k->rc = tj_buf_put_utf8(out, cp)))
		return n;
	return e + 1;
}

/* html_text - the text of folded HTML s into out; tokens for tags, some
 * attributes and the URLs they hold.  Comments and inline tags vanish
 * without a space (so "vi<!-- -->agra" is one word), block tags become a
 * space, <script> and <style> lose their content. */
static void html_text(struct tk *k, const uint8_t *s, size_t n, tj_buf *out)
{
	size_t i = 0;
	while (i < n && !k->rc) {
		uint8_t c = s[i];
		if (c == '<') {
			if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) {
				const uint8_t *e = memmem(s + i + 4, n - i - 4, "-->", 3);
				emits(k, "html:", "", "=comment");
				i = e ? (size_t)(e - s) + 3 : n;
				continue;
			}
			size_t j = i + 1;
			bool closing = j < n && s[j] == '/';
			j += closing;
			size_t te = j < n && (is_alpha(s[j]) || s[j] == '!' || s[j] == '?') ? tag_end(s, j, n) : SIZE_MAX;
			if (te == SIZE_MAX) {
				k->rc = tj_buf_putc(out, c);
				i++;
				continue;
			}
			char name[16];
			size_t nl = 0;
			if (s[j] == '!' || s[j] == '?')
				name[nl++] = (char)s[j++];
			while (j < te && is_alnum(s[j]) && nl < sizeof(name) - 1)
				name[nl++] = (char)lower(s[j++]);
			while (j < te && is_alnum(s[j]))
				j++;
			name[nl] = 0;
			if (!closing) {
				emits(k, "html:", "", name);
				tag_attrs(k, name, s + j, te - j);
			}
			if (name_is(name, block_tags))
				k->rc = tj_buf_putc(out, ' ');
			i = te + 1;
			if (!closing && (!strcmp(name, "script") || !strcmp(name, "style"))) {
				char endtag[16];
				int el = snprintf(endtag, sizeof(endtag), "</%s", name);
				const uint8_t *e = memmem(s + i, n - i, endtag, (size_t)el);
				const uint8_t *gt = e ? memchr(e, '>', (size_t)(s + n - e)) : NULL;
				size_t end = e ? (size_t)(e - s) : n;
				for (size_t u = i; u < end && !k->rc; u++) /* the URLs a script goes to */
					if ((s[u] == 'h' || s[u] == 'f') && (u == i || !is_alnum(s[u - 1]))) {
						size_t ul = url_at(s + u, end - u);
						if (ul) {
							url(k, s + u, ul);
							u += ul - 1;
						}
					}
				i = gt ? (size_t)(gt - s) + 1 : n;
			}
			continue;
		}
		if (c == '&') {
			size_t used = entity(k, s + i, n - i, out);
			if (used) {
				i += used;
				continue;
			}
		}
		size_t e = i + 1; /* plain text up to the next tag or entity, at once */
		while (e < n && s[e] != '<' && s[e] != '&')
			e++;
		k->rc = tj_buf_append(out, s + i, e - i);
		i = e;
	}
}

/* ------------------------------------------------------------ headers */

/* ours and other filters' verdicts (any header starting so): never learn from them */
static const char *const ignored_prefixes[] = {"x-spam", "x-virus", "x-bogosity", "x-dspam", "x-tjstore",
					       "x-quarantine", "x-amavis", NULL};
/* mailbox bookkeeping */
static const char *const ignored_headers[] = {"status", "x-status", "x-uid", "x-keywords", "x-imap", "x-imapbase",
					      "content-length", "lines", NULL};
/* headers whose values are tokenized (each by its own rule); every other
 * header gives only its name ("header:NAME"): on the tuning folds the words
 * of other headers (list footers, signatures, ids) cost more than they gave */
static const char *const valued_headers[] = {
	"subject", "from", "to", "cc", "reply-to", "sender", "return-path", "errors-to", "message-id", "date",
	"x-mailer", "user-agent", "x-newsreader", "x-mimeole", NULL};
static const char *const missing_checked[] = {"message-id", "date", "subject", "from", "to", "mime-version", NULL};

static bool ignored(const char *name)
{
	for (const char *const *p = ignored_prefixes; *p; p++)
		if (!strncmp(name, *p, strlen(*p)))
			return true;
	return name_is(name, ignored_headers);
}

/* received - hosts, domains, IPs and words of one Received field (raw) */
static void received(struct tk *k, const uint8_t *v, size_t n)
{
	size_t i = 0;
	while (i < n && !k->rc) {
		while (i < n && !is_alnum(v[i]))
			i++;
		size_t s = i;
		bool alpha = false, dot = false;
		while (i < n && (is_alnum(v[i]) || v[i] == '.' || v[i] == '-' || v[i] == '_')) {
			alpha |= is_alpha(v[i]);
			dot |= v[i] == '.';
			i++;
		}
		size_t e = i;
		while (e > s && (v[e - 1] == '.' || v[e - 1] == '-'))
			e--;
		if (e <= s || e - s > 80)
			continue;
		uint8_t w[80];
		for (size_t j = s; j < e; j++)
			w[j - s] = lower(v[j]);
		size_t wn = e - s;
		if (is_ipv4(w, wn)) {
			ip_tokens(k, "rcvd:ip:", w, wn);
		} else if (dot && alpha) {
			size_t last = wn;
			while (last && w[last - 1] != '.')
				last--;
			if (last < wn && is_alpha(w[last])) {
				emit(k, "rcvd:host:", "", w, wn);
				domain_tokens(k, "rcvd:dom:", "", w, wn, 2);
			}
		} else if (alpha && !dot && wn >= 3 && wn <= 12) {
			bool all_alpha = true;
			for (size_t j = 0; j < wn; j++)
				all_alpha &= is_alpha(w[j]);
			if (all_alpha)
				emit(k, "rcvd:w:", "", w, wn);
		}
	}
}

/* message_id - the domain (and suffixes) and the shape of the local part */
static void message_id(struct tk *k, const uint8_t *v, size_t n)
{
	const uint8_t *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (v[i] == '@')
			at = v + i;
	if (!at) {
		emits(k, "mid:", "", "=noat");
		return;
	}
	const uint8_t *d = at + 1;
	size_t dn = 0;
	while (d + dn < v + n && (is_alnum(d[dn]) || d[dn] == '.' || d[dn] == '-' || d[dn] == '_'))
		dn++;
	if (dn)
		domain_tokens(k, "mid:", "dom:", d, dn, 2);
	else
		emits(k, "mid:", "", "=nodomain");
	const uint8_t *l = v;
	while (l < at && (*l == ' ' || *l == '<' || *l == '\t'))
		l++;
	char sh[SHAPE_MAX];
	size_t sl = shape(l, (size_t)(at - l), sh);
	emit(k, "mid:", "shape:", sh, sl);
}

/* date_tokens - the time zone and the shape of a Date field */
static void date_tokens(struct tk *k, const uint8_t *v, size_t n)
{
	char sh[SHAPE_MAX];
	emit(k, "date:", "shape:", sh, shape(v, n > 40 ? 40 : n, sh));
	for (size_t i = n; i-- > 0;) {
		if ((v[i] == '+' || v[i] == '-') && i + 5 <= n && is_digit(v[i + 1]) && is_digit(v[i + 4])) {
			emit(k, "date:", "tz:", v + i, 5);
			return;
		}
	}
	emits(k, "date:", "", "=notz");
}

/* header_charsets - "hdr-charset:" for each RFC 2047 encoded word's charset */
static void header_charsets(struct tk *k, const uint8_t *v, size_t n)
{
	const uint8_t *p = v, *end = v + n;
	int count = 0;
	while (count < 4 && (p = memmem(p, (size_t)(end - p), "=?", 2)) != NULL) {
		p += 2;
		size_t l = 0;
		while (p + l < end && l < 24 && p[l] != '?' && p[l] > ' ')
			l++;
		if (p + l < end && p[l] == '?' && l) {
			uint8_t cs[24];
			for (size_t j = 0; j < l; j++)
				cs[j] = lower(p[j]);
			emit(k, "hdr-charset:", "", cs, l);
			count++;
		}
		p += l;
	}
}

/* header - one header field: top-level ones by their rules, an embedded
 * message's Subject, From and To as body words */
static void header(struct tk *k, const char *name, const uint8_t *v, size_t n, bool top)
{
	if (ignored(name))
		return;
	if (!top) {
		if (strcmp(name, "subject") && strcmp(name, "from") && strcmp(name, "to"))
			return;
	} else {
		emits(k, "header:", "", name);
		if (memmem(v, n, "=?", 2))
			header_charsets(k, v, n);
		if (!strcmp(name, "received")) {
			received(k, v, n);
			return;
		}
		if (!name_is(name, valued_headers))
			return;
	}
	tj_buf_reset(&k->a);
	tj_buf_reset(&k->b);
	if ((k->rc = tj_mime_decode_header(v, n, &k->a)) ||
	    (k->rc = tj_mime_fold(k->a.data ? k->a.data : (const uint8_t *)"", k->a.len, &k->b)))
		return;
	const uint8_t *f = k->b.data ? k->b.data : (const uint8_t *)"";
	size_t fn = k->b.len;
	if (!top) {
		text_words(k, "", f, fn);
	} else if (!strcmp(name, "subject")) {
		text_words(k, "subject:", f, fn);
		size_t letters = 0, upper = 0, bangs = 0;
		for (size_t i = 0; i < k->a.len; i++) {
			uint8_t c = k->a.data[i];
			letters += is_alpha(c);
			upper += c >= 'A' && c <= 'Z';
			bangs += c == '!';
		}
		if (letters >= 6 && upper * 10 >= letters * 8)
			emits(k, "subject:", "", "=caps");
		if (bangs >= 2)
			emits(k, "subject:", "", "=bangs");
		if (memmem(k->a.data ? k->a.data : (const uint8_t *)"", k->a.len, "     ", 5))
			emits(k, "subject:", "", "=spaces");
		if (memmem(v, n, "=?", 2))
			emits(k, "subject:", "", "=encoded");
	} else if (!strcmp(name, "from")) {
		text_words(k, "from:", f, fn);
	} else if (!strcmp(name, "to") || !strcmp(name, "cc")) {
		text_words(k, "to:", f, fn);
		for (size_t i = 0; i < fn; i++)
			k->to_count += f[i] == '@';
	} else if (!strcmp(name, "reply-to")) {
		text_words(k, "reply-to:", f, fn);
	} else if (!strcmp(name, "sender") || !strcmp(name, "return-path") || !strcmp(name, "errors-to")) {
		text_words(k, "sender:", f, fn);
	} else if (!strcmp(name, "message-id")) {
		message_id(k, f, fn);
	} else if (!strcmp(name, "date")) {
		date_tokens(k, f, fn);
	} else { /* x-mailer, user-agent, x-newsreader, x-mimeole */
		while (fn && (f[fn - 1] == ' ' || f[fn - 1] == '\n' || f[fn - 1] == '\r'))
			fn--;
		emit(k, "mailer:", "=", f, fn > 48 ? 48 : fn);
		text_words(k, "mailer:", f, fn);
	}
}

/* headers - every field of one header block raw[off, off+len) */
static void headers(struct tk *k, const uint8_t *raw, uint64_t off, uint64_t len, bool top)
{
	size_t q = (size_t)off, end = (size_t)(off + (len > TJ_BAYES_HDR_MAX ? TJ_BAYES_HDR_MAX : len));
	unsigned nfields = 0, nrcvd = 0;
	uint32_t seen_missing = 0;
	while (q < end && !k->rc && nfields < MAX_HEADERS) {
		if (raw[q] == '\n' || (raw[q] == '\r' && q + 1 < end && raw[q + 1] == '\n'))
			break;
		size_t fs = q;
		do {
			const uint8_t *lf = memchr(raw + q, '\n', end - q);
			q = lf ? (size_t)(lf - raw) + 1 : end;
		} while (q < end && (raw[q] == ' ' || raw[q] == '\t'));
		const uint8_t *colon = memchr(raw + fs, ':', q - fs);
		if (!colon)
			continue;
		size_t nl = (size_t)(colon - raw) - fs;
		while (nl && (raw[fs + nl - 1] == ' ' || raw[fs + nl - 1] == '\t'))
			nl--;
		if (!nl || nl > 40)
			continue;
		char name[44];
		bool ok = true;
		for (size_t i = 0; i < nl; i++) {
			uint8_t c = raw[fs + i];
			ok &= c > ' ' && c < 0x7F;
			name[i] = (char)lower(c);
		}
		name[nl] = 0;
		if (!ok)
			continue;
		nfields++;
		size_t vs = (size_t)(colon - raw) + 1;
		while (vs < q && (raw[vs] == ' ' || raw[vs] == '\t'))
			vs++;
		if (!strcmp(name, "received") && ++nrcvd > MAX_RECEIVED)
			continue;
		for (int i = 0; missing_checked[i]; i++)
			if (!strcmp(name, missing_checked[i]))
				seen_missing |= 1u << i;
		header(k, name, raw + vs, q - vs, top);
	}
	if (!top)
		return;
	for (int i = 0; missing_checked[i]; i++)
		if (!(seen_missing & (1u << i)))
			emits(k, "missing:", "", missing_checked[i]);
	char b[16];
	snprintf(b, sizeof(b), "%u", nrcvd < 8 ? nrcvd : 8);
	emits(k, "header:", "received-count:", b);
	unsigned tc = k->to_count;
	snprintf(b, sizeof(b), "%u", tc <= 2 ? tc : tc <= 4 ? 4 : tc <= 8 ? 8 : tc <= 32 ? 32 : 99);
	emits(k, "to:", "count:", b);
}

/* ---------------------------------------------------------- the parts */

static void lower_token(struct tk *k, const char *pfx, const char *s, size_t max)
{
	char b[64];
	size_t n = 0;
	for (; s[n] && n < max && n < sizeof(b); n++)
		b[n] = (char)lower((uint8_t)s[n]);
	emit(k, pfx, "", b, n);
}

static bool starts_html(const uint8_t *s, size_t n)
{
	size_t lim = n > 2048 ? 2048 : n;
	return memmem(s, lim, "<html", 5) || memmem(s, lim, "<body", 5) || memmem(s, lim, "<!doctype html", 14) ||
	       memmem(s, lim, "<a href", 7) || memmem(s, lim, "<table", 6) || memmem(s, lim, "<font", 5);
}

/* text_part - decode, convert, fold and tokenize one text part */
static void text_part(struct tk *k, const struct tj_mime_content *ct, const uint8_t *b, size_t n)
{
	if (!k->text_left)
		return;
	tj_buf_reset(&k->a);
	tj_buf_reset(&k->b);
	tj_buf_reset(&k->c);
	if (ct->cte && !strcasecmp(ct->cte, "base64"))
		k->rc = tj_mime_decode_base64(b, n, &k->a);
	else if (ct->cte && !strcasecmp(ct->cte, "quoted-printable"))
		k->rc = tj_mime_decode_qp(b, n, &k->a);
	else
		k->rc = tj_buf_append(&k->a, b, n > k->text_left ? k->text_left : n);
	if (k->rc)
		return;
	if (k->a.len > k->text_left)
		tj_buf_truncate(&k->a, k->text_left);
	k->text_left -= k->a.len;
	const uint8_t *a = k->a.data ? k->a.data : (const uint8_t *)"";
	if ((k->rc = tj_mime_to_utf8(ct->charset, a, k->a.len, &k->b)) ||
	    (k->rc = tj_mime_fold(k->b.data ? k->b.data : (const uint8_t *)"", k->b.len, &k->c)))
		return;
	const uint8_t *f = k->c.data ? k->c.data : (const uint8_t *)"";
	bool html = !strcasecmp(ct->subtype, "html");
	if (!html && starts_html(f, k->c.len)) {
		html = true;
		emits(k, "html:", "", "=in-plain");
	}
	if (html) {
		tj_buf_reset(&k->a);
		html_text(k, f, k->c.len, &k->a);
		if (!k->rc)
			text_words(k, "", k->a.data ? k->a.data : (const uint8_t *)"", k->a.len);
	} else {
		text_words(k, "", f, k->c.len);
	}
}

static void content_tokens(struct tk *k, const struct tj_mime_content *ct)
{
	char b[64];
	snprintf(b, sizeof(b), "%s/%s", ct->type, ct->subtype);
	lower_token(k, "ct:", b, 48);
	if (ct->charset)
		lower_token(k, "charset:", ct->charset, 32);
	if (ct->cte)
		lower_token(k, "cte:", ct->cte, 24);
	if (ct->disposition)
		lower_token(k, "disp:", ct->disposition, 16);
	if (ct->filename) {
		const char *dot = strrchr(ct->filename, '.');
		if (dot && strlen(dot + 1) <= 8)
			lower_token(k, "fname:", dot + 1, 8);
		else
			emits(k, "fname:", "", "=noext");
	}
}

int tj_bayes_tokenize(const uint8_t *msg, size_t len, tj_bayes_toks *t)
{
	struct tk k = {.t = t, .text_left = TJ_BAYES_TEXT_MAX};
	struct tj_mime_msg *m = NULL;
	tj_bayes_toks_reset(t);
	if (!msg)
		msg = (const uint8_t *)"";
	int rc = tj_mime_parse(msg, len, &m);
	if (rc)
		return rc == TJ_ETOOBIG ? TJ_ETOOBIG : -ENOMEM;
	uint32_t np = tj_mime_part_count(m);
	const struct tj_mime_part *p0 = tj_mime_part_get(m, 0);
	headers(&k, msg, p0->hdr_off, p0->hdr_len, true);
	for (uint32_t i = 0; i < np && !k.rc; i++) {
		const struct tj_mime_part *p = tj_mime_part_get(m, i);
		struct tj_mime_content ct;
		if (tj_mime_part_content(m, i, &ct) < 0)
			continue;
		content_tokens(&k, &ct);
		if (i > 0 && (tj_mime_part_get(m, p->parent)->flags & TJ_MIME_PART_RFC822))
			headers(&k, msg, p->hdr_off, p->hdr_len, false);
		if (p->first_child == TJ_MIME_NONE && (p->flags & TJ_MIME_PART_TEXT))
			text_part(&k, &ct, msg + p->body_off, (size_t)p->body_len);
	}
	tj_mime_free(&m);
	tj_buf_free(&k.a);
	tj_buf_free(&k.b);
	tj_buf_free(&k.c);
	return k.rc;
}

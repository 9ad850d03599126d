/*
 * mime-lex.c - the low-level pieces of MIME parsing: a memory arena, the RFC
 * 5322 tokenizer (atoms, quoted strings, comments, phrases, domains, MIME
 * tokens), Content-Type parameter lists with RFC 2231 continuations, and
 * address-list parsing.  Lenient in exactly the ways Dovecot 2.3 is, because
 * ENVELOPE and BODYSTRUCTURE must match its output byte for byte.
 */
#include "protocol/mime/mime-private.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- arena */

#define TJM_CHUNK_MIN 4096

struct tjm_chunk {
	struct tjm_chunk *next;
	size_t used, size;
	max_align_t data[];
};

void *tjm_alloc(struct tjm_pool *pool, size_t size)
{
	struct tjm_chunk *c = pool->chunks;
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	if (!c || c->size - c->used < size) {
		size_t csize = size > TJM_CHUNK_MIN ? size : TJM_CHUNK_MIN;
		if (csize > SIZE_MAX - sizeof(*c)) {
			pool->oom = true;
			return NULL;
		}
		c = malloc(sizeof(*c) + csize);
		if (!c) {
			pool->oom = true;
			return NULL;
		}
		c->used = 0;
		c->size = csize;
		c->next = pool->chunks;
		pool->chunks = c;
	}
	void *p = (uint8_t *)c->data + c->used;
	c->used += size;
	memset(p, 0, size);
	return p;
}

char *tjm_strndup(struct tjm_pool *pool, const void *s, size_t len)
{
	if (len == SIZE_MAX) {
		pool->oom = true;
		return NULL;
	}
	char *d = tjm_alloc(pool, len + 1);
	if (d && len)
		memcpy(d, s, len);
	return d;
}

void tjm_pool_clear(struct tjm_pool *pool)
{
	while (pool->chunks) {
		struct tjm_chunk *n = pool->chunks->next;
		free(pool->chunks);
		pool->chunks = n;
	}
}

/* ------------------------------------------------------------ tokenizer */

/* 1 = atext, 2 = alpha/digit/8-bit, 4 = atext but a MIME tspecial */
const uint8_t tjm_atext[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/*  sp !  "  #  $  %  &  '  (  )  *  +  ,  -  .  / */
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 4,
	/*  0-9                          :  ;  <  =  >  ? */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 4, 0, 4,
	/*  @  A-O */
	0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	/*  P-Z                             [  \  ]  ^  _ */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 1,
	/*  `  a-o */
	1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	/*  p-z                             {  |  }  ~  DEL */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

#define REPL_UTF8 "\xEF\xBF\xBD"

/* the byte at the cursor, 0 past the end (the C string convention) */
static inline uint8_t cur(const struct tjm_lex *lx)
{
	return lx->p < lx->end ? *lx->p : 0;
}

void tjm_lex_init(struct tjm_lex *lx, const uint8_t *p, size_t len, tj_buf *last_comment, bool *oom)
{
	lx->p = p;
	lx->end = p + len;
	lx->last_comment = last_comment;
	lx->nul_repl = false;
	lx->oom = oom;
}

void tjm_put(struct tjm_lex *lx, tj_buf *b, const void *p, size_t n)
{
	if (tj_buf_append(b, p, n) < 0)
		*lx->oom = true;
}

static int skip_comment(struct tjm_lex *lx)
{
	const uint8_t *start;
	int level = 1;

	if (lx->last_comment)
		tj_buf_truncate(lx->last_comment, 0);
	start = ++lx->p;
	for (; lx->p < lx->end; lx->p++) {
		switch (*lx->p) {
		case '\0':
			if (lx->last_comment && lx->nul_repl) {
				tjm_put(lx, lx->last_comment, start, (size_t)(lx->p - start));
				tjm_put(lx, lx->last_comment, REPL_UTF8, 3);
				start = lx->p + 1;
			}
			break;
		case '(':
			level++;
			break;
		case ')':
			if (--level == 0) {
				if (lx->last_comment)
					tjm_put(lx, lx->last_comment, start, (size_t)(lx->p - start));
				lx->p++;
				return lx->p < lx->end ? 1 : 0;
			}
			break;
		case '\n': {
			if (!lx->last_comment)
				break;
			size_t n = (size_t)(lx->p - start);
			if (n > 0 && start[n - 1] == '\r')
				n--;
			tjm_put(lx, lx->last_comment, start, n);
			start = lx->p + 1;
			break;
		}
		case '\\':
			lx->p++;
			if (lx->p >= lx->end)
				return -1;
			if (*lx->p == '\r' || *lx->p == '\n' || *lx->p == '\0') {
				lx->p--; /* obs-qp: keep the backslash */
				break;
			}
			if (lx->last_comment)
				tjm_put(lx, lx->last_comment, start, (size_t)(lx->p - start - 1));
			start = lx->p;
			break;
		}
	}
	return -1; /* missing ')' */
}

int tjm_lex_skip_lwsp(struct tjm_lex *lx)
{
	while (lx->p < lx->end) {
		uint8_t c = *lx->p;
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->p++;
			continue;
		}
		if (c != '(')
			break;
		if (skip_comment(lx) < 0)
			return -1;
	}
	return lx->p < lx->end ? 1 : 0;
}

int tjm_lex_atom(struct tjm_lex *lx, tj_buf *out)
{
	if (lx->p >= lx->end || !TJM_IS_ATEXT(*lx->p))
		return -1;
	const uint8_t *start = lx->p++;
	while (lx->p < lx->end && TJM_IS_ATEXT(*lx->p))
		lx->p++;
	tjm_put(lx, out, start, (size_t)(lx->p - start));
	if (lx->p >= lx->end)
		return 0;
	return tjm_lex_skip_lwsp(lx);
}

int tjm_lex_dot_atom(struct tjm_lex *lx, tj_buf *out)
{
	if (lx->p >= lx->end || !TJM_IS_ATEXT(*lx->p))
		return -1;
	const uint8_t *start = lx->p++;
	for (;;) {
		while (lx->p < lx->end && TJM_IS_ATEXT(*lx->p))
			lx->p++;
		if (lx->p >= lx->end)
			break;
		if (start == lx->p)
			return -1;
		tjm_put(lx, out, start, (size_t)(lx->p - start));
		int ret = tjm_lex_skip_lwsp(lx);
		if (ret <= 0)
			return ret;
		if (*lx->p != '.')
			return 1;
		lx->p++;
		tjm_put(lx, out, ".", 1);
		if (tjm_lex_skip_lwsp(lx) <= 0)
			return -1;
		start = lx->p;
	}
	tjm_put(lx, out, start, (size_t)(lx->p - start));
	return 0;
}

int tjm_lex_mime_token(struct tjm_lex *lx, tj_buf *out)
{
	const uint8_t *start = lx->p;
	while (lx->p < lx->end && (TJM_IS_TOKEN(*lx->p) || *lx->p == '.'))
		lx->p++;
	tjm_put(lx, out, start, (size_t)(lx->p - start));
	if (lx->p >= lx->end)
		return 0;
	return tjm_lex_skip_lwsp(lx);
}

int tjm_lex_quoted(struct tjm_lex *lx, tj_buf *out)
{
	lx->p++; /* the opening quote */
	const uint8_t *start = lx->p;
	for (; lx->p < lx->end; lx->p++) {
		switch (*lx->p) {
		case '\0':
			if (lx->nul_repl) {
				tjm_put(lx, out, start, (size_t)(lx->p - start));
				tjm_put(lx, out, REPL_UTF8, 3);
				start = lx->p + 1;
			}
			break;
		case '"':
			tjm_put(lx, out, start, (size_t)(lx->p - start));
			lx->p++;
			return tjm_lex_skip_lwsp(lx);
		case '\n': {
			size_t n = (size_t)(lx->p - start);
			if (n > 0 && start[n - 1] == '\r')
				n--;
			tjm_put(lx, out, start, n);
			start = lx->p + 1;
			break;
		}
		case '\\':
			lx->p++;
			if (lx->p >= lx->end)
				return -1;
			if (*lx->p == '\r' || *lx->p == '\n' || *lx->p == '\0') {
				lx->p--;
				break;
			}
			tjm_put(lx, out, start, (size_t)(lx->p - start - 1));
			start = lx->p;
			break;
		}
	}
	return -1; /* missing '"' */
}

/* an atom that may contain dots, without eating whitespace around them */
static int atom_or_dot(struct tjm_lex *lx, tj_buf *out)
{
	const uint8_t *start = lx->p;
	while (lx->p < lx->end && (TJM_IS_ATEXT(*lx->p) || *lx->p == '.'))
		lx->p++;
	tjm_put(lx, out, start, (size_t)(lx->p - start));
	if (lx->p >= lx->end)
		return 0;
	return tjm_lex_skip_lwsp(lx);
}

int tjm_lex_phrase(struct tjm_lex *lx, tj_buf *out)
{
	if (lx->p >= lx->end)
		return 0;
	if (*lx->p == '.')
		return -1;
	for (;;) {
		int ret = *lx->p == '"' ? tjm_lex_quoted(lx, out) : atom_or_dot(lx, out);
		if (ret <= 0)
			return ret;
		uint8_t c = cur(lx);
		if (!TJM_IS_ATEXT(c) && c != '"' && c != '.')
			break;
		tjm_put(lx, out, " ", 1);
	}
	return tjm_lex_skip_lwsp(lx);
}

static int domain_literal(struct tjm_lex *lx, tj_buf *out)
{
	const uint8_t *start = lx->p++;
	for (; lx->p < lx->end; lx->p++) {
		switch (*lx->p) {
		case '\0':
			if (lx->nul_repl) {
				tjm_put(lx, out, start, (size_t)(lx->p - start));
				tjm_put(lx, out, REPL_UTF8, 3);
				start = lx->p + 1;
			}
			break;
		case '[':
			return -1;
		case ']':
			tjm_put(lx, out, start, (size_t)(lx->p - start + 1));
			lx->p++;
			return tjm_lex_skip_lwsp(lx);
		case '\n': {
			size_t n = (size_t)(lx->p - start);
			if (n > 0 && start[n - 1] == '\r')
				n--;
			tjm_put(lx, out, start, n);
			start = lx->p + 1;
			break;
		}
		case '\\': /* the backslash is kept */
			lx->p++;
			if (lx->p >= lx->end)
				return -1;
			if (*lx->p == '\r' || *lx->p == '\n' || *lx->p == '\0') {
				tjm_put(lx, out, start, (size_t)(lx->p - start));
				start = lx->p;
				lx->p--;
			}
			break;
		}
	}
	return -1;
}

int tjm_lex_domain(struct tjm_lex *lx, tj_buf *out)
{
	lx->p++; /* '@' */
	if (tjm_lex_skip_lwsp(lx) <= 0)
		return -1;
	if (*lx->p == '[')
		return domain_literal(lx, out);
	return tjm_lex_dot_atom(lx, out);
}

int tjm_lex_content_type(struct tjm_lex *lx, tj_buf *out)
{
	size_t pos0 = out->len;
	if (tjm_lex_skip_lwsp(lx) <= 0)
		return -1;
	if (tjm_lex_mime_token(lx, out) <= 0 || out->len == pos0)
		return -1; /* note: a lone type stays in out */
	if (*lx->p != '/') {
		tj_buf_truncate(out, pos0);
		return -1;
	}
	lx->p++;
	if (tjm_lex_skip_lwsp(lx) <= 0) {
		tj_buf_truncate(out, pos0);
		return -1;
	}
	tjm_put(lx, out, "/", 1);
	size_t pos = out->len;
	int ret = tjm_lex_mime_token(lx, out);
	if (ret < 0 || out->len == pos || (lx->p != lx->end && *lx->p != ';')) {
		tj_buf_truncate(out, pos0);
		return -1;
	}
	return ret;
}

/* one ";key=value"; 1 got one, 0 end, -1 broken */
static int content_param(struct tjm_lex *lx, tj_buf *key, tj_buf *value)
{
	int ret;

	tj_buf_truncate(key, 0);
	tj_buf_truncate(value, 0);
	if (lx->p >= lx->end)
		return 0;
	if (*lx->p != ';')
		return -1;
	lx->p++;
	if (tjm_lex_skip_lwsp(lx) <= 0)
		return -1;
	if (tjm_lex_mime_token(lx, key) <= 0)
		return -1;
	if (*lx->p != '=')
		return -1;
	lx->p++;
	if ((ret = tjm_lex_skip_lwsp(lx)) <= 0) {
		/* no value */
	} else if (*lx->p == '"') {
		ret = tjm_lex_quoted(lx, value);
	} else if (*lx->p == '=') {
		/* broken senders: name==?utf-8?b?...?= */
		const uint8_t *start = lx->p;
		while (lx->p < lx->end && *lx->p != ';' && *lx->p != ' ' && *lx->p != '\t' &&
		       *lx->p != '\r' && *lx->p != '\n')
			lx->p++;
		tjm_put(lx, value, start, (size_t)(lx->p - start));
	} else {
		ret = tjm_lex_mime_token(lx, value);
	}
	return ret < 0 ? -1 : 1;
}

struct p2231 {
	const char *key, *value;
	unsigned int idx;
	bool extended;
};

static const char *bufdup(struct tjm_pool *pool, const tj_buf *b)
{
	return tjm_strndup(pool, b->data ? (const char *)b->data : "", b->len);
}

static const char *str_printf_pool(struct tjm_pool *pool, const char *key, unsigned int idx, bool ext)
{
	tj_buf b = TJ_BUF_INIT;
	if (tj_buf_printf(&b, ext ? "%s*%u*" : "%s*%u", key, idx) < 0) {
		pool->oom = true;
		tj_buf_free(&b);
		return NULL;
	}
	const char *r = bufdup(pool, &b);
	tj_buf_free(&b);
	return r;
}

/* a growable array of params in a tj_buf */
static void param_push(struct tjm_lex *lx, tj_buf *arr, const char *k, const char *v)
{
	struct tjm_param p = {k, v};
	if (!k || !v)
		return;
	tjm_put(lx, arr, &p, sizeof(p));
}

int tjm_parse_params(struct tjm_lex *lx, struct tjm_pool *pool,
		     struct tjm_param **params_r, unsigned int *count_r)
{
	tj_buf key = TJ_BUF_INIT, value = TJ_BUF_INIT, res = TJ_BUF_INIT, ext = TJ_BUF_INIT;
	tj_buf s = TJ_BUF_INIT;
	struct p2231 cp;
	bool broken = false;
	bool save_repl = lx->nul_repl;
	int ret;

	memset(&cp, 0, sizeof(cp)); /* idx deliberately persists between keys */
	lx->nul_repl = true;
	*params_r = NULL;
	*count_r = 0;
	while ((ret = content_param(lx, &key, &value)) != 0) {
		if (ret < 0) {
			broken = true;
			if (lx->p >= lx->end)
				break;
			lx->p++;
			continue;
		}
		const char *k = key.data ? (const char *)key.data : "";
		/* keys never contain NUL (token chars only), values might */
		const char *star = memchr(k, '*', key.len);
		bool plain = true;
		if (star) {
			const char *q = star;
			if (q[1] != '\0') {
				q++;
				cp.idx = 0;
				for (; *q >= '0' && *q <= '9'; q++)
					cp.idx = cp.idx * 10 + (unsigned)(*q - '0');
			}
			if (*q != '*') {
				cp.extended = false;
			} else {
				cp.extended = true;
				q++;
			}
			if (*q == '\0') {
				cp.key = tjm_strndup(pool, k, (size_t)(star - k));
				cp.value = bufdup(pool, &value);
				if (cp.key && cp.value)
					tjm_put(lx, &ext, &cp, sizeof(cp));
				plain = false;
			}
		}
		if (plain)
			param_push(lx, &res, bufdup(pool, &key), bufdup(pool, &value));
	}
	lx->nul_repl = save_repl;

	size_t n = ext.len / sizeof(struct p2231);
	struct p2231 *e = (struct p2231 *)ext.data;
	/* stable insertion sort by (key, idx); n is bounded by the header size */
	for (size_t i = 1; i < n; i++) {
		struct p2231 t = e[i];
		size_t j = i;
		while (j > 0) {
			int c = strcmp(e[j - 1].key, t.key);
			if (c < 0 || (c == 0 && e[j - 1].idx <= t.idx))
				break;
			e[j] = e[j - 1];
			j--;
		}
		e[j] = t;
	}
	for (size_t i = 0, next; i < n; i = next) {
		bool ok = true, have_ext = false;
		unsigned int want = 0;
		size_t j;
		for (j = i; j < n; j++) {
			if (strcasecmp(e[i].key, e[j].key) != 0)
				break;
			if (e[j].idx != want)
				ok = false;
			if (e[j].extended)
				have_ext = true;
			want++;
		}
		next = j;
		if (!ok) {
			for (j = i; j < next; j++)
				param_push(lx, &res, str_printf_pool(pool, e[j].key, e[j].idx, e[j].extended),
					   e[j].value);
			continue;
		}
		tj_buf_truncate(&s, 0);
		if (!e[i].extended && have_ext)
			tjm_put(lx, &s, "''", 2);
		for (j = i; j < next; j++) {
			if (!e[j].extended && have_ext) {
				for (const char *v = e[j].value; *v; v++) {
					if (*v == '%')
						tjm_put(lx, &s, "%25", 3);
					else
						tjm_put(lx, &s, v, 1);
				}
			} else {
				tjm_put(lx, &s, e[j].value, strlen(e[j].value));
			}
		}
		const char *k = e[i].key;
		if (have_ext) {
			size_t kl = strlen(k);
			char *k2 = tjm_alloc(pool, kl + 2);
			if (k2) {
				memcpy(k2, k, kl);
				k2[kl] = '*';
			}
			k = k2;
		}
		param_push(lx, &res, k, bufdup(pool, &s));
	}

	size_t cnt = res.len / sizeof(struct tjm_param);
	if (cnt > 0) {
		struct tjm_param *out = tjm_alloc(pool, res.len);
		if (out) {
			memcpy(out, res.data, res.len);
			*params_r = out;
			*count_r = (unsigned int)cnt;
		}
	}
	tj_buf_free(&key);
	tj_buf_free(&value);
	tj_buf_free(&res);
	tj_buf_free(&ext);
	tj_buf_free(&s);
	return broken ? -1 : 0;
}

/* -------------------------------------------------------------- addresses */

struct addr_ctx {
	struct tjm_pool *pool;
	struct tjm_lex lx;
	struct tjm_addr *first, *last, addr;
	bool invalid;
	tj_buf str, comment;
};

static const char *sdup(struct addr_ctx *ctx, const tj_buf *b)
{
	return bufdup(ctx->pool, b);
}

static void add_address(struct addr_ctx *ctx)
{
	struct tjm_addr *a = tjm_alloc(ctx->pool, sizeof(*a));
	if (a) {
		*a = ctx->addr;
		a->next = NULL;
		if (!ctx->first)
			ctx->first = a;
		else
			ctx->last->next = a;
		ctx->last = a;
	}
	memset(&ctx->addr, 0, sizeof(ctx->addr));
	ctx->invalid = false;
}

static int nonstrict_dot_atom(struct tjm_lex *lx, tj_buf *out)
{
	int ret = -1;
	do {
		while (cur(lx) == '.' && lx->p < lx->end) {
			tjm_put(lx, out, ".", 1);
			lx->p++;
			if (lx->p == lx->end)
				return 0; /* local part without @domain */
			ret = 1;
		}
		if (cur(lx) == '@')
			break;
		ret = tjm_lex_atom(lx, out);
	} while (ret > 0 && cur(lx) == '.');
	return ret;
}

static int parse_local_part(struct addr_ctx *ctx)
{
	int ret;
	tj_buf_truncate(&ctx->str, 0);
	if (cur(&ctx->lx) == '"')
		ret = tjm_lex_quoted(&ctx->lx, &ctx->str);
	else
		ret = nonstrict_dot_atom(&ctx->lx, &ctx->str);
	if (ret < 0)
		return -1;
	ctx->addr.mailbox = sdup(ctx, &ctx->str);
	return ret;
}

static int parse_domain(struct addr_ctx *ctx)
{
	int ret;
	tj_buf_truncate(&ctx->str, 0);
	if ((ret = tjm_lex_domain(&ctx->lx, &ctx->str)) < 0)
		return -1;
	ctx->addr.domain = sdup(ctx, &ctx->str);
	return ret;
}

static int parse_domain_list(struct addr_ctx *ctx)
{
	int ret;
	tj_buf_truncate(&ctx->str, 0);
	for (;;) {
		if (ctx->lx.p >= ctx->lx.end)
			return 0;
		if (*ctx->lx.p != '@')
			break;
		if (ctx->str.len > 0)
			tjm_put(&ctx->lx, &ctx->str, ",", 1);
		tjm_put(&ctx->lx, &ctx->str, "@", 1);
		if ((ret = tjm_lex_domain(&ctx->lx, &ctx->str)) <= 0)
			return ret;
		while (tjm_lex_skip_lwsp(&ctx->lx) > 0 && *ctx->lx.p == ',')
			ctx->lx.p++;
	}
	ctx->addr.route = sdup(ctx, &ctx->str);
	return 1;
}

static int parse_angle_addr(struct addr_ctx *ctx)
{
	ctx->lx.p++; /* '<' */
	if (tjm_lex_skip_lwsp(&ctx->lx) <= 0)
		return -1;
	if (*ctx->lx.p == '@') {
		if (parse_domain_list(ctx) > 0 && cur(&ctx->lx) == ':') {
			ctx->lx.p++;
		} else {
			ctx->addr.route = "INVALID_ROUTE";
			if (ctx->lx.p >= ctx->lx.end)
				return -1;
		}
		if (tjm_lex_skip_lwsp(&ctx->lx) <= 0)
			return -1;
	}
	if (*ctx->lx.p != '>') {
		if (parse_local_part(ctx) <= 0)
			return -1;
		if (cur(&ctx->lx) == '@') {
			if (parse_domain(ctx) <= 0)
				return -1;
		}
	}
	if (cur(&ctx->lx) != '>')
		return -1;
	ctx->lx.p++;
	return tjm_lex_skip_lwsp(&ctx->lx);
}

static int parse_name_addr(struct addr_ctx *ctx)
{
	tj_buf_truncate(&ctx->str, 0);
	if (tjm_lex_phrase(&ctx->lx, &ctx->str) <= 0 || *ctx->lx.p != '<')
		return -1;
	ctx->addr.name = ctx->str.len ? sdup(ctx, &ctx->str) : NULL;
	if (parse_angle_addr(ctx) < 0) {
		ctx->addr.domain = "SYNTAX_ERROR";
		ctx->invalid = true;
	}
	return ctx->lx.p < ctx->lx.end ? 1 : 0;
}

static int parse_addr_spec(struct addr_ctx *ctx)
{
	int ret, ret2 = -2;

	tj_buf_truncate(&ctx->comment, 0);
	bool quoted = cur(&ctx->lx) == '"';
	ret = parse_local_part(ctx);
	if (ret <= 0)
		ctx->invalid = true;
	if (ret != 0 && cur(&ctx->lx) == '@' && ctx->lx.p < ctx->lx.end) {
		ret2 = parse_domain(ctx);
		if (ret2 <= 0)
			ret = ret2;
	}
	if (ctx->comment.len > 0) {
		ctx->addr.name = sdup(ctx, &ctx->comment);
	} else if (ret2 == -2) {
		/* "user" alone is a mailbox; "user more words" a display name */
		tjm_put(&ctx->lx, &ctx->str, " ", 1);
		size_t before = ctx->str.len;
		(void)tjm_lex_phrase(&ctx->lx, &ctx->str);
		if (ctx->str.len != before) {
			ctx->addr.mailbox = NULL;
			ctx->addr.name = sdup(ctx, &ctx->str);
		} else if (!quoted) {
			ctx->addr.domain = "";
		}
		ctx->invalid = true;
		ret = -1;
	}
	return ret;
}

static void add_fixed_address(struct addr_ctx *ctx)
{
	if (!ctx->addr.mailbox)
		ctx->addr.mailbox = "MISSING_MAILBOX";
	if (!ctx->addr.domain || !ctx->addr.domain[0])
		ctx->addr.domain = "MISSING_DOMAIN";
	add_address(ctx);
}

static int parse_mailbox(struct addr_ctx *ctx)
{
	const uint8_t *start = ctx->lx.p;
	int ret;

	if ((ret = parse_name_addr(ctx)) < 0) {
		ctx->lx.p = start;
		ret = parse_addr_spec(ctx);
		if (ctx->invalid && !ctx->addr.name && ctx->addr.mailbox && !ctx->addr.domain) {
			ctx->addr.name = ctx->addr.mailbox;
			ctx->addr.mailbox = NULL;
		}
	}
	add_fixed_address(ctx);
	return ret;
}

static int parse_group(struct addr_ctx *ctx)
{
	int ret;

	tj_buf_truncate(&ctx->str, 0);
	if (tjm_lex_phrase(&ctx->lx, &ctx->str) <= 0 || *ctx->lx.p != ':')
		return -1;
	/* a group from here on, whatever follows */
	ctx->lx.p++;
	ret = tjm_lex_skip_lwsp(&ctx->lx);
	ctx->addr.mailbox = sdup(ctx, &ctx->str);
	add_address(ctx);

	if (ret > 0 && *ctx->lx.p != ';') {
		for (;;) {
			(void)parse_mailbox(ctx);
			if (ctx->lx.p >= ctx->lx.end || *ctx->lx.p != ',')
				break;
			ctx->lx.p++;
			if (tjm_lex_skip_lwsp(&ctx->lx) <= 0) {
				ret = -1;
				break;
			}
		}
	}
	if (ret >= 0) {
		if (ctx->lx.p >= ctx->lx.end || *ctx->lx.p != ';') {
			ret = -1;
		} else {
			ctx->lx.p++;
			ret = tjm_lex_skip_lwsp(&ctx->lx);
		}
	}
	add_address(ctx); /* end of group: all NIL */
	return ret == 0 ? 0 : 1;
}

static int parse_address(struct addr_ctx *ctx)
{
	const uint8_t *start = ctx->lx.p;
	int ret;
	if ((ret = parse_group(ctx)) < 0) {
		ctx->lx.p = start;
		ret = parse_mailbox(ctx);
	}
	return ret;
}

struct tjm_addr *tjm_parse_addresses(struct tjm_pool *pool, const uint8_t *p, size_t len,
				     unsigned int max_addresses)
{
	struct addr_ctx ctx;
	memset(&ctx, 0, sizeof(ctx));
	ctx.pool = pool;
	tjm_lex_init(&ctx.lx, p, len, &ctx.comment, &pool->oom);
	ctx.lx.nul_repl = true;

	if (tjm_lex_skip_lwsp(&ctx.lx) > 0) {
		while (max_addresses-- > 0) {
			int ret;
			if ((ret = parse_address(&ctx)) == 0)
				break;
			if (ctx.lx.p >= ctx.lx.end || *ctx.lx.p != ',')
				break;
			ctx.lx.p++;
			if ((ret = tjm_lex_skip_lwsp(&ctx.lx)) <= 0) {
				if (ret < 0)
					add_fixed_address(&ctx);
				break;
			}
		}
	}
	tj_buf_free(&ctx.str);
	tj_buf_free(&ctx.comment);
	return ctx.first;
}

/*
 * imap-search.c - SEARCH argument parser (see imap-search.h).
 *
 * Recursive descent over the argument tree with an explicit depth limit.
 * Nodes come from one array: an AND reserves one slot per argument of its
 * list (every key consumes at least one), and OR/NOT children start at
 * distinct arguments, so 1 + 2 * (number of arguments) slots always suffice.
 */
#include "protocol/imap/imap-search.h"
#include "protocol/imap/imap-flags.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct sctx {
	struct imap_search *s;
	const char **error_r;
};

static const struct {
	const char *name;
	enum imap_search_type type;
	enum { A_NONE, A_STRING, A_DATE, A_NUMBER, A_KEYWORD } arg;
} search_keys[] = {
	{"ALL", IMAP_SK_ALL, A_NONE},
	{"ANSWERED", IMAP_SK_ANSWERED, A_NONE},
	{"DELETED", IMAP_SK_DELETED, A_NONE},
	{"DRAFT", IMAP_SK_DRAFT, A_NONE},
	{"FLAGGED", IMAP_SK_FLAGGED, A_NONE},
	{"SEEN", IMAP_SK_SEEN, A_NONE},
	{"RECENT", IMAP_SK_RECENT, A_NONE},
	{"NEW", IMAP_SK_NEW, A_NONE},
	{"OLD", IMAP_SK_OLD, A_NONE},
	{"UNANSWERED", IMAP_SK_UNANSWERED, A_NONE},
	{"UNDELETED", IMAP_SK_UNDELETED, A_NONE},
	{"UNDRAFT", IMAP_SK_UNDRAFT, A_NONE},
	{"UNFLAGGED", IMAP_SK_UNFLAGGED, A_NONE},
	{"UNSEEN", IMAP_SK_UNSEEN, A_NONE},
	{"KEYWORD", IMAP_SK_KEYWORD, A_KEYWORD},
	{"UNKEYWORD", IMAP_SK_UNKEYWORD, A_KEYWORD},
	{"BCC", IMAP_SK_BCC, A_STRING},
	{"BODY", IMAP_SK_BODY, A_STRING},
	{"CC", IMAP_SK_CC, A_STRING},
	{"FROM", IMAP_SK_FROM, A_STRING},
	{"SUBJECT", IMAP_SK_SUBJECT, A_STRING},
	{"TEXT", IMAP_SK_TEXT, A_STRING},
	{"TO", IMAP_SK_TO, A_STRING},
	{"BEFORE", IMAP_SK_BEFORE, A_DATE},
	{"ON", IMAP_SK_ON, A_DATE},
	{"SINCE", IMAP_SK_SINCE, A_DATE},
	{"SENTBEFORE", IMAP_SK_SENTBEFORE, A_DATE},
	{"SENTON", IMAP_SK_SENTON, A_DATE},
	{"SENTSINCE", IMAP_SK_SENTSINCE, A_DATE},
	{"LARGER", IMAP_SK_LARGER, A_NUMBER},
	{"SMALLER", IMAP_SK_SMALLER, A_NUMBER},
};

static int fail(struct sctx *c, const char *why)
{
	*c->error_r = why;
	return TJ_EINVAL;
}

static size_t count_args(const struct imap_arg *args, size_t argc)
{
	size_t n = argc;
	for (size_t i = 0; i < argc; i++)
		if (args[i].type == IMAP_ARG_LIST || args[i].type == IMAP_ARG_SECTION)
			n += count_args(args[i].list, args[i].count);
	return n;
}

static struct imap_search_key *alloc_keys(struct imap_search *s, size_t n)
{
	if (n > s->pool_size - s->pool_used)
		return NULL; /* cannot happen: see the file comment */
	struct imap_search_key *k = &s->pool[s->pool_used];
	s->pool_used += n;
	return k;
}

static int parse_key(struct sctx *c, const struct imap_arg *args, size_t argc, size_t *i,
		     struct imap_search_key *k, int depth);

/* keys args[*i..] until the end, ANDed into k */
static int parse_and(struct sctx *c, const struct imap_arg *args, size_t argc, struct imap_search_key *k,
		     int depth)
{
	size_t n = 0;
	k->type = IMAP_SK_AND;
	k->children = alloc_keys(c->s, argc);
	if (!k->children && argc)
		return fail(c, "Search too complex");
	for (size_t i = 0; i < argc; n++) {
		int rc = parse_key(c, args, argc, &i, &k->children[n], depth + 1);
		if (rc < 0)
			return rc;
	}
	k->child_count = n;
	return 0;
}

static int get_date(struct sctx *c, const struct imap_arg *a, struct imap_date *d)
{
	if ((a->type != IMAP_ARG_ATOM && a->type != IMAP_ARG_QUOTED) ||
	    imap_date_parse(a->str, a->len, d) < 0)
		return fail(c, "Invalid date");
	return 0;
}

static int parse_key(struct sctx *c, const struct imap_arg *args, size_t argc, size_t *i,
		     struct imap_search_key *k, int depth)
{
	const struct imap_arg *a = &args[*i];
	int rc;
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		return fail(c, "Search nested too deeply");
	memset(k, 0, sizeof(*k));
	(*i)++;
	if (a->type == IMAP_ARG_LIST) {
		if (a->count == 0)
			return fail(c, "Empty search list");
		return parse_and(c, a->list, a->count, k, depth);
	}
	if (a->type != IMAP_ARG_ATOM)
		return fail(c, "Invalid search key");
	if (a->len > 0 && ((a->str[0] >= '0' && a->str[0] <= '9') || a->str[0] == '*')) {
		k->type = IMAP_SK_SEQSET;
		rc = imap_seqset_parse(&k->set, a->str, a->len);
		if (rc == -ENOMEM)
			return rc;
		return rc < 0 ? fail(c, "Invalid sequence set") : 0;
	}
	if (imap_arg_is_atom(a, "NOT") || imap_arg_is_atom(a, "OR")) {
		bool is_or = imap_arg_is_atom(a, "OR");
		size_t n = is_or ? 2 : 1;
		k->type = is_or ? IMAP_SK_OR : IMAP_SK_NOT;
		k->children = alloc_keys(c->s, n);
		if (!k->children)
			return fail(c, "Search too complex");
		k->child_count = n;
		for (size_t j = 0; j < n; j++) {
			if (*i >= argc)
				return fail(c, is_or ? "OR needs two keys" : "NOT needs a key");
			if ((rc = parse_key(c, args, argc, i, &k->children[j], depth + 1)) < 0)
				return rc;
		}
		return 0;
	}
	if (imap_arg_is_atom(a, "UID")) {
		k->type = IMAP_SK_UID;
		if (*i >= argc || args[*i].type != IMAP_ARG_ATOM)
			return fail(c, "UID needs a sequence set");
		rc = imap_seqset_parse(&k->set, args[*i].str, args[*i].len);
		if (rc == -ENOMEM)
			return rc;
		if (rc < 0)
			return fail(c, "Invalid sequence set");
		(*i)++;
		return 0;
	}
	if (imap_arg_is_atom(a, "HEADER")) {
		k->type = IMAP_SK_HEADER;
		if (*i + 1 >= argc || imap_arg_get_astring(&args[*i], &k->header, &k->header_len) < 0 ||
		    imap_arg_get_astring(&args[*i + 1], &k->str, &k->str_len) < 0)
			return fail(c, "HEADER needs a field name and a string");
		for (size_t j = 0; j < k->header_len; j++)
			if ((uint8_t)k->header[j] <= 0x20 || (uint8_t)k->header[j] >= 0x7f || k->header[j] == ':')
				return fail(c, "Invalid header field name");
		if (k->header_len == 0)
			return fail(c, "Invalid header field name");
		*i += 2;
		return 0;
	}
	if (imap_arg_is_atom(a, "MODSEQ")) {
		k->type = IMAP_SK_MODSEQ;
		c->s->has_modseq = true;
		if (*i < argc && args[*i].type == IMAP_ARG_QUOTED) {
			const struct imap_arg *e = &args[*i];
			if (e->len < 8 || strncasecmp(e->str, "/flags/", 7) != 0)
				return fail(c, "Invalid MODSEQ entry name");
			k->header = e->str;
			k->header_len = e->len;
			if (*i + 1 >= argc)
				return fail(c, "MODSEQ needs an entry type");
			const struct imap_arg *t = &args[*i + 1];
			if (imap_arg_is_atom(t, "priv"))
				k->entry_type = IMAP_ENTRY_PRIV;
			else if (imap_arg_is_atom(t, "shared"))
				k->entry_type = IMAP_ENTRY_SHARED;
			else if (imap_arg_is_atom(t, "all"))
				k->entry_type = IMAP_ENTRY_ALL;
			else
				return fail(c, "Invalid MODSEQ entry type");
			*i += 2;
		}
		if (*i >= argc || imap_arg_get_number64(&args[*i], &k->number) < 0)
			return fail(c, "MODSEQ needs a mod-sequence");
		(*i)++;
		return 0;
	}
	for (size_t j = 0; j < sizeof(search_keys) / sizeof(search_keys[0]); j++) {
		if (!imap_arg_is_atom(a, search_keys[j].name))
			continue;
		k->type = search_keys[j].type;
		if (search_keys[j].arg == A_NONE)
			return 0;
		if (*i >= argc)
			return fail(c, "Missing search key argument");
		const struct imap_arg *v = &args[(*i)++];
		switch (search_keys[j].arg) {
		case A_STRING:
			if (imap_arg_get_astring(v, &k->str, &k->str_len) < 0)
				return fail(c, "Invalid search string");
			return 0;
		case A_DATE:
			return get_date(c, v, &k->date);
		case A_NUMBER:
			if (imap_arg_get_number64(v, &k->number) < 0)
				return fail(c, "Invalid number");
			return 0;
		case A_KEYWORD:
			if ((v->type != IMAP_ARG_ATOM && v->type != IMAP_ARG_NIL) ||
			    !imap_keyword_valid(v->str, v->len))
				return fail(c, "Invalid keyword");
			k->str = v->str;
			k->str_len = v->len;
			return 0;
		default:
			return 0;
		}
	}
	return fail(c, "Unknown search key");
}

void imap_search_free(struct imap_search *s)
{
	for (size_t i = 0; i < s->pool_used; i++)
		imap_seqset_free(&s->pool[i].set);
	free(s->pool);
	memset(s, 0, sizeof(*s));
}

int imap_search_parse(struct imap_search *s, const struct imap_arg *args, size_t argc,
		      const char **error_r)
{
	struct sctx c = {s, error_r};
	size_t i = 0;
	imap_search_free(s);
	if (i < argc && imap_arg_is_atom(&args[i], "RETURN")) {
		if (i + 1 >= argc || args[i + 1].type != IMAP_ARG_LIST)
			return fail(&c, "RETURN needs a list");
		const struct imap_arg *l = &args[i + 1];
		static const struct {
			const char *name;
			uint32_t bit;
		} rets[] = {{"MIN", IMAP_SEARCH_RET_MIN}, {"MAX", IMAP_SEARCH_RET_MAX},
			    {"ALL", IMAP_SEARCH_RET_ALL}, {"COUNT", IMAP_SEARCH_RET_COUNT},
			    {"SAVE", IMAP_SEARCH_RET_SAVE}};
		for (size_t j = 0; j < l->count; j++) {
			size_t r;
			for (r = 0; r < sizeof(rets) / sizeof(rets[0]); r++)
				if (imap_arg_is_atom(&l->list[j], rets[r].name))
					break;
			if (r == sizeof(rets) / sizeof(rets[0]))
				return fail(&c, "Unknown RETURN option");
			s->return_opts |= rets[r].bit;
		}
		if (l->count == 0)
			s->return_opts = IMAP_SEARCH_RET_ALL;
		s->has_return = true;
		i += 2;
	}
	if (i < argc && imap_arg_is_atom(&args[i], "CHARSET")) {
		size_t len;
		if (i + 1 >= argc || imap_arg_get_astring(&args[i + 1], &s->charset, &len) < 0)
			return fail(&c, "CHARSET needs a name");
		if (!((len == 8 && strncasecmp(s->charset, "US-ASCII", 8) == 0) ||
		      (len == 5 && strncasecmp(s->charset, "UTF-8", 5) == 0))) {
			*error_r = "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset";
			return TJ_ENOTFOUND;
		}
		i += 2;
	}
	if (i >= argc)
		return fail(&c, "Missing search keys");
	s->pool_size = 1 + 2 * count_args(args, argc);
	s->pool = calloc(s->pool_size, sizeof(*s->pool));
	if (!s->pool)
		return -ENOMEM;
	s->root = alloc_keys(s, 1);
	return parse_and(&c, args + i, argc - i, s->root, 0);
}

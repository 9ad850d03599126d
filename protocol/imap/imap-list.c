/*
 * imap-list.c - LIST / LSUB argument parser (see imap-list.h).
 *
 * RFC 5258: list = "LIST" [SP list-select-opts] SP mailbox SP mbox-or-pat
 * [SP list-return-opts]; mbox-or-pat = list-mailbox / patterns.
 * list-mailbox = 1*list-char / string.
 */
#include "protocol/imap/imap-list.h"
#include "protocol/imap/imap-status.h"
#include "common/err.h"

#include <string.h>

static int fail(const char **error_r, const char *why)
{
	*error_r = why;
	return TJ_EINVAL;
}

/* list-mailbox: atom-ish with wildcards, or a string; no NUL/CR/LF */
static int get_pattern(const struct imap_arg *a, tj_slice *out)
{
	if (a->type == IMAP_ARG_ATOM || a->type == IMAP_ARG_NIL) {
		for (size_t i = 0; i < a->len; i++) {
			uint8_t c = (uint8_t)a->str[i];
			if (!imap_is_astring_char(c) && c != '%' && c != '*')
				return TJ_EINVAL;
		}
	} else if (a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL) {
		for (size_t i = 0; i < a->len; i++)
			if (a->str[i] == 0 || a->str[i] == '\r' || a->str[i] == '\n')
				return TJ_EINVAL;
	} else {
		return TJ_EINVAL;
	}
	out->ptr = (const uint8_t *)a->str;
	out->len = a->len;
	return 0;
}

static int parse_select(struct imap_list *l, const struct imap_arg *a, const char **error_r)
{
	static const struct {
		const char *name;
		uint32_t bit;
	} opts[] = {{"SUBSCRIBED", IMAP_LIST_SEL_SUBSCRIBED}, {"REMOTE", IMAP_LIST_SEL_REMOTE},
		    {"RECURSIVEMATCH", IMAP_LIST_SEL_RECURSIVEMATCH},
		    {"SPECIAL-USE", IMAP_LIST_SEL_SPECIAL_USE}};
	for (size_t i = 0; i < a->count; i++) {
		size_t j;
		for (j = 0; j < sizeof(opts) / sizeof(opts[0]); j++)
			if (imap_arg_is_atom(&a->list[i], opts[j].name))
				break;
		if (j == sizeof(opts) / sizeof(opts[0]))
			return fail(error_r, "Unknown LIST selection option");
		l->select_opts |= opts[j].bit;
	}
	if ((l->select_opts & IMAP_LIST_SEL_RECURSIVEMATCH) &&
	    !(l->select_opts & (IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_SPECIAL_USE)))
		return fail(error_r, "RECURSIVEMATCH needs another selection option");
	return 0;
}

static int parse_return(struct imap_list *l, const struct imap_arg *a, const char **error_r)
{
	if (a->type != IMAP_ARG_LIST)
		return fail(error_r, "RETURN needs a list");
	for (size_t i = 0; i < a->count; i++) {
		const struct imap_arg *o = &a->list[i];
		if (imap_arg_is_atom(o, "SUBSCRIBED"))
			l->return_opts |= IMAP_LIST_RET_SUBSCRIBED;
		else if (imap_arg_is_atom(o, "CHILDREN"))
			l->return_opts |= IMAP_LIST_RET_CHILDREN;
		else if (imap_arg_is_atom(o, "SPECIAL-USE"))
			l->return_opts |= IMAP_LIST_RET_SPECIAL_USE;
		else if (imap_arg_is_atom(o, "STATUS") && i + 1 < a->count &&
			 !(l->return_opts & IMAP_LIST_RET_STATUS)) {
			int rc = imap_status_items_parse(&a->list[++i], &l->status_items, error_r);
			if (rc < 0)
				return rc;
			l->return_opts |= IMAP_LIST_RET_STATUS;
		} else
			return fail(error_r, "Unknown LIST return option");
	}
	return 0;
}

int imap_list_parse(struct imap_list *l, const struct imap_arg *args, size_t argc, bool lsub,
		    const char **error_r)
{
	size_t i = 0;
	int rc;
	memset(l, 0, sizeof(*l));
	l->lsub = lsub;
	if (!lsub && argc > 0 && args[0].type == IMAP_ARG_LIST) {
		if ((rc = parse_select(l, &args[0], error_r)) < 0)
			return rc;
		l->extended = true;
		i++;
	}
	if (i + 2 > argc)
		return fail(error_r, "LIST needs a reference and a mailbox pattern");
	const char *ref;
	if (imap_arg_get_mailbox(&args[i], &ref, &l->reference.len) < 0)
		return fail(error_r, "Invalid reference");
	l->reference.ptr = (const uint8_t *)ref;
	i++;
	const struct imap_arg *p = &args[i++];
	if (p->type == IMAP_ARG_LIST && !lsub) {
		if (p->count == 0 || p->count > IMAP_LIST_MAX_PATTERNS)
			return fail(error_r, "Invalid pattern list");
		for (size_t j = 0; j < p->count; j++)
			if (get_pattern(&p->list[j], &l->patterns[j]) < 0)
				return fail(error_r, "Invalid mailbox pattern");
		l->pattern_count = p->count;
		l->extended = true;
	} else {
		if (get_pattern(p, &l->patterns[0]) < 0)
			return fail(error_r, "Invalid mailbox pattern");
		l->pattern_count = 1;
	}
	if (i == argc)
		return 0;
	if (lsub || i + 2 != argc || !imap_arg_is_atom(&args[i], "RETURN"))
		return fail(error_r, "Unexpected LIST arguments");
	l->extended = true;
	return parse_return(l, &args[i + 1], error_r);
}

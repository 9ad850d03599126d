/*
 * imap-arg.c - typed access to parsed IMAP arguments (see imap-parser.h).
 *
 * Small, strict getters: each accepts exactly the argument kinds its RFC
 * 3501/9051 grammar rule allows and returns TJ_EINVAL for anything else.
 */
#include "protocol/imap/imap-parser.h"
#include "common/err.h"

#include <string.h>
#include <strings.h>

bool imap_arg_is_atom(const struct imap_arg *arg, const char *name)
{
	size_t n = strlen(name);
	return arg->type == IMAP_ARG_ATOM && arg->len == n && strncasecmp(arg->str, name, n) == 0;
}

int imap_arg_get_astring(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	switch (arg->type) {
	case IMAP_ARG_ATOM:
		/* an astring atom has no list-wildcards and no leading '\' */
		for (size_t i = 0; i < arg->len; i++)
			if (!imap_is_astring_char((uint8_t)arg->str[i]))
				return TJ_EINVAL;
		/* fall through */
	case IMAP_ARG_QUOTED:
	case IMAP_ARG_LITERAL:
	case IMAP_ARG_NIL:
		*s_r = arg->str;
		*len_r = arg->len;
		return 0;
	default:
		return TJ_EINVAL;
	}
}

int imap_arg_get_mailbox(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	const char *s;
	size_t len;
	if (imap_arg_get_astring(arg, &s, &len) < 0)
		return TJ_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == 0 || s[i] == '\r' || s[i] == '\n')
			return TJ_EINVAL;
	*s_r = s;
	*len_r = len;
	return 0;
}

int imap_arg_get_string(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	if (arg->type != IMAP_ARG_QUOTED && arg->type != IMAP_ARG_LITERAL)
		return TJ_EINVAL;
	*s_r = arg->str;
	*len_r = arg->len;
	return 0;
}

int imap_arg_get_nstring(const struct imap_arg *arg, const char **s_r, size_t *len_r)
{
	if (arg->type == IMAP_ARG_NIL) {
		*s_r = NULL;
		*len_r = 0;
		return 0;
	}
	return imap_arg_get_string(arg, s_r, len_r);
}

int imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r, size_t *count_r)
{
	if (arg->type != IMAP_ARG_LIST)
		return TJ_EINVAL;
	*list_r = arg->list;
	*count_r = arg->count;
	return 0;
}

int imap_parse_number64(const char *s, size_t len, uint64_t *n_r)
{
	uint64_t v = 0;
	if (len == 0)
		return TJ_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return TJ_EINVAL;
		uint64_t d = (uint64_t)(s[i] - '0');
		if (v > (INT64_MAX - d) / 10)
			return TJ_EINVAL;
		v = v * 10 + d;
	}
	*n_r = v;
	return 0;
}

int imap_parse_number(const char *s, size_t len, uint32_t *n_r)
{
	uint64_t v;
	if (imap_parse_number64(s, len, &v) < 0 || v > UINT32_MAX)
		return TJ_EINVAL;
	*n_r = (uint32_t)v;
	return 0;
}

int imap_arg_get_number(const struct imap_arg *arg, uint32_t *n_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return TJ_EINVAL;
	return imap_parse_number(arg->str, arg->len, n_r);
}

int imap_arg_get_number64(const struct imap_arg *arg, uint64_t *n_r)
{
	if (arg->type != IMAP_ARG_ATOM)
		return TJ_EINVAL;
	return imap_parse_number64(arg->str, arg->len, n_r);
}

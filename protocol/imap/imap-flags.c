/*
 * imap-flags.c - flag-list parsing and flag validation (see imap-flags.h).
 *
 * RFC 3501: flag = "\Answered" / "\Flagged" / "\Deleted" / "\Seen" /
 * "\Draft" / flag-keyword / flag-extension.  A server accepts no
 * flag-extension it does not define, and a client may not set \Recent.
 */
#include "protocol/imap/imap-flags.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	uint32_t bit;
} sysflags[] = {
	{"\\Answered", IMAP_FLAG_ANSWERED}, {"\\Flagged", IMAP_FLAG_FLAGGED},
	{"\\Deleted", IMAP_FLAG_DELETED},   {"\\Seen", IMAP_FLAG_SEEN},
	{"\\Draft", IMAP_FLAG_DRAFT},       {"\\Recent", IMAP_FLAG_RECENT},
};

bool imap_keyword_valid(const char *s, size_t len)
{
	if (len == 0 || len > IMAP_MAX_KEYWORD_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!imap_is_atom_char((uint8_t)s[i]))
			return false;
	return true;
}

uint32_t imap_sysflag_parse(const char *s, size_t len, bool allow_recent)
{
	for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++) {
		if (strlen(sysflags[i].name) == len && strncasecmp(sysflags[i].name, s, len) == 0) {
			if (sysflags[i].bit == IMAP_FLAG_RECENT && !allow_recent)
				return 0;
			return sysflags[i].bit;
		}
	}
	return 0;
}

const char *imap_sysflag_name(uint32_t flag)
{
	for (size_t i = 0; i < sizeof(sysflags) / sizeof(sysflags[0]); i++)
		if (sysflags[i].bit == flag)
			return sysflags[i].name;
	return NULL;
}

int imap_flags_add_arg(struct imap_flags *f, const struct imap_arg *arg, const char **error_r)
{
	if (arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_NIL) {
		*error_r = "Flags must be atoms";
		return TJ_EINVAL;
	}
	if (arg->len > 0 && arg->str[0] == '\\') {
		uint32_t bit = imap_sysflag_parse(arg->str, arg->len, false);
		if (!bit) {
			*error_r = "Invalid system flag";
			return TJ_EINVAL;
		}
		f->system |= bit;
		return 0;
	}
	if (!imap_keyword_valid(arg->str, arg->len)) {
		*error_r = "Invalid keyword";
		return TJ_EINVAL;
	}
	for (size_t i = 0; i < f->count; i++)
		if (strlen(f->keywords[i]) == arg->len && strncasecmp(f->keywords[i], arg->str, arg->len) == 0)
			return 0;
	if (f->count >= IMAP_MAX_KEYWORDS) {
		*error_r = "Too many keywords";
		return TJ_ETOOBIG;
	}
	if (f->count == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 8;
		const char **k = realloc(f->keywords, cap * sizeof(*k));
		if (!k)
			return -ENOMEM;
		f->keywords = k;
		f->cap = cap;
	}
	f->keywords[f->count++] = arg->str;
	return 0;
}

int imap_flags_parse_list(struct imap_flags *f, const struct imap_arg *list_arg, const char **error_r)
{
	f->system = 0;
	f->count = 0;
	if (list_arg->type != IMAP_ARG_LIST) {
		*error_r = "Flag list expected";
		return TJ_EINVAL;
	}
	for (size_t i = 0; i < list_arg->count; i++) {
		int rc = imap_flags_add_arg(f, &list_arg->list[i], error_r);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void imap_flags_free(struct imap_flags *f)
{
	free(f->keywords);
	f->keywords = NULL;
	f->count = f->cap = f->system = 0;
}

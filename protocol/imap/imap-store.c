/*
 * imap-store.c - STORE argument parser (see imap-store.h).
 *
 * RFC 3501 store-att-flags with the RFC 7162 UNCHANGEDSINCE modifier.
 */
#include "protocol/imap/imap-store.h"
#include "common/err.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

void imap_store_free(struct imap_store *st)
{
	imap_seqset_free(&st->set);
	imap_flags_free(&st->flags);
	memset(st, 0, sizeof(*st));
}

int imap_store_parse(struct imap_store *st, const struct imap_arg *args, size_t argc, const char **error_r)
{
	size_t i = 0;
	int rc;
	imap_store_free(st);
	if (argc < 3) {
		*error_r = "STORE needs a sequence set, an item and flags";
		return TJ_EINVAL;
	}
	if (args[0].type != IMAP_ARG_ATOM ||
	    (rc = imap_seqset_parse(&st->set, args[0].str, args[0].len)) == TJ_EINVAL || rc == TJ_ETOOBIG) {
		*error_r = "Invalid sequence set";
		return TJ_EINVAL;
	}
	if (rc < 0)
		return rc;
	i = 1;
	if (args[i].type == IMAP_ARG_LIST) {
		const struct imap_arg *m = &args[i];
		if (m->count != 2 || !imap_arg_is_atom(&m->list[0], "UNCHANGEDSINCE") ||
		    imap_arg_get_number64(&m->list[1], &st->unchangedsince) < 0) {
			*error_r = "Invalid STORE modifier";
			return TJ_EINVAL;
		}
		st->has_unchangedsince = true;
		i++;
	}
	if (i + 1 >= argc || args[i].type != IMAP_ARG_ATOM) {
		*error_r = "STORE needs an item and flags";
		return TJ_EINVAL;
	}
	const char *item = args[i].str;
	size_t len = args[i].len;
	if (len > 0 && (item[0] == '+' || item[0] == '-')) {
		st->mode = item[0] == '+' ? IMAP_STORE_ADD : IMAP_STORE_REMOVE;
		item++;
		len--;
	}
	if (len == 12 && strncasecmp(item, "FLAGS.SILENT", 12) == 0)
		st->silent = true;
	else if (len != 5 || strncasecmp(item, "FLAGS", 5) != 0) {
		*error_r = "Invalid STORE item";
		return TJ_EINVAL;
	}
	i++;
	if (args[i].type == IMAP_ARG_LIST) {
		if (i + 1 != argc) {
			*error_r = "Extra arguments after flag list";
			return TJ_EINVAL;
		}
		return imap_flags_parse_list(&st->flags, &args[i], error_r);
	}
	for (; i < argc; i++)
		if ((rc = imap_flags_add_arg(&st->flags, &args[i], error_r)) < 0)
			return rc;
	return 0;
}

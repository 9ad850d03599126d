/*
 * imap-append.c - APPEND argument parser (see imap-append.h).
 */
#include "protocol/imap/imap-append.h"
#include "protocol/imap/imap-date.h"
#include "common/err.h"

#include <string.h>

void imap_append_free(struct imap_append *a)
{
	imap_flags_free(&a->flags);
	memset(a, 0, sizeof(*a));
}

int imap_append_parse(struct imap_append *a, const struct imap_arg *args, size_t argc, const char **error_r)
{
	size_t i = 0;
	int rc;
	imap_append_free(a);
	if (argc < 2 || imap_arg_get_mailbox(&args[0], &a->mailbox, &a->mailbox_len) < 0) {
		*error_r = "APPEND needs a mailbox and a message";
		return TJ_EINVAL;
	}
	i = 1;
	if (i < argc && args[i].type == IMAP_ARG_LIST) {
		if ((rc = imap_flags_parse_list(&a->flags, &args[i], error_r)) < 0)
			return rc;
		i++;
	}
	if (i < argc && args[i].type == IMAP_ARG_QUOTED) {
		if (imap_datetime_parse(args[i].str, args[i].len, &a->date, &a->tz_min) < 0) {
			*error_r = "Invalid date-time";
			return TJ_EINVAL;
		}
		a->has_date = true;
		i++;
	}
	if (i >= argc || args[i].type != IMAP_ARG_LITERAL) {
		*error_r = "APPEND message must be a literal";
		return TJ_EINVAL;
	}
	if (i + 1 != argc) {
		*error_r = "MULTIAPPEND is not supported";
		return TJ_EINVAL;
	}
	a->binary = args[i].literal8;
	if (!a->binary && memchr(args[i].str, 0, args[i].len)) {
		*error_r = "NUL in message (use literal8)";
		return TJ_EINVAL;
	}
	a->message = args[i].str;
	a->message_len = args[i].len;
	return 0;
}

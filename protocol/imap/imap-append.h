/*
 * imap-append.h - APPEND arguments: mailbox [flag-list] [date-time] literal
 * (a literal8 ~{n} for BINARY, RFC 3516).  MULTIAPPEND is not supported.
 */
#ifndef TJ_IMAP_APPEND_H
#define TJ_IMAP_APPEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-parser.h"

struct imap_append {
	const char *mailbox;
	size_t mailbox_len;
	struct imap_flags flags;
	bool has_date;
	int64_t date;      /* UTC seconds */
	int tz_min;        /* zone of the given date-time, minutes east */
	const char *message;
	size_t message_len;
	bool binary;       /* sent as literal8 */
};

#define IMAP_APPEND_INIT {NULL, 0, IMAP_FLAGS_INIT, false, 0, 0, NULL, 0, false}

/*
 * imap_append_parse - parse APPEND arguments into a (initialised, reset
 * first).  The message must be a literal; a NUL in a plain literal is
 * refused (only literal8 may carry NULs).  0, TJ_EINVAL (*error_r) or
 * -ENOMEM.
 */
int imap_append_parse(struct imap_append *a, const struct imap_arg *args, size_t argc, const char **error_r);
/* imap_append_free - release; a is left empty and reusable. */
void imap_append_free(struct imap_append *a);

#endif

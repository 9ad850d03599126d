/*
 * imap-flags.h - message flags: system flags (\Seen ...) and keywords.
 *
 * Keywords point into the parsed command (valid as long as it is) and are
 * de-duplicated case-insensitively as they are added.
 */
#ifndef TJ_IMAP_FLAGS_H
#define TJ_IMAP_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/imap/imap-parser.h"

#define IMAP_MAX_KEYWORD_LEN 128
#define IMAP_MAX_KEYWORDS 256 /* per flag list */

enum imap_sysflag {
	IMAP_FLAG_ANSWERED = 1 << 0,
	IMAP_FLAG_FLAGGED = 1 << 1,
	IMAP_FLAG_DELETED = 1 << 2,
	IMAP_FLAG_SEEN = 1 << 3,
	IMAP_FLAG_DRAFT = 1 << 4,
	IMAP_FLAG_RECENT = 1 << 5, /* never settable by a client */
};

struct imap_flags {
	uint32_t system;       /* enum imap_sysflag bits */
	const char **keywords; /* NUL-terminated, owned by the command */
	size_t count, cap;
};

#define IMAP_FLAGS_INIT {0, NULL, 0, 0}

/* imap_keyword_valid - flag-keyword: 1*ATOM-CHAR up to IMAP_MAX_KEYWORD_LEN. */
bool imap_keyword_valid(const char *s, size_t len);
/* imap_sysflag_parse - "\Seen" etc. (any case) to its bit; 0 if not a
 * system flag (including \Recent unless allow_recent). */
uint32_t imap_sysflag_parse(const char *s, size_t len, bool allow_recent);
/* imap_sysflag_name - "\Seen" for IMAP_FLAG_SEEN; NULL for other values. */
const char *imap_sysflag_name(uint32_t flag);

/*
 * imap_flags_add_arg - add one flag argument (an atom).  \Recent and
 * unknown \-flags are refused.  0, TJ_EINVAL (with *error_r), TJ_ETOOBIG or
 * -ENOMEM.
 */
int imap_flags_add_arg(struct imap_flags *f, const struct imap_arg *arg, const char **error_r);
/* imap_flags_parse_list - flags = list of flag atoms, f reset first.
 * Same returns as imap_flags_add_arg. */
int imap_flags_parse_list(struct imap_flags *f, const struct imap_arg *list_arg, const char **error_r);
/* imap_flags_free - release; f is left empty and reusable. */
void imap_flags_free(struct imap_flags *f);

#endif

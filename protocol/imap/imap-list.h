/*
 * imap-list.h - LIST (RFC 3501 and LIST-EXTENDED, RFC 5258) and LSUB
 * arguments: selection options, reference, one or more patterns, and
 * RETURN options including SPECIAL-USE (RFC 6154) and STATUS (RFC 5819).
 */
#ifndef TJ_IMAP_LIST_H
#define TJ_IMAP_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "protocol/imap/imap-parser.h"

#define IMAP_LIST_MAX_PATTERNS 64

enum imap_list_select {
	IMAP_LIST_SEL_SUBSCRIBED = 1 << 0,
	IMAP_LIST_SEL_REMOTE = 1 << 1,
	IMAP_LIST_SEL_RECURSIVEMATCH = 1 << 2,
	IMAP_LIST_SEL_SPECIAL_USE = 1 << 3,
};

enum imap_list_return {
	IMAP_LIST_RET_SUBSCRIBED = 1 << 0,
	IMAP_LIST_RET_CHILDREN = 1 << 1,
	IMAP_LIST_RET_SPECIAL_USE = 1 << 2,
	IMAP_LIST_RET_STATUS = 1 << 3,
};

struct imap_list {
	bool lsub;
	bool extended;       /* selection options, several patterns or RETURN given */
	uint32_t select_opts;
	uint32_t return_opts;
	uint32_t status_items; /* enum imap_status_item, with IMAP_LIST_RET_STATUS */
	tj_slice reference;
	tj_slice patterns[IMAP_LIST_MAX_PATTERNS];
	size_t pattern_count;
};

/*
 * imap_list_parse - parse LIST (lsub false) or LSUB (lsub true) arguments
 * into l (plain struct, overwritten).  Strings point into the command.
 * 0 or TJ_EINVAL (*error_r; unknown options included, as are
 * RECURSIVEMATCH without another selection option and, for LSUB, anything
 * beyond reference and pattern).
 */
int imap_list_parse(struct imap_list *l, const struct imap_arg *args, size_t argc, bool lsub,
		    const char **error_r);

#endif

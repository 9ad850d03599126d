/*
 * imap-status.h - STATUS arguments and status-att lists (also used by
 * LIST ... RETURN (STATUS (...))).
 */
#ifndef TJ_IMAP_STATUS_H
#define TJ_IMAP_STATUS_H

#include <stddef.h>
#include <stdint.h>

#include "protocol/imap/imap-parser.h"

enum imap_status_item {
	IMAP_STATUS_MESSAGES = 1 << 0,
	IMAP_STATUS_RECENT = 1 << 1,
	IMAP_STATUS_UIDNEXT = 1 << 2,
	IMAP_STATUS_UIDVALIDITY = 1 << 3,
	IMAP_STATUS_UNSEEN = 1 << 4,
	IMAP_STATUS_DELETED = 1 << 5,
	IMAP_STATUS_SIZE = 1 << 6,
	IMAP_STATUS_HIGHESTMODSEQ = 1 << 7,
};

struct imap_status {
	const char *mailbox;
	size_t mailbox_len;
	uint32_t items;
};

/* imap_status_items_parse - a non-empty list of status-att names.
 * 0 or TJ_EINVAL (*error_r). */
int imap_status_items_parse(const struct imap_arg *list, uint32_t *items_r, const char **error_r);
/* imap_status_parse - STATUS mailbox (items).  0 or TJ_EINVAL (*error_r). */
int imap_status_parse(struct imap_status *st, const struct imap_arg *args, size_t argc, const char **error_r);
/* imap_status_item_name - "MESSAGES" for IMAP_STATUS_MESSAGES; NULL otherwise. */
const char *imap_status_item_name(uint32_t item);

#endif

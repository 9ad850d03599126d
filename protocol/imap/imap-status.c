/*
 * imap-status.c - STATUS item lists (see imap-status.h).
 */
#include "protocol/imap/imap-status.h"
#include "common/err.h"

static const struct {
	const char *name;
	uint32_t bit;
} status_items[] = {
	{"MESSAGES", IMAP_STATUS_MESSAGES}, {"RECENT", IMAP_STATUS_RECENT},
	{"UIDNEXT", IMAP_STATUS_UIDNEXT},   {"UIDVALIDITY", IMAP_STATUS_UIDVALIDITY},
	{"UNSEEN", IMAP_STATUS_UNSEEN},     {"DELETED", IMAP_STATUS_DELETED},
	{"SIZE", IMAP_STATUS_SIZE},         {"HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ},
};

int imap_status_items_parse(const struct imap_arg *list, uint32_t *items_r, const char **error_r)
{
	uint32_t items = 0;
	if (list->type != IMAP_ARG_LIST || list->count == 0) {
		*error_r = "Status items must be a non-empty list";
		return TJ_EINVAL;
	}
	for (size_t i = 0; i < list->count; i++) {
		size_t j;
		for (j = 0; j < sizeof(status_items) / sizeof(status_items[0]); j++)
			if (imap_arg_is_atom(&list->list[i], status_items[j].name))
				break;
		if (j == sizeof(status_items) / sizeof(status_items[0])) {
			*error_r = "Unknown status item";
			return TJ_EINVAL;
		}
		items |= status_items[j].bit;
	}
	*items_r = items;
	return 0;
}

int imap_status_parse(struct imap_status *st, const struct imap_arg *args, size_t argc, const char **error_r)
{
	if (argc != 2 || imap_arg_get_mailbox(&args[0], &st->mailbox, &st->mailbox_len) < 0) {
		*error_r = "STATUS needs a mailbox and a list of items";
		return TJ_EINVAL;
	}
	return imap_status_items_parse(&args[1], &st->items, error_r);
}

const char *imap_status_item_name(uint32_t item)
{
	for (size_t j = 0; j < sizeof(status_items) / sizeof(status_items[0]); j++)
		if (status_items[j].bit == item)
			return status_items[j].name;
	return NULL;
}

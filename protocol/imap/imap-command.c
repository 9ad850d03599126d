/*
 * imap-command.c - classify IMAP command names (see imap-command.h).
 *
 * A small table scanned linearly; names are compared case-insensitively
 * and must match exactly (no prefixes).
 */
#include "protocol/imap/imap-command.h"

#include <strings.h>

static const char *const imap_cmd_names[IMAP_CMD_COUNT] = {
	[IMAP_CMD_UNKNOWN] = "",
	[IMAP_CMD_CAPABILITY] = "CAPABILITY",
	[IMAP_CMD_NOOP] = "NOOP",
	[IMAP_CMD_LOGOUT] = "LOGOUT",
	[IMAP_CMD_ID] = "ID",
	[IMAP_CMD_STARTTLS] = "STARTTLS",
	[IMAP_CMD_AUTHENTICATE] = "AUTHENTICATE",
	[IMAP_CMD_LOGIN] = "LOGIN",
	[IMAP_CMD_ENABLE] = "ENABLE",
	[IMAP_CMD_SELECT] = "SELECT",
	[IMAP_CMD_EXAMINE] = "EXAMINE",
	[IMAP_CMD_CREATE] = "CREATE",
	[IMAP_CMD_DELETE] = "DELETE",
	[IMAP_CMD_RENAME] = "RENAME",
	[IMAP_CMD_SUBSCRIBE] = "SUBSCRIBE",
	[IMAP_CMD_UNSUBSCRIBE] = "UNSUBSCRIBE",
	[IMAP_CMD_LIST] = "LIST",
	[IMAP_CMD_LSUB] = "LSUB",
	[IMAP_CMD_NAMESPACE] = "NAMESPACE",
	[IMAP_CMD_STATUS] = "STATUS",
	[IMAP_CMD_APPEND] = "APPEND",
	[IMAP_CMD_IDLE] = "IDLE",
	[IMAP_CMD_GETQUOTA] = "GETQUOTA",
	[IMAP_CMD_GETQUOTAROOT] = "GETQUOTAROOT",
	[IMAP_CMD_SETQUOTA] = "SETQUOTA",
	[IMAP_CMD_COMPRESS] = "COMPRESS",
	[IMAP_CMD_CHECK] = "CHECK",
	[IMAP_CMD_CLOSE] = "CLOSE",
	[IMAP_CMD_UNSELECT] = "UNSELECT",
	[IMAP_CMD_EXPUNGE] = "EXPUNGE",
	[IMAP_CMD_SEARCH] = "SEARCH",
	[IMAP_CMD_FETCH] = "FETCH",
	[IMAP_CMD_STORE] = "STORE",
	[IMAP_CMD_COPY] = "COPY",
	[IMAP_CMD_MOVE] = "MOVE",
	[IMAP_CMD_UID_FETCH] = "UID FETCH",
	[IMAP_CMD_UID_STORE] = "UID STORE",
	[IMAP_CMD_UID_COPY] = "UID COPY",
	[IMAP_CMD_UID_MOVE] = "UID MOVE",
	[IMAP_CMD_UID_SEARCH] = "UID SEARCH",
	[IMAP_CMD_UID_EXPUNGE] = "UID EXPUNGE",
};

enum imap_cmd imap_command_classify(const char *name, size_t len)
{
	for (int i = 1; i < IMAP_CMD_COUNT; i++) {
		const char *n = imap_cmd_names[i];
		size_t nl = 0;
		while (n[nl])
			nl++;
		if (nl == len && strncasecmp(n, name, len) == 0)
			return (enum imap_cmd)i;
	}
	return IMAP_CMD_UNKNOWN;
}

const char *imap_command_name(enum imap_cmd cmd)
{
	if ((int)cmd < 0 || cmd >= IMAP_CMD_COUNT)
		return "";
	return imap_cmd_names[cmd];
}

bool imap_command_is_uid(enum imap_cmd cmd)
{
	return cmd >= IMAP_CMD_UID_FETCH && cmd <= IMAP_CMD_UID_EXPUNGE;
}

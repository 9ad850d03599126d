/*
 * imap-command.h - the IMAP command names tjstore knows.
 *
 * RFC 3501 and RFC 9051 commands plus the extensions we serve (IDLE,
 * UIDPLUS, MOVE, NAMESPACE, ID, ENABLE, UNSELECT, QUOTA, STARTTLS,
 * COMPRESS).  Dispatch belongs to the server; this only names things.
 */
#ifndef TJ_IMAP_COMMAND_H
#define TJ_IMAP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

enum imap_cmd {
	IMAP_CMD_UNKNOWN = 0,
	/* any state */
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
	IMAP_CMD_ID,
	/* not authenticated */
	IMAP_CMD_STARTTLS,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_LOGIN,
	/* authenticated */
	IMAP_CMD_ENABLE,
	IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE,
	IMAP_CMD_CREATE,
	IMAP_CMD_DELETE,
	IMAP_CMD_RENAME,
	IMAP_CMD_SUBSCRIBE,
	IMAP_CMD_UNSUBSCRIBE,
	IMAP_CMD_LIST,
	IMAP_CMD_LSUB,
	IMAP_CMD_NAMESPACE,
	IMAP_CMD_STATUS,
	IMAP_CMD_APPEND,
	IMAP_CMD_IDLE,
	IMAP_CMD_GETQUOTA,
	IMAP_CMD_GETQUOTAROOT,
	IMAP_CMD_SETQUOTA,
	IMAP_CMD_COMPRESS,
	/* selected */
	IMAP_CMD_CHECK,
	IMAP_CMD_CLOSE,
	IMAP_CMD_UNSELECT,
	IMAP_CMD_EXPUNGE,
	IMAP_CMD_SEARCH,
	IMAP_CMD_FETCH,
	IMAP_CMD_STORE,
	IMAP_CMD_COPY,
	IMAP_CMD_MOVE,
	IMAP_CMD_UID_FETCH,
	IMAP_CMD_UID_STORE,
	IMAP_CMD_UID_COPY,
	IMAP_CMD_UID_MOVE,
	IMAP_CMD_UID_SEARCH,
	IMAP_CMD_UID_EXPUNGE,
	IMAP_CMD_COUNT
};

/* imap_command_classify - map a command name (any case; UID commands as
 * "UID FETCH" with one space) to its enum.  IMAP_CMD_UNKNOWN if unknown. */
enum imap_cmd imap_command_classify(const char *name, size_t len);
/* imap_command_name - canonical upper-case name ("UID FETCH"); "" for UNKNOWN. */
const char *imap_command_name(enum imap_cmd cmd);
/* imap_command_is_uid - true for the UID variants. */
bool imap_command_is_uid(enum imap_cmd cmd);

#endif

/*
 * cmd-idle.c - IDLE (RFC 2177).  The session answers "+ idling" and stays
 * in IDLE mode: each run() reports pending changes of the selected mailbox
 * (the server runs the session when imap_session_has_pending_notify() or
 * the wakeup callback says so) until the client sends DONE.
 */
#include "node/imap/imap-private.h"

#include <strings.h>
#include <string.h>

void cmd_idle(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "IDLE takes no arguments.");
		return;
	}
	size_t tl = strlen(cmd->tag);
	memcpy(s->tag, cmd->tag, tl + 1);
	s->mode = IMAP_MODE_IDLE;
	imap_printf(s, "+ idling\r\n");
}

void imap_idle_line(imap_session *s, const char *line, size_t len)
{
	s->mode = IMAP_MODE_CMD;
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0) {
		if (s->state == IMAP_ST_SELECTED && imap_sync(s, true) == TJ_ENOTFOUND) {
			imap_printf(s, "* BYE Selected mailbox was deleted.\r\n");
			s->state = IMAP_ST_LOGOUT;
			return;
		}
		imap_printf(s, "%s OK Idle completed.\r\n", s->tag);
		return;
	}
	imap_printf(s, "%s BAD Expected DONE.\r\n", s->tag);
}

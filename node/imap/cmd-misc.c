/*
 * cmd-misc.c - the small commands: CAPABILITY, NOOP, LOGOUT, ID, ENABLE,
 * NAMESPACE, STARTTLS, CHECK, and the capability list itself.
 */
#include "node/imap/imap-private.h"

#include <string.h>

#include "protocol/imap/imap-write.h"

#define IMAP_ID_MAX_PAIRS 30 /* RFC 2971: at most 30 field-value pairs */

/* the extensions served after login (and listed before it too, as clients
 * decide early); STARTTLS, LOGINDISABLED and AUTH= depend on TLS state */
static const char caps_common[] =
	"IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT UIDPLUS MOVE CHILDREN "
	"LIST-EXTENDED LIST-STATUS SPECIAL-USE QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE "
	"CONDSTORE QRESYNC ESEARCH";

void imap_capabilities(imap_session *s, tj_buf *b)
{
	tj_buf_puts(b, caps_common);
	if (s->state != IMAP_ST_NOAUTH)
		return;
	if (s->cfg.starttls && !s->tls_active)
		tj_buf_puts(b, " STARTTLS");
	if (s->cfg.logindisabled && !s->tls_active)
		tj_buf_puts(b, " LOGINDISABLED");
	else
		tj_buf_puts(b, " AUTH=PLAIN");
	if (s->cfg.gssapi)
		tj_buf_puts(b, " AUTH=GSSAPI");
}

void cmd_capability(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "CAPABILITY takes no arguments.");
		return;
	}
	imap_printf(s, "* CAPABILITY ");
	imap_capabilities(s, &s->out);
	imap_printf(s, "\r\n");
	imap_tagged(s, cmd, "OK", "Capability completed.");
}

void cmd_noop(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "NOOP takes no arguments.");
		return;
	}
	imap_tagged(s, cmd, "OK", "NOOP completed.");
}

void cmd_check(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "CHECK takes no arguments.");
		return;
	}
	imap_tagged(s, cmd, "OK", "CHECK completed.");
}

void cmd_logout(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "LOGOUT takes no arguments.");
		return;
	}
	imap_printf(s, "* BYE Logging out.\r\n");
	imap_tagged(s, cmd, "OK", "Logout completed.");
	imap_unselect(s);
	s->state = IMAP_ST_LOGOUT;
}

void cmd_id(imap_session *s, const struct imap_command *cmd)
{
	const struct imap_arg *list;
	size_t n;
	if (cmd->argc != 1 ||
	    (cmd->args[0].type != IMAP_ARG_NIL && imap_arg_get_list(&cmd->args[0], &list, &n) != 0)) {
		imap_bad(s, cmd, "ID takes NIL or a list of field-value pairs.");
		return;
	}
	if (cmd->args[0].type == IMAP_ARG_LIST) {
		if (n % 2 || n / 2 > IMAP_ID_MAX_PAIRS) {
			imap_bad(s, cmd, "ID list must hold at most 30 field-value pairs.");
			return;
		}
		for (size_t i = 0; i < n; i++) {
			const char *v;
			size_t len;
			if (imap_arg_get_nstring(&list[i], &v, &len) != 0 || (i % 2 == 0 && !v)) {
				imap_bad(s, cmd, "ID fields and values must be strings.");
				return;
			}
		}
	}
	imap_printf(s, "* ID (\"name\" \"tjstore\" \"vendor\" \"TJHSST\")\r\n");
	imap_tagged(s, cmd, "OK", "ID completed.");
}

void cmd_enable(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc == 0) {
		imap_bad(s, cmd, "ENABLE needs at least one capability.");
		return;
	}
	for (size_t i = 0; i < cmd->argc; i++)
		if (cmd->args[i].type != IMAP_ARG_ATOM) {
			imap_bad(s, cmd, "ENABLE takes capability names.");
			return;
		}
	bool cs = false, qr = false;
	for (size_t i = 0; i < cmd->argc; i++) {
		if (imap_arg_is_atom(&cmd->args[i], "CONDSTORE"))
			cs = true;
		else if (imap_arg_is_atom(&cmd->args[i], "QRESYNC"))
			qr = cs = true;
	}
	imap_printf(s, "* ENABLED");
	if (cs && !s->condstore)
		imap_printf(s, " CONDSTORE");
	if (qr && !s->qresync)
		imap_printf(s, " QRESYNC");
	imap_printf(s, "\r\n");
	s->condstore |= cs;
	s->qresync |= qr;
	imap_tagged(s, cmd, "OK", "Enabled.");
}

void cmd_namespace(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "NAMESPACE takes no arguments.");
		return;
	}
	imap_printf(s, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
	imap_tagged(s, cmd, "OK", "Namespace completed.");
}

void cmd_starttls(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc) {
		imap_bad(s, cmd, "STARTTLS takes no arguments.");
		return;
	}
	if (!s->cfg.starttls || s->tls_active) {
		imap_bad(s, cmd, s->tls_active ? "TLS is already active." : "STARTTLS is not offered.");
		return;
	}
	imap_tagged(s, cmd, "OK", "Begin TLS negotiation now.");
	/* anything the client pipelined after STARTTLS is plaintext injection */
	s->in_off = s->in.len;
	pthread_mutex_lock(&s->mu);
	s->starttls_pending = true;
	tj_buf_reset(&s->in_pending);
	pthread_mutex_unlock(&s->mu);
}

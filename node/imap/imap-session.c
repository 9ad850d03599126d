/*
 * imap-session.c - the IMAP session engine: input and output buffers shared
 * with the network layer, the run loop that feeds the command parser, and
 * the dispatch table.
 *
 * Commands are tokenised by protocol/imap's parser before dispatch; each
 * handler (cmd-*.c) opens with its guards and answers with one tagged
 * response.  State checks (pre-auth, selected) are made here from the
 * table's flags, so handlers never see a command in the wrong state.
 */
#include "node/imap/imap-private.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANY (IMAP_CMDF_PREAUTH | IMAP_CMDF_AUTH)
#define AUTH IMAP_CMDF_AUTH
#define SEL (IMAP_CMDF_AUTH | IMAP_CMDF_SELECTED)

/* the dispatch table, indexed by enum imap_cmd */
static const struct imap_cmd_def cmd_table[IMAP_CMD_COUNT] = {
	[IMAP_CMD_CAPABILITY] = {"CAPABILITY", cmd_capability, ANY},
	[IMAP_CMD_NOOP] = {"NOOP", cmd_noop, ANY},
	[IMAP_CMD_LOGOUT] = {"LOGOUT", cmd_logout, ANY},
	[IMAP_CMD_ID] = {"ID", cmd_id, ANY},
	[IMAP_CMD_STARTTLS] = {"STARTTLS", cmd_starttls, IMAP_CMDF_PREAUTH},
	[IMAP_CMD_AUTHENTICATE] = {"AUTHENTICATE", cmd_authenticate, IMAP_CMDF_PREAUTH},
	[IMAP_CMD_LOGIN] = {"LOGIN", cmd_login, IMAP_CMDF_PREAUTH},
	[IMAP_CMD_ENABLE] = {"ENABLE", cmd_enable, AUTH},
	[IMAP_CMD_SELECT] = {"SELECT", cmd_select, AUTH | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_EXAMINE] = {"EXAMINE", cmd_examine, AUTH | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_CREATE] = {"CREATE", cmd_create, AUTH},
	[IMAP_CMD_DELETE] = {"DELETE", cmd_delete, AUTH},
	[IMAP_CMD_RENAME] = {"RENAME", cmd_rename, AUTH},
	[IMAP_CMD_SUBSCRIBE] = {"SUBSCRIBE", cmd_subscribe, AUTH},
	[IMAP_CMD_UNSUBSCRIBE] = {"UNSUBSCRIBE", cmd_unsubscribe, AUTH},
	[IMAP_CMD_LIST] = {"LIST", cmd_list, AUTH},
	[IMAP_CMD_LSUB] = {"LSUB", cmd_lsub, AUTH},
	[IMAP_CMD_NAMESPACE] = {"NAMESPACE", cmd_namespace, AUTH},
	[IMAP_CMD_STATUS] = {"STATUS", cmd_status, AUTH},
	[IMAP_CMD_APPEND] = {"APPEND", cmd_append, AUTH},
	[IMAP_CMD_IDLE] = {"IDLE", cmd_idle, AUTH},
	[IMAP_CMD_GETQUOTA] = {"GETQUOTA", cmd_getquota, AUTH},
	[IMAP_CMD_GETQUOTAROOT] = {"GETQUOTAROOT", cmd_getquotaroot, AUTH},
	[IMAP_CMD_SETQUOTA] = {"SETQUOTA", cmd_setquota, AUTH},
	[IMAP_CMD_CHECK] = {"CHECK", cmd_check, SEL},
	[IMAP_CMD_CLOSE] = {"CLOSE", cmd_close, SEL | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_UNSELECT] = {"UNSELECT", cmd_unselect, SEL | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_EXPUNGE] = {"EXPUNGE", cmd_expunge, SEL | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_SEARCH] = {"SEARCH", cmd_search, SEL | IMAP_CMDF_USES_SEQS},
	[IMAP_CMD_FETCH] = {"FETCH", cmd_fetch, SEL | IMAP_CMDF_USES_SEQS},
	[IMAP_CMD_STORE] = {"STORE", cmd_store, SEL | IMAP_CMDF_USES_SEQS},
	[IMAP_CMD_COPY] = {"COPY", cmd_copy, SEL | IMAP_CMDF_USES_SEQS},
	[IMAP_CMD_MOVE] = {"MOVE", cmd_copy, SEL | IMAP_CMDF_USES_SEQS | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_UID_FETCH] = {"UID FETCH", cmd_fetch, SEL},
	[IMAP_CMD_UID_STORE] = {"UID STORE", cmd_store, SEL},
	[IMAP_CMD_UID_COPY] = {"UID COPY", cmd_copy, SEL},
	[IMAP_CMD_UID_MOVE] = {"UID MOVE", cmd_copy, SEL | IMAP_CMDF_BREAKS_SEQS},
	[IMAP_CMD_UID_SEARCH] = {"UID SEARCH", cmd_search, SEL},
	[IMAP_CMD_UID_EXPUNGE] = {"UID EXPUNGE", cmd_expunge, SEL | IMAP_CMDF_BREAKS_SEQS},
};

/* ---- output ---- */

void imap_printf(imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (tj_buf_vprintf(&s->out, fmt, ap))
		s->out_err = true;
	va_end(ap);
}

void imap_tagged(imap_session *s, const struct imap_command *cmd, const char *status, const char *fmt, ...)
{
	va_list ap;
	imap_printf(s, "%s %s ", cmd->tag, status);
	va_start(ap, fmt);
	if (tj_buf_vprintf(&s->out, fmt, ap))
		s->out_err = true;
	va_end(ap);
	imap_printf(s, "\r\n");
	if (strcmp(status, "OK") == 0 && s->state != IMAP_ST_NOAUTH)
		s->bad_count = 0;
}

/* count_bad - count a BAD; say BYE and close once the limit is reached */
static void count_bad(imap_session *s)
{
	unsigned limit = s->state == IMAP_ST_NOAUTH ? IMAP_SESSION_MAX_BAD_PREAUTH : IMAP_SESSION_MAX_BAD;
	if (++s->bad_count >= limit) {
		imap_printf(s, "* BYE Too many invalid commands.\r\n");
		s->state = IMAP_ST_LOGOUT;
	}
}

void imap_bad(imap_session *s, const struct imap_command *cmd, const char *reason)
{
	imap_printf(s, "%s BAD %s\r\n", cmd->tag, reason);
	count_bad(s);
}

void imap_store_error(imap_session *s, const struct imap_command *cmd, int rc, const char *what)
{
	switch (rc) {
	case TJ_ENOTFOUND:
		imap_tagged(s, cmd, "NO", "[NONEXISTENT] %s", what ? what : "No such mailbox.");
		break;
	case TJ_EEXIST:
		imap_tagged(s, cmd, "NO", "[ALREADYEXISTS] Mailbox already exists.");
		break;
	case TJ_EQUOTA:
		imap_tagged(s, cmd, "NO", "[OVERQUOTA] Quota exceeded.");
		break;
	case TJ_EINVAL:
		imap_tagged(s, cmd, "NO", "[CANNOT] Invalid name or argument.");
		break;
	case TJ_ETOOBIG:
		imap_tagged(s, cmd, "NO", "[LIMIT] Too large.");
		break;
	case TJ_EDISABLED:
		imap_tagged(s, cmd, "NO", "[NOPERM] Account disabled.");
		break;
	default:
		imap_tagged(s, cmd, "NO", "[SERVERBUG] Internal error (%s).", tj_strerror(rc));
		break;
	}
}

void imap_flush(imap_session *s)
{
	if (s->out.len == 0 && !s->out_err && s->state != IMAP_ST_LOGOUT)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->out.len && s->out_pending.len == 0 && s->out.len > IMAP_OUT_KEEP) {
		/* a big answer changes hands instead of being copied */
		tj_buf t = s->out_pending;
		s->out_pending = s->out;
		s->out = t;
	} else if (s->out.len && tj_buf_append(&s->out_pending, s->out.data, s->out.len)) {
		s->out_err = true;
	}
	if (s->out_err || s->state == IMAP_ST_LOGOUT)
		s->close = true;
	pthread_mutex_unlock(&s->mu);
	tj_buf_reset(&s->out);
	if (s->out.cap > IMAP_OUT_KEEP)
		tj_buf_free(&s->out); /* an idle session keeps little */
}

/* ---- life cycle ---- */

int imap_session_new(const imap_session_config *cfg, imap_session **s_r)
{
	if (!cfg || !cfg->store || !cfg->notify || !cfg->auth)
		return TJ_EINVAL;
	imap_session *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->greeting = strdup(cfg->greeting ? cfg->greeting : "tjstore ready.");
	if (!s->greeting || imap_parser_new(&s->parser)) {
		free(s->greeting);
		free(s);
		return -ENOMEM;
	}
	s->cfg.greeting = s->greeting;
	pthread_mutex_init(&s->mu, NULL);
	atomic_init(&s->notify_pending, false);
	s->tls_active = cfg->tls;
	tj_buf b = TJ_BUF_INIT;
	imap_capabilities(s, &b);
	imap_printf(s, "* OK [CAPABILITY %s] %s\r\n", b.data ? (char *)b.data : "", s->greeting);
	tj_buf_free(&b);
	imap_flush(s);
	*s_r = s;
	return 0;
}

void imap_session_free(imap_session **sp)
{
	imap_session *s = sp ? *sp : NULL;
	if (!s)
		return;
	imap_watch(s, 0);
	imap_gssapi_reset(s);
	imap_parser_free(&s->parser);
	tj_buf_free(&s->in);
	tj_buf_free(&s->out);
	tj_buf_free(&s->in_pending);
	tj_buf_free(&s->out_pending);
	imap_uids_free(&s->uids);
	imap_uids_free(&s->gone);
	free(s->user);
	free(s->greeting);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

/* ---- the loop-thread side ---- */

int imap_session_feed(imap_session *s, const void *buf, size_t len)
{
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	if (s->starttls_pending || s->close) {
		/* plaintext after STARTTLS, or after the end: never executed */
	} else if (s->in_pending.len + len > (s->authed ? IMAP_SESSION_MAX_INPUT + IMAP_MAX_LITERAL_TOTAL
							: IMAP_SESSION_MAX_INPUT_PREAUTH)) {
		rc = TJ_ETOOBIG;
	} else {
		rc = tj_buf_append(&s->in_pending, buf, len);
	}
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int imap_session_output(imap_session *s, tj_buf *out)
{
	int rc = 0;
	pthread_mutex_lock(&s->mu);
	if (s->out_pending.len && out->len == 0 && out->max == 0 && s->out_pending.len > IMAP_OUT_KEEP) {
		/* a big answer changes hands instead of being copied */
		tj_buf_free(out);
		*out = s->out_pending;
		s->out_pending = (tj_buf)TJ_BUF_INIT;
	} else if (s->out_pending.len) {
		rc = tj_buf_append(out, s->out_pending.data, s->out_pending.len);
	}
	if (!rc)
		tj_buf_reset(&s->out_pending);
	if (s->out_pending.cap > IMAP_OUT_KEEP && !s->out_pending.len)
		tj_buf_free(&s->out_pending);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

bool imap_session_wants_close(imap_session *s)
{
	pthread_mutex_lock(&s->mu);
	bool c = s->close;
	pthread_mutex_unlock(&s->mu);
	return c;
}

bool imap_session_has_pending_notify(imap_session *s)
{
	return atomic_load(&s->notify_pending);
}

bool imap_session_needs_run(imap_session *s)
{
	pthread_mutex_lock(&s->mu);
	/* a notification is work only during IDLE; otherwise the next command
	 * reports it (counting it here would have the server run an idle
	 * session over and over, never reading its next command) */
	bool r = !s->close && !s->starttls_pending &&
		 (s->in_pending.len > 0 || (atomic_load(&s->notify_pending) && s->mode == IMAP_MODE_IDLE) ||
		  (s->backlog && s->out_pending.len == 0));
	pthread_mutex_unlock(&s->mu);
	return r;
}

bool imap_session_starttls_pending(imap_session *s)
{
	pthread_mutex_lock(&s->mu);
	bool r = s->starttls_pending;
	pthread_mutex_unlock(&s->mu);
	return r;
}

void imap_session_tls_started(imap_session *s)
{
	pthread_mutex_lock(&s->mu);
	s->starttls_pending = false;
	s->cfg.tls = true;
	tj_buf_reset(&s->in_pending);
	pthread_mutex_unlock(&s->mu);
}

unsigned imap_session_timeout_ms(imap_session *s)
{
	pthread_mutex_lock(&s->mu);
	bool authed = s->authed;
	pthread_mutex_unlock(&s->mu);
	return authed ? IMAP_SESSION_TIMEOUT_MS : IMAP_SESSION_TIMEOUT_PREAUTH_MS;
}

void imap_session_bye(imap_session *s, const char *text)
{
	pthread_mutex_lock(&s->mu);
	if (!s->close) {
		tj_buf_puts(&s->out_pending, "* BYE ");
		tj_buf_puts(&s->out_pending, text);
		tj_buf_puts(&s->out_pending, "\r\n");
		s->close = true;
	}
	pthread_mutex_unlock(&s->mu);
}

const char *imap_session_user(imap_session *s)
{
	return s->user;
}

/* ---- the run loop ---- */

static void dispatch(imap_session *s, const struct imap_command *cmd)
{
	const struct imap_cmd_def *d = cmd->kind > IMAP_CMD_UNKNOWN && cmd->kind < IMAP_CMD_COUNT
					       ? &cmd_table[cmd->kind] : NULL;
	if (!d || !d->fn) {
		imap_bad(s, cmd, "Unknown command.");
		return;
	}
	if (s->state == IMAP_ST_NOAUTH && !(d->flags & IMAP_CMDF_PREAUTH)) {
		imap_bad(s, cmd, "Command not allowed before authentication.");
		return;
	}
	if (s->state != IMAP_ST_NOAUTH && !(d->flags & IMAP_CMDF_AUTH)) {
		imap_bad(s, cmd, "Command not allowed after authentication.");
		return;
	}
	if ((d->flags & IMAP_CMDF_SELECTED) && s->state != IMAP_ST_SELECTED) {
		imap_bad(s, cmd, "No mailbox selected.");
		return;
	}
	if (s->state == IMAP_ST_SELECTED) {
		atomic_store(&s->notify_pending, false);
		int rc = imap_sync(s, !(d->flags & IMAP_CMDF_USES_SEQS));
		if (rc == TJ_ENOTFOUND) {
			imap_printf(s, "* BYE Selected mailbox was deleted.\r\n");
			s->state = IMAP_ST_LOGOUT;
			return;
		}
	}
	d->fn(s, cmd);
}

/* parse_error - BAD for a command the parser refused */
static void parse_error(imap_session *s)
{
	const struct imap_parse_error *e = imap_parser_error(s->parser);
	const char *reason = e && e->reason ? e->reason : "Invalid command.";
	if (e && e->tag_known)
		imap_printf(s, "%s BAD %s\r\n", e->tag, reason);
	else
		imap_printf(s, "* BAD %s\r\n", reason);
	count_bad(s);
	if (e && e->close_suggested && s->state != IMAP_ST_LOGOUT) {
		imap_printf(s, "* BYE Literal refused.\r\n");
		s->state = IMAP_ST_LOGOUT;
	}
}

/* run_line - IDLE and AUTHENTICATE continuation lines */
static int run_line(imap_session *s)
{
	const char *line;
	size_t len, used = 0;
	int rc = imap_parser_read_line(s->parser, s->in.data + s->in_off, s->in.len - s->in_off, &used, &line, &len);
	s->in_off += used;
	if (rc == TJ_NEED_MORE)
		return rc;
	if (rc == TJ_ETOOBIG) {
		imap_printf(s, "%s BAD Line too long.\r\n", s->tag);
		s->mode = IMAP_MODE_CMD;
		imap_gssapi_reset(s);
		count_bad(s);
		return 0;
	}
	if (rc) {
		s->mode = IMAP_MODE_CMD; /* cannot happen between commands; recover */
		return 0;
	}
	if (s->mode == IMAP_MODE_IDLE)
		imap_idle_line(s, line, len);
	else
		imap_sasl_line(s, line, len);
	return 0;
}

int imap_session_run(imap_session *s)
{
	pthread_mutex_lock(&s->mu);
	if (s->starttls_pending || s->close) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	s->tls_active = s->cfg.tls;
	int rc = 0;
	if (s->in_pending.len) {
		if (s->in_off == s->in.len) {
			tj_buf_reset(&s->in);
			s->in_off = 0;
		}
		rc = tj_buf_append(&s->in, s->in_pending.data, s->in_pending.len);
		tj_buf_reset(&s->in_pending);
	}
	pthread_mutex_unlock(&s->mu);
	if (rc) {
		s->out_err = true;
		imap_flush(s);
		return rc;
	}

	if (s->mode == IMAP_MODE_IDLE && s->state == IMAP_ST_SELECTED && atomic_exchange(&s->notify_pending, false)) {
		if (imap_sync(s, true) == TJ_ENOTFOUND) {
			imap_printf(s, "* BYE Selected mailbox was deleted.\r\n");
			s->state = IMAP_ST_LOGOUT;
		}
		imap_flush(s);
	}

	while (s->state != IMAP_ST_LOGOUT && !s->out_err && s->in_off < s->in.len) {
		pthread_mutex_lock(&s->mu);
		bool full = s->out_pending.len > IMAP_SESSION_OUTPUT_HIGH || s->starttls_pending;
		pthread_mutex_unlock(&s->mu);
		if (full)
			break;
		if (s->mode != IMAP_MODE_CMD) {
			rc = run_line(s);
			imap_flush(s);
			if (rc == TJ_NEED_MORE) {
				rc = 0;
				break;
			}
			if (rc)
				break;
			continue;
		}
		size_t used = 0;
		rc = imap_parser_feed(s->parser, s->in.data + s->in_off, s->in.len - s->in_off, &used);
		s->in_off += used;
		if (rc == 0) {
			dispatch(s, imap_parser_command(s->parser));
		} else if (rc == IMAP_NEED_CONTINUATION) {
			imap_printf(s, "+ Ready for literal data\r\n");
		} else if (rc == TJ_NEED_MORE) {
			rc = 0;
			imap_flush(s);
			break;
		} else if (rc == TJ_EPROTO || rc == TJ_ETOOBIG) {
			parse_error(s);
		} else {
			s->out_err = true;
		}
		rc = 0;
		imap_flush(s);
	}
	/* keep only the unconsumed tail */
	if (s->in_off == s->in.len) {
		tj_buf_reset(&s->in);
		s->in_off = 0;
		if (s->in.cap > (1u << 20))
			tj_buf_free(&s->in);
	} else if (s->in_off > 0) {
		memmove(s->in.data, s->in.data + s->in_off, s->in.len - s->in_off);
		tj_buf_truncate(&s->in, s->in.len - s->in_off);
		s->in_off = 0;
	}
	imap_flush(s);
	pthread_mutex_lock(&s->mu);
	s->backlog = s->in_off < s->in.len;
	s->authed = s->state != IMAP_ST_NOAUTH;
	pthread_mutex_unlock(&s->mu);
	return s->out_err ? -ENOMEM : rc;
}

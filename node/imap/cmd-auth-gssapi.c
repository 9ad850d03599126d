/*
 * cmd-auth-gssapi.c - AUTHENTICATE GSSAPI (RFC 4752) with or without
 * SASL-IR, for clients that hold a Kerberos ticket.
 *
 * The exchange itself is node/auth's state machine (gssapi.h): each
 * client response (the SASL-IR argument, then each continuation line) is
 * fed to tj_gss_step(); CONTINUE is sent as "+ <base64>", "*" aborts with
 * BAD, DONE hands the local user name to imap_login_user() (the store
 * must know the user and have it enabled, exactly as for LOGIN).
 * Failures: -EPERM -> NO [AUTHORIZATIONFAILED], -EAGAIN -> NO
 * [UNAVAILABLE] (not counted), anything else -> NO
 * [AUTHENTICATIONFAILED]; refusals count against
 * IMAP_SESSION_MAX_AUTH_FAILS like failed LOGINs.  Steps read the keytab
 * and may block: they run inside imap_session_run(), on the worker.
 */
#include "node/imap/imap-private.h"
#include "node/auth/gssapi.h"

#include <errno.h>
#include <string.h>

void imap_gssapi_reset(imap_session *s)
{
	tj_gss_session_free(&s->gss);
}

/* gss_feed - one client response; answers and ends the exchange unless
 * the mechanism wants another round */
static void gss_feed(imap_session *s, const char *tag, const char *in, size_t len)
{
	struct tj_gss_step_out o;
	memset(&o, 0, sizeof(o));
	int rc = tj_gss_step(s->gss, in, len, &o);
	if (rc == 0 && o.status == TJ_GSS_CONTINUE) {
		size_t tl = strlen(tag);
		if (s->tag != tag)
			memmove(s->tag, tag, tl + 1);
		s->mode = IMAP_MODE_SASL;
		imap_printf(s, "+ %.*s\r\n", (int)o.challenge_len, o.challenge ? o.challenge : "");
		return;
	}
	if (rc == 0 && o.status == TJ_GSS_DONE && o.user) {
		imap_login_user(s, tag, o.user, strlen(o.user));
		imap_gssapi_reset(s);
		return;
	}
	imap_gssapi_reset(s);
	if (rc == -ENOMEM)
		s->out_err = true;
	else if (rc == -EAGAIN)
		imap_printf(s, "%s NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n", tag);
	else if (rc == -EPERM)
		imap_auth_failed(s, tag, "[AUTHORIZATIONFAILED] Not authorized as a user of this server.");
	else
		imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Authentication failed.");
}

void imap_gssapi_start(imap_session *s, const char *tag, const char *ir, size_t irlen)
{
	imap_gssapi_reset(s);
	int rc = tj_gss_session_new(s->cfg.gssapi, &s->gss);
	if (rc == -ENOMEM) {
		s->out_err = true;
		return;
	}
	if (rc) {
		imap_printf(s, "%s NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n", tag);
		return;
	}
	/* without SASL-IR the state machine answers an empty first
	 * response with an empty challenge ("+ "); "=" is an empty IR */
	gss_feed(s, tag, ir ? ir : "", ir ? irlen : 0);
}

void imap_gssapi_line(imap_session *s, const char *line, size_t len)
{
	if (len == 1 && line[0] == '*') {
		imap_gssapi_reset(s);
		imap_printf(s, "%s BAD Authentication aborted by client.\r\n", s->tag);
		return;
	}
	gss_feed(s, s->tag, line, len);
}

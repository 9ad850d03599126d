/*
 * cmd-login.c - LOGIN and AUTHENTICATE PLAIN (with SASL-IR, RFC 4959);
 * AUTHENTICATE GSSAPI is dispatched from here to cmd-auth-gssapi.c.
 *
 * Both end in login_finish(): the configured auth callback checks the
 * password, the store must know the user (imap_login_user(), which
 * GSSAPI shares), and on success the parser switches to its post-login
 * limits.  Failures are counted; after
 * IMAP_SESSION_MAX_AUTH_FAILS the session says BYE.  The delay between
 * failures (against guessing) is the network layer's job: it sees the
 * tagged NO [AUTHENTICATIONFAILED] and may hold the next run back.
 */
#include "node/imap/imap-private.h"

#include <stdlib.h>
#include <string.h>

#define IMAP_SASL_MAX 1024 /* decoded PLAIN message */

/* b64_decode - strict base64 (RFC 4648, padding required); -1 on error */
static long b64_decode(const char *in, size_t len, unsigned char *out, size_t outsz)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	if (len % 4)
		return -1;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v = 0;
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			char c = in[i + k];
			const char *p = c ? strchr(tbl, c) : NULL;
			if (c == '=' && i + 4 == len && k >= 2) {
				pad++;
				v <<= 6;
				continue;
			}
			if (!p || pad)
				return -1;
			v = (v << 6) | (uint32_t)(p - tbl);
		}
		for (int k = 0; k < 3 - pad; k++) {
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)(v >> (16 - 8 * k));
		}
	}
	return (long)o;
}

void imap_auth_failed(imap_session *s, const char *tag, const char *text)
{
	imap_printf(s, "%s NO %s\r\n", tag, text);
	if (++s->auth_fails >= IMAP_SESSION_MAX_AUTH_FAILS) {
		imap_printf(s, "* BYE Too many authentication failures.\r\n");
		s->state = IMAP_ST_LOGOUT;
	}
}

/* login_finish - check user/pass and enter the authenticated state */
static void login_finish(imap_session *s, const char *tag, const char *user, size_t ulen, const char *pass)
{
	if (ulen == 0 || ulen > IMAP_AUTH_USER_MAX || strlen(pass) > IMAP_AUTH_PASSWORD_MAX || memchr(user, 0, ulen) ||
	    tj_store_valid_user_name(user, ulen)) {
		imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	char *name = strndup(user, ulen);
	if (!name) {
		s->out_err = true;
		return;
	}
	int ar = s->cfg.auth(s->cfg.auth_ctx, name, pass);
	free(name);
	if (ar == IMAP_AUTH_UNAVAILABLE) {
		imap_printf(s, "%s NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n", tag);
		return;
	}
	if (ar != IMAP_AUTH_OK) {
		imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	imap_login_user(s, tag, user, ulen);
}

void imap_login_user(imap_session *s, const char *tag, const char *user, size_t ulen)
{
	if (ulen == 0 || ulen > IMAP_AUTH_USER_MAX || memchr(user, 0, ulen) || tj_store_valid_user_name(user, ulen)) {
		imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	char *name = strndup(user, ulen);
	if (!name) {
		s->out_err = true;
		return;
	}
	tj_rtxn *r;
	tj_user_info u;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (!rc) {
		rc = tj_store_user_get(r, name, &u);
		tj_rtxn_end(&r);
	}
	if (rc || u.state != TJ_USER_ENABLED) {
		if (rc && rc != TJ_ENOTFOUND)
			imap_printf(s, "%s NO [UNAVAILABLE] Mailbox store unavailable.\r\n", tag);
		else
			imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Authentication failed.");
		free(name);
		return;
	}
	s->user = name;
	s->user_id = u.id;
	s->state = IMAP_ST_AUTH;
	s->bad_count = 0;
	imap_parser_set_authenticated(s->parser, true);
	imap_printf(s, "%s OK [CAPABILITY ", tag);
	imap_capabilities(s, &s->out);
	imap_printf(s, "] Logged in.\r\n");
}

/* login_allowed - refuse plaintext passwords where TLS is required */
static bool login_allowed(imap_session *s, const char *tag)
{
	if (s->cfg.logindisabled && !s->tls_active) {
		imap_printf(s, "%s NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure connections.\r\n",
			    tag);
		return false;
	}
	return true;
}

void cmd_login(imap_session *s, const struct imap_command *cmd)
{
	const char *user, *pass;
	size_t ulen, plen;
	if (cmd->argc != 2 || imap_arg_get_astring(&cmd->args[0], &user, &ulen) ||
	    imap_arg_get_astring(&cmd->args[1], &pass, &plen)) {
		imap_bad(s, cmd, "LOGIN needs a user name and a password.");
		return;
	}
	if (!login_allowed(s, cmd->tag))
		return;
	if (memchr(pass, 0, plen)) {
		imap_auth_failed(s, cmd->tag, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	login_finish(s, cmd->tag, user, ulen, pass);
}

/* sasl_plain - decode and check a PLAIN response (base64) */
static void sasl_plain(imap_session *s, const char *tag, const char *b64, size_t len)
{
	unsigned char msg[IMAP_SASL_MAX + 1];
	long n = len == 1 && b64[0] == '=' ? 0 : b64_decode(b64, len, msg, IMAP_SASL_MAX);
	if (n < 0) {
		imap_printf(s, "%s BAD Invalid base64 in SASL response.\r\n", tag);
		return;
	}
	msg[n] = 0;
	const unsigned char *z1 = memchr(msg, 0, (size_t)n);
	const unsigned char *z2 = z1 ? memchr(z1 + 1, 0, (size_t)(msg + n - z1 - 1)) : NULL;
	if (!z2) {
		imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Malformed PLAIN message.");
		return;
	}
	const char *authz = (const char *)msg, *authc = (const char *)z1 + 1, *pass = (const char *)z2 + 1;
	size_t azlen = (size_t)(z1 - msg), aclen = (size_t)(z2 - z1 - 1);
	if (azlen && (azlen != aclen || memcmp(authz, authc, aclen) != 0)) {
		imap_auth_failed(s, tag, "[AUTHORIZATIONFAILED] Authorization identity must be the user name.");
		return;
	}
	if (strlen(pass) != (size_t)(msg + n - z2 - 1)) {
		imap_auth_failed(s, tag, "[AUTHENTICATIONFAILED] Authentication failed.");
		return;
	}
	login_finish(s, tag, authc, aclen, pass);
	explicit_bzero(msg, sizeof(msg));
}

void cmd_authenticate(imap_session *s, const struct imap_command *cmd)
{
	if (cmd->argc < 1 || cmd->argc > 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    (cmd->argc == 2 && cmd->args[1].type != IMAP_ARG_ATOM)) {
		imap_bad(s, cmd, "AUTHENTICATE needs a mechanism name and an optional initial response.");
		return;
	}
	if (s->cfg.gssapi && imap_arg_is_atom(&cmd->args[0], "GSSAPI")) {
		/* no password crosses the wire: allowed without TLS */
		imap_gssapi_start(s, cmd->tag, cmd->argc == 2 ? cmd->args[1].str : NULL,
				  cmd->argc == 2 ? cmd->args[1].len : 0);
		return;
	}
	if (!imap_arg_is_atom(&cmd->args[0], "PLAIN")) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Unsupported authentication mechanism.");
		return;
	}
	if (!login_allowed(s, cmd->tag))
		return;
	if (cmd->argc == 2) {
		sasl_plain(s, cmd->tag, cmd->args[1].str, cmd->args[1].len);
		return;
	}
	size_t tl = strlen(cmd->tag);
	memcpy(s->tag, cmd->tag, tl + 1);
	s->mode = IMAP_MODE_SASL;
	imap_printf(s, "+ \r\n");
}

void imap_sasl_line(imap_session *s, const char *line, size_t len)
{
	s->mode = IMAP_MODE_CMD;
	if (s->gss) {
		imap_gssapi_line(s, line, len);
		return;
	}
	if (len == 1 && line[0] == '*') {
		imap_printf(s, "%s BAD Authentication aborted by client.\r\n", s->tag);
		return;
	}
	sasl_plain(s, s->tag, line, len);
}

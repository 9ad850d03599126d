/*
 * gssapi.c - SASL GSSAPI (RFC 4752), server side: strict base64, the
 * accept_sec_context loop with the keytab's acceptor credentials
 * (gss_acquire_cred_from with a "keytab" credential store, so the
 * environment's KRB5_KTNAME plays no part), the wrapped security-layer
 * exchange (we offer "no security layer" only), and the mapping of the
 * authenticated principal to a local user.  No sockets; one session per
 * AUTHENTICATE command.
 */
#include "node/auth/gssapi.h"
#include "common/base64.h"
#include "common/err.h"
#include "common/log.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SERVICE "imap"
#define LOG_TEXT_MAX 200

enum gss_state {
	ST_START,       /* nothing received yet */
	ST_ACCEPT,      /* in accept_sec_context rounds */
	ST_WAIT_EMPTY,  /* context complete, our last token sent: want an empty response */
	ST_WAIT_LAYER,  /* security-layer offer sent: want the client's wrapped choice */
	ST_DONE,
	ST_FAILED,
};

struct tj_gss_session {
	enum gss_state state;
	char *keytab;
	char *realm;
	char *target; /* "service/host@REALM" or NULL: any key in the keytab */
	gss_cred_id_t cred;
	gss_ctx_id_t ctx;
	unsigned rounds;
	char *chal; /* the last challenge (base64), malloc'd */
	char user[TJ_AUTH_USER_MAX + 1];
	char principal[TJ_KRB5_PRINC_MAX + 1];
	char authzid[TJ_GSS_AUTHZID_MAX + 1];
};

/* -------------------------------------------------------------- base64 */

static const char b64_digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t tj_gss_b64_encode(const uint8_t *in, size_t len, char *out)
{
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64_digits[v >> 18];
		out[o++] = b64_digits[(v >> 12) & 63];
		out[o++] = b64_digits[(v >> 6) & 63];
		out[o++] = b64_digits[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64_digits[v >> 18];
		out[o++] = b64_digits[(v >> 12) & 63];
		out[o++] = '=';
		out[o++] = '=';
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64_digits[v >> 18];
		out[o++] = b64_digits[(v >> 12) & 63];
		out[o++] = b64_digits[(v >> 6) & 63];
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

int tj_gss_b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len_r)
{
	*out_len_r = 0;
	if (len % 4 != 0)
		return TJ_EPROTO;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		int d[4];
		size_t pad = 0;
		for (int k = 0; k < 4; k++) {
			uint8_t c = (uint8_t)in[i + (size_t)k];
			if (c == '=' && i + 4 == len && k >= 2) {
				d[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* a digit after '=' */
				return TJ_EPROTO;
			d[k] = tj_b64_value(c, '/');
			if (d[k] < 0)
				return TJ_EPROTO;
		}
		uint32_t v = (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
		if ((pad == 1 && (v & 0xff)) || (pad == 2 && (v & 0xffff)))
			return TJ_EPROTO; /* unused bits must be zero */
		out[o++] = (uint8_t)(v >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(v >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)v;
	}
	*out_len_r = o;
	return 0;
}

/* ------------------------------------------------------- name mapping */

int tj_krb5_principal_to_user(const char *principal, const char *realm, char *user_r, size_t user_size)
{
	if (!principal || !realm || !user_r || user_size == 0)
		return TJ_EINVAL;
	user_r[0] = '\0';
	if (strchr(principal, '\\')) /* an escaped '@' or '/': never a plain user */
		return -EPERM;
	const char *at = strrchr(principal, '@');
	if (!at || strcmp(at + 1, realm) != 0 || !realm[0])
		return -EPERM;
	size_t n = (size_t)(at - principal);
	if (!tj_krb5_user_valid(principal, n))
		return -EPERM;
	if (n + 1 > user_size)
		return TJ_ETOOBIG;
	memcpy(user_r, principal, n);
	user_r[n] = '\0';
	return 0;
}

/* ------------------------------------------------------------- session */

int tj_gss_session_new(const struct tj_auth_krb5_config *cfg, struct tj_gss_session **s_r)
{
	if (!s_r)
		return TJ_EINVAL;
	*s_r = NULL;
	if (!cfg || !cfg->keytab || !cfg->keytab[0])
		return TJ_EINVAL;
	struct tj_gss_session *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->state = ST_START;
	s->cred = GSS_C_NO_CREDENTIAL;
	s->ctx = GSS_C_NO_CONTEXT;
	s->keytab = strdup(cfg->keytab);
	int rc = s->keytab ? 0 : -ENOMEM;
	if (!rc && cfg->realm && cfg->realm[0]) {
		s->realm = strdup(cfg->realm);
		rc = s->realm ? 0 : -ENOMEM;
	} else if (!rc) {
		krb5_context kctx;
		char *def = NULL;
		rc = TJ_EINVAL;
		if (krb5_init_context(&kctx) == 0) {
			if (krb5_get_default_realm(kctx, &def) == 0 && def && def[0]) {
				s->realm = strdup(def);
				rc = s->realm ? 0 : -ENOMEM;
			}
			krb5_free_default_realm(kctx, def);
			krb5_free_context(kctx);
		}
	}
	if (!rc && cfg->hostname && cfg->hostname[0]) {
		const char *svc = cfg->service && cfg->service[0] ? cfg->service : DEFAULT_SERVICE;
		size_t n = strlen(svc) + strlen(cfg->hostname) + strlen(s->realm) + 3;
		s->target = malloc(n);
		if (s->target)
			snprintf(s->target, n, "%s/%s@%s", svc, cfg->hostname, s->realm);
		else
			rc = -ENOMEM;
	}
	if (rc) {
		tj_gss_session_free(&s);
		return rc;
	}
	*s_r = s;
	return 0;
}

void tj_gss_session_free(struct tj_gss_session **sp)
{
	if (!sp || !*sp)
		return;
	struct tj_gss_session *s = *sp;
	*sp = NULL;
	OM_uint32 minor;
	if (s->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &s->ctx, GSS_C_NO_BUFFER);
	if (s->cred != GSS_C_NO_CREDENTIAL)
		gss_release_cred(&minor, &s->cred);
	free(s->keytab);
	free(s->realm);
	free(s->target);
	free(s->chal);
	explicit_bzero(s, sizeof(*s));
	free(s);
}

/* gss_errtext - "major; minor" text of a GSS-API failure, sanitized */
static const char *gss_errtext(OM_uint32 major, OM_uint32 minor, char *out, size_t outsz)
{
	char text[512];
	size_t n = 0;
	text[0] = '\0';
	for (int pass = 0; pass < 2; pass++) {
		OM_uint32 code = pass ? minor : major, m, ctxv = 0;
		int type = pass ? GSS_C_MECH_CODE : GSS_C_GSS_CODE;
		if (pass && !minor)
			break;
		do {
			gss_buffer_desc b = GSS_C_EMPTY_BUFFER;
			if (GSS_ERROR(gss_display_status(&m, code, type, (gss_OID)gss_mech_krb5, &ctxv, &b)))
				break;
			int w = snprintf(text + n, sizeof(text) - n, "%s%.*s", n ? "; " : "", (int)b.length,
					 (const char *)b.value);
			gss_release_buffer(&m, &b);
			if (w < 0 || (size_t)w >= sizeof(text) - n) {
				n = sizeof(text) - 1;
				break;
			}
			n += (size_t)w;
		} while (ctxv != 0);
	}
	return tj_sanitize(out, outsz, text, n);
}

/* fail - end the session with code and reason */
static int fail(struct tj_gss_session *s, struct tj_gss_step_out *out, int code, const char *reason)
{
	s->state = ST_FAILED;
	out->status = TJ_GSS_FAIL;
	out->error = code;
	out->reason = reason;
	out->result = code == -EAGAIN || code == -ENOMEM ? TJ_AUTH_UNAVAILABLE : TJ_AUTH_FAIL;
	return code;
}

/* set_challenge - base64 of buf as the step's challenge */
static int set_challenge(struct tj_gss_session *s, struct tj_gss_step_out *out, const void *buf, size_t len)
{
	free(s->chal);
	s->chal = malloc(4 * ((len + 2) / 3) + 1);
	if (!s->chal)
		return -ENOMEM;
	out->challenge_len = tj_gss_b64_encode(buf, len, s->chal);
	out->challenge = s->chal;
	out->status = TJ_GSS_CONTINUE;
	return 0;
}

/*
 * acquire_cred - the acceptor credentials of the keytab, for any of its
 * keys.  A configured target is checked after acceptance (target_ok)
 * rather than passed here: MIT krb5 1.20 leaks a principal when a named
 * acquire fails on a missing keytab.
 */
static int acquire_cred(struct tj_gss_session *s, struct tj_gss_step_out *out)
{
	OM_uint32 major, minor;
	char msg[LOG_TEXT_MAX];
	gss_key_value_element_desc kv = {"keytab", s->keytab};
	gss_key_value_set_desc store = {1, &kv};
	gss_OID_set_desc mechs = {1, (gss_OID)gss_mech_krb5};
	major = gss_acquire_cred_from(&minor, GSS_C_NO_NAME, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store,
				      &s->cred, NULL, NULL);
	if (GSS_ERROR(major)) {
		s->cred = GSS_C_NO_CREDENTIAL;
		tj_log(TJ_LOG_ERROR, "auth", "event=gssapi-cred keytab=%s result=unavailable error=\"%s\"",
		       s->keytab, gss_errtext(major, minor, msg, sizeof(msg)));
		return fail(s, out, -EAGAIN, "service keytab not usable");
	}
	return 0;
}

/* target_ok - the ticket was for our service principal (or none is set) */
static bool target_ok(struct tj_gss_session *s)
{
	if (!s->target)
		return true;
	OM_uint32 minor, m2;
	gss_name_t targ = GSS_C_NO_NAME;
	gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
	bool ok = false;
	if (!GSS_ERROR(gss_inquire_context(&minor, s->ctx, NULL, &targ, NULL, NULL, NULL, NULL, NULL)) &&
	    !GSS_ERROR(gss_display_name(&minor, targ, &disp, NULL)))
		ok = disp.length == strlen(s->target) && memcmp(disp.value, s->target, disp.length) == 0;
	if (!ok) {
		char tname[LOG_TEXT_MAX];
		tj_sanitize(tname, sizeof(tname), disp.value ? disp.value : "", disp.length);
		tj_log(TJ_LOG_INFO, "auth", "event=gssapi-refused target=%s want=%s reason=\"ticket for another "
		       "service\"", tname, s->target);
	}
	gss_release_buffer(&m2, &disp);
	if (targ != GSS_C_NO_NAME)
		gss_release_name(&m2, &targ);
	return ok;
}

/* security-layer offer: wrap(0x01, max size), integrity only */
static int send_layer_offer(struct tj_gss_session *s, struct tj_gss_step_out *out)
{
	uint8_t offer[4] = {TJ_GSS_LAYER_NONE, (TJ_GSS_SERVER_MAXBUF >> 16) & 0xff,
			    (TJ_GSS_SERVER_MAXBUF >> 8) & 0xff, TJ_GSS_SERVER_MAXBUF & 0xff};
	gss_buffer_desc in = {sizeof(offer), offer}, wrapped = GSS_C_EMPTY_BUFFER;
	OM_uint32 minor;
	char msg[LOG_TEXT_MAX];
	OM_uint32 major = gss_wrap(&minor, s->ctx, 0, GSS_C_QOP_DEFAULT, &in, NULL, &wrapped);
	if (GSS_ERROR(major)) {
		tj_log(TJ_LOG_WARN, "auth", "event=gssapi-wrap result=fail error=\"%s\"",
		       gss_errtext(major, minor, msg, sizeof(msg)));
		return fail(s, out, -EACCES, "cannot wrap the security layer offer");
	}
	int rc = set_challenge(s, out, wrapped.value, wrapped.length);
	gss_release_buffer(&minor, &wrapped);
	if (rc)
		return fail(s, out, rc, "out of memory");
	s->state = ST_WAIT_LAYER;
	return 0;
}

/* one accept_sec_context round with token tok */
static int step_accept(struct tj_gss_session *s, const uint8_t *tok, size_t len, struct tj_gss_step_out *out)
{
	char msg[LOG_TEXT_MAX];
	if (len == 0)
		return fail(s, out, TJ_EPROTO, "empty GSSAPI token");
	if (++s->rounds > TJ_GSS_ROUNDS_MAX)
		return fail(s, out, TJ_EPROTO, "too many GSSAPI rounds");
	if (s->cred == GSS_C_NO_CREDENTIAL) {
		int rc = acquire_cred(s, out);
		if (rc)
			return rc;
	}
	gss_buffer_desc in = {len, (void *)tok}, outtok = GSS_C_EMPTY_BUFFER;
	gss_name_t src = GSS_C_NO_NAME;
	OM_uint32 minor, m2, flags = 0;
	OM_uint32 major = gss_accept_sec_context(&minor, &s->ctx, s->cred, &in, GSS_C_NO_CHANNEL_BINDINGS, &src,
						 NULL, &outtok, &flags, NULL, NULL);
	if (GSS_ERROR(major)) {
		gss_release_buffer(&m2, &outtok);
		if (src != GSS_C_NO_NAME)
			gss_release_name(&m2, &src);
		bool keytab = GSS_ROUTINE_ERROR(major) == GSS_S_NO_CRED ||
			      minor == (OM_uint32)KRB5_KT_NOTFOUND || minor == ENOENT || minor == EACCES;
		tj_log(keytab ? TJ_LOG_ERROR : TJ_LOG_INFO, "auth", "event=gssapi-accept result=%s error=\"%s\"",
		       keytab ? "unavailable" : "fail", gss_errtext(major, minor, msg, sizeof(msg)));
		return keytab ? fail(s, out, -EAGAIN, "service keytab has no key for this ticket")
			      : fail(s, out, -EACCES, "GSSAPI authentication failed");
	}
	if (major & GSS_S_CONTINUE_NEEDED) {
		if (src != GSS_C_NO_NAME)
			gss_release_name(&m2, &src);
		int rc = set_challenge(s, out, outtok.value, outtok.length);
		gss_release_buffer(&m2, &outtok);
		if (rc)
			return fail(s, out, rc, "out of memory");
		s->state = ST_ACCEPT;
		return 0;
	}

	/* complete: for us?  who is it? */
	if (!target_ok(s)) {
		if (src != GSS_C_NO_NAME)
			gss_release_name(&m2, &src);
		gss_release_buffer(&m2, &outtok);
		return fail(s, out, -EACCES, "ticket for another service");
	}
	gss_buffer_desc disp = GSS_C_EMPTY_BUFFER;
	major = gss_display_name(&minor, src, &disp, NULL);
	gss_release_name(&m2, &src);
	if (GSS_ERROR(major) || disp.length == 0 || disp.length > TJ_KRB5_PRINC_MAX ||
	    memchr(disp.value, '\0', disp.length)) {
		gss_release_buffer(&m2, &disp);
		gss_release_buffer(&m2, &outtok);
		return fail(s, out, -EPERM, "unusable client name");
	}
	memcpy(s->principal, disp.value, disp.length);
	s->principal[disp.length] = '\0';
	gss_release_buffer(&m2, &disp);
	char pname[LOG_TEXT_MAX];
	tj_sanitize(pname, sizeof(pname), s->principal, strlen(s->principal));
	if ((flags & GSS_C_ANON_FLAG) ||
	    tj_krb5_principal_to_user(s->principal, s->realm, s->user, sizeof(s->user)) != 0) {
		gss_release_buffer(&m2, &outtok);
		tj_log(TJ_LOG_INFO, "auth", "event=gssapi-refused principal=%s realm=%s reason=\"not a user of "
		       "this realm\"", pname, s->realm);
		return fail(s, out, -EPERM, "principal is not a user of this realm");
	}
	if (outtok.length) { /* mutual auth: the client must see our token first */
		int rc = set_challenge(s, out, outtok.value, outtok.length);
		gss_release_buffer(&m2, &outtok);
		if (rc)
			return fail(s, out, rc, "out of memory");
		s->state = ST_WAIT_EMPTY;
		return 0;
	}
	gss_release_buffer(&m2, &outtok);
	return send_layer_offer(s, out);
}

/* the client's wrapped choice: layer, max size, authzid */
static int step_layer(struct tj_gss_session *s, const uint8_t *tok, size_t len, struct tj_gss_step_out *out)
{
	gss_buffer_desc in = {len, (void *)tok}, plain = GSS_C_EMPTY_BUFFER;
	OM_uint32 minor, m2;
	char msg[LOG_TEXT_MAX];
	OM_uint32 major = gss_unwrap(&minor, s->ctx, &in, &plain, NULL, NULL);
	if (GSS_ERROR(major)) {
		tj_log(TJ_LOG_INFO, "auth", "event=gssapi-unwrap result=fail error=\"%s\"",
		       gss_errtext(major, minor, msg, sizeof(msg)));
		return fail(s, out, TJ_EPROTO, "bad security layer message");
	}
	const uint8_t *p = plain.value;
	size_t n = plain.length;
	int rc = 0;
	const char *why = NULL;
	if (n < 4) {
		rc = TJ_EPROTO, why = "short security layer message";
	} else if (p[0] != TJ_GSS_LAYER_NONE) {
		rc = TJ_EPROTO, why = "security layer not offered";
	} else if (n - 4 > TJ_GSS_AUTHZID_MAX || memchr(p + 4, '\0', n - 4)) {
		rc = -EPERM, why = "bad authorization identity";
	} else {
		memcpy(s->authzid, p + 4, n - 4);
		s->authzid[n - 4] = '\0';
		if (s->authzid[0] && strcmp(s->authzid, s->user) != 0 && strcmp(s->authzid, s->principal) != 0)
			rc = -EPERM, why = "authorization identity is another user";
	}
	gss_release_buffer(&m2, &plain);
	if (rc) {
		char pname[LOG_TEXT_MAX];
		tj_log(TJ_LOG_INFO, "auth", "event=gssapi-refused principal=%s reason=\"%s\"",
		       tj_sanitize(pname, sizeof(pname), s->principal, strlen(s->principal)), why);
		return fail(s, out, rc, why);
	}
	s->state = ST_DONE;
	out->status = TJ_GSS_DONE;
	out->result = TJ_AUTH_OK;
	out->user = s->user;
	out->principal = s->principal;
	out->authzid = s->authzid;
	return 0;
}

int tj_gss_step(struct tj_gss_session *s, const char *in, size_t len, struct tj_gss_step_out *out_r)
{
	if (!out_r)
		return TJ_EINVAL;
	memset(out_r, 0, sizeof(*out_r));
	out_r->status = TJ_GSS_FAIL;
	out_r->result = TJ_AUTH_UNAVAILABLE;
	out_r->error = TJ_EINVAL;
	out_r->reason = "bad arguments";
	if (!s || (!in && len))
		return TJ_EINVAL;
	if (s->state == ST_DONE || s->state == ST_FAILED) {
		out_r->error = TJ_ESTATE;
		out_r->reason = "exchange already ended";
		out_r->result = TJ_AUTH_FAIL;
		return TJ_ESTATE;
	}
	out_r->result = TJ_AUTH_FAIL;
	if (len == 1 && in[0] == '=')
		len = 0;
	if (len > TJ_GSS_B64_MAX)
		return fail(s, out_r, TJ_ETOOBIG, "response too long");

	uint8_t *tok = malloc(3 * (len / 4) + 1);
	if (!tok)
		return fail(s, out_r, -ENOMEM, "out of memory");
	size_t tlen;
	int rc = tj_gss_b64_decode(in, len, tok, &tlen);
	if (rc) {
		free(tok);
		return fail(s, out_r, TJ_EPROTO, "bad base64");
	}

	switch (s->state) {
	case ST_START:
		if (tlen == 0) { /* no SASL-IR: ask for the first token */
			s->state = ST_ACCEPT;
			rc = set_challenge(s, out_r, "", 0);
			if (rc)
				rc = fail(s, out_r, rc, "out of memory");
			break;
		}
		rc = step_accept(s, tok, tlen, out_r);
		break;
	case ST_ACCEPT:
		rc = step_accept(s, tok, tlen, out_r);
		break;
	case ST_WAIT_EMPTY:
		/* RFC 4752: the client answers our last context token with an
		 * empty response; its content, if any, carries nothing */
		rc = send_layer_offer(s, out_r);
		break;
	case ST_WAIT_LAYER:
		rc = step_layer(s, tok, tlen, out_r);
		break;
	case ST_DONE:
	case ST_FAILED:
		rc = fail(s, out_r, TJ_ESTATE, "exchange already ended");
		break;
	}
	free(tok);
	return rc;
}

/*
 * gssapi.h - the server side of SASL GSSAPI (RFC 4752) for IMAP
 * AUTHENTICATE GSSAPI: clients that hold a Kerberos ticket log in
 * without a password.
 *
 * A session is a state machine over the base64 lines of the exchange,
 * with no sockets and no event loop: the IMAP engine feeds each client
 * response (the SASL-IR argument or a continuation line, without CRLF)
 * to tj_gss_step() and sends back what it returns ("+ " and the
 * challenge) until the step says DONE or fails:
 *
 *   1. security context: gss_accept_sec_context() with the acceptor
 *      credentials of the service keytab, as many rounds as the
 *      mechanism needs (one for Kerberos; two with mutual auth, the
 *      second answered by an empty client response);
 *   2. security layer (RFC 4752 3.1): the server sends, wrapped, 4 bytes
 *      (0x01 = "no security layer" is all we offer, max size 0); the
 *      client answers, wrapped, with its choice (must be 0x01), a max
 *      size, and an optional authorization identity;
 *   3. the authenticated principal user@REALM becomes the local user
 *      "user" when REALM is ours; other realms and principals with an
 *      instance (user/admin, host/x) are refused, and so is an authzid
 *      that is not the user itself.
 *
 * Threads: a session belongs to one connection and is used by one thread
 * at a time; sessions are independent, and GSS-API calls may block on
 * reading the keytab (not on the network: accepting needs no KDC), so
 * the engine may run steps on a worker thread or, for small keytabs, on
 * the loop.  Secrets: nothing here logs tokens; names reach the log only
 * through tj_sanitize().
 */
#ifndef TJ_GSSAPI_H
#define TJ_GSSAPI_H

#include "node/auth/auth.h"
#include "node/auth/auth-krb5.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- limits */

/* base64 text of one client response; Kerberos tokens with a large
 * Windows PAC reach 48 KB (MaxTokenSize), so 64 KiB decoded */
#define TJ_GSS_TOKEN_MAX 65536
#define TJ_GSS_B64_MAX (4 * ((TJ_GSS_TOKEN_MAX + 2) / 3))
#define TJ_GSS_ROUNDS_MAX 8        /* accept_sec_context rounds before giving up */
#define TJ_GSS_AUTHZID_MAX TJ_AUTH_USER_MAX

/* RFC 4752 security layer bits */
#define TJ_GSS_LAYER_NONE 0x01
#define TJ_GSS_LAYER_INTEGRITY 0x02
#define TJ_GSS_LAYER_CONFIDENTIALITY 0x04
/* max size we announce: no layer is offered, so nothing protected is ever
 * received (RFC 4752 leaves it unused then; 0 as Cyrus and the SASL list
 * recommend) */
#define TJ_GSS_SERVER_MAXBUF 0

/* ----------------------------------------------------------------- steps */

enum tj_gss_status {
	TJ_GSS_CONTINUE, /* send out->challenge as "+ <challenge>", feed the answer */
	TJ_GSS_DONE,     /* authenticated: out->user may log in (check the store's enabled flag) */
	TJ_GSS_FAIL,     /* refused or broken: answer NO (see out->result, out->error) */
};

struct tj_gss_step_out {
	enum tj_gss_status status;
	/* CONTINUE: base64 text to send after "+ " ("" for an empty
	 * challenge); owned by the session, valid until the next step or
	 * free.  NULL otherwise. */
	const char *challenge;
	size_t challenge_len;
	/* DONE: the local user name, the full principal ("user1@TEST.REALM")
	 * and the authzid the client sent ("" for none); owned by the
	 * session, valid until it is freed.  NULL otherwise. */
	const char *user;
	const char *principal;
	const char *authzid;
	/* DONE: TJ_AUTH_OK.  FAIL: TJ_AUTH_FAIL (NO [AUTHENTICATIONFAILED],
	 * or [AUTHORIZATIONFAILED] when error is -EPERM) or
	 * TJ_AUTH_UNAVAILABLE (NO [UNAVAILABLE]: keytab unreadable...). */
	enum tj_auth_result result;
	/* FAIL: the code tj_gss_step() returned */
	int error;
	/* FAIL: a short fixed phrase, safe to log or send; NULL otherwise */
	const char *reason;
};

struct tj_gss_session;

/*
 * tj_gss_session_new - start an AUTHENTICATE GSSAPI exchange.  Uses
 * cfg->keytab, cfg->realm (NULL or "": the default realm of the
 * environment's krb5.conf), cfg->service and cfg->hostname: with a
 * hostname, only tickets for service/hostname@REALM are accepted (checked
 * after acceptance: -EACCES otherwise); without, a ticket for any key in
 * the keytab (use a keytab that holds this service's keys only).  The
 * keytab is read at the first step, so a bad keytab shows as a FAIL with
 * result TJ_AUTH_UNAVAILABLE there.  GSS-API reads krb5.conf from the
 * environment (KRB5_CONFIG), never cfg->krb5_config.
 * @return 0 and *s_r; TJ_EINVAL (no keytab, no realm known); -ENOMEM.
 */
int tj_gss_session_new(const struct tj_auth_krb5_config *cfg, struct tj_gss_session **s_r);

/*
 * tj_gss_step - feed one client response.
 *
 * in/len is the base64 text as the client sent it, without CRLF; len 0
 * (or "=") is an empty response.  The IMAP engine handles "*" (cancel)
 * itself.  An empty first response (AUTHENTICATE GSSAPI without SASL-IR)
 * gets CONTINUE with an empty challenge.
 *
 * @return 0 with out_r->status CONTINUE or DONE; or a negative code with
 *   status FAIL, result and reason set:
 *   TJ_EPROTO   bad base64, a malformed token or security-layer message,
 *               a layer other than "none" chosen, too many rounds;
 *   TJ_ETOOBIG  a response over TJ_GSS_B64_MAX;
 *   -EACCES     GSS-API refused the client's token (bad or expired
 *               ticket, wrong key, replay, skew): result FAIL;
 *   -EPERM      authenticated, but not as one of our users (foreign
 *               realm, principal with an instance, anonymous, authzid of
 *               someone else): result FAIL, IMAP [AUTHORIZATIONFAILED];
 *   -EAGAIN     the acceptor credentials cannot be had (keytab missing,
 *               unreadable, without the service key): result UNAVAILABLE;
 *   TJ_ESTATE   a step after DONE or FAIL;
 *   TJ_EINVAL   NULL arguments; -ENOMEM.
 * After a FAIL the session only accepts tj_gss_session_free().
 */
int tj_gss_step(struct tj_gss_session *s, const char *in, size_t len, struct tj_gss_step_out *out_r);

/* tj_gss_session_free - free *s (NULL is fine; the GSS context is
 * deleted) and set *s = NULL. */
void tj_gss_session_free(struct tj_gss_session **s);

/* ---------------------------------------------------------- pure helpers */

/*
 * tj_krb5_principal_to_user - map a displayed principal to a local user
 * name: "user@REALM" with REALM byte-equal to realm gives "user".  Pure.
 * @return 0 and user_r (NUL-terminated); -EPERM (another realm, no realm,
 *   an instance or escaped character such as user/admin or a\@b, a name
 *   tj_krb5_user_valid() refuses); TJ_ETOOBIG (user_size too small);
 *   TJ_EINVAL (NULL).
 */
int tj_krb5_principal_to_user(const char *principal, const char *realm, char *user_r, size_t user_size);

/*
 * tj_gss_b64_encode / tj_gss_b64_decode - RFC 4648 base64 as SASL uses it.
 * encode: out must hold 4 * ((len + 2) / 3) + 1 bytes; NUL-terminated;
 * returns the text length.  decode: canonical input only (alphabet, '='
 * padding to a multiple of 4, no whitespace, zero unused bits); out must
 * hold 3 * (len / 4) bytes.  @return 0 and *out_len_r, or TJ_EPROTO.
 */
size_t tj_gss_b64_encode(const uint8_t *in, size_t len, char *out);
int tj_gss_b64_decode(const char *in, size_t len, uint8_t *out, size_t *out_len_r);

#endif

/*
 * test-imap-gssapi.c - AUTHENTICATE GSSAPI (RFC 4752) through the IMAP
 * session engine: client bytes in, server bytes compared, against a real
 * store in a temp dir.  The client side is written here with
 * gss_init_sec_context for imap@localhost, as an IMAP client library
 * does it, with a ticket that kinit got from a real KDC (Debian's
 * krb5kdc, started per case on a free loopback port in the case's temp
 * directory; recipe: TESTING.md, helpers copied from
 * tests/node/auth-krb5/test-auth-krb5.c).  Without the KDC packages the
 * KDC cases print "skipped: ..." and pass; the others always run.
 */
#include "tests/harness.h"
#include "common/err.h"
#include "common/log.h"
#include "node/auth/auth-krb5.h"
#include "node/auth/gssapi.h"
#include "node/imap/imap-session.h"
#include "tests/store/store-testlib.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#define KDC_EXTRA_SERVICE "smtp/localhost" /* a ticket for another service */
#include "tests/node/kdc-testlib.h"

/* ------------------------------------------------- the GSS-API client */

static char *b64(const void *p, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);
	TJ_ASSERT(out != NULL);
	tj_gss_b64_encode(p, n, out);
	return out;
}

/* one gss_init_sec_context round: challenge (base64) in, response out (malloc'd base64) */
static char *client_step(struct gss_client *c, const char *chal)
{
	uint8_t *in = malloc(strlen(chal) + 4);
	size_t inlen;
	TJ_ASSERT(in != NULL);
	TJ_OKRC(tj_gss_b64_decode(chal, strlen(chal), in, &inlen));
	gss_buffer_desc ib = {inlen, in}, ob = GSS_C_EMPTY_BUFFER;
	OM_uint32 minor, flags;
	OM_uint32 major = gss_init_sec_context(&minor, GSS_C_NO_CREDENTIAL, &c->ctx, c->target,
					       (gss_OID)gss_mech_krb5, GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG, 0,
					       GSS_C_NO_CHANNEL_BINDINGS, inlen ? &ib : GSS_C_NO_BUFFER, NULL, &ob,
					       &flags, NULL);
	free(in);
	if (GSS_ERROR(major))
		TJ_FAIL("gss_init_sec_context: major %#x minor %d", major, (int)minor);
	c->complete = !(major & GSS_S_CONTINUE_NEEDED);
	char *out = b64(ob.value, ob.length);
	gss_release_buffer(&minor, &ob);
	return out;
}

/* the client's RFC 4752 answer to the server's wrapped layer offer */
static char *client_layer(struct gss_client *c, const char *chal, const char *authzid)
{
	OM_uint32 minor;
	uint8_t *in = malloc(strlen(chal) + 4);
	size_t inlen;
	TJ_ASSERT(in != NULL);
	TJ_OKRC(tj_gss_b64_decode(chal, strlen(chal), in, &inlen));
	gss_buffer_desc ib = {inlen, in}, pb = GSS_C_EMPTY_BUFFER;
	TJ_ASSERT(!GSS_ERROR(gss_unwrap(&minor, c->ctx, &ib, &pb, NULL, NULL)));
	free(in);
	TJ_ASSERT_INT(pb.length, ==, 4);
	TJ_ASSERT_INT(((const uint8_t *)pb.value)[0], ==, TJ_GSS_LAYER_NONE);
	gss_release_buffer(&minor, &pb);

	size_t alen = strlen(authzid);
	uint8_t msg[4 + 300];
	TJ_ASSERT(alen <= 300);
	msg[0] = TJ_GSS_LAYER_NONE;
	msg[1] = msg[2] = msg[3] = 0;
	memcpy(msg + 4, authzid, alen);
	gss_buffer_desc mb = {4 + alen, msg}, wb = GSS_C_EMPTY_BUFFER;
	TJ_ASSERT(!GSS_ERROR(gss_wrap(&minor, c->ctx, 0, GSS_C_QOP_DEFAULT, &mb, NULL, &wb)));
	char *out = b64(wb.value, wb.length);
	gss_release_buffer(&minor, &wb);
	return out;
}

/* ------------------------------------------------- the IMAP side */

static int fake_auth(void *ctx, const char *user, const char *pass)
{
	(void)ctx;
	(void)user;
	(void)pass;
	return IMAP_AUTH_FAIL; /* GSSAPI never asks for a password check */
}

struct fx {
	tj_store *st;
	imap_notify *n;
	char store_dir[400];
};

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	path_join(f->store_dir, sizeof(f->store_dir), tj_test_tmpdir(), "store");
	TJ_ASSERT_INT(mkdir(f->store_dir, 0700), ==, 0);
	f->st = t_open(f->store_dir);
	TJ_OKRC(imap_notify_new(&f->n));
}

static void fx_close(struct fx *f)
{
	imap_notify_free(&f->n);
	tj_store_close(&f->st);
}

static void user_put(struct fx *f, const char *name, int state)
{
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)name, strlen(name)}, .user_state = (uint8_t)state};
	TJ_OKRC(tj_store_exec(f->st, &op, NULL));
}

static imap_session *sess(struct fx *f, const struct tj_auth_krb5_config *gcfg, bool logindisabled)
{
	imap_session_config c = {.store = f->st, .notify = f->n, .auth = fake_auth, .logindisabled = logindisabled,
				 .greeting = "test ready.", .gssapi = gcfg};
	imap_session *s = NULL;
	TJ_OKRC(imap_session_new(&c, &s));
	return s;
}

/* out - all output so far, as a string (static buffer, replaced each call) */
static const char *out(imap_session *s)
{
	static tj_buf b = TJ_BUF_INIT;
	tj_buf_reset(&b);
	TJ_OKRC(imap_session_output(s, &b));
	return b.data ? (const char *)b.data : "";
}

static const char *io(imap_session *s, const char *text)
{
	TJ_OKRC(imap_session_feed(s, text, strlen(text)));
	TJ_OKRC(imap_session_run(s));
	return out(s);
}

/* io_line - send one line (CRLF appended) */
static const char *io_line(imap_session *s, const char *line)
{
	TJ_OKRC(imap_session_feed(s, line, strlen(line)));
	TJ_OKRC(imap_session_feed(s, "\r\n", 2));
	TJ_OKRC(imap_session_run(s));
	return out(s);
}

#define EXPECT(got, want) TJ_ASSERT_STR(got, want)
#define CONTAINS(got, needle)                                                                    \
	do {                                                                                     \
		const char *g_ = (got);                                                           \
		if (!strstr(g_, (needle)))                                                        \
			TJ_FAIL("expected \"%s\" in:\n%s", (needle), g_);                         \
	} while (0)
#define LACKS(got, needle)                                                                       \
	do {                                                                                     \
		const char *g_ = (got);                                                           \
		if (strstr(g_, (needle)))                                                         \
			TJ_FAIL("did not expect \"%s\" in:\n%s", (needle), g_);                   \
	} while (0)

/*
 * imap_gss - a whole AUTHENTICATE GSSAPI as a client does it, for the
 * ticket of `target` ("imap@localhost").  sasl_ir: the first token goes
 * with the command.  abort_after: send "*" instead of the response to the
 * n-th challenge (0 = never).  Returns the tagged completion (a static
 * copy); *rounds_r the number of "+ " challenges seen.
 */
static const char *imap_gss(imap_session *s, const char *tag, const char *target, bool sasl_ir, const char *authzid,
			    int abort_after, int *rounds_r)
{
	static char last[1024];
	struct gss_client c;
	client_init(&c, target);
	tj_buf cmd = TJ_BUF_INIT;
	const char *o;
	if (sasl_ir) {
		char *tok = client_step(&c, "");
		TJ_OKRC(tj_buf_printf(&cmd, "%s AUTHENTICATE GSSAPI %s", tag, tok));
		free(tok);
	} else {
		TJ_OKRC(tj_buf_printf(&cmd, "%s AUTHENTICATE GSSAPI", tag));
	}
	TJ_OKRC(tj_buf_append(&cmd, "", 1));
	o = io_line(s, (const char *)cmd.data);
	tj_buf_free(&cmd);
	int rounds = 0;
	bool started = sasl_ir;
	while (strncmp(o, "+ ", 2) == 0) {
		TJ_ASSERT(rounds++ < 10);
		const char *eol = strstr(o, "\r\n");
		TJ_ASSERT(eol != NULL && eol[2] == 0); /* one line, nothing else */
		char *chal = strndup(o + 2, (size_t)(eol - o - 2));
		TJ_ASSERT(chal != NULL);
		char *resp;
		if (abort_after && rounds == abort_after)
			resp = strdup("*");
		else if (!started || !c.complete)
			resp = client_step(&c, chal);
		else
			resp = client_layer(&c, chal, authzid);
		started = true;
		free(chal);
		TJ_ASSERT(resp != NULL);
		o = io_line(s, resp);
		free(resp);
	}
	client_free(&c);
	snprintf(last, sizeof(last), "%s", o);
	if (rounds_r)
		*rounds_r = rounds;
	return last;
}

static struct tj_auth_krb5_config gss_cfg(const struct kdc *k)
{
	return (struct tj_auth_krb5_config){.realm = REALM, .keytab = k->keytab, .service = "imap",
					    .hostname = "localhost"};
}

/* ------------------------------------------------- cases without a KDC */

TJ_TEST(capability_lists_gssapi_when_configured)
{
	case_begin();
	struct fx f;
	fx_open(&f);
	struct tj_auth_krb5_config cfg = {.realm = REALM, .keytab = "/nonexistent/keytab", .hostname = "localhost"};

	imap_session *s = sess(&f, NULL, false);
	const char *g = out(s);
	CONTAINS(g, " AUTH=PLAIN]");
	LACKS(g, "AUTH=GSSAPI");
	EXPECT(io(s, "a AUTHENTICATE GSSAPI\r\n"), "a NO [CANNOT] Unsupported authentication mechanism.\r\n");
	imap_session_free(&s);

	s = sess(&f, &cfg, false);
	CONTAINS(out(s), " AUTH=PLAIN AUTH=GSSAPI] test ready.\r\n");
	CONTAINS(io(s, "b CAPABILITY\r\n"), " AUTH=PLAIN AUTH=GSSAPI\r\nb OK Capability completed.\r\n");
	imap_session_free(&s);

	/* LOGINDISABLED (plaintext, not loopback): no PLAIN, GSSAPI still */
	s = sess(&f, &cfg, true);
	g = out(s);
	CONTAINS(g, " LOGINDISABLED AUTH=GSSAPI]");
	LACKS(g, "AUTH=PLAIN");
	EXPECT(io(s, "c AUTHENTICATE GSSAPI\r\n"), "+ \r\n");
	EXPECT(io(s, "*\r\n"), "c BAD Authentication aborted by client.\r\n");
	imap_session_free(&s);
	fx_close(&f);
	case_end();
}

TJ_TEST(abort_garbage_and_missing_keytab)
{
	case_begin();
	struct fx f;
	fx_open(&f);
	user_put(&f, "user1", TJ_USER_ENABLED);
	char missing[400];
	path_join(missing, sizeof(missing), tj_test_tmpdir(), "missing.keytab");
	struct tj_auth_krb5_config cfg = {.realm = REALM, .keytab = missing, .service = "imap",
					  .hostname = "localhost"};
	imap_session *s = sess(&f, &cfg, false);
	out(s);
	/* "*" aborts: BAD, not a failed login */
	EXPECT(io(s, "a AUTHENTICATE GSSAPI\r\n"), "+ \r\n");
	EXPECT(io(s, "*\r\n"), "a BAD Authentication aborted by client.\r\n");
	/* the keytab is read at the first token: unavailable, not counted */
	for (int i = 0; i < 4; i++) {
		EXPECT(io(s, "b AUTHENTICATE GSSAPI\r\n"), "+ \r\n");
		EXPECT(io(s, "YWJjZA==\r\n"),
		       "b NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n");
	}
	EXPECT(io(s, "c AUTHENTICATE GSSAPI YWJjZA==\r\n"),
	       "c NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n");
	EXPECT(io(s, "c2 authenticate gssapi =\r\n"), "+ \r\n"); /* "=" is an empty initial response */
	EXPECT(io(s, "*\r\n"), "c2 BAD Authentication aborted by client.\r\n");
	/* pipelined: the command and its response in one read */
	EXPECT(io(s, "c3 AUTHENTICATE GSSAPI\r\n*\r\nc4 NOOP\r\n"),
	       "+ \r\nc3 BAD Authentication aborted by client.\r\nc4 OK NOOP completed.\r\n");
	TJ_ASSERT(imap_session_user(s) == NULL);
	/* malformed tokens are failed logins: three, then BYE */
	EXPECT(io(s, "d AUTHENTICATE GSSAPI\r\n"), "+ \r\n");
	EXPECT(io(s, "not-base64!\r\n"), "d NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	EXPECT(io(s, "e AUTHENTICATE GSSAPI Zg=\r\n"), "e NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	EXPECT(io(s, "f AUTHENTICATE GSSAPI !!!!\r\n"),
	       "f NO [AUTHENTICATIONFAILED] Authentication failed.\r\n* BYE Too many authentication failures.\r\n");
	TJ_ASSERT(imap_session_wants_close(s));
	imap_session_free(&s);

	/* an exchange in progress is dropped with the session, without leaks */
	s = sess(&f, &cfg, false);
	out(s);
	EXPECT(io(s, "g AUTHENTICATE GSSAPI\r\n"), "+ \r\n");
	imap_session_free(&s);
	fx_close(&f);
	case_end();
}

/* ------------------------------------------------- cases with a KDC */

TJ_TEST(gssapi_login_with_kinit_ticket)
{
	case_begin();
	struct kdc k;
	KDC_KINIT_OR_SKIP(&k);
	struct fx f;
	fx_open(&f);
	struct tj_auth_krb5_config cfg = gss_cfg(&k);
	int rounds = 0;

	/* a good ticket, but the store does not know user1: NO */
	imap_session *s = sess(&f, &cfg, false);
	out(s);
	EXPECT(imap_gss(s, "a", "imap@localhost", true, "", 0, NULL),
	       "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	TJ_ASSERT(imap_session_user(s) == NULL);

	/* user1 created: without SASL-IR (empty challenge, then the
	 * context rounds, then the security layer) */
	user_put(&f, "user1", TJ_USER_ENABLED);
	const char *o = imap_gss(s, "b", "imap@localhost", false, "", 0, &rounds);
	CONTAINS(o, "b OK [CAPABILITY IMAP4rev1 ");
	CONTAINS(o, "] Logged in.\r\n");
	LACKS(o, "AUTH=");
	TJ_ASSERT_INT(rounds, >=, 3); /* "+ ", mutual-auth token, layer offer */
	TJ_ASSERT_STR(imap_session_user(s), "user1");
	/* the authenticated state */
	CONTAINS(io(s, "c CREATE INBOX.x\r\n"), "c OK");
	CONTAINS(io(s, "d LIST \"\" *\r\n"), "d OK");
	EXPECT(io(s, "e AUTHENTICATE GSSAPI\r\n"), "e BAD Command not allowed after authentication.\r\n");
	imap_session_free(&s);

	/* with SASL-IR, authzid = the user itself */
	s = sess(&f, &cfg, true); /* LOGINDISABLED does not stop GSSAPI */
	out(s);
	o = imap_gss(s, "f", "imap@localhost", true, "user1", 0, &rounds);
	CONTAINS(o, "f OK [CAPABILITY IMAP4rev1 ");
	TJ_ASSERT_INT(rounds, >=, 2);
	TJ_ASSERT_STR(imap_session_user(s), "user1");
	CONTAINS(io(s, "g SELECT INBOX.x\r\n"), "g OK [READ-WRITE]");
	imap_session_free(&s);

	/* the realm from the environment's krb5.conf (KRB5_CONFIG) */
	struct tj_auth_krb5_config cfg2 = cfg;
	cfg2.realm = NULL;
	s = sess(&f, &cfg2, false);
	out(s);
	CONTAINS(imap_gss(s, "h", "imap@localhost", true, "", 0, NULL), "h OK [CAPABILITY ");
	imap_session_free(&s);

	/* a disabled account: NO, like LOGIN */
	user_put(&f, "user1", TJ_USER_DISABLED);
	s = sess(&f, &cfg, false);
	out(s);
	EXPECT(imap_gss(s, "i", "imap@localhost", false, "", 0, NULL),
	       "i NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	TJ_ASSERT(imap_session_user(s) == NULL);
	imap_session_free(&s);
	fx_close(&f);
	kdc_stop(&k);
	case_end();
}

TJ_TEST(gssapi_refusals_over_imap)
{
	case_begin();
	struct kdc k;
	KDC_KINIT_OR_SKIP(&k);
	struct fx f;
	fx_open(&f);
	user_put(&f, "user1", TJ_USER_ENABLED);
	user_put(&f, "user2", TJ_USER_ENABLED);
	struct tj_auth_krb5_config cfg = gss_cfg(&k);
	imap_session *s = sess(&f, &cfg, false);
	out(s);

	/* a ticket for another service (smtp/localhost, whose key the keytab
	 * holds too): refused */
	EXPECT(imap_gss(s, "a", "smtp@localhost", true, "", 0, NULL),
	       "a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	/* "*" in the middle of the exchange: BAD, not counted */
	EXPECT(imap_gss(s, "b", "imap@localhost", true, "", 1, NULL), "b BAD Authentication aborted by client.\r\n");
	EXPECT(imap_gss(s, "c", "imap@localhost", false, "", 2, NULL), "c BAD Authentication aborted by client.\r\n");
	/* authenticated as user1, asking to act as user2 */
	EXPECT(imap_gss(s, "d", "imap@localhost", true, "user2", 0, NULL),
	       "d NO [AUTHORIZATIONFAILED] Not authorized as a user of this server.\r\n");
	TJ_ASSERT(imap_session_user(s) == NULL);
	/* two failures so far; the session still works */
	CONTAINS(imap_gss(s, "e", "imap@localhost", true, "", 0, NULL), "e OK [CAPABILITY ");
	TJ_ASSERT_STR(imap_session_user(s), "user1");
	imap_session_free(&s);

	/* the third failure says BYE */
	s = sess(&f, &cfg, false);
	out(s);
	EXPECT(imap_gss(s, "f", "smtp@localhost", true, "", 0, NULL),
	       "f NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	EXPECT(io(s, "g LOGIN user1 wrong\r\n"), "g NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
	EXPECT(imap_gss(s, "h", "imap@localhost", true, "user2", 0, NULL),
	       "h NO [AUTHORIZATIONFAILED] Not authorized as a user of this server.\r\n"
	       "* BYE Too many authentication failures.\r\n");
	TJ_ASSERT(imap_session_wants_close(s));
	imap_session_free(&s);

	/* a keytab that is not there, with a real ticket: unavailable */
	char missing[400];
	path_join(missing, sizeof(missing), k.dir, "missing.keytab");
	struct tj_auth_krb5_config cfg2 = cfg;
	cfg2.keytab = missing;
	s = sess(&f, &cfg2, false);
	out(s);
	EXPECT(imap_gss(s, "i", "imap@localhost", true, "", 0, NULL),
	       "i NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n");
	EXPECT(imap_gss(s, "j", "imap@localhost", false, "", 0, NULL),
	       "j NO [UNAVAILABLE] Authentication service unavailable, try again later.\r\n");
	TJ_ASSERT(!imap_session_wants_close(s));
	imap_session_free(&s);
	fx_close(&f);
	kdc_stop(&k);
	case_end();
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

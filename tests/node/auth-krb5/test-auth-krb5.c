/*
 * test-auth-krb5.c - the Kerberos password backend and SASL GSSAPI
 * against real KDCs: each case that needs one starts Debian's krb5kdc
 * in its own temp directory on a free loopback port (recipe:
 * TESTING.md), with user1 (password), locked1 (-allow_tix) and
 * imap/localhost in a keytab, and stops it by pid.  Without the KDC
 * packages, or when krb5kdc cannot start, those cases print
 * "skipped: ..." and pass; the pure cases always run.
 */
#include "tests/harness.h"
#include "common/err.h"
#include "common/log.h"
#include "node/auth/auth-krb5.h"
#include "node/auth/gssapi.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_krb5.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include "tests/node/kdc-testlib.h"

static struct tj_auth_backend *open_backend(const struct kdc *k, const char *keytab, const char *krb5_config)
{
	struct tj_auth_krb5_config cfg = {
		.realm = REALM,
		.keytab = keytab ? keytab : k->keytab,
		.service = "imap",
		.hostname = "localhost",
		.krb5_config = krb5_config,
	};
	struct tj_auth_backend *be = NULL;
	TJ_OKRC(tj_auth_krb5_open(&cfg, &be));
	TJ_ASSERT(be != NULL);
	return be;
}

static enum tj_auth_result check(struct tj_auth_backend *be, const char *user, const char *pw)
{
	enum tj_auth_result r = TJ_AUTH_OK;
	TJ_OKRC(tj_auth_check(be, user, pw, &r));
	return r;
}

/* ------------------------------------------------- pure: no KDC needed */

TJ_TEST(krb5_user_names)
{
	case_begin();
	TJ_ASSERT(tj_krb5_user_valid("user1", 5));
	TJ_ASSERT(tj_krb5_user_valid("j\xc3\xa9r\xc3\xb4me", 8));
	TJ_ASSERT(!tj_krb5_user_valid("", 0));
	TJ_ASSERT(!tj_krb5_user_valid("user1@OTHER", 11));
	TJ_ASSERT(!tj_krb5_user_valid("user1/admin", 11));
	TJ_ASSERT(!tj_krb5_user_valid("a\\b", 3));
	TJ_ASSERT(!tj_krb5_user_valid("a b", 3));

	char u[TJ_AUTH_USER_MAX + 1];
	TJ_OKRC(tj_krb5_principal_to_user("user1@TEST.REALM", "TEST.REALM", u, sizeof(u)));
	TJ_ASSERT_STR(u, "user1");
	TJ_ASSERT_INT(tj_krb5_principal_to_user("user1@OTHER.REALM", "TEST.REALM", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("user1@test.realm", "TEST.REALM", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("user1", "TEST.REALM", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("user1/admin@TEST.REALM", "TEST.REALM", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("a\\@b@TEST.REALM", "TEST.REALM", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("@TEST.REALM", "TEST.REALM", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("user1@", "", u, sizeof(u)), ==, -EPERM);
	TJ_ASSERT_INT(tj_krb5_principal_to_user("user1@TEST.REALM", "TEST.REALM", u, 5), ==, TJ_ETOOBIG);
	case_end();
}

TJ_TEST(gss_base64)
{
	case_begin();
	const char *vec[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
				{"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char enc[16];
		uint8_t dec[16];
		size_t n;
		size_t el = tj_gss_b64_encode((const uint8_t *)vec[i][0], strlen(vec[i][0]), enc);
		TJ_ASSERT_STR(enc, vec[i][1]);
		TJ_ASSERT_INT(el, ==, strlen(vec[i][1]));
		TJ_OKRC(tj_gss_b64_decode(vec[i][1], strlen(vec[i][1]), dec, &n));
		TJ_ASSERT_MEM(dec, n, vec[i][0], strlen(vec[i][0]));
	}
	const char *bad[] = {"Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm 9", "Zm9v\n", "=Zm9", "Zm-v"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t dec[16];
		size_t n;
		if (tj_gss_b64_decode(bad[i], strlen(bad[i]), dec, &n) != TJ_EPROTO)
			TJ_FAIL("accepted bad base64 \"%s\"", bad[i]);
	}
	case_end();
}

TJ_TEST(krb5_open_refuses_bad_config)
{
	case_begin();
	struct tj_auth_backend *be = (struct tj_auth_backend *)1;
	struct tj_auth_krb5_config cfg = {.realm = REALM};
	TJ_ASSERT_INT(tj_auth_krb5_open(&cfg, &be), ==, TJ_EINVAL); /* no keytab */
	TJ_ASSERT(be == NULL);
	TJ_ASSERT_INT(tj_auth_krb5_open(NULL, &be), ==, TJ_EINVAL);
	struct tj_gss_session *s = (struct tj_gss_session *)1;
	TJ_ASSERT_INT(tj_gss_session_new(&cfg, &s), ==, TJ_EINVAL);
	TJ_ASSERT(s == NULL);
	case_end();
}

/* a session refuses garbage before it ever needs a keytab or a KDC */
TJ_TEST(gss_refuses_garbage)
{
	case_begin();
	struct tj_auth_krb5_config cfg = {.realm = REALM, .keytab = "/nonexistent/keytab"};
	struct tj_gss_session *s;
	struct tj_gss_step_out out;

	TJ_OKRC(tj_gss_session_new(&cfg, &s));
	TJ_ASSERT_INT(tj_gss_step(s, "not base64!", 11, &out), ==, TJ_EPROTO);
	TJ_ASSERT_INT(out.status, ==, TJ_GSS_FAIL);
	TJ_ASSERT_INT(out.result, ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(tj_gss_step(s, "", 0, &out), ==, TJ_ESTATE); /* over after a FAIL */
	tj_gss_session_free(&s);
	TJ_ASSERT(s == NULL);

	/* no SASL-IR: an empty challenge first; then the keytab is missing */
	TJ_OKRC(tj_gss_session_new(&cfg, &s));
	TJ_OKRC(tj_gss_step(s, "", 0, &out));
	TJ_ASSERT_INT(out.status, ==, TJ_GSS_CONTINUE);
	TJ_ASSERT_STR(out.challenge, "");
	TJ_ASSERT_INT(tj_gss_step(s, "YWJjZA==", 8, &out), ==, -EAGAIN);
	TJ_ASSERT_INT(out.result, ==, TJ_AUTH_UNAVAILABLE);
	tj_gss_session_free(&s);

	/* too long */
	size_t big = TJ_GSS_B64_MAX + 4;
	char *b = malloc(big);
	TJ_ASSERT(b != NULL);
	memset(b, 'A', big);
	TJ_OKRC(tj_gss_session_new(&cfg, &s));
	TJ_ASSERT_INT(tj_gss_step(s, b, big, &out), ==, TJ_ETOOBIG);
	tj_gss_session_free(&s);
	free(b);
	tj_gss_session_free(&s); /* NULL is fine */
	case_end();
}

/* ------------------------------------------------- password checks */

TJ_TEST(krb5_right_password_accepted)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	struct tj_auth_backend *be = open_backend(&k, NULL, NULL);
	TJ_ASSERT_STR(tj_auth_backend_name(be), "krb5");
	TJ_ASSERT_STR(tj_auth_krb5_service_principal(be), "imap/localhost@" REALM);
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_OK);
	tj_auth_backend_free(&be);
	TJ_ASSERT(be == NULL);
	kdc_stop(&k);
	case_end();
}

TJ_TEST(krb5_wrong_password_and_unknown_user_refused_alike)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	struct tj_auth_backend *be = open_backend(&k, NULL, NULL);
	TJ_ASSERT_INT(check(be, "user1", "wrong"), ==, TJ_AUTH_FAIL); /* warm-up */
	double t0 = now_s();
	for (int i = 0; i < 5; i++)
		TJ_ASSERT_INT(check(be, "user1", "wrong"), ==, TJ_AUTH_FAIL);
	double t1 = now_s();
	for (int i = 0; i < 5; i++)
		TJ_ASSERT_INT(check(be, "nosuchuser", "secret1"), ==, TJ_AUTH_FAIL);
	double t2 = now_s();
	/* a right password on a locked principal is no different */
	TJ_ASSERT_INT(check(be, "locked1", "secret2"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "locked1", "wrong"), ==, TJ_AUTH_FAIL);
	/* names that are no local user: still a KDC round trip, then FAIL */
	TJ_ASSERT_INT(check(be, "user1@OTHER.REALM", "secret1"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "user1/admin", "secret1"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "", "secret1"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "user1", ""), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "user1", "secret1\r\n"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "User1", "secret1"), ==, TJ_AUTH_FAIL); /* principals are case-sensitive */
	printf("  mean: wrong password %.1f ms, unknown user %.1f ms\n", (t1 - t0) * 200, (t2 - t1) * 200);
	TJ_ASSERT(t1 - t0 < 5.0 && t2 - t1 < 5.0);
	tj_auth_backend_free(&be);
	kdc_stop(&k);
	case_end();
}

TJ_TEST(krb5_kdc_down_is_unavailable)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	struct tj_auth_backend *be = open_backend(&k, NULL, NULL);
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_OK);
	kdc_stop(&k);
	double t0 = now_s();
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_UNAVAILABLE);
	TJ_ASSERT_INT(check(be, "user1", "wrong"), ==, TJ_AUTH_UNAVAILABLE);
	TJ_ASSERT_INT(check(be, "nosuchuser", "x"), ==, TJ_AUTH_UNAVAILABLE);
	TJ_ASSERT(now_s() - t0 < 30.0);
	tj_auth_backend_free(&be);
	case_end();
}

TJ_TEST(krb5_keytab_missing_is_unavailable)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	char missing[400];
	path_join(missing, sizeof(missing), k.dir, "no-such.keytab");
	struct tj_auth_backend *be = open_backend(&k, missing, NULL);
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_UNAVAILABLE);
	TJ_ASSERT_INT(check(be, "user1", "wrong"), ==, TJ_AUTH_FAIL); /* refused before the keytab matters */
	tj_auth_backend_free(&be);

	/* a keytab without the service key (service "pop") fails closed */
	struct tj_auth_krb5_config cfg = {.realm = REALM, .keytab = k.keytab, .service = "pop",
					  .hostname = "localhost"};
	TJ_OKRC(tj_auth_krb5_open(&cfg, &be));
	TJ_ASSERT_INT(check(be, "user1", "secret1"), !=, TJ_AUTH_OK);
	tj_auth_backend_free(&be);
	kdc_stop(&k);
	case_end();
}

/*
 * A spoofed KDC: its own database for the same realm, where the attacker
 * set user1's password.  The client (our backend, through krb5_config)
 * talks to it; the keytab is the real one.  The TGT is "good" but the
 * service ticket does not decrypt with our keytab: refused.  With the
 * spoofed KDC's own keytab the same login works, so the refusal is the
 * verification's doing.
 */
TJ_TEST(krb5_spoofed_kdc_refused)
{
	case_begin();
	struct kdc real, spoof;
	KDC_OR_SKIP(&real, "real", "secret1");
	KDC_OR_SKIP(&spoof, "spoof", "evil");
	kdc_env(&real);
	struct tj_auth_backend *be = open_backend(&real, real.keytab, spoof.conf);
	TJ_ASSERT_INT(check(be, "user1", "evil"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_FAIL);
	tj_auth_backend_free(&be);

	be = open_backend(&real, spoof.keytab, spoof.conf); /* control */
	TJ_ASSERT_INT(check(be, "user1", "evil"), ==, TJ_AUTH_OK);
	tj_auth_backend_free(&be);

	be = open_backend(&real, NULL, real.conf); /* the real one still works */
	TJ_ASSERT_INT(check(be, "user1", "secret1"), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "user1", "evil"), ==, TJ_AUTH_FAIL);
	tj_auth_backend_free(&be);
	kdc_stop(&spoof);
	kdc_stop(&real);
	case_end();
}

struct thread_arg {
	struct tj_auth_backend *be;
	int bad;
};

static void *check_thread(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 5; i++) {
		enum tj_auth_result r1, r2;
		if (tj_auth_check(a->be, "user1", "secret1", &r1) != 0 || r1 != TJ_AUTH_OK)
			a->bad++;
		if (tj_auth_check(a->be, "user1", "nope", &r2) != 0 || r2 != TJ_AUTH_FAIL)
			a->bad++;
	}
	return NULL;
}

TJ_TEST(krb5_checks_on_many_threads)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	struct tj_auth_backend *be = open_backend(&k, NULL, NULL);
	pthread_t th[4];
	struct thread_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){be, 0};
		TJ_ASSERT_INT(pthread_create(&th[i], NULL, check_thread, &args[i]), ==, 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		TJ_ASSERT_INT(args[i].bad, ==, 0);
	}
	tj_auth_backend_free(&be);
	kdc_stop(&k);
	case_end();
}

/* ---------------------------------------------------------- GSSAPI */

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
	char *out = malloc(4 * ((ob.length + 2) / 3) + 1);
	TJ_ASSERT(out != NULL);
	tj_gss_b64_encode(ob.value, ob.length, out);
	gss_release_buffer(&minor, &ob);
	return out;
}

/* the client's RFC 4752 answer to the server's wrapped layer offer */
static char *client_layer(struct gss_client *c, const char *chal, uint8_t choice, const char *authzid)
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
	const uint8_t *p = pb.value;
	TJ_ASSERT_INT(p[0], ==, TJ_GSS_LAYER_NONE); /* only "no security layer" offered */
	TJ_ASSERT_INT((p[1] << 16) | (p[2] << 8) | p[3], ==, TJ_GSS_SERVER_MAXBUF);
	gss_release_buffer(&minor, &pb);

	size_t alen = strlen(authzid);
	uint8_t msg[4 + 300];
	msg[0] = choice;
	msg[1] = msg[2] = msg[3] = 0;
	memcpy(msg + 4, authzid, alen);
	gss_buffer_desc mb = {4 + alen, msg}, wb = GSS_C_EMPTY_BUFFER;
	TJ_ASSERT(!GSS_ERROR(gss_wrap(&minor, c->ctx, 0, GSS_C_QOP_DEFAULT, &mb, NULL, &wb)));
	char *out = malloc(4 * ((wb.length + 2) / 3) + 1);
	TJ_ASSERT(out != NULL);
	tj_gss_b64_encode(wb.value, wb.length, out);
	gss_release_buffer(&minor, &wb);
	return out;
}


/*
 * gss_login - run a whole exchange; returns tj_gss_step's last code and
 * fills *out.  sasl_ir: the first token goes with AUTHENTICATE itself.
 */
static int gss_login(const struct tj_auth_krb5_config *cfg, bool sasl_ir, uint8_t choice, const char *authzid,
		     struct tj_gss_step_out *out, struct tj_gss_session **s_r)
{
	struct gss_client c;
	client_init(&c, "imap@localhost");
	struct tj_gss_session *s;
	TJ_OKRC(tj_gss_session_new(cfg, &s));
	*s_r = s;
	int rc;
	char *resp;
	if (sasl_ir) {
		resp = client_step(&c, "");
	} else {
		TJ_OKRC(tj_gss_step(s, "", 0, out));
		TJ_ASSERT_INT(out->status, ==, TJ_GSS_CONTINUE);
		TJ_ASSERT_STR(out->challenge, "");
		resp = client_step(&c, "");
	}
	int rounds = 0;
	for (;;) {
		TJ_ASSERT(rounds++ < 10);
		rc = tj_gss_step(s, resp, strlen(resp), out);
		free(resp);
		if (rc != 0 || out->status != TJ_GSS_CONTINUE)
			break;
		if (!c.complete) {
			resp = client_step(&c, out->challenge);
		} else {
			/* context done on our side: this is the wrapped layer offer */
			resp = client_layer(&c, out->challenge, choice, authzid);
		}
	}
	client_free(&c);
	return rc;
}

TJ_TEST(gssapi_login_end_to_end)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	if (!kinit_user1(&k)) {
		printf("skipped: kinit not installed or failed (package krb5-user)\n");
		kdc_stop(&k);
		return;
	}
	struct tj_auth_krb5_config cfg = {.realm = REALM, .keytab = k.keytab, .service = "imap",
					  .hostname = "localhost"};
	struct tj_gss_step_out out;
	struct tj_gss_session *s;

	/* without SASL-IR, no authzid */
	TJ_OKRC(gss_login(&cfg, false, TJ_GSS_LAYER_NONE, "", &out, &s));
	TJ_ASSERT_INT(out.status, ==, TJ_GSS_DONE);
	TJ_ASSERT_INT(out.result, ==, TJ_AUTH_OK);
	TJ_ASSERT_STR(out.user, "user1");
	TJ_ASSERT_STR(out.principal, "user1@" REALM);
	TJ_ASSERT_STR(out.authzid, "");
	TJ_ASSERT_INT(tj_gss_step(s, "", 0, &out), ==, TJ_ESTATE);
	tj_gss_session_free(&s);

	/* with SASL-IR and authzid = the user; any key of the keytab (no hostname) */
	cfg.hostname = NULL;
	TJ_OKRC(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "user1", &out, &s));
	TJ_ASSERT_INT(out.status, ==, TJ_GSS_DONE);
	TJ_ASSERT_STR(out.user, "user1");
	TJ_ASSERT_STR(out.authzid, "user1");
	tj_gss_session_free(&s);

	/* the realm's default from the environment's krb5.conf */
	cfg.realm = NULL;
	TJ_OKRC(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "user1@" REALM, &out, &s));
	TJ_ASSERT_STR(out.user, "user1");
	tj_gss_session_free(&s);
	kdc_stop(&k);
	case_end();
}

TJ_TEST(gssapi_refusals)
{
	case_begin();
	struct kdc k;
	KDC_OR_SKIP(&k, "kdc", "secret1");
	if (!kinit_user1(&k)) {
		printf("skipped: kinit not installed or failed (package krb5-user)\n");
		kdc_stop(&k);
		return;
	}
	struct tj_auth_krb5_config cfg = {.realm = REALM, .keytab = k.keytab, .service = "imap",
					  .hostname = "localhost"};
	struct tj_gss_step_out out;
	struct tj_gss_session *s;

	/* acting as someone else */
	TJ_ASSERT_INT(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "user2", &out, &s), ==, -EPERM);
	TJ_ASSERT_INT(out.status, ==, TJ_GSS_FAIL);
	TJ_ASSERT_INT(out.result, ==, TJ_AUTH_FAIL);
	tj_gss_session_free(&s);

	/* a security layer we did not offer */
	TJ_ASSERT_INT(gss_login(&cfg, true, TJ_GSS_LAYER_INTEGRITY, "", &out, &s), ==, TJ_EPROTO);
	tj_gss_session_free(&s);

	/* a ticket for another service principal than the configured one */
	cfg.hostname = "mail.example";
	TJ_ASSERT_INT(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "", &out, &s), ==, -EACCES);
	tj_gss_session_free(&s);
	cfg.hostname = "localhost";

	/* the ticket's realm is not ours (configured realm differs) */
	cfg.realm = "OTHER.REALM";
	cfg.hostname = NULL;
	TJ_ASSERT_INT(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "", &out, &s), ==, -EPERM);
	tj_gss_session_free(&s);
	cfg.realm = REALM;
	cfg.hostname = "localhost";

	/* a keytab for another key: the ticket does not decrypt */
	struct kdc other;
	KDC_OR_SKIP(&other, "other", "secret1");
	kdc_env(&k); /* the client keeps talking to the first KDC */
	cfg.keytab = other.keytab;
	TJ_ASSERT_INT(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "", &out, &s), ==, -EACCES);
	TJ_ASSERT_INT(out.result, ==, TJ_AUTH_FAIL);
	tj_gss_session_free(&s);

	/* an unreadable keytab: unavailable, not a refusal */
	char missing[400];
	path_join(missing, sizeof(missing), k.dir, "missing.keytab");
	cfg.keytab = missing;
	TJ_ASSERT_INT(gss_login(&cfg, true, TJ_GSS_LAYER_NONE, "", &out, &s), ==, -EAGAIN);
	TJ_ASSERT_INT(out.result, ==, TJ_AUTH_UNAVAILABLE);
	tj_gss_session_free(&s);
	kdc_stop(&other);
	kdc_stop(&k);
	case_end();
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

/*
 * test-imap-session.c - transcript tests of the IMAP session engine: client
 * bytes in, server bytes compared, against a real store in a temp dir and
 * a fake authentication callback.
 */
#include "common/err.h"
#include "node/imap/imap-session.h"
#include "protocol/imap/imap-parser.h"
#include "protocol/mime/mime.h"
#include "tests/store/store-testlib.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

/* ---- fixtures ---- */

static int fake_auth(void *ctx, const char *user, const char *pass)
{
	int *calls = ctx;
	if (calls)
		(*calls)++;
	if (strcmp(user, "down") == 0)
		return IMAP_AUTH_UNAVAILABLE;
	if (strcmp(user, "carol") == 0)
		return IMAP_AUTH_DISABLED;
	if ((strcmp(user, "alice") == 0 || strcmp(user, "ghost") == 0) && strcmp(pass, "secret") == 0)
		return IMAP_AUTH_OK;
	return IMAP_AUTH_FAIL;
}

struct fx {
	tj_store *st;
	imap_notify *n;
	uint32_t user;
	uint64_t inbox;
	int auth_calls;
	int wakeups;
};

static void wake(void *ctx)
{
	(*(int *)ctx)++;
}

static void fx_open(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->st = t_open(tj_test_tmpdir());
	TJ_OKRC(imap_notify_new(&f->n));
	f->user = t_user(f->st, "alice", 0);
	f->inbox = t_mbox(f->st, f->user, "INBOX");
}

static void fx_close(struct fx *f)
{
	imap_notify_free(&f->n);
	tj_store_close(&f->st);
}

static imap_session *sess_cfg(struct fx *f, bool starttls, bool logindisabled)
{
	imap_session_config c = {.store = f->st, .notify = f->n, .auth = fake_auth, .auth_ctx = &f->auth_calls,
				 .wakeup = wake, .wakeup_ctx = &f->wakeups, .starttls = starttls,
				 .logindisabled = logindisabled, .greeting = "test ready."};
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

/* io - feed text, run, return the output */
static const char *io(imap_session *s, const char *text)
{
	TJ_OKRC(imap_session_feed(s, text, strlen(text)));
	TJ_OKRC(imap_session_run(s));
	return out(s);
}

/* io_bytewise - feed one byte at a time, running after each */
static const char *io_bytewise(imap_session *s, const char *text)
{
	static tj_buf acc = TJ_BUF_INIT;
	tj_buf_reset(&acc);
	for (size_t i = 0; text[i]; i++) {
		TJ_OKRC(imap_session_feed(s, text + i, 1));
		TJ_OKRC(imap_session_run(s));
		TJ_OKRC(imap_session_output(s, &acc));
	}
	return acc.data ? (const char *)acc.data : "";
}

/* fmt - printf into a static buffer (one of 4, rotating) */
static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
	static char bufs[4][4096];
	static int k;
	char *b = bufs[k++ % 4];
	va_list ap;
	va_start(ap, f);
	vsnprintf(b, 4096, f, ap);
	va_end(ap);
	return b;
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

static imap_session *logged_in(struct fx *f)
{
	imap_session *s = sess_cfg(f, false, false);
	out(s);
	CONTAINS(io(s, "a LOGIN alice secret\r\n"), "a OK [CAPABILITY ");
	return s;
}

static const char msg1[] = "From: Alice <alice@example.org>\n"
			   "To: bob@example.com\n"
			   "Subject: hello world\n"
			   "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
			   "Message-ID: <1@t>\n"
			   "\n"
			   "first body line\n"
			   "second line\n";

static const char msg2[] = "From: carol@example.net\n"
			   "To: alice@example.org\n"
			   "Subject: =?UTF-8?Q?caf=C3=A9?= menu\n"
			   "Date: 1 Jan 2020 10:00:00 +0100\n"
			   "MIME-Version: 1.0\n"
			   "Content-Type: multipart/mixed; boundary=XX\n"
			   "\n"
			   "--XX\n"
			   "Content-Type: text/plain; charset=utf-8\n"
			   "Content-Transfer-Encoding: base64\n"
			   "\n"
			   "c291cCBkdSBqb3Vy\n"
			   "--XX\n"
			   "Content-Type: text/html\n"
			   "\n"
			   "<p>hi</p>\n"
			   "--XX--\n";

#include "test-imap-session-auth.c"
#include "test-imap-session-mail.c"
#include "test-imap-session-learn.c"

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

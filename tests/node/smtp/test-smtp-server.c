/*
 * test-smtp-server.c - the SMTP/LMTP engine (node/smtp) served in-process by
 * node/net on 127.0.0.1 ephemeral ports over a temp store, driven by real
 * sockets: delivery with the added headers and the exact body, pipelining,
 * recipient checks, size limits, LMTP per-recipient replies, the scanning
 * hook (INFECTED, SPAM into Junk, TEMPFAIL), STARTTLS and "250 means stored".
 * Every socket read has a timeout; the harness bounds each case.
 */
#include "tests/harness.h"
#include "tests/store/store-testlib.h"
#include "node/smtp/smtp-server.h"
#include "node/net/tls.h"
#include "common/err.h"
#include "common/log.h"
#include "protocol/mime/mime.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/ssl.h>

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TJ_HAVE_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define TJ_HAVE_LSAN 1
#endif
#ifdef TJ_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
#endif

static void leak_check(void)
{
#ifdef TJ_HAVE_LSAN
	if (__lsan_do_recoverable_leak_check())
		TJ_FAIL("LeakSanitizer found leaks");
#endif
}

/* ---- the scanning hook: keywords in the message decide ---- */

static int test_scan(void *ctx, const tj_buf *msg, struct smtp_scan_result *res)
{
	const char *m = (const char *)msg->data;
	/* the queue id (for the quarantine's file name) is the one in our Received: */
	char idf[64];
	snprintf(idf, sizeof(idf), "\tid %s", res->qid);
	if (strlen(res->qid) != 19 || !strstr(m, idf))
		return -EINVAL; /* every case expecting CLEAN, SPAM or INFECTED fails */
	if (strstr(m, "EICAR-STANDARD-ANTIVIRUS-TEST-FILE")) {
		res->verdict = SMTP_SCAN_INFECTED;
		snprintf(res->name, sizeof(res->name), "Eicar-Test-Signature");
	} else if (strstr(m, "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE")) {
		res->verdict = SMTP_SCAN_SPAM;
		res->score = 1000.0;
		res->junk = true;
		tj_buf_puts(&res->headers, "X-Spam-Flag: YES\r\nX-Spam-Score: 1000.0\r\n"
					   "X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE\r\n");
	} else if (strstr(m, "PLEASE-TEMPFAIL")) {
		res->verdict = SMTP_SCAN_TEMPFAIL;
		snprintf(res->name, sizeof(res->name), "engine not loaded");
	} else if (strstr(m, "SCANNER-ERROR")) {
		return -EIO;
	} else {
		res->score = 0.5;
		tj_buf_puts(&res->headers, "X-Spam-Flag: NO\r\n");
	}
	return 0;
}

/* ---- the server under test ---- */

typedef struct fix {
	tj_store *st;
	imap_notify *n;
	tj_net *net;
	tj_tls *tls;
	struct smtp_server_config smtp, lmtp, scan;
	tj_net_service s_smtp, s_lmtp, s_scan;
	uint16_t p_smtp, p_lmtp, p_scan;
	pthread_t th;
	int run_rc;
	char cert[512], key[512];
} fix;

static void *server_main(void *arg)
{
	fix *f = arg;
	f->run_rc = tj_net_run(f->net);
	return NULL;
}

static uint32_t user_put(tj_store *st, const char *name, uint64_t quota, uint8_t state)
{
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)name, strlen(name)}, .quota_bytes = quota,
		    .user_state = state};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	return op.user_id;
}

static uint64_t mbox_create(tj_store *st, uint32_t user, const char *name, uint32_t su)
{
	tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = user, .name = {(const uint8_t *)name, strlen(name)},
		    .special_use = su};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	return op.mbox_id;
}

static void fill(tj_store *st, uint32_t user, uint64_t mbox, size_t n)
{
	tj_buf b = TJ_BUF_INIT;
	tj_buf_puts(&b, "Subject: filler\r\n\r\n");
	while (b.len < n)
		tj_buf_putc(&b, 'x');
	uint32_t uid;
	TJ_OKRC(t_append_rc(st, user, mbox, (const char *)b.data, b.len, 0, &uid));
	tj_buf_free(&b);
}

/* users: alice (INBOX, Junk), bob (INBOX), carol (over quota), dave (quota
 * 1000), erin (3000 quota, 2000 used), frank (disabled) */
static void fix_start_t(fix *f, uint32_t cmd_timeout_ms, uint32_t data_timeout_ms)
{
	memset(f, 0, sizeof(*f));
	tj_log_set_level(TJ_LOG_WARN);
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/store", tj_test_tmpdir());
	f->st = t_open(dir);
	uint32_t a = user_put(f->st, "alice", 0, TJ_USER_ENABLED);
	mbox_create(f->st, a, "INBOX", 0);
	mbox_create(f->st, a, "Junk", TJ_SU_JUNK);
	uint32_t b = user_put(f->st, "bob", 0, TJ_USER_ENABLED);
	mbox_create(f->st, b, "INBOX", 0);
	uint32_t c = user_put(f->st, "carol", 0, TJ_USER_ENABLED);
	fill(f->st, c, mbox_create(f->st, c, "INBOX", 0), 500);
	user_put(f->st, "carol", 100, TJ_USER_ENABLED);
	uint32_t d = user_put(f->st, "dave", 1000, TJ_USER_ENABLED);
	mbox_create(f->st, d, "INBOX", 0);
	uint32_t e = user_put(f->st, "erin", 3000, TJ_USER_ENABLED);
	fill(f->st, e, mbox_create(f->st, e, "INBOX", 0), 2000);
	uint32_t fr = user_put(f->st, "frank", 0, TJ_USER_DISABLED);
	mbox_create(f->st, fr, "INBOX", 0);

	TJ_OKRC(imap_notify_new(&f->n));
	snprintf(f->cert, sizeof(f->cert), "%s/cert.pem", tj_test_tmpdir());
	snprintf(f->key, sizeof(f->key), "%s/key.pem", tj_test_tmpdir());
	TJ_OKRC(tj_tls_selfsigned(f->cert, f->key, "mx.test", 2, 7));
	TJ_OKRC(tj_tls_new(&f->tls, f->cert, f->key));
	TJ_OKRC(tj_net_new(&f->net, NULL));
	tj_net_set_tls(f->net, f->tls);
	f->smtp = (struct smtp_server_config){.store = f->st, .notify = f->n, .proto = TJ_SMTP_PROTO_SMTP,
					      .hostname = "mx.test", .max_message_size = 20000,
					      .max_recipients = 5, .starttls = true,
					      .cmd_timeout_ms = cmd_timeout_ms, .data_timeout_ms = data_timeout_ms};
	f->lmtp = f->smtp;
	f->lmtp.proto = TJ_SMTP_PROTO_LMTP;
	f->lmtp.starttls = false;
	f->scan = f->smtp;
	f->scan.scan = test_scan;
	f->s_smtp = (tj_net_service){.name = "smtp", .engine = &smtp_server_engine, .arg = &f->smtp,
				     .idle_ms = 20000, .reject_msg = SMTP_SERVER_REJECT_MSG};
	f->s_lmtp = f->s_smtp;
	f->s_lmtp.name = "lmtp";
	f->s_lmtp.arg = &f->lmtp;
	f->s_scan = f->s_smtp;
	f->s_scan.name = "smtp-scan";
	f->s_scan.arg = &f->scan;
	TJ_OKRC(tj_net_listen(f->net, &f->s_smtp, "127.0.0.1:0", false, &f->p_smtp));
	TJ_OKRC(tj_net_listen(f->net, &f->s_lmtp, "127.0.0.1:0", false, &f->p_lmtp));
	TJ_OKRC(tj_net_listen(f->net, &f->s_scan, "127.0.0.1:0", false, &f->p_scan));
	TJ_ASSERT_INT(pthread_create(&f->th, NULL, server_main, f), ==, 0);
}

static void fix_start(fix *f)
{
	fix_start_t(f, 0, 0);
}

static void fix_stop(fix *f)
{
	tj_net_request_shutdown(f->net);
	TJ_ASSERT_INT(pthread_join(f->th, NULL), ==, 0);
	TJ_ASSERT_INT(f->run_rc, ==, 0);
	TJ_ASSERT_INT(tj_net_free(&f->net), ==, 0);
	tj_tls_free(&f->tls);
	imap_notify_free(&f->n);
	t_verify_clean(f->st);
	tj_store_close(&f->st);
	leak_check();
}

/* ---- a client: blocking socket with a 10 s timeout, optional TLS ---- */

typedef struct cl {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[16384];
	size_t len;
	char reply[8192]; /* the last reply, all lines */
} cl;

static void cl_connect(cl *c, uint16_t port)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	TJ_ASSERT(c->fd >= 0);
	struct timeval tv = {10, 0};
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	TJ_ASSERT_INT(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
}

static void cl_write(cl *c, const void *p, size_t n)
{
	const char *s = p;
	while (n) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, s, (int)n) : write(c->fd, s, n);
		if (w <= 0)
			TJ_FAIL("write failed");
		s += w;
		n -= (size_t)w;
	}
}

static void cl_puts(cl *c, const char *s) { cl_write(c, s, strlen(s)); }

/* cl_line - one line without CRLF into out */
static void cl_line(cl *c, char *out, size_t sz)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf) + 1;
			size_t k = n - 1;
			if (k && c->buf[k - 1] == '\r')
				k--;
			if (k >= sz)
				k = sz - 1;
			memcpy(out, c->buf, k);
			out[k] = 0;
			memmove(c->buf, c->buf + n, c->len - n);
			c->len -= n;
			return;
		}
		if (c->len == sizeof(c->buf))
			TJ_FAIL("line too long");
		ssize_t r = c->ssl ? SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len))
				   : read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (r <= 0)
			TJ_FAIL("read: connection closed or timed out (have \"%.*s\")", (int)c->len, c->buf);
		c->len += (size_t)r;
	}
}

/* cl_reply - a whole reply; returns the last line (in c->reply after the
 * other lines, separated by '\n') */
static const char *cl_reply(cl *c)
{
	char line[1024];
	size_t off = 0;
	c->reply[0] = 0;
	for (;;) {
		cl_line(c, line, sizeof(line));
		int n = snprintf(c->reply + off, sizeof(c->reply) - off, "%s%s", off ? "\n" : "", line);
		const char *last = c->reply + off + (off ? 1 : 0);
		if (n > 0 && (size_t)n < sizeof(c->reply) - off)
			off += (size_t)n;
		if (strlen(line) < 4 || line[3] != '-')
			return last;
	}
}

#define EXPECT(c, prefix)                                                                  \
	do {                                                                               \
		const char *r_ = cl_reply(c);                                              \
		if (strncmp(r_, (prefix), strlen(prefix)) != 0)                            \
			TJ_FAIL("expected \"%s\", got \"%s\"", (prefix), (c)->reply);      \
	} while (0)

static void cl_close(cl *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		SSL_CTX_free(c->ctx);
	}
	close(c->fd);
}

/* ---- the store, read back ---- */

struct last_msg {
	uint32_t n;
	tj_msg_info last;
};

static int last_fn(void *arg, const tj_msg_info *m)
{
	struct last_msg *l = arg;
	l->n++;
	l->last = *m;
	return 0;
}

/* box_read - number of messages in user's mailbox; the last one's bytes in out */
static uint32_t box_read(tj_store *st, const char *user, const char *box, tj_buf *out, uint8_t *guid_r)
{
	tj_rtxn *r;
	tj_user_info u;
	tj_mbox_info m;
	struct last_msg l = {0};
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_user_get(r, user, &u));
	TJ_OKRC(tj_store_mbox_find(r, u.id, box, &m));
	TJ_OKRC(tj_store_msgs(r, m.id, 1, UINT32_MAX, last_fn, &l));
	if (l.n && out) {
		tj_buf_reset(out);
		TJ_OKRC(tj_store_read(r, l.last.guid, 0, SIZE_MAX, out));
		tj_slice blob;
		TJ_OKRC(tj_store_cache_get(r, l.last.guid, &blob)); /* parsed once, cached with it */
		struct tj_mime_msg *mm = NULL;
		TJ_OKRC(tj_mime_deserialize(blob.ptr, blob.len, &mm));
		tj_mime_free(&mm);
	}
	if (l.n && guid_r)
		memcpy(guid_r, l.last.guid, TJ_GUID_LEN);
	tj_rtxn_end(&r);
	return l.n;
}

static uint32_t box_count(tj_store *st, const char *user, const char *box)
{
	return box_read(st, user, box, NULL, NULL);
}

static bool has_prefix(const tj_buf *b, const char *p)
{
	return b->len >= strlen(p) && memcmp(b->data, p, strlen(p)) == 0;
}

static bool has_suffix(const tj_buf *b, const char *p)
{
	size_t n = strlen(p);
	return b->len >= n && memcmp(b->data + b->len - n, p, n) == 0;
}

static bool contains(const tj_buf *b, const char *p)
{
	return b->data && strstr((const char *)b->data, p) != NULL;
}

/* session start: greeting + EHLO */
static void hello(cl *c, uint16_t port, bool lmtp)
{
	cl_connect(c, port);
	EXPECT(c, lmtp ? "220 mx.test LMTP" : "220 mx.test ESMTP");
	cl_puts(c, lmtp ? "LHLO client.test\r\n" : "EHLO client.test\r\n");
	EXPECT(c, "250 ");
}

static const char BODY_IN[] = "From: Sender <s@example.net>\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\n"
			      "line one\r\n..leading dot\r\n.x\r\n\r\nlast line\r\n.\r\n";
static const char BODY_OUT[] = "From: Sender <s@example.net>\r\nTo: alice@example.org\r\nSubject: hi\r\n\r\n"
			       "line one\r\n.leading dot\r\nx\r\n\r\nlast line\r\n";

/* ---- cases ---- */

TJ_TEST(deliver_headers_and_exact_body)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_smtp, false);
	TJ_ASSERT(strstr(c.reply, "STARTTLS") && strstr(c.reply, "PIPELINING") && strstr(c.reply, "SIZE 20000"));
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\n");
	EXPECT(&c, "250 2.1.0");
	cl_puts(&c, "RCPT TO:<Alice@Example.org>\r\n");
	EXPECT(&c, "250 2.1.5");
	cl_puts(&c, "DATA\r\n");
	EXPECT(&c, "354");
	cl_puts(&c, BODY_IN);
	EXPECT(&c, "250 2.0.0 Ok: delivered as ");
	char qid[64];
	snprintf(qid, sizeof(qid), "%.40s", c.reply + strlen("250 2.0.0 Ok: delivered as "));
	tj_buf b = TJ_BUF_INIT;
	TJ_ASSERT_INT(box_read(f.st, "alice", "INBOX", &b, NULL), ==, 1);
	TJ_ASSERT(has_prefix(&b, "Return-Path: <s@example.net>\r\nDelivered-To: Alice@Example.org\r\n"
				 "Received: from client.test (unknown [127.0.0.1])\r\n\tby mx.test (tjstore) with ESMTP"));
	char idl[100];
	snprintf(idl, sizeof(idl), "id %s", qid);
	TJ_ASSERT(contains(&b, idl));
	TJ_ASSERT(contains(&b, "for <Alice@Example.org>;"));
	TJ_ASSERT(has_suffix(&b, BODY_OUT));
	/* a second message in the same session, null sender */
	cl_puts(&c, "MAIL FROM:<>\r\n");
	EXPECT(&c, "250 2.1.0");
	cl_puts(&c, "RCPT TO:<alice@anything.example>\r\n");
	EXPECT(&c, "250 2.1.5");
	cl_puts(&c, "DATA\r\n");
	EXPECT(&c, "354");
	cl_puts(&c, "Subject: two\r\n\r\nbody\r\n.\r\n");
	EXPECT(&c, "250 2.0.0");
	TJ_ASSERT_INT(box_read(f.st, "alice", "INBOX", &b, NULL), ==, 2);
	TJ_ASSERT(has_prefix(&b, "Return-Path: <>\r\n"));
	TJ_ASSERT(has_suffix(&b, "\r\nSubject: two\r\n\r\nbody\r\n"));
	cl_puts(&c, "QUIT\r\n");
	EXPECT(&c, "221");
	cl_close(&c);
	tj_buf_free(&b);
	fix_stop(&f);
}

TJ_TEST(pipelined_two_recipients_one_copy)
{
	fix f;
	fix_start(&f);
	cl c;
	cl_connect(&c, f.p_smtp);
	EXPECT(&c, "220");
	/* RFC 2920: everything up to DATA in one write */
	cl_puts(&c, "EHLO client.test\r\nMAIL FROM:<s@example.net> SIZE=200\r\nRCPT TO:<alice@x.org>\r\n"
		    "RCPT TO:<ghost@x.org>\r\nRCPT TO:<bob@x.org>\r\nRCPT TO:<ALICE@y.org>\r\nDATA\r\n");
	EXPECT(&c, "250 ");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "550 5.1.1");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "354");
	cl_puts(&c, "Subject: shared\r\n\r\nhello both\r\n.\r\nNOOP\r\nQUIT\r\n");
	EXPECT(&c, "250 2.0.0");
	EXPECT(&c, "250 2.0.0");
	EXPECT(&c, "221");
	cl_close(&c);
	tj_buf a = TJ_BUF_INIT, b = TJ_BUF_INIT;
	uint8_t ga[TJ_GUID_LEN], gb[TJ_GUID_LEN];
	/* alice named twice: delivered once */
	TJ_ASSERT_INT(box_read(f.st, "alice", "INBOX", &a, ga), ==, 1);
	TJ_ASSERT_INT(box_read(f.st, "bob", "INBOX", &b, gb), ==, 1);
	TJ_ASSERT_MEM(ga, TJ_GUID_LEN, gb, TJ_GUID_LEN); /* one copy of the bytes */
	TJ_ASSERT(!contains(&a, "Delivered-To:"));      /* shared bytes: no per-recipient field */
	TJ_ASSERT(!contains(&a, "\tfor <"));
	TJ_ASSERT(has_suffix(&a, "Subject: shared\r\n\r\nhello both\r\n"));
	tj_store_stats s;
	TJ_OKRC(tj_store_stats_get(f.st, &s));
	TJ_ASSERT_INT(s.unique_messages, ==, 3); /* carol's and erin's fillers + this one */
	tj_buf_free(&a);
	tj_buf_free(&b);
	fix_stop(&f);
}

TJ_TEST(rcpt_checks)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_smtp, false);
	cl_puts(&c, "MAIL FROM:<s@example.net> SIZE=5000\r\n");
	EXPECT(&c, "250 2.1.0");
	cl_puts(&c, "RCPT TO:<nobody@x.org>\r\n");
	EXPECT(&c, "550 5.1.1");
	cl_puts(&c, "RCPT TO:<frank@x.org>\r\n");
	EXPECT(&c, "550 5.2.1");
	cl_puts(&c, "RCPT TO:<carol@x.org>\r\n"); /* over quota, and 5000 > its quota */
	EXPECT(&c, "552 5.2.2");
	cl_puts(&c, "RCPT TO:<dave@x.org>\r\n"); /* 5000 > the whole 1000-byte quota */
	EXPECT(&c, "552 5.2.2");
	cl_puts(&c, "RCPT TO:<bad/name@x.org>\r\n");
	EXPECT(&c, "550 5.1.1");
	cl_puts(&c, "DATA\r\n");
	EXPECT(&c, "554"); /* no valid recipients */
	cl_puts(&c, "RSET\r\nMAIL FROM:<s@example.net>\r\n");
	EXPECT(&c, "250");
	EXPECT(&c, "250 2.1.0");
	cl_puts(&c, "RCPT TO:<carol@x.org>\r\n"); /* used 500 >= quota 100 */
	EXPECT(&c, "452 4.2.2");
	cl_puts(&c, "RCPT TO:<dave@x.org>\r\n"); /* no SIZE: under quota, accepted */
	EXPECT(&c, "250 2.1.5");
	for (int i = 0; i < 4; i++) {
		cl_puts(&c, "RCPT TO:<bob@x.org>\r\n");
		EXPECT(&c, "250 2.1.5");
	}
	cl_puts(&c, "RCPT TO:<bob@x.org>\r\n");
	EXPECT(&c, "452 4.5.3"); /* max_recipients 5 */
	/* SIZE= larger than what is left of the quota: 452 at RCPT, per
	 * recipient (regression: it was accepted, then failed after the data,
	 * where SMTP's one reply made it a partial 451 and the retry a duplicate) */
	cl_puts(&c, "RSET\r\nMAIL FROM:<s@example.net> SIZE=1500\r\nRCPT TO:<erin@x.org>\r\nRCPT TO:<bob@x.org>\r\n");
	EXPECT(&c, "250");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "452 4.2.2"); /* erin: 2000 of 3000 used, 1500 more does not fit */
	EXPECT(&c, "250 2.1.5");
	cl_puts(&c, "RSET\r\nMAIL FROM:<s@example.net> SIZE=900\r\nRCPT TO:<erin@x.org>\r\n");
	EXPECT(&c, "250");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "250 2.1.5"); /* fits */
	cl_puts(&c, "QUIT\r\n");
	EXPECT(&c, "221");
	cl_close(&c);
	TJ_ASSERT_INT(box_count(f.st, "bob", "INBOX"), ==, 0);
	fix_stop(&f);
}

TJ_TEST(too_big_552)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_smtp, false);
	cl_puts(&c, "MAIL FROM:<s@example.net> SIZE=30000\r\n");
	EXPECT(&c, "552 5.3.4");
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@x.org>\r\nDATA\r\n");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "354");
	cl_puts(&c, "Subject: big\r\n\r\n");
	char line[101];
	memset(line, 'y', 98);
	line[98] = '\r', line[99] = '\n', line[100] = 0;
	for (int i = 0; i < 300; i++)
		cl_puts(&c, line);
	cl_puts(&c, ".\r\n");
	EXPECT(&c, "552 5.3.4");
	/* the session goes on */
	cl_puts(&c, "NOOP\r\n");
	EXPECT(&c, "250");
	cl_close(&c);
	TJ_ASSERT_INT(box_count(f.st, "bob", "INBOX"), ==, 0);
	fix_stop(&f);
}

/* cl_eof - the server closed the connection (after its last reply) */
static void cl_eof(cl *c)
{
	char b[64];
	TJ_ASSERT_INT(c->len, ==, 0);
	TJ_ASSERT_INT(read(c->fd, b, sizeof(b)), ==, 0);
}

TJ_TEST(timeouts_421)
{
	fix f;
	fix_start_t(&f, 300, 700);
	cl c;
	/* idle after the greeting and after a command: 421 4.4.2, then closed */
	cl_connect(&c, f.p_smtp);
	EXPECT(&c, "220 ");
	EXPECT(&c, "421 4.4.2 mx.test Timeout");
	cl_eof(&c);
	cl_close(&c);
	hello(&c, f.p_lmtp, true);
	EXPECT(&c, "421 4.4.2");
	cl_eof(&c);
	cl_close(&c);
	/* in the data the limit is data_timeout_ms: a pause shorter than it but
	 * longer than the command timeout is fine, a longer one ends it all and
	 * nothing is stored */
	hello(&c, f.p_smtp, false);
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@x.org>\r\nDATA\r\n");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "354");
	cl_puts(&c, "Subject: slow\r\n\r\nfirst line\r\n");
	usleep(450 * 1000);
	cl_puts(&c, "second line\r\n");
	EXPECT(&c, "421 4.4.2");
	cl_eof(&c);
	cl_close(&c);
	TJ_ASSERT_INT(box_count(f.st, "bob", "INBOX"), ==, 0);
	fix_stop(&f);
}

TJ_TEST(lmtp_per_recipient_replies)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_lmtp, true);
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@x.org>\r\nRCPT TO:<erin@x.org>\r\n"
		    "RCPT TO:<bob@x.org>\r\nDATA\r\n");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "250 2.1.5"); /* erin is under quota now */
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "354");
	/* 1500 bytes: erin (2000 of 3000 used) cannot take it */
	cl_puts(&c, "Subject: lmtp\r\n\r\n");
	for (int i = 0; i < 15; i++)
		cl_puts(&c, "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\r\n");
	cl_puts(&c, ".\r\n");
	EXPECT(&c, "250 2.0.0 <alice@x.org>");
	EXPECT(&c, "452 4.2.2 <erin@x.org>");
	EXPECT(&c, "250 2.0.0 <bob@x.org>");
	cl_puts(&c, "QUIT\r\n");
	EXPECT(&c, "221");
	cl_close(&c);
	tj_buf b = TJ_BUF_INIT;
	TJ_ASSERT_INT(box_read(f.st, "alice", "INBOX", &b, NULL), ==, 1);
	TJ_ASSERT(contains(&b, "with LMTP"));
	TJ_ASSERT_INT(box_count(f.st, "bob", "INBOX"), ==, 1);
	TJ_ASSERT_INT(box_count(f.st, "erin", "INBOX"), ==, 1); /* only the filler */
	tj_buf_free(&b);
	fix_stop(&f);
}

static void send_one(cl *c, const char *rcpt, const char *body)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "MAIL FROM:<s@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n", rcpt);
	cl_puts(c, cmd);
	EXPECT(c, "250 2.1.0");
	EXPECT(c, "250 2.1.5");
	EXPECT(c, "354");
	cl_puts(c, body);
}

TJ_TEST(scan_infected_tempfail_error)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_scan, false);
	send_one(&c, "alice@x.org",
		 "Subject: virus\r\n\r\nX5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\r\n.\r\n");
	EXPECT(&c, "554 5.7.1 Message refused: infected with Eicar-Test-Signature");
	send_one(&c, "alice@x.org", "Subject: t\r\n\r\nPLEASE-TEMPFAIL\r\n.\r\n");
	EXPECT(&c, "451 4.7.1");
	send_one(&c, "alice@x.org", "Subject: t\r\n\r\nSCANNER-ERROR\r\n.\r\n");
	EXPECT(&c, "451 4.7.1");
	TJ_ASSERT_INT(box_count(f.st, "alice", "INBOX"), ==, 0);
	TJ_ASSERT_INT(box_count(f.st, "alice", "Junk"), ==, 0);
	/* clean mail gets the scanner's header */
	send_one(&c, "alice@x.org", "Subject: fine\r\n\r\nhello\r\n.\r\n");
	EXPECT(&c, "250 2.0.0");
	tj_buf b = TJ_BUF_INIT;
	TJ_ASSERT_INT(box_read(f.st, "alice", "INBOX", &b, NULL), ==, 1);
	TJ_ASSERT(contains(&b, "\r\nX-Spam-Flag: NO\r\nSubject: fine\r\n\r\nhello\r\n"));
	tj_buf_free(&b);
	cl_close(&c);
	fix_stop(&f);
}

TJ_TEST(scan_spam_into_junk)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_scan, false);
	/* LMTP-less SMTP: alice has a \Junk folder; bob has none (it is created) */
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@x.org>\r\nRCPT TO:<bob@x.org>\r\nDATA\r\n");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "354");
	cl_puts(&c, "Subject: buy\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X\r\n.\r\n");
	EXPECT(&c, "250 2.0.0");
	cl_close(&c);
	tj_buf b = TJ_BUF_INIT;
	TJ_ASSERT_INT(box_count(f.st, "alice", "INBOX"), ==, 0);
	TJ_ASSERT_INT(box_read(f.st, "alice", "Junk", &b, NULL), ==, 1);
	TJ_ASSERT(contains(&b, "X-Spam-Flag: YES\r\nX-Spam-Score: 1000.0\r\n"
			       "X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE\r\nSubject: buy\r\n"));
	TJ_ASSERT(has_prefix(&b, "Return-Path: <s@example.net>\r\nReceived: "));
	TJ_ASSERT_INT(box_count(f.st, "bob", "INBOX"), ==, 0);
	TJ_ASSERT_INT(box_count(f.st, "bob", "Junk"), ==, 1);
	tj_buf_free(&b);
	fix_stop(&f);
}

TJ_TEST(starttls_then_deliver)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_smtp, false);
	cl_puts(&c, "STARTTLS\r\n");
	EXPECT(&c, "220 2.0.0");
	c.ctx = SSL_CTX_new(TLS_client_method());
	TJ_ASSERT(c.ctx);
	c.ssl = SSL_new(c.ctx);
	SSL_set_fd(c.ssl, c.fd);
	TJ_ASSERT_INT(SSL_connect(c.ssl), ==, 1);
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\n");
	EXPECT(&c, "503"); /* EHLO again after TLS (RFC 3207 4.2) */
	cl_puts(&c, "EHLO client.test\r\n");
	EXPECT(&c, "250 ");
	TJ_ASSERT(!strstr(c.reply, "STARTTLS"));
	send_one(&c, "bob@x.org", "Subject: tls\r\n\r\nsecret\r\n.\r\n");
	EXPECT(&c, "250 2.0.0");
	cl_puts(&c, "QUIT\r\n");
	EXPECT(&c, "221");
	cl_close(&c);
	tj_buf b = TJ_BUF_INIT;
	TJ_ASSERT_INT(box_read(f.st, "bob", "INBOX", &b, NULL), ==, 1);
	TJ_ASSERT(contains(&b, "with ESMTPS"));
	TJ_ASSERT(has_suffix(&b, "Subject: tls\r\n\r\nsecret\r\n"));
	tj_buf_free(&b);
	fix_stop(&f);
}

TJ_TEST(reply_250_means_stored)
{
	fix f;
	fix_start(&f);
	cl c;
	hello(&c, f.p_smtp, false);
	for (int i = 0; i < 20; i++) {
		char body[100];
		snprintf(body, sizeof(body), "Subject: n%d\r\n\r\nmessage %d\r\n.\r\n", i, i);
		send_one(&c, "bob@x.org", body);
		EXPECT(&c, "250 2.0.0");
		/* a fresh read snapshot right now sees it */
		tj_buf b = TJ_BUF_INIT;
		TJ_ASSERT_INT(box_read(f.st, "bob", "INBOX", &b, NULL), ==, (uint32_t)i + 1);
		char want[40];
		snprintf(want, sizeof(want), "message %d\r\n", i);
		TJ_ASSERT(has_suffix(&b, want));
		tj_buf_free(&b);
	}
	cl_close(&c);
	fix_stop(&f);
}

TJ_TEST(domain_list)
{
	fix f;
	fix_start(&f);
	static const char *const doms[] = {"example.org", "Mail.Example.Org", NULL};
	f.smtp.domains = doms; /* read by new sessions' worker lookups */
	cl c;
	hello(&c, f.p_smtp, false);
	cl_puts(&c, "MAIL FROM:<s@example.net>\r\nRCPT TO:<bob@other.org>\r\nRCPT TO:<bob@mail.example.org>\r\n"
		    "RCPT TO:<postmaster>\r\n");
	EXPECT(&c, "250 2.1.0");
	EXPECT(&c, "550 5.1.2");
	EXPECT(&c, "250 2.1.5");
	EXPECT(&c, "550 5.1.1"); /* no postmaster account here */
	cl_close(&c);
	fix_stop(&f);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

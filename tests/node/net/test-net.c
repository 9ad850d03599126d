/*
 * test-net.c - node/net against real sockets: the echo engine served on
 * 127.0.0.1 ephemeral ports by a tj_net running on its own thread, driven
 * from the test thread by blocking sockets and OpenSSL clients.  Every
 * socket has a receive/send timeout; every case is bounded by the harness.
 */
#include "tests/harness.h"
#include "tests/node/net/echo-engine.h"
#include "node/net/net.h"
#include "node/net/proc.h"
#include "node/net/tls.h"
#include "common/err.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

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

/* ---- helpers ---- */

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* leak_check - the harness ends cases with _exit, so ask LSan here */
static void leak_check(void)
{
#ifdef TJ_HAVE_LSAN
	if (__lsan_do_recoverable_leak_check())
		TJ_FAIL("LeakSanitizer found leaks");
#endif
}

/* ---- the server under test ---- */

typedef struct server {
	tj_net *net;
	tj_tls *tls;
	tj_net_service svc;
	pthread_t thread;
	uint16_t port, tls_port;
	char cert[512], key[512];
	int run_rc;
} server;

static void *server_main(void *arg)
{
	server *s = arg;
	s->run_rc = tj_net_run(s->net);
	return NULL;
}

static void make_cert(server *s, uint64_t serial)
{
	TJ_OKRC(tj_tls_selfsigned(s->cert, s->key, "localhost", 2, serial));
}

/* server_init - net + tls + one plain and one TLS listener; not yet running */
static void server_init(server *s, const tj_net_config *cfg, uint32_t idle_ms)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->cert, sizeof(s->cert), "%s/cert.pem", tj_test_tmpdir());
	snprintf(s->key, sizeof(s->key), "%s/key.pem", tj_test_tmpdir());
	make_cert(s, 1);
	TJ_OKRC(tj_tls_new(&s->tls, s->cert, s->key));
	TJ_OKRC(tj_net_new(&s->net, cfg));
	tj_net_set_tls(s->net, s->tls);
	s->svc = (tj_net_service){.name = "echo", .engine = &echo_engine, .idle_ms = idle_ms,
				  .reject_msg = "-ERR too many connections\r\n"};
	TJ_OKRC(tj_net_listen(s->net, &s->svc, "127.0.0.1:0", false, &s->port));
	TJ_OKRC(tj_net_listen(s->net, &s->svc, "127.0.0.1:0", true, &s->tls_port));
	TJ_ASSERT(s->port != 0 && s->tls_port != 0 && s->port != s->tls_port);
}

static void server_start(server *s)
{
	TJ_ASSERT_INT(pthread_create(&s->thread, NULL, server_main, s), ==, 0);
}

static void server_join(server *s)
{
	TJ_ASSERT_INT(pthread_join(s->thread, NULL), ==, 0);
	TJ_ASSERT_INT(s->run_rc, ==, 0);
	TJ_ASSERT_INT(tj_net_free(&s->net), ==, 0); /* uv_loop_close() == 0: no handle leaked */
	tj_tls_free(&s->tls);
	TJ_ASSERT_INT(__atomic_load_n(&echo_opened, __ATOMIC_SEQ_CST), ==,
		      __atomic_load_n(&echo_closed, __ATOMIC_SEQ_CST));
}

static void server_stop(server *s)
{
	tj_net_request_shutdown(s->net);
	server_join(s);
}

static tj_net_stats stats(server *s)
{
	tj_net_stats st;
	tj_net_stats_get(s->net, &st);
	return st;
}

/* ---- a client: blocking socket with timeouts, optional TLS ---- */

typedef struct client {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	char buf[256 * 1024];
	size_t len;
} client;

static void set_timeouts(int fd, int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* cli_connect_from - connect to 127.0.0.1:port from src (NULL: any); -errno on failure */
static int cli_connect_from(client *c, uint16_t port, const char *src, int rcvbuf)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	TJ_ASSERT(c->fd >= 0);
	set_timeouts(c->fd, 5000);
	if (rcvbuf)
		setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (src) {
		struct sockaddr_in sa = {.sin_family = AF_INET};
		inet_pton(AF_INET, src, &sa.sin_addr);
		TJ_ASSERT_INT(bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	return 0;
}

static void cli_connect(client *c, uint16_t port)
{
	TJ_OKRC(cli_connect_from(c, port, NULL, 0));
}

/* cli_tls - handshake on the connected socket.  0 or -1. */
static int cli_tls_opts(client *c, int max_version)
{
	c->ctx = SSL_CTX_new(TLS_client_method());
	TJ_ASSERT(c->ctx);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	if (max_version) {
		SSL_CTX_set_security_level(c->ctx, 0);
		SSL_CTX_set_min_proto_version(c->ctx, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(c->ctx, max_version);
		SSL_CTX_set_cipher_list(c->ctx, "DEFAULT:@SECLEVEL=0");
	}
	c->ssl = SSL_new(c->ctx);
	TJ_ASSERT(c->ssl);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, "localhost");
	int r = SSL_connect(c->ssl);
	ERR_clear_error();
	return r == 1 ? 0 : -1;
}

static void cli_tls(client *c)
{
	TJ_ASSERT_INT(cli_tls_opts(c, 0), ==, 0);
}

static void cli_close(client *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->ctx) {
		SSL_CTX_free(c->ctx);
		c->ctx = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static void cli_send(client *c, const char *s)
{
	size_t n = strlen(s), off = 0;
	while (off < n) {
		ssize_t w;
		if (c->ssl)
			w = SSL_write(c->ssl, s + off, (int)(n - off));
		else
			w = send(c->fd, s + off, n - off, MSG_NOSIGNAL);
		if (w <= 0)
			TJ_FAIL("send failed: %s", strerror(errno));
		off += (size_t)w;
	}
}

/* cli_fill - read more; >0 bytes, 0 EOF, -1 error/timeout */
static int cli_fill(client *c)
{
	if (c->len >= sizeof(c->buf))
		TJ_FAIL("client buffer full");
	ssize_t r;
	if (c->ssl) {
		r = SSL_read(c->ssl, c->buf + c->len, (int)(sizeof(c->buf) - c->len));
		if (r <= 0) {
			int e = SSL_get_error(c->ssl, (int)r);
			ERR_clear_error();
			return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
		}
	} else {
		r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (r < 0)
			return errno == ECONNRESET ? 0 : -1;
	}
	c->len += (size_t)r;
	return (int)r;
}

/* cli_line - next line without CRLF; 0, or -1 at EOF / timeout */
static int cli_line(client *c, char *out, size_t outsz)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			size_t n = (size_t)(nl - c->buf);
			size_t ln = n > 0 && c->buf[n - 1] == '\r' ? n - 1 : n;
			if (ln >= outsz)
				ln = outsz - 1;
			memcpy(out, c->buf, ln);
			out[ln] = 0;
			memmove(c->buf, nl + 1, c->len - n - 1);
			c->len -= n + 1;
			return 0;
		}
		if (cli_fill(c) <= 0)
			return -1;
	}
}

static void cli_expect(client *c, const char *want)
{
	char line[4096];
	if (cli_line(c, line, sizeof(line)) < 0)
		TJ_FAIL("expected \"%s\", got EOF or timeout", want);
	TJ_ASSERT_STR(line, want);
}

/* cli_expect_eof - the server closed (nothing more but EOF) */
static void cli_expect_eof(client *c)
{
	char line[4096];
	if (cli_line(c, line, sizeof(line)) == 0)
		TJ_FAIL("expected EOF, got \"%s\"", line);
	TJ_ASSERT_INT(c->len, ==, 0);
}

static uint64_t cli_serial(client *c)
{
	X509 *x = SSL_get1_peer_certificate(c->ssl);
	TJ_ASSERT(x);
	uint64_t v = 0;
	TJ_ASSERT(ASN1_INTEGER_get_uint64(&v, X509_get0_serialNumber(x)) == 1);
	X509_free(x);
	return v;
}

/* ================================================================ */

TJ_TEST(parse_hostport)
{
	char h[64];
	uint16_t p;
	TJ_OKRC(tj_net_parse_hostport("127.0.0.1:143", h, sizeof(h), &p));
	TJ_ASSERT_STR(h, "127.0.0.1");
	TJ_ASSERT_INT(p, ==, 143);
	TJ_OKRC(tj_net_parse_hostport("[::1]:993", h, sizeof(h), &p));
	TJ_ASSERT_STR(h, "::1");
	TJ_ASSERT_INT(p, ==, 993);
	TJ_OKRC(tj_net_parse_hostport("*:25", h, sizeof(h), &p));
	TJ_ASSERT_STR(h, "*");
	TJ_OKRC(tj_net_parse_hostport("localhost:0", h, sizeof(h), &p));
	TJ_ASSERT_INT(p, ==, 0);
	const char *bad[] = {"127.0.0.1", "::1:143", "[::1]143", "[::1", "host:", ":143",
			     "host:65536", "host:12a", "host:123456", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tj_net_parse_hostport(bad[i], h, sizeof(h), &p) != TJ_EINVAL)
			TJ_FAIL("accepted \"%s\"", bad[i]);
}

TJ_TEST(plain_echo)
{
	server s;
	server_init(&s, NULL, 0);
	server_start(&s);
	client c;
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_send(&c, "ECHO hello\r\n");
	cli_expect(&c, "hello");
	/* pipelined, and a line split across two writes */
	cli_send(&c, "ECHO one\r\nECHO two\nTLS\r\nECHO thr");
	cli_expect(&c, "one");
	cli_expect(&c, "two");
	cli_expect(&c, "+OK tls=no");
	sleep_ms(50);
	cli_send(&c, "ee\r\n");
	cli_expect(&c, "three");
	cli_send(&c, "QUIT\r\n");
	cli_expect(&c, "+OK bye");
	cli_expect_eof(&c);
	cli_close(&c);
	/* half-close: the answers still come, then the server closes */
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_send(&c, "ECHO half\r\nSLOW 50\r\nECHO closed\r\n");
	shutdown(c.fd, SHUT_WR);
	cli_expect(&c, "half");
	cli_expect(&c, "+OK slow done");
	cli_expect(&c, "closed");
	cli_expect_eof(&c);
	cli_close(&c);
	/* a client that just goes away */
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_close(&c);
	for (int i = 0; i < 200 && stats(&s).open > 0; i++)
		sleep_ms(10);
	TJ_ASSERT_INT(stats(&s).open, ==, 0);
	TJ_ASSERT_INT(stats(&s).accepted, ==, 3);
	server_stop(&s);
	leak_check();
}

/* connect to [::1]:port; -errno if there is no IPv6 loopback */
static int cli_connect6(client *c, uint16_t port)
{
	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	set_timeouts(c->fd, 5000);
	struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
	sa.sin6_addr = in6addr_loopback;
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	return 0;
}

TJ_TEST(ipv6_and_name_listeners)
{
	server s;
	server_init(&s, NULL, 0);
	uint16_t p6 = 0, pl = 0;
	int rc6 = tj_net_listen(s.net, &s.svc, "[::1]:0", false, &p6);
	if (rc6 < 0) {
		printf("  (no IPv6 loopback: %s)\n", tj_net_last_error(s.net));
		TJ_ASSERT(rc6 == -EADDRNOTAVAIL || rc6 == -EAFNOSUPPORT);
	}
	/* a name: every address it resolves to, on one port */
	TJ_OKRC(tj_net_listen(s.net, &s.svc, "localhost:0", false, &pl));
	TJ_ASSERT(pl != 0);
	server_start(&s);
	client c;
	if (rc6 == 0) {
		TJ_OKRC(cli_connect6(&c, p6));
		cli_expect(&c, "+OK echo ready tls=no");
		cli_send(&c, "ECHO v6\r\n");
		cli_expect(&c, "v6");
		cli_close(&c);
	}
	cli_connect(&c, pl);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_close(&c);
	server_stop(&s);
	leak_check();
}

TJ_TEST(implicit_tls)
{
	server s;
	server_init(&s, NULL, 0);
	server_start(&s);
	client c;
	cli_connect(&c, s.tls_port);
	cli_tls(&c);
	TJ_ASSERT(SSL_version(c.ssl) >= TLS1_2_VERSION);
	TJ_ASSERT_INT(cli_serial(&c), ==, 1);
	cli_expect(&c, "+OK echo ready tls=yes");
	cli_send(&c, "ECHO secret\r\nTLS\r\n");
	cli_expect(&c, "secret");
	cli_expect(&c, "+OK tls=yes");
	/* STARTTLS on a TLS connection is refused by the layer */
	cli_send(&c, "STARTTLS\r\n");
	cli_expect(&c, "-ERR already tls");
	/* a large message through TLS records */
	static char big[100 * 1000 + 16];
	memcpy(big, "ECHO ", 5);
	memset(big + 5, 'z', 100 * 1000);
	memcpy(big + 5 + 100 * 1000, "\r\n", 3);
	cli_send(&c, big);
	char line[128 * 1024];
	TJ_ASSERT_INT(cli_line(&c, line, sizeof(line)), ==, 0);
	TJ_ASSERT_INT(strlen(line), ==, 100 * 1000);
	TJ_ASSERT(line[0] == 'z' && line[99999] == 'z');
	cli_send(&c, "QUIT\r\n");
	cli_expect(&c, "+OK bye");
	cli_expect_eof(&c); /* close_notify, then FIN */
	cli_close(&c);
	server_stop(&s);
	leak_check();
}

TJ_TEST(tls_old_versions_and_garbage_refused)
{
	server s;
	server_init(&s, NULL, 0);
	server_start(&s);
	client c;
	cli_connect(&c, s.tls_port);
	TJ_ASSERT_INT(cli_tls_opts(&c, TLS1_1_VERSION), ==, -1);
	cli_close(&c);
	/* plaintext on the TLS port */
	cli_connect(&c, s.tls_port);
	cli_send(&c, "ECHO hello\r\n");
	char line[256];
	TJ_ASSERT_INT(cli_line(&c, line, sizeof(line)), ==, -1);
	cli_close(&c);
	for (int i = 0; i < 200 && stats(&s).tls_failed < 2; i++)
		sleep_ms(10);
	TJ_ASSERT_INT(stats(&s).tls_failed, ==, 2);
	TJ_ASSERT_INT(echo_opened, ==, 0); /* the engine never saw them */
	server_stop(&s);
	leak_check();
}

TJ_TEST(starttls_discards_injected_plaintext)
{
	server s;
	server_init(&s, NULL, 0);
	server_start(&s);
	client c;
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	/* the injection: a command pipelined behind STARTTLS in the same segment */
	cli_send(&c, "STARTTLS\r\nECHO injected\r\n");
	cli_expect(&c, "+OK begin tls");
	TJ_ASSERT_INT(c.len, ==, 0);
	cli_tls(&c);
	TJ_ASSERT_INT(cli_serial(&c), ==, 1);
	cli_send(&c, "TLS\r\nECHO after\r\n");
	cli_expect(&c, "+OK tls=yes"); /* not "injected" */
	cli_expect(&c, "after");
	cli_send(&c, "STARTTLS\r\n");
	cli_expect(&c, "-ERR already tls");
	cli_send(&c, "QUIT\r\n");
	cli_expect(&c, "+OK bye");
	cli_expect_eof(&c);
	cli_close(&c);

	/* news that arrive between the STARTTLS reply and the handshake are
	 * held and sent through TLS, never as plaintext */
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_send(&c, "ID\r\n");
	char idline[128];
	unsigned long long id = 0;
	TJ_ASSERT_INT(cli_line(&c, idline, sizeof(idline)), ==, 0);
	TJ_ASSERT_INT(sscanf(idline, "+OK id=%llu", &id), ==, 1);
	cli_send(&c, "STARTTLS\r\n");
	cli_expect(&c, "+OK begin tls");
	tj_net_wakeup(s.net, id);
	sleep_ms(100);
	struct pollfd pf = {c.fd, POLLIN, 0};
	TJ_ASSERT_INT(poll(&pf, 1, 0), ==, 0); /* nothing in plaintext */
	cli_tls(&c);
	cli_expect(&c, "* NEWS");
	cli_send(&c, "TLS\r\n");
	cli_expect(&c, "+OK tls=yes");
	cli_close(&c);

	/* plaintext where the ClientHello should be: never a command */
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_send(&c, "STARTTLS\r\n");
	cli_expect(&c, "+OK begin tls");
	cli_send(&c, "ECHO plaintext\r\n");
	char line[256];
	TJ_ASSERT_INT(cli_line(&c, line, sizeof(line)), ==, -1);
	cli_close(&c);
	server_stop(&s);
	leak_check();
}

TJ_TEST(backpressure_stops_reading)
{
	tj_net_config cfg = {.max_output = 64 * 1024};
	server s;
	server_init(&s, &cfg, 0);
	server_start(&s);
	client c;
	TJ_OKRC(cli_connect_from(&c, s.port, NULL, 4096));
	cli_expect(&c, "+OK echo ready tls=no");
	int fl = fcntl(c.fd, F_GETFL);
	fcntl(c.fd, F_SETFL, fl | O_NONBLOCK);

	/* 1000-byte lines, never reading, until the server stops taking them */
	enum { LINE = 1000, MAX_BYTES = 64 * 1024 * 1024 };
	static char msg[LINE + 1];
	size_t sent = 0;
	long long quiet_since = now_ms();
	while (sent < MAX_BYTES && now_ms() - quiet_since < 500) {
		size_t off = sent % LINE;
		if (off == 0) {
			snprintf(msg, sizeof(msg), "ECHO %08zu ", sent / LINE);
			memset(msg + 14, 'x', LINE - 16);
			memcpy(msg + LINE - 2, "\r\n", 2);
		}
		ssize_t w = send(c.fd, msg + off, LINE - off, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			quiet_since = now_ms();
		} else if (w < 0 && errno == EAGAIN) {
			struct pollfd p = {c.fd, POLLOUT, 0};
			poll(&p, 1, 50);
		} else {
			TJ_FAIL("send: %s", strerror(errno));
		}
	}
	TJ_ASSERT(sent < MAX_BYTES); /* the server stopped reading */
	tj_net_stats st = stats(&s);
	TJ_ASSERT_INT(st.read_pauses, >=, 1);
	/* the queue stays bounded: the limit plus one read chunk's answers */
	TJ_ASSERT_INT(st.max_queued, <=, cfg.max_output + TJ_NET_READ_CHUNK + LINE);
	printf("  (client got %zu bytes in before the server paused; max queued %llu, pauses %llu)\n",
	       sent, (unsigned long long)st.max_queued, (unsigned long long)st.read_pauses);

	/* now read everything, finishing the partial line and quitting */
	size_t lines_sent = (sent + LINE - 1) / LINE;
	char tail[LINE + 16];
	size_t tail_len = 0, tail_off = 0;
	if (sent % LINE) {
		memcpy(tail, msg + sent % LINE, LINE - sent % LINE);
		tail_len = LINE - sent % LINE;
	}
	memcpy(tail + tail_len, "QUIT\r\n", 6);
	tail_len += 6;
	size_t got = 0;
	bool bye = false, eof = false;
	long long deadline = now_ms() + 20000;
	while (!eof && now_ms() < deadline) {
		struct pollfd p = {c.fd, POLLIN | (tail_off < tail_len ? POLLOUT : 0), 0};
		poll(&p, 1, 100);
		if ((p.revents & POLLOUT) && tail_off < tail_len) {
			ssize_t w = send(c.fd, tail + tail_off, tail_len - tail_off, MSG_NOSIGNAL);
			if (w > 0)
				tail_off += (size_t)w;
		}
		if (p.revents & (POLLIN | POLLHUP)) {
			ssize_t r = recv(c.fd, c.buf + c.len, sizeof(c.buf) - c.len, 0);
			if (r == 0) {
				eof = true;
			} else if (r > 0) {
				c.len += (size_t)r;
				char *nl;
				while ((nl = memchr(c.buf, '\n', c.len))) {
					size_t n = (size_t)(nl - c.buf) + 1;
					if (n == 9 && memcmp(c.buf, "+OK bye\r\n", 9) == 0) {
						bye = true;
					} else {
						char want[16];
						snprintf(want, sizeof(want), "%08zu ", got);
						if (n != LINE - 5 || memcmp(c.buf, want, 9) != 0)
							TJ_FAIL("line %zu out of order or mangled", got);
						got++;
					}
					memmove(c.buf, nl + 1, c.len - n);
					c.len -= n;
				}
			}
		}
	}
	TJ_ASSERT(eof);
	TJ_ASSERT(bye);
	TJ_ASSERT_INT(got, ==, lines_sent);
	cli_close(&c);
	server_stop(&s);
	leak_check();
}

TJ_TEST(backpressure_pauses_chained_work)
{
	tj_net_config cfg = {.max_output = 64 * 1024};
	server s;
	server_init(&s, &cfg, 0);
	server_start(&s);
	client c;
	TJ_OKRC(cli_connect_from(&c, s.port, NULL, 4096));
	cli_expect(&c, "+OK echo ready tls=no");
	enum { N = 1000, CHUNK = 32 * 1024 }; /* 32 MB: more than any socket buffers */
	cli_send(&c, "CHUNKS 1000\r\n");
	/* not reading: the work chain must stall once the queue is over the mark */
	int before, after = -1;
	do {
		before = after;
		sleep_ms(300);
		after = __atomic_load_n(&echo_works, __ATOMIC_SEQ_CST);
	} while (after != before);
	TJ_ASSERT_INT(after, <, N);
	tj_net_stats st = stats(&s);
	TJ_ASSERT_INT(st.read_pauses, >=, 1);
	TJ_ASSERT_INT(st.max_queued, <=, cfg.max_output + CHUNK + 64);
	printf("  (work stalled after %d of %d chunks; max queued %llu)\n", after, N,
	       (unsigned long long)st.max_queued);
	/* reading resumes the chain; every chunk arrives, in order */
	static char line[CHUNK + 64];
	for (int i = 0; i < N; i++) {
		TJ_ASSERT_INT(cli_line(&c, line, sizeof(line)), ==, 0);
		char want[32];
		snprintf(want, sizeof(want), "CHUNK %06d ", i);
		TJ_ASSERT(strncmp(line, want, strlen(want)) == 0);
		TJ_ASSERT_INT(strlen(line), ==, strlen(want) + CHUNK);
	}
	cli_expect(&c, "+OK chunks done");
	TJ_ASSERT_INT(echo_works, ==, N);
	cli_send(&c, "QUIT\r\n");
	cli_expect(&c, "+OK bye");
	cli_close(&c);
	server_stop(&s);
	leak_check();
}

TJ_TEST(idle_timeout_and_engine_timer)
{
	server s;
	server_init(&s, NULL, 300);
	server_start(&s);
	client c;
	long long t0 = now_ms();
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_expect(&c, "-ERR autologout");
	long long dt = now_ms() - t0;
	TJ_ASSERT_INT(dt, >=, 250);
	TJ_ASSERT_INT(dt, <, 2000);
	cli_expect_eof(&c);
	cli_close(&c);

	/* the engine lengthens its timer (IMAP IDLE, after login) */
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	t0 = now_ms();
	cli_send(&c, "TIMEOUT 1200\r\n");
	cli_expect(&c, "+OK");
	struct pollfd p = {c.fd, POLLIN, 0};
	TJ_ASSERT_INT(poll(&p, 1, 700), ==, 0); /* still quiet past the old 300 ms */
	cli_expect(&c, "-ERR autologout");
	dt = now_ms() - t0;
	TJ_ASSERT_INT(dt, >=, 1100);
	TJ_ASSERT_INT(dt, <, 3000);
	cli_expect_eof(&c);
	cli_close(&c);

	/* a TLS client that never finishes its handshake is dropped too */
	cli_connect(&c, s.tls_port);
	t0 = now_ms();
	char line[64];
	TJ_ASSERT_INT(cli_line(&c, line, sizeof(line)), ==, -1);
	TJ_ASSERT_INT(now_ms() - t0, <, 2000);
	cli_close(&c);
	TJ_ASSERT_INT(stats(&s).timeouts, ==, 3);
	server_stop(&s);
	leak_check();
}

TJ_TEST(connection_limits)
{
	tj_net_config cfg = {.max_conns = 3, .max_conns_per_ip = 2};
	server s;
	server_init(&s, &cfg, 0);
	server_start(&s);
	client a, b, x, d, e;
	cli_connect(&a, s.port);
	cli_expect(&a, "+OK echo ready tls=no");
	cli_connect(&b, s.port);
	cli_expect(&b, "+OK echo ready tls=no");
	/* third from the same address: per-IP limit */
	cli_connect(&x, s.port);
	cli_expect(&x, "-ERR too many connections");
	cli_expect_eof(&x);
	cli_close(&x);
	/* another address is fine */
	TJ_OKRC(cli_connect_from(&d, s.port, "127.0.0.2", 0));
	cli_expect(&d, "+OK echo ready tls=no");
	/* fourth overall: total limit */
	TJ_OKRC(cli_connect_from(&e, s.port, "127.0.0.3", 0));
	cli_expect(&e, "-ERR too many connections");
	cli_expect_eof(&e);
	cli_close(&e);
	TJ_ASSERT_INT(stats(&s).rejected, ==, 2);
	/* a TLS listener refuses without a plaintext message */
	cli_connect(&e, s.tls_port);
	char line[64];
	TJ_ASSERT_INT(cli_line(&e, line, sizeof(line)), ==, -1);
	cli_close(&e);
	/* a slot frees when a client leaves */
	cli_send(&a, "QUIT\r\n");
	cli_expect(&a, "+OK bye");
	cli_expect_eof(&a);
	cli_close(&a);
	bool ok = false;
	for (int i = 0; i < 100 && !ok; i++) {
		cli_connect(&x, s.port);
		char l2[64];
		ok = cli_line(&x, l2, sizeof(l2)) == 0 && strcmp(l2, "+OK echo ready tls=no") == 0;
		if (!ok) {
			cli_close(&x);
			sleep_ms(20);
		}
	}
	TJ_ASSERT(ok);
	cli_send(&x, "ECHO in\r\n");
	cli_expect(&x, "in");
	cli_close(&x);
	cli_close(&b);
	cli_close(&d);
	server_stop(&s);
	leak_check();
}

TJ_TEST(wakeup_from_another_thread)
{
	server s;
	server_init(&s, NULL, 0);
	server_start(&s);
	client c;
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_send(&c, "ID\r\n");
	char line[128];
	TJ_ASSERT_INT(cli_line(&c, line, sizeof(line)), ==, 0);
	unsigned long long id = 0;
	TJ_ASSERT_INT(sscanf(line, "+OK id=%llu", &id), ==, 1);
	tj_net_wakeup(s.net, id);
	cli_expect(&c, "* NEWS");
	/* news during work arrives after the work's answer */
	cli_send(&c, "SLOW 300\r\n");
	sleep_ms(50);
	tj_net_wakeup(s.net, id);
	cli_expect(&c, "+OK slow done");
	cli_expect(&c, "* NEWS");
	/* input sent during the work is answered after it, in order */
	cli_send(&c, "SLOW 200\r\nECHO queued\r\n");
	sleep_ms(50);
	cli_send(&c, "ECHO later\r\n");
	cli_expect(&c, "+OK slow done");
	cli_expect(&c, "queued");
	cli_expect(&c, "later");
	/* stale and bogus ids are ignored */
	tj_net_wakeup(s.net, id + (1ull << 32));
	tj_net_wakeup(s.net, 12345);
	cli_send(&c, "ECHO still\r\n");
	cli_expect(&c, "still");
	cli_close(&c);
	server_stop(&s);
	TJ_ASSERT_INT(echo_works, ==, 2);
	leak_check();
}

static int hups;
static void on_hup(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&hups, 1, __ATOMIC_SEQ_CST);
}

TJ_TEST(graceful_shutdown_with_work_in_flight)
{
	server s;
	server_init(&s, NULL, 0);
	TJ_OKRC(tj_net_handle_signals(s.net, on_hup, NULL));
	server_start(&s);
	client busy, idle, tls;
	cli_connect(&busy, s.port);
	cli_expect(&busy, "+OK echo ready tls=no");
	cli_connect(&idle, s.port);
	cli_expect(&idle, "+OK echo ready tls=no");
	cli_connect(&tls, s.tls_port);
	cli_tls(&tls);
	cli_expect(&tls, "+OK echo ready tls=yes");
	cli_send(&busy, "SLOW 700\r\n");
	sleep_ms(100);
	long long t0 = now_ms();
	raise(SIGTERM); /* uv_signal: graceful shutdown */
	cli_expect(&idle, "-ERR shutting down");
	cli_expect_eof(&idle);
	cli_expect(&tls, "-ERR shutting down");
	cli_expect_eof(&tls);
	/* listeners are closed */
	client late;
	int rc = -1;
	for (int i = 0; i < 100; i++) {
		rc = cli_connect_from(&late, s.port, NULL, 0);
		if (rc < 0)
			break;
		cli_close(&late);
		sleep_ms(10);
	}
	TJ_ASSERT_INT(rc, ==, -ECONNREFUSED);
	/* the work finishes and its answer is sent before the bye */
	cli_expect(&busy, "+OK slow done");
	cli_expect(&busy, "-ERR shutting down");
	cli_expect_eof(&busy);
	long long dt = now_ms() - t0;
	TJ_ASSERT_INT(dt, >=, 400);
	TJ_ASSERT_INT(dt, <, 3000);
	server_join(&s);
	TJ_ASSERT_INT(echo_works, ==, 1);
	TJ_ASSERT_INT(hups, ==, 0);
	cli_close(&busy);
	cli_close(&idle);
	cli_close(&tls);
	leak_check();
}

TJ_TEST(shutdown_timeout_cuts_connections)
{
	tj_net_config cfg = {.shutdown_ms = 300};
	server s;
	server_init(&s, &cfg, 0);
	server_start(&s);
	client busy;
	cli_connect(&busy, s.port);
	cli_expect(&busy, "+OK echo ready tls=no");
	cli_send(&busy, "SLOW 1500\r\n");
	sleep_ms(100);
	long long t0 = now_ms();
	tj_net_request_shutdown(s.net);
	cli_expect_eof(&busy); /* cut at the deadline, before the work ends */
	long long dt = now_ms() - t0;
	TJ_ASSERT_INT(dt, >=, 250);
	TJ_ASSERT_INT(dt, <, 1200);
	server_join(&s); /* waits for the work, then frees everything */
	TJ_ASSERT_INT(echo_works, ==, 1);
	cli_close(&busy);
	leak_check();
}

TJ_TEST(cert_reload_on_sighup)
{
	server s;
	server_init(&s, NULL, 0);
	TJ_OKRC(tj_net_handle_signals(s.net, on_hup, NULL));
	server_start(&s);
	client a, b, c;
	cli_connect(&a, s.tls_port);
	cli_tls(&a);
	cli_expect(&a, "+OK echo ready tls=yes");
	TJ_ASSERT_INT(cli_serial(&a), ==, 1);

	make_cert(&s, 2);
	raise(SIGHUP);
	for (int i = 0; i < 300 && __atomic_load_n(&hups, __ATOMIC_SEQ_CST) < 1; i++)
		sleep_ms(10);
	TJ_ASSERT_INT(hups, ==, 1);
	cli_connect(&b, s.tls_port);
	cli_tls(&b);
	cli_expect(&b, "+OK echo ready tls=yes");
	TJ_ASSERT_INT(cli_serial(&b), ==, 2);
	/* STARTTLS takes the new context as well */
	cli_connect(&c, s.port);
	cli_expect(&c, "+OK echo ready tls=no");
	cli_send(&c, "STARTTLS\r\n");
	cli_expect(&c, "+OK begin tls");
	cli_tls(&c);
	TJ_ASSERT_INT(cli_serial(&c), ==, 2);
	cli_close(&c);
	/* the old connection was not dropped */
	cli_send(&a, "ECHO old\r\n");
	cli_expect(&a, "old");

	/* a broken file: the reload fails, the current certificate stays */
	FILE *f = fopen(s.cert, "w");
	TJ_ASSERT(f);
	fputs("-----BEGIN CERTIFICATE-----\nnot a cert\n-----END CERTIFICATE-----\n", f);
	fclose(f);
	raise(SIGHUP);
	for (int i = 0; i < 300 && __atomic_load_n(&hups, __ATOMIC_SEQ_CST) < 2; i++)
		sleep_ms(10);
	TJ_ASSERT_INT(hups, ==, 2);
	cli_connect(&c, s.tls_port);
	cli_tls(&c);
	TJ_ASSERT_INT(cli_serial(&c), ==, 2);
	cli_expect(&c, "+OK echo ready tls=yes");
	cli_close(&c);
	TJ_ASSERT_INT(tj_tls_generation(s.tls), ==, 2);

	cli_close(&a);
	cli_close(&b);
	server_stop(&s);
	leak_check();
}

TJ_TEST(bind_errors_are_reported)
{
	server s;
	server_init(&s, NULL, 0);
	char addr[64];
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", s.port);
	int rc = tj_net_listen(s.net, &s.svc, addr, false, NULL);
	TJ_ASSERT_INT(rc, ==, -EADDRINUSE);
	const char *e = tj_net_last_error(s.net);
	TJ_ASSERT(strstr(e, "address already in use"));
	TJ_ASSERT(strstr(e, addr));
	TJ_ASSERT(strstr(e, "echo"));

	TJ_ASSERT_INT(tj_net_listen(s.net, &s.svc, "127.0.0.1", false, NULL), ==, TJ_EINVAL);
	TJ_ASSERT(strstr(tj_net_last_error(s.net), "bad address"));
	TJ_ASSERT_INT(tj_net_listen(s.net, &s.svc, "no-such-host.invalid:1", false, NULL), ==,
		      TJ_EINVAL);
	TJ_ASSERT(strstr(tj_net_last_error(s.net), "cannot resolve"));
	TJ_ASSERT_INT(tj_net_listen(s.net, &s.svc, "192.0.2.1:0", false, NULL), ==, -EADDRNOTAVAIL);

	/* IPv6 in brackets, when the machine has ::1 */
	uint16_t p6 = 0;
	rc = tj_net_listen(s.net, &s.svc, "[::1]:0", false, &p6);
	if (rc == 0)
		TJ_ASSERT(p6 != 0);
	else
		TJ_ASSERT(rc == -EADDRNOTAVAIL || rc == -EAFNOSUPPORT);

	/* a TLS listener needs a certificate */
	tj_net *bare;
	TJ_OKRC(tj_net_new(&bare, NULL));
	TJ_ASSERT_INT(tj_net_listen(bare, &s.svc, "127.0.0.1:0", true, NULL), ==, TJ_EINVAL);
	TJ_ASSERT(strstr(tj_net_last_error(bare), "no certificate"));
	TJ_ASSERT_INT(tj_net_free(&bare), ==, 0);

	/* permission: a port below 1024 without root */
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
	int start = 1024;
	if (f) {
		if (fscanf(f, "%d", &start) != 1)
			start = 1024;
		fclose(f);
	}
	if (geteuid() == 0 && start > 1) {
		pid_t pid = fork();
		if (pid == 0) {
			char err[256];
			if (tj_proc_drop_privileges("nobody", false, err, sizeof(err)) != 0)
				_exit(3);
			tj_net *n2;
			if (tj_net_new(&n2, NULL) != 0)
				_exit(4);
			int r = tj_net_listen(n2, &s.svc, "127.0.0.1:1", false, NULL);
			int ok = r == -EACCES && strstr(tj_net_last_error(n2), "permission denied") &&
				 strstr(tj_net_last_error(n2), "127.0.0.1:1");
			if (tj_net_free(&n2) != 0)
				_exit(5);
			_exit(ok ? 0 : 6);
		}
		int st;
		TJ_ASSERT_INT(waitpid(pid, &st, 0), ==, pid);
		TJ_ASSERT(WIFEXITED(st));
		TJ_ASSERT_INT(WEXITSTATUS(st), ==, 0);
	} else {
		printf("  (permission case skipped: not root or no privileged ports)\n");
	}
	/* never ran: tj_net_free shuts down and closes everything */
	TJ_ASSERT_INT(tj_net_free(&s.net), ==, 0);
	tj_tls_free(&s.tls);
	leak_check();
}

TJ_TEST(openssl_s_client)
{
	if (system("command -v openssl >/dev/null 2>&1") != 0) {
		printf("  (skipped: openssl command not installed)\n");
		return;
	}
	server s;
	server_init(&s, NULL, 0);
	server_start(&s);
	int in[2], out[2];
	TJ_ASSERT_INT(pipe(in), ==, 0);
	TJ_ASSERT_INT(pipe(out), ==, 0);
	char target[64];
	snprintf(target, sizeof(target), "127.0.0.1:%u", s.tls_port);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(out[1], 2);
		close(in[1]);
		close(out[0]);
		execlp("openssl", "openssl", "s_client", "-connect", target, "-quiet", "-crlf",
		       "-servername", "localhost", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	const char *cmds = "ECHO via-s_client\nTLS\nQUIT\n";
	TJ_ASSERT_INT(write(in[1], cmds, strlen(cmds)), ==, (ssize_t)strlen(cmds));
	static char got[65536];
	size_t n = 0;
	long long deadline = now_ms() + 10000;
	while (now_ms() < deadline && n < sizeof(got) - 1) {
		struct pollfd p = {out[0], POLLIN, 0};
		if (poll(&p, 1, 100) <= 0)
			continue;
		ssize_t r = read(out[0], got + n, sizeof(got) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	got[n] = 0;
	int st = 0;
	for (int i = 0; i < 100 && waitpid(pid, &st, WNOHANG) == 0; i++)
		sleep_ms(20);
	if (waitpid(pid, &st, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	close(in[1]);
	close(out[0]);
	if (!strstr(got, "+OK echo ready tls=yes") || !strstr(got, "via-s_client\r\n") ||
	    !strstr(got, "+OK tls=yes") || !strstr(got, "+OK bye"))
		TJ_FAIL("s_client transcript:\n%s", got);
	server_stop(&s);
	leak_check();
}

TJ_TEST(selfsigned_certificate)
{
	char cert[512], key[512];
	snprintf(cert, sizeof(cert), "%s/c.pem", tj_test_tmpdir());
	snprintf(key, sizeof(key), "%s/k.pem", tj_test_tmpdir());
	mode_t old = umask(0);
	TJ_OKRC(tj_tls_selfsigned(cert, key, "mail.example.org", 30, 0));
	umask(old);
	struct stat st;
	TJ_ASSERT_INT(stat(key, &st), ==, 0);
	TJ_ASSERT_INT(st.st_mode & 0777, ==, 0600);
	FILE *f = fopen(cert, "r");
	TJ_ASSERT(f);
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	TJ_ASSERT(x);
	char cn[128];
	TJ_ASSERT(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					    sizeof(cn)) > 0);
	TJ_ASSERT_STR(cn, "mail.example.org");
	TJ_ASSERT_INT(X509_check_host(x, "mail.example.org", 0, 0, NULL), ==, 1);
	uint64_t serial = 0;
	TJ_ASSERT(ASN1_INTEGER_get_uint64(&serial, X509_get0_serialNumber(x)) == 1);
	TJ_ASSERT(serial != 0);
	X509_free(x);
	tj_tls *t;
	TJ_OKRC(tj_tls_new(&t, cert, key));
	TJ_ASSERT_INT(tj_tls_generation(t), ==, 1);
	tj_tls_free(&t);
	TJ_ASSERT(t == NULL);
	/* a key that does not match */
	char key2[512], cert2[512];
	snprintf(key2, sizeof(key2), "%s/k2.pem", tj_test_tmpdir());
	snprintf(cert2, sizeof(cert2), "%s/c2.pem", tj_test_tmpdir());
	TJ_OKRC(tj_tls_selfsigned(cert2, key2, "other", 1, 7));
	char err[256];
	TJ_ASSERT_INT(tj_tls_new_error(&t, cert, key2, err, sizeof(err)), ==, TJ_EINVAL);
	TJ_ASSERT(t == NULL);
	TJ_ASSERT(strstr(err, "match") || strstr(err, "key"));
	TJ_ASSERT_INT(tj_tls_new_error(&t, "/nonexistent/cert.pem", key, err, sizeof(err)), ==,
		      TJ_EINVAL);
	TJ_ASSERT(strstr(err, "/nonexistent/cert.pem"));
	leak_check();
}

TJ_TEST(privilege_drop)
{
	if (geteuid() != 0) {
		char err[256];
		TJ_OKRC(tj_proc_drop_privileges(NULL, false, err, sizeof(err)));
		TJ_ASSERT(tj_proc_drop_privileges("root", false, err, sizeof(err)) < 0);
		printf("  (root cases skipped: not running as root)\n");
		return;
	}
	char err[256] = "";
	TJ_ASSERT_INT(tj_proc_drop_privileges(NULL, false, err, sizeof(err)), ==, -EPERM);
	TJ_ASSERT(strstr(err, "root"));
	TJ_OKRC(tj_proc_drop_privileges(NULL, true, err, sizeof(err)));
	TJ_ASSERT_INT(tj_proc_drop_privileges("no-such-user-tj", false, err, sizeof(err)), <, 0);
	TJ_ASSERT(strstr(err, "no-such-user-tj"));
	TJ_ASSERT_INT(tj_proc_drop_privileges("root", false, err, sizeof(err)), ==, -EPERM);
	TJ_OKRC(tj_proc_drop_privileges("nobody", false, err, sizeof(err)));
	TJ_ASSERT_INT(getuid(), ==, 65534);
	TJ_ASSERT_INT(geteuid(), ==, 65534);
	gid_t groups[8];
	int ng = getgroups(8, groups);
	TJ_ASSERT_INT(ng, ==, 1);
	TJ_ASSERT_INT(groups[0], ==, getgid());
	TJ_ASSERT(setuid(0) < 0);
	/* already that user: fine; another user: refused */
	TJ_OKRC(tj_proc_drop_privileges("nobody", false, err, sizeof(err)));
	TJ_ASSERT_INT(tj_proc_drop_privileges("daemon", false, err, sizeof(err)), ==, -EPERM);
	leak_check();
}

TJ_TEST(pidfile)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/tjstored.pid", tj_test_tmpdir());
	TJ_OKRC(tj_proc_write_pidfile(path));
	FILE *f = fopen(path, "r");
	TJ_ASSERT(f);
	long pid = 0;
	TJ_ASSERT_INT(fscanf(f, "%ld", &pid), ==, 1);
	fclose(f);
	TJ_ASSERT_INT(pid, ==, getpid());
	TJ_OKRC(tj_proc_remove_pidfile(path));
	TJ_ASSERT(access(path, F_OK) < 0);
	TJ_ASSERT_INT(tj_proc_remove_pidfile(path), ==, -ENOENT);
	TJ_ASSERT_INT(tj_proc_write_pidfile("/nonexistent/dir/x.pid"), ==, -ENOENT);
}

int main(int argc, char **argv)
{
	tj_log_set_level(getenv("TJ_NET_DEBUG") ? TJ_LOG_DEBUG : TJ_LOG_ERROR);
	return tj_test_main(argc, argv);
}

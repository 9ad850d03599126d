/*
 * net.c - listeners, connections, TLS through memory BIOs, worker-pool
 * dispatch, backpressure, idle timers, wakeups, signals and graceful
 * shutdown on one libuv loop (see net.h and docs/net.md).
 *
 * A connection's bytes flow: socket -> [rbio -> SSL_read] -> c->in ->
 * engine->on_data; engine output -> c->out -> [SSL_write -> wbio] ->
 * uv_write.  All of it on the loop thread; only engine->work() runs on the
 * thread pool, and while it runs the loop touches none of the connection's
 * engine state (c->out included).
 */
#include "node/net/net.h"
#include "common/err.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#define IP_BUCKETS 1024
#define MAX_LISTENERS 64

typedef struct ip_count {
	struct ip_count *next;
	uint8_t addr[16];
	uint32_t n;
} ip_count;

typedef struct listener {
	uv_tcp_t tcp;
	tj_net *net;
	const tj_net_service *svc;
	bool tls;
	char addr[TJ_NET_ADDR_MAX];
} listener;

struct tj_net_conn {
	tj_net *net;
	const tj_net_service *svc;
	uint64_t id;
	uint32_t slot;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_work_t work_req;
	uv_shutdown_t shutdown_req;
	int handles_open;          /* tcp + timer not yet closed */
	uint8_t ipkey[16];
	char peer[TJ_NET_ADDR_MAX];
	void *data;

	SSL *ssl;
	BIO *rbio, *wbio;          /* owned by ssl */
	bool tls_done;             /* handshake completed */
	bool implicit_tls;         /* on_open waits for the handshake */

	tj_buf in, out;
	size_t queued;             /* bytes in uv_write requests not yet done */
	uint32_t idle_ms;

	bool opened;               /* on_open was called */
	bool reading;
	bool work_busy;            /* work queued or running */
	bool wake_pending;
	bool bye_pending;          /* shutdown bye after the running work */
	bool starttls_req;         /* engine asked for TLS after this hook's reply */
	bool starttls_pending;     /* reply flushed: TLS when the queue drains;
	                              later output waits for the handshake */
	bool bp_paused;            /* reading paused by backpressure */
	bool closing;              /* graceful close under way: no more input */
	bool dead;                 /* tcp closed or closing */
};

typedef struct write_req {
	uv_write_t req;
	tj_net_conn *c;
	size_t len;
	uint8_t *data;
} write_req;

struct tj_net {
	uv_loop_t loop;
	tj_net_config cfg;
	tj_tls *tls;
	char err[512];

	listener *listeners[MAX_LISTENERS];
	size_t nlisteners;

	tj_net_conn **slots;       /* max_conns entries */
	uint32_t *gens;
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t nconns;
	ip_count *ips[IP_BUCKETS];

	uv_async_t async;
	pthread_mutex_t mu;        /* guards wake_ids, async_closed, shutdown_req */
	uint64_t *wake_ids;
	size_t nwake, capwake;
	bool async_closed;
	bool shutdown_req;

	uv_signal_t sig_term, sig_int, sig_hup;
	bool signals_on;
	void (*hup)(void *);
	void *hup_arg;

	uv_timer_t shutdown_timer;
	bool stopping;
	bool finished;

	tj_net_stats st;           /* updated on the loop thread with atomics */
};

#define ST_ADD(net, f, v) __atomic_add_fetch(&(net)->st.f, (v), __ATOMIC_RELAXED)
#define ST_SUB(net, f, v) __atomic_sub_fetch(&(net)->st.f, (v), __ATOMIC_RELAXED)

static void conn_after_call(tj_net_conn *c, int rc);
static void conn_close_hard(tj_net_conn *c);
static void conn_close_graceful(tj_net_conn *c);
static void conn_flush(tj_net_conn *c);
static void conn_update_reading(tj_net_conn *c);
static void conn_maybe_work(tj_net_conn *c);
static void conn_deliver(tj_net_conn *c);
static void conn_start_tls(tj_net_conn *c);
static int conn_new_ssl(tj_net_conn *c);
static void net_maybe_finish(tj_net *net);

/* ================================================================
 * small helpers
 * ================================================================ */

static void set_err(tj_net *net, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_err(tj_net *net, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(net->err, sizeof(net->err), fmt, ap);
	va_end(ap);
}

/* fmt_addr - "1.2.3.4:5" or "[::1]:5"; IPv4-mapped IPv6 shown as IPv4. */
static void fmt_addr(const struct sockaddr_storage *ss, char *out, size_t outsz, uint8_t key_r[16])
{
	char h[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	uint8_t key[16] = {0};
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		inet_ntop(AF_INET, &a->sin_addr, h, sizeof(h));
		port = ntohs(a->sin_port);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &a->sin_addr, 4);
		snprintf(out, outsz, "%s:%u", h, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		port = ntohs(a->sin6_port);
		memcpy(key, &a->sin6_addr, 16);
		if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
			inet_ntop(AF_INET, (const uint8_t *)&a->sin6_addr + 12, h, sizeof(h));
			snprintf(out, outsz, "%s:%u", h, port);
		} else {
			inet_ntop(AF_INET6, &a->sin6_addr, h, sizeof(h));
			snprintf(out, outsz, "[%s]:%u", h, port);
		}
	} else {
		snprintf(out, outsz, "?");
	}
	if (key_r)
		memcpy(key_r, key, 16);
}

static uint32_t ip_hash(const uint8_t k[16])
{
	uint32_t h = 2166136261u;
	for (int i = 0; i < 16; i++)
		h = (h ^ k[i]) * 16777619u;
	return h & (IP_BUCKETS - 1);
}

static ip_count *ip_find(tj_net *net, const uint8_t k[16], bool create)
{
	uint32_t b = ip_hash(k);
	for (ip_count *e = net->ips[b]; e; e = e->next)
		if (memcmp(e->addr, k, 16) == 0)
			return e;
	if (!create)
		return NULL;
	ip_count *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	memcpy(e->addr, k, 16);
	e->next = net->ips[b];
	net->ips[b] = e;
	return e;
}

static void ip_release(tj_net *net, const uint8_t k[16])
{
	uint32_t b = ip_hash(k);
	for (ip_count **pp = &net->ips[b]; *pp; pp = &(*pp)->next) {
		ip_count *e = *pp;
		if (memcmp(e->addr, k, 16) != 0)
			continue;
		if (--e->n == 0) {
			*pp = e->next;
			free(e);
		}
		return;
	}
}

/* ================================================================
 * connection: output
 * ================================================================ */

/* conn_new_ssl - an SSL in server mode on two memory BIOs.  <0: closed. */
static int conn_new_ssl(tj_net_conn *c)
{
	c->ssl = SSL_new(tj_tls_ctx(c->net->tls));
	BIO *r = BIO_new(BIO_s_mem()), *w = BIO_new(BIO_s_mem());
	if (!c->ssl || !r || !w) {
		BIO_free(r);
		BIO_free(w);
		conn_close_hard(c);
		return -ENOMEM;
	}
	SSL_set_bio(c->ssl, r, w); /* ssl owns both */
	c->rbio = r;
	c->wbio = w;
	SSL_set_accept_state(c->ssl);
	return 0;
}

/* conn_start_tls - the STARTTLS reply is out: plaintext still held is
 * dropped and everything read from now on is TLS. */
static void conn_start_tls(tj_net_conn *c)
{
	c->starttls_pending = false;
	tj_buf_free(&c->in);
	conn_new_ssl(c);
}

static void on_write(uv_write_t *req, int status)
{
	write_req *w = (write_req *)req;
	tj_net_conn *c = w->c;
	c->queued -= w->len;
	free(w->data);
	free(w);
	if (status < 0) {
		if (status != UV_ECANCELED)
			tj_log(TJ_LOG_DEBUG, "net", "event=write_failed peer=%s error=\"%s\"",
			       c->peer, uv_strerror(status));
		conn_close_hard(c);
		return;
	}
	if (c->dead)
		return;
	if (c->queued == 0 && c->starttls_pending && !c->closing)
		conn_start_tls(c);
	if (c->dead)
		return;
	if (c->bp_paused && c->queued <= c->net->cfg.max_output / 2) {
		c->bp_paused = false;
		conn_maybe_work(c);
	}
	conn_update_reading(c);
}

/* submit - hand len bytes of malloc'd data to uv_write (takes ownership). */
static void submit(tj_net_conn *c, uint8_t *data, size_t len)
{
	if (c->dead || len == 0) {
		free(data);
		return;
	}
	write_req *w = malloc(sizeof(*w));
	if (!w) {
		free(data);
		conn_close_hard(c);
		return;
	}
	w->c = c;
	w->len = len;
	w->data = data;
	uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
	int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write);
	if (rc < 0) {
		free(data);
		free(w);
		conn_close_hard(c);
		return;
	}
	c->queued += len;
	uint64_t q = c->queued;
	uint64_t m = __atomic_load_n(&c->net->st.max_queued, __ATOMIC_RELAXED);
	if (q > m)
		__atomic_store_n(&c->net->st.max_queued, q, __ATOMIC_RELAXED);
	if (c->queued > c->net->cfg.max_output && !c->bp_paused) {
		c->bp_paused = true;
		ST_ADD(c->net, read_pauses, 1);
	}
}

/* trim_bio - an empty memory BIO whose buffer grew past a few KiB is
 * replaced by a fresh one, so idle TLS connections hold no record-sized
 * buffers (SSL_MODE_RELEASE_BUFFERS does the same inside OpenSSL). */
static void trim_bios(tj_net_conn *c)
{
	BUF_MEM *bm = NULL;
	if (!c->ssl)
		return;
	if (BIO_ctrl_pending(c->rbio) == 0 && BIO_get_mem_ptr(c->rbio, &bm) > 0 && bm &&
	    bm->max > 4096) {
		BIO *b = BIO_new(BIO_s_mem());
		if (b) {
			SSL_set0_rbio(c->ssl, b);
			c->rbio = b;
		}
	}
	bm = NULL;
	if (BIO_ctrl_pending(c->wbio) == 0 && BIO_get_mem_ptr(c->wbio, &bm) > 0 && bm &&
	    bm->max > 4096) {
		BIO *b = BIO_new(BIO_s_mem());
		if (b) {
			SSL_set0_wbio(c->ssl, b);
			c->wbio = b;
		}
	}
}

/* drain_wbio - move TLS records from the write BIO to the socket. */
static void drain_wbio(tj_net_conn *c)
{
	size_t n;
	while (c->wbio && (n = BIO_ctrl_pending(c->wbio)) > 0) {
		uint8_t *p = malloc(n);
		if (!p) {
			conn_close_hard(c);
			return;
		}
		int r = BIO_read(c->wbio, p, (int)n);
		if (r <= 0) {
			free(p);
			return;
		}
		submit(c, p, (size_t)r);
	}
}

/* conn_flush - send c->out (plain or through TLS).  While a handshake is
 * under way the output waits for it. */
static void conn_flush(tj_net_conn *c)
{
	if (c->dead || c->work_busy) {
		return;
	}
	if (c->out.len == 0)
		return;
	if (c->starttls_pending || (c->ssl && !c->tls_done))
		return; /* never plaintext after the STARTTLS reply */
	if (!c->ssl) {
		size_t len;
		uint8_t *p = tj_buf_steal(&c->out, &len);
		if (!p) {
			conn_close_hard(c);
			return;
		}
		submit(c, p, len);
		return;
	}
	size_t off = 0;
	while (off < c->out.len) {
		size_t chunk = c->out.len - off;
		if (chunk > 1u << 30)
			chunk = 1u << 30;
		int r = SSL_write(c->ssl, c->out.data + off, (int)chunk);
		if (r <= 0) {
			ERR_clear_error();
			conn_close_hard(c);
			return;
		}
		off += (size_t)r;
	}
	tj_buf_free(&c->out);
	drain_wbio(c);
	trim_bios(c);
}

/* ================================================================
 * connection: timers, reading, work
 * ================================================================ */

static void on_timer(uv_timer_t *t)
{
	tj_net_conn *c = t->data;
	if (c->dead)
		return;
	if (c->closing) { /* linger expired: the client never took the last bytes */
		conn_close_hard(c);
		return;
	}
	if (c->work_busy)
		return; /* re-armed after the work */
	ST_ADD(c->net, timeouts, 1);
	tj_log(TJ_LOG_INFO, "net", "event=idle_timeout service=%s peer=%s", c->svc->name, c->peer);
	if (c->opened && c->svc->engine->on_timeout)
		c->svc->engine->on_timeout(c, &c->out);
	if (c->ssl && !c->tls_done) {
		conn_close_hard(c);
		return;
	}
	conn_close_graceful(c);
}

static void conn_arm_timer(tj_net_conn *c)
{
	if (c->dead || c->closing)
		return;
	if (c->work_busy || c->idle_ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, on_timer, c->idle_ms, 0);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	tj_net_conn *c = h->data;
	/* data arriving while a work item runs would be buffered here, but
	 * reading is stopped then; c->in is normally empty */
	if (tj_buf_reserve(&c->in, TJ_NET_READ_CHUNK) < 0) {
		*buf = uv_buf_init(NULL, 0);
		return;
	}
	*buf = uv_buf_init((char *)c->in.data + c->in.len, TJ_NET_READ_CHUNK);
}

static void tls_fail(tj_net_conn *c, const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char eb[160] = "";
	if (e)
		ERR_error_string_n(e, eb, sizeof(eb));
	ERR_clear_error();
	ST_ADD(c->net, tls_failed, 1);
	tj_log(TJ_LOG_INFO, "net", "event=tls_failed service=%s peer=%s stage=%s error=\"%s\"",
	       c->svc->name, c->peer, what, eb);
	drain_wbio(c); /* the alert, if any */
	conn_close_hard(c);
}

/* tls_input - feed ciphertext (the tail of c->in from `from`) to OpenSSL,
 * leaving the plaintext in c->in.  false if the connection was closed. */
static bool tls_input(tj_net_conn *c, size_t from, size_t n)
{
	if (n > 0 && BIO_write(c->rbio, c->in.data + from, (int)n) != (int)n) {
		conn_close_hard(c);
		return false;
	}
	tj_buf_truncate(&c->in, from);
	if (!c->tls_done) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ) {
				drain_wbio(c);
				return true;
			}
			tls_fail(c, "handshake");
			return false;
		}
		c->tls_done = true;
		tj_log(TJ_LOG_DEBUG, "net", "event=tls service=%s peer=%s version=%s cipher=%s",
		       c->svc->name, c->peer, SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
		drain_wbio(c);
		int rc = 0;
		const tj_net_engine *eng = c->svc->engine;
		if (c->implicit_tls) {
			c->opened = true;
			rc = eng->on_open(c, &c->out);
		} else if (eng->on_tls) {
			rc = eng->on_tls(c, &c->out);
		}
		conn_after_call(c, rc);
		if (c->dead || c->closing)
			return false;
	}
	for (;;) {
		if (tj_buf_reserve(&c->in, 16384) < 0) {
			conn_close_hard(c);
			return false;
		}
		int r = SSL_read(c->ssl, c->in.data + c->in.len, 16384);
		if (r > 0) {
			c->in.len += (size_t)r;
			c->in.data[c->in.len] = 0;
			continue;
		}
		int e = SSL_get_error(c->ssl, r);
		drain_wbio(c);
		if (e == SSL_ERROR_WANT_READ) {
			ERR_clear_error();
			trim_bios(c);
			return true;
		}
		if (e == SSL_ERROR_ZERO_RETURN) { /* close_notify */
			conn_deliver(c);
			if (!c->dead)
				conn_close_graceful(c);
			return false;
		}
		tls_fail(c, "read");
		return false;
	}
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	tj_net_conn *c = s->data;
	if (nread == 0) { /* EAGAIN */
		if (c->in.len == 0)
			tj_buf_free(&c->in);
		return;
	}
	if (nread < 0) {
		if (nread != UV_EOF)
			tj_log(TJ_LOG_DEBUG, "net", "event=read_failed peer=%s error=\"%s\"",
			       c->peer, uv_strerror((int)nread));
		/* half-close: answer what we have, then close */
		if (nread == UV_EOF && !c->closing && !c->dead) {
			uv_read_stop(s);
			c->reading = false;
			conn_close_graceful(c);
		} else {
			conn_close_hard(c);
		}
		return;
	}
	if (c->closing || c->dead)
		return;
	size_t from = c->in.len;
	c->in.len += (size_t)nread;
	c->in.data[c->in.len] = 0;
	if (c->starttls_pending) {
		/* cannot happen (reading is stopped), but never feed it on */
		tj_buf_truncate(&c->in, from);
		return;
	}
	conn_arm_timer(c);
	if (c->ssl) {
		if (!tls_input(c, from, (size_t)nread))
			return;
	}
	conn_deliver(c);
	if (!c->dead && c->in.len == 0)
		tj_buf_free(&c->in); /* an idle connection keeps no read buffer */
}

/* conn_deliver - hand buffered plaintext to the engine when it may take it. */
static void conn_deliver(tj_net_conn *c)
{
	if (c->in.len == 0 || c->dead || c->closing || c->work_busy || c->starttls_pending ||
	    !c->opened)
		return;
	int rc = c->svc->engine->on_data(c, c->in.data, c->in.len, &c->out);
	tj_buf_reset(&c->in); /* the engine took it all */
	conn_after_call(c, rc);
}

static void conn_update_reading(tj_net_conn *c)
{
	if (c->dead)
		return;
	bool want = !c->closing && !c->work_busy && !c->bp_paused && !c->starttls_pending;
	if (want && !c->reading) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = false;
	}
	if (!want && c->in.len == 0 && c->in.cap > 0 && !c->work_busy)
		tj_buf_free(&c->in); /* idle or paused connections keep no read buffer */
}

static void work_cb(uv_work_t *req)
{
	tj_net_conn *c = req->data;
	c->svc->engine->work(c, &c->out);
}

static void conn_try_free(tj_net_conn *c);

static void after_work_cb(uv_work_t *req, int status)
{
	(void)status;
	tj_net_conn *c = req->data;
	c->work_busy = false;
	if (c->dead) {
		conn_try_free(c);
		return;
	}
	int rc = 0;
	if (c->svc->engine->after_work)
		rc = c->svc->engine->after_work(c, &c->out);
	if (c->bye_pending) {
		c->bye_pending = false;
		conn_flush(c);
		if (c->svc->engine->on_shutdown)
			c->svc->engine->on_shutdown(c, &c->out);
		conn_close_graceful(c);
		return;
	}
	if (rc >= 0 && c->wake_pending && c->svc->engine->on_wakeup) {
		c->wake_pending = false;
		conn_flush(c);
		rc = c->svc->engine->on_wakeup(c, &c->out);
	}
	conn_after_call(c, rc);
	if (!c->dead && !c->closing && !c->work_busy)
		conn_deliver(c);
}

static void conn_maybe_work(tj_net_conn *c)
{
	const tj_net_engine *eng = c->svc->engine;
	if (c->dead || c->closing || c->work_busy || c->bp_paused || !eng->want_work || !eng->work)
		return;
	if (!eng->want_work(c))
		return;
	c->work_req.data = c;
	if (uv_queue_work(&c->net->loop, &c->work_req, work_cb, after_work_cb) < 0) {
		conn_close_hard(c);
		return;
	}
	c->work_busy = true;
	conn_arm_timer(c);
}

/* conn_after_call - after any engine hook: flush, close or go on. */
static void conn_after_call(tj_net_conn *c, int rc)
{
	if (c->dead)
		return;
	conn_flush(c);
	if (c->starttls_req) { /* the reply is out (or queued): now hold */
		c->starttls_req = false;
		c->starttls_pending = true;
	}
	if (rc < 0 || c->closing) {
		conn_close_graceful(c);
		return;
	}
	if (c->starttls_pending && c->queued == 0) {
		conn_start_tls(c); /* the engine wrote no reply before TLS */
		if (c->dead)
			return;
	}
	conn_maybe_work(c);
	conn_update_reading(c);
	conn_arm_timer(c);
}

/* ================================================================
 * connection: lifecycle
 * ================================================================ */

static void conn_try_free(tj_net_conn *c)
{
	if (c->handles_open > 0 || c->work_busy)
		return;
	tj_net *net = c->net;
	if (c->opened && c->svc->engine->on_close)
		c->svc->engine->on_close(c);
	SSL_free(c->ssl);
	tj_buf_free(&c->in);
	tj_buf_free(&c->out);
	net->slots[c->slot] = NULL;
	net->free_slots[net->nfree++] = c->slot;
	ip_release(net, c->ipkey);
	net->nconns--;
	ST_SUB(net, open, 1);
	free(c);
	net_maybe_finish(net);
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	tj_net_conn *c = h->data;
	c->handles_open--;
	conn_try_free(c);
}

static void conn_close_hard(tj_net_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	c->reading = false;
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_shutdown_done(uv_shutdown_t *req, int status)
{
	(void)status;
	tj_net_conn *c = req->data;
	conn_close_hard(c);
}

/* conn_close_graceful - flush what the engine produced, say close_notify,
 * send FIN, then close; bounded by cfg.linger_ms. */
static void conn_close_graceful(tj_net_conn *c)
{
	if (c->dead)
		return;
	if (c->work_busy) { /* after the work */
		c->closing = true;
		return;
	}
	bool first = !c->closing || !c->shutdown_req.data;
	c->closing = true;
	conn_flush(c);
	if (c->dead || !first)
		return;
	conn_update_reading(c);
	if (c->ssl && c->tls_done) {
		SSL_shutdown(c->ssl);
		ERR_clear_error();
		drain_wbio(c);
		if (c->dead)
			return;
	}
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown_done) < 0) {
		conn_close_hard(c);
		return;
	}
	uv_timer_start(&c->timer, on_timer, c->net->cfg.linger_ms, 0);
}

static void on_reject_closed(uv_handle_t *h)
{
	free(h->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	listener *l = server->data;
	tj_net *net = l->net;
	if (status < 0) {
		tj_log(TJ_LOG_WARN, "net", "event=accept_failed listen=%s error=\"%s\"", l->addr,
		       uv_strerror(status));
		return;
	}
	tj_net_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return; /* the pending connection stays in the backlog */
	uv_tcp_init(&net->loop, &c->tcp);
	c->tcp.data = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_reject_closed);
		return;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	memset(&ss, 0, sizeof(ss));
	uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl);
	fmt_addr(&ss, c->peer, sizeof(c->peer), c->ipkey);

	ip_count *ipc = ip_find(net, c->ipkey, false);
	const char *why = NULL;
	if (net->stopping)
		why = "shutting_down";
	else if (net->nconns >= net->cfg.max_conns || net->nfree == 0)
		why = "max_conns";
	else if (ipc && ipc->n >= net->cfg.max_conns_per_ip)
		why = "max_conns_per_ip";
	else if (!(ipc = ip_find(net, c->ipkey, true)))
		why = "out_of_memory";
	if (why) {
		ST_ADD(net, rejected, 1);
		tj_log(TJ_LOG_WARN, "net", "event=reject service=%s peer=%s reason=%s", l->svc->name,
		       c->peer, why);
		if (!l->tls && l->svc->reject_msg) {
			uv_buf_t b = uv_buf_init((char *)l->svc->reject_msg,
						 (unsigned)strlen(l->svc->reject_msg));
			uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		}
		uv_close((uv_handle_t *)&c->tcp, on_reject_closed);
		return;
	}
	ipc->n++;
	c->net = net;
	c->svc = l->svc;
	c->slot = net->free_slots[--net->nfree];
	net->gens[c->slot]++;
	c->id = ((uint64_t)net->gens[c->slot] << 32) | c->slot;
	net->slots[c->slot] = c;
	net->nconns++;
	ST_ADD(net, open, 1);
	c->idle_ms = l->svc->idle_ms ? l->svc->idle_ms : TJ_NET_IDLE_MS;
	uv_timer_init(&net->loop, &c->timer);
	c->timer.data = c;
	c->handles_open = 2;
	uv_tcp_nodelay(&c->tcp, 1);
	ST_ADD(net, accepted, 1);
	tj_log(TJ_LOG_DEBUG, "net", "event=connect service=%s peer=%s listen=%s id=%llu",
	       l->svc->name, c->peer, l->addr, (unsigned long long)c->id);
	if (l->tls) {
		c->implicit_tls = true;
		if (conn_new_ssl(c) < 0)
			return;
		conn_update_reading(c);
		conn_arm_timer(c);
		return;
	}
	c->opened = true;
	int rc = c->svc->engine->on_open(c, &c->out);
	conn_after_call(c, rc);
}

/* ================================================================
 * listeners
 * ================================================================ */

int tj_net_parse_hostport(const char *hp, char *host, size_t hostsz, uint16_t *port_r)
{
	const char *colon;
	const char *h = hp;
	size_t hl;
	if (hp[0] == '[') {
		const char *rb = strchr(hp, ']');
		if (!rb || rb[1] != ':')
			return TJ_EINVAL;
		h = hp + 1;
		hl = (size_t)(rb - h);
		colon = rb + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
			return TJ_EINVAL; /* no port, or a bare IPv6 address */
		hl = (size_t)(colon - hp);
	}
	if (hl == 0 || hl >= hostsz)
		return TJ_EINVAL;
	const char *ps = colon + 1;
	if (!*ps || strlen(ps) > 5)
		return TJ_EINVAL;
	unsigned long port = 0;
	for (const char *p = ps; *p; p++) {
		if (*p < '0' || *p > '9')
			return TJ_EINVAL;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port > 65535)
		return TJ_EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	*port_r = (uint16_t)port;
	return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
	free(h->data);
}

/* listen_one - bind one resolved address. */
static int listen_one(tj_net *net, const tj_net_service *svc, const struct sockaddr *sa, bool tls,
		      bool dual, const char *text, uint16_t *port_r)
{
	if (net->nlisteners >= MAX_LISTENERS) {
		set_err(net, "listen %s %s: too many listeners (max %d)", svc->name, text, MAX_LISTENERS);
		return TJ_ETOOBIG;
	}
	listener *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->net = net;
	l->svc = svc;
	l->tls = tls;
	int rc = uv_tcp_init_ex(&net->loop, &l->tcp, sa->sa_family);
	if (rc < 0) { /* e.g. no IPv6 on this machine: no handle was made */
		set_err(net, "listen %s %s: %s", svc->name, text, uv_strerror(rc));
		free(l);
		return rc;
	}
	l->tcp.data = l;
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&l->tcp, &fd) == 0) {
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	}
	rc = uv_tcp_bind(&l->tcp, sa, (sa->sa_family == AF_INET6 && !dual) ? UV_TCP_IPV6ONLY : 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
	if (rc < 0) {
		const char *hint = "";
		if (rc == UV_EACCES)
			hint = " (ports below 1024 need root or CAP_NET_BIND_SERVICE; bind before dropping privileges)";
		else if (rc == UV_EADDRINUSE)
			hint = " (another process listens there)";
		set_err(net, "listen %s %s%s: %s%s", svc->name, text, tls ? " (tls)" : "",
			uv_strerror(rc), hint);
		uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
		return rc;
	}
	struct sockaddr_storage ss;
	int sl = sizeof(ss);
	uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&ss, &sl);
	fmt_addr(&ss, l->addr, sizeof(l->addr), NULL);
	uint16_t port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
						 : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	if (port_r)
		*port_r = port;
	net->listeners[net->nlisteners++] = l;
	tj_log(TJ_LOG_INFO, "net", "event=listen service=%s addr=%s tls=%s", svc->name, l->addr,
	       tls ? "yes" : "no");
	return 0;
}

int tj_net_listen(tj_net *net, const tj_net_service *svc, const char *hostport, bool tls,
		  uint16_t *port_r)
{
	char host[256];
	uint16_t port;
	if (tj_net_parse_hostport(hostport, host, sizeof(host), &port) < 0) {
		set_err(net, "listen %s: bad address \"%s\" (want host:port, [v6addr]:port or *:port)",
			svc->name, hostport);
		return TJ_EINVAL;
	}
	if (tls && !net->tls) {
		set_err(net, "listen %s %s: TLS listener but no certificate configured", svc->name,
			hostport);
		return TJ_EINVAL;
	}
	if (strcmp(host, "*") == 0) {
		struct sockaddr_in6 a6;
		uv_ip6_addr("::", port, &a6);
		int rc = listen_one(net, svc, (struct sockaddr *)&a6, tls, true, hostport, port_r);
		if (rc == UV_EAFNOSUPPORT || rc == UV_EADDRNOTAVAIL) {
			struct sockaddr_in a4;
			uv_ip4_addr("0.0.0.0", port, &a4);
			rc = listen_one(net, svc, (struct sockaddr *)&a4, tls, false, hostport, port_r);
		}
		return rc;
	}
	struct addrinfo hints, *res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	char portstr[8];
	snprintf(portstr, sizeof(portstr), "%u", port);
	int g = getaddrinfo(host, portstr, &hints, &res);
	if (g != 0) {
		set_err(net, "listen %s %s: cannot resolve \"%s\": %s", svc->name, hostport, host,
			gai_strerror(g));
		return TJ_EINVAL;
	}
	int rc = 0, nok = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		/* several addresses with port 0: the first fixes the port */
		if (nok && port == 0 && port_r) {
			if (ai->ai_family == AF_INET)
				((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(*port_r);
			else
				((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(*port_r);
		}
		rc = listen_one(net, svc, ai->ai_addr, tls, false, hostport, port_r);
		if (rc < 0)
			break;
		nok++;
	}
	freeaddrinfo(res);
	return rc;
}

/* ================================================================
 * server
 * ================================================================ */

static void on_async(uv_async_t *a);

int tj_net_new(tj_net **net_r, const tj_net_config *cfg)
{
	*net_r = NULL;
	tj_net *net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	if (cfg)
		net->cfg = *cfg;
	if (!net->cfg.max_conns)
		net->cfg.max_conns = TJ_NET_MAX_CONNS;
	if (!net->cfg.max_conns_per_ip)
		net->cfg.max_conns_per_ip = TJ_NET_MAX_CONNS_PER_IP;
	if (!net->cfg.max_output)
		net->cfg.max_output = TJ_NET_MAX_OUTPUT;
	if (!net->cfg.shutdown_ms)
		net->cfg.shutdown_ms = TJ_NET_SHUTDOWN_MS;
	if (!net->cfg.linger_ms)
		net->cfg.linger_ms = TJ_NET_LINGER_MS;
	uint32_t n = net->cfg.max_conns;
	net->slots = calloc(n, sizeof(*net->slots));
	net->gens = calloc(n, sizeof(*net->gens));
	net->free_slots = calloc(n, sizeof(*net->free_slots));
	if (!net->slots || !net->gens || !net->free_slots) {
		free(net->slots);
		free(net->gens);
		free(net->free_slots);
		free(net);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < n; i++)
		net->free_slots[i] = n - 1 - i;
	net->nfree = n;
	int rc = uv_loop_init(&net->loop);
	if (rc < 0) {
		free(net->slots);
		free(net->gens);
		free(net->free_slots);
		free(net);
		return rc;
	}
	pthread_mutex_init(&net->mu, NULL);
	uv_async_init(&net->loop, &net->async, on_async);
	net->async.data = net;
	uv_timer_init(&net->loop, &net->shutdown_timer);
	net->shutdown_timer.data = net;
	signal(SIGPIPE, SIG_IGN);
	*net_r = net;
	return 0;
}

const char *tj_net_last_error(const tj_net *net)
{
	return net->err;
}

void tj_net_set_tls(tj_net *net, tj_tls *tls)
{
	net->tls = tls;
}

int tj_net_reload_tls(tj_net *net)
{
	if (!net->tls)
		return 0;
	int rc = tj_tls_reload(net->tls);
	if (rc < 0) {
		set_err(net, "tls reload: %s", tj_tls_last_error(net->tls));
		tj_log(TJ_LOG_ERROR, "net", "event=tls_reload_failed error=\"%s\" (old certificate kept)",
		       tj_tls_last_error(net->tls));
		return rc;
	}
	tj_log(TJ_LOG_INFO, "net", "event=tls_reloaded generation=%llu",
	       (unsigned long long)tj_tls_generation(net->tls));
	return 0;
}

static void on_signal(uv_signal_t *s, int signum)
{
	tj_net *net = s->data;
	if (signum == SIGHUP) {
		tj_log(TJ_LOG_INFO, "net", "event=signal signal=HUP");
		tj_net_reload_tls(net);
		if (net->hup)
			net->hup(net->hup_arg);
		return;
	}
	tj_log(TJ_LOG_INFO, "net", "event=signal signal=%s", signum == SIGTERM ? "TERM" : "INT");
	tj_net_shutdown(net);
}

int tj_net_handle_signals(tj_net *net, void (*hup)(void *arg), void *arg)
{
	if (net->signals_on)
		return 0;
	net->hup = hup;
	net->hup_arg = arg;
	uv_signal_t *sv[3] = {&net->sig_term, &net->sig_int, &net->sig_hup};
	int nums[3] = {SIGTERM, SIGINT, SIGHUP};
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&net->loop, sv[i]);
		sv[i]->data = net;
		int rc = uv_signal_start(sv[i], on_signal, nums[i]);
		if (rc < 0) {
			for (int j = 0; j <= i; j++)
				uv_close((uv_handle_t *)sv[j], NULL);
			return rc;
		}
	}
	net->signals_on = true;
	return 0;
}

static void on_shutdown_timer(uv_timer_t *t)
{
	tj_net *net = t->data;
	uint32_t left = 0;
	for (uint32_t i = 0; i < net->cfg.max_conns; i++) {
		tj_net_conn *c = net->slots[i];
		if (c && !c->dead) {
			left++;
			conn_close_hard(c);
		}
	}
	if (left)
		tj_log(TJ_LOG_WARN, "net", "event=shutdown_timeout cut=%u", left);
}

static void net_maybe_finish(tj_net *net)
{
	if (!net->stopping || net->finished || net->nconns > 0)
		return;
	net->finished = true;
	uv_close((uv_handle_t *)&net->shutdown_timer, NULL);
	pthread_mutex_lock(&net->mu);
	net->async_closed = true;
	pthread_mutex_unlock(&net->mu);
	uv_close((uv_handle_t *)&net->async, NULL);
	if (net->signals_on) {
		uv_close((uv_handle_t *)&net->sig_term, NULL);
		uv_close((uv_handle_t *)&net->sig_int, NULL);
		uv_close((uv_handle_t *)&net->sig_hup, NULL);
		net->signals_on = false;
	}
	tj_log(TJ_LOG_INFO, "net", "event=stopped");
}

void tj_net_shutdown(tj_net *net)
{
	if (net->stopping)
		return;
	net->stopping = true;
	tj_log(TJ_LOG_INFO, "net", "event=shutdown connections=%u", net->nconns);
	for (size_t i = 0; i < net->nlisteners; i++)
		uv_close((uv_handle_t *)&net->listeners[i]->tcp, on_listener_closed);
	net->nlisteners = 0;
	for (uint32_t i = 0; i < net->cfg.max_conns; i++) {
		tj_net_conn *c = net->slots[i];
		if (!c || c->dead)
			continue;
		if (c->work_busy) {
			c->bye_pending = true;
			continue;
		}
		if (!c->opened) { /* TLS handshake not done: nobody to say bye to */
			conn_close_hard(c);
			continue;
		}
		if (!c->closing && c->svc->engine->on_shutdown)
			c->svc->engine->on_shutdown(c, &c->out);
		conn_close_graceful(c);
	}
	uv_timer_start(&net->shutdown_timer, on_shutdown_timer, net->cfg.shutdown_ms, 0);
	uv_unref((uv_handle_t *)&net->shutdown_timer);
	net_maybe_finish(net);
}

void tj_net_request_shutdown(tj_net *net)
{
	pthread_mutex_lock(&net->mu);
	bool send = !net->async_closed;
	net->shutdown_req = true;
	if (send)
		uv_async_send(&net->async);
	pthread_mutex_unlock(&net->mu);
}

void tj_net_wakeup(tj_net *net, uint64_t id)
{
	pthread_mutex_lock(&net->mu);
	if (!net->async_closed) {
		if (net->nwake == net->capwake) {
			size_t nc = net->capwake ? net->capwake * 2 : 64;
			uint64_t *p = realloc(net->wake_ids, nc * sizeof(*p));
			if (!p) {
				pthread_mutex_unlock(&net->mu);
				return;
			}
			net->wake_ids = p;
			net->capwake = nc;
		}
		net->wake_ids[net->nwake++] = id;
		uv_async_send(&net->async);
	}
	pthread_mutex_unlock(&net->mu);
}

static void on_async(uv_async_t *a)
{
	tj_net *net = a->data;
	pthread_mutex_lock(&net->mu);
	uint64_t *ids = net->wake_ids;
	size_t n = net->nwake;
	bool stop = net->shutdown_req;
	net->shutdown_req = false;
	net->wake_ids = NULL;
	net->nwake = net->capwake = 0;
	pthread_mutex_unlock(&net->mu);
	for (size_t i = 0; i < n; i++) {
		uint32_t slot = (uint32_t)ids[i];
		if (slot >= net->cfg.max_conns)
			continue;
		tj_net_conn *c = net->slots[slot];
		if (!c || c->id != ids[i] || c->dead || c->closing || !c->opened)
			continue;
		if (c->work_busy) {
			c->wake_pending = true;
			continue;
		}
		if (!c->svc->engine->on_wakeup)
			continue;
		int rc = c->svc->engine->on_wakeup(c, &c->out);
		conn_after_call(c, rc);
	}
	free(ids);
	if (stop)
		tj_net_shutdown(net);
}

int tj_net_run(tj_net *net)
{
	return uv_run(&net->loop, UV_RUN_DEFAULT);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int tj_net_free(tj_net **netp)
{
	if (!netp || !*netp)
		return 0;
	tj_net *net = *netp;
	if (!net->stopping) {
		tj_net_shutdown(net);
		/* cut whatever is left now */
		on_shutdown_timer(&net->shutdown_timer);
		uv_run(&net->loop, UV_RUN_DEFAULT);
	}
	if (!net->finished) {
		/* connections still open (a bug in the caller's use); leak-free exit anyway */
		uv_walk(&net->loop, on_walk_close, NULL);
		uv_run(&net->loop, UV_RUN_DEFAULT);
	}
	int rc = uv_loop_close(&net->loop);
	for (int b = 0; b < IP_BUCKETS; b++) {
		while (net->ips[b]) {
			ip_count *e = net->ips[b];
			net->ips[b] = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&net->mu);
	free(net->wake_ids);
	free(net->slots);
	free(net->gens);
	free(net->free_slots);
	free(net);
	*netp = NULL;
	return rc;
}

void tj_net_stats_get(tj_net *net, tj_net_stats *st)
{
	st->accepted = __atomic_load_n(&net->st.accepted, __ATOMIC_RELAXED);
	st->rejected = __atomic_load_n(&net->st.rejected, __ATOMIC_RELAXED);
	st->tls_failed = __atomic_load_n(&net->st.tls_failed, __ATOMIC_RELAXED);
	st->read_pauses = __atomic_load_n(&net->st.read_pauses, __ATOMIC_RELAXED);
	st->max_queued = __atomic_load_n(&net->st.max_queued, __ATOMIC_RELAXED);
	st->timeouts = __atomic_load_n(&net->st.timeouts, __ATOMIC_RELAXED);
	st->open = __atomic_load_n(&net->st.open, __ATOMIC_RELAXED);
}

/* ================================================================
 * per-connection accessors
 * ================================================================ */

uint64_t tj_net_conn_id(const tj_net_conn *c) { return c->id; }
void *tj_net_conn_data(const tj_net_conn *c) { return c->data; }
void tj_net_conn_set_data(tj_net_conn *c, void *data) { c->data = data; }
void *tj_net_conn_service_arg(const tj_net_conn *c) { return c->svc->arg; }
const tj_net_service *tj_net_conn_service(const tj_net_conn *c) { return c->svc; }
tj_net *tj_net_conn_net(const tj_net_conn *c) { return c->net; }
const char *tj_net_conn_peer(const tj_net_conn *c) { return c->peer; }
bool tj_net_conn_is_tls(const tj_net_conn *c) { return c->ssl && c->tls_done; }
size_t tj_net_conn_queued(const tj_net_conn *c) { return c->queued; }

bool tj_net_conn_tls_available(const tj_net_conn *c)
{
	return c->net->tls && !c->ssl && !c->starttls_pending && !c->starttls_req;
}

int tj_net_conn_starttls(tj_net_conn *c)
{
	if (c->ssl || c->starttls_pending || c->starttls_req)
		return TJ_ESTATE;
	if (!c->net->tls)
		return TJ_EINVAL;
	/* The hook's return path (conn_after_call) flushes the reply and stops
	 * reading; on_write starts TLS once the queue is empty.  c->in (the
	 * plaintext the engine was just handed) is emptied then too. */
	c->starttls_req = true;
	return 0;
}

void tj_net_conn_set_timeout(tj_net_conn *c, uint32_t ms)
{
	c->idle_ms = ms;
	conn_arm_timer(c);
}

void tj_net_conn_close(tj_net_conn *c)
{
	/* the hook's return path (conn_after_call) does the flush and close */
	c->closing = true;
}

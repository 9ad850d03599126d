/*
 * net.h - tjstored's network layer: listeners, connections, TLS, timers,
 * worker-pool dispatch and shutdown, on one libuv loop.  Protocol-agnostic:
 * the IMAP and SMTP session engines plug in through tj_net_engine.
 *
 * Threads (docs/net.md): every function here runs on the loop thread, except
 * tj_net_wakeup() and tj_net_request_shutdown(), which any thread may call,
 * and tj_net_conn_*() accessors, which engine->work() may call on its worker
 * thread for its own connection.  The layer never calls two hooks of one
 * connection at the same time: while work() runs, no other hook of that
 * connection runs and no input is delivered.
 *
 *   tj_net *net;  tj_net_new(&net, &cfg);
 *   tj_net_set_tls(net, tls);                          (optional)
 *   tj_net_listen(net, &imap_service, "[::1]:143", false, &port);
 *   tj_net_handle_signals(net, on_hup, arg);           (optional)
 *   ... drop privileges (proc.h) ...
 *   tj_net_run(net);             returns after a shutdown has completed
 *   tj_net_free(&net);
 */
#ifndef TJ_NODE_NET_H
#define TJ_NODE_NET_H

#include "common/buf.h"
#include "node/net/tls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults; every one can be changed through tj_net_config. */
#define TJ_NET_MAX_CONNS 10000             /* connections, all listeners */
#define TJ_NET_MAX_CONNS_PER_IP 100        /* connections from one client address */
#define TJ_NET_MAX_OUTPUT (256u * 1024)    /* bytes queued for write before reads pause */
#define TJ_NET_IDLE_MS (30u * 1000)        /* idle timeout when the service sets none */
#define TJ_NET_SHUTDOWN_MS (10u * 1000)    /* graceful shutdown, then connections are cut */
#define TJ_NET_LINGER_MS (5u * 1000)       /* a closing connection's last flush */
#define TJ_NET_READ_CHUNK (64u * 1024)     /* one socket read */
#define TJ_NET_ADDR_MAX 64                 /* "[v6]:port" text, NUL included */

typedef struct tj_net tj_net;
typedef struct tj_net_conn tj_net_conn;

/*
 * The session engine.  Every hook but work() runs on the loop thread.
 * Hooks that take `out` append protocol bytes to it; the layer sends them
 * (through TLS when the connection has it) when the hook returns.  A hook
 * returning <0 closes the connection after `out` is flushed.
 */
typedef struct tj_net_engine {
	/* on_open - the connection is ready (for implicit TLS: after the
	 * handshake).  Create the session (tj_net_conn_set_data) and append the
	 * greeting.  Required. */
	int (*on_open)(tj_net_conn *c, tj_buf *out);
	/* on_data - bytes from the client (plaintext).  The engine consumes all
	 * of them: it buffers, parses and answers or queues blocking work.
	 * Not called while work is queued or running.  Required. */
	int (*on_data)(tj_net_conn *c, const uint8_t *p, size_t len, tj_buf *out);
	/* want_work - true when the engine has blocking work queued; the layer
	 * then runs work() on the thread pool.  Optional (NULL: never). */
	bool (*want_work)(tj_net_conn *c);
	/* work - WORKER THREAD.  Do the blocking part, append output to `out`.
	 * Must not call any tj_net_* function except tj_net_conn_* accessors
	 * and tj_net_wakeup().  Optional. */
	void (*work)(tj_net_conn *c, tj_buf *out);
	/* after_work - loop thread, after work() returned: parse whatever input
	 * the engine buffered meanwhile.  Optional.  want_work() is asked again
	 * afterwards, so work can be chained (e.g. a large FETCH in chunks: the
	 * next chunk runs only once the write queue is under max_output). */
	int (*after_work)(tj_net_conn *c, tj_buf *out);
	/* on_wakeup - tj_net_wakeup() named this connection ("has news").
	 * Delivered after any running work.  Optional. */
	int (*on_wakeup)(tj_net_conn *c, tj_buf *out);
	/* on_tls - a STARTTLS handshake completed; the engine resets what
	 * RFC 3207/2595 say must be forgotten.  Optional. */
	int (*on_tls)(tj_net_conn *c, tj_buf *out);
	/* on_timeout - the idle timer fired; append the autologout reply.  The
	 * connection is closed afterwards whatever it returns.  Optional. */
	void (*on_timeout)(tj_net_conn *c, tj_buf *out);
	/* on_shutdown - the server is stopping; append the protocol's bye
	 * ("* BYE ...", "421 ...").  Then the connection is closed.  Optional. */
	void (*on_shutdown)(tj_net_conn *c, tj_buf *out);
	/* on_close - the connection is gone; free the session.  Called once
	 * for every connection on_open was called for.  Optional. */
	void (*on_close)(tj_net_conn *c);
} tj_net_engine;

/* A protocol service (imap, imaps, smtp, lmtp): what its listeners run.
 * Caller-owned; must outlive the tj_net. */
typedef struct tj_net_service {
	const char *name;              /* "imap": logs */
	const tj_net_engine *engine;
	void *arg;                     /* tj_net_conn_service_arg() */
	uint32_t idle_ms;              /* first idle timeout; 0: TJ_NET_IDLE_MS */
	const char *reject_msg;        /* written to plaintext connections refused
	                                  by a limit ("* BYE Too many connections\r\n");
	                                  NULL: just close */
} tj_net_service;

typedef struct tj_net_config {
	uint32_t max_conns;            /* 0: TJ_NET_MAX_CONNS */
	uint32_t max_conns_per_ip;     /* 0: TJ_NET_MAX_CONNS_PER_IP */
	size_t max_output;             /* 0: TJ_NET_MAX_OUTPUT */
	uint32_t shutdown_ms;          /* 0: TJ_NET_SHUTDOWN_MS */
	uint32_t linger_ms;            /* 0: TJ_NET_LINGER_MS */
} tj_net_config;

/* Counters, read with tj_net_stats_get() (any thread; each field is read atomically). */
typedef struct tj_net_stats {
	uint64_t accepted;             /* connections accepted and opened */
	uint64_t rejected;             /* refused by max_conns or max_conns_per_ip */
	uint64_t tls_failed;           /* handshakes that failed */
	uint64_t read_pauses;          /* times reading paused for output backpressure */
	uint64_t max_queued;           /* highest write queue seen on one connection (bytes) */
	uint64_t timeouts;             /* idle timeouts */
	uint64_t open;                 /* connections open now */
} tj_net_stats;

/* tj_net_new - a server with its own loop.  cfg may be NULL (defaults).
 * Sets SIGPIPE to SIG_IGN (writes to closed sockets must return EPIPE).
 * 0, -ENOMEM or a libuv error (negative errno). */
int tj_net_new(tj_net **net_r, const tj_net_config *cfg);

/* tj_net_free - release a server whose tj_net_run() returned (or that never
 * ran).  Closes whatever is still open.  Returns uv_loop_close()'s result:
 * 0, or -EBUSY if handles leaked (a bug).  *net is NULLed. */
int tj_net_free(tj_net **net);

/* tj_net_last_error - text of the last failure of tj_net_listen/tls calls. */
const char *tj_net_last_error(const tj_net *net);

/* tj_net_set_tls - the TLS context holder for implicit-TLS listeners and
 * STARTTLS (not owned; must outlive net).  New connections take the
 * holder's current context, so a tj_tls_reload() affects only them. */
void tj_net_set_tls(tj_net *net, tj_tls *tls);

/* tj_net_listen - bind and listen on "host:port" ("127.0.0.1:143",
 * "[::1]:993", "*:25" = every address, IPv6 dual-stack when available,
 * "localhost:143" = every address the name has).  SO_REUSEADDR is set.
 * port_r (may be NULL) gets the bound port (for ":0").
 * 0; TJ_EINVAL (bad address or tls without tj_net_set_tls); -EADDRINUSE,
 * -EACCES, -EADDRNOTAVAIL ... from bind/listen.  tj_net_last_error() then
 * names the service, the address and the cause. */
int tj_net_listen(tj_net *net, const tj_net_service *svc, const char *hostport,
		  bool tls, uint16_t *port_r);

/* tj_net_parse_hostport - split "host:port" / "[v6]:port" / "*:port".
 * host gets the bare host ("::1", "*").  0 or TJ_EINVAL. */
int tj_net_parse_hostport(const char *hostport, char *host, size_t hostsz, uint16_t *port_r);

/* tj_net_handle_signals - SIGTERM and SIGINT start a graceful shutdown;
 * SIGHUP reloads the TLS context (tj_tls_reload) and then calls hup(arg)
 * (may be NULL).  0 or a libuv error. */
int tj_net_handle_signals(tj_net *net, void (*hup)(void *arg), void *arg);

/* tj_net_reload_tls - reload the cert/key now (loop thread).  On failure
 * the old context stays in use.  0 or a tj_tls_reload() error. */
int tj_net_reload_tls(tj_net *net);

/* tj_net_run - run the loop until a shutdown completes.  0 or a libuv error. */
int tj_net_run(tj_net *net);

/* tj_net_shutdown - loop thread: stop accepting; connections get the
 * engine's bye once their running work is done and are closed; after
 * cfg.shutdown_ms the rest are cut.  tj_net_run() then returns. */
void tj_net_shutdown(tj_net *net);

/* tj_net_request_shutdown - the same, from any thread. */
void tj_net_request_shutdown(tj_net *net);

/* tj_net_wakeup - any thread: connection `id` (tj_net_conn_id) has news;
 * its engine's on_wakeup runs on the loop thread soon.  Ids of connections
 * that are gone are ignored.  Valid until tj_net_free(). */
void tj_net_wakeup(tj_net *net, uint64_t id);

void tj_net_stats_get(tj_net *net, tj_net_stats *st);

/* ---- per-connection calls (loop thread, or work() for its own conn) ---- */

/* tj_net_conn_id - stable id, never reused while the tj_net lives. */
uint64_t tj_net_conn_id(const tj_net_conn *c);
void *tj_net_conn_data(const tj_net_conn *c);
void tj_net_conn_set_data(tj_net_conn *c, void *data);
void *tj_net_conn_service_arg(const tj_net_conn *c);
const tj_net_service *tj_net_conn_service(const tj_net_conn *c);
tj_net *tj_net_conn_net(const tj_net_conn *c);
/* tj_net_conn_peer - "1.2.3.4:5678" / "[::1]:5678"; valid while c lives. */
const char *tj_net_conn_peer(const tj_net_conn *c);
/* tj_net_conn_is_tls - true once a TLS handshake has completed. */
bool tj_net_conn_is_tls(const tj_net_conn *c);
/* tj_net_conn_tls_available - true if STARTTLS could be offered now. */
bool tj_net_conn_tls_available(const tj_net_conn *c);
/* tj_net_conn_queued - bytes written but not yet taken by the kernel. */
size_t tj_net_conn_queued(const tj_net_conn *c);

/* Loop thread only (hooks other than work()): */

/* tj_net_conn_starttls - start TLS once the output produced so far is
 * flushed.  The layer discards any plaintext it still holds and reads
 * nothing more until the handshake; the engine must drop whatever input
 * it buffered after the STARTTLS command (RFC 3207 section 4.2, RFC 2595
 * section 3.1).  0; TJ_ESTATE if TLS is already on or pending; TJ_EINVAL
 * when no TLS context is set. */
int tj_net_conn_starttls(tj_net_conn *c);
/* tj_net_conn_set_timeout - idle timeout from now on (0: none). */
void tj_net_conn_set_timeout(tj_net_conn *c, uint32_t ms);
/* tj_net_conn_close - close after the output produced so far is flushed. */
void tj_net_conn_close(tj_net_conn *c);

#endif

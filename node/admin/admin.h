/*
 * admin.h - the admin socket: a Unix socket ([admin] socket, mode 0600)
 * served by a thread of its own, one request per connection (frames in
 * admin-proto.h), and the client side tjstore-cli --socket uses.
 */
#ifndef TJ_NODE_ADMIN_H
#define TJ_NODE_ADMIN_H

#include "common/buf.h"
#include "node/admin/admin-proto.h"

/* a request handler: req->type, req->flags and the request payload
 * (req->payload, req->len; untrusted bytes); append the reply text to out,
 * return the exit status for the CLI (0 ok, 1 problem, 2 usage).  Each
 * request runs on a thread of its own (at most TJ_ADMIN_MAX_RUNNING at
 * once), so handlers must be thread-safe. */
typedef int tj_admin_handler(void *ctx, const tj_admin_frame *req, tj_buf *out);

typedef struct tj_admin_server tj_admin_server;

#define TJ_ADMIN_IO_TIMEOUT_S 5     /* a client must send its request within this */
#define TJ_ADMIN_CALL_TIMEOUT_S 30  /* a client's default wait for the reply */

/* tj_admin_server_start - bind path (removing a stale socket; refusing
 * one another live process answers on), mode 0600, and serve on a thread.
 * 0, TJ_EEXIST (another server answers there), TJ_ETOOBIG (path too long)
 * or -errno. */
int tj_admin_server_start(const char *path, tj_admin_handler *fn, void *ctx, tj_admin_server **srv_r);

/* tj_admin_server_stop - stop the thread, remove the socket; NULLs *srv. */
void tj_admin_server_stop(tj_admin_server **srv);

/* tj_admin_call - send one request (payload may be NULL/0), wait for the
 * reply at most timeout_s seconds (0: TJ_ADMIN_CALL_TIMEOUT_S).
 * 0 with *status_r and the reply text in out; -errno (no server: -ENOENT,
 * -ECONNREFUSED; no reply in time: -EAGAIN), TJ_EPROTO or TJ_ETOOBIG. */
int tj_admin_call(const char *path, uint8_t type, uint8_t flags, const void *payload, size_t len,
		  unsigned timeout_s, tj_buf *out, int *status_r);

#endif

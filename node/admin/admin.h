/*
 * admin.h - the admin socket: a Unix socket ([admin] socket, mode 0600)
 * served by a thread of its own, one request per connection (frames in
 * admin-proto.h), and the client side tjstore-cli --socket uses.
 */
#ifndef TJ_NODE_ADMIN_H
#define TJ_NODE_ADMIN_H

#include "common/buf.h"
#include "node/admin/admin-proto.h"

/* a request handler: append the reply text to out, return the exit status
 * for the CLI (0 ok, 1 problem, 2 usage).  Runs on the admin thread. */
typedef int tj_admin_handler(void *ctx, uint8_t type, uint8_t flags, tj_buf *out);

typedef struct tj_admin_server tj_admin_server;

#define TJ_ADMIN_IO_TIMEOUT_S 5 /* a client must send its request within this */

/* tj_admin_server_start - bind path (removing a stale socket; refusing
 * one another live process answers on), mode 0600, and serve on a thread.
 * 0, TJ_EEXIST (another server answers there), TJ_ETOOBIG (path too long)
 * or -errno. */
int tj_admin_server_start(const char *path, tj_admin_handler *fn, void *ctx, tj_admin_server **srv_r);

/* tj_admin_server_stop - stop the thread, remove the socket; NULLs *srv. */
void tj_admin_server_stop(tj_admin_server **srv);

/* tj_admin_call - send one request, wait for the reply (bounded).
 * 0 with *status_r and the reply text in out; -errno (no server: -ENOENT,
 * -ECONNREFUSED), TJ_EPROTO or TJ_ETOOBIG. */
int tj_admin_call(const char *path, uint8_t type, uint8_t flags, tj_buf *out, int *status_r);

#endif

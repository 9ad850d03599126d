/*
 * admin.c - the admin socket's server thread and client (see admin.h).
 * Admin traffic is rare and small, so the server is a plain blocking
 * accept loop on its own thread, woken for shutdown by a pipe.  Each
 * request is served on a thread of its own, so a long one (learning a
 * large mailbox) does not hold up `status`; stop waits for them all.
 */
#include "node/admin/admin.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct tj_admin_server {
	int fd, stop_pipe[2];
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	tj_admin_handler *fn;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t idle;
	unsigned running; /* requests being served (guarded by lock) */
};

#define TJ_ADMIN_MAX_RUNNING 16 /* requests served at once; more wait in the backlog */

static int unix_addr(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path))
		return TJ_ETOOBIG;
	memcpy(a->sun_path, path, strlen(path) + 1);
	return 0;
}

static int read_frame(int fd, tj_buf *in, tj_admin_frame *f)
{
	for (;;) {
		size_t size;
		int rc = in->len ? tj_admin_decode(in->data, in->len, f, &size) : TJ_NEED_MORE;
		if (rc != TJ_NEED_MORE)
			return rc;
		uint8_t buf[4096];
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 ? TJ_EPROTO : -errno;
		if ((rc = tj_buf_append(in, buf, (size_t)n)))
			return rc;
	}
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL); /* a client that gave up is no signal */
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void serve_one(tj_admin_server *s, int fd)
{
	struct timeval tv = {TJ_ADMIN_IO_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	tj_buf in = TJ_BUF_INIT, text = TJ_BUF_INIT, out = TJ_BUF_INIT;
	tj_admin_frame f;
	int rc = read_frame(fd, &in, &f);
	if (rc == 0) {
		/* the request may take long: the reply is written when it is done */
		struct timeval none = {0, 0};
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof(none));
		int status = s->fn(s->ctx, &f, &text);
		if (tj_admin_encode(&out, (uint8_t)status, f.flags, text.data, text.len) == 0)
			write_all(fd, out.data, out.len);
	} else {
		tj_log(TJ_LOG_WARN, "admin", "event=bad_request error=\"%s\"", tj_strerror(rc));
	}
	tj_buf_free(&in);
	tj_buf_free(&text);
	tj_buf_free(&out);
	close(fd);
}

struct admin_req {
	tj_admin_server *s;
	int fd;
};

static void *request_main(void *arg)
{
	struct admin_req *r = arg;
	tj_admin_server *s = r->s;
	serve_one(s, r->fd);
	free(r);
	pthread_mutex_lock(&s->lock);
	if (--s->running == 0 || s->running == TJ_ADMIN_MAX_RUNNING - 1)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* start_request - serve fd on a detached thread (inline if none can start) */
static void start_request(tj_admin_server *s, int fd)
{
	pthread_mutex_lock(&s->lock);
	while (s->running >= TJ_ADMIN_MAX_RUNNING)
		pthread_cond_wait(&s->idle, &s->lock);
	s->running++;
	pthread_mutex_unlock(&s->lock);
	struct admin_req *r = malloc(sizeof(*r));
	pthread_attr_t at;
	pthread_t t;
	int started = 0;
	if (r && pthread_attr_init(&at) == 0) {
		*r = (struct admin_req){s, fd};
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&t, &at, request_main, r) == 0;
		pthread_attr_destroy(&at);
	}
	if (started)
		return;
	free(r);
	serve_one(s, fd);
	pthread_mutex_lock(&s->lock);
	if (--s->running == 0)
		pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->lock);
}

static void *admin_main(void *arg)
{
	tj_admin_server *s = arg;
	for (;;) {
		struct pollfd p[2] = {{s->fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN) {
			int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0)
				start_request(s, c);
		}
	}
	return NULL;
}

int tj_admin_server_start(const char *path, tj_admin_handler *fn, void *ctx, tj_admin_server **srv_r)
{
	struct sockaddr_un a;
	int rc = unix_addr(path, &a);
	if (rc)
		return rc;
	struct stat sb;
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return TJ_EEXIST; /* never remove something that is not ours */
		int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int live = probe >= 0 && connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
		if (probe >= 0)
			close(probe);
		if (live)
			return TJ_EEXIST;
		unlink(path); /* a stale socket from a process that is gone */
	}
	tj_admin_server *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->ctx = ctx;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->idle, NULL);
	memcpy(s->path, a.sun_path, sizeof(s->path));
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || pipe2(s->stop_pipe, O_CLOEXEC) < 0) {
		rc = -errno;
		goto fail;
	}
	mode_t old = umask(0077); /* the socket is born 0600 */
	rc = bind(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
	umask(old);
	if (rc || listen(s->fd, 16) < 0) {
		rc = rc ? rc : -errno;
		goto fail;
	}
	if (pthread_create(&s->thread, NULL, admin_main, s) != 0) {
		rc = -EAGAIN;
		unlink(s->path);
		goto fail;
	}
	*srv_r = s;
	return 0;
fail:
	if (s->fd >= 0)
		close(s->fd);
	if (s->stop_pipe[0] > 0) {
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
	}
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	free(s);
	return rc;
}

void tj_admin_server_stop(tj_admin_server **sp)
{
	tj_admin_server *s = *sp;
	if (!s)
		return;
	ssize_t w = write(s->stop_pipe[1], "x", 1);
	(void)w;
	pthread_join(s->thread, NULL);
	pthread_mutex_lock(&s->lock); /* requests still running use ctx */
	while (s->running)
		pthread_cond_wait(&s->idle, &s->lock);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->idle);
	close(s->fd);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	unlink(s->path);
	free(s);
	*sp = NULL;
}

int tj_admin_call(const char *path, uint8_t type, uint8_t flags, const void *payload, size_t len,
		  unsigned timeout_s, tj_buf *out, int *status_r)
{
	struct sockaddr_un a;
	int rc = unix_addr(path, &a);
	if (rc)
		return rc;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {timeout_s ? (time_t)timeout_s : TJ_ADMIN_CALL_TIMEOUT_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	tj_buf req = TJ_BUF_INIT, in = TJ_BUF_INIT;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		rc = -errno;
	if (!rc)
		rc = tj_admin_encode(&req, type, flags, payload, len);
	if (!rc)
		rc = write_all(fd, req.data, req.len);
	tj_admin_frame f;
	if (!rc)
		rc = read_frame(fd, &in, &f);
	if (!rc) {
		*status_r = f.type;
		rc = tj_buf_append(out, f.payload, f.len);
	}
	close(fd);
	tj_buf_free(&req);
	tj_buf_free(&in);
	return rc;
}

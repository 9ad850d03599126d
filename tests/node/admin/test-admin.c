/*
 * test-admin.c - the admin socket: frames, the LEARN payload, the server.
 */
#include "tests/harness.h"

#include "common/err.h"
#include "node/admin/admin.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

TJ_TEST(learn_payload_round_trip)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_admin_learn_encode(&b, "spam", "alice", "Junk/Old"));
	TJ_ASSERT_MEM(b.data, b.len, "spam\0alice\0Junk/Old", 19);
	struct tj_admin_learn l;
	TJ_OKRC(tj_admin_learn_decode(b.data, b.len, &l));
	TJ_ASSERT_STR(l.what, "spam");
	TJ_ASSERT_STR(l.user, "alice");
	TJ_ASSERT_STR(l.mailbox, "Junk/Old");
	tj_buf_free(&b);
	/* empty mailbox (the default) and empty user (stats) */
	TJ_OKRC(tj_admin_learn_encode(&b, "stats", "", ""));
	TJ_OKRC(tj_admin_learn_decode(b.data, b.len, &l));
	TJ_ASSERT_STR(l.what, "stats");
	TJ_ASSERT_STR(l.user, "");
	TJ_ASSERT_STR(l.mailbox, "");
	tj_buf_free(&b);
}

TJ_TEST(learn_payload_malformed)
{
	struct tj_admin_learn l;
	TJ_ASSERT_INT(tj_admin_learn_decode((const uint8_t *)"", 0, &l), ==, TJ_EPROTO);
	TJ_ASSERT_INT(tj_admin_learn_decode((const uint8_t *)"spam", 4, &l), ==, TJ_EPROTO);
	TJ_ASSERT_INT(tj_admin_learn_decode((const uint8_t *)"spam\0alice", 10, &l), ==, TJ_EPROTO);
	TJ_ASSERT_INT(tj_admin_learn_decode((const uint8_t *)"spam\0a\0b\0", 9, &l), ==, TJ_EPROTO);
	TJ_ASSERT_INT(tj_admin_learn_decode((const uint8_t *)"spamspamspam\0a\0b", 17, &l), ==, TJ_EPROTO);
	char big[400];
	memset(big, 'u', sizeof(big));
	memcpy(big, "ham", 4);
	big[sizeof(big) - 3] = '\0';
	big[sizeof(big) - 1] = 'x';
	TJ_ASSERT_INT(tj_admin_learn_decode((const uint8_t *)big, sizeof(big), &l), ==, TJ_EPROTO); /* user > 255 */
	tj_buf b = TJ_BUF_INIT;
	char longuser[300];
	memset(longuser, 'u', sizeof(longuser) - 1);
	longuser[sizeof(longuser) - 1] = '\0';
	TJ_ASSERT_INT(tj_admin_learn_encode(&b, "spam", longuser, ""), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_admin_learn_encode(&b, "too-long-what", "a", ""), ==, TJ_EINVAL);
	TJ_ASSERT_INT(b.len, ==, 0);
}

/* ---- the server ---- */

static atomic_int in_slow, slow_done;

static int handler(void *ctx, const tj_admin_frame *req, tj_buf *out)
{
	(void)ctx;
	if (req->type == TJ_ADMIN_LEARN) { /* slow: holds until released */
		atomic_store(&in_slow, 1);
		for (int i = 0; i < 200 && !atomic_load(&slow_done); i++)
			usleep(10000);
		tj_buf_printf(out, "slow done\n");
		return 0;
	}
	tj_buf_printf(out, "type=%u flags=%u payload=", req->type, req->flags);
	tj_buf_append(out, req->payload, req->len);
	return req->type == TJ_ADMIN_STATS ? 1 : 0;
}

static void sock_path(char *p, size_t n)
{
	snprintf(p, n, "/tmp/tj-admin-test-%d.sock", (int)getpid());
}

TJ_TEST(server_passes_payload_and_status)
{
	char path[108];
	sock_path(path, sizeof(path));
	tj_admin_server *srv;
	TJ_OKRC(tj_admin_server_start(path, handler, NULL, &srv));
	tj_buf out = TJ_BUF_INIT;
	int status = -1;
	TJ_OKRC(tj_admin_call(path, TJ_ADMIN_STATUS, TJ_ADMIN_JSON, "abc", 3, 0, &out, &status));
	TJ_ASSERT_INT(status, ==, 0);
	TJ_ASSERT_MEM(out.data, out.len, "type=1 flags=1 payload=abc", 26);
	out.len = 0;
	TJ_OKRC(tj_admin_call(path, TJ_ADMIN_STATS, 0, NULL, 0, 0, &out, &status));
	TJ_ASSERT_INT(status, ==, 1);
	/* a second server on a live socket is refused */
	tj_admin_server *two;
	TJ_ASSERT_INT(tj_admin_server_start(path, handler, NULL, &two), ==, TJ_EEXIST);
	tj_admin_server_stop(&srv);
	TJ_ASSERT(srv == NULL);
	TJ_ASSERT(access(path, F_OK) != 0);
	TJ_ASSERT(tj_admin_call(path, TJ_ADMIN_STATUS, 0, NULL, 0, 0, &out, &status) < 0);
	tj_buf_free(&out);
}

struct slow_arg {
	const char *path;
	int rc, status;
	tj_buf out;
};

static void *slow_call(void *a)
{
	struct slow_arg *s = a;
	s->rc = tj_admin_call(s->path, TJ_ADMIN_LEARN, 0, "spam\0u\0", 7, 10, &s->out, &s->status);
	return NULL;
}

TJ_TEST(slow_request_does_not_block_others_and_stop_waits)
{
	char path[108];
	sock_path(path, sizeof(path));
	tj_admin_server *srv;
	TJ_OKRC(tj_admin_server_start(path, handler, NULL, &srv));
	struct slow_arg sa = {.path = path, .rc = -1, .status = -1, .out = TJ_BUF_INIT};
	pthread_t t;
	TJ_ASSERT(pthread_create(&t, NULL, slow_call, &sa) == 0);
	for (int i = 0; i < 500 && !atomic_load(&in_slow); i++)
		usleep(2000);
	TJ_ASSERT(atomic_load(&in_slow));
	/* the slow one is still running: a status request is answered now */
	tj_buf out = TJ_BUF_INIT;
	int status = -1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	TJ_OKRC(tj_admin_call(path, TJ_ADMIN_STATUS, 0, NULL, 0, 0, &out, &status));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	TJ_ASSERT(!atomic_load(&slow_done));
	TJ_ASSERT((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
	atomic_store(&slow_done, 1);
	tj_admin_server_stop(&srv); /* waits for the slow request */
	pthread_join(t, NULL);
	TJ_OKRC(sa.rc);
	TJ_ASSERT_MEM(sa.out.data, sa.out.len, "slow done\n", 10);
	tj_buf_free(&sa.out);
	tj_buf_free(&out);
}

TJ_TEST(call_times_out)
{
	char path[108];
	sock_path(path, sizeof(path));
	tj_admin_server *srv;
	atomic_store(&slow_done, 0);
	TJ_OKRC(tj_admin_server_start(path, handler, NULL, &srv));
	tj_buf out = TJ_BUF_INIT;
	int status;
	int rc = tj_admin_call(path, TJ_ADMIN_LEARN, 0, "spam\0u\0", 7, 1, &out, &status);
	TJ_ASSERT(rc == -EAGAIN || rc == -EWOULDBLOCK);
	atomic_store(&slow_done, 1);
	tj_admin_server_stop(&srv);
	tj_buf_free(&out);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

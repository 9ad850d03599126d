/*
 * test-crash.c - the store survives kill -9 and a full disk.
 *
 * crash_kill9_many_times: a child process writes with 8 threads (APPEND,
 * then STORE \Seen on what it appended) and reports each completed op on a
 * pipe; the parent kills it with SIGKILL at a random moment, 25 times over
 * the same store.  Then every reported op must be there, with the right
 * bytes and flags, each message once, and verify must pass.
 *
 * full_disk_gives_errors_not_damage: a child writes until RLIMIT_FSIZE
 * stops it; the errors must be clean, the store must reopen, verify, keep
 * every acknowledged message and take new mail once there is room.
 */
#include "tests/store/store-testlib.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

#define ROUNDS 25
#define THREADS 8

static size_t bulk_of(unsigned id)
{
	return (size_t)((id * 2654435761u) >> 7) % 6000;
}

struct wargs {
	tj_store *st;
	uint32_t user;
	uint64_t mbox;
	int fd;
	unsigned base;
};

static void *writer(void *arg)
{
	struct wargs *w = arg;
	tj_buf b = TJ_BUF_INIT;
	for (unsigned i = 0;; i++) {
		unsigned id = w->base + i;
		t_body(&b, id, bulk_of(id));
		uint32_t uid;
		int rc = t_append_rc(w->st, w->user, w->mbox, (char *)b.data, b.len, 0, &uid);
		if (rc)
			_exit(3);
		char line[96];
		int n = snprintf(line, sizeof(line), "A %u %u\n", uid, id);
		if (write(w->fd, line, (size_t)n) != n)
			_exit(4);
		if (i % 3 == 0) {
			tj_range r = {uid, uid};
			tj_op op = {.type = TJ_OP_STORE, .user_id = w->user, .mbox_id = w->mbox, .mode = TJ_FLAGS_ADD,
				    .sys_flags = TJ_F_SEEN, .ranges = &r, .nranges = 1};
			if (tj_store_exec(w->st, &op, NULL))
				_exit(5);
			tj_op_clear(&op);
			n = snprintf(line, sizeof(line), "S %u\n", uid);
			if (write(w->fd, line, (size_t)n) != n)
				_exit(4);
		}
	}
	return NULL;
}

struct acked {
	unsigned id;
	int seen;
};

TJ_TEST(crash_kill9_many_times)
{
	const char *dir = tj_test_tmpdir();
	tj_store *st = t_open(dir);
	uint32_t user = t_user(st, "crash", 0);
	uint64_t mbox = t_mbox(st, user, "INBOX");
	tj_store_close(&st);
	struct acked *ack = calloc(1u << 20, sizeof(*ack)); /* by UID */
	unsigned nack = 0, maxuid = 0;
	srand((unsigned)time(NULL));
	for (int round = 0; round < ROUNDS; round++) {
		int pfd[2];
		TJ_ASSERT_INT(pipe(pfd), ==, 0);
		pid_t pid = fork();
		TJ_ASSERT(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			tj_store *cs;
			tj_store_opts o;
			tj_store_opts_default(&o);
			o.segment_size = 256 * 1024;
			o.dict_train_after = 0;
			if (tj_store_open(dir, &o, &cs))
				_exit(2);
			struct wargs w[THREADS];
			pthread_t th[THREADS];
			for (int i = 0; i < THREADS; i++) {
				w[i] = (struct wargs){cs, user, mbox, pfd[1], (unsigned)(round * THREADS + i) << 16};
				pthread_create(&th[i], NULL, writer, &w[i]);
			}
			for (;;)
				pause();
		}
		close(pfd[1]);
		/* kill at a random moment after the child has made progress, so
		 * every round tests something however slow the machine is */
		tj_buf got = TJ_BUF_INIT;
		char chunk[4096];
		struct pollfd pf = {pfd[0], POLLIN, 0};
		TJ_ASSERT_INT(poll(&pf, 1, 60000), ==, 1); /* the first ack, or a hung child */
		usleep((useconds_t)(rand() % 250000));
		kill(pid, SIGKILL);
		int status;
		waitpid(pid, &status, 0);
		TJ_ASSERT(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL); /* it was still writing */
		ssize_t k;
		while ((k = read(pfd[0], chunk, sizeof(chunk))) > 0)
			tj_buf_append(&got, chunk, (size_t)k);
		close(pfd[0]);
		char *save = NULL;
		for (char *line = got.len ? strtok_r((char *)got.data, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save)) {
			unsigned uid, id;
			if (sscanf(line, "A %u %u", &uid, &id) == 2) {
				TJ_ASSERT(uid < (1u << 20));
				TJ_ASSERT_INT(ack[uid].id, ==, 0); /* a UID is never handed out twice */
				ack[uid].id = id + 1;
				nack++;
				if (uid > maxuid)
					maxuid = uid;
			} else if (sscanf(line, "S %u", &uid) == 1) {
				ack[uid].seen = 1;
			}
		}
		tj_buf_free(&got);
	}
	TJ_ASSERT(nack >= ROUNDS); /* at least one op acknowledged per round */
	st = t_open(dir);
	t_verify_clean(st);
	tj_buf want = TJ_BUF_INIT, got = TJ_BUF_INIT;
	unsigned present = 0;
	for (unsigned uid = 1; uid <= maxuid; uid++) {
		if (!ack[uid].id)
			continue;
		tj_rtxn *r;
		tj_msg_info m;
		TJ_OKRC(tj_rtxn_begin(st, &r));
		int rc = tj_store_msg_get(r, mbox, uid, &m);
		if (rc)
			TJ_FAIL("acknowledged uid %u lost: %s", uid, tj_strerror(rc));
		unsigned id = ack[uid].id - 1;
		t_body(&want, id, bulk_of(id));
		tj_buf_reset(&got);
		TJ_OKRC(tj_store_read(r, m.guid, 0, SIZE_MAX, &got));
		tj_rtxn_end(&r);
		TJ_ASSERT_MEM(got.data, got.len, want.data, want.len);
		if (ack[uid].seen)
			TJ_ASSERT(m.sys_flags & TJ_F_SEEN);
		present++;
	}
	TJ_ASSERT_INT(present, ==, nack);
	/* each message at most once: distinct bodies in the mailbox = messages */
	tj_mbox_info mb = t_mbox_info(st, mbox);
	tj_store_stats s;
	TJ_OKRC(tj_store_stats_get(st, &s));
	TJ_ASSERT_INT(s.unique_messages, ==, mb.messages);
	fprintf(stderr, "crash test: %d kills, %u acknowledged, %u stored, all present\n", ROUNDS, nack, mb.messages);
	tj_buf_free(&want);
	tj_buf_free(&got);
	free(ack);
	tj_store_close(&st);
}

TJ_TEST(full_disk_gives_errors_not_damage)
{
	const char *dir = tj_test_tmpdir();
	tj_store *st = t_open(dir);
	uint32_t user = t_user(st, "full", 0);
	uint64_t mbox = t_mbox(st, user, "INBOX");
	tj_store_close(&st);
	int pfd[2];
	TJ_ASSERT_INT(pipe(pfd), ==, 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		signal(SIGXFSZ, SIG_IGN);
		/* every file this process writes may grow to 3 MiB, then "disk full" */
		struct rlimit rl = {3 << 20, 3 << 20};
		setrlimit(RLIMIT_FSIZE, &rl);
		tj_store *cs;
		tj_store_opts o;
		tj_store_opts_default(&o);
		o.dict_train_after = 0;
		if (tj_store_open(dir, &o, &cs))
			_exit(2);
		uint8_t noise[20000];
		int failures = 0, last = 0;
		for (unsigned i = 0; i < 2000 && failures < 5; i++) {
			for (size_t j = 0; j < sizeof(noise); j++)
				noise[j] = (uint8_t)rand();
			memcpy(noise, "Subject: x\n\n", 12);
			snprintf((char *)noise + 12, 20, "%08u", i);
			uint32_t uid;
			int rc = t_append_rc(cs, user, mbox, (char *)noise, sizeof(noise), 0, &uid);
			if (rc) {
				failures++;
				last = rc;
				continue;
			}
			char line[64];
			int n = snprintf(line, sizeof(line), "%u %u\n", uid, i);
			if (write(pfd[1], line, (size_t)n) != n)
				_exit(4);
		}
		tj_store_close(&cs);
		_exit(last == -EFBIG || last == -ENOSPC ? 0 : 10 + (failures > 0));
	}
	close(pfd[1]);
	int status;
	waitpid(pid, &status, 0);
	TJ_ASSERT(WIFEXITED(status));
	TJ_ASSERT_INT(WEXITSTATUS(status), ==, 0); /* it hit the limit and got a clean error */
	FILE *f = fdopen(pfd[0], "r");
	unsigned uids[4096], n = 0, uid, i;
	while (n < 4096 && fscanf(f, "%u %u", &uid, &i) == 2)
		uids[n++] = uid;
	fclose(f);
	TJ_ASSERT(n > 10);
	st = t_open(dir);
	t_verify_clean(st);
	tj_mbox_info mb = t_mbox_info(st, mbox);
	TJ_ASSERT_INT(mb.messages, ==, n);
	for (unsigned k = 0; k < n; k++) {
		tj_msg_info m = t_msg(st, mbox, uids[k]);
		tj_buf out = TJ_BUF_INIT;
		TJ_OKRC(t_read(st, m.guid, &out));
		TJ_ASSERT_INT(out.len, ==, 20000);
		tj_buf_free(&out);
	}
	/* with room again, mail flows */
	TJ_ASSERT(t_append(st, user, mbox, "Subject: after\n\nroom again\n") > uids[n - 1]);
	t_verify_clean(st);
	tj_store_close(&st);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

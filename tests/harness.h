/*
 * harness.h - tjstore's tiny unit-test harness (header only).
 *
 *   TJ_TEST(buf_grows) { ... TJ_ASSERT_INT(x, ==, 3); ... }
 *   int main(int argc, char **argv) { return tj_test_main(argc, argv); }
 *
 * Every TJ_TEST registers itself.  Each case runs in its own forked process
 * with a timeout (TJ_TEST_TIMEOUT seconds, default 60), so a crash or hang
 * fails that case only.  `prog NAME` runs one case in-process (for gdb).
 * The last line printed is "N passed, N failed".
 */
#ifndef TJ_HARNESS_H
#define TJ_HARNESS_H

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*tj_test_fn)(void);
struct tj_test_case {
	const char *name;
	tj_test_fn fn;
};

#define TJ_TEST_MAX 512
static struct tj_test_case tj_tests[TJ_TEST_MAX];
static int tj_ntests;

#define TJ_TEST(name)                                                     \
	static void test_##name(void);                                    \
	__attribute__((constructor)) static void reg_##name(void)         \
	{                                                                 \
		if (tj_ntests < TJ_TEST_MAX)                              \
			tj_tests[tj_ntests++] = (struct tj_test_case){#name, test_##name}; \
	}                                                                 \
	static void test_##name(void)

#define TJ_FAIL(...)                                                      \
	do {                                                              \
		fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);           \
		fprintf(stderr, __VA_ARGS__);                             \
		fprintf(stderr, "\n");                                    \
		_exit(1);                                                 \
	} while (0)

#define TJ_ASSERT(cond)                                                   \
	do {                                                              \
		if (!(cond))                                              \
			TJ_FAIL("assertion failed: %s", #cond);           \
	} while (0)

#define TJ_ASSERT_INT(a, op, b)                                           \
	do {                                                              \
		long long tj_a_ = (long long)(a), tj_b_ = (long long)(b); \
		if (!(tj_a_ op tj_b_))                                    \
			TJ_FAIL("%s %s %s: %lld vs %lld", #a, #op, #b, tj_a_, tj_b_); \
	} while (0)

/* TJ_OKRC - expression must return 0; prints tj_strerror otherwise (needs common/err.h). */
#define TJ_OKRC(expr)                                                     \
	do {                                                              \
		int tj_rc_ = (expr);                                      \
		if (tj_rc_ != 0)                                          \
			TJ_FAIL("%s = %d (%s)", #expr, tj_rc_, tj_strerror(tj_rc_)); \
	} while (0)

#define TJ_ASSERT_STR(a, b)                                               \
	do {                                                              \
		const char *tj_a_ = (a), *tj_b_ = (b);                    \
		if (!tj_a_ || !tj_b_ || strcmp(tj_a_, tj_b_) != 0)        \
			TJ_FAIL("%s != %s: \"%s\" vs \"%s\"", #a, #b, tj_a_ ? tj_a_ : "(null)", tj_b_ ? tj_b_ : "(null)"); \
	} while (0)

#define TJ_ASSERT_MEM(a, alen, b, blen)                                   \
	do {                                                              \
		size_t tj_al_ = (alen), tj_bl_ = (blen);                  \
		if (tj_al_ != tj_bl_ || memcmp((a), (b), tj_al_) != 0)    \
			TJ_FAIL("%s != %s (lengths %zu, %zu)", #a, #b, tj_al_, tj_bl_); \
	} while (0)

/* tj_test_tmpdir - a fresh temp directory for this case (removed by the runner). */
static char tj_tmpdir_path[256];
static inline const char *tj_test_tmpdir(void)
{
	if (!tj_tmpdir_path[0]) {
		const char *base = getenv("TMPDIR");
		snprintf(tj_tmpdir_path, sizeof(tj_tmpdir_path), "%s/tjtest.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(tj_tmpdir_path))
			TJ_FAIL("mkdtemp failed");
	}
	return tj_tmpdir_path;
}

static inline void tj_test_rmrf(const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		execlp("rm", "rm", "-rf", "--", path, (char *)NULL);
		_exit(127);
	}
	int st;
	if (pid > 0)
		waitpid(pid, &st, 0);
}

static inline int tj_test_main(int argc, char **argv)
{
	int timeout = getenv("TJ_TEST_TIMEOUT") ? atoi(getenv("TJ_TEST_TIMEOUT")) : 60;
	int passed = 0, failed = 0;
	for (int i = 0; i < tj_ntests; i++) {
		if (argc > 1) {
			int want = 0;
			for (int a = 1; a < argc; a++)
				want |= strcmp(argv[a], tj_tests[i].name) == 0;
			if (!want)
				continue;
		}
		/* each case gets its own temp dir name, made lazily in the child */
		char dir[256];
		const char *base = getenv("TMPDIR");
		snprintf(dir, sizeof(dir), "%s/tjtest.XXXXXX", base ? base : "/tmp");
		if (!mkdtemp(dir)) {
			perror("mkdtemp");
			return 2;
		}
		fflush(NULL);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			setpgid(0, 0);
			snprintf(tj_tmpdir_path, sizeof(tj_tmpdir_path), "%s", dir);
			alarm((unsigned)timeout);
			tj_tests[i].fn();
			fflush(NULL);
			_exit(0);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		kill(-pid, SIGKILL); /* anything the case left running in its group */
		tj_test_rmrf(dir);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			passed++;
			printf("ok   %s\n", tj_tests[i].name);
		} else {
			failed++;
			if (WIFSIGNALED(st))
				printf("FAIL %s (signal %d%s)\n", tj_tests[i].name, WTERMSIG(st),
				       WTERMSIG(st) == SIGALRM ? ", timeout" : "");
			else
				printf("FAIL %s (exit %d)\n", tj_tests[i].name, WEXITSTATUS(st));
		}
		fflush(stdout);
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif

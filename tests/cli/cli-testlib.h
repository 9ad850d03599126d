/*
 * cli-testlib.h - run tjstore-cli as a real process from a unit test (the
 * binary's path is TJ_CLI_PATH, set by CMake): stdout into a buffer, stderr
 * into DIR/stderr of the case's temp dir and echoed, exit status returned.
 * Include after tests/harness.h.
 */
#ifndef TJ_TESTS_CLI_TESTLIB_H
#define TJ_TESTS_CLI_TESTLIB_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "common/buf.h"

/* cli - run tjstore-cli with the arguments fmt gives, stdout into out; the
 * exit status (-1 if it did not exit) */
static int cli(tj_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(tj_buf *out, const char *fmt, ...)
{
	char cmd[4096], errf[600];
	snprintf(errf, sizeof(errf), "%s/stderr", tj_test_tmpdir());
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(cmd, sizeof(cmd), "timeout 60 %s ", TJ_CLI_PATH);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	size_t l = strlen(cmd);
	snprintf(cmd + l, sizeof(cmd) - l, " 2>%s", errf);
	fflush(NULL);
	FILE *p = popen(cmd, "r");
	TJ_ASSERT(p != NULL);
	tj_buf_reset(out);
	char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), p)) > 0)
		tj_buf_append(out, buf, k);
	tj_buf_putc(out, 0);
	out->len--;
	int st = pclose(p);
	fprintf(stderr, "$ %s\n%s", cmd, (char *)out->data);
	FILE *e = fopen(errf, "r");
	if (e) {
		while ((k = fread(buf, 1, sizeof(buf), e)) > 0)
			fwrite(buf, 1, k, stderr);
		fclose(e);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* last_stderr - what the last cli() call wrote to stderr */
static char *last_stderr(void)
{
	static char buf[8192];
	char errf[600];
	snprintf(errf, sizeof(errf), "%s/stderr", tj_test_tmpdir());
	FILE *e = fopen(errf, "r");
	buf[0] = 0;
	if (e) {
		size_t k = fread(buf, 1, sizeof(buf) - 1, e);
		buf[k] = 0;
		fclose(e);
	}
	return buf;
}

#endif

/*
 * log.c - event logging (see log.h).  Thread-safe: each line is written
 * with a single write(2) so lines from different threads never interleave.
 */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

static int log_level = TJ_LOG_INFO;
static int log_syslog;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void tj_log_set_level(enum tj_log_level lvl)
{
	log_level = lvl;
}

int tj_log_parse_level(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void tj_log_set_syslog(int on, const char *ident, int facility)
{
	log_syslog = on;
	if (on)
		openlog(ident, LOG_PID | LOG_NDELAY, facility);
}

void tj_log(enum tj_log_level lvl, const char *module, const char *fmt, ...)
{
	if ((int)lvl < log_level)
		return;
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s module=%s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, level_names[lvl], module);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	if (log_syslog) {
		static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR};
		line[len] = 0;
		syslog(prio[lvl], "%s", line + 25);
	}
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

char *tj_sanitize(char *out, size_t outsz, const void *in, size_t inlen)
{
	const unsigned char *p = in;
	size_t o = 0;
	if (outsz == 0)
		return out;
	for (size_t i = 0; i < inlen && o + 1 < outsz; i++)
		out[o++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	if (o < inlen && outsz >= 4 && o + 1 >= outsz) {
		o = outsz - 4;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
	return out;
}

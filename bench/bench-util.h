/*
 * bench-util.h - what the C load generators (deliver-bench, imap-bench)
 * share: clocks and CPU time, fatal errors, reading small files, the
 * server's process tree from /proc (its CPU summed over processes), and
 * qsort comparators.  Static functions: each generator is one file.
 */
#ifndef TJ_BENCH_UTIL_H
#define TJ_BENCH_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static double self_cpu(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap - 1)
			break;
	}
	close(fd);
	buf[n] = 0;
	return (int)n;
}

/* one process of the server's tree */
struct proc {
	int pid, ppid;
	double cpu; /* utime + stime + cutime + cstime, seconds */
};

static bool read_proc(int pid, struct proc *p)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) < 0)
		return false;
	char *e = strrchr(buf, ')'); /* the command name may hold blanks */
	if (!e)
		return false;
	int ppid;
	unsigned long long ut, st, cut, cst;
	/* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime */
	if (sscanf(e + 1, " %*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu", &ppid, &ut, &st, &cut,
		   &cst) != 5)
		return false;
	p->pid = pid;
	p->ppid = ppid;
	p->cpu = (double)(ut + st + cut + cst) / (double)sysconf(_SC_CLK_TCK);
	return true;
}

/* tree - root and all its descendants, into *out (owned here, valid until
 * the next call); returns the count, 0 when root is gone */
static size_t tree(int root, struct proc **out)
{
	static struct proc *all;
	static size_t cap;
	size_t n = 0;
	DIR *d = opendir("/proc");
	if (!d)
		die("/proc: %s", strerror(errno));
	struct dirent *de;
	while ((de = readdir(d))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			all = xrealloc(all, cap * sizeof(*all));
		}
		if (read_proc((int)pid, &all[n]))
			n++;
	}
	closedir(d);
	char *in = calloc(n ? n : 1, 1);
	if (!in)
		die("out of memory");
	for (size_t i = 0; i < n; i++)
		if (all[i].pid == root)
			in[i] = 1;
	for (bool grew = true; grew;) { /* the depth is small */
		grew = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			for (size_t j = 0; j < n; j++)
				if (in[j] && all[j].pid == all[i].ppid) {
					in[i] = 1, grew = true;
					break;
				}
		}
	}
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (in[i])
			all[m++] = all[i];
	free(in);
	*out = all;
	return m;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

#endif

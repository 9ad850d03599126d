/*
 * spam-score.c - score messages with a rule file and report cost and
 * score distributions (docs/spam.md "Figures").
 *
 *   spam-score [--rules PATH] [--required X] [--bayes P] [--repeat N]
 *              [--top N] [--verbose] FILE|DIR...
 *
 * PATH is a .cf file or a directory of them (SpamAssassin's layout).
 * Cost is measured twice per message: wall time and this thread's CPU time
 * (the one to trust on a shared, loaded machine).
 * Directories are walked recursively; a message whose path has a "spam"
 * directory counts as spam, "ham" as ham, anything else as other.  Prints
 * the load summary, ms/message (mean, median, p99, max; the best of
 * --repeat runs per message), per class: how many score >= required, the
 * mean and a histogram, and with --top the rules that hit most per class.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/err.h"
#include "node/scan/sarules.h"
#include "node/scan/spam.h"

enum { C_HAM, C_SPAM, C_OTHER, C_NR };
static const char *const class_names[C_NR] = {"ham", "spam", "other"};

struct msgfile {
	char *path;
	int cls;
};

static struct msgfile *files;
static size_t nfiles, capfiles;

static void add_file(const char *path)
{
	if (nfiles == capfiles) {
		capfiles = capfiles ? capfiles * 2 : 1024;
		files = realloc(files, capfiles * sizeof(*files));
		if (!files)
			abort();
	}
	int cls = strstr(path, "/spam/") || strncmp(path, "spam/", 5) == 0 ? C_SPAM
		  : strstr(path, "/ham/") || strncmp(path, "ham/", 4) == 0 ? C_HAM
									  : C_OTHER;
	files[nfiles++] = (struct msgfile){strdup(path), cls};
}

static void walk(const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return;
	}
	if (!S_ISDIR(sb.st_mode)) {
		add_file(path);
		return;
	}
	DIR *d = opendir(path);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char p[4096];
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		walk(p);
	}
	closedir(d);
}

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	tj_buf b = TJ_BUF_INIT;
	uint8_t tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		if (tj_buf_append(&b, tmp, n) < 0)
			abort();
	fclose(f);
	*buf = tj_buf_steal(&b, len);
	if (!*buf)
		*buf = calloc(1, 1);
	return 0;
}

static double clock_ms(clockid_t id)
{
	struct timespec t;
	clock_gettime(id, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double now_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

static double cpu_ms(void)
{
	return clock_ms(CLOCK_THREAD_CPUTIME_ID);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

struct rulecount {
	char *name;
	unsigned n[C_NR];
};
static struct rulecount *rc_tab;
static size_t rc_n, rc_cap;

static void count_rule(const char *name, int cls)
{
	for (size_t i = 0; i < rc_n; i++)
		if (strcmp(rc_tab[i].name, name) == 0) {
			rc_tab[i].n[cls]++;
			return;
		}
	if (rc_n == rc_cap) {
		rc_cap = rc_cap ? rc_cap * 2 : 256;
		rc_tab = realloc(rc_tab, rc_cap * sizeof(*rc_tab));
		if (!rc_tab)
			abort();
	}
	rc_tab[rc_n] = (struct rulecount){strdup(name), {0}};
	rc_tab[rc_n++].n[cls] = 1;
}

static int sort_cls;
static int cmp_rc(const void *a, const void *b)
{
	const struct rulecount *x = a, *y = b;
	return (int)y->n[sort_cls] - (int)x->n[sort_cls];
}

static void usage(void)
{
	fprintf(stderr, "usage: spam-score [--rules PATH] [--required X] [--bayes P] [--repeat N] [--top N] "
			"[--verbose] FILE|DIR...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *rules_path = NULL;
	double required = TJ_SPAM_REQUIRED_FROM_RULES, bayes = -1;
	int repeat = 1, top = 0, verbose = 0;
	int i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--rules") && i + 1 < argc)
			rules_path = argv[++i];
		else if (!strcmp(argv[i], "--required") && i + 1 < argc)
			required = atof(argv[++i]);
		else if (!strcmp(argv[i], "--bayes") && i + 1 < argc)
			bayes = atof(argv[++i]);
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--top") && i + 1 < argc)
			top = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--verbose"))
			verbose = 1;
		else
			usage();
	}
	if (i == argc || repeat < 1)
		usage();
	tj_sa_rules *rules = NULL;
	if (rules_path) {
		double t0 = now_ms();
		int rc = tj_sa_rules_load(rules_path, &rules);
		if (rc < 0) {
			fprintf(stderr, "%s: %s\n", rules_path, tj_strerror(rc));
			return 1;
		}
		tj_buf s = TJ_BUF_INIT;
		tj_sa_rules_summary(rules, &s);
		printf("rules %s load_ms=%.1f %s\n", rules_path, now_ms() - t0, s.data ? (char *)s.data : "");
		tj_buf_free(&s);
	}
	for (; i < argc; i++)
		walk(argv[i]);
	double *ms = calloc(nfiles + 1, sizeof(double));
	double *cpu = calloc(nfiles + 1, sizeof(double));
	double *scores[C_NR];
	size_t ncls[C_NR] = {0}, nspam[C_NR] = {0}, bytes = 0;
	unsigned limit_errors = 0, truncated = 0;
	for (int c = 0; c < C_NR; c++)
		scores[c] = calloc(nfiles + 1, sizeof(double));
	for (size_t k = 0; k < nfiles; k++) {
		uint8_t *buf;
		size_t len;
		if (read_all(files[k].path, &buf, &len) < 0) {
			fprintf(stderr, "%s: unreadable\n", files[k].path);
			continue;
		}
		bytes += len;
		struct tj_spam_result res;
		double best = 1e300, best_cpu = 1e300;
		for (int r = 0; r < repeat; r++) {
			if (r)
				tj_spam_result_free(&res);
			double t0 = now_ms(), c0 = cpu_ms();
			int rc = tj_spam_check(rules, buf, len, bayes, required, &res);
			double dt = now_ms() - t0, dc = cpu_ms() - c0;
			best_cpu = dc < best_cpu ? dc : best_cpu;
			if (rc < 0) {
				fprintf(stderr, "%s: %s\n", files[k].path, tj_strerror(rc));
				return 1;
			}
			best = dt < best ? dt : best;
		}
		ms[k] = best;
		cpu[k] = best_cpu;
		int c = files[k].cls;
		scores[c][ncls[c]++] = res.score;
		nspam[c] += res.is_spam;
		limit_errors += res.limit_errors;
		truncated += res.truncated;
		if (verbose)
			printf("%-7.2f %-4s %6.3fms %s %s\n", res.score, res.is_spam ? "SPAM" : "ham", best,
			       files[k].path, res.tests.data ? (char *)res.tests.data : "");
		if (top && res.tests.len) {
			char *t = strdup((char *)res.tests.data), *save = NULL;
			for (char *w = strtok_r(t, ",", &save); w; w = strtok_r(NULL, ",", &save))
				count_rule(w, c);
			free(t);
		}
		tj_spam_result_free(&res);
		free(buf);
	}
	if (!nfiles)
		return 0;
	double sum = 0, csum = 0;
	for (size_t k = 0; k < nfiles; k++)
		sum += ms[k], csum += cpu[k];
	qsort(ms, nfiles, sizeof(double), cmp_double);
	qsort(cpu, nfiles, sizeof(double), cmp_double);
	printf("messages=%zu avg_bytes=%zu limit_errors=%u truncated=%u\n", nfiles, bytes / nfiles, limit_errors,
	       truncated);
	printf("cpu_ms_per_message avg=%.3f p50=%.3f p99=%.3f max=%.3f total_s=%.2f\n", csum / (double)nfiles,
	       cpu[nfiles / 2], cpu[nfiles * 99 / 100], cpu[nfiles - 1], csum / 1e3);
	printf("wall_ms_per_message avg=%.3f p50=%.3f p99=%.3f max=%.3f total_s=%.2f\n", sum / (double)nfiles,
	       ms[nfiles / 2], ms[nfiles * 99 / 100], ms[nfiles - 1], sum / 1e3);
	static const double edges[] = {-1e9, 0, 1, 2, 3, 4, 5, 7, 10, 15, 1e9};
	for (int c = 0; c < C_NR; c++) {
		if (!ncls[c])
			continue;
		double s = 0;
		for (size_t k = 0; k < ncls[c]; k++)
			s += scores[c][k];
		qsort(scores[c], ncls[c], sizeof(double), cmp_double);
		printf("%s: n=%zu at_or_over_required=%zu (%.1f%%) mean=%.2f median=%.2f max=%.2f histogram:", class_names[c],
		       ncls[c], nspam[c], 100.0 * (double)nspam[c] / (double)ncls[c], s / (double)ncls[c],
		       scores[c][ncls[c] / 2], scores[c][ncls[c] - 1]);
		for (size_t e = 0; e + 1 < sizeof(edges) / sizeof(edges[0]); e++) {
			size_t n = 0;
			for (size_t k = 0; k < ncls[c]; k++)
				n += scores[c][k] >= edges[e] && scores[c][k] < edges[e + 1];
			if (e == 0)
				printf(" <0:%zu", n);
			else if (e + 2 == sizeof(edges) / sizeof(edges[0]))
				printf(" >=%g:%zu", edges[e], n);
			else
				printf(" [%g,%g):%zu", edges[e], edges[e + 1], n);
		}
		printf("\n");
	}
	for (int c = 0; top && c < C_NR; c++) {
		if (!ncls[c])
			continue;
		sort_cls = c;
		qsort(rc_tab, rc_n, sizeof(*rc_tab), cmp_rc);
		printf("top rules in %s:", class_names[c]);
		for (size_t k = 0; k < rc_n && (int)k < top && rc_tab[k].n[c]; k++)
			printf(" %s=%u/%u/%u", rc_tab[k].name, rc_tab[k].n[C_HAM], rc_tab[k].n[C_SPAM], rc_tab[k].n[C_OTHER]);
		printf("\n");
	}
	tj_sa_rules_free(&rules);
	for (size_t k = 0; k < nfiles; k++)
		free(files[k].path);
	for (size_t k = 0; k < rc_n; k++)
		free(rc_tab[k].name);
	for (int c = 0; c < C_NR; c++)
		free(scores[c]);
	free(files);
	free(rc_tab);
	free(ms);
	free(cpu);
	return 0;
}

/*
 * test-scan.c - node/scan: the ClamAV scanner and the quarantine.
 *
 * No official ClamAV database exists here: each case writes its own
 * signature directory holding a body signature (.ndb) for the EICAR string
 * (TESTING.md).  Scan times are printed as "scan-time ..." lines.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "common/err.h"
#include "node/scan/clamav.h"
#include "node/scan/quarantine.h"
#include "tests/harness.h"

/* Leak checks.  Each case ends with _exit() in its forked child, where
 * LeakSanitizer's atexit check never runs, so every case calls leak_check()
 * itself after closing the scanner.  libclamav 1.4 showed no leaks here, so
 * nothing is suppressed. */
#if defined(__SANITIZE_ADDRESS__)
#define TJ_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TJ_HAVE_LSAN 1
#endif
#endif
#ifdef TJ_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
static void leak_check(void)
{
	if (__lsan_do_recoverable_leak_check() != 0)
		TJ_FAIL("LeakSanitizer found leaks");
}
#else
static void leak_check(void)
{
}
#endif

#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
#define EICAR_B64 "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNU\r\nLUZJTEUhJEgrSCo=\r\n"

static const char clean_mail[] =
	"Return-Path: <alice@example.org>\r\n"
	"Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
	"\tby mail.example.com with ESMTP id 4F2A9C01; Tue, 14 Jan 2025 09:30:12 +0000\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: Bob <bob@example.com>\r\n"
	"Subject: minutes of Tuesday's meeting\r\n"
	"Date: Tue, 14 Jan 2025 09:30:00 +0000\r\n"
	"Message-ID: <20250114093000.1234@example.org>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
	"\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n"
	"\r\n"
	"Hi Bob, the minutes are attached.\r\n"
	"--b1\r\n"
	"Content-Type: text/plain; name=\"minutes.txt\"\r\n"
	"Content-Disposition: attachment; filename=\"minutes.txt\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"MS4gQnVkZ2V0IGFwcHJvdmVkLgoyLiBOZXh0IG1lZXRpbmcgb24gRnJpZGF5Lgo=\r\n"
	"--b1--\r\n";

static const char eicar_mail[] =
	"Return-Path: <mallory@example.net>\r\n"
	"Received: from mx.example.net (mx.example.net [198.51.100.7])\r\n"
	"\tby mail.example.com with ESMTP id 7C1D0E22; Tue, 14 Jan 2025 10:02:44 +0000\r\n"
	"From: Mallory <mallory@example.net>\r\n"
	"To: Bob <bob@example.com>\r\n"
	"Subject: Invoice 2025-0113\r\n"
	"Date: Tue, 14 Jan 2025 10:02:40 +0000\r\n"
	"Message-ID: <20250114100240.777@example.net>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/mixed; boundary=\"=_part_0_42\"\r\n"
	"\r\n"
	"This is a multi-part message in MIME format.\r\n"
	"\r\n"
	"--=_part_0_42\r\n"
	"Content-Type: text/plain; charset=us-ascii\r\n"
	"Content-Transfer-Encoding: 7bit\r\n"
	"\r\n"
	"Please find the invoice attached.\r\n"
	"\r\n"
	"--=_part_0_42\r\n"
	"Content-Type: application/octet-stream; name=\"invoice.com\"\r\n"
	"Content-Disposition: attachment; filename=\"invoice.com\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n" EICAR_B64
	"\r\n"
	"--=_part_0_42--\r\n";

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void write_file(const char *path, const void *data, size_t len)
{
	/* temp + rename, as freshclam does */
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.part", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	TJ_ASSERT(fd >= 0);
	TJ_ASSERT_INT(write(fd, data, len), ==, (long long)len);
	TJ_ASSERT(close(fd) == 0);
	TJ_ASSERT(rename(tmp, path) == 0);
}

static void hexify(char *out, const char *s)
{
	for (; *s; s++, out += 2)
		snprintf(out, 3, "%02x", (unsigned char)*s);
	*out = '\0';
}

/* add_sig - db/<file> with one .ndb body signature NAME for the string s. */
static void add_sig(const char *db, const char *file, const char *name, const char *s)
{
	char hex[256], line[400], path[400];
	hexify(hex, s);
	int n = snprintf(line, sizeof(line), "%s:0:*:%s\n", name, hex);
	snprintf(path, sizeof(path), "%s/%s", db, file);
	write_file(path, line, (size_t)n);
}

/* sigdir - a fresh signature dir under the case's temp dir. */
static const char *sigdir(const char *leaf, bool eicar)
{
	static char path[300];
	snprintf(path, sizeof(path), "%s/%s", tj_test_tmpdir(), leaf);
	TJ_ASSERT(mkdir(path, 0755) == 0);
	if (eicar)
		add_sig(path, "test.ndb", "Test.EICAR", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE");
	return path;
}

static tj_clam *open_clam(const char *db, unsigned poll_ms)
{
	struct tj_clam_options o = {.db_dir = db, .poll_ms = poll_ms, .no_watch = poll_ms == 0,
				    .tmpdir = tj_test_tmpdir()};
	tj_clam *c = NULL;
	TJ_OKRC(tj_clam_open(&c, &o));
	TJ_ASSERT(c != NULL);
	return c;
}

static void log_scan(const char *what, const struct tj_clam_result *r, size_t len)
{
	printf("scan-time case=%s verdict=%s name=%s bytes=%zu scanned_4k=%llu ms=%.3f\n", what,
	       tj_clam_verdict_name(r->verdict), r->name[0] ? r->name : "-", len,
	       (unsigned long long)r->scanned_blocks, (double)r->elapsed_us / 1000.0);
}

static void expect_infected(tj_clam *c, const char *buf, size_t len, const char *what)
{
	struct tj_clam_result r;
	TJ_ASSERT_INT(tj_clam_scan(c, buf, len, &r), ==, TJ_CLAM_INFECTED);
	TJ_ASSERT_INT(r.verdict, ==, TJ_CLAM_INFECTED);
	TJ_ASSERT(strncmp(r.name, "Test.EICAR", 10) == 0);
	TJ_ASSERT(r.name[10] == '\0' || strcmp(r.name + 10, ".UNOFFICIAL") == 0);
	log_scan(what, &r, len);
}

static void expect_verdict(tj_clam *c, const char *buf, size_t len, enum tj_clam_verdict v, const char *what)
{
	struct tj_clam_result r;
	enum tj_clam_verdict got = tj_clam_scan(c, buf, len, &r);
	if (got != v)
		TJ_FAIL("%s: verdict %s (%s), want %s", what, tj_clam_verdict_name(got), r.name,
			tj_clam_verdict_name(v));
	log_scan(what, &r, len);
}

/* ---- engine ---- */

TJ_TEST(eicar_plain)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tj_clam *c = open_clam(sigdir("db", true), 0);
	struct tj_clam_status st;
	tj_clam_status(c, &st);
	TJ_ASSERT(st.available);
	TJ_ASSERT_INT(st.generation, ==, 1);
	TJ_ASSERT_INT(st.signatures, >=, 1);
	printf("load-time ms=%.3f signatures=%u\n", (double)st.load_us / 1000.0, st.signatures);
	expect_infected(c, EICAR, strlen(EICAR), "eicar-plain");
	/* the same bytes in a longer file */
	char buf[4096];
	memset(buf, 'a', sizeof(buf));
	memcpy(buf + 1000, EICAR, strlen(EICAR));
	expect_infected(c, buf, sizeof(buf), "eicar-embedded");
	tj_clam_close(&c);
	leak_check();
	TJ_ASSERT(c == NULL);
	TJ_ASSERT(ms_since(&t0) < 10000);
}

TJ_TEST(eicar_base64_attachment)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tj_clam *c = open_clam(sigdir("db", true), 0);
	/* the raw mail does not contain the string: only decoding finds it */
	TJ_ASSERT(memmem(eicar_mail, sizeof(eicar_mail) - 1, "EICAR-STANDARD", 14) == NULL);
	expect_infected(c, eicar_mail, sizeof(eicar_mail) - 1, "eicar-base64-mime");
	expect_verdict(c, clean_mail, sizeof(clean_mail) - 1, TJ_CLAM_CLEAN, "clean-mime");
	tj_clam_close(&c);
	leak_check();
	TJ_ASSERT(ms_since(&t0) < 10000);
}

static int read_whole(const char *path, char **buf_r, size_t *len_r)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	struct stat st;
	TJ_ASSERT(fstat(fd, &st) == 0);
	char *b = malloc((size_t)st.st_size + 1);
	TJ_ASSERT(b);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
		TJ_ASSERT(r > 0);
		got += (size_t)r;
	}
	close(fd);
	*buf_r = b;
	*len_r = got;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* clean_corpus - every message of the shared corpus is CLEAN (with the EICAR
 * signature loaded); per-message times summarised on one line. */
TJ_TEST(clean_corpus)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tj_clam *c = open_clam(sigdir("db", true), 0);
	expect_verdict(c, clean_mail, sizeof(clean_mail) - 1, TJ_CLAM_CLEAN, "clean-handmade");

	const char *corpus = "/work/shared/corpus/spamassassin-public-1.tar.zst";
	if (access(corpus, R_OK) != 0) {
		printf("clean_corpus: %s not found, hand-made mail only\n", corpus);
		tj_clam_close(&c);
	leak_check();
		return;
	}
	char cmd[1024], dir[400];
	snprintf(dir, sizeof(dir), "%s/corpus", tj_test_tmpdir());
	TJ_ASSERT(mkdir(dir, 0755) == 0);
	snprintf(cmd, sizeof(cmd), "zstd -dc '%s' | tar xf - -C '%s'", corpus, dir);
	TJ_ASSERT_INT(system(cmd), ==, 0);

	static double ms[4000];
	size_t n = 0, bytes = 0;
	const char *sub[] = {"ham", "spam"};
	for (int s = 0; s < 2; s++) {
		char sd[500];
		snprintf(sd, sizeof(sd), "%s/%s", dir, sub[s]);
		DIR *d = opendir(sd);
		TJ_ASSERT(d);
		struct dirent *de;
		while ((de = readdir(d)) != NULL && n < 4000) {
			if (de->d_name[0] == '.')
				continue;
			char p[800], *buf;
			size_t len;
			snprintf(p, sizeof(p), "%s/%s", sd, de->d_name);
			TJ_OKRC(read_whole(p, &buf, &len));
			struct tj_clam_result r;
			if (tj_clam_scan(c, buf, len, &r) != TJ_CLAM_CLEAN)
				TJ_FAIL("%s: %s %s", de->d_name, tj_clam_verdict_name(r.verdict), r.name);
			ms[n++] = (double)r.elapsed_us / 1000.0;
			bytes += len;
			free(buf);
		}
		closedir(d);
	}
	TJ_ASSERT_INT(n, >=, 3000);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += ms[i];
	qsort(ms, n, sizeof(ms[0]), cmp_double);
	printf("scan-time case=corpus messages=%zu avg_bytes=%zu avg_ms=%.3f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
	       n, bytes / n, sum / (double)n, ms[n / 2], ms[n * 99 / 100], ms[n - 1]);
	tj_clam_close(&c);
	leak_check();
	TJ_ASSERT(ms_since(&t0) < 120000);
}

/* ---- unavailable engine ---- */

static void expect_unavailable(const char *db, const char *reason_part)
{
	tj_clam *c = open_clam(db, 0);
	struct tj_clam_status st;
	tj_clam_status(c, &st);
	TJ_ASSERT(!st.available);
	TJ_ASSERT_INT(st.generation, ==, 0);
	TJ_ASSERT(st.last_error[0]);
	struct tj_clam_result r;
	TJ_ASSERT_INT(tj_clam_scan(c, EICAR, strlen(EICAR), &r), ==, TJ_CLAM_TEMPFAIL);
	TJ_ASSERT(strstr(r.name, "scanner unavailable") != NULL);
	if (reason_part && !strstr(r.name, reason_part))
		TJ_FAIL("reason \"%s\" lacks \"%s\"", r.name, reason_part);
	printf("tempfail reason: %s\n", r.name);
	TJ_ASSERT_INT(tj_clam_scan(c, clean_mail, sizeof(clean_mail) - 1, &r), ==, TJ_CLAM_TEMPFAIL);
	TJ_ASSERT_INT(tj_clam_reload(c), ==, TJ_ECORRUPT);
	tj_clam_close(&c);
	leak_check();
}

TJ_TEST(tempfail_missing_dir)
{
	char p[300];
	snprintf(p, sizeof(p), "%s/nonexistent", tj_test_tmpdir());
	expect_unavailable(p, "No such file");
}

TJ_TEST(tempfail_empty_dir)
{
	expect_unavailable(sigdir("db", false), NULL);
}

TJ_TEST(tempfail_broken_signature)
{
	const char *db = sigdir("db", false);
	char p[400];
	snprintf(p, sizeof(p), "%s/broken.ndb", db);
	write_file(p, "this is not:a signature\n", 24);
	expect_unavailable(db, NULL);
}

TJ_TEST(tempfail_not_a_directory)
{
	char p[300];
	snprintf(p, sizeof(p), "%s/file", tj_test_tmpdir());
	write_file(p, "x", 1);
	expect_unavailable(p, "not a directory");
}

TJ_TEST(bad_arguments_and_limits)
{
	tj_clam *c = (tj_clam *)1;
	struct tj_clam_options o = {0};
	TJ_ASSERT_INT(tj_clam_open(&c, &o), ==, TJ_EINVAL);
	TJ_ASSERT(c == NULL);
	TJ_ASSERT_INT(tj_clam_open(&c, NULL), ==, TJ_EINVAL);
	c = open_clam(sigdir("db", true), 0);
	struct tj_clam_result r;
	/* empty message: nothing to find */
	TJ_ASSERT_INT(tj_clam_scan(c, "", 0, &r), ==, TJ_CLAM_CLEAN);
	/* over the size limit: refused before a byte is read, so a short buffer
	 * stands in for a huge one */
	static const char one[1] = {'x'};
	TJ_ASSERT_INT(tj_clam_scan(c, one, (size_t)TJ_CLAM_MAX_FILESIZE + 1, &r), ==, TJ_CLAM_TEMPFAIL);
	TJ_ASSERT(strstr(r.name, "too large") != NULL);
	TJ_ASSERT_STR(tj_clam_verdict_name(TJ_CLAM_CLEAN), "CLEAN");
	TJ_ASSERT_STR(tj_clam_verdict_name(TJ_CLAM_INFECTED), "INFECTED");
	TJ_ASSERT_STR(tj_clam_verdict_name(TJ_CLAM_TEMPFAIL), "TEMPFAIL");
	tj_clam_close(&c);
	leak_check();
	tj_clam_close(&c); /* NULL: no-op */
}

/* ---- reload ---- */

struct scanner_load {
	tj_clam *c;
	atomic_bool stop;
	atomic_long scans, tempfails, infected, clean;
	char last_error[TJ_CLAM_NAME_MAX];
};

static void *scan_loop(void *arg)
{
	struct scanner_load *L = arg;
	while (!atomic_load(&L->stop)) {
		struct tj_clam_result r;
		const char *m = (atomic_load(&L->scans) & 1) ? eicar_mail : clean_mail;
		size_t len = m == eicar_mail ? sizeof(eicar_mail) - 1 : sizeof(clean_mail) - 1;
		enum tj_clam_verdict v = tj_clam_scan(L->c, m, len, &r);
		if (v == TJ_CLAM_TEMPFAIL) {
			atomic_fetch_add(&L->tempfails, 1);
			memcpy(L->last_error, r.name, sizeof(r.name));
		} else if (v == TJ_CLAM_INFECTED) {
			atomic_fetch_add(&L->infected, 1);
		} else {
			atomic_fetch_add(&L->clean, 1);
		}
		if (m == clean_mail && v != TJ_CLAM_CLEAN)
			atomic_fetch_add(&L->tempfails, 1000000); /* a clean mail flagged: fail loudly */
		atomic_fetch_add(&L->scans, 1);
	}
	return NULL;
}

static bool wait_generation(tj_clam *c, uint64_t gen, int max_ms, double *waited_ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct tj_clam_status st;
		tj_clam_status(c, &st);
		*waited_ms = ms_since(&t0);
		if (st.generation >= gen)
			return true;
		if (*waited_ms > max_ms)
			return false;
		usleep(10000);
	}
}

/* reload_under_load - the engine starts without the EICAR signature (another
 * one only), the signature file is added, the watcher swaps a new engine in
 * while two threads scan continuously: no scan errs, EICAR turns INFECTED. */
TJ_TEST(reload_under_load)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *db = sigdir("db", false);
	add_sig(db, "other.ndb", "Test.Other", "TJSTORE-NOT-A-VIRUS-MARKER");
	tj_clam *c = open_clam(db, 50);
	struct tj_clam_status st;
	tj_clam_status(c, &st);
	TJ_ASSERT(st.available);
	TJ_ASSERT_INT(st.generation, ==, 1);
	expect_verdict(c, EICAR, strlen(EICAR), TJ_CLAM_CLEAN, "eicar-before-reload");

	struct scanner_load L = {.c = c};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		TJ_ASSERT(pthread_create(&th[i], NULL, scan_loop, &L) == 0);
	usleep(100000);
	long before = atomic_load(&L.scans);

	add_sig(db, "test.ndb", "Test.EICAR", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE");
	double waited;
	TJ_ASSERT(wait_generation(c, 2, 10000, &waited));
	printf("reload-time detected_and_swapped_ms=%.1f (poll 50 ms)\n", waited);
	expect_infected(c, EICAR, strlen(EICAR), "eicar-after-reload");
	usleep(100000);
	atomic_store(&L.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	printf("background scans=%ld (before swap %ld) infected=%ld clean=%ld tempfail=%ld\n",
	       atomic_load(&L.scans), before, atomic_load(&L.infected), atomic_load(&L.clean),
	       atomic_load(&L.tempfails));
	if (atomic_load(&L.tempfails) != 0)
		TJ_FAIL("tempfails during reload: %ld (%s)", atomic_load(&L.tempfails), L.last_error);
	TJ_ASSERT_INT(before, >, 0);
	TJ_ASSERT_INT(atomic_load(&L.scans), >, before);
	TJ_ASSERT_INT(atomic_load(&L.infected), >, 0); /* saw the new engine */
	tj_clam_status(c, &st);
	TJ_ASSERT_INT(st.generation, ==, 2);
	TJ_ASSERT_INT(st.signatures, ==, 2);
	tj_clam_close(&c);
	leak_check();
	TJ_ASSERT(ms_since(&t0) < 30000);
}

/* reload_failure_keeps_engine - a broken file added later: the reload fails,
 * the old engine keeps scanning; removing it reloads again. */
TJ_TEST(reload_failure_keeps_engine)
{
	const char *db = sigdir("db", true);
	tj_clam *c = open_clam(db, 50);
	char p[400];
	snprintf(p, sizeof(p), "%s/broken.ndb", db);
	write_file(p, "garbage without colons\n", 23);
	struct tj_clam_status st;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		usleep(10000);
		tj_clam_status(c, &st);
	} while (st.reloads_failed == 0 && ms_since(&t0) < 10000);
	TJ_ASSERT_INT(st.reloads_failed, ==, 1);
	TJ_ASSERT(st.available);
	TJ_ASSERT_INT(st.generation, ==, 1);
	TJ_ASSERT(st.last_error[0]);
	printf("reload failure: %s\n", st.last_error);
	expect_infected(c, eicar_mail, sizeof(eicar_mail) - 1, "eicar-old-engine");
	/* not retried while nothing changes */
	usleep(300000);
	tj_clam_status(c, &st);
	TJ_ASSERT_INT(st.reloads_failed, ==, 1);
	TJ_ASSERT(unlink(p) == 0);
	double waited;
	TJ_ASSERT(wait_generation(c, 2, 10000, &waited));
	tj_clam_status(c, &st);
	TJ_ASSERT(st.last_error[0] == '\0');
	tj_clam_close(&c);
	leak_check();
}

/* becomes_available - no directory at start (TEMPFAIL), then freshclam's
 * first download appears: the watcher loads it. */
TJ_TEST(becomes_available)
{
	char db[300];
	snprintf(db, sizeof(db), "%s/db", tj_test_tmpdir());
	tj_clam *c = open_clam(db, 50);
	struct tj_clam_result r;
	TJ_ASSERT_INT(tj_clam_scan(c, EICAR, strlen(EICAR), &r), ==, TJ_CLAM_TEMPFAIL);
	TJ_ASSERT(mkdir(db, 0755) == 0);
	add_sig(db, "test.ndb", "Test.EICAR", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE");
	double waited;
	TJ_ASSERT(wait_generation(c, 1, 10000, &waited));
	expect_infected(c, EICAR, strlen(EICAR), "eicar-late-db");
	tj_clam_close(&c);
	leak_check();
}

/* explicit_reload - tj_clam_reload (SIGHUP) without a watcher; the old engine
 * stays valid for a scan holding it (checked by ASan: no use after free). */
TJ_TEST(explicit_reload)
{
	const char *db = sigdir("db", false);
	add_sig(db, "other.ndb", "Test.Other", "TJSTORE-NOT-A-VIRUS-MARKER");
	tj_clam *c = open_clam(db, 0);
	expect_verdict(c, EICAR, strlen(EICAR), TJ_CLAM_CLEAN, "eicar-no-sig");
	add_sig(db, "test.ndb", "Test.EICAR", "EICAR-STANDARD-ANTIVIRUS-TEST-FILE");
	usleep(200000);
	struct tj_clam_status st;
	tj_clam_status(c, &st);
	TJ_ASSERT_INT(st.generation, ==, 1); /* no watcher */
	TJ_OKRC(tj_clam_reload(c));
	tj_clam_status(c, &st);
	TJ_ASSERT_INT(st.generation, ==, 2);
	expect_infected(c, EICAR, strlen(EICAR), "eicar-after-explicit-reload");
	tj_clam_close(&c);
	leak_check();
}

/* parallel_scans - eight threads share one engine. */
struct par {
	tj_clam *c;
	int bad;
};

static void *par_main(void *arg)
{
	struct par *p = arg;
	for (int i = 0; i < 50; i++) {
		struct tj_clam_result r;
		if (tj_clam_scan(p->c, eicar_mail, sizeof(eicar_mail) - 1, &r) != TJ_CLAM_INFECTED)
			p->bad++;
		if (tj_clam_scan(p->c, clean_mail, sizeof(clean_mail) - 1, &r) != TJ_CLAM_CLEAN)
			p->bad++;
	}
	return NULL;
}

TJ_TEST(parallel_scans)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tj_clam *c = open_clam(sigdir("db", true), 0);
	struct par p[8];
	pthread_t th[8];
	for (int i = 0; i < 8; i++) {
		p[i] = (struct par){.c = c};
		TJ_ASSERT(pthread_create(&th[i], NULL, par_main, &p[i]) == 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		TJ_ASSERT_INT(p[i].bad, ==, 0);
	}
	printf("scan-time case=parallel threads=8 scans=800 total_ms=%.1f\n", ms_since(&t0));
	tj_clam_close(&c);
	leak_check();
	TJ_ASSERT(ms_since(&t0) < 60000);
}

/* ---- quarantine ---- */

TJ_TEST(quarantine_writes_file)
{
	char q[300];
	snprintf(q, sizeof(q), "%s/quarantine", tj_test_tmpdir());
	char name[TJ_QUARANTINE_NAME_MAX + 1];
	TJ_OKRC(tj_quarantine_save(q, "4F2A9C01", TJ_QUARANTINE_INFECTED, "Test.EICAR.UNOFFICIAL",
				   eicar_mail, sizeof(eicar_mail) - 1, name, sizeof(name)));
	printf("quarantined as %s\n", name);
	/* 20250114T093012Z-4F2A9C01-INFECTED-Test.EICAR.UNOFFICIAL.eml */
	TJ_ASSERT_INT(strlen(name), ==, 16 + 1 + 8 + 1 + 8 + 1 + 21 + 4);
	TJ_ASSERT(name[8] == 'T' && name[15] == 'Z' && name[16] == '-');
	TJ_ASSERT_STR(name + 16, "-4F2A9C01-INFECTED-Test.EICAR.UNOFFICIAL.eml");

	struct stat st;
	TJ_ASSERT(stat(q, &st) == 0);
	TJ_ASSERT_INT(st.st_mode & 07777, ==, 0700);
	char p[600];
	snprintf(p, sizeof(p), "%s/%s", q, name);
	TJ_ASSERT(stat(p, &st) == 0);
	TJ_ASSERT(S_ISREG(st.st_mode));
	TJ_ASSERT_INT(st.st_mode & 07777, ==, 0600);
	char *buf;
	size_t len;
	TJ_OKRC(read_whole(p, &buf, &len));
	TJ_ASSERT_MEM(buf, len, eicar_mail, sizeof(eicar_mail) - 1);
	free(buf);

	/* same second, same id: a second file, not an overwrite */
	char name2[TJ_QUARANTINE_NAME_MAX + 1];
	TJ_OKRC(tj_quarantine_save(q, "4F2A9C01", TJ_QUARANTINE_INFECTED, "Test.EICAR.UNOFFICIAL",
				   "x", 1, name2, sizeof(name2)));
	TJ_ASSERT(strcmp(name, name2) != 0);
	TJ_OKRC(read_whole(p, &buf, &len));
	TJ_ASSERT_INT(len, ==, sizeof(eicar_mail) - 1);
	free(buf);

	/* spam, detail with odd bytes, no name wanted */
	TJ_OKRC(tj_quarantine_save(q, "Q.2_b-3", TJ_QUARANTINE_SPAM, "score=7.1 /../x", "m", 1, name2,
				   sizeof(name2)));
	TJ_ASSERT_STR(name2 + 16, "-Q.2_b-3-SPAM-score=7.1__.._x.eml");
	TJ_OKRC(tj_quarantine_save(q, "Q3", TJ_QUARANTINE_SPAM, NULL, "", 0, NULL, 0));

	/* no temp files left behind, exactly 4 files */
	DIR *d = opendir(q);
	TJ_ASSERT(d);
	int files = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		TJ_ASSERT(de->d_name[0] != '.');
		files++;
	}
	closedir(d);
	TJ_ASSERT_INT(files, ==, 4);
	leak_check();
}

TJ_TEST(quarantine_refuses_escaping_names)
{
	char q[300];
	snprintf(q, sizeof(q), "%s/q", tj_test_tmpdir());
	char name[TJ_QUARANTINE_NAME_MAX + 1];
	const char *bad[] = {"", "..", ".", "../etc", "a/b", "/abs", ".hidden", "a b", "a\nb", "a\\b",
			     "0123456789012345678901234567890123456789012345678901234567890123456789"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tj_quarantine_save(q, bad[i], TJ_QUARANTINE_SPAM, NULL, "m", 1, name, sizeof(name)) != TJ_EINVAL)
			TJ_FAIL("queue id \"%s\" accepted", bad[i]);
	TJ_ASSERT_INT(tj_quarantine_save(q, NULL, TJ_QUARANTINE_SPAM, NULL, "m", 1, NULL, 0), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_quarantine_save(q, "ok", (enum tj_quarantine_reason)7, NULL, "m", 1, NULL, 0), ==,
		      TJ_EINVAL);
	TJ_ASSERT_INT(tj_quarantine_save(q, "ok", TJ_QUARANTINE_SPAM, NULL, "m", 1, name, 10), ==, TJ_EINVAL);
	/* nothing was created */
	struct stat st;
	TJ_ASSERT(stat(q, &st) < 0 && errno == ENOENT);
	/* a symlink in place of the directory is refused */
	char target[300];
	snprintf(target, sizeof(target), "%s/elsewhere", tj_test_tmpdir());
	TJ_ASSERT(mkdir(target, 0700) == 0);
	TJ_ASSERT(symlink(target, q) == 0);
	TJ_ASSERT_INT(tj_quarantine_save(q, "ok", TJ_QUARANTINE_SPAM, NULL, "m", 1, name, sizeof(name)), ==,
		      -ENOTDIR);
	/* a missing parent is an error, not a crash */
	snprintf(q, sizeof(q), "%s/no/such/dir", tj_test_tmpdir());
	TJ_ASSERT_INT(tj_quarantine_save(q, "ok", TJ_QUARANTINE_SPAM, NULL, "m", 1, name, sizeof(name)), ==,
		      -ENOENT);
	leak_check();
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

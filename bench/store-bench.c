/*
 * store-bench - store benchmarks (not a test; prints figures).
 *
 *   store-bench deliver DIR [N] [WRITERS] [SIZE]   deliveries/s, fsyncs per delivery
 *   store-bench corpus DIR CORPUS_DIR [--no-dict]  import all .eml files; stored/raw bytes
 *   store-bench read DIR [SECONDS]                 read every message; MB/s decompressed
 *
 * DIR must not exist (deliver, corpus) or hold a store (read).
 * Output: one line of key=value figures per run, and a JSON line.
 */
#include "common/err.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "store-bench: %s: %s\n", what, tj_strerror(rc));
	exit(1);
}

static uint32_t add_user(tj_store *st, const char *name, uint64_t *inbox_r)
{
	tj_op u = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)name, strlen(name)}};
	int rc = tj_store_exec(st, &u, NULL);
	if (rc)
		die("user", rc);
	tj_op m = {.type = TJ_OP_MBOX_CREATE, .user_id = u.user_id, .name = {(const uint8_t *)"INBOX", 5}};
	if ((rc = tj_store_exec(st, &m, NULL)))
		die("mailbox", rc);
	*inbox_r = m.mbox_id;
	return u.user_id;
}

/* ---- deliver ---- */

struct dw {
	tj_store *st;
	uint32_t user;
	uint64_t mbox;
	int n, size, id;
};

static void *deliver_worker(void *arg)
{
	struct dw *w = arg;
	char *msg = malloc((size_t)w->size + 256);
	for (int i = 0; i < w->n; i++) {
		int h = snprintf(msg, 256,
				 "From: sender%d@example.org\r\nTo: user%d@example.com\r\nSubject: bench %d/%d\r\n"
				 "Message-ID: <%d.%d@bench>\r\n\r\n",
				 i, w->id, w->id, i, w->id, i);
		for (int j = h; j < w->size; j++)
			msg[j] = (j % 64 == 63) ? '\n' : (char)('a' + (i * 7 + j * 13) % 26);
		tj_msgrec m;
		int rc = tj_store_prepare(w->st, msg, (size_t)w->size, &m);
		if (rc)
			die("prepare", rc);
		tj_op op = {.type = TJ_OP_APPEND, .user_id = w->user, .mbox_id = w->mbox, .internal_date = time(NULL)};
		memcpy(op.guid, m.guid, TJ_GUID_LEN);
		if ((rc = tj_store_exec(w->st, &op, &m)))
			die("append", rc);
		tj_op_clear(&op);
		tj_msgrec_free(&m);
	}
	free(msg);
	return NULL;
}

static int bench_deliver(const char *dir, int n, int writers, int size)
{
	tj_store *st;
	int rc = tj_store_open(dir, NULL, &st);
	if (rc)
		die("open", rc);
	struct dw w[64];
	pthread_t th[64];
	if (writers > 64)
		writers = 64;
	for (int i = 0; i < writers; i++) {
		char name[32];
		snprintf(name, sizeof(name), "bench%d", i);
		w[i] = (struct dw){st, 0, 0, n / writers, size, i};
		w[i].user = add_user(st, name, &w[i].mbox);
	}
	tj_store_stats s0, s1;
	tj_store_stats_get(st, &s0);
	double t0 = now();
	for (int i = 0; i < writers; i++)
		pthread_create(&th[i], NULL, deliver_worker, &w[i]);
	for (int i = 0; i < writers; i++)
		pthread_join(th[i], NULL);
	double t = now() - t0;
	tj_store_stats_get(st, &s1);
	int total = (n / writers) * writers;
	double fs = (double)(s1.segment_syncs - s0.segment_syncs) / total;
	double bt = (double)(s1.batches - s0.batches);
	printf("deliver writers=%d messages=%d size=%d seconds=%.3f deliveries_per_s=%.0f segment_fsyncs_per_delivery=%.3f "
	       "lmdb_commits_per_delivery=%.3f avg_batch=%.2f\n",
	       writers, total, size, t, total / t, fs, bt / total, bt ? total / bt : 0);
	printf("{\"bench\":\"deliver\",\"writers\":%d,\"messages\":%d,\"size\":%d,\"seconds\":%.3f,\"per_s\":%.0f,"
	       "\"fsyncs_per_delivery\":%.3f}\n",
	       writers, total, size, t, total / t, fs);
	tj_store_close(&st);
	return 0;
}

/* ---- corpus ---- */

struct files {
	char **p;
	size_t n, cap;
};

static void walk(const char *dir, struct files *f)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		struct stat sb;
		if (stat(path, &sb) < 0)
			continue;
		if (S_ISDIR(sb.st_mode)) {
			walk(path, f);
			continue;
		}
		if (f->n == f->cap) {
			f->cap = f->cap ? f->cap * 2 : 1024;
			f->p = realloc(f->p, f->cap * sizeof(char *));
		}
		f->p[f->n++] = strdup(path);
	}
	closedir(d);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int bench_corpus(const char *dir, const char *corpus, int nodict)
{
	tj_store_opts o;
	tj_store_opts_default(&o);
	if (nodict)
		o.dict_train_after = 0;
	tj_store *st;
	int rc = tj_store_open(dir, &o, &st);
	if (rc)
		die("open", rc);
	uint64_t mbox;
	uint32_t user = add_user(st, "corpus", &mbox);
	struct files f = {0};
	walk(corpus, &f);
	qsort(f.p, f.n, sizeof(char *), cmp);
	double t0 = now();
	uint64_t raw = 0;
	for (size_t i = 0; i < f.n; i++) {
		FILE *fp = fopen(f.p[i], "rb");
		if (!fp)
			continue;
		static char buf[64 << 20];
		size_t len = fread(buf, 1, sizeof(buf), fp);
		fclose(fp);
		tj_msgrec m;
		if ((rc = tj_store_prepare(st, buf, len, &m)))
			die("prepare", rc);
		tj_op op = {.type = TJ_OP_APPEND, .user_id = user, .mbox_id = mbox};
		memcpy(op.guid, m.guid, TJ_GUID_LEN);
		if ((rc = tj_store_exec(st, &op, &m)))
			die("append", rc);
		raw += len;
		tj_op_clear(&op);
		tj_msgrec_free(&m);
		free(f.p[i]);
	}
	free(f.p);
	double t = now() - t0;
	tj_store_stats s;
	tj_store_stats_get(st, &s);
	double before = (double)s.stored_bytes / (double)raw;
	uint64_t moved = 0;
	if (!nodict && (rc = tj_store_compact(st, 0.5, 1, &moved)))
		die("compact", rc);
	tj_store_stats_get(st, &s);
	double after = (double)s.stored_bytes / (double)raw;
	printf("corpus dictionary=%s messages=%" PRIu64 " raw_bytes=%" PRIu64 " stored_bytes=%" PRIu64
	       " stored_over_raw=%.3f (before compaction %.3f) import_seconds=%.2f\n",
	       nodict ? "no" : "yes", s.messages, raw, s.stored_bytes, after, before, t);
	printf("{\"bench\":\"corpus\",\"dictionary\":%s,\"messages\":%" PRIu64 ",\"raw_bytes\":%" PRIu64
	       ",\"stored_bytes\":%" PRIu64 ",\"ratio\":%.4f}\n",
	       nodict ? "false" : "true", s.messages, raw, s.stored_bytes, after);
	tj_store_close(&st);
	return 0;
}

/* ---- read ---- */

struct rd {
	tj_rtxn *r;
	tj_buf out;
	uint64_t bytes, msgs;
};

static int read_one(void *arg, const tj_msg_info *m)
{
	struct rd *d = arg;
	tj_buf_reset(&d->out);
	int rc = tj_store_read(d->r, m->guid, 0, SIZE_MAX, &d->out);
	if (rc)
		return rc;
	d->bytes += d->out.len;
	d->msgs++;
	return 0;
}

static int read_mbox(void *arg, const tj_mbox_info *m)
{
	struct rd *d = arg;
	return tj_store_msgs(d->r, m->id, 1, UINT32_MAX, read_one, d);
}

static int read_user(void *arg, const tj_user_info *u)
{
	struct rd *d = arg;
	return tj_store_mboxes(d->r, u->id, read_mbox, d);
}

static int bench_read(const char *dir, double secs)
{
	tj_store *st;
	int rc = tj_store_open(dir, NULL, &st);
	if (rc)
		die("open", rc);
	struct rd d = {0};
	double t0 = now(), t;
	int passes = 0;
	do {
		if ((rc = tj_rtxn_begin(st, &d.r)))
			die("rtxn", rc);
		if ((rc = tj_store_users(d.r, read_user, &d)))
			die("read", rc);
		tj_rtxn_end(&d.r);
		passes++;
		t = now() - t0;
	} while (t < secs);
	printf("read passes=%d messages=%" PRIu64 " bytes=%" PRIu64 " seconds=%.3f MB_per_s=%.0f\n", passes, d.msgs,
	       d.bytes, t, d.bytes / t / 1e6);
	printf("{\"bench\":\"read\",\"bytes\":%" PRIu64 ",\"seconds\":%.3f,\"MB_per_s\":%.1f}\n", d.bytes, t,
	       d.bytes / t / 1e6);
	tj_buf_free(&d.out);
	tj_store_close(&st);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "deliver") == 0)
		return bench_deliver(argv[2], argc > 3 ? atoi(argv[3]) : 20000, argc > 4 ? atoi(argv[4]) : 8,
				     argc > 5 ? atoi(argv[5]) : 2048);
	if (argc >= 4 && strcmp(argv[1], "corpus") == 0)
		return bench_corpus(argv[2], argv[3], argc > 4 && strcmp(argv[4], "--no-dict") == 0);
	if (argc >= 3 && strcmp(argv[1], "read") == 0)
		return bench_read(argv[2], argc > 3 ? atof(argv[3]) : 3.0);
	fprintf(stderr, "usage: store-bench deliver DIR [N] [WRITERS] [SIZE] | corpus DIR CORPUS [--no-dict] | read DIR [SECONDS]\n");
	return 2;
}

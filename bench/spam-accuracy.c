/*
 * spam-accuracy.c - train tjstore's Bayes classifier on part of a corpus
 * and measure it on the rest (bench/spam-accuracy.sh runs it beside
 * bogofilter and writes the report).  Not a test: run by hand.
 *
 *   spam-accuracy [options] CORPUS_DIR      (CORPUS_DIR/ham/ and CORPUS_DIR/spam/, one file each)
 *
 * Messages are sorted by path and numbered from 0; message i is in fold
 * i mod K (K = 5).  For each test fold F the classifier is trained, in a
 * fresh database, on every message whose fold is neither F nor excluded,
 * then classifies fold F.
 *
 *   --test-folds LIST   folds to test, e.g. "0" (default) or "0,1,2,3,4"
 *   --exclude LIST      folds never used (tuning: "--exclude 0" keeps the
 *                       held-out fold unseen)
 *   --threshold P       spam verdict when P(spam) >= P (default 0.9)
 *   --s S --x X --min-dev D --max-used N   classifier parameters
 *   --probs FILE        write "fold class prob path classify-ms" per test message
 *                       (with --rules also "score tests": the combined score
 *                       and the scored rules that hit, BAYES_xx included)
 *   --timing            time learning, tokenizing and classifying (each test
 *                       message 5 times, the median counts)
 *   --tokens FILE       print the tokens of one message and exit
 *   --rules PATH        (with node/scan/spam.c in the tree) also score each
 *                       test message with tj_spam_check: these rules (a .cf
 *                       file or a directory of them; may repeat) plus the
 *                       BAYES_xx pseudo-rules, threshold 5.0; and with no
 *                       rules (NULL: GTUBE + BAYES_xx only)
 *   --explain PATH      train without PATH's fold, then print the clues
 *                       combined for it (PATH: a corpus path or its tail);
 *                       with --loop N also the CPU time of classifying,
 *                       tokenizing and looking up its tokens, N times each
 * Output: one JSON object per fold and one for the total, on stdout.
 */
#include "common/buf.h"
#include "common/err.h"
#include "node/scan/bayes.h"
#ifdef TJ_BENCH_HAVE_SPAM
#include "node/scan/spam.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define K 5

struct msg {
	char *path;
	int spam;
	uint8_t *data;
	size_t len;
};

static struct msg *msgs;
static size_t nmsgs, capmsgs;

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int read_all(const char *path, uint8_t **data_r, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	tj_buf b = TJ_BUF_INIT;
	char buf[65536];
	size_t n;
	int rc = 0;
	while (!rc && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		rc = tj_buf_append(&b, buf, n);
	fclose(f);
	if (rc) {
		tj_buf_free(&b);
		return rc;
	}
	if (!b.data)
		tj_buf_reserve(&b, 1);
	*data_r = tj_buf_steal(&b, len_r);
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(const char *corpus, const char *sub, int spam)
{
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/%s", corpus, sub);
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "spam-accuracy: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				abort();
		}
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		if (nmsgs == capmsgs) {
			capmsgs = capmsgs ? capmsgs * 2 : 4096;
			msgs = realloc(msgs, capmsgs * sizeof(*msgs));
			if (!msgs)
				abort();
		}
		struct msg *m = &msgs[nmsgs];
		char path[4600];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (read_all(path, &m->data, &m->len)) {
			fprintf(stderr, "spam-accuracy: %s: %s\n", path, strerror(errno));
			return -1;
		}
		m->path = strdup(path);
		m->spam = spam;
		nmsgs++;
		free(names[i]);
	}
	free(names);
	return 0;
}

static unsigned parse_folds(const char *s)
{
	unsigned mask = 0;
	for (; *s; s++)
		if (*s >= '0' && *s < '0' + K)
			mask |= 1u << (*s - '0');
	return mask;
}

struct result {
	unsigned ham, spam, fp, fn, unready;
	unsigned rfp, rfn, nfp, nfn; /* combined verdict: with the rules, with NULL rules */
	double learn_s, classify_s, tok_s;
	size_t nlearn, nclass;
};

/* train - a fresh database in a temp dir (*dir_r, to be removed) trained on
 * every message whose fold is neither `fold` nor excluded */
static int train(int fold, unsigned exclude, const tj_bayes_opts *o, char *dir, tj_bayes **b_r, struct result *r)
{
	if (!mkdtemp(dir))
		return -errno;
	tj_bayes *b;
	int rc = tj_bayes_open_opts(dir, false, o, &b);
	if (rc) {
		fprintf(stderr, "spam-accuracy: open %s: %s\n", dir, tj_strerror(rc));
		return rc;
	}
	/* in batches of 500 messages per transaction */
	enum { BATCH = 500 };
	tj_bayes_item items[BATCH];
	size_t ni = 0;
	double t0 = now();
	for (size_t i = 0; i <= nmsgs && !rc; i++) {
		if (i < nmsgs) {
			int f = (int)(i % K);
			if (f == fold || (exclude & (1u << f)))
				continue;
			items[ni++] = (tj_bayes_item){msgs[i].data, msgs[i].len, NULL,
						      msgs[i].spam ? TJ_BAYES_SPAM : TJ_BAYES_HAM, 0};
			r->nlearn++;
		}
		if (ni == BATCH || (i == nmsgs && ni)) {
			rc = tj_bayes_learn_batch(b, items, ni);
			ni = 0;
		}
	}
	r->learn_s += now() - t0;
	if (rc) {
		fprintf(stderr, "spam-accuracy: learn: %s\n", tj_strerror(rc));
		tj_bayes_close(&b);
		return rc;
	}
	*b_r = b;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void remove_dir(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "spam-accuracy: could not remove %s\n", dir);
}

#ifdef TJ_BENCH_HAVE_SPAM
static tj_sa_rules *rules;
#endif
static int combined; /* --rules given */

/* spam_verdicts - the combined verdicts of one message: *with_rules, *no_rules */
static int spam_verdicts(const struct msg *m, double prob, int *with_rules, int *no_rules, FILE *probs)
{
#ifdef TJ_BENCH_HAVE_SPAM
	struct tj_spam_result res;
	int rc = tj_spam_check(rules, m->data, m->len, prob, 5.0, &res);
	if (rc)
		return rc;
	*with_rules = res.is_spam;
	if (probs) /* the combined score and the rules that hit */
		fprintf(probs, "%.3f %s ", res.score, res.tests.len ? (const char *)res.tests.data : "-");
	tj_spam_result_free(&res);
	if ((rc = tj_spam_check(NULL, m->data, m->len, prob, 5.0, &res)))
		return rc;
	*no_rules = res.is_spam;
	tj_spam_result_free(&res);
	return 0;
#else
	(void)m, (void)prob, (void)probs;
	*with_rules = *no_rules = 0;
	return TJ_ESTATE;
#endif
}

static int run_fold(int fold, unsigned exclude, const tj_bayes_opts *o, double threshold, FILE *probs, int timing,
		    struct result *r, double *lat, size_t *nlat)
{
	char dir[] = "/tmp/spam-accuracy.XXXXXX";
	tj_bayes *b;
	int rc = train(fold, exclude, o, dir, &b, r);
	if (rc) {
		remove_dir(dir);
		return rc;
	}
	/* classify the test fold */
	tj_bayes_toks t;
	tj_bayes_toks_init(&t, 0);
	for (size_t i = (size_t)fold; i < nmsgs; i += K) {
		struct msg *m = &msgs[i];
		tj_bayes_result res;
		/* with --timing each message is classified (and tokenized) 5 times
		 * and the median counts: the machine is shared, single runs jitter */
		enum { REPS = 5 };
		double ct[REPS], tt[REPS];
		int crc = 0;
		for (int rep = 0; rep < (timing ? REPS : 1); rep++) {
			double c0 = now();
			crc = tj_bayes_classify_ex(b, m->data, m->len, &res);
			double c1 = now();
			ct[rep] = c1 - c0;
			if (timing) {
				tj_bayes_tokenize(m->data, m->len, &t);
				tt[rep] = now() - c1;
			}
		}
		double cls_time = ct[0];
		if (timing) {
			qsort(ct, REPS, sizeof(double), cmp_double);
			qsort(tt, REPS, sizeof(double), cmp_double);
			cls_time = ct[REPS / 2];
			r->tok_s += tt[REPS / 2];
			lat[(*nlat)++] = cls_time;
		}
		r->classify_s += cls_time;
		r->nclass++;
		if (crc == TJ_ENOTFOUND) {
			r->unready++;
			res.prob = -1;
		} else if (crc) {
			fprintf(stderr, "spam-accuracy: classify %s: %s\n", m->path, tj_strerror(crc));
			rc = crc;
			break;
		}
		int verdict = res.prob >= threshold, wr = 0, nr = 0;
		if (probs)
			fprintf(probs, "%d %s %.6f %s %.4f ", fold, m->spam ? "spam" : "ham", res.prob, m->path,
				cls_time * 1e3);
		if (combined && (rc = spam_verdicts(m, res.prob, &wr, &nr, probs))) {
			fprintf(stderr, "spam-accuracy: tj_spam_check %s: %s\n", m->path, tj_strerror(rc));
			break;
		}
		if (m->spam) {
			r->spam++;
			r->fn += !verdict;
			r->rfn += !wr;
			r->nfn += !nr;
		} else {
			r->ham++;
			r->fp += verdict;
			r->rfp += wr;
			r->nfp += nr;
		}
		if (probs)
			fputc('\n', probs);
	}
	tj_bayes_toks_free(&t);
	tj_bayes_close(&b);
	remove_dir(dir);
	return rc;
}

struct explain_ctx {
	const tj_bayes_toks *t;
};

static void print_clue(void *arg, size_t idx, uint32_t spam, uint32_t ham, double f)
{
	struct explain_ctx *x = arg;
	printf("  %.4f  spam %5u ham %5u  %s\n", f, spam, ham, tj_bayes_toks_text(x->t, idx));
}

/* explain - train without the message's fold, then show its clues (and,
 * with --loop N, time N classifications of it) */
static int loops;
static int explain(const char *path, unsigned exclude, const tj_bayes_opts *o)
{
	size_t i;
	for (i = 0; i < nmsgs; i++) {
		size_t pl = strlen(path), ml = strlen(msgs[i].path);
		if (ml >= pl && !strcmp(msgs[i].path + ml - pl, path))
			break;
	}
	if (i == nmsgs) {
		fprintf(stderr, "spam-accuracy: %s is not in the corpus\n", path);
		return 1;
	}
	char dir[] = "/tmp/spam-accuracy.XXXXXX";
	struct result r = {0};
	tj_bayes *b;
	if (train((int)(i % K), exclude, o, dir, &b, &r)) {
		remove_dir(dir);
		return 1;
	}
	tj_bayes_toks t;
	tj_bayes_toks_init(&t, 1);
	tj_bayes_result res;
	struct explain_ctx x = {&t};
	int rc = tj_bayes_tokenize(msgs[i].data, msgs[i].len, &t);
	if (!rc)
		rc = tj_bayes_explain(b, &t, print_clue, &x, &res);
	if (!rc && loops > 0) {
		double t0 = now();
		int n = loops;
		for (int k = 0; k < n; k++)
			tj_bayes_classify_ex(b, msgs[i].data, msgs[i].len, &res);
		printf("%.4f ms per classify\n", (now() - t0) * 1e3 / n);
		t0 = now();
		for (int k = 0; k < n; k++)
			tj_bayes_tokenize(msgs[i].data, msgs[i].len, &t);
		printf("%.4f ms per tokenize\n", (now() - t0) * 1e3 / n);
		t0 = now();
		for (int k = 0; k < n; k++)
			tj_bayes_classify_toks(b, &t, &res);
		printf("%.4f ms per classify_toks\n", (now() - t0) * 1e3 / n);
	}
	if (!rc)
		printf("%s: %s, fold %zu: prob %.6f, %u tokens, %u known, %u used\n", msgs[i].path,
		       msgs[i].spam ? "spam" : "ham", i % K, res.prob, res.tokens, res.known, res.used);
	tj_bayes_toks_free(&t);
	tj_bayes_close(&b);
	remove_dir(dir);
	return rc ? 1 : 0;
}

static void print_result(const char *label, const struct result *r)
{
	printf("{\"fold\":\"%s\",\"ham\":%u,\"spam\":%u,\"fp\":%u,\"fn\":%u,\"fp_rate\":%.5f,\"fn_rate\":%.5f,"
	       "\"unready\":%u",
	       label, r->ham, r->spam, r->fp, r->fn, r->ham ? (double)r->fp / r->ham : 0,
	       r->spam ? (double)r->fn / r->spam : 0, r->unready);
	if (combined)
		printf(",\"rules_fp\":%u,\"rules_fn\":%u,\"norules_fp\":%u,\"norules_fn\":%u", r->rfp, r->rfn, r->nfp,
		       r->nfn);
	printf("}\n");
}

int main(int argc, char **argv)
{
	tj_bayes_opts o;
	tj_bayes_opts_default(&o);
	unsigned test = 1, exclude = 0;
	double threshold = 0.9;
	const char *probs_path = NULL, *tokens_of = NULL, *explain_path = NULL;
	int timing = 0, i;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		const char *a = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(a, "--timing"))
			timing = 1;
		else if (has && !strcmp(a, "--test-folds"))
			test = parse_folds(argv[++i]);
		else if (has && !strcmp(a, "--exclude"))
			exclude = parse_folds(argv[++i]);
		else if (has && !strcmp(a, "--threshold"))
			threshold = atof(argv[++i]);
		else if (has && !strcmp(a, "--s"))
			o.s = atof(argv[++i]);
		else if (has && !strcmp(a, "--x"))
			o.x = atof(argv[++i]);
		else if (has && !strcmp(a, "--min-dev"))
			o.min_dev = atof(argv[++i]);
		else if (has && !strcmp(a, "--max-used"))
			o.max_used = (unsigned)atoi(argv[++i]);
		else if (has && !strcmp(a, "--probs"))
			probs_path = argv[++i];
		else if (has && !strcmp(a, "--tokens"))
			tokens_of = argv[++i];
		else if (has && !strcmp(a, "--explain"))
			explain_path = argv[++i];
		else if (has && !strcmp(a, "--loop"))
			loops = atoi(argv[++i]);
		else if (has && !strcmp(a, "--rules")) {
#ifdef TJ_BENCH_HAVE_SPAM
			int rc = rules ? 0 : tj_sa_rules_new(&rules);
			if (!rc)
				rc = tj_sa_rules_load_path(rules, argv[++i]);
			if (rc) {
				fprintf(stderr, "spam-accuracy: --rules %s: %s\n", argv[i], tj_strerror(rc));
				return 1;
			}
			combined = 1;
#else
			fprintf(stderr, "spam-accuracy: --rules: built without node/scan/spam.c\n");
			return 2;
#endif
		}
		else {
			fprintf(stderr, "spam-accuracy: unknown option %s\n", a);
			return 2;
		}
	}
	if (tokens_of) {
		uint8_t *data;
		size_t len;
		tj_bayes_toks t;
		tj_bayes_toks_init(&t, 1);
		if (read_all(tokens_of, &data, &len) || tj_bayes_tokenize(data, len, &t))
			return 1;
		for (size_t k = 0; k < t.n; k++)
			printf("%s\n", tj_bayes_toks_text(&t, k));
		fprintf(stderr, "%zu tokens, %zu dropped\n", t.n, t.dropped);
		tj_bayes_toks_free(&t);
		free(data);
		return 0;
	}
	if (i + 1 != argc) {
		fprintf(stderr, "usage: spam-accuracy [options] CORPUS_DIR\n");
		return 2;
	}
	if (load_dir(argv[i], "ham", 0) || load_dir(argv[i], "spam", 1))
		return 1;
#ifdef TJ_BENCH_HAVE_SPAM
	if (rules && tj_sa_rules_finish(rules)) {
		fprintf(stderr, "spam-accuracy: --rules: cannot finish the rule set\n");
		return 1;
	}
#endif
	if (explain_path)
		return explain(explain_path, exclude, &o);
	FILE *probs = probs_path ? fopen(probs_path, "w") : NULL;
	if (probs_path && !probs) {
		fprintf(stderr, "spam-accuracy: %s: %s\n", probs_path, strerror(errno));
		return 1;
	}
	struct result total = {0};
	double *lat = timing ? calloc(nmsgs, sizeof(*lat)) : NULL;
	size_t nlat = 0;
	for (int f = 0; f < K; f++) {
		if (!(test & (1u << f)) || (exclude & (1u << f)))
			continue;
		struct result r = {0};
		if (run_fold(f, exclude, &o, threshold, probs, timing, &r, lat, &nlat))
			return 1;
		char label[8];
		snprintf(label, sizeof(label), "%d", f);
		print_result(label, &r);
		total.ham += r.ham, total.spam += r.spam, total.fp += r.fp, total.fn += r.fn;
		total.unready += r.unready;
		total.rfp += r.rfp, total.rfn += r.rfn, total.nfp += r.nfp, total.nfn += r.nfn;
		total.learn_s += r.learn_s, total.classify_s += r.classify_s, total.tok_s += r.tok_s;
		total.nlearn += r.nlearn, total.nclass += r.nclass;
	}
	print_result("total", &total);
	if (timing && nlat) {
		qsort(lat, nlat, sizeof(*lat), cmp_double);
		size_t bytes = 0;
		for (size_t k = 0; k < nmsgs; k++)
			bytes += msgs[k].len;
		printf("{\"timing\":true,\"learn_ms_per_msg\":%.4f,\"classify_ms_mean\":%.4f,\"classify_ms_p50\":%.4f,"
		       "\"classify_ms_p99\":%.4f,\"tokenize_ms_mean\":%.4f,\"avg_msg_bytes\":%zu}\n",
		       total.learn_s * 1e3 / (double)total.nlearn, total.classify_s * 1e3 / (double)total.nclass,
		       lat[nlat / 2] * 1e3, lat[nlat * 99 / 100] * 1e3, total.tok_s * 1e3 / (double)nlat,
		       bytes / nmsgs);
	}
	if (probs)
		fclose(probs);
	for (size_t k = 0; k < nmsgs; k++) {
		free(msgs[k].data);
		free(msgs[k].path);
	}
	free(msgs);
	free(lat);
#ifdef TJ_BENCH_HAVE_SPAM
	tj_sa_rules_free(&rules);
#endif
	return 0;
}

/*
 * pipeline.c - the scanning pipeline: ClamAV, then spam scoring; the
 * learner behind IMAP Junk moves (see pipeline.h).
 */
#include "node/scan/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "node/learn/learner.h"
#include "node/scan/clamav.h"
#include "node/scan/quarantine.h"
#include "node/scan/sarules.h"
#include "node/scan/spam.h"

/* a loaded rules file, shared by the scans that started with it */
struct rules_ref {
	tj_sa_rules *rules;
	unsigned refs; /* guarded by the pipeline's lock */
};

struct tj_pipeline {
	struct tj_pipeline_options o;
	char *clamav_db_dir, *rules_file, *quarantine_dir, *version;
	tj_clam *clam;
	tj_bayes *bayes;
	tj_learner *learner;
	pthread_mutex_t lock;   /* guards cur, reloading, loader */
	pthread_cond_t idle;
	struct rules_ref *cur;  /* NULL: no rules file */
	bool reloading;
	unsigned long seq;      /* quarantine names */
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- rules ---- */

static int load_rules(const char *path, struct rules_ref **ref_r)
{
	uint64_t t0 = now_us();
	tj_sa_rules *r;
	int rc = tj_sa_rules_load(path, &r);
	if (rc)
		return rc;
	struct rules_ref *ref = calloc(1, sizeof(*ref));
	if (!ref) {
		tj_sa_rules_free(&r);
		return -ENOMEM;
	}
	ref->rules = r;
	ref->refs = 1;
	struct tj_sa_stats st;
	tj_sa_rules_stats(r, &st);
	unsigned skipped = 0;
	for (int i = 0; i < TJ_SA_SKIP_NR; i++)
		skipped += st.skipped[i];
	tj_buf sum = TJ_BUF_INIT;
	(void)tj_sa_rules_summary(r, &sum);
	tj_log(TJ_LOG_INFO, "scan",
	       "event=rules_loaded file=\"%s\" files=%u rules=%u scored=%u regexes=%u jit=%u skipped=%u ms=%llu", path,
	       st.files, st.rules, st.scored, st.regexes, st.jit, skipped, (unsigned long long)((now_us() - t0) / 1000));
	if (sum.len)
		tj_log(TJ_LOG_INFO, "scan", "event=rules_summary %.*s", (int)(sum.len > 2000 ? 2000 : sum.len),
		       (const char *)sum.data);
	tj_buf_free(&sum);
	*ref_r = ref;
	return 0;
}

static void rules_put(tj_pipeline *p, struct rules_ref *ref)
{
	if (!ref)
		return;
	pthread_mutex_lock(&p->lock);
	bool last = --ref->refs == 0;
	pthread_mutex_unlock(&p->lock);
	if (last) {
		tj_sa_rules_free(&ref->rules);
		free(ref);
	}
}

static struct rules_ref *rules_get(tj_pipeline *p)
{
	pthread_mutex_lock(&p->lock);
	struct rules_ref *ref = p->cur;
	if (ref)
		ref->refs++;
	pthread_mutex_unlock(&p->lock);
	return ref;
}

static void *reload_main(void *arg)
{
	tj_pipeline *p = arg;
	struct rules_ref *ref = NULL;
	int rc = load_rules(p->rules_file, &ref);
	if (rc)
		tj_log(TJ_LOG_ERROR, "scan", "event=rules_reload_failed file=\"%s\" error=\"%s\" kept=previous",
		       p->rules_file, tj_strerror(rc));
	pthread_mutex_lock(&p->lock);
	struct rules_ref *old = NULL;
	if (!rc) {
		old = p->cur;
		p->cur = ref;
	}
	pthread_mutex_unlock(&p->lock);
	rules_put(p, old);
	pthread_mutex_lock(&p->lock);
	p->reloading = false;
	pthread_cond_broadcast(&p->idle);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void tj_pipeline_reload(tj_pipeline *p)
{
	/* ClamAV's watcher notices new signatures by itself (a full database
	 * takes seconds to load: never on the caller's thread) */
	if (!p->rules_file)
		return;
	pthread_mutex_lock(&p->lock);
	bool busy = p->reloading;
	p->reloading = true;
	pthread_mutex_unlock(&p->lock);
	if (busy)
		return; /* one load at a time; the one running reads the file anew */
	pthread_t t;
	pthread_attr_t at;
	int ok = pthread_attr_init(&at) == 0;
	if (ok) {
		pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&t, &at, reload_main, p) == 0;
		pthread_attr_destroy(&at);
	}
	if (!ok) {
		tj_log(TJ_LOG_ERROR, "scan", "event=rules_reload_failed error=\"cannot start a thread\"");
		pthread_mutex_lock(&p->lock);
		p->reloading = false;
		pthread_cond_broadcast(&p->idle);
		pthread_mutex_unlock(&p->lock);
	}
}

/* ---- open / close ---- */

static char *dup_or_null(const char *s)
{
	return s && s[0] ? strdup(s) : NULL;
}

int tj_pipeline_open(const struct tj_pipeline_options *o, tj_pipeline **p_r, char *err, size_t errsz)
{
	tj_pipeline *p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	p->o = *o;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->idle, NULL);
	p->clamav_db_dir = dup_or_null(o->clamav_db_dir);
	p->rules_file = o->spam ? dup_or_null(o->rules_file) : NULL;
	p->quarantine_dir = dup_or_null(o->quarantine_dir);
	p->version = strdup(o->version && o->version[0] ? o->version : "tjstore");
	int rc = 0;
	if (!p->version || (o->spam && o->rules_file && o->rules_file[0] && !p->rules_file)) {
		snprintf(err, errsz, "out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	if (o->clamav) {
		/* libclamav writes each message's decoded parts to files in a new
		 * directory: on a disk filesystem that mkdir/create/unlink traffic
		 * was 2/3 of its time (bench/README.md); tmpfs when there is one */
		struct stat sb;
		bool shm = stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK | X_OK) == 0;
		struct tj_clam_options co = {.db_dir = p->clamav_db_dir ? p->clamav_db_dir : "",
					     .tmpdir = shm ? "/dev/shm" : NULL};
		if ((rc = tj_clam_open(&p->clam, &co))) {
			snprintf(err, errsz, "[scan] cannot start the ClamAV scanner: %s", tj_strerror(rc));
			goto fail;
		}
	}
	if (o->spam) {
		if (p->rules_file && (rc = load_rules(p->rules_file, &p->cur))) {
			snprintf(err, errsz, "scan.rules_file: cannot load %s: %s", p->rules_file, tj_strerror(rc));
			goto fail;
		}
		if ((rc = tj_bayes_open(o->bayes_dir, false, &p->bayes))) {
			snprintf(err, errsz, "[scan] cannot open the Bayes database %s: %s", o->bayes_dir,
				 tj_strerror(rc));
			goto fail;
		}
		if (o->store && (rc = tj_learner_start(o->store, p->bayes, &p->learner))) {
			snprintf(err, errsz, "[scan] cannot start the learner: %s", tj_strerror(rc));
			goto fail;
		}
		struct tj_bayes_stats bs;
		if (tj_bayes_stats(p->bayes, &bs) == 0)
			tj_log(TJ_LOG_INFO, "scan", "event=bayes_open dir=\"%s\" spam=%llu ham=%llu tokens=%llu ready=%s",
			       o->bayes_dir, (unsigned long long)bs.nspam, (unsigned long long)bs.nham,
			       (unsigned long long)bs.ntokens, bs.ready ? "yes" : "no");
	}
	*p_r = p;
	return 0;
fail:
	tj_pipeline_close(&p);
	return rc;
}

void tj_pipeline_close(tj_pipeline **pp)
{
	tj_pipeline *p = *pp;
	if (!p)
		return;
	pthread_mutex_lock(&p->lock); /* a reload still running uses p */
	while (p->reloading)
		pthread_cond_wait(&p->idle, &p->lock);
	pthread_mutex_unlock(&p->lock);
	tj_learner_stop(&p->learner);
	tj_bayes_close(&p->bayes);
	tj_clam_close(&p->clam);
	rules_put(p, p->cur);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->idle);
	free(p->clamav_db_dir);
	free(p->rules_file);
	free(p->quarantine_dir);
	free(p->version);
	free(p);
	*pp = NULL;
}

/* ---- scanning ---- */

/* quarantine - keep a copy, named by the message's queue id (as in the 250
 * and the log line) when the server gave one */
static void quarantine(tj_pipeline *p, const char *res_qid, enum tj_quarantine_reason why, const char *detail,
		       const tj_buf *msg)
{
	if (!p->quarantine_dir)
		return;
	char qid[64], saved[512] = "";
	if (res_qid && res_qid[0])
		snprintf(qid, sizeof(qid), "%s", res_qid);
	else
		snprintf(qid, sizeof(qid), "%lx.%lu", (unsigned long)time(NULL),
			 __atomic_add_fetch(&p->seq, 1, __ATOMIC_RELAXED));
	int rc = tj_quarantine_save(p->quarantine_dir, qid, why, detail, msg->data, msg->len, saved, sizeof(saved));
	tj_log(rc ? TJ_LOG_ERROR : TJ_LOG_INFO, "scan",
	       "event=quarantine qid=%s reason=%s detail=\"%s\" file=%s result=\"%s\"", qid,
	       tj_quarantine_reason_name(why), detail, saved[0] ? saved : "-", tj_strerror(rc));
}

int tj_pipeline_scan(void *ctx, const tj_buf *msg, struct smtp_scan_result *res)
{
	tj_pipeline *p = ctx;
	if (p->clam) {
		struct tj_clam_result cr;
		enum tj_clam_verdict v = tj_clam_scan(p->clam, msg->data, msg->len, &cr);
		if (v == TJ_CLAM_TEMPFAIL) {
			res->verdict = SMTP_SCAN_TEMPFAIL;
			snprintf(res->name, sizeof(res->name), "%.127s", cr.name);
			return 0;
		}
		if (v == TJ_CLAM_INFECTED) {
			res->verdict = SMTP_SCAN_INFECTED;
			snprintf(res->name, sizeof(res->name), "%.127s", cr.name);
			quarantine(p, res->qid, TJ_QUARANTINE_INFECTED, cr.name, msg);
			return 0;
		}
	}
	if (!p->o.spam)
		return 0;
	double prob = -1;
	if (p->bayes) {
		int rc = tj_bayes_classify(p->bayes, msg->data, msg->len, &prob);
		if (rc && rc != TJ_ENOTFOUND) {
			tj_log(TJ_LOG_WARN, "scan", "event=bayes_failed error=\"%s\"", tj_strerror(rc));
			prob = -1;
		}
	}
	struct rules_ref *ref = rules_get(p);
	struct tj_spam_result sr;
	int rc = tj_spam_check(ref ? ref->rules : NULL, msg->data, msg->len, prob, p->o.threshold, &sr);
	rules_put(p, ref);
	if (rc) {
		/* scoring failed (out of memory): defer rather than pass unscored */
		res->verdict = SMTP_SCAN_TEMPFAIL;
		snprintf(res->name, sizeof(res->name), "spam scoring failed: %s", tj_strerror(rc));
		return 0;
	}
	res->score = sr.score;
	rc = tj_spam_headers(&sr, p->version, &res->headers);
	if (!rc && sr.is_spam) {
		res->verdict = SMTP_SCAN_SPAM;
		res->junk = true;
		char detail[64];
		snprintf(detail, sizeof(detail), "score=%.1f", sr.score);
		quarantine(p, res->qid, TJ_QUARANTINE_SPAM, detail, msg);
	}
	if (sr.truncated || sr.limit_errors)
		tj_log(TJ_LOG_WARN, "scan", "event=rules_limited truncated=%s limit_errors=%u us=%llu",
		       sr.truncated ? "yes" : "no", sr.limit_errors, (unsigned long long)sr.elapsed_us);
	tj_spam_result_free(&sr);
	if (rc) {
		res->verdict = SMTP_SCAN_TEMPFAIL;
		snprintf(res->name, sizeof(res->name), "spam headers: %s", tj_strerror(rc));
	}
	return 0;
}

/* ---- learning ---- */

void tj_pipeline_learn(void *ctx, uint32_t user_id, const uint8_t (*guids)[TJ_GUID_LEN], size_t n, bool spam)
{
	tj_pipeline *p = ctx;
	if (!p->learner)
		return;
	size_t q = tj_learner_submit(p->learner, guids, n, spam ? TJ_BAYES_SPAM : TJ_BAYES_HAM);
	tj_log(TJ_LOG_DEBUG, "learn", "event=queued user_id=%u class=%s messages=%zu queued=%zu", user_id,
	       spam ? "spam" : "ham", n, q);
}

void tj_pipeline_wait_learned(tj_pipeline *p)
{
	if (p->learner)
		tj_learner_wait(p->learner);
}

tj_bayes *tj_pipeline_bayes(tj_pipeline *p)
{
	return p->bayes;
}

void tj_pipeline_status(tj_pipeline *p, bool json, tj_buf *out)
{
	struct tj_clam_status cs = {0};
	if (p->clam)
		tj_clam_status(p->clam, &cs);
	struct tj_bayes_stats bs = {0};
	if (p->bayes)
		(void)tj_bayes_stats(p->bayes, &bs);
	struct tj_learner_stats ls = {0};
	if (p->learner)
		tj_learner_stats(p->learner, &ls);
	struct tj_sa_stats rs = {0};
	struct rules_ref *ref = rules_get(p);
	if (ref)
		tj_sa_rules_stats(ref->rules, &rs);
	rules_put(p, ref);
	unsigned skipped = 0;
	for (int i = 0; i < TJ_SA_SKIP_NR; i++)
		skipped += rs.skipped[i];
	if (json) {
		tj_buf_printf(out,
			      "{\"clamav\":%s,\"clamav_available\":%s,\"signatures\":%u,\"spam\":%s,\"rules\":%u,"
			      "\"rules_skipped\":%u,\"threshold\":%.1f,\"bayes_spam\":%llu,\"bayes_ham\":%llu,"
			      "\"bayes_tokens\":%llu,\"bayes_ready\":%s,\"learn_queued\":%llu,\"learn_learned\":%llu,"
			      "\"learn_known\":%llu,\"learn_skipped\":%llu,\"learn_failed\":%llu,\"learn_dropped\":%llu}\n",
			      p->clam ? "true" : "false", cs.available ? "true" : "false", cs.signatures,
			      p->o.spam ? "true" : "false", rs.rules, skipped, p->o.threshold,
			      (unsigned long long)bs.nspam, (unsigned long long)bs.nham, (unsigned long long)bs.ntokens,
			      bs.ready ? "true" : "false", (unsigned long long)ls.queued, (unsigned long long)ls.learned,
			      (unsigned long long)ls.known, (unsigned long long)ls.skipped, (unsigned long long)ls.failed,
			      (unsigned long long)ls.dropped);
		return;
	}
	tj_buf_printf(out, "clamav       %s", !p->clam ? "off\n" : cs.available ? "" : "UNAVAILABLE (mail is deferred)\n");
	if (p->clam && cs.available)
		tj_buf_printf(out, "%u signatures\n", cs.signatures);
	if (!p->o.spam) {
		tj_buf_puts(out, "spam         off\n");
		return;
	}
	tj_buf_printf(out, "spam rules   %u active, %u skipped (%s)\n", rs.rules, skipped,
		      p->rules_file ? p->rules_file : "no rules file: GTUBE and Bayes only");
	tj_buf_printf(out, "threshold    %.1f\n", p->o.threshold);
	tj_buf_printf(out, "bayes        %llu spam, %llu ham learned, %llu tokens, %s\n", (unsigned long long)bs.nspam,
		      (unsigned long long)bs.nham, (unsigned long long)bs.ntokens,
		      bs.ready ? "in use" : "not in use until 200 of each are learned");
	tj_buf_printf(out, "learner      %llu queued, %llu learned, %llu already known, %llu gone, %llu failed, %llu dropped\n",
		      (unsigned long long)ls.queued, (unsigned long long)ls.learned, (unsigned long long)ls.known,
		      (unsigned long long)ls.skipped, (unsigned long long)ls.failed, (unsigned long long)ls.dropped);
}

/* ---- learning a whole mailbox (tjstore-cli --socket ... learn) ---- */

struct guid_list {
	uint8_t (*v)[TJ_GUID_LEN];
	size_t n, cap;
};

static int collect_guid(void *arg, const tj_msg_info *m)
{
	struct guid_list *l = arg;
	if (l->n == l->cap && tj_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	memcpy(l->v[l->n++], m->guid, TJ_GUID_LEN);
	return 0;
}

int tj_pipeline_learn_mailbox(tj_pipeline *p, const char *user, const char *mailbox, bool spam, bool json,
			      tj_buf *out)
{
	if (!p->learner) {
		tj_buf_puts(out, "learn: spam scoring is off on this node (scan.spam = no)\n");
		return 1;
	}
	const char *box = mailbox && mailbox[0] ? mailbox : spam ? "Junk" : "INBOX";
	struct guid_list l = {0};
	tj_rtxn *r;
	tj_user_info u;
	tj_mbox_info m;
	int rc = tj_rtxn_begin(p->o.store, &r);
	if (rc) {
		tj_buf_printf(out, "learn: %s\n", tj_strerror(rc));
		return 1;
	}
	rc = tj_store_user_get(r, user, &u);
	if (rc == TJ_ENOTFOUND) {
		tj_rtxn_end(&r);
		tj_buf_printf(out, "learn: no user %s\n", user);
		return 1;
	}
	if (!rc)
		rc = tj_store_mbox_find(r, u.id, box, &m);
	if (rc == TJ_ENOTFOUND) {
		tj_rtxn_end(&r);
		tj_buf_printf(out, "learn: user %s has no mailbox %s\n", user, box);
		return 1;
	}
	if (!rc)
		rc = tj_store_msgs(r, m.id, 1, UINT32_MAX, collect_guid, &l);
	tj_rtxn_end(&r);
	if (rc) {
		free(l.v);
		tj_buf_printf(out, "learn: %s\n", tj_strerror(rc));
		return 1;
	}
	/* through the learner, so this never races with IMAP learning; the
	 * counts are the learner's over this call (other learning at the same
	 * moment is counted with it) */
	struct tj_learner_stats before, after;
	tj_learner_wait(p->learner);
	tj_learner_stats(p->learner, &before);
	uint64_t t0 = now_us();
	for (size_t done = 0; done < l.n;) {
		size_t q = tj_learner_submit(p->learner, (const uint8_t(*)[TJ_GUID_LEN])l.v + done, l.n - done,
					     spam ? TJ_BAYES_SPAM : TJ_BAYES_HAM);
		done += q;
		if (done < l.n) /* the queue is full: let it drain, then go on */
			tj_learner_wait(p->learner);
	}
	tj_learner_wait(p->learner);
	tj_learner_stats(p->learner, &after);
	free(l.v);
	uint64_t learned = after.learned - before.learned, known = after.known - before.known;
	uint64_t gone = after.skipped - before.skipped, failed = after.failed - before.failed;
	unsigned long long ms = (unsigned long long)((now_us() - t0) / 1000);
	if (json) {
		tj_buf_puts(out, "{\"user\":");
		tj_buf_json_str(out, user, strlen(user));
		tj_buf_puts(out, ",\"mailbox\":");
		tj_buf_json_str(out, box, strlen(box));
		tj_buf_printf(out,
			      ",\"class\":\"%s\",\"messages\":%zu,\"learned\":%llu,\"known\":%llu,\"skipped\":%llu,"
			      "\"failed\":%llu,\"ms\":%llu}\n",
			      spam ? "spam" : "ham", l.n, (unsigned long long)learned, (unsigned long long)known,
			      (unsigned long long)gone, (unsigned long long)failed, ms);
	} else
		tj_buf_printf(out, "%s %s: %zu messages as %s: learned %llu, already known %llu, skipped %llu (%llu ms)\n",
			      user, box, l.n, spam ? "spam" : "ham", (unsigned long long)learned,
			      (unsigned long long)known, (unsigned long long)(gone + failed), ms);
	char su[300], sb[300];
	tj_log(TJ_LOG_INFO, "learn", "event=mailbox user=%s mailbox=\"%s\" class=%s messages=%zu learned=%llu known=%llu",
	       tj_sanitize(su, sizeof(su), user, strlen(user)), tj_sanitize(sb, sizeof(sb), box, strlen(box)), spam ? "spam" : "ham", l.n, (unsigned long long)learned, (unsigned long long)known);
	return failed ? 1 : 0;
}

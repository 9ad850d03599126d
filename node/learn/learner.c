/*
 * learner.c - the background spam learner (see learner.h).
 */
#include "node/learn/learner.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

struct entry {
	uint8_t guid[TJ_GUID_LEN];
	uint8_t cls;
};

struct tj_learner {
	tj_store *st;
	tj_bayes *b;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct entry *q; /* ring of TJ_LEARNER_QUEUE */
	size_t head, len;
	uint64_t submitted, finished; /* entries ever queued / ever handled */
	bool stopping;
	struct tj_learner_stats stats;
};

/* learn_batch - read and learn n entries (no lock held) */
static void learn_batch(tj_learner *l, const struct entry *e, size_t n, struct tj_learner_stats *st)
{
	tj_buf bufs[TJ_LEARNER_BATCH];
	tj_bayes_item items[TJ_LEARNER_BATCH];
	size_t ni = 0;
	tj_rtxn *r = NULL;
	int rc = tj_rtxn_begin(l->st, &r);
	for (size_t i = 0; i < n; i++) {
		bufs[i] = (tj_buf)TJ_BUF_INIT;
		int rrc = rc ? rc : tj_store_read(r, e[i].guid, 0, SIZE_MAX, &bufs[i]);
		if (rrc == TJ_ENOTFOUND) {
			st->skipped++; /* expunged (and compacted) before its turn */
			continue;
		}
		if (rrc) {
			st->failed++;
			tj_log(TJ_LOG_WARN, "learn", "event=read_failed error=\"%s\"", tj_strerror(rrc));
			continue;
		}
		items[ni++] = (tj_bayes_item){.msg = bufs[i].data, .len = bufs[i].len, .id = e[i].guid,
					      .cls = (enum tj_bayes_class)e[i].cls};
	}
	tj_rtxn_end(&r);
	if (ni) {
		int brc = tj_bayes_learn_batch(l->b, items, ni);
		size_t spam = 0, ham = 0;
		for (size_t i = 0; i < ni; i++) {
			int irc = brc ? brc : items[i].rc;
			if (irc == 0) {
				st->learned++;
				*(items[i].cls == TJ_BAYES_SPAM ? &spam : &ham) += 1;
			} else if (irc == 1) {
				st->known++;
			} else {
				st->failed++;
			}
		}
		if (brc)
			tj_log(TJ_LOG_WARN, "learn", "event=learn_failed messages=%zu error=\"%s\"", ni,
			       tj_strerror(brc));
		else if (spam || ham)
			tj_log(TJ_LOG_INFO, "learn", "event=learned spam=%zu ham=%zu", spam, ham);
	}
	for (size_t i = 0; i < n; i++)
		tj_buf_free(&bufs[i]);
}

static void *learner_main(void *arg)
{
	tj_learner *l = arg;
	struct entry batch[TJ_LEARNER_BATCH];
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->len && !l->stopping)
			pthread_cond_wait(&l->work, &l->lock);
		if (!l->len && l->stopping)
			break;
		size_t n = 0;
		while (l->len && n < TJ_LEARNER_BATCH) {
			batch[n++] = l->q[l->head];
			l->head = (l->head + 1) % TJ_LEARNER_QUEUE;
			l->len--;
		}
		struct tj_learner_stats st = {0};
		pthread_mutex_unlock(&l->lock);
		learn_batch(l, batch, n, &st);
		pthread_mutex_lock(&l->lock);
		l->stats.learned += st.learned;
		l->stats.known += st.known;
		l->stats.skipped += st.skipped;
		l->stats.failed += st.failed;
		l->finished += n;
		pthread_cond_broadcast(&l->done);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

int tj_learner_start(tj_store *st, tj_bayes *b, tj_learner **l_r)
{
	tj_learner *l = calloc(1, sizeof(*l));
	if (!l || !(l->q = malloc(TJ_LEARNER_QUEUE * sizeof(*l->q)))) {
		free(l);
		return -ENOMEM;
	}
	l->st = st;
	l->b = b;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->work, NULL);
	pthread_cond_init(&l->done, NULL);
	if (pthread_create(&l->thread, NULL, learner_main, l) != 0) {
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->work);
		pthread_cond_destroy(&l->done);
		free(l->q);
		free(l);
		return -EAGAIN;
	}
	*l_r = l;
	return 0;
}

size_t tj_learner_submit(tj_learner *l, const uint8_t (*guids)[TJ_GUID_LEN], size_t n, enum tj_bayes_class cls)
{
	size_t queued = 0;
	pthread_mutex_lock(&l->lock);
	for (; queued < n && l->len < TJ_LEARNER_QUEUE && !l->stopping; queued++) {
		struct entry *e = &l->q[(l->head + l->len) % TJ_LEARNER_QUEUE];
		memcpy(e->guid, guids[queued], TJ_GUID_LEN);
		e->cls = (uint8_t)cls;
		l->len++;
	}
	l->submitted += queued;
	l->stats.queued += queued;
	l->stats.dropped += n - queued;
	if (queued)
		pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->lock);
	if (queued < n)
		tj_log(TJ_LOG_WARN, "learn", "event=queue_full dropped=%zu", n - queued);
	return queued;
}

void tj_learner_wait(tj_learner *l)
{
	pthread_mutex_lock(&l->lock);
	uint64_t target = l->submitted;
	while (l->finished < target)
		pthread_cond_wait(&l->done, &l->lock);
	pthread_mutex_unlock(&l->lock);
}

void tj_learner_stats(tj_learner *l, struct tj_learner_stats *st_r)
{
	pthread_mutex_lock(&l->lock);
	*st_r = l->stats;
	pthread_mutex_unlock(&l->lock);
}

void tj_learner_stop(tj_learner **lp)
{
	tj_learner *l = *lp;
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_signal(&l->work);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->lock);
	pthread_cond_destroy(&l->work);
	pthread_cond_destroy(&l->done);
	free(l->q);
	free(l);
	*lp = NULL;
}

/*
 * imap-notify.c - the process-wide mailbox-change notifier.
 *
 * Sessions register the mailbox they have selected; any writer calls
 * imap_notify_changed() after a commit and every other session watching
 * that mailbox gets its notify_pending flag set and its wakeup callback.
 * The session itself then reads what changed from the store (imap-sync.c):
 * the notifier carries no data, so a missed or merged wakeup loses nothing.
 */
#include "node/imap/imap-private.h"

#include <errno.h>
#include <stdlib.h>

struct imap_notify {
	pthread_mutex_t mu;
	imap_session **watch; /* sessions with a mailbox selected */
	size_t n, cap;
};

int imap_notify_new(imap_notify **n_r)
{
	imap_notify *n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	pthread_mutex_init(&n->mu, NULL);
	*n_r = n;
	return 0;
}

void imap_notify_free(imap_notify **np)
{
	imap_notify *n = np ? *np : NULL;
	if (!n)
		return;
	free(n->watch);
	pthread_mutex_destroy(&n->mu);
	free(n);
	*np = NULL;
}

void imap_notify_changed(imap_notify *n, uint64_t mbox_id, uint64_t modseq, const imap_session *origin)
{
	(void)modseq; /* sessions read the current state themselves */
	pthread_mutex_lock(&n->mu);
	for (size_t i = 0; i < n->n; i++) {
		imap_session *s = n->watch[i];
		if (s == origin || s->watch_mbox != mbox_id)
			continue;
		atomic_store(&s->notify_pending, true);
		if (s->cfg.wakeup)
			s->cfg.wakeup(s->cfg.wakeup_ctx);
	}
	pthread_mutex_unlock(&n->mu);
}

/* imap_watch - watch mbox_id (0: stop watching).  On -ENOMEM the session
 * simply is not notified; it still sees changes at its next command. */
void imap_watch(imap_session *s, uint64_t mbox_id)
{
	imap_notify *n = s->cfg.notify;
	pthread_mutex_lock(&n->mu);
	size_t i;
	for (i = 0; i < n->n && n->watch[i] != s; i++)
		;
	if (mbox_id == 0) {
		if (i < n->n)
			n->watch[i] = n->watch[--n->n];
	} else if (i == n->n) {
		if (n->n == n->cap) {
			size_t cap = n->cap ? n->cap * 2 : 16;
			imap_session **w = realloc(n->watch, cap * sizeof(*w));
			if (w) {
				n->watch = w;
				n->cap = cap;
			}
		}
		if (n->n < n->cap)
			n->watch[n->n++] = s;
	}
	s->watch_mbox = mbox_id;
	pthread_mutex_unlock(&n->mu);
}

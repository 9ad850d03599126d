/*
 * imap-sync.c - keeping a session's view of its selected mailbox in step
 * with the store.
 *
 * A session holds its own UID list (message number i+1 is uids.v[i]) and
 * the HIGHESTMODSEQ it has reported.  Changes by anyone (other sessions,
 * delivery, replication) are found in the store itself: UIDs expunged with
 * a MODSEQ above ours (the QRESYNC tombstones) and messages whose MODSEQ is
 * above ours (new ones and flag changes).  Expunges are applied in UID
 * order, so every session numbers messages consistently with what it told
 * its client; when the running command uses message numbers they are held
 * back (RFC 3501 7.4.1) and reported at the next command that may.
 */
#include "node/imap/imap-private.h"

#include <stdlib.h>
#include <string.h>

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

struct sync_ctx {
	imap_session *s;
	uint32_t last_uid;
	struct imap_uids added, changed;
	int err;
};

static int vanished_fn(void *arg, uint32_t uid, uint64_t modseq)
{
	struct sync_ctx *c = arg;
	(void)modseq;
	if (imap_uids_find(&c->s->uids, uid) >= 0) {
		for (size_t i = 0; i < c->s->gone.n; i++)
			if (c->s->gone.v[i] == uid)
				return 0;
		return imap_uids_add(&c->s->gone, uid);
	}
	return 0;
}

static int changed_fn(void *arg, const tj_msg_info *m)
{
	struct sync_ctx *c = arg;
	if (m->uid > c->last_uid)
		return imap_uids_add(&c->added, m->uid);
	if (imap_uids_find(&c->s->uids, m->uid) >= 0)
		return imap_uids_add(&c->changed, m->uid);
	return 0;
}

void imap_expunged(imap_session *s, const uint32_t *uids, size_t n)
{
	if (n == 0)
		return;
	if (s->qresync) {
		imap_printf(s, "* VANISHED ");
		imap_write_uids(&s->out, uids, n);
		imap_printf(s, "\r\n");
	}
	size_t w = 0, k = 0;
	for (size_t i = 0; i < s->uids.n; i++) {
		uint32_t u = s->uids.v[i];
		while (k < n && uids[k] < u)
			k++;
		if (k < n && uids[k] == u) {
			if (!s->qresync && (tj_buf_append(&s->out, "* ", 2) || imap_put_num(&s->out, w + 1) ||
					    tj_buf_append(&s->out, " EXPUNGE\r\n", 10)))
				s->out_err = true;
			continue;
		}
		s->uids.v[w++] = u;
	}
	s->uids.n = w;
}

/* report_flags - unsolicited FETCH for UIDs whose flags changed */
struct report_ctx {
	imap_session *s;
	const tj_mbox_info *mb;
};

static int report_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct report_ctx *c = arg;
	long idx = imap_uids_find(&c->s->uids, m->uid);
	if (idx >= 0)
		imap_flags_line(c->s, (uint32_t)idx + 1, c->s->qresync, c->mb, m, c->s->condstore);
	return 0;
}

static int report_flags(imap_session *s, tj_rtxn *r, const tj_mbox_info *mb, struct imap_uids *changed)
{
	struct report_ctx c = {s, mb};
	return tj_store_msgs_get(r, s->mbox_id, changed->v, changed->n, report_fn, &c);
}

int imap_sync(imap_session *s, bool allow_expunge)
{
	if (s->state != IMAP_ST_SELECTED)
		return 0;
	tj_rtxn *r;
	tj_mbox_info mb;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc)
		return rc;
	rc = tj_store_mbox_get(r, s->mbox_id, &mb);
	if (rc)
		goto out;
	struct sync_ctx c = {.s = s, .last_uid = s->uids.n ? s->uids.v[s->uids.n - 1] : 0};
	if (mb.highestmodseq > s->modseq) {
		if ((rc = tj_store_vanished_since(r, s->mbox_id, s->modseq, vanished_fn, &c)) ||
		    (rc = tj_store_changed_since(r, s->mbox_id, s->modseq, changed_fn, &c)))
			goto out_c;
		s->modseq = mb.highestmodseq;
	}
	if (allow_expunge && s->gone.n) {
		qsort(s->gone.v, s->gone.n, sizeof(uint32_t), cmp_u32);
		imap_expunged(s, s->gone.v, s->gone.n);
		s->gone.n = 0;
	}
	if (c.added.n) {
		qsort(c.added.v, c.added.n, sizeof(uint32_t), cmp_u32);
		for (size_t i = 0; i < c.added.n && !rc; i++)
			rc = imap_uids_add(&s->uids, c.added.v[i]);
		imap_printf(s, "* %zu EXISTS\r\n", s->uids.n);
	}
	if (c.changed.n) {
		qsort(c.changed.v, c.changed.n, sizeof(uint32_t), cmp_u32);
		rc = report_flags(s, r, &mb, &c.changed);
	}
out_c:
	imap_uids_free(&c.added);
	imap_uids_free(&c.changed);
out:
	tj_rtxn_end(&r);
	return rc;
}

void imap_after_write(imap_session *s, uint64_t mbox_id, uint64_t old_modseq, uint64_t new_modseq)
{
	imap_notify_changed(s->cfg.notify, mbox_id, new_modseq, s);
	if (s->state == IMAP_ST_SELECTED && s->mbox_id == mbox_id && s->modseq == old_modseq)
		s->modseq = new_modseq;
}

void imap_unselect(imap_session *s)
{
	imap_watch(s, 0);
	imap_uids_free(&s->uids);
	imap_uids_free(&s->gone);
	s->mbox_id = 0;
	s->modseq = 0;
	if (s->state == IMAP_ST_SELECTED)
		s->state = IMAP_ST_AUTH;
}

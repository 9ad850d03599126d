/*
 * apply.c - the one function that changes mail state: tj_apply().
 *
 * It runs inside the committer's write transaction.  An unresolved op is
 * resolved first (UIDs, MODSEQs, ids and the exact UID sets are chosen and
 * written back into the op); then the resolved op is applied.  Applying a
 * resolved op reads nothing but the current state, so a replica or a replay
 * of the op log reaches the same state.  Quota is checked only when
 * resolving: the owner decides, replicas follow.
 */
#include "common/err.h"
#include "common/log.h"
#include "store/store-private.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define TJ_NOOP 1 /* internal: the op changed nothing; do not log it */
#define CHANGES_TIDY_MAX 64 /* STOREs naming more UIDs leave stale change-index entries */

/* ---- small state accessors ---- */

static int user_load(tj_wctx *w, uint32_t id, tj_user_info *u, uint32_t *next_r, tj_buf *namecopy)
{
	uint8_t k[4];
	MDB_val v;
	key_u32(k, id);
	int rc = tj_mget(w->txn, w->st->db_users, k, 4, &v);
	if (rc)
		return rc;
	if ((rc = user_rec_get(&v, id, u)))
		return rc;
	if (next_r)
		*next_r = user_rec_next_mbox(&v);
	/* keep the name stable across puts */
	tj_buf_reset(namecopy);
	if ((rc = tj_buf_append(namecopy, u->name.ptr, u->name.len)))
		return rc;
	u->name.ptr = namecopy->data;
	return 0;
}

static int user_save(tj_wctx *w, const tj_user_info *u, uint32_t next)
{
	tj_buf b = TJ_BUF_INIT;
	uint8_t k[4];
	key_u32(k, u->id);
	int rc = user_rec_put(&b, u, next);
	if (!rc)
		rc = tj_mput(w->txn, w->st->db_users, k, 4, b.data, b.len);
	tj_buf_free(&b);
	return rc;
}

/* a mailbox loaded for modification: its record bytes are copied so slices
 * stay valid across puts */
typedef struct mbox_h {
	tj_mbox_info m;
	tj_buf copy;
} mbox_h;

static int mbox_load(tj_wctx *w, uint64_t id, uint32_t user_id, mbox_h *h)
{
	uint8_t k[8];
	MDB_val v;
	key_u64(k, id);
	int rc = tj_mget(w->txn, w->st->db_mbox, k, 8, &v);
	if (rc)
		return rc;
	tj_buf_reset(&h->copy);
	if ((rc = tj_buf_append(&h->copy, v.mv_data, v.mv_size)))
		return rc;
	MDB_val c = {h->copy.len, h->copy.data};
	if ((rc = mbox_rec_get(&c, id, &h->m)))
		return rc;
	if (h->m.user_id != user_id)
		return TJ_ENOTFOUND; /* never touch another user's mailbox */
	return 0;
}

static int mbox_save(tj_wctx *w, const tj_mbox_info *m)
{
	tj_buf b = TJ_BUF_INIT;
	uint8_t k[8];
	key_u64(k, m->id);
	int rc = mbox_rec_put(&b, m);
	if (!rc)
		rc = tj_mput(w->txn, w->st->db_mbox, k, 8, b.data, b.len);
	tj_buf_free(&b);
	return rc;
}

static int name_key(tj_buf *b, uint32_t user_id, const void *name, size_t len)
{
	uint8_t k[4];
	key_u32(k, user_id);
	tj_buf_reset(b);
	int rc = tj_buf_append(b, k, 4);
	return rc ? rc : tj_buf_append(b, name, len);
}

static int is_inbox(tj_slice n)
{
	return n.len == 5 && strncasecmp((const char *)n.ptr, "INBOX", 5) == 0;
}

/* seen_uidvalidity - never issue a UIDVALIDITY at or below one in use
 * (replicated and redone mailboxes included) */
static int seen_uidvalidity(tj_wctx *w, uint32_t v)
{
	MDB_val mv;
	if (tj_mget(w->txn, w->st->db_meta, "uidvalidity", 11, &mv) == 0 && mv.mv_size == 4 && tj_get32(mv.mv_data) >= v)
		return 0;
	uint8_t b[4];
	tj_put32(b, v);
	return tj_mput(w->txn, w->st->db_meta, "uidvalidity", 11, b, 4);
}

static uint32_t new_uidvalidity(tj_wctx *w, uint32_t *v_r)
{
	MDB_val v;
	uint32_t last = 0;
	if (tj_mget(w->txn, w->st->db_meta, "uidvalidity", 11, &v) == 0 && v.mv_size == 4)
		last = tj_get32(v.mv_data);
	uint32_t now = (uint32_t)time(NULL);
	uint32_t next = now > last ? now : last + 1;
	if (next == 0)
		next = 1;
	uint8_t b[4];
	tj_put32(b, next);
	*v_r = next;
	return (uint32_t)tj_mput(w->txn, w->st->db_meta, "uidvalidity", 11, b, 4);
}

/* ---- GUID references ---- */

static int seg_adjust_live(tj_wctx *w, uint32_t seg, int64_t delta)
{
	uint8_t k[4], val[32];
	MDB_val v;
	seg_rec s;
	key_u32(k, seg);
	int rc = tj_mget(w->txn, w->st->db_segs, k, 4, &v);
	if (rc == TJ_ENOTFOUND)
		memset(&s, 0, sizeof(s));
	else if (rc)
		return rc;
	else
		seg_rec_get(&v, &s);
	s.live = (uint64_t)((int64_t)s.live + delta);
	seg_rec_put(val, &s);
	return tj_mput(w->txn, w->st->db_segs, k, 4, val, 32);
}

int tj_guid_ref(tj_wctx *w, const uint8_t guid[TJ_GUID_LEN], const tj_msgrec *msg)
{
	MDB_val v;
	loc_rec l;
	uint8_t val[32];
	int rc = tj_mget(w->txn, w->st->db_guids, guid, TJ_GUID_LEN, &v);
	if (rc == 0) {
		if ((rc = loc_rec_get(&v, &l)))
			return rc;
		l.refs++;
		loc_rec_put(val, &l);
		return tj_mput(w->txn, w->st->db_guids, guid, TJ_GUID_LEN, val, 32);
	}
	if (rc != TJ_ENOTFOUND)
		return rc;
	if (!msg || memcmp(msg->guid, guid, TJ_GUID_LEN) != 0)
		return TJ_ENOTFOUND; /* bytes unknown here and not supplied */
	/* first reference: the record goes into this batch's segment bytes */
	l.seg = w->seg;
	l.off = w->base_off + w->wbuf->len;
	l.stored_len = (uint32_t)msg->rec.len;
	l.raw_len = msg->raw_size;
	l.refs = 1;
	l.dict_id = msg->rec.len >= TJ_REC_HDR ? tj_get32(msg->rec.data + 8) : 0;
	if ((rc = tj_buf_append(w->wbuf, msg->rec.data, msg->rec.len)))
		return rc;
	loc_rec_put(val, &l);
	if ((rc = tj_mput(w->txn, w->st->db_guids, guid, TJ_GUID_LEN, val, 32)))
		return rc;
	uint8_t sk[12];
	key_segoff(sk, l.seg, l.off);
	if ((rc = tj_mput(w->txn, w->st->db_seglive, sk, 12, guid, TJ_GUID_LEN)))
		return rc;
	if (msg->cache.len && (rc = tj_mput(w->txn, w->st->db_cache, guid, TJ_GUID_LEN, msg->cache.data, msg->cache.len)))
		return rc;
	return seg_adjust_live(w, l.seg, l.stored_len);
}

int tj_guid_unref(tj_wctx *w, const uint8_t guid[TJ_GUID_LEN])
{
	MDB_val v;
	loc_rec l;
	uint8_t val[32];
	int rc = tj_mget(w->txn, w->st->db_guids, guid, TJ_GUID_LEN, &v);
	if (rc)
		return rc == TJ_ENOTFOUND ? TJ_ESTATE : rc;
	if ((rc = loc_rec_get(&v, &l)))
		return rc;
	if (l.refs > 1) {
		l.refs--;
		loc_rec_put(val, &l);
		return tj_mput(w->txn, w->st->db_guids, guid, TJ_GUID_LEN, val, 32);
	}
	/* last reference: the record's bytes become dead */
	if ((rc = tj_mdel(w->txn, w->st->db_guids, guid, TJ_GUID_LEN)))
		return rc;
	rc = tj_mdel(w->txn, w->st->db_cache, guid, TJ_GUID_LEN);
	if (rc && rc != TJ_ENOTFOUND)
		return rc;
	uint8_t sk[12];
	key_segoff(sk, l.seg, l.off);
	rc = tj_mdel(w->txn, w->st->db_seglive, sk, 12);
	if (rc && rc != TJ_ENOTFOUND)
		return rc;
	return seg_adjust_live(w, l.seg, -(int64_t)l.stored_len);
}

/* ---- keywords: names in ops, bits in message records ---- */

static int kw_index(const tj_mbox_info *m, tj_slice name)
{
	for (uint32_t i = 0; i < m->nkeywords; i++)
		if (m->keywords[i].len == name.len && strncasecmp((const char *)m->keywords[i].ptr,
								  (const char *)name.ptr, name.len) == 0)
			return (int)i;
	return -1;
}

/* kw_bits - map names to bits, adding unknown names to the mailbox when add
 * is set (names past the mailbox's 64 are refused with TJ_ETOOBIG). */
static int kw_bits(tj_mbox_info *m, const tj_slice *names, uint32_t n, int add, uint64_t *bits_r)
{
	uint64_t bits = 0;
	for (uint32_t i = 0; i < n; i++) {
		int idx = kw_index(m, names[i]);
		if (idx < 0 && add) {
			if (m->nkeywords >= TJ_OP_MAX_KEYWORDS || names[i].len == 0 || names[i].len > 255)
				return TJ_ETOOBIG;
			idx = (int)m->nkeywords;
			m->keywords[m->nkeywords++] = names[i];
		}
		if (idx >= 0)
			bits |= 1ULL << idx;
	}
	*bits_r = bits;
	return 0;
}

/* ---- per-message helpers ---- */

static void count_add(tj_mbox_info *m, const tj_msg_info *msg, int sign)
{
	m->messages += (uint32_t)sign;
	m->bytes += (uint64_t)((int64_t)sign * msg->raw_size);
	if (!(msg->sys_flags & TJ_F_SEEN))
		m->unseen += (uint32_t)sign;
	if (msg->sys_flags & TJ_F_DELETED)
		m->deleted += (uint32_t)sign;
}

static int msg_put(tj_wctx *w, uint64_t mbox, const tj_msg_info *m)
{
	uint8_t k[12], v[48], ck[20];
	key_msg(k, mbox, m->uid);
	msg_rec_put(v, m);
	int rc = tj_mput(w->txn, w->st->db_msgs, k, 12, v, 48);
	if (rc)
		return rc;
	key_mod(ck, mbox, m->modseq, m->uid);
	return tj_mput(w->txn, w->st->db_changes, ck, 20, "", 0);
}

/* ---- the change index (CONDSTORE): see store-private.h ----
 *
 * An entry (mbox, MODSEQ, uid) names the UIDs an op gave that MODSEQ: the
 * key's UID alone (empty value), or ranges.  A message's entry goes stale
 * when the message changes again or goes; stale entries are skipped by
 * readers (the message's own MODSEQ decides), single-UID ones are deleted
 * where that is cheap (small STOREs, EXPUNGE, MOVE), and tj_store_compact
 * tidies the rest. */

/* changes_put - the entry of an op that gave MODSEQ modseq to ranges (sorted, non-empty) */
static int changes_put(tj_wctx *w, uint64_t mbox, uint64_t modseq, const tj_range *r, uint32_t n)
{
	uint8_t ck[20];
	key_mod(ck, mbox, modseq, r[0].lo);
	if (n == 1 && r[0].lo == r[0].hi)
		return tj_mput(w->txn, w->st->db_changes, ck, 20, "", 0);
	uint8_t *v = malloc((size_t)n * 8);
	if (!v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		tj_put32(v + 8 * i, r[i].lo);
		tj_put32(v + 8 * i + 4, r[i].hi);
	}
	int rc = tj_mput(w->txn, w->st->db_changes, ck, 20, v, (size_t)n * 8);
	free(v);
	return rc;
}

/* changes_drop - delete the entry (mbox, modseq, uid) if it names that UID
 * alone; an entry naming several stays (stale for this one).  cc remembers
 * where the last one was: a run of deletions in key order finds each next
 * entry under the cursor instead of seeking. */
static int changes_drop(MDB_cursor *cc, uint64_t mbox, uint64_t modseq, uint32_t uid)
{
	uint8_t ck[20];
	key_mod(ck, mbox, modseq, uid);
	MDB_val k, v;
	int mrc = mdb_cursor_get(cc, &k, &v, MDB_GET_CURRENT);
	if (mrc || k.mv_size != 20 || memcmp(k.mv_data, ck, 20) != 0) {
		k = (MDB_val){20, ck};
		mrc = mdb_cursor_get(cc, &k, &v, MDB_SET_KEY);
		if (mrc == MDB_NOTFOUND)
			return 0;
		if (mrc)
			return tj_from_mdb(mrc);
	}
	return v.mv_size ? 0 : tj_from_mdb(mdb_cursor_del(cc, 0));
}

static int changes_drop_one(tj_wctx *w, uint64_t mbox, uint64_t modseq, uint32_t uid)
{
	MDB_cursor *cc;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_changes, &cc));
	if (rc)
		return rc;
	rc = changes_drop(cc, mbox, modseq, uid);
	mdb_cursor_close(cc);
	return rc;
}

static int msg_del(tj_wctx *w, uint64_t mbox, const tj_msg_info *m, uint64_t tomb_modseq)
{
	uint8_t k[12], ck[20];
	key_msg(k, mbox, m->uid);
	int rc = tj_mdel(w->txn, w->st->db_msgs, k, 12);
	if (rc)
		return rc;
	if ((rc = changes_drop_one(w, mbox, m->modseq, m->uid)))
		return rc;
	if (tomb_modseq) {
		key_mod(ck, mbox, tomb_modseq, m->uid);
		return tj_mput(w->txn, w->st->db_expunged, ck, 20, "", 0);
	}
	return 0;
}

/* collect the UIDs of existing messages within ranges, as exact ranges */
typedef struct uidlist {
	tj_range *r;
	uint32_t n, cap;
} uidlist;

static int uidlist_add(uidlist *l, uint32_t uid)
{
	if (l->n && l->r[l->n - 1].hi + 1 == uid) {
		l->r[l->n - 1].hi = uid;
		return 0;
	}
	if (l->n >= TJ_OP_MAX_RANGES)
		return TJ_ETOOBIG;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 16;
		tj_range *r = realloc(l->r, sizeof(*r) * cap);
		if (!r)
			return -ENOMEM;
		l->r = r;
		l->cap = cap;
	}
	l->r[l->n++] = (tj_range){uid, uid};
	return 0;
}

typedef int msg_visit_fn(tj_wctx *w, void *arg, tj_msg_info *m);

/* visit existing messages of mbox within ranges, in UID order.  The visitor
 * may modify or delete the current message (the cursor is re-seeked). */
static int visit_ranges(tj_wctx *w, uint64_t mbox, const tj_range *ranges, uint32_t n, msg_visit_fn *fn, void *arg)
{
	MDB_cursor *c;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_msgs, &c));
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n && !rc; i++) {
		uint32_t uid = ranges[i].lo;
		for (;;) {
			uint8_t k[12];
			key_msg(k, mbox, uid);
			MDB_val key = {12, k}, v;
			int mrc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
			if (mrc == MDB_NOTFOUND)
				break;
			if (mrc) {
				rc = tj_from_mdb(mrc);
				break;
			}
			if (key.mv_size != 12 || tj_get64be(key.mv_data) != mbox)
				break;
			uint32_t got = tj_get32be((uint8_t *)key.mv_data + 8);
			if (got > ranges[i].hi)
				break;
			tj_msg_info m;
			if ((rc = msg_rec_get(&v, got, &m)))
				break;
			if ((rc = fn(w, arg, &m)))
				break;
			if (got == UINT32_MAX)
				break;
			uid = got + 1;
		}
	}
	mdb_cursor_close(c);
	return rc;
}

static int cmp_range(const void *a, const void *b)
{
	const tj_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* ranges_normalize - sort by start and merge overlapping or adjacent
 * ranges, in place */
static void ranges_normalize(tj_range *r, uint32_t *n)
{
	uint32_t k = 0;
	bool sorted = true;
	for (uint32_t i = 1; i < *n && sorted; i++)
		sorted = r[i - 1].hi < r[i].lo;
	if (sorted)
		return;
	qsort(r, *n, sizeof(*r), cmp_range);
	for (uint32_t i = 0; i < *n; i++) {
		if (k && (r[i].lo <= r[k - 1].hi || r[i].lo - 1 == r[k - 1].hi)) {
			if (r[i].hi > r[k - 1].hi)
				r[k - 1].hi = r[i].hi;
		} else {
			r[k++] = r[i];
		}
	}
	*n = k;
}

typedef int msg_walk_fn(tj_wctx *w, void *arg, MDB_cursor *c, tj_msg_info *m);

/* walk_ranges - visit existing messages of mbox within ranges (sorted,
 * disjoint), in UID order, with one cursor on msgs: it steps (MDB_NEXT)
 * through a range and from one range to the next when the gap is short,
 * and seeks (MDB_SET_RANGE) only across long gaps.  The visitor gets the
 * cursor at the message and may overwrite the record in place
 * (mdb_cursor_put MDB_CURRENT, same size) or delete it (mdb_cursor_del);
 * it must not change msgs in any other way. */
static int walk_ranges(tj_wctx *w, uint64_t mbox, const tj_range *ranges, uint32_t n, msg_walk_fn *fn, void *arg)
{
	enum { MAX_STEPS = 8 };
	MDB_cursor *c;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_msgs, &c));
	if (rc)
		return rc;
	uint8_t kb[12];
	MDB_val k = {0, NULL}, v;
	bool started = false, at_end = false; /* at_end: no message of mbox past the cursor */
	for (uint32_t i = 0; i < n && !rc; i++) {
		/* the cursor is past the previous range: it may go on from there
		 * when this range starts after that one (an unresolved op's ranges
		 * may be unsorted), else it seeks */
		bool ahead = started && (i == 0 || ranges[i].lo > ranges[i - 1].hi);
		if (ahead && at_end)
			continue;
		int mrc = 0;
		unsigned steps = 0;
		while (ahead && tj_get32be((const uint8_t *)k.mv_data + 8) < ranges[i].lo) {
			if (++steps > MAX_STEPS) {
				ahead = false;
				break;
			}
			mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			if (mrc || k.mv_size != 12 || tj_get64be(k.mv_data) != mbox)
				break;
		}
		if (!ahead) {
			key_msg(kb, mbox, ranges[i].lo);
			k = (MDB_val){12, kb};
			mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			started = true;
		}
		for (; mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 12 || tj_get64be(k.mv_data) != mbox) {
				mrc = MDB_NOTFOUND; /* past the mailbox */
				break;
			}
			uint32_t uid = tj_get32be((const uint8_t *)k.mv_data + 8);
			if (uid > ranges[i].hi)
				break;
			tj_msg_info m;
			if ((rc = msg_rec_get(&v, uid, &m)) || (rc = fn(w, arg, c, &m)))
				break;
		}
		at_end = mrc == MDB_NOTFOUND;
		if (!rc && mrc && !at_end)
			rc = tj_from_mdb(mrc);
	}
	mdb_cursor_close(c);
	return rc;
}

static int collect_wfn(tj_wctx *w, void *arg, MDB_cursor *c, tj_msg_info *m)
{
	return uidlist_add(arg, m->uid);
}

/* msg_rewrite - overwrite the message record at the cursor (same key) */
static int msg_rewrite(MDB_cursor *c, uint64_t mbox, const tj_msg_info *m)
{
	uint8_t k[12], v[48];
	key_msg(k, mbox, m->uid);
	msg_rec_put(v, m);
	MDB_val key = {12, k}, val = {48, v};
	return tj_from_mdb(mdb_cursor_put(c, &key, &val, MDB_CURRENT));
}

/* resolve_ranges - replace op->ranges by the exact UIDs that exist */
static int resolve_ranges(tj_wctx *w, tj_op *op, uint64_t mbox)
{
	uidlist l = {0};
	int rc = walk_ranges(w, mbox, op->ranges, op->nranges, collect_wfn, &l);
	if (!rc)
		rc = tj_op_set_ranges(op, l.r, l.n);
	free(l.r);
	return rc;
}

/* ---- op handlers ---- */

static int apply_user_put(tj_wctx *w, tj_op *op)
{
	char name[TJ_OP_MAX_NAME + 1];
	if (op->name.len == 0 || op->name.len > 255 || tj_store_valid_user_name((const char *)op->name.ptr, op->name.len))
		return TJ_EINVAL;
	for (size_t i = 0; i < op->name.len; i++)
		name[i] = (char)((op->name.ptr[i] >= 'A' && op->name.ptr[i] <= 'Z') ? op->name.ptr[i] + 32 : op->name.ptr[i]);
	name[op->name.len] = 0;
	uint32_t id = tj_store_user_id(name);
	if ((op->flags & TJ_OPF_RESOLVED) && op->user_id != id)
		return TJ_EPROTO;
	op->user_id = id;
	if (op->user_state > TJ_USER_DISABLED || op->user_source > TJ_SOURCE_OVERRIDE)
		return TJ_EINVAL;
	tj_user_info u;
	tj_buf nc = TJ_BUF_INIT;
	uint32_t next = 1;
	int rc = user_load(w, id, &u, &next, &nc);
	if (rc == 0) {
		if (u.name.len != op->name.len || memcmp(u.name.ptr, name, u.name.len) != 0)
			rc = TJ_ECOLLIDE; /* a different name hashes to the same id */
	} else if (rc == TJ_ENOTFOUND) {
		memset(&u, 0, sizeof(u));
		u.id = id;
		u.name.ptr = (const uint8_t *)name;
		u.name.len = op->name.len;
		rc = 0;
	}
	if (!rc) {
		u.quota_bytes = op->quota_bytes;
		u.quota_msgs = op->quota_msgs;
		u.state = op->user_state;
		u.source = op->user_source;
		u.quota_base = op->quota_base;
		rc = user_save(w, &u, next);
	}
	tj_buf_free(&nc);
	return rc;
}

static int apply_mbox_create(tj_wctx *w, tj_op *op)
{
	if (tj_store_valid_mbox_name((const char *)op->name.ptr, op->name.len))
		return TJ_EINVAL;
	tj_user_info u;
	tj_buf nc = TJ_BUF_INIT, key = TJ_BUF_INIT;
	uint32_t next;
	int rc = user_load(w, op->user_id, &u, &next, &nc);
	MDB_val v;
	if (!rc)
		rc = name_key(&key, op->user_id, op->name.ptr, op->name.len);
	if (!rc) {
		rc = tj_mget(w->txn, w->st->db_mboxname, key.data, key.len, &v);
		rc = rc == 0 ? TJ_EEXIST : rc == TJ_ENOTFOUND ? 0 : rc;
	}
	if (!rc && !(op->flags & TJ_OPF_RESOLVED)) {
		op->mbox_id = ((uint64_t)op->user_id << 32) | next;
		rc = (int)new_uidvalidity(w, &op->uidvalidity);
	}
	if (!rc && ((op->mbox_id >> 32) != op->user_id || (uint32_t)op->mbox_id == 0 || op->uidvalidity == 0))
		rc = TJ_EPROTO;
	if (!rc && (op->flags & TJ_OPF_RESOLVED))
		rc = seen_uidvalidity(w, op->uidvalidity);
	if (!rc) {
		uint8_t k[8];
		key_u64(k, op->mbox_id);
		rc = tj_mget(w->txn, w->st->db_mbox, k, 8, &v);
		rc = rc == 0 ? TJ_EEXIST : rc == TJ_ENOTFOUND ? 0 : rc;
	}
	if (!rc) {
		tj_mbox_info m;
		memset(&m, 0, sizeof(m));
		m.id = op->mbox_id;
		m.user_id = op->user_id;
		m.uidvalidity = op->uidvalidity;
		m.uidnext = 1;
		m.highestmodseq = 1;
		m.special_use = op->special_use;
		m.name = op->name;
		rc = mbox_save(w, &m);
	}
	if (!rc) {
		uint8_t idb[8];
		key_u64(idb, op->mbox_id);
		rc = tj_mput(w->txn, w->st->db_mboxname, key.data, key.len, idb, 8);
	}
	uint32_t n = (uint32_t)op->mbox_id;
	if (!rc && n >= next)
		rc = user_save(w, &u, n + 1);
	tj_buf_free(&nc);
	tj_buf_free(&key);
	return rc;
}

/* move every message of mailbox `from` into mailbox `to` keeping UIDs
 * (RENAME INBOX), leaving tombstones in `from` at modseq */
static int move_all(tj_wctx *w, tj_mbox_info *from, tj_mbox_info *to, uint64_t modseq)
{
	tj_range all = {1, UINT32_MAX};
	uidlist l = {0};
	int rc = walk_ranges(w, from->id, &all, 1, collect_wfn, &l);
	for (uint32_t i = 0; !rc && i < l.n; i++) {
		for (uint64_t uid = l.r[i].lo; !rc && uid <= l.r[i].hi; uid++) {
			uint8_t k[12];
			MDB_val v;
			tj_msg_info m;
			key_msg(k, from->id, (uint32_t)uid);
			if ((rc = tj_mget(w->txn, w->st->db_msgs, k, 12, &v)) || (rc = msg_rec_get(&v, (uint32_t)uid, &m)))
				break;
			if ((rc = msg_del(w, from->id, &m, modseq)))
				break;
			count_add(from, &m, -1);
			count_add(to, &m, 1);
			if ((rc = msg_put(w, to->id, &m)))
				break;
			if (m.modseq > to->highestmodseq)
				to->highestmodseq = m.modseq;
		}
	}
	free(l.r);
	return rc;
}

static int apply_mbox_rename(tj_wctx *w, tj_op *op)
{
	if (tj_store_valid_mbox_name((const char *)op->name.ptr, op->name.len) || is_inbox(op->name))
		return TJ_EINVAL;
	mbox_h h = {0};
	tj_buf key = TJ_BUF_INIT, key2 = TJ_BUF_INIT, nc = TJ_BUF_INIT, newname = TJ_BUF_INIT;
	MDB_val v;
	int rc = mbox_load(w, op->mbox_id, op->user_id, &h);
	if (!rc)
		rc = name_key(&key, op->user_id, op->name.ptr, op->name.len);
	if (!rc) {
		rc = tj_mget(w->txn, w->st->db_mboxname, key.data, key.len, &v);
		rc = rc == 0 ? TJ_EEXIST : rc == TJ_ENOTFOUND ? 0 : rc;
	}
	if (rc)
		goto out;
	if (is_inbox(h.m.name)) {
		/* RENAME INBOX: a new mailbox takes INBOX's messages; INBOX stays, empty */
		tj_user_info u;
		uint32_t next;
		if ((rc = user_load(w, op->user_id, &u, &next, &nc)))
			goto out;
		if (!(op->flags & TJ_OPF_RESOLVED)) {
			op->mbox_id2 = ((uint64_t)op->user_id << 32) | next;
			op->modseq = h.m.highestmodseq + 1;
			if ((rc = (int)new_uidvalidity(w, &op->uidvalidity)))
				goto out;
		}
		if ((op->mbox_id2 >> 32) != op->user_id || (uint32_t)op->mbox_id2 == 0) {
			rc = TJ_EPROTO;
			goto out;
		}
		if ((op->flags & TJ_OPF_RESOLVED) && (rc = seen_uidvalidity(w, op->uidvalidity)))
			goto out;
		tj_mbox_info nm;
		memset(&nm, 0, sizeof(nm));
		nm.id = op->mbox_id2;
		nm.user_id = op->user_id;
		nm.uidvalidity = op->uidvalidity;
		nm.uidnext = h.m.uidnext;
		nm.highestmodseq = 1;
		nm.name = op->name;
		nm.nkeywords = h.m.nkeywords;
		memcpy(nm.keywords, h.m.keywords, sizeof(nm.keywords));
		if ((rc = move_all(w, &h.m, &nm, op->modseq)))
			goto out;
		if (op->modseq > h.m.highestmodseq)
			h.m.highestmodseq = op->modseq;
		uint8_t idb[8];
		key_u64(idb, nm.id);
		if ((rc = mbox_save(w, &nm)) || (rc = mbox_save(w, &h.m)) ||
		    (rc = tj_mput(w->txn, w->st->db_mboxname, key.data, key.len, idb, 8)))
			goto out;
		if ((uint32_t)nm.id >= next)
			rc = user_save(w, &u, (uint32_t)nm.id + 1);
		goto out;
	}
	/* ordinary rename: the mailbox and every mailbox below it */
	tj_slice old = h.m.name;
	tj_buf oldname = TJ_BUF_INIT;
	if ((rc = tj_buf_append(&oldname, old.ptr, old.len)))
		goto out;
	/* refuse renaming a mailbox below itself */
	if (op->name.len > oldname.len && memcmp(op->name.ptr, oldname.data, oldname.len) == 0 &&
	    op->name.ptr[oldname.len] == '/') {
		tj_buf_free(&oldname);
		rc = TJ_EINVAL;
		goto out;
	}
	/* collect the ids first: we rewrite the name index while walking it */
	uint64_t *ids = NULL;
	size_t nids = 0, cap = 0;
	MDB_cursor *c;
	if ((rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_mboxname, &c)))) {
		tj_buf_free(&oldname);
		goto out;
	}
	if (!(rc = name_key(&key2, op->user_id, oldname.data, oldname.len)) && !(rc = tj_buf_putc(&key2, '/'))) {
		MDB_val k = {key2.len, key2.data}, val;
		int mrc = mdb_cursor_get(c, &k, &val, MDB_SET_RANGE);
		while (mrc == 0 && k.mv_size >= key2.len && memcmp(k.mv_data, key2.data, key2.len) == 0) {
			if (nids == cap) {
				cap = cap ? cap * 2 : 16;
				uint64_t *n2 = realloc(ids, cap * sizeof(*ids));
				if (!n2) {
					rc = -ENOMEM;
					break;
				}
				ids = n2;
			}
			ids[nids++] = tj_get64be(val.mv_data);
			mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT);
		}
		if (!rc && mrc && mrc != MDB_NOTFOUND)
			rc = tj_from_mdb(mrc);
	}
	mdb_cursor_close(c);
	for (size_t i = 0; !rc && i <= nids; i++) {
		mbox_h ch = {0};
		uint64_t id = i < nids ? ids[i] : op->mbox_id;
		if ((rc = mbox_load(w, id, op->user_id, &ch)) == 0) {
			tj_buf_reset(&newname);
			if (!(rc = tj_buf_append(&newname, op->name.ptr, op->name.len)))
				rc = tj_buf_append(&newname, ch.m.name.ptr + oldname.len, ch.m.name.len - oldname.len);
			if (!rc && (rc = name_key(&key2, op->user_id, ch.m.name.ptr, ch.m.name.len)) == 0)
				rc = tj_mdel(w->txn, w->st->db_mboxname, key2.data, key2.len);
			if (!rc && (rc = name_key(&key2, op->user_id, newname.data, newname.len)) == 0) {
				rc = tj_mget(w->txn, w->st->db_mboxname, key2.data, key2.len, &v);
				rc = rc == 0 ? TJ_EEXIST : rc == TJ_ENOTFOUND ? 0 : rc;
			}
			if (!rc) {
				uint8_t idb[8];
				key_u64(idb, id);
				rc = tj_mput(w->txn, w->st->db_mboxname, key2.data, key2.len, idb, 8);
			}
			if (!rc) {
				ch.m.name.ptr = newname.data;
				ch.m.name.len = newname.len;
				rc = mbox_save(w, &ch.m);
			}
		}
		tj_buf_free(&ch.copy);
	}
	free(ids);
	tj_buf_free(&oldname);
out:
	tj_buf_free(&h.copy);
	tj_buf_free(&key);
	tj_buf_free(&key2);
	tj_buf_free(&nc);
	tj_buf_free(&newname);
	return rc;
}

/* drop_mbox_keys - delete every key of dbi (mailbox id, MODSEQ, UID) of mailbox mbox */
static int drop_mbox_keys(tj_wctx *w, MDB_dbi dbi, uint64_t mbox)
{
	MDB_cursor *c;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, dbi, &c));
	if (rc)
		return rc;
	uint8_t k[8];
	key_u64(k, mbox);
	MDB_val key = {8, k}, v;
	int mrc = mdb_cursor_get(c, &key, &v, MDB_SET_RANGE);
	while (mrc == 0 && key.mv_size == 20 && tj_get64be(key.mv_data) == mbox) {
		if ((mrc = mdb_cursor_del(c, 0)))
			break;
		mrc = mdb_cursor_get(c, &key, &v, MDB_GET_CURRENT);
	}
	if (mrc && mrc != MDB_NOTFOUND && mrc != EINVAL)
		rc = tj_from_mdb(mrc);
	mdb_cursor_close(c);
	return rc;
}

static int apply_mbox_delete(tj_wctx *w, tj_op *op)
{
	mbox_h h = {0};
	tj_buf nc = TJ_BUF_INIT, key = TJ_BUF_INIT;
	tj_user_info u;
	uint32_t next;
	int rc = mbox_load(w, op->mbox_id, op->user_id, &h);
	if (!rc && is_inbox(h.m.name))
		rc = TJ_EINVAL;
	if (!rc)
		rc = user_load(w, op->user_id, &u, &next, &nc);
	/* every message: unreference, remove */
	tj_range all = {1, UINT32_MAX};
	uidlist l = {0};
	if (!rc)
		rc = walk_ranges(w, op->mbox_id, &all, 1, collect_wfn, &l);
	for (uint32_t i = 0; !rc && i < l.n; i++) {
		for (uint64_t uid = l.r[i].lo; !rc && uid <= l.r[i].hi; uid++) {
			uint8_t k[12];
			MDB_val v;
			tj_msg_info m;
			key_msg(k, op->mbox_id, (uint32_t)uid);
			if ((rc = tj_mget(w->txn, w->st->db_msgs, k, 12, &v)) || (rc = msg_rec_get(&v, (uint32_t)uid, &m)))
				break;
			if ((rc = msg_del(w, op->mbox_id, &m, 0)) || (rc = tj_guid_unref(w, m.guid)))
				break;
			u.used_bytes -= m.raw_size < u.used_bytes ? m.raw_size : u.used_bytes;
			u.used_msgs -= u.used_msgs ? 1 : 0;
		}
	}
	free(l.r);
	/* tombstones and change-index entries of this mailbox go with it */
	if (!rc)
		rc = drop_mbox_keys(w, w->st->db_expunged, op->mbox_id);
	if (!rc)
		rc = drop_mbox_keys(w, w->st->db_changes, op->mbox_id);
	if (!rc && !(rc = name_key(&key, op->user_id, h.m.name.ptr, h.m.name.len)))
		rc = tj_mdel(w->txn, w->st->db_mboxname, key.data, key.len);
	if (!rc) {
		uint8_t k[8];
		key_u64(k, op->mbox_id);
		rc = tj_mdel(w->txn, w->st->db_mbox, k, 8);
	}
	if (!rc)
		rc = user_save(w, &u, next);
	tj_buf_free(&h.copy);
	tj_buf_free(&nc);
	tj_buf_free(&key);
	return rc;
}

static int apply_subscribe(tj_wctx *w, tj_op *op)
{
	if (tj_store_valid_mbox_name((const char *)op->name.ptr, op->name.len) || op->mode > 1)
		return TJ_EINVAL;
	tj_buf key = TJ_BUF_INIT;
	MDB_val v;
	uint8_t k[4];
	key_u32(k, op->user_id);
	int rc = tj_mget(w->txn, w->st->db_users, k, 4, &v);
	if (!rc)
		rc = name_key(&key, op->user_id, op->name.ptr, op->name.len);
	if (!rc) {
		if (op->mode)
			rc = tj_mput(w->txn, w->st->db_subs, key.data, key.len, "", 0);
		else {
			rc = tj_mdel(w->txn, w->st->db_subs, key.data, key.len);
			if (rc == TJ_ENOTFOUND)
				rc = 0;
		}
	}
	tj_buf_free(&key);
	return rc;
}

static int quota_check(const tj_user_info *u, uint64_t add_bytes, uint64_t add_msgs)
{
	if (u->quota_bytes && u->used_bytes + add_bytes > u->quota_bytes)
		return TJ_EQUOTA;
	if (u->quota_msgs && (uint64_t)u->used_msgs + add_msgs > u->quota_msgs)
		return TJ_EQUOTA;
	return 0;
}

/* load_box_user - the op's mailbox (checked to be the user's) and its user */
static int load_box_user(tj_wctx *w, const tj_op *op, mbox_h *h, tj_user_info *u, uint32_t *next_r, tj_buf *nc)
{
	int rc = mbox_load(w, op->mbox_id, op->user_id, h);
	return rc ? rc : user_load(w, op->user_id, u, next_r, nc);
}

static int apply_append(tj_wctx *w, tj_op *op, const tj_msgrec *msg)
{
	mbox_h h = {0};
	tj_buf nc = TJ_BUF_INIT;
	tj_user_info u;
	uint32_t next;
	int rc = load_box_user(w, op, &h, &u, &next, &nc);
	if (rc)
		goto out;
	if (op->sys_flags & ~(uint32_t)TJ_F_ALL) {
		rc = TJ_EINVAL;
		goto out;
	}
	if (!(op->flags & TJ_OPF_RESOLVED)) {
		if (msg)
			op->raw_size = msg->raw_size;
		if (h.m.uidnext == 0 || h.m.uidnext == UINT32_MAX) {
			rc = TJ_ETOOBIG; /* UID space exhausted: the mailbox must be recreated */
			goto out;
		}
		op->uid = h.m.uidnext;
		op->modseq = h.m.highestmodseq + 1;
		if ((rc = quota_check(&u, op->raw_size, 1)))
			goto out;
	}
	if (op->uid == 0 || op->modseq == 0) {
		rc = TJ_EPROTO;
		goto out;
	}
	uint8_t k[12];
	MDB_val v;
	key_msg(k, op->mbox_id, op->uid);
	rc = tj_mget(w->txn, w->st->db_msgs, k, 12, &v);
	if (rc != TJ_ENOTFOUND) {
		rc = rc ? rc : TJ_ESTATE; /* the UID is taken: state diverged */
		goto out;
	}
	tj_msg_info m = {.uid = op->uid, .modseq = op->modseq, .internal_date = op->internal_date,
			 .raw_size = op->raw_size, .sys_flags = op->sys_flags};
	memcpy(m.guid, op->guid, TJ_GUID_LEN);
	if ((rc = kw_bits(&h.m, op->keywords, op->nkeywords, 1, &m.keywords)))
		goto out;
	if ((rc = tj_guid_ref(w, op->guid, msg)) || (rc = msg_put(w, op->mbox_id, &m)))
		goto out;
	count_add(&h.m, &m, 1);
	if (op->uid >= h.m.uidnext)
		h.m.uidnext = op->uid + 1;
	if (op->modseq > h.m.highestmodseq)
		h.m.highestmodseq = op->modseq;
	u.used_bytes += m.raw_size;
	u.used_msgs++;
	if (!(rc = mbox_save(w, &h.m)))
		rc = user_save(w, &u, next);
out:
	tj_buf_free(&h.copy);
	tj_buf_free(&nc);
	return rc;
}

struct store_ctx {
	tj_op *op;
	tj_mbox_info *mb;
	uint64_t kw_bits;
	uidlist changed;
	int resolving;
	MDB_cursor *cc; /* on changes */
};

static int store_fn(tj_wctx *w, void *arg, MDB_cursor *c, tj_msg_info *m)
{
	struct store_ctx *s = arg;
	tj_op *op = s->op;
	if (s->resolving && op->unchangedsince && m->modseq > op->unchangedsince)
		return 0; /* CONDSTORE: changed since the client looked; leave it */
	uint32_t flags = m->sys_flags;
	uint64_t kws = m->keywords;
	switch (op->mode) {
	case TJ_FLAGS_SET:
		flags = op->sys_flags;
		kws = s->kw_bits;
		break;
	case TJ_FLAGS_ADD:
		flags |= op->sys_flags;
		kws |= s->kw_bits;
		break;
	case TJ_FLAGS_REMOVE:
		flags &= ~op->sys_flags;
		kws &= ~s->kw_bits;
		break;
	}
	if (flags == m->sys_flags && kws == m->keywords)
		return 0; /* nothing changes: no new MODSEQ */
	/* what changed: the resolved op's ranges and the change-index entry */
	int rc = uidlist_add(&s->changed, m->uid);
	if (!rc && s->cc)
		rc = changes_drop(s->cc, op->mbox_id, m->modseq, m->uid);
	if (rc)
		return rc;
	count_add(s->mb, m, -1);
	m->sys_flags = flags;
	m->keywords = kws;
	m->modseq = op->modseq;
	count_add(s->mb, m, 1);
	return msg_rewrite(c, op->mbox_id, m);
}

static int apply_store(tj_wctx *w, tj_op *op)
{
	mbox_h h = {0};
	struct store_ctx s = {.op = op};
	int rc = mbox_load(w, op->mbox_id, op->user_id, &h);
	if (rc)
		goto out;
	if (op->mode > TJ_FLAGS_REMOVE || (op->sys_flags & ~(uint32_t)TJ_F_ALL)) {
		rc = TJ_EINVAL;
		goto out;
	}
	s.mb = &h.m;
	if ((rc = kw_bits(&h.m, op->keywords, op->nkeywords, op->mode != TJ_FLAGS_REMOVE, &s.kw_bits)))
		goto out;
	/* a small STORE deletes the entries it makes stale; a big one leaves
	 * them (deleting a run of B-tree keys costs more than the whole STORE) */
	if (tj_ranges_count(op->ranges, op->nranges) <= CHANGES_TIDY_MAX &&
	    (rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_changes, &s.cc))))
		goto out;
	if (!(op->flags & TJ_OPF_RESOLVED)) {
		/* one pass in UID order: apply with the next MODSEQ, recording the
		 * UIDs that changed; they become the resolved op's ranges */
		if (op->nranges > 1) {
			tj_range *r = malloc(op->nranges * sizeof(*r));
			uint32_t n = op->nranges;
			if (!r) {
				rc = -ENOMEM;
				goto out;
			}
			memcpy(r, op->ranges, n * sizeof(*r));
			ranges_normalize(r, &n);
			rc = tj_op_set_ranges(op, r, n);
			free(r);
			if (rc)
				goto out;
		}
		op->modseq = h.m.highestmodseq + 1;
		s.resolving = 1;
		rc = walk_ranges(w, op->mbox_id, op->ranges, op->nranges, store_fn, &s);
		if (!rc)
			rc = tj_op_set_ranges(op, s.changed.r, s.changed.n);
		if (rc)
			goto out;
		op->unchangedsince = 0;
		if (op->nranges == 0) {
			op->modseq = 0; /* nothing was written: no MODSEQ was used */
			rc = TJ_NOOP;
			goto out;
		}
	} else {
		if (op->modseq == 0) {
			rc = TJ_EPROTO;
			goto out;
		}
		if ((rc = walk_ranges(w, op->mbox_id, op->ranges, op->nranges, store_fn, &s)))
			goto out;
	}
	/* (a resolved op from elsewhere may list its ranges in any order) */
	ranges_normalize(s.changed.r, &s.changed.n);
	if (s.changed.n && (rc = changes_put(w, op->mbox_id, op->modseq, s.changed.r, s.changed.n)))
		goto out;
	if (op->modseq > h.m.highestmodseq)
		h.m.highestmodseq = op->modseq;
	rc = mbox_save(w, &h.m);
out:
	if (s.cc)
		mdb_cursor_close(s.cc);
	free(s.changed.r);
	tj_buf_free(&h.copy);
	return rc;
}

struct copy_ctx {
	tj_op *op;
	tj_mbox_info *src, *dst;
	uint32_t next_uid;
	uint64_t bytes, msgs;
	int count_only;
};

static int copy_fn(tj_wctx *w, void *arg, tj_msg_info *m)
{
	struct copy_ctx *c = arg;
	c->bytes += m->raw_size;
	c->msgs++;
	if (c->count_only)
		return 0;
	/* keywords: source bits -> names -> destination bits */
	tj_slice names[TJ_OP_MAX_KEYWORDS];
	uint32_t n = 0;
	for (uint32_t i = 0; i < c->src->nkeywords; i++)
		if (m->keywords & (1ULL << i))
			names[n++] = c->src->keywords[i];
	tj_msg_info d = *m;
	int rc = kw_bits(c->dst, names, n, 1, &d.keywords);
	if (rc)
		return rc;
	d.uid = c->next_uid++;
	d.modseq = c->op->modseq;
	uint8_t k[12];
	MDB_val v;
	key_msg(k, c->dst->id, d.uid);
	rc = tj_mget(w->txn, w->st->db_msgs, k, 12, &v);
	if (rc != TJ_ENOTFOUND)
		return rc ? rc : TJ_ESTATE;
	if ((rc = tj_guid_ref(w, d.guid, NULL)) || (rc = msg_put(w, c->dst->id, &d)))
		return rc;
	count_add(c->dst, &d, 1);
	if (c->op->type == TJ_OP_MOVE) {
		if ((rc = msg_del(w, c->src->id, m, c->op->modseq2)) || (rc = tj_guid_unref(w, m->guid)))
			return rc;
		count_add(c->src, m, -1);
	}
	return 0;
}

static int apply_copy(tj_wctx *w, tj_op *op)
{
	mbox_h hs = {0}, hd = {0};
	tj_buf nc = TJ_BUF_INIT;
	tj_user_info u;
	uint32_t next;
	int rc = mbox_load(w, op->mbox_id, op->user_id, &hs);
	if (!rc)
		rc = mbox_load(w, op->mbox_id2, op->user_id, &hd);
	if (!rc)
		rc = user_load(w, op->user_id, &u, &next, &nc);
	if (rc)
		goto out;
	int same = op->mbox_id == op->mbox_id2;
	if (same && op->type == TJ_OP_MOVE) {
		rc = TJ_EINVAL;
		goto out;
	}
	tj_mbox_info *src = &hs.m, *dst = same ? &hs.m : &hd.m;
	struct copy_ctx c = {.op = op, .src = src, .dst = dst};
	if (!(op->flags & TJ_OPF_RESOLVED)) {
		if ((rc = resolve_ranges(w, op, op->mbox_id)))
			goto out;
		if (op->nranges == 0) {
			rc = TJ_NOOP;
			goto out;
		}
		c.count_only = 1;
		if ((rc = visit_ranges(w, op->mbox_id, op->ranges, op->nranges, copy_fn, &c)))
			goto out;
		if (op->type == TJ_OP_COPY && (rc = quota_check(&u, c.bytes, c.msgs)))
			goto out;
		if ((uint64_t)dst->uidnext + c.msgs >= UINT32_MAX) {
			rc = TJ_ETOOBIG;
			goto out;
		}
		op->uid = dst->uidnext;
		op->modseq = dst->highestmodseq + 1;
		op->modseq2 = op->type == TJ_OP_MOVE ? src->highestmodseq + 1 : 0;
		c.count_only = 0;
		c.bytes = c.msgs = 0;
	}
	if (op->uid == 0 || op->modseq == 0 || (op->type == TJ_OP_MOVE && op->modseq2 == 0)) {
		rc = TJ_EPROTO;
		goto out;
	}
	uint64_t want = tj_ranges_count(op->ranges, op->nranges);
	c.next_uid = op->uid;
	if ((rc = visit_ranges(w, op->mbox_id, op->ranges, op->nranges, copy_fn, &c)))
		goto out;
	if (c.msgs != want) {
		rc = TJ_ESTATE; /* a resolved source UID is missing: state diverged */
		goto out;
	}
	if (c.next_uid > dst->uidnext)
		dst->uidnext = c.next_uid;
	if (op->modseq > dst->highestmodseq)
		dst->highestmodseq = op->modseq;
	if (op->type == TJ_OP_MOVE && op->modseq2 > src->highestmodseq)
		src->highestmodseq = op->modseq2;
	if (op->type == TJ_OP_COPY) {
		u.used_bytes += c.bytes;
		u.used_msgs += (uint32_t)c.msgs;
		if ((rc = user_save(w, &u, next)))
			goto out;
	}
	if (!(rc = mbox_save(w, dst)) && !same)
		rc = mbox_save(w, src);
out:
	tj_buf_free(&hs.copy);
	tj_buf_free(&hd.copy);
	tj_buf_free(&nc);
	return rc;
}

struct expunge_ctx {
	tj_op *op;
	tj_mbox_info *mb;
	tj_user_info *u;
	uint64_t n;
	MDB_cursor *cc; /* on changes */
	uidlist gone;   /* what went (resolving) */
	tj_buf guids;   /* their GUIDs, whose references go later (unref_later) */
};

/* unref_later - queue the references of n GUIDs (16 bytes each) for the
 * committer to subtract when idle: an EXPUNGE then writes one queue entry
 * instead of updating a random page of the GUID index per message.
 * Without the queue database (never, once opened for writing) at once. */
static int unref_later(tj_wctx *w, const uint8_t *guids, size_t len)
{
	int rc = 0;
	if (!w->st->has_unref) {
		for (size_t i = 0; !rc && i < len; i += TJ_GUID_LEN)
			rc = tj_guid_unref(w, guids + i);
		return rc;
	}
	MDB_cursor *c;
	if ((rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_unref, &c))))
		return rc;
	MDB_val k, v;
	uint64_t seq = 1;
	int mrc = mdb_cursor_get(c, &k, &v, MDB_LAST);
	if (mrc == 0 && k.mv_size == 8)
		seq = tj_get64be(k.mv_data) + 1;
	else if (mrc && mrc != MDB_NOTFOUND)
		rc = tj_from_mdb(mrc);
	uint8_t kb[8];
	key_u64(kb, seq);
	k = (MDB_val){8, kb};
	v = (MDB_val){len, (void *)guids};
	if (!rc)
		rc = tj_from_mdb(mdb_cursor_put(c, &k, &v, MDB_APPEND));
	mdb_cursor_close(c);
	if (!rc)
		w->st->unref_pending = 1;
	return rc;
}

int tj_unref_drain(tj_wctx *w, unsigned max, int *left_r)
{
	MDB_cursor *c;
	*left_r = 0;
	if (!w->st->has_unref)
		return 0;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_unref, &c));
	if (rc)
		return rc;
	MDB_val k, v;
	unsigned done = 0;
	int mrc;
	while (!rc && done < max && (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
		size_t n = v.mv_size / TJ_GUID_LEN, take = n;
		if (take > max - done)
			take = max - done;
		/* a copy: the entry's bytes move when it is shortened */
		uint8_t *g = malloc(v.mv_size ? v.mv_size : 1);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		memcpy(g, v.mv_data, v.mv_size);
		size_t total = v.mv_size;
		for (size_t i = 0; !rc && i < take; i++) {
			int e = tj_guid_unref(w, g + i * TJ_GUID_LEN);
			if (e == TJ_ESTATE || e == TJ_ECORRUPT) {
				char hex[33];
				tj_log(TJ_LOG_ERROR, "store", "event=unref_dropped guid=%s error=\"%s\"",
				       tj_guid_hex(g + i * TJ_GUID_LEN, hex), tj_strerror(e));
				e = 0; /* verify names it; the queue must move on */
			}
			rc = e;
		}
		if (!rc) {
			if (take == n || total % TJ_GUID_LEN) {
				rc = tj_from_mdb(mdb_cursor_del(c, 0));
			} else {
				MDB_val nv = {total - take * TJ_GUID_LEN, g + take * TJ_GUID_LEN};
				rc = tj_from_mdb(mdb_cursor_put(c, &k, &nv, MDB_CURRENT));
			}
		}
		free(g);
		done += (unsigned)take;
		if (take == 0)
			break;
	}
	if (!rc) {
		mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
		if (mrc == 0)
			*left_r = 1;
		else if (mrc != MDB_NOTFOUND)
			rc = tj_from_mdb(mrc);
	}
	mdb_cursor_close(c);
	return rc;
}

static int expunge_fn(tj_wctx *w, void *arg, MDB_cursor *c, tj_msg_info *m)
{
	struct expunge_ctx *e = arg;
	uint8_t tk[20];
	int rc = (e->op->flags & TJ_OPF_RESOLVED) ? 0 : uidlist_add(&e->gone, m->uid);
	if (!rc)
		rc = changes_drop(e->cc, e->op->mbox_id, m->modseq, m->uid);
	if (!rc)
		rc = tj_from_mdb(mdb_cursor_del(c, 0));
	if (!rc) {
		key_mod(tk, e->op->mbox_id, e->op->modseq, m->uid);
		rc = tj_mput(w->txn, w->st->db_expunged, tk, 20, "", 0);
	}
	if (!rc)
		rc = tj_buf_append(&e->guids, m->guid, TJ_GUID_LEN);
	if (rc)
		return rc;
	count_add(e->mb, m, -1);
	e->u->used_bytes -= m->raw_size < e->u->used_bytes ? m->raw_size : e->u->used_bytes;
	e->u->used_msgs -= e->u->used_msgs ? 1 : 0;
	e->n++;
	return 0;
}

static int apply_expunge(tj_wctx *w, tj_op *op)
{
	mbox_h h = {0};
	tj_buf nc = TJ_BUF_INIT;
	tj_user_info u;
	uint32_t next;
	int rc = load_box_user(w, op, &h, &u, &next, &nc);
	if (rc)
		goto out;
	int resolving = !(op->flags & TJ_OPF_RESOLVED);
	if (resolving)
		op->modseq = h.m.highestmodseq + 1; /* used only if something goes */
	if (op->modseq == 0) {
		rc = TJ_EPROTO;
		goto out;
	}
	/* one pass: an unresolved op deletes what exists and records it as the
	 * resolved ranges; a resolved one must find every UID it names */
	struct expunge_ctx e = {op, &h.m, &u, 0, NULL, {0}, TJ_BUF_INIT};
	if ((rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_changes, &e.cc))))
		goto out;
	rc = walk_ranges(w, op->mbox_id, op->ranges, op->nranges, expunge_fn, &e);
	mdb_cursor_close(e.cc);
	if (!rc && e.guids.len)
		rc = unref_later(w, e.guids.data, e.guids.len);
	tj_buf_free(&e.guids);
	if (!rc && resolving) {
		ranges_normalize(e.gone.r, &e.gone.n);
		rc = tj_op_set_ranges(op, e.gone.r, e.gone.n);
	}
	free(e.gone.r);
	if (rc)
		goto out;
	if (resolving && op->nranges == 0) {
		op->modseq = 0;
		rc = TJ_NOOP;
		goto out;
	}
	if (e.n != tj_ranges_count(op->ranges, op->nranges)) {
		rc = TJ_ESTATE;
		goto out;
	}
	if (op->modseq > h.m.highestmodseq)
		h.m.highestmodseq = op->modseq;
	if (!(rc = mbox_save(w, &h.m)))
		rc = user_save(w, &u, next);
out:
	tj_buf_free(&h.copy);
	tj_buf_free(&nc);
	return rc;
}

/* tj_apply - resolve (if needed) and apply op; on success the op is marked
 * resolved and appended to the op log.  An op that changes nothing (STORE of
 * flags already set, EXPUNGE of no message) succeeds without being logged. */
int tj_apply(tj_wctx *w, tj_op *op, const tj_msgrec *msg)
{
	int rc;
	switch (op->type) {
	case TJ_OP_USER_PUT: rc = apply_user_put(w, op); break;
	case TJ_OP_MBOX_CREATE: rc = apply_mbox_create(w, op); break;
	case TJ_OP_MBOX_RENAME: rc = apply_mbox_rename(w, op); break;
	case TJ_OP_MBOX_DELETE: rc = apply_mbox_delete(w, op); break;
	case TJ_OP_SUBSCRIBE: rc = apply_subscribe(w, op); break;
	case TJ_OP_APPEND: rc = apply_append(w, op, msg); break;
	case TJ_OP_STORE: rc = apply_store(w, op); break;
	case TJ_OP_COPY:
	case TJ_OP_MOVE: rc = apply_copy(w, op); break;
	case TJ_OP_EXPUNGE: rc = apply_expunge(w, op); break;
	default: rc = TJ_EPROTO;
	}
	if (rc == TJ_NOOP)
		return 0;
	if (rc)
		return rc;
	op->flags |= TJ_OPF_RESOLVED;
	/* log it */
	tj_buf enc = TJ_BUF_INIT;
	rc = tj_op_encode(op, &enc);
	if (!rc) {
		uint8_t k[8];
		key_u64(k, ++*w->log_seq);
		rc = tj_mput(w->txn, w->st->db_oplog, k, 8, enc.data, enc.len);
	}
	/* and into the batch record, so the segment can redo it (store.c) */
	if (!rc && w->redo) {
		uint8_t l[4];
		tj_put32(l, (uint32_t)enc.len);
		if (!(rc = tj_buf_append(w->redo, l, 4)) && !(rc = tj_buf_append(w->redo, enc.data, enc.len)))
			(*w->redo_n)++;
	}
	tj_buf_free(&enc);
	/* a logged APPEND holds its bytes until the entry is trimmed */
	if (!rc && op->type == TJ_OP_APPEND)
		rc = tj_guid_ref(w, op->guid, NULL);
	return rc;
}

/*
 * read.c - the read side: snapshots (tj_rtxn), lookups, iteration, message
 * bytes and the op log.  Everything here runs in the caller's thread and
 * never waits for the writer.
 */
#include "common/err.h"
#include "store/store-private.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int tj_rtxn_begin(tj_store *st, tj_rtxn **r_r)
{
	tj_rtxn *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->st = st;
	int rc = tj_from_mdb(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &r->txn));
	if (rc) {
		free(r);
		return rc;
	}
	*r_r = r;
	return 0;
}

void tj_rtxn_end(tj_rtxn **rp)
{
	tj_rtxn *r = *rp;
	if (!r)
		return;
	mdb_txn_abort(r->txn);
	tj_buf_free(&r->tmp);
	free(r);
	*rp = NULL;
}

int tj_store_user_get_id(tj_rtxn *r, uint32_t id, tj_user_info *u_r)
{
	uint8_t k[4];
	MDB_val v;
	key_u32(k, id);
	int rc = tj_mget(r->txn, r->st->db_users, k, 4, &v);
	return rc ? rc : user_rec_get(&v, id, u_r);
}

int tj_store_user_get(tj_rtxn *r, const char *name, tj_user_info *u_r)
{
	int rc = tj_store_user_get_id(r, tj_store_user_id(name), u_r);
	if (rc)
		return rc;
	size_t n = strlen(name);
	if (u_r->name.len != n || strncasecmp((const char *)u_r->name.ptr, name, n) != 0)
		return TJ_ENOTFOUND; /* another name with the same hash */
	return 0;
}

int tj_store_mbox_get(tj_rtxn *r, uint64_t mbox_id, tj_mbox_info *m_r)
{
	uint8_t k[8];
	MDB_val v;
	key_u64(k, mbox_id);
	int rc = tj_mget(r->txn, r->st->db_mbox, k, 8, &v);
	return rc ? rc : mbox_rec_get(&v, mbox_id, m_r);
}

int tj_store_mbox_find(tj_rtxn *r, uint32_t user_id, const char *name, tj_mbox_info *m_r)
{
	size_t n = strlen(name);
	tj_buf_reset(&r->tmp);
	uint8_t k[4];
	key_u32(k, user_id);
	int rc = tj_buf_append(&r->tmp, k, 4);
	if (!rc)
		rc = strcasecmp(name, "INBOX") == 0 ? tj_buf_append(&r->tmp, "INBOX", 5) : tj_buf_append(&r->tmp, name, n);
	MDB_val v;
	if (!rc)
		rc = tj_mget(r->txn, r->st->db_mboxname, r->tmp.data, r->tmp.len, &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return TJ_ECORRUPT;
	return tj_store_mbox_get(r, tj_get64be(v.mv_data), m_r);
}

int tj_store_msg_get(tj_rtxn *r, uint64_t mbox_id, uint32_t uid, tj_msg_info *m_r)
{
	uint8_t k[12];
	MDB_val v;
	key_msg(k, mbox_id, uid);
	int rc = tj_mget(r->txn, r->st->db_msgs, k, 12, &v);
	return rc ? rc : msg_rec_get(&v, uid, m_r);
}

int tj_store_is_subscribed(tj_rtxn *r, uint32_t user_id, const char *name)
{
	tj_buf_reset(&r->tmp);
	uint8_t k[4];
	key_u32(k, user_id);
	int rc = tj_buf_append(&r->tmp, k, 4);
	if (!rc)
		rc = tj_buf_puts(&r->tmp, name);
	MDB_val v;
	if (!rc)
		rc = tj_mget(r->txn, r->st->db_subs, r->tmp.data, r->tmp.len, &v);
	return rc == 0 ? 1 : rc == TJ_ENOTFOUND ? 0 : rc;
}

/* walk keys of dbi starting at start (prefix-matched on plen bytes) */
typedef int walk_fn(void *arg, MDB_val *k, MDB_val *v);

static int walk(tj_rtxn *r, MDB_dbi dbi, const void *start, size_t slen, size_t plen, walk_fn *fn, void *arg)
{
	MDB_cursor *c;
	int rc = tj_from_mdb(mdb_cursor_open(r->txn, dbi, &c));
	if (rc)
		return rc;
	MDB_val k = {slen, (void *)start}, v;
	int mrc = slen ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
	while (mrc == 0) {
		if (plen && (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0))
			break;
		if ((rc = fn(arg, &k, &v)))
			break;
		mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = tj_from_mdb(mrc);
	return rc;
}

struct user_walk {
	tj_user_fn *fn;
	void *arg;
};

static int user_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct user_walk *w = arg;
	tj_user_info u;
	int rc = k->mv_size == 4 ? user_rec_get(v, tj_get32be(k->mv_data), &u) : TJ_ECORRUPT;
	return rc ? rc : w->fn(w->arg, &u);
}

int tj_store_users(tj_rtxn *r, tj_user_fn *fn, void *arg)
{
	struct user_walk w = {fn, arg};
	return walk(r, r->st->db_users, NULL, 0, 0, user_walk_fn, &w);
}

struct mbox_walk {
	tj_rtxn *r;
	tj_mbox_fn *fn;
	void *arg;
};

static int mbox_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct mbox_walk *w = arg;
	tj_mbox_info m;
	if (v->mv_size != 8)
		return TJ_ECORRUPT;
	int rc = tj_store_mbox_get(w->r, tj_get64be(v->mv_data), &m);
	return rc ? rc : w->fn(w->arg, &m);
}

int tj_store_mboxes(tj_rtxn *r, uint32_t user_id, tj_mbox_fn *fn, void *arg)
{
	uint8_t k[4];
	key_u32(k, user_id);
	struct mbox_walk w = {r, fn, arg};
	return walk(r, r->st->db_mboxname, k, 4, 4, mbox_walk_fn, &w);
}

struct subs_walk {
	tj_subs_fn *fn;
	void *arg;
};

static int subs_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct subs_walk *w = arg;
	tj_slice s = {(const uint8_t *)k->mv_data + 4, k->mv_size - 4};
	return w->fn(w->arg, s);
}

int tj_store_subscriptions(tj_rtxn *r, uint32_t user_id, tj_subs_fn *fn, void *arg)
{
	uint8_t k[4];
	key_u32(k, user_id);
	struct subs_walk w = {fn, arg};
	return walk(r, r->st->db_subs, k, 4, 4, subs_walk_fn, &w);
}

struct msg_walk {
	tj_msg_fn *fn;
	void *arg;
	uint32_t hi;
	tj_rtxn *r;
	uint64_t mbox;
	tj_vanished_fn *vfn;
	MDB_cursor *mc; /* on msgs, opened when needed */
};

static int msg_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct msg_walk *w = arg;
	if (k->mv_size != 12)
		return TJ_ECORRUPT;
	uint32_t uid = tj_get32be((uint8_t *)k->mv_data + 8);
	if (uid > w->hi)
		return 1;
	tj_msg_info m;
	int rc = msg_rec_get(v, uid, &m);
	return rc ? rc : w->fn(w->arg, &m);
}

int tj_store_msgs(tj_rtxn *r, uint64_t mbox_id, uint32_t uid_lo, uint32_t uid_hi, tj_msg_fn *fn, void *arg)
{
	uint8_t k[12];
	key_msg(k, mbox_id, uid_lo);
	struct msg_walk w = {fn, arg, uid_hi, r, mbox_id, NULL, NULL};
	int rc = walk(r, r->st->db_msgs, k, 12, 8, msg_walk_fn, &w);
	return rc == 1 ? 0 : rc;
}

/* tj_store_msgs_get - a cursor steps forward (MDB_NEXT) while the wanted
 * UID is near and seeks (MDB_SET_RANGE) only across a gap */
int tj_store_msgs_get(tj_rtxn *r, uint64_t mbox_id, const uint32_t *uids, size_t n, tj_msg_at_fn *fn, void *arg)
{
	enum { MAX_STEPS = 8 }; /* MDB_NEXTs before a seek is cheaper */
	MDB_cursor *c;
	if (n == 0)
		return 0;
	int rc = tj_from_mdb(mdb_cursor_open(r->txn, r->st->db_msgs, &c));
	if (rc)
		return rc;
	uint8_t kb[12];
	MDB_val k, v;
	int mrc = 0;
	bool positioned = false;
	unsigned steps = 0;
	for (size_t i = 0; i < n;) {
		uint32_t want = uids[i];
		if (!positioned) {
			key_msg(kb, mbox_id, want);
			k = (MDB_val){12, kb};
			mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
			positioned = true;
			steps = 0;
		}
		if (mrc)
			break;
		if (k.mv_size != 12 || tj_get64be(k.mv_data) != mbox_id)
			break; /* past the mailbox: the rest do not exist */
		uint32_t got = tj_get32be((const uint8_t *)k.mv_data + 8);
		if (got < want) {
			if (++steps > MAX_STEPS)
				positioned = false;
			else
				mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			continue;
		}
		steps = 0;
		if (got > want) {
			i++; /* not there; the cursor waits for a later UID */
			continue;
		}
		tj_msg_info m;
		if ((rc = msg_rec_get(&v, got, &m)) || (rc = fn(arg, i, &m)))
			break;
		i++;
		mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(c);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = tj_from_mdb(mrc);
	return rc;
}

/* changed_in - the messages with UIDs lo..hi whose MODSEQ is still modseq */
static int changed_in(struct msg_walk *w, uint32_t lo, uint32_t hi, uint64_t modseq)
{
	int rc = 0;
	if (!w->mc && (rc = tj_from_mdb(mdb_cursor_open(w->r->txn, w->r->st->db_msgs, &w->mc))))
		return rc;
	MDB_cursor *c = w->mc;
	uint8_t kb[12];
	key_msg(kb, w->mbox, lo);
	MDB_val k = {12, kb}, v;
	int mrc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 12 || tj_get64be(k.mv_data) != w->mbox)
			break;
		uint32_t uid = tj_get32be((uint8_t *)k.mv_data + 8);
		if (uid > hi)
			break;
		tj_msg_info m;
		if ((rc = msg_rec_get(&v, uid, &m)))
			break;
		if (m.modseq == modseq && (rc = w->fn(w->arg, &m)))
			break;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = tj_from_mdb(mrc);
	return rc;
}

/* an entry of the change index: one UID (empty value) or ranges; entries
 * whose messages changed again or went are stale and skipped */
static int changes_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct msg_walk *w = arg;
	if (k->mv_size != 20 || v->mv_size % 8)
		return TJ_ECORRUPT;
	uint64_t modseq = tj_get64be((uint8_t *)k->mv_data + 8);
	uint32_t uid = tj_get32be((uint8_t *)k->mv_data + 16);
	if (v->mv_size == 0) {
		tj_msg_info m;
		int rc = tj_store_msg_get(w->r, w->mbox, uid, &m);
		if (rc == TJ_ENOTFOUND || (rc == 0 && m.modseq != modseq))
			return 0;
		return rc ? rc : w->fn(w->arg, &m);
	}
	const uint8_t *p = v->mv_data;
	for (size_t i = 0; i < v->mv_size; i += 8) {
		uint32_t lo = tj_get32(p + i), hi = tj_get32(p + i + 4);
		if (lo > hi)
			return TJ_ECORRUPT;
		int rc = changed_in(w, lo, hi, modseq);
		if (rc)
			return rc;
	}
	return 0;
}

int tj_store_changed_since(tj_rtxn *r, uint64_t mbox_id, uint64_t since, tj_msg_fn *fn, void *arg)
{
	uint8_t k[20];
	key_mod(k, mbox_id, since + 1, 0);
	struct msg_walk w = {fn, arg, UINT32_MAX, r, mbox_id, NULL, NULL};
	int rc = walk(r, r->st->db_changes, k, 20, 8, changes_walk_fn, &w);
	if (w.mc)
		mdb_cursor_close(w.mc);
	return rc;
}

static int vanished_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct msg_walk *w = arg;
	if (k->mv_size != 20)
		return TJ_ECORRUPT;
	return w->vfn(w->arg, tj_get32be((uint8_t *)k->mv_data + 16), tj_get64be((uint8_t *)k->mv_data + 8));
}

int tj_store_vanished_since(tj_rtxn *r, uint64_t mbox_id, uint64_t since, tj_vanished_fn *fn, void *arg)
{
	uint8_t k[20];
	key_mod(k, mbox_id, since + 1, 0);
	struct msg_walk w = {NULL, arg, UINT32_MAX, r, mbox_id, fn, NULL};
	return walk(r, r->st->db_expunged, k, 20, 8, vanished_walk_fn, &w);
}

int tj_store_read(tj_rtxn *r, const uint8_t guid[TJ_GUID_LEN], size_t off, size_t len, tj_buf *out)
{
	MDB_val v;
	loc_rec l;
	int rc = tj_mget(r->txn, r->st->db_guids, guid, TJ_GUID_LEN, &v);
	if (rc)
		return rc;
	if ((rc = loc_rec_get(&v, &l)))
		return rc;
	tj_rec rec;
	rc = tj_seg_view(r->st, &l, &rec);
	if (rc == TJ_ENOTFOUND)
		rc = tj_seg_read_record(r->st, &l, &r->tmp, &rec);
	if (rc)
		return rc;
	if (memcmp(rec.guid, guid, TJ_GUID_LEN) != 0)
		return TJ_ECORRUPT;
	size_t start = out->len;
	rc = tj_decompress_range(r->st->dicts, &rec, off, len, out);
	if (rc)
		tj_buf_truncate(out, start);
	return rc;
}

int tj_store_cache_get(tj_rtxn *r, const uint8_t guid[TJ_GUID_LEN], tj_slice *blob_r)
{
	MDB_val v;
	int rc = tj_mget(r->txn, r->st->db_cache, guid, TJ_GUID_LEN, &v);
	if (rc)
		return rc;
	blob_r->ptr = v.mv_data;
	blob_r->len = v.mv_size;
	return 0;
}

struct log_walk {
	tj_log_fn *fn;
	void *arg;
};

static int log_walk_fn(void *arg, MDB_val *k, MDB_val *v)
{
	struct log_walk *w = arg;
	return w->fn(w->arg, tj_get64be(k->mv_data), v->mv_data, v->mv_size);
}

int tj_store_log(tj_rtxn *r, uint64_t after, tj_log_fn *fn, void *arg)
{
	uint8_t k[8];
	key_u64(k, after + 1);
	struct log_walk w = {fn, arg};
	return walk(r, r->st->db_oplog, k, 8, 0, log_walk_fn, &w);
}

uint64_t tj_store_log_last(tj_rtxn *r)
{
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t last = 0;
	if (mdb_cursor_open(r->txn, r->st->db_oplog, &c) == 0) {
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
			last = tj_get64be(k.mv_data);
		mdb_cursor_close(c);
	}
	return last;
}

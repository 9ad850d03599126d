/*
 * maint.c - store maintenance: statistics, dictionary training, compaction,
 * verification and a canonical dump.  All of it runs beside normal traffic:
 * reads use snapshots and every change goes through the committer.
 */
#include "common/err.h"
#include "common/log.h"
#include "store/store-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- statistics ---- */

static int stats_user(void *arg, const tj_user_info *u)
{
	((tj_store_stats *)arg)->users++;
	return 0;
}

int tj_store_stats_get(tj_store *st, tj_store_stats *s)
{
	memset(s, 0, sizeof(*s));
	tj_rtxn *r;
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	if ((rc = tj_store_users(r, stats_user, s)))
		goto out;
	MDB_cursor *c;
	MDB_val k, v;
	int mrc;
	if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_mbox, &c))))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		tj_mbox_info m;
		if (mbox_rec_get(&v, 0, &m) == 0) {
			s->mailboxes++;
			s->messages += m.messages;
			s->raw_bytes += m.bytes;
		}
	}
	mdb_cursor_close(c);
	if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_guids, &c))))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		loc_rec l;
		if (loc_rec_get(&v, &l) == 0) {
			s->unique_messages++;
			s->unique_raw_bytes += l.raw_len;
			if (l.dict_id)
				s->dict_records++;
		}
	}
	mdb_cursor_close(c);
	if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_segs, &c))))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		seg_rec sg;
		seg_rec_get(&v, &sg);
		if (sg.state == TJ_SEG_DEAD)
			continue;
		s->segments++;
		s->stored_bytes += sg.end;
		s->live_bytes += sg.live;
	}
	mdb_cursor_close(c);
	MDB_stat ms;
	if (mdb_stat(r->txn, st->db_oplog, &ms) == 0)
		s->log_ops = ms.ms_entries;
	s->dict_id = tj_dicts_current(st->dicts);
	s->batches = __atomic_load_n(&st->n_batches, __ATOMIC_RELAXED);
	s->segment_syncs = __atomic_load_n(&st->n_syncs, __ATOMIC_RELAXED);
	s->requests = __atomic_load_n(&st->n_reqs, __ATOMIC_RELAXED);
	char path[4096];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/index/data.mdb", st->dir);
	if (stat(path, &sb) == 0)
		s->index_bytes = (uint64_t)sb.st_blocks * 512;
out:
	tj_rtxn_end(&r);
	return rc;
}

int tj_store_stats_format(const tj_store_stats *s, int json, tj_buf *out)
{
	double ratio = s->raw_bytes ? (double)s->stored_bytes / (double)s->unique_raw_bytes : 0;
	double dead = s->stored_bytes ? 1.0 - (double)s->live_bytes / (double)s->stored_bytes : 0;
	if (json) {
		tj_buf_printf(out, "{\"users\":%" PRIu64 ",\"mailboxes\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"raw_bytes\":%" PRIu64
		       ",\"unique_messages\":%" PRIu64 ",\"unique_raw_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64
		       ",\"live_bytes\":%" PRIu64 ",\"segments\":%" PRIu64 ",\"dead_ratio\":%.4f,\"index_bytes\":%" PRIu64
		       ",\"log_ops\":%" PRIu64 ",\"dict_id\":%u,\"dict_records\":%" PRIu64 ",\"stored_ratio\":%.4f}\n",
		       s->users, s->mailboxes, s->messages, s->raw_bytes, s->unique_messages, s->unique_raw_bytes,
		       s->stored_bytes, s->live_bytes, s->segments, dead, s->index_bytes, s->log_ops, s->dict_id,
		       s->dict_records, ratio);
		return 0;
	}
	tj_buf_printf(out, "users            %" PRIu64 "\n", s->users);
	tj_buf_printf(out, "mailboxes        %" PRIu64 "\n", s->mailboxes);
	tj_buf_printf(out, "messages         %" PRIu64 " (%" PRIu64 " stored once each)\n", s->messages, s->unique_messages);
	tj_buf_printf(out, "raw bytes        %" PRIu64 " (%" PRIu64 " unique)\n", s->raw_bytes, s->unique_raw_bytes);
	tj_buf_printf(out, "stored bytes     %" PRIu64 " (%.3f of unique raw; %" PRIu64 " live)\n", s->stored_bytes, ratio,
	       s->live_bytes);
	tj_buf_printf(out, "segments         %" PRIu64 " (dead ratio %.3f)\n", s->segments, dead);
	tj_buf_printf(out, "index bytes      %" PRIu64 "\n", s->index_bytes);
	tj_buf_printf(out, "op log           %" PRIu64 " ops\n", s->log_ops);
	tj_buf_printf(out, "dictionary       %u (%" PRIu64 " records use a dictionary)\n", s->dict_id, s->dict_records);
	return 0;
}

/* ---- the per-message cache ---- */

struct cache_put {
	const uint8_t *guid;
	const void *blob;
	size_t len;
};

static int cache_put_fn(tj_wctx *w, void *arg)
{
	struct cache_put *c = arg;
	MDB_val v;
	int rc = tj_mget(w->txn, w->st->db_guids, c->guid, TJ_GUID_LEN, &v);
	if (rc)
		return rc;
	return tj_mput(w->txn, w->st->db_cache, c->guid, TJ_GUID_LEN, c->blob, c->len);
}

int tj_store_cache_put(tj_store *st, const uint8_t guid[TJ_GUID_LEN], const void *blob, size_t len)
{
	struct cache_put c = {guid, blob, len};
	return tj_store_run(st, cache_put_fn, &c);
}

/* one block: n GUIDs, n (offset, length) pairs, then the blobs */
struct cache_batch {
	size_t n;
	uint8_t (*guids)[TJ_GUID_LEN];
	size_t *off, *len;
	uint8_t *bytes;
};

static int cache_batch_fn(tj_wctx *w, void *arg)
{
	struct cache_batch *b = arg;
	int rc = 0;
	for (size_t i = 0; i < b->n && !rc; i++) {
		MDB_val v;
		rc = tj_mget(w->txn, w->st->db_guids, b->guids[i], TJ_GUID_LEN, &v);
		if (rc == TJ_ENOTFOUND) {
			rc = 0; /* expunged meanwhile */
			continue;
		}
		if (!rc)
			rc = tj_mput(w->txn, w->st->db_cache, b->guids[i], TJ_GUID_LEN, b->bytes + b->off[i], b->len[i]);
	}
	return rc;
}

static void cache_batch_done(void *arg, int rc, tj_op *op)
{
	struct cache_batch *b = arg;
	if (rc)
		tj_log(TJ_LOG_WARN, "store", "event=cache_put_failed blobs=%zu error=\"%s\"", b->n, tj_strerror(rc));
	free(b->guids);
	free(b->off);
	free(b->len);
	free(b->bytes);
	free(b);
}

int tj_store_cache_put_batch(tj_store *st, size_t n, const uint8_t (*guids)[TJ_GUID_LEN], const tj_slice *blobs)
{
	if (n == 0)
		return 0;
	struct cache_batch *b = calloc(1, sizeof(*b));
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += blobs[i].len;
	if (b) {
		b->guids = malloc(n * sizeof(*b->guids));
		b->off = malloc(n * sizeof(size_t));
		b->len = malloc(n * sizeof(size_t));
		b->bytes = malloc(total ? total : 1);
	}
	if (!b || !b->guids || !b->off || !b->len || !b->bytes) {
		if (b)
			cache_batch_done(b, 0, NULL);
		return -ENOMEM;
	}
	b->n = n;
	for (size_t i = 0, o = 0; i < n; i++) {
		memcpy(b->guids[i], guids[i], TJ_GUID_LEN);
		memcpy(b->bytes + o, blobs[i].ptr, blobs[i].len);
		b->off[i] = o;
		b->len[i] = blobs[i].len;
		o += blobs[i].len;
	}
	int rc = tj_store_run_async(st, cache_batch_fn, b, cache_batch_done, b);
	if (rc)
		cache_batch_done(b, 0, NULL);
	return rc;
}

/* ---- dictionary training ---- */

struct dict_put {
	const tj_buf *dict;
	uint32_t id;
};

static int dict_put_fn(tj_wctx *w, void *arg)
{
	struct dict_put *d = arg;
	MDB_cursor *c;
	MDB_val k, v;
	uint32_t last = 0;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_dicts, &c));
	if (rc)
		return rc;
	if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 4)
		last = tj_get32be(k.mv_data);
	mdb_cursor_close(c);
	if (last >= TJ_DICT_MAX_ID)
		return TJ_ETOOBIG;
	d->id = last + 1;
	uint8_t key[4];
	key_u32(key, d->id);
	return tj_mput(w->txn, w->st->db_dicts, key, 4, d->dict->data, d->dict->len);
}

int tj_store_train_dict(tj_store *st, unsigned samples)
{
	enum { SAMPLE_MAX = 64 * 1024, TOTAL_MAX = 32 << 20 };
	tj_rtxn *r;
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	tj_buf all = TJ_BUF_INIT, one = TJ_BUF_INIT, dict = TJ_BUF_INIT;
	size_t *sizes = calloc(samples ? samples : 1, sizeof(size_t));
	unsigned n = 0;
	MDB_cursor *c = NULL;
	if (!sizes) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_guids, &c))))
		goto out;
	MDB_val k, v;
	for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && n < samples && all.len < TOTAL_MAX;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		tj_buf_reset(&one);
		if (tj_store_read(r, k.mv_data, 0, SAMPLE_MAX, &one) != 0 || one.len == 0)
			continue;
		if ((rc = tj_buf_append(&all, one.data, one.len)))
			goto out;
		sizes[n++] = one.len;
	}
	mdb_cursor_close(c);
	c = NULL;
	tj_rtxn_end(&r);
	if ((rc = tj_dict_train(all.data, sizes, n, &dict)))
		goto out;
	struct dict_put d = {&dict, 0};
	if ((rc = tj_store_run(st, dict_put_fn, &d)))
		goto out;
	/* durable now (the meta page too: MDB_NOMETASYNC): records may name it */
	if ((rc = tj_from_mdb(mdb_env_sync(st->env, 1))))
		goto out;
	if ((rc = tj_dicts_add(st->dicts, d.id, dict.data, dict.len)) == 0)
		tj_dicts_set_current(st->dicts, d.id);
	tj_log(TJ_LOG_INFO, "store", "event=dict_added dict=%u bytes=%zu samples=%u", d.id, dict.len, n);
out:
	if (c)
		mdb_cursor_close(c);
	tj_rtxn_end(&r);
	free(sizes);
	tj_buf_free(&all);
	tj_buf_free(&one);
	tj_buf_free(&dict);
	return rc;
}

/* ---- compaction ---- */

struct reloc {
	uint8_t guid[TJ_GUID_LEN];
	uint32_t old_seg;
	uint64_t old_off;
	uint32_t old_len;
	tj_buf rec; /* the record to write (recompressed or as it was) */
};

struct reloc_batch {
	struct reloc *items;
	size_t n;
	uint64_t moved;
};

static int seg_live_add(tj_wctx *w, uint32_t seg, int64_t delta)
{
	uint8_t k[4], val[32];
	MDB_val v;
	seg_rec s;
	key_u32(k, seg);
	if (tj_mget(w->txn, w->st->db_segs, k, 4, &v) == 0)
		seg_rec_get(&v, &s);
	else
		memset(&s, 0, sizeof(s));
	s.live = (uint64_t)((int64_t)s.live + delta);
	seg_rec_put(val, &s);
	return tj_mput(w->txn, w->st->db_segs, k, 4, val, 32);
}

static int reloc_fn(tj_wctx *w, void *arg)
{
	struct reloc_batch *b = arg;
	int rc = 0;
	b->moved = 0;
	for (size_t i = 0; i < b->n && !rc; i++) {
		struct reloc *x = &b->items[i];
		MDB_val v;
		loc_rec l;
		if (tj_mget(w->txn, w->st->db_guids, x->guid, TJ_GUID_LEN, &v) != 0 || loc_rec_get(&v, &l) != 0)
			continue; /* freed meanwhile */
		if (l.seg != x->old_seg || l.off != x->old_off)
			continue; /* moved meanwhile */
		uint8_t sk[12], val[32];
		key_segoff(sk, l.seg, l.off);
		if ((rc = tj_mdel(w->txn, w->st->db_seglive, sk, 12)) && rc != TJ_ENOTFOUND)
			break;
		if ((rc = seg_live_add(w, l.seg, -(int64_t)l.stored_len)))
			break;
		l.seg = w->seg;
		l.off = w->base_off + w->wbuf->len;
		l.stored_len = (uint32_t)x->rec.len;
		l.dict_id = tj_get32(x->rec.data + 8);
		if ((rc = tj_buf_append(w->wbuf, x->rec.data, x->rec.len)))
			break;
		loc_rec_put(val, &l);
		key_segoff(sk, l.seg, l.off);
		if ((rc = tj_mput(w->txn, w->st->db_guids, x->guid, TJ_GUID_LEN, val, 32)) ||
		    (rc = tj_mput(w->txn, w->st->db_seglive, sk, 12, x->guid, TJ_GUID_LEN)) ||
		    (rc = seg_live_add(w, l.seg, l.stored_len)))
			break;
		b->moved += x->rec.len;
	}
	return rc;
}

struct seg_state_req {
	uint32_t seg;
	int unlink_now;
};

/* mark an emptied segment dead, remembering the txn that emptied it */
static int seg_dead_fn(tj_wctx *w, void *arg)
{
	struct seg_state_req *q = arg;
	uint8_t k[12], val[32];
	MDB_val v, kk;
	seg_rec s;
	key_u32(k, q->seg);
	int rc = tj_mget(w->txn, w->st->db_segs, k, 4, &v);
	if (rc)
		return rc;
	seg_rec_get(&v, &s);
	/* still any live record?  then it is not dead */
	MDB_cursor *c;
	if ((rc = tj_from_mdb(mdb_cursor_open(w->txn, w->st->db_seglive, &c))))
		return rc;
	key_segoff(k + 0, q->seg, 0);
	kk.mv_size = 12;
	kk.mv_data = k;
	int mrc = mdb_cursor_get(c, &kk, &v, MDB_SET_RANGE);
	int live = mrc == 0 && tj_get32be(kk.mv_data) == q->seg;
	mdb_cursor_close(c);
	if (live)
		return TJ_ESTATE;
	s.state = TJ_SEG_DEAD;
	s.live = 0;
	s.dead_txn = mdb_txn_id(w->txn);
	seg_rec_put(val, &s);
	key_u32(k, q->seg);
	return tj_mput(w->txn, w->st->db_segs, k, 4, val, 32);
}

static int seg_forget_fn(tj_wctx *w, void *arg)
{
	struct seg_state_req *q = arg;
	uint8_t k[4];
	key_u32(k, q->seg);
	return tj_mdel(w->txn, w->st->db_segs, k, 4);
}

struct readers {
	uint64_t oldest;
};

static int reader_line(const char *msg, void *ctx)
{
	struct readers *r = ctx;
	int pid;
	unsigned long thr;
	char txn[32];
	if (sscanf(msg, "%d %lx %31s", &pid, &thr, txn) == 3 && txn[0] != '-') {
		uint64_t t = strtoull(txn, NULL, 10);
		if (t && t < r->oldest)
			r->oldest = t;
	}
	return 0;
}

/* unlink dead segments that no reader (in any process) can still see */
static int reap_dead(tj_store *st)
{
	struct readers rd = {UINT64_MAX};
	mdb_reader_check(st->env, NULL);
	mdb_reader_list(st->env, reader_line, &rd);
	tj_rtxn *r;
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	uint32_t dead[256];
	size_t nd = 0;
	MDB_cursor *c;
	MDB_val k, v;
	if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_segs, &c))) == 0) {
		for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && nd < 256;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			seg_rec s;
			seg_rec_get(&v, &s);
			if (s.state == TJ_SEG_DEAD && (rd.oldest == UINT64_MAX || rd.oldest >= s.dead_txn))
				dead[nd++] = tj_get32be(k.mv_data);
		}
		mdb_cursor_close(c);
	}
	tj_rtxn_end(&r);
	/* the "dead" marks must be durable before the files go (MDB_NOMETASYNC) */
	if (nd && (rc = tj_from_mdb(mdb_env_sync(st->env, 1))))
		return rc;
	for (size_t i = 0; i < nd && !rc; i++) {
		char path[4096];
		tj_seg_forget(st, dead[i]);
		tj_seg_path(st, dead[i], path, sizeof(path));
		if (unlink(path) < 0 && errno != ENOENT)
			rc = -errno;
		struct seg_state_req q = {dead[i], 1};
		if (!rc)
			rc = tj_store_run(st, seg_forget_fn, &q);
		if (!rc)
			tj_log(TJ_LOG_INFO, "store", "event=segment_unlinked seg=%u", dead[i]);
	}
	return rc;
}

/* runs in the committer: ask for a fresh segment at the next batch */
static int rotate_ask_fn(tj_wctx *w, void *arg)
{
	if (w->st->active_end > 0 || w->wbuf->len > 0)
		w->st->force_rotate = 1;
	return 0;
}

/* runs in the committer: report the active segment */
static int active_seg_fn(tj_wctx *w, void *arg)
{
	*(uint32_t *)arg = w->seg;
	return 0;
}

/* move every live record out of segment seg (recompressing as asked) */
static int compact_segment(tj_store *st, uint32_t seg, int recompress, uint64_t *moved)
{
	enum { CHUNK = 4 << 20 };
	uint32_t cur = tj_dicts_current(st->dicts);
	uint64_t after = 0;
	int rc = 0;
	for (;;) {
		tj_rtxn *r;
		if ((rc = tj_rtxn_begin(st, &r)))
			return rc;
		struct reloc_batch b = {0};
		size_t cap = 0, bytes = 0;
		MDB_cursor *c;
		if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_seglive, &c)))) {
			tj_rtxn_end(&r);
			return rc;
		}
		uint8_t sk[12];
		key_segoff(sk, seg, after);
		MDB_val k = {12, sk}, v;
		tj_buf raw = TJ_BUF_INIT, recbuf = TJ_BUF_INIT;
		int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		for (; mrc == 0 && bytes < CHUNK; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (k.mv_size != 12 || tj_get32be(k.mv_data) != seg || v.mv_size != TJ_GUID_LEN)
				break;
			uint64_t off = tj_get64be((uint8_t *)k.mv_data + 4);
			after = off + 1;
			MDB_val gv;
			loc_rec l;
			if (tj_mget(r->txn, st->db_guids, v.mv_data, TJ_GUID_LEN, &gv) || loc_rec_get(&gv, &l))
				continue;
			tj_rec rec;
			if ((rc = tj_seg_read_record(st, &l, &recbuf, &rec))) {
				char hex[33];
				tj_log(TJ_LOG_ERROR, "store", "event=compact_skip seg=%u off=%llu guid=%s error=\"%s\"",
				       seg, (unsigned long long)off, tj_guid_hex(v.mv_data, hex), tj_strerror(rc));
				rc = 0; /* leave a damaged record where it is; verify reports it */
				continue;
			}
			if (b.n == cap) {
				cap = cap ? cap * 2 : 64;
				struct reloc *ni = realloc(b.items, cap * sizeof(*ni));
				if (!ni) {
					rc = -ENOMEM;
					break;
				}
				b.items = ni;
			}
			struct reloc *x = &b.items[b.n];
			memset(x, 0, sizeof(*x));
			memcpy(x->guid, v.mv_data, TJ_GUID_LEN);
			x->old_seg = seg;
			x->old_off = off;
			x->old_len = l.stored_len;
			if (recompress && rec.dict_id != cur && cur) {
				tj_buf_reset(&raw);
				if ((rc = tj_decompress_range(st->dicts, &rec, 0, rec.raw_len, &raw)) ||
				    (rc = tj_compress_record(st->dicts, raw.data, raw.len, x->guid, &x->rec)))
					break;
			} else if ((rc = tj_buf_append(&x->rec, recbuf.data, recbuf.len))) {
				break;
			}
			b.n++;
			bytes += x->rec.len;
		}
		mdb_cursor_close(c);
		tj_rtxn_end(&r);
		tj_buf_free(&raw);
		tj_buf_free(&recbuf);
		if (!rc && b.n)
			rc = tj_store_run(st, reloc_fn, &b);
		if (!rc)
			*moved += b.moved;
		for (size_t i = 0; i < b.n; i++)
			tj_buf_free(&b.items[i].rec);
		free(b.items);
		if (rc || b.n == 0)
			break;
	}
	if (rc)
		return rc;
	struct seg_state_req q = {seg, 0};
	rc = tj_store_run(st, seg_dead_fn, &q);
	return rc == TJ_ESTATE ? 0 : rc; /* written to meanwhile: next time */
}

/* ---- tidying the change index ----
 *
 * Big STOREs leave their messages' earlier change-index entries behind
 * (store-private.h).  This pass, part of compaction, drops entries stale
 * for every UID they name and shortens range entries to their live UIDs.
 * An entry once stale for a UID stays stale (MODSEQs only grow, UIDs are
 * never reused), so a decision made on a snapshot holds at write time. */

struct tidy_item {
	uint8_t key[20];    /* the entry */
	int rewrite;        /* 0: delete it; 1: replace it by newkey -> val */
	uint8_t newkey[20]; /* keyed by its first live UID */
	tj_buf val;
};

struct tidy_batch {
	struct tidy_item *items;
	size_t n, cap;
};

static int tidy_fn(tj_wctx *w, void *arg)
{
	struct tidy_batch *b = arg;
	int rc = 0;
	for (size_t i = 0; i < b->n && !rc; i++) {
		struct tidy_item *t = &b->items[i];
		MDB_val v;
		if ((rc = tj_mget(w->txn, w->st->db_changes, t->key, 20, &v)) == TJ_ENOTFOUND) {
			rc = 0; /* gone meanwhile (mailbox deleted) */
			continue;
		}
		if (!rc)
			rc = tj_mdel(w->txn, w->st->db_changes, t->key, 20);
		if (!rc && t->rewrite)
			rc = tj_mput(w->txn, w->st->db_changes, t->newkey, 20, t->val.data, t->val.len);
	}
	return rc;
}

/* tidy_entry - what to do with one entry: 0 keep, 1 delete, 2 rewrite as *nv */
static int tidy_entry(MDB_txn *txn, tj_store *st, MDB_cursor *mc, const MDB_val *k, const MDB_val *v, tj_buf *nv,
		      int *rc_r)
{
	uint64_t mbox = tj_get64be(k->mv_data), modseq = tj_get64be((uint8_t *)k->mv_data + 8);
	if (v->mv_size == 0) {
		uint8_t mk[12];
		MDB_val mv;
		tj_msg_info m;
		key_msg(mk, mbox, tj_get32be((uint8_t *)k->mv_data + 16));
		int g = tj_mget(txn, st->db_msgs, mk, 12, &mv);
		if (g == TJ_ENOTFOUND)
			return 1;
		if (g || msg_rec_get(&mv, 0, &m)) {
			*rc_r = g;
			return 0;
		}
		return m.modseq != modseq;
	}
	/* ranges: keep the UIDs whose message still has this MODSEQ */
	tj_buf_reset(nv);
	const uint8_t *p = v->mv_data;
	uint32_t run_lo = 0, run_hi = 0;
	int in_run = 0;
	for (size_t i = 0; i + 8 <= v->mv_size; i += 8) {
		uint32_t lo = tj_get32(p + i), hi = tj_get32(p + i + 4);
		uint8_t mk[12];
		key_msg(mk, mbox, lo);
		MDB_val key = {12, mk}, mv;
		for (int mrc = mdb_cursor_get(mc, &key, &mv, MDB_SET_RANGE); mrc == 0;
		     mrc = mdb_cursor_get(mc, &key, &mv, MDB_NEXT)) {
			if (key.mv_size != 12 || tj_get64be(key.mv_data) != mbox)
				break;
			uint32_t uid = tj_get32be((uint8_t *)key.mv_data + 8);
			tj_msg_info m;
			if (uid > hi || msg_rec_get(&mv, uid, &m))
				break;
			if (m.modseq != modseq)
				continue;
			if (in_run && run_hi + 1 == uid) {
				run_hi = uid;
				continue;
			}
			if (in_run) {
				uint8_t r[8];
				tj_put32(r, run_lo);
				tj_put32(r + 4, run_hi);
				if ((*rc_r = tj_buf_append(nv, r, 8)))
					return 0;
			}
			run_lo = run_hi = uid;
			in_run = 1;
		}
	}
	if (!in_run)
		return 1;
	uint8_t r[8];
	tj_put32(r, run_lo);
	tj_put32(r + 4, run_hi);
	if ((*rc_r = tj_buf_append(nv, r, 8)))
		return 0;
	if (nv->len == v->mv_size && memcmp(nv->data, v->mv_data, nv->len) == 0)
		return 0; /* nothing stale */
	/* the key names the first live UID: a new key, so delete and put */
	return 2;
}

static int tidy_changes(tj_store *st, uint64_t *dropped_r)
{
	enum { CHUNK = 4096 };
	uint8_t after[20];
	int have_after = 0, rc = 0;
	for (;;) {
		tj_rtxn *r;
		if ((rc = tj_rtxn_begin(st, &r)))
			return rc;
		struct tidy_batch b = {0};
		MDB_cursor *c = NULL, *mc = NULL;
		size_t seen = 0;
		if (!(rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_changes, &c))) &&
		    !(rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_msgs, &mc)))) {
			MDB_val k = {20, after}, v;
			int mrc = have_after ? mdb_cursor_get(c, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(c, &k, &v, MDB_FIRST);
			if (mrc == 0 && have_after && k.mv_size == 20 && memcmp(k.mv_data, after, 20) == 0)
				mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
			tj_buf nv = TJ_BUF_INIT;
			for (; mrc == 0 && seen < CHUNK && !rc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), seen++) {
				if (k.mv_size != 20 || v.mv_size % 8)
					continue; /* verify names it */
				memcpy(after, k.mv_data, 20);
				have_after = 1;
				int what = tidy_entry(r->txn, st, mc, &k, &v, &nv, &rc);
				if (rc || what == 0)
					continue;
				if (b.n == b.cap) {
					size_t cap = b.cap ? b.cap * 2 : 64;
					struct tidy_item *ni = realloc(b.items, cap * sizeof(*ni));
					if (!ni) {
						rc = -ENOMEM;
						break;
					}
					b.items = ni;
					b.cap = cap;
				}
				struct tidy_item *t = &b.items[b.n++];
				memset(t, 0, sizeof(*t));
				memcpy(t->key, k.mv_data, 20);
				if (what == 2) {
					t->rewrite = 1;
					memcpy(t->newkey, k.mv_data, 16);
					tj_put32be(t->newkey + 16, tj_get32(nv.data));
					if (nv.len > 8 || tj_get32(nv.data) != tj_get32(nv.data + 4))
						rc = tj_buf_append(&t->val, nv.data, nv.len); /* else one UID: empty value */
				} else if (dropped_r) {
					(*dropped_r)++;
				}
			}
			tj_buf_free(&nv);
			if (!rc && mrc && mrc != MDB_NOTFOUND)
				rc = tj_from_mdb(mrc);
		}
		if (mc)
			mdb_cursor_close(mc);
		if (c)
			mdb_cursor_close(c);
		tj_rtxn_end(&r);
		if (!rc && b.n)
			rc = tj_store_run(st, tidy_fn, &b);
		for (size_t i = 0; i < b.n; i++)
			tj_buf_free(&b.items[i].val);
		free(b.items);
		if (rc || seen < CHUNK)
			return rc;
	}
}

int tj_store_compact(tj_store *st, double threshold, int recompress, uint64_t *moved_r)
{
	uint64_t moved = 0;
	int rc = 0;
	if (moved_r)
		*moved_r = 0;
	if (recompress && !tj_dicts_current(st->dicts)) {
		rc = tj_store_train_dict(st, 4000);
		if (rc && rc != TJ_EINVAL)
			return rc;
		rc = 0;
	}
	/* start a fresh active segment so every older one can be rewritten */
	uint32_t active = 0;
	if ((rc = tj_store_run(st, rotate_ask_fn, NULL)) || (rc = tj_store_run(st, active_seg_fn, &active)))
		return rc;
	uint32_t cur = tj_dicts_current(st->dicts);
	uint32_t segs[4096];
	size_t ns = 0;
	tj_rtxn *r;
	if ((rc = tj_rtxn_begin(st, &r)))
		return rc;
	MDB_cursor *c;
	MDB_val k, v;
	if ((rc = tj_from_mdb(mdb_cursor_open(r->txn, st->db_segs, &c))) == 0) {
		for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && ns < 4096;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			uint32_t id = tj_get32be(k.mv_data);
			seg_rec s;
			seg_rec_get(&v, &s);
			if (id >= active || s.state == TJ_SEG_DEAD)
				continue;
			int pick = s.end == 0 || (double)s.live < threshold * (double)s.end;
			if (!pick && recompress && cur) {
				/* any record here not compressed with the current dictionary? */
				MDB_cursor *c2;
				if (mdb_cursor_open(r->txn, st->db_seglive, &c2) == 0) {
					uint8_t sk[12];
					key_segoff(sk, id, 0);
					MDB_val k2 = {12, sk}, v2;
					for (int m2 = mdb_cursor_get(c2, &k2, &v2, MDB_SET_RANGE);
					     m2 == 0 && tj_get32be(k2.mv_data) == id && !pick;
					     m2 = mdb_cursor_get(c2, &k2, &v2, MDB_NEXT)) {
						MDB_val gv;
						loc_rec l;
						if (tj_mget(r->txn, st->db_guids, v2.mv_data, TJ_GUID_LEN, &gv) == 0 &&
						    loc_rec_get(&gv, &l) == 0 && l.dict_id != cur && l.stored_len > 256)
							pick = 1;
					}
					mdb_cursor_close(c2);
				}
			}
			if (pick)
				segs[ns++] = id;
		}
		mdb_cursor_close(c);
	}
	tj_rtxn_end(&r);
	for (size_t i = 0; i < ns && !rc; i++) {
		rc = compact_segment(st, segs[i], recompress, &moved);
		tj_log(TJ_LOG_INFO, "store", "event=segment_compacted seg=%u moved_bytes=%llu result=\"%s\"", segs[i],
		       (unsigned long long)moved, tj_strerror(rc));
	}
	uint64_t dropped = 0;
	if (!rc)
		rc = tidy_changes(st, &dropped);
	if (dropped)
		tj_log(TJ_LOG_INFO, "store", "event=change_index_tidied dropped=%llu", (unsigned long long)dropped);
	if (!rc)
		rc = reap_dead(st);
	if (moved_r)
		*moved_r = moved;
	return rc;
}

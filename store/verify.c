/*
 * verify.c - tj_store_verify (every record against its checksum, its GUID
 * and the index; every count against what it counts) and tj_store_dump (a
 * canonical text form of the mail state, for comparing two stores).
 */
#include "common/err.h"
#include "store/store-private.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- a GUID -> counters table (open addressing) ---- */

struct gent {
	uint8_t guid[TJ_GUID_LEN];
	uint32_t used; /* 0 = empty slot */
	uint32_t refs_seen;
	uint32_t refs_stored;
	uint8_t bad;
};

struct gtab {
	struct gent *e;
	size_t cap, n;
};

static struct gent *gtab_get(struct gtab *t, const uint8_t *guid, int create)
{
	if (create && (t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct gent *e = calloc(cap, sizeof(*e));
		if (!e)
			return NULL;
		for (size_t i = 0; i < t->cap; i++) {
			if (!t->e[i].used)
				continue;
			size_t h = tj_get64(t->e[i].guid) & (cap - 1);
			while (e[h].used)
				h = (h + 1) & (cap - 1);
			e[h] = t->e[i];
		}
		free(t->e);
		t->e = e;
		t->cap = cap;
	}
	if (!t->cap)
		return NULL;
	size_t h = tj_get64(guid) & (t->cap - 1);
	while (t->e[h].used) {
		if (memcmp(t->e[h].guid, guid, TJ_GUID_LEN) == 0)
			return &t->e[h];
		h = (h + 1) & (t->cap - 1);
	}
	if (!create)
		return NULL;
	memcpy(t->e[h].guid, guid, TJ_GUID_LEN);
	t->e[h].used = 1;
	t->n++;
	return &t->e[h];
}

struct vctx {
	tj_store *st;
	tj_problem_fn *fn;
	void *arg;
	unsigned problems;
};

static void problem(struct vctx *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct vctx *v, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->problems++;
	if (v->fn)
		v->fn(v->arg, buf);
}

/* a printable form of a name (names are UTF-8; keep it bounded) */
static const char *pname(tj_slice s, char *out, size_t sz)
{
	size_t n = s.len < sz - 1 ? s.len : sz - 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (s.ptr[i] < 0x20 || s.ptr[i] == 0x7f) ? '?' : (char)s.ptr[i];
	out[n] = 0;
	return out;
}

int tj_store_verify(tj_store *st, tj_problem_fn *fn, void *arg)
{
	struct vctx v = {st, fn, arg, 0};
	struct gtab gt = {0};
	tj_rtxn *r;
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	MDB_txn *txn = r->txn;
	MDB_cursor *c = NULL;
	MDB_val k, val;
	int mrc;
	tj_buf rb = TJ_BUF_INIT, raw = TJ_BUF_INIT;
	char hex[33];

	/* 1. segments: files as long as the index says */
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_segs, &c))))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		seg_rec s;
		seg_rec_get(&val, &s);
		uint32_t id = tj_get32be(k.mv_data);
		if (s.state == TJ_SEG_DEAD)
			continue;
		char path[4096];
		struct stat sb;
		tj_seg_path(st, id, path, sizeof(path));
		if (stat(path, &sb) < 0) {
			if (s.end)
				problem(&v, "segment %u: file %s missing (%s)", id, path, strerror(errno));
		} else if ((uint64_t)sb.st_size < s.end) {
			problem(&v, "segment %u: file has %lld bytes, index says %llu committed", id,
				(long long)sb.st_size, (unsigned long long)s.end);
		}
	}
	mdb_cursor_close(c);
	c = NULL;

	/* 2. every stored record: readable, checksum, GUID = hash of content */
	uint64_t *seg_live = calloc(1u << 16, sizeof(uint64_t));
	if (!seg_live) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_guids, &c)))) {
		free(seg_live);
		goto out;
	}
	for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		loc_rec l;
		struct gent *g = gtab_get(&gt, k.mv_data, 1);
		if (!g) {
			rc = -ENOMEM;
			break;
		}
		if (k.mv_size != TJ_GUID_LEN || loc_rec_get(&val, &l)) {
			problem(&v, "index: malformed location record");
			g->bad = 1;
			continue;
		}
		g->refs_stored = l.refs;
		if (l.seg < (1u << 16))
			seg_live[l.seg] += l.stored_len;
		tj_guid_hex(k.mv_data, hex);
		tj_rec rec;
		int e = tj_seg_read_record(st, &l, &rb, &rec);
		if (e) {
			g->bad = 1;
			problem(&v, "record %s at segment %u offset %llu: %s", hex, l.seg, (unsigned long long)l.off,
				e == TJ_ECORRUPT ? "checksum or format mismatch" : tj_strerror(e));
			continue;
		}
		tj_buf_reset(&raw);
		uint8_t sum[TJ_GUID_LEN];
		if ((e = tj_decompress_range(st->dicts, &rec, 0, rec.raw_len, &raw))) {
			g->bad = 1;
			problem(&v, "record %s at segment %u offset %llu: cannot decompress (%s)", hex, l.seg,
				(unsigned long long)l.off, tj_strerror(e));
			continue;
		}
		tj_guid_compute(raw.data, raw.len, sum);
		if (memcmp(sum, k.mv_data, TJ_GUID_LEN) != 0 || memcmp(rec.guid, k.mv_data, TJ_GUID_LEN) != 0) {
			g->bad = 1;
			problem(&v, "record %s at segment %u offset %llu: content does not match its GUID", hex, l.seg,
				(unsigned long long)l.off);
		}
		MDB_val lv;
		uint8_t sk[12];
		key_segoff(sk, l.seg, l.off);
		if (tj_mget(txn, st->db_seglive, sk, 12, &lv) || lv.mv_size != TJ_GUID_LEN ||
		    memcmp(lv.mv_data, k.mv_data, TJ_GUID_LEN) != 0)
			problem(&v, "record %s: segment index entry missing or wrong", hex);
	}
	mdb_cursor_close(c);
	c = NULL;
	if (rc) {
		free(seg_live);
		goto out;
	}
	/* live bytes per segment agree */
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_segs, &c)))) {
		free(seg_live);
		goto out;
	}
	for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		seg_rec s;
		seg_rec_get(&val, &s);
		uint32_t id = tj_get32be(k.mv_data);
		if (s.state != TJ_SEG_DEAD && id < (1u << 16) && s.live != seg_live[id])
			problem(&v, "segment %u: live bytes %llu recorded, %llu counted", id,
				(unsigned long long)s.live, (unsigned long long)seg_live[id]);
	}
	mdb_cursor_close(c);
	c = NULL;
	free(seg_live);

	/* 3. messages: each names a stored GUID; mailbox and user counts agree */
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_mbox, &c))))
		goto out;
	struct ucount {
		uint32_t id;
		uint64_t bytes, msgs;
	} *uc = NULL;
	size_t nuc = 0;
	for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		tj_mbox_info m;
		uint64_t id = tj_get64be(k.mv_data);
		if (mbox_rec_get(&val, id, &m)) {
			problem(&v, "mailbox %llu: malformed record", (unsigned long long)id);
			continue;
		}
		tj_user_info u;
		char un[128] = "?", mn[256];
		if (tj_store_user_get_id(r, m.user_id, &u) == 0)
			pname(u.name, un, sizeof(un));
		else
			problem(&v, "mailbox %llu: owner %u does not exist", (unsigned long long)id, m.user_id);
		pname(m.name, mn, sizeof(mn));
		uint64_t n = 0, unseen = 0, del = 0, bytes = 0, maxmod = 0;
		uint32_t maxuid = 0;
		MDB_cursor *mc;
		if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_msgs, &mc))))
			break;
		uint8_t mk[12];
		key_msg(mk, id, 0);
		MDB_val kk = {12, mk}, vv;
		for (int m2 = mdb_cursor_get(mc, &kk, &vv, MDB_SET_RANGE); m2 == 0 && tj_get64be(kk.mv_data) == id;
		     m2 = mdb_cursor_get(mc, &kk, &vv, MDB_NEXT)) {
			tj_msg_info msg;
			uint32_t uid = tj_get32be((uint8_t *)kk.mv_data + 8);
			if (msg_rec_get(&vv, uid, &msg)) {
				problem(&v, "user %s mailbox %s uid %u: malformed message record", un, mn, uid);
				continue;
			}
			n++;
			bytes += msg.raw_size;
			unseen += !(msg.sys_flags & TJ_F_SEEN);
			del += !!(msg.sys_flags & TJ_F_DELETED);
			if (uid > maxuid)
				maxuid = uid;
			if (msg.modseq > maxmod)
				maxmod = msg.modseq;
			struct gent *g = gtab_get(&gt, msg.guid, 0);
			tj_guid_hex(msg.guid, hex);
			if (!g)
				problem(&v, "user %s mailbox %s uid %u: message %s is not stored", un, mn, uid, hex);
			else {
				g->refs_seen++;
				if (g->bad)
					problem(&v, "user %s mailbox %s uid %u: message %s is damaged", un, mn, uid, hex);
			}
			if (!changes_covers(txn, st->db_changes, id, msg.modseq, uid))
				problem(&v, "user %s mailbox %s uid %u: missing from the MODSEQ index", un, mn, uid);
		}
		mdb_cursor_close(mc);
		if (n != m.messages || unseen != m.unseen || del != m.deleted || bytes != m.bytes)
			problem(&v,
				"user %s mailbox %s: counts recorded messages=%u unseen=%u deleted=%u bytes=%llu, "
				"counted %llu/%llu/%llu/%llu",
				un, mn, m.messages, m.unseen, m.deleted, (unsigned long long)m.bytes,
				(unsigned long long)n, (unsigned long long)unseen, (unsigned long long)del,
				(unsigned long long)bytes);
		if (maxuid >= m.uidnext)
			problem(&v, "user %s mailbox %s: uid %u >= UIDNEXT %u", un, mn, maxuid, m.uidnext);
		if (maxmod > m.highestmodseq)
			problem(&v, "user %s mailbox %s: MODSEQ %llu > HIGHESTMODSEQ %llu", un, mn,
				(unsigned long long)maxmod, (unsigned long long)m.highestmodseq);
		size_t j;
		for (j = 0; j < nuc && uc[j].id != m.user_id; j++)
			;
		if (j == nuc) {
			struct ucount *nu = realloc(uc, (nuc + 1) * sizeof(*uc));
			if (!nu) {
				rc = -ENOMEM;
				break;
			}
			uc = nu;
			uc[nuc++] = (struct ucount){m.user_id, 0, 0};
		}
		uc[j].bytes += bytes;
		uc[j].msgs += n;
	}
	mdb_cursor_close(c);
	c = NULL;
	for (size_t j = 0; !rc && j < nuc; j++) {
		tj_user_info u;
		char un[128];
		if (tj_store_user_get_id(r, uc[j].id, &u) == 0 && (u.used_bytes != uc[j].bytes || u.used_msgs != uc[j].msgs))
			problem(&v, "user %s: usage recorded %llu bytes/%u messages, counted %llu/%llu",
				pname(u.name, un, sizeof(un)), (unsigned long long)u.used_bytes, u.used_msgs,
				(unsigned long long)uc[j].bytes, (unsigned long long)uc[j].msgs);
	}
	free(uc);
	if (rc)
		goto out;

	/* 4. the op log's APPENDs hold references too */
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_oplog, &c))))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
		tj_op op;
		int e = tj_op_decode(val.mv_data, val.mv_size, &op);
		if (e) {
			problem(&v, "op log entry %llu: %s", (unsigned long long)tj_get64be(k.mv_data), tj_strerror(e));
			continue;
		}
		if (op.type == TJ_OP_APPEND) {
			struct gent *g = gtab_get(&gt, op.guid, 0);
			if (g)
				g->refs_seen++;
			else
				problem(&v, "op log entry %llu: message %s is not stored",
					(unsigned long long)tj_get64be(k.mv_data), tj_guid_hex(op.guid, hex));
		}
		tj_op_clear(&op);
	}
	mdb_cursor_close(c);
	c = NULL;
	/* 4b. so do the references EXPUNGE queued for later */
	if (st->has_unref) {
		if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_unref, &c))))
			goto out;
		for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0;
		     mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT)) {
			if (val.mv_size % TJ_GUID_LEN) {
				problem(&v, "unref queue entry %llu: malformed", (unsigned long long)tj_get64be(k.mv_data));
				continue;
			}
			for (size_t i = 0; i < val.mv_size; i += TJ_GUID_LEN) {
				struct gent *g = gtab_get(&gt, (const uint8_t *)val.mv_data + i, 0);
				if (g)
					g->refs_seen++;
				else
					problem(&v, "unref queue entry %llu: message %s is not stored",
						(unsigned long long)tj_get64be(k.mv_data),
						tj_guid_hex((const uint8_t *)val.mv_data + i, hex));
			}
		}
		mdb_cursor_close(c);
		c = NULL;
	}
	/* 5. cache blobs belong to stored messages */
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_cache, &c))))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &val, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &val, MDB_NEXT))
		if (k.mv_size != TJ_GUID_LEN || !gtab_get(&gt, k.mv_data, 0))
			problem(&v, "cache entry for a message that is not stored");
	mdb_cursor_close(c);
	c = NULL;
	for (size_t i = 0; i < gt.cap; i++) {
		struct gent *g = &gt.e[i];
		if (g->used && g->refs_seen != g->refs_stored)
			problem(&v, "message %s: %u references recorded, %u found", tj_guid_hex(g->guid, hex),
				g->refs_stored, g->refs_seen);
	}
out:
	if (c)
		mdb_cursor_close(c);
	tj_rtxn_end(&r);
	tj_buf_free(&rb);
	tj_buf_free(&raw);
	free(gt.e);
	if (rc)
		return rc;
	return v.problems ? 1 : 0;
}

/* ---- dump ---- */

struct dctx {
	tj_rtxn *r;
	tj_buf *out;
	const tj_mbox_info *mb;
};

static int dump_msg(void *arg, const tj_msg_info *m)
{
	struct dctx *d = arg;
	char hex[33];
	int rc = tj_buf_printf(d->out, "    msg uid=%u modseq=%" PRIu64 " flags=%02x date=%" PRId64 " size=%u guid=%s kw=",
			       m->uid, m->modseq, m->sys_flags, m->internal_date, m->raw_size, tj_guid_hex(m->guid, hex));
	for (uint32_t i = 0; !rc && i < d->mb->nkeywords; i++)
		if (m->keywords & (1ULL << i))
			rc = tj_buf_printf(d->out, "%.*s,", (int)d->mb->keywords[i].len, d->mb->keywords[i].ptr);
	return rc ? rc : tj_buf_putc(d->out, '\n');
}

static int dump_mbox(void *arg, const tj_mbox_info *m)
{
	struct dctx *d = arg;
	int rc = tj_buf_printf(d->out,
			       "  mailbox \"%.*s\" id=%" PRIu64 " uidvalidity=%u uidnext=%u highestmodseq=%" PRIu64
			       " messages=%u unseen=%u deleted=%u bytes=%" PRIu64 " special=%x\n",
			       (int)m->name.len, m->name.ptr, m->id, m->uidvalidity, m->uidnext, m->highestmodseq,
			       m->messages, m->unseen, m->deleted, m->bytes, m->special_use);
	if (rc)
		return rc;
	struct dctx d2 = {d->r, d->out, m};
	return tj_store_msgs(d->r, m->id, 1, UINT32_MAX, dump_msg, &d2);
}

static int dump_sub(void *arg, tj_slice name)
{
	struct dctx *d = arg;
	return tj_buf_printf(d->out, "  subscribed \"%.*s\"\n", (int)name.len, name.ptr);
}

static int dump_user(void *arg, const tj_user_info *u)
{
	struct dctx *d = arg;
	int rc = tj_buf_printf(d->out,
			       "user %.*s id=%u state=%u source=%u quota_base=%" PRIu64 " quota_bytes=%" PRIu64
			       " quota_msgs=%u used_bytes=%" PRIu64 " used_msgs=%u\n",
			       (int)u->name.len, u->name.ptr, u->id, u->state, u->source, u->quota_base, u->quota_bytes,
			       u->quota_msgs, u->used_bytes, u->used_msgs);
	if (!rc)
		rc = tj_store_mboxes(d->r, u->id, dump_mbox, d);
	if (!rc)
		rc = tj_store_subscriptions(d->r, u->id, dump_sub, d);
	return rc;
}

int tj_store_dump(tj_store *st, tj_buf *out)
{
	tj_rtxn *r;
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	struct dctx d = {r, out, NULL};
	rc = tj_store_users(r, dump_user, &d);
	tj_rtxn_end(&r);
	return rc;
}

/*
 * index.c - byte layouts of the LMDB records and keys (see store-private.h)
 * and thin LMDB wrappers returning tjstore error codes.
 */
#include "common/err.h"
#include "store/store-private.h"

#include <endian.h>
#include <string.h>

int tj_mget(MDB_txn *t, MDB_dbi d, const void *k, size_t klen, MDB_val *v)
{
	MDB_val key = {klen, (void *)k};
	int rc = mdb_get(t, d, &key, v);
	return rc == MDB_NOTFOUND ? TJ_ENOTFOUND : tj_from_mdb(rc);
}

int tj_mput(MDB_txn *t, MDB_dbi d, const void *k, size_t klen, const void *v, size_t vlen)
{
	MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
	return tj_from_mdb(mdb_put(t, d, &key, &val, 0));
}

int tj_mdel(MDB_txn *t, MDB_dbi d, const void *k, size_t klen)
{
	MDB_val key = {klen, (void *)k};
	int rc = mdb_del(t, d, &key, NULL);
	return rc == MDB_NOTFOUND ? TJ_ENOTFOUND : tj_from_mdb(rc);
}

void key_u32(uint8_t k[4], uint32_t a) { tj_put32be(k, a); }
void key_u64(uint8_t k[8], uint64_t a) { tj_put64be(k, a); }
void key_msg(uint8_t k[12], uint64_t mbox, uint32_t uid) { tj_put64be(k, mbox); tj_put32be(k + 8, uid); }
void key_mod(uint8_t k[20], uint64_t mbox, uint64_t modseq, uint32_t uid)
{
	tj_put64be(k, mbox);
	tj_put64be(k + 8, modseq);
	tj_put32be(k + 16, uid);
}
void key_segoff(uint8_t k[12], uint32_t seg, uint64_t off) { tj_put32be(k, seg); tj_put64be(k + 4, off); }

void seg_rec_get(const MDB_val *v, seg_rec *s)
{
	memset(s, 0, sizeof(*s));
	if (v->mv_size < 32)
		return;
	const uint8_t *p = v->mv_data;
	s->end = tj_get64(p);
	s->live = tj_get64(p + 8);
	s->state = tj_get32(p + 16);
	s->dead_txn = tj_get64(p + 24);
}

void seg_rec_put(uint8_t out[32], const seg_rec *s)
{
	memset(out, 0, 32);
	tj_put64(out, s->end);
	tj_put64(out + 8, s->live);
	tj_put32(out + 16, s->state);
	tj_put64(out + 24, s->dead_txn);
}

int loc_rec_get(const MDB_val *v, loc_rec *l)
{
	if (v->mv_size < 32)
		return TJ_ECORRUPT;
	const uint8_t *p = v->mv_data;
	l->seg = tj_get32(p);
	l->stored_len = tj_get32(p + 4);
	l->off = tj_get64(p + 8);
	l->raw_len = tj_get32(p + 16);
	l->refs = tj_get32(p + 20);
	l->dict_id = tj_get32(p + 24);
	return 0;
}

void loc_rec_put(uint8_t out[32], const loc_rec *l)
{
	memset(out, 0, 32);
	tj_put32(out, l->seg);
	tj_put32(out + 4, l->stored_len);
	tj_put64(out + 8, l->off);
	tj_put32(out + 16, l->raw_len);
	tj_put32(out + 20, l->refs);
	tj_put32(out + 24, l->dict_id);
}

/* user: u8 ver, u8 state, u16 namelen, u32 quota_msgs, u64 quota_bytes,
 *       u64 used_bytes, u32 used_msgs, u32 next_mbox, u8 source, 7 reserved,
 *       u64 quota_base, name */
#define USER_REC_FIXED 48
int user_rec_get(const MDB_val *v, uint32_t id, tj_user_info *u)
{
	const uint8_t *p = v->mv_data;
	if (v->mv_size < USER_REC_FIXED || v->mv_size < USER_REC_FIXED + (size_t)tj_get16(p + 2))
		return TJ_ECORRUPT;
	memset(u, 0, sizeof(*u));
	u->id = id;
	u->state = p[1];
	u->quota_msgs = tj_get32(p + 4);
	u->quota_bytes = tj_get64(p + 8);
	u->used_bytes = tj_get64(p + 16);
	u->used_msgs = tj_get32(p + 24);
	u->source = p[32];
	u->quota_base = tj_get64(p + 40);
	u->name.ptr = p + USER_REC_FIXED;
	u->name.len = tj_get16(p + 2);
	return 0;
}

uint32_t user_rec_next_mbox(const MDB_val *v)
{
	return v->mv_size >= USER_REC_FIXED ? tj_get32((const uint8_t *)v->mv_data + 28) : 1;
}

int user_rec_put(tj_buf *out, const tj_user_info *u, uint32_t next_mbox)
{
	uint8_t p[USER_REC_FIXED] = {1, u->state};
	tj_put16(p + 2, (uint16_t)u->name.len);
	tj_put32(p + 4, u->quota_msgs);
	tj_put64(p + 8, u->quota_bytes);
	tj_put64(p + 16, u->used_bytes);
	tj_put32(p + 24, u->used_msgs);
	tj_put32(p + 28, next_mbox);
	p[32] = u->source;
	tj_put64(p + 40, u->quota_base);
	tj_buf_reset(out);
	int rc = tj_buf_append(out, p, USER_REC_FIXED);
	return rc ? rc : tj_buf_append(out, u->name.ptr, u->name.len);
}

/* mailbox: u32 user, u32 uidvalidity, u32 uidnext, u32 special_use,
 *          u64 highestmodseq, u32 messages, u32 unseen, u32 deleted,
 *          u32 reserved, u64 bytes, u16 namelen, u16 nkw, name,
 *          nkw x (u8 len, bytes) */
int mbox_rec_get(const MDB_val *v, uint64_t id, tj_mbox_info *m)
{
	const uint8_t *p = v->mv_data, *end = p + v->mv_size;
	if (v->mv_size < 52)
		return TJ_ECORRUPT;
	m->id = id;
	m->user_id = tj_get32(p);
	m->uidvalidity = tj_get32(p + 4);
	m->uidnext = tj_get32(p + 8);
	m->special_use = tj_get32(p + 12);
	m->highestmodseq = tj_get64(p + 16);
	m->messages = tj_get32(p + 24);
	m->unseen = tj_get32(p + 28);
	m->deleted = tj_get32(p + 32);
	m->bytes = tj_get64(p + 40);
	uint16_t nl = tj_get16(p + 48), nkw = tj_get16(p + 50);
	if (nkw > TJ_OP_MAX_KEYWORDS || (size_t)(end - (p + 52)) < nl)
		return TJ_ECORRUPT;
	m->name.ptr = p + 52;
	m->name.len = nl;
	const uint8_t *q = p + 52 + nl;
	m->nkeywords = nkw;
	for (uint16_t i = 0; i < nkw; i++) {
		if (q >= end || (size_t)(end - q - 1) < *q)
			return TJ_ECORRUPT;
		m->keywords[i].len = *q;
		m->keywords[i].ptr = q + 1;
		q += 1 + *q;
	}
	return 0;
}

int mbox_rec_put(tj_buf *out, const tj_mbox_info *m)
{
	uint8_t p[52] = {0};
	tj_put32(p, m->user_id);
	tj_put32(p + 4, m->uidvalidity);
	tj_put32(p + 8, m->uidnext);
	tj_put32(p + 12, m->special_use);
	tj_put64(p + 16, m->highestmodseq);
	tj_put32(p + 24, m->messages);
	tj_put32(p + 28, m->unseen);
	tj_put32(p + 32, m->deleted);
	tj_put64(p + 40, m->bytes);
	tj_put16(p + 48, (uint16_t)m->name.len);
	tj_put16(p + 50, (uint16_t)m->nkeywords);
	tj_buf_reset(out);
	int rc = tj_buf_append(out, p, sizeof(p));
	if (!rc)
		rc = tj_buf_append(out, m->name.ptr, m->name.len);
	for (uint32_t i = 0; !rc && i < m->nkeywords; i++) {
		if (!(rc = tj_buf_putc(out, (uint8_t)m->keywords[i].len)))
			rc = tj_buf_append(out, m->keywords[i].ptr, m->keywords[i].len);
	}
	return rc;
}

/* message: guid[16], u64 modseq, i64 internal_date, u32 raw_size,
 *          u32 sys_flags, u64 keyword bits */
/* le64 / le32 - the little-endian fields of a message record, read whole
 * (read per message by every FETCH, STORE and SEARCH) */
static inline uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return le64toh(v);
}

static inline uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return le32toh(v);
}

int msg_rec_get(const MDB_val *v, uint32_t uid, tj_msg_info *m)
{
	if (v->mv_size < 48)
		return TJ_ECORRUPT;
	const uint8_t *p = v->mv_data;
	m->uid = uid;
	memcpy(m->guid, p, TJ_GUID_LEN);
	m->modseq = le64(p + 16);
	m->internal_date = (int64_t)le64(p + 24);
	m->raw_size = le32(p + 32);
	m->sys_flags = le32(p + 36);
	m->keywords = le64(p + 40);
	return 0;
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

void msg_rec_put(uint8_t out[48], const tj_msg_info *m)
{
	memcpy(out, m->guid, TJ_GUID_LEN);
	put_le64(out + 16, m->modseq);
	put_le64(out + 24, (uint64_t)m->internal_date);
	put_le32(out + 32, m->raw_size);
	put_le32(out + 36, m->sys_flags);
	put_le64(out + 40, m->keywords);
}

int changes_covers(MDB_txn *t, MDB_dbi d, uint64_t mbox, uint64_t modseq, uint32_t uid)
{
	uint8_t ck[20];
	key_mod(ck, mbox, modseq, uid);
	MDB_cursor *c;
	if (mdb_cursor_open(t, d, &c))
		return 0;
	MDB_val k = {20, ck}, v;
	int mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	int found = 0;
	if (mrc == 0 && k.mv_size == 20 && memcmp(k.mv_data, ck, 20) == 0) {
		found = v.mv_size == 0 || (v.mv_size >= 8 && tj_get32(v.mv_data) == uid);
	} else {
		/* the entry before: same mailbox and MODSEQ, ranges holding uid */
		mrc = mdb_cursor_get(c, &k, &v, mrc == MDB_NOTFOUND ? MDB_LAST : MDB_PREV);
		if (mrc == 0 && k.mv_size == 20 && memcmp(k.mv_data, ck, 16) == 0 && v.mv_size % 8 == 0)
			for (size_t i = 0; i < v.mv_size && !found; i += 8)
				found = tj_get32((uint8_t *)v.mv_data + i) <= uid && uid <= tj_get32((uint8_t *)v.mv_data + i + 4);
	}
	mdb_cursor_close(c);
	return found;
}

/*
 * imap-util.c - helpers shared by the command handlers: UID lists and
 * message-set resolution, flag bit conversion, mailbox name encoding, and
 * the parse-once MIME cache.
 */
#include "node/imap/imap-private.h"
#include "node/imap/imap-cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-mailbox.h"
#include "protocol/imap/imap-utf7.h"
#include "protocol/imap/imap-write.h"
#include "protocol/mime/mime.h"

int imap_uids_add(struct imap_uids *u, uint32_t uid)
{
	if (u->n == u->cap) {
		size_t cap = u->cap ? u->cap * 2 : 64;
		uint32_t *v = realloc(u->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		u->v = v;
		u->cap = cap;
	}
	u->v[u->n++] = uid;
	return 0;
}

void imap_uids_free(struct imap_uids *u)
{
	free(u->v);
	memset(u, 0, sizeof(*u));
}

/* lower_bound - first index with v[i] >= x */
static size_t lower_bound(const uint32_t *v, size_t n, uint32_t x)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

long imap_uids_find(const struct imap_uids *u, uint32_t uid)
{
	size_t i = lower_bound(u->v, u->n, uid);
	return i < u->n && u->v[i] == uid ? (long)i : -1;
}

int imap_uids_to_ranges(const uint32_t *v, size_t n, tj_range **r_r, uint32_t *n_r)
{
	tj_range *r = malloc((n ? n : 1) * sizeof(*r));
	if (!r)
		return -ENOMEM;
	uint32_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && r[k - 1].hi + 1 == v[i])
			r[k - 1].hi = v[i];
		else if (!k || v[i] > r[k - 1].hi)
			r[k++] = (tj_range){v[i], v[i]};
	}
	*r_r = r;
	*n_r = k;
	return 0;
}

void imap_write_uids(tj_buf *b, const uint32_t *v, size_t n)
{
	imap_write_seqset(b, v, n);
}

int imap_sel_resolve(imap_session *s, const struct imap_seqset *set, bool uid, struct imap_uids *idx_r,
		     bool *bad_r)
{
	struct imap_seqset res = IMAP_SEQSET_INIT;
	size_t n = s->uids.n;
	*bad_r = false;
	idx_r->n = 0;
	if (!uid && imap_seqset_highest(set) > n) {
		*bad_r = true;
		return 0;
	}
	uint32_t max = uid ? (n ? s->uids.v[n - 1] : 0) : (uint32_t)n;
	if (max == 0)
		return 0;
	int rc = imap_seqset_resolve(set, max, &res);
	for (size_t i = 0; !rc && i < res.count; i++) {
		if (uid) {
			for (size_t k = lower_bound(s->uids.v, n, res.r[i].lo); !rc && k < n && s->uids.v[k] <= res.r[i].hi; k++)
				rc = imap_uids_add(idx_r, (uint32_t)k);
		} else {
			for (uint64_t q = res.r[i].lo; !rc && q <= res.r[i].hi; q++)
				rc = imap_uids_add(idx_r, (uint32_t)(q - 1));
		}
	}
	imap_seqset_free(&res);
	return rc;
}

int imap_uids_at(imap_session *s, const struct imap_uids *idx, uint32_t **uids_r)
{
	*uids_r = NULL;
	if (idx->n == 0)
		return 0;
	uint32_t *v = malloc(idx->n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < idx->n; i++)
		v[i] = s->uids.v[idx->v[i]];
	*uids_r = v;
	return 0;
}

static const struct {
	uint32_t imap, store;
} flag_map[] = {
	{IMAP_FLAG_ANSWERED, TJ_F_ANSWERED}, {IMAP_FLAG_FLAGGED, TJ_F_FLAGGED}, {IMAP_FLAG_DELETED, TJ_F_DELETED},
	{IMAP_FLAG_SEEN, TJ_F_SEEN},         {IMAP_FLAG_DRAFT, TJ_F_DRAFT},
};

uint32_t imap_flags_to_store(uint32_t imap_bits)
{
	uint32_t r = 0;
	for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++)
		if (imap_bits & flag_map[i].imap)
			r |= flag_map[i].store;
	return r;
}

uint32_t imap_flags_from_store(uint32_t store_bits)
{
	uint32_t r = 0;
	for (size_t i = 0; i < sizeof(flag_map) / sizeof(flag_map[0]); i++)
		if (store_bits & flag_map[i].store)
			r |= flag_map[i].imap;
	return r;
}

/* in-place writers for a line whose room is reserved */
static char *put_num(char *p, uint64_t v)
{
	char t[20];
	size_t n = 0;
	do {
		t[sizeof(t) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	memcpy(p, t + sizeof(t) - n, n);
	return p + n;
}

int imap_put_num(tj_buf *b, uint64_t v)
{
	char t[20];
	return tj_buf_append(b, t, (size_t)(put_num(t, v) - t));
}

static char *put_str(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_sysflags(char *p, uint32_t f)
{
	static const struct {
		uint32_t bit;
		const char *name;
		size_t len;
	} sys[] = {
		{TJ_F_ANSWERED, "\\Answered", 9}, {TJ_F_FLAGGED, "\\Flagged", 8}, {TJ_F_DELETED, "\\Deleted", 8},
		{TJ_F_SEEN, "\\Seen", 5},         {TJ_F_DRAFT, "\\Draft", 6},
	};
	char *start = p;
	for (size_t i = 0; i < sizeof(sys) / sizeof(sys[0]); i++) {
		if (!(f & sys[i].bit))
			continue;
		if (p > start)
			*p++ = ' ';
		p = put_str(p, sys[i].name, sys[i].len);
	}
	return p;
}

int imap_write_msg_flags(tj_buf *b, const tj_mbox_info *mb, const tj_msg_info *m)
{
	/* the order of imap_write_flags: system flags, then keywords */
	char tmp[64], *p = tmp;
	*p++ = '(';
	p = put_sysflags(p, m->sys_flags);
	int rc = 0;
	if (m->keywords) {
		bool sp = p > tmp + 1;
		rc = tj_buf_append(b, tmp, (size_t)(p - tmp));
		p = tmp;
		for (uint32_t i = 0; rc == 0 && i < mb->nkeywords && i < 64; i++) {
			if (!(m->keywords & (1ULL << i)))
				continue;
			size_t len = mb->keywords[i].len < TJ_OP_MAX_KEYWORD ? mb->keywords[i].len : TJ_OP_MAX_KEYWORD;
			if ((!sp || (rc = tj_buf_putc(b, ' ')) == 0))
				rc = tj_buf_append(b, mb->keywords[i].ptr, len);
			sp = true;
		}
	}
	*p++ = ')';
	return rc ? rc : tj_buf_append(b, tmp, (size_t)(p - tmp));
}

int imap_out_room(imap_session *s, size_t n)
{
	tj_buf *b = &s->out;
	size_t old = b->cap;
	int rc = tj_buf_reserve(b, n);
	if (rc || b->cap == old || b->cap < (256u << 10))
		return rc;
	/* the new part of a big buffer: its pages in one call, not one page
	 * fault each (tens of microseconds apiece on a VM); best effort */
	long pg = sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)b->data + b->len + (uintptr_t)pg - 1) & ~((uintptr_t)pg - 1);
	uintptr_t hi = ((uintptr_t)b->data + b->cap) & ~((uintptr_t)pg - 1);
	if (hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	return 0;
}

void imap_fetch_head(imap_session *s, uint32_t seq, bool with_uid, const tj_mbox_info *flags_mb, const tj_msg_info *m)
{
	enum { ROOM = 128 }; /* "* n FETCH (UID n FLAGS (" and every system flag */
	tj_buf *b = &s->out;
	if (imap_out_room(s, ROOM)) {
		s->out_err = true;
		return;
	}
	char *p0 = (char *)b->data + b->len, *p = p0;
	p = put_str(p, "* ", 2);
	p = put_num(p, seq);
	p = put_str(p, " FETCH (", 8);
	if (with_uid) {
		p = put_str(p, "UID ", 4);
		p = put_num(p, m->uid);
	}
	bool kw = flags_mb && m->keywords;
	if (flags_mb) {
		if (with_uid)
			*p++ = ' ';
		p = put_str(p, "FLAGS ", 6);
		if (!kw) {
			*p++ = '(';
			p = put_sysflags(p, m->sys_flags);
			*p++ = ')';
		}
	}
	b->len += (size_t)(p - p0);
	b->data[b->len] = 0;
	if (kw && imap_write_msg_flags(b, flags_mb, m)) /* keywords: names of any length */
		s->out_err = true;
}

void imap_fetch_begin(imap_session *s, uint32_t seq)
{
	imap_fetch_head(s, seq, false, NULL, NULL);
}

void imap_flags_line(imap_session *s, uint32_t seq, bool with_uid, const tj_mbox_info *mb, const tj_msg_info *m,
		     bool with_modseq)
{
	imap_fetch_head(s, seq, with_uid, mb, m);
	tj_buf *b = &s->out;
	if (imap_out_room(s, 40)) {
		s->out_err = true;
		return;
	}
	char *p0 = (char *)b->data + b->len, *p = p0;
	if (with_modseq) {
		p = put_str(p, " MODSEQ (", 9);
		p = put_num(p, m->modseq);
		*p++ = ')';
	}
	p = put_str(p, ")\r\n", 3);
	b->len += (size_t)(p - p0);
	b->data[b->len] = 0;
}

int imap_find_target(imap_session *s, const struct imap_command *cmd, const char *wire, size_t len, tj_buf *name_r,
		     tj_mbox_info *mb_r)
{
	if (imap_mbox_decode(wire, len, name_r)) {
		imap_tagged(s, cmd, "NO", "[CANNOT] Invalid mailbox name.");
		return 1;
	}
	tj_rtxn *r;
	int rc = tj_rtxn_begin(s->cfg.store, &r);
	if (rc)
		return rc;
	rc = tj_store_mbox_find(r, s->user_id, (char *)name_r->data, mb_r);
	tj_rtxn_end(&r);
	if (rc == TJ_ENOTFOUND) {
		imap_tagged(s, cmd, "NO", "[TRYCREATE] No such mailbox.");
		return 1;
	}
	return rc;
}

int imap_mbox_decode(const char *wire, size_t len, tj_buf *out)
{
	tj_buf_reset(out);
	while (len > 1 && wire[len - 1] == IMAP_MAILBOX_DELIM)
		len--;
	if (imap_mailbox_is_inbox(wire, len))
		return tj_buf_puts(out, "INBOX");
	if (len >= 6 && imap_mailbox_is_inbox(wire, 5) && wire[5] == IMAP_MAILBOX_DELIM) {
		/* INBOX/child: the INBOX component in its canonical case */
		if (tj_buf_puts(out, "INBOX"))
			return -ENOMEM;
		wire += 5;
		len -= 5;
	}
	int rc = imap_utf7_to_utf8(wire, len, out);
	if (rc)
		return rc;
	return tj_store_valid_mbox_name((const char *)out->data, out->len);
}

void imap_mbox_write(tj_buf *b, const uint8_t *name, size_t len)
{
	tj_buf enc = TJ_BUF_INIT;
	if (imap_utf8_to_utf7((const char *)name, len, &enc) == 0)
		imap_write_astring(b, enc.data, enc.len, 0);
	else
		imap_write_astring(b, name, len, 0);
	tj_buf_free(&enc);
}

int imap_get_mime(imap_session *s, tj_rtxn *r, const uint8_t guid[TJ_GUID_LEN], struct tj_mime_msg **msg_r,
		  tj_buf *raw_r)
{
	tj_slice blob;
	struct imap_cache_view cv;
	int rc = tj_store_cache_get(r, guid, &blob);
	if (rc == 0 && imap_cache_open(blob.ptr, blob.len, &cv) == 0 &&
	    tj_mime_deserialize(cv.mime.ptr, cv.mime.len, msg_r) == 0) {
		if (raw_r) {
			tj_buf_reset(raw_r);
			return tj_store_read(r, guid, 0, SIZE_MAX, raw_r);
		}
		return 0;
	}
	if (rc && rc != TJ_ENOTFOUND)
		return rc;
	/* not cached (imported mail) or stale: parse once and cache */
	tj_buf raw = TJ_BUF_INIT, ser = TJ_BUF_INIT;
	tj_buf *rb = raw_r ? raw_r : &raw;
	tj_buf_reset(rb);
	rc = tj_store_read(r, guid, 0, SIZE_MAX, rb);
	if (!rc)
		rc = imap_cache_build(rb->data ? rb->data : (const uint8_t *)"", rb->len, &ser, msg_r);
	if (!rc)
		(void)tj_store_cache_put(s->cfg.store, guid, ser.data, ser.len); /* best effort */
	tj_buf_free(&raw);
	tj_buf_free(&ser);
	return rc;
}

/*
 * imap-util.c - helpers shared by the command handlers: UID lists and
 * message-set resolution, flag bit conversion, mailbox name encoding, and
 * the parse-once MIME cache.
 */
#include "node/imap/imap-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

void imap_write_msg_flags(tj_buf *b, const tj_mbox_info *mb, const tj_msg_info *m)
{
	/* keyword names are slices; imap_write_flags wants C strings */
	char names[TJ_OP_MAX_KEYWORDS][TJ_OP_MAX_KEYWORD + 1];
	const char *kw[TJ_OP_MAX_KEYWORDS];
	size_t n = 0;
	for (uint32_t i = 0; i < mb->nkeywords && i < 64; i++) {
		if (!(m->keywords & (1ULL << i)))
			continue;
		size_t len = mb->keywords[i].len < TJ_OP_MAX_KEYWORD ? mb->keywords[i].len : TJ_OP_MAX_KEYWORD;
		memcpy(names[n], mb->keywords[i].ptr, len);
		names[n][len] = 0;
		kw[n] = names[n];
		n++;
	}
	imap_write_flags(b, imap_flags_from_store(m->sys_flags), kw, n);
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
	int rc = tj_store_cache_get(r, guid, &blob);
	if (rc == 0 && tj_mime_deserialize(blob.ptr, blob.len, msg_r) == 0) {
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
		rc = tj_mime_parse(rb->data, rb->len, msg_r);
	if (!rc && tj_mime_serialize(*msg_r, &ser) == 0)
		(void)tj_store_cache_put(s->cfg.store, guid, ser.data, ser.len); /* best effort */
	tj_buf_free(&raw);
	tj_buf_free(&ser);
	return rc;
}

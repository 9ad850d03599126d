/*
 * cmd-search.c - SEARCH and UID SEARCH: every RFC 3501 key, MODSEQ
 * (CONDSTORE), CHARSET US-ASCII/UTF-8 and ESEARCH RETURN (MIN MAX COUNT ALL).
 *
 * The parser gives a tree of keys; each message is tested against it with
 * its data loaded lazily: flags, dates and sizes from the index and the
 * MIME cache, text keys from the MIME module's decoded search text
 * (RFC 2047 words and transfer encodings undone, charsets converted,
 * case folded), read only when a text key is reached.
 */
#include "node/imap/imap-private.h"
#include "node/imap/imap-cache.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "protocol/imap/imap-date.h"
#include "protocol/imap/imap-search.h"
#include "protocol/imap/imap-write.h"
#include "protocol/mime/mime.h"

#define SECS_PER_DAY 86400
#define SEARCH_UPGRADE_MAX 5000 /* older cache blobs given search fields per SEARCH */

struct eval {
	imap_session *s;
	tj_rtxn *r;
	const tj_mbox_info *mb;
	const tj_msg_info *m;
	uint32_t seq, max_seq, max_uid;
	struct tj_mime_msg *mime;
	tj_buf raw, hdr, body, all;
	bool raw_ok, hdr_ok, body_ok, all_ok;
	/* the message's cache blob, when it has the decoded header fields */
	struct imap_cache_view cv;
	bool cv_tried, cv_ok;
	/* header keys' strings case-folded once, by index in the key pool */
	const struct imap_search_key *pool;
	tj_buf *folded;
	/* older blobs given their search fields here, stored after the search */
	uint8_t (*up_guid)[TJ_GUID_LEN];
	tj_buf *up_blob;
	size_t up_n, up_cap;
	int err;
};

static void eval_reset(struct eval *e)
{
	tj_mime_free(&e->mime);
	e->raw_ok = e->hdr_ok = e->body_ok = e->all_ok = false;
	e->cv_tried = e->cv_ok = false;
}

static bool raw_headers(struct eval *e, const uint8_t **p_r, size_t *len_r);

/* upgrade - an older blob (no search fields): make the new one from the
 * header block, use it now and keep it for storing after the search */
static bool upgrade(struct eval *e)
{
	const uint8_t *hp;
	size_t hl;
	if (e->up_n == SEARCH_UPGRADE_MAX || !raw_headers(e, &hp, &hl))
		return false;
	if (e->up_n == e->up_cap) {
		size_t cap = e->up_cap ? e->up_cap * 2 : 64;
		void *g = realloc(e->up_guid, cap * sizeof(*e->up_guid));
		if (g)
			e->up_guid = g;
		void *b = realloc(e->up_blob, cap * sizeof(*e->up_blob));
		if (b)
			e->up_blob = b;
		if (!g || !b)
			return false;
		e->up_cap = cap;
	}
	tj_buf *nb = &e->up_blob[e->up_n];
	*nb = (tj_buf)TJ_BUF_INIT;
	if (imap_cache_upgrade(hp, hl, e->cv.mime, nb) || imap_cache_open(nb->data, nb->len, &e->cv) ||
	    !e->cv.has_fields) {
		tj_buf_free(nb);
		return false;
	}
	memcpy(e->up_guid[e->up_n++], e->m->guid, TJ_GUID_LEN);
	return true;
}

/* cache_fields - the message's decoded header fields are at hand (e->cv) */
static bool cache_fields(struct eval *e)
{
	if (!e->cv_tried) {
		tj_slice blob;
		e->cv_tried = true;
		e->cv_ok = tj_store_cache_get(e->r, e->m->guid, &blob) == 0 &&
			   imap_cache_open(blob.ptr, blob.len, &e->cv) == 0 && (e->cv.has_fields || upgrade(e));
	}
	return e->cv_ok;
}

/* store_upgrades - the blobs upgraded during the search, in one commit
 * (not waited for: the answer does not depend on it) */
static void store_upgrades(struct eval *e)
{
	tj_slice *v = e->up_n ? malloc(e->up_n * sizeof(*v)) : NULL;
	for (size_t i = 0; v && i < e->up_n; i++)
		v[i] = (tj_slice){e->up_blob[i].data, e->up_blob[i].len};
	if (v)
		(void)tj_store_cache_put_batch(e->s->cfg.store, e->up_n, (const uint8_t(*)[TJ_GUID_LEN])e->up_guid, v);
	free(v);
	for (size_t i = 0; i < e->up_n; i++)
		tj_buf_free(&e->up_blob[i]);
	free(e->up_blob);
	free(e->up_guid);
	e->up_blob = NULL;
	e->up_guid = NULL;
	e->up_n = e->up_cap = 0;
}

/* raw_headers - the message's header block, raw (*len_r bytes at *p_r,
 * valid until the next read into e->raw); reads a prefix when that holds
 * the whole block.  false on a read error (e->err set). */
static bool raw_headers(struct eval *e, const uint8_t **p_r, size_t *len_r)
{
	enum { PREFIX = 64 * 1024 };
	if (!e->raw_ok) {
		tj_buf_reset(&e->raw);
		int rc = tj_store_read(e->r, e->m->guid, 0, PREFIX, &e->raw);
		if (rc) {
			e->err = rc;
			return false;
		}
		e->raw_ok = e->raw.len < PREFIX; /* the prefix is the whole message */
	}
	size_t hlen = imap_header_len(e->raw.data, e->raw.len);
	if (hlen == e->raw.len)
		hlen = 0; /* no empty line in what was read */
	if (!hlen && !e->raw_ok) {
		/* a header block longer than the prefix: read it all */
		tj_buf_reset(&e->raw);
		int rc = tj_store_read(e->r, e->m->guid, 0, SIZE_MAX, &e->raw);
		if (rc) {
			e->err = rc;
			return false;
		}
		e->raw_ok = true;
		return raw_headers(e, p_r, len_r);
	}
	*p_r = e->raw.data;
	*len_r = hlen ? hlen : e->raw.len;
	return true;
}

static const tj_buf *text_of(struct eval *e, enum tj_mime_search_what what)
{
	tj_buf *b = what == TJ_MIME_SEARCH_HEADERS ? &e->hdr : what == TJ_MIME_SEARCH_BODY ? &e->body : &e->all;
	bool *ok = what == TJ_MIME_SEARCH_HEADERS ? &e->hdr_ok : what == TJ_MIME_SEARCH_BODY ? &e->body_ok : &e->all_ok;
	if (*ok)
		return b;
	if (what == TJ_MIME_SEARCH_HEADERS) {
		const uint8_t *hp;
		size_t hl;
		if (!raw_headers(e, &hp, &hl))
			return NULL;
		tj_buf_reset(b);
		int rc = tj_mime_search_text(hp, hl, what, b);
		if (rc) {
			e->err = rc;
			return NULL;
		}
		*ok = true;
		return b;
	}
	if (!e->raw_ok || e->raw.len >= 64 * 1024) {
		/* the buffer may hold only a header prefix: read the whole message */
		e->raw_ok = false;
	}
	if (!e->raw_ok) {
		tj_buf_reset(&e->raw);
		int rc = tj_store_read(e->r, e->m->guid, 0, SIZE_MAX, &e->raw);
		if (rc) {
			e->err = rc;
			return NULL;
		}
		e->raw_ok = true;
	}
	tj_buf_reset(b);
	int rc = tj_mime_search_text(e->raw.data, e->raw.len, what, b);
	if (rc) {
		e->err = rc;
		return NULL;
	}
	*ok = true;
	return b;
}

/* header_match - some header field `name` (unfolded, RFC 2047 decoded)
 * contains needle.  Works on the raw header block: only the fields asked
 * for are decoded, never the whole message.  For a message whose cache
 * blob lacks the decoded fields, and for fields the blob does not keep. */
static bool header_match(struct eval *e, const char *name, size_t nlen, const char *needle, size_t len)
{
	const uint8_t *p, *end, *f;
	size_t hl;
	if (!raw_headers(e, &p, &hl))
		return false;
	end = p + hl;
	while (imap_header_next(&p, end, &f)) {
		if (!imap_header_is(f, p, name, nlen))
			continue;
		tj_buf_reset(&e->hdr);
		e->hdr_ok = false; /* the decoded-headers text is no longer in e->hdr */
		if (imap_header_value(f, p, nlen, &e->hdr) != 0) {
			e->err = -ENOMEM;
			return false;
		}
		if (tj_mime_search(e->hdr.data ? e->hdr.data : (const uint8_t *)"", e->hdr.len, (const uint8_t *)needle,
				   len) == 1)
			return true;
	}
	return false;
}

/* header_key - a FROM/TO/CC/BCC/SUBJECT/HEADER key: from the cache blob's
 * decoded fields when it has them, else from the message */
static bool header_key(struct eval *e, const struct imap_search_key *k, const char *name, size_t nlen)
{
	int id = imap_cache_field_id(name, nlen);
	if (id >= 0 && cache_fields(e)) {
		const tj_buf *n = &e->folded[k - e->pool];
		int rc = imap_cache_match(&e->cv, (enum imap_cache_field)id, n->data, n->len);
		if (rc >= 0)
			return rc == 1;
		e->cv_ok = false; /* damaged: read the message */
	}
	return header_match(e, name, nlen, k->str, k->str_len);
}

/* sent_days - days since 1970 of the Date: header (time and zone
 * disregarded, RFC 3501 6.4.4); negative when there is none or it is
 * unreadable */
static int64_t sent_days(struct eval *e)
{
	if (cache_fields(e))
		return e->cv.sent_day;
	const tj_buf *h = text_of(e, TJ_MIME_SEARCH_HEADERS);
	if (!h || !h->data)
		return -1;
	return imap_sent_day((const char *)h->data, h->len);
}

static int keyword_bit(const tj_mbox_info *mb, const char *kw, size_t len)
{
	for (uint32_t i = 0; i < mb->nkeywords && i < 64; i++)
		if (mb->keywords[i].len == len && strncasecmp((const char *)mb->keywords[i].ptr, kw, len) == 0)
			return (int)i;
	return -1;
}

static bool match(struct eval *e, const struct imap_search_key *k)
{
	const tj_msg_info *m = e->m;
	uint32_t f = m->sys_flags;
	switch (k->type) {
	case IMAP_SK_AND:
		for (size_t i = 0; i < k->child_count; i++)
			if (!match(e, &k->children[i]))
				return false;
		return true;
	case IMAP_SK_OR: return match(e, &k->children[0]) || match(e, &k->children[1]);
	case IMAP_SK_NOT: return !match(e, &k->children[0]);
	case IMAP_SK_ALL: return true;
	case IMAP_SK_SEQSET: return imap_seqset_contains(&k->set, e->seq, e->max_seq);
	case IMAP_SK_UID: return imap_seqset_contains(&k->set, m->uid, e->max_uid);
	case IMAP_SK_ANSWERED: return f & TJ_F_ANSWERED;
	case IMAP_SK_DELETED: return f & TJ_F_DELETED;
	case IMAP_SK_DRAFT: return f & TJ_F_DRAFT;
	case IMAP_SK_FLAGGED: return f & TJ_F_FLAGGED;
	case IMAP_SK_SEEN: return f & TJ_F_SEEN;
	case IMAP_SK_UNANSWERED: return !(f & TJ_F_ANSWERED);
	case IMAP_SK_UNDELETED: return !(f & TJ_F_DELETED);
	case IMAP_SK_UNDRAFT: return !(f & TJ_F_DRAFT);
	case IMAP_SK_UNFLAGGED: return !(f & TJ_F_FLAGGED);
	case IMAP_SK_UNSEEN: return !(f & TJ_F_SEEN);
	case IMAP_SK_RECENT:
	case IMAP_SK_NEW: return false; /* no session ever sees \Recent */
	case IMAP_SK_OLD: return true;
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD: {
		int bit = keyword_bit(e->mb, k->str, k->str_len);
		bool set = bit >= 0 && (m->keywords & (1ULL << bit));
		return k->type == IMAP_SK_KEYWORD ? set : !set;
	}
	case IMAP_SK_BCC: return header_key(e, k, "Bcc", 3);
	case IMAP_SK_CC: return header_key(e, k, "Cc", 2);
	case IMAP_SK_FROM: return header_key(e, k, "From", 4);
	case IMAP_SK_TO: return header_key(e, k, "To", 2);
	case IMAP_SK_SUBJECT: return header_key(e, k, "Subject", 7);
	case IMAP_SK_HEADER: return header_key(e, k, k->header, k->header_len);
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT: {
		const tj_buf *t = text_of(e, k->type == IMAP_SK_BODY ? TJ_MIME_SEARCH_BODY : TJ_MIME_SEARCH_ALL);
		return t && tj_mime_search(t->data ? t->data : (const uint8_t *)"", t->len, (const uint8_t *)k->str,
					   k->str_len) == 1;
	}
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE: {
		int64_t d = m->internal_date >= 0 ? m->internal_date / SECS_PER_DAY
						  : -((-m->internal_date + SECS_PER_DAY - 1) / SECS_PER_DAY);
		int64_t kd = imap_date_days(&k->date);
		return k->type == IMAP_SK_BEFORE ? d < kd : k->type == IMAP_SK_ON ? d == kd : d >= kd;
	}
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE: {
		int64_t d = sent_days(e), kd = imap_date_days(&k->date);
		if (d < 0)
			return false;
		return k->type == IMAP_SK_SENTBEFORE ? d < kd : k->type == IMAP_SK_SENTON ? d == kd : d >= kd;
	}
	case IMAP_SK_LARGER:
	case IMAP_SK_SMALLER: {
		if (!e->mime) {
			int rc = imap_get_mime(e->s, e->r, m->guid, &e->mime, NULL);
			if (rc) {
				e->err = rc;
				return false;
			}
		}
		uint64_t size = tj_mime_size(e->mime);
		return k->type == IMAP_SK_LARGER ? size > k->number : size < k->number;
	}
	case IMAP_SK_MODSEQ: return m->modseq >= k->number;
	}
	return false;
}

/* fold_needles - the header keys' strings, case-folded once for the
 * cached fields (tj_mime_search folds both sides on every call) */
static int fold_needles(const struct imap_search *q, struct eval *e)
{
	e->pool = q->pool;
	e->folded = calloc(q->pool_used ? q->pool_used : 1, sizeof(tj_buf));
	if (!e->folded)
		return -ENOMEM;
	for (size_t i = 0; i < q->pool_used; i++) {
		const struct imap_search_key *k = &q->pool[i];
		bool hdr = k->type == IMAP_SK_BCC || k->type == IMAP_SK_CC || k->type == IMAP_SK_FROM ||
			   k->type == IMAP_SK_TO || k->type == IMAP_SK_SUBJECT || k->type == IMAP_SK_HEADER;
		int rc = hdr && k->str_len ? tj_mime_fold((const uint8_t *)k->str, k->str_len, &e->folded[i]) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

struct walk_ctx {
	struct eval *e;
	const struct imap_search *q;
	struct imap_uids *hits;
	bool uid;
	uint64_t max_modseq;
};

static int search_fn(void *arg, size_t i, const tj_msg_info *m)
{
	struct walk_ctx *w = arg;
	struct eval *e = w->e;
	e->m = m;
	e->seq = (uint32_t)i + 1;
	bool hit = match(e, w->q->root);
	eval_reset(e);
	if (e->err)
		return e->err;
	if (!hit)
		return 0;
	if (m->modseq > w->max_modseq)
		w->max_modseq = m->modseq;
	return imap_uids_add(w->hits, w->uid ? m->uid : e->seq);
}

void cmd_search(imap_session *s, const struct imap_command *cmd)
{
	bool uid = cmd->kind == IMAP_CMD_UID_SEARCH;
	struct imap_search q = IMAP_SEARCH_INIT;
	struct imap_uids hits = {0};
	struct eval e = {.s = s, .raw = TJ_BUF_INIT, .hdr = TJ_BUF_INIT, .body = TJ_BUF_INIT, .all = TJ_BUF_INIT};
	const char *err = NULL;
	uint64_t max_modseq = 0;
	int rc = imap_search_parse(&q, cmd->args, cmd->argc, &err);
	if (rc == TJ_ENOTFOUND) {
		imap_tagged(s, cmd, "NO", "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset.");
		goto out;
	}
	if (rc) {
		if (rc == TJ_EINVAL)
			imap_bad(s, cmd, err ? err : "Invalid SEARCH arguments.");
		else
			s->out_err = true;
		goto out;
	}
	if (q.return_opts & IMAP_SEARCH_RET_SAVE) {
		imap_bad(s, cmd, "SEARCH RETURN (SAVE) is not supported.");
		goto out;
	}
	if (q.has_modseq)
		s->condstore = true;
	tj_mbox_info mb;
	if ((rc = tj_rtxn_begin(s->cfg.store, &e.r)) || (rc = tj_store_mbox_get(e.r, s->mbox_id, &mb)))
		goto fail;
	e.mb = &mb;
	e.max_seq = (uint32_t)s->uids.n;
	e.max_uid = s->uids.n ? s->uids.v[s->uids.n - 1] : 0;
	if ((rc = fold_needles(&q, &e)))
		goto fail;
	struct walk_ctx w = {&e, &q, &hits, uid, 0};
	rc = tj_store_msgs_get(e.r, s->mbox_id, s->uids.v, s->uids.n, search_fn, &w);
	max_modseq = w.max_modseq;
	tj_rtxn_end(&e.r);
	if (rc)
		goto fail;
	if (q.has_return) {
		uint32_t ro = q.return_opts ? q.return_opts : IMAP_SEARCH_RET_ALL;
		imap_printf(s, "* ESEARCH (TAG ");
		imap_write_quoted(&s->out, cmd->tag, strlen(cmd->tag));
		imap_printf(s, ")%s", uid ? " UID" : "");
		if ((ro & IMAP_SEARCH_RET_MIN) && hits.n)
			imap_printf(s, " MIN %u", hits.v[0]);
		if ((ro & IMAP_SEARCH_RET_MAX) && hits.n)
			imap_printf(s, " MAX %u", hits.v[hits.n - 1]);
		if (ro & IMAP_SEARCH_RET_COUNT)
			imap_printf(s, " COUNT %zu", hits.n);
		if ((ro & IMAP_SEARCH_RET_ALL) && hits.n) {
			imap_printf(s, " ALL ");
			imap_write_uids(&s->out, hits.v, hits.n);
		}
		if (q.has_modseq && hits.n)
			imap_printf(s, " MODSEQ %llu", (unsigned long long)max_modseq);
		imap_printf(s, "\r\n");
	} else {
		imap_printf(s, "* SEARCH");
		for (size_t i = 0; i < hits.n; i++)
			if (tj_buf_putc(&s->out, ' ') || imap_put_num(&s->out, hits.v[i]))
				s->out_err = true;
		if (q.has_modseq && hits.n)
			imap_printf(s, " (MODSEQ %llu)", (unsigned long long)max_modseq);
		imap_printf(s, "\r\n");
	}
	imap_tagged(s, cmd, "OK", "Search completed.");
	goto out;
fail:
	imap_store_error(s, cmd, rc, NULL);
out:
	tj_rtxn_end(&e.r);
	eval_reset(&e);
	tj_buf_free(&e.raw);
	tj_buf_free(&e.hdr);
	tj_buf_free(&e.body);
	tj_buf_free(&e.all);
	store_upgrades(&e);
	for (size_t i = 0; e.folded && i < q.pool_used; i++)
		tj_buf_free(&e.folded[i]);
	free(e.folded);
	imap_search_free(&q);
	imap_uids_free(&hits);
}

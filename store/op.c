/*
 * op.c - encode and decode ops (see op.h).  Pure functions over buffers,
 * safe on hostile input (fuzzed by fuzz-op): every count and length is
 * checked against what remains before it is used.
 */
#include "store/op.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct tj_op_mem {
	void *blob;       /* copy of the encoded bytes + keyword slices (decode) */
	tj_range *ranges; /* ranges given by tj_op_set_ranges */
};

static const char *const op_names[] = {
	"?", "USER_PUT", "MBOX_CREATE", "MBOX_RENAME", "MBOX_DELETE", "SUBSCRIBE",
	"APPEND", "STORE", "COPY", "MOVE", "EXPUNGE",
};

const char *tj_op_type_name(int type)
{
	return (type >= 1 && type <= TJ_OP_TYPE_MAX) ? op_names[type] : "?";
}

uint64_t tj_ranges_count(const tj_range *r, uint32_t n)
{
	uint64_t c = 0;
	for (uint32_t i = 0; i < n; i++)
		c += (uint64_t)r[i].hi - r[i].lo + 1;
	return c;
}

/* ---- encoding ---- */

static int put8(tj_buf *b, uint8_t v) { return tj_buf_append(b, &v, 1); }
static int put32(tj_buf *b, uint32_t v) { uint8_t p[4]; tj_put32(p, v); return tj_buf_append(b, p, 4); }
static int put64(tj_buf *b, uint64_t v) { uint8_t p[8]; tj_put64(p, v); return tj_buf_append(b, p, 8); }

static int put_str(tj_buf *b, tj_slice s, size_t max)
{
	if (s.len > max)
		return TJ_EINVAL;
	int rc = put32(b, (uint32_t)s.len);
	return rc ? rc : tj_buf_append(b, s.ptr, s.len);
}

static int put_keywords(tj_buf *b, const tj_op *op)
{
	if (op->nkeywords > TJ_OP_MAX_KEYWORDS)
		return TJ_EINVAL;
	int rc = put32(b, op->nkeywords);
	for (uint32_t i = 0; !rc && i < op->nkeywords; i++)
		rc = put_str(b, op->keywords[i], TJ_OP_MAX_KEYWORD);
	return rc;
}

static int put_ranges(tj_buf *b, const tj_op *op)
{
	if (op->nranges > TJ_OP_MAX_RANGES)
		return TJ_EINVAL;
	int rc = put32(b, op->nranges);
	for (uint32_t i = 0; !rc && i < op->nranges; i++) {
		if (op->ranges[i].lo > op->ranges[i].hi)
			return TJ_EINVAL;
		rc = put32(b, op->ranges[i].lo);
		if (!rc)
			rc = put32(b, op->ranges[i].hi);
	}
	return rc;
}

int tj_op_encode(const tj_op *op, tj_buf *out)
{
	size_t start = out->len;
	int rc = 0;
	if (op->type < 1 || op->type > TJ_OP_TYPE_MAX)
		return TJ_EINVAL;
	uint8_t hdr[16];
	hdr[0] = TJ_OP_VERSION;
	hdr[1] = op->type;
	tj_put16(hdr + 2, op->flags);
	tj_put32(hdr + 4, op->user_id);
	tj_put64(hdr + 8, op->epoch);
	rc = tj_buf_append(out, hdr, sizeof(hdr));
	if (rc)
		return rc;
	switch (op->type) {
	case TJ_OP_USER_PUT:
		if (!(rc = put_str(out, op->name, TJ_OP_MAX_NAME)) && !(rc = put64(out, op->quota_bytes)) &&
		    !(rc = put32(out, op->quota_msgs)) && !(rc = put8(out, op->user_state)) &&
		    !(rc = put8(out, op->user_source)))
			rc = put64(out, op->quota_base);
		break;
	case TJ_OP_MBOX_CREATE:
		if (!(rc = put64(out, op->mbox_id)) && !(rc = put_str(out, op->name, TJ_OP_MAX_NAME)) &&
		    !(rc = put32(out, op->uidvalidity)))
			rc = put32(out, op->special_use);
		break;
	case TJ_OP_MBOX_RENAME:
		if (!(rc = put64(out, op->mbox_id)) && !(rc = put_str(out, op->name, TJ_OP_MAX_NAME)) &&
		    !(rc = put64(out, op->mbox_id2)) && !(rc = put32(out, op->uidvalidity)))
			rc = put64(out, op->modseq);
		break;
	case TJ_OP_MBOX_DELETE:
		rc = put64(out, op->mbox_id);
		break;
	case TJ_OP_SUBSCRIBE:
		if (!(rc = put_str(out, op->name, TJ_OP_MAX_NAME)))
			rc = put8(out, op->mode);
		break;
	case TJ_OP_APPEND:
		if (!(rc = put64(out, op->mbox_id)) && !(rc = put32(out, op->uid)) && !(rc = put64(out, op->modseq)) &&
		    !(rc = tj_buf_append(out, op->guid, TJ_GUID_LEN)) && !(rc = put32(out, op->raw_size)) &&
		    !(rc = put64(out, (uint64_t)op->internal_date)) && !(rc = put32(out, op->sys_flags)))
			rc = put_keywords(out, op);
		break;
	case TJ_OP_STORE:
		if (!(rc = put64(out, op->mbox_id)) && !(rc = put64(out, op->modseq)) && !(rc = put8(out, op->mode)) &&
		    !(rc = put32(out, op->sys_flags)) && !(rc = put_keywords(out, op)) &&
		    !(rc = put64(out, op->unchangedsince)))
			rc = put_ranges(out, op);
		break;
	case TJ_OP_COPY:
	case TJ_OP_MOVE:
		if (!(rc = put64(out, op->mbox_id)) && !(rc = put64(out, op->mbox_id2)) && !(rc = put32(out, op->uid)) &&
		    !(rc = put64(out, op->modseq)) && !(rc = put64(out, op->modseq2)))
			rc = put_ranges(out, op);
		break;
	case TJ_OP_EXPUNGE:
		if (!(rc = put64(out, op->mbox_id)) && !(rc = put64(out, op->modseq)))
			rc = put_ranges(out, op);
		break;
	}
	if (rc)
		tj_buf_truncate(out, start);
	return rc;
}

/* ---- decoding ---- */

typedef struct rd {
	const uint8_t *p;
	size_t left;
	int bad;
} rd;

static uint8_t get8(rd *r) { if (r->left < 1) { r->bad = 1; return 0; } r->left--; return *r->p++; }
static uint32_t get32(rd *r) { if (r->left < 4) { r->bad = 1; r->left = 0; return 0; } uint32_t v = tj_get32(r->p); r->p += 4; r->left -= 4; return v; }
static uint64_t get64(rd *r) { if (r->left < 8) { r->bad = 1; r->left = 0; return 0; } uint64_t v = tj_get64(r->p); r->p += 8; r->left -= 8; return v; }

static tj_slice get_str(rd *r, size_t max)
{
	tj_slice s = {NULL, 0};
	uint32_t n = get32(r);
	if (r->bad || n > max || n > r->left) {
		r->bad = 1;
		return s;
	}
	s.ptr = r->p;
	s.len = n;
	r->p += n;
	r->left -= n;
	return s;
}

static void get_bytes(rd *r, uint8_t *out, size_t n)
{
	if (r->left < n) {
		r->bad = 1;
		r->left = 0;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
}

/* keywords and ranges are decoded in two passes: count/validate first
 * (pointing into the copied blob), then the arrays are filled. */
static int get_keywords(rd *r, tj_op *op, tj_slice *store, uint32_t cap)
{
	uint32_t n = get32(r);
	if (r->bad || n > TJ_OP_MAX_KEYWORDS || n > cap)
		return TJ_EPROTO;
	for (uint32_t i = 0; i < n; i++) {
		store[i] = get_str(r, TJ_OP_MAX_KEYWORD);
		if (r->bad)
			return TJ_EPROTO;
	}
	op->keywords = n ? store : NULL;
	op->nkeywords = n;
	return 0;
}

static int get_ranges(rd *r, tj_op *op, struct tj_op_mem *mem)
{
	uint32_t n = get32(r);
	if (r->bad || n > TJ_OP_MAX_RANGES || (uint64_t)n * 8 > r->left)
		return TJ_EPROTO;
	if (n == 0)
		return 0;
	mem->ranges = malloc(sizeof(tj_range) * n);
	if (!mem->ranges)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		mem->ranges[i].lo = get32(r);
		mem->ranges[i].hi = get32(r);
		if (mem->ranges[i].lo > mem->ranges[i].hi || mem->ranges[i].lo == 0)
			return TJ_EPROTO;
	}
	op->ranges = mem->ranges;
	op->nranges = n;
	return 0;
}

int tj_op_decode(const uint8_t *buf, size_t len, tj_op *op_r)
{
	memset(op_r, 0, sizeof(*op_r));
	if (len < 16)
		return TJ_EPROTO;
	if (buf[0] == 0)
		return TJ_EPROTO;
	if (buf[0] > TJ_OP_VERSION)
		return TJ_EVERSION;
	struct tj_op_mem *mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	/* blob: keyword slices, then a private copy of the input */
	size_t kwbytes = sizeof(tj_slice) * TJ_OP_MAX_KEYWORDS;
	mem->blob = malloc(kwbytes + len);
	if (!mem->blob) {
		free(mem);
		return -ENOMEM;
	}
	op_r->owned = mem;
	tj_slice *kw = mem->blob;
	uint8_t *copy = (uint8_t *)mem->blob + kwbytes;
	memcpy(copy, buf, len);

	rd r = {copy + 16, len - 16, 0};
	tj_op *op = op_r;
	op->type = copy[1];
	op->flags = tj_get16(copy + 2);
	op->user_id = tj_get32(copy + 4);
	op->epoch = tj_get64(copy + 8);
	int rc = 0;
	switch (op->type) {
	case TJ_OP_USER_PUT:
		op->name = get_str(&r, TJ_OP_MAX_NAME);
		op->quota_bytes = get64(&r);
		op->quota_msgs = get32(&r);
		op->user_state = get8(&r);
		op->user_source = get8(&r);
		op->quota_base = get64(&r);
		break;
	case TJ_OP_MBOX_CREATE:
		op->mbox_id = get64(&r);
		op->name = get_str(&r, TJ_OP_MAX_NAME);
		op->uidvalidity = get32(&r);
		op->special_use = get32(&r);
		break;
	case TJ_OP_MBOX_RENAME:
		op->mbox_id = get64(&r);
		op->name = get_str(&r, TJ_OP_MAX_NAME);
		op->mbox_id2 = get64(&r);
		op->uidvalidity = get32(&r);
		op->modseq = get64(&r);
		break;
	case TJ_OP_MBOX_DELETE:
		op->mbox_id = get64(&r);
		break;
	case TJ_OP_SUBSCRIBE:
		op->name = get_str(&r, TJ_OP_MAX_NAME);
		op->mode = get8(&r);
		break;
	case TJ_OP_APPEND:
		op->mbox_id = get64(&r);
		op->uid = get32(&r);
		op->modseq = get64(&r);
		get_bytes(&r, op->guid, TJ_GUID_LEN);
		op->raw_size = get32(&r);
		op->internal_date = (int64_t)get64(&r);
		op->sys_flags = get32(&r);
		rc = get_keywords(&r, op, kw, TJ_OP_MAX_KEYWORDS);
		break;
	case TJ_OP_STORE:
		op->mbox_id = get64(&r);
		op->modseq = get64(&r);
		op->mode = get8(&r);
		op->sys_flags = get32(&r);
		rc = get_keywords(&r, op, kw, TJ_OP_MAX_KEYWORDS);
		op->unchangedsince = get64(&r);
		if (!rc)
			rc = get_ranges(&r, op, mem);
		break;
	case TJ_OP_COPY:
	case TJ_OP_MOVE:
		op->mbox_id = get64(&r);
		op->mbox_id2 = get64(&r);
		op->uid = get32(&r);
		op->modseq = get64(&r);
		op->modseq2 = get64(&r);
		rc = get_ranges(&r, op, mem);
		break;
	case TJ_OP_EXPUNGE:
		op->mbox_id = get64(&r);
		op->modseq = get64(&r);
		rc = get_ranges(&r, op, mem);
		break;
	default:
		rc = TJ_EPROTO;
	}
	if (!rc && (r.bad || r.left != 0))
		rc = TJ_EPROTO;
	if (!rc && (op->sys_flags & ~(uint32_t)TJ_F_ALL))
		rc = TJ_EPROTO;
	if (rc)
		tj_op_clear(op_r);
	return rc;
}

void tj_op_clear(tj_op *op)
{
	struct tj_op_mem *mem = op->owned;
	if (mem) {
		free(mem->blob);
		free(mem->ranges);
		free(mem);
	}
	memset(op, 0, sizeof(*op));
}

int tj_op_set_ranges(tj_op *op, const tj_range *ranges, uint32_t n)
{
	struct tj_op_mem *mem = op->owned;
	if (!mem) {
		mem = calloc(1, sizeof(*mem));
		if (!mem)
			return -ENOMEM;
		op->owned = mem;
	}
	tj_range *copy = NULL;
	if (n) {
		copy = malloc(sizeof(tj_range) * n);
		if (!copy)
			return -ENOMEM;
		memcpy(copy, ranges, sizeof(tj_range) * n);
	}
	free(mem->ranges);
	mem->ranges = copy;
	op->ranges = copy;
	op->nranges = n;
	return 0;
}

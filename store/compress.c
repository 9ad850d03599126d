/*
 * compress.c - zstd compression of messages with versioned dictionaries
 * (see compress.h).  Compression contexts are per thread (callers compress in
 * their own threads, in parallel; the committer only writes bytes).
 */
#define ZSTD_STATIC_LINKING_ONLY
#include "store/compress.h"
#include "common/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>
#include <zstd.h>

struct tj_dict_ent {
	ZSTD_CDict *cdict;
	ZSTD_DDict *ddict;
};

struct tj_dicts {
	pthread_rwlock_t lock;
	int level;
	uint32_t current;
	struct tj_dict_ent ents[TJ_DICT_MAX_ID + 1];
};

static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

struct tls_ctx {
	ZSTD_CCtx *c;
	ZSTD_DCtx *d;
	ZSTD_DStream *ds;
};

static void tls_free(void *p)
{
	struct tls_ctx *t = p;
	ZSTD_freeCCtx(t->c);
	ZSTD_freeDCtx(t->d);
	ZSTD_freeDStream(t->ds);
	free(t);
}

static void ctx_key_init(void)
{
	pthread_key_create(&ctx_key, tls_free);
}

static struct tls_ctx *tls_get(void)
{
	pthread_once(&ctx_once, ctx_key_init);
	struct tls_ctx *t = pthread_getspecific(ctx_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->c = ZSTD_createCCtx();
	t->d = ZSTD_createDCtx();
	t->ds = ZSTD_createDStream();
	if (!t->c || !t->d || !t->ds) {
		tls_free(t);
		return NULL;
	}
	pthread_setspecific(ctx_key, t);
	return t;
}

tj_dicts *tj_dicts_new(int level)
{
	tj_dicts *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	pthread_rwlock_init(&d->lock, NULL);
	d->level = level;
	return d;
}

void tj_dicts_free(tj_dicts **dp)
{
	tj_dicts *d = *dp;
	if (!d)
		return;
	for (int i = 0; i <= TJ_DICT_MAX_ID; i++) {
		ZSTD_freeCDict(d->ents[i].cdict);
		ZSTD_freeDDict(d->ents[i].ddict);
	}
	pthread_rwlock_destroy(&d->lock);
	free(d);
	*dp = NULL;
}

int tj_dicts_add(tj_dicts *d, uint32_t id, const void *dict, size_t len)
{
	if (id == 0 || id > TJ_DICT_MAX_ID || len == 0)
		return TJ_EINVAL;
	ZSTD_CDict *c = ZSTD_createCDict(dict, len, d->level);
	ZSTD_DDict *dd = ZSTD_createDDict(dict, len);
	if (!c || !dd) {
		ZSTD_freeCDict(c);
		ZSTD_freeDDict(dd);
		return -ENOMEM;
	}
	pthread_rwlock_wrlock(&d->lock);
	int rc = 0;
	if (d->ents[id].ddict) {
		rc = TJ_EEXIST;
		ZSTD_freeCDict(c);
		ZSTD_freeDDict(dd);
	} else {
		d->ents[id].cdict = c;
		d->ents[id].ddict = dd;
	}
	pthread_rwlock_unlock(&d->lock);
	return rc;
}

void tj_dicts_set_current(tj_dicts *d, uint32_t id)
{
	pthread_rwlock_wrlock(&d->lock);
	if (id <= TJ_DICT_MAX_ID && (id == 0 || d->ents[id].cdict))
		d->current = id;
	pthread_rwlock_unlock(&d->lock);
}

uint32_t tj_dicts_current(tj_dicts *d)
{
	pthread_rwlock_rdlock(&d->lock);
	uint32_t id = d->current;
	pthread_rwlock_unlock(&d->lock);
	return id;
}

int tj_compress_record(tj_dicts *d, const void *raw, size_t len, const uint8_t guid[TJ_GUID_LEN], tj_buf *out)
{
	if (len > TJ_REC_MAX_RAW)
		return TJ_ETOOBIG;
	struct tls_ctx *t = tls_get();
	if (!t)
		return -ENOMEM;
	size_t bound = ZSTD_compressBound(len);
	int rc = tj_buf_reserve(out, TJ_REC_HDR + (bound > len ? bound : len));
	if (rc)
		return rc;
	uint8_t *hdr = out->data + out->len;
	uint8_t *payload = hdr + TJ_REC_HDR;
	tj_rec rec = {.codec = TJ_CODEC_ZSTD, .raw_len = (uint32_t)len};
	memcpy(rec.guid, guid, TJ_GUID_LEN);

	pthread_rwlock_rdlock(&d->lock);
	rec.dict_id = d->current;
	ZSTD_CDict *cd = d->current ? d->ents[d->current].cdict : NULL;
	size_t n;
	if (cd)
		n = ZSTD_compress_usingCDict(t->c, payload, bound, raw, len, cd);
	else
		n = ZSTD_compressCCtx(t->c, payload, bound, raw, len, d->level);
	pthread_rwlock_unlock(&d->lock);

	if (ZSTD_isError(n) || n >= len) {
		/* incompressible (or tiny): keep it raw */
		rec.codec = TJ_CODEC_RAW;
		rec.dict_id = 0;
		memcpy(payload, raw, len);
		n = len;
	}
	rec.payload_len = (uint32_t)n;
	tj_rec_header(hdr, &rec, payload);
	out->len += TJ_REC_HDR + n;
	out->data[out->len] = 0;
	return 0;
}

int tj_decompress_range(tj_dicts *d, const tj_rec *rec, size_t off, size_t len, tj_buf *out)
{
	if (rec->codec == TJ_CODEC_BATCH)
		return TJ_ECORRUPT; /* not a message */
	if (off >= rec->raw_len || len == 0)
		return 0;
	if (len > rec->raw_len - off)
		len = rec->raw_len - off;
	if (rec->codec == TJ_CODEC_RAW)
		return tj_buf_append(out, rec->payload + off, len);

	struct tls_ctx *t = tls_get();
	if (!t)
		return -ENOMEM;
	ZSTD_DDict *dd = NULL;
	if (rec->dict_id) {
		pthread_rwlock_rdlock(&d->lock);
		dd = rec->dict_id <= TJ_DICT_MAX_ID ? d->ents[rec->dict_id].ddict : NULL;
		pthread_rwlock_unlock(&d->lock);
		if (!dd)
			return TJ_ECORRUPT; /* unknown dictionary */
	}
	int rc;
	if (off == 0 && len == rec->raw_len) {
		/* whole message: one shot straight into out */
		if ((rc = tj_buf_reserve(out, rec->raw_len)))
			return rc;
		size_t n = dd ? ZSTD_decompress_usingDDict(t->d, out->data + out->len, rec->raw_len, rec->payload,
							   rec->payload_len, dd)
			      : ZSTD_decompressDCtx(t->d, out->data + out->len, rec->raw_len, rec->payload,
						    rec->payload_len);
		if (ZSTD_isError(n) || n != rec->raw_len)
			return TJ_ECORRUPT;
		out->len += n;
		out->data[out->len] = 0;
		return 0;
	}
	/* a range: stream, discarding output before off, stopping after off+len */
	ZSTD_DCtx_reset(t->ds, ZSTD_reset_session_only);
	if (ZSTD_isError(ZSTD_DCtx_refDDict(t->ds, dd)))
		return TJ_ECORRUPT;
	uint8_t scratch[64 * 1024];
	ZSTD_inBuffer in = {rec->payload, rec->payload_len, 0};
	size_t pos = 0, end = off + len;
	while (pos < end) {
		ZSTD_outBuffer o = {scratch, sizeof(scratch), 0};
		size_t r = ZSTD_decompressStream(t->ds, &o, &in);
		if (ZSTD_isError(r))
			return TJ_ECORRUPT;
		if (o.pos == 0 && (r == 0 || in.pos == in.size))
			return TJ_ECORRUPT; /* frame ended before the range */
		size_t a = pos, b = pos + o.pos;
		if (b > off && a < end) {
			size_t from = off > a ? off - a : 0;
			size_t to = (end < b ? end : b) - a;
			if ((rc = tj_buf_append(out, scratch + from, to - from)))
				return rc;
		}
		pos = b;
	}
	ZSTD_DCtx_refDDict(t->ds, NULL);
	return 0;
}

int tj_dict_train(const void *samples, const size_t *sizes, unsigned nsamples, tj_buf *out)
{
	if (nsamples < 8)
		return TJ_EINVAL;
	int rc = tj_buf_reserve(out, TJ_DICT_SIZE);
	if (rc)
		return rc;
	size_t n = ZDICT_trainFromBuffer(out->data + out->len, TJ_DICT_SIZE, samples, sizes, nsamples);
	if (ZDICT_isError(n))
		return TJ_EINVAL;
	out->len += n;
	out->data[out->len] = 0;
	return 0;
}

/*
 * bayes.c - the Bayesian spam classifier over LMDB (see bayes.h).
 *
 * Learning: tokenize, then in one write transaction look the message id up
 * in "seen" (same class: nothing to do; other class: move), add the message's
 * +1/-1 per token into an in-memory delta table, and finally apply the
 * table to "tokens" in key order and update the totals.  Classification:
 * one read transaction, the message's tokens looked up in key order through
 * one cursor, Robinson's f(w) for each, the most significant ones combined
 * with Fisher's chi-square method.
 */
#include "node/scan/bayes.h"

#include "common/buf.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <xxhash.h>

#define BAYES_FORMAT 1
#define TOKVAL_LEN 12   /* spam u32, ham u32, last serial u32 */
#define SEENVAL_LEN 9   /* class u8, serial u64 */
#define TOTALS_LEN 24   /* nspam, nham, serial: u64 each */

struct tj_bayes {
	MDB_env *env;
	MDB_dbi db_tokens, db_seen, db_meta;
	bool read_only;
	tj_bayes_opts opts;
};

struct totals {
	uint64_t nspam, nham, serial;
};

void tj_bayes_opts_default(tj_bayes_opts *o)
{
	o->map_size = 8ULL << 30;
	o->min_learned = TJ_BAYES_MIN_LEARNED;
	o->s = 1.0;
	o->x = 0.5;
	o->min_dev = 0.2;
	o->max_used = 150;
}

/* ------------------------------------------------------------- helpers */

/* mrc - an LMDB return in our convention, MDB_NOTFOUND as TJ_ENOTFOUND */
static int mrc(int r)
{
	return r == MDB_NOTFOUND ? TJ_ENOTFOUND : tj_from_mdb(r);
}

static int mget(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, MDB_val *v)
{
	MDB_val key = {kl, (void *)(uintptr_t)k};
	return mrc(mdb_get(txn, dbi, &key, v));
}

static int mput(MDB_txn *txn, MDB_dbi dbi, const void *k, size_t kl, const void *d, size_t dl)
{
	MDB_val key = {kl, (void *)(uintptr_t)k}, val = {dl, (void *)(uintptr_t)d};
	return mrc(mdb_put(txn, dbi, &key, &val, 0));
}

static int totals_get(tj_bayes *b, MDB_txn *txn, struct totals *t)
{
	MDB_val v;
	int rc = mget(txn, b->db_meta, "totals", 6, &v);
	memset(t, 0, sizeof(*t));
	if (rc == TJ_ENOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (v.mv_size != TOTALS_LEN)
		return TJ_ECORRUPT;
	const uint8_t *p = v.mv_data;
	t->nspam = tj_get64(p);
	t->nham = tj_get64(p + 8);
	t->serial = tj_get64(p + 16);
	return 0;
}

static int totals_put(tj_bayes *b, MDB_txn *txn, const struct totals *t)
{
	uint8_t p[TOTALS_LEN];
	tj_put64(p, t->nspam);
	tj_put64(p + 8, t->nham);
	tj_put64(p + 16, t->serial);
	return mput(txn, b->db_meta, "totals", 6, p, sizeof(p));
}

static int meta_u32(tj_bayes *b, MDB_txn *txn, const char *key, uint32_t *v_r)
{
	MDB_val v;
	int rc = mget(txn, b->db_meta, key, strlen(key), &v);
	if (rc)
		return rc;
	if (v.mv_size != 4)
		return TJ_ECORRUPT;
	*v_r = tj_get32(v.mv_data);
	return 0;
}

void tj_bayes_message_id(const uint8_t *msg, size_t len, uint8_t id_r[TJ_BAYES_ID_LEN])
{
	XXH128_canonical_t c;
	XXH128_canonicalFromHash(&c, XXH3_128bits(msg ? (const void *)msg : "", len));
	memcpy(id_r, c.digest, TJ_BAYES_ID_LEN);
}

/* --------------------------------------------------------- open, close */

int tj_bayes_open(const char *dir, bool read_only, tj_bayes **b_r)
{
	return tj_bayes_open_opts(dir, read_only, NULL, b_r);
}

int tj_bayes_open_opts(const char *dir, bool read_only, const tj_bayes_opts *opts, tj_bayes **b_r)
{
	tj_bayes *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	if (opts)
		b->opts = *opts;
	else
		tj_bayes_opts_default(&b->opts);
	b->read_only = read_only;
	int rc;
	if (!read_only && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		rc = -errno;
		goto fail;
	}
	if (read_only) {
		char path[4096];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/data.mdb", dir);
		if (stat(path, &sb) < 0) {
			rc = -errno;
			goto fail;
		}
	}
	if ((rc = mrc(mdb_env_create(&b->env))) || (rc = mrc(mdb_env_set_maxdbs(b->env, 4))) ||
	    (rc = mrc(mdb_env_set_maxreaders(b->env, 1024))) ||
	    (rc = mrc(mdb_env_set_mapsize(b->env, (size_t)b->opts.map_size))))
		goto fail;
	if ((rc = mrc(mdb_env_open(b->env, dir, MDB_NOTLS | (read_only ? MDB_RDONLY : 0), 0600))))
		goto fail;
	MDB_txn *txn;
	if ((rc = mrc(mdb_txn_begin(b->env, NULL, read_only ? MDB_RDONLY : 0, &txn))))
		goto fail;
	unsigned fl = read_only ? 0 : MDB_CREATE;
	if ((rc = mrc(mdb_dbi_open(txn, "tokens", fl, &b->db_tokens))) ||
	    (rc = mrc(mdb_dbi_open(txn, "seen", fl, &b->db_seen))) ||
	    (rc = mrc(mdb_dbi_open(txn, "meta", fl, &b->db_meta)))) {
		mdb_txn_abort(txn);
		if (rc == TJ_ENOTFOUND)
			rc = -ENOENT; /* read-only and never written */
		goto fail;
	}
	uint32_t format, tokver;
	rc = meta_u32(b, txn, "format", &format);
	if (rc == TJ_ENOTFOUND && !read_only) {
		uint8_t v[4];
		tj_put32(v, BAYES_FORMAT);
		rc = mput(txn, b->db_meta, "format", 6, v, 4);
		tj_put32(v, TJ_BAYES_TOK_VERSION);
		if (!rc)
			rc = mput(txn, b->db_meta, "tokver", 6, v, 4);
	} else if (rc == 0 && format > BAYES_FORMAT) {
		rc = TJ_EVERSION;
	} else if (rc == 0 && meta_u32(b, txn, "tokver", &tokver) == 0 && tokver != TJ_BAYES_TOK_VERSION) {
		tj_log(TJ_LOG_WARN, "bayes",
		       "event=tokenizer_mismatch dir=%s db_version=%u version=%u note=\"retrain for best results\"", dir,
		       tokver, TJ_BAYES_TOK_VERSION);
	} else if (rc == TJ_ENOTFOUND) {
		rc = 0; /* read-only, empty */
	}
	if (rc) {
		mdb_txn_abort(txn);
		goto fail;
	}
	/* committed even when read-only: the database handles opened in a
	 * transaction outlive it only through a commit */
	if ((rc = mrc(mdb_txn_commit(txn))))
		goto fail;
	*b_r = b;
	return 0;
fail:
	if (b->env)
		mdb_env_close(b->env);
	free(b);
	return rc;
}

void tj_bayes_close(tj_bayes **bp)
{
	tj_bayes *b = *bp;
	if (!b)
		return;
	mdb_env_close(b->env);
	free(b);
	*bp = NULL;
}

/* ------------------------------------------------------------ learning */

/* the per-transaction table of count changes: hash -> (dspam, dham) */
struct delta {
	uint64_t h;
	int32_t ds, dh;
};

struct dtab {
	struct delta *v;
	size_t mask, n;
};

static int dtab_add(struct dtab *t, uint64_t h, int32_t ds, int32_t dh)
{
	if ((t->n + 1) * 2 > (t->v ? t->mask + 1 : 0)) {
		size_t ncap = t->v ? (t->mask + 1) * 2 : 4096;
		struct delta *nv = calloc(ncap, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		for (size_t i = 0; t->v && i <= t->mask; i++) {
			if (!t->v[i].h)
				continue;
			size_t j = (size_t)(t->v[i].h ^ (t->v[i].h >> 31)) & (ncap - 1);
			while (nv[j].h)
				j = (j + 1) & (ncap - 1);
			nv[j] = t->v[i];
		}
		free(t->v);
		t->v = nv;
		t->mask = ncap - 1;
	}
	size_t j = (size_t)(h ^ (h >> 31)) & t->mask;
	while (t->v[j].h && t->v[j].h != h)
		j = (j + 1) & t->mask;
	if (!t->v[j].h) {
		t->v[j].h = h;
		t->n++;
	}
	t->v[j].ds += ds;
	t->v[j].dh += dh;
	return 0;
}

static int cmp_delta(const void *a, const void *b)
{
	uint64_t x = ((const struct delta *)a)->h, y = ((const struct delta *)b)->h;
	return x < y ? -1 : x > y;
}

static int add_toks(struct dtab *d, const tj_bayes_toks *t, int cls, int sign)
{
	for (size_t i = 0; i < t->n; i++) {
		int rc = dtab_add(d, t->hash[i], cls == TJ_BAYES_SPAM ? sign : 0, cls == TJ_BAYES_HAM ? sign : 0);
		if (rc)
			return rc;
	}
	return 0;
}

static uint32_t clamp_add(uint32_t v, int32_t d)
{
	int64_t r = (int64_t)v + d;
	return r < 0 ? 0 : r > UINT32_MAX ? UINT32_MAX : (uint32_t)r;
}

/* dtab_apply - write the changes into "tokens", in key order */
static int dtab_apply(tj_bayes *b, MDB_txn *txn, struct dtab *d, uint64_t serial)
{
	if (!d->n)
		return 0;
	size_t n = 0;
	for (size_t i = 0; i <= d->mask; i++)
		if (d->v[i].h && (d->v[i].ds || d->v[i].dh))
			d->v[n++] = d->v[i];
	qsort(d->v, n, sizeof(*d->v), cmp_delta);
	MDB_cursor *c = NULL;
	int rc = mrc(mdb_cursor_open(txn, b->db_tokens, &c));
	for (size_t i = 0; i < n && !rc; i++) {
		uint8_t kb[8], vb[TOKVAL_LEN];
		tj_put64be(kb, d->v[i].h);
		MDB_val key = {8, kb}, val;
		uint32_t s = 0, h = 0;
		int g = mrc(mdb_cursor_get(c, &key, &val, MDB_SET_KEY));
		if (g == 0 && val.mv_size == TOKVAL_LEN) {
			s = tj_get32(val.mv_data);
			h = tj_get32((const uint8_t *)val.mv_data + 4);
		} else if (g && g != TJ_ENOTFOUND) {
			rc = g;
			break;
		}
		s = clamp_add(s, d->v[i].ds);
		h = clamp_add(h, d->v[i].dh);
		if (!s && !h) {
			if (g == 0)
				rc = mrc(mdb_cursor_del(c, 0));
			continue;
		}
		tj_put32(vb, s);
		tj_put32(vb + 4, h);
		tj_put32(vb + 8, (uint32_t)serial);
		key.mv_size = 8;
		key.mv_data = kb;
		val.mv_size = TOKVAL_LEN;
		val.mv_data = vb;
		rc = mrc(mdb_cursor_put(c, &key, &val, 0));
	}
	if (c)
		mdb_cursor_close(c);
	d->n = 0;
	return rc;
}

static void tot_add(struct totals *t, int cls, int sign)
{
	uint64_t *p = cls == TJ_BAYES_SPAM ? &t->nspam : &t->nham;
	if (sign > 0)
		(*p)++;
	else if (*p)
		(*p)--;
}

int tj_bayes_learn_batch(tj_bayes *b, tj_bayes_item *items, size_t n)
{
	if (b->read_only)
		return TJ_EINVAL;
	MDB_txn *txn;
	int rc = mrc(mdb_txn_begin(b->env, NULL, 0, &txn));
	if (rc)
		return rc;
	struct totals tot;
	struct dtab d = {0};
	tj_bayes_toks t;
	tj_bayes_toks_init(&t, 0);
	rc = totals_get(b, txn, &tot);
	for (size_t i = 0; i < n && !rc; i++) {
		tj_bayes_item *it = &items[i];
		uint8_t idb[TJ_BAYES_ID_LEN];
		const uint8_t *id = it->id;
		if (!id) {
			tj_bayes_message_id(it->msg, it->len, idb);
			id = idb;
		}
		int cls = it->cls == TJ_BAYES_SPAM ? TJ_BAYES_SPAM : TJ_BAYES_HAM;
		MDB_val v;
		int g = mget(txn, b->db_seen, id, TJ_BAYES_ID_LEN, &v);
		int old = -1;
		if (g == 0 && v.mv_size >= 1)
			old = ((const uint8_t *)v.mv_data)[0];
		else if (g && g != TJ_ENOTFOUND) {
			rc = g;
			break;
		}
		if (old == cls) {
			it->rc = 1;
			continue;
		}
		if ((it->rc = tj_bayes_tokenize(it->msg, it->len, &t)) < 0)
			continue;
		if (old >= 0) { /* learned as the other class: move it */
			if ((rc = add_toks(&d, &t, old, -1)))
				break;
			tot_add(&tot, old, -1);
		}
		if ((rc = add_toks(&d, &t, cls, +1)))
			break;
		tot_add(&tot, cls, +1);
		tot.serial++;
		uint8_t sv[SEENVAL_LEN];
		sv[0] = (uint8_t)cls;
		tj_put64(sv + 1, tot.serial);
		rc = mput(txn, b->db_seen, id, TJ_BAYES_ID_LEN, sv, sizeof(sv));
		it->rc = 0;
	}
	if (!rc)
		rc = dtab_apply(b, txn, &d, tot.serial);
	if (!rc)
		rc = totals_put(b, txn, &tot);
	if (!rc)
		rc = mrc(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	free(d.v);
	tj_bayes_toks_free(&t);
	return rc;
}

int tj_bayes_learn(tj_bayes *b, const uint8_t *msg, size_t len, const uint8_t id[TJ_BAYES_ID_LEN],
		   enum tj_bayes_class cls)
{
	tj_bayes_item it = {.msg = msg, .len = len, .id = id, .cls = cls};
	int rc = tj_bayes_learn_batch(b, &it, 1);
	return rc ? rc : it.rc;
}

int tj_bayes_is_learned(tj_bayes *b, const uint8_t id[TJ_BAYES_ID_LEN], enum tj_bayes_class *cls_r)
{
	MDB_txn *txn;
	int rc = mrc(mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	MDB_val v;
	rc = mget(txn, b->db_seen, id, TJ_BAYES_ID_LEN, &v);
	if (rc == 0 && v.mv_size < 1)
		rc = TJ_ECORRUPT;
	if (rc == 0 && cls_r)
		*cls_r = ((const uint8_t *)v.mv_data)[0] == TJ_BAYES_SPAM ? TJ_BAYES_SPAM : TJ_BAYES_HAM;
	mdb_txn_abort(txn);
	return rc;
}

int tj_bayes_forget(tj_bayes *b, const uint8_t *msg, size_t len, const uint8_t id[TJ_BAYES_ID_LEN])
{
	if (b->read_only)
		return TJ_EINVAL;
	uint8_t idb[TJ_BAYES_ID_LEN];
	if (!id) {
		tj_bayes_message_id(msg, len, idb);
		id = idb;
	}
	tj_bayes_toks t;
	tj_bayes_toks_init(&t, 0);
	int rc = tj_bayes_tokenize(msg, len, &t);
	if (rc) {
		tj_bayes_toks_free(&t);
		return rc;
	}
	MDB_txn *txn;
	if ((rc = mrc(mdb_txn_begin(b->env, NULL, 0, &txn)))) {
		tj_bayes_toks_free(&t);
		return rc;
	}
	struct totals tot;
	struct dtab d = {0};
	MDB_val v;
	rc = totals_get(b, txn, &tot);
	if (!rc)
		rc = mget(txn, b->db_seen, id, TJ_BAYES_ID_LEN, &v);
	if (!rc && v.mv_size < 1)
		rc = TJ_ECORRUPT;
	if (!rc) {
		int old = ((const uint8_t *)v.mv_data)[0] == TJ_BAYES_SPAM ? TJ_BAYES_SPAM : TJ_BAYES_HAM;
		MDB_val key = {TJ_BAYES_ID_LEN, (void *)(uintptr_t)id};
		rc = add_toks(&d, &t, old, -1);
		tot_add(&tot, old, -1);
		if (!rc)
			rc = mrc(mdb_del(txn, b->db_seen, &key, NULL));
		if (!rc)
			rc = dtab_apply(b, txn, &d, tot.serial);
		if (!rc)
			rc = totals_put(b, txn, &tot);
	}
	if (!rc)
		rc = mrc(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	free(d.v);
	tj_bayes_toks_free(&t);
	return rc;
}

/* ------------------------------------------------------ classification */

double tj_bayes_chi2q(double x2, unsigned half_dof)
{
	/* for even degrees of freedom 2k: e^-m * sum_{i<k} m^i / i!, m = x2/2 */
	double m = x2 / 2.0, term, sum;
	if (x2 <= 0)
		return 1.0;
	sum = term = exp(-m);
	for (unsigned i = 1; i < half_dof; i++) {
		term *= m / i;
		sum += term;
	}
	return sum < 1.0 ? sum : 1.0;
}

struct clue {
	double f, dev;
	uint32_t idx, spam, ham;
};

static int cmp_clue(const void *a, const void *b)
{
	double x = ((const struct clue *)a)->dev, y = ((const struct clue *)b)->dev;
	return x > y ? -1 : x < y;
}

struct key {
	uint64_t h;
	uint32_t idx;
};

static int cmp_key(const void *a, const void *b)
{
	uint64_t x = ((const struct key *)a)->h, y = ((const struct key *)b)->h;
	return x < y ? -1 : x > y;
}

/* lookup - Robinson's f(w) for each known token; the significant ones into
 * clues.  Tokens are looked up in key order through one cursor, so
 * neighbouring keys come from pages just visited. */
static int lookup(tj_bayes *b, MDB_txn *txn, const struct totals *tot, const tj_bayes_toks *t, struct clue *clues,
		  size_t *nclues_r, uint32_t *known_r)
{
	struct key *keys = malloc((t->n ? t->n : 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		keys[i] = (struct key){t->hash[i], (uint32_t)i};
	qsort(keys, t->n, sizeof(*keys), cmp_key);
	MDB_cursor *c = NULL;
	int rc = mrc(mdb_cursor_open(txn, b->db_tokens, &c));
	size_t nc = 0;
	uint32_t known = 0;
	const double S = b->opts.s, X = b->opts.x, min_dev = b->opts.min_dev;
	const double nspam = (double)tot->nspam, nham = (double)tot->nham;
	for (size_t i = 0; i < t->n && !rc; i++) {
		uint8_t kb[8];
		tj_put64be(kb, keys[i].h);
		MDB_val key = {8, kb}, val;
		int g = mrc(mdb_cursor_get(c, &key, &val, MDB_SET_KEY));
		if (g == TJ_ENOTFOUND)
			continue;
		if (g) {
			rc = g;
			break;
		}
		if (val.mv_size != TOKVAL_LEN)
			continue;
		uint32_t sc = tj_get32(val.mv_data), hc = tj_get32((const uint8_t *)val.mv_data + 4);
		if (!sc && !hc)
			continue;
		known++;
		double sr = sc / nspam, hr = hc / nham;
		double p = sr / (sr + hr);
		double n = (double)sc + hc;
		double f = (S * X + n * p) / (S + n);
		double dev = fabs(f - 0.5);
		if (dev >= min_dev)
			clues[nc++] = (struct clue){f, dev, keys[i].idx, sc, hc};
	}
	if (c)
		mdb_cursor_close(c);
	free(keys);
	*nclues_r = nc;
	*known_r = known;
	return rc;
}

/* combine - Fisher's method: H and S from the chi-square of -2 ln of the
 * products of f and of 1 - f; I = (1 + H - S) / 2 */
static double combine(const struct clue *clues, size_t n)
{
	if (!n)
		return 0.5;
	double lnf = 0, ln1f = 0;
	for (size_t i = 0; i < n; i++) {
		lnf += log(clues[i].f);
		ln1f += log1p(-clues[i].f);
	}
	double H = tj_bayes_chi2q(-2.0 * lnf, (unsigned)n);
	double S = tj_bayes_chi2q(-2.0 * ln1f, (unsigned)n);
	double I = (1.0 + H - S) / 2.0;
	return I < 0 ? 0 : I > 1 ? 1 : I;
}

static int classify(tj_bayes *b, const uint8_t *msg, size_t len, const tj_bayes_toks *given, tj_bayes_clue_fn *fn,
		    void *arg, tj_bayes_result *res)
{
	memset(res, 0, sizeof(*res));
	res->prob = -1;
	MDB_txn *txn;
	int rc = mrc(mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	struct totals tot;
	if ((rc = totals_get(b, txn, &tot))) {
		mdb_txn_abort(txn);
		return rc;
	}
	if (tot.nspam < b->opts.min_learned || tot.nham < b->opts.min_learned || !tot.nspam || !tot.nham) {
		mdb_txn_abort(txn);
		return TJ_ENOTFOUND;
	}
	tj_bayes_toks own;
	tj_bayes_toks_init(&own, 0);
	const tj_bayes_toks *t = given;
	if (!t) {
		if ((rc = tj_bayes_tokenize(msg, len, &own))) {
			mdb_txn_abort(txn);
			tj_bayes_toks_free(&own);
			return rc;
		}
		t = &own;
	}
	struct clue *clues = malloc((t->n ? t->n : 1) * sizeof(*clues));
	size_t nc = 0;
	uint32_t known = 0;
	rc = clues ? lookup(b, txn, &tot, t, clues, &nc, &known) : -ENOMEM;
	mdb_txn_abort(txn);
	if (!rc) {
		if (nc > b->opts.max_used || fn) {
			qsort(clues, nc, sizeof(*clues), cmp_clue);
			if (nc > b->opts.max_used)
				nc = b->opts.max_used;
		}
		for (size_t i = 0; fn && i < nc; i++)
			fn(arg, clues[i].idx, clues[i].spam, clues[i].ham, clues[i].f);
		res->prob = combine(clues, nc);
		res->tokens = (uint32_t)t->n;
		res->known = known;
		res->used = (uint32_t)nc;
	}
	free(clues);
	tj_bayes_toks_free(&own);
	return rc;
}

int tj_bayes_classify_ex(tj_bayes *b, const uint8_t *msg, size_t len, tj_bayes_result *res_r)
{
	return classify(b, msg, len, NULL, NULL, NULL, res_r);
}

int tj_bayes_classify_toks(tj_bayes *b, const tj_bayes_toks *t, tj_bayes_result *res_r)
{
	return classify(b, NULL, 0, t, NULL, NULL, res_r);
}

int tj_bayes_explain(tj_bayes *b, const tj_bayes_toks *t, tj_bayes_clue_fn *fn, void *arg, tj_bayes_result *res_r)
{
	return classify(b, NULL, 0, t, fn, arg, res_r);
}

int tj_bayes_classify(tj_bayes *b, const uint8_t *msg, size_t len, double *prob_r)
{
	tj_bayes_result r;
	int rc = classify(b, msg, len, NULL, NULL, NULL, &r);
	*prob_r = rc ? -1 : r.prob;
	return rc;
}

/* ------------------------------------------------------- maintenance */

int tj_bayes_stats(tj_bayes *b, struct tj_bayes_stats *st)
{
	memset(st, 0, sizeof(*st));
	MDB_txn *txn;
	int rc = mrc(mdb_txn_begin(b->env, NULL, MDB_RDONLY, &txn));
	if (rc)
		return rc;
	struct totals tot;
	MDB_stat ms;
	rc = totals_get(b, txn, &tot);
	if (!rc)
		rc = mrc(mdb_stat(txn, b->db_tokens, &ms));
	if (!rc) {
		st->nspam = tot.nspam;
		st->nham = tot.nham;
		st->serial = tot.serial;
		st->ntokens = ms.ms_entries;
		st->ready = tot.nspam >= b->opts.min_learned && tot.nham >= b->opts.min_learned && tot.nspam &&
			    tot.nham;
		if (meta_u32(b, txn, "tokver", &st->tok_version))
			st->tok_version = TJ_BAYES_TOK_VERSION;
		MDB_envinfo ei;
		MDB_stat es;
		if (mdb_env_info(b->env, &ei) == 0 && mdb_env_stat(b->env, &es) == 0)
			st->db_bytes = (uint64_t)(ei.me_last_pgno + 1) * es.ms_psize;
	}
	mdb_txn_abort(txn);
	return rc;
}

int tj_bayes_expire(tj_bayes *b, uint64_t max_age, uint64_t *dropped_r)
{
	if (dropped_r)
		*dropped_r = 0;
	if (b->read_only)
		return TJ_EINVAL;
	MDB_txn *txn;
	int rc = mrc(mdb_txn_begin(b->env, NULL, 0, &txn));
	if (rc)
		return rc;
	struct totals tot;
	MDB_cursor *c = NULL;
	uint64_t dropped = 0;
	rc = totals_get(b, txn, &tot);
	if (!rc)
		rc = mrc(mdb_cursor_open(txn, b->db_tokens, &c));
	MDB_val key, val;
	int g = rc ? rc : mrc(mdb_cursor_get(c, &key, &val, MDB_FIRST));
	/* the serial is kept in 32 bits per token: compare modulo 2^32 */
	uint32_t now = (uint32_t)tot.serial;
	while (g == 0) {
		if (val.mv_size == TOKVAL_LEN) {
			const uint8_t *p = val.mv_data;
			uint64_t total = (uint64_t)tj_get32(p) + tj_get32(p + 4);
			uint32_t age = now - tj_get32(p + 8);
			if (total <= 1 && age > max_age) {
				if ((rc = mrc(mdb_cursor_del(c, 0))))
					break;
				dropped++;
			}
		}
		g = mrc(mdb_cursor_get(c, &key, &val, MDB_NEXT));
	}
	if (!rc && g != TJ_ENOTFOUND)
		rc = g;
	if (c)
		mdb_cursor_close(c);
	if (!rc)
		rc = mrc(mdb_txn_commit(txn));
	else
		mdb_txn_abort(txn);
	if (!rc && dropped_r)
		*dropped_r = dropped;
	return rc;
}

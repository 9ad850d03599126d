/*
 * bayes.h - the Bayesian spam classifier: token counts in an LMDB
 * environment of its own (the node uses <data_dir>/bayes/), learning with
 * sa-learn semantics, and Robinson/Fisher chi-square classification.
 *
 * Storage (docs/bayes.md): named databases
 *   tokens  8-byte token hash (big-endian) -> spam count, ham count,
 *           last learn serial (3 x u32 LE)
 *   seen    16-byte message id -> class (1 byte) + learn serial (u64 LE)
 *   meta    "format", "tokver", "totals" (nspam, nham, serial: 3 x u64 LE)
 *
 * Learning a message id a second time as the same class changes nothing;
 * learning it as the other class moves its counts; forgetting removes them.
 * A message id is the store's GUID when the caller has one, else the
 * XXH3-128 hash of the bytes (pass the GUID whenever it is known, so one
 * message is never counted twice under two ids).
 *
 * Threads: every function is thread-safe; share one handle between the
 * threads of a process (LMDB allows one open of an environment per process).  classify runs in an LMDB read
 * transaction (any number at once, never blocked by a learner); learn,
 * forget and expire take the single LMDB write lock, which also serialises
 * them against other processes that have the same directory open.
 * Durability: every learn/forget/expire is one LMDB transaction, synced at
 * commit: a crash loses at most the call in progress, never the database.
 */
#ifndef TJ_NODE_SCAN_BAYES_H
#define TJ_NODE_SCAN_BAYES_H

#include "node/scan/bayes-tok.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tj_bayes tj_bayes;

enum tj_bayes_class { TJ_BAYES_HAM = 0, TJ_BAYES_SPAM = 1 };

#define TJ_BAYES_ID_LEN 16
#define TJ_BAYES_MIN_LEARNED 200 /* of each class before classify answers (SpamAssassin's figure) */

typedef struct tj_bayes_opts {
	uint64_t map_size;    /* LMDB map size; default 8 GiB (sparse: the file holds what is used) */
	uint32_t min_learned; /* spam and ham each needed to classify; default TJ_BAYES_MIN_LEARNED */
	double s;             /* Robinson's strength of the prior; default 1 */
	double x;             /* Robinson's prior for an unknown token; default 0.5 */
	double min_dev;       /* tokens with |f(w) - 0.5| below this are left out; default 0.2 */
	unsigned max_used;    /* at most this many most significant tokens are combined; default 150 */
} tj_bayes_opts;

/* tj_bayes_opts_default - fill o with the defaults above. */
void tj_bayes_opts_default(tj_bayes_opts *o);

/* tj_bayes_open - open the classifier in dir (created, with its directory,
 * when read_only is false and it does not exist).  opts may be NULL.
 * 0; -ENOENT (read_only and no database), TJ_EVERSION (a newer format), or
 * another negative code (LMDB, -errno).  *b_r is set only on success. */
int tj_bayes_open(const char *dir, bool read_only, tj_bayes **b_r);
int tj_bayes_open_opts(const char *dir, bool read_only, const tj_bayes_opts *opts, tj_bayes **b_r);

/* tj_bayes_close - close and NULL *b (NULL is fine).  No call may be in
 * progress on another thread. */
void tj_bayes_close(tj_bayes **b);

/* tj_bayes_message_id - the id used when a caller has no GUID: the
 * XXH3-128 hash of the bytes. */
void tj_bayes_message_id(const uint8_t *msg, size_t len, uint8_t id_r[TJ_BAYES_ID_LEN]);

/* tj_bayes_learn - learn one message as cls.  id may be NULL (the hash of
 * the bytes).  0 learned (or moved from the other class), 1 already learned
 * as cls (nothing changed), or a negative code (TJ_EINVAL on a read-only
 * handle, -ENOMEM, LMDB errors such as MDB_MAP_FULL). */
int tj_bayes_learn(tj_bayes *b, const uint8_t *msg, size_t len, const uint8_t id[TJ_BAYES_ID_LEN],
		   enum tj_bayes_class cls);

/* One message of a batch. */
typedef struct tj_bayes_item {
	const uint8_t *msg;
	size_t len;
	const uint8_t *id;       /* TJ_BAYES_ID_LEN bytes, or NULL: hash of msg */
	enum tj_bayes_class cls;
	int rc;                  /* out: 0 learned, 1 already known as cls, <0 not learned */
} tj_bayes_item;

/* tj_bayes_learn_batch - learn n messages in one write transaction (one
 * sync).  The same id twice in a batch counts once.  Returns 0 when the
 * transaction committed (each item's rc then says what became of it; an
 * item that could not be tokenized has rc < 0 and changed nothing), or a
 * negative code when nothing was committed. */
int tj_bayes_learn_batch(tj_bayes *b, tj_bayes_item *items, size_t n);

/* tj_bayes_is_learned - 0 and *cls_r if the id was learned, TJ_ENOTFOUND if
 * not, or a negative code.  Lets a caller skip reading mail it has learned. */
int tj_bayes_is_learned(tj_bayes *b, const uint8_t id[TJ_BAYES_ID_LEN], enum tj_bayes_class *cls_r);

/* tj_bayes_forget - unlearn a message (its bytes are needed for its tokens;
 * id may be NULL as for learn).  0, TJ_ENOTFOUND (never learned), or a
 * negative code. */
int tj_bayes_forget(tj_bayes *b, const uint8_t *msg, size_t len, const uint8_t id[TJ_BAYES_ID_LEN]);

typedef struct tj_bayes_result {
	double prob;      /* probability of spam in [0, 1]; -1 when not ready */
	uint32_t tokens;  /* the message's distinct tokens */
	uint32_t known;   /* of which the database has counts for */
	uint32_t used;    /* of which were combined (significant, at most max_used) */
} tj_bayes_result;

/* tj_bayes_classify - the probability that the message is spam.
 * 0 and *prob_r in [0, 1] (0.5 when no token says anything);
 * TJ_ENOTFOUND when fewer than min_learned spam or ham messages have been
 * learned (*prob_r is then -1: "no Bayes verdict", as SpamAssassin gives
 * no BAYES_* rule); or another negative code. */
int tj_bayes_classify(tj_bayes *b, const uint8_t *msg, size_t len, double *prob_r);
/* tj_bayes_classify_ex - the same with details. */
int tj_bayes_classify_ex(tj_bayes *b, const uint8_t *msg, size_t len, tj_bayes_result *res_r);
/* tj_bayes_classify_toks - the same for an already tokenized message. */
int tj_bayes_classify_toks(tj_bayes *b, const tj_bayes_toks *t, tj_bayes_result *res_r);
/* tj_bayes_explain - classify_toks, calling fn for each token combined
 * (index into t, its counts and f(w)), most significant first: for tuning
 * and for an operator asking why. */
typedef void tj_bayes_clue_fn(void *arg, size_t tok_index, uint32_t spam, uint32_t ham, double f);
int tj_bayes_explain(tj_bayes *b, const tj_bayes_toks *t, tj_bayes_clue_fn *fn, void *arg, tj_bayes_result *res_r);

struct tj_bayes_stats {
	uint64_t nspam, nham;   /* messages learned */
	uint64_t ntokens;       /* distinct tokens held */
	uint64_t serial;        /* messages learned ever (expiry's clock) */
	uint32_t tok_version;   /* tokenizer version the counts were made with */
	uint64_t db_bytes;      /* size of the LMDB file */
	bool ready;             /* nspam and nham >= min_learned */
};

/* tj_bayes_stats - counts.  0 or a negative code. */
int tj_bayes_stats(tj_bayes *b, struct tj_bayes_stats *st);

/* tj_bayes_expire - drop rare, stale tokens: those counted once in all
 * (spam + ham == 1) whose last learn is more than max_age learned messages
 * ago.  Meant for periodic maintenance; *dropped_r (may be NULL) gets the
 * number dropped.  0 or a negative code. */
int tj_bayes_expire(tj_bayes *b, uint64_t max_age, uint64_t *dropped_r);

/* tj_bayes_chi2q - P(chi-square with 2*half_dof degrees of freedom >= x2),
 * the upper tail Fisher's method needs (exported for tests). */
double tj_bayes_chi2q(double x2, unsigned half_dof);

#endif

/*
 * store.h - tjstore's mail store: segment files + an LMDB index.
 *
 * Writes: every mutation is a tj_op (store/op.h).  tj_store_submit() queues
 * it; one committer thread takes everything queued, writes new message
 * records to the active segment, fdatasyncs once, applies all ops in one LMDB
 * write transaction (each op in a nested transaction, so one failing op does
 * not fail its neighbours), appends the resolved ops to the op log in that
 * same transaction, commits, and only then completes the requests (group
 * commit).  A completed op is durable.
 *
 * Reads: open a tj_rtxn (an LMDB read snapshot; any thread, cheap), look
 * things up, read message bytes; everything a read returns through a pointer
 * is valid until tj_rtxn_end().  Readers never block the writer or each other.
 *
 * Threads: all functions are thread-safe except that one tj_rtxn must be used
 * by one thread at a time.
 */
#ifndef TJ_STORE_STORE_H
#define TJ_STORE_STORE_H

#include "common/buf.h"
#include "store/op.h"

#include <stdint.h>

typedef struct tj_store tj_store;
typedef struct tj_rtxn tj_rtxn;

typedef struct tj_store_opts {
	uint64_t map_size;         /* LMDB map size; default 256 GiB (sparse) */
	uint64_t segment_size;     /* rotate segments at this size; default 64 MiB */
	int zstd_level;            /* default 3 */
	uint32_t dict_train_after; /* train the first dictionary once this many
				      messages are stored; default 1000, 0 = never */
	uint64_t log_retain;       /* keep at least this many ops in the log; default 1,000,000 */
	unsigned compact_interval; /* seconds between background compaction checks, 0 = no
				      background job (tjstore-cli compact still works); default 0 */
	double compact_threshold;  /* rewrite segments less than this fraction live; default 0.5 */
	int read_only;             /* open for reading only (no committer) */
} tj_store_opts;

/* tj_store_opts_default - fill opts with the defaults above. */
void tj_store_opts_default(tj_store_opts *opts);

/* tj_store_open - open (creating if needed) the store in dir.  Takes an
 * exclusive lock on dir (TJ_EEXIST-like -EWOULDBLOCK if another process has
 * it), truncates torn segment tails, starts the committer.  opts may be NULL.
 * 0 or a negative code; *st_r is set only on success. */
int tj_store_open(const char *dir, const tj_store_opts *opts, tj_store **st_r);

/* tj_store_close - drain queued writes, stop threads, close.  NULLs *st. */
void tj_store_close(tj_store **st);

/* tj_store_last_error - a sentence about the last open/verify failure. */
const char *tj_store_last_error(tj_store *st);

/* ---- writing ---- */

/* A message prepared for storage: GUID computed and record compressed, done
 * in the caller's thread so compression runs in parallel. */
typedef struct tj_msgrec {
	uint8_t guid[TJ_GUID_LEN];
	uint32_t raw_size;
	tj_buf rec;   /* the whole segment record */
	tj_buf cache; /* optional: an opaque blob kept with the message while it
		       * is stored (the node keeps its parsed MIME form here);
		       * written in the same transaction as the bytes */
} tj_msgrec;

/* tj_store_prepare - compute GUID and compressed record for raw bytes.
 * Free with tj_msgrec_free.  0, TJ_ETOOBIG or -ENOMEM. */
int tj_store_prepare(tj_store *st, const void *raw, size_t len, tj_msgrec *m_r);
void tj_msgrec_free(tj_msgrec *m);

typedef void tj_store_cb(void *arg, int rc, tj_op *op);

/* tj_store_submit - queue op (with its prepared message for APPEND; NULL
 * otherwise; for an APPEND whose GUID the store already holds, msg may be
 * NULL).  op and msg must stay valid until cb runs.  cb runs on the
 * committer thread after the commit, with rc 0 and op resolved in place
 * (e.g. op->uid is the new UID), or a negative code (TJ_EQUOTA,
 * TJ_ENOTFOUND, -ENOSPC ...) and nothing changed.  Returns 0 if queued
 * (cb will run) or an error (cb will not run). */
int tj_store_submit(tj_store *st, tj_op *op, const tj_msgrec *msg, tj_store_cb *cb, void *arg);

/* tj_store_exec - submit and wait.  Returns the op's result. */
int tj_store_exec(tj_store *st, tj_op *op, const tj_msgrec *msg);

/* tj_store_deliver - convenience: prepare raw bytes and APPEND them to
 * user/mailbox (by name), waiting for durability.  *uid_r gets the UID. */
int tj_store_deliver(tj_store *st, const char *user, const char *mailbox, const void *raw, size_t len,
		     int64_t internal_date, uint32_t sys_flags, uint32_t *uid_r);

/* tj_store_user_id - the stable numeric id of a user name (lowercased):
 * the first 4 bytes of SHA-256, the same on every node. */
uint32_t tj_store_user_id(const char *name);

/* tj_store_valid_user_name / tj_store_valid_mbox_name - 0 or TJ_EINVAL */
int tj_store_valid_user_name(const char *name, size_t len);
int tj_store_valid_mbox_name(const char *name, size_t len);

/* ---- reading ---- */

typedef struct tj_user_info {
	uint32_t id;
	uint8_t state;          /* enum tj_user_state */
	uint8_t source;         /* enum tj_user_source */
	uint64_t quota_base;    /* the users file's quota number, before the multiplier */
	uint64_t quota_bytes, used_bytes;
	uint32_t quota_msgs, used_msgs;
	tj_slice name;
} tj_user_info;

typedef struct tj_mbox_info {
	uint64_t id;
	uint32_t user_id;
	uint32_t uidvalidity, uidnext;
	uint32_t special_use;
	uint64_t highestmodseq;
	uint32_t messages, unseen, deleted;
	uint64_t bytes;
	tj_slice name;
	uint32_t nkeywords;
	tj_slice keywords[TJ_OP_MAX_KEYWORDS];
} tj_mbox_info;

typedef struct tj_msg_info {
	uint32_t uid;
	uint8_t guid[TJ_GUID_LEN];
	uint64_t modseq;
	int64_t internal_date;
	uint32_t raw_size;
	uint32_t sys_flags;
	uint64_t keywords; /* bit i = the mailbox's keyword i */
} tj_msg_info;

int tj_rtxn_begin(tj_store *st, tj_rtxn **r_r);
void tj_rtxn_end(tj_rtxn **r);

/* lookups: 0, TJ_ENOTFOUND, or another negative code */
int tj_store_user_get(tj_rtxn *r, const char *name, tj_user_info *u_r);
int tj_store_user_get_id(tj_rtxn *r, uint32_t id, tj_user_info *u_r);
int tj_store_mbox_find(tj_rtxn *r, uint32_t user_id, const char *name, tj_mbox_info *m_r);
int tj_store_mbox_get(tj_rtxn *r, uint64_t mbox_id, tj_mbox_info *m_r);
int tj_store_msg_get(tj_rtxn *r, uint64_t mbox_id, uint32_t uid, tj_msg_info *m_r);
int tj_store_is_subscribed(tj_rtxn *r, uint32_t user_id, const char *name);

/* iteration: the callback returns 0 to go on, anything else stops and is
 * returned.  Order: users by id, mailboxes by name, messages by UID,
 * changes by MODSEQ. */
typedef int tj_user_fn(void *arg, const tj_user_info *u);
typedef int tj_mbox_fn(void *arg, const tj_mbox_info *m);
typedef int tj_msg_fn(void *arg, const tj_msg_info *m);
typedef int tj_subs_fn(void *arg, tj_slice name);
typedef int tj_vanished_fn(void *arg, uint32_t uid, uint64_t modseq);
int tj_store_users(tj_rtxn *r, tj_user_fn *fn, void *arg);
int tj_store_mboxes(tj_rtxn *r, uint32_t user_id, tj_mbox_fn *fn, void *arg);
int tj_store_subscriptions(tj_rtxn *r, uint32_t user_id, tj_subs_fn *fn, void *arg);
int tj_store_msgs(tj_rtxn *r, uint64_t mbox_id, uint32_t uid_lo, uint32_t uid_hi, tj_msg_fn *fn, void *arg);
/* tj_store_msgs_get - the messages of mbox_id named by uids (n UIDs,
 * strictly ascending), read in one cursor walk instead of one B-tree
 * descent each: fn(arg, i, m) for every one that exists, in order, i being
 * its index in uids; UIDs that do not exist are skipped.  The callback
 * returns 0 to go on; anything else stops the walk and is returned. */
typedef int tj_msg_at_fn(void *arg, size_t i, const tj_msg_info *m);
int tj_store_msgs_get(tj_rtxn *r, uint64_t mbox_id, const uint32_t *uids, size_t n, tj_msg_at_fn *fn, void *arg);
/* messages whose MODSEQ > since (CONDSTORE CHANGEDSINCE) */
int tj_store_changed_since(tj_rtxn *r, uint64_t mbox_id, uint64_t since, tj_msg_fn *fn, void *arg);
/* UIDs expunged with MODSEQ > since (QRESYNC VANISHED) */
int tj_store_vanished_since(tj_rtxn *r, uint64_t mbox_id, uint64_t since, tj_vanished_fn *fn, void *arg);

/* tj_store_read - append bytes [off, off+len) of the message with this GUID
 * (len SIZE_MAX = to the end) to out, after checking the record's checksum.
 * 0, TJ_ENOTFOUND, TJ_ECORRUPT (never wrong bytes) or -errno. */
int tj_store_read(tj_rtxn *r, const uint8_t guid[TJ_GUID_LEN], size_t off, size_t len, tj_buf *out);

/* tj_store_cache_get - the cache blob stored with a message (see tj_msgrec),
 * valid until tj_rtxn_end.  0, TJ_ENOTFOUND (none stored) or an error. */
int tj_store_cache_get(tj_rtxn *r, const uint8_t guid[TJ_GUID_LEN], tj_slice *blob_r);

/* tj_store_cache_put - store or replace the cache blob of a stored message
 * (e.g. after a format change, or for mail imported without one).  Node-local:
 * not an op, not replicated.  0, TJ_ENOTFOUND (no such message) or an error. */
int tj_store_cache_put(tj_store *st, const uint8_t guid[TJ_GUID_LEN], const void *blob, size_t len);

/* tj_store_cache_put_batch - store or replace the cache blobs of n stored
 * messages in one commit, without waiting for it (the blobs are copied;
 * messages gone meanwhile are skipped; a failure is logged).  For upgrading
 * many blobs at once.  0 when queued, or -ENOMEM / TJ_ECLOSED. */
int tj_store_cache_put_batch(tj_store *st, size_t n, const uint8_t (*guids)[TJ_GUID_LEN], const tj_slice *blobs);

/* ---- the op log ---- */

typedef int tj_log_fn(void *arg, uint64_t seq, const uint8_t *op, size_t len);
/* tj_store_log - call fn for each logged op with seq > after, in order */
int tj_store_log(tj_rtxn *r, uint64_t after, tj_log_fn *fn, void *arg);
/* tj_store_log_last - the last logged seq (0 if none) */
uint64_t tj_store_log_last(tj_rtxn *r);

/* ---- maintenance ---- */

typedef struct tj_store_stats {
	uint64_t users, mailboxes, messages;
	uint64_t raw_bytes;     /* sum of message sizes over all mailboxes */
	uint64_t unique_messages, unique_raw_bytes; /* single-instance */
	uint64_t stored_bytes;  /* bytes in segment files */
	uint64_t live_bytes;    /* of which still referenced */
	uint64_t segments;
	uint64_t index_bytes;   /* LMDB file */
	uint64_t log_ops;
	uint32_t dict_id;       /* current dictionary, 0 = none */
	uint64_t dict_records;  /* records compressed with a dictionary */
	/* since open: committed batches, segment fdatasyncs, requests */
	uint64_t batches, segment_syncs, requests;
} tj_store_stats;

int tj_store_stats_get(tj_store *st, tj_store_stats *s_r);

/* tj_store_stats_format - the statistics as text (one "name value" line
 * each) or, with json set, as one JSON object (keys include messages,
 * raw_bytes, stored_bytes), appended to out. */
int tj_store_stats_format(const tj_store_stats *s, int json, tj_buf *out);

/* tj_store_train_dict - train a new dictionary from up to `samples` stored
 * messages and make it current.  0 or a negative code. */
int tj_store_train_dict(tj_store *st, unsigned samples);

/* tj_store_compact - rewrite segments whose live ratio is below `threshold`
 * (0..1), and with recompress set also every record not compressed with the
 * current dictionary; then unlink segments no reader can still use.
 * Writers and readers keep going meanwhile.  *moved_r gets the bytes moved. */
int tj_store_compact(tj_store *st, double threshold, int recompress, uint64_t *moved_r);

/* tj_store_trim_log - drop log entries so that at most `keep` remain, after
 * subtracting the message references EXPUNGEs queued (the committer
 * otherwise does that when idle): the bytes no longer referenced by a
 * message or a log entry are released when it returns. */
int tj_store_trim_log(tj_store *st, uint64_t keep);

typedef void tj_problem_fn(void *arg, const char *problem);
/* tj_store_verify - walk every record and the whole index; call fn once per
 * problem found (naming the user, mailbox and UID where there is one).
 * Returns 0 when clean, 1 when problems were found, or a negative code. */
int tj_store_verify(tj_store *st, tj_problem_fn *fn, void *arg);

/* tj_store_dump - a deterministic text dump of users, mailboxes, messages
 * (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, UIDs, MODSEQs, flags, keywords, GUIDs)
 * and subscriptions, for comparing two stores. */
int tj_store_dump(tj_store *st, tj_buf *out);

#endif

/*
 * store-private.h - the store's internals, shared by the store/ sources only.
 *
 * LMDB layout (named databases; integer keys big-endian so they sort):
 *   meta      "uidvalidity" -> u32 last issued; "next_seg" -> u32; "format" -> u32
 *   users     u32 user id -> user record
 *   mbox      u64 mailbox id (user id << 32 | n) -> mailbox record
 *   mboxname  u32 user id + name -> u64 mailbox id
 *   msgs      u64 mailbox id + u32 UID -> message record (48 bytes)
 *   changes   u64 mailbox id + u64 MODSEQ + u32 UID -> "" (that UID) or, from
 *             format 2, the UID ranges (u32 lo, u32 hi each; the first lo is
 *             the key's UID) an op gave that MODSEQ (CONDSTORE).  An entry is
 *             stale for a UID whose message has another MODSEQ or is gone;
 *             readers skip those, compaction tidies them.
 *   expunged  u64 mailbox id + u64 MODSEQ + u32 UID -> ""   (QRESYNC tombstones)
 *   guids     GUID -> location record (segment, offset, lengths, refcount)
 *   seglive   u32 segment + u64 offset -> GUID   (live records per segment)
 *   segs      u32 segment -> segment record (committed end, live bytes, state)
 *   oplog     u64 seq -> encoded resolved op
 *   subs      u32 user id + name -> ""
 *   dicts     u32 dictionary id -> zstd dictionary
 *   cache     GUID -> the node's opaque per-message blob (parsed MIME)
 *   unref     u64 seq -> GUIDs (16 bytes each) of messages an EXPUNGE
 *             removed whose reference is still counted (format 2): the
 *             committer subtracts them when it has nothing else to do
 * A GUID's refcount counts the messages that point at it, the op-log
 * APPEND entries that name it (so replication can still ship the bytes)
 * and its entries in unref.
 */
#ifndef TJ_STORE_PRIVATE_H
#define TJ_STORE_PRIVATE_H

#include "store/compress.h"
#include "store/store.h"

#include <lmdb.h>
#include <pthread.h>

/* index format: 1 first; 2 change-index entries may hold UID ranges, and
 * the unref database (a format-1 index is read as is, and gets the
 * database and the mark 2 when opened for writing) */
#define TJ_STORE_FORMAT 2

enum tj_seg_state { TJ_SEG_LIVE = 0, TJ_SEG_DEAD = 1 };

typedef struct seg_rec {
	uint64_t end;      /* committed bytes */
	uint64_t live;     /* bytes of records still referenced */
	uint32_t state;    /* enum tj_seg_state */
	uint64_t dead_txn; /* txn id that emptied it (unlink when no older reader) */
} seg_rec;

typedef struct loc_rec {
	uint32_t seg;
	uint32_t stored_len; /* whole record */
	uint64_t off;
	uint32_t raw_len;
	uint32_t refs;
	uint32_t dict_id;
} loc_rec;

struct tj_store {
	char *dir;
	char errbuf[512];
	tj_store_opts opts;
	int lockfd;
	int segdirfd;
	MDB_env *env;
	MDB_dbi db_meta, db_users, db_mbox, db_mboxname, db_msgs, db_changes, db_expunged, db_guids, db_seglive,
		db_segs, db_oplog, db_subs, db_dicts, db_cache, db_unref;
	int has_unref;      /* db_unref exists (a read-only open of a format-1 index has none) */
	tj_dicts *dicts;

	/* segment file descriptors and read-only mappings, by id (grown under
	 * seg_lock); a mapping is made once per segment, sized to the segment
	 * size plus slack, and unmapped only when the segment is unlinked */
	pthread_mutex_t seg_lock;
	int *seg_fds;
	struct tj_segmap {
		const uint8_t *base;
		size_t len;
	} *seg_maps;
	uint32_t seg_fds_cap;

	/* committer-only state */
	uint32_t active_seg;
	uint64_t active_end;
	uint64_t active_alloc; /* bytes of the active file already written (zeros past the end) */
	int active_fd;
	int index_fd;          /* data.mdb, for preallocation only */
	uint64_t index_alloc;  /* its size */
	tj_buf wbuf;
	tj_buf redo;        /* the batch record being built */
	struct tj_redo *pending_redo; /* batches found at open past the index's end */
	uint64_t msgs_since_check;
	int force_rotate;
	int unref_pending;  /* unref may hold entries */
	uint64_t n_batches, n_syncs, n_reqs; /* counters (atomic reads) */

	/* the queue */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct tj_req *q_head, *q_tail;
	int stopping;
	pthread_t committer;
	int committer_running;

	/* background compaction */
	pthread_t compactor;
	int compactor_running;
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	int bg_stop;

	/* background dictionary training */
	pthread_t trainer;
	int trainer_running;
	int trainer_done;
};

/* what a request's function gets while running inside the batch txn */
typedef struct tj_wctx {
	tj_store *st;
	MDB_txn *txn;      /* the request's own nested txn */
	tj_buf *wbuf;      /* bytes to append to the active segment */
	uint64_t base_off; /* where wbuf[0] will land */
	uint32_t seg;      /* the active segment */
	uint64_t *log_seq; /* last used op-log sequence number */
	tj_buf *redo;      /* this batch's logged ops (u32 length + bytes each), for the batch record */
	uint32_t *redo_n;  /* how many */
} tj_wctx;

typedef int tj_req_fn(tj_wctx *w, void *arg);

/* tj_store_run - run fn inside the committer's next batch (its own nested
 * txn; a failure rolls back just this fn) and wait.  Returns fn's result,
 * or the batch's write/commit error. */
int tj_store_run(tj_store *st, tj_req_fn *fn, void *arg);
/* tj_store_run_async - the same without waiting: cb(cbarg, rc, NULL) runs on
 * the committer thread after the batch.  0 if queued (cb will run). */
int tj_store_run_async(tj_store *st, tj_req_fn *fn, void *arg, tj_store_cb *cb, void *cbarg);

/* apply.c */
int tj_apply(tj_wctx *w, tj_op *op, const tj_msgrec *msg);
/* tj_unref_drain - subtract up to max references queued in unref (runs in
 * the committer, in a batch of its own); *left_r is set when more remain.
 * A GUID that cannot be released is logged and dropped from the queue. */
int tj_unref_drain(tj_wctx *w, unsigned max, int *left_r);
int tj_guid_unref(tj_wctx *w, const uint8_t guid[TJ_GUID_LEN]);
int tj_guid_ref(tj_wctx *w, const uint8_t guid[TJ_GUID_LEN], const tj_msgrec *msg);

/* record (de)serialisation and key builders (index.c) */
void seg_rec_get(const MDB_val *v, seg_rec *s);
void seg_rec_put(uint8_t out[32], const seg_rec *s);
int loc_rec_get(const MDB_val *v, loc_rec *l);
void loc_rec_put(uint8_t out[32], const loc_rec *l);
int user_rec_get(const MDB_val *v, uint32_t id, tj_user_info *u);
int user_rec_put(tj_buf *out, const tj_user_info *u, uint32_t next_mbox);
uint32_t user_rec_next_mbox(const MDB_val *v);
int mbox_rec_get(const MDB_val *v, uint64_t id, tj_mbox_info *m);
int mbox_rec_put(tj_buf *out, const tj_mbox_info *m);
int msg_rec_get(const MDB_val *v, uint32_t uid, tj_msg_info *m);
void msg_rec_put(uint8_t out[48], const tj_msg_info *m);
void key_u32(uint8_t k[4], uint32_t a);
void key_u64(uint8_t k[8], uint64_t a);
void key_msg(uint8_t k[12], uint64_t mbox, uint32_t uid);
void key_mod(uint8_t k[20], uint64_t mbox, uint64_t modseq, uint32_t uid);
void key_segoff(uint8_t k[12], uint32_t seg, uint64_t off);
/* changes_covers - 1 if the change index has an entry giving uid MODSEQ modseq */
int changes_covers(MDB_txn *t, MDB_dbi d, uint64_t mbox, uint64_t modseq, uint32_t uid);

/* segment files (segment.c) */
int tj_seg_fd(tj_store *st, uint32_t seg);   /* open (cached) fd for reading, or -errno */
void tj_seg_forget(tj_store *st, uint32_t seg);
int tj_seg_path(tj_store *st, uint32_t seg, char *buf, size_t sz);
int tj_seg_read_record(tj_store *st, const loc_rec *l, tj_buf *out, tj_rec *rec_r);
/* tj_seg_view - decode the record at l in place (no copy): rec_r->payload
 * points into the segment's mapping, valid while the caller's snapshot keeps
 * the segment alive.  0, TJ_ECORRUPT or -errno. */
int tj_seg_view(tj_store *st, const loc_rec *l, tj_rec *rec_r);

/* mdb helpers */
int tj_mget(MDB_txn *t, MDB_dbi d, const void *k, size_t klen, MDB_val *v);
int tj_mput(MDB_txn *t, MDB_dbi d, const void *k, size_t klen, const void *v, size_t vlen);
int tj_mdel(MDB_txn *t, MDB_dbi d, const void *k, size_t klen);

struct tj_rtxn {
	tj_store *st;
	MDB_txn *txn;
	tj_buf tmp;
};

#endif

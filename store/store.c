/*
 * store.c - opening the store, crash recovery, and the group-commit writer.
 *
 * One committer thread owns all writes.  Callers queue requests (ops, or
 * internal functions such as compaction moves); the committer takes the whole
 * queue as one batch: each request runs in a nested LMDB transaction inside
 * one batch transaction, new record bytes collect in one buffer, which is
 * written to the active segment and fdatasync'd *before* the batch
 * transaction commits.  Only after the commit are the callers told.  So a
 * completed request is durable, and a crash leaves at most bytes past the
 * committed end of a segment, which open truncates.
 */
#include "common/err.h"
#include "common/log.h"
#include "store/store-private.h"

#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TJ_GATHER_US 200 /* longest wait for a batch to fill */

struct tj_req {
	tj_req_fn *fn; /* internal request, or NULL for an op */
	void *arg;
	tj_op *op;
	const tj_msgrec *msg;
	int was_resolved;
	tj_store_cb *cb;
	void *cbarg;
	int rc;
	struct tj_req *next;
};

void tj_store_opts_default(tj_store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->map_size = 256ULL << 30;
	o->segment_size = 64ULL << 20;
	o->zstd_level = 3;
	o->dict_train_after = 1000;
	o->log_retain = 1000000;
	o->compact_interval = 0;
	o->compact_threshold = 0.5;
}

/* ---- background compaction ---- */

/* needs_compaction - is any sealed segment under the threshold? */
static int needs_compaction(tj_store *st)
{
	tj_rtxn *r;
	if (tj_rtxn_begin(st, &r))
		return 0;
	MDB_cursor *c;
	MDB_val k, v;
	int need = 0;
	if (mdb_cursor_open(r->txn, st->db_segs, &c) == 0) {
		/* the last segment is (or will be) the active one */
		uint32_t last = 0;
		if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
			last = tj_get32be(k.mv_data);
		for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && !need;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			seg_rec s;
			seg_rec_get(&v, &s);
			if (tj_get32be(k.mv_data) != last &&
			    (s.state == TJ_SEG_DEAD || (double)s.live < st->opts.compact_threshold * (double)s.end))
				need = 1;
		}
		mdb_cursor_close(c);
	}
	tj_rtxn_end(&r);
	return need;
}

static void *compactor_main(void *arg)
{
	tj_store *st = arg;
	pthread_mutex_lock(&st->bg_lock);
	while (!st->bg_stop) {
		struct timespec dl;
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += st->opts.compact_interval;
		while (!st->bg_stop && pthread_cond_timedwait(&st->bg_cond, &st->bg_lock, &dl) == 0)
			;
		if (st->bg_stop)
			break;
		pthread_mutex_unlock(&st->bg_lock);
		if (needs_compaction(st)) {
			uint64_t moved = 0;
			int rc = tj_store_compact(st, st->opts.compact_threshold, 0, &moved);
			tj_log(rc ? TJ_LOG_WARN : TJ_LOG_INFO, "store", "event=background_compaction moved_bytes=%llu result=\"%s\"",
			       (unsigned long long)moved, tj_strerror(rc));
		}
		pthread_mutex_lock(&st->bg_lock);
	}
	pthread_mutex_unlock(&st->bg_lock);
	return NULL;
}

const char *tj_store_last_error(tj_store *st)
{
	return st && st->errbuf[0] ? st->errbuf : "no error";
}

/* ---- names ---- */

uint32_t tj_store_user_id(const char *name)
{
	char low[256];
	size_t n = strlen(name);
	if (n > sizeof(low) - 1)
		n = sizeof(low) - 1;
	for (size_t i = 0; i < n; i++)
		low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	uint8_t g[TJ_GUID_LEN];
	tj_guid_compute(low, n, g);
	uint32_t id = tj_get32be(g);
	return id ? id : 1; /* 0 is never a user id */
}

int tj_store_valid_user_name(const char *name, size_t len)
{
	if (len == 0 || len > 255)
		return TJ_EINVAL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
		      c == '_' || c == '-' || c == '@' || c == '+'))
			return TJ_EINVAL;
	}
	return 0;
}

/* mailbox names: UTF-8 text, '/' separates levels, no empty level, no
 * control characters, at most 255 bytes a level and 1024 in all */
int tj_store_valid_mbox_name(const char *name, size_t len)
{
	if (len == 0 || len > TJ_OP_MAX_NAME || name[0] == '/' || name[len - 1] == '/')
		return TJ_EINVAL;
	size_t level = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f)
			return TJ_EINVAL;
		if (c == '/') {
			if (level == 0)
				return TJ_EINVAL;
			level = 0;
			continue;
		}
		if (++level > 255)
			return TJ_EINVAL;
	}
	/* well-formed UTF-8 */
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)name[i];
		size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
		if (n == 0 || i + n > len)
			return TJ_EINVAL;
		for (size_t j = 1; j < n; j++)
			if (((unsigned char)name[i + j] >> 6) != 2)
				return TJ_EINVAL;
		i += n;
	}
	return 0;
}

/* ---- open / recovery ---- */

static int set_err(tj_store *st, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(tj_store *st, int rc, const char *fmt, ...)
{
	char what[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(st->errbuf, sizeof(st->errbuf), "%.400s: %s", what, tj_strerror(rc));
	return rc;
}

static int open_dbs(tj_store *st, MDB_txn *txn, unsigned flags)
{
	struct {
		const char *name;
		MDB_dbi *dbi;
	} dbs[] = {
		{"meta", &st->db_meta},     {"users", &st->db_users},       {"mbox", &st->db_mbox},
		{"mboxname", &st->db_mboxname}, {"msgs", &st->db_msgs},     {"changes", &st->db_changes},
		{"expunged", &st->db_expunged}, {"guids", &st->db_guids},   {"seglive", &st->db_seglive},
		{"segs", &st->db_segs},     {"oplog", &st->db_oplog},       {"subs", &st->db_subs},
		{"dicts", &st->db_dicts},   {"cache", &st->db_cache},
	};
	for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
		int rc = mdb_dbi_open(txn, dbs[i].name, flags, dbs[i].dbi);
		if (rc)
			return tj_from_mdb(rc);
	}
	/* format 2: a format-1 index opened read-only has no unref queue */
	int rc = mdb_dbi_open(txn, "unref", flags, &st->db_unref);
	if (rc && !(rc == MDB_NOTFOUND && !(flags & MDB_CREATE)))
		return tj_from_mdb(rc);
	st->has_unref = rc == 0;
	if (st->has_unref) {
		MDB_stat ms;
		st->unref_pending = mdb_stat(txn, st->db_unref, &ms) == 0 && ms.ms_entries > 0;
	}
	return 0;
}

static int load_dicts(tj_store *st, MDB_txn *txn)
{
	MDB_cursor *c;
	int rc = tj_from_mdb(mdb_cursor_open(txn, st->db_dicts, &c));
	if (rc)
		return rc;
	MDB_val k, v;
	uint32_t last = 0;
	int mrc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 4)
			continue;
		uint32_t id = tj_get32be(k.mv_data);
		if ((rc = tj_dicts_add(st->dicts, id, v.mv_data, v.mv_size)))
			break;
		last = id;
	}
	mdb_cursor_close(c);
	if (!rc)
		tj_dicts_set_current(st->dicts, last);
	return rc;
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* ---- redo: batch records past the index's committed end ----
 *
 * LMDB runs with MDB_NOMETASYNC: a commit syncs its data pages but not the
 * meta page, which reaches the disk with the next commit's sync.  A system
 * crash can therefore undo the last committed transaction (never more, and
 * never leaving LMDB inconsistent).  Every batch writes, before its segment
 * fdatasync, a batch record holding its resolved ops; so what LMDB lost is in
 * the segment past the committed end, and open applies it again.  Ops whose
 * sequence number the log already has are skipped; a batch without its batch
 * record was never acknowledged and is dropped. */

struct tj_redo {
	uint64_t first_seq;
	uint32_t n;
	tj_buf ops;       /* n x (u32 length, encoded resolved op) */
	tj_msgrec *msgs;  /* message records written by that batch */
	size_t nmsgs;
	struct tj_redo *next;
};

static void redo_free(struct tj_redo **lp)
{
	while (*lp) {
		struct tj_redo *r = *lp;
		*lp = r->next;
		tj_buf_free(&r->ops);
		for (size_t i = 0; i < r->nmsgs; i++)
			tj_msgrec_free(&r->msgs[i]);
		free(r->msgs);
		free(r);
	}
}

/* scan_redo - collect complete batches from bytes [from, EOF) of path */
static int scan_redo(tj_store *st, const char *path, uint64_t from)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0 || (uint64_t)sb.st_size <= from) {
		close(fd);
		return 0;
	}
	size_t len = (size_t)((uint64_t)sb.st_size - from);
	uint8_t *buf = malloc(len);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, buf + got, len - got, (off_t)(from + got));
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	tj_msgrec *msgs = NULL;
	size_t nmsgs = 0, cap = 0, off = 0;
	int rc = 0;
	while (off < got && !rc) {
		tj_rec rec;
		size_t size;
		if (tj_rec_decode(buf + off, got - off, &rec, &size) != 0)
			break; /* torn, garbage or preallocated zeros: the end */
		if (rec.codec != TJ_CODEC_BATCH) {
			if (nmsgs == cap) {
				cap = cap ? cap * 2 : 16;
				tj_msgrec *nm = realloc(msgs, cap * sizeof(*nm));
				if (!nm) {
					rc = -ENOMEM;
					break;
				}
				msgs = nm;
			}
			tj_msgrec *m = &msgs[nmsgs];
			memset(m, 0, sizeof(*m));
			memcpy(m->guid, rec.guid, TJ_GUID_LEN);
			m->raw_size = rec.raw_len;
			if ((rc = tj_buf_append(&m->rec, buf + off, size)))
				break;
			nmsgs++;
		} else if (rec.payload_len >= 12) {
			struct tj_redo *r = calloc(1, sizeof(*r));
			if (!r) {
				rc = -ENOMEM;
				break;
			}
			r->first_seq = tj_get64(rec.payload);
			r->n = tj_get32(rec.payload + 8);
			r->msgs = msgs;
			r->nmsgs = nmsgs;
			msgs = NULL;
			nmsgs = cap = 0;
			if ((rc = tj_buf_append(&r->ops, rec.payload + 12, rec.payload_len - 12))) {
				redo_free(&r);
				break;
			}
			/* keep the list in log order */
			struct tj_redo **pp = &st->pending_redo;
			while (*pp && (*pp)->first_seq < r->first_seq)
				pp = &(*pp)->next;
			r->next = *pp;
			*pp = r;
		}
		off += size;
	}
	for (size_t i = 0; i < nmsgs; i++)
		tj_msgrec_free(&msgs[i]); /* records of a batch that never finished */
	free(msgs);
	free(buf);
	return rc;
}

/* apply_redo - run the collected batches through the committer */
static int apply_redo(tj_store *st)
{
	tj_rtxn *rt;
	int rc = tj_rtxn_begin(st, &rt);
	if (rc)
		return rc;
	uint64_t last = tj_store_log_last(rt);
	tj_rtxn_end(&rt);
	unsigned redone = 0;
	for (struct tj_redo *r = st->pending_redo; r && !rc; r = r->next) {
		const uint8_t *p = r->ops.data, *end = p + r->ops.len;
		for (uint32_t i = 0; i < r->n && !rc; i++) {
			if (end - p < 4 || (size_t)(end - p - 4) < tj_get32(p)) {
				rc = TJ_ECORRUPT;
				break;
			}
			uint32_t len = tj_get32(p);
			const uint8_t *enc = p + 4;
			p += 4 + len;
			if (r->first_seq + i <= last)
				continue; /* the index has it */
			tj_op op;
			if ((rc = tj_op_decode(enc, len, &op)))
				break;
			const tj_msgrec *m = NULL;
			for (size_t k = 0; op.type == TJ_OP_APPEND && k < r->nmsgs; k++)
				if (memcmp(r->msgs[k].guid, op.guid, TJ_GUID_LEN) == 0)
					m = &r->msgs[k];
			rc = tj_store_exec(st, &op, m);
			tj_log(rc ? TJ_LOG_ERROR : TJ_LOG_WARN, "store", "event=redo seq=%llu op=%s result=\"%s\"",
			       (unsigned long long)(r->first_seq + i), tj_op_type_name(op.type), tj_strerror(rc));
			tj_op_clear(&op);
			redone++;
			last = r->first_seq + i;
		}
	}
	redo_free(&st->pending_redo);
	if (!rc && redone)
		rc = tj_from_mdb(mdb_env_sync(st->env, 1));
	return rc;
}

/* tail_is_zero - are bytes [from, to) of path all zero (preallocation)? */
static int tail_is_zero(const char *path, uint64_t from, uint64_t to)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint8_t buf[64 * 1024];
	int zero = 1;
	for (uint64_t off = from; off < to && zero;) {
		ssize_t n = pread(fd, buf, to - off < sizeof(buf) ? (size_t)(to - off) : sizeof(buf), (off_t)off);
		if (n <= 0) {
			zero = n == 0;
			break;
		}
		for (ssize_t i = 0; i < n; i++)
			if (buf[i]) {
				zero = 0;
				break;
			}
		off += (uint64_t)n;
	}
	close(fd);
	return zero;
}

/* recover_segments - truncate torn tails, unlink dead segments, set aside
 * files the index does not know, pick the active segment */
static int recover_segments(tj_store *st)
{
	MDB_txn *txn;
	int rc = tj_from_mdb(mdb_txn_begin(st->env, NULL, 0, &txn));
	if (rc)
		return rc;
	MDB_cursor *c;
	if ((rc = tj_from_mdb(mdb_cursor_open(txn, st->db_segs, &c)))) {
		mdb_txn_abort(txn);
		return rc;
	}
	MDB_val k, v;
	uint32_t maxseg = 0, active = 0;
	uint64_t active_end = 0;
	char path[4096];
	int mrc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && !rc; mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint32_t id = tj_get32be(k.mv_data);
		seg_rec s;
		seg_rec_get(&v, &s);
		if (id > maxseg)
			maxseg = id;
		if ((rc = tj_seg_path(st, id, path, sizeof(path))))
			break;
		if (s.state == TJ_SEG_DEAD) {
			/* emptied by compaction; nobody can read it now (we hold the lock) */
			if (unlink(path) < 0 && errno != ENOENT) {
				rc = set_err(st, -errno, "unlink %s", path);
				break;
			}
			if ((rc = tj_from_mdb(mdb_cursor_del(c, 0))))
				break;
			continue;
		}
		struct stat sb;
		if (stat(path, &sb) < 0) {
			if (errno == ENOENT && s.end == 0)
				continue;
			tj_log(TJ_LOG_ERROR, "store", "event=segment_missing seg=%u path=%s error=\"%s\"", id, path,
			       strerror(errno));
			continue; /* verify names what is lost */
		}
		if ((uint64_t)sb.st_size > s.end && (rc = scan_redo(st, path, s.end)))
			break;
		if ((uint64_t)sb.st_size > s.end && tail_is_zero(path, s.end, (uint64_t)sb.st_size)) {
			/* preallocated space: give it back, it is made again on demand */
			if (truncate(path, (off_t)s.end) < 0) {
				rc = set_err(st, -errno, "truncate %s", path);
				break;
			}
		} else if ((uint64_t)sb.st_size > s.end) {
			tj_log(TJ_LOG_WARN, "store", "event=torn_tail seg=%u committed=%llu file=%llu truncated=%llu", id,
			       (unsigned long long)s.end, (unsigned long long)sb.st_size,
			       (unsigned long long)(sb.st_size - s.end));
			if (truncate(path, (off_t)s.end) < 0) {
				rc = set_err(st, -errno, "truncate %s", path);
				break;
			}
		} else if ((uint64_t)sb.st_size < s.end) {
			tj_log(TJ_LOG_ERROR, "store", "event=segment_short seg=%u committed=%llu file=%llu", id,
			       (unsigned long long)s.end, (unsigned long long)sb.st_size);
		}
		if (id >= active) {
			active = id;
			active_end = s.end;
		}
	}
	mdb_cursor_close(c);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = tj_from_mdb(mrc);
	if (rc) {
		mdb_txn_abort(txn);
		return rc;
	}
	/* files without an index entry hold no committed record */
	char segdir[4096];
	snprintf(segdir, sizeof(segdir), "%s/segments", st->dir);
	DIR *d = opendir(segdir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			unsigned id;
			char tail[8];
			if (sscanf(e->d_name, "%u.se%1s", &id, tail) != 2)
				continue;
			uint8_t key[4];
			key_u32(key, id);
			MDB_val sv;
			if (tj_mget(txn, st->db_segs, key, 4, &sv) == 0)
				continue;
			if (id > maxseg)
				maxseg = id;
			tj_seg_path(st, id, path, sizeof(path));
			/* a batch that rotated into a new segment and lost its index entry */
			if ((rc = scan_redo(st, path, 0)))
				break;
			struct stat sb;
			if (stat(path, &sb) == 0 && sb.st_size == 0) {
				unlink(path);
				continue;
			}
			char aside[4200];
			snprintf(aside, sizeof(aside), "%s.orphan", path);
			tj_log(TJ_LOG_WARN, "store", "event=orphan_segment seg=%u moved_to=%s", id, aside);
			if (rename(path, aside) < 0)
				tj_log(TJ_LOG_ERROR, "store", "event=orphan_rename_failed seg=%u error=\"%s\"", id,
				       strerror(errno));
		}
		closedir(d);
		if (rc) {
			mdb_txn_abort(txn);
			return rc;
		}
	}
	if (active == 0) {
		/* a new store (or all segments dead): start a fresh segment */
		active = maxseg + 1;
		active_end = 0;
	}
	st->active_seg = active;
	st->active_end = active_end;
	rc = tj_from_mdb(mdb_txn_commit(txn));
	if (rc)
		return rc;
	if ((rc = tj_seg_path(st, active, path, sizeof(path))))
		return rc;
	st->active_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->active_fd < 0)
		return set_err(st, -errno, "open %s", path);
	/* the index is the truth: never append past a torn tail */
	if (ftruncate(st->active_fd, (off_t)active_end) < 0)
		return set_err(st, -errno, "truncate %s", path);
	st->active_alloc = active_end;
	return fsync_dir(segdir);
}

static void *committer_main(void *arg);

int tj_store_open(const char *dir, const tj_store_opts *opts, tj_store **st_r)
{
	tj_store *st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (opts)
		st->opts = *opts;
	else
		tj_store_opts_default(&st->opts);
	st->lockfd = st->active_fd = st->segdirfd = st->index_fd = -1;
	pthread_mutex_init(&st->seg_lock, NULL);
	pthread_mutex_init(&st->q_lock, NULL);
	pthread_cond_init(&st->q_cond, NULL);
	pthread_mutex_init(&st->bg_lock, NULL);
	pthread_cond_init(&st->bg_cond, NULL);
	int rc = 0;
	char path[4096];
	st->dir = strdup(dir);
	st->dicts = tj_dicts_new(st->opts.zstd_level ? st->opts.zstd_level : 3);
	if (!st->dir || !st->dicts) {
		rc = -ENOMEM;
		goto fail;
	}
	int ro = st->opts.read_only;
	if (!ro) {
		const char *sub[] = {"", "/index", "/segments"};
		for (int i = 0; i < 3; i++) {
			snprintf(path, sizeof(path), "%s%s", dir, sub[i]);
			if (mkdir(path, 0700) < 0 && errno != EEXIST) {
				rc = set_err(st, -errno, "mkdir %s", path);
				goto fail;
			}
		}
	}
	snprintf(path, sizeof(path), "%s/LOCK", dir);
	st->lockfd = open(path, (ro ? O_RDONLY : O_RDWR | O_CREAT) | O_CLOEXEC, 0600);
	if (st->lockfd < 0) {
		rc = set_err(st, -errno, "open %s", path);
		goto fail;
	}
	if (flock(st->lockfd, (ro ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		rc = set_err(st, -errno, "lock %s (is tjstored or another tool using this data directory?)", path);
		goto fail;
	}
	if ((rc = tj_from_mdb(mdb_env_create(&st->env))) ||
	    (rc = tj_from_mdb(mdb_env_set_maxdbs(st->env, 16))) ||
	    (rc = tj_from_mdb(mdb_env_set_maxreaders(st->env, 1024))) ||
	    (rc = tj_from_mdb(mdb_env_set_mapsize(st->env, st->opts.map_size)))) {
		set_err(st, rc, "%s", "lmdb setup");
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/index", dir);
	if ((rc = tj_from_mdb(mdb_env_open(st->env, path, MDB_NOTLS | MDB_NOMETASYNC | (ro ? MDB_RDONLY : 0), 0600)))) {
		set_err(st, rc, "open index %s", path);
		goto fail;
	}
	MDB_txn *txn;
	if ((rc = tj_from_mdb(mdb_txn_begin(st->env, NULL, ro ? MDB_RDONLY : 0, &txn))))
		goto fail;
	rc = open_dbs(st, txn, ro ? 0 : MDB_CREATE);
	if (!rc) {
		MDB_val v;
		int g = tj_mget(txn, st->db_meta, "format", 6, &v);
		if (g == TJ_ENOTFOUND && !ro) {
			uint8_t b[4];
			tj_put32(b, TJ_STORE_FORMAT);
			rc = tj_mput(txn, st->db_meta, "format", 6, b, 4);
		} else if (g == 0 && (v.mv_size != 4 || tj_get32(v.mv_data) > TJ_STORE_FORMAT)) {
			rc = set_err(st, TJ_EVERSION, "%s", "index format is newer than this tjstore");
		} else if (g == 0 && tj_get32(v.mv_data) < TJ_STORE_FORMAT && !ro) {
			/* every older index is a valid newer one: only the mark changes */
			uint8_t b[4];
			tj_put32(b, TJ_STORE_FORMAT);
			rc = tj_mput(txn, st->db_meta, "format", 6, b, 4);
		} else if (g && g != TJ_ENOTFOUND) {
			rc = g;
		}
	}
	if (!rc)
		rc = load_dicts(st, txn);
	if (rc) {
		mdb_txn_abort(txn);
		if (!st->errbuf[0])
			set_err(st, rc, "%s", "open index");
		goto fail;
	}
	if ((rc = tj_from_mdb(ro ? (mdb_txn_abort(txn), 0) : mdb_txn_commit(txn))))
		goto fail;
	if (!ro) {
		snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
		st->index_fd = open(path, O_WRONLY | O_CLOEXEC);
		struct stat isb;
		if (st->index_fd >= 0 && fstat(st->index_fd, &isb) == 0)
			st->index_alloc = (uint64_t)isb.st_size;
		if ((rc = recover_segments(st))) {
			if (!st->errbuf[0])
				set_err(st, rc, "%s", "segment recovery");
			goto fail;
		}
		if (pthread_create(&st->committer, NULL, committer_main, st) != 0) {
			rc = -EAGAIN;
			goto fail;
		}
		st->committer_running = 1;
		if (st->pending_redo && (rc = apply_redo(st))) {
			set_err(st, rc, "%s", "redo of batches past the index's end");
			goto fail;
		}
		if (st->opts.compact_interval && pthread_create(&st->compactor, NULL, compactor_main, st) == 0)
			st->compactor_running = 1;
	}
	*st_r = st;
	return 0;
fail:
	if (st->errbuf[0])
		tj_log(TJ_LOG_ERROR, "store", "event=open_failed dir=%s error=\"%s\"", dir, st->errbuf);
	tj_store_close(&st);
	return rc;
}

void tj_store_close(tj_store **stp)
{
	tj_store *st = *stp;
	if (!st)
		return;
	/* the compactor uses the committer: stop it first */
	if (st->compactor_running) {
		pthread_mutex_lock(&st->bg_lock);
		st->bg_stop = 1;
		pthread_cond_broadcast(&st->bg_cond);
		pthread_mutex_unlock(&st->bg_lock);
		pthread_join(st->compactor, NULL);
	}
	pthread_mutex_lock(&st->q_lock);
	st->stopping = 1;
	pthread_cond_broadcast(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	/* the committer drains the queue first; a trainer still running then
	 * finds the store closed and gives up */
	if (st->committer_running)
		pthread_join(st->committer, NULL);
	if (st->trainer_running)
		pthread_join(st->trainer, NULL);
	if (st->env && st->committer_running)
		mdb_env_sync(st->env, 1); /* the last commit's meta page (MDB_NOMETASYNC) */
	redo_free(&st->pending_redo);
	tj_buf_free(&st->redo);
	uint64_t index_used = 0;
	MDB_envinfo ei;
	MDB_stat ms;
	if (st->env && st->index_fd >= 0 && mdb_env_info(st->env, &ei) == 0 && mdb_env_stat(st->env, &ms) == 0)
		index_used = ((uint64_t)ei.me_last_pgno + 1) * ms.ms_psize;
	if (st->env)
		mdb_env_close(st->env);
	if (index_used && st->index_alloc > index_used && ftruncate(st->index_fd, (off_t)index_used) < 0)
		tj_log(TJ_LOG_WARN, "store", "event=trim_failed file=data.mdb error=\"%s\"", strerror(errno));
	for (uint32_t i = 0; i < st->seg_fds_cap; i++)
		tj_seg_forget(st, i);
	free(st->seg_fds);
	free(st->seg_maps);
	if (st->active_fd >= 0) {
		/* give the preallocated zeros back: a closed store has no tails */
		if (st->committer_running && st->active_alloc > st->active_end &&
		    ftruncate(st->active_fd, (off_t)st->active_end) < 0)
			tj_log(TJ_LOG_WARN, "store", "event=trim_failed seg=%u error=\"%s\"", st->active_seg,
			       strerror(errno));
		close(st->active_fd);
	}
	if (st->index_fd >= 0)
		close(st->index_fd);
	if (st->lockfd >= 0)
		close(st->lockfd);
	tj_dicts_free(&st->dicts);
	tj_buf_free(&st->wbuf);
	pthread_mutex_destroy(&st->seg_lock);
	pthread_mutex_destroy(&st->q_lock);
	pthread_cond_destroy(&st->q_cond);
	pthread_mutex_destroy(&st->bg_lock);
	pthread_cond_destroy(&st->bg_cond);
	free(st->dir);
	free(st);
	*stp = NULL;
}

/* ---- the committer ---- */

static int rotate_if_needed(tj_store *st)
{
	if (st->active_end < st->opts.segment_size && !(st->force_rotate && st->active_end > 0))
		return 0;
	st->force_rotate = 0;
	char path[4096];
	uint32_t next = st->active_seg + 1;
	int rc = tj_seg_path(st, next, path, sizeof(path));
	if (rc)
		return rc;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char segdir[4096];
	snprintf(segdir, sizeof(segdir), "%s/segments", st->dir);
	if ((rc = fsync_dir(segdir))) {
		close(fd);
		unlink(path);
		return rc;
	}
	/* the sealed segment gives back its preallocated zeros */
	if (st->active_alloc > st->active_end && ftruncate(st->active_fd, (off_t)st->active_end) < 0)
		tj_log(TJ_LOG_WARN, "store", "event=trim_failed seg=%u error=\"%s\"", st->active_seg, strerror(errno));
	close(st->active_fd);
	st->active_fd = fd;
	st->active_seg = next;
	st->active_end = 0;
	st->active_alloc = 0;
	return 0;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off);

/* Files grow ahead of the data in real zero blocks (not fallocate's
 * unwritten extents): a batch's fdatasync then flushes data only, with no
 * size or extent change for the filesystem to journal.  Committed ends stay
 * in the index, so the zeros are never mistaken for records. */
#define TJ_PREALLOC (4u << 20)

static int zero_extend(int fd, uint64_t from, uint64_t to)
{
	static const uint8_t zeros[64 * 1024];
	for (uint64_t off = from; off < to;) {
		size_t n = to - off < sizeof(zeros) ? (size_t)(to - off) : sizeof(zeros);
		int rc = write_all(fd, zeros, n, off);
		if (rc)
			return rc;
		off += n;
	}
	return 0;
}

/* keep the active segment TJ_PREALLOC ahead of what this batch writes */
static int seg_prealloc(tj_store *st, size_t need)
{
	if (st->active_end + need <= st->active_alloc)
		return 0;
	uint64_t to = st->active_end + need + TJ_PREALLOC;
	if (to < st->opts.segment_size && st->opts.segment_size - to < TJ_PREALLOC)
		to = st->opts.segment_size;
	/* never below the committed end, whatever the bookkeeping says */
	uint64_t from = st->active_alloc > st->active_end ? st->active_alloc : st->active_end;
	int rc = zero_extend(st->active_fd, from, to);
	if (rc) {
		/* no room to grow ahead: drop what was added, write just what is needed */
		if (ftruncate(st->active_fd, (off_t)from) < 0)
			return -errno;
		return 0;
	}
	st->active_alloc = to;
	return 0;
}

/* keep LMDB's file 8-32 MiB ahead of its last page */
static void index_prealloc(tj_store *st)
{
	MDB_envinfo ei;
	MDB_stat ms;
	if (st->index_fd < 0 || mdb_env_info(st->env, &ei) || mdb_env_stat(st->env, &ms))
		return;
	uint64_t used = ((uint64_t)ei.me_last_pgno + 1) * ms.ms_psize;
	if (used + (8u << 20) <= st->index_alloc)
		return;
	uint64_t to = used + (32u << 20);
	if (zero_extend(st->index_fd, st->index_alloc > used ? st->index_alloc : used, to) == 0)
		st->index_alloc = to;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* trim_log - drop the oldest op-log entries beyond opts.log_retain (at most
 * `max` per call), releasing the GUIDs their APPENDs held */
static int trim_log(tj_wctx *w, uint64_t keep, unsigned max)
{
	tj_store *st = w->st;
	MDB_cursor *c;
	int rc = tj_from_mdb(mdb_cursor_open(w->txn, st->db_oplog, &c));
	if (rc)
		return rc;
	MDB_val k, v;
	uint64_t first = 0, last = 0;
	if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
		last = tj_get64be(k.mv_data);
	int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
	if (mrc == 0)
		first = tj_get64be(k.mv_data);
	unsigned n = 0;
	while (mrc == 0 && last - first + 1 > keep && n < max) {
		tj_op op;
		if (tj_op_decode(v.mv_data, v.mv_size, &op) == 0) {
			if (op.type == TJ_OP_APPEND)
				rc = tj_guid_unref(w, op.guid);
			tj_op_clear(&op);
		}
		if (rc)
			break;
		if ((rc = tj_from_mdb(mdb_cursor_del(c, 0))))
			break;
		n++;
		mrc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
		if (mrc == 0)
			first = tj_get64be(k.mv_data);
	}
	mdb_cursor_close(c);
	return rc;
}

static int trim_req(tj_wctx *w, void *arg)
{
	/* the queued references first, so that what the trim releases is
	 * gone when it returns */
	int left;
	int rc = tj_unref_drain(w, UINT32_MAX, &left);
	if (!rc)
		w->st->unref_pending = 0;
	return rc ? rc : trim_log(w, *(uint64_t *)arg, UINT32_MAX);
}

int tj_store_trim_log(tj_store *st, uint64_t keep)
{
	return tj_store_run(st, trim_req, &keep);
}

static void maybe_start_training(tj_store *st);

static int append_batch_record(tj_buf *out, uint64_t first_seq, uint32_t n, const tj_buf *ops)
{
	uint8_t head[12];
	tj_put64(head, first_seq);
	tj_put32(head + 8, n);
	size_t start = out->len;
	int rc = tj_buf_reserve(out, TJ_REC_HDR + sizeof(head) + ops->len);
	if (rc)
		return rc;
	uint8_t *hdr = out->data + start;
	uint8_t *payload = hdr + TJ_REC_HDR;
	memcpy(payload, head, sizeof(head));
	memcpy(payload + sizeof(head), ops->data, ops->len);
	tj_rec rec = {.codec = TJ_CODEC_BATCH, .raw_len = (uint32_t)(sizeof(head) + ops->len)};
	rec.payload_len = rec.raw_len;
	tj_rec_header(hdr, &rec, payload);
	out->len = start + TJ_REC_HDR + rec.payload_len;
	out->data[out->len] = 0;
	return 0;
}

static void process_batch(tj_store *st, struct tj_req *list)
{
	int brc = rotate_if_needed(st);
	MDB_txn *txn = NULL;
	uint64_t seq = 0;
	unsigned appends = 0;
	if (!brc)
		brc = tj_from_mdb(mdb_txn_begin(st->env, NULL, 0, &txn));
	if (!brc) {
		MDB_cursor *c;
		MDB_val k, v;
		if (!(brc = tj_from_mdb(mdb_cursor_open(txn, st->db_oplog, &c)))) {
			if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0)
				seq = tj_get64be(k.mv_data);
			mdb_cursor_close(c);
		}
	}
	tj_buf_reset(&st->wbuf);
	tj_buf_reset(&st->redo);
	uint32_t redo_n = 0;
	uint64_t first_seq = seq + 1;
	for (struct tj_req *r = list; r && !brc; r = r->next) {
		MDB_txn *child;
		r->rc = tj_from_mdb(mdb_txn_begin(st->env, txn, 0, &child));
		if (r->rc) {
			brc = r->rc;
			break;
		}
		size_t mark = st->wbuf.len, redomark = st->redo.len;
		uint64_t seqmark = seq;
		uint32_t redo_nmark = redo_n;
		tj_wctx w = {st, child, &st->wbuf, st->active_end, st->active_seg, &seq, &st->redo, &redo_n};
		r->rc = r->fn ? r->fn(&w, r->arg) : tj_apply(&w, r->op, r->msg);
		if (r->rc == 0) {
			int crc = tj_from_mdb(mdb_txn_commit(child));
			if (crc) {
				r->rc = brc = crc; /* the batch txn cannot be trusted now */
				break;
			}
			if (!r->fn && r->op->type == TJ_OP_APPEND)
				appends++;
		} else {
			mdb_txn_abort(child);
			tj_buf_truncate(&st->wbuf, mark);
			tj_buf_truncate(&st->redo, redomark);
			redo_n = redo_nmark;
			seq = seqmark;
			if (r->rc == MDB_MAP_FULL || r->rc == -ENOSPC || r->rc == -EIO)
				brc = r->rc;
		}
	}
	/* keep the op log bounded (a little each batch) */
	if (!brc) {
		MDB_txn *child;
		if (mdb_txn_begin(st->env, txn, 0, &child) == 0) {
			tj_wctx w = {st, child, &st->wbuf, st->active_end, st->active_seg, &seq, NULL, NULL};
			if (trim_log(&w, st->opts.log_retain, 256) == 0)
				brc = tj_from_mdb(mdb_txn_commit(child));
			else
				mdb_txn_abort(child);
		}
	}
	/* the batch record: what this batch logged, for redo after a crash */
	if (!brc && redo_n)
		brc = append_batch_record(&st->wbuf, first_seq, redo_n, &st->redo);
	if (!brc && st->wbuf.len) {
		uint8_t k[4], val[32];
		MDB_val v;
		seg_rec s;
		key_u32(k, st->active_seg);
		if (tj_mget(txn, st->db_segs, k, 4, &v) == 0)
			seg_rec_get(&v, &s);
		else
			memset(&s, 0, sizeof(s));
		s.end = st->active_end + st->wbuf.len;
		seg_rec_put(val, &s);
		brc = tj_mput(txn, st->db_segs, k, 4, val, 32);
		if (!brc)
			brc = seg_prealloc(st, st->wbuf.len);
		if (!brc)
			brc = write_all(st->active_fd, st->wbuf.data, st->wbuf.len, st->active_end);
		if (!brc && fdatasync(st->active_fd) < 0)
			brc = -errno;
		__atomic_add_fetch(&st->n_syncs, 1, __ATOMIC_RELAXED);
	}
	if (!brc) {
		brc = tj_from_mdb(mdb_txn_commit(txn));
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (brc) {
		/* nothing of this batch is committed: drop its bytes */
		uint64_t keep = st->active_alloc > st->active_end ? st->active_alloc : st->active_end;
		if (st->wbuf.len && ftruncate(st->active_fd, (off_t)keep) < 0)
			tj_log(TJ_LOG_ERROR, "store", "event=truncate_failed seg=%u error=\"%s\"", st->active_seg,
			       strerror(errno));
		tj_log(TJ_LOG_ERROR, "store", "event=batch_failed error=\"%s\"", tj_strerror(brc));
	} else {
		st->active_end += st->wbuf.len;
		if (st->active_alloc < st->active_end)
			st->active_alloc = st->active_end;
		__atomic_add_fetch(&st->n_batches, 1, __ATOMIC_RELAXED);
		index_prealloc(st);
	}
	for (struct tj_req *r = list, *next; r; r = next) {
		next = r->next;
		__atomic_add_fetch(&st->n_reqs, 1, __ATOMIC_RELAXED);
		if (brc && r->rc == 0)
			r->rc = brc;
		if (r->rc && r->op && !r->was_resolved)
			r->op->flags &= (uint16_t)~TJ_OPF_RESOLVED;
		r->cb(r->cbarg, r->rc, r->op);
		free(r);
	}
	if (!brc && appends) {
		st->msgs_since_check += appends;
		if (st->msgs_since_check >= 256) {
			st->msgs_since_check = 0;
			maybe_start_training(st);
		}
	}
}

static unsigned list_len(const struct tj_req *r)
{
	unsigned n = 0;
	for (; r; r = r->next)
		n++;
	return n;
}

/* prewarm - fill LMDB's pool of page buffers before the first batch.  LMDB
 * keeps every page buffer a write transaction used for the next one; the
 * first big transaction after a start (STORE 1:* on a big mailbox touches
 * every page of its part of the message index) would otherwise allocate
 * and fault in each buffer then, on this VM about 30 ms per 20,000
 * messages.  Touches up to PAGES pages of the message index in a
 * transaction that is then aborted: nothing is written. */
static void prewarm(tj_store *st)
{
	enum { EVERY = 24, PUTS = 8192 }; /* a leaf holds 26-60 records: about 4,096 pages, 16 MiB */
	MDB_txn *txn;
	MDB_cursor *c;
	if (mdb_txn_begin(st->env, NULL, 0, &txn))
		return;
	if (mdb_cursor_open(txn, st->db_msgs, &c) == 0) {
		MDB_val k, v;
		unsigned n = 0, puts = 0;
		for (int mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0 && puts < PUTS;
		     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			uint8_t copy[64];
			if (n++ % EVERY || v.mv_size > sizeof(copy))
				continue;
			memcpy(copy, v.mv_data, v.mv_size);
			MDB_val nv = {v.mv_size, copy};
			if (mdb_cursor_put(c, &k, &nv, MDB_CURRENT))
				break;
			puts++;
		}
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
}

/* ---- the unref queue: references EXPUNGE left to subtract later ---- */

static int drain_fn(tj_wctx *w, void *arg)
{
	enum { MAX = 1024 }; /* references per batch: a writer arriving waits for at most this many */
	return tj_unref_drain(w, MAX, arg);
}

static void drain_done(void *arg, int rc, tj_op *op)
{
	if (rc) {
		*(int *)arg = 0; /* try again after the next batch */
		tj_log(TJ_LOG_WARN, "store", "event=unref_drain_failed error=\"%s\"", tj_strerror(rc));
	}
}

/* drain_unrefs - while no request waits, subtract queued references, one
 * batch of them at a time */
static void drain_unrefs(tj_store *st)
{
	while (st->unref_pending) {
		pthread_mutex_lock(&st->q_lock);
		int busy = st->q_head != NULL || st->stopping;
		pthread_mutex_unlock(&st->q_lock);
		if (busy)
			return;
		int left = 0;
		struct tj_req *r = calloc(1, sizeof(*r));
		if (!r)
			return;
		r->fn = drain_fn;
		r->arg = &left;
		r->cb = drain_done;
		r->cbarg = &left;
		process_batch(st, r);
		st->unref_pending = left;
		if (left == 0)
			return;
	}
}

static void *committer_main(void *arg)
{
	tj_store *st = arg;
	unsigned last = 0; /* requests in the previous batch */
	prewarm(st);
	for (;;) {
		pthread_mutex_lock(&st->q_lock);
		while (!st->q_head && !st->stopping)
			pthread_cond_wait(&st->q_cond, &st->q_lock);
		/* group commit: when the previous batch came from several writers
		 * and fewer are queued now, give the others a moment (at most
		 * TJ_GATHER_US) to join, rather than paying a whole sync for a
		 * partial batch.  A lone writer never waits. */
		if (last > 1 && !st->stopping && list_len(st->q_head) < last) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += TJ_GATHER_US * 1000;
			if (dl.tv_nsec >= 1000000000) {
				dl.tv_sec++;
				dl.tv_nsec -= 1000000000;
			}
			while (list_len(st->q_head) < last && !st->stopping &&
			       pthread_cond_timedwait(&st->q_cond, &st->q_lock, &dl) == 0)
				;
		}
		struct tj_req *list = st->q_head;
		st->q_head = st->q_tail = NULL;
		int stop = st->stopping;
		pthread_mutex_unlock(&st->q_lock);
		last = list_len(list);
		if (list)
			process_batch(st, list);
		else if (stop)
			break;
		drain_unrefs(st);
	}
	return NULL;
}

static int enqueue(tj_store *st, struct tj_req *r)
{
	pthread_mutex_lock(&st->q_lock);
	if (st->stopping || !st->committer_running) {
		pthread_mutex_unlock(&st->q_lock);
		return TJ_ECLOSED;
	}
	r->next = NULL;
	if (st->q_tail)
		st->q_tail->next = r;
	else
		st->q_head = r;
	st->q_tail = r;
	pthread_cond_signal(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	return 0;
}

int tj_store_submit(tj_store *st, tj_op *op, const tj_msgrec *msg, tj_store_cb *cb, void *arg)
{
	struct tj_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->op = op;
	r->msg = msg;
	r->was_resolved = (op->flags & TJ_OPF_RESOLVED) != 0;
	r->cb = cb;
	r->cbarg = arg;
	int rc = enqueue(st, r);
	if (rc)
		free(r);
	return rc;
}

/* synchronous waiting */
struct waiter {
	pthread_mutex_t m;
	pthread_cond_t c;
	int done, rc;
};

static void waiter_cb(void *arg, int rc, tj_op *op)
{
	struct waiter *w = arg;
	pthread_mutex_lock(&w->m);
	w->done = 1;
	w->rc = rc;
	pthread_cond_signal(&w->c);
	pthread_mutex_unlock(&w->m);
}

static int waiter_wait(struct waiter *w)
{
	pthread_mutex_lock(&w->m);
	while (!w->done)
		pthread_cond_wait(&w->c, &w->m);
	pthread_mutex_unlock(&w->m);
	pthread_mutex_destroy(&w->m);
	pthread_cond_destroy(&w->c);
	return w->rc;
}

int tj_store_exec(tj_store *st, tj_op *op, const tj_msgrec *msg)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	int rc = tj_store_submit(st, op, msg, waiter_cb, &w);
	return rc ? rc : waiter_wait(&w);
}

int tj_store_run_async(tj_store *st, tj_req_fn *fn, void *arg, tj_store_cb *cb, void *cbarg)
{
	struct tj_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->arg = arg;
	r->cb = cb;
	r->cbarg = cbarg;
	int rc = enqueue(st, r);
	if (rc)
		free(r);
	return rc;
}

int tj_store_run(tj_store *st, tj_req_fn *fn, void *arg)
{
	struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
	struct tj_req *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fn = fn;
	r->arg = arg;
	r->cb = waiter_cb;
	r->cbarg = &w;
	int rc = enqueue(st, r);
	if (rc) {
		free(r);
		return rc;
	}
	return waiter_wait(&w);
}

int tj_store_prepare(tj_store *st, const void *raw, size_t len, tj_msgrec *m_r)
{
	memset(m_r, 0, sizeof(*m_r));
	if (len > TJ_REC_MAX_RAW)
		return TJ_ETOOBIG;
	tj_guid_compute(raw, len, m_r->guid);
	m_r->raw_size = (uint32_t)len;
	int rc = tj_compress_record(st->dicts, raw, len, m_r->guid, &m_r->rec);
	if (rc)
		tj_msgrec_free(m_r);
	return rc;
}

void tj_msgrec_free(tj_msgrec *m)
{
	tj_buf_free(&m->rec);
	tj_buf_free(&m->cache);
}

int tj_store_deliver(tj_store *st, const char *user, const char *mailbox, const void *raw, size_t len,
		     int64_t internal_date, uint32_t sys_flags, uint32_t *uid_r)
{
	tj_rtxn *r;
	tj_mbox_info mb;
	uint32_t uid = tj_store_user_id(user);
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	rc = tj_store_mbox_find(r, uid, mailbox, &mb);
	tj_rtxn_end(&r);
	if (rc)
		return rc;
	tj_msgrec m;
	if ((rc = tj_store_prepare(st, raw, len, &m)))
		return rc;
	tj_op op = {.type = TJ_OP_APPEND, .user_id = uid, .mbox_id = mb.id, .internal_date = internal_date,
		    .sys_flags = sys_flags};
	memcpy(op.guid, m.guid, TJ_GUID_LEN);
	rc = tj_store_exec(st, &op, &m);
	if (!rc && uid_r)
		*uid_r = op.uid;
	tj_msgrec_free(&m);
	tj_op_clear(&op);
	return rc;
}

/* ---- background dictionary training ---- */

static void *trainer_main(void *arg)
{
	tj_store *st = arg;
	int rc = tj_store_train_dict(st, 4000);
	tj_log(rc ? TJ_LOG_WARN : TJ_LOG_INFO, "store", "event=dict_trained dict=%u result=\"%s\"",
	       tj_dicts_current(st->dicts), tj_strerror(rc));
	return NULL;
}

static void maybe_start_training(tj_store *st)
{
	if (!st->opts.dict_train_after || st->trainer_running || tj_dicts_current(st->dicts))
		return;
	MDB_txn *txn;
	MDB_stat ms;
	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn))
		return;
	int ok = mdb_stat(txn, st->db_guids, &ms) == 0;
	mdb_txn_abort(txn);
	if (!ok || ms.ms_entries < st->opts.dict_train_after)
		return;
	if (pthread_create(&st->trainer, NULL, trainer_main, st) == 0)
		st->trainer_running = 1;
}

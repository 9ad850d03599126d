/*
 * op.h - every mutation of the store is an op.
 *
 * An op is applied by the store's one apply function and appended, in the
 * same LMDB transaction, to the op log; replication ships the log and the
 * peer applies the same ops.  An op is first *unresolved* (the caller says
 * what it wants: "append to mailbox 7") and the owner *resolves* it inside the
 * write transaction (UID 42, MODSEQ 1001, the exact UIDs a range matched).
 * Only resolved ops are logged; applying a resolved op is deterministic, so a
 * replica or a replay reaches the same UIDVALIDITY, UIDs, MODSEQs and flags.
 *
 * Encoding (versioned, little-endian): u8 version, u8 type, u16 flags,
 * u32 user id, u64 epoch, then the type's fields in a fixed order; strings and
 * lists carry u32 counts/lengths, all checked against the input length.
 */
#ifndef TJ_STORE_OP_H
#define TJ_STORE_OP_H

#include "common/buf.h"
#include "store/record.h"

#include <stdint.h>

#define TJ_OP_VERSION 1
#define TJ_OP_MAX_NAME 1024      /* bytes in a user or mailbox name */
#define TJ_OP_MAX_KEYWORDS 64    /* keywords named in one op */
#define TJ_OP_MAX_KEYWORD 128    /* bytes in one keyword */
#define TJ_OP_MAX_RANGES 100000  /* UID ranges in one op */

enum tj_op_type {
	TJ_OP_USER_PUT = 1,    /* create or update a user: name, quota, state */
	TJ_OP_MBOX_CREATE = 2, /* mbox_id, name, uidvalidity, special_use */
	TJ_OP_MBOX_RENAME = 3, /* mbox_id -> name (+ children); INBOX: mbox_id2/uidvalidity of the new box,
				  modseq of the tombstones left in INBOX */
	TJ_OP_MBOX_DELETE = 4, /* mbox_id, with all its messages */
	TJ_OP_SUBSCRIBE = 5,   /* name, mode 1 = subscribe, 0 = unsubscribe */
	TJ_OP_APPEND = 6,      /* mbox_id, uid, modseq, guid, raw_size, internal_date, flags, keywords */
	TJ_OP_STORE = 7,       /* mbox_id, modseq, mode, flags, keywords, ranges; a STORE that
				  changes nothing completes with nranges 0 and modseq 0, unlogged */
	TJ_OP_COPY = 8,        /* mbox_id (src), mbox_id2 (dst), ranges (src), uid (first dst), modseq (dst) */
	TJ_OP_MOVE = 9,        /* as COPY, plus modseq2 for the expunge in the source */
	TJ_OP_EXPUNGE = 10,    /* mbox_id, ranges, modseq */
	TJ_OP_TYPE_MAX = 10,
};

enum tj_op_flags {
	TJ_OPF_RESOLVED = 1, /* ids, UIDs and MODSEQs are assigned: apply as-is */
};

enum tj_flag_mode { TJ_FLAGS_SET = 0, TJ_FLAGS_ADD = 1, TJ_FLAGS_REMOVE = 2 };

/* system flags; \Recent is a session property and never stored */
enum tj_sysflag {
	TJ_F_SEEN = 1 << 0,
	TJ_F_ANSWERED = 1 << 1,
	TJ_F_FLAGGED = 1 << 2,
	TJ_F_DELETED = 1 << 3,
	TJ_F_DRAFT = 1 << 4,
	TJ_F_ALL = 0x1f,
};

/* SPECIAL-USE attributes of a mailbox (RFC 6154) */
enum tj_special_use {
	TJ_SU_SENT = 1 << 0,
	TJ_SU_DRAFTS = 1 << 1,
	TJ_SU_TRASH = 1 << 2,
	TJ_SU_JUNK = 1 << 3,
	TJ_SU_ARCHIVE = 1 << 4,
	TJ_SU_ALL = 1 << 5,
	TJ_SU_FLAGGED = 1 << 6,
};

enum tj_user_state { TJ_USER_ENABLED = 0, TJ_USER_DISABLED = 1 };

/* where an account comes from: the directory sync manages "ldap" accounts
 * and never touches "override" ones (the site's users file, column 3) */
enum tj_user_source { TJ_SOURCE_LDAP = 0, TJ_SOURCE_OVERRIDE = 1 };

typedef struct tj_range {
	uint32_t lo, hi; /* inclusive, lo <= hi */
} tj_range;

typedef struct tj_op {
	uint8_t type;
	uint16_t flags;
	uint32_t user_id;
	uint64_t epoch;

	tj_slice name;            /* user name; mailbox name; new name */
	uint64_t quota_bytes;     /* USER_PUT: 0 = unlimited */
	uint32_t quota_msgs;      /* USER_PUT: 0 = unlimited */
	uint8_t user_state;       /* USER_PUT: enum tj_user_state */
	uint8_t user_source;      /* USER_PUT: enum tj_user_source */
	uint64_t quota_base;      /* USER_PUT: the users file's quota before the multiplier */

	uint64_t mbox_id;         /* target mailbox (source for COPY/MOVE) */
	uint64_t mbox_id2;        /* COPY/MOVE destination; RENAME INBOX new box */
	uint32_t uidvalidity;     /* MBOX_CREATE; RENAME of INBOX */
	uint32_t special_use;     /* MBOX_CREATE: enum tj_special_use bits */

	uint32_t uid;             /* APPEND: the UID; COPY/MOVE: first destination UID */
	uint64_t modseq;          /* the MODSEQ this op gives (destination for COPY/MOVE) */
	uint64_t modseq2;         /* MOVE: MODSEQ of the expunge in the source */
	uint64_t unchangedsince;  /* STORE (unresolved only): CONDSTORE guard, 0 = none */
	uint8_t guid[TJ_GUID_LEN];/* APPEND */
	uint32_t raw_size;        /* APPEND */
	int64_t internal_date;    /* APPEND: seconds since the epoch */
	uint32_t sys_flags;       /* APPEND, STORE: enum tj_sysflag bits */
	uint8_t mode;             /* STORE: enum tj_flag_mode; SUBSCRIBE: 1/0 */
	tj_slice *keywords;       /* APPEND, STORE */
	uint32_t nkeywords;
	tj_range *ranges;         /* STORE, COPY, MOVE, EXPUNGE: UIDs, sorted, disjoint once resolved */
	uint32_t nranges;

	/* memory: when owned is set, keywords, ranges and the bytes the slices
	 * point to were allocated by the op code and tj_op_clear frees them */
	void *owned;
} tj_op;

/* tj_op_encode - append the encoding of op to out.  0, -ENOMEM or TJ_EINVAL
 * (a field out of its limits). */
int tj_op_encode(const tj_op *op, tj_buf *out);

/* tj_op_decode - decode buf into *op_r.  The op owns copies of everything it
 * needs (free with tj_op_clear).  0, TJ_EPROTO (malformed, truncated or
 * trailing bytes), TJ_EVERSION or -ENOMEM. */
int tj_op_decode(const uint8_t *buf, size_t len, tj_op *op_r);

/* tj_op_clear - free what the op owns and zero it. */
void tj_op_clear(tj_op *op);

/* tj_op_set_ranges - give the op its own copy of ranges (replacing any it
 * owns).  0 or -ENOMEM. */
int tj_op_set_ranges(tj_op *op, const tj_range *ranges, uint32_t n);

/* tj_op_type_name - "APPEND" etc., or "?" */
const char *tj_op_type_name(int type);

/* tj_ranges_count - number of UIDs in a sorted, disjoint range list */
uint64_t tj_ranges_count(const tj_range *r, uint32_t n);

#endif

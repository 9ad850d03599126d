/*
 * err.h - tjstore's one error convention.
 *
 * Every function that can fail returns int: 0 on success, a negative value on
 * failure.  System errors are -errno; LMDB's own codes (-30799 .. -30780) pass
 * through unchanged; tjstore's codes live in the reserved range below
 * TJ_E_BASE.  tj_strerror() names all three.
 */
#ifndef TJ_ERR_H
#define TJ_ERR_H

#define TJ_E_BASE (-41000)

enum tj_err {
	TJ_OK = 0,
	TJ_ECORRUPT = TJ_E_BASE - 1,  /* stored bytes fail their checksum or format */
	TJ_ENOTFOUND = TJ_E_BASE - 2, /* no such user, mailbox or message */
	TJ_EEXIST = TJ_E_BASE - 3,    /* already exists */
	TJ_EQUOTA = TJ_E_BASE - 4,    /* over quota */
	TJ_ETOOBIG = TJ_E_BASE - 5,   /* over a size or count limit */
	TJ_EPROTO = TJ_E_BASE - 6,    /* malformed encoding (op, frame, record) */
	TJ_EVERSION = TJ_E_BASE - 7,  /* encoding from a newer version */
	TJ_ECOLLIDE = TJ_E_BASE - 8,  /* user-id hash collision */
	TJ_ESTATE = TJ_E_BASE - 9,    /* op does not fit the current state */
	TJ_ECLOSED = TJ_E_BASE - 10,  /* the store is shutting down */
	TJ_EDISABLED = TJ_E_BASE - 11,/* account disabled */
	TJ_EINVAL = TJ_E_BASE - 12,   /* invalid argument (name, flag, range) */
	TJ_NEED_MORE = TJ_E_BASE - 13,/* incremental decoder needs more input */
	TJ_E_LAST = TJ_E_BASE - 14,
};

/* tj_strerror - describe any tjstore, LMDB or -errno code; never NULL. */
const char *tj_strerror(int rc);

/* tj_from_mdb - map an LMDB return (0, MDB_* or positive errno) to our convention. */
int tj_from_mdb(int mdb_rc);

#endif

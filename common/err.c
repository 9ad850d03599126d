/*
 * err.c - names for tjstore error codes (see err.h for the convention).
 */
#include "common/err.h"

#include <lmdb.h>
#include <string.h>

static const char *const tj_err_names[] = {
	[0] = "success",
	[1] = "stored data is corrupt",
	[2] = "not found",
	[3] = "already exists",
	[4] = "over quota",
	[5] = "too big",
	[6] = "malformed encoding",
	[7] = "encoding version not supported",
	[8] = "user id collision",
	[9] = "operation does not fit the current state",
	[10] = "store is closed",
	[11] = "account disabled",
	[12] = "invalid argument",
	[13] = "need more input",
};

const char *tj_strerror(int rc)
{
	if (rc == 0)
		return tj_err_names[0];
	if (rc < TJ_E_BASE && rc > TJ_E_LAST)
		return tj_err_names[TJ_E_BASE - rc];
	if (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE)
		return mdb_strerror(rc);
	if (rc < 0)
		return strerror(-rc);
	return "unknown error";
}

int tj_from_mdb(int mdb_rc)
{
	if (mdb_rc > 0)
		return -mdb_rc; /* LMDB returns system errors as positive errno */
	return mdb_rc;
}

/*
 * imap-store.h - STORE / UID STORE arguments:
 * sequence-set [(UNCHANGEDSINCE n)] (+|-)FLAGS[.SILENT] flags.
 */
#ifndef TJ_IMAP_STORE_H
#define TJ_IMAP_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-parser.h"
#include "protocol/imap/imap-seqset.h"

enum imap_store_mode { IMAP_STORE_REPLACE, IMAP_STORE_ADD, IMAP_STORE_REMOVE };

struct imap_store {
	struct imap_seqset set;
	enum imap_store_mode mode;
	bool silent;
	struct imap_flags flags;
	bool has_unchangedsince;
	uint64_t unchangedsince;
};

#define IMAP_STORE_INIT {IMAP_SEQSET_INIT, IMAP_STORE_REPLACE, false, IMAP_FLAGS_INIT, false, 0}

/* imap_store_parse - parse STORE arguments into st (initialised with
 * IMAP_STORE_INIT or a previous parse; reset first).  Flags may be a list
 * or bare atoms.  0, TJ_EINVAL (*error_r) or -ENOMEM. */
int imap_store_parse(struct imap_store *st, const struct imap_arg *args, size_t argc, const char **error_r);
/* imap_store_free - release; st is left empty and reusable. */
void imap_store_free(struct imap_store *st);

#endif

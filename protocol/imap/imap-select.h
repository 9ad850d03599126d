/*
 * imap-select.h - SELECT / EXAMINE arguments: mailbox and the optional
 * (CONDSTORE) / (QRESYNC (uidvalidity modseq [known-uids [seq-match]]))
 * parameters of RFC 7162.
 */
#ifndef TJ_IMAP_SELECT_H
#define TJ_IMAP_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/imap/imap-parser.h"
#include "protocol/imap/imap-seqset.h"

struct imap_select {
	const char *mailbox; /* raw (mUTF-7 or UTF-8), points into the command */
	size_t mailbox_len;
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;         /* QRESYNC */
	uint64_t modseq;              /* QRESYNC, > 0 */
	bool has_known_uids;
	struct imap_seqset known_uids;
	bool has_seq_match;
	struct imap_seqset known_seqs; /* message numbers */
	struct imap_seqset known_seq_uids;
};

#define IMAP_SELECT_INIT {NULL, 0, false, false, 0, 0, false, IMAP_SEQSET_INIT, false, IMAP_SEQSET_INIT, IMAP_SEQSET_INIT}

/* imap_select_parse - parse SELECT/EXAMINE arguments into s (initialised,
 * reset first).  '*' is refused in the QRESYNC UID sets.  0, TJ_EINVAL
 * (*error_r) or -ENOMEM.  Whether QRESYNC was ENABLEd is the caller's
 * check. */
int imap_select_parse(struct imap_select *s, const struct imap_arg *args, size_t argc, const char **error_r);
/* imap_select_free - release; s is left empty and reusable. */
void imap_select_free(struct imap_select *s);

#endif

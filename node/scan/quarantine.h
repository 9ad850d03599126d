/*
 * quarantine.h - copies of flagged mail (INFECTED, SPAM) in scan.quarantine_dir.
 *
 * One file per message, named
 *     <UTC date>-<queue id>-<VERDICT>[-<detail>].eml
 *     e.g. 20250114T093012Z-4f2a9c01-INFECTED-Test.EICAR.UNOFFICIAL.eml
 * written to a temp file, fsynced, renamed into place without replacing
 * anything (a clash gets "-1", "-2", ... before ".eml"), and the directory
 * fsynced.  Files are mode 0600, the directory 0700 when we create it.
 * Called by the SMTP server after the verdict, before the reply.
 */
#ifndef TJ_SCAN_QUARANTINE_H
#define TJ_SCAN_QUARANTINE_H

#include <stddef.h>

enum tj_quarantine_reason {
	TJ_QUARANTINE_INFECTED,
	TJ_QUARANTINE_SPAM,
};

#define TJ_QUARANTINE_QID_MAX 64    /* longest queue id accepted */
#define TJ_QUARANTINE_DETAIL_MAX 64 /* detail is cut to this */
#define TJ_QUARANTINE_NAME_MAX 200  /* longest file name produced, NUL excluded */

/* tj_quarantine_save - store one message.
 *   dir:      the quarantine directory; created (0700) if it does not exist
 *             (its parent must).
 *   queue_id: 1..TJ_QUARANTINE_QID_MAX bytes of [A-Za-z0-9._-], not starting
 *             with '.'; anything else is refused (it could name a path).
 *   detail:   virus name or spam score, or NULL; bytes outside [A-Za-z0-9._+=-]
 *             become '_', cut to TJ_QUARANTINE_DETAIL_MAX.
 *   name_r:   if not NULL, receives the file name (without dir).
 * Returns 0; TJ_EINVAL (queue id, reason, name_size too small); TJ_EEXIST
 * (10000 clashing names); -errno from the file system (nothing is left behind). */
int tj_quarantine_save(const char *dir, const char *queue_id, enum tj_quarantine_reason why,
		       const char *detail, const void *msg, size_t len, char *name_r, size_t name_size);

/* tj_quarantine_reason_name - "INFECTED" or "SPAM". */
const char *tj_quarantine_reason_name(enum tj_quarantine_reason why);

#endif

/*
 * learn.h - teaching the Bayes classifier from a user's mailbox (the
 * sa-learn role): `tjstore-cli learn --spam|--ham USER [MAILBOX]`.
 *
 * tj_learn_mailbox is the loop itself, on an open store and an open Bayes
 * handle, so the node can run it for the admin socket's online path; the
 * tjstore-cli command (offline, on a stopped node's --data-dir) is
 * tj_cli_learn.  docs/bayes.md.
 */
#ifndef TJ_CLI_LEARN_H
#define TJ_CLI_LEARN_H

#include "node/scan/bayes.h"
#include "store/store.h"

#include <stdint.h>

#define TJ_LEARN_BATCH 100 /* messages per Bayes write transaction */

struct tj_learn_result {
	uint64_t learned; /* newly learned, or moved from the other class */
	uint64_t known;   /* already learned as this class: nothing changed */
	uint64_t skipped; /* could not be read or tokenized (each reported) */
};

/* One sentence about a problem (no such user or mailbox, a message that
 * could not be read), for the caller to print or log. */
typedef void tj_learn_problem_fn(void *arg, const char *problem);

/* tj_learn_mailbox - learn every message of user's mailbox as cls, each
 * under its store GUID (so a message is never counted twice, and learning
 * a mailbox again only reads what is new).  Messages already learned as cls
 * are not read.  The store may be open read-only; one read transaction
 * lists the mailbox, each batch of TJ_LEARN_BATCH messages is read in its
 * own and learned in one Bayes write transaction.  fn (may be NULL) hears
 * of every problem.
 * Returns 0 (*res_r says what happened; skipped > 0 means some messages
 * could not be read), TJ_ENOTFOUND (no such user or mailbox; nothing
 * learned), or another negative code (store or Bayes failure: *res_r holds
 * what was committed before it). */
int tj_learn_mailbox(tj_store *st, tj_bayes *b, const char *user, const char *mailbox, enum tj_bayes_class cls,
		     tj_learn_problem_fn *fn, void *arg, struct tj_learn_result *res_r);

/* tj_cli_learn - the tjstore-cli command: argv holds the words after
 * "learn".  Returns the exit status: 0 success, 1 a problem (no such user
 * or mailbox, a message that could not be read, a Bayes failure), 2 usage
 * or configuration error. */
int tj_cli_learn(int argc, char **argv, const char *data_dir, const char *socket_path, int json);

#endif

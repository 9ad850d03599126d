/*
 * learner.h - spam learning in the background: a bounded queue of
 * (message GUID, class) that one thread drains into the Bayes database.
 *
 * IMAP sessions hand over what users file into or out of Junk (the
 * imap_learn_fn hook); answering the MOVE must not wait for reading,
 * decompressing and tokenizing the messages, nor for the Bayes database's
 * write lock.  The thread takes up to TJ_LEARNER_BATCH entries at a time,
 * reads each message by GUID from the store and learns them in one Bayes
 * write transaction (tj_bayes_learn_batch).  The GUID is the Bayes message
 * id, so a message delivered to many users is counted once, and a message
 * moved back out of Junk has its counts moved, not added.
 *
 * Learning is best effort: a full queue drops entries (counted, logged), a
 * message expunged before its turn is skipped.  Stop drains the queue.
 */
#ifndef TJ_NODE_LEARNER_H
#define TJ_NODE_LEARNER_H

#include <stddef.h>
#include <stdint.h>

#include "node/scan/bayes.h"
#include "store/store.h"

#define TJ_LEARNER_QUEUE 65536 /* entries held (about 1.1 MB) */
#define TJ_LEARNER_BATCH 64    /* messages per Bayes write transaction */

typedef struct tj_learner tj_learner;

struct tj_learner_stats {
	uint64_t queued, learned, known, skipped, failed, dropped;
};

/* tj_learner_start - start the thread.  st and b must outlive the learner.
 * 0, -ENOMEM or -EAGAIN. */
int tj_learner_start(tj_store *st, tj_bayes *b, tj_learner **l_r);
/* tj_learner_submit - queue n messages; returns how many were queued (the
 * rest were dropped: the queue is full).  Never blocks for long. */
size_t tj_learner_submit(tj_learner *l, const uint8_t (*guids)[TJ_GUID_LEN], size_t n, enum tj_bayes_class cls);
/* tj_learner_wait - block until every entry queued so far is done (tests,
 * and `tjstore-cli learn` answering after the queue it joined). */
void tj_learner_wait(tj_learner *l);
void tj_learner_stats(tj_learner *l, struct tj_learner_stats *st_r);
/* tj_learner_stop - drain the queue, stop the thread, free; NULLs *l. */
void tj_learner_stop(tj_learner **l);

#endif

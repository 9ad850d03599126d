/*
 * pipeline.h - the scanning pipeline (the amavisd-new role): ClamAV, then
 * spam scoring (rules + GTUBE + Bayes), for every message SMTP or LMTP
 * accepts, plus the learning side (IMAP Junk moves, `tjstore-cli learn`).
 *
 *   ClamAV      infected -> refused (554), copied to the quarantine;
 *               engine missing/failing -> deferred (451), never unscanned
 *   spam        Bayes probability (when trained) + the rules file's score;
 *               X-Spam-Flag/-Score/-Status headers on every message;
 *               score >= scan.spam_threshold -> delivered to Junk and
 *               copied to the quarantine
 *
 * tj_pipeline_scan has the SMTP hook's signature (node/smtp/smtp-server.h)
 * and tj_pipeline_learn the IMAP learning hook's (node/imap/imap-session.h).
 * The rules file is reloaded by tj_pipeline_reload (SIGHUP) off to the side:
 * scans keep the rules they started with.  docs/scanning.md.
 */
#ifndef TJ_NODE_SCAN_PIPELINE_H
#define TJ_NODE_SCAN_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "node/smtp/smtp-server.h"
#include "node/scan/bayes.h"
#include "store/store.h"

typedef struct tj_pipeline tj_pipeline;

struct tj_pipeline_options {
	bool clamav;               /* scan.clamav */
	const char *clamav_db_dir; /* scan.clamav_db_dir */
	bool spam;                 /* scan.spam */
	const char *rules_file;    /* scan.rules_file: file or directory of *.cf; "" none */
	double threshold;          /* scan.spam_threshold */
	const char *quarantine_dir;/* scan.quarantine_dir */
	const char *bayes_dir;     /* <data_dir>/bayes */
	tj_store *store;           /* for learning (reads messages by GUID) */
	const char *version;       /* in X-Spam-Status version= */
};

/* tj_pipeline_open - start the steps that are on.  A rules file that cannot
 * be read, or a Bayes database that cannot be opened, is an error (err gets
 * a sentence naming the key); rules that do not compile are skipped and
 * logged.  0, or a negative code with err filled. */
int tj_pipeline_open(const struct tj_pipeline_options *o, tj_pipeline **p_r, char *err, size_t errsz);
void tj_pipeline_close(tj_pipeline **p);

/* tj_pipeline_scan - smtp_scan_fn: ctx is the pipeline */
int tj_pipeline_scan(void *ctx, const tj_buf *msg, struct smtp_scan_result *res);
/* tj_pipeline_learn - imap_learn_fn: queue the messages for the learner */
void tj_pipeline_learn(void *ctx, uint32_t user_id, const uint8_t (*guids)[TJ_GUID_LEN], size_t n, bool spam);
/* tj_pipeline_reload - reload the rules file; returns at once, the load
 * runs on a thread of its own (ClamAV's watcher reloads signatures itself). */
void tj_pipeline_reload(tj_pipeline *p);
/* tj_pipeline_bayes - the Bayes database (NULL when spam scoring is off) */
tj_bayes *tj_pipeline_bayes(tj_pipeline *p);
/* tj_pipeline_status - append a human or JSON description (rules loaded,
 * skipped, Bayes counts, learner counters) */
void tj_pipeline_status(tj_pipeline *p, bool json, tj_buf *out);
/* tj_pipeline_learn_mailbox - learn every message of USER's MAILBOX (""
 * or NULL: Junk for spam, INBOX for ham) through the learner, and append a
 * report (text or JSON).  Returns the CLI exit status: 0, or 1 (no such
 * user or mailbox, spam scoring off, a message could not be read). */
int tj_pipeline_learn_mailbox(tj_pipeline *p, const char *user, const char *mailbox, bool spam, bool json,
			      tj_buf *out);
/* tj_pipeline_wait_learned - wait until the learner has done what is queued */
void tj_pipeline_wait_learned(tj_pipeline *p);

#endif

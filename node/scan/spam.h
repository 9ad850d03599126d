/*
 * spam.h - the spam verdict of tjstored (the SpamAssassin role): weighted
 * rules (node/scan/sarules.h), the Bayes classifier's probability and the
 * built-in GTUBE test combined into a score, and the X-Spam-* headers.
 *
 *   tj_sa_rules *rules;                      (loaded once: tj_sa_rules_load)
 *   struct tj_spam_result res;
 *   if (tj_spam_check(rules, msg, len, p_bayes, cfg_threshold, &res) < 0) ... 451
 *   tj_buf hdr = TJ_BUF_INIT;
 *   tj_spam_headers(&res, "tjstore-0.1", &hdr);      prepend to the stored message
 *   if (res.is_spam) ... Junk folder, quarantine
 *   tj_spam_result_free(&res);
 *
 * Thread-safe: any number of threads may check with the same rules.
 * See docs/spam.md.
 */
#ifndef TJ_SCAN_SPAM_H
#define TJ_SCAN_SPAM_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "node/scan/sarules.h"

/* The Generic Test for Unsolicited Bulk Email (TESTING.md).  Anywhere in the
 * body (raw, or in a decoded text part) it makes the message spam. */
#define TJ_SPAM_GTUBE "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#define TJ_SPAM_GTUBE_SCORE 1000.0
#define TJ_SPAM_REQUIRED_DEFAULT 5.0
/* tj_spam_check's `required` when the rules' required_score should apply */
#define TJ_SPAM_REQUIRED_FROM_RULES NAN

struct tj_spam_result {
	double score;          /* rounded to 3 decimals, as SpamAssassin does */
	double required;       /* the threshold used */
	bool is_spam;          /* score >= required */
	bool gtube;            /* GTUBE found: score 1000, no rules run */
	tj_buf tests;          /* "RULE_A,RULE_B" sorted, scored rules only, as SA's tests= ("" if none) */
	unsigned limit_errors; /* regex matches cut by a PCRE2 limit */
	bool truncated;        /* the per-message time budget ran out */
	uint64_t elapsed_us;   /* time of the whole check */
};

/* tj_spam_check - score one message (raw bytes, LF or CRLF).
 * rules: a finished rule set, or NULL for GTUBE + Bayes only (the BAYES_xx
 * pseudo-rules with their default scores).  bayes_prob in [0,1], or < 0 for
 * no Bayes verdict.  required: the threshold (scan.spam_threshold), or
 * TJ_SPAM_REQUIRED_FROM_RULES (NaN) for the rules' required_score (5.0).
 * Returns 0, -ENOMEM or TJ_ESTATE (rules not finished); on 0 the caller
 * frees res with tj_spam_result_free(). */
int tj_spam_check(const tj_sa_rules *rules, const uint8_t *msg, size_t len, double bayes_prob,
		  double required, struct tj_spam_result *res);

/* tj_spam_headers - append the header fields SpamAssassin adds, CRLF-ended:
 *   X-Spam-Flag: YES                     (only when spam)
 *   X-Spam-Score: 7.1
 *   X-Spam-Status: Yes, score=7.1 required=5.0 tests=A,B,C autolearn=no
 *   	version=...                         (folded as SA folds: 79 columns,
 *                                        breaks after a space or comma, tab)
 * version may be NULL (no version=).  0, -ENOMEM or TJ_ETOOBIG. */
int tj_spam_headers(const struct tj_spam_result *res, const char *version, tj_buf *out);

/* tj_spam_result_free - release res->tests; res is left zeroed. */
void tj_spam_result_free(struct tj_spam_result *res);

/* tj_spam_has_gtube - 1 if GTUBE is in the body (raw, or base64 / QP
 * decoded text parts), 0 if not, -ENOMEM. */
int tj_spam_has_gtube(const uint8_t *msg, size_t len);

#endif

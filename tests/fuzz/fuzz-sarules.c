/*
 * fuzz-sarules.c - libFuzzer target for node/scan/sarules (the rule-file
 * parser) and one path through the matcher and the spam combiner.
 *
 * The input is a rule file.  If it contains a line "%%MSG%%", what follows
 * that line is the message to score; otherwise a built-in message with
 * headers, an HTML part and a base64 part is scored.
 *
 * Checked besides memory safety: parsing never fails on content (only on
 * ENOMEM), finishing succeeds, a check succeeds, its hits are sorted by
 * name and its score is the sum of the scored hits, and the X-Spam-*
 * header block is CRLF-terminated with tab-started continuation lines.
 */
#include "common/buf.h"
#include "common/err.h"
#include "node/scan/sarules.h"
#include "node/scan/spam.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char builtin_msg[] =
	"From: \"Deals\" <12345@example.biz>\r\n"
	"To: undisclosed-recipients:;\r\n"
	"Subject: =?utf-8?B?RlJFRSBDQVNIISEh?=\r\n"
	"Date: Tue, 14 Jan 2025 09:30:00 +4500\r\n"
	"Message-ID: <abc@example.biz>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: multipart/alternative; boundary=\"b\"\r\n"
	"\r\n"
	"--b\r\n"
	"Content-Type: text/plain; charset=iso-8859-1\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"\r\n"
	"Q2xpY2sgaGVyZSB0byBlYXJuICQ1LDAwMCBhIHdlZWsgLSBodHRwOi8vMTkyLjAuMi45L3g=\r\n"
	"--b\r\n"
	"Content-Type: text/html\r\n"
	"\r\n"
	"<p>Click <b>here</b> &amp; <a href=\"http://192.0.2.9/x\">win</a></p>\r\n"
	"--b--\r\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%MSG%%\n";
	const uint8_t *msg = (const uint8_t *)builtin_msg;
	size_t msg_len = sizeof(builtin_msg) - 1, rules_len = size;
	const uint8_t *s = memmem(data, size, sep, sizeof(sep) - 1);
	if (s) {
		rules_len = (size_t)(s - data) + 1;
		msg = s + sizeof(sep) - 1;
		msg_len = size - (size_t)(msg - data);
	}
	tj_sa_rules *r;
	if (tj_sa_rules_new(&r) != 0)
		return 0;
	int rc = tj_sa_rules_parse(r, "fuzz.cf", data, rules_len);
	if (rc == -ENOMEM) {
		tj_sa_rules_free(&r);
		return 0;
	}
	if (rc != 0 || tj_sa_rules_finish(r) != 0)
		abort();
	tj_buf sum = TJ_BUF_INIT;
	if (tj_sa_rules_summary(r, &sum) != 0 || !sum.data)
		abort();
	tj_buf_free(&sum);

	struct tj_sa_match m;
	if (tj_sa_check(r, msg, msg_len, 0.7, &m) != 0)
		abort();
	double total = 0;
	for (size_t i = 0; i < m.nhits; i++) {
		if (i && strcmp(m.hits[i - 1].name, m.hits[i].name) >= 0)
			abort();
		if (m.hits[i].value == 0 || (!m.hits[i].scored && m.hits[i].score != 0))
			abort();
		if (m.hits[i].scored)
			total += m.hits[i].score;
	}
	if (!(fabs(total - m.score) <= 1e-6 * (1 + fabs(total))) && !(isnan(total) && isnan(m.score)) &&
	    !(isinf(total) && isinf(m.score)))
		abort();
	tj_sa_match_free(&m);

	struct tj_spam_result res;
	if (tj_spam_check(r, msg, msg_len, 0.995, TJ_SPAM_REQUIRED_FROM_RULES, &res) != 0)
		abort();
	tj_buf h = TJ_BUF_INIT;
	if (tj_spam_headers(&res, "fuzz", &h) != 0)
		abort();
	if (h.len < 2 || memcmp(h.data + h.len - 2, "\r\n", 2) != 0)
		abort();
	for (size_t i = 0; i + 2 < h.len; i++)
		if (h.data[i] == '\n' && h.data[i + 1] != '\t' && h.data[i + 1] != 'X')
			abort();
	tj_buf_free(&h);
	tj_spam_result_free(&res);
	tj_sa_rules_free(&r);
	return 0;
}

/*
 * spam.c - the spam combiner: GTUBE, then the rules (sarules.c) with the
 * Bayes probability as BAYES_xx pseudo-rules, summed into SpamAssassin's
 * score; and the X-Spam-* header fields, folded the way SpamAssassin's
 * Util::wrap folds them (written here from its documented behaviour).
 */
#include "node/scan/spam.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/err.h"
#include "protocol/mime/mime.h"

#define SPAM_FOLD_COLUMNS 79       /* SA's wrap() width for its headers */
#define SPAM_GTUBE_SCAN_MAX (4u << 20) /* encoded bytes of one part searched for GTUBE */

/* The rule set used when the caller has none: only the BAYES_xx
 * pseudo-rules.  Built once, kept for the life of the process. */
static tj_sa_rules *bayes_only;
static int bayes_only_rc;
static pthread_once_t bayes_only_once = PTHREAD_ONCE_INIT;

static void bayes_only_init(void)
{
	bayes_only_rc = tj_sa_rules_new(&bayes_only);
	if (bayes_only_rc == 0)
		bayes_only_rc = tj_sa_rules_finish(bayes_only);
}

/* may_be_encoded - the message mentions a content-transfer-encoding that
 * could hide GTUBE (base64, quoted-printable; any usual capitalisation). */
static bool may_be_encoded(const uint8_t *m, size_t n)
{
	static const char *const marks[] = {"ase64", "ASE64", "rintable", "RINTABLE"};
	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (memmem(m, n, marks[i], strlen(marks[i])))
			return true;
	return false;
}

int tj_spam_has_gtube(const uint8_t *msg, size_t len)
{
	static const char g[] = TJ_SPAM_GTUBE;
	/* the body starts after the first empty line */
	size_t body = len;
	for (size_t pos = 0; pos < len;) {
		const uint8_t *nl = memchr(msg + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - msg) : len;
		if (e == pos || (e == pos + 1 && msg[pos] == '\r')) {
			body = nl ? e + 1 : len;
			break;
		}
		pos = nl ? e + 1 : len;
	}
	if (memmem(msg + body, len - body, g, sizeof(g) - 1))
		return 1;
	if (!may_be_encoded(msg, len))
		return 0;
	/* decode the encoded text parts (GTUBE is ASCII: no charset work) */
	struct tj_mime_msg *mm;
	int rc = tj_mime_parse(msg, len, &mm);
	if (rc < 0)
		return rc;
	tj_buf dec = TJ_BUF_INIT;
	uint32_t np = tj_mime_part_count(mm);
	int found = 0;
	for (uint32_t i = 0; i < np && !found && rc == 0; i++) {
		const struct tj_mime_part *p = tj_mime_part_get(mm, i);
		struct tj_mime_content ct;
		if (p->first_child != TJ_MIME_NONE || tj_mime_part_content(mm, i, &ct) < 0 || !ct.cte ||
		    strcasecmp(ct.type, "text") != 0 || p->body_off > len || p->body_len > len - p->body_off)
			continue;
		size_t n = p->body_len < SPAM_GTUBE_SCAN_MAX ? (size_t)p->body_len : SPAM_GTUBE_SCAN_MAX;
		tj_buf_reset(&dec);
		if (strcasecmp(ct.cte, "base64") == 0)
			rc = tj_mime_decode_base64(msg + p->body_off, n, &dec);
		else if (strcasecmp(ct.cte, "quoted-printable") == 0)
			rc = tj_mime_decode_qp(msg + p->body_off, n, &dec);
		else
			continue;
		if (rc == 0 && dec.len && memmem(dec.data, dec.len, g, sizeof(g) - 1))
			found = 1;
	}
	tj_buf_free(&dec);
	tj_mime_free(&mm);
	return rc < 0 ? rc : found;
}

static uint64_t now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000;
}

int tj_spam_check(const tj_sa_rules *rules, const uint8_t *msg, size_t len, double bayes_prob,
		  double required, struct tj_spam_result *res)
{
	uint64_t t0 = now_us();
	memset(res, 0, sizeof(*res));
	if (isnan(required))
		required = rules ? tj_sa_rules_required(rules) : TJ_SPAM_REQUIRED_DEFAULT;
	res->required = required;
	int g = tj_spam_has_gtube(msg, len);
	if (g < 0)
		return g;
	if (g) {
		res->gtube = res->is_spam = true;
		res->score = TJ_SPAM_GTUBE_SCORE;
		int rc = tj_buf_puts(&res->tests, "GTUBE");
		if (rc < 0)
			tj_spam_result_free(res);
		res->elapsed_us = now_us() - t0;
		return rc;
	}
	if (!rules) {
		pthread_once(&bayes_only_once, bayes_only_init);
		if (bayes_only_rc < 0)
			return bayes_only_rc;
		rules = bayes_only;
	}
	struct tj_sa_match m;
	int rc = tj_sa_check(rules, msg, len, bayes_prob, &m);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < m.nhits && rc == 0; i++) {
		if (!m.hits[i].scored)
			continue;
		if (res->tests.len)
			rc = tj_buf_putc(&res->tests, ',');
		if (rc == 0)
			rc = tj_buf_puts(&res->tests, m.hits[i].name);
	}
	/* SpamAssassin keeps the score to 3 decimals before comparing */
	res->score = round(m.score * 1000.0) / 1000.0;
	if (res->score == 0)
		res->score = 0; /* no -0 */
	res->is_spam = res->score >= required;
	res->limit_errors = m.limit_errors;
	res->truncated = m.truncated;
	tj_sa_match_free(&m);
	if (rc < 0) {
		tj_spam_result_free(res);
		return rc;
	}
	res->elapsed_us = now_us() - t0;
	return 0;
}

/* fold - append "Name: value" folded as SpamAssassin folds its headers:
 * the text breaks after any space or comma; a line takes the next piece
 * while it stays within 79 columns (a tab counts 8); a full line loses its
 * trailing blanks and the next one starts with a tab.  A piece that does
 * not fit anywhere gets a line of its own. */
static int fold(const char *name, const char *value, tj_buf *out)
{
	tj_buf text = TJ_BUF_INIT;
	int rc = tj_buf_printf(&text, "%s: %s", name, value);
	size_t line_start = out->len, col = 0;
	const char *s = (const char *)text.data;
	size_t n = text.len, i = 0;
	bool fresh = true; /* the current line holds only its prefix */
	while (rc == 0 && i < n) {
		size_t j = i;
		while (j < n && s[j] != ' ' && s[j] != '\t' && s[j] != ',')
			j++;
		if (j < n)
			j++; /* the piece keeps its break character */
		size_t w = j - i;
		if (!fresh && col + w > SPAM_FOLD_COLUMNS) {
			while (out->len > line_start && (out->data[out->len - 1] == ' ' || out->data[out->len - 1] == '\t'))
				tj_buf_truncate(out, out->len - 1);
			rc = tj_buf_puts(out, "\r\n\t");
			line_start = out->len;
			col = 8;
		}
		if (rc == 0)
			rc = tj_buf_append(out, s + i, w);
		col += w;
		fresh = false;
		i = j;
	}
	/* no trailing blanks on the last line either */
	while (rc == 0 && out->len > line_start && out->data[out->len - 1] == ' ')
		tj_buf_truncate(out, out->len - 1);
	if (rc == 0)
		rc = tj_buf_puts(out, "\r\n");
	tj_buf_free(&text);
	return rc;
}

int tj_spam_headers(const struct tj_spam_result *res, const char *version, tj_buf *out)
{
	int rc = 0;
	if (res->is_spam)
		rc = tj_buf_puts(out, "X-Spam-Flag: YES\r\n");
	if (rc == 0)
		rc = tj_buf_printf(out, "X-Spam-Score: %.1f\r\n", res->score);
	tj_buf st = TJ_BUF_INIT;
	if (rc == 0)
		rc = tj_buf_printf(&st, "%s, score=%.1f required=%.1f tests=%s autolearn=no", res->is_spam ? "Yes" : "No",
				   res->score, res->required, res->tests.len ? (const char *)res->tests.data : "none");
	if (rc == 0 && version && *version)
		rc = tj_buf_printf(&st, " version=%s", version);
	if (rc == 0)
		rc = fold("X-Spam-Status", (const char *)st.data, out);
	tj_buf_free(&st);
	return rc;
}

void tj_spam_result_free(struct tj_spam_result *res)
{
	tj_buf_free(&res->tests);
	memset(res, 0, sizeof(*res));
}

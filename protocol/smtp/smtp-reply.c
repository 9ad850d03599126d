/*
 * smtp-reply.c - SMTP reply writers: (multi-line) replies with RFC 3463
 * enhanced status codes, the default reply for each server decision and
 * each parse error, the EHLO/LHLO extension list, and the header fields a
 * delivery adds (Received: in RFC 5321 4.4 form with RFC 3848 "with"
 * keywords, Return-Path:, Delivered-To:) with an RFC 5322 date.
 *
 * Everything a client or the network controls is passed through a filter
 * that replaces CR, LF and other control bytes, so no reply or header can
 * be split by hostile input.
 */
#include "protocol/smtp/smtp.h"
#include "common/err.h"

#include <stdio.h>
#include <string.h>

#define REPLY_TEXT_MAX 400 /* per reply line: "ddd-x.y.z " + 400 < 512 (RFC 5321 4.5.3.1.5) */

/* clean - append n bytes of s, replacing control bytes, non-ASCII and any
 * byte in forbid by '?' */
static int clean(tj_buf *out, const char *s, size_t n, const char *forbid)
{
	int rc = tj_buf_reserve(out, n);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || (forbid && c && strchr(forbid, c)))
			c = '?';
		out->data[out->len++] = c;
	}
	out->data[out->len] = 0;
	return 0;
}

/* clean_addr - as clean(), but a well-formed UTF-8 sequence is kept: an
 * SMTPUTF8 address (RFC 6531 3.7.3, RFC 6532) in Return-Path:,
 * Delivered-To: and Received: for.  The parser accepts non-ASCII paths only
 * when well-formed and only with SMTPUTF8, so other mail is all ASCII.
 * Malformed bytes still become '?'. */
static int clean_addr(tj_buf *out, const char *s, const char *forbid)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
	while (p < end) {
		const unsigned char *q = p;
		while (q < end && *q < 0x80)
			q++;
		int rc = q > p ? clean(out, (const char *)p, (size_t)(q - p), forbid) : 0;
		if (rc < 0 || q == end)
			return rc;
		size_t n = tj_smtp_utf8_len(q, end);
		rc = n ? tj_buf_append(out, q, n) : clean(out, (const char *)q, 1, forbid);
		if (rc < 0)
			return rc;
		p = q + (n ? n : 1);
	}
	return 0;
}

int tj_smtp_reply(tj_buf *out, int code, const char *esc, const char *text)
{
	if (code < 200 || code > 599)
		return TJ_EINVAL;
	if (!text)
		text = "";
	size_t start = out->len;
	for (;;) {
		const char *nl = strchr(text, '\n');
		size_t n = nl ? (size_t)(nl - text) : strlen(text);
		if (n > 0 && text[n - 1] == '\r')
			n--;
		if (n > REPLY_TEXT_MAX)
			n = REPLY_TEXT_MAX;
		int rc = tj_buf_printf(out, "%03d%c", code, nl ? '-' : ' ');
		if (rc == 0 && esc)
			rc = tj_buf_printf(out, "%s%s", esc, n ? " " : "");
		if (rc == 0)
			rc = clean(out, text, n, NULL);
		if (rc == 0)
			rc = tj_buf_append(out, "\r\n", 2);
		if (rc < 0) {
			tj_buf_truncate(out, start);
			return rc;
		}
		if (!nl)
			return 0;
		text = nl + 1;
	}
}

struct status_def {
	int code;
	const char *esc;
	const char *text;
};

static const struct status_def status_defs[TJ_SMTP_STATUS_COUNT] = {
	[TJ_SMTP_OK] = {250, "2.0.0", "OK"},
	[TJ_SMTP_NO_SUCH_USER] = {550, "5.1.1", "No such user here"},
	[TJ_SMTP_DISABLED] = {550, "5.2.1", "Mailbox disabled, not accepting messages"},
	[TJ_SMTP_OVER_QUOTA] = {452, "4.2.2", "Mailbox full, try again later"},
	[TJ_SMTP_OVER_QUOTA_PERM] = {552, "5.2.2", "Mailbox full"},
	[TJ_SMTP_TEMPFAIL] = {451, "4.3.0", "Temporary failure, try again later"},
	[TJ_SMTP_REJECT] = {550, "5.7.1", "Rejected by local policy"},
	[TJ_SMTP_TOO_BIG] = {552, "5.3.4", "Message size exceeds fixed maximum message size"},
	[TJ_SMTP_NO_STORAGE] = {452, "4.3.1", "Insufficient system storage"},
	[TJ_SMTP_VIRUS] = {554, "5.7.0", "Message refused: it contains a virus"},
};

void tj_smtp_status_reply(enum tj_smtp_status st, enum tj_smtp_ev_type what, int *code_r, const char **esc_r,
			  const char **text_r)
{
	if ((unsigned)st >= TJ_SMTP_STATUS_COUNT)
		st = TJ_SMTP_TEMPFAIL;
	*code_r = status_defs[st].code;
	*esc_r = status_defs[st].esc;
	*text_r = status_defs[st].text;
	if (st != TJ_SMTP_OK)
		return;
	switch (what) {
	case TJ_SMTP_EV_MAIL:
		*esc_r = "2.1.0";
		*text_r = "Sender OK";
		break;
	case TJ_SMTP_EV_RCPT:
		*esc_r = "2.1.5";
		*text_r = "Recipient OK";
		break;
	case TJ_SMTP_EV_DATA:
		*code_r = 354;
		*esc_r = NULL;
		*text_r = "End data with <CR><LF>.<CR><LF>";
		break;
	case TJ_SMTP_EV_DATA_END:
		*text_r = "Message accepted for delivery";
		break;
	default:
		break;
	}
}

static const char *usage(enum tj_smtp_verb v)
{
	switch (v) {
	case TJ_SMTP_HELO: return "Syntax: HELO hostname";
	case TJ_SMTP_EHLO: return "Syntax: EHLO hostname";
	case TJ_SMTP_LHLO: return "Syntax: LHLO hostname";
	case TJ_SMTP_MAIL: return "Syntax: MAIL FROM:<address> [parameters]";
	case TJ_SMTP_RCPT: return "Syntax: RCPT TO:<address> [parameters]";
	case TJ_SMTP_DATA: return "Syntax: DATA (no arguments)";
	case TJ_SMTP_RSET: return "Syntax: RSET (no arguments)";
	case TJ_SMTP_QUIT: return "Syntax: QUIT (no arguments)";
	case TJ_SMTP_STARTTLS: return "Syntax: STARTTLS (no arguments)";
	case TJ_SMTP_VRFY: return "Syntax: VRFY address";
	case TJ_SMTP_EXPN: return "Syntax: EXPN list";
	default: return "Syntax error";
	}
}

void tj_smtp_perr_reply(enum tj_smtp_perr e, enum tj_smtp_verb v, int *code_r, const char **esc_r,
			const char **text_r)
{
	bool mail = v == TJ_SMTP_MAIL;
	switch (e) {
	case TJ_SMTP_PERR_OK:
		*code_r = 250, *esc_r = "2.0.0", *text_r = "OK";
		break;
	case TJ_SMTP_PERR_DOMAIN:
		*code_r = 501, *esc_r = "5.5.4", *text_r = "Invalid domain name";
		break;
	case TJ_SMTP_PERR_SENDER:
		*code_r = 501, *esc_r = "5.1.7", *text_r = "Bad sender address syntax";
		break;
	case TJ_SMTP_PERR_RCPT:
		*code_r = 501, *esc_r = "5.1.3", *text_r = "Bad recipient address syntax";
		break;
	case TJ_SMTP_PERR_PATH_LONG:
		*code_r = 501, *esc_r = mail ? "5.1.7" : "5.1.3", *text_r = "Path too long";
		break;
	case TJ_SMTP_PERR_PARAM:
		*code_r = 555, *esc_r = "5.5.4", *text_r = "Unsupported parameter";
		break;
	case TJ_SMTP_PERR_PARAM_SYNTAX:
		*code_r = 501, *esc_r = "5.5.4", *text_r = "Invalid or duplicate parameter";
		break;
	case TJ_SMTP_PERR_UNKNOWN:
		*code_r = 500, *esc_r = "5.5.2", *text_r = "Command not recognized";
		break;
	case TJ_SMTP_PERR_NUL:
		*code_r = 500, *esc_r = "5.5.2", *text_r = "NUL byte in command";
		break;
	case TJ_SMTP_PERR_SYNTAX:
	default:
		*code_r = 501, *esc_r = "5.5.4", *text_r = usage(v);
		break;
	}
}

int tj_smtp_ehlo_reply(tj_buf *out, const char *host, const char *client, unsigned ext, uint64_t max_size,
		       bool tls_active)
{
	const char *lines[8];
	char size[32];
	size_t n = 0;
	if (ext & TJ_SMTP_EXT_PIPELINING)
		lines[n++] = "PIPELINING";
	if (ext & TJ_SMTP_EXT_SIZE) {
		if (max_size)
			snprintf(size, sizeof(size), "SIZE %llu", (unsigned long long)max_size);
		else
			snprintf(size, sizeof(size), "SIZE");
		lines[n++] = size;
	}
	if (ext & TJ_SMTP_EXT_8BITMIME)
		lines[n++] = "8BITMIME";
	if (ext & TJ_SMTP_EXT_ENHANCEDSTATUSCODES)
		lines[n++] = "ENHANCEDSTATUSCODES";
	if ((ext & TJ_SMTP_EXT_STARTTLS) && !tls_active)
		lines[n++] = "STARTTLS";
	if (ext & TJ_SMTP_EXT_SMTPUTF8)
		lines[n++] = "SMTPUTF8";
	size_t start = out->len;
	int rc = tj_buf_printf(out, "250%c", n ? '-' : ' ');
	if (rc == 0)
		rc = clean(out, host, strlen(host), " ");
	if (rc == 0 && client && *client) {
		rc = tj_buf_puts(out, " Hello ");
		if (rc == 0)
			rc = clean(out, client, strlen(client), " ");
	}
	if (rc == 0)
		rc = tj_buf_append(out, "\r\n", 2);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = tj_buf_printf(out, "250%c%s\r\n", i + 1 < n ? '-' : ' ', lines[i]);
	if (rc < 0)
		tj_buf_truncate(out, start);
	return rc;
}

char *tj_smtp_date(char *out, size_t outsz, time_t t)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	if (!localtime_r(&t, &tm)) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(out, outsz, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
		 off % 60);
	return out;
}

static int put_clean(tj_buf *out, const char *s, const char *forbid)
{
	return clean(out, s, strlen(s), forbid);
}

int tj_smtp_received_header(tj_buf *out, const struct tj_smtp_received *r)
{
	if (!r->by || !r->with)
		return TJ_EINVAL;
	static const char *const comment_bad = " ()\\;";
	size_t start = out->len;
	char date[64];
	int rc = tj_buf_puts(out, "Received: from ");
	if (rc == 0)
		rc = put_clean(out, r->helo && *r->helo ? r->helo : "unknown", comment_bad);
	if (rc == 0 && r->addr) {
		rc = tj_buf_puts(out, " (");
		if (rc == 0)
			rc = put_clean(out, r->rdns && *r->rdns ? r->rdns : "unknown", comment_bad);
		if (rc == 0)
			rc = tj_buf_puts(out, " [");
		if (rc == 0)
			rc = put_clean(out, r->addr, " ()\\;[]");
		if (rc == 0)
			rc = tj_buf_puts(out, "])");
	}
	if (rc == 0)
		rc = tj_buf_puts(out, "\r\n\tby ");
	if (rc == 0)
		rc = put_clean(out, r->by, comment_bad);
	if (rc == 0)
		rc = tj_buf_puts(out, " (tjstore) with ");
	if (rc == 0)
		rc = put_clean(out, r->with, comment_bad);
	if (rc == 0 && r->tls && *r->tls) {
		rc = tj_buf_puts(out, "\r\n\t(");
		if (rc == 0)
			rc = put_clean(out, r->tls, "()\\");
		if (rc == 0)
			rc = tj_buf_puts(out, ")");
	}
	if (rc == 0 && r->id && *r->id) {
		rc = tj_buf_puts(out, "\r\n\tid ");
		if (rc == 0)
			rc = put_clean(out, r->id, comment_bad);
	}
	if (rc == 0 && r->for_rcpt) {
		rc = tj_buf_puts(out, "\r\n\tfor <");
		if (rc == 0)
			rc = clean_addr(out, r->for_rcpt, "<>");
		if (rc == 0)
			rc = tj_buf_puts(out, ">");
	}
	if (rc == 0)
		rc = tj_buf_printf(out, "; %s\r\n", tj_smtp_date(date, sizeof(date), r->when));
	if (rc < 0)
		tj_buf_truncate(out, start);
	return rc;
}

int tj_smtp_return_path_header(tj_buf *out, const char *sender)
{
	size_t start = out->len;
	int rc = tj_buf_puts(out, "Return-Path: <");
	if (rc == 0)
		rc = clean_addr(out, sender ? sender : "", "<>");
	if (rc == 0)
		rc = tj_buf_puts(out, ">\r\n");
	if (rc < 0)
		tj_buf_truncate(out, start);
	return rc;
}

int tj_smtp_delivered_to_header(tj_buf *out, const char *rcpt)
{
	size_t start = out->len;
	int rc = tj_buf_puts(out, "Delivered-To: ");
	if (rc == 0)
		rc = clean_addr(out, rcpt ? rcpt : "", NULL);
	if (rc == 0)
		rc = tj_buf_puts(out, "\r\n");
	if (rc < 0)
		tj_buf_truncate(out, start);
	return rc;
}

/*
 * test-smtp.c - unit tests for protocol/smtp (parser, DATA decoder, replies,
 * session engine) plus the golden transcripts in transcripts/NAME.in, each run
 * whole, one byte at a time, in 7-byte chunks and in pseudo-random chunks,
 * all of which must give the transcript in the matching .ref file.
 *
 * Transcript .in syntax (one client line per line, CRLF appended):
 *   # comment               skipped
 *   !lmtp                   LMTP session
 *   !max_size N / !max_rcpts N / !max_hops N / !max_errors N
 *   !lf strict|normalize|lenient
 *   !ext NAME,NAME...       extensions offered (PIPELINING SIZE 8BITMIME
 *                           ENHANCEDSTATUSCODES STARTTLS SMTPUTF8)
 *   !segment                the client waits for replies here: bytes before
 *                           are fed and processed before bytes after
 *   !repeat N TEXT          TEXT N times, no line ending
 *   text                    escapes: \r \n \t \\ \xHH; a trailing \c means
 *                           "no CRLF after this line"
 * The scripted server fake decides by local part: sender reject* -> 550,
 * tempfail* -> 451, nospool* -> 451 at DATA; recipient unknown* -> 550 5.1.1,
 * disabled* -> 550 5.2.1, fullperm* -> 552 5.2.2, full* -> 452 4.2.2,
 * tempfail* -> 451; at end of DATA virus* -> 554, and for LMTP lmtpfail*
 * -> 451, lmtpfull* -> 552 (LMTP answers are given in reverse order).
 * Output lines: "S: " server reply, "E: " event, "B: " decoded body line.
 * TJ_SMTP_REGEN=1 rewrites the .ref files from the whole-feed run.
 */
#include "protocol/smtp/smtp.h"
#include "common/buf.h"
#include "common/err.h"
#include "tests/harness.h"

#include <dirent.h>
#include <strings.h>

/* ================================================================ helpers */

static struct tj_smtp_cmd cmd; /* big: keep off the stack */

static int parse(const char *line)
{
	return tj_smtp_parse_command(line, strlen(line), false, &cmd);
}

static int parse_lmtp(const char *line)
{
	return tj_smtp_parse_command(line, strlen(line), true, &cmd);
}

/* decode a whole DATA stream; returns rc, output in out, consumed in used */
static int decode_all(enum tj_smtp_lf_policy lf, uint64_t max, unsigned hops, const char *in, size_t len,
		      tj_buf *out, size_t *used_r, struct tj_smtp_data *d_r)
{
	tj_smtp_data_init(d_r, lf, max, hops, true);
	return tj_smtp_data_decode(d_r, in, len, used_r, out);
}

/* same stream one byte at a time: must give identical output and consumption */
static void check_bytewise(enum tj_smtp_lf_policy lf, uint64_t max, const char *in, size_t len)
{
	tj_buf a = TJ_BUF_INIT, b = TJ_BUF_INIT;
	struct tj_smtp_data da, db;
	size_t used_a = 0;
	int rca = decode_all(lf, max, 0, in, len, &a, &used_a, &da);
	tj_smtp_data_init(&db, lf, max, 0, true);
	size_t used_b = 0;
	int rcb = TJ_NEED_MORE;
	for (size_t i = 0; i < len && rcb == TJ_NEED_MORE; i++) {
		size_t u = 0;
		rcb = tj_smtp_data_decode(&db, in + i, 1, &u, &b);
		used_b += u;
	}
	TJ_ASSERT_INT(rca, ==, rcb);
	TJ_ASSERT_INT(used_a, ==, used_b);
	TJ_ASSERT_INT(a.len, ==, b.len);
	if (a.len)
		TJ_ASSERT_MEM(a.data, a.len, b.data, b.len);
	TJ_ASSERT_INT(da.size, ==, db.size);
	TJ_ASSERT_INT(da.hops, ==, db.hops);
	tj_buf_free(&a);
	tj_buf_free(&b);
}

static void expect_decode(enum tj_smtp_lf_policy lf, const char *in, int want_rc, const char *want_out,
			  size_t want_used)
{
	tj_buf out = TJ_BUF_INIT;
	struct tj_smtp_data d;
	size_t used = 0;
	size_t len = strlen(in);
	int rc = decode_all(lf, 0, 0, in, len, &out, &used, &d);
	if (rc != want_rc || used != want_used || out.len != strlen(want_out) ||
	    (out.len && memcmp(out.data, want_out, out.len) != 0))
		TJ_FAIL("decode(%d) rc=%d used=%zu out=\"%s\", want rc=%d used=%zu out=\"%s\"", (int)lf, rc, used,
			out.data ? (char *)out.data : "", want_rc, want_used, want_out);
	check_bytewise(lf, 0, in, len);
	tj_buf_free(&out);
}

/* ============================================================ parser */

TJ_TEST(parse_verbs_case_insensitive)
{
	TJ_OKRC(parse("quit"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_QUIT);
	TJ_OKRC(parse("NoOp"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_NOOP);
	TJ_OKRC(parse("noop some text"));
	TJ_ASSERT_STR(cmd.arg, "some text");
	TJ_OKRC(parse("StartTLS"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_STARTTLS);
	TJ_OKRC(parse("rset  \t "));           /* trailing blanks ignored */
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_RSET);
	TJ_ASSERT_INT(parse("RSET now"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_SYNTAX);
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_RSET);
	TJ_ASSERT_INT(parse("DATA x"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("FROB"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_UNKNOWN);
	TJ_ASSERT_STR(cmd.verb_text, "FROB");
	TJ_ASSERT_INT(parse(""), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_UNKNOWN);
	TJ_ASSERT_INT(parse("MAILFROM:<a@b.c>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_UNKNOWN);
	TJ_ASSERT_INT(tj_smtp_parse_command("NOOP\0x", 6, false, &cmd), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_NUL);
	/* LHLO only in LMTP */
	TJ_ASSERT_INT(parse("LHLO x.org"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_UNKNOWN);
	TJ_OKRC(parse_lmtp("lhlo x.org"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_LHLO);
	TJ_OKRC(parse("AUTH PLAIN AGFiYwBkZWY="));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_NOTIMPL);
	TJ_ASSERT_INT(parse("VRFY"), ==, TJ_EPROTO);
	TJ_OKRC(parse("VRFY root"));
	TJ_ASSERT_STR(cmd.arg, "root");
	TJ_ASSERT_STR(tj_smtp_verb_name(TJ_SMTP_EHLO), "EHLO");
}

TJ_TEST(parse_helo)
{
	TJ_OKRC(parse("EHLO mail.example.org"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_EHLO);
	TJ_ASSERT_STR(cmd.domain, "mail.example.org");
	TJ_OKRC(parse("helo [192.0.2.1]"));
	TJ_ASSERT_STR(cmd.domain, "[192.0.2.1]");
	TJ_OKRC(parse("EHLO [IPv6:2001:db8::1]"));
	TJ_OKRC(parse("EHLO under_score.example"));  /* tolerated for HELO */
	TJ_OKRC(parse("EHLO  spaced.example"));
	TJ_ASSERT_STR(cmd.domain, "spaced.example");
	TJ_ASSERT_INT(parse("EHLO"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_SYNTAX);
	TJ_ASSERT_INT(parse("EHLO a b"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_SYNTAX);
	TJ_ASSERT_INT(parse("EHLO bad..name"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_DOMAIN);
	TJ_ASSERT_INT(parse("EHLO [300.1.1.1]"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("EHLO -dash.example"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("EHLO <x>"), ==, TJ_EPROTO);
}

TJ_TEST(check_domain)
{
	const char *good[] = {"a", "example.org", "x-y.example", "1.2.3.4", "[127.0.0.1]", "[IPv6:::1]",
			      "[ipv6:fe80::1]", "[x-tag:stuff]", "a.b.c.d.e.f"};
	const char *bad[] = {"", ".", "a.", ".a", "a..b", "-a", "a-", "a_b", "[1.2.3]", "[IPv6:zz]", "[]",
			     "[1.2.3.4", "a b", "exa\xc3\xa9mple"};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!tj_smtp_check_domain(good[i], strlen(good[i]), 0))
			TJ_FAIL("good domain refused: %s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (tj_smtp_check_domain(bad[i], strlen(bad[i]), 0))
			TJ_FAIL("bad domain accepted: %s", bad[i]);
	TJ_ASSERT(tj_smtp_check_domain("a_b", 3, TJ_SMTP_DOM_UNDERSCORE));
	TJ_ASSERT(tj_smtp_check_domain("exa\xc3\xa9mple", 9, TJ_SMTP_DOM_UTF8));
	TJ_ASSERT(!tj_smtp_check_domain("exa\xc3mple", 8, TJ_SMTP_DOM_UTF8));     /* truncated */
	TJ_ASSERT(!tj_smtp_check_domain("\xc0\xafx", 3, TJ_SMTP_DOM_UTF8));       /* overlong */
	TJ_ASSERT(!tj_smtp_check_domain("[1.2.3.4]", 9, TJ_SMTP_DOM_NO_LITERAL));
	char label[80];
	memset(label, 'a', 64);
	TJ_ASSERT(!tj_smtp_check_domain(label, 64, 0)); /* label > 63 */
	TJ_ASSERT(tj_smtp_check_domain(label, 63, 0));
	char longd[300];
	for (int i = 0; i < 300; i++)
		longd[i] = (i % 2) ? '.' : 'a';
	TJ_ASSERT(tj_smtp_check_domain(longd, 255, 0));
	TJ_ASSERT(!tj_smtp_check_domain(longd, 257, 0)); /* > 255 */
}

TJ_TEST(parse_mail_from)
{
	TJ_OKRC(parse("MAIL FROM:<alice@example.org>"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_MAIL);
	TJ_ASSERT_STR(cmd.path.addr, "alice@example.org");
	TJ_ASSERT_STR(cmd.path.local, "alice");
	TJ_ASSERT_STR(cmd.path.domain, "example.org");
	TJ_ASSERT(!cmd.path.null);
	TJ_OKRC(parse("mail from:<>"));
	TJ_ASSERT(cmd.path.null);
	TJ_ASSERT_STR(cmd.path.addr, "");
	TJ_OKRC(parse("MAIL FROM: <a@b.c>"));  /* space after colon tolerated */
	TJ_ASSERT_STR(cmd.path.addr, "a@b.c");
	TJ_OKRC(parse("MAIL FROM:<a@b.c> SIZE=12345 BODY=8bitmime smtputf8 RET=HDRS ENVID=QQ314159 AUTH=<>"));
	TJ_ASSERT(cmd.has_size);
	TJ_ASSERT_INT(cmd.size, ==, 12345);
	TJ_ASSERT_INT(cmd.body, ==, TJ_SMTP_BODY_8BITMIME);
	TJ_ASSERT(cmd.smtputf8);
	TJ_ASSERT_STR(cmd.ret, "HDRS");
	TJ_ASSERT_STR(cmd.envid, "QQ314159");
	TJ_OKRC(parse("MAIL FROM:<a@b.c> BODY=7BIT"));
	TJ_ASSERT_INT(cmd.body, ==, TJ_SMTP_BODY_7BIT);
	TJ_OKRC(parse("MAIL FROM:<a@b.c> SIZE=99999999999999999999"));
	TJ_ASSERT_INT(cmd.size == UINT64_MAX, ==, 1);
	/* errors */
	TJ_ASSERT_INT(parse("MAIL FROM:a@b.c"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_SYNTAX);
	TJ_ASSERT_INT(parse("MAIL TO:<a@b.c>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_SYNTAX);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_SENDER);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c>x"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> FOO=bar"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> BODY=BINARYMIME"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> BODY=9BIT"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM_SYNTAX);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> SIZE=12 SIZE=13"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM_SYNTAX);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> SIZE=1x"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> SIZE="), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> SMTPUTF8=yes"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> RET=ALL"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("MAIL FROM:<postmaster>"), ==, TJ_EPROTO); /* only RCPT */
	TJ_ASSERT_INT(parse("MAIL FROM:<a@b.c> NOTIFY=NEVER"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM);
}

TJ_TEST(parse_rcpt_to)
{
	TJ_OKRC(parse("RCPT TO:<bob@example.org>"));
	TJ_ASSERT_INT(cmd.verb, ==, TJ_SMTP_RCPT);
	TJ_ASSERT_STR(cmd.path.addr, "bob@example.org");
	TJ_OKRC(parse("rcpt to:<Postmaster>"));
	TJ_ASSERT(cmd.path.postmaster);
	TJ_ASSERT_STR(cmd.path.domain, "");
	TJ_ASSERT_STR(cmd.path.addr, "Postmaster");
	TJ_OKRC(parse("RCPT TO:<POSTMASTER@example.org>"));
	TJ_ASSERT(cmd.path.postmaster);
	TJ_ASSERT_STR(cmd.path.domain, "example.org");
	TJ_ASSERT_INT(parse("RCPT TO:<>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_RCPT);
	TJ_ASSERT_INT(parse("RCPT TO:<bob>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_RCPT);
	/* source route dropped */
	TJ_OKRC(parse("RCPT TO:<@relay.one,@relay.two:joe@example.org>"));
	TJ_ASSERT_STR(cmd.path.addr, "joe@example.org");
	TJ_ASSERT_STR(cmd.path.domain, "example.org");
	TJ_ASSERT_INT(parse("RCPT TO:<@relay.one joe@example.org>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<@:joe@example.org>"), ==, TJ_EPROTO);
	/* quoted local part */
	TJ_OKRC(parse("RCPT TO:<\"john q\\\"doe\"@example.org>"));
	TJ_ASSERT(cmd.path.quoted);
	TJ_ASSERT_STR(cmd.path.local, "john q\"doe");
	TJ_ASSERT_STR(cmd.path.addr, "\"john q\\\"doe\"@example.org");
	TJ_ASSERT_INT(parse("RCPT TO:<\"unterminated@example.org>"), ==, TJ_EPROTO);
	/* dot-string rules */
	TJ_OKRC(parse("RCPT TO:<first.last+tag@example.org>"));
	TJ_ASSERT_INT(parse("RCPT TO:<.x@example.org>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x.@example.org>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x..y@example.org>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x y@example.org>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x@exa mple.org>"), ==, TJ_EPROTO);
	/* address literal */
	TJ_OKRC(parse("RCPT TO:<x@[192.0.2.7]>"));
	TJ_ASSERT(cmd.path.literal);
	TJ_ASSERT_STR(cmd.path.domain, "[192.0.2.7]");
	/* parameters */
	TJ_OKRC(parse("RCPT TO:<x@y.z> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.z"));
	TJ_ASSERT_INT(cmd.notify, ==, TJ_SMTP_NOTIFY_SUCCESS | TJ_SMTP_NOTIFY_FAILURE);
	TJ_ASSERT_STR(cmd.orcpt, "rfc822;x@y.z");
	TJ_OKRC(parse("RCPT TO:<x@y.z> notify=never"));
	TJ_ASSERT_INT(cmd.notify, ==, TJ_SMTP_NOTIFY_NEVER);
	TJ_ASSERT_INT(parse("RCPT TO:<x@y.z> NOTIFY=NEVER,DELAY"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x@y.z> NOTIFY=SUCCESS,"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x@y.z> ORCPT=nosemicolon"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<x@y.z> SIZE=10"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM);
	TJ_ASSERT_INT(parse("RCPT TO:<x@y.z> X=a=b"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PARAM_SYNTAX);
}

TJ_TEST(parse_address_limits)
{
	char line[1024], local[80], dom[300];
	/* local part: 64 ok, 65 too long */
	memset(local, 'l', 64);
	local[64] = 0;
	snprintf(line, sizeof(line), "RCPT TO:<%s@example.org>", local);
	TJ_OKRC(parse(line));
	TJ_ASSERT_INT(strlen(cmd.path.local), ==, 64);
	local[64] = 'l', local[65] = 0;
	snprintf(line, sizeof(line), "RCPT TO:<%s@example.org>", local);
	TJ_ASSERT_INT(parse(line), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PATH_LONG);
	/* quoted local part counts its quotes */
	memset(local, 'q', 62);
	local[62] = 0;
	snprintf(line, sizeof(line), "RCPT TO:<\"%s\"@example.org>", local);
	TJ_OKRC(parse(line));
	snprintf(line, sizeof(line), "RCPT TO:<\"%sq\"@example.org>", local);
	TJ_ASSERT_INT(parse(line), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PATH_LONG);
	/* path: "<" + 64 + "@" + domain + ">" <= 256 -> domain <= 189 */
	memset(local, 'l', 64);
	local[64] = 0;
	size_t dl = 189;
	for (size_t i = 0; i < dl; i++)
		dom[i] = (i % 50 == 49) ? '.' : 'd';
	dom[dl] = 0;
	snprintf(line, sizeof(line), "MAIL FROM:<%s@%s>", local, dom);
	TJ_OKRC(parse(line));
	TJ_ASSERT_INT(strlen(cmd.path.addr), ==, 254);
	dom[dl] = 'd', dom[dl + 1] = 0;
	snprintf(line, sizeof(line), "MAIL FROM:<%s@%s>", local, dom);
	TJ_ASSERT_INT(parse(line), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PATH_LONG);
	/* domain > 255 */
	for (size_t i = 0; i < 260; i++)
		dom[i] = (i % 50 == 49) ? '.' : 'd';
	dom[260] = 0;
	snprintf(line, sizeof(line), "RCPT TO:<a@%s>", dom);
	TJ_ASSERT_INT(parse(line), ==, TJ_EPROTO);
	TJ_ASSERT_INT(cmd.perr, ==, TJ_SMTP_PERR_PATH_LONG);
}

TJ_TEST(parse_utf8_addresses)
{
	TJ_OKRC(parse("MAIL FROM:<j\xc3\xb6rg@b\xc3\xbc" "cher.example> SMTPUTF8"));
	TJ_ASSERT(cmd.path.utf8);
	TJ_ASSERT(cmd.smtputf8);
	TJ_OKRC(parse("RCPT TO:<\xe7\x94\xa8\xe6\x88\xb7@example.org>"));
	TJ_ASSERT(cmd.path.utf8);
	TJ_OKRC(parse("RCPT TO:<ascii@example.org>"));
	TJ_ASSERT(!cmd.path.utf8);
	/* malformed UTF-8 is a syntax error */
	TJ_ASSERT_INT(parse("RCPT TO:<\xc3@example.org>"), ==, TJ_EPROTO);
	TJ_ASSERT_INT(parse("RCPT TO:<\xed\xa0\x80@example.org>"), ==, TJ_EPROTO); /* surrogate */
	TJ_ASSERT_INT(parse("RCPT TO:<\xff@example.org>"), ==, TJ_EPROTO);
}

/* ============================================================ DATA decoder */

TJ_TEST(data_basic_and_dot_unstuffing)
{
	const enum tj_smtp_lf_policy N = TJ_SMTP_LF_NORMALIZE;
	expect_decode(N, "Subject: x\r\n\r\nhello\r\n.\r\n", 0, "Subject: x\r\n\r\nhello\r\n", 24);
	/* empty message: "." as the very first line */
	expect_decode(N, ".\r\n", 0, "", 3);
	/* ".." -> "."  and "..." -> ".." */
	expect_decode(N, "..\r\n...\r\n..x\r\n.\r\n", 0, ".\r\n..\r\n.x\r\n", 17);
	/* a dot not at line start is content */
	expect_decode(N, "a.b\r\n .\r\n.\r\n", 0, "a.b\r\n .\r\n", 12);
	/* the CRLF before the final dot belongs to the terminator */
	expect_decode(N, "last line\r\n.\r\n", 0, "last line\r\n", 14);
	/* "text." is not an end marker; neither is ". " */
	expect_decode(N, "text.\r\n. \r\n.\r\n", 0, "text.\r\n \r\n", 14);
	/* bytes after the end are not consumed */
	expect_decode(N, "x\r\n.\r\nQUIT\r\n", 0, "x\r\n", 6);
	/* incomplete */
	expect_decode(N, "x\r\n.\r", TJ_NEED_MORE, "x\r\n", 5);
	expect_decode(N, "x\r\n.", TJ_NEED_MORE, "x\r\n", 4);
	/* bare CR is content, never a line end */
	expect_decode(N, "a\rb\r\n\r.\r\n.\r\n", 0, "a\rb\r\n\r.\r\n", 12);
	/* ".\rx": the dot is stuffing, the CR content */
	expect_decode(N, ".\rx\r\n.\r\n", 0, "\rx\r\n", 8);
}

TJ_TEST(data_binary_bytes)
{
	const char in[] = "\x00\xff\xc3\xa9\r\n.\r\n";
	tj_buf out = TJ_BUF_INIT;
	struct tj_smtp_data d;
	size_t used = 0;
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 0, 0, in, sizeof(in) - 1, &out, &used, &d));
	TJ_ASSERT_MEM(out.data, out.len, "\x00\xff\xc3\xa9\r\n", 6);
	TJ_ASSERT_INT(used, ==, sizeof(in) - 1);
	check_bytewise(TJ_SMTP_LF_NORMALIZE, 0, in, sizeof(in) - 1);
	tj_buf_free(&out);
}

TJ_TEST(data_bare_lf_policies)
{
	const enum tj_smtp_lf_policy N = TJ_SMTP_LF_NORMALIZE, S = TJ_SMTP_LF_STRICT, L = TJ_SMTP_LF_LENIENT;
	/* normalize: bare LF lines become CRLF; "\n.\n" is content, not the end */
	expect_decode(N, "a\nb\r\n.\r\n", 0, "a\r\nb\r\n", 8);
	expect_decode(N, "a\n.\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 10);
	/* "<LF>.<CR><LF>" is not "<CR><LF>.<CR><LF>": content too */
	expect_decode(N, "a\n.\r\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 11);
	/* "<CR><LF>.<LF>" neither */
	expect_decode(N, "a\r\n.\nb\r\n.\r\n", 0, "a\r\n.\r\nb\r\n", 11);
	/* smuggling attempt stays inside the first message */
	expect_decode(N, "x\n.\nMAIL FROM:<e@vil>\r\n.\r\n", 0, "x\r\n.\r\nMAIL FROM:<e@vil>\r\n", 26);
	/* lenient: "\n.\n" ends, and so does ".\n" after a CRLF line */
	expect_decode(L, "a\n.\nrest", 0, "a\r\n", 4);
	expect_decode(L, "a\r\n.\nrest", 0, "a\r\n", 5);
	expect_decode(L, "a\n.\r\nrest", 0, "a\r\n", 5);
	/* strict: same framing as normalize, output suppressed after a bare LF */
	tj_buf out = TJ_BUF_INIT;
	struct tj_smtp_data d;
	size_t used = 0;
	TJ_OKRC(decode_all(S, 0, 0, "ok\r\nbad\nmore\r\n.\r\n", 17, &out, &used, &d));
	TJ_ASSERT(d.bare_lf);
	TJ_ASSERT_INT(used, ==, 17);
	TJ_ASSERT_STR((char *)out.data, "ok\r\nbad"); /* nothing after the bare LF */
	tj_buf_free(&out);
	/* normalize records that a bare LF was seen */
	TJ_OKRC(decode_all(N, 0, 0, "a\n.\r\n.\r\n", 8, &out, &used, &d));
	TJ_ASSERT(d.bare_lf);
	tj_buf_free(&out);
	TJ_OKRC(decode_all(N, 0, 0, "a\r\n.\r\n", 6, &out, &used, &d));
	TJ_ASSERT(!d.bare_lf);
	tj_buf_free(&out);
}

TJ_TEST(data_first_line_after_bare_lf_data_command)
{
	/* "DATA\n" then ".\r\n": under normalize the DATA line did not end in
	 * CRLF, so the dot line is content; under lenient it ends */
	struct tj_smtp_data d;
	tj_buf out = TJ_BUF_INIT;
	size_t used = 0;
	tj_smtp_data_init(&d, TJ_SMTP_LF_NORMALIZE, 0, 0, false);
	TJ_ASSERT_INT(tj_smtp_data_decode(&d, ".\r\n", 3, &used, &out), ==, TJ_NEED_MORE);
	TJ_ASSERT_STR((char *)out.data, ".\r\n");
	tj_buf_free(&out);
	tj_smtp_data_init(&d, TJ_SMTP_LF_LENIENT, 0, 0, false);
	TJ_OKRC(tj_smtp_data_decode(&d, ".\r\n", 3, &used, &out));
	TJ_ASSERT_INT(out.len, ==, 0);
	tj_buf_free(&out);
}

TJ_TEST(data_size_limit_keeps_sync)
{
	char big[4096];
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "line %02d of the message body\r\n", i);
	n += (size_t)snprintf(big + n, sizeof(big) - n, ".\r\nNOOP\r\n");
	tj_buf out = TJ_BUF_INIT;
	struct tj_smtp_data d;
	size_t used = 0;
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 100, 0, big, n, &out, &used, &d));
	TJ_ASSERT(d.overflow);
	TJ_ASSERT_INT(used, ==, n - 6); /* stopped right after ".\r\n" */
	TJ_ASSERT(out.len <= 100);
	TJ_ASSERT_INT(d.size, ==, 40 * 29);
	tj_buf_free(&out);
	/* exactly at the limit is fine */
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 5, 0, "abc\r\n.\r\n", 8, &out, &used, &d));
	TJ_ASSERT(!d.overflow);
	TJ_ASSERT_INT(out.len, ==, 5);
	tj_buf_free(&out);
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 4, 0, "abc\r\n.\r\n", 8, &out, &used, &d));
	TJ_ASSERT(d.overflow);
	tj_buf_free(&out);
	check_bytewise(TJ_SMTP_LF_NORMALIZE, 100, big, n);
}

TJ_TEST(data_hop_counting)
{
	const char *msg = "Received: from a\r\n\tby b\r\nreceived: from c\r\nX-Received: no\r\n"
			  "Subject: Received: no\r\nRECEIVED:x\r\n"
			  "\r\nReceived: in the body does not count\r\n.\r\n";
	tj_buf out = TJ_BUF_INIT;
	struct tj_smtp_data d;
	size_t used = 0;
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 0, 0, msg, strlen(msg), &out, &used, &d));
	TJ_ASSERT_INT(d.hops, ==, 3);
	TJ_ASSERT(!d.too_many_hops);
	tj_buf_free(&out);
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 0, 2, msg, strlen(msg), &out, &used, &d));
	TJ_ASSERT(d.too_many_hops);
	TJ_ASSERT_INT(used, ==, strlen(msg));
	tj_buf_free(&out);
	/* a stuffed dot before the field name still counts once unstuffed */
	TJ_OKRC(decode_all(TJ_SMTP_LF_NORMALIZE, 0, 0, "Received: x\r\n..Received: y\r\n.\r\n", 31, &out,
			   &used, &d));
	TJ_ASSERT_INT(d.hops, ==, 1);
	tj_buf_free(&out);
	check_bytewise(TJ_SMTP_LF_NORMALIZE, 0, msg, strlen(msg));
}

TJ_TEST(data_done_is_sticky)
{
	struct tj_smtp_data d;
	tj_buf out = TJ_BUF_INIT;
	size_t used = 0;
	tj_smtp_data_init(&d, TJ_SMTP_LF_NORMALIZE, 0, 0, true);
	TJ_OKRC(tj_smtp_data_decode(&d, ".\r\n", 3, &used, &out));
	TJ_OKRC(tj_smtp_data_decode(&d, "more", 4, &used, &out));
	TJ_ASSERT_INT(used, ==, 0);
	tj_buf_free(&out);
}

/* ================================================================ replies */

TJ_TEST(reply_multiline_and_sanitised)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_smtp_reply(&b, 250, "2.0.0", "OK"));
	TJ_ASSERT_STR((char *)b.data, "250 2.0.0 OK\r\n");
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_reply(&b, 214, "2.0.0", "one\ntwo\nthree"));
	TJ_ASSERT_STR((char *)b.data, "214-2.0.0 one\r\n214-2.0.0 two\r\n214 2.0.0 three\r\n");
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_reply(&b, 354, NULL, "go"));
	TJ_ASSERT_STR((char *)b.data, "354 go\r\n");
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_reply(&b, 550, "5.1.1", "bad\r\x01user"));
	TJ_ASSERT_STR((char *)b.data, "550 5.1.1 bad??user\r\n");
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_reply(&b, 250, "2.0.0", ""));
	TJ_ASSERT_STR((char *)b.data, "250 2.0.0\r\n");
	TJ_ASSERT_INT(tj_smtp_reply(&b, 199, NULL, "x"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_smtp_reply(&b, 600, NULL, "x"), ==, TJ_EINVAL);
	/* long text capped well under 512 */
	char lng[2000];
	memset(lng, 'x', sizeof(lng) - 1);
	lng[sizeof(lng) - 1] = 0;
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_reply(&b, 250, "2.0.0", lng));
	TJ_ASSERT(b.len < 512);
	tj_buf_free(&b);
}

TJ_TEST(reply_ehlo)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_smtp_ehlo_reply(&b, "mx.example.org", "client.example", TJ_SMTP_EXT_DEFAULT | TJ_SMTP_EXT_STARTTLS,
				   1000, false));
	TJ_ASSERT_STR((char *)b.data, "250-mx.example.org Hello client.example\r\n"
				      "250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
				      "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 SMTPUTF8\r\n");
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_ehlo_reply(&b, "mx", "c", TJ_SMTP_EXT_STARTTLS | TJ_SMTP_EXT_SIZE, 0, true));
	TJ_ASSERT_STR((char *)b.data, "250-mx Hello c\r\n250 SIZE\r\n");
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_ehlo_reply(&b, "mx", NULL, 0, 0, false));
	TJ_ASSERT_STR((char *)b.data, "250 mx\r\n");
	tj_buf_free(&b);
}

TJ_TEST(reply_defaults)
{
	int code;
	const char *esc, *text;
	tj_smtp_status_reply(TJ_SMTP_NO_SUCH_USER, TJ_SMTP_EV_RCPT, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 550);
	TJ_ASSERT_STR(esc, "5.1.1");
	tj_smtp_status_reply(TJ_SMTP_DISABLED, TJ_SMTP_EV_RCPT, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 550);
	TJ_ASSERT_STR(esc, "5.2.1");
	tj_smtp_status_reply(TJ_SMTP_OVER_QUOTA, TJ_SMTP_EV_RCPT, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 452);
	TJ_ASSERT_STR(esc, "4.2.2");
	tj_smtp_status_reply(TJ_SMTP_OVER_QUOTA_PERM, TJ_SMTP_EV_RCPT, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 552);
	TJ_ASSERT_STR(esc, "5.2.2");
	tj_smtp_status_reply(TJ_SMTP_TEMPFAIL, TJ_SMTP_EV_RCPT, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 451);
	TJ_ASSERT_STR(esc, "4.3.0");
	tj_smtp_status_reply(TJ_SMTP_OK, TJ_SMTP_EV_RCPT, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 250);
	TJ_ASSERT_STR(esc, "2.1.5");
	tj_smtp_status_reply(TJ_SMTP_OK, TJ_SMTP_EV_MAIL, &code, &esc, &text);
	TJ_ASSERT_STR(esc, "2.1.0");
	tj_smtp_status_reply(TJ_SMTP_OK, TJ_SMTP_EV_DATA, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 354);
	TJ_ASSERT(esc == NULL);
	tj_smtp_perr_reply(TJ_SMTP_PERR_PARAM, TJ_SMTP_MAIL, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 555);
	TJ_ASSERT_STR(esc, "5.5.4");
	tj_smtp_perr_reply(TJ_SMTP_PERR_UNKNOWN, TJ_SMTP_UNKNOWN, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 500);
	TJ_ASSERT_STR(esc, "5.5.2");
	tj_smtp_perr_reply(TJ_SMTP_PERR_SYNTAX, TJ_SMTP_MAIL, &code, &esc, &text);
	TJ_ASSERT_INT(code, ==, 501);
	TJ_ASSERT_STR(esc, "5.5.4");
}

TJ_TEST(date_format)
{
	setenv("TZ", "UTC", 1);
	tzset();
	char d[64];
	TJ_ASSERT_STR(tj_smtp_date(d, sizeof(d), 0), "Thu, 01 Jan 1970 00:00:00 +0000");
	TJ_ASSERT_STR(tj_smtp_date(d, sizeof(d), 1700000000), "Tue, 14 Nov 2023 22:13:20 +0000");
	setenv("TZ", "EST5EDT,M3.2.0,M11.1.0", 1);
	tzset();
	TJ_ASSERT_STR(tj_smtp_date(d, sizeof(d), 1700000000), "Tue, 14 Nov 2023 17:13:20 -0500");
	setenv("TZ", "IST-5:30", 1);
	tzset();
	TJ_ASSERT_STR(tj_smtp_date(d, sizeof(d), 1700000000), "Wed, 15 Nov 2023 03:43:20 +0530");
}

TJ_TEST(received_header)
{
	setenv("TZ", "UTC", 1);
	tzset();
	tj_buf b = TJ_BUF_INIT;
	struct tj_smtp_received r = {
		.helo = "client.example", .rdns = "host.client.example", .addr = "192.0.2.9",
		.by = "casey.tjhsst.edu", .with = "ESMTPS", .tls = "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384",
		.id = "01HX3", .for_rcpt = "bob@tjhsst.edu", .when = 1700000000,
	};
	TJ_OKRC(tj_smtp_received_header(&b, &r));
	TJ_ASSERT_STR((char *)b.data,
		      "Received: from client.example (host.client.example [192.0.2.9])\r\n"
		      "\tby casey.tjhsst.edu (tjstore) with ESMTPS\r\n"
		      "\t(version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384)\r\n"
		      "\tid 01HX3\r\n"
		      "\tfor <bob@tjhsst.edu>; Tue, 14 Nov 2023 22:13:20 +0000\r\n");
	tj_buf_reset(&b);
	/* hostile HELO cannot break the header; no rdns; several recipients */
	struct tj_smtp_received r2 = {
		.helo = "evil\r\nX-Injected: yes", .addr = "IPv6:2001:db8::1", .by = "smith", .with = "LMTP",
		.when = 0,
	};
	TJ_OKRC(tj_smtp_received_header(&b, &r2));
	TJ_ASSERT_STR((char *)b.data,
		      "Received: from evil??X-Injected:?yes (unknown [IPv6:2001:db8::1])\r\n"
		      "\tby smith (tjstore) with LMTP; Thu, 01 Jan 1970 00:00:00 +0000\r\n");
	struct tj_smtp_received bad = {.helo = "x"};
	TJ_ASSERT_INT(tj_smtp_received_header(&b, &bad), ==, TJ_EINVAL);
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_return_path_header(&b, "alice@example.org"));
	TJ_OKRC(tj_smtp_return_path_header(&b, ""));
	TJ_OKRC(tj_smtp_delivered_to_header(&b, "bob@tjhsst.edu"));
	TJ_ASSERT_STR((char *)b.data, "Return-Path: <alice@example.org>\r\nReturn-Path: <>\r\n"
				      "Delivered-To: bob@tjhsst.edu\r\n");
	/* SMTPUTF8 addresses (RFC 6531 3.7.3) keep their UTF-8; malformed
	 * bytes and controls still become '?' (regression: the whole address
	 * used to turn into "jos??@ex??mple.de") */
	tj_buf_reset(&b);
	TJ_OKRC(tj_smtp_return_path_header(&b, "jos\xc3\xa9@ex\xc3\xa4mple.de"));
	TJ_OKRC(tj_smtp_delivered_to_header(&b, "bob@b\xc3\xbc" "cher.example"));
	TJ_OKRC(tj_smtp_return_path_header(&b, "a\xc3@x\xed\xa0\x80y\xc3\xa9\r\n>z"));
	TJ_ASSERT_STR((char *)b.data, "Return-Path: <jos\xc3\xa9@ex\xc3\xa4mple.de>\r\n"
				      "Delivered-To: bob@b\xc3\xbc" "cher.example\r\n"
				      "Return-Path: <a?@x???y\xc3\xa9???z>\r\n");
	tj_buf_reset(&b);
	struct tj_smtp_received r3 = {.helo = "h\xc3\xa9", .addr = "192.0.2.9", .by = "mx", .with = "UTF8SMTP",
				      .for_rcpt = "j\xc3\xb6rg@x.org", .when = 0};
	TJ_OKRC(tj_smtp_received_header(&b, &r3));
	TJ_ASSERT_STR((char *)b.data, "Received: from h?? (unknown [192.0.2.9])\r\n"
				      "\tby mx (tjstore) with UTF8SMTP\r\n"
				      "\tfor <j\xc3\xb6rg@x.org>; Thu, 01 Jan 1970 00:00:00 +0000\r\n");
	tj_buf_free(&b);
}

/* ================================================================ session */

struct drive {
	struct tj_smtp_session *s;
	tj_buf out;
};

static void sess_open(struct drive *d, const struct tj_smtp_config *cfg)
{
	d->s = tj_smtp_session_new(cfg);
	TJ_ASSERT(d->s != NULL);
	memset(&d->out, 0, sizeof(d->out));
	TJ_OKRC(tj_smtp_start(d->s));
}

static void sess_close(struct drive *d)
{
	tj_smtp_session_free(&d->s);
	TJ_ASSERT(d->s == NULL);
	tj_buf_free(&d->out);
}

/* the output taken since the last call, as a C string (in d->out) */
static const char *output(struct drive *d)
{
	tj_buf_reset(&d->out);
	TJ_OKRC(tj_smtp_take_output(d->s, &d->out));
	return d->out.data ? (const char *)d->out.data : "";
}

static void sendtext(struct drive *d, const char *text)
{
	TJ_OKRC(tj_smtp_feed(d->s, text, strlen(text)));
}

static int next(struct drive *d, struct tj_smtp_event *ev)
{
	return tj_smtp_next(d->s, ev);
}

TJ_TEST(session_greeting_and_quit)
{
	struct tj_smtp_config cfg = {.hostname = "mx.example.org"};
	struct drive d;
	struct tj_smtp_event ev;
	struct tj_smtp_session *s = tj_smtp_session_new(&cfg);
	TJ_ASSERT_INT(tj_smtp_next(s, &ev), ==, TJ_ESTATE); /* before start */
	tj_smtp_session_free(&s);
	sess_open(&d, &cfg);
	TJ_ASSERT_INT(tj_smtp_start(d.s), ==, TJ_ESTATE);
	TJ_ASSERT_STR(output(&d), "220 mx.example.org ESMTP tjstore\r\n");
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	sendtext(&d, "QUIT\r\nNOOP\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_QUIT);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ECLOSED);
	TJ_ASSERT_STR(output(&d), "221 2.0.0 mx.example.org closing connection\r\n");
	TJ_ASSERT_INT(tj_smtp_feed(d.s, "x", 1), ==, TJ_ECLOSED);
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_CLOSED);
	sess_close(&d);
	/* free(NULL) is fine */
	struct tj_smtp_session *none = NULL;
	tj_smtp_session_free(&none);
}

TJ_TEST(session_refuse_and_shutdown)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct tj_smtp_session *s = tj_smtp_session_new(&cfg);
	tj_buf out = TJ_BUF_INIT;
	struct tj_smtp_event ev;
	TJ_OKRC(tj_smtp_refuse(s, false, "Go away"));
	TJ_OKRC(tj_smtp_take_output(s, &out));
	TJ_ASSERT_STR((char *)out.data, "554 5.3.2 Go away\r\n");
	TJ_ASSERT_INT(tj_smtp_next(s, &ev), ==, TJ_ECLOSED);
	tj_smtp_session_free(&s);
	tj_buf_reset(&out);
	s = tj_smtp_session_new(&cfg);
	TJ_OKRC(tj_smtp_start(s));
	TJ_OKRC(tj_smtp_shutdown(s, true, NULL));
	TJ_OKRC(tj_smtp_take_output(s, &out));
	TJ_ASSERT_STR((char *)out.data, "220 mx ESMTP tjstore\r\n421 4.4.2 mx Timeout, closing connection\r\n");
	TJ_ASSERT_INT(tj_smtp_shutdown(s, false, NULL), ==, TJ_ESTATE);
	tj_smtp_session_free(&s);
	tj_buf_free(&out);
	/* hostname too long */
	char host[300];
	memset(host, 'h', sizeof(host) - 1);
	host[sizeof(host) - 1] = 0;
	cfg.hostname = host;
	TJ_ASSERT(tj_smtp_session_new(&cfg) == NULL);
}

TJ_TEST(session_async_rcpt_lookup)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	output(&d);
	/* a pipelined burst: nothing after RCPT is processed until it is answered */
	sendtext(&d, "EHLO c.example\r\nMAIL FROM:<a@c.example>\r\nRCPT TO:<u1@mx>\r\nRCPT TO:<u2@mx>\r\nDATA\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_HELO);
	TJ_ASSERT_STR(ev.cmd->domain, "c.example");
	TJ_ASSERT_STR(tj_smtp_helo_name(d.s), "c.example");
	TJ_ASSERT(tj_smtp_esmtp(d.s));
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_MAIL);
	TJ_ASSERT(ev.needs_answer);
	TJ_ASSERT_STR(ev.cmd->path.addr, "a@c.example");
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ESTATE);
	TJ_ASSERT_INT(tj_smtp_answer_rcpt(d.s, 0, TJ_SMTP_OK, NULL), ==, TJ_ESTATE);
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
	TJ_ASSERT_INT(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL), ==, TJ_ESTATE); /* only once */
	TJ_ASSERT_STR(tj_smtp_sender(d.s)->addr, "a@c.example");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_RCPT);
	TJ_ASSERT_INT(ev.rcpt_index, ==, 0);
	TJ_ASSERT_STR(ev.cmd->path.local, "u1");
	/* the server is still looking up: no more replies may appear */
	size_t before = tj_smtp_output_len(d.s);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ESTATE);
	TJ_ASSERT_INT(tj_smtp_output_len(d.s), ==, before);
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_NO_SUCH_USER, NULL));
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_RCPT);
	TJ_ASSERT_INT(ev.rcpt_index, ==, 0); /* the first was refused */
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
	TJ_ASSERT_INT(tj_smtp_rcpt_count(d.s), ==, 1);
	TJ_ASSERT_STR(tj_smtp_rcpt(d.s, 0)->addr, "u2@mx");
	TJ_ASSERT(tj_smtp_rcpt(d.s, 1) == NULL);
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_DATA);
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_DATA);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	const char *o = output(&d);
	TJ_ASSERT(strstr(o, "250 2.1.0 Sender OK\r\n550 5.1.1 No such user here\r\n250 2.1.5 Recipient OK\r\n"
			    "354 End data with <CR><LF>.<CR><LF>\r\n") != NULL);
	sendtext(&d, "Subject: hi\r\n\r\nbody\r\n.\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_DATA_CHUNK);
	TJ_ASSERT_MEM(ev.chunk.ptr, ev.chunk.len, "Subject: hi\r\n\r\nbody\r\n", 21);
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_DATA_END);
	TJ_ASSERT_INT(ev.msg.size, ==, 21);
	TJ_ASSERT_INT(ev.msg.nrcpts, ==, 1);
	TJ_ASSERT_STR(tj_smtp_with(d.s), "ESMTP");
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ESTATE);
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, "Ok: queued as 42"));
	TJ_ASSERT_STR(output(&d), "250 2.0.0 Ok: queued as 42\r\n");
	TJ_ASSERT(tj_smtp_sender(d.s) == NULL);
	TJ_ASSERT_INT(tj_smtp_rcpt_count(d.s), ==, 0);
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_HELO);
	sess_close(&d);
}

TJ_TEST(session_lmtp_answers_in_any_order)
{
	struct tj_smtp_config cfg = {.hostname = "lmtp.local", .proto = TJ_SMTP_PROTO_LMTP};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	TJ_ASSERT_STR(output(&d), "220 lmtp.local LMTP tjstore\r\n");
	sendtext(&d, "LHLO front\r\nMAIL FROM:<s@x.org>\r\nRCPT TO:<a@l>\r\nRCPT TO:<b@l>\r\nRCPT TO:<c@l>\r\n"
		 "DATA\r\nhello\r\n.\r\n");
	for (;;) {
		TJ_OKRC(next(&d, &ev));
		if (ev.needs_answer && ev.type != TJ_SMTP_EV_DATA_END)
			TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
		if (ev.type == TJ_SMTP_EV_DATA_END)
			break;
	}
	output(&d);
	TJ_ASSERT_INT(ev.msg.nrcpts, ==, 3);
	TJ_ASSERT_STR(tj_smtp_with(d.s), "LMTP");
	TJ_ASSERT_INT(tj_smtp_answer_rcpt(d.s, 3, TJ_SMTP_OK, NULL), ==, TJ_EINVAL);
	TJ_OKRC(tj_smtp_answer_rcpt(d.s, 2, TJ_SMTP_OVER_QUOTA_PERM, NULL));
	TJ_ASSERT_INT(tj_smtp_answer_rcpt(d.s, 2, TJ_SMTP_OK, NULL), ==, TJ_ESTATE);
	TJ_OKRC(tj_smtp_answer_rcpt_code(d.s, 0, 250, "2.0.0", "<a@l> stored as 7"));
	TJ_ASSERT_INT(tj_smtp_output_len(d.s), ==, 0); /* nothing until all are known */
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ESTATE);
	TJ_OKRC(tj_smtp_answer_rcpt(d.s, 1, TJ_SMTP_TEMPFAIL, NULL));
	TJ_ASSERT_STR(output(&d), "250 2.0.0 <a@l> stored as 7\r\n"
				  "451 4.3.0 <b@l> Temporary failure, try again later\r\n"
				  "552 5.2.2 <c@l> Mailbox full\r\n");
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_HELO);
	/* HELO/EHLO are refused in LMTP */
	sendtext(&d, "EHLO x\r\n");
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	TJ_ASSERT_STR(output(&d), "500 5.5.1 This is LMTP: use LHLO\r\n");
	sess_close(&d);
}

TJ_TEST(session_lmtp_answer_all)
{
	struct tj_smtp_config cfg = {.hostname = "l", .proto = TJ_SMTP_PROTO_LMTP};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	sendtext(&d, "LHLO f\r\nMAIL FROM:<>\r\nRCPT TO:<a@l>\r\nRCPT TO:<b@l>\r\nDATA\r\nx\r\n.\r\n");
	for (;;) {
		TJ_OKRC(next(&d, &ev));
		if (ev.needs_answer && ev.type != TJ_SMTP_EV_DATA_END)
			TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
		if (ev.type == TJ_SMTP_EV_DATA_END)
			break;
	}
	output(&d);
	TJ_OKRC(tj_smtp_answer_rcpt(d.s, 1, TJ_SMTP_OK, NULL));
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_VIRUS, NULL)); /* the rest */
	TJ_ASSERT_STR(output(&d), "554 5.7.0 <a@l> Message refused: it contains a virus\r\n"
				  "250 2.0.0 <b@l> Message accepted for delivery\r\n");
	sess_close(&d);
}

TJ_TEST(session_starttls_discards_injected_plaintext)
{
	struct tj_smtp_config cfg = {.hostname = "mx", .ext = TJ_SMTP_EXT_DEFAULT | TJ_SMTP_EXT_STARTTLS};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	output(&d);
	sendtext(&d, "EHLO c\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT(strstr(output(&d), "250-STARTTLS\r\n") != NULL);
	TJ_ASSERT_INT(tj_smtp_tls_started(d.s), ==, TJ_ESTATE);
	sendtext(&d, "STARTTLS\r\nMAIL FROM:<injected@evil>\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_STARTTLS);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ESTATE);
	TJ_ASSERT_STR(output(&d), "220 2.0.0 Ready to start TLS\r\n");
	sendtext(&d, "RCPT TO:<also@evil>\r\n"); /* still before the handshake */
	TJ_OKRC(tj_smtp_tls_started(d.s));
	TJ_ASSERT(tj_smtp_tls_active(d.s));
	TJ_ASSERT_INT(tj_smtp_input_pending(d.s), ==, 0);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	TJ_ASSERT_STR(output(&d), "");
	TJ_ASSERT_STR(tj_smtp_helo_name(d.s), "");
	sendtext(&d, "MAIL FROM:<a@b.c>\r\nEHLO c\r\nSTARTTLS\r\n");
	TJ_ASSERT_INT(next(&d, &ev), ==, 0);
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_HELO);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	const char *o = output(&d);
	TJ_ASSERT(strncmp(o, "503 5.5.1 Send HELO/EHLO first\r\n", 32) == 0);
	TJ_ASSERT(strstr(o, "STARTTLS\r\n") == NULL); /* not offered again */
	TJ_ASSERT(strstr(o, "503 5.5.1 TLS already active\r\n") != NULL);
	TJ_ASSERT_STR(tj_smtp_with(d.s), "ESMTPS");
	sess_close(&d);
}

TJ_TEST(session_implicit_tls_never_offers_starttls)
{
	struct tj_smtp_config cfg = {.hostname = "mx", .ext = TJ_SMTP_EXT_STARTTLS, .tls_active = true};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	output(&d);
	sendtext(&d, "EHLO c\r\nSTARTTLS\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	TJ_ASSERT_STR(output(&d), "250 mx Hello c\r\n503 TLS already active\r\n"); /* no ENHANCEDSTATUSCODES */
	sess_close(&d);
}

TJ_TEST(session_error_limit_closes)
{
	struct tj_smtp_config cfg = {.hostname = "mx", .max_errors = 3};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	output(&d);
	sendtext(&d, "GET / HTTP/1.0\r\nHost: x\r\n\r\nNOOP\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_CLOSE);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ECLOSED);
	TJ_ASSERT_STR(output(&d), "500 5.5.2 Command not recognized\r\n500 5.5.2 Command not recognized\r\n"
				  "500 5.5.2 Command not recognized\r\n"
				  "421 4.7.0 mx Too many errors, closing connection\r\n");
	TJ_ASSERT_INT(tj_smtp_errors(d.s), ==, 3);
	sess_close(&d);
}

TJ_TEST(session_error_limit_in_check_really_closes)
{
	/* regression (found by fuzz-smtp): the error that reaches the limit is
	 * raised by a check function; the command must not proceed */
	struct tj_smtp_config cfg = {.hostname = "mx", .max_errors = 1, .proto = TJ_SMTP_PROTO_LMTP};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	output(&d);
	sendtext(&d, "LHLO c\r\nMAIL FROM:<a@b.c>\r\nDATA\r\nx\r\n.\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_OKRC(next(&d, &ev));
	TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_CLOSE);
	TJ_ASSERT(!ev.needs_answer);
	TJ_ASSERT_INT(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL), ==, TJ_ESTATE);
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ECLOSED);
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_CLOSED);
	const char *o = output(&d);
	TJ_ASSERT(strstr(o, "503 5.5.1 Need RCPT command\r\n421 4.7.0 mx Too many errors") != NULL);
	TJ_ASSERT(strstr(o, "354") == NULL);
	sess_close(&d);
}

TJ_TEST(session_data_answer_must_be_354)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	sendtext(&d, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@mx>\r\nDATA\r\n");
	for (int i = 0; i < 3; i++) {
		TJ_OKRC(next(&d, &ev));
		if (ev.needs_answer) {
			TJ_ASSERT_INT(tj_smtp_answer_code(d.s, 354, NULL, "x"), ==, TJ_EINVAL);
			TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
		}
	}
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_DATA);
	TJ_ASSERT_INT(tj_smtp_answer_code(d.s, 250, "2.0.0", "go"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_smtp_answer_code(d.s, 354, NULL, "Go ahead"), ==, 0);
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_DATA);
	TJ_ASSERT(strstr(output(&d), "354 Go ahead\r\n") != NULL);
	sess_close(&d);
}

TJ_TEST(session_input_limit)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	sendtext(&d, "EHLO c\r\nMAIL FROM:<a@b.c>\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_OKRC(next(&d, &ev)); /* MAIL pending: input now piles up */
	static char junk[TJ_SMTP_INPUT_MAX / 4];
	memset(junk, 'A', sizeof(junk));
	int rc = 0;
	int i;
	for (i = 0; i < 8 && rc == 0; i++)
		rc = tj_smtp_feed(d.s, junk, sizeof(junk));
	TJ_ASSERT_INT(rc, ==, TJ_ETOOBIG);
	TJ_ASSERT(tj_smtp_input_pending(d.s) <= TJ_SMTP_INPUT_MAX);
	TJ_OKRC(tj_smtp_shutdown(d.s, false, NULL));
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_ECLOSED);
	TJ_ASSERT(strstr(output(&d), "421 4.3.2 mx Service shutting down\r\n") != NULL);
	sess_close(&d);
}

TJ_TEST(session_huge_line_without_newline_is_bounded)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	output(&d);
	static char junk[100000];
	memset(junk, 'x', sizeof(junk));
	for (int i = 0; i < 30; i++) {
		TJ_OKRC(tj_smtp_feed(d.s, junk, sizeof(junk)));
		TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
		TJ_ASSERT_INT(tj_smtp_input_pending(d.s), ==, 0); /* skipped, not stored */
	}
	sendtext(&d, "\r\nNOOP\r\n");
	TJ_ASSERT_INT(next(&d, &ev), ==, TJ_NEED_MORE);
	TJ_ASSERT_STR(output(&d), "500 5.5.2 Line too long\r\n250 2.0.0 OK\r\n");
	sess_close(&d);
}

TJ_TEST(session_answer_validation)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	TJ_ASSERT_INT(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL), ==, TJ_ESTATE);
	sendtext(&d, "HELO c\r\nMAIL FROM:<a@b.c>\r\n");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT(!tj_smtp_esmtp(d.s));
	TJ_ASSERT_STR(tj_smtp_with(d.s), "SMTP");
	TJ_OKRC(next(&d, &ev));
	TJ_ASSERT_INT(tj_smtp_answer(d.s, (enum tj_smtp_status)99, NULL), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_smtp_answer_code(d.s, 700, NULL, "x"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_smtp_answer_code(d.s, 250, "2.0.0.0.0.0.0", "x"), ==, TJ_EINVAL);
	TJ_OKRC(tj_smtp_answer_code(d.s, 550, "5.7.1", "Sender blocked\r\nX"));
	output(&d);
	/* refused sender: the session is back in HELO phase */
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_HELO);
	TJ_ASSERT(tj_smtp_sender(d.s) == NULL);
	sess_close(&d);
}

TJ_TEST(session_chunks_bounded)
{
	struct tj_smtp_config cfg = {.hostname = "mx"};
	struct drive d;
	struct tj_smtp_event ev;
	sess_open(&d, &cfg);
	sendtext(&d, "EHLO c\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<r@mx>\r\nDATA\r\n");
	for (int i = 0; i < 4; i++) {
		TJ_OKRC(next(&d, &ev));
		if (ev.needs_answer)
			TJ_OKRC(tj_smtp_answer(d.s, TJ_SMTP_OK, NULL));
	}
	TJ_ASSERT_INT(tj_smtp_phase(d.s), ==, TJ_SMTP_PH_DATA);
	static char line[1000];
	memset(line, 'y', sizeof(line) - 2);
	line[sizeof(line) - 2] = '\r';
	line[sizeof(line) - 1] = '\n';
	for (int i = 0; i < 500; i++) /* 500 kB */
		TJ_OKRC(tj_smtp_feed(d.s, line, sizeof(line)));
	sendtext(&d, ".\r\n");
	uint64_t total = 0;
	int chunks = 0;
	for (;;) {
		TJ_OKRC(next(&d, &ev));
		if (ev.type != TJ_SMTP_EV_DATA_CHUNK)
			break;
		TJ_ASSERT(ev.chunk.len <= 2 * TJ_SMTP_CHUNK);
		total += ev.chunk.len;
		chunks++;
	}
	TJ_ASSERT_INT(ev.type, ==, TJ_SMTP_EV_DATA_END);
	TJ_ASSERT_INT(total, ==, 500 * 1000);
	TJ_ASSERT_INT(ev.msg.size, ==, total);
	TJ_ASSERT(chunks >= 7);
	sess_close(&d);
}

/* ============================================================ transcripts */

struct script {
	struct tj_smtp_config cfg;
	tj_buf segs[64];
	size_t nsegs;
};

static int unhex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
		return (c | 0x20) - 'a' + 10;
	return -1;
}

/* append text with escapes; returns false if it ended in \c */
static bool unescape(tj_buf *b, const char *s, size_t n)
{
	bool crlf = true;
	for (size_t i = 0; i < n; i++) {
		if (s[i] != '\\' || i + 1 >= n) {
			TJ_OKRC(tj_buf_putc(b, (uint8_t)s[i]));
			continue;
		}
		char e = s[++i];
		switch (e) {
		case 'r': TJ_OKRC(tj_buf_putc(b, '\r')); break;
		case 'n': TJ_OKRC(tj_buf_putc(b, '\n')); break;
		case 't': TJ_OKRC(tj_buf_putc(b, '\t')); break;
		case '\\': TJ_OKRC(tj_buf_putc(b, '\\')); break;
		case 'c':
			if (i + 1 != n)
				TJ_FAIL("\\c must end the line");
			crlf = false;
			break;
		case 'x': {
			if (i + 2 >= n || unhex(s[i + 1]) < 0 || unhex(s[i + 2]) < 0)
				TJ_FAIL("bad \\x escape");
			TJ_OKRC(tj_buf_putc(b, (uint8_t)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]))));
			i += 2;
			break;
		}
		default: TJ_FAIL("unknown escape \\%c", e);
		}
	}
	return crlf;
}

static unsigned ext_by_names(const char *list)
{
	static const struct { const char *n; unsigned v; } names[] = {
		{"PIPELINING", TJ_SMTP_EXT_PIPELINING}, {"SIZE", TJ_SMTP_EXT_SIZE},
		{"8BITMIME", TJ_SMTP_EXT_8BITMIME}, {"ENHANCEDSTATUSCODES", TJ_SMTP_EXT_ENHANCEDSTATUSCODES},
		{"STARTTLS", TJ_SMTP_EXT_STARTTLS}, {"SMTPUTF8", TJ_SMTP_EXT_SMTPUTF8},
	};
	unsigned v = 0;
	char tmp[256];
	snprintf(tmp, sizeof(tmp), "%s", list);
	for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		size_t i;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(t, names[i].n) == 0)
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			TJ_FAIL("unknown extension %s", t);
		v |= names[i].v;
	}
	return v;
}

static void load_script(const char *path, struct script *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->cfg.hostname = "mx.test";
	sc->nsegs = 1;
	FILE *f = fopen(path, "r");
	if (!f)
		TJ_FAIL("cannot open %s", path);
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, f)) >= 0) {
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = 0;
		tj_buf *seg = &sc->segs[sc->nsegs - 1];
		if (line[0] == '#')
			continue;
		if (line[0] == '!') {
			char key[32] = "", val[4096] = "";
			unsigned long num = 0;
			sscanf(line + 1, "%31s", key);
			const char *rest = line + 1 + strlen(key);
			while (*rest == ' ')
				rest++;
			snprintf(val, sizeof(val), "%s", rest);
			num = strtoul(val, NULL, 10);
			if (strcmp(key, "lmtp") == 0)
				sc->cfg.proto = TJ_SMTP_PROTO_LMTP;
			else if (strcmp(key, "max_size") == 0)
				sc->cfg.max_size = num;
			else if (strcmp(key, "max_rcpts") == 0)
				sc->cfg.max_rcpts = (unsigned)num;
			else if (strcmp(key, "max_hops") == 0)
				sc->cfg.max_hops = (unsigned)num;
			else if (strcmp(key, "max_errors") == 0)
				sc->cfg.max_errors = (unsigned)num;
			else if (strcmp(key, "ext") == 0)
				sc->cfg.ext = ext_by_names(val);
			else if (strcmp(key, "lf") == 0)
				sc->cfg.lf_policy = strcmp(val, "strict") == 0    ? TJ_SMTP_LF_STRICT
						    : strcmp(val, "lenient") == 0 ? TJ_SMTP_LF_LENIENT
										  : TJ_SMTP_LF_NORMALIZE;
			else if (strcmp(key, "segment") == 0) {
				if (sc->nsegs == sizeof(sc->segs) / sizeof(sc->segs[0]))
					TJ_FAIL("too many segments");
				sc->nsegs++;
			} else if (strcmp(key, "repeat") == 0) {
				const char *text = strchr(val, ' ');
				if (!text)
					TJ_FAIL("!repeat N TEXT");
				text++;
				for (unsigned long i = 0; i < num; i++)
					unescape(seg, text, strlen(text));
			} else
				TJ_FAIL("%s: unknown directive %s", path, key);
			continue;
		}
		if (unescape(seg, line, (size_t)n))
			TJ_OKRC(tj_buf_append(seg, "\r\n", 2));
	}
	free(line);
	fclose(f);
}

static void script_free(struct script *sc)
{
	for (size_t i = 0; i < sc->nsegs; i++)
		tj_buf_free(&sc->segs[i]);
}

/* the runner: a scripted server */
struct runner {
	struct tj_smtp_session *s;
	tj_buf log;
	tj_buf body;
	tj_buf out;
	unsigned queued;
	bool closed, tls_pending;
};

static bool starts(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static void log_escaped(tj_buf *log, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\\')
			TJ_OKRC(tj_buf_puts(log, "\\\\"));
		else if (p[i] == '\r')
			TJ_OKRC(tj_buf_puts(log, "\\r"));
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			TJ_OKRC(tj_buf_printf(log, "\\x%02x", p[i]));
		else
			TJ_OKRC(tj_buf_putc(log, p[i]));
	}
}

static void drain(struct runner *r)
{
	tj_buf_reset(&r->out);
	TJ_OKRC(tj_smtp_take_output(r->s, &r->out));
	size_t i = 0;
	while (i < r->out.len) {
		const uint8_t *p = r->out.data + i;
		const uint8_t *nl = memchr(p, '\n', r->out.len - i);
		if (!nl || nl == p || nl[-1] != '\r')
			TJ_FAIL("reply not ending in CRLF: %s", (const char *)p);
		size_t n = (size_t)(nl - p) - 1;
		if (n < 4 || p[0] < '2' || p[0] > '5' || (p[3] != ' ' && p[3] != '-'))
			TJ_FAIL("malformed reply line: %.*s", (int)n, (const char *)p);
		TJ_OKRC(tj_buf_puts(&r->log, "S: "));
		log_escaped(&r->log, p, n);
		TJ_OKRC(tj_buf_putc(&r->log, '\n'));
		i += n + 2;
	}
}

static void handle_event(struct runner *r, const struct tj_smtp_event *ev)
{
	struct tj_smtp_session *s = r->s;
	const struct tj_smtp_path *p = ev->cmd ? &ev->cmd->path : NULL;
	switch (ev->type) {
	case TJ_SMTP_EV_HELO:
		TJ_OKRC(tj_buf_printf(&r->log, "E: HELO %s\n", ev->cmd->domain));
		break;
	case TJ_SMTP_EV_MAIL:
		TJ_OKRC(tj_buf_printf(&r->log, "E: MAIL <%s>%s%s size=%llu body=%d utf8=%d\n", p->addr,
				      p->null ? " null" : "", ev->cmd->has_size ? " has_size" : "",
				      (unsigned long long)ev->cmd->size, (int)ev->cmd->body, ev->cmd->smtputf8));
		if (starts(p->local, "reject"))
			TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_REJECT, NULL));
		else if (starts(p->local, "tempfail"))
			TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_TEMPFAIL, NULL));
		else
			TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_OK, NULL));
		break;
	case TJ_SMTP_EV_RCPT: {
		TJ_OKRC(tj_buf_printf(&r->log, "E: RCPT <%s> local=%s domain=%s idx=%zu%s%s\n", p->addr, p->local,
				      p->domain, ev->rcpt_index, p->postmaster ? " postmaster" : "",
				      p->quoted ? " quoted" : ""));
		enum tj_smtp_status st = TJ_SMTP_OK;
		if (starts(p->local, "unknown"))
			st = TJ_SMTP_NO_SUCH_USER;
		else if (starts(p->local, "disabled"))
			st = TJ_SMTP_DISABLED;
		else if (starts(p->local, "fullperm"))
			st = TJ_SMTP_OVER_QUOTA_PERM;
		else if (starts(p->local, "full"))
			st = TJ_SMTP_OVER_QUOTA;
		else if (starts(p->local, "tempfail"))
			st = TJ_SMTP_TEMPFAIL;
		TJ_OKRC(tj_smtp_answer(s, st, NULL));
		break;
	}
	case TJ_SMTP_EV_DATA:
		TJ_OKRC(tj_buf_printf(&r->log, "E: DATA rcpts=%zu\n", tj_smtp_rcpt_count(s)));
		tj_buf_reset(&r->body);
		if (starts(tj_smtp_sender(s)->local, "nospool"))
			TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_TEMPFAIL, "Cannot open spool file"));
		else
			TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_OK, NULL));
		break;
	case TJ_SMTP_EV_DATA_CHUNK:
		TJ_ASSERT(ev->chunk.len > 0);
		TJ_OKRC(tj_buf_append(&r->body, ev->chunk.ptr, ev->chunk.len));
		break;
	case TJ_SMTP_EV_DATA_END:
	case TJ_SMTP_EV_DATA_ABORT: {
		bool end = ev->type == TJ_SMTP_EV_DATA_END;
		TJ_OKRC(tj_buf_printf(&r->log, "E: %s size=%llu hops=%u bare_lf=%d rcpts=%zu body=%d utf8=%d%s%s\n",
				      end ? "DATA_END" : "DATA_ABORT", (unsigned long long)ev->msg.size,
				      ev->msg.hops, ev->msg.bare_lf, ev->msg.nrcpts, (int)ev->msg.body,
				      ev->msg.smtputf8, end ? "" : " abort=", end ? "" :
				      ev->abort == TJ_SMTP_ABORT_SIZE ? "size" :
				      ev->abort == TJ_SMTP_ABORT_HOPS ? "hops" : "bare_lf"));
		if (end) {
			/* every decoded byte was delivered, size matches */
			TJ_ASSERT_INT(r->body.len, ==, ev->msg.size);
			size_t i = 0;
			while (i < r->body.len) {
				const uint8_t *q = r->body.data + i;
				const uint8_t *nl = memchr(q, '\n', r->body.len - i);
				TJ_ASSERT(nl && nl > q && nl[-1] == '\r'); /* stored lines end in CRLF */
				size_t n = (size_t)(nl - q) - 1;
				TJ_OKRC(tj_buf_puts(&r->log, "B: "));
				log_escaped(&r->log, q, n);
				TJ_OKRC(tj_buf_putc(&r->log, '\n'));
				i += n + 2;
			}
		}
		tj_buf_reset(&r->body);
		if (!end)
			break;
		if (!tj_smtp_is_lmtp(s)) {
			bool virus = false;
			for (size_t i = 0; i < tj_smtp_rcpt_count(s); i++)
				virus |= starts(tj_smtp_rcpt(s, i)->local, "virus");
			if (virus)
				TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_VIRUS, NULL));
			else {
				char text[64];
				snprintf(text, sizeof(text), "Ok: queued as T%u", ++r->queued);
				TJ_OKRC(tj_smtp_answer(s, TJ_SMTP_OK, text));
			}
		} else {
			for (size_t i = tj_smtp_rcpt_count(s); i-- > 0;) {
				const char *l = tj_smtp_rcpt(s, i)->local;
				enum tj_smtp_status st = starts(l, "lmtpfail")   ? TJ_SMTP_TEMPFAIL
							 : starts(l, "lmtpfull") ? TJ_SMTP_OVER_QUOTA_PERM
										 : TJ_SMTP_OK;
				TJ_OKRC(tj_smtp_answer_rcpt(s, i, st, NULL));
			}
		}
		break;
	}
	case TJ_SMTP_EV_RSET:
		TJ_OKRC(tj_buf_puts(&r->log, "E: RSET\n"));
		break;
	case TJ_SMTP_EV_STARTTLS:
		TJ_OKRC(tj_buf_puts(&r->log, "E: STARTTLS\n"));
		r->tls_pending = true;
		break;
	case TJ_SMTP_EV_QUIT:
		TJ_OKRC(tj_buf_puts(&r->log, "E: QUIT\n"));
		break;
	case TJ_SMTP_EV_CLOSE:
		TJ_OKRC(tj_buf_puts(&r->log, "E: CLOSE\n"));
		break;
	default:
		TJ_FAIL("unexpected event %d", (int)ev->type);
	}
}

/* run the session over what has been fed; returns after NEED_MORE/closed */
static void pump(struct runner *r)
{
	struct tj_smtp_event ev;
	for (;;) {
		int rc = tj_smtp_next(r->s, &ev);
		drain(r);
		if (rc == 0) {
			handle_event(r, &ev);
			drain(r);
			continue;
		}
		if (rc == TJ_NEED_MORE)
			return;
		if (rc == TJ_ECLOSED) {
			r->closed = true;
			return;
		}
		if (rc == TJ_ESTATE && r->tls_pending)
			return; /* caller drops the rest of the segment, then handshakes */
		TJ_FAIL("tj_smtp_next: %d (%s)", rc, tj_strerror(rc));
	}
}

enum feed_mode { FEED_WHOLE, FEED_BYTE, FEED_7, FEED_RANDOM, FEED_MODES };
static const char *const feed_names[FEED_MODES] = {"whole", "byte", "chunk7", "random"};

static void run_script(const struct script *sc, enum feed_mode mode, tj_buf *log_r)
{
	struct runner r = {0};
	r.s = tj_smtp_session_new(&sc->cfg);
	TJ_ASSERT(r.s != NULL);
	TJ_OKRC(tj_smtp_start(r.s));
	drain(&r);
	uint32_t rnd = 12345;
	for (size_t si = 0; si < sc->nsegs && !r.closed; si++) {
		const tj_buf *seg = &sc->segs[si];
		size_t pos = 0;
		while (pos < seg->len && !r.closed) {
			size_t n = seg->len - pos;
			if (mode == FEED_BYTE)
				n = 1;
			else if (mode == FEED_7 && n > 7)
				n = 7;
			else if (mode == FEED_RANDOM) {
				rnd = rnd * 1103515245u + 12345u;
				size_t k = 1 + (rnd >> 16) % 97;
				if (n > k)
					n = k;
			}
			int rc = tj_smtp_feed(r.s, seg->data + pos, n);
			if (rc == TJ_ECLOSED) {
				r.closed = true;
				break;
			}
			TJ_OKRC(rc);
			pos += n;
			pump(&r);
			if (r.tls_pending) {
				/* the rest of this segment was sent before the client saw 220 */
				pos = seg->len;
				r.tls_pending = false;
				TJ_OKRC(tj_smtp_tls_started(r.s));
				TJ_OKRC(tj_buf_puts(&r.log, "E: TLS handshake done\n"));
				pump(&r);
			}
		}
	}
	TJ_OKRC(tj_buf_printf(&r.log, "== %s phase=%d errors=%u\n", r.closed ? "closed" : "open",
			      (int)tj_smtp_phase(r.s), tj_smtp_errors(r.s)));
	tj_smtp_session_free(&r.s);
	tj_buf_free(&r.body);
	tj_buf_free(&r.out);
	*log_r = r.log;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

TJ_TEST(golden_transcripts)
{
	const char *dir = TJ_SMTP_TRANSCRIPTS;
	DIR *dh = opendir(dir);
	TJ_ASSERT(dh != NULL);
	char *names[256];
	size_t nn = 0;
	struct dirent *de;
	while ((de = readdir(dh)) != NULL) {
		size_t l = strlen(de->d_name);
		if (l > 3 && strcmp(de->d_name + l - 3, ".in") == 0 && nn < 256)
			names[nn++] = strdup(de->d_name);
	}
	closedir(dh);
	qsort(names, nn, sizeof(names[0]), cmp_names);
	TJ_ASSERT(nn >= 15);
	bool regen = getenv("TJ_SMTP_REGEN") != NULL;
	int failures = 0;
	for (size_t i = 0; i < nn; i++) {
		char in[1024], ref[1024];
		snprintf(in, sizeof(in), "%s/%s", dir, names[i]);
		snprintf(ref, sizeof(ref), "%s/%.*s.ref", dir, (int)(strlen(names[i]) - 3), names[i]);
		static struct script sc;
		load_script(in, &sc);
		tj_buf logs[FEED_MODES];
		for (int m = 0; m < FEED_MODES; m++)
			run_script(&sc, (enum feed_mode)m, &logs[m]);
		script_free(&sc);
		for (int m = 1; m < FEED_MODES; m++) {
			if (logs[m].len != logs[0].len || memcmp(logs[m].data, logs[0].data, logs[0].len) != 0) {
				fprintf(stderr, "%s: %s feed differs from whole feed:\n--- whole\n%s--- %s\n%s",
					names[i], feed_names[m], (char *)logs[0].data, feed_names[m],
					(char *)logs[m].data);
				failures++;
			}
		}
		if (regen) {
			FILE *f = fopen(ref, "w");
			TJ_ASSERT(f != NULL);
			fwrite(logs[0].data, 1, logs[0].len, f);
			fclose(f);
		} else {
			FILE *f = fopen(ref, "r");
			if (!f) {
				fprintf(stderr, "%s: missing %s\n", names[i], ref);
				failures++;
			} else {
				tj_buf want = TJ_BUF_INIT;
				char buf[4096];
				size_t n;
				while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
					TJ_OKRC(tj_buf_append(&want, buf, n));
				fclose(f);
				if (want.len != logs[0].len || memcmp(want.data, logs[0].data, want.len) != 0) {
					fprintf(stderr, "%s: transcript differs from %s\n--- got\n%s", names[i], ref,
						(char *)logs[0].data);
					failures++;
				}
				tj_buf_free(&want);
			}
		}
		for (int m = 0; m < FEED_MODES; m++)
			tj_buf_free(&logs[m]);
		free(names[i]);
	}
	TJ_ASSERT_INT(failures, ==, 0);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

/*
 * test-mime.c - unit tests for protocol/mime: structure (nested multiparts,
 * missing boundaries, broken headers, message/rfc822, empty bodies), ENVELOPE
 * and BODYSTRUCTURE strings (checked against Dovecot 2.3's rules), LF vs CRLF,
 * sections, the cached form, limits, and the SEARCH decoders.
 */
#include "protocol/mime/mime.h"
#include "common/err.h"
#include "tests/harness.h"

#include <stdlib.h>
#include <string.h>

struct structure_case {
	const char *name, *msg;
	unsigned long long size; /* RFC822.SIZE (CRLF) */
	unsigned int parts;
	const char *envelope, *bodystructure, *body;
};

/* Expected strings follow Dovecot 2.3 (Debian 12): encoded words raw, the
 * newline before a boundary belongs to the boundary, Content-* ignored
 * without MIME-Version/Content-Type, RFC 2231 continuations merged. */
static const struct structure_case cases[] = {
	{"simple",
	 "Subject: hi\nFrom: Joe <joe@example.com>\nTo: a@b.c\n\nhello\nworld\n",
	 69, 1,
	 "NIL \"hi\" ((\"Joe\" NIL \"joe\" \"example.com\")) ((\"Joe\" NIL \"joe\" \"example.com\")) ((\"Joe\" NIL \"joe\" \"example.com\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 2"},
	{"nested",
	 "From: a@b.c\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\npreamble\n--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n--inner\nContent-Type: text/plain; charset=utf-8\n\nplain\n--inner\nContent-Type: text/html\n\n<b>x</b>\n--inner--\n--outer\nContent-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"a.pdf\"\n\nAAAA\n--outer--\nepilogue\n",
	 444, 5,
	 "NIL NIL ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) ((NIL NIL \"a\" \"b.c\")) NIL NIL NIL NIL NIL",
	 "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4 NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL",
	 "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 0) \"alternative\")(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4) \"mixed\""},
	{"missing-close",
	 "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nfirst\n--b\nContent-Type: text/html\n\nunterminated\n",
	 105, 3,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b\") NIL NIL NIL",
	 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0)(\"text\" \"html\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 14 1) \"mixed\""},
	{"no-boundary",
	 "Content-Type: multipart/mixed\n\nbody\n",
	 39, 1,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \"mixed\" NIL NIL NIL NIL",
	 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\""},
	{"broken-headers",
	 "Subject: x\nthis line has no colon\n  folded: still\nFrom: \"Q, R\" <q@r.s>\n",
	 75, 1,
	 "NIL \"x\" ((\"Q, R\" NIL \"q\" \"r.s\")) ((\"Q, R\" NIL \"q\" \"r.s\")) ((\"Q, R\" NIL \"q\" \"r.s\")) NIL NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"},
	{"encoded",
	 "Subject: =?utf-8?q?caf=C3=A9?= =?iso-8859-1?b?5Q==?=\nFrom: =?utf-8?b?SsO2cmc=?= <j@x.de>\n\nx\n",
	 96, 1,
	 "NIL \"=?utf-8?q?caf=C3=A9?= =?iso-8859-1?b?5Q==?=\" ((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.de\")) ((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.de\")) ((\"=?utf-8?b?SsO2cmc=?=\" NIL \"j\" \"x.de\")) NIL NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 3 1"},
	{"rfc2231",
	 "Mime-Version: 1.0\nContent-Type: application/x-stuff;\n title*0*=us-ascii'en'This%20is%20;\n title*1*=%2A%2A%2Afun%2A%2A%2A;\n title*2=\"isn't it!\"\n\nbody\n",
	 156, 1,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "\"application\" \"x-stuff\" (\"title*\" \"us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2Aisn't it!\") NIL NIL \"7bit\" 6 NIL NIL NIL NIL",
	 "\"application\" \"x-stuff\" (\"title*\" \"us-ascii'en'This%20is%20%2A%2A%2Afun%2A%2A%2Aisn't it!\") NIL NIL \"7bit\" 6"},
	{"rfc822",
	 "Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: message/rfc822\n\nSubject: inner\nFrom: i@n.er\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n\nline1\nline2\n--z--\n",
	 173, 3,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 82 (\"Mon, 1 Jan 2001 00:00:00 +0000\" \"inner\" ((NIL NIL \"i\" \"n.er\")) ((NIL NIL \"i\" \"n.er\")) ((NIL NIL \"i\" \"n.er\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1 NIL NIL NIL NIL) 5 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"z\") NIL NIL NIL",
	 "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 82 (\"Mon, 1 Jan 2001 00:00:00 +0000\" \"inner\" ((NIL NIL \"i\" \"n.er\")) ((NIL NIL \"i\" \"n.er\")) ((NIL NIL \"i\" \"n.er\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 1) 5) \"mixed\""},
	{"empty",
	 "",
	 0, 1,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"},
	{"empty-body",
	 "Subject: e\n\n",
	 14, 1,
	 "NIL \"e\" NIL NIL NIL NIL NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"},
	{"addresses",
	 "From: Group: a@b.c, \"quoted local\"@d.e;, undisclosed-recipients:;\nTo: <@route.x:u@v.w>, plain\nCc: x@y (Comment Name), bad@\n\n",
	 128, 1,
	 "NIL NIL ((NIL NIL \"Group\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"quoted local\" \"d.e\")(NIL NIL NIL NIL)(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"Group\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"quoted local\" \"d.e\")(NIL NIL NIL NIL)(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"Group\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"quoted local\" \"d.e\")(NIL NIL NIL NIL)(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) ((NIL \"@route.x\" \"u\" \"v.w\")(NIL NIL \"plain\" \"MISSING_DOMAIN\")) ((\"Comment Name\" NIL \"x\" \"y\")(NIL NIL \"bad\" \"MISSING_DOMAIN\")) NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0"},
	{"prefix-boundary",
	 "Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: multipart/mixed; boundary=abc\n\n--abc\n\ninner\n--abc--\n--ab--\n",
	 132, 3,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"abc\") NIL NIL NIL) \"mixed\" (\"boundary\" \"ab\") NIL NIL NIL",
	 "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 0) \"mixed\") \"mixed\""},
	{"digest",
	 "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in digest\n\nbody\n--d--\n",
	 88, 3,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 26 (NIL \"in digest\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0 NIL NIL NIL NIL) 2 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL",
	 "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 26 (NIL \"in digest\" NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 4 0) 2) \"digest\""},
	{"nomime-cte",
	 "Content-Transfer-Encoding: base64\nContent-Disposition: inline\n\nAAAA\n",
	 72, 1,
	 "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL",
	 "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1"},
};

static void slice_is(tj_slice s, const char *want, const char *what, const char *name)
{
	if (s.len != strlen(want) || memcmp(s.ptr, want, s.len) != 0)
		TJ_FAIL("%s %s:\n  got  %.*s\n  want %s", name, what, (int)s.len, s.ptr, want);
}

static struct tj_mime_msg *parse_str(const char *s)
{
	struct tj_mime_msg *m = NULL;
	TJ_OKRC(tj_mime_parse((const uint8_t *)s, strlen(s), &m));
	TJ_ASSERT(m != NULL);
	return m;
}

static void check_case(const struct structure_case *c, const uint8_t *msg, size_t len)
{
	struct tj_mime_msg *m = NULL;
	TJ_OKRC(tj_mime_parse(msg, len, &m));
	TJ_ASSERT_INT(tj_mime_size(m), ==, c->size);
	TJ_ASSERT_INT(tj_mime_part_count(m), ==, c->parts);
	slice_is(tj_mime_envelope(m), c->envelope, "ENVELOPE", c->name);
	slice_is(tj_mime_bodystructure(m), c->bodystructure, "BODYSTRUCTURE", c->name);
	slice_is(tj_mime_body(m), c->body, "BODY", c->name);
	tj_mime_free(&m);
	TJ_ASSERT(m == NULL);
}

TJ_TEST(structure_table_lf)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i], (const uint8_t *)cases[i].msg, strlen(cases[i].msg));
}

/* the same messages with CRLF line ends give the same (CRLF) figures */
TJ_TEST(structure_table_crlf)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tj_buf b = TJ_BUF_INIT;
		TJ_OKRC(tj_mime_crlf((const uint8_t *)cases[i].msg, strlen(cases[i].msg), 0, &b));
		TJ_ASSERT_INT(b.len, ==, cases[i].size);
		check_case(&cases[i], b.data ? b.data : (const uint8_t *)"", b.len);
		tj_buf_free(&b);
	}
}

TJ_TEST(crlf_conversion)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_mime_crlf((const uint8_t *)"a\nb\r\nc\n", 7, 0, &b));
	TJ_ASSERT_MEM(b.data, b.len, "a\r\nb\r\nc\r\n", 9);
	TJ_ASSERT_INT(tj_mime_crlf_size((const uint8_t *)"a\nb\r\nc\n", 7, 0), ==, 9);
	/* a slice starting at the LF of a CRLF pair must not get a second CR */
	tj_buf_reset(&b);
	TJ_OKRC(tj_mime_crlf((const uint8_t *)"\nx", 2, '\r', &b));
	TJ_ASSERT_MEM(b.data, b.len, "\nx", 2);
	tj_buf_free(&b);
}

static const char nested[] =
	"From: a@b.c\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n"
	"preamble\n--outer\nContent-Type: multipart/alternative; boundary=\"inner\"\n\n"
	"--inner\nContent-Type: text/plain; charset=utf-8\n\nplain\n"
	"--inner\nContent-Type: text/html\n\n<b>x</b>\n--inner--\n"
	"--outer\nContent-Type: message/rfc822\n\nSubject: inner\nX-A: 1\n\ninner body\n--outer--\nepilogue\n";

static void fetch_is(const struct tj_mime_msg *m, const char *sec, const char *want)
{
	tj_buf b = TJ_BUF_INIT;
	int rc = tj_mime_section_fetch(m, (const uint8_t *)nested, strlen(nested), sec, &b);
	if (rc != 0)
		TJ_FAIL("section %s: %s", sec, tj_strerror(rc));
	if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
		TJ_FAIL("section %s:\n  got  [%.*s]\n  want [%s]", sec, (int)b.len, b.data, want);
	tj_buf_free(&b);
}

TJ_TEST(sections)
{
	struct tj_mime_msg *m = parse_str(nested);
	fetch_is(m, "1.1", "plain");
	fetch_is(m, "1.2", "<b>x</b>");
	fetch_is(m, "1.2.MIME", "Content-Type: text/html\r\n\r\n");
	fetch_is(m, "2.HEADER", "Subject: inner\r\nX-A: 1\r\n\r\n");
	fetch_is(m, "2.TEXT", "inner body");
	fetch_is(m, "2", "Subject: inner\r\nX-A: 1\r\n\r\ninner body");
	fetch_is(m, "2.HEADER.FIELDS (SUBJECT)", "Subject: inner\r\n\r\n");
	fetch_is(m, "2.HEADER.FIELDS.NOT (Subject)", "X-A: 1\r\n\r\n");
	fetch_is(m, "HEADER.FIELDS (from \"Content-Type\")",
		 "From: a@b.c\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n");
	tj_buf want = TJ_BUF_INIT;
	const char *text = strstr(nested, "preamble");
	TJ_OKRC(tj_mime_crlf((const uint8_t *)text, strlen(text), '\n', &want));
	fetch_is(m, "TEXT", (const char *)want.data);
	tj_buf_reset(&want);
	TJ_OKRC(tj_mime_crlf((const uint8_t *)nested, strlen(nested), 0, &want));
	fetch_is(m, "", (const char *)want.data);
	tj_buf_free(&want);

	/* ranges and CRLF sizes without copying */
	uint64_t off, len, vsize;
	TJ_OKRC(tj_mime_section_locate(m, "1.1", &off, &len, &vsize));
	TJ_ASSERT_MEM(nested + off, len, "plain", 5);
	TJ_ASSERT_INT(vsize, ==, 5);
	TJ_OKRC(tj_mime_section_locate(m, "HEADER", &off, &len, &vsize));
	TJ_ASSERT_INT(off, ==, 0);
	TJ_ASSERT_INT(vsize, ==, len + 4); /* four bare LFs in the header */

	/* missing parts and bad specs */
	uint64_t a, b, c;
	TJ_ASSERT_INT(tj_mime_section_locate(m, "3", &a, &b, &c), ==, TJ_ENOTFOUND);
	TJ_ASSERT_INT(tj_mime_section_locate(m, "1.5", &a, &b, &c), ==, TJ_ENOTFOUND);
	TJ_ASSERT_INT(tj_mime_section_locate(m, "1.1.HEADER", &a, &b, &c), ==, TJ_ENOTFOUND);
	TJ_ASSERT_INT(tj_mime_section_locate(m, "0", &a, &b, &c), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_mime_section_locate(m, "BOGUS", &a, &b, &c), ==, TJ_EINVAL);
	tj_buf x = TJ_BUF_INIT;
	TJ_ASSERT_INT(tj_mime_section_fetch(m, (const uint8_t *)nested, 3, "1", &x), ==, TJ_ECORRUPT);
	tj_buf_free(&x);
	tj_mime_free(&m);
}

/* a single-part message: BODY[1] is its body, 1.MIME its header */
TJ_TEST(single_part_sections)
{
	static const char msg[] = "Subject: s\r\n\r\nbody\r\n";
	struct tj_mime_msg *m = parse_str(msg);
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_mime_section_fetch(m, (const uint8_t *)msg, strlen(msg), "1", &b));
	TJ_ASSERT_MEM(b.data, b.len, "body\r\n", 6);
	uint64_t a, l, v;
	TJ_ASSERT_INT(tj_mime_section_locate(m, "2", &a, &l, &v), ==, TJ_ENOTFOUND);
	TJ_ASSERT_INT(tj_mime_section_locate(m, "1.1", &a, &l, &v), ==, TJ_ENOTFOUND);
	tj_buf_free(&b);
	tj_mime_free(&m);
}

TJ_TEST(part_table)
{
	struct tj_mime_msg *m = parse_str(nested);
	TJ_ASSERT_INT(tj_mime_part_count(m), ==, 6);
	const struct tj_mime_part *root = tj_mime_part_get(m, 0);
	TJ_ASSERT(root->flags & TJ_MIME_PART_MULTIPART);
	TJ_ASSERT_INT(root->parent, ==, TJ_MIME_NONE);
	TJ_ASSERT_INT(root->first_child, ==, 1);
	const struct tj_mime_part *alt = tj_mime_part_get(m, 1);
	TJ_ASSERT_INT(alt->next, ==, 4);
	TJ_ASSERT_INT(alt->first_child, ==, 2);
	TJ_ASSERT_INT(tj_mime_part_get(m, 2)->next, ==, 3);
	const struct tj_mime_part *rfc = tj_mime_part_get(m, 4);
	TJ_ASSERT(rfc->flags & TJ_MIME_PART_RFC822);
	TJ_ASSERT_INT(rfc->first_child, ==, 5);
	TJ_ASSERT(tj_mime_part_get(m, 6) == NULL);
	struct tj_mime_content ct;
	TJ_OKRC(tj_mime_part_content(m, 2, &ct));
	TJ_ASSERT_STR(ct.type, "text");
	TJ_ASSERT_STR(ct.subtype, "plain");
	TJ_ASSERT_STR(ct.charset, "utf-8");
	TJ_OKRC(tj_mime_part_content(m, 4, &ct));
	TJ_ASSERT_STR(ct.subtype, "rfc822");
	TJ_ASSERT_INT(tj_mime_part_content(m, 99, &ct), ==, TJ_ENOTFOUND);
	tj_mime_free(&m);
}

TJ_TEST(serialize_roundtrip)
{
	struct tj_mime_msg *m = parse_str(nested), *d = NULL;
	tj_buf ser = TJ_BUF_INIT;
	TJ_OKRC(tj_mime_serialize(m, &ser));
	TJ_OKRC(tj_mime_deserialize(ser.data, ser.len, &d));
	TJ_ASSERT_INT(tj_mime_part_count(d), ==, tj_mime_part_count(m));
	tj_slice a = tj_mime_bodystructure(m), b = tj_mime_bodystructure(d);
	TJ_ASSERT_MEM(a.ptr, a.len, b.ptr, b.len);
	a = tj_mime_envelope(m), b = tj_mime_envelope(d);
	TJ_ASSERT_MEM(a.ptr, a.len, b.ptr, b.len);
	a = tj_mime_body(m), b = tj_mime_body(d);
	TJ_ASSERT_MEM(a.ptr, a.len, b.ptr, b.len);
	TJ_ASSERT_INT(tj_mime_size(d), ==, tj_mime_size(m));
	for (uint32_t i = 0; i < tj_mime_part_count(m); i++)
		TJ_ASSERT(memcmp(tj_mime_part_get(m, i), tj_mime_part_get(d, i), sizeof(struct tj_mime_part)) == 0);
	/* sections work from the cached form */
	tj_buf s = TJ_BUF_INIT;
	TJ_OKRC(tj_mime_section_fetch(d, (const uint8_t *)nested, strlen(nested), "2.TEXT", &s));
	TJ_ASSERT_MEM(s.data, s.len, "inner body", 10);
	struct tj_mime_content ct;
	TJ_ASSERT_INT(tj_mime_part_content(d, 0, &ct), ==, TJ_ENOTFOUND);
	tj_mime_free(&d);

	/* every truncation and a damaged link are refused */
	for (size_t cut = 0; cut < ser.len; cut++) {
		TJ_ASSERT(tj_mime_deserialize(ser.data, cut, &d) < 0);
		TJ_ASSERT(d == NULL);
	}
	ser.data[8 + 4] = 0x7f; /* part 0's first_child */
	TJ_ASSERT_INT(tj_mime_deserialize(ser.data, ser.len, &d), ==, TJ_ECORRUPT);
	ser.data[3] = 2;
	TJ_ASSERT_INT(tj_mime_deserialize(ser.data, ser.len, &d), ==, TJ_EVERSION);
	tj_buf_free(&ser);
	tj_buf_free(&s);
	tj_mime_free(&m);
}

/* 150 nested multiparts (no boundary a prefix of another): nesting stops
 * at the limit and the deepest part is shown as an octet stream */
TJ_TEST(nesting_limit)
{
	tj_buf b = TJ_BUF_INIT;
	for (int i = 0; i < 150; i++)
		TJ_OKRC(tj_buf_printf(&b, "Content-Type: multipart/mixed; boundary=\"b%03d\"\n\n--b%03d\n", i, i));
	TJ_OKRC(tj_buf_puts(&b, "\nleaf\n"));
	struct tj_mime_msg *m = NULL;
	TJ_OKRC(tj_mime_parse(b.data, b.len, &m));
	TJ_ASSERT_INT(tj_mime_part_count(m), ==, TJ_MIME_MAX_NESTING);
	const struct tj_mime_part *last = tj_mime_part_get(m, TJ_MIME_MAX_NESTING - 1);
	TJ_ASSERT(last->flags & TJ_MIME_PART_OVERFLOW);
	TJ_ASSERT(!(last->flags & TJ_MIME_PART_MULTIPART));
	tj_slice bs = tj_mime_bodystructure(m);
	TJ_ASSERT(memmem(bs.ptr, bs.len, "\"application\" \"octet-stream\"", 28) != NULL);
	tj_mime_free(&m);
	tj_buf_free(&b);
}

/* more parts than the limit: the rest is one body, no more parts */
TJ_TEST(part_limit)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&b, "Content-Type: multipart/mixed; boundary=x\n\n"));
	for (int i = 0; i < TJ_MIME_MAX_PARTS + 50; i++)
		TJ_OKRC(tj_buf_puts(&b, "--x\n\np\n"));
	struct tj_mime_msg *m = NULL;
	TJ_OKRC(tj_mime_parse(b.data, b.len, &m));
	TJ_ASSERT_INT(tj_mime_part_count(m), ==, TJ_MIME_MAX_PARTS);
	TJ_ASSERT(tj_mime_part_get(m, TJ_MIME_MAX_PARTS - 1)->flags & TJ_MIME_PART_OVERFLOW);
	tj_mime_free(&m);
	tj_buf_free(&b);
}

/* quoting rules of the IMAP writer: literals for 8-bit text and for more
 * than four quoted-specials, whitespace collapsed in subjects and names,
 * CR/LF removed from dates and message ids */
TJ_TEST(imap_quoting)
{
	struct tj_mime_msg *m = parse_str(
		"Subject:  two  spaces\tand\n\ttab \n"
		"Date: Mon,\n 1 Jan\n"
		"From: \"A \\\"B\\\" C\" <a@b>\n"
		"Message-ID: <\"\"\"\"\"@x>\n"
		"In-Reply-To: <caf\xc3\xa9@x>\n\n");
	slice_is(tj_mime_envelope(m),
		 "\"Mon, 1 Jan\" {18}\r\ntwo spaces and tab "
		 "(({7}\r\nA \"B\" C NIL \"a\" \"b\")) (({7}\r\nA \"B\" C NIL \"a\" \"b\")) "
		 "(({7}\r\nA \"B\" C NIL \"a\" \"b\")) NIL NIL NIL {9}\r\n<caf\xc3\xa9@x> {9}\r\n<\"\"\"\"\"@x>",
		 "ENVELOPE", "quoting");
	tj_mime_free(&m);
}

TJ_TEST(decode_header_rfc2047)
{
	static const struct { const char *in, *out; } t[] = {
		{"=?utf-8?q?caf=C3=A9?=", "caf\xc3\xa9"},
		{"=?ISO-8859-1?B?5Q==?= x", "\xc3\xa5 x"},
		{"=?utf-8?q?a?= =?utf-8?q?b?=", "ab"},           /* space between words dropped */
		{"x =?utf-8?q?a_b?= y", "x a b y"},
		{"=?bogus-charset?q?ok?=", "ok"},
		{"=?utf-8?q?broken", "=?utf-8?q?broken"},
		{"folded\n line", "folded line"},
		{"raw \xff byte", "raw \xef\xbf\xbd byte"},
		{"=?utf-8*en?q?lang?=", "lang"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		tj_buf b = TJ_BUF_INIT;
		TJ_OKRC(tj_mime_decode_header((const uint8_t *)t[i].in, strlen(t[i].in), &b));
		TJ_ASSERT_STR(b.data ? (const char *)b.data : "", t[i].out);
		tj_buf_free(&b);
	}
}

TJ_TEST(decode_rfc2231_and_cte)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_mime_decode_2231("iso-8859-1'de'Gr%FC%DFe%20.txt", &b));
	TJ_ASSERT_STR((const char *)b.data, "Gr\xc3\xbc\xc3\x9f" "e .txt");
	tj_buf_reset(&b);
	TJ_OKRC(tj_mime_decode_2231("plain", &b));
	TJ_ASSERT_STR((const char *)b.data, "plain");
	tj_buf_reset(&b);
	TJ_OKRC(tj_mime_decode_base64((const uint8_t *)"aGVs\nbG8g\r\nd29y bGQ=", 21, &b));
	TJ_ASSERT_STR((const char *)b.data, "hello world");
	tj_buf_reset(&b);
	static const char qp[] = "caf=E9 soft=\nbreak=3D=\r\nend =ZZ";
	TJ_OKRC(tj_mime_decode_qp((const uint8_t *)qp, strlen(qp), &b));
	TJ_ASSERT_MEM(b.data, b.len, "caf\xe9 softbreak=end =ZZ", 22);
	tj_buf_reset(&b);
	TJ_OKRC(tj_mime_to_utf8("windows-1252", (const uint8_t *)"\x80 \xe9", 3, &b));
	TJ_ASSERT_STR((const char *)b.data, "\xe2\x82\xac \xc3\xa9");
	tj_buf_reset(&b);
	TJ_OKRC(tj_mime_to_utf8("us-ascii", (const uint8_t *)"ok\xc3", 3, &b));
	TJ_ASSERT_STR((const char *)b.data, "ok\xef\xbf\xbd");
	tj_buf_free(&b);
}

TJ_TEST(search_text_and_search)
{
	static const char msg[] =
		"Subject: =?iso-8859-1?q?Gr=FC=DFe?=\nMIME-Version: 1.0\n"
		"Content-Type: multipart/mixed; boundary=q\n\n"
		"--q\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"
		"Stra=DFe und K=C4SE\n"
		"--q\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
		"PGI+zpHOks6TPC9iPg==\n"
		"--q\nContent-Type: image/png\nContent-Transfer-Encoding: base64\n\nbm90IHRleHQ=\n--q--\n";
	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_mime_search_text((const uint8_t *)msg, strlen(msg), TJ_MIME_SEARCH_ALL, &t));
	TJ_ASSERT(strstr((const char *)t.data, "Subject: Gr\xc3\xbc\xc3\x9f" "e\n") != NULL);
	TJ_ASSERT(strstr((const char *)t.data, "Stra\xc3\x9f" "e und K\xc3\x84SE") != NULL);
	TJ_ASSERT(strstr((const char *)t.data, "<b>\xce\x91\xce\x92\xce\x93</b>") != NULL);
	TJ_ASSERT(strstr((const char *)t.data, "not text") == NULL); /* images are not text */
	TJ_ASSERT_INT(tj_mime_search(t.data, t.len, (const uint8_t *)"k\xc3\xa4se", 5), ==, 1);
	TJ_ASSERT_INT(tj_mime_search(t.data, t.len, (const uint8_t *)"\xce\xb1\xce\xb2\xce\xb3", 6), ==, 1);
	TJ_ASSERT_INT(tj_mime_search(t.data, t.len, (const uint8_t *)"GR\xc3\x9c\xc3\x9f", 6), ==, 1);
	TJ_ASSERT_INT(tj_mime_search(t.data, t.len, (const uint8_t *)"absent", 6), ==, 0);
	TJ_ASSERT_INT(tj_mime_search(t.data, t.len, (const uint8_t *)"", 0), ==, 1);
	tj_buf_reset(&t);
	TJ_OKRC(tj_mime_search_text((const uint8_t *)msg, strlen(msg), TJ_MIME_SEARCH_HEADERS, &t));
	TJ_ASSERT(strstr((const char *)t.data, "Stra") == NULL);
	tj_buf_reset(&t);
	TJ_OKRC(tj_mime_search_text((const uint8_t *)msg, strlen(msg), TJ_MIME_SEARCH_BODY, &t));
	TJ_ASSERT(strstr((const char *)t.data, "Subject") == NULL);
	tj_buf_free(&t);
}

TJ_TEST(fold)
{
	tj_buf b = TJ_BUF_INIT;
	static const char in[] = "ABC \xc3\x84\xc3\x96 \xc5\x81 \xd0\x96 \xce\xa3 \xff";
	TJ_OKRC(tj_mime_fold((const uint8_t *)in, strlen(in), &b));
	TJ_ASSERT_STR((const char *)b.data, "abc \xc3\xa4\xc3\xb6 \xc5\x82 \xd0\xb6 \xcf\x83 \xef\xbf\xbd");
	tj_buf_free(&b);
}

/* hostile inputs: each parses without error and gives a bodystructure */
TJ_TEST(hostile_inputs)
{
	static const char *t[] = {
		"\n", "\r\n", ":", "--", "\0\0\0", "Content-Type: multipart/mixed; boundary=\"\"\n\n--\n--x\n",
		"Content-Type: multipart/mixed; boundary=a\n\n--a", "Content-Type: message/rfc822\n\n",
		"Content-Type: message/rfc822\n", "From: (((((\n", "From: \"unterminated\n",
		"To: <<<@@@>>>,,,;;;:::\n", "Content-Type: text/plain; a*0*=x; a*2*=y; a*=z; a*1=w\n\n",
		"Content-Type: ;;;;==\n\n", "Content-Disposition: \"x\n\n", "Subject: =?=?=?\n",
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct tj_mime_msg *m = NULL;
		size_t len = i == 4 ? 3 : strlen(t[i]);
		TJ_OKRC(tj_mime_parse((const uint8_t *)t[i], len, &m));
		TJ_ASSERT(tj_mime_bodystructure(m).len > 0);
		tj_buf b = TJ_BUF_INIT;
		TJ_OKRC(tj_mime_search_text((const uint8_t *)t[i], len, TJ_MIME_SEARCH_ALL, &b));
		tj_buf_free(&b);
		tj_mime_free(&m);
	}
}

/* the header ended by a boundary: the newline goes to the boundary */
TJ_TEST(header_cut_by_boundary)
{
	struct tj_mime_msg *m = parse_str("Content-Type: multipart/mixed; boundary=b\n\n--b\nX: 1\n--b--\n");
	slice_is(tj_mime_bodystructure(m),
		 "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) "
		 "\"mixed\" (\"boundary\" \"b\") NIL NIL NIL", "BODYSTRUCTURE", "cut");
	const struct tj_mime_part *p = tj_mime_part_get(m, 1);
	TJ_ASSERT_INT(p->hdr_len, ==, 4); /* "X: 1" without its newline */
	TJ_ASSERT_INT(p->body_len, ==, 0);
	tj_mime_free(&m);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

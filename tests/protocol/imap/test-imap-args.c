/*
 * test-imap-args.c - the command-argument parsers over the argument tree:
 * sequence sets, FETCH, SEARCH, STORE, flags, SELECT, LIST, STATUS, APPEND.
 * Each with valid inputs checked field by field and invalid inputs that
 * must be refused.
 */
#include "common/buf.h"
#include "common/err.h"
#include "protocol/imap/imap-append.h"
#include "protocol/imap/imap-fetch.h"
#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-list.h"
#include "protocol/imap/imap-search.h"
#include "protocol/imap/imap-select.h"
#include "protocol/imap/imap-seqset.h"
#include "protocol/imap/imap-status.h"
#include "protocol/imap/imap-store.h"
#include "protocol/imap/imap-write.h"
#include "tests/protocol/imap/imap-test-util.h"

#include <inttypes.h>

/* ---- sequence sets ---- */

static void seqset_dump(const struct imap_seqset *s, tj_buf *out)
{
	for (size_t i = 0; i < s->count; i++) {
		if (i)
			tj_buf_putc(out, ',');
		if (s->r[i].lo == IMAP_SEQ_STAR)
			tj_buf_putc(out, '*');
		else
			tj_buf_printf(out, "%" PRIu32, s->r[i].lo);
		if (s->r[i].hi != s->r[i].lo) {
			if (s->r[i].hi == IMAP_SEQ_STAR)
				tj_buf_puts(out, ":*");
			else
				tj_buf_printf(out, ":%" PRIu32, s->r[i].hi);
		}
	}
	tj_buf_puts(out, "");
}

TJ_TEST(seqset_parse_valid)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{"1", "1"}, {"1:5", "1:5"}, {"5:1", "5:1"}, {"1:*", "1:*"}, {"*", "*"}, {"*:3", "*:3"},
		{"1,3:4,*", "1,3:4,*"}, {"4294967295", "4294967295"}, {"2:2", "2"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct imap_seqset s = IMAP_SEQSET_INIT;
		tj_buf out = TJ_BUF_INIT;
		TJ_OKRC(imap_seqset_parse(&s, ok[i].in, strlen(ok[i].in)));
		seqset_dump(&s, &out);
		TJ_ASSERT_STR((const char *)out.data, ok[i].want);
		tj_buf_free(&out);
		imap_seqset_free(&s);
	}
}

TJ_TEST(seqset_parse_invalid)
{
	static const char *const bad[] = {"", "0", "1:0", "01", "1:", ":1", "1,,2", ",1", "1,", "a",
					  "1:2:3", "4294967296", "1 2", "**", "1:*x", "$", "-1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_seqset s = IMAP_SEQSET_INIT;
		if (imap_seqset_parse(&s, bad[i], strlen(bad[i])) != TJ_EINVAL)
			TJ_FAIL("\"%s\" accepted", bad[i]);
		imap_seqset_free(&s);
	}
}

TJ_TEST(seqset_membership_and_star)
{
	struct imap_seqset s = IMAP_SEQSET_INIT;
	TJ_OKRC(imap_seqset_parse(&s, "2,5:7,10:*", 10));
	TJ_ASSERT(!imap_seqset_contains(&s, 1, 20));
	TJ_ASSERT(imap_seqset_contains(&s, 2, 20));
	TJ_ASSERT(!imap_seqset_contains(&s, 4, 20));
	TJ_ASSERT(imap_seqset_contains(&s, 6, 20));
	TJ_ASSERT(imap_seqset_contains(&s, 15, 20));
	TJ_ASSERT(!imap_seqset_contains(&s, 21, 20));
	/* "10:*" with max 8 means 8:10 */
	TJ_ASSERT(imap_seqset_contains(&s, 8, 8));
	TJ_ASSERT(imap_seqset_contains(&s, 9, 8));
	TJ_ASSERT(imap_seqset_has_star(&s));
	TJ_ASSERT_INT(imap_seqset_highest(&s), ==, 10);
	/* empty mailbox: '*' matches nothing */
	TJ_OKRC(imap_seqset_parse(&s, "*", 1));
	TJ_ASSERT(!imap_seqset_contains(&s, 0, 0));
	TJ_ASSERT(!imap_seqset_contains(&s, 1, 0));
	TJ_ASSERT(imap_seqset_contains(&s, 7, 7));
	TJ_ASSERT(!imap_seqset_contains(&s, 6, 7));
	imap_seqset_free(&s);
}

TJ_TEST(seqset_resolve_and_iterate)
{
	struct imap_seqset s = IMAP_SEQSET_INIT, r = IMAP_SEQSET_INIT;
	TJ_OKRC(imap_seqset_parse(&s, "9:7,1:2,3,20:*,15,559:*", 23));
	TJ_OKRC(imap_seqset_resolve(&s, 12, &r));
	tj_buf out = TJ_BUF_INIT;
	seqset_dump(&r, &out);
	/* 9:7 -> 7:9; 1:2 + 3 merge; 20:* -> 12:20 -> 12; 15 beyond max; 559:* -> 12 */
	TJ_ASSERT_STR((const char *)out.data, "1:3,7:9,12");
	struct imap_seqset_iter it;
	uint32_t n;
	tj_buf_reset(&out);
	imap_seqset_iter_init(&it, &r);
	while (imap_seqset_iter_next(&it, &n))
		tj_buf_printf(&out, "%" PRIu32 " ", n);
	TJ_ASSERT_STR((const char *)out.data, "1 2 3 7 8 9 12 ");
	/* the writer compresses back */
	uint32_t nums[] = {1, 2, 3, 7, 8, 9, 12};
	tj_buf_reset(&out);
	TJ_OKRC(imap_write_seqset(&out, nums, 7));
	TJ_ASSERT_STR((const char *)out.data, "1:3,7:9,12");
	/* resolving against an empty mailbox gives nothing */
	TJ_OKRC(imap_seqset_resolve(&s, 0, &r));
	TJ_ASSERT_INT(r.count, ==, 0);
	imap_seqset_iter_init(&it, &r);
	TJ_ASSERT(!imap_seqset_iter_next(&it, &n));
	/* iteration up to UINT32_MAX terminates */
	TJ_OKRC(imap_seqset_parse(&s, "4294967294:*", 12));
	TJ_OKRC(imap_seqset_resolve(&s, UINT32_MAX, &r));
	imap_seqset_iter_init(&it, &r);
	int cnt = 0;
	while (imap_seqset_iter_next(&it, &n))
		cnt++;
	TJ_ASSERT_INT(cnt, ==, 2);
	tj_buf_free(&out);
	imap_seqset_free(&s);
	imap_seqset_free(&r);
}

/* ---- FETCH ---- */

static int fetch_parse_line(const char *line, bool uid, struct imap_fetch *f, const char **err)
{
	struct imap_parser *p;
	const struct imap_command *c = imap_test_parse1(&p, line);
	int rc = imap_fetch_parse(f, c->args, c->argc, uid, err);
	/* the section strings live in the parser: copy what tests look at */
	imap_parser_free(&p);
	return rc;
}

TJ_TEST(fetch_macros_and_atoms)
{
	static const struct {
		const char *line;
		bool uid;
		uint32_t items;
	} ok[] = {
		{"a FETCH 1 ALL\r\n", false, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_ENVELOPE},
		{"a FETCH 1 fast\r\n", false, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE},
		{"a FETCH 1 FULL\r\n", false, IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY},
		{"a FETCH 1 FLAGS\r\n", false, IMAP_FETCH_FLAGS},
		{"a UID FETCH 1 FLAGS\r\n", true, IMAP_FETCH_FLAGS | IMAP_FETCH_UID},
		{"a FETCH 1:* (UID RFC822.SIZE BODYSTRUCTURE ENVELOPE INTERNALDATE)\r\n", false,
		 IMAP_FETCH_UID | IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_BODYSTRUCTURE | IMAP_FETCH_ENVELOPE | IMAP_FETCH_INTERNALDATE},
		{"a FETCH 1 (RFC822 RFC822.HEADER RFC822.TEXT BODY MODSEQ)\r\n", false,
		 IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_HEADER | IMAP_FETCH_RFC822_TEXT | IMAP_FETCH_BODY | IMAP_FETCH_MODSEQ},
		{"a FETCH 1 (FLAGS) (CHANGEDSINCE 12345)\r\n", false, IMAP_FETCH_FLAGS | IMAP_FETCH_MODSEQ},
		{"a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n", true, IMAP_FETCH_FLAGS | IMAP_FETCH_MODSEQ | IMAP_FETCH_UID},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct imap_fetch f = IMAP_FETCH_INIT;
		const char *err = NULL;
		int rc = fetch_parse_line(ok[i].line, ok[i].uid, &f, &err);
		if (rc != 0)
			TJ_FAIL("%s: %s", ok[i].line, err);
		TJ_ASSERT_INT(f.items, ==, ok[i].items);
		TJ_ASSERT_INT(f.section_count, ==, 0);
		imap_fetch_free(&f);
	}
	struct imap_fetch f = IMAP_FETCH_INIT;
	const char *err;
	TJ_OKRC(fetch_parse_line("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 77 VANISHED)\r\n", true, &f, &err));
	TJ_ASSERT(f.has_changedsince);
	TJ_ASSERT(f.changedsince == 77);
	TJ_ASSERT(f.vanished);
	TJ_ASSERT(imap_seqset_contains(&f.set, 5, 5));
	imap_fetch_free(&f);
}

TJ_TEST(fetch_sections)
{
	static const struct {
		const char *att;  /* inside FETCH 1 (...) */
		const char *echo; /* imap_fetch_section_write */
		int kind;
		bool peek;
		size_t parts;
		int text;
	} ok[] = {
		{"BODY[]", "BODY[]", IMAP_SECTION_BODY, false, 0, IMAP_SECT_ALL},
		{"BODY.PEEK[]<0.1024>", "BODY[]<0>", IMAP_SECTION_BODY, true, 0, IMAP_SECT_ALL},
		{"body.peek[header]", "BODY[HEADER]", IMAP_SECTION_BODY, true, 0, IMAP_SECT_HEADER},
		{"BODY[TEXT]<100.5>", "BODY[TEXT]<100>", IMAP_SECTION_BODY, false, 0, IMAP_SECT_TEXT},
		{"BODY[1]", "BODY[1]", IMAP_SECTION_BODY, false, 1, IMAP_SECT_ALL},
		{"BODY[1.2.3]", "BODY[1.2.3]", IMAP_SECTION_BODY, false, 3, IMAP_SECT_ALL},
		{"BODY[2.MIME]", "BODY[2.MIME]", IMAP_SECTION_BODY, false, 1, IMAP_SECT_MIME},
		{"BODY[4.2.HEADER]", "BODY[4.2.HEADER]", IMAP_SECTION_BODY, false, 2, IMAP_SECT_HEADER},
		{"BODY.PEEK[HEADER.FIELDS (From To \"Message-ID\" {2+}\r\nCc)]",
		 "BODY[HEADER.FIELDS (From To Message-ID Cc)]", IMAP_SECTION_BODY, true, 0, IMAP_SECT_HEADER_FIELDS},
		{"BODY[1.HEADER.FIELDS.NOT (Received)]<0.10>", "BODY[1.HEADER.FIELDS.NOT (Received)]<0>",
		 IMAP_SECTION_BODY, false, 1, IMAP_SECT_HEADER_FIELDS_NOT},
		{"BINARY[1]", "BINARY[1]", IMAP_SECTION_BINARY, false, 1, IMAP_SECT_ALL},
		{"BINARY.PEEK[]<7.3>", "BINARY[]<7>", IMAP_SECTION_BINARY, true, 0, IMAP_SECT_ALL},
		{"BINARY.SIZE[3.1]", "BINARY.SIZE[3.1]", IMAP_SECTION_BINARY_SIZE, false, 2, IMAP_SECT_ALL},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		tj_buf line = TJ_BUF_INIT, echo = TJ_BUF_INIT;
		TJ_OKRC(tj_buf_printf(&line, "a FETCH 1 (FLAGS %s)\r\n", ok[i].att));
		struct imap_parser *p;
		const struct imap_command *c = imap_test_parse1(&p, (const char *)line.data);
		struct imap_fetch f = IMAP_FETCH_INIT;
		const char *err = NULL;
		if (imap_fetch_parse(&f, c->args, c->argc, false, &err) != 0)
			TJ_FAIL("%s: %s", ok[i].att, err);
		TJ_ASSERT_INT(f.items, ==, IMAP_FETCH_FLAGS);
		TJ_ASSERT_INT(f.section_count, ==, 1);
		const struct imap_fetch_section *s = &f.sections[0];
		TJ_ASSERT_INT(s->kind, ==, ok[i].kind);
		TJ_ASSERT_INT(s->peek, ==, ok[i].peek);
		TJ_ASSERT_INT(s->part_count, ==, ok[i].parts);
		TJ_ASSERT_INT(s->text, ==, ok[i].text);
		TJ_OKRC(imap_fetch_section_write(&echo, s));
		if (strcmp((const char *)echo.data, ok[i].echo) != 0)
			TJ_FAIL("%s echoes as %s", ok[i].att, (const char *)echo.data);
		imap_fetch_free(&f);
		imap_parser_free(&p);
		tj_buf_free(&line);
		tj_buf_free(&echo);
	}
}

TJ_TEST(fetch_section_details)
{
	struct imap_parser *p;
	const struct imap_command *c =
		imap_test_parse1(&p, "a FETCH 1 (BODY[3.14.HEADER.FIELDS (A B)]<12.34> BODY[TEXT])\r\n");
	struct imap_fetch f = IMAP_FETCH_INIT;
	const char *err;
	TJ_OKRC(imap_fetch_parse(&f, c->args, c->argc, false, &err));
	TJ_ASSERT_INT(f.section_count, ==, 2);
	TJ_ASSERT_INT(f.sections[0].part[0], ==, 3);
	TJ_ASSERT_INT(f.sections[0].part[1], ==, 14);
	TJ_ASSERT_INT(f.sections[0].field_count, ==, 2);
	TJ_ASSERT_STR(f.sections[0].fields[1], "B");
	TJ_ASSERT(f.sections[0].has_partial);
	TJ_ASSERT_INT(f.sections[0].partial_offset, ==, 12);
	TJ_ASSERT_INT(f.sections[0].partial_count, ==, 34);
	TJ_ASSERT(!f.sections[1].has_partial);
	imap_parser_free(&p);
	/* reuse of the same struct resets it */
	c = imap_test_parse1(&p, "b FETCH 2 FLAGS\r\n");
	TJ_OKRC(imap_fetch_parse(&f, c->args, c->argc, false, &err));
	TJ_ASSERT_INT(f.section_count, ==, 0);
	TJ_ASSERT_INT(f.items, ==, IMAP_FETCH_FLAGS);
	TJ_ASSERT(!imap_seqset_contains(&f.set, 1, 5));
	imap_parser_free(&p);
	imap_fetch_free(&f);
}

TJ_TEST(fetch_invalid)
{
	static const struct {
		const char *line;
		bool uid;
	} bad[] = {
		{"a FETCH 1\r\n", false},
		{"a FETCH 0 FLAGS\r\n", false},
		{"a FETCH x FLAGS\r\n", false},
		{"a FETCH 1 FLAGS FLAGS FLAGS\r\n", false},
		{"a FETCH 1 ()\r\n", false},
		{"a FETCH 1 (ALL)\r\n", false},  /* macros only alone */
		{"a FETCH 1 FOO\r\n", false},
		{"a FETCH 1 \"FLAGS\"\r\n", false},
		{"a FETCH 1 BODY.PEEK\r\n", false},
		{"a FETCH 1 BINARY.SIZE\r\n", false},
		{"a FETCH 1 BODY[MIME]\r\n", false},
		{"a FETCH 1 BODY[0]\r\n", false},
		{"a FETCH 1 BODY[01]\r\n", false},
		{"a FETCH 1 BODY[1.]\r\n", false},
		{"a FETCH 1 BODY[.1]\r\n", false},
		{"a FETCH 1 BODY[1..2]\r\n", false},
		{"a FETCH 1 BODY[FOO]\r\n", false},
		{"a FETCH 1 BODY[HEADER.FIELDS]\r\n", false},
		{"a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", false},
		{"a FETCH 1 BODY[HEADER.FIELDS (A:B)]\r\n", false},
		{"a FETCH 1 BODY[HEADER (A)]\r\n", false},
		{"a FETCH 1 BODY[TEXT TEXT]\r\n", false},
		{"a FETCH 1 BODY[\"TEXT\"]\r\n", false},
		{"a FETCH 1 BODY[]<5>\r\n", false},
		{"a FETCH 1 BODY[]<5.0>\r\n", false},
		{"a FETCH 1 BODY[]<1.2.3>\r\n", false},
		{"a FETCH 1 BODY[]<4294967296.1>\r\n", false},
		{"a FETCH 1 BINARY[HEADER]\r\n", false},
		{"a FETCH 1 BINARY[1.TEXT]\r\n", false},
		{"a FETCH 1 BINARY.SIZE[1]<0.5>\r\n", false},
		{"a FETCH 1 FLAGS (CHANGEDSINCE)\r\n", false},
		{"a FETCH 1 FLAGS (CHANGEDSINCE x)\r\n", false},
		{"a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)\r\n", false},
		{"a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)\r\n", false},
		{"a FETCH 1 FLAGS (CHANGEDSINCE 1 VANISHED)\r\n", false}, /* VANISHED needs UID */
		{"a UID FETCH 1 FLAGS (VANISHED)\r\n", true},             /* ...and CHANGEDSINCE */
		{"a FETCH 1 FLAGS ()\r\n", false},
		{"a FETCH 1 FLAGS (FOO)\r\n", false},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_fetch f = IMAP_FETCH_INIT;
		const char *err = NULL;
		if (fetch_parse_line(bad[i].line, bad[i].uid, &f, &err) != TJ_EINVAL)
			TJ_FAIL("accepted: %s", bad[i].line);
		TJ_ASSERT(err != NULL);
		imap_fetch_free(&f);
	}
}

/* ---- SEARCH ---- */

static void search_dump(const struct imap_search_key *k, tj_buf *out)
{
	static const char *const names[] = {
		[IMAP_SK_AND] = "AND", [IMAP_SK_OR] = "OR", [IMAP_SK_NOT] = "NOT", [IMAP_SK_ALL] = "ALL",
		[IMAP_SK_SEQSET] = "SEQ", [IMAP_SK_UID] = "UID", [IMAP_SK_ANSWERED] = "ANSWERED",
		[IMAP_SK_DELETED] = "DELETED", [IMAP_SK_DRAFT] = "DRAFT", [IMAP_SK_FLAGGED] = "FLAGGED",
		[IMAP_SK_SEEN] = "SEEN", [IMAP_SK_RECENT] = "RECENT", [IMAP_SK_NEW] = "NEW",
		[IMAP_SK_OLD] = "OLD", [IMAP_SK_UNANSWERED] = "UNANSWERED", [IMAP_SK_UNDELETED] = "UNDELETED",
		[IMAP_SK_UNDRAFT] = "UNDRAFT", [IMAP_SK_UNFLAGGED] = "UNFLAGGED", [IMAP_SK_UNSEEN] = "UNSEEN",
		[IMAP_SK_KEYWORD] = "KEYWORD", [IMAP_SK_UNKEYWORD] = "UNKEYWORD", [IMAP_SK_BCC] = "BCC",
		[IMAP_SK_BODY] = "BODY", [IMAP_SK_CC] = "CC", [IMAP_SK_FROM] = "FROM",
		[IMAP_SK_SUBJECT] = "SUBJECT", [IMAP_SK_TEXT] = "TEXT", [IMAP_SK_TO] = "TO",
		[IMAP_SK_HEADER] = "HEADER", [IMAP_SK_BEFORE] = "BEFORE", [IMAP_SK_ON] = "ON",
		[IMAP_SK_SINCE] = "SINCE", [IMAP_SK_SENTBEFORE] = "SENTBEFORE", [IMAP_SK_SENTON] = "SENTON",
		[IMAP_SK_SENTSINCE] = "SENTSINCE", [IMAP_SK_LARGER] = "LARGER", [IMAP_SK_SMALLER] = "SMALLER",
		[IMAP_SK_MODSEQ] = "MODSEQ",
	};
	tj_buf_puts(out, names[k->type]);
	switch (k->type) {
	case IMAP_SK_AND:
	case IMAP_SK_OR:
	case IMAP_SK_NOT:
		tj_buf_putc(out, '(');
		for (size_t i = 0; i < k->child_count; i++) {
			if (i)
				tj_buf_putc(out, ',');
			search_dump(&k->children[i], out);
		}
		tj_buf_putc(out, ')');
		break;
	case IMAP_SK_SEQSET:
	case IMAP_SK_UID:
		tj_buf_putc(out, ':');
		seqset_dump(&k->set, out);
		break;
	case IMAP_SK_HEADER:
		tj_buf_printf(out, ":%s=%s", k->header, k->str);
		break;
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD:
	case IMAP_SK_BCC:
	case IMAP_SK_BODY:
	case IMAP_SK_CC:
	case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT:
	case IMAP_SK_TEXT:
	case IMAP_SK_TO:
		tj_buf_putc(out, ':');
		tj_buf_append(out, k->str, k->str_len);
		break;
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		tj_buf_printf(out, ":%04d-%02d-%02d", k->date.year, k->date.month, k->date.day);
		break;
	case IMAP_SK_LARGER:
	case IMAP_SK_SMALLER:
		tj_buf_printf(out, ":%" PRIu64, k->number);
		break;
	case IMAP_SK_MODSEQ:
		if (k->header)
			tj_buf_printf(out, ":%s/%d", k->header, (int)k->entry_type);
		tj_buf_printf(out, ":%" PRIu64, k->number);
		break;
	default:
		break;
	}
}

static int search_line(const char *args, struct imap_search *s, tj_buf *out, const char **err)
{
	tj_buf line = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_printf(&line, "a SEARCH %s\r\n", args));
	struct imap_parser *p;
	const struct imap_command *c = imap_test_parse1(&p, (const char *)line.data);
	int rc = imap_search_parse(s, c->args, c->argc, err);
	if (rc == 0)
		search_dump(s->root, out);
	imap_parser_free(&p);
	tj_buf_free(&line);
	return rc;
}

TJ_TEST(search_every_key)
{
	static const struct {
		const char *in, *want;
	} ok[] = {
		{"ALL", "AND(ALL)"},
		{"ANSWERED DELETED DRAFT FLAGGED SEEN RECENT NEW OLD",
		 "AND(ANSWERED,DELETED,DRAFT,FLAGGED,SEEN,RECENT,NEW,OLD)"},
		{"UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN",
		 "AND(UNANSWERED,UNDELETED,UNDRAFT,UNFLAGGED,UNSEEN)"},
		{"KEYWORD $Junk UNKEYWORD $NotJunk", "AND(KEYWORD:$Junk,UNKEYWORD:$NotJunk)"},
		{"BCC a CC b FROM \"Joe Q\" SUBJECT {3+}\r\nhi! TEXT t TO u BODY NIL",
		 "AND(BCC:a,CC:b,FROM:Joe Q,SUBJECT:hi!,TEXT:t,TO:u,BODY:NIL)"},
		{"HEADER Message-ID \"<x@y>\"", "AND(HEADER:Message-ID=<x@y>)"},
		{"BEFORE 1-Feb-1994 ON \"29-feb-2024\" SINCE 01-Jan-2000",
		 "AND(BEFORE:1994-02-01,ON:2024-02-29,SINCE:2000-01-01)"},
		{"SENTBEFORE 1-Feb-1994 SENTON 2-Mar-1995 SENTSINCE 31-Dec-1999",
		 "AND(SENTBEFORE:1994-02-01,SENTON:1995-03-02,SENTSINCE:1999-12-31)"},
		{"LARGER 1000 SMALLER 9223372036854775807", "AND(LARGER:1000,SMALLER:9223372036854775807)"},
		{"1:5,7 UID 10:*", "AND(SEQ:1:5,7,UID:10:*)"},
		{"* UID *", "AND(SEQ:*,UID:*)"},
		{"NOT SEEN", "AND(NOT(SEEN))"},
		{"OR SEEN FLAGGED", "AND(OR(SEEN,FLAGGED))"},
		{"OR (SEEN FROM x) NOT OR DELETED DRAFT", "AND(OR(AND(SEEN,FROM:x),NOT(OR(DELETED,DRAFT))))"},
		{"OR OR OR a1 b1 c1 d1", ""},
		{"(((SEEN)))", "AND(AND(AND(AND(SEEN))))"},
		{"MODSEQ 620162338", "AND(MODSEQ:620162338)"},
		{"MODSEQ \"/flags/\\\\draft\" all 620162338",
		 "AND(MODSEQ:/flags/\\draft/0:620162338)"},
		{"MODSEQ \"/flags/$Junk\" priv 5", "AND(MODSEQ:/flags/$Junk/1:5)"},
		{"CHARSET UTF-8 TEXT x", "AND(TEXT:x)"},
		{"charset us-ascii ALL", "AND(ALL)"},
		{"RETURN (MIN MAX) ALL", "AND(ALL)"},
		{"RETURN () CHARSET UTF-8 ALL", "AND(ALL)"},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct imap_search s = IMAP_SEARCH_INIT;
		tj_buf out = TJ_BUF_INIT;
		const char *err = NULL;
		int rc = search_line(ok[i].in, &s, &out, &err);
		if (!ok[i].want[0]) { /* OR OR OR with atom keys that are not keys */
			TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
		} else {
			if (rc != 0)
				TJ_FAIL("%s: %s", ok[i].in, err);
			if (strcmp((const char *)out.data, ok[i].want) != 0)
				TJ_FAIL("%s:\n got %s\nwant %s", ok[i].in, (const char *)out.data, ok[i].want);
		}
		imap_search_free(&s);
		tj_buf_free(&out);
	}
}

TJ_TEST(search_options)
{
	struct imap_search s = IMAP_SEARCH_INIT;
	tj_buf out = TJ_BUF_INIT;
	const char *err;
	TJ_OKRC(search_line("RETURN (COUNT SAVE) CHARSET UTF-8 MODSEQ 5", &s, &out, &err));
	TJ_ASSERT(s.has_return);
	TJ_ASSERT_INT(s.return_opts, ==, IMAP_SEARCH_RET_COUNT | IMAP_SEARCH_RET_SAVE);
	TJ_ASSERT(s.has_modseq);
	TJ_OKRC(search_line("RETURN () ALL", &s, &out, &err));
	TJ_ASSERT_INT(s.return_opts, ==, IMAP_SEARCH_RET_ALL);
	TJ_ASSERT(!s.has_modseq);
	TJ_OKRC(search_line("ALL", &s, &out, &err));
	TJ_ASSERT(!s.has_return);
	TJ_ASSERT(s.charset == NULL);
	TJ_ASSERT_INT(search_line("CHARSET ISO-8859-1 TEXT x", &s, &out, &err), ==, TJ_ENOTFOUND);
	TJ_ASSERT(strstr(err, "BADCHARSET") != NULL);
	imap_search_free(&s);
	tj_buf_free(&out);
}

TJ_TEST(search_invalid)
{
	static const char *const bad[] = {
		"", "FOO", "FROM", "NOT", "OR SEEN", "()", "HEADER Subject", "HEADER \"\" x",
		"HEADER \"a:b\" x", "BEFORE 32-Jan-2000", "BEFORE 29-Feb-2023", "SINCE 1-Foo-2000",
		"ON 1-Jan-00", "ON {10+}\r\n1-Jan-2000", "LARGER x", "LARGER -1", "SMALLER 9223372036854775808",
		"UID", "UID x", "UID 0", "0", "1:", "KEYWORD \\Seen", "KEYWORD \"a b\"", "KEYWORD a]b",
		"MODSEQ", "MODSEQ x", "MODSEQ \"/flags/x\" bogus 1", "MODSEQ \"/other\" all 1",
		"MODSEQ \"/flags/x\" all", "CHARSET", "RETURN ALL", "RETURN (FOO) ALL", "RETURN (MIN)",
		"\"SEEN\"", "CHARSET UTF-8", "SEEN CHARSET UTF-8 ALL",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_search s = IMAP_SEARCH_INIT;
		tj_buf out = TJ_BUF_INIT;
		const char *err = NULL;
		if (bad[i][0] == 0) {
			/* "a SEARCH" with no arguments */
			struct imap_parser *p;
			const struct imap_command *c = imap_test_parse1(&p, "a SEARCH\r\n");
			TJ_ASSERT_INT(imap_search_parse(&s, c->args, c->argc, &err), ==, TJ_EINVAL);
			imap_parser_free(&p);
		} else if (search_line(bad[i], &s, &out, &err) != TJ_EINVAL) {
			TJ_FAIL("accepted: %s", bad[i]);
		}
		TJ_ASSERT(err != NULL);
		imap_search_free(&s);
		tj_buf_free(&out);
	}
}

TJ_TEST(search_depth_limit)
{
	tj_buf in = TJ_BUF_INIT, out = TJ_BUF_INIT;
	for (int i = 0; i <= IMAP_SEARCH_MAX_DEPTH; i++)
		TJ_OKRC(tj_buf_puts(&in, "NOT "));
	TJ_OKRC(tj_buf_puts(&in, "SEEN"));
	struct imap_search s = IMAP_SEARCH_INIT;
	const char *err;
	TJ_ASSERT_INT(search_line((const char *)in.data, &s, &out, &err), ==, TJ_EINVAL);
	TJ_ASSERT_STR(err, "Search nested too deeply");
	/* one level less is fine */
	tj_buf_reset(&in);
	for (int i = 0; i < IMAP_SEARCH_MAX_DEPTH - 1; i++)
		TJ_OKRC(tj_buf_puts(&in, "NOT "));
	TJ_OKRC(tj_buf_puts(&in, "SEEN"));
	TJ_OKRC(search_line((const char *)in.data, &s, &out, &err));
	/* a wide OR chain of many keys: the node pool is big enough */
	tj_buf_reset(&in);
	for (int i = 0; i < 60; i++)
		TJ_OKRC(tj_buf_puts(&in, "OR SEEN "));
	TJ_OKRC(tj_buf_puts(&in, "DRAFT"));
	for (int i = 0; i < 200; i++)
		TJ_OKRC(tj_buf_puts(&in, " NOT (OR UID 1:3 NOT FROM x)"));
	TJ_OKRC(search_line((const char *)in.data, &s, &out, &err));
	TJ_ASSERT_INT(s.root->child_count, ==, 201);
	imap_search_free(&s);
	tj_buf_free(&in);
	tj_buf_free(&out);
}

/* ---- STORE and flags ---- */

TJ_TEST(store_valid)
{
	static const struct {
		const char *line;
		int mode;
		bool silent;
		uint32_t sys;
		size_t nkw;
		bool unch;
	} ok[] = {
		{"a STORE 1 FLAGS (\\Seen)\r\n", IMAP_STORE_REPLACE, false, IMAP_FLAG_SEEN, 0, false},
		{"a STORE 1:* +FLAGS.SILENT (\\Deleted $Junk)\r\n", IMAP_STORE_ADD, true, IMAP_FLAG_DELETED, 1, false},
		{"a STORE 2 -flags \\Flagged \\Answered\r\n", IMAP_STORE_REMOVE, false,
		 IMAP_FLAG_FLAGGED | IMAP_FLAG_ANSWERED, 0, false},
		{"a STORE 3 FLAGS ()\r\n", IMAP_STORE_REPLACE, false, 0, 0, false},
		{"a UID STORE 4 (UNCHANGEDSINCE 12) +FLAGS (\\Draft kw Kw KW other)\r\n", IMAP_STORE_ADD, false,
		 IMAP_FLAG_DRAFT, 2, true},
		{"a STORE 5 +FLAGS $Forwarded\r\n", IMAP_STORE_ADD, false, 0, 1, false},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct imap_parser *p;
		const struct imap_command *c = imap_test_parse1(&p, ok[i].line);
		struct imap_store st = IMAP_STORE_INIT;
		const char *err = NULL;
		if (imap_store_parse(&st, c->args, c->argc, &err) != 0)
			TJ_FAIL("%s: %s", ok[i].line, err);
		TJ_ASSERT_INT(st.mode, ==, ok[i].mode);
		TJ_ASSERT_INT(st.silent, ==, ok[i].silent);
		TJ_ASSERT_INT(st.flags.system, ==, ok[i].sys);
		TJ_ASSERT_INT(st.flags.count, ==, ok[i].nkw);
		TJ_ASSERT_INT(st.has_unchangedsince, ==, ok[i].unch);
		if (ok[i].unch)
			TJ_ASSERT(st.unchangedsince == 12);
		imap_store_free(&st);
		imap_parser_free(&p);
	}
}

TJ_TEST(store_invalid)
{
	static const char *const bad[] = {
		"a STORE 1 FLAGS\r\n", "a STORE 1\r\n", "a STORE x FLAGS (\\Seen)\r\n",
		"a STORE 1 LABELS (\\Seen)\r\n", "a STORE 1 *FLAGS (\\Seen)\r\n",
		"a STORE 1 FLAGS.LOUD (\\Seen)\r\n", "a STORE 1 FLAGS (\\Recent)\r\n",
		"a STORE 1 FLAGS (\\Bogus)\r\n", "a STORE 1 FLAGS (\"Seen\")\r\n", "a STORE 1 FLAGS (a%b)\r\n",
		"a STORE 1 FLAGS (a]b)\r\n", "a STORE 1 FLAGS ((\\Seen))\r\n", "a STORE 1 FLAGS (\\Seen) x\r\n",
		"a STORE 1 (UNCHANGEDSINCE) FLAGS (\\Seen)\r\n", "a STORE 1 (FOO 1) FLAGS (\\Seen)\r\n",
		"a STORE 1 (UNCHANGEDSINCE 1) FLAGS\r\n", "a STORE 1 FLAGS a \\\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_parser *p;
		const struct imap_command *c = imap_test_parse1(&p, bad[i]);
		struct imap_store st = IMAP_STORE_INIT;
		const char *err = NULL;
		if (imap_store_parse(&st, c->args, c->argc, &err) != TJ_EINVAL)
			TJ_FAIL("accepted: %s", bad[i]);
		TJ_ASSERT(err != NULL);
		imap_store_free(&st);
		imap_parser_free(&p);
	}
}

TJ_TEST(flags_validation)
{
	TJ_ASSERT_INT(imap_sysflag_parse("\\SEEN", 5, false), ==, IMAP_FLAG_SEEN);
	TJ_ASSERT_INT(imap_sysflag_parse("\\recent", 7, false), ==, 0);
	TJ_ASSERT_INT(imap_sysflag_parse("\\Recent", 7, true), ==, IMAP_FLAG_RECENT);
	TJ_ASSERT_INT(imap_sysflag_parse("\\Seenx", 6, false), ==, 0);
	TJ_ASSERT(imap_keyword_valid("$Forwarded", 10));
	TJ_ASSERT(imap_keyword_valid("NonJunk", 7));
	TJ_ASSERT(!imap_keyword_valid("", 0));
	TJ_ASSERT(!imap_keyword_valid("a b", 3));
	TJ_ASSERT(!imap_keyword_valid("a*", 2));
	TJ_ASSERT(!imap_keyword_valid("a%", 2));
	TJ_ASSERT(!imap_keyword_valid("a]", 2));
	TJ_ASSERT(!imap_keyword_valid("\\a", 2));
	TJ_ASSERT(!imap_keyword_valid("\xc3\xa9", 2));
	char longkw[IMAP_MAX_KEYWORD_LEN + 1];
	memset(longkw, 'k', sizeof(longkw));
	TJ_ASSERT(imap_keyword_valid(longkw, IMAP_MAX_KEYWORD_LEN));
	TJ_ASSERT(!imap_keyword_valid(longkw, IMAP_MAX_KEYWORD_LEN + 1));
	TJ_ASSERT_STR(imap_sysflag_name(IMAP_FLAG_DRAFT), "\\Draft");

	/* too many keywords */
	tj_buf line = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&line, "a STORE 1 FLAGS ("));
	for (int i = 0; i <= IMAP_MAX_KEYWORDS; i++)
		TJ_OKRC(tj_buf_printf(&line, "%sk%d", i ? " " : "", i));
	TJ_OKRC(tj_buf_puts(&line, ")\r\n"));
	struct imap_parser *p;
	const struct imap_command *c = imap_test_parse1(&p, (const char *)line.data);
	struct imap_flags f = IMAP_FLAGS_INIT;
	const char *err;
	TJ_ASSERT_INT(imap_flags_parse_list(&f, &c->args[2], &err), ==, TJ_ETOOBIG);
	imap_flags_free(&f);
	imap_parser_free(&p);
	tj_buf_free(&line);
}

/* ---- SELECT ---- */

TJ_TEST(select_params)
{
	struct imap_parser *p;
	struct imap_select s = IMAP_SELECT_INIT;
	const char *err;
	const struct imap_command *c = imap_test_parse1(&p, "a SELECT INBOX\r\n");
	TJ_OKRC(imap_select_parse(&s, c->args, c->argc, &err));
	TJ_ASSERT_MEM(s.mailbox, s.mailbox_len, "INBOX", 5);
	TJ_ASSERT(!s.condstore && !s.qresync);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a EXAMINE \"Sent Items\" (CONDSTORE)\r\n");
	TJ_OKRC(imap_select_parse(&s, c->args, c->argc, &err));
	TJ_ASSERT_MEM(s.mailbox, s.mailbox_len, "Sent Items", 10);
	TJ_ASSERT(s.condstore && !s.qresync);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n");
	TJ_OKRC(imap_select_parse(&s, c->args, c->argc, &err));
	TJ_ASSERT(s.qresync);
	TJ_ASSERT_INT(s.uidvalidity, ==, 67890007);
	TJ_ASSERT(s.modseq == 20050715194045000ull);
	TJ_ASSERT(s.has_known_uids);
	TJ_ASSERT(imap_seqset_contains(&s.known_uids, 300, 1000));
	TJ_ASSERT(!imap_seqset_contains(&s.known_uids, 212, 1000));
	TJ_ASSERT(!s.has_seq_match);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a SELECT INBOX (CONDSTORE QRESYNC (1 2 1:100 (1:5,9 1:3,7,20)))\r\n");
	TJ_OKRC(imap_select_parse(&s, c->args, c->argc, &err));
	TJ_ASSERT(s.condstore && s.qresync && s.has_known_uids && s.has_seq_match);
	TJ_ASSERT(imap_seqset_contains(&s.known_seqs, 9, 9));
	TJ_ASSERT(imap_seqset_contains(&s.known_seq_uids, 20, 20));
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a SELECT INBOX (QRESYNC (1 2 (1 1)))\r\n");
	TJ_OKRC(imap_select_parse(&s, c->args, c->argc, &err));
	TJ_ASSERT(!s.has_known_uids && s.has_seq_match);
	imap_parser_free(&p);
	imap_select_free(&s);

	static const char *const bad[] = {
		"a SELECT\r\n", "a SELECT (INBOX)\r\n", "a SELECT INBOX ()\r\n", "a SELECT INBOX (FOO)\r\n",
		"a SELECT INBOX (QRESYNC)\r\n", "a SELECT INBOX (QRESYNC ())\r\n",
		"a SELECT INBOX (QRESYNC (1))\r\n", "a SELECT INBOX (QRESYNC (0 1))\r\n",
		"a SELECT INBOX (QRESYNC (1 0))\r\n", "a SELECT INBOX (QRESYNC (1 2 1:*))\r\n",
		"a SELECT INBOX (QRESYNC (1 2 1 (1)))\r\n", "a SELECT INBOX (QRESYNC (1 2 1 (1 1) x))\r\n",
		"a SELECT INBOX (CONDSTORE CONDSTORE)\r\n", "a SELECT INBOX CONDSTORE\r\n",
		"a SELECT INBOX (CONDSTORE) x\r\n", "a SELECT {3+}\r\na\0b\r\n",
	};
	static const size_t nul_case_len = sizeof("a SELECT {3+}\r\na\0b\r\n") - 1;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_parser *pp;
		TJ_OKRC(imap_parser_new(&pp));
		imap_parser_set_authenticated(pp, true);
		size_t used, len = strlen(bad[i]);
		if (strstr(bad[i], "{3+}"))
			len = nul_case_len; /* strlen stops at the NUL */
		TJ_ASSERT_INT(imap_parser_feed(pp, bad[i], len, &used), ==, 0);
		c = imap_parser_command(pp);
		struct imap_select ss = IMAP_SELECT_INIT;
		err = NULL;
		if (imap_select_parse(&ss, c->args, c->argc, &err) != TJ_EINVAL)
			TJ_FAIL("accepted: %s", bad[i]);
		TJ_ASSERT(err != NULL);
		imap_select_free(&ss);
		imap_parser_free(&pp);
	}
}

/* ---- LIST / LSUB ---- */

TJ_TEST(list_forms)
{
	struct imap_parser *p;
	struct imap_list l;
	const char *err;
	const struct imap_command *c = imap_test_parse1(&p, "a LIST \"\" *\r\n");
	TJ_OKRC(imap_list_parse(&l, c->args, c->argc, false, &err));
	TJ_ASSERT(!l.extended);
	TJ_ASSERT_INT(l.reference.len, ==, 0);
	TJ_ASSERT_INT(l.pattern_count, ==, 1);
	TJ_ASSERT_MEM(l.patterns[0].ptr, l.patterns[0].len, "*", 1);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a LIST ~smith/Mail/ foo/%\r\n");
	TJ_OKRC(imap_list_parse(&l, c->args, c->argc, false, &err));
	TJ_ASSERT_MEM(l.reference.ptr, l.reference.len, "~smith/Mail/", 12);
	TJ_ASSERT_MEM(l.patterns[0].ptr, l.patterns[0].len, "foo/%", 5);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (INBOX \"Sent*\" %) "
				 "RETURN (CHILDREN SPECIAL-USE STATUS (MESSAGES UNSEEN))\r\n");
	TJ_OKRC(imap_list_parse(&l, c->args, c->argc, false, &err));
	TJ_ASSERT(l.extended);
	TJ_ASSERT_INT(l.select_opts, ==, IMAP_LIST_SEL_SUBSCRIBED | IMAP_LIST_SEL_RECURSIVEMATCH);
	TJ_ASSERT_INT(l.pattern_count, ==, 3);
	TJ_ASSERT_MEM(l.patterns[1].ptr, l.patterns[1].len, "Sent*", 5);
	TJ_ASSERT_INT(l.return_opts, ==, IMAP_LIST_RET_CHILDREN | IMAP_LIST_RET_SPECIAL_USE | IMAP_LIST_RET_STATUS);
	TJ_ASSERT_INT(l.status_items, ==, IMAP_STATUS_MESSAGES | IMAP_STATUS_UNSEEN);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a LIST (SPECIAL-USE) \"\" * RETURN ()\r\n");
	TJ_OKRC(imap_list_parse(&l, c->args, c->argc, false, &err));
	TJ_ASSERT_INT(l.select_opts, ==, IMAP_LIST_SEL_SPECIAL_USE);
	TJ_ASSERT_INT(l.return_opts, ==, 0);
	TJ_ASSERT(l.extended);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a LIST \"\" \"\"\r\n"); /* delimiter query */
	TJ_OKRC(imap_list_parse(&l, c->args, c->argc, false, &err));
	TJ_ASSERT_INT(l.patterns[0].len, ==, 0);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a LSUB \"\" %\r\n");
	TJ_OKRC(imap_list_parse(&l, c->args, c->argc, true, &err));
	TJ_ASSERT(l.lsub);
	imap_parser_free(&p);

	static const struct {
		const char *line;
		bool lsub;
	} bad[] = {
		{"a LIST\r\n", false},
		{"a LIST \"\"\r\n", false},
		{"a LIST (RECURSIVEMATCH) \"\" *\r\n", false},
		{"a LIST (FOO) \"\" *\r\n", false},
		{"a LIST \"\" * RETURN\r\n", false},
		{"a LIST \"\" * RETURN (FOO)\r\n", false},
		{"a LIST \"\" * RETURN (STATUS)\r\n", false},
		{"a LIST \"\" * RETURN (STATUS ())\r\n", false},
		{"a LIST \"\" * RETURN (STATUS (BOGUS))\r\n", false},
		{"a LIST \"\" * FOO ()\r\n", false},
		{"a LIST \"\" ()\r\n", false},
		{"a LIST \"\" * x\r\n", false},
		{"a LIST a* *\r\n", false}, /* reference is an astring */
		{"a LSUB (SUBSCRIBED) \"\" *\r\n", true},
		{"a LSUB \"\" (a b)\r\n", true},
		{"a LSUB \"\" * RETURN ()\r\n", true},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = imap_test_parse1(&p, bad[i].line);
		err = NULL;
		if (imap_list_parse(&l, c->args, c->argc, bad[i].lsub, &err) != TJ_EINVAL)
			TJ_FAIL("accepted: %s", bad[i].line);
		TJ_ASSERT(err != NULL);
		imap_parser_free(&p);
	}
}

/* ---- STATUS ---- */

TJ_TEST(status_items)
{
	struct imap_parser *p;
	struct imap_status st;
	const char *err;
	const struct imap_command *c = imap_test_parse1(
		&p, "a STATUS blurdybloop (UIDNEXT MESSAGES uidvalidity UNSEEN RECENT DELETED SIZE HIGHESTMODSEQ)\r\n");
	TJ_OKRC(imap_status_parse(&st, c->args, c->argc, &err));
	TJ_ASSERT_MEM(st.mailbox, st.mailbox_len, "blurdybloop", 11);
	TJ_ASSERT_INT(st.items, ==, 0xff);
	TJ_ASSERT_STR(imap_status_item_name(IMAP_STATUS_HIGHESTMODSEQ), "HIGHESTMODSEQ");
	imap_parser_free(&p);
	static const char *const bad[] = {"a STATUS INBOX\r\n", "a STATUS INBOX ()\r\n",
					  "a STATUS INBOX (FOO)\r\n", "a STATUS INBOX MESSAGES\r\n",
					  "a STATUS (MESSAGES)\r\n", "a STATUS INBOX (MESSAGES) x\r\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = imap_test_parse1(&p, bad[i]);
		if (imap_status_parse(&st, c->args, c->argc, &err) != TJ_EINVAL)
			TJ_FAIL("accepted: %s", bad[i]);
		imap_parser_free(&p);
	}
}

/* ---- APPEND ---- */

TJ_TEST(append_forms)
{
	struct imap_parser *p;
	struct imap_append a = IMAP_APPEND_INIT;
	const char *err;
	const struct imap_command *c = imap_test_parse1(&p, "a APPEND saved-messages {5+}\r\nHello\r\n");
	TJ_OKRC(imap_append_parse(&a, c->args, c->argc, &err));
	TJ_ASSERT_MEM(a.mailbox, a.mailbox_len, "saved-messages", 14);
	TJ_ASSERT_MEM(a.message, a.message_len, "Hello", 5);
	TJ_ASSERT(!a.has_date && !a.binary);
	TJ_ASSERT_INT(a.flags.system, ==, 0);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a APPEND INBOX (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" {2+}\r\nhi\r\n");
	TJ_OKRC(imap_append_parse(&a, c->args, c->argc, &err));
	TJ_ASSERT_INT(a.flags.system, ==, IMAP_FLAG_SEEN);
	TJ_ASSERT_INT(a.flags.count, ==, 1);
	TJ_ASSERT_STR(a.flags.keywords[0], "$Junk");
	TJ_ASSERT(a.has_date);
	TJ_ASSERT_INT(a.date, ==, 760686745); /* 1994-02-08 05:52:25 UTC */
	TJ_ASSERT_INT(a.tz_min, ==, -480);
	imap_parser_free(&p);

	c = imap_test_parse1(&p, "a APPEND Drafts \"07-Feb-1994 21:52:25 +0100\" {0+}\r\n\r\n");
	TJ_OKRC(imap_append_parse(&a, c->args, c->argc, &err));
	TJ_ASSERT(a.has_date);
	TJ_ASSERT_INT(a.message_len, ==, 0);
	imap_parser_free(&p);

	/* literal8 may carry NULs, a plain literal may not */
	static const char bin[] = "a APPEND INBOX () ~{3+}\r\na\0b\r\n";
	static const char nul[] = "a APPEND INBOX {3+}\r\na\0b\r\n";
	size_t used;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, true);
	TJ_ASSERT_INT(imap_parser_feed(p, bin, sizeof(bin) - 1, &used), ==, 0);
	c = imap_parser_command(p);
	TJ_OKRC(imap_append_parse(&a, c->args, c->argc, &err));
	TJ_ASSERT(a.binary);
	TJ_ASSERT_MEM(a.message, a.message_len, "a\0b", 3);
	TJ_ASSERT_INT(imap_parser_feed(p, nul, sizeof(nul) - 1, &used), ==, 0);
	c = imap_parser_command(p);
	TJ_ASSERT_INT(imap_append_parse(&a, c->args, c->argc, &err), ==, TJ_EINVAL);
	imap_parser_free(&p);
	imap_append_free(&a);

	static const char *const bad[] = {
		"a APPEND INBOX\r\n", "a APPEND INBOX \"text\"\r\n", "a APPEND INBOX hello\r\n",
		"a APPEND INBOX (\\Recent) {1+}\r\nx\r\n", "a APPEND INBOX \"bad date\" {1+}\r\nx\r\n",
		"a APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {1+}\r\nx\r\n",
		"a APPEND INBOX {1+}\r\nx {1+}\r\ny\r\n", "a APPEND INBOX {1+}\r\nx ()\r\n",
		"a APPEND INBOX () () {1+}\r\nx\r\n", "a APPEND (x) {1+}\r\nx\r\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = imap_test_parse1(&p, bad[i]);
		struct imap_append aa = IMAP_APPEND_INIT;
		err = NULL;
		if (imap_append_parse(&aa, c->args, c->argc, &err) != TJ_EINVAL)
			TJ_FAIL("accepted: %s", bad[i]);
		TJ_ASSERT(err != NULL);
		imap_append_free(&aa);
		imap_parser_free(&p);
	}
}

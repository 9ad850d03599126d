/*
 * test-imap-parser.c - the incremental IMAP command parser: every argument
 * kind, literals, limits, BAD + resynchronisation, and split-anywhere
 * feeding (each case is replayed in chunks of 1, 2, 3, 5, 7, 64 bytes and
 * whole, and must give the same transcript).
 */
#include "common/buf.h"
#include "common/err.h"
#include "protocol/imap/imap-parser.h"
#include "tests/protocol/imap/imap-test-util.h"

#include <errno.h>

/* ---- table of transcripts ---- */

struct pcase {
	const char *name;
	const char *in;
	size_t len;
	bool auth;
	const char *want;
};

#define PC(n, in, auth, want) {n, in, sizeof(in) - 1, auth, want}

static const struct pcase cases[] = {
	PC("noop", "a1 NOOP\r\n", false, "a1 NOOP\n"),
	PC("name_upcased", "a1 noop\r\n", false, "a1 NOOP\n"),
	PC("bare_lf", "a1 NOOP\n", false, "a1 NOOP\n"),
	PC("empty_lines_ignored", "\r\n\n\r\na1 NOOP\r\n", false, "a1 NOOP\n"),
	PC("pipelined", "a CAPABILITY\r\nb NOOP\r\nc LOGOUT\r\n", false,
	 "a CAPABILITY\nb NOOP\nc LOGOUT\n"),
	PC("atoms_and_quoted", "a LOGIN joe \"se\\\"cr\\\\et pw\"\r\n", false,
	 "a LOGIN joe \"se\\\"cr\\\\et pw\"\n"),
	PC("empty_quoted", "a LOGIN \"\" \"\"\r\n", false, "a LOGIN \"\" \"\"\n"),
	PC("utf8_quoted", "a SELECT \"Entw\xc3\xbcrfe\"\r\n", true, "a SELECT \"Entw\\xc3\\xbcrfe\"\n"),
	PC("nil", "a ID NIL\r\n", false, "a ID NIL\n"),
	PC("nil_any_case", "a ID nil\r\n", false, "a ID NIL\n"),
	PC("nested_lists", "a X (a (b (c)) () \"d\")\r\n", true, "a X (a (b (c)) () \"d\")\n"),
	PC("id_list", "a ID (\"name\" \"Thunderbird\" \"version\" NIL)\r\n", false,
	 "a ID (\"name\" \"Thunderbird\" \"version\" NIL)\n"),
	PC("flags_list", "a STORE 1:* +FLAGS.SILENT (\\Seen $Forwarded \\Deleted)\r\n", true,
	 "a STORE 1:* +FLAGS.SILENT (\\Seen $Forwarded \\Deleted)\n"),
	PC("list_wildcards", "a LIST \"\" %/*\r\n", true, "a LIST \"\" %/*\n"),
	PC("brackets_in_mailbox", "a SELECT [Gmail]/Sent\r\n", true, "a SELECT [Gmail]/Sent\n"),
	PC("section_only_in_fetch", "a SELECT BODY[x]\r\n", true, "a SELECT BODY[x]\n"),
	PC("tilde_atom", "a SELECT ~user/Mail\r\n", true, "a SELECT ~user/Mail\n"),
	PC("tilde_alone", "a SELECT ~\r\n", true, "a SELECT ~\n"),
	PC("uid_command", "a uid fetch 1:* (FLAGS)\r\n", true, "a UID FETCH 1:* (FLAGS)\n"),
	PC("sync_literal", "a LOGIN {4}\r\nuser {6}\r\npa ss\n\r\n", false,
	 "+\n+\na LOGIN {4}\"user\" {6}\"pa ss\\x0a\"\n"),
	PC("nonsync_literal", "a LOGIN {4+}\r\nuser {4+}\r\npass\r\n", false,
	 "a LOGIN {4+}\"user\" {4+}\"pass\"\n"),
	PC("literal_lf_only_header", "a LOGIN {1}\nx y\r\n", false, "+\na LOGIN {1}\"x\" y\n"),
	PC("empty_sync_literal", "a LOGIN {0}\r\n x\r\n", false, "+\na LOGIN {0}\"\" x\n"),
	PC("empty_nonsync_literal", "a LOGIN {0+}\r\n x\r\n", false, "a LOGIN {0+}\"\" x\n"),
	PC("literal_with_crlf_inside", "a APPEND INBOX {7+}\r\nA\r\n\r\nB.\r\n", true,
	 "a APPEND INBOX {7+}\"A\\x0d\\x0a\\x0d\\x0aB.\"\n"),
	PC("literal8", "a APPEND INBOX ~{3}\r\na\0b\r\n", true, "+\na APPEND INBOX ~{3}\"a\\x00b\"\n"),
	PC("literal8_nonsync", "a APPEND INBOX (\\Seen) ~{2+}\r\nhi\r\n", true,
	 "a APPEND INBOX (\\Seen) ~{2+}\"hi\"\n"),
	PC("literal_in_list", "a X ({1+}\r\na {2}\r\nbc)\r\n", true, "+\na X ({1+}\"a\" {2}\"bc\")\n"),
	PC("fetch_sections",
	 "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> BODY[] BINARY.SIZE[1])\r\n", true, "a FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> BODY[] BINARY.SIZE[1])\n"),
	PC("fetch_section_top", "a UID FETCH 5 BODY[1.2.MIME]\r\n", true, "a UID FETCH 5 BODY[1.2.MIME]\n"),
	PC("fetch_section_partial_only", "a FETCH 1 BODY[]<5.10>\r\n", true, "a FETCH 1 BODY[]<5.10>\n"),
	PC("fetch_section_literal_field", "a FETCH 1 BODY[HEADER.FIELDS ({4+}\r\nFROM)]\r\n", true,
	 "a FETCH 1 BODY[HEADER.FIELDS ({4+}\"FROM\")]\n"),
	/* errors and resynchronisation */
	PC("bad_char_in_name", "a1 NO\x01OP\r\nb NOOP\r\n", false,
	 "BAD a1 Invalid command name\nb NOOP\n"),
	PC("bad_tag", "a+b NOOP\r\nb NOOP\r\n", false, "BAD * Invalid tag\nb NOOP\n"),
	PC("tag_with_star", "* NOOP\r\nb NOOP\r\n", false, "BAD * Invalid tag\nb NOOP\n"),
	PC("missing_command", "a1\r\nb NOOP\r\n", false, "BAD a1 Missing command\nb NOOP\n"),
	PC("missing_tag", " NOOP\r\nb NOOP\r\n", false, "BAD * Missing tag\nb NOOP\n"),
	PC("double_space", "a1 LOGIN  x y\r\nb NOOP\r\n", false, "BAD a1 Unexpected space\nb NOOP\n"),
	PC("trailing_space", "a1 NOOP \r\nb NOOP\r\n", false, "BAD a1 Missing argument\nb NOOP\n"),
	PC("missing_paren", "a1 X (a b\r\nb NOOP\r\n", true, "BAD a1 Missing ')'\nb NOOP\n"),
	PC("extra_paren", "a1 X a)\r\nb NOOP\r\n", true, "BAD a1 Unexpected ')'\nb NOOP\n"),
	PC("paren_after_space", "a1 X (a )\r\nb NOOP\r\n", true, "BAD a1 Unexpected ')'\nb NOOP\n"),
	PC("no_space_after_list", "a1 X (a)b\r\nb NOOP\r\n", true,
	 "BAD a1 Missing space between arguments\nb NOOP\n"),
	PC("unterminated_quoted", "a1 LOGIN \"abc\r\nb NOOP\r\n", false,
	 "BAD a1 Unterminated quoted string\nb NOOP\n"),
	PC("bad_escape", "a1 LOGIN \"a\\bc\"\r\nb NOOP\r\n", false,
	 "BAD a1 Invalid escape in quoted string\nb NOOP\n"),
	PC("nul_in_quoted", "a1 LOGIN \"a\0b\"\r\nb NOOP\r\n", false, "BAD a1 NUL in quoted string\nb NOOP\n"),
	PC("nul_in_atom", "a1 LOGIN a\0b\r\nb NOOP\r\n", false,
	 "BAD a1 Missing space between arguments\nb NOOP\n"),
	PC("eight_bit_atom", "a1 SELECT \xc3\xa9t\xc3\xa9\r\nb NOOP\r\n", true, "BAD a1 Invalid character\nb NOOP\n"),
	PC("bad_literal_size", "a1 LOGIN {abc}\r\nb NOOP\r\n", false, "BAD a1 Invalid literal size\nb NOOP\n"),
	PC("literal_minus_syntax_refused", "a1 LOGIN {3-}\r\nb NOOP\r\n", false,
	 "BAD a1 Invalid literal size\nb NOOP\n"),
	PC("literal_not_at_eol", "a1 LOGIN {3} x\r\nb NOOP\r\n", false,
	 "BAD a1 Literal must end the line\nb NOOP\n"),
	PC("cr_without_lf", "a1 NOOP\rb NOOP\r\nc NOOP\r\n", false, "BAD a1 CR without LF\nc NOOP\n"),
	PC("uid_alone", "a1 UID\r\nb NOOP\r\n", true, "BAD a1 Missing command after UID\nb NOOP\n"),
	PC("tilde_brace_in_atom", "a1 X a~{3+}\r\nabc\r\nb NOOP\r\n", true,
	 "BAD a1 Missing space between arguments\nb NOOP\n"),
	/* a bad line announcing a non-synchronizing literal: its data is skipped */
	PC("skip_nonsync_literal", "a1 LOGIN x{5+}\r\nhe\r\nl NOOP\r\nb NOOP\r\n", false,
	 "BAD a1 Missing space between arguments\nb NOOP\n"),
	PC("skip_nonsync_literal_exact", "a1 LOGIN x{5+}\r\nhello\r\nb NOOP\r\n", false,
	 "BAD a1 Missing space between arguments\nb NOOP\n"),
	PC("skip_literal_then_more_line", "a1 X \"\\q\" {3+}\r\n\r\n\r x {2+}\r\n\r\n\r\nb NOOP\r\n", true,
	 "BAD a1 Invalid escape in quoted string\nb NOOP\n"),
	/* ...but a synchronizing one is never sent after our BAD */
	PC("skip_sync_literal", "a1 LOGIN x{5}\r\nb NOOP\r\n", false,
	 "BAD a1 Missing space between arguments\nb NOOP\n"),
	PC("sync_literal_then_error", "a1 LOGIN {2}\r\nab)\r\nb NOOP\r\n", false,
	 "+\nBAD a1 Unexpected ')'\nb NOOP\n"),
	PC("fetch_empty_partial", "a FETCH 1 BODY[]<>\r\nb NOOP\r\n", true, "BAD a Invalid partial\nb NOOP\n"),
	PC("fetch_bad_partial", "a FETCH 1 BODY[]<1x>\r\nb NOOP\r\n", true, "BAD a Invalid partial\nb NOOP\n"),
	PC("fetch_unclosed_section", "a FETCH 1 BODY[TEXT\r\nb NOOP\r\n", true, "BAD a Missing ']'\nb NOOP\n"),
	PC("fetch_space_before_bracket", "a FETCH 1 BODY[TEXT ]\r\nb NOOP\r\n", true,
	 "BAD a Unexpected ']'\nb NOOP\n"),
	PC("fetch_paren_closes_section", "a FETCH 1 (BODY[TEXT)]\r\nb NOOP\r\n", true,
	 "BAD a Unexpected ')'\nb NOOP\n"),
	/* limits: literals */
	PC("preauth_sync_literal_too_big", "a LOGIN {8193}\r\nb NOOP\r\n", false,
	 "BAD a Literal too big\nb NOOP\n"),
	PC("preauth_literal_at_limit", "a LOGIN {8192}\r\n", false, "+\n"),
	PC("auth_literal_ok", "a LOGIN {9000}\r\n", true, "+\n"),
	PC("auth_literal_too_big", "a SEARCH TEXT {1048577}\r\nb NOOP\r\n", true,
	 "BAD a Literal too big\nb NOOP\n"),
	PC("append_literal_big_ok", "a APPEND INBOX {67108864}\r\n", true, "+\n"),
	PC("append_literal_too_big", "a APPEND INBOX {67108865}\r\nb NOOP\r\n", true,
	 "BAD a Literal too big\nb NOOP\n"),
	PC("literal_size_overflow", "a LOGIN {99999999999999999999999999}\r\nb NOOP\r\n", true,
	 "BAD a Literal too big\nb NOOP\n"),
};

static void check_case(const struct pcase *c)
{
	size_t len = c->len;
	static const size_t chunks[] = {0, 1, 2, 3, 5, 7, 64};
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		tj_buf out = TJ_BUF_INIT;
		imap_test_transcript(c->in, len, c->auth, false, chunks[k], &out);
		if (strcmp((const char *)out.data, c->want) != 0)
			TJ_FAIL("case %s chunk %zu:\n got: %s\nwant: %s", c->name, chunks[k],
				(const char *)out.data, c->want);
		tj_buf_free(&out);
	}
}

TJ_TEST(parser_table_all_chunkings)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_case(&cases[i]);
}

/* every split point of a long, mixed stream gives the same transcript */
TJ_TEST(parser_every_two_way_split)
{
	const char in[] = "a1 LOGIN {3}\r\nbob \"x\\\"y\"\r\n"
			  "a2 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (A B)]<0.10> FLAGS)\r\n"
			  "a3 BAD\x01 x{3+}\r\nzzz\r\n"
			  "a4 APPEND INBOX ~{4+}\r\n\0\r\n\1 x\r\n";
	size_t len = sizeof(in) - 1;
	tj_buf whole = TJ_BUF_INIT;
	imap_test_transcript(in, len, true, false, 0, &whole);
	TJ_ASSERT_STR((const char *)whole.data,
		      "+\na1 LOGIN {3}\"bob\" \"x\\\"y\"\n"
		      "a2 FETCH 1:* (BODY.PEEK[HEADER.FIELDS (A B)]<0.10> FLAGS)\n"
		      "BAD a3 Invalid command name\n"
		      "a4 APPEND INBOX ~{4+}\"\\x00\\x0d\\x0a\\x01\" x\n");
	for (size_t split = 1; split < len; split++) {
		tj_buf out = TJ_BUF_INIT;
		imap_test_transcript_split(in, len, true, split, &out);
		if (strcmp((const char *)out.data, (const char *)whole.data) != 0)
			TJ_FAIL("split %zu differs:\n%s", split, (const char *)out.data);
		tj_buf_free(&out);
	}
	tj_buf_free(&whole);
}

/* ---- structure, kinds, error details ---- */

TJ_TEST(parser_tree_shape)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, true);
	const char *in = "t7 UID FETCH 1,3 (UID BODY.PEEK[1.HEADER.FIELDS.NOT (X-A)]<10.20> BINARY[2])\r\n";
	size_t used;
	TJ_ASSERT_INT(imap_parser_feed(p, in, strlen(in), &used), ==, 0);
	TJ_ASSERT_INT(used, ==, strlen(in));
	const struct imap_command *cmd = imap_parser_command(p);
	TJ_ASSERT(cmd != NULL);
	TJ_ASSERT(imap_parser_error(p) == NULL);
	TJ_ASSERT_STR(cmd->tag, "t7");
	TJ_ASSERT_STR(cmd->name, "UID FETCH");
	TJ_ASSERT_INT(cmd->kind, ==, IMAP_CMD_UID_FETCH);
	TJ_ASSERT_INT(cmd->argc, ==, 2);
	TJ_ASSERT_INT(cmd->args[0].type, ==, IMAP_ARG_ATOM);
	TJ_ASSERT_STR(cmd->args[0].str, "1,3");
	const struct imap_arg *l = &cmd->args[1];
	TJ_ASSERT_INT(l->type, ==, IMAP_ARG_LIST);
	TJ_ASSERT_INT(l->count, ==, 3);
	const struct imap_arg *s = &l->list[1];
	TJ_ASSERT_INT(s->type, ==, IMAP_ARG_SECTION);
	TJ_ASSERT_STR(s->str, "BODY.PEEK");
	TJ_ASSERT_INT(s->count, ==, 2);
	TJ_ASSERT_STR(s->list[0].str, "1.HEADER.FIELDS.NOT");
	TJ_ASSERT_INT(s->list[1].type, ==, IMAP_ARG_LIST);
	TJ_ASSERT_STR(s->list[1].list[0].str, "X-A");
	TJ_ASSERT(s->has_partial);
	TJ_ASSERT_MEM(s->partial, s->partial_len, "10.20", 5);
	TJ_ASSERT_INT(l->list[2].type, ==, IMAP_ARG_SECTION);
	TJ_ASSERT(!l->list[2].has_partial);
	TJ_ASSERT_STR(l->list[2].list[0].str, "2");
	/* the next feed invalidates the command */
	TJ_ASSERT_INT(imap_parser_feed(p, "", 0, &used), ==, TJ_NEED_MORE);
	TJ_ASSERT(imap_parser_command(p) == NULL);
	TJ_ASSERT(imap_parser_idle(p));
	imap_parser_free(&p);
	TJ_ASSERT(p == NULL);
	imap_parser_free(&p); /* NULL is fine */
}

TJ_TEST(parser_error_details)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	size_t used;
	const char *in = "abc LOGIN (\r\nnext NOOP\r\n";
	TJ_ASSERT_INT(imap_parser_feed(p, in, strlen(in), &used), ==, TJ_EPROTO);
	TJ_ASSERT_INT(used, ==, strlen("abc LOGIN (\r"));
	const struct imap_parse_error *e = imap_parser_error(p);
	TJ_ASSERT(e != NULL);
	TJ_ASSERT(e->tag_known);
	TJ_ASSERT_STR(e->tag, "abc");
	TJ_ASSERT_STR(e->reason, "Missing ')'");
	TJ_ASSERT(!e->close_suggested);
	TJ_ASSERT(!imap_parser_idle(p)); /* still skipping the LF */
	size_t used2;
	TJ_ASSERT_INT(imap_parser_feed(p, in + used, strlen(in) - used, &used2), ==, 0);
	TJ_ASSERT_STR(imap_parser_command(p)->tag, "next");
	TJ_ASSERT(imap_parser_error(p) == NULL);

	TJ_ASSERT_INT(imap_parser_feed(p, "ab\"c NOOP\r\n", 11, &used), ==, TJ_EPROTO);
	e = imap_parser_error(p);
	TJ_ASSERT(!e->tag_known);
	TJ_ASSERT(e->tag == NULL);
	imap_parser_free(&p);
}

TJ_TEST(parser_continuation_stops_input)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	const char *in = "a LOGIN {3}\r\nbob pw\r\n";
	size_t used;
	TJ_ASSERT_INT(imap_parser_feed(p, in, strlen(in), &used), ==, IMAP_NEED_CONTINUATION);
	TJ_ASSERT_INT(used, ==, 13); /* right after the literal's CRLF */
	TJ_ASSERT(imap_parser_command(p) == NULL);
	size_t used2;
	TJ_ASSERT_INT(imap_parser_feed(p, in + used, strlen(in) - used, &used2), ==, 0);
	TJ_ASSERT_INT(used + used2, ==, strlen(in));
	imap_parser_free(&p);
}

TJ_TEST(parser_command_kinds)
{
	static const struct {
		const char *line;
		enum imap_cmd kind;
	} k[] = {
		{"a capability\r\n", IMAP_CMD_CAPABILITY}, {"a Uid Expunge 1\r\n", IMAP_CMD_UID_EXPUNGE},
		{"a UID MOVE 1 x\r\n", IMAP_CMD_UID_MOVE},  {"a idle\r\n", IMAP_CMD_IDLE},
		{"a XYZZY\r\n", IMAP_CMD_UNKNOWN},         {"a UID FOO\r\n", IMAP_CMD_UNKNOWN},
		{"a FETCHX 1\r\n", IMAP_CMD_UNKNOWN},
	};
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++) {
		size_t used;
		TJ_ASSERT_INT(imap_parser_feed(p, k[i].line, strlen(k[i].line), &used), ==, 0);
		TJ_ASSERT_INT(imap_parser_command(p)->kind, ==, k[i].kind);
	}
	imap_parser_free(&p);
}

/* ---- limits ---- */

static void feed_expect(struct imap_parser *p, const void *buf, size_t len, int want, size_t want_used)
{
	size_t used;
	int rc = imap_parser_feed(p, buf, len, &used);
	if (rc != want || used != want_used)
		TJ_FAIL("feed: rc %d (want %d), used %zu (want %zu)", rc, want, used, want_used);
}

TJ_TEST(parser_line_too_long_then_recovers)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, true);
	tj_buf in = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&in, "a SEARCH TEXT "));
	for (int i = 0; i < IMAP_MAX_LINE; i++)
		TJ_OKRC(tj_buf_putc(&in, 'x'));
	TJ_OKRC(tj_buf_puts(&in, "\r\nb NOOP\r\n"));
	tj_buf out = TJ_BUF_INIT;
	imap_test_transcript((const char *)in.data, in.len, true, false, 0, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Line too long\nb NOOP\n");
	tj_buf_reset(&out);
	imap_test_transcript((const char *)in.data, in.len, true, false, 4096, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Line too long\nb NOOP\n");
	tj_buf_free(&out);
	tj_buf_free(&in);
	imap_parser_free(&p);
}

TJ_TEST(parser_preauth_line_limit_is_tighter)
{
	tj_buf in = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&in, "a AUTHENTICATE GSSAPI "));
	while (in.len < IMAP_MAX_LINE_PREAUTH + 10)
		TJ_OKRC(tj_buf_putc(&in, 'Q'));
	TJ_OKRC(tj_buf_puts(&in, "\r\n"));
	tj_buf out = TJ_BUF_INIT;
	imap_test_transcript((const char *)in.data, in.len, false, false, 0, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Line too long\n");
	tj_buf_reset(&out);
	imap_test_transcript((const char *)in.data, in.len, true, false, 0, &out);
	TJ_ASSERT(HAS_PREFIX((const char *)out.data, "a AUTHENTICATE GSSAPI QQQ"));
	tj_buf_free(&out);
	tj_buf_free(&in);
}

TJ_TEST(parser_preauth_arg_limit)
{
	tj_buf in = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&in, "a ID ("));
	for (int i = 0; i < IMAP_MAX_ARGS_PREAUTH; i++)
		TJ_OKRC(tj_buf_printf(&in, "%sx", i ? " " : ""));
	TJ_OKRC(tj_buf_puts(&in, ")\r\nb NOOP\r\n"));
	tj_buf out = TJ_BUF_INIT;
	/* the list itself is a node: 65 nodes before auth is one too many */
	imap_test_transcript((const char *)in.data, in.len, false, false, 1, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Too many arguments\nb NOOP\n");
	tj_buf_reset(&out);
	imap_test_transcript((const char *)in.data, in.len, true, false, 1, &out);
	TJ_ASSERT(HAS_PREFIX((const char *)out.data, "a ID (x x"));
	TJ_ASSERT(strstr((const char *)out.data, "\nb NOOP\n") != NULL);
	tj_buf_free(&out);
	tj_buf_free(&in);
}

TJ_TEST(parser_auth_arg_limit)
{
	tj_buf in = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&in, "a X"));
	for (int i = 0; i < IMAP_MAX_ARGS; i++)
		TJ_OKRC(tj_buf_puts(&in, " 1"));
	TJ_OKRC(tj_buf_puts(&in, "\r\nb X"));
	for (int i = 0; i < IMAP_MAX_ARGS + 1; i++)
		TJ_OKRC(tj_buf_puts(&in, " 1"));
	TJ_OKRC(tj_buf_puts(&in, "\r\n"));
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, true);
	size_t used;
	TJ_ASSERT_INT(imap_parser_feed(p, in.data, in.len, &used), ==, 0);
	TJ_ASSERT_INT(imap_parser_command(p)->argc, ==, IMAP_MAX_ARGS);
	size_t used2;
	TJ_ASSERT_INT(imap_parser_feed(p, in.data + used, in.len - used, &used2), ==, TJ_ETOOBIG);
	TJ_ASSERT_STR(imap_parser_error(p)->reason, "Too many arguments");
	imap_parser_free(&p);
	tj_buf_free(&in);
}

TJ_TEST(parser_nesting_limit)
{
	tj_buf ok = TJ_BUF_INIT, bad = TJ_BUF_INIT, out = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&ok, "a X "));
	TJ_OKRC(tj_buf_puts(&bad, "a X "));
	for (int i = 0; i < IMAP_MAX_DEPTH; i++)
		TJ_OKRC(tj_buf_putc(&ok, '('));
	for (int i = 0; i < IMAP_MAX_DEPTH; i++)
		TJ_OKRC(tj_buf_putc(&ok, ')'));
	for (int i = 0; i <= IMAP_MAX_DEPTH; i++)
		TJ_OKRC(tj_buf_putc(&bad, '('));
	for (int i = 0; i <= IMAP_MAX_DEPTH; i++)
		TJ_OKRC(tj_buf_putc(&bad, ')'));
	TJ_OKRC(tj_buf_puts(&ok, "\r\n"));
	TJ_OKRC(tj_buf_puts(&bad, "\r\nb NOOP\r\n"));
	imap_test_transcript((const char *)ok.data, ok.len, true, false, 0, &out);
	TJ_ASSERT(HAS_PREFIX((const char *)out.data, "a X (((("));
	tj_buf_reset(&out);
	imap_test_transcript((const char *)bad.data, bad.len, true, false, 0, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Too deeply nested\nb NOOP\n");
	tj_buf_free(&ok);
	tj_buf_free(&bad);
	tj_buf_free(&out);
}

TJ_TEST(parser_tag_limit)
{
	char in[IMAP_MAX_TAG + 32];
	memset(in, 'T', IMAP_MAX_TAG + 1);
	memcpy(in + IMAP_MAX_TAG + 1, " NOOP\r\nb NOOP\r\n", 16);
	tj_buf out = TJ_BUF_INIT;
	imap_test_transcript(in, strlen(in), false, false, 1, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD * Tag too long\nb NOOP\n");
	tj_buf_free(&out);
}

/* a non-synchronizing literal over the limit: its data is skipped, and
 * before authentication the session is told to consider closing */
TJ_TEST(parser_preauth_nonsync_literal_too_big)
{
	tj_buf in = TJ_BUF_INIT, out = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&in, "a LOGIN {9000+}\r\n"));
	for (int i = 0; i < 9000; i++)
		TJ_OKRC(tj_buf_putc(&in, i % 50 == 0 ? '\n' : 'z'));
	TJ_OKRC(tj_buf_puts(&in, " pw\r\nb NOOP\r\n"));
	imap_test_transcript((const char *)in.data, in.len, false, false, 0, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Literal too big (close)\nb NOOP\n");
	tj_buf_reset(&out);
	imap_test_transcript((const char *)in.data, in.len, false, false, 1, &out);
	TJ_ASSERT_STR((const char *)out.data, "BAD a Literal too big (close)\nb NOOP\n");
	tj_buf_reset(&out);
	/* after login the same literal is fine */
	imap_test_transcript((const char *)in.data, in.len, true, false, 0, &out);
	TJ_ASSERT(HAS_PREFIX((const char *)out.data, "a LOGIN {9000+}\"\\x0azz"));
	TJ_ASSERT(strstr((const char *)out.data, "\" pw\nb NOOP\n") != NULL);
	tj_buf_free(&in);
	tj_buf_free(&out);
}

TJ_TEST(parser_literal_minus)
{
	tj_buf in = TJ_BUF_INIT, out = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&in, "a APPEND INBOX {4097+}\r\n"));
	for (int i = 0; i < 4097; i++)
		TJ_OKRC(tj_buf_putc(&in, 'm'));
	TJ_OKRC(tj_buf_puts(&in, "\r\nb APPEND INBOX {4096+}\r\n"));
	for (int i = 0; i < 4096; i++)
		TJ_OKRC(tj_buf_putc(&in, 'm'));
	TJ_OKRC(tj_buf_puts(&in, "\r\nc NOOP\r\n"));
	imap_test_transcript((const char *)in.data, in.len, true, true, 7, &out);
	const char *o = (const char *)out.data;
	TJ_ASSERT(HAS_PREFIX(o, "BAD a Non-synchronizing literal too big (LITERAL-)\nb APPEND INBOX {4096+}\"mmm"));
	TJ_ASSERT(strstr(o, "\nc NOOP\n") != NULL);
	tj_buf_reset(&out);
	/* without LITERAL- both are accepted */
	imap_test_transcript((const char *)in.data, in.len, true, false, 0, &out);
	TJ_ASSERT(HAS_PREFIX((const char *)out.data, "a APPEND INBOX {4097+}"));
	tj_buf_free(&in);
	tj_buf_free(&out);
}

TJ_TEST(parser_append_literal_limit_per_command)
{
	/* 1.5 MiB is fine for APPEND, too big for anything else */
	size_t n = 1536 * 1024;
	tj_buf in = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_printf(&in, "a APPEND INBOX {%zu+}\r\n", n));
	TJ_OKRC(tj_buf_reserve(&in, n + 64));
	memset(in.data + in.len, 'x', n);
	in.len += n;
	TJ_OKRC(tj_buf_printf(&in, "\r\nb SEARCH TEXT {%zu+}\r\n", n));
	TJ_OKRC(tj_buf_reserve(&in, n + 64));
	memset(in.data + in.len, 'x', n);
	in.len += n;
	TJ_OKRC(tj_buf_puts(&in, "\r\nc NOOP\r\n"));
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, true);
	size_t used, off = 0;
	TJ_ASSERT_INT(imap_parser_feed(p, in.data, in.len, &used), ==, 0);
	TJ_ASSERT_INT(imap_parser_command(p)->args[1].len, ==, n);
	off += used;
	TJ_ASSERT_INT(imap_parser_feed(p, in.data + off, in.len - off, &used), ==, TJ_ETOOBIG);
	off += used;
	TJ_ASSERT_INT(imap_parser_feed(p, in.data + off, in.len - off, &used), ==, 0);
	TJ_ASSERT_STR(imap_parser_command(p)->tag, "c");
	TJ_ASSERT_INT(off + used, ==, in.len);
	imap_parser_free(&p);
	tj_buf_free(&in);
}

TJ_TEST(parser_authenticated_switch)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	const char *big = "a LOGIN {9000}\r\n";
	feed_expect(p, big, strlen(big), TJ_ETOOBIG, strlen(big));
	imap_parser_set_authenticated(p, true);
	feed_expect(p, big, strlen(big), IMAP_NEED_CONTINUATION, strlen(big));
	imap_parser_free(&p);
}

/* ---- raw lines (IDLE DONE, SASL responses) ---- */

TJ_TEST(parser_read_line)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	const char *line;
	size_t len, used;
	const char *in = "DO";
	TJ_ASSERT_INT(imap_parser_read_line(p, in, 2, &used, &line, &len), ==, TJ_NEED_MORE);
	TJ_ASSERT_INT(used, ==, 2);
	TJ_ASSERT(!imap_parser_idle(p));
	in = "NE\r\na NOOP\r\n";
	TJ_ASSERT_INT(imap_parser_read_line(p, in, strlen(in), &used, &line, &len), ==, 0);
	TJ_ASSERT_INT(used, ==, 4);
	TJ_ASSERT_STR(line, "DONE");
	TJ_ASSERT_INT(len, ==, 4);
	TJ_ASSERT(imap_parser_idle(p));
	/* back to commands */
	size_t u2;
	TJ_ASSERT_INT(imap_parser_feed(p, in + used, strlen(in) - used, &u2), ==, 0);
	TJ_ASSERT_STR(imap_parser_command(p)->name, "NOOP");
	/* a line too long is reported once and skipped */
	tj_buf big = TJ_BUF_INIT;
	for (int i = 0; i < IMAP_MAX_LINE_PREAUTH + 5; i++)
		TJ_OKRC(tj_buf_putc(&big, 'b'));
	TJ_OKRC(tj_buf_puts(&big, "\r\nok\r\n"));
	TJ_ASSERT_INT(imap_parser_read_line(p, big.data, big.len, &used, &line, &len), ==, TJ_ETOOBIG);
	TJ_ASSERT_INT(imap_parser_read_line(p, big.data + used, big.len - used, &u2, &line, &len), ==, 0);
	TJ_ASSERT_STR(line, "ok");
	TJ_ASSERT_INT(used + u2, ==, big.len);
	/* refused while a command is half read */
	TJ_ASSERT_INT(imap_parser_feed(p, "x NO", 4, &used), ==, TJ_NEED_MORE);
	TJ_ASSERT_INT(imap_parser_read_line(p, "DONE\r\n", 6, &used, &line, &len), ==, TJ_ESTATE);
	tj_buf_free(&big);
	imap_parser_free(&p);
}

/* ---- argument getters ---- */

TJ_TEST(parser_arg_getters)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	static const char in[] = "a X atom \"q\" {1+}\r\nL NIL (l) 4294967295 4294967296 9223372036854775807 "
				 "9223372036854775808 a*b {3+}\r\na\0b\r\n";
	size_t used;
	TJ_ASSERT_INT(imap_parser_feed(p, in, sizeof(in) - 1, &used), ==, 0);
	const struct imap_command *c = imap_parser_command(p);
	TJ_ASSERT_INT(c->argc, ==, 11);
	const char *s;
	size_t n;
	uint32_t u;
	uint64_t u64;
	const struct imap_arg *l;
	TJ_OKRC(imap_arg_get_astring(&c->args[0], &s, &n));
	TJ_ASSERT_STR(s, "atom");
	TJ_ASSERT_INT(imap_arg_get_string(&c->args[0], &s, &n), ==, TJ_EINVAL);
	TJ_OKRC(imap_arg_get_string(&c->args[1], &s, &n));
	TJ_OKRC(imap_arg_get_string(&c->args[2], &s, &n));
	TJ_ASSERT_STR(s, "L");
	TJ_OKRC(imap_arg_get_astring(&c->args[3], &s, &n));
	TJ_ASSERT_STR(s, "NIL");
	TJ_OKRC(imap_arg_get_nstring(&c->args[3], &s, &n));
	TJ_ASSERT(s == NULL);
	TJ_ASSERT_INT(imap_arg_get_astring(&c->args[4], &s, &n), ==, TJ_EINVAL);
	TJ_OKRC(imap_arg_get_list(&c->args[4], &l, &n));
	TJ_ASSERT_INT(n, ==, 1);
	TJ_OKRC(imap_arg_get_number(&c->args[5], &u));
	TJ_ASSERT(u == 4294967295u);
	TJ_ASSERT_INT(imap_arg_get_number(&c->args[6], &u), ==, TJ_EINVAL);
	TJ_OKRC(imap_arg_get_number64(&c->args[7], &u64));
	TJ_ASSERT(u64 == 9223372036854775807ull);
	TJ_ASSERT_INT(imap_arg_get_number64(&c->args[8], &u64), ==, TJ_EINVAL);
	TJ_ASSERT_INT(imap_arg_get_astring(&c->args[9], &s, &n), ==, TJ_EINVAL); /* wildcard */
	TJ_OKRC(imap_arg_get_astring(&c->args[10], &s, &n));
	TJ_ASSERT_INT(n, ==, 3);
	TJ_ASSERT_INT(imap_arg_get_mailbox(&c->args[10], &s, &n), ==, TJ_EINVAL); /* NUL */
	TJ_OKRC(imap_arg_get_mailbox(&c->args[0], &s, &n));
	TJ_ASSERT(imap_arg_is_atom(&c->args[0], "ATOM"));
	TJ_ASSERT(!imap_arg_is_atom(&c->args[1], "q"));
	imap_parser_free(&p);
}

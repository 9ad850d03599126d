/*
 * imap-test-util.h - helpers shared by the IMAP tests: render parser
 * results as a text transcript so whole sessions compare with one string.
 *
 * Transcript lines: a command as "tag NAME args" (atoms bare, quoted and
 * literal text in quotes with \xNN escapes, literals prefixed {n}/{n+}/~{n},
 * lists in parens, sections as NAME[...]<partial>); "+" for a continuation
 * request; "BAD tag reason" ("*" when the tag is unknown, " (close)" when
 * closing is suggested).
 */
#ifndef TJ_IMAP_TEST_UTIL_H
#define TJ_IMAP_TEST_UTIL_H

#include "common/buf.h"
#include "common/err.h"
#include "protocol/imap/imap-parser.h"
#include "tests/harness.h"

#define HAS_PREFIX(s, lit) (strncmp((s), (lit), strlen(lit)) == 0)

static void imap_test_dump_str(tj_buf *out, const char *s, size_t len)
{
	tj_buf_putc(out, '"');
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];
		if (c == '"' || c == '\\')
			tj_buf_printf(out, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f)
			tj_buf_printf(out, "\\x%02x", c);
		else
			tj_buf_putc(out, c);
	}
	tj_buf_putc(out, '"');
}

static void imap_test_dump_args(tj_buf *out, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i)
			tj_buf_putc(out, ' ');
		switch (a[i].type) {
		case IMAP_ARG_ATOM:
			tj_buf_append(out, a[i].str, a[i].len);
			break;
		case IMAP_ARG_NIL:
			tj_buf_puts(out, "NIL");
			break;
		case IMAP_ARG_QUOTED:
			imap_test_dump_str(out, a[i].str, a[i].len);
			break;
		case IMAP_ARG_LITERAL:
			tj_buf_printf(out, "%s{%zu%s}", a[i].literal8 ? "~" : "", a[i].len, a[i].nonsync ? "+" : "");
			imap_test_dump_str(out, a[i].str, a[i].len);
			break;
		case IMAP_ARG_LIST:
			tj_buf_putc(out, '(');
			imap_test_dump_args(out, a[i].list, a[i].count);
			tj_buf_putc(out, ')');
			break;
		case IMAP_ARG_SECTION:
			tj_buf_append(out, a[i].str, a[i].len);
			tj_buf_putc(out, '[');
			imap_test_dump_args(out, a[i].list, a[i].count);
			tj_buf_putc(out, ']');
			if (a[i].has_partial) {
				tj_buf_putc(out, '<');
				tj_buf_append(out, a[i].partial, a[i].partial_len);
				tj_buf_putc(out, '>');
			}
			break;
		}
	}
}

static void imap_test_dump_command(tj_buf *out, const struct imap_command *c)
{
	tj_buf_printf(out, "%s %s", c->tag, c->name);
	if (c->argc) {
		tj_buf_putc(out, ' ');
		imap_test_dump_args(out, c->args, c->argc);
	}
	tj_buf_putc(out, '\n');
}

/* record one non-NEED_MORE result */
static void imap_test_record(struct imap_parser *p, int rc, tj_buf *out)
{
	if (rc == 0) {
		imap_test_dump_command(out, imap_parser_command(p));
	} else if (rc == IMAP_NEED_CONTINUATION) {
		tj_buf_puts(out, "+\n");
	} else if (rc == TJ_EPROTO || rc == TJ_ETOOBIG) {
		const struct imap_parse_error *e = imap_parser_error(p);
		TJ_ASSERT(e != NULL);
		tj_buf_printf(out, "BAD %s %s%s\n", e->tag_known ? e->tag : "*", e->reason,
			      e->close_suggested ? " (close)" : "");
	} else {
		TJ_FAIL("unexpected feed result %d", rc);
	}
}

/*
 * Feed in[0..len) as a session would when bytes arrive chunk at a time
 * (chunk 0: all at once): unconsumed bytes are offered again with the next
 * arrival.  Appends the transcript to out (always NUL-terminated).
 */
static void imap_test_transcript(const char *in, size_t len, bool auth, bool literal_minus, size_t chunk,
				 tj_buf *out)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, auth);
	imap_parser_set_literal_minus(p, literal_minus);
	if (chunk == 0)
		chunk = len ? len : 1;
	size_t pos = 0, avail = chunk < len ? chunk : len;
	tj_buf_puts(out, "");
	for (;;) {
		size_t used = 0;
		int rc = imap_parser_feed(p, in + pos, avail - pos, &used);
		TJ_ASSERT(used <= avail - pos);
		pos += used;
		if (rc == TJ_NEED_MORE) {
			TJ_ASSERT_INT(pos, ==, avail);
			if (avail == len)
				break;
			avail = avail + chunk < len ? avail + chunk : len;
			continue;
		}
		TJ_ASSERT(used > 0); /* every result consumes input */
		imap_test_record(p, rc, out);
	}
	imap_parser_free(&p);
}

/* two feeds: in[0..split) then the rest */
static void imap_test_transcript_split(const char *in, size_t len, bool auth, size_t split, tj_buf *out)
{
	struct imap_parser *p;
	TJ_OKRC(imap_parser_new(&p));
	imap_parser_set_authenticated(p, auth);
	size_t pos = 0, avail = split;
	tj_buf_puts(out, "");
	for (;;) {
		size_t used = 0;
		int rc = imap_parser_feed(p, in + pos, avail - pos, &used);
		pos += used;
		if (rc == TJ_NEED_MORE) {
			if (avail == len)
				break;
			avail = len;
			continue;
		}
		imap_test_record(p, rc, out);
	}
	imap_parser_free(&p);
}

/* parse exactly one complete command (authenticated); the parser is
 * returned through p_r so the command stays valid until it is freed */
static const struct imap_command *imap_test_parse1(struct imap_parser **p_r, const char *line)
{
	TJ_OKRC(imap_parser_new(p_r));
	imap_parser_set_authenticated(*p_r, true);
	size_t used;
	int rc = imap_parser_feed(*p_r, line, strlen(line), &used);
	if (rc != 0)
		TJ_FAIL("parse of \"%s\" failed: %d %s", line, rc,
			imap_parser_error(*p_r) ? imap_parser_error(*p_r)->reason : "");
	TJ_ASSERT_INT(used, ==, strlen(line));
	return imap_parser_command(*p_r);
}

#endif

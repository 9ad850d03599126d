/*
 * test-imap-text.c - IMAP text helpers: dates, modified UTF-7, mailbox
 * wildcard matching, response writers and command-name classification.
 */
#include "common/buf.h"
#include "common/err.h"
#include "protocol/imap/imap-command.h"
#include "protocol/imap/imap-date.h"
#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-mailbox.h"
#include "protocol/imap/imap-utf7.h"
#include "protocol/imap/imap-write.h"
#include "tests/harness.h"

#include <inttypes.h>
#include <time.h>

/* ---- dates ---- */

TJ_TEST(date_parse)
{
	static const struct {
		const char *in;
		int y, m, d;
	} ok[] = {
		{"1-Feb-1994", 1994, 2, 1},   {"01-feb-1994", 1994, 2, 1}, {"29-Feb-2000", 2000, 2, 29},
		{"31-DEC-1999", 1999, 12, 31}, {"28-Feb-2100", 2100, 2, 28}, {"1-Jan-0001", 1, 1, 1},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct imap_date d;
		if (imap_date_parse(ok[i].in, strlen(ok[i].in), &d) != 0)
			TJ_FAIL("refused %s", ok[i].in);
		TJ_ASSERT_INT(d.year, ==, ok[i].y);
		TJ_ASSERT_INT(d.month, ==, ok[i].m);
		TJ_ASSERT_INT(d.day, ==, ok[i].d);
	}
	static const char *const bad[] = {"",          "1-Feb-94",    "0-Feb-1994", "32-Jan-1994",
					  "29-Feb-2100", "30-Feb-2000", "1-Fbr-1994", "1 Feb 1994",
					  "001-Feb-1994", "1-Feb-1994x", "1-Feb-19a4", "-Feb-1994",
					  "1-Feb-0000", " 1-Feb-1994"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct imap_date d;
		if (imap_date_parse(bad[i], strlen(bad[i]), &d) != TJ_EINVAL)
			TJ_FAIL("accepted \"%s\"", bad[i]);
	}
}

TJ_TEST(date_days_round_trip)
{
	struct imap_date d = {1970, 1, 1};
	TJ_ASSERT_INT(imap_date_days(&d), ==, 0);
	d = (struct imap_date){2000, 3, 1};
	TJ_ASSERT_INT(imap_date_days(&d), ==, 11017);
	/* every day from 1900 to 2200 converts both ways and agrees with timegm */
	for (int64_t days = -25567; days < 84000; days += 1) {
		struct imap_date x;
		imap_days_to_date(days, &x);
		TJ_ASSERT_INT(imap_date_days(&x), ==, days);
		if (days % 97 == 0) {
			struct tm tm = {0};
			tm.tm_year = x.year - 1900;
			tm.tm_mon = x.month - 1;
			tm.tm_mday = x.day;
			TJ_ASSERT_INT(timegm(&tm), ==, days * 86400);
		}
	}
}

TJ_TEST(datetime_parse_and_write)
{
	int64_t t;
	int tz;
	TJ_OKRC(imap_datetime_parse("17-Jul-1996 02:44:25 -0700", 26, &t, &tz));
	TJ_ASSERT_INT(t, ==, 837596665);
	TJ_ASSERT_INT(tz, ==, -420);
	TJ_OKRC(imap_datetime_parse(" 7-Jul-1996 02:44:25 +0130", 26, &t, &tz));
	TJ_ASSERT_INT(tz, ==, 90);
	TJ_OKRC(imap_datetime_parse("7-Jul-1996 02:44:25 +0000", 25, &t, &tz));
	TJ_OKRC(imap_datetime_parse("31-Dec-1998 23:59:60 +0000", 26, &t, &tz)); /* leap second */
	TJ_ASSERT_INT(t, ==, 915148799);
	static const char *const bad[] = {
		"17-Jul-1996 02:44:25",       "17-Jul-1996 24:00:00 +0000", "17-Jul-1996 02:60:00 +0000",
		"17-Jul-1996 02:44:61 +0000", "17-Jul-1996 02:44:25 0700",  "17-Jul-1996 02:44:25 +07",
		"17-Jul-1996 02:44:25 +0760", "17-Jul-1996  02:44:25 +0000", "17-Jul-1996 2:44:25 +0000",
		"31-Jun-1996 02:44:25 +0000", "17-Jul-1996 02:44:25 +0000 ", "17-Jul-1996T02:44:25 +0000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (imap_datetime_parse(bad[i], strlen(bad[i]), &t, &tz) != TJ_EINVAL)
			TJ_FAIL("accepted \"%s\"", bad[i]);

	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(imap_write_datetime(&b, 837596665, -420));
	TJ_ASSERT_STR((const char *)b.data, "\"17-Jul-1996 02:44:25 -0700\"");
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_datetime(&b, 0, 0));
	TJ_ASSERT_STR((const char *)b.data, "\"01-Jan-1970 00:00:00 +0000\"");
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_datetime(&b, -1, 330));
	TJ_ASSERT_STR((const char *)b.data, "\"01-Jan-1970 05:29:59 +0530\"");
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_datetime(&b, 951782400, 0)); /* 2000-02-29 */
	TJ_ASSERT_STR((const char *)b.data, "\"29-Feb-2000 00:00:00 +0000\"");
	TJ_ASSERT_INT(imap_write_datetime(&b, 0, 1440), ==, TJ_EINVAL);
	/* round trip through the parser */
	for (int64_t when = -100000; when < 4000000000LL; when += 7777777) {
		for (int zone = -720; zone <= 840; zone += 345) {
			tj_buf_reset(&b);
			TJ_OKRC(imap_write_datetime(&b, when, zone));
			TJ_OKRC(imap_datetime_parse((const char *)b.data + 1, b.len - 2, &t, &tz));
			TJ_ASSERT_INT(t, ==, when);
			TJ_ASSERT_INT(tz, ==, zone);
		}
	}
	struct imap_date d = {1994, 2, 1};
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_date(&b, &d));
	TJ_ASSERT_STR((const char *)b.data, "1-Feb-1994");
	tj_buf_free(&b);
}

/* ---- modified UTF-7 ---- */

TJ_TEST(utf7_known_vectors)
{
	static const struct {
		const char *utf8, *utf7;
	} v[] = {
		{"INBOX", "INBOX"},
		{"", ""},
		{"&", "&-"},
		{"A&B", "A&-B"},
		{"&&", "&-&-"},
		{"Entw\xc3\xbcrfe", "Entw&APw-rfe"},
		{"~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		 "~peter/mail/&U,BTFw-/&ZeVnLIqe-"},
		{"\xd0\x9e\xd1\x82\xd0\xbf\xd1\x80\xd0\xb0\xd0\xb2\xd0\xbb\xd0\xb5\xd0\xbd\xd0\xbd\xd1\x8b\xd0\xb5",
		 "&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"},
		{"\xf0\x9f\x98\x80", "&2D3eAA-"},               /* U+1F600, a surrogate pair */
		{"a\xf0\x9f\x98\x80z", "a&2D3eAA-z"},
		{"\xc3\xa9&\xc3\xa9", "&AOk-&-&AOk-"},
		{"tab\there", "tab&AAk-here"},
		{"\x7f", "&AH8-"},
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		tj_buf a = TJ_BUF_INIT, b = TJ_BUF_INIT;
		TJ_OKRC(imap_utf8_to_utf7(v[i].utf8, strlen(v[i].utf8), &a));
		TJ_ASSERT_STR(a.data ? (const char *)a.data : "", v[i].utf7);
		TJ_OKRC(imap_utf7_to_utf8(v[i].utf7, strlen(v[i].utf7), &b));
		TJ_ASSERT_STR(b.data ? (const char *)b.data : "", v[i].utf8);
		TJ_ASSERT(imap_utf7_is_valid(v[i].utf7, strlen(v[i].utf7)));
		tj_buf_free(&a);
		tj_buf_free(&b);
	}
}

TJ_TEST(utf7_rejects_invalid)
{
	static const char *const bad[] = {
		"&",          /* unterminated */
		"&Jjo",       /* unterminated */
		"a&AGE-",     /* encodes 'a': must be direct */
		"&ACY-",      /* encodes '&' */
		"&AAA-",      /* U+0000 */
		"&AOk",       /* no '-' */
		"&AO-",       /* 12 bits: a partial unit */
		"&AOl-",      /* non-zero padding bits */
		"&2D0-",      /* lone high surrogate (partial) */
		"&2D0AOk-",   /* high surrogate then a non-low unit */
		"&3gA-",      /* lone low surrogate */
		"&2D3eAA",    /* unterminated after a pair */
		"&A*k-",      /* bad base64 */
		"&AOk=-",     /* padding is not modified base64 */
		"\xc3\xa9",   /* raw 8-bit */
		"a\tb",       /* raw control */
		"&AOkA6Q-x&", /* trailing lone & */
		"&AOk-&AOk-", /* adjacent sections: must be "&AOkA6Q-" */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tj_buf out = TJ_BUF_INIT;
		TJ_OKRC(tj_buf_puts(&out, "keep"));
		if (imap_utf7_to_utf8(bad[i], strlen(bad[i]), &out) != TJ_EINVAL)
			TJ_FAIL("accepted \"%s\"", bad[i]);
		TJ_ASSERT_STR((const char *)out.data, "keep"); /* restored */
		TJ_ASSERT(!imap_utf7_is_valid(bad[i], strlen(bad[i])));
		tj_buf_free(&out);
	}
	static const struct {
		const char *s;
		size_t len;
	} bad8[] = {
		{"\xc0\xaf", 2},         /* overlong '/' */
		{"\xe0\x80\xaf", 3},     /* overlong */
		{"\xed\xa0\x80", 3},     /* UTF-16 surrogate */
		{"\xf4\x90\x80\x80", 4}, /* > U+10FFFF */
		{"\xe6\x97", 2},         /* truncated */
		{"\x80", 1},             /* stray continuation */
		{"\xff", 1},
		{"a\0b", 3},             /* NUL */
	};
	for (size_t i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		tj_buf out = TJ_BUF_INIT;
		if (imap_utf8_to_utf7(bad8[i].s, bad8[i].len, &out) != TJ_EINVAL)
			TJ_FAIL("accepted UTF-8 case %zu", i);
		TJ_ASSERT_INT(out.len, ==, 0);
		tj_buf_free(&out);
	}
}

/* every BMP and a spread of astral code points survive a round trip */
TJ_TEST(utf7_round_trip_all_code_points)
{
	for (uint32_t cp = 1; cp <= 0x10ffff; cp += (cp < 0x10000 ? 1 : 251)) {
		if (cp >= 0xd800 && cp <= 0xdfff)
			continue;
		uint8_t u[8];
		size_t n = 0;
		u[n++] = 'x';
		if (cp < 0x80) {
			u[n++] = (uint8_t)cp;
		} else if (cp < 0x800) {
			u[n++] = (uint8_t)(0xc0 | (cp >> 6));
			u[n++] = (uint8_t)(0x80 | (cp & 0x3f));
		} else if (cp < 0x10000) {
			u[n++] = (uint8_t)(0xe0 | (cp >> 12));
			u[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			u[n++] = (uint8_t)(0x80 | (cp & 0x3f));
		} else {
			u[n++] = (uint8_t)(0xf0 | (cp >> 18));
			u[n++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
			u[n++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
			u[n++] = (uint8_t)(0x80 | (cp & 0x3f));
		}
		u[n++] = '-';
		tj_buf a = TJ_BUF_INIT, b = TJ_BUF_INIT;
		TJ_OKRC(imap_utf8_to_utf7((const char *)u, n, &a));
		for (size_t i = 0; i < a.len; i++)
			TJ_ASSERT(a.data[i] >= 0x20 && a.data[i] <= 0x7e);
		TJ_OKRC(imap_utf7_to_utf8((const char *)a.data, a.len, &b));
		TJ_ASSERT_MEM(b.data, b.len, u, n);
		tj_buf_free(&a);
		tj_buf_free(&b);
	}
}

/* ---- mailbox wildcards ---- */

TJ_TEST(mailbox_match)
{
	static const struct {
		const char *pat, *name;
		bool want;
	} m[] = {
		{"*", "INBOX", true},
		{"*", "a/b/c", true},
		{"%", "a", true},
		{"%", "a/b", false},
		{"%/%", "a/b", true},
		{"%/%", "a/b/c", false},
		{"a/*", "a/b/c", true},
		{"a/*", "a", false},
		{"a*", "a", true},
		{"a%", "ab/c", false},
		{"a%", "abc", true},
		{"*c", "a/b/c", true},
		{"%c", "a/b/c", false},
		{"a/%/c", "a/b/c", true},
		{"a/%/c", "a/b/x/c", false},
		{"a/*/c", "a/b/x/c", true},
		{"", "", true},
		{"", "a", false},
		{"Sent", "sent", false},
		{"inbox", "INBOX", true},
		{"inBox/%", "INBOX/Jobs", true},
		{"inbox/jobs", "INBOX/Jobs", false},
		{"inbox*", "INBOXES", false},
		{"INBOX*", "INBOXES", true},
		{"%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*x", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay", false},
		{"*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab", true},
	};
	for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
		if (imap_mailbox_match(m[i].pat, strlen(m[i].pat), m[i].name, strlen(m[i].name), '/') != m[i].want)
			TJ_FAIL("\"%s\" vs \"%s\": want %d", m[i].pat, m[i].name, m[i].want);
	/* another delimiter */
	TJ_ASSERT(imap_mailbox_match("a.%", 3, "a.b", 3, '.'));
	TJ_ASSERT(!imap_mailbox_match("a.%", 3, "a.b.c", 5, '.'));
	TJ_ASSERT(imap_mailbox_is_inbox("iNbOx", 5));
	TJ_ASSERT(!imap_mailbox_is_inbox("INBOX/", 6));
	/* names over the limit never match */
	char big[IMAP_MAX_MAILBOX_NAME + 2];
	memset(big, 'a', sizeof(big));
	TJ_ASSERT(imap_mailbox_match("*", 1, big, IMAP_MAX_MAILBOX_NAME, '/'));
	TJ_ASSERT(!imap_mailbox_match("*", 1, big, IMAP_MAX_MAILBOX_NAME + 1, '/'));

	tj_buf j = TJ_BUF_INIT;
	TJ_OKRC(imap_list_join("~smith/Mail/", 12, "foo.*", 5, '/', &j));
	TJ_ASSERT_STR((const char *)j.data, "~smith/Mail/foo.*");
	tj_buf_reset(&j);
	TJ_OKRC(imap_list_join("Archive/", 8, "/abs", 4, '/', &j));
	TJ_ASSERT_STR((const char *)j.data, "/abs");
	tj_buf_reset(&j);
	TJ_OKRC(imap_list_join("", 0, "%", 1, '/', &j));
	TJ_ASSERT_STR((const char *)j.data, "%");
	tj_buf_free(&j);
}

/* ---- writers ---- */

TJ_TEST(write_strings)
{
	static const struct {
		const char *in;
		size_t len;
		unsigned opts;
		const char *astring, *string;
	} w[] = {
		{"INBOX", 5, 0, "INBOX", "\"INBOX\""},
		{"Sent Items", 10, 0, "\"Sent Items\"", "\"Sent Items\""},
		{"", 0, 0, "\"\"", "\"\""},
		{"NIL", 3, 0, "\"NIL\"", "\"NIL\""},
		{"nil", 3, 0, "\"nil\"", "\"nil\""},
		{"[Gmail]", 7, 0, "[Gmail]", "\"[Gmail]\""},
		{"a\"b\\c", 5, 0, "\"a\\\"b\\\\c\"", "\"a\\\"b\\\\c\""},
		{"a*b", 3, 0, "\"a*b\"", "\"a*b\""},
		{"a\r\nb", 4, 0, "{4}\r\na\r\nb", "{4}\r\na\r\nb"},
		{"a\0b", 3, 0, "{3}\r\na\0b", "{3}\r\na\0b"},
		{"caf\xc3\xa9", 5, 0, "{5}\r\ncaf\xc3\xa9", "{5}\r\ncaf\xc3\xa9"},
		{"caf\xc3\xa9", 5, IMAP_WRITE_UTF8, "\"caf\xc3\xa9\"", "\"caf\xc3\xa9\""},
	};
	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		tj_buf a = TJ_BUF_INIT, s = TJ_BUF_INIT;
		TJ_OKRC(imap_write_astring(&a, w[i].in, w[i].len, w[i].opts));
		TJ_OKRC(imap_write_string(&s, w[i].in, w[i].len, w[i].opts));
		size_t al = strlen(w[i].astring), sl = strlen(w[i].string);
		if (strchr(w[i].in, 0) < w[i].in + w[i].len) /* NUL case: compare by length */
			al = sl = 8;
		TJ_ASSERT_MEM(a.data, a.len, w[i].astring, al);
		TJ_ASSERT_MEM(s.data, s.len, w[i].string, sl);
		tj_buf_free(&a);
		tj_buf_free(&s);
	}
	/* long strings become literals */
	char longs[IMAP_WRITE_QUOTED_MAX + 1];
	memset(longs, 'q', sizeof(longs));
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(imap_write_string(&b, longs, IMAP_WRITE_QUOTED_MAX, 0));
	TJ_ASSERT_INT(b.data[0], ==, '"');
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_string(&b, longs, IMAP_WRITE_QUOTED_MAX + 1, 0));
	TJ_ASSERT(strncmp((const char *)b.data, "{1025}\r\nqqq", 11) == 0);
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_nstring(&b, NULL, 0, 0));
	TJ_OKRC(tj_buf_putc(&b, ' '));
	TJ_OKRC(imap_write_nstring(&b, "x", 1, 0));
	TJ_ASSERT_STR((const char *)b.data, "NIL \"x\"");
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_literal(&b, "ab", 2, true));
	TJ_ASSERT_STR((const char *)b.data, "~{2}\r\nab");
	tj_buf_free(&b);
}

TJ_TEST(write_flags_and_seqsets)
{
	tj_buf b = TJ_BUF_INIT;
	const char *kw[] = {"$Forwarded", "Junk"};
	TJ_OKRC(imap_write_flags(&b, IMAP_FLAG_SEEN | IMAP_FLAG_ANSWERED | IMAP_FLAG_RECENT, kw, 2));
	TJ_ASSERT_STR((const char *)b.data, "(\\Answered \\Seen \\Recent $Forwarded Junk)");
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_flags(&b, 0, NULL, 0));
	TJ_ASSERT_STR((const char *)b.data, "()");

	static const struct {
		uint32_t n[10];
		size_t count;
		const char *want;
	} s[] = {
		{{1, 2, 3, 4, 5, 7, 9, 10}, 8, "1:5,7,9:10"},
		{{1}, 1, "1"},
		{{3, 3, 4, 4, 8}, 5, "3:4,8"},
		{{1, 3, 5}, 3, "1,3,5"},
		{{4294967294u, 4294967295u}, 2, "4294967294:4294967295"},
		{{4294967295u, 4294967295u}, 2, "4294967295"},
	};
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		tj_buf_reset(&b);
		TJ_OKRC(imap_write_seqset(&b, s[i].n, s[i].count));
		TJ_ASSERT_STR((const char *)b.data, s[i].want);
	}
	tj_buf_reset(&b);
	TJ_OKRC(imap_write_seqset(&b, NULL, 0));
	TJ_ASSERT_INT(b.len, ==, 0);
	uint32_t unsorted[] = {3, 1};
	TJ_ASSERT_INT(imap_write_seqset(&b, unsorted, 2), ==, TJ_EINVAL);
	tj_buf_free(&b);
}

/* ---- command names ---- */

TJ_TEST(command_classify)
{
	static const struct {
		const char *name;
		enum imap_cmd cmd;
	} c[] = {
		{"CAPABILITY", IMAP_CMD_CAPABILITY}, {"noop", IMAP_CMD_NOOP}, {"LogOut", IMAP_CMD_LOGOUT},
		{"STARTTLS", IMAP_CMD_STARTTLS}, {"AUTHENTICATE", IMAP_CMD_AUTHENTICATE},
		{"LOGIN", IMAP_CMD_LOGIN}, {"ENABLE", IMAP_CMD_ENABLE}, {"SELECT", IMAP_CMD_SELECT},
		{"EXAMINE", IMAP_CMD_EXAMINE}, {"CREATE", IMAP_CMD_CREATE}, {"DELETE", IMAP_CMD_DELETE},
		{"RENAME", IMAP_CMD_RENAME}, {"SUBSCRIBE", IMAP_CMD_SUBSCRIBE},
		{"UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE}, {"LIST", IMAP_CMD_LIST}, {"LSUB", IMAP_CMD_LSUB},
		{"NAMESPACE", IMAP_CMD_NAMESPACE}, {"STATUS", IMAP_CMD_STATUS}, {"APPEND", IMAP_CMD_APPEND},
		{"IDLE", IMAP_CMD_IDLE}, {"CHECK", IMAP_CMD_CHECK}, {"CLOSE", IMAP_CMD_CLOSE},
		{"UNSELECT", IMAP_CMD_UNSELECT}, {"EXPUNGE", IMAP_CMD_EXPUNGE}, {"SEARCH", IMAP_CMD_SEARCH},
		{"FETCH", IMAP_CMD_FETCH}, {"STORE", IMAP_CMD_STORE}, {"COPY", IMAP_CMD_COPY},
		{"MOVE", IMAP_CMD_MOVE}, {"ID", IMAP_CMD_ID}, {"GETQUOTA", IMAP_CMD_GETQUOTA},
		{"GETQUOTAROOT", IMAP_CMD_GETQUOTAROOT}, {"SETQUOTA", IMAP_CMD_SETQUOTA},
		{"COMPRESS", IMAP_CMD_COMPRESS}, {"UID FETCH", IMAP_CMD_UID_FETCH},
		{"uid store", IMAP_CMD_UID_STORE}, {"UID COPY", IMAP_CMD_UID_COPY},
		{"UID MOVE", IMAP_CMD_UID_MOVE}, {"UID SEARCH", IMAP_CMD_UID_SEARCH},
		{"UID EXPUNGE", IMAP_CMD_UID_EXPUNGE}, {"UID", IMAP_CMD_UNKNOWN},
		{"UID  FETCH", IMAP_CMD_UNKNOWN}, {"UID LIST", IMAP_CMD_UNKNOWN}, {"FETC", IMAP_CMD_UNKNOWN},
		{"FETCHES", IMAP_CMD_UNKNOWN}, {"", IMAP_CMD_UNKNOWN}, {"DONE", IMAP_CMD_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		if (imap_command_classify(c[i].name, strlen(c[i].name)) != c[i].cmd)
			TJ_FAIL("%s -> %d", c[i].name, (int)imap_command_classify(c[i].name, strlen(c[i].name)));
	/* every enum value has a name that maps back to it */
	for (int i = 1; i < IMAP_CMD_COUNT; i++) {
		const char *n = imap_command_name((enum imap_cmd)i);
		TJ_ASSERT(n[0] != 0);
		TJ_ASSERT_INT(imap_command_classify(n, strlen(n)), ==, i);
	}
	TJ_ASSERT(imap_command_is_uid(IMAP_CMD_UID_EXPUNGE));
	TJ_ASSERT(!imap_command_is_uid(IMAP_CMD_EXPUNGE));
	TJ_ASSERT_STR(imap_command_name(IMAP_CMD_UNKNOWN), "");
	TJ_ASSERT_STR(imap_command_name(IMAP_CMD_COUNT), "");
}

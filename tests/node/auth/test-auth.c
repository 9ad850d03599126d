/*
 * test-auth.c - node/auth: the SASL PLAIN decoder, the passwd file
 * (parsing, yescrypt and SHA-512-crypt verification, locked accounts,
 * reload, locked atomic updates from several processes, file modes),
 * the check's timing for unknown users, and the login throttle.
 */
#include "node/auth/auth.h"
#include "node/auth/auth-passwd.h"
#include "node/auth/auth-throttle.h"
#include "common/err.h"
#include "tests/harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

/* an independent SHA-512-crypt hash: `openssl passwd -6 -salt tjsaltvalue 'Correct Horse 6'` */
#define SHA512_PW "Correct Horse 6"
#define SHA512_HASH "$6$tjsaltvalue$6YP5mxHCrgb97dFQoPCrG3vQn3J0MeZ/qSfghcdfymSV2r25l7xseFwYS79DN.j9Ph1mGldhLu0uJf6lYXq6Q/"
/* `openssl passwd -6 -salt abc x`, for fast bulk updates */
#define SHA512_X "$6$abc$K4v3HcZ8yAmpRfxML6S46NCcqy9r4/KdbQpFvqSWsBf4dgySOEOo1DHJTrmn2BsJK2aNmPN8Tfb826D2o9.z51"

/* ---------------------------------------------------------------- helpers */

static void b64(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		TJ_ASSERT(o + 5 <= outsz);
		out[o++] = al[v >> 18 & 63];
		out[o++] = al[v >> 12 & 63];
		out[o++] = i + 1 < n ? al[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? al[v & 63] : '=';
	}
	out[o] = 0;
}

static char *path_in_tmp(const char *name)
{
	static char p[4][512];
	static int k;
	char *r = p[k++ & 3];
	snprintf(r, sizeof(p[0]), "%s/%s", tj_test_tmpdir(), name);
	return r;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	TJ_ASSERT(f != NULL);
	TJ_ASSERT(fputs(text, f) >= 0);
	TJ_ASSERT(fclose(f) == 0);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

struct bad_lines {
	unsigned n;
	unsigned line[32];
	char why[32][64];
};

static void collect(void *ctx, const char *path, unsigned line_no, const char *why)
{
	struct bad_lines *b = ctx;
	if (b->n < 32) {
		b->line[b->n] = line_no;
		snprintf(b->why[b->n], sizeof(b->why[0]), "%s", why);
		b->n++;
	}
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
	return fake_now;
}

static struct tj_auth_backend *open_be(const char *path, struct bad_lines *bl)
{
	struct tj_auth_passwd_config cfg = {.path = path, .report = collect, .report_ctx = bl};
	static struct bad_lines ignore;
	if (!bl)
		cfg.report_ctx = &ignore;
	struct tj_auth_backend *be = NULL;
	TJ_OKRC(tj_auth_passwd_open(&cfg, &be));
	TJ_ASSERT(be != NULL);
	return be;
}

static enum tj_auth_result check(struct tj_auth_backend *be, const char *user, const char *pw)
{
	enum tj_auth_result r = TJ_AUTH_OK;
	TJ_OKRC(tj_auth_check(be, user, pw, &r));
	return r;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ SASL PLAIN */

struct plain_case {
	const char *msg;
	size_t len;
	int rc;
	const char *authzid, *authcid, *passwd;
};
#define M(s) s, sizeof(s) - 1

TJ_TEST(sasl_plain_table)
{
	static const struct plain_case cases[] = {
		{M("\0tim\0tanstaaftanstaaf"), 0, "", "tim", "tanstaaftanstaaf"}, /* RFC 4616 example */
		{M("tim\0tim\0pw"), 0, "tim", "tim", "pw"},
		{M("\0j\xc3\xbcrgen\0p\xc3\xa4ss w\xe2\x82\xac rd"), 0, "", "j\xc3\xbcrgen", "p\xc3\xa4ss w\xe2\x82\xac rd"},
		{M("Ursel\0Kurt\0xipj3plmq"), -EPERM, "", "", ""},  /* RFC 4616 example: acting as another user */
		{M("tim\0Tim\0pw"), -EPERM, "", "", ""},             /* byte-equal only */
		{M("timothy\0tim\0pw"), -EPERM, "", "", ""},
		{M("tim"), TJ_EPROTO, "", "", ""},                   /* no NUL */
		{M("\0timpw"), TJ_EPROTO, "", "", ""},               /* one NUL */
		{M("\0tim\0p\0w"), TJ_EPROTO, "", "", ""},           /* a NUL inside the password */
		{M("\0\0tim\0pw"), TJ_EPROTO, "", "", ""},           /* four fields */
		{M("\0\0pw"), TJ_EPROTO, "", "", ""},                /* empty authcid */
		{M("\0tim\0"), TJ_EPROTO, "", "", ""},               /* empty password */
		{M("\0\xc0\x80tim\0pw"), TJ_EPROTO, "", "", ""},     /* overlong UTF-8 */
		{M("\0tim\0\xed\xa0\x80"), TJ_EPROTO, "", "", ""},   /* surrogate */
		{M("\0tim\0\xff"), TJ_EPROTO, "", "", ""},
		{M("\0tim\0\xe2\x82"), TJ_EPROTO, "", "", ""},       /* truncated sequence */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char enc[256];
		b64((const uint8_t *)cases[i].msg, cases[i].len, enc, sizeof(enc));
		struct tj_sasl_plain p;
		memset(&p, 'x', sizeof(p));
		int rc = tj_sasl_plain_decode(enc, strlen(enc), &p);
		if (rc != cases[i].rc)
			TJ_FAIL("case %zu: rc %d, want %d", i, rc, cases[i].rc);
		TJ_ASSERT_STR(p.authzid, cases[i].authzid);
		TJ_ASSERT_STR(p.authcid, cases[i].authcid);
		TJ_ASSERT_STR(p.passwd, cases[i].passwd);
		tj_sasl_plain_clear(&p);
		TJ_ASSERT(p.passwd[0] == 0);
	}
}

TJ_TEST(sasl_plain_bad_base64)
{
	static const char *bad[] = {
		"",                           /* nothing */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWFm\r\n", /* CRLF is the caller's */
		"AHRpbQB0 YW5zdGFhZnRhbnN0YWFm", /* space */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF",  /* length not a multiple of 4 */
		"AHRpbQB0YW5zdGFhZnRhbnN0YW==", /* bad: "YW==" has non-zero unused bits */
		"AHRp=QB0YW5zdGFhZnRhbnN0YWFm", /* '=' inside */
		"AHRpbQB0YW5zdGFhZnRhbnN0YW=m", /* digit after '=' */
		"AHRpbQB0YW5zdGFhZnRhbnN0Y===", /* three '=' */
		"AHRpbQB0YW5zdGFhZnRhbnN0YWF-", /* base64url alphabet */
		"=",                          /* IMAP's empty response */
		"*",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tj_sasl_plain p;
		int rc = tj_sasl_plain_decode(bad[i], strlen(bad[i]), &p);
		if (rc != TJ_EPROTO)
			TJ_FAIL("case %zu (%s): rc %d, want TJ_EPROTO", i, bad[i], rc);
		TJ_ASSERT_STR(p.authcid, "");
	}
	/* the canonical form of the same message decodes */
	struct tj_sasl_plain p;
	TJ_OKRC(tj_sasl_plain_decode(M("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"), &p));
	TJ_ASSERT_STR(p.passwd, "tanstaaftanstaaf");
	/* padding: 1 and 2 '=' */
	char enc[64];
	b64((const uint8_t *)"\0ab\0cd", 6, enc, sizeof(enc)); /* 6 bytes: no padding */
	TJ_OKRC(tj_sasl_plain_decode(enc, strlen(enc), &p));
	b64((const uint8_t *)"\0ab\0cde", 7, enc, sizeof(enc));
	TJ_ASSERT(strstr(enc, "==") != NULL);
	TJ_OKRC(tj_sasl_plain_decode(enc, strlen(enc), &p));
	TJ_ASSERT_STR(p.passwd, "cde");
	b64((const uint8_t *)"\0ab\0cdef", 8, enc, sizeof(enc));
	TJ_ASSERT(enc[strlen(enc) - 1] == '=' && enc[strlen(enc) - 2] != '=');
	TJ_OKRC(tj_sasl_plain_decode(enc, strlen(enc), &p));
	TJ_ASSERT_STR(p.passwd, "cdef");
	TJ_ASSERT_INT(tj_sasl_plain_decode(NULL, 0, &p), ==, TJ_EINVAL);
}

TJ_TEST(sasl_plain_limits)
{
	uint8_t msg[TJ_SASL_PLAIN_MSG_MAX + 16];
	char enc[TJ_SASL_PLAIN_B64_MAX + 64];
	struct tj_sasl_plain p;

	/* exactly at the limits: authzid 255, authcid 255, password 1024 */
	size_t n = 0;
	memset(msg, 'u', TJ_SASL_PLAIN_ID_MAX);
	n += TJ_SASL_PLAIN_ID_MAX;
	msg[n++] = 0;
	memset(msg + n, 'u', TJ_SASL_PLAIN_ID_MAX);
	n += TJ_SASL_PLAIN_ID_MAX;
	msg[n++] = 0;
	memset(msg + n, 'p', TJ_AUTH_PASSWORD_MAX);
	n += TJ_AUTH_PASSWORD_MAX;
	TJ_ASSERT_INT(n, ==, TJ_SASL_PLAIN_MSG_MAX);
	b64(msg, n, enc, sizeof(enc));
	TJ_ASSERT_INT(strlen(enc), <=, TJ_SASL_PLAIN_B64_MAX);
	TJ_OKRC(tj_sasl_plain_decode(enc, strlen(enc), &p));
	TJ_ASSERT_INT(strlen(p.authcid), ==, TJ_SASL_PLAIN_ID_MAX);
	TJ_ASSERT_INT(strlen(p.passwd), ==, TJ_AUTH_PASSWORD_MAX);

	/* authcid one over */
	n = 0;
	msg[n++] = 0;
	memset(msg + n, 'u', TJ_SASL_PLAIN_ID_MAX + 1);
	n += TJ_SASL_PLAIN_ID_MAX + 1;
	msg[n++] = 0;
	msg[n++] = 'p';
	b64(msg, n, enc, sizeof(enc));
	TJ_ASSERT_INT(tj_sasl_plain_decode(enc, strlen(enc), &p), ==, TJ_ETOOBIG);

	/* password one over */
	n = 0;
	msg[n++] = 0;
	msg[n++] = 'u';
	msg[n++] = 0;
	memset(msg + n, 'p', TJ_AUTH_PASSWORD_MAX + 1);
	n += TJ_AUTH_PASSWORD_MAX + 1;
	b64(msg, n, enc, sizeof(enc));
	TJ_ASSERT_INT(tj_sasl_plain_decode(enc, strlen(enc), &p), ==, TJ_ETOOBIG);
	TJ_ASSERT_STR(p.passwd, "");

	/* base64 text over the limit is refused before decoding */
	char big[TJ_SASL_PLAIN_B64_MAX + 5];
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	TJ_ASSERT_INT(tj_sasl_plain_decode(big, strlen(big), &p), ==, TJ_ETOOBIG);
}

/* -------------------------------------------------------------- parsing */

TJ_TEST(passwd_parse_line)
{
	struct {
		const char *line;
		int rc;
		enum tj_passwd_line_kind kind;
		const char *user;
		enum tj_passwd_hash_kind hk;
		bool locked;
	} cases[] = {
		{"", 0, TJ_PASSWD_LINE_BLANK, NULL, 0, false},
		{" \t \r", 0, TJ_PASSWD_LINE_BLANK, NULL, 0, false},
		{"# alice:$y$x", 0, TJ_PASSWD_LINE_COMMENT, NULL, 0, false},
		{"   # indented", 0, TJ_PASSWD_LINE_COMMENT, NULL, 0, false},
		{"alice:$y$j9T$abc$def", 0, TJ_PASSWD_LINE_ENTRY, "alice", TJ_PASSWD_HASH_YESCRYPT, false},
		{"bob:" SHA512_HASH "  \r", 0, TJ_PASSWD_LINE_ENTRY, "bob", TJ_PASSWD_HASH_SHA512, false},
		{"bob:$6$rounds=10000$salt$hash", 0, TJ_PASSWD_LINE_ENTRY, "bob", TJ_PASSWD_HASH_SHA512, false},
		{"carol:!$6$abc$def", 0, TJ_PASSWD_LINE_ENTRY, "carol", TJ_PASSWD_HASH_SHA512, true},
		{"dave:*", 0, TJ_PASSWD_LINE_ENTRY, "dave", TJ_PASSWD_HASH_NONE, false},
		{"erin:!", 0, TJ_PASSWD_LINE_ENTRY, "erin", TJ_PASSWD_HASH_NONE, true},
		{"erin:!!", 0, TJ_PASSWD_LINE_ENTRY, "erin", TJ_PASSWD_HASH_NONE, true},
		{"j\xc3\xbcrgen:$y$a$b$c", 0, TJ_PASSWD_LINE_ENTRY, "j\xc3\xbcrgen", TJ_PASSWD_HASH_YESCRYPT, false},
		{"frank:", TJ_EPROTO, 0, NULL, 0, false},
		{"nocolon", TJ_EPROTO, 0, NULL, 0, false},
		{":$y$a$b$c", TJ_EPROTO, 0, NULL, 0, false},
		{" alice:$y$a$b$c", TJ_EPROTO, 0, NULL, 0, false},
		{"a b:$y$a$b$c", TJ_EPROTO, 0, NULL, 0, false},
		{"a\tb:$y$a$b$c", TJ_EPROTO, 0, NULL, 0, false},
		{"alice:$1$abc$def", TJ_EPROTO, 0, NULL, 0, false},     /* MD5-crypt: refused */
		{"alice:abJnggxhB/yWI", TJ_EPROTO, 0, NULL, 0, false},  /* DES: refused */
		{"alice:$y$", TJ_EPROTO, 0, NULL, 0, false},
		{"alice:$y$a$b$c:19000:0", TJ_EPROTO, 0, NULL, 0, false}, /* shadow's extra fields */
		{"alice:$y$a b", TJ_EPROTO, 0, NULL, 0, false},
		{"alice:*x", TJ_EPROTO, 0, NULL, 0, false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tj_passwd_line pl;
		const char *why = NULL;
		int rc = tj_passwd_parse_line(cases[i].line, strlen(cases[i].line), &pl, &why);
		if (rc != cases[i].rc)
			TJ_FAIL("case %zu (%s): rc %d want %d", i, cases[i].line, rc, cases[i].rc);
		if (rc) {
			TJ_ASSERT(why != NULL && why[0]);
			continue;
		}
		TJ_ASSERT_INT(pl.kind, ==, cases[i].kind);
		if (pl.kind != TJ_PASSWD_LINE_ENTRY)
			continue;
		TJ_ASSERT_MEM(pl.user.ptr, pl.user.len, cases[i].user, strlen(cases[i].user));
		TJ_ASSERT_INT(pl.hash_kind, ==, cases[i].hk);
		TJ_ASSERT_INT(pl.locked, ==, cases[i].locked);
	}
	/* trailing blanks and CR are not part of the hash */
	struct tj_passwd_line pl;
	const char l[] = "bob:" SHA512_HASH " \t\r";
	TJ_OKRC(tj_passwd_parse_line(l, sizeof(l) - 1, &pl, NULL));
	TJ_ASSERT_MEM(pl.hash.ptr, pl.hash.len, SHA512_HASH, strlen(SHA512_HASH));

	char longline[TJ_PASSWD_LINE_MAX + 2];
	memset(longline, 'a', sizeof(longline));
	TJ_ASSERT_INT(tj_passwd_parse_line(longline, sizeof(longline), &pl, NULL), ==, TJ_ETOOBIG);

	TJ_ASSERT(tj_auth_user_valid("alice", 5));
	TJ_ASSERT(!tj_auth_user_valid("a:b", 3));
	TJ_ASSERT(!tj_auth_user_valid("a\nb", 3));
	TJ_ASSERT(!tj_auth_user_valid("#a", 2));
	TJ_ASSERT(!tj_auth_user_valid("", 0));
	TJ_ASSERT(!tj_auth_user_valid("a\0b", 3));
	TJ_ASSERT(tj_passwd_hash_valid(M("!" SHA512_HASH)));
	TJ_ASSERT(tj_passwd_hash_valid(M("*")));
	TJ_ASSERT(!tj_passwd_hash_valid(M(SHA512_HASH "\n")));
	TJ_ASSERT(!tj_passwd_hash_valid(M("$2b$10$abc")));
}

TJ_TEST(passwd_file_bad_lines_not_fatal)
{
	const char *path = path_in_tmp("passwd");
	write_text(path,
		   "# tjstore passwd\n"          /* 1 */
		   "\n"                           /* 2 */
		   "broken line\n"                /* 3 */
		   "bob:" SHA512_HASH "\n"        /* 4 */
		   "md5:$1$abc$def\n"             /* 5 */
		   "   \n"                        /* 6 */
		   "bob:" SHA512_X "\n"           /* 7: duplicate, first wins */
		   "a b:" SHA512_X "\n"           /* 8 */
		   "carol:" SHA512_X);            /* 9: no final newline */
	struct bad_lines bl = {0};
	struct tj_auth_backend *be = open_be(path, &bl);
	TJ_ASSERT_INT(bl.n, ==, 4);
	unsigned seen = 0;
	for (unsigned i = 0; i < bl.n; i++) {
		TJ_ASSERT(bl.line[i] == 3 || bl.line[i] == 5 || bl.line[i] == 7 || bl.line[i] == 8);
		seen |= 1u << bl.line[i];
		/* the report never quotes the line (it may hold a hash) */
		TJ_ASSERT(strstr(bl.why[i], "$1$abc") == NULL && strstr(bl.why[i], "broken") == NULL);
	}
	TJ_ASSERT_INT(seen, ==, (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8));
	struct tj_auth_passwd_stats st;
	tj_auth_passwd_get_stats(be, &st);
	TJ_ASSERT_INT(st.users, ==, 2);
	TJ_ASSERT_INT(st.bad_lines, ==, 4);
	TJ_ASSERT_INT(st.loads, ==, 1);
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "bob", "x"), ==, TJ_AUTH_FAIL); /* line 7 is dead */
	TJ_ASSERT_INT(check(be, "carol", "x"), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "md5", "anything"), ==, TJ_AUTH_FAIL);
	tj_auth_backend_free(&be);
	TJ_ASSERT(be == NULL);
	tj_auth_backend_free(&be); /* NULL is fine */
}

/* --------------------------------------------------------- verification */

TJ_TEST(passwd_yescrypt_set_and_verify)
{
	const char *path = path_in_tmp("passwd");
	TJ_OKRC(tj_auth_passwd_set(path, "alice", "s3cret pass"));
	char *text = read_text(path);
	TJ_ASSERT(text && strncmp(text, "alice:$y$", 9) == 0);
	TJ_ASSERT(text[strlen(text) - 1] == '\n');

	struct tj_auth_backend *be = open_be(path, NULL);
	TJ_ASSERT_STR(tj_auth_backend_name(be), "passwd");
	TJ_ASSERT_INT(check(be, "alice", "s3cret pass"), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "alice", "s3cret pasS"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "alice", "s3cret pass "), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "alice", "s3cret pas"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "Alice", "s3cret pass"), ==, TJ_AUTH_FAIL); /* names are exact */
	TJ_ASSERT_INT(check(be, "alice", ""), ==, TJ_AUTH_FAIL);
	tj_auth_backend_free(&be);

	/* two hashes of one password differ (fresh salt) */
	char h1[TJ_PASSWD_HASH_MAX + 1], h2[TJ_PASSWD_HASH_MAX + 1];
	TJ_OKRC(tj_auth_passwd_hash("pw", h1, sizeof(h1)));
	TJ_OKRC(tj_auth_passwd_hash("pw", h2, sizeof(h2)));
	TJ_ASSERT(strncmp(h1, "$y$", 3) == 0);
	TJ_ASSERT(strcmp(h1, h2) != 0);
	TJ_ASSERT(tj_passwd_hash_valid(h1, strlen(h1)));
	TJ_ASSERT_INT(tj_auth_passwd_hash("a\nb", h1, sizeof(h1)), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_hash("", h1, sizeof(h1)), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_hash("pw", h1, 10), ==, TJ_EINVAL);
}

TJ_TEST(passwd_sha512_verify)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "bob:" SHA512_HASH "\n");
	struct tj_auth_backend *be = open_be(path, NULL);
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "bob", "Correct Horse 7"), ==, TJ_AUTH_FAIL);
	/* a new password replaces the $6$ hash by a yescrypt one */
	TJ_OKRC(tj_auth_passwd_set(path, "bob", "newer"));
	TJ_OKRC(tj_auth_passwd_reload(be));
	TJ_ASSERT_INT(check(be, "bob", "newer"), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_FAIL);
	TJ_ASSERT(strncmp(read_text(path), "bob:$y$", 7) == 0);
	tj_auth_backend_free(&be);
}

TJ_TEST(passwd_unknown_user_and_bad_input)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "bob:" SHA512_HASH "\n");
	struct tj_auth_backend *be = open_be(path, NULL);
	TJ_ASSERT_INT(check(be, "nobody", SHA512_PW), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "", SHA512_PW), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "bob\n", SHA512_PW), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW "\r\n"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "bob:x", SHA512_PW), ==, TJ_AUTH_FAIL);
	char longpw[TJ_AUTH_PASSWORD_MAX + 2];
	memset(longpw, 'p', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = 0;
	TJ_ASSERT_INT(check(be, "bob", longpw), ==, TJ_AUTH_FAIL);
	char longuser[TJ_AUTH_USER_MAX + 2];
	memset(longuser, 'u', sizeof(longuser) - 1);
	longuser[sizeof(longuser) - 1] = 0;
	TJ_ASSERT_INT(check(be, longuser, "x"), ==, TJ_AUTH_FAIL);

	enum tj_auth_result r = TJ_AUTH_OK;
	TJ_ASSERT_INT(tj_auth_check(be, NULL, "x", &r), ==, TJ_EINVAL);
	TJ_ASSERT_INT(r, ==, TJ_AUTH_UNAVAILABLE);
	r = TJ_AUTH_OK;
	TJ_ASSERT_INT(tj_auth_check(NULL, "bob", "x", &r), ==, TJ_EINVAL);
	TJ_ASSERT_INT(r, ==, TJ_AUTH_UNAVAILABLE);
	TJ_ASSERT_STR(tj_auth_result_name(TJ_AUTH_UNAVAILABLE), "unavailable");
	tj_auth_backend_free(&be);
}

TJ_TEST(passwd_locked_accounts)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "bob:!" SHA512_HASH "\nnopw:*\nbang:!\n");
	struct tj_auth_backend *be = open_be(path, NULL);
	/* DISABLED only with the right password: a wrong one must not reveal the account */
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_DISABLED);
	TJ_ASSERT_INT(check(be, "bob", "wrong"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "nopw", "*"), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "nopw", ""), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "bang", "!"), ==, TJ_AUTH_FAIL);

	/* unlock, lock again; setting a password keeps the lock */
	TJ_OKRC(tj_auth_passwd_set_locked(path, "bob", false));
	TJ_OKRC(tj_auth_passwd_reload(be));
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_OK);
	TJ_OKRC(tj_auth_passwd_set_locked(path, "bob", true));
	TJ_OKRC(tj_auth_passwd_set_locked(path, "bob", true)); /* idempotent */
	TJ_ASSERT(strstr(read_text(path), "bob:!$6$") != NULL);
	TJ_ASSERT(strstr(read_text(path), "bob:!!") == NULL);
	TJ_OKRC(tj_auth_passwd_set(path, "bob", "other"));
	TJ_OKRC(tj_auth_passwd_reload(be));
	TJ_ASSERT_INT(check(be, "bob", "other"), ==, TJ_AUTH_DISABLED);
	TJ_OKRC(tj_auth_passwd_set_locked(path, "bang", false));
	TJ_ASSERT(strstr(read_text(path), "bang:*\n") != NULL);
	TJ_ASSERT_INT(tj_auth_passwd_set_locked(path, "ghost", true), ==, TJ_ENOTFOUND);
	/* importing a locked hash */
	TJ_OKRC(tj_auth_passwd_set_hash(path, "imp", "!" SHA512_X));
	TJ_OKRC(tj_auth_passwd_reload(be));
	TJ_ASSERT_INT(check(be, "imp", "x"), ==, TJ_AUTH_DISABLED);
	TJ_ASSERT_INT(tj_auth_passwd_set_hash(path, "imp", "$1$abc$def"), ==, TJ_EINVAL);
	tj_auth_backend_free(&be);
}

/* ------------------------------------------------------------- reloading */

TJ_TEST(passwd_reload_after_external_change)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "bob:" SHA512_HASH "\n");
	fake_now = 5000;
	struct tj_auth_passwd_config cfg = {.path = path, .now_ms = fake_clock};
	struct tj_auth_backend *be = NULL;
	TJ_OKRC(tj_auth_passwd_open(&cfg, &be));
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_OK);

	/* an editor rewrites the file in place (same inode, other size) */
	write_text(path, "bob:" SHA512_X "\n# changed by hand\n");
	fake_now += 999; /* within the interval: no stat yet */
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_OK);
	fake_now += 1;
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_FAIL);
	TJ_ASSERT_INT(check(be, "bob", "x"), ==, TJ_AUTH_OK);
	struct tj_auth_passwd_stats st;
	tj_auth_passwd_get_stats(be, &st);
	TJ_ASSERT_INT(st.loads, ==, 2);

	/* an unchanged file is not reloaded */
	fake_now += 5000;
	TJ_ASSERT_INT(check(be, "bob", "x"), ==, TJ_AUTH_OK);
	tj_auth_passwd_get_stats(be, &st);
	TJ_ASSERT_INT(st.loads, ==, 2);

	/* tjstore-cli replaces it (new inode) */
	TJ_OKRC(tj_auth_passwd_set_hash(path, "carol", SHA512_HASH));
	TJ_ASSERT_INT(check(be, "carol", SHA512_PW), ==, TJ_AUTH_FAIL); /* not yet */
	fake_now += 1000;
	TJ_ASSERT_INT(check(be, "carol", SHA512_PW), ==, TJ_AUTH_OK);

	/* a file that cannot be read: UNAVAILABLE, not the stale table */
	TJ_ASSERT(rename(path, path_in_tmp("saved")) == 0);
	TJ_ASSERT(mkdir(path, 0700) == 0);
	fake_now += 1000;
	TJ_ASSERT_INT(check(be, "carol", SHA512_PW), ==, TJ_AUTH_UNAVAILABLE);
	tj_auth_passwd_get_stats(be, &st);
	TJ_ASSERT(st.failed);
	TJ_ASSERT(rmdir(path) == 0);
	TJ_ASSERT(rename(path_in_tmp("saved"), path) == 0);
	fake_now += 1000;
	TJ_ASSERT_INT(check(be, "carol", SHA512_PW), ==, TJ_AUTH_OK);

	/* removed file: no users */
	TJ_ASSERT(unlink(path) == 0);
	fake_now += 1000;
	TJ_ASSERT_INT(check(be, "carol", SHA512_PW), ==, TJ_AUTH_FAIL);
	tj_auth_passwd_get_stats(be, &st);
	TJ_ASSERT_INT(st.users, ==, 0);
	TJ_ASSERT(!st.failed);
	tj_auth_backend_free(&be);
}

TJ_TEST(passwd_reload_real_clock_and_missing_file)
{
	const char *path = path_in_tmp("passwd");
	struct tj_auth_backend *be = open_be(path, NULL); /* no file yet */
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_FAIL);
	TJ_OKRC(tj_auth_passwd_set_hash(path, "bob", SHA512_HASH));
	usleep(1100 * 1000);
	TJ_ASSERT_INT(check(be, "bob", SHA512_PW), ==, TJ_AUTH_OK);
	tj_auth_backend_free(&be);
}

/* --------------------------------------------------------------- updates */

TJ_TEST(passwd_updates_keep_other_lines)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "# header\n\nbob:" SHA512_HASH "\nbroken\nold:$1$abc$def\ncarol:" SHA512_X "\n");
	TJ_OKRC(tj_auth_passwd_set_hash(path, "old", SHA512_X)); /* replaces its broken line */
	TJ_OKRC(tj_auth_passwd_remove(path, "bob"));
	TJ_ASSERT_INT(tj_auth_passwd_remove(path, "bob"), ==, TJ_ENOTFOUND);
	TJ_ASSERT_STR(read_text(path), "# header\n\nbroken\ncarol:" SHA512_X "\nold:" SHA512_X "\n");

	/* names and passwords the file cannot hold */
	TJ_ASSERT_INT(tj_auth_passwd_set(path, "a:b", "pw"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_set(path, "a\nb", "pw"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_set(path, "", "pw"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_set(path, "#x", "pw"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_set(path, "dave", "pw\n"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_set(path, "dave", ""), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_set_hash(path, "dave", SHA512_X "\nroot:x"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_auth_passwd_remove(path, "a:b"), ==, TJ_EINVAL);

	/* the pure rewrite: duplicates dropped, appended when absent */
	const char old[] = "a:*\n#c\na:!\nb:*";
	tj_buf out = TJ_BUF_INIT;
	bool found;
	struct tj_passwd_edit e = {.user = "a", .hash = "$6$x$y", .lock = -1};
	TJ_OKRC(tj_passwd_rewrite((const uint8_t *)old, sizeof(old) - 1, &e, &out, &found));
	TJ_ASSERT(found);
	TJ_ASSERT_STR((char *)out.data, "a:$6$x$y\n#c\nb:*\n");
	tj_buf_reset(&out);
	e = (struct tj_passwd_edit){.user = "c", .hash = "$6$x$y", .lock = 1};
	TJ_OKRC(tj_passwd_rewrite((const uint8_t *)old, sizeof(old) - 1, &e, &out, &found));
	TJ_ASSERT(!found);
	TJ_ASSERT_STR((char *)out.data, "a:*\n#c\na:!\nb:*\nc:!$6$x$y\n");
	tj_buf_free(&out);
}

TJ_TEST(passwd_file_mode_0600)
{
	const char *path = path_in_tmp("passwd");
	umask(0);
	TJ_OKRC(tj_auth_passwd_set_hash(path, "bob", SHA512_HASH));
	struct stat st;
	TJ_ASSERT(stat(path, &st) == 0);
	TJ_ASSERT_INT(st.st_mode & 07777, ==, 0600);
	char lock[600];
	snprintf(lock, sizeof(lock), "%s%s", path, TJ_PASSWD_LOCK_SUFFIX);
	TJ_ASSERT(stat(lock, &st) == 0);
	TJ_ASSERT_INT(st.st_mode & 07777, ==, 0600);
	/* a world-readable file written by hand is tightened on the next update */
	TJ_ASSERT(chmod(path, 0644) == 0);
	TJ_OKRC(tj_auth_passwd_set_hash(path, "carol", SHA512_HASH));
	TJ_ASSERT(stat(path, &st) == 0);
	TJ_ASSERT_INT(st.st_mode & 07777, ==, 0600);
	/* no temp files left behind */
	DIR *d = opendir(tj_test_tmpdir());
	TJ_ASSERT(d != NULL);
	struct dirent *de;
	unsigned entries = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		entries++;
		TJ_ASSERT(strstr(de->d_name, ".tmp.") == NULL);
	}
	closedir(d);
	TJ_ASSERT_INT(entries, ==, 2); /* passwd, passwd.lock */
}

#define PER_WRITER 40

static void writer(const char *path, char tag)
{
	for (int i = 0; i < PER_WRITER; i++) {
		char user[32];
		snprintf(user, sizeof(user), "%c%02d", tag, i);
		int rc = tj_auth_passwd_set_hash(path, user, SHA512_X);
		if (rc)
			_exit(10);
	}
	_exit(0);
}

TJ_TEST(passwd_concurrent_updates_from_two_processes)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "# shared\n");
	pid_t a = fork();
	if (a == 0)
		writer(path, 'a');
	pid_t b = fork();
	if (b == 0)
		writer(path, 'b');
	int st;
	TJ_ASSERT(waitpid(a, &st, 0) == a && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	TJ_ASSERT(waitpid(b, &st, 0) == b && WIFEXITED(st) && WEXITSTATUS(st) == 0);

	struct bad_lines bl = {0};
	struct tj_auth_backend *be = open_be(path, &bl);
	struct tj_auth_passwd_stats s;
	tj_auth_passwd_get_stats(be, &s);
	TJ_ASSERT_INT(s.users, ==, 2 * PER_WRITER); /* neither writer lost the other's lines */
	TJ_ASSERT_INT(bl.n, ==, 0);
	TJ_ASSERT(strncmp(read_text(path), "# shared\n", 9) == 0);
	TJ_ASSERT_INT(check(be, "a39", "x"), ==, TJ_AUTH_OK);
	TJ_ASSERT_INT(check(be, "b00", "x"), ==, TJ_AUTH_OK);
	tj_auth_backend_free(&be);
}

TJ_TEST(passwd_atomic_replace_reader_sees_whole_files)
{
	const char *path = path_in_tmp("passwd");
	TJ_OKRC(tj_auth_passwd_set_hash(path, "anchor", SHA512_X));
	pid_t w = fork();
	if (w == 0) {
		for (int i = 0; i < 150; i++) {
			char user[32];
			snprintf(user, sizeof(user), "user%03d", i);
			if (tj_auth_passwd_set_hash(path, user, SHA512_X))
				_exit(10);
			if (i % 3 == 0 && tj_auth_passwd_remove(path, user))
				_exit(11);
		}
		_exit(0);
	}
	unsigned reads = 0, last_lines = 0;
	int st = 0;
	for (;;) {
		pid_t done = waitpid(w, &st, WNOHANG);
		int fd = open(path, O_RDONLY);
		TJ_ASSERT(fd >= 0); /* never missing: rename replaces atomically */
		static char buf[1 << 16];
		ssize_t n = read(fd, buf, sizeof(buf));
		close(fd);
		TJ_ASSERT(n > 0 && (size_t)n < sizeof(buf));
		TJ_ASSERT(buf[n - 1] == '\n'); /* a whole file */
		unsigned lines = 0;
		for (ssize_t i = 0; i < n;) {
			char *nl = memchr(buf + i, '\n', (size_t)(n - i));
			struct tj_passwd_line pl;
			TJ_OKRC(tj_passwd_parse_line(buf + i, (size_t)(nl - (buf + i)), &pl, NULL));
			TJ_ASSERT_INT(pl.kind, ==, TJ_PASSWD_LINE_ENTRY);
			lines++;
			i = nl - buf + 1;
		}
		TJ_ASSERT(strncmp(buf, "anchor:", 7) == 0);
		last_lines = lines;
		reads++;
		if (done == w)
			break;
	}
	TJ_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	TJ_ASSERT_INT(last_lines, ==, 1 + 100); /* anchor + 150 users - 50 removed */
	TJ_ASSERT_INT(reads, >, 1);
}

/* ------------------------------------------------------ threads, timing */

struct thr {
	struct tj_auth_backend *be;
	int bad;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	for (int i = 0; i < 4; i++) {
		enum tj_auth_result r;
		if (tj_auth_check(t->be, "bob", SHA512_PW, &r) || r != TJ_AUTH_OK)
			t->bad++;
		if (tj_auth_check(t->be, "bob", "nope", &r) || r != TJ_AUTH_FAIL)
			t->bad++;
		if (tj_auth_check(t->be, "ghost", "nope", &r) || r != TJ_AUTH_FAIL)
			t->bad++;
	}
	return NULL;
}

TJ_TEST(passwd_threads_share_a_backend)
{
	const char *path = path_in_tmp("passwd");
	write_text(path, "bob:" SHA512_HASH "\n");
	struct tj_auth_passwd_config cfg = {.path = path, .reload_interval_ms = 1};
	struct tj_auth_backend *be = NULL;
	TJ_OKRC(tj_auth_passwd_open(&cfg, &be));
	struct thr t[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		t[i] = (struct thr){be, 0};
		TJ_ASSERT(pthread_create(&th[i], NULL, thr_main, &t[i]) == 0);
	}
	/* reloads happen under the checks */
	for (int i = 0; i < 5; i++) {
		TJ_OKRC(tj_auth_passwd_set_hash(path, "other", SHA512_X));
		usleep(20000);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		TJ_ASSERT_INT(t[i].bad, ==, 0);
	}
	tj_auth_backend_free(&be);
}

static double time_checks(struct tj_auth_backend *be, const char *user, const char *pw, int n)
{
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		TJ_ASSERT_INT(check(be, user, pw), ==, TJ_AUTH_FAIL);
	return (now_s() - t0) / n;
}

TJ_TEST(passwd_unknown_user_costs_like_wrong_password)
{
	const char *path = path_in_tmp("passwd");
	TJ_OKRC(tj_auth_passwd_set(path, "alice", "right"));
	TJ_OKRC(tj_auth_passwd_set_hash(path, "broken", "$y$a$b$c")); /* libxcrypt refuses this setting */
	struct tj_auth_backend *be = open_be(path, NULL);
	(void)time_checks(be, "alice", "warm", 1);
	double wrong = 0, unknown = 0, broken = 0;
	for (int round = 0; round < 3; round++) { /* interleaved, against drift */
		wrong += time_checks(be, "alice", "wrong", 3);
		unknown += time_checks(be, "nobody", "wrong", 3);
		broken += time_checks(be, "broken", "wrong", 1);
	}
	double ratio = wrong > unknown ? wrong / unknown : unknown / wrong;
	fprintf(stderr, "wrong password %.1f ms, unknown user %.1f ms, malformed hash %.1f ms\n", wrong / 3 * 1e3,
		unknown / 3 * 1e3, broken / 3 * 1e3);
	TJ_ASSERT(ratio < 3.0);
	ratio = wrong > broken ? wrong / broken : broken / wrong;
	TJ_ASSERT(ratio < 3.0);
	/* and both did real work: a yescrypt hash, not a shortcut */
	TJ_ASSERT(unknown / 3 > 0.001);
	tj_auth_backend_free(&be);
}

/* -------------------------------------------------------------- throttle */

static struct tj_throttle *new_throttle(size_t slots)
{
	static const uint8_t key[TJ_THROTTLE_KEY_LEN] = "0123456789abcdef";
	struct tj_throttle *t = NULL;
	TJ_OKRC(tj_throttle_new(slots, key, &t));
	return t;
}

TJ_TEST(throttle_policy_numbers)
{
	static const uint32_t want[] = {0, 0, 0, 1000, 2000, 4000, 8000, 15000, 15000, 15000};
	for (unsigned f = 0; f < sizeof(want) / sizeof(want[0]); f++)
		TJ_ASSERT_INT(tj_throttle_policy_ms(f), ==, want[f]);
	TJ_ASSERT_INT(tj_throttle_policy_ms(UINT32_MAX), ==, 15000);
}

TJ_TEST(throttle_grows_per_ip_and_per_user)
{
	struct tj_throttle *t = new_throttle(0);
	uint64_t now = 1000000;
	/* one address trying many users */
	static const uint32_t want[] = {0, 0, 0, 1000, 2000, 4000, 8000, 15000, 15000};
	for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		char user[16];
		snprintf(user, sizeof(user), "u%u", i);
		TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.7", user, now), ==, want[i]);
		tj_throttle_record(t, "192.0.2.7", user, false, now);
		now += 100;
	}
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.8", "fresh", now), ==, 0); /* other address */
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.7", NULL, now), ==, 15000);

	/* one user attacked from many addresses */
	for (unsigned i = 0; i < 5; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "198.51.100.%u", i);
		tj_throttle_record(t, ip, "victim", false, now);
	}
	TJ_ASSERT_INT(tj_throttle_delay(t, "203.0.113.1", "victim", now), ==, 4000);
	TJ_ASSERT_INT(tj_throttle_delay(t, "203.0.113.1", "VICTIM", now), ==, 4000); /* case folded */
	TJ_ASSERT_INT(tj_throttle_delay(t, NULL, "victim", now), ==, 4000);
	TJ_ASSERT_INT(tj_throttle_delay(t, NULL, NULL, now), ==, 0);

	/* IPv6 by /64; v4-mapped is the v4 address */
	for (int i = 0; i < 3; i++)
		tj_throttle_record(t, "2001:db8:1:2::5", NULL, false, now);
	TJ_ASSERT_INT(tj_throttle_delay(t, "2001:db8:1:2:ffff::9", NULL, now), ==, 1000);
	TJ_ASSERT_INT(tj_throttle_delay(t, "2001:db8:1:3::5", NULL, now), ==, 0);
	TJ_ASSERT_INT(tj_throttle_delay(t, "::ffff:192.0.2.7", NULL, now), ==, 15000);
	tj_throttle_free(&t);
	TJ_ASSERT(t == NULL);
}

TJ_TEST(throttle_decays_and_success_resets)
{
	struct tj_throttle *t = new_throttle(0);
	uint64_t now = 50;
	for (int i = 0; i < 4; i++)
		tj_throttle_record(t, "192.0.2.1", "bob", false, now);
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", "bob", now), ==, 2000);
	/* still there just before 10 minutes, gone at 10 minutes */
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", "bob", now + TJ_THROTTLE_DECAY_MS - 1), ==, 2000);
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", "bob", now + TJ_THROTTLE_DECAY_MS), ==, 0);
	/* a failure after the decay starts from one again */
	now += TJ_THROTTLE_DECAY_MS + 5;
	tj_throttle_record(t, "192.0.2.1", "bob", false, now);
	tj_throttle_record(t, "192.0.2.1", "bob", false, now);
	tj_throttle_record(t, "192.0.2.1", "bob", false, now);
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", "bob", now), ==, 1000);
	/* each failure restarts the 10 minutes */
	now += TJ_THROTTLE_DECAY_MS - 10;
	tj_throttle_record(t, "192.0.2.1", "bob", false, now);
	now += TJ_THROTTLE_DECAY_MS - 10;
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", "bob", now), ==, 2000);

	/* success: the user's count is cleared, the address loses one */
	tj_throttle_record(t, "192.0.2.1", "bob", true, now);
	TJ_ASSERT_INT(tj_throttle_delay(t, NULL, "bob", now), ==, 0);
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", NULL, now), ==, 1000);
	tj_throttle_record(t, "192.0.2.1", "carol", true, now);
	TJ_ASSERT_INT(tj_throttle_delay(t, "192.0.2.1", NULL, now), ==, 0);
	for (int i = 0; i < 5; i++)
		tj_throttle_record(t, "192.0.2.1", "carol", true, now);
	TJ_ASSERT_INT(tj_throttle_count(t), ==, 0);
	tj_throttle_free(&t);
}

TJ_TEST(throttle_memory_is_bounded)
{
	enum { SLOTS = 64 };
	struct tj_throttle *t = new_throttle(SLOTS);
	uint64_t now = 1;
	for (unsigned i = 0; i < 20000; i++) {
		char ip[32], user[32];
		snprintf(ip, sizeof(ip), "10.%u.%u.%u", i >> 16 & 255, i >> 8 & 255, i & 255);
		snprintf(user, sizeof(user), "spray%u", i);
		tj_throttle_record(t, ip, user, false, now++);
		TJ_ASSERT_INT(tj_throttle_count(t), <=, SLOTS);
	}
	TJ_ASSERT_INT(tj_throttle_count(t), ==, SLOTS);
	/* the newest entries survive, the oldest were evicted */
	for (int i = 0; i < 3; i++)
		tj_throttle_record(t, "10.0.0.1", NULL, false, now);
	for (int i = 0; i < 2; i++)
		tj_throttle_record(t, "10.0.78.31", NULL, false, now); /* i = 19999 had one already */
	TJ_ASSERT_INT(tj_throttle_delay(t, "10.0.0.1", NULL, now), ==, 1000);
	TJ_ASSERT_INT(tj_throttle_delay(t, "10.0.78.31", NULL, now), ==, 1000);
	TJ_ASSERT_INT(tj_throttle_delay(t, "10.0.0.2", NULL, now), ==, 0);
	/* an entry that keeps failing is not pushed out by the spray */
	for (unsigned i = 0; i < 1000; i++) {
		char ip[32];
		snprintf(ip, sizeof(ip), "172.16.%u.%u", i >> 8 & 255, i & 255);
		tj_throttle_record(t, ip, NULL, false, now);
		if (i % 16 == 0)
			tj_throttle_record(t, NULL, "target", false, now);
		now++;
	}
	TJ_ASSERT_INT(tj_throttle_delay(t, NULL, "target", now), ==, 15000);
	TJ_ASSERT_INT(tj_throttle_count(t), ==, SLOTS);

	struct tj_throttle *big = NULL;
	TJ_ASSERT_INT(tj_throttle_new(TJ_THROTTLE_SLOTS_MAX + 1, NULL, &big), ==, TJ_EINVAL);
	TJ_OKRC(tj_throttle_new(0, NULL, &big)); /* random key */
	tj_throttle_record(big, "192.0.2.1", "x", false, 1);
	TJ_ASSERT_INT(tj_throttle_count(big), ==, 2);
	tj_throttle_free(&big);
	tj_throttle_free(&t);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

/*
 * test-spam.c - node/scan spam scoring: the SpamAssassin-style rule parser
 * and matcher (sarules) and the combiner (spam: GTUBE, Bayes pseudo-rules,
 * X-Spam-* headers).
 *
 * Hand-made rules and messages for the semantics; tjstore.cf and Debian's
 * SpamAssassin rules (/usr/share/spamassassin, package spamassassin) on the
 * shared corpus for the real thing (skipped with a message when missing).
 * Figures are printed as "spam-figures ..." lines.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>

#include "common/buf.h"
#include "common/err.h"
#include "node/scan/sarules.h"
#include "node/scan/spam.h"
#include "tests/harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define TJ_HAVE_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TJ_HAVE_LSAN 1
#endif
#endif
#ifdef TJ_HAVE_LSAN
#include <sanitizer/lsan_interface.h>
/* Each case ends with _exit() in its forked child, where LeakSanitizer's
 * exit check never runs: cases call leak_check() after freeing. */
static void leak_check(void)
{
	if (__lsan_do_recoverable_leak_check() != 0)
		TJ_FAIL("LeakSanitizer found leaks");
}
#else
static void leak_check(void)
{
}
#endif

#ifndef TJ_SPAM_RULES_DIR
#define TJ_SPAM_RULES_DIR "node/scan/rules"
#endif
#define SA_RULES_DIR "/usr/share/spamassassin"
#define CORPUS "/work/shared/corpus/spamassassin-public-1.tar.zst"

/* ---------------------------------------------------------------- helpers */

static tj_sa_rules *load_text(const char *text)
{
	tj_sa_rules *r;
	TJ_OKRC(tj_sa_rules_new(&r));
	TJ_OKRC(tj_sa_rules_parse(r, "test.cf", (const uint8_t *)text, strlen(text)));
	TJ_OKRC(tj_sa_rules_finish(r));
	return r;
}

static struct tj_sa_match check(const tj_sa_rules *r, const char *msg, double bayes)
{
	struct tj_sa_match m;
	TJ_OKRC(tj_sa_check(r, (const uint8_t *)msg, strlen(msg), bayes, &m));
	return m;
}

/* hit - the rule's value in m, 0 if it did not hit */
static double hit(const struct tj_sa_match *m, const char *name)
{
	for (size_t i = 0; i < m->nhits; i++)
		if (strcmp(m->hits[i].name, name) == 0)
			return m->hits[i].value;
	return 0;
}

#define EXPECT_HIT(m, name) \
	do { if (hit(&(m), name) == 0) TJ_FAIL("expected %s to hit", name); } while (0)
#define EXPECT_MISS(m, name) \
	do { if (hit(&(m), name) != 0) TJ_FAIL("expected %s not to hit (value %g)", name, hit(&(m), name)); } while (0)
#define EXPECT_NEAR(a, b) \
	do { double a_ = (a), b_ = (b); if (fabs(a_ - b_) > 1e-9) TJ_FAIL("%s = %.6f, expected %.6f", #a, a_, b_); } while (0)

static struct tj_sa_rule_info info(const tj_sa_rules *r, const char *name)
{
	struct tj_sa_rule_info i;
	if (tj_sa_rule_info(r, name, &i) != 0)
		TJ_FAIL("no rule %s", name);
	return i;
}

static struct tj_sa_stats stats(const tj_sa_rules *r)
{
	struct tj_sa_stats st;
	tj_sa_rules_stats(r, &st);
	return st;
}

static int read_whole(const char *path, tj_buf *b)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	char tmp[65536];
	size_t n;
	int rc = 0;
	while (rc == 0 && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		rc = tj_buf_append(b, tmp, n);
	fclose(f);
	return rc;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* A plain, ordinary message; Subject and body are filled in. */
static char *make_mail(const char *headers, const char *body)
{
	tj_buf b = TJ_BUF_INIT;
	if (tj_buf_printf(&b, "%s\r\n%s", headers, body) != 0)
		TJ_FAIL("ENOMEM");
	return (char *)tj_buf_steal(&b, NULL);
}

static const char plain_headers[] =
	"Return-Path: <alice@example.org>\r\n"
	"Received: from mx.example.org (mx.example.org [192.0.2.1])\r\n"
	"\tby mail.example.com with ESMTP id 4F2A9C01; Tue, 14 Jan 2025 09:30:12 +0000\r\n"
	"From: Alice Example <alice@example.org>\r\n"
	"To: Bob <bob@example.com>\r\n"
	"Subject: minutes of Tuesday's meeting\r\n"
	"Date: Tue, 14 Jan 2025 09:30:00 +0000\r\n"
	"Message-ID: <20250114093000.1234@example.org>\r\n"
	"MIME-Version: 1.0\r\n"
	"Content-Type: text/plain; charset=utf-8\r\n";

/* ------------------------------------------------------------- the parser */

/* directives - every supported directive lands where it should */
TJ_TEST(parse_directives)
{
	tj_sa_rules *r = load_text(
		"# a comment line\n"
		"required_score 6.5   # trailing comment\n"
		"header   H_SUBJ   Subject =~ /meeting/i\n"
		"header   H_NEG    Subject !~ /nothing/\n"
		"header   H_EXISTS exists:Message-ID\n"
		"header   H_UNSET  X-Missing =~ /^dflt$/ [if-unset: dflt]\n"
		"body     B_TEXT   /minutes/\n"
		"rawbody  R_TEXT   m{minutes}\n"
		"uri      U_LINK   m!^https?://!i\n"
		"full     F_RCVD   /^Received: from mx\\.example\\.org/m\n"
		"meta     M_ALL    H_SUBJ && B_TEXT && !U_LINK\n"
		"describe H_SUBJ   Subject is about a meeting\n"
		"score    H_SUBJ   2.5\n"
		"score    B_TEXT   0.1 0.2 0.3 0.4\n"
		"tflags   H_NEG    nice\n"
		"score    H_NEG    -0.5\n"
		"body     HASH     /a\\#b/\n");
	struct tj_sa_stats st = stats(r);
	TJ_ASSERT_INT(st.by_type[TJ_SA_HEADER], ==, 4);
	TJ_ASSERT_INT(st.by_type[TJ_SA_BODY], ==, 2);
	TJ_ASSERT_INT(st.by_type[TJ_SA_RAWBODY], ==, 1);
	TJ_ASSERT_INT(st.by_type[TJ_SA_URI], ==, 1);
	TJ_ASSERT_INT(st.by_type[TJ_SA_FULL], ==, 1);
	TJ_ASSERT_INT(st.by_type[TJ_SA_META], ==, 1);
	TJ_ASSERT_INT(st.by_type[TJ_SA_BAYES], ==, 10);
	for (int s = 0; s < TJ_SA_SKIP_NR; s++)
		if (st.skipped[s])
			TJ_FAIL("skipped %s: %u", tj_sa_skip_name(s), st.skipped[s]);
	EXPECT_NEAR(tj_sa_rules_required(r), 6.5);
	struct tj_sa_rule_info i = info(r, "H_SUBJ");
	TJ_ASSERT(i.active && i.scored && i.type == TJ_SA_HEADER);
	EXPECT_NEAR(i.score, 2.5);
	TJ_ASSERT_STR(i.describe, "Subject is about a meeting");
	EXPECT_NEAR(info(r, "B_TEXT").score, 0.3); /* set 2: no network, Bayes on */
	EXPECT_NEAR(info(r, "H_NEG").score, -0.5);
	EXPECT_NEAR(info(r, "U_LINK").score, 1.0); /* no score line: 1.0 */

	char *msg = make_mail(plain_headers, "Hi Bob, the minutes are below.\r\na#b\r\n");
	struct tj_sa_match m = check(r, msg, -1);
	EXPECT_HIT(m, "H_SUBJ");
	EXPECT_HIT(m, "H_NEG");
	EXPECT_HIT(m, "H_EXISTS");
	EXPECT_HIT(m, "H_UNSET");
	EXPECT_HIT(m, "B_TEXT");
	EXPECT_HIT(m, "R_TEXT");
	EXPECT_HIT(m, "F_RCVD");
	EXPECT_HIT(m, "M_ALL");
	EXPECT_HIT(m, "HASH"); /* "\#" is a literal # */
	EXPECT_MISS(m, "U_LINK");
	/* 2.5 - 0.5 + 1 (exists) + 1 (unset) + 0.3 + 1 + 1 + 1 + 1 */
	EXPECT_NEAR(m.score, 2.5 - 0.5 + 1 + 1 + 0.3 + 1 + 1 + 1 + 1);
	tj_sa_match_free(&m);
	free(msg);

	/* the one-line summary names counts and reasons */
	tj_buf s = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_rules_summary(r, &s));
	TJ_ASSERT(strstr((char *)s.data, "header=4 body=2 rawbody=1 uri=1 full=1 meta=1 bayes=10"));
	TJ_ASSERT(strstr((char *)s.data, "required=6.5"));
	tj_buf_free(&s);
	tj_sa_rules_free(&r);
	TJ_ASSERT(r == NULL);
	leak_check();
}

/* score_sets - 1 or 4 scores, relative scores, defaults (1.0, T_ 0.01,
 * nice negative), __ rules unscored, score 0 disables */
TJ_TEST(parse_scores)
{
	tj_sa_rules *r = load_text(
		"body ONE    /x/\n"
		"body FOUR   /x/\n"
		"body TWO    /x/\n"
		"body REL    /x/\n"
		"body DFLT   /x/\n"
		"body T_TEST /x/\n"
		"body NICE   /x/\n"
		"body T_NICE /x/\n"
		"body __SUB  /x/\n"
		"body OFF    /x/\n"
		"body __OFF  /x/\n"
		"meta USES_OFF !OFF && !__OFF\n"
		"meta USES_SUB __SUB && 0\n"          /* reads __SUB, never hits */
		"body __LONELY /x/\n"                 /* read by nothing: not run */
		"score ONE 2\n"
		"score FOUR 1 2 3.5 4\n"
		"score TWO 1 2\n"
		"score REL 1.5\n"
		"score REL (0.5)\n"
		"tflags NICE nice\n"
		"tflags T_NICE nice learn\n"
		"score OFF 0\n"
		"score __OFF 0\n"
		"score NEVER_DEFINED 3\n");
	EXPECT_NEAR(info(r, "ONE").score, 2);
	EXPECT_NEAR(info(r, "FOUR").score, 3.5);
	EXPECT_NEAR(info(r, "TWO").score, 1.0); /* 2 scores: refused, default */
	EXPECT_NEAR(info(r, "REL").score, 2.0);
	EXPECT_NEAR(info(r, "DFLT").score, 1.0);
	EXPECT_NEAR(info(r, "T_TEST").score, 0.01);
	EXPECT_NEAR(info(r, "NICE").score, -1.0);
	EXPECT_NEAR(info(r, "T_NICE").score, -0.01);
	struct tj_sa_rule_info s = info(r, "__SUB");
	TJ_ASSERT(s.active && !s.scored);
	s = info(r, "OFF");
	TJ_ASSERT(!s.active && s.why == TJ_SA_SKIP_DISABLED);
	s = info(r, "__OFF");
	TJ_ASSERT(!s.active && s.why == TJ_SA_SKIP_DISABLED);
	TJ_ASSERT(!info(r, "NEVER_DEFINED").active);
	struct tj_sa_stats st = stats(r);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_SYNTAX], ==, 1);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_DISABLED], ==, 2);

	char *msg = make_mail(plain_headers, "x\r\n");
	struct tj_sa_match m = check(r, msg, -1);
	EXPECT_HIT(m, "__SUB");
	EXPECT_MISS(m, "__LONELY");
	TJ_ASSERT(info(r, "__LONELY").active);
	TJ_ASSERT_INT(stats(r).unused, ==, 1);
	EXPECT_MISS(m, "OFF");
	/* disabled rules do not run: a meta on them is undecided, no hit */
	EXPECT_MISS(m, "USES_OFF");
	EXPECT_NEAR(m.score, 2 + 3.5 + 1 + 2 + 1 + 0.01 - 1 - 0.01);
	for (size_t i = 0; i < m.nhits; i++)
		if (strcmp(m.hits[i].name, "__SUB") == 0)
			TJ_ASSERT(!m.hits[i].scored && m.hits[i].score == 0);
	tj_sa_match_free(&m);
	free(msg);
	tj_sa_rules_free(&r);
	leak_check();
}

/* bad lines are counted and skipped, never fatal */
TJ_TEST(parse_skips_and_counts)
{
	tj_sa_rules *r = load_text(
		"body  GOOD      /fine/\n"
		"body  BAD_RE    /(unclosed/\n"
		"body  BAD_WIDE  /\\x{0456}/\n"          /* > 255 without UTF */
		"body  BAD_UTF   /(*UTF)x/\n"            /* UTF mode is refused */
		"body  BAD_DELIM foo\n"
		"body  EVAL_B    eval:check_stuff()\n"
		"header EVAL_H   eval:check_rbl('x', 'y')\n"
		"header RELAY    X-Spam-Relays-External =~ /foo/\n"
		"header HOST     From:host =~ /foo/\n"
		"body  9BAD      /x/\n"
		"lang  de describe GOOD Gut\n"
		"priority GOOD -100\n"
		"loadplugin Mail::SpamAssassin::Plugin::Foo\n"
		"frobnicate 1 2 3\n"
		"frobnicate 4\n"
		"meta  BAD_META  GOOD &&& (\n"
		"score GOOD 1 2 3\n");
	struct tj_sa_stats st = stats(r);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_REGEX], ==, 3);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_EVAL], ==, 2);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_UNSUPPORTED], ==, 2);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_SYNTAX], ==, 3); /* delimiters, 9BAD, 3 scores */
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_LANG], ==, 1);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_PRIORITY], ==, 1);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_DIRECTIVE], ==, 3);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_META], ==, 1);
	TJ_ASSERT(info(r, "GOOD").active);
	struct tj_sa_rule_info i = info(r, "BAD_RE");
	TJ_ASSERT(!i.active && i.why == TJ_SA_SKIP_REGEX && i.type == TJ_SA_BODY);
	i = info(r, "EVAL_H");
	TJ_ASSERT(!i.active && i.why == TJ_SA_SKIP_EVAL && i.type == TJ_SA_HEADER);
	TJ_ASSERT(!info(r, "BAD_META").active && info(r, "BAD_META").why == TJ_SA_SKIP_META);
	tj_buf s = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_rules_summary(r, &s));
	TJ_ASSERT(strstr((char *)s.data, "skipped_regex=3"));
	TJ_ASSERT(strstr((char *)s.data, "unknown_directives=frobnicate:2,loadplugin:1"));
	TJ_ASSERT(strstr((char *)s.data, "test.cf:2 BAD_RE regex")); /* first example names file:line */
	tj_buf_free(&s);
	tj_sa_rules_free(&r);

	/* parse after finish, check before finish */
	TJ_OKRC(tj_sa_rules_new(&r));
	struct tj_sa_match m;
	TJ_ASSERT_INT(tj_sa_check(r, (const uint8_t *)"x", 1, -1, &m), ==, TJ_ESTATE);
	TJ_OKRC(tj_sa_rules_finish(r));
	TJ_ASSERT_INT(tj_sa_rules_finish(r), ==, TJ_ESTATE);
	TJ_ASSERT_INT(tj_sa_rules_parse(r, NULL, (const uint8_t *)"body X /x/\n", 11), ==, TJ_ESTATE);
	tj_sa_rules_free(&r);
	tj_sa_rules_free(&r); /* NULL is fine */
	leak_check();
}

/* if / ifplugin / else / endif, nested */
TJ_TEST(parse_conditionals)
{
	tj_sa_rules *r = load_text(
		"ifplugin Mail::SpamAssassin::Plugin::Bayes\n"
		"  body IN_BAYES /x/\n"
		"  ifplugin Mail::SpamAssassin::Plugin::DKIM\n"
		"    body IN_DKIM /x/\n"
		"    if (version >= 3.004000)\n"
		"      body IN_DKIM_VERSION /x/\n"
		"    endif\n"
		"  else\n"
		"    body NOT_DKIM /x/\n"
		"  endif\n"
		"endif\n"
		"if (version >= 3.004002)\n  body VERSION_OK /x/\nendif\n"
		"if version < 3.000000\n  body VERSION_OLD /x/\nendif\n"
		"if can(Mail::SpamAssassin::Conf::feature_bug6558_free)\n  body CAN_KNOWN /x/\nendif\n"
		"if can(Mail::SpamAssassin::Conf::feature_capture_rules)\n  body CAN_TAGS /x/\nelse\n  body NO_TAGS /x/\nendif\n"
		"if !plugin(Mail::SpamAssassin::Plugin::SPF)\n  body NO_SPF /x/\nendif\n"
		"if !(!plugin(Mail::SpamAssassin::Plugin::DKIM))\n  body DKIM2 /x/\nendif\n"
		"if (plugin(Mail::SpamAssassin::Plugin::Bayes) && version >= 4)\n  body BOTH /x/\nendif\n"
		"if (local_tests_only)\n  body LOCAL /x/\nendif\n"
		"ifplugin Mail::SpamAssassin::Plugin::Nope\n"
		"  header EVAL_IN_FALSE eval:whatever()\n"
		"  body IN_FALSE /x/\n"
		"  if (version >= 1)\n    body DEEP /x/\n  else\n    body DEEP_ELSE /x/\n  endif\n"
		"endif\n"
		"if garbage ((\n  body GARBAGE /x/\nendif\n"
		"endif\n"); /* unbalanced: counted */
	const char *on[] = {"IN_BAYES", "NOT_DKIM", "VERSION_OK", "CAN_KNOWN", "NO_TAGS", "NO_SPF", "BOTH", "LOCAL"};
	const char *off[] = {"IN_DKIM", "IN_DKIM_VERSION", "VERSION_OLD", "CAN_TAGS", "DKIM2",
			     "EVAL_IN_FALSE", "IN_FALSE", "DEEP", "DEEP_ELSE", "GARBAGE"};
	for (size_t k = 0; k < sizeof(on) / sizeof(on[0]); k++)
		if (tj_sa_rule_info(r, on[k], &(struct tj_sa_rule_info){0}) != 0 || !info(r, on[k]).active)
			TJ_FAIL("%s should be active", on[k]);
	for (size_t k = 0; k < sizeof(off) / sizeof(off[0]); k++) {
		struct tj_sa_rule_info i;
		if (tj_sa_rule_info(r, off[k], &i) == 0 && i.active)
			TJ_FAIL("%s should not be defined", off[k]);
	}
	struct tj_sa_stats st = stats(r);
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_EVAL], ==, 1);        /* eval inside a false block */
	TJ_ASSERT_INT(st.skipped[TJ_SA_SKIP_SYNTAX], ==, 2);      /* "if garbage", the extra endif */
	TJ_ASSERT(st.skipped[TJ_SA_SKIP_CONDITIONAL] >= 8);
	tj_sa_rules_free(&r);

	/* an unclosed block is closed at the end of its file: the next file
	 * starts active again */
	TJ_OKRC(tj_sa_rules_new(&r));
	const char *a = "ifplugin Mail::SpamAssassin::Plugin::Nope\nbody A /x/\n";
	const char *b = "body B /x/\n";
	TJ_OKRC(tj_sa_rules_parse(r, "a.cf", (const uint8_t *)a, strlen(a)));
	TJ_OKRC(tj_sa_rules_parse(r, "b.cf", (const uint8_t *)b, strlen(b)));
	TJ_OKRC(tj_sa_rules_finish(r));
	TJ_ASSERT(info(r, "B").active);
	TJ_ASSERT_INT(stats(r).skipped[TJ_SA_SKIP_SYNTAX], ==, 1);
	tj_sa_rules_free(&r);

	/* nesting deeper than the limit stays false and balanced */
	tj_buf deep = TJ_BUF_INIT;
	for (int k = 0; k < TJ_SA_IF_DEPTH_MAX + 10; k++)
		tj_buf_puts(&deep, "if (version >= 1)\n");
	tj_buf_puts(&deep, "body TOO_DEEP /x/\n");
	for (int k = 0; k < TJ_SA_IF_DEPTH_MAX + 10; k++)
		tj_buf_puts(&deep, "endif\n");
	tj_buf_puts(&deep, "body AFTER /x/\n");
	TJ_OKRC(tj_sa_rules_new(&r));
	TJ_OKRC(tj_sa_rules_parse(r, "deep.cf", deep.data, deep.len));
	TJ_OKRC(tj_sa_rules_finish(r));
	TJ_ASSERT(info(r, "AFTER").active);
	struct tj_sa_rule_info i;
	TJ_ASSERT(tj_sa_rule_info(r, "TOO_DEEP", &i) != 0 || !i.active);
	tj_buf_free(&deep);
	tj_sa_rules_free(&r);
	leak_check();
}

/* redefinitions replace; several buffers make one rule set */
TJ_TEST(parse_redefinition)
{
	tj_sa_rules *r;
	TJ_OKRC(tj_sa_rules_new(&r));
	const char *a = "body X /alpha/\nscore X 2\n";
	const char *b = "header X Subject =~ /meeting/\n";
	TJ_OKRC(tj_sa_rules_parse(r, "a.cf", (const uint8_t *)a, strlen(a)));
	TJ_OKRC(tj_sa_rules_parse(r, "b.cf", (const uint8_t *)b, strlen(b)));
	TJ_OKRC(tj_sa_rules_finish(r));
	struct tj_sa_rule_info i = info(r, "X");
	TJ_ASSERT(i.type == TJ_SA_HEADER && i.active);
	EXPECT_NEAR(i.score, 2); /* the score stays with the name */
	TJ_ASSERT_INT(stats(r).files, ==, 2);
	char *msg = make_mail(plain_headers, "alpha\r\n");
	struct tj_sa_match m = check(r, msg, -1);
	EXPECT_HIT(m, "X");
	EXPECT_NEAR(m.score, 2);
	tj_sa_match_free(&m);
	free(msg);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ------------------------------------------------------------------ metas */

TJ_TEST(meta_evaluation)
{
	tj_sa_rules *r = load_text(
		"body __A /alpha/\n"
		"body __B /beta/\n"
		"body __C /gamma/\n"
		"body __Z /notthere/\n"
		"body __M /a/\ntflags __M multiple maxhits=5\n"
		"meta AND_OR     (__A && __Z) || __B\n"
		"meta NOT_PREC   !__Z && __A\n"
		"meta ARITH      __A + __B + __C + __Z == 3\n"
		"meta ARITH2     (3 * __A - 2 * __B) > 0\n"
		"meta ARITH3     __A + __B * 2 - 1 >= 2\n"
		"meta DIV0       __A / __Z > 0\n"
		"meta NEG        -__A < 0\n"
		"meta COUNT      __M >= 5\n"
		"meta COUNT_VAL  __M\n"
		"meta PERL_AND   (__A && 7) == 7\n"
		"meta PERL_OR    (__Z || 5) == 5\n"
		"meta GLOB       rules_matching(__[ABC]) == 0 || rules_matching(__?) >= 3\n"
		"meta META_META  AND_OR && ARITH\n"
		"meta LOCAL      local_tests_only\n"
		/* unknown inputs (SpamAssassin's basic_meta2.t cases) */
		"meta U_NOT      !NONEXISTENT\n"
		"meta U_TAUT     !NONEXISTENT || NONEXISTENT\n"
		"meta U_SUM2     __A + NONEXISTENT == 2\n"
		"meta U_SUM_GT   __A + NONEXISTENT + __B > 1\n"
		"body SKIPPED    eval:foo()\n"
		"meta U_SKIPPED  !SKIPPED\n"
		"meta U_MIXED    __A || !NONEXISTENT || OTHER_UNDEF\n"
		"meta U_MIXED2   __Z || !NONEXISTENT || OTHER_UNDEF\n"
		"meta U_ABOVE    !U_MIXED2\n"
		/* cycles */
		"meta CYC1       CYC2 || __A\n"
		"meta CYC2       CYC1\n"
		"meta SELF       SELF || __A\n"
		"meta ON_CYCLE   CYC1 || __B\n");
	TJ_ASSERT(!info(r, "CYC1").active && info(r, "CYC1").why == TJ_SA_SKIP_META_CYCLE);
	TJ_ASSERT(!info(r, "CYC2").active);
	TJ_ASSERT(!info(r, "SELF").active);
	TJ_ASSERT(info(r, "ON_CYCLE").active);
	TJ_ASSERT_INT(stats(r).skipped[TJ_SA_SKIP_META_CYCLE], ==, 3);

	char *msg = make_mail(plain_headers, "alpha beta gamma aaaaaaa\r\n");
	struct tj_sa_match m = check(r, msg, -1);
	EXPECT_HIT(m, "AND_OR");
	EXPECT_HIT(m, "NOT_PREC");
	EXPECT_HIT(m, "ARITH");
	EXPECT_HIT(m, "ARITH2");
	EXPECT_HIT(m, "ARITH3");
	EXPECT_MISS(m, "DIV0");
	EXPECT_HIT(m, "NEG");
	EXPECT_HIT(m, "COUNT");
	EXPECT_NEAR(hit(&m, "COUNT_VAL"), 5);  /* a meta's value is its expression's */
	EXPECT_NEAR(hit(&m, "__M"), 5);
	EXPECT_HIT(m, "PERL_AND");
	EXPECT_HIT(m, "PERL_OR");
	EXPECT_HIT(m, "GLOB");
	EXPECT_HIT(m, "META_META");
	EXPECT_HIT(m, "LOCAL");
	EXPECT_MISS(m, "U_NOT");
	EXPECT_HIT(m, "U_TAUT");
	EXPECT_MISS(m, "U_SUM2");
	EXPECT_HIT(m, "U_SUM_GT");
	EXPECT_MISS(m, "U_SKIPPED");
	EXPECT_HIT(m, "U_MIXED");       /* __A decides it */
	EXPECT_MISS(m, "U_MIXED2");     /* true for all-0 and all-1, false for (1,0) */
	EXPECT_HIT(m, "U_ABOVE");       /* an undecided meta reads 0 above it, as in SA */
	EXPECT_HIT(m, "ON_CYCLE");      /* __B decides it */
	tj_sa_match_free(&m);
	free(msg);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ---------------------------------------------------------------- headers */

TJ_TEST(match_headers)
{
	tj_sa_rules *r = load_text(
		"header DEC       Subject =~ /Grüße aus Köln/\n"
		"header RAW       Subject:raw =~ /=\\?iso-8859-1\\?Q\\?Gr=FC=DFe/i\n"
		"header NOT_RAW   Subject =~ /=\\?iso/\n"
		"header ALLH      ALL =~ /^X-Mailer: Example Mailer 1\\.0$/m\n"
		"header ALLRAW    ALL:raw =~ /^Received: from a\\r?\\n\\tby b/m\n"
		"header TOCC      ToCc =~ /carol\\@example\\.com/\n"
		"header MSGID     MESSAGEID =~ /^<orig\\@example\\.org>$/m\n"
		"header ADDR      From:addr =~ /^alice\\@example\\.org$/\n"
		"header NAME      From:name =~ /^Alice Example$/\n"
		"header NAME_Q    Reply-To:name =~ /^Foo Blah$/\n"
		"header ADDR_CMT  Sender:addr =~ /^sender\\@example\\.net$/\n"
		"header NAME_CMT  Sender:name =~ /^Sender Name$/\n"
		"header ADDRS     To:addr =~ /^bob\\@example\\.com\\ndave\\@example\\.com$/\n"
		"header GROUP     Cc:addr =~ /^carol\\@example\\.com$/\n"
		"header FIRST     Received:first =~ /^from a by b/\n"
		"header LAST      Received:last =~ /^from c/\n"
		"header BOTH      Received =~ /by b.*\\nfrom c/s\n"
		"header EXISTS    exists:X-Mailer\n"
		"header NOEXISTS  exists:X-Not-There\n"
		"header UNSET     X-Not-There =~ /^fallback$/ [if-unset: fallback]\n"
		"header UNSET_NEG X-Not-There !~ /./\n"
		"header UNSET_EQ  X-Not-There =~ /./\n"
		"header NEG_HIT   Subject !~ /spam/\n"
		"header NEG_MISS  Subject !~ /K\\S+ln/\n"
		"header CASE      subject =~ /Köln/\n"
		"header FOLDED    X-Folded =~ /^one two three$/\n"
		"header ENVFROM   EnvelopeFrom =~ /^bounce\\@example\\.org$/\n"
		"header MULTI     Received =~ /^from/m\ntflags MULTI multiple\n"
		"header NODEC     Message-ID =~ /=\\?/\n");
	const char *msg =
		"Return-Path: <bounce@example.org>\r\n"
		"Received: from a\r\n\tby b\r\n"
		"Received: from c\r\n"
		"From: \"Alice Example\" <alice@example.org>\r\n"
		"Sender: sender@example.net (Sender Name)\r\n"
		"Reply-To: \"'Foo Blah'\" <foo@example.net>\r\n"
		"To: Bob <bob@example.com>, dave@example.com\r\n"
		"Cc: friends: carol@example.com;\r\n"
		"Subject: =?iso-8859-1?Q?Gr=FC=DFe?= aus =?utf-8?B?S8O2bG4=?=\r\n"
		"Message-ID: <=?x@example.org>\r\n"
		"X-Message-Id: <orig@example.org>\r\n"
		"X-Mailer: Example Mailer 1.0\r\n"
		"X-Folded: one\r\n    two\r\n\tthree\r\n"
		"\r\n"
		"body\r\n";
	struct tj_sa_match m = check(r, msg, -1);
	const char *want[] = {"DEC", "RAW", "ALLH", "ALLRAW", "TOCC", "MSGID", "ADDR", "NAME", "NAME_Q", "ADDR_CMT",
			      "NAME_CMT", "ADDRS", "GROUP", "FIRST", "LAST", "BOTH", "EXISTS", "UNSET", "UNSET_NEG",
			      "NEG_HIT", "CASE", "FOLDED", "ENVFROM", "MULTI", "NODEC"};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		EXPECT_HIT(m, want[k]);
	EXPECT_MISS(m, "NOT_RAW");
	EXPECT_MISS(m, "NOEXISTS");
	EXPECT_MISS(m, "UNSET_EQ");
	EXPECT_MISS(m, "NEG_MISS");
	EXPECT_NEAR(hit(&m, "MULTI"), 2);
	tj_sa_match_free(&m);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ------------------------------------------------------------------- body */

TJ_TEST(match_body_parts)
{
	tj_sa_rules *r = load_text(
		"body B64       /base64 text is decoded/\n"
		"body LATIN     /caf\\xc3\\xa9 cr\\xc3\\xa8me/\n"      /* Latin-1 in, UTF-8 out */
		"body SUBJ      /^Weekly report\\n/\n"
		"body NOSUBJ    /Weekly report/\ntflags NOSUBJ nosubject\n"
		"body JOINED    /line one continues line two/\n"       /* a paragraph is one line */
		"body CROSS     /end of paragraph\\s+Second paragraph/\n" /* paragraphs do not join */
		"body HTML      /Bold words and a link here/\n"
		"body ENT       /Fish & Chips < 5\\$/\n"
		"body SCRIPT    /var secret/\n"
		"body STYLE     /color: red/\n"
		"body TAGS      /<b>/\n"
		"rawbody RTAGS  /<b>Bold<\\/b>/\n"
		"rawbody RQP    /soft line break joined/\n"
		"rawbody RATT   /attachment body/\n"
		"body ATT       /attachment body/\n"
		"full FULLB64   /YmFzZTY0/\n");
	const char *msg =
		"From: a@example.org\r\n"
		"To: b@example.com\r\n"
		"Subject: Weekly report\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
		"\r\n"
		"--XX\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"YmFzZTY0IHRleHQgaXMgZGVjb2RlZAo=\r\n"
		"--XX\r\n"
		"Content-Type: text/plain; charset=iso-8859-1\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n"
		"\r\n"
		"caf=E9 cr=E8me, soft line bre=\r\n"
		"ak joined\r\n"
		"\r\n"
		"line one continues\r\n"
		"line two and the end of paragraph\r\n"
		"\r\n"
		"Second paragraph.\r\n"
		"--XX\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<html><head><style>p { color: red }</style><script>var secret = 1;</script></head>\r\n"
		"<body><p><b>Bold</b> words and\r\n a <a href=\"http://example.com/\">link</a> here</p>\r\n"
		"<p>Fish &amp; Chips &lt; 5&#36;</p></body></html>\r\n"
		"--XX\r\n"
		"Content-Type: application/octet-stream\r\n"
		"Content-Transfer-Encoding: base64\r\n"
		"\r\n"
		"YXR0YWNobWVudCBib2R5Cg==\r\n"
		"--XX--\r\n";
	struct tj_sa_match m = check(r, msg, -1);
	const char *want[] = {"B64", "LATIN", "SUBJ", "JOINED", "HTML", "ENT", "RTAGS", "RQP", "FULLB64"};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		EXPECT_HIT(m, want[k]);
	const char *miss[] = {"NOSUBJ", "CROSS", "SCRIPT", "STYLE", "TAGS", "RATT", "ATT"};
	for (size_t k = 0; k < sizeof(miss) / sizeof(miss[0]); k++)
		EXPECT_MISS(m, miss[k]);
	tj_sa_match_free(&m);

	/* the body text exactly: Subject line, parts joined, paragraphs */
	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_body_text((const uint8_t *)msg, strlen(msg), &t));
	const char *want_text =
		"Weekly report\n"
		"base64 text is decoded\n"
		"caf\xc3\xa9 cr\xc3\xa8me, soft line break joined\n"
		"line one continues line two and the end of paragraph\n"
		"Second paragraph.\n"
		"Bold words and a link here\n"
		"Fish & Chips < 5$\n";
	if (!t.data || strcmp((char *)t.data, want_text) != 0)
		TJ_FAIL("body text:\n[%s]\nwanted:\n[%s]", t.data ? (char *)t.data : "", want_text);
	tj_buf_free(&t);
	tj_sa_rules_free(&r);
	leak_check();
}

/* long lines are cut at 2 KiB after a space, as SpamAssassin cuts them */
TJ_TEST(match_long_lines)
{
	tj_buf body = TJ_BUF_INIT;
	for (int k = 0; k < 500; k++)
		tj_buf_puts(&body, "word ");
	tj_buf_puts(&body, "\r\n");
	char *msg = make_mail(plain_headers, (char *)body.data);
	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_body_text((const uint8_t *)msg, strlen(msg), &t));
	/* subject, then 2500 bytes in a 2045-byte line (409 words) + the rest */
	const char *l2 = strchr((char *)t.data, '\n') + 1;
	const char *l3 = strchr(l2, '\n');
	TJ_ASSERT_INT(l3 - l2, ==, 409 * 5);
	tj_buf_free(&t);
	tj_sa_rules *r = load_text("body ANCH /^word word/\ntflags ANCH multiple\nbody END /word \\z/\n");
	struct tj_sa_match m = check(r, msg, -1);
	EXPECT_NEAR(hit(&m, "ANCH"), 2); /* the start of each of the 2 lines */
	EXPECT_HIT(m, "END");
	tj_sa_match_free(&m);
	tj_sa_rules_free(&r);
	tj_buf_free(&body);
	free(msg);
	leak_check();
}

TJ_TEST(html_render)
{
	const char *html =
		"<!DOCTYPE html><html><head><title>The  Title</title>"
		"<style>.x{}</style><script>alert('x')</script></head>\n"
		"<body background=\"http://img.example/bg.gif\">Hello&nbsp;there,<br>\n"
		"   second&#32;line &eacute;&#233;&#xE9; <!-- hidden comment -->\n"
		"<table><tr><td>cell1</td><td>cell2</td></tr></table>"
		"<a href=\" http://www.example.com/a?b=1&amp;c=2 \">link</a> "
		"<A HREF=www.example.net>bare</A><img src='http://img.example/p.png'>"
		"<form action=\"http://example.org/post\"></form>"
		"<p>para</p>end</body></html>";
	tj_buf text = TJ_BUF_INIT, uris = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_html_render((const uint8_t *)html, strlen(html), &text, &uris));
	const char *want_text =
		"\n\nThe Title\n\nHello there,\nsecond line &eacute;\xc3\xa9\xc3\xa9  cell1  cell2 link bare\n\npara\n\nend";
	if (strcmp((char *)text.data, want_text) != 0)
		TJ_FAIL("rendered:\n[%s]\nwanted:\n[%s]", (char *)text.data, want_text);
	const char *want_uris =
		"http://img.example/bg.gif\n"
		"http://www.example.com/a?b=1&c=2\n"
		"www.example.net\n"
		"http://img.example/p.png\n"
		"http://example.org/post\n";
	TJ_ASSERT_STR((char *)uris.data, want_uris);
	tj_buf_free(&text);
	tj_buf_free(&uris);
	/* unterminated constructs end the text, no overrun */
	const char *bad[] = {"<", "<a href=\"x", "<!-- never closed", "<script>no end", "&#", "&#x", "&amp", "a<b"};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		TJ_OKRC(tj_sa_html_render((const uint8_t *)bad[k], strlen(bad[k]), &text, &uris));
		tj_buf_reset(&text);
		tj_buf_reset(&uris);
	}
	tj_buf_free(&text);
	tj_buf_free(&uris);
	leak_check();
}

TJ_TEST(match_uris)
{
	const char *msg =
		"From: a@example.org\r\n"
		"Subject: links\r\n"
		"MIME-Version: 1.0\r\n"
		"Content-Type: multipart/alternative; boundary=\"B\"\r\n"
		"\r\n"
		"--B\r\n"
		"Content-Type: text/plain\r\n"
		"\r\n"
		"See http://192.0.2.7/offer.html, or www.example.com/page.\r\n"
		"Write to sales@example.net. Also HTTPS://Example.ORG/x?y=1 and\r\n"
		"mailto:list@example.org and ftp.example.org!\r\n"
		"--B\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<a href=\"http://192.0.2.7/offer.html\">same link again</a>\r\n"
		"<a href=\"http://user@evil.example/\">disguised</a>\r\n"
		"--B--\r\n";
	tj_buf u = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_uri_list((const uint8_t *)msg, strlen(msg), &u));
	const char *want =
		"HTTPS://Example.ORG/x?y=1\n"
		"ftp://ftp.example.org\n"
		"http://192.0.2.7/offer.html\n"
		"http://user@evil.example/\n"
		"http://www.example.com/page\n"
		"mailto:list@example.org\n"
		"mailto:sales@example.net\n";
	TJ_ASSERT_STR((char *)u.data, want);
	tj_buf_free(&u);
	tj_sa_rules *r = load_text(
		"uri NUMERIC   /^https?:\\/\\/\\d+\\.\\d+\\.\\d+\\.\\d+\\//\n"
		"uri USERINFO  m{^https?://[^/]*\\@}\n"
		"uri MAILTO    /^mailto:/\ntflags MAILTO multiple\n"
		"uri ANCHORED  /^www\\./\n"            /* schemeless www gets http:// */
		"uri CASELESS  /^https:\\/\\/example\\.org/i\n");
	struct tj_sa_match m = check(r, msg, -1);
	EXPECT_HIT(m, "NUMERIC");
	EXPECT_HIT(m, "USERINFO");
	EXPECT_NEAR(hit(&m, "MAILTO"), 2);
	EXPECT_MISS(m, "ANCHORED");
	EXPECT_HIT(m, "CASELESS");
	tj_sa_match_free(&m);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ------------------------------------------------------------------ GTUBE */

#define GTUBE_B64 "WEpTKkM0SkRCUUFETjEuTlNCTjMqMklETkVOKkdUVUJFLVNUQU5EQVJELUFOVEktVUJFLVRFU1Qt\r\nRU1BSUwqQy4zNFg=\r\n"

TJ_TEST(gtube)
{
	/* plain, with rules that would score it low */
	tj_sa_rules *r = load_text("body NICE /GTUBE/\nscore NICE -50\nrequired_score 5\n");
	char *plain = make_mail(plain_headers, "Test:\r\n" TJ_SPAM_GTUBE "\r\n");
	struct tj_spam_result res;
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)plain, strlen(plain), 0.0, 2000, &res));
	TJ_ASSERT(res.gtube && res.is_spam);
	EXPECT_NEAR(res.score, 1000);
	TJ_ASSERT_STR((char *)res.tests.data, "GTUBE");
	tj_spam_result_free(&res);
	TJ_ASSERT(res.tests.data == NULL);

	/* inside a base64 text part, no rules at all */
	const char *b64 =
		"From: a@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"Z\"\r\n\r\n"
		"--Z\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
		"--Z\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: BASE64\r\n\r\n" GTUBE_B64
		"--Z--\r\n";
	TJ_ASSERT_INT(tj_spam_has_gtube((const uint8_t *)b64, strlen(b64)), ==, 1);
	TJ_OKRC(tj_spam_check(NULL, (const uint8_t *)b64, strlen(b64), -1, TJ_SPAM_REQUIRED_FROM_RULES, &res));
	TJ_ASSERT(res.gtube && res.is_spam);
	EXPECT_NEAR(res.score, 1000);
	tj_spam_result_free(&res);

	/* quoted-printable with a soft break in the middle */
	const char *qp =
		"From: a@example.org\r\nSubject: test\r\nContent-Type: text/plain\r\n"
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
		"XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI=\r\n-UBE-TEST-EMAIL*C.34X\r\n";
	TJ_ASSERT_INT(tj_spam_has_gtube((const uint8_t *)qp, strlen(qp)), ==, 1);

	/* in a header only, or only half of it: not GTUBE */
	const char *hdr = "Subject: " TJ_SPAM_GTUBE "\r\n\r\nbody\r\n";
	TJ_ASSERT_INT(tj_spam_has_gtube((const uint8_t *)hdr, strlen(hdr)), ==, 0);
	const char *half = "Subject: x\r\n\r\nXJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD\r\n";
	TJ_ASSERT_INT(tj_spam_has_gtube((const uint8_t *)half, strlen(half)), ==, 0);
	/* in a base64 attachment that is not text: not the body */
	const char *att =
		"From: a@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\n"
		"Content-Type: multipart/mixed; boundary=\"Z\"\r\n\r\n"
		"--Z\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" GTUBE_B64
		"--Z--\r\n";
	TJ_ASSERT_INT(tj_spam_has_gtube((const uint8_t *)att, strlen(att)), ==, 0);
	free(plain);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ------------------------------------------------------------------ Bayes */

TJ_TEST(bayes_pseudo_rules)
{
	static const struct {
		double p;
		const char *tests;
		double score;
	} cases[] = {
		{0.0, "BAYES_00", -1.5},      {0.01, "BAYES_00", -1.5},   {0.0100001, "BAYES_05", -0.3},
		{0.05, "BAYES_05", -0.3},     {0.1, "BAYES_20", -0.001},  {0.3, "BAYES_40", -0.001},
		{0.5, "BAYES_50", 2.0},       {0.7, "BAYES_60", 2.5},     {0.9, "BAYES_80", 4.5},
		{0.97, "BAYES_95", 5.0},      {0.995, "BAYES_99", 5.0},   {0.999, "BAYES_99", 5.0},
		{0.9995, "BAYES_99,BAYES_999", 5.5}, {1.0, "BAYES_99,BAYES_999", 5.5},
		{-1, "", 0},                  {1.5, "", 0},               {NAN, "", 0},
	};
	char *msg = make_mail(plain_headers, "hello\r\n");
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct tj_spam_result res;
		TJ_OKRC(tj_spam_check(NULL, (const uint8_t *)msg, strlen(msg), cases[k].p, 5.0, &res));
		const char *t = res.tests.data ? (const char *)res.tests.data : "";
		if (strcmp(t, cases[k].tests) != 0 || fabs(res.score - cases[k].score) > 1e-9)
			TJ_FAIL("p=%g: tests=%s score=%g, expected %s %g", cases[k].p, t, res.score, cases[k].tests,
				cases[k].score);
		/* Bayes alone decides from 0.95 (BAYES_95 and up score 5.0) */
		if (res.is_spam != (cases[k].p >= 0.95 && cases[k].p <= 1.0)) /* 1.5: not a probability */
			TJ_FAIL("p=%g: is_spam %d", cases[k].p, res.is_spam);
		tj_spam_result_free(&res);
	}
	/* the rules file may change their scores and use them in metas */
	tj_sa_rules *r = load_text(
		"ifplugin Mail::SpamAssassin::Plugin::Bayes\n"
		"body BAYES_99 eval:check_bayes('0.99', '1.00')\n"   /* SA's own definition: ours stays */
		"score BAYES_99 0 0 4.5 4.5\n"
		"endif\n"
		"body __LINK /hello/\n"
		"meta BAYES_AND_LINK BAYES_99 && __LINK\n"
		"score BAYES_AND_LINK 1.0\n"
		"meta NO_BAYES_HIGH !BAYES_99\n");
	TJ_ASSERT_INT(stats(r).skipped[TJ_SA_SKIP_EVAL], ==, 0);
	struct tj_spam_result res;
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)msg, strlen(msg), 0.995, 5.0, &res));
	TJ_ASSERT_STR((char *)res.tests.data, "BAYES_99,BAYES_AND_LINK");
	EXPECT_NEAR(res.score, 5.5);
	TJ_ASSERT(res.is_spam);
	tj_spam_result_free(&res);
	/* no Bayes verdict: BAYES_xx did not run, so !BAYES_99 is undecided */
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)msg, strlen(msg), -1, 5.0, &res));
	TJ_ASSERT_INT(res.tests.len, ==, 0);
	tj_spam_result_free(&res);
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)msg, strlen(msg), 0.2, 5.0, &res));
	TJ_ASSERT_STR((char *)res.tests.data, "BAYES_20,NO_BAYES_HIGH");
	tj_spam_result_free(&res);
	free(msg);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ---------------------------------------------------------------- headers */

static char *headers_of(double score, double required, bool spam, const char *tests, const char *version)
{
	struct tj_spam_result res = {.score = score, .required = required, .is_spam = spam};
	if (tests)
		TJ_OKRC(tj_buf_puts(&res.tests, tests));
	tj_buf out = TJ_BUF_INIT;
	TJ_OKRC(tj_spam_headers(&res, version, &out));
	tj_spam_result_free(&res);
	return (char *)tj_buf_steal(&out, NULL);
}

TJ_TEST(header_format)
{
	char *h = headers_of(7.1, 5.0, true, "A,B,C", "4.0.1");
	TJ_ASSERT_STR(h,
		      "X-Spam-Flag: YES\r\n"
		      "X-Spam-Score: 7.1\r\n"
		      "X-Spam-Status: Yes, score=7.1 required=5.0 tests=A,B,C autolearn=no\r\n"
		      "\tversion=4.0.1\r\n"); /* 81 columns: SA folds it too */
	free(h);
	/* SpamAssassin's own folding of a long list, widths checked by hand:
	 * 79 columns, breaks after ',' or ' ', a tab counts 8 */
	h = headers_of(-1.9, 5.0, false, "BAYES_00,DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,SPF_HELO_NONE,SPF_PASS", "3.4.6");
	TJ_ASSERT_STR(h,
		      "X-Spam-Score: -1.9\r\n"
		      "X-Spam-Status: No, score=-1.9 required=5.0 tests=BAYES_00,DKIM_SIGNED,\r\n"
		      "\tDKIM_VALID,DKIM_VALID_AU,SPF_HELO_NONE,SPF_PASS autolearn=no\r\n"
		      "\tversion=3.4.6\r\n");
	free(h);
	/* no tests, no version */
	h = headers_of(0, 5.0, false, NULL, NULL);
	TJ_ASSERT_STR(h,
		      "X-Spam-Score: 0.0\r\n"
		      "X-Spam-Status: No, score=0.0 required=5.0 tests=none autolearn=no\r\n");
	free(h);
	/* many tests over several lines; a name longer than a line gets its own */
	h = headers_of(1000, 5.0, true,
		       "GTUBE,HTML_MESSAGE,MIME_HTML_ONLY,MISSING_DATE,MISSING_MID,"
		       "A_VERY_LONG_RULE_NAME_THAT_IS_MUCH_LONGER_THAN_A_WHOLE_FOLDED_HEADER_LINE_CAN_HOLD_X,"
		       "NO_RECEIVED,NO_RELAYS",
		       "4.0.1");
	TJ_ASSERT_STR(h,
		      "X-Spam-Flag: YES\r\n"
		      "X-Spam-Score: 1000.0\r\n"
		      "X-Spam-Status: Yes, score=1000.0 required=5.0 tests=GTUBE,HTML_MESSAGE,\r\n"
		      "\tMIME_HTML_ONLY,MISSING_DATE,MISSING_MID,\r\n"
		      "\tA_VERY_LONG_RULE_NAME_THAT_IS_MUCH_LONGER_THAN_A_WHOLE_FOLDED_HEADER_LINE_CAN_HOLD_X,\r\n"
		      "\tNO_RECEIVED,NO_RELAYS autolearn=no version=4.0.1\r\n");
	/* every line within 79 columns (tab = 8), except the unbreakable one */
	for (char *line = h, *e; (e = strstr(line, "\r\n")); line = e + 2) {
		size_t w = (size_t)(e - line) + (line[0] == '\t' ? 7 : 0);
		if (w > 79 && !strstr(line, "A_VERY_LONG"))
			TJ_FAIL("line too wide (%zu): %.*s", w, (int)(e - line), line);
	}
	free(h);
	/* the real thing end to end */
	tj_sa_rules *r = load_text("body SOME /hello/\nscore SOME 3.333\n");
	char *msg = make_mail(plain_headers, "hello\r\n");
	struct tj_spam_result res;
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)msg, strlen(msg), 0.999, TJ_SPAM_REQUIRED_FROM_RULES, &res));
	EXPECT_NEAR(res.score, 8.333); /* 3.333 + BAYES_99 5.0 */
	EXPECT_NEAR(res.required, 5.0);
	tj_buf out = TJ_BUF_INIT;
	TJ_OKRC(tj_spam_headers(&res, "tjstore", &out));
	TJ_ASSERT_STR((char *)out.data,
		      "X-Spam-Flag: YES\r\n"
		      "X-Spam-Score: 8.3\r\n"
		      "X-Spam-Status: Yes, score=8.3 required=5.0 tests=BAYES_99,SOME autolearn=no\r\n"
		      "\tversion=tjstore\r\n");
	tj_buf_free(&out);
	tj_spam_result_free(&res);
	free(msg);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ------------------------------------------------------------------ limits */

TJ_TEST(limits_hostile)
{
	/* catastrophic backtracking on every line, in every rule type */
	tj_sa_rules *r = load_text(
		"body    EVIL_B   /(a+)+$/\n"
		"rawbody EVIL_R   /(?:a|aa)+b/\n"
		"header  EVIL_H   Subject =~ /(a*)*c/\n"
		"full    EVIL_F   /(a|a?)+z/\n"
		"body    GOOD     /aaaa/\n");
	tj_buf body = TJ_BUF_INIT;
	for (int k = 0; k < 40; k++) {
		for (int j = 0; j < 60; j++)
			tj_buf_putc(&body, 'a');
		tj_buf_puts(&body, "!\r\n\r\n");
	}
	tj_buf hdr = TJ_BUF_INIT;
	tj_buf_puts(&hdr, "From: a@example.org\r\nSubject: ");
	for (int j = 0; j < 40; j++)
		tj_buf_putc(&hdr, 'a');
	tj_buf_puts(&hdr, "!\r\n");
	char *msg = make_mail((char *)hdr.data, (char *)body.data);
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct tj_sa_match m = check(r, msg, -1);
	double ms = ms_since(&t0);
	printf("spam-figures case=hostile ms=%.1f limit_errors=%u truncated=%d\n", ms, m.limit_errors, m.truncated);
	TJ_ASSERT(ms < 30000);
	TJ_ASSERT(m.limit_errors > 0);
	EXPECT_HIT(m, "GOOD");
	EXPECT_MISS(m, "EVIL_B");
	tj_sa_match_free(&m);

	/* a huge message: bounded text, bounded time */
	tj_buf big = TJ_BUF_INIT;
	tj_buf_puts(&big, plain_headers);
	tj_buf_puts(&big, "\r\n");
	for (int k = 0; k < 200000; k++)
		tj_buf_puts(&big, "lorem ipsum dolor sit amet aaaa\r\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	TJ_OKRC(tj_sa_check(r, big.data, big.len, -1, &m));
	ms = ms_since(&t0);
	printf("spam-figures case=big bytes=%zu ms=%.1f\n", big.len, ms);
	EXPECT_HIT(m, "GOOD");
	tj_sa_match_free(&m);
	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_body_text(big.data, big.len, &t));
	TJ_ASSERT(t.len <= TJ_SA_TEXT_MAX + 2 * TJ_SA_LINE_MAX);
	tj_buf_free(&t);
	tj_buf_free(&big);
	tj_buf_free(&body);
	tj_buf_free(&hdr);
	free(msg);
	tj_sa_rules_free(&r);

	/* junk and empty input */
	r = load_text("body X /x/\nheader H From =~ /./\nuri U /./\nrawbody R /./\nfull F /./\n");
	const char *junk[] = {"", "\r\n", "no colon line\r\n\r\n", "\0\0\0", "From:\r\n\r\n<html>&#99999999;<a href=\""};
	size_t jl[] = {0, 2, 17, 3, 32};
	for (size_t k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
		TJ_OKRC(tj_sa_check(r, (const uint8_t *)junk[k], jl[k], 0.5, &m));
		tj_sa_match_free(&m);
	}
	tj_sa_rules_free(&r);
	leak_check();
}

/* --------------------------------------------------------------- threads */

struct thr {
	const tj_sa_rules *r;
	const char *msg;
	double score;
	int bad;
};

static void *thr_main(void *p)
{
	struct thr *t = p;
	for (int k = 0; k < 200; k++) {
		struct tj_sa_match m;
		if (tj_sa_check(t->r, (const uint8_t *)t->msg, strlen(t->msg), 0.5, &m) != 0 || fabs(m.score - t->score) > 1e-9)
			t->bad++;
		tj_sa_match_free(&m);
	}
	return NULL;
}

TJ_TEST(threads_share_rules)
{
	tj_buf path = TJ_BUF_INIT;
	tj_buf_printf(&path, "%s/tjstore.cf", TJ_SPAM_RULES_DIR);
	tj_sa_rules *r;
	TJ_OKRC(tj_sa_rules_load((char *)path.data, &r));
	char *msg = make_mail(
		"From: \"Deals\" <12345678@example.biz>\r\nTo: undisclosed-recipients:;\r\n"
		"Subject: FREE CASH NOW!!!\r\nContent-Type: text/html\r\n",
		"<p>Click here to earn $5,000 a week working from home! Act now!</p>"
		"<a href=\"http://192.0.2.9/x\">go</a>\r\n");
	struct tj_sa_match m = check(r, msg, 0.5);
	struct thr t[4];
	pthread_t th[4];
	for (int k = 0; k < 4; k++) {
		t[k] = (struct thr){r, msg, m.score, 0};
		TJ_ASSERT(pthread_create(&th[k], NULL, thr_main, &t[k]) == 0);
	}
	for (int k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		TJ_ASSERT_INT(t[k].bad, ==, 0);
	}
	tj_sa_match_free(&m);
	free(msg);
	tj_buf_free(&path);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ---------------------------------------------------------- tjstore.cf */

TJ_TEST(tjstore_cf)
{
	tj_buf path = TJ_BUF_INIT;
	tj_buf_printf(&path, "%s/tjstore.cf", TJ_SPAM_RULES_DIR);
	tj_sa_rules *r;
	TJ_OKRC(tj_sa_rules_load((char *)path.data, &r));
	struct tj_sa_stats st = stats(r);
	for (int s = 0; s < TJ_SA_SKIP_NR; s++)
		if (st.skipped[s])
			TJ_FAIL("tjstore.cf: skipped %s: %u", tj_sa_skip_name(s), st.skipped[s]);
	TJ_ASSERT(st.scored >= 40);
	/* every scored rule has a description */
	const char *names[] = {"TJ_MISSING_DATE", "TJ_SUBJ_ALL_CAPS", "TJ_FORGED_OE", "TJ_URI_NUMERIC_IP",
			       "TJ_BODY_PHARMA", "TJ_HTML_ONLY_TOP"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		struct tj_sa_rule_info i = info(r, names[k]);
		TJ_ASSERT(i.active && i.scored && i.describe[0]);
	}
	const char *spam =
		"From: \"Best Deals\" <12345678@example.biz>\r\n"
		"To: undisclosed-recipients:;\r\n"
		"Subject: FREE CASH NOW!!!\r\n"
		"Date: Tue, 14 Jan 2025 09:30:00 +4500\r\n"
		"X-Mailer: Microsoft Outlook Express 6.00.2600.0000\r\n"
		"Content-Type: text/html\r\n"
		"\r\n"
		"<html><body><font size=\"+7\">Dear friend,</font><p>Click here to earn $5,000 a week working from home!"
		" Act now, this offer is 100% risk-free. To be removed from our list reply with REMOVE in the subject line."
		"</p><a href=\"http://192.0.2.9/cgi/remove.cgi\">remove</a></body></html>\r\n";
	struct tj_spam_result res;
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)spam, strlen(spam), -1, TJ_SPAM_REQUIRED_FROM_RULES, &res));
	printf("spam-figures case=tjstore-handmade-spam score=%.1f tests=%s\n", res.score, (char *)res.tests.data);
	TJ_ASSERT(res.is_spam && res.score >= 8);
	tj_spam_result_free(&res);
	char *ham = make_mail(
		"From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.com>\r\n"
		"Subject: Re: minutes of Tuesday's meeting\r\nDate: Tue, 14 Jan 2025 09:30:00 +0000\r\n"
		"Message-ID: <20250114093000.1234@example.org>\r\nIn-Reply-To: <x@example.com>\r\n"
		"Content-Type: text/plain; charset=utf-8\r\n",
		"Hi Bob,\r\n\r\nthanks, the budget is approved; see https://example.org/minutes.\r\n");
	TJ_OKRC(tj_spam_check(r, (const uint8_t *)ham, strlen(ham), -1, TJ_SPAM_REQUIRED_FROM_RULES, &res));
	TJ_ASSERT(!res.is_spam && res.score < 0);
	tj_spam_result_free(&res);
	free(ham);
	tj_buf_free(&path);
	tj_sa_rules_free(&r);
	leak_check();
}

/* ---------------------------------------------------------- the corpus */

/* corpus_path - the shared corpus archive ($TJ_CORPUS/... as the README's
 * demo takes it, else the shared folder). */
static const char *corpus_path(void)
{
	static char p[600];
	const char *d = getenv("TJ_CORPUS");
	if (!d)
		return CORPUS;
	snprintf(p, sizeof(p), "%s/spamassassin-public-1.tar.zst", d);
	return p;
}

static int unpack_corpus(char *dir, size_t dirsz)
{
	if (access(corpus_path(), R_OK) != 0)
		return -1;
	snprintf(dir, dirsz, "%s/corpus", tj_test_tmpdir());
	TJ_ASSERT(mkdir(dir, 0755) == 0);
	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "zstd -dc '%s' | tar xf - -C '%s'", corpus_path(), dir);
	TJ_ASSERT_INT(system(cmd), ==, 0);
	return 0;
}

struct corpus_run {
	size_t n[2], over[2];
	double sum[2], ms, max_ms, max_ham;
	char max_ham_name[300];
};

/* run_corpus - score every `step`-th message of ham/ and spam/ */
static void run_corpus(const tj_sa_rules *r, const char *dir, int step, struct corpus_run *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->max_ham = -1e9;
	const char *sub[2] = {"ham", "spam"};
	for (int c = 0; c < 2; c++) {
		char sd[600];
		snprintf(sd, sizeof(sd), "%s/%s", dir, sub[c]);
		struct dirent **de;
		int n = scandir(sd, &de, NULL, alphasort);
		TJ_ASSERT(n > 0);
		for (int k = 0; k < n; k++) {
			if (de[k]->d_name[0] != '.' && k % step == 0) {
				char p[1024];
				snprintf(p, sizeof(p), "%s/%s", sd, de[k]->d_name);
				tj_buf b = TJ_BUF_INIT;
				TJ_OKRC(read_whole(p, &b));
				struct tj_spam_result res;
				struct timespec t0;
				clock_gettime(CLOCK_MONOTONIC, &t0);
				TJ_OKRC(tj_spam_check(r, b.data, b.len, -1, 5.0, &res));
				double ms = ms_since(&t0);
				cr->ms += ms;
				cr->max_ms = ms > cr->max_ms ? ms : cr->max_ms;
				cr->n[c]++;
				cr->over[c] += res.is_spam;
				cr->sum[c] += res.score;
				if (c == 0 && res.score > cr->max_ham) {
					cr->max_ham = res.score;
					snprintf(cr->max_ham_name, sizeof(cr->max_ham_name), "%s", de[k]->d_name);
				}
				tj_spam_result_free(&res);
				tj_buf_free(&b);
			}
			free(de[k]);
		}
		free(de);
	}
}

static void print_run(const char *name, const struct corpus_run *cr)
{
	size_t n = cr->n[0] + cr->n[1];
	printf("spam-figures case=%s messages=%zu ms_avg=%.3f ms_max=%.1f ham=%zu ham_over=%zu ham_mean=%.2f "
	       "ham_max=%.2f(%s) spam=%zu spam_over=%zu spam_mean=%.2f\n",
	       name, n, cr->ms / (double)n, cr->max_ms, cr->n[0], cr->over[0], cr->sum[0] / (double)cr->n[0],
	       cr->max_ham, cr->max_ham_name, cr->n[1], cr->over[1], cr->sum[1] / (double)cr->n[1]);
}

/* tjstore.cf on the whole corpus: no ham at or over 5 */
TJ_TEST(corpus_tjstore_cf)
{
	char dir[512];
	if (unpack_corpus(dir, sizeof(dir)) < 0) {
		printf("corpus_tjstore_cf: %s not found, skipped\n", corpus_path());
		return;
	}
	tj_buf path = TJ_BUF_INIT;
	tj_buf_printf(&path, "%s/tjstore.cf", TJ_SPAM_RULES_DIR);
	tj_sa_rules *r;
	TJ_OKRC(tj_sa_rules_load((char *)path.data, &r));
	struct corpus_run cr;
	run_corpus(r, dir, 1, &cr);
	print_run("corpus-tjstore.cf", &cr);
	TJ_ASSERT(cr.n[0] >= 2500 && cr.n[1] >= 400);
	TJ_ASSERT_INT(cr.over[0], ==, 0);
	TJ_ASSERT(cr.sum[1] / (double)cr.n[1] > cr.sum[0] / (double)cr.n[0] + 2);
	tj_buf_free(&path);
	tj_sa_rules_free(&r);
	leak_check();
}

/* Debian's SpamAssassin rules: hundreds load, eval rules are skipped, and
 * spam scores higher than ham on a sample of the corpus */
TJ_TEST(spamassassin_rules)
{
	struct stat sb;
	if (stat(SA_RULES_DIR, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		printf("spamassassin_rules: %s missing (package spamassassin), skipped\n", SA_RULES_DIR);
		return;
	}
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	tj_sa_rules *r;
	TJ_OKRC(tj_sa_rules_load(SA_RULES_DIR, &r));
	double load_ms = ms_since(&t0);
	struct tj_sa_stats st = stats(r);
	tj_buf s = TJ_BUF_INIT;
	TJ_OKRC(tj_sa_rules_summary(r, &s));
	printf("spam-figures case=sa-load ms=%.0f %s\n", load_ms, (char *)s.data);
	tj_buf_free(&s);
	TJ_ASSERT(st.files >= 20);
	TJ_ASSERT(st.rules >= 500);
	TJ_ASSERT(st.scored >= 300);
	TJ_ASSERT(st.by_type[TJ_SA_HEADER] >= 100 && st.by_type[TJ_SA_BODY] >= 100 && st.by_type[TJ_SA_META] >= 100);
	TJ_ASSERT(st.by_type[TJ_SA_URI] >= 20 && st.by_type[TJ_SA_RAWBODY] >= 10);
	TJ_ASSERT(st.skipped[TJ_SA_SKIP_EVAL] >= 100);
	TJ_ASSERT(st.skipped[TJ_SA_SKIP_REGEX] < 20);
	TJ_ASSERT(st.jit == st.regexes);
	struct tj_sa_rule_info i;
	TJ_OKRC(tj_sa_rule_info(r, "BAYES_99", &i));
	TJ_ASSERT(i.type == TJ_SA_BAYES && i.active);
	EXPECT_NEAR(i.score, 3.8);
	/* an eval rule defined outside a false block, if the files have one */
	if (tj_sa_rule_info(r, "ALL_TRUSTED", &i) == 0)
		TJ_ASSERT(!i.active && i.why == TJ_SA_SKIP_EVAL);

	char dir[512];
	if (unpack_corpus(dir, sizeof(dir)) < 0) {
		printf("spamassassin_rules: %s not found, hand-made mail only\n", corpus_path());
		const char *spam = "From: x@example.biz\r\nSubject: Lose weight FAST!!!\r\nDate: Mon, 1 Jan 2024 00:00:00 +9900\r\n\r\n"
				   "Guaranteed to lose 10-12 lbs in 30 days. Click here! 100% free, no risk.\r\n";
		struct tj_spam_result a, b;
		TJ_OKRC(tj_spam_check(r, (const uint8_t *)spam, strlen(spam), -1, 5.0, &a));
		char *ham = make_mail(plain_headers, "Hi Bob, the minutes are attached.\r\n");
		TJ_OKRC(tj_spam_check(r, (const uint8_t *)ham, strlen(ham), -1, 5.0, &b));
		TJ_ASSERT(a.score > b.score);
		tj_spam_result_free(&a);
		tj_spam_result_free(&b);
		free(ham);
	} else {
		struct corpus_run cr;
		run_corpus(r, dir, 10, &cr); /* a tenth of it: ~325 messages */
		print_run("corpus-sa-sample", &cr);
		TJ_ASSERT(cr.n[0] >= 250 && cr.n[1] >= 40);
		TJ_ASSERT(cr.sum[1] / (double)cr.n[1] > cr.sum[0] / (double)cr.n[0] + 1);
	}
	tj_sa_rules_free(&r);
	leak_check();
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

/*
 * test-bayes.c - the Bayes tokenizer (headers, base64/QP, charsets, HTML,
 * URLs, long words, dedup, the cap) and the classifier (learn, relearn,
 * forget, batches, readiness below 200/200, separation of synthetic mail,
 * classification on several threads while another learns, reopening,
 * expiry, the chi-square tail).
 */
#include "common/buf.h"
#include "common/err.h"
#include "node/scan/bayes.h"
#include "tests/harness.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>

/* ---- tokenizer ---- */

static void toks_of(const char *msg, tj_bayes_toks *t)
{
	tj_bayes_toks_init(t, 1);
	TJ_OKRC(tj_bayes_tokenize((const uint8_t *)msg, strlen(msg), t));
}

#define HAS(t, s)                                                                        \
	do {                                                                             \
		if (!tj_bayes_toks_has((t), (s)))                                        \
			TJ_FAIL("token \"%s\" missing", (s));                            \
	} while (0)
#define HASNT(t, s)                                                                      \
	do {                                                                             \
		if (tj_bayes_toks_has((t), (s)))                                         \
			TJ_FAIL("token \"%s\" present", (s));                            \
	} while (0)

TJ_TEST(tok_headers)
{
	tj_bayes_toks t;
	toks_of("Return-Path: <bounce@lists.example.org>\n"
		"Received: from mail.example.net (mail.example.net [192.0.2.17])\n"
		"\tby mx.site.example with ESMTP id 123; Tue, 3 Sep 2002 15:02:38 -0500\n"
		"Message-ID: <20020903.ABC123@host.example.org>\n"
		"From: \"Bob Smith\" <Bob.Smith@Example.COM>\n"
		"To: alice@site.example, carol@site.example\n"
		"Subject: CHEAP WATCHES!!\n"
		"X-Mailer: FooMail 1.0\n"
		"X-Spam-Status: Yes, score=99 tests=VIAGRA\n"
		"X-Whatever: secretvalueword\n"
		"Content-Type: text/plain; charset=us-ascii\n"
		"\n"
		"Body text here.\n",
		&t);
	HAS(&t, "subject:cheap");
	HAS(&t, "subject:watches");
	HAS(&t, "subject:=caps");
	HAS(&t, "subject:=bangs");
	HAS(&t, "from:bob");
	HAS(&t, "from:smith");
	HAS(&t, "from:addr:bob.smith@example.com");
	HAS(&t, "from:dom:example.com");
	HAS(&t, "to:addr:alice@site.example");
	HAS(&t, "to:count:2");
	HAS(&t, "sender:addr:bounce@lists.example.org");
	HAS(&t, "sender:dom:example.org");
	HAS(&t, "rcvd:ip:192.0.2.17");
	HAS(&t, "rcvd:ip:192.0.2");
	HAS(&t, "rcvd:ip:192.0");
	HAS(&t, "rcvd:host:mail.example.net");
	HAS(&t, "rcvd:dom:example.net");
	HAS(&t, "rcvd:w:esmtp");
	HAS(&t, "mid:dom:host.example.org");
	HAS(&t, "mid:dom:example.org");
	HAS(&t, "mid:shape:9.a9");
	HAS(&t, "mailer:=foomail 1.0");
	HAS(&t, "mailer:foomail");
	HAS(&t, "header:x-mailer");
	HAS(&t, "header:x-whatever");
	HAS(&t, "header:received-count:1");
	HAS(&t, "missing:date");
	HAS(&t, "missing:mime-version");
	HAS(&t, "ct:text/plain");
	HAS(&t, "charset:us-ascii");
	HAS(&t, "body");
	HAS(&t, "text");
	HAS(&t, "here");
	/* our own verdict headers are never learned; other headers give their name only */
	HASNT(&t, "header:x-spam-status");
	HASNT(&t, "viagra");
	HASNT(&t, "x-spam-status:viagra");
	HASNT(&t, "secretvalueword");
	HASNT(&t, "x-whatever:secretvalueword");
	/* the same text always hashes the same */
	TJ_ASSERT(tj_bayes_token_hash("subject:cheap", 13) == tj_bayes_token_hash("subject:cheap", 13));
	TJ_ASSERT(tj_bayes_token_hash("subject:cheap", 13) != tj_bayes_token_hash("subject:chea", 12));
	/* every stored hash is the hash of its text */
	for (size_t i = 0; i < t.n; i++) {
		const char *s = tj_bayes_toks_text(&t, i);
		TJ_ASSERT(t.hash[i] == tj_bayes_token_hash(s, strlen(s)));
		TJ_ASSERT(t.hash[i] != 0);
	}
	tj_bayes_toks_free(&t);
}

TJ_TEST(tok_base64_qp)
{
	tj_bayes_toks t;
	/* "wonderful marvellous world" in base64 */
	toks_of("Subject: b64\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n"
		"--XX\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
		"d29uZGVyZnVsIG1hcnZlbGxvdXMg\nd29ybGQ=\n"
		"--XX\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
		"soft=\nbreak caf=C3=A9 na=EF=BF=BDve\n"
		"--XX\nContent-Type: application/octet-stream; name=x.zip\n"
		"Content-Disposition: attachment; filename=\"report.ZIP\"\nContent-Transfer-Encoding: base64\n\n"
		"c2VjcmV0YXR0YWNobWVudHdvcmQ=\n--XX--\n",
		&t);
	HAS(&t, "wonderful");
	HAS(&t, "marvellous");
	HAS(&t, "world");
	HAS(&t, "softbreak");
	HAS(&t, "café");
	HAS(&t, "cte:base64");
	HAS(&t, "cte:quoted-printable");
	HAS(&t, "ct:multipart/mixed");
	HAS(&t, "ct:application/octet-stream");
	HAS(&t, "disp:attachment");
	HAS(&t, "fname:zip");
	HAS(&t, "charset:utf-8");
	HASNT(&t, "d29uZGVyZnVsIG1hcnZlbGxvdXMg");
	HASNT(&t, "secretattachmentword"); /* attachments are not text */
	tj_bayes_toks_free(&t);
}

TJ_TEST(tok_charsets)
{
	tj_bayes_toks t;
	/* Latin-1 body, KOI8-R encoded word in the Subject, Windows-1251 part */
	toks_of("Subject: =?koi8-r?B?8NLJ18XU?= and =?iso-8859-1?q?Gr=FC=DFe?=\n"
		"MIME-Version: 1.0\nContent-Type: multipart/alternative; boundary=B\n\n"
		"--B\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n"
		"Sch\xd6ne Gr\xfc\xdf" "e aus K\xf6ln\n"
		"--B\nContent-Type: text/plain; charset=windows-1251\n\n"
		"\xcf\xf0\xe8\xe2\xe5\xf2 \xec\xe8\xf0\n--B--\n",
		&t);
	HAS(&t, "subject:привет");
	HAS(&t, "subject:grüße");
	HAS(&t, "hdr-charset:koi8-r");
	HAS(&t, "hdr-charset:iso-8859-1");
	HAS(&t, "subject:=encoded");
	HAS(&t, "schöne");  /* folded: Ö -> ö */
	HAS(&t, "grüße");
	HAS(&t, "köln");
	HAS(&t, "привет"); /* Cyrillic, folded */
	HAS(&t, "мир");    /* three letters, not ASCII: kept */
	HAS(&t, "charset:windows-1251");
	tj_bayes_toks_free(&t);
}

TJ_TEST(tok_html)
{
	tj_bayes_toks t;
	toks_of("Subject: h\nContent-Type: text/html; charset=us-ascii\n\n"
		"<html><head><style>p { color: stylewordx; }</style>"
		"<script>var scriptwordx = 'http://js.example.org/go.php';</script></head>"
		"<body><p>Buy che<b></b>ap<!-- hidden comment -->est pills now</p>"
		"<a href=\"http://www.evil.example.com/offer/today.html\">click</a>"
		"<img src='http://img.example.net/x.gif' width=1 alt=\"alternative textword\">"
		"<font color=red size=+3>&#102;&#114;ee &amp; easy&nbsp;money</font>"
		"<div style=\"display:none\">invisible</div>"
		"a < b and c > d</body></html>\n",
		&t);
	HAS(&t, "cheapest");   /* inline tags and comments join words */
	HAS(&t, "pills");
	HAS(&t, "html:p");
	HAS(&t, "html:a");
	HAS(&t, "html:a:href");
	HAS(&t, "html:img:src");
	HAS(&t, "html:=comment");
	HAS(&t, "html:color:red");
	HAS(&t, "html:fontsize:+3");
	HAS(&t, "html:=hidden-style");
	HAS(&t, "html:=alnum-entity");
	HAS(&t, "free");       /* numeric entities decoded */
	HAS(&t, "easy");
	HAS(&t, "money");
	HAS(&t, "alternative");
	HAS(&t, "textword");
	HAS(&t, "url:www.evil.example.com");
	HAS(&t, "url:evil.example.com");
	HAS(&t, "url:example.com");
	HAS(&t, "url:com");
	HAS(&t, "url:offer");
	HAS(&t, "url:today");
	HAS(&t, "url:img.example.net");
	HAS(&t, "url:js.example.org"); /* URLs in scripts count */
	HAS(&t, "click");
	HASNT(&t, "scriptwordx");
	HASNT(&t, "stylewordx");
	HASNT(&t, "che");
	HASNT(&t, "hidden");
	tj_bayes_toks_free(&t);
	/* HTML sent as text/plain is still HTML */
	toks_of("Subject: h\n\n<html><body><font size=5>Hello friendz</font></body></html>\n", &t);
	HAS(&t, "html:=in-plain");
	HAS(&t, "html:font");
	HAS(&t, "friendz");
	HASNT(&t, "<html");
	tj_bayes_toks_free(&t);
}

TJ_TEST(tok_urls_and_addresses)
{
	tj_bayes_toks t;
	toks_of("Subject: u\n\nGo to http://user@192.168.1.10:8080/a/verylongpathpiecethatgoesonandon?x=%41, "
		"or www.shop.example.co.uk/deals. Or mail Sales@Example.COM today.\n"
		"Numeric http://3232235777/ and https://secure.example.org.\n",
		&t);
	HAS(&t, "url:proto:http");
	HAS(&t, "url:proto:https");
	HAS(&t, "url:=userinfo");
	HAS(&t, "url:=ip");
	HAS(&t, "url:ip:192.168.1.10");
	HAS(&t, "url:ip:192.168.1");
	HAS(&t, "url:port:8080");
	HAS(&t, "url:skip:v:30");
	HAS(&t, "url:=escaped-path");
	HAS(&t, "url:=numeric-host");
	HAS(&t, "url:shop.example.co.uk");
	HAS(&t, "url:co.uk");
	HAS(&t, "url:deals");
	HAS(&t, "url:secure.example.org");
	HAS(&t, "email:addr:sales@example.com");
	HAS(&t, "email:dom:example.com");
	HAS(&t, "email:shape:a");
	HAS(&t, "today");
	HASNT(&t, "url:x"); /* too short */
	tj_bayes_toks_free(&t);
}

TJ_TEST(tok_lengths_and_dedup)
{
	tj_bayes_toks t;
	char msg[4096];
	snprintf(msg, sizeof(msg),
		 "Subject: len\n\nab abc abcdefghijklmnopqrst abcdefghijklmnopqrstu %0120d "
		 "repeat repeat REPEAT Repeat repeat. re-peat-ed it's $100 50%% e.g.\n",
		 7);
	toks_of(msg, &t);
	HASNT(&t, "ab");
	HAS(&t, "abc");
	HAS(&t, "abcdefghijklmnopqrst");   /* 20 characters: kept */
	HASNT(&t, "abcdefghijklmnopqrstu"); /* 21: a skip token */
	HAS(&t, "skip:a:20");
	HAS(&t, "skip:0:100");             /* 120 digits: length band capped at 100 */
	HAS(&t, "repeat");
	HAS(&t, "re-peat-ed");
	HAS(&t, "peat");                   /* and its pieces */
	HAS(&t, "it's");
	HAS(&t, "$100");
	HAS(&t, "50%");
	size_t reps = 0;
	for (size_t i = 0; i < t.n; i++)
		reps += strcmp(tj_bayes_toks_text(&t, i), "repeat") == 0;
	TJ_ASSERT_INT(reps, ==, 1); /* once per message */
	tj_bayes_toks_free(&t);
}

TJ_TEST(tok_cap)
{
	/* 6,000 distinct words: the set stops at the cap, headers first */
	tj_buf m = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&m, "Subject: capped subjectword\n\n"));
	for (int i = 0; i < 6000; i++)
		TJ_OKRC(tj_buf_printf(&m, "w%dx ", i));
	tj_bayes_toks t;
	tj_bayes_toks_init(&t, 0);
	TJ_OKRC(tj_bayes_tokenize(m.data, m.len, &t));
	TJ_ASSERT_INT(t.n, ==, TJ_BAYES_MAX_TOKENS);
	TJ_ASSERT(t.dropped > 0);
	HAS(&t, "subject:subjectword");
	HAS(&t, "w10x");
	HASNT(&t, "w5999x");
	TJ_ASSERT(tj_bayes_toks_text(&t, 0) == NULL); /* no text kept */
	/* the same set reused for a small message */
	TJ_OKRC(tj_bayes_tokenize((const uint8_t *)"Subject: small\n\nhello\n", 22, &t));
	TJ_ASSERT(t.n < 20);
	HAS(&t, "hello");
	HASNT(&t, "w10x");
	tj_bayes_toks_free(&t);
	tj_buf_free(&m);
}

TJ_TEST(tok_malformed)
{
	tj_bayes_toks t;
	tj_bayes_toks_init(&t, 1);
	TJ_OKRC(tj_bayes_tokenize(NULL, 0, &t));
	TJ_OKRC(tj_bayes_tokenize((const uint8_t *)"", 0, &t));
	static const char *bad[] = {
		"no header at all, just words here\n",
		"Subject: =?utf-8?B?####?=\nContent-Type: text/html\n\n<a href=\"http://\"><<<<&#99999999;&#x;&;<!--\n",
		"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n--\n",
		"From: @\nTo: @@@.\nReceived: ....... 1.2.3.4.5 999.1.1.1\nMessage-ID: <@>\n\n",
		"Content-Type: text/plain; charset=x-no-such-charset\n\n\xff\xfe\x00\x80 caf\xe9\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		TJ_OKRC(tj_bayes_tokenize((const uint8_t *)bad[i], strlen(bad[i]), &t));
	uint8_t junk[4096];
	uint32_t x = 12345;
	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	TJ_OKRC(tj_bayes_tokenize(junk, sizeof(junk), &t));
	tj_bayes_toks_free(&t);
}

/* ---- synthetic mail ---- */

struct rng {
	uint64_t s;
};

static uint32_t rnd(struct rng *r)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return (uint32_t)(r->s >> 11);
}

/* synth - a message of class spam/ham: its own vocabulary plus shared words */
static void synth(tj_buf *m, int spam, uint32_t seed)
{
	struct rng r = {seed * 2654435761u + (spam ? 7 : 3)};
	tj_buf_reset(m);
	tj_buf_printf(m, "From: %s%u@%s\nTo: user@site.example\nSubject: %s %u\nMessage-ID: <%u@%s>\n\n",
		      spam ? "promo" : "friend", rnd(&r) % 50, spam ? "bulk.example" : "mail.example",
		      spam ? "offer" : "meeting", rnd(&r) % 1000, seed, spam ? "bulk.example" : "mail.example");
	for (int i = 0; i < 60; i++) {
		if (i % 3 == 0)
			tj_buf_printf(m, "%s%u ", spam ? "spamword" : "hamword", rnd(&r) % 300);
		else
			tj_buf_printf(m, "common%u ", rnd(&r) % 400);
	}
	tj_buf_puts(m, "\n");
}

static tj_bayes *open_db(const char *sub)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/%s", tj_test_tmpdir(), sub);
	tj_bayes *b;
	TJ_OKRC(tj_bayes_open(dir, false, &b));
	return b;
}

static void train(tj_bayes *b, int nspam, int nham, uint32_t seed0)
{
	tj_buf m = TJ_BUF_INIT;
	for (int i = 0; i < nspam || i < nham; i++) {
		if (i < nspam) {
			synth(&m, 1, seed0 + (uint32_t)i);
			TJ_ASSERT_INT(tj_bayes_learn(b, m.data, m.len, NULL, TJ_BAYES_SPAM), ==, 0);
		}
		if (i < nham) {
			synth(&m, 0, seed0 + (uint32_t)i);
			TJ_ASSERT_INT(tj_bayes_learn(b, m.data, m.len, NULL, TJ_BAYES_HAM), ==, 0);
		}
	}
	tj_buf_free(&m);
}

/* ---- classifier ---- */

TJ_TEST(learn_relearn_forget)
{
	tj_bayes *b = open_db("bayes");
	struct tj_bayes_stats s;
	const char *msg = "From: a@b.example\nSubject: one two three\n\nfour five six seven\n";
	size_t len = strlen(msg);
	uint8_t id[TJ_BAYES_ID_LEN] = {1, 2, 3};
	enum tj_bayes_class c;
	TJ_ASSERT_INT(tj_bayes_is_learned(b, id, &c), ==, TJ_ENOTFOUND);
	TJ_ASSERT_INT(tj_bayes_learn(b, (const uint8_t *)msg, len, id, TJ_BAYES_SPAM), ==, 0);
	TJ_OKRC(tj_bayes_is_learned(b, id, &c));
	TJ_ASSERT_INT(c, ==, TJ_BAYES_SPAM);
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 1);
	TJ_ASSERT_INT(s.nham, ==, 0);
	uint64_t ntok = s.ntokens;
	TJ_ASSERT(ntok > 10);
	TJ_ASSERT(!s.ready);
	TJ_ASSERT_INT(s.tok_version, ==, TJ_BAYES_TOK_VERSION);
	/* the same id again: nothing changes */
	TJ_ASSERT_INT(tj_bayes_learn(b, (const uint8_t *)msg, len, id, TJ_BAYES_SPAM), ==, 1);
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 1);
	TJ_ASSERT_INT(s.serial, ==, 1);
	/* as the other class: moved */
	TJ_ASSERT_INT(tj_bayes_learn(b, (const uint8_t *)msg, len, id, TJ_BAYES_HAM), ==, 0);
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 0);
	TJ_ASSERT_INT(s.nham, ==, 1);
	TJ_ASSERT_INT(s.ntokens, ==, ntok);
	TJ_OKRC(tj_bayes_is_learned(b, id, &c));
	TJ_ASSERT_INT(c, ==, TJ_BAYES_HAM);
	/* a second message with no id: the hash of its bytes is its id */
	const char *msg2 = "Subject: other\n\nseven eight nine\n";
	TJ_ASSERT_INT(tj_bayes_learn(b, (const uint8_t *)msg2, strlen(msg2), NULL, TJ_BAYES_HAM), ==, 0);
	TJ_ASSERT_INT(tj_bayes_learn(b, (const uint8_t *)msg2, strlen(msg2), NULL, TJ_BAYES_HAM), ==, 1);
	uint8_t id2[TJ_BAYES_ID_LEN];
	tj_bayes_message_id((const uint8_t *)msg2, strlen(msg2), id2);
	TJ_OKRC(tj_bayes_is_learned(b, id2, &c));
	/* forget both: the database is empty again, tokens included */
	TJ_OKRC(tj_bayes_forget(b, (const uint8_t *)msg, len, id));
	TJ_ASSERT_INT(tj_bayes_forget(b, (const uint8_t *)msg, len, id), ==, TJ_ENOTFOUND);
	TJ_OKRC(tj_bayes_forget(b, (const uint8_t *)msg2, strlen(msg2), NULL));
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 0);
	TJ_ASSERT_INT(s.nham, ==, 0);
	TJ_ASSERT_INT(s.ntokens, ==, 0);
	tj_bayes_close(&b);
	TJ_ASSERT(b == NULL);
	tj_bayes_close(&b);
}

TJ_TEST(learn_batch)
{
	tj_bayes *b = open_db("bayes");
	tj_buf m1 = TJ_BUF_INIT, m2 = TJ_BUF_INIT;
	synth(&m1, 1, 1);
	synth(&m2, 0, 2);
	uint8_t id[TJ_BAYES_ID_LEN] = {9};
	tj_bayes_item it[4] = {
		{.msg = m1.data, .len = m1.len, .id = id, .cls = TJ_BAYES_SPAM},
		{.msg = m1.data, .len = m1.len, .id = id, .cls = TJ_BAYES_SPAM}, /* the same id twice */
		{.msg = m2.data, .len = m2.len, .id = NULL, .cls = TJ_BAYES_HAM},
		{.msg = m1.data, .len = m1.len, .id = NULL, .cls = TJ_BAYES_SPAM}, /* same bytes, other id */
	};
	TJ_OKRC(tj_bayes_learn_batch(b, it, 4));
	TJ_ASSERT_INT(it[0].rc, ==, 0);
	TJ_ASSERT_INT(it[1].rc, ==, 1);
	TJ_ASSERT_INT(it[2].rc, ==, 0);
	TJ_ASSERT_INT(it[3].rc, ==, 0);
	struct tj_bayes_stats s;
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 2);
	TJ_ASSERT_INT(s.nham, ==, 1);
	/* a batch moving one and repeating another */
	it[0].cls = it[1].cls = TJ_BAYES_HAM;
	TJ_OKRC(tj_bayes_learn_batch(b, it, 3));
	TJ_ASSERT_INT(it[0].rc, ==, 0);
	TJ_ASSERT_INT(it[1].rc, ==, 1);
	TJ_ASSERT_INT(it[2].rc, ==, 1);
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 1);
	TJ_ASSERT_INT(s.nham, ==, 2);
	TJ_OKRC(tj_bayes_learn_batch(b, it, 0));
	tj_buf_free(&m1);
	tj_buf_free(&m2);
	tj_bayes_close(&b);
}

TJ_TEST(unready_below_200)
{
	tj_bayes *b = open_db("bayes");
	tj_buf m = TJ_BUF_INIT;
	double p = 0.5;
	synth(&m, 1, 100000);
	TJ_ASSERT_INT(tj_bayes_classify(b, m.data, m.len, &p), ==, TJ_ENOTFOUND);
	TJ_ASSERT(p == -1);
	train(b, TJ_BAYES_MIN_LEARNED - 1, TJ_BAYES_MIN_LEARNED, 1);
	TJ_ASSERT_INT(tj_bayes_classify(b, m.data, m.len, &p), ==, TJ_ENOTFOUND);
	TJ_ASSERT(p == -1);
	struct tj_bayes_stats s;
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT(!s.ready);
	train(b, 1, 0, 5000);
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT(s.ready);
	TJ_OKRC(tj_bayes_classify(b, m.data, m.len, &p));
	TJ_ASSERT(p > 0.9);
	tj_buf_free(&m);
	tj_bayes_close(&b);
}

TJ_TEST(classify_separated)
{
	tj_bayes *b = open_db("bayes");
	train(b, 250, 250, 1);
	tj_buf m = TJ_BUF_INIT;
	int right = 0;
	for (uint32_t i = 0; i < 50; i++) {
		double ps, ph;
		tj_bayes_result res;
		synth(&m, 1, 10000 + i); /* unseen */
		TJ_OKRC(tj_bayes_classify(b, m.data, m.len, &ps));
		TJ_OKRC(tj_bayes_classify_ex(b, m.data, m.len, &res));
		TJ_ASSERT(res.prob == ps);
		TJ_ASSERT(res.used > 0 && res.used <= 150 && res.used <= res.known && res.known <= res.tokens);
		synth(&m, 0, 20000 + i);
		TJ_OKRC(tj_bayes_classify(b, m.data, m.len, &ph));
		TJ_ASSERT(ps >= 0 && ps <= 1 && ph >= 0 && ph <= 1);
		right += ps > 0.99 && ph < 0.01;
	}
	TJ_ASSERT_INT(right, ==, 50);
	/* a message with no known token says nothing */
	double p;
	TJ_OKRC(tj_bayes_classify(b, (const uint8_t *)"\n\nzzzqqq xxxyyy\n", 16, &p));
	TJ_ASSERT(p > 0.3 && p < 0.7);
	tj_buf_free(&m);
	tj_bayes_close(&b);
}

struct cctx {
	tj_bayes *b;
	int n, bad;
	double sum;
};

static void *classify_loop(void *arg)
{
	struct cctx *c = arg;
	tj_buf m = TJ_BUF_INIT;
	for (int i = 0; i < c->n; i++) {
		double p;
		synth(&m, i & 1, 30000 + (uint32_t)i);
		int rc = tj_bayes_classify(c->b, m.data, m.len, &p);
		if (rc || p < 0 || p > 1 || (i & 1) != (p > 0.5))
			c->bad++;
		c->sum += p;
	}
	tj_buf_free(&m);
	return NULL;
}

TJ_TEST(concurrent_classify_during_learn)
{
	tj_bayes *b = open_db("bayes");
	train(b, 210, 210, 1);
	enum { THREADS = 4 };
	pthread_t th[THREADS];
	struct cctx c[THREADS];
	for (int i = 0; i < THREADS; i++) {
		c[i] = (struct cctx){b, 300, 0, 0};
		TJ_ASSERT_INT(pthread_create(&th[i], NULL, classify_loop, &c[i]), ==, 0);
	}
	/* meanwhile: learning, one message at a time and in a batch */
	train(b, 60, 60, 50000);
	tj_buf ms[20];
	tj_bayes_item it[20];
	for (int i = 0; i < 20; i++) {
		tj_buf z = TJ_BUF_INIT;
		ms[i] = z;
		synth(&ms[i], i & 1, 60000 + (uint32_t)i);
		it[i] = (tj_bayes_item){.msg = ms[i].data, .len = ms[i].len, .cls = i & 1 ? TJ_BAYES_SPAM : TJ_BAYES_HAM};
	}
	TJ_OKRC(tj_bayes_learn_batch(b, it, 20));
	for (int i = 0; i < THREADS; i++) {
		TJ_ASSERT_INT(pthread_join(th[i], NULL), ==, 0);
		TJ_ASSERT_INT(c[i].bad, ==, 0);
	}
	struct tj_bayes_stats s;
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.nspam, ==, 280);
	TJ_ASSERT_INT(s.nham, ==, 280);
	for (int i = 0; i < 20; i++)
		tj_buf_free(&ms[i]);
	tj_bayes_close(&b);
}

TJ_TEST(reopen_persists)
{
	char dir[600];
	snprintf(dir, sizeof(dir), "%s/bayes", tj_test_tmpdir());
	tj_bayes *b;
	/* read-only and never made: not found, nothing created */
	TJ_ASSERT_INT(tj_bayes_open(dir, true, &b), ==, -ENOENT);
	TJ_OKRC(tj_bayes_open(dir, false, &b));
	train(b, 200, 200, 1);
	struct tj_bayes_stats s1, s2;
	TJ_OKRC(tj_bayes_stats(b, &s1));
	tj_buf m = TJ_BUF_INIT;
	synth(&m, 1, 777777);
	double p1, p2;
	TJ_OKRC(tj_bayes_classify(b, m.data, m.len, &p1));
	tj_bayes_close(&b);
	TJ_OKRC(tj_bayes_open(dir, true, &b));
	TJ_OKRC(tj_bayes_stats(b, &s2));
	TJ_ASSERT_INT(s2.nspam, ==, s1.nspam);
	TJ_ASSERT_INT(s2.nham, ==, s1.nham);
	TJ_ASSERT_INT(s2.ntokens, ==, s1.ntokens);
	TJ_ASSERT_INT(s2.serial, ==, 400);
	TJ_ASSERT(s2.db_bytes > 0);
	TJ_OKRC(tj_bayes_classify(b, m.data, m.len, &p2));
	TJ_ASSERT(p1 == p2);
	/* a read-only handle refuses to write */
	TJ_ASSERT_INT(tj_bayes_learn(b, m.data, m.len, NULL, TJ_BAYES_SPAM), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_bayes_expire(b, 0, NULL), ==, TJ_EINVAL);
	tj_bayes_close(&b);
	/* and read-write again (one handle per directory and process: LMDB's rule) */
	TJ_OKRC(tj_bayes_open(dir, false, &b));
	TJ_ASSERT_INT(tj_bayes_learn(b, m.data, m.len, NULL, TJ_BAYES_SPAM), ==, 0);
	TJ_OKRC(tj_bayes_stats(b, &s2));
	TJ_ASSERT_INT(s2.nspam, ==, 201);
	tj_bayes_close(&b);
	tj_buf_free(&m);
}

TJ_TEST(expire_rare_tokens)
{
	tj_bayes *b = open_db("bayes");
	/* two messages share "commonword"; each has words of its own */
	const char *a = "Subject: x\n\ncommonword uniquealpha\n", *c = "Subject: y\n\ncommonword uniquebeta\n";
	TJ_OKRC(tj_bayes_learn(b, (const uint8_t *)a, strlen(a), NULL, TJ_BAYES_HAM));
	TJ_OKRC(tj_bayes_learn(b, (const uint8_t *)c, strlen(c), NULL, TJ_BAYES_SPAM));
	struct tj_bayes_stats s;
	TJ_OKRC(tj_bayes_stats(b, &s));
	uint64_t before = s.ntokens, dropped = 99;
	/* nothing is older than 5 learns yet */
	TJ_OKRC(tj_bayes_expire(b, 5, &dropped));
	TJ_ASSERT_INT(dropped, ==, 0);
	/* age 0: every token counted once goes; the shared ones stay */
	TJ_OKRC(tj_bayes_expire(b, 0, &dropped));
	TJ_ASSERT(dropped > 0);
	TJ_OKRC(tj_bayes_stats(b, &s));
	TJ_ASSERT_INT(s.ntokens, ==, before - dropped);
	TJ_ASSERT(s.ntokens > 0);
	TJ_ASSERT_INT(s.nspam, ==, 1);
	/* forgetting a message whose tokens were expired is fine */
	TJ_OKRC(tj_bayes_forget(b, (const uint8_t *)a, strlen(a), NULL));
	tj_bayes_close(&b);
}

TJ_TEST(chi2q)
{
	TJ_ASSERT(tj_bayes_chi2q(0, 10) == 1.0);
	TJ_ASSERT(fabs(tj_bayes_chi2q(2.0, 1) - exp(-1.0)) < 1e-12);
	/* chi-square with 4 degrees of freedom: e^-m (1 + m) */
	TJ_ASSERT(fabs(tj_bayes_chi2q(6.0, 2) - exp(-3.0) * 4.0) < 1e-12);
	TJ_ASSERT(tj_bayes_chi2q(5000.0, 150) < 1e-100);
	TJ_ASSERT(tj_bayes_chi2q(1.0, 150) > 0.999999);
	double prev = 1.0;
	for (double x = 0; x < 1000; x += 10) {
		double q = tj_bayes_chi2q(x, 50);
		TJ_ASSERT(q <= prev && q >= 0);
		prev = q;
	}
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

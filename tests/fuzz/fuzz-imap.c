/*
 * fuzz-imap.c - libFuzzer target for protocol/imap.
 *
 * The first byte picks the mode (authenticated, LITERAL-) and seeds the
 * chunking; the rest is a client byte stream.  It is parsed twice, once in
 * one piece and once in chunks whose sizes come from the input itself, and
 * the two transcripts must be identical (abort otherwise).  Every parsed
 * command is also run through every argument parser, the mUTF-7 codec, the
 * wildcard matcher and the writers, whatever its name, so all of them see
 * hostile argument trees.
 */
#include "common/buf.h"
#include "common/err.h"
#include "protocol/imap/imap-append.h"
#include "protocol/imap/imap-date.h"
#include "protocol/imap/imap-fetch.h"
#include "protocol/imap/imap-flags.h"
#include "protocol/imap/imap-list.h"
#include "protocol/imap/imap-mailbox.h"
#include "protocol/imap/imap-parser.h"
#include "protocol/imap/imap-search.h"
#include "protocol/imap/imap-select.h"
#include "protocol/imap/imap-seqset.h"
#include "protocol/imap/imap-status.h"
#include "protocol/imap/imap-store.h"
#include "protocol/imap/imap-utf7.h"
#include "protocol/imap/imap-write.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(bool ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz-imap: invariant failed: %s\n", what);
		abort();
	}
}

/* a cheap digest of an argument tree, so transcripts stay small */
static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

static uint64_t hash_args(uint64_t h, const struct imap_arg *a, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t t = (uint8_t)a[i].type | (uint8_t)(a[i].literal8 << 4) | (uint8_t)(a[i].nonsync << 5);
		h = mix(h, &t, 1);
		h = mix(h, &a[i].len, sizeof(a[i].len));
		h = mix(h, a[i].str, a[i].len);
		check(a[i].str[a[i].len] == 0, "strings are NUL-terminated");
		if (a[i].has_partial)
			h = mix(h, a[i].partial, a[i].partial_len);
		if (a[i].type == IMAP_ARG_LIST || a[i].type == IMAP_ARG_SECTION) {
			h = mix(h, &a[i].count, sizeof(a[i].count));
			h = hash_args(h, a[i].list, a[i].count);
		} else {
			check(a[i].count == 0, "only lists have children");
		}
	}
	return h;
}

static void exercise_strings(const struct imap_arg *a, size_t n, tj_buf *scratch)
{
	for (size_t i = 0; i < n; i++) {
		if (a[i].type == IMAP_ARG_LIST || a[i].type == IMAP_ARG_SECTION) {
			exercise_strings(a[i].list, a[i].count, scratch);
			continue;
		}
		const char *s = a[i].str;
		size_t len = a[i].len;
		/* mUTF-7: whatever decodes must re-encode to the same bytes */
		tj_buf_reset(scratch);
		if (imap_utf7_to_utf8(s, len, scratch) == 0) {
			tj_buf back = TJ_BUF_INIT;
			check(imap_utf8_to_utf7((const char *)scratch->data, scratch->len, &back) == 0,
			      "decoded mUTF-7 re-encodes");
			check(back.len == len && (len == 0 || memcmp(back.data, s, len) == 0), "mUTF-7 round trip");
			tj_buf_free(&back);
		}
		tj_buf_reset(scratch);
		if (imap_utf8_to_utf7(s, len, scratch) == 0) {
			tj_buf back = TJ_BUF_INIT;
			check(imap_utf7_to_utf8((const char *)scratch->data, scratch->len, &back) == 0,
			      "encoded UTF-8 decodes");
			check(back.len == len && (len == 0 || memcmp(back.data, s, len) == 0), "UTF-8 round trip");
			tj_buf_free(&back);
		}
		struct imap_date d;
		int64_t t;
		int tz;
		if (imap_date_parse(s, len, &d) == 0) {
			struct imap_date d2;
			imap_days_to_date(imap_date_days(&d), &d2);
			check(d.year == d2.year && d.month == d2.month && d.day == d2.day, "date round trip");
		}
		if (imap_datetime_parse(s, len, &t, &tz) == 0) {
			tj_buf_reset(scratch);
			check(imap_write_datetime(scratch, t, tz) == 0, "date-time writes");
			int64_t t2;
			int tz2;
			check(imap_datetime_parse((const char *)scratch->data + 1, scratch->len - 2, &t2, &tz2) == 0 &&
				      t2 == t && tz2 == tz,
			      "date-time round trip");
		}
		struct imap_seqset set = IMAP_SEQSET_INIT, res = IMAP_SEQSET_INIT;
		if (imap_seqset_parse(&set, s, len) == 0) {
			uint32_t max = (uint32_t)len * 7;
			if (imap_seqset_resolve(&set, max, &res) == 0) {
				struct imap_seqset_iter it;
				uint32_t v, last = 0, count = 0;
				imap_seqset_iter_init(&it, &res);
				while (count < 1000 && imap_seqset_iter_next(&it, &v)) {
					check(v > last && v <= max, "iteration ascends within max");
					check(imap_seqset_contains(&set, v, max), "iterated numbers are members");
					last = v;
					count++;
				}
			}
		}
		imap_seqset_free(&set);
		imap_seqset_free(&res);
		/* writers: any string, in every form */
		tj_buf_reset(scratch);
		check(imap_write_astring(scratch, s, len, 0) == 0, "astring writes");
		check(imap_write_string(scratch, s, len, IMAP_WRITE_UTF8) == 0, "string writes");
		/* the string as a pattern against itself and a fixed name */
		if (len <= 256) {
			(void)imap_mailbox_match(s, len, "INBOX/a/b%c", 11, '/');
			(void)imap_mailbox_match("*%", 2, s, len, '/');
			bool plain = memchr(s, '*', len) == NULL && memchr(s, '%', len) == NULL;
			if (plain)
				check(imap_mailbox_match(s, len, s, len, '/'), "a name matches itself");
		}
	}
}

static void exercise_command(const struct imap_command *c, tj_buf *scratch)
{
	const char *err;
	bool uid = imap_command_is_uid(c->kind);

	struct imap_fetch f = IMAP_FETCH_INIT;
	if (imap_fetch_parse(&f, c->args, c->argc, uid, &err) == 0) {
		for (size_t i = 0; i < f.section_count; i++) {
			tj_buf_reset(scratch);
			check(imap_fetch_section_write(scratch, &f.sections[i]) == 0, "section writes");
		}
		check(!uid || (f.items & IMAP_FETCH_UID), "UID FETCH implies UID");
	}
	imap_fetch_free(&f);

	struct imap_search s = IMAP_SEARCH_INIT;
	int rc = imap_search_parse(&s, c->args, c->argc, &err);
	check(rc != 0 || (s.root && s.root->type == IMAP_SK_AND), "search root is AND");
	check(s.pool_used <= s.pool_size, "search pool bound");
	imap_search_free(&s);

	struct imap_store st = IMAP_STORE_INIT;
	if (imap_store_parse(&st, c->args, c->argc, &err) == 0) {
		tj_buf_reset(scratch);
		check(imap_write_flags(scratch, st.flags.system, st.flags.keywords, st.flags.count) == 0,
		      "flags write");
	}
	imap_store_free(&st);

	struct imap_select sel = IMAP_SELECT_INIT;
	(void)imap_select_parse(&sel, c->args, c->argc, &err);
	imap_select_free(&sel);

	struct imap_list l;
	for (int lsub = 0; lsub < 2; lsub++) {
		if (imap_list_parse(&l, c->args, c->argc, lsub, &err) == 0) {
			tj_buf joined = TJ_BUF_INIT;
			for (size_t i = 0; i < l.pattern_count; i++) {
				tj_buf_reset(&joined);
				check(imap_list_join((const char *)l.reference.ptr, l.reference.len,
						     (const char *)l.patterns[i].ptr, l.patterns[i].len, '/',
						     &joined) == 0,
				      "list join");
				if (joined.len <= 256)
					(void)imap_mailbox_match((const char *)joined.data, joined.len, "INBOX/x", 7, '/');
			}
			tj_buf_free(&joined);
		}
	}

	struct imap_status sta;
	(void)imap_status_parse(&sta, c->args, c->argc, &err);

	struct imap_append ap = IMAP_APPEND_INIT;
	(void)imap_append_parse(&ap, c->args, c->argc, &err);
	imap_append_free(&ap);

	for (size_t i = 0; i < c->argc; i++) {
		struct imap_flags fl = IMAP_FLAGS_INIT;
		(void)imap_flags_parse_list(&fl, &c->args[i], &err);
		imap_flags_free(&fl);
	}
	exercise_strings(c->args, c->argc, scratch);
	check(imap_command_classify(c->name, strlen(c->name)) == c->kind, "kind matches name");
}

/* parse data; chunk sizes from seed (NULL: one piece); digest into out */
static void run(const uint8_t *data, size_t size, uint8_t mode, const uint8_t *seed, size_t seedlen,
		bool exercise, tj_buf *out)
{
	struct imap_parser *p;
	tj_buf scratch = TJ_BUF_INIT;
	if (imap_parser_new(&p) < 0)
		abort();
	imap_parser_set_authenticated(p, mode & 1);
	imap_parser_set_literal_minus(p, mode & 2);
	size_t pos = 0, avail = 0, si = 0;
	for (;;) {
		if (pos == avail) {
			if (avail == size)
				break;
			size_t chunk = size;
			if (seed && seedlen)
				chunk = 1 + (seed[si++ % seedlen] & 0x3f);
			avail = avail + chunk < size ? avail + chunk : size;
		}
		size_t used = 0;
		int rc = imap_parser_feed(p, data + pos, avail - pos, &used);
		check(used <= avail - pos, "consumed within input");
		pos += used;
		if (rc == TJ_NEED_MORE) {
			check(pos == avail, "NEED_MORE consumes everything");
			continue;
		}
		check(used > 0, "results consume input");
		if (rc == 0) {
			const struct imap_command *c = imap_parser_command(p);
			uint64_t h = hash_args(mix(14695981039346656037ULL, c->tag, strlen(c->tag)), c->args, c->argc);
			tj_buf_printf(out, "C %s %d %zu %016llx\n", c->name, (int)c->kind, c->argc,
				      (unsigned long long)h);
			if (exercise)
				exercise_command(c, &scratch);
		} else if (rc == IMAP_NEED_CONTINUATION) {
			tj_buf_puts(out, "+\n");
		} else if (rc == TJ_EPROTO || rc == TJ_ETOOBIG) {
			const struct imap_parse_error *e = imap_parser_error(p);
			check(e != NULL && e->reason != NULL, "errors have reasons");
			tj_buf_printf(out, "B %d %s %s %d\n", rc, e->tag_known ? e->tag : "*", e->reason,
				      e->close_suggested);
		} else {
			check(false, "feed returns a documented code");
		}
	}
	imap_parser_free(&p);
	tj_buf_free(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	data++;
	size--;
	tj_buf whole = TJ_BUF_INIT, chunked = TJ_BUF_INIT;
	run(data, size, mode, NULL, 0, true, &whole);
	/* chunk sizes: bytes taken from the input itself, starting mid-way */
	run(data, size, mode, data + size / 2, size - size / 2, false, &chunked);
	check(whole.len == chunked.len && (whole.len == 0 || memcmp(whole.data, chunked.data, whole.len) == 0),
	      "chunked parse equals whole parse");
	tj_buf_free(&whole);
	tj_buf_free(&chunked);
	return 0;
}

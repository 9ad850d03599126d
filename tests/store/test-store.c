/*
 * test-store.c - unit tests for store/: records, ops, compression, every op
 * type, quotas, CONDSTORE/QRESYNC indexes, op-log replay, dictionaries,
 * compaction beside readers, torn tails and corruption.
 */
#include "store/compress.h"
#include "store/op.h"
#include "store/record.h"
#include "tests/store/store-testlib.h"

#include <stdbool.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- records ---- */

static size_t make_record(tj_buf *out, const char *text, tj_dicts *d)
{
	uint8_t g[TJ_GUID_LEN];
	tj_guid_compute(text, strlen(text), g);
	tj_buf_reset(out);
	TJ_OKRC(tj_compress_record(d, text, strlen(text), g, out));
	return out->len;
}

TJ_TEST(record_roundtrip_and_every_bitflip_detected)
{
	tj_dicts *d = tj_dicts_new(3);
	tj_buf rec = TJ_BUF_INIT, raw = TJ_BUF_INIT;
	const char *text = "Subject: hello\n\nhello hello hello hello hello hello hello hello world\n";
	size_t n = make_record(&rec, text, d);
	tj_rec r;
	size_t size;
	TJ_OKRC(tj_rec_decode(rec.data, rec.len, &r, &size));
	TJ_ASSERT_INT(size, ==, n);
	TJ_ASSERT_INT(r.codec, ==, TJ_CODEC_ZSTD);
	TJ_OKRC(tj_decompress_range(d, &r, 0, SIZE_MAX, &raw));
	TJ_ASSERT_MEM(raw.data, raw.len, text, strlen(text));
	for (size_t i = 0; i < n; i++) {
		for (int bit = 0; bit < 8; bit++) {
			rec.data[i] ^= (uint8_t)(1 << bit);
			int rc = tj_rec_decode(rec.data, rec.len, &r, &size);
			TJ_ASSERT(rc != 0); /* never accepted: magic, version, lengths or checksum catch it */
			rec.data[i] ^= (uint8_t)(1 << bit);
		}
	}
	/* every prefix is "need more" or an error, never success */
	for (size_t i = 0; i < n; i++)
		TJ_ASSERT(tj_rec_decode(rec.data, i, &r, &size) != 0);
	tj_buf_free(&rec);
	tj_buf_free(&raw);
	tj_dicts_free(&d);
}

TJ_TEST(record_incompressible_stored_raw)
{
	tj_dicts *d = tj_dicts_new(3);
	uint8_t data[300];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(rand() & 0xff);
	uint8_t g[TJ_GUID_LEN];
	tj_guid_compute(data, sizeof(data), g);
	tj_buf rec = TJ_BUF_INIT, raw = TJ_BUF_INIT;
	TJ_OKRC(tj_compress_record(d, data, sizeof(data), g, &rec));
	tj_rec r;
	size_t size;
	TJ_OKRC(tj_rec_decode(rec.data, rec.len, &r, &size));
	TJ_ASSERT_INT(r.codec, ==, TJ_CODEC_RAW);
	TJ_OKRC(tj_decompress_range(d, &r, 10, 20, &raw));
	TJ_ASSERT_MEM(raw.data, raw.len, data + 10, 20);
	tj_buf_free(&rec);
	tj_buf_free(&raw);
	tj_dicts_free(&d);
}

TJ_TEST(compress_ranges_and_dictionaries)
{
	tj_dicts *d = tj_dicts_new(3);
	/* a dictionary from similar samples */
	tj_buf samples = TJ_BUF_INIT, dict = TJ_BUF_INIT, b = TJ_BUF_INIT;
	size_t sizes[200];
	for (unsigned i = 0; i < 200; i++) {
		t_body(&b, i, 300 + i * 3);
		sizes[i] = b.len;
		tj_buf_append(&samples, b.data, b.len);
	}
	TJ_OKRC(tj_dict_train(samples.data, sizes, 200, &dict));
	TJ_ASSERT(dict.len > 0);
	tj_buf rec0 = TJ_BUF_INIT, rec1 = TJ_BUF_INIT, out = TJ_BUF_INIT;
	t_body(&b, 999, 200000); /* big enough for several zstd blocks */
	uint8_t g[TJ_GUID_LEN];
	tj_guid_compute(b.data, b.len, g);
	TJ_OKRC(tj_compress_record(d, b.data, b.len, g, &rec0));
	TJ_OKRC(tj_dicts_add(d, 1, dict.data, dict.len));
	TJ_ASSERT_INT(tj_dicts_add(d, 1, dict.data, dict.len), ==, TJ_EEXIST);
	tj_dicts_set_current(d, 1);
	TJ_OKRC(tj_compress_record(d, b.data, b.len, g, &rec1));
	tj_rec r0, r1;
	size_t s;
	TJ_OKRC(tj_rec_decode(rec0.data, rec0.len, &r0, &s));
	TJ_OKRC(tj_rec_decode(rec1.data, rec1.len, &r1, &s));
	TJ_ASSERT_INT(r0.dict_id, ==, 0);
	TJ_ASSERT_INT(r1.dict_id, ==, 1);
	size_t offs[] = {0, 1, 1000, 131071, 131072, 150000, b.len - 1};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (int which = 0; which < 2; which++) {
			tj_buf_reset(&out);
			TJ_OKRC(tj_decompress_range(d, which ? &r1 : &r0, offs[i], 5000, &out));
			size_t want = b.len - offs[i] < 5000 ? b.len - offs[i] : 5000;
			TJ_ASSERT_MEM(out.data, out.len, b.data + offs[i], want);
		}
	}
	/* a record naming a dictionary we do not have is an error, not garbage */
	tj_dicts *empty = tj_dicts_new(3);
	tj_buf_reset(&out);
	TJ_ASSERT_INT(tj_decompress_range(empty, &r1, 0, SIZE_MAX, &out), ==, TJ_ECORRUPT);
	tj_dicts_free(&empty);
	tj_buf_free(&samples);
	tj_buf_free(&dict);
	tj_buf_free(&b);
	tj_buf_free(&rec0);
	tj_buf_free(&rec1);
	tj_buf_free(&out);
	tj_dicts_free(&d);
}

/* ---- ops ---- */

TJ_TEST(op_roundtrip_every_type_and_truncation)
{
	tj_slice kws[2] = {{(const uint8_t *)"$Forwarded", 10}, {(const uint8_t *)"Work", 4}};
	tj_range rs[2] = {{1, 5}, {9, 9}};
	tj_op ops[] = {
		{.type = TJ_OP_USER_PUT, .user_id = 7, .name = {(const uint8_t *)"alice", 5}, .quota_bytes = 1 << 30, .quota_msgs = 5, .user_state = 1},
		{.type = TJ_OP_MBOX_CREATE, .user_id = 7, .mbox_id = 99, .name = {(const uint8_t *)"Work/2026", 9}, .uidvalidity = 123, .special_use = TJ_SU_SENT},
		{.type = TJ_OP_MBOX_RENAME, .user_id = 7, .mbox_id = 99, .mbox_id2 = 100, .name = {(const uint8_t *)"Old", 3}, .uidvalidity = 5},
		{.type = TJ_OP_MBOX_DELETE, .user_id = 7, .mbox_id = 99, .epoch = 3},
		{.type = TJ_OP_SUBSCRIBE, .user_id = 7, .name = {(const uint8_t *)"Work", 4}, .mode = 1},
		{.type = TJ_OP_APPEND, .user_id = 7, .mbox_id = 99, .uid = 4, .modseq = 12, .raw_size = 100, .internal_date = -5, .sys_flags = TJ_F_SEEN, .keywords = kws, .nkeywords = 2},
		{.type = TJ_OP_STORE, .user_id = 7, .mbox_id = 99, .modseq = 13, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_FLAGGED, .keywords = kws, .nkeywords = 1, .ranges = rs, .nranges = 2},
		{.type = TJ_OP_COPY, .user_id = 7, .mbox_id = 99, .mbox_id2 = 100, .uid = 1, .modseq = 2, .ranges = rs, .nranges = 2},
		{.type = TJ_OP_MOVE, .user_id = 7, .mbox_id = 99, .mbox_id2 = 100, .uid = 1, .modseq = 2, .modseq2 = 3, .ranges = rs, .nranges = 1},
		{.type = TJ_OP_EXPUNGE, .user_id = 7, .mbox_id = 99, .modseq = 14, .ranges = rs, .nranges = 2},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		tj_buf a = TJ_BUF_INIT, b = TJ_BUF_INIT;
		memset(ops[i].guid, (int)i, TJ_GUID_LEN);
		TJ_OKRC(tj_op_encode(&ops[i], &a));
		tj_op d;
		TJ_OKRC(tj_op_decode(a.data, a.len, &d));
		TJ_OKRC(tj_op_encode(&d, &b));
		TJ_ASSERT_MEM(a.data, a.len, b.data, b.len); /* decode(encode(x)) encodes the same */
		TJ_ASSERT_INT(d.type, ==, ops[i].type);
		TJ_ASSERT_INT(d.nranges, ==, ops[i].nranges);
		TJ_ASSERT_INT(d.nkeywords, ==, ops[i].nkeywords);
		tj_op_clear(&d);
		for (size_t cut = 0; cut < a.len; cut++)
			TJ_ASSERT_INT(tj_op_decode(a.data, cut, &d), ==, TJ_EPROTO);
		tj_buf_putc(&a, 0);
		TJ_ASSERT_INT(tj_op_decode(a.data, a.len, &d), ==, TJ_EPROTO); /* trailing bytes */
		a.data[0] = TJ_OP_VERSION + 1;
		TJ_ASSERT_INT(tj_op_decode(a.data, a.len, &d), ==, TJ_EVERSION);
		tj_buf_free(&a);
		tj_buf_free(&b);
	}
}

/* ---- mail operations ---- */

TJ_TEST(append_read_flags_copy_move_expunge)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "Alice", 0);
	TJ_ASSERT_INT(u, ==, tj_store_user_id("alice"));
	uint64_t inbox = t_mbox(st, u, "INBOX"), arch = t_mbox(st, u, "Archive");
	uint32_t uid1 = t_append(st, u, inbox, "Subject: one\n\nbody one\n");
	uint32_t uid2 = t_append(st, u, inbox, "Subject: two\n\nbody two\n");
	uint32_t uid3 = t_append(st, u, inbox, "Subject: one\n\nbody one\n"); /* same bytes */
	TJ_ASSERT_INT(uid1, ==, 1);
	TJ_ASSERT_INT(uid2, ==, 2);
	TJ_ASSERT_INT(uid3, ==, 3);
	tj_msg_info m1 = t_msg(st, inbox, 1), m3 = t_msg(st, inbox, 3);
	TJ_ASSERT(memcmp(m1.guid, m3.guid, TJ_GUID_LEN) == 0);
	tj_store_stats s;
	TJ_OKRC(tj_store_stats_get(st, &s));
	TJ_ASSERT_INT(s.unique_messages, ==, 2); /* single instance */
	TJ_ASSERT_INT(s.messages, ==, 3);
	tj_buf out = TJ_BUF_INIT;
	TJ_OKRC(t_read(st, m1.guid, &out));
	TJ_ASSERT_STR((char *)out.data, "Subject: one\n\nbody one\n");
	/* partial read */
	tj_rtxn *r;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	tj_buf_reset(&out);
	TJ_OKRC(tj_store_read(r, m1.guid, 9, 3, &out));
	TJ_ASSERT_STR((char *)out.data, "one");
	tj_rtxn_end(&r);

	tj_mbox_info mb = t_mbox_info(st, inbox);
	TJ_ASSERT_INT(mb.messages, ==, 3);
	TJ_ASSERT_INT(mb.unseen, ==, 3);
	TJ_ASSERT_INT(mb.uidnext, ==, 4);
	uint64_t hms = mb.highestmodseq;

	/* STORE +FLAGS (\Seen Work) on 1:2 */
	tj_slice kw = {(const uint8_t *)"Work", 4};
	tj_range all = {1, UINT32_MAX}, r12 = {1, 2};
	tj_op st1 = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_SEEN,
		     .keywords = &kw, .nkeywords = 1, .ranges = &r12, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &st1, NULL));
	TJ_ASSERT_INT(st1.modseq, ==, hms + 1);
	TJ_ASSERT_INT(st1.nranges, ==, 1);
	mb = t_mbox_info(st, inbox);
	TJ_ASSERT_INT(mb.unseen, ==, 1);
	TJ_ASSERT_INT(mb.highestmodseq, ==, hms + 1);
	TJ_ASSERT_INT(mb.nkeywords, ==, 1);
	TJ_ASSERT_INT(t_msg(st, inbox, 1).keywords, ==, 1);
	TJ_ASSERT_INT(t_msg(st, inbox, 3).modseq, <, hms + 1);
	/* the same STORE again changes nothing and bumps nothing */
	tj_op_clear(&st1);
	tj_op st2 = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_SEEN,
		     .keywords = &kw, .nkeywords = 1, .ranges = &r12, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &st2, NULL));
	TJ_ASSERT_INT(st2.nranges, ==, 0);
	TJ_ASSERT_INT(t_mbox_info(st, inbox).highestmodseq, ==, hms + 1);
	tj_op_clear(&st2);
	/* CONDSTORE: UNCHANGEDSINCE older than message 1's MODSEQ leaves it alone */
	tj_op st3 = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_SET, .sys_flags = TJ_F_FLAGGED,
		     .ranges = &all, .nranges = 1, .unchangedsince = hms};
	TJ_OKRC(tj_store_exec(st, &st3, NULL));
	TJ_ASSERT_INT(tj_ranges_count(st3.ranges, st3.nranges), ==, 1); /* only uid 3 */
	TJ_ASSERT_INT(st3.ranges[0].lo, ==, 3);
	TJ_ASSERT_INT(t_msg(st, inbox, 3).sys_flags, ==, TJ_F_FLAGGED);
	TJ_ASSERT_INT(t_msg(st, inbox, 1).sys_flags, ==, TJ_F_SEEN);
	tj_op_clear(&st3);

	/* COPY 1:3 to Archive keeps flags and keywords, new UIDs from 1 */
	tj_op cp = {.type = TJ_OP_COPY, .user_id = u, .mbox_id = inbox, .mbox_id2 = arch, .ranges = &all, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &cp, NULL));
	TJ_ASSERT_INT(cp.uid, ==, 1);
	TJ_ASSERT_INT(tj_ranges_count(cp.ranges, cp.nranges), ==, 3);
	tj_op_clear(&cp);
	tj_mbox_info am = t_mbox_info(st, arch);
	TJ_ASSERT_INT(am.messages, ==, 3);
	TJ_ASSERT_INT(am.unseen, ==, 1);
	TJ_ASSERT_INT(t_msg(st, arch, 2).keywords, ==, 1);
	TJ_OKRC(tj_store_stats_get(st, &s));
	TJ_ASSERT_INT(s.unique_messages, ==, 2); /* COPY adds no bytes */

	/* MOVE 2 from Archive back to INBOX: leaves a tombstone in Archive */
	tj_range r2 = {2, 2};
	uint64_t amod = t_mbox_info(st, arch).highestmodseq;
	tj_op mv = {.type = TJ_OP_MOVE, .user_id = u, .mbox_id = arch, .mbox_id2 = inbox, .ranges = &r2, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &mv, NULL));
	TJ_ASSERT_INT(mv.uid, ==, 4);
	tj_op_clear(&mv);
	TJ_ASSERT_INT(t_mbox_info(st, arch).messages, ==, 2);
	TJ_ASSERT_INT(t_mbox_info(st, inbox).messages, ==, 4);
	struct vctx {
		int n;
		uint32_t uid;
	} vc = {0, 0};
	int vfn(void *arg, uint32_t uid, uint64_t modseq);
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_vanished_since(r, arch, amod, vfn, &vc));
	tj_rtxn_end(&r);
	TJ_ASSERT_INT(vc.n, ==, 1);
	TJ_ASSERT_INT(vc.uid, ==, 2);

	/* EXPUNGE everything in INBOX; single-instance bytes stay for Archive */
	tj_op ex = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &all, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &ex, NULL));
	TJ_ASSERT_INT(tj_ranges_count(ex.ranges, ex.nranges), ==, 4);
	tj_op_clear(&ex);
	TJ_ASSERT_INT(t_mbox_info(st, inbox).messages, ==, 0);
	TJ_ASSERT_INT(t_mbox_info(st, inbox).uidnext, ==, 5); /* UIDs are never reused */
	TJ_OKRC(t_read(st, m1.guid, &out));
	t_verify_clean(st);
	tj_buf_free(&out);
	tj_store_close(&st);
}

int vfn(void *arg, uint32_t uid, uint64_t modseq)
{
	struct {
		int n;
		uint32_t uid;
	} *v = arg;
	v->n++;
	v->uid = uid;
	return 0;
}

TJ_TEST(quota_refuses_and_frees)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "bob", 100);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	char big[80];
	memset(big, 'x', sizeof(big));
	uint32_t uid;
	TJ_OKRC(t_append_rc(st, u, inbox, big, 60, 0, &uid));
	TJ_ASSERT_INT(t_append_rc(st, u, inbox, big, 60, 0, &uid), ==, TJ_EQUOTA);
	/* COPY over quota too */
	uint64_t other = t_mbox(st, u, "Other");
	tj_range all = {1, UINT32_MAX};
	tj_op cp = {.type = TJ_OP_COPY, .user_id = u, .mbox_id = inbox, .mbox_id2 = other, .ranges = &all, .nranges = 1};
	TJ_ASSERT_INT(tj_store_exec(st, &cp, NULL), ==, TJ_EQUOTA);
	tj_op_clear(&cp);
	tj_op ex = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &all, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &ex, NULL));
	tj_op_clear(&ex);
	TJ_OKRC(t_append_rc(st, u, inbox, big, 60, 0, &uid));
	t_verify_clean(st);
	tj_store_close(&st);
}

TJ_TEST(mailbox_create_rename_delete)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "carol", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	uint64_t a = t_mbox(st, u, "A"), ab = t_mbox(st, u, "A/B");
	t_append(st, u, ab, "Subject: x\n\nin A/B\n");
	tj_op dup = {.type = TJ_OP_MBOX_CREATE, .user_id = u, .name = {(const uint8_t *)"A", 1}};
	TJ_ASSERT_INT(tj_store_exec(st, &dup, NULL), ==, TJ_EEXIST);
	tj_op bad = {.type = TJ_OP_MBOX_CREATE, .user_id = u, .name = {(const uint8_t *)"A//B", 4}};
	TJ_ASSERT_INT(tj_store_exec(st, &bad, NULL), ==, TJ_EINVAL);
	/* rename A -> C renames A/B -> C/B, ids and UIDVALIDITY kept */
	uint32_t uv = t_mbox_info(st, ab).uidvalidity;
	tj_op rn = {.type = TJ_OP_MBOX_RENAME, .user_id = u, .mbox_id = a, .name = {(const uint8_t *)"C", 1}};
	TJ_OKRC(tj_store_exec(st, &rn, NULL));
	tj_rtxn *r;
	tj_mbox_info m;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_mbox_find(r, u, "C/B", &m));
	TJ_ASSERT_INT(m.id, ==, ab);
	TJ_ASSERT_INT(m.uidvalidity, ==, uv);
	TJ_ASSERT_INT(m.messages, ==, 1);
	TJ_ASSERT_INT(tj_store_mbox_find(r, u, "A/B", &m), ==, TJ_ENOTFOUND);
	tj_rtxn_end(&r);
	/* rename into its own child is refused */
	tj_op rn2 = {.type = TJ_OP_MBOX_RENAME, .user_id = u, .mbox_id = a, .name = {(const uint8_t *)"C/B/D", 5}};
	TJ_ASSERT_INT(tj_store_exec(st, &rn2, NULL), ==, TJ_EINVAL);
	/* RENAME INBOX moves its messages to a new mailbox; INBOX stays, empty */
	t_append(st, u, inbox, "Subject: i1\n\n1\n");
	t_append(st, u, inbox, "Subject: i2\n\n2\n");
	tj_op ri = {.type = TJ_OP_MBOX_RENAME, .user_id = u, .mbox_id = inbox, .name = {(const uint8_t *)"Old", 3}};
	TJ_OKRC(tj_store_exec(st, &ri, NULL));
	TJ_ASSERT(ri.mbox_id2 != inbox);
	tj_mbox_info im = t_mbox_info(st, inbox), om = t_mbox_info(st, ri.mbox_id2);
	TJ_ASSERT_INT(im.messages, ==, 0);
	TJ_ASSERT_INT(om.messages, ==, 2);
	TJ_ASSERT_INT(om.uidnext, ==, 3);
	TJ_ASSERT_INT(t_append(st, u, inbox, "Subject: i3\n\n3\n"), ==, 3); /* INBOX UIDs continue */
	/* delete: INBOX refused; a mailbox with mail frees it */
	tj_op di = {.type = TJ_OP_MBOX_DELETE, .user_id = u, .mbox_id = inbox};
	TJ_ASSERT_INT(tj_store_exec(st, &di, NULL), ==, TJ_EINVAL);
	tj_op dd = {.type = TJ_OP_MBOX_DELETE, .user_id = u, .mbox_id = ri.mbox_id2};
	TJ_OKRC(tj_store_exec(st, &dd, NULL));
	/* another user's mailbox id is not ours to touch */
	uint32_t eve = t_user(st, "eve", 0);
	tj_op steal = {.type = TJ_OP_MBOX_DELETE, .user_id = eve, .mbox_id = ab};
	TJ_ASSERT_INT(tj_store_exec(st, &steal, NULL), ==, TJ_ENOTFOUND);
	/* subscriptions */
	tj_op sub = {.type = TJ_OP_SUBSCRIBE, .user_id = u, .name = {(const uint8_t *)"Nowhere", 7}, .mode = 1};
	TJ_OKRC(tj_store_exec(st, &sub, NULL));
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_ASSERT_INT(tj_store_is_subscribed(r, u, "Nowhere"), ==, 1);
	TJ_ASSERT_INT(tj_store_is_subscribed(r, u, "Else"), ==, 0);
	tj_rtxn_end(&r);
	tj_op_clear(&rn);
	tj_op_clear(&ri);
	t_verify_clean(st);
	tj_store_close(&st);
}

TJ_TEST(changed_since_follows_modseq)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "dan", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	for (int i = 0; i < 10; i++)
		t_append(st, u, inbox, i % 2 ? "Subject: odd\n\n.\n" : "Subject: even\n\n.\n");
	uint64_t since = t_mbox_info(st, inbox).highestmodseq;
	tj_range r = {3, 4};
	tj_op op = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_ANSWERED,
		    .ranges = &r, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	tj_op_clear(&op);
	struct {
		uint32_t uids[16];
		int n;
	} got = {{0}, 0};
	int collect(void *arg, const tj_msg_info *m);
	tj_rtxn *rt;
	TJ_OKRC(tj_rtxn_begin(st, &rt));
	TJ_OKRC(tj_store_changed_since(rt, inbox, since, collect, &got));
	tj_rtxn_end(&rt);
	TJ_ASSERT_INT(got.n, ==, 2);
	TJ_ASSERT_INT(got.uids[0], ==, 3);
	TJ_ASSERT_INT(got.uids[1], ==, 4);
	t_verify_clean(st);
	tj_store_close(&st);
}

/* the change index after big STOREs (one entry of ranges, earlier entries
 * left stale), small STOREs (stale entries deleted), EXPUNGE and a tidy by
 * compaction: changed_since must give exactly the messages whose MODSEQ is
 * above `since`, each once, in MODSEQ order */
struct changed {
	uint32_t uid[400];
	uint64_t modseq[400];
	int n;
};

static int collect_changed(void *arg, const tj_msg_info *m)
{
	struct changed *c = arg;
	if (c->n < 400) {
		c->uid[c->n] = m->uid;
		c->modseq[c->n++] = m->modseq;
	}
	return 0;
}

static void check_changed(tj_store *st, uint64_t mbox, uint64_t since)
{
	struct changed got = {.n = 0};
	tj_rtxn *r;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_changed_since(r, mbox, since, collect_changed, &got));
	tj_rtxn_end(&r);
	int want = 0;
	for (uint32_t uid = 1; uid <= 300; uid++) {
		tj_rtxn *r2;
		tj_msg_info m;
		TJ_OKRC(tj_rtxn_begin(st, &r2));
		int rc = tj_store_msg_get(r2, mbox, uid, &m);
		tj_rtxn_end(&r2);
		if (rc || m.modseq <= since)
			continue;
		want++;
		int seen = 0;
		for (int i = 0; i < got.n; i++)
			seen += got.uid[i] == uid && got.modseq[i] == m.modseq;
		if (seen != 1)
			TJ_FAIL("since %llu: uid %u (modseq %llu) reported %d times", (unsigned long long)since, uid,
				(unsigned long long)m.modseq, seen);
	}
	TJ_ASSERT_INT(got.n, ==, want);
	for (int i = 1; i < got.n; i++)
		TJ_ASSERT(got.modseq[i - 1] < got.modseq[i] ||
			  (got.modseq[i - 1] == got.modseq[i] && got.uid[i - 1] < got.uid[i]));
}

TJ_TEST(changed_since_after_big_and_small_stores)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "erin", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	for (int i = 0; i < 300; i++)
		t_append(st, u, inbox, "Subject: x\n\n.\n");
	uint64_t marks[8];
	int nm = 0;
	marks[nm++] = 0;
	struct {
		uint32_t lo, hi;
		uint8_t mode;
		uint32_t flags;
		int expunge;
	} steps[] = {
		{1, 300, TJ_FLAGS_ADD, TJ_F_SEEN, 0},       /* big: one range entry, 300 stale */
		{10, 20, TJ_FLAGS_ADD, TJ_F_FLAGGED, 0},    /* small: deletes what it makes stale */
		{1, 300, TJ_FLAGS_REMOVE, TJ_F_SEEN, 0},    /* big over a mix of entries */
		{50, 59, 0, 0, 1},                          /* expunge inside a range entry */
		{2, 299, TJ_FLAGS_SET, TJ_F_ANSWERED, 0},   /* big, with a hole */
		{100, 100, TJ_FLAGS_ADD, TJ_F_DRAFT, 0},    /* one message */
	};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		marks[nm++] = t_mbox_info(st, inbox).highestmodseq;
		tj_range rg = {steps[i].lo, steps[i].hi};
		tj_op op = {.type = steps[i].expunge ? TJ_OP_EXPUNGE : TJ_OP_STORE, .user_id = u, .mbox_id = inbox,
			    .mode = steps[i].mode, .sys_flags = steps[i].flags, .ranges = &rg, .nranges = 1};
		TJ_OKRC(tj_store_exec(st, &op, NULL));
		tj_op_clear(&op);
		t_verify_clean(st);
	}
	for (int i = 0; i < nm; i++)
		check_changed(st, inbox, marks[i]);
	/* compaction tidies stale entries away; the answers stay the same */
	TJ_OKRC(tj_store_compact(st, 0.5, 0, NULL));
	t_verify_clean(st);
	for (int i = 0; i < nm; i++)
		check_changed(st, inbox, marks[i]);
	tj_store_close(&st);
}

/* the apply walk over a STORE's ranges: one cursor that steps over short
 * gaps, seeks over long ones and seeks back for unsorted ranges */
TJ_TEST(store_ranges_gaps_and_unsorted)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "fay", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	for (int i = 0; i < 120; i++)
		t_append(st, u, inbox, "Subject: x\n\n.\n");
	tj_range ex = {30, 39}; /* a hole the walk must step or seek over */
	tj_op e = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &ex, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &e, NULL));
	tj_op_clear(&e);
	tj_range rs[] = {{50, 60}, {1, 5}, {7, 7}, {9, 12}, {25, 45}, {90, 200}, {70, 70}, {3, 8}};
	tj_op op = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_FLAGGED,
		    .ranges = rs, .nranges = sizeof(rs) / sizeof(rs[0])};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	tj_op_clear(&op);
	for (uint32_t uid = 1; uid <= 120; uid++) {
		if (uid >= 30 && uid <= 39)
			continue;
		bool want = false;
		for (size_t i = 0; i < sizeof(rs) / sizeof(rs[0]); i++)
			want |= uid >= rs[i].lo && uid <= rs[i].hi;
		tj_msg_info m = t_msg(st, inbox, uid);
		if (!!(m.sys_flags & TJ_F_FLAGGED) != want)
			TJ_FAIL("uid %u: flagged %d, want %d", uid, !!(m.sys_flags & TJ_F_FLAGGED), want);
	}
	/* sorted ranges every third and every twentieth UID */
	tj_range every[60];
	uint32_t nr = 0;
	for (uint32_t uid = 1; uid <= 120; uid += uid < 60 ? 3 : 20)
		every[nr++] = (tj_range){uid, uid};
	tj_op op2 = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_SEEN,
		     .ranges = every, .nranges = nr};
	TJ_OKRC(tj_store_exec(st, &op2, NULL));
	uint64_t changed = tj_ranges_count(op2.ranges, op2.nranges);
	tj_op_clear(&op2);
	uint64_t want_changed = 0;
	for (uint32_t i = 0; i < nr; i++) {
		bool gone = every[i].lo >= 30 && every[i].lo <= 39;
		want_changed += !gone;
		if (!gone)
			TJ_ASSERT(t_msg(st, inbox, every[i].lo).sys_flags & TJ_F_SEEN);
	}
	TJ_ASSERT_INT(changed, ==, want_changed);
	TJ_ASSERT_INT(t_mbox_info(st, inbox).unseen, ==, 110 - want_changed);
	t_verify_clean(st);
	tj_store_close(&st);
}

/* EXPUNGE queues its messages' references (the unref database) and the
 * committer subtracts them when idle: verify counts the queue, a close
 * leaves it for the next open, and a log trim finishes it first */
TJ_TEST(expunge_releases_references_later)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/s", tj_test_tmpdir());
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "gil", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	tj_buf body = TJ_BUF_INIT;
	for (unsigned i = 0; i < 1500; i++) {
		t_body(&body, i, 200);
		uint32_t uid;
		TJ_OKRC(t_append_rc(st, u, inbox, (char *)body.data, body.len, 0, &uid));
	}
	tj_range all = {1, UINT32_MAX};
	tj_op ex = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &all, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &ex, NULL));
	tj_op_clear(&ex);
	t_verify_clean(st); /* queued or not, every reference is accounted for */
	tj_store_close(&st);
	st = t_open(dir);
	t_verify_clean(st);
	TJ_OKRC(tj_store_trim_log(st, 0));
	tj_store_stats stats;
	TJ_OKRC(tj_store_stats_get(st, &stats));
	TJ_ASSERT_INT(stats.messages, ==, 0);
	TJ_ASSERT_INT(stats.unique_messages, ==, 0);
	TJ_ASSERT_INT(stats.live_bytes, ==, 0);
	t_verify_clean(st);
	tj_buf_free(&body);
	tj_store_close(&st);
}

int collect(void *arg, const tj_msg_info *m)
{
	struct {
		uint32_t uids[16];
		int n;
	} *g = arg;
	if (g->n < 16)
		g->uids[g->n++] = m->uid;
	return 0;
}

/* ---- replay: the op log rebuilds the same state ---- */

struct replay {
	tj_store *src, *dst;
	tj_rtxn *r;
	int n;
};

static int replay_one(void *arg, uint64_t seq, const uint8_t *enc, size_t len)
{
	struct replay *p = arg;
	tj_op op;
	TJ_OKRC(tj_op_decode(enc, len, &op));
	TJ_ASSERT(op.flags & TJ_OPF_RESOLVED);
	tj_msgrec m = {0};
	const tj_msgrec *mp = NULL;
	if (op.type == TJ_OP_APPEND) {
		tj_buf raw = TJ_BUF_INIT;
		TJ_OKRC(tj_store_read(p->r, op.guid, 0, SIZE_MAX, &raw));
		TJ_OKRC(tj_store_prepare(p->dst, raw.data, raw.len, &m));
		tj_buf_free(&raw);
		mp = &m;
	}
	TJ_OKRC(tj_store_exec(p->dst, &op, mp));
	tj_msgrec_free(&m);
	tj_op_clear(&op);
	p->n++;
	return 0;
}

TJ_TEST(oplog_replay_gives_identical_state)
{
	char a[512], b[512];
	snprintf(a, sizeof(a), "%s/a", tj_test_tmpdir());
	snprintf(b, sizeof(b), "%s/b", tj_test_tmpdir());
	tj_store *st = t_open(a);
	srand(42);
	uint32_t users[3] = {t_user(st, "u1", 0), t_user(st, "u2", 0), t_user(st, "u3", 0)};
	uint64_t boxes[3][3];
	const char *names[3] = {"INBOX", "Sent", "Work/Projects"};
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			boxes[i][j] = t_mbox(st, users[i], names[j]);
	tj_buf body = TJ_BUF_INIT;
	tj_slice kws[3] = {{(const uint8_t *)"$Junk", 5}, {(const uint8_t *)"Todo", 4}, {(const uint8_t *)"$label1", 7}};
	for (int step = 0; step < 600; step++) {
		int ui = rand() % 3, bi = rand() % 3, bj = rand() % 3;
		int what = rand() % 10;
		tj_range rg = {(uint32_t)(1 + rand() % 40), 0};
		rg.hi = rg.lo + (uint32_t)(rand() % 5);
		tj_op op = {.user_id = users[ui], .mbox_id = boxes[ui][bi], .ranges = &rg, .nranges = 1};
		if (what < 5) {
			t_body(&body, (unsigned)(rand() % 200), (size_t)(rand() % 3000));
			uint32_t uid;
			TJ_OKRC(t_append_rc(st, users[ui], boxes[ui][bi], (char *)body.data, body.len,
					    (uint32_t)(rand() % 32), &uid));
			continue;
		} else if (what < 7) {
			op.type = TJ_OP_STORE;
			op.mode = (uint8_t)(rand() % 3);
			op.sys_flags = (uint32_t)(rand() % 32);
			op.keywords = &kws[rand() % 3];
			op.nkeywords = 1;
		} else if (what == 7) {
			op.type = TJ_OP_COPY;
			op.mbox_id2 = boxes[ui][bj];
		} else if (what == 8) {
			if (bi == bj)
				continue;
			op.type = TJ_OP_MOVE;
			op.mbox_id2 = boxes[ui][bj];
		} else {
			op.type = TJ_OP_EXPUNGE;
		}
		TJ_OKRC(tj_store_exec(st, &op, NULL));
		tj_op_clear(&op);
	}
	/* big STOREs (one change-index entry of ranges) and expunges among them */
	for (int step = 0; step < 30; step++) {
		int ui = rand() % 3, bi = rand() % 3;
		tj_range rg = {1, UINT32_MAX};
		tj_op op = {.user_id = users[ui], .mbox_id = boxes[ui][bi], .ranges = &rg, .nranges = 1};
		if (step % 3 == 2) {
			rg.lo = (uint32_t)(1 + rand() % 40);
			rg.hi = rg.lo + (uint32_t)(rand() % 10);
			op.type = TJ_OP_EXPUNGE;
		} else {
			op.type = TJ_OP_STORE;
			op.mode = (uint8_t)(rand() % 3);
			op.sys_flags = (uint32_t)(rand() % 32);
			op.keywords = &kws[rand() % 3];
			op.nkeywords = 1;
		}
		TJ_OKRC(tj_store_exec(st, &op, NULL));
		tj_op_clear(&op);
	}
	/* a rename and a subscription in the log too */
	tj_op rn = {.type = TJ_OP_MBOX_RENAME, .user_id = users[0], .mbox_id = boxes[0][2], .name = {(const uint8_t *)"Archive", 7}};
	TJ_OKRC(tj_store_exec(st, &rn, NULL));
	tj_op sub = {.type = TJ_OP_SUBSCRIBE, .user_id = users[1], .name = {(const uint8_t *)"Sent", 4}, .mode = 1};
	TJ_OKRC(tj_store_exec(st, &sub, NULL));
	tj_op ri = {.type = TJ_OP_MBOX_RENAME, .user_id = users[2], .mbox_id = boxes[2][0], .name = {(const uint8_t *)"Old Inbox", 9}};
	TJ_OKRC(tj_store_exec(st, &ri, NULL));

	tj_store *dst = t_open(b);
	struct replay p = {st, dst, NULL, 0};
	TJ_OKRC(tj_rtxn_begin(st, &p.r));
	TJ_OKRC(tj_store_log(p.r, 0, replay_one, &p));
	tj_rtxn_end(&p.r);
	TJ_ASSERT(p.n > 300);
	tj_buf da = TJ_BUF_INIT, db = TJ_BUF_INIT;
	TJ_OKRC(tj_store_dump(st, &da));
	TJ_OKRC(tj_store_dump(dst, &db));
	TJ_ASSERT(da.len > 1000);
	if (da.len != db.len || memcmp(da.data, db.data, da.len) != 0) {
		FILE *f = fopen("/tmp/tj-replay-a.txt", "w");
		fwrite(da.data, 1, da.len, f);
		fclose(f);
		f = fopen("/tmp/tj-replay-b.txt", "w");
		fwrite(db.data, 1, db.len, f);
		fclose(f);
		TJ_FAIL("replayed state differs (dumps in /tmp/tj-replay-[ab].txt)");
	}
	/* same log, too */
	tj_rtxn *ra, *rb;
	TJ_OKRC(tj_rtxn_begin(st, &ra));
	TJ_OKRC(tj_rtxn_begin(dst, &rb));
	TJ_ASSERT_INT(tj_store_log_last(ra), ==, tj_store_log_last(rb));
	tj_rtxn_end(&ra);
	tj_rtxn_end(&rb);
	t_verify_clean(st);
	t_verify_clean(dst);
	tj_op_clear(&rn);
	tj_op_clear(&ri);
	tj_buf_free(&da);
	tj_buf_free(&db);
	tj_buf_free(&body);
	tj_store_close(&st);
	tj_store_close(&dst);
}

/* ---- durability edges ---- */

TJ_TEST(torn_tail_truncated_on_open)
{
	const char *dir = tj_test_tmpdir();
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "t", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	t_append(st, u, inbox, "Subject: kept\n\nkept\n");
	tj_msg_info m = t_msg(st, inbox, 1);
	tj_store_close(&st);
	/* a crash mid-batch leaves bytes past the committed end */
	char path[600];
	snprintf(path, sizeof(path), "%s/segments/00000001.seg", dir);
	struct stat sb;
	TJ_ASSERT_INT(stat(path, &sb), ==, 0);
	off_t committed = sb.st_size;
	int fd = open(path, O_WRONLY | O_APPEND);
	TJ_ASSERT(fd >= 0);
	TJ_ASSERT_INT(write(fd, "TJSR garbage half a record", 26), ==, 26);
	close(fd);
	st = t_open(dir);
	TJ_ASSERT_INT(stat(path, &sb), ==, 0);
	TJ_ASSERT_INT(sb.st_size, ==, committed);
	tj_buf out = TJ_BUF_INIT;
	TJ_OKRC(t_read(st, m.guid, &out));
	TJ_ASSERT_STR((char *)out.data, "Subject: kept\n\nkept\n");
	TJ_ASSERT_INT(t_append(st, u, inbox, "Subject: next\n\nnext\n"), ==, 2);
	t_verify_clean(st);
	tj_buf_free(&out);
	tj_store_close(&st);
}

struct probs {
	int n;
	int named;
};

static void count_problem(void *arg, const char *p)
{
	struct probs *x = arg;
	x->n++;
	if (strstr(p, "user frank mailbox INBOX uid 2"))
		x->named = 1;
	fprintf(stderr, "  problem: %s\n", p);
}

TJ_TEST(corruption_named_by_verify_and_never_served)
{
	const char *dir = tj_test_tmpdir();
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "frank", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	t_append(st, u, inbox, "Subject: first\n\nfirst message body\n");
	t_append(st, u, inbox, "Subject: second\n\nsecond message body, the one we damage\n");
	t_append(st, u, inbox, "Subject: third\n\nthird message body\n");
	tj_msg_info m2 = t_msg(st, inbox, 2), m1 = t_msg(st, inbox, 1);
	tj_store_close(&st);
	/* flip one byte in the middle of record 2's payload */
	char path[600];
	snprintf(path, sizeof(path), "%s/segments/00000001.seg", dir);
	int fd = open(path, O_RDWR);
	TJ_ASSERT(fd >= 0);
	struct stat sb;
	fstat(fd, &sb);
	uint8_t *all = malloc((size_t)sb.st_size);
	TJ_ASSERT_INT(pread(fd, all, (size_t)sb.st_size, 0), ==, sb.st_size);
	/* find record 2 by its GUID in the header */
	off_t at = -1;
	for (off_t i = 0; i + 40 <= sb.st_size; i++)
		if (memcmp(all + i + 24, m2.guid, TJ_GUID_LEN) == 0 && memcmp(all + i, "TJSR", 4) == 0)
			at = i;
	TJ_ASSERT(at >= 0);
	uint8_t c = all[at + 48 + 5] ^ 0x20;
	TJ_ASSERT_INT(pwrite(fd, &c, 1, at + 48 + 5), ==, 1);
	close(fd);
	free(all);
	st = t_open(dir);
	struct probs p = {0, 0};
	TJ_ASSERT_INT(tj_store_verify(st, count_problem, &p), ==, 1);
	TJ_ASSERT(p.named);
	tj_buf out = TJ_BUF_INIT;
	TJ_ASSERT_INT(t_read(st, m2.guid, &out), ==, TJ_ECORRUPT);
	TJ_ASSERT_INT(out.len, ==, 0);
	TJ_OKRC(t_read(st, m1.guid, &out)); /* the neighbours are fine */
	tj_buf_free(&out);
	tj_store_close(&st);
}

/* ---- compaction and dictionaries ---- */

TJ_TEST(compaction_reclaims_and_keeps_readers_working)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "gina", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	tj_buf b = TJ_BUF_INIT, out = TJ_BUF_INIT;
	for (unsigned i = 0; i < 300; i++) {
		t_body(&b, i, 2000);
		uint32_t uid;
		TJ_OKRC(t_append_rc(st, u, inbox, (char *)b.data, b.len, 0, &uid));
	}
	tj_store_stats s0, s1;
	TJ_OKRC(tj_store_stats_get(st, &s0));
	TJ_ASSERT(s0.segments > 2);
	/* a reader holding a snapshot from before compaction */
	tj_rtxn *old;
	TJ_OKRC(tj_rtxn_begin(st, &old));
	tj_msg_info keep;
	TJ_OKRC(tj_store_msg_get(old, inbox, 290, &keep));
	tj_msg_info gone;
	TJ_OKRC(tj_store_msg_get(old, inbox, 5, &gone));
	/* expunge 90% */
	tj_range r = {1, 270};
	tj_op ex = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &r, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &ex, NULL));
	tj_op_clear(&ex);
	TJ_OKRC(tj_store_trim_log(st, 0)); /* the log's references go too */
	uint64_t moved;
	TJ_OKRC(tj_store_compact(st, 0.5, 0, &moved));
	/* the old snapshot still reads what it saw, even an expunged message */
	TJ_OKRC(tj_store_read(old, gone.guid, 0, SIZE_MAX, &out));
	t_body(&b, 4, 2000);
	TJ_ASSERT_MEM(out.data, out.len, b.data, b.len);
	tj_rtxn_end(&old);
	/* once no reader needs them the old segments go */
	TJ_OKRC(tj_store_compact(st, 0.5, 0, &moved));
	TJ_OKRC(tj_store_stats_get(st, &s1));
	TJ_ASSERT(s1.stored_bytes < s0.stored_bytes / 4);
	for (uint32_t uid = 271; uid <= 300; uid++) {
		tj_msg_info m = t_msg(st, inbox, uid);
		tj_buf_reset(&out);
		TJ_OKRC(t_read(st, m.guid, &out));
		t_body(&b, uid - 1, 2000);
		TJ_ASSERT_MEM(out.data, out.len, b.data, b.len);
	}
	t_verify_clean(st);
	tj_buf_free(&b);
	tj_buf_free(&out);
	tj_store_close(&st);
}

struct bg_reader {
	tj_store *st;
	uint64_t mbox;
	volatile int stop;
	unsigned reads, errors;
};

static void *bg_read_loop(void *arg)
{
	struct bg_reader *b = arg;
	tj_buf out = TJ_BUF_INIT, want = TJ_BUF_INIT;
	while (!b->stop) {
		for (uint32_t uid = 271; uid <= 300 && !b->stop; uid++) {
			tj_rtxn *r;
			tj_msg_info m;
			if (tj_rtxn_begin(b->st, &r)) {
				b->errors++;
				continue;
			}
			tj_buf_reset(&out);
			if (tj_store_msg_get(r, b->mbox, uid, &m) || tj_store_read(r, m.guid, 0, SIZE_MAX, &out))
				b->errors++;
			tj_rtxn_end(&r);
			t_body(&want, uid - 1, 2000);
			if (out.len != want.len || memcmp(out.data, want.data, want.len) != 0)
				b->errors++;
			b->reads++;
		}
	}
	tj_buf_free(&out);
	tj_buf_free(&want);
	return NULL;
}

TJ_TEST(background_compaction_beside_readers)
{
	tj_store_opts o;
	tj_store_opts_default(&o);
	o.segment_size = 64 * 1024;
	o.dict_train_after = 0;
	o.compact_interval = 1;
	tj_store *st;
	TJ_OKRC(tj_store_open(tj_test_tmpdir(), &o, &st));
	uint32_t u = t_user(st, "bg", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	tj_buf b = TJ_BUF_INIT;
	for (unsigned i = 0; i < 300; i++) {
		t_body(&b, i, 2000);
		uint32_t uid;
		TJ_OKRC(t_append_rc(st, u, inbox, (char *)b.data, b.len, 0, &uid));
	}
	tj_store_stats s0, s;
	TJ_OKRC(tj_store_stats_get(st, &s0));
	struct bg_reader rd = {st, inbox, 0, 0, 0};
	pthread_t th;
	pthread_create(&th, NULL, bg_read_loop, &rd);
	tj_range r = {1, 270};
	tj_op ex = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &r, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &ex, NULL));
	tj_op_clear(&ex);
	TJ_OKRC(tj_store_trim_log(st, 0));
	/* nobody calls compact: the background job must do it */
	int waited = 0;
	do {
		usleep(250000);
		TJ_OKRC(tj_store_stats_get(st, &s));
	} while (s.stored_bytes > s0.stored_bytes / 4 && ++waited < 120);
	rd.stop = 1;
	pthread_join(th, NULL);
	TJ_ASSERT(s.stored_bytes <= s0.stored_bytes / 4);
	TJ_ASSERT(rd.reads > 30);
	TJ_ASSERT_INT(rd.errors, ==, 0);
	t_verify_clean(st);
	tj_buf_free(&b);
	tj_store_close(&st);
}

TJ_TEST(dictionary_training_and_old_records_readable)
{
	const char *dir = tj_test_tmpdir();
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "hal", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	tj_buf b = TJ_BUF_INIT, out = TJ_BUF_INIT;
	for (unsigned i = 0; i < 100; i++) {
		t_body(&b, i, 500);
		uint32_t uid;
		TJ_OKRC(t_append_rc(st, u, inbox, (char *)b.data, b.len, 0, &uid));
	}
	TJ_OKRC(tj_store_train_dict(st, 100));
	for (unsigned i = 100; i < 150; i++) {
		t_body(&b, i, 500);
		uint32_t uid;
		TJ_OKRC(t_append_rc(st, u, inbox, (char *)b.data, b.len, 0, &uid));
	}
	TJ_OKRC(tj_store_train_dict(st, 150)); /* a second dictionary */
	tj_store_stats s;
	TJ_OKRC(tj_store_stats_get(st, &s));
	TJ_ASSERT_INT(s.dict_id, ==, 2);
	TJ_ASSERT_INT(s.dict_records, ==, 50);
	tj_store_close(&st);
	st = t_open(dir); /* dictionaries come back from the index */
	for (uint32_t uid = 1; uid <= 150; uid++) {
		tj_msg_info m = t_msg(st, inbox, uid);
		TJ_OKRC(t_read(st, m.guid, &out));
		t_body(&b, uid - 1, 500);
		TJ_ASSERT_MEM(out.data, out.len, b.data, b.len);
	}
	uint64_t moved;
	TJ_OKRC(tj_store_compact(st, 0.5, 1, &moved)); /* recompress all with dict 2 */
	TJ_OKRC(tj_store_stats_get(st, &s));
	TJ_ASSERT_INT(s.dict_records, ==, 150);
	t_verify_clean(st);
	tj_buf_free(&b);
	tj_buf_free(&out);
	tj_store_close(&st);
}

/* ---- redo: what LMDB loses (MDB_NOMETASYNC) comes back from the segment ---- */

static void copy_file(const char *from, const char *to)
{
	FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
	TJ_ASSERT(a && b);
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
		TJ_ASSERT_INT(fwrite(buf, 1, n, b), ==, n);
	fclose(a);
	fclose(b);
}

static off_t seg_size(const char *dir, unsigned seg)
{
	char p[600];
	snprintf(p, sizeof(p), "%s/segments/%08u.seg", dir, seg);
	struct stat sb;
	return stat(p, &sb) == 0 ? sb.st_size : -1;
}

/* state after some batches; then the index is rolled back to before them,
 * as a system crash can do to the last commit */
static void lose_last_batches(const char *dir, tj_buf *dump_r, uint64_t *mbox_r)
{
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "redo", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	t_append(st, u, inbox, "Subject: A\n\nbefore the snapshot\n");
	tj_store_close(&st);
	char idx[600], saved[600];
	snprintf(idx, sizeof(idx), "%s/index/data.mdb", dir);
	snprintf(saved, sizeof(saved), "%s/saved.mdb", dir);
	copy_file(idx, saved);
	st = t_open(dir);
	TJ_ASSERT_INT(t_append(st, u, inbox, "Subject: B\n\nlost by the index, kept by the segment\n"), ==, 2);
	tj_range r1 = {1, 1};
	tj_op fl = {.type = TJ_OP_STORE, .user_id = u, .mbox_id = inbox, .mode = TJ_FLAGS_ADD, .sys_flags = TJ_F_FLAGGED,
		    .ranges = &r1, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &fl, NULL));
	tj_op_clear(&fl);
	tj_op mk = {.type = TJ_OP_MBOX_CREATE, .user_id = u, .name = {(const uint8_t *)"Later", 5}};
	TJ_OKRC(tj_store_exec(st, &mk, NULL));
	TJ_OKRC(tj_store_dump(st, dump_r));
	tj_store_close(&st);
	copy_file(saved, idx); /* the index forgets the last three batches */
	*mbox_r = inbox;
}

TJ_TEST(lost_index_commits_are_redone_from_the_segment)
{
	const char *dir = tj_test_tmpdir();
	tj_buf before = TJ_BUF_INIT, after = TJ_BUF_INIT, out = TJ_BUF_INIT;
	uint64_t inbox;
	lose_last_batches(dir, &before, &inbox);
	tj_store *st = t_open(dir);
	TJ_OKRC(tj_store_dump(st, &after));
	TJ_ASSERT_MEM(after.data, after.len, before.data, before.len);
	tj_msg_info b = t_msg(st, inbox, 2);
	TJ_OKRC(t_read(st, b.guid, &out));
	TJ_ASSERT_STR((char *)out.data, "Subject: B\n\nlost by the index, kept by the segment\n");
	TJ_ASSERT_INT(t_msg(st, inbox, 1).sys_flags, ==, TJ_F_FLAGGED);
	t_verify_clean(st);
	/* and the log goes on from there */
	TJ_ASSERT_INT(t_append(st, tj_store_user_id("redo"), inbox, "Subject: C\n\nnext\n"), ==, 3);
	t_verify_clean(st);
	tj_store_close(&st);
	tj_buf_free(&before);
	tj_buf_free(&after);
	tj_buf_free(&out);
}

TJ_TEST(torn_batch_is_dropped_not_redone)
{
	const char *dir = tj_test_tmpdir();
	tj_buf before = TJ_BUF_INIT;
	uint64_t inbox;
	lose_last_batches(dir, &before, &inbox);
	/* cut into the last batch record (the mailbox creation): it never finished */
	off_t sz = seg_size(dir, 1);
	TJ_ASSERT(sz > 100);
	char p[600];
	snprintf(p, sizeof(p), "%s/segments/00000001.seg", dir);
	TJ_ASSERT_INT(truncate(p, sz - 10), ==, 0);
	tj_store *st = t_open(dir);
	/* B and the flag (complete batches) are back; "Later" is not */
	TJ_ASSERT_INT(t_mbox_info(st, inbox).messages, ==, 2);
	TJ_ASSERT_INT(t_msg(st, inbox, 1).sys_flags, ==, TJ_F_FLAGGED);
	tj_rtxn *r;
	tj_mbox_info m;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_ASSERT_INT(tj_store_mbox_find(r, tj_store_user_id("redo"), "Later", &m), ==, TJ_ENOTFOUND);
	tj_rtxn_end(&r);
	t_verify_clean(st);
	tj_store_close(&st);
	tj_buf_free(&before);
}

TJ_TEST(cache_blob_lives_and_dies_with_the_message)
{
	tj_store *st = t_open(tj_test_tmpdir());
	uint32_t u = t_user(st, "cache", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	const char *text = "Subject: cached\n\nbody\n";
	tj_msgrec m;
	TJ_OKRC(tj_store_prepare(st, text, strlen(text), &m));
	TJ_OKRC(tj_buf_puts(&m.cache, "parsed form v1"));
	tj_op op = {.type = TJ_OP_APPEND, .user_id = u, .mbox_id = inbox};
	memcpy(op.guid, m.guid, TJ_GUID_LEN);
	TJ_OKRC(tj_store_exec(st, &op, &m));
	tj_rtxn *r;
	tj_slice blob;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_cache_get(r, m.guid, &blob));
	TJ_ASSERT_MEM(blob.ptr, blob.len, "parsed form v1", 14);
	tj_rtxn_end(&r);
	TJ_OKRC(tj_store_cache_put(st, m.guid, "parsed form v2", 14));
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_cache_get(r, m.guid, &blob));
	TJ_ASSERT_MEM(blob.ptr, blob.len, "parsed form v2", 14);
	tj_rtxn_end(&r);
	uint8_t nope[TJ_GUID_LEN] = {1};
	TJ_ASSERT_INT(tj_store_cache_put(st, nope, "x", 1), ==, TJ_ENOTFOUND);
	/* expunged and trimmed from the log: the blob goes with the bytes */
	tj_range all = {1, UINT32_MAX};
	tj_op ex = {.type = TJ_OP_EXPUNGE, .user_id = u, .mbox_id = inbox, .ranges = &all, .nranges = 1};
	TJ_OKRC(tj_store_exec(st, &ex, NULL));
	TJ_OKRC(tj_store_trim_log(st, 0));
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_ASSERT_INT(tj_store_cache_get(r, m.guid, &blob), ==, TJ_ENOTFOUND);
	tj_rtxn_end(&r);
	tj_op_clear(&op);
	tj_op_clear(&ex);
	tj_msgrec_free(&m);
	t_verify_clean(st);
	tj_store_close(&st);
}

TJ_TEST(names_validated)
{
	TJ_ASSERT_INT(tj_store_valid_mbox_name("INBOX", 5), ==, 0);
	TJ_ASSERT_INT(tj_store_valid_mbox_name("Ärger/Büro", strlen("Ärger/Büro")), ==, 0);
	TJ_ASSERT_INT(tj_store_valid_mbox_name("/x", 2), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_store_valid_mbox_name("x/", 2), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_store_valid_mbox_name("a\nb", 3), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_store_valid_mbox_name("\xff", 1), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_store_valid_user_name("alice.smith", 11), ==, 0);
	TJ_ASSERT_INT(tj_store_valid_user_name("a b", 3), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_store_user_id("Alice"), ==, tj_store_user_id("alice"));
}

TJ_TEST(second_open_refused_while_locked)
{
	tj_store *st = t_open(tj_test_tmpdir());
	tj_store *two = NULL;
	TJ_ASSERT(tj_store_open(tj_test_tmpdir(), NULL, &two) < 0);
	TJ_ASSERT(two == NULL);
	tj_store_close(&st);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

/*
 * store-testlib.h - helpers shared by the store tests.
 */
#ifndef TJ_STORE_TESTLIB_H
#define TJ_STORE_TESTLIB_H

#include "common/err.h"
#include "store/store.h"
#include "tests/harness.h"

#include <stdio.h>
#include <string.h>

static inline tj_store *t_open(const char *dir)
{
	tj_store_opts o;
	tj_store_opts_default(&o);
	o.segment_size = 64 * 1024; /* small segments: rotation and compaction get exercised */
	o.dict_train_after = 0;
	tj_store *st = NULL;
	TJ_OKRC(tj_store_open(dir, &o, &st));
	return st;
}

static inline uint32_t t_user(tj_store *st, const char *name, uint64_t quota)
{
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)name, strlen(name)}, .quota_bytes = quota};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	return op.user_id;
}

static inline uint64_t t_mbox(tj_store *st, uint32_t user, const char *name)
{
	tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = user, .name = {(const uint8_t *)name, strlen(name)}};
	TJ_OKRC(tj_store_exec(st, &op, NULL));
	return op.mbox_id;
}

/* t_append - append raw text; returns the UID (or fails the test) */
static inline int t_append_rc(tj_store *st, uint32_t user, uint64_t mbox, const char *text, size_t len,
			      uint32_t flags, uint32_t *uid_r)
{
	tj_msgrec m;
	int rc = tj_store_prepare(st, text, len, &m);
	if (rc)
		return rc;
	tj_op op = {.type = TJ_OP_APPEND, .user_id = user, .mbox_id = mbox, .sys_flags = flags,
		    .internal_date = 1700000000};
	memcpy(op.guid, m.guid, TJ_GUID_LEN);
	rc = tj_store_exec(st, &op, &m);
	if (!rc && uid_r)
		*uid_r = op.uid;
	tj_op_clear(&op);
	tj_msgrec_free(&m);
	return rc;
}

static inline uint32_t t_append(tj_store *st, uint32_t user, uint64_t mbox, const char *text)
{
	uint32_t uid = 0;
	TJ_OKRC(t_append_rc(st, user, mbox, text, strlen(text), 0, &uid));
	return uid;
}

static inline tj_mbox_info t_mbox_info(tj_store *st, uint64_t id)
{
	tj_rtxn *r;
	tj_mbox_info m;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_mbox_get(r, id, &m));
	m.name.ptr = NULL; /* not valid after the txn */
	tj_rtxn_end(&r);
	return m;
}

static inline tj_msg_info t_msg(tj_store *st, uint64_t mbox, uint32_t uid)
{
	tj_rtxn *r;
	tj_msg_info m;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	TJ_OKRC(tj_store_msg_get(r, mbox, uid, &m));
	tj_rtxn_end(&r);
	return m;
}

/* t_read - the whole message; returns 0 or the error */
static inline int t_read(tj_store *st, const uint8_t guid[TJ_GUID_LEN], tj_buf *out)
{
	tj_rtxn *r;
	TJ_OKRC(tj_rtxn_begin(st, &r));
	tj_buf_reset(out);
	int rc = tj_store_read(r, guid, 0, SIZE_MAX, out);
	tj_rtxn_end(&r);
	return rc;
}

static inline void t_problem(void *arg, const char *p)
{
	fprintf(stderr, "verify: %s\n", p);
}

static inline void t_verify_clean(tj_store *st)
{
	TJ_ASSERT_INT(tj_store_verify(st, t_problem, NULL), ==, 0);
}

/* t_body - a deterministic message for id n, with some bulk */
static inline void t_body(tj_buf *b, unsigned n, size_t bulk)
{
	tj_buf_reset(b);
	tj_buf_printf(b, "From: a%u@example.org\nTo: b@example.com\nSubject: message %u\nMessage-ID: <%u@t>\n\n", n, n, n);
	uint32_t x = n * 2654435761u + 1;
	for (size_t i = 0; i < bulk; i++) {
		x = x * 1103515245u + 12345u; /* text that compresses like mail, not like a pattern */
		tj_buf_putc(b, (uint8_t)((i % 70 == 69) ? '\n' : (x >> 16) % 5 == 0 ? ' ' : 'a' + (x >> 20) % 26));
	}
	tj_buf_printf(b, "\nend %u\n", n);
}

#endif

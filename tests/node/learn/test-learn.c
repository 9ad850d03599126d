/*
 * test-learn.c - the background learner: GUIDs in, Bayes counts out.
 */
#include "tests/harness.h"

#include "common/err.h"
#include "node/learn/learner.h"
#include "tests/store/store-testlib.h"

#include <stdio.h>
#include <string.h>

static void guid_of(tj_store *st, uint64_t mbox, uint32_t uid, uint8_t g[TJ_GUID_LEN])
{
	tj_msg_info m = t_msg(st, mbox, uid);
	memcpy(g, m.guid, TJ_GUID_LEN);
}

TJ_TEST(learns_by_guid_once_and_moves_counts)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/store", tj_test_tmpdir());
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "alice", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	uint8_t g[3][TJ_GUID_LEN];
	const char *msgs[3] = {"From: a@x\nSubject: cheap pills now\n\nbuy cheap pills viagra now\n",
			       "From: b@x\nSubject: meeting\n\nthe meeting is at noon tomorrow\n",
			       "From: c@x\nSubject: lottery\n\nyou won the lottery claim now\n"};
	for (int i = 0; i < 3; i++)
		guid_of(st, inbox, t_append(st, u, inbox, msgs[i]), g[i]);
	char bdir[512];
	snprintf(bdir, sizeof(bdir), "%s/bayes", tj_test_tmpdir());
	tj_bayes *b;
	TJ_OKRC(tj_bayes_open(bdir, false, &b));
	tj_learner *l;
	TJ_OKRC(tj_learner_start(st, b, &l));
	uint8_t spam[2][TJ_GUID_LEN];
	memcpy(spam[0], g[0], TJ_GUID_LEN);
	memcpy(spam[1], g[2], TJ_GUID_LEN);
	TJ_ASSERT_INT(tj_learner_submit(l, (const uint8_t(*)[TJ_GUID_LEN])spam, 2, TJ_BAYES_SPAM), ==, 2);
	TJ_ASSERT_INT(tj_learner_submit(l, (const uint8_t(*)[TJ_GUID_LEN])&g[1], 1, TJ_BAYES_HAM), ==, 1);
	tj_learner_wait(l);
	struct tj_bayes_stats bs;
	TJ_OKRC(tj_bayes_stats(b, &bs));
	TJ_ASSERT_INT(bs.nspam, ==, 2);
	TJ_ASSERT_INT(bs.nham, ==, 1);
	/* the same again: already known; an unknown GUID: skipped */
	uint8_t ghost[TJ_GUID_LEN];
	memset(ghost, 0x5a, sizeof(ghost));
	tj_learner_submit(l, (const uint8_t(*)[TJ_GUID_LEN])spam, 2, TJ_BAYES_SPAM);
	tj_learner_submit(l, (const uint8_t(*)[TJ_GUID_LEN])&ghost, 1, TJ_BAYES_SPAM);
	/* the user takes one back out of Junk: its counts move to ham */
	tj_learner_submit(l, (const uint8_t(*)[TJ_GUID_LEN])&g[2], 1, TJ_BAYES_HAM);
	tj_learner_wait(l);
	TJ_OKRC(tj_bayes_stats(b, &bs));
	TJ_ASSERT_INT(bs.nspam, ==, 1);
	TJ_ASSERT_INT(bs.nham, ==, 2);
	struct tj_learner_stats ls;
	tj_learner_stats(l, &ls);
	TJ_ASSERT_INT(ls.queued, ==, 7);
	TJ_ASSERT_INT(ls.learned, ==, 4);
	TJ_ASSERT_INT(ls.known, ==, 2);
	TJ_ASSERT_INT(ls.skipped, ==, 1);
	TJ_ASSERT_INT(ls.failed, ==, 0);
	TJ_ASSERT_INT(ls.dropped, ==, 0);
	tj_learner_stop(&l);
	TJ_ASSERT(l == NULL);
	tj_bayes_close(&b);
	tj_store_close(&st);
}

TJ_TEST(stop_drains_the_queue)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/store", tj_test_tmpdir());
	tj_store *st = t_open(dir);
	uint32_t u = t_user(st, "bob", 0);
	uint64_t inbox = t_mbox(st, u, "INBOX");
	enum { N = 300 };
	static uint8_t g[N][TJ_GUID_LEN];
	for (int i = 0; i < N; i++) {
		char text[200];
		snprintf(text, sizeof(text), "From: x%d@y\nSubject: note %d\n\nbody number %d with words w%d\n", i, i,
			 i, i * 7);
		guid_of(st, inbox, t_append(st, u, inbox, text), g[i]);
	}
	char bdir[512];
	snprintf(bdir, sizeof(bdir), "%s/bayes", tj_test_tmpdir());
	tj_bayes *b;
	TJ_OKRC(tj_bayes_open(bdir, false, &b));
	tj_learner *l;
	TJ_OKRC(tj_learner_start(st, b, &l));
	for (int i = 0; i < N; i++) /* one at a time, as many sessions would */
		tj_learner_submit(l, (const uint8_t(*)[TJ_GUID_LEN])&g[i], 1, i % 2 ? TJ_BAYES_SPAM : TJ_BAYES_HAM);
	tj_learner_stop(&l); /* no wait: stop itself drains */
	struct tj_bayes_stats bs;
	TJ_OKRC(tj_bayes_stats(b, &bs));
	TJ_ASSERT_INT(bs.nspam, ==, N / 2);
	TJ_ASSERT_INT(bs.nham, ==, N / 2);
	tj_bayes_close(&b);
	tj_store_close(&st);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

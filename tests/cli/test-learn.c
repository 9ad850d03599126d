/*
 * test-learn.c - `tjstore-cli learn` run as a real process: messages
 * imported with `tjstore-cli import` into a user's Junk and INBOX, learned,
 * learned again (already known), moved to the other class, the statistics,
 * the JSON form, and the exit codes of problems (1) and usage errors (2).
 */
#include "common/buf.h"
#include "common/err.h"
#include "tests/harness.h"
#include "tests/cli/cli-testlib.h"

#include <stdarg.h>
#include <sys/stat.h>


/* write_msgs - n messages of a kind into dir/<kind>-<i>.eml */
static void write_msgs(const char *dir, const char *kind, int n)
{
	mkdir(dir, 0700);
	for (int i = 0; i < n; i++) {
		char p[700];
		snprintf(p, sizeof(p), "%s/%s-%d.eml", dir, kind, i);
		FILE *f = fopen(p, "w");
		TJ_ASSERT(f != NULL);
		fprintf(f,
			"From: %s%d@example.com\nTo: alice@site.example\nSubject: %s number %d\n"
			"Message-ID: <%s%d@example.com>\nDate: Tue, 3 Sep 2002 15:02:38 -0500\n\n"
			"This is %s message %d with words like %s.\n",
			kind, i, kind, i, kind, i, kind, i, kind[0] == 's' ? "viagra lottery winner" : "meeting agenda");
		fclose(f);
	}
}

#define OUT_HAS(s)                                                                       \
	do {                                                                             \
		if (!strstr((char *)out.data, (s)))                                      \
			TJ_FAIL("output lacks \"%s\"", (s));                             \
	} while (0)

TJ_TEST(cli_learn)
{
	const char *t = tj_test_tmpdir();
	char dd[512], sp[600], hm[600];
	tj_buf out = TJ_BUF_INIT;
	snprintf(dd, sizeof(dd), "%s/data", t);
	snprintf(sp, sizeof(sp), "%s/spam", t);
	snprintf(hm, sizeof(hm), "%s/ham", t);
	write_msgs(sp, "spam", 3);
	write_msgs(hm, "ham", 4);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users add alice", dd), ==, 0);
	/* nothing learned yet */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --stats", dd), ==, 0);
	OUT_HAS("spam 0\n");
	OUT_HAS("ready no");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s import alice Junk %s", dd, sp), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s import alice INBOX %s", dd, hm), ==, 0);
	/* --spam defaults to Junk, --ham to INBOX */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam alice", dd), ==, 0);
	OUT_HAS("learned 3, already known 0, skipped 0");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam alice", dd), ==, 0);
	OUT_HAS("learned 0, already known 3, skipped 0");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --ham alice", dd), ==, 0);
	OUT_HAS("learned 4, already known 0, skipped 0");
	OUT_HAS("database: 3 spam, 4 ham");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s --json learn --ham alice INBOX", dd), ==, 0);
	OUT_HAS("\"learned\":0,\"known\":4,\"skipped\":0,\"ok\":true");
	OUT_HAS("\"user\":\"alice\",\"mailbox\":\"INBOX\",\"class\":\"ham\"");
	/* learning Junk as ham moves its counts */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --ham alice Junk", dd), ==, 0);
	OUT_HAS("learned 3, already known 0, skipped 0");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s --json learn --stats", dd), ==, 0);
	OUT_HAS("\"nspam\":0,\"nham\":7,");
	OUT_HAS("\"ready\":false");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam alice junk", dd), ==, 1); /* names are exact but INBOX */
	TJ_ASSERT(strstr(last_stderr(), "user alice has no mailbox junk"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam alice Junk", dd), ==, 0);
	OUT_HAS("learned 3, already known 0, skipped 0");
	OUT_HAS("database: 3 spam, 4 ham");
	/* problems: exit 1 with a clear message */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam bob", dd), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "no user bob"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --ham alice NoSuchBox", dd), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "user alice has no mailbox NoSuchBox"));
	/* usage: exit 2 */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn alice", dd), ==, 2);
	TJ_ASSERT(strstr(last_stderr(), "--spam or --ham"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam --ham alice", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam alice Junk extra", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --spam --bogus alice", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s learn --stats alice", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "learn --spam alice"), ==, 2);
	TJ_ASSERT(strstr(last_stderr(), "--data-dir"));
	/* no node answers there: a problem (1), not a usage error */
	TJ_ASSERT_INT(cli(&out, "--socket %s/nosock learn --spam alice", t), ==, 1);
	TJ_ASSERT(strstr(last_stderr(), "is tjstored running?"));
	tj_buf_free(&out);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

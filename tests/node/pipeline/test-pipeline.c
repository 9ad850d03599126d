/*
 * test-pipeline.c - the scanning pipeline end to end (no sockets): verdicts,
 * X-Spam-* headers, quarantine copies, rules reload, learning a mailbox and
 * Bayes taking part once trained.
 */
#include "tests/harness.h"

#include "common/err.h"
#include "node/scan/pipeline.h"
#include "tests/store/store-testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GTUBE "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
#define EICAR "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

static const char ham[] = "From: Bob <bob@example.com>\r\nTo: alice@example.com\r\nSubject: minutes\r\n"
			  "Date: Tue, 14 Jan 2025 10:02:40 +0000\r\nMessage-ID: <1@example.com>\r\n\r\n"
			  "The minutes of the meeting are below.\r\n";

static void put_file(const char *path, const char *text)
{
	char tmp[600];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	TJ_ASSERT(f != NULL);
	fputs(text, f);
	TJ_ASSERT(fclose(f) == 0);
	TJ_ASSERT(rename(tmp, path) == 0);
}

static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

struct fx {
	char root[400], qdir[500], bdir[500], clam[500], rules[500];
	tj_store *st;
	tj_pipeline *p;
};

static void fx_open(struct fx *f, bool clamav, const char *rules)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->root, sizeof(f->root), "%s", tj_test_tmpdir());
	snprintf(f->qdir, sizeof(f->qdir), "%s/quarantine", f->root);
	snprintf(f->bdir, sizeof(f->bdir), "%s/bayes", f->root);
	snprintf(f->clam, sizeof(f->clam), "%s/clamav", f->root);
	snprintf(f->rules, sizeof(f->rules), "%s/local.cf", f->root);
	char sd[500];
	snprintf(sd, sizeof(sd), "%s/store", f->root);
	f->st = t_open(sd);
	TJ_ASSERT(mkdir(f->clam, 0755) == 0);
	char ndb[600], line[300], hex[200] = "";
	const char *sig = "EICAR-STANDARD-ANTIVIRUS-TEST-FILE";
	for (size_t i = 0; sig[i]; i++)
		snprintf(hex + 2 * i, 3, "%02x", (unsigned char)sig[i]);
	snprintf(ndb, sizeof(ndb), "%s/test.ndb", f->clam);
	snprintf(line, sizeof(line), "Test.EICAR:0:*:%s\n", hex);
	put_file(ndb, line);
	if (rules)
		put_file(f->rules, rules);
	struct tj_pipeline_options o = {.clamav = clamav, .clamav_db_dir = f->clam, .spam = true,
					.rules_file = rules ? f->rules : "", .threshold = 5.0,
					.quarantine_dir = f->qdir, .bayes_dir = f->bdir, .store = f->st,
					.version = "tjstore-test"};
	char err[300];
	TJ_OKRC(tj_pipeline_open(&o, &f->p, err, sizeof(err)));
}

static void fx_close(struct fx *f)
{
	tj_pipeline_close(&f->p);
	TJ_ASSERT(f->p == NULL);
	tj_store_close(&f->st);
}

static struct smtp_scan_result scan(struct fx *f, const char *text)
{
	tj_buf m = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&m, text));
	struct smtp_scan_result r;
	memset(&r, 0, sizeof(r));
	TJ_OKRC(tj_pipeline_scan(f->p, &m, &r));
	tj_buf_free(&m);
	TJ_OKRC(tj_buf_putc(&r.headers, 0));
	return r;
}

TJ_TEST(clean_gtube_and_eicar)
{
	struct fx f;
	fx_open(&f, true, NULL);
	struct smtp_scan_result r = scan(&f, ham);
	TJ_ASSERT_INT(r.verdict, ==, SMTP_SCAN_CLEAN);
	TJ_ASSERT(!r.junk);
	TJ_ASSERT(strstr((char *)r.headers.data, "X-Spam-Status: No, score=") != NULL);
	TJ_ASSERT(strstr((char *)r.headers.data, "X-Spam-Flag") == NULL);
	tj_buf_free(&r.headers);
	TJ_ASSERT_INT(count_files(f.qdir), ==, 0);

	char gtube[600];
	snprintf(gtube, sizeof(gtube), "From: x@example.net\r\nSubject: test\r\n\r\n%s\r\n", GTUBE);
	r = scan(&f, gtube);
	TJ_ASSERT_INT(r.verdict, ==, SMTP_SCAN_SPAM);
	TJ_ASSERT(r.junk);
	TJ_ASSERT(r.score >= 1000);
	TJ_ASSERT(strstr((char *)r.headers.data, "X-Spam-Flag: YES\r\n") != NULL);
	TJ_ASSERT(strstr((char *)r.headers.data, "X-Spam-Status: Yes, score=1000.0 required=5.0") != NULL);
	TJ_ASSERT(strstr((char *)r.headers.data, "GTUBE") != NULL);
	tj_buf_free(&r.headers);
	TJ_ASSERT_INT(count_files(f.qdir), ==, 1); /* flagged mail is copied */

	char eicar[600];
	snprintf(eicar, sizeof(eicar), "From: x@example.net\r\nSubject: a virus\r\n\r\n%s\r\n", EICAR);
	r = scan(&f, eicar);
	TJ_ASSERT_INT(r.verdict, ==, SMTP_SCAN_INFECTED);
	TJ_ASSERT(strstr(r.name, "EICAR") != NULL);
	tj_buf_free(&r.headers);
	TJ_ASSERT_INT(count_files(f.qdir), ==, 2);
	fx_close(&f);
}

TJ_TEST(clamav_unavailable_defers)
{
	struct fx f;
	fx_open(&f, false, NULL);
	fx_close(&f);
	/* an empty signature directory: every message deferred, none passed */
	memset(&f, 0, sizeof(f));
	snprintf(f.root, sizeof(f.root), "%s", tj_test_tmpdir());
	char empty[500], sd[500], bd[500];
	snprintf(empty, sizeof(empty), "%s/empty", f.root);
	snprintf(sd, sizeof(sd), "%s/store2", f.root);
	snprintf(bd, sizeof(bd), "%s/bayes2", f.root);
	TJ_ASSERT(mkdir(empty, 0755) == 0);
	f.st = t_open(sd);
	struct tj_pipeline_options o = {.clamav = true, .clamav_db_dir = empty, .spam = true, .threshold = 5.0,
					.bayes_dir = bd, .store = f.st};
	char err[300];
	TJ_OKRC(tj_pipeline_open(&o, &f.p, err, sizeof(err)));
	struct smtp_scan_result r = scan(&f, ham);
	TJ_ASSERT_INT(r.verdict, ==, SMTP_SCAN_TEMPFAIL);
	tj_buf_free(&r.headers);
	fx_close(&f);
}

TJ_TEST(rules_score_and_reload)
{
	struct fx f;
	fx_open(&f, false, "body TJT_MINUTES /minutes of the meeting/i\nscore TJT_MINUTES 6.5\n"
			   "describe TJT_MINUTES test rule\n");
	struct smtp_scan_result r = scan(&f, ham);
	TJ_ASSERT_INT(r.verdict, ==, SMTP_SCAN_SPAM);
	TJ_ASSERT(strstr((char *)r.headers.data, "TJT_MINUTES") != NULL);
	tj_buf_free(&r.headers);
	/* the file changes; SIGHUP reloads it in the background */
	put_file(f.rules, "body TJT_MINUTES /minutes of the meeting/i\nscore TJT_MINUTES 0.5\n");
	tj_pipeline_reload(f.p);
	int spam = 1;
	for (int i = 0; i < 500 && spam; i++) {
		r = scan(&f, ham);
		spam = r.verdict == SMTP_SCAN_SPAM;
		tj_buf_free(&r.headers);
		if (spam)
			usleep(10000);
	}
	TJ_ASSERT(!spam);
	/* a broken file keeps the rules in use */
	TJ_ASSERT(unlink(f.rules) == 0);
	tj_pipeline_reload(f.p);
	tj_pipeline_close(&f.p); /* waits for the reload */
	tj_store_close(&f.st);
	/* and at start it is an error naming the key */
	char sd[500];
	snprintf(sd, sizeof(sd), "%s/store", f.root);
	f.st = t_open(sd);
	struct tj_pipeline_options o = {.spam = true, .rules_file = f.rules, .threshold = 5.0, .bayes_dir = f.bdir,
					.store = f.st};
	char err[300] = "";
	TJ_ASSERT(tj_pipeline_open(&o, &f.p, err, sizeof(err)) != 0);
	TJ_ASSERT(strstr(err, "scan.rules_file") != NULL);
	TJ_ASSERT(f.p == NULL);
	tj_store_close(&f.st);
}

TJ_TEST(learn_mailbox_then_bayes_takes_part)
{
	struct fx f;
	fx_open(&f, false, NULL);
	uint32_t u = t_user(f.st, "alice", 0);
	uint64_t inbox = t_mbox(f.st, u, "INBOX");
	uint64_t junk = t_mbox(f.st, u, "Junk");
	for (int i = 0; i < 210; i++) {
		char m[400];
		snprintf(m, sizeof(m),
			 "From: seller%d@cheap-meds.example\r\nSubject: cheap pills %d\r\n\r\n"
			 "Buy cheap pills online now, best price viagra offer %d, click here to order\r\n", i, i, i);
		t_append(f.st, u, junk, m);
		snprintf(m, sizeof(m),
			 "From: colleague%d@school.example\r\nSubject: timetable %d\r\n\r\n"
			 "The timetable for the chemistry class %d is attached; see you at the staff meeting\r\n", i,
			 i, i);
		t_append(f.st, u, inbox, m);
	}
	tj_buf out = TJ_BUF_INIT;
	TJ_ASSERT_INT(tj_pipeline_learn_mailbox(f.p, "alice", NULL, true, false, &out), ==, 0);
	TJ_OKRC(tj_buf_putc(&out, 0));
	TJ_ASSERT(strstr((char *)out.data, "learned 210") != NULL);
	tj_buf_reset(&out);
	TJ_ASSERT_INT(tj_pipeline_learn_mailbox(f.p, "alice", "INBOX", false, true, &out), ==, 0);
	TJ_OKRC(tj_buf_putc(&out, 0));
	TJ_ASSERT(strstr((char *)out.data, "\"learned\":210") != NULL);
	tj_buf_reset(&out);
	/* again: nothing new */
	TJ_ASSERT_INT(tj_pipeline_learn_mailbox(f.p, "alice", "Junk", true, false, &out), ==, 0);
	TJ_OKRC(tj_buf_putc(&out, 0));
	TJ_ASSERT(strstr((char *)out.data, "learned 0, already known 210") != NULL);
	tj_buf_reset(&out);
	TJ_ASSERT_INT(tj_pipeline_learn_mailbox(f.p, "nobody", NULL, true, false, &out), ==, 1);
	TJ_ASSERT_INT(tj_pipeline_learn_mailbox(f.p, "alice", "Nowhere", true, false, &out), ==, 1);
	tj_buf_reset(&out);
	tj_pipeline_status(f.p, true, &out);
	TJ_OKRC(tj_buf_putc(&out, 0));
	TJ_ASSERT(strstr((char *)out.data, "\"bayes_spam\":210,\"bayes_ham\":210") != NULL);
	TJ_ASSERT(strstr((char *)out.data, "\"bayes_ready\":true") != NULL);
	tj_buf_free(&out);
	/* trained: a new pill mail gets a high BAYES_ rule, a timetable a low one */
	struct smtp_scan_result r = scan(&f, "From: seller999@cheap-meds.example\r\nSubject: cheap pills\r\n\r\n"
					     "Buy cheap pills online now, best price viagra offer, click here\r\n");
	TJ_ASSERT(strstr((char *)r.headers.data, "BAYES_99") || strstr((char *)r.headers.data, "BAYES_95"));
	tj_buf_free(&r.headers);
	r = scan(&f, "From: colleague7@school.example\r\nSubject: timetable\r\n\r\n"
		     "The timetable for the chemistry class is attached; see you at the staff meeting\r\n");
	TJ_ASSERT(strstr((char *)r.headers.data, "BAYES_00") != NULL);
	TJ_ASSERT_INT(r.verdict, ==, SMTP_SCAN_CLEAN);
	tj_buf_free(&r.headers);
	fx_close(&f);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

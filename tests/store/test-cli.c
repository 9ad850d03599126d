/*
 * test-cli.c - the mbox splitter, and tjstore-cli run as a real process:
 * exit codes (0 / 1 / 2), import of .eml and mbox files, stats --json,
 * verify naming damage.
 */
#include "cli/mbox.h"
#include "tests/store/store-testlib.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>

static const char mbox_text[] =
	"From alice@example.org Tue Sep 10 12:00:00 2002\n"
	"Subject: one\n\nfirst\n>From here on, quoted\n\n"
	"From bob@example.org Wed Sep 11 13:30:00 2002\n"
	"Subject: two\n\nsecond\nFrom inside a line is fine\n\n"
	"From carol@example.org Thu Sep 12 08:00:00 2002\n"
	"Subject: three\n\nthird\n";

TJ_TEST(mbox_split_unquote_dates)
{
	tj_mbox_iter it = {(const uint8_t *)mbox_text, sizeof(mbox_text) - 1, 0};
	tj_buf m = TJ_BUF_INIT;
	int64_t d;
	TJ_ASSERT(tj_mbox_is_mbox(it.buf, it.len));
	TJ_ASSERT_INT(tj_mbox_next(&it, &m, &d), ==, 1);
	TJ_ASSERT_STR((char *)m.data, "Subject: one\n\nfirst\nFrom here on, quoted\n");
	TJ_ASSERT_INT(d, ==, 1031659200);
	TJ_ASSERT_INT(tj_mbox_next(&it, &m, &d), ==, 1);
	TJ_ASSERT_STR((char *)m.data, "Subject: two\n\nsecond\nFrom inside a line is fine\n");
	TJ_ASSERT_INT(tj_mbox_next(&it, &m, &d), ==, 1);
	TJ_ASSERT_STR((char *)m.data, "Subject: three\n\nthird\n");
	TJ_ASSERT_INT(tj_mbox_next(&it, &m, &d), ==, 0);
	TJ_ASSERT_INT(tj_mbox_parse_date((const uint8_t *)"From x", 6), ==, 0);
	tj_buf_free(&m);
}

/* run the CLI; returns its exit status, output in out */
static int cli(tj_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int cli(tj_buf *out, const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	va_start(ap, fmt);
	int n = snprintf(cmd, sizeof(cmd), "%s ", TJ_CLI_PATH);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	strncat(cmd, " 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	FILE *p = popen(cmd, "r");
	TJ_ASSERT(p != NULL);
	tj_buf_reset(out);
	char buf[4096];
	size_t k;
	while ((k = fread(buf, 1, sizeof(buf), p)) > 0)
		tj_buf_append(out, buf, k);
	int st = pclose(p);
	fprintf(stderr, "$ %s\n%s", cmd, out->data ? (char *)out->data : "");
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	TJ_ASSERT(f != NULL);
	fputs(text, f);
	fclose(f);
}

TJ_TEST(cli_exit_codes_import_stats_verify)
{
	const char *t = tj_test_tmpdir();
	tj_buf out = TJ_BUF_INIT;
	char dd[512], p[600];
	snprintf(dd, sizeof(dd), "%s/data", t);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s frobnicate", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "stats"), ==, 2); /* no --data-dir */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users add 'bad name'", dd), ==, 2);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users add alice --quota 10M", dd), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users add alice", dd), ==, 1); /* exists */
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users passwd alice < /dev/null", dd), ==, 2); /* no password */
	snprintf(p, sizeof(p), "%s/pw1", t);
	write_file(p, "s3cret pass\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users passwd alice < %s", dd, p), ==, 0);
	snprintf(p, sizeof(p), "%s/pw2", t);
	write_file(p, "hunter2\n");
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users add bob --password-stdin < %s", dd, p), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users passwd nobody < %s", dd, p), ==, 1);
	snprintf(p, sizeof(p), "%s/passwd", dd);
	{
		FILE *pf = fopen(p, "r");
		TJ_ASSERT(pf != NULL);
		char line[512];
		int alice = 0, bob = 0;
		while (fgets(line, sizeof(line), pf)) {
			alice |= strncmp(line, "alice:$y$", 9) == 0;
			bob |= strncmp(line, "bob:$y$", 7) == 0;
			TJ_ASSERT(strstr(line, "hunter2") == NULL);
		}
		fclose(pf);
		TJ_ASSERT(alice && bob);
		struct stat psb;
		TJ_ASSERT_INT(stat(p, &psb), ==, 0);
		TJ_ASSERT_INT(psb.st_mode & 0777, ==, 0600);
	}
	TJ_ASSERT_INT(cli(&out, "--data-dir %s import nobody INBOX /dev/null", dd), ==, 1);
	snprintf(p, sizeof(p), "%s/mails", t);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/mails/a.eml", t);
	write_file(p, "Subject: a\n\nA\n");
	snprintf(p, sizeof(p), "%s/mails/b.eml", t);
	write_file(p, "Subject: b\n\nB\n");
	snprintf(p, sizeof(p), "%s/box.mbox", t);
	write_file(p, mbox_text);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s import alice INBOX %s/mails %s/box.mbox", dd, t, t), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "imported 5 messages"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s import alice Lists/Old %s/mails/a.eml", dd, t), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "created mailbox Lists/Old"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s --json stats", dd), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "\"messages\":6"));
	TJ_ASSERT(strstr((char *)out.data, "\"raw_bytes\":"));
	TJ_ASSERT(strstr((char *)out.data, "\"stored_bytes\":"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s users show alice", dd), ==, 0);
	TJ_ASSERT(strstr((char *)out.data, "Junk"));
	TJ_ASSERT_INT(cli(&out, "--data-dir %s verify", dd), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s compact", dd), ==, 0);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s verify", dd), ==, 0);
	/* damage every record's payload: verify exits 1 and names messages */
	snprintf(p, sizeof(p), "%s/segments", dd);
	char seg[1400] = "";
	DIR *d = opendir(p);
	TJ_ASSERT(d != NULL);
	struct dirent *e;
	struct stat sb;
	while ((e = readdir(d))) /* the newest non-empty segment holds the records now */
		if (strstr(e->d_name, ".seg")) {
			char cand[1400];
			snprintf(cand, sizeof(cand), "%s/%s", p, e->d_name);
			if (stat(cand, &sb) == 0 && sb.st_size > 0 && strcmp(cand, seg) > 0)
				snprintf(seg, sizeof(seg), "%s", cand);
		}
	closedir(d);
	int fd = open(seg, O_RDWR);
	TJ_ASSERT(fd >= 0);
	fstat(fd, &sb);
	uint8_t x = 0x5a;
	TJ_ASSERT_INT(pwrite(fd, &x, 1, sb.st_size - 3), ==, 1);
	close(fd);
	TJ_ASSERT_INT(cli(&out, "--data-dir %s verify", dd), ==, 1);
	TJ_ASSERT(strstr((char *)out.data, "problem: user alice mailbox"));
	tj_buf_free(&out);
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

/*
 * quarantine.c - write copies of flagged mail (see quarantine.h).
 *
 * All file operations are relative to an O_DIRECTORY|O_NOFOLLOW descriptor of
 * the quarantine directory, and the names we make contain no '/' and never
 * start with '.', so nothing can land outside it.  Durability follows the
 * store's habit: temp file, write, fsync, rename, fsync the directory.
 */
#include "node/scan/quarantine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"

#define MOD "quarantine"
#define MAX_CLASH 10000

const char *tj_quarantine_reason_name(enum tj_quarantine_reason why)
{
	switch (why) {
	case TJ_QUARANTINE_INFECTED:
		return "INFECTED";
	case TJ_QUARANTINE_SPAM:
		return "SPAM";
	}
	return NULL;
}

static bool qid_ok(const char *q)
{
	size_t n = q ? strlen(q) : 0;
	if (n == 0 || n > TJ_QUARANTINE_QID_MAX || q[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = q[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '.' || ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

static void detail_clean(char *out, size_t outsz, const char *in)
{
	size_t i = 0;
	for (; in && in[i] && i < TJ_QUARANTINE_DETAIL_MAX && i + 1 < outsz; i++) {
		char ch = in[i];
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
			  ch == '.' || ch == '_' || ch == '+' || ch == '=' || ch == '-';
		out[i] = ok ? ch : '_';
	}
	out[i] = '\0';
}

static int write_all(int fd, const void *p, size_t len)
{
	const char *b = p;
	while (len > 0) {
		ssize_t w = write(fd, b, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		len -= (size_t)w;
	}
	return 0;
}

static int open_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0 && errno == ENOENT) {
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -errno;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return dfd < 0 ? -errno : dfd;
}

int tj_quarantine_save(const char *dir, const char *queue_id, enum tj_quarantine_reason why,
		       const char *detail, const void *msg, size_t len, char *name_r, size_t name_size)
{
	static atomic_uint seq;
	const char *verdict = tj_quarantine_reason_name(why);
	if (!dir || !dir[0] || !qid_ok(queue_id) || !verdict || (!msg && len > 0) ||
	    (name_r && name_size < TJ_QUARANTINE_NAME_MAX + 1))
		return TJ_EINVAL;

	char det[TJ_QUARANTINE_DETAIL_MAX + 1];
	detail_clean(det, sizeof(det), detail);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	char base[TJ_QUARANTINE_NAME_MAX - 12]; /* leaves room for "-NNNN.eml" */
	int n = snprintf(base, sizeof(base), "%04d%02d%02dT%02d%02d%02dZ-%s-%s%s%s", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, queue_id, verdict,
			 det[0] ? "-" : "", det);
	if (n < 0 || (size_t)n >= sizeof(base))
		return TJ_EINVAL;

	int dfd = open_dir(dir);
	if (dfd < 0) {
		tj_log(TJ_LOG_ERROR, MOD, "event=open-dir-failed dir=%s error=\"%s\"", dir, strerror(-dfd));
		return dfd;
	}
	char tmp[64];
	snprintf(tmp, sizeof(tmp), ".tmp-%ld-%u", (long)getpid(), atomic_fetch_add(&seq, 1));
	char name[TJ_QUARANTINE_NAME_MAX + 1];
	int rc = 0, fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto fail;
	}
	if (fchmod(fd, 0600) < 0 || (rc = write_all(fd, msg, len)) < 0 || fsync(fd) < 0) {
		rc = rc < 0 ? rc : -errno;
		goto fail;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto fail;
	}
	fd = -1;
	rc = TJ_EEXIST;
	for (unsigned i = 0; i < MAX_CLASH; i++) {
		if (i == 0)
			snprintf(name, sizeof(name), "%s.eml", base);
		else
			snprintf(name, sizeof(name), "%s-%u.eml", base, i);
		if (renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE) == 0) {
			rc = 0;
			break;
		}
		if (errno != EEXIST) {
			rc = -errno;
			break;
		}
	}
	if (rc < 0)
		goto fail;
	if (fsync(dfd) < 0) {
		rc = -errno; /* the file is in place, but not durably: report it */
		tj_log(TJ_LOG_ERROR, MOD, "event=fsync-dir-failed dir=%s error=\"%s\"", dir, strerror(-rc));
		close(dfd);
		return rc;
	}
	close(dfd);
	if (name_r)
		snprintf(name_r, name_size, "%s", name);
	tj_log(TJ_LOG_INFO, MOD, "event=saved dir=%s file=%s size=%zu", dir, name, len);
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlinkat(dfd, tmp, 0);
	close(dfd);
	tj_log(TJ_LOG_ERROR, MOD, "event=save-failed dir=%s qid=%s error=\"%s\"", dir, queue_id, tj_strerror(rc));
	return rc;
}

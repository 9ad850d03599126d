/*
 * proc.c - privilege drop and pid file (see proc.h).
 */
#include "node/net/proc.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* fail - "<what> <user>: <cause>" into err; returns rc. */
static int fail(char *err, size_t errsz, int rc, const char *what, const char *user)
{
	if (err && errsz)
		snprintf(err, errsz, "%s %s: %s", what, user,
			 rc < 0 && rc > -4096 ? strerror(-rc) : tj_strerror(rc));
	return rc;
}

int tj_proc_drop_privileges(const char *user, bool allow_root, char *err, size_t errsz)
{
	bool root = geteuid() == 0 || getuid() == 0;
	if (!user || !*user) {
		if (!root)
			return 0;
		if (!allow_root)
			return fail(err, errsz, -EPERM, "refusing to run as root:",
				    "no service user configured and running as root not allowed");
		tj_log(TJ_LOG_WARN, "proc", "event=running_as_root reason=allowed_by_config");
		return 0;
	}
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (!pw)
		return fail(err, errsz, errno ? -errno : TJ_ENOTFOUND, "no such user", user);
	if (pw->pw_uid == 0)
		return fail(err, errsz, -EPERM, "uid 0 is not a service user:", user);
	if (!root) {
		if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid)
			return 0;
		return fail(err, errsz, -EPERM, "not root, cannot switch to user", user);
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (setgroups(1, &gid) < 0)
		return fail(err, errsz, -errno, "setgroups for user", user);
	if (setresgid(gid, gid, gid) < 0)
		return fail(err, errsz, -errno, "setgid for user", user);
	if (setresuid(uid, uid, uid) < 0)
		return fail(err, errsz, -errno, "setuid for user", user);
	/* paranoia: root must be gone for good */
	if (setuid(0) == 0 || seteuid(0) == 0 || getuid() != uid || geteuid() != uid ||
	    getegid() != gid)
		return fail(err, errsz, -EPERM, "privileges not fully dropped for user", user);
	tj_log(TJ_LOG_INFO, "proc", "event=privileges_dropped user=%s uid=%u gid=%u", user,
	       (unsigned)uid, (unsigned)gid);
	return 0;
}

int tj_proc_write_pidfile(const char *path)
{
	char tmp[4096], line[32];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (write(fd, line, (size_t)n) != n)
		rc = errno ? -errno : -EIO;
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int tj_proc_remove_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	long pid = 0;
	int ok = fscanf(f, "%ld", &pid);
	fclose(f);
	if (ok != 1 || pid != (long)getpid())
		return -ESRCH;
	return unlink(path) < 0 ? -errno : 0;
}

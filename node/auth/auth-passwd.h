/*
 * auth-passwd.h - the local password file backend (the embedded default).
 *
 * The file holds one account per line, "username:hash", where hash is a
 * crypt(3) string from libxcrypt.  '#' starts a comment line; blank lines
 * are fine.  New hashes are yescrypt ("$y$", libxcrypt's default cost);
 * SHA-512-crypt ("$6$") hashes are accepted for verification.  A hash
 * starting with '!' (as in shadow(5)) locks the account: a right password
 * then gives TJ_AUTH_DISABLED, a wrong one TJ_AUTH_FAIL.  "*" or a bare
 * "!" is an account that no password opens.  Full format: docs/auth.md.
 *
 * Two sides use this file:
 *   - the server opens a backend (tj_auth_passwd_open) and calls
 *     tj_auth_check() from worker threads; it notices changes to the file
 *     by itself (at most one stat(2) per reload interval, default 1 s);
 *   - tjstore-cli changes it with tj_auth_passwd_set() and friends, which
 *     lock "<file>.lock" (flock), write a temp file in the same directory,
 *     fsync it, rename it over the file and fsync the directory.  Readers
 *     always see a whole old or a whole new file; two writers never lose
 *     each other's change.  The file is always written with mode 0600.
 */
#ifndef TJ_AUTH_PASSWD_H
#define TJ_AUTH_PASSWD_H

#include "node/auth/auth.h"
#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- limits */

#define TJ_PASSWD_FILE_MAX (64u * 1024 * 1024) /* bigger files are refused */
#define TJ_PASSWD_LINE_MAX 4096                /* longer lines are bad lines */
#define TJ_PASSWD_HASH_MAX 383                 /* CRYPT_OUTPUT_SIZE - 1 */
#define TJ_PASSWD_RELOAD_MS 1000               /* default: stat the file at most this often */
#define TJ_PASSWD_LOCK_SUFFIX ".lock"

/* ---------------------------------------------------------------- server */

/* tj_passwd_report_fn - told about each bad line when a file is loaded:
 * line_no counts from 1; why is a short fixed English phrase (it never
 * contains the line's text, which could hold a hash).  Called from
 * whichever thread triggered the load, with the backend's lock held: it
 * must not call back into the backend. */
typedef void tj_passwd_report_fn(void *ctx, const char *path, unsigned line_no, const char *why);

struct tj_auth_passwd_config {
	const char *path;             /* the password file; copied */
	unsigned reload_interval_ms;  /* 0: TJ_PASSWD_RELOAD_MS */
	/* clock in milliseconds for the reload interval; NULL: CLOCK_MONOTONIC */
	uint64_t (*now_ms)(void *ctx);
	void *now_ctx;
	/* bad-line reports; NULL: tj_log(WARN, "auth", "event=passwd-bad-line ...") */
	tj_passwd_report_fn *report;
	void *report_ctx;
};

/*
 * tj_auth_passwd_open - load the password file and make a backend of it.
 *
 * A missing file is an empty one (every login fails) until it appears.
 * Bad lines are reported (cfg->report) and skipped; the other accounts
 * still work.  When a user name appears twice, the first line wins and
 * the second is reported.  Free with tj_auth_backend_free().
 *
 * Later, each check stats the file if the reload interval has passed,
 * and reloads it when its inode, size or mtime changed.  If a reload
 * fails (unreadable, too big), checks answer TJ_AUTH_UNAVAILABLE until a
 * reload works again: a changed file is never ignored silently.
 *
 * @return 0 and *be_r; or TJ_EINVAL (no path), TJ_ETOOBIG (file over
 *   TJ_PASSWD_FILE_MAX), -ENOMEM, or -errno from open/read (EACCES ...).
 */
int tj_auth_passwd_open(const struct tj_auth_passwd_config *cfg, struct tj_auth_backend **be_r);

/*
 * tj_auth_passwd_reload - stat the file now (ignoring the interval) and
 * reload it if it changed.  For SIGHUP and tests.  Thread-safe.
 * @return 0 (also when nothing changed), or the error of the failed
 *   reload (then checks answer TJ_AUTH_UNAVAILABLE).
 */
int tj_auth_passwd_reload(struct tj_auth_backend *be);

struct tj_auth_passwd_stats {
	unsigned users;     /* accounts in the loaded table */
	unsigned bad_lines; /* lines skipped at the last load */
	unsigned loads;     /* successful loads, the first one included */
	bool failed;        /* the last reload failed (checks: UNAVAILABLE) */
};

/* tj_auth_passwd_get_stats - a snapshot of the counters; thread-safe. */
void tj_auth_passwd_get_stats(struct tj_auth_backend *be, struct tj_auth_passwd_stats *stats_r);

/* ------------------------------------------------------------- updating */

/*
 * tj_auth_passwd_hash - hash a new password: yescrypt ("$y$") with
 * libxcrypt's default cost and a fresh random salt.  Slow on purpose
 * (tens of milliseconds).  hash_r must hold TJ_PASSWD_HASH_MAX + 1 bytes.
 * @return 0; TJ_EINVAL (empty, over TJ_AUTH_PASSWORD_MAX, CR or LF in
 *   the password, or hash_size too small); -errno from libxcrypt.
 */
int tj_auth_passwd_hash(const char *password, char *hash_r, size_t hash_size);

/*
 * tj_auth_passwd_set - set user's password (adding the user if absent),
 * hashed with tj_auth_passwd_hash().  A locked account stays locked.
 * Comments, blank lines and bad lines of the file are kept as they were.
 * @return 0; TJ_EINVAL (bad user name, see tj_auth_user_valid(), or bad
 *   password as for tj_auth_passwd_hash()); -errno from the file system.
 */
int tj_auth_passwd_set(const char *path, const char *user, const char *password);

/*
 * tj_auth_passwd_set_hash - like tj_auth_passwd_set with a ready hash
 * (imports): "$y$..." or "$6$...", optionally locked with a '!' prefix,
 * or "*".  @return as tj_auth_passwd_set; TJ_EINVAL for any other hash.
 */
int tj_auth_passwd_set_hash(const char *path, const char *user, const char *hash);

/*
 * tj_auth_passwd_remove - delete every line of user.
 * @return 0; TJ_ENOTFOUND (no such user; the file is not rewritten);
 *   TJ_EINVAL (bad user name); -errno.
 */
int tj_auth_passwd_remove(const char *path, const char *user);

/*
 * tj_auth_passwd_set_locked - lock ('!' before the hash) or unlock user.
 * @return 0 (also when already in that state); TJ_ENOTFOUND; TJ_EINVAL;
 *   -errno.
 */
int tj_auth_passwd_set_locked(const char *path, const char *user, bool locked);

/* ------------------------------------------- pure parts (tests, fuzzing) */

enum tj_passwd_line_kind {
	TJ_PASSWD_LINE_BLANK,   /* empty or only spaces and tabs */
	TJ_PASSWD_LINE_COMMENT, /* first non-blank character is '#' */
	TJ_PASSWD_LINE_ENTRY,   /* username:hash */
};

/* what kind of hash an entry holds (after any '!' lock prefix) */
enum tj_passwd_hash_kind {
	TJ_PASSWD_HASH_NONE,     /* "*", or nothing after '!': no password opens it */
	TJ_PASSWD_HASH_YESCRYPT, /* "$y$" */
	TJ_PASSWD_HASH_SHA512,   /* "$6$" */
};

struct tj_passwd_line {
	enum tj_passwd_line_kind kind;
	tj_slice user; /* entries: points into the input line */
	tj_slice hash; /* entries: the hash without the '!' prefix */
	enum tj_passwd_hash_kind hash_kind;
	bool locked;   /* hash had a '!' prefix */
};

/*
 * tj_passwd_parse_line - parse one line (without its '\n'; a trailing
 * '\r' and trailing spaces or tabs are ignored).  Pure.
 * @return 0 and *line_r (slices point into line); or TJ_EPROTO with
 *   *why_r set to a fixed phrase ("no ':'", "bad user name",
 *   "unsupported hash" ...), or TJ_ETOOBIG (over TJ_PASSWD_LINE_MAX).
 */
int tj_passwd_parse_line(const char *line, size_t len, struct tj_passwd_line *line_r, const char **why_r);

/* tj_passwd_hash_valid - true if hash (whole string, optional '!'
 * prefix) may be stored by tj_auth_passwd_set_hash(). */
bool tj_passwd_hash_valid(const char *hash, size_t len);

/* one change to the file, for tj_passwd_rewrite() */
struct tj_passwd_edit {
	const char *user;
	const char *hash; /* new hash without '!'; NULL: keep the current one */
	int lock;         /* -1 keep the current state, 0 unlock, 1 lock */
	bool remove;      /* drop every line of user (hash and lock unused) */
};

/*
 * tj_passwd_rewrite - the pure heart of an update: copy the file text
 * old/len to out with edit applied.  user's first entry is rewritten as
 * "user:[!]hash" and its later entries are dropped (they were dead
 * anyway: the first line wins).  Bad lines whose text before the first
 * ':' is user are dropped when a hash is set or the user removed, so a
 * fix replaces them.  If user has no entry and a hash is given, the entry
 * is appended.  Every other line is copied unchanged, each ending in '\n'.
 * @return 0 and *found_r (user had an entry, or a bad line that was
 *   dropped); -ENOMEM; TJ_ETOOBIG (out over its max).
 */
int tj_passwd_rewrite(const uint8_t *old, size_t len, const struct tj_passwd_edit *edit, tj_buf *out,
		      bool *found_r);

#endif

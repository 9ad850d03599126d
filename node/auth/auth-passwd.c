/*
 * auth-passwd.c - the password file backend: parsing "username:hash"
 * lines, the in-memory table (sorted, looked up by binary search), the
 * check with libxcrypt's crypt_rn and a constant-time comparison (and a
 * dummy hash for unknown users, so timing does not tell who exists),
 * reloading when the file changes, and the locked, atomic updates that
 * tjstore-cli makes (temp file, fsync, rename, fsync of the directory).
 */
#include "node/auth/auth-passwd.h"
#include "common/err.h"
#include "common/log.h"

#include <crypt.h>
#include <openssl/crypto.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DUMMY_PASSWORD "tjstore: no such user"
#define READ_CHUNK 65536

/* ------------------------------------------------------------ line parser */

static bool hash_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
	       c == '/' || c == '$' || c == '=' || c == ',';
}

/* the hash field (with any '!' prefix): 0 or TJ_EPROTO and *why_r */
static int parse_hash(const char *h, size_t len, tj_slice *hash_r, enum tj_passwd_hash_kind *kind_r,
		      bool *locked_r, const char **why_r)
{
	size_t bang = 0;
	while (bang < len && h[bang] == '!')
		bang++;
	*locked_r = bang > 0;
	const char *p = h + bang;
	size_t n = len - bang;
	*hash_r = (tj_slice){(const uint8_t *)p, n};
	if (n == 0) {
		if (!bang) {
			*why_r = "empty hash";
			return TJ_EPROTO;
		}
		*kind_r = TJ_PASSWD_HASH_NONE;
		return 0;
	}
	if (n == 1 && p[0] == '*') {
		*kind_r = TJ_PASSWD_HASH_NONE;
		return 0;
	}
	if (n > TJ_PASSWD_HASH_MAX) {
		*why_r = "hash too long";
		return TJ_EPROTO;
	}
	if (memchr(p, ':', n)) {
		*why_r = "more than two fields";
		return TJ_EPROTO;
	}
	for (size_t i = 0; i < n; i++) {
		if (!hash_char_ok((unsigned char)p[i])) {
			*why_r = "bad character in hash";
			return TJ_EPROTO;
		}
	}
	if (n > 3 && memcmp(p, "$y$", 3) == 0) {
		*kind_r = TJ_PASSWD_HASH_YESCRYPT;
	} else if (n > 3 && memcmp(p, "$6$", 3) == 0) {
		*kind_r = TJ_PASSWD_HASH_SHA512;
	} else {
		*why_r = "unsupported hash (want $y$ or $6$)";
		return TJ_EPROTO;
	}
	return 0;
}

int tj_passwd_parse_line(const char *line, size_t len, struct tj_passwd_line *line_r, const char **why_r)
{
	const char *unused;
	if (!why_r)
		why_r = &unused;
	*why_r = NULL;
	memset(line_r, 0, sizeof(*line_r));
	if (len > TJ_PASSWD_LINE_MAX) {
		*why_r = "line too long";
		return TJ_ETOOBIG;
	}
	if (len > 0 && line[len - 1] == '\r')
		len--;
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len) {
		line_r->kind = TJ_PASSWD_LINE_BLANK;
		return 0;
	}
	if (line[i] == '#') {
		line_r->kind = TJ_PASSWD_LINE_COMMENT;
		return 0;
	}
	const char *colon = memchr(line, ':', len);
	if (!colon) {
		*why_r = "no ':'";
		return TJ_EPROTO;
	}
	size_t ulen = (size_t)(colon - line);
	if (!tj_auth_user_valid(line, ulen)) {
		*why_r = "bad user name";
		return TJ_EPROTO;
	}
	int rc = parse_hash(colon + 1, len - ulen - 1, &line_r->hash, &line_r->hash_kind, &line_r->locked,
			    why_r);
	if (rc != 0) {
		line_r->hash = (tj_slice){NULL, 0};
		return rc;
	}
	line_r->kind = TJ_PASSWD_LINE_ENTRY;
	line_r->user = (tj_slice){(const uint8_t *)line, ulen};
	return 0;
}

bool tj_passwd_hash_valid(const char *hash, size_t len)
{
	tj_slice h;
	enum tj_passwd_hash_kind kind;
	bool locked;
	const char *why;
	if (!hash || len == 0)
		return false;
	if (memchr(hash, '\n', len) || memchr(hash, '\r', len) || memchr(hash, 0, len))
		return false;
	return parse_hash(hash, len, &h, &kind, &locked, &why) == 0;
}

/* ---------------------------------------------------------------- rewrite */

static bool slice_is(tj_slice s, const char *str, size_t len)
{
	return s.len == len && memcmp(s.ptr, str, len) == 0;
}

static int put_entry(tj_buf *out, const char *user, size_t ulen, bool locked, const uint8_t *hash,
		     size_t hlen)
{
	int rc = tj_buf_append(out, user, ulen);
	if (!rc)
		rc = tj_buf_putc(out, ':');
	if (!rc && locked)
		rc = tj_buf_putc(out, '!');
	if (!rc && hlen == 0 && !locked)
		rc = tj_buf_putc(out, '*'); /* an unlocked bare '!' becomes "no password" */
	if (!rc)
		rc = tj_buf_append(out, hash, hlen);
	if (!rc)
		rc = tj_buf_putc(out, '\n');
	return rc;
}

int tj_passwd_rewrite(const uint8_t *old, size_t len, const struct tj_passwd_edit *edit, tj_buf *out,
		      bool *found_r)
{
	const char *user = edit->user;
	size_t ulen = strlen(user);
	bool written = false;
	*found_r = false;
	size_t pos = 0;
	while (pos < len) {
		const uint8_t *nl = memchr(old + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - old) : len;
		const char *line = (const char *)old + pos;
		size_t llen = end - pos;
		pos = nl ? end + 1 : len;

		struct tj_passwd_line pl;
		int prc = tj_passwd_parse_line(line, llen, &pl, NULL);
		if (prc == 0 && pl.kind == TJ_PASSWD_LINE_ENTRY && slice_is(pl.user, user, ulen)) {
			*found_r = true;
			if (edit->remove || written)
				continue;
			written = true;
			bool locked = edit->lock < 0 ? pl.locked : edit->lock > 0;
			const uint8_t *h = edit->hash ? (const uint8_t *)edit->hash : pl.hash.ptr;
			size_t hlen = edit->hash ? strlen(edit->hash) : pl.hash.len;
			int rc = put_entry(out, user, ulen, locked, h, hlen);
			if (rc)
				return rc;
			continue;
		}
		if (prc != 0 && (edit->remove || edit->hash) && llen > ulen && line[ulen] == ':' &&
		    memcmp(line, user, ulen) == 0) {
			if (edit->remove)
				*found_r = true;
			continue; /* a broken line of this user: replaced or removed */
		}
		int rc = tj_buf_append(out, line, llen);
		if (!rc)
			rc = tj_buf_putc(out, '\n');
		if (rc)
			return rc;
	}
	if (!written && !edit->remove && edit->hash)
		return put_entry(out, user, ulen, edit->lock > 0, (const uint8_t *)edit->hash, strlen(edit->hash));
	return 0;
}

/* ------------------------------------------------------------------ table */

struct entry {
	tj_slice user;
	tj_slice hash;
	enum tj_passwd_hash_kind kind;
	bool locked;
	unsigned line_no;
};

struct table {
	tj_buf text; /* the file's bytes; entries point into it */
	struct entry *v;
	size_t n;
	unsigned bad_lines;
};

static void table_free(struct table **t)
{
	if (!t || !*t)
		return;
	tj_buf_free(&(*t)->text);
	free((*t)->v);
	free(*t);
	*t = NULL;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	size_t n = x->user.len < y->user.len ? x->user.len : y->user.len;
	int c = memcmp(x->user.ptr, y->user.ptr, n);
	if (c)
		return c;
	if (x->user.len != y->user.len)
		return x->user.len < y->user.len ? -1 : 1;
	return x->line_no < y->line_no ? -1 : x->line_no > y->line_no;
}

typedef void report_cb(void *ctx, unsigned line_no, const char *why);

/* parse text (owned by t->text) into t->v; bad lines go to report */
static int table_build(struct table *t, report_cb *report, void *ctx)
{
	const uint8_t *text = t->text.data;
	size_t len = t->text.len, cap = 0, pos = 0;
	unsigned line_no = 0;
	while (pos < len) {
		const uint8_t *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) : len;
		line_no++;
		struct tj_passwd_line pl;
		const char *why = NULL;
		int rc = tj_passwd_parse_line((const char *)text + pos, end - pos, &pl, &why);
		pos = nl ? end + 1 : len;
		if (rc != 0) {
			t->bad_lines++;
			report(ctx, line_no, why ? why : "bad line");
			continue;
		}
		if (pl.kind != TJ_PASSWD_LINE_ENTRY)
			continue;
		if (t->n == cap && tj_grow(&t->v, &cap, t->n + 1, sizeof(*t->v)))
			return -ENOMEM;
		t->v[t->n++] = (struct entry){pl.user, pl.hash, pl.hash_kind, pl.locked, line_no};
	}
	if (t->n > 1)
		qsort(t->v, t->n, sizeof(*t->v), entry_cmp);
	/* duplicates: the first line wins */
	size_t w = 0;
	for (size_t r = 0; r < t->n; r++) {
		if (w > 0 && t->v[w - 1].user.len == t->v[r].user.len &&
		    memcmp(t->v[w - 1].user.ptr, t->v[r].user.ptr, t->v[r].user.len) == 0) {
			t->bad_lines++;
			report(ctx, t->v[r].line_no, "duplicate user (the first line wins)");
			continue;
		}
		t->v[w++] = t->v[r];
	}
	t->n = w;
	return 0;
}

static const struct entry *table_find(const struct table *t, const char *user, size_t ulen)
{
	size_t lo = 0, hi = t ? t->n : 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct entry *e = &t->v[mid];
		size_t n = e->user.len < ulen ? e->user.len : ulen;
		int c = memcmp(e->user.ptr, user, n);
		if (c == 0 && e->user.len != ulen)
			c = e->user.len < ulen ? -1 : 1;
		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------- file I/O */

struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
};

static struct file_id file_id_of(const struct stat *st)
{
	return (struct file_id){st->st_dev, st->st_ino, st->st_size, st->st_mtim};
}

static bool file_id_eq(const struct file_id *a, const struct file_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec;
}

/* read the whole file into b (max TJ_PASSWD_FILE_MAX); *st_r from fstat */
static int read_file(const char *path, tj_buf *b, struct stat *st_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (fstat(fd, st_r) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st_r->st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if ((uint64_t)st_r->st_size > TJ_PASSWD_FILE_MAX) {
		rc = TJ_ETOOBIG;
		goto out;
	}
	b->max = TJ_PASSWD_FILE_MAX + 1; /* one byte more shows a file that grew past the limit */
	for (;;) {
		size_t chunk = b->max - b->len < READ_CHUNK ? b->max - b->len : READ_CHUNK;
		rc = tj_buf_reserve(b, chunk);
		if (rc)
			goto out;
		ssize_t n = read(fd, b->data + b->len, chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		b->len += (size_t)n;
		b->data[b->len] = 0;
		if (b->len > TJ_PASSWD_FILE_MAX) {
			rc = TJ_ETOOBIG;
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

/* ---------------------------------------------------------------- backend */

struct passwd_backend {
	struct tj_auth_backend be; /* first */
	char *path;
	unsigned interval_ms;
	uint64_t (*now_ms)(void *ctx);
	void *now_ctx;
	tj_passwd_report_fn *report;
	void *report_ctx;
	char dummy_hash[CRYPT_OUTPUT_SIZE];

	pthread_mutex_t mu; /* guards everything below */
	struct table *tab;  /* NULL: no file (no users) */
	struct file_id id;
	bool have_file;
	bool stat_done;
	uint64_t last_stat_ms;
	int failed_rc; /* last reload error, 0 if none */
	unsigned loads;
};

static uint64_t monotonic_ms(void *ctx)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void log_bad_line(void *ctx, const char *path, unsigned line_no, const char *why)
{
	tj_log(TJ_LOG_WARN, "auth", "event=passwd-bad-line file=%s line=%u reason=\"%s\"", path, line_no, why);
}

static void report_thunk(void *ctx, unsigned line_no, const char *why)
{
	struct passwd_backend *pb = ctx;
	pb->report(pb->report_ctx, pb->path, line_no, why);
}

static void note_failure(struct passwd_backend *pb, int rc)
{
	if (pb->failed_rc != rc)
		tj_log(TJ_LOG_ERROR, "auth", "event=passwd-reload-failed file=%s error=\"%s\"", pb->path,
		       tj_strerror(rc));
	pb->failed_rc = rc;
}

/*
 * stat the file (at most once per interval unless now_) and load it when
 * it changed.  Returns the state after the call: 0, or the error of the
 * failed load (checks then answer UNAVAILABLE).  Caller holds pb->mu.
 */
static int maybe_reload(struct passwd_backend *pb, bool now_)
{
	uint64_t now = pb->now_ms(pb->now_ctx);
	if (!now_ && pb->stat_done && now - pb->last_stat_ms < pb->interval_ms)
		return pb->failed_rc;
	pb->stat_done = true;
	pb->last_stat_ms = now;

	struct stat st;
	if (stat(pb->path, &st) < 0) {
		int rc = -errno;
		if (rc != -ENOENT) {
			note_failure(pb, rc);
			return rc;
		}
		if (pb->have_file || pb->failed_rc)
			tj_log(TJ_LOG_WARN, "auth", "event=passwd-missing file=%s users=0", pb->path);
		table_free(&pb->tab);
		pb->have_file = false;
		pb->failed_rc = 0;
		return 0;
	}
	struct file_id id = file_id_of(&st);
	if (pb->have_file && !pb->failed_rc && file_id_eq(&id, &pb->id))
		return 0;

	struct table *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	int rc = read_file(pb->path, &t->text, &st);
	if (rc == -ENOENT) {
		table_free(&t);
		pb->stat_done = false; /* replaced between stat and open: look again next time */
		return pb->failed_rc;
	}
	if (rc == 0)
		rc = table_build(t, report_thunk, pb);
	if (rc != 0) {
		table_free(&t);
		note_failure(pb, rc);
		return rc;
	}
	table_free(&pb->tab);
	pb->tab = t;
	pb->id = file_id_of(&st);
	pb->have_file = true;
	pb->failed_rc = 0;
	pb->loads++;
	tj_log(TJ_LOG_INFO, "auth", "event=passwd-load file=%s users=%zu bad_lines=%u", pb->path, t->n,
	       t->bad_lines);
	return 0;
}

/*
 * verify password against a crypt(3) hash: *match_r true only if crypt_rn
 * reproduces hash exactly (compared in constant time).  *computed_r false
 * if libxcrypt refused the hash's setting (a malformed hash).
 */
static int verify_hash(const char *password, const char *hash, bool *match_r, bool *computed_r)
{
	*match_r = false;
	*computed_r = false;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	const char *out = crypt_rn(password, hash, cd, (int)sizeof(*cd));
	if (out) {
		*computed_r = true;
		size_t olen = strlen(out), hlen = strlen(hash);
		/* lengths depend on the hash method, not on the password */
		*match_r = olen == hlen && CRYPTO_memcmp(out, hash, hlen) == 0;
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return 0;
}

static int passwd_check(struct tj_auth_backend *be, const char *user, const char *password,
			enum tj_auth_result *result_r)
{
	struct passwd_backend *pb = (struct passwd_backend *)be;
	char hash[CRYPT_OUTPUT_SIZE];
	bool locked = false, found = false;
	size_t ulen = strlen(user);

	pthread_mutex_lock(&pb->mu);
	int rc = maybe_reload(pb, false);
	if (rc != 0) {
		pthread_mutex_unlock(&pb->mu);
		*result_r = TJ_AUTH_UNAVAILABLE;
		return rc == -ENOMEM ? rc : 0;
	}
	const struct entry *e = tj_auth_user_valid(user, ulen) ? table_find(pb->tab, user, ulen) : NULL;
	if (e && e->kind != TJ_PASSWD_HASH_NONE && e->hash.len < sizeof(hash)) {
		memcpy(hash, e->hash.ptr, e->hash.len);
		hash[e->hash.len] = 0;
		locked = e->locked;
		found = true;
	}
	pthread_mutex_unlock(&pb->mu);

	bool match = false, computed = false;
	/* unknown users and "*" accounts cost the same as a wrong password */
	rc = verify_hash(password, found ? hash : pb->dummy_hash, &match, &computed);
	explicit_bzero(hash, sizeof(hash));
	if (rc == 0 && found && !computed) {
		/* a malformed hash in the file: no match, and no faster answer */
		char safe[64];
		tj_log(TJ_LOG_WARN, "auth", "event=passwd-bad-hash file=%s user=%s", pb->path,
		       tj_sanitize(safe, sizeof(safe), user, ulen));
		found = false;
		rc = verify_hash(password, pb->dummy_hash, &match, &computed);
	}
	if (rc != 0)
		return rc;
	if (!found || !match)
		*result_r = TJ_AUTH_FAIL;
	else
		*result_r = locked ? TJ_AUTH_DISABLED : TJ_AUTH_OK;
	return 0;
}

static void passwd_destroy(struct tj_auth_backend *be)
{
	struct passwd_backend *pb = (struct passwd_backend *)be;
	table_free(&pb->tab);
	pthread_mutex_destroy(&pb->mu);
	free(pb->path);
	free(pb);
}

static const struct tj_auth_backend_vfuncs passwd_vfuncs = {
	.name = "passwd",
	.check = passwd_check,
	.destroy = passwd_destroy,
};

/* a yescrypt hash of a fixed phrase, same cost as new hashes */
static int make_dummy_hash(char *out, size_t outsz)
{
	return tj_auth_passwd_hash(DUMMY_PASSWORD, out, outsz);
}

int tj_auth_passwd_open(const struct tj_auth_passwd_config *cfg, struct tj_auth_backend **be_r)
{
	if (!be_r)
		return TJ_EINVAL;
	*be_r = NULL;
	if (!cfg || !cfg->path || !cfg->path[0])
		return TJ_EINVAL;
	struct passwd_backend *pb = calloc(1, sizeof(*pb));
	if (!pb)
		return -ENOMEM;
	pb->be.v = &passwd_vfuncs;
	pb->path = strdup(cfg->path);
	if (!pb->path) {
		free(pb);
		return -ENOMEM;
	}
	pb->interval_ms = cfg->reload_interval_ms ? cfg->reload_interval_ms : TJ_PASSWD_RELOAD_MS;
	pb->now_ms = cfg->now_ms ? cfg->now_ms : monotonic_ms;
	pb->now_ctx = cfg->now_ctx;
	pb->report = cfg->report ? cfg->report : log_bad_line;
	pb->report_ctx = cfg->report_ctx;
	pthread_mutex_init(&pb->mu, NULL);

	int rc = make_dummy_hash(pb->dummy_hash, sizeof(pb->dummy_hash));
	if (rc == 0) {
		pthread_mutex_lock(&pb->mu);
		rc = maybe_reload(pb, true);
		pthread_mutex_unlock(&pb->mu);
	}
	if (rc != 0) {
		passwd_destroy(&pb->be);
		return rc;
	}
	*be_r = &pb->be;
	return 0;
}

int tj_auth_passwd_reload(struct tj_auth_backend *be)
{
	if (!be || be->v != &passwd_vfuncs)
		return TJ_EINVAL;
	struct passwd_backend *pb = (struct passwd_backend *)be;
	pthread_mutex_lock(&pb->mu);
	int rc = maybe_reload(pb, true);
	pthread_mutex_unlock(&pb->mu);
	return rc;
}

void tj_auth_passwd_get_stats(struct tj_auth_backend *be, struct tj_auth_passwd_stats *stats_r)
{
	memset(stats_r, 0, sizeof(*stats_r));
	if (!be || be->v != &passwd_vfuncs)
		return;
	struct passwd_backend *pb = (struct passwd_backend *)be;
	pthread_mutex_lock(&pb->mu);
	stats_r->users = pb->tab ? (unsigned)pb->tab->n : 0;
	stats_r->bad_lines = pb->tab ? pb->tab->bad_lines : 0;
	stats_r->loads = pb->loads;
	stats_r->failed = pb->failed_rc != 0;
	pthread_mutex_unlock(&pb->mu);
}

/* --------------------------------------------------------------- updates */

static bool password_ok(const char *pw)
{
	if (!pw || !pw[0])
		return false;
	size_t n = strnlen(pw, TJ_AUTH_PASSWORD_MAX + 1);
	return n <= TJ_AUTH_PASSWORD_MAX && !memchr(pw, '\n', n) && !memchr(pw, '\r', n);
}

int tj_auth_passwd_hash(const char *password, char *hash_r, size_t hash_size)
{
	if (!password_ok(password) || !hash_r || hash_size < TJ_PASSWD_HASH_MAX + 1)
		return TJ_EINVAL;
	hash_r[0] = 0;
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	errno = 0;
	/* count 0: libxcrypt's default cost; NULL entropy: it reads the OS RNG */
	if (!crypt_gensalt_rn("$y$", 0, NULL, 0, setting, (int)sizeof(setting)))
		return errno ? -errno : -EINVAL;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	int rc = 0;
	errno = 0;
	const char *out = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (!out || out[0] != '$')
		rc = errno ? -errno : -EINVAL;
	else if (strlen(out) >= hash_size)
		rc = TJ_ETOOBIG;
	else
		memcpy(hash_r, out, strlen(out) + 1);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return rc;
}

static int str_concat(tj_buf *b, const char *a, size_t alen, const char *c)
{
	tj_buf_reset(b);
	int rc = tj_buf_append(b, a, alen);
	if (!rc)
		rc = tj_buf_puts(b, c);
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

/* replace path by content: temp file in the same directory, fsync, rename, fsync dir */
static int replace_file(const char *path, const tj_buf *content, const struct stat *old_st)
{
	tj_buf tmp = TJ_BUF_INIT, dir = TJ_BUF_INIT;
	int fd = -1, rc;
	bool made = false;
	const char *slash = strrchr(path, '/');
	if (slash)
		rc = str_concat(&dir, path, slash == path ? 1 : (size_t)(slash - path), "");
	else
		rc = str_concat(&dir, ".", 1, "");
	if (!rc)
		rc = str_concat(&tmp, path, strlen(path), ".tmp.XXXXXX");
	if (rc)
		goto out;
	fd = mkostemp((char *)tmp.data, O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	made = true;
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		goto out;
	}
	if (old_st && (old_st->st_uid != geteuid() || old_st->st_gid != getegid()))
		(void)!fchown(fd, old_st->st_uid, old_st->st_gid); /* keep the owner if we may */
	rc = write_all(fd, content->data ? content->data : (const uint8_t *)"", content->len);
	if (rc)
		goto out;
	if (fsync(fd) < 0) {
		rc = -errno;
		goto out;
	}
	if (close(fd) < 0) {
		fd = -1;
		rc = -errno;
		goto out;
	}
	fd = -1;
	if (rename((char *)tmp.data, path) < 0) {
		rc = -errno;
		goto out;
	}
	made = false;
	rc = fsync_dir((const char *)dir.data);
out:
	if (fd >= 0)
		close(fd);
	if (made)
		unlink((char *)tmp.data);
	tj_buf_free(&tmp);
	tj_buf_free(&dir);
	return rc;
}

/* the whole locked read-modify-write of one edit */
static int passwd_update(const char *path, const struct tj_passwd_edit *edit, bool need_found)
{
	if (!path || !path[0])
		return TJ_EINVAL;
	tj_buf lockpath = TJ_BUF_INIT, old = TJ_BUF_INIT, out = TJ_BUF_INIT;
	int lfd = -1;
	int rc = str_concat(&lockpath, path, strlen(path), TJ_PASSWD_LOCK_SUFFIX);
	if (rc)
		goto done;
	lfd = open((const char *)lockpath.data, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (lfd < 0) {
		rc = -errno;
		goto done;
	}
	while (flock(lfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = -errno;
			goto done;
		}
	}
	struct stat st;
	bool exists = true;
	rc = read_file(path, &old, &st);
	if (rc == -ENOENT) {
		exists = false;
		rc = 0;
	}
	if (rc)
		goto done;
	bool found = false;
	out.max = TJ_PASSWD_FILE_MAX;
	rc = tj_passwd_rewrite(old.data, old.len, edit, &out, &found);
	if (rc)
		goto done;
	if (need_found && !found) {
		rc = TJ_ENOTFOUND;
		goto done;
	}
	rc = replace_file(path, &out, exists ? &st : NULL);
done:
	if (lfd >= 0)
		close(lfd); /* releases the flock; the lock file stays (unlinking it would race) */
	tj_buf_free(&lockpath);
	tj_buf_free(&old);
	tj_buf_free(&out);
	return rc;
}

static bool user_ok(const char *user)
{
	return user && tj_auth_user_valid(user, strnlen(user, TJ_AUTH_USER_MAX + 1));
}

int tj_auth_passwd_set(const char *path, const char *user, const char *password)
{
	if (!user_ok(user) || !password_ok(password))
		return TJ_EINVAL;
	char hash[CRYPT_OUTPUT_SIZE];
	int rc = tj_auth_passwd_hash(password, hash, sizeof(hash)); /* slow: outside the lock */
	if (rc)
		return rc;
	struct tj_passwd_edit edit = {.user = user, .hash = hash, .lock = -1};
	return passwd_update(path, &edit, false);
}

int tj_auth_passwd_set_hash(const char *path, const char *user, const char *hash)
{
	if (!user_ok(user) || !hash || !tj_passwd_hash_valid(hash, strlen(hash)))
		return TJ_EINVAL;
	const char *h = hash;
	while (*h == '!')
		h++;
	struct tj_passwd_edit edit = {.user = user, .hash = *h ? h : "*", .lock = h != hash};
	return passwd_update(path, &edit, false);
}

int tj_auth_passwd_remove(const char *path, const char *user)
{
	if (!user_ok(user))
		return TJ_EINVAL;
	struct tj_passwd_edit edit = {.user = user, .remove = true};
	return passwd_update(path, &edit, true);
}

int tj_auth_passwd_set_locked(const char *path, const char *user, bool locked)
{
	if (!user_ok(user))
		return TJ_EINVAL;
	struct tj_passwd_edit edit = {.user = user, .lock = locked ? 1 : 0};
	return passwd_update(path, &edit, true);
}

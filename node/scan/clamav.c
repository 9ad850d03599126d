/*
 * clamav.c - the ClamAV scanner (see clamav.h, docs/scanning.md).
 *
 * Engines are refcounted: c->cur holds one reference, every running scan
 * holds one.  c->lock only guards the pointer swap and the status fields, so
 * a scan never waits for a load; loads themselves are serialised by
 * c->reload_lock (never two new engines in memory at once).  The watcher
 * thread fingerprints the database files every poll_ms and reloads when the
 * fingerprint differs from the one last attempted and has been stable for one
 * poll (a file half copied in by hand is not loaded).
 */
#include "node/scan/clamav.h"

#include <clamav.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"

#define MOD "clamav"

struct engine {
	struct cl_engine *ce;
	atomic_uint refs;
	uint64_t generation;
	unsigned sigs;
	uint64_t load_us;
};

struct tj_clam {
	char *db_dir, *tmpdir;
	unsigned poll_ms;

	pthread_mutex_t lock; /* cur and the status fields below */
	struct engine *cur;
	uint64_t generation, reloads_failed;
	char last_error[256];

	pthread_mutex_t reload_lock; /* one load at a time; attempted_fp */
	uint64_t attempted_fp;

	pthread_mutex_t wlock; /* watcher stop flag */
	pthread_cond_t wcond;
	bool stop, watching;
	pthread_t watcher;
};

/* ---- process-wide libclamav initialisation ---- */

static pthread_once_t clam_once = PTHREAD_ONCE_INIT;
static cl_error_t clam_init_rc;

/* clam_msg - libclamav's messages into our log, one sanitised line each. */
static void clam_msg(enum cl_msg severity, const char *fullmsg, const char *msg, void *ctx)
{
	char clean[512];
	const char *m = msg ? msg : fullmsg;
	if (!m)
		return;
	size_t n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == '\r'))
		n--;
	tj_sanitize(clean, sizeof(clean), m, n);
	enum tj_log_level lvl = severity == CL_MSG_ERROR ? TJ_LOG_WARN :
				severity == CL_MSG_WARN ? TJ_LOG_INFO : TJ_LOG_DEBUG;
	tj_log(lvl, MOD, "event=libclamav msg=\"%s\"", clean);
}

static void clam_init_once(void)
{
	clam_init_rc = cl_init(CL_INIT_DEFAULT);
	cl_set_clcb_msg(clam_msg);
}

/* ---- small helpers ---- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static uint64_t mix64(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	return h ^ (h >> 31);
}

/* printable copy of s into out (virus names and reasons end up in SMTP replies) */
static void copy_printable(char *out, size_t outsz, const char *s)
{
	size_t i = 0;
	for (; s && s[i] && i + 1 < outsz; i++)
		out[i] = (s[i] >= 0x21 && s[i] <= 0x7e) ? s[i] : '_';
	out[i] = '\0';
}

/* The database file suffixes libclamav loads from a directory (its
 * CLI_DBEXT list).  Other files (freshclam.dat, temp files) do not count. */
static const char *const db_suffixes[] = {
	".cvd", ".cld", ".cud", ".db", ".hdb", ".hdu", ".hsb", ".hsu", ".mdb", ".mdu",
	".msb", ".msu", ".ndb", ".ndu", ".ldb", ".ldu", ".sdb", ".zmd", ".rmd", ".idb",
	".fp", ".sfp", ".gdb", ".pdb", ".wdb", ".cbc", ".ftm", ".cfg", ".cdb", ".cat",
	".crb", ".ign", ".ign2", ".info", ".yar", ".yara", ".pwdb", ".ioc", ".imp",
};

static bool is_db_file(const char *name)
{
	if (name[0] == '.')
		return false;
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(db_suffixes) / sizeof(db_suffixes[0]); i++) {
		size_t s = strlen(db_suffixes[i]);
		if (n > s && strcmp(name + n - s, db_suffixes[i]) == 0)
			return true;
	}
	return false;
}

/* dir_fingerprint - a hash of (name, inode, size, mtime) of every database
 * file; order independent.  A missing or unreadable directory hashes its errno. */
static uint64_t dir_fingerprint(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return mix64(0x5ca9, (uint64_t)errno);
	uint64_t sum = 0, count = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (!is_db_file(de->d_name))
			continue;
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		uint64_t h = 0xcbf29ce484222325ull;
		for (const char *p = de->d_name; *p; p++)
			h = (h ^ (uint8_t)*p) * 0x100000001b3ull;
		h = mix64(h, (uint64_t)st.st_ino);
		h = mix64(h, (uint64_t)st.st_size);
		h = mix64(h, (uint64_t)st.st_mtim.tv_sec);
		h = mix64(h, (uint64_t)st.st_mtim.tv_nsec);
		sum += h;
		count++;
	}
	closedir(d);
	return mix64(sum, count);
}

/* ---- engines ---- */

static void engine_put(struct engine *e)
{
	if (e && atomic_fetch_sub(&e->refs, 1) == 1) {
		cl_engine_free(e->ce);
		free(e);
	}
}

/* engine_get - a reference to the current engine, or NULL when unavailable. */
static struct engine *engine_get(tj_clam *c)
{
	pthread_mutex_lock(&c->lock);
	struct engine *e = c->cur;
	if (e)
		atomic_fetch_add(&e->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return e;
}

static int set_limits(struct cl_engine *ce, const char *tmpdir, char *err, size_t errsz)
{
	static const struct {
		enum cl_engine_field f;
		long long v;
		const char *name;
	} lim[] = {
		{CL_ENGINE_MAX_FILESIZE, (long long)TJ_CLAM_MAX_FILESIZE, "max_filesize"},
		{CL_ENGINE_MAX_SCANSIZE, (long long)TJ_CLAM_MAX_SCANSIZE, "max_scansize"},
		{CL_ENGINE_MAX_RECURSION, TJ_CLAM_MAX_RECURSION, "max_recursion"},
		{CL_ENGINE_MAX_FILES, TJ_CLAM_MAX_FILES, "max_files"},
		{CL_ENGINE_MAX_SCANTIME, TJ_CLAM_MAX_SCANTIME_MS, "max_scantime"},
	};
	for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
		cl_error_t rc = cl_engine_set_num(ce, lim[i].f, lim[i].v);
		if (rc != CL_SUCCESS) {
			snprintf(err, errsz, "cl_engine_set_num(%s): %s", lim[i].name, cl_strerror(rc));
			return TJ_EINVAL;
		}
	}
	if (tmpdir) {
		cl_error_t rc = cl_engine_set_str(ce, CL_ENGINE_TMPDIR, tmpdir);
		if (rc != CL_SUCCESS) {
			snprintf(err, errsz, "cl_engine_set_str(tmpdir): %s", cl_strerror(rc));
			return TJ_EINVAL;
		}
	}
	return 0;
}

/* engine_load - a new, compiled engine for dir.  0, -ENOMEM or TJ_ECORRUPT
 * (reason in err). */
static int engine_load(tj_clam *c, struct engine **e_r, char *err, size_t errsz)
{
	uint64_t t0 = now_us();
	struct stat st;
	if (stat(c->db_dir, &st) < 0) {
		snprintf(err, errsz, "%s: %s", c->db_dir, strerror(errno));
		return TJ_ECORRUPT;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errsz, "%s: not a directory", c->db_dir);
		return TJ_ECORRUPT;
	}
	struct engine *e = calloc(1, sizeof(*e));
	if (!e) {
		snprintf(err, errsz, "out of memory");
		return -ENOMEM;
	}
	e->ce = cl_engine_new();
	if (!e->ce) {
		free(e);
		snprintf(err, errsz, "cl_engine_new: out of memory");
		return -ENOMEM;
	}
	int rc = set_limits(e->ce, c->tmpdir, err, errsz);
	if (rc < 0)
		goto fail;
	unsigned sigs = 0;
	cl_error_t crc = cl_load(c->db_dir, e->ce, &sigs, CL_DB_STDOPT);
	if (crc != CL_SUCCESS) {
		snprintf(err, errsz, "cl_load %s: %s", c->db_dir, cl_strerror(crc));
		rc = TJ_ECORRUPT;
		goto fail;
	}
	if (sigs == 0) {
		snprintf(err, errsz, "cl_load %s: no signatures", c->db_dir);
		rc = TJ_ECORRUPT;
		goto fail;
	}
	crc = cl_engine_compile(e->ce);
	if (crc != CL_SUCCESS) {
		snprintf(err, errsz, "cl_engine_compile: %s", cl_strerror(crc));
		rc = TJ_ECORRUPT;
		goto fail;
	}
	atomic_init(&e->refs, 1);
	e->sigs = sigs;
	e->load_us = now_us() - t0;
	*e_r = e;
	return 0;
fail:
	cl_engine_free(e->ce);
	free(e);
	return rc;
}

/* do_reload - load the directory and swap the engine in (keeping the old one
 * on failure).  Caller holds reload_lock. */
static int do_reload(tj_clam *c, const char *why)
{
	char err[256] = "";
	uint64_t fp = dir_fingerprint(c->db_dir); /* before loading: a change during the load triggers another */
	c->attempted_fp = fp;
	struct engine *e = NULL;
	int rc = TJ_ECORRUPT;
	if (clam_init_rc == CL_SUCCESS)
		rc = engine_load(c, &e, err, sizeof(err));
	else
		snprintf(err, sizeof(err), "cl_init: %s", cl_strerror(clam_init_rc));
	pthread_mutex_lock(&c->lock);
	struct engine *old = NULL;
	if (rc == 0) {
		old = c->cur;
		e->generation = ++c->generation;
		c->cur = e;
		c->last_error[0] = '\0';
	} else {
		snprintf(c->last_error, sizeof(c->last_error), "%s", err);
		if (c->cur)
			c->reloads_failed++;
	}
	bool have = c->cur != NULL;
	pthread_mutex_unlock(&c->lock);
	if (rc == 0) {
		tj_log(TJ_LOG_INFO, MOD, "event=load why=%s dir=%s generation=%llu signatures=%u load_ms=%.1f",
		       why, c->db_dir, (unsigned long long)e->generation, e->sigs, (double)e->load_us / 1000.0);
		engine_put(old); /* freed now, or when its last scan finishes */
	} else if (have) {
		tj_log(TJ_LOG_WARN, MOD, "event=reload-failed why=%s keeping=old-engine error=\"%s\"", why, err);
	} else {
		tj_log(TJ_LOG_ERROR, MOD, "event=load-failed why=%s state=unavailable error=\"%s\"", why, err);
	}
	return rc;
}

/* ---- watcher ---- */

static void *watcher_main(void *arg)
{
	tj_clam *c = arg;
	uint64_t prev = 0;
	bool have_prev = false;
	pthread_mutex_lock(&c->wlock);
	while (!c->stop) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += c->poll_ms / 1000;
		ts.tv_nsec += (long)(c->poll_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!c->stop && pthread_cond_timedwait(&c->wcond, &c->wlock, &ts) != ETIMEDOUT)
			;
		if (c->stop)
			break;
		pthread_mutex_unlock(&c->wlock);

		uint64_t fp = dir_fingerprint(c->db_dir);
		pthread_mutex_lock(&c->reload_lock);
		if (fp != c->attempted_fp && have_prev && fp == prev)
			do_reload(c, "changed");
		pthread_mutex_unlock(&c->reload_lock);
		prev = fp;
		have_prev = true;

		pthread_mutex_lock(&c->wlock);
	}
	pthread_mutex_unlock(&c->wlock);
	return NULL;
}

/* ---- public ---- */

int tj_clam_open(tj_clam **c_r, const struct tj_clam_options *opt)
{
	*c_r = NULL;
	if (!opt || !opt->db_dir || !opt->db_dir[0])
		return TJ_EINVAL;
	pthread_once(&clam_once, clam_init_once);
	tj_clam *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->db_dir = strdup(opt->db_dir);
	c->tmpdir = opt->tmpdir ? strdup(opt->tmpdir) : NULL;
	if (!c->db_dir || (opt->tmpdir && !c->tmpdir)) {
		free(c->db_dir);
		free(c->tmpdir);
		free(c);
		return -ENOMEM;
	}
	c->poll_ms = opt->poll_ms ? opt->poll_ms : TJ_CLAM_POLL_MS_DEFAULT;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->reload_lock, NULL);
	pthread_mutex_init(&c->wlock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->wcond, &ca);
	pthread_condattr_destroy(&ca);

	pthread_mutex_lock(&c->reload_lock);
	do_reload(c, "start");
	pthread_mutex_unlock(&c->reload_lock);

	if (!opt->no_watch) {
		int rc = pthread_create(&c->watcher, NULL, watcher_main, c);
		if (rc != 0) {
			tj_clam_close(&c);
			return -rc;
		}
		c->watching = true;
	}
	*c_r = c;
	return 0;
}

enum tj_clam_verdict tj_clam_scan(tj_clam *c, const void *buf, size_t len, struct tj_clam_result *res_r)
{
	uint64_t t0 = now_us();
	struct tj_clam_result *r = res_r;
	memset(r, 0, sizeof(*r));
	struct engine *e = engine_get(c);
	if (!e) {
		pthread_mutex_lock(&c->lock);
		snprintf(r->name, sizeof(r->name), "scanner unavailable: %.120s", c->last_error);
		pthread_mutex_unlock(&c->lock);
		r->verdict = TJ_CLAM_TEMPFAIL;
		goto out;
	}
	r->generation = e->generation;
	if (len > TJ_CLAM_MAX_FILESIZE) {
		snprintf(r->name, sizeof(r->name), "message too large to scan (%zu > %llu bytes)", len,
			 (unsigned long long)TJ_CLAM_MAX_FILESIZE);
		r->verdict = TJ_CLAM_TEMPFAIL;
		goto out;
	}
	if (len == 0) {
		r->verdict = TJ_CLAM_CLEAN;
		goto out;
	}
	cl_fmap_t *map = cl_fmap_open_memory(buf, len);
	if (!map) {
		snprintf(r->name, sizeof(r->name), "cl_fmap_open_memory: out of memory");
		r->verdict = TJ_CLAM_TEMPFAIL;
		goto out;
	}
	struct cl_scan_options so = {
		.general = CL_SCAN_GENERAL_HEURISTICS,
		.parse = ~0u, /* mail, archives, PDF, OLE2, HTML, ... (clamscan's default) */
		.heuristic = 0,
		.mail = 0,
		.dev = 0,
	};
	const char *vname = NULL;
	unsigned long scanned = 0;
	cl_error_t rc = cl_scanmap_callback(map, "message", &vname, &scanned, e->ce, &so, NULL);
	cl_fmap_close(map);
	r->scanned_blocks = scanned;
	if (rc == CL_VIRUS) {
		r->verdict = TJ_CLAM_INFECTED;
		copy_printable(r->name, sizeof(r->name), vname && vname[0] ? vname : "Unknown");
	} else if (rc == CL_CLEAN) {
		r->verdict = TJ_CLAM_CLEAN;
	} else {
		r->verdict = TJ_CLAM_TEMPFAIL;
		snprintf(r->name, sizeof(r->name), "libclamav: %s", cl_strerror(rc));
	}
out:
	engine_put(e); /* vname points into the engine: copied above */
	r->elapsed_us = now_us() - t0;
	return r->verdict;
}

int tj_clam_reload(tj_clam *c)
{
	pthread_mutex_lock(&c->reload_lock);
	int rc = do_reload(c, "request");
	pthread_mutex_unlock(&c->reload_lock);
	return rc;
}

void tj_clam_status(tj_clam *c, struct tj_clam_status *st_r)
{
	memset(st_r, 0, sizeof(*st_r));
	pthread_mutex_lock(&c->lock);
	st_r->available = c->cur != NULL;
	if (c->cur) {
		st_r->generation = c->cur->generation;
		st_r->signatures = c->cur->sigs;
		st_r->load_us = c->cur->load_us;
	}
	st_r->reloads_failed = c->reloads_failed;
	snprintf(st_r->last_error, sizeof(st_r->last_error), "%s", c->last_error);
	pthread_mutex_unlock(&c->lock);
}

void tj_clam_close(tj_clam **cp)
{
	tj_clam *c = *cp;
	if (!c)
		return;
	*cp = NULL;
	if (c->watching) {
		pthread_mutex_lock(&c->wlock);
		c->stop = true;
		pthread_cond_signal(&c->wcond);
		pthread_mutex_unlock(&c->wlock);
		pthread_join(c->watcher, NULL);
	}
	pthread_mutex_lock(&c->lock);
	struct engine *e = c->cur;
	c->cur = NULL;
	pthread_mutex_unlock(&c->lock);
	engine_put(e);
	pthread_cond_destroy(&c->wcond);
	pthread_mutex_destroy(&c->wlock);
	pthread_mutex_destroy(&c->reload_lock);
	pthread_mutex_destroy(&c->lock);
	free(c->db_dir);
	free(c->tmpdir);
	free(c);
}

const char *tj_clam_verdict_name(enum tj_clam_verdict v)
{
	switch (v) {
	case TJ_CLAM_CLEAN:
		return "CLEAN";
	case TJ_CLAM_INFECTED:
		return "INFECTED";
	case TJ_CLAM_TEMPFAIL:
		return "TEMPFAIL";
	}
	return "?";
}

/*
 * clamav.h - the ClamAV virus scanner of tjstored, through libclamav.
 *
 * One tj_clam per process.  tj_clam_open() loads and compiles the signature
 * directory once; scanning threads share that compiled engine.  A watcher
 * thread polls the directory (names, sizes, mtimes, inodes of the database
 * files) and, when it has changed and then stayed unchanged for one poll,
 * builds a NEW engine and swaps it in: scans already running finish on the
 * old engine, which is freed when the last of them releases it.  A failed
 * reload keeps the old engine.  If no engine could ever be loaded the scanner
 * is "unavailable" and every scan returns TJ_CLAM_TEMPFAIL, so the SMTP
 * server defers (451) instead of passing mail unscanned.
 *
 *   struct tj_clam_options o = {.db_dir = cfg->scan.clamav_db_dir};
 *   tj_clam *c;
 *   if (tj_clam_open(&c, &o) < 0) ...          (only bad arguments / ENOMEM)
 *   struct tj_clam_result r;
 *   switch (tj_clam_scan(c, msg, len, &r)) {   (any thread)
 *   case TJ_CLAM_CLEAN: ...
 *   case TJ_CLAM_INFECTED: 554 5.7.1 naming r.name, quarantine
 *   case TJ_CLAM_TEMPFAIL: 451 4.7.1, log r.name (the reason)
 *   }
 *   tj_clam_close(&c);
 *
 * See docs/scanning.md.
 */
#ifndef TJ_SCAN_CLAMAV_H
#define TJ_SCAN_CLAMAV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits set on every engine (libclamav field in brackets).  A message larger
 * than TJ_CLAM_MAX_FILESIZE is not scanned: TEMPFAIL "too large to scan", so
 * smtp.max_message_size must stay below it. */
#define TJ_CLAM_MAX_FILESIZE (100ull << 20)  /* one file or part [MAX_FILESIZE] */
#define TJ_CLAM_MAX_SCANSIZE (400ull << 20)  /* bytes scanned per message [MAX_SCANSIZE] */
#define TJ_CLAM_MAX_RECURSION 16             /* nesting of mail/archives [MAX_RECURSION] */
#define TJ_CLAM_MAX_FILES 10000              /* parts/members per message [MAX_FILES] */
#define TJ_CLAM_MAX_SCANTIME_MS 120000       /* wall time per scan [MAX_SCANTIME] */
#define TJ_CLAM_POLL_MS_DEFAULT 5000         /* watcher period */
#define TJ_CLAM_NAME_MAX 160                 /* r.name buffer, NUL included */

enum tj_clam_verdict {
	TJ_CLAM_CLEAN = 0,
	TJ_CLAM_INFECTED = 1, /* name = signature, e.g. "Test.EICAR.UNOFFICIAL" */
	TJ_CLAM_TEMPFAIL = 2, /* name = reason; the message was NOT (fully) scanned */
};

struct tj_clam_result {
	enum tj_clam_verdict verdict;
	char name[TJ_CLAM_NAME_MAX]; /* "" when CLEAN; printable ASCII */
	uint64_t elapsed_us;         /* wall time of this scan */
	uint64_t scanned_blocks;     /* libclamav's count, in CL_COUNT_PRECISION (4 KiB) units */
	uint64_t generation;         /* engine generation used, 0 when none */
};

struct tj_clam_options {
	const char *db_dir;  /* signature directory (scan.clamav_db_dir); required */
	unsigned poll_ms;    /* watcher period; 0 = TJ_CLAM_POLL_MS_DEFAULT */
	bool no_watch;       /* no watcher thread (reload only by tj_clam_reload) */
	const char *tmpdir;  /* libclamav's temp dir for decoded parts; NULL = its default ($TMPDIR or /tmp) */
};

struct tj_clam_status {
	bool available;       /* an engine is loaded */
	uint64_t generation;  /* 1 for the first engine, +1 per successful reload */
	unsigned signatures;  /* in the current engine */
	uint64_t load_us;     /* time to load + compile the current engine */
	uint64_t reloads_failed;
	char last_error[256]; /* last load error, "" if none */
};

typedef struct tj_clam tj_clam;

/* tj_clam_open - initialise libclamav (once per process), load db_dir, start
 * the watcher.  A failed load is NOT an error here: the scanner is returned
 * unavailable (see tj_clam_status), logs why, and the watcher keeps trying.
 * Returns 0, TJ_EINVAL (no db_dir), -ENOMEM, or -errno from pthread_create.
 * The options are copied. */
int tj_clam_open(tj_clam **c_r, const struct tj_clam_options *opt);

/* tj_clam_scan - scan one whole message held in memory.  Thread-safe; buf is
 * only read, and only during the call.  Never blocks on a reload.  Returns
 * the verdict, also stored in *res_r. */
enum tj_clam_verdict tj_clam_scan(tj_clam *c, const void *buf, size_t len, struct tj_clam_result *res_r);

/* tj_clam_reload - load the directory now (e.g. on SIGHUP) and swap the new
 * engine in.  0 on success; TJ_ECORRUPT if libclamav refused the directory
 * (the old engine stays; reason in tj_clam_status().last_error); -ENOMEM. */
int tj_clam_reload(tj_clam *c);

/* tj_clam_status - a consistent snapshot of the scanner's state. */
void tj_clam_status(tj_clam *c, struct tj_clam_status *st_r);

/* tj_clam_close - stop the watcher, drop the engine (freed once no scan uses
 * it; no scan may be running or start after this call), *c = NULL. */
void tj_clam_close(tj_clam **c);

/* tj_clam_verdict_name - "CLEAN", "INFECTED" or "TEMPFAIL". */
const char *tj_clam_verdict_name(enum tj_clam_verdict v);

#endif

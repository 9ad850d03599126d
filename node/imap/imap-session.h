/*
 * imap-session.h - tjstored's IMAP session engine: bytes in, bytes out,
 * commands executed against the store.  No sockets, no libuv, no TLS.
 *
 * The network layer owns the connection and drives a session like this:
 *
 *   imap_session_new(&cfg, &s);            greeting is queued as output
 *   on read:   imap_session_feed(s, buf, n);
 *              if (imap_session_needs_run(s)) queue a worker job;
 *   worker:    imap_session_run(s);         parses and executes everything
 *                                           queued; does store I/O (blocking)
 *   after it:  imap_session_output(s, &out) -> write out to the socket
 *              if (imap_session_needs_run(s)) queue the job again
 *              if (imap_session_wants_close(s)) flush and close
 *   wakeups:   cfg.wakeup(cfg.wakeup_ctx) is called (from any thread) when
 *              another session changed the selected mailbox; the server
 *              then queues a run job so IDLE and the next command see it.
 *
 * Threading contract:
 *   - imap_session_run() may run on any thread but never concurrently with
 *     itself for one session, nor with imap_session_free().
 *   - imap_session_feed(), imap_session_output(), imap_session_wants_close(),
 *     imap_session_needs_run(), imap_session_has_pending_notify() and
 *     imap_session_tls_started() may be called from the loop thread at any
 *     time, also while run() is executing on a worker: they only touch
 *     buffers and flags under the session's own mutex (or atomics).
 *   - imap_notify_* functions are thread-safe.
 *   - cfg.auth and cfg.wakeup are called from run() (auth, on the worker) or
 *     from any writer's thread (wakeup, with the notifier's lock held: it
 *     must be quick and must not call back into the notifier).
 */
#ifndef TJ_NODE_IMAP_SESSION_H
#define TJ_NODE_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "store/store.h"

/* results of the authentication callback */
enum imap_auth_result {
	IMAP_AUTH_OK = 0,
	IMAP_AUTH_FAIL = 1,        /* wrong user or password */
	IMAP_AUTH_DISABLED = 2,    /* account disabled */
	IMAP_AUTH_UNAVAILABLE = 3, /* backend down: try again later */
};

#define IMAP_AUTH_USER_MAX 255      /* longer user names fail without a check */
#define IMAP_AUTH_PASSWORD_MAX 1024 /* longer passwords fail without a check */

/* imap_auth_fn - check a user name and password (both NUL-terminated,
 * untrusted, without NULs, within the limits above; the values match
 * node/auth's enum tj_auth_result, so tj_auth_check fits behind a one-line
 * adapter).  Returns enum imap_auth_result.  May block. */
typedef int imap_auth_fn(void *ctx, const char *user, const char *pass);
/* imap_wakeup_fn - "this session has something to do" (see above). */
typedef void imap_wakeup_fn(void *ctx);

typedef struct imap_notify imap_notify;
typedef struct imap_session imap_session;
struct tj_auth_krb5_config; /* node/auth/auth-krb5.h */

/* imap_learn_fn - the user filed these messages (GUIDs) as spam (spam
 * true: moved or copied into a \Junk mailbox) or as ham (out of \Junk into
 * anything but \Trash).  Called on a worker thread after the command
 * succeeded; must not block for long (queue the work). */
typedef void imap_learn_fn(void *ctx, uint32_t user_id, const uint8_t (*guids)[TJ_GUID_LEN], size_t n, bool spam);

typedef struct imap_session_config {
	tj_store *store;           /* required; outlives the session */
	imap_notify *notify;       /* required; shared by all sessions of the process */
	imap_auth_fn *auth;        /* required */
	void *auth_ctx;
	imap_wakeup_fn *wakeup;    /* optional */
	void *wakeup_ctx;
	bool starttls;             /* offer STARTTLS (plain port with TLS configured) */
	bool logindisabled;        /* refuse LOGIN/AUTHENTICATE until TLS is on */
	bool tls;                  /* the connection is already TLS (implicit TLS port) */
	const char *greeting;      /* text after "* OK "; NULL = "tjstore ready." (copied) */
	/* AUTHENTICATE GSSAPI (RFC 4752, node/auth/gssapi.h): the keytab,
	 * realm, service and hostname to accept tickets with; NULL = GSSAPI
	 * off.  Not copied: must outlive the session.  Offered also under
	 * logindisabled (no password crosses the wire). */
	const struct tj_auth_krb5_config *gssapi;
	imap_learn_fn *learn;      /* optional: spam learning from Junk moves */
	void *learn_ctx;
} imap_session_config;

/* Limits of one session. */
#define IMAP_SESSION_MAX_BAD_PREAUTH 10   /* BADs before login, then BYE */
#define IMAP_SESSION_MAX_BAD 50           /* BADs in a row after login, then BYE */
#define IMAP_SESSION_MAX_AUTH_FAILS 3     /* failed logins, then BYE */
#define IMAP_SESSION_MAX_INPUT (2u << 20) /* unparsed input held (not literal data) */
#define IMAP_SESSION_MAX_INPUT_PREAUTH (64u << 10) /* the same before login */
#define IMAP_SESSION_OUTPUT_HIGH (4u << 20) /* run() stops parsing over this much output */
#define IMAP_SESSION_TIMEOUT_PREAUTH_MS (60u * 1000)       /* autologout before login */
#define IMAP_SESSION_TIMEOUT_MS (30u * 60 * 1000)          /* after login (RFC 3501 5.4: >= 30 min) */

/* ---- the notifier: one per process ---- */

/* imap_notify_new - 0 or -ENOMEM.  imap_notify_free NULLs *n; every session
 * using it must be freed first. */
int imap_notify_new(imap_notify **n_r);
void imap_notify_free(imap_notify **n);
/* imap_notify_changed - mailbox mbox_id now has HIGHESTMODSEQ modseq (or was
 * deleted/renamed): every session that has it selected, except `origin`
 * (may be NULL), gets a pending notification and its wakeup callback.
 * Thread-safe.  Sessions call this after each of their own writes; other
 * writers (SMTP delivery, replication apply) should call it too. */
void imap_notify_changed(imap_notify *n, uint64_t mbox_id, uint64_t modseq, const imap_session *origin);

/* ---- sessions ---- */

/* imap_session_new - a session in the not-authenticated state with the
 * greeting queued as output.  cfg is copied.  0, TJ_EINVAL (missing
 * store/notify/auth) or -ENOMEM. */
int imap_session_new(const imap_session_config *cfg, imap_session **s_r);
/* imap_session_free - unregister from the notifier and release; NULLs *s. */
void imap_session_free(imap_session **s);

/* imap_session_feed - queue client bytes for the next run().  0, or
 * TJ_ETOOBIG when more than IMAP_SESSION_MAX_INPUT + the largest literal
 * (IMAP_SESSION_MAX_INPUT_PREAUTH before login) would be waiting
 * unprocessed: nothing was queued; the server should stop reading until
 * run() has caught up (or, before login, drop the client).  -ENOMEM. */
int imap_session_feed(imap_session *s, const void *buf, size_t len);

/* imap_session_run - parse and execute everything that can be executed now:
 * queued commands, IDLE notifications, continuation requests.  Blocks on
 * store reads and writes.  Returns 0, or -ENOMEM (the session is then
 * marked to close). */
int imap_session_run(imap_session *s);

/* imap_session_needs_run - true when run() has work: unprocessed input, or
 * a pending notification while the session is in IDLE (outside IDLE the
 * next command reports it). */
bool imap_session_needs_run(imap_session *s);
/* imap_session_has_pending_notify - another session changed the selected
 * mailbox since this one last looked (run() reports it: during IDLE at
 * once, otherwise with the next command). */
bool imap_session_has_pending_notify(imap_session *s);

/* imap_session_output - move all pending output bytes to the end of out.
 * 0 or a tj_buf error (then nothing was moved). */
int imap_session_output(imap_session *s, tj_buf *out);
/* imap_session_wants_close - the session ended (LOGOUT, BYE after too many
 * errors, deleted mailbox): close after writing the pending output. */
bool imap_session_wants_close(imap_session *s);

/* imap_session_starttls_pending - STARTTLS was accepted: write the output,
 * then start the TLS handshake and call imap_session_tls_started().  Input
 * fed before that is discarded (RFC 3501 6.2.1). */
bool imap_session_starttls_pending(imap_session *s);
void imap_session_tls_started(imap_session *s);

/* imap_session_timeout_ms - the idle (autologout) timer the server should
 * run for this session now: IMAP_SESSION_TIMEOUT_PREAUTH_MS before login,
 * IMAP_SESSION_TIMEOUT_MS after (IDLE included). */
unsigned imap_session_timeout_ms(imap_session *s);
/* imap_session_bye - queue "* BYE <text>" and mark the session to close
 * (autologout timer, server shutdown).  Loop thread, never while run() is
 * executing. */
void imap_session_bye(imap_session *s, const char *text);

/* imap_session_user - the logged-in user name, or NULL. */
const char *imap_session_user(imap_session *s);

#endif

/*
 * imap-private.h - the session struct and helpers shared by the command
 * files (cmd-*.c).  Not for use outside node/imap/.
 *
 * Everything below "run-side state" is touched only by imap_session_run()
 * and the handlers it calls (one thread at a time); the fields under `mu`
 * are shared with the loop thread.
 */
#ifndef TJ_NODE_IMAP_PRIVATE_H
#define TJ_NODE_IMAP_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "node/imap/imap-session.h"
#include "protocol/imap/imap-parser.h"
#include "protocol/imap/imap-seqset.h"
#include "store/store.h"

struct tj_mime_msg;
struct tj_gss_session;

enum imap_state { IMAP_ST_NOAUTH, IMAP_ST_AUTH, IMAP_ST_SELECTED, IMAP_ST_LOGOUT };
enum imap_mode { IMAP_MODE_CMD, IMAP_MODE_IDLE, IMAP_MODE_SASL };

/* dispatch flags */
enum imap_cmd_flags {
	IMAP_CMDF_PREAUTH = 1 << 0,     /* allowed before authentication */
	IMAP_CMDF_AUTH = 1 << 1,        /* allowed after authentication */
	IMAP_CMDF_SELECTED = 1 << 2,    /* needs a selected mailbox */
	IMAP_CMDF_USES_SEQS = 1 << 3,   /* refers to message numbers: no untagged
					 * EXPUNGE may be sent after it (RFC 3501 7.4.1) */
	IMAP_CMDF_BREAKS_SEQS = 1 << 4, /* changes the numbering itself (informational
					 * today; for a future pipelining scheduler) */
};

typedef void imap_cmd_fn(imap_session *s, const struct imap_command *cmd);

struct imap_cmd_def {
	const char *name;
	imap_cmd_fn *fn;
	uint32_t flags;
};

/* a growable list of UIDs */
struct imap_uids {
	uint32_t *v;
	size_t n, cap;
};

struct imap_session {
	imap_session_config cfg;
	char *greeting;

	/* shared with the loop thread */
	pthread_mutex_t mu;
	tj_buf in_pending;
	tj_buf out_pending;
	bool close;
	bool starttls_pending;
	bool authed;         /* feed() limits: pre-auth or not */
	bool backlog;        /* run() stopped with input left (output was full) */
	atomic_bool notify_pending;

	/* guarded by the notifier's lock */
	uint64_t watch_mbox; /* 0 = none */

	/* run-side state */
	tj_buf in;           /* bytes not yet consumed by the parser */
	size_t in_off;
	struct imap_parser *parser;
	tj_buf out;          /* responses being built */
	enum imap_state state;
	enum imap_mode mode;
	char tag[IMAP_MAX_TAG + 1]; /* IDLE / AUTHENTICATE in progress */
	struct tj_gss_session *gss; /* AUTHENTICATE GSSAPI in progress, else NULL (PLAIN) */
	unsigned bad_count, auth_fails;
	char *user;
	uint32_t user_id;
	bool condstore, qresync; /* ENABLEd (CONDSTORE also by use) */
	bool tls_active;         /* copied from the shared side at each run */
	bool out_err;            /* building output failed (ENOMEM): close */

	/* selected mailbox */
	uint64_t mbox_id;
	bool readonly;
	uint32_t uidvalidity;
	uint64_t modseq;       /* HIGHESTMODSEQ this session has reported */
	struct imap_uids uids; /* message number i+1 has UID uids.v[i] */
	struct imap_uids gone; /* expunged elsewhere, not yet reported */
};

/* ---- output (imap-session.c) ---- */
/* Output buffers bigger than this are handed on rather than copied, and
 * are not kept by an idle session.  Commands answering one line per
 * message move their output on (imap_flush) past IMAP_OUT_FLUSH. */
#define IMAP_OUT_KEEP (64u << 10)
#define IMAP_OUT_FLUSH (4u << 20)
void imap_printf(imap_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* imap_tagged - "<tag> OK|NO|BAD text\r\n" (text may start with "[CODE] "). */
void imap_tagged(imap_session *s, const struct imap_command *cmd, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* imap_bad - tagged BAD, counted against the session's BAD limit. */
void imap_bad(imap_session *s, const struct imap_command *cmd, const char *reason);
/* imap_store_error - tagged NO for a store error (OVERQUOTA, NONEXISTENT ...). */
void imap_store_error(imap_session *s, const struct imap_command *cmd, int rc, const char *what);
/* imap_flush - move s->out to the shared output. */
void imap_flush(imap_session *s);

/* ---- helpers (imap-util.c) ---- */
int imap_uids_add(struct imap_uids *u, uint32_t uid);
void imap_uids_free(struct imap_uids *u);
/* imap_uids_find - index of uid in a sorted list, or -1 */
long imap_uids_find(const struct imap_uids *u, uint32_t uid);
/* imap_uids_to_ranges - sorted UIDs -> malloc'd ranges (*n_r); 0 or -ENOMEM */
int imap_uids_to_ranges(const uint32_t *v, size_t n, tj_range **r_r, uint32_t *n_r);
/* imap_write_uids - append a sorted UID list as "1:3,5" */
void imap_write_uids(tj_buf *b, const uint32_t *v, size_t n);
/* imap_sel_resolve - message indexes (0-based, ascending) of the selected
 * mailbox matching a seq set (uid false) or UID set.  *bad_r set when a
 * message number is beyond the mailbox (reply BAD). 0 or -ENOMEM. */
int imap_sel_resolve(imap_session *s, const struct imap_seqset *set, bool uid, struct imap_uids *idx_r, bool *bad_r);
/* flag conversions between the parser's and the store's bit layouts */
uint32_t imap_flags_to_store(uint32_t imap_bits);
uint32_t imap_flags_from_store(uint32_t store_bits);
/* imap_write_msg_flags - "(\Seen kw)" for a message of mailbox mb, as
 * imap_write_flags writes it.  0 or a tj_buf error. */
int imap_write_msg_flags(tj_buf *b, const tj_mbox_info *mb, const tj_msg_info *m);
/* Response writers without printf, for commands that answer one line per
 * message (FETCH, STORE, flag updates); errors set s->out_err. */
/* imap_out_room - room for n more bytes in s->out; when a big buffer grows,
 * its new pages are faulted in at once.  0 or a tj_buf error. */
int imap_out_room(imap_session *s, size_t n);
/* imap_put_num - append v in decimal.  0 or a tj_buf error. */
int imap_put_num(tj_buf *b, uint64_t v);
/* imap_fetch_begin - "* SEQ FETCH (" */
void imap_fetch_begin(imap_session *s, uint32_t seq);
/* imap_fetch_head - "* SEQ FETCH (" then "UID u" when with_uid, then
 * "FLAGS (...)" when flags_mb is not NULL (m's flags, mailbox flags_mb) */
void imap_fetch_head(imap_session *s, uint32_t seq, bool with_uid, const tj_mbox_info *flags_mb, const tj_msg_info *m);
/* imap_flags_line - "* SEQ FETCH ([UID u ]FLAGS (...)[ MODSEQ (m)])\r\n" */
void imap_flags_line(imap_session *s, uint32_t seq, bool with_uid, const tj_mbox_info *mb, const tj_msg_info *m,
		     bool with_modseq);
/* imap_uids_at - the UIDs of message indexes idx (ascending) of the
 * selected mailbox, as a malloc'd array (NULL when idx is empty).
 * 0 or -ENOMEM. */
int imap_uids_at(imap_session *s, const struct imap_uids *idx, uint32_t **uids_r);
/* imap_mbox_decode - wire (mUTF-7) name -> UTF-8 store name in out (INBOX
 * normalised, trailing '/' dropped).  0 or TJ_EINVAL. */
int imap_mbox_decode(const char *wire, size_t len, tj_buf *out);
/* imap_find_target - the destination mailbox of APPEND, COPY or MOVE, by
 * its wire name: 0 with *mb_r (name_r holds the decoded name); 1 when the
 * command was answered (NO [CANNOT] for a bad name, NO [TRYCREATE] for a
 * missing mailbox); <0 a store error for the caller to answer. */
int imap_find_target(imap_session *s, const struct imap_command *cmd, const char *wire, size_t len, tj_buf *name_r,
		     tj_mbox_info *mb_r);
/* imap_mbox_write - append a store name as a wire astring (mUTF-7). */
void imap_mbox_write(tj_buf *b, const uint8_t *name, size_t len);
/* imap_get_mime - the parsed form of a message, from the cache or parsed now
 * (and cached).  raw_r, when not NULL, gets the raw bytes (read if needed).
 * 0 or an error. */
int imap_get_mime(imap_session *s, tj_rtxn *r, const uint8_t guid[TJ_GUID_LEN], struct tj_mime_msg **msg_r,
		  tj_buf *raw_r);

/* ---- selected-mailbox state (imap-sync.c) ---- */
/* imap_sync - report what changed in the selected mailbox since it was last
 * reported: EXPUNGE/VANISHED (unless allow_expunge is false: then they are
 * remembered), EXISTS, FETCH FLAGS.  0 or an error. */
int imap_sync(imap_session *s, bool allow_expunge);
/* imap_after_write - tell the notifier and advance our reported MODSEQ if
 * no other writer got in between (our own responses covered it). */
void imap_after_write(imap_session *s, uint64_t mbox_id, uint64_t old_modseq, uint64_t new_modseq);
/* imap_expunged - remove UIDs (sorted) from the selected list and report
 * them (EXPUNGE n each, or one VANISHED with QRESYNC). */
void imap_expunged(imap_session *s, const uint32_t *uids, size_t n);
void imap_unselect(imap_session *s);
void imap_watch(imap_session *s, uint64_t mbox_id);

/* ---- command handlers ---- */
imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_enable, cmd_namespace, cmd_starttls;
imap_cmd_fn cmd_login, cmd_authenticate;
imap_cmd_fn cmd_list, cmd_lsub, cmd_status, cmd_create, cmd_delete, cmd_rename, cmd_subscribe,
	cmd_unsubscribe;
imap_cmd_fn cmd_select, cmd_examine, cmd_close, cmd_unselect, cmd_check;
imap_cmd_fn cmd_fetch;
imap_cmd_fn cmd_store, cmd_expunge, cmd_copy, cmd_append;
imap_cmd_fn cmd_search, cmd_idle;
imap_cmd_fn cmd_getquota, cmd_getquotaroot, cmd_setquota;

/* continuation of AUTHENTICATE (cmd-login.c) and IDLE (cmd-idle.c) */
void imap_sasl_line(imap_session *s, const char *line, size_t len);
/* login helpers (cmd-login.c): a tagged NO counted as a failed login (BYE
 * after IMAP_SESSION_MAX_AUTH_FAILS); and the store side of a login for a
 * user the mechanism already authenticated (unknown or disabled -> NO
 * [AUTHENTICATIONFAILED], enabled -> OK and the authenticated state). */
void imap_auth_failed(imap_session *s, const char *tag, const char *text);
void imap_login_user(imap_session *s, const char *tag, const char *user, size_t ulen);
/* AUTHENTICATE GSSAPI (cmd-auth-gssapi.c): start (ir = the SASL-IR
 * argument or NULL), one continuation line, and dropping an exchange in
 * progress (session end, overlong line) */
void imap_gssapi_start(imap_session *s, const char *tag, const char *ir, size_t irlen);
void imap_gssapi_line(imap_session *s, const char *line, size_t len);
void imap_gssapi_reset(imap_session *s);
void imap_idle_line(imap_session *s, const char *line, size_t len);
/* imap_capabilities - the capability list for the session's state */
void imap_capabilities(imap_session *s, tj_buf *b);
/* imap_status_write - "* STATUS name (items)" for a mailbox */
void imap_status_write(imap_session *s, const tj_mbox_info *m, uint32_t items);

#endif

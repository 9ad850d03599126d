/*
 * smtp.h - SMTP (RFC 5321) and LMTP (RFC 2033) protocol engine: pure, no I/O.
 *
 * Bytes in, events out; results in, reply bytes out.  The server owns the
 * socket, TLS, the user database, scanning and the store; this module owns
 * the protocol: line framing, command parsing, sequencing, reply codes, the
 * DATA stream (dot-unstuffing, end-of-data, CRLF normalisation, size and hop
 * limits) and header/reply formatting.  See docs/smtp-protocol.md.
 *
 * Typical server loop (one session per connection, one thread at a time):
 *
 *   s = tj_smtp_session_new(&cfg);   tj_smtp_start(s);   flush output
 *   on read:  tj_smtp_feed(s, buf, n);
 *             while ((rc = tj_smtp_next(s, &ev)) == 0) handle(ev);
 *             write out everything tj_smtp_take_output() gives;
 *             rc == TJ_NEED_MORE: read more;  TJ_ESTATE: an answer (or
 *             tj_smtp_tls_started) is owed, stop reading until it is given;
 *             TJ_ECLOSED: flush output, then close the connection.
 *   events with ev.needs_answer are answered, now or later (asynchronous
 *   lookups), with tj_smtp_answer() / tj_smtp_answer_rcpt(); then call
 *   tj_smtp_next() again, since pipelined commands may be waiting.
 *
 * Ownership: pointers in an event (cmd, chunk) are owned by the session and
 * valid until the next call of any tj_smtp_* function on that session.
 * Strings passed in (config, answer text) are copied or used immediately.
 */
#ifndef TJ_SMTP_H
#define TJ_SMTP_H

#include "common/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* ---------------------------------------------------------------- limits */

#define TJ_SMTP_LINE_RFC 512          /* RFC 5321 4.5.3.1.4: command line incl. CRLF */
#define TJ_SMTP_LINE_MAX 4096         /* longest command line we accept (incl. CRLF) */
#define TJ_SMTP_LOCAL_MAX 64          /* RFC 5321 4.5.3.1.1 local-part */
#define TJ_SMTP_DOMAIN_MAX 255        /* RFC 5321 4.5.3.1.2 domain */
#define TJ_SMTP_PATH_MAX 256          /* RFC 5321 4.5.3.1.3 path incl. "<" ">" */
#define TJ_SMTP_LABEL_MAX 63          /* RFC 1035 label */
#define TJ_SMTP_PARAM_VALUE_MAX 500   /* ESMTP parameter value kept (ENVID, ORCPT) */
#define TJ_SMTP_DEFAULT_MAX_SIZE (50u * 1024 * 1024)
#define TJ_SMTP_DEFAULT_MAX_RCPTS 100 /* RFC 5321 4.5.3.1.8 minimum */
#define TJ_SMTP_DEFAULT_MAX_HOPS 100  /* Received: headers before 554 5.4.6 */
#define TJ_SMTP_DEFAULT_MAX_ERRORS 20 /* protocol errors before 421 and close */
#define TJ_SMTP_CHUNK 65536           /* DATA input decoded per chunk event */
#define TJ_SMTP_INPUT_MAX (1024 * 1024) /* unprocessed input a session will buffer */

/* ------------------------------------------------------------ extensions */

enum tj_smtp_ext {
	TJ_SMTP_EXT_PIPELINING = 1u << 0,
	TJ_SMTP_EXT_SIZE = 1u << 1,
	TJ_SMTP_EXT_8BITMIME = 1u << 2,
	TJ_SMTP_EXT_ENHANCEDSTATUSCODES = 1u << 3,
	TJ_SMTP_EXT_STARTTLS = 1u << 4, /* offered only while TLS is not active */
	TJ_SMTP_EXT_SMTPUTF8 = 1u << 5,
};
#define TJ_SMTP_EXT_DEFAULT                                                        \
	(TJ_SMTP_EXT_PIPELINING | TJ_SMTP_EXT_SIZE | TJ_SMTP_EXT_8BITMIME |         \
	 TJ_SMTP_EXT_ENHANCEDSTATUSCODES | TJ_SMTP_EXT_SMTPUTF8)

/*
 * Bare LF policy (RFC 5321 2.3.8 and 4.1.1.4: CR and LF only as CRLF, and
 * "<LF>.<LF>" MUST NOT end the data).  See docs/smtp-protocol.md.
 */
enum tj_smtp_lf_policy {
	/* default.  A bare LF ends a command or content line and is stored as
	 * CRLF; end of data is only CRLF "." CRLF after a CRLF-ended line, so a
	 * "." line touched by a bare LF is content (anti-smuggling). */
	TJ_SMTP_LF_NORMALIZE = 0,
	/* Bare LF refused: a command line ending in bare LF gets 500 5.5.2; a
	 * message containing one is read to its real end, then 550 5.5.2. */
	TJ_SMTP_LF_STRICT,
	/* Bare LF is CRLF everywhere, "\n.\n" included.  Only for trusted
	 * clients (a local MTA over LMTP); it permits SMTP smuggling. */
	TJ_SMTP_LF_LENIENT,
};

enum tj_smtp_proto { TJ_SMTP_PROTO_SMTP = 0, TJ_SMTP_PROTO_LMTP };

struct tj_smtp_config {
	enum tj_smtp_proto proto;
	const char *hostname;       /* our name in greeting/EHLO; NULL = "localhost" */
	unsigned ext;               /* TJ_SMTP_EXT_* offered; 0 = TJ_SMTP_EXT_DEFAULT */
	uint64_t max_size;          /* message size limit; 0 = TJ_SMTP_DEFAULT_MAX_SIZE */
	unsigned max_rcpts;         /* 0 = TJ_SMTP_DEFAULT_MAX_RCPTS */
	unsigned max_hops;          /* 0 = TJ_SMTP_DEFAULT_MAX_HOPS */
	unsigned max_errors;        /* 0 = TJ_SMTP_DEFAULT_MAX_ERRORS */
	enum tj_smtp_lf_policy lf_policy;
	bool tls_active;            /* implicit TLS listener: STARTTLS never offered */
};

/* ------------------------------------------------------------- commands */

enum tj_smtp_verb {
	TJ_SMTP_UNKNOWN = 0,
	TJ_SMTP_HELO, TJ_SMTP_EHLO, TJ_SMTP_LHLO,
	TJ_SMTP_MAIL, TJ_SMTP_RCPT, TJ_SMTP_DATA,
	TJ_SMTP_RSET, TJ_SMTP_NOOP, TJ_SMTP_QUIT,
	TJ_SMTP_VRFY, TJ_SMTP_EXPN, TJ_SMTP_HELP, TJ_SMTP_STARTTLS,
	TJ_SMTP_NOTIMPL, /* recognised but not implemented: AUTH BDAT ETRN TURN ... */
	TJ_SMTP_VERB_COUNT
};

enum tj_smtp_body { TJ_SMTP_BODY_NONE = 0, TJ_SMTP_BODY_7BIT, TJ_SMTP_BODY_8BITMIME };

/* A reverse- or forward-path, source route removed.  All strings NUL-terminated. */
struct tj_smtp_path {
	char addr[TJ_SMTP_PATH_MAX + 1];     /* mailbox as sent, e.g. "\"a b\"@x.org"; "" for <> */
	char local[TJ_SMTP_LOCAL_MAX + 1];   /* local part, quotes and quoted-pairs removed */
	char domain[TJ_SMTP_DOMAIN_MAX + 1]; /* domain or "[literal]"; "" for <> and <postmaster> */
	bool null;        /* the null reverse-path <> */
	bool postmaster;  /* local part is "postmaster" (any case); domain may be "" */
	bool quoted;      /* local part was a quoted-string */
	bool utf8;        /* contains non-ASCII (needs SMTPUTF8) */
	bool literal;     /* domain is an address literal */
};

/* Parse outcome: maps to a reply (see tj_smtp_perr_reply). */
enum tj_smtp_perr {
	TJ_SMTP_PERR_OK = 0,
	TJ_SMTP_PERR_SYNTAX,        /* 501 5.5.4 */
	TJ_SMTP_PERR_DOMAIN,        /* 501 5.5.4 invalid HELO/EHLO domain */
	TJ_SMTP_PERR_SENDER,        /* 501 5.1.7 bad sender address syntax */
	TJ_SMTP_PERR_RCPT,          /* 501 5.1.3 bad recipient address syntax */
	TJ_SMTP_PERR_PATH_LONG,     /* 501 5.1.7/5.1.3 path/local part/domain too long */
	TJ_SMTP_PERR_PARAM,         /* 555 5.5.4 unsupported/unknown parameter */
	TJ_SMTP_PERR_PARAM_SYNTAX,  /* 501 5.5.4 malformed or duplicate parameter */
	TJ_SMTP_PERR_UNKNOWN,       /* 500 5.5.2 unknown command */
	TJ_SMTP_PERR_NUL,           /* 500 5.5.2 NUL byte in command */
};

struct tj_smtp_cmd {
	enum tj_smtp_verb verb;
	enum tj_smtp_perr perr;      /* parse result; the verb is set even on error */
	char verb_text[16];          /* the verb as sent (truncated), for logs */
	/* HELO/EHLO/LHLO */
	char domain[TJ_SMTP_DOMAIN_MAX + 1];
	/* MAIL/RCPT */
	struct tj_smtp_path path;
	/* MAIL parameters */
	bool has_size;
	uint64_t size;               /* SIZE=; UINT64_MAX if it overflowed */
	enum tj_smtp_body body;
	bool smtputf8;
	char ret[5];                 /* RET=FULL|HDRS (DSN, tolerated) */
	char envid[TJ_SMTP_PARAM_VALUE_MAX + 1];
	/* RCPT parameters (DSN, tolerated) */
	unsigned notify;             /* TJ_SMTP_NOTIFY_* */
	char orcpt[TJ_SMTP_PARAM_VALUE_MAX + 1];
	/* VRFY/EXPN/HELP/NOOP argument (rest of line), "" if none */
	char arg[TJ_SMTP_LINE_MAX];
	unsigned unknown_param_index; /* for PERR_PARAM: which parameter (0-based) */
};

#define TJ_SMTP_NOTIFY_NEVER 1u
#define TJ_SMTP_NOTIFY_SUCCESS 2u
#define TJ_SMTP_NOTIFY_FAILURE 4u
#define TJ_SMTP_NOTIFY_DELAY 8u

/*
 * tj_smtp_parse_command - parse one command line (without its CRLF).
 * Verbs and parameter keywords are case-insensitive; trailing blanks are
 * ignored.  lmtp selects LMTP's verb set (LHLO instead of HELO/EHLO).
 * Returns 0 when the line parsed; otherwise TJ_EPROTO with cmd_r->perr
 * naming the problem (cmd_r->verb is still set when the verb was known).
 */
int tj_smtp_parse_command(const char *line, size_t len, bool lmtp, struct tj_smtp_cmd *cmd_r);

/*
 * tj_smtp_parse_path - parse "<...>" (with optional source route) at *pp;
 * on success *pp points past ">".  allow_null accepts "<>"; allow_postmaster
 * accepts "<postmaster>" without a domain.  Returns 0, or TJ_EPROTO
 * (syntax) / TJ_ETOOBIG (a length limit).
 */
int tj_smtp_parse_path(const char **pp, const char *end, bool allow_null, bool allow_postmaster,
		       struct tj_smtp_path *path_r);

#define TJ_SMTP_DOM_UNDERSCORE 1u /* tolerate '_' in labels (HELO names seen in the wild) */
#define TJ_SMTP_DOM_UTF8 2u       /* allow UTF-8 U-labels (SMTPUTF8 addresses) */
#define TJ_SMTP_DOM_NO_LITERAL 4u /* refuse address literals */

/* tj_smtp_check_domain - true if s (len bytes) is a valid RFC 5321 Domain
 * (at most 255 bytes, labels of 1..63 letters, digits, hyphens, not
 * starting or ending with a hyphen) or address-literal ([IPv4],
 * [IPv6:...], [tag:content]).  flags: TJ_SMTP_DOM_*. */
bool tj_smtp_check_domain(const char *s, size_t len, unsigned flags);

/* tj_smtp_utf8_len - length of the well-formed UTF-8 sequence at p (lead
 * byte >= 0x80, p < end), or 0 if it is malformed (overlong, surrogate,
 * > U+10FFFF, truncated). */
size_t tj_smtp_utf8_len(const unsigned char *p, const unsigned char *end);

/* tj_smtp_verb_name - canonical upper-case name of a verb. */
const char *tj_smtp_verb_name(enum tj_smtp_verb v);

/* ------------------------------------------------------- DATA decoding */

enum tj_smtp_data_state { TJ_SMTP_DS_LINE_START = 0, TJ_SMTP_DS_MID, TJ_SMTP_DS_CR, TJ_SMTP_DS_DOT,
			  TJ_SMTP_DS_DOT_CR, TJ_SMTP_DS_DONE };

/*
 * The DATA stream decoder, usable on its own.  Decoded output is the message
 * with dots unstuffed and every line ending CRLF (see the LF policy); bytes
 * are counted against max_size and output stops once it is exceeded, but the
 * decoder keeps reading until the end-of-data line so the session stays in
 * sync.  Received: header fields in the header section are counted as hops.
 */
struct tj_smtp_data {
	enum tj_smtp_data_state st;
	enum tj_smtp_lf_policy lf;
	bool prev_crlf;          /* the previous line ended in CRLF */
	bool in_headers;         /* still in the header section */
	bool bare_lf;            /* a bare LF was seen */
	bool overflow;           /* size > max_size */
	bool too_many_hops;      /* hops > max_hops */
	unsigned hops;
	unsigned hdr_match;      /* bytes of "Received:" matched on this line */
	size_t out_line_len;     /* decoded bytes on the current line */
	uint64_t size;           /* decoded bytes (including those not output) */
	uint64_t max_size;       /* 0 = unlimited */
	unsigned max_hops;       /* 0 = unlimited */
};

/* tj_smtp_data_init - start a message.  prev_crlf: the DATA command line
 * ended in CRLF (it counts as the CRLF before a leading "."). */
void tj_smtp_data_init(struct tj_smtp_data *d, enum tj_smtp_lf_policy lf, uint64_t max_size,
		       unsigned max_hops, bool prev_crlf);

/*
 * tj_smtp_data_decode - decode len bytes of DATA input, appending to out
 * (nothing is appended once the size limit is exceeded).  *used_r is the
 * number of input bytes consumed.  Returns 0 when the end-of-data line was
 * consumed (bytes after it were not), TJ_NEED_MORE when all input was
 * consumed without reaching the end, or -ENOMEM/TJ_ETOOBIG from out.
 */
int tj_smtp_data_decode(struct tj_smtp_data *d, const void *in, size_t len, size_t *used_r, tj_buf *out);

/* ------------------------------------------------------------- session */

struct tj_smtp_session;

enum tj_smtp_phase {
	TJ_SMTP_PH_GREETING = 0, /* before tj_smtp_start */
	TJ_SMTP_PH_INIT,         /* greeted, no HELO/EHLO/LHLO yet */
	TJ_SMTP_PH_HELO,         /* ready for MAIL */
	TJ_SMTP_PH_MAIL,         /* MAIL accepted, no recipient yet */
	TJ_SMTP_PH_RCPT,         /* at least one recipient accepted */
	TJ_SMTP_PH_DATA,         /* reading message content */
	TJ_SMTP_PH_CLOSED,       /* QUIT, 421 or fatal error: flush and close */
};

enum tj_smtp_ev_type {
	TJ_SMTP_EV_HELO = 1,   /* info: HELO/EHLO/LHLO accepted (cmd); any transaction dropped */
	TJ_SMTP_EV_MAIL,       /* answer: sender (cmd->path, params) */
	TJ_SMTP_EV_RCPT,       /* answer: recipient lookup (cmd->path, rcpt_index) */
	TJ_SMTP_EV_DATA,       /* answer: ready to receive a message? (open spool) */
	TJ_SMTP_EV_DATA_CHUNK, /* info: decoded message bytes (chunk) */
	TJ_SMTP_EV_DATA_END,   /* answer: message complete (msg); deliver it */
	TJ_SMTP_EV_DATA_ABORT, /* info: message refused by the engine (abort), replies sent */
	TJ_SMTP_EV_RSET,       /* info: RSET: transaction dropped */
	TJ_SMTP_EV_STARTTLS,   /* info: 220 queued; flush, handshake, then tj_smtp_tls_started */
	TJ_SMTP_EV_QUIT,       /* info: 221 queued; flush and close */
	TJ_SMTP_EV_CLOSE,      /* info: 421 queued (too many errors); flush and close */
};

enum tj_smtp_abort {
	TJ_SMTP_ABORT_NONE = 0,
	TJ_SMTP_ABORT_SIZE,    /* 552 5.3.4 */
	TJ_SMTP_ABORT_HOPS,    /* 554 5.4.6 */
	TJ_SMTP_ABORT_BARE_LF, /* 550 5.5.2 (strict policy) */
};

struct tj_smtp_msginfo {
	uint64_t size;       /* decoded size in bytes (CRLF line ends) */
	unsigned hops;       /* Received: fields counted */
	bool bare_lf;        /* a bare LF was normalised */
	enum tj_smtp_body body;
	bool smtputf8;
	size_t nrcpts;       /* accepted recipients */
};

struct tj_smtp_event {
	enum tj_smtp_ev_type type;
	bool needs_answer;
	const struct tj_smtp_cmd *cmd; /* HELO, MAIL, RCPT, DATA */
	size_t rcpt_index;             /* RCPT: index the recipient gets if accepted */
	tj_slice chunk;                /* DATA_CHUNK */
	struct tj_smtp_msginfo msg;    /* DATA_END, DATA_ABORT */
	enum tj_smtp_abort abort;      /* DATA_ABORT */
};

/* Decisions the server returns.  Each has a default reply (code, enhanced
 * code and text); tj_smtp_answer's text replaces the text only. */
enum tj_smtp_status {
	TJ_SMTP_OK = 0,           /* 250 2.1.0 / 2.1.5 / 354 / 250 2.0.0 */
	TJ_SMTP_NO_SUCH_USER,     /* 550 5.1.1 */
	TJ_SMTP_DISABLED,         /* 550 5.2.1 */
	TJ_SMTP_OVER_QUOTA,       /* 452 4.2.2 */
	TJ_SMTP_OVER_QUOTA_PERM,  /* 552 5.2.2 */
	TJ_SMTP_TEMPFAIL,         /* 451 4.3.0 */
	TJ_SMTP_REJECT,           /* 550 5.7.1 policy */
	TJ_SMTP_TOO_BIG,          /* 552 5.3.4 */
	TJ_SMTP_NO_STORAGE,       /* 452 4.3.1 */
	TJ_SMTP_VIRUS,            /* 554 5.7.0 */
	TJ_SMTP_STATUS_COUNT
};

/* tj_smtp_session_new - a session (no greeting yet).  NULL on ENOMEM or if
 * cfg is unusable (hostname longer than TJ_SMTP_DOMAIN_MAX). */
struct tj_smtp_session *tj_smtp_session_new(const struct tj_smtp_config *cfg);
/* tj_smtp_session_free - release *sp and set it to NULL (NULL is fine). */
void tj_smtp_session_free(struct tj_smtp_session **sp);

/* tj_smtp_start - queue the greeting (220 <host> ESMTP|LMTP ...) and begin
 * accepting commands.  0, TJ_ESTATE if already started, or -ENOMEM. */
int tj_smtp_start(struct tj_smtp_session *s);

/* tj_smtp_refuse - instead of greeting: queue "554 5.3.2 <text>" (or
 * 421 4.3.2 when temporary) and close.  For block lists or overload. */
int tj_smtp_refuse(struct tj_smtp_session *s, bool temporary, const char *text);

/* tj_smtp_shutdown - queue "421 4.<x> <host> <text>" and close at once
 * (server shutdown: 4.3.2, idle timeout: pass timeout=true for 4.4.2). */
int tj_smtp_shutdown(struct tj_smtp_session *s, bool timeout, const char *text);

/*
 * tj_smtp_feed - queue received bytes.  Nothing is parsed here; call
 * tj_smtp_next.  Returns 0; TJ_ECLOSED after the session closed (bytes are
 * dropped); TJ_ETOOBIG when more than TJ_SMTP_INPUT_MAX bytes would wait
 * unprocessed (a client pipelining without end while an answer is owed: the
 * server should tj_smtp_shutdown); -ENOMEM.
 */
int tj_smtp_feed(struct tj_smtp_session *s, const void *buf, size_t len);

/*
 * tj_smtp_next - process queued input until something happens.
 * Returns 0 with *ev_r filled; TJ_NEED_MORE when the input is used up;
 * TJ_ESTATE while an answer or tj_smtp_tls_started is owed (or before
 * tj_smtp_start); TJ_ECLOSED once the session is over; -ENOMEM.
 * Replies accumulate in the output buffer as commands are processed.
 */
int tj_smtp_next(struct tj_smtp_session *s, struct tj_smtp_event *ev_r);

/*
 * tj_smtp_answer - answer the pending MAIL, RCPT, DATA or DATA_END event.
 * text (NULL = default) replaces the reply text and is sanitised.  For an
 * LMTP DATA_END it answers every recipient not yet answered.  Returns 0,
 * TJ_ESTATE if no answer is owed, TJ_EINVAL for a bad status, -ENOMEM.
 */
int tj_smtp_answer(struct tj_smtp_session *s, enum tj_smtp_status st, const char *text);

/* tj_smtp_answer_code - as tj_smtp_answer with an explicit reply: esc
 * "x.y.z" (NULL: none).  Acceptance is 354 for DATA, 2xx for the others;
 * 4xx/5xx refuse.  TJ_EINVAL for any other code. */
int tj_smtp_answer_code(struct tj_smtp_session *s, int code, const char *esc, const char *text);

/*
 * tj_smtp_answer_rcpt - LMTP DATA_END: the result for accepted recipient
 * idx (0-based, in RCPT order), in any order; the replies are written in
 * RCPT order once all are known.  0, TJ_ESTATE (not an LMTP DATA_END, or idx
 * already answered), TJ_EINVAL (bad idx/status), -ENOMEM.
 */
int tj_smtp_answer_rcpt(struct tj_smtp_session *s, size_t idx, enum tj_smtp_status st, const char *text);
int tj_smtp_answer_rcpt_code(struct tj_smtp_session *s, size_t idx, int code, const char *esc,
			     const char *text);

/* tj_smtp_tls_started - the TLS handshake after STARTTLS succeeded: reset to
 * the post-greeting state (RFC 3207 4.2), forget HELO and any input queued
 * before the handshake.  0 or TJ_ESTATE if no STARTTLS was pending. */
int tj_smtp_tls_started(struct tj_smtp_session *s);

/* tj_smtp_take_output - move queued reply bytes to the end of dst.
 * 0 or -ENOMEM/TJ_ETOOBIG (nothing moved). */
int tj_smtp_take_output(struct tj_smtp_session *s, tj_buf *dst);
/* tj_smtp_output_len - bytes of replies queued. */
size_t tj_smtp_output_len(const struct tj_smtp_session *s);

/* Session state for the server (strings valid until the next call). */
enum tj_smtp_phase tj_smtp_phase(const struct tj_smtp_session *s);
bool tj_smtp_is_lmtp(const struct tj_smtp_session *s);
bool tj_smtp_tls_active(const struct tj_smtp_session *s);
bool tj_smtp_esmtp(const struct tj_smtp_session *s);            /* EHLO/LHLO, not HELO */
const char *tj_smtp_helo_name(const struct tj_smtp_session *s); /* "" before HELO */
const struct tj_smtp_path *tj_smtp_sender(const struct tj_smtp_session *s); /* NULL outside a transaction */
size_t tj_smtp_rcpt_count(const struct tj_smtp_session *s);
const struct tj_smtp_path *tj_smtp_rcpt(const struct tj_smtp_session *s, size_t idx); /* NULL if out of range */
size_t tj_smtp_input_pending(const struct tj_smtp_session *s); /* unprocessed input bytes */
unsigned tj_smtp_errors(const struct tj_smtp_session *s);
/* tj_smtp_with - the RFC 3848 "with" keyword for Received: (ESMTP, ESMTPS,
 * LMTP, LMTPS, UTF8SMTPS ... ; "SMTP" after HELO). */
const char *tj_smtp_with(const struct tj_smtp_session *s);

/* --------------------------------------------------------------- replies */

/*
 * tj_smtp_reply - append a reply.  text may hold several lines separated by
 * '\n'; each becomes "code-esc line" with the last "code esc line".  esc may
 * be NULL.  Control characters in text are replaced by '?'.  Returns 0,
 * TJ_EINVAL (code outside 200..599), -ENOMEM or TJ_ETOOBIG.
 */
int tj_smtp_reply(tj_buf *out, int code, const char *esc, const char *text);

/* tj_smtp_status_reply - the default (code, esc, text) for a status and the
 * command it answers (MAIL, RCPT, DATA or the end of DATA). */
void tj_smtp_status_reply(enum tj_smtp_status st, enum tj_smtp_ev_type what, int *code_r, const char **esc_r,
			  const char **text_r);

/* tj_smtp_perr_reply - the reply (code, esc, text) for a parse error. */
void tj_smtp_perr_reply(enum tj_smtp_perr e, enum tj_smtp_verb v, int *code_r, const char **esc_r,
			const char **text_r);

/*
 * tj_smtp_ehlo_reply - append the EHLO/LHLO reply:
 *   250-<host> Hello <client>   then one line per extension in ext
 * (SIZE carries max_size; STARTTLS only when !tls_active).
 * 0, -ENOMEM or TJ_ETOOBIG.
 */
int tj_smtp_ehlo_reply(tj_buf *out, const char *host, const char *client, unsigned ext, uint64_t max_size,
		       bool tls_active);

/* tj_smtp_date - RFC 5322 date-time of t in local time ("Tue, 04 Mar 2025
 * 13:05:09 +0100"), locale-independent.  Returns out. */
char *tj_smtp_date(char *out, size_t outsz, time_t t);

struct tj_smtp_received {
	const char *helo;      /* client's HELO/EHLO/LHLO argument */
	const char *rdns;      /* client's verified reverse DNS name, NULL if none */
	const char *addr;      /* client address text: "192.0.2.1" or "IPv6:2001:db8::1" */
	const char *by;        /* our host name */
	const char *with;      /* tj_smtp_with() */
	const char *tls;       /* e.g. "version=TLSv1.3 cipher=TLS_AES_256_GCM_SHA384", NULL */
	const char *id;        /* queue/message id, NULL for none */
	const char *for_rcpt;  /* the recipient if exactly one, else NULL */
	time_t when;
};

/*
 * tj_smtp_received_header - append an RFC 5321 4.4 trace field, folded:
 *   Received: from <helo> (<rdns> [<addr>])\r\n
 *   \tby <by> (tjstore) with <with> (<tls>) id <id>\r\n
 *   \tfor <rcpt>; <date>\r\n
 * Untrusted strings are sanitised (controls, CR, LF -> '?'); well-formed
 * UTF-8 in <rcpt> is kept (an SMTPUTF8 address, RFC 6531), other non-ASCII
 * becomes '?'.  0, TJ_EINVAL (by/with missing), -ENOMEM.
 */
int tj_smtp_received_header(tj_buf *out, const struct tj_smtp_received *r);

/* tj_smtp_return_path_header - "Return-Path: <sender>\r\n" ("<>" for the
 * null sender).  As for Delivered-To: below, controls and malformed UTF-8
 * become '?', well-formed UTF-8 (an SMTPUTF8 address) is kept.  0 or -ENOMEM. */
int tj_smtp_return_path_header(tj_buf *out, const char *sender);

/* tj_smtp_delivered_to_header - "Delivered-To: <rcpt>\r\n".  0 or -ENOMEM. */
int tj_smtp_delivered_to_header(tj_buf *out, const char *rcpt);

#endif

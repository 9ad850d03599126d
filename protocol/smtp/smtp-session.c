/*
 * smtp-session.c - the SMTP/LMTP session engine: line framing, the command
 * table, sequencing, pending server decisions and the DATA phase.
 *
 * Layout (after OpenSMTPD's smtp_session.c, none of its code): limits live
 * in smtp.h; here are the session struct, the line reader, then a table of
 * {verb, allowed phases, check, proceed}.  check_* functions validate a
 * parsed command against the session and reply on failure; proceed_* act,
 * either replying at once or raising an event the server must answer.
 * Input is queued by tj_smtp_feed and consumed only by tj_smtp_next, which
 * stops while an answer is owed, so replies always leave in command order.
 */
#include "protocol/smtp/smtp.h"
#include "common/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ESC_MAX 12
#define ANSWER_TEXT_MAX 400
#define INPUT_COMPACT 65536 /* move unread input to the front past this offset */

enum await {
	AW_NONE = 0,
	AW_MAIL,
	AW_RCPT,
	AW_DATA,
	AW_DATA_END,
	AW_TLS,
};

struct answer {
	bool set;
	int code;
	char esc[ESC_MAX];
	char text[ANSWER_TEXT_MAX + 1];
};

struct tj_smtp_session {
	struct tj_smtp_config cfg;
	char hostname[TJ_SMTP_DOMAIN_MAX + 1];
	enum tj_smtp_phase phase;
	enum await await;
	bool tls;
	bool esmtp;
	char helo[TJ_SMTP_DOMAIN_MAX + 1];
	unsigned errors;

	tj_buf in;          /* queued input; in.data[in_off..] unread */
	size_t in_off;
	bool skipping;      /* discarding an over-long line up to its LF */
	tj_buf out;         /* queued replies */

	struct tj_smtp_cmd cmd; /* the command being handled (events point here) */

	/* transaction */
	bool has_sender;
	struct tj_smtp_path sender;
	bool smtputf8;
	enum tj_smtp_body body;
	bool rcpt_tried;    /* some RCPT was answered (even if refused) */
	struct tj_smtp_path *rcpts;
	size_t nrcpts, rcpts_cap;

	/* DATA */
	bool data_line_crlf;   /* the DATA command line ended in CRLF */
	struct tj_smtp_data data;
	bool data_finished;    /* end-of-data seen, DATA_END/ABORT not yet raised */
	tj_buf chunk;
	struct answer *answers; /* LMTP: one per recipient */
	size_t nanswered;
};

/* ---------------------------------------------------------------- helpers */

/* Handlers return STEP_EVENT (0: *ev filled), STEP_REPLIED (reply queued,
 * no event) or <0 (error); check functions STEP_PASS to let the command on. */
enum { STEP_EVENT = 0, STEP_REPLIED = 1, STEP_PASS = 2 };


static int reply(struct tj_smtp_session *s, int code, const char *esc, const char *text)
{
	if (!(s->cfg.ext & TJ_SMTP_EXT_ENHANCEDSTATUSCODES))
		esc = NULL;
	return tj_smtp_reply(&s->out, code, esc, text);
}

static void reset_transaction(struct tj_smtp_session *s)
{
	s->has_sender = false;
	memset(&s->sender, 0, sizeof(s->sender));
	s->smtputf8 = false;
	s->body = TJ_SMTP_BODY_NONE;
	s->rcpt_tried = false;
	s->nrcpts = 0;
	free(s->answers);
	s->answers = NULL;
	s->nanswered = 0;
	s->data_finished = false;
	tj_buf_reset(&s->chunk);
}

/* a protocol error (syntax, sequence, unknown command, long line): count it
 * and close with 421 past the limit.  STEP_REPLIED, STEP_EVENT (CLOSE) or <0. */
static int proto_error(struct tj_smtp_session *s, struct tj_smtp_event *ev, int code, const char *esc,
		       const char *text)
{
	int rc = reply(s, code, esc, text);
	if (rc < 0)
		return rc;
	if (++s->errors < s->cfg.max_errors)
		return STEP_REPLIED;
	char msg[TJ_SMTP_DOMAIN_MAX + 64];
	snprintf(msg, sizeof(msg), "%s Too many errors, closing connection", s->hostname);
	rc = reply(s, 421, "4.7.0", msg);
	if (rc < 0)
		return rc;
	s->phase = TJ_SMTP_PH_CLOSED;
	ev->type = TJ_SMTP_EV_CLOSE;
	return 0;
}

static int perr(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	int code;
	const char *esc, *text;
	tj_smtp_perr_reply(s->cmd.perr, s->cmd.verb, &code, &esc, &text);
	return proto_error(s, ev, code, esc, text);
}

/* ------------------------------------------------------- command checks */

static unsigned offered(const struct tj_smtp_session *s)
{
	unsigned ext = s->esmtp ? s->cfg.ext : 0;
	if (s->tls)
		ext &= ~(unsigned)TJ_SMTP_EXT_STARTTLS;
	return ext;
}

typedef int check_fn(struct tj_smtp_session *s, struct tj_smtp_event *ev);
typedef int proceed_fn(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf);

static int check_mail(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	const struct tj_smtp_cmd *c = &s->cmd;
	unsigned ext = offered(s);
	int rc;
	if ((c->has_size && !(ext & TJ_SMTP_EXT_SIZE)) || (c->body && !(ext & TJ_SMTP_EXT_8BITMIME)) ||
	    (c->smtputf8 && !(ext & TJ_SMTP_EXT_SMTPUTF8)))
		return proto_error(s, ev, 555, "5.5.4", "Unsupported parameter");
	if (c->path.utf8 && !c->smtputf8)
		rc = reply(s, 553, "5.6.7", "Non-ASCII sender address needs SMTPUTF8");
	else if (c->has_size && s->cfg.max_size && c->size > s->cfg.max_size)
		rc = reply(s, 552, "5.3.4", "Message size exceeds fixed maximum message size");
	else
		return STEP_PASS;
	return rc < 0 ? rc : STEP_REPLIED;
}

static int check_rcpt(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	int rc;
	if (s->nrcpts >= s->cfg.max_rcpts)
		rc = reply(s, 452, "4.5.3", "Too many recipients");
	else if (s->cmd.path.utf8 && !s->smtputf8)
		rc = reply(s, 553, "5.6.7", "Non-ASCII recipient address needs SMTPUTF8");
	else
		return STEP_PASS;
	return rc < 0 ? rc : STEP_REPLIED;
}

static int check_data(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	if (s->nrcpts > 0)
		return STEP_PASS;
	if (s->rcpt_tried)
		return proto_error(s, ev, 554, "5.5.1", "No valid recipients");
	return proto_error(s, ev, 503, "5.5.1", "Need RCPT command");
}

static int check_starttls(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	if (s->tls)
		return proto_error(s, ev, 503, "5.5.1", "TLS already active");
	if (!(s->cfg.ext & TJ_SMTP_EXT_STARTTLS))
		return proto_error(s, ev, 502, "5.5.1", "STARTTLS not available");
	return STEP_PASS;
}

/* -------------------------------------------------------------- proceed */

static int proceed_helo(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	reset_transaction(s);
	s->esmtp = s->cmd.verb != TJ_SMTP_HELO;
	snprintf(s->helo, sizeof(s->helo), "%s", s->cmd.domain);
	s->phase = TJ_SMTP_PH_HELO;
	int rc = tj_smtp_ehlo_reply(&s->out, s->hostname, s->helo, offered(s), s->cfg.max_size, s->tls);
	if (rc < 0)
		return rc;
	ev->type = TJ_SMTP_EV_HELO;
	ev->cmd = &s->cmd;
	return 0;
}

static int proceed_mail(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	s->await = AW_MAIL;
	ev->type = TJ_SMTP_EV_MAIL;
	ev->needs_answer = true;
	ev->cmd = &s->cmd;
	return 0;
}

static int proceed_rcpt(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	s->await = AW_RCPT;
	ev->type = TJ_SMTP_EV_RCPT;
	ev->needs_answer = true;
	ev->cmd = &s->cmd;
	ev->rcpt_index = s->nrcpts;
	return 0;
}

static int proceed_data(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	s->await = AW_DATA;
	s->data_line_crlf = crlf;
	ev->type = TJ_SMTP_EV_DATA;
	ev->needs_answer = true;
	ev->cmd = &s->cmd;
	ev->msg.nrcpts = s->nrcpts;
	return 0;
}

static int proceed_rset(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	reset_transaction(s);
	if (s->phase != TJ_SMTP_PH_INIT)
		s->phase = TJ_SMTP_PH_HELO;
	int rc = reply(s, 250, "2.0.0", "OK");
	if (rc < 0)
		return rc;
	ev->type = TJ_SMTP_EV_RSET;
	return 0;
}

static int proceed_noop(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	int rc = reply(s, 250, "2.0.0", "OK");
	return rc < 0 ? rc : STEP_REPLIED;
}

static int proceed_quit(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	char msg[TJ_SMTP_DOMAIN_MAX + 32];
	snprintf(msg, sizeof(msg), "%s closing connection", s->hostname);
	int rc = reply(s, 221, "2.0.0", msg);
	if (rc < 0)
		return rc;
	reset_transaction(s);
	s->phase = TJ_SMTP_PH_CLOSED;
	ev->type = TJ_SMTP_EV_QUIT;
	return 0;
}

static int proceed_vrfy(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	int rc = reply(s, 252, "2.5.2", "Cannot VRFY user, but will accept message and attempt delivery");
	return rc < 0 ? rc : STEP_REPLIED;
}

static int proceed_expn(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	int rc = reply(s, 502, "5.5.1", "EXPN not available");
	return rc < 0 ? rc : STEP_REPLIED;
}

static int proceed_help(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	const char *text = s->cfg.proto == TJ_SMTP_PROTO_LMTP
				   ? "Commands: LHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS\n"
				     "See RFC 2033 and RFC 5321"
				   : "Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS\n"
				     "See RFC 5321";
	int rc = reply(s, 214, "2.0.0", text);
	return rc < 0 ? rc : STEP_REPLIED;
}

static int proceed_starttls(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	int rc = reply(s, 220, "2.0.0", "Ready to start TLS");
	if (rc < 0)
		return rc;
	/* Anything pipelined after STARTTLS arrived in plaintext: drop it so it
	 * can never be taken for a command sent inside TLS. */
	s->in_off = s->in.len;
	s->skipping = false;
	s->await = AW_TLS;
	ev->type = TJ_SMTP_EV_STARTTLS;
	return 0;
}

static int proceed_notimpl(struct tj_smtp_session *s, struct tj_smtp_event *ev, bool crlf)
{
	int rc = reply(s, 502, "5.5.1", "Command not implemented");
	return rc < 0 ? rc : STEP_REPLIED;
}

/* ---------------------------------------------------------------- table */

#define PH(x) (1u << TJ_SMTP_PH_##x)
#define PH_ANY (PH(INIT) | PH(HELO) | PH(MAIL) | PH(RCPT))

struct cmd_def {
	enum tj_smtp_verb verb;
	unsigned phases;
	check_fn *check;
	proceed_fn *proceed;
};

static const struct cmd_def commands[] = {
	{TJ_SMTP_HELO, PH_ANY, NULL, proceed_helo},
	{TJ_SMTP_EHLO, PH_ANY, NULL, proceed_helo},
	{TJ_SMTP_LHLO, PH_ANY, NULL, proceed_helo},
	{TJ_SMTP_MAIL, PH(HELO), check_mail, proceed_mail},
	{TJ_SMTP_RCPT, PH(MAIL) | PH(RCPT), check_rcpt, proceed_rcpt},
	{TJ_SMTP_DATA, PH(MAIL) | PH(RCPT), check_data, proceed_data},
	{TJ_SMTP_RSET, PH_ANY, NULL, proceed_rset},
	{TJ_SMTP_NOOP, PH_ANY, NULL, proceed_noop},
	{TJ_SMTP_QUIT, PH_ANY, NULL, proceed_quit},
	{TJ_SMTP_VRFY, PH_ANY, NULL, proceed_vrfy},
	{TJ_SMTP_EXPN, PH_ANY, NULL, proceed_expn},
	{TJ_SMTP_HELP, PH_ANY, NULL, proceed_help},
	{TJ_SMTP_STARTTLS, PH(HELO), check_starttls, proceed_starttls},
	{TJ_SMTP_NOTIMPL, PH_ANY, NULL, proceed_notimpl},
};

static const struct cmd_def *find_cmd(enum tj_smtp_verb v)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].verb == v)
			return &commands[i];
	return NULL;
}

/* the 503 text for a verb arriving in the wrong phase */
static const char *sequence_text(const struct tj_smtp_session *s, enum tj_smtp_verb v)
{
	bool lmtp = s->cfg.proto == TJ_SMTP_PROTO_LMTP;
	if (s->phase == TJ_SMTP_PH_INIT && (v == TJ_SMTP_MAIL || v == TJ_SMTP_STARTTLS))
		return lmtp ? "Send LHLO first" : "Send HELO/EHLO first";
	switch (v) {
	case TJ_SMTP_MAIL:
		return "Nested MAIL command";
	case TJ_SMTP_RCPT:
	case TJ_SMTP_DATA:
		return "Need MAIL command";
	case TJ_SMTP_STARTTLS:
		return "Mail transaction in progress";
	default:
		return "Bad sequence of commands";
	}
}

/* handle one command line: STEP_EVENT, STEP_REPLIED or <0 */
static int handle_line(struct tj_smtp_session *s, const char *line, size_t len, bool crlf,
		       struct tj_smtp_event *ev)
{
	bool lmtp = s->cfg.proto == TJ_SMTP_PROTO_LMTP;
	if (!crlf && s->cfg.lf_policy == TJ_SMTP_LF_STRICT)
		return proto_error(s, ev, 500, "5.5.2", "Bare LF received; lines must end in CRLF");
	tj_smtp_parse_command(line, len, lmtp, &s->cmd);
	enum tj_smtp_verb v = s->cmd.verb;
	if (v == TJ_SMTP_UNKNOWN)
		return perr(s, ev);
	if (lmtp && (v == TJ_SMTP_HELO || v == TJ_SMTP_EHLO))
		return proto_error(s, ev, 500, "5.5.1", "This is LMTP: use LHLO");
	const struct cmd_def *def = find_cmd(v);
	if (!def)
		return perr(s, ev);
	if (!(def->phases & (1u << s->phase)))
		return proto_error(s, ev, 503, "5.5.1", sequence_text(s, v));
	if (s->cmd.perr != TJ_SMTP_PERR_OK)
		return perr(s, ev);
	if (def->check) {
		int rc = def->check(s, ev);
		if (rc != STEP_PASS)
			return rc;
	}
	return def->proceed(s, ev, crlf);
}

/* ------------------------------------------------------------ line reader */

enum { LINE_OK = 0, LINE_NONE = 1, LINE_LONG = 2 };

static int read_line(struct tj_smtp_session *s, const char **line_r, size_t *len_r, bool *crlf_r)
{
	size_t avail = s->in.len - s->in_off;
	if (avail == 0)
		return LINE_NONE;
	const uint8_t *p = s->in.data + s->in_off;
	const uint8_t *lf = memchr(p, '\n', avail);
	if (!lf) {
		if (s->skipping || avail >= TJ_SMTP_LINE_MAX) {
			s->skipping = true;
			s->in_off += avail;
		}
		return LINE_NONE;
	}
	size_t n = (size_t)(lf - p) + 1;
	s->in_off += n;
	if (s->skipping) {
		s->skipping = false;
		return LINE_LONG;
	}
	if (n > TJ_SMTP_LINE_MAX)
		return LINE_LONG;
	bool crlf = n >= 2 && p[n - 2] == '\r';
	*crlf_r = crlf;
	*line_r = (const char *)p;
	*len_r = n - 1 - (crlf ? 1 : 0);
	return LINE_OK;
}

static void compact_input(struct tj_smtp_session *s)
{
	if (s->in_off == s->in.len) {
		s->in_off = 0;
		tj_buf_truncate(&s->in, 0);
		if (s->in.cap > 2 * INPUT_COMPACT) /* give back a burst's memory */
			tj_buf_free(&s->in);
	} else if (s->in_off > INPUT_COMPACT) {
		size_t left = s->in.len - s->in_off;
		memmove(s->in.data, s->in.data + s->in_off, left);
		s->in_off = 0;
		tj_buf_truncate(&s->in, left);
	}
}

/* ---------------------------------------------------------------- DATA */

static void fill_msginfo(const struct tj_smtp_session *s, struct tj_smtp_msginfo *m)
{
	m->size = s->data.size;
	m->hops = s->data.hops;
	m->bare_lf = s->data.bare_lf;
	m->body = s->body;
	m->smtputf8 = s->smtputf8;
	m->nrcpts = s->nrcpts;
}

static int finish_data(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	s->data_finished = false;
	fill_msginfo(s, &ev->msg);
	enum tj_smtp_abort why = TJ_SMTP_ABORT_NONE;
	int code = 0;
	const char *esc = NULL, *text = NULL;
	if (s->data.overflow) {
		why = TJ_SMTP_ABORT_SIZE;
		code = 552, esc = "5.3.4", text = "Message size exceeds fixed maximum message size";
	} else if (s->data.too_many_hops) {
		why = TJ_SMTP_ABORT_HOPS;
		code = 554, esc = "5.4.6", text = "Too many hops (Received: headers), possible mail loop";
	} else if (s->data.bare_lf && s->cfg.lf_policy == TJ_SMTP_LF_STRICT) {
		why = TJ_SMTP_ABORT_BARE_LF;
		code = 550, esc = "5.5.2", text = "Message contains bare LF; lines must end in CRLF";
	}
	if (why == TJ_SMTP_ABORT_NONE) {
		s->await = AW_DATA_END;
		ev->type = TJ_SMTP_EV_DATA_END;
		ev->needs_answer = true;
		return 0;
	}
	size_t n = s->cfg.proto == TJ_SMTP_PROTO_LMTP ? s->nrcpts : 1;
	for (size_t i = 0; i < n; i++) {
		int rc = reply(s, code, esc, text);
		if (rc < 0)
			return rc;
	}
	reset_transaction(s);
	s->phase = TJ_SMTP_PH_HELO;
	ev->type = TJ_SMTP_EV_DATA_ABORT;
	ev->abort = why;
	return 0;
}

/* 0 = event, TJ_NEED_MORE, <0 error */
static int data_step(struct tj_smtp_session *s, struct tj_smtp_event *ev)
{
	if (s->data_finished)
		return finish_data(s, ev);
	tj_buf_reset(&s->chunk);
	for (;;) {
		size_t avail = s->in.len - s->in_off;
		if (avail == 0)
			return TJ_NEED_MORE;
		size_t n = avail < TJ_SMTP_CHUNK ? avail : TJ_SMTP_CHUNK, used = 0;
		int rc = tj_smtp_data_decode(&s->data, s->in.data + s->in_off, n, &used, &s->chunk);
		s->in_off += used;
		if (rc == 0)
			s->data_finished = true;
		else if (rc != TJ_NEED_MORE)
			return rc;
		if (s->chunk.len) {
			ev->type = TJ_SMTP_EV_DATA_CHUNK;
			ev->chunk.ptr = s->chunk.data;
			ev->chunk.len = s->chunk.len;
			return 0;
		}
		if (s->data_finished)
			return finish_data(s, ev);
	}
}

/* -------------------------------------------------------------- public */

struct tj_smtp_session *tj_smtp_session_new(const struct tj_smtp_config *cfg)
{
	const char *host = cfg->hostname && *cfg->hostname ? cfg->hostname : "localhost";
	if (strlen(host) > TJ_SMTP_DOMAIN_MAX)
		return NULL;
	struct tj_smtp_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->cfg = *cfg;
	snprintf(s->hostname, sizeof(s->hostname), "%s", host);
	s->cfg.hostname = s->hostname;
	if (!s->cfg.ext)
		s->cfg.ext = TJ_SMTP_EXT_DEFAULT;
	if (!s->cfg.max_size)
		s->cfg.max_size = TJ_SMTP_DEFAULT_MAX_SIZE;
	if (!s->cfg.max_rcpts)
		s->cfg.max_rcpts = TJ_SMTP_DEFAULT_MAX_RCPTS;
	if (!s->cfg.max_hops)
		s->cfg.max_hops = TJ_SMTP_DEFAULT_MAX_HOPS;
	if (!s->cfg.max_errors)
		s->cfg.max_errors = TJ_SMTP_DEFAULT_MAX_ERRORS;
	s->tls = cfg->tls_active;
	s->phase = TJ_SMTP_PH_GREETING;
	return s;
}

void tj_smtp_session_free(struct tj_smtp_session **sp)
{
	struct tj_smtp_session *s = *sp;
	if (!s)
		return;
	tj_buf_free(&s->in);
	tj_buf_free(&s->out);
	tj_buf_free(&s->chunk);
	free(s->rcpts);
	free(s->answers);
	free(s);
	*sp = NULL;
}

int tj_smtp_start(struct tj_smtp_session *s)
{
	if (s->phase != TJ_SMTP_PH_GREETING)
		return TJ_ESTATE;
	char msg[TJ_SMTP_DOMAIN_MAX + 32];
	snprintf(msg, sizeof(msg), "%s %s tjstore", s->hostname,
		 s->cfg.proto == TJ_SMTP_PROTO_LMTP ? "LMTP" : "ESMTP");
	int rc = tj_smtp_reply(&s->out, 220, NULL, msg);
	if (rc < 0)
		return rc;
	s->phase = TJ_SMTP_PH_INIT;
	return 0;
}

int tj_smtp_refuse(struct tj_smtp_session *s, bool temporary, const char *text)
{
	if (s->phase != TJ_SMTP_PH_GREETING)
		return TJ_ESTATE;
	int rc = reply(s, temporary ? 421 : 554, temporary ? "4.3.2" : "5.3.2",
		       text ? text : "Service not available, closing connection");
	if (rc < 0)
		return rc;
	s->phase = TJ_SMTP_PH_CLOSED;
	return 0;
}

int tj_smtp_shutdown(struct tj_smtp_session *s, bool timeout, const char *text)
{
	if (s->phase == TJ_SMTP_PH_CLOSED)
		return TJ_ESTATE;
	char msg[TJ_SMTP_DOMAIN_MAX + ANSWER_TEXT_MAX + 2];
	snprintf(msg, sizeof(msg), "%s %s", s->hostname,
		 text ? text : timeout ? "Timeout, closing connection" : "Service shutting down");
	int rc = reply(s, 421, timeout ? "4.4.2" : "4.3.2", msg);
	if (rc < 0)
		return rc;
	s->phase = TJ_SMTP_PH_CLOSED;
	s->await = AW_NONE;
	return 0;
}

int tj_smtp_feed(struct tj_smtp_session *s, const void *buf, size_t len)
{
	if (s->phase == TJ_SMTP_PH_CLOSED)
		return TJ_ECLOSED;
	if (s->in.len - s->in_off + len > TJ_SMTP_INPUT_MAX)
		return TJ_ETOOBIG;
	compact_input(s);
	return tj_buf_append(&s->in, buf, len);
}

int tj_smtp_next(struct tj_smtp_session *s, struct tj_smtp_event *ev_r)
{
	memset(ev_r, 0, sizeof(*ev_r));
	if (s->phase == TJ_SMTP_PH_CLOSED)
		return TJ_ECLOSED;
	if (s->phase == TJ_SMTP_PH_GREETING || s->await != AW_NONE)
		return TJ_ESTATE;
	for (;;) {
		int rc;
		if (s->phase == TJ_SMTP_PH_DATA) {
			rc = data_step(s, ev_r);
			if (rc == TJ_NEED_MORE)
				compact_input(s);
			return rc;
		}
		const char *line = NULL;
		size_t len = 0;
		bool crlf = false;
		rc = read_line(s, &line, &len, &crlf);
		if (rc == LINE_NONE) {
			compact_input(s);
			return TJ_NEED_MORE;
		}
		if (rc == LINE_LONG)
			rc = proto_error(s, ev_r, 500, "5.5.2", "Line too long");
		else
			rc = handle_line(s, line, len, crlf, ev_r);
		if (rc <= 0)
			return rc;
	}
}

static int answer(struct tj_smtp_session *s, int code, const char *esc, const char *text)
{
	/* acceptance is 354 for DATA and 2xx otherwise; refusals are 4xx/5xx */
	bool ok = s->await == AW_DATA ? code == 354 : code / 100 == 2;
	if (!ok && code < 400)
		return TJ_EINVAL;
	int rc;
	switch (s->await) {
	case AW_MAIL:
		rc = reply(s, code, esc, text);
		if (rc < 0)
			return rc;
		if (ok) {
			s->has_sender = true;
			s->sender = s->cmd.path;
			s->smtputf8 = s->cmd.smtputf8;
			s->body = s->cmd.body;
			s->phase = TJ_SMTP_PH_MAIL;
		}
		break;
	case AW_RCPT:
		if (ok && s->nrcpts == s->rcpts_cap) {
			size_t cap = s->rcpts_cap ? s->rcpts_cap * 2 : 8;
			struct tj_smtp_path *r = realloc(s->rcpts, cap * sizeof(*r));
			if (!r)
				return -ENOMEM;
			s->rcpts = r;
			s->rcpts_cap = cap;
		}
		rc = reply(s, code, esc, text);
		if (rc < 0)
			return rc;
		s->rcpt_tried = true;
		if (ok) {
			s->rcpts[s->nrcpts++] = s->cmd.path;
			s->phase = TJ_SMTP_PH_RCPT;
		}
		break;
	case AW_DATA:
		rc = reply(s, code, esc, text);
		if (rc < 0)
			return rc;
		if (ok) {
			s->phase = TJ_SMTP_PH_DATA;
			tj_smtp_data_init(&s->data, s->cfg.lf_policy, s->cfg.max_size, s->cfg.max_hops,
					  s->data_line_crlf);
			s->data_finished = false;
		}
		break;
	case AW_DATA_END:
		rc = reply(s, code, esc, text);
		if (rc < 0)
			return rc;
		reset_transaction(s);
		s->phase = TJ_SMTP_PH_HELO;
		break;
	default:
		return TJ_ESTATE;
	}
	s->await = AW_NONE;
	return 0;
}

static enum tj_smtp_ev_type awaited_event(const struct tj_smtp_session *s)
{
	switch (s->await) {
	case AW_MAIL: return TJ_SMTP_EV_MAIL;
	case AW_RCPT: return TJ_SMTP_EV_RCPT;
	case AW_DATA: return TJ_SMTP_EV_DATA;
	default: return TJ_SMTP_EV_DATA_END;
	}
}

static bool valid_code(int code, const char *esc)
{
	if (code < 200 || code > 599)
		return false;
	return !esc || strlen(esc) < ESC_MAX;
}

/* store one LMTP recipient's answer; write all replies once complete */
static int lmtp_set(struct tj_smtp_session *s, size_t idx, int code, const char *esc, const char *text,
		    bool default_text)
{
	struct answer *a = &s->answers[idx];
	a->set = true;
	a->code = code;
	snprintf(a->esc, sizeof(a->esc), "%s", esc ? esc : "");
	if (default_text)
		snprintf(a->text, sizeof(a->text), "<%s> %s", s->rcpts[idx].addr, text);
	else
		snprintf(a->text, sizeof(a->text), "%s", text);
	s->nanswered++;
	if (s->nanswered < s->nrcpts)
		return 0;
	for (size_t i = 0; i < s->nrcpts; i++) {
		int rc = reply(s, s->answers[i].code, s->answers[i].esc[0] ? s->answers[i].esc : NULL,
			       s->answers[i].text);
		if (rc < 0)
			return rc;
	}
	reset_transaction(s);
	s->phase = TJ_SMTP_PH_HELO;
	s->await = AW_NONE;
	return 0;
}

static int lmtp_prepare(struct tj_smtp_session *s)
{
	if (s->answers)
		return 0;
	s->answers = calloc(s->nrcpts ? s->nrcpts : 1, sizeof(*s->answers));
	return s->answers ? 0 : -ENOMEM;
}

static bool lmtp_end(const struct tj_smtp_session *s)
{
	return s->await == AW_DATA_END && s->cfg.proto == TJ_SMTP_PROTO_LMTP;
}

/* answer every unanswered LMTP recipient alike */
static int lmtp_all(struct tj_smtp_session *s, int code, const char *esc, const char *text, bool default_text)
{
	int rc = lmtp_prepare(s);
	if (rc < 0)
		return rc;
	size_t n = s->nrcpts;
	for (size_t i = 0; i < n && s->answers; i++) {
		if (s->answers[i].set)
			continue;
		rc = lmtp_set(s, i, code, esc, text, default_text);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int tj_smtp_answer(struct tj_smtp_session *s, enum tj_smtp_status st, const char *text)
{
	if ((unsigned)st >= TJ_SMTP_STATUS_COUNT)
		return TJ_EINVAL;
	if (s->await == AW_NONE || s->await == AW_TLS)
		return TJ_ESTATE;
	int code;
	const char *esc, *deftext;
	tj_smtp_status_reply(st, awaited_event(s), &code, &esc, &deftext);
	if (lmtp_end(s))
		return lmtp_all(s, code, esc, text ? text : deftext, !text);
	return answer(s, code, esc, text ? text : deftext);
}

int tj_smtp_answer_code(struct tj_smtp_session *s, int code, const char *esc, const char *text)
{
	if (!valid_code(code, esc))
		return TJ_EINVAL;
	if (s->await == AW_NONE || s->await == AW_TLS)
		return TJ_ESTATE;
	if (lmtp_end(s))
		return code / 100 == 3 ? TJ_EINVAL : lmtp_all(s, code, esc, text ? text : "", false);
	return answer(s, code, esc, text ? text : "");
}

int tj_smtp_answer_rcpt_code(struct tj_smtp_session *s, size_t idx, int code, const char *esc,
			     const char *text)
{
	if (!lmtp_end(s))
		return TJ_ESTATE;
	if (!valid_code(code, esc) || code / 100 == 3 || idx >= s->nrcpts)
		return TJ_EINVAL;
	int rc = lmtp_prepare(s);
	if (rc < 0)
		return rc;
	if (s->answers[idx].set)
		return TJ_ESTATE;
	return lmtp_set(s, idx, code, esc, text ? text : "", false);
}

int tj_smtp_answer_rcpt(struct tj_smtp_session *s, size_t idx, enum tj_smtp_status st, const char *text)
{
	if ((unsigned)st >= TJ_SMTP_STATUS_COUNT)
		return TJ_EINVAL;
	if (!lmtp_end(s))
		return TJ_ESTATE;
	if (idx >= s->nrcpts)
		return TJ_EINVAL;
	int rc = lmtp_prepare(s);
	if (rc < 0)
		return rc;
	if (s->answers[idx].set)
		return TJ_ESTATE;
	int code;
	const char *esc, *deftext;
	tj_smtp_status_reply(st, TJ_SMTP_EV_DATA_END, &code, &esc, &deftext);
	return lmtp_set(s, idx, code, esc, text ? text : deftext, !text);
}

int tj_smtp_tls_started(struct tj_smtp_session *s)
{
	if (s->await != AW_TLS)
		return TJ_ESTATE;
	s->await = AW_NONE;
	s->tls = true;
	s->esmtp = false;
	s->helo[0] = 0;
	reset_transaction(s);
	s->phase = TJ_SMTP_PH_INIT;
	s->in_off = s->in.len; /* plaintext that arrived before the handshake */
	s->skipping = false;
	compact_input(s);
	return 0;
}

int tj_smtp_take_output(struct tj_smtp_session *s, tj_buf *dst)
{
	if (s->out.len == 0)
		return 0;
	int rc = tj_buf_append(dst, s->out.data, s->out.len);
	if (rc < 0)
		return rc;
	tj_buf_truncate(&s->out, 0);
	return 0;
}

size_t tj_smtp_output_len(const struct tj_smtp_session *s) { return s->out.len; }
enum tj_smtp_phase tj_smtp_phase(const struct tj_smtp_session *s) { return s->phase; }
bool tj_smtp_is_lmtp(const struct tj_smtp_session *s) { return s->cfg.proto == TJ_SMTP_PROTO_LMTP; }
bool tj_smtp_tls_active(const struct tj_smtp_session *s) { return s->tls; }
bool tj_smtp_esmtp(const struct tj_smtp_session *s) { return s->esmtp; }
const char *tj_smtp_helo_name(const struct tj_smtp_session *s) { return s->helo; }
size_t tj_smtp_rcpt_count(const struct tj_smtp_session *s) { return s->nrcpts; }
size_t tj_smtp_input_pending(const struct tj_smtp_session *s) { return s->in.len - s->in_off; }
unsigned tj_smtp_errors(const struct tj_smtp_session *s) { return s->errors; }

const struct tj_smtp_path *tj_smtp_sender(const struct tj_smtp_session *s)
{
	return s->has_sender ? &s->sender : NULL;
}

const struct tj_smtp_path *tj_smtp_rcpt(const struct tj_smtp_session *s, size_t idx)
{
	return idx < s->nrcpts ? &s->rcpts[idx] : NULL;
}

const char *tj_smtp_with(const struct tj_smtp_session *s)
{
	bool lmtp = s->cfg.proto == TJ_SMTP_PROTO_LMTP;
	if (!lmtp && !s->esmtp)
		return "SMTP";
	static const char *const names[2][2][2] = {
		/* [lmtp][utf8][tls] */
		{{"ESMTP", "ESMTPS"}, {"UTF8SMTP", "UTF8SMTPS"}},
		{{"LMTP", "LMTPS"}, {"UTF8LMTP", "UTF8LMTPS"}},
	};
	return names[lmtp][s->smtputf8][s->tls];
}

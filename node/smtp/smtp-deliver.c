/*
 * smtp-deliver.c - the worker-thread half of the SMTP/LMTP server:
 * recipient checks at RCPT time (a read snapshot of the store), and at the
 * end of DATA: scan, add Return-Path/Delivered-To, prepare one record (one
 * copy of the bytes for every recipient), parse its MIME structure once,
 * APPEND it to each recipient's INBOX or Junk in one group commit, answer
 * only after the commit, and log one line per message.
 */
#include "node/smtp/smtp-private.h"

#include "common/err.h"
#include "common/log.h"
#include "protocol/mime/mime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- RCPT ---- */

static bool domain_ok(const struct smtp_server_config *cfg, const struct tj_smtp_path *p)
{
	if (!cfg->domains || p->postmaster)
		return true;
	for (const char *const *d = cfg->domains; *d; d++)
		if (strcasecmp(*d, p->domain) == 0)
			return true;
	return false;
}

/* smtp_work_rcpt - WORKER THREAD: is c->pending a deliverable user? */
void smtp_work_rcpt(struct smtp_conn *c)
{
	const struct tj_smtp_path *p = &c->pending;
	enum tj_smtp_status st = TJ_SMTP_OK;
	const char *why = "ok";
	if (!domain_ok(c->cfg, p)) {
		(void)tj_smtp_answer_code(c->s, 550, "5.1.2", "Recipient domain not handled here");
		why = "domain";
		goto log;
	}
	if (smtp_rcpt_accept(c, c->pending_idx)) {
		st = TJ_SMTP_TEMPFAIL;
		why = "nomem";
		goto answer;
	}
	const char *user = c->rcpts[c->pending_idx].user;
	if (tj_store_valid_user_name(user, strlen(user))) {
		st = TJ_SMTP_NO_SUCH_USER;
		why = "unknown";
		goto answer;
	}
	tj_rtxn *r = NULL;
	tj_user_info u;
	int rc = tj_rtxn_begin(c->cfg->store, &r);
	if (!rc)
		rc = tj_store_user_get(r, user, &u);
	if (rc == TJ_ENOTFOUND) {
		st = TJ_SMTP_NO_SUCH_USER;
		why = "unknown";
	} else if (rc) {
		st = TJ_SMTP_TEMPFAIL;
		why = "store";
	} else if (u.state == TJ_USER_DISABLED) {
		st = TJ_SMTP_DISABLED;
		why = "disabled";
	} else if (u.quota_bytes && c->has_size && c->size > u.quota_bytes) {
		st = TJ_SMTP_OVER_QUOTA_PERM;
		why = "bigger_than_quota";
	} else if ((u.quota_bytes && u.used_bytes >= u.quota_bytes) || (u.quota_msgs && u.used_msgs >= u.quota_msgs)) {
		st = TJ_SMTP_OVER_QUOTA;
		why = "over_quota";
	} else if (u.quota_bytes && c->has_size && c->size > u.quota_bytes - u.used_bytes) {
		/* the announced message does not fit in what is left: say so now,
		 * per recipient, rather than after the data, where SMTP has one
		 * reply for all recipients (a partial failure: 451, duplicates) */
		st = TJ_SMTP_OVER_QUOTA;
		why = "over_quota";
	}
	tj_rtxn_end(&r);
answer:
	(void)tj_smtp_answer(c->s, st, NULL);
	if (st != TJ_SMTP_OK && c->pending_idx + 1 == c->nrcpts)
		c->nrcpts--; /* not accepted: the index will be given again */
log:
	if (st != TJ_SMTP_OK || strcmp(why, "ok") != 0) {
		char sa[128];
		tj_log(TJ_LOG_INFO, "smtp", "event=rcpt_refused peer=%s rcpt=<%s> reason=%s", c->peer,
		       tj_sanitize(sa, sizeof(sa), p->addr, strlen(p->addr)), why);
	}
}

/* ---- delivery ---- */

/* one distinct store user among the recipients */
struct target {
	const char *user;
	uint32_t user_id;
	uint64_t quota_bytes;
	uint64_t mbox_id;
	tj_op op;
	int rc;          /* 0, or why this user's copy was not stored */
	bool submitted;
	struct waitgroup *wg;
};

struct waitgroup {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	size_t pending;
};

static void append_done(void *arg, int rc, tj_op *op)
{
	struct target *t = arg;
	pthread_mutex_lock(&t->wg->mu);
	t->rc = rc;
	if (--t->wg->pending == 0)
		pthread_cond_signal(&t->wg->cv);
	pthread_mutex_unlock(&t->wg->mu);
}

struct junk_find {
	uint64_t id;
	bool by_name;
};

static int junk_fn(void *arg, const tj_mbox_info *m)
{
	struct junk_find *j = arg;
	if (m->special_use & TJ_SU_JUNK) {
		j->id = m->id;
		return 1;
	}
	if (!j->id && m->name.len == 4 && strncasecmp((const char *)m->name.ptr, "Junk", 4) == 0)
		j->id = m->id;
	return 0;
}

/* find_folder - the mailbox to deliver to: INBOX, or the user's Junk
 * (SPECIAL-USE \Junk, else the one named "Junk").  0 with *id_r = 0 when
 * it does not exist yet; an error otherwise. */
static int find_folder(tj_rtxn *r, uint32_t user_id, bool junk, uint64_t *id_r)
{
	*id_r = 0;
	if (junk) {
		struct junk_find j = {0, false};
		int rc = tj_store_mboxes(r, user_id, junk_fn, &j);
		if (rc < 0)
			return rc;
		*id_r = j.id;
		return 0;
	}
	tj_mbox_info m;
	int rc = tj_store_mbox_find(r, user_id, "INBOX", &m);
	if (rc == TJ_ENOTFOUND)
		return 0;
	if (!rc)
		*id_r = m.id;
	return rc;
}

/* create_folder - create INBOX or Junk (\Junk) for a user that has none;
 * a concurrent creation is fine (TJ_EEXIST: look again) */
static int create_folder(tj_store *st, struct target *t, bool junk)
{
	const char *name = junk ? "Junk" : "INBOX";
	tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = t->user_id,
		    .name = {(const uint8_t *)name, strlen(name)}, .special_use = junk ? TJ_SU_JUNK : 0};
	int rc = tj_store_exec(st, &op, NULL);
	uint64_t id = op.mbox_id;
	tj_op_clear(&op);
	if (rc == 0) {
		t->mbox_id = id;
		tj_log(TJ_LOG_INFO, "smtp", "event=mailbox_created user_id=%u mailbox=%s", t->user_id, name);
		return 0;
	}
	if (rc != TJ_EEXIST)
		return rc;
	tj_rtxn *r;
	if ((rc = tj_rtxn_begin(st, &r)))
		return rc;
	rc = find_folder(r, t->user_id, junk, &t->mbox_id);
	tj_rtxn_end(&r);
	return rc ? rc : t->mbox_id ? 0 : TJ_ENOTFOUND;
}

/* status - the reply for one recipient's store result */
static enum tj_smtp_status status_of(const struct target *t, uint64_t size)
{
	switch (t->rc) {
	case 0: return TJ_SMTP_OK;
	case TJ_EQUOTA: return t->quota_bytes && size > t->quota_bytes ? TJ_SMTP_OVER_QUOTA_PERM : TJ_SMTP_OVER_QUOTA;
	case TJ_ENOTFOUND: return TJ_SMTP_NO_SUCH_USER;
	case TJ_EDISABLED: return TJ_SMTP_DISABLED;
	case TJ_ETOOBIG: return TJ_SMTP_TOO_BIG;
	case -ENOSPC: return TJ_SMTP_NO_STORAGE;
	default: return TJ_SMTP_TEMPFAIL;
	}
}

static const char *result_name(int rc)
{
	switch (rc) {
	case 0: return "stored";
	case TJ_EQUOTA: return "over_quota";
	case TJ_ENOTFOUND: return "no_user";
	case TJ_EDISABLED: return "disabled";
	default: return "error";
	}
}

/* answer every recipient alike (SMTP: the one reply) */
static void answer_all(struct smtp_conn *c, int code, const char *esc, const char *text)
{
	(void)tj_smtp_answer_code(c->s, code, esc, text);
}

/* log_message - the one line per message */
static void log_message(struct smtp_conn *c, const char *verdict, const char *result, const char *detail)
{
	char sf[300], rc_[1024], sd[200];
	tj_buf rl = TJ_BUF_INIT;
	for (size_t i = 0; i < c->nrcpts; i++)
		(void)tj_buf_printf(&rl, "%s%s", i ? "," : "", c->rcpts[i].addr);
	tj_log(TJ_LOG_INFO, "smtp",
	       "event=message qid=%s proto=%s peer=%s from=<%s> rcpts=%zu to=<%s> size=%llu verdict=%s result=%s%s%s ms=%llu",
	       c->qid[0] ? c->qid : "-", tj_smtp_is_lmtp(c->s) ? "lmtp" : "smtp", c->peer,
	       tj_sanitize(sf, sizeof(sf), c->sender, strlen(c->sender)), c->nrcpts,
	       tj_sanitize(rc_, sizeof(rc_), rl.data ? rl.data : (const uint8_t *)"", rl.len),
	       (unsigned long long)c->msg.size, verdict, result, detail ? " detail=" : "",
	       detail ? tj_sanitize(sd, sizeof(sd), detail, strlen(detail)) : "",
	       (unsigned long long)(smtp_now_ms() - c->t_start));
	tj_buf_free(&rl);
}

void smtp_log_abort(struct smtp_conn *c, const struct tj_smtp_event *ev)
{
	c->msg = ev->msg;
	const char *why = ev->abort == TJ_SMTP_ABORT_SIZE ? "too_big"
			  : ev->abort == TJ_SMTP_ABORT_HOPS ? "too_many_hops"
			  : ev->abort == TJ_SMTP_ABORT_BARE_LF ? "bare_lf" : "refused";
	log_message(c, "-", "refused", why);
}

/* build - the bytes to store: Return-Path, Delivered-To (one distinct
 * recipient only), our Received:, the scanner's fields, the message */
static int build(struct smtp_conn *c, size_t ntargets, const tj_buf *scan_hdrs, tj_buf *out)
{
	int rc = tj_smtp_return_path_header(out, c->sender);
	if (!rc && ntargets == 1)
		rc = tj_smtp_delivered_to_header(out, c->rcpts[0].addr);
	if (!rc)
		rc = tj_buf_append(out, c->spool.data, c->recv_len);
	if (!rc && scan_hdrs->len) {
		rc = tj_buf_append(out, scan_hdrs->data, scan_hdrs->len);
		if (!rc && (scan_hdrs->len < 2 || memcmp(scan_hdrs->data + scan_hdrs->len - 2, "\r\n", 2) != 0))
			rc = tj_buf_puts(out, "\r\n");
	}
	if (!rc && c->spool.len > c->recv_len)
		rc = tj_buf_append(out, c->spool.data + c->recv_len, c->spool.len - c->recv_len);
	return rc;
}

/* scan_headers_ok - the scanner's text is header fields: CRLF line ends
 * only, no empty line, at most SMTP_SERVER_SCAN_HEADERS_MAX bytes */
static bool scan_headers_ok(const tj_buf *h)
{
	if (h->len > SMTP_SERVER_SCAN_HEADERS_MAX)
		return false;
	for (size_t i = 0; i < h->len; i++) {
		uint8_t ch = h->data[i];
		if (ch == 0)
			return false;
		if (ch == '\r' && (i + 1 >= h->len || h->data[i + 1] != '\n'))
			return false;
		if (ch == '\n' && (i == 0 || h->data[i - 1] != '\r'))
			return false;
		if (ch == '\n' && i + 2 < h->len && h->data[i + 1] == '\r')
			return false; /* empty line: would end the header */
	}
	return h->len == 0 || (h->data[0] != ' ' && h->data[0] != '\t' && h->data[0] != '\r');
}

/* smtp_work_deliver - WORKER THREAD: the end of DATA */
void smtp_work_deliver(struct smtp_conn *c)
{
	const struct smtp_server_config *cfg = c->cfg;
	struct smtp_scan_result res;
	memset(&res, 0, sizeof(res));
	snprintf(res.qid, sizeof(res.qid), "%s", c->qid);
	char verdict[200] = "scan=off";
	tj_buf final = TJ_BUF_INIT;
	tj_msgrec m;
	bool have_rec = false;
	struct tj_mime_msg *mime = NULL;
	struct target *t = NULL;
	size_t nt = 0;
	size_t *map = NULL; /* recipient index -> target index */

	if (c->spool_err || c->nrcpts == 0) {
		answer_all(c, 451, "4.3.0", "Cannot store the message now");
		log_message(c, "-", "deferred", "spool");
		goto out;
	}
	/* 1. scan */
	if (cfg->scan) {
		int src = cfg->scan(cfg->scan_ctx, &c->spool, &res);
		res.name[sizeof(res.name) - 1] = 0;
		if (src < 0 && res.verdict != SMTP_SCAN_INFECTED) {
			res.verdict = SMTP_SCAN_TEMPFAIL;
			if (!res.name[0])
				snprintf(res.name, sizeof(res.name), "scanner error: %s", tj_strerror(src));
		}
		if ((res.verdict == SMTP_SCAN_CLEAN || res.verdict == SMTP_SCAN_SPAM) && !scan_headers_ok(&res.headers)) {
			res.verdict = SMTP_SCAN_TEMPFAIL;
			snprintf(res.name, sizeof(res.name), "scanner returned malformed header fields");
		}
		char sn[100];
		tj_sanitize(sn, sizeof(sn), res.name, strlen(res.name));
		switch (res.verdict) {
		case SMTP_SCAN_CLEAN: snprintf(verdict, sizeof(verdict), "CLEAN score=%.1f", res.score); break;
		case SMTP_SCAN_SPAM:
			snprintf(verdict, sizeof(verdict), "SPAM score=%.1f%s", res.score, res.junk ? " folder=Junk" : "");
			break;
		case SMTP_SCAN_INFECTED: {
			snprintf(verdict, sizeof(verdict), "INFECTED name=\"%s\"", sn);
			char text[200];
			snprintf(text, sizeof(text), "Message refused: infected with %s", res.name[0] ? res.name : "a virus");
			answer_all(c, 554, "5.7.1", text);
			log_message(c, verdict, "refused", NULL);
			goto out;
		}
		default:
			snprintf(verdict, sizeof(verdict), "DEFERRED reason=\"%s\"", sn);
			answer_all(c, 451, "4.7.1", "Message could not be scanned, try again later");
			log_message(c, verdict, "deferred", NULL);
			goto out;
		}
	}
	bool junk = res.verdict == SMTP_SCAN_SPAM && res.junk;

	/* 2. distinct users: one index entry each, one copy of the bytes */
	t = calloc(c->nrcpts, sizeof(*t));
	map = calloc(c->nrcpts, sizeof(*map));
	if (!t || !map) {
		answer_all(c, 451, "4.3.0", "Cannot store the message now");
		log_message(c, verdict, "deferred", "nomem");
		goto out;
	}
	for (size_t i = 0; i < c->nrcpts; i++) {
		size_t k;
		for (k = 0; k < nt; k++)
			if (strcmp(t[k].user, c->rcpts[i].user) == 0)
				break;
		if (k == nt)
			t[nt++].user = c->rcpts[i].user;
		map[i] = k;
	}
	/* 3. the record, its MIME cache: prepared here so compression and
	 * parsing run in parallel across connections */
	int rc = build(c, nt, &res.headers, &final);
	if (!rc)
		rc = tj_store_prepare(cfg->store, final.data, final.len, &m);
	if (rc) {
		answer_all(c, rc == TJ_ETOOBIG ? 552 : 451, rc == TJ_ETOOBIG ? "5.3.4" : "4.3.0",
			   rc == TJ_ETOOBIG ? "Message too big" : "Cannot store the message now");
		log_message(c, verdict, "deferred", tj_strerror(rc));
		goto out;
	}
	have_rec = true;
	if (tj_mime_parse(final.data, final.len, &mime) == 0)
		(void)tj_mime_serialize(mime, &m.cache); /* without it IMAP parses on first FETCH */

	/* 4. where each copy goes (looked up now: the account may have changed since RCPT) */
	tj_rtxn *r = NULL;
	rc = tj_rtxn_begin(cfg->store, &r);
	for (size_t k = 0; k < nt; k++) {
		tj_user_info u;
		t[k].rc = rc ? rc : tj_store_user_get(r, t[k].user, &u);
		if (t[k].rc)
			continue;
		t[k].user_id = u.id;
		t[k].quota_bytes = u.quota_bytes;
		if (u.state == TJ_USER_DISABLED)
			t[k].rc = TJ_EDISABLED;
		else
			t[k].rc = find_folder(r, u.id, junk, &t[k].mbox_id);
	}
	tj_rtxn_end(&r);
	for (size_t k = 0; k < nt; k++)
		if (!t[k].rc && !t[k].mbox_id)
			t[k].rc = create_folder(cfg->store, &t[k], junk);

	/* 5. APPEND for every user in one group commit; wait for all */
	struct waitgroup wg = {.pending = 0};
	pthread_mutex_init(&wg.mu, NULL);
	pthread_cond_init(&wg.cv, NULL);
	int64_t now = (int64_t)time(NULL);
	for (size_t k = 0; k < nt; k++) {
		if (t[k].rc)
			continue;
		t[k].wg = &wg;
		t[k].op = (tj_op){.type = TJ_OP_APPEND, .user_id = t[k].user_id, .mbox_id = t[k].mbox_id,
				  .raw_size = m.raw_size, .internal_date = now};
		memcpy(t[k].op.guid, m.guid, TJ_GUID_LEN);
		pthread_mutex_lock(&wg.mu);
		wg.pending++;
		pthread_mutex_unlock(&wg.mu);
		int src = tj_store_submit(cfg->store, &t[k].op, &m, append_done, &t[k]);
		if (src) {
			pthread_mutex_lock(&wg.mu);
			wg.pending--;
			pthread_mutex_unlock(&wg.mu);
			t[k].rc = src;
		} else {
			t[k].submitted = true;
		}
	}
	pthread_mutex_lock(&wg.mu);
	while (wg.pending)
		pthread_cond_wait(&wg.cv, &wg.mu);
	pthread_mutex_unlock(&wg.mu);
	pthread_mutex_destroy(&wg.mu);
	pthread_cond_destroy(&wg.cv);

	/* 6. IDLE sessions see the new mail */
	size_t ok = 0;
	for (size_t k = 0; k < nt; k++) {
		if (t[k].submitted && !t[k].rc) {
			ok++;
			if (cfg->notify)
				imap_notify_changed(cfg->notify, t[k].mbox_id, t[k].op.modseq, NULL);
		}
		if (t[k].submitted)
			tj_op_clear(&t[k].op);
	}

	/* 7. answers: only now, after the commit */
	char text[120], detail[300] = "";
	snprintf(text, sizeof(text), "Ok: delivered as %s", c->qid);
	for (size_t k = 0; k < nt; k++)
		if (t[k].rc) {
			size_t l = strlen(detail);
			snprintf(detail + l, sizeof(detail) - l, "%s%s:%s", l ? "," : "", t[k].user, result_name(t[k].rc));
		}
	if (tj_smtp_is_lmtp(c->s)) {
		for (size_t i = 0; i < c->nrcpts; i++) {
			enum tj_smtp_status st = status_of(&t[map[i]], m.raw_size);
			char rt[TJ_SMTP_PATH_MAX + 140];
			snprintf(rt, sizeof(rt), "<%s> %s", c->rcpts[i].addr, text);
			(void)tj_smtp_answer_rcpt(c->s, i, st, st == TJ_SMTP_OK ? rt : NULL);
		}
	} else if (ok == nt) {
		(void)tj_smtp_answer(c->s, TJ_SMTP_OK, text);
	} else if (ok == 0) {
		/* nothing stored: the common failure, or a general 451 */
		enum tj_smtp_status st = status_of(&t[0], m.raw_size);
		for (size_t k = 1; k < nt; k++)
			if (status_of(&t[k], m.raw_size) != st)
				st = TJ_SMTP_TEMPFAIL;
		(void)tj_smtp_answer(c->s, st, NULL);
	} else {
		/* some stored, some not: no queue to bounce from, so defer the
		 * whole message (the sender retries; duplicates beat losses) */
		(void)tj_smtp_answer_code(c->s, 451, "4.3.0", "Delivery failed for some recipients, try again later");
	}
	log_message(c, verdict, ok == nt ? "delivered" : ok ? "partial" : "failed", detail[0] ? detail : NULL);
out:
	tj_mime_free(&mime);
	if (have_rec)
		tj_msgrec_free(&m);
	tj_buf_free(&final);
	tj_buf_free(&res.headers);
	free(t);
	free(map);
	smtp_txn_reset(c);
}

/*
 * smtp-server.c - the SMTP/LMTP engine for node/net: one protocol session
 * (protocol/smtp) per connection, driven from the loop thread.  Events that
 * need the store (RCPT lookups, end of data) become work for the worker
 * pool (smtp-deliver.c); the session then owes an answer and processes no
 * further input until work() has given it, so replies stay in order under
 * PIPELINING.
 */
#include "node/smtp/smtp-private.h"

#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t smtp_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* smtp_txn_reset - forget the transaction (MAIL, RSET, HELO, end of data) */
void smtp_txn_reset(struct smtp_conn *c)
{
	c->sender[0] = 0;
	c->has_size = false;
	c->size = 0;
	c->nrcpts = 0;
	tj_buf_free(&c->spool);
	c->recv_len = 0;
	c->spool_err = false;
	c->qid[0] = 0;
}

/* new_qid - a queue id unique in this process and unlikely to repeat
 * across restarts: wall-clock microseconds and a counter, in hex */
static void new_qid(char *out)
{
	static atomic_uint_fast32_t counter;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
	unsigned n = (unsigned)(atomic_fetch_add(&counter, 1) & 0xfffff);
	snprintf(out, SMTP_QID_LEN + 1, "%014llX%05X", (unsigned long long)(us & 0xffffffffffffffull), n);
}

/* client address for Received: "1.2.3.4" or "IPv6:2001:db8::1" */
static void received_addr(const char *peer, char *out, size_t sz)
{
	if (peer[0] == '[') {
		const char *end = strchr(peer, ']');
		int n = end ? (int)(end - peer - 1) : 0;
		snprintf(out, sz, "IPv6:%.*s", n, peer + 1);
		return;
	}
	snprintf(out, sz, "%s", peer);
	char *colon = strrchr(out, ':');
	if (colon)
		*colon = 0;
}

/* smtp_rcpt_accept - remember accepted recipient idx (c->pending) */
int smtp_rcpt_accept(struct smtp_conn *c, size_t idx)
{
	if (idx >= c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 8;
		while (cap <= idx)
			cap *= 2;
		struct smtp_rcpt *r = realloc(c->rcpts, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		c->rcpts = r;
		c->cap = cap;
	}
	struct smtp_rcpt *r = &c->rcpts[idx];
	snprintf(r->addr, sizeof(r->addr), "%s", c->pending.addr);
	size_t i;
	for (i = 0; c->pending.local[i] && i < sizeof(r->user) - 1; i++) {
		char ch = c->pending.local[i];
		r->user[i] = (ch >= 'A' && ch <= 'Z') ? (char)(ch - 'A' + 'a') : ch;
	}
	r->user[i] = 0;
	if (idx + 1 > c->nrcpts)
		c->nrcpts = idx + 1;
	return 0;
}

/* DATA accepted: queue id and our Received: field open the spool */
static int data_begin(struct smtp_conn *c)
{
	new_qid(c->qid);
	c->t_start = smtp_now_ms();
	size_t n = tj_smtp_rcpt_count(c->s);
	const struct tj_smtp_path *one = n == 1 ? tj_smtp_rcpt(c->s, 0) : NULL;
	struct tj_smtp_received r = {
		.helo = tj_smtp_helo_name(c->s),
		.addr = c->addr,
		.by = c->cfg->hostname ? c->cfg->hostname : "localhost",
		.with = tj_smtp_with(c->s),
		.id = c->qid,
		.for_rcpt = one ? one->addr : NULL,
		.when = time(NULL),
	};
	tj_buf_free(&c->spool);
	int rc = tj_smtp_received_header(&c->spool, &r);
	c->recv_len = c->spool.len;
	return rc;
}

/* pump - run the protocol session until it needs more input, owes an
 * answer that takes work, or closed; move its replies to out */
static int pump(tj_net_conn *nc, struct smtp_conn *c, tj_buf *out)
{
	struct tj_smtp_event ev;
	int rc = 0;
	while (c->work == SW_NONE && (rc = tj_smtp_next(c->s, &ev)) == 0) {
		switch (ev.type) {
		case TJ_SMTP_EV_MAIL:
			smtp_txn_reset(c);
			snprintf(c->sender, sizeof(c->sender), "%s", ev.cmd->path.addr);
			c->has_size = ev.cmd->has_size;
			c->size = ev.cmd->size;
			rc = tj_smtp_answer(c->s, TJ_SMTP_OK, NULL);
			break;
		case TJ_SMTP_EV_RCPT:
			c->pending = ev.cmd->path;
			c->pending_idx = ev.rcpt_index;
			c->work = SW_RCPT; /* answered by work() */
			break;
		case TJ_SMTP_EV_DATA:
			if (data_begin(c) == 0) {
				rc = tj_smtp_answer(c->s, TJ_SMTP_OK, NULL);
				tj_net_conn_set_timeout(nc, c->cfg->data_timeout_ms ? c->cfg->data_timeout_ms
										    : SMTP_SERVER_DATA_TIMEOUT_MS);
			} else {
				rc = tj_smtp_answer(c->s, TJ_SMTP_TEMPFAIL, "Cannot accept a message now");
			}
			break;
		case TJ_SMTP_EV_DATA_CHUNK:
			if (!c->spool_err && tj_buf_append(&c->spool, ev.chunk.ptr, ev.chunk.len))
				c->spool_err = true;
			break;
		case TJ_SMTP_EV_DATA_END:
			c->msg = ev.msg;
			c->work = SW_DELIVER;
			break;
		case TJ_SMTP_EV_DATA_ABORT:
			smtp_log_abort(c, &ev);
			smtp_txn_reset(c);
			break;
		case TJ_SMTP_EV_HELO:
		case TJ_SMTP_EV_RSET:
			smtp_txn_reset(c);
			break;
		case TJ_SMTP_EV_STARTTLS:
			if (tj_net_conn_starttls(nc) != 0)
				rc = TJ_ECLOSED; /* cannot happen: offered only with a context */
			break;
		case TJ_SMTP_EV_QUIT:
		case TJ_SMTP_EV_CLOSE:
			break; /* tj_smtp_next says TJ_ECLOSED next */
		}
		if (rc)
			break;
	}
	if (c->work == SW_NONE && tj_smtp_phase(c->s) != TJ_SMTP_PH_DATA)
		tj_net_conn_set_timeout(nc, c->cfg->cmd_timeout_ms ? c->cfg->cmd_timeout_ms : SMTP_SERVER_CMD_TIMEOUT_MS);
	int orc = tj_smtp_take_output(c->s, out);
	if (rc == TJ_ECLOSED || tj_smtp_phase(c->s) == TJ_SMTP_PH_CLOSED) {
		tj_net_conn_close(nc);
		return 0;
	}
	if (rc == TJ_NEED_MORE || rc == TJ_ESTATE)
		rc = 0;
	return rc ? rc : orc;
}

/* ---- the tj_net_engine hooks ---- */

static int smtp_open(tj_net_conn *nc, tj_buf *out)
{
	const struct smtp_server_config *cfg = tj_net_conn_service_arg(nc);
	struct smtp_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = cfg;
	snprintf(c->peer, sizeof(c->peer), "%s", tj_net_conn_peer(nc));
	received_addr(c->peer, c->addr, sizeof(c->addr));
	bool tls = tj_net_conn_is_tls(nc);
	unsigned ext = TJ_SMTP_EXT_DEFAULT;
	if (cfg->starttls && !tls && tj_net_conn_tls_available(nc))
		ext |= TJ_SMTP_EXT_STARTTLS;
	struct tj_smtp_config sc = {
		.proto = cfg->proto,
		.hostname = cfg->hostname,
		.ext = ext,
		.max_size = cfg->max_message_size,
		.max_rcpts = cfg->max_recipients,
		.lf_policy = cfg->lf_policy,
		.tls_active = tls,
	};
	c->s = tj_smtp_session_new(&sc);
	if (!c->s) {
		free(c);
		return -ENOMEM;
	}
	tj_net_conn_set_data(nc, c);
	int rc = tj_smtp_start(c->s);
	if (rc)
		return rc;
	tj_net_conn_set_timeout(nc, cfg->cmd_timeout_ms ? cfg->cmd_timeout_ms : SMTP_SERVER_CMD_TIMEOUT_MS);
	return tj_smtp_take_output(c->s, out);
}

static int smtp_data(tj_net_conn *nc, const uint8_t *p, size_t len, tj_buf *out)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	int rc = tj_smtp_feed(c->s, p, len);
	if (rc == TJ_ETOOBIG) {
		tj_smtp_shutdown(c->s, false, "Too much pipelined input");
		(void)tj_smtp_take_output(c->s, out);
		tj_net_conn_close(nc);
		return 0;
	}
	if (rc == TJ_ECLOSED)
		return 0;
	if (rc)
		return rc;
	return pump(nc, c, out);
}

static bool smtp_want_work(tj_net_conn *nc)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	return c && c->work != SW_NONE;
}

static void smtp_work(tj_net_conn *nc, tj_buf *out)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	if (c->work == SW_RCPT)
		smtp_work_rcpt(c);
	else if (c->work == SW_DELIVER)
		smtp_work_deliver(c);
	c->work = SW_NONE;
	(void)tj_smtp_take_output(c->s, out);
}

static int smtp_after_work(tj_net_conn *nc, tj_buf *out)
{
	return pump(nc, tj_net_conn_data(nc), out);
}

static int smtp_tls(tj_net_conn *nc, tj_buf *out)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	smtp_txn_reset(c);
	int rc = tj_smtp_tls_started(c->s);
	if (rc)
		return rc;
	return pump(nc, c, out);
}

static void smtp_timeout(tj_net_conn *nc, tj_buf *out)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	tj_log(TJ_LOG_INFO, "smtp", "event=timeout peer=%s phase=%d", c->peer, (int)tj_smtp_phase(c->s));
	tj_smtp_shutdown(c->s, true, NULL);
	(void)tj_smtp_take_output(c->s, out);
}

static void smtp_shutdown(tj_net_conn *nc, tj_buf *out)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	tj_smtp_shutdown(c->s, false, NULL);
	(void)tj_smtp_take_output(c->s, out);
}

static void smtp_close(tj_net_conn *nc)
{
	struct smtp_conn *c = tj_net_conn_data(nc);
	if (!c)
		return;
	tj_smtp_session_free(&c->s);
	tj_buf_free(&c->spool);
	free(c->rcpts);
	free(c);
	tj_net_conn_set_data(nc, NULL);
}

const tj_net_engine smtp_server_engine = {
	.on_open = smtp_open,
	.on_data = smtp_data,
	.want_work = smtp_want_work,
	.work = smtp_work,
	.after_work = smtp_after_work,
	.on_tls = smtp_tls,
	.on_timeout = smtp_timeout,
	.on_shutdown = smtp_shutdown,
	.on_close = smtp_close,
};

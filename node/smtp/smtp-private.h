/*
 * smtp-private.h - the per-connection state shared by smtp-server.c (the
 * engine on the loop thread) and smtp-deliver.c (work on a worker thread).
 * The network layer never runs two hooks of one connection at once, so
 * none of this needs a lock.
 */
#ifndef TJ_NODE_SMTP_PRIVATE_H
#define TJ_NODE_SMTP_PRIVATE_H

#include "node/smtp/smtp-server.h"

#define SMTP_QID_LEN 20

enum smtp_work { SW_NONE = 0, SW_RCPT, SW_DELIVER };

/* an accepted recipient, by the index the protocol engine gave it */
struct smtp_rcpt {
	char addr[TJ_SMTP_PATH_MAX + 1];   /* as sent (for Delivered-To and logs) */
	char user[TJ_SMTP_LOCAL_MAX + 1];  /* store user name (lowercased local part) */
};

struct smtp_conn {
	const struct smtp_server_config *cfg;
	struct tj_smtp_session *s;
	char peer[TJ_NET_ADDR_MAX];       /* "1.2.3.4:5678" */
	char addr[TJ_NET_ADDR_MAX];       /* "1.2.3.4" / "IPv6:::1" for Received: */
	enum smtp_work work;
	/* the RCPT being looked up (SW_RCPT) */
	struct tj_smtp_path pending;
	size_t pending_idx;
	/* the transaction */
	char sender[TJ_SMTP_PATH_MAX + 1];
	bool has_size;
	uint64_t size;                    /* MAIL SIZE= */
	struct smtp_rcpt *rcpts;
	size_t nrcpts, cap;
	tj_buf spool;                     /* Received: + decoded message */
	size_t recv_len;                  /* bytes of our Received: at the start */
	bool spool_err;                   /* out of memory while spooling */
	char qid[SMTP_QID_LEN + 1];
	struct tj_smtp_msginfo msg;       /* DATA_END */
	uint64_t t_start;                 /* ms, DATA accepted */
};

uint64_t smtp_now_ms(void);
void smtp_txn_reset(struct smtp_conn *c);
int smtp_rcpt_accept(struct smtp_conn *c, size_t idx);

/* WORKER THREAD: look up c->pending and answer the RCPT. */
void smtp_work_rcpt(struct smtp_conn *c);
/* WORKER THREAD: scan, store for every recipient, answer DATA, log. */
void smtp_work_deliver(struct smtp_conn *c);
/* loop: log a message the protocol engine refused (size, hops, bare LF). */
void smtp_log_abort(struct smtp_conn *c, const struct tj_smtp_event *ev);

#endif

/*
 * smtp-server.h - tjstored's SMTP (RFC 5321) and LMTP (RFC 2033) server:
 * the protocol engine (protocol/smtp) plugged into the network layer
 * (node/net) as a tj_net_engine, with recipient checks against the store,
 * an optional scanning hook and durable delivery.  See docs/smtp-server.md.
 *
 *   static struct smtp_server_config smtp = {.store = st, .notify = n,
 *       .proto = TJ_SMTP_PROTO_SMTP, .hostname = "mx.example.org",
 *       .max_message_size = cfg->smtp.max_message_size,
 *       .max_recipients = cfg->smtp.max_recipients, .starttls = true};
 *   tj_net_service svc = {.name = "smtp", .engine = &smtp_server_engine,
 *       .arg = &smtp, .idle_ms = SMTP_SERVER_CMD_TIMEOUT_MS,
 *       .reject_msg = SMTP_SERVER_REJECT_MSG};
 *   tj_net_listen(net, &svc, "*:25", false, NULL);
 *
 * Threads: the engine's hooks run on the loop thread, store work (recipient
 * lookups, scanning, delivery) on the network layer's worker pool.  The
 * config, the store, the notifier and the scan context are shared by every
 * connection and must outlive the tj_net.
 */
#ifndef TJ_NODE_SMTP_SERVER_H
#define TJ_NODE_SMTP_SERVER_H

#include "common/buf.h"
#include "node/imap/imap-session.h"
#include "node/net/net.h"
#include "protocol/smtp/smtp.h"
#include "store/store.h"

#include <stdbool.h>
#include <stdint.h>

/* RFC 5321 4.5.3.2: at least 5 minutes per command, 10 minutes for the data. */
#define SMTP_SERVER_CMD_TIMEOUT_MS (5u * 60 * 1000)
#define SMTP_SERVER_DATA_TIMEOUT_MS (10u * 60 * 1000)
#define SMTP_SERVER_REJECT_MSG "421 4.7.0 Too many connections, try again later\r\n"
#define SMTP_SERVER_SCAN_HEADERS_MAX (64u * 1024) /* header text a scanner may add */

/* ---- the scanning hook ---- */

enum smtp_scan_verdict {
	SMTP_SCAN_CLEAN = 0, /* deliver (headers, if any, are added) */
	SMTP_SCAN_SPAM,      /* deliver with headers; into Junk when res->junk */
	SMTP_SCAN_INFECTED,  /* refuse: 554 5.7.1 naming res->name; never delivered */
	SMTP_SCAN_TEMPFAIL,  /* defer: 451 4.7.1; never delivered unscanned */
};

struct smtp_scan_result {
	char qid[32];        /* in: the message's queue id, as in the 250 and the log
	                        line (name the quarantine file after it) */
	enum smtp_scan_verdict verdict;
	double score;        /* spam score, logged for CLEAN and SPAM */
	bool junk;           /* file into the recipients' Junk folder */
	char name[128];      /* INFECTED: the virus name; TEMPFAIL: the reason (logged) */
	tj_buf headers;      /* header fields to add, each "Name: value\r\n"
	                        (e.g. X-Spam-Flag, X-Spam-Score, X-Spam-Status);
	                        added for CLEAN and SPAM; freed by the engine;
	                        at most SMTP_SERVER_SCAN_HEADERS_MAX bytes */
};

/*
 * smtp_scan_fn - scan one message.  msg is the message as it will be stored
 * minus Return-Path/Delivered-To: our Received: field first, then the bytes
 * the client sent (dot-unstuffed, CRLF line ends).  res arrives zeroed
 * (verdict CLEAN, empty headers) but for res->qid, the queue id.  Returns 0
 * when res holds the verdict, or a negative code: the message is then
 * deferred like TEMPFAIL.
 * Runs on worker threads, concurrently for different connections: it must
 * be thread-safe.  It may block (it holds only its connection's worker).
 */
typedef int smtp_scan_fn(void *ctx, const tj_buf *msg, struct smtp_scan_result *res);

/* ---- configuration (one per service: smtp, lmtp) ---- */

struct smtp_server_config {
	tj_store *store;             /* required */
	imap_notify *notify;         /* IDLE sessions learn of new mail; NULL: none */
	enum tj_smtp_proto proto;    /* SMTP or LMTP */
	const char *hostname;        /* greeting, EHLO, Received: by; NULL = "localhost" */
	uint64_t max_message_size;   /* smtp.max_message_size; 0 = TJ_SMTP_DEFAULT_MAX_SIZE */
	uint32_t max_recipients;     /* smtp.max_recipients; 0 = TJ_SMTP_DEFAULT_MAX_RCPTS */
	bool starttls;               /* offer STARTTLS when the tj_net has a TLS context */
	enum tj_smtp_lf_policy lf_policy;
	/* domains accepted in RCPT TO (case-insensitive), NULL-terminated;
	 * NULL = every domain (the local part alone names the user) */
	const char *const *domains;
	smtp_scan_fn *scan;          /* NULL: deliver unscanned, log scan=off */
	void *scan_ctx;
	uint32_t cmd_timeout_ms;     /* 0 = SMTP_SERVER_CMD_TIMEOUT_MS */
	uint32_t data_timeout_ms;    /* 0 = SMTP_SERVER_DATA_TIMEOUT_MS */
};

/* The engine.  Its service's `arg` must be a struct smtp_server_config *. */
extern const tj_net_engine smtp_server_engine;

#endif

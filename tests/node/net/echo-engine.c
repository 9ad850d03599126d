/*
 * echo-engine.c - the test line protocol (see echo-engine.h): a small but
 * honest session engine, buffering input, parsing lines, queueing blocking
 * work and resuming after it, as the IMAP and SMTP engines do.
 */
#include "tests/node/net/echo-engine.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ECHO_LINE_MAX (256 * 1024)
#define ECHO_CHUNK (32 * 1024)

int echo_opened, echo_closed, echo_works;

typedef struct echo_sess {
	tj_buf in;
	size_t pos;          /* parsed up to here */
	uint32_t slow_ms;    /* queued work: sleep this long */
	bool work_queued;
	uint32_t chunks_left;  /* CHUNKS: work items still to run */
	uint32_t chunk_no;
	bool tls_pending;
} echo_sess;

static int echo_open(tj_net_conn *c, tj_buf *out)
{
	echo_sess *s = calloc(1, sizeof(*s));
	if (!s)
		return -1;
	tj_net_conn_set_data(c, s);
	__atomic_add_fetch(&echo_opened, 1, __ATOMIC_SEQ_CST);
	return tj_buf_printf(out, "+OK echo ready tls=%s\r\n", tj_net_conn_is_tls(c) ? "yes" : "no");
}

/* one command; <0 closes */
static int echo_line(tj_net_conn *c, echo_sess *s, const char *l, tj_buf *out)
{
	if (strncmp(l, "ECHO ", 5) == 0)
		return tj_buf_printf(out, "%s\r\n", l + 5);
	if (strcmp(l, "STARTTLS") == 0) {
		int rc = tj_net_conn_starttls(c);
		if (rc < 0)
			return tj_buf_printf(out, "-ERR %s\r\n", rc == TJ_ESTATE ? "already tls" : "no tls");
		s->tls_pending = true;
		return tj_buf_puts(out, "+OK begin tls\r\n");
	}
	if (strcmp(l, "TLS") == 0)
		return tj_buf_printf(out, "+OK tls=%s\r\n", tj_net_conn_is_tls(c) ? "yes" : "no");
	if (strncmp(l, "SLOW ", 5) == 0) {
		s->slow_ms = (uint32_t)atoi(l + 5);
		s->work_queued = true;
		return 0;
	}
	if (strncmp(l, "CHUNKS ", 7) == 0) {
		s->chunks_left = (uint32_t)atoi(l + 7);
		s->chunk_no = 0;
		s->work_queued = s->chunks_left > 0;
		return 0;
	}
	if (strncmp(l, "TIMEOUT ", 8) == 0) {
		tj_net_conn_set_timeout(c, (uint32_t)atoi(l + 8));
		return tj_buf_puts(out, "+OK\r\n");
	}
	if (strcmp(l, "ID") == 0)
		return tj_buf_printf(out, "+OK id=%llu\r\n", (unsigned long long)tj_net_conn_id(c));
	if (strcmp(l, "QUIT") == 0) {
		tj_buf_puts(out, "+OK bye\r\n");
		tj_net_conn_close(c);
		return 0;
	}
	return tj_buf_puts(out, "-ERR unknown command\r\n");
}

/* parse whole lines until work is queued, TLS starts or input runs out */
static int echo_parse(tj_net_conn *c, echo_sess *s, tj_buf *out)
{
	int rc = 0;
	while (!s->work_queued && !s->tls_pending && rc >= 0) {
		uint8_t *nl = memchr(s->in.data + s->pos, '\n', s->in.len - s->pos);
		if (!nl)
			break;
		size_t end = (size_t)(nl - s->in.data);
		size_t start = s->pos;
		s->pos = end + 1;
		if (end > start && s->in.data[end - 1] == '\r')
			end--;
		char *line = strndup((const char *)s->in.data + start, end - start);
		if (!line)
			return -1;
		rc = echo_line(c, s, line, out);
		free(line);
	}
	if (s->tls_pending) {
		/* RFC 3207 4.2: nothing sent before the handshake is a command */
		tj_buf_reset(&s->in);
		s->pos = 0;
		return rc;
	}
	/* compact */
	if (s->pos > 0) {
		memmove(s->in.data, s->in.data + s->pos, s->in.len - s->pos);
		tj_buf_truncate(&s->in, s->in.len - s->pos);
		s->pos = 0;
	}
	if (s->in.len > ECHO_LINE_MAX) {
		tj_buf_puts(out, "-ERR line too long\r\n");
		return -1;
	}
	return rc;
}

static int echo_data(tj_net_conn *c, const uint8_t *p, size_t len, tj_buf *out)
{
	echo_sess *s = tj_net_conn_data(c);
	if (tj_buf_append(&s->in, p, len) < 0)
		return -1;
	return echo_parse(c, s, out);
}

static bool echo_want_work(tj_net_conn *c)
{
	echo_sess *s = tj_net_conn_data(c);
	return s->work_queued;
}

static void echo_work(tj_net_conn *c, tj_buf *out)
{
	echo_sess *s = tj_net_conn_data(c);
	if (s->chunks_left > 0) { /* one chunk of a large answer per work item */
		tj_buf_printf(out, "CHUNK %06u ", s->chunk_no++);
		size_t at = out->len;
		if (tj_buf_reserve(out, ECHO_CHUNK + 2) == 0) {
			memset(out->data + at, 'c', ECHO_CHUNK);
			out->len += ECHO_CHUNK;
			tj_buf_append(out, "\r\n", 2);
		}
		if (--s->chunks_left == 0) {
			tj_buf_puts(out, "+OK chunks done\r\n");
			s->work_queued = false;
		}
		__atomic_add_fetch(&echo_works, 1, __ATOMIC_SEQ_CST);
		return;
	}
	struct timespec ts = {s->slow_ms / 1000, (long)(s->slow_ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	__atomic_add_fetch(&echo_works, 1, __ATOMIC_SEQ_CST);
	tj_buf_puts(out, "+OK slow done\r\n");
	s->work_queued = false;
}

static int echo_after_work(tj_net_conn *c, tj_buf *out)
{
	return echo_parse(c, tj_net_conn_data(c), out);
}

static int echo_wakeup(tj_net_conn *c, tj_buf *out)
{
	return tj_buf_puts(out, "* NEWS\r\n");
}

static int echo_tls(tj_net_conn *c, tj_buf *out)
{
	echo_sess *s = tj_net_conn_data(c);
	s->tls_pending = false;
	return 0;
}

static void echo_timeout(tj_net_conn *c, tj_buf *out)
{
	tj_buf_puts(out, "-ERR autologout\r\n");
}

static void echo_shutdown(tj_net_conn *c, tj_buf *out)
{
	tj_buf_puts(out, "-ERR shutting down\r\n");
}

static void echo_close(tj_net_conn *c)
{
	echo_sess *s = tj_net_conn_data(c);
	tj_buf_free(&s->in);
	free(s);
	__atomic_add_fetch(&echo_closed, 1, __ATOMIC_SEQ_CST);
}

const tj_net_engine echo_engine = {
	.on_open = echo_open,
	.on_data = echo_data,
	.want_work = echo_want_work,
	.work = echo_work,
	.after_work = echo_after_work,
	.on_wakeup = echo_wakeup,
	.on_tls = echo_tls,
	.on_timeout = echo_timeout,
	.on_shutdown = echo_shutdown,
	.on_close = echo_close,
};

/*
 * imap-bench - an IMAP load generator for comparing tjstored with Dovecot
 * (not a test; prints figures).  One thread, non-blocking sockets and epoll,
 * so that the server, not the generator, is what gets measured: every
 * workload prints the generator's own CPU seconds next to the server's.
 *
 *   imap-bench append COMMON --mailbox M --conns C --count N --seconds S --corpus DIR
 *       log in C connections, then APPEND up to N messages (LITERAL+, one
 *       command in flight per connection, each waiting for its tagged OK)
 *       for at most S seconds.  Messages are the corpus's mail of MSG_MIN to
 *       MSG_MAX bytes (CRLF), each made unique by an X-Bench-Seq header (so
 *       that single-instance storage cannot fold them).  Prints msgs_per_s.
 *   imap-bench bigops COMMON --mailbox M --from STR --body STR [--seconds S]
 *       one session: LOGIN+SELECT, UID FETCH 1:* (FLAGS), FETCH 1:* (ENVELOPE),
 *       UID SEARCH FROM, UID SEARCH BODY, STORE 1:* +FLAGS (\Seen) (then an
 *       untimed STORE -FLAGS.SILENT to undo it), and the expunge of 10%: STORE
 *       +FLAGS.SILENT (\Deleted) on every 10th message, then EXPUNGE.  Each
 *       command is bounded by S seconds (default 600).  Prints NAME_ms.
 *   imap-bench cmds COMMON --mailbox M --cmd TEXT [--cmd TEXT ...] [--reps R]
 *       one session: LOGIN+SELECT, then each command R times (default 5),
 *       one at a time.  Prints, per command, the median and minimum time to
 *       the tagged reply (NAME_ms, NAME_min_ms) and to the first byte of the
 *       answer (NAME_first_ms) and the FETCH/SEARCH/EXPUNGE responses
 *       counted (NAME_count), NAME being cmdK for the K-th --cmd.  For
 *       quick before/after comparisons of single commands.
 *   imap-bench conns COMMON --conns C --mailbox M [--seconds S] [--settle S]
 *       open C connections (at most --window logins in flight), log them in,
 *       measure the server's memory; SELECT M and IDLE on every one, measure
 *       again; DONE and LOGOUT.  Prints RSS and PSS per connection in KB.
 *
 * COMMON: --host A (127.0.0.1) --port P --user U --pass PW
 *         --pid PID    the server's root process: its CPU time and memory are
 *                      summed over it and all its descendants (/proc)
 *         --per-addr K at most K connections per local source address
 *                      (127.1.x.y; default 50), for servers that limit
 *                      connections per client address
 * Output: key=value, one per line.  Exit 1 when any command failed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#define MSG_MIN 2900
#define MSG_MAX 5000
#define LINE_MAX_BYTES (64u << 20) /* one logical response line (SEARCH results) */
#define STORE_CHUNK 1000           /* sequence numbers per STORE \Deleted command */

/* ---- small helpers ---- */

/* ---- the server's process tree, from /proc ---- */

static int g_pid; /* the server's root process, 0: none */

/* server_cpu - CPU seconds of the server's processes, the exited children
 * that their parents have reaped included */
static double server_cpu(void)
{
	if (!g_pid)
		return 0;
	struct proc *p;
	size_t n = tree(g_pid, &p);
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i].cpu;
	return s;
}

struct mem {
	double rss_kb, pss_kb;
	size_t procs;
};

static struct mem server_mem(void)
{
	struct mem m = {0, 0, 0};
	if (!g_pid)
		return m;
	struct proc *p;
	size_t n = tree(g_pid, &p);
	static char buf[8192];
	for (size_t i = 0; i < n; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", p[i].pid);
		if (read_file(path, buf, sizeof(buf)) < 0)
			continue;
		char *r = strstr(buf, "\nRss:"), *q = strstr(buf, "\nPss:");
		if (r)
			m.rss_kb += strtod(r + 5, NULL);
		if (q)
			m.pss_kb += strtod(q + 5, NULL);
		m.procs++;
	}
	return m;
}

/* ---- the corpus ---- */

struct msg {
	char *data;
	size_t len;
};
static struct msg *msgs;
static size_t nmsgs;

static void load_file(const char *path)
{
	struct stat st;
	if (stat(path, &st) || !S_ISREG(st.st_mode) || st.st_size > MSG_MAX || st.st_size < MSG_MIN / 2)
		return;
	char *raw = malloc((size_t)st.st_size + 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, raw, (size_t)st.st_size) : -1;
	if (fd >= 0)
		close(fd);
	if (n != st.st_size || memchr(raw, 0, (size_t)n)) { /* NULs are not allowed in a literal */
		free(raw);
		return;
	}
	char *out = malloc((size_t)n * 2 + 2);
	size_t o = 0;
	for (ssize_t i = 0; i < n; i++) { /* LF and lone CR to CRLF */
		char ch = raw[i];
		if (ch == '\r') {
			out[o++] = '\r', out[o++] = '\n';
			if (i + 1 < n && raw[i + 1] == '\n')
				i++;
		} else if (ch == '\n') {
			out[o++] = '\r', out[o++] = '\n';
		} else {
			out[o++] = ch;
		}
	}
	if (o < 2 || out[o - 1] != '\n')
		out[o++] = '\r', out[o++] = '\n';
	free(raw);
	if (o < MSG_MIN || o > MSG_MAX) {
		free(out);
		return;
	}
	msgs = xrealloc(msgs, (nmsgs + 1) * sizeof(*msgs));
	msgs[nmsgs].data = out;
	msgs[nmsgs].len = o;
	nmsgs++;
}

static void load_dir(const char *dir, int depth)
{
	DIR *d = opendir(dir);
	if (!d)
		die("%s: %s", dir, strerror(errno));
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str); /* the same order on every run */
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (!stat(path, &st) && S_ISDIR(st.st_mode) && depth < 4)
			load_dir(path, depth + 1);
		else
			load_file(path);
		free(names[i]);
	}
	free(names);
}

/* ---- connections ---- */

enum ev { EV_GREETING, EV_TAGGED, EV_CONT, EV_CLOSED };
enum st { ST_OK, ST_NO, ST_BAD, ST_OTHER };

typedef struct conn conn;
struct conn {
	int fd, idx;
	bool opened, connecting, greeted, closed;
	/* input: in[off..len) is unprocessed; scan is where the search for LF
	 * goes on inside the current segment */
	char *in;
	size_t len, cap, off, scan;
	uint64_t lit;   /* literal bytes still to skip */
	bool cont;      /* the logical line goes on after a literal */
	char head[128]; /* the start of the current logical line */
	size_t head_len;
	/* output */
	char *out;
	size_t olen, ooff, ocap;
	bool want_out;
	/* the command in flight */
	unsigned tag, want;
	enum st status;
	uint64_t n_fetch, n_expunge, n_search, exists;
	/* the workload's state */
	int state;
	double t0;
	double first_at; /* when the first byte after the last reset came (cmds) */
};

static int g_ep;
static const char *g_host = "127.0.0.1", *g_user, *g_pass;
static int g_port, g_per_addr = 50;
static void (*g_event)(conn *c, enum ev ev);
static uint64_t g_failures;

static void set_events(conn *c)
{
	struct epoll_event e = {.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_close(conn *c)
{
	if (!c->opened || c->closed)
		return;
	c->closed = true;
	epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
}

static void conn_fail(conn *c, const char *why)
{
	if (c->closed)
		return;
	fprintf(stderr, "imap-bench: connection %d: %s\n", c->idx, why);
	g_failures++;
	conn_close(c);
	g_event(c, EV_CLOSED);
}

static void flush_out(conn *c)
{
	while (c->ooff < c->olen && !c->connecting) {
		ssize_t n = write(c->fd, c->out + c->ooff, c->olen - c->ooff);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(c, strerror(errno));
			break;
		}
		c->ooff += (size_t)n;
	}
	if (c->closed)
		return;
	if (c->ooff == c->olen)
		c->ooff = c->olen = 0;
	bool want = c->ooff < c->olen || c->connecting;
	if (want != c->want_out) {
		c->want_out = want;
		set_events(c);
	}
}

static void out_raw(conn *c, const char *p, size_t n)
{
	if (c->olen + n > c->ocap) {
		c->ocap = (c->olen + n) * 2;
		c->out = xrealloc(c->out, c->ocap);
	}
	memcpy(c->out + c->olen, p, n);
	c->olen += n;
}

/* cmd - send "A<tag> <text>\r\n" (text from fmt) and wait for its tag */
__attribute__((format(printf, 2, 3))) static void cmd(conn *c, const char *fmt, ...)
{
	char buf[512];
	int h = snprintf(buf, sizeof(buf), "A%u ", ++c->tag);
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + h, sizeof(buf) - (size_t)h - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf) - (size_t)h - 2)
		die("command too long for cmd()");
	memcpy(buf + h + n, "\r\n", 2);
	c->want = c->tag;
	c->n_fetch = c->n_expunge = c->n_search = 0;
	out_raw(c, buf, (size_t)h + (size_t)n + 2);
	flush_out(c);
}

/* cmd_long - the same for a command line of any length */
static void cmd_long(conn *c, const char *text, size_t n)
{
	char buf[32];
	int h = snprintf(buf, sizeof(buf), "A%u ", ++c->tag);
	c->want = c->tag;
	c->n_fetch = c->n_expunge = c->n_search = 0;
	out_raw(c, buf, (size_t)h);
	out_raw(c, text, n);
	out_raw(c, "\r\n", 2);
	flush_out(c);
}

static bool starts(const char *s, size_t n, const char *p)
{
	size_t m = strlen(p);
	return n >= m && !strncasecmp(s, p, m);
}

/* line_done - one whole response line (literals skipped); head holds its
 * first bytes, seg/seglen its last segment */
static void line_done(conn *c)
{
	const char *h = c->head;
	size_t n = c->head_len;
	if (!c->greeted) {
		c->greeted = true;
		if (!starts(h, n, "* OK") && !starts(h, n, "* PREAUTH")) {
			conn_fail(c, "no OK greeting");
			return;
		}
		g_event(c, EV_GREETING);
		return;
	}
	if (starts(h, n, "* ")) {
		if (starts(h, n, "* BYE")) {
			/* the tagged reply to LOGOUT follows; a BYE otherwise ends
			 * the session, reported when the socket closes */
		} else if (starts(h, n, "* SEARCH")) {
			/* counted by the caller from the segment (see below) */
		} else {
			/* "* N FETCH", "* N EXPUNGE", "* N EXISTS" */
			size_t i = 2;
			uint64_t num = 0;
			while (i < n && h[i] >= '0' && h[i] <= '9')
				num = num * 10 + (uint64_t)(h[i++] - '0');
			if (i > 2 && starts(h + i, n - i, " FETCH"))
				c->n_fetch++;
			else if (i > 2 && starts(h + i, n - i, " EXPUNGE"))
				c->n_expunge++;
			else if (i > 2 && starts(h + i, n - i, " EXISTS"))
				c->exists = num;
		}
		return;
	}
	if (starts(h, n, "+")) {
		g_event(c, EV_CONT);
		return;
	}
	if (n > 1 && h[0] == 'A') {
		unsigned t = 0;
		size_t i = 1;
		while (i < n && h[i] >= '0' && h[i] <= '9')
			t = t * 10 + (unsigned)(h[i++] - '0');
		if (t != c->want || i >= n || h[i] != ' ')
			return;
		i++;
		c->status = starts(h + i, n - i, "OK ") || starts(h + i, n - i, "OK\r") ? ST_OK
			    : starts(h + i, n - i, "NO")					 ? ST_NO
			    : starts(h + i, n - i, "BAD")					 ? ST_BAD
											 : ST_OTHER;
		if (c->status != ST_OK) {
			size_t k = n;
			while (k && (h[k - 1] == '\r' || h[k - 1] == '\n'))
				k--;
			fprintf(stderr, "imap-bench: connection %d: %.*s\n", c->idx, (int)k, h);
		}
		g_event(c, EV_TAGGED);
	}
}

/* parse - handle every complete segment in the input */
static void parse(conn *c)
{
	while (!c->closed && c->off < c->len) {
		if (c->lit) {
			size_t k = c->len - c->off;
			if (k > c->lit)
				k = (size_t)c->lit;
			c->off += k;
			c->lit -= k;
			c->scan = c->off;
			continue;
		}
		char *s = c->in + c->off;
		char *lf = memchr(c->in + c->scan, '\n', c->len - c->scan);
		if (!lf) {
			c->scan = c->len;
			if (c->len - c->off > LINE_MAX_BYTES)
				conn_fail(c, "response line too long");
			return;
		}
		size_t seglen = (size_t)(lf - s) + 1;
		if (!c->cont) {
			c->head_len = seglen < sizeof(c->head) ? seglen : sizeof(c->head);
			memcpy(c->head, s, c->head_len);
			if (starts(s, seglen, "* SEARCH")) /* one number per blank */
				for (size_t i = 8; i < seglen; i++)
					c->n_search += s[i] == ' ' && i + 1 < seglen && s[i + 1] >= '0' && s[i + 1] <= '9';
		}
		/* a literal announced at the end of the segment: "{N}\r\n" */
		size_t e = seglen - 1;
		if (e && s[e - 1] == '\r')
			e--;
		bool literal = false;
		if (e && s[e - 1] == '}') {
			size_t b = e - 1;
			while (b && s[b - 1] >= '0' && s[b - 1] <= '9')
				b--;
			if (b && s[b - 1] == '{' && b < e - 1) {
				c->lit = strtoull(s + b, NULL, 10);
				literal = true;
			}
		}
		c->off += seglen;
		c->scan = c->off;
		if (literal) {
			c->cont = true;
		} else {
			c->cont = false;
			line_done(c);
		}
	}
	if (!c->closed && c->off == c->len)
		c->off = c->len = c->scan = 0;
}

static void on_readable(conn *c)
{
	for (int rounds = 0; rounds < 16 && !c->closed; rounds++) {
		if (c->off > 0 && c->off == c->len)
			c->off = c->len = c->scan = 0;
		if (c->off > 0 && c->cap - c->len < 65536) { /* move the partial line down */
			memmove(c->in, c->in + c->off, c->len - c->off);
			c->len -= c->off;
			c->scan -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < 65536) {
			c->cap = c->cap ? c->cap * 2 : 262144;
			c->in = xrealloc(c->in, c->cap);
		}
		ssize_t n = read(c->fd, c->in + c->len, c->cap - c->len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				conn_fail(c, strerror(errno));
			return;
		}
		if (n == 0) {
			conn_close(c);
			g_event(c, EV_CLOSED);
			return;
		}
		if (c->first_at == 0)
			c->first_at = now();
		c->len += (size_t)n;
		parse(c);
		if ((size_t)n < c->cap - c->len)
			return;
	}
}

static void conn_open(conn *c, int idx)
{
	memset(c, 0, sizeof(*c));
	c->idx = idx;
	c->opened = true;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (g_per_addr > 0) { /* 127.1.x.y: every 127/8 address is local */
		unsigned k = (unsigned)idx / (unsigned)g_per_addr;
		struct sockaddr_in src = {.sin_family = AF_INET};
		src.sin_addr.s_addr = htonl((127u << 24) | (1u << 16) | ((k / 250) << 8) | (k % 250 + 1));
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (struct sockaddr *)&src, sizeof(src)))
			die("bind: %s", strerror(errno));
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
	if (inet_pton(AF_INET, g_host, &a.sin_addr) != 1)
		die("--host %s: not an IPv4 address", g_host);
	c->connecting = true;
	c->want_out = true;
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	if (epoll_ctl(g_ep, EPOLL_CTL_ADD, c->fd, &e))
		die("epoll_ctl: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) && errno != EINPROGRESS)
		die("connect: %s", strerror(errno));
}

/* loop - run until done() says so or the deadline passes; returns false on
 * timeout */
static bool loop(bool (*done)(void), double deadline)
{
	struct epoll_event evs[256];
	while (!done()) {
		double left = deadline - now();
		if (left <= 0)
			return false;
		int n = epoll_wait(g_ep, evs, 256, left > 0.1 ? 100 : (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (int i = 0; i < n; i++) {
			conn *c = evs[i].data.ptr;
			if (c->closed)
				continue;
			if (c->connecting && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				int err = 0;
				socklen_t l = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
				if (err) {
					conn_fail(c, strerror(err));
					continue;
				}
				c->connecting = false;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c);
			if (!c->closed && (evs[i].events & EPOLLOUT))
				flush_out(c);
		}
	}
	return true;
}

static void quote(char *dst, size_t cap, const char *s)
{
	size_t o = 0;
	dst[o++] = '"';
	for (; *s && o + 3 < cap; s++) {
		if (*s == '"' || *s == '\\')
			dst[o++] = '\\';
		dst[o++] = *s;
	}
	dst[o++] = '"';
	dst[o] = 0;
}

static void login(conn *c)
{
	char u[300], p[300];
	quote(u, sizeof(u), g_user);
	quote(p, sizeof(p), g_pass);
	cmd(c, "LOGIN %s %s", u, p);
}

/* ---- workload: append ---- */

enum { A_GREET, A_LOGIN, A_READY, A_APPEND, A_LOGOUT, A_DONE };
static conn *g_conns;
static int g_nconns;
static const char *g_mailbox = "INBOX";
static uint64_t a_sent, a_done, a_limit;
static double a_deadline;
static int a_ready, a_finished;
static char a_run[32];
static bool a_started;

static void append_next(conn *c)
{
	if (!a_started || a_sent >= a_limit || now() >= a_deadline) {
		c->state = A_LOGOUT;
		cmd(c, "LOGOUT");
		return;
	}
	uint64_t k = a_sent++;
	const struct msg *m = &msgs[k % nmsgs];
	char hdr[96], mb[300];
	int h = snprintf(hdr, sizeof(hdr), "X-Bench-Seq: %s-%" PRIu64 "\r\n", a_run, k);
	quote(mb, sizeof(mb), g_mailbox);
	char line[512];
	int n = snprintf(line, sizeof(line), "A%u APPEND %s {%zu+}\r\n", ++c->tag, mb, (size_t)h + m->len);
	c->want = c->tag;
	out_raw(c, line, (size_t)n);
	out_raw(c, hdr, (size_t)h);
	out_raw(c, m->data, m->len);
	out_raw(c, "\r\n", 2);
	c->state = A_APPEND;
	flush_out(c);
}

static void append_event(conn *c, enum ev ev)
{
	if (ev == EV_CLOSED) {
		if (c->state != A_DONE) {
			if (c->state < A_READY)
				a_ready++;
			c->state = A_DONE;
			a_finished++;
		}
		return;
	}
	if (ev == EV_GREETING) {
		c->state = A_LOGIN;
		login(c);
		return;
	}
	if (ev != EV_TAGGED)
		return;
	switch (c->state) {
	case A_LOGIN:
		if (c->status != ST_OK) {
			conn_fail(c, "LOGIN failed");
			return;
		}
		c->state = A_READY;
		a_ready++;
		break;
	case A_APPEND:
		if (c->status == ST_OK)
			a_done++;
		else
			g_failures++;
		append_next(c);
		break;
	case A_LOGOUT:
		c->state = A_DONE;
		a_finished++;
		conn_close(c);
		break;
	}
}

static bool all_ready(void)
{
	return a_ready >= g_nconns;
}
static bool all_finished(void)
{
	return a_finished >= g_nconns;
}

/* ---- workload: bigops (one connection, one command at a time) ---- */

static bool b_done;
static void sync_event(conn *c, enum ev ev)
{
	if (ev == EV_GREETING || ev == EV_TAGGED || ev == EV_CLOSED)
		b_done = true;
}
static bool sync_done(void)
{
	return b_done;
}

static double g_seconds = 600;

/* wait for the tagged reply (or the greeting); false on failure */
static bool wait_reply(conn *c, const char *what)
{
	b_done = false;
	if (!loop(sync_done, now() + g_seconds)) {
		fprintf(stderr, "imap-bench: %s: no reply in %.0f s\n", what, g_seconds);
		return false;
	}
	if (c->closed) {
		fprintf(stderr, "imap-bench: %s: connection closed\n", what);
		return false;
	}
	return c->status == ST_OK;
}

struct opres {
	const char *name;
	double ms, ccpu, scpu;
	uint64_t count;
	bool ok;
};
static struct opres ops[16];
static int nops;
static double op_t, op_c, op_s;

static void op_begin(void)
{
	op_c = self_cpu();
	op_s = server_cpu();
	op_t = now();
}

static void op_end(const char *name, bool ok, uint64_t count)
{
	double t = now();
	struct opres *r = &ops[nops++];
	r->name = name;
	r->ms = (t - op_t) * 1000;
	r->ccpu = self_cpu() - op_c;
	r->scpu = server_cpu() - op_s;
	r->count = count;
	r->ok = ok;
	if (!ok)
		g_failures++;
}

static int run_bigops(const char *from, const char *body)
{
	conn *c = calloc(1, sizeof(*c));
	uint64_t exists = 0;
	g_event = sync_event;
	char mb[300], q[600];
	quote(mb, sizeof(mb), g_mailbox);

	op_begin();
	c->status = ST_OK;
	conn_open(c, 0);
	bool ok = wait_reply(c, "greeting");
	if (ok) {
		login(c);
		ok = wait_reply(c, "LOGIN");
	}
	if (ok) {
		cmd(c, "SELECT %s", mb);
		ok = wait_reply(c, "SELECT");
	}
	op_end("login_select", ok, c->exists);
	exists = c->exists;
	if (!ok)
		goto out;

	op_begin();
	cmd(c, "UID FETCH 1:* (FLAGS)");
	ok = wait_reply(c, "UID FETCH FLAGS");
	op_end("fetch_flags", ok, c->n_fetch);

	op_begin();
	cmd(c, "FETCH 1:* (ENVELOPE)");
	ok = wait_reply(c, "FETCH ENVELOPE");
	op_end("fetch_envelope", ok, c->n_fetch);

	quote(q, sizeof(q), from);
	op_begin();
	cmd(c, "UID SEARCH FROM %s", q);
	ok = wait_reply(c, "SEARCH FROM");
	op_end("search_from", ok, c->n_search);

	quote(q, sizeof(q), body);
	op_begin();
	cmd(c, "UID SEARCH BODY %s", q);
	ok = wait_reply(c, "SEARCH BODY");
	op_end("search_body", ok, c->n_search);

	op_begin();
	cmd(c, "STORE 1:* +FLAGS (\\Seen)");
	ok = wait_reply(c, "STORE Seen");
	op_end("store_seen", ok, c->n_fetch);

	/* undo, untimed, so that the next repetition starts from the same state */
	cmd(c, "STORE 1:* -FLAGS.SILENT (\\Seen)");
	if (!wait_reply(c, "STORE -Seen"))
		g_failures++;

	/* expunge every 10th message: STORE in chunks (line length limits),
	 * then EXPUNGE */
	op_begin();
	ok = true;
	size_t tcap = (size_t)STORE_CHUNK * 12 + 64, deleted = 0;
	char *text = malloc(tcap);
	for (uint64_t s = 10; ok && s <= exists;) {
		size_t o = (size_t)snprintf(text, tcap, "STORE ");
		for (int k = 0; k < STORE_CHUNK && s <= exists; k++, s += 10, deleted++)
			o += (size_t)snprintf(text + o, tcap - o, "%s%" PRIu64, k ? "," : "", s);
		o += (size_t)snprintf(text + o, tcap - o, " +FLAGS.SILENT (\\Deleted)");
		cmd_long(c, text, o);
		ok = wait_reply(c, "STORE Deleted");
	}
	free(text);
	if (ok) {
		cmd(c, "EXPUNGE");
		ok = wait_reply(c, "EXPUNGE");
	}
	op_end("expunge10", ok, c->n_expunge);
	if (ok && c->n_expunge != deleted)
		fprintf(stderr, "imap-bench: EXPUNGE: %" PRIu64 " expunged, %zu marked\n", c->n_expunge, deleted);

	cmd(c, "LOGOUT");
	wait_reply(c, "LOGOUT");
out:
	conn_close(c);
	printf("exists=%" PRIu64 "\n", exists);
	for (int i = 0; i < nops; i++) {
		struct opres *r = &ops[i];
		printf("%s_ms=%.1f\n%s_count=%" PRIu64 "\n%s_client_cpu_s=%.3f\n%s_server_cpu_s=%.3f\n%s_ok=%d\n",
		       r->name, r->ms, r->name, r->count, r->name, r->ccpu, r->name, r->scpu, r->name, r->ok);
	}
	printf("failures=%" PRIu64 "\n", g_failures);
	return g_failures ? 1 : 0;
}

/* ---- workload: cmds (single commands, repeated) ---- */

#define CMDS_MAX 16

static int run_cmds(const char **texts, int ntexts, int reps)
{
	conn *c = calloc(1, sizeof(*c));
	g_event = sync_event;
	char mb[300];
	quote(mb, sizeof(mb), g_mailbox);
	c->status = ST_OK;
	conn_open(c, 0);
	bool ok = wait_reply(c, "greeting");
	if (ok) {
		login(c);
		ok = wait_reply(c, "LOGIN");
	}
	if (ok) {
		cmd(c, "SELECT %s", mb);
		ok = wait_reply(c, "SELECT");
	}
	if (!ok) {
		printf("failures=1\n");
		return 1;
	}
	uint64_t counts[CMDS_MAX] = {0};
	double *tot = calloc((size_t)(ntexts * reps), sizeof(double));
	double *first = calloc((size_t)(ntexts * reps), sizeof(double));
	for (int r = 0; r < reps && ok; r++)
		for (int i = 0; i < ntexts && ok; i++) {
			c->first_at = 0;
			double t0 = now();
			cmd_long(c, texts[i], strlen(texts[i]));
			ok = wait_reply(c, texts[i]);
			tot[i * reps + r] = (now() - t0) * 1000;
			counts[i] = c->n_fetch + c->n_search + c->n_expunge;
			first[i * reps + r] = (c->first_at - t0) * 1000;
		}
	for (int i = 0; i < ntexts; i++) {
		qsort(tot + i * reps, (size_t)reps, sizeof(double), cmp_dbl);
		qsort(first + i * reps, (size_t)reps, sizeof(double), cmp_dbl);
		printf("cmd%d=%s\ncmd%d_ms=%.1f\ncmd%d_min_ms=%.1f\ncmd%d_first_ms=%.1f\ncmd%d_count=%" PRIu64 "\n", i,
		       texts[i], i, tot[i * reps + reps / 2], i, tot[i * reps], i, first[i * reps + reps / 2], i,
		       counts[i]);
	}
	cmd(c, "LOGOUT");
	wait_reply(c, "LOGOUT");
	conn_close(c);
	free(tot);
	free(first);
	printf("failures=%" PRIu64 "\n", g_failures + !ok);
	return ok && !g_failures ? 0 : 1;
}

/* ---- workload: conns (memory per idle and IDLE connection) ---- */

enum { C_WAIT, C_GREET, C_LOGIN, C_AUTHED, C_SELECT, C_IDLE_CMD, C_IDLING, C_DONE_SENT, C_LOGOUT, C_END };
static int c_opened, c_authed, c_idling, c_ended, c_inflight, c_window = 32;

static void conns_event(conn *c, enum ev ev)
{
	if (ev == EV_CLOSED) {
		if (c->state < C_AUTHED)
			c_inflight--;
		c->state = C_END;
		c_ended++;
		return;
	}
	if (ev == EV_GREETING) {
		c->state = C_LOGIN;
		login(c);
		return;
	}
	if (ev == EV_CONT) {
		if (c->state == C_IDLE_CMD) {
			c->state = C_IDLING;
			c_idling++;
		}
		return;
	}
	switch (c->state) {
	case C_LOGIN:
		if (c->status != ST_OK) {
			conn_fail(c, "LOGIN failed"); /* EV_CLOSED counts it */
			return;
		}
		c_inflight--;
		c->state = C_AUTHED;
		c_authed++;
		break;
	case C_SELECT:
		if (c->status != ST_OK) {
			conn_fail(c, "SELECT failed");
			return;
		}
		c->state = C_IDLE_CMD;
		cmd(c, "IDLE");
		break;
	case C_IDLE_CMD:
		conn_fail(c, "IDLE refused");
		break;
	case C_DONE_SENT:
		c->state = C_LOGOUT;
		cmd(c, "LOGOUT");
		break;
	case C_LOGOUT:
		c->state = C_END;
		c_ended++;
		conn_close(c);
		break;
	}
}

static bool conns_opened(void)
{
	/* open more while the window allows; done when every one is authed or gone */
	while (c_opened < g_nconns && c_inflight < c_window) {
		conn *c = &g_conns[c_opened];
		conn_open(c, c_opened);
		c->state = C_GREET;
		c_opened++;
		c_inflight++;
	}
	return c_opened >= g_nconns && c_authed + c_ended >= g_nconns;
}
static bool conns_idling(void)
{
	return c_idling + c_ended >= g_nconns;
}
static bool conns_ended(void)
{
	return c_ended >= g_nconns;
}
static bool never(void)
{
	return false;
}

static int run_conns(double settle)
{
	g_event = conns_event;
	g_conns = calloc((size_t)g_nconns, sizeof(conn));
	double deadline = now() + g_seconds;
	loop(never, now() + settle);
	struct mem base = server_mem();

	double c0 = self_cpu(), s0 = server_cpu(), t0 = now();
	bool ok = loop(conns_opened, deadline);
	double login_s = now() - t0, login_c = self_cpu() - c0, login_sc = server_cpu() - s0;
	if (!ok)
		fprintf(stderr, "imap-bench: %d of %d connections logged in before the deadline\n", c_authed, g_nconns);
	loop(never, now() + settle);
	struct mem authed = server_mem();
	int n_authed = c_authed;

	char mb[300];
	quote(mb, sizeof(mb), g_mailbox);
	c0 = self_cpu(), s0 = server_cpu(), t0 = now();
	for (int i = 0; i < g_nconns; i++) {
		conn *c = &g_conns[i];
		if (c->state == C_AUTHED) {
			c->state = C_SELECT;
			cmd(c, "SELECT %s", mb);
		}
	}
	if (!loop(conns_idling, deadline))
		fprintf(stderr, "imap-bench: %d of %d connections idling before the deadline\n", c_idling, g_nconns);
	double idle_s = now() - t0, idle_c = self_cpu() - c0, idle_sc = server_cpu() - s0;
	loop(never, now() + settle);
	struct mem idling = server_mem();
	int n_idling = c_idling;

	for (int i = 0; i < g_nconns; i++) {
		conn *c = &g_conns[i];
		if (c->state == C_IDLING) {
			c->state = C_DONE_SENT;
			out_raw(c, "DONE\r\n", 6);
			flush_out(c);
		} else if (c->opened && !c->closed) {
			conn_close(c);
			c->state = C_END;
			c_ended++;
		}
	}
	if (!loop(conns_ended, now() + 60))
		fprintf(stderr, "imap-bench: %d of %d connections logged out\n", c_ended, g_nconns);
	for (int i = 0; i < g_nconns; i++)
		conn_close(&g_conns[i]);

	printf("conns=%d\nauthed=%d\nidling=%d\n", g_nconns, n_authed, n_idling);
	printf("base_procs=%zu\nauthed_procs=%zu\nidle_procs=%zu\n", base.procs, authed.procs, idling.procs);
	printf("base_rss_kb=%.0f\nauthed_rss_kb=%.0f\nidle_rss_kb=%.0f\n", base.rss_kb, authed.rss_kb, idling.rss_kb);
	printf("base_pss_kb=%.0f\nauthed_pss_kb=%.0f\nidle_pss_kb=%.0f\n", base.pss_kb, authed.pss_kb, idling.pss_kb);
	if (n_authed > 0) {
		printf("rss_per_conn_kb=%.1f\npss_per_conn_kb=%.1f\n", (authed.rss_kb - base.rss_kb) / n_authed,
		       (authed.pss_kb - base.pss_kb) / n_authed);
	}
	if (n_idling > 0) {
		printf("rss_per_idle_kb=%.1f\npss_per_idle_kb=%.1f\n", (idling.rss_kb - base.rss_kb) / n_idling,
		       (idling.pss_kb - base.pss_kb) / n_idling);
	}
	printf("login_s=%.3f\nlogin_client_cpu_s=%.3f\nlogin_server_cpu_s=%.3f\n", login_s, login_c, login_sc);
	printf("idle_s=%.3f\nidle_client_cpu_s=%.3f\nidle_server_cpu_s=%.3f\n", idle_s, idle_c, idle_sc);
	printf("failures=%" PRIu64 "\n", g_failures);
	return (n_authed == g_nconns && n_idling == g_nconns && !g_failures) ? 0 : 1;
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: imap-bench append|bigops|cmds|conns --port P --user U --pass PW [--host A] [--pid PID]\n"
	      "         [--per-addr K] [--mailbox M] [--conns C] [--count N] [--seconds S] [--corpus DIR]\n"
	      "         [--from STR] [--body STR] [--settle S] [--window W] [--cmd TEXT]... [--reps R]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1], *corpus = NULL, *from = "hotmail.com", *body = "mortgage";
	const char *texts[CMDS_MAX];
	int ntexts = 0, reps = 5;
	uint64_t count = 1000;
	double settle = 2;
	g_nconns = 1;
	bool seconds_set = false;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--host"))
			g_host = v;
		else if (!strcmp(a, "--port"))
			g_port = atoi(v);
		else if (!strcmp(a, "--user"))
			g_user = v;
		else if (!strcmp(a, "--pass"))
			g_pass = v;
		else if (!strcmp(a, "--pid"))
			g_pid = atoi(v);
		else if (!strcmp(a, "--per-addr"))
			g_per_addr = atoi(v);
		else if (!strcmp(a, "--mailbox"))
			g_mailbox = v;
		else if (!strcmp(a, "--conns"))
			g_nconns = atoi(v);
		else if (!strcmp(a, "--count"))
			count = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seconds"))
			g_seconds = strtod(v, NULL), seconds_set = true;
		else if (!strcmp(a, "--corpus"))
			corpus = v;
		else if (!strcmp(a, "--from"))
			from = v;
		else if (!strcmp(a, "--body"))
			body = v;
		else if (!strcmp(a, "--settle"))
			settle = strtod(v, NULL);
		else if (!strcmp(a, "--window"))
			c_window = atoi(v);
		else if (!strcmp(a, "--cmd") && ntexts < CMDS_MAX)
			texts[ntexts++] = v;
		else if (!strcmp(a, "--reps"))
			reps = atoi(v);
		else
			usage();
	}
	if (!g_port || !g_user || !g_pass || g_nconns < 1 || g_seconds <= 0 || c_window < 1)
		usage();
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	g_ep = epoll_create1(EPOLL_CLOEXEC);
	if (g_ep < 0)
		die("epoll_create1: %s", strerror(errno));

	if (!strcmp(mode, "bigops"))
		return run_bigops(from, body);
	if (!strcmp(mode, "conns"))
		return run_conns(settle);
	if (!strcmp(mode, "cmds"))
		return ntexts && reps > 0 ? run_cmds(texts, ntexts, reps) : (usage(), 2);
	if (strcmp(mode, "append"))
		usage();

	if (!corpus)
		die("append needs --corpus DIR");
	load_dir(corpus, 0);
	if (!nmsgs)
		die("%s: no messages of %d-%d bytes", corpus, MSG_MIN, MSG_MAX);
	size_t bytes = 0;
	for (size_t i = 0; i < nmsgs; i++)
		bytes += msgs[i].len;
	if (!seconds_set)
		g_seconds = 60;
	snprintf(a_run, sizeof(a_run), "%ld.%d", (long)time(NULL), (int)getpid());
	a_limit = count;
	g_event = append_event;
	g_conns = calloc((size_t)g_nconns, sizeof(conn));
	for (int i = 0; i < g_nconns; i++) {
		conn_open(&g_conns[i], i);
		g_conns[i].state = A_GREET;
	}
	if (!loop(all_ready, now() + 60))
		die("connections not logged in after 60 s");
	double c0 = self_cpu(), s0 = server_cpu(), t0 = now();
	a_deadline = t0 + g_seconds;
	a_started = true;
	for (int i = 0; i < g_nconns; i++)
		if (g_conns[i].state == A_READY)
			append_next(&g_conns[i]);
	if (!loop(all_finished, a_deadline + 60))
		fprintf(stderr, "imap-bench: APPENDs still in flight 60 s after the deadline\n");
	double t = now() - t0;
	double ccpu = self_cpu() - c0, scpu = server_cpu() - s0;
	printf("corpus_messages=%zu\ncorpus_avg_bytes=%.0f\n", nmsgs, (double)bytes / (double)nmsgs);
	printf("appended=%" PRIu64 "\nseconds=%.3f\nmsgs_per_s=%.1f\n", a_done, t, (double)a_done / t);
	printf("client_cpu_s=%.3f\nserver_cpu_s=%.3f\nfailures=%" PRIu64 "\n", ccpu, scpu, g_failures);
	return g_failures ? 1 : 0;
}

/*
 * deliver-bench - an SMTP/LMTP delivery load generator for comparing
 * tjstored with Dovecot's LMTP (bench/run.sh; not a test, it prints
 * figures).  One thread, non-blocking sockets and epoll, so that the server,
 * not the generator, is what gets measured: it prints its own CPU seconds
 * next to the server's.
 *
 *   deliver-bench send --port P --proto smtp|lmtp --sessions S --corpus DIR
 *                      --rcpt ADDR [--rcpt ADDR ...] [options]
 *       S concurrent sessions deliver the corpus's messages (every regular
 *       file under DIR, in name order; LF and lone CR made CRLF, dot-stuffed),
 *       each message once unless --count says otherwise.  MAIL, RCPT and DATA
 *       go in one write when the server offers PIPELINING (RFC 2920), then
 *       the body after the 354.  A recipient counts as delivered on a 2xx
 *       final reply: SMTP has one for the message, LMTP one per accepted
 *       recipient (RFC 2033).  A failed transaction is counted and RSET, never
 *       retried.
 *         --host A          server address (127.0.0.1)
 *         --count N         messages to send (default: the corpus, once)
 *         --seconds T       stop starting transactions after T s (default 600)
 *         --rcpts-per-msg K recipients per message (default 1)
 *         --rcpt-mode M     session: session i sends to rcpt[i mod n] (default);
 *                           message: message k to rcpt[k mod n]
 *         --from ADDR       envelope sender (bench@deliver-bench.test)
 *         --pid PID         the server's root process: CPU is summed over it
 *                           and its descendants (/proc), before and after
 *   deliver-bench watch --pid PID [--interval-ms MS]
 *       samples the summed RSS, PSS and anonymous RSS (RssAnon: heap and
 *       stacks, not file mappings) of PID's process tree every MS ms
 *       (default 200) until SIGTERM or SIGINT (or until PID is gone), then
 *       prints the peaks and the summed VmHWM of the processes still alive.
 *
 * Output: key=value, one per line.  Exit 1 when anything failed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
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

#define MAX_RCPTS 64               /* --rcpt entries, and recipients per message */
#define REPLY_LINE_MAX 4096        /* one reply line; longer ones are cut */
#define READ_CHUNK 65536
#define MAX_SESSIONS 4096

/* ---- small helpers ---- */

/* ---- the server's process tree (/proc) ---- */

static double tree_cpu(int root)
{
	if (!root)
		return 0;
	struct proc *p;
	size_t n = tree(root, &p);
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += p[i].cpu;
	return s;
}

/* field_kb - the number after "\nName:" (or at the start) in buf, in kB */
static double field_kb(const char *buf, const char *name)
{
	size_t nl = strlen(name);
	for (const char *p = buf; (p = strstr(p, name)); p += nl)
		if ((p == buf || p[-1] == '\n') && p[nl] == ':')
			return strtod(p + nl + 1, NULL);
	return 0;
}

/* ---- watch: peak memory of a process tree ---- */

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

static int run_watch(int root, int interval_ms)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	double peak_rss = 0, peak_pss = 0, peak_anon = 0, hwm = 0;
	size_t samples = 0, peak_procs = 0;
	static char buf[16384];
	double t0 = now();
	while (!g_stop) {
		struct proc *p;
		size_t n = tree(root, &p);
		if (!n)
			break;
		double rss = 0, pss = 0, anon = 0, h = 0;
		for (size_t i = 0; i < n; i++) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/%d/status", p[i].pid);
			if (read_file(path, buf, sizeof(buf)) >= 0) {
				rss += field_kb(buf, "VmRSS");
				anon += field_kb(buf, "RssAnon");
				h += field_kb(buf, "VmHWM");
			}
			snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", p[i].pid);
			if (read_file(path, buf, sizeof(buf)) >= 0)
				pss += field_kb(buf, "Pss");
		}
		samples++;
		if (rss > peak_rss)
			peak_rss = rss;
		if (pss > peak_pss)
			peak_pss = pss;
		if (anon > peak_anon)
			peak_anon = anon;
		if (n > peak_procs)
			peak_procs = n;
		hwm = h; /* the last sample's: the processes alive at the end */
		if (!g_stop)
			poll(NULL, 0, interval_ms); /* a signal ends the sleep early */
	}
	printf("samples=%zu\nseconds=%.1f\npeak_rss_kb=%.0f\npeak_pss_kb=%.0f\npeak_anon_kb=%.0f\nend_hwm_kb=%.0f\n"
	       "peak_procs=%zu\nwatch_cpu_s=%.3f\n",
	       samples, now() - t0, peak_rss, peak_pss, peak_anon, hwm, peak_procs, self_cpu());
	return samples ? 0 : 1;
}

/* ---- the corpus ---- */

struct msg {
	char *wire;      /* CRLF, dot-stuffed, ending in ".\r\n" */
	size_t wire_len;
	size_t raw_len;  /* CRLF, before dot-stuffing: SIZE= and MB/s */
	bool eightbit;
};
static struct msg *msgs;
static size_t nmsgs;

static void load_file(const char *path, off_t size)
{
	char *raw = malloc((size_t)size + 1);
	if (!raw)
		die("out of memory");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t n = 0;
	if (fd >= 0) {
		while (n < (size_t)size) {
			ssize_t r = read(fd, raw + n, (size_t)size - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		close(fd);
	}
	if (n != (size_t)size || n == 0) {
		free(raw);
		return;
	}
	/* worst case: every byte a line end ("\n" -> "\r\n") or a dot at a
	 * line start ("." -> ".."), plus the end of data */
	char *out = malloc(n * 2 + 8);
	if (!out)
		die("out of memory");
	size_t o = 0, rawlen = 0;
	bool bol = true, eight = false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)raw[i];
		if (ch == '\r' || ch == '\n') {
			out[o++] = '\r', out[o++] = '\n';
			rawlen += 2;
			if (ch == '\r' && i + 1 < n && raw[i + 1] == '\n')
				i++;
			bol = true;
			continue;
		}
		if (bol && ch == '.')
			out[o++] = '.';
		out[o++] = (char)ch;
		rawlen++;
		if (ch >= 0x80)
			eight = true;
		bol = false;
	}
	if (!bol) {
		out[o++] = '\r', out[o++] = '\n';
		rawlen += 2;
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	free(raw);
	msgs = xrealloc(msgs, (nmsgs + 1) * sizeof(*msgs));
	msgs[nmsgs++] = (struct msg){.wire = out, .wire_len = o, .raw_len = rawlen, .eightbit = eight};
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
		names[n] = strdup(de->d_name);
		if (!names[n++])
			die("out of memory");
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str); /* the same order on every run */
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		struct stat st;
		if (!stat(path, &st)) {
			if (S_ISDIR(st.st_mode) && depth < 4)
				load_dir(path, depth + 1);
			else if (S_ISREG(st.st_mode))
				load_file(path, st.st_size);
		}
		free(names[i]);
	}
	free(names);
}

/* ---- sessions ---- */

enum sst {
	S_GREET,   /* connected (or connecting), waiting for 220 */
	S_HELLO,   /* EHLO/LHLO sent */
	S_READY,   /* greeted, waiting for the start */
	S_CMDS,    /* MAIL, RCPT..., DATA sent (all at once or one by one) */
	S_FINAL,   /* body sent, waiting for the final reply (LMTP: one per accepted rcpt) */
	S_RSET,    /* RSET sent after a failed transaction */
	S_QUIT,    /* QUIT sent */
	S_DONE,
};

typedef struct sess sess;
struct sess {
	int fd, idx;
	enum sst st;
	bool connecting;
	/* input */
	char *in;
	size_t ilen, icap;
	char line[REPLY_LINE_MAX];
	/* output: commands, then the body (a pointer into the corpus) */
	char *out;
	size_t olen, ooff, ocap;
	const char *body;
	size_t blen, boff;
	bool want_out;
	/* the server's extensions */
	bool pipelining, eightbitmime, size;
	/* the transaction */
	size_t msg;
	int nrcpt, ncmds, sent, replied, rcpt_ok, final_left, final_ok;
	bool mail_ok, failed;
	const char *rcpts[MAX_RCPTS];
	double t0;
};

static int g_ep;
static const char *g_host = "127.0.0.1", *g_from = "bench@deliver-bench.test";
static int g_port;
static bool g_lmtp;
static const char *g_rcpt[MAX_RCPTS];
static int g_nrcpt_list, g_rcpts_per_msg = 1;
static bool g_rcpt_by_message;
static sess *g_sess;
static int g_nsess;
static bool g_started;
static uint64_t g_next, g_count;
static double g_deadline, g_t_last;
/* results */
static uint64_t r_msgs_ok, r_msgs_fail, r_rcpt_ok, r_rcpt_fail, r_bytes, r_conn_errors;
static int r_ready, r_done;
static double *r_lat;
static size_t r_nlat;
static char r_first_error[256];

static void note_error(sess *s, const char *what, const char *line)
{
	if (!r_first_error[0])
		snprintf(r_first_error, sizeof(r_first_error), "session %d: %s: %.150s", s->idx, what, line);
}

static void set_events(sess *s)
{
	struct epoll_event e = {.events = EPOLLIN | (s->want_out ? EPOLLOUT : 0u), .data.ptr = s};
	epoll_ctl(g_ep, EPOLL_CTL_MOD, s->fd, &e);
}

static void sess_end(sess *s)
{
	if (s->st == S_DONE)
		return;
	if (s->st < S_READY)
		r_ready++; /* never ready: do not wait for it */
	if (s->st == S_CMDS || s->st == S_FINAL)
		r_msgs_fail++;
	s->st = S_DONE;
	r_done++;
	if (s->fd >= 0) {
		epoll_ctl(g_ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
		s->fd = -1;
	}
}

static void sess_fail(sess *s, const char *why)
{
	if (s->st == S_DONE)
		return;
	if (s->st != S_QUIT) {
		fprintf(stderr, "deliver-bench: session %d: %s\n", s->idx, why);
		r_conn_errors++;
		note_error(s, "connection", why);
	}
	sess_end(s);
}

static void flush_out(sess *s)
{
	while (!s->connecting && s->st != S_DONE) {
		const char *p;
		size_t left;
		bool body = false;
		if (s->ooff < s->olen) {
			p = s->out + s->ooff, left = s->olen - s->ooff;
		} else if (s->body && s->boff < s->blen) {
			p = s->body + s->boff, left = s->blen - s->boff, body = true;
		} else {
			break;
		}
		ssize_t n = send(s->fd, p, left, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sess_fail(s, strerror(errno));
			break;
		}
		if (body)
			s->boff += (size_t)n;
		else
			s->ooff += (size_t)n;
	}
	if (s->st == S_DONE)
		return;
	if (s->ooff == s->olen)
		s->ooff = s->olen = 0;
	if (s->body && s->boff == s->blen)
		s->body = NULL, s->blen = s->boff = 0;
	bool want = s->connecting || s->olen > 0 || s->body != NULL;
	if (want != s->want_out) {
		s->want_out = want;
		set_events(s);
	}
}

static void out_fmt(sess *s, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		die("command too long");
	if (s->olen + (size_t)n > s->ocap) {
		s->ocap = (s->olen + (size_t)n) * 2 + 256;
		s->out = xrealloc(s->out, s->ocap);
	}
	memcpy(s->out + s->olen, tmp, (size_t)n);
	s->olen += (size_t)n;
}

/* send_cmd - queue command i of the transaction: 0 MAIL, 1..nrcpt RCPT, then DATA */
static void send_cmd(sess *s, int i)
{
	const struct msg *m = &msgs[s->msg];
	if (i == 0) {
		char ext[64] = "";
		size_t o = 0;
		if (s->size)
			o += (size_t)snprintf(ext + o, sizeof(ext) - o, " SIZE=%zu", m->raw_len);
		if (s->eightbitmime && m->eightbit)
			snprintf(ext + o, sizeof(ext) - o, " BODY=8BITMIME");
		out_fmt(s, "MAIL FROM:<%s>%s\r\n", g_from, ext);
	} else if (i <= s->nrcpt) {
		out_fmt(s, "RCPT TO:<%s>\r\n", s->rcpts[i - 1]);
	} else {
		out_fmt(s, "DATA\r\n");
	}
	s->sent = i + 1;
}

static void start_txn(sess *s)
{
	if (!g_started)
		return;
	if (g_next >= g_count || now() >= g_deadline) {
		s->st = S_QUIT;
		out_fmt(s, "QUIT\r\n");
		flush_out(s);
		return;
	}
	uint64_t k = g_next++;
	s->msg = (size_t)(k % nmsgs);
	uint64_t base = g_rcpt_by_message ? k : (uint64_t)s->idx;
	s->nrcpt = g_rcpts_per_msg;
	for (int i = 0; i < s->nrcpt; i++)
		s->rcpts[i] = g_rcpt[(base + (uint64_t)i) % (uint64_t)g_nrcpt_list];
	s->ncmds = s->nrcpt + 2;
	s->replied = 0;
	s->rcpt_ok = 0;
	s->mail_ok = false;
	s->failed = false;
	s->t0 = now();
	s->st = S_CMDS;
	if (s->pipelining)
		for (int i = 0; i < s->ncmds; i++)
			send_cmd(s, i);
	else
		send_cmd(s, 0);
	flush_out(s);
}

static void txn_done(sess *s)
{
	double t = now();
	if (!s->failed && s->final_ok == s->nrcpt) {
		r_msgs_ok++;
		r_bytes += msgs[s->msg].raw_len;
		r_lat[r_nlat++] = (t - s->t0) * 1000;
	} else {
		r_msgs_fail++;
	}
	g_t_last = t;
	start_txn(s);
}

static void txn_abort(sess *s)
{
	r_msgs_fail++;
	g_t_last = now();
	s->st = S_RSET;
	out_fmt(s, "RSET\r\n");
	flush_out(s);
}

/* on_reply - one complete reply (the code of its last line) */
static void on_reply(sess *s, int code, const char *last)
{
	switch (s->st) {
	case S_GREET:
		if (code != 220) {
			note_error(s, "greeting", last);
			sess_fail(s, "no 220 greeting");
			return;
		}
		s->st = S_HELLO;
		out_fmt(s, "%s deliver-bench.test\r\n", g_lmtp ? "LHLO" : "EHLO");
		flush_out(s);
		return;
	case S_HELLO:
		if (code != 250) {
			note_error(s, g_lmtp ? "LHLO" : "EHLO", last);
			sess_fail(s, "EHLO/LHLO refused");
			return;
		}
		s->st = S_READY;
		r_ready++;
		start_txn(s);
		return;
	case S_CMDS: {
		int i = s->replied++;
		if (i == 0) {
			s->mail_ok = code / 100 == 2;
			if (!s->mail_ok) {
				r_rcpt_fail += (uint64_t)s->nrcpt;
				note_error(s, "MAIL", last);
			}
		} else if (i <= s->nrcpt) {
			if (code / 100 == 2) {
				s->rcpt_ok++;
			} else if (s->mail_ok) {
				r_rcpt_fail++;
				note_error(s, "RCPT", last);
			}
		} else { /* DATA */
			if (code == 354 && s->rcpt_ok > 0) {
				s->st = S_FINAL;
				s->final_left = g_lmtp ? s->rcpt_ok : 1;
				s->final_ok = 0;
				s->failed = s->rcpt_ok != s->nrcpt;
				s->body = msgs[s->msg].wire;
				s->blen = msgs[s->msg].wire_len;
				s->boff = 0;
				flush_out(s);
				return;
			}
			if (code == 354) { /* no recipient, yet the server wants data: end it empty */
				out_fmt(s, ".\r\n");
				s->st = S_RSET; /* the reply to "." is consumed as the RSET's */
				r_msgs_fail++;
				g_t_last = now();
				flush_out(s);
				return;
			}
			note_error(s, "DATA", last);
			txn_abort(s);
			return;
		}
		if (!s->pipelining) {
			/* one by one: stop early when it cannot succeed */
			if (!s->mail_ok || (s->replied == s->nrcpt + 1 && s->rcpt_ok == 0)) {
				txn_abort(s);
				return;
			}
			send_cmd(s, s->sent);
			flush_out(s);
		}
		return;
	}
	case S_FINAL:
		if (code / 100 == 2) {
			s->final_ok += g_lmtp ? 1 : s->rcpt_ok;
			r_rcpt_ok += g_lmtp ? 1 : (uint64_t)s->rcpt_ok;
		} else {
			r_rcpt_fail += g_lmtp ? 1 : (uint64_t)s->rcpt_ok;
			note_error(s, "end of data", last);
		}
		if (--s->final_left == 0)
			txn_done(s);
		return;
	case S_RSET:
		start_txn(s);
		return;
	case S_QUIT:
		sess_end(s);
		return;
	default:
		sess_fail(s, "unexpected reply");
		return;
	}
}

/* on_line - one reply line; multi-line replies ("250-...") build up until
 * the last ("250 ...") */
static void on_line(sess *s, const char *l)
{
	if (strlen(l) < 3 || l[0] < '2' || l[0] > '5') {
		note_error(s, "reply", l);
		sess_fail(s, "malformed reply");
		return;
	}
	int code = (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	if (s->st == S_HELLO && code == 250) {
		const char *kw = l + 4;
		if (strlen(l) > 4) {
			if (!strncasecmp(kw, "PIPELINING", 10) && (kw[10] == 0 || kw[10] == ' '))
				s->pipelining = true;
			else if (!strncasecmp(kw, "8BITMIME", 8) && (kw[8] == 0 || kw[8] == ' '))
				s->eightbitmime = true;
			else if (!strncasecmp(kw, "SIZE", 4) && (kw[4] == 0 || kw[4] == ' '))
				s->size = true;
		}
	}
	if (l[3] == '-')
		return;
	on_reply(s, code, l);
}

static void on_readable(sess *s)
{
	for (;;) {
		if (s->icap - s->ilen < READ_CHUNK) {
			s->icap = s->ilen + READ_CHUNK * 2;
			s->in = xrealloc(s->in, s->icap);
		}
		ssize_t n = recv(s->fd, s->in + s->ilen, s->icap - s->ilen, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sess_fail(s, strerror(errno));
			break;
		}
		if (n == 0) {
			sess_fail(s, "connection closed by the server");
			return;
		}
		s->ilen += (size_t)n;
		size_t off = 0;
		for (;;) {
			char *lf = memchr(s->in + off, '\n', s->ilen - off);
			if (!lf)
				break;
			size_t len = (size_t)(lf - (s->in + off));
			if (len && s->in[off + len - 1] == '\r')
				len--;
			if (len >= sizeof(s->line))
				len = sizeof(s->line) - 1;
			memcpy(s->line, s->in + off, len);
			s->line[len] = 0;
			off = (size_t)(lf - s->in) + 1;
			on_line(s, s->line);
			if (s->st == S_DONE)
				return;
		}
		memmove(s->in, s->in + off, s->ilen - off);
		s->ilen -= off;
	}
}

static void sess_open(sess *s, int idx)
{
	s->idx = idx;
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		die("socket: %s", strerror(errno));
	int one = 1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
	if (inet_pton(AF_INET, g_host, &sa.sin_addr) != 1)
		die("--host %s: not an IPv4 address", g_host);
	s->st = S_GREET;
	s->connecting = true;
	s->want_out = true;
	struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = s};
	if (epoll_ctl(g_ep, EPOLL_CTL_ADD, s->fd, &e))
		die("epoll_ctl: %s", strerror(errno));
	if (connect(s->fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)
		sess_fail(s, strerror(errno));
}

static void on_event(sess *s, uint32_t ev)
{
	if (s->st == S_DONE)
		return;
	if (s->connecting && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof(err);
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			sess_fail(s, strerror(err));
			return;
		}
		s->connecting = false;
		flush_out(s);
	}
	if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
		on_readable(s);
	if (s->st != S_DONE && (ev & EPOLLOUT))
		flush_out(s);
}

/* loop - run the event loop until done() or the deadline */
static bool loop(bool (*done)(void), double deadline)
{
	struct epoll_event evs[256];
	while (!done()) {
		double left = deadline - now();
		if (left <= 0)
			return false;
		int ms = left > 1 ? 1000 : (int)(left * 1000) + 1;
		int n = epoll_wait(g_ep, evs, 256, ms);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait: %s", strerror(errno));
		}
		for (int i = 0; i < n; i++)
			on_event(evs[i].data.ptr, evs[i].events);
	}
	return true;
}

static bool all_ready(void)
{
	return r_ready >= g_nsess;
}
static bool all_done(void)
{
	return r_done >= g_nsess;
}

static int run_send(const char *corpus, double seconds, int server_pid)
{
	load_dir(corpus, 0);
	if (!nmsgs)
		die("%s: no messages", corpus);
	size_t corpus_bytes = 0;
	for (size_t i = 0; i < nmsgs; i++)
		corpus_bytes += msgs[i].raw_len;
	if (!g_count)
		g_count = nmsgs;
	r_lat = calloc(g_count ? g_count : 1, sizeof(double));
	if (!r_lat)
		die("out of memory");
	g_sess = calloc((size_t)g_nsess, sizeof(sess));
	if (!g_sess)
		die("out of memory");
	for (int i = 0; i < g_nsess; i++)
		sess_open(&g_sess[i], i);
	if (!loop(all_ready, now() + 60))
		die("sessions not greeted after 60 s");
	int ready = 0;
	bool pipelining = true;
	for (int i = 0; i < g_nsess; i++)
		if (g_sess[i].st == S_READY) {
			ready++;
			pipelining = pipelining && g_sess[i].pipelining;
		}
	double c0 = self_cpu(), s0 = tree_cpu(server_pid), t0 = now();
	g_deadline = t0 + seconds;
	g_t_last = t0;
	g_started = true;
	for (int i = 0; i < g_nsess; i++)
		if (g_sess[i].st == S_READY)
			start_txn(&g_sess[i]);
	if (!loop(all_done, g_deadline + 120))
		fprintf(stderr, "deliver-bench: transactions still open 120 s after the deadline\n");
	double t = g_t_last - t0, ccpu = self_cpu() - c0, scpu = tree_cpu(server_pid) - s0;
	if (t <= 0)
		t = 1e-9;
	qsort(r_lat, r_nlat, sizeof(double), cmp_dbl);
	double lsum = 0;
	for (size_t i = 0; i < r_nlat; i++)
		lsum += r_lat[i];
	printf("proto=%s\nsessions=%d\nsessions_ready=%d\npipelining=%d\n", g_lmtp ? "lmtp" : "smtp", g_nsess, ready,
	       pipelining && ready > 0);
	printf("corpus_messages=%zu\ncorpus_bytes=%zu\nrcpts_per_msg=%d\n", nmsgs, corpus_bytes, g_rcpts_per_msg);
	printf("messages=%" PRIu64 "\nmessages_failed=%" PRIu64 "\nrcpt_ok=%" PRIu64 "\nrcpt_failed=%" PRIu64
	       "\nconnection_errors=%" PRIu64 "\n",
	       r_msgs_ok, r_msgs_fail, r_rcpt_ok, r_rcpt_fail, r_conn_errors);
	printf("bytes=%" PRIu64 "\nseconds=%.3f\nmsgs_per_s=%.1f\nrcpts_per_s=%.1f\nmb_per_s=%.3f\n", r_bytes, t,
	       (double)r_msgs_ok / t, (double)r_rcpt_ok / t, (double)r_bytes / t / 1e6);
	if (r_nlat) {
		printf("latency_avg_ms=%.2f\nlatency_p50_ms=%.2f\nlatency_p99_ms=%.2f\n", lsum / (double)r_nlat,
		       r_lat[r_nlat / 2], r_lat[(size_t)((double)(r_nlat - 1) * 0.99)]);
	}
	printf("client_cpu_s=%.3f\nserver_cpu_s=%.3f\n", ccpu, scpu);
	if (r_first_error[0])
		printf("first_error=%s\n", r_first_error);
	return (r_msgs_fail || r_rcpt_fail || r_conn_errors || ready < g_nsess) ? 1 : 0;
}

/* ---- main ---- */

static void usage(void)
{
	fputs("usage: deliver-bench send --port P --proto smtp|lmtp --sessions S --corpus DIR --rcpt ADDR...\n"
	      "                          [--host A] [--count N] [--seconds T] [--rcpts-per-msg K]\n"
	      "                          [--rcpt-mode session|message] [--from ADDR] [--pid PID]\n"
	      "       deliver-bench watch --pid PID [--interval-ms MS]\n",
	      stderr);
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1], *corpus = NULL;
	double seconds = 600;
	int pid = 0, interval_ms = 200;
	g_nsess = 8;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (i + 1 >= argc)
			usage();
		const char *v = argv[++i];
		if (!strcmp(a, "--host"))
			g_host = v;
		else if (!strcmp(a, "--port"))
			g_port = atoi(v);
		else if (!strcmp(a, "--proto")) {
			if (!strcmp(v, "lmtp"))
				g_lmtp = true;
			else if (strcmp(v, "smtp"))
				usage();
		} else if (!strcmp(a, "--sessions"))
			g_nsess = atoi(v);
		else if (!strcmp(a, "--corpus"))
			corpus = v;
		else if (!strcmp(a, "--rcpt")) {
			if (g_nrcpt_list == MAX_RCPTS)
				die("at most %d --rcpt", MAX_RCPTS);
			g_rcpt[g_nrcpt_list++] = v;
		} else if (!strcmp(a, "--count"))
			g_count = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--seconds"))
			seconds = strtod(v, NULL);
		else if (!strcmp(a, "--rcpts-per-msg"))
			g_rcpts_per_msg = atoi(v);
		else if (!strcmp(a, "--rcpt-mode")) {
			if (!strcmp(v, "message"))
				g_rcpt_by_message = true;
			else if (strcmp(v, "session"))
				usage();
		} else if (!strcmp(a, "--from"))
			g_from = v;
		else if (!strcmp(a, "--pid"))
			pid = atoi(v);
		else if (!strcmp(a, "--interval-ms"))
			interval_ms = atoi(v);
		else
			usage();
	}
	if (!strcmp(mode, "watch")) {
		if (pid <= 0 || interval_ms < 1)
			usage();
		return run_watch(pid, interval_ms);
	}
	if (strcmp(mode, "send"))
		usage();
	if (!g_port || !corpus || !g_nrcpt_list || g_nsess < 1 || g_nsess > MAX_SESSIONS || seconds <= 0 ||
	    g_rcpts_per_msg < 1 || g_rcpts_per_msg > MAX_RCPTS)
		usage();
	signal(SIGPIPE, SIG_IGN);
	g_ep = epoll_create1(EPOLL_CLOEXEC);
	if (g_ep < 0)
		die("epoll_create1: %s", strerror(errno));
	return run_send(corpus, seconds, pid);
}

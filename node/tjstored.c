/*
 * tjstored - the tjstore node daemon.
 *
 *   tjstored --config FILE [--set SECTION.KEY=VALUE ...] [--print-config]
 *            [--check-config] [--make-cert] [--user NAME | --allow-root]
 *
 * Loads the config (node/config), opens the store, the authentication
 * backend (password file or Kerberos) and the TLS context, listens for IMAP
 * on [imap] listen (STARTTLS offered when [tls] is set) and [imap] tls_listen
 * (implicit TLS), for SMTP on [smtp] listen and LMTP on [smtp] lmtp_listen
 * (every message through the scanning pipeline, node/scan/pipeline.h:
 * ClamAV, spam rules, Bayes; IMAP Junk moves feed the learner), serves the
 * admin socket, drops privileges, and serves until SIGTERM/SIGINT (drain,
 * then exit 0).  SIGHUP reloads the certificate, the password file and the
 * spam rules.
 *
 * Threads: the network layer (node/net) runs one libuv loop; IMAP sessions
 * (node/imap) run their commands on libuv's thread pool, never two at once
 * for one connection; the store has its own committer thread.
 *
 * Exit status: 0 after a clean shutdown, 1 when the service failed while
 * running, 2 for a usage or configuration error (nothing was started).
 */
#include "common/err.h"
#include "common/log.h"
#include "node/admin/admin.h"
#include "node/auth/auth-krb5.h"
#include "node/auth/auth-passwd.h"
#include "node/auth/auth-throttle.h"
#include "node/auth/auth.h"
#include "node/config.h"
#include "node/imap/imap-session.h"
#include "node/net/net.h"
#include "node/net/proc.h"
#include "node/net/tls.h"
#include "node/scan/pipeline.h"
#include "node/smtp/smtp-server.h"
#include "store/store.h"

#include <errno.h>
#include <getopt.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <limits.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

enum { EX_OK = 0, EX_FAIL = 1, EX_USAGE = 2 };

#define TJ_THREADPOOL "64"           /* libuv worker threads (IMAP commands, logins) */
#define TJ_THROTTLE_SLOTS 8192       /* login-failure table */
#define TJ_COMPACT_INTERVAL 3600     /* seconds between background compaction checks */

struct daemon {
	tj_config *cfg;
	tj_store *store;
	struct tj_auth_backend *auth;
	struct tj_auth_krb5_config gss;     /* AUTHENTICATE GSSAPI, with auth.backend = krb5 */
	char gss_host[256];                 /* its hostname: the password backend's */
	bool gss_on;
	struct tj_throttle *throttle;
	imap_notify *notify;
	tj_net *net;
	tj_tls *tls;
	tj_net_service imap, imaps, smtp, lmtp;
	struct smtp_server_config smtp_cfg, lmtp_cfg;
	tj_admin_server *admin;
	tj_pipeline *scan; /* ClamAV, spam scoring, learning (node/scan/pipeline.h) */
	time_t started;
};

/* one IMAP connection */
struct conn {
	struct daemon *d;
	tj_net *net;
	uint64_t id;
	imap_session *s;
	char peer[TJ_NET_ADDR_MAX];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* the peer's address without the port, for the throttle */
static void peer_ip(const char *peer, char *ip, size_t sz)
{
	snprintf(ip, sz, "%s", peer);
	char *colon = strrchr(ip, ':');
	if (colon)
		*colon = 0;
}

static int is_loopback(const char *peer)
{
	return strncmp(peer, "127.", 4) == 0 || strncmp(peer, "[::1]", 5) == 0;
}

/* auth_cb - WORKER THREAD: throttle, then ask the backend */
static int auth_cb(void *ctx, const char *user, const char *pass)
{
	struct conn *c = ctx;
	char ip[TJ_NET_ADDR_MAX];
	peer_ip(c->peer, ip, sizeof(ip));
	uint32_t delay = tj_throttle_delay(c->d->throttle, ip, user, now_ms());
	if (delay)
		usleep(delay * 1000u); /* only this connection's worker waits */
	enum tj_auth_result res = TJ_AUTH_UNAVAILABLE;
	int rc = tj_auth_check(c->d->auth, user, pass, &res);
	if (rc)
		res = TJ_AUTH_UNAVAILABLE;
	if (res == TJ_AUTH_OK || res == TJ_AUTH_FAIL)
		tj_throttle_record(c->d->throttle, ip, user, res == TJ_AUTH_OK, now_ms());
	char su[128];
	tj_log(res == TJ_AUTH_OK ? TJ_LOG_INFO : TJ_LOG_WARN, "imap", "event=login user=%s peer=%s result=%s",
	       tj_sanitize(su, sizeof(su), user, strlen(user)), c->peer,
	       res == TJ_AUTH_OK ? "ok" : res == TJ_AUTH_FAIL ? "fail" : res == TJ_AUTH_DISABLED ? "disabled" : "unavailable");
	switch (res) {
	case TJ_AUTH_OK: return IMAP_AUTH_OK;
	case TJ_AUTH_FAIL: return IMAP_AUTH_FAIL;
	case TJ_AUTH_DISABLED: return IMAP_AUTH_DISABLED;
	default: return IMAP_AUTH_UNAVAILABLE;
	}
}

/* wakeup_cb - any thread: another session changed our mailbox */
static void wakeup_cb(void *ctx)
{
	struct conn *c = ctx;
	tj_net_wakeup(c->net, c->id);
}

/* ---- the IMAP engine for the network layer ---- */

static void after_step(tj_net_conn *nc, struct conn *c)
{
	if (imap_session_starttls_pending(c->s))
		tj_net_conn_starttls(nc);
	if (imap_session_wants_close(c->s))
		tj_net_conn_close(nc);
	else
		tj_net_conn_set_timeout(nc, imap_session_timeout_ms(c->s));
}

static int imap_open(tj_net_conn *nc, tj_buf *out)
{
	struct daemon *d = tj_net_conn_service_arg(nc);
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->d = d;
	c->net = tj_net_conn_net(nc);
	c->id = tj_net_conn_id(nc);
	snprintf(c->peer, sizeof(c->peer), "%s", tj_net_conn_peer(nc));
	bool tls = tj_net_conn_is_tls(nc);
	imap_session_config sc = {
		.store = d->store,
		.notify = d->notify,
		.auth = auth_cb,
		.auth_ctx = c,
		.wakeup = wakeup_cb,
		.wakeup_ctx = c,
		.starttls = !tls && tj_net_conn_tls_available(nc),
		/* plaintext passwords only over TLS, except from this machine */
		.logindisabled = !tls && !is_loopback(c->peer),
		.tls = tls,
		.greeting = "tjstore ready.",
		.gssapi = d->gss_on ? &d->gss : NULL,
		.learn = d->scan ? tj_pipeline_learn : NULL,
		.learn_ctx = d->scan,
	};
	int rc = imap_session_new(&sc, &c->s);
	if (rc) {
		free(c);
		return rc;
	}
	tj_net_conn_set_data(nc, c);
	rc = imap_session_output(c->s, out);
	after_step(nc, c);
	return rc;
}

static int imap_data(tj_net_conn *nc, const uint8_t *p, size_t len, tj_buf *out)
{
	struct conn *c = tj_net_conn_data(nc);
	int rc = imap_session_feed(c->s, p, len);
	if (rc == TJ_ETOOBIG) {
		imap_session_bye(c->s, "Too much input at once");
		rc = 0;
	}
	if (!rc)
		rc = imap_session_output(c->s, out);
	after_step(nc, c);
	return rc;
}

static bool imap_want_work(tj_net_conn *nc)
{
	struct conn *c = tj_net_conn_data(nc);
	return c && imap_session_needs_run(c->s);
}

static void imap_work(tj_net_conn *nc, tj_buf *out)
{
	struct conn *c = tj_net_conn_data(nc);
	imap_session_run(c->s);
	imap_session_output(c->s, out);
}

static int imap_after_work(tj_net_conn *nc, tj_buf *out)
{
	struct conn *c = tj_net_conn_data(nc);
	int rc = imap_session_output(c->s, out);
	after_step(nc, c);
	return rc;
}

static int imap_wakeup(tj_net_conn *nc, tj_buf *out)
{
	return 0; /* want_work() now says yes: the layer runs the session */
}

static int imap_tls(tj_net_conn *nc, tj_buf *out)
{
	struct conn *c = tj_net_conn_data(nc);
	imap_session_tls_started(c->s);
	return imap_session_output(c->s, out);
}

static void imap_timeout(tj_net_conn *nc, tj_buf *out)
{
	struct conn *c = tj_net_conn_data(nc);
	imap_session_bye(c->s, "Autologout; idle for too long");
	imap_session_output(c->s, out);
}

static void imap_shutdown(tj_net_conn *nc, tj_buf *out)
{
	struct conn *c = tj_net_conn_data(nc);
	imap_session_bye(c->s, "Server shutting down");
	imap_session_output(c->s, out);
}

static void imap_close(tj_net_conn *nc)
{
	struct conn *c = tj_net_conn_data(nc);
	if (!c)
		return;
	imap_session_free(&c->s);
	free(c);
	tj_net_conn_set_data(nc, NULL);
}

static const tj_net_engine imap_engine = {
	.on_open = imap_open,
	.on_data = imap_data,
	.want_work = imap_want_work,
	.work = imap_work,
	.after_work = imap_after_work,
	.on_wakeup = imap_wakeup,
	.on_tls = imap_tls,
	.on_timeout = imap_timeout,
	.on_shutdown = imap_shutdown,
	.on_close = imap_close,
};

/* ---- the admin socket (its own thread) ---- */

static int admin_handler(void *ctx, const tj_admin_frame *req, tj_buf *out)
{
	struct daemon *d = ctx;
	uint8_t type = req->type;
	int json = req->flags & TJ_ADMIN_JSON;
	if (type == TJ_ADMIN_STATS) {
		tj_store_stats s;
		int rc = tj_store_stats_get(d->store, &s);
		if (rc) {
			tj_buf_printf(out, "stats: %s\n", tj_strerror(rc));
			return 1;
		}
		tj_store_stats_format(&s, json, out);
		return 0;
	}
	if (type == TJ_ADMIN_STATUS) {
		tj_net_stats ns;
		tj_net_stats_get(d->net, &ns);
		long up = (long)(time(NULL) - d->started);
		if (json)
			tj_buf_printf(out,
				      "{\"node\":\"%s\",\"pid\":%d,\"uptime_s\":%ld,\"data_dir\":\"%s\",\"connections\":%llu,"
				      "\"accepted\":%llu,\"rejected\":%llu,\"tls_failed\":%llu,\"timeouts\":%llu}\n",
				      d->cfg->node.name, (int)getpid(), up, d->cfg->node.data_dir, (unsigned long long)ns.open,
				      (unsigned long long)ns.accepted, (unsigned long long)ns.rejected,
				      (unsigned long long)ns.tls_failed, (unsigned long long)ns.timeouts);
		else
			tj_buf_printf(out,
				      "node         %s\npid          %d\nuptime       %ld s\ndata_dir     %s\n"
				      "connections  %llu open (%llu accepted, %llu refused by limits, %llu TLS failures, "
				      "%llu idle timeouts)\n",
				      d->cfg->node.name, (int)getpid(), up, d->cfg->node.data_dir, (unsigned long long)ns.open,
				      (unsigned long long)ns.accepted, (unsigned long long)ns.rejected,
				      (unsigned long long)ns.tls_failed, (unsigned long long)ns.timeouts);
		return 0;
	}
	if (type == TJ_ADMIN_LEARN) {
		struct tj_admin_learn l;
		if (tj_admin_learn_decode(req->payload, req->len, &l)) {
			tj_buf_puts(out, "learn: malformed request\n");
			return 2;
		}
		if (!d->scan) {
			tj_buf_puts(out, "learn: scanning is off on this node (scan.clamav = no, scan.spam = no)\n");
			return 1;
		}
		if (!strcmp(l.what, "stats")) {
			tj_pipeline_status(d->scan, json, out);
			return 0;
		}
		if (strcmp(l.what, "spam") && strcmp(l.what, "ham")) {
			tj_buf_puts(out, "learn: --spam or --ham\n");
			return 2;
		}
		return tj_pipeline_learn_mailbox(d->scan, l.user, l.mailbox, !strcmp(l.what, "spam"), json, out);
	}
	tj_buf_printf(out, "unknown admin request %u\n", type);
	return 2;
}

/* ---- setup ---- */

static void on_hup(void *arg)
{
	struct daemon *d = arg;
	if (d->cfg->auth.backend == TJ_AUTH_PASSWD)
		tj_auth_passwd_reload(d->auth);
	if (d->scan)
		tj_pipeline_reload(d->scan); /* in the background */
	tj_log(TJ_LOG_INFO, "node", "event=reloaded what=\"tls, passwords, spam rules\"");
}

static const char usage_text[] =
	"usage: tjstored --config FILE [--set SECTION.KEY=VALUE ...] [--print-config] [--check-config]\n"
	"                [--make-cert] [--user NAME | --allow-root]\n"
	"  --set            override any config key (repeatable); see docs/config.md\n"
	"  --print-config   print the effective configuration and exit\n"
	"  --check-config   validate the configuration and exit (0 valid, 2 not)\n"
	"  --make-cert      create a self-signed certificate at [tls] cert/key if they do not exist\n"
	"  --user NAME      drop to this user after binding (when started as root)\n"
	"  --allow-root     keep running as root (test and demo setups only)\n";

static int listen_all(struct daemon *d, const tj_net_service *svc, const tj_config_addrs *addrs, bool tls)
{
	for (size_t i = 0; i < addrs->n; i++) {
		char hp[300];
		if (strchr(addrs->v[i].host, ':'))
			snprintf(hp, sizeof(hp), "[%s]:%u", addrs->v[i].host, addrs->v[i].port);
		else
			snprintf(hp, sizeof(hp), "%s:%u", addrs->v[i].host, addrs->v[i].port);
		uint16_t port = 0;
		int rc = tj_net_listen(d->net, svc, hp, tls, &port);
		if (rc) {
			fprintf(stderr, "tjstored: %s\n", tj_net_last_error(d->net));
			return rc;
		}
		tj_log(TJ_LOG_INFO, "node", "event=listening service=%s address=%s port=%u", svc->name, hp, port);
	}
	return 0;
}

static int open_auth(struct daemon *d)
{
	tj_config *cfg = d->cfg;
	int rc;
	if (cfg->auth.backend == TJ_AUTH_KRB5) {
		struct tj_auth_krb5_config kc = {.realm = cfg->auth.realm, .keytab = cfg->auth.keytab,
						 .service = cfg->auth.service};
		rc = tj_auth_krb5_open(&kc, &d->auth);
		/* GSSAPI: the same keytab/realm/service, and the host of the
		 * password backend's service principal (the library's canonical
		 * host name): only tickets for that principal are accepted.
		 * krb5.conf comes from the environment (KRB5_CONFIG). */
		d->gss = kc;
		const char *sp = rc ? NULL : tj_auth_krb5_service_principal(d->auth);
		const char *slash = sp ? strchr(sp, '/') : NULL, *at = sp ? strrchr(sp, '@') : NULL;
		if (slash && at > slash + 1 && (size_t)(at - slash - 1) < sizeof(d->gss_host)) {
			memcpy(d->gss_host, slash + 1, (size_t)(at - slash - 1));
			d->gss_host[at - slash - 1] = 0;
			d->gss.hostname = d->gss_host;
		}
		d->gss_on = rc == 0;
	} else {
		struct tj_auth_passwd_config pc = {.path = cfg->auth.passwd_file};
		rc = tj_auth_passwd_open(&pc, &d->auth);
	}
	if (rc)
		fprintf(stderr, "tjstored: [auth] backend %s: %s\n", cfg->auth.backend == TJ_AUTH_KRB5 ? "krb5" : "passwd",
			tj_strerror(rc));
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},   {"set", required_argument, NULL, 's'},
		{"print-config", no_argument, NULL, 'p'},   {"check-config", no_argument, NULL, 'k'},
		{"make-cert", no_argument, NULL, 'm'},      {"user", required_argument, NULL, 'u'},
		{"allow-root", no_argument, NULL, 'r'},     {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *run_user = NULL;
	int print = 0, check = 0, make_cert = 0, allow_root = 0, ch;
	struct daemon d;
	memset(&d, 0, sizeof(d));
	if (tj_config_new(&d.cfg)) {
		fprintf(stderr, "tjstored: out of memory\n");
		return EX_FAIL;
	}
	while ((ch = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c': config_path = optarg; break;
		case 's': tj_config_add_override(d.cfg, optarg); break; /* errors are reported with the load */
		case 'p': print = 1; break;
		case 'k': check = 1; break;
		case 'm': make_cert = 1; break;
		case 'u': run_user = optarg; break;
		case 'r': allow_root = 1; break;
		case 'h': fputs(usage_text, stdout); tj_config_free(&d.cfg); return EX_OK;
		default: fputs(usage_text, stderr); tj_config_free(&d.cfg); return EX_USAGE;
		}
	}
	if (optind < argc || !config_path) {
		fprintf(stderr, "tjstored: %s\n", optind < argc ? "unexpected argument" : "give --config FILE");
		fputs(usage_text, stderr);
		tj_config_free(&d.cfg);
		return EX_USAGE;
	}
	int ex = EX_USAGE;
	if (tj_config_load(d.cfg, config_path) != 0) {
		const char *const *errs = NULL;
		size_t n = tj_config_errors(d.cfg, &errs);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr, "tjstored: %s\n", errs[i]);
		if (n == 0)
			fprintf(stderr, "tjstored: cannot load %s\n", config_path);
		goto out;
	}
	if (print || check) {
		if (print) {
			tj_buf b = TJ_BUF_INIT;
			tj_config_print(d.cfg, &b);
			fwrite(b.data, 1, b.len, stdout);
			tj_buf_free(&b);
		}
		ex = EX_OK;
		goto out;
	}
	tj_config *cfg = d.cfg;
	tj_log_set_level(cfg->log.level);
	if (cfg->log.syslog)
		tj_log_set_syslog(1, "tjstored", LOG_MAIL);
	/* libuv's pool must be sized before its first use */
	setenv("UV_THREADPOOL_SIZE", TJ_THREADPOOL, 0);

	int has_tls = cfg->tls.cert[0] && cfg->tls.key[0];
	if (has_tls && make_cert) {
		struct stat sb;
		if (stat(cfg->tls.cert, &sb) != 0 || stat(cfg->tls.key, &sb) != 0) {
			int rc = tj_tls_selfsigned(cfg->tls.cert, cfg->tls.key, cfg->smtp.hostname, 3650, (uint64_t)time(NULL));
			if (rc) {
				fprintf(stderr, "tjstored: --make-cert: %s\n", tj_strerror(rc));
				goto out;
			}
			tj_log(TJ_LOG_INFO, "node", "event=self_signed_certificate cert=%s", cfg->tls.cert);
		}
	}
	/* everything that can fail on configuration comes first: exit 2 */
	if (has_tls) {
		char err[512] = "";
		if (tj_tls_new_error(&d.tls, cfg->tls.cert, cfg->tls.key, err, sizeof(err))) {
			fprintf(stderr, "tjstored: [tls] %s\n", err[0] ? err : "cannot load certificate and key");
			goto out;
		}
	}
	if (open_auth(&d))
		goto out;
	uint8_t key[16];
	if (RAND_bytes(key, sizeof(key)) != 1 || tj_throttle_new(TJ_THROTTLE_SLOTS, key, &d.throttle) ||
	    imap_notify_new(&d.notify) || tj_net_new(&d.net, NULL)) {
		fprintf(stderr, "tjstored: cannot set up (out of memory?)\n");
		ex = EX_FAIL;
		goto out;
	}
	if (d.tls)
		tj_net_set_tls(d.net, d.tls);
	d.imap = (tj_net_service){.name = "imap", .engine = &imap_engine, .arg = &d, .idle_ms = 60000,
				  .reject_msg = "* BYE Too many connections\r\n"};
	d.imaps = d.imap;
	d.imaps.name = "imaps";
	/* SMTP and LMTP intake: the engine's config is read by connection hooks
	 * only, so the store and the scanner are filled in below, before the
	 * loop runs */
	d.smtp_cfg = (struct smtp_server_config){.notify = d.notify, .proto = TJ_SMTP_PROTO_SMTP,
						 						 .hostname = cfg->smtp.hostname,
						 .max_message_size = cfg->smtp.max_message_size,
						 .max_recipients = cfg->smtp.max_recipients, .starttls = d.tls != NULL};
	d.lmtp_cfg = d.smtp_cfg;
	d.lmtp_cfg.proto = TJ_SMTP_PROTO_LMTP;
	d.smtp = (tj_net_service){.name = "smtp", .engine = &smtp_server_engine, .arg = &d.smtp_cfg,
				  .idle_ms = SMTP_SERVER_CMD_TIMEOUT_MS, .reject_msg = SMTP_SERVER_REJECT_MSG};
	d.lmtp = d.smtp;
	d.lmtp.name = "lmtp";
	d.lmtp.arg = &d.lmtp_cfg;
	if (listen_all(&d, &d.imap, &cfg->imap.listen, false) ||
	    (cfg->imap.tls_listen.n && listen_all(&d, &d.imaps, &cfg->imap.tls_listen, true)) ||
	    listen_all(&d, &d.smtp, &cfg->smtp.listen, false) || listen_all(&d, &d.lmtp, &cfg->smtp.lmtp_listen, false))
		goto out;
	/* the store last: a bad listener never touches the data */
	tj_store_opts so;
	tj_config_store_opts(cfg, &so);
	so.compact_interval = TJ_COMPACT_INTERVAL;
	int rc = tj_store_open(cfg->node.data_dir, &so, &d.store);
	if (rc) {
		fprintf(stderr, "tjstored: [node] data_dir %s: %s\n", cfg->node.data_dir,
			d.store ? tj_store_last_error(d.store) : tj_strerror(rc));
		goto out;
	}
	d.smtp_cfg.store = d.lmtp_cfg.store = d.store;
	/* the scanning pipeline learns from the store, so it comes after it */
	if (cfg->scan.clamav || cfg->scan.spam) {
		char bayes_dir[PATH_MAX], err[512];
		snprintf(bayes_dir, sizeof(bayes_dir), "%s/bayes", cfg->node.data_dir);
		struct tj_pipeline_options po = {.clamav = cfg->scan.clamav, .clamav_db_dir = cfg->scan.clamav_db_dir,
						 .spam = cfg->scan.spam, .rules_file = cfg->scan.rules_file,
						 .threshold = cfg->scan.spam_threshold_milli / 1000.0,
						 .quarantine_dir = cfg->scan.quarantine_dir, .bayes_dir = bayes_dir,
						 .store = d.store, .version = "tjstore"};
		if (tj_pipeline_open(&po, &d.scan, err, sizeof(err))) {
			fprintf(stderr, "tjstored: %s\n", err);
			ex = EX_FAIL;
			goto out;
		}
	}
	if (d.scan) {
		d.smtp_cfg.scan = d.lmtp_cfg.scan = tj_pipeline_scan;
		d.smtp_cfg.scan_ctx = d.lmtp_cfg.scan_ctx = d.scan;
	}
	d.started = time(NULL);
	if (cfg->admin.socket[0] && (rc = tj_admin_server_start(cfg->admin.socket, admin_handler, &d, &d.admin))) {
		fprintf(stderr, "tjstored: [admin] socket %s: %s\n", cfg->admin.socket,
			rc == TJ_EEXIST ? "in use (another tjstored?) or not a socket" : tj_strerror(rc));
		goto out;
	}
	if (tj_net_handle_signals(d.net, on_hup, &d))
		goto out;
	char perr[256] = "";
	if (tj_proc_drop_privileges(run_user, allow_root, perr, sizeof(perr))) {
		fprintf(stderr, "tjstored: %s\n", perr[0] ? perr : "cannot drop privileges");
		goto out;
	}
	tj_log(TJ_LOG_INFO, "node", "event=started node=%s data_dir=%s", cfg->node.name, cfg->node.data_dir);
	ex = tj_net_run(d.net) ? EX_FAIL : EX_OK;
	tj_log(TJ_LOG_INFO, "node", "event=stopped");
out:
	tj_admin_server_stop(&d.admin);
	if (d.net)
		tj_net_free(&d.net); /* closes every session first */
	tj_pipeline_close(&d.scan);
	imap_notify_free(&d.notify);
	tj_store_close(&d.store);
	tj_throttle_free(&d.throttle);
	tj_auth_backend_free(&d.auth);
	tj_tls_free(&d.tls);
	tj_config_free(&d.cfg);
	return ex;
}

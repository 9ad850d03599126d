/*
 * kdc-testlib.h - a throwaway MIT KDC for tests (TESTING.md recipe), shared
 * by the Kerberos tests: its own temp directory, a free loopback port, its
 * own KRB5_CONFIG and KRB5_KDC_PROFILE; principals user1 (the given
 * password), locked1 (-allow_tix) and imap/localhost in k->keytab, plus
 * KDC_EXTRA_SERVICE when the including file defines it; stopped by pid.
 * Without the KDC packages the KDC_*_OR_SKIP macros print "skipped: ..."
 * and return from the case.  Include after tests/harness.h.
 */
#ifndef TJ_TESTS_KDC_TESTLIB_H
#define TJ_TESTS_KDC_TESTLIB_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <gssapi/gssapi.h>

#if defined(__SANITIZE_ADDRESS__)
#define TJ_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TJ_HAVE_ASAN 1
#endif
#endif
#ifdef TJ_HAVE_ASAN
#include <sanitizer/lsan_interface.h>
#endif

#define REALM "TEST.REALM"
#define CASE_SECONDS 45 /* every case ends well before the harness timeout */

/* ------------------------------------------------------------ helpers */

static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}


static inline void case_begin(void)
{
	alarm(CASE_SECONDS);
	tj_log_set_level(TJ_LOG_WARN);
}

/* case_end - with ASan, leaks of this case fail it (the harness's
 * children _exit, so LeakSanitizer would not run otherwise) */
static inline void case_end(void)
{
#ifdef TJ_HAVE_ASAN
	if (__lsan_do_recoverable_leak_check())
		TJ_FAIL("leaks (see above)");
#endif
}

static inline void path_join(char *out, size_t sz, const char *dir, const char *name)
{
	int n = snprintf(out, sz, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sz)
		TJ_FAIL("path too long: %s/%s", dir, name);
}

__attribute__((format(printf, 2, 3))) static void write_file(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	if (!f)
		TJ_FAIL("fopen %s: %s", path, strerror(errno));
	va_list ap;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	if (fclose(f) != 0)
		TJ_FAIL("write %s", path);
}

/* find_prog - the full path of a program (sbin first: root's tools) */
static inline bool find_prog(const char *name, char *out, size_t sz)
{
	const char *dirs[] = {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(out, sz, "%s/%s", dirs[i], name);
		if (access(out, X_OK) == 0)
			return true;
	}
	return false;
}

/* run - run argv (argv[0] a full path) with stdout/stderr to logpath and
 * stdin from input (or /dev/null); its exit status, or -1 */
static inline int run(const char *logpath, const char *input, char *const argv[])
{
	int pfd[2] = {-1, -1};
	if (input && pipe(pfd) != 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int lfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		if (input) {
			dup2(pfd[0], 0);
			close(pfd[1]);
		} else {
			int nfd = open("/dev/null", O_RDONLY);
			if (nfd >= 0)
				dup2(nfd, 0);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	if (input) {
		close(pfd[0]);
		ssize_t w = write(pfd[1], input, strlen(input));
		(void)w;
		close(pfd[1]);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* free_port - a loopback port free for both UDP and TCP right now */
static inline int free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t al = sizeof(a);
		int port = -1;
		if (u >= 0 && t >= 0 && bind(u, (struct sockaddr *)&a, sizeof(a)) == 0 &&
		    getsockname(u, (struct sockaddr *)&a, &al) == 0 && bind(t, (struct sockaddr *)&a, sizeof(a)) == 0)
			port = ntohs(a.sin_port);
		if (u >= 0)
			close(u);
		if (t >= 0)
			close(t);
		if (port > 0)
			return port;
	}
	return -1;
}

static inline bool tcp_listening(int port)
{
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	bool ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

/* ---------------------------------------------------------------- KDC */

struct kdc {
	char dir[256];
	char conf[320], kdcconf[320], keytab[320], log[320];
	int port;
	pid_t pid;
};

/* kdc_env - point this process (and the KDC tools it runs) at k */
static inline void kdc_env(const struct kdc *k)
{
	setenv("KRB5_CONFIG", k->conf, 1);
	setenv("KRB5_KDC_PROFILE", k->kdcconf, 1);
}

/*
 * kdc_start - make a realm in base/name with user1 (user1_pw), locked1
 * (secret2, -allow_tix), imap/localhost and smtp/localhost (both in the
 * keytab k->keytab: a ticket for smtp decrypts, but is for another
 * service), then run
 * krb5kdc on a free loopback port.  false and *why_r when the packages are
 * missing or the KDC does not come up (the case is then skipped).
 */
static inline bool kdc_start(struct kdc *k, const char *base, const char *name, const char *user1_pw,
		      const char **why_r)
{
	memset(k, 0, sizeof(*k));
	char kdb5_util[128], kadmin[128], krb5kdc[128];
	if (!find_prog("krb5kdc", krb5kdc, sizeof(krb5kdc)) || !find_prog("kdb5_util", kdb5_util, sizeof(kdb5_util)) ||
	    !find_prog("kadmin.local", kadmin, sizeof(kadmin))) {
		*why_r = "krb5kdc, kdb5_util or kadmin.local not installed (packages krb5-kdc krb5-admin-server)";
		return false;
	}
	path_join(k->dir, sizeof(k->dir), base, name);
	if (mkdir(k->dir, 0700) != 0)
		TJ_FAIL("mkdir %s: %s", k->dir, strerror(errno));
	path_join(k->conf, sizeof(k->conf), k->dir, "krb5.conf");
	path_join(k->kdcconf, sizeof(k->kdcconf), k->dir, "kdc.conf");
	path_join(k->keytab, sizeof(k->keytab), k->dir, "imap.keytab");
	path_join(k->log, sizeof(k->log), k->dir, "tools.log");
	k->port = free_port();
	if (k->port < 0)
		TJ_FAIL("no free port");
	write_file(k->conf,
		   "[libdefaults]\n"
		   "  default_realm = " REALM "\n"
		   "  dns_lookup_kdc = false\n"
		   "  dns_lookup_realm = false\n"
		   "  dns_canonicalize_hostname = false\n"
		   "  rdns = false\n"
		   "  udp_preference_limit = 1\n"
		   "[realms]\n"
		   "  " REALM " = {\n"
		   "    kdc = 127.0.0.1:%d\n"
		   "  }\n",
		   k->port);
	write_file(k->kdcconf,
		   "[kdcdefaults]\n"
		   "  kdc_listen = 127.0.0.1:%d\n"
		   "  kdc_tcp_listen = 127.0.0.1:%d\n"
		   "[realms]\n"
		   "  " REALM " = {\n"
		   "    database_name = %s/principal\n"
		   "    key_stash_file = %s/stash\n"
		   "    acl_file = %s/kadm5.acl\n"
		   "    default_principal_flags = +preauth\n"
		   "  }\n"
		   "[logging]\n"
		   "  kdc = FILE:%s/kdc.log\n",
		   k->port, k->port, k->dir, k->dir, k->dir, k->dir);
	kdc_env(k);

	char q1[128], q4[400], q6[400];
	snprintf(q1, sizeof(q1), "addprinc -pw %s user1", user1_pw);
	snprintf(q4, sizeof(q4), "ktadd -k %s imap/localhost", k->keytab);
#ifdef KDC_EXTRA_SERVICE
	snprintf(q6, sizeof(q6), "ktadd -k %s " KDC_EXTRA_SERVICE, k->keytab);
	char *a5[] = {kadmin, "-q", "addprinc -randkey " KDC_EXTRA_SERVICE, NULL};
	char *a6[] = {kadmin, "-q", q6, NULL};
#else
	(void)q6;
#endif
	char *create[] = {kdb5_util, "create", "-s", "-r", REALM, "-P", "masterpw", NULL};
	char *a1[] = {kadmin, "-q", q1, NULL};
	char *a2[] = {kadmin, "-q", "addprinc -pw secret2 -allow_tix locked1", NULL};
	char *a3[] = {kadmin, "-q", "addprinc -randkey imap/localhost", NULL};
	char *a4[] = {kadmin, "-q", q4, NULL};
	if (run(k->log, NULL, create) != 0 || run(k->log, NULL, a1) != 0 || run(k->log, NULL, a2) != 0 ||
	    run(k->log, NULL, a3) != 0 || run(k->log, NULL, a4) != 0
#ifdef KDC_EXTRA_SERVICE
	    || run(k->log, NULL, a5) != 0 || run(k->log, NULL, a6) != 0
#endif
	) {
		*why_r = "kdb5_util/kadmin.local failed (see tools.log)";
		return false;
	}

	fflush(NULL);
	k->pid = fork();
	if (k->pid < 0)
		TJ_FAIL("fork");
	if (k->pid == 0) {
		int lfd = open(k->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (lfd >= 0) {
			dup2(lfd, 1);
			dup2(lfd, 2);
		}
		execl(krb5kdc, krb5kdc, "-n", "-r", REALM, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) { /* up to 5 s */
		int st;
		if (waitpid(k->pid, &st, WNOHANG) == k->pid) {
			k->pid = 0;
			*why_r = "krb5kdc exited at start (see tools.log)";
			return false;
		}
		if (tcp_listening(k->port))
			return true;
		usleep(10000);
	}
	*why_r = "krb5kdc did not listen within 5 s";
	return false;
}

/* kdc_stop - stop the KDC by its pid (SIGTERM, then SIGKILL after 3 s) */
static inline void kdc_stop(struct kdc *k)
{
	if (k->pid <= 0)
		return;
	kill(k->pid, SIGTERM);
	for (int i = 0; i < 300; i++) {
		int st;
		if (waitpid(k->pid, &st, WNOHANG) == k->pid) {
			k->pid = 0;
			return;
		}
		usleep(10000);
	}
	kill(k->pid, SIGKILL);
	waitpid(k->pid, NULL, 0);
	k->pid = 0;
}

#define KDC_OR_SKIP(k, name, pw)                                          \
	do {                                                              \
		const char *why_ = NULL;                                  \
		if (!kdc_start((k), tj_test_tmpdir(), (name), (pw), &why_)) { \
			kdc_stop(k);                                      \
			printf("skipped: %s: %s\n", __func__, why_);      \
			return;                                           \
		}                                                         \
	} while (0)

/* kinit_user1 - a ticket for user1 in a FILE ccache, as a user would get it */
static inline bool kinit_user1(const struct kdc *k)
{
	char kinit[128], cc[400], ccname[420], rcdir[400];
	if (!find_prog("kinit", kinit, sizeof(kinit)))
		return false;
	path_join(cc, sizeof(cc), k->dir, "ccache");
	snprintf(ccname, sizeof(ccname), "FILE:%s", cc);
	setenv("KRB5CCNAME", ccname, 1);
	path_join(rcdir, sizeof(rcdir), k->dir, "rcache"); /* the acceptor's replay cache */
	mkdir(rcdir, 0700);
	setenv("KRB5RCACHEDIR", rcdir, 1);
	char *argv[] = {kinit, "user1", NULL};
	return run(k->log, "secret1\n", argv) == 0;
}

#define KDC_KINIT_OR_SKIP(k)                                                                  \
	do {                                                                                  \
		KDC_OR_SKIP((k), "kdc", "secret1");                                           \
		if (!kinit_user1(k)) {                                                        \
			printf("skipped: %s: kinit not installed or failed (package krb5-user)\n", \
			       __func__);                                                     \
			kdc_stop(k);                                                          \
			return;                                                               \
		}                                                                             \
	} while (0)


/* ---------------------------------------------------- GSS-API client */

/* the client side, as an IMAP client library would do it */
struct gss_client {
	gss_ctx_id_t ctx;
	gss_name_t target;
	bool complete;
};

static inline void client_init(struct gss_client *c, const char *target)
{
	OM_uint32 minor;
	memset(c, 0, sizeof(*c));
	c->ctx = GSS_C_NO_CONTEXT;
	gss_buffer_desc nb = {strlen(target), (void *)target};
	TJ_ASSERT(!GSS_ERROR(gss_import_name(&minor, &nb, GSS_C_NT_HOSTBASED_SERVICE, &c->target)));
}

static inline void client_free(struct gss_client *c)
{
	OM_uint32 minor;
	if (c->ctx != GSS_C_NO_CONTEXT)
		gss_delete_sec_context(&minor, &c->ctx, GSS_C_NO_BUFFER);
	gss_release_name(&minor, &c->target);
}

#endif

/*
 * test-config.c - unit tests for node/config: defaults, every key valid and
 * invalid (from the file and from --set), repeats, duplicates, comments and
 * quoting, CRLF, unknown sections and keys, --set precedence, cross-key
 * checks, print/parse round trips, missing/unreadable/oversized files.
 * Each case ends with a LeakSanitizer check (the harness forks and _exits,
 * so the at-exit leak report would never run).
 */
#include "tests/harness.h"
#include "common/err.h"
#include "node/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

/* ---- helpers ---- */

/* LeakSanitizer's entry point when built with -fsanitize=address; absent otherwise */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void no_leaks(void)
{
	if (__lsan_do_recoverable_leak_check)
		TJ_ASSERT_INT(__lsan_do_recoverable_leak_check(), ==, 0);
}

static void dump_errors(const tj_config *c)
{
	const char *const *e;
	size_t n = tj_config_errors(c, &e);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "  config error: %s\n", e[i]);
}

/* load - text as file "t.conf" plus --set args (NULL-terminated, may be NULL) */
static tj_config *load(const char *text, const char *const *sets, int *rc_r)
{
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	for (size_t i = 0; sets && sets[i]; i++)
		tj_config_add_override(c, sets[i]);
	int rc = tj_config_load_string(c, "t.conf", text, strlen(text));
	if (rc_r)
		*rc_r = rc;
	return c;
}

static tj_config *load_ok(const char *text, const char *const *sets)
{
	int rc;
	tj_config *c = load(text, sets, &rc);
	if (rc != 0) {
		dump_errors(c);
		TJ_FAIL("load of <<%s>> failed: %s", text, tj_strerror(rc));
	}
	return c;
}

static size_t nerrors(const tj_config *c)
{
	const char *const *e;
	return tj_config_errors(c, &e);
}

/* has_error - some message contains want */
static bool has_error(const tj_config *c, const char *want)
{
	const char *const *e;
	size_t n = tj_config_errors(c, &e);
	for (size_t i = 0; i < n; i++)
		if (strstr(e[i], want))
			return true;
	return false;
}

#define ASSERT_ERROR(c, want)                                                  \
	do {                                                                   \
		if (!has_error((c), (want))) {                                 \
			dump_errors(c);                                        \
			TJ_FAIL("no error containing \"%s\"", (want));         \
		}                                                              \
	} while (0)

/* get - one key's printed value (static buffer) */
static const char *get(const tj_config *c, const char *key)
{
	static char out[8192];
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_config_get(c, key, &b));
	snprintf(out, sizeof(out), "%s", b.data ? (char *)b.data : "");
	tj_buf_free(&b);
	return out;
}

/* roundtrip - print c, load the output, compare */
static void roundtrip(const tj_config *c)
{
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_config_print(c, &b));
	int rc;
	tj_config *d = load((char *)b.data, NULL, &rc);
	if (rc != 0) {
		dump_errors(d);
		TJ_FAIL("printed config does not load:\n%s", (char *)b.data);
	}
	if (!tj_config_equal(c, d))
		TJ_FAIL("printed config loads differently:\n%s", (char *)b.data);
	tj_buf b2 = TJ_BUF_INIT;
	TJ_OKRC(tj_config_print(d, &b2));
	TJ_ASSERT_MEM(b.data, b.len, b2.data, b2.len);
	tj_buf_free(&b);
	tj_buf_free(&b2);
	tj_config_free(&d);
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	TJ_ASSERT(fd >= 0);
	TJ_ASSERT_INT(write(fd, data, len), ==, (long long)len);
	close(fd);
}

static void host_names(char *full, size_t fsz, char *shortname, size_t ssz)
{
	char h[256] = "";
	TJ_ASSERT_INT(gethostname(h, sizeof(h)), ==, 0);
	for (char *p = h; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	snprintf(full, fsz, "%s", h);
	h[strcspn(h, ".")] = 0;
	snprintf(shortname, ssz, "%s", h);
}

/* section.key -> "[section]\nkey = value\n" + extra */
static void one_key_file(char *out, size_t outsz, const char *key, const char *value, const char *extra)
{
	char sec[64];
	const char *dot = strchr(key, '.');
	snprintf(sec, sizeof(sec), "%.*s", (int)(dot - key), key);
	snprintf(out, outsz, "[%s]\n%s = %s\n%s", sec, dot + 1, value, extra ? extra : "");
}

/* ---- tables: every key, valid and invalid ---- */

#define A10 "aaaaaaaaaa"
#define TLS_CTX "[tls]\ncert = /c.pem\nkey = /k.pem\n"
#define CLUSTER_CTX "[node]\nname = casey\n[cluster]\nsecret_file = /s\n"

struct valid_row {
	const char *key, *in, *out, *extra;
};

static const struct valid_row valid_rows[] = {
	{"node.name", "casey", "casey", NULL},
	{"node.name", "smith-2_b", "smith-2_b", NULL},
	{"node.data_dir", "/srv/tjstore", "/srv/tjstore", NULL},
	{"node.data_dir", "relative/dir", "relative/dir", NULL},
	{"imap.listen", "0.0.0.0:143", "0.0.0.0:143", NULL},
	{"imap.listen", "[::1]:143", "[::1]:143", NULL},
	{"imap.listen", "[0:0:0::1]:143", "[::1]:143", NULL},
	{"imap.listen", "*:1143", "*:1143", NULL},
	{"imap.listen", "Mail.Example.ORG:143", "mail.example.org:143", NULL},
	{"imap.listen", "", "", NULL},
	{"imap.tls_listen", "127.0.0.1:993", "127.0.0.1:993", TLS_CTX},
	{"imap.tls_listen", "[::]:993", "[::]:993", TLS_CTX},
	{"imap.tls_listen", "", "", NULL},
	{"smtp.listen", "127.0.0.1:2525", "127.0.0.1:2525", NULL},
	{"smtp.listen", "localhost:65535", "localhost:65535", NULL},
	{"smtp.lmtp_listen", "127.0.0.1:24", "127.0.0.1:24", NULL},
	{"smtp.lmtp_listen", "", "", NULL},
	{"smtp.hostname", "mx.tjhsst.edu", "mx.tjhsst.edu", NULL},
	{"smtp.hostname", "localhost", "localhost", NULL},
	{"smtp.max_message_size", "10M", "10M", NULL},
	{"smtp.max_message_size", "10m", "10M", NULL},
	{"smtp.max_message_size", "1048576", "1M", NULL},
	{"smtp.max_message_size", "1000000", "1000000", NULL},
	{"smtp.max_message_size", "1K", "1K", NULL},
	{"smtp.max_message_size", "256M", "256M", NULL},
	{"smtp.max_recipients", "1", "1", NULL},
	{"smtp.max_recipients", "100000", "100000", NULL},
	{"smtp.max_recipients", "0100", "100", NULL},
	{"tls.cert", "/etc/ssl/tj.pem", "/etc/ssl/tj.pem", "[tls]\nkey = /k\n"},
	{"tls.key", "/etc/ssl/private/tj.key", "/etc/ssl/private/tj.key", "[tls]\ncert = /c\n"},
	{"auth.backend", "passwd", "passwd", NULL},
	{"auth.backend", "krb5", "krb5", "[auth]\nkeytab = /etc/krb5.keytab\n"},
	{"auth.backend", "KRB5", "krb5", "[auth]\nkeytab = /etc/krb5.keytab\n"},
	{"auth.passwd_file", "/etc/tjstore/pw", "/etc/tjstore/pw", NULL},
	{"auth.keytab", "/etc/krb5.keytab", "/etc/krb5.keytab", NULL},
	{"auth.realm", "TJHSST.EDU", "TJHSST.EDU", NULL},
	{"auth.realm", "", "", NULL},
	{"auth.service", "imap", "imap", NULL},
	{"auth.service", "mail.svc-1", "mail.svc-1", NULL},
	{"users.file", "/etc/tjstore/users.csv", "/etc/tjstore/users.csv", NULL},
	{"users.quota_multiplier", "2", "2.0", NULL},
	{"users.quota_multiplier", "1.5", "1.5", NULL},
	{"users.quota_multiplier", "0.001", "0.001", NULL},
	{"users.quota_multiplier", "1000", "1000.0", NULL},
	{"scan.clamav", "no", "no", NULL},
	{"scan.clamav", "yes", "yes", NULL},
	{"scan.spam", "off", "no", NULL},
	{"scan.spam", "1", "yes", NULL},
	{"scan.clamav_db_dir", "/var/lib/clamav2", "/var/lib/clamav2", NULL},
	{"scan.rules_file", "/etc/tjstore/spam.rules", "/etc/tjstore/spam.rules", NULL},
	{"scan.rules_file", "", "", NULL},
	{"scan.spam_threshold", "5.0", "5.0", NULL},
	{"scan.spam_threshold", "6.25", "6.25", NULL},
	{"scan.spam_threshold", "-1.5", "-1.5", NULL},
	{"scan.spam_threshold", "0", "0.0", NULL},
	{"scan.spam_threshold", "1000.000", "1000.0", NULL},
	{"scan.quarantine_dir", "/var/spool/tjq", "/var/spool/tjq", NULL},
	{"log.level", "debug", "debug", NULL},
	{"log.level", "info", "info", NULL},
	{"log.level", "warn", "warn", NULL},
	{"log.level", "ERROR", "error", NULL},
	{"log.syslog", "yes", "yes", NULL},
	{"log.syslog", "No", "no", NULL},
	{"log.syslog", "TRUE", "yes", NULL},
	{"log.syslog", "false", "no", NULL},
	{"log.syslog", "on", "yes", NULL},
	{"log.syslog", "OFF", "no", NULL},
	{"log.syslog", "1", "yes", NULL},
	{"log.syslog", "0", "no", NULL},
	{"admin.socket", "/run/tjstore/admin.sock", "/run/tjstore/admin.sock", NULL},
	{"cluster.peers", "smith@10.0.0.2:7000", "smith@10.0.0.2:7000", CLUSTER_CTX},
	{"cluster.peers", "smith@[fd00::2]:7000", "smith@[fd00::2]:7000", CLUSTER_CTX},
	{"cluster.peers", "smith@Smith.TJHSST.edu:7000", "smith@smith.tjhsst.edu:7000", CLUSTER_CTX},
	{"cluster.peers", "", "", NULL},
	{"cluster.witness", "lists@10.0.0.3:7000", "lists@10.0.0.3:7000", CLUSTER_CTX "peers = smith@h:1\n"},
	{"cluster.witness", "", "", NULL},
	{"cluster.secret_file", "/etc/tjstore/cluster.key", "/etc/tjstore/cluster.key", NULL},
	{"cluster.replication", "sync", "sync", NULL},
	{"cluster.replication", "async", "async", NULL},
	{"store.segment_size", "1M", "1M", NULL},
	{"store.segment_size", "128m", "128M", NULL},
	{"store.segment_size", "4G", "4G", NULL},
	{"store.zstd_level", "1", "1", NULL},
	{"store.zstd_level", "19", "19", NULL},
	{"store.zstd_level", "22", "22", NULL},
	{"store.dict_train_after", "0", "0", NULL},
	{"store.dict_train_after", "5000", "5000", NULL},
	{"store.log_retain", "1", "1", NULL},
	{"store.log_retain", "5000000", "5000000", NULL},
	{"store.map_size", "64M", "64M", NULL},
	{"store.map_size", "512G", "512G", NULL},
	{"store.map_size", "1T", "1T", NULL},
	{"store.map_size", "16t", "16T", NULL},
};

struct invalid_row {
	const char *key, *in, *want; /* want: part of the message after "[s] k: " */
};

static const struct invalid_row invalid_rows[] = {
	{"node.name", "-casey", "is not a node name"},
	{"node.name", "casey.tjhsst", "is not a node name"},
	{"node.name", A10 A10 A10 A10 A10 A10 "abcd", "is not a node name"},
	{"node.data_dir", "", "needs a value"},
	{"node.data_dir", "/a\tb", "contains a control character"},
	{"imap.listen", "localhost:99999", "is not host:port (port must be 1-65535)"},
	{"imap.listen", "localhost", "is not host:port (no port)"},
	{"imap.listen", "::1:143", "is not host:port (an IPv6 address goes in brackets, as [::1]:143)"},
	{"imap.listen", ":143", "is not host:port (no host; * means every address)"},
	{"imap.listen", "[::1]143", "is not host:port (no port)"},
	{"imap.listen", "[zz::1]:143", "is not host:port (bad IPv6 address)"},
	{"imap.listen", "256.1.1.1:143", "is not host:port (bad IPv4 address)"},
	{"imap.listen", "mail_host:143", "is not host:port (bad host name)"},
	{"imap.listen", "casey@1.2.3.4:143", "is not host:port (a listener takes no node name)"},
	{"imap.listen", "h:0", "is not host:port (port must be 1-65535)"},
	{"imap.listen", "h:abc", "is not host:port (port must be 1-65535)"},
	{"imap.tls_listen", "993", "is not host:port (no port)"},
	{"smtp.listen", "1.2.3.4:65536", "is not host:port (port must be 1-65535)"},
	{"smtp.lmtp_listen", "[::1:24", "is not host:port (no closing ']')"},
	{"smtp.hostname", "bad_host.example", "is not a host name"},
	{"smtp.hostname", "-mx.example", "is not a host name"},
	{"smtp.hostname", "mx..example", "is not a host name"},
	{"smtp.max_message_size", "abc", "is not a size"},
	{"smtp.max_message_size", "10MB", "is not a size"},
	{"smtp.max_message_size", "1.5M", "is not a size"},
	{"smtp.max_message_size", "-1", "is not a size"},
	{"smtp.max_message_size", "512", "is out of range (1K-256M)"},
	{"smtp.max_message_size", "257M", "is out of range (1K-256M)"},
	{"smtp.max_message_size", "99999999999999999999", "is out of range (1K-256M)"},
	{"smtp.max_message_size", "99999999999T", "is out of range (1K-256M)"},
	{"smtp.max_message_size", "", "needs a value"},
	{"smtp.max_recipients", "abc", "is not a number"},
	{"smtp.max_recipients", "5x", "is not a number"},
	{"smtp.max_recipients", "-5", "is not a number"},
	{"smtp.max_recipients", "0", "is out of range (1-100000)"},
	{"smtp.max_recipients", "100001", "is out of range (1-100000)"},
	{"tls.cert", "/etc/a\tb", "contains a control character"},
	{"tls.key", "/etc/a\tb", "contains a control character"},
	{"auth.backend", "ldap", "is not one of passwd, krb5"},
	{"auth.backend", "", "needs a value"},
	{"auth.passwd_file", "/a\tb", "contains a control character"},
	{"auth.keytab", "/a\tb", "contains a control character"},
	{"auth.realm", "TJ HSST.EDU", "is not a Kerberos realm"},
	{"auth.realm", "a@TJHSST.EDU", "is not a Kerberos realm"},
	{"auth.service", "", "needs a value"},
	{"auth.service", "imap/casey", "is not a service name"},
	{"users.file", "", "needs a value"},
	{"users.quota_multiplier", "0", "is out of range (0.001 to 1000.0)"},
	{"users.quota_multiplier", "1000.001", "is out of range (0.001 to 1000.0)"},
	{"users.quota_multiplier", "-1", "is out of range (0.001 to 1000.0)"},
	{"users.quota_multiplier", "abc", "is not a decimal number"},
	{"users.quota_multiplier", "1.2345", "has too many decimals (at most 3)"},
	{"users.quota_multiplier", "1.", "is not a decimal number"},
	{"users.quota_multiplier", ".5", "is not a decimal number"},
	{"users.quota_multiplier", "1e3", "is not a decimal number"},
	{"scan.clamav_db_dir", "", "needs a value"},
	{"scan.rules_file", "/a\tb", "contains a control character"},
	{"scan.spam_threshold", "high", "is not a decimal number"},
	{"scan.spam_threshold", "5,0", "is not a decimal number"},
	{"scan.spam_threshold", "1000.001", "is out of range (-1000.0 to 1000.0)"},
	{"scan.spam_threshold", "99999999999999999999", "is out of range (-1000.0 to 1000.0)"},
	{"scan.quarantine_dir", "/a\tb", "contains a control character"},
	{"log.level", "verbose", "is not one of debug, info, warn, error"},
	{"scan.clamav", "maybe", "is not yes or no"},
	{"scan.spam", "", "needs a value"},
	{"log.syslog", "maybe", "is not yes or no"},
	{"log.syslog", "2", "is not yes or no"},
	{"log.syslog", "", "needs a value"},
	{"admin.socket", "/" A10 A10 A10 A10 A10 A10 A10 A10 A10 A10 "abcdefgh",
	 "is too long for a Unix socket path (max 107 bytes)"},
	{"cluster.peers", "10.0.0.2:7000", "is not NAME@HOST:PORT (no node name)"},
	{"cluster.peers", "sm ith@10.0.0.2:7000", "is not NAME@HOST:PORT (bad node name)"},
	{"cluster.peers", "smith@*:7000", "is not NAME@HOST:PORT (a peer needs a real address, not *)"},
	{"cluster.peers", "smith@10.0.0.2", "is not NAME@HOST:PORT (no port)"},
	{"cluster.witness", "lists", "is not NAME@HOST:PORT (no node name)"},
	{"cluster.witness", "lists@h:70000", "is not NAME@HOST:PORT (port must be 1-65535)"},
	{"cluster.secret_file", "/a\tb", "contains a control character"},
	{"cluster.replication", "semi", "is not one of sync, async"},
	{"store.segment_size", "512K", "is out of range (1M-4G)"},
	{"store.segment_size", "5G", "is out of range (1M-4G)"},
	{"store.zstd_level", "0", "is out of range (1-22)"},
	{"store.zstd_level", "23", "is out of range (1-22)"},
	{"store.zstd_level", "-1", "is out of range (1-22)"},
	{"store.zstd_level", "x", "is not a number"},
	{"store.dict_train_after", "-1", "is not a number"},
	{"store.dict_train_after", "1000000001", "is out of range (0-1000000000)"},
	{"store.log_retain", "0", "is out of range (1-1000000000000)"},
	{"store.map_size", "32M", "is out of range (64M-16T)"},
	{"store.map_size", "17T", "is out of range (64M-16T)"},
};

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

/* ---- defaults ---- */

static void check_defaults(const tj_config *c)
{
	char full[256], shortname[256];
	host_names(full, sizeof(full), shortname, sizeof(shortname));
	TJ_ASSERT_STR(c->node.name, shortname);
	TJ_ASSERT_STR(c->node.data_dir, "/var/lib/tjstore");
	TJ_ASSERT_INT(c->imap.listen.n, ==, 1);
	TJ_ASSERT_STR(c->imap.listen.v[0].host, "127.0.0.1");
	TJ_ASSERT_INT(c->imap.listen.v[0].port, ==, 143);
	TJ_ASSERT_STR(c->imap.listen.v[0].name, "");
	TJ_ASSERT_INT(c->imap.tls_listen.n, ==, 0);
	TJ_ASSERT_INT(c->smtp.listen.n, ==, 1);
	TJ_ASSERT_STR(c->smtp.listen.v[0].host, "127.0.0.1");
	TJ_ASSERT_INT(c->smtp.listen.v[0].port, ==, 25);
	TJ_ASSERT_INT(c->smtp.lmtp_listen.n, ==, 0);
	TJ_ASSERT_STR(c->smtp.hostname, full);
	TJ_ASSERT_INT(c->smtp.max_message_size, ==, 50ULL << 20);
	TJ_ASSERT_INT(c->smtp.max_recipients, ==, 1000);
	TJ_ASSERT_STR(c->tls.cert, "");
	TJ_ASSERT_STR(c->tls.key, "");
	TJ_ASSERT_INT(c->auth.backend, ==, TJ_AUTH_PASSWD);
	TJ_ASSERT_STR(c->auth.passwd_file, "/etc/tjstore/passwd");
	TJ_ASSERT_STR(c->auth.keytab, "");
	TJ_ASSERT_STR(c->auth.realm, "");
	TJ_ASSERT_STR(c->auth.service, "imap");
	TJ_ASSERT_STR(c->users.file, "/etc/tjstore/users.csv");
	TJ_ASSERT_INT(c->users.quota_multiplier_milli, ==, 1000);
	TJ_ASSERT_STR(c->scan.clamav_db_dir, "/var/lib/clamav");
	TJ_ASSERT_STR(c->scan.rules_file, "");
	TJ_ASSERT_INT(c->scan.spam_threshold_milli, ==, 5000);
	TJ_ASSERT_STR(c->scan.quarantine_dir, "/var/lib/tjstore/quarantine");
	TJ_ASSERT_INT(c->log.level, ==, TJ_LOG_INFO);
	TJ_ASSERT(!c->log.syslog);
	TJ_ASSERT(c->scan.clamav && c->scan.spam);
	TJ_ASSERT_STR(c->admin.socket, "/var/lib/tjstore/admin.sock");
	TJ_ASSERT_INT(c->cluster.peers.n, ==, 0);
	TJ_ASSERT_INT(c->cluster.witness.port, ==, 0);
	TJ_ASSERT_STR(c->cluster.witness.host, "");
	TJ_ASSERT_STR(c->cluster.secret_file, "");
	TJ_ASSERT_INT(c->cluster.replication, ==, TJ_REPL_SYNC);
	/* the store's own defaults (store/store.c tj_store_opts_default) */
	TJ_ASSERT_INT(c->store.segment_size, ==, 64ULL << 20);
	TJ_ASSERT_INT(c->store.zstd_level, ==, 3);
	TJ_ASSERT_INT(c->store.dict_train_after, ==, 1000);
	TJ_ASSERT_INT(c->store.log_retain, ==, 1000000);
	TJ_ASSERT_INT(c->store.map_size, ==, 256ULL << 30);
}

TJ_TEST(defaults_after_new)
{
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	check_defaults(c);
	TJ_ASSERT_INT(nerrors(c), ==, 0);
	tj_config_free(&c);
	TJ_ASSERT(c == NULL);
	tj_config_free(&c); /* NULL is fine */
	no_leaks();
}

TJ_TEST(defaults_no_file)
{
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	TJ_OKRC(tj_config_load(c, NULL));
	check_defaults(c);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(empty_file_is_all_defaults)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/empty.conf", tj_test_tmpdir());
	write_file(path, "", 0);
	tj_config *c, *d;
	TJ_OKRC(tj_config_new(&c));
	TJ_OKRC(tj_config_load(c, path));
	check_defaults(c);
	TJ_OKRC(tj_config_new(&d));
	TJ_OKRC(tj_config_load(d, NULL));
	TJ_ASSERT(tj_config_equal(c, d));
	tj_config_free(&c);
	tj_config_free(&d);
	/* comments and blank lines only: also all defaults */
	c = load_ok("# nothing here\n\n   ; nor here\n\t\n[imap]\n# empty section\n", NULL);
	check_defaults(c);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(store_opts_mapping)
{
	tj_config *c = load_ok("[store]\nsegment_size = 8M\nzstd_level = 7\ndict_train_after = 0\n"
			       "log_retain = 42\nmap_size = 1G\n", NULL);
	tj_store_opts o;
	memset(&o, 0xff, sizeof(o));
	tj_config_store_opts(c, &o);
	TJ_ASSERT_INT(o.segment_size, ==, 8ULL << 20);
	TJ_ASSERT_INT(o.zstd_level, ==, 7);
	TJ_ASSERT_INT(o.dict_train_after, ==, 0);
	TJ_ASSERT_INT(o.log_retain, ==, 42);
	TJ_ASSERT_INT(o.map_size, ==, 1ULL << 30);
	TJ_ASSERT_INT(o.read_only, ==, 0);
	tj_config_free(&c);
	no_leaks();
}

/* ---- every key ---- */

TJ_TEST(every_key_is_covered_by_the_tables)
{
	size_t nkeys = 0;
	for (size_t i = 0; tj_config_key(i); i++, nkeys++) {
		const char *k = tj_config_key(i);
		bool v = false, inv = false;
		for (size_t j = 0; j < NROWS(valid_rows); j++)
			v |= strcmp(valid_rows[j].key, k) == 0;
		for (size_t j = 0; j < NROWS(invalid_rows); j++)
			inv |= strcmp(invalid_rows[j].key, k) == 0;
		if (!v || !inv)
			TJ_FAIL("key %s has no %s test row", k, !v ? "valid" : "invalid");
		tj_buf b = TJ_BUF_INIT;
		tj_config *c;
		TJ_OKRC(tj_config_new(&c));
		TJ_OKRC(tj_config_get(c, k, &b)); /* every listed key can be read back */
		tj_buf_free(&b);
		tj_config_free(&c);
	}
	/* DESIGN.md's Interfaces list plus the five [store] additions and
	 * scan.clamav, scan.spam */
	TJ_ASSERT_INT(nkeys, ==, 36);
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	tj_buf b = TJ_BUF_INIT;
	TJ_ASSERT_INT(tj_config_get(c, "imap.lisen", &b), ==, TJ_ENOTFOUND);
	TJ_ASSERT_INT(tj_config_get(c, "imap", &b), ==, TJ_ENOTFOUND);
	tj_buf_free(&b);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(every_key_valid_values)
{
	for (size_t i = 0; i < NROWS(valid_rows); i++) {
		const struct valid_row *r = &valid_rows[i];
		char text[1024];
		one_key_file(text, sizeof(text), r->key, r->in, r->extra);
		tj_config *c = load_ok(text, NULL);
		if (strcmp(get(c, r->key), r->out) != 0)
			TJ_FAIL("%s = %s: got \"%s\", want \"%s\"", r->key, r->in, get(c, r->key), r->out);
		roundtrip(c);
		tj_config_free(&c);
		/* the same value through --set, the same result */
		char arg[1024];
		snprintf(arg, sizeof(arg), "%s=%s", r->key, r->in);
		const char *sets[] = {arg, NULL};
		c = load_ok(r->extra ? r->extra : "", sets);
		if (strcmp(get(c, r->key), r->out) != 0)
			TJ_FAIL("--set %s: got \"%s\", want \"%s\"", arg, get(c, r->key), r->out);
		tj_config_free(&c);
	}
	no_leaks();
}

TJ_TEST(every_key_invalid_values)
{
	for (size_t i = 0; i < NROWS(invalid_rows); i++) {
		const struct invalid_row *r = &invalid_rows[i];
		char text[1024], want[2300];
		one_key_file(text, sizeof(text), r->key, r->in, NULL);
		int rc;
		tj_config *c = load(text, NULL, &rc);
		TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
		const char *dot = strchr(r->key, '.');
		if (r->in[0])
			snprintf(want, sizeof(want), "t.conf:2: [%.*s] %s: \"", (int)(dot - r->key), r->key, dot + 1);
		else
			snprintf(want, sizeof(want), "t.conf:2: [%.*s] %s: %s", (int)(dot - r->key), r->key, dot + 1,
				 r->want);
		ASSERT_ERROR(c, want);
		ASSERT_ERROR(c, r->want);
		TJ_ASSERT_INT(nerrors(c), ==, 1);
		tj_config_free(&c);
		/* through --set: "--set KEY=VALUE: problem" (without the leading "is ") */
		char arg[1024];
		snprintf(arg, sizeof(arg), "%s=%s", r->key, r->in);
		const char *sets[] = {arg, NULL};
		c = load("", sets, &rc);
		TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
		const char *w = strncmp(r->want, "is ", 3) == 0 ? r->want + 3 : r->want;
		if (!strchr(r->in, '\t')) { /* a tab is shown as '?' in the message */
			snprintf(want, sizeof(want), "--set %s: %s", arg, w);
			ASSERT_ERROR(c, want);
		} else {
			ASSERT_ERROR(c, w);
		}
		TJ_ASSERT_INT(nerrors(c), ==, 1);
		tj_config_free(&c);
	}
	no_leaks();
}

TJ_TEST(error_messages_match_the_documented_form)
{
	/* line 12 of the file, as in docs/config.md */
	const char *text = "# 1\n# 2\n# 3\n# 4\n# 5\n# 6\n# 7\n# 8\n# 9\n[imap]\n# 11\nlisten = localhost:99999\n";
	const char *const *e;
	int rc;
	tj_config *c = load(text, NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
	TJ_ASSERT_STR(e[0], "t.conf:12: [imap] listen: \"localhost:99999\" is not host:port (port must be 1-65535)");
	tj_config_free(&c);
	const char *sets[] = {"smtp.max_recipients=abc", NULL};
	c = load("", sets, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
	TJ_ASSERT_STR(e[0], "--set smtp.max_recipients=abc: not a number");
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(typed_values)
{
	tj_config *c = load_ok("[imap]\nlisten = [::1]:143\nlisten = *:1143\n"
			       "[smtp]\nmax_message_size = 20M\nmax_recipients = 250\n"
			       "[users]\nquota_multiplier = 1.25\n"
			       "[scan]\nspam_threshold = -2.5\n"
			       "[log]\nlevel = debug\nsyslog = on\n"
			       "[auth]\nbackend = krb5\nkeytab = /etc/krb5.keytab\n"
			       "[cluster]\nreplication = async\n", NULL);
	TJ_ASSERT_INT(c->imap.listen.n, ==, 2);
	TJ_ASSERT_STR(c->imap.listen.v[0].host, "::1");
	TJ_ASSERT_INT(c->imap.listen.v[0].port, ==, 143);
	TJ_ASSERT_STR(c->imap.listen.v[1].host, "*");
	TJ_ASSERT_INT(c->imap.listen.v[1].port, ==, 1143);
	TJ_ASSERT_INT(c->smtp.max_message_size, ==, 20ULL << 20);
	TJ_ASSERT_INT(c->smtp.max_recipients, ==, 250);
	TJ_ASSERT_INT(c->users.quota_multiplier_milli, ==, 1250);
	TJ_ASSERT_INT(c->scan.spam_threshold_milli, ==, -2500);
	TJ_ASSERT_INT(c->log.level, ==, TJ_LOG_DEBUG);
	TJ_ASSERT(c->log.syslog);
	TJ_ASSERT_INT(c->auth.backend, ==, TJ_AUTH_KRB5);
	TJ_ASSERT_INT(c->cluster.replication, ==, TJ_REPL_ASYNC);
	tj_config_free(&c);
	c = load_ok(CLUSTER_CTX "peers = smith@10.0.0.2:7000\nwitness = lists@[fd00::3]:7001\n", NULL);
	TJ_ASSERT_INT(c->cluster.peers.n, ==, 1);
	TJ_ASSERT_STR(c->cluster.peers.v[0].name, "smith");
	TJ_ASSERT_STR(c->cluster.peers.v[0].host, "10.0.0.2");
	TJ_ASSERT_INT(c->cluster.peers.v[0].port, ==, 7000);
	TJ_ASSERT_STR(c->cluster.witness.name, "lists");
	TJ_ASSERT_STR(c->cluster.witness.host, "fd00::3");
	TJ_ASSERT_INT(c->cluster.witness.port, ==, 7001);
	tj_config_free(&c);
	no_leaks();
}

/* ---- repeats and duplicates ---- */

TJ_TEST(repeatable_keys_accumulate)
{
	tj_config *c = load_ok("[imap]\nlisten = 127.0.0.1:143\nlisten = [::1]:143\n[smtp]\nlisten = *:25\n"
			       "[imap]\nlisten = 10.0.0.1:143\n", NULL);
	TJ_ASSERT_STR(get(c, "imap.listen"), "127.0.0.1:143, [::1]:143, 10.0.0.1:143");
	TJ_ASSERT_STR(get(c, "smtp.listen"), "*:25"); /* the file's first entry replaces the default */
	roundtrip(c);
	tj_config_free(&c);
	/* an empty value clears what came before it */
	c = load_ok("[imap]\nlisten = 127.0.0.1:143\nlisten =\nlisten = 127.0.0.1:1143\n[smtp]\nlisten =\n", NULL);
	TJ_ASSERT_STR(get(c, "imap.listen"), "127.0.0.1:1143");
	TJ_ASSERT_INT(c->smtp.listen.n, ==, 0);
	roundtrip(c);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(repeat_limits_and_duplicate_entries)
{
	int rc;
	tj_config *c = load("[imap]\nlisten = 127.0.0.1:143\nlisten = 127.0.0.1:143\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:3: [imap] listen: \"127.0.0.1:143\" is listed twice");
	tj_config_free(&c);
	c = load("[imap]\nlisten = *:143\nlisten = 127.0.0.1:143\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:3: [imap] listen: \"127.0.0.1:143\" overlaps");
	tj_config_free(&c);
	c = load(CLUSTER_CTX "peers = smith@10.0.0.2:7000\npeers = smith@10.0.0.9:7000\n", NULL, &rc);
	ASSERT_ERROR(c, "t.conf:6: [cluster] peers: \"smith@10.0.0.9:7000\" names a node that is already listed");
	tj_config_free(&c);
	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&t, "[imap]\n"));
	for (int i = 1; i <= TJ_CONFIG_MAX_ADDRS + 1; i++)
		TJ_OKRC(tj_buf_printf(&t, "listen = 127.0.0.%d:143\n", i));
	c = load((char *)t.data, NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "\"127.0.0.17:143\" is one entry too many (max 16)");
	TJ_ASSERT_INT(nerrors(c), ==, 1);
	TJ_ASSERT_INT(c->imap.listen.n, ==, TJ_CONFIG_MAX_ADDRS);
	tj_config_free(&c);
	tj_buf_free(&t);
	no_leaks();
}

TJ_TEST(duplicate_key_in_one_file_is_an_error)
{
	int rc;
	tj_config *c = load("[smtp]\nhostname = a.example\nmax_recipients = 5\n\n[smtp]\nhostname = b.example\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:6: [smtp] hostname: given twice (first on line 2)");
	TJ_ASSERT_INT(nerrors(c), ==, 1);
	tj_config_free(&c);
	/* even when the first one was invalid */
	c = load("[log]\nlevel = loud\nlevel = debug\n", NULL, &rc);
	ASSERT_ERROR(c, "t.conf:2: [log] level: \"loud\" is not one of");
	ASSERT_ERROR(c, "t.conf:3: [log] level: given twice (first on line 2)");
	tj_config_free(&c);
	no_leaks();
}

/* ---- syntax ---- */

TJ_TEST(comments_and_quoting)
{
	tj_config *c = load_ok("# comment\n; another\n  # indented comment\n"
			       "[tls]   # comment after a header\n"
			       "cert = /etc/ssl/a.pem # trailing comment\n"
			       "key=/etc/ssl/a.key;semicolon comment\n"
			       "[scan]\n"
			       "rules_file = \"  /spaced path/rules#1;x  \"  # kept inside quotes\n"
			       "quarantine_dir = \"/q/\\\"quoted\\\"/back\\\\slash\"\n"
			       "clamav_db_dir=\t/tabs/around\t\n"
			       "[ auth ]\n"
			       "realm = \"\"\n"
			       "keytab = /k=v/equals\n", NULL);
	TJ_ASSERT_STR(c->tls.cert, "/etc/ssl/a.pem");
	TJ_ASSERT_STR(c->tls.key, "/etc/ssl/a.key");
	TJ_ASSERT_STR(c->scan.rules_file, "  /spaced path/rules#1;x  ");
	TJ_ASSERT_STR(c->scan.quarantine_dir, "/q/\"quoted\"/back\\slash");
	TJ_ASSERT_STR(c->scan.clamav_db_dir, "/tabs/around");
	TJ_ASSERT_STR(c->auth.realm, "");
	TJ_ASSERT_STR(c->auth.keytab, "/k=v/equals");
	/* values that need quotes are printed with them */
	TJ_ASSERT_STR(get(c, "scan.rules_file"), "\"  /spaced path/rules#1;x  \"");
	TJ_ASSERT_STR(get(c, "scan.quarantine_dir"), "/q/\"quoted\"/back\\slash"); /* no quote needed */
	roundtrip(c);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(quoting_errors)
{
	int rc;
	tj_config *c = load("[tls]\ncert = \"/no/end\n"
			    "key = \"/a\" trailing\n"
			    "[scan]\nrules_file = \"bad \\n escape\"\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:2: [tls] cert: quoted value has no closing '\"'");
	ASSERT_ERROR(c, "t.conf:3: [tls] key: text after the closing '\"'");
	ASSERT_ERROR(c, "t.conf:5: [scan] rules_file: bad escape in quoted value");
	TJ_ASSERT_INT(nerrors(c), ==, 3);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(crlf_and_bom)
{
	const char *lf = "[imap]\nlisten = 127.0.0.1:1143\n[tls]\ncert = \"/c \"\nkey = /k\n[imap]\ntls_listen = *:993\n";
	const char *crlf = "\xEF\xBB\xBF[imap]\r\nlisten = 127.0.0.1:1143\r\n[tls]\r\ncert = \"/c \"\r\nkey = /k\r\n"
			   "[imap]\r\ntls_listen = *:993";
	tj_config *a = load_ok(lf, NULL), *b = load_ok(crlf, NULL);
	TJ_ASSERT(tj_config_equal(a, b));
	TJ_ASSERT_STR(b->tls.key, "/k");
	TJ_ASSERT_STR(b->tls.cert, "/c ");
	TJ_ASSERT_INT(b->imap.tls_listen.v[0].port, ==, 993);
	tj_config_free(&a);
	tj_config_free(&b);
	/* line numbers count CRLF lines */
	int rc;
	a = load("[imap]\r\n\r\nlisten = x\r\n", NULL, &rc);
	ASSERT_ERROR(a, "t.conf:3: [imap] listen: \"x\" is not host:port");
	tj_config_free(&a);
	no_leaks();
}

TJ_TEST(unknown_sections_and_keys)
{
	int rc;
	tj_config *c = load("[imap]\nlisten = 127.0.0.1:143\nlisen = 127.0.0.1:143\n"
			    "[imapp]\nlisten = 1\nwhatever = 2\n"
			    "[IMAP]\nlisten = 127.0.0.1:143\n"
			    "[smtp]\nmax message size = 5\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:3: [imap] lisen: unknown key");
	ASSERT_ERROR(c, "t.conf:4: [imapp]: unknown section");
	ASSERT_ERROR(c, "t.conf:7: [IMAP]: unknown section");
	ASSERT_ERROR(c, "t.conf:10: [smtp] max message size: unknown key");
	TJ_ASSERT_INT(nerrors(c), ==, 4); /* keys under an unknown section are not reported again */
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(malformed_lines)
{
	int rc;
	tj_config *c = load("listen = 127.0.0.1:143\n"
			    "[imap\n"
			    "listen = 1.1.1.1:1\n"
			    "[]\n"
			    "[imap] x\n"
			    "[smtp]\n"
			    "just words\n"
			    "= value\n"
			    "hostname = ok.example\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:1: listen: key outside any [section]");
	ASSERT_ERROR(c, "t.conf:2: section header has no closing ']'");
	ASSERT_ERROR(c, "t.conf:4: empty section name");
	ASSERT_ERROR(c, "t.conf:5: text after the section header's ']'");
	ASSERT_ERROR(c, "t.conf:7: expected key = value");
	ASSERT_ERROR(c, "t.conf:8: no key before '='");
	TJ_ASSERT_INT(nerrors(c), ==, 6); /* line 3 belongs to the broken header: not reported */
	TJ_ASSERT_STR(c->smtp.hostname, "ok.example"); /* parsing went on */
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(nul_control_and_long_lines)
{
	int rc;
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	static const char text[] = "[smtp]\nhostname = a\0b\nmax_recipients = 7\n";
	rc = tj_config_load_string(c, "t.conf", text, sizeof(text) - 1);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:2: NUL byte in line");
	TJ_ASSERT_INT(c->smtp.max_recipients, ==, 7);
	tj_config_free(&c);

	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&t, "[tls]\ncert = /"));
	for (int i = 0; i < TJ_CONFIG_VALUE_MAX; i++)
		TJ_OKRC(tj_buf_putc(&t, 'a'));
	TJ_OKRC(tj_buf_puts(&t, "\n# "));
	for (int i = 0; i < TJ_CONFIG_LINE_MAX; i++)
		TJ_OKRC(tj_buf_putc(&t, 'b'));
	TJ_OKRC(tj_buf_puts(&t, "\nkey = /k\x01\n"));
	c = load((char *)t.data, NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:2: [tls] cert: \"/aaaa");
	ASSERT_ERROR(c, "is too long (max 4096 bytes)");
	ASSERT_ERROR(c, "t.conf:3: line too long (max 8192 bytes)");
	ASSERT_ERROR(c, "t.conf:4: [tls] key: \"/k?\" contains a control character");
	tj_config_free(&c);
	tj_buf_free(&t);
	/* a value of exactly the limit is fine */
	TJ_OKRC(tj_buf_puts(&t, "[tls]\ncert = /"));
	for (int i = 0; i < TJ_CONFIG_VALUE_MAX - 1; i++)
		TJ_OKRC(tj_buf_putc(&t, 'a'));
	TJ_OKRC(tj_buf_puts(&t, "\nkey = /k\n"));
	c = load_ok((char *)t.data, NULL);
	TJ_ASSERT_INT(strlen(c->tls.cert), ==, TJ_CONFIG_VALUE_MAX);
	roundtrip(c);
	tj_config_free(&c);
	tj_buf_free(&t);
	no_leaks();
}

TJ_TEST(too_many_errors_are_counted)
{
	tj_buf t = TJ_BUF_INIT;
	TJ_OKRC(tj_buf_puts(&t, "[imap]\n"));
	for (int i = 0; i < 150; i++)
		TJ_OKRC(tj_buf_printf(&t, "bad%d = 1\n", i));
	int rc;
	tj_config *c = load((char *)t.data, NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	const char *const *e;
	size_t n = tj_config_errors(c, &e);
	TJ_ASSERT_INT(n, ==, TJ_CONFIG_MAX_ERRORS);
	TJ_ASSERT_STR(e[0], "t.conf:2: [imap] bad0: unknown key");
	TJ_ASSERT_STR(e[n - 1], "... and 51 more problems");
	tj_config_free(&c);
	tj_buf_free(&t);
	no_leaks();
}

/* ---- --set ---- */

TJ_TEST(set_wins_over_the_file)
{
	const char *file = "[smtp]\nmax_recipients = 10\nhostname = file.example\n"
			   "[imap]\nlisten = 127.0.0.1:143\nlisten = 127.0.0.1:1143\n";
	const char *sets[] = {"smtp.max_recipients=20", "smtp.max_recipients=30", /* last wins */
			      "imap.listen=[::1]:143", "imap.listen=[::1]:1143",  /* replaces the file's list */
			      "log.level=debug", NULL};
	tj_config *c = load_ok(file, sets);
	TJ_ASSERT_INT(c->smtp.max_recipients, ==, 30);
	TJ_ASSERT_STR(c->smtp.hostname, "file.example");
	TJ_ASSERT_STR(get(c, "imap.listen"), "[::1]:143, [::1]:1143");
	TJ_ASSERT_INT(c->log.level, ==, TJ_LOG_DEBUG);
	roundtrip(c);
	tj_config_free(&c);
	/* an empty --set of a list clears it; other lists are untouched */
	const char *sets2[] = {"smtp.listen=", NULL};
	c = load_ok("[smtp]\nlisten = *:25\nlmtp_listen = 127.0.0.1:24\n", sets2);
	TJ_ASSERT_INT(c->smtp.listen.n, ==, 0);
	TJ_ASSERT_STR(get(c, "smtp.lmtp_listen"), "127.0.0.1:24");
	tj_config_free(&c);
	/* values are verbatim: no quotes, no comments */
	const char *sets3[] = {"tls.cert=/etc/ssl/a#b; c", "tls.key=\"/k\"", NULL};
	c = load_ok("", sets3);
	TJ_ASSERT_STR(c->tls.cert, "/etc/ssl/a#b; c");
	TJ_ASSERT_STR(c->tls.key, "\"/k\"");
	roundtrip(c);
	tj_config_free(&c);
	/* a --set fixes a file's cross-key problem, but not its syntax errors */
	const char *sets4[] = {"auth.keytab=/etc/krb5.keytab", NULL};
	c = load_ok("[auth]\nbackend = krb5\n", sets4);
	tj_config_free(&c);
	int rc;
	const char *sets5[] = {"smtp.max_recipients=5", NULL};
	c = load("[smtp]\nmax_recipients = lots\n", sets5, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf:2: [smtp] max_recipients: \"lots\" is not a number");
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(set_argument_errors)
{
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	TJ_ASSERT_INT(tj_config_add_override(c, "imap.listen"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_add_override(c, "listen=1.2.3.4:5"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_add_override(c, ".listen=1"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_add_override(c, "imap.=1"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_add_override(c, "imapp.listen=1"), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_add_override(c, "imap.lisen=1"), ==, TJ_EINVAL);
	TJ_OKRC(tj_config_add_override(c, "smtp.max_recipients=12"));
	TJ_OKRC(tj_config_add_override(c, "smtp.hostname=a=b")); /* '=' in the value: bad host name */
	TJ_ASSERT_INT(tj_config_load(c, NULL), ==, TJ_EINVAL);
	ASSERT_ERROR(c, "--set imap.listen: expected SECTION.KEY=VALUE");
	ASSERT_ERROR(c, "--set listen=1.2.3.4:5: expected SECTION.KEY=VALUE");
	ASSERT_ERROR(c, "--set .listen=1: expected SECTION.KEY=VALUE");
	ASSERT_ERROR(c, "--set imap.=1: expected SECTION.KEY=VALUE");
	ASSERT_ERROR(c, "--set imapp.listen=1: unknown section [imapp]");
	ASSERT_ERROR(c, "--set imap.lisen=1: unknown key [imap] lisen");
	ASSERT_ERROR(c, "--set smtp.hostname=a=b: not a host name");
	TJ_ASSERT_INT(nerrors(c), ==, 7);
	TJ_ASSERT_INT(c->smtp.max_recipients, ==, 12);
	/* after loading, overrides and a second load are refused */
	TJ_ASSERT_INT(tj_config_add_override(c, "log.level=debug"), ==, TJ_ESTATE);
	TJ_ASSERT_INT(tj_config_load(c, NULL), ==, TJ_ESTATE);
	TJ_ASSERT_INT(tj_config_load_string(c, "x", "", 0), ==, TJ_ESTATE);
	tj_config_free(&c);
	/* the argument limit */
	TJ_OKRC(tj_config_new(&c));
	for (int i = 0; i < 256; i++)
		TJ_OKRC(tj_config_add_override(c, "log.level=warn"));
	TJ_ASSERT_INT(tj_config_add_override(c, "log.level=warn"), ==, TJ_ETOOBIG);
	tj_config_free(&c);
	no_leaks();
}

/* ---- derived defaults ---- */

TJ_TEST(derived_defaults_follow_data_dir)
{
	tj_config *c = load_ok("[node]\ndata_dir = /srv/tj/\n", NULL);
	TJ_ASSERT_STR(c->admin.socket, "/srv/tj/admin.sock");
	TJ_ASSERT_STR(c->scan.quarantine_dir, "/srv/tj/quarantine");
	roundtrip(c);
	tj_config_free(&c);
	const char *sets[] = {"node.data_dir=/d", NULL};
	c = load_ok("[admin]\nsocket = /run/tj.sock\n[scan]\nquarantine_dir =\n[node]\nname =\n[smtp]\nhostname =\n", sets);
	TJ_ASSERT_STR(c->admin.socket, "/run/tj.sock");   /* explicit: kept */
	TJ_ASSERT_STR(c->scan.quarantine_dir, "/d/quarantine"); /* empty: derived */
	char full[256], shortname[256];
	host_names(full, sizeof(full), shortname, sizeof(shortname));
	TJ_ASSERT_STR(c->node.name, shortname);
	TJ_ASSERT_STR(c->smtp.hostname, full);
	tj_config_free(&c);
	/* a derived socket path that is too long is reported */
	int rc;
	c = load("[node]\ndata_dir = /" A10 A10 A10 A10 A10 A10 A10 A10 A10 A10 "\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf: [admin] socket: \"/aaaa");
	ASSERT_ERROR(c, "is too long for a Unix socket path (max 107 bytes); set [admin] socket");
	tj_config_free(&c);
	no_leaks();
}

/* ---- cross-key checks ---- */

TJ_TEST(cross_key_checks_report_every_problem)
{
	int rc;
	tj_config *c = load("[imap]\ntls_listen = *:993\n"
			    "[auth]\nbackend = krb5\n"
			    "[tls]\ncert = /c.pem\n"
			    "[cluster]\npeers = smith@10.0.0.2:7000\nwitness = lists@10.0.0.3:7000\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf: [tls] cert: given without [tls] key");
	ASSERT_ERROR(c, "t.conf: [imap] tls_listen: needs [tls] cert and [tls] key");
	ASSERT_ERROR(c, "t.conf: [auth] backend: krb5 needs [auth] keytab");
	ASSERT_ERROR(c, "t.conf: [node] name: must be set when [cluster] peers is set");
	ASSERT_ERROR(c, "t.conf: [cluster] secret_file: needed when [cluster] peers is set");
	TJ_ASSERT_INT(nerrors(c), ==, 5);
	tj_config_free(&c);

	c = load("[auth]\npasswd_file =\n[tls]\nkey = /k\n"
		 "[node]\nname = casey\n[cluster]\nwitness = casey@10.0.0.3:7000\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf: [auth] backend: passwd needs [auth] passwd_file");
	ASSERT_ERROR(c, "t.conf: [tls] key: given without [tls] cert");
	ASSERT_ERROR(c, "t.conf: [cluster] witness: given without [cluster] peers");
	ASSERT_ERROR(c, "t.conf: [cluster] witness: \"casey\" is this node's own name");
	TJ_ASSERT_INT(nerrors(c), ==, 4);
	tj_config_free(&c);

	/* without a file the messages have no file prefix */
	const char *sets[] = {"auth.backend=krb5", NULL};
	tj_config *d;
	TJ_OKRC(tj_config_new(&d));
	TJ_OKRC(tj_config_add_override(d, sets[0]));
	TJ_ASSERT_INT(tj_config_load(d, NULL), ==, TJ_EINVAL);
	const char *const *e;
	TJ_ASSERT_INT(tj_config_errors(d, &e), ==, 1);
	TJ_ASSERT_STR(e[0], "[auth] backend: krb5 needs [auth] keytab (the service's keytab)");
	tj_config_free(&d);
	no_leaks();
}

TJ_TEST(cross_key_listeners_and_cluster)
{
	int rc;
	tj_config *c = load("[imap]\nlisten = 127.0.0.1:25\nlisten = *:1143\n"
			    "[smtp]\nlisten = 127.0.0.1:25\nlmtp_listen = 10.0.0.1:1143\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf: [smtp] listen: 127.0.0.1:25 clashes with [imap] listen (same port)");
	ASSERT_ERROR(c, "t.conf: [smtp] lmtp_listen: 10.0.0.1:1143 clashes with [imap] listen (same port)");
	TJ_ASSERT_INT(nerrors(c), ==, 2);
	tj_config_free(&c);

	c = load(CLUSTER_CTX "peers = smith@10.0.0.2:7000\nwitness = smith@10.0.0.3:7000\n", NULL, &rc);
	ASSERT_ERROR(c, "t.conf: [cluster] witness: \"smith\" is also in [cluster] peers");
	tj_config_free(&c);

	/* a complete two-node cluster; peers may name this node itself (its own cluster address) */
	const char *full = "[node]\nname = casey\ndata_dir = /srv/tj\n"
			   "[imap]\nlisten = *:143\ntls_listen = *:993\n"
			   "[smtp]\nlisten = *:25\nlmtp_listen = 127.0.0.1:24\nhostname = casey.tjhsst.edu\n"
			   "[tls]\ncert = /etc/tjstore/tls.pem\nkey = /etc/tjstore/tls.key\n"
			   "[auth]\nbackend = krb5\nkeytab = /etc/krb5.keytab\nrealm = CSL.TJHSST.EDU\n"
			   "[cluster]\npeers = casey@10.0.0.1:7000\npeers = smith@10.0.0.2:7000\n"
			   "witness = lists@10.0.0.3:7000\nsecret_file = /etc/tjstore/cluster.key\n";
	c = load_ok(full, NULL);
	TJ_ASSERT_INT(c->cluster.peers.n, ==, 2);
	roundtrip(c);
	tj_config_free(&c);
	/* an empty name is the hostname default: not good enough for a cluster */
	c = load("[node]\nname =\n[cluster]\nsecret_file = /s\npeers = smith@10.0.0.2:7000\n", NULL, &rc);
	TJ_ASSERT_INT(rc, ==, TJ_EINVAL);
	ASSERT_ERROR(c, "t.conf: [node] name: must be set when [cluster] peers is set");
	TJ_ASSERT_INT(nerrors(c), ==, 1);
	tj_config_free(&c);
	/* naming only itself is not a cluster: no secret needed */
	c = load_ok("[node]\nname = casey\n[cluster]\npeers = casey@10.0.0.1:7000\n", NULL);
	tj_config_free(&c);
	no_leaks();
}

/* ---- print / parse ---- */

TJ_TEST(print_lists_every_key_and_round_trips)
{
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	TJ_OKRC(tj_config_load(c, NULL));
	tj_buf b = TJ_BUF_INIT;
	TJ_OKRC(tj_config_print(c, &b));
	for (size_t i = 0; tj_config_key(i); i++) {
		const char *k = tj_config_key(i), *dot = strchr(k, '.');
		char sec[64], line[128];
		snprintf(sec, sizeof(sec), "\n[%.*s]\n", (int)(dot - k), k);
		snprintf(line, sizeof(line), "\n%s =", dot + 1);
		TJ_ASSERT(strstr((char *)b.data, sec));
		TJ_ASSERT(strstr(strstr((char *)b.data, sec), line));
	}
	TJ_ASSERT(strstr((char *)b.data, "\nmax_message_size = 50M\n"));
	TJ_ASSERT(strstr((char *)b.data, "\nspam_threshold = 5.0\n"));
	TJ_ASSERT(strstr((char *)b.data, "\nlisten = 127.0.0.1:143\ntls_listen =\n"));
	tj_buf_free(&b);
	roundtrip(c);
	tj_config_free(&c);

	/* a config far from the defaults, with values that need quotes */
	const char *sets[] = {"scan.rules_file= /lead and trail ", "tls.cert=\"/q\"#;", "tls.key=/k",
			      "imap.tls_listen=[fe80::1]:993", "log.syslog=yes", "store.map_size=1099511627776",
			      "users.quota_multiplier=0.25", "scan.spam_threshold=-0.005", NULL};
	c = load_ok("[cluster]\npeers = smith@[fd00::2]:7000\nwitness = lists@lists.example:7000\n"
		    "secret_file = /s\nreplication = async\n[node]\nname = casey\n", sets);
	TJ_ASSERT_STR(get(c, "store.map_size"), "1T");
	TJ_ASSERT_STR(get(c, "scan.spam_threshold"), "-0.005");
	TJ_ASSERT_STR(get(c, "tls.cert"), "\"\\\"/q\\\"#;\"");
	roundtrip(c);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(equal_notices_every_difference)
{
	for (size_t i = 0; i < NROWS(valid_rows); i++) {
		const struct valid_row *r = &valid_rows[i];
		char text[1024];
		one_key_file(text, sizeof(text), r->key, r->in, r->extra);
		/* b: the same file without the key (it may fail a cross-key check; values still compare) */
		tj_config *a = load_ok(text, NULL), *b = load(r->extra ? r->extra : "", NULL, NULL);
		tj_buf va = TJ_BUF_INIT, vb = TJ_BUF_INIT;
		TJ_OKRC(tj_config_get(a, r->key, &va));
		TJ_OKRC(tj_config_get(b, r->key, &vb));
		bool differ = va.len != vb.len || (va.len && memcmp(va.data, vb.data, va.len) != 0);
		if (differ == tj_config_equal(a, b))
			TJ_FAIL("%s = %s: equal() says %d", r->key, r->in, tj_config_equal(a, b));
		tj_buf_free(&va);
		tj_buf_free(&vb);
		tj_config_free(&a);
		tj_config_free(&b);
	}
	no_leaks();
}

/* ---- files ---- */

TJ_TEST(missing_unreadable_and_oversized_files)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/nope.conf", tj_test_tmpdir());
	tj_config *c;
	const char *const *e;
	TJ_OKRC(tj_config_new(&c));
	TJ_ASSERT_INT(tj_config_load(c, path), ==, -ENOENT);
	TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
	TJ_ASSERT(strstr(e[0], path) == e[0]);
	TJ_ASSERT(strstr(e[0], ": cannot read: "));
	tj_config_free(&c);

	TJ_OKRC(tj_config_new(&c));
	TJ_ASSERT_INT(tj_config_load(c, tj_test_tmpdir()), ==, -EISDIR);
	TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
	TJ_ASSERT(strstr(e[0], ": cannot read: "));
	tj_config_free(&c);

	snprintf(path, sizeof(path), "%s/secret.conf", tj_test_tmpdir());
	write_file(path, "[log]\nlevel = debug\n", 20);
	TJ_ASSERT_INT(chmod(path, 0), ==, 0);
	if (geteuid() != 0) { /* root reads it anyway */
		TJ_OKRC(tj_config_new(&c));
		TJ_ASSERT_INT(tj_config_load(c, path), ==, -EACCES);
		TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
		TJ_ASSERT(strstr(e[0], ": cannot read: "));
		tj_config_free(&c);
	}

	snprintf(path, sizeof(path), "%s/big.conf", tj_test_tmpdir());
	size_t n = TJ_CONFIG_FILE_MAX + 1;
	char *big = malloc(n);
	TJ_ASSERT(big);
	memset(big, '\n', n);
	write_file(path, big, n);
	free(big);
	TJ_OKRC(tj_config_new(&c));
	TJ_ASSERT_INT(tj_config_load(c, path), ==, TJ_ETOOBIG);
	TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
	TJ_ASSERT(strstr(e[0], "too big for a config file"));
	tj_config_free(&c);

	/* a real file: line numbers and the path in messages */
	snprintf(path, sizeof(path), "%s/tjstored.conf", tj_test_tmpdir());
	write_file(path, "[smtp]\r\nmax_recipients = 9\r\n[log]\r\nlevel = loud\r\n", 48);
	TJ_OKRC(tj_config_new(&c));
	TJ_ASSERT_INT(tj_config_load(c, path), ==, TJ_EINVAL);
	TJ_ASSERT_INT(tj_config_errors(c, &e), ==, 1);
	char want[600];
	snprintf(want, sizeof(want), "%s:4: [log] level: \"loud\" is not one of debug, info, warn, error", path);
	TJ_ASSERT_STR(e[0], want);
	TJ_ASSERT_INT(c->smtp.max_recipients, ==, 9);
	tj_config_free(&c);
	no_leaks();
}

TJ_TEST(example_file_loads)
{
	tj_config *c;
	TJ_OKRC(tj_config_new(&c));
	int rc = tj_config_load(c, TJ_CONFIG_EXAMPLE);
	if (rc) {
		dump_errors(c);
		TJ_FAIL("%s: %s", TJ_CONFIG_EXAMPLE, tj_strerror(rc));
	}
	TJ_ASSERT_STR(c->node.name, "casey");
	roundtrip(c);
	tj_config_free(&c);
	no_leaks();
}

int main(int argc, char **argv)
{
	return tj_test_main(argc, argv);
}

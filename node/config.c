/*
 * config.c - tjstored's configuration (see config.h, docs/config.md).
 *
 * Everything is driven by one table, keys[]: section, key, type, where the
 * value lives in struct tj_config, limits and default.  Parsing a value,
 * printing it back, comparing and freeing all walk that table, so a key is
 * added in one place.  Defaults are written as text and go through the same
 * parser as the file, so they are valid and print the same way.
 *
 * Load order: defaults (tj_config_new) < the file < the --set overrides,
 * then derived defaults (hostname, paths under data_dir), then the checks
 * that involve several keys.  Every problem is collected as one message.
 */
#include "node/config.h"
#include "node/config-ini.h"
#include "common/err.h"
#include "common/log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define TJ_CONFIG_SHOW_MAX 200      /* bytes of a bad value quoted in a message */
#define TJ_CONFIG_HOST_MAX 253      /* a DNS name */
#define TJ_CONFIG_SERVICE_MAX 64    /* a Kerberos service name */
#define TJ_CONFIG_REALM_MAX 255     /* a Kerberos realm */
#define TJ_CONFIG_DEC_INT_MAX 1000000000LL /* integer part of a decimal */

#define TJ_STR_(x) #x
#define TJ_STR(x) TJ_STR_(x)

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)

/* the problem text for an empty value where one is needed */
static const char NEEDS_VALUE[] = "needs a value";

/* ---- the key table ---- */

enum ktype {
	K_STR,   /* char *; checked by kcheck */
	K_SIZE,  /* uint64_t bytes, K/M/G/T suffixes */
	K_UINT,  /* uint32_t or uint64_t */
	K_INT,   /* int */
	K_DEC,   /* int32_t thousandths */
	K_BOOL,  /* bool */
	K_ENUM,  /* an enum: index into names[] */
	K_ADDRS, /* tj_config_addrs of host:port, repeatable */
	K_PEERS, /* tj_config_addrs of NAME@host:port, repeatable */
	K_PEER,  /* one tj_config_addr NAME@host:port, port 0 = none */
};

enum kcheck { C_PATH, C_SOCKET, C_HOST, C_NODE, C_REALM, C_SERVICE };

#define F_REQUIRED 1u /* an empty value is an error */
#define F_DERIVED 2u  /* an empty value means the derived default */

struct keydef {
	const char *section, *key, *full;
	enum ktype type;
	size_t off, sz;
	unsigned flags;
	enum kcheck check;
	int64_t min, max;
	const char *const *names;
	const char *def;
};

static const char *const auth_names[] = {"passwd", "krb5", NULL};
static const char *const repl_names[] = {"sync", "async", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error", NULL};

_Static_assert(TJ_LOG_DEBUG == 0 && TJ_LOG_ERROR == 3, "level_names follows enum tj_log_level");
_Static_assert(sizeof(enum tj_cfg_auth_backend) == sizeof(int) && sizeof(enum tj_replication) == sizeof(int) &&
		       sizeof(enum tj_log_level) == sizeof(int),
	       "enum fields are written as int");

#define K(sec, k) .section = sec, .key = k, .full = sec "." k
#define FLD(f) .off = offsetof(tj_config, f), .sz = sizeof(((tj_config *)0)->f)

static const struct keydef keys[] = {
	{K("node", "name"), K_STR, FLD(node.name), F_DERIVED, C_NODE, .def = ""},
	{K("node", "data_dir"), K_STR, FLD(node.data_dir), F_REQUIRED, C_PATH, .def = "/var/lib/tjstore"},
	{K("imap", "listen"), K_ADDRS, FLD(imap.listen), .def = "127.0.0.1:143"},
	{K("imap", "tls_listen"), K_ADDRS, FLD(imap.tls_listen), .def = ""},
	{K("smtp", "listen"), K_ADDRS, FLD(smtp.listen), .def = "127.0.0.1:25"},
	{K("smtp", "lmtp_listen"), K_ADDRS, FLD(smtp.lmtp_listen), .def = ""},
	{K("smtp", "hostname"), K_STR, FLD(smtp.hostname), F_DERIVED, C_HOST, .def = ""},
	{K("smtp", "max_message_size"), K_SIZE, FLD(smtp.max_message_size), .min = KIB, .max = 256 * MIB,
	 .def = "50M"},
	{K("smtp", "max_recipients"), K_UINT, FLD(smtp.max_recipients), .min = 1, .max = 100000, .def = "1000"},
	{K("tls", "cert"), K_STR, FLD(tls.cert), 0, C_PATH, .def = ""},
	{K("tls", "key"), K_STR, FLD(tls.key), 0, C_PATH, .def = ""},
	{K("auth", "backend"), K_ENUM, FLD(auth.backend), .names = auth_names, .def = "passwd"},
	{K("auth", "passwd_file"), K_STR, FLD(auth.passwd_file), 0, C_PATH, .def = "/etc/tjstore/passwd"},
	{K("auth", "keytab"), K_STR, FLD(auth.keytab), 0, C_PATH, .def = ""},
	{K("auth", "realm"), K_STR, FLD(auth.realm), 0, C_REALM, .def = ""},
	{K("auth", "service"), K_STR, FLD(auth.service), F_REQUIRED, C_SERVICE, .def = "imap"},
	{K("users", "file"), K_STR, FLD(users.file), F_REQUIRED, C_PATH, .def = "/etc/tjstore/users.csv"},
	{K("users", "quota_multiplier"), K_DEC, FLD(users.quota_multiplier_milli), .min = 1, .max = 1000000,
	 .def = "1.0"},
	{K("scan", "clamav"), K_BOOL, FLD(scan.clamav), .def = "yes"},
	{K("scan", "spam"), K_BOOL, FLD(scan.spam), .def = "yes"},
	{K("scan", "clamav_db_dir"), K_STR, FLD(scan.clamav_db_dir), F_REQUIRED, C_PATH, .def = "/var/lib/clamav"},
	{K("scan", "rules_file"), K_STR, FLD(scan.rules_file), 0, C_PATH, .def = ""},
	{K("scan", "spam_threshold"), K_DEC, FLD(scan.spam_threshold_milli), .min = -1000000, .max = 1000000,
	 .def = "5.0"},
	{K("scan", "quarantine_dir"), K_STR, FLD(scan.quarantine_dir), F_DERIVED, C_PATH, .def = ""},
	{K("log", "level"), K_ENUM, FLD(log.level), .names = level_names, .def = "info"},
	{K("log", "syslog"), K_BOOL, FLD(log.syslog), .def = "no"},
	{K("admin", "socket"), K_STR, FLD(admin.socket), F_DERIVED, C_SOCKET, .def = ""},
	{K("cluster", "peers"), K_PEERS, FLD(cluster.peers), .def = ""},
	{K("cluster", "witness"), K_PEER, FLD(cluster.witness), .def = ""},
	{K("cluster", "secret_file"), K_STR, FLD(cluster.secret_file), 0, C_PATH, .def = ""},
	{K("cluster", "replication"), K_ENUM, FLD(cluster.replication), .names = repl_names, .def = "sync"},
	{K("store", "segment_size"), K_SIZE, FLD(store.segment_size), .min = MIB, .max = 4 * GIB, .def = "64M"},
	{K("store", "zstd_level"), K_INT, FLD(store.zstd_level), .min = 1, .max = 22, .def = "3"},
	{K("store", "dict_train_after"), K_UINT, FLD(store.dict_train_after), .min = 0, .max = 1000000000,
	 .def = "1000"},
	{K("store", "log_retain"), K_UINT, FLD(store.log_retain), .min = 1, .max = 1000000000000LL,
	 .def = "1000000"},
	{K("store", "map_size"), K_SIZE, FLD(store.map_size), .min = 64 * MIB, .max = 16 * TIB, .def = "256G"},
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const char *const sections[] = {"node", "imap", "smtp", "tls", "auth", "users", "scan",
				       "log", "admin", "cluster", "store"};
#define NSECTIONS (sizeof(sections) / sizeof(sections[0]))

/* ---- private state ---- */

enum origin { O_DEFAULT = 0, O_FILE, O_SET };

struct override {
	int key;
	char *arg;   /* the whole argument, for messages */
	char *value; /* after the '=' */
};

struct tj_config_priv {
	char **errs;
	size_t nerrs, dropped;
	bool oom, loaded;
	enum origin origin[NKEYS];
	unsigned file_line[NKEYS]; /* first line of the key in the file, 0 = absent */
	bool set_seen[NKEYS];      /* an override has replaced a repeatable key's list */
	bool derived[NKEYS];       /* the value is a derived default, not given */
	struct override *ovr;
	size_t novr;
};

/* a parsed value, before it is stored */
struct kval {
	bool empty;
	uint64_t u;
	int64_t i;
	char *s;
	tj_config_addr a;
};

/* where a value comes from, for messages */
struct src {
	enum origin origin;
	const char *file; /* O_FILE */
	unsigned line;
	const char *arg;  /* O_SET: the whole --set argument */
};

static void *field(const tj_config *c, const struct keydef *k)
{
	return (char *)c + k->off;
}

static const struct keydef *find_key(const char *section, const char *key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < NSECTIONS; i++)
		if (strcmp(sections[i], section) == 0)
			return true;
	return false;
}

static char *xstrdup(tj_config *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->priv->oom = true;
	return d;
}

/* add_error - append a message to the list (counted only past the limit) */
__attribute__((format(printf, 2, 3))) static void add_error(tj_config *c, const char *fmt, ...)
{
	struct tj_config_priv *p = c->priv;
	if (p->nerrs >= TJ_CONFIG_MAX_ERRORS) {
		p->dropped++;
		return;
	}
	tj_buf b = TJ_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	int rc = tj_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	char **v = rc == 0 ? realloc(p->errs, (p->nerrs + 2) * sizeof(*v)) : NULL;
	if (!v) {
		tj_buf_free(&b);
		p->oom = true;
		return;
	}
	p->errs = v;
	p->errs[p->nerrs++] = (char *)tj_buf_steal(&b, NULL);
	p->errs[p->nerrs] = NULL;
}

/* san - a printable, length-capped copy of s for a message */
static const char *san(char *out, size_t outsz, const char *s)
{
	return tj_sanitize(out, outsz, s, strlen(s));
}

/* ---- value syntax ---- */

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* parse_u64 - n decimal digits; 0, -1 not digits, -2 overflow */
static int parse_u64(const char *s, size_t n, uint64_t *v_r)
{
	if (!all_digits(s, n))
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	*v_r = v;
	return 0;
}

/* fmt_size - bytes with the largest binary suffix that divides them exactly */
static int fmt_size(tj_buf *out, uint64_t v)
{
	static const char suffix[] = "KMGT";
	int s = -1;
	while (s < 3 && v && v % 1024 == 0) {
		v /= 1024;
		s++;
	}
	if (s < 0)
		return tj_buf_printf(out, "%llu", (unsigned long long)v);
	return tj_buf_printf(out, "%llu%c", (unsigned long long)v, suffix[s]);
}

static int fmt_dec(tj_buf *out, int64_t milli)
{
	uint64_t a = milli < 0 ? (uint64_t)0 - (uint64_t)milli : (uint64_t)milli;
	char frac[4];
	snprintf(frac, sizeof(frac), "%03u", (unsigned)(a % 1000));
	size_t n = 3;
	while (n > 1 && frac[n - 1] == '0')
		n--;
	frac[n] = 0;
	return tj_buf_printf(out, "%s%llu.%s", milli < 0 ? "-" : "", (unsigned long long)(a / 1000), frac);
}

static bool valid_hostname(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TJ_CONFIG_HOST_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i <= n; i++) {
		char ch = s[i];
		if (ch == '.' || ch == 0) {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!(isalnum((unsigned char)ch) || (ch == '-' && label > 0)))
			return false;
		label++;
	}
	return true;
}

static bool valid_node_name(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TJ_CONFIG_NAME_MAX || !isalnum((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

/* parse_hostport - "host:port", "[v6]:port" or "*:port".  NULL on success
 * (*host_r malloc'd: lowercase name or canonical address); else the reason. */
static const char *parse_hostport(const char *v, char **host_r, uint16_t *port_r)
{
	char host[TJ_CONFIG_HOST_MAX + 1];
	const char *portp;
	if (v[0] == '[') {
		const char *end = strchr(v, ']');
		if (!end)
			return "no closing ']'";
		size_t hn = (size_t)(end - v - 1);
		if (hn == 0 || hn >= sizeof(host))
			return "bad IPv6 address";
		memcpy(host, v + 1, hn);
		host[hn] = 0;
		struct in6_addr a6;
		if (inet_pton(AF_INET6, host, &a6) != 1)
			return "bad IPv6 address";
		inet_ntop(AF_INET6, &a6, host, sizeof(host));
		if (end[1] != ':')
			return "no port";
		portp = end + 2;
	} else {
		const char *colon = strrchr(v, ':');
		if (!colon)
			return "no port";
		if (memchr(v, ':', (size_t)(colon - v)))
			return "an IPv6 address goes in brackets, as [::1]:143";
		size_t hn = (size_t)(colon - v);
		if (hn == 0)
			return "no host; * means every address";
		if (hn >= sizeof(host))
			return "host name too long";
		memcpy(host, v, hn);
		host[hn] = 0;
		if (strcmp(host, "*") != 0) {
			if (strspn(host, "0123456789.") == hn) {
				struct in_addr a4;
				if (inet_pton(AF_INET, host, &a4) != 1)
					return "bad IPv4 address";
				inet_ntop(AF_INET, &a4, host, sizeof(host));
			} else if (!valid_hostname(host)) {
				return "bad host name";
			}
			for (char *h = host; *h; h++)
				*h = (char)tolower((unsigned char)*h);
		}
		portp = colon + 1;
	}
	uint64_t port;
	if (parse_u64(portp, strlen(portp), &port) != 0 || port < 1 || port > 65535)
		return "port must be 1-65535";
	*host_r = strdup(host);
	if (!*host_r)
		return "";
	*port_r = (uint16_t)port;
	return NULL;
}

/* probf - format a problem; returns -1 */
__attribute__((format(printf, 3, 4))) static int probf(char *prob, size_t probsz, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prob, probsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* kparse - parse text v for key k into *val.  0 on success; -1 with a
 * problem in prob (NEEDS_VALUE, or text starting with a verb: "is not a
 * number"); -ENOMEM. */
static int kparse(const struct keydef *k, const char *v, struct kval *val, char *prob, size_t probsz)
{
	memset(val, 0, sizeof(*val));
	size_t n = strlen(v);
#define PROB(...) probf(prob, probsz, __VA_ARGS__)
	if (n > TJ_CONFIG_VALUE_MAX)
		return PROB("is too long (max %d bytes)", TJ_CONFIG_VALUE_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return PROB("contains a control character");
	if (n == 0) {
		val->empty = true;
		switch (k->type) {
		case K_STR:
			if (k->flags & F_REQUIRED)
				return PROB("%s", NEEDS_VALUE);
			val->s = strdup("");
			return val->s ? 0 : -ENOMEM;
		case K_ADDRS:
		case K_PEERS:
		case K_PEER:
			return 0;
		default:
			return PROB("%s", NEEDS_VALUE);
		}
	}
	switch (k->type) {
	case K_STR:
		switch (k->check) {
		case C_PATH:
			break;
		case C_SOCKET:
			if (n > TJ_CONFIG_SOCKET_MAX)
				return PROB("is too long for a Unix socket path (max %d bytes)", TJ_CONFIG_SOCKET_MAX);
			break;
		case C_HOST:
			if (!valid_hostname(v))
				return PROB("is not a host name (letters, digits and '-' in dot-separated labels)");
			break;
		case C_NODE:
			if (!valid_node_name(v))
				return PROB("is not a node name (letters, digits, '-' and '_', at most %d, "
					    "starting with a letter or digit)", TJ_CONFIG_NAME_MAX);
			break;
		case C_REALM:
			if (n > TJ_CONFIG_REALM_MAX || strpbrk(v, " @/\\\""))
				return PROB("is not a Kerberos realm (no spaces, '@', '/', '\\' or '\"')");
			break;
		case C_SERVICE:
			if (n > TJ_CONFIG_SERVICE_MAX ||
			    strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
				return PROB("is not a service name (letters, digits, '.', '-' and '_')");
			break;
		}
		val->s = strdup(v);
		return val->s ? 0 : -ENOMEM;
	case K_SIZE: {
		size_t dn = strspn(v, "0123456789");
		uint64_t mult = 1;
		if (n == dn + 1) {
			switch (toupper((unsigned char)v[dn])) {
			case 'K': mult = KIB; break;
			case 'M': mult = MIB; break;
			case 'G': mult = GIB; break;
			case 'T': mult = TIB; break;
			default: mult = 0;
			}
		} else if (n != dn) {
			mult = 0;
		}
		uint64_t x;
		int rc = mult ? parse_u64(v, dn, &x) : -1;
		if (rc == -1)
			return PROB("is not a size (a number with an optional K, M, G or T suffix)");
		if (rc == -2 || x > UINT64_MAX / mult || x * mult < (uint64_t)k->min || x * mult > (uint64_t)k->max) {
			tj_buf lo = TJ_BUF_INIT, hi = TJ_BUF_INIT;
			if (fmt_size(&lo, (uint64_t)k->min) || fmt_size(&hi, (uint64_t)k->max)) {
				tj_buf_free(&lo);
				tj_buf_free(&hi);
				return -ENOMEM;
			}
			PROB("is out of range (%s-%s)", (char *)lo.data, (char *)hi.data);
			tj_buf_free(&lo);
			tj_buf_free(&hi);
			return -1;
		}
		val->u = x * mult;
		return 0;
	}
	case K_UINT: {
		uint64_t x;
		int rc = parse_u64(v, n, &x);
		if (rc == -1)
			return PROB("is not a number");
		if (rc == -2 || x < (uint64_t)k->min || x > (uint64_t)k->max)
			return PROB("is out of range (%lld-%lld)", (long long)k->min, (long long)k->max);
		val->u = x;
		return 0;
	}
	case K_INT: {
		bool neg = v[0] == '-';
		uint64_t x;
		int rc = parse_u64(v + neg, n - neg, &x);
		if (rc == -1)
			return PROB("is not a number");
		int64_t s = rc == -2 || x > INT64_MAX ? (neg ? INT64_MIN : INT64_MAX) : neg ? -(int64_t)x : (int64_t)x;
		if (s < k->min || s > k->max)
			return PROB("is out of range (%lld-%lld)", (long long)k->min, (long long)k->max);
		val->i = s;
		return 0;
	}
	case K_DEC: {
		bool neg = v[0] == '-';
		const char *p = v + neg;
		size_t in = strspn(p, "0123456789");
		const char *dot = p + in;
		size_t fn = *dot == '.' ? strspn(dot + 1, "0123456789") : 0;
		size_t used = (size_t)neg + in + (*dot == '.' ? 1 + fn : 0);
		if (in == 0 || used != n || (*dot == '.' && fn == 0))
			return PROB("is not a decimal number (like 5 or 5.25)");
		if (fn > 3)
			return PROB("has too many decimals (at most 3)");
		uint64_t ip = 0;
		int rc = parse_u64(p, in, &ip);
		int64_t milli;
		if (rc == -2 || ip > (uint64_t)TJ_CONFIG_DEC_INT_MAX) {
			milli = neg ? INT64_MIN : INT64_MAX;
		} else {
			int64_t f = 0;
			for (size_t i = 0; i < 3; i++)
				f = f * 10 + (i < fn ? dot[1 + i] - '0' : 0);
			milli = (int64_t)ip * 1000 + f;
			if (neg)
				milli = -milli;
		}
		if (milli < k->min || milli > k->max) {
			tj_buf lo = TJ_BUF_INIT, hi = TJ_BUF_INIT;
			if (fmt_dec(&lo, k->min) || fmt_dec(&hi, k->max)) {
				tj_buf_free(&lo);
				tj_buf_free(&hi);
				return -ENOMEM;
			}
			PROB("is out of range (%s to %s)", (char *)lo.data, (char *)hi.data);
			tj_buf_free(&lo);
			tj_buf_free(&hi);
			return -1;
		}
		val->i = milli;
		return 0;
	}
	case K_BOOL: {
		static const char *const yes[] = {"yes", "true", "on", "1"}, *const no[] = {"no", "false", "off", "0"};
		for (int i = 0; i < 4; i++) {
			if (strcasecmp(v, yes[i]) == 0) {
				val->u = 1;
				return 0;
			}
			if (strcasecmp(v, no[i]) == 0) {
				val->u = 0;
				return 0;
			}
		}
		return PROB("is not yes or no (yes/no, true/false, on/off, 1/0)");
	}
	case K_ENUM: {
		for (int i = 0; k->names[i]; i++)
			if (strcasecmp(v, k->names[i]) == 0) {
				val->u = (uint64_t)i;
				return 0;
			}
		tj_buf b = TJ_BUF_INIT;
		for (int i = 0; k->names[i]; i++)
			if (tj_buf_printf(&b, "%s%s", i ? ", " : "", k->names[i])) {
				tj_buf_free(&b);
				return -ENOMEM;
			}
		PROB("is not one of %s", (char *)b.data);
		tj_buf_free(&b);
		return -1;
	}
	case K_ADDRS: {
		if (strchr(v, '@'))
			return PROB("is not host:port (a listener takes no node name)");
		const char *why = parse_hostport(v, &val->a.host, &val->a.port);
		if (why && !*why)
			return -ENOMEM;
		if (why)
			return PROB("is not host:port (%s)", why);
		val->a.name = strdup("");
		return val->a.name ? 0 : -ENOMEM;
	}
	case K_PEERS:
	case K_PEER: {
		const char *at = strchr(v, '@');
		if (!at)
			return PROB("is not NAME@HOST:PORT (no node name)");
		char name[TJ_CONFIG_NAME_MAX + 1];
		size_t nn = (size_t)(at - v);
		if (nn >= sizeof(name))
			return PROB("is not NAME@HOST:PORT (bad node name)");
		memcpy(name, v, nn);
		name[nn] = 0;
		if (!valid_node_name(name))
			return PROB("is not NAME@HOST:PORT (bad node name)");
		const char *why = parse_hostport(at + 1, &val->a.host, &val->a.port);
		if (why && !*why)
			return -ENOMEM;
		if (why)
			return PROB("is not NAME@HOST:PORT (%s)", why);
		if (strcmp(val->a.host, "*") == 0) {
			free(val->a.host);
			val->a.host = NULL;
			return PROB("is not NAME@HOST:PORT (a peer needs a real address, not *)");
		}
		val->a.name = strdup(name);
		return val->a.name ? 0 : -ENOMEM;
	}
	}
	snprintf(prob, probsz, "has a type this build does not know");
	return -1;
#undef PROB
}

/* ---- storing, freeing, comparing values ---- */

static void addr_free(tj_config_addr *a)
{
	free(a->name);
	free(a->host);
	a->name = a->host = NULL;
	a->port = 0;
}

static void addrs_clear(tj_config_addrs *l)
{
	for (size_t i = 0; i < l->n; i++)
		addr_free(&l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void kval_free(struct kval *v)
{
	free(v->s);
	v->s = NULL;
	addr_free(&v->a);
}

static bool addr_equal(const tj_config_addr *a, const tj_config_addr *b)
{
	return a->port == b->port && strcmp(a->name ? a->name : "", b->name ? b->name : "") == 0 &&
	       strcmp(a->host ? a->host : "", b->host ? b->host : "") == 0;
}

static bool same_endpoint(const tj_config_addr *a, const tj_config_addr *b)
{
	return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static void put_uint(void *p, size_t sz, uint64_t v)
{
	if (sz == sizeof(uint64_t)) {
		uint64_t x = v;
		memcpy(p, &x, sizeof(x));
	} else {
		uint32_t x = (uint32_t)v;
		memcpy(p, &x, sizeof(x));
	}
}

static uint64_t get_uint(const void *p, size_t sz)
{
	if (sz == sizeof(uint64_t)) {
		uint64_t x;
		memcpy(&x, p, sizeof(x));
		return x;
	}
	uint32_t x;
	memcpy(&x, p, sizeof(x));
	return x;
}

/* clash - two listeners that cannot both bind: same port, same host or "*" */
static bool clash(const tj_config_addr *a, const tj_config_addr *b)
{
	return a->port == b->port &&
	       (strcmp(a->host, b->host) == 0 || strcmp(a->host, "*") == 0 || strcmp(b->host, "*") == 0);
}

/* list_problem - why val cannot join list l (NULL: it can) */
static const char *list_problem(const struct keydef *k, const tj_config_addrs *l, const struct kval *val)
{
	for (size_t i = 0; i < l->n; i++) {
		if (same_endpoint(&l->v[i], &val->a))
			return "is listed twice";
		if (k->type == K_ADDRS && clash(&l->v[i], &val->a))
			return "overlaps an entry already listed (* and an address on the same port)";
		if (k->type == K_PEERS && strcmp(l->v[i].name, val->a.name) == 0)
			return "names a node that is already listed";
	}
	if (l->n >= TJ_CONFIG_MAX_ADDRS)
		return "is one entry too many (max " TJ_STR(TJ_CONFIG_MAX_ADDRS) ")";
	return NULL;
}

/* kstore - move val into cfg for key k (val is emptied).  replace_list: a
 * repeatable key starts a new list.  NULL or a problem (val untouched). */
static const char *kstore(tj_config *c, const struct keydef *k, struct kval *val, bool replace_list)
{
	void *f = field(c, k);
	switch (k->type) {
	case K_STR: {
		char **sp = f;
		free(*sp);
		*sp = val->s;
		val->s = NULL;
		break;
	}
	case K_SIZE:
	case K_UINT:
		put_uint(f, k->sz, val->u);
		break;
	case K_INT: {
		int x = (int)val->i;
		memcpy(f, &x, sizeof(x));
		break;
	}
	case K_DEC: {
		int32_t x = (int32_t)val->i;
		memcpy(f, &x, sizeof(x));
		break;
	}
	case K_BOOL:
		*(bool *)f = val->u != 0;
		break;
	case K_ENUM: {
		int x = (int)val->u;
		memcpy(f, &x, sizeof(x));
		break;
	}
	case K_ADDRS:
	case K_PEERS: {
		tj_config_addrs *l = f;
		if (replace_list || val->empty)
			addrs_clear(l);
		if (val->empty)
			break;
		const char *why = list_problem(k, l, val);
		if (why)
			return why;
		tj_config_addr *v = realloc(l->v, (l->n + 1) * sizeof(*v));
		if (!v) {
			c->priv->oom = true;
			break;
		}
		l->v = v;
		l->v[l->n++] = val->a;
		memset(&val->a, 0, sizeof(val->a));
		break;
	}
	case K_PEER: {
		tj_config_addr *a = f;
		addr_free(a);
		if (val->empty) {
			a->name = xstrdup(c, "");
			a->host = xstrdup(c, "");
		} else {
			*a = val->a;
			memset(&val->a, 0, sizeof(val->a));
		}
		break;
	}
	}
	return NULL;
}

static void kfree(tj_config *c, const struct keydef *k)
{
	void *f = field(c, k);
	if (k->type == K_STR) {
		free(*(char **)f);
		*(char **)f = NULL;
	} else if (k->type == K_ADDRS || k->type == K_PEERS) {
		addrs_clear(f);
	} else if (k->type == K_PEER) {
		addr_free(f);
	}
}

static bool kequal(const tj_config *a, const tj_config *b, const struct keydef *k)
{
	const void *fa = field(a, k), *fb = field(b, k);
	switch (k->type) {
	case K_STR:
		return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
	case K_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case K_ADDRS:
	case K_PEERS: {
		const tj_config_addrs *la = fa, *lb = fb;
		if (la->n != lb->n)
			return false;
		for (size_t i = 0; i < la->n; i++)
			if (!addr_equal(&la->v[i], &lb->v[i]))
				return false;
		return true;
	}
	case K_PEER:
		return addr_equal(fa, fb);
	default:
		return memcmp(fa, fb, k->sz) == 0;
	}
}

/* ---- printing ---- */

static int fmt_addr(tj_buf *out, const tj_config_addr *a)
{
	if (!a->port)
		return 0;
	const char *at = a->name[0] ? "@" : "";
	if (strchr(a->host, ':'))
		return tj_buf_printf(out, "%s%s[%s]:%u", a->name, at, a->host, a->port);
	return tj_buf_printf(out, "%s%s%s:%u", a->name, at, a->host, a->port);
}

/* fmt_str - s as the file syntax needs it: quoted when it would not survive
 * unquoted (blanks at either end, '#', ';', a leading '"') */
static int fmt_str(tj_buf *out, const char *s)
{
	size_t n = strlen(s);
	bool quote = n && (s[0] == ' ' || s[0] == '\t' || s[0] == '"' || s[n - 1] == ' ' || s[n - 1] == '\t' ||
			   strpbrk(s, "#;"));
	if (!quote)
		return tj_buf_puts(out, s);
	int rc = tj_buf_putc(out, '"');
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (s[i] == '"' || s[i] == '\\')
			rc = tj_buf_putc(out, '\\');
		if (rc == 0)
			rc = tj_buf_putc(out, (uint8_t)s[i]);
	}
	return rc ? rc : tj_buf_putc(out, '"');
}

/* fmt_scalar - the value of a non-list key */
static int fmt_scalar(tj_buf *out, const tj_config *c, const struct keydef *k)
{
	const void *f = field(c, k);
	switch (k->type) {
	case K_STR:
		return fmt_str(out, *(char *const *)f);
	case K_SIZE:
		return fmt_size(out, get_uint(f, k->sz));
	case K_UINT:
		return tj_buf_printf(out, "%llu", (unsigned long long)get_uint(f, k->sz));
	case K_INT: {
		int x;
		memcpy(&x, f, sizeof(x));
		return tj_buf_printf(out, "%d", x);
	}
	case K_DEC: {
		int32_t x;
		memcpy(&x, f, sizeof(x));
		return fmt_dec(out, x);
	}
	case K_BOOL:
		return tj_buf_puts(out, *(const bool *)f ? "yes" : "no");
	case K_ENUM: {
		int x;
		memcpy(&x, f, sizeof(x));
		int n = 0;
		while (k->names[n])
			n++;
		return tj_buf_puts(out, x >= 0 && x < n ? k->names[x] : "?");
	}
	case K_PEER:
		return fmt_addr(out, f);
	default:
		return TJ_EINVAL;
	}
}

int tj_config_print(const tj_config *c, tj_buf *out)
{
	int rc = tj_buf_puts(out, "# tjstored: effective configuration (every key; defaults filled in)\n");
	const char *cur = NULL;
	for (size_t i = 0; i < NKEYS && rc == 0; i++) {
		const struct keydef *k = &keys[i];
		if (!cur || strcmp(cur, k->section) != 0) {
			rc = tj_buf_printf(out, "\n[%s]\n", k->section);
			cur = k->section;
		}
		if (rc)
			break;
		if (k->type == K_ADDRS || k->type == K_PEERS) {
			const tj_config_addrs *l = field(c, k);
			if (l->n == 0)
				rc = tj_buf_printf(out, "%s =\n", k->key);
			for (size_t j = 0; j < l->n && rc == 0; j++) {
				rc = tj_buf_printf(out, "%s = ", k->key);
				if (rc == 0)
					rc = fmt_addr(out, &l->v[j]);
				if (rc == 0)
					rc = tj_buf_putc(out, '\n');
			}
			continue;
		}
		tj_buf v = TJ_BUF_INIT;
		rc = fmt_scalar(&v, c, k);
		if (rc == 0)
			rc = tj_buf_printf(out, v.len ? "%s = %s\n" : "%s =%s\n", k->key, v.len ? (char *)v.data : "");
		tj_buf_free(&v);
	}
	return rc;
}

static const struct keydef *find_full(const char *section_key)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].full, section_key) == 0)
			return &keys[i];
	return NULL;
}

int tj_config_get(const tj_config *c, const char *section_key, tj_buf *out)
{
	const struct keydef *k = find_full(section_key);
	if (!k)
		return TJ_ENOTFOUND;
	if (k->type == K_ADDRS || k->type == K_PEERS) {
		const tj_config_addrs *l = field(c, k);
		int rc = 0;
		for (size_t j = 0; j < l->n && rc == 0; j++) {
			if (j)
				rc = tj_buf_puts(out, ", ");
			if (rc == 0)
				rc = fmt_addr(out, &l->v[j]);
		}
		return rc;
	}
	return fmt_scalar(out, c, k);
}

const char *tj_config_key(size_t i)
{
	return i < NKEYS ? keys[i].full : NULL;
}

bool tj_config_equal(const tj_config *a, const tj_config *b)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (!kequal(a, b, &keys[i]))
			return false;
	return true;
}

void tj_config_store_opts(const tj_config *c, tj_store_opts *opts_r)
{
	memset(opts_r, 0, sizeof(*opts_r));
	opts_r->map_size = c->store.map_size;
	opts_r->segment_size = c->store.segment_size;
	opts_r->zstd_level = c->store.zstd_level;
	opts_r->dict_train_after = c->store.dict_train_after;
	opts_r->log_retain = c->store.log_retain;
	opts_r->read_only = 0;
}

size_t tj_config_errors(const tj_config *c, const char *const **list_r)
{
	static const char *const none[] = {NULL};
	*list_r = c->priv->nerrs ? (const char *const *)c->priv->errs : none;
	return c->priv->nerrs;
}

/* ---- applying a value ---- */

/* apply_text - parse v for k and store it; every problem becomes a message
 * naming where v came from. */
static void apply_text(tj_config *c, const struct keydef *k, const char *v, const struct src *src)
{
	struct tj_config_priv *p = c->priv;
	size_t ki = (size_t)(k - keys);
	bool repeatable = k->type == K_ADDRS || k->type == K_PEERS;
	char prob[256];
	struct kval val;
	int rc = kparse(k, v, &val, prob, sizeof(prob));
	const char *why = rc == -1 ? prob : NULL;
	if (rc == -ENOMEM)
		p->oom = true;
	if (rc == 0) {
		bool replace = false;
		if (repeatable && src->origin == O_FILE)
			replace = p->origin[ki] != O_FILE;
		if (repeatable && src->origin == O_SET)
			replace = !p->set_seen[ki];
		why = kstore(c, k, &val, replace);
		if (!why) {
			p->origin[ki] = src->origin;
			if (src->origin == O_SET)
				p->set_seen[ki] = true;
		}
	}
	kval_free(&val);
	if (!why)
		return;
	char sv[TJ_CONFIG_SHOW_MAX];
	if (src->origin == O_SET) {
		const char *w = strncmp(why, "is ", 3) == 0 ? why + 3 : why;
		add_error(c, "--set %s: %s", san(sv, sizeof(sv), src->arg), w);
	} else if (why == prob && strcmp(prob, NEEDS_VALUE) == 0) {
		add_error(c, "%s:%u: [%s] %s: %s", src->file, src->line, k->section, k->key, why);
	} else {
		add_error(c, "%s:%u: [%s] %s: \"%s\" %s", src->file, src->line, k->section, k->key,
			  san(sv, sizeof(sv), v), why);
	}
}

/* ---- the file ---- */

struct file_ctx {
	tj_config *c;
	const char *name;
	bool skip; /* inside an unknown section: its keys are not reported */
};

static int on_item(void *arg, const tj_ini_item *it)
{
	struct file_ctx *f = arg;
	tj_config *c = f->c;
	char s1[TJ_CONFIG_SHOW_MAX], s2[TJ_CONFIG_SHOW_MAX];
	switch (it->kind) {
	case TJ_INI_ERROR:
		if (it->key && it->section && it->section[0])
			add_error(c, "%s:%u: [%s] %s: %s", f->name, it->line, san(s1, sizeof(s1), it->section),
				  san(s2, sizeof(s2), it->key), it->value);
		else
			add_error(c, "%s:%u: %s", f->name, it->line, it->value);
		return 0;
	case TJ_INI_SECTION:
		f->skip = !section_known(it->section);
		if (f->skip)
			add_error(c, "%s:%u: [%s]: unknown section", f->name, it->line,
				  san(s1, sizeof(s1), it->section));
		return 0;
	case TJ_INI_PAIR:
		break;
	}
	if (!it->section || f->skip)
		return 0; /* the header's problem is already reported */
	if (!it->section[0]) {
		add_error(c, "%s:%u: %s: key outside any [section]", f->name, it->line, san(s1, sizeof(s1), it->key));
		return 0;
	}
	const struct keydef *k = find_key(it->section, it->key);
	if (!k) {
		add_error(c, "%s:%u: [%s] %s: unknown key", f->name, it->line, it->section,
			  san(s1, sizeof(s1), it->key));
		return 0;
	}
	size_t ki = (size_t)(k - keys);
	bool repeatable = k->type == K_ADDRS || k->type == K_PEERS;
	if (c->priv->file_line[ki] && !repeatable) {
		add_error(c, "%s:%u: [%s] %s: given twice (first on line %u)", f->name, it->line, k->section, k->key,
			  c->priv->file_line[ki]);
		return 0;
	}
	if (!c->priv->file_line[ki])
		c->priv->file_line[ki] = it->line;
	struct src src = {.origin = O_FILE, .file = f->name, .line = it->line};
	apply_text(c, k, it->value, &src);
	return 0;
}

/* read_file - the whole file into out.  0, -errno or TJ_ETOOBIG. */
static int read_file(const char *path, tj_buf *out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) < 0)
		rc = -errno;
	else if (S_ISDIR(st.st_mode))
		rc = -EISDIR;
	while (rc == 0) {
		if ((rc = tj_buf_reserve(out, 65536)) != 0)
			break;
		size_t room = out->cap - out->len - 1;
		ssize_t n = read(fd, out->data + out->len, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		out->data[out->len] = 0;
		if (out->len > TJ_CONFIG_FILE_MAX)
			rc = TJ_ETOOBIG;
	}
	close(fd);
	return rc;
}

/* ---- derived defaults ---- */

/* host_defaults - the lowercased hostname and its first label ("localhost"
 * when the system's name is unusable) */
/* copy_name - a bounded copy that always terminates (names longer than the
 * destination are cut; hostnames are at most 255 bytes) */
static void copy_name(char *dst, size_t sz, const char *src)
{
	if (!sz)
		return;
	size_t n = strnlen(src, sz - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static void host_defaults(char *full, size_t fullsz, char *shortname, size_t shortsz)
{
	char h[256];
	if (gethostname(h, sizeof(h)) != 0)
		h[0] = 0;
	h[sizeof(h) - 1] = 0;
	for (char *p = h; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	copy_name(full, fullsz, valid_hostname(h) ? h : "localhost");
	h[strcspn(h, ".")] = 0;
	copy_name(shortname, shortsz, valid_node_name(h) ? h : "localhost");
}

static void set_str(tj_config *c, char **sp, const char *v)
{
	char *d = xstrdup(c, v);
	if (!d)
		return;
	free(*sp);
	*sp = d;
}

static void set_under_data_dir(tj_config *c, char **sp, const char *leaf)
{
	const char *dir = c->node.data_dir;
	size_t n = strlen(dir);
	tj_buf b = TJ_BUF_INIT;
	if (tj_buf_printf(&b, "%s%s%s", dir, n && dir[n - 1] == '/' ? "" : "/", leaf) != 0) {
		c->priv->oom = true;
		tj_buf_free(&b);
		return;
	}
	free(*sp);
	*sp = (char *)tj_buf_steal(&b, NULL);
}

/* derive - fill every F_DERIVED key that was not given or given empty */
static void derive(tj_config *c)
{
	char full[TJ_CONFIG_HOST_MAX + 1], shortname[TJ_CONFIG_NAME_MAX + 1];
	host_defaults(full, sizeof(full), shortname, sizeof(shortname));
	for (size_t i = 0; i < NKEYS; i++) {
		const struct keydef *k = &keys[i];
		char **sp = field(c, k);
		c->priv->derived[i] = false;
		if (!(k->flags & F_DERIVED) || (c->priv->origin[i] != O_DEFAULT && (*sp)[0]))
			continue;
		c->priv->derived[i] = true;
		if (sp == &c->node.name)
			set_str(c, sp, shortname);
		else if (sp == &c->smtp.hostname)
			set_str(c, sp, full);
		else if (sp == &c->scan.quarantine_dir)
			set_under_data_dir(c, sp, "quarantine");
		else if (sp == &c->admin.socket)
			set_under_data_dir(c, sp, "admin.sock");
	}
}

/* ---- checks across keys ---- */

static void cross_check(tj_config *c, const char *pfx)
{
	char s1[TJ_CONFIG_SHOW_MAX];
	/* TLS */
	if (c->tls.cert[0] && !c->tls.key[0])
		add_error(c, "%s[tls] cert: given without [tls] key", pfx);
	if (c->tls.key[0] && !c->tls.cert[0])
		add_error(c, "%s[tls] key: given without [tls] cert", pfx);
	if (c->imap.tls_listen.n && (!c->tls.cert[0] || !c->tls.key[0]))
		add_error(c, "%s[imap] tls_listen: needs [tls] cert and [tls] key", pfx);
	/* auth */
	if (c->auth.backend == TJ_AUTH_KRB5 && !c->auth.keytab[0])
		add_error(c, "%s[auth] backend: krb5 needs [auth] keytab (the service's keytab)", pfx);
	if (c->auth.backend == TJ_AUTH_PASSWD && !c->auth.passwd_file[0])
		add_error(c, "%s[auth] backend: passwd needs [auth] passwd_file", pfx);
	/* listeners that cannot all bind */
	static const struct {
		const char *name;
		size_t off;
	} lists[] = {
		{"[imap] listen", offsetof(tj_config, imap.listen)},
		{"[imap] tls_listen", offsetof(tj_config, imap.tls_listen)},
		{"[smtp] listen", offsetof(tj_config, smtp.listen)},
		{"[smtp] lmtp_listen", offsetof(tj_config, smtp.lmtp_listen)},
	};
	for (size_t a = 0; a < 4; a++) {
		const tj_config_addrs *la = (const void *)((const char *)c + lists[a].off);
		for (size_t b = a + 1; b < 4; b++) {
			const tj_config_addrs *lb = (const void *)((const char *)c + lists[b].off);
			for (size_t i = 0; i < la->n; i++)
				for (size_t j = 0; j < lb->n; j++) {
					if (!clash(&la->v[i], &lb->v[j]))
						continue;
					tj_buf x = TJ_BUF_INIT;
					if (fmt_addr(&x, &lb->v[j]) == 0)
						add_error(c, "%s%s: %s clashes with %s (same port)", pfx, lists[b].name,
							  (char *)x.data, lists[a].name);
					else
						c->priv->oom = true;
					tj_buf_free(&x);
				}
		}
	}
	/* admin socket (a derived path can be too long) */
	if (strlen(c->admin.socket) > TJ_CONFIG_SOCKET_MAX)
		add_error(c, "%s[admin] socket: \"%s\" is too long for a Unix socket path (max %d bytes); set [admin] socket",
			  pfx, san(s1, sizeof(s1), c->admin.socket), TJ_CONFIG_SOCKET_MAX);
	/* cluster */
	size_t others = 0;
	for (size_t i = 0; i < c->cluster.peers.n; i++)
		others += strcmp(c->cluster.peers.v[i].name, c->node.name) != 0;
	if (others) {
		size_t ni = (size_t)(find_key("node", "name") - keys);
		if (c->priv->derived[ni])
			add_error(c, "%s[node] name: must be set when [cluster] peers is set (the default, the hostname "
				  "\"%s\", is not a stable cluster identity)", pfx, c->node.name);
		if (!c->cluster.secret_file[0])
			add_error(c, "%s[cluster] secret_file: needed when [cluster] peers is set "
				  "(the cluster link is never unauthenticated)", pfx);
	}
	const tj_config_addr *w = &c->cluster.witness;
	if (w->port) {
		if (!others)
			add_error(c, "%s[cluster] witness: given without [cluster] peers", pfx);
		if (strcmp(w->name, c->node.name) == 0)
			add_error(c, "%s[cluster] witness: \"%s\" is this node's own name", pfx, w->name);
		for (size_t i = 0; i < c->cluster.peers.n; i++) {
			const tj_config_addr *pe = &c->cluster.peers.v[i];
			if (strcmp(pe->name, w->name) == 0 || same_endpoint(pe, w))
				add_error(c, "%s[cluster] witness: \"%s\" is also in [cluster] peers", pfx, pe->name);
		}
	}
}

/* ---- life cycle ---- */

int tj_config_new(tj_config **cfg_r)
{
	tj_config *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->priv = calloc(1, sizeof(*c->priv));
	if (!c->priv) {
		free(c);
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < NKEYS && rc == 0; i++) {
		char prob[256];
		struct kval val;
		rc = kparse(&keys[i], keys[i].def, &val, prob, sizeof(prob));
		if (rc == 0 && kstore(c, &keys[i], &val, true))
			rc = TJ_EINVAL;
		kval_free(&val);
	}
	if (rc == 0) {
		derive(c);
		if (c->priv->oom)
			rc = -ENOMEM;
	}
	if (rc) {
		tj_config_free(&c);
		return rc == -1 ? TJ_EINVAL : rc; /* -1: a default that does not parse (a bug here) */
	}
	*cfg_r = c;
	return 0;
}

void tj_config_free(tj_config **cfg)
{
	tj_config *c = *cfg;
	if (!c)
		return;
	for (size_t i = 0; i < NKEYS; i++)
		kfree(c, &keys[i]);
	struct tj_config_priv *p = c->priv;
	for (size_t i = 0; i < p->nerrs; i++)
		free(p->errs[i]);
	free(p->errs);
	for (size_t i = 0; i < p->novr; i++) {
		free(p->ovr[i].arg);
		free(p->ovr[i].value);
	}
	free(p->ovr);
	free(p);
	free(c);
	*cfg = NULL;
}

int tj_config_add_override(tj_config *c, const char *arg)
{
	struct tj_config_priv *p = c->priv;
	char sv[TJ_CONFIG_SHOW_MAX], s2[TJ_CONFIG_SHOW_MAX];
	if (p->loaded)
		return TJ_ESTATE;
	san(sv, sizeof(sv), arg);
	if (p->novr >= TJ_CONFIG_MAX_OVERRIDES) {
		add_error(c, "--set %s: too many --set options (max %d)", sv, TJ_CONFIG_MAX_OVERRIDES);
		return TJ_ETOOBIG;
	}
	const char *eq = strchr(arg, '=');
	const char *dot = eq ? memchr(arg, '.', (size_t)(eq - arg)) : NULL;
	if (!eq || !dot || dot == arg || dot + 1 == eq) {
		add_error(c, "--set %s: expected SECTION.KEY=VALUE", sv);
		return TJ_EINVAL;
	}
	char *name = strndup(arg, (size_t)(eq - arg));
	if (!name)
		return -ENOMEM;
	name[dot - arg] = 0;
	const char *section = name, *key = name + (dot - arg) + 1;
	const struct keydef *k = find_key(section, key);
	int rc = 0;
	if (!k && !section_known(section)) {
		add_error(c, "--set %s: unknown section [%s]", sv, san(s2, sizeof(s2), section));
		rc = TJ_EINVAL;
	} else if (!k) {
		add_error(c, "--set %s: unknown key [%s] %s", sv, section, san(s2, sizeof(s2), key));
		rc = TJ_EINVAL;
	}
	free(name);
	if (rc)
		return rc;
	struct override *v = realloc(p->ovr, (p->novr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	p->ovr = v;
	struct override o = {.key = (int)(k - keys), .arg = strdup(arg), .value = strdup(eq + 1)};
	if (!o.arg || !o.value) {
		free(o.arg);
		free(o.value);
		return -ENOMEM;
	}
	p->ovr[p->novr++] = o;
	return 0;
}

/* finish - the common tail of loading: file text (name NULL: no file),
 * overrides, derived defaults, cross-key checks. */
static int finish(tj_config *c, const char *name, const void *text, size_t len)
{
	struct tj_config_priv *p = c->priv;
	if (name) {
		struct file_ctx f = {.c = c, .name = name};
		if (tj_ini_parse(text, len, on_item, &f) == -ENOMEM)
			p->oom = true;
	}
	for (size_t i = 0; i < p->novr; i++) {
		struct src src = {.origin = O_SET, .arg = p->ovr[i].arg};
		apply_text(c, &keys[p->ovr[i].key], p->ovr[i].value, &src);
	}
	derive(c);
	tj_buf pfx = TJ_BUF_INIT;
	if (tj_buf_printf(&pfx, "%s%s", name ? name : "", name ? ": " : "") != 0)
		p->oom = true;
	else
		cross_check(c, (char *)pfx.data);
	tj_buf_free(&pfx);
	if (p->dropped) {
		size_t d = p->dropped;
		p->dropped = 0;
		p->nerrs--; /* make room: the last kept message gives way to the count */
		free(p->errs[p->nerrs]);
		add_error(c, "... and %zu more problems", d + 1);
	}
	if (p->oom)
		return -ENOMEM;
	return p->nerrs ? TJ_EINVAL : 0;
}

int tj_config_load_string(tj_config *c, const char *name, const void *text, size_t len)
{
	if (c->priv->loaded)
		return TJ_ESTATE;
	c->priv->loaded = true;
	return finish(c, name ? name : "config", text, len);
}

int tj_config_load(tj_config *c, const char *path)
{
	if (c->priv->loaded)
		return TJ_ESTATE;
	c->priv->loaded = true;
	if (!path)
		return finish(c, NULL, NULL, 0);
	tj_buf text = TJ_BUF_INIT;
	int rc = read_file(path, &text);
	if (rc == 0) {
		rc = finish(c, path, text.data ? (const char *)text.data : "", text.len);
	} else if (rc == TJ_ETOOBIG) {
		add_error(c, "%s: too big for a config file (max %u bytes)", path, TJ_CONFIG_FILE_MAX);
	} else {
		add_error(c, "%s: cannot read: %s", path, tj_strerror(rc));
	}
	tj_buf_free(&text);
	return rc;
}

/*
 * config.h - tjstored's configuration: an INI file plus `--set` overrides,
 * turned into one validated, typed struct (docs/config.md lists every key).
 *
 *   tj_config *cfg;
 *   if (tj_config_new(&cfg) < 0) ...                     (only -ENOMEM)
 *   for each "--set S.K=V" in argv:  tj_config_add_override(cfg, "S.K=V");
 *   if (tj_config_load(cfg, config_path) != 0) {         (path may be NULL)
 *       const char *const *errs;
 *       size_t n = tj_config_errors(cfg, &errs);
 *       for (size_t i = 0; i < n; i++) fprintf(stderr, "tjstored: %s\n", errs[i]);
 *       exit(2);
 *   }
 *   ... use cfg->imap.listen.v[i].host, cfg->smtp.max_message_size ...
 *   tj_config_free(&cfg);
 *
 * Order of precedence: built-in defaults < the file < --set (in argv order).
 * A repeatable key (the listen lists, cluster peers) given with --set
 * replaces the file's list; several --set of it build the new list.
 *
 * The module is pure: it reads the one config file and calls gethostname()
 * for two defaults, nothing else.  It checks syntax and consistency, not
 * whether the files and directories named exist (the daemon does that when
 * it opens them).  Not thread-safe; load once at startup, then read-only.
 */
#ifndef TJ_NODE_CONFIG_H
#define TJ_NODE_CONFIG_H

#include "common/buf.h"
#include "common/log.h"
#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TJ_CONFIG_FILE_MAX (1u << 20)  /* bytes in a config file */
#define TJ_CONFIG_LINE_MAX 8192        /* bytes in one line, without its line end */
#define TJ_CONFIG_VALUE_MAX 4096       /* bytes in one value (PATH_MAX) */
#define TJ_CONFIG_MAX_ADDRS 16         /* entries in one repeatable key */
#define TJ_CONFIG_MAX_ERRORS 100       /* messages kept; later ones are counted */
#define TJ_CONFIG_NAME_MAX 63          /* node names (a DNS label) */
#define TJ_CONFIG_SOCKET_MAX 107       /* a Unix socket path (sun_path - 1) */
#define TJ_CONFIG_MAX_OVERRIDES 256    /* --set arguments */

enum tj_cfg_auth_backend { TJ_AUTH_PASSWD = 0, TJ_AUTH_KRB5 = 1 };
enum tj_replication { TJ_REPL_SYNC = 0, TJ_REPL_ASYNC = 1 };

/* One address: a listener (name ""), a peer or the witness (name set).
 * host has no brackets ("::1"); "*" means every address, IPv4 and IPv6. */
typedef struct tj_config_addr {
	char *name; /* node name for [cluster] peers/witness, "" otherwise */
	char *host;
	uint16_t port;
} tj_config_addr;

typedef struct tj_config_addrs {
	tj_config_addr *v;
	size_t n;
} tj_config_addrs;

/* Every string is non-NULL after tj_config_new(); "" means "not set" for
 * the optional ones.  Decimal keys are kept in thousandths (5.0 -> 5000). */
typedef struct tj_config {
	struct {
		char *name;
		char *data_dir;
	} node;
	struct {
		tj_config_addrs listen, tls_listen;
	} imap;
	struct {
		tj_config_addrs listen, lmtp_listen;
		char *hostname;
		uint64_t max_message_size;
		uint32_t max_recipients;
	} smtp;
	struct {
		char *cert, *key;
	} tls;
	struct {
		enum tj_cfg_auth_backend backend;
		char *passwd_file, *keytab, *realm, *service;
	} auth;
	struct {
		char *file;
		int32_t quota_multiplier_milli;
	} users;
	struct {
		bool clamav, spam; /* each step on (default) or off */
		char *clamav_db_dir, *rules_file;
		int32_t spam_threshold_milli;
		char *quarantine_dir;
	} scan;
	struct {
		enum tj_log_level level;
		bool syslog;
	} log;
	struct {
		char *socket;
	} admin;
	struct {
		tj_config_addrs peers;
		tj_config_addr witness; /* port 0: none */
		char *secret_file;
		enum tj_replication replication;
	} cluster;
	struct {
		uint64_t segment_size;
		int zstd_level;
		uint32_t dict_train_after;
		uint64_t log_retain;
		uint64_t map_size;
	} store;
	struct tj_config_priv *priv; /* errors, overrides, where each key came from */
} tj_config;

/* tj_config_new - a config holding the built-in defaults (the hostname-based
 * ones filled in).  0 or -ENOMEM; *cfg_r is set only on success. */
int tj_config_new(tj_config **cfg_r);

/* tj_config_free - release cfg and everything it owns; NULLs *cfg. */
void tj_config_free(tj_config **cfg);

/* tj_config_add_override - record one `--set` argument, "SECTION.KEY=VALUE"
 * (the VALUE is taken verbatim: no quotes, no comments).  Call before
 * tj_config_load(), in argv order; the overrides are applied after the file.
 * The key is checked now, the value when applied.  Returns 0; TJ_EINVAL
 * (message added to the error list) for a malformed argument or an unknown
 * key; TJ_ETOOBIG (message added) past TJ_CONFIG_MAX_OVERRIDES arguments;
 * TJ_ESTATE after tj_config_load(); -ENOMEM. */
int tj_config_add_override(tj_config *cfg, const char *arg);

/* tj_config_load - read the file at path (NULL: no file, defaults only),
 * apply the overrides, fill derived defaults, run the cross-key checks.
 * Call once.  Returns 0 when the configuration is usable and the error list
 * is empty.  Otherwise the list says why (every problem found, not just the
 * first) and the return is: -errno when the file cannot be read, TJ_ETOOBIG
 * when it is over TJ_CONFIG_FILE_MAX, TJ_ESTATE on a second call, -ENOMEM,
 * or TJ_EINVAL for anything wrong in the file, the overrides or their
 * combination. */
int tj_config_load(tj_config *cfg, const char *path);

/* tj_config_load_string - tj_config_load() on text already in memory; name
 * stands for the file in messages.  Same returns (no -errno). */
int tj_config_load_string(tj_config *cfg, const char *name, const void *text, size_t len);

/* tj_config_errors - the messages collected so far, one problem each, no
 * trailing newline, e.g. `tjstored.conf:12: [imap] listen: "localhost:99999"
 * is not host:port (port must be 1-65535)`.  *list_r stays valid until the
 * next call on cfg.  Returns the count. */
size_t tj_config_errors(const tj_config *cfg, const char *const **list_r);

/* tj_config_print - append the effective configuration to out as INI: every
 * key, defaults filled in, in the documented order (tjstored --print-config).
 * Loading the output gives an equal config.  0, -ENOMEM or TJ_ETOOBIG. */
int tj_config_print(const tj_config *cfg, tj_buf *out);

/* tj_config_get - append the value of one key ("imap.listen") to out, as
 * tj_config_print writes it (a repeatable key: its entries joined by ", ").
 * 0, TJ_ENOTFOUND for an unknown key, -ENOMEM. */
int tj_config_get(const tj_config *cfg, const char *section_key, tj_buf *out);

/* tj_config_key - the i-th key as "section.key", in documented order; NULL
 * past the end.  For tools and tests that walk every key. */
const char *tj_config_key(size_t i);

/* tj_config_equal - true when a and b hold the same values for every key
 * (where each value came from is not compared). */
bool tj_config_equal(const tj_config *a, const tj_config *b);

/* tj_config_store_opts - the [store] keys as store options (read_only 0). */
void tj_config_store_opts(const tj_config *cfg, tj_store_opts *opts_r);

#endif

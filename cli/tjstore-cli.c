/*
 * tjstore-cli - the administration tool.
 *
 *   tjstore-cli [--data-dir DIR | --socket PATH] [--json] COMMAND ...
 *
 * With --data-dir it works directly on a stopped node's data directory
 * (it takes the store's lock, so it refuses to run beside tjstored).
 * Exit status: 0 success, 1 the command ran and found a problem,
 * 2 usage or configuration error.
 */
#include "cli/ldap-source.h"
#include "cli/learn.h"
#include "cli/mbox.h"
#include "cli/users-csv.h"
#include "cli/users-sync.h"
#include "common/err.h"
#include "common/log.h"
#include "node/admin/admin.h"
#include "node/auth/auth-passwd.h"
#include "store/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { EX_OK = 0, EX_PROBLEM = 1, EX_USAGE = 2 };

static const char *data_dir;
static const char *socket_path;
static const char *passwd_file; /* default: DATA_DIR/passwd */
static int json;

static const char usage_text[] =
	"usage: tjstore-cli [--data-dir DIR | --socket PATH] [--passwd-file PATH] [--json] COMMAND ...\n"
	"commands (offline, on a stopped node's --data-dir):\n"
	"  users add NAME [--quota SIZE] [--password-stdin]\n"
	"                                    create a user with INBOX, Sent, Drafts, Trash, Junk\n"
	"  users passwd NAME                 set the password (read from standard input)\n"
	"  users set-quota NAME SIZE         SIZE in bytes, or with K, M, G suffix; 0 = unlimited\n"
	"  users disable|enable NAME\n"
	"  users list | users show NAME\n"
	"  users import FILE [--multiplier M]  the site's users file (username,quota,source,state)\n"
	"  users export [FILE] [--multiplier M]\n"
	"  users sync (--ldap URI --base DN [--bind-dn DN --bind-pw-file F] [--starttls] [--ca-file F]\n"
	"             | --ldif FILE) --groups GROUP=QUOTA[,...] [--multiplier M] [--apply] [-v]\n"
	"             [--user-attr A] [--group-attr A] [--member-attr A,...] [--group-filter F]\n"
	"             [--user-filter F] [--allow-empty] [--timeout S]\n"
	"                                    dry run by default: prints the plan, changes nothing\n"
	"                                    (quotas: QUOTA x M MiB; docs/accounts.md)\n"
	"  import USER MAILBOX PATH...       .eml files, directories of them, or mbox files\n"
	"  verify                            check every record and the index; exit 1 on problems\n"
	"  compact [--threshold F] [--no-recompress]\n"
	"                                    rewrite segments under F live (default 0.5) and records\n"
	"                                    not compressed with the newest dictionary\n"
	"  stats                             users, mailboxes, messages, bytes, segments\n"
	"  learn --spam|--ham USER [MAILBOX] teach the Bayes classifier (DATA_DIR/bayes) every message\n"
	"                                    of MAILBOX (default: Junk for --spam, INBOX for --ham)\n"
	"  learn --stats                     what the Bayes classifier has learned\n"
	"  dump                              canonical text form of all mail state (diagnostics)\n";

static int usage(const char *msg)
{
	if (msg)
		fprintf(stderr, "tjstore-cli: %s\n", msg);
	fputs(usage_text, stderr);
	return EX_USAGE;
}

static int open_store(tj_store **st)
{
	if (socket_path) {
		fprintf(stderr, "tjstore-cli: --socket: this command works offline only; stop tjstored and use --data-dir\n");
		return EX_USAGE;
	}
	if (!data_dir) {
		fprintf(stderr, "tjstore-cli: give --data-dir DIR (the node's [node] data_dir)\n");
		return EX_USAGE;
	}
	tj_store_opts o;
	tj_store_opts_default(&o);
	int rc = tj_store_open(data_dir, &o, st);
	if (rc) {
		fprintf(stderr, "tjstore-cli: cannot open store %s: %s\n", data_dir, tj_strerror(rc));
		return EX_USAGE;
	}
	return EX_OK;
}

static int parse_size(const char *s, uint64_t *v_r)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -1;
	uint64_t mul = 1;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mul = 1ULL << 10; break;
		case 'm': case 'M': mul = 1ULL << 20; break;
		case 'g': case 'G': mul = 1ULL << 30; break;
		case 't': case 'T': mul = 1ULL << 40; break;
		default: return -1;
		}
		if (end[1] && !(end[1] == 'B' && !end[2]) && !(end[1] == 'i' && end[2] == 'B' && !end[3]))
			return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*v_r = v * mul;
	return 0;
}

/* ---- users ---- */

static const struct {
	const char *name;
	uint32_t su;
} default_mailboxes[] = {
	{"INBOX", 0}, {"Sent", TJ_SU_SENT}, {"Drafts", TJ_SU_DRAFTS}, {"Trash", TJ_SU_TRASH}, {"Junk", TJ_SU_JUNK},
};

static int user_put(tj_store *st, const char *name, const tj_user_info *old, int has_quota, uint64_t quota, int state)
{
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)name, strlen(name)}};
	op.quota_bytes = has_quota ? quota : old ? old->quota_bytes : 0;
	op.quota_msgs = old ? old->quota_msgs : 0;
	op.user_state = (uint8_t)(state >= 0 ? state : old ? old->state : TJ_USER_ENABLED);
	op.user_source = old ? old->source : TJ_SOURCE_OVERRIDE; /* made by hand: the sync leaves it alone */
	op.quota_base = old && !has_quota ? old->quota_base : 0;
	return tj_store_exec(st, &op, NULL);
}

/* put_user - USER_PUT with every field given */
static int put_user(tj_store *st, const char *name, uint64_t quota_bytes, uint32_t quota_msgs, int state, int source,
		    uint64_t quota_base)
{
	tj_op op = {.type = TJ_OP_USER_PUT, .name = {(const uint8_t *)name, strlen(name)}};
	op.quota_bytes = quota_bytes;
	op.quota_msgs = quota_msgs;
	op.user_state = (uint8_t)state;
	op.user_source = (uint8_t)source;
	op.quota_base = quota_base;
	return tj_store_exec(st, &op, NULL);
}

/* create_account - a new user with INBOX, Sent, Drafts, Trash, Junk, all subscribed */
static int create_account(tj_store *st, const char *name, uint64_t quota_bytes, uint64_t quota_base, int source,
			  int state)
{
	int rc = put_user(st, name, quota_bytes, 0, state, source, quota_base);
	uint32_t uid = tj_store_user_id(name);
	for (size_t i = 0; !rc && i < sizeof(default_mailboxes) / sizeof(default_mailboxes[0]); i++) {
		tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = uid, .special_use = default_mailboxes[i].su,
			    .name = {(const uint8_t *)default_mailboxes[i].name, strlen(default_mailboxes[i].name)}};
		rc = tj_store_exec(st, &op, NULL);
		if (!rc) {
			tj_op sop = {.type = TJ_OP_SUBSCRIBE, .user_id = uid, .mode = 1, .name = op.name};
			rc = tj_store_exec(st, &sop, NULL);
		}
	}
	return rc;
}

static int print_user(void *arg, const tj_user_info *u)
{
	int *first = arg;
	if (json) {
		printf("%s{\"name\":\"%.*s\",\"id\":%u,\"state\":\"%s\",\"quota_bytes\":%" PRIu64 ",\"used_bytes\":%" PRIu64
		       ",\"messages\":%u}",
		       *first ? "" : ",", (int)u->name.len, u->name.ptr, u->id, u->state ? "disabled" : "enabled",
		       u->quota_bytes, u->used_bytes, u->used_msgs);
		*first = 0;
	} else {
		char q[32];
		if (u->quota_bytes)
			snprintf(q, sizeof(q), "%" PRIu64, u->quota_bytes);
		else
			snprintf(q, sizeof(q), "unlimited");
		printf("%-24.*s %-8s %14s %14" PRIu64 " %10u\n", (int)u->name.len, u->name.ptr,
		       u->state ? "disabled" : "enabled", q, u->used_bytes, u->used_msgs);
	}
	return 0;
}

static void json_str(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '"' || p[i] == '\\')
			printf("\\%c", p[i]);
		else if (p[i] < 0x20)
			printf("\\u%04x", p[i]);
		else
			putchar(p[i]);
	}
	putchar('"');
}

static int print_mbox(void *arg, const tj_mbox_info *m)
{
	int *first = arg;
	if (json) {
		printf("%s{\"name\":", *first ? "" : ",");
		json_str(m->name.ptr, m->name.len);
		printf(",\"messages\":%u,\"unseen\":%u,\"bytes\":%" PRIu64 ",\"uidvalidity\":%u,\"uidnext\":%u}",
		       m->messages, m->unseen, m->bytes, m->uidvalidity, m->uidnext);
		*first = 0;
	} else {
		printf("    %-30.*s %8u messages %8u unseen %12" PRIu64 " bytes\n", (int)m->name.len, m->name.ptr,
		       m->messages, m->unseen, m->bytes);
	}
	return 0;
}

static const char *passwd_path(void)
{
	static char buf[4096];
	if (passwd_file)
		return passwd_file;
	if (!data_dir)
		return NULL;
	snprintf(buf, sizeof(buf), "%s/passwd", data_dir);
	return buf;
}

/* read_password - one line from standard input (no echo on a terminal) */
static int read_password(char *pw, size_t sz)
{
	int tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *got = fgets(pw, (int)sz, stdin);
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (!got)
		return -1;
	size_t n = strlen(pw);
	while (n && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
		pw[--n] = 0;
	return n ? 0 : -1;
}

static int set_password(const char *name)
{
	char pw[1024];
	const char *path = passwd_path();
	if (!path)
		return usage("a password needs --data-dir or --passwd-file");
	if (read_password(pw, sizeof(pw)) < 0) {
		fprintf(stderr, "tjstore-cli: no password given on standard input\n");
		return EX_USAGE;
	}
	int rc = tj_auth_passwd_set(path, name, pw);
	explicit_bzero(pw, sizeof(pw));
	if (rc) {
		fprintf(stderr, "tjstore-cli: password for %s in %s: %s\n", name, path, tj_strerror(rc));
		return EX_PROBLEM;
	}
	printf("password set for %s (%s)\n", name, path);
	return EX_OK;
}

static int users_import(int argc, char **argv);
static int users_export(int argc, char **argv);
static int users_sync(int argc, char **argv);

static int cmd_users(int argc, char **argv)
{
	if (argc < 1)
		return usage("users: which subcommand?");
	const char *sub = argv[0];
	tj_store *st;
	int ex;
	if (strcmp(sub, "add") == 0) {
		uint64_t quota = 0;
		const char *name = NULL;
		int with_pw = 0;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc) {
				if (parse_size(argv[++i], &quota))
					return usage("users add: --quota takes a size such as 500M");
			} else if (strcmp(argv[i], "--password-stdin") == 0) {
				with_pw = 1;
			} else if (argv[i][0] == '-' || name) {
				return usage("users add NAME [--quota SIZE] [--password-stdin]");
			} else {
				name = argv[i];
			}
		}
		if (!name)
			return usage("users add: which user?");
		if (tj_store_valid_user_name(name, strlen(name)))
			return usage("users add: a user name is 1-255 of a-z A-Z 0-9 . _ - @ +");
		if ((ex = open_store(&st)))
			return ex;
		tj_rtxn *r;
		tj_user_info u;
		int rc = tj_rtxn_begin(st, &r);
		if (!rc) {
			rc = tj_store_user_get(r, name, &u);
			tj_rtxn_end(&r);
		}
		if (rc == 0) {
			fprintf(stderr, "tjstore-cli: user %s already exists\n", name);
			tj_store_close(&st);
			return EX_PROBLEM;
		}
		rc = create_account(st, name, quota, 0, TJ_SOURCE_OVERRIDE, TJ_USER_ENABLED);
		uint32_t uid = tj_store_user_id(name);
		if (rc) {
			fprintf(stderr, "tjstore-cli: users add %s: %s\n", name, tj_strerror(rc));
			ex = EX_PROBLEM;
		} else {
			printf("added user %s (id %u, quota %s%" PRIu64 ")\n", name, uid, quota ? "" : "unlimited ",
			       quota);
		}
		tj_store_close(&st);
		if (!ex && with_pw)
			ex = set_password(name);
		return ex;
	}
	if (strcmp(sub, "passwd") == 0) {
		if (argc != 2)
			return usage("users passwd NAME (the password is read from standard input)");
		if ((ex = open_store(&st)))
			return ex;
		tj_rtxn *r;
		tj_user_info u;
		int rc = tj_rtxn_begin(st, &r);
		if (!rc) {
			rc = tj_store_user_get(r, argv[1], &u);
			tj_rtxn_end(&r);
		}
		tj_store_close(&st);
		if (rc) {
			fprintf(stderr, "tjstore-cli: users passwd %s: %s\n", argv[1], tj_strerror(rc));
			return EX_PROBLEM;
		}
		return set_password(argv[1]);
	}
	if (strcmp(sub, "set-quota") == 0 || strcmp(sub, "disable") == 0 || strcmp(sub, "enable") == 0) {
		int setq = sub[0] == 's';
		if (argc != (setq ? 3 : 2))
			return usage(setq ? "users set-quota NAME SIZE" : "users disable|enable NAME");
		uint64_t quota = 0;
		if (setq && parse_size(argv[2], &quota))
			return usage("users set-quota: SIZE such as 500M");
		if ((ex = open_store(&st)))
			return ex;
		tj_rtxn *r;
		tj_user_info u;
		char namebuf[256];
		int rc = tj_rtxn_begin(st, &r);
		if (!rc) {
			rc = tj_store_user_get(r, argv[1], &u);
			if (!rc)
				snprintf(namebuf, sizeof(namebuf), "%.*s", (int)u.name.len, u.name.ptr);
			u.name.ptr = (const uint8_t *)namebuf;
			tj_rtxn_end(&r);
		}
		if (!rc)
			rc = user_put(st, namebuf, &u, setq, quota,
				      setq ? -1 : sub[0] == 'd' ? TJ_USER_DISABLED : TJ_USER_ENABLED);
		if (rc) {
			fprintf(stderr, "tjstore-cli: users %s %s: %s\n", sub, argv[1], tj_strerror(rc));
			ex = EX_PROBLEM;
		} else {
			printf("%s: %s\n", argv[1], setq ? "quota set" : sub[0] == 'd' ? "disabled" : "enabled");
		}
		tj_store_close(&st);
		return ex;
	}
	if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0) {
		int show = sub[0] == 's';
		if (argc != (show ? 2 : 1))
			return usage(show ? "users show NAME" : "users list");
		if ((ex = open_store(&st)))
			return ex;
		tj_rtxn *r;
		int rc = tj_rtxn_begin(st, &r);
		if (rc) {
			tj_store_close(&st);
			return EX_PROBLEM;
		}
		if (!show) {
			if (json)
				printf("[");
			else
				printf("%-24s %-8s %14s %14s %10s\n", "USER", "STATE", "QUOTA", "USED", "MESSAGES");
			int first = 1;
			rc = tj_store_users(r, print_user, &first);
			if (json)
				printf("]\n");
		} else {
			tj_user_info u;
			rc = tj_store_user_get(r, argv[1], &u);
			if (rc) {
				fprintf(stderr, "tjstore-cli: users show %s: %s\n", argv[1], tj_strerror(rc));
				ex = EX_PROBLEM;
			} else {
				if (json)
					printf("{\"name\":\"%.*s\",\"id\":%u,\"state\":\"%s\",\"quota_bytes\":%" PRIu64
					       ",\"used_bytes\":%" PRIu64 ",\"messages\":%u,\"mailboxes\":[",
					       (int)u.name.len, u.name.ptr, u.id, u.state ? "disabled" : "enabled",
					       u.quota_bytes, u.used_bytes, u.used_msgs);
				else
					printf("user %.*s\n  id %u\n  source %s\n  state %s\n  quota %" PRIu64 " bytes%s\n  used %" PRIu64
					       " bytes in %u messages\n  mailboxes:\n",
					       (int)u.name.len, u.name.ptr, u.id, u.source == TJ_SOURCE_LDAP ? "ldap" : "override",
					       u.state ? "disabled" : "enabled", u.quota_bytes, u.quota_bytes ? "" : " (unlimited)",
					       u.used_bytes, u.used_msgs);
				int first = 1;
				rc = tj_store_mboxes(r, u.id, print_mbox, &first);
				if (json)
					printf("]}\n");
			}
		}
		tj_rtxn_end(&r);
		tj_store_close(&st);
		return rc && !ex ? EX_PROBLEM : ex;
	}
	if (strcmp(sub, "import") == 0)
		return users_import(argc - 1, argv + 1);
	if (strcmp(sub, "export") == 0)
		return users_export(argc - 1, argv + 1);
	if (strcmp(sub, "sync") == 0)
		return users_sync(argc - 1, argv + 1);
	return usage("users: unknown subcommand (add, passwd, set-quota, disable, enable, list, show, import, export, "
		     "sync)");
}

/* ---- import ---- */

struct import_job {
	tj_store *st;
	uint32_t user_id;
	uint64_t mbox_id;
	/* work queue of (bytes, date) */
	pthread_mutex_t lock;
	struct item {
		uint8_t *data;
		size_t len;
		int64_t date;
		char *origin;
	} *items;
	size_t nitems, cap, next;
	uint64_t ok, failed, bytes;
};

static int job_push(struct import_job *j, uint8_t *data, size_t len, int64_t date, const char *origin)
{
	if (j->nitems == j->cap && tj_grow(&j->items, &j->cap, j->nitems + 1, sizeof(*j->items)))
		return -ENOMEM;
	j->items[j->nitems++] = (struct item){data, len, date, strdup(origin)};
	return 0;
}

static void *import_worker(void *arg)
{
	struct import_job *j = arg;
	for (;;) {
		pthread_mutex_lock(&j->lock);
		size_t i = j->next < j->nitems ? j->next++ : SIZE_MAX;
		pthread_mutex_unlock(&j->lock);
		if (i == SIZE_MAX)
			break;
		struct item *it = &j->items[i];
		tj_msgrec m;
		int rc = tj_store_prepare(j->st, it->data, it->len, &m);
		if (!rc) {
			tj_op op = {.type = TJ_OP_APPEND, .user_id = j->user_id, .mbox_id = j->mbox_id,
				    .internal_date = it->date};
			memcpy(op.guid, m.guid, TJ_GUID_LEN);
			rc = tj_store_exec(j->st, &op, &m);
			tj_op_clear(&op);
			tj_msgrec_free(&m);
		}
		pthread_mutex_lock(&j->lock);
		if (rc) {
			j->failed++;
			fprintf(stderr, "tjstore-cli: import %s: %s\n", it->origin, tj_strerror(rc));
		} else {
			j->ok++;
			j->bytes += it->len;
		}
		pthread_mutex_unlock(&j->lock);
		free(it->data);
		it->data = NULL;
	}
	return NULL;
}

static int read_file(const char *path, uint8_t **data_r, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if ((uint64_t)sb.st_size > (4ULL << 30)) {
		close(fd);
		return TJ_ETOOBIG;
	}
	uint8_t *p = malloc((size_t)sb.st_size + 1);
	if (!p) {
		close(fd);
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < (size_t)sb.st_size) {
		ssize_t n = read(fd, p + got, (size_t)sb.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*data_r = p;
	*len_r = got;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int collect(struct import_job *j, const char *path)
{
	struct stat sb;
	if (stat(path, &sb) < 0) {
		fprintf(stderr, "tjstore-cli: import %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (S_ISDIR(sb.st_mode)) {
		DIR *d = opendir(path);
		if (!d)
			return -errno;
		char **names = NULL;
		size_t n = 0, cap = 0;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			if (n == cap && tj_grow(&names, &cap, n + 1, sizeof(*names)))
				break;
			names[n++] = strdup(e->d_name);
		}
		closedir(d);
		qsort(names, n, sizeof(*names), cmp_str);
		int rc = 0;
		for (size_t i = 0; i < n; i++) {
			char sub[4096];
			snprintf(sub, sizeof(sub), "%s/%s", path, names[i]);
			int r2 = collect(j, sub);
			if (r2 && !rc)
				rc = r2;
			free(names[i]);
		}
		free(names);
		return rc;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = read_file(path, &data, &len);
	if (rc) {
		fprintf(stderr, "tjstore-cli: import %s: %s\n", path, tj_strerror(rc));
		return rc;
	}
	if (tj_mbox_is_mbox(data, len)) {
		tj_mbox_iter it = {data, len, 0};
		tj_buf msg = TJ_BUF_INIT;
		int64_t date;
		int k;
		unsigned idx = 0;
		while ((k = tj_mbox_next(&it, &msg, &date)) == 1) {
			char origin[4200];
			snprintf(origin, sizeof(origin), "%s#%u", path, ++idx);
			size_t mlen;
			uint8_t *copy = tj_buf_steal(&msg, &mlen);
			if ((rc = job_push(j, copy, mlen, date ? date : (int64_t)sb.st_mtime, origin)))
				break;
		}
		tj_buf_free(&msg);
		free(data);
		return rc ? rc : k < 0 ? k : 0;
	}
	return job_push(j, data, len, (int64_t)sb.st_mtime, path);
}

static int cmd_import(int argc, char **argv)
{
	if (argc < 3)
		return usage("import USER MAILBOX PATH...");
	const char *user = argv[0], *mailbox = argv[1];
	if (tj_store_valid_mbox_name(mailbox, strlen(mailbox)))
		return usage("import: invalid mailbox name");
	tj_store *st;
	int ex = open_store(&st);
	if (ex)
		return ex;
	tj_rtxn *r;
	tj_user_info u;
	tj_mbox_info mb;
	int rc = tj_rtxn_begin(st, &r);
	if (!rc && (rc = tj_store_user_get(r, user, &u)) == TJ_ENOTFOUND) {
		fprintf(stderr, "tjstore-cli: import: no user %s (create it with: tjstore-cli users add %s)\n", user, user);
		tj_rtxn_end(&r);
		tj_store_close(&st);
		return EX_PROBLEM;
	}
	uint32_t uid = tj_store_user_id(user);
	if (!rc)
		rc = tj_store_mbox_find(r, uid, mailbox, &mb);
	uint64_t mbox_id = mb.id;
	tj_rtxn_end(&r);
	if (rc == TJ_ENOTFOUND) {
		tj_op op = {.type = TJ_OP_MBOX_CREATE, .user_id = uid, .name = {(const uint8_t *)mailbox, strlen(mailbox)}};
		rc = tj_store_exec(st, &op, NULL);
		if (!rc) {
			mbox_id = op.mbox_id;
			printf("created mailbox %s for %s\n", mailbox, user);
			tj_op sub = {.type = TJ_OP_SUBSCRIBE, .user_id = uid, .mode = 1, .name = op.name};
			rc = tj_store_exec(st, &sub, NULL);
		}
	}
	if (rc) {
		fprintf(stderr, "tjstore-cli: import: %s\n", tj_strerror(rc));
		tj_store_close(&st);
		return EX_PROBLEM;
	}
	struct import_job j = {.st = st, .user_id = uid, .mbox_id = mbox_id};
	pthread_mutex_init(&j.lock, NULL);
	int collect_failed = 0;
	for (int i = 2; i < argc; i++)
		if (collect(&j, argv[i]))
			collect_failed = 1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	enum { WORKERS = 8 };
	pthread_t th[WORKERS];
	for (int i = 0; i < WORKERS; i++)
		pthread_create(&th[i], NULL, import_worker, &j);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (size_t i = 0; i < j.nitems; i++) {
		free(j.items[i].data);
		free(j.items[i].origin);
	}
	free(j.items);
	pthread_mutex_destroy(&j.lock);
	if (json)
		printf("{\"imported\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"seconds\":%.3f}\n", j.ok,
		       j.failed, j.bytes, secs);
	else
		printf("imported %" PRIu64 " messages (%" PRIu64 " bytes) into %s/%s in %.2f s; %" PRIu64 " failed\n", j.ok,
		       j.bytes, user, mailbox, secs, j.failed);
	tj_store_close(&st);
	return (j.failed || collect_failed) ? EX_PROBLEM : EX_OK;
}

/* ---- users import | export | sync (the site's users file, the directory) ---- */

static int parse_multiplier_arg(const char *s, uint32_t *milli_r)
{
	if (tj_users_parse_multiplier(s, milli_r)) {
		fprintf(stderr, "tjstore-cli: --multiplier %s: a number from 0.001 to 1000 with at most 3 decimals "
				"(the config's users.quota_multiplier)\n",
			s);
		return -1;
	}
	return 0;
}

struct local_users {
	tj_sync_local *v;
	uint32_t *msgs; /* quota_msgs, kept for updates */
	size_t n, cap;
};

static int collect_user(void *arg, const tj_user_info *u)
{
	struct local_users *l = arg;
	if (l->n == l->cap) { /* two arrays side by side */
		size_t c1 = l->cap, c2 = l->cap;
		if (tj_grow(&l->v, &c1, l->n + 1, sizeof(*l->v)) || tj_grow(&l->msgs, &c2, l->n + 1, sizeof(*l->msgs)))
			return -ENOMEM;
		l->cap = c1 < c2 ? c1 : c2;
	}
	char *name = strndup((const char *)u->name.ptr, u->name.len);
	if (!name)
		return -ENOMEM;
	l->msgs[l->n] = u->quota_msgs;
	l->v[l->n++] = (tj_sync_local){name, u->id, u->quota_base, u->quota_bytes, u->source, u->state};
	return 0;
}

static void local_users_free(struct local_users *l)
{
	for (size_t i = 0; i < l->n; i++)
		free((char *)l->v[i].name);
	free(l->v);
	free(l->msgs);
	memset(l, 0, sizeof(*l));
}

static int load_local_users(tj_store *st, struct local_users *l)
{
	tj_rtxn *r;
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	rc = tj_store_users(r, collect_user, l);
	tj_rtxn_end(&r);
	return rc;
}

static int users_import(int argc, char **argv)
{
	const char *file = NULL;
	uint32_t milli = 1000;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--multiplier") == 0 && i + 1 < argc) {
			if (parse_multiplier_arg(argv[++i], &milli))
				return EX_USAGE;
		} else if (argv[i][0] == '-' || file) {
			return usage("users import FILE [--multiplier M]");
		} else {
			file = argv[i];
		}
	}
	if (!file)
		return usage("users import: which file?");
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = read_file(file, &data, &len);
	if (rc) {
		fprintf(stderr, "tjstore-cli: users import %s: %s\n", file, tj_strerror(rc));
		return EX_PROBLEM;
	}
	tj_users_csv f;
	char err[300];
	rc = tj_users_csv_parse(data, len, &f, err, sizeof(err));
	free(data);
	if (rc) {
		fprintf(stderr, "tjstore-cli: users import %s: %s; nothing imported\n", file,
			rc == TJ_EINVAL ? err : tj_strerror(rc));
		tj_users_csv_free(&f);
		return EX_PROBLEM;
	}
	if (!f.canonical)
		fprintf(stderr, "tjstore-cli: note: %s line %u: %s; users export writes the canonical form "
				"(sorted by username, LF line ends, no comments, blank lines or header)\n",
			file, f.noncanon_line, f.noncanon_why);
	tj_store *st;
	int ex = open_store(&st);
	if (ex) {
		tj_users_csv_free(&f);
		return ex;
	}
	size_t created = 0, updated = 0, unchanged = 0, failed = 0;
	for (size_t i = 0; i < f.n; i++) {
		const tj_users_row *row = &f.rows[i];
		uint64_t bytes;
		if (tj_users_quota_bytes(row->quota, milli, &bytes)) {
			fprintf(stderr, "tjstore-cli: %s line %u: quota %" PRIu64 " x multiplier is too large; skipped\n",
				file, row->line, row->quota);
			failed++;
			continue;
		}
		uint32_t id = tj_store_user_id(row->name);
		tj_rtxn *r;
		tj_user_info u;
		char other[TJ_USERS_NAME_MAX + 1] = "";
		rc = tj_rtxn_begin(st, &r);
		if (!rc) {
			rc = tj_store_user_get_id(r, id, &u);
			if (!rc)
				snprintf(other, sizeof(other), "%.*s", (int)u.name.len, u.name.ptr);
			tj_rtxn_end(&r);
		}
		if (rc == 0 && strcmp(other, row->name) != 0)
			rc = TJ_ECOLLIDE;
		if (rc == TJ_ENOTFOUND) {
			rc = create_account(st, row->name, bytes, row->quota, row->source, row->state);
			if (!rc) {
				created++;
				printf("line %u: created %s quota %" PRIu64 " (%s, %s)\n", row->line, row->name, row->quota,
				       tj_users_source_name(row->source), tj_users_state_name(row->state));
				continue;
			}
			if (rc == TJ_ECOLLIDE)
				snprintf(other, sizeof(other), "(another user)");
		} else if (rc == 0) {
			if (u.quota_base == row->quota && u.quota_bytes == bytes && u.source == row->source &&
			    u.state == row->state) {
				unchanged++;
				continue;
			}
			rc = put_user(st, row->name, bytes, u.quota_msgs, row->state, row->source, row->quota);
			if (!rc) {
				updated++;
				printf("line %u: updated %s:", row->line, row->name);
				if (u.quota_base != row->quota || u.quota_bytes != bytes)
					printf(" quota %" PRIu64 " -> %" PRIu64, u.quota_base, row->quota);
				if (u.source != row->source)
					printf(" source %s -> %s", tj_users_source_name(u.source),
					       tj_users_source_name(row->source));
				if (u.state != row->state)
					printf(" %s -> %s", tj_users_state_name(u.state), tj_users_state_name(row->state));
				printf("\n");
				continue;
			}
		}
		failed++;
		if (rc == TJ_ECOLLIDE)
			fprintf(stderr,
				"tjstore-cli: %s line %u: user %s has the same id (%u) as existing user %s "
				"(hash collision); not imported, nothing changed for this line\n",
				file, row->line, row->name, id, other);
		else
			fprintf(stderr, "tjstore-cli: %s line %u: user %s: %s\n", file, row->line, row->name,
				tj_strerror(rc));
	}
	printf("import: %zu created, %zu updated, %zu unchanged, %zu failed\n", created, updated, unchanged, failed);
	tj_store_close(&st);
	tj_users_csv_free(&f);
	return failed ? EX_PROBLEM : EX_OK;
}

/* write_atomic - temp file beside path, fsync, rename */
static int write_atomic(const char *path, const void *data, size_t len)
{
	char tmp[4200];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	int rc = 0;
	while (off < len && !rc) {
		ssize_t n = write(fd, (const uint8_t *)data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			rc = -errno;
		else
			off += (size_t)n;
	}
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

static int users_export(int argc, char **argv)
{
	const char *file = NULL;
	uint32_t milli = 1000;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--multiplier") == 0 && i + 1 < argc) {
			if (parse_multiplier_arg(argv[++i], &milli))
				return EX_USAGE;
		} else if ((argv[i][0] == '-' && argv[i][1]) || file) {
			return usage("users export [FILE] [--multiplier M]");
		} else {
			file = argv[i];
		}
	}
	tj_store *st;
	int ex = open_store(&st);
	if (ex)
		return ex;
	struct local_users l = {0};
	int rc = load_local_users(st, &l);
	tj_store_close(&st);
	tj_users_row *rows = l.n ? calloc(l.n, sizeof(*rows)) : NULL;
	if (!rc && l.n && !rows)
		rc = -ENOMEM;
	for (size_t i = 0; !rc && i < l.n; i++) {
		const tj_sync_local *u = &l.v[i];
		snprintf(rows[i].name, sizeof(rows[i].name), "%s", u->name);
		rows[i].quota = u->quota_base;
		rows[i].source = u->source;
		rows[i].state = u->state;
		if (u->quota_base == 0 && u->quota_bytes != 0) { /* quota set in bytes (users add/set-quota) */
			int exact;
			rows[i].quota = tj_users_quota_from_bytes(u->quota_bytes, milli, &exact);
			fprintf(stderr, "tjstore-cli: note: %s has a quota set in bytes (%" PRIu64 "); written as %" PRIu64
					"%s\n",
				u->name, u->quota_bytes, rows[i].quota, exact ? "" : " (rounded up)");
		}
	}
	tj_buf out = TJ_BUF_INIT;
	if (!rc) {
		tj_users_csv_sort(rows, l.n);
		rc = tj_users_csv_write(rows, l.n, &out);
	}
	if (!rc) {
		if (file && strcmp(file, "-") != 0)
			rc = write_atomic(file, out.data ? out.data : (const uint8_t *)"", out.len);
		else if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
			rc = -EIO;
	}
	if (rc)
		fprintf(stderr, "tjstore-cli: users export%s%s: %s\n", file ? " " : "", file ? file : "", tj_strerror(rc));
	tj_buf_free(&out);
	free(rows);
	local_users_free(&l);
	return rc ? EX_PROBLEM : EX_OK;
}

/* read_secret_file - the first line of a file (a bind password) */
static int read_secret_file(const char *path, char *out, size_t outsz)
{
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = read_file(path, &data, &len);
	if (rc)
		return rc;
	size_t n = 0;
	while (n < len && data[n] != '\n' && data[n] != '\r')
		n++;
	if (n >= outsz || memchr(data, 0, n))
		rc = TJ_EINVAL;
	else {
		memcpy(out, data, n);
		out[n] = 0;
	}
	explicit_bzero(data, len);
	free(data);
	return rc;
}

static int users_sync(int argc, char **argv)
{
	static const char sync_usage[] =
		"users sync (--ldap URI --base DN [--bind-dn DN --bind-pw-file F] [--starttls] | --ldif FILE) "
		"--groups GROUP=QUOTA[,...] [--multiplier M] [--apply] [-v]";
	tj_ldap_opts lo = {0};
	tj_dir_attrs attrs;
	tj_dir_attrs_default(&attrs);
	tj_sync_groups groups;
	groups.n = 0;
	const char *ldif = NULL, *pw_file = NULL;
	uint32_t milli = 1000;
	int apply = 0, verbose = 0, allow_empty = 0;
	char err[600];
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		int has = i + 1 < argc;
		if (!strcmp(o, "--apply")) {
			apply = 1;
		} else if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) {
			verbose = 1;
		} else if (!strcmp(o, "--starttls")) {
			lo.starttls = 1;
		} else if (!strcmp(o, "--allow-empty")) {
			allow_empty = 1;
		} else if (!has) {
			return usage(sync_usage);
		} else if (!strcmp(o, "--ldap")) {
			lo.uri = argv[++i];
		} else if (!strcmp(o, "--base")) {
			lo.base = argv[++i];
		} else if (!strcmp(o, "--bind-dn")) {
			lo.bind_dn = argv[++i];
		} else if (!strcmp(o, "--bind-pw-file")) {
			pw_file = argv[++i];
		} else if (!strcmp(o, "--ca-file")) {
			lo.ca_file = argv[++i];
		} else if (!strcmp(o, "--timeout")) {
			lo.timeout_s = atoi(argv[++i]);
			if (lo.timeout_s <= 0 || lo.timeout_s > 3600)
				return usage("users sync: --timeout is 1 to 3600 seconds");
		} else if (!strcmp(o, "--ldif")) {
			ldif = argv[++i];
		} else if (!strcmp(o, "--groups")) {
			if (tj_sync_groups_parse(argv[++i], &groups, err, sizeof(err)))
				return usage(err);
		} else if (!strcmp(o, "--multiplier")) {
			if (parse_multiplier_arg(argv[++i], &milli))
				return EX_USAGE;
		} else if (!strcmp(o, "--user-attr")) {
			attrs.user_attr = argv[++i];
		} else if (!strcmp(o, "--group-attr")) {
			attrs.group_attr = argv[++i];
		} else if (!strcmp(o, "--member-attr")) {
			attrs.member_attrs = argv[++i];
		} else if (!strcmp(o, "--group-filter")) {
			attrs.group_filter = argv[++i];
		} else if (!strcmp(o, "--user-filter")) {
			attrs.user_filter = argv[++i];
		} else {
			return usage(sync_usage);
		}
	}
	if (!!ldif == !!lo.uri)
		return usage("users sync: give --ldap URI or --ldif FILE (one of them)");
	if (lo.uri && !lo.base)
		return usage("users sync: --ldap needs --base DN");
	if (!!lo.bind_dn != !!pw_file)
		return usage("users sync: --bind-dn and --bind-pw-file go together (neither: anonymous bind)");
	if (ldif && (lo.base || lo.bind_dn || lo.starttls || lo.ca_file))
		return usage("users sync: --base, --bind-dn, --starttls, --ca-file are for --ldap");
	if (!groups.n)
		return usage("users sync: --groups GROUP=QUOTA[,...] names the mail groups and their quotas");
	/* the directory */
	tj_sync_dir dir = {0};
	tj_buf warn = TJ_BUF_INIT;
	int rc;
	err[0] = 0;
	if (ldif) {
		uint8_t *data = NULL;
		size_t len = 0;
		tj_ldif l;
		if ((rc = read_file(ldif, &data, &len))) {
			fprintf(stderr, "tjstore-cli: users sync --ldif %s: %s\n", ldif, tj_strerror(rc));
			return EX_PROBLEM;
		}
		rc = tj_ldif_parse(data, len, &l, err, sizeof(err));
		free(data);
		if (rc)
			fprintf(stderr, "tjstore-cli: users sync --ldif %s: %s\n", ldif, rc == TJ_EINVAL ? err : tj_strerror(rc));
		else if ((rc = tj_sync_from_ldif(&l, &attrs, &groups, &dir, &warn)))
			fprintf(stderr, "tjstore-cli: users sync --ldif %s: %s\n", ldif, tj_strerror(rc));
		tj_ldif_free(&l);
	} else {
		char pw[1024] = "";
		if (pw_file && (rc = read_secret_file(pw_file, pw, sizeof(pw)))) {
			fprintf(stderr, "tjstore-cli: users sync --bind-pw-file %s: %s\n", pw_file, tj_strerror(rc));
			return EX_USAGE;
		}
		lo.bind_pw = pw_file ? pw : NULL;
		rc = tj_ldap_fetch(&lo, &attrs, &groups, &dir, &warn, err, sizeof(err));
		explicit_bzero(pw, sizeof(pw));
		if (rc)
			fprintf(stderr, "tjstore-cli: users sync: %s\n", err[0] ? err : tj_strerror(rc));
	}
	if (warn.len)
		fwrite(warn.data, 1, warn.len, stderr);
	tj_buf_free(&warn);
	for (size_t i = 0; !rc && i < groups.n; i++)
		if (!groups.v[i].found) {
			fprintf(stderr, "tjstore-cli: users sync: group %s is not in the directory; nothing done\n",
				groups.v[i].name);
			rc = TJ_ENOTFOUND;
		}
	if (rc) {
		tj_sync_dir_free(&dir);
		return EX_PROBLEM;
	}
	/* the local users, the plan */
	tj_store *st;
	int ex = open_store(&st);
	if (ex) {
		tj_sync_dir_free(&dir);
		return ex;
	}
	struct local_users l = {0};
	tj_sync_plan plan = {0};
	rc = load_local_users(st, &l);
	if (!rc)
		rc = tj_sync_plan_make(&dir, &groups, l.v, l.n, tj_store_user_id, milli, &plan);
	if (rc) {
		fprintf(stderr, "tjstore-cli: users sync: %s\n", tj_strerror(rc));
		ex = EX_PROBLEM;
		goto out;
	}
	size_t disables = 0;
	for (size_t i = 0; i < plan.n; i++)
		disables += plan.v[i].kind == TJ_SYNC_DISABLE;
	if (dir.n == 0 && disables && !allow_empty) {
		fprintf(stderr, "tjstore-cli: users sync: the mail groups have no members; refusing to disable %zu "
				"ldap users (wrong --base, filter or attribute?); --allow-empty to do it; nothing done\n",
			disables);
		ex = EX_PROBLEM;
		goto out;
	}
	tj_buf line = TJ_BUF_INIT;
	size_t failed = 0;
	for (size_t i = 0; i < plan.n; i++) {
		const tj_sync_action *a = &plan.v[i];
		if (a->kind == TJ_SYNC_KEEP && !verbose)
			continue;
		tj_buf_reset(&line);
		if (a->kind == TJ_SYNC_REFUSE || a->kind == TJ_SYNC_KEEP || !apply) {
			tj_sync_action_format(a, 0, &line);
			fprintf(a->kind == TJ_SYNC_REFUSE ? stderr : stdout, "%s\n", (char *)line.data);
			continue;
		}
		if (a->kind == TJ_SYNC_CREATE) {
			rc = create_account(st, a->name, a->new_bytes, a->new_quota, TJ_SOURCE_LDAP, TJ_USER_ENABLED);
		} else {
			tj_rtxn *r;
			tj_user_info u;
			rc = tj_rtxn_begin(st, &r);
			if (!rc) {
				rc = tj_store_user_get(r, a->name, &u);
				tj_rtxn_end(&r);
			}
			if (!rc) {
				int state = a->kind == TJ_SYNC_DISABLE ? TJ_USER_DISABLED
					    : a->kind == TJ_SYNC_ENABLE ? TJ_USER_ENABLED
									: u.state;
				uint64_t bytes = a->kind == TJ_SYNC_SET_QUOTA ? a->new_bytes : u.quota_bytes;
				uint64_t base = a->kind == TJ_SYNC_SET_QUOTA ? a->new_quota : u.quota_base;
				rc = put_user(st, a->name, bytes, u.quota_msgs, state, u.source, base);
			}
		}
		tj_sync_action_format(a, rc == 0, &line);
		if (rc) {
			failed++;
			fprintf(stderr, "tjstore-cli: failed: %s: %s\n", (char *)line.data, tj_strerror(rc));
		} else {
			printf("%s\n", (char *)line.data);
		}
	}
	tj_buf_free(&line);
	if (plan.changes == 0 && plan.refused == 0)
		printf("nothing to do\n");
	else if (!apply && plan.changes)
		fprintf(stderr, "dry run: %zu change%s planned, none made; --apply makes them\n", plan.changes,
			plan.changes == 1 ? "" : "s");
	ex = failed || plan.refused ? EX_PROBLEM : EX_OK;
out:
	tj_sync_plan_free(&plan);
	local_users_free(&l);
	tj_store_close(&st);
	tj_sync_dir_free(&dir);
	return ex;
}

/* ---- verify, compact, stats, dump ---- */

static void print_problem(void *arg, const char *p)
{
	(*(unsigned *)arg)++;
	if (json)
		printf("%s\"%s\"", *(unsigned *)arg > 1 ? "," : "", p);
	else
		printf("problem: %s\n", p);
}

static int cmd_verify(int argc, char **argv)
{
	if (argc)
		return usage("verify takes no arguments");
	tj_store *st;
	int ex = open_store(&st);
	if (ex)
		return ex;
	unsigned n = 0;
	if (json)
		printf("{\"problems\":[");
	int rc = tj_store_verify(st, print_problem, &n);
	tj_store_stats s;
	tj_store_stats_get(st, &s);
	if (json)
		printf("],\"records\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"ok\":%s}\n", s.unique_messages, s.messages,
		       rc == 0 ? "true" : "false");
	else if (rc == 0)
		printf("verify: OK: %" PRIu64 " records, %" PRIu64 " messages in %" PRIu64 " mailboxes\n",
		       s.unique_messages, s.messages, s.mailboxes);
	else if (rc == 1)
		printf("verify: %u problem%s found\n", n, n == 1 ? "" : "s");
	else
		fprintf(stderr, "tjstore-cli: verify: %s\n", tj_strerror(rc));
	tj_store_close(&st);
	return rc == 0 ? EX_OK : EX_PROBLEM;
}

static void print_stats(const tj_store_stats *s)
{
	tj_buf b = TJ_BUF_INIT;
	if (tj_store_stats_format(s, json, &b) == 0)
		fwrite(b.data, 1, b.len, stdout);
	tj_buf_free(&b);
}

static int cmd_stats(int argc, char **argv)
{
	if (argc)
		return usage("stats takes no arguments");
	tj_store *st;
	int ex = open_store(&st);
	if (ex)
		return ex;
	tj_store_stats s;
	int rc = tj_store_stats_get(st, &s);
	if (rc)
		fprintf(stderr, "tjstore-cli: stats: %s\n", tj_strerror(rc));
	else
		print_stats(&s);
	tj_store_close(&st);
	return rc ? EX_PROBLEM : EX_OK;
}

static int cmd_compact(int argc, char **argv)
{
	double threshold = 0.5;
	int recompress = 1;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--threshold") == 0 && i + 1 < argc) {
			char *end;
			threshold = strtod(argv[++i], &end);
			if (*end || threshold < 0 || threshold > 1)
				return usage("compact: --threshold is a fraction from 0 to 1");
		} else if (strcmp(argv[i], "--no-recompress") == 0) {
			recompress = 0;
		} else {
			return usage("compact [--threshold F] [--no-recompress]");
		}
	}
	tj_store *st;
	int ex = open_store(&st);
	if (ex)
		return ex;
	tj_store_stats before, after;
	tj_store_stats_get(st, &before);
	uint64_t moved = 0;
	int rc = tj_store_compact(st, threshold, recompress, &moved);
	tj_store_stats_get(st, &after);
	if (rc)
		fprintf(stderr, "tjstore-cli: compact: %s\n", tj_strerror(rc));
	else if (json)
		printf("{\"moved_bytes\":%" PRIu64 ",\"stored_bytes_before\":%" PRIu64 ",\"stored_bytes_after\":%" PRIu64
		       ",\"segments_before\":%" PRIu64 ",\"segments_after\":%" PRIu64 "}\n",
		       moved, before.stored_bytes, after.stored_bytes, before.segments, after.segments);
	else
		printf("compact: moved %" PRIu64 " bytes; stored bytes %" PRIu64 " -> %" PRIu64 ", segments %" PRIu64
		       " -> %" PRIu64 "\n",
		       moved, before.stored_bytes, after.stored_bytes, before.segments, after.segments);
	tj_store_close(&st);
	return rc ? EX_PROBLEM : EX_OK;
}

static int cmd_dump(int argc, char **argv)
{
	if (argc)
		return usage("dump takes no arguments");
	tj_store *st;
	int ex = open_store(&st);
	if (ex)
		return ex;
	tj_buf b = TJ_BUF_INIT;
	int rc = tj_store_dump(st, &b);
	if (!rc)
		fwrite(b.data, 1, b.len, stdout);
	else
		fprintf(stderr, "tjstore-cli: dump: %s\n", tj_strerror(rc));
	tj_buf_free(&b);
	tj_store_close(&st);
	return rc ? EX_PROBLEM : EX_OK;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"data-dir", required_argument, NULL, 'd'},
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"passwd-file", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;
	/* options stop at the command word */
	while ((c = getopt_long(argc, argv, "+d:s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': data_dir = optarg; break;
		case 's': socket_path = optarg; break;
		case 'j': json = 1; break;
		case 'p': passwd_file = optarg; break;
		case 'h': fputs(usage_text, stdout); return EX_OK;
		default: return usage(NULL);
		}
	}
	if (data_dir && socket_path)
		return usage("give --data-dir or --socket, not both");
	if (optind >= argc)
		return usage("which command?");
	tj_log_set_level(getenv("TJ_LOG_LEVEL") ? (enum tj_log_level)tj_log_parse_level(getenv("TJ_LOG_LEVEL"))
						 : TJ_LOG_WARN);
	const char *cmd = argv[optind];
	int n = argc - optind - 1;
	char **args = argv + optind + 1;
	if (socket_path && (!strcmp(cmd, "status") || !strcmp(cmd, "stats"))) {
		if (n)
			return usage("status and stats take no arguments");
		tj_buf out = TJ_BUF_INIT;
		int status = 1;
		int rc = tj_admin_call(socket_path, strcmp(cmd, "stats") == 0 ? TJ_ADMIN_STATS : TJ_ADMIN_STATUS,
				       json ? TJ_ADMIN_JSON : 0, NULL, 0, 0, &out, &status);
		if (rc) {
			fprintf(stderr, "tjstore-cli: %s: %s (is tjstored running?)\n", socket_path, tj_strerror(rc));
			tj_buf_free(&out);
			return EX_PROBLEM;
		}
		fwrite(out.data, 1, out.len, stdout);
		tj_buf_free(&out);
		return status <= EX_USAGE ? status : EX_PROBLEM;
	}
	if (strcmp(cmd, "users") == 0)
		return cmd_users(n, args);
	if (strcmp(cmd, "import") == 0)
		return cmd_import(n, args);
	if (strcmp(cmd, "verify") == 0)
		return cmd_verify(n, args);
	if (strcmp(cmd, "compact") == 0)
		return cmd_compact(n, args);
	if (strcmp(cmd, "stats") == 0)
		return cmd_stats(n, args);
	if (strcmp(cmd, "dump") == 0)
		return cmd_dump(n, args);
	if (strcmp(cmd, "learn") == 0)
		return tj_cli_learn(n, args, data_dir, socket_path, json);
	if (!strcmp(cmd, "status") || !strcmp(cmd, "rebalance") || !strcmp(cmd, "restore")) {
		fprintf(stderr, "tjstore-cli: %s needs a running cluster node (--socket); not available in this build\n",
			cmd);
		return EX_USAGE;
	}
	return usage("unknown command");
}

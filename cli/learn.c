/*
 * learn.c - learning a mailbox into the Bayes classifier (see learn.h):
 * the loop over a mailbox by GUID, and `tjstore-cli learn`, which reads the
 * stopped node's store and writes <data_dir>/bayes/.
 */
#include "cli/learn.h"

#include "common/buf.h"
#include "common/err.h"
#include "node/admin/admin.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { EX_OK = 0, EX_PROBLEM = 1, EX_USAGE = 2 };

#define TJ_STR2(x) #x
#define TJ_STR(x) TJ_STR2(x)

struct msgref {
	uint32_t uid;
	uint8_t guid[TJ_GUID_LEN];
};

struct msglist {
	struct msgref *v;
	size_t n, cap;
};

static int list_msg(void *arg, const tj_msg_info *m)
{
	struct msglist *l = arg;
	if (l->n == l->cap && tj_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n].uid = m->uid;
	memcpy(l->v[l->n].guid, m->guid, TJ_GUID_LEN);
	l->n++;
	return 0;
}

static void problem(tj_learn_problem_fn *fn, void *arg, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(tj_learn_problem_fn *fn, void *arg, const char *fmt, ...)
{
	if (!fn)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fn(arg, buf);
}

/* learn_batch - read and learn list[0..n) */
static int learn_batch(tj_store *st, tj_bayes *b, const char *user, const char *mailbox, enum tj_bayes_class cls,
		       const struct msgref *list, size_t n, tj_learn_problem_fn *fn, void *arg,
		       struct tj_learn_result *res)
{
	tj_bayes_item items[TJ_LEARN_BATCH];
	tj_buf data[TJ_LEARN_BATCH];
	uint32_t uids[TJ_LEARN_BATCH];
	size_t ni = 0;
	tj_rtxn *r = NULL;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		enum tj_bayes_class was;
		int k = tj_bayes_is_learned(b, list[i].guid, &was);
		if (k == 0 && was == cls) {
			res->known++;
			continue;
		}
		if (k && k != TJ_ENOTFOUND) {
			rc = k;
			break;
		}
		if (!r && (rc = tj_rtxn_begin(st, &r)))
			break;
		tj_buf blank = TJ_BUF_INIT;
		data[ni] = blank;
		int g = tj_store_read(r, list[i].guid, 0, SIZE_MAX, &data[ni]);
		if (g) {
			problem(fn, arg, "%s/%s UID %" PRIu32 ": cannot read the message: %s", user, mailbox, list[i].uid,
				tj_strerror(g));
			res->skipped++;
			tj_buf_free(&data[ni]);
			if (g == -ENOMEM) /* not the message's fault */
				rc = g;
			continue;
		}
		items[ni] = (tj_bayes_item){.msg = data[ni].data ? data[ni].data : (const uint8_t *)"",
					    .len = data[ni].len, .id = list[i].guid, .cls = cls};
		uids[ni] = list[i].uid;
		ni++;
	}
	if (r)
		tj_rtxn_end(&r);
	if (!rc && ni) {
		rc = tj_bayes_learn_batch(b, items, ni);
		for (size_t i = 0; !rc && i < ni; i++) {
			if (items[i].rc == 0) {
				res->learned++;
			} else if (items[i].rc == 1) {
				res->known++;
			} else {
				res->skipped++;
				problem(fn, arg, "%s/%s UID %" PRIu32 ": cannot learn the message: %s", user, mailbox,
					uids[i], tj_strerror(items[i].rc));
			}
		}
	}
	for (size_t i = 0; i < ni; i++)
		tj_buf_free(&data[i]);
	return rc;
}

int tj_learn_mailbox(tj_store *st, tj_bayes *b, const char *user, const char *mailbox, enum tj_bayes_class cls,
		     tj_learn_problem_fn *fn, void *arg, struct tj_learn_result *res_r)
{
	memset(res_r, 0, sizeof(*res_r));
	tj_rtxn *r;
	tj_user_info u;
	tj_mbox_info mb;
	struct msglist l = {0};
	int rc = tj_rtxn_begin(st, &r);
	if (rc)
		return rc;
	rc = tj_store_user_get(r, user, &u);
	if (rc == TJ_ENOTFOUND)
		problem(fn, arg, "no user %s", user);
	if (!rc) {
		rc = tj_store_mbox_find(r, u.id, mailbox, &mb);
		if (rc == TJ_ENOTFOUND)
			problem(fn, arg, "user %s has no mailbox %s", user, mailbox);
	}
	if (!rc)
		rc = tj_store_msgs(r, mb.id, 1, UINT32_MAX, list_msg, &l);
	tj_rtxn_end(&r);
	for (size_t i = 0; !rc && i < l.n; i += TJ_LEARN_BATCH)
		rc = learn_batch(st, b, user, mailbox, cls, l.v + i, l.n - i < TJ_LEARN_BATCH ? l.n - i : TJ_LEARN_BATCH,
				 fn, arg, res_r);
	free(l.v);
	return rc;
}

/* ------------------------------------------------------- the command */

static const char learn_usage[] = "learn --spam|--ham USER [MAILBOX] | learn --stats";

static int usage(const char *msg)
{
	fprintf(stderr, "tjstore-cli: %s\nusage: tjstore-cli --data-dir DIR [--json] %s\n", msg, learn_usage);
	return EX_USAGE;
}

static void print_problem(void *arg, const char *p)
{
	(void)arg;
	fprintf(stderr, "tjstore-cli: learn: %s\n", p);
}

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int learn_stats(const char *dir, int json)
{
	tj_bayes *b = NULL;
	struct tj_bayes_stats s;
	memset(&s, 0, sizeof(s));
	int rc = tj_bayes_open(dir, true, &b);
	if (rc == -ENOENT) {
		rc = 0; /* nothing learned yet */
	} else if (!rc) {
		rc = tj_bayes_stats(b, &s);
		tj_bayes_close(&b);
	}
	if (rc) {
		fprintf(stderr, "tjstore-cli: learn --stats: %s: %s\n", dir, tj_strerror(rc));
		return EX_PROBLEM;
	}
	if (json)
		printf("{\"nspam\":%" PRIu64 ",\"nham\":%" PRIu64 ",\"ntokens\":%" PRIu64 ",\"ready\":%s,\"min_learned\":%d,"
		       "\"db_bytes\":%" PRIu64 "}\n",
		       s.nspam, s.nham, s.ntokens, s.ready ? "true" : "false", TJ_BAYES_MIN_LEARNED, s.db_bytes);
	else
		printf("spam %" PRIu64 "\nham %" PRIu64 "\ntokens %" PRIu64 "\nready %s (needs %d of each)\ndb_bytes %" PRIu64
		       "\n",
		       s.nspam, s.nham, s.ntokens, s.ready ? "yes" : "no", TJ_BAYES_MIN_LEARNED, s.db_bytes);
	return EX_OK;
}

/* learn_online - the same through a running node's admin socket: the node
 * learns through its background learner, beside IMAP's Junk moves */
static int learn_online(const char *socket_path, const char *what, const char *user, const char *mailbox, int json)
{
	tj_buf req = TJ_BUF_INIT, out = TJ_BUF_INIT;
	int status = EX_PROBLEM;
	int rc = tj_admin_learn_encode(&req, what, user ? user : "", mailbox ? mailbox : "");
	if (rc == TJ_EINVAL) {
		tj_buf_free(&req);
		return usage("learn: user or mailbox name too long");
	}
	if (!rc) /* a large mailbox takes a while: wait up to an hour */
		rc = tj_admin_call(socket_path, TJ_ADMIN_LEARN, json ? TJ_ADMIN_JSON : 0, req.data, req.len, 3600, &out,
				   &status);
	tj_buf_free(&req);
	if (rc) {
		fprintf(stderr, "tjstore-cli: %s: %s (is tjstored running?)\n", socket_path, tj_strerror(rc));
		tj_buf_free(&out);
		return EX_PROBLEM;
	}
	fwrite(out.data, 1, out.len, status ? stderr : stdout);
	tj_buf_free(&out);
	return status <= EX_USAGE ? status : EX_PROBLEM;
}

int tj_cli_learn(int argc, char **argv, const char *data_dir, const char *socket_path, int json)
{
	int spam = 0, ham = 0, stats = 0;
	const char *user = NULL, *mailbox = NULL;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--spam"))
			spam = 1;
		else if (!strcmp(a, "--ham"))
			ham = 1;
		else if (!strcmp(a, "--stats"))
			stats = 1;
		else if (a[0] == '-' && a[1])
			return usage("learn: unknown option");
		else if (!user)
			user = a;
		else if (!mailbox)
			mailbox = a;
		else
			return usage("learn: too many arguments");
	}
	if (stats && (spam || ham || user))
		return usage("learn --stats takes nothing else");
	if (!stats && spam + ham != 1)
		return usage("learn: give --spam or --ham (one of them)");
	if (!stats && !user)
		return usage("learn: which user?");
	if (socket_path)
		return learn_online(socket_path, stats ? "stats" : spam ? "spam" : "ham", user, mailbox, json);
	if (!data_dir)
		return usage("learn: give --data-dir DIR (the node's [node] data_dir)");
	char bdir[4096];
	if ((size_t)snprintf(bdir, sizeof(bdir), "%s/bayes", data_dir) >= sizeof(bdir))
		return usage("learn: --data-dir is too long");
	if (stats)
		return learn_stats(bdir, json);
	if (!mailbox)
		mailbox = spam ? "Junk" : "INBOX";
	if (tj_store_valid_user_name(user, strlen(user)))
		return usage("learn: a user name is 1-255 of a-z A-Z 0-9 . _ - @ +");
	if (tj_store_valid_mbox_name(mailbox, strlen(mailbox)))
		return usage("learn: invalid mailbox name");

	/* The store is only read, but opened as every offline command opens it
	 * (exclusive lock: refused beside a running tjstored): its read_only
	 * mode closes its database handles with the opening transaction. */
	tj_store_opts o;
	tj_store_opts_default(&o);
	tj_store *st;
	int rc = tj_store_open(data_dir, &o, &st);
	if (rc) {
		fprintf(stderr, "tjstore-cli: cannot open store %s: %s\n", data_dir, tj_strerror(rc));
		return EX_USAGE;
	}
	tj_bayes *b;
	if ((rc = tj_bayes_open(bdir, false, &b))) {
		fprintf(stderr, "tjstore-cli: learn: cannot open the Bayes database %s: %s\n", bdir, tj_strerror(rc));
		tj_store_close(&st);
		return EX_PROBLEM;
	}
	enum tj_bayes_class cls = spam ? TJ_BAYES_SPAM : TJ_BAYES_HAM;
	struct tj_learn_result res;
	rc = tj_learn_mailbox(st, b, user, mailbox, cls, print_problem, NULL, &res);
	struct tj_bayes_stats s;
	int src = tj_bayes_stats(b, &s);
	tj_bayes_close(&b);
	tj_store_close(&st);
	if (rc && rc != TJ_ENOTFOUND)
		fprintf(stderr, "tjstore-cli: learn: %s\n", tj_strerror(rc));
	if (rc == TJ_ENOTFOUND)
		return EX_PROBLEM; /* the problem has been printed */
	if (src)
		memset(&s, 0, sizeof(s));
	if (json) {
		printf("{\"user\":");
		json_str(user);
		printf(",\"mailbox\":");
		json_str(mailbox);
		printf(",\"class\":\"%s\",\"learned\":%" PRIu64 ",\"known\":%" PRIu64 ",\"skipped\":%" PRIu64
		       ",\"ok\":%s,\"nspam\":%" PRIu64 ",\"nham\":%" PRIu64 ",\"ready\":%s}\n",
		       spam ? "spam" : "ham", res.learned, res.known, res.skipped, rc || res.skipped ? "false" : "true",
		       s.nspam, s.nham, s.ready ? "true" : "false");
	} else {
		printf("learned %" PRIu64 ", already known %" PRIu64 ", skipped %" PRIu64 "\n", res.learned, res.known,
		       res.skipped);
		printf("database: %" PRIu64 " spam, %" PRIu64 " ham, %" PRIu64 " tokens%s\n", s.nspam, s.nham, s.ntokens,
		       s.ready ? "" : " (classification needs " TJ_STR(TJ_BAYES_MIN_LEARNED) " of each)");
	}
	return rc || res.skipped ? EX_PROBLEM : EX_OK;
}

/*
 * cmd-list.c - LIST (RFC 3501, LIST-EXTENDED, SPECIAL-USE, LIST-STATUS)
 * and LSUB.
 *
 * The user's mailboxes are read in one snapshot; parents that do not exist
 * are added as \Noselect entries, so "%" walks the hierarchy.  Names are
 * matched in their wire form (mUTF-7) against the wire pattern.
 */
#include "node/imap/imap-private.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/imap/imap-list.h"
#include "protocol/imap/imap-mailbox.h"
#include "protocol/imap/imap-status.h"
#include "protocol/imap/imap-utf7.h"
#include "protocol/imap/imap-write.h"

struct list_ent {
	char *name;     /* UTF-8, NUL-terminated */
	size_t len;
	uint64_t id;    /* 0: does not exist */
	uint32_t special_use;
	bool children;
	bool subscribed;
};

struct list_set {
	struct list_ent *v;
	size_t n, cap;
	int err;
};

static int ent_add(struct list_set *l, const uint8_t *name, size_t len, uint64_t id, uint32_t su)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 32;
		struct list_ent *v = realloc(l->v, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	char *c = strndup((const char *)name, len);
	if (!c)
		return -ENOMEM;
	l->v[l->n++] = (struct list_ent){c, len, id, su, false, false};
	return 0;
}

static void set_free(struct list_set *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

static int ent_cmp(const void *a, const void *b)
{
	const struct list_ent *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	/* existing before virtual, so dedupe keeps the real one */
	return c ? c : (x->id == 0) - (y->id == 0);
}

static struct list_ent *ent_find(struct list_set *l, const char *name)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].name, name);
		if (c == 0)
			return &l->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int mbox_fn(void *arg, const tj_mbox_info *m)
{
	return ent_add(arg, m->name.ptr, m->name.len, m->id, m->special_use);
}

static int subs_fn(void *arg, tj_slice name)
{
	return ent_add(arg, name.ptr, name.len, 0, 0);
}

/* build - every mailbox plus missing parents, sorted, unique, with children
 * marked */
static int build(tj_rtxn *r, uint32_t user, struct list_set *l)
{
	int rc = tj_store_mboxes(r, user, mbox_fn, l);
	size_t real = l->n;
	for (size_t i = 0; !rc && i < real; i++)
		for (size_t k = 1; !rc && k < l->v[i].len; k++)
			if (l->v[i].name[k] == '/')
				rc = ent_add(l, (const uint8_t *)l->v[i].name, k, 0, 0);
	if (rc || l->n == 0)
		return rc;
	qsort(l->v, l->n, sizeof(*l->v), ent_cmp);
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (w && strcmp(l->v[w - 1].name, l->v[i].name) == 0) {
			free(l->v[i].name);
			continue;
		}
		l->v[w++] = l->v[i];
	}
	l->n = w;
	for (size_t i = 0; i < l->n; i++) {
		const char *slash = strrchr(l->v[i].name, '/');
		if (!slash)
			continue;
		char *parent = strndup(l->v[i].name, (size_t)(slash - l->v[i].name));
		if (!parent)
			return -ENOMEM;
		struct list_ent *p = ent_find(l, parent);
		free(parent);
		if (p)
			p->children = true;
	}
	return 0;
}

static const struct {
	uint32_t bit;
	const char *name;
} su_names[] = {
	{TJ_SU_ALL, "\\All"},     {TJ_SU_ARCHIVE, "\\Archive"}, {TJ_SU_DRAFTS, "\\Drafts"},
	{TJ_SU_FLAGGED, "\\Flagged"}, {TJ_SU_JUNK, "\\Junk"},   {TJ_SU_SENT, "\\Sent"},
	{TJ_SU_TRASH, "\\Trash"},
};

static bool matches(const struct imap_list *l, const tj_buf *pats, const size_t *pat_off, const char *wire,
		    size_t wlen)
{
	for (size_t p = 0; p < l->pattern_count; p++)
		if (imap_mailbox_match((const char *)pats->data + pat_off[p], pat_off[p + 1] - pat_off[p], wire, wlen,
				       IMAP_MAILBOX_DELIM))
			return true;
	return false;
}

static void list_run(imap_session *s, const struct imap_command *cmd, bool lsub)
{
	struct imap_list l;
	const char *err = NULL;
	if (imap_list_parse(&l, cmd->args, cmd->argc, lsub, &err)) {
		imap_bad(s, cmd, err ? err : "Invalid LIST arguments.");
		return;
	}
	const char *verb = lsub ? "LSUB" : "LIST";
	/* LIST "" "": the delimiter and root */
	if (!l.extended && l.pattern_count == 1 && l.patterns[0].len == 0) {
		if (!lsub)
			imap_printf(s, "* LIST (\\Noselect) \"/\" \"\"\r\n");
		imap_tagged(s, cmd, "OK", "%s completed.", verb);
		return;
	}
	tj_buf pats = TJ_BUF_INIT, wire = TJ_BUF_INIT;
	size_t pat_off[IMAP_LIST_MAX_PATTERNS + 1];
	int rc = 0;
	for (size_t p = 0; !rc && p < l.pattern_count; p++) {
		pat_off[p] = pats.len;
		rc = imap_list_join((const char *)l.reference.ptr, l.reference.len, (const char *)l.patterns[p].ptr,
				    l.patterns[p].len, IMAP_MAILBOX_DELIM, &pats);
	}
	pat_off[l.pattern_count] = pats.len;

	struct list_set set = {0};
	tj_rtxn *r = NULL;
	bool want_subs = lsub || (l.select_opts & IMAP_LIST_SEL_SUBSCRIBED) || (l.return_opts & IMAP_LIST_RET_SUBSCRIBED);
	if (!rc)
		rc = tj_rtxn_begin(s->cfg.store, &r);
	if (!rc)
		rc = lsub ? tj_store_subscriptions(r, s->user_id, subs_fn, &set) : build(r, s->user_id, &set);
	if (!rc && lsub) {
		if (set.n)
			qsort(set.v, set.n, sizeof(*set.v), ent_cmp);
		for (size_t i = 0; i < set.n; i++) {
			tj_mbox_info m;
			if (tj_store_mbox_find(r, s->user_id, set.v[i].name, &m) == 0)
				set.v[i].id = m.id;
			set.v[i].subscribed = true;
		}
	} else if (!rc && want_subs) {
		for (size_t i = 0; i < set.n; i++)
			set.v[i].subscribed = tj_store_is_subscribed(r, s->user_id, set.v[i].name) == 1;
	}
	for (size_t i = 0; !rc && i < set.n; i++) {
		struct list_ent *e = &set.v[i];
		tj_buf_reset(&wire);
		if (imap_utf8_to_utf7(e->name, e->len, &wire))
			continue;
		if (!matches(&l, &pats, pat_off, (const char *)wire.data, wire.len))
			continue;
		if (!lsub && (l.select_opts & IMAP_LIST_SEL_SUBSCRIBED) && !e->subscribed)
			continue;
		if (!lsub && (l.select_opts & IMAP_LIST_SEL_SPECIAL_USE) && !e->special_use)
			continue;
		imap_printf(s, "* %s (", verb);
		const char *sep = "";
		if (e->id == 0) {
			imap_printf(s, "\\Noselect");
			sep = " ";
		}
		if (!lsub) {
			imap_printf(s, "%s%s", sep, e->children ? "\\HasChildren" : "\\HasNoChildren");
			sep = " ";
			if (e->subscribed && (l.select_opts & IMAP_LIST_SEL_SUBSCRIBED || l.return_opts & IMAP_LIST_RET_SUBSCRIBED))
				imap_printf(s, " \\Subscribed");
			for (size_t k = 0; k < sizeof(su_names) / sizeof(su_names[0]); k++)
				if (e->special_use & su_names[k].bit)
					imap_printf(s, " %s", su_names[k].name);
		}
		imap_printf(s, ") \"/\" ");
		imap_write_astring(&s->out, wire.data, wire.len, 0);
		imap_printf(s, "\r\n");
		if (!lsub && (l.return_opts & IMAP_LIST_RET_STATUS) && e->id) {
			tj_mbox_info m;
			if (tj_store_mbox_get(r, e->id, &m) == 0)
				imap_status_write(s, &m, l.status_items);
		}
	}
	tj_rtxn_end(&r);
	set_free(&set);
	tj_buf_free(&pats);
	tj_buf_free(&wire);
	if (rc)
		imap_store_error(s, cmd, rc, NULL);
	else
		imap_tagged(s, cmd, "OK", "%s completed.", verb);
}

void cmd_list(imap_session *s, const struct imap_command *cmd)
{
	list_run(s, cmd, false);
}

void cmd_lsub(imap_session *s, const struct imap_command *cmd)
{
	list_run(s, cmd, true);
}

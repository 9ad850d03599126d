/*
 * users-sync.c - the directory sync as pure functions: the group -> quota
 * table, the directory's users (largest quota of their groups), an LDIF
 * parser and its group/member mapping, and the plan (create, enable,
 * set-quota, disable, keep, refuse) against the local users.  No I/O: the
 * CLI reads files and the store; ldap-source.c talks to the server.
 */
#include "cli/users-sync.h"
#include "common/base64.h"
#include "common/err.h"
#include "store/op.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- group table ---- */

int tj_sync_group_find(const tj_sync_groups *g, const char *name, size_t len)
{
	for (size_t i = 0; i < g->n; i++)
		if (strlen(g->v[i].name) == len && strncasecmp(g->v[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

int tj_sync_groups_parse(const char *spec, tj_sync_groups *g, char *err, size_t errsz)
{
	const char *p = spec;
	if (!*p) {
		snprintf(err, errsz, "--groups: empty (want GROUP=QUOTA[,GROUP=QUOTA...])");
		return TJ_EINVAL;
	}
	while (*p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		if (!eq || eq == p) {
			snprintf(err, errsz, "--groups: '%.*s' is not GROUP=QUOTA", (int)(n > 80 ? 80 : n), p);
			return TJ_EINVAL;
		}
		size_t gl = (size_t)(eq - p);
		if (gl > TJ_SYNC_GROUP_NAME_MAX) {
			snprintf(err, errsz, "--groups: group name longer than %d bytes", TJ_SYNC_GROUP_NAME_MAX);
			return TJ_EINVAL;
		}
		for (size_t i = 0; i < gl; i++)
			if ((unsigned char)p[i] < 0x20) {
				snprintf(err, errsz, "--groups: control character in a group name");
				return TJ_EINVAL;
			}
		const char *q = eq + 1;
		size_t ql = n - gl - 1;
		uint64_t v = 0;
		int ok = ql > 0 && ql <= 10;
		for (size_t i = 0; ok && i < ql; i++) {
			ok = q[i] >= '0' && q[i] <= '9';
			v = v * 10 + (uint64_t)(q[i] - '0');
		}
		if (!ok || v > TJ_USERS_QUOTA_MAX) {
			snprintf(err, errsz, "--groups: quota '%.*s' of group %.*s is not a whole number from 0 to %llu",
				 (int)(ql > 20 ? 20 : ql), q, (int)(gl > 80 ? 80 : gl), p,
				 (unsigned long long)TJ_USERS_QUOTA_MAX);
			return TJ_EINVAL;
		}
		if (tj_sync_group_find(g, p, gl) >= 0) {
			snprintf(err, errsz, "--groups: group %.*s given twice", (int)(gl > 80 ? 80 : gl), p);
			return TJ_EINVAL;
		}
		if (g->n == TJ_SYNC_MAX_GROUPS) {
			snprintf(err, errsz, "--groups: more than %d groups", TJ_SYNC_MAX_GROUPS);
			return TJ_EINVAL;
		}
		tj_sync_group *e = &g->v[g->n++];
		memset(e, 0, sizeof(*e));
		memcpy(e->name, p, gl);
		e->quota = v;
		p += n;
		if (*p == ',') {
			p++;
			if (!*p) {
				snprintf(err, errsz, "--groups: trailing comma");
				return TJ_EINVAL;
			}
		}
	}
	return 0;
}

/* ---- directory users ---- */

int tj_sync_dir_add(tj_sync_dir *d, const tj_sync_groups *g, int gi, const char *user, size_t len)
{
	if (gi < 0 || (size_t)gi >= g->n)
		return TJ_EINVAL;
	char low[TJ_USERS_NAME_MAX + 1];
	if (len == 0 || len > TJ_USERS_NAME_MAX)
		return TJ_EINVAL;
	for (size_t i = 0; i < len; i++)
		low[i] = (char)((user[i] >= 'A' && user[i] <= 'Z') ? user[i] + 32 : user[i]);
	low[len] = 0;
	if (tj_users_check_name(low, len, NULL))
		return TJ_EINVAL;
	if (d->n == TJ_SYNC_MAX_MEMBERS)
		return TJ_ETOOBIG;
	if (d->n == d->cap && tj_grow(&d->v, &d->cap, d->n + 1, sizeof(*d->v)))
		return -ENOMEM;
	tj_sync_duser *u = &d->v[d->n++];
	memcpy(u->name, low, len + 1);
	u->quota = g->v[gi].quota;
	u->group = gi;
	return 0;
}

static int cmp_duser(const void *a, const void *b)
{
	const tj_sync_duser *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	/* the winner first: largest quota, then the group named first */
	if (x->quota != y->quota)
		return x->quota > y->quota ? -1 : 1;
	return x->group - y->group;
}

void tj_sync_dir_finish(tj_sync_dir *d, const tj_sync_groups *g)
{
	(void)g;
	if (d->n < 2)
		return;
	qsort(d->v, d->n, sizeof(*d->v), cmp_duser);
	size_t w = 1;
	for (size_t i = 1; i < d->n; i++)
		if (strcmp(d->v[i].name, d->v[w - 1].name) != 0)
			d->v[w++] = d->v[i];
	d->n = w;
}

void tj_sync_dir_free(tj_sync_dir *d)
{
	free(d->v);
	memset(d, 0, sizeof(*d));
}

void tj_dir_attrs_default(tj_dir_attrs *a)
{
	a->user_attr = TJ_DIR_USER_ATTR;
	a->group_attr = TJ_DIR_GROUP_ATTR;
	a->member_attrs = TJ_DIR_MEMBER_ATTRS;
	a->group_filter = TJ_DIR_GROUP_FILTER;
	a->user_filter = TJ_DIR_USER_FILTER;
}

int tj_dir_attr_in_list(const char *list, const char *attr, size_t len)
{
	const char *semi = memchr(attr, ';', len);
	if (semi)
		len = (size_t)(semi - attr);
	const char *p = list;
	while (p && *p) {
		const char *c = strchr(p, ',');
		size_t n = c ? (size_t)(c - p) : strlen(p);
		if (n == len && strncasecmp(p, attr, len) == 0)
			return 1;
		p = c ? c + 1 : NULL;
	}
	return 0;
}

static void warnf(tj_buf *warn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warnf(tj_buf *warn, const char *fmt, ...)
{
	if (!warn)
		return;
	va_list ap;
	va_start(ap, fmt);
	tj_buf_puts(warn, "warning: ");
	tj_buf_vprintf(warn, fmt, ap);
	tj_buf_putc(warn, '\n');
	va_end(ap);
}

/* printable - a short, printable copy of untrusted text for messages */
static const char *printable(char *out, size_t outsz, const char *s, size_t len)
{
	size_t o = 0;
	for (size_t i = 0; i < len && o + 4 < outsz; i++)
		out[o++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (o + 4 >= outsz && len > o) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = 0;
	return out;
}

int tj_sync_add_member(tj_sync_dir *d, const tj_sync_groups *g, int gi, const char *value, size_t len,
		       tj_dn_resolve_fn *fn, void *arg, tj_buf *warn)
{
	char pv[128];
	char name[TJ_USERS_NAME_MAX + 1];
	const char *user = value;
	size_t ulen = len;
	if (memchr(value, '=', len)) {
		if (len > TJ_DN_MAX || memchr(value, 0, len)) {
			warnf(warn, "group %s: member DN '%s' is too long or malformed; skipped", g->v[gi].name,
			      printable(pv, sizeof(pv), value, len));
			return 0;
		}
		char dn[TJ_DN_MAX + 1];
		memcpy(dn, value, len);
		dn[len] = 0;
		int rc = fn ? fn(arg, dn, name, sizeof(name)) : TJ_ENOTFOUND;
		if (rc == TJ_ENOTFOUND) {
			warnf(warn, "group %s: member %s is not a user entry (or has no user name); skipped",
			      g->v[gi].name, printable(pv, sizeof(pv), value, len));
			return 0;
		}
		if (rc)
			return rc;
		user = name;
		ulen = strlen(name);
	}
	int rc = tj_sync_dir_add(d, g, gi, user, ulen);
	if (rc == TJ_EINVAL) {
		warnf(warn, "group %s: '%s' is not a valid mail user name (a-z 0-9 . _ - @ +); skipped", g->v[gi].name,
		      printable(pv, sizeof(pv), user, ulen));
		return 0;
	}
	return rc;
}

/* ---- LDIF ---- */

static void ldif_err(char *err, size_t errsz, unsigned line, const char *msg)
{
	if (err && errsz)
		snprintf(err, errsz, "line %u: %s", line, msg);
}

void tj_ldif_free(tj_ldif *l)
{
	for (size_t i = 0; i < l->n; i++) {
		tj_ldif_entry *e = &l->e[i];
		free(e->dn);
		for (size_t j = 0; j < e->n; j++) {
			free(e->v[j].attr);
			free(e->v[j].val);
		}
		free(e->v);
	}
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static int b64_decode(const char *s, size_t n, tj_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i = 0;
	for (; i < n && s[i] != '='; i++) {
		int v = tj_b64_value((uint8_t)s[i], '/');
		if (v < 0)
			return TJ_EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			int rc = tj_buf_putc(out, (uint8_t)(acc >> bits));
			if (rc)
				return rc;
		}
	}
	for (; i < n; i++)
		if (s[i] != '=')
			return TJ_EINVAL;
	return 0;
}

/* one logical (unfolded) line "attr: value" into the current entry */
static int ldif_line(tj_ldif *l, int *in_entry, const char *p, size_t n, unsigned line, char *err, size_t errsz)
{
	const char *colon = memchr(p, ':', n);
	if (!colon || colon == p) {
		ldif_err(err, errsz, line, "not 'attribute: value'");
		return TJ_EINVAL;
	}
	size_t an = (size_t)(colon - p);
	for (size_t i = 0; i < an; i++)
		if (!(isalnum((unsigned char)p[i]) || p[i] == '-' || p[i] == ';' || p[i] == '.' || p[i] == '=')) {
			ldif_err(err, errsz, line, "bad attribute name");
			return TJ_EINVAL;
		}
	const char *v = colon + 1;
	size_t vn = n - an - 1;
	int b64 = 0;
	if (vn && *v == ':') {
		b64 = 1;
		v++;
		vn--;
	} else if (vn && *v == '<') {
		ldif_err(err, errsz, line, "URL values (':<') are not supported; export the values inline");
		return TJ_EINVAL;
	}
	while (vn && *v == ' ') {
		v++;
		vn--;
	}
	tj_buf val = TJ_BUF_INIT;
	int rc = b64 ? b64_decode(v, vn, &val) : tj_buf_append(&val, v, vn);
	if (!rc && !val.data) { /* an empty value: still a NUL-terminated string */
		rc = tj_buf_putc(&val, 0);
		val.len = 0;
	}
	if (rc) {
		tj_buf_free(&val);
		if (rc == TJ_EINVAL)
			ldif_err(err, errsz, line, "bad base64 value");
		return rc;
	}
	if (!*in_entry) {
		if (an == 7 && strncasecmp(p, "version", 7) == 0 && l->n == 0) {
			tj_buf_free(&val);
			return 0;
		}
		if (!(an == 2 && strncasecmp(p, "dn", 2) == 0)) {
			tj_buf_free(&val);
			ldif_err(err, errsz, line, "a record must start with dn:");
			return TJ_EINVAL;
		}
		if (l->n == TJ_LDIF_MAX_ENTRIES) {
			tj_buf_free(&val);
			ldif_err(err, errsz, line, "too many entries");
			return TJ_EINVAL;
		}
		if (l->n == l->cap && tj_grow(&l->e, &l->cap, l->n + 1, sizeof(*l->e))) {
			tj_buf_free(&val);
			return -ENOMEM;
		}
		tj_ldif_entry *e = &l->e[l->n++];
		memset(e, 0, sizeof(*e));
		e->dn = (char *)tj_buf_steal(&val, NULL);
		e->line = line;
		*in_entry = 1;
		return 0;
	}
	tj_ldif_entry *e = &l->e[l->n - 1];
	if (an == 10 && strncasecmp(p, "changetype", 10) == 0) {
		tj_buf_free(&val);
		ldif_err(err, errsz, line,
			 "change records are not supported; export entries (slapcat, ldapsearch -LLL, ldifde)");
		return TJ_EINVAL;
	}
	if (e->n == e->cap && tj_grow(&e->v, &e->cap, e->n + 1, sizeof(*e->v))) {
		tj_buf_free(&val);
		return -ENOMEM;
	}
	char *attr = strndup(p, an);
	if (!attr) {
		tj_buf_free(&val);
		return -ENOMEM;
	}
	tj_ldif_val *x = &e->v[e->n++];
	x->attr = attr;
	x->len = val.len;
	x->val = (char *)tj_buf_steal(&val, NULL);
	return 0;
}

int tj_ldif_parse(const uint8_t *buf, size_t len, tj_ldif *l_r, char *err, size_t errsz)
{
	memset(l_r, 0, sizeof(*l_r));
	if (err && errsz)
		err[0] = 0;
	tj_buf cur = TJ_BUF_INIT; /* the logical line being unfolded */
	unsigned cur_line = 0, line = 0;
	int have = 0, comment = 0, in_entry = 0, rc = 0;
	size_t pos = 0;
	while (!rc) {
		const char *p = NULL;
		size_t n = 0;
		int eof = pos >= len;
		if (!eof) {
			line++;
			const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
			size_t end = nl ? (size_t)(nl - buf) : len;
			p = (const char *)buf + pos;
			n = end - pos;
			pos = nl ? end + 1 : len;
			if (n && p[n - 1] == '\r')
				n--;
		}
		if (!eof && n && p[0] == ' ') { /* continuation */
			if (comment)
				continue;
			if (!have) {
				ldif_err(err, errsz, line, "continuation line with nothing to continue");
				rc = TJ_EINVAL;
				break;
			}
			if (cur.len + n > TJ_LDIF_MAX_LINE) {
				ldif_err(err, errsz, cur_line, "line too long");
				rc = TJ_EINVAL;
				break;
			}
			rc = tj_buf_append(&cur, p + 1, n - 1);
			continue;
		}
		/* the previous logical line is complete */
		if (have) {
			rc = ldif_line(l_r, &in_entry, (const char *)cur.data, cur.len, cur_line, err, errsz);
			have = 0;
			tj_buf_reset(&cur);
			if (rc)
				break;
		}
		comment = 0;
		if (eof)
			break;
		if (n == 0) {
			in_entry = 0;
			continue;
		}
		if (p[0] == '#') {
			comment = 1;
			continue;
		}
		if (n > TJ_LDIF_MAX_LINE) {
			ldif_err(err, errsz, line, "line too long");
			rc = TJ_EINVAL;
			break;
		}
		if (memchr(p, 0, n)) {
			ldif_err(err, errsz, line, "NUL byte");
			rc = TJ_EINVAL;
			break;
		}
		rc = tj_buf_append(&cur, p, n);
		have = 1;
		cur_line = line;
	}
	tj_buf_free(&cur);
	return rc;
}

void tj_dn_normalize(const char *dn, char *out, size_t outsz)
{
	size_t o = 0;
	if (!outsz)
		return;
	for (size_t i = 0; dn[i] && o + 1 < outsz; i++) {
		char c = dn[i];
		if (c == ' ') {
			/* drop spaces next to separators and at the ends */
			size_t j = i;
			while (dn[j] == ' ')
				j++;
			if (o == 0 || !dn[j] || dn[j] == ',' || dn[j] == '=' || dn[j] == '+' || out[o - 1] == ',' ||
			    out[o - 1] == '=' || out[o - 1] == '+') {
				i = j - 1;
				continue;
			}
		}
		out[o++] = (char)tolower((unsigned char)c);
	}
	out[o] = 0;
}

struct dn_index {
	char *ndn;
	size_t entry;
};

static int cmp_dn_index(const void *a, const void *b)
{
	return strcmp(((const struct dn_index *)a)->ndn, ((const struct dn_index *)b)->ndn);
}

struct ldif_resolver {
	const tj_ldif *l;
	const tj_dir_attrs *a;
	struct dn_index *idx;
	size_t n;
};

static int ldif_resolve(void *arg, const char *dn, char *name_r, size_t namesz)
{
	struct ldif_resolver *r = arg;
	char ndn[TJ_DN_MAX + 1];
	tj_dn_normalize(dn, ndn, sizeof(ndn));
	struct dn_index key = {ndn, 0};
	struct dn_index *hit = bsearch(&key, r->idx, r->n, sizeof(*r->idx), cmp_dn_index);
	if (!hit)
		return TJ_ENOTFOUND;
	const tj_ldif_entry *e = &r->l->e[hit->entry];
	for (size_t i = 0; i < e->n; i++)
		if (tj_dir_attr_in_list(r->a->user_attr, e->v[i].attr, strlen(e->v[i].attr))) {
			if (e->v[i].len + 1 > namesz || memchr(e->v[i].val, 0, e->v[i].len))
				return TJ_ENOTFOUND;
			memcpy(name_r, e->v[i].val, e->v[i].len + 1);
			return 0;
		}
	return TJ_ENOTFOUND;
}

static int is_group_entry(const tj_ldif_entry *e)
{
	static const char *const classes[] = {"group", "groupOfNames", "groupOfUniqueNames", "posixGroup"};
	for (size_t i = 0; i < e->n; i++) {
		if (strcasecmp(e->v[i].attr, "objectClass") != 0)
			continue;
		for (size_t k = 0; k < sizeof(classes) / sizeof(classes[0]); k++)
			if (strcasecmp(e->v[i].val, classes[k]) == 0)
				return 1;
	}
	return 0;
}

int tj_sync_from_ldif(const tj_ldif *l, const tj_dir_attrs *a, tj_sync_groups *g, tj_sync_dir *d, tj_buf *warn)
{
	struct ldif_resolver r = {l, a, NULL, 0};
	int rc = 0;
	if (l->n) {
		r.idx = calloc(l->n, sizeof(*r.idx));
		if (!r.idx)
			return -ENOMEM;
	}
	for (size_t i = 0; i < l->n; i++) {
		size_t dl = strlen(l->e[i].dn);
		r.idx[i].ndn = malloc(dl + 1);
		if (!r.idx[i].ndn) {
			rc = -ENOMEM;
			r.n = i;
			goto out;
		}
		tj_dn_normalize(l->e[i].dn, r.idx[i].ndn, dl + 1);
		r.idx[i].entry = i;
	}
	r.n = l->n;
	qsort(r.idx, r.n, sizeof(*r.idx), cmp_dn_index);
	for (size_t i = 0; i < l->n && !rc; i++) {
		const tj_ldif_entry *e = &l->e[i];
		if (!is_group_entry(e))
			continue;
		int gi = -1;
		for (size_t k = 0; k < e->n && gi < 0; k++)
			if (tj_dir_attr_in_list(a->group_attr, e->v[k].attr, strlen(e->v[k].attr)))
				gi = tj_sync_group_find(g, e->v[k].val, e->v[k].len);
		if (gi < 0)
			continue;
		g->v[gi].found = 1;
		for (size_t k = 0; k < e->n && !rc; k++)
			if (tj_dir_attr_in_list(a->member_attrs, e->v[k].attr, strlen(e->v[k].attr)))
				rc = tj_sync_add_member(d, g, gi, e->v[k].val, e->v[k].len, ldif_resolve, &r, warn);
	}
out:
	for (size_t i = 0; i < r.n; i++)
		free(r.idx[i].ndn);
	free(r.idx);
	if (!rc)
		tj_sync_dir_finish(d, g);
	return rc;
}

/* ---- the plan ---- */

static int plan_push(tj_sync_plan *p, const tj_sync_action *a)
{
	if (p->n == p->cap && tj_grow(&p->v, &p->cap, p->n + 1, sizeof(*p->v)))
		return -ENOMEM;
	p->v[p->n++] = *a;
	if (a->kind == TJ_SYNC_REFUSE)
		p->refused++;
	else if (a->kind != TJ_SYNC_KEEP)
		p->changes++;
	return 0;
}

static int cmp_local_ptr(const void *a, const void *b)
{
	return strcmp((*(tj_sync_local *const *)a)->name, (*(tj_sync_local *const *)b)->name);
}

static int cmp_local_id(const void *a, const void *b)
{
	uint32_t x = (*(tj_sync_local *const *)a)->id, y = (*(tj_sync_local *const *)b)->id;
	return x < y ? -1 : x > y;
}

void tj_sync_plan_free(tj_sync_plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

int tj_sync_plan_make(const tj_sync_dir *d, const tj_sync_groups *g, const tj_sync_local *local, size_t nlocal,
		      tj_user_id_fn *id_fn, uint32_t milli, tj_sync_plan *p_r)
{
	memset(p_r, 0, sizeof(*p_r));
	const tj_sync_local **byname = NULL, **byid = NULL;
	if (nlocal) {
		byname = malloc(nlocal * sizeof(*byname));
		byid = malloc(nlocal * sizeof(*byid));
		if (!byname || !byid) {
			free(byname);
			free(byid);
			return -ENOMEM;
		}
		for (size_t i = 0; i < nlocal; i++)
			byname[i] = byid[i] = &local[i];
		qsort(byname, nlocal, sizeof(*byname), cmp_local_ptr);
		qsort(byid, nlocal, sizeof(*byid), cmp_local_id);
	}
	int rc = 0;
	size_t i = 0, j = 0; /* merge: directory users (sorted) and local users by name */
	while (!rc && (i < d->n || j < nlocal)) {
		int c = i >= d->n ? 1 : j >= nlocal ? -1 : strcmp(d->v[i].name, byname[j]->name);
		tj_sync_action a;
		memset(&a, 0, sizeof(a));
		if (c < 0) { /* only in the directory: create, unless its id is taken */
			const tj_sync_duser *u = &d->v[i++];
			snprintf(a.name, sizeof(a.name), "%s", u->name);
			a.group = g->v[u->group].name;
			a.new_quota = u->quota;
			a.kind = TJ_SYNC_CREATE;
			if (id_fn && nlocal) {
				tj_sync_local key = {.id = id_fn(u->name)};
				const tj_sync_local *kp = &key;
				const tj_sync_local **hit = bsearch(&kp, byid, nlocal, sizeof(*byid), cmp_local_id);
				if (hit) {
					a.kind = TJ_SYNC_REFUSE;
					snprintf(a.other, sizeof(a.other), "%s", (*hit)->name);
				}
			}
			if (a.kind == TJ_SYNC_CREATE && (rc = tj_users_quota_bytes(a.new_quota, milli, &a.new_bytes)))
				break;
			rc = plan_push(p_r, &a);
			continue;
		}
		const tj_sync_local *l = byname[j++];
		snprintf(a.name, sizeof(a.name), "%s", l->name);
		const tj_sync_duser *u = c == 0 ? &d->v[i++] : NULL;
		if (u)
			a.group = g->v[u->group].name;
		if (l->source != TJ_SOURCE_LDAP) {
			a.kind = TJ_SYNC_KEEP;
			rc = plan_push(p_r, &a);
			continue;
		}
		if (!u) {
			if (l->state != TJ_USER_DISABLED) {
				a.kind = TJ_SYNC_DISABLE;
				rc = plan_push(p_r, &a);
			}
			continue;
		}
		if (l->state == TJ_USER_DISABLED) {
			a.kind = TJ_SYNC_ENABLE;
			if ((rc = plan_push(p_r, &a)))
				break;
		}
		uint64_t want;
		if ((rc = tj_users_quota_bytes(u->quota, milli, &want)))
			break;
		if (l->quota_base != u->quota || l->quota_bytes != want) {
			a.kind = TJ_SYNC_SET_QUOTA;
			a.old_quota = l->quota_base;
			a.new_quota = u->quota;
			a.old_bytes = l->quota_bytes;
			a.new_bytes = want;
			rc = plan_push(p_r, &a);
		}
	}
	free(byname);
	free(byid);
	if (rc)
		tj_sync_plan_free(p_r);
	return rc;
}

int tj_sync_action_format(const tj_sync_action *a, int done, tj_buf *out)
{
	const char *grp = a->group ? a->group : "";
	switch (a->kind) {
	case TJ_SYNC_CREATE:
		return tj_buf_printf(out, "%s %s quota %llu (ldap, group %s)", done ? "created" : "create", a->name,
				     (unsigned long long)a->new_quota, grp);
	case TJ_SYNC_ENABLE:
		return tj_buf_printf(out, "%s %s (ldap, group %s)", done ? "enabled" : "enable", a->name, grp);
	case TJ_SYNC_SET_QUOTA:
		if (a->old_quota == a->new_quota)
			return tj_buf_printf(out, "%s %s %llu -> %llu (ldap, group %s; bytes %llu -> %llu)",
					     done ? "set quota" : "set-quota", a->name,
					     (unsigned long long)a->old_quota, (unsigned long long)a->new_quota, grp,
					     (unsigned long long)a->old_bytes, (unsigned long long)a->new_bytes);
		return tj_buf_printf(out, "%s %s %llu -> %llu (ldap, group %s)", done ? "set quota" : "set-quota",
				     a->name, (unsigned long long)a->old_quota, (unsigned long long)a->new_quota, grp);
	case TJ_SYNC_DISABLE:
		return tj_buf_printf(out, "%s %s (ldap, in no mail group)", done ? "disabled" : "disable", a->name);
	case TJ_SYNC_KEEP:
		if (a->group)
			return tj_buf_printf(out, "keep %s (override; in group %s)", a->name, grp);
		return tj_buf_printf(out, "keep %s (override)", a->name);
	case TJ_SYNC_REFUSE:
		return tj_buf_printf(out, "refuse %s: its id is taken by user %s (hash collision); not created",
				     a->name, a->other);
	}
	return TJ_EINVAL;
}

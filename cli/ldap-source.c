/*
 * ldap-source.c - the directory side of the sync from an LDAP server through
 * libldap: connect, StartTLS, simple bind, search the mail groups, resolve
 * member DNs to user names.  The mapping rules live in users-sync.c
 * (tj_sync_add_member); this file is only the protocol.
 */
#define LDAP_DEPRECATED 0
#include "cli/ldap-source.h"
#include "common/err.h"

#include <errno.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#define TJ_LDAP_FILTER_MAX 65536 /* bytes in the group search filter */
#define TJ_LDAP_RANGE_ROUNDS 10000 /* ranged-retrieval requests for one group (AD) */

struct ldap_ctx {
	LDAP *ld;
	const tj_dir_attrs *a;
	struct timeval tv;
};

/* escape a value for a search filter (RFC 4515) */
static int filter_escape(tj_buf *b, const char *s)
{
	int rc = 0;
	for (; *s && !rc; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '*' || c == '(' || c == ')' || c == '\\' || c < 0x20)
			rc = tj_buf_printf(b, "\\%02x", c);
		else
			rc = tj_buf_putc(b, c);
	}
	return rc;
}

/* a member DN -> the user name (user_attr of the entry, if it matches the user filter) */
static int resolve_dn(void *arg, const char *dn, char *name_r, size_t namesz)
{
	struct ldap_ctx *c = arg;
	char *attrs[2] = {(char *)c->a->user_attr, NULL};
	LDAPMessage *res = NULL;
	int lrc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, c->a->user_filter, attrs, 0, NULL, NULL, &c->tv, 1,
				    &res);
	int rc = TJ_ENOTFOUND;
	if (lrc == LDAP_NO_SUCH_OBJECT || lrc == LDAP_INVALID_DN_SYNTAX) {
		rc = TJ_ENOTFOUND;
	} else if (lrc != LDAP_SUCCESS) {
		rc = -EIO;
	} else {
		LDAPMessage *e = ldap_first_entry(c->ld, res);
		struct berval **vals = e ? ldap_get_values_len(c->ld, e, c->a->user_attr) : NULL;
		if (vals && vals[0] && vals[0]->bv_len + 1 <= namesz && !memchr(vals[0]->bv_val, 0, vals[0]->bv_len)) {
			memcpy(name_r, vals[0]->bv_val, vals[0]->bv_len);
			name_r[vals[0]->bv_len] = 0;
			rc = 0;
		}
		if (vals)
			ldap_value_free_len(vals);
	}
	if (res)
		ldap_msgfree(res);
	return rc;
}

/* "member;range=0-1499" -> 1499 in *hi_r, or -1 for "*"; 0 when the
 * description carries a range option */
static int range_of(const char *attr, long *hi_r)
{
	const char *r = strcasestr(attr, ";range=");
	if (!r)
		return -1;
	const char *dash = strchr(r, '-');
	if (!dash)
		return -1;
	*hi_r = dash[1] == '*' ? -1 : strtol(dash + 1, NULL, 10);
	return 0;
}

static int add_values(struct ldap_ctx *c, tj_sync_dir *d, const tj_sync_groups *g, int gi, struct berval **vals,
		      tj_buf *warn)
{
	int rc = 0;
	for (size_t i = 0; vals && vals[i] && !rc; i++)
		rc = tj_sync_add_member(d, g, gi, vals[i]->bv_val, vals[i]->bv_len, resolve_dn, c, warn);
	return rc;
}

/* the rest of a ranged attribute (AD returns at most 1500 values at a time) */
static int ranged_rest(struct ldap_ctx *c, const char *dn, const char *attr, long hi, tj_sync_dir *d,
		       const tj_sync_groups *g, int gi, tj_buf *warn, char *err, size_t errsz)
{
	char base[256];
	const char *semi = strchr(attr, ';');
	snprintf(base, sizeof(base), "%.*s", (int)(semi ? semi - attr : (long)strlen(attr)), attr);
	for (int round = 0; hi >= 0 && round < TJ_LDAP_RANGE_ROUNDS; round++) {
		char want[300];
		snprintf(want, sizeof(want), "%s;range=%ld-*", base, hi + 1);
		char *attrs[2] = {want, NULL};
		LDAPMessage *res = NULL;
		int lrc = ldap_search_ext_s(c->ld, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 0, NULL, NULL, &c->tv,
					    1, &res);
		if (lrc != LDAP_SUCCESS) {
			snprintf(err, errsz, "reading %s of %s: %s", want, dn, ldap_err2string(lrc));
			if (res)
				ldap_msgfree(res);
			return -EIO;
		}
		LDAPMessage *e = ldap_first_entry(c->ld, res);
		BerElement *ber = NULL;
		int rc = 0;
		long next = -1;
		for (char *an = e ? ldap_first_attribute(c->ld, e, &ber) : NULL; an && !rc;
		     an = ldap_next_attribute(c->ld, e, ber)) {
			if (strncasecmp(an, base, strlen(base)) == 0 && range_of(an, &next) == 0) {
				struct berval **vals = ldap_get_values_len(c->ld, e, an);
				rc = add_values(c, d, g, gi, vals, warn);
				if (vals)
					ldap_value_free_len(vals);
			}
			ldap_memfree(an);
		}
		if (ber)
			ber_free(ber, 0);
		ldap_msgfree(res);
		if (rc)
			return rc;
		hi = next;
	}
	return 0;
}

int tj_ldap_fetch(const tj_ldap_opts *o, const tj_dir_attrs *a, tj_sync_groups *g, tj_sync_dir *d, tj_buf *warn,
		  char *err, size_t errsz)
{
	struct ldap_ctx c = {NULL, a, {o->timeout_s > 0 ? o->timeout_s : 30, 0}};
	tj_buf filter = TJ_BUF_INIT;
	LDAPMessage *res = NULL;
	int rc = 0, lrc;
	if (err && errsz)
		err[0] = 0;
	if ((lrc = ldap_initialize(&c.ld, o->uri)) != LDAP_SUCCESS) {
		snprintf(err, errsz, "LDAP URI %s: %s", o->uri, ldap_err2string(lrc));
		return TJ_EINVAL;
	}
	int v3 = LDAP_VERSION3;
	ldap_set_option(c.ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(c.ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF); /* AD: referrals to other domains */
	ldap_set_option(c.ld, LDAP_OPT_NETWORK_TIMEOUT, &c.tv);
	ldap_set_option(c.ld, LDAP_OPT_TIMEOUT, &c.tv);
	if (o->ca_file) {
		int never_fail = 0;
		if (ldap_set_option(c.ld, LDAP_OPT_X_TLS_CACERTFILE, o->ca_file) != LDAP_OPT_SUCCESS ||
		    ldap_set_option(c.ld, LDAP_OPT_X_TLS_NEWCTX, &never_fail) != LDAP_OPT_SUCCESS) {
			snprintf(err, errsz, "--ca-file %s: cannot be used for TLS", o->ca_file);
			rc = TJ_EINVAL;
			goto out;
		}
	}
	if (o->starttls && (lrc = ldap_start_tls_s(c.ld, NULL, NULL)) != LDAP_SUCCESS) {
		char *diag = NULL;
		ldap_get_option(c.ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
		snprintf(err, errsz, "StartTLS with %s: %s%s%s", o->uri, ldap_err2string(lrc), diag && *diag ? ": " : "",
			 diag ? diag : "");
		ldap_memfree(diag);
		rc = -EIO;
		goto out;
	}
	struct berval cred = {o->bind_pw ? strlen(o->bind_pw) : 0, (char *)(o->bind_pw ? o->bind_pw : "")};
	lrc = ldap_sasl_bind_s(c.ld, o->bind_dn ? o->bind_dn : "", LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	if (lrc != LDAP_SUCCESS) {
		snprintf(err, errsz, "bind to %s as %s: %s", o->uri, o->bind_dn ? o->bind_dn : "(anonymous)",
			 ldap_err2string(lrc));
		rc = lrc == LDAP_INVALID_CREDENTIALS ? TJ_EINVAL : -EIO;
		goto out;
	}
	/* (&GROUP_FILTER(|(cn=g1)(cn=g2)...)) */
	rc = tj_buf_printf(&filter, "(&%s(|", a->group_filter);
	for (size_t i = 0; !rc && i < g->n; i++) {
		if (!(rc = tj_buf_printf(&filter, "(%s=", a->group_attr)) && !(rc = filter_escape(&filter, g->v[i].name)))
			rc = tj_buf_putc(&filter, ')');
	}
	if (!rc)
		rc = tj_buf_puts(&filter, "))");
	if (!rc && filter.len > TJ_LDAP_FILTER_MAX)
		rc = TJ_ETOOBIG;
	if (rc) {
		snprintf(err, errsz, "group filter: %s", tj_strerror(rc));
		goto out;
	}
	lrc = ldap_search_ext_s(c.ld, o->base, LDAP_SCOPE_SUBTREE, (char *)filter.data, NULL, 0, NULL, NULL, &c.tv,
				0, &res);
	if (lrc != LDAP_SUCCESS) {
		snprintf(err, errsz, "search for groups under %s with %s: %s", o->base, (char *)filter.data,
			 ldap_err2string(lrc));
		rc = lrc == LDAP_FILTER_ERROR ? TJ_EINVAL : -EIO;
		goto out;
	}
	for (LDAPMessage *e = ldap_first_entry(c.ld, res); e && !rc; e = ldap_next_entry(c.ld, e)) {
		int gi = -1;
		struct berval **names = ldap_get_values_len(c.ld, e, a->group_attr);
		for (size_t i = 0; names && names[i] && gi < 0; i++)
			gi = tj_sync_group_find(g, names[i]->bv_val, names[i]->bv_len);
		if (names)
			ldap_value_free_len(names);
		if (gi < 0)
			continue;
		g->v[gi].found = 1;
		char *dn = ldap_get_dn(c.ld, e);
		BerElement *ber = NULL;
		for (char *an = ldap_first_attribute(c.ld, e, &ber); an && !rc; an = ldap_next_attribute(c.ld, e, ber)) {
			if (tj_dir_attr_in_list(a->member_attrs, an, strlen(an))) {
				struct berval **vals = ldap_get_values_len(c.ld, e, an);
				rc = add_values(&c, d, g, gi, vals, warn);
				if (vals)
					ldap_value_free_len(vals);
				long hi;
				if (!rc && dn && range_of(an, &hi) == 0 && hi >= 0)
					rc = ranged_rest(&c, dn, an, hi, d, g, gi, warn, err, errsz);
			}
			ldap_memfree(an);
		}
		if (ber)
			ber_free(ber, 0);
		ldap_memfree(dn);
		if (rc && !err[0])
			snprintf(err, errsz, "reading members of group %s: %s", g->v[gi].name, tj_strerror(rc));
	}
	if (!rc)
		tj_sync_dir_finish(d, g);
out:
	if (res)
		ldap_msgfree(res);
	tj_buf_free(&filter);
	ldap_unbind_ext_s(c.ld, NULL, NULL);
	return rc;
}

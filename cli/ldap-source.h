/*
 * ldap-source.h - read the mail groups' members from an LDAP server
 * (OpenLDAP's libldap): simple bind (or anonymous), optional StartTLS, one
 * subtree search for the groups under the base, then each member DN read
 * (base scope, the user filter) for its user name.  Works with OpenLDAP
 * (posixGroup memberUid, groupOfNames member) and Active Directory (member
 * DNs, sAMAccountName, ranged retrieval of groups over 1500 members).
 * Nested groups are not followed.
 */
#ifndef TJ_CLI_LDAP_SOURCE_H
#define TJ_CLI_LDAP_SOURCE_H

#include "cli/users-sync.h"

typedef struct tj_ldap_opts {
	const char *uri;      /* ldap://host:port/ or ldaps://... */
	const char *base;     /* search base */
	const char *bind_dn;  /* NULL: anonymous */
	const char *bind_pw;  /* with bind_dn */
	int starttls;         /* StartTLS before binding; failure is an error */
	const char *ca_file;  /* CA certificates for TLS; NULL: libldap's default (ldap.conf) */
	int timeout_s;        /* network and per-operation timeout; 0 = 30 s */
} tj_ldap_opts;

/* tj_ldap_fetch - gather the members of the table's groups into d (finished
 * on success) and set found on the groups seen.  Member problems become
 * warnings in warn.  0, or a negative code with a sentence in err (cannot
 * connect, StartTLS or bind refused, search failed). */
int tj_ldap_fetch(const tj_ldap_opts *o, const tj_dir_attrs *a, tj_sync_groups *g, tj_sync_dir *d, tj_buf *warn,
		  char *err, size_t errsz);

#endif

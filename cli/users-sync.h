/*
 * users-sync.h - the directory sync, as pure functions over lists.
 *
 * The directory side: a table of mail groups, each with a quota (the users
 * file's number, before the multiplier), and the members found in those
 * groups (from LDAP, ldap-source.h, or from an LDIF export, here).  A user in
 * several mail groups gets the largest of their quotas (ties: the group named
 * first in the table).  Names are folded to lower case, as the store keeps
 * them.
 *
 * The plan compares that with the local users (name, quota, source, state):
 *   create     a directory user missing locally (source ldap, enabled)
 *   enable     a disabled local ldap user who is back in the directory
 *   set-quota  a local ldap user whose group quota differs (or whose bytes
 *              differ from quota x multiplier MiB)
 *   disable    an enabled local ldap user no longer in any mail group
 *              (never deleted: the mail stays)
 *   keep       an override user: never changed by a sync (shown with -v)
 *   refuse     a directory user whose id (hash of the name) is taken by a
 *              different local user: nothing is done for that name
 * docs/accounts.md is the manual.
 */
#ifndef TJ_CLI_USERS_SYNC_H
#define TJ_CLI_USERS_SYNC_H

#include "cli/users-csv.h"
#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define TJ_SYNC_MAX_GROUPS 64        /* groups in --groups */
#define TJ_SYNC_GROUP_NAME_MAX 256   /* bytes in a group name */
#define TJ_SYNC_MAX_MEMBERS 10000000 /* group memberships gathered from a directory */
#define TJ_LDIF_MAX_LINE (1 << 20)   /* bytes in one unfolded LDIF line */
#define TJ_LDIF_MAX_ENTRIES 10000000 /* entries in one LDIF file */
#define TJ_DN_MAX 4096               /* bytes in a DN we look up */

/* ---- the group -> quota table ---- */

typedef struct tj_sync_group {
	char name[TJ_SYNC_GROUP_NAME_MAX + 1];
	uint64_t quota;
	int found; /* set by the sources: the directory has this group */
} tj_sync_group;

typedef struct tj_sync_groups {
	tj_sync_group v[TJ_SYNC_MAX_GROUPS];
	size_t n;
} tj_sync_groups;

/* tj_sync_groups_parse - "staff=100,admins=500" (GROUP=QUOTA, comma
 * separated; may be called again to add more).  Group names are matched
 * case-insensitively and may not hold ',' or '='.  0 or TJ_EINVAL with a
 * sentence in err. */
int tj_sync_groups_parse(const char *spec, tj_sync_groups *g, char *err, size_t errsz);

/* tj_sync_group_find - index of the group named name (case-insensitive), or -1 */
int tj_sync_group_find(const tj_sync_groups *g, const char *name, size_t len);

/* ---- what the directory says ---- */

typedef struct tj_sync_duser {
	char name[TJ_USERS_NAME_MAX + 1]; /* lower case */
	uint64_t quota;
	int group; /* index in the table: the group that gave the quota */
} tj_sync_duser;

typedef struct tj_sync_dir {
	tj_sync_duser *v; /* after tj_sync_dir_finish: sorted by name, one per user */
	size_t n, cap;
} tj_sync_dir;

/* tj_sync_dir_add - user is a member of group gi.  0; TJ_EINVAL when the
 * name is not a valid mail user name (the caller warns and goes on);
 * TJ_ETOOBIG over TJ_SYNC_MAX_MEMBERS; -ENOMEM. */
int tj_sync_dir_add(tj_sync_dir *d, const tj_sync_groups *g, int gi, const char *user, size_t len);

/* tj_sync_dir_finish - sort by name and merge a user's groups (largest quota). */
void tj_sync_dir_finish(tj_sync_dir *d, const tj_sync_groups *g);

void tj_sync_dir_free(tj_sync_dir *d);

/* Attribute names: defaults suit OpenLDAP (posixGroup with memberUid,
 * groupOfNames with member) and, with --user-attr sAMAccountName, AD. */
typedef struct tj_dir_attrs {
	const char *user_attr;    /* on user entries: the mail user name; "uid" */
	const char *group_attr;   /* on group entries: the group's name; "cn" */
	const char *member_attrs; /* comma list; a value with '=' is a DN, else a user name;
				     "member,uniqueMember,memberUid" */
	const char *group_filter; /* which entries are groups (LDAP search filter) */
	const char *user_filter;  /* LDAP: a member DN counts when its entry matches; "(objectClass=*)" */
} tj_dir_attrs;

#define TJ_DIR_USER_ATTR "uid"
#define TJ_DIR_GROUP_ATTR "cn"
#define TJ_DIR_MEMBER_ATTRS "member,uniqueMember,memberUid"
#define TJ_DIR_GROUP_FILTER \
	"(|(objectClass=group)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))"
#define TJ_DIR_USER_FILTER "(objectClass=*)"

/* tj_dir_attrs_default - fill a with the defaults above */
void tj_dir_attrs_default(tj_dir_attrs *a);

/* tj_dir_attr_in_list - is attr (an attribute type, options after ';'
 * ignored) one of the comma list's names (case-insensitive)? */
int tj_dir_attr_in_list(const char *list, const char *attr, size_t len);

/* resolve a member DN to a user name: 0 (name written, NUL-terminated),
 * TJ_ENOTFOUND (no such entry, or not a user: skipped with a warning) or
 * another negative code (the sync stops) */
typedef int tj_dn_resolve_fn(void *arg, const char *dn, char *name_r, size_t namesz);

/* tj_sync_add_member - one value of a member attribute of group gi: a DN
 * (has '=') is resolved with fn, anything else is a user name.  Problems with
 * single members become "warning: ..." lines in warn.  0 or a negative code. */
int tj_sync_add_member(tj_sync_dir *d, const tj_sync_groups *g, int gi, const char *value, size_t len,
		       tj_dn_resolve_fn *fn, void *arg, tj_buf *warn);

/* ---- LDIF (RFC 2849): entries, as slapcat, ldapsearch -LLL or ldifde write them ---- */

typedef struct tj_ldif_val {
	char *attr; /* attribute description as written (options kept) */
	char *val;  /* decoded, NUL-terminated (may hold NULs: use len) */
	size_t len;
} tj_ldif_val;

typedef struct tj_ldif_entry {
	char *dn;
	unsigned line; /* where the entry starts */
	tj_ldif_val *v;
	size_t n, cap;
} tj_ldif_entry;

typedef struct tj_ldif {
	tj_ldif_entry *e;
	size_t n, cap;
} tj_ldif;

/* tj_ldif_parse - parse buf: folded lines, comments, base64 values ("::"),
 * "version: 1".  Refused with "line N: ..." in err: change records, URL
 * values (":<"), a record without dn, malformed lines, lines over
 * TJ_LDIF_MAX_LINE.  *l_r is initialised here; free it with tj_ldif_free.
 * 0, TJ_EINVAL or -ENOMEM. */
int tj_ldif_parse(const uint8_t *buf, size_t len, tj_ldif *l_r, char *err, size_t errsz);
void tj_ldif_free(tj_ldif *l);

/* tj_dn_normalize - lower case, no spaces around ',', '=' and '+': enough to
 * compare the DNs one export writes.  Writes at most outsz-1 bytes. */
void tj_dn_normalize(const char *dn, char *out, size_t outsz);

/* tj_sync_from_ldif - the same mapping as LDAP: an entry is a group when one
 * of its objectClass values is group, groupOfNames, groupOfUniqueNames or
 * posixGroup and its group_attr value names a table group; its member
 * values are DNs of entries in the file (their user_attr is the name) or
 * user names.  Sets found on the groups seen.  0 or a negative code. */
int tj_sync_from_ldif(const tj_ldif *l, const tj_dir_attrs *a, tj_sync_groups *g, tj_sync_dir *d, tj_buf *warn);

/* ---- the plan ---- */

typedef struct tj_sync_local {
	const char *name;
	uint32_t id;
	uint64_t quota_base, quota_bytes;
	uint8_t source, state;
} tj_sync_local;

enum tj_sync_kind {
	TJ_SYNC_CREATE = 1,
	TJ_SYNC_ENABLE,
	TJ_SYNC_SET_QUOTA,
	TJ_SYNC_DISABLE,
	TJ_SYNC_KEEP,
	TJ_SYNC_REFUSE,
};

typedef struct tj_sync_action {
	int kind; /* enum tj_sync_kind */
	char name[TJ_USERS_NAME_MAX + 1];
	uint64_t old_quota, new_quota;     /* quota numbers (CREATE, SET_QUOTA) */
	uint64_t old_bytes, new_bytes;     /* SET_QUOTA: bytes before/after */
	const char *group;                 /* the group that gave the quota, or NULL */
	char other[TJ_USERS_NAME_MAX + 1]; /* REFUSE: the local user holding the id */
} tj_sync_action;

typedef struct tj_sync_plan {
	tj_sync_action *v; /* sorted by name; per name: enable before set-quota */
	size_t n, cap;
	size_t changes; /* create + enable + set-quota + disable */
	size_t refused;
} tj_sync_plan;

typedef uint32_t tj_user_id_fn(const char *name);

/* tj_sync_plan_make - compare d (finished) with the local users; id_fn maps
 * a name to its user id (tj_store_user_id); milli is the multiplier in
 * thousandths.  *p_r is initialised here; free with tj_sync_plan_free.
 * 0, -ENOMEM or TJ_ETOOBIG (a quota too large in bytes). */
int tj_sync_plan_make(const tj_sync_dir *d, const tj_sync_groups *g, const tj_sync_local *local, size_t nlocal,
		      tj_user_id_fn *id_fn, uint32_t milli, tj_sync_plan *p_r);
void tj_sync_plan_free(tj_sync_plan *p);

/* tj_sync_action_format - one line (no newline) for a planned (done = 0) or
 * performed (done = 1) action, e.g. "create bob quota 100 (ldap, group staff)". */
int tj_sync_action_format(const tj_sync_action *a, int done, tj_buf *out);

#endif

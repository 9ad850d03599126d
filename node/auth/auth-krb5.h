/*
 * auth-krb5.h - the Kerberos password backend ([auth] backend = krb5).
 *
 * A check does what pam_krb5 does: get initial credentials (a TGT) for
 * user@REALM with the password from the KDC, then verify that TGT
 * against the service keytab (a service ticket for service/host@REALM
 * is obtained with it and decrypted with the keytab's key), so a spoofed
 * KDC that answers "yes" to any password is caught.  Each check uses its
 * own krb5_context, so checks may run on several worker threads at once.
 * Operator guide: docs/kerberos.md.  GSSAPI (tickets, no password) is in
 * gssapi.h and shares this configuration.
 */
#ifndef TJ_AUTH_KRB5_H
#define TJ_AUTH_KRB5_H

#include "node/auth/auth.h"

#include <stddef.h>

#define TJ_KRB5_REALM_MAX 255   /* bytes in a realm name */
#define TJ_KRB5_PRINC_MAX 1024  /* bytes in a displayed principal */

struct tj_auth_krb5_config {
	/* realm of user principals; NULL or "": the library's default realm
	 * (libdefaults default_realm of the krb5.conf in use) */
	const char *realm;
	/* the service keytab (required); must hold service/host@REALM */
	const char *keytab;
	/* service part of the service principal; NULL or "": "imap" */
	const char *service;
	/* host part of the service principal; NULL or "": this host's name as
	 * krb5_sname_to_principal() canonicalizes it (tests use "localhost") */
	const char *hostname;
	/* a krb5.conf to use instead of the environment's KRB5_CONFIG (or
	 * /etc/krb5.conf); NULL or "": the environment.  Applies to password
	 * checks; GSSAPI always follows the environment (docs/kerberos.md). */
	const char *krb5_config;
};

/*
 * tj_auth_krb5_open - make a Kerberos backend.  Copies cfg.  Checks the
 * configuration once (krb5.conf loads, a realm is known, the service
 * principal can be formed) and logs the service principal; it does not
 * contact the KDC, and a keytab that is unreadable now only makes later
 * checks answer TJ_AUTH_UNAVAILABLE (it may be fixed without a restart).
 * Free with tj_auth_backend_free().
 *
 * Results of check (through tj_auth_check()):
 *   TJ_AUTH_OK          password right and the TGT verified by the keytab;
 *   TJ_AUTH_FAIL        wrong password, unknown or locked principal
 *                       (the KDC answers these before it looks at the
 *                       password, so a right password on a locked account
 *                       is also FAIL: this backend never says DISABLED),
 *                       a name that cannot be a local user (empty, '@',
 *                       '/', '\'), or a TGT the keytab refuses (spoofed
 *                       KDC, or a stale keytab: logged as an error);
 *   TJ_AUTH_UNAVAILABLE KDC unreachable or timing out, clock skew, keytab
 *                       unreadable or without the service key, bad
 *                       krb5.conf, any other library error (fail closed).
 *
 * @return 0 and *be_r; TJ_EINVAL (no keytab, cfg NULL, a field too long,
 *   no realm known, or krb5.conf unreadable); -ENOMEM.
 */
int tj_auth_krb5_open(const struct tj_auth_krb5_config *cfg, struct tj_auth_backend **be_r);

/*
 * tj_auth_krb5_service_principal - the service principal the backend
 * verifies against, e.g. "imap/localhost@TEST.REALM"; valid until the
 * backend is freed.  NULL if be is not a krb5 backend.
 */
const char *tj_auth_krb5_service_principal(const struct tj_auth_backend *be);

/*
 * tj_krb5_user_valid - true if user can be the first (only) component of
 * a user principal: tj_auth_user_valid() and none of '@', '/', '\'
 * (which would name another realm or an instance such as user/admin).
 * Pure.
 */
bool tj_krb5_user_valid(const char *user, size_t len);

#endif

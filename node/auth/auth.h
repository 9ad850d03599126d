/*
 * auth.h - the authentication interface of tjstored: interchangeable
 * password-check backends, and the SASL PLAIN (RFC 4616) decoder.
 *
 * A backend answers one question: does this user name and password open
 * this account?  The IMAP server (and later SMTP AUTH) calls
 * tj_auth_check(); which backend stands behind it is configuration
 * ([auth] backend = passwd | krb5).  Backends today: the local password
 * file (auth-passwd.h), the embedded default.  Kerberos comes later and
 * plugs into the same vtable (docs/auth.md).
 *
 * Blocking and threads: check() MAY BLOCK (a deliberately slow hash, or a
 * round trip to a KDC), so the server runs it on a worker thread, never on
 * the event loop.  Every backend's check() must be safe to call from
 * several threads at once on the same backend object.  Creating and
 * freeing a backend are not: do them while no check() is running.
 *
 * Secrets: nothing in this layer logs a password, and user names reach
 * the log only through tj_sanitize().  See also auth-throttle.h for the
 * delay policy the server applies around each check.
 */
#ifndef TJ_AUTH_H
#define TJ_AUTH_H

#include <stdbool.h>
#include <stddef.h>

/* ---------------------------------------------------------------- limits */

#define TJ_AUTH_USER_MAX 255      /* bytes in a user name (RFC 4616 authcid minimum) */
#define TJ_AUTH_PASSWORD_MAX 1024 /* bytes in a password; longer ones never match */

/* --------------------------------------------------------------- results */

/*
 * The answer of a check.  Only TJ_AUTH_OK lets the client in.
 */
enum tj_auth_result {
	/* the password is right and the account is usable */
	TJ_AUTH_OK = 0,
	/* wrong password, or no such user: callers cannot tell the two apart,
	 * by the result or by the time it took */
	TJ_AUTH_FAIL,
	/* the password is right but the backend knows the account is
	 * disabled (e.g. a '!' locked hash).  Never returned for a wrong
	 * password, so it does not reveal that an account exists.  The store
	 * keeps its own "enabled" flag, which the server checks after OK. */
	TJ_AUTH_DISABLED,
	/* the backend cannot decide now (file unreadable, KDC down).  IMAP
	 * answers NO [UNAVAILABLE]; the client may retry later. */
	TJ_AUTH_UNAVAILABLE,
};

/* tj_auth_result_name - "ok", "fail", "disabled", "unavailable"; never NULL. */
const char *tj_auth_result_name(enum tj_auth_result r);

/* --------------------------------------------------------------- backend */

struct tj_auth_backend;

/*
 * What a backend implements.  A backend embeds struct tj_auth_backend as
 * its first member and points ->v at a static instance of this table.
 */
struct tj_auth_backend_vfuncs {
	const char *name; /* "passwd", "krb5": for logs and config errors */
	/*
	 * check - decide one login.  user and password are NUL-terminated,
	 * at most TJ_AUTH_USER_MAX / TJ_AUTH_PASSWORD_MAX bytes and free of
	 * CR and LF (tj_auth_check() has made sure).  user may be "" or a
	 * name no account can have: the backend treats it as an unknown user
	 * and spends the same work as on a wrong password (tj_auth_check()
	 * passes "" for input it refuses, to keep the timing).  On return 0,
	 * *result_r holds the answer.  On a negative return (out of memory,
	 * an internal error) the result is ignored: tj_auth_check() reports
	 * TJ_AUTH_UNAVAILABLE.  May block; must be thread-safe.
	 */
	int (*check)(struct tj_auth_backend *be, const char *user, const char *password,
		     enum tj_auth_result *result_r);
	/* destroy - free the backend and everything it owns. */
	void (*destroy)(struct tj_auth_backend *be);
};

struct tj_auth_backend {
	const struct tj_auth_backend_vfuncs *v;
};

/*
 * tj_auth_check - ask the backend whether user/password may log in.
 *
 * May block (see the top of this file): call it from a worker thread.
 * Thread-safe for any backend.  Inputs the backend could never accept
 * (empty user, over-long user or password, CR or LF in either) are
 * answered TJ_AUTH_FAIL after the same amount of work as a wrong
 * password, so they reveal nothing.
 *
 * @return 0 with *result_r set; or a negative code (common/err.h):
 *   TJ_EINVAL  a NULL argument;
 *   -ENOMEM    or another system error inside the backend.
 * On every non-zero return *result_r is TJ_AUTH_UNAVAILABLE (fail
 * closed), so a caller that only looks at the result is still safe.
 */
int tj_auth_check(struct tj_auth_backend *be, const char *user, const char *password,
		  enum tj_auth_result *result_r);

/* tj_auth_backend_name - the backend's name ("passwd"); never NULL. */
const char *tj_auth_backend_name(const struct tj_auth_backend *be);

/* tj_auth_backend_free - destroy *be (NULL is fine) and set *be = NULL.
 * No check() may be running on it. */
void tj_auth_backend_free(struct tj_auth_backend **be);

/* tj_auth_user_valid - true if name can be an account name: 1 to
 * TJ_AUTH_USER_MAX bytes, no ':' (the passwd file's separator), no
 * whitespace or control bytes (NUL, CR, LF, TAB ...), not starting with
 * '#'.  Bytes >= 0x80 (UTF-8) are allowed. */
bool tj_auth_user_valid(const char *name, size_t len);

/* ------------------------------------------------------------ SASL PLAIN */

#define TJ_SASL_PLAIN_ID_MAX TJ_AUTH_USER_MAX /* authzid and authcid */
/* decoded message: authzid NUL authcid NUL passwd */
#define TJ_SASL_PLAIN_MSG_MAX (2 * TJ_SASL_PLAIN_ID_MAX + 2 + TJ_AUTH_PASSWORD_MAX)
/* base64 text of the longest message */
#define TJ_SASL_PLAIN_B64_MAX (4 * ((TJ_SASL_PLAIN_MSG_MAX + 2) / 3))

/*
 * A decoded PLAIN message.  Fixed size, no allocation; each field is
 * NUL-terminated and holds no NUL.  Holds a password: clear it with
 * tj_sasl_plain_clear() as soon as the check is done.
 */
struct tj_sasl_plain {
	char authzid[TJ_SASL_PLAIN_ID_MAX + 1]; /* "" when the client sent none */
	char authcid[TJ_SASL_PLAIN_ID_MAX + 1]; /* the user name to check */
	char passwd[TJ_AUTH_PASSWORD_MAX + 1];
};

/*
 * tj_sasl_plain_decode - decode a SASL PLAIN client response (RFC 4616).
 *
 * b64/len is the base64 text exactly as the client sent it (the line of
 * AUTHENTICATE, or the SASL-IR argument), without CRLF.  The caller
 * handles IMAP's special responses first: "*" cancels, and "=" (an empty
 * response) cannot be a PLAIN message.  Pure function: no I/O, no
 * allocation, no logging; thread-safe.
 *
 * Accepted: canonical base64 (RFC 4648 alphabet, '=' padding to a
 * multiple of 4, no whitespace, zero unused bits) decoding to
 * [authzid] NUL authcid NUL passwd, with exactly two NULs, a non-empty
 * authcid and passwd, valid UTF-8 in all three fields, and an authzid
 * that is empty or byte-equal to authcid (we never let one user act as
 * another).
 *
 * @return 0 and *out_r filled; or
 *   TJ_EPROTO   bad base64, wrong number of NULs, empty authcid or
 *               passwd, invalid UTF-8 (IMAP: BAD or NO);
 *   TJ_ETOOBIG  input over TJ_SASL_PLAIN_B64_MAX, or a field over its
 *               limit;
 *   -EPERM      authzid names a different identity (IMAP:
 *               NO [AUTHORIZATIONFAILED]);
 *   TJ_EINVAL   a NULL argument.
 * On any failure *out_r is cleared (all fields empty).
 */
int tj_sasl_plain_decode(const char *b64, size_t len, struct tj_sasl_plain *out_r);

/* tj_sasl_plain_clear - wipe p (the password too) in a way the compiler
 * cannot optimise away. */
void tj_sasl_plain_clear(struct tj_sasl_plain *p);

#endif

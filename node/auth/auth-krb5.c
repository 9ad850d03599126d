/*
 * auth-krb5.c - the Kerberos password backend: initial credentials for
 * user@REALM with krb5_get_init_creds_password(), then
 * krb5_verify_init_creds() against the service keytab with
 * ap_req_nofail set (a keytab without the service key is an error, not a
 * silent pass), as pam_krb5 does.  Library results are mapped to the
 * tj_auth_result of auth.h: refusals to FAIL, everything the server
 * cannot decide now to UNAVAILABLE.  One krb5_context per check, so
 * checks run on any number of threads; no state is shared but the
 * read-only configuration.
 */
#include "node/auth/auth-krb5.h"
#include "common/err.h"
#include "common/log.h"

#include <krb5.h>
#include <profile.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_SERVICE "imap"
/* asked of the KDC for a name no local user can have, so a refused name
 * costs the same round trip as an unknown one; always answered FAIL */
#define DUMMY_USER "tjstore.invalid-user"
#define DUMMY_PASSWORD "tjstore: not a password"
#define LOG_TEXT_MAX 200 /* sanitized library messages and names in the log */

struct krb5_backend {
	struct tj_auth_backend be;
	char *realm;       /* resolved at open */
	char *keytab;      /* as krb5_kt_resolve() wants it ("FILE:/...") */
	char *krb5_config; /* NULL: the environment */
	char *server;      /* "service/host@REALM" */
};

static const struct tj_auth_backend_vfuncs krb5_vfuncs;

bool tj_krb5_user_valid(const char *user, size_t len)
{
	if (!tj_auth_user_valid(user, len))
		return false;
	return !memchr(user, '@', len) && !memchr(user, '/', len) && !memchr(user, '\\', len);
}

/* ----------------------------------------------------------- contexts */

/* new_context - a fresh context reading krb5_config (or the environment);
 * 0 or a krb5/errno code */
static krb5_error_code new_context(const char *krb5_config, krb5_context *ctx_r)
{
	*ctx_r = NULL;
	if (!krb5_config)
		return krb5_init_context(ctx_r);
	const_profile_filespec_t files[2] = {krb5_config, NULL};
	profile_t prof = NULL;
	long perr = profile_init(files, &prof);
	if (perr)
		return (krb5_error_code)perr;
	krb5_error_code kerr = krb5_init_context_profile(prof, 0, ctx_r);
	profile_release(prof);
	return kerr;
}

/* errmsg - the library's text for code, sanitized for the log, in out */
static const char *errmsg(krb5_context ctx, krb5_error_code code, char *out, size_t outsz)
{
	const char *m = ctx ? krb5_get_error_message(ctx, code) : NULL;
	const char *text = m ? m : error_message(code);
	tj_sanitize(out, outsz, text, strlen(text));
	if (m)
		krb5_free_error_message(ctx, m);
	return out;
}

static char *dup_or_null(const char *s)
{
	return s && s[0] ? strdup(s) : NULL;
}

/* --------------------------------------------------------------- open */

static void krb5_destroy(struct tj_auth_backend *be)
{
	struct krb5_backend *kb = (struct krb5_backend *)be;
	free(kb->realm);
	free(kb->keytab);
	free(kb->krb5_config);
	free(kb->server);
	free(kb);
}

/* keytab_name - "FILE:" + path for absolute paths (a ':' later in the
 * path would otherwise be read as a type prefix); names with a type kept */
static char *keytab_name(const char *path)
{
	if (path[0] != '/')
		return strdup(path);
	size_t n = strlen(path) + sizeof("FILE:");
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "FILE:%s", path);
	return s;
}

/* resolve realm and service principal with a context; 0 or TJ_EINVAL/-ENOMEM */
static int resolve_names(struct krb5_backend *kb, krb5_context ctx, const struct tj_auth_krb5_config *cfg)
{
	char msg[LOG_TEXT_MAX];
	krb5_error_code kerr;
	if (!kb->realm) {
		char *def = NULL;
		kerr = krb5_get_default_realm(ctx, &def);
		if (kerr || !def || !def[0]) {
			tj_log(TJ_LOG_ERROR, "auth", "event=krb5-config error=\"no [auth] realm and no default "
			       "realm: %s\"", kerr ? errmsg(ctx, kerr, msg, sizeof(msg)) : "empty");
			krb5_free_default_realm(ctx, def);
			return TJ_EINVAL;
		}
		kb->realm = strdup(def);
		krb5_free_default_realm(ctx, def);
		if (!kb->realm)
			return -ENOMEM;
	}
	if (strlen(kb->realm) > TJ_KRB5_REALM_MAX)
		return TJ_EINVAL;

	const char *service = cfg->service && cfg->service[0] ? cfg->service : DEFAULT_SERVICE;
	krb5_principal p = NULL;
	if (cfg->hostname && cfg->hostname[0])
		kerr = krb5_build_principal(ctx, &p, (unsigned)strlen(kb->realm), kb->realm, service,
					    cfg->hostname, (char *)NULL);
	else
		kerr = krb5_sname_to_principal(ctx, NULL, service, KRB5_NT_SRV_HST, &p);
	if (!kerr)
		kerr = krb5_set_principal_realm(ctx, p, kb->realm); /* ours, never a referral "" */
	char *name = NULL;
	if (!kerr)
		kerr = krb5_unparse_name(ctx, p, &name);
	krb5_free_principal(ctx, p);
	if (kerr) {
		tj_log(TJ_LOG_ERROR, "auth", "event=krb5-config error=\"service principal: %s\"",
		       errmsg(ctx, kerr, msg, sizeof(msg)));
		return TJ_EINVAL;
	}
	kb->server = strdup(name);
	krb5_free_unparsed_name(ctx, name);
	return kb->server ? 0 : -ENOMEM;
}

int tj_auth_krb5_open(const struct tj_auth_krb5_config *cfg, struct tj_auth_backend **be_r)
{
	if (!be_r)
		return TJ_EINVAL;
	*be_r = NULL;
	if (!cfg || !cfg->keytab || !cfg->keytab[0])
		return TJ_EINVAL;
	if (cfg->realm && strlen(cfg->realm) > TJ_KRB5_REALM_MAX)
		return TJ_EINVAL;
	struct krb5_backend *kb = calloc(1, sizeof(*kb));
	if (!kb)
		return -ENOMEM;
	kb->be.v = &krb5_vfuncs;
	kb->realm = dup_or_null(cfg->realm);
	kb->keytab = keytab_name(cfg->keytab);
	kb->krb5_config = dup_or_null(cfg->krb5_config);
	if ((cfg->realm && cfg->realm[0] && !kb->realm) || !kb->keytab ||
	    (cfg->krb5_config && cfg->krb5_config[0] && !kb->krb5_config)) {
		krb5_destroy(&kb->be);
		return -ENOMEM;
	}

	krb5_context ctx;
	krb5_error_code kerr = new_context(kb->krb5_config, &ctx);
	if (kerr) {
		char msg[LOG_TEXT_MAX];
		tj_log(TJ_LOG_ERROR, "auth", "event=krb5-config krb5_config=%s error=\"%s\"",
		       kb->krb5_config ? kb->krb5_config : "(environment)", errmsg(NULL, kerr, msg, sizeof(msg)));
		krb5_destroy(&kb->be);
		return kerr == ENOMEM ? -ENOMEM : TJ_EINVAL;
	}
	int rc = resolve_names(kb, ctx, cfg);
	krb5_free_context(ctx);
	if (rc) {
		krb5_destroy(&kb->be);
		return rc;
	}
	tj_log(TJ_LOG_INFO, "auth", "event=krb5-open realm=%s service=%s keytab=%s", kb->realm, kb->server,
	       kb->keytab);
	*be_r = &kb->be;
	return 0;
}

const char *tj_auth_krb5_service_principal(const struct tj_auth_backend *be)
{
	if (!be || be->v != &krb5_vfuncs)
		return NULL;
	return ((const struct krb5_backend *)be)->server;
}

/* -------------------------------------------------------------- check */

/* the KDC refused the client: wrong password, unknown, locked, expired */
static bool is_refusal(krb5_error_code e)
{
	switch (e) {
	case KRB5KDC_ERR_PREAUTH_FAILED:
	case KRB5KRB_AP_ERR_BAD_INTEGRITY: /* reply not decryptable: wrong password */
	case KRB5KRB_AP_ERR_MODIFIED:
	case KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN:
	case KRB5KDC_ERR_CLIENT_REVOKED: /* -allow_tix, lockout: answered before the password */
	case KRB5KDC_ERR_CLIENT_NOTYET:
	case KRB5KDC_ERR_NAME_EXP:
	case KRB5KDC_ERR_KEY_EXP:
	case KRB5KDC_ERR_POLICY:
	case KRB5_PREAUTH_FAILED:
	case KRB5_LIBOS_CANTREADPWD: /* the library wanted a new password (expired) */
		return true;
	default:
		return false;
	}
}

/* answered by the KDC before the client used the password */
static bool refused_before_password(krb5_error_code e)
{
	return e == KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN || e == KRB5KDC_ERR_CLIENT_REVOKED ||
	       e == KRB5KDC_ERR_CLIENT_NOTYET || e == KRB5KDC_ERR_NAME_EXP || e == KRB5KDC_ERR_KEY_EXP ||
	       e == KRB5KDC_ERR_POLICY;
}

/*
 * equalize_work - the string-to-key a wrong password costs the client
 * (AES-256, PBKDF2 with the default 4096 iterations, salt REALMuser), spent
 * when the KDC refused before the password mattered, so an unknown or
 * locked user answers in about the time of a wrong password.  The one
 * extra round trip of a preauth exchange is not imitated (docs/kerberos.md).
 */
static void equalize_work(krb5_context ctx, krb5_const_principal client, const char *pw)
{
	krb5_data pwd = {.magic = KV5M_DATA, .length = (unsigned)strlen(pw), .data = (char *)pw};
	krb5_data salt = {0};
	krb5_keyblock key;
	memset(&key, 0, sizeof(key));
	if (krb5_principal2salt(ctx, client, &salt) != 0)
		return;
	if (krb5_c_string_to_key(ctx, ENCTYPE_AES256_CTS_HMAC_SHA1_96, &pwd, &salt, &key) == 0)
		krb5_free_keyblock_contents(ctx, &key);
	krb5_free_data_contents(ctx, &salt);
}

/* verify - the pam_krb5 step: creds must decrypt with our keytab */
static void verify(struct krb5_backend *kb, krb5_context ctx, krb5_creds *creds, const char *user,
		   enum tj_auth_result *result_r)
{
	char msg[LOG_TEXT_MAX], uname[LOG_TEXT_MAX];
	krb5_keytab kt = NULL;
	krb5_principal server = NULL;
	krb5_error_code kerr = krb5_kt_resolve(ctx, kb->keytab, &kt);
	if (!kerr)
		kerr = krb5_parse_name(ctx, kb->server, &server);
	if (!kerr) {
		krb5_verify_init_creds_opt vopt;
		krb5_verify_init_creds_opt_init(&vopt);
		krb5_verify_init_creds_opt_set_ap_req_nofail(&vopt, 1); /* no key: error, not a pass */
		kerr = krb5_verify_init_creds(ctx, creds, server, kt, NULL, &vopt);
	}
	if (!kerr) {
		*result_r = TJ_AUTH_OK;
	} else if (kerr == KRB5KRB_AP_ERR_BAD_INTEGRITY || kerr == KRB5KRB_AP_ERR_MODIFIED) {
		*result_r = TJ_AUTH_FAIL;
		tj_log(TJ_LOG_ERROR, "auth", "event=krb5-verify-failed user=%s service=%s keytab=%s result=fail "
		       "error=\"%s\" hint=\"the KDC's ticket does not decrypt with the keytab: a spoofed KDC, or "
		       "a stale keytab (kvno)\"", tj_sanitize(uname, sizeof(uname), user, strlen(user)),
		       kb->server, kb->keytab, errmsg(ctx, kerr, msg, sizeof(msg)));
	} else {
		*result_r = TJ_AUTH_UNAVAILABLE;
		tj_log(TJ_LOG_ERROR, "auth", "event=krb5-verify-failed user=%s service=%s keytab=%s "
		       "result=unavailable error=\"%s\"", tj_sanitize(uname, sizeof(uname), user, strlen(user)),
		       kb->server, kb->keytab, errmsg(ctx, kerr, msg, sizeof(msg)));
	}
	krb5_free_principal(ctx, server);
	if (kt)
		krb5_kt_close(ctx, kt);
}

static int krb5_check(struct tj_auth_backend *be, const char *user, const char *password,
		      enum tj_auth_result *result_r)
{
	struct krb5_backend *kb = (struct krb5_backend *)be;
	char msg[LOG_TEXT_MAX], uname[LOG_TEXT_MAX];
	*result_r = TJ_AUTH_UNAVAILABLE;

	/* an empty password would make the library prompt; a name that is no
	 * local user is refused: both after the same KDC round trip */
	bool valid = tj_krb5_user_valid(user, strlen(user)) && password[0];
	const char *name = valid ? user : DUMMY_USER;
	const char *pw = valid ? password : DUMMY_PASSWORD;
	tj_sanitize(uname, sizeof(uname), user, strlen(user));

	krb5_context ctx;
	krb5_error_code kerr = new_context(kb->krb5_config, &ctx);
	if (kerr) {
		tj_log(TJ_LOG_ERROR, "auth", "event=krb5-context result=unavailable error=\"%s\"",
		       errmsg(NULL, kerr, msg, sizeof(msg)));
		return kerr == ENOMEM ? -ENOMEM : 0;
	}

	krb5_principal client = NULL;
	krb5_get_init_creds_opt *opt = NULL;
	krb5_creds creds;
	bool have_creds = false;
	memset(&creds, 0, sizeof(creds));

	kerr = krb5_build_principal(ctx, &client, (unsigned)strlen(kb->realm), kb->realm, name, (char *)NULL);
	if (!kerr)
		kerr = krb5_get_init_creds_opt_alloc(ctx, &opt);
	if (kerr) {
		tj_log(TJ_LOG_ERROR, "auth", "event=krb5-check user=%s result=unavailable error=\"%s\"", uname,
		       errmsg(ctx, kerr, msg, sizeof(msg)));
		goto out;
	}
	krb5_get_init_creds_opt_set_forwardable(opt, 0);
	krb5_get_init_creds_opt_set_proxiable(opt, 0);

	kerr = krb5_get_init_creds_password(ctx, &creds, client, pw, NULL, NULL, 0, NULL, opt);
	if (kerr == 0) {
		have_creds = true;
		if (!valid)
			*result_r = TJ_AUTH_FAIL; /* the dummy exists?  still no */
		else
			verify(kb, ctx, &creds, user, result_r);
	} else if (is_refusal(kerr)) {
		*result_r = TJ_AUTH_FAIL;
		if (refused_before_password(kerr))
			equalize_work(ctx, client, pw);
		tj_log(TJ_LOG_INFO, "auth", "event=krb5-check user=%s result=fail error=\"%s\"", uname,
		       errmsg(ctx, kerr, msg, sizeof(msg)));
	} else {
		/* KDC unreachable or timing out, clock skew, realm unknown,
		 * no common enctype, ...: nobody can decide now */
		*result_r = TJ_AUTH_UNAVAILABLE;
		tj_log(TJ_LOG_WARN, "auth", "event=krb5-check user=%s realm=%s result=unavailable error=\"%s\"",
		       uname, kb->realm, errmsg(ctx, kerr, msg, sizeof(msg)));
	}
out:
	if (have_creds)
		krb5_free_cred_contents(ctx, &creds);
	if (opt)
		krb5_get_init_creds_opt_free(ctx, opt);
	krb5_free_principal(ctx, client);
	krb5_free_context(ctx);
	return 0;
}

static const struct tj_auth_backend_vfuncs krb5_vfuncs = {
	.name = "krb5",
	.check = krb5_check,
	.destroy = krb5_destroy,
};

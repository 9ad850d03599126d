/*
 * tls.c - the reloadable server SSL_CTX and the self-signed certificate
 * generator (see tls.h).  Certificates are built with OpenSSL's X509 API;
 * no `openssl` command is run.
 */
#include "node/net/tls.h"
#include "common/err.h"
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

struct tj_tls {
	SSL_CTX *ctx;
	char *cert_path, *key_path;
	uint64_t generation;
	char err[256];
};

/* ssl_errstr - the newest queued OpenSSL error as text; clears the queue. */
static void ssl_errstr(char *out, size_t outsz, const char *what, const char *path)
{
	unsigned long e = ERR_peek_last_error();
	char ebuf[160] = "unknown error";
	if (e)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	ERR_clear_error();
	snprintf(out, outsz, "%s %s: %s", what, path ? path : "", ebuf);
}

/* build_ctx - a new server context from the two files, or NULL + err. */
static SSL_CTX *build_ctx(const char *cert, const char *key, char *err, size_t errsz)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		ssl_errstr(err, errsz, "SSL_CTX_new", NULL);
		return NULL;
	}
	SSL_CTX_set_security_level(ctx, 2);
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
		ssl_errstr(err, errsz, "min protocol", NULL);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* idle connections should not pin 2 x 16 KiB of record buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_errstr(err, errsz, "certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_errstr(err, errsz, "private key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errstr(err, errsz, "key does not match certificate", cert);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int tj_tls_new_error(tj_tls **tls_r, const char *cert_path, const char *key_path,
		     char *err, size_t errsz)
{
	*tls_r = NULL;
	tj_tls *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cert_path = strdup(cert_path);
	t->key_path = strdup(key_path);
	if (!t->cert_path || !t->key_path) {
		tj_tls_free(&t);
		return -ENOMEM;
	}
	int rc = tj_tls_reload(t);
	if (rc < 0) {
		if (err && errsz)
			snprintf(err, errsz, "%s", t->err);
		tj_tls_free(&t);
		return rc;
	}
	*tls_r = t;
	return 0;
}

int tj_tls_new(tj_tls **tls_r, const char *cert_path, const char *key_path)
{
	char err[256];
	int rc = tj_tls_new_error(tls_r, cert_path, key_path, err, sizeof(err));
	if (rc < 0)
		tj_log(TJ_LOG_ERROR, "tls", "event=load_failed error=\"%s\"", err);
	return rc;
}

void tj_tls_free(tj_tls **tls)
{
	if (!tls || !*tls)
		return;
	tj_tls *t = *tls;
	SSL_CTX_free(t->ctx);
	free(t->cert_path);
	free(t->key_path);
	free(t);
	*tls = NULL;
}

int tj_tls_reload(tj_tls *tls)
{
	SSL_CTX *ctx = build_ctx(tls->cert_path, tls->key_path, tls->err, sizeof(tls->err));
	if (!ctx)
		return TJ_EINVAL;
	SSL_CTX_free(tls->ctx); /* connections keep their own references */
	tls->ctx = ctx;
	tls->generation++;
	tls->err[0] = 0;
	return 0;
}

struct ssl_ctx_st *tj_tls_ctx(tj_tls *tls)
{
	return tls->ctx;
}

const char *tj_tls_last_error(const tj_tls *tls)
{
	return tls->err;
}

uint64_t tj_tls_generation(const tj_tls *tls)
{
	return tls->generation;
}

/* ---- self-signed certificate ---- */

/* write_pem_file - temp file (mode), write via fn, fsync, rename. */
static int write_pem_file(const char *path, mode_t mode, int (*fn)(FILE *, void *), void *arg)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	int rc = 0;
	if (fchmod(fd, mode) < 0) { /* umask must not widen or narrow it */
		rc = -errno;
		close(fd);
		goto out;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		rc = -errno;
		close(fd);
		goto out;
	}
	if (fn(f, arg) != 1)
		rc = TJ_EINVAL;
	if (fflush(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && fsync(fileno(f)) < 0)
		rc = -errno;
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
out:
	if (rc < 0)
		unlink(tmp);
	return rc;
}

static int pem_key(FILE *f, void *arg)
{
	return PEM_write_PrivateKey(f, arg, NULL, NULL, 0, NULL, NULL);
}

static int pem_cert(FILE *f, void *arg)
{
	return PEM_write_X509(f, arg);
}

int tj_tls_selfsigned(const char *cert_path, const char *key_path, const char *cn,
		      unsigned days, uint64_t serial)
{
	int rc = TJ_EINVAL;
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_EXTENSION *ext = NULL;
	if (!pkey || !x)
		goto out;
	if (serial == 0) {
		if (RAND_bytes((unsigned char *)&serial, sizeof(serial)) != 1)
			goto out;
		serial &= 0x7fffffffffffffffULL; /* positive */
		serial |= 1;
	}
	if (!X509_set_version(x, 2) || !ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial))
		goto out;
	if (!X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400L))
		goto out;
	if (!X509_set_pubkey(x, pkey))
		goto out;
	X509_NAME *name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0))
		goto out;
	if (!X509_set_issuer_name(x, name))
		goto out;

	char san[512];
	if ((size_t)snprintf(san, sizeof(san), "DNS:%s", cn) >= sizeof(san))
		goto out;
	X509V3_CTX v3;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	const char *exts[][2] = {
		{"basicConstraints", "critical,CA:FALSE"},
		{"keyUsage", "critical,digitalSignature"},
		{"extendedKeyUsage", "serverAuth"},
		{"subjectAltName", san},
	};
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		ext = X509V3_EXT_nconf(NULL, &v3, exts[i][0], exts[i][1]);
		if (!ext || !X509_add_ext(x, ext, -1))
			goto out;
		X509_EXTENSION_free(ext);
		ext = NULL;
	}
	if (!X509_sign(x, pkey, EVP_sha256()))
		goto out;
	rc = write_pem_file(key_path, 0600, pem_key, pkey);
	if (rc == 0)
		rc = write_pem_file(cert_path, 0644, pem_cert, x);
out:
	if (rc == TJ_EINVAL) {
		char err[256];
		ssl_errstr(err, sizeof(err), "self-signed certificate", cert_path);
		tj_log(TJ_LOG_ERROR, "tls", "event=selfsigned_failed error=\"%s\"", err);
	}
	X509_EXTENSION_free(ext);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return rc;
}

/*
 * tls.h - the server's TLS context (OpenSSL 3), reloadable, and a
 * self-signed certificate generator for the demo and tests.
 *
 * A tj_tls holds the current SSL_CTX built from a PEM certificate chain and
 * key: TLS 1.2 and later, OpenSSL's default cipher lists at security level
 * 2, no renegotiation, no compression.  tj_tls_reload() builds a fresh
 * context from the same files and swaps it in; connections already made
 * keep the context they were made with (each SSL holds a reference).
 * Not thread-safe: use from the loop thread.
 */
#ifndef TJ_NODE_NET_TLS_H
#define TJ_NODE_NET_TLS_H

#include <stddef.h>
#include <stdint.h>

typedef struct tj_tls tj_tls;
struct ssl_ctx_st;

/* tj_tls_new - load cert (PEM chain) and key (PEM).  0, -ENOMEM or
 * TJ_EINVAL (unreadable or mismatched files; tj_tls_last_error says why). */
int tj_tls_new(tj_tls **tls_r, const char *cert_path, const char *key_path);
/* tj_tls_new_error - like tj_tls_new, but on failure copies the reason into
 * err (errsz bytes) since no object is returned. */
int tj_tls_new_error(tj_tls **tls_r, const char *cert_path, const char *key_path,
		     char *err, size_t errsz);
void tj_tls_free(tj_tls **tls);
/* tj_tls_reload - rebuild from the files.  On failure the current context
 * is kept.  0, -ENOMEM or TJ_EINVAL. */
int tj_tls_reload(tj_tls *tls);
/* tj_tls_ctx - the current context (borrowed; SSL_new takes its own ref). */
struct ssl_ctx_st *tj_tls_ctx(tj_tls *tls);
const char *tj_tls_last_error(const tj_tls *tls);
/* tj_tls_generation - counts successful loads (1 after tj_tls_new). */
uint64_t tj_tls_generation(const tj_tls *tls);

/* tj_tls_selfsigned - write a new self-signed certificate (EC P-256,
 * SHA-256, CN and subjectAltName DNS = cn, valid `days` days, serial
 * `serial`, 0 = random) and its key.  The key file is created mode 0600;
 * both are written to a temp file, fsynced and renamed into place.
 * 0, -errno or TJ_EINVAL (OpenSSL failure). */
int tj_tls_selfsigned(const char *cert_path, const char *key_path, const char *cn,
		      unsigned days, uint64_t serial);

#endif

/*
 * auth.c - the backend-neutral half of authentication: tj_auth_check()
 * (argument screening, fail-closed results), user-name rules, and the
 * SASL PLAIN decoder (RFC 4616) with its strict base64 (RFC 4648) and
 * UTF-8 (RFC 3629) checks.  Everything here is pure except the backend
 * call itself; nothing here logs.
 */
#include "common/base64.h"
#include "node/auth/auth.h"
#include "common/err.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

const char *tj_auth_result_name(enum tj_auth_result r)
{
	switch (r) {
	case TJ_AUTH_OK: return "ok";
	case TJ_AUTH_FAIL: return "fail";
	case TJ_AUTH_DISABLED: return "disabled";
	case TJ_AUTH_UNAVAILABLE: return "unavailable";
	}
	return "unknown";
}

bool tj_auth_user_valid(const char *name, size_t len)
{
	if (!name || len == 0 || len > TJ_AUTH_USER_MAX || name[0] == '#')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= 0x20 || c == 0x7f || c == ':')
			return false;
	}
	return true;
}

/* a password the passwd file and IMAP can carry: bounded, no CR/LF */
static bool password_acceptable(const char *pw, size_t *len_r)
{
	size_t n = strnlen(pw, TJ_AUTH_PASSWORD_MAX + 1);
	*len_r = n;
	if (n > TJ_AUTH_PASSWORD_MAX)
		return false;
	return !memchr(pw, '\r', n) && !memchr(pw, '\n', n);
}

int tj_auth_check(struct tj_auth_backend *be, const char *user, const char *password,
		  enum tj_auth_result *result_r)
{
	if (!result_r)
		return TJ_EINVAL;
	*result_r = TJ_AUTH_UNAVAILABLE;
	if (!be || !be->v || !be->v->check || !user || !password)
		return TJ_EINVAL;

	size_t ulen = strnlen(user, TJ_AUTH_USER_MAX + 1), plen;
	bool acceptable = ulen <= TJ_AUTH_USER_MAX && !strchr(user, '\r') && !strchr(user, '\n') &&
			  password_acceptable(password, &plen);

	enum tj_auth_result r = TJ_AUTH_UNAVAILABLE;
	int rc;
	if (acceptable) {
		rc = be->v->check(be, user, password, &r);
	} else {
		/* same work as an unknown user, then refuse whatever it says */
		rc = be->v->check(be, "", "", &r);
		if (rc == 0 && r != TJ_AUTH_UNAVAILABLE)
			r = TJ_AUTH_FAIL;
	}
	if (rc < 0)
		return rc;
	if (rc > 0)
		return TJ_EINVAL; /* a backend broke the convention: fail closed */
	switch (r) {
	case TJ_AUTH_OK:
	case TJ_AUTH_FAIL:
	case TJ_AUTH_DISABLED:
	case TJ_AUTH_UNAVAILABLE:
		*result_r = r;
		return 0;
	}
	return TJ_EINVAL; /* an out-of-range result: fail closed */
}

const char *tj_auth_backend_name(const struct tj_auth_backend *be)
{
	if (!be || !be->v || !be->v->name)
		return "none";
	return be->v->name;
}

void tj_auth_backend_free(struct tj_auth_backend **be)
{
	if (!be || !*be)
		return;
	struct tj_auth_backend *b = *be;
	*be = NULL;
	if (b->v && b->v->destroy)
		b->v->destroy(b);
}

/* ------------------------------------------------------------ SASL PLAIN */

/* value of a base64 digit, or -1 */
static int b64_value(unsigned char c)
{
	return tj_b64_value(c, '/');
}

/*
 * Strict RFC 4648 section 4 decoding: length a multiple of 4, '=' only as
 * the last one or two characters of the last quantum, unused bits zero.
 * out must hold len / 4 * 3 bytes.  0 or TJ_EPROTO.
 */
static int b64_decode_strict(const char *in, size_t len, uint8_t *out, size_t *out_len_r)
{
	*out_len_r = 0;
	if (len == 0 || len % 4 != 0)
		return TJ_EPROTO;
	size_t o = 0;
	for (size_t i = 0; i < len; i += 4) {
		bool last = i + 4 == len;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			unsigned char c = (unsigned char)in[i + k];
			if (c == '=' && last && k >= 2) {
				pad++;
				v[k] = 0;
				continue;
			}
			if (pad) /* a digit after '=' */
				return TJ_EPROTO;
			v[k] = b64_value(c);
			if (v[k] < 0)
				return TJ_EPROTO;
		}
		uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		if (pad == 2 && (q & 0xffff) != 0)
			return TJ_EPROTO; /* non-canonical: unused bits set */
		if (pad == 1 && (q & 0xff) != 0)
			return TJ_EPROTO;
		out[o++] = (uint8_t)(q >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(q >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)q;
	}
	*out_len_r = o;
	return 0;
}

/* RFC 3629 well-formed UTF-8: no overlongs, no surrogates, <= U+10FFFF */
static bool utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint8_t lo = 0x80, hi = 0xbf; /* allowed range of the 2nd byte */
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (n - i <= need)
			return false;
		if (p[i + 1] < lo || p[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

void tj_sasl_plain_clear(struct tj_sasl_plain *p)
{
	if (p)
		explicit_bzero(p, sizeof(*p));
}

static int sasl_plain_split(const uint8_t *msg, size_t n, struct tj_sasl_plain *out)
{
	const uint8_t *nul1 = memchr(msg, 0, n);
	if (!nul1)
		return TJ_EPROTO;
	const uint8_t *rest = nul1 + 1;
	size_t rest_len = n - (size_t)(rest - msg);
	const uint8_t *nul2 = memchr(rest, 0, rest_len);
	if (!nul2)
		return TJ_EPROTO;
	const uint8_t *pw = nul2 + 1;
	size_t zlen = (size_t)(nul1 - msg);
	size_t clen = (size_t)(nul2 - rest);
	size_t plen = n - (size_t)(pw - msg);
	if (memchr(pw, 0, plen))
		return TJ_EPROTO; /* a third NUL */
	if (clen == 0 || plen == 0)
		return TJ_EPROTO;
	if (zlen > TJ_SASL_PLAIN_ID_MAX || clen > TJ_SASL_PLAIN_ID_MAX || plen > TJ_AUTH_PASSWORD_MAX)
		return TJ_ETOOBIG;
	if (!utf8_valid(msg, zlen) || !utf8_valid(rest, clen) || !utf8_valid(pw, plen))
		return TJ_EPROTO;
	if (zlen != 0 && (zlen != clen || memcmp(msg, rest, zlen) != 0))
		return -EPERM;
	memcpy(out->authzid, msg, zlen);
	out->authzid[zlen] = 0;
	memcpy(out->authcid, rest, clen);
	out->authcid[clen] = 0;
	memcpy(out->passwd, pw, plen);
	out->passwd[plen] = 0;
	return 0;
}

int tj_sasl_plain_decode(const char *b64, size_t len, struct tj_sasl_plain *out_r)
{
	if (!out_r)
		return TJ_EINVAL;
	tj_sasl_plain_clear(out_r);
	if (!b64)
		return TJ_EINVAL;
	if (len > TJ_SASL_PLAIN_B64_MAX)
		return TJ_ETOOBIG;

	uint8_t msg[TJ_SASL_PLAIN_B64_MAX / 4 * 3];
	size_t n = 0;
	int rc = b64_decode_strict(b64, len, msg, &n);
	if (rc == 0)
		rc = sasl_plain_split(msg, n, out_r);
	explicit_bzero(msg, sizeof(msg));
	if (rc != 0)
		tj_sasl_plain_clear(out_r);
	return rc;
}

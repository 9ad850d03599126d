/*
 * fuzz-auth.c - libFuzzer target for node/auth's parsers of untrusted or
 * hand-edited input.  The first byte picks the target:
 *   0  SASL PLAIN decoder (the rest is the client's base64 text)
 *   1  passwd line parser (the rest is one line)
 *   2  passwd file rewrite (first line: user name; the rest: file text)
 * Each checks the invariants the callers rely on, and aborts if one fails.
 */
#include "node/auth/auth.h"
#include "node/auth/auth-passwd.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                 \
	do {                     \
		if (!(c))        \
			abort(); \
	} while (0)

static void fuzz_plain(const uint8_t *d, size_t n)
{
	struct tj_sasl_plain p;
	int rc = tj_sasl_plain_decode((const char *)d, n, &p);
	CHECK(rc == 0 || rc == TJ_EPROTO || rc == TJ_ETOOBIG || rc == -EPERM);
	size_t zl = strnlen(p.authzid, sizeof(p.authzid));
	size_t cl = strnlen(p.authcid, sizeof(p.authcid));
	size_t pl = strnlen(p.passwd, sizeof(p.passwd));
	CHECK(zl <= TJ_SASL_PLAIN_ID_MAX && cl <= TJ_SASL_PLAIN_ID_MAX && pl <= TJ_AUTH_PASSWORD_MAX);
	if (rc != 0) {
		CHECK(zl == 0 && cl == 0 && pl == 0);
		return;
	}
	CHECK(cl > 0 && pl > 0);
	CHECK(zl == 0 || strcmp(p.authzid, p.authcid) == 0);
	/* base64 of zl + 1 + cl + 1 + pl bytes */
	CHECK(n == 4 * ((zl + cl + pl + 2 + 2) / 3));
	tj_sasl_plain_clear(&p);
}

static void fuzz_line(const uint8_t *d, size_t n)
{
	struct tj_passwd_line pl;
	const char *why = NULL;
	int rc = tj_passwd_parse_line((const char *)d, n, &pl, &why);
	if (rc != 0) {
		CHECK(rc == TJ_EPROTO || rc == TJ_ETOOBIG);
		CHECK(why != NULL);
		return;
	}
	if (pl.kind != TJ_PASSWD_LINE_ENTRY)
		return;
	CHECK(pl.user.ptr == d);
	CHECK(tj_auth_user_valid((const char *)pl.user.ptr, pl.user.len));
	CHECK(pl.hash.ptr >= d && pl.hash.ptr + pl.hash.len <= d + n);
	CHECK(pl.hash.len <= TJ_PASSWD_HASH_MAX);
	CHECK(!memchr(pl.hash.ptr, ':', pl.hash.len) && !memchr(pl.hash.ptr, '\n', pl.hash.len));
	if (pl.hash_kind != TJ_PASSWD_HASH_NONE)
		CHECK(pl.hash.len > 3 && pl.hash.ptr[0] == '$');
}

/* entries of user in text (every line must end in '\n') */
static unsigned count_entries(const tj_buf *b, const char *user)
{
	unsigned n = 0;
	size_t ulen = strlen(user), pos = 0;
	while (pos < b->len) {
		const uint8_t *nl = memchr(b->data + pos, '\n', b->len - pos);
		CHECK(nl != NULL);
		size_t len = (size_t)(nl - (b->data + pos));
		struct tj_passwd_line pl;
		if (tj_passwd_parse_line((const char *)b->data + pos, len, &pl, NULL) == 0 &&
		    pl.kind == TJ_PASSWD_LINE_ENTRY && pl.user.len == ulen && memcmp(pl.user.ptr, user, ulen) == 0)
			n++;
		pos += len + 1;
	}
	return n;
}

static void fuzz_rewrite(const uint8_t *d, size_t n)
{
	const uint8_t *nl = memchr(d, '\n', n);
	if (!nl)
		return;
	char user[TJ_AUTH_USER_MAX + 1];
	size_t ulen = (size_t)(nl - d);
	if (!tj_auth_user_valid((const char *)d, ulen))
		return;
	memcpy(user, d, ulen);
	user[ulen] = 0;
	const uint8_t *text = nl + 1;
	size_t tlen = n - ulen - 1;

	static const struct {
		const char *hash;
		int lock;
		bool remove;
	} edits[] = {
		{"$6$abc$def", -1, false},
		{"$y$j9T$salt$hash", 1, false},
		{NULL, 1, false},
		{NULL, 0, false},
		{NULL, -1, true},
	};
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		struct tj_passwd_edit e = {user, edits[i].hash, edits[i].lock, edits[i].remove};
		tj_buf out = TJ_BUF_INIT;
		bool found = false;
		int rc = tj_passwd_rewrite(text, tlen, &e, &out, &found);
		CHECK(rc == 0);
		CHECK(out.len == 0 || out.data[out.len - 1] == '\n');
		unsigned k = count_entries(&out, user);
		if (e.remove)
			CHECK(k == 0);
		else if (e.hash)
			CHECK(k == 1);
		else
			CHECK(k == (found ? 1u : 0u)); /* lock/unlock never adds a user */
		/* at most a final '\n' and one rewritten or appended entry more */
		CHECK(out.len <= tlen + 1 + ulen + 32);
		tj_buf_free(&out);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		fuzz_plain(data + 1, size - 1);
		break;
	case 1:
		fuzz_line(data + 1, size - 1);
		break;
	case 2:
		fuzz_rewrite(data + 1, size - 1);
		break;
	}
	return 0;
}

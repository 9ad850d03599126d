/*
 * admin-proto.c - admin socket frames (see admin-proto.h).
 */
#include "node/admin/admin-proto.h"
#include "common/err.h"

#include <stdbool.h>
#include <string.h>

int tj_admin_encode(tj_buf *out, uint8_t type, uint8_t flags, const void *payload, size_t len)
{
	if (len > TJ_ADMIN_MAX_PAYLOAD)
		return TJ_ETOOBIG;
	uint8_t h[TJ_ADMIN_HDR] = {'T', 'J', 'A', '1', type, flags, 0, 0};
	tj_put32(h + 8, (uint32_t)len);
	int rc = tj_buf_append(out, h, sizeof(h));
	return rc ? rc : tj_buf_append(out, payload, len);
}

int tj_admin_decode(const uint8_t *buf, size_t len, tj_admin_frame *f_r, size_t *size_r)
{
	*size_r = 0;
	size_t m = len < 4 ? len : 4;
	if (memcmp(buf, "TJA", m < 3 ? m : 3) != 0)
		return TJ_EPROTO;
	if (len >= 4 && buf[3] != '1')
		return buf[3] > '1' && buf[3] <= '9' ? TJ_EVERSION : TJ_EPROTO;
	if (len < TJ_ADMIN_HDR)
		return TJ_NEED_MORE;
	if (buf[6] || buf[7] || (buf[5] & ~TJ_ADMIN_JSON))
		return TJ_EPROTO;
	uint32_t n = tj_get32(buf + 8);
	if (n > TJ_ADMIN_MAX_PAYLOAD)
		return TJ_EPROTO;
	if (len - TJ_ADMIN_HDR < n)
		return TJ_NEED_MORE;
	f_r->type = buf[4];
	f_r->flags = buf[5];
	f_r->payload = buf + TJ_ADMIN_HDR;
	f_r->len = n;
	*size_r = TJ_ADMIN_HDR + n;
	return 0;
}

int tj_admin_learn_encode(tj_buf *out, const char *what, const char *user, const char *mailbox)
{
	const char *f[3] = {what, user, mailbox};
	const size_t max[3] = {sizeof(((struct tj_admin_learn *)0)->what), sizeof(((struct tj_admin_learn *)0)->user),
			       sizeof(((struct tj_admin_learn *)0)->mailbox)};
	for (int i = 0; i < 3; i++)
		if (strlen(f[i]) >= max[i])
			return TJ_EINVAL;
	int rc = 0;
	for (int i = 0; i < 3 && !rc; i++) {
		rc = tj_buf_append(out, f[i], strlen(f[i]));
		if (!rc && i < 2)
			rc = tj_buf_append(out, "", 1);
	}
	return rc;
}

/* field - copy the bytes up to the next NUL (or the end) into dst */
static int field(const uint8_t **p, const uint8_t *end, char *dst, size_t size, bool last)
{
	const uint8_t *nul = memchr(*p, 0, (size_t)(end - *p));
	if (last ? nul != NULL : nul == NULL)
		return TJ_EPROTO;
	size_t n = (size_t)((last ? end : nul) - *p);
	if (n >= size)
		return TJ_EPROTO;
	memcpy(dst, *p, n);
	dst[n] = '\0';
	*p += n + (last ? 0 : 1);
	return 0;
}

int tj_admin_learn_decode(const uint8_t *p, size_t len, struct tj_admin_learn *r)
{
	const uint8_t *end = p + len;
	memset(r, 0, sizeof(*r));
	if (!len)
		return TJ_EPROTO;
	int rc = field(&p, end, r->what, sizeof(r->what), false);
	if (!rc)
		rc = field(&p, end, r->user, sizeof(r->user), false);
	if (!rc)
		rc = field(&p, end, r->mailbox, sizeof(r->mailbox), true);
	return rc;
}

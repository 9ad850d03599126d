/*
 * admin-proto.c - admin socket frames (see admin-proto.h).
 */
#include "node/admin/admin-proto.h"
#include "common/err.h"

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

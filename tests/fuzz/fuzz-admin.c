/*
 * fuzz-admin - libFuzzer target for the admin socket's frame decoder: any
 * bytes give an error, "need more", or a frame inside the buffer that
 * re-encodes to the same bytes; a LEARN payload that decodes re-encodes to
 * the same bytes too.
 */
#include "common/buf.h"
#include "common/err.h"
#include "node/admin/admin-proto.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tj_admin_frame f;
	size_t used;
	if (size == 0 || tj_admin_decode(data, size, &f, &used) != 0)
		return 0;
	if (used > size || f.payload + f.len != data + used)
		abort();
	tj_buf b = TJ_BUF_INIT;
	if (tj_admin_encode(&b, f.type, f.flags, f.payload, f.len) != 0 || b.len != used || memcmp(b.data, data, used) != 0)
		abort();
	tj_buf_free(&b);
	struct tj_admin_learn l;
	if (tj_admin_learn_decode(f.payload, f.len, &l) == 0) {
		if (tj_admin_learn_encode(&b, l.what, l.user, l.mailbox) != 0 || b.len != f.len ||
		    memcmp(b.data, f.payload, f.len) != 0)
			abort();
		tj_buf_free(&b);
	}
	return 0;
}

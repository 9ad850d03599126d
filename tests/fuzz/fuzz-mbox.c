/*
 * fuzz-mbox - libFuzzer target for the mbox splitter used by
 * `tjstore-cli import`: any bytes split into messages that together are
 * never longer than the input, and the walk always ends.
 */
#include "cli/mbox.h"
#include "common/buf.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tj_mbox_iter it = {data, size, 0};
	tj_buf msg = TJ_BUF_INIT;
	int64_t date;
	size_t total = 0, n = 0;
	int rc;
	while ((rc = tj_mbox_next(&it, &msg, &date)) == 1) {
		total += msg.len;
		if (++n > size + 1 || total > size)
			abort(); /* no progress, or bytes from nowhere */
	}
	if (rc < 0)
		abort();
	tj_buf_free(&msg);
	return 0;
}

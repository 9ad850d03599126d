/*
 * fuzz-op - libFuzzer target for the op decoder: any bytes decode to an
 * error or to an op that re-encodes to exactly the same bytes.
 */
#include "common/buf.h"
#include "common/err.h"
#include "store/op.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tj_op op;
	if (tj_op_decode(data, size, &op) != 0)
		return 0;
	tj_buf b = TJ_BUF_INIT;
	if (tj_op_encode(&op, &b) != 0)
		abort(); /* a decoded op is always encodable */
	if (b.len != size || memcmp(b.data, data, size) != 0)
		abort(); /* and canonical */
	(void)tj_ranges_count(op.ranges, op.nranges);
	(void)tj_op_type_name(op.type);
	tj_buf_free(&b);
	tj_op_clear(&op);
	return 0;
}

/*
 * fuzz-record - libFuzzer target for the segment record decoder and the
 * decompressor behind it: any bytes, never a crash, never accepted unless
 * the checksum holds; an accepted record decompresses or fails cleanly.
 */
#include "common/buf.h"
#include "common/err.h"
#include "store/compress.h"
#include "store/record.h"

#include <stdlib.h>
#include <string.h>

static tj_dicts *dicts;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dicts)
		dicts = tj_dicts_new(1);
	size_t off = 0;
	/* walk records like verify does: decode, advance, stop at an error */
	while (off < size) {
		tj_rec rec;
		size_t n;
		int rc = tj_rec_decode(data + off, size - off, &rec, &n);
		if (rc)
			break;
		if (n == 0 || n > size - off)
			abort(); /* a success must consume bytes inside the buffer */
		tj_buf out = TJ_BUF_INIT;
		if (rec.raw_len <= (1u << 20)) {
			rc = tj_decompress_range(dicts, &rec, 0, rec.raw_len, &out);
			if (rc == 0 && out.len != rec.raw_len)
				abort();
			tj_buf_reset(&out);
			rc = tj_decompress_range(dicts, &rec, rec.raw_len / 3, 100, &out);
			if (rc == 0 && out.len > 100)
				abort();
		}
		tj_buf_free(&out);
		off += n;
	}
	return 0;
}

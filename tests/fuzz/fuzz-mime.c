/*
 * fuzz-mime.c - libFuzzer target for protocol/mime: parse a message, write
 * ENVELOPE/BODY/BODYSTRUCTURE, serialise and deserialise, fetch every
 * section of every part, and build the searchable text; also feeds the input
 * to the deserialiser and the header/parameter decoders directly.
 */
#include "protocol/mime/mime.h"
#include "common/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void section_name(const struct tj_mime_msg *m, uint32_t idx, char *out, size_t outsz)
{
	/* build "a.b.c" from the tree (message/rfc822 children share the number) */
	uint32_t path[64];
	int n = 0;
	for (uint32_t i = idx; i != 0 && n < 64;) {
		const struct tj_mime_part *p = tj_mime_part_get(m, i);
		const struct tj_mime_part *par = tj_mime_part_get(m, p->parent);
		if (par->flags & TJ_MIME_PART_MULTIPART) {
			uint32_t k = 1;
			for (uint32_t c = par->first_child; c != i && c != TJ_MIME_NONE; c = tj_mime_part_get(m, c)->next)
				k++;
			path[n++] = k;
		}
		i = p->parent;
	}
	size_t len = 0;
	out[0] = '\0';
	for (int j = n - 1; j >= 0 && len < outsz; j--)
		len += (size_t)snprintf(out + len, outsz - len, j == n - 1 ? "%u" : ".%u", path[j]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *suffix[] = {"", ".MIME", ".HEADER", ".TEXT", ".HEADER.FIELDS (From Subject)",
				       ".HEADER.FIELDS.NOT (To)"};
	struct tj_mime_msg *m = NULL, *d = NULL;
	tj_buf out = TJ_BUF_INIT;

	if (tj_mime_deserialize(data, size, &d) == 0)
		tj_mime_free(&d);
	(void)tj_mime_decode_header(data, size, &out);
	tj_buf_reset(&out);

	if (tj_mime_parse(data, size, &m) != 0)
		return 0;
	if (tj_mime_serialize(m, &out) == 0 && tj_mime_deserialize(out.data, out.len, &d) == 0) {
		tj_slice a = tj_mime_bodystructure(m), b = tj_mime_bodystructure(d);
		if (a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0)
			abort();
		tj_mime_free(&d);
	}
	uint64_t total = 0;
	for (uint32_t i = 0; i < tj_mime_part_count(m) && i < 64; i++) {
		char sec[400], full[512];
		section_name(m, i, sec, sizeof(sec));
		for (size_t s = 0; s < sizeof(suffix) / sizeof(suffix[0]); s++) {
			snprintf(full, sizeof(full), "%s%s", sec, sec[0] ? suffix[s] : suffix[s] + (s ? 1 : 0));
			tj_buf_reset(&out);
			(void)tj_mime_section_fetch(m, data, size, full, &out);
		}
		struct tj_mime_content ct;
		if (tj_mime_part_content(m, i, &ct) == 0 && ct.filename) {
			tj_buf_reset(&out);
			(void)tj_mime_decode_2231(ct.filename, &out);
		}
	}
	tj_buf_reset(&out);
	if (tj_mime_section_fetch(m, data, size, "", &out) == 0) {
		total = out.len;
		if (total != tj_mime_size(m))
			abort(); /* the CRLF size must be what we send */
	}
	tj_buf_reset(&out);
	if (tj_mime_search_text(data, size, TJ_MIME_SEARCH_ALL, &out) == 0)
		(void)tj_mime_search(out.data, out.len, (const uint8_t *)"\xc3\x84" "b", 3);
	tj_buf_free(&out);
	tj_mime_free(&m);
	return 0;
}

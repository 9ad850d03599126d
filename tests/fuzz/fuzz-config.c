/*
 * fuzz-config.c - libFuzzer target for node/config: the input is a config
 * file.  A first line starting with "@" is not part of the file: each
 * '\x1f'-separated piece of it is given as one --set argument.
 *
 * Checked besides memory safety: a load that succeeds leaves no errors, and
 * its printed form loads back without errors into an equal config that
 * prints identically (parse(print(cfg)) == cfg); a failed load has errors.
 */
#include "common/buf.h"
#include "common/err.h"
#include "node/config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_MAX_SETS 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	tj_config *c;
	if (tj_config_new(&c) != 0)
		return 0;
	const char *text = (const char *)data;
	size_t len = size;
	if (size && data[0] == '@') {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;
		char *line = strndup(text + 1, n - 1); /* stops at a NUL: fine */
		if (!line)
			abort();
		char *save = NULL;
		int k = 0;
		for (char *a = strtok_r(line, "\x1f", &save); a && k < FUZZ_MAX_SETS; a = strtok_r(NULL, "\x1f", &save), k++)
			tj_config_add_override(c, a);
		free(line);
		text += n + (nl ? 1 : 0);
		len -= n + (nl ? 1 : 0);
	}
	int rc = tj_config_load_string(c, "fuzz.conf", text, len);
	const char *const *errs;
	size_t nerr = tj_config_errors(c, &errs);
	if (rc == -ENOMEM) {
		tj_config_free(&c);
		return 0;
	}
	if ((rc == 0) != (nerr == 0))
		abort();
	for (size_t i = 0; i < nerr; i++)
		if (!errs[i] || !errs[i][0])
			abort();
	if (rc == 0) {
		tj_buf p1 = TJ_BUF_INIT, p2 = TJ_BUF_INIT;
		tj_config *d;
		if (tj_config_print(c, &p1) != 0 || tj_config_new(&d) != 0)
			abort();
		if (tj_config_load_string(d, "printed", p1.data, p1.len) != 0)
			abort();
		if (!tj_config_equal(c, d))
			abort();
		if (tj_config_print(d, &p2) != 0 || p1.len != p2.len || memcmp(p1.data, p2.data, p1.len) != 0)
			abort();
		tj_buf_free(&p1);
		tj_buf_free(&p2);
		tj_config_free(&d);
	}
	tj_config_free(&c);
	return 0;
}

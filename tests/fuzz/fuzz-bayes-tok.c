/*
 * fuzz-bayes-tok.c - libFuzzer target for the Bayes tokenizer
 * (node/scan/bayes-tok.c): any bytes as a message, tokenized with and
 * without token texts.  Checks the set's invariants: at most
 * TJ_BAYES_MAX_TOKENS distinct non-zero hashes, each the hash of its text,
 * each found again, the same set both ways, and a reused set gives the
 * same result as a fresh one.
 */
#include "common/err.h"
#include "node/scan/bayes-tok.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static tj_bayes_toks reused; /* kept across inputs: reset must clear it */
	static int init;
	tj_bayes_toks t;
	if (!init) {
		tj_bayes_toks_init(&reused, 0);
		init = 1;
	}
	tj_bayes_toks_init(&t, 1);
	if (tj_bayes_tokenize(data, size, &t) != 0)
		abort();
	if (t.n > TJ_BAYES_MAX_TOKENS || (t.dropped && t.n != TJ_BAYES_MAX_TOKENS))
		abort();
	for (size_t i = 0; i < t.n; i++) {
		const char *s = tj_bayes_toks_text(&t, i);
		size_t l = strlen(s);
		if (!t.hash[i] || l > TJ_BAYES_TOKEN_TEXT_MAX || t.hash[i] != tj_bayes_token_hash(s, l) ||
		    !tj_bayes_toks_has(&t, s))
			abort();
		for (size_t j = i + 1; j < t.n && j < i + 8; j++)
			if (t.hash[j] == t.hash[i])
				abort();
	}
	if (tj_bayes_tokenize(data, size, &reused) != 0 || reused.n != t.n || reused.dropped != t.dropped ||
	    (t.n && memcmp(reused.hash, t.hash, t.n * sizeof(*t.hash)) != 0))
		abort();
	tj_bayes_toks_free(&t);
	return 0;
}

/*
 * bayes-tok.h - the Bayesian spam classifier's tokenizer: one message's
 * bytes in, a set of distinct 64-bit token hashes out.
 *
 * Pure: no IO, no globals of its own (tj_mime_parse and the MIME helpers'
 * per-thread iconv cache aside), so it is reentrant and may run on any
 * number of threads at once, each with its own tj_bayes_toks.
 *
 * What becomes a token (docs/bayes.md has the full list):
 *   - headers, prefixed by what they are: "subject:" words, "from:"/"to:"
 *     addresses, domains and name words, "rcvd:" hosts, domains and IP
 *     prefixes from Received, "mid:" the Message-ID's domain and shape,
 *     "mailer:" X-Mailer/User-Agent, "header:NAME" for each header present,
 *     and the words of other headers prefixed by their name;
 *   - every MIME part's "ct:" type, "charset:", "cte:", "disp:", "fname:"
 *     extension;
 *   - the words of the text parts, after base64/quoted-printable decoding,
 *     conversion to UTF-8 and case folding; HTML is reduced to its text,
 *     keeping "html:" tokens for tag names and a few attributes;
 *   - URLs (in text and in HTML attributes) as "url:" host suffixes, path
 *     pieces, scheme, IP hosts; e-mail addresses as "email:" tokens.
 * Words shorter than TJ_BAYES_TOK_MIN (ASCII) are dropped; words longer than
 * TJ_BAYES_TOK_MAX become "skip:" class tokens (first character and length
 * band), as SpamAssassin and SpamBayes do.  Headers we write ourselves
 * (X-Spam-*, X-Virus-*, X-Bogosity ...) are ignored, so learning from a Junk
 * folder of tagged mail learns the mail, not our tags.
 *
 * Tokens are kept once per message (a set), at most TJ_BAYES_MAX_TOKENS of
 * them (headers first, then body), and stored as XXH3-64 hashes of their
 * text.  TJ_BAYES_TOK_VERSION changes whenever the same message would give
 * different tokens; a database records the version it was trained with.
 */
#ifndef TJ_NODE_SCAN_BAYES_TOK_H
#define TJ_NODE_SCAN_BAYES_TOK_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define TJ_BAYES_TOK_VERSION 1
#define TJ_BAYES_MAX_TOKENS 3000         /* distinct tokens per message */
#define TJ_BAYES_TOK_MIN 3               /* shorter ASCII words are dropped */
#define TJ_BAYES_TOK_MAX 20              /* longer words (code points) become "skip:" tokens */
#define TJ_BAYES_TEXT_MAX (256 * 1024)   /* decoded body text looked at per message */
#define TJ_BAYES_HDR_MAX (64 * 1024)     /* header bytes looked at per header block */
#define TJ_BAYES_TOKEN_TEXT_MAX 120      /* a token's text is cut here before hashing */

typedef struct tj_bayes_toks {
	uint64_t *hash;     /* distinct token hashes, in the order first met */
	size_t n;
	size_t dropped;     /* tokens met after the TJ_BAYES_MAX_TOKENS cap */
	/* with keep_text set (tests, tuning): the text of token i is the
	 * NUL-terminated string at text.data + off[i] */
	int keep_text;
	tj_buf text;
	size_t *off;
	/* private */
	size_t cap;
	uint64_t *set;      /* open addressing, 0 = empty */
	size_t set_mask;
} tj_bayes_toks;

/* tj_bayes_toks_init - an empty token set; keep_text keeps each token's text. */
void tj_bayes_toks_init(tj_bayes_toks *t, int keep_text);
/* tj_bayes_toks_free - release memory; t is left empty and reusable. */
void tj_bayes_toks_free(tj_bayes_toks *t);
/* tj_bayes_toks_reset - empty t, keeping its memory for the next message. */
void tj_bayes_toks_reset(tj_bayes_toks *t);

/* tj_bayes_tokenize - reset t, then fill it with the tokens of the message
 * msg[0..len) (LF or CRLF line ends; any bytes: malformed mail gives what can
 * be read of it).  0 or -ENOMEM (t then holds a partial set). */
int tj_bayes_tokenize(const uint8_t *msg, size_t len, tj_bayes_toks *t);

/* tj_bayes_token_hash - the hash a token with this text is stored under. */
uint64_t tj_bayes_token_hash(const char *text, size_t len);

/* tj_bayes_toks_has - 1 if t holds the token with this text, else 0. */
int tj_bayes_toks_has(const tj_bayes_toks *t, const char *text);

/* tj_bayes_toks_text - token i's text (keep_text only; else NULL). */
const char *tj_bayes_toks_text(const tj_bayes_toks *t, size_t i);

#endif

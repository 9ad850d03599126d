/*
 * mime-private.h - internals shared by the files of protocol/mime/: a memory
 * arena, the RFC 5322/2045 tokenizer, parsed content data and envelopes.
 * Not for use outside protocol/mime/.
 */
#ifndef TJ_MIME_PRIVATE_H
#define TJ_MIME_PRIVATE_H

#include "protocol/mime/mime.h"

#include <stdbool.h>

/* ---- arena: everything of one parse is freed at once ---- */
struct tjm_chunk;
struct tjm_pool {
	struct tjm_chunk *chunks;
	bool oom; /* an allocation failed; results are incomplete */
};
void *tjm_alloc(struct tjm_pool *pool, size_t size); /* zeroed; NULL + oom on failure */
char *tjm_strndup(struct tjm_pool *pool, const void *s, size_t len); /* NULL on failure */
void tjm_pool_clear(struct tjm_pool *pool);

/* ---- tokenizer (RFC 5322 lexical rules, lenient like Dovecot's) ----
 * Functions return 1 when more input follows, 0 at the end, -1 on error. */
struct tjm_lex {
	const uint8_t *p, *end;
	tj_buf *last_comment; /* if set, receives the last (comment) text */
	bool nul_repl;        /* NUL in quoted text -> U+FFFD */
	bool *oom;
};
extern const uint8_t tjm_atext[256];
#define TJM_IS_ATEXT(c) (tjm_atext[(uint8_t)(c)] != 0)
#define TJM_IS_TOKEN(c) ((tjm_atext[(uint8_t)(c)] & 3) != 0)
#define TJM_IS_LWSP(c) ((c) == ' ' || (c) == '\t')

void tjm_lex_init(struct tjm_lex *lx, const uint8_t *p, size_t len, tj_buf *last_comment, bool *oom);
int tjm_lex_skip_lwsp(struct tjm_lex *lx);
int tjm_lex_atom(struct tjm_lex *lx, tj_buf *out);
int tjm_lex_dot_atom(struct tjm_lex *lx, tj_buf *out);
int tjm_lex_mime_token(struct tjm_lex *lx, tj_buf *out);
int tjm_lex_quoted(struct tjm_lex *lx, tj_buf *out);
int tjm_lex_phrase(struct tjm_lex *lx, tj_buf *out);
int tjm_lex_domain(struct tjm_lex *lx, tj_buf *out);
int tjm_lex_content_type(struct tjm_lex *lx, tj_buf *out);
void tjm_put(struct tjm_lex *lx, tj_buf *b, const void *p, size_t n);

struct tjm_param {
	const char *name, *value;
};
/* tjm_parse_params - ";name=value" list with RFC 2231 continuations merged
 * (Dovecot rules).  Returns -1 if broken (whatever parsed is still kept). */
int tjm_parse_params(struct tjm_lex *lx, struct tjm_pool *pool,
		     struct tjm_param **params_r, unsigned int *count_r);

struct tjm_addr {
	const char *name, *route, *mailbox, *domain; /* NULL = NIL */
	struct tjm_addr *next;
};
/* tjm_parse_addresses - an address-list header value (Dovecot's rules with
 * MISSING_MAILBOX / MISSING_DOMAIN / SYNTAX_ERROR / INVALID_ROUTE fill-ins). */
struct tjm_addr *tjm_parse_addresses(struct tjm_pool *pool, const uint8_t *p, size_t len,
				     unsigned int max_addresses);

struct tjm_envelope {
	const char *date, *subject, *message_id, *in_reply_to;
	struct tjm_addr *from, *sender, *reply_to, *to, *cc, *bcc;
};

/* parsed Content-* data of one part */
struct tjm_pdata {
	const char *type, *subtype;
	struct tjm_param *params;
	unsigned int nparams;
	const char *id, *description, *cte, *md5, *location;
	const char *disposition;
	struct tjm_param *dparams;
	unsigned int ndparams;
	const char **lang; /* NULL-terminated or NULL */
	struct tjm_envelope *env;
	uint32_t last_child; /* parse-time: the newest child */
};

struct tj_mime_msg {
	struct tj_mime_part *parts;
	uint32_t nparts, parts_cap;
	struct tjm_pdata *data; /* nparts entries; NULL after deserialize */
	tj_buf envelope, body, bodystructure;
	struct tjm_pool pool;
};

/* imap-write.c */
int tjm_write_envelope(const struct tjm_envelope *env, tj_buf *out);
int tjm_write_bodystructure(const struct tj_mime_msg *msg, uint32_t idx, bool extended, tj_buf *out);
void tjm_imap_nstring(tj_buf *out, const char *s, bool *oom);

#endif

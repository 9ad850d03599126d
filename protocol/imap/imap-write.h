/*
 * imap-write.h - building IMAP responses into a tj_buf.
 *
 * Every function appends to b and returns 0 or a tj_buf error (-ENOMEM,
 * TJ_ETOOBIG); on error b may hold a partial item, so callers building a
 * response line discard it.
 */
#ifndef TJ_IMAP_WRITE_H
#define TJ_IMAP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Longest string written as a quoted string; longer ones become literals. */
#define IMAP_WRITE_QUOTED_MAX 1024

/* Options for 8-bit text: after ENABLE UTF8=ACCEPT / IMAP4rev2 a quoted
 * string may carry UTF-8; otherwise 8-bit data forces a literal. */
#define IMAP_WRITE_UTF8 1u

/* imap_write_quoted - "..." with \ and " escaped.  The caller must know
 * the text is quotable (imap_quotable). */
int imap_write_quoted(tj_buf *b, const void *s, size_t len);
/* imap_write_literal - {len}CRLF then the bytes; literal8 gives ~{len}. */
int imap_write_literal(tj_buf *b, const void *s, size_t len, bool literal8);
/* imap_quotable - len <= IMAP_WRITE_QUOTED_MAX, no NUL/CR/LF, and no 8-bit
 * bytes unless IMAP_WRITE_UTF8. */
bool imap_quotable(const void *s, size_t len, unsigned opts);

/* imap_write_string - quoted when quotable, else a literal. */
int imap_write_string(tj_buf *b, const void *s, size_t len, unsigned opts);
/* imap_write_astring - a bare atom when every byte is ASTRING-CHAR and it
 * is not "NIL" (any case), else as imap_write_string. */
int imap_write_astring(tj_buf *b, const void *s, size_t len, unsigned opts);
/* imap_write_nstring - NIL when s is NULL, else imap_write_string. */
int imap_write_nstring(tj_buf *b, const void *s, size_t len, unsigned opts);

/* imap_write_flags - "(\Answered \Seen kw1 kw2)" from enum imap_sysflag
 * bits and keywords, in that order. */
int imap_write_flags(tj_buf *b, uint32_t system, const char *const *keywords, size_t count);

/* imap_write_seqset - compress an ascending list (duplicates allowed) into
 * "1:5,7,9:10".  An empty list writes nothing. TJ_EINVAL if not sorted. */
int imap_write_seqset(tj_buf *b, const uint32_t *nums, size_t count);

#endif

/*
 * imap-parser.h - incremental IMAP4rev1/IMAP4rev2 command parser.
 *
 * Pure: bytes in, commands out.  A session feeds whatever bytes arrived and
 * gets back one of: a complete command (a tag, a name and a tree of
 * arguments), "need more input", "send a continuation request" (the client
 * announced a synchronizing literal), or an error for a tagged (or untagged,
 * when the tag was not read yet) BAD.  After an error the parser skips the
 * rest of the bad line, and any non-synchronizing literal the line announced,
 * so the session can go on with the next command.
 *
 * Ownership: a parser is used by one thread.  Everything a command points to
 * (tag, name, argument strings) belongs to the parser and stays valid until
 * the next imap_parser_feed() or imap_parser_free().
 */
#ifndef TJ_IMAP_PARSER_H
#define TJ_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "protocol/imap/imap-command.h"

/* Limits.  "line" counts every byte of a command that is not literal data
 * (all its lines, CRLFs included).  Before authentication all limits are
 * tighter: an anonymous peer cannot make us hold more than ~40 KiB. */
#define IMAP_MAX_LINE              (64 * 1024)
#define IMAP_MAX_LINE_PREAUTH      (32 * 1024) /* SASL-IR GSSAPI tokens fit */
#define IMAP_MAX_LITERAL_APPEND    (64ULL * 1024 * 1024) /* APPEND message */
#define IMAP_MAX_LITERAL           (1ULL * 1024 * 1024)  /* other commands */
#define IMAP_MAX_LITERAL_PREAUTH   (8ULL * 1024)
#define IMAP_MAX_LITERAL_TOTAL     (64ULL * 1024 * 1024 + 1024 * 1024) /* per command */
#define IMAP_MAX_LITERAL_TOTAL_PREAUTH (8ULL * 1024)
#define IMAP_LITERAL_MINUS_MAX     4096  /* RFC 7888 LITERAL- non-sync cap */
#define IMAP_MAX_DEPTH             16    /* nested lists/sections */
#define IMAP_MAX_ARGS              4096  /* argument nodes per command */
#define IMAP_MAX_ARGS_PREAUTH      64
#define IMAP_MAX_TAG               64    /* tag length */

/* Results of imap_parser_feed() besides 0 (a command is ready) and
 * TJ_NEED_MORE.  Not an error: the client waits for "+ " before sending
 * the literal it announced. */
#define IMAP_NEED_CONTINUATION 1

enum imap_arg_type {
	IMAP_ARG_ATOM,    /* also flags (\Seen), sequence sets, patterns */
	IMAP_ARG_QUOTED,  /* escapes removed */
	IMAP_ARG_LITERAL, /* binary safe; see literal8 */
	IMAP_ARG_NIL,     /* the atom NIL (any case); str holds the text */
	IMAP_ARG_LIST,    /* ( ... ): list/count */
	IMAP_ARG_SECTION, /* FETCH only: NAME[...]<partial>, e.g. BODY.PEEK[1.MIME] */
};

struct imap_arg {
	enum imap_arg_type type;
	/* ATOM, QUOTED, LITERAL, NIL: the bytes (NUL-terminated; a literal may
	 * also contain NULs, len is authoritative).  SECTION: the name before
	 * '[' (e.g. "BODY.PEEK").  LIST: "" (len 0). */
	const char *str;
	size_t len;
	/* LIST: the elements.  SECTION: what was inside [ ] */
	const struct imap_arg *list;
	size_t count;
	/* SECTION: raw text between < and > (digits and '.'), if any */
	bool has_partial;
	const char *partial;
	size_t partial_len;
	/* LITERAL: ~{n} (RFC 3516) and {n+} */
	bool literal8;
	bool nonsync;
};

struct imap_command {
	const char *tag;
	const char *name;      /* upper-cased; "UID FETCH" for UID commands */
	enum imap_cmd kind;    /* IMAP_CMD_UNKNOWN for names we do not know */
	const struct imap_arg *args;
	size_t argc;
};

struct imap_parse_error {
	const char *reason;    /* static text for "BAD <reason>" */
	bool tag_known;        /* false: reply "* BAD" */
	const char *tag;       /* when tag_known */
	bool close_suggested;  /* a rejected non-synchronizing literal before
				* auth or over 1 GiB: its bytes are still
				* skipped, but the session may say BYE */
};

struct imap_parser;

/* imap_parser_new - allocate a parser (pre-auth limits).  0 or -ENOMEM. */
int imap_parser_new(struct imap_parser **p_r);
/* imap_parser_free - release a parser and everything it handed out; NULLs *p. */
void imap_parser_free(struct imap_parser **p);

/* imap_parser_set_authenticated - switch to the post-login limits (or back).
 * Takes effect for checks made from now on. */
void imap_parser_set_authenticated(struct imap_parser *p, bool on);
/* imap_parser_set_literal_minus - enforce RFC 7888 LITERAL-: a
 * non-synchronizing literal over IMAP_LITERAL_MINUS_MAX is a BAD. */
void imap_parser_set_literal_minus(struct imap_parser *p, bool on);

/*
 * imap_parser_feed - parse input.  *consumed_r is always set to how many
 * bytes of buf were used; the caller keeps the rest and feeds it again.
 * Returns:
 *   0                       a command is complete: imap_parser_command().
 *   TJ_NEED_MORE            all of buf was consumed; feed more when it comes.
 *   IMAP_NEED_CONTINUATION  send "+ Ready" (the client announced a
 *                           synchronizing literal), then keep feeding.
 *   TJ_EPROTO, TJ_ETOOBIG   the command is bad: imap_parser_error() says
 *                           why; reply BAD and keep feeding (the rest of the
 *                           line is skipped).
 *   -ENOMEM                 out of memory; the parser must be freed.
 * Splitting the input differently never changes the results.
 */
int imap_parser_feed(struct imap_parser *p, const void *buf, size_t len, size_t *consumed_r);

/* imap_parser_command - the command after feed returned 0, else NULL. */
const struct imap_command *imap_parser_command(const struct imap_parser *p);
/* imap_parser_error - details after feed returned an error, else NULL. */
const struct imap_parse_error *imap_parser_error(const struct imap_parser *p);
/* imap_parser_idle - true when between commands (nothing buffered, not
 * skipping).  imap_parser_read_line() may only be used then. */
bool imap_parser_idle(const struct imap_parser *p);

/*
 * imap_parser_read_line - read one raw line (for IDLE's DONE and SASL
 * responses), CRLF or LF stripped, at most the current line limit.
 * Returns 0 with *line_r, *len_r (NUL-terminated, valid until the next call
 * on p), TJ_NEED_MORE (all consumed; call again with more), TJ_ETOOBIG (the
 * line was too long; it is skipped to its end before the next call
 * returns), or TJ_ESTATE when a command is half parsed.
 */
int imap_parser_read_line(struct imap_parser *p, const void *buf, size_t len, size_t *consumed_r,
			  const char **line_r, size_t *len_r);

/* ---- argument helpers (all case-insensitive where names are compared) ---- */

/* imap_arg_is_atom - arg is an atom equal to name (any case). */
bool imap_arg_is_atom(const struct imap_arg *arg, const char *name);
/* imap_arg_get_astring - atom, quoted, literal or NIL (as the text "NIL").
 * 0 or TJ_EINVAL. */
int imap_arg_get_astring(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* imap_arg_get_mailbox - an astring usable as a mailbox name (or LIST
 * reference): no NUL, CR or LF.  Not decoded (mUTF-7 or UTF-8 is the
 * caller's choice).  0 or TJ_EINVAL. */
int imap_arg_get_mailbox(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* imap_arg_get_string - quoted or literal only.  0 or TJ_EINVAL. */
int imap_arg_get_string(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* imap_arg_get_nstring - string or NIL (*s_r = NULL).  0 or TJ_EINVAL. */
int imap_arg_get_nstring(const struct imap_arg *arg, const char **s_r, size_t *len_r);
/* imap_arg_get_list - a list: its elements.  0 or TJ_EINVAL. */
int imap_arg_get_list(const struct imap_arg *arg, const struct imap_arg **list_r, size_t *count_r);

/* imap_parse_number - 1*DIGIT fitting in 32 bits (RFC 3501 number).
 * 0 or TJ_EINVAL. */
int imap_parse_number(const char *s, size_t len, uint32_t *n_r);
/* imap_parse_number64 - 1*DIGIT up to 2^63-1 (RFC 9051 number64,
 * mod-sequence-valzer).  0 or TJ_EINVAL. */
int imap_parse_number64(const char *s, size_t len, uint64_t *n_r);
/* imap_arg_get_number / _number64 - an atom holding such a number. */
int imap_arg_get_number(const struct imap_arg *arg, uint32_t *n_r);
int imap_arg_get_number64(const struct imap_arg *arg, uint64_t *n_r);

/* Character classes of RFC 3501 section 9. */
bool imap_is_atom_char(uint8_t c);    /* ATOM-CHAR */
bool imap_is_astring_char(uint8_t c); /* ATOM-CHAR / "]" */

#endif

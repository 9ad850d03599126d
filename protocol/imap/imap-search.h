/*
 * imap-search.h - SEARCH / UID SEARCH arguments as a tree of keys.
 *
 * Every RFC 3501 key, MODSEQ (RFC 7162), CHARSET, and the ESEARCH RETURN
 * options of RFC 4731/9051.  Top-level keys are ANDed under one root AND
 * node; parenthesised groups become AND nodes too.  Strings point into the
 * command and are valid as long as it is.
 */
#ifndef TJ_IMAP_SEARCH_H
#define TJ_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/imap/imap-date.h"
#include "protocol/imap/imap-parser.h"
#include "protocol/imap/imap-seqset.h"

#define IMAP_SEARCH_MAX_DEPTH 64

enum imap_search_type {
	IMAP_SK_AND,        /* children (also "(...)" and the root) */
	IMAP_SK_OR,         /* two children */
	IMAP_SK_NOT,        /* one child */
	IMAP_SK_ALL,
	IMAP_SK_SEQSET,     /* set: message numbers */
	IMAP_SK_UID,        /* set: UIDs */
	/* flags */
	IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT, IMAP_SK_FLAGGED,
	IMAP_SK_SEEN, IMAP_SK_RECENT, IMAP_SK_NEW, IMAP_SK_OLD,
	IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED, IMAP_SK_UNDRAFT,
	IMAP_SK_UNFLAGGED, IMAP_SK_UNSEEN,
	IMAP_SK_KEYWORD,    /* str */
	IMAP_SK_UNKEYWORD,  /* str */
	/* text: str (substring, any case) */
	IMAP_SK_BCC, IMAP_SK_BODY, IMAP_SK_CC, IMAP_SK_FROM, IMAP_SK_SUBJECT,
	IMAP_SK_TEXT, IMAP_SK_TO,
	IMAP_SK_HEADER,     /* header: field name, str: value */
	/* dates: date (internal date for BEFORE/ON/SINCE, Date: for SENT*) */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE,
	/* sizes: number */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,
	IMAP_SK_MODSEQ,     /* number; header: entry name or NULL; entry_type */
};

enum imap_search_entry_type { IMAP_ENTRY_ALL, IMAP_ENTRY_PRIV, IMAP_ENTRY_SHARED };

struct imap_search_key {
	enum imap_search_type type;
	const char *str;
	size_t str_len;
	const char *header;
	size_t header_len;
	enum imap_search_entry_type entry_type;
	uint64_t number;
	struct imap_date date;
	struct imap_seqset set;
	struct imap_search_key *children;
	size_t child_count;
};

enum imap_search_return {
	IMAP_SEARCH_RET_MIN = 1 << 0,
	IMAP_SEARCH_RET_MAX = 1 << 1,
	IMAP_SEARCH_RET_ALL = 1 << 2,
	IMAP_SEARCH_RET_COUNT = 1 << 3,
	IMAP_SEARCH_RET_SAVE = 1 << 4,
};

struct imap_search {
	const char *charset;           /* NULL: none given */
	bool has_return;               /* RETURN (...) given: answer with ESEARCH */
	uint32_t return_opts;          /* RETURN () means ALL */
	bool has_modseq;               /* a MODSEQ key appears: reply with (MODSEQ n) */
	struct imap_search_key *root;  /* an AND node */
	struct imap_search_key *pool;  /* all nodes, one allocation */
	size_t pool_used, pool_size;
};

#define IMAP_SEARCH_INIT {NULL, false, 0, false, NULL, NULL, 0, 0}

/*
 * imap_search_parse - parse SEARCH arguments (args after the command name).
 * s must be initialised (IMAP_SEARCH_INIT or a previous parse); it is
 * reset.  Returns 0; TJ_EINVAL with *error_r for a syntax error (BAD);
 * TJ_ENOTFOUND when the CHARSET is not US-ASCII or UTF-8 (reply NO
 * [BADCHARSET (US-ASCII UTF-8)]); -ENOMEM.
 */
int imap_search_parse(struct imap_search *s, const struct imap_arg *args, size_t argc,
		      const char **error_r);
/* imap_search_free - release; s is left empty and reusable. */
void imap_search_free(struct imap_search *s);

#endif

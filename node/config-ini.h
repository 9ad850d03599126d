/*
 * config-ini.h - the INI tokenizer under node/config.c: text in, one event
 * per section header, key = value pair or malformed line out.  It knows no
 * keys; node/config.c gives them meaning.  Syntax (docs/config.md):
 *
 *   [section]            # comment        ; comment
 *   key = value          (spaces around key and value are dropped)
 *   key = "  value # "   (quotes keep spaces, '#' and ';'; \" and \\ escape)
 *
 * An unquoted value ends at the first '#' or ';'.  Lines end in LF or CRLF;
 * a UTF-8 byte order mark at the start is skipped.
 */
#ifndef TJ_NODE_CONFIG_INI_H
#define TJ_NODE_CONFIG_INI_H

#include <stddef.h>

enum tj_ini_kind {
	TJ_INI_SECTION, /* a [section] header: section is its name */
	TJ_INI_PAIR,    /* key = value inside section (section "" before the first header) */
	TJ_INI_ERROR,   /* a malformed line: value is the problem */
};

typedef struct tj_ini_item {
	enum tj_ini_kind kind;
	unsigned line;       /* 1-based */
	const char *section; /* NULL after a malformed header, until the next good one */
	const char *key;     /* TJ_INI_PAIR */
	const char *value;   /* TJ_INI_PAIR: unquoted, NUL-terminated; TJ_INI_ERROR: message */
} tj_ini_item;

/* The strings in an item are valid during the call only.  Return 0 to go
 * on; anything else stops tj_ini_parse, which returns it. */
typedef int tj_ini_fn(void *arg, const tj_ini_item *it);

/* tj_ini_parse - tokenize len bytes of text (NULs allowed: a line holding
 * one is reported malformed).  Malformed lines are reported as TJ_INI_ERROR
 * items and parsing goes on.  Returns 0, what fn returned, or -ENOMEM. */
int tj_ini_parse(const char *text, size_t len, tj_ini_fn *fn, void *arg);

#endif

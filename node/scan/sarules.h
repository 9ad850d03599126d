/*
 * sarules.h - SpamAssassin-style rule files: a pure parser, a compiler to
 * PCRE2 (JIT) and a matcher that scores one message.
 *
 * Supported (docs/spam.md has the details and what is skipped):
 *   header NAME Field =~ /re/flags [if-unset: STR]   (!~, :raw :addr :name
 *          :first :last, ALL ALL:raw ToCc MESSAGEID EnvelopeFrom, exists:F)
 *   body | rawbody | uri | full NAME /re/flags        (m{..} m!..! ... too)
 *   meta NAME expr           (&& || ! ( ) + - * / < > <= >= == !=,
 *                             rules_matching(GLOB), local_tests_only)
 *   score NAME s [s s s]     (4 values: set 2 = "no network, Bayes on")
 *   describe, tflags (nice multiple maxhits=N nosubject), required_score,
 *   required_hits, ifplugin / if / else / endif.
 * Skipped and counted, never fatal: eval: tests, lang, priority, unknown
 * directives, regexes PCRE2 refuses, lines in false conditional blocks.
 * Metas treat rules that did not run as unknown: a meta hits only if it is
 * true whatever they are (docs/spam.md, "Meta rules").
 *
 *   tj_sa_rules *r;
 *   if (tj_sa_rules_load("/usr/share/spamassassin", &r) < 0) ...
 *   tj_buf s = TJ_BUF_INIT; tj_sa_rules_summary(r, &s);   (log it)
 *   struct tj_sa_match m;
 *   tj_sa_check(r, msg, len, bayes_prob, &m);             (any thread)
 *   ... m.score, m.hits[i].name ...
 *   tj_sa_match_free(&m);
 *   tj_sa_rules_free(&r);
 *
 * Lifetime and threads: a tj_sa_rules is built by one thread (new, parse or
 * load, finish).  After tj_sa_rules_finish() it is immutable and any number
 * of threads may call tj_sa_check() on it at once.  Names in a match point
 * into the rules and stay valid until tj_sa_rules_free().
 */
#ifndef TJ_SCAN_SARULES_H
#define TJ_SCAN_SARULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Per-message bounds (SpamAssassin's own defaults where it has one). */
#define TJ_SA_BODY_PART_MAX 50000            /* rendered text per text part (SA body_part_scan_size) */
#define TJ_SA_RAWBODY_PART_MAX (256u << 10)  /* decoded bytes per text part for rawbody */
#define TJ_SA_TEXT_MAX (256u << 10)          /* rendered body, and rawbody, per message */
#define TJ_SA_FULL_MAX (1u << 20)            /* bytes of the raw message "full" rules see */
#define TJ_SA_HEADER_MAX (64u << 10)         /* one header value as a rule sees it */
#define TJ_SA_LINE_MAX 2048                  /* body lines / rawbody chunks (SA MAX_BODY_LINE_LENGTH) */
#define TJ_SA_URIS_MAX 1000                  /* URIs extracted per message */
#define TJ_SA_URI_LEN_MAX 2048               /* longer URIs are cut */
#define TJ_SA_MATCH_LIMIT 2000000            /* pcre2_set_match_limit, per match */
#define TJ_SA_DEPTH_LIMIT 20000              /* pcre2_set_depth_limit (interpreter) */
#define TJ_SA_HEAP_LIMIT_KIB 32768           /* pcre2_set_heap_limit (interpreter) */
#define TJ_SA_JIT_STACK_MAX (1u << 20)       /* JIT stack (one per thread) */
#define TJ_SA_TIME_BUDGET_MS 2000            /* per message: later rules are not run */
/* Rule-file bounds. */
#define TJ_SA_IF_DEPTH_MAX 64                /* nesting of if / ifplugin */
#define TJ_SA_RULES_MAX 200000               /* names (rules, scores, describes) */
#define TJ_SA_META_TOKENS_MAX 4096           /* tokens in one meta expression */
#define TJ_SA_ERRORS_KEPT 16                 /* skip examples kept for the log */

/* Why a line or a rule was not used.  Counted, never fatal. */
enum tj_sa_skip {
	TJ_SA_SKIP_EVAL,        /* eval:... test (plugins are not implemented) */
	TJ_SA_SKIP_REGEX,       /* PCRE2 could not compile the regex */
	TJ_SA_SKIP_SYNTAX,      /* malformed line (bad name, delimiter, score ...) */
	TJ_SA_SKIP_UNSUPPORTED, /* known rule form we do not implement (:host, ...) */
	TJ_SA_SKIP_LANG,        /* lang xx ... */
	TJ_SA_SKIP_PRIORITY,    /* priority (rule order does not matter here) */
	TJ_SA_SKIP_DIRECTIVE,   /* directive this module does not implement */
	TJ_SA_SKIP_CONDITIONAL, /* line inside a false if / ifplugin block */
	TJ_SA_SKIP_META,        /* meta expression that does not parse */
	TJ_SA_SKIP_META_CYCLE,  /* meta rule inside a dependency cycle */
	TJ_SA_SKIP_DISABLED,    /* rule whose score is 0 (SA: not run) */
	TJ_SA_SKIP_NR
};

/* const name of a skip reason ("eval", "regex", ...). */
const char *tj_sa_skip_name(enum tj_sa_skip s);

enum tj_sa_type {
	TJ_SA_NONE = 0, /* only score/describe/tflags seen */
	TJ_SA_HEADER,
	TJ_SA_BODY,
	TJ_SA_RAWBODY,
	TJ_SA_URI,
	TJ_SA_FULL,
	TJ_SA_META,
	TJ_SA_BAYES,    /* built-in BAYES_xx pseudo-rule fed by the caller's probability */
	TJ_SA_TYPE_NR
};

/* const name of a rule type ("header", "body", ...). */
const char *tj_sa_type_name(enum tj_sa_type t);

struct tj_sa_stats {
	unsigned files, lines;         /* parsed buffers and their lines */
	unsigned rules;                /* active rules, all types (BAYES_xx included) */
	unsigned by_type[TJ_SA_TYPE_NR];
	unsigned subrules;             /* active __ rules (counted above too) */
	unsigned unused;               /* active __ rules no scored rule reads: not run */
	unsigned scored;               /* active rules that add to the score */
	unsigned regexes, jit;         /* compiled regexes; of them JIT-compiled */
	unsigned skipped[TJ_SA_SKIP_NR];
	double required;               /* required_score (5.0 unless the files set it) */
};

typedef struct tj_sa_rules tj_sa_rules;

/* tj_sa_rules_new - an empty rule set holding only the BAYES_xx
 * pseudo-rules.  0 or -ENOMEM. */
int tj_sa_rules_new(tj_sa_rules **r_r);

/* tj_sa_rules_parse - parse one rule file held in memory (no IO).  name is
 * used in error examples only (may be NULL).  May be called once per file;
 * later definitions override earlier ones, as in SpamAssassin.  Bad lines
 * are counted (tj_sa_rules_stats), never an error.  if/endif nesting must
 * balance within one buffer (an unclosed block is closed at its end and
 * counted as syntax).  Returns 0, -ENOMEM, or TJ_ESTATE after finish. */
int tj_sa_rules_parse(tj_sa_rules *r, const char *name, const uint8_t *buf, size_t len);

/* tj_sa_rules_finish - give unscored rules their default score, compile
 * meta expressions, order them, drop disabled rules.  After it the rule set
 * is immutable and thread-safe.  0, -ENOMEM or TJ_ESTATE (twice).  After
 * -ENOMEM the set can only be freed. */
int tj_sa_rules_finish(tj_sa_rules *r);

/* tj_sa_rules_load_path - parse a file, or every "*.cf" file of a directory
 * in byte order of their names (not recursive).  0, -errno from open/read,
 * -ENOMEM, TJ_ETOOBIG (a file over 64 MiB) or TJ_ESTATE. */
int tj_sa_rules_load_path(tj_sa_rules *r, const char *path);

/* tj_sa_rules_load - new + load_path + finish.  On error *r_r is NULL. */
int tj_sa_rules_load(const char *path, tj_sa_rules **r_r);

/* tj_sa_rules_free - release everything; *r = NULL (NULL is fine). */
void tj_sa_rules_free(tj_sa_rules **r);

void tj_sa_rules_stats(const tj_sa_rules *r, struct tj_sa_stats *st_r);
/* required_score of the files (5.0 by default). */
double tj_sa_rules_required(const tj_sa_rules *r);

/* tj_sa_rules_summary - append one line of key=value fields for the node's
 * load log: counts by type, skips by reason, the most frequent unknown
 * directives and the first skipped regexes.  0, -ENOMEM or TJ_ETOOBIG. */
int tj_sa_rules_summary(const tj_sa_rules *r, tj_buf *out);

/* tj_sa_rule_info - what the rule set knows about NAME.  0, or TJ_ENOTFOUND
 * if the name never appeared.  Strings are owned by r. */
struct tj_sa_rule_info {
	enum tj_sa_type type;
	bool active;              /* will be run */
	bool scored;              /* adds to the score when it hits */
	enum tj_sa_skip why;      /* when !active and type != NONE */
	double score;             /* score in use (set 2) */
	const char *describe;     /* "" if none */
};
int tj_sa_rule_info(const tj_sa_rules *r, const char *name, struct tj_sa_rule_info *info_r);

/* ---- matching ---- */

struct tj_sa_hit {
	const char *name;  /* owned by the rules */
	double score;      /* 0 for __ rules */
	double value;      /* 1, the hit count ("multiple"), or a meta's value */
	bool scored;       /* counts in the score and in tests= */
};

struct tj_sa_match {
	double score;            /* sum of scored hits */
	struct tj_sa_hit *hits;  /* every rule that hit, sorted by name; __ rules included
	                          * (one that no scored rule reads is not run) */
	size_t nhits;
	unsigned limit_errors;   /* matches stopped by a PCRE2 limit (taken as no match) */
	bool truncated;          /* the time budget ran out: later rules were not run */
	uint64_t elapsed_us;
};

/* tj_sa_check - run every active rule on one message (raw RFC 5322 bytes,
 * LF or CRLF).  bayes_prob in [0,1] turns on the matching BAYES_xx
 * pseudo-rules; < 0 (or NaN) means no Bayes verdict.  Thread-safe on a
 * finished rule set.  Returns 0, -ENOMEM, or TJ_ESTATE (not finished).
 * On success the caller frees m with tj_sa_match_free(). */
int tj_sa_check(const tj_sa_rules *r, const uint8_t *msg, size_t len, double bayes_prob,
		struct tj_sa_match *m);
void tj_sa_match_free(struct tj_sa_match *m);

/* ---- building blocks, exported for tests and the spam combiner ---- */

/* tj_sa_html_render - append HTML rendered as SpamAssassin roughly renders
 * it (tags dropped, script/style/comments skipped, entities decoded,
 * whitespace collapsed, block tags as line breaks).  If uris is not NULL,
 * href/src/action/background URIs are appended to it, one per line.
 * 0, -ENOMEM or TJ_ETOOBIG. */
int tj_sa_html_render(const uint8_t *html, size_t len, tj_buf *text, tj_buf *uris);

/* tj_sa_body_text - the text body rules see, as lines separated by '\n'
 * (Subject first; paragraphs whitespace-normalised).  For tests and tools.
 * 0, -ENOMEM or TJ_ETOOBIG. */
int tj_sa_body_text(const uint8_t *msg, size_t len, tj_buf *out);

/* tj_sa_uri_list - the URIs uri rules see, one per line.  0, -ENOMEM. */
int tj_sa_uri_list(const uint8_t *msg, size_t len, tj_buf *out);

#endif

/*
 * sarules.c - SpamAssassin-style rule files: parser, PCRE2 compiler, matcher.
 *
 * Three layers, top to bottom in this file:
 *   1. the parser: one line at a time, pure over a buffer, counting every
 *      line it cannot use instead of failing (tj_sa_rules_parse);
 *   2. finish: default scores, meta expressions compiled to a small stack
 *      program and ordered so a meta runs after the metas it reads;
 *   3. the matcher: a lazily built view of one message (header values as
 *      SpamAssassin presents them, the rendered body split into paragraph
 *      lines, raw body chunks, URIs, the full message) and the rules run
 *      over it with bounded PCRE2 matches (tj_sa_check).
 * Semantics follow Mail::SpamAssassin::Conf; see docs/spam.md.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "node/scan/sarules.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pcre2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/err.h"
#include "common/log.h"
#include "protocol/mime/mime.h"

#define SA_FILE_MAX (64u << 20)       /* one rule file */
#define SA_NAME_MAX 128               /* rule name length */
#define SA_DESCRIBE_MAX 256           /* describe text kept */
#define SA_UNKNOWN_DIRS 64            /* distinct unknown directives counted by name */
#define SA_META_DEPTH_MAX 200         /* parentheses / unary nesting in a meta */
#define SA_META_CHAIN_MAX 1000        /* meta-on-meta depth */
#define SA_FIELDS_MAX 10000           /* header fields of one message looked at */
#define SA_GLOBS_MAX 1000             /* rules_matching() calls per rule set */
#define SA_META_REFS_MAX 65536        /* rule references in one meta */
#define SA_META_ENUM_OPS 65536        /* program steps to enumerate unknowns (then SA's 2 runs) */
#define SA_VERSION 4.000001           /* what "version" is in if (version >= ...) */
#define SA_PERL_VERSION 5.036000      /* what "perl_version" is */

/* The Bayes pseudo-rules: SpamAssassin's check_bayes() ranges (lo < p <=
 * hi; lo 0: p >= 0) and scores.  BAYES_00-60 have the scores of
 * SpamAssassin's "no network tests, Bayes on" set (set 2); BAYES_80 and up
 * are tjstore's, chosen by cross validation (docs/spam.md): with set 2's
 * 2.7 ... 3.8+0.2, Bayes could never reach 5.0 alone, so a node with no
 * rules file ("Bayes only") caught no spam at all.  A rules file may set
 * any of them ("score BAYES_99 3.5"), as SpamAssassin's own files do. */
static const struct {
	const char *name;
	double lo, hi, score;
	const char *describe;
	bool nice;
} bayes_tab[] = {
	{"BAYES_00", 0.00, 0.01, -1.5, "Bayes: spam probability 0 - 1%", true},
	{"BAYES_05", 0.01, 0.05, -0.3, "Bayes: spam probability 1 - 5%", true},
	{"BAYES_20", 0.05, 0.20, -0.001, "Bayes: spam probability 5 - 20%", true},
	{"BAYES_40", 0.20, 0.40, -0.001, "Bayes: spam probability 20 - 40%", true},
	{"BAYES_50", 0.40, 0.60, 2.0, "Bayes: spam probability 40 - 60%", false},
	{"BAYES_60", 0.60, 0.80, 2.5, "Bayes: spam probability 60 - 80%", false},
	{"BAYES_80", 0.80, 0.95, 4.5, "Bayes: spam probability 80 - 95%", false},
	{"BAYES_95", 0.95, 0.99, 5.0, "Bayes: spam probability 95 - 99%", false},
	{"BAYES_99", 0.99, 1.00, 5.0, "Bayes: spam probability 99 - 100%", false},
	{"BAYES_999", 0.999, 1.00, 0.5, "Bayes: spam probability 99.9 - 100%", false},
};
#define SA_NBAYES (sizeof(bayes_tab) / sizeof(bayes_tab[0]))

/* Plugins whose "ifplugin" blocks are read: only Bayes, whose rules are our
 * built-in pseudo-rules.  Every other plugin is absent. */
static const char *const plugins_have[] = {
	"Mail::SpamAssassin::Plugin::Bayes",
};

/* can(NAME) in "if": true only for the engine features this matcher has
 * (or SpamAssassin bugs it never had); tag capture, :host, welcomelists,
 * plugin helpers ... are false. */
static const char *const features_have[] = {
	"Mail::SpamAssassin::Conf::feature_bug6558_free",
	"Mail::SpamAssassin::Conf::feature_meta_rules_matching",
	"Mail::SpamAssassin::Conf::feature_header_first_last",
	"Mail::SpamAssassin::Conf::feature_header_match_many",
	"Mail::SpamAssassin::Conf::feature_header_address_parser",
	"Mail::SpamAssassin::Conf::feature_local_tests_only",
	"Mail::SpamAssassin::Conf::has_tflags_nosubject",
	"Mail::SpamAssassin::Conf::perl_min_version_5010000",
};

/* ------------------------------------------------------------------ types */

enum src_kind { SRC_FIELD, SRC_ALL, SRC_TOCC, SRC_MESSAGEID, SRC_ENVFROM };

/* A header "source": what a header rule reads (From:addr, ALL:raw ...). */
struct hsrc {
	char *key;      /* canonical: kind, lowercase name, modifiers */
	char *field;    /* lowercase field name for SRC_FIELD */
	uint8_t kind;
	bool raw, addr, name, first, last;
};

enum meta_opc {
	MO_NUM, MO_RULE, MO_SUM, MO_NOT, MO_NEG, MO_ADD, MO_SUB, MO_MUL, MO_DIV,
	MO_LT, MO_GT, MO_LE, MO_GE, MO_EQ, MO_NE, MO_AND, MO_OR,
};

struct meta_op {
	uint8_t op;
	uint32_t a, n;  /* MO_RULE: a = rule index or UINT32_MAX (undefined); MO_SUM: refs[a .. a+n) */
	double num;
};

struct rule {
	char *name;
	uint32_t hash;
	uint8_t type;           /* enum tj_sa_type */
	uint8_t why;            /* enum tj_sa_skip when skipped */
	bool defined;           /* a definition line was read */
	bool skipped;           /* ... and it could not be used */
	bool active, scored;    /* set by finish */
	bool has_score, score_rel;
	bool nice, multiple, nosubject;
	bool neg, exists, has_unset;
	bool used;              /* finish: read by a scored rule (else not run) */
	uint8_t mark;           /* finish: DFS colour */
	uint32_t maxhits;
	uint32_t src;           /* header source */
	double score;
	char *describe;
	char *unset;
	size_t unset_len;
	pcre2_code *re;
	pcre2_code *re_ml;      /* multi-line variant for the whole-text prefilter */
	bool prefilter;         /* body/uri: the whole-text prefilter is sound */
	char *meta_src;         /* meta text until finish */
	struct meta_op *prog;
	uint32_t nprog;
	uint32_t *refs;         /* MO_SUM lists and the rule refs (for ordering) */
	uint32_t nrefs;
	double lo, hi;          /* BAYES_xx range */
};

struct unknown_dir {
	char name[32];
	unsigned count;
};

struct tj_sa_rules {
	struct rule *rules;
	uint32_t nrules, cap;
	uint32_t *hash;         /* open addressing, index + 1, 0 = empty */
	uint32_t hcap;
	struct hsrc *srcs;
	uint32_t nsrcs, srcs_cap;
	uint32_t *shash;        /* srcs by key: index + 1, 0 = empty */
	uint32_t shcap;
	unsigned globs;         /* rules_matching() expanded so far */
	bool finished;
	double required;
	struct tj_sa_stats st;
	struct unknown_dir unknown[SA_UNKNOWN_DIRS];
	unsigned unknown_other;
	char *errors[TJ_SA_ERRORS_KEPT];
	unsigned nerrors;
	pcre2_compile_context *cctx;
	/* finish: rule indexes by type, metas in dependency order */
	uint32_t *by_type[TJ_SA_TYPE_NR];
	uint32_t nby_type[TJ_SA_TYPE_NR];
	bool need_body_subject;
};

/* per-line parse state */
struct pctx {
	tj_sa_rules *r;
	const char *file;
	unsigned line;
	unsigned depth;         /* if / ifplugin levels */
	unsigned overflow;      /* levels beyond TJ_SA_IF_DEPTH_MAX (always false) */
	bool cond[TJ_SA_IF_DEPTH_MAX];
};

/* ----------------------------------------------------------- small helpers */

static const char *const skip_names[TJ_SA_SKIP_NR] = {
	"eval", "regex", "syntax", "unsupported", "lang", "priority",
	"directive", "conditional", "meta", "meta_cycle", "disabled",
};

const char *tj_sa_skip_name(enum tj_sa_skip s)
{
	return (unsigned)s < TJ_SA_SKIP_NR ? skip_names[s] : "?";
}

static const char *const type_names[TJ_SA_TYPE_NR] = {
	"none", "header", "body", "rawbody", "uri", "full", "meta", "bayes",
};

const char *tj_sa_type_name(enum tj_sa_type t)
{
	return (unsigned)t < TJ_SA_TYPE_NR ? type_names[t] : "?";
}

static bool is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_name_char(uint8_t c)
{
	return isalnum(c) || c == '_';
}

static char *xstrndup(const void *p, size_t n)
{
	char *s = malloc(n + 1);
	if (s) {
		if (n)
			memcpy(s, p, n);
		s[n] = 0;
	}
	return s;
}

static uint32_t fnv1a(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* a (ptr, len) view of a line while parsing */
struct sv {
	const uint8_t *p;
	size_t n;
};

static struct sv sv_trim(struct sv s)
{
	while (s.n && is_ws(s.p[0]))
		s.p++, s.n--;
	while (s.n && is_ws(s.p[s.n - 1]))
		s.n--;
	return s;
}

/* sv_word - split the first whitespace-separated word off *s. */
static struct sv sv_word(struct sv *s)
{
	*s = sv_trim(*s);
	size_t i = 0;
	while (i < s->n && !is_ws(s->p[i]))
		i++;
	struct sv w = {s->p, i};
	s->p += i;
	s->n -= i;
	*s = sv_trim(*s);
	return w;
}

static bool sv_eq(struct sv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static bool sv_ieq(struct sv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp((const char *)s.p, lit, n) == 0;
}

static bool sv_prefix(struct sv s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static bool valid_rule_name(struct sv s)
{
	if (s.n == 0 || s.n > SA_NAME_MAX || !(isalpha(s.p[0]) || s.p[0] == '_'))
		return false;
	for (size_t i = 0; i < s.n; i++)
		if (!is_name_char(s.p[i]))
			return false;
	return true;
}

/* parse_number - a whole token as a finite double. */
static bool parse_number(struct sv s, double *v)
{
	char buf[64];
	if (s.n == 0 || s.n >= sizeof(buf))
		return false;
	memcpy(buf, s.p, s.n);
	buf[s.n] = 0;
	char *end;
	errno = 0;
	double d = strtod(buf, &end);
	if (*end || errno || !isfinite(d) || isspace((unsigned char)buf[0]))
		return false;
	*v = d;
	return true;
}

/* ------------------------------------------------------------- rule table */

static int hash_grow(tj_sa_rules *r)
{
	uint32_t ncap = r->hcap ? r->hcap * 2 : 1024;
	uint32_t *nh = calloc(ncap, sizeof(*nh));
	if (!nh)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nrules; i++) {
		uint32_t j = r->rules[i].hash & (ncap - 1);
		while (nh[j])
			j = (j + 1) & (ncap - 1);
		nh[j] = i + 1;
	}
	free(r->hash);
	r->hash = nh;
	r->hcap = ncap;
	return 0;
}

static struct rule *rule_find(const tj_sa_rules *r, const void *name, size_t n)
{
	if (!r->hcap)
		return NULL;
	uint32_t h = fnv1a(name, n);
	for (uint32_t j = h & (r->hcap - 1);; j = (j + 1) & (r->hcap - 1)) {
		uint32_t k = r->hash[j];
		if (!k)
			return NULL;
		struct rule *ru = &r->rules[k - 1];
		if (ru->hash == h && strlen(ru->name) == n && memcmp(ru->name, name, n) == 0)
			return ru;
	}
}

/* rule_get - find or create the entry for a name.  NULL: ENOMEM or over
 * TJ_SA_RULES_MAX (*rc_r tells which). */
static struct rule *rule_get(tj_sa_rules *r, const void *name, size_t n, int *rc_r)
{
	struct rule *ru = rule_find(r, name, n);
	if (ru)
		return ru;
	*rc_r = -ENOMEM;
	if (r->nrules >= TJ_SA_RULES_MAX) {
		*rc_r = TJ_ETOOBIG;
		return NULL;
	}
	if ((r->nrules + 1) * 10 > r->hcap * 7 && hash_grow(r) < 0)
		return NULL;
	if (r->nrules == r->cap) {
		uint32_t ncap = r->cap ? r->cap * 2 : 512;
		struct rule *nr = realloc(r->rules, ncap * sizeof(*nr));
		if (!nr)
			return NULL;
		r->rules = nr;
		r->cap = ncap;
	}
	ru = &r->rules[r->nrules];
	memset(ru, 0, sizeof(*ru));
	ru->name = xstrndup(name, n);
	if (!ru->name)
		return NULL;
	ru->hash = fnv1a(name, n);
	uint32_t j = ru->hash & (r->hcap - 1);
	while (r->hash[j])
		j = (j + 1) & (r->hcap - 1);
	r->hash[j] = ++r->nrules;
	*rc_r = 0;
	return ru;
}

/* rule_clear_def - forget a rule's previous definition (a redefinition
 * replaces it, as in SpamAssassin).  Score, describe and tflags stay. */
static void rule_clear_def(struct rule *ru)
{
	pcre2_code_free(ru->re);
	pcre2_code_free(ru->re_ml);
	free(ru->unset);
	free(ru->meta_src);
	free(ru->prog);
	free(ru->refs);
	ru->re = ru->re_ml = NULL;
	ru->unset = ru->meta_src = NULL;
	ru->prog = NULL;
	ru->refs = NULL;
	ru->nprog = ru->nrefs = 0;
	ru->unset_len = 0;
	ru->type = TJ_SA_NONE;
	ru->defined = ru->skipped = false;
	ru->neg = ru->exists = ru->has_unset = ru->prefilter = false;
	ru->src = 0;
}

/* -------------------------------------------------------- skip accounting */

static void note_error(struct pctx *c, const char *what, struct sv detail)
{
	tj_sa_rules *r = c->r;
	if (r->nerrors >= TJ_SA_ERRORS_KEPT)
		return;
	char safe[160];
	tj_sanitize(safe, sizeof(safe), detail.p, detail.n);
	tj_buf b = TJ_BUF_INIT;
	if (tj_buf_printf(&b, "%s:%u %s: %s", c->file ? c->file : "-", c->line, what, safe) == 0)
		r->errors[r->nerrors++] = (char *)tj_buf_steal(&b, NULL);
	tj_buf_free(&b);
}

static int skip(struct pctx *c, enum tj_sa_skip why)
{
	c->r->st.skipped[why]++;
	return 0;
}

static void count_unknown(tj_sa_rules *r, struct sv dir)
{
	char name[32];
	size_t n = dir.n < sizeof(name) - 1 ? dir.n : sizeof(name) - 1;
	for (size_t i = 0; i < n; i++)
		name[i] = (char)tolower(dir.p[i]);
	name[n] = 0;
	for (size_t i = 0; i < n; i++)
		if (!is_name_char((uint8_t)name[i])) {
			r->unknown_other++;
			return;
		}
	for (unsigned i = 0; i < SA_UNKNOWN_DIRS; i++) {
		if (r->unknown[i].count == 0) {
			memcpy(r->unknown[i].name, name, n + 1);
			r->unknown[i].count = 1;
			return;
		}
		if (strcmp(r->unknown[i].name, name) == 0) {
			r->unknown[i].count++;
			return;
		}
	}
	r->unknown_other++;
}

/* ------------------------------------------------- if / ifplugin conditions */

/* A tiny evaluator for SpamAssassin's "if" expressions: ( ) ! && || and the
 * comparisons over numbers, version, perl_version, plugin(NAME), can(NAME).
 * Anything else makes the condition unparseable (false, counted). */
struct cexpr {
	const uint8_t *p, *end;
	bool bad;
	unsigned depth;
};

static void ce_ws(struct cexpr *e)
{
	while (e->p < e->end && is_ws(*e->p))
		e->p++;
}

static bool ce_lit(struct cexpr *e, const char *lit)
{
	ce_ws(e);
	size_t n = strlen(lit);
	if ((size_t)(e->end - e->p) >= n && memcmp(e->p, lit, n) == 0) {
		e->p += n;
		return true;
	}
	return false;
}

static bool in_list(const char *const *list, size_t nlist, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < nlist; i++)
		if (strlen(list[i]) == n && memcmp(list[i], p, n) == 0)
			return true;
	return false;
}

static bool have_plugin(const uint8_t *p, size_t n)
{
	return in_list(plugins_have, sizeof(plugins_have) / sizeof(plugins_have[0]), p, n);
}

static bool have_feature(const uint8_t *p, size_t n)
{
	return in_list(features_have, sizeof(features_have) / sizeof(features_have[0]), p, n);
}

static double ce_or(struct cexpr *e);

/* NAME inside plugin( ) / can( ): word characters and "::" */
static struct sv ce_pkg(struct cexpr *e)
{
	ce_ws(e);
	const uint8_t *s = e->p;
	while (e->p < e->end && (is_name_char(*e->p) || *e->p == ':'))
		e->p++;
	return (struct sv){s, (size_t)(e->p - s)};
}

static double ce_primary(struct cexpr *e)
{
	ce_ws(e);
	if (e->p >= e->end || ++e->depth > 100) {
		e->bad = true;
		return 0;
	}
	double v = 0;
	if (ce_lit(e, "!")) {
		v = ce_primary(e) == 0;
	} else if (ce_lit(e, "(")) {
		v = ce_or(e);
		if (!ce_lit(e, ")"))
			e->bad = true;
	} else if (isdigit(*e->p) || *e->p == '.') {
		char buf[40];
		size_t n = 0;
		while (e->p < e->end && (isdigit(*e->p) || *e->p == '.' || *e->p == '_') && n < sizeof(buf) - 1) {
			if (*e->p != '_')
				buf[n++] = (char)*e->p;
			e->p++;
		}
		buf[n] = 0;
		v = strtod(buf, NULL);
	} else {
		struct sv w = ce_pkg(e);
		if (sv_eq(w, "version")) {
			v = SA_VERSION;
		} else if (sv_eq(w, "perl_version")) {
			v = SA_PERL_VERSION;
		} else if (sv_eq(w, "local_tests_only")) {
			v = 1; /* no network tests here */
		} else if (sv_eq(w, "plugin") || sv_eq(w, "can")) {
			bool is_plugin = sv_eq(w, "plugin");
			if (!ce_lit(e, "(")) {
				e->bad = true;
				return 0;
			}
			struct sv name = ce_pkg(e);
			if (!name.n || !ce_lit(e, ")")) {
				e->bad = true;
				return 0;
			}
			v = is_plugin ? have_plugin(name.p, name.n) : have_feature(name.p, name.n);
		} else {
			e->bad = true;
		}
	}
	e->depth--;
	return v;
}

static double ce_cmp(struct cexpr *e)
{
	double a = ce_primary(e);
	if (ce_lit(e, ">="))
		return a >= ce_primary(e);
	if (ce_lit(e, "<="))
		return a <= ce_primary(e);
	if (ce_lit(e, "=="))
		return a == ce_primary(e);
	if (ce_lit(e, "!="))
		return a != ce_primary(e);
	if (ce_lit(e, ">"))
		return a > ce_primary(e);
	if (ce_lit(e, "<"))
		return a < ce_primary(e);
	return a;
}

static double ce_and(struct cexpr *e)
{
	double a = ce_cmp(e);
	while (!e->bad && ce_lit(e, "&&")) {
		double b = ce_cmp(e);
		a = a != 0 && b != 0;
	}
	return a;
}

static double ce_or(struct cexpr *e)
{
	double a = ce_and(e);
	while (!e->bad && ce_lit(e, "||")) {
		double b = ce_and(e);
		a = a != 0 || b != 0;
	}
	return a;
}

/* eval_if - value of an "if" condition; *bad when it does not parse. */
static bool eval_if(struct sv s, bool *bad)
{
	struct cexpr e = {s.p, s.p + s.n, false, 0};
	double v = ce_or(&e);
	ce_ws(&e);
	if (e.p != e.end)
		e.bad = true;
	*bad = e.bad;
	return !e.bad && v != 0;
}

static bool cond_active(const struct pctx *c)
{
	if (c->overflow)
		return false;
	for (unsigned i = 0; i < c->depth; i++)
		if (!c->cond[i])
			return false;
	return true;
}

static void cond_push(struct pctx *c, bool v)
{
	if (c->overflow || c->depth >= TJ_SA_IF_DEPTH_MAX) {
		c->overflow++;
		c->r->st.skipped[TJ_SA_SKIP_SYNTAX]++;
		return;
	}
	c->cond[c->depth++] = v;
}

/* ------------------------------------------------------------ regexes */

/* scan_regex - what the pattern text tells about running it over the whole
 * text of several lines at once (see the line matcher).  *anchors: an
 * unescaped ^ or $ outside a class; *unsound: constructs whose meaning
 * changes when other lines are next to the subject (\A \z \Z \G, inline
 * option resets, verbs, possessive/atomic groups, negative lookaround that
 * could see a newline). */
static void scan_regex(const uint8_t *p, size_t n, bool dotall, bool *anchors, bool *unsound)
{
	bool in_class = false, negla = false, nl_capable = false;
	*anchors = *unsound = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = p[i];
		if (ch == '\\' && i + 1 < n) {
			uint8_t e = p[++i];
			if (strchr("AzZG", e))
				*unsound = true;
			if (strchr("sWDHvnRxC0XpP", e))
				nl_capable = true;
			continue;
		}
		if (in_class) {
			if (ch == ']')
				in_class = false;
			continue;
		}
		if (ch == '[') {
			in_class = true;
			if (i + 1 < n && p[i + 1] == '^')
				nl_capable = true;
			if (i + 1 < n && p[i + 1] == ']')
				i++;
			else if (i + 2 < n && p[i + 1] == '^' && p[i + 2] == ']')
				i += 2;
			continue;
		}
		if (ch == '^' || ch == '$')
			*anchors = true;
		if (ch == '.' && dotall)
			nl_capable = true;
		if (ch == '(' && i + 1 < n && p[i + 1] == '*')
			*unsound = true;
		if (ch == '(' && i + 1 < n && p[i + 1] == '?') {
			if (i + 2 < n && (p[i + 2] == '>' || p[i + 2] == '!'))
				*unsound |= p[i + 2] == '>', negla |= p[i + 2] == '!';
			if (i + 3 < n && p[i + 2] == '<' && p[i + 3] == '!')
				negla = true;
			/* inline options: (?i) fine, (?-m) (?^) (?s) are not */
			size_t j = i + 2;
			while (j < n && (isalpha(p[j]) || p[j] == '-' || p[j] == '^')) {
				if (p[j] == '-' || p[j] == '^' || p[j] == 's')
					*unsound = true;
				j++;
			}
		}
		if ((ch == '+' || ch == '*' || ch == '?' || ch == '}') && i + 1 < n && p[i + 1] == '+')
			*unsound = true;
	}
	if (negla && nl_capable)
		*unsound = true;
}

/* split_regex - "/re/flags" or "m{re}flags" (any non-word delimiter; the
 * bracket pairs close with their partner) into the pattern and options. */
static bool split_regex(struct sv s, struct sv *pat, uint32_t *opts, bool *dotall)
{
	if (s.n < 2)
		return false;
	size_t open;
	uint8_t close;
	if (s.p[0] == '/') {
		open = 1;
		close = '/';
	} else if (s.p[0] == 'm' && s.n >= 3 && !is_name_char(s.p[1]) && !is_ws(s.p[1])) {
		open = 2;
		uint8_t d = s.p[1];
		close = d == '{' ? '}' : d == '(' ? ')' : d == '[' ? ']' : d == '<' ? '>' : d;
	} else {
		return false;
	}
	size_t j = s.n;
	while (j > open && isalpha(s.p[j - 1]))
		j--;
	if (j <= open || s.p[j - 1] != close)
		return false;
	*pat = (struct sv){s.p + open, j - 1 - open};
	uint32_t o = 0;
	unsigned xs = 0;
	*dotall = false;
	for (size_t i = j; i < s.n; i++) {
		switch (s.p[i]) {
		case 'i': o |= PCRE2_CASELESS; break;
		case 's': o |= PCRE2_DOTALL; *dotall = true; break;
		case 'm': o |= PCRE2_MULTILINE; break;
		case 'x': o |= ++xs > 1 ? PCRE2_EXTENDED_MORE : PCRE2_EXTENDED; break;
		default: break; /* o g a u l d n p e r c: no meaning for a match */
		}
	}
	*opts = o;
	return true;
}

static int compile_one(struct pctx *c, struct sv pat, uint32_t opts, const char *rulename, pcre2_code **code_r)
{
	int err;
	PCRE2_SIZE off;
	*code_r = pcre2_compile(pat.p, pat.n, opts | PCRE2_NEVER_UTF | PCRE2_NEVER_UCP, &err, &off, c->r->cctx);
	if (!*code_r) {
		if (err == PCRE2_ERROR_HEAPLIMIT || err == PCRE2_ERROR_NOMEMORY)
			return -ENOMEM;
		PCRE2_UCHAR msg[120];
		pcre2_get_error_message(err, msg, sizeof(msg));
		char what[200];
		snprintf(what, sizeof(what), "%s regex at %zu: %s", rulename, (size_t)off, (const char *)msg);
		note_error(c, what, pat);
		return 1;
	}
	c->r->st.regexes++;
	if (pcre2_jit_compile(*code_r, PCRE2_JIT_COMPLETE) == 0)
		c->r->st.jit++;
	return 0;
}

/* compile_rule_regex - 0 (set on ru), 1 skipped and counted, -ENOMEM. */
static int compile_rule_regex(struct pctx *c, struct rule *ru, struct sv text, bool line_wise)
{
	struct sv pat;
	uint32_t opts;
	bool dotall;
	if (!split_regex(text, &pat, &opts, &dotall)) {
		note_error(c, "bad regex delimiters", text);
		ru->why = TJ_SA_SKIP_SYNTAX;
		skip(c, TJ_SA_SKIP_SYNTAX);
		return 1;
	}
	int rc = compile_one(c, pat, opts, ru->name, &ru->re);
	if (rc) {
		if (rc > 0) {
			ru->why = TJ_SA_SKIP_REGEX;
			skip(c, TJ_SA_SKIP_REGEX);
		}
		return rc;
	}
	if (line_wise) {
		bool anchors, unsound;
		scan_regex(pat.p, pat.n, dotall, &anchors, &unsound);
		ru->prefilter = !unsound;
		if (ru->prefilter && anchors && !(opts & PCRE2_MULTILINE)) {
			rc = compile_one(c, pat, opts | PCRE2_MULTILINE, ru->name, &ru->re_ml);
			if (rc < 0)
				return rc;
			if (rc > 0)
				ru->prefilter = false; /* cannot happen, but then match line by line */
		}
	}
	return 0;
}

/* ---------------------------------------------------------- header sources */

/* header_source - intern what a header rule reads ("From:addr", "ALL:raw").
 * 0 with *idx_r, 1 unsupported modifier (counted by the caller), -ENOMEM. */
static int header_source(tj_sa_rules *r, struct sv spec, uint32_t *idx_r)
{
	struct hsrc h = {0};
	size_t i = 0;
	while (i < spec.n && spec.p[i] != ':')
		i++;
	struct sv base = {spec.p, i};
	while (i < spec.n) {
		size_t s = ++i;
		while (i < spec.n && spec.p[i] != ':')
			i++;
		struct sv m = {spec.p + s, i - s};
		if (sv_eq(m, "raw"))
			h.raw = true;
		else if (sv_eq(m, "addr"))
			h.addr = true;
		else if (sv_eq(m, "name"))
			h.name = true;
		else if (sv_eq(m, "first"))
			h.first = true;
		else if (sv_eq(m, "last"))
			h.last = true;
		else if (sv_eq(m, "host") || sv_eq(m, "domain") || sv_eq(m, "ip") || sv_eq(m, "revip"))
			return 1;
		/* unknown modifiers are ignored, as SpamAssassin does */
	}
	if (base.n == 0)
		return 1;
	if (sv_eq(base, "ALL"))
		h.kind = SRC_ALL;
	else if (sv_ieq(base, "ToCc"))
		h.kind = SRC_TOCC;
	else if (sv_eq(base, "MESSAGEID"))
		h.kind = SRC_MESSAGEID;
	else if (sv_ieq(base, "EnvelopeFrom"))
		h.kind = SRC_ENVFROM;
	else if (sv_eq(base, "ALL-TRUSTED") || sv_eq(base, "ALL-INTERNAL") || sv_eq(base, "ALL-UNTRUSTED") ||
		 sv_eq(base, "ALL-EXTERNAL") || (base.n > 14 && strncasecmp((const char *)base.p, "X-Spam-Relays-", 14) == 0))
		return 1; /* SpamAssassin's relay analysis is not done here: not run */
	else
		h.kind = SRC_FIELD;
	char key[SA_NAME_MAX + 64];
	if (base.n > SA_NAME_MAX)
		return 1;
	int kn = snprintf(key, sizeof(key), "%u:", h.kind);
	for (size_t k = 0; k < base.n; k++)
		key[kn++] = (char)tolower(base.p[k]);
	snprintf(key + kn, sizeof(key) - (size_t)kn, ":%d%d%d%d%d", h.raw, h.addr, h.name, h.first, h.last);
	uint32_t kh = fnv1a(key, strlen(key));
	for (uint32_t j = r->shcap ? kh & (r->shcap - 1) : 0; r->shcap && r->shash[j]; j = (j + 1) & (r->shcap - 1))
		if (strcmp(r->srcs[r->shash[j] - 1].key, key) == 0) {
			*idx_r = r->shash[j] - 1;
			return 0;
		}
	if ((r->nsrcs + 1) * 2 > r->shcap) { /* keep the table at most half full */
		uint32_t nc = r->shcap ? r->shcap * 2 : 64;
		uint32_t *nh = calloc(nc, sizeof(*nh));
		if (!nh)
			return -ENOMEM;
		for (uint32_t k = 0; k < r->nsrcs; k++) {
			uint32_t j = fnv1a(r->srcs[k].key, strlen(r->srcs[k].key)) & (nc - 1);
			while (nh[j])
				j = (j + 1) & (nc - 1);
			nh[j] = k + 1;
		}
		free(r->shash);
		r->shash = nh;
		r->shcap = nc;
	}
	if (r->nsrcs == r->srcs_cap) {
		uint32_t ncap = r->srcs_cap ? r->srcs_cap * 2 : 32;
		struct hsrc *ns = realloc(r->srcs, ncap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		r->srcs = ns;
		r->srcs_cap = ncap;
	}
	h.key = strdup(key);
	h.field = xstrndup(base.p, base.n);
	if (!h.key || !h.field) {
		free(h.key);
		free(h.field);
		return -ENOMEM;
	}
	for (char *q = h.field; *q; q++)
		*q = (char)tolower((unsigned char)*q);
	r->srcs[r->nsrcs] = h;
	*idx_r = r->nsrcs++;
	uint32_t j = kh & (r->shcap - 1);
	while (r->shash[j])
		j = (j + 1) & (r->shcap - 1);
	r->shash[j] = r->nsrcs;
	return 0;
}

/* ------------------------------------------------------------ directives */

/* begin_def - common start of a rule definition line: the name, and the
 * entry with its previous definition cleared.  NULL + *rc 0: skipped. */
static struct rule *begin_def(struct pctx *c, struct sv *rest, int *rc)
{
	*rc = 0;
	struct sv name = sv_word(rest);
	if (!valid_rule_name(name) || rest->n == 0) {
		note_error(c, "bad rule line", name);
		skip(c, TJ_SA_SKIP_SYNTAX);
		return NULL;
	}
	struct rule *ru = rule_get(c->r, name.p, name.n, rc);
	if (!ru) {
		if (*rc == TJ_ETOOBIG) {
			*rc = 0;
			skip(c, TJ_SA_SKIP_SYNTAX);
		}
		return NULL;
	}
	return ru;
}

/* is_bayes_def - "eval:check_bayes(...)" for one of our BAYES_xx rules: the
 * file's own definition of the pseudo-rule; keep ours. */
static bool is_bayes_def(const struct rule *ru, struct sv rest)
{
	return ru->type == TJ_SA_BAYES && sv_prefix(rest, "eval:check_bayes");
}

static int def_skipped(struct pctx *c, struct rule *ru, enum tj_sa_type t, enum tj_sa_skip why)
{
	rule_clear_def(ru);
	ru->type = (uint8_t)t;
	ru->defined = ru->skipped = true;
	ru->why = (uint8_t)why;
	return skip(c, why);
}

static int dir_header(struct pctx *c, struct sv rest)
{
	int rc;
	struct rule *ru = begin_def(c, &rest, &rc);
	if (!ru)
		return rc;
	if (is_bayes_def(ru, rest))
		return 0;
	if (sv_prefix(rest, "eval:"))
		return def_skipped(c, ru, TJ_SA_HEADER, TJ_SA_SKIP_EVAL);
	rule_clear_def(ru);
	ru->type = TJ_SA_HEADER;
	ru->defined = true;
	struct sv spec;
	if (sv_prefix(rest, "exists:")) {
		spec = sv_trim((struct sv){rest.p + 7, rest.n - 7});
		ru->exists = true;
	} else {
		size_t i = 0;
		while (i < rest.n && !is_ws(rest.p[i]) && rest.p[i] != '=' && rest.p[i] != '!')
			i++;
		spec = (struct sv){rest.p, i};
		struct sv op = sv_trim((struct sv){rest.p + i, rest.n - i});
		if (op.n < 2 || op.p[1] != '~' || (op.p[0] != '=' && op.p[0] != '!')) {
			note_error(c, "bad header rule", rest);
			return def_skipped(c, ru, TJ_SA_HEADER, TJ_SA_SKIP_SYNTAX);
		}
		ru->neg = op.p[0] == '!';
		struct sv re = sv_trim((struct sv){op.p + 2, op.n - 2});
		/* [if-unset: STRING] at the end */
		if (re.n && re.p[re.n - 1] == ']') {
			static const char tag[] = "[if-unset:";
			for (size_t k = re.n; k-- > 0;) {
				if (re.n - k >= sizeof(tag) - 1 && memcmp(re.p + k, tag, sizeof(tag) - 1) == 0) {
					struct sv u = sv_trim((struct sv){re.p + k + sizeof(tag) - 1,
									 re.n - k - (sizeof(tag) - 1) - 1});
					ru->unset = xstrndup(u.p, u.n);
					if (!ru->unset)
						return -ENOMEM;
					ru->unset_len = u.n;
					ru->has_unset = true;
					re = sv_trim((struct sv){re.p, k});
					break;
				}
			}
		}
		rc = compile_rule_regex(c, ru, re, false);
		if (rc) {
			if (rc > 0)
				ru->skipped = true;
			return rc < 0 ? rc : 0;
		}
	}
	rc = header_source(c->r, spec, &ru->src);
	if (rc < 0)
		return rc;
	if (rc > 0) {
		note_error(c, "unsupported header", spec);
		return def_skipped(c, ru, TJ_SA_HEADER, TJ_SA_SKIP_UNSUPPORTED);
	}
	return 0;
}

static int dir_pattern(struct pctx *c, struct sv rest, enum tj_sa_type t)
{
	int rc;
	struct rule *ru = begin_def(c, &rest, &rc);
	if (!ru)
		return rc;
	if (is_bayes_def(ru, rest))
		return 0;
	if (sv_prefix(rest, "eval:"))
		return def_skipped(c, ru, t, TJ_SA_SKIP_EVAL);
	rule_clear_def(ru);
	ru->type = (uint8_t)t;
	ru->defined = true;
	rc = compile_rule_regex(c, ru, rest, t == TJ_SA_BODY || t == TJ_SA_URI);
	if (rc > 0)
		ru->skipped = true;
	return rc < 0 ? rc : 0;
}

static int dir_meta(struct pctx *c, struct sv rest)
{
	int rc;
	struct rule *ru = begin_def(c, &rest, &rc);
	if (!ru)
		return rc;
	rule_clear_def(ru);
	ru->type = TJ_SA_META;
	ru->defined = true;
	ru->meta_src = xstrndup(rest.p, rest.n);
	return ru->meta_src ? 0 : -ENOMEM;
}

static int dir_score(struct pctx *c, struct sv rest)
{
	struct sv name = sv_word(&rest);
	double v[4];
	int n = 0;
	bool rel = false;
	while (rest.n && n < 5) {
		struct sv w = sv_word(&rest);
		if (w.n >= 2 && w.p[0] == '(' && w.p[w.n - 1] == ')') {
			rel = true;
			w = (struct sv){w.p + 1, w.n - 2};
		}
		if (n == 4 || !parse_number(w, &v[n])) {
			n = -1;
			break;
		}
		n++;
	}
	if (!valid_rule_name(name) || (n != 1 && n != 4)) {
		note_error(c, "bad score line", name);
		return skip(c, TJ_SA_SKIP_SYNTAX);
	}
	int rc;
	struct rule *ru = rule_get(c->r, name.p, name.n, &rc);
	if (!ru)
		return rc == TJ_ETOOBIG ? skip(c, TJ_SA_SKIP_SYNTAX) : rc;
	double s = n == 4 ? v[2] : v[0];
	if (rel)
		ru->score = (ru->has_score ? ru->score : 0) + s;
	else
		ru->score = s;
	ru->has_score = true;
	return 0;
}

static int dir_describe(struct pctx *c, struct sv rest)
{
	struct sv name = sv_word(&rest);
	if (!valid_rule_name(name))
		return skip(c, TJ_SA_SKIP_SYNTAX);
	int rc;
	struct rule *ru = rule_get(c->r, name.p, name.n, &rc);
	if (!ru)
		return rc == TJ_ETOOBIG ? skip(c, TJ_SA_SKIP_SYNTAX) : rc;
	free(ru->describe);
	ru->describe = xstrndup(rest.p, rest.n < SA_DESCRIBE_MAX ? rest.n : SA_DESCRIBE_MAX);
	return ru->describe ? 0 : -ENOMEM;
}

static int dir_tflags(struct pctx *c, struct sv rest)
{
	struct sv name = sv_word(&rest);
	if (!valid_rule_name(name))
		return skip(c, TJ_SA_SKIP_SYNTAX);
	int rc;
	struct rule *ru = rule_get(c->r, name.p, name.n, &rc);
	if (!ru)
		return rc == TJ_ETOOBIG ? skip(c, TJ_SA_SKIP_SYNTAX) : rc;
	/* each tflags line replaces the previous flags */
	ru->nice = ru->multiple = ru->nosubject = false;
	ru->maxhits = 0;
	while (rest.n) {
		struct sv w = sv_word(&rest);
		double d;
		if (sv_eq(w, "nice"))
			ru->nice = true;
		else if (sv_eq(w, "multiple"))
			ru->multiple = true;
		else if (sv_eq(w, "nosubject"))
			ru->nosubject = true;
		else if (w.n > 8 && memcmp(w.p, "maxhits=", 8) == 0 &&
			 parse_number((struct sv){w.p + 8, w.n - 8}, &d) && d >= 1 && d <= 1e6)
			ru->maxhits = (uint32_t)d;
		/* net learn userconf noautolearn publish ...: no effect here */
	}
	return 0;
}

static int dir_required(struct pctx *c, struct sv rest)
{
	double v;
	if (!parse_number(sv_trim(rest), &v))
		return skip(c, TJ_SA_SKIP_SYNTAX);
	c->r->required = v;
	return 0;
}

/* parse_line - one line, comments already removed and trimmed. */
static int parse_line(struct pctx *c, struct sv line)
{
	struct sv rest = line;
	struct sv dir = sv_word(&rest);
	char d[24];
	size_t dn = dir.n < sizeof(d) - 1 ? dir.n : sizeof(d) - 1;
	for (size_t i = 0; i < dn; i++)
		d[i] = (char)tolower(dir.p[i]);
	d[dn] = 0;
	if (dir.n >= sizeof(d))
		d[0] = 0; /* no directive is that long */

	/* conditionals are followed even inside false blocks, for nesting */
	if (strcmp(d, "ifplugin") == 0 || strcmp(d, "if") == 0) {
		bool v = false;
		if (cond_active(c)) {
			if (d[2] == 'p') {
				struct sv name = sv_word(&rest);
				v = have_plugin(name.p, name.n);
			} else {
				bool bad;
				v = eval_if(rest, &bad);
				if (bad) {
					note_error(c, "unparsed if", rest);
					skip(c, TJ_SA_SKIP_SYNTAX);
				}
			}
		}
		cond_push(c, v);
		return 0;
	}
	if (strcmp(d, "else") == 0) {
		if (c->overflow)
			return 0;
		if (c->depth == 0)
			return skip(c, TJ_SA_SKIP_SYNTAX);
		c->cond[c->depth - 1] = !c->cond[c->depth - 1];
		return 0;
	}
	if (strcmp(d, "endif") == 0) {
		if (c->overflow)
			c->overflow--;
		else if (c->depth)
			c->depth--;
		else
			skip(c, TJ_SA_SKIP_SYNTAX);
		return 0;
	}
	if (!cond_active(c)) {
		/* an eval rule could not run anyway: count it as such */
		if (!strcmp(d, "header") || !strcmp(d, "body") || !strcmp(d, "rawbody") || !strcmp(d, "uri") ||
		    !strcmp(d, "full")) {
			struct sv r2 = rest;
			sv_word(&r2);
			if (sv_prefix(r2, "eval:"))
				return skip(c, TJ_SA_SKIP_EVAL);
		}
		return skip(c, TJ_SA_SKIP_CONDITIONAL);
	}

	if (strcmp(d, "header") == 0)
		return dir_header(c, rest);
	if (strcmp(d, "body") == 0)
		return dir_pattern(c, rest, TJ_SA_BODY);
	if (strcmp(d, "rawbody") == 0)
		return dir_pattern(c, rest, TJ_SA_RAWBODY);
	if (strcmp(d, "uri") == 0)
		return dir_pattern(c, rest, TJ_SA_URI);
	if (strcmp(d, "full") == 0)
		return dir_pattern(c, rest, TJ_SA_FULL);
	if (strcmp(d, "meta") == 0)
		return dir_meta(c, rest);
	if (strcmp(d, "score") == 0)
		return dir_score(c, rest);
	if (strcmp(d, "describe") == 0)
		return dir_describe(c, rest);
	if (strcmp(d, "tflags") == 0)
		return dir_tflags(c, rest);
	if (strcmp(d, "required_score") == 0 || strcmp(d, "required_hits") == 0)
		return dir_required(c, rest);
	if (strcmp(d, "lang") == 0)
		return skip(c, TJ_SA_SKIP_LANG);
	if (strcmp(d, "priority") == 0)
		return skip(c, TJ_SA_SKIP_PRIORITY);
	count_unknown(c->r, dir);
	return skip(c, TJ_SA_SKIP_DIRECTIVE);
}

int tj_sa_rules_parse(tj_sa_rules *r, const char *name, const uint8_t *buf, size_t len)
{
	if (r->finished)
		return TJ_ESTATE;
	struct pctx c = {.r = r, .file = name};
	tj_buf line = TJ_BUF_INIT;
	int rc = 0;
	size_t pos = 0;
	r->st.files++;
	while (pos < len && rc == 0) {
		const uint8_t *nl = memchr(buf + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - buf) : len;
		c.line++;
		r->st.lines++;
		/* comment: '#' not preceded by '\'; then "\#" means '#' */
		tj_buf_reset(&line);
		for (size_t i = pos; i < end && rc == 0; i++) {
			if (buf[i] == '#' && (i == pos || buf[i - 1] != '\\'))
				break;
			if (buf[i] == '\\' && i + 1 < end && buf[i + 1] == '#')
				continue;
			rc = tj_buf_putc(&line, buf[i]);
		}
		pos = nl ? end + 1 : len;
		if (rc)
			break;
		struct sv s = sv_trim((struct sv){line.data, line.len});
		if (s.n)
			rc = parse_line(&c, s);
	}
	if (rc == 0 && (c.depth || c.overflow)) {
		note_error(&c, "unclosed if/ifplugin", (struct sv){(const uint8_t *)"", 0});
		r->st.skipped[TJ_SA_SKIP_SYNTAX]++;
	}
	tj_buf_free(&line);
	return rc;
}

/* ---------------------------------------------------------------- lifecycle */

int tj_sa_rules_new(tj_sa_rules **r_r)
{
	*r_r = NULL;
	tj_sa_rules *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->required = 5.0;
	r->cctx = pcre2_compile_context_create(NULL);
	if (!r->cctx) {
		free(r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < SA_NBAYES; i++) {
		int rc;
		struct rule *ru = rule_get(r, bayes_tab[i].name, strlen(bayes_tab[i].name), &rc);
		if (!ru || !(ru->describe = strdup(bayes_tab[i].describe))) {
			tj_sa_rules_free(&r);
			return -ENOMEM;
		}
		ru->type = TJ_SA_BAYES;
		ru->defined = true;
		ru->lo = bayes_tab[i].lo;
		ru->hi = bayes_tab[i].hi;
		ru->score = bayes_tab[i].score;
		ru->has_score = true;
		ru->nice = bayes_tab[i].nice;
	}
	*r_r = r;
	return 0;
}

void tj_sa_rules_free(tj_sa_rules **rp)
{
	tj_sa_rules *r = *rp;
	if (!r)
		return;
	for (uint32_t i = 0; i < r->nrules; i++) {
		rule_clear_def(&r->rules[i]);
		free(r->rules[i].name);
		free(r->rules[i].describe);
	}
	free(r->rules);
	free(r->hash);
	for (uint32_t i = 0; i < r->nsrcs; i++) {
		free(r->srcs[i].key);
		free(r->srcs[i].field);
	}
	free(r->srcs);
	free(r->shash);
	for (unsigned i = 0; i < r->nerrors; i++)
		free(r->errors[i]);
	for (int t = 0; t < TJ_SA_TYPE_NR; t++)
		free(r->by_type[t]);
	pcre2_compile_context_free(r->cctx);
	free(r);
	*rp = NULL;
}

/* ------------------------------------------------------------ meta compile */

struct mtok {
	uint8_t kind;   /* 'n' number, 'r' rule, 's' rules_matching, 'o' operator, 0 end */
	char op[3];
	double num;
	struct sv name;
};

struct mcomp {
	tj_sa_rules *r;
	uint32_t self;      /* index: r->rules may move while compiling */
	const uint8_t *p, *end;
	struct mtok tok;
	struct meta_op *prog;
	uint32_t n, cap;
	uint32_t *refs;
	uint32_t nrefs, rcap;
	bool bad, nomem;
	unsigned depth;
};

static void mc_next(struct mcomp *m)
{
	while (m->p < m->end && is_ws(*m->p))
		m->p++;
	struct mtok *t = &m->tok;
	memset(t, 0, sizeof(*t));
	if (m->p >= m->end)
		return;
	const uint8_t *s = m->p;
	if (isalpha(*s) || *s == '_') {
		while (m->p < m->end && is_name_char(*m->p))
			m->p++;
		t->kind = 'r';
		t->name = (struct sv){s, (size_t)(m->p - s)};
		if (sv_eq(t->name, "rules_matching")) {
			while (m->p < m->end && is_ws(*m->p))
				m->p++;
			if (m->p >= m->end || *m->p != '(') {
				m->bad = true;
				return;
			}
			const uint8_t *g = ++m->p;
			while (m->p < m->end && *m->p != ')')
				m->p++;
			if (m->p >= m->end) {
				m->bad = true;
				return;
			}
			t->kind = 's';
			t->name = sv_trim((struct sv){g, (size_t)(m->p - g)});
			m->p++;
		} else if (sv_eq(t->name, "local_tests_only")) {
			t->kind = 'n';
			t->num = 1; /* we never run network tests */
		}
		return;
	}
	if (isdigit(*s) || (*s == '.' && s + 1 < m->end && isdigit(s[1]))) {
		while (m->p < m->end && (isdigit(*m->p) || *m->p == '.'))
			m->p++;
		t->kind = 'n';
		if (!parse_number((struct sv){s, (size_t)(m->p - s)}, &t->num))
			m->bad = true;
		return;
	}
	static const char *const two[] = {"&&", "||", ">=", "<=", "==", "!="};
	for (size_t i = 0; i < sizeof(two) / sizeof(two[0]); i++)
		if (m->end - s >= 2 && s[0] == two[i][0] && s[1] == two[i][1]) {
			t->kind = 'o';
			memcpy(t->op, two[i], 2);
			m->p += 2;
			return;
		}
	if (strchr("!()+-*/<>", *s)) {
		t->kind = 'o';
		t->op[0] = (char)*s;
		m->p++;
		return;
	}
	m->bad = true;
}

static bool mc_is(const struct mcomp *m, const char *op)
{
	return m->tok.kind == 'o' && strcmp(m->tok.op, op) == 0;
}

static void mc_emit(struct mcomp *m, uint8_t op, uint32_t a, uint32_t n, double num)
{
	if (m->bad)
		return;
	if (m->n >= TJ_SA_META_TOKENS_MAX) {
		m->bad = true;
		return;
	}
	if (m->n == m->cap) {
		uint32_t nc = m->cap ? m->cap * 2 : 16;
		struct meta_op *np = realloc(m->prog, nc * sizeof(*np));
		if (!np) {
			m->bad = m->nomem = true;
			return;
		}
		m->prog = np;
		m->cap = nc;
	}
	m->prog[m->n++] = (struct meta_op){op, a, n, num};
}

static bool mc_ref(struct mcomp *m, uint32_t idx)
{
	if (m->nrefs >= SA_META_REFS_MAX) {
		m->bad = true;
		return false;
	}
	if (m->nrefs == m->rcap) {
		uint32_t nc = m->rcap ? m->rcap * 2 : 16;
		uint32_t *nr = realloc(m->refs, nc * sizeof(*nr));
		if (!nr) {
			m->bad = m->nomem = true;
			return false;
		}
		m->refs = nr;
		m->rcap = nc;
	}
	m->refs[m->nrefs++] = idx;
	return true;
}

/* glob_match - '*' and '?' only, case-sensitive (rules_matching). */
static bool glob_match(const char *g, size_t gn, const char *s)
{
	size_t gi = 0, star = SIZE_MAX, mark = 0;
	size_t si = 0, sn = strlen(s);
	while (si < sn) {
		if (gi < gn && (g[gi] == '?' || g[gi] == s[si])) {
			gi++, si++;
		} else if (gi < gn && g[gi] == '*') {
			star = gi++;
			mark = si;
		} else if (star != SIZE_MAX) {
			gi = star + 1;
			si = ++mark;
		} else {
			return false;
		}
	}
	while (gi < gn && g[gi] == '*')
		gi++;
	return gi == gn;
}

static void mc_expr(struct mcomp *m);

static void mc_unary(struct mcomp *m)
{
	if (m->bad)
		return;
	if (++m->depth > SA_META_DEPTH_MAX) {
		m->bad = true;
		return;
	}
	struct mtok t = m->tok;
	if (mc_is(m, "!") || mc_is(m, "-") || mc_is(m, "+")) {
		mc_next(m);
		mc_unary(m);
		if (t.op[0] != '+')
			mc_emit(m, t.op[0] == '!' ? MO_NOT : MO_NEG, 0, 0, 0);
	} else if (mc_is(m, "(")) {
		mc_next(m);
		mc_expr(m);
		if (!mc_is(m, ")"))
			m->bad = true;
		mc_next(m);
	} else if (t.kind == 'n') {
		mc_emit(m, MO_NUM, 0, 0, t.num);
		mc_next(m);
	} else if (t.kind == 'r') {
		/* an undefined name gets a placeholder entry: never active, so
		 * unknown, but distinct from other unknown names */
		int rc;
		struct rule *ru = valid_rule_name(t.name) ? rule_get(m->r, t.name.p, t.name.n, &rc) : NULL;
		if (!ru) {
			m->bad = true;
			m->nomem = rc == -ENOMEM;
			return;
		}
		uint32_t idx = (uint32_t)(ru - m->r->rules);
		mc_ref(m, idx);
		mc_emit(m, MO_RULE, idx, 0, 0);
		mc_next(m);
	} else if (t.kind == 's') {
		uint32_t start = m->nrefs;
		char g[SA_NAME_MAX + 1];
		if (t.name.n > SA_NAME_MAX || ++m->r->globs > SA_GLOBS_MAX) {
			m->bad = true;
			return;
		}
		memcpy(g, t.name.p, t.name.n);
		for (uint32_t i = 0; i < m->r->nrules && !m->bad; i++) {
			struct rule *ru = &m->r->rules[i];
			if (ru->defined && i != m->self && glob_match(g, t.name.n, ru->name))
				mc_ref(m, i);
		}
		mc_emit(m, MO_SUM, start, m->nrefs - start, 0);
		mc_next(m);
	} else {
		m->bad = true;
	}
	m->depth--;
}

/* binary levels, loosest first; Perl's precedence */
static const struct {
	const char *ops[4];
	uint8_t opc[4];
} levels[] = {
	{{"||"}, {MO_OR}},
	{{"&&"}, {MO_AND}},
	{{"==", "!="}, {MO_EQ, MO_NE}},
	{{"<", ">", "<=", ">="}, {MO_LT, MO_GT, MO_LE, MO_GE}},
	{{"+", "-"}, {MO_ADD, MO_SUB}},
	{{"*", "/"}, {MO_MUL, MO_DIV}},
};
#define NLEVELS (sizeof(levels) / sizeof(levels[0]))

static void mc_level(struct mcomp *m, size_t lv)
{
	if (lv == NLEVELS) {
		mc_unary(m);
		return;
	}
	mc_level(m, lv + 1);
	for (;;) {
		int hit = -1;
		for (int i = 0; i < 4 && levels[lv].ops[i]; i++)
			if (mc_is(m, levels[lv].ops[i]))
				hit = i;
		if (hit < 0 || m->bad)
			return;
		mc_next(m);
		mc_level(m, lv + 1);
		mc_emit(m, levels[lv].opc[hit], 0, 0, 0);
	}
}

static void mc_expr(struct mcomp *m)
{
	if (++m->depth > SA_META_DEPTH_MAX) {
		m->bad = true;
		return;
	}
	mc_level(m, 0);
	m->depth--;
}

/* compile_meta - 0, 1 (does not parse: skip), -ENOMEM.  May add
 * placeholder entries (r->rules can move). */
static int compile_meta(tj_sa_rules *r, uint32_t idx)
{
	char *src = r->rules[idx].meta_src;
	struct mcomp m = {.r = r, .self = idx, .p = (const uint8_t *)src};
	m.end = m.p + strlen(src);
	mc_next(&m);
	if (m.tok.kind == 0)
		m.bad = true;
	mc_expr(&m);
	if (m.tok.kind != 0)
		m.bad = true;
	if (m.nomem) {
		free(m.prog);
		free(m.refs);
		return -ENOMEM;
	}
	if (m.bad) {
		free(m.prog);
		free(m.refs);
		return 1;
	}
	struct rule *ru = &r->rules[idx];
	ru->prog = m.prog;
	ru->nprog = m.n;
	ru->refs = m.refs;
	ru->nrefs = m.nrefs;
	return 0;
}

/* order_meta - depth-first over meta dependencies, appending each meta
 * after the metas it reads; a meta met again while on the path closes a
 * cycle and every meta on it is dropped.  path holds the current chain. */
static void order_meta(tj_sa_rules *r, uint32_t idx, uint32_t *path, uint32_t depth, uint32_t *out, uint32_t *nout)
{
	struct rule *ru = &r->rules[idx];
	ru->mark = 1; /* on the path */
	path[depth] = idx;
	for (uint32_t k = 0; k < ru->nrefs; k++) {
		uint32_t d = ru->refs[k];
		struct rule *dr = &r->rules[d];
		if (dr->type != TJ_SA_META || !dr->active || !dr->used)
			continue;
		if (dr->mark == 1) {
			/* cycle: path from d to here */
			for (uint32_t q = depth + 1; q-- > 0;) {
				r->rules[path[q]].why = TJ_SA_SKIP_META_CYCLE;
				if (path[q] == d)
					break;
			}
		} else if (dr->mark == 0) {
			if (depth + 1 >= SA_META_CHAIN_MAX)
				ru->why = TJ_SA_SKIP_META_CYCLE; /* absurdly deep: treat as a cycle */
			else
				order_meta(r, d, path, depth + 1, out, nout);
		}
	}
	ru->mark = 2;
	out[(*nout)++] = idx;
}

/* cmp_by_src - header rules by source, then by index (a stable order) */
static int cmp_by_src(const void *a, const void *b, void *arg)
{
	const tj_sa_rules *r = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint32_t sx = r->rules[x].src, sy = r->rules[y].src;
	if (sx != sy)
		return sx < sy ? -1 : 1;
	return (x > y) - (x < y);
}

int tj_sa_rules_finish(tj_sa_rules *r)
{
	if (r->finished)
		return TJ_ESTATE;
	struct tj_sa_stats *st = &r->st;
	/* scores, activity, metas compiled */
	for (uint32_t i = 0; i < r->nrules; i++) {
		struct rule *ru = &r->rules[i];
		ru->active = ru->scored = false;
		ru->why = ru->skipped ? ru->why : 0;
		if (!ru->defined || ru->skipped || ru->type == TJ_SA_NONE)
			continue;
		bool sub = ru->name[0] == '_' && ru->name[1] == '_';
		if (!ru->has_score && !sub) {
			ru->score = strncmp(ru->name, "T_", 2) == 0 ? 0.01 : 1.0;
			if (ru->nice)
				ru->score = -ru->score;
		}
		if (ru->has_score && ru->score == 0) {
			ru->why = TJ_SA_SKIP_DISABLED;
			st->skipped[TJ_SA_SKIP_DISABLED]++;
			continue;
		}
		if (sub)
			ru->score = 0;
		ru->scored = !sub;
		ru->active = true;
	}
	uint32_t nbefore = r->nrules; /* placeholders added below need no compiling */
	for (uint32_t i = 0; i < nbefore; i++) {
		if (!r->rules[i].active || r->rules[i].type != TJ_SA_META)
			continue;
		int rc = compile_meta(r, i);
		struct rule *ru = &r->rules[i];
		if (rc < 0)
			return rc;
		if (rc > 0) {
			ru->active = ru->scored = false;
			ru->why = TJ_SA_SKIP_META;
			st->skipped[TJ_SA_SKIP_META]++;
			struct pctx c = {.r = r, .file = "meta", .line = 0};
			note_error(&c, ru->name, (struct sv){(const uint8_t *)ru->meta_src, strlen(ru->meta_src)});
		}
	}
	/* a __ rule that no scored rule reads (through metas) cannot change a
	 * score: it is not run.  Worklist from the scored rules down. */
	uint32_t *work = malloc(((size_t)r->nrules + 1) * sizeof(uint32_t)), nwork = 0;
	if (!work)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nrules; i++) {
		struct rule *ru = &r->rules[i];
		ru->used = ru->active && ru->scored;
		if (ru->used)
			work[nwork++] = i;
	}
	while (nwork) {
		struct rule *ru = &r->rules[work[--nwork]];
		for (uint32_t k = 0; k < ru->nrefs; k++) {
			struct rule *d = &r->rules[ru->refs[k]];
			if (d->active && !d->used) {
				d->used = true;
				work[nwork++] = ru->refs[k];
			}
		}
	}
	free(work);
	for (uint32_t i = 0; i < r->nrules; i++)
		if (r->rules[i].active && !r->rules[i].used)
			st->unused++;
	/* index by type; metas in dependency order */
	uint32_t counts[TJ_SA_TYPE_NR] = {0};
	for (uint32_t i = 0; i < r->nrules; i++)
		if (r->rules[i].active && r->rules[i].used)
			counts[r->rules[i].type]++;
	for (int t = 0; t < TJ_SA_TYPE_NR; t++) {
		r->by_type[t] = malloc(((size_t)counts[t] + 1) * sizeof(uint32_t));
		if (!r->by_type[t])
			return -ENOMEM;
	}
	uint32_t *path = malloc(SA_META_CHAIN_MAX * sizeof(uint32_t));
	if (!path)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->nrules; i++) {
		struct rule *ru = &r->rules[i];
		if (!ru->active || !ru->used)
			continue;
		if (ru->type == TJ_SA_META) {
			if (ru->mark == 0)
				order_meta(r, i, path, 0, r->by_type[TJ_SA_META], &r->nby_type[TJ_SA_META]);
		} else {
			r->by_type[ru->type][r->nby_type[ru->type]++] = i;
		}
	}
	free(path);
	/* drop metas on cycles, keeping the order of the rest */
	uint32_t *mo = r->by_type[TJ_SA_META], nm = 0;
	for (uint32_t k = 0; k < r->nby_type[TJ_SA_META]; k++) {
		struct rule *ru = &r->rules[mo[k]];
		if (ru->why == TJ_SA_SKIP_META_CYCLE) {
			ru->active = ru->scored = false;
			st->skipped[TJ_SA_SKIP_META_CYCLE]++;
		} else {
			mo[nm++] = mo[k];
		}
	}
	r->nby_type[TJ_SA_META] = nm;
	/* header rules grouped by source, so each value is computed once */
	if (r->nby_type[TJ_SA_HEADER])
		qsort_r(r->by_type[TJ_SA_HEADER], r->nby_type[TJ_SA_HEADER], sizeof(uint32_t), cmp_by_src, r);
	/* stats */
	st->rules = st->subrules = st->scored = 0;
	memset(st->by_type, 0, sizeof(st->by_type));
	for (uint32_t i = 0; i < r->nrules; i++) {
		struct rule *ru = &r->rules[i];
		if (!ru->active)
			continue;
		st->rules++;
		st->by_type[ru->type]++;
		st->subrules += !ru->scored;
		st->scored += ru->scored;
	}
	st->required = r->required;
	r->finished = true;
	return 0;
}

/* ---------------------------------------------------------------- loading */

static int read_file(const char *path, uint8_t **buf_r, size_t *len_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (sb.st_size > (off_t)SA_FILE_MAX) {
		close(fd);
		return TJ_ETOOBIG;
	}
	size_t cap = (size_t)sb.st_size + 1, len = 0;
	uint8_t *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= SA_FILE_MAX) {
				free(buf);
				close(fd);
				return TJ_ETOOBIG;
			}
			uint8_t *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			free(buf);
			close(fd);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	*buf_r = buf;
	*len_r = len;
	return 0;
}

static int load_file(tj_sa_rules *r, const char *path, const char *shown)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = read_file(path, &buf, &len);
	if (rc < 0)
		return rc;
	rc = tj_sa_rules_parse(r, shown, buf, len);
	free(buf);
	return rc;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tj_sa_rules_load_path(tj_sa_rules *r, const char *path)
{
	if (r->finished)
		return TJ_ESTATE;
	struct stat sb;
	if (stat(path, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode)) {
		const char *base = strrchr(path, '/');
		return load_file(r, path, base ? base + 1 : path);
	}
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		if (de->d_name[0] == '.' || l < 4 || strcmp(de->d_name + l - 3, ".cf") != 0)
			continue;
		if (n == cap && tj_grow(&names, &cap, n + 1, sizeof(*names))) {
			rc = -ENOMEM;
			break;
		}
		if (!(names[n] = strdup(de->d_name))) {
			rc = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && rc == 0; i++) {
		char p[4096];
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, names[i]) >= sizeof(p)) {
			rc = -ENAMETOOLONG;
			break;
		}
		struct stat fs;
		if (stat(p, &fs) < 0 || !S_ISREG(fs.st_mode))
			continue;
		rc = load_file(r, p, names[i]);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

int tj_sa_rules_load(const char *path, tj_sa_rules **r_r)
{
	tj_sa_rules *r;
	int rc = tj_sa_rules_new(&r);
	if (rc < 0)
		return rc;
	rc = tj_sa_rules_load_path(r, path);
	if (rc == 0)
		rc = tj_sa_rules_finish(r);
	if (rc < 0) {
		tj_sa_rules_free(&r);
		*r_r = NULL;
		return rc;
	}
	*r_r = r;
	return 0;
}

void tj_sa_rules_stats(const tj_sa_rules *r, struct tj_sa_stats *st_r)
{
	*st_r = r->st;
	st_r->required = r->required;
}

double tj_sa_rules_required(const tj_sa_rules *r)
{
	return r->required;
}

static int cmp_unknown(const void *a, const void *b)
{
	const struct unknown_dir *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name, y->name);
}

int tj_sa_rules_summary(const tj_sa_rules *r, tj_buf *out)
{
	const struct tj_sa_stats *st = &r->st;
	int rc = tj_buf_printf(out, "files=%u lines=%u rules=%u scored=%u subrules=%u unused=%u", st->files,
			       st->lines, st->rules, st->scored, st->subrules, st->unused);
	for (int t = TJ_SA_HEADER; t < TJ_SA_TYPE_NR && rc == 0; t++)
		rc = tj_buf_printf(out, " %s=%u", type_names[t], st->by_type[t]);
	if (rc == 0)
		rc = tj_buf_printf(out, " regexes=%u jit=%u required=%.1f", st->regexes, st->jit, r->required);
	for (int s = 0; s < TJ_SA_SKIP_NR && rc == 0; s++)
		rc = tj_buf_printf(out, " skipped_%s=%u", skip_names[s], st->skipped[s]);
	struct unknown_dir top[SA_UNKNOWN_DIRS];
	unsigned nt = 0;
	for (unsigned i = 0; i < SA_UNKNOWN_DIRS && r->unknown[i].count; i++)
		top[nt++] = r->unknown[i];
	qsort(top, nt, sizeof(top[0]), cmp_unknown);
	if (nt && rc == 0) {
		rc = tj_buf_puts(out, " unknown_directives=");
		for (unsigned i = 0; i < nt && i < 8 && rc == 0; i++)
			rc = tj_buf_printf(out, "%s%s:%u", i ? "," : "", top[i].name, top[i].count);
	}
	for (unsigned i = 0; i < r->nerrors && i < 4 && rc == 0; i++)
		rc = tj_buf_printf(out, " example%u=\"%s\"", i + 1, r->errors[i]);
	return rc;
}

int tj_sa_rule_info(const tj_sa_rules *r, const char *name, struct tj_sa_rule_info *info)
{
	const struct rule *ru = rule_find(r, name, strlen(name));
	if (!ru)
		return TJ_ENOTFOUND;
	info->type = (enum tj_sa_type)ru->type;
	info->active = ru->active;
	info->scored = ru->scored;
	info->why = (enum tj_sa_skip)ru->why;
	info->score = ru->scored ? ru->score : 0;
	if (!r->finished || !ru->active)
		info->score = ru->has_score ? ru->score : 0;
	info->describe = ru->describe ? ru->describe : "";
	return 0;
}

/* ================================================================ matching */

/* A set of lines (body paragraphs, rawbody chunks, URIs) stored in one text
 * so that a rule can first be run over all of it at once: line k is
 * text[off[k] .. off[k]+len[k]); a '\n' follows every line in text (its own
 * last byte, or one added between lines). */
struct lines {
	tj_buf text;
	size_t *off, *len;
	size_t n, cap;
};

static int lines_add(struct lines *L, const uint8_t *p, size_t n)
{
	if (L->n == L->cap) { /* two arrays side by side */
		size_t c1 = L->cap, c2 = L->cap;
		if (tj_grow(&L->off, &c1, L->n + 1, sizeof(*L->off)) || tj_grow(&L->len, &c2, L->n + 1, sizeof(*L->len)))
			return -ENOMEM;
		L->cap = c1 < c2 ? c1 : c2;
	}
	L->off[L->n] = L->text.len;
	L->len[L->n] = n;
	int rc = tj_buf_append(&L->text, p, n);
	if (rc == 0 && (n == 0 || p[n - 1] != '\n'))
		rc = tj_buf_putc(&L->text, '\n');
	if (rc == 0)
		L->n++;
	return rc;
}

static void lines_free(struct lines *L)
{
	tj_buf_free(&L->text);
	free(L->off);
	free(L->len);
	memset(L, 0, sizeof(*L));
}

/* line_at - index of the line holding text offset p (the next line when p
 * falls on an added separator); L->n when past the end. */
static size_t line_at(const struct lines *L, size_t p)
{
	if (L->n == 0)
		return 0;
	size_t lo = 0, hi = L->n; /* the last line starting at or before p */
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (L->off[mid] <= p)
			lo = mid;
		else
			hi = mid;
	}
	return p < L->off[lo] + L->len[lo] ? lo : lo + 1;
}

struct field {
	const uint8_t *name, *val;
	size_t nlen, vlen; /* value raw: after the colon and leading blanks, folds kept */
};

struct view {
	const tj_sa_rules *r;
	const uint8_t *msg;
	size_t len;
	size_t hdr_len, body_off;
	struct field *f;
	size_t nf;
	tj_buf *sval;        /* per header source */
	uint8_t *sstate;     /* 0 not computed, 1 present, 2 absent */
	tj_buf rendered;     /* text parts rendered, before paragraph normalisation */
	tj_buf html_uris;    /* from HTML attributes, one per line */
	struct lines body, raw, uris;
	size_t subj_lines;
};

/* ---- header fields ---- */

static int view_fields(struct view *v)
{
	const uint8_t *m = v->msg;
	size_t len = v->len, pos = 0;
	/* header block: up to the first empty line */
	v->hdr_len = v->body_off = len;
	while (pos < len) {
		const uint8_t *nl = memchr(m + pos, '\n', len - pos);
		size_t e = nl ? (size_t)(nl - m) : len;
		if (e == pos || (e == pos + 1 && m[pos] == '\r')) {
			v->hdr_len = pos;
			v->body_off = nl ? e + 1 : len;
			break;
		}
		pos = nl ? e + 1 : len;
	}
	size_t cap = 0;
	struct field *cur = NULL;
	pos = 0;
	while (pos < v->hdr_len) {
		const uint8_t *nl = memchr(m + pos, '\n', v->hdr_len - pos);
		size_t e = nl ? (size_t)(nl - m) : v->hdr_len, next = nl ? e + 1 : v->hdr_len;
		size_t ve = e > pos && m[e - 1] == '\r' ? e - 1 : e;
		if (m[pos] == ' ' || m[pos] == '\t') {
			if (cur)
				cur->vlen = (size_t)(m + ve - cur->val);
			pos = next;
			continue;
		}
		cur = NULL;
		const uint8_t *colon = memchr(m + pos, ':', ve - pos);
		size_t ne = colon ? (size_t)(colon - m) : 0;
		while (colon && ne > pos && (m[ne - 1] == ' ' || m[ne - 1] == '\t'))
			ne--;
		bool ok = colon && ne > pos;
		for (size_t i = pos; ok && i < ne; i++)
			ok = m[i] > 32 && m[i] < 127;
		if (ok && v->nf < SA_FIELDS_MAX) {
			if (v->nf == cap && tj_grow(&v->f, &cap, v->nf + 1, sizeof(*v->f)))
				return -ENOMEM;
			size_t vs = (size_t)(colon - m) + 1;
			while (vs < ve && (m[vs] == ' ' || m[vs] == '\t'))
				vs++;
			cur = &v->f[v->nf++];
			*cur = (struct field){m + pos, m + vs, ne - pos, ve - vs};
		}
		pos = next;
	}
	return 0;
}

static bool field_is(const struct field *f, const char *name)
{
	return f->nlen == strlen(name) && strncasecmp((const char *)f->name, name, f->nlen) == 0;
}

/* unfold - a value with folds undone: "\r?\n" + blanks -> one space (raw:
 * all following whitespace), ends trimmed. */
static int unfold(const uint8_t *p, size_t n, bool raw, tj_buf *out)
{
	size_t start = out->len;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			continue;
		if (p[i] == '\n') {
			while (i + 1 < n && (p[i + 1] == ' ' || p[i + 1] == '\t' || (raw && is_ws(p[i + 1]))))
				i++;
			rc = tj_buf_putc(out, ' ');
			continue;
		}
		size_t j = i + 1;
		while (j < n && p[j] != '\r' && p[j] != '\n')
			j++;
		rc = tj_buf_append(out, p + i, j - i);
		i = j - 1;
	}
	if (rc)
		return rc;
	size_t s = start;
	while (s < out->len && is_ws(out->data[s]))
		s++;
	size_t e = out->len;
	while (e > s && is_ws(out->data[e - 1]))
		e--;
	if (s > start)
		memmove(out->data + start, out->data + s, e - s);
	tj_buf_truncate(out, start + (e - s));
	return 0;
}

/* Fields SpamAssassin never MIME-decodes. */
static bool no_decode(const struct field *f)
{
	static const char *const names[] = {"received", "message-id", "resent-message-id", "date",
					    "resent-date", "mime-version", "references", "in-reply-to"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (field_is(f, names[i]))
			return true;
	return f->nlen >= 5 && strncasecmp((const char *)f->name, "list-", 5) == 0;
}

/* field_value - append a field's value as a rule sees it (no newline). */
static int field_value(const struct field *f, bool raw, tj_buf *out)
{
	if (raw)
		return unfold(f->val, f->vlen, true, out);
	bool enc = false;
	for (size_t i = 0; i + 1 < f->vlen; i++)
		if (f->val[i] == '=' && f->val[i + 1] == '?') {
			enc = true;
			break;
		}
	if (!enc || no_decode(f))
		return unfold(f->val, f->vlen, false, out);
	tj_buf tmp = TJ_BUF_INIT;
	int rc = unfold(f->val, f->vlen, false, &tmp);
	if (rc == 0)
		rc = tj_mime_decode_header(tmp.data ? tmp.data : (const uint8_t *)"", tmp.len, out);
	tj_buf_free(&tmp);
	return rc;
}

/* ---- addresses (:addr / :name) ---- */

/* clean_phrase - a display name: quotes and escapes removed, RFC 2047
 * decoded unless raw, whitespace collapsed, outer single quotes removed. */
static int clean_phrase(const uint8_t *p, size_t n, bool raw, tj_buf *out)
{
	tj_buf a = TJ_BUF_INIT, b = TJ_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (p[i] == '"')
			continue;
		if (p[i] == '\\' && i + 1 < n)
			i++;
		rc = tj_buf_putc(&a, p[i]);
	}
	if (rc == 0 && !raw)
		rc = tj_mime_decode_header(a.data ? a.data : (const uint8_t *)"", a.len, &b);
	else if (rc == 0)
		rc = tj_buf_append(&b, a.data ? a.data : (const uint8_t *)"", a.len);
	/* collapse whitespace, trim */
	size_t start = out->len;
	bool sp = false;
	for (size_t i = 0; i < b.len && rc == 0; i++) {
		if (is_ws(b.data[i])) {
			sp = out->len > start;
			continue;
		}
		if (sp)
			rc = tj_buf_putc(out, ' ');
		sp = false;
		if (rc == 0)
			rc = tj_buf_putc(out, b.data[i]);
	}
	if (rc == 0 && out->len - start >= 2 && out->data[start] == '\'' && out->data[out->len - 1] == '\'') {
		memmove(out->data + start, out->data + start + 1, out->len - start - 2);
		tj_buf_truncate(out, out->len - 2);
	}
	tj_buf_free(&a);
	tj_buf_free(&b);
	return rc;
}

/* addr_items - every address (want_name false) or display name (true) of an
 * unfolded raw address header, each followed by '\n'; *count_r items. */
static int addr_items(const uint8_t *s, size_t n, bool want_name, bool raw, tj_buf *out, size_t *count_r)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && rc == 0) {
		/* one element up to a top-level ',' or ';' */
		size_t st = i;
		int angle = 0, paren = 0;
		bool quote = false;
		size_t colon = SIZE_MAX, lt = SIZE_MAX, gt = SIZE_MAX, at = SIZE_MAX;
		for (; i < n; i++) {
			uint8_t c = s[i];
			if (quote) {
				if (c == '\\')
					i++;
				else if (c == '"')
					quote = false;
				continue;
			}
			if (paren) {
				if (c == '\\')
					i++;
				else if (c == '(')
					paren++;
				else if (c == ')')
					paren--;
				continue;
			}
			if (c == '"')
				quote = true;
			else if (c == '(')
				paren = 1;
			else if (c == '<' && !angle)
				angle = 1, lt = lt == SIZE_MAX ? i : lt;
			else if (c == '>' && angle)
				angle = 0, gt = gt == SIZE_MAX ? i : gt;
			else if (c == '@' && at == SIZE_MAX)
				at = i;
			else if (c == ':' && !angle && colon == SIZE_MAX && lt == SIZE_MAX && at == SIZE_MAX)
				colon = i;
			else if ((c == ',' || c == ';') && !angle)
				break;
		}
		size_t en = i < n ? i : n;
		i = en + 1;
		if (colon != SIZE_MAX)
			st = colon + 1; /* group "name:" dropped */
		struct sv addr, phrase = {NULL, 0};
		tj_buf stripped = TJ_BUF_INIT;
		if (lt != SIZE_MAX && lt >= st) {
			size_t ae = gt != SIZE_MAX && gt > lt ? gt : en;
			addr = sv_trim((struct sv){s + lt + 1, ae - lt - 1});
			phrase = sv_trim((struct sv){s + st, lt - st});
			if (!phrase.n && ae < en) { /* <a@b> (Name) */
				const uint8_t *o = memchr(s + ae, '(', en - ae);
				const uint8_t *c = o ? memchr(o, ')', (size_t)(s + en - o)) : NULL;
				if (o && c)
					phrase = sv_trim((struct sv){o + 1, (size_t)(c - o - 1)});
			}
			/* drop a source route "@a,@b:" */
			const uint8_t *rc2 = addr.n && addr.p[0] == '@' ? memchr(addr.p, ':', addr.n) : NULL;
			if (rc2)
				addr = (struct sv){rc2 + 1, (size_t)(addr.p + addr.n - rc2 - 1)};
		} else {
			/* a@b (Name): the first comment is the name, comments dropped */
			int depth = 0;
			bool q = false;
			for (size_t k = st; k < en && rc == 0; k++) {
				uint8_t c = s[k];
				if (q) {
					q = c != '"';
					continue;
				}
				if (c == '"' && !depth) {
					q = true;
					continue;
				}
				if (c == '(') {
					if (depth++ == 0 && !phrase.p) {
						size_t e2 = k + 1;
						int d2 = 1;
						while (e2 < en && d2) {
							d2 += s[e2] == '(' ? 1 : s[e2] == ')' ? -1 : 0;
							e2++;
						}
						phrase = sv_trim((struct sv){s + k + 1, e2 - k - 1 - (d2 == 0)});
					}
					continue;
				}
				if (c == ')' && depth) {
					depth--;
					continue;
				}
				if (!depth && !is_ws(c))
					rc = tj_buf_putc(&stripped, c);
			}
			addr = (struct sv){stripped.data, stripped.len};
		}
		if (rc == 0) {
			bool valid = addr.n > 0;
			for (size_t k = 0; k < addr.n && valid; k++)
				valid = !is_ws(addr.p[k]) && addr.p[k] != '<' && addr.p[k] != '>';
			if (valid && !want_name) {
				rc = tj_buf_append(out, addr.p, addr.n);
				if (rc == 0)
					rc = tj_buf_putc(out, '\n');
				(*count_r)++;
			} else if (valid && phrase.n) {
				size_t before = out->len;
				rc = clean_phrase(phrase.p, phrase.n, raw, out);
				if (rc == 0 && out->len > before) {
					rc = tj_buf_putc(out, '\n');
					(*count_r)++;
				}
			}
		}
		tj_buf_free(&stripped);
	}
	return rc;
}

/* ---- header sources ---- */

static int src_compute(struct view *v, uint32_t si)
{
	const struct hsrc *h = &v->r->srcs[si];
	tj_buf *out = &v->sval[si];
	bool present = false;
	int rc = 0;
	if (h->kind == SRC_ALL) {
		if (h->raw) {
			rc = tj_buf_append(out, v->msg, v->hdr_len);
		} else {
			for (size_t i = 0; i < v->nf && rc == 0; i++) {
				rc = tj_buf_append(out, v->f[i].name, v->f[i].nlen);
				if (rc == 0)
					rc = tj_buf_puts(out, ": ");
				if (rc == 0)
					rc = field_value(&v->f[i], false, out);
				if (rc == 0)
					rc = tj_buf_putc(out, '\n');
			}
		}
		present = v->nf > 0;
		goto done;
	}
	/* the fields read, in order */
	static const char *const msgid[] = {"x-message-id", "resent-message-id", "x-original-message-id", "message-id"};
	static const char *const tocc[] = {"to", "cc"};
	static const char *const envf[] = {"return-path", "x-envelope-from"};
	const char *const *names;
	const char *one[1] = {h->field};
	size_t nnames;
	switch (h->kind) {
	case SRC_TOCC: names = tocc, nnames = 2; break;
	case SRC_MESSAGEID: names = msgid, nnames = 4; break;
	case SRC_ENVFROM: names = envf, nnames = 2; break;
	default: names = one, nnames = 1; break;
	}
	size_t *sel = malloc((v->nf + 1) * sizeof(*sel)), nsel = 0;
	if (!sel)
		return -ENOMEM;
	for (size_t k = 0; k < nnames; k++)
		for (size_t i = 0; i < v->nf; i++)
			if (field_is(&v->f[i], names[k]) && !(h->kind == SRC_MESSAGEID && v->f[i].vlen == 0))
				sel[nsel++] = i;
	if (h->kind == SRC_ENVFROM && nsel > 1)
		nsel = 1;
	if (nsel && (h->first || h->last)) {
		sel[0] = h->first ? sel[0] : sel[nsel - 1];
		nsel = 1;
	}
	if (h->kind == SRC_ENVFROM && nsel) {
		tj_buf t = TJ_BUF_INIT;
		rc = unfold(v->f[sel[0]].val, v->f[sel[0]].vlen, true, &t);
		struct sv a = {t.data, t.len};
		if (a.n && a.p[0] == '<')
			a.p++, a.n--;
		if (a.n && a.p[a.n - 1] == '>')
			a.n--;
		if (rc == 0 && a.n)
			rc = tj_buf_append(out, a.p, a.n), present = true;
		tj_buf_free(&t);
	} else if (h->addr || h->name) {
		size_t count = 0;
		for (size_t k = 0; k < nsel && rc == 0; k++) {
			tj_buf t = TJ_BUF_INIT;
			rc = unfold(v->f[sel[k]].val, v->f[sel[k]].vlen, true, &t);
			if (rc == 0)
				rc = addr_items(t.data ? t.data : (const uint8_t *)"", t.len, h->name && !h->addr,
						h->raw, out, &count);
			tj_buf_free(&t);
		}
		/* items are joined with '\n': no newline after the last one */
		if (out->len && out->data[out->len - 1] == '\n')
			tj_buf_truncate(out, out->len - 1);
		present = count > 0;
	} else {
		for (size_t k = 0; k < nsel && rc == 0; k++) {
			rc = field_value(&v->f[sel[k]], h->raw, out);
			if (rc == 0)
				rc = tj_buf_putc(out, '\n');
		}
		present = nsel > 0;
	}
	free(sel);
done:
	if (rc)
		return rc;
	if (out->len > TJ_SA_HEADER_MAX)
		tj_buf_truncate(out, TJ_SA_HEADER_MAX);
	v->sstate[si] = present ? 1 : 2;
	return 0;
}

/* ---- HTML ---- */

/* Renderer state.  Like SpamAssassin's, text comes in text nodes (the text
 * between two tags): whitespace runs inside a node become one space; a node
 * right after a whitespace element (br, p, td ...) loses its leading space,
 * and a whitespace element removes the trailing space of the text before. */
struct html {
	tj_buf *out, *uris;
	int rc;
	uint8_t prev;    /* 0 nothing yet, 1 a text node, 2 a whitespace element */
	bool in_node;    /* inside a text node */
	bool trim;       /* still dropping this node's leading whitespace */
	bool node_ws;    /* the last byte put was a collapsed space */
};

static bool h_room(struct html *h, size_t n)
{
	if (h->rc)
		return false;
	if (h->out->len + n > TJ_SA_TEXT_MAX) {
		h->rc = 1; /* stop: enough text */
		return false;
	}
	return true;
}

static void h_node(struct html *h)
{
	if (!h->in_node) {
		h->in_node = true;
		h->trim = h->prev == 2;
		h->node_ws = false;
		h->prev = 1;
	}
}

static void h_bytes(struct html *h, const uint8_t *p, size_t n)
{
	h_node(h);
	h->trim = h->node_ws = false;
	if (h_room(h, n))
		h->rc = tj_buf_append(h->out, p, n);
}

static void h_put(struct html *h, uint8_t c)
{
	if (!is_ws(c)) {
		h_bytes(h, &c, 1);
		return;
	}
	h_node(h);
	if (h->trim || h->node_ws)
		return;
	h->node_ws = true;
	if (h_room(h, 1))
		h->rc = tj_buf_putc(h->out, ' ');
}

static void h_ws(struct html *h, const char *s)
{
	if (h->prev == 1 && h->out->len && h->out->data[h->out->len - 1] == ' ')
		tj_buf_truncate(h->out, h->out->len - 1);
	h->prev = 2;
	h->in_node = false;
	if (h_room(h, strlen(s)))
		h->rc = tj_buf_puts(h->out, s);
}

/* utf8_enc - cp as UTF-8 (invalid code points as U+FFFD); its length. */
static size_t utf8_enc(uint32_t cp, uint8_t u[4])
{
	if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 63));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | ((cp >> 6) & 63));
		u[2] = (uint8_t)(0x80 | (cp & 63));
		return 3;
	}
	u[0] = (uint8_t)(0xF0 | cp >> 18);
	u[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
	u[2] = (uint8_t)(0x80 | ((cp >> 6) & 63));
	u[3] = (uint8_t)(0x80 | (cp & 63));
	return 4;
}

/* entity - s[0] == '&': bytes consumed (0: not an entity) and *cp. */
static size_t entity(const uint8_t *s, size_t n, uint32_t *cp)
{
	static const struct {
		const char *name;
		uint32_t cp;
	} ents[] = {
		{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
		{"copy", 0xA9}, {"reg", 0xAE}, {"trade", 0x2122}, {"euro", 0x20AC}, {"pound", 0xA3},
		{"yen", 0xA5}, {"cent", 0xA2}, {"sect", 0xA7}, {"deg", 0xB0}, {"middot", 0xB7},
		{"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018},
		{"rsquo", 0x2019}, {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"laquo", 0xAB},
		{"raquo", 0xBB}, {"bull", 0x2022}, {"times", 0xD7}, {"shy", 0xAD}, {"zwnj", 0x200C},
		{"zwj", 0x200D}, {"iexcl", 0xA1}, {"frac12", 0xBD},
	};
	if (n >= 3 && s[1] == '#') {
		size_t i = 2;
		uint32_t v = 0;
		bool hex = i < n && (s[i] == 'x' || s[i] == 'X');
		if (hex)
			i++;
		size_t d0 = i;
		while (i < n && i - d0 < 8 && (hex ? isxdigit(s[i]) : isdigit(s[i]))) {
			uint8_t c = s[i++];
			v = v * (hex ? 16 : 10) + (uint32_t)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
		}
		if (i == d0)
			return 0;
		if (i < n && s[i] == ';')
			i++;
		*cp = v;
		return i;
	}
	size_t i = 1;
	while (i < n && i < 10 && isalnum(s[i]))
		i++;
	bool semi = i < n && s[i] == ';';
	for (size_t k = 0; k < sizeof(ents) / sizeof(ents[0]); k++) {
		size_t l = strlen(ents[k].name);
		if (i - 1 == l && memcmp(s + 1, ents[k].name, l) == 0 && (semi || k < 6)) {
			*cp = ents[k].cp;
			return i + semi;
		}
	}
	return 0;
}

static void h_uri(struct html *h, const uint8_t *p, size_t n)
{
	if (h->rc || !h->uris)
		return;
	tj_buf t = TJ_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		uint32_t cp;
		size_t k = p[i] == '&' ? entity(p + i, n - i, &cp) : 0;
		if (k) {
			uint8_t u[4];
			rc = tj_buf_append(&t, u, utf8_enc(cp, u));
			i += k - 1;
		} else if (!is_ws(p[i])) {
			rc = tj_buf_putc(&t, p[i]);
		}
	}
	if (rc == 0 && t.len) {
		rc = tj_buf_append(h->uris, t.data, t.len < TJ_SA_URI_LEN_MAX ? t.len : TJ_SA_URI_LEN_MAX);
		if (rc == 0)
			rc = tj_buf_putc(h->uris, '\n');
	}
	tj_buf_free(&t);
	h->rc = rc;
}

static bool uri_attr(const char *tag, struct sv attr)
{
	if (sv_ieq(attr, "href"))
		return !strcmp(tag, "a") || !strcmp(tag, "area") || !strcmp(tag, "link") || !strcmp(tag, "base");
	if (sv_ieq(attr, "src"))
		return !strcmp(tag, "img") || !strcmp(tag, "frame") || !strcmp(tag, "iframe") ||
		       !strcmp(tag, "embed") || !strcmp(tag, "script") || !strcmp(tag, "bgsound");
	if (sv_ieq(attr, "action"))
		return !strcmp(tag, "form");
	if (sv_ieq(attr, "background"))
		return !strcmp(tag, "body") || !strcmp(tag, "table") || !strcmp(tag, "tr") || !strcmp(tag, "td");
	return false;
}

static const uint8_t *find_ci(const uint8_t *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	for (size_t i = 0; i + l <= n; i++)
		if (tolower(s[i]) == lit[0] && strncasecmp((const char *)s + i, lit, l) == 0)
			return s + i;
	return NULL;
}

int tj_sa_html_render(const uint8_t *s, size_t n, tj_buf *text, tj_buf *uris)
{
	struct html h = {.out = text, .uris = uris};
	size_t i = 0;
	while (i < n && h.rc == 0) {
		uint8_t c = s[i];
		if (c == '<' && i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?' || s[i + 1] == '/' || isalpha(s[i + 1])))
			h.in_node = false; /* a tag, comment or declaration ends the text node */
		if (c == '<' && i + 1 < n) {
			if (n - i >= 4 && memcmp(s + i, "<!--", 4) == 0) {
				const uint8_t *e = find_ci(s + i + 4, n - i - 4, "-->");
				i = e ? (size_t)(e - s) + 3 : n;
				continue;
			}
			if (s[i + 1] == '!' || s[i + 1] == '?') {
				const uint8_t *e = memchr(s + i, '>', n - i);
				i = e ? (size_t)(e - s) + 1 : n;
				continue;
			}
			size_t j = i + 1;
			bool closing = s[j] == '/';
			if (closing)
				j++;
			if (j >= n || !isalpha(s[j])) {
				h_put(&h, c);
				i++;
				continue;
			}
			char tag[16];
			size_t tl = 0;
			while (j < n && isalnum(s[j])) {
				if (tl < sizeof(tag) - 1)
					tag[tl++] = (char)tolower(s[j]);
				j++;
			}
			tag[tl] = 0;
			/* attributes up to '>' */
			while (j < n && s[j] != '>') {
				if (is_ws(s[j]) || s[j] == '/') {
					j++;
					continue;
				}
				size_t an = j;
				while (j < n && !is_ws(s[j]) && s[j] != '=' && s[j] != '>')
					j++;
				struct sv attr = {s + an, j - an};
				while (j < n && is_ws(s[j]))
					j++;
				if (j < n && s[j] == '=') {
					j++;
					while (j < n && is_ws(s[j]))
						j++;
					size_t vs = j, ve;
					if (j < n && (s[j] == '"' || s[j] == '\'')) {
						uint8_t q = s[j++];
						vs = j;
						while (j < n && s[j] != q)
							j++;
						ve = j;
						if (j < n)
							j++;
					} else {
						while (j < n && !is_ws(s[j]) && s[j] != '>')
							j++;
						ve = j;
					}
					if (!closing && uri_attr(tag, attr))
						h_uri(&h, s + vs, ve - vs);
				}
				if (!attr.n)
					j++;
			}
			i = j < n ? j + 1 : n;
			if (!strcmp(tag, "br") || !strcmp(tag, "div"))
				h_ws(&h, "\n");
			else if (!strcmp(tag, "li") || !strcmp(tag, "th") || !strcmp(tag, "td") || !strcmp(tag, "dd") ||
				 !strcmp(tag, "dt") || !strcmp(tag, "embed") ||
				 (tl == 2 && tag[0] == 'h' && tag[1] >= '1' && tag[1] <= '6'))
				h_ws(&h, " ");
			else if (!strcmp(tag, "p") || !strcmp(tag, "hr") || !strcmp(tag, "blockquote") ||
				 !strcmp(tag, "pre") || !strcmp(tag, "listing") || !strcmp(tag, "plaintext") ||
				 !strcmp(tag, "xmp") || !strcmp(tag, "title"))
				h_ws(&h, "\n\n");
			if (!closing && (!strcmp(tag, "script") || !strcmp(tag, "style"))) {
				char end[24];
				snprintf(end, sizeof(end), "</%s", tag);
				const uint8_t *e = find_ci(s + i, n - i, end);
				const uint8_t *g = e ? memchr(e, '>', (size_t)(s + n - e)) : NULL;
				i = g ? (size_t)(g - s) + 1 : n;
			}
			continue;
		}
		if (c == '&') {
			uint32_t cp;
			size_t k = entity(s + i, n - i, &cp);
			if (k) {
				if (cp == 0xA0)
					h_put(&h, ' ');
				else if (cp == 0xAD || cp == 0x200C || cp == 0x200D)
					; /* invisible */
				else if (cp < 0x80)
					h_put(&h, (uint8_t)cp);
				else {
					uint8_t u[4];
					h_bytes(&h, u, utf8_enc(cp, u));
				}
				i += k;
				continue;
			}
		}
		if (c == 0xC2 && i + 1 < n && s[i + 1] == 0xA0) { /* UTF-8 NBSP */
			h_put(&h, ' ');
			i += 2;
			continue;
		}
		if (is_ws(c) || c == '<' || c == '&' || c == 0xC2) {
			h_put(&h, c);
			i++;
			continue;
		}
		size_t j = i + 1; /* a run of plain text in one append */
		while (j < n && !is_ws(s[j]) && s[j] != '<' && s[j] != '&' && s[j] != 0xC2)
			j++;
		h_bytes(&h, s + i, j - i);
		i = j;
	}
	return h.rc < 0 ? h.rc : 0;
}

/* ---- body text ---- */

/* cut_len - SpamAssassin's scan-size truncation: cut after the first of
 * seps found within 1 KiB past max, else at max. */
static size_t cut_len(const uint8_t *p, size_t n, size_t max, const char *seps)
{
	if (n <= max)
		return n;
	size_t lim = max + 1024 < n ? max + 1024 : n;
	for (const char *s = seps; *s; s++) {
		const uint8_t *q = memchr(p + max, *s, lim - max);
		if (q)
			return (size_t)(q - p) + 1;
	}
	return max;
}

/* normalize - paragraphs as SpamAssassin makes them: a whitespace run with
 * two or more newlines becomes one newline (blanks before its first and
 * after its last newline each become a space), any other run one space. */
static int normalize(const uint8_t *s, size_t n, tj_buf *out)
{
	int rc = 0;
	size_t i = 0;
	while (i < n && rc == 0) {
		if (!is_ws(s[i])) {
			size_t j = i;
			while (j < n && !is_ws(s[j]))
				j++;
			rc = tj_buf_append(out, s + i, j - i);
			i = j;
			continue;
		}
		size_t j = i, nl = 0, first = 0, last = 0;
		while (j < n && is_ws(s[j])) {
			if (s[j] == '\n') {
				if (!nl++)
					first = j;
				last = j;
			}
			j++;
		}
		if (nl >= 2) {
			if (first > i)
				rc = tj_buf_putc(out, ' ');
			if (rc == 0)
				rc = tj_buf_putc(out, '\n');
			if (rc == 0 && j > last + 1)
				rc = tj_buf_putc(out, ' ');
		} else {
			rc = tj_buf_putc(out, ' ');
		}
		i = j;
	}
	return rc;
}

/* split_lines - lines of at most TJ_SA_LINE_MAX (+1) bytes, long ones cut
 * after the last space before the limit (SA split_into_array_of_short_lines). */
static int split_lines(struct lines *L, const uint8_t *s, size_t n)
{
	size_t i = 0;
	int rc = 0;
	while (i < n && rc == 0) {
		const uint8_t *nl = memchr(s + i, '\n', n - i);
		size_t e = nl ? (size_t)(nl - s) + 1 : n;
		while (e - i > TJ_SA_LINE_MAX && rc == 0) {
			size_t cut = 0;
			for (size_t k = i + TJ_SA_LINE_MAX + 1; k-- > i;)
				if (s[k] == ' ') {
					cut = k - i + 1;
					break;
				}
			if (!cut)
				cut = TJ_SA_LINE_MAX;
			rc = lines_add(L, s + i, cut);
			i += cut;
		}
		if (rc == 0 && e > i)
			rc = lines_add(L, s + i, e - i);
		i = e;
	}
	return rc;
}

/* split_chunks - rawbody chunks of 2 to 4 KiB, cut after '\n', '>' or ' '
 * (SA split_into_array_of_short_paragraphs). */
static int split_chunks(struct lines *L, const uint8_t *s, size_t n)
{
	const size_t M = TJ_SA_LINE_MAX;
	if (n <= M)
		return lines_add(L, s, n);
	size_t ofs = 0;
	int rc = 0;
	while (n - ofs > 2 * M && rc == 0) {
		size_t j = SIZE_MAX;
		for (const char *sep = "\n> "; *sep && j == SIZE_MAX; sep++) {
			const uint8_t *q = memchr(s + ofs + M, *sep, M);
			if (q && (size_t)(q - s) - ofs + 1 <= 2 * M)
				j = (size_t)(q - s);
		}
		if (j == SIZE_MAX)
			j = ofs + M;
		rc = lines_add(L, s + ofs, j - ofs + 1);
		ofs = j + 1;
	}
	if (rc == 0 && ofs < n)
		rc = lines_add(L, s + ofs, n - ofs);
	return rc;
}

/* utf8_valid - strict enough: well-formed sequences, no overlongs/surrogates. */
static bool utf8_valid(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t k = c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : 0;
		if (!k || n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xC0) != 0x80)
				return false;
		if ((c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xED && p[i + 1] > 0x9F) || (c == 0xF0 && p[i + 1] < 0x90) ||
		    (c == 0xF4 && p[i + 1] > 0x8F))
			return false;
		i += k + 1;
	}
	return true;
}

/* Windows-1252's 0x80-0x9F (the unassigned five keep their C1 code). */
static const uint16_t cp1252_c1[32] = {
	0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
	0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
	0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
};

/* latin_to_utf8 - ISO-8859-1 or Windows-1252 without iconv (glibc loads and
 * unloads a module for every iconv_open of these, which dominated). */
static int latin_to_utf8(const uint8_t *p, size_t n, bool cp1252, tj_buf *out)
{
	if (n > SIZE_MAX / 3)
		return TJ_ETOOBIG;
	int rc = tj_buf_reserve(out, n * 3);
	if (rc)
		return rc;
	uint8_t *o = out->data + out->len;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = p[i];
		if (c < 0x80) {
			*o++ = (uint8_t)c;
			continue;
		}
		if (cp1252 && c < 0xA0)
			c = cp1252_c1[c - 0x80];
		o += utf8_enc(c, o);
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = 0;
	return 0;
}

/* to_utf8 - a text part's bytes as UTF-8.  Text that claims ASCII or UTF-8
 * (or nothing) but is not valid UTF-8 is read as Windows-1252, which is what
 * such mail nearly always is (SpamAssassin guesses the same way). */
static int to_utf8(const char *charset, const uint8_t *p, size_t n, tj_buf *out)
{
	bool ascii_or_utf8 = !charset || !*charset || !strcasecmp(charset, "us-ascii") || !strcasecmp(charset, "ascii") ||
			     !strcasecmp(charset, "utf-8") || !strcasecmp(charset, "utf8");
	if (ascii_or_utf8 && utf8_valid(p, n))
		return tj_buf_append(out, p, n);
	if (ascii_or_utf8 || !strcasecmp(charset, "windows-1252") || !strcasecmp(charset, "cp1252"))
		return latin_to_utf8(p, n, true, out);
	if (!strcasecmp(charset, "iso-8859-1") || !strcasecmp(charset, "iso8859-1") ||
	    !strcasecmp(charset, "iso_8859-1") || !strcasecmp(charset, "latin1"))
		return latin_to_utf8(p, n, false, out);
	return tj_mime_to_utf8(charset, p, n, out);
}

/* crlf_to_lf - in place, from offset start (SpamAssassin reads decoded
 * text with LF line ends). */
static void crlf_to_lf(tj_buf *b, size_t start)
{
	size_t o = start;
	for (size_t i = start; i < b->len; i++)
		if (!(b->data[i] == '\r' && i + 1 < b->len && b->data[i + 1] == '\n'))
			b->data[o++] = b->data[i];
	tj_buf_truncate(b, o);
}

/* decode_part - a text part's transfer encoding undone (the input capped
 * to what TJ_SA_RAWBODY_PART_MAX decoded bytes need), CRLF made LF.
 * Quoted-printable first loses the blanks before line ends (transport
 * padding, RFC 2045 6.7), as SpamAssassin's decoder does. */
static int decode_part(const uint8_t *b, size_t n, const char *cte, tj_buf *out)
{
	size_t start = out->len;
	int rc;
	if (cte && strcasecmp(cte, "base64") == 0) {
		size_t lim = (size_t)TJ_SA_RAWBODY_PART_MAX / 3 * 4 + 4096;
		rc = tj_mime_decode_base64(b, n < lim ? n : lim, out);
	} else if (cte && strcasecmp(cte, "quoted-printable") == 0) {
		size_t lim = (size_t)TJ_SA_RAWBODY_PART_MAX * 3 + 4096;
		if (n > lim)
			n = lim;
		tj_buf t = TJ_BUF_INIT;
		rc = tj_buf_reserve(&t, n);
		for (size_t i = 0; i < n && rc == 0;) {
			size_t j = i;
			while (j < n && (b[j] == ' ' || b[j] == '\t'))
				j++;
			if (j > i && (j == n || b[j] == '\n' || (b[j] == '\r' && j + 1 < n && b[j + 1] == '\n'))) {
				i = j; /* padding before a line end */
				continue;
			}
			if (j == i)
				j++;
			rc = tj_buf_append(&t, b + i, j - i);
			i = j;
		}
		if (rc == 0)
			rc = tj_mime_decode_qp(t.data ? t.data : (const uint8_t *)"", t.len, out);
		tj_buf_free(&t);
	} else {
		rc = tj_buf_append(out, b, n < TJ_SA_RAWBODY_PART_MAX + 2048 ? n : TJ_SA_RAWBODY_PART_MAX + 2048);
	}
	if (rc == 0)
		crlf_to_lf(out, start);
	return rc;
}

/* view_parts - walk the MIME leaves once: rendered text (and HTML URIs)
 * when need_body, rawbody chunks when need_raw. */
static int view_parts(struct view *v, bool need_body, bool need_raw)
{
	struct tj_mime_msg *mm;
	int rc = tj_mime_parse(v->msg, v->len, &mm);
	if (rc < 0)
		return rc;
	size_t raw_total = 0;
	tj_buf dec = TJ_BUF_INIT, utf = TJ_BUF_INIT, part = TJ_BUF_INIT;
	uint32_t np = tj_mime_part_count(mm);
	for (uint32_t i = 0; i < np && rc == 0; i++) {
		const struct tj_mime_part *p = tj_mime_part_get(mm, i);
		struct tj_mime_content ct;
		if (p->first_child != TJ_MIME_NONE || tj_mime_part_content(mm, i, &ct) < 0)
			continue;
		bool text = strcasecmp(ct.type, "text") == 0;
		bool message = strcasecmp(ct.type, "message") == 0;
		bool raw_wanted = need_raw && raw_total < TJ_SA_TEXT_MAX &&
				  ((text && strcasecmp(ct.subtype, "calendar") != 0) || message);
		bool body_wanted = need_body && text && v->rendered.len < TJ_SA_TEXT_MAX;
		if (!raw_wanted && !body_wanted)
			continue;
		tj_buf_reset(&dec);
		if (p->body_off > v->len || p->body_len > v->len - p->body_off)
			continue;
		rc = decode_part(v->msg + p->body_off, (size_t)p->body_len, ct.cte, &dec);
		if (rc)
			break;
		const uint8_t *d = dec.data ? dec.data : (const uint8_t *)"";
		if (raw_wanted) {
			size_t n = cut_len(d, dec.len, TJ_SA_RAWBODY_PART_MAX, "\n> ");
			if (n > TJ_SA_TEXT_MAX - raw_total)
				n = TJ_SA_TEXT_MAX - raw_total;
			rc = split_chunks(&v->raw, d, n);
			raw_total += n;
		}
		if (rc == 0 && body_wanted) {
			tj_buf_reset(&utf);
			tj_buf_reset(&part);
			rc = to_utf8(ct.charset, d, dec.len, &utf);
			const uint8_t *u = utf.data ? utf.data : (const uint8_t *)"";
			if (rc == 0 && strcasecmp(ct.subtype, "html") == 0)
				rc = tj_sa_html_render(u, utf.len, &part, &v->html_uris);
			else if (rc == 0)
				rc = tj_buf_append(&part, u, utf.len);
			if (rc == 0 && part.len) {
				const uint8_t *t = part.data;
				size_t n = cut_len(t, part.len, TJ_SA_BODY_PART_MAX, "\n ");
				if (v->rendered.len)
					rc = tj_buf_putc(&v->rendered, '\n');
				if (n > TJ_SA_TEXT_MAX - v->rendered.len)
					n = TJ_SA_TEXT_MAX - v->rendered.len;
				if (rc == 0)
					rc = tj_buf_append(&v->rendered, t, n);
			}
		}
	}
	tj_buf_free(&dec);
	tj_buf_free(&utf);
	tj_buf_free(&part);
	tj_mime_free(&mm);
	return rc;
}

/* view_body - Subject as the first line(s), then the paragraphs. */
static int view_body(struct view *v)
{
	tj_buf t = TJ_BUF_INIT;
	int rc = 0;
	const struct field *subj = NULL;
	for (size_t i = 0; i < v->nf; i++)
		if (field_is(&v->f[i], "subject"))
			subj = &v->f[i]; /* SpamAssassin reads the last one */
	if (subj)
		rc = field_value(subj, false, &t);
	if (rc == 0)
		rc = tj_buf_putc(&t, '\n');
	if (rc == 0)
		rc = split_lines(&v->body, t.data, t.len);
	v->subj_lines = v->body.n;
	tj_buf_reset(&t);
	if (rc == 0)
		rc = normalize(v->rendered.data ? v->rendered.data : (const uint8_t *)"", v->rendered.len, &t);
	if (rc == 0 && t.len)
		rc = split_lines(&v->body, t.data, t.len);
	tj_buf_free(&t);
	return rc;
}

/* ---- URIs ---- */

static bool uri_byte(uint8_t c)
{
	return c > 32 && c < 127 && !strchr("<>\"'`{}|\\^", c);
}

static bool prefix_ci(const uint8_t *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);
	return n >= l && strncasecmp((const char *)s, lit, l) == 0;
}

static int uri_emit(tj_buf *out, const char *pre, const uint8_t *p, size_t n, size_t *count)
{
	while (n && strchr(".,;:!?)]}'\"", p[n - 1]))
		n--;
	if (!n || *count >= TJ_SA_URIS_MAX)
		return 0;
	size_t pl = strlen(pre);
	if (n + pl > TJ_SA_URI_LEN_MAX)
		n = TJ_SA_URI_LEN_MAX - pl;
	(*count)++;
	int rc = tj_buf_puts(out, pre);
	if (rc == 0)
		rc = tj_buf_append(out, p, n);
	if (rc == 0)
		rc = tj_buf_putc(out, '\n');
	return rc;
}

/* uris_from_text - scheme URIs, www./ftp. hosts and e-mail addresses in
 * plain text, one per line (addresses as mailto:). */
static int uris_from_text(const uint8_t *s, size_t n, tj_buf *out, size_t *count)
{
	static const struct {
		const char *lit, *pre;
	} starts[] = {
		{"http://", ""}, {"https://", ""}, {"ftp://", ""}, {"mailto:", ""},
		{"www.", "http://"}, {"ftp.", "ftp://"},
	};
	int rc = 0;
	size_t i = 0;
	while (i < n && rc == 0 && *count < TJ_SA_URIS_MAX) {
		uint8_t c = s[i] | 0x20;
		if ((c == 'h' || c == 'f' || c == 'm' || c == 'w') && (i == 0 || !isalnum(s[i - 1]))) {
			size_t k;
			for (k = 0; k < sizeof(starts) / sizeof(starts[0]); k++)
				if (prefix_ci(s + i, n - i, starts[k].lit))
					break;
			if (k < sizeof(starts) / sizeof(starts[0]) && i + strlen(starts[k].lit) < n &&
			    uri_byte(s[i + strlen(starts[k].lit)])) {
				size_t j = i;
				while (j < n && uri_byte(s[j]))
					j++;
				rc = uri_emit(out, starts[k].pre, s + i, j - i, count);
				i = j;
				continue;
			}
		}
		if (s[i] == '@' && i > 0) {
			size_t a = i;
			while (a > 0 && (isalnum(s[a - 1]) || strchr("._%+-", s[a - 1])))
				a--;
			size_t b = i + 1, dot = 0;
			while (b < n && (isalnum(s[b]) || s[b] == '.' || s[b] == '-'))
				b++;
			while (b > i + 1 && (s[b - 1] == '.' || s[b - 1] == '-'))
				b--;
			for (size_t k = i + 1; k < b; k++)
				if (s[k] == '.')
					dot = k;
			if (a < i && dot > i + 1 && dot + 2 < b && isalpha(s[b - 1]) && isalpha(s[b - 2])) {
				rc = uri_emit(out, "mailto:", s + a, b - a, count);
				i = b;
				continue;
			}
		}
		i++;
	}
	return rc;
}

static int cmp_sv(const void *a, const void *b)
{
	const struct sv *x = a, *y = b;
	size_t n = x->n < y->n ? x->n : y->n;
	int c = memcmp(x->p, y->p, n);
	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* view_uris - HTML URIs and text URIs, de-duplicated. */
static int view_uris(struct view *v)
{
	tj_buf all = TJ_BUF_INIT;
	size_t count = 0;
	int rc = 0;
	/* HTML attribute URIs: schemeless www. gets http:// */
	const uint8_t *h = v->html_uris.data;
	for (size_t i = 0; h && i < v->html_uris.len && rc == 0;) {
		const uint8_t *nl = memchr(h + i, '\n', v->html_uris.len - i);
		size_t e = nl ? (size_t)(nl - h) : v->html_uris.len;
		rc = uri_emit(&all, prefix_ci(h + i, e - i, "www.") ? "http://" : "", h + i, e - i, &count);
		i = e + 1;
	}
	if (rc == 0 && v->rendered.len)
		rc = uris_from_text(v->rendered.data, v->rendered.len, &all, &count);
	struct sv *items = NULL;
	size_t ni = 0;
	if (rc == 0 && count) {
		items = malloc(count * sizeof(*items));
		if (!items)
			rc = -ENOMEM;
	}
	for (size_t i = 0; rc == 0 && i < all.len && ni < count;) {
		const uint8_t *nl = memchr(all.data + i, '\n', all.len - i);
		size_t e = nl ? (size_t)(nl - all.data) : all.len;
		items[ni++] = (struct sv){all.data + i, e - i};
		i = e + 1;
	}
	if (rc == 0 && ni) {
		qsort(items, ni, sizeof(*items), cmp_sv);
		for (size_t i = 0; i < ni && rc == 0; i++)
			if (i == 0 || cmp_sv(&items[i], &items[i - 1]) != 0)
				rc = lines_add(&v->uris, items[i].p, items[i].n);
	}
	free(items);
	tj_buf_free(&all);
	return rc;
}

static void view_free(struct view *v)
{
	free(v->f);
	if (v->sval)
		for (uint32_t i = 0; i < v->r->nsrcs; i++)
			tj_buf_free(&v->sval[i]);
	free(v->sval);
	free(v->sstate);
	tj_buf_free(&v->rendered);
	tj_buf_free(&v->html_uris);
	lines_free(&v->body);
	lines_free(&v->raw);
	lines_free(&v->uris);
}

/* ---- regex running ---- */

/* PCRE2 match resources: match data, a context with the limits, a JIT
 * stack.  Kept per thread (the JIT stack is an mmap whose first use costs
 * page faults), freed when the thread exits. */
struct mres {
	pcre2_match_data *md;
	pcre2_match_context *mc;
	pcre2_jit_stack *js;
};

struct mctx {
	pcre2_match_data *md;
	pcre2_match_context *mc;
	struct mres *res;
	bool own;                /* res is not the thread's: free it after */
	unsigned limit_errors;
	struct timespec t0;
	bool truncated;
};

static pthread_key_t mres_key;
static bool mres_key_ok;
static pthread_once_t mres_once = PTHREAD_ONCE_INIT;

static void mres_free(void *p)
{
	struct mres *m = p;
	if (!m)
		return;
	pcre2_match_data_free(m->md);
	pcre2_match_context_free(m->mc);
	pcre2_jit_stack_free(m->js);
	free(m);
}

static void mres_key_init(void)
{
	mres_key_ok = pthread_key_create(&mres_key, mres_free) == 0;
}

static struct mres *mres_new(void)
{
	struct mres *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->md = pcre2_match_data_create(1, NULL);
	m->mc = pcre2_match_context_create(NULL);
	m->js = pcre2_jit_stack_create(32 * 1024, TJ_SA_JIT_STACK_MAX, NULL);
	if (!m->md || !m->mc || !m->js) {
		mres_free(m);
		return NULL;
	}
	pcre2_set_match_limit(m->mc, TJ_SA_MATCH_LIMIT);
	pcre2_set_depth_limit(m->mc, TJ_SA_DEPTH_LIMIT);
	pcre2_set_heap_limit(m->mc, TJ_SA_HEAP_LIMIT_KIB);
	pcre2_jit_stack_assign(m->mc, NULL, m->js);
	return m;
}

static int mctx_init(struct mctx *x)
{
	memset(x, 0, sizeof(*x));
	clock_gettime(CLOCK_MONOTONIC, &x->t0);
	pthread_once(&mres_once, mres_key_init);
	x->res = mres_key_ok ? pthread_getspecific(mres_key) : NULL;
	if (!x->res) {
		x->res = mres_new();
		if (!x->res)
			return -ENOMEM;
		x->own = !mres_key_ok || pthread_setspecific(mres_key, x->res) != 0;
	}
	x->md = x->res->md;
	x->mc = x->res->mc;
	return 0;
}

static void mctx_free(struct mctx *x)
{
	if (x->own)
		mres_free(x->res);
	x->res = NULL;
}

static uint64_t elapsed_us(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)(t.tv_sec - t0->tv_sec) * 1000000u + (uint64_t)((t.tv_nsec - t0->tv_nsec) / 1000);
}

static bool over_budget(struct mctx *x)
{
	if (!x->truncated && elapsed_us(&x->t0) > (uint64_t)TJ_SA_TIME_BUDGET_MS * 1000)
		x->truncated = true;
	return x->truncated;
}

/* re_count - matches of re in s[0..n) from offset start, at most max;
 * -1 when a PCRE2 limit stopped it before any match. */
static int re_count(struct mctx *x, const pcre2_code *re, const uint8_t *s, size_t n, uint32_t max)
{
	static const uint8_t empty[1];
	uint32_t hits = 0;
	size_t start = 0;
	if (!s)
		s = empty;
	while (start <= n) {
		int rc = pcre2_match(re, s, n, start, PCRE2_NO_UTF_CHECK, x->md, x->mc);
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		if (rc < 0) {
			x->limit_errors++;
			return hits ? (int)hits : -1;
		}
		if (++hits >= max)
			break;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(x->md);
		size_t next = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
		start = next > start ? next : start + 1;
	}
	return (int)hits;
}

/* lines_count - SpamAssassin's line-wise matching (each line is its own
 * subject) from line `first`, counting up to max.  When the rule allows it,
 * one search over the whole text finds candidate lines first: a regex that
 * matches a line also matches the text around it (scan_regex keeps the
 * constructs for which that fails line by line), so a miss there is a miss
 * everywhere, and most rules miss. */
static uint32_t lines_count(struct mctx *x, const struct rule *ru, const struct lines *L, size_t first, uint32_t max)
{
	uint32_t total = 0;
	size_t k = first;
	if (first >= L->n)
		return 0;
	if (ru->prefilter && L->n - first > 1) {
		const pcre2_code *pf = ru->re_ml ? ru->re_ml : ru->re;
		size_t pos = L->off[first], tn = L->text.len;
		for (;;) {
			int rc = pcre2_match(pf, L->text.data, tn, pos, PCRE2_NO_UTF_CHECK, x->md, x->mc);
			if (rc == PCRE2_ERROR_NOMATCH)
				return total;
			if (rc < 0) { /* limit over the whole text: fall back to lines */
				x->limit_errors++;
				k = line_at(L, pos);
				break;
			}
			k = line_at(L, pcre2_get_ovector_pointer(x->md)[0]);
			if (k < first)
				k = first;
			if (k >= L->n)
				return total;
			int c = re_count(x, ru->re, L->text.data + L->off[k], L->len[k], max - total);
			if (c > 0 && (total += (uint32_t)c) >= max)
				return total;
			if (++k >= L->n)
				return total;
			pos = L->off[k];
		}
	}
	for (; k < L->n; k++) {
		int c = re_count(x, ru->re, L->text.data + L->off[k], L->len[k], max - total);
		if (c > 0 && (total += (uint32_t)c) >= max)
			break;
	}
	return total;
}

static uint32_t rule_max(const struct rule *ru)
{
	if (!ru->multiple)
		return 1;
	return ru->maxhits ? ru->maxhits : 1000;
}

/* ---- meta evaluation ---- */

/* The inputs of a meta that did not run (eval rules, rules on headers we do
 * not compute, undefined names) are unknown.  A meta hits only if it is true
 * for every value of its unknown inputs (each 0 or 1); otherwise it does
 * not hit, and metas above it read 0, as in SpamAssassin.  Up to
 * SA_META_UNKNOWN distinct unknown inputs are enumerated; with more,
 * SpamAssassin 4's own rule is used (all 0, then all 1). */
#define SA_META_UNKNOWN 8

struct massign {
	uint32_t idx[SA_META_UNKNOWN];
	uint32_t n;
	bool more;       /* more unknown inputs than idx holds */
	uint32_t mask;   /* bit k: the value of idx[k] */
	bool all;        /* SA fallback: every unknown input is `allval` */
	double allval;
};

static double unknown_value(const struct massign *a, uint32_t d)
{
	if (a->all)
		return a->allval;
	for (uint32_t k = 0; k < a->n; k++)
		if (a->idx[k] == d)
			return (a->mask >> k) & 1;
	return 0;
}

/* meta_unknowns - the distinct unknown inputs of a meta. */
static void meta_unknowns(const struct rule *ru, const uint8_t *known, struct massign *a)
{
	memset(a, 0, sizeof(*a));
	for (uint32_t k = 0; k < ru->nrefs; k++) {
		uint32_t d = ru->refs[k];
		if (known[d])
			continue;
		bool seen = false;
		for (uint32_t j = 0; j < a->n && !seen; j++)
			seen = a->idx[j] == d;
		if (seen)
			continue;
		if (a->n == SA_META_UNKNOWN) {
			a->more = true;
			return;
		}
		a->idx[a->n++] = d;
	}
}

/* meta_run - the expression's value for one assignment of the unknowns;
 * *ok false when it cannot be computed (division by zero: Perl dies). */
static double meta_run(const struct rule *ru, const double *val, const uint8_t *known, const struct massign *asg,
		       double *stack, bool *ok)
{
	uint32_t sp = 0;
	*ok = true;
	for (uint32_t i = 0; i < ru->nprog; i++) {
		const struct meta_op *o = &ru->prog[i];
		double a, b;
		switch (o->op) {
		case MO_NUM:
			stack[sp++] = o->num;
			break;
		case MO_RULE:
			stack[sp++] = known[o->a] ? val[o->a] : unknown_value(asg, o->a);
			break;
		case MO_SUM:
			a = 0;
			for (uint32_t k = 0; k < o->n; k++) {
				uint32_t d = ru->refs[o->a + k];
				a += known[d] ? val[d] : unknown_value(asg, d);
			}
			stack[sp++] = a;
			break;
		case MO_NOT:
			stack[sp - 1] = stack[sp - 1] == 0;
			break;
		case MO_NEG:
			stack[sp - 1] = -stack[sp - 1];
			break;
		default:
			b = stack[--sp];
			a = stack[sp - 1];
			switch (o->op) {
			case MO_ADD: a = a + b; break;
			case MO_SUB: a = a - b; break;
			case MO_MUL: a = a * b; break;
			case MO_DIV:
				if (b == 0) {
					*ok = false;
					return 0;
				}
				a = a / b;
				break;
			case MO_LT: a = a < b; break;
			case MO_GT: a = a > b; break;
			case MO_LE: a = a <= b; break;
			case MO_GE: a = a >= b; break;
			case MO_EQ: a = a == b; break;
			case MO_NE: a = a != b; break;
			case MO_AND: a = a != 0 ? b : a; break;
			case MO_OR: a = a != 0 ? a : b; break;
			}
			stack[sp - 1] = a;
			break;
		}
	}
	double v = sp ? stack[0] : 0;
	if (isnan(v))
		*ok = false;
	return v;
}

/* meta_decide - 1 decided (value in *v), 0 undecided. */
static int meta_decide(const struct rule *ru, const double *val, const uint8_t *known, double *stack, double *v)
{
	struct massign a;
	bool ok;
	meta_unknowns(ru, known, &a);
	if (!a.more && ((uint64_t)ru->nprog << a.n) > SA_META_ENUM_OPS)
		a.more = true; /* too costly to enumerate: SpamAssassin's two runs */
	if (a.more) {
		a.all = true;
		a.allval = 0;
		double v0 = meta_run(ru, val, known, &a, stack, &ok);
		if (!ok)
			return 0;
		a.allval = 1;
		double v1 = meta_run(ru, val, known, &a, stack, &ok);
		if (!ok || (v0 != 0) != (v1 != 0))
			return 0;
		*v = v0;
		return 1;
	}
	double v0 = meta_run(ru, val, known, &a, stack, &ok);
	if (!ok)
		return 0;
	for (a.mask = 1; a.mask < (1u << a.n); a.mask++) {
		double vi = meta_run(ru, val, known, &a, stack, &ok);
		if (!ok || (vi != 0) != (v0 != 0))
			return 0;
	}
	*v = v0;
	return 1;
}

/* ---- the check ---- */

static int cmp_hit(const void *a, const void *b)
{
	return strcmp(((const struct tj_sa_hit *)a)->name, ((const struct tj_sa_hit *)b)->name);
}

int tj_sa_check(const tj_sa_rules *r, const uint8_t *msg, size_t len, double bayes_prob, struct tj_sa_match *m)
{
	memset(m, 0, sizeof(*m));
	if (!r->finished)
		return TJ_ESTATE;
	struct view v = {.r = r, .msg = msg, .len = len};
	struct mctx x;
	double *val = calloc(r->nrules + 1, sizeof(*val));
	uint8_t *known = calloc(r->nrules + 1, 1);
	uint32_t maxprog = 1;
	for (uint32_t k = 0; k < r->nby_type[TJ_SA_META]; k++) {
		uint32_t np = r->rules[r->by_type[TJ_SA_META][k]].nprog;
		maxprog = np > maxprog ? np : maxprog;
	}
	double *stack = malloc(maxprog * sizeof(*stack));
	int rc = mctx_init(&x);
	if (!val || !known || !stack)
		rc = -ENOMEM;
	const uint32_t *const *bt = (const uint32_t *const *)r->by_type;
	const uint32_t *nt = r->nby_type;
	bool need_fields = nt[TJ_SA_HEADER] || nt[TJ_SA_BODY] || nt[TJ_SA_URI] || nt[TJ_SA_RAWBODY];
	bool need_body = nt[TJ_SA_BODY] || nt[TJ_SA_URI];
	bool need_raw = nt[TJ_SA_RAWBODY];
	if (rc == 0 && need_fields)
		rc = view_fields(&v);
	if (rc == 0 && (need_body || need_raw))
		rc = view_parts(&v, need_body, need_raw);
	if (rc == 0 && nt[TJ_SA_BODY])
		rc = view_body(&v);
	if (rc == 0 && nt[TJ_SA_URI])
		rc = view_uris(&v);
	if (rc == 0 && nt[TJ_SA_HEADER]) {
		v.sval = calloc(r->nsrcs + 1, sizeof(*v.sval));
		v.sstate = calloc(r->nsrcs + 1, 1);
		if (!v.sval || !v.sstate)
			rc = -ENOMEM;
	}
	/* header rules */
	for (uint32_t k = 0; rc == 0 && k < nt[TJ_SA_HEADER] && !((k & 15) == 0 && over_budget(&x)); k++) {
		uint32_t i = bt[TJ_SA_HEADER][k];
		const struct rule *ru = &r->rules[i];
		if (!v.sstate[ru->src] && (rc = src_compute(&v, ru->src)) != 0)
			break;
		bool present = v.sstate[ru->src] == 1;
		double hit;
		if (ru->exists) {
			hit = present;
		} else {
			const uint8_t *s = present ? v.sval[ru->src].data : ru->has_unset ? (const uint8_t *)ru->unset : NULL;
			size_t n = present ? v.sval[ru->src].len : ru->has_unset ? ru->unset_len : 0;
			int c = re_count(&x, ru->re, s, n, ru->neg ? 1 : rule_max(ru));
			hit = c < 0 ? 0 : ru->neg ? c == 0 : c;
		}
		val[i] = hit;
		known[i] = 1;
	}
	/* body, uri, rawbody: line-wise */
	static const uint8_t lw_types[] = {TJ_SA_BODY, TJ_SA_URI, TJ_SA_RAWBODY};
	for (size_t t = 0; t < sizeof(lw_types) && rc == 0; t++) {
		const struct lines *L = lw_types[t] == TJ_SA_BODY ? &v.body : lw_types[t] == TJ_SA_URI ? &v.uris : &v.raw;
		for (uint32_t k = 0; k < nt[lw_types[t]] && !((k & 15) == 0 && over_budget(&x)); k++) {
			uint32_t i = bt[lw_types[t]][k];
			const struct rule *ru = &r->rules[i];
			size_t first = lw_types[t] == TJ_SA_BODY && ru->nosubject ? v.subj_lines : 0;
			val[i] = lines_count(&x, ru, L, first, rule_max(ru));
			known[i] = 1;
		}
	}
	/* full */
	for (uint32_t k = 0; rc == 0 && k < nt[TJ_SA_FULL] && !over_budget(&x); k++) {
		uint32_t i = bt[TJ_SA_FULL][k];
		const struct rule *ru = &r->rules[i];
		int c = re_count(&x, ru->re, msg, len < TJ_SA_FULL_MAX ? len : TJ_SA_FULL_MAX, rule_max(ru));
		val[i] = c < 0 ? 0 : c;
		known[i] = 1;
	}
	/* Bayes pseudo-rules: unknown (not run) without a verdict */
	bool have_bayes = bayes_prob >= 0 && bayes_prob <= 1;
	for (uint32_t k = 0; rc == 0 && have_bayes && k < nt[TJ_SA_BAYES]; k++) {
		uint32_t i = bt[TJ_SA_BAYES][k];
		const struct rule *ru = &r->rules[i];
		val[i] = (ru->lo == 0 || bayes_prob > ru->lo) && bayes_prob <= ru->hi;
		known[i] = 1;
	}
	/* metas in dependency order (meta_decide for unknown inputs); past the
	 * time budget the rest read as not hit */
	for (uint32_t k = 0; rc == 0 && k < nt[TJ_SA_META] && !((k & 15) == 0 && over_budget(&x)); k++) {
		uint32_t i = bt[TJ_SA_META][k];
		double mv;
		/* undecided: not hit, and 0 for the metas above (as in SA) */
		val[i] = meta_decide(&r->rules[i], val, known, stack, &mv) ? mv : 0;
		known[i] = 1;
	}
	/* the hits */
	if (rc == 0) {
		size_t n = 0;
		for (uint32_t i = 0; i < r->nrules; i++)
			n += known[i] && val[i] != 0;
		m->hits = calloc(n + 1, sizeof(*m->hits));
		if (!m->hits)
			rc = -ENOMEM;
		for (uint32_t i = 0; rc == 0 && i < r->nrules; i++) {
			if (!known[i] || val[i] == 0)
				continue;
			const struct rule *ru = &r->rules[i];
			m->hits[m->nhits++] = (struct tj_sa_hit){ru->name, ru->scored ? ru->score : 0, val[i], ru->scored};
			if (ru->scored)
				m->score += ru->score;
		}
		if (rc == 0)
			qsort(m->hits, m->nhits, sizeof(*m->hits), cmp_hit);
	}
	m->limit_errors = x.limit_errors;
	m->truncated = x.truncated;
	m->elapsed_us = elapsed_us(&x.t0);
	mctx_free(&x);
	view_free(&v);
	free(val);
	free(known);
	free(stack);
	if (rc) {
		tj_sa_match_free(m);
		return rc;
	}
	return 0;
}

void tj_sa_match_free(struct tj_sa_match *m)
{
	free(m->hits);
	memset(m, 0, sizeof(*m));
}

/* ---- exported views for tests and tools ---- */

int tj_sa_body_text(const uint8_t *msg, size_t len, tj_buf *out)
{
	struct view v = {.msg = msg, .len = len};
	int rc = view_fields(&v);
	if (rc == 0)
		rc = view_parts(&v, true, false);
	if (rc == 0)
		rc = view_body(&v);
	for (size_t k = 0; rc == 0 && k < v.body.n; k++) {
		rc = tj_buf_append(out, v.body.text.data + v.body.off[k], v.body.len[k]);
		if (rc == 0 && (v.body.len[k] == 0 || v.body.text.data[v.body.off[k] + v.body.len[k] - 1] != '\n'))
			rc = tj_buf_putc(out, '\n');
	}
	view_free(&v);
	return rc;
}

int tj_sa_uri_list(const uint8_t *msg, size_t len, tj_buf *out)
{
	struct view v = {.msg = msg, .len = len};
	int rc = view_fields(&v);
	if (rc == 0)
		rc = view_parts(&v, true, false);
	if (rc == 0)
		rc = view_uris(&v);
	for (size_t k = 0; rc == 0 && k < v.uris.n; k++) {
		rc = tj_buf_append(out, v.uris.text.data + v.uris.off[k], v.uris.len[k]);
		if (rc == 0)
			rc = tj_buf_putc(out, '\n');
	}
	view_free(&v);
	return rc;
}

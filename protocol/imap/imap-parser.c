/*
 * imap-parser.c - incremental IMAP command parser (see imap-parser.h).
 *
 * One state machine consumes one byte at a time (literal data and skipped
 * literals are copied or skipped in bulk).  While a command is being read
 * its strings go into one arena and its arguments into a flat node array
 * linked by index; when the final CRLF arrives the nodes are laid out as a
 * tree of struct imap_arg whose lists are contiguous arrays.  An error puts
 * the machine into "skip" mode, which watches for a literal announced at the
 * end of the line so that a non-synchronizing literal's bytes are skipped
 * too and the next command starts in the right place.
 */
#include "protocol/imap/imap-parser.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Memory above this is released once a command has been handed out. */
#define IMAP_ARENA_KEEP (256 * 1024)
#define IMAP_MAX_PARTIAL 23
/* a rejected non-synchronizing literal bigger than this: suggest closing
 * rather than reading and discarding it */
#define IMAP_SKIP_CLOSE (1ULL << 30) /* "4294967295.4294967295" + slack */

enum pstate {
	PS_LINE_START,
	PS_EMPTY_LF,     /* saw CR on an empty line */
	PS_TAG,
	PS_NAME,
	PS_UIDSUB,
	PS_ARG,          /* an argument must start here */
	PS_AFTER_ARG,    /* SP, ')', ']' or end of line */
	PS_ATOM,
	PS_TILDE,        /* '~' seen: literal8 or an atom */
	PS_QUOTED,
	PS_QUOTED_ESC,
	PS_LIT_LEN,
	PS_LIT_CLOSE,    /* after '+' */
	PS_LIT_CR,       /* after '}' */
	PS_LIT_LF,
	PS_LIT_DATA,
	PS_AFTER_SECTION,
	PS_PARTIAL,
	PS_EOL_LF,
	PS_SKIP,         /* resynchronising: discard to end of line */
	PS_SKIP_LITERAL, /* resynchronising: discard announced literal data */
};

struct pnode {
	enum imap_arg_type type;
	size_t off, len;
	int parent;
	int first, last, next;
	size_t count;
	size_t poff, plen;
	bool has_partial;
	bool literal8, nonsync;
};

/* The command's bytes.  Grows as data arrives (never to a size a client
 * merely announced), doubling up to 1 MiB and then in 1 MiB steps, and
 * never past the end of the literal being read. */
struct arena {
	uint8_t *data;
	size_t len, cap;
};

struct imap_parser {
	bool auth;
	bool literal_minus;
	enum pstate st;

	struct arena arena;
	struct pnode *nodes;
	size_t nnodes, capnodes;
	int top_first, top_last;
	size_t top_count;
	int open;          /* innermost open list/section, -1 = top level */
	int cur;           /* node being filled */
	int closed;        /* section just closed (for <partial>) */
	int depth;
	bool first_in;     /* just after '(' or '[' */

	size_t line_bytes;
	uint64_t literal_total;
	uint64_t lit_len;
	int lit_digits;
	bool lit_nonsync, lit8;
	uint64_t lit_left;

	size_t tag_off, tag_len;
	bool tag_done;
	size_t name_off, name_len, sub_len;
	enum imap_cmd kind;

	bool have_cmd, have_err;
	struct imap_command cmd;
	struct imap_arg *args;
	int *order;
	size_t args_cap;
	struct imap_parse_error err;

	/* skip mode: literal announced at the end of the skipped line? */
	int sk;
	uint64_t sk_n;
	int sk_digits;
	bool sk_nonsync;
	uint64_t skip_left;

	/* imap_parser_read_line */
	tj_buf rl;
	bool rl_done, rl_skip;
};

/* ---- character classes ---- */

bool imap_is_atom_char(uint8_t c)
{
	if (c <= 0x20 || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

bool imap_is_astring_char(uint8_t c)
{
	return c == ']' || imap_is_atom_char(c);
}

/* what an unquoted argument may hold: astrings, list-wildcards (LIST
 * patterns, "1:*") */
static bool token_char(uint8_t c)
{
	return imap_is_astring_char(c) || c == '%' || c == '*';
}

static uint8_t upper(uint8_t c)
{
	return (c >= 'a' && c <= 'z') ? (uint8_t)(c - 32) : c;
}

/* ---- arena ---- */

#define ARENA_STEP (1024 * 1024)

/* room for extra more bytes plus a NUL; limit: no point growing past this */
static int arena_reserve(struct imap_parser *p, size_t extra, size_t limit)
{
	struct arena *a = &p->arena;
	size_t need = a->len + extra + 1;
	if (need <= a->cap)
		return 0;
	size_t cap = a->cap < 256 ? 256 : a->cap < ARENA_STEP ? a->cap * 2 : a->cap + ARENA_STEP;
	if (cap > limit)
		cap = limit;
	if (cap < need)
		cap = need;
	uint8_t *d = realloc(a->data, cap);
	if (!d)
		return -ENOMEM;
	a->data = d;
	a->cap = cap;
	return 0;
}

static int arena_putc(struct imap_parser *p, uint8_t c)
{
	if (p->arena.len + 1 >= p->arena.cap && arena_reserve(p, 1, SIZE_MAX) < 0)
		return -ENOMEM;
	p->arena.data[p->arena.len++] = c;
	return 0;
}

/* literal data: the literal's end (and its NUL) bounds the growth */
static int arena_append(struct imap_parser *p, const uint8_t *src, size_t n)
{
	size_t end = p->arena.len + (size_t)p->lit_left + 1;
	if (arena_reserve(p, n, end) < 0)
		return -ENOMEM;
	memcpy(p->arena.data + p->arena.len, src, n);
	p->arena.len += n;
	return 0;
}

static void arena_free(struct imap_parser *p)
{
	free(p->arena.data);
	p->arena.data = NULL;
	p->arena.len = p->arena.cap = 0;
}

/* ---- lifecycle ---- */

int imap_parser_new(struct imap_parser **p_r)
{
	struct imap_parser *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->st = PS_LINE_START;
	p->open = -1;
	p->cur = -1;
	p->closed = -1;
	p->top_first = p->top_last = -1;
	*p_r = p;
	return 0;
}

void imap_parser_free(struct imap_parser **pp)
{
	struct imap_parser *p = *pp;
	if (!p)
		return;
	arena_free(p);
	tj_buf_free(&p->rl);
	free(p->nodes);
	free(p->args);
	free(p->order);
	free(p);
	*pp = NULL;
}

void imap_parser_set_authenticated(struct imap_parser *p, bool on)
{
	p->auth = on;
}

void imap_parser_set_literal_minus(struct imap_parser *p, bool on)
{
	p->literal_minus = on;
}

const struct imap_command *imap_parser_command(const struct imap_parser *p)
{
	return p->have_cmd ? &p->cmd : NULL;
}

const struct imap_parse_error *imap_parser_error(const struct imap_parser *p)
{
	return p->have_err ? &p->err : NULL;
}

bool imap_parser_idle(const struct imap_parser *p)
{
	return p->st == PS_LINE_START && (p->rl.len == 0 || p->rl_done) && !p->rl_skip;
}

static size_t max_line(const struct imap_parser *p)
{
	return p->auth ? IMAP_MAX_LINE : IMAP_MAX_LINE_PREAUTH;
}

/* forget the previous command's data */
static void reset_command(struct imap_parser *p)
{
	if (p->arena.cap > IMAP_ARENA_KEEP)
		arena_free(p);
	else
		p->arena.len = 0;
	if (p->capnodes > IMAP_MAX_ARGS_PREAUTH * 4 && p->nnodes < p->capnodes / 4) {
		free(p->nodes);
		p->nodes = NULL;
		p->capnodes = 0;
	}
	p->nnodes = 0;
	p->top_first = p->top_last = -1;
	p->top_count = 0;
	p->open = p->cur = p->closed = -1;
	p->depth = 0;
	p->first_in = false;
	p->line_bytes = 0;
	p->literal_total = 0;
	p->tag_off = p->tag_len = 0;
	p->tag_done = false;
	p->name_off = p->name_len = p->sub_len = 0;
	p->kind = IMAP_CMD_UNKNOWN;
}

/* ---- skip mode ---- */

static void skip_reset_detector(struct imap_parser *p)
{
	p->sk = 0;
}

/* One byte of a line being discarded.  Recognises "{n}" / "{n+}" right
 * before the line end: a non-synchronizing literal's bytes follow and must
 * be skipped as well; after a synchronizing one the client waits for "+"
 * (which it will never get), so nothing follows. */
static void skip_byte(struct imap_parser *p, uint8_t c)
{
	switch (p->sk) {
	case 1:
		if (c >= '0' && c <= '9') {
			uint64_t d = (uint64_t)(c - '0');
			p->sk_n = p->sk_n > (UINT64_MAX - d) / 10 ? UINT64_MAX : p->sk_n * 10 + d;
			p->sk_digits++;
			return;
		}
		if (c == '+' && p->sk_digits) {
			p->sk_nonsync = true;
			p->sk = 2;
			return;
		}
		if (c == '}' && p->sk_digits) {
			p->sk = 3;
			return;
		}
		p->sk = 0;
		break;
	case 2:
		if (c == '}') {
			p->sk = 3;
			return;
		}
		p->sk = 0;
		break;
	case 3:
		if (c == '\r') {
			p->sk = 4;
			return;
		}
		if (c != '\n')
			p->sk = 0;
		break;
	case 4:
		if (c != '\n')
			p->sk = 0;
		break;
	default:
		break;
	}
	if (c == '{') {
		p->sk = 1;
		p->sk_n = 0;
		p->sk_digits = 0;
		p->sk_nonsync = false;
		return;
	}
	if (c != '\n')
		return;
	/* end of the skipped line */
	if ((p->sk == 3 || p->sk == 4) && p->sk_nonsync) {
		p->skip_left = p->sk_n;
		p->sk = 0;
		p->st = p->skip_left ? PS_SKIP_LITERAL : PS_SKIP;
		return;
	}
	p->sk = 0;
	p->st = PS_LINE_START;
}

/* Report an error; c (the offending byte) is handed to the skipper so a
 * '{' or the line end it may be is not lost. */
static int perr(struct imap_parser *p, int code, const char *reason, int c)
{
	p->have_err = true;
	p->err.reason = reason;
	p->err.tag_known = p->tag_done;
	p->err.tag = p->tag_done ? (const char *)p->arena.data + p->tag_off : NULL;
	p->err.close_suggested = false;
	p->st = PS_SKIP;
	skip_reset_detector(p);
	if (c >= 0)
		skip_byte(p, (uint8_t)c);
	return code;
}

/* ---- building ---- */

static int new_node(struct imap_parser *p, enum imap_arg_type type, int *idx_r)
{
	size_t max = p->auth ? IMAP_MAX_ARGS : IMAP_MAX_ARGS_PREAUTH;
	if (p->nnodes >= max)
		return TJ_ETOOBIG;
	if (p->nnodes == p->capnodes) {
		size_t cap = p->capnodes ? p->capnodes * 2 : 16;
		struct pnode *n = realloc(p->nodes, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->nodes = n;
		p->capnodes = cap;
	}
	int idx = (int)p->nnodes++;
	struct pnode *n = &p->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->type = type;
	n->off = p->arena.len;
	n->parent = p->open;
	n->first = n->last = n->next = -1;
	if (p->open < 0) {
		if (p->top_last >= 0)
			p->nodes[p->top_last].next = idx;
		else
			p->top_first = idx;
		p->top_last = idx;
		p->top_count++;
	} else {
		struct pnode *par = &p->nodes[p->open];
		if (par->last >= 0)
			p->nodes[par->last].next = idx;
		else
			par->first = idx;
		par->last = idx;
		par->count++;
	}
	*idx_r = idx;
	return 0;
}

/* finish the string of node cur: NUL-terminate, record length */
static int end_string(struct imap_parser *p)
{
	struct pnode *n = &p->nodes[p->cur];
	n->len = p->arena.len - n->off;
	if (n->type == IMAP_ARG_ATOM && n->len == 3 &&
	    strncasecmp((const char *)p->arena.data + n->off, "NIL", 3) == 0)
		n->type = IMAP_ARG_NIL;
	p->cur = -1;
	return arena_putc(p, 0);
}

static int grow_args(struct imap_parser *p, size_t n)
{
	if (n <= p->args_cap)
		return 0;
	struct imap_arg *a = realloc(p->args, n * sizeof(*a));
	if (!a)
		return -ENOMEM;
	p->args = a;
	int *o = realloc(p->order, n * sizeof(*o));
	if (!o)
		return -ENOMEM;
	p->order = o;
	p->args_cap = n;
	return 0;
}

static void fill_arg(struct imap_parser *p, struct imap_arg *a, const struct pnode *n)
{
	memset(a, 0, sizeof(*a));
	a->type = n->type;
	a->str = n->type == IMAP_ARG_LIST ? "" : (const char *)p->arena.data + n->off;
	a->len = n->type == IMAP_ARG_LIST ? 0 : n->len;
	a->has_partial = n->has_partial;
	if (n->has_partial) {
		a->partial = (const char *)p->arena.data + n->poff;
		a->partial_len = n->plen;
	}
	a->literal8 = n->literal8;
	a->nonsync = n->nonsync;
}

/* lay the flat nodes out as a tree with contiguous child arrays (BFS) */
static int build_command(struct imap_parser *p)
{
	int rc = grow_args(p, p->nnodes ? p->nnodes : 1);
	if (rc < 0)
		return rc;
	if (!p->arena.data) {
		rc = arena_reserve(p, 1, 1);
		if (rc < 0)
			return rc;
	}
	size_t next = 0;
	for (int i = p->top_first; i >= 0; i = p->nodes[i].next)
		p->order[next++] = i;
	for (size_t s = 0; s < next; s++) {
		const struct pnode *n = &p->nodes[p->order[s]];
		struct imap_arg *a = &p->args[s];
		fill_arg(p, a, n);
		if (n->type == IMAP_ARG_LIST || n->type == IMAP_ARG_SECTION) {
			a->count = n->count;
			a->list = n->count ? &p->args[next] : NULL;
			for (int c = n->first; c >= 0; c = p->nodes[c].next)
				p->order[next++] = c;
		}
	}
	p->cmd.tag = (const char *)p->arena.data + p->tag_off;
	p->cmd.name = (const char *)p->arena.data + p->name_off;
	p->cmd.kind = p->kind;
	p->cmd.args = p->args;
	p->cmd.argc = p->top_count;
	p->have_cmd = true;
	p->st = PS_LINE_START;
	return 0;
}

static bool is_section_name(const struct imap_parser *p)
{
	static const char *const names[] = {"BODY", "BODY.PEEK", "BINARY", "BINARY.PEEK", "BINARY.SIZE"};
	const struct pnode *n = &p->nodes[p->cur];
	size_t len = p->arena.len - n->off;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i]) == len &&
		    strncasecmp(names[i], (const char *)p->arena.data + n->off, len) == 0)
			return true;
	return false;
}

static int open_container(struct imap_parser *p, enum imap_arg_type type, int c)
{
	if (p->depth >= IMAP_MAX_DEPTH)
		return perr(p, TJ_ETOOBIG, "Too deeply nested", c);
	int idx;
	if (type == IMAP_ARG_SECTION) {
		idx = p->cur; /* the atom becomes the section's name */
		p->nodes[idx].type = IMAP_ARG_SECTION;
		p->nodes[idx].len = p->arena.len - p->nodes[idx].off;
		p->cur = -1;
		int rc = arena_putc(p, 0);
		if (rc < 0)
			return rc;
	} else {
		int rc = new_node(p, type, &idx);
		if (rc == TJ_ETOOBIG)
			return perr(p, rc, "Too many arguments", c);
		if (rc < 0)
			return rc;
	}
	p->open = idx;
	p->depth++;
	p->first_in = true;
	p->st = PS_ARG;
	return TJ_NEED_MORE;
}

static void close_container(struct imap_parser *p)
{
	p->closed = p->open;
	p->open = p->nodes[p->open].parent;
	p->depth--;
	p->first_in = false;
}

static int start_node(struct imap_parser *p, enum imap_arg_type type, int c)
{
	int idx;
	int rc = new_node(p, type, &idx);
	if (rc == TJ_ETOOBIG)
		return perr(p, rc, "Too many arguments", c);
	if (rc < 0)
		return rc;
	p->cur = idx;
	p->first_in = false;
	return TJ_NEED_MORE;
}

/* the literal header is complete: check limits, start reading data */
static int literal_start(struct imap_parser *p)
{
	uint64_t n = p->lit_len;
	uint64_t max, total;
	if (!p->auth) {
		max = IMAP_MAX_LITERAL_PREAUTH;
		total = IMAP_MAX_LITERAL_TOTAL_PREAUTH;
	} else {
		max = p->kind == IMAP_CMD_APPEND ? IMAP_MAX_LITERAL_APPEND : IMAP_MAX_LITERAL;
		total = IMAP_MAX_LITERAL_TOTAL;
	}
	const char *why = NULL;
	if (p->literal_minus && p->lit_nonsync && n > IMAP_LITERAL_MINUS_MAX)
		why = "Non-synchronizing literal too big (LITERAL-)";
	else if (n > max || n > total - p->literal_total)
		why = "Literal too big";
	if (why) {
		int rc = perr(p, TJ_ETOOBIG, why, -1);
		if (p->lit_nonsync) {
			/* the client sends the data anyway: skip it, then the
			 * rest of its line */
			p->err.close_suggested = !p->auth || n > IMAP_SKIP_CLOSE;
			p->skip_left = n;
			p->st = n ? PS_SKIP_LITERAL : PS_SKIP;
		} else {
			p->st = PS_LINE_START;
		}
		return rc;
	}
	int rc = start_node(p, IMAP_ARG_LITERAL, -1);
	if (rc != TJ_NEED_MORE)
		return rc;
	p->nodes[p->cur].literal8 = p->lit8;
	p->nodes[p->cur].nonsync = p->lit_nonsync;
	p->literal_total += n;
	p->lit_left = n;
	if (n == 0) {
		rc = end_string(p);
		if (rc < 0)
			return rc;
		p->st = PS_AFTER_ARG;
	} else {
		p->st = PS_LIT_DATA;
	}
	return p->lit_nonsync ? TJ_NEED_MORE : IMAP_NEED_CONTINUATION;
}

/* end of the command line: build it */
static int line_end(struct imap_parser *p, uint8_t c)
{
	if (p->depth > 0)
		return perr(p, TJ_EPROTO, p->nodes[p->open].type == IMAP_ARG_LIST ?
			    "Missing ')'" : "Missing ']'", c);
	if (c == '\r') {
		p->st = PS_EOL_LF;
		return TJ_NEED_MORE;
	}
	return build_command(p);
}

static int name_done(struct imap_parser *p)
{
	p->kind = imap_command_classify((const char *)p->arena.data + p->name_off,
					p->arena.len - p->name_off);
	return arena_putc(p, 0);
}

static int step_command(struct imap_parser *p, uint8_t c)
{
	int rc;
	switch (p->st) {
	case PS_TAG:
		if (c == ' ') {
			if (p->tag_len == 0)
				return perr(p, TJ_EPROTO, "Missing tag", c);
			if ((rc = arena_putc(p, 0)) < 0)
				return rc;
			p->tag_done = true;
			p->name_off = p->arena.len;
			p->st = PS_NAME;
			return TJ_NEED_MORE;
		}
		if ((c == '\r' || c == '\n') && p->tag_len > 0) {
			if ((rc = arena_putc(p, 0)) < 0)
				return rc;
			p->tag_done = true;
			return perr(p, TJ_EPROTO, "Missing command", c);
		}
		if (!imap_is_astring_char(c) || c == '+')
			return perr(p, TJ_EPROTO, "Invalid tag", c);
		if (++p->tag_len > IMAP_MAX_TAG)
			return perr(p, TJ_ETOOBIG, "Tag too long", c);
		return arena_putc(p, c) < 0 ? -ENOMEM : TJ_NEED_MORE;

	case PS_NAME:
	case PS_UIDSUB:
		if (imap_is_atom_char(c)) {
			if (p->st == PS_NAME)
				p->name_len++;
			else
				p->sub_len++;
			return arena_putc(p, upper(c)) < 0 ? -ENOMEM : TJ_NEED_MORE;
		}
		if (c != ' ' && c != '\r' && c != '\n')
			return perr(p, TJ_EPROTO, "Invalid command name", c);
		if (p->st == PS_NAME && p->name_len == 0)
			return perr(p, TJ_EPROTO, "Missing command", c);
		if (p->st == PS_NAME && p->name_len == 3 &&
		    memcmp(p->arena.data + p->name_off, "UID", 3) == 0) {
			if (c != ' ')
				return perr(p, TJ_EPROTO, "Missing command after UID", c);
			p->st = PS_UIDSUB;
			return arena_putc(p, ' ') < 0 ? -ENOMEM : TJ_NEED_MORE;
		}
		if (p->st == PS_UIDSUB && p->sub_len == 0)
			return perr(p, TJ_EPROTO, "Missing command after UID", c);
		if ((rc = name_done(p)) < 0)
			return rc;
		if (c == ' ') {
			p->st = PS_ARG;
			p->first_in = false;
			return TJ_NEED_MORE;
		}
		return line_end(p, c);

	case PS_ARG:
		if (c == '(')
			return open_container(p, IMAP_ARG_LIST, c);
		if (c == ')') {
			if (p->first_in && p->open >= 0 && p->nodes[p->open].type == IMAP_ARG_LIST) {
				close_container(p);
				p->st = PS_AFTER_ARG;
				return TJ_NEED_MORE;
			}
			return perr(p, TJ_EPROTO, "Unexpected ')'", c);
		}
		if (p->open >= 0 && p->nodes[p->open].type == IMAP_ARG_SECTION && c == ']') {
			if (!p->first_in)
				return perr(p, TJ_EPROTO, "Unexpected ']'", c);
			close_container(p);
			p->st = PS_AFTER_SECTION;
			return TJ_NEED_MORE;
		}
		if (c == '"') {
			rc = start_node(p, IMAP_ARG_QUOTED, c);
			if (rc == TJ_NEED_MORE)
				p->st = PS_QUOTED;
			return rc;
		}
		if (c == '{' || c == '~') {
			p->lit_len = 0;
			p->lit_digits = 0;
			p->lit_nonsync = false;
			p->lit8 = false;
			p->first_in = false;
			p->st = c == '{' ? PS_LIT_LEN : PS_TILDE;
			return TJ_NEED_MORE;
		}
		if (token_char(c) || c == '\\') {
			rc = start_node(p, IMAP_ARG_ATOM, c);
			if (rc != TJ_NEED_MORE)
				return rc;
			p->st = PS_ATOM;
			return arena_putc(p, c) < 0 ? -ENOMEM : TJ_NEED_MORE;
		}
		if (c == ' ')
			return perr(p, TJ_EPROTO, "Unexpected space", c);
		if ((c == '\r' || c == '\n') && p->depth > 0)
			return line_end(p, c); /* reports the unclosed list */
		if (c == '\r' || c == '\n')
			return perr(p, TJ_EPROTO, "Missing argument", c);
		return perr(p, TJ_EPROTO, "Invalid character", c);

	case PS_ATOM:
		if (c == '[' && (p->kind == IMAP_CMD_FETCH || p->kind == IMAP_CMD_UID_FETCH) &&
		    (p->open < 0 || p->nodes[p->open].type != IMAP_ARG_SECTION) && is_section_name(p))
			return open_container(p, IMAP_ARG_SECTION, c);
		if (c == ']' && p->open >= 0 && p->nodes[p->open].type == IMAP_ARG_SECTION) {
			if ((rc = end_string(p)) < 0)
				return rc;
			close_container(p);
			p->st = PS_AFTER_SECTION;
			return TJ_NEED_MORE;
		}
		if (token_char(c))
			return arena_putc(p, c) < 0 ? -ENOMEM : TJ_NEED_MORE;
		if ((rc = end_string(p)) < 0)
			return rc;
		p->st = PS_AFTER_ARG;
		return step_command(p, c);

	case PS_TILDE:
		if (c == '{') {
			p->lit8 = true;
			p->st = PS_LIT_LEN;
			return TJ_NEED_MORE;
		}
		/* an atom that starts with '~' (e.g. a mailbox name) */
		rc = start_node(p, IMAP_ARG_ATOM, c);
		if (rc != TJ_NEED_MORE)
			return rc;
		if (arena_putc(p, '~') < 0)
			return -ENOMEM;
		p->st = PS_ATOM;
		return step_command(p, c);

	case PS_AFTER_SECTION:
		if (c == '<') {
			struct pnode *n = &p->nodes[p->closed];
			n->has_partial = true;
			n->poff = p->arena.len;
			p->st = PS_PARTIAL;
			return TJ_NEED_MORE;
		}
		p->st = PS_AFTER_ARG;
		return step_command(p, c);

	case PS_PARTIAL: {
		struct pnode *n = &p->nodes[p->closed];
		if ((c >= '0' && c <= '9') || c == '.') {
			if (p->arena.len - n->poff >= IMAP_MAX_PARTIAL)
				return perr(p, TJ_EPROTO, "Invalid partial", c);
			return arena_putc(p, c) < 0 ? -ENOMEM : TJ_NEED_MORE;
		}
		if (c != '>' || p->arena.len == n->poff)
			return perr(p, TJ_EPROTO, "Invalid partial", c);
		n->plen = p->arena.len - n->poff;
		p->st = PS_AFTER_ARG;
		return arena_putc(p, 0) < 0 ? -ENOMEM : TJ_NEED_MORE;
	}

	case PS_AFTER_ARG:
		if (c == ' ') {
			p->st = PS_ARG;
			p->first_in = false;
			return TJ_NEED_MORE;
		}
		if (c == ')') {
			if (p->open < 0 || p->nodes[p->open].type != IMAP_ARG_LIST)
				return perr(p, TJ_EPROTO, "Unexpected ')'", c);
			close_container(p);
			return TJ_NEED_MORE;
		}
		if (c == ']' && p->open >= 0 && p->nodes[p->open].type == IMAP_ARG_SECTION) {
			close_container(p);
			p->st = PS_AFTER_SECTION;
			return TJ_NEED_MORE;
		}
		if (c == '\r' || c == '\n')
			return line_end(p, c);
		return perr(p, TJ_EPROTO, "Missing space between arguments", c);

	case PS_QUOTED:
		if (c == '"') {
			if ((rc = end_string(p)) < 0)
				return rc;
			p->st = PS_AFTER_ARG;
			return TJ_NEED_MORE;
		}
		if (c == '\\') {
			p->st = PS_QUOTED_ESC;
			return TJ_NEED_MORE;
		}
		if (c == '\r' || c == '\n')
			return perr(p, TJ_EPROTO, "Unterminated quoted string", c);
		if (c == 0)
			return perr(p, TJ_EPROTO, "NUL in quoted string", c);
		return arena_putc(p, c) < 0 ? -ENOMEM : TJ_NEED_MORE;

	case PS_QUOTED_ESC:
		if (c != '"' && c != '\\')
			return perr(p, TJ_EPROTO, "Invalid escape in quoted string", c);
		p->st = PS_QUOTED;
		return arena_putc(p, c) < 0 ? -ENOMEM : TJ_NEED_MORE;

	case PS_LIT_LEN:
		if (c >= '0' && c <= '9') {
			uint64_t d = (uint64_t)(c - '0');
			p->lit_len = p->lit_len > (UINT64_MAX - d) / 10 ? UINT64_MAX : p->lit_len * 10 + d;
			p->lit_digits++;
			return TJ_NEED_MORE;
		}
		if (p->lit_digits && c == '+') {
			p->lit_nonsync = true;
			p->st = PS_LIT_CLOSE;
			return TJ_NEED_MORE;
		}
		if (p->lit_digits && c == '}') {
			p->st = PS_LIT_CR;
			return TJ_NEED_MORE;
		}
		return perr(p, TJ_EPROTO, "Invalid literal size", c);

	case PS_LIT_CLOSE:
		if (c != '}')
			return perr(p, TJ_EPROTO, "Invalid literal size", c);
		p->st = PS_LIT_CR;
		return TJ_NEED_MORE;

	case PS_LIT_CR:
		if (c == '\r') {
			p->st = PS_LIT_LF;
			return TJ_NEED_MORE;
		}
		if (c == '\n')
			return literal_start(p);
		return perr(p, TJ_EPROTO, "Literal must end the line", c);

	case PS_LIT_LF:
		if (c != '\n')
			return perr(p, TJ_EPROTO, "Literal must end the line", c);
		return literal_start(p);

	case PS_EOL_LF:
		if (c != '\n')
			return perr(p, TJ_EPROTO, "CR without LF", c);
		return build_command(p);

	default:
		return perr(p, TJ_EPROTO, "Internal parser state", c);
	}
}

static int step(struct imap_parser *p, uint8_t c)
{
	switch (p->st) {
	case PS_LINE_START:
		if (c == '\n')
			return TJ_NEED_MORE; /* empty line: ignored */
		if (c == '\r') {
			p->st = PS_EMPTY_LF;
			return TJ_NEED_MORE;
		}
		reset_command(p);
		p->st = PS_TAG;
		return step(p, c);
	case PS_EMPTY_LF:
		if (c == '\n') {
			p->st = PS_LINE_START;
			return TJ_NEED_MORE;
		}
		reset_command(p);
		return perr(p, TJ_EPROTO, "CR without LF", c);
	case PS_SKIP:
		skip_byte(p, c);
		return TJ_NEED_MORE;
	default:
		if (++p->line_bytes > max_line(p))
			return perr(p, TJ_ETOOBIG, "Line too long", c);
		return step_command(p, c);
	}
}

int imap_parser_feed(struct imap_parser *p, const void *buf, size_t len, size_t *consumed_r)
{
	const uint8_t *in = buf;
	size_t i = 0;
	if (p->have_cmd && p->arena.cap > IMAP_ARENA_KEEP) {
		/* release a big APPEND as soon as the caller is done with it */
		reset_command(p);
	}
	p->have_cmd = false;
	p->have_err = false;
	while (i < len) {
		if (p->st == PS_LIT_DATA) {
			size_t n = len - i;
			if (n > p->lit_left)
				n = (size_t)p->lit_left;
			int rc = arena_append(p, in + i, n);
			if (rc < 0) {
				*consumed_r = i;
				return rc;
			}
			i += n;
			p->lit_left -= n;
			if (p->lit_left == 0) {
				if ((rc = end_string(p)) < 0) {
					*consumed_r = i;
					return rc;
				}
				p->st = PS_AFTER_ARG;
			}
			continue;
		}
		if (p->st == PS_SKIP_LITERAL) {
			size_t n = len - i;
			if (n > p->skip_left)
				n = (size_t)p->skip_left;
			i += n;
			p->skip_left -= n;
			if (p->skip_left == 0) {
				p->st = PS_SKIP;
				skip_reset_detector(p);
			}
			continue;
		}
		int rc = step(p, in[i++]);
		if (rc != TJ_NEED_MORE) {
			*consumed_r = i;
			return rc;
		}
	}
	*consumed_r = i;
	return TJ_NEED_MORE;
}

int imap_parser_read_line(struct imap_parser *p, const void *buf, size_t len, size_t *consumed_r,
			  const char **line_r, size_t *len_r)
{
	const uint8_t *in = buf;
	size_t i = 0;
	*consumed_r = 0;
	if (p->st != PS_LINE_START)
		return TJ_ESTATE;
	if (p->rl_done) {
		tj_buf_reset(&p->rl);
		p->rl_done = false;
	}
	while (i < len) {
		uint8_t c = in[i++];
		if (p->rl_skip) {
			if (c == '\n')
				p->rl_skip = false;
			continue;
		}
		if (c == '\n') {
			if (p->rl.len && p->rl.data[p->rl.len - 1] == '\r')
				tj_buf_truncate(&p->rl, p->rl.len - 1);
			if (!p->rl.data && tj_buf_reserve(&p->rl, 1) < 0)
				return -ENOMEM;
			p->rl_done = true;
			*consumed_r = i;
			*line_r = (const char *)p->rl.data;
			*len_r = p->rl.len;
			return 0;
		}
		if (p->rl.len >= max_line(p)) {
			tj_buf_reset(&p->rl);
			p->rl_skip = true;
			*consumed_r = i;
			return TJ_ETOOBIG;
		}
		if (tj_buf_putc(&p->rl, c) < 0)
			return -ENOMEM;
	}
	*consumed_r = i;
	return TJ_NEED_MORE;
}

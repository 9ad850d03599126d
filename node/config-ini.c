/*
 * config-ini.c - INI tokenizer for tjstored's config file (see config-ini.h).
 *
 * Written here rather than taken from inih: we need quoted values, '#'
 * comments after a value, exact line numbers for every problem, an error
 * (not silent truncation) for an over-long line, and to keep going after a
 * malformed line so that every problem in a file is reported at once.  The
 * whole tokenizer is one pass over the text with one line-sized scratch copy.
 */
#include "node/config-ini.h"
#include "node/config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_comment(char c)
{
	return c == '#' || c == ';';
}

/* trim - strip spaces and tabs from both ends of s, in place; returns start */
static char *trim(char *s)
{
	while (is_ws(*s))
		s++;
	size_t n = strlen(s);
	while (n && is_ws(s[n - 1]))
		s[--n] = 0;
	return s;
}

/* rest_is_empty - only blanks or a comment from p on */
static bool rest_is_empty(const char *p)
{
	while (is_ws(*p))
		p++;
	return *p == 0 || is_comment(*p);
}

/* parse_value - unquote / strip the comment of the value at v, in place.
 * NULL on success with *out_r set; otherwise the problem. */
static const char *parse_value(char *v, char **out_r)
{
	while (is_ws(*v))
		v++;
	if (*v != '"') {
		size_t n = strcspn(v, "#;");
		v[n] = 0;
		*out_r = trim(v);
		return NULL;
	}
	char *r = v + 1, *w = v;
	for (;;) {
		if (*r == 0)
			return "quoted value has no closing '\"'";
		if (*r == '"')
			break;
		if (*r == '\\') {
			if (r[1] != '"' && r[1] != '\\')
				return "bad escape in quoted value (only \\\" and \\\\ are allowed)";
			r++;
		}
		*w++ = *r++;
	}
	*w = 0;
	if (!rest_is_empty(r + 1))
		return "text after the closing '\"'";
	*out_r = v;
	return NULL;
}

struct ini_state {
	tj_ini_fn *fn;
	void *arg;
	char *section;      /* current section name */
	bool section_ok;    /* false after a malformed header */
};

static int emit_error(struct ini_state *s, unsigned line, const char *msg)
{
	tj_ini_item it = {.kind = TJ_INI_ERROR, .line = line,
			  .section = s->section_ok ? s->section : NULL, .value = msg};
	return s->fn(s->arg, &it);
}

static int do_line(struct ini_state *s, unsigned line, char *p)
{
	while (is_ws(*p))
		p++;
	if (*p == 0 || is_comment(*p))
		return 0;
	if (*p == '[') {
		char *end = strchr(p, ']');
		s->section_ok = false;
		if (!end)
			return emit_error(s, line, "section header has no closing ']'");
		if (!rest_is_empty(end + 1))
			return emit_error(s, line, "text after the section header's ']'");
		*end = 0;
		char *name = trim(p + 1);
		if (!*name)
			return emit_error(s, line, "empty section name");
		memmove(s->section, name, strlen(name) + 1);
		s->section_ok = true;
		tj_ini_item it = {.kind = TJ_INI_SECTION, .line = line, .section = s->section};
		return s->fn(s->arg, &it);
	}
	char *eq = strchr(p, '=');
	if (!eq)
		return emit_error(s, line, "expected key = value");
	*eq = 0;
	char *key = trim(p);
	if (!*key)
		return emit_error(s, line, "no key before '='");
	char *value;
	const char *problem = parse_value(eq + 1, &value);
	if (problem) {
		tj_ini_item it = {.kind = TJ_INI_ERROR, .line = line,
				  .section = s->section_ok ? s->section : NULL, .key = key, .value = problem};
		return s->fn(s->arg, &it);
	}
	tj_ini_item it = {.kind = TJ_INI_PAIR, .line = line,
			  .section = s->section_ok ? s->section : NULL, .key = key, .value = value};
	return s->fn(s->arg, &it);
}

int tj_ini_parse(const char *text, size_t len, tj_ini_fn *fn, void *arg)
{
	char *line = malloc(TJ_CONFIG_LINE_MAX + 1);
	char *section = malloc(TJ_CONFIG_LINE_MAX + 1);
	if (!line || !section) {
		free(line);
		free(section);
		return -ENOMEM;
	}
	section[0] = 0;
	struct ini_state s = {.fn = fn, .arg = arg, .section = section, .section_ok = true};
	size_t pos = 0;
	unsigned lineno = 0;
	int rc = 0;
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3;
	while (pos < len && rc == 0) {
		lineno++;
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - start) : len - pos;
		pos += n + (nl ? 1 : 0);
		if (n && start[n - 1] == '\r')
			n--;
		if (n > TJ_CONFIG_LINE_MAX) {
			char msg[64];
			snprintf(msg, sizeof(msg), "line too long (max %d bytes)", TJ_CONFIG_LINE_MAX);
			rc = emit_error(&s, lineno, msg);
			continue;
		}
		if (memchr(start, 0, n)) {
			rc = emit_error(&s, lineno, "NUL byte in line");
			continue;
		}
		memcpy(line, start, n);
		line[n] = 0;
		rc = do_line(&s, lineno, line);
	}
	free(line);
	free(section);
	return rc;
}

/*
 * imap-seqset.c - sequence-set parsing, membership and iteration
 * (see imap-seqset.h).
 *
 * Grammar (RFC 9051): sequence-set = (seq-number / seq-range) ["," sequence-set];
 * seq-range = seq-number ":" seq-number; seq-number = nz-number / "*".
 */
#include "protocol/imap/imap-seqset.h"
#include "common/err.h"

#include <errno.h>
#include <stdlib.h>

int imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi)
{
	if (set->count == set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 8;
		struct imap_seq_range *r = realloc(set->r, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		set->r = r;
		set->cap = cap;
	}
	set->r[set->count].lo = lo;
	set->r[set->count].hi = hi;
	set->count++;
	return 0;
}

void imap_seqset_free(struct imap_seqset *set)
{
	free(set->r);
	set->r = NULL;
	set->count = set->cap = 0;
}

/* one seq-number at s[*i]: nz-number or '*' */
static int seq_number(const char *s, size_t len, size_t *i, uint32_t *n_r)
{
	if (*i < len && s[*i] == '*') {
		(*i)++;
		*n_r = IMAP_SEQ_STAR;
		return 0;
	}
	uint64_t v = 0;
	size_t start = *i;
	while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
		v = v * 10 + (uint64_t)(s[*i] - '0');
		if (v > UINT32_MAX)
			return TJ_EINVAL;
		(*i)++;
	}
	if (*i == start || v == 0 || s[start] == '0')
		return TJ_EINVAL; /* nz-number: no zero, no leading zeros */
	*n_r = (uint32_t)v;
	return 0;
}

int imap_seqset_parse(struct imap_seqset *set, const char *s, size_t len)
{
	size_t i = 0;
	set->count = 0;
	if (len == 0)
		return TJ_EINVAL;
	for (;;) {
		uint32_t lo, hi;
		int rc = seq_number(s, len, &i, &lo);
		if (rc < 0)
			return rc;
		hi = lo;
		if (i < len && s[i] == ':') {
			i++;
			if ((rc = seq_number(s, len, &i, &hi)) < 0)
				return rc;
		}
		if (set->count >= IMAP_SEQSET_MAX_RANGES)
			return TJ_ETOOBIG;
		if ((rc = imap_seqset_add(set, lo, hi)) < 0)
			return rc;
		if (i == len)
			return 0;
		if (s[i] != ',')
			return TJ_EINVAL;
		i++;
	}
}

/* resolve one range against max; false if it is empty */
static bool resolve_range(const struct imap_seq_range *r, uint32_t max, uint32_t *lo_r, uint32_t *hi_r)
{
	uint32_t lo = r->lo == IMAP_SEQ_STAR ? max : r->lo;
	uint32_t hi = r->hi == IMAP_SEQ_STAR ? max : r->hi;
	if (lo > hi) {
		uint32_t t = lo;
		lo = hi;
		hi = t;
	}
	if (max == 0 || lo == 0 || lo > max)
		return false;
	if (hi > max)
		hi = max;
	*lo_r = lo;
	*hi_r = hi;
	return true;
}

bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max)
{
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo = set->r[i].lo == IMAP_SEQ_STAR ? max : set->r[i].lo;
		uint32_t hi = set->r[i].hi == IMAP_SEQ_STAR ? max : set->r[i].hi;
		if (lo > hi) {
			uint32_t t = lo;
			lo = hi;
			hi = t;
		}
		if (lo == 0) /* '*' in an empty mailbox */
			continue;
		if (n >= lo && n <= hi)
			return true;
	}
	return false;
}

bool imap_seqset_has_star(const struct imap_seqset *set)
{
	for (size_t i = 0; i < set->count; i++)
		if (set->r[i].lo == IMAP_SEQ_STAR || set->r[i].hi == IMAP_SEQ_STAR)
			return true;
	return false;
}

uint32_t imap_seqset_highest(const struct imap_seqset *set)
{
	uint32_t m = 0;
	for (size_t i = 0; i < set->count; i++) {
		if (set->r[i].lo > m)
			m = set->r[i].lo;
		if (set->r[i].hi > m)
			m = set->r[i].hi;
	}
	return m;
}

static int cmp_range(const void *a, const void *b)
{
	const struct imap_seq_range *x = a, *y = b;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int imap_seqset_resolve(const struct imap_seqset *set, uint32_t max, struct imap_seqset *out)
{
	out->count = 0;
	for (size_t i = 0; i < set->count; i++) {
		uint32_t lo, hi;
		if (!resolve_range(&set->r[i], max, &lo, &hi))
			continue;
		int rc = imap_seqset_add(out, lo, hi);
		if (rc < 0)
			return rc;
	}
	if (out->count < 2)
		return 0;
	qsort(out->r, out->count, sizeof(out->r[0]), cmp_range);
	size_t w = 0;
	for (size_t i = 1; i < out->count; i++) {
		struct imap_seq_range *cur = &out->r[w];
		if ((uint64_t)out->r[i].lo <= (uint64_t)cur->hi + 1) {
			if (out->r[i].hi > cur->hi)
				cur->hi = out->r[i].hi;
		} else {
			out->r[++w] = out->r[i];
		}
	}
	out->count = w + 1;
	return 0;
}

void imap_seqset_iter_init(struct imap_seqset_iter *it, const struct imap_seqset *resolved)
{
	it->set = resolved;
	it->i = 0;
	it->next = resolved->count ? resolved->r[0].lo : 0;
}

bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r)
{
	while (it->i < it->set->count) {
		const struct imap_seq_range *r = &it->set->r[it->i];
		if (it->next <= r->hi) {
			*n_r = (uint32_t)it->next++;
			return true;
		}
		if (++it->i < it->set->count)
			it->next = it->set->r[it->i].lo;
	}
	return false;
}

/*
 * imap-seqset.h - IMAP sequence sets ("1:5,7,9:*") for message numbers and UIDs.
 *
 * A parsed set keeps '*' symbolic (IMAP_SEQ_STAR) because its value depends
 * on the mailbox at the time of use; resolve against the current maximum
 * (message count or highest UID) to test membership or iterate.
 */
#ifndef TJ_IMAP_SEQSET_H
#define TJ_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IMAP_SEQ_STAR 0 /* '*' in a range end (0 is never a valid number) */
#define IMAP_SEQSET_MAX_RANGES 100000

struct imap_seq_range {
	uint32_t lo, hi; /* as written (either may be IMAP_SEQ_STAR, lo may be > hi) */
};

struct imap_seqset {
	struct imap_seq_range *r;
	size_t count, cap;
};

#define IMAP_SEQSET_INIT {NULL, 0, 0}

/* imap_seqset_parse - parse a sequence-set (RFC 3501 9; "$" is not
 * supported) into set, which is reset first.  0, TJ_EINVAL (syntax, a
 * zero, a number over 2^32-1), TJ_ETOOBIG or -ENOMEM. */
int imap_seqset_parse(struct imap_seqset *set, const char *s, size_t len);
/* imap_seqset_add - append lo:hi (either may be IMAP_SEQ_STAR).  0 or -ENOMEM. */
int imap_seqset_add(struct imap_seqset *set, uint32_t lo, uint32_t hi);
/* imap_seqset_free - release memory; the set is left empty and reusable. */
void imap_seqset_free(struct imap_seqset *set);

/* imap_seqset_contains - n is in the set when '*' means max.  With max 0
 * (empty mailbox) '*' matches nothing. */
bool imap_seqset_contains(const struct imap_seqset *set, uint32_t n, uint32_t max);
/* imap_seqset_has_star - true if '*' appears anywhere. */
bool imap_seqset_has_star(const struct imap_seqset *set);
/* imap_seqset_highest - the largest number written (ignoring '*'); 0 if none.
 * A server uses it to reject message numbers beyond the mailbox. */
uint32_t imap_seqset_highest(const struct imap_seqset *set);

/*
 * imap_seqset_resolve - out = set with '*' replaced by max, each range
 * ordered, clipped to 1..max, sorted and merged (out is reset first).  A
 * UID range "559:*" with max 100 becomes 100:100, as RFC 3501 requires.
 * 0 or -ENOMEM.
 */
int imap_seqset_resolve(const struct imap_seqset *set, uint32_t max, struct imap_seqset *out);

/* Iterate the numbers of a resolved set, ascending.
 *   struct imap_seqset_iter it; uint32_t n;
 *   imap_seqset_iter_init(&it, &resolved);
 *   while (imap_seqset_iter_next(&it, &n)) ...            */
struct imap_seqset_iter {
	const struct imap_seqset *set;
	size_t i;
	uint64_t next;
};
void imap_seqset_iter_init(struct imap_seqset_iter *it, const struct imap_seqset *resolved);
bool imap_seqset_iter_next(struct imap_seqset_iter *it, uint32_t *n_r);

#endif

/*
 * imap-select.c - SELECT/EXAMINE parameter parser (see imap-select.h).
 *
 * RFC 7162: select-param = "CONDSTORE" / "QRESYNC" SP "(" uidvalidity SP
 * mod-sequence-value [SP known-uids] [SP seq-match-data] ")";
 * seq-match-data = "(" known-sequence-set SP known-uid-set ")".
 */
#include "protocol/imap/imap-select.h"
#include "common/err.h"

#include <errno.h>
#include <string.h>

void imap_select_free(struct imap_select *s)
{
	imap_seqset_free(&s->known_uids);
	imap_seqset_free(&s->known_seqs);
	imap_seqset_free(&s->known_seq_uids);
	memset(s, 0, sizeof(*s));
}

/* a sequence set without '*' */
static int plain_set(const struct imap_arg *a, struct imap_seqset *set)
{
	if (a->type != IMAP_ARG_ATOM)
		return TJ_EINVAL;
	int rc = imap_seqset_parse(set, a->str, a->len);
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0 || imap_seqset_has_star(set))
		return TJ_EINVAL;
	return 0;
}

static int parse_qresync(struct imap_select *s, const struct imap_arg *q, const char **error_r)
{
	int rc;
	*error_r = "Invalid QRESYNC parameters";
	if (q->type != IMAP_ARG_LIST || q->count < 2 || q->count > 4)
		return TJ_EINVAL;
	if (imap_arg_get_number(&q->list[0], &s->uidvalidity) < 0 || s->uidvalidity == 0 ||
	    imap_arg_get_number64(&q->list[1], &s->modseq) < 0 || s->modseq == 0)
		return TJ_EINVAL;
	size_t i = 2;
	if (i < q->count && q->list[i].type == IMAP_ARG_ATOM) {
		if ((rc = plain_set(&q->list[i], &s->known_uids)) < 0)
			return rc;
		s->has_known_uids = true;
		i++;
	}
	if (i < q->count) {
		const struct imap_arg *m = &q->list[i];
		if (m->type != IMAP_ARG_LIST || m->count != 2)
			return TJ_EINVAL;
		if ((rc = plain_set(&m->list[0], &s->known_seqs)) < 0 ||
		    (rc = plain_set(&m->list[1], &s->known_seq_uids)) < 0)
			return rc;
		s->has_seq_match = true;
		i++;
	}
	return i == q->count ? 0 : TJ_EINVAL;
}

int imap_select_parse(struct imap_select *s, const struct imap_arg *args, size_t argc, const char **error_r)
{
	imap_select_free(s);
	if (argc < 1 || argc > 2 || imap_arg_get_mailbox(&args[0], &s->mailbox, &s->mailbox_len) < 0) {
		*error_r = "SELECT needs a mailbox name";
		return TJ_EINVAL;
	}
	if (argc == 1)
		return 0;
	const struct imap_arg *l = &args[1];
	if (l->type != IMAP_ARG_LIST || l->count == 0) {
		*error_r = "Invalid SELECT parameters";
		return TJ_EINVAL;
	}
	for (size_t i = 0; i < l->count; i++) {
		if (imap_arg_is_atom(&l->list[i], "CONDSTORE") && !s->condstore) {
			s->condstore = true;
		} else if (imap_arg_is_atom(&l->list[i], "QRESYNC") && !s->qresync && i + 1 < l->count) {
			int rc = parse_qresync(s, &l->list[++i], error_r);
			if (rc < 0)
				return rc;
			s->qresync = true;
		} else {
			*error_r = "Invalid SELECT parameters";
			return TJ_EINVAL;
		}
	}
	return 0;
}

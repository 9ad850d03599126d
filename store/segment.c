/*
 * segment.c - segment files: segments/<id>.seg, append-only, read by pread.
 * Read descriptors are cached per segment id; the committer owns the
 * active segment's write descriptor separately.
 */
#include "common/err.h"
#include "store/store-private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define TJ_MAP_SLACK (64u << 20) /* batches may run a little past segment_size */

int tj_seg_path(tj_store *st, uint32_t seg, char *buf, size_t sz)
{
	int n = snprintf(buf, sz, "%s/segments/%08u.seg", st->dir, seg);
	return (n < 0 || (size_t)n >= sz) ? TJ_ETOOBIG : 0;
}

int tj_seg_fd(tj_store *st, uint32_t seg)
{
	pthread_mutex_lock(&st->seg_lock);
	if (seg >= st->seg_fds_cap) {
		uint32_t cap = st->seg_fds_cap ? st->seg_fds_cap : 64;
		while (cap <= seg)
			cap *= 2;
		int *fds = realloc(st->seg_fds, sizeof(int) * cap);
		if (!fds) {
			pthread_mutex_unlock(&st->seg_lock);
			return -ENOMEM;
		}
		st->seg_fds = fds;
		struct tj_segmap *maps = realloc(st->seg_maps, sizeof(*maps) * cap);
		if (!maps) {
			pthread_mutex_unlock(&st->seg_lock);
			return -ENOMEM;
		}
		st->seg_maps = maps;
		for (uint32_t i = st->seg_fds_cap; i < cap; i++) {
			fds[i] = -1;
			maps[i].base = NULL;
			maps[i].len = 0;
		}
		st->seg_fds_cap = cap;
	}
	int fd = st->seg_fds[seg];
	if (fd < 0) {
		char path[4096];
		if (tj_seg_path(st, seg, path, sizeof(path)) == 0) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				fd = -errno;
			else
				st->seg_fds[seg] = fd;
		} else {
			fd = TJ_ETOOBIG;
		}
	}
	pthread_mutex_unlock(&st->seg_lock);
	return fd;
}

void tj_seg_forget(tj_store *st, uint32_t seg)
{
	pthread_mutex_lock(&st->seg_lock);
	if (seg < st->seg_fds_cap && st->seg_fds[seg] >= 0) {
		close(st->seg_fds[seg]);
		st->seg_fds[seg] = -1;
	}
	if (seg < st->seg_fds_cap && st->seg_maps[seg].base) {
		munmap((void *)st->seg_maps[seg].base, st->seg_maps[seg].len);
		st->seg_maps[seg].base = NULL;
		st->seg_maps[seg].len = 0;
	}
	pthread_mutex_unlock(&st->seg_lock);
}

/* seg_map - the segment's mapping (made on first use), or NULL */
static const uint8_t *seg_map(tj_store *st, uint32_t seg, size_t *len_r)
{
	int fd = tj_seg_fd(st, seg);
	if (fd < 0)
		return NULL;
	pthread_mutex_lock(&st->seg_lock);
	struct tj_segmap *m = &st->seg_maps[seg];
	if (!m->base) {
		struct stat sb;
		size_t len = st->opts.segment_size + TJ_MAP_SLACK;
		if (fstat(fd, &sb) == 0 && (uint64_t)sb.st_size + TJ_MAP_SLACK > len)
			len = (size_t)sb.st_size + TJ_MAP_SLACK;
		void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
		if (p != MAP_FAILED) {
			m->base = p;
			m->len = len;
		}
	}
	const uint8_t *base = m->base;
	*len_r = m->len;
	pthread_mutex_unlock(&st->seg_lock);
	return base;
}

int tj_seg_view(tj_store *st, const loc_rec *l, tj_rec *rec_r)
{
	size_t maplen;
	const uint8_t *base = seg_map(st, l->seg, &maplen);
	if (!base || l->off + l->stored_len > maplen)
		return TJ_ENOTFOUND; /* not mappable: the caller reads it instead */
	/* the index only names committed bytes, which lie inside the file */
	size_t size;
	int rc = tj_rec_decode(base + l->off, l->stored_len, rec_r, &size);
	if (rc || size != l->stored_len || rec_r->raw_len != l->raw_len)
		return TJ_ECORRUPT;
	return 0;
}

int tj_seg_read_record(tj_store *st, const loc_rec *l, tj_buf *out, tj_rec *rec_r)
{
	int fd = tj_seg_fd(st, l->seg);
	if (fd < 0)
		return fd == -ENOENT ? TJ_ECORRUPT : fd;
	tj_buf_reset(out);
	int rc = tj_buf_reserve(out, l->stored_len);
	if (rc)
		return rc;
	size_t got = 0;
	while (got < l->stored_len) {
		ssize_t n = pread(fd, out->data + got, l->stored_len - got, (off_t)(l->off + got));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return TJ_ECORRUPT; /* the file is shorter than the index says */
		got += (size_t)n;
	}
	out->len = got;
	out->data[got] = 0;
	size_t size;
	rc = tj_rec_decode(out->data, out->len, rec_r, &size);
	if (rc)
		return TJ_ECORRUPT;
	if (size != l->stored_len || rec_r->raw_len != l->raw_len)
		return TJ_ECORRUPT;
	return 0;
}

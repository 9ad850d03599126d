/*
 * compress.h - message compression: zstd frames, optionally with a trained
 * dictionary.  Each record names its dictionary id, so older records stay
 * readable when a newer dictionary is trained.  Dictionaries are registered
 * once (ids only grow) and live until tj_dicts_free; lookups are thread-safe.
 */
#ifndef TJ_STORE_COMPRESS_H
#define TJ_STORE_COMPRESS_H

#include "common/buf.h"
#include "store/record.h"

#include <stddef.h>
#include <stdint.h>

#define TJ_DICT_MAX_ID 4096
#define TJ_DICT_SIZE (112 * 1024)

typedef struct tj_dicts tj_dicts;

/* tj_dicts_new - empty registry compressing at zstd level `level`.  NULL on ENOMEM. */
tj_dicts *tj_dicts_new(int level);
void tj_dicts_free(tj_dicts **d);

/* tj_dicts_add - register dictionary `id` (1..TJ_DICT_MAX_ID) from its bytes.
 * 0, TJ_EEXIST, TJ_EINVAL or -ENOMEM. */
int tj_dicts_add(tj_dicts *d, uint32_t id, const void *dict, size_t len);
/* tj_dicts_set_current - compress new records with dictionary id (0 = none). */
void tj_dicts_set_current(tj_dicts *d, uint32_t id);
uint32_t tj_dicts_current(tj_dicts *d);

/* tj_compress_record - build a whole segment record (header + payload) for a
 * raw message into out (appended).  Uses the current dictionary; stores the
 * bytes raw when compression does not help.  guid must be the message's GUID.
 * 0, TJ_ETOOBIG or -ENOMEM. */
int tj_compress_record(tj_dicts *d, const void *raw, size_t len, const uint8_t guid[TJ_GUID_LEN], tj_buf *out);

/* tj_decompress_range - decompress a decoded record's payload, appending raw
 * bytes [off, off+len) (clipped to the message) to out.  Stops early for a
 * prefix.  0, TJ_ECORRUPT (bad frame, unknown dictionary, wrong length) or -ENOMEM. */
int tj_decompress_range(tj_dicts *d, const tj_rec *rec, size_t off, size_t len, tj_buf *out);

/* tj_dict_train - train a dictionary from samples (concatenated, sizes[]).
 * Appends the dictionary to out.  0, TJ_EINVAL (too few samples) or -ENOMEM. */
int tj_dict_train(const void *samples, const size_t *sizes, unsigned nsamples, tj_buf *out);

#endif

/*
 * mbox.h - split an mbox file into messages (pure, no I/O).
 *
 * A message starts at a line beginning "From " that is the first line of
 * the buffer or follows an empty line.  The "From " line itself is not part
 * of the message; it supplies the delivery date when it has one.  Body lines
 * quoted as ">From ", ">>From " ... lose one '>' (mboxrd).
 */
#ifndef TJ_CLI_MBOX_H
#define TJ_CLI_MBOX_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tj_mbox_iter {
	const uint8_t *buf;
	size_t len, pos;
} tj_mbox_iter;

/* tj_mbox_is_mbox - does buf look like an mbox file (starts with "From ")? */
int tj_mbox_is_mbox(const uint8_t *buf, size_t len);

/* tj_mbox_next - the next message, unquoted, into out (reset first);
 * *date_r gets the envelope date (seconds) or 0.  Returns 1 when a message
 * was produced, 0 at the end, or -ENOMEM. */
int tj_mbox_next(tj_mbox_iter *it, tj_buf *out, int64_t *date_r);

/* tj_mbox_parse_date - the date of a "From sender DATE" line (asctime form,
 * UTC); 0 if none. */
int64_t tj_mbox_parse_date(const uint8_t *line, size_t len);

#endif

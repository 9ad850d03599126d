/*
 * admin-proto.h - the admin socket's frames (tjstored <-> tjstore-cli).
 *
 * One request and one response per connection, each a frame:
 *    0 u8[4] magic "TJA1"   4 u8 type   5 u8 flags   6 u16 reserved (0)
 *    8 u32 payload length (little-endian, at most TJ_ADMIN_MAX_PAYLOAD)
 *   12 payload
 * Request types are enum tj_admin_req; a response's type is an exit status
 * the CLI passes on (0 ok, 1 the command found a problem, 2 usage) and its
 * payload is the text to print.  Readers check every length and drop the
 * connection on a malformed frame.  Pure encode/decode over buffers.
 */
#ifndef TJ_NODE_ADMIN_PROTO_H
#define TJ_NODE_ADMIN_PROTO_H

#include "common/buf.h"

#include <stddef.h>
#include <stdint.h>

#define TJ_ADMIN_MAGIC "TJA1"
#define TJ_ADMIN_HDR 12
#define TJ_ADMIN_MAX_PAYLOAD (1u << 20)

enum tj_admin_req {
	TJ_ADMIN_STATUS = 1, /* node name, uptime, connections, listeners */
	TJ_ADMIN_STATS = 2,  /* the store's statistics (as `tjstore-cli stats`) */
	TJ_ADMIN_LEARN = 3,  /* payload "spam|ham|stats" NUL user NUL mailbox (see tj_admin_learn_*) */
};

enum tj_admin_flags { TJ_ADMIN_JSON = 1 };

typedef struct tj_admin_frame {
	uint8_t type, flags;
	const uint8_t *payload; /* points into the decoded buffer */
	uint32_t len;
} tj_admin_frame;

/* tj_admin_encode - append a frame to out.  0, TJ_ETOOBIG or -ENOMEM. */
int tj_admin_encode(tj_buf *out, uint8_t type, uint8_t flags, const void *payload, size_t len);

/* The LEARN request's payload: three NUL-separated fields, the class
 * ("spam", "ham", or "stats" with empty user and mailbox), the user and the
 * mailbox ("" = the default: Junk for spam, INBOX for ham). */
struct tj_admin_learn {
	char what[8];
	char user[256];
	char mailbox[1024];
};
/* tj_admin_learn_encode - append the payload.  0, TJ_EINVAL (a field too
 * long or holding NUL) or -ENOMEM. */
int tj_admin_learn_encode(tj_buf *out, const char *what, const char *user, const char *mailbox);
/* tj_admin_learn_decode - parse a payload (exactly three fields, each
 * within its size, no trailing bytes).  0 or TJ_EPROTO. */
int tj_admin_learn_decode(const uint8_t *p, size_t len, struct tj_admin_learn *r);

/* tj_admin_decode - a whole frame at the start of buf: 0 with *f_r and
 * *size_r; TJ_NEED_MORE (a valid prefix); TJ_EPROTO (bad magic, reserved
 * bits, length over the limit) or TJ_EVERSION. */
int tj_admin_decode(const uint8_t *buf, size_t len, tj_admin_frame *f_r, size_t *size_r);

#endif

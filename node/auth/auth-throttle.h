/*
 * auth-throttle.h - slowing down password guessing: a growing delay per
 * failing client address and per user name.
 *
 * The server asks tj_throttle_delay() before it answers a login attempt
 * and waits that long (on a timer, never by blocking a thread), then
 * tells tj_throttle_record() how the attempt went.  Policy:
 *
 *   failures in a row      1-2   3    4    5    6    7 and more
 *   delay before answer    0 s   1 s  2 s  4 s  8 s  15 s
 *
 * counted separately for the client address and the user name; the
 * larger of the two applies.  After TJ_THROTTLE_DECAY_MS (10 minutes)
 * without a failure, a count starts again from zero.  A successful login
 * clears the user's count and takes one failure off the address's count
 * (so one office behind NAT with a typo now and then is never slowed for
 * long, while spraying from one address still is).
 *
 * Keys: IPv4 addresses as they are, IPv6 addresses by their /64 (a
 * single host usually has a whole /64), "::ffff:a.b.c.d" as IPv4, other
 * text verbatim; user names with ASCII case folded, so "Alice" and
 * "alice" share a count.  Keys are hashed with SipHash-2-4 under a
 * secret key, and only the hash is kept (no names or addresses in
 * memory, and no crafted collisions).
 *
 * Memory is bounded: a fixed table of `slots` entries (addresses and
 * users together) allocated up front; when it is full the entry whose
 * last failure is oldest is evicted.
 *
 * Pure: the clock is passed in (milliseconds, any monotonic origin), no
 * I/O, no logging.  Not thread-safe: one thread (the event loop) owns a
 * table.
 */
#ifndef TJ_AUTH_THROTTLE_H
#define TJ_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TJ_THROTTLE_FREE_FAILS 2                 /* failures answered at once */
#define TJ_THROTTLE_BASE_MS 1000u                /* delay after the first failure past those */
#define TJ_THROTTLE_MAX_MS 15000u                /* the delay never grows beyond this */
#define TJ_THROTTLE_DECAY_MS (10u * 60u * 1000u) /* a count is forgotten after this long without a failure */
#define TJ_THROTTLE_FAILS_CAP 1000u              /* counts saturate here */
#define TJ_THROTTLE_DEFAULT_SLOTS 8192u          /* entries: about 320 KiB */
#define TJ_THROTTLE_SLOTS_MAX (1u << 22)         /* largest table tj_throttle_new() makes */
#define TJ_THROTTLE_KEY_LEN 16                   /* SipHash key bytes */

struct tj_throttle;

/*
 * tj_throttle_new - a table of `slots` entries (0: the default).
 * key: TJ_THROTTLE_KEY_LEN secret bytes for the key hash; NULL: fresh
 * random bytes from getrandom(2) (tests pass a fixed key).
 * @return 0 and *t_r; TJ_EINVAL (slots over TJ_THROTTLE_SLOTS_MAX);
 *   -ENOMEM; -errno from getrandom.
 */
int tj_throttle_new(size_t slots, const uint8_t *key, struct tj_throttle **t_r);

/* tj_throttle_free - free *t (NULL is fine) and set *t = NULL. */
void tj_throttle_free(struct tj_throttle **t);

/*
 * tj_throttle_delay - milliseconds to wait before answering an attempt
 * from ip for user at now_ms: the policy delay of the larger of the two
 * failure counts.  ip or user may be NULL (not known yet, e.g. a PLAIN
 * response that did not decode).  Changes nothing.
 */
uint32_t tj_throttle_delay(const struct tj_throttle *t, const char *ip, const char *user, uint64_t now_ms);

/*
 * tj_throttle_record - note the outcome of an attempt at now_ms: ok
 * false adds one failure to ip's and user's counts (making entries as
 * needed, evicting the oldest when full); ok true clears user's count
 * and takes one off ip's.  ip or user may be NULL.
 */
void tj_throttle_record(struct tj_throttle *t, const char *ip, const char *user, bool ok, uint64_t now_ms);

/* tj_throttle_policy_ms - the delay for `failures` failures in a row
 * (the table above). */
uint32_t tj_throttle_policy_ms(unsigned failures);

/* tj_throttle_count - entries in use (never more than the slots). */
size_t tj_throttle_count(const struct tj_throttle *t);

#endif

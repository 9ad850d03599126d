/*
 * auth-throttle.c - per-address and per-user failure counts with a
 * growing delay (policy in auth-throttle.h).  A fixed array of entries,
 * chained hash buckets by index and an LRU list ordered by last failure,
 * so memory never grows and the oldest count is the one evicted.  Keys
 * are SipHash-2-4 values of a normalised address or user name.
 */
#include "node/auth/auth-throttle.h"
#include "node/auth/auth.h"
#include "common/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define NIL UINT32_MAX
#define KIND_IP 'i'
#define KIND_USER 'u'
#define KEY_TEXT_MAX (1 + TJ_AUTH_USER_MAX) /* kind byte + normalised text */

struct slot {
	uint64_t key;
	uint64_t last_fail_ms;
	uint32_t fails;
	uint32_t bucket_next; /* chain, or free list */
	uint32_t lru_prev, lru_next;
};

struct tj_throttle {
	struct slot *slots;
	uint32_t nslots;
	uint32_t used;      /* slots handed out so far (then the free list) */
	uint32_t free_head; /* slots returned by removal */
	uint32_t count;
	uint32_t *buckets;
	uint32_t bucket_mask;
	uint32_t lru_head, lru_tail; /* head: most recent failure */
	uint64_t k0, k1;
};

/* ---------------------------------------------------------- SipHash-2-4 */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                  \
	do {                                                                                      \
		v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32);                         \
		v2 += v3; v3 = rotl(v3, 16); v3 ^= v2;                                            \
		v0 += v3; v3 = rotl(v3, 21); v3 ^= v0;                                            \
		v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32);                         \
	} while (0)

static uint64_t load64le(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t siphash24(uint64_t k0, uint64_t k1, const uint8_t *m, size_t len)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
	size_t full = len & ~(size_t)7;
	for (size_t i = 0; i < full; i += 8) {
		uint64_t w = load64le(m + i);
		v3 ^= w;
		SIPROUND;
		SIPROUND;
		v0 ^= w;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < (len & 7); i++)
		b |= (uint64_t)m[full + i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ----------------------------------------------------------------- keys */

static uint64_t key_of(const struct tj_throttle *t, char kind, const char *s)
{
	uint8_t buf[KEY_TEXT_MAX];
	size_t n = 0;
	buf[n++] = (uint8_t)kind;
	if (kind == KIND_IP) {
		struct in6_addr a6;
		struct in_addr a4;
		if (inet_pton(AF_INET, s, &a4) == 1) {
			memcpy(buf + n, &a4, 4);
			n += 4;
		} else if (inet_pton(AF_INET6, s, &a6) == 1) {
			static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
			if (memcmp(a6.s6_addr, mapped, 12) == 0) {
				memcpy(buf + n, a6.s6_addr + 12, 4); /* same key as plain IPv4 */
				n += 4;
			} else {
				buf[0] = '6';
				memcpy(buf + n, a6.s6_addr, 8); /* the /64 */
				n += 8;
			}
		} else {
			buf[0] = 't'; /* not an address: text as given */
			size_t l = strnlen(s, sizeof(buf) - 1);
			memcpy(buf + n, s, l);
			n += l;
		}
	} else {
		for (; *s && n < sizeof(buf); s++) {
			char c = *s;
			buf[n++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
		}
	}
	return siphash24(t->k0, t->k1, buf, n);
}

/* ---------------------------------------------------------------- table */

static uint32_t find(const struct tj_throttle *t, uint64_t key)
{
	for (uint32_t i = t->buckets[key & t->bucket_mask]; i != NIL; i = t->slots[i].bucket_next)
		if (t->slots[i].key == key)
			return i;
	return NIL;
}

static void lru_unlink(struct tj_throttle *t, uint32_t i)
{
	struct slot *s = &t->slots[i];
	if (s->lru_prev != NIL)
		t->slots[s->lru_prev].lru_next = s->lru_next;
	else
		t->lru_head = s->lru_next;
	if (s->lru_next != NIL)
		t->slots[s->lru_next].lru_prev = s->lru_prev;
	else
		t->lru_tail = s->lru_prev;
	s->lru_prev = s->lru_next = NIL;
}

static void lru_push_head(struct tj_throttle *t, uint32_t i)
{
	struct slot *s = &t->slots[i];
	s->lru_prev = NIL;
	s->lru_next = t->lru_head;
	if (t->lru_head != NIL)
		t->slots[t->lru_head].lru_prev = i;
	t->lru_head = i;
	if (t->lru_tail == NIL)
		t->lru_tail = i;
}

static void bucket_unlink(struct tj_throttle *t, uint32_t i)
{
	uint32_t *pp = &t->buckets[t->slots[i].key & t->bucket_mask];
	while (*pp != NIL && *pp != i)
		pp = &t->slots[*pp].bucket_next;
	if (*pp == i)
		*pp = t->slots[i].bucket_next;
}

static void slot_remove(struct tj_throttle *t, uint32_t i)
{
	bucket_unlink(t, i);
	lru_unlink(t, i);
	t->slots[i].bucket_next = t->free_head;
	t->free_head = i;
	t->count--;
}

static uint32_t slot_insert(struct tj_throttle *t, uint64_t key)
{
	uint32_t i;
	if (t->free_head != NIL) {
		i = t->free_head;
		t->free_head = t->slots[i].bucket_next;
	} else if (t->used < t->nslots) {
		i = t->used++;
	} else {
		slot_remove(t, t->lru_tail); /* full: forget the oldest failure */
		i = t->free_head;
		t->free_head = t->slots[i].bucket_next;
	}
	struct slot *s = &t->slots[i];
	*s = (struct slot){.key = key, .lru_prev = NIL, .lru_next = NIL};
	uint32_t *b = &t->buckets[key & t->bucket_mask];
	s->bucket_next = *b;
	*b = i;
	lru_push_head(t, i);
	t->count++;
	return i;
}

static bool expired(const struct slot *s, uint64_t now_ms)
{
	return now_ms >= s->last_fail_ms && now_ms - s->last_fail_ms >= TJ_THROTTLE_DECAY_MS;
}

/* ------------------------------------------------------------------ API */

int tj_throttle_new(size_t slots, const uint8_t *key, struct tj_throttle **t_r)
{
	*t_r = NULL;
	if (slots == 0)
		slots = TJ_THROTTLE_DEFAULT_SLOTS;
	if (slots > TJ_THROTTLE_SLOTS_MAX)
		return TJ_EINVAL;
	uint8_t k[TJ_THROTTLE_KEY_LEN];
	if (key) {
		memcpy(k, key, sizeof(k));
	} else {
		ssize_t n = getrandom(k, sizeof(k), 0);
		if (n != (ssize_t)sizeof(k))
			return n < 0 ? -errno : -EIO;
	}
	struct tj_throttle *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	uint32_t nb = 1;
	while (nb < slots)
		nb <<= 1;
	t->slots = calloc(slots, sizeof(*t->slots));
	t->buckets = malloc(nb * sizeof(*t->buckets));
	if (!t->slots || !t->buckets) {
		tj_throttle_free(&t);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < nb; i++)
		t->buckets[i] = NIL;
	t->bucket_mask = nb - 1;
	t->nslots = (uint32_t)slots;
	t->free_head = t->lru_head = t->lru_tail = NIL;
	t->k0 = load64le(k);
	t->k1 = load64le(k + 8);
	explicit_bzero(k, sizeof(k));
	*t_r = t;
	return 0;
}

void tj_throttle_free(struct tj_throttle **t)
{
	if (!t || !*t)
		return;
	free((*t)->slots);
	free((*t)->buckets);
	explicit_bzero(*t, sizeof(**t));
	free(*t);
	*t = NULL;
}

uint32_t tj_throttle_policy_ms(unsigned failures)
{
	if (failures <= TJ_THROTTLE_FREE_FAILS)
		return 0;
	unsigned step = failures - TJ_THROTTLE_FREE_FAILS - 1; /* 0 for the first delayed one */
	uint32_t ms = TJ_THROTTLE_BASE_MS;
	while (step-- > 0 && ms < TJ_THROTTLE_MAX_MS)
		ms *= 2;
	return ms < TJ_THROTTLE_MAX_MS ? ms : TJ_THROTTLE_MAX_MS;
}

static unsigned fails_of(const struct tj_throttle *t, char kind, const char *s, uint64_t now_ms)
{
	if (!s)
		return 0;
	uint32_t i = find(t, key_of(t, kind, s));
	if (i == NIL || expired(&t->slots[i], now_ms))
		return 0;
	return t->slots[i].fails;
}

uint32_t tj_throttle_delay(const struct tj_throttle *t, const char *ip, const char *user, uint64_t now_ms)
{
	if (!t)
		return 0;
	unsigned a = fails_of(t, KIND_IP, ip, now_ms), b = fails_of(t, KIND_USER, user, now_ms);
	return tj_throttle_policy_ms(a > b ? a : b);
}

static void record_fail(struct tj_throttle *t, char kind, const char *s, uint64_t now_ms)
{
	uint64_t key = key_of(t, kind, s);
	uint32_t i = find(t, key);
	if (i == NIL) {
		i = slot_insert(t, key);
	} else {
		lru_unlink(t, i);
		lru_push_head(t, i);
	}
	struct slot *sl = &t->slots[i];
	if (expired(sl, now_ms))
		sl->fails = 0;
	if (sl->fails < TJ_THROTTLE_FAILS_CAP)
		sl->fails++;
	if (now_ms > sl->last_fail_ms)
		sl->last_fail_ms = now_ms;
}

void tj_throttle_record(struct tj_throttle *t, const char *ip, const char *user, bool ok, uint64_t now_ms)
{
	if (!t)
		return;
	if (!ok) {
		if (ip)
			record_fail(t, KIND_IP, ip, now_ms);
		if (user)
			record_fail(t, KIND_USER, user, now_ms);
		return;
	}
	if (user) {
		uint32_t i = find(t, key_of(t, KIND_USER, user));
		if (i != NIL)
			slot_remove(t, i);
	}
	if (ip) {
		uint32_t i = find(t, key_of(t, KIND_IP, ip));
		if (i != NIL) {
			struct slot *sl = &t->slots[i];
			if (expired(sl, now_ms) || sl->fails <= 1)
				slot_remove(t, i);
			else
				sl->fails--;
		}
	}
}

size_t tj_throttle_count(const struct tj_throttle *t)
{
	return t ? t->count : 0;
}

/*
 * record.c - encode and decode segment records (see record.h).
 * Pure functions: no I/O, safe on hostile input (fuzzed by fuzz-record).
 */
#include "store/record.h"
#include "common/buf.h"
#include "common/err.h"

#include <openssl/sha.h>
#include <string.h>
#include <xxhash.h>

static uint64_t rec_checksum(const uint8_t *hdr, const uint8_t *payload, size_t len)
{
	uint64_t seed = XXH3_64bits(hdr, 40);
	return XXH3_64bits_withSeed(payload, len, seed);
}

void tj_rec_header(uint8_t hdr[TJ_REC_HDR], const tj_rec *rec, const uint8_t *payload)
{
	memset(hdr, 0, TJ_REC_HDR);
	tj_put32(hdr, TJ_REC_MAGIC);
	hdr[4] = TJ_REC_VERSION;
	hdr[5] = rec->codec;
	tj_put16(hdr + 6, TJ_REC_HDR);
	tj_put32(hdr + 8, rec->dict_id);
	tj_put32(hdr + 12, rec->raw_len);
	tj_put32(hdr + 16, rec->payload_len);
	memcpy(hdr + 24, rec->guid, TJ_GUID_LEN);
	tj_put64(hdr + 40, rec_checksum(hdr, payload, rec->payload_len));
}

int tj_rec_decode(const uint8_t *buf, size_t len, tj_rec *rec_r, size_t *size_r)
{
	*size_r = 0;
	if (len < 8)
		return (len >= 4 && tj_get32(buf) != TJ_REC_MAGIC) ? TJ_EPROTO : TJ_NEED_MORE;
	if (tj_get32(buf) != TJ_REC_MAGIC)
		return TJ_EPROTO;
	if (buf[4] == 0)
		return TJ_EPROTO;
	if (buf[4] > TJ_REC_VERSION)
		return TJ_EVERSION;
	uint16_t hlen = tj_get16(buf + 6);
	if (hlen < TJ_REC_HDR || hlen > 4096)
		return TJ_EPROTO;
	if (len < hlen)
		return TJ_NEED_MORE;
	tj_rec r;
	r.codec = buf[5];
	r.dict_id = tj_get32(buf + 8);
	r.raw_len = tj_get32(buf + 12);
	r.payload_len = tj_get32(buf + 16);
	memcpy(r.guid, buf + 24, TJ_GUID_LEN);
	if (r.codec > TJ_CODEC_BATCH || r.raw_len > TJ_REC_MAX_RAW || r.payload_len > TJ_REC_MAX_PAYLOAD)
		return TJ_EPROTO;
	if (r.codec != TJ_CODEC_ZSTD && (r.payload_len != r.raw_len || r.dict_id != 0))
		return TJ_EPROTO;
	size_t total = (size_t)hlen + r.payload_len;
	*size_r = total;
	if (len < total)
		return TJ_NEED_MORE;
	r.payload = buf + hlen;
	if (rec_checksum(buf, r.payload, r.payload_len) != tj_get64(buf + 40))
		return TJ_ECORRUPT;
	*rec_r = r;
	return 0;
}

void tj_guid_compute(const void *data, size_t len, uint8_t guid_r[TJ_GUID_LEN])
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	memcpy(guid_r, md, TJ_GUID_LEN);
}

char *tj_guid_hex(const uint8_t guid[TJ_GUID_LEN], char out[33])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < TJ_GUID_LEN; i++) {
		out[2 * i] = hex[guid[i] >> 4];
		out[2 * i + 1] = hex[guid[i] & 15];
	}
	out[32] = 0;
	return out;
}

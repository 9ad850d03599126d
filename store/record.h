/*
 * record.h - the segment record: one stored message in a segment file.
 *
 * Layout (little-endian), TJ_REC_HDR bytes of header then the payload:
 *    0 u32 magic "TJSR"        4 u8 version       5 u8 codec (0 raw, 1 zstd, 2 batch)
 *    6 u16 header length      8 u32 dict id (0 = none)
 *   12 u32 raw (decompressed) length            16 u32 payload length
 *   20 u32 reserved (0)      24 u8[16] GUID (SHA-256 of the raw bytes, truncated)
 *   40 u64 checksum = XXH3_64(payload, seed = XXH3_64(header bytes 0..39))
 * The checksum covers header and payload, so any flipped bit is caught.
 * Encoding and decoding are pure functions over buffers.
 */
#ifndef TJ_STORE_RECORD_H
#define TJ_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define TJ_REC_MAGIC 0x52534A54u /* "TJSR" */
#define TJ_REC_VERSION 1
#define TJ_REC_HDR 48
#define TJ_REC_MAX_RAW (256u << 20)   /* largest message we store */
#define TJ_REC_MAX_PAYLOAD (TJ_REC_MAX_RAW + (1u << 20))
#define TJ_GUID_LEN 16

enum tj_codec {
	TJ_CODEC_RAW = 0,   /* a message, stored as is */
	TJ_CODEC_ZSTD = 1,  /* a message, one zstd frame */
	TJ_CODEC_BATCH = 2, /* not a message: a batch's resolved ops, for redo (store.c) */
};

typedef struct tj_rec {
	uint8_t codec;
	uint32_t dict_id;
	uint32_t raw_len;
	uint32_t payload_len;
	uint8_t guid[TJ_GUID_LEN];
	const uint8_t *payload; /* points into the decoded buffer */
} tj_rec;

/* tj_rec_header - write the header for rec (payload given separately) into
 * hdr[TJ_REC_HDR], computing the checksum over hdr and payload. */
void tj_rec_header(uint8_t hdr[TJ_REC_HDR], const tj_rec *rec, const uint8_t *payload);

/* tj_rec_decode - decode one record at the start of buf.
 * Returns 0 and fills *rec_r and *size_r (whole record length) on success;
 * TJ_NEED_MORE if buf holds a valid prefix that is too short (*size_r is then
 * the length needed when known, else 0); TJ_EPROTO for a bad magic or
 * impossible lengths; TJ_EVERSION for a newer version; TJ_ECORRUPT for a
 * checksum mismatch.  rec_r->payload points into buf. */
int tj_rec_decode(const uint8_t *buf, size_t len, tj_rec *rec_r, size_t *size_r);

/* tj_guid_compute - the content GUID of a raw message. */
void tj_guid_compute(const void *data, size_t len, uint8_t guid_r[TJ_GUID_LEN]);

/* tj_guid_hex - 32 hex digits + NUL into out[33]; returns out. */
char *tj_guid_hex(const uint8_t guid[TJ_GUID_LEN], char out[33]);

#endif

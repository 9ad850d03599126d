/*
 * base64.h - the value of a base64 digit, for the decoders that need one:
 * MIME (RFC 2045, '/' is 63), modified UTF-7 mailbox names (RFC 3501 5.1.3,
 * ',' is 63) and SASL (RFC 4648).
 */
#ifndef TJ_BASE64_H
#define TJ_BASE64_H

#include <stdint.h>

/* tj_b64_value - 0..63 for a digit of the alphabet whose 64th digit is c63,
 * -1 otherwise ('=' included) */
static inline int tj_b64_value(uint8_t c, uint8_t c63)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == c63)
		return 63;
	return -1;
}

#endif

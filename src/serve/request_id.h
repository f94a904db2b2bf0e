/* request_id.h — owns the server's request ids: 128 bits no client can guess (SipHash-2-4, a keyed
 * PRF, of the request number under a 128-bit key drawn from getrandom at start), and a 32-bit tag
 * under a second key that lets this process tell an id it issued from any other without keeping
 * a list. Ids look like "3f1c...<32 hex>-<8 hex>" (41 characters).
 *
 * Why: ids were "<boot>-<counter>", so anyone could label a neighbour's prediction by counting.
 * Deterministic in the request number (same process, same number, same id), so the /v1 decoder's
 * differential check (v1_fuzz.c) still compares two answers byte for byte.
 *
 * Example:
 *   fw_reqid_key k; fw_reqid_key_init(&k);
 *   char id[48]; fw_reqid_format(&k, 42, id);
 *   fw_reqid_issued(&k, id);   // true */
#ifndef FW_SERVE_REQUEST_ID_H
#define FW_SERVE_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_REQID_LEN 41

typedef struct fw_reqid_key {
    uint64_t id[2], tag[2];
} fw_reqid_key;

/* Fresh keys from getrandom (a clock/pid mix only if the kernel refuses, said on stderr). */
void fw_reqid_key_init(fw_reqid_key *k);
/* The id of request number n into out (FW_REQID_LEN + 1 bytes). */
void fw_reqid_format(const fw_reqid_key *k, uint64_t n, char *out);
/* True when id has the shape and the tag of an id issued under k. */
bool fw_reqid_issued(const fw_reqid_key *k, const char *id);
/* SipHash-2-4 of n bytes under the key (k[0], k[1]). */
uint64_t fw_siphash24(const uint64_t k[2], const void *p, size_t n);

#endif

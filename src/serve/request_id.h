/* request_id.h — owns the server's request ids. An id is 96 bits no client can guess (SipHash-2-4,
 * a keyed PRF, of the request number under a 128-bit key drawn from getrandom by each process), the
 * answering model's 32-bit code hidden under a mask derived from those 96 bits, and a 32-bit tag
 * over both, which lets a process tell an id issued under the shared keys from any other, and read
 * the model back, without keeping a list or reading a store. Ids look like
 * "<24 hex random><8 hex masked code>-<8 hex tag>" (41 characters).
 *
 * Two kinds of key: the random part's key is each process's own (so two processes never issue the
 * same id for the same request number); the mask and tag keys are the shared ones: 32 bytes kept
 * in the store once per home (fw_store_secret "request_id_key", read by `flywheel serve` at start:
 * fw_reqid_key_share), so a restarted server and every replica on the same home check each other's
 * ids. A server without a store (--models-dir) keeps fresh per-process keys: only it checks its ids.
 *
 * Why the code: feedback names only the request id, and a label the answering model does not know
 * ("maybe" for Yes/No) must be refused. The code is a keyed hash of the model's name and version
 * (fw_reqid_model_code), so any process holding the same keys maps it back to a loaded model; a
 * client can neither read it nor move an id to another model (the tag covers it).
 *
 * Why ids are keyed at all: ids were "<boot>-<counter>", so anyone could label a neighbour's
 * prediction by counting. 96 unguessable bits keep that out of reach (2^96 guesses per id).
 * Deterministic in the request number and the code (same process, same number, same model, same
 * id), so the /v1 decoder's differential check (v1_fuzz.c) still compares two answers byte for byte.
 *
 * Example:
 *   fw_reqid_key k; fw_reqid_key_init(&k); fw_reqid_key_share(&k, secret32);  // the home's keys
 *   char id[48]; fw_reqid_format(&k, 42, fw_reqid_model_code(&k, "pima", "3"), id);
 *   uint32_t code; fw_reqid_code(&k, id, &code);   // true, code = pima version 3's */
#ifndef FW_SERVE_REQUEST_ID_H
#define FW_SERVE_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FW_REQID_LEN 41

#define FW_REQID_SHARED_KEY_LEN 32 /* bytes: the mask key and the tag key */

typedef struct fw_reqid_key {
    uint64_t rnd[2];        /* the random part's key: this process's own */
    uint64_t id[2], tag[2]; /* the code mask's and the tag's keys: shared by a home's servers */
} fw_reqid_key;

/* Fresh keys from getrandom, all three (a clock/pid mix only if the kernel refuses, said on stderr). */
void fw_reqid_key_init(fw_reqid_key *k);
/* Replaces the mask and tag keys with the shared ones (FW_REQID_SHARED_KEY_LEN bytes; the random
 * part's key stays this process's): ids issued by any process holding the same bytes check here. */
void fw_reqid_key_share(fw_reqid_key *k, const unsigned char *shared);
/* The id of request number n answered by the model with code (0: no model, e.g. the request failed
 * before one was chosen) into out (FW_REQID_LEN + 1 bytes). */
void fw_reqid_format(const fw_reqid_key *k, uint64_t n, uint32_t code, char *out);
/* Re-issues id (formatted under k) with another model code: the same random part, a new code and
 * tag (what the server does once it knows which model answers). */
void fw_reqid_rebind(const fw_reqid_key *k, uint32_t code, char *id);
/* The code of a model version under k: a keyed hash of name and version, never 0. */
uint32_t fw_reqid_model_code(const fw_reqid_key *k, const char *name, const char *version);
/* True when id has the shape and the tag of an id issued under k; then *code (may be NULL) is the
 * model code it was issued with. */
bool fw_reqid_code(const fw_reqid_key *k, const char *id, uint32_t *code);
/* True when id has the shape and the tag of an id issued under k. */
bool fw_reqid_issued(const fw_reqid_key *k, const char *id);
/* SipHash-2-4 of n bytes under the key (k[0], k[1]). */
uint64_t fw_siphash24(const uint64_t k[2], const void *p, size_t n);

#endif

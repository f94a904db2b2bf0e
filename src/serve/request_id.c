/* request_id.c — owns request ids (request_id.h): the SipHash-2-4 PRF, the two keys, the id text
 * and its check. The random part is keyed by k->rnd (this process's), the mask by k->id and the tag by
 * k->tag (shared by a home's servers). */
#include "serve/request_id.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                        \
    do {                                                                                                \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                       \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                          \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                          \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                       \
    } while (0)

static uint64_t load_le64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

uint64_t fw_siphash24(const uint64_t k[2], const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t v0 = 0x736f6d6570736575ull ^ k[0], v1 = 0x646f72616e646f6dull ^ k[1];
    uint64_t v2 = 0x6c7967656e657261ull ^ k[0], v3 = 0x7465646279746573ull ^ k[1];
    size_t whole = n & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = load_le64(p + i);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t i = 0; i < (n & 7); i++) b |= (uint64_t)p[whole + i] << (8 * i);
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

void fw_reqid_key_init(fw_reqid_key *k) {
    if (getrandom(k, sizeof *k, 0) == (ssize_t)sizeof *k) return;
    fprintf(stderr, "flywheel serve: getrandom failed; request ids are keyed from the clock and pid\n");
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t seed[2] = {(uint64_t)t.tv_nsec ^ (uint64_t)getpid() << 32, (uint64_t)t.tv_sec};
    for (int i = 0; i < 6; i++) {
        uint64_t v = fw_siphash24(seed, &i, sizeof i);
        if (i < 2) k->rnd[i] = v;
        else if (i < 4) k->id[i - 2] = v;
        else k->tag[i - 4] = v;
    }
}

void fw_reqid_key_share(fw_reqid_key *k, const unsigned char *shared) {
    k->id[0] = load_le64(shared);
    k->id[1] = load_le64(shared + 8);
    k->tag[0] = load_le64(shared + 16);
    k->tag[1] = load_le64(shared + 24);
}

static const char HEX[] = "0123456789abcdef";

static void put_hex(char *o, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--, v >>= 4) o[i] = HEX[v & 15];
}

static uint32_t tag_of(const fw_reqid_key *k, const char *hex32) { return (uint32_t)fw_siphash24(k->tag, hex32, 32); }

/* A request's id is formatted, then re-bound to the model that answers: the second mask and that
 * model's code are the same hashes again. This thread's last of each is kept, keyed by everything
 * the hash reads (the key and the bytes), so a hit is the hash's value whatever changed between. */
static _Thread_local struct {
    uint64_t key[2];
    char hex[24];
    uint32_t mask;
    bool valid;
} t_mask;
static _Thread_local struct {
    uint64_t key[2];
    char text[512]; /* name NUL version */
    size_t len;
    uint32_t code;
} t_code;

/* The mask hiding the model code: a PRF of the 96 random bits (their 24 hex digits), in a domain of
 * its own (a 25th byte) so it is unrelated to any id's random part. */
static uint32_t code_mask(const fw_reqid_key *k, const char *hex24) {
    if (t_mask.valid && t_mask.key[0] == k->id[0] && t_mask.key[1] == k->id[1] && memcmp(t_mask.hex, hex24, 24) == 0)
        return t_mask.mask;
    char m[25];
    memcpy(m, hex24, 24);
    m[24] = 'm';
    uint32_t mask = (uint32_t)fw_siphash24(k->id, m, sizeof m);
    t_mask.key[0] = k->id[0];
    t_mask.key[1] = k->id[1];
    memcpy(t_mask.hex, hex24, 24);
    t_mask.mask = mask;
    t_mask.valid = true;
    return mask;
}

uint32_t fw_reqid_model_code(const fw_reqid_key *k, const char *name, const char *version) {
    char buf[512]; /* name NUL version, cut at the buffer (names are at most 128 characters) */
    size_t nl = strlen(name), vl = strlen(version);
    if (nl > 255) nl = 255;
    if (vl > 255) vl = 255;
    memcpy(buf, name, nl);
    buf[nl] = 0;
    memcpy(buf + nl + 1, version, vl);
    size_t n = nl + 1 + vl;
    if (t_code.len == n && t_code.key[0] == k->tag[0] && t_code.key[1] == k->tag[1] && memcmp(t_code.text, buf, n) == 0)
        return t_code.code;
    uint64_t h = fw_siphash24(k->tag, buf, n);
    uint32_t c = (uint32_t)(h ^ (h >> 32));
    c = c ? c : 1; /* 0 means "no model" */
    t_code.key[0] = k->tag[0];
    t_code.key[1] = k->tag[1];
    memcpy(t_code.text, buf, n);
    t_code.len = n;
    t_code.code = c;
    return c;
}

void fw_reqid_format(const fw_reqid_key *k, uint64_t n, uint32_t code, char *out) {
    unsigned char m[9];
    for (int i = 0; i < 8; i++) m[i] = (unsigned char)(n >> (8 * i));
    m[8] = 0;
    put_hex(out, fw_siphash24(k->rnd, m, 9), 16);
    m[8] = 1;
    put_hex(out + 16, fw_siphash24(k->rnd, m, 9), 8);
    fw_reqid_rebind(k, code, out);
}

void fw_reqid_rebind(const fw_reqid_key *k, uint32_t code, char *id) {
    put_hex(id + 24, code ^ code_mask(k, id), 8);
    id[32] = '-';
    put_hex(id + 33, tag_of(k, id), 8);
    id[FW_REQID_LEN] = 0;
}

static bool hex_value(const char *s, int digits, uint64_t *v) {
    *v = 0;
    for (int i = 0; i < digits; i++) {
        const char *h = s[i] ? memchr(HEX, s[i], 16) : NULL;
        if (!h) return false;
        *v = *v << 4 | (uint64_t)(h - HEX);
    }
    return true;
}

bool fw_reqid_code(const fw_reqid_key *k, const char *id, uint32_t *code) {
    uint64_t head, tag;
    if (strlen(id) != FW_REQID_LEN || id[32] != '-' || !hex_value(id, 16, &head) || !hex_value(id + 16, 16, &head) ||
        !hex_value(id + 33, 8, &tag) || (uint32_t)tag != tag_of(k, id))
        return false;
    uint64_t masked;
    hex_value(id + 24, 8, &masked);
    if (code) *code = (uint32_t)masked ^ code_mask(k, id);
    return true;
}

bool fw_reqid_issued(const fw_reqid_key *k, const char *id) { return fw_reqid_code(k, id, NULL); }

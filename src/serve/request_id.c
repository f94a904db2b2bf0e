/* request_id.c — owns request ids (request_id.h): the SipHash-2-4 PRF, the two keys, the id text
 * and its check. */
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
    for (int i = 0; i < 4; i++) {
        uint64_t v = fw_siphash24(seed, &i, sizeof i);
        if (i < 2) k->id[i] = v;
        else k->tag[i - 2] = v;
    }
}

static const char HEX[] = "0123456789abcdef";

static void put_hex(char *o, uint64_t v, int digits) {
    for (int i = digits - 1; i >= 0; i--, v >>= 4) o[i] = HEX[v & 15];
}

static uint32_t tag_of(const fw_reqid_key *k, const char *hex32) { return (uint32_t)fw_siphash24(k->tag, hex32, 32); }

void fw_reqid_format(const fw_reqid_key *k, uint64_t n, char *out) {
    unsigned char m[9];
    for (int i = 0; i < 8; i++) m[i] = (unsigned char)(n >> (8 * i));
    m[8] = 0;
    put_hex(out, fw_siphash24(k->id, m, 9), 16);
    m[8] = 1;
    put_hex(out + 16, fw_siphash24(k->id, m, 9), 16);
    out[32] = '-';
    put_hex(out + 33, tag_of(k, out), 8);
    out[FW_REQID_LEN] = 0;
}

bool fw_reqid_issued(const fw_reqid_key *k, const char *id) {
    if (strlen(id) != FW_REQID_LEN || id[32] != '-') return false;
    uint32_t tag = 0;
    for (int i = 0; i < FW_REQID_LEN; i++) {
        if (i == 32) continue;
        const char *h = memchr(HEX, id[i], 16);
        if (!h || !id[i]) return false;
        if (i > 32) tag = tag << 4 | (uint32_t)(h - HEX);
    }
    return tag == tag_of(k, id);
}

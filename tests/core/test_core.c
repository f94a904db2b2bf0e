/* test_core.c — tests for src/core: status table, allocator hook, buffers, rng, hash map, threads. */
#include "core/alloc.h"
#include "core/buf.h"
#include "core/hash.h"
#include "core/rng.h"
#include "core/threads.h"
#include "test.h"

#include <stdatomic.h>

static void test_status_table(void) {
    CHECK_STR(fw_strerror(FW_OK), "success");
    CHECK_STR(fw_strerror(FW_EPARSE), "parse error");
    CHECK_STR(fw_status_name(FW_ENOMEM), "FW_ENOMEM");
    CHECK_STR(fw_strerror((fw_status)-999), "unknown error");
    fw_err e;
    fw_err_clear(&e);
    CHECK_EQ(fw_err_set(&e, FW_EPARSE, "x.csv:%d:%d: bad", 3, 4), FW_EPARSE);
    fw_err_prefix(&e, "loading");
    CHECK_STR(e.msg, "loading: x.csv:3:4: bad");
}

static void test_alloc_counts_and_fails(void) {
    size_t before = fw_bytes_in_use();
    char *p = fw_malloc(100);
    CHECK(p != NULL);
    CHECK_EQ(fw_bytes_in_use(), before + 100);
    p = fw_realloc(p, 300);
    CHECK_EQ(fw_bytes_in_use(), before + 300);
    fw_free(p);
    CHECK_EQ(fw_bytes_in_use(), before);
    fw_alloc_fail_after(2);
    void *a = fw_malloc(8), *b = fw_malloc(8), *c = fw_malloc(8);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    fw_free(a);
    fw_free(c);
    fw_alloc_fail_after(0);
}

static void test_buf_roundtrip(void) {
    fw_buf b;
    fw_buf_init(&b);
    fw_buf_put_u32(&b, 0xA1B2C3D4u);
    fw_buf_put_u64(&b, 0x0102030405060708ull);
    fw_buf_put_f64(&b, -1.5);
    fw_buf_put_str(&b, "hello");
    fw_buf_put_str(&b, NULL);
    fw_buf_pad(&b, 16);
    fw_buf_put_f32(&b, 2.25f);
    CHECK(fw_buf_ok(&b));
    CHECK_EQ(b.data[0], 0xD4); /* little-endian on disk */
    fw_reader r;
    fw_reader_init(&r, b.data, b.len);
    CHECK_EQ(fw_reader_u32(&r), 0xA1B2C3D4u);
    CHECK(fw_reader_u64(&r) == 0x0102030405060708ull);
    CHECK(fw_reader_f64(&r) == -1.5);
    char *s = NULL;
    CHECK(fw_reader_str(&r, &s));
    CHECK_STR(s, "hello");
    fw_free(s);
    CHECK(fw_reader_str(&r, &s));
    CHECK(s == NULL);
    fw_reader_align(&r, 16);
    CHECK(fw_reader_f32(&r) == 2.25f);
    CHECK(fw_reader_ok(&r));
    fw_reader_u32(&r); /* past the end */
    CHECK(!fw_reader_ok(&r));
    fw_buf_free(&b);
}

static void test_reader_rejects_huge_string(void) {
    uint8_t bytes[6] = {0xF0, 0xFF, 0xFF, 0x7F, 'a', 'b'};
    fw_reader r;
    fw_reader_init(&r, bytes, sizeof bytes);
    char *s;
    CHECK(!fw_reader_str(&r, &s));
    CHECK(!fw_reader_ok(&r));
}

static void test_rng_deterministic(void) {
    fw_rng a, b;
    fw_rng_seed(&a, 7);
    fw_rng_seed(&b, 7);
    for (int i = 0; i < 100; i++) CHECK(fw_rng_next(&a) == fw_rng_next(&b));
    double sum = 0;
    for (int i = 0; i < 10000; i++) {
        double u = fw_rng_uniform(&a);
        CHECK(u >= 0 && u < 1);
        sum += u;
    }
    CHECK_NEAR(sum / 10000, 0.5, 0.02);
    for (int i = 0; i < 1000; i++) CHECK(fw_rng_below(&a, 3) < 3);
}

static void test_strmap(void) {
    fw_strmap m;
    fw_strmap_init(&m);
    char key[32];
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(key, sizeof key, "k%u", i);
        CHECK_OK(fw_strmap_put(&m, key, strlen(key), i * 2));
    }
    CHECK_EQ(m.count, 1000);
    CHECK_EQ(fw_strmap_get(&m, "k500", 4), 1000);
    CHECK_EQ(fw_strmap_get(&m, "k1000", 5), -1);
    CHECK_EQ(fw_strmap_get(&m, "k5", 1), -1); /* prefix "k" only */
    CHECK_OK(fw_strmap_put(&m, "k7", 2, 1));
    CHECK_EQ(fw_strmap_get(&m, "k7", 2), 1);
    CHECK_EQ(m.count, 1000);
    fw_strmap_free(&m);
}

static atomic_long g_sum;
static void add_range(void *ctx, int t, size_t b, size_t e) {
    (void)ctx;
    (void)t;
    long s = 0;
    for (size_t i = b; i < e; i++) s += (long)i;
    atomic_fetch_add(&g_sum, s);
}
static void add_block(void *ctx, int t, size_t blk, size_t b, size_t e) {
    (void)blk;
    add_range(ctx, t, b, e);
}

static void test_parallel(void) {
    atomic_store(&g_sum, 0);
    fw_parallel_for(2, 10001, add_range, NULL);
    CHECK_EQ(atomic_load(&g_sum), 10000L * 10001 / 2);
    atomic_store(&g_sum, 0);
    fw_parallel_blocks(3, 10001, 64, add_block, NULL);
    CHECK_EQ(atomic_load(&g_sum), 10000L * 10001 / 2);
}

int main(int argc, char **argv) {
    (void)argc;
    TEST_RUN(test_status_table);
    TEST_RUN(test_alloc_counts_and_fails);
    TEST_RUN(test_buf_roundtrip);
    TEST_RUN(test_reader_rejects_huge_string);
    TEST_RUN(test_rng_deterministic);
    TEST_RUN(test_strmap);
    TEST_RUN(test_parallel);
    return fw_test_report(argv[0]);
}

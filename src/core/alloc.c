/* alloc.c — owns the allocator hook, the bytes-in-use counter and fail-the-Nth-allocation. */
#include "core/alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static void *default_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static fw_alloc_fn g_alloc = default_alloc;
static void *g_alloc_ud = NULL;
static atomic_size_t g_in_use;
static atomic_long g_count;
static atomic_long g_fail_at; /* absolute allocation number that fails; 0 = never */

void fw_set_allocator(fw_alloc_fn fn, void *ud) {
    g_alloc = fn ? fn : default_alloc;
    g_alloc_ud = fn ? ud : NULL;
}

size_t fw_bytes_in_use(void) { return atomic_load(&g_in_use); }

void fw_alloc_fail_after(long n) {
    atomic_store(&g_fail_at, n > 0 ? atomic_load(&g_count) + n : 0);
}

long fw_alloc_count(void) { return atomic_load(&g_count); }

/* Header kept in front of each block: the payload size, padded to 16 bytes for alignment. */
typedef union hdr {
    size_t size;
    max_align_t align;
} hdr;

static int should_fail(void) {
    long c = atomic_fetch_add(&g_count, 1) + 1;
    long f = atomic_load(&g_fail_at);
    return f != 0 && c == f;
}

void *fw_malloc(size_t n) {
    if (n == 0 || n > SIZE_MAX - sizeof(hdr)) return NULL;
    if (should_fail()) return NULL;
    hdr *h = g_alloc(g_alloc_ud, NULL, 0, n + sizeof(hdr));
    if (!h) return NULL;
    h->size = n;
    atomic_fetch_add(&g_in_use, n);
    return h + 1;
}

void *fw_calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = fw_malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *fw_realloc(void *p, size_t n) {
    if (!p) return fw_malloc(n);
    if (n == 0) {
        fw_free(p);
        return NULL;
    }
    if (n > SIZE_MAX - sizeof(hdr)) return NULL;
    if (should_fail()) return NULL;
    hdr *h = (hdr *)p - 1;
    size_t old = h->size;
    hdr *nh = g_alloc(g_alloc_ud, h, old + sizeof(hdr), n + sizeof(hdr));
    if (!nh) return NULL;
    nh->size = n;
    if (n >= old)
        atomic_fetch_add(&g_in_use, n - old);
    else
        atomic_fetch_sub(&g_in_use, old - n);
    return nh + 1;
}

void fw_free(void *p) {
    if (!p) return;
    hdr *h = (hdr *)p - 1;
    atomic_fetch_sub(&g_in_use, h->size);
    g_alloc(g_alloc_ud, h, h->size + sizeof(hdr), 0);
}

char *fw_strndup(const char *s, size_t n) {
    char *d = fw_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *fw_strdup(const char *s) { return fw_strndup(s, strlen(s)); }

fw_status fw_grow(void **pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return FW_OK;
    size_t nc = *cap ? *cap : 8;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) return FW_ENOMEM;
        nc *= 2;
    }
    if (elem && nc > SIZE_MAX / elem) return FW_ENOMEM;
    void *np = fw_realloc(*pp, nc * elem);
    if (!np) return FW_ENOMEM;
    *pp = np;
    *cap = nc;
    return FW_OK;
}

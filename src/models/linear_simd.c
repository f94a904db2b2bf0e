/* linear_simd.c — owns the linear family's AVX2 kernels: the four-row margins and gradient of
 * multi-output models, eight outputs at a time in 256-bit registers, chosen at run time when the
 * CPU has AVX2 (the build targets x86-64-v2, SSE only). They multiply and add in the same order
 * as the generic code in linear.c / linear_lbfgs.c, with separate multiplies and adds (no fused
 * multiply-add), so models and scores are the same bits on every x86-64 CPU. Elsewhere the
 * kernels do nothing and the generic code runs. */
#include "models/linear_int.h"

#include <stdatomic.h>
#include <string.h>

int fw__linear_simd = 1;

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))

typedef double v4d __attribute__((vector_size(32)));

static bool cpu_has_avx2(void) {
    static atomic_int known = -1;
    int v = atomic_load_explicit(&known, memory_order_relaxed);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx2") ? 1 : 0;
        atomic_store_explicit(&known, v, memory_order_relaxed);
    }
    return v == 1;
}

#define FW__AVX2 __attribute__((target("avx2")))

static inline FW__AVX2 v4d ld4(const double *p) {
    v4d v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline FW__AVX2 void st4(double *p, v4d v) { memcpy(p, &v, sizeof v); }

static FW__AVX2 size_t margins4_avx2(const double *th, size_t no, size_t nd,
                                     const float *const *xs, double *const *ms) {
    const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
    size_t k = 0;
    for (; k + 8 <= no; k += 8) {
        v4d a0 = ld4(th + k), b0 = ld4(th + k + 4);
        v4d a1 = a0, b1 = b0, a2 = a0, b2 = b0, a3 = a0, b3 = b0;
        const double *w = th + no + k;
        for (size_t j = 0; j < nd; j++, w += no) {
            v4d wa = ld4(w), wb = ld4(w + 4);
            double v0 = x0[j], v1 = x1[j], v2 = x2[j], v3 = x3[j];
            v4d p;
            p = v0 * wa; a0 += p;
            p = v0 * wb; b0 += p;
            p = v1 * wa; a1 += p;
            p = v1 * wb; b1 += p;
            p = v2 * wa; a2 += p;
            p = v2 * wb; b2 += p;
            p = v3 * wa; a3 += p;
            p = v3 * wb; b3 += p;
        }
        st4(ms[0] + k, a0); st4(ms[0] + k + 4, b0);
        st4(ms[1] + k, a1); st4(ms[1] + k + 4, b1);
        st4(ms[2] + k, a2); st4(ms[2] + k + 4, b2);
        st4(ms[3] + k, a3); st4(ms[3] + k + 4, b3);
    }
    return k;
}

static FW__AVX2 size_t grad4_avx2(double *gd, size_t no, size_t nd, const float *const *xs,
                                  const double *d) {
    const float *x0 = xs[0], *x1 = xs[1], *x2 = xs[2], *x3 = xs[3];
    const double *d0 = d, *d1 = d + no, *d2 = d + 2 * no, *d3 = d + 3 * no;
    size_t k = 0;
    for (; k + 8 <= no; k += 8) {
        v4d a0 = ld4(d0 + k), b0 = ld4(d0 + k + 4), a1 = ld4(d1 + k), b1 = ld4(d1 + k + 4);
        v4d a2 = ld4(d2 + k), b2 = ld4(d2 + k + 4), a3 = ld4(d3 + k), b3 = ld4(d3 + k + 4);
        double *gr = gd + k;
        for (size_t j = 0; j < nd; j++, gr += no) {
            v4d ga = ld4(gr), gb = ld4(gr + 4), p;
            double v0 = x0[j], v1 = x1[j], v2 = x2[j], v3 = x3[j];
            p = a0 * v0; ga += p;
            p = b0 * v0; gb += p;
            p = a1 * v1; ga += p;
            p = b1 * v1; gb += p;
            p = a2 * v2; ga += p;
            p = b2 * v2; gb += p;
            p = a3 * v3; ga += p;
            p = b3 * v3; gb += p;
            st4(gr, ga);
            st4(gr + 4, gb);
        }
    }
    return k;
}

size_t fw__linear_margins4_simd(const double *th, size_t no, size_t nd, const float *const *xs,
                                double *const *ms) {
    if (!fw__linear_simd || no < 8 || !cpu_has_avx2()) return 0;
    return margins4_avx2(th, no, nd, xs, ms);
}

size_t fw__linear_grad4_simd(double *gd, size_t no, size_t nd, const float *const *xs,
                             const double *d) {
    if (!fw__linear_simd || no < 8 || !cpu_has_avx2()) return 0;
    return grad4_avx2(gd, no, nd, xs, d);
}

#else

size_t fw__linear_margins4_simd(const double *th, size_t no, size_t nd, const float *const *xs,
                                double *const *ms) {
    (void)th, (void)no, (void)nd, (void)xs, (void)ms;
    return 0;
}

size_t fw__linear_grad4_simd(double *gd, size_t no, size_t nd, const float *const *xs,
                             const double *d) {
    (void)gd, (void)no, (void)nd, (void)xs, (void)d;
    return 0;
}

#endif

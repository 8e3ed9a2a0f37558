// Distance kernels with run-time dispatch. Each variant sums in a fixed order for its own
// instruction set; results may differ in the last bits between variants (never between runs
// on one machine), which is why the indexes re-score their final lists with the library's
// canonical Swift kernel.

#include "CKernels.h"
#include <stdio.h>

#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DMLE_X86 1
#endif

static float dot_portable(const float *a, const float *b, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; i++) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

static float l2sq_portable(const float *a, const float *b, size_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1], d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
        s0 += d0 * d0;
        s1 += d1 * d1;
        s2 += d2 * d2;
        s3 += d3 * d3;
    }
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s0 += d * d;
    }
    return (s0 + s1) + (s2 + s3);
}

#ifdef DMLE_X86

static inline float horizontal_sum128(__m128 v) {
    __m128 shuffled = _mm_movehl_ps(v, v);
    __m128 sums = _mm_add_ps(v, shuffled);
    shuffled = _mm_shuffle_ps(sums, sums, 0x55);
    return _mm_cvtss_f32(_mm_add_ss(sums, shuffled));
}

static float dot_sse2(const float *a, const float *b, size_t n) {
    __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
        s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
    }
    float s = horizontal_sum128(_mm_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static float l2sq_sse2(const float *a, const float *b, size_t n) {
    __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128 d0 = _mm_sub_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i));
        __m128 d1 = _mm_sub_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4));
        s0 = _mm_add_ps(s0, _mm_mul_ps(d0, d0));
        s1 = _mm_add_ps(s1, _mm_mul_ps(d1, d1));
    }
    float s = horizontal_sum128(_mm_add_ps(s0, s1));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

__attribute__((target("avx2,fma")))
static inline float horizontal_sum256(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v), high = _mm256_extractf128_ps(v, 1);
    __m128 sums = _mm_add_ps(low, high);
    __m128 shuffled = _mm_movehl_ps(sums, sums);
    sums = _mm_add_ps(sums, shuffled);
    shuffled = _mm_shuffle_ps(sums, sums, 0x55);
    return _mm_cvtss_f32(_mm_add_ss(sums, shuffled));
}

__attribute__((target("avx2,fma")))
static float dot_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = horizontal_sum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

__attribute__((target("avx2,fma")))
static float l2sq_avx2(const float *a, const float *b, size_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
        s1 = _mm256_fmadd_ps(d1, d1, s1);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
        s0 = _mm256_fmadd_ps(d0, d0, s0);
    }
    float s = horizontal_sum256(_mm256_add_ps(s0, s1));
    for (; i < n; i++) {
        float d = a[i] - b[i];
        s += d * d;
    }
    return s;
}

__attribute__((target("avx512f")))
static float dot_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1u);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

__attribute__((target("avx512f")))
static float l2sq_avx512(const float *a, const float *b, size_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
    }
    for (; i + 16 <= n; i += 16) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
    }
    if (i < n) {
        __mmask16 mask = (__mmask16)((1u << (n - i)) - 1u);
        __m512 d0 = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
        s1 = _mm512_fmadd_ps(d0, d0, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

#endif

typedef float (*kernel_fn)(const float *, const float *, size_t);

struct kernels {
    kernel_fn dot;
    kernel_fn l2sq;
    const char *isa;
};

static struct kernels choose(void) {
    struct kernels k = {dot_portable, l2sq_portable, "portable"};
#ifdef DMLE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        k = (struct kernels){dot_avx512, l2sq_avx512, "avx512f"};
    } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        k = (struct kernels){dot_avx2, l2sq_avx2, "avx2+fma"};
    } else {
        k = (struct kernels){dot_sse2, l2sq_sse2, "sse2"};
    }
#endif
    return k;
}

// Chosen before main by a constructor, so the hot calls read a plain pointer.
static struct kernels active = {dot_portable, l2sq_portable, "portable"};

__attribute__((constructor))
static void dmle_choose_kernels(void) { active = choose(); }

float dmle_dot(const float *a, const float *b, size_t n) { return active.dot(a, b, n); }
float dmle_l2sq(const float *a, const float *b, size_t n) { return active.l2sq(a, b, n); }
const char *dmle_kernel_isa(void) { return active.isa; }

void dmle_lock(uint8_t *lock) {
    for (;;) {
        for (int spin = 0; spin < 64; spin++) {
            if (__atomic_load_n(lock, __ATOMIC_RELAXED) == 0 && __atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE) == 0) return;
#ifdef DMLE_X86
            _mm_pause();
#endif
        }
        sched_yield();
    }
}

/* Flushes standard output and reports whether anything written to it was lost (a full disk,
   a closed pipe): the command-line tool turns that into an error instead of exit 0. */
int dml_stdout_failed(void) {
    int flushed = fflush(stdout);
    return flushed != 0 || ferror(stdout);
}

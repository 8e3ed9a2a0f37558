// The exact search's canonical score g (ExactSearch.canonicalScore in Swift), for one
// reference against many queries at once. Every variant performs, for each pair, exactly the
// operations of the Swift kernel in the same order, so the results are the same bits:
//
//   a[l] = 0 for the 16 lanes l; for each whole block of 16 dimensions j:
//       a[l] = a[l] + x[j + l] * y[j + l]        (multiply, then add: never fused)
//   v[l] = a[l] + a[l + 8] for l < 8
//   s = ((((((v[0] + v[1]) + v[2]) + v[3]) + v[4]) + v[5]) + v[6]) + v[7]
//   s = s + x[j] * y[j] for each remaining dimension, in order
//
// with x = q, y = r for inner products, and x = y = q - r (and the result negated) for
// squared distances. The vector variants only lay the 16 lanes of a pair out in registers;
// no sum is reassociated and nothing is contracted into a fused multiply-add (the pragma
// below, and the variants' target attributes leave out FMA where they can).
#include "CKernels.h"
#include "canonical_order.h"

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DMLE_CANONICAL_X86 1
#endif

static void canonical_portable(const float *r, const float *queries, const int32_t *rows, size_t stride, size_t count,
                               int32_t first, size_t d, int squared_l2, float *out) {
    for (size_t i = 0; i < count; i++) {
        out[i] = canonical_one(queries + (ptrdiff_t)(rows[i * stride] - first) * (ptrdiff_t)d, r, d, squared_l2);
    }
}

#ifdef DMLE_CANONICAL_X86

/// The tail and the lane sum of one pair whose 16 lanes are in `lo` (lanes 0-7) and `hi`.
__attribute__((target("avx2")))
static inline float finish_avx2(__m256 lo, __m256 hi, const float *q, const float *r, size_t j, size_t d, int squared_l2) {
    float v[8];
    _mm256_storeu_ps(v, _mm256_add_ps(lo, hi));
    float s = v[0];
    for (int l = 1; l < 8; l++) s = s + v[l];
    return finish_tail(s, q, r, j, d, squared_l2);
}

/// Four queries at a time against the one reference: each reference block is loaded once.
__attribute__((target("avx2")))
static void canonical_avx2(const float *r, const float *queries, const int32_t *rows, size_t stride, size_t count,
                           int32_t first, size_t d, int squared_l2, float *out) {
    size_t i = 0;
    for (; i + 4 <= count; i += 4) {
        const float *q[4];
        for (int k = 0; k < 4; k++) q[k] = queries + (ptrdiff_t)(rows[(i + k) * stride] - first) * (ptrdiff_t)d;
        __m256 lo0 = _mm256_setzero_ps(), hi0 = _mm256_setzero_ps(), lo1 = _mm256_setzero_ps(), hi1 = _mm256_setzero_ps();
        __m256 lo2 = _mm256_setzero_ps(), hi2 = _mm256_setzero_ps(), lo3 = _mm256_setzero_ps(), hi3 = _mm256_setzero_ps();
        size_t j = 0;
        if (squared_l2) {
            for (; j + 16 <= d; j += 16) {
                __m256 r0 = _mm256_loadu_ps(r + j), r1 = _mm256_loadu_ps(r + j + 8), t;
                t = _mm256_sub_ps(_mm256_loadu_ps(q[0] + j), r0); lo0 = _mm256_add_ps(lo0, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[0] + j + 8), r1); hi0 = _mm256_add_ps(hi0, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[1] + j), r0); lo1 = _mm256_add_ps(lo1, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[1] + j + 8), r1); hi1 = _mm256_add_ps(hi1, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[2] + j), r0); lo2 = _mm256_add_ps(lo2, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[2] + j + 8), r1); hi2 = _mm256_add_ps(hi2, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[3] + j), r0); lo3 = _mm256_add_ps(lo3, _mm256_mul_ps(t, t));
                t = _mm256_sub_ps(_mm256_loadu_ps(q[3] + j + 8), r1); hi3 = _mm256_add_ps(hi3, _mm256_mul_ps(t, t));
            }
        } else {
            for (; j + 16 <= d; j += 16) {
                __m256 r0 = _mm256_loadu_ps(r + j), r1 = _mm256_loadu_ps(r + j + 8);
                lo0 = _mm256_add_ps(lo0, _mm256_mul_ps(_mm256_loadu_ps(q[0] + j), r0));
                hi0 = _mm256_add_ps(hi0, _mm256_mul_ps(_mm256_loadu_ps(q[0] + j + 8), r1));
                lo1 = _mm256_add_ps(lo1, _mm256_mul_ps(_mm256_loadu_ps(q[1] + j), r0));
                hi1 = _mm256_add_ps(hi1, _mm256_mul_ps(_mm256_loadu_ps(q[1] + j + 8), r1));
                lo2 = _mm256_add_ps(lo2, _mm256_mul_ps(_mm256_loadu_ps(q[2] + j), r0));
                hi2 = _mm256_add_ps(hi2, _mm256_mul_ps(_mm256_loadu_ps(q[2] + j + 8), r1));
                lo3 = _mm256_add_ps(lo3, _mm256_mul_ps(_mm256_loadu_ps(q[3] + j), r0));
                hi3 = _mm256_add_ps(hi3, _mm256_mul_ps(_mm256_loadu_ps(q[3] + j + 8), r1));
            }
        }
        out[i] = finish_avx2(lo0, hi0, q[0], r, j, d, squared_l2);
        out[i + 1] = finish_avx2(lo1, hi1, q[1], r, j, d, squared_l2);
        out[i + 2] = finish_avx2(lo2, hi2, q[2], r, j, d, squared_l2);
        out[i + 3] = finish_avx2(lo3, hi3, q[3], r, j, d, squared_l2);
    }
    for (; i < count; i++) {
        const float *q = queries + (ptrdiff_t)(rows[i * stride] - first) * (ptrdiff_t)d;
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        size_t j = 0;
        for (; j + 16 <= d; j += 16) {
            __m256 x0 = _mm256_loadu_ps(q + j), x1 = _mm256_loadu_ps(q + j + 8);
            __m256 y0 = _mm256_loadu_ps(r + j), y1 = _mm256_loadu_ps(r + j + 8);
            if (squared_l2) {
                x0 = _mm256_sub_ps(x0, y0);
                x1 = _mm256_sub_ps(x1, y1);
                y0 = x0;
                y1 = x1;
            }
            lo = _mm256_add_ps(lo, _mm256_mul_ps(x0, y0));
            hi = _mm256_add_ps(hi, _mm256_mul_ps(x1, y1));
        }
        out[i] = finish_avx2(lo, hi, q, r, j, d, squared_l2);
    }
}

#endif

typedef void (*canonical_fn)(const float *, const float *, const int32_t *, size_t, size_t, int32_t, size_t, int, float *);

static canonical_fn canonical_active = canonical_portable;
static const char *canonical_isa = "portable";

void dmle_canonical_scores(const float *r, const float *queries, const int32_t *rows, size_t stride, size_t count,
                           int32_t first, size_t d, int squared_l2, float *out) {
    canonical_active(r, queries, rows, stride, count, first, d, squared_l2, out);
}

void dmle_canonical_scores_portable(const float *r, const float *queries, const int32_t *rows, size_t stride, size_t count,
                                    int32_t first, size_t d, int squared_l2, float *out) {
    canonical_portable(r, queries, rows, stride, count, first, d, squared_l2, out);
}

const char *dmle_canonical_isa(void) { return canonical_isa; }

// The scores that reach a threshold: the exact search's candidate folds test every score of a
// tile against a query's threshold (a row's against one, a column's each against its own),
// and only a few pass. The vector variants compare a step of scores into a bit mask and
// write the passing positions (a column) or scores and indices (a row) in order; the scores
// past the last whole step go through the plain loop.

/// Writes the positions base + b of the set bits b of `mask`, lowest first, from out[k];
/// returns the new count.
static inline size_t emit_positions(uint32_t mask, size_t base, uint32_t *out, size_t k) {
    while (mask) {
        out[k++] = (uint32_t)(base + (size_t)__builtin_ctz(mask));
        mask &= mask - 1;
    }
    return k;
}

/// The plain loop, from position i on, appending to out[k ...]; returns the new count.
static inline size_t tail_ge_each(const float *x, const float *t, size_t i, size_t n, uint32_t *out, size_t k) {
    for (; i < n; i++) {
        if (x[i] >= t[i]) out[k++] = (uint32_t)i;
    }
    return k;
}

static size_t positions_ge_each_portable(const float *x, const float *t, size_t n, uint32_t *out) {
    return tail_ge_each(x, t, 0, n, out, 0);
}

/// The gather: every (score, first + position) with x[i] >= t and i != skip, in order.
static size_t gather_ge_portable(const float *x, size_t n, float t, size_t skip, int32_t first, float *scores, int32_t *indices) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] >= t && i != skip) {
            scores[k] = x[i];
            indices[k] = first + (int32_t)i;
            k++;
        }
    }
    return k;
}

#ifdef DMLE_CANONICAL_X86

/// Sixteen scores per step, the masks moved out with movemask.
__attribute__((target("avx2")))
static size_t positions_ge_each_avx2(const float *x, const float *t, size_t n, uint32_t *out) {
    size_t k = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(t + i), _CMP_GE_OQ))
            | (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(t + i + 8), _CMP_GE_OQ)) << 8;
        k = emit_positions(mask, i, out, k);
    }
    return tail_ge_each(x, t, i, n, out, k);
}

/// The gather in AVX2, which has no compress: sixteen scores per step compared into a mask,
/// the passing ones written in turn (a step where none passes costs the compares and a test).
__attribute__((target("avx2")))
static size_t gather_ge_avx2(const float *x, size_t n, float t, size_t skip, int32_t first, float *scores, int32_t *indices) {
    size_t k = 0, i = 0;
    const __m256 tv = _mm256_set1_ps(t);
    for (; i + 16 <= n; i += 16) {
        uint32_t mask = (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), tv, _CMP_GE_OQ))
            | (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i + 8), tv, _CMP_GE_OQ)) << 8;
        if (skip - i < 16) mask &= ~(1u << (skip - i));
        while (mask) {
            const size_t l = i + (size_t)__builtin_ctz(mask);
            scores[k] = x[l];
            indices[k] = first + (int32_t)l;
            k++;
            mask &= mask - 1;
        }
    }
    return k + gather_ge_portable(x + i, n - i, t, skip - i, first + (int32_t)i, scores + k, indices + k);
}

/// Thirty-two scores per step, the comparisons straight into mask registers.
__attribute__((target("avx512f")))
static size_t positions_ge_each_avx512(const float *x, const float *t, size_t n, uint32_t *out) {
    size_t k = 0, i = 0;
    for (; i + 32 <= n; i += 32) {
        uint32_t mask = (uint32_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(x + i), _mm512_loadu_ps(t + i), _CMP_GE_OQ)
            | (uint32_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(t + i + 16), _CMP_GE_OQ) << 16;
        k = emit_positions(mask, i, out, k);
    }
    return tail_ge_each(x, t, i, n, out, k);
}

/// The scores of one step of sixteen that pass (`mask`) and first + their positions,
/// compressed into the low lanes and written with a masked store (no write past the last one;
/// a compressing store to memory is slow on AMD processors); returns the new count.
__attribute__((target("avx512f")))
static inline size_t emit_pairs(__m512 v, __mmask16 mask, int32_t position, float *scores, int32_t *indices, size_t k) {
    const unsigned found = (unsigned)__builtin_popcount((unsigned)mask);
    const __mmask16 low = (__mmask16)((1u << found) - 1);
    const __m512i positions = _mm512_add_epi32(_mm512_set1_epi32(position), _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    _mm512_mask_storeu_ps(scores + k, low, _mm512_maskz_compress_ps(mask, v));
    _mm512_mask_storeu_epi32(indices + k, low, _mm512_maskz_compress_epi32(mask, positions));
    return k + found;
}

/// Thirty-two scores per step, compared into two masks; a step where none passes (most of
/// them, for shallow lists) costs the two compares and a test.
__attribute__((target("avx512f")))
static size_t gather_ge_avx512(const float *x, size_t n, float t, size_t skip, int32_t first, float *scores, int32_t *indices) {
    size_t k = 0, i = 0;
    const __m512 tv = _mm512_set1_ps(t);
    for (; i + 32 <= n; i += 32) {
        const __m512 v0 = _mm512_loadu_ps(x + i), v1 = _mm512_loadu_ps(x + i + 16);
        uint32_t mask = (uint32_t)_mm512_cmp_ps_mask(v0, tv, _CMP_GE_OQ) | (uint32_t)_mm512_cmp_ps_mask(v1, tv, _CMP_GE_OQ) << 16;
        if (skip - i < 32) mask &= ~(1u << (skip - i));
        if (mask == 0) continue;
        k = emit_pairs(v0, (__mmask16)mask, first + (int32_t)i, scores, indices, k);
        k = emit_pairs(v1, (__mmask16)(mask >> 16), first + (int32_t)i + 16, scores, indices, k);
    }
    return k + gather_ge_portable(x + i, n - i, t, skip - i, first + (int32_t)i, scores + k, indices + k);
}

#endif

typedef size_t (*positions_each_fn)(const float *, const float *, size_t, uint32_t *);
static positions_each_fn positions_each_active = positions_ge_each_portable;
typedef size_t (*gather_fn)(const float *, size_t, float, size_t, int32_t, float *, int32_t *);
static gather_fn gather_active = gather_ge_portable;

// The exact search's kernels, chosen once before main: AVX2 where the processor has it, and
// the threshold scans in AVX-512 where it has that (a fifth fewer samples in the scans of a
// k = 100 search than AVX2's).
__attribute__((constructor))
static void dmle_choose_exact_kernels(void) {
#ifdef DMLE_CANONICAL_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) {
        canonical_active = canonical_avx2;
        canonical_isa = "avx2";
        gather_active = gather_ge_avx2;
        positions_each_active = positions_ge_each_avx2;
    }
    if (__builtin_cpu_supports("avx512f")) {
        positions_each_active = positions_ge_each_avx512;
        gather_active = gather_ge_avx512;
    }
#endif
}

size_t dmle_positions_ge_each(const float *x, const float *t, size_t n, uint32_t *out) {
    return positions_each_active(x, t, n, out);
}

// Each vector variant by name (tests), the portable one where the processor lacks it.
size_t dmle_positions_ge_each_variant(int isa, const float *x, const float *t, size_t n, uint32_t *out) {
#ifdef DMLE_CANONICAL_X86
    __builtin_cpu_init();
    if (isa == 2 && __builtin_cpu_supports("avx2")) return positions_ge_each_avx2(x, t, n, out);
    if (isa == 3 && __builtin_cpu_supports("avx512f")) return positions_ge_each_avx512(x, t, n, out);
#endif
    (void)isa;
    return positions_ge_each_portable(x, t, n, out);
}

size_t dmle_positions_ge_each_portable(const float *x, const float *t, size_t n, uint32_t *out) {
    return positions_ge_each_portable(x, t, n, out);
}

size_t dmle_gather_ge(const float *x, size_t n, float t, size_t skip, int32_t first, float *scores, int32_t *indices) {
    return gather_active(x, n, t, skip, first, scores, indices);
}

size_t dmle_gather_ge_variant(int isa, const float *x, size_t n, float t, size_t skip, int32_t first, float *scores,
                              int32_t *indices) {
#ifdef DMLE_CANONICAL_X86
    __builtin_cpu_init();
    if (isa == 2 && __builtin_cpu_supports("avx2")) return gather_ge_avx2(x, n, t, skip, first, scores, indices);
    if (isa == 3 && __builtin_cpu_supports("avx512f")) return gather_ge_avx512(x, n, t, skip, first, scores, indices);
#endif
    (void)isa;
    return gather_ge_portable(x, n, t, skip, first, scores, indices);
}

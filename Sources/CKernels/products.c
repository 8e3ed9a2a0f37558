// Tiles of inner products in the canonical score's fixed order (canonical.c), so that every
// product the exact search computes is already the canonical score g, bit for bit: no
// candidate then needs re-scoring, however close its neighbours are.
//
// For each pair (q, r) the operations are exactly those of canonical.c:
//
//   a[l] = 0 for the 16 lanes l; for each whole block of 16 dimensions j:
//       a[l] = a[l] + q[j + l] * r[j + l]        (multiply, then add: never fused)
//   v[l] = a[l] + a[l + 8] for l < 8
//   s = ((((((v[0] + v[1]) + v[2]) + v[3]) + v[4]) + v[5]) + v[6]) + v[7]
//   s = s + q[j] * r[j] for each remaining dimension, in order
//
// The AVX-512 kernel holds one pair's 16 lanes in one register, four queries by four
// references at a time (sixteen accumulators), so each loaded block of a row serves four
// pairs. The lane sums of the sixteen pairs are then taken together: two pairs' v share a
// register (one per 256-bit half), the eight registers are transposed within each half so
// that register l holds v[l] of every pair, and the seven additions run across the sixteen at
// once, each pair's in its own order. Separate multiply and add units make this as fast as fused
// multiply-adds on processors that have them (AMD Zen 4: one 512-bit multiply and one add per
// cycle); where they share units (Intel's cores run both on the same ports) it would be
// about half as fast, unmeasured here, so the search's cost model takes it by itself only on
// AMD processors (ExactSearch.chosenProducts; `dmle_fixed_products_pays`).
#include "CKernels.h"
#include "canonical_order.h"

#pragma STDC FP_CONTRACT OFF

#if defined(__x86_64__)
#include <immintrin.h>
#define DMLE_PRODUCTS_X86 1
#endif

static void fixed_products_portable(const float *a, size_t lda, const float *b, size_t ldb, size_t rows, size_t cols,
                                    size_t d, float *c, size_t ldc) {
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) c[i * ldc + j] = canonical_one(a + i * lda, b + j * ldb, d, 0);
    }
}

#ifdef DMLE_PRODUCTS_X86

#define DMLE_AVX512 __attribute__((target("avx512f")))

/// The lane sums of sixteen pairs: pairs p and p + 8 share a register (v_p in the low half,
/// v_(p+8) in the high), and the eight registers are transposed within each half.
DMLE_AVX512 static inline __m512 sum_sixteen(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 a4, __m512 a5, __m512 a6, __m512 a7,
                                              __m512 a8, __m512 a9, __m512 a10, __m512 a11, __m512 a12, __m512 a13, __m512 a14, __m512 a15) {
#define FOLD2(x, y) _mm512_add_ps(_mm512_shuffle_f32x4(x, y, 0x44), _mm512_shuffle_f32x4(x, y, 0xEE))
    __m512 v0 = FOLD2(a0, a8), v1 = FOLD2(a1, a9), v2 = FOLD2(a2, a10), v3 = FOLD2(a3, a11);
    __m512 v4 = FOLD2(a4, a12), v5 = FOLD2(a5, a13), v6 = FOLD2(a6, a14), v7 = FOLD2(a7, a15);
#undef FOLD2
    __m512 t0 = _mm512_unpacklo_ps(v0, v1), t1 = _mm512_unpackhi_ps(v0, v1);
    __m512 t2 = _mm512_unpacklo_ps(v2, v3), t3 = _mm512_unpackhi_ps(v2, v3);
    __m512 t4 = _mm512_unpacklo_ps(v4, v5), t5 = _mm512_unpackhi_ps(v4, v5);
    __m512 t6 = _mm512_unpacklo_ps(v6, v7), t7 = _mm512_unpackhi_ps(v6, v7);
    __m512 u0 = _mm512_shuffle_ps(t0, t2, 0x44), u1 = _mm512_shuffle_ps(t0, t2, 0xEE);
    __m512 u2 = _mm512_shuffle_ps(t1, t3, 0x44), u3 = _mm512_shuffle_ps(t1, t3, 0xEE);
    __m512 u4 = _mm512_shuffle_ps(t4, t6, 0x44), u5 = _mm512_shuffle_ps(t4, t6, 0xEE);
    __m512 u6 = _mm512_shuffle_ps(t5, t7, 0x44), u7 = _mm512_shuffle_ps(t5, t7, 0xEE);
    // Within each 256-bit half: lanes 0-3 from u_k's first 128 bits and lanes 4-7 from
    // u_(k+4)'s (T_k), or their second 128 bits (T_(k+4)).
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
    const __m512i hi = _mm512_setr_epi32(4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
    __m512 s = _mm512_add_ps(_mm512_permutex2var_ps(u0, lo, u4), _mm512_permutex2var_ps(u1, lo, u5));
    s = _mm512_add_ps(s, _mm512_permutex2var_ps(u2, lo, u6));
    s = _mm512_add_ps(s, _mm512_permutex2var_ps(u3, lo, u7));
    s = _mm512_add_ps(s, _mm512_permutex2var_ps(u0, hi, u4));
    s = _mm512_add_ps(s, _mm512_permutex2var_ps(u1, hi, u5));
    s = _mm512_add_ps(s, _mm512_permutex2var_ps(u2, hi, u6));
    s = _mm512_add_ps(s, _mm512_permutex2var_ps(u3, hi, u7));
    // Lane p (< 8) is pair p's sum, lane 8 + p pair (8 + p)'s.
    return s;
}

/// Four queries q[0..3] against four references r[0..3]: lane 4 i + j holds g(q[i], r[j]), the
/// tail of d mod 16 dimensions included.
DMLE_AVX512 static inline __m512 micro_4x4(const float *const q[4], const float *const r[4], size_t d) {
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    size_t j = 0;
    for (; j + 16 <= d; j += 16) {
        __m512 r0 = _mm512_loadu_ps(r[0] + j), r1 = _mm512_loadu_ps(r[1] + j);
        __m512 r2 = _mm512_loadu_ps(r[2] + j), r3 = _mm512_loadu_ps(r[3] + j);
        // One query's block against the four references' (the same four operations per row).
#define DMLE_QUERY_ROW(k, c0, c1, c2, c3)                                                                              \
    {                                                                                                                  \
        __m512 x = _mm512_loadu_ps(q[k] + j);                                                                          \
        c0 = _mm512_add_ps(c0, _mm512_mul_ps(x, r0));                                                                  \
        c1 = _mm512_add_ps(c1, _mm512_mul_ps(x, r1));                                                                  \
        c2 = _mm512_add_ps(c2, _mm512_mul_ps(x, r2));                                                                  \
        c3 = _mm512_add_ps(c3, _mm512_mul_ps(x, r3));                                                                  \
    }
        DMLE_QUERY_ROW(0, a00, a01, a02, a03)
        DMLE_QUERY_ROW(1, a10, a11, a12, a13)
        DMLE_QUERY_ROW(2, a20, a21, a22, a23)
        DMLE_QUERY_ROW(3, a30, a31, a32, a33)
#undef DMLE_QUERY_ROW
    }
    __m512 s = sum_sixteen(a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
    // The tail, one dimension at a time: each pair's product, then its sum, as in canonical_one.
    for (; j < d; j++) {
        __m512 x = _mm512_setr_ps(q[0][j], q[0][j], q[0][j], q[0][j], q[1][j], q[1][j], q[1][j], q[1][j], q[2][j], q[2][j],
                                  q[2][j], q[2][j], q[3][j], q[3][j], q[3][j], q[3][j]);
        __m512 y = _mm512_setr_ps(r[0][j], r[1][j], r[2][j], r[3][j], r[0][j], r[1][j], r[2][j], r[3][j], r[0][j], r[1][j],
                                  r[2][j], r[3][j], r[0][j], r[1][j], r[2][j], r[3][j]);
        s = _mm512_add_ps(s, _mm512_mul_ps(x, y));
    }
    return s;
}

/// Stores the scores of four queries by four references (lane 4 i + j) at o, rows ldc apart:
/// the first mi rows of the first nj columns.
DMLE_AVX512 static inline void store_4x4(float *o, size_t ldc, __m512 s, size_t mi, size_t nj) {
    if (mi == 4 && nj == 4) {
        // Straight from the register, a row of four at a time (3% of the kernel's time against
        // a copy through memory).
        _mm_storeu_ps(o, _mm512_castps512_ps128(s));
        _mm_storeu_ps(o + ldc, _mm512_extractf32x4_ps(s, 1));
        _mm_storeu_ps(o + 2 * ldc, _mm512_extractf32x4_ps(s, 2));
        _mm_storeu_ps(o + 3 * ldc, _mm512_extractf32x4_ps(s, 3));
    } else {
        float out[16];
        _mm512_storeu_ps(out, s);
        for (size_t x = 0; x < mi; x++) {
            for (size_t y = 0; y < nj; y++) o[x * ldc + y] = out[4 * x + y];
        }
    }
}

/// Queries per block and references per panel: every group of four queries of a block passes
/// over a panel (48 KiB at d = 384, in the level-2 cache, as is most of the block), its own
/// four rows in the level-1 cache. Blocks of 256 were 10-20% faster than none on the row
/// path's shape (2,048 queries by 15,000 references) and no slower on a tile's.
#define DMLE_BLOCK 256
#define DMLE_PANEL 32

DMLE_AVX512 static void fixed_products_avx512(const float *a, size_t lda, const float *b, size_t ldb, size_t rows,
                                               size_t cols, size_t d, float *c, size_t ldc) {
    if (rows == 0 || cols == 0) return;
    for (size_t i0 = 0; i0 < rows; i0 += DMLE_BLOCK) {
        size_t i1 = i0 + DMLE_BLOCK < rows ? i0 + DMLE_BLOCK : rows;
        for (size_t j0 = 0; j0 < cols; j0 += DMLE_PANEL) {
            size_t j1 = j0 + DMLE_PANEL < cols ? j0 + DMLE_PANEL : cols;
            for (size_t i = i0; i < i1; i += 4) {
                // At the edges the last row (or reference) stands in for the missing ones; their
                // results are not stored.
                const float *q[4];
                for (size_t k = 0; k < 4; k++) q[k] = a + (i + k < i1 ? i + k : i1 - 1) * lda;
                size_t mi = i1 - i < 4 ? i1 - i : 4;
                for (size_t j = j0; j < j1; j += 4) {
                    const float *r[4];
                    for (size_t k = 0; k < 4; k++) r[k] = b + (j + k < j1 ? j + k : j1 - 1) * ldb;
                    size_t nj = j1 - j < 4 ? j1 - j : 4;
                    store_4x4(c + i * ldc + j, ldc, micro_4x4(q, r, d), mi, nj);
                }
            }
        }
    }
}

#endif

typedef void (*products_fn)(const float *, size_t, const float *, size_t, size_t, size_t, size_t, float *, size_t);
static products_fn products_active = fixed_products_portable;
static const char *products_isa = "portable";
static int products_pay = 0;

__attribute__((constructor))
static void dmle_choose_products_kernel(void) {
#ifdef DMLE_PRODUCTS_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) {
        products_active = fixed_products_avx512;
        products_isa = "avx512f";
        // Separate multiply and add pipes (Zen 4 and later): as fast as sgemm's fused ones.
        products_pay = __builtin_cpu_is("amd");
    }
#endif
}

int dmle_fixed_products_pays(void) { return products_pay; }

void dmle_fixed_products(const float *a, size_t lda, const float *b, size_t ldb, size_t rows, size_t cols, size_t d,
                         float *c, size_t ldc) {
    products_active(a, lda, b, ldb, rows, cols, d, c, ldc);
}

void dmle_fixed_products_portable(const float *a, size_t lda, const float *b, size_t ldb, size_t rows, size_t cols,
                                  size_t d, float *c, size_t ldc) {
    fixed_products_portable(a, lda, b, ldb, rows, cols, d, c, ldc);
}

const char *dmle_fixed_products_isa(void) { return products_isa; }

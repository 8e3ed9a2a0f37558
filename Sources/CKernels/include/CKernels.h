// Small C kernels: for the approximate indexes, inner products and squared distances with the
// widest vector unit the processor has (chosen once at run time, so one binary serves every
// x86-64 machine), a prefetch, and byte-sized spin locks for the graph's link lists; for the
// exact search, the canonical score in its fixed order and the threshold scans of its folds.
#ifndef DMLEVAL_CKERNELS_H
#define DMLEVAL_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// sum_i a[i] * b[i] over n floats.
float dmle_dot(const float *a, const float *b, size_t n);

/// sum_i (a[i] - b[i])^2 over n floats.
float dmle_l2sq(const float *a, const float *b, size_t n);

/// The instruction set the kernels use on this processor: "avx512f", "avx2+fma", "sse2" or
/// "portable".
const char *dmle_kernel_isa(void);

/// Asks for the cache lines of `length` bytes from `p` (read, keep in all levels).
static inline void dmle_prefetch(const void *p, size_t length) {
    const char *c = (const char *)p;
    for (size_t offset = 0; offset < length; offset += 64) __builtin_prefetch(c + offset, 0, 3);
}

/// The exact search's canonical score (ExactSearch.canonicalScore, bit for bit) of one
/// reference `r` against `count` queries: out[i] = g(queries + (rows[i * stride] - first) * d, r),
/// an inner product, or minus the squared distance when `squared_l2` is nonzero. Uses AVX2 when
/// the processor has it (four queries per pass over the reference), the same operations in the
/// same order either way.
void dmle_canonical_scores(const float *r, const float *queries, const int32_t *rows, size_t stride, size_t count,
                           int32_t first, size_t d, int squared_l2, float *out);

/// `dmle_canonical_scores` without vector instructions (tests: every variant gives the same bits).
void dmle_canonical_scores_portable(const float *r, const float *queries, const int32_t *rows, size_t stride, size_t count,
                                    int32_t first, size_t d, int squared_l2, float *out);

/// The instruction set `dmle_canonical_scores` uses here: "avx2" or "portable".
const char *dmle_canonical_isa(void);

/// c[i * ldc + j] = g(a + i * lda, b + j * ldb) for i < rows, j < cols: inner products of d
/// floats in the canonical score's fixed order (`dmle_canonical_scores`, bit for bit), a tile
/// at a time. AVX-512 when the processor has it, else one pair at a time without vector
/// instructions (then far slower than sgemm: see `dmle_fixed_products_isa`).
void dmle_fixed_products(const float *a, size_t lda, const float *b, size_t ldb, size_t rows, size_t cols, size_t d,
                         float *c, size_t ldc);

/// `dmle_fixed_products` without vector instructions (tests: the same bits).
void dmle_fixed_products_portable(const float *a, size_t lda, const float *b, size_t ldb, size_t rows, size_t cols,
                                  size_t d, float *c, size_t ldc);

/// The instruction set `dmle_fixed_products` uses here: "avx512f" or "portable".
const char *dmle_fixed_products_isa(void);

/// Nonzero where the vector kernel is measured to pay against sgemm on deep lists: AVX-512 on
/// an AMD processor (separate multiply and add pipes).
int dmle_fixed_products_pays(void);

/// Writes to `out` the positions i < n, in order, with x[i] >= t[i] (false for NaN); returns
/// how many. AVX-512 or AVX2 when the processor has it.
size_t dmle_positions_ge_each(const float *x, const float *t, size_t n, uint32_t *out);

/// The same without vector instructions, and in one instruction set (tests): 2 AVX2, 3
/// AVX-512, the portable loop for any other value or where the processor lacks it.
size_t dmle_positions_ge_each_portable(const float *x, const float *t, size_t n, uint32_t *out);
size_t dmle_positions_ge_each_variant(int isa, const float *x, const float *t, size_t n, uint32_t *out);

/// Writes to `scores` and `indices` every x[i] >= t (false for NaN) with i != skip, and
/// first + i, in order of i; returns how many (at most n: both buffers need room for n).
/// AVX-512 or AVX2 when the processor has it. `skip` at n or beyond skips nothing.
size_t dmle_gather_ge(const float *x, size_t n, float t, size_t skip, int32_t first, float *scores, int32_t *indices);

/// The same in one instruction set (tests): 2 AVX2, 3 AVX-512, the portable loop for any
/// other value or where the processor lacks it.
size_t dmle_gather_ge_variant(int isa, const float *x, size_t n, float t, size_t skip, int32_t first, float *scores,
                              int32_t *indices);

/// Rearranges the n pairs (s[i], ix[i]) so that those whose score reaches t, the k-th largest
/// score, come first, in no order; stores t in `threshold` and returns how many reach it (at
/// least k: every score above t, and every pair tied at t). Returns 0, leaving a permutation
/// of the pairs, when k is 0 or above n, or when a NaN score is met as a pivot.
/// A quickselect whose partitions do not branch on the data: O(n) expected.
size_t dmle_keep_top(float *s, int32_t *ix, size_t n, size_t k, float *threshold);

/// The k-th largest of the n floats of x (1 = the largest), reordering them; NaN when k is 0 or
/// above n, or when a NaN is met as a pivot. `dmle_keep_top`'s quickselect, on scores alone.
float dmle_kth_largest(float *x, size_t n, size_t k);

/// Takes a one-byte lock: 0 free, 1 held. Spins briefly, then yields the core. Swift code
/// takes it through `ByteLock.with`, which releases it when its body returns.
void dmle_lock(uint8_t *lock);

/// Releases a lock taken by `dmle_lock`.
static inline void dmle_unlock(uint8_t *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

#ifdef __cplusplus
}
#endif

/* Flushes standard output; nonzero when anything written to it was lost. */
int dml_stdout_failed(void);

#endif

// Small C kernels for the approximate indexes: inner products and squared distances with the
// widest vector unit the processor has (chosen once at run time, so one binary serves every
// x86-64 machine), a prefetch, and byte-sized spin locks for the graph's link lists.
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

// The canonical score g, one pair at a time: the definition every kernel of canonical.c and
// products.c must equal bit for bit (and ExactSearch.canonicalScore in Swift). Included by
// both, so that the order is written once; not part of the module's interface.
#ifndef DMLEVAL_CANONICAL_ORDER_H
#define DMLEVAL_CANONICAL_ORDER_H

#include <stddef.h>

// Multiplies and adds stay separate roundings, in the written order, in every file that
// includes this one.
#pragma STDC FP_CONTRACT OFF

#if defined(__FAST_MATH__)
#error "the canonical kernels must be built without -ffast-math: their sums must keep their order and rounding"
#endif

static inline float finish_lanes(const float a[16]) {
    float v[8];
    for (int l = 0; l < 8; l++) v[l] = a[l] + a[l + 8];
    float s = v[0];
    for (int l = 1; l < 8; l++) s = s + v[l];
    return s;
}

/// Adds the products of dimensions j ..< d to s, in order, and negates the sum for squared
/// distances: the end of every variant.
static inline float finish_tail(float s, const float *q, const float *r, size_t j, size_t d, int squared_l2) {
    for (; j < d; j++) {
        float x = squared_l2 ? q[j] - r[j] : q[j];
        float y = squared_l2 ? x : r[j];
        float p = x * y;
        s = s + p;
    }
    return squared_l2 ? -s : s;
}

static inline float canonical_one(const float *q, const float *r, size_t d, int squared_l2) {
    float a[16] = {0};
    size_t j = 0;
    for (; j + 16 <= d; j += 16) {
        for (int l = 0; l < 16; l++) {
            float x = squared_l2 ? q[j + l] - r[j + l] : q[j + l];
            float y = squared_l2 ? x : r[j + l];
            float p = x * y;
            a[l] = a[l] + p;
        }
    }
    return finish_tail(finish_lanes(a), q, r, j, d, squared_l2);
}

#endif

// The candidate buffers' compaction (TopKBuffers.compact): the k-th largest score and the
// pairs that reach it, by a quickselect whose partitions do not branch on the data.
#include "CKernels.h"

static inline float median_of_three(float a, float b, float c) {
    float lo = a < b ? a : b, hi = a < b ? b : a;
    return c < lo ? lo : (c > hi ? hi : c);
}

size_t dmle_keep_top(float *s, int32_t *ix, size_t n, size_t k, float *threshold) {
    if (k == 0 || k > n) return 0;
    const size_t target = k - 1;
    size_t lo = 0, hi = n;
    for (;;) {
        // [0, lo) holds scores above every score of [lo, hi), [hi, n) scores below them, and
        // the target position lies in [lo, hi).
        const float p = median_of_three(s[lo], s[lo + (hi - lo) / 2], s[hi - 1]);
        if (p != p) return 0;
        // Scores above p to the front of [lo, hi): every element is swapped with the first
        // one not yet known to be above p, and the boundary moves when it was.
        size_t above = lo;
        for (size_t i = lo; i < hi; i++) {
            const float x = s[i];
            const int32_t y = ix[i];
            s[i] = s[above];
            ix[i] = ix[above];
            s[above] = x;
            ix[above] = y;
            above += x > p;
        }
        if (target < above) {
            hi = above;  // p is in [above, hi), so the range shrinks
            continue;
        }
        // Scores equal to p next.
        size_t equal = above;
        for (size_t i = above; i < hi; i++) {
            const float x = s[i];
            const int32_t y = ix[i];
            s[i] = s[equal];
            ix[i] = ix[equal];
            s[equal] = x;
            ix[equal] = y;
            equal += x == p;
        }
        if (target < equal) {
            *threshold = p;
            return equal;
        }
        lo = equal;  // at least p itself was equal: the range shrinks
    }
}

float dmle_kth_largest(float *x, size_t n, size_t k) {
    if (k == 0 || k > n) return __builtin_nanf("");
    const size_t target = k - 1;
    size_t lo = 0, hi = n;
    for (;;) {
        const float p = median_of_three(x[lo], x[lo + (hi - lo) / 2], x[hi - 1]);
        if (p != p) return p;
        size_t above = lo;
        for (size_t i = lo; i < hi; i++) {
            const float v = x[i];
            x[i] = x[above];
            x[above] = v;
            above += v > p;
        }
        if (target < above) {
            hi = above;
            continue;
        }
        size_t equal = above;
        for (size_t i = above; i < hi; i++) {
            const float v = x[i];
            x[i] = x[equal];
            x[equal] = v;
            equal += v == p;
        }
        if (target < equal) return p;
        lo = equal;
    }
}

// The candidate buffers' compaction (TopKBuffers.compact): the k-th largest score and the
// pairs that reach it, by a quickselect whose partitions do not branch on the data.
#include "CKernels.h"

static inline float median_of_three(float a, float b, float c) {
    float lo = a < b ? a : b, hi = a < b ? b : a;
    return c < lo ? lo : (c > hi ? hi : c);
}

// Moves the elements of [lo, hi) that are above p (or, with `equal`, equal to p) to the front
// of the range and returns where they end: every element is swapped with the first one not
// yet known to qualify, and that boundary moves when it did. No branch depends on the values.
static inline size_t partition_pairs(float *s, int32_t *ix, size_t lo, size_t hi, float p, int equal) {
    size_t boundary = lo;
    for (size_t i = lo; i < hi; i++) {
        const float x = s[i];
        const int32_t y = ix ? ix[i] : 0;
        s[i] = s[boundary];
        s[boundary] = x;
        if (ix) {
            ix[i] = ix[boundary];
            ix[boundary] = y;
        }
        boundary += equal ? x == p : x > p;
    }
    return boundary;
}

// The quickselect of both entry points (`ix` null: scores alone). Returns the k-th largest
// score in `threshold` and how many elements reach it, all of them first; 0 for a NaN pivot.
static inline size_t select_top(float *s, int32_t *ix, size_t n, size_t k, float *threshold) {
    const size_t target = k - 1;
    size_t lo = 0, hi = n;
    // Median-of-three pivots can be led astray by contrived orders; past twice the levels a
    // good pivot needs, the pivots are drawn at (deterministic) random positions instead.
    size_t levels = 0, limit = 16;
    for (size_t m = n; m > 1; m >>= 1) limit += 2;
    uint64_t state = 0x9E3779B97F4A7C15ull ^ n;
    for (;;) {
        // [0, lo) holds scores above every score of [lo, hi), [hi, n) scores below them, and
        // the target position lies in [lo, hi).
        float p;
        if (++levels <= limit) {
            p = median_of_three(s[lo], s[lo + (hi - lo) / 2], s[hi - 1]);
        } else {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            p = s[lo + (size_t)(state % (uint64_t)(hi - lo))];
        }
        if (p != p) return 0;
        const size_t above = partition_pairs(s, ix, lo, hi, p, 0);
        if (target < above) {
            hi = above;  // p itself is in [above, hi), so the range shrinks
            continue;
        }
        const size_t equal = partition_pairs(s, ix, above, hi, p, 1);
        if (target < equal) {
            *threshold = p;
            return equal;
        }
        lo = equal;  // at least p itself was equal: the range shrinks
    }
}

size_t dmle_keep_top(float *s, int32_t *ix, size_t n, size_t k, float *threshold) {
    if (k == 0 || k > n) return 0;
    return select_top(s, ix, n, k, threshold);
}

float dmle_kth_largest(float *x, size_t n, size_t k) {
    float threshold = __builtin_nanf("");
    if (k == 0 || k > n) return threshold;
    select_top(x, 0, n, k, &threshold);
    return threshold;
}

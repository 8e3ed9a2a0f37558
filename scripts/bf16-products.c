// What a bfloat16 filter would cost in front of the canonical products (docs/benchmarks.md,
// "A bfloat16 filter, measured"): on one core, one tile of 1,024 x 1,024 rows of a data set,
//   - the canonical products (`dmle_fixed_products`, the deep path's kernel),
//   - the same tile in bfloat16 (AVX512_BF16 `vdpbf16ps`, 4 x 4 pairs per step, float sums),
//   - the canonical scores again for a share of the tile's pairs (those with the best filtered
//     scores), a reference at a time against its rows (`dmle_canonical_scores`), as the filter
//     would have to score them again.
// Prints each as milliseconds per tile and as a share of the canonical products.
//
//   clang -O2 -I Sources/CKernels/include -o /tmp/bf16-products scripts/bf16-products.c \
//       Sources/CKernels/products.c Sources/CKernels/canonical.c -lm
//   /tmp/bf16-products EMB.npy SHARE [ROUNDS]     (SHARE from scripts/bf16-filter-window.py)
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "CKernels.h"

#define N 1024

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7FFF + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

// c[i][j] = sum over k of a_i[k] b_j[k] in bfloat16 pairs, float sums; d a multiple of 32.
__attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
static void bf16_products(const uint16_t *a, const uint16_t *b, size_t d, float *c) {
    for (size_t i0 = 0; i0 < N; i0 += 256)
        for (size_t j0 = 0; j0 < N; j0 += 32)
            for (size_t i = i0; i < i0 + 256; i += 4)
                for (size_t j = j0; j < j0 + 32; j += 4) {
                    __m512 acc[16];
                    for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
                    for (size_t t = 0; t < d; t += 32) {
                        __m512bh r[4];
                        for (int y = 0; y < 4; y++) r[y] = (__m512bh)_mm512_loadu_si512(b + (j + y) * d + t);
                        for (int x = 0; x < 4; x++) {
                            __m512bh q = (__m512bh)_mm512_loadu_si512(a + (i + x) * d + t);
                            for (int y = 0; y < 4; y++) acc[4 * x + y] = _mm512_dpbf16_ps(acc[4 * x + y], q, r[y]);
                        }
                    }
                    for (int x = 0; x < 4; x++)
                        for (int y = 0; y < 4; y++) c[(i + x) * N + j + y] = _mm512_reduce_add_ps(acc[4 * x + y]);
                }
}

static int by_value(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a < b) - (a > b);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s EMB.npy SHARE [ROUNDS]\n", argv[0]);
        return 2;
    }
    if (!__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "%s: this processor has no AVX512_BF16\n", argv[0]);
        return 2;
    }
    double share = atof(argv[2]);
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    FILE *f = fopen(argv[1], "rb");
    unsigned char head[10];
    if (!f || fread(head, 1, 10, f) != 10 || memcmp(head, "\x93NUMPY", 6) != 0 || head[6] != 1) {
        fprintf(stderr, "%s: %s is not a version-1 .npy file\n", argv[0], argv[1]);
        return 2;
    }
    size_t header = head[8] | (size_t)head[9] << 8;
    char *text = calloc(header + 1, 1);
    if (fread(text, 1, header, f) != header || !strstr(text, "'<f4'") || strstr(text, "True")) {
        fprintf(stderr, "%s: %s: expected little-endian float32 rows in C order\n", argv[0], argv[1]);
        return 2;
    }
    char *shape = strstr(text, "'shape': (");
    size_t rows = 0, d = 0;
    if (!shape || sscanf(shape, "'shape': (%zu, %zu)", &rows, &d) != 2 || rows < 2 * N || d % 32 != 0) {
        fprintf(stderr, "%s: %s: expected at least %d rows of a multiple of 32 dimensions\n", argv[0], argv[1], 2 * N);
        return 2;
    }
    float *x = malloc(2 * N * d * sizeof(float));
    if (fread(x, sizeof(float), 2 * N * d, f) != 2 * N * d) return 2;
    fclose(f);
    for (size_t i = 0; i < 2 * N; i++) {  // unit rows, as the cosine search scores them
        double s = 0;
        for (size_t k = 0; k < d; k++) s += (double)x[i * d + k] * x[i * d + k];
        float inv = s > 0 ? (float)(1 / __builtin_sqrt(s)) : 0;
        for (size_t k = 0; k < d; k++) x[i * d + k] *= inv;
    }
    uint16_t *xb = malloc(2 * N * d * sizeof(uint16_t));
    for (size_t i = 0; i < 2 * N * d; i++) xb[i] = to_bf16(x[i]);
    float *canonical = malloc(N * N * sizeof(float)), *filtered = malloc(N * N * sizeof(float));
    float *sorted = malloc(N * N * sizeof(float)), *again = malloc(N * sizeof(float));
    int32_t *members = malloc(N * sizeof(int32_t));
    bf16_products(xb, xb + N * d, d, filtered);
    memcpy(sorted, filtered, N * N * sizeof(float));
    qsort(sorted, N * N, sizeof(float), by_value);
    size_t keep = (size_t)(share * N * N);
    float cut = keep > 0 ? sorted[keep - 1] : __builtin_inff();
    printf("%s, tile %d x %d, d %zu, one core; canonical kernel %s, re-scoring %s\n", argv[1], N, N, d,
           dmle_fixed_products_isa(), dmle_canonical_isa());
    for (int round = 0; round < rounds; round++) {
        double t0 = now();
        dmle_fixed_products(x, d, x + N * d, d, N, N, d, canonical, N);
        double t1 = now();
        bf16_products(xb, xb + N * d, d, filtered);
        double t2 = now();
        size_t scored = 0;
        for (size_t j = 0; j < N; j++) {
            size_t count = 0;
            for (size_t i = 0; i < N; i++)
                if (filtered[i * N + j] >= cut) members[count++] = (int32_t)i;
            dmle_canonical_scores(x + (N + j) * d, x, members, 1, count, 0, d, 0, again);
            for (size_t m = 0; m < count; m++) filtered[members[m] * N + j] = again[m];
            scored += count;
        }
        double t3 = now();
        double base = t1 - t0;
        printf("canonical %.2f ms; bfloat16 %.2f ms (%.2f); %zu pairs again (%.1f%%) %.2f ms (%.2f); filter in all %.2f\n",
               base * 1e3, (t2 - t1) * 1e3, (t2 - t1) / base, scored, 100.0 * scored / (N * N), (t3 - t2) * 1e3,
               (t3 - t2) / base, (t3 - t1) / base);
    }
    double worst = 0;
    for (size_t i = 0; i < N * N; i++) {
        double e = __builtin_fabs((double)canonical[i] - filtered[i]);
        if (filtered[i] < cut && e > worst) worst = e;
    }
    printf("largest |g - a| among the pairs not scored again: %.5f\n", worst);
    return 0;
}

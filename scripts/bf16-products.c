// A bfloat16 filter in front of the canonical products, measured (docs/benchmarks.md, "A
// bfloat16 filter in front of the products, measured"). Not part of dmleval: a prototype
// kernel and its harness, kept so that the figures can be measured again.
//
// The filter scores every pair (q, r) of a tile in bfloat16 (s), and scores again in the
// canonical order (g, the search's bits) every pair that may reach its bar, min(t_q, t_r),
// each side's threshold. Exact by a rigorous bound: with q', r' the rows rounded to bfloat16,
// e_q = |q - q'| and n_q >= max(|q|, |q'|),
//     |g - s| <= n_q e_r + e_q n_r + 2 gamma_d n_q n_r + slack,
// since q.r - q'.r' = q'.(r - r') + (q - q').r (Cauchy-Schwarz), each float sum is within
// gamma_d = d 2^-24 / (1 - d 2^-24) of its exact value times n_q n_r (a product of two
// bfloat16 values is exact in float), and the slack covers subnormals. A pair whose s plus the
// bound is below its bar has g below it too, so it cannot enter either list. The kernel takes
// the bound's last factor whole, as `gamma` = 2 gamma_d, with 1% to spare for the rounding of
// the bound itself. Unit rows only (as the cosine search scores them): rows near FLT_MAX could
// round to infinity in bfloat16.
//
// The kernel: 4 x 4 pairs per step in bfloat16 (`vdpbf16ps`), in blocks of rows and panels of
// 32 references as the canonical kernel (`fixed_products_avx512`); each 4 x 4's scores tested
// against their bars at once; the pairs that may reach them listed per reference and scored
// again at the end of the panel, a reference against up to 16 of its rows at once, in the
// canonical order (`sum_sixteen`, each pair's sums in the written order).
//
// The harness: ROWS queries (the first rows, unit length; 200 by default, about the symmetric
// row path's block on the held-back shape) against COLS references (the next rows; 8,192), the
// bars at each row's and each column's 1 - SHARE quantile of its canonical scores (SHARE 0.05,
// about the held-back shape's depth). These are the true bars; the search's own (seeded from a
// sample) sit lower, so it would score more pairs again than the harness does. It checks every
// pair (the canonical bits wherever g reaches the bar, below the bar elsewhere), then
// alternates the canonical products, the filter, and the filter with no bars (bfloat16
// alone), ROUNDS times on one core, and prints the medians.
//
//   clang -O2 -I Sources/CKernels/include -o /tmp/bf16-products scripts/bf16-products.c \
//       Sources/CKernels/canonical.c -lm
//   /tmp/bf16-products EMB.npy [SHARE [ROUNDS [ROWS [COLS]]]]
#include "../Sources/CKernels/products.c"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef DMLE_PRODUCTS_X86
#error "the prototype needs x86-64 (AVX512_BF16)"
#endif


#define DMLE_BF16 __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))

/// Four queries against four references in bfloat16 (rows of `dpad` values, a multiple of
/// 32): lane 4 i + j holds their product, summed in float in an order of its own (the
/// filter's bound holds for any order).
DMLE_BF16 static inline __m512 bf16_micro_4x4(const uint16_t *const q[4], const uint16_t *const r[4], size_t dpad) {
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m512 a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (size_t t = 0; t < dpad; t += 32) {
        __m512bh r0 = (__m512bh)_mm512_loadu_si512(r[0] + t), r1 = (__m512bh)_mm512_loadu_si512(r[1] + t);
        __m512bh r2 = (__m512bh)_mm512_loadu_si512(r[2] + t), r3 = (__m512bh)_mm512_loadu_si512(r[3] + t);
#define DMLE_BF16_ROW(k, c0, c1, c2, c3)                                                                               \
    {                                                                                                                  \
        __m512bh x = (__m512bh)_mm512_loadu_si512(q[k] + t);                                                           \
        c0 = _mm512_dpbf16_ps(c0, x, r0);                                                                              \
        c1 = _mm512_dpbf16_ps(c1, x, r1);                                                                              \
        c2 = _mm512_dpbf16_ps(c2, x, r2);                                                                              \
        c3 = _mm512_dpbf16_ps(c3, x, r3);                                                                              \
    }
        DMLE_BF16_ROW(0, a00, a01, a02, a03)
        DMLE_BF16_ROW(1, a10, a11, a12, a13)
        DMLE_BF16_ROW(2, a20, a21, a22, a23)
        DMLE_BF16_ROW(3, a30, a31, a32, a33)
#undef DMLE_BF16_ROW
    }
    return sum_sixteen(a00, a01, a02, a03, a10, a11, a12, a13, a20, a21, a22, a23, a30, a31, a32, a33);
}

/// Rows first .. first + 3 (the last row before `end` standing in for those past it): their
/// bfloat16 rows, bars, norm bounds and error norms.
static inline void four_rows(const uint16_t *xb, size_t dpad, const float *bar, const float *norm, const float *err,
                             size_t first, size_t end, const uint16_t *rows[4], float b[4], float n[4], float e[4]) {
    for (size_t k = 0; k < 4; k++) {
        size_t x = first + k < end ? first + k : end - 1;
        rows[k] = xb + x * dpad;
        b[k] = bar[x];
        n[k] = norm[x];
        e[k] = err[x];
    }
}

/// The canonical scores g(q_m, r) of `count` rows q_m (at most 16) against one reference r,
/// into out[m * ldc] (`canonical_one`, bit for bit): each pair's 16 lanes in one register, the
/// reference's block loaded once for all of them, their lane sums together (`sum_sixteen`,
/// each pair's in the written order), then each pair's tail.
DMLE_AVX512 static void rescore_column(const float *r, const float *const *q, size_t count, size_t d, float *const *out) {
    const float *p[16];
    for (size_t m = 0; m < 16; m++) p[m] = q[m < count ? m : count - 1];
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    __m512 a8 = a0, a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0;
    size_t j = 0;
#define DMLE_PAIR(m) a##m = _mm512_add_ps(a##m, _mm512_mul_ps(_mm512_loadu_ps(p[m] + j), y))
    if (count > 8) {
        for (; j + 16 <= d; j += 16) {
            __m512 y = _mm512_loadu_ps(r + j);
            DMLE_PAIR(0); DMLE_PAIR(1); DMLE_PAIR(2); DMLE_PAIR(3); DMLE_PAIR(4); DMLE_PAIR(5); DMLE_PAIR(6); DMLE_PAIR(7);
            DMLE_PAIR(8); DMLE_PAIR(9); DMLE_PAIR(10); DMLE_PAIR(11); DMLE_PAIR(12); DMLE_PAIR(13); DMLE_PAIR(14); DMLE_PAIR(15);
        }
    } else {
        // Eight or fewer: half the work (the other eight lanes' sums are not stored).
        for (; j + 16 <= d; j += 16) {
            __m512 y = _mm512_loadu_ps(r + j);
            DMLE_PAIR(0); DMLE_PAIR(1); DMLE_PAIR(2); DMLE_PAIR(3); DMLE_PAIR(4); DMLE_PAIR(5); DMLE_PAIR(6); DMLE_PAIR(7);
        }
    }
#undef DMLE_PAIR
    float sums[16];
    _mm512_storeu_ps(sums, sum_sixteen(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, a13, a14, a15));
    for (size_t m = 0; m < count; m++) *out[m] = finish_tail(sums[m], p[m], r, j, d, 0);
}

/// The filter with AVX512_BF16: the tile in blocks of rows and panels of
/// references as `fixed_products_avx512`, four by four; each four by four's scores tested at
/// once against their bars, and the pairs that may reach them listed by reference, then
/// scored again a reference at a time at the end of each panel, while its rows are in cache.
DMLE_BF16 static size_t filtered_avx512(const float *a, const uint16_t *ab, size_t rows, const float *b, const uint16_t *bb,
                                        size_t cols, size_t d, size_t dpad, const float *row_bar, const float *row_norm,
                                        const float *row_err, const float *col_bar, const float *col_norm,
                                        const float *col_err, float gamma, float slack, float *c, size_t ldc) {
    if (rows == 0 || cols == 0) return 0;
    size_t rescored = 0;
    // Per reference of the panel, the block's rows to score again.
    uint16_t listed[DMLE_PANEL][DMLE_BLOCK];
    size_t counts[DMLE_PANEL];
    const __m512 gv = _mm512_set1_ps(gamma), sv = _mm512_set1_ps(slack);
    for (size_t i0 = 0; i0 < rows; i0 += DMLE_BLOCK) {
        size_t i1 = i0 + DMLE_BLOCK < rows ? i0 + DMLE_BLOCK : rows;
        for (size_t j0 = 0; j0 < cols; j0 += DMLE_PANEL) {
            size_t j1 = j0 + DMLE_PANEL < cols ? j0 + DMLE_PANEL : cols;
            // The panel's float rows, which only the pairs scored again read: on their way
            // to the level-2 cache while the panel is scored in bfloat16.
            for (size_t e = j0; e < j1; e++) {
                for (size_t k = 0; k < d; k += 16) _mm_prefetch((const char *)(b + e * d + k), _MM_HINT_T1);
            }
            for (size_t e = 0; e < DMLE_PANEL; e++) counts[e] = 0;
            for (size_t i = i0; i < i1; i += 4) {
                const uint16_t *qb[4];
                float rb[4], rn[4], re[4];
                size_t mi = i1 - i < 4 ? i1 - i : 4;
                four_rows(ab, dpad, row_bar, row_norm, row_err, i, i1, qb, rb, rn, re);
                // Lane 4 x + y holds row x's value.
                const __m512i by_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
                const __m512 rbv = _mm512_permutexvar_ps(by_row, _mm512_castps128_ps512(_mm_loadu_ps(rb)));
                const __m512 rnv = _mm512_permutexvar_ps(by_row, _mm512_castps128_ps512(_mm_loadu_ps(rn)));
                const __m512 rev = _mm512_permutexvar_ps(by_row, _mm512_castps128_ps512(_mm_loadu_ps(re)));
                for (size_t j = j0; j < j1; j += 4) {
                    const uint16_t *rbp[4];
                    float cb[4], cn[4], ce[4];
                    size_t nj = j1 - j < 4 ? j1 - j : 4;
                    four_rows(bb, dpad, col_bar, col_norm, col_err, j, j1, rbp, cb, cn, ce);
                    __m512 s = bf16_micro_4x4(qb, rbp, dpad);
                    // Lane 4 x + y holds column y's value.
                    __m512 cnv = _mm512_broadcast_f32x4(_mm_loadu_ps(cn));
                    __m512 bar = _mm512_min_ps(rbv, _mm512_broadcast_f32x4(_mm_loadu_ps(cb)));
                    // |g - s| <= n_q e_r + e_q n_r + gamma n_q n_r + slack, gamma = 2 gamma_d (see the top of this file).
                    __m512 eps = _mm512_mul_ps(rnv, _mm512_broadcast_f32x4(_mm_loadu_ps(ce)));
                    eps = _mm512_add_ps(eps, _mm512_mul_ps(rev, cnv));
                    eps = _mm512_add_ps(eps, _mm512_mul_ps(_mm512_mul_ps(gv, rnv), cnv));
                    eps = _mm512_add_ps(eps, sv);
                    __mmask16 reach = _mm512_cmp_ps_mask(_mm512_add_ps(s, eps), bar, _CMP_GE_OQ);
                    store_4x4(c + i * ldc + j, ldc, s, mi, nj);
                    if (mi < 4 || nj < 4) {
                        __mmask16 inside = 0;
                        for (size_t x = 0; x < mi; x++) {
                            for (size_t y = 0; y < nj; y++) inside |= (__mmask16)(1u << (4 * x + y));
                        }
                        reach &= inside;
                    }
                    while (reach) {
                        unsigned lane = (unsigned)__builtin_ctz(reach);
                        reach &= (__mmask16)(reach - 1);
                        size_t col = j - j0 + (lane & 3);
                        listed[col][counts[col]++] = (uint16_t)(i - i0 + (lane >> 2));
                    }
                }
            }
            // The panel's pairs, a reference at a time, sixteen of its rows at once.
            for (size_t e = j0; e < j1; e++) {
                size_t n = counts[e - j0];
                for (size_t m0 = 0; m0 < n; m0 += 16) {
                    const float *q[16];
                    float *out[16];
                    size_t g = n - m0 < 16 ? n - m0 : 16;
                    for (size_t m = 0; m < g; m++) {
                        size_t row = i0 + listed[e - j0][m0 + m];
                        q[m] = a + row * d;
                        out[m] = c + row * ldc + e;
                    }
                    rescore_column(b + e * d, q, g, d, out);
                }
                rescored += n;
            }
        }
    }
    return rescored;
}


/// A float rounded to bfloat16 (to nearest, ties to even); subnormals to signed zeros.
static uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static float from_bf16(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_float(const void *x, const void *y) {
    float a = *(const float *)x, b = *(const float *)y;
    return (a > b) - (a < b);
}

static int by_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/// Rows of `x` (n x d) to bfloat16 rows of `dpad`, with each row's norm bound and error norm.
static void prepare(const float *x, size_t n, size_t d, size_t dpad, uint16_t *xb, float *norm, float *err) {
    for (size_t i = 0; i < n; i++) {
        double s = 0, sb = 0, se = 0;
        for (size_t k = 0; k < dpad; k++) {
            uint16_t h = k < d ? to_bf16(x[i * d + k]) : 0;
            xb[i * dpad + k] = h;
            if (k >= d) continue;
            double v = x[i * d + k], w = from_bf16(h);
            s += v * v;
            sb += w * w;
            se += (v - w) * (v - w);
        }
        norm[i] = (float)(sqrt(s > sb ? s : sb) * (1 + 1e-5));
        err[i] = (float)(sqrt(se) * (1 + 1e-5));
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s EMB.npy [SHARE [ROUNDS [ROWS [COLS]]]]\n", argv[0]);
        return 2;
    }
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "%s: this processor has no AVX512_BF16\n", argv[0]);
        return 2;
    }
    double share = argc > 2 ? atof(argv[2]) : 0.05;
    int rounds = argc > 3 ? atoi(argv[3]) : 15;
    size_t rows = argc > 4 ? (size_t)atol(argv[4]) : 200, cols = argc > 5 ? (size_t)atol(argv[5]) : 8192;
    if (share <= 0 || share >= 1 || rounds < 1 || rounds > 99 || rows < 1 || rows > 4096 || cols < 1) {
        fprintf(stderr, "%s: expected 0 < SHARE < 1, 1 <= ROUNDS <= 99, 1 <= ROWS <= 4096, COLS >= 1\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    unsigned char magic[10];
    if (!f || fread(magic, 1, 10, f) != 10 || memcmp(magic, "\x93NUMPY", 6) != 0 || magic[6] != 1) {
        fprintf(stderr, "%s: %s is not a version-1 .npy file\n", argv[0], argv[1]);
        return 2;
    }
    size_t header = magic[8] | (size_t)magic[9] << 8;
    char *text = calloc(header + 1, 1);
    size_t n = 0, d = 0;
    char *shape = NULL, close = 0;
    if (!text || fread(text, 1, header, f) != header || !strstr(text, "'<f4'") || strstr(text, "True") ||
        !(shape = strstr(text, "'shape': (")) || sscanf(shape, "'shape': (%zu, %zu%c", &n, &d, &close) != 3 || close != ')' ||
        n < rows + cols || d < 1 || d > 65536) {
        fprintf(stderr, "%s: %s: expected at least %zu little-endian float32 rows (2-D, C order, 1 to 65,536 columns)\n",
                argv[0], argv[1], rows + cols);
        return 2;
    }
    size_t dpad = (d + 31) / 32 * 32;
    float *x = malloc((rows + cols) * d * sizeof(float));
    if (!x || fread(x, sizeof(float), (rows + cols) * d, f) != (rows + cols) * d) {
        fprintf(stderr, "%s: %s: could not read %zu x %zu floats\n", argv[0], argv[1], rows + cols, d);
        return 2;
    }
    fclose(f);
    for (size_t i = 0; i < rows + cols; i++) {  // unit rows, as the cosine search scores them
        double s = 0;
        for (size_t k = 0; k < d; k++) s += (double)x[i * d + k] * x[i * d + k];
        float inv = s > 0 ? (float)(1 / sqrt(s)) : 0;
        for (size_t k = 0; k < d; k++) x[i * d + k] *= inv;
    }
    const float *a = x, *b = x + rows * d;
    uint16_t *ab = malloc(rows * dpad * 2), *bb = malloc(cols * dpad * 2);
    float *rn = malloc(rows * 4), *re = malloc(rows * 4), *cn = malloc(cols * 4), *ce = malloc(cols * 4);
    prepare(a, rows, d, dpad, ab, rn, re);
    prepare(b, cols, d, dpad, bb, cn, ce);
    float gamma = (float)(2 * d * ldexp(1, -24) / (1 - d * ldexp(1, -24)) * 1.01), slack = ldexpf(1, -100);
    // The canonical scores, and the bars at each row's and each column's quantile.
    float *g = malloc(rows * cols * 4), *c = malloc(rows * cols * 4), *tmp = malloc((rows > cols ? rows : cols) * 4);
    float *rb = malloc(rows * 4), *cb = malloc(cols * 4), *none = malloc((rows > cols ? rows : cols) * 4);
    if (!ab || !bb || !rn || !re || !cn || !ce || !g || !c || !tmp || !rb || !cb || !none) {
        fprintf(stderr, "%s: out of memory for %zu x %zu scores\n", argv[0], rows, cols);
        return 2;
    }
    dmle_fixed_products(a, d, b, d, rows, cols, d, g, cols);
    for (size_t i = 0; i < rows; i++) {
        memcpy(tmp, g + i * cols, cols * 4);
        qsort(tmp, cols, 4, by_float);
        rb[i] = tmp[(size_t)((1 - share) * (cols - 1))];
    }
    for (size_t j = 0; j < cols; j++) {
        for (size_t i = 0; i < rows; i++) tmp[i] = g[i * cols + j];
        qsort(tmp, rows, 4, by_float);
        cb[j] = tmp[(size_t)((1 - share) * (rows - 1))];
    }
    for (size_t i = 0; i < (rows > cols ? rows : cols); i++) none[i] = INFINITY;
    size_t again = filtered_avx512(a, ab, rows, b, bb, cols, d, dpad, rb, rn, re, cb, cn, ce, gamma, slack, c, cols);
    size_t needed = 0, wrong = 0;
    double mean_err = 0, largest = 0;
    for (size_t i = 0; i < rows; i++) mean_err += re[i] / rn[i] / rows;
    for (size_t i = 0; i < rows; i++) {
        for (size_t j = 0; j < cols; j++) {
            size_t k = i * cols + j;
            float bar = rb[i] < cb[j] ? rb[i] : cb[j];
            if (g[k] >= bar) {
                needed++;
                if (memcmp(&g[k], &c[k], 4) != 0) wrong++;
            } else if (!(c[k] < bar)) {
                wrong++;
            }
            if (memcmp(&g[k], &c[k], 4) != 0 && fabs((double)g[k] - c[k]) > largest) largest = fabs((double)g[k] - c[k]);
        }
    }
    printf("%s: %zu x %zu rows, d %zu, one core; bars at the %.1f%% quantiles; mean |q - q'| / |q| %.5f\n", argv[1], rows,
           cols, d, 100 * (1 - share), mean_err);
    printf("pairs reaching their bar %.2f%%, scored again %.2f%%; wrong scores: %zu; largest |g - s| left %.5f\n",
           100.0 * needed / (rows * cols), 100.0 * again / (rows * cols), wrong, largest);
    double filt[99], alone[99], pair[99], canon[99];
    for (int r = 0; r < rounds; r++) {
        double t0 = now();
        dmle_fixed_products(a, d, b, d, rows, cols, d, g, cols);
        double t1 = now();
        filtered_avx512(a, ab, rows, b, bb, cols, d, dpad, rb, rn, re, cb, cn, ce, gamma, slack, c, cols);
        double t2 = now();
        filtered_avx512(a, ab, rows, b, bb, cols, d, dpad, none, rn, re, none, cn, ce, gamma, slack, c, cols);
        double t3 = now();
        filt[r] = (t2 - t1) / (t1 - t0);
        alone[r] = (t3 - t2) / (t1 - t0);
        pair[r] = again > 0 ? ((t2 - t1) - (t3 - t2)) * 1e9 / (double)again : 0;
        canon[r] = (t1 - t0) * 1e9 / (double)(rows * cols);
    }
    qsort(filt, rounds, 8, by_double);
    qsort(alone, rounds, 8, by_double);
    qsort(pair, rounds, 8, by_double);
    qsort(canon, rounds, 8, by_double);
    printf("medians of %d rounds: filter / canonical %.3f (%.3f-%.3f); bfloat16 alone / canonical %.3f; "
           "a pair scored again %.1f ns, a pair of the canonical tile %.1f ns\n",
           rounds, filt[rounds / 2], filt[0], filt[rounds - 1], alone[rounds / 2], pair[rounds / 2], canon[rounds / 2]);
    return wrong != 0;
}

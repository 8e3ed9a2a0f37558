import CKernels
import Testing
@testable import RetrievalEval

/// The C kernel of the canonical score against the Swift one it must equal bit for bit: every
/// variant (the one this processor uses, and the portable one), inner products and squared
/// distances, every dimension count from 1 to 70 (whole blocks of 16 and every tail) and the
/// real ones, groups of one to nine queries (the four-at-a-time passes and the rest).
@Suite("Canonical score kernel")
struct CanonicalKernelTests {
    /// Values over many binades, with signs and exact zeros, so that rounding differs between
    /// orders of summation.
    static func values(_ count: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0 ..< count).map { _ in
            if Int.random(in: 0 ..< 16, using: &rng) == 0 { return 0 }
            let magnitude = Float.random(in: 1 ..< 2, using: &rng) * Float(sign: .plus, exponent: Int.random(in: -12 ... 12, using: &rng), significand: 1)
            return Bool.random(using: &rng) ? magnitude : -magnitude
        }
    }

    @Test("C kernels equal ExactSearch.canonicalScore bit for bit", arguments: [Distance.innerProduct, .squaredL2])
    func sameBits(_ distance: Distance) {
        var mismatches = 0, pairs = 0
        for d in Array(1 ... 70) + [128, 384, 512, 777] {
            for count in 1 ... 9 {
                let queries = Self.values(count * d, seed: UInt64(d * 100 + count))
                let reference = Self.values(d, seed: UInt64(d * 100 + count + 50))
                // Rows out of order and offset by `first`, as the batched ranking passes them.
                let first: Int32 = 5
                let rows = (0 ..< count).map { Int32((($0 * 7) % count)) + first }
                var fast = [Float](repeating: .nan, count: count), portable = fast
                dmle_canonical_scores(reference, queries, rows, 1, count, first, d, distance == .squaredL2 ? 1 : 0, &fast)
                dmle_canonical_scores_portable(reference, queries, rows, 1, count, first, d, distance == .squaredL2 ? 1 : 0, &portable)
                queries.withUnsafeBufferPointer { q in
                    for i in 0 ..< count {
                        let expected = ExactSearch.canonicalScore(q.baseAddress! + Int(rows[i] - first) * d, reference, d, distance)
                        pairs += 1
                        if fast[i].bitPattern != expected.bitPattern || portable[i].bitPattern != expected.bitPattern { mismatches += 1 }
                    }
                }
            }
        }
        #expect(pairs == 74 * 45)
        #expect(mismatches == 0, "\(mismatches) of \(pairs) pairs differ (kernel: \(String(cString: dmle_canonical_isa())))")
    }

    @Test("tiles of products in the canonical order equal ExactSearch.canonicalScore bit for bit, edges and tails included")
    func fixedOrderProducts() {
        var mismatches = 0, pairs = 0
        for d in Array(1 ... 40) + [64, 128, 384, 512, 777] {
            // Rows and columns around the kernel's four-by-four groups, 32-reference panels and
            // 256-query blocks; every row `d + 3` floats apart and the output `cols + 5` apart,
            // as a tile in a row.
            for (rows, cols) in [(1, 1), (3, 5), (4, 4), (9, 7), (6, 70), (13, 131), (261, 37)] {
                let (lda, ldb, ldc) = (d + 3, d + 1, cols + 5)
                let a = Self.values(rows * lda, seed: UInt64(d * 1000 + rows)), b = Self.values(cols * ldb, seed: UInt64(d * 1000 + cols + 500))
                var fast = [Float](repeating: .nan, count: rows * ldc), portable = fast
                dmle_fixed_products(a, lda, b, ldb, rows, cols, d, &fast, ldc)
                dmle_fixed_products_portable(a, lda, b, ldb, rows, cols, d, &portable, ldc)
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        for i in 0 ..< rows {
                            for j in 0 ..< cols {
                                let expected = ExactSearch.canonicalScore(ap.baseAddress! + i * lda, bp.baseAddress! + j * ldb, d, .innerProduct)
                                pairs += 1
                                if fast[i * ldc + j].bitPattern != expected.bitPattern || portable[i * ldc + j].bitPattern != expected.bitPattern {
                                    mismatches += 1
                                }
                            }
                        }
                    }
                }
                // Nothing written between the rows of the output.
                #expect((0 ..< rows).allSatisfy { i in (cols ..< ldc).allSatisfy { fast[i * ldc + $0].isNaN && portable[i * ldc + $0].isNaN } },
                        "d \(d), \(rows) x \(cols)")
            }
        }
        #expect(pairs == 45 * (1 + 15 + 16 + 63 + 420 + 1703 + 9657))
        #expect(mismatches == 0, "\(mismatches) of \(pairs) pairs differ (kernel: \(String(cString: dmle_fixed_products_isa())))")
    }

    @Test("products whose roundings underflow (subnormal products) keep the canonical bits")
    func subnormalProducts() {
        // Rows with a few values near 1e-20 (their products underflow to subnormals or zero)
        // among ordinary ones, and rows of nothing but tiny values, whose sums stay subnormal.
        let d = 48
        var a = Self.values(8 * d, seed: 90), b = Self.values(8 * d, seed: 91)
        for i in 0 ..< 8 {
            for j in stride(from: i % 5, to: d, by: 7) { a[i * d + j] = 1.5e-20 * Float(j + 1); b[i * d + j] = -2.5e-20 * Float(i + 1) }
        }
        for j in 0 ..< d { a[7 * d + j] = 3e-20; b[7 * d + j] = 1e-21 * Float(j % 3 + 1) }
        var fast = [Float](repeating: .nan, count: 64)
        dmle_fixed_products(a, d, b, d, 8, 8, d, &fast, 8)
        var subnormal = 0
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                for i in 0 ..< 8 {
                    for j in 0 ..< 8 {
                        let expected = ExactSearch.canonicalScore(ap.baseAddress! + i * d, bp.baseAddress! + j * d, d, .innerProduct)
                        #expect(fast[i * 8 + j].bitPattern == expected.bitPattern, "pair \(i), \(j)")
                        if expected.isSubnormal { subnormal += 1 }
                    }
                }
            }
        }
        #expect(subnormal >= 1)
    }

    @Test("a different summation order would be caught: the test data tell orders apart")
    func dataSeparateOrders() {
        // Summing the same products in plain sequential order differs from the canonical
        // order for many of these pairs, so the test above can fail.
        var differ = 0
        for d in [64, 384] {
            for seed in 0 ..< 20 {
                let q = Self.values(d, seed: UInt64(1000 + seed)), r = Self.values(d, seed: UInt64(2000 + seed))
                var sequential: Float = 0
                for j in 0 ..< d { sequential += q[j] * r[j] }
                if sequential.bitPattern != ExactSearch.canonicalScore(q, r, d, .innerProduct).bitPattern { differ += 1 }
            }
        }
        #expect(differ >= 10)
    }

    @Test("the C column scans find exactly the positions a plain loop finds, NaN never")
    func thresholdScans() {
        var checked = 0
        for n in Array(0 ... 70) + [1000, 4096] {
            var x = Self.values(n, seed: UInt64(n + 7))
            var t = Self.values(n, seed: UInt64(n + 9))
            if n > 5 {
                x[3] = .nan
                t[4] = .nan
                x[5] = t[5]
            }
            let expectedEach = (0 ..< n).filter { x[$0] >= t[$0] }.map(UInt32.init)
            // The chosen variant, the portable loop, and AVX2 and AVX-512 by name.
            let eachScans: [(Int32?, (UnsafePointer<Float>, UnsafePointer<Float>, Int, UnsafeMutablePointer<UInt32>) -> Int)] = [
                (nil, dmle_positions_ge_each), (nil, dmle_positions_ge_each_portable),
                (2, { dmle_positions_ge_each_variant(2, $0, $1, $2, $3) }), (3, { dmle_positions_ge_each_variant(3, $0, $1, $2, $3) }),
            ]
            for (isa, scan) in eachScans {
                var out = [UInt32](repeating: .max, count: max(1, n))
                let found = scan(x, t, n, &out)
                #expect(Array(out.prefix(found)) == expectedEach, "n \(n), isa \(isa.map(String.init) ?? "default")")
            }
            checked += 1
        }
        #expect(checked == 73)
    }

    @Test("the C gather writes exactly the scores and indices a plain loop finds, the skipped one and NaN never")
    func gatherScan() {
        var checked = 0
        for n in Array(0 ... 70) + [1000, 4099] {
            var x = Self.values(n, seed: UInt64(n + 11))
            if n > 5 { x[3] = .nan }
            let threshold = n > 0 ? x[n / 2] : 0
            // No skip (n itself), the first, one inside a step, the last, and ones in the tails
            // of the AVX2 and AVX-512 steps.
            for skip in Set([n, 0, 17, n - 1, n - n % 16 + 1, n - n % 32 + 1].filter { $0 >= 0 && $0 <= n }) {
                let expected = (0 ..< n).filter { x[$0] >= threshold && $0 != skip }
                let first = Int32(n % 3 == 0 ? 0 : 1000 * n)
                for isa: Int32? in [nil, 0, 2, 3] {
                    // Sentinels past the room asked for: nothing may be written there.
                    var scores = [Float](repeating: -7, count: n + 16), indices = [Int32](repeating: -7, count: n + 16)
                    let found = isa.map { dmle_gather_ge_variant($0, x, n, threshold, skip, first, &scores, &indices) }
                        ?? dmle_gather_ge(x, n, threshold, skip, first, &scores, &indices)
                    #expect(Array(indices.prefix(found)) == expected.map { first + Int32($0) }, "n \(n), skip \(skip), isa \(isa.map(String.init) ?? "default")")
                    #expect(Array(scores.prefix(found)) == expected.map { x[$0] }, "n \(n), skip \(skip)")
                    #expect(scores[found...].allSatisfy { $0 == -7 } && indices[found...].allSatisfy { $0 == -7 }, "n \(n), skip \(skip)")
                }
            }
            checked += 1
        }
        #expect(checked == 73)
    }
}

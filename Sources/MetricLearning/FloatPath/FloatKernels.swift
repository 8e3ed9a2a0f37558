#if arch(x86_64)
import _Builtin_intrinsics.intel
#endif

/// The `Float` loops of the training path (`ProxyLossWorkspace`), on raw row-major buffers.
///
/// They are written for the generic x86-64 target the package builds for: reductions keep
/// `SIMD4` accumulators (a plain `Float` sum does not vectorise, addition not being
/// associative), element-wise loops stay plain so that the compiler vectorises them, and
/// nothing allocates.
enum FloatKernels {
    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }

    @inline(__always)
    static func load(_ p: UnsafeMutablePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }

    @inline(__always)
    static func store(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
    }

    @inline(__always)
    static func laneSum(_ v: SIMD4<Float>) -> Float {
        (v[0] + v[1]) + (v[2] + v[3])
    }

    /// The square roots of four values in one instruction. `SIMD4.squareRoot()` goes lane by
    /// lane through the C library's `sqrtf` checks, several times slower.
    @inline(__always)
    static func squareRoot(_ v: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64)
        _mm_sqrt_ps(v)
        #else
        v.squareRoot()
        #endif
    }

    /// Each of four values clamped to `lower ... upper`. The generic `pointwiseMin` and
    /// `pointwiseMax` stay out-of-line calls.
    @inline(__always)
    static func clamp(_ v: SIMD4<Float>, _ lower: Float, _ upper: Float) -> SIMD4<Float> {
        #if arch(x86_64)
        _mm_min_ps(_mm_max_ps(v, SIMD4(repeating: lower)), SIMD4(repeating: upper))
        #else
        pointwiseMin(pointwiseMax(v, SIMD4(repeating: lower)), SIMD4(repeating: upper))
        #endif
    }

    /// The larger of each pair of lanes.
    @inline(__always)
    static func maximum(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> {
        #if arch(x86_64)
        _mm_max_ps(a, b)
        #else
        pointwiseMax(a, b)
        #endif
    }

    /// `a . b` over `count` values.
    /// - Complexity: O(count).
    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Float {
        var s0 = SIMD4<Float>(), s1 = SIMD4<Float>(), s2 = SIMD4<Float>(), s3 = SIMD4<Float>()
        var j = 0
        while j + 16 <= count {
            s0 += load(a + j) * load(b + j)
            s1 += load(a + j + 4) * load(b + j + 4)
            s2 += load(a + j + 8) * load(b + j + 8)
            s3 += load(a + j + 12) * load(b + j + 12)
            j += 16
        }
        while j + 4 <= count {
            s0 += load(a + j) * load(b + j)
            j += 4
        }
        var total = laneSum((s0 + s1) + (s2 + s3))
        while j < count {
            total += a[j] * b[j]
            j += 1
        }
        return total
    }

    /// Writes row `order.classMajor(i)` of `source` (d values per row) scaled to unit length
    /// into row i of `unit`, and its length into `norms[i]`, for every i in `rows`.
    /// - Returns: the first i whose row has a length of zero or not finite (left unscaled),
    ///   or nil.
    /// - Complexity: O(rows d).
    static func normalizeRows(
        _ source: UnsafePointer<Float>, into unit: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>,
        rows: Range<Int>, d: Int, order: ProxyOrder
    ) -> Int? {
        var bad: Int?
        for i in rows {
            let row = source + order.classMajor(i) * d, out = unit + i * d
            let norm = dot(row, row, d).squareRoot()
            norms[i] = norm
            guard norm > 0, norm.isFinite else {
                if bad == nil { bad = i }
                continue
            }
            let inverse = 1 / norm
            for j in 0 ..< d { out[j] = row[j] * inverse }
        }
        return bad
    }

    /// The chain rule through u = v / ||v||: for every i in `rows`, row i of `gradient`
    /// (dL/du) gives dL/dv = (g - u (u . g)) / ||v|| in row `order.classMajor(i)` of `out`
    /// (which may be `gradient` itself when the order is the identity).
    /// - Complexity: O(rows d).
    static func normalizationBackward(
        _ gradient: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, unit: UnsafePointer<Float>,
        norms: UnsafePointer<Float>, rows: Range<Int>, d: Int, order: ProxyOrder
    ) {
        for i in rows {
            let g = gradient + i * d, u = unit + i * d, o = out + order.classMajor(i) * d
            let projection = dot(u, g, d)
            let inverse = 1 / norms[i]
            for j in 0 ..< d { o[j] = (g[j] - u[j] * projection) * inverse }
        }
    }

    /// e^x for four values, to within a few units in the last place: Cody and Waite's
    /// reduction x = n ln 2 + r with |r| <= ln 2 / 2, a degree-6 polynomial for e^r (the
    /// coefficients of the Cephes library's `expf`), and 2^n built in the exponent bits.
    /// Arguments are clamped to [-87, 88], so e^x stays a normal `Float`; below -87 it is
    /// about 1.6e-38 instead of smaller.
    @inline(__always)
    static func exp(_ x: SIMD4<Float>) -> SIMD4<Float> {
        let clamped = clamp(x, -87, 88)
        // Adding 1.5 * 2^23 rounds to the nearest integer and leaves it in the low bits.
        let shifter = SIMD4<Float>(repeating: 12_582_912)
        let shifted = clamped * 1.442_695_04 + shifter
        let n = shifted - shifter
        let r = (clamped - n * 0.693_359_375) - n * -2.121_944_4e-4
        var p = SIMD4<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_1e-1
        p = p * (r * r) + r + 1
        let integer = unsafeBitCast(shifted, to: SIMD4<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((integer &+ 127) &<< 23, to: SIMD4<Float>.self)
        return p * scale
    }

    /// e^x in place for `count` values.
    /// - Complexity: O(count).
    static func expInPlace(_ x: UnsafeMutablePointer<Float>, _ count: Int) {
        var j = 0
        while j + 4 <= count {
            store(exp(load(x + j)), x + j)
            j += 4
        }
        if j < count {
            var tail = SIMD4<Float>(repeating: 0)
            for l in 0 ..< count - j { tail[l] = x[j + l] }
            let e = exp(tail)
            for l in 0 ..< count - j { x[j + l] = e[l] }
        }
    }
}

/// The k-major order of the proxies inside `ProxyLossWorkspace`: row r holds proxy r / C of
/// class r % C, so that for each k the C classes are contiguous and the class-similarity
/// loops run over classes, four at a time. The inputs and gradients keep the class-major
/// order of the API (row c K + k). With K = 1 both orders are the same.
struct ProxyOrder {
    let classes: Int
    let k: Int

    /// The order of rows that are not proxies (the embeddings): the identity.
    static func identity(_ rows: Int) -> ProxyOrder { ProxyOrder(classes: max(1, rows), k: 1) }

    /// The class-major row of k-major row `r`.
    @inline(__always)
    func classMajor(_ r: Int) -> Int { (r % classes) * k + r / classes }
}

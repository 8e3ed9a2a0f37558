import RetrievalEval

/// The three products of the pipeline: a = z^ p^T forward, dL/da p^ and dL/da^T z^ backward.
/// On the `Float` path (training) all three go through sgemm once large enough; the `Double`
/// path (the gradient tests, `dmleval loss`) stays in exact `Double` loops.
enum CosineProducts {
    /// Below this many multiply-adds (N C K d), sgemm's set-up costs more than it saves.
    static let blasThreshold = 1 << 15

    /// `a = z p^T` (N x M) for `z` (N x d) and `p` (M x d). With `useBLAS` and a large enough
    /// product, through `BLAS.gemmNT` in `Float`; otherwise exact `Double` loops.
    /// - Complexity: O(N M d).
    static func products(_ z: DoubleMatrix, _ p: DoubleMatrix, useBLAS: Bool) -> DoubleMatrix {
        let n = z.rows, m = p.rows, d = z.columns
        if useBLAS && n * m * d >= blasThreshold {
            let zf = z.values.map(Float.init), pf = p.values.map(Float.init)
            var out = [Float](repeating: 0, count: n * m)
            zf.withUnsafeBufferPointer { a in
                pf.withUnsafeBufferPointer { b in
                    out.withUnsafeMutableBufferPointer { c in
                        BLAS.gemmNT(m: n, n: m, k: d, a: a.baseAddress!, lda: d, b: b.baseAddress!, ldb: d,
                                    c: c.baseAddress!, ldc: m)
                    }
                }
            }
            return DoubleMatrix(rows: n, columns: m, values: out.map(Double.init))
        }
        var out = DoubleMatrix(zeros: n, m)
        z.values.withUnsafeBufferPointer { zv in
            p.values.withUnsafeBufferPointer { pv in
                for i in 0 ..< n {
                    for r in 0 ..< m {
                        var dot = 0.0
                        for j in 0 ..< d { dot += zv[i * d + j] * pv[r * d + j] }
                        out.values[i * m + r] = dot
                    }
                }
            }
        }
        return out
    }

    /// `op(a) b` through sgemm in `Float`, widened back to `Double`.
    static func sgemm(_ a: DoubleMatrix, transposed: Bool, _ b: DoubleMatrix) -> DoubleMatrix {
        let product = BLAS.product(a.floatMatrix, transposed: transposed, b.floatMatrix)
        return DoubleMatrix(product)
    }

    /// `g p` (N x d) for `g` (N x M) and `p` (M x d): sgemm with `useBLAS` and a large enough
    /// product, else `Double` loops.
    /// - Complexity: O(N M d).
    static func multiply(_ g: DoubleMatrix, _ p: DoubleMatrix, useBLAS: Bool = false) -> DoubleMatrix {
        let n = g.rows, m = g.columns, d = p.columns
        if useBLAS && n * m * d >= blasThreshold { return sgemm(g, transposed: false, p) }
        var out = [Double](repeating: 0, count: n * d)
        g.values.withUnsafeBufferPointer { gv in
            p.values.withUnsafeBufferPointer { pv in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0 ..< n {
                        for r in 0 ..< m {
                            let coefficient = gv[i * m + r]
                            if coefficient == 0 { continue }
                            for j in 0 ..< d { o[i * d + j] += coefficient * pv[r * d + j] }
                        }
                    }
                }
            }
        }
        return DoubleMatrix(rows: n, columns: d, values: out)
    }

    /// `g^T z` (M x d) for `g` (N x M) and `z` (N x d): sgemm with `useBLAS` and a large
    /// enough product, else `Double` loops.
    /// - Complexity: O(N M d).
    static func multiplyTransposed(_ g: DoubleMatrix, _ z: DoubleMatrix, useBLAS: Bool = false) -> DoubleMatrix {
        let n = g.rows, m = g.columns, d = z.columns
        if useBLAS && n * m * d >= blasThreshold { return sgemm(g, transposed: true, z) }
        var out = [Double](repeating: 0, count: m * d)
        g.values.withUnsafeBufferPointer { gv in
            z.values.withUnsafeBufferPointer { zv in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0 ..< n {
                        for r in 0 ..< m {
                            let coefficient = gv[i * m + r]
                            if coefficient == 0 { continue }
                            for j in 0 ..< d { o[r * d + j] += coefficient * zv[i * d + j] }
                        }
                    }
                }
            }
        }
        return DoubleMatrix(rows: m, columns: d, values: out)
    }
}

/// The three products of the `Double` pipeline: a = z^ p^T forward, dL/da p^ and dL/da^T z^
/// backward, in exact `Double` loops (the gradient tests, `dmleval loss`). The training path,
/// `ProxyLossWorkspace`, does them in sgemm.
enum CosineProducts {
    /// `a = z p^T` (N x M) for `z` (N x d) and `p` (M x d).
    /// - Complexity: O(N M d).
    static func products(_ z: DoubleMatrix, _ p: DoubleMatrix) -> DoubleMatrix {
        let n = z.rows, m = p.rows, d = z.columns
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

    /// `g p` (N x d) for `g` (N x M) and `p` (M x d).
    /// - Complexity: O(N M d).
    static func multiply(_ g: DoubleMatrix, _ p: DoubleMatrix) -> DoubleMatrix {
        accumulate(g, p, transposed: false)
    }

    /// `g^T z` (M x d) for `g` (N x M) and `z` (N x d).
    /// - Complexity: O(N M d).
    static func multiplyTransposed(_ g: DoubleMatrix, _ z: DoubleMatrix) -> DoubleMatrix {
        accumulate(g, z, transposed: true)
    }

    /// `g b` (b: M x d), or with `transposed` `g^T b` (b: N x d), for `g` (N x M): for each
    /// (i, r) with a non-zero coefficient g[i, r], one row of `b` scaled into one row of the
    /// result (row i of the result from row r of `b`, or row r from row i).
    private static func accumulate(_ g: DoubleMatrix, _ b: DoubleMatrix, transposed: Bool) -> DoubleMatrix {
        let n = g.rows, m = g.columns, d = b.columns
        let outRows = transposed ? m : n
        var out = [Double](repeating: 0, count: outRows * d)
        g.values.withUnsafeBufferPointer { gv in
            b.values.withUnsafeBufferPointer { bv in
                out.withUnsafeMutableBufferPointer { o in
                    for i in 0 ..< n {
                        for r in 0 ..< m {
                            let coefficient = gv[i * m + r]
                            if coefficient == 0 { continue }
                            let (target, source) = transposed ? (r, i) : (i, r)
                            for j in 0 ..< d { o[target * d + j] += coefficient * bv[source * d + j] }
                        }
                    }
                }
            }
        }
        return DoubleMatrix(rows: outRows, columns: d, values: out)
    }
}

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
        let n = g.rows, m = g.columns, d = p.columns
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

    /// `g^T z` (M x d) for `g` (N x M) and `z` (N x d).
    /// - Complexity: O(N M d).
    static func multiplyTransposed(_ g: DoubleMatrix, _ z: DoubleMatrix) -> DoubleMatrix {
        let n = g.rows, m = g.columns, d = z.columns
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

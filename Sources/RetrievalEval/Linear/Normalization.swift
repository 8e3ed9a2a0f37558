/// Row normalisation of embeddings.
extension Matrix {
    /// The Euclidean norm of every row, accumulated in `Double` so that long rows lose no
    /// precision.
    ///
    /// - Complexity: O(rows x columns).
    public func rowNorms() -> [Double] {
        var norms = [Double](repeating: 0, count: rows)
        values.withUnsafeBufferPointer { v in
            for i in 0 ..< rows { norms[i] = Matrix.rowNorm(v.baseAddress! + i * columns, columns) }
        }
        return norms
    }

    /// The Euclidean norm of one row of `columns` values, accumulated in `Double` in a fixed
    /// order: every reader of rows (in memory or mapped, see `MappedEmbeddings`) gets the same
    /// bits from it.
    @inline(__always)
    static func rowNorm(_ v: UnsafePointer<Float>, _ columns: Int) -> Double {
        var sum = SIMD8<Double>()
        var j = 0
        while j + 8 <= columns {
            var x = SIMD8<Double>()
            for l in 0 ..< 8 { x[l] = Double(v[j + l]) }
            sum += x * x
            j += 8
        }
        var total = sum.sum()
        while j < columns {
            let x = Double(v[j])
            total += x * x
            j += 1
        }
        return total.squareRoot()
    }

    /// Scales every row to unit Euclidean length.
    ///
    /// - Returns: the indices of rows whose norm is zero (left unchanged); the caller decides
    ///   whether that is an error (it is for cosine similarity).
    @discardableResult
    public mutating func normalizeRows() -> [Int] {
        let norms = rowNorms()
        var zeroRows: [Int] = []
        let cols = columns
        values.withUnsafeMutableBufferPointer { v in
            for i in 0 ..< rows {
                let norm = norms[i]
                if norm == 0 { zeroRows.append(i); continue }
                let scale = Float(1 / norm)
                for j in 0 ..< cols { v[i * cols + j] *= scale }
            }
        }
        return zeroRows
    }
}

extension Matrix {
    /// The rows scaled to unit length, as cosine similarity compares them.
    ///
    /// - Parameters:
    ///   - rowName: what a row is called in the error ("query row").
    ///   - alternatives: the distances that need no normalisation ("ip or l2").
    /// - Throws: `SearchError` naming the first row of zero norm, which has no direction.
    public func unitRows(rowName: String, alternatives: String) throws -> Matrix {
        var m = self
        if let zero = m.normalizeRows().first {
            throw SearchError("\(rowName) \(zero) has zero norm, so its cosine similarity is undefined; remove it or use --distance \(alternatives)")
        }
        return m
    }
}

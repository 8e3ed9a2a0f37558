/// Where the exact search reads rows from: a matrix in memory, or a mapped file read in tiles.
public enum EmbeddingSource: Sendable {
    case matrix(Matrix)
    case mapped(MappedEmbeddings)

    /// The number of rows (embeddings).
    public var rows: Int {
        switch self {
        case .matrix(let m): m.rows
        case .mapped(let m): m.rows
        }
    }

    /// The number of columns (the dimension).
    public var columns: Int {
        switch self {
        case .matrix(let m): m.columns
        case .mapped(let m): m.columns
        }
    }

    /// Every row's norm: computed for a matrix, from the mapping's scan otherwise.
    func rowNorms() -> [Double] {
        switch self {
        case .matrix(let m): m.rowNorms()
        case .mapped(let m): m.norms
        }
    }
}

/// The rows of one side of a search as the search holds them: a matrix (normalised for cosine
/// when the search was made), or a mapping with the scale of each row for cosine.
enum SearchRows: Sendable {
    case memory(Matrix)
    /// `scales[r]` is Float(1 / norm of row r), as `Matrix.normalizeRows` multiplies by; empty
    /// when rows are not normalised. `zeros`: the dimensions each copied row has zeroed
    /// (`NegligibleValues`), none by default.
    case mapped(MappedEmbeddings, scales: [Float], zeros: [Int32] = [])

    var rows: Int {
        switch self {
        case .memory(let m): m.rows
        case .mapped(let m, _, _): m.rows
        }
    }

    var columns: Int {
        switch self {
        case .memory(let m): m.columns
        case .mapped(let m, _, _): m.columns
        }
    }

    var isMapped: Bool { if case .mapped = self { true } else { false } }

    /// Prepares `source` for a search by `distance`.
    /// - Throws: `SearchError` naming the first row of zero norm, for cosine.
    init(_ source: EmbeddingSource, distance: Distance, rowName: String) throws {
        switch source {
        case .matrix(let m):
            self = .memory(distance == .cosine ? try m.unitRows(rowName: rowName, alternatives: "ip or l2") : m)
        case .mapped(let m):
            guard distance == .cosine else {
                self = .mapped(m, scales: [])
                return
            }
            var scales = [Float](repeating: 0, count: m.rows)
            for (r, norm) in m.norms.enumerated() {
                if norm == 0 {
                    throw SearchError("\(rowName) \(r) has zero norm, so its cosine similarity is undefined; remove it or use --distance ip or l2")
                }
                scales[r] = Float(1 / norm)
            }
            self = .mapped(m, scales: scales)
        }
    }

    /// Runs `body` with access to the rows.
    func withAccess<R>(_ body: (RowAccess) throws -> R) rethrows -> R {
        switch self {
        case .memory(let m):
            try m.values.withUnsafeBufferPointer { v in
                try body(RowAccess(columns: m.columns, memory: v.baseAddress, mapped: nil, stride: m.columns, scales: nil))
            }
        case .mapped(let m, let scales, let zeros):
            try scales.withUnsafeBufferPointer { s in
                try zeros.withUnsafeBufferPointer { z in
                    try body(RowAccess(columns: m.columns, memory: nil, mapped: m.first, stride: m.rowStride,
                                       scales: scales.isEmpty ? nil : s.baseAddress, zeros: z))
                }
            }
        }
    }
}

/// Reads rows for the search: in place from memory, or copied from the mapping (scaled for
/// cosine, negligible values zeroed) into a buffer, so that the values are those of the
/// matrix the search would hold in memory, bit for bit.
struct RowAccess: @unchecked Sendable {
    let columns: Int
    let memory: UnsafePointer<Float>?
    let mapped: UnsafePointer<Float>?
    let stride: Int
    let scales: UnsafePointer<Float>?
    /// Dimensions to zero in each copied row (`NegligibleValues`).
    var zeros = UnsafeBufferPointer<Int32>(start: nil, count: 0)

    /// Whether rows are copied into the caller's buffers (rather than read in place).
    var copies: Bool { memory == nil }

    /// Rows `lo ..< hi`, `columns` apart: in place, or copied into `buffer` (room for them).
    @inline(__always)
    func rows(_ lo: Int, _ hi: Int, buffer: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> {
        if let memory { return memory + lo * columns }
        let out = buffer!, d = columns
        if stride == d && scales == nil {
            out.update(from: mapped! + lo * d, count: (hi - lo) * d)
        } else {
            for r in lo ..< hi {
                let target = out + (r - lo) * d
                target.update(from: mapped! + r * stride, count: d)
                if let scales {
                    let scale = scales[r]
                    for j in 0 ..< d { target[j] *= scale }
                }
            }
        }
        if !zeros.isEmpty { NegligibleValues.zero(zeros, in: out, rows: hi - lo, stride: d) }
        return UnsafePointer(out)
    }

    /// Row `r`: in place, or copied into `buffer` (room for one row).
    @inline(__always)
    func row(_ r: Int, buffer: UnsafeMutablePointer<Float>?) -> UnsafePointer<Float> { rows(r, r + 1, buffer: buffer) }
}

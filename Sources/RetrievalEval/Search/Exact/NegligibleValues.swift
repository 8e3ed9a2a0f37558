#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Values so small that the product of any two of them is zero, set to zero before the search
/// so that no product underflows.
///
/// **Why.** A multiply whose exact result lies below the normal floats (2^-126) takes a slow
/// path on the processor this was measured on (AMD Zen 4), where a fused multiply-add does
/// not. sgemm fuses; the canonical products (`dmle_fixed_products`) and the canonical
/// re-scoring multiply and add separately, as the canonical score g is defined. The Debian
/// set of docs/benchmarks.md (all-MiniLM-L6-v2 embeddings) holds two dimensions below 1e-30
/// in every row, so every product of those two dimensions underflowed: the canonical
/// products ran at 66-68 GFLOP/s per core on those rows and at 81-84 once the values are
/// zeros, the same bits (docs/benchmarks.md, "Negligible values").
///
/// **Why the scores stay the same, bit for bit.** Call v negligible when |v| < 2^-76, zero
/// included. The exact product of two negligible values is below 2^-152 in magnitude, less
/// than half the smallest subnormal float (2^-149), so it rounds to a zero whose sign is the
/// product of the two signs; the zeros of the same signs give the same zero. Let U be the
/// dimensions where some row holds a nonzero negligible value. When every row, query or
/// reference, is negligible in every dimension of U, each product of a dimension in U is
/// that same signed zero with or without the zeroing, and the other dimensions are not
/// touched: g is unchanged for every pair, whatever the order of its sums. So are the lists,
/// the ties and every metric. sgemm's scores f, computed on the zeroed rows, still lie within
/// the rounding margin of g: Higham's bound holds for f and for g on the zeroed rows, whose
/// norms are at most the original ones that the margins use (`CanonicalRanking`). When some
/// row has a larger value in U, nothing is zeroed.
///
/// Deciding takes one pass over the rows as the search holds them (4-5 ms at 30,001 x 384; for
/// a mapped file, one more sequential read of it), when the search is made.
///
/// Cosine and inner products only: the squared distances' margins rest on the original rows'
/// norms in another way, and their products are sgemm's.
enum NegligibleValues {
    /// |v| < 2^-76, as the bits of |v|: the float 2^-76 is 0x1980_0000.
    static let limitBits: UInt32 = 0x1980_0000

    /// What each dimension holds over the rows scanned: bit 1 a nonzero negligible value,
    /// bit 2 a value of at least 2^-76.
    struct Census {
        var flags: [UInt8]

        init(columns: Int) { flags = [UInt8](repeating: 0, count: columns) }

        /// Adds `rows` rows of `columns` values, `columns` apart.
        mutating func add(_ first: UnsafePointer<Float>, rows: Int) {
            let d = flags.count, limit = NegligibleValues.limitBits
            flags.withUnsafeMutableBufferPointer { f in
                for r in 0 ..< rows {
                    let row = first + r * d
                    for j in 0 ..< d {
                        let magnitude = row[j].bitPattern & 0x7FFF_FFFF
                        f[j] |= magnitude >= limit ? 2 : (magnitude != 0 ? 1 : 0)
                    }
                }
            }
        }

        /// U, the dimensions to zero, when they are safe to zero (every row negligible in
        /// each of them); nil when U is empty or a row is not.
        var dimensions: [Int32]? {
            let u = flags.indices.filter { flags[$0] & 1 != 0 }
            guard !u.isEmpty, u.allSatisfy({ flags[$0] & 2 == 0 }) else { return nil }
            return u.map { Int32($0) }
        }
    }

    /// Sets `dimensions` of `rows` rows (`stride` apart) to zeros of the same signs.
    @inline(__always)
    static func zero(_ dimensions: UnsafeBufferPointer<Int32>, in first: UnsafeMutablePointer<Float>, rows: Int, stride: Int) {
        for r in 0 ..< rows {
            let row = first + r * stride
            for j in dimensions { row[Int(j)] = Float(bitPattern: row[Int(j)].bitPattern & 0x8000_0000) }
        }
    }
}

extension SearchRows {
    /// Adds these rows to `census`, read as the search reads them (`RowAccess`: in place from
    /// memory, copied and scaled from a mapping, 8 MiB of rows at a time).
    func count(into census: inout NegligibleValues.Census) throws {
        let n = rows, d = columns
        guard n > 0, d > 0 else { return }
        try withAccess { ra in
            let chunk = ra.copies ? max(1, min(n, (8 << 20) / (4 * d))) : n
            let buffer = ra.copies ? try allocate(Float.self, count: chunk * d, for: "\(chunk) rows read to check their values") : nil
            defer { free(buffer) }
            for lo in Swift.stride(from: 0, to: n, by: chunk) {
                let hi = min(n, lo + chunk)
                census.add(ra.rows(lo, hi, buffer: buffer), rows: hi - lo)
            }
        }
    }

    /// These rows with `dimensions` zeroed: in place when the matrix is this search's own (the
    /// unit rows of a cosine search), in a copy when it is shared (inner products); a mapping
    /// zeroes them in each copy it makes.
    mutating func zeroing(_ dimensions: [Int32]) {
        switch self {
        case .memory(var m):
            // Drop this reference first, so that the unit rows are changed in place.
            self = .memory(Matrix(rows: 0, columns: 0, values: []))
            m.values.withUnsafeMutableBufferPointer { v in
                guard let base = v.baseAddress else { return }
                dimensions.withUnsafeBufferPointer { NegligibleValues.zero($0, in: base, rows: m.rows, stride: m.columns) }
            }
            self = .memory(m)
        case .mapped(let m, let scales, _):
            self = .mapped(m, scales: scales, zeros: dimensions)
        }
    }
}

import Testing
@testable import RetrievalEval

/// The zeroing of negligible values (`NegligibleValues`) against the search without it: the
/// same lists and scores, bit for bit, on every kernel, path and source of the rows.
@Suite("Negligible values")
struct NegligibleValuesTests {
    /// The largest negligible magnitude, and others down to the subnormals.
    static let largest = Float(bitPattern: NegligibleValues.limitBits - 1)
    static let negligible: [Float] = [largest, Float(bitPattern: NegligibleValues.limitBits - 4_321), 0x1p-100, 0x1p-126, 0x1p-140, 0x1p-149]

    /// Rows whose dimensions `tiny` hold negligible values (either sign, some zeros) and
    /// whose other dimensions hold ordinary values on part of the row only, zeros elsewhere:
    /// pairs with little or no common support, whose scores are sums of few products, so
    /// that a wrong product at a negligible dimension shows.
    static func rows(_ n: Int, _ d: Int, tiny: [Int], seed: UInt64) -> Matrix {
        var rng = SplitMix64(seed: seed)
        var m = Matrix(zeros: n, d)
        for i in 0 ..< n {
            let support = Int.random(in: 0 ..< 4, using: &rng)
            for j in 0 ..< d where !tiny.contains(j) && j % 4 == support {
                m[i, j] = Float(Int.random(in: -3 ... 3, using: &rng))
            }
            // A row with no ordinary value would have no direction for cosine.
            if let anchor = (0 ..< d).first(where: { !tiny.contains($0) && $0 % 4 == support }), m[i, anchor] == 0 { m[i, anchor] = 1 }
            for j in tiny {
                let v = negligible.randomElement(using: &rng)!
                m[i, j] = Int.random(in: 0 ..< 6, using: &rng) == 0 ? 0 : (Bool.random(using: &rng) ? v : -v)
            }
        }
        return m
    }

    @Test("the product of two negligible values is the product of their signed zeros")
    func products() {
        for x in Self.negligible + [0] {
            for y in Self.negligible + [0] {
                for (a, b) in [(x, y), (-x, y), (x, -y), (-x, -y)] {
                    let zeroA = Float(bitPattern: a.bitPattern & 0x8000_0000), zeroB = Float(bitPattern: b.bitPattern & 0x8000_0000)
                    #expect((a * b).bitPattern == (zeroA * zeroB).bitPattern, "\(a) * \(b)")
                    // The squared distance's product of a difference, for completeness.
                    #expect(((a - b) * (a - b)).bitPattern == ((zeroA - zeroB) * (zeroA - zeroB)).bitPattern, "(\(a) - \(b))^2")
                }
            }
        }
    }

    @Test("the census finds the dimensions, and refuses them when a row is larger there")
    func census() throws {
        let m = Self.rows(50, 40, tiny: [3, 17, 39], seed: 1)
        func dimensions(_ m: Matrix) throws -> [Int32]? {
            var census = NegligibleValues.Census(columns: m.columns)
            try SearchRows.memory(m).count(into: &census)
            return census.dimensions
        }
        #expect(try dimensions(m) == [3, 17, 39])
        var larger = m
        larger[31, 17] = Float(bitPattern: NegligibleValues.limitBits)
        #expect(try dimensions(larger) == nil)
        var none = m
        for i in 0 ..< 50 { for j in [3, 17, 39] { none[i, j] = 0 } }
        #expect(try dimensions(none) == nil)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let distance: Distance
        let kernel: ExactProductKernel
        let path: ExactSearchPath
        let plain: Bool
        var testDescription: String { "\(distance), \(kernel), \(path)\(plain ? ", queries" : "")" }
    }

    static let cases: [Case] = [Distance.cosine, .innerProduct].flatMap { distance in
        [ExactProductKernel.canonical, .blas].flatMap { kernel in
            [ExactSearchPath.candidates, .rows].flatMap { path in [false, true].map { Case(distance: distance, kernel: kernel, path: path, plain: $0) } }
        }
    }

    @Test("lists and scores equal the search without zeroing, bit for bit", arguments: cases)
    func sameLists(_ c: Case) throws {
        let d = 37, tiny = [0, 16, 33]
        let references = Self.rows(150, d, tiny: tiny, seed: 7)
        let queries = c.plain ? Self.rows(60, d, tiny: tiny, seed: 8) : nil
        let depths = [Int](repeating: c.plain ? 150 : 149, count: queries?.rows ?? 150).enumerated().map { q, full in q % 3 == 0 ? full : 1 + q % 40 }
        func run(zeroing: Bool, mapped: Bool) throws -> (Int, [[Int32]], [[Float]]) {
            try ExactSearch.$zeroesNegligibleValues.withValue(zeroing) {
                let source: EmbeddingSource = mapped ? .mapped(try StreamedSearchTests.map(references, as: .raw)) : .matrix(references)
                var search = try ExactSearch(references: source, queries: queries.map { .matrix($0) }, distance: c.distance, tileSize: 32, threads: 2)
                search.productKernel = c.kernel
                search.path = c.path
                let (lists, scores) = try listsAndScores(search, depths: depths)
                return (search.zeroedDimensions, lists, scores)
            }
        }
        let (_, lists, scores) = try run(zeroing: false, mapped: false)
        for mapped in [false, true] {
            let (zeroed, zeroedLists, zeroedScores) = try run(zeroing: true, mapped: mapped)
            #expect(zeroed == tiny.count)
            #expect(zeroedLists == lists, "mapped: \(mapped)")
            #expect(zeroedScores.map { $0.map(\.bitPattern) } == scores.map { $0.map(\.bitPattern) }, "mapped: \(mapped)")
        }
        // The rows' own values are untouched: the search zeroes its own copy (cosine) or a
        // copy of the shared matrix (inner products).
        #expect(references.values.map(\.bitPattern) == Self.rows(150, d, tiny: tiny, seed: 7).values.map(\.bitPattern))
    }
}

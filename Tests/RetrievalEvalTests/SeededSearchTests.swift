import CKernels
import Testing
@testable import RetrievalEval

/// The candidate path with seeded thresholds (a strided sample scored first) against the
/// unseeded path and the naive oracle: the same lists, bit for bit, whether the seeds are
/// good, too high (every query short, refilled from its whole row) or absent; every
/// distance, symmetric and plain, tiles and threads. And the cost model's choices.
@Suite("Seeded candidate search")
struct SeededSearchTests {
    struct Config: Sendable, CustomTestStringConvertible {
        let distance: Distance
        let queries: Bool
        let tileSize: Int
        let threads: Int
        var kernel: ExactProductKernel = .automatic
        var testDescription: String { "\(distance), \(queries ? "plain" : "self"), tile \(tileSize), \(threads) threads, \(kernel) products" }
    }

    /// Every configuration with sgemm's products (re-scored near-ties), and the inner
    /// products' also with the canonical ones (squared distances always take sgemm's).
    static let configs: [Config] = [Distance.cosine, .innerProduct, .squaredL2].flatMap { distance in
        [false, true].flatMap { queries in
            [(16, 1), (64, 2), (1024, 2)].flatMap { t in
                (distance == .squaredL2 ? [ExactProductKernel.blas] : [.blas, .canonical]).map {
                    Config(distance: distance, queries: queries, tileSize: t.0, threads: t.1, kernel: $0)
                }
            }
        }
    }

    static let references = floatMatrix(rows: 400, columns: 9, duplicates: 60, seed: 41)
    static let queryRows = floatMatrix(rows: 90, columns: 9, duplicates: 0, seed: 42)

    /// Lists of every query, on the candidate path with the given seeding.
    static func lists(_ c: Config, depths: [Int], sample: Int, shift: Float = 0) throws -> [[Int32]] {
        var search = try ExactSearch(references: references, queries: c.queries ? queryRows : nil, distance: c.distance,
                                     tileSize: c.tileSize, threads: c.threads)
        search.path = .candidates
        search.productKernel = c.kernel
        search.seedSample = sample
        search.seedShift = shift
        var found: [[Int32]] = []
        try search.search(depths: depths) { block in for q in block.queries { found.append(Array(block.indices(of: q))) } }
        return found
    }

    /// Depths from 0 to nearly every reference, one per query.
    static func depths(_ count: Int, available: Int) -> [Int] {
        (0 ..< count).map { q in [0, 1, 7, 40, 150, available][q % 6] }
    }

    @Test("seeded, too-high seeds and unseeded give the oracle's lists", arguments: configs)
    func sameLists(_ c: Config) throws {
        let count = c.queries ? 90 : 400
        let available = c.queries ? 400 : 399
        let depths = Self.depths(count, available: available)
        let oracle = naiveNeighbors(Self.references, queries: c.queries ? Self.queryRows : nil, distance: c.distance, k: available)
        let expected = (0 ..< count).map { q in oracle[q].prefix(depths[q]).map(Int32.init) }
        #expect(try Self.lists(c, depths: depths, sample: 0) == expected)
        #expect(try Self.lists(c, depths: depths, sample: 100) == expected)
        #expect(try Self.lists(c, depths: depths, sample: 400) == expected)
        // Seeds far above every score: every query comes up short and is refilled.
        #expect(try Self.lists(c, depths: depths, sample: 100, shift: 1e30) == expected)
    }

    @Test("the seeds are below each query's kept-th best score for most queries, and the refill is rare")
    func seedsAreUseful() throws {
        let x = floatMatrix(rows: 2000, columns: 16, duplicates: 0, seed: 5)
        let search = try ExactSearch(references: x, distance: .cosine)
        let kept = [Int](repeating: 120, count: 2000)
        let seeds = try #require(try search.sampledThresholds(kept: kept, size: 256))
        let exact = naiveNeighbors(x, queries: nil, distance: .cosine, k: 120)
        var below = 0, finite = 0
        var unit = x
        _ = unit.normalizeRows()
        for q in 0 ..< 2000 where seeds[q] > -.infinity {
            finite += 1
            let r = exact[q][119]
            var dot: Float = 0
            for j in 0 ..< 16 { dot += unit[q, j] * unit[r, j] }
            if seeds[q] <= dot { below += 1 }
        }
        // expected rank 15.4 of 256, plus 3 sigma and 2: about twice the kept count passes.
        #expect(finite == 2000)
        #expect(below >= 1990)
    }

    @Test("the cost model: symmetric takes candidates when they fit, plain up to the crossover, rows beyond")
    func costModel() throws {
        let x = floatMatrix(rows: 1000, columns: 4, duplicates: 0, seed: 3)
        var symmetric = try ExactSearch(references: x)
        #expect(symmetric.chosenPath(kept: [Int](repeating: 900, count: 1000)) == .candidates)
        symmetric.candidateMemoryBudget = 1 << 20
        #expect(symmetric.chosenPath(kept: [Int](repeating: 900, count: 1000)) == .rows)
        let plain = try ExactSearch(references: x, queries: x)
        #expect(plain.chosenPath(kept: [Int](repeating: 34, count: 1000)) == .candidates)
        #expect(plain.chosenPath(kept: [Int](repeating: 35, count: 1000)) == .rows)
        var forced = plain
        forced.path = .candidates
        #expect(forced.chosenPath(kept: [Int](repeating: 900, count: 1000)) == .candidates)
    }

    @Test("the products' cost model: canonical products from a mean of 3% of the references kept, where measured to pay; never for squared distances")
    func productCostModel() throws {
        let x = floatMatrix(rows: 1000, columns: 4, duplicates: 0, seed: 3)
        let search = try ExactSearch(references: x, distance: .innerProduct)
        let vectorised = ExactSearch.canonicalProductsPay
        #expect(!vectorised || String(cString: dmle_fixed_products_isa()) == "avx512f")
        #expect(search.chosenProducts(depths: [Int](repeating: 29, count: 1000)) == false)
        #expect(search.chosenProducts(depths: [Int](repeating: 30, count: 1000)) == vectorised)
        #expect(search.chosenProducts(depths: [Int](repeating: 10, count: 500) + [Int](repeating: 50, count: 500)) == vectorised)
        var forced = search
        forced.productKernel = .canonical
        #expect(forced.chosenProducts(depths: [Int](repeating: 1, count: 1000)))
        forced.productKernel = .blas
        #expect(!forced.chosenProducts(depths: [Int](repeating: 999, count: 1000)))
        var l2 = try ExactSearch(references: x, distance: .squaredL2)
        #expect(!l2.chosenProducts(depths: [Int](repeating: 999, count: 1000)))
        l2.productKernel = .canonical
        #expect(!l2.chosenProducts(depths: [Int](repeating: 999, count: 1000)))
    }

    @Test("the plan: canonical products keep no slack; the path's crossover is read with the slack, the budget with what is kept")
    func plan() throws {
        let x = floatMatrix(rows: 1000, columns: 4, duplicates: 0, seed: 3)
        var plain = try ExactSearch(references: x, queries: x, distance: .innerProduct)
        let depths = [Int](repeating: 33, count: 1000)
        plain.productKernel = .canonical
        let canonical = plain.plan(depths: depths)
        #expect(canonical.canonicalProducts && canonical.kept == depths)
        // 33 + 16 of slack reach the 3.5% crossover, as measured: rows, with or without slack.
        #expect(canonical.path == .rows)
        plain.productKernel = .blas
        let blas = plain.plan(depths: depths)
        #expect(!blas.canonicalProducts && blas.kept == [Int](repeating: 49, count: 1000) && blas.path == .rows)
        // The budget: what canonical products keep fits where depth + slack would not.
        var symmetric = try ExactSearch(references: x, distance: .innerProduct)
        let deep = [Int](repeating: 800, count: 1000)
        symmetric.candidateMemoryBudget = TopKBuffers.bytes(deep)
        symmetric.productKernel = .canonical
        #expect(symmetric.plan(depths: deep).path == .candidates)
        symmetric.productKernel = .blas
        #expect(symmetric.plan(depths: deep).path == .rows)
        #expect(symmetric.plan(depths: [Int](repeating: 0, count: 1000)).kept.allSatisfy { $0 == 0 })
    }

    @Test("rows whose scores could overflow float32 are refused with one line, before any search")
    func overflowRefused() throws {
        // Products of +-1e20 overflow to +-infinity, and their sum to NaN.
        let huge = Matrix(rows: 3, columns: 2, values: [1e20, 1e20, 1e20, -1e20, 1, 1])
        #expect(throws: SearchError("the rows' norms reach 1.4142136e+20 (queries) and 1.4142136e+20 (references): their inner products would overflow float32 (3.4e38); scale the embeddings down, or use cosine")) {
            _ = try ExactSearch(references: huge, distance: .innerProduct)
        }
        #expect(throws: SearchError.self) { _ = try ExactSearch(references: huge, distance: .squaredL2) }
        // Cosine normalises the rows first: the same data are fine.
        let neighbors = try ExactSearch(references: huge, distance: .cosine).search(k: 2)
        #expect(neighbors.indices.count == 6)
        // Large but safe rows still search.
        let large = Matrix(rows: 3, columns: 2, values: [1e18, 1e18, 1e18, -1e18, 1, 1])
        #expect(try ExactSearch(references: large, distance: .innerProduct).search(k: 1).indices == [2, 0, 0])
    }
}

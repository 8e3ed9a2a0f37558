import CKernels
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Exact k-nearest-neighbour search by blocked matrix products.
///
/// The similarity matrix is computed tile by tile with sgemm (queries x references, `tileSize`
/// rows and columns at a time), so the full N x N matrix never exists; each tile is folded
/// into per-query bounded candidates at once. In self-retrieval (the queries are the references)
/// the symmetry is used: each pair of tiles is computed once, on the upper triangle, and
/// feeds both its rows' and its columns' candidates, halving the arithmetic; the query itself is
/// excluded by index. Ties are broken by the lower reference index, so the result does not
/// depend on the tile size, the thread count or the path taken.
///
/// Each query may ask for its own depth (`search(depths:body:)`), and the lists are handed
/// over block by block as they become final, so no N x depth matrix need exist. Two paths
/// gather the candidates: bounded candidate buffers fed by the tiles (the above, with
/// thresholds seeded from a sample, `ExactSearch+Seeds.swift`; best in self-retrieval when
/// the buffers fit in memory, and for shallow lists), or whole score rows a block of queries at
/// a time, selected by a threshold (`ExactSearch+Rows.swift`; bounded in memory at any depth).
/// A measured cost model chooses (`chosenPath`); both end in the same canonical ranking, so
/// they give the same lists bit for bit. The products are sgemm's, or for deep lists the
/// canonical scores themselves (`ExactSearch+Products.swift`), which leave the ranking
/// nothing to re-score; the lists are the same either way.
///
/// Threads: `threads` workers of our own each compute a slice of a tile's rows with a
/// single-threaded sgemm and fold it into the candidates of their own queries; the column side of
/// a symmetric tile is then folded by the same workers over disjoint column ranges. When the
/// rows are in memory and there are enough tiles, the symmetric pass instead gives each worker
/// whole tiles, in rounds whose tiles share no block (`ExactSearch+Rounds.swift`). BLAS is
/// kept to one thread, so its idle threads never spin on the cores the folds need.
public struct ExactSearch: NeighborSearch, Sendable {
    /// The similarity ranked by.
    public let distance: Distance
    /// The references (normalised for cosine: in memory at once, a mapped file tile by tile).
    let references: SearchRows
    /// The queries, or nil in self-retrieval.
    let queries: SearchRows?
    /// In self-retrieval, the reference rows that are the queries: query i is row
    /// `selfQueries.lowerBound + i`. All the rows unless a range was asked for.
    let selfQueries: Range<Int>
    let referenceNorms: [Float]
    /// Indexed by query (0 ..< queryCount).
    let queryNorms: [Float]
    /// The rows' norms, for inner products and squared distances (empty for cosine, whose
    /// bounds need none): the overflow check and the canonical ranking's margins use them.
    /// References, and queries indexed by query.
    let boundNorms: (references: [Double], queries: [Double])
    /// Rows and columns per tile.
    public var tileSize: Int
    /// Worker threads for the products and the folds.
    public var threads: Int
    /// Use the symmetric (upper-triangle) path in self-retrieval; off only to check it.
    public var useSymmetry: Bool
    /// Candidate buffers or whole score rows; `.automatic` lets the cost model choose.
    public var path: ExactSearchPath = .automatic
    /// sgemm or products in the canonical order; `.automatic` lets the cost model choose
    /// (`ExactSearch+Products.swift`).
    public var productKernel: ExactProductKernel = .automatic
    /// Whether this search's products are the canonical scores themselves (resolved from
    /// `productKernel` when the search starts).
    var canonicalProducts = false
    /// The most the candidate buffers may take before the row path is chosen whatever the
    /// cost model says.
    public var candidateMemoryBudget: Int = 384 << 20
    /// When both the queries and the references are read from a mapped file (self-retrieval
    /// streamed), the most a block of copied queries takes: each block reads the references
    /// once, so larger blocks read the file fewer times. By default 256 MiB, or an eighth of
    /// the memory the process may have when that is less.
    public var queryBlockBytes: Int = min(256 << 20, MemoryBudget.limitBytes / 8)
    /// Row path: queries per block and per ranking chunk, when set (tests: many small blocks).
    var rowBlockRows: Int?
    /// Row path: whether it takes its symmetric form where it can (`takesSymmetricRows`; off
    /// only to compare), and the most its pending candidates may take when set (tests: a
    /// small budget, so that queries are dropped).
    var symmetricRows = true
    var pendingBudget: Int?
    /// Called after a symmetric row search with its pending candidates' peak bytes and the
    /// queries dropped (tests).
    var pendingObserver: (@Sendable (_ peakBytes: Int, _ dropped: Int) -> Void)?
    var rankingChunk: Int?
    /// How the symmetric pass shares its tiles between the workers (tests pin it).
    var tileSchedule: TileSchedule = .automatic
    /// Candidate path: references sampled to seed the thresholds (0: none), when set; the
    /// default is `defaultSeedSample` (see `ExactSearch+Seeds.swift`).
    var seedSample: Int?
    /// Added to every seeded threshold (tests: too high a seed, so that queries come up short
    /// and are refilled).
    var seedShift: Float = 0
    /// How many dimensions the search zeroed as negligible in every row (`NegligibleValues`).
    private(set) var zeroedDimensions = 0
    /// Whether the searches made in this task zero negligible values (tests turn it off, with
    /// `$zeroesNegligibleValues.withValue(false)`, to compare).
    @TaskLocal static var zeroesNegligibleValues = true

    /// Whether the queries are the references themselves (each excluding itself).
    public var isSelfRetrieval: Bool { queries == nil }
    /// The deepest list possible: the references, less the query itself in self-retrieval.
    public var availableDepth: Int { isSelfRetrieval ? references.rows - 1 : references.rows }
    /// The number of references.
    var referenceCount: Int { references.rows }
    /// The number of dimensions.
    var dimensions: Int { references.columns }
    /// The first reference row that is a query (self-retrieval; 0 otherwise).
    var queryOffset: Int { isSelfRetrieval ? selfQueries.lowerBound : 0 }
    /// Whether the references are read from a mapped file.
    public var streamsReferences: Bool { references.isMapped }

    /// Prepares a search of `queries` (or of the references themselves when nil).
    ///
    /// - Throws: `SearchError` when the dimensions differ, or, for cosine, when a row has
    ///   zero norm (it has no direction to compare).
    public init(
        references: Matrix, queries: Matrix? = nil, distance: Distance = .cosine,
        tileSize: Int = 1024, threads: Int = ExactSearch.defaultThreads, useSymmetry: Bool = true
    ) throws {
        try self.init(references: .matrix(references), queries: queries.map { .matrix($0) }, distance: distance,
                      tileSize: tileSize, threads: threads, useSymmetry: useSymmetry)
    }

    /// Prepares a search whose references (and queries) are read from `references` (and
    /// `queries`): in memory, or a mapped file read tile by tile. The lists are the same, bit
    /// for bit, whatever the source.
    ///
    /// - Parameters:
    ///   - queries: the queries, or nil for self-retrieval.
    ///   - queryRows: in self-retrieval, the reference rows to use as queries (each still
    ///     searched against every reference, itself excluded): query i of the search is row
    ///     `queryRows.lowerBound + i`. All rows when nil. A part of the rows loses the
    ///     symmetric path (each pair is then computed by the query's own side).
    /// - Throws: `SearchError` when the dimensions differ, for cosine when a row has zero
    ///   norm, and otherwise when the rows are so large that a score could overflow float32.
    public init(
        references: EmbeddingSource, queries: EmbeddingSource? = nil, queryRows: Range<Int>? = nil, distance: Distance = .cosine,
        tileSize: Int = 1024, threads: Int = ExactSearch.defaultThreads, useSymmetry: Bool = true
    ) throws {
        if let queries, queries.columns != references.columns {
            throw SearchError("the queries have \(queries.columns) dimensions but the references \(references.columns); embed both with the same model")
        }
        precondition(queries == nil || queryRows == nil, "a query range is for self-retrieval")
        let selfQueries = queryRows ?? 0 ..< references.rows
        precondition(selfQueries.lowerBound >= 0 && selfQueries.upperBound <= references.rows, "query rows within the references")
        precondition(tileSize > 0 && threads > 0)
        self.distance = distance
        self.tileSize = tileSize
        self.threads = threads
        self.useSymmetry = useSymmetry
        self.selfQueries = selfQueries
        var referenceRows = try SearchRows(references, distance: distance, rowName: "reference row")
        var queryRows = try queries.map { try SearchRows($0, distance: distance, rowName: "query row") }
        if distance != .squaredL2 && ExactSearch.zeroesNegligibleValues {
            // Values whose products are zero anyway, set to zero so that no product underflows
            // (`NegligibleValues`: the same scores, bit for bit).
            var census = NegligibleValues.Census(columns: referenceRows.columns)
            try referenceRows.count(into: &census)
            try queryRows?.count(into: &census)
            if let zeros = census.dimensions {
                referenceRows.zeroing(zeros)
                queryRows?.zeroing(zeros)
                zeroedDimensions = zeros.count
            }
        }
        self.references = referenceRows
        self.queries = queryRows
        // One pass over the rows for their norms, which every use below shares.
        let referenceRowNorms = distance == .cosine ? [] : references.rowNorms()
        let queryRowNorms = distance == .cosine ? [] : queries.map { $0.rowNorms() } ?? Array(referenceRowNorms[selfQueries])
        boundNorms = (referenceRowNorms, queryRowNorms)
        if distance != .cosine {
            // Every score and every partial sum of one is at most |q| |r| (inner products) or
            // (|q| + |r|)^2 (squared distances) in magnitude: refuse rows large enough for that
            // to overflow float32, which would give infinite or NaN scores and no order.
            let largestReference = referenceRowNorms.max() ?? 0
            let largestQuery = queries == nil ? largestReference : queryRowNorms.max() ?? 0
            let reach = distance == .squaredL2
                ? (largestReference + largestQuery) * (largestReference + largestQuery) : largestReference * largestQuery
            guard reach < 1e37 else {
                throw SearchError(
                    "the rows' norms reach \(Float(largestQuery)) (queries) and \(Float(largestReference)) (references): their \(distance == .squaredL2 ? "squared distances" : "inner products") would overflow float32 (3.4e38); scale the embeddings down, or use cosine")
            }
        }
        switch distance {
        case .cosine, .innerProduct:
            referenceNorms = []
            queryNorms = []
        case .squaredL2:
            referenceNorms = referenceRowNorms.map { Float($0 * $0) }
            queryNorms = queryRowNorms.map { Float($0 * $0) }
        }
    }

    /// The number of active processors.
    public static var defaultThreads: Int { max(1, activeProcessorCount()) }

    /// Finds the `k` best references of every query, as one matrix.
    public func search(k requested: Int, progress: SearchProgress? = nil) throws -> Neighbors {
        guard requested >= 0 else { throw SearchError("k must be at least 0, found \(requested)") }
        let depth = min(requested, availableDepth)
        let n = queryCount
        var indices = [Int32](repeating: 0, count: n * depth)
        var scores = [Float](repeating: 0, count: n * depth)
        try search(depths: [Int](repeating: depth, count: n), progress: progress) { block in
            for q in block.queries {
                let list = block.range(of: q)
                indices.replaceSubrange(q * depth ..< (q + 1) * depth, with: block.indices[list])
                scores.replaceSubrange(q * depth ..< (q + 1) * depth, with: block.scores[list])
            }
        }
        return Neighbors(queries: n, depth: depth, indices: indices, scores: scores)
    }

    /// The number of queries (the references themselves, or the asked part of them, in
    /// self-retrieval).
    public var queryCount: Int { queries?.rows ?? selfQueries.count }

    /// Finds the `depths[q]` best references of every query q and hands the lists to `body`
    /// block by block, in query order, as soon as they are final; no list outlives its block
    /// here. The lists are the same, bit for bit, whatever the path, tile size, threads or
    /// source of the rows.
    ///
    /// - Parameters:
    ///   - depths: one depth per query, each at most `availableDepth`; 0 asks for nothing.
    ///   - body: called on this thread with consecutive blocks covering every query.
    /// - Throws: `SearchError` when the memory a path needs cannot be had; whatever `body` throws.
    public func search(depths: [Int], progress: SearchProgress? = nil, body: (NeighborBlock) throws -> Void) throws {
        precondition(depths.count == queryCount, "one depth per query")
        precondition(depths.allSatisfy { $0 >= 0 && $0 <= availableDepth }, "depths within 0 ... availableDepth")
        let plan = plan(depths: depths)
        var search = self
        search.canonicalProducts = plan.canonicalProducts
        let kept = plan.kept
        // Our workers run the products (each on its slice of a tile or block) and the folds, so
        // BLAS itself stays single-threaded: no idle BLAS threads spinning on the cores the
        // folds need.
        BLAS.setThreads(1)
        switch plan.path {
        case .candidates, .automatic:
            try search.candidateSearch(depths: depths, kept: kept, progress: progress, body: body)
        case .rows where search.takesSymmetricRows:
            try search.symmetricRowSearch(depths: depths, progress: progress, body: body)
        case .rows:
            try search.rowSearch(depths: depths, kept: kept, progress: progress, body: body)
        }
        progress?(1)
    }

    /// What a search of `depths` does: its products, the candidates each query keeps, its path.
    struct Plan {
        /// Whether the products are the canonical scores (`chosenProducts`).
        let canonicalProducts: Bool
        /// Per query: its depth plus the slack the final ranking needs (`ExactSearch.slack`;
        /// none with canonical products, whose order is already final).
        let kept: [Int]
        /// The path (`chosenPath`).
        let path: ExactSearchPath
    }

    /// The plan of a search of `depths`. Each query keeps some candidates beyond its depth, so
    /// that the final ranking by canonical scores (see `CanonicalRanking`) can prove it holds
    /// the true top; with canonical products the kept candidates are in their final order, and
    /// none is needed beyond the depth. The path's crossover was measured with the slack, so it
    /// is read with it whatever the products; the memory budget, with what is kept.
    func plan(depths: [Int]) -> Plan {
        let canonical = chosenProducts(depths: depths)
        let available = availableDepth
        let withSlack = depths.map { $0 > 0 ? min($0 + ExactSearch.slack($0), available) : 0 }
        let kept = canonical ? depths : withSlack
        return Plan(canonicalProducts: canonical, kept: kept, path: chosenPath(kept: kept, measuredAs: withSlack))
    }

    /// Whether the symmetric pass applies: self-retrieval of every row, symmetry allowed.
    var symmetric: Bool { isSelfRetrieval && useSymmetry && selfQueries == 0 ..< references.rows }

    /// The candidate-buffer path: tile passes folding into per-query buffers, then the final
    /// ranking block by block.
    private func candidateSearch(
        depths: [Int], kept: [Int], progress: SearchProgress?, body: (NeighborBlock) throws -> Void
    ) throws {
        let candidates = try TopKBuffers(ks: kept)
        let meanKept = ExactSearch.meanKept(kept)
        // The share of the work in the tile passes, the rest being the final ranking: the
        // passes cost about n^2 d, the ranking about n kept d with more memory traffic per
        // candidate (a rough model; it only steers the progress bar's ETA).
        let passShare = Double(referenceCount) / (Double(referenceCount) + 8 * meanKept)
        let passProgress = ExactSearch.scaled(progress, from: 0, to: passShare)
        if candidates.maximumK > 0 {
            if let seeds = try sampledThresholds(kept: kept, size: seedSample ?? defaultSeedSample(kept: kept)) {
                candidates.seed(seeds)
            }
            if symmetric {
                try symmetricPass(candidates, progress: passProgress)
            } else {
                try plainPass(candidates, progress: passProgress)
            }
            let short = candidates.shortQueries()
            if !short.isEmpty {
                try refill(short, candidates)
                let still = candidates.shortQueries()
                precondition(still.isEmpty, "query \(still.first ?? 0) was offered every reference and still holds too few")
            }
        }
        try finalize(candidates, depths: depths, progress: ExactSearch.scaled(progress, from: passShare, to: 1), body: body)
    }

    /// Runs `body` with access to the references and to the queries (the references
    /// themselves in self-retrieval; query i is then row `queryOffset + i`).
    func withAccess<R>(_ body: (_ references: RowAccess, _ queries: RowAccess) throws -> R) rethrows -> R {
        try references.withAccess { ra in
            if let queries { return try queries.withAccess { qa in try body(ra, qa) } }
            return try body(ra, ra)
        }
    }

    /// Queries per block of the tile passes: one tile's worth when the references are in
    /// memory (each query tile meets every reference tile in turn, as it always has); when
    /// they are read from a file, every query in memory, or as many copied queries as
    /// `queryBlockBytes` allows, so that the file is read as few times as can be. Always a
    /// multiple of the tile size, so the tiles, and the products, are the same.
    func queryBlockRows(_ ra: RowAccess, _ qa: RowAccess) -> Int {
        let t = tileSize, nq = max(1, queryCount)
        guard ra.copies else { return t }
        let wanted = qa.copies ? queryBlockBytes / (4 * max(1, dimensions)) : nq
        return max(1, min((nq + t - 1) / t, wanted / t)) * t
    }

    /// The products of `search` alone: the same tiles (upper triangle in self-retrieval with
    /// symmetry, in the same rounds when the search uses them, diagonal tiles in the same
    /// strips), the same workers and sgemm calls (the canonical kernel's when `productKernel`
    /// is `.canonical`; `.automatic` is sgemm here, there being no depths to choose by), and
    /// nothing kept. The floor a search's time is measured against (Benchmarks/,
    /// docs/benchmarks.md); it returns nothing useful.
    ///
    /// - Returns: a value of a tile, so that the work cannot be optimised away.
    public func productsOnly() throws -> Float {
        var search = self
        search.canonicalProducts = productKernel == .canonical && distance != .squaredL2
        return try search.timedProducts()
    }

    /// The seconds `productsOnly` takes with the products a search of `depths` would compute
    /// (`chosenProducts`: the canonical kernel's or sgemm's, as `productKernel` resolves): the
    /// floor of that search's time, measured in the same process (`dmleval --time-products`).
    public func productsSeconds(depths: [Int]) throws -> Double {
        var search = self
        search.canonicalProducts = chosenProducts(depths: depths)
        let clock = ContinuousClock()
        let start = clock.now
        _ = try search.timedProducts()
        return (clock.now - start).seconds
    }

    private func timedProducts() throws -> Float {
        BLAS.setThreads(1)
        if symmetric, let rounds = tileRounds() {
            return try roundPass(rounds) { tile, all, s in computeRoundTile(s, all, into: tile) } tileDone: {}
        }
        let t = tileSize, nq = queryCount, nr = referenceCount
        let tile = try allocate(Float.self, count: min(t, nq) * min(t, nr), for: "one tile")
        defer { free(tile) }
        let c = UncheckedSendable(tile)
        try tilePasses(symmetric: symmetric) { qp, rp, i0, rows, j0, cols in
            if symmetric && i0 == j0 {
                dealDiagonalStrips(rows) { strip in computeDiagonalStrip(strip, qp, rp, rows: rows, i0: i0, into: c.value) }
                return
            }
            parallelRanges(rows) { lo, hi in
                computeTile(qp + lo * dimensions, rp, rows: hi - lo, cols: cols, i0: i0 + lo, j0: j0, into: c.value + lo * cols)
            }
        }
        return tile[0]
    }

    /// `progress` mapped onto the part [from, to] of the whole.
    static func scaled(_ progress: SearchProgress?, from: Double, to: Double) -> SearchProgress? {
        guard let progress else { return nil }
        return { @Sendable fraction in progress(from + fraction * (to - from)) }
    }

    // MARK: - Passes

    /// Walks the tiles of a pass: for each (query tile, reference tile) calls `body` with the
    /// query tile's first row, the reference tile's first row (both `dimensions` apart), the
    /// first query i0 and the tile's rows, the first reference j0 and the tile's columns.
    ///
    /// Plain: every query tile against every reference tile. Symmetric (self-retrieval of
    /// every row): the upper triangle, reference tile J >= query tile I. Queries go in blocks
    /// (`queryBlockRows`); within a block each reference tile is read once and meets the
    /// block's query tiles in turn. Every query still meets the reference tiles in the same
    /// order, and every tile is the same product, whatever the block.
    func tilePasses(
        symmetric: Bool,
        _ body: (_ queries: UnsafePointer<Float>, _ references: UnsafePointer<Float>, _ i0: Int, _ rows: Int, _ j0: Int, _ cols: Int) -> Void
    ) throws {
        let t = tileSize, d = dimensions, nq = queryCount, nr = referenceCount, offset = queryOffset
        try withAccess { ra, qa in
            let blockRows = queryBlockRows(ra, qa)
            let queryBuffer = qa.copies ? try allocate(Float.self, count: min(blockRows, nq) * d, for: "a block of \(blockRows) queries") : nil
            defer { free(queryBuffer) }
            let referenceBuffer = ra.copies ? try allocate(Float.self, count: min(t, nr) * d, for: "one tile of references") : nil
            defer { free(referenceBuffer) }
            for b0 in stride(from: 0, to: nq, by: blockRows) {
                let b1 = min(nq, b0 + blockRows)
                let qp = qa.rows(offset + b0, offset + b1, buffer: queryBuffer)
                for j0 in stride(from: symmetric ? b0 : 0, to: nr, by: t) {
                    let cols = min(t, nr - j0)
                    let rp = ra.rows(j0, j0 + cols, buffer: referenceBuffer)
                    for i0 in stride(from: b0, to: symmetric ? min(b1, j0 + 1) : b1, by: t) {
                        body(qp + (i0 - b0) * d, rp, i0, min(t, b1 - i0), j0, cols)
                    }
                }
            }
        }
    }

    /// Every query tile against every reference tile.
    private func plainPass(_ candidates: TopKBuffers, progress: SearchProgress?) throws {
        let t = tileSize, d = dimensions
        let nq = queryCount, nr = referenceCount
        var tile = [Float](repeating: 0, count: min(t, nq) * min(t, nr))
        let totalTiles = ((nq + t - 1) / t) * ((nr + t - 1) / t)
        var done = 0
        let excludeSelf = isSelfRetrieval, offset = queryOffset
        try tile.withUnsafeMutableBufferPointer { tb in
            try candidates.withHandle { h in
                let c = UncheckedSendable(tb.baseAddress!)
                try tilePasses(symmetric: false) { qp, rp, i0, rows, j0, cols in
                    // Each worker computes its slice of the tile's rows with a
                    // single-threaded sgemm, then folds those rows.
                    parallelRanges(rows) { lo, hi in
                        computeTile(qp + lo * d, rp, rows: hi - lo, cols: cols, i0: i0 + lo, j0: j0, into: c.value + lo * cols)
                        for i in lo ..< hi {
                            let q = i0 + i
                            h.offerRow(q, c.value + i * cols, count: cols, firstIndex: j0, skip: excludeSelf ? offset + q : -1)
                        }
                    }
                    done += 1
                    progress?(Double(done) / Double(totalTiles))
                }
            }
        }
    }

    /// Self-retrieval on the upper triangle of tiles: tile (I, J), J >= I, is computed once
    /// (a diagonal tile's pairs above the diagonal only, `computeDiagonalStrip`) and feeds the
    /// candidates of its rows (queries of I) and of its columns (queries of J).
    private func symmetricPass(_ candidates: TopKBuffers, progress: SearchProgress?) throws {
        if let rounds = tileRounds() {
            // Whole tiles per worker (`ExactSearch+Rounds.swift`): the worker owns the
            // queries of both the tile's blocks, so it offers each row to its query and, while
            // the row is in cache, to the column queries.
            let totalTiles = rounds.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }
            var done = 0
            try candidates.withHandle { h in
                _ = try roundPass(rounds) { tile, all, s in
                    computeRoundTile(s, all, into: tile)
                    for i in 0 ..< s.rows {
                        // A diagonal tile's pairs above the diagonal only: those were computed.
                        let q = s.i0 + i, row = tile + i * s.cols, first = s.i0 == s.j0 ? i + 1 : 0
                        h.offerRow(q, row + first, count: s.cols - first, firstIndex: s.j0 + first)
                        h.offerColumn(row, lo: first, hi: s.cols, firstQuery: s.j0, index: Int32(q))
                    }
                } tileDone: {
                    done += 1
                    progress?(Double(done) / Double(totalTiles))
                }
            }
            return
        }
        let t = tileSize, d = dimensions, n = referenceCount
        var tile = [Float](repeating: 0, count: min(t, n) * min(t, n))
        let blocks = (n + t - 1) / t
        let totalTiles = blocks * (blocks + 1) / 2
        var done = 0
        try tile.withUnsafeMutableBufferPointer { tb in
            try candidates.withHandle { h in
                let c = UncheckedSendable(tb.baseAddress!)
                try tilePasses(symmetric: true) { qp, rp, i0, rows, j0, cols in
                    let diagonal = i0 == j0
                    // Rows: each worker computes its slice of the tile's rows with a
                    // single-threaded sgemm (a diagonal tile: its strips, dealt to the workers,
                    // first), then offers queries i0 + i the references j0 + j (a diagonal
                    // tile's pairs above the diagonal only: those were computed).
                    if diagonal {
                        dealDiagonalStrips(rows) { strip in computeDiagonalStrip(strip, qp, rp, rows: rows, i0: i0, into: c.value) }
                    }
                    parallelRanges(rows) { lo, hi in
                        if !diagonal {
                            computeTile(qp + lo * d, rp, rows: hi - lo, cols: cols, i0: i0 + lo, j0: j0, into: c.value + lo * cols)
                        }
                        for i in lo ..< hi {
                            let first = diagonal ? i + 1 : 0
                            h.offerRow(i0 + i, c.value + i * cols + first, count: cols - first, firstIndex: j0 + first)
                        }
                    }
                    // Columns: queries j0 + j offered references i0 + i. Each worker
                    // owns a range of columns and walks the tile row by row.
                    parallelRanges(cols) { lo, hi in
                        for i in 0 ..< rows {
                            let first = diagonal ? Swift.max(lo, i + 1) : lo
                            h.offerColumn(c.value + i * cols, lo: first, hi: hi, firstQuery: j0, index: Int32(i0 + i))
                        }
                    }
                    done += 1
                    progress?(Double(done) / Double(totalTiles))
                }
            }
        }
    }

    /// Fills `out` (rows x cols, row-major, rows `ldc` apart; `cols` when nil) with the
    /// similarities of queries `a` (queries i0 ..< i0 + rows, or `queryIndices` when the rows
    /// were gathered from anywhere) to references `b` (from reference j0).
    func computeTile(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, cols: Int,
        i0: Int, j0: Int, into out: UnsafeMutablePointer<Float>, ldc: Int? = nil, queryIndices: ArraySlice<Int>? = nil
    ) {
        let d = dimensions, ldc = ldc ?? cols
        if canonicalProducts {
            // Cosine and inner products only: each score is g itself.
            dmle_fixed_products(a, d, b, d, rows, cols, d, out, ldc)
            return
        }
        BLAS.gemmNT(m: rows, n: cols, k: d, a: a, lda: d, b: b, ldb: d, c: out, ldc: ldc)
        if distance == .squaredL2 {
            // -||q - r||^2 = 2 q.r - ||q||^2 - ||r||^2
            let qn = queryNorms, rn = referenceNorms
            for i in 0 ..< rows {
                let row = out + i * ldc
                let a = qn[queryIndices.map { $0[$0.startIndex + i] } ?? i0 + i]
                for j in 0 ..< cols { row[j] = 2 * row[j] - a - rn[j0 + j] }
            }
        }
    }

    /// Runs `body(lo, hi)` over `count` items split into `threads` contiguous ranges (at
    /// least 64 items each).
    func parallelRanges(_ count: Int, _ body: (Int, Int) -> Void) {
        RetrievalEval.parallelRanges(count, workers: threads, minimumPerWorker: 64) { _, range in
            body(range.lowerBound, range.upperBound)
        }
    }
}

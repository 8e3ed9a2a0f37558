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
/// gather the candidates: bounded candidate buffers fed by the tiles (the above; best for
/// shallow lists), or whole score rows a block of queries at a time, selected by a threshold
/// (`ExactSearch+Rows.swift`; best, and bounded in memory, for lists that are a large fraction
/// of the references). A measured cost model chooses (`chosenPath`); both end in the same
/// canonical ranking, so they give the same lists bit for bit.
///
/// Threads: `threads` workers of our own each compute a slice of a tile's rows with a
/// single-threaded sgemm and fold it into the candidates of their own queries; the column side of
/// a symmetric tile is then folded by the same workers over disjoint column ranges. BLAS is
/// kept to one thread, so its idle threads never spin on the cores the folds need.
public struct ExactSearch: NeighborSearch, Sendable {
    public let distance: Distance
    /// The references (normalised for cosine).
    let references: Matrix
    /// The queries, or nil in self-retrieval.
    let queries: Matrix?
    let referenceNorms: [Float]
    let queryNorms: [Float]
    /// Rows and columns per tile.
    public var tileSize: Int
    /// Worker threads for the products and the folds.
    public var threads: Int
    /// Use the symmetric (upper-triangle) path in self-retrieval; off only to check it.
    public var useSymmetry: Bool
    /// Candidate buffers or whole score rows; `.automatic` lets the cost model choose.
    public var path: ExactSearchPath = .automatic
    /// The most the candidate buffers may take before the row path is chosen whatever the
    /// cost model says.
    public var candidateMemoryBudget: Int = 384 << 20
    /// Row path: queries per block and per ranking chunk, when set (tests: many small blocks).
    var rowBlockRows: Int?
    var rankingChunk: Int?

    public var isSelfRetrieval: Bool { queries == nil }
    public var availableDepth: Int { isSelfRetrieval ? references.rows - 1 : references.rows }

    /// Prepares a search of `queries` (or of the references themselves when nil).
    ///
    /// - Throws: `SearchError` when the dimensions differ, or, for cosine, when a row has
    ///   zero norm (it has no direction to compare).
    public init(
        references: Matrix, queries: Matrix? = nil, distance: Distance = .cosine,
        tileSize: Int = 1024, threads: Int = ExactSearch.defaultThreads, useSymmetry: Bool = true
    ) throws {
        if let queries, queries.columns != references.columns {
            throw SearchError("the queries have \(queries.columns) dimensions but the references \(references.columns); embed both with the same model")
        }
        precondition(tileSize > 0 && threads > 0)
        self.distance = distance
        self.tileSize = tileSize
        self.threads = threads
        self.useSymmetry = useSymmetry
        switch distance {
        case .cosine:
            self.references = try references.unitRows(rowName: "reference row", alternatives: "ip or l2")
            self.queries = try queries?.unitRows(rowName: "query row", alternatives: "ip or l2")
            referenceNorms = []
            queryNorms = []
        case .innerProduct:
            self.references = references
            self.queries = queries
            referenceNorms = []
            queryNorms = []
        case .squaredL2:
            self.references = references
            self.queries = queries
            referenceNorms = references.rowNorms().map { Float($0 * $0) }
            queryNorms = queries.map { $0.rowNorms().map { Float($0 * $0) } } ?? referenceNorms
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

    /// The number of queries (the references themselves in self-retrieval).
    public var queryCount: Int { (queries ?? references).rows }

    /// Finds the `depths[q]` best references of every query q and hands the lists to `body`
    /// block by block, in query order, as soon as they are final; no list outlives its block
    /// here. The lists are the same, bit for bit, whatever the path, tile size or threads.
    ///
    /// - Parameters:
    ///   - depths: one depth per query, each at most `availableDepth`; 0 asks for nothing.
    ///   - body: called on this thread with consecutive blocks covering every query.
    /// - Throws: `SearchError` when the memory a path needs cannot be had; whatever `body` throws.
    public func search(depths: [Int], progress: SearchProgress? = nil, body: (NeighborBlock) throws -> Void) throws {
        precondition(depths.count == queryCount, "one depth per query")
        precondition(depths.allSatisfy { $0 >= 0 && $0 <= availableDepth }, "depths within 0 ... availableDepth")
        // Each query keeps some candidates beyond its depth, so that the final ranking by
        // canonical scores (see `CanonicalRanking`) can prove it holds the true top.
        let available = availableDepth
        let kept = depths.map { $0 > 0 ? min($0 + ExactSearch.slack($0), available) : 0 }
        // Our workers run the products (each on its slice of a tile or block) and the folds, so
        // BLAS itself stays single-threaded: no idle BLAS threads spinning on the cores the
        // folds need.
        BLAS.setThreads(1)
        switch chosenPath(kept: kept) {
        case .candidates, .automatic:
            try candidateSearch(depths: depths, kept: kept, progress: progress, body: body)
        case .rows:
            try rowSearch(depths: depths, kept: kept, progress: progress, body: body)
        }
        progress?(1)
    }

    /// The candidate-buffer path: tile passes folding into per-query buffers, then the final
    /// ranking block by block.
    private func candidateSearch(
        depths: [Int], kept: [Int], progress: SearchProgress?, body: (NeighborBlock) throws -> Void
    ) throws {
        let candidates = try TopKBuffers(ks: kept)
        let meanKept = Double(kept.reduce(0, +)) / Double(max(1, kept.count))
        // The share of the work in the tile passes, the rest being the final ranking: the
        // passes cost about n^2 d, the ranking about n kept d with more memory traffic per
        // candidate (a rough model; it only steers the progress bar's ETA).
        let passShare = Double(references.rows) / (Double(references.rows) + 8 * meanKept)
        let passProgress = ExactSearch.scaled(progress, from: 0, to: passShare)
        if candidates.maximumK > 0 {
            if isSelfRetrieval && useSymmetry {
                symmetricPass(candidates, progress: passProgress)
            } else {
                plainPass(queries ?? references, candidates, progress: passProgress)
            }
            candidates.finish()
        }
        try finalize(candidates, depths: depths, progress: ExactSearch.scaled(progress, from: passShare, to: 1), body: body)
    }

    /// The products of `search` alone: the same tiles (upper triangle in self-retrieval with
    /// symmetry), the same workers and sgemm calls, and nothing kept. The floor a search's
    /// time is measured against (Benchmarks/, docs/benchmarks.md); it returns nothing useful.
    ///
    /// - Returns: a checksum of the last tile, so that the work cannot be optimised away.
    public func productsOnly() throws -> Float {
        BLAS.setThreads(1)
        let queryMatrix = queries ?? references
        let t = tileSize, d = references.columns, nq = queryMatrix.rows, nr = references.rows
        let symmetric = isSelfRetrieval && useSymmetry
        let tile = try allocate(Float.self, count: min(t, nq) * min(t, nr), for: "one tile")
        defer { free(tile) }
        queryMatrix.values.withUnsafeBufferPointer { qv in
            references.values.withUnsafeBufferPointer { rv in
                let c = UncheckedSendable(tile)
                for i0 in stride(from: 0, to: nq, by: t) {
                    let rows = min(t, nq - i0)
                    for j0 in stride(from: symmetric ? i0 : 0, to: nr, by: t) {
                        let cols = min(t, nr - j0)
                        parallelRanges(rows) { lo, hi in
                            computeTile(qv.baseAddress! + (i0 + lo) * d, rv.baseAddress! + j0 * d,
                                        rows: hi - lo, cols: cols, i0: i0 + lo, j0: j0, into: c.value + lo * cols)
                        }
                    }
                }
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

    /// Every query tile against every reference tile.
    private func plainPass(_ queryMatrix: Matrix, _ candidates: TopKBuffers, progress: SearchProgress?) {
        let t = tileSize, d = references.columns
        let nq = queryMatrix.rows, nr = references.rows
        var tile = [Float](repeating: 0, count: min(t, nq) * min(t, nr))
        let totalTiles = ((nq + t - 1) / t) * ((nr + t - 1) / t)
        var done = 0
        let excludeSelf = isSelfRetrieval
        queryMatrix.values.withUnsafeBufferPointer { qv in
            references.values.withUnsafeBufferPointer { rv in
                tile.withUnsafeMutableBufferPointer { tb in
                    candidates.withHandle { h in
                        for i0 in stride(from: 0, to: nq, by: t) {
                            let rows = min(t, nq - i0)
                            for j0 in stride(from: 0, to: nr, by: t) {
                                let cols = min(t, nr - j0)
                                let c = UncheckedSendable(tb.baseAddress!)
                                // Each worker computes its slice of the tile's rows with a
                                // single-threaded sgemm, then folds those rows.
                                parallelRanges(rows) { lo, hi in
                                    computeTile(qv.baseAddress! + (i0 + lo) * d, rv.baseAddress! + j0 * d,
                                                rows: hi - lo, cols: cols, i0: i0 + lo, j0: j0, into: c.value + lo * cols)
                                    for i in lo ..< hi {
                                        let q = i0 + i
                                        h.offerRow(q, c.value + i * cols, count: cols, firstIndex: j0, skip: excludeSelf ? q : -1)
                                    }
                                }
                                done += 1
                                progress?(Double(done) / Double(totalTiles))
                            }
                        }
                    }
                }
            }
        }
    }

    /// Self-retrieval on the upper triangle of tiles: tile (I, J), J >= I, is computed once
    /// and feeds the candidates of its rows (queries of I) and, off the diagonal, of its columns
    /// (queries of J).
    private func symmetricPass(_ candidates: TopKBuffers, progress: SearchProgress?) {
        let t = tileSize, d = references.columns, n = references.rows
        var tile = [Float](repeating: 0, count: min(t, n) * min(t, n))
        let blocks = (n + t - 1) / t
        let totalTiles = blocks * (blocks + 1) / 2
        var done = 0
        references.values.withUnsafeBufferPointer { xv in
            tile.withUnsafeMutableBufferPointer { tb in
                candidates.withHandle { h in
                    for i0 in stride(from: 0, to: n, by: t) {
                        let rows = min(t, n - i0)
                        for j0 in stride(from: i0, to: n, by: t) {
                            let cols = min(t, n - j0)
                            let c = UncheckedSendable(tb.baseAddress!)
                            let diagonal = i0 == j0
                            // Rows: each worker computes its slice of the tile's rows with a
                            // single-threaded sgemm, then offers queries i0 + i the references
                            // j0 + j.
                            parallelRanges(rows) { lo, hi in
                                computeTile(xv.baseAddress! + (i0 + lo) * d, xv.baseAddress! + j0 * d,
                                            rows: hi - lo, cols: cols, i0: i0 + lo, j0: j0, into: c.value + lo * cols)
                                for i in lo ..< hi {
                                    let q = i0 + i
                                    h.offerRow(q, c.value + i * cols, count: cols, firstIndex: j0, skip: diagonal ? q : -1)
                                }
                            }
                            // Columns: queries j0 + j offered references i0 + i. Each worker
                            // owns a range of columns and walks the tile row by row.
                            if !diagonal {
                                parallelRanges(cols) { lo, hi in
                                    for i in 0 ..< rows {
                                        let row = c.value + i * cols
                                        let r = Int32(i0 + i)
                                        h.offerColumn(row, lo: lo, hi: hi, firstQuery: j0, index: r)
                                    }
                                }
                            }
                            done += 1
                            progress?(Double(done) / Double(totalTiles))
                        }
                    }
                }
            }
        }
    }

    /// Fills `out` (rows x cols, row-major) with the similarities of rows `a` to rows `b`.
    func computeTile(
        _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, rows: Int, cols: Int,
        i0: Int, j0: Int, into out: UnsafeMutablePointer<Float>
    ) {
        let d = references.columns
        BLAS.gemmNT(m: rows, n: cols, k: d, a: a, lda: d, b: b, ldb: d, c: out, ldc: cols)
        if distance == .squaredL2 {
            // -||q - r||^2 = 2 q.r - ||q||^2 - ||r||^2
            let qn = queryNorms, rn = referenceNorms
            for i in 0 ..< rows {
                let row = out + i * cols
                let a = qn[i0 + i]
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

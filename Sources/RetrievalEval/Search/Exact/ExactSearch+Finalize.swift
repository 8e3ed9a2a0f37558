import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The final ranking: canonical scores, so that the result is the same on every path.
///
/// sgemm does not compute a given inner product identically at every position of a tile
/// (edge kernels, blocking, thread splits), so two candidates with equal or nearly equal
/// scores may come out of the tiles in either order depending on the tile size, the thread
/// count or the symmetric path. The result must not depend on those, so the order is defined
/// by a canonical score g: one fixed-order SIMD kernel, a function of the two vectors only.
/// Ties in g go to the lower index.
///
/// Computing g for every kept candidate would cost as much as a second search for large k,
/// so it is computed only where the sgemm score f cannot decide. Both f and g are within a
/// rigorous bound of the exact value (Higham: about d 2^-24 |q| |r| for f, summed in an order
/// we do not know, and about (d / 16 + 9) 2^-24 |q| |r| for g, whose order we fix; similar for
/// squared distances), so |f - g| <= M, their sum. Each query keeps k + slack
/// candidates, sorted by f; wherever two neighbours differ in f by more than 2M, their order
/// in g is certain. Only runs of candidates linked by smaller gaps are scored in g and
/// re-sorted. The list is then sorted by g throughout, exactly as a full canonical sort would
/// be. If a run reaches the last kept candidate, some candidate left out could belong to it:
/// then every kept candidate is scored in g, and the list stands if the worst kept f plus M
/// is below the k-th g (no candidate left out can reach it); otherwise the query is scored
/// against every reference in g.
///
/// Reported scores are f outside those runs and g inside; they agree to within M.
///
/// With canonical products (`ExactProductKernel.canonical`, chosen for deep lists) every
/// tile computes g itself, so f = g and M = 0: the sort by (score, index) is the canonical
/// order, no run needs g, no slack is kept, and every reported score is g.
extension ExactSearch {
    /// Candidates kept beyond k: enough that near-ties at the boundary rarely force the
    /// full-scan fallback.
    static func slack(_ depth: Int) -> Int { max(16, depth / 8) }

    /// Ranks every query's kept candidates, block by block, and hands each block to `body`.
    ///
    /// Each worker ranks its share of a block in chunks of queries (`BatchedRanking`: the
    /// canonical scores of a chunk computed reference by reference). A query whose near-tie
    /// run reaches its last kept candidate is ranked alone by `CanonicalRanking.rank`, which
    /// checks the candidates left out.
    func finalize(
        _ candidates: TopKBuffers, depths: [Int], progress: SearchProgress? = nil, body: (NeighborBlock) throws -> Void
    ) throws {
        let n = depths.count
        let ranking = CanonicalRanking(self)
        let chunk = rankingChunk ?? BatchedRanking.chunk
        // Candidates ranked together per worker: 2^21 in all (32 bytes each with their
        // records, so 64 MiB whatever the threads), half the row path's, since the buffers
        // (up to `candidateMemoryBudget`) are held meanwhile.
        let entryBudget = max(1 << 16, (1 << 21) / max(1, threads))
        let pool = PerWorker(count: threads) { BatchedRanking(ranking) }
        var q0 = 0
        while q0 < n {
            // Blocks of about a million list entries (and at most 4,096 queries): the
            // workers share each block, and only one block's lists exist at a time.
            var q1 = q0, entries = 0
            while q1 < n && q1 - q0 < 4096 && (entries < 1 << 20 || q1 == q0) { entries += depths[q1]; q1 += 1 }
            var block = NeighborBlock(queries: q0 ..< q1, depths: depths[q0 ..< q1])
            let count = q1 - q0
            let workers = min(threads, max(1, entries / 4096), count)
            let (first, offset, d) = (q0, queryOffset, dimensions)
            try withAccess { ra, qa in
            try candidates.withHandle { h in
                try block.withUnsafeOutput { out in
                    // Rows read from a file are copied (and scaled) into each worker's own
                    // scratch: the chunk's queries (at most 4 MiB of them, so fewer queries
                    // per chunk for long rows), one query and one reference row.
                    let chunk = qa.copies && rankingChunk == nil ? min(chunk, max(64, (4 << 20) / (4 * max(1, d)))) : chunk
                    let chunkRows = min(chunk, count)
                    let queryFloats = qa.copies ? (chunkRows + 1) * d : 0, perWorker = queryFloats + (ra.copies ? d : 0)
                    let scratch = perWorker > 0 ? try allocate(Float.self, count: perWorker * workers, for: "scratch rows") : nil
                    defer { free(scratch) }
                    let box = UncheckedSendable(scratch)
                    parallelFor(workers: workers) { w in
                        let own = box.value.map { $0 + perWorker * w }
                        let chunkQueries = qa.copies ? own : nil, queryRow = qa.copies ? own.map { $0 + chunkRows * d } : nil
                        let referenceRow = ra.copies ? own.map { $0 + queryFloats } : nil
                        let work = pool.values + w
                        var i = count * w / workers
                        let end = count * (w + 1) / workers
                        while i < end {
                            work.pointee.reset()
                            let chunkStart = i
                            while i < end && i - chunkStart < chunk && work.pointee.flat.count < entryBudget {
                                let q = first + i, slot = i
                                i += 1
                                let kept = Int(h.ks[q]), held = Int(h.sizes[q]), start = h.offsets[q]
                                guard kept > 0 else { continue }
                                work.pointee.pairs.removeAll(keepingCapacity: true)
                                work.pointee.pairs.append(scores: h.scores + start, indices: h.indices + start, count: held)
                                if !work.pointee.add(q, slot: slot, depth: depths[q], keep: kept, holdsEverything: kept == ranking.available) {
                                    ranking.rank(q, query: qa.row(offset + q, buffer: queryRow), references: ra, scratch: referenceRow,
                                                 &work.pointee.pairs, depth: depths[q])
                                    out.write(slot, work.pointee.pairs)
                                }
                            }
                            let qp = qa.rows(offset + first + chunkStart, offset + first + i, buffer: chunkQueries)
                            work.pointee.finish(queries: qp, firstQuery: first + chunkStart, references: ra, scratch: referenceRow, into: out)
                        }
                    }
                }
            }
            }
            try body(block)
            q0 = q1
            progress?(Double(q1) / Double(n))
        }
    }

    /// Whether candidate `a` ranks before `b`: higher score, or equal score and lower index.
    @inline(__always)
    static func ranksBefore(_ a: (Float, Int32), _ b: (Float, Int32)) -> Bool {
        a.0 > b.0 || (a.0 == b.0 && a.1 < b.1)
    }

    /// The similarity of two rows by one fixed-order kernel: two SIMD8 accumulators over
    /// blocks of 16, then the tail, so the value depends on the vectors only. (Multiply then
    /// add, not fused: the generic x86-64 target has no FMA instruction.)
    @inline(__always)
    static func canonicalScore(_ q: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ d: Int, _ distance: Distance) -> Float {
        var a0 = SIMD8<Float>(), a1 = SIMD8<Float>()
        var j = 0
        let qr = UnsafeRawPointer(q), rr = UnsafeRawPointer(r)
        switch distance {
        case .cosine, .innerProduct:
            while j + 16 <= d {
                a0 += qr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                    * rr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                a1 += qr.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD8<Float>.self)
                    * rr.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD8<Float>.self)
                j += 16
            }
            var s = (a0 + a1).sum()
            while j < d { s += q[j] * r[j]; j += 1 }
            return s
        case .squaredL2:
            while j + 16 <= d {
                let d0 = qr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                    - rr.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
                let d1 = qr.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD8<Float>.self)
                    - rr.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD8<Float>.self)
                a0 += d0 * d0
                a1 += d1 * d1
                j += 16
            }
            var s = (a0 + a1).sum()
            while j < d { let t = q[j] - r[j]; s += t * t; j += 1 }
            return -s
        }
    }
}

/// The final, canonical ranking of one query's kept candidates (see `ExactSearch`'s
/// finalisation above): shared by the candidate and the row paths so that both give the same
/// lists.
struct CanonicalRanking {
    let d: Int
    let distance: Distance
    /// The bound on |f - g| for each query.
    let margins: [Double]
    let referenceRows: Int
    let available: Int
    let selfRetrieval: Bool
    /// In self-retrieval, the reference row of query 0 (the query excluded from its own list).
    let queryOffset: Int
    /// Whether the scores are g itself (`ExactSearch.canonicalProducts`): then the order by
    /// (score, index) is final, with no run to settle and no margin.
    let exact: Bool

    init(_ search: ExactSearch) {
        d = search.dimensions
        distance = search.distance
        exact = search.canonicalProducts
        // Higham's bound for an inner product summed along any tree: every product is
        // rounded once and passes through at most h additions, so the error is at most
        // gamma_(h + 1) sum |q_i r_i| <= gamma_(h + 1) |q| |r|, with gamma_n about n u.
        // f (sgemm, order unknown): h + 1 <= d. g (`canonicalScore`): at most d / 16
        // additions in its lane, one for a0 + a1, seven for the lane sum, then the d mod 16 of
        // the tail: h + 1 <= d / 16 + d mod 16 + 9, far fewer. Each with 4 to spare, and 1%.
        let u = 1.0 / 16_777_216.0
        let gamma = 1.01 * Double(d + 4) * u
        let gammaG = 1.01 * Double(d / 16 + d % 16 + 9 + 4) * u
        let (referenceNormsD, queryNormsD) = search.boundNorms
        let maxReference = referenceNormsD.max() ?? 0
        switch search.distance {
        case _ where exact:
            margins = [Double](repeating: 0, count: search.queryCount)
        case .cosine:
            // Unit rows (to float rounding): one margin for every query.
            margins = [Double](repeating: (gamma + gammaG) * 1.000_01, count: search.queryCount)
        case .innerProduct:
            margins = queryNormsD.map { a in (gamma + gammaG) * a * maxReference }
        case .squaredL2:
            // f = 2 fl(q.r) - fl(|q|^2) - fl(|r|^2) in float; g sums squared differences.
            margins = queryNormsD.map { a in
                let scale = (a + maxReference) * (a + maxReference)
                return 2 * gamma * a * maxReference + 6 * gamma * scale
            }
        }
        referenceRows = search.referenceCount
        available = search.availableDepth
        selfRetrieval = search.isSelfRetrieval
        queryOffset = search.queryOffset
    }

    /// Sorts `pairs` (a complete candidate set, see `rank`) by sgemm score, keeps the best
    /// `keep` of them when given, and appends to
    /// `runs` the runs of near-ties that start within the first `depth`: the only places whose
    /// order g must settle. Ordering each run by g then gives the list, exactly as `rank`.
    ///
    /// - Returns: whether a run reaches the last of the pairs (then, unless the pairs hold
    ///   every reference, a candidate left out could belong to it: see `rank`).
    @inline(__always)
    func nearTieRuns(_ q: Int, _ pairs: inout [(Float, Int32)], depth: Int, keep: Int? = nil, into runs: inout [Range<Int>]) -> Bool {
        RankSort.sort(&pairs)
        if let keep, pairs.count > keep { pairs.removeLast(pairs.count - keep) }
        // Scores that are g: the order by (score, index) is the canonical one, and the pairs
        // hold the best by it, so nothing is left to settle.
        if exact { return false }
        let kept = pairs.count
        let link = Float(2.02 * margins[q])
        var reachesEnd = false
        var i = 0
        while i < depth {
            var j = i
            while j + 1 < kept && pairs[j].0 - pairs[j + 1].0 <= link { j += 1 }
            if j > i {
                runs.append(i ..< j + 1)
                if j == kept - 1 { reachesEnd = true }
            }
            i = j + 1
        }
        return reachesEnd
    }

    /// How far below the depth-th best sgemm score a reference may lie and still belong to the
    /// canonical list, with room for rounding: a little over twice the bound on |f - g|.
    func selectionMargin(_ q: Int) -> Float { Float(2.05 * margins[q]) }

    /// Orders query `q`'s kept candidates so that its list is `pairs[0 ..< depth]`.
    ///
    /// - Parameters:
    ///   - query: the query's row; `references`: every reference row, read into `scratch`
    ///     (room for one row) when they are not in memory.
    ///   - pairs: (sgemm score, index) of exactly the best `pairs.count` references by
    ///     (sgemm score, lower index), in any order.
    func rank(
        _ q: Int, query: UnsafePointer<Float>, references ra: RowAccess, scratch: UnsafeMutablePointer<Float>?,
        _ pairs: inout [(Float, Int32)], depth: Int
    ) {
        let kept = pairs.count
        let (d, distance) = (d, distance)
        let g = { (r: Int32) in ExactSearch.canonicalScore(query, ra.row(Int(r), buffer: scratch), d, distance) }
        var runs: [Range<Int>] = []
        let runReachesEnd = nearTieRuns(q, &pairs, depth: depth, into: &runs) && kept < available
        let worstKept = pairs[kept - 1].0
        if !runReachesEnd {
            for run in runs {
                for p in run { pairs[p].0 = g(pairs[p].1) }
                pairs.withUnsafeMutableBufferPointer { RankSort.sort(UnsafeMutableBufferPointer(rebasing: $0[run])) }
            }
        }
        if runReachesEnd {
            // Near-ties run into the last kept candidate: rank every kept candidate by g,
            // and check that none left out could enter.
            for p in 0 ..< kept { pairs[p].0 = g(pairs[p].1) }
            RankSort.sort(&pairs)
            if !(Double(worstKept) + 1.01 * margins[q] < Double(pairs[depth - 1].0)) {
                // A crowd of near-ties at the boundary: score every reference.
                pairs.removeAll(keepingCapacity: true)
                for r in 0 ..< referenceRows where !(selfRetrieval && r == queryOffset + q) {
                    pairs.append((g(Int32(r)), Int32(r)))
                }
                RankSort.sort(&pairs)
            }
        }
    }
}
